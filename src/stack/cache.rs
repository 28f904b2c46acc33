//! Stacks entered by earlier processes, kept on disk: what entering a stack (bash, Lmod, the
//! layer's lines, the modules) left — its environment, or its error — is reused by the next
//! plan while the module trees it was entered from are unchanged. A site's plan enters a
//! stack per distinct set of modules its recipes load (hundreds, each a bash and Lmod); a
//! warm plan enters none.
//!
//! An entry is valid while every module tree it depends on has the same fingerprint (the
//! relative path, size and modification time of every file in it): the layout's
//! `modulepath`, and the `MODULEPATH` the stack ended with (or, for an error, the one its
//! layer's bare stack has), so a module installed, removed or changed, or a new default
//! version, enters the stack again. The key holds the request, the steps' commands and
//! Lmod's initialisation file with its modification time.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use super::{Stack, StackError};

/// A module tree with more files than this is not fingerprinted (nor its stacks kept).
const TREE_FILES_LIMIT: usize = 200_000;

/// One kept stack.
#[derive(Serialize, Deserialize)]
struct Entry {
    key: String,
    /// The module trees it depends on, each with its fingerprint then.
    trees: Vec<(PathBuf, String)>,
    result: Result<Stack, StackError>,
}

/// The directory the entries are kept in.
fn directory() -> PathBuf {
    crate::wheel::verified::cache_root().join("stacks")
}

fn path_of(key: &str) -> PathBuf {
    let hash: String = sha2::Sha256::digest(key.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    directory().join(format!("{hash}.json"))
}

/// The fingerprint of a module tree (memoised per process); `None` when it cannot be read
/// or is too big to walk.
fn fingerprint(tree: &Path) -> Option<String> {
    static SEEN: OnceLock<Mutex<BTreeMap<PathBuf, Option<String>>>> = OnceLock::new();
    let seen = SEEN.get_or_init(|| Mutex::new(BTreeMap::new()));
    if let Some(known) = seen.lock().unwrap_or_else(|poison| poison.into_inner()).get(tree) {
        return known.clone();
    }
    let computed = compute_fingerprint(tree);
    seen.lock()
        .unwrap_or_else(|poison| poison.into_inner())
        .insert(tree.to_path_buf(), computed.clone());
    computed
}

fn compute_fingerprint(tree: &Path) -> Option<String> {
    if !tree.exists() {
        // A tree that is not there is a fact too: it may appear later.
        return Some("absent".to_string());
    }
    let mut lines: Vec<String> = Vec::new();
    for entry in walkdir::WalkDir::new(tree).follow_links(false) {
        let entry = entry.ok()?;
        let metadata = entry.metadata().ok()?;
        let relative = entry.path().strip_prefix(tree).ok()?.display().to_string();
        let modified = metadata
            .modified()
            .ok()
            .and_then(|time| time.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |elapsed| elapsed.as_nanos());
        let target = if entry.path_is_symlink() {
            fs_err::read_link(entry.path())
                .map(|target| target.display().to_string())
                .unwrap_or_default()
        } else {
            String::new()
        };
        lines.push(format!("{relative}\0{}\0{modified}\0{target}", metadata.len()));
        if lines.len() > TREE_FILES_LIMIT {
            return None;
        }
    }
    lines.sort();
    let mut hasher = sha2::Sha256::new();
    for line in &lines {
        hasher.update(line.as_bytes());
        hasher.update(b"\n");
    }
    Some(
        hasher
            .finalize()
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect(),
    )
}

/// The kept result for `key`, if there is one and its module trees are unchanged.
pub(super) fn lookup(key: &str) -> Option<Result<Stack, StackError>> {
    let bytes = fs_err::read(path_of(key)).ok()?;
    let entry: Entry = serde_json::from_slice(&bytes).ok()?;
    if entry.key != key {
        return None;
    }
    let unchanged = entry
        .trees
        .iter()
        .all(|(tree, then)| fingerprint(tree).as_deref() == Some(then.as_str()));
    if !unchanged {
        tracing::debug!("a kept stack's module trees changed: entering it again");
        return None;
    }
    Some(entry.result)
}

/// Keeps `result` for `key`, with the fingerprints of `trees` now. Nothing is kept when a
/// tree cannot be fingerprinted; a failure to write is only logged.
pub(super) fn store(key: &str, trees: &[PathBuf], result: &Result<Stack, StackError>) {
    let mut fingerprints = Vec::new();
    for tree in trees {
        match fingerprint(tree) {
            Some(print) => fingerprints.push((tree.clone(), print)),
            None => return,
        }
    }
    let entry = Entry {
        key: key.to_string(),
        trees: fingerprints,
        result: result.clone(),
    };
    let write = || -> std::io::Result<()> {
        use std::io::Write as _;
        let directory = directory();
        fs_err::create_dir_all(&directory)?;
        let mut temporary = tempfile::Builder::new()
            .prefix(".stack-")
            .tempfile_in(&directory)?;
        temporary.write_all(&serde_json::to_vec(&entry).map_err(std::io::Error::other)?)?;
        temporary.persist(path_of(key)).map_err(|error| error.error)?;
        Ok(())
    };
    if let Err(error) = write() {
        tracing::info!("the stack cache {}: {error}", directory().display());
    }
}

/// The module trees a stack's result depends on: the layout's `modulepath`, then the
/// directories of `module_path` (a `MODULEPATH` value), each once.
pub(super) fn trees(layout_trees: &[PathBuf], module_path: Option<&str>) -> Vec<PathBuf> {
    let mut trees: Vec<PathBuf> = layout_trees.to_vec();
    for directory in module_path
        .unwrap_or_default()
        .split(':')
        .filter(|part| !part.is_empty())
    {
        let directory = PathBuf::from(directory);
        if !trees.contains(&directory) {
            trees.push(directory);
        }
    }
    trees
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tree_changes_its_fingerprint_when_a_file_is_added_or_changed() {
        let tree = tempfile::tempdir().unwrap();
        fs_err::create_dir_all(tree.path().join("hdf5")).unwrap();
        fs_err::write(tree.path().join("hdf5/1.14.lua"), "-- one").unwrap();
        let first = compute_fingerprint(tree.path()).unwrap();
        assert_eq!(compute_fingerprint(tree.path()).unwrap(), first, "stable");
        fs_err::write(tree.path().join("hdf5/1.15.lua"), "-- two").unwrap();
        let second = compute_fingerprint(tree.path()).unwrap();
        assert_ne!(second, first, "a new version");
        fs_err::write(tree.path().join("hdf5/1.14.lua"), "-- one, longer").unwrap();
        assert_ne!(
            compute_fingerprint(tree.path()).unwrap(),
            second,
            "a changed file"
        );
        assert_eq!(
            compute_fingerprint(&tree.path().join("nothing")).as_deref(),
            Some("absent")
        );
    }

    #[test]
    fn trees_are_the_layouts_then_the_module_path_each_once() {
        let layout = vec![PathBuf::from("/site/modules")];
        assert_eq!(
            trees(&layout, Some("/site/modules:/cvmfs/core::/cvmfs/core")),
            [PathBuf::from("/site/modules"), PathBuf::from("/cvmfs/core")]
        );
    }
}
