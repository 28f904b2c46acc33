//! A view's pages replaced at once: `<view>/simple` is a symlink to a generation directory
//! (`.simple.XXXXXX`) beside it. A run that changes a view builds the next generation in full
//! (unchanged pages hard-linked from the current one, so they are not rewritten) and flips the
//! symlink with one rename, which is atomic on every POSIX filesystem: a reader (pip, uv, a web
//! server) opens each page from either the old generation or the new one, never from half of
//! one, and a run killed at any point leaves the old generation in place. A view that did not
//! change is not touched.
//!
//! The previous generation stays until the next run, so that a reader that resolved the
//! symlink just before the flip still finds the pages it is about to open.
//!
//! An index written before generations existed has a real `simple` directory; the first run
//! exchanges it for the symlink with `renameat2(RENAME_EXCHANGE)`, or, on a filesystem without
//! it (NFS), with two renames (an instant without pages, never half of them).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::Path;

use crate::wheelhouse::tree::{TEMP_PREFIX, TEMP_SUFFIX};

/// The name every view's pages are served under: `<layer>/<arch>/simple`.
pub const SIMPLE_DIR: &str = "simple";
/// The prefix of generation directories (and of a staging one a killed run left).
pub const GENERATION_PREFIX: &str = ".simple.";

/// What publishing a view did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    pub pages_written: usize,
    pub pages_unchanged: usize,
    /// Pages of the old generation the new one no longer has.
    pub removed: usize,
}

/// Every regular file under `directory` (following a symlinked `directory` itself, not those
/// below it), by path relative to it.
fn existing_pages(directory: &Path) -> std::io::Result<BTreeSet<String>> {
    let mut pages = BTreeSet::new();
    if !directory.is_dir() {
        return Ok(pages);
    }
    for entry in walkdir::WalkDir::new(directory)
        .follow_root_links(true)
        .min_depth(1)
    {
        let entry = entry.map_err(|error| {
            std::io::Error::other(format!("cannot walk `{}`: {error}", directory.display()))
        })?;
        if entry.file_type().is_dir() {
            continue;
        }
        if let Ok(relative) = entry.path().strip_prefix(directory) {
            pages.insert(relative.to_string_lossy().into_owned());
        }
    }
    Ok(pages)
}

/// Whether the page at `path` holds `text` already.
fn holds(path: &Path, text: &str) -> bool {
    fs_err::read(path).is_ok_and(|existing| existing == text.as_bytes())
}

/// Writes a new file readable by everyone (pages are served to every node, whatever the
/// umask).
fn write_page(path: &Path, text: &str) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let mut file = fs_err::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    file.write_all(text.as_bytes())?;
    file.set_permissions(std::fs::Permissions::from_mode(0o644))?;
    Ok(())
}

/// The generation `simple` points to, when it is a symlink.
fn current_generation(view_dir: &Path) -> Option<String> {
    let target = fs_err::read_link(view_dir.join(SIMPLE_DIR)).ok()?;
    target
        .file_name()
        .and_then(|name| name.to_str())
        .map(str::to_string)
}

/// Removes the generations `simple` does not point to (the previous one, kept for readers
/// of the last run, or a staging directory a killed run left) and temporary symlinks.
fn remove_leftovers(view_dir: &Path) -> std::io::Result<()> {
    let current = current_generation(view_dir);
    for entry in fs_err::read_dir(view_dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let is_generation = name.starts_with(GENERATION_PREFIX);
        let is_temp = name.starts_with(TEMP_PREFIX) && name.ends_with(TEMP_SUFFIX);
        if !(is_generation || is_temp) || current.as_deref() == Some(name.as_str()) {
            continue;
        }
        tracing::debug!("removing `{}`, an earlier generation", entry.path().display());
        if entry.file_type()?.is_dir() {
            fs_err::remove_dir_all(entry.path())?;
        } else {
            fs_err::remove_file(entry.path())?;
        }
    }
    Ok(())
}

/// Exchanges two paths atomically (`renameat2(RENAME_EXCHANGE)`); `Ok(false)` when the
/// filesystem or kernel cannot.
#[cfg(target_os = "linux")]
fn exchange(first: &Path, second: &Path) -> std::io::Result<bool> {
    use std::os::unix::ffi::OsStrExt as _;
    let c_path = |path: &Path| {
        std::ffi::CString::new(path.as_os_str().as_bytes())
            .map_err(|_| std::io::Error::other(format!("`{}` holds a NUL byte", path.display())))
    };
    let (first_c, second_c) = (c_path(first)?, c_path(second)?);
    // SAFETY: both are valid NUL-terminated paths that live across the call.
    let status = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            first_c.as_ptr(),
            libc::AT_FDCWD,
            second_c.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if status == 0 {
        return Ok(true);
    }
    let error = std::io::Error::last_os_error();
    match error.raw_os_error() {
        Some(libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP) => Ok(false),
        _ => Err(std::io::Error::new(
            error.kind(),
            format!(
                "cannot exchange `{}` and `{}`: {error}",
                first.display(),
                second.display()
            ),
        )),
    }
}

