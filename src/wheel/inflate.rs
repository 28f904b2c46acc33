//! Inflating members by positioned reads, on several threads at once: a member's compressed
//! span is read through any handle on the wheel, inflated, and its size and CRC-32 checked
//! against the central directory ([`inflate_span`]). [`digest_members`] hashes a list of
//! members this way, largest first, the hashing of a large one on a thread of its own while
//! it is inflated, so that the largest member takes no longer than its inflation.

use std::cmp::Reverse;
use std::os::unix::fs::FileExt as _;
use std::path::Path;

use super::WheelErrorKind;
use super::reader::Span;
use super::rewrite::MemberDigest;
use crate::parallel::{CHUNK, parallel_map_with, pipelined};
use crate::spec::record::{HashAlgorithm, Hasher, RecordHash};

/// Members at least this large are hashed on a thread of their own as they are inflated.
pub const PIPELINE_FROM: u64 = 16 << 20;

/// Compressed bytes read at a time.
const INPUT: usize = 256 << 10;

/// Inflates the member of `span` from `file` (the wheel), handing its bytes to `emit` in
/// chunks of up to [`CHUNK`] bytes; `emit` returns the (empty) buffer to fill next. Refuses a
/// member that inflates to more or fewer bytes than its declared size, or whose stream is
/// damaged or cut short. The CRC-32 is the caller's to check (see [`Tally`]).
pub fn inflate_span(
    file: &std::fs::File,
    span: &Span,
    emit: &mut dyn FnMut(Vec<u8>) -> std::io::Result<Vec<u8>>,
) -> Result<u64, WheelErrorKind> {
    let name = &span.entry.name;
    let damaged =
        |what: &dyn std::fmt::Display| WheelErrorKind::Zip(format!("`{name}` cannot be inflated: {what}"));
    let declared = span.entry.size;
    let end = span.data_start + span.compressed;
    let mut at = span.data_start;
    let mut out: Vec<u8> = Vec::with_capacity(CHUNK);
    let mut total = 0u64;
    if !span.deflated {
        if span.compressed != declared {
            return Err(damaged(&format!(
                "it is stored in {} bytes but declares {declared}",
                span.compressed
            )));
        }
        while at < end {
            let want = (end - at).min(CHUNK as u64) as usize;
            out.resize(want, 0);
            file.read_exact_at(&mut out, at)
                .map_err(|error| damaged(&error))?;
            at += want as u64;
            total += want as u64;
            out = emit(out)?;
        }
        return Ok(total);
    }
    let mut inflater = flate2::Decompress::new(false);
    let mut input = vec![0u8; INPUT];
    let (mut used, mut filled) = (0usize, 0usize);
    loop {
        if used == filled && at < end {
            let want = (end - at).min(INPUT as u64) as usize;
            file.read_exact_at(&mut input[..want], at)
                .map_err(|error| damaged(&error))?;
            at += want as u64;
            (used, filled) = (0, want);
        }
        let (in_before, out_before) = (inflater.total_in(), inflater.total_out());
        let status = inflater
            .decompress_vec(&input[used..filled], &mut out, flate2::FlushDecompress::None)
            .map_err(|error| damaged(&error))?;
        let consumed = (inflater.total_in() - in_before) as usize;
        let produced = inflater.total_out() - out_before;
        used += consumed;
        total += produced;
        if total > declared {
            return Err(WheelErrorKind::SizeLie {
                entry: name.clone(),
                declared,
            });
        }
        let finished = status == flate2::Status::StreamEnd;
        if (finished || out.len() == out.capacity()) && !out.is_empty() {
            out = emit(out)?;
            out.clear();
        }
        if finished {
            break;
        }
        if consumed == 0 && produced == 0 {
            return Err(if used == filled && at >= end {
                damaged(&"the deflate stream ends early")
            } else {
                damaged(&"the deflate stream makes no progress")
            });
        }
    }
    if total != declared {
        return Err(damaged(&format!(
            "it inflates to {total} bytes, not the {declared} its header says"
        )));
    }
    Ok(total)
}

