//! The nightly's caches kept within their limits after each run: the source cache (by
//! sha256, least recently used sources first) and uv's cache of build requirements (dangling
//! entries first, then the least recently written packages).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Prunes the source cache (`<cache>/<sha256>/<file>`) to `limit` bytes, the least recently
/// used first (by modification time: a hit re-touches its directory); returns what was
/// removed (directories, bytes).
pub fn prune_sources(cache: &Path, limit: u64) -> (usize, u64) {
    let Ok(entries) = fs_err::read_dir(cache) else {
        return (0, 0);
    };
    let mut sources: Vec<(std::time::SystemTime, u64, PathBuf)> = entries
        .flatten()
        .filter(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            name.len() == 64 && name.chars().all(|c| c.is_ascii_hexdigit()) && entry.path().is_dir()
        })
        .map(|entry| {
            let path = entry.path();
            let size = disk_usage(&path);
            let modified = entry
                .metadata()
                .and_then(|meta| meta.modified())
                .unwrap_or(std::time::UNIX_EPOCH);
            (modified, size, path)
        })
        .collect();
    let mut total: u64 = sources.iter().map(|(_, size, _)| size).sum();
    sources.sort();
    let mut removed = (0, 0);
    for (_, size, path) in sources {
        if total <= limit {
            break;
        }
        if fs_err::remove_dir_all(&path).is_ok() {
            total = total.saturating_sub(size);
            removed.0 += 1;
            removed.1 += size;
        }
    }
    removed
}

/// Keeps uv's cache (`dir`, else the one uv uses) within `limit` bytes: `uv cache prune`
/// first (dangling entries, cached environments), then `uv cache clean PACKAGE` for the
/// packages written least recently, a few at a time, until it fits. Nothing happens without
/// uv, or when the cache is within its limit.
pub fn prune_build_cache(dir: Option<&Path>, limit: u64) -> (usize, u64) {
    let Some(uv) = crate::python::find_uv() else {
        return (0, 0);
    };
    let dir = match dir {
        Some(dir) => dir.to_path_buf(),
        None => match crate::tools::capture(&uv, &["cache", "dir"]) {
            Some(text) if !text.trim().is_empty() => PathBuf::from(text.trim()),
            _ => return (0, 0),
        },
    };
    let before = disk_usage(&dir);
    if before <= limit {
        return (0, 0);
    }
    let uv_cache = |args: &[&str]| {
        let pruned =
            crate::tools::Program::new(format!("`uv cache {}` on {}", args.join(" "), dir.display()), &uv)
                .args(["cache"])
                .args(args)
                .arg("--cache-dir")
                .arg(&dir)
                .output_within(std::time::Duration::from_secs(3600));
        if let Err(error) = pruned {
            tracing::warn!("{}", error.to_string().trim());
        }
    };
    uv_cache(&["prune"]);
    let mut size = disk_usage(&dir);
    let mut cleaned = 0;
    let packages = packages_by_last_write(&dir);
    let batch = packages.len().div_ceil(10).max(1);
    for names in packages.chunks(batch) {
        if size <= limit {
            break;
        }
        let mut args = vec!["clean"];
        args.extend(names.iter().map(String::as_str));
        uv_cache(&args);
        cleaned += names.len();
        size = disk_usage(&dir);
    }
    tracing::info!(
        "uv cache {}: {} before, {} after ({cleaned} packages cleaned)",
        dir.display(),
        before,
        size
    );
    (cleaned, before.saturating_sub(size))
}

