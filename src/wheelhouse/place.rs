//! Placing wheels into the tree (cp-wheels): check and classify each wheel without the lock,
//! then, holding the writers' lock, read the tree once, decide every placement against that
//! index, copy through temporary files, make them durable, rename, and run the publish hook.

use std::collections::{BTreeSet, HashMap};
use std::io::{ErrorKind, Read};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::build_record::{RecordCheck, check_build_record};
use super::tree::{TEMP_PREFIX, TEMP_SUFFIX, Tree, TreeWheel};
use crate::classify::{Classification, Filesystem, classify};
use crate::inspect::check_wheel;
use crate::layout::Layout;
use crate::parallel::parallel_map;
use crate::spec::filename::WheelFilename;
use crate::spec::version::has_local_label;
use crate::wheel::Limits;
use crate::wheel::verified::{VerifiedCache, file_sha256};

/// What the user asked for.
#[derive(Debug, Clone)]
pub struct Options {
    /// Place in this arch directory instead of the detected one (validated against the layer).
    pub arch: Option<String>,
    /// Place in this layer instead of the detected one (the wheel must work on it).
    pub layer: Option<String>,
    /// Replace a different wheel of the same name.
    pub force: bool,
    /// Accept an `--arch` below the level the wheel's code needs.
    pub trust_arch: bool,
    /// Decide and report, change nothing.
    pub dry_run: bool,
    /// Delete each source once it is safely in the tree.
    pub remove: bool,
    /// fsync the copies and directories before and after the renames.
    pub fsync: bool,
    /// Place the wheels that pass even when others are refused.
    pub keep_going: bool,
    /// Threads for checking and classifying.
    pub jobs: usize,
    pub limits: Limits,
    /// Wheels already verified, by sha256 (None: verify every wheel in full).
    pub verified: Option<VerifiedCache>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            arch: None,
            layer: None,
            force: false,
            trust_arch: false,
            dry_run: false,
            remove: false,
            fsync: true,
            keep_going: false,
            jobs: crate::inspect::default_jobs(),
            limits: Limits::default(),
            verified: VerifiedCache::default_location(),
        }
    }
}

/// What happens (or happened) to one wheel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Copied into the tree (or would be, in a dry run).
    Place,
    /// Replaced a different wheel of the same name (`--force`).
    Replace,
    /// The same bytes are already there: nothing to do.
    Unchanged,
    /// Not placed; `reason` says why.
    Refuse,
    /// Would have been placed, but another wheel was refused (all or nothing).
    Held,
    /// The copy failed; `reason` says why.
    Failed,
}

/// The outcome for one wheel.
#[derive(Debug, Clone, Serialize)]
pub struct WheelOutcome {
    pub source: PathBuf,
    pub wheel: String,
    pub project: Option<String>,
    pub version: Option<String>,
    pub action: Action,
    /// The directory relative to the root (`generic`, `gentoo2023/x86-64-v3`).
    pub destination: Option<String>,
    /// The full path of the placed file.
    pub path: Option<PathBuf>,
    pub reason: Option<String>,
    pub warnings: Vec<String>,
    pub size: u64,
    /// The sha256 of the whole file.
    pub sha256: Option<String>,
    /// These bytes had verified before: member hashes were not checked again.
    pub verified_before: bool,
    /// The arch the wheel's code needs and why (from the inspect engine).
    pub detected: Option<String>,
    pub evidence: Vec<String>,
    pub source_removed: bool,
}

/// The publish hook's run.
#[derive(Debug, Clone, Serialize)]
pub struct PublishOutcome {
    pub command: String,
    pub files: Vec<PathBuf>,
    pub ok: bool,
    pub message: Option<String>,
    /// Where the files wait for `--publish-only` when the hook failed.
    pub pending_file: Option<PathBuf>,
}

/// The whole run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub root: PathBuf,
    pub dry_run: bool,
    pub wheels: Vec<WheelOutcome>,
    /// Temporary files of killed runs, removed (or, in a dry run, found).
    pub stale_temps: Vec<PathBuf>,
    pub publish: Option<PublishOutcome>,
}

impl Report {
    /// Everything asked for was done.
    pub fn ok(&self) -> bool {
        self.wheels
            .iter()
            .all(|wheel| matches!(wheel.action, Action::Place | Action::Replace | Action::Unchanged))
            && self.publish.as_ref().is_none_or(|publish| publish.ok)
    }

    pub fn count(&self, action: Action) -> usize {
        self.wheels.iter().filter(|wheel| wheel.action == action).count()
    }
}

/// Errors that stop the whole run (a single wheel's problem is a refusal instead).
#[derive(Debug, thiserror::Error)]
pub enum PlaceError {
    #[error("cannot use the wheelhouse root `{path}`: {error}")]
    Root { path: PathBuf, error: std::io::Error },
    #[error("cannot take the wheelhouse lock `{path}`: {error}")]
    Lock { path: PathBuf, error: std::io::Error },
    #[error("cannot read the wheelhouse tree under `{root}`: {error}")]
    Tree { root: PathBuf, error: std::io::Error },
    #[error("the `before` publish hook failed, nothing was placed: {0}")]
    Before(String),
    #[error("cannot record the unpublished files in `{path}`: {error}")]
    Pending { path: PathBuf, error: std::io::Error },
}

