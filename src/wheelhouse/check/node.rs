//! What one node (a view and a Python) can install, computed once per node for every check:
//! the tree's projects numbered, each wheel's preference for each Python (its tags as pip
//! ranks them, `None` when its tags, its `Requires-Python` or its unreadable METADATA rule it
//! out), and per node every project's versions, newest first, each with the copy an installer
//! takes (best tags, then the earliest directory of the view).

use std::collections::HashMap;

use pep440_rs::{Version, VersionSpecifiers};
use pep508_rs::{MarkerEnvironment, PackageName, Requirement, VersionOrUrl};

use super::metadata::WheelMetadata;
use crate::layout::PythonVersion;
use crate::spec::environment::{admits, linux_environment, prereleases_allowed, python_full_version};
use crate::spec::filename::tag_preference;
use crate::spec::normalize_name;
use crate::wheelhouse::tree::Tree;
use crate::wheelhouse::view::NodeView;

/// The tree with its metadata, projects numbered.
pub(crate) struct Universe<'a> {
    pub tree: &'a Tree,
    pub metadata: &'a [WheelMetadata],
    pub pythons: &'a [PythonVersion],
    /// Normalised names, by project number.
    pub names: Vec<String>,
    pub ids: HashMap<String, usize>,
    /// The project of each wheel.
    pub project_of: Vec<usize>,
    /// Each project's wheels, newest version first (then by file name).
    pub wheels_of: Vec<Vec<usize>>,
    /// `[python][wheel]`: the wheel's tag preference on that Python, when it installs there.
    pub preference: Vec<Vec<Option<u32>>>,
    /// Each wheel's version as a number within its project: 0 for the newest, equal for
    /// equal versions (`1.0` and `1.0.0`), so that nodes compare numbers, not versions.
    pub age: Vec<u32>,
}

impl<'a> Universe<'a> {
    pub fn new(tree: &'a Tree, metadata: &'a [WheelMetadata], pythons: &'a [PythonVersion]) -> Self {
        let mut ids: HashMap<String, usize> = HashMap::new();
        let mut names = Vec::new();
        let mut wheels_of: Vec<Vec<usize>> = Vec::new();
        let mut project_of = Vec::with_capacity(tree.wheels.len());
        for (index, wheel) in tree.wheels.iter().enumerate() {
            let name = wheel.filename.normalized_name();
            let id = *ids.entry(name.clone()).or_insert_with(|| {
                names.push(name);
                wheels_of.push(Vec::new());
                names.len() - 1
            });
            wheels_of[id].push(index);
            project_of.push(id);
        }
        for wheels in &mut wheels_of {
            wheels.sort_by(|&a, &b| {
                let (a, b) = (&tree.wheels[a], &tree.wheels[b]);
                b.filename
                    .version()
                    .cmp(a.filename.version())
                    .then_with(|| a.file_name.cmp(&b.file_name))
            });
        }
        let mut age = vec![0u32; tree.wheels.len()];
        for wheels in &wheels_of {
            let mut current = 0;
            for pair in wheels.windows(2) {
                if tree.wheels[pair[0]].filename.version() != tree.wheels[pair[1]].filename.version() {
                    current += 1;
                }
                age[pair[1]] = current;
            }
        }
        let preference = pythons
            .iter()
            .map(|python| {
                let full = python_full_version(python.major, python.minor);
                tree.wheels
                    .iter()
                    .zip(metadata)
                    .map(|(wheel, metadata)| {
                        let admitted = metadata.problem.is_none()
                            && metadata
                                .requires_python
                                .as_ref()
                                .is_none_or(|specifiers| specifiers.contains(&full));
                        admitted
                            .then(|| tag_preference(&wheel.filename.tags, python.major, python.minor))
                            .flatten()
                    })
                    .collect()
            })
            .collect();
        Universe {
            tree,
            metadata,
            pythons,
            names,
            ids,
            project_of,
            wheels_of,
            preference,
            age,
        }
    }

    /// The project number of a name (any spelling), if the tree has the project.
    pub fn id_of(&self, name: &str) -> Option<usize> {
        self.ids.get(&normalize_name(name)).copied()
    }

    /// The project number of a requirement's name (already normalised), if the tree has it.
    pub fn id_of_package(&self, name: &PackageName) -> Option<usize> {
        self.ids.get(name.as_ref()).copied()
    }

