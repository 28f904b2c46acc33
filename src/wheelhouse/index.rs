//! `wheelwright index`: a static simple index per node view, written outside the tree (which
//! may be read-only): `DIR/files/<dir>/<wheel>` symlinks into the tree with their
//! `.metadata` files, `DIR/<layer>/<arch>/simple/...` pages, and a cache of hashes (`cache`)
//! so that a re-run hashes only the wheels that changed.
//!
//! A run first checks what it would take from the nodes ([`guard`]: a root that is missing or
//! not a wheelhouse, a view that would lose too many projects) and stops before writing
//! anything; then it writes the links and metadata files (each through a temporary file and
//! a rename), replaces each changed view's pages at once ([`swap`]), and only then removes
//! the files of wheels that left the tree.

mod cache;
pub mod guard;
pub mod swap;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::path::{Component, Path, PathBuf};

use serde::Serialize;

use crate::layout::{Layout, LayoutOrigin};
use crate::wheelhouse::pipconf::percent_encode_path;
use crate::wheelhouse::simple::{self, IndexFile};
use crate::wheelhouse::tree::{RootError, TEMP_PREFIX, TEMP_SUFFIX, Tree, TreeWheel, check_root};
use crate::wheelhouse::view::NodeView;
use cache::{Cache, CacheEntry, hash_wheel, load_cache, save_cache, stat};
use guard::{Listing, Shrink, ShrinkPolicy};

/// The cache file in the output directory.
pub const CACHE_FILE: &str = ".wheelwright-index-cache.json";
/// The lock file in the output directory: one run at a time writes an index.
pub const LOCK_FILE: &str = ".wheelwright-index.lock";
/// The directory of the output that holds the wheel links and metadata files.
pub const FILES_DIR: &str = "files";

/// Why the index cannot be written.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(
        "the output `{output}` is inside the wheelhouse tree `{root}`: the index is written next to the tree, never into it"
    )]
    InsideTree { output: PathBuf, root: PathBuf },
    #[error("cannot read the wheelhouse tree `{root}`: {error}")]
    Tree { root: PathBuf, error: std::io::Error },
    #[error(transparent)]
    Root(#[from] RootError),
    #[error(
        "the wheelhouse root `{}` holds no wheel, but the index in `{}` lists {listed} projects; it is the root of {origin}; nothing was changed",
        root.display(),
        output.display()
    )]
    NoWheels {
        root: PathBuf,
        origin: LayoutOrigin,
        output: PathBuf,
        /// Projects the existing index lists, over all its views.
        listed: usize,
    },
    #[error(
        "this run would take too many projects from the index in `{}` (a run may remove at most {max_percent} % of a view's projects, rounded up, and never all of them): {}; nothing was changed",
        output.display(),
        views.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
    )]
    Shrink {
        output: PathBuf,
        max_percent: u8,
        views: Vec<Shrink>,
    },
}

/// What to index, and where.
#[derive(Debug, Clone)]
pub struct IndexOptions {
    pub output: PathBuf,
    pub views: Vec<NodeView>,
    /// The URL the output is served at; links are relative without it.
    pub base_url: Option<String>,
    /// Threads hashing wheels.
    pub jobs: usize,
    /// `views` is every view of the layout: pages of other views (a layer that became
    /// deprecated, an arch that left the layout) are removed.
    pub prune_views: bool,
    /// How many projects a run may take from a view of the existing index.
    pub shrink: ShrinkPolicy,
}

/// One view's pages.
#[derive(Debug, Clone, Serialize)]
pub struct ViewSummary {
    pub layer: String,
    pub arch: String,
    /// The index URL to give pip or uv (`--index-url`).
    pub url: String,
    pub projects: usize,
    pub wheels: usize,
}

/// What a run did.
#[derive(Debug, Clone, Serialize)]
pub struct IndexSummary {
    pub output: PathBuf,
    pub views: Vec<ViewSummary>,
    /// Projects in at least one view.
    pub projects: usize,
    /// Wheels linked from at least one view.
    pub wheels: usize,
    /// Wheels hashed this run (new or changed).
    pub hashed: usize,
    /// Wheels whose hashes came from the cache.
    pub cached: usize,
    pub pages_written: usize,
    pub pages_unchanged: usize,
    /// Pages, links and metadata files removed (their wheel or project left the tree).
    pub removed: usize,
    /// Wheels left out or indexed without metadata, with the reason.
    pub problems: Vec<String>,
}