/// A wheel after the checks that need no lock.
struct Checked {
    source: PathBuf,
    file_name: String,
    filename: Option<WheelFilename>,
    size: u64,
    sha256: Option<String>,
    verified_before: bool,
    /// Where it goes (relative directory), or why it cannot go anywhere.
    target: Result<Target, String>,
    warnings: Vec<String>,
}

struct Target {
    /// `generic` or `<layer>/<arch>`.
    relative: String,
    /// The arch was given with `--arch` (the generic-copy check is then the user's call).
    arch_overridden: bool,
    detected: String,
    evidence: Vec<String>,
}

/// The writers' lock on the tree, held until dropped.
pub struct TreeLock {
    _file: std::fs::File,
}

/// Takes the writers' lock, waiting (and saying so) while another writer holds it.
pub fn lock_tree(layout: &Layout) -> Result<TreeLock, PlaceError> {
    let path = &layout.publish.lock_file;
    let lock_error = |error| PlaceError::Lock {
        path: path.clone(),
        error,
    };
    if let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
        fs_err::create_dir_all(parent).map_err(lock_error)?;
    }
    let file = fs_err::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(lock_error)?
        .into_parts()
        .0;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            tracing::warn!(
                "waiting for the wheelhouse lock `{}`: another cp-wheels is writing",
                path.display()
            );
            file.lock().map_err(lock_error)?;
        }
        Err(std::fs::TryLockError::Error(error)) => return Err(lock_error(error)),
    }
    Ok(TreeLock { _file: file })
}

fn is_supported_platform(tag: &str) -> bool {
    tag == "any" || tag == "linux_x86_64" || (tag.starts_with("manylinux") && tag.ends_with("_x86_64"))
}

/// Checks, verifies and classifies one wheel; never touches the tree.
fn check(source: &Path, layout: &Layout, options: &Options, inner_jobs: usize) -> Checked {
    let file_name = source
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let size = fs_err::metadata(source).map_or(0, |meta| meta.len());
    let mut checked = Checked {
        source: source.to_path_buf(),
        file_name: file_name.clone(),
        filename: None,
        size,
        sha256: None,
        verified_before: false,
        target: Err(String::new()),
        warnings: Vec::new(),
    };
    checked.target = (|| {
        let filename: WheelFilename = file_name.parse().map_err(|error| format!("{error}"))?;
        checked.filename = Some(filename.clone());
        if !has_local_label(filename.version(), &layout.local_version_label) {
            return Err(format!(
                "the version {} has no local version label `+{}`: did you forget to add the local version identifier? (`wheelwright manipulate -i` adds it)",
                filename.version_text(),
                layout.local_version_label
            ));
        }
        if let Some(tag) = filename
            .tags
            .platform
            .iter()
            .find(|tag| !is_supported_platform(tag))
        {
            return Err(format!(
                "the platform tag `{tag}` is not for x86_64 Linux with glibc; the wheelhouse cannot serve it"
            ));
        }
        if filename
            .tags
            .platform
            .iter()
            .any(|tag| tag.starts_with("manylinux"))
        {
            checked.warnings.push(
                "a manylinux tag: wheels of the site are usually retagged linux_x86_64 (`wheelwright manipulate --retag '*-*-linux_x86_64'`)".to_string(),
            );
        }
        // Bytes that verified before (a dry run, wheelbuild, `wheelwright verify`) need not be
        // inflated and hashed again: the whole file's sha256 is the key.
        let cache = options.verified.as_ref();
        let sha256 = match cache.and_then(|cache| cache.known_sha256(source)) {
            Some(sha256) => sha256,
            None => file_sha256(source).map_err(|error| format!("cannot read the wheel: {error}"))?,
        };
        checked.sha256 = Some(sha256.clone());
        // Before any inflating: the wheel's own build record may already refuse it.
        match check_build_record(source, &sha256).map_err(|error| error.to_string())? {
            RecordCheck::OtherFile { warning, .. } => checked.warnings.push(warning),
            RecordCheck::Absent | RecordCheck::Passed { .. } => {}
        }
        let known = cache.is_some_and(|cache| cache.contains(&sha256, options.limits.total));
        checked.verified_before = known;
        let (report, elves) = check_wheel(source, options.limits, true, inner_jobs, !known)
            .map_err(|error| error.kind.to_string())?;
        if !known
            && report.ok()
            && let Some(cache) = cache
        {
            cache.record(&sha256, options.limits.total, Some(source));
        }
        if !report.ok() {
            let shown: Vec<&str> = report.problems.iter().take(5).map(String::as_str).collect();
            let more = report.problems.len().saturating_sub(shown.len());
            return Err(format!(
                "the wheel fails verification: {}{}",
                shown.join("; "),
                if more > 0 {
                    format!(" (and {more} more)")
                } else {
                    String::new()
                }
            ));
        }
        let classification = classify(layout, &elves, &Filesystem);
        if !classification.unreadable.is_empty() {
            return Err(format!(
                "its tags say it has compiled code, but none of its compiled members can be read: {}",
                classification.unreadable.join("; ")
            ));
        }
        // Some members unreadable beside readable ones: the readable code decides, the rest
        // is said.
        checked.warnings.extend(
            elves
                .problems
                .iter()
                .map(|problem| format!("unreadable ELF: {problem}")),
        );
        choose_target(layout, options, &classification)
    })();
    checked
}

