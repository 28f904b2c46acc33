//! Opening a wheel: zip structure checks, `.dist-info` discovery, bounded reads of members.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use pep440_rs::Version;
use zip::ZipArchive;

use super::buffered::SeekBufReader;
use super::{WheelError, WheelErrorKind};
use crate::spec::filename::WheelFilename;
use crate::spec::metadata::Metadata;
use crate::spec::normalize_name;
use crate::spec::record::Record;
use crate::spec::wheel_info::WheelInfo;

/// Bounds on what reading a wheel may inflate.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest METADATA, WHEEL or RECORD we read into memory.
    pub member: u64,
    /// Largest total of declared uncompressed sizes we accept.
    pub total: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            member: 64 << 20,
            total: 16 << 30,
        }
    }
}

/// One zip entry, as listed by the central directory.
#[derive(Debug, Clone)]
pub struct Entry {
    pub index: usize,
    pub name: String,
    pub is_dir: bool,
    pub size: u64,
}

/// Where an entry's compressed bytes lie in the wheel, and what the central directory says
/// of them: enough to inflate and check it with positioned reads, from any thread.
#[derive(Debug, Clone)]
pub struct Span {
    pub entry: Entry,
    /// The offset of its first compressed byte.
    pub data_start: u64,
    pub compressed: u64,
    /// Deflated (else stored: the reader refuses every other method).
    pub deflated: bool,
    pub crc32: u32,
}

/// An opened, structurally checked wheel.
pub struct WheelReader {
    pub path: PathBuf,
    pub archive: ZipArchive<SeekBufReader<fs_err::File>>,
    pub filename: WheelFilename,
    pub entries: Vec<Entry>,
    /// The `.dist-info` directory name, without a trailing slash.
    pub dist_info: String,
    pub metadata: Metadata,
    pub wheel_info: WheelInfo,
    pub record: Record,
    pub limits: Limits,
}

/// Why an entry name is unsafe to extract, if it is.
pub fn unsafe_entry_reason(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        return Some("has an empty name");
    }
    if name.contains('\0') {
        return Some("has a NUL byte in its name");
    }
    if name.contains('\\') {
        return Some("has a backslash in its name (zip paths use `/`)");
    }
    if name.starts_with('/') {
        return Some("is an absolute path");
    }
    let first = name.split('/').next().unwrap_or_default();
    if first.len() >= 2 && first.as_bytes()[1] == b':' && first.as_bytes()[0].is_ascii_alphabetic() {
        return Some("starts with a drive letter");
    }
    let trimmed = name.strip_suffix('/').unwrap_or(name);
    for component in trimmed.split('/') {
        match component {
            ".." => return Some("escapes the wheel with `..`"),
            "." => return Some("has a `.` path component"),
            "" => return Some("has an empty path component"),
            _ => {}
        }
    }
    None
}

/// A zip compression method by its usual name, with its number in the zip specification.
pub fn compression_name(method: zip::CompressionMethod) -> String {
    #[allow(deprecated)] // the number is what the zip specification and other tools show
    let code = method.to_u16();
    let name = match code {
        0 => "stored",
        1 => "shrink",
        2..=5 => "reduce",
        6 => "implode",
        8 => "deflate",
        9 => "deflate64",
        10 => "PKWARE DCL implode",
        12 => "bzip2",
        14 => "LZMA",
        16 => "IBM z/OS CMPSC",
        18 => "IBM TERSE",
        19 => "IBM LZ77",
        20 | 93 => "zstd",
        95 => "xz",
        96 => "JPEG",
        97 => "WavPack",
        98 => "PPMd",
        99 => "AES encryption",
        _ => return format!("the unknown method {code}"),
    };
    format!("{name} (zip method {code})")
}

