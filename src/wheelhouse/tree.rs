//! The wheelhouse tree read once: its directories (`generic`, `<layer>/<arch>`) and the wheels
//! in each, indexed by project name, so that no decision ever searches the disk again.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::layout::Layout;
use crate::spec::filename::WheelFilename;

/// Prefix of the temporary files cp-wheels writes next to their destination.
pub const TEMP_PREFIX: &str = ".wheelwright-";
/// Suffix of those temporary files.
pub const TEMP_SUFFIX: &str = ".tmp";

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
    /// is an empty one; an unreadable one is an error naming it.
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
