//! Writing a wheel: a temporary file in the destination directory, RECORD last, fsync, rename.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use tempfile::TempPath;
use zip::ZipWriter;
use zip::write::SimpleFileOptions;

use super::WheelErrorKind;
use super::buffered::{PositionedWriter, SeekBufReader};
use super::splice::SplicePlan;
use crate::spec::record::{Record, RecordEntry, RecordHash};

/// The place of a RECORD row to be filled in later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowSlot(usize);

/// How a finished file is put in place.
#[derive(Debug, Clone, Copy)]
pub struct PlaceOptions {
    /// Replace an existing destination (otherwise that is an error).
    pub overwrite: bool,
    /// fsync the file (and its directory) so the rename survives a crash of the machine.
    /// Without it a killed process still never leaves a partial file under the final name.
    pub fsync: bool,
}

impl Default for PlaceOptions {
    fn default() -> Self {
        PlaceOptions {
            overwrite: false,
            fsync: true,
        }
    }
}

/// A wheel being written. Dropping it without [`WheelWriter::finish`] deletes the temporary
/// file, so no partial wheel is ever visible under its final name.
pub struct WheelWriter {
    zip: ZipWriter<PositionedWriter<std::fs::File>>,
    temp_path: TempPath,
    record: Record,
}

impl WheelWriter {
    /// Starts a wheel in a hidden temporary file inside `directory`.
    pub fn create_in(directory: &Path) -> Result<Self, WheelErrorKind> {
        Self::create(directory, false)
    }

    /// Starts a wheel as [`WheelWriter::create_in`] does, its bytes hashed (sha256) on another
    /// thread as they are written: [`WheelWriter::finish_with_sha256`] then knows the
    /// sha256 of the whole file without reading it again.
    pub fn create_hashed_in(directory: &Path) -> Result<Self, WheelErrorKind> {
        Self::create(directory, true)
    }

    fn create(directory: &Path, hashed: bool) -> Result<Self, WheelErrorKind> {
        let temp = tempfile::Builder::new()
            .prefix(".wheelwright-")
            .suffix(".tmp")
            .tempfile_in(directory)
            .map_err(|error| {
                WheelErrorKind::Io(std::io::Error::new(
                    error.kind(),
                    format!(
                        "cannot create a temporary file in `{}`: {error}",
                        directory.display()
                    ),
                ))
            })?;
        let (file, temp_path) = temp.into_parts();
        let mut buffered = PositionedWriter::with_capacity(1 << 20, file)?;
        if hashed {
            buffered.hash_on_the_side();
        }
        Ok(WheelWriter {
            zip: ZipWriter::new(buffered),
            temp_path,
            record: Record::default(),
        })
    }

    /// Copies an entry's compressed bytes as they are, under `name`, with its RECORD row
    /// (None for directories).
    pub fn raw_copy<R: Read>(
        &mut self,
        file: zip::read::ZipFile<'_, R>,
        name: &str,
        record: Option<RecordEntry>,
    ) -> Result<(), WheelErrorKind> {
        if file.name().ok().as_deref() == Some(name) {
            self.zip.raw_copy_file(file)?;
        } else {
            self.zip.raw_copy_file_rename(file, name)?;
        }
        self.record.entries.extend(record);
        Ok(())
    }

    /// Copies an entry's compressed bytes as they are, under `name`, its RECORD row to be
    /// filled in later ([`WheelWriter::fill_row`]): the row of a member still being checked.
    pub fn raw_copy_row_later<R: Read>(
        &mut self,
        file: zip::read::ZipFile<'_, R>,
        name: &str,
    ) -> Result<RowSlot, WheelErrorKind> {
        let slot = RowSlot(self.record.entries.len());
        self.raw_copy(
            file,
            name,
            Some(RecordEntry {
                path: name.to_string(),
                hash: None,
                size: None,
            }),
        )?;
        Ok(slot)
    }

    /// Fills the RECORD row kept by [`WheelWriter::raw_copy_row_later`].
    pub fn fill_row(&mut self, slot: RowSlot, row: RecordEntry) {
        if let Some(place) = self.record.entries.get_mut(slot.0) {
            *place = row;
        }
    }