/// The first name that occurs more than once among the central directory headers at the
/// start of `directory`, with how many times it occurs. Parsing stops at the first bytes that
/// are not a central directory header (the end-of-central-directory record).
pub fn first_repeated_name(directory: &[u8]) -> Option<(String, usize)> {
    const SIGNATURE: &[u8; 4] = b"PK\x01\x02";
    const FIXED: usize = 46;
    let length_at =
        |bytes: &[u8], offset: usize| usize::from(u16::from_le_bytes([bytes[offset], bytes[offset + 1]]));
    let mut names: Vec<&[u8]> = Vec::new();
    let mut rest = directory;
    while rest.len() >= FIXED && rest.starts_with(SIGNATURE) {
        let name_length = length_at(rest, 28);
        let others = length_at(rest, 30) + length_at(rest, 32);
        let Some(name) = rest.get(FIXED..FIXED + name_length) else {
            break;
        };
        names.push(name);
        rest = rest.get(FIXED + name_length + others..).unwrap_or_default();
    }
    let mut counts: std::collections::HashMap<&[u8], usize> = std::collections::HashMap::new();
    for name in &names {
        *counts.entry(name).or_default() += 1;
    }
    names
        .iter()
        .find(|name| counts[*name] > 1)
        .map(|name| (String::from_utf8_lossy(name).into_owned(), counts[name]))
}

/// The first repeated entry name of the zip file at `path`, reading its central directory
/// from `start`; None when it cannot be read.
fn repeated_entry(path: &Path, start: u64) -> Option<(String, usize)> {
    use std::io::{Seek as _, SeekFrom};
    let mut file = fs_err::File::open(path).ok()?;
    file.seek(SeekFrom::Start(start)).ok()?;
    let mut directory = Vec::new();
    // Central directories take about 100 bytes an entry; this bounds a hostile one.
    file.take(1 << 28).read_to_end(&mut directory).ok()?;
    first_repeated_name(&directory)
}

/// `(name, version)` from a `name-version.dist-info` or `name-version.data` directory name.
fn split_directory(directory: &str, suffix: &str) -> Option<(String, Version)> {
    let stem = directory.strip_suffix(suffix)?;
    let (name, version) = stem.rsplit_once('-')?;
    Some((normalize_name(name), Version::from_str(version).ok()?))
}

/// Reads a wheel's `METADATA` and nothing else: the zip's central directory, then that one
/// member, bounded by `limits.member`. The `.dist-info` directory must be the one the file
/// name says (`numpy-2.2.6.dist-info` for `numpy-2.2.6-...whl`). For reading the metadata of
/// many wheels (`wheelwright check`); [`WheelReader::open`] checks a wheel whole.
pub fn read_metadata_only(path: &Path, limits: Limits) -> Result<Vec<u8>, WheelError> {
    read_metadata_inner(path, limits).map_err(|kind| WheelError::new(path, kind))
}

fn read_metadata_inner(path: &Path, limits: Limits) -> Result<Vec<u8>, WheelErrorKind> {
    let file_name = path
        .file_name()
        .and_then(|name| name.to_str())
        .ok_or_else(|| WheelErrorKind::NotZip("the path has no UTF-8 file name".to_string()))?;
    let filename = WheelFilename::from_str(file_name)?;
    let file = fs_err::File::open(path)?;
    // A small buffer: the central directory and one small member are all that is read.
    let mut archive =
        ZipArchive::new(SeekBufReader::with_capacity(1 << 16, file)?).map_err(|error| match error {
            zip::result::ZipError::Io(error) => WheelErrorKind::Io(error),
            other => WheelErrorKind::NotZip(other.to_string()),
        })?;
    let wanted = (filename.normalized_name(), filename.version().clone());
    let member = archive
        .file_names()
        .filter_map(Result::ok)
        .find(|name| {
            name.strip_suffix("/METADATA")
                .filter(|directory| !directory.contains('/'))
                .and_then(|directory| split_directory(directory, ".dist-info"))
                .is_some_and(|found| found == wanted)
        })
        .map(std::borrow::Cow::into_owned)
        .ok_or_else(|| WheelErrorKind::MissingMember(format!("{}/METADATA", filename.dist_info_dir())))?;
    let entry = archive.by_name(&member)?;
    if entry.size() > limits.member {
        return Err(WheelErrorKind::TooLarge {
            entry: member,
            size: entry.size(),
            limit: limits.member,
        });
    }
    let size = entry.size();
    let mut bytes = Vec::with_capacity(size as usize);
    entry
        .take(size + 1)
        .read_to_end(&mut bytes)
        .map_err(|error| WheelErrorKind::Zip(format!("`{member}` cannot be inflated: {error}")))?;
    if bytes.len() as u64 > size {
        return Err(WheelErrorKind::SizeLie {
            entry: member,
            declared: size,
        });
    }
    Ok(bytes)
}

impl WheelReader {
    /// Opens and checks a wheel; every failure names the problem.
    pub fn open(path: &Path, limits: Limits) -> Result<Self, WheelError> {
        Self::open_inner(path, limits).map_err(|kind| WheelError::new(path, kind))
    }