/// The path from directory `from` to `to`, both absolute and free of `..`.
pub fn relative_path(from: &Path, to: &Path) -> PathBuf {
    let from: Vec<Component> = from.components().collect();
    let to: Vec<Component> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut path = PathBuf::new();
    for _ in common..from.len() {
        path.push("..");
    }
    for component in &to[common..] {
        path.push(component);
    }
    path
}

/// Writes `bytes` to `path` through a temporary file and a rename, unless the file already
/// holds them. Returns whether it wrote.
fn write_if_changed(path: &Path, bytes: &[u8]) -> std::io::Result<bool> {
    if fs_err::read(path).is_ok_and(|existing| existing == bytes) {
        return Ok(false);
    }
    let directory = path.parent().unwrap_or(Path::new("."));
    let mut temp = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .suffix(TEMP_SUFFIX)
        .tempfile_in(directory)
        .map_err(|error| {
            std::io::Error::new(
                error.kind(),
                format!(
                    "cannot create a temporary file in `{}`: {error}",
                    directory.display()
                ),
            )
        })?;
    temp.write_all(bytes)?;
    // Pages are served to everyone: not the 0600 of a temporary file.
    use std::os::unix::fs::PermissionsExt as _;
    temp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o644))?;
    temp.persist(path).map_err(|error| {
        std::io::Error::new(
            error.error.kind(),
            format!(
                "cannot rename a temporary file to `{}`: {}",
                path.display(),
                error.error
            ),
        )
    })?;
    Ok(true)
}

/// Makes `link` a symlink to `target`, replacing whatever is there through a rename.
/// Returns whether it changed anything.
fn symlink_if_changed(link: &Path, target: &Path) -> std::io::Result<bool> {
    if fs_err::read_link(link).is_ok_and(|existing| existing == target) {
        return Ok(false);
    }
    let directory = link.parent().unwrap_or(Path::new("."));
    let file_name = link.file_name().and_then(|name| name.to_str()).unwrap_or("link");
    let temp = directory.join(format!("{TEMP_PREFIX}{file_name}{TEMP_SUFFIX}"));
    let _ = fs_err::remove_file(&temp);
    fs_err::os::unix::fs::symlink(target, &temp)?;
    fs_err::rename(&temp, link)?;
    Ok(true)
}

/// `path` made absolute with its existing part canonicalised (it need not exist yet).
fn resolved(path: &Path) -> std::io::Result<PathBuf> {
    let path = std::path::absolute(path)?;
    let mut existing = path.as_path();
    let mut rest = Vec::new();
    loop {
        if let Ok(canonical) = fs_err::canonicalize(existing) {
            return Ok(rest.iter().rev().fold(canonical, |path, part| path.join(part)));
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                existing = parent;
            }
            _ => return Ok(path),
        }
    }
}

/// The output directory as an absolute path, created; refused at the tree's root or inside
/// one of its directories (checked before anything is created).
fn prepare_output(output: &Path, tree: &Tree, root: &Path) -> Result<PathBuf, IndexError> {
    let output = resolved(output)?;
    let inside = output == root
        || tree
            .dirs
            .iter()
            .any(|dir| output.starts_with(root.join(&dir.relative)));
    if inside {
        return Err(IndexError::InsideTree {
            output,
            root: root.to_path_buf(),
        });
    }
    fs_err::create_dir_all(&output)?;
    Ok(fs_err::canonicalize(&output)?)
}

/// The wheels of a view by project: each file name once, from the earliest directory.
fn view_projects<'tree>(tree: &'tree Tree, view: &NodeView) -> BTreeMap<String, Vec<&'tree TreeWheel>> {
    let dirs: Vec<usize> = view
        .dirs
        .iter()
        .filter_map(|relative| tree.dir_index(relative))
        .collect();
    let mut projects = BTreeMap::new();
    for project in tree.projects() {
        let mut chosen: BTreeMap<&str, &TreeWheel> = BTreeMap::new();
        for &dir in &dirs {
            for wheel in tree.project(project).filter(|wheel| wheel.dir == dir) {
                chosen.entry(wheel.file_name.as_str()).or_insert(wheel);
            }
        }
        if !chosen.is_empty() {
            let mut wheels: Vec<&TreeWheel> = chosen.into_values().collect();
            wheels.sort_by(|a, b| {
                a.filename
                    .version()
                    .cmp(b.filename.version())
                    .then(a.file_name.cmp(&b.file_name))
            });
            projects.insert(project.to_string(), wheels);
        }
    }
    projects
}