/// Applies `--layer` and `--arch` to the classification and checks them against the layout.
fn choose_target(
    layout: &Layout,
    options: &Options,
    classification: &Classification,
) -> Result<Target, String> {
    let detected = classification.arch.name.clone();
    let detected_level = classification.arch.level;
    let mut evidence = classification.arch.evidence.clone();
    evidence.extend(classification.notes.iter().cloned());
    let detected_dest = classification.destination.clone();
    let reasons_for = |layer: &str| -> String {
        classification
            .layers
            .get(layer)
            .map(|verdict| verdict.reasons.join("; "))
            .unwrap_or_default()
    };
    // The layer.
    let layer: Option<String> = match &options.layer {
        Some(name) => {
            let Some(layer) = layout.layers.get(name) else {
                let known: Vec<&str> = layout.active_layers().map(|layer| layer.name.as_str()).collect();
                return Err(format!(
                    "unknown layer `{name}` (the layout {} has: {})",
                    layout.source,
                    known.join(", ")
                ));
            };
            if layer.deprecated {
                return Err(format!(
                    "the layer `{name}` is deprecated: it takes no new wheels"
                ));
            }
            if !classification.pure
                && !classification
                    .layers
                    .get(name)
                    .is_some_and(|verdict| verdict.works)
            {
                return Err(format!(
                    "the wheel does not work on the layer `{name}`: {}",
                    reasons_for(name)
                ));
            }
            Some(name.clone())
        }
        None => match detected_dest.as_deref() {
            None => {
                let why: Vec<String> = layout
                    .active_layers()
                    .map(|layer| format!("{}: {}", layer.name, reasons_for(&layer.name)))
                    .collect();
                return Err(format!(
                    "the wheel works on no layer that takes new wheels (unknown layer) — {}",
                    why.join("; ")
                ));
            }
            Some("generic") => match &options.arch {
                // A wheel that runs anywhere, placed in an arch directory on request: the
                // default layer, as cp_wheels.sh does.
                Some(arch) if arch != "generic" => {
                    Some(crate::wheelhouse::view::default_layer(layout).ok_or_else(|| {
                        "the layout has no active layer to place an arch-specific copy in".to_string()
                    })?)
                }
                _ => None,
            },
            Some(relative) => Some(relative.split('/').next().unwrap_or(relative).to_string()),
        },
    };
    // The arch.
    let arch = match &options.arch {
        Some(arch) => {
            if !layout.archs.contains_key(arch) {
                let known: Vec<&str> = layout.archs.keys().map(String::as_str).collect();
                return Err(format!(
                    "unknown arch `{arch}` (the layout has: {})",
                    known.join(", ")
                ));
            }
            if let Some(layer) = &layer {
                let allowed = &layout.layers[layer].archs;
                if !allowed.contains(arch) {
                    return Err(format!(
                        "the layer `{layer}` has no arch `{arch}` (it allows: {})",
                        allowed.join(", ")
                    ));
                }
            }
            let level = layout.archs[arch].level;
            if level < detected_level && !options.trust_arch {
                return Err(format!(
                    "--arch {arch} (level {level}) is below what the wheel's code needs: {detected} ({}); nodes without it would crash. --trust-arch places it anyway",
                    evidence.first().map_or("no evidence recorded", String::as_str)
                ));
            }
            arch.clone()
        }
        None => match &layer {
            Some(layer) if options.layer.is_some() || detected_dest.as_deref() != Some("generic") => {
                if layout.layers[layer].archs.contains(&detected) {
                    detected.clone()
                } else {
                    return Err(format!(
                        "the wheel needs the arch `{detected}`, which the layer `{layer}` does not have (it has: {}); choose one with --arch",
                        layout.layers[layer].archs.join(", ")
                    ));
                }
            }
            _ => "generic".to_string(),
        },
    };
    let relative = match &layer {
        Some(layer) => format!("{layer}/{arch}"),
        None => "generic".to_string(),
    };
    Ok(Target {
        relative,
        arch_overridden: options.arch.is_some(),
        detected,
        evidence,
    })
}

/// Whether two files hold the same bytes.
fn same_bytes(a: &Path, b: &Path) -> std::io::Result<bool> {
    let (meta_a, meta_b) = (fs_err::metadata(a)?, fs_err::metadata(b)?);
    if meta_a.len() != meta_b.len() {
        return Ok(false);
    }
    let mut file_a = std::io::BufReader::with_capacity(1 << 20, fs_err::File::open(a)?);
    let mut file_b = std::io::BufReader::with_capacity(1 << 20, fs_err::File::open(b)?);
    let mut buffer_a = vec![0u8; 1 << 20];
    let mut buffer_b = vec![0u8; 1 << 20];
    loop {
        let read = read_full(&mut file_a, &mut buffer_a)?;
        let read_b = read_full(&mut file_b, &mut buffer_b)?;
        if read != read_b || buffer_a[..read] != buffer_b[..read] {
            return Ok(false);
        }
        if read == 0 {
            return Ok(true);
        }
    }
}

