//! What a run may take away from the nodes: the projects each view of the existing index
//! lists, compared with what the run would list, checked before anything is written. A view
//! that would lose more than a share of its projects (default 10 %, rounded up, so that one
//! project may always leave a view that keeps others), or all of them, stops the run unless
//! the user allows it: a wrong root or layout must not publish an empty index.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::swap::{GENERATION_PREFIX, SIMPLE_DIR};
use super::{FILES_DIR, IndexError};
use crate::layout::LayoutOrigin;
use crate::wheelhouse::view::NodeView;

/// The share of a view's projects a run may remove without `--allow-shrink`, by default.
pub const DEFAULT_MAX_SHRINK: u8 = 10;

/// How much a run may shrink the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShrinkPolicy {
    /// The largest share of a view's projects a run may remove, in percent (rounded up to
    /// whole projects).
    pub max_percent: u8,
    /// Any shrinking is allowed (`--allow-shrink`).
    pub allow: bool,
}

impl Default for ShrinkPolicy {
    fn default() -> Self {
        ShrinkPolicy {
            max_percent: DEFAULT_MAX_SHRINK,
            allow: false,
        }
    }
}

impl ShrinkPolicy {
    /// Whether a view listing `before` projects may lose `removed` of them.
    pub fn permits(&self, before: usize, removed: usize) -> bool {
        if self.allow || removed == 0 {
            return true;
        }
        if removed >= before {
            return false;
        }
        removed <= (before * usize::from(self.max_percent)).div_ceil(100)
    }
}

/// The projects one view lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    pub layer: String,
    pub arch: String,
    pub projects: BTreeSet<String>,
}

impl Listing {
    /// The listing of `view` with `projects`.
    pub fn new(view: &NodeView, projects: impl IntoIterator<Item = String>) -> Self {
        Listing {
            layer: view.layer.clone(),
            arch: view.arch.clone(),
            projects: projects.into_iter().collect(),
        }
    }
}

/// A view that would lose too much.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shrink {
    pub layer: String,
    pub arch: String,
    pub before: usize,
    pub after: usize,
    /// Some of the projects that would go (the first few, sorted).
    pub removed: Vec<String>,
    pub removed_count: usize,
    /// The view is no longer in the layout: all its pages would go.
    pub view_gone: bool,
}

impl std::fmt::Display for Shrink {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            formatter,
            "{}/{}: {} -> {} projects",
            self.layer, self.arch, self.before, self.after
        )?;
        if self.view_gone {
            return write!(formatter, " (the view is no longer in the layout)");
        }
        write!(
            formatter,
            " ({} removed: {}",
            self.removed_count,
            self.removed.join(", ")
        )?;
        if self.removed_count > self.removed.len() {
            write!(formatter, ", ...")?;
        }
        write!(formatter, ")")
    }
}

/// How many of the removed projects a message names.
const NAMED: usize = 5;

/// The projects the index in `output` lists for a view: the project directories of its
/// `simple` pages (none when the view has no pages).
pub fn listed_projects(output: &Path, layer: &str, arch: &str) -> std::io::Result<BTreeSet<String>> {
    let simple = output.join(layer).join(arch).join(SIMPLE_DIR);
    let mut projects = BTreeSet::new();
    let entries = match fs_err::read_dir(&simple) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(projects),
        Err(error) => return Err(error),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with('.') && entry.path().is_dir() {
            projects.insert(name);
        }
    }
    Ok(projects)
}

/// What the index in `output` lists for each view of `views` (`(layer, arch)`).
pub fn listings(output: &Path, views: &[(String, String)]) -> std::io::Result<Vec<Listing>> {
    views
        .iter()
        .map(|(layer, arch)| {
            Ok(Listing {
                layer: layer.clone(),
                arch: arch.clone(),
                projects: listed_projects(output, layer, arch)?,
            })
        })
        .collect()
}

/// Every view the index in `output` has pages for (`<layer>/<arch>/simple`), or had: an
/// `<arch>` directory holding only generations, left by a run killed while removing the view.
pub fn existing_views(output: &Path) -> std::io::Result<Vec<(String, String)>> {
    let mut views = Vec::new();
    let layers = match fs_err::read_dir(output) {
        Ok(layers) => layers,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(views),
        Err(error) => return Err(error),
    };
    for layer in layers {
        let layer = layer?;
        let layer_name = layer.file_name().to_string_lossy().into_owned();
        if !layer.file_type()?.is_dir() || layer_name.starts_with('.') || layer_name == FILES_DIR {
            continue;
        }
        for arch in fs_err::read_dir(layer.path())? {
            let arch = arch?;
            let arch_name = arch.file_name().to_string_lossy().into_owned();
            if arch_name.starts_with('.') || !arch.file_type()?.is_dir() {
                continue;
            }
            let has_pages = arch.path().join(SIMPLE_DIR).is_dir()
                || fs_err::read_dir(arch.path())?
                    .flatten()
                    .any(|entry| entry.file_name().to_string_lossy().starts_with(GENERATION_PREFIX));
            if has_pages {
                views.push((layer_name.clone(), arch_name));
            }
        }
    }
    views.sort();
    Ok(views)
}

/// The views of `before` (the existing index) that would shrink more than `policy` permits
/// when they list `after` (a view of `before` missing from `after` is one the run removes).
pub fn shrinks(before: &[Listing], after: &[Listing], policy: ShrinkPolicy) -> Vec<Shrink> {
    let mut found = Vec::new();
    for old in before {
        let new = after
            .iter()
            .find(|new| new.layer == old.layer && new.arch == old.arch);
        let empty = BTreeSet::new();
        let new_projects = new.map_or(&empty, |new| &new.projects);
        let removed: Vec<&String> = old.projects.difference(new_projects).collect();
        if policy.permits(old.projects.len(), removed.len()) {
            continue;
        }
        found.push(Shrink {
            layer: old.layer.clone(),
            arch: old.arch.clone(),
            before: old.projects.len(),
            after: new_projects.len(),
            removed: removed.iter().take(NAMED).map(|name| name.to_string()).collect(),
            removed_count: removed.len(),
            view_gone: new.is_none(),
        });
    }
    found
}