/// What a member's bytes come to as they pass: their hash (when one is asked for), CRC-32
/// and count.
pub struct Tally {
    hasher: Option<Hasher>,
    crc: crc32fast::Hasher,
    size: u64,
}

impl Tally {
    pub fn new(algorithm: Option<HashAlgorithm>) -> Self {
        Tally {
            hasher: algorithm.map(HashAlgorithm::hasher),
            crc: crc32fast::Hasher::new(),
            size: 0,
        }
    }

    pub fn take(&mut self, bytes: &[u8]) {
        if let Some(hasher) = &mut self.hasher {
            hasher.update(bytes);
        }
        self.crc.update(bytes);
        self.size += bytes.len() as u64;
    }

    /// The hash and size, once the CRC-32 matches the one `span` declares.
    pub fn finish(self, span: &Span) -> Result<(Option<RecordHash>, u64), WheelErrorKind> {
        if self.crc.finalize() != span.crc32 {
            return Err(WheelErrorKind::Zip(format!(
                "`{}` cannot be inflated: Invalid checksum",
                span.entry.name
            )));
        }
        Ok((self.hasher.map(Hasher::finish), self.size))
    }
}

/// Inflates one member and hashes it with `algorithm`: on this thread when it is small, on
/// a second one as it is inflated when it is large.
fn digest_member(
    file: &std::fs::File,
    span: &Span,
    algorithm: HashAlgorithm,
) -> Result<MemberDigest, WheelErrorKind> {
    let mut tally = Tally::new(Some(algorithm));
    if span.entry.size >= PIPELINE_FROM {
        let (inflated, consumed) = pipelined(
            |feed| inflate_span(file, span, &mut |chunk| feed.swap(chunk)),
            |bytes| {
                tally.take(bytes);
                Ok(())
            },
        );
        inflated?;
        consumed?;
    } else {
        inflate_span(file, span, &mut |mut chunk| {
            tally.take(&chunk);
            chunk.clear();
            Ok(chunk)
        })?;
    }
    let (hash, size) = tally.finish(span)?;
    let hash = hash.ok_or_else(|| WheelErrorKind::Zip(format!("`{}` was not hashed", span.entry.name)))?;
    Ok(MemberDigest { hash, size })
}

