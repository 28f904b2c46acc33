//! The wheelhouse tree read once: its directories (`generic`, `<layer>/<arch>`) and the wheels
//! in each, indexed by project name, so that no decision ever searches the disk again; and
//! [`check_root`], the check every command that shows the tree to nodes makes first (a root
//! that does not exist is a misconfiguration, never an empty wheelhouse).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::layout::{Layout, LayoutOrigin};
use crate::spec::filename::WheelFilename;

/// Prefix of the temporary files cp-wheels writes next to their destination.
pub const TEMP_PREFIX: &str = ".wheelwright-";
/// Suffix of those temporary files.
pub const TEMP_SUFFIX: &str = ".tmp";

/// A wheelhouse root that cannot be what the layout says it is. Commands that show the tree
/// to nodes (`index`, `avail`, `pip-config`) stop on it rather than publish an empty view.
#[derive(Debug, thiserror::Error)]
pub enum RootError {
    #[error(
        "the wheelhouse root `{}` does not exist; it is the root of {origin}",
        root.display()
    )]
    Missing { root: PathBuf, origin: LayoutOrigin },
    #[error(
        "the wheelhouse root `{}` is not a directory; it is the root of {origin}",
        root.display()
    )]
    NotADirectory { root: PathBuf, origin: LayoutOrigin },
    #[error(
        "the wheelhouse root `{}` is not a wheelhouse: none of the directories the layout defines exists in it ({}); it is the root of {origin}",
        root.display(),
        dirs.join(", ")
    )]
    NotAWheelhouse {
        root: PathBuf,
        origin: LayoutOrigin,
        /// The directories looked for, relative to the root.
        dirs: Vec<String>,
    },
}

/// What to check when the root is wrong: the embedded layout's root is a local directory, so
/// a forgotten `--layout` is the usual cause.
fn root_hint(origin: &LayoutOrigin) -> String {
    match origin {
        LayoutOrigin::Embedded => {
            "name the site's layout with --layout FILE or $WHEELWRIGHT_LAYOUT".to_string()
        }
        LayoutOrigin::Flag(path) | LayoutOrigin::Environment(path) | LayoutOrigin::File(path) => format!(
            "check `root` in {} and that the wheelhouse is mounted on this machine",
            path.display()
        ),
        LayoutOrigin::Named(name) => {
            format!("check `root` in {name} and that the wheelhouse is mounted on this machine")
        }
    }
}

/// The root as messages show it: absolute, so that a relative root says where it was looked
/// for.
fn shown_root(root: &Path) -> PathBuf {
    std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf())
}

/// Checks that the layout's root exists and is a directory. Commands that write into the
/// tree (cp-wheels creates the root on first placement) do not call this.
pub fn check_root_exists(layout: &Layout) -> Result<(), RootError> {
    match fs_err::metadata(&layout.root) {
        Ok(metadata) if metadata.is_dir() => Ok(()),
        Ok(_) => Err(RootError::NotADirectory {
            root: shown_root(&layout.root),
            origin: layout.origin.clone(),
        }),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Err(RootError::Missing {
            root: shown_root(&layout.root),
            origin: layout.origin.clone(),
        }),
        // Unreadable for another reason: reading the tree names the error.
        Err(_) => Ok(()),
    }
}

/// Checks that `tree` (read from `layout`) is a wheelhouse: its root exists and holds at
/// least one of the directories the layout defines.
pub fn check_root(layout: &Layout, tree: &Tree) -> Result<(), RootError> {
    check_root_exists(layout)?;
    if tree.dirs.iter().any(|dir| dir.exists) {
        return Ok(());
    }
    Err(not_a_wheelhouse(layout, &tree.dirs))
}

/// [`check_root`] without reading the tree: one `stat` per directory of the layout.
pub fn check_wheelhouse(layout: &Layout) -> Result<(), RootError> {
    check_root_exists(layout)?;
    let dirs = layout_dirs(layout);
    if dirs.iter().any(|dir| layout.root.join(&dir.relative).is_dir()) {
        return Ok(());
    }
    Err(not_a_wheelhouse(layout, &dirs))
}

fn not_a_wheelhouse(layout: &Layout, dirs: &[TreeDir]) -> RootError {
    RootError::NotAWheelhouse {
        root: shown_root(&layout.root),
        origin: layout.origin.clone(),
        dirs: dirs.iter().map(|dir| dir.relative.clone()).collect(),
    }
}