    fn open_inner(path: &Path, limits: Limits) -> Result<Self, WheelErrorKind> {
        let file_name = path
            .file_name()
            .and_then(|name| name.to_str())
            .ok_or_else(|| WheelErrorKind::NotZip("the path has no UTF-8 file name".to_string()))?;
        let filename = WheelFilename::from_str(file_name)?;
        let file = fs_err::File::open(path)?;
        let archive =
            ZipArchive::new(SeekBufReader::with_capacity(1 << 18, file)?).map_err(|error| match error {
                zip::result::ZipError::Io(error) => WheelErrorKind::Io(error),
                other => WheelErrorKind::NotZip(other.to_string()),
            })?;
        let mut reader = WheelReader {
            path: path.to_path_buf(),
            archive,
            filename,
            entries: Vec::new(),
            dist_info: String::new(),
            metadata: Metadata::parse(b"Name: x\nVersion: 0\n").expect("placeholder metadata parses"),
            wheel_info: WheelInfo::parse(b"Wheel-Version: 1.0\n").expect("placeholder WHEEL parses"),
            record: Record::default(),
            limits,
        };
        reader.check_entries()?;
        reader.find_dist_info()?;
        reader.read_dist_info()?;
        Ok(reader)
    }

    fn check_entries(&mut self) -> Result<(), WheelErrorKind> {
        // The zip library keeps one entry per name and only says that some name repeats: read
        // the central directory ourselves to say which.
        if self.archive.has_duplicate_names() {
            return Err(
                match repeated_entry(&self.path, self.archive.central_directory_start()) {
                    Some((name, count)) => WheelErrorKind::DuplicateEntries { name, count },
                    None => WheelErrorKind::DuplicateNames,
                },
            );
        }
        let mut seen = BTreeSet::new();
        let mut total: u64 = 0;
        for index in 0..self.archive.len() {
            // Central-directory data only: no read of the local header.
            let file = self.archive.by_index_data(index)?;
            let name = file
                .name()
                .map_err(|_| WheelErrorKind::Zip(format!("entry {index} has a name that is not UTF-8")))?
                .to_string();
            if let Some(reason) = unsafe_entry_reason(&name) {
                return Err(WheelErrorKind::UnsafeEntry {
                    entry: name,
                    reason: reason.to_string(),
                });
            }
            if file.is_symlink() {
                return Err(WheelErrorKind::Symlink(name));
            }
            if file.encrypted() {
                return Err(WheelErrorKind::Encrypted(name));
            }
            // Checked here, from the central directory, so that no reader later reports an
            // entry it cannot inflate as a damaged archive.
            let method = file.compression();
            if !file.is_dir()
                && !matches!(
                    method,
                    zip::CompressionMethod::Stored | zip::CompressionMethod::Deflated
                )
            {
                return Err(WheelErrorKind::UnsupportedCompression {
                    entry: name,
                    method: compression_name(method),
                });
            }
            total = total.saturating_add(file.size());
            let entry = Entry {
                index,
                is_dir: file.is_dir(),
                size: file.size(),
                name,
            };
            if !seen.insert(entry.name.clone()) {
                return Err(WheelErrorKind::DuplicateEntries {
                    name: entry.name,
                    count: 2,
                });
            }
            self.entries.push(entry);
        }
        if total > self.limits.total {
            return Err(WheelErrorKind::TotalTooLarge {
                size: total,
                limit: self.limits.total,
            });
        }
        Ok(())
    }

    fn find_dist_info(&mut self) -> Result<(), WheelErrorKind> {
        let directories: BTreeSet<&str> = self
            .entries
            .iter()
            .filter_map(|entry| entry.name.split_once('/').map(|(first, _)| first))
            .filter(|first| first.ends_with(".dist-info"))
            .collect();
        let directory = match directories.len() {
            0 => return Err(WheelErrorKind::NoDistInfo),
            1 => directories.into_iter().next().unwrap_or_default().to_string(),
            _ => {
                return Err(WheelErrorKind::AmbiguousDistInfo(
                    directories.into_iter().map(str::to_string).collect(),
                ));
            }
        };
        let expected = self.filename.dist_info_dir();
        let matches = split_directory(&directory, ".dist-info").is_some_and(|(name, version)| {
            name == self.filename.normalized_name() && &version == self.filename.version()
        });
        if !matches {
            return Err(WheelErrorKind::DistInfoMismatch {
                expected,
                found: directory,
            });
        }
        self.dist_info = directory;
        Ok(())
    }