fn read_full(reader: &mut impl Read, buffer: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match reader.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(read) => filled += read,
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(filled)
}

/// The directories whose arch-specific wheels make a generic copy in `relative` wrong: for
/// the top-level `generic`, every layer's arch directories; for `<layer>/generic`, that
/// layer's.
fn arch_dirs_served_by(tree: &Tree, relative: &str) -> Vec<usize> {
    let layer = relative.strip_suffix("/generic");
    (0..tree.dirs.len())
        .filter(|&index| {
            let dir = &tree.dirs[index];
            dir.is_arch_specific() && (layer.is_none() || dir.layer.as_deref() == layer)
        })
        .collect()
}

/// The generic directories a node of `layer` also sees.
fn generic_dirs_for(tree: &Tree, layer: &str) -> Vec<usize> {
    (0..tree.dirs.len())
        .filter(|&index| {
            let dir = &tree.dirs[index];
            !dir.is_arch_specific() && (dir.layer.is_none() || dir.layer.as_deref() == Some(layer))
        })
        .collect()
}

fn list_some(wheels: &[String]) -> String {
    let shown: Vec<&str> = wheels.iter().take(8).map(String::as_str).collect();
    let more = wheels.len().saturating_sub(shown.len());
    format!(
        "{}{}",
        shown.join(", "),
        if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        }
    )
}

/// Runs the checks on every wheel, `jobs` at a time: one thread per wheel when there are
/// many, threads inside each wheel when there are a few big ones.
fn check_all(
    sources: &[PathBuf],
    layout: &Layout,
    options: &Options,
    progress: &(dyn Fn(&Path) + Sync),
) -> Vec<Checked> {
    let jobs = options.jobs.max(1);
    let inner_jobs = if sources.len() >= jobs { 1 } else { jobs };
    parallel_map(sources, jobs, &|source: &PathBuf| {
        let checked = check(source, layout, options, inner_jobs);
        progress(source);
        checked
    })
}

/// A decided placement, before the copy.
struct Decision {
    outcome: WheelOutcome,
    dir: Option<usize>,
}