/// One directory of the tree that the layout defines.
#[derive(Debug, Clone, Serialize)]
pub struct TreeDir {
    /// `generic` or `<layer>/<arch>`.
    pub relative: String,
    /// None for the top-level `generic` directory.
    pub layer: Option<String>,
    /// The arch (`generic` for both generic directories).
    pub arch: String,
    /// The layer is deprecated (read-only: classified against, never written).
    pub deprecated: bool,
    /// The directory exists on disk.
    pub exists: bool,
}

impl TreeDir {
    /// Holds arch-specific wheels (not one of the two kinds of generic directory).
    pub fn is_arch_specific(&self) -> bool {
        self.arch != "generic"
    }
}

/// One wheel found in the tree.
#[derive(Debug, Clone)]
pub struct TreeWheel {
    /// Index into [`Tree::dirs`].
    pub dir: usize,
    pub file_name: String,
    pub filename: WheelFilename,
}

/// The tree as read once.
#[derive(Debug, Clone)]
pub struct Tree {
    pub root: PathBuf,
    pub dirs: Vec<TreeDir>,
    pub wheels: Vec<TreeWheel>,
    /// `.whl` files whose names are not valid wheel filenames (reported, never touched).
    pub unparsable: Vec<PathBuf>,
    /// Temporary files a killed cp-wheels left behind.
    pub stale_temps: Vec<PathBuf>,
    by_project: HashMap<String, Vec<usize>>,
    by_location: HashMap<(usize, String), usize>,
}

/// The tree's directories in the layout's order: `generic`, then every layer's arch
/// directories (deprecated layers included: their wheels are still served).
pub fn layout_dirs(layout: &Layout) -> Vec<TreeDir> {
    let mut dirs = vec![TreeDir {
        relative: "generic".to_string(),
        layer: None,
        arch: "generic".to_string(),
        deprecated: false,
        exists: false,
    }];
    for layer in layout.layers.values() {
        for arch in &layer.archs {
            dirs.push(TreeDir {
                relative: format!("{}/{arch}", layer.name),
                layer: Some(layer.name.clone()),
                arch: arch.clone(),
                deprecated: layer.deprecated,
                exists: false,
            });
        }
    }
    dirs
}

impl Tree {
    /// Reads every directory the layout defines (one `read_dir` each). A missing directory
    /// is an empty one; an unreadable one is an error naming it. A missing root reads as an
    /// empty tree: commands that show the tree to nodes call [`check_root`] on it.
    pub fn read(layout: &Layout) -> Result<Tree, std::io::Error> {
        let mut tree = Tree {
            root: layout.root.clone(),
            dirs: layout_dirs(layout),
            wheels: Vec::new(),
            unparsable: Vec::new(),
            stale_temps: Vec::new(),
            by_project: HashMap::new(),
            by_location: HashMap::new(),
        };
        for index in 0..tree.dirs.len() {
            let path = tree.root.join(&tree.dirs[index].relative);
            let entries = match fs_err::read_dir(&path) {
                Ok(entries) => entries,
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
                Err(error) => return Err(error),
            };
            tree.dirs[index].exists = true;
            for entry in entries {
                let entry = entry?;
                let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                    continue;
                };
                if name.starts_with(TEMP_PREFIX) && name.ends_with(TEMP_SUFFIX) {
                    tree.stale_temps.push(entry.path());
                    continue;
                }
                if name.starts_with('.') || !name.ends_with(".whl") {
                    continue;
                }
                let file_type = entry.file_type()?;
                if file_type.is_dir() {
                    continue;
                }
                let Ok(filename) = name.parse::<WheelFilename>() else {
                    tree.unparsable.push(entry.path());
                    continue;
                };
                // Names only: no stat per wheel (50,000 of them cost more than the listing).
                tree.insert(TreeWheel {
                    dir: index,
                    file_name: name,
                    filename,
                });
            }
        }
        Ok(tree)
    }

    /// Adds a wheel to the index (after placing it, or when reading).
    pub fn insert(&mut self, wheel: TreeWheel) {
        let key = (wheel.dir, wheel.file_name.clone());
        if let Some(&existing) = self.by_location.get(&key) {
            self.wheels[existing] = wheel;
            return;
        }
        let index = self.wheels.len();
        self.by_project
            .entry(wheel.filename.normalized_name())
            .or_default()
            .push(index);
        self.by_location.insert(key, index);
        self.wheels.push(wheel);
    }

    /// The index of the directory `relative` (`generic` or `<layer>/<arch>`).
    pub fn dir_index(&self, relative: &str) -> Option<usize> {
        self.dirs.iter().position(|dir| dir.relative == relative)
    }

    /// Every wheel of a project (by PEP 503 normalised name), in any directory.
    pub fn project(&self, normalized_name: &str) -> impl Iterator<Item = &TreeWheel> {
        self.by_project
            .get(normalized_name)
            .into_iter()
            .flatten()
            .map(|&index| &self.wheels[index])
    }

    /// The normalised names of every project in the tree, sorted.
    pub fn projects(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.by_project.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }

    /// The wheel called `file_name` in directory `dir`, if there is one.
    pub fn find(&self, dir: usize, file_name: &str) -> Option<&TreeWheel> {
        self.by_location
            .get(&(dir, file_name.to_string()))
            .map(|&index| &self.wheels[index])
    }

    /// Where a wheel of the tree is on disk.
    pub fn path_of(&self, wheel: &TreeWheel) -> PathBuf {
        self.root
            .join(&self.dirs[wheel.dir].relative)
            .join(&wheel.file_name)
    }

    /// The directory `dir` relative to the root, for messages.
    pub fn relative_path(&self, wheel: &TreeWheel) -> String {
        format!("{}/{}", self.dirs[wheel.dir].relative, wheel.file_name)
    }

    /// The absolute path of directory `dir`.
    pub fn dir_path(&self, dir: usize) -> PathBuf {
        self.root.join(&self.dirs[dir].relative)
    }
}