    /// Writes new bytes for an entry (deflated), recording their hash and size.
    pub fn write_file(
        &mut self,
        name: &str,
        bytes: &[u8],
        options: SimpleFileOptions,
    ) -> Result<(), WheelErrorKind> {
        let options = options
            .compression_method(zip::CompressionMethod::Deflated)
            .large_file(bytes.len() as u64 >= u32::MAX as u64);
        self.write_staged(name, bytes, options)?;
        self.record.entries.push(RecordEntry {
            path: name.to_string(),
            hash: Some(RecordHash::sha256(bytes)),
            size: Some(bytes.len() as u64),
        });
        Ok(())
    }

    /// Writes an entry from bytes in memory: deflated into a one-entry zip in memory first,
    /// then copied raw. The zip writer goes back to a local header once the entry's data is
    /// written; here it does so in memory, so that the wheel is written front to back (and
    /// can be hashed as it is written).
    fn write_staged(
        &mut self,
        name: &str,
        bytes: &[u8],
        options: SimpleFileOptions,
    ) -> Result<(), WheelErrorKind> {
        let mut staging = ZipWriter::new(std::io::Cursor::new(Vec::with_capacity(bytes.len() / 2 + 256)));
        staging.start_file(name, options)?;
        staging.write_all(bytes)?;
        let mut staged = zip::ZipArchive::new(staging.finish()?)?;
        self.zip.raw_copy_file(staged.by_index_raw(0)?)?;
        Ok(())
    }

    /// Copies the one entry of a [`Precompressed`] member under `name`, with its RECORD row.
    pub fn copy_precompressed(&mut self, member: &Precompressed, name: &str) -> Result<(), WheelErrorKind> {
        match &member.source {
            Source::Zip(zip) => {
                let mut archive = zip::ZipArchive::new(fs_err::File::open(zip)?.into_file())?;
                self.zip.raw_copy_file_rename(archive.by_index_raw(0)?, name)?;
            }
            Source::Spliced(spliced) => {
                let reader = SeekBufReader::with_capacity(1 << 20, VirtualZip::new(spliced)?)?;
                let mut archive = zip::ZipArchive::new(reader)?;
                self.zip.raw_copy_file_rename(archive.by_index_raw(0)?, name)?;
            }
        }
        self.record.entries.push(RecordEntry {
            path: name.to_string(),
            hash: Some(member.hash.clone()),
            size: Some(member.size),
        });
        Ok(())
    }

    /// Writes RECORD (listing itself without a hash), then syncs and moves the file to
    /// `destination`.
    pub fn finish(
        self,
        record_path: &str,
        options: SimpleFileOptions,
        permissions: Option<std::fs::Permissions>,
        destination: &Path,
        place: PlaceOptions,
    ) -> Result<PathBuf, WheelErrorKind> {
        self.finish_with_sha256(record_path, options, permissions, destination, place)
            .map(|(path, _)| path)
    }

    /// As [`WheelWriter::finish`], with the sha256 of the whole file (lower-case hex) when it
    /// was hashed as it was written ([`WheelWriter::create_hashed_in`]).
    pub fn finish_with_sha256(
        mut self,
        record_path: &str,
        options: SimpleFileOptions,
        permissions: Option<std::fs::Permissions>,
        destination: &Path,
        place: PlaceOptions,
    ) -> Result<(PathBuf, Option<String>), WheelErrorKind> {
        self.record.entries.push(RecordEntry {
            path: record_path.to_string(),
            hash: None,
            size: None,
        });
        let record = self.record.to_bytes();
        let options = options.compression_method(zip::CompressionMethod::Deflated);
        self.write_staged(record_path, &record, options)?;
        let buffered = self.zip.finish()?;
        let (file, sha256) = buffered.finish()?;
        let sha256 = sha256.map(|digest| digest.iter().map(|byte| format!("{byte:02x}")).collect());
        if let Some(permissions) = permissions {
            file.set_permissions(permissions)?;
        }
        if place.fsync {
            file.sync_all()?;
        }
        drop(file);
        persist(self.temp_path, destination, place)?;
        Ok((destination.to_path_buf(), sha256))
    }
}