fn decide(tree: &mut Tree, checked: Vec<Checked>, options: &Options) -> Vec<Decision> {
    let mut decisions = Vec::with_capacity(checked.len());
    // Wheels of this run already decided, by (dir, file name): their source.
    let mut planned: HashMap<(usize, String), PathBuf> = HashMap::new();
    let mut planned_projects: HashMap<String, Vec<(usize, String)>> = HashMap::new();
    // Arch-specific placements are decided first, so that a generic wheel of the same run
    // is judged knowing them; the report keeps the order of the arguments.
    let mut order: Vec<(usize, Checked)> = checked.into_iter().enumerate().collect();
    order.sort_by_key(|(index, wheel)| {
        let generic = wheel.target.as_ref().map_or(true, |target| {
            !target.relative.contains('/') || target.relative.ends_with("/generic")
        });
        (generic, *index)
    });
    let mut indices = Vec::with_capacity(order.len());
    for (index, wheel) in order {
        indices.push(index);
        let mut outcome = WheelOutcome {
            source: wheel.source.clone(),
            wheel: wheel.file_name.clone(),
            project: wheel.filename.as_ref().map(WheelFilename::normalized_name),
            version: wheel
                .filename
                .as_ref()
                .map(|name| name.version_text().to_string()),
            action: Action::Refuse,
            destination: None,
            path: None,
            reason: None,
            warnings: wheel.warnings,
            size: wheel.size,
            sha256: wheel.sha256.clone(),
            verified_before: wheel.verified_before,
            detected: None,
            evidence: Vec::new(),
            source_removed: false,
        };
        let target = match wheel.target {
            Ok(target) => target,
            Err(reason) => {
                outcome.reason = Some(reason);
                decisions.push(Decision { outcome, dir: None });
                continue;
            }
        };
        outcome.detected = Some(target.detected.clone());
        outcome.evidence = target.evidence.clone();
        outcome.destination = Some(target.relative.clone());
        let Some(dir) = tree.dir_index(&target.relative) else {
            outcome.reason = Some(format!("`{}` is not a directory of the layout", target.relative));
            decisions.push(Decision { outcome, dir: None });
            continue;
        };
        let mut dir = dir;
        let project = outcome.project.clone().unwrap_or_default();
        // The project's wheels in `dirs`, in the tree or decided earlier in this run:
        // (directory, file name, version).
        let in_tree_or_planned = |dirs: &[usize], tree: &Tree| -> Vec<(usize, String, String)> {
            let mut found: Vec<(usize, String, String)> = tree
                .project(&project)
                .filter(|existing| dirs.contains(&existing.dir))
                .map(|existing| {
                    (
                        existing.dir,
                        existing.file_name.clone(),
                        existing.filename.version().to_string(),
                    )
                })
                .collect();
            for (planned_dir, name) in planned_projects.get(&project).into_iter().flatten() {
                if dirs.contains(planned_dir) {
                    let version = name
                        .parse::<WheelFilename>()
                        .map(|parsed| parsed.version().to_string())
                        .unwrap_or_default();
                    found.push((*planned_dir, name.clone(), version));
                }
            }
            found.sort();
            found
        };
        let describe = |found: &[(usize, String, String)], tree: &Tree| -> String {
            let names: Vec<String> = found
                .iter()
                .map(|(dir, name, _)| format!("{}/{name}", tree.dirs[*dir].relative))
                .collect();
            list_some(&names)
        };
        if tree.dirs[dir].is_arch_specific() {
            let layer = tree.dirs[dir].layer.clone().unwrap_or_default();
            let generic = in_tree_or_planned(&generic_dirs_for(tree, &layer), tree);
            if !generic.is_empty() {
                outcome.warnings.push(format!(
                    "generic wheels of {project} exist too ({}): nodes of {layer} see both and take the newest version, whatever its arch",
                    describe(&generic, tree)
                ));
            }
        } else if !target.arch_overridden {
            let specific = in_tree_or_planned(&arch_dirs_served_by(tree, &target.relative), tree);
            let version = wheel
                .filename
                .as_ref()
                .map(|name| name.version().to_string())
                .unwrap_or_default();
            let layers: BTreeSet<Option<String>> = specific
                .iter()
                .map(|(dir, _, _)| tree.dirs[*dir].layer.clone())
                .collect();
            let same_version = specific.iter().all(|(_, _, other)| *other == version);
            if !specific.is_empty() && same_version && layers.len() == 1 {
                // The baseline build of a release that also has arch builds: it is their
                // fallback, next to them in the layer's generic directory.
                let layer = layers.into_iter().next().flatten().unwrap_or_default();
                match tree.dir_index(&format!("{layer}/generic")) {
                    Some(fallback) if fallback != dir => {
                        outcome.warnings.push(format!(
                            "placed in {layer}/generic, next to the arch-specific wheels of the same version ({})",
                            describe(&specific, tree)
                        ));
                        dir = fallback;
                        outcome.destination = Some(tree.dirs[dir].relative.clone());
                    }
                    _ => {}
                }
            } else if !specific.is_empty() {
                outcome.reason = Some(format!(
                    "arch-specific wheels of {project} already exist ({}): it cannot be copied as a generic wheel; use --arch ARCH to say which arch it is for",
                    describe(&specific, tree)
                ));
                decisions.push(Decision {
                    outcome,
                    dir: Some(dir),
                });
                continue;
            }
        }
        let destination = tree.dir_path(dir).join(&wheel.file_name);
        outcome.path = Some(destination.clone());
        // The same file name in another directory (in the tree or placed by this run): with
        // plain find-links, pip takes the copy whose path sorts first, whatever the order of
        // the directories, so a node may get another arch's build than its own.
        let mut elsewhere: Vec<String> = tree
            .project(&project)
            .filter(|existing| existing.file_name == wheel.file_name && existing.dir != dir)
            .map(|existing| tree.relative_path(existing))
            .collect();
        for (planned_dir, name) in planned_projects.get(&project).into_iter().flatten() {
            if *name == wheel.file_name && *planned_dir != dir {
                elsewhere.push(format!("{}/{name} (this run)", tree.dirs[*planned_dir].relative));
            }
        }
        if !elsewhere.is_empty() {
            outcome.warnings.push(format!(
                "a wheel of the same name is also in {}: pip given these directories as find-links takes the copy whose path sorts first, not the node's own arch; serve pip `wheelwright index` (or use uv with `wheelwright pip-config`)",
                list_some(&elsewhere)
            ));
        }
        let key = (dir, wheel.file_name.clone());
        if let Some(first) = planned.get(&key) {
            match same_bytes(first, &wheel.source) {
                Ok(true) => {
                    outcome.action = Action::Unchanged;
                    outcome.reason = Some(format!("the same wheel is also given as `{}`", first.display()));
                }
                _ => {
                    outcome.reason = Some(format!(
                        "`{}` goes to the same place with different bytes",
                        first.display()
                    ));
                }
            }
            decisions.push(Decision {
                outcome,
                dir: Some(dir),
            });
            continue;
        }
        if tree.find(dir, &wheel.file_name).is_some() {
            match same_bytes(&destination, &wheel.source) {
                Ok(true) => {
                    outcome.action = Action::Unchanged;
                    outcome.reason = Some("the same bytes are already in place".to_string());
                }
                Ok(false) if options.force => outcome.action = Action::Replace,
                Ok(false) => {
                    outcome.reason = Some(format!(
                        "a different wheel of that name is already at `{}`; --force replaces it",
                        destination.display()
                    ));
                }
                Err(error) => {
                    outcome.reason = Some(format!(
                        "cannot compare with `{}`: {error}",
                        destination.display()
                    ));
                }
            }
        } else {
            outcome.action = Action::Place;
        }
        if matches!(outcome.action, Action::Place | Action::Replace) {
            planned.insert(key, wheel.source.clone());
            planned_projects
                .entry(project.clone())
                .or_default()
                .push((dir, wheel.file_name.clone()));
        }
        decisions.push(Decision {
            outcome,
            dir: Some(dir),
        });
    }
    let mut ordered: Vec<(usize, Decision)> = indices.into_iter().zip(decisions).collect();
    ordered.sort_by_key(|(index, _)| *index);
    ordered.into_iter().map(|(_, decision)| decision).collect()
}