/// Removes a file we own, counting it.
fn remove_counted(path: &Path, removed: &mut usize) -> std::io::Result<()> {
    match fs_err::remove_file(path) {
        Ok(()) => {
            *removed += 1;
            Ok(())
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(error),
    }
}

/// The projects of each view: the view, and its wheels by project.
type ViewProjects<'a> = Vec<(&'a NodeView, BTreeMap<String, Vec<&'a TreeWheel>>)>;

/// A wheel whose cached hashes are missing or stale, with what `stat` found.
struct ToHash<'tree> {
    relative: String,
    wheel: &'tree TreeWheel,
    size: u64,
    mtime_ns: i64,
}

/// The hashes of the wheels the views link to, and how they were had.
#[derive(Default)]
struct Hashes {
    /// Keyed by the wheel's path relative to the root.
    entries: BTreeMap<String, CacheEntry>,
    /// Entries taken from the cache.
    cached: usize,
    /// Entries hashed this run.
    hashed: usize,
    /// Wheels left out or indexed without metadata, with the reason.
    problems: Vec<String>,
}

/// Pages written or left as they were, and files removed.
#[derive(Default)]
struct Counts {
    pages_written: usize,
    pages_unchanged: usize,
    removed: usize,
}

/// One run of `write_index`: the tree read once, and the directories it writes into.
struct IndexRun<'a> {
    tree: &'a Tree,
    options: &'a IndexOptions,
    /// The tree's root, canonical.
    root: PathBuf,
    /// The output directory, canonical and locked.
    output: PathBuf,
    /// `<output>/files`: the links into the tree and the metadata files.
    files_root: PathBuf,
}

/// Holds the output's lock file, waiting (with a warning) while another run holds it.
fn lock_output(output: &Path) -> std::io::Result<fs_err::File> {
    let lock = fs_err::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(output.join(LOCK_FILE))?;
    if let Err(std::fs::TryLockError::WouldBlock) = lock.file().try_lock() {
        tracing::warn!(
            "waiting for another run writing the index in {}",
            output.display()
        );
        lock.file().lock()?;
    }
    Ok(lock)
}

/// The wheels any view links to, by path relative to the root.
fn needed_wheels<'tree>(tree: &Tree, views: &ViewProjects<'tree>) -> BTreeMap<String, &'tree TreeWheel> {
    let mut needed = BTreeMap::new();
    for (_, projects) in views {
        for wheel in projects.values().flatten() {
            needed.insert(tree.relative_path(wheel), *wheel);
        }
    }
    needed
}

/// One view's pages as this run would write them.
struct ViewPlan<'a> {
    view: &'a NodeView,
    /// Path relative to the view's `simple` directory -> text.
    pages: BTreeMap<String, String>,
    /// The projects listed, sorted.
    listed: Vec<String>,
    wheels: usize,
}

impl ViewPlan<'_> {
    fn listing(&self) -> Listing {
        Listing::new(self.view, self.listed.iter().cloned())
    }
}

impl<'a> IndexRun<'a> {
    /// Where the metadata file of the wheel at `relative` goes.
    fn metadata_file(&self, relative: &str) -> PathBuf {
        self.files_root.join(format!("{relative}.metadata"))
    }

    /// The hashes of the `needed` wheels: from the cache when the wheel (and its metadata
    /// file) did not change, else hashed now.
    fn hashes(&self, needed: &BTreeMap<String, &TreeWheel>, cache: &Cache) -> std::io::Result<Hashes> {
        let mut hashes = Hashes::default();
        let to_hash = self.take_cached(needed, cache, &mut hashes);
        hashes.cached = hashes.entries.len();
        for dir in needed.values().map(|wheel| wheel.dir).collect::<BTreeSet<_>>() {
            fs_err::create_dir_all(self.files_root.join(&self.tree.dirs[dir].relative))?;
        }
        self.hash_all(&to_hash, &mut hashes);
        for (relative, entry) in &hashes.entries {
            if let Some(problem) = &entry.problem {
                hashes.problems.push(format!("{relative}: {problem}"));
            }
        }
        Ok(hashes)
    }