/// The packages in uv's cache (the directories named after them under its `wheels-*`,
/// `sdists-*` and `simple-*` buckets), least recently written first.
fn packages_by_last_write(dir: &Path) -> Vec<String> {
    let mut last: BTreeMap<String, SystemTime> = BTreeMap::new();
    let buckets = fs_err::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            ["wheels-", "sdists-", "simple-"]
                .iter()
                .any(|prefix| name.starts_with(prefix))
        });
    for bucket in buckets {
        // <bucket>/pypi/<package>, <bucket>/index/<hash>/<package>, <bucket>/pypi/<package>.rkyv
        for entry in walkdir::WalkDir::new(bucket.path())
            .min_depth(2)
            .max_depth(3)
            .into_iter()
            .flatten()
        {
            let relative = entry.path().strip_prefix(bucket.path()).unwrap_or(entry.path());
            let mut parts = relative.iter().map(|part| part.to_string_lossy().into_owned());
            let package = match (parts.next().as_deref(), parts.next(), parts.next()) {
                (Some("pypi"), Some(name), None) => name,
                (Some("index"), Some(_), Some(name)) => name,
                _ => continue,
            };
            let package = package.strip_suffix(".rkyv").unwrap_or(&package).to_string();
            let newest = walkdir::WalkDir::new(entry.path())
                .into_iter()
                .flatten()
                .filter(|file| file.file_type().is_file())
                .filter_map(|file| file.metadata().ok()?.modified().ok())
                .max()
                .unwrap_or(SystemTime::UNIX_EPOCH);
            let slot = last.entry(package).or_insert(newest);
            *slot = (*slot).max(newest);
        }
    }
    let mut packages: Vec<(SystemTime, String)> = last.into_iter().map(|(name, when)| (when, name)).collect();
    packages.sort();
    packages.into_iter().map(|(_, name)| name).collect()
}

/// The bytes of the files under `path` (not following links).
pub fn disk_usage(path: &Path) -> u64 {
    walkdir::WalkDir::new(path)
        .into_iter()
        .flatten()
        .filter(|entry| entry.file_type().is_file())
        .filter_map(|entry| entry.metadata().ok())
        .map(|meta| meta.len())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uv_cache_packages_come_least_recently_written_first() {
        let dir = tempfile::tempdir().unwrap();
        let write = |relative: &str, age_seconds: u64| {
            let path = dir.path().join(relative);
            fs_err::create_dir_all(path.parent().unwrap()).unwrap();
            fs_err::write(&path, b"x").unwrap();
            let when = SystemTime::now() - std::time::Duration::from_secs(age_seconds);
            fs_err::File::options()
                .write(true)
                .open(&path)
                .unwrap()
                .set_modified(when)
                .unwrap();
        };
        write("wheels-v8/pypi/old/a.whl", 3000);
        write("sdists-v11/pypi/mixed/b.tar.gz", 5000);
        write("simple-v28/pypi/mixed.rkyv", 10);
        write("wheels-v8/index/abc123/middle/c.whl", 1000);
        write("archive-v0/xyz/notapackage/d.py", 9000);
        assert_eq!(packages_by_last_write(dir.path()), ["old", "middle", "mixed"]);
    }

    #[test]
    fn the_cache_is_pruned_oldest_first_to_its_limit() {
        let cache = tempfile::tempdir().unwrap();
        let make = |index: u8, size: usize, age: u64| {
            let directory = cache.path().join(format!("{index:064x}"));
            fs_err::create_dir_all(&directory).unwrap();
            fs_err::write(directory.join("source.tar.gz"), vec![0u8; size]).unwrap();
            let time = std::time::SystemTime::now() - std::time::Duration::from_secs(age);
            fs_err::File::open(&directory)
                .unwrap()
                .file()
                .set_modified(time)
                .unwrap();
            directory
        };
        let oldest = make(1, 4000, 300);
        let middle = make(2, 4000, 200);
        let newest = make(3, 4000, 100);
        fs_err::create_dir_all(cache.path().join("pypi")).unwrap();
        assert_eq!(prune_sources(cache.path(), 100_000), (0, 0));
        assert_eq!(prune_sources(cache.path(), 9000), (1, 4000));
        assert!(!oldest.exists() && middle.exists() && newest.exists());
        assert_eq!(prune_sources(cache.path(), 0), (2, 8000));
        assert!(cache.path().join("pypi").is_dir(), "pointers are not sources");
    }
}