#[cfg(not(target_os = "linux"))]
fn exchange(_first: &Path, _second: &Path) -> std::io::Result<bool> {
    Ok(false)
}

/// Points `<view_dir>/simple` at `generation` with one rename, replacing an older symlink, or
/// a real directory (an index from before generations) by exchange. The old pages stay
/// where they are until the next run.
fn flip(view_dir: &Path, generation: &str) -> std::io::Result<()> {
    let simple = view_dir.join(SIMPLE_DIR);
    let real_directory = match fs_err::symlink_metadata(&simple) {
        Ok(metadata) if metadata.file_type().is_symlink() => false,
        Ok(metadata) if metadata.is_dir() => true,
        Ok(_) => {
            return Err(std::io::Error::other(format!(
                "`{}` is neither the index's directory nor its symlink: not replacing it",
                simple.display()
            )));
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => false,
        Err(error) => return Err(error),
    };
    let link = view_dir.join(format!("{TEMP_PREFIX}{SIMPLE_DIR}{TEMP_SUFFIX}"));
    let _ = fs_err::remove_file(&link);
    fs_err::os::unix::fs::symlink(generation, &link)?;
    if !real_directory {
        // A symlink (or nothing) replaced by a symlink: one atomic rename.
        fs_err::rename(&link, &simple)?;
        return Ok(());
    }
    // A real directory: exchanged with the symlink, after which `link` names the old pages
    // (a temporary name: the next run removes it).
    if exchange(&link, &simple)? {
        return Ok(());
    }
    let aside = view_dir.join(format!("{GENERATION_PREFIX}old"));
    tracing::warn!(
        "{}: this filesystem cannot exchange two paths atomically; the old pages are moved aside, then the new ones moved in (once: later runs flip a symlink)",
        view_dir.display()
    );
    fs_err::rename(&simple, &aside)?;
    fs_err::rename(&link, &simple)?;
    Ok(())
}

/// Makes `<view_dir>/simple` hold exactly `pages` (path relative to it -> text). Nothing is
/// touched when it already does; otherwise a new generation is built beside it and swapped
/// in at once.
pub fn publish_view(view_dir: &Path, pages: &BTreeMap<String, String>) -> std::io::Result<Published> {
    fs_err::create_dir_all(view_dir)?;
    remove_leftovers(view_dir)?;
    let current = view_dir.join(SIMPLE_DIR);
    let existing = existing_pages(&current)?;
    let unchanged: BTreeSet<&String> = pages
        .iter()
        .filter(|(relative, text)| existing.contains(*relative) && holds(&current.join(relative), text))
        .map(|(relative, _)| relative)
        .collect();
    let removed = existing
        .iter()
        .filter(|relative| !pages.contains_key(*relative))
        .count();
    if unchanged.len() == pages.len() && removed == 0 && current.is_dir() {
        return Ok(Published {
            pages_written: 0,
            pages_unchanged: pages.len(),
            removed: 0,
        });
    }

    // The new generation, removed on any error before the flip.
    let staging = tempfile::Builder::new()
        .prefix(GENERATION_PREFIX)
        .tempdir_in(view_dir)
        .map_err(|error| {
            std::io::Error::new(
                error.kind(),
                format!("cannot create a directory in `{}`: {error}", view_dir.display()),
            )
        })?;
    let mut published = Published {
        removed,
        ..Published::default()
    };
    for (relative, text) in pages {
        let path = staging.path().join(relative);
        if let Some(parent) = path.parent() {
            fs_err::create_dir_all(parent)?;
        }
        if unchanged.contains(relative) {
            // The same file, not rewritten (its mtime stays; rsync sees no change); a copy
            // where the filesystem has no hard links.
            if fs_err::hard_link(current.join(relative), &path).is_err() {
                write_page(&path, text)?;
            }
            published.pages_unchanged += 1;
        } else {
            write_page(&path, text)?;
            published.pages_written += 1;
        }
    }
    // Directories readable by everyone (a temporary directory is 0700).
    use std::os::unix::fs::PermissionsExt as _;
    for entry in walkdir::WalkDir::new(staging.path()) {
        let entry = entry.map_err(|error| std::io::Error::other(error.to_string()))?;
        if entry.file_type().is_dir() {
            fs_err::set_permissions(entry.path(), std::fs::Permissions::from_mode(0o755))?;
        }
    }
    let generation = staging
        .path()
        .file_name()
        .and_then(|name| name.to_str())
        .map(str::to_string)
        .ok_or_else(|| std::io::Error::other("the staging directory has no name"))?;
    flip(view_dir, &generation)?;
    // Visible now: the staging directory is the view's pages and must outlive this run.
    let _ = staging.keep();
    Ok(published)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pages(list: &[(&str, &str)]) -> BTreeMap<String, String> {
        list.iter()
            .map(|(path, text)| (path.to_string(), text.to_string()))
            .collect()
    }

    fn inode(path: &Path) -> u64 {
        use std::os::unix::fs::MetadataExt as _;
        fs_err::metadata(path).unwrap().ino()
    }

    #[test]
    fn a_view_flips_to_a_new_generation_and_unchanged_pages_are_kept() {
        let directory = tempfile::tempdir().unwrap();
        let view = directory.path().join("gentoo2023/x86-64-v3");
        let first = pages(&[
            ("index.html", "root 1"),
            ("a/index.html", "a"),
            ("b/index.html", "b"),
        ]);
        let done = publish_view(&view, &first).unwrap();
        assert_eq!(
            (done.pages_written, done.pages_unchanged, done.removed),
            (3, 0, 0)
        );
        let simple = view.join(SIMPLE_DIR);
        assert!(
            fs_err::symlink_metadata(&simple)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        let a_inode = inode(&simple.join("a/index.html"));
        let first_generation = current_generation(&view).unwrap();

        // Nothing changed: nothing is touched, not even the symlink.
        let again = publish_view(&view, &first).unwrap();
        assert_eq!(
            (again.pages_written, again.pages_unchanged, again.removed),
            (0, 3, 0)
        );
        assert_eq!(current_generation(&view).unwrap(), first_generation);

        // b leaves, the root page changes, c arrives: a new generation, a kept as it was.
        let second = pages(&[
            ("index.html", "root 2"),
            ("a/index.html", "a"),
            ("c/index.html", "c"),
        ]);
        let done = publish_view(&view, &second).unwrap();
        assert_eq!(
            (done.pages_written, done.pages_unchanged, done.removed),
            (2, 1, 1)
        );
        assert_ne!(current_generation(&view).unwrap(), first_generation);
        assert_eq!(
            inode(&simple.join("a/index.html")),
            a_inode,
            "a was not rewritten"
        );
        assert_eq!(
            fs_err::read_to_string(simple.join("index.html")).unwrap(),
            "root 2"
        );
        assert!(!simple.join("b").exists());
        // The previous generation is kept for readers until the next run, which removes it.
        assert!(view.join(&first_generation).join("b/index.html").is_file());
        publish_view(&view, &second).unwrap();
        let mut names: Vec<String> = fs_err::read_dir(&view)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [current_generation(&view).unwrap(), SIMPLE_DIR.to_string()]
        );
        use std::os::unix::fs::PermissionsExt as _;
        let mode = fs_err::metadata(simple.join("c")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o755);
    }

    #[test]
    fn an_old_real_directory_is_replaced_and_leftovers_of_a_killed_run_go() {
        let directory = tempfile::tempdir().unwrap();
        let view = directory.path().join("view");
        let simple = view.join(SIMPLE_DIR);
        fs_err::create_dir_all(simple.join("a")).unwrap();
        fs_err::write(simple.join("index.html"), "old root").unwrap();
        fs_err::write(simple.join("a/index.html"), "a").unwrap();
        // A staging directory a killed run left.
        fs_err::create_dir_all(view.join(".simple.killed/x")).unwrap();
        let new = pages(&[("index.html", "new root"), ("a/index.html", "a")]);
        let done = publish_view(&view, &new).unwrap();
        assert_eq!(
            (done.pages_written, done.pages_unchanged, done.removed),
            (1, 1, 0)
        );
        assert!(
            fs_err::symlink_metadata(&simple)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(
            fs_err::read_to_string(simple.join("index.html")).unwrap(),
            "new root"
        );
        assert!(!view.join(".simple.killed").exists());
        // The old directory is kept until the next run.
        assert_eq!(fs_err::read_dir(&view).unwrap().count(), 3);
        publish_view(&view, &new).unwrap();
        assert_eq!(fs_err::read_dir(&view).unwrap().count(), 2);
    }

    #[test]
    fn a_reader_sees_one_whole_generation_while_views_flip() {
        let directory = tempfile::tempdir().unwrap();
        let view = directory.path().join("view");
        let generation = |number: usize| {
            pages(&[
                ("index.html", &format!("{number}")),
                ("a/index.html", &format!("{number}")),
                ("b/index.html", &format!("{number}")),
            ])
        };
        publish_view(&view, &generation(0)).unwrap();
        let simple = view.join(SIMPLE_DIR);
        let stop = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|scope| {
            let reader = scope.spawn(|| {
                let mut reads = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    // `simple` is always there, and the generation it names is never changed:
                    // its pages are all of one run (or gone, many runs later).
                    let generation = fs_err::read_link(&simple).expect("`simple` is always there");
                    let texts: Vec<String> = ["index.html", "a/index.html", "b/index.html"]
                        .iter()
                        .filter_map(|page| fs_err::read_to_string(view.join(&generation).join(page)).ok())
                        .collect();
                    if texts.len() == 3 {
                        assert!(texts.iter().all(|text| *text == texts[0]), "mixed: {texts:?}");
                        reads += 1;
                    }
                }
                reads
            });
            for number in 1..200 {
                publish_view(&view, &generation(number)).unwrap();
            }
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            assert!(reader.join().unwrap() > 0);
        });
    }
}