/// Creates a missing destination directory (and its missing parents) with the layout's mode.
fn ensure_dir(path: &Path, root: &Path, mode: u32) -> std::io::Result<()> {
    if path.is_dir() {
        return Ok(());
    }
    let mut missing = Vec::new();
    let mut current = path;
    while !current.is_dir() && current != root {
        missing.push(current.to_path_buf());
        match current.parent() {
            Some(parent) => current = parent,
            None => break,
        }
    }
    for directory in missing.iter().rev() {
        match fs_err::create_dir(directory) {
            Ok(()) => fs_err::set_permissions(directory, std::fs::Permissions::from_mode(mode))?,
            Err(error) if error.kind() == ErrorKind::AlreadyExists => {}
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

/// A copy waiting for its rename.
struct Staged {
    decision: usize,
    temp: tempfile::TempPath,
    destination: PathBuf,
    replace: bool,
}

fn stage_copy(source: &Path, directory: &Path, mode: u32) -> std::io::Result<tempfile::TempPath> {
    let temp = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .suffix(TEMP_SUFFIX)
        .tempfile_in(directory)?;
    let (mut file, temp_path) = temp.into_parts();
    let mut input = fs_err::File::open(source)?;
    // std copies file to file with copy_file_range: in-kernel, a reflink where the
    // filesystem can.
    let copied = std::io::copy(&mut input, &mut file)?;
    let expected = input.metadata()?.len();
    if copied != expected {
        return Err(std::io::Error::other(format!(
            "copied {copied} bytes of `{}` but it holds {expected}: was it changing?",
            source.display()
        )));
    }
    file.set_permissions(std::fs::Permissions::from_mode(mode))?;
    Ok(temp_path)
}

fn sync_path(path: &Path) -> std::io::Result<()> {
    fs_err::File::open(path)?.sync_all()
}

/// Copies every decided wheel: all temporary copies first, then one durability point, then
/// the renames, then the directories made durable.
fn execute(tree: &mut Tree, decisions: &mut [Decision], layout: &Layout, options: &Options) {
    // The destination directories, made once each.
    let wanted: BTreeSet<usize> = decisions
        .iter()
        .filter(|decision| matches!(decision.outcome.action, Action::Place | Action::Replace))
        .filter_map(|decision| decision.dir)
        .collect();
    let mut unusable: HashMap<usize, String> = HashMap::new();
    for dir in wanted {
        if let Err(error) = ensure_dir(&tree.dir_path(dir), &tree.root, layout.publish.dir_mode) {
            unusable.insert(
                dir,
                format!("cannot create `{}`: {error}", tree.dir_path(dir).display()),
            );
        }
    }
    let jobs: Vec<(usize, PathBuf, PathBuf)> = decisions
        .iter_mut()
        .enumerate()
        .filter(|(_, decision)| matches!(decision.outcome.action, Action::Place | Action::Replace))
        .filter_map(|(index, decision)| {
            let dir = decision.dir?;
            if let Some(reason) = unusable.get(&dir) {
                decision.outcome.action = Action::Failed;
                decision.outcome.reason = Some(reason.clone());
                return None;
            }
            Some((index, decision.outcome.source.clone(), tree.dir_path(dir)))
        })
        .collect();
    // Copies in parallel: the kernel does the copying, the threads overlap its waits.
    let copies = parallel_map(&jobs, options.jobs.max(4), &|(_, source, directory)| {
        stage_copy(source, directory, layout.publish.file_mode)
    });
    let mut staged: Vec<Staged> = Vec::new();
    for ((index, _, directory), result) in jobs.into_iter().zip(copies) {
        let decision = &mut decisions[index];
        match result {
            Ok(temp) => staged.push(Staged {
                decision: index,
                temp,
                destination: directory.join(&decision.outcome.wheel),
                replace: decision.outcome.action == Action::Replace,
            }),
            Err(error) => {
                decision.outcome.action = Action::Failed;
                decision.outcome.reason =
                    Some(format!("cannot copy into `{}`: {error}", directory.display()));
            }
        }
    }
    let copied = std::time::Instant::now();
    if options.fsync {
        sync_many(&mut staged, decisions);
        tracing::debug!(
            "fsynced {} copies in {:.3}s",
            staged.len(),
            copied.elapsed().as_secs_f64()
        );
    }
    let mut touched_dirs = BTreeSet::new();
    for item in staged {
        let decision = &mut decisions[item.decision];
        let result = if item.replace {
            item.temp.persist(&item.destination)
        } else {
            item.temp.persist_noclobber(&item.destination)
        };
        match result {
            Ok(()) => {
                if let Some(dir) = decision.dir {
                    touched_dirs.insert(dir);
                    tree.insert(TreeWheel {
                        dir,
                        file_name: decision.outcome.wheel.clone(),
                        filename: decision
                            .outcome
                            .wheel
                            .parse()
                            .expect("the wheel's name was parsed before"),
                    });
                }
            }
            Err(error) => {
                decision.outcome.action = Action::Failed;
                decision.outcome.reason = Some(if error.error.kind() == ErrorKind::AlreadyExists {
                    format!(
                        "`{}` appeared while copying (a writer that does not take the lock?); left as it is",
                        item.destination.display()
                    )
                } else {
                    format!(
                        "cannot rename into `{}`: {}",
                        item.destination.display(),
                        error.error
                    )
                });
            }
        }
    }
    if options.fsync {
        for dir in touched_dirs {
            if let Err(error) = sync_path(&tree.dir_path(dir)) {
                tracing::warn!("cannot fsync `{}`: {error}", tree.dir_path(dir).display());
            }
        }
    }
}

/// fsyncs the staged copies, many at a time: fsync waits on the disk, not the CPU, and
/// concurrent fsyncs share the filesystem's journal commits. A copy that cannot be made
/// durable is not renamed.
fn sync_many(staged: &mut Vec<Staged>, decisions: &mut [Decision]) {
    let paths: Vec<&Path> = staged.iter().map(|item| item.temp.as_ref()).collect();
    let results = parallel_map(&paths, 16, &|path: &&Path| sync_path(path));
    let mut kept = Vec::with_capacity(staged.len());
    for (item, result) in staged.drain(..).zip(results) {
        match result {
            Ok(()) => kept.push(item),
            Err(error) => {
                let outcome = &mut decisions[item.decision].outcome;
                outcome.action = Action::Failed;
                outcome.reason = Some(format!("cannot fsync the copy: {error}"));
            }
        }
    }
    *staged = kept;
}

/// The file listing placed wheels whose `after` hook has not succeeded yet.
pub fn pending_file(layout: &Layout) -> PathBuf {
    layout.publish.lock_file.with_extension("unpublished")
}

fn read_pending(path: &Path) -> Vec<PathBuf> {
    fs_err::read_to_string(path)
        .map(|text| {
            text.lines()
                .filter(|line| !line.is_empty())
                .map(PathBuf::from)
                .collect()
        })
        .unwrap_or_default()
}

fn write_pending(path: &Path, files: &[PathBuf]) -> std::io::Result<()> {
    if files.is_empty() {
        return match fs_err::remove_file(path) {
            Err(error) if error.kind() != ErrorKind::NotFound => Err(error),
            _ => Ok(()),
        };
    }
    let mut text = String::new();
    for file in files {
        text.push_str(&file.to_string_lossy());
        text.push('\n');
    }
    let directory = path.parent().unwrap_or(Path::new("."));
    let mut temp = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .tempfile_in(directory)?;
    std::io::Write::write_all(&mut temp, text.as_bytes())?;
    temp.as_file().sync_all()?;
    temp.persist(path).map_err(|error| error.error)?;
    Ok(())
}

fn shell_command(command: &str) -> std::process::Command {
    let mut process = std::process::Command::new("sh");
    process.arg("-c").arg(command);
    process
}

/// Runs the `before` hook.
fn run_before(layout: &Layout) -> Result<(), PlaceError> {
    let Some(command) = &layout.publish.before else {
        return Ok(());
    };
    tracing::info!("publish hook (before): {command}");
    let status = shell_command(command)
        .env("WHEELWRIGHT_ROOT", &layout.root)
        .stdin(std::process::Stdio::null())
        .status()
        .map_err(|error| PlaceError::Before(format!("`{command}` cannot start: {error}")))?;
    if status.success() {
        Ok(())
    } else {
        Err(PlaceError::Before(format!("`{command}` exited with {status}")))
    }
}

/// Runs the `after` hook on `files` (pending ones of earlier runs included); on failure the
/// files are written to the pending list for `--publish-only`.
fn run_after(layout: &Layout, files: Vec<PathBuf>) -> Result<Option<PublishOutcome>, PlaceError> {
    let Some(template) = &layout.publish.after else {
        return Ok(None);
    };
    let pending_path = pending_file(layout);
    let mut all = read_pending(&pending_path);
    for file in files {
        if !all.contains(&file) {
            all.push(file);
        }
    }
    if all.is_empty() {
        return Ok(None);
    }
    let quoted: Vec<String> = all
        .iter()
        .map(|file| crate::tools::shell_quote(&file.to_string_lossy()))
        .collect();
    let mut context = tera::Context::new();
    context.insert("root", &crate::tools::shell_quote(&layout.root.to_string_lossy()));
    context.insert("files", &quoted.join(" "));
    context.insert("count", &all.len());
    let command = match tera::Tera::one_off(template, &context, false) {
        Ok(command) => command,
        Err(error) => {
            return finish_after(
                layout,
                template.clone(),
                all,
                Some(format!("the `after` template does not render: {error}")),
            );
        }
    };
    tracing::info!("publish hook (after): {command}");
    let listing: String = all.iter().map(|file| format!("{}\n", file.display())).collect();
    let result = shell_command(&command)
        .env("WHEELWRIGHT_ROOT", &layout.root)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            if let Some(mut stdin) = child.stdin.take() {
                // A hook that does not read its stdin closes it early: not an error.
                let _ = std::io::Write::write_all(&mut stdin, listing.as_bytes());
            }
            child.wait()
        });
    let failure = match result {
        Ok(status) if status.success() => None,
        Ok(status) => Some(format!("`{command}` exited with {status}")),
        Err(error) => Some(format!("`{command}` cannot start: {error}")),
    };
    finish_after(layout, command, all, failure)
}

fn finish_after(
    layout: &Layout,
    command: String,
    files: Vec<PathBuf>,
    failure: Option<String>,
) -> Result<Option<PublishOutcome>, PlaceError> {
    let pending_path = pending_file(layout);
    let ok = failure.is_none();
    let pending = if ok { Vec::new() } else { files.clone() };
    write_pending(&pending_path, &pending).map_err(|error| PlaceError::Pending {
        path: pending_path.clone(),
        error,
    })?;
    Ok(Some(PublishOutcome {
        command,
        files,
        ok,
        message: failure,
        pending_file: (!ok).then_some(pending_path),
    }))
}

/// Removes temporary files that killed runs left (only called with the lock held, so no
/// live writer owns them).
fn clean_stale(tree: &Tree) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    for path in &tree.stale_temps {
        match fs_err::remove_file(path) {
            Ok(()) => removed.push(path.clone()),
            Err(error) => tracing::warn!("cannot remove a stale temporary file: {error}"),
        }
    }
    removed
}

