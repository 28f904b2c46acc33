//! The core metadata of an sdist, read from its `<dir>/PKG-INFO` inside the archive
//! (`.tar.gz`, `.tgz`, `.tar`, `.zip`) without unpacking it or running a build backend: what
//! a URL or git source's version is, and whether an index's sdist is what was asked for.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use pep440_rs::Version;

use crate::spec::metadata::{Metadata, MetadataError};

/// The PKG-INFO fields wheelwright uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdistMetadata {
    pub name: String,
    pub version: Version,
    pub metadata_version: Option<String>,
    pub requires_dist: Vec<String>,
    pub requires_python: Option<String>,
}

impl SdistMetadata {
    /// Parses PKG-INFO (core metadata, as METADATA); Name and Version are required.
    pub fn parse(bytes: &[u8]) -> Result<Self, MetadataError> {
        let metadata = Metadata::parse(bytes)?;
        Ok(SdistMetadata {
            name: metadata.name()?,
            version: metadata.version()?,
            metadata_version: metadata.metadata_version(),
            requires_dist: metadata.requires_dist(),
            requires_python: metadata.requires_python(),
        })
    }
}

/// An sdist whose PKG-INFO cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum SdistMetadataError {
    #[error("{}: {reason}", archive.display())]
    Archive { archive: PathBuf, reason: String },
    #[error("{}: `{member}`: {source}", archive.display())]
    Metadata {
        archive: PathBuf,
        member: String,
        #[source]
        source: MetadataError,
    },
}

/// PKG-INFO larger than this is refused (long descriptions stay far below it).
const PKG_INFO_LIMIT: u64 = 16 << 20;

/// The top-level member `name` of an archive: `<top>/<name>`, one level down (not
/// `<top>/src/pkg.egg-info/PKG-INFO`).
fn top_level_name(member: &str) -> Option<&str> {
    let parts: Vec<&str> = member
        .trim_start_matches("./")
        .split('/')
        .filter(|part| !part.is_empty())
        .collect();
    match parts.as_slice() {
        [top, name] if *top != ".." => Some(name),
        _ => None,
    }
}