/// Members larger than this are deflated at a faster level when written anew: level 3 takes
/// about 40% of the time of the default 6 for some 8% more bytes (measured on libtorch).
const FAST_DEFLATE_FROM: u64 = 16 << 20;

/// A member's new content deflated ahead of the wheel, with the hash and size of its bytes:
/// members are compressed in parallel, then copied raw in order.
#[derive(Debug)]
pub struct Precompressed {
    source: Source,
    pub hash: RecordHash,
    pub size: u64,
}

/// Where a precompressed member's deflate stream is.
#[derive(Debug)]
enum Source {
    /// A one-entry zip of its own.
    Zip(TempPath),
    /// The old member's stream in the wheel with an edit spliced in: made as it is copied,
    /// never written whole anywhere else.
    Spliced(Box<SplicedMember>),
}

/// An edited member whose new stream is a [`SplicePlan`] over its old one in the wheel.
#[derive(Debug)]
struct SplicedMember {
    wheel: PathBuf,
    stream_start: u64,
    plan: SplicePlan,
    member: DeflatedMember,
}

impl Precompressed {
    /// An edited member whose new stream is `plan` over its old stream at `stream_start` of
    /// `wheel`; `member` has the CRC-32 and size of its new bytes, `hash` their hash.
    pub fn spliced(
        wheel: &Path,
        stream_start: u64,
        plan: SplicePlan,
        member: DeflatedMember,
        hash: RecordHash,
    ) -> Self {
        Precompressed {
            hash,
            size: member.size,
            source: Source::Spliced(Box::new(SplicedMember {
                wheel: wheel.to_path_buf(),
                stream_start,
                plan,
                member,
            })),
        }
    }
}

/// A one-entry zip presented as a file without being written: its headers in memory, its
/// stream made from the old one as it is read. For the zip writer's raw copy.
struct VirtualZip<'a> {
    spliced: &'a SplicedMember,
    wheel: std::fs::File,
    local: Vec<u8>,
    tail: Vec<u8>,
    compressed: u64,
    position: u64,
}

impl<'a> VirtualZip<'a> {
    fn new(spliced: &'a SplicedMember) -> std::io::Result<Self> {
        let compressed = spliced.plan.compressed();
        let zip64 = needs_zip64(spliced.member.size);
        if !zip64 && compressed >= u64::from(u32::MAX) {
            return Err(std::io::Error::other(format!(
                "a deflate stream of {compressed} bytes for a member of {} bytes",
                spliced.member.size
            )));
        }
        let (local, tail) = one_entry_zip(&spliced.member, spliced.member.crc32, compressed, zip64);
        Ok(VirtualZip {
            spliced,
            wheel: fs_err::File::open(&spliced.wheel)?.into_file(),
            local,
            tail,
            compressed,
            position: 0,
        })
    }

    fn length(&self) -> u64 {
        self.local.len() as u64 + self.compressed + self.tail.len() as u64
    }
}

impl Read for VirtualZip<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let local = self.local.len() as u64;
        let stream_end = local + self.compressed;
        let read = if self.position < local {
            let from = &self.local[self.position as usize..];
            let count = from.len().min(out.len());
            out[..count].copy_from_slice(&from[..count]);
            count
        } else if self.position < stream_end {
            let want = ((stream_end - self.position) as usize).min(out.len());
            self.spliced.plan.read_at(
                &self.wheel,
                self.spliced.stream_start,
                self.position - local,
                &mut out[..want],
            )?
        } else {
            let at = (self.position - stream_end) as usize;
            let from = self.tail.get(at..).unwrap_or_default();
            let count = from.len().min(out.len());
            out[..count].copy_from_slice(&from[..count]);
            count
        };
        self.position += read as u64;
        Ok(read)
    }
}

impl std::io::Seek for VirtualZip<'_> {
    fn seek(&mut self, target: std::io::SeekFrom) -> std::io::Result<u64> {
        let wanted = match target {
            std::io::SeekFrom::Start(offset) => Some(offset),
            std::io::SeekFrom::End(delta) => self.length().checked_add_signed(delta),
            std::io::SeekFrom::Current(delta) => self.position.checked_add_signed(delta),
        };
        self.position = wanted
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "seek before the start"))?;
        Ok(self.position)
    }
}