    /// Puts into `hashes` the cache entries still valid; returns the wheels to hash.
    fn take_cached<'tree>(
        &self,
        needed: &BTreeMap<String, &'tree TreeWheel>,
        cache: &Cache,
        hashes: &mut Hashes,
    ) -> Vec<ToHash<'tree>> {
        let mut to_hash = Vec::new();
        for (relative, wheel) in needed {
            let (size, mtime_ns) = match stat(&self.tree.path_of(wheel)) {
                Ok(found) => found,
                Err(error) => {
                    hashes.problems.push(format!("{relative}: left out: {error}"));
                    continue;
                }
            };
            match cache.wheels.get(relative) {
                Some(entry)
                    if entry.size == size
                        && entry.mtime_ns == mtime_ns
                        && (entry.metadata_sha256.is_none() || self.metadata_file(relative).is_file()) =>
                {
                    hashes.entries.insert(relative.clone(), entry.clone());
                }
                _ => to_hash.push(ToHash {
                    relative: relative.clone(),
                    wheel,
                    size,
                    mtime_ns,
                }),
            }
        }
        to_hash
    }

    /// Hashes `to_hash` on `options.jobs` threads, putting the results into `hashes`.
    fn hash_all(&self, to_hash: &[ToHash], hashes: &mut Hashes) {
        let results = crate::parallel::parallel_map(to_hash, self.options.jobs, &|item| {
            tracing::debug!("hashing {}", item.relative);
            hash_wheel(
                &self.tree.path_of(item.wheel),
                &self.metadata_file(&item.relative),
                item.size,
                item.mtime_ns,
            )
        });
        for (item, result) in to_hash.iter().zip(results) {
            match result {
                Ok(entry) => {
                    hashes.hashed += 1;
                    hashes.entries.insert(item.relative.clone(), entry);
                }
                Err(error) => hashes
                    .problems
                    .push(format!("{}: left out: {error}", item.relative)),
            }
        }
    }

    /// Links into the tree, relative, so that the output and the tree can move together.
    fn link_wheels(&self, entries: &BTreeMap<String, CacheEntry>) -> std::io::Result<()> {
        for relative in entries.keys() {
            let link = self.files_root.join(relative);
            let directory = link.parent().unwrap_or(&self.files_root);
            symlink_if_changed(&link, &relative_path(directory, &self.root.join(relative)))?;
        }
        Ok(())
    }

    /// The pages of one view (path relative to its `simple` directory -> text): each
    /// project's, and the root's.
    fn plan_view(
        &self,
        view: &'a NodeView,
        projects: &BTreeMap<String, Vec<&TreeWheel>>,
        entries: &BTreeMap<String, CacheEntry>,
    ) -> ViewPlan<'a> {
        let mut pages = BTreeMap::new();
        let mut listed = Vec::new();
        let mut wheels = 0;
        for (project, project_wheels) in projects {
            let files = self.index_files(project_wheels, entries);
            if files.is_empty() {
                continue;
            }
            pages.insert(
                format!("{project}/index.html"),
                simple::project_html(project, &files),
            );
            pages.insert(
                format!("{project}/index.json"),
                simple::project_json(project, &files),
            );
            wheels += files.len();
            listed.push(project.clone());
        }
        let title = format!("Simple index: {}/{}", view.layer, view.arch);
        pages.insert("index.html".to_string(), simple::root_html(&title, &listed));
        pages.insert("index.json".to_string(), simple::root_json(&listed));
        ViewPlan {
            view,
            pages,
            listed,
            wheels,
        }
    }

    /// The directory of a view's `simple` symlink and generations.
    fn view_dir(&self, view: &NodeView) -> PathBuf {
        self.output.join(&view.layer).join(&view.arch)
    }

    /// The files of a project's page: its wheels that have hashes.
    fn index_files(&self, wheels: &[&TreeWheel], entries: &BTreeMap<String, CacheEntry>) -> Vec<IndexFile> {
        wheels
            .iter()
            .filter_map(|wheel| {
                let relative = self.tree.relative_path(wheel);
                let entry = entries.get(&relative)?;
                let encoded = percent_encode_path(&relative);
                let url = match &self.options.base_url {
                    Some(base) => format!("{}/{FILES_DIR}/{encoded}", base.trim_end_matches('/')),
                    None => format!("../../../../{FILES_DIR}/{encoded}"),
                };
                Some(IndexFile {
                    file_name: wheel.file_name.clone(),
                    url,
                    sha256: entry.sha256.clone(),
                    size: entry.size,
                    version: wheel.filename.version_text().to_string(),
                    requires_python: entry.requires_python.clone(),
                    metadata_sha256: entry.metadata_sha256.clone(),
                })
            })
            .collect()
    }

    /// The index URL of a view: under the base URL, else the `file://` URL of its pages.
    fn view_url(&self, view: &NodeView) -> String {
        let simple_dir = self.view_dir(view).join(swap::SIMPLE_DIR);
        match &self.options.base_url {
            Some(base) => format!(
                "{}/{}/{}/simple/",
                base.trim_end_matches('/'),
                view.layer,
                view.arch
            ),
            None => format!(
                "file://{}/",
                percent_encode_path(&simple_dir.display().to_string())
            ),
        }
    }

    /// Removes the links and metadata files of wheels that left the tree (those of wheels
    /// still in the tree stay: another view's pages, written by another run, may use them),
    /// and leftover temporary files.
    fn remove_stale_files(&self, in_tree: &HashMap<String, ()>, removed: &mut usize) -> std::io::Result<()> {
        if !self.files_root.is_dir() {
            return Ok(());
        }
        for entry in walkdir::WalkDir::new(&self.files_root).min_depth(1) {
            let entry = entry.map_err(|error| {
                std::io::Error::other(format!("cannot walk `{}`: {error}", self.files_root.display()))
            })?;
            if entry.file_type().is_dir() {
                continue;
            }
            let Ok(relative) = entry.path().strip_prefix(&self.files_root) else {
                continue;
            };
            let relative = relative.to_string_lossy();
            let wheel = relative.strip_suffix(".metadata").unwrap_or(&relative);
            if !in_tree.contains_key(wheel) || crate::wheelhouse::tree::is_temp_file(entry.path()) {
                remove_counted(entry.path(), removed)?;
            }
        }
        Ok(())
    }

    /// The views of the existing index that are not among `options.views` (which are every
    /// view of the layout): a layer that became deprecated, an arch that left the layout.
    fn gone_views(&self) -> std::io::Result<Vec<(String, String)>> {
        let current: BTreeSet<(&str, &str)> = self
            .options
            .views
            .iter()
            .map(|view| (view.layer.as_str(), view.arch.as_str()))
            .collect();
        Ok(guard::existing_views(&self.output)?
            .into_iter()
            .filter(|(layer, arch)| !current.contains(&(layer.as_str(), arch.as_str())))
            .collect())
    }

    /// Removes the pages of `gone` views, and layer directories left empty.
    fn prune_views(&self, gone: &[(String, String)], removed: &mut usize) -> std::io::Result<()> {
        for (layer, arch) in gone {
            tracing::info!("removing the pages of the view {layer}/{arch}, no longer in the layout");
            let view_dir = self.output.join(layer).join(arch);
            // The view disappears at once (its `simple` symlink, or an old real directory
            // moved aside), then its generations go; a killed run leaves no half view.
            let simple = view_dir.join(swap::SIMPLE_DIR);
            match fs_err::symlink_metadata(&simple) {
                Ok(metadata) if metadata.is_dir() => {
                    fs_err::rename(&simple, view_dir.join(format!("{}old", swap::GENERATION_PREFIX)))?
                }
                Ok(_) => fs_err::remove_file(&simple)?,
                Err(_) => {}
            }
            fs_err::remove_dir_all(&view_dir)?;
            *removed += 1;
            let layer_dir = self.output.join(layer);
            if fs_err::read_dir(&layer_dir)?.next().is_none() {
                fs_err::remove_dir(&layer_dir)?;
            }
        }
        Ok(())
    }
}

