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

/// `(name, version)` from a `name-version.dist-info` or `name-version.data` directory name.
fn split_directory(directory: &str, suffix: &str) -> Option<(String, Version)> {
    let stem = directory.strip_suffix(suffix)?;
    let (name, version) = stem.rsplit_once('-')?;
    Some((normalize_name(name), Version::from_str(version).ok()?))
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
            total = total.saturating_add(file.size());
            let entry = Entry {
                index,
                is_dir: file.is_dir(),
                size: file.size(),
                name,
            };
            if !seen.insert(entry.name.clone()) {
                return Err(WheelErrorKind::DuplicateEntries(entry.name));
            }
            self.entries.push(entry);
        }
        if self.archive.has_duplicate_names() {
            return Err(WheelErrorKind::DuplicateNames);
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

    #[test]
    fn splits_directory_names() {
        let (name, version) = split_directory("Zope.Sub_Pkg-1.0+cc.dist-info", ".dist-info").unwrap();
        assert_eq!(name, "zope-sub-pkg");
        assert_eq!(version.to_string(), "1.0+cc");
        assert!(split_directory("nodash.dist-info", ".dist-info").is_none());
    }
}