/// The top-level files `names` of an sdist (`PKG-INFO`, `pyproject.toml`), read in one pass:
/// each found one by name, with its member path and bytes (at most 16 MiB each).
pub fn read_top_level_files(
    archive: &Path,
    names: &[&str],
) -> Result<BTreeMap<String, (String, Vec<u8>)>, SdistMetadataError> {
    let fail = |reason: String| SdistMetadataError::Archive {
        archive: archive.to_path_buf(),
        reason,
    };
    let file_name = archive
        .file_name()
        .map(|name| name.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let mut found = BTreeMap::new();
    let wanted = |member: &str| {
        top_level_name(member)
            .filter(|name| names.contains(name))
            .map(str::to_string)
    };
    if file_name.ends_with(".zip") {
        let file = fs_err::File::open(archive).map_err(|error| fail(error.to_string()))?;
        let mut zip = zip::ZipArchive::new(file).map_err(|error| fail(error.to_string()))?;
        let members: Vec<(String, String)> = zip
            .file_names()
            .filter_map(Result::ok)
            .filter_map(|member| wanted(&member).map(|name| (name, member.into_owned())))
            .collect();
        for (name, member) in members {
            let entry = zip.by_name(&member).map_err(|error| fail(error.to_string()))?;
            let mut bytes = Vec::new();
            entry
                .take(PKG_INFO_LIMIT)
                .read_to_end(&mut bytes)
                .map_err(|error| fail(format!("`{member}`: {error}")))?;
            found.entry(name).or_insert((member, bytes));
        }
    } else if file_name.ends_with(".tar.gz") || file_name.ends_with(".tgz") || file_name.ends_with(".tar") {
        let file = fs_err::File::open(archive).map_err(|error| fail(error.to_string()))?;
        let reader: Box<dyn std::io::Read> = if file_name.ends_with(".tar") {
            Box::new(file)
        } else {
            Box::new(flate2::read::GzDecoder::new(file))
        };
        let mut tar = tar::Archive::new(reader);
        for entry in tar.entries().map_err(|error| fail(error.to_string()))? {
            let entry = entry.map_err(|error| fail(error.to_string()))?;
            let member = entry
                .path()
                .map_err(|error| fail(error.to_string()))?
                .to_string_lossy()
                .into_owned();
            let Some(name) = wanted(&member).filter(|_| entry.header().entry_type().is_file()) else {
                continue;
            };
            if found.contains_key(&name) {
                continue;
            }
            let mut bytes = Vec::new();
            entry
                .take(PKG_INFO_LIMIT)
                .read_to_end(&mut bytes)
                .map_err(|error| fail(format!("`{member}`: {error}")))?;
            found.insert(name, (member, bytes));
            if found.len() == names.len() {
                break;
            }
        }
    } else {
        return Err(fail(
            "not an sdist archive wheelwright reads (.tar.gz, .tgz, .tar, .zip)".to_string(),
        ));
    }
    Ok(found)
}

/// Reads the PKG-INFO of an sdist; `Ok(None)` when it has none (a git archive).
pub fn read_sdist_metadata(archive: &Path) -> Result<Option<SdistMetadata>, SdistMetadataError> {
    read_top_level_files(archive, &["PKG-INFO"])?
        .remove("PKG-INFO")
        .map(|(member, bytes)| {
            SdistMetadata::parse(&bytes).map_err(|source| SdistMetadataError::Metadata {
                archive: archive.to_path_buf(),
                member,
                source,
            })
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    const PKG_INFO: &str = "Metadata-Version: 2.1\nName: Demo_Pkg\nVersion: 1.85\nRequires-Python: >=3.9\nRequires-Dist: numpy>=1.21\nRequires-Dist: six; extra == \"old\"\n\nDescription.\n";

    fn tar_gz(path: &Path, members: &[(&str, &str)]) {
        let file = fs_err::File::create(path).unwrap();
        let encoder = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
        let mut builder = tar::Builder::new(encoder);
        for (name, text) in members {
            let mut header = tar::Header::new_gnu();
            header.set_size(text.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder.append_data(&mut header, name, text.as_bytes()).unwrap();
        }
        builder.into_inner().unwrap().finish().unwrap();
    }

    #[test]
    fn parses_the_fields_used() {
        let metadata = SdistMetadata::parse(PKG_INFO.as_bytes()).unwrap();
        assert_eq!(metadata.name, "Demo_Pkg");
        assert_eq!(metadata.version, "1.85.0".parse::<Version>().unwrap());
        assert_eq!(metadata.metadata_version.as_deref(), Some("2.1"));
        assert_eq!(metadata.requires_python.as_deref(), Some(">=3.9"));
        assert_eq!(metadata.requires_dist, ["numpy>=1.21", "six; extra == \"old\""]);
        assert!(matches!(
            SdistMetadata::parse(b"Metadata-Version: 2.1\nName: x\n"),
            Err(MetadataError::Missing("Version"))
        ));
    }

    #[test]
    fn reads_the_top_level_pkg_info_of_a_tarball_and_a_zip() {
        let directory = tempfile::tempdir().unwrap();
        let tarball = directory.path().join("demo_pkg-1.85.tar.gz");
        tar_gz(
            &tarball,
            &[
                (
                    "demo_pkg-1.85/src/demo_pkg.egg-info/PKG-INFO",
                    "Name: wrong\nVersion: 0\n",
                ),
                ("demo_pkg-1.85/setup.py", "print()"),
                ("demo_pkg-1.85/PKG-INFO", PKG_INFO),
            ],
        );
        let metadata = read_sdist_metadata(&tarball).unwrap().unwrap();
        assert_eq!(metadata.name, "Demo_Pkg");

        let zip_path = directory.path().join("demo_pkg-1.85.zip");
        let mut zip = zip::ZipWriter::new(fs_err::File::create(&zip_path).unwrap());
        let options = zip::write::SimpleFileOptions::default();
        zip.start_file("demo_pkg-1.85/PKG-INFO", options).unwrap();
        zip.write_all(PKG_INFO.as_bytes()).unwrap();
        zip.finish().unwrap();
        let metadata = read_sdist_metadata(&zip_path).unwrap().unwrap();
        assert_eq!(metadata.version.to_string(), "1.85");

        // A git archive has none; a broken one is an error naming the archive and member.
        let git = directory.path().join("demo-git.tar.gz");
        tar_gz(&git, &[("demo/setup.py", "print()")]);
        assert_eq!(read_sdist_metadata(&git).unwrap(), None);
        let broken = directory.path().join("broken-1.0.tar.gz");
        tar_gz(
            &broken,
            &[("broken-1.0/PKG-INFO", "Name: broken\nVersion: not a version\n")],
        );
        let error = read_sdist_metadata(&broken).unwrap_err().to_string();
        assert!(
            error.contains("broken-1.0.tar.gz: `broken-1.0/PKG-INFO`: METADATA `Version: not a version`"),
            "{error}"
        );
        let error = read_sdist_metadata(&directory.path().join("x.rpm"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("not an sdist archive"), "{error}");
    }
}