/// Builds or refreshes the index of `options.views` for the tree of `layout`. Stops before
/// writing anything when the root is missing or not a wheelhouse, or when a view would lose
/// more projects than `options.shrink` permits.
pub fn write_index(layout: &Layout, options: &IndexOptions) -> Result<IndexSummary, IndexError> {
    let tree = Tree::read(layout).map_err(|error| IndexError::Tree {
        root: layout.root.clone(),
        error,
    })?;
    check_root(layout, &tree)?;
    let root = fs_err::canonicalize(&layout.root)
        .or_else(|_| std::path::absolute(&layout.root))
        .map_err(IndexError::Io)?;
    let output = prepare_output(&options.output, &tree, &root)?;
    let _lock = lock_output(&output)?;
    let cache_path = output.join(CACHE_FILE);
    let run = IndexRun {
        tree: &tree,
        options,
        root,
        files_root: output.join(FILES_DIR),
        output,
    };

    // Every view's projects, and what the existing index lists: checked before any write.
    let views: ViewProjects = options
        .views
        .iter()
        .map(|view| (view, view_projects(&tree, view)))
        .collect();
    let gone = if options.prune_views {
        run.gone_views()?
    } else {
        Vec::new()
    };
    let in_scope: Vec<(String, String)> = options
        .views
        .iter()
        .map(|view| (view.layer.clone(), view.arch.clone()))
        .chain(gone.iter().cloned())
        .collect();
    let before = guard::listings(&run.output, &in_scope)?;
    let from_tree: Vec<Listing> = views
        .iter()
        .map(|(view, projects)| Listing::new(view, projects.keys().cloned()))
        .collect();
    let shown_root = std::path::absolute(&layout.root).unwrap_or_else(|_| layout.root.clone());
    let root_of = (shown_root.as_path(), &layout.origin);
    guard::check(
        &run.output,
        root_of,
        tree.wheels.is_empty(),
        &before,
        &from_tree,
        options.shrink,
    )?;

    // Hashes, writing the metadata files of wheels hashed now (only added or replaced, never
    // removed, and no page names them yet).
    let cache = load_cache(&cache_path);
    let needed = needed_wheels(&tree, &views);
    let hashes = run.hashes(&needed, &cache)?;

    // The pages as they will be; checked again (a wheel that could not be read leaves its
    // project out), then each view replaced at once.
    let plans: Vec<ViewPlan> = views
        .iter()
        .map(|(view, projects)| run.plan_view(view, projects, &hashes.entries))
        .collect();
    let planned: Vec<Listing> = plans.iter().map(ViewPlan::listing).collect();
    guard::check(&run.output, root_of, false, &before, &planned, options.shrink)?;
    run.link_wheels(&hashes.entries)?;
    let mut counts = Counts::default();
    let mut view_summaries = Vec::new();
    let mut all_projects = BTreeSet::new();
    for plan in &plans {
        let published = swap::publish_view(&run.view_dir(plan.view), &plan.pages)?;
        counts.pages_written += published.pages_written;
        counts.pages_unchanged += published.pages_unchanged;
        counts.removed += published.removed;
        all_projects.extend(plan.listed.iter().cloned());
        view_summaries.push(ViewSummary {
            layer: plan.view.layer.clone(),
            arch: plan.view.arch.clone(),
            url: run.view_url(plan.view),
            projects: plan.listed.len(),
            wheels: plan.wheels,
        });
    }

    // Only now, with every view pointing at its new pages: what left the tree.
    let in_tree: HashMap<String, ()> = tree
        .wheels
        .iter()
        .map(|wheel| (tree.relative_path(wheel), ()))
        .collect();
    run.remove_stale_files(&in_tree, &mut counts.removed)?;
    run.prune_views(&gone, &mut counts.removed)?;
    save_cache(cache, &cache_path, &in_tree, &hashes.entries)?;

    Ok(IndexSummary {
        output: run.output,
        views: view_summaries,
        projects: all_projects.len(),
        wheels: hashes.entries.len(),
        hashed: hashes.hashed,
        cached: hashes.cached,
        pages_written: counts.pages_written,
        pages_unchanged: counts.pages_unchanged,
        removed: counts.removed,
        problems: hashes.problems,
    })
}