    /// The directory of a wheel relative to the root.
    pub fn dir_of(&self, wheel: usize) -> &str {
        &self.tree.dirs[self.tree.wheels[wheel].dir].relative
    }

    /// `generic/six-1.17.0-py2.py3-none-any.whl`.
    pub fn relative(&self, wheel: usize) -> String {
        self.tree.relative_path(&self.tree.wheels[wheel])
    }

    pub fn version_of(&self, wheel: usize) -> &Version {
        self.tree.wheels[wheel].filename.version()
    }
}

/// One version of a project as a node has it.
#[derive(Debug, Clone)]
pub(crate) struct Release {
    pub version: Version,
    /// Every copy the node can install, the one it takes first: best tags, then the earliest
    /// directory of the view, then the file name.
    pub copies: Vec<usize>,
}

impl Release {
    /// The copy an installer takes.
    pub fn pick(&self) -> usize {
        self.copies[0]
    }
}

/// What a node (a view, a Python) can install.
pub(crate) struct Offer<'v> {
    pub view: &'v NodeView,
    pub python: PythonVersion,
    pub python_index: usize,
    pub environment: MarkerEnvironment,
    /// By project number: its versions, newest first.
    pub releases: Vec<Vec<Release>>,
    /// By tree directory: its place in the view's order, if the view searches it.
    pub rank: Vec<Option<usize>>,
}

impl<'v> Offer<'v> {
    pub fn new(universe: &Universe<'_>, view: &'v NodeView, python_index: usize) -> Self {
        let python = universe.pythons[python_index];
        let rank: Vec<Option<usize>> = universe
            .tree
            .dirs
            .iter()
            .map(|dir| view.dirs.iter().position(|relative| *relative == dir.relative))
            .collect();
        let preference = &universe.preference[python_index];
        let releases = universe
            .wheels_of
            .iter()
            .map(|wheels| {
                // The project's wheels come newest first: group them by version, and order
                // the copies of one version as an installer prefers them.
                let mut releases: Vec<Release> = Vec::new();
                let mut copies: Vec<(u32, usize, usize)> = Vec::new();
                let flush = |copies: &mut Vec<(u32, usize, usize)>, releases: &mut Vec<Release>| {
                    if let Some(&(_, _, first)) = copies.first() {
                        copies.sort_unstable();
                        releases.push(Release {
                            version: universe.version_of(first).clone(),
                            copies: copies.iter().map(|&(_, _, wheel)| wheel).collect(),
                        });
                        copies.clear();
                    }
                };
                for &wheel in wheels {
                    let Some(dir_rank) = rank[universe.tree.wheels[wheel].dir] else {
                        continue;
                    };
                    let Some(tags) = preference[wheel] else {
                        continue;
                    };
                    if copies
                        .first()
                        .is_some_and(|&(_, _, first)| universe.age[first] != universe.age[wheel])
                    {
                        flush(&mut copies, &mut releases);
                    }
                    copies.push((tags, dir_rank, wheel));
                }
                flush(&mut copies, &mut releases);
                releases
            })
            .collect();
        Offer {
            view,
            python,
            python_index,
            environment: linux_environment(python.major, python.minor),
            releases,
            rank,
        }
    }

    /// The versions of `project` the node can install that `requirement` admits, newest
    /// first (pre-releases only as [`prereleases_allowed`] says).
    pub fn matching<'s>(
        &'s self,
        project: usize,
        specifiers: &VersionSpecifiers,
    ) -> impl Iterator<Item = &'s Release> {
        let releases = &self.releases[project];
        let prereleases = prereleases_allowed(specifiers, releases.iter().map(|release| &release.version));
        releases
            .iter()
            .filter(move |release| admits(specifiers, &release.version, prereleases))
    }
}

/// No specifier: any version.
static ANY_VERSION: std::sync::LazyLock<VersionSpecifiers> =
    std::sync::LazyLock::new(VersionSpecifiers::empty);

/// The version specifiers of a requirement (empty: any version); `None` for a URL.
pub(crate) fn specifiers_of(requirement: &Requirement) -> Option<&VersionSpecifiers> {
    match &requirement.version_or_url {
        None => Some(&ANY_VERSION),
        Some(VersionOrUrl::VersionSpecifier(specifiers)) => Some(specifiers),
        Some(VersionOrUrl::Url(_)) => None,
    }
}