    fn read_dist_info(&mut self) -> Result<(), WheelErrorKind> {
        let dist_info = self.dist_info.clone();
        let member = |file: &str| format!("{dist_info}/{file}");
        let metadata_path = member("METADATA");
        let metadata = Metadata::parse(&self.read_member(&metadata_path)?).map_err(|error| {
            WheelErrorKind::Metadata {
                member: metadata_path.clone(),
                error,
            }
        })?;
        let wheel_path = member("WHEEL");
        let wheel_info =
            WheelInfo::parse(&self.read_member(&wheel_path)?).map_err(|error| WheelErrorKind::WheelInfo {
                member: wheel_path.clone(),
                error,
            })?;
        let record_path = member("RECORD");
        let record =
            Record::parse(&self.read_member(&record_path)?).map_err(|error| WheelErrorKind::Record {
                member: record_path.clone(),
                error,
            })?;
        let metadata_name = metadata.name().map_err(|error| WheelErrorKind::Metadata {
            member: metadata_path.clone(),
            error,
        })?;
        if normalize_name(&metadata_name) != self.filename.normalized_name() {
            return Err(WheelErrorKind::NameMismatch {
                filename: self.filename.name_text().to_string(),
                metadata: metadata_name,
            });
        }
        let metadata_version = metadata.version().map_err(|error| WheelErrorKind::Metadata {
            member: metadata_path,
            error,
        })?;
        if &metadata_version != self.filename.version() {
            return Err(WheelErrorKind::VersionMismatch {
                filename: self.filename.version_text().to_string(),
                metadata: metadata_version.to_string(),
            });
        }
        self.metadata = metadata;
        self.wheel_info = wheel_info;
        self.record = record;
        Ok(())
    }

    /// The entry called `name`, if any.
    pub fn entry(&self, name: &str) -> Option<&Entry> {
        self.entries.iter().find(|entry| entry.name == name)
    }

    /// Reads a small member whole, refusing more than the member limit.
    pub fn read_member(&mut self, name: &str) -> Result<Vec<u8>, WheelErrorKind> {
        let entry = self
            .entry(name)
            .filter(|entry| !entry.is_dir)
            .ok_or_else(|| WheelErrorKind::MissingMember(name.to_string()))?
            .clone();
        if entry.size > self.limits.member {
            return Err(WheelErrorKind::TooLarge {
                entry: entry.name,
                size: entry.size,
                limit: self.limits.member,
            });
        }
        let mut bytes = Vec::with_capacity(entry.size as usize);
        self.inflate_into(&entry, &mut bytes)?;
        Ok(bytes)
    }

    /// Inflates an entry into `sink`, never more than its declared size.
    pub fn inflate_into(
        &mut self,
        entry: &Entry,
        sink: &mut impl std::io::Write,
    ) -> Result<u64, WheelErrorKind> {
        let file = self.archive.by_index(entry.index)?;
        let mut bounded = file.take(entry.size + 1);
        let copied = std::io::copy(&mut bounded, sink)
            .map_err(|error| WheelErrorKind::Zip(format!("`{}` cannot be inflated: {error}", entry.name)))?;
        if copied > entry.size {
            return Err(WheelErrorKind::SizeLie {
                entry: entry.name.clone(),
                declared: entry.size,
            });
        }
        Ok(copied)
    }

    /// Where the compressed bytes of `entry` lie (its local header read for their offset).
    pub fn span(&mut self, entry: &Entry) -> Result<Span, WheelErrorKind> {
        let file = self.archive.by_index_raw(entry.index)?;
        let data_start = file
            .data_start()
            .ok_or_else(|| WheelErrorKind::Zip(format!("`{}` has no data offset", entry.name)))?;
        Ok(Span {
            entry: entry.clone(),
            data_start,
            compressed: file.compressed_size(),
            deflated: file.compression() == zip::CompressionMethod::Deflated,
            crc32: file.crc32(),
        })
    }