impl crate::hint::Hint for IndexError {
    fn hint(&self) -> Option<String> {
        match self {
            IndexError::Root(error) => crate::hint::Hint::hint(error),
            IndexError::NoWheels { .. } => Some(
                "check the layout's root; pass --allow-shrink if the wheelhouse really is empty now"
                    .to_string(),
            ),
            IndexError::Shrink { .. } => {
                Some("pass --allow-shrink if the wheelhouse really lost them".to_string())
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_climb_then_descend() {
        assert_eq!(
            relative_path(
                Path::new("/srv/index/files/generic"),
                Path::new("/cvmfs/wh/generic/a.whl")
            ),
            Path::new("../../../../cvmfs/wh/generic/a.whl")
        );
        assert_eq!(
            relative_path(Path::new("/w/out/files/g"), Path::new("/w/tree/g/a.whl")),
            Path::new("../../../tree/g/a.whl")
        );
    }

    #[test]
    fn pages_are_replaced_only_when_they_change() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("index.html");
        assert!(write_if_changed(&path, b"one").unwrap());
        assert!(!write_if_changed(&path, b"one").unwrap());
        assert!(write_if_changed(&path, b"two").unwrap());
        assert_eq!(fs_err::read(&path).unwrap(), b"two");
        let names: Vec<_> = fs_err::read_dir(directory.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary file is left");
    }
}