/// The true digest of each member of `members` (its span in the wheel at `path`, and the
/// algorithm to hash it with), in that order: each inflated once, its size and CRC-32
/// checked, `jobs` members at a time, the largest first so that the threads finish together.
/// A member that cannot be inflated has its error in its place; failing to open the wheel
/// again is the error of the whole.
pub fn digest_members(
    path: &Path,
    members: &[(Span, HashAlgorithm)],
    jobs: usize,
) -> Result<Vec<Result<MemberDigest, WheelErrorKind>>, WheelErrorKind> {
    let mut order: Vec<usize> = (0..members.len()).collect();
    order.sort_by_key(|&index| Reverse(members[index].0.entry.size));
    let started = std::time::Instant::now();
    let mut results = parallel_map_with(
        &order,
        jobs.max(1),
        None,
        &|| fs_err::File::open(path).map(fs_err::File::into_file),
        &|file, &index| {
            let (span, algorithm) = &members[index];
            (index, digest_member(file, span, *algorithm))
        },
    )?;
    results.sort_by_key(|(index, _)| *index);
    tracing::debug!(
        "{} inflated and hashed by {} threads in {:.2?}",
        crate::words::count(members.len(), "member"),
        jobs.max(1).min(members.len()),
        started.elapsed()
    );
    Ok(results.into_iter().map(|(_, result)| result).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wheel::reader::Entry;
    use std::io::Write as _;

    /// A zip of `members` (name, bytes, stored?) at `path`.
    fn zip_of(path: &Path, members: &[(&str, &[u8], bool)]) {
        let mut writer = zip::ZipWriter::new(fs_err::File::create(path).unwrap().into_file());
        for (name, bytes, stored) in members {
            let method = if *stored {
                zip::CompressionMethod::Stored
            } else {
                zip::CompressionMethod::Deflated
            };
            let options = zip::write::SimpleFileOptions::default().compression_method(method);
            writer.start_file(*name, options).unwrap();
            writer.write_all(bytes).unwrap();
        }
        writer.finish().unwrap();
    }

    fn spans(path: &Path) -> Vec<Span> {
        let mut archive = zip::ZipArchive::new(fs_err::File::open(path).unwrap().into_file()).unwrap();
        (0..archive.len())
            .map(|index| {
                let file = archive.by_index_raw(index).unwrap();
                Span {
                    entry: Entry {
                        index,
                        name: file.name().unwrap().to_string(),
                        is_dir: false,
                        size: file.size(),
                    },
                    data_start: file.data_start().unwrap(),
                    compressed: file.compressed_size(),
                    deflated: file.compression() == zip::CompressionMethod::Deflated,
                    crc32: file.crc32(),
                }
            })
            .collect()
    }

    /// Bytes that deflate poorly (so that the stream is long) and are not all alike.
    fn noise(length: usize, seed: u64) -> Vec<u8> {
        let mut state = seed | 1;
        (0..length)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state % 7) as u8
            })
            .collect()
    }

    #[test]
    fn every_member_is_hashed_in_its_place_whatever_the_threads() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("a.zip");
        let large = noise(PIPELINE_FROM as usize + 3 * CHUNK + 17, 1);
        let medium = noise(3 * CHUNK + 5, 2);
        let members: Vec<(&str, &[u8], bool)> = vec![
            ("small.txt", b"small\n", false),
            ("large.bin", &large, false),
            ("empty", b"", false),
            ("stored.bin", &medium, true),
            ("medium.bin", &medium, false),
        ];
        zip_of(&path, &members);
        let jobs: Vec<(Span, HashAlgorithm)> = spans(&path)
            .into_iter()
            .map(|span| (span, HashAlgorithm::Sha256))
            .collect();
        for threads in [1, 2, 5] {
            let digests = digest_members(&path, &jobs, threads).unwrap();
            for ((_, bytes, _), digest) in members.iter().zip(digests) {
                let digest = digest.unwrap();
                assert_eq!(digest.hash, RecordHash::sha256(bytes));
                assert_eq!(digest.size, bytes.len() as u64);
            }
        }
    }

    #[test]
    fn a_wrong_size_a_wrong_crc_and_a_cut_stream_are_each_named() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("a.zip");
        let large = noise(PIPELINE_FROM as usize + 5, 3);
        zip_of(
            &path,
            &[
                ("first.bin", &noise(1000, 4), false),
                ("large.bin", &large, false),
            ],
        );
        let good = spans(&path);
        let digest = |spans: Vec<Span>| -> Vec<String> {
            let jobs: Vec<(Span, HashAlgorithm)> = spans
                .into_iter()
                .map(|span| (span, HashAlgorithm::Sha256))
                .collect();
            digest_members(&path, &jobs, 2)
                .unwrap()
                .into_iter()
                .map(|result| result.err().map(|error| error.to_string()).unwrap_or_default())
                .collect()
        };
        assert_eq!(digest(good.clone()), ["", ""]);
        for (change, expected) in [
            (
                (|span: &mut Span| span.crc32 ^= 1) as fn(&mut Span),
                "the zip archive is damaged: `large.bin` cannot be inflated: Invalid checksum",
            ),
            (
                |span: &mut Span| span.entry.size -= 1,
                "`large.bin` inflates to more bytes than its declared size of 16777220",
            ),
            (
                |span: &mut Span| span.entry.size += 1,
                "`large.bin` cannot be inflated: it inflates to 16777221 bytes, not the 16777222 its header says",
            ),
            (
                |span: &mut Span| span.compressed /= 2,
                "`large.bin` cannot be inflated: the deflate stream ends early",
            ),
        ] {
            let mut spans = good.clone();
            change(&mut spans[1]);
            let errors = digest(spans);
            assert_eq!(errors[0], "", "the other member is read as ever");
            assert!(errors[1].ends_with(expected), "{}", errors[1]);
        }
    }
}