/// Whether `path` is one of cp-wheels' temporary files.
pub fn is_temp_file(path: &Path) -> bool {
    path.file_name()
        .and_then(|name| name.to_str())
        .is_some_and(|name| name.starts_with(TEMP_PREFIX) && name.ends_with(TEMP_SUFFIX))
}

impl crate::hint::Hint for RootError {
    fn hint(&self) -> Option<String> {
        match self {
            RootError::Missing { origin, .. }
            | RootError::NotADirectory { origin, .. }
            | RootError::NotAWheelhouse { origin, .. } => Some(root_hint(origin)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout_with_root(root: &Path) -> Layout {
        let text = crate::layout::EMBEDDED_LAYOUT.replacen(
            "root = \"wheelhouse\"",
            &format!("root = {:?}", root.display().to_string()),
            1,
        );
        Layout::parse(&text, "site.toml", Path::new("/")).unwrap()
    }

    #[test]
    fn a_missing_root_is_an_error_naming_it_and_the_layout() {
        let directory = tempfile::tempdir().unwrap();
        let root = directory.path().join("absent");
        let layout = layout_with_root(&root);
        let tree = Tree::read(&layout).unwrap();
        assert!(tree.wheels.is_empty());
        let error = check_root(&layout, &tree).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "the wheelhouse root `{}` does not exist; it is the root of the layout site.toml",
                root.display()
            )
        );
        assert_eq!(
            crate::hint::Hint::hint(&error).as_deref(),
            Some("check `root` in site.toml and that the wheelhouse is mounted on this machine")
        );
        let mut embedded = layout.clone();
        embedded.origin = LayoutOrigin::Embedded;
        let error = check_root(&embedded, &tree).unwrap_err();
        assert!(
            error.to_string().ends_with(
                "; it is the root of the embedded layout (neither --layout nor $WHEELWRIGHT_LAYOUT was given)"
            ),
            "{error}"
        );
        assert_eq!(
            crate::hint::Hint::hint(&error).as_deref(),
            Some("name the site's layout with --layout FILE or $WHEELWRIGHT_LAYOUT")
        );
    }

    #[test]
    fn a_root_without_the_layout_directories_is_not_a_wheelhouse() {
        let directory = tempfile::tempdir().unwrap();
        let layout = layout_with_root(directory.path());
        fs_err::create_dir(directory.path().join("unrelated")).unwrap();
        let tree = Tree::read(&layout).unwrap();
        let error = check_root(&layout, &tree).unwrap_err().to_string();
        assert!(
            error.contains(
                "is not a wheelhouse: none of the directories the layout defines exists in it (generic, "
            ),
            "{error}"
        );
        assert_eq!(check_wheelhouse(&layout).unwrap_err().to_string(), error);
        fs_err::create_dir_all(directory.path().join("gentoo2023/x86-64-v3")).unwrap();
        let tree = Tree::read(&layout).unwrap();
        check_root(&layout, &tree).unwrap();
        check_wheelhouse(&layout).unwrap();
        let file = directory.path().join("gentoo2023/x86-64-v3/file");
        fs_err::write(&file, b"").unwrap();
        let error = check_root_exists(&layout_with_root(&file))
            .unwrap_err()
            .to_string();
        assert!(error.contains("is not a directory"), "{error}");
    }
}
