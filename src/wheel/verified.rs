//! The record of wheels that passed full verification, keyed by the sha256 of the whole file:
//! the same bytes verified once need not be inflated and hashed again (`cp-wheels --dry-run`
//! then `cp-wheels`, `wheelbuild` then `cp-wheels`).

use std::path::{Path, PathBuf};

/// A directory of empty-ish marker files named by the sha256 of wheels that verified.
#[derive(Debug, Clone)]
pub struct VerifiedCache {
    directory: PathBuf,
}

/// The user's cache root for wheelwright: `$XDG_CACHE_HOME/wheelwright`, else
/// `~/.cache/wheelwright`, else under the system temp dir.
pub fn cache_root() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .filter(|value| !value.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("wheelwright")
}

/// The sha256 of a whole file, as lower-case hex.
pub fn file_sha256(path: &Path) -> std::io::Result<String> {
    use sha2::Digest as _;
    use std::io::Read as _;
    let mut file = fs_err::File::open(path)?;
    let mut hasher = sha2::Sha256::new();
    let mut buffer = vec![0u8; 1 << 18];
    loop {
        let read = match file.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => read,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        hasher.update(&buffer[..read]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect())
}

impl VerifiedCache {
    /// The cache under [`cache_root`], or `$WHEELWRIGHT_VERIFIED_CACHE`; `None` when
    /// `WHEELWRIGHT_VERIFIED_CACHE=off`.
    pub fn default_location() -> Option<Self> {
        match std::env::var_os("WHEELWRIGHT_VERIFIED_CACHE") {
            Some(value) if value == "off" => None,
            Some(value) if !value.is_empty() => Some(VerifiedCache {
                directory: PathBuf::from(value),
            }),
            _ => Some(VerifiedCache {
                directory: cache_root().join("verified"),
            }),
        }
    }

    pub fn at(directory: PathBuf) -> Self {
        VerifiedCache { directory }
    }

    fn marker(&self, sha256: &str) -> Option<PathBuf> {
        let valid = sha256.len() == 64 && sha256.bytes().all(|byte| byte.is_ascii_hexdigit());
        valid.then(|| self.directory.join(&sha256[..2]).join(sha256))
    }

    /// Whether a file with this sha256 verified under a size limit no larger than
    /// `total_limit` (a stricter limit now means verifying again).
    pub fn contains(&self, sha256: &str, total_limit: u64) -> bool {
        let Some(marker) = self.marker(sha256) else {
            return false;
        };
        fs_err::read_to_string(marker)
            .ok()
            .and_then(|text| text.trim().parse::<u64>().ok())
            .is_some_and(|verified_under| verified_under <= total_limit)
    }

    /// Records that a file with this sha256 verified under `total_limit`, and, when `path` is
    /// given, that the file at `path` as it is now (see [`stat_key`]) has this sha256. Failing
    /// to record only costs a later verification, so errors are logged, not returned.
    pub fn record(&self, sha256: &str, total_limit: u64, path: Option<&Path>) {
        let Some(marker) = self.marker(sha256) else {
            return;
        };
        let result = (|| -> std::io::Result<()> {
            write_marker(&marker, &format!("{total_limit}\n"))?;
            if let Some(key) = path.and_then(stat_key) {
                write_marker(&self.directory.join("by-stat").join(key), sha256)?;
            }
            Ok(())
        })();
        if let Err(error) = result {
            tracing::debug!(
                "cannot record a verified wheel in `{}`: {error}",
                self.directory.display()
            );
        }
    }

    /// The sha256 of the file at `path` if it is unchanged since it was recorded (same device,
    /// inode, size, modification and change times: any write changes the change time), read
    /// from the record instead of the file.
    pub fn known_sha256(&self, path: &Path) -> Option<String> {
        let key = stat_key(path)?;
        let sha256 = fs_err::read_to_string(self.directory.join("by-stat").join(key)).ok()?;
        let sha256 = sha256.trim();
        self.marker(sha256).map(|_| sha256.to_string())
    }
}

fn write_marker(marker: &Path, text: &str) -> std::io::Result<()> {
    let directory = marker.parent().unwrap_or(Path::new("."));
    fs_err::create_dir_all(directory)?;
    let mut temp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(directory)?;
    std::io::Write::write_all(&mut temp, text.as_bytes())?;
    temp.persist(marker).map_err(|error| error.error)?;
    Ok(())
}

/// What identifies a file's current content without reading it: device, inode, size, and
/// the modification and status-change times in nanoseconds.
pub fn stat_key(path: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt as _;
    let meta = fs_err::metadata(path).ok()?;
    let nanos =
        |seconds: i64, nanoseconds: i64| i128::from(seconds) * 1_000_000_000 + i128::from(nanoseconds);
    Some(format!(
        "{}-{}-{}-{}-{}",
        meta.dev(),
        meta.ino(),
        meta.len(),
        nanos(meta.mtime(), meta.mtime_nsec()),
        nanos(meta.ctime(), meta.ctime_nsec())
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_by_hash_and_respects_stricter_limits() {
        let directory = tempfile::tempdir().unwrap();
        let cache = VerifiedCache::at(directory.path().to_path_buf());
        let hash = "ab".repeat(32);
        assert!(!cache.contains(&hash, 100));
        cache.record(&hash, 100, None);
        assert!(cache.contains(&hash, 100));
        assert!(cache.contains(&hash, 1000));
        assert!(
            !cache.contains(&hash, 10),
            "verified under a looser limit than asked"
        );
        assert!(!cache.contains("../../etc/passwd", 100));
        cache.record("not-a-hash", 100, None);
        assert_eq!(fs_err::read_dir(directory.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_file_is_known_by_its_stat_until_it_changes() {
        let directory = tempfile::tempdir().unwrap();
        let cache = VerifiedCache::at(directory.path().join("cache"));
        let file = directory.path().join("a.whl");
        fs_err::write(&file, b"one").unwrap();
        let hash = file_sha256(&file).unwrap();
        assert_eq!(cache.known_sha256(&file), None);
        cache.record(&hash, 100, Some(&file));
        assert_eq!(cache.known_sha256(&file), Some(hash));
        // Same size, new bytes: the change time moves, the record no longer answers.
        std::thread::sleep(std::time::Duration::from_millis(10));
        fs_err::write(&file, b"two").unwrap();
        assert_eq!(cache.known_sha256(&file), None);
    }
}