/// cp-wheels: checks `sources`, places what passes, and says what happened to each.
pub fn place_wheels(
    sources: &[PathBuf],
    layout: &Layout,
    options: &Options,
    progress: &(dyn Fn(&Path) + Sync),
) -> Result<Report, PlaceError> {
    let started = std::time::Instant::now();
    let checked = check_all(sources, layout, options, progress);
    tracing::debug!(
        "checked {} wheel(s) in {:.3}s",
        sources.len(),
        started.elapsed().as_secs_f64()
    );
    let root = layout.root.clone();
    if !options.dry_run && !root.is_dir() {
        fs_err::create_dir_all(&root).map_err(|error| PlaceError::Root {
            path: root.clone(),
            error,
        })?;
        tracing::info!("created the wheelhouse root `{}`", root.display());
    }
    let _lock = if options.dry_run {
        None
    } else {
        Some(lock_tree(layout)?)
    };
    let mut tree = Tree::read(layout).map_err(|error| PlaceError::Tree {
        root: root.clone(),
        error,
    })?;
    for path in &tree.unparsable {
        tracing::warn!(
            "`{}` in the tree is not a valid wheel filename; ignored",
            path.display()
        );
    }
    let stale_temps = if options.dry_run {
        tree.stale_temps.clone()
    } else {
        clean_stale(&tree)
    };
    tracing::debug!(
        "read the tree ({} wheels in {} directories) at {:.3}s",
        tree.wheels.len(),
        tree.dirs.len(),
        started.elapsed().as_secs_f64()
    );
    let mut decisions = decide(&mut tree, checked, options);
    tracing::debug!("decided at {:.3}s", started.elapsed().as_secs_f64());
    let refused = decisions
        .iter()
        .any(|decision| decision.outcome.action == Action::Refuse);
    if refused && !options.keep_going {
        for decision in &mut decisions {
            if matches!(decision.outcome.action, Action::Place | Action::Replace) {
                decision.outcome.action = Action::Held;
                decision.outcome.reason =
                    Some("held back: other wheels were refused (--keep-going places the rest)".to_string());
            }
        }
    }
    let mut report = Report {
        root,
        dry_run: options.dry_run,
        wheels: Vec::new(),
        stale_temps,
        publish: None,
    };
    if options.dry_run {
        report.wheels = decisions.into_iter().map(|decision| decision.outcome).collect();
        return Ok(report);
    }
    let to_place = decisions
        .iter()
        .any(|decision| matches!(decision.outcome.action, Action::Place | Action::Replace));
    if to_place {
        run_before(layout)?;
        execute(&mut tree, &mut decisions, layout, options);
        tracing::debug!("placed at {:.3}s", started.elapsed().as_secs_f64());
    }
    if options.remove {
        for decision in &mut decisions {
            let outcome = &mut decision.outcome;
            if matches!(
                outcome.action,
                Action::Place | Action::Replace | Action::Unchanged
            ) {
                // The source may be the very file in the tree (cp-wheels run inside it).
                let is_placed_file = outcome.path.as_ref().is_some_and(|path| {
                    match (fs_err::canonicalize(path), fs_err::canonicalize(&outcome.source)) {
                        (Ok(placed), Ok(source)) => placed == source,
                        _ => false,
                    }
                });
                if is_placed_file {
                    outcome
                        .warnings
                        .push("the source is the wheel in the tree: not removed".to_string());
                    continue;
                }
                match fs_err::remove_file(&outcome.source) {
                    Ok(()) => outcome.source_removed = true,
                    Err(error) => outcome
                        .warnings
                        .push(format!("cannot remove the source: {error}")),
                }
            }
        }
    }
    let placed: Vec<PathBuf> = decisions
        .iter()
        .filter(|decision| matches!(decision.outcome.action, Action::Place | Action::Replace))
        .filter_map(|decision| decision.outcome.path.clone())
        .collect();
    if to_place {
        report.publish = run_after(layout, placed)?;
    }
    report.wheels = decisions.into_iter().map(|decision| decision.outcome).collect();
    Ok(report)
}

/// `cp-wheels --publish-only`: runs the `after` hook on the files earlier runs placed but
/// could not publish.
pub fn publish_pending(layout: &Layout) -> Result<Option<PublishOutcome>, PlaceError> {
    let _lock = lock_tree(layout)?;
    run_after(layout, Vec::new())
}