    /// The `.data` directory of this wheel, if it has one.
    pub fn data_dir(&self) -> Option<String> {
        let wanted = (self.filename.normalized_name(), self.filename.version().clone());
        self.entries
            .iter()
            .filter_map(|entry| entry.name.split_once('/').map(|(first, _)| first))
            .find(|first| split_directory(first, ".data").as_ref() == Some(&wanted))
            .map(str::to_string)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_unsafe_names() {
        for (name, reason) in [
            ("../evil.py", "escapes"),
            ("pkg/../../evil.py", "escapes"),
            ("/etc/passwd", "absolute"),
            ("C:/x", "drive"),
            ("pkg\\..\\x", "backslash"),
            ("pkg//x", "empty"),
            ("./x", "`.`"),
            ("", "empty name"),
        ] {
            let found = unsafe_entry_reason(name).unwrap_or_else(|| panic!("{name} accepted"));
            assert!(found.contains(reason), "{name}: {found}");
        }
        for name in [
            "pkg/__init__.py",
            "pkg/",
            "a-1.0.dist-info/RECORD",
            "pkg/..hidden",
        ] {
            assert_eq!(unsafe_entry_reason(name), None, "{name}");
        }
    }

    /// A zip made by the zip library, with `names` stored in this order (repeats made by
    /// patching the bytes, as the library refuses to write them).
    fn zip_with(names: &[&str], method: zip::CompressionMethod) -> Vec<u8> {
        use std::io::Write as _;
        let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default().compression_method(method);
        for name in names {
            writer.start_file(*name, options).unwrap();
            writer.write_all(b"content").unwrap();
        }
        writer.finish().unwrap().into_inner()
    }

    /// Replaces every `from` by `to`, of the same length.
    fn replace_bytes(bytes: &mut [u8], from: &str, to: &str) {
        assert_eq!(from.len(), to.len());
        let mut at = 0;
        while let Some(found) = bytes[at..]
            .windows(from.len())
            .position(|window| window == from.as_bytes())
        {
            bytes[at + found..at + found + to.len()].copy_from_slice(to.as_bytes());
            at += found + to.len();
        }
    }

    fn central_directory(bytes: &[u8]) -> &[u8] {
        let start = bytes
            .windows(4)
            .position(|window| window == b"PK\x01\x02")
            .unwrap();
        &bytes[start..]
    }

    #[test]
    fn finds_the_repeated_name_in_a_central_directory() {
        let mut bytes = zip_with(
            &["pkg/__init__.py", "pkg/a.py", "pkg/b.py", "pkg/c.py"],
            zip::CompressionMethod::Stored,
        );
        assert_eq!(first_repeated_name(central_directory(&bytes)), None);
        replace_bytes(&mut bytes, "pkg/b.py", "pkg/a.py");
        replace_bytes(&mut bytes, "pkg/c.py", "pkg/a.py");
        assert_eq!(
            first_repeated_name(central_directory(&bytes)),
            Some(("pkg/a.py".to_string(), 3))
        );
        // Truncated or foreign bytes end the scan, never a panic.
        let directory = central_directory(&bytes);
        for length in 0..directory.len() {
            let _ = first_repeated_name(&directory[..length]);
        }
        assert_eq!(first_repeated_name(b"PK\x01\x02short"), None);
    }

    #[test]
    fn names_compression_methods() {
        assert_eq!(
            compression_name(zip::CompressionMethod::BZIP2),
            "bzip2 (zip method 12)"
        );
        assert_eq!(
            compression_name(zip::CompressionMethod::LZMA),
            "LZMA (zip method 14)"
        );
        assert_eq!(
            compression_name(zip::CompressionMethod::ZSTD),
            "zstd (zip method 93)"
        );
        assert_eq!(
            compression_name(zip::CompressionMethod::DEFLATE64),
            "deflate64 (zip method 9)"
        );
        #[allow(deprecated)]
        let unknown = zip::CompressionMethod::from_u16(77);
        assert_eq!(compression_name(unknown), "the unknown method 77");
    }

    /// Writes `demo-1.0-py3-none-any.whl` into `directory` with `files` (stored) besides its
    /// `.dist-info`, and returns its path.
    fn stored_wheel(directory: &Path, files: &[&str]) -> PathBuf {
        let mut names: Vec<String> = files.iter().map(|name| name.to_string()).collect();
        names.push("demo-1.0.dist-info/METADATA".to_string());
        names.push("demo-1.0.dist-info/WHEEL".to_string());
        names.push("demo-1.0.dist-info/RECORD".to_string());
        let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options =
            zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
        for name in &names {
            let content: &[u8] = match name.rsplit('/').next().unwrap() {
                "METADATA" => b"Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n",
                "WHEEL" => b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
                "RECORD" => b"demo-1.0.dist-info/RECORD,,\n",
                _ => b"x = 1\n",
            };
            writer.start_file(name.as_str(), options).unwrap();
            std::io::Write::write_all(&mut writer, content).unwrap();
        }
        let path = directory.join("demo-1.0-py3-none-any.whl");
        fs_err::write(&path, writer.finish().unwrap().into_inner()).unwrap();
        path
    }

    /// Sets the compression method of the entry called `name`, in its local header and its
    /// central directory header.
    fn set_method(path: &Path, name: &str, method: u16) {
        let mut bytes = fs_err::read(path).unwrap();
        let mut at = 0;
        while let Some(found) = bytes[at..]
            .windows(name.len())
            .position(|window| window == name.as_bytes())
        {
            let position = at + found;
            // The name follows the fixed part: 30 bytes in a local header, 46 in a central one,
            // with the method at offset 8 and 10 respectively.
            let offset = if position >= 46 && bytes[position - 46..].starts_with(b"PK\x01\x02") {
                position - 46 + 10
            } else {
                assert!(bytes[position - 30..].starts_with(b"PK\x03\x04"));
                position - 30 + 8
            };
            bytes[offset..offset + 2].copy_from_slice(&method.to_le_bytes());
            at = position + name.len();
        }
        fs_err::write(path, bytes).unwrap();
    }

    #[test]
    fn an_entry_compressed_with_an_unread_method_is_named_never_called_damage() {
        let directory = tempfile::tempdir().unwrap();
        let path = stored_wheel(directory.path(), &["demo/__init__.py", "demo/fast.py"]);
        assert!(WheelReader::open(&path, Limits::default()).is_ok());
        for (method, name) in [(12, "bzip2"), (14, "LZMA"), (93, "zstd"), (9, "deflate64")] {
            set_method(&path, "demo/fast.py", method);
            let error = WheelReader::open(&path, Limits::default())
                .err()
                .unwrap()
                .to_string();
            assert!(
                error.contains(&format!(
                    "the entry `demo/fast.py` is compressed with {name} (zip method {method}), which wheelwright does not read"
                )),
                "{error}"
            );
            assert!(
                !error.contains("damaged") && !error.contains("corrupt"),
                "{error}"
            );
        }
    }

    #[test]
    fn a_repeated_entry_is_named() {
        let directory = tempfile::tempdir().unwrap();
        let path = stored_wheel(directory.path(), &["demo/__init__.py", "demo/b_init__.py"]);
        let mut bytes = fs_err::read(&path).unwrap();
        replace_bytes(&mut bytes, "demo/b_init__.py", "demo/__init__.py");
        fs_err::write(&path, bytes).unwrap();
        let error = WheelReader::open(&path, Limits::default())
            .err()
            .unwrap()
            .to_string();
        assert!(
            error.ends_with("the archive has two entries named `demo/__init__.py`; wheels need unique names"),
            "{error}"
        );
    }

    #[test]
    fn splits_directory_names() {
        let (name, version) = split_directory("Zope.Sub_Pkg-1.0+cc.dist-info", ".dist-info").unwrap();
        assert_eq!(name, "zope-sub-pkg");
        assert_eq!(version.to_string(), "1.0+cc");
        assert!(split_directory("nodash.dist-info", ".dist-info").is_none());
    }

    #[test]
    fn metadata_alone_is_read_from_the_dist_info_the_name_gives() {
        let directory = tempfile::tempdir().unwrap();
        let path = stored_wheel(directory.path(), &["demo/__init__.py"]);
        let bytes = read_metadata_only(&path, Limits::default()).unwrap();
        assert_eq!(bytes, b"Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n");
        let small = Limits {
            member: 8,
            total: 1 << 20,
        };
        let error = read_metadata_only(&path, small).unwrap_err().to_string();
        assert!(error.contains("METADATA"), "{error}");
        let renamed = directory.path().join("other-1.0-py3-none-any.whl");
        fs_err::rename(&path, &renamed).unwrap();
        let error = read_metadata_only(&renamed, Limits::default())
            .unwrap_err()
            .to_string();
        assert!(error.contains("other-1.0.dist-info/METADATA"), "{error}");
    }
}