/// Deflates the file at `path` into a one-entry zip in `directory`, streamed (bounded memory),
/// hashing its bytes on the way.
pub fn precompress(
    path: &Path,
    directory: &Path,
    options: SimpleFileOptions,
) -> Result<Precompressed, WheelErrorKind> {
    let mut file = fs_err::File::open(path)?;
    let size = file.metadata()?.len();
    let temporary = tempfile::Builder::new()
        .prefix(".wheelwright-member-")
        .suffix(".zip")
        .tempfile_in(directory)?;
    let (output, zip_path) = temporary.into_parts();
    let mut zip = ZipWriter::new(PositionedWriter::with_capacity(1 << 20, output)?);
    let level = if size >= FAST_DEFLATE_FROM { Some(3) } else { None };
    let options = options
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(level)
        .large_file(size >= u32::MAX as u64);
    zip.start_file("member", options)?;
    let mut hasher = crate::spec::record::HashAlgorithm::Sha256.hasher();
    let mut buffer = vec![0u8; 1 << 20];
    let mut written = 0u64;
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
        zip.write_all(&buffer[..read])?;
        written += read as u64;
    }
    zip.finish()?.into_inner()?;
    Ok(Precompressed {
        source: Source::Zip(zip_path),
        hash: hasher.finish(),
        size: written,
    })
}

/// Where a member's deflated bytes come from when they are written by the caller (a splice of
/// the old stream): its zip times and attributes, and the facts of its inflated bytes.
#[derive(Debug, Clone, Copy)]
pub struct DeflatedMember {
    /// MS-DOS date and time, as the old entry had them.
    pub date: u16,
    pub time: u16,
    /// The old entry's external attributes (its Unix mode in the high half).
    pub external_attributes: u32,
    pub crc32: u32,
    pub size: u64,
}

/// The hash and CRC-32 of a member's new bytes, given once its stream is written.
pub type LateDigest<'a> = &'a mut dyn FnMut() -> std::io::Result<(RecordHash, u32)>;

/// Writes a one-entry zip in `directory` whose entry holds the deflate stream `write` puts out
/// (returning its length), for [`WheelWriter::copy_precompressed`]. The member's hash and
/// CRC-32 come from `digest`, called once the stream is written, so that they may be worked
/// out meanwhile on another thread (`member.crc32` is not used). ZIP64 sizes are written
/// only for a member of 4 GiB or more, as the zip crate does.
pub fn write_deflated(
    directory: &Path,
    member: DeflatedMember,
    write: &mut dyn FnMut(&mut dyn Write) -> std::io::Result<u64>,
    digest: LateDigest,
) -> Result<Precompressed, WheelErrorKind> {
    write_deflated_as(directory, member, write, digest, needs_zip64(member.size))
}

/// The name of the entry of a one-entry zip.
const ONE_ENTRY_NAME: &[u8] = b"member";

