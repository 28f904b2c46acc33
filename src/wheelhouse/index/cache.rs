//! The index's cache of hashes (`DIR/.wheelwright-index-cache.json`): a wheel's sha256, its
//! METADATA's hash and `Requires-Python`, keyed by its path in the tree and valid while its
//! size and modification time stay the same; and hashing a wheel that is not in it.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::write_if_changed;
use crate::spec::headers::HeaderDocument;
use crate::wheel::Limits;
use crate::wheel::reader::WheelReader;

const CACHE_VERSION: u32 = 1;

/// The cache file as written.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct Cache {
    pub(super) version: u32,
    /// Keyed by the wheel's path relative to the root.
    pub(super) wheels: BTreeMap<String, CacheEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct CacheEntry {
    pub(super) size: u64,
    pub(super) mtime_ns: i64,
    pub(super) sha256: String,
    pub(super) metadata_sha256: Option<String>,
    pub(super) requires_python: Option<String>,
    /// Why the wheel's METADATA could not be read, when it could not.
    pub(super) problem: Option<String>,
}

/// Size and modification time of a file, following symlinks.
pub(super) fn stat(path: &Path) -> std::io::Result<(u64, i64)> {
    use std::os::unix::fs::MetadataExt as _;
    let metadata = fs_err::metadata(path)?;
    Ok((
        metadata.len(),
        metadata
            .mtime()
            .saturating_mul(1_000_000_000)
            .saturating_add(metadata.mtime_nsec()),
    ))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Hashes a wheel and reads its METADATA, writing the metadata file next to the link.
pub(super) fn hash_wheel(
    path: &Path,
    metadata_file: &Path,
    size: u64,
    mtime_ns: i64,
) -> std::io::Result<CacheEntry> {
    let sha256 = crate::wheel::verified::file_sha256(path)?;
    let metadata = WheelReader::open(path, Limits::default()).and_then(|mut reader| {
        let member = format!("{}/METADATA", reader.dist_info);
        reader
            .read_member(&member)
            .map_err(|kind| crate::wheel::WheelError::new(path, kind))
    });
    let entry = match metadata {
        Ok(bytes) => {
            write_if_changed(metadata_file, &bytes)?;
            let requires_python = HeaderDocument::parse(&bytes)
                .get("Requires-Python")
                .filter(|value| !value.is_empty());
            CacheEntry {
                size,
                mtime_ns,
                sha256,
                metadata_sha256: Some(hex(&Sha256::digest(&bytes))),
                requires_python,
                problem: None,
            }
        }
        Err(error) => {
            let _ = fs_err::remove_file(metadata_file);
            CacheEntry {
                size,
                mtime_ns,
                sha256,
                metadata_sha256: None,
                requires_python: None,
                problem: Some(format!("indexed without its metadata: {error}")),
            }
        }
    };
    Ok(entry)
}

pub(super) fn load_cache(path: &Path) -> Cache {
    let Ok(text) = fs_err::read_to_string(path) else {
        return Cache::default();
    };
    match serde_json::from_str::<Cache>(&text) {
        Ok(cache) if cache.version == CACHE_VERSION => cache,
        Ok(_) => Cache::default(),
        Err(error) => {
            tracing::warn!(
                "{}: unreadable cache, every wheel is hashed again: {error}",
                path.display()
            );
            Cache::default()
        }
    }
}

/// Writes the cache: every wheel still in the tree, this run's views or not.
pub(super) fn save_cache(
    mut cache: Cache,
    path: &Path,
    in_tree: &HashMap<String, ()>,
    entries: &BTreeMap<String, CacheEntry>,
) -> std::io::Result<()> {
    cache.version = CACHE_VERSION;
    cache.wheels.retain(|relative, _| in_tree.contains_key(relative));
    cache.wheels.extend(entries.clone());
    let text = serde_json::to_string(&cache).map_err(std::io::Error::other)?;
    write_if_changed(path, text.as_bytes())?;
    Ok(())
}