/// Stops the run when the tree has no wheel at all while the index lists projects, or when a
/// view would shrink more than `policy` permits.
pub fn check(
    output: &Path,
    (root, origin): (&Path, &LayoutOrigin),
    tree_is_empty: bool,
    before: &[Listing],
    after: &[Listing],
    policy: ShrinkPolicy,
) -> Result<(), IndexError> {
    if policy.allow {
        return Ok(());
    }
    let listed: BTreeSet<&String> = before.iter().flat_map(|view| &view.projects).collect();
    if tree_is_empty && !listed.is_empty() {
        return Err(IndexError::NoWheels {
            root: root.to_path_buf(),
            origin: origin.clone(),
            output: output.to_path_buf(),
            listed: listed.len(),
        });
    }
    let views = shrinks(before, after, policy);
    if views.is_empty() {
        return Ok(());
    }
    Err(IndexError::Shrink {
        output: PathBuf::from(output),
        max_percent: policy.max_percent,
        views,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing(arch: &str, projects: &[&str]) -> Listing {
        Listing {
            layer: "gentoo2023".to_string(),
            arch: arch.to_string(),
            projects: projects.iter().map(|name| name.to_string()).collect(),
        }
    }

    #[test]
    fn the_share_is_rounded_up_and_emptying_is_never_permitted() {
        let policy = ShrinkPolicy::default();
        assert!(
            policy.permits(6, 1),
            "one of six: rounded up, 10 % is one project"
        );
        assert!(!policy.permits(6, 2));
        assert!(policy.permits(1000, 100));
        assert!(!policy.permits(1000, 101));
        assert!(!policy.permits(1, 1), "a view emptied");
        assert!(policy.permits(0, 0));
        let strict = ShrinkPolicy {
            max_percent: 0,
            allow: false,
        };
        assert!(!strict.permits(1000, 1));
        let lax = ShrinkPolicy {
            max_percent: 100,
            allow: false,
        };
        assert!(lax.permits(10, 9));
        assert!(!lax.permits(10, 10));
        let allowed = ShrinkPolicy {
            max_percent: 0,
            allow: true,
        };
        assert!(allowed.permits(10, 10));
    }

    #[test]
    fn existing_views_and_their_projects_are_read_from_the_output() {
        let directory = tempfile::tempdir().unwrap();
        let output = directory.path();
        for path in [
            "gentoo2023/x86-64-v3/simple/numpy",
            "gentoo2023/x86-64-v3/simple/.hidden",
            "gentoo2023/avx/.simple.killed",
            "gentoo2023/.wheelwright-x.tmp/simple",
            "files/generic/simple",
        ] {
            fs_err::create_dir_all(output.join(path)).unwrap();
        }
        fs_err::write(output.join("gentoo2023/x86-64-v3/simple/index.html"), "").unwrap();
        assert_eq!(
            existing_views(output).unwrap(),
            [
                ("gentoo2023".to_string(), "avx".to_string()),
                ("gentoo2023".to_string(), "x86-64-v3".to_string())
            ]
        );
        let listed = listed_projects(output, "gentoo2023", "x86-64-v3").unwrap();
        assert_eq!(listed.into_iter().collect::<Vec<_>>(), ["numpy"]);
        assert!(listed_projects(output, "gentoo2023", "avx").unwrap().is_empty());
        assert!(existing_views(&output.join("absent")).unwrap().is_empty());
    }

    #[test]
    fn shrinking_views_are_named_with_their_counts() {
        let before = [
            listing("generic", &["a", "b", "c", "d", "e", "f", "g"]),
            listing("x86-64-v3", &["a", "b"]),
            listing("x86-64-v4", &["a"]),
        ];
        // generic loses 6 of 7 (and gains one), v3 is unchanged, v4 leaves the layout.
        let after = [listing("generic", &["a", "z"]), listing("x86-64-v3", &["a", "b"])];
        let found = shrinks(&before, &after, ShrinkPolicy::default());
        let text: Vec<String> = found.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                "gentoo2023/generic: 7 -> 2 projects (6 removed: b, c, d, e, f, ...)",
                "gentoo2023/x86-64-v4: 1 -> 0 projects (the view is no longer in the layout)"
            ]
        );
        let error = check(
            Path::new("/idx"),
            (Path::new("/wh"), &LayoutOrigin::Embedded),
            false,
            &before,
            &after,
            ShrinkPolicy::default(),
        )
        .unwrap_err();
        assert_eq!(
            crate::hint::Hint::hint(&error).as_deref(),
            Some("pass --allow-shrink if the wheelhouse really lost them")
        );
        let error = error.to_string();
        assert!(error.contains("gentoo2023/generic: 7 -> 2 projects"), "{error}");
        assert!(error.ends_with("nothing was changed"), "{error}");
        let error = check(
            Path::new("/idx"),
            (Path::new("/wh"), &LayoutOrigin::Embedded),
            true,
            &before,
            &[],
            ShrinkPolicy::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.starts_with("the wheelhouse root `/wh` holds no wheel"),
            "{error}"
        );
        let allowed = ShrinkPolicy {
            allow: true,
            ..ShrinkPolicy::default()
        };
        check(
            Path::new("/idx"),
            (Path::new("/wh"), &LayoutOrigin::Embedded),
            true,
            &before,
            &[],
            allowed,
        )
        .unwrap();
    }
}