/// The local header and the tail (central directory header, ZIP64 records when needed, end
/// of central directory) of a one-entry zip whose entry is `member`, deflated in `compressed`
/// bytes with this CRC-32.
fn one_entry_zip(member: &DeflatedMember, crc32: u32, compressed: u64, zip64: bool) -> (Vec<u8>, Vec<u8>) {
    const NAME: &[u8] = ONE_ENTRY_NAME;
    const MAX: u32 = u32::MAX;
    let (fields, extra) = if zip64 {
        let mut extra = Vec::with_capacity(20);
        extra.extend_from_slice(&1u16.to_le_bytes());
        extra.extend_from_slice(&16u16.to_le_bytes());
        extra.extend_from_slice(&member.size.to_le_bytes());
        extra.extend_from_slice(&compressed.to_le_bytes());
        ([MAX.to_le_bytes(), MAX.to_le_bytes()].concat(), extra)
    } else {
        let fields = [
            (compressed as u32).to_le_bytes(),
            (member.size as u32).to_le_bytes(),
        ]
        .concat();
        (fields, Vec::new())
    };
    let version: u16 = if zip64 { 45 } else { 20 };
    let header = |signature: u32, central: bool| -> Vec<u8> {
        let mut bytes = Vec::with_capacity(80);
        bytes.extend_from_slice(&signature.to_le_bytes());
        if central {
            bytes.extend_from_slice(&(3u16 << 8 | version).to_le_bytes());
        }
        bytes.extend_from_slice(&version.to_le_bytes());
        bytes.extend_from_slice(&0u16.to_le_bytes());
        bytes.extend_from_slice(&8u16.to_le_bytes());
        bytes.extend_from_slice(&member.time.to_le_bytes());
        bytes.extend_from_slice(&member.date.to_le_bytes());
        bytes.extend_from_slice(&crc32.to_le_bytes());
        bytes.extend_from_slice(&fields);
        bytes.extend_from_slice(&(NAME.len() as u16).to_le_bytes());
        bytes.extend_from_slice(&(extra.len() as u16).to_le_bytes());
        if central {
            bytes.extend_from_slice(&[0; 6]); // comment length, disk, internal attributes
            bytes.extend_from_slice(&member.external_attributes.to_le_bytes());
            bytes.extend_from_slice(&0u32.to_le_bytes()); // the local header's offset
        }
        bytes.extend_from_slice(NAME);
        bytes.extend_from_slice(&extra);
        bytes
    };
    let local = header(0x0403_4b50, false);
    let central_start = local.len() as u64 + compressed;
    let mut tail = header(0x0201_4b50, true);
    let central_length = tail.len() as u64;
    if central_start >= u64::from(MAX) {
        // The ZIP64 end of central directory and its locator.
        let end64_start = central_start + central_length;
        tail.extend_from_slice(&0x0606_4b50u32.to_le_bytes());
        tail.extend_from_slice(&44u64.to_le_bytes());
        tail.extend_from_slice(&(3u16 << 8 | 45).to_le_bytes());
        tail.extend_from_slice(&45u16.to_le_bytes());
        tail.extend_from_slice(&[0; 8]); // this disk, the directory's disk
        tail.extend_from_slice(&1u64.to_le_bytes());
        tail.extend_from_slice(&1u64.to_le_bytes());
        tail.extend_from_slice(&central_length.to_le_bytes());
        tail.extend_from_slice(&central_start.to_le_bytes());
        tail.extend_from_slice(&0x0706_4b50u32.to_le_bytes());
        tail.extend_from_slice(&0u32.to_le_bytes());
        tail.extend_from_slice(&end64_start.to_le_bytes());
        tail.extend_from_slice(&1u32.to_le_bytes());
    }
    tail.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    tail.extend_from_slice(&[0; 4]);
    tail.extend_from_slice(&1u16.to_le_bytes());
    tail.extend_from_slice(&1u16.to_le_bytes());
    tail.extend_from_slice(&(central_length as u32).to_le_bytes());
    tail.extend_from_slice(&(central_start.min(u64::from(MAX)) as u32).to_le_bytes());
    tail.extend_from_slice(&0u16.to_le_bytes());
    (local, tail)
}

/// Whether a one-entry zip of a member of `size` bytes gets ZIP64 sizes: a deflate stream is
/// at most a little longer than its bytes (stored blocks), so a member this much below 4 GiB
/// keeps both sizes under it.
fn needs_zip64(size: u64) -> bool {
    size >= u64::from(u32::MAX) - (64 << 20)
}

fn write_deflated_as(
    directory: &Path,
    member: DeflatedMember,
    write: &mut dyn FnMut(&mut dyn Write) -> std::io::Result<u64>,
    digest: LateDigest,
    zip64: bool,
) -> Result<Precompressed, WheelErrorKind> {
    use std::os::unix::fs::FileExt as _;
    let temporary = tempfile::Builder::new()
        .prefix(".wheelwright-member-")
        .suffix(".zip")
        .tempfile_in(directory)?;
    let (file, zip_path) = temporary.into_parts();
    let mut out = PositionedWriter::with_capacity(1 << 20, file)?;
    // Written with the sizes and CRC-32 still unknown; both are set once the stream is.
    let (local, _) = one_entry_zip(&member, 0, 0, zip64);
    let compressed_field = if zip64 {
        30 + ONE_ENTRY_NAME.len() as u64 + 12
    } else {
        18
    };
    out.write_all(&local)?;
    let compressed = write(&mut out)?;
    let (hash, crc32) = digest()?;
    if !zip64 && compressed >= u64::from(u32::MAX) {
        return Err(WheelErrorKind::Io(std::io::Error::other(format!(
            "a deflate stream of {compressed} bytes for a member of {} bytes",
            member.size
        ))));
    }
    let (_, tail) = one_entry_zip(&member, crc32, compressed, zip64);
    out.write_all(&tail)?;
    let file = out.into_inner()?;
    let field = if zip64 {
        compressed.to_le_bytes().to_vec()
    } else {
        (compressed as u32).to_le_bytes().to_vec()
    };
    file.write_all_at(&field, compressed_field)?;
    // The CRC-32 the local header was written without.
    file.write_all_at(&crc32.to_le_bytes(), 14)?;
    Ok(Precompressed {
        source: Source::Zip(zip_path),
        hash,
        size: member.size,
    })
}

/// Renames a finished temporary file to `destination`, atomically.
pub fn persist(temp_path: TempPath, destination: &Path, place: PlaceOptions) -> Result<(), WheelErrorKind> {
    let result = if place.overwrite {
        temp_path.persist(destination)
    } else {
        temp_path.persist_noclobber(destination)
    };
    result.map_err(|error| {
        if error.error.kind() == std::io::ErrorKind::AlreadyExists {
            WheelErrorKind::OutputExists(destination.to_path_buf())
        } else {
            WheelErrorKind::Io(std::io::Error::new(
                error.error.kind(),
                format!(
                    "cannot move the new wheel to `{}`: {}",
                    destination.display(),
                    error.error
                ),
            ))
        }
    })?;
    // Make the rename itself durable.
    if place.fsync
        && let Some(parent) = destination
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
        && let Ok(directory) = fs_err::File::open(parent)
    {
        let _ = directory.sync_all();
    }
    Ok(())
}

/// Copies a file byte for byte through a temporary file and a rename.
pub fn copy_atomically(source: &Path, destination: &Path, place: PlaceOptions) -> Result<(), WheelErrorKind> {
    let directory = destination
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let temp = tempfile::Builder::new()
        .prefix(".wheelwright-")
        .suffix(".tmp")
        .tempfile_in(directory)?;
    let (mut file, temp_path) = temp.into_parts();
    let mut input = fs_err::File::open(source)?;
    std::io::copy(&mut input, &mut file)?;
    file.set_permissions(input.metadata()?.permissions())?;
    if place.fsync {
        file.sync_all()?;
    }
    drop(file);
    persist(temp_path, destination, place)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zip_path(member: &Precompressed) -> &Path {
        match &member.source {
            Source::Zip(path) => path,
            Source::Spliced(_) => panic!("not a zip of its own"),
        }
    }

    #[test]
    fn a_deflated_member_is_written_as_a_zip_the_zip_crate_reads_with_and_without_zip64() {
        let directory = tempfile::tempdir().unwrap();
        let bytes: Vec<u8> = (0..200_000u32).flat_map(|n| (n % 251).to_le_bytes()).collect();
        let mut encoder = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(&bytes).unwrap();
        let deflated = encoder.finish().unwrap();
        for zip64 in [false, true] {
            let member = DeflatedMember {
                date: 0x5a21,
                time: 0x6000,
                external_attributes: 0o100_755 << 16,
                crc32: crc32fast::hash(&bytes),
                size: bytes.len() as u64,
            };
            let written = write_deflated_as(
                directory.path(),
                DeflatedMember { crc32: 0, ..member },
                &mut |out| {
                    out.write_all(&deflated)?;
                    Ok(deflated.len() as u64)
                },
                &mut || Ok((RecordHash::sha256(&bytes), member.crc32)),
                zip64,
            )
            .unwrap();
            assert_eq!(written.hash, RecordHash::sha256(&bytes));
            let mut archive =
                zip::ZipArchive::new(fs_err::File::open(zip_path(&written)).unwrap().into_file()).unwrap();
            let mut entry = archive.by_index(0).unwrap();
            assert_eq!(entry.compression(), zip::CompressionMethod::Deflated);
            assert_eq!(
                (entry.size(), entry.compressed_size()),
                (bytes.len() as u64, deflated.len() as u64)
            );
            assert_eq!(entry.unix_mode(), Some(0o100_755));
            let mut read = Vec::new();
            entry.read_to_end(&mut read).unwrap(); // the CRC is checked at the end
            assert!(read == bytes, "zip64: {zip64}");
            assert_eq!(written.size, bytes.len() as u64);
        }
    }

    #[test]
    fn a_wheel_hashed_as_it_is_written_has_the_sha256_of_its_file() {
        let directory = tempfile::tempdir().unwrap();
        let mut writer = WheelWriter::create_hashed_in(directory.path()).unwrap();
        let options = SimpleFileOptions::default();
        // Entries that fill most of the buffer, so that the next one would start near its end
        // and overflow it before its header is patched; bytes that deflate poorly.
        let mut state = 7u32;
        let noise: Vec<u8> = (0..700_000)
            .map(|_| {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
                (state >> 24) as u8
            })
            .collect();
        writer.write_file("demo/noise.bin", &noise, options).unwrap();
        writer.write_file("demo/small.txt", b"small\n", options).unwrap();
        writer.write_file("demo/noise2.bin", &noise, options).unwrap();
        let destination = directory.path().join("demo-1.0-py3-none-any.whl");
        let (path, sha256) = writer
            .finish_with_sha256(
                "demo-1.0.dist-info/RECORD",
                options,
                None,
                &destination,
                PlaceOptions::default(),
            )
            .unwrap();
        assert_eq!(sha256, Some(crate::wheel::verified::file_sha256(&path).unwrap()));
    }

    #[test]
    fn a_spliced_member_is_copied_into_the_wheel_made_from_the_old_stream() {
        use crate::wheel::splice::{inflate_indexed, plan_splice};
        let directory = tempfile::tempdir().unwrap();
        let bytes: Vec<u8> = (0..3_000_000u32)
            .flat_map(|n| format!("{} ", n % 7919).into_bytes())
            .collect();
        let mut encoder = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(&bytes).unwrap();
        let deflated = encoder.finish().unwrap();
        // The old stream inside a larger file, as in a wheel.
        let wheel = directory.path().join("old.whl");
        let mut container = b"some header bytes".to_vec();
        let start = container.len() as u64;
        container.extend_from_slice(&deflated);
        fs_err::write(&wheel, &container).unwrap();
        let index = inflate_indexed(&mut deflated.as_slice(), &mut |_| Ok(())).unwrap();
        let mut edited = bytes.clone();
        edited[1_000_000..1_000_004].copy_from_slice(b"EDIT");
        let edited_path = directory.path().join("edited");
        fs_err::write(&edited_path, &edited).unwrap();
        let original = fs_err::File::open(&wheel).unwrap().into_file();
        let edited_file = fs_err::File::open(&edited_path).unwrap().into_file();
        let plan = plan_splice(&original, start, &index, &edited_file, 1_000_000..1_000_004, 6)
            .unwrap()
            .unwrap();
        let member = DeflatedMember {
            date: 0x5a21,
            time: 0x6000,
            external_attributes: 0o100_755 << 16,
            crc32: crc32fast::hash(&edited),
            size: edited.len() as u64,
        };
        let precompressed = Precompressed::spliced(&wheel, start, plan, member, RecordHash::sha256(&edited));
        let mut writer = WheelWriter::create_in(directory.path()).unwrap();
        writer.copy_precompressed(&precompressed, "pkg/lib.so").unwrap();
        let output = directory.path().join("demo-1.0-py3-none-any.whl");
        writer
            .finish(
                "demo-1.0.dist-info/RECORD",
                SimpleFileOptions::default(),
                None,
                &output,
                PlaceOptions::default(),
            )
            .unwrap();
        let mut archive = zip::ZipArchive::new(fs_err::File::open(&output).unwrap().into_file()).unwrap();
        let mut entry = archive.by_name("pkg/lib.so").unwrap();
        assert_eq!(entry.unix_mode(), Some(0o100_755));
        let mut read = Vec::new();
        entry.read_to_end(&mut read).unwrap(); // the CRC-32 is checked at the end
        assert!(read == edited);
    }
}
