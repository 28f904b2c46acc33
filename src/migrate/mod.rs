//! `wheelwright recipe import --from-wheels-builder`: ComputeCanada `build_wheel.sh` configs
//! (`config/<package>.sh`, `config/<package>-<version>.sh`) made into recipes.
//!
//! Each config is sourced by bash, as `build_wheel.sh` sources it, once for every layer and
//! arch of the layout (the stack variables of [`stack`]), in a sandbox and in batches
//! ([`bash`]); what it set is mapped to recipe keys, and values that differ per layer or arch
//! become template conditions ([`map`]); `<package>-<version>.sh` files become `versions`
//! entries (`when: "==<version>"`: `build_wheel.sh` takes that file instead of
//! `<package>.sh` for exactly that version). Each recipe is written only once it passes the
//! checks of `wheelwright recipe check` and reads back as meant ([`write`]). What has no
//! recipe equivalent is kept as a YAML comment and a note in the report, never dropped
//! silently.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use pep440_rs::{Version, VersionSpecifiers};

use crate::layout::Layout;
use crate::spec::normalize_name;

mod bash;
mod map;
mod stack;
mod write;

use bash::{BashOptions, Job, Sourced};
use map::{Baseline, Draft, Key, MapContext, NEWEST_VERSION, Note, OLDEST_VERSION, Value};
pub use stack::{StackCell, StackOverride, stack_cells};
use write::{Document, VersionEntry};

/// Why an import could not run at all (a config that cannot be imported is refused in the
/// report instead).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read the config directory {path}: {message}")]
    ConfigDirectory { path: PathBuf, message: String },
    #[error("cannot prepare the output directory {path}: {message}")]
    Output { path: PathBuf, message: String },
    #[error("cannot run bash ({bash}): {message}")]
    Bash { bash: PathBuf, message: String },
    #[error("{0}")]
    Io(String),
}

impl ImportError {
    fn from_io(error: std::io::Error) -> Self {
        ImportError::Io(error.to_string())
    }
}

/// What to import, and how.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// The `config/` directory of a wheels_builder checkout.
    pub config_directory: PathBuf,
    /// Where the configs' `PATCHES` are [default: `<config>/../patches`].
    pub patches_directory: Option<PathBuf>,
    /// Where the recipes (and `patches/`) go.
    pub output_directory: PathBuf,
    /// Replace recipes (and patch files) already there.
    pub force: bool,
    /// Stack variables over the table of [`stack`].
    pub stack: Vec<StackOverride>,
    /// The bash to source with [default: `bash` on PATH].
    pub bash: Option<PathBuf>,
    /// The time one config may take to source.
    pub timeout: Duration,
    /// Batches sourced at once.
    pub threads: usize,
}

/// What became of one config file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileStatus {
    Converted,
    ConvertedWithNotes,
    Refused,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct FileReport {
    pub config: PathBuf,
    pub package: String,
    /// The version of a `<package>-<version>.sh` file.
    pub version: Option<String>,
    pub status: FileStatus,
    /// The recipe it went into.
    pub recipe: Option<PathBuf>,
    /// What the recipe does not carry, or carries differently (also comments in it).
    pub notes: Vec<String>,
    /// Why it was refused.
    pub reason: Option<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ImportReport {
    pub converted: usize,
    pub converted_with_notes: usize,
    pub refused: usize,
    pub files: Vec<FileReport>,
}

/// One config file, named `<package>.sh` or `<package>-<version>.sh`.
#[derive(Debug, Clone)]
struct ConfigFile {
    path: PathBuf,
    version: Option<String>,
}

/// The configs of one package.
#[derive(Debug, Clone, Default)]
struct Group {
    package: String,
    generic: Option<usize>,
    versioned: Vec<usize>,
    /// Files refused before sourcing, with the reason.
    refused: Vec<(usize, String)>,
}

/// Splits `name-1.2.3` into the package and the version, when the tail is a PEP 440
/// version (with a dot, or next to a `name.sh`).
fn split_version(stem: &str, generic_stems: &BTreeSet<String>) -> (String, Option<String>) {
    let mut search = stem.len();
    while let Some(dash) = stem[..search].rfind('-') {
        let (name, version) = (&stem[..dash], &stem[dash + 1..]);
        if version.starts_with(|c: char| c.is_ascii_digit())
            && Version::from_str(version).is_ok()
            && !name.is_empty()
            && (version.contains('.') || generic_stems.contains(&normalize_name(name)))
        {
            return (name.to_string(), Some(version.to_string()));
        }
        search = dash;
    }
    (stem.to_string(), None)
}

/// The config files of a directory, grouped by package (normalised name).
fn read_configs(directory: &Path) -> Result<(Vec<ConfigFile>, BTreeMap<String, Group>), ImportError> {
    let entries = fs_err::read_dir(directory).map_err(|error| ImportError::ConfigDirectory {
        path: directory.to_path_buf(),
        message: error.to_string(),
    })?;
    let mut paths: Vec<PathBuf> = entries
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|extension| extension == "sh") && path.is_file())
        .collect();
    paths.sort();
    let stem = |path: &Path| -> String {
        path.file_stem()
            .map(|stem| stem.to_string_lossy().to_string())
            .unwrap_or_default()
    };
    let generic_stems: BTreeSet<String> = paths.iter().map(|path| normalize_name(&stem(path))).collect();
    let mut files = Vec::new();
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    for path in paths {
        let (package, version) = split_version(&stem(&path), &generic_stems);
        let index = files.len();
        files.push(ConfigFile {
            path,
            version: version.clone(),
        });
        let group = groups.entry(normalize_name(&package)).or_default();
        match version {
            None if let Some(first) = group.generic => group.refused.push((
                index,
                format!(
                    "{} is for the same package (the names differ only in case, `-`, `_` or `.`); build_wheel.sh cannot tell them apart",
                    files[first].path.display()
                ),
            )),
            None => {
                group.generic = Some(index);
                group.package = package;
            }
            Some(_) => {
                if group.package.is_empty() {
                    group.package = package;
                }
                group.versioned.push(index);
            }
        }
    }
    Ok((files, groups))
}

/// What one job is for.
#[derive(Debug, Clone, Copy)]
enum JobKind {
    /// The newest version, on one distinct stack.
    Newest(usize),
    /// The oldest version, on the first stack.
    Oldest,
}

/// The outcome of one package.
struct PackageOutcome {
    files: Vec<FileReport>,
}

/// Imports every config of `options.config_directory` into `options.output_directory`.
pub fn import_configs(options: &ImportOptions, layout: &Layout) -> Result<ImportReport, ImportError> {
    let config_directory =
        std::path::absolute(&options.config_directory).map_err(|error| ImportError::ConfigDirectory {
            path: options.config_directory.clone(),
            message: error.to_string(),
        })?;
    let patches_directory = options.patches_directory.clone().unwrap_or_else(|| {
        config_directory
            .parent()
            .unwrap_or(Path::new("/"))
            .join("patches")
    });
    let (files, groups) = read_configs(&config_directory)?;
    let output = &options.output_directory;
    fs_err::create_dir_all(output).map_err(|error| ImportError::Output {
        path: output.clone(),
        message: error.to_string(),
    })?;

    let cells = stack_cells(layout, &options.stack);
    // Cells with the same variables are sourced once.
    let mut stacks: Vec<StackCell> = Vec::new();
    let mut stack_of_cell = Vec::with_capacity(cells.len());
    for cell in &cells {
        match stacks.iter().position(|stack| stack.variables == cell.variables) {
            Some(index) => stack_of_cell.push(index),
            None => {
                stack_of_cell.push(stacks.len());
                stacks.push(cell.clone());
            }
        }
    }
    let script_directory = config_directory
        .parent()
        .unwrap_or(Path::new("/"))
        .display()
        .to_string();
    let baseline = |group: &Group, version: &str| Baseline {
        package: group.package.clone(),
        version: version.to_string(),
        config_directory: config_directory.display().to_string(),
        script_directory: script_directory.clone(),
        python_versions: layout.python_versions.clone(),
    };

    // Every job of every file: the newest version on each stack, and the oldest once for
    // generic files; a versioned file's own version on each stack.
    let mut jobs = Vec::new();
    let mut kinds = Vec::new();
    let mut first_job = vec![usize::MAX; files.len()];
    for group in groups.values() {
        let mut sourced: Vec<usize> = group.generic.into_iter().collect();
        sourced.extend(&group.versioned);
        for file in sourced {
            first_job[file] = jobs.len();
            let version = files[file]
                .version
                .clone()
                .unwrap_or_else(|| NEWEST_VERSION.to_string());
            let base = baseline(group, &version);
            for (index, stack) in stacks.iter().enumerate() {
                jobs.push(Job {
                    config: file,
                    assignments: base.assignments(stack),
                });
                kinds.push(JobKind::Newest(index));
            }
            if files[file].version.is_none() {
                jobs.push(Job {
                    config: file,
                    assignments: baseline(group, OLDEST_VERSION).assignments(&stacks[0]),
                });
                kinds.push(JobKind::Oldest);
            }
        }
    }
    let bash = options.bash.clone().unwrap_or_else(|| {
        crate::tools::find_program(Path::new("bash")).unwrap_or_else(|_| PathBuf::from("/bin/bash"))
    });
    let bash_options = BashOptions {
        bash,
        timeout: options.timeout,
        threads: options.threads,
    };
    let paths: Vec<PathBuf> = files.iter().map(|file| file.path.clone()).collect();
    let started = std::time::Instant::now();
    let results = bash::source_all(&paths, &jobs, &bash_options)?;
    tracing::info!(
        "sourced {} configs in {} jobs ({} stacks) in {:.2} s",
        files.len(),
        jobs.len(),
        stacks.len(),
        started.elapsed().as_secs_f64()
    );

    let job_files: Vec<usize> = jobs.iter().map(|job| job.config).collect();
    let context = Context {
        job_files: &job_files,
        files: &files,
        cells: &cells,
        stacks: &stacks,
        stack_of_cell: &stack_of_cell,
        results: &results,
        kinds: &kinds,
        first_job: &first_job,
        patches_directory: &patches_directory,
        output,
        force: options.force,
        layout,
    };
    let mut reports = Vec::new();
    for (name, group) in &groups {
        let outcome = context.package(name, group, &baseline);
        reports.extend(outcome.files);
    }
    reports.sort_by(|a, b| a.config.cmp(&b.config));
    let count = |status: FileStatus| reports.iter().filter(|file| file.status == status).count();
    Ok(ImportReport {
        converted: count(FileStatus::Converted),
        converted_with_notes: count(FileStatus::ConvertedWithNotes),
        refused: count(FileStatus::Refused),
        files: reports,
    })
}

/// Everything the conversion of one package reads.
struct Context<'a> {
    /// The file of each job.
    job_files: &'a [usize],
    files: &'a [ConfigFile],
    cells: &'a [StackCell],
    stacks: &'a [StackCell],
    stack_of_cell: &'a [usize],
    results: &'a [Sourced],
    kinds: &'a [JobKind],
    first_job: &'a [usize],
    patches_directory: &'a Path,
    output: &'a Path,
    force: bool,
    layout: &'a Layout,
}

/// A file's drafts, one per cell, or why it cannot be imported.
type Drafts = Result<(Vec<Draft>, Option<Draft>), String>;

fn describe_note(note: &Note) -> String {
    match note.key {
        Some(key) => format!("{key}: {}", note.message),
        None => note.message.clone(),
    }
}

/// Notes without repeats, in their first order.
fn unique(notes: impl IntoIterator<Item = Note>) -> Vec<Note> {
    let mut seen = BTreeSet::new();
    notes
        .into_iter()
        .filter(|note| seen.insert(note.clone()))
        .collect()
}

impl Context<'_> {
    fn report(&self, file: usize, package: &str, status: FileStatus) -> FileReport {
        FileReport {
            config: self.files[file].path.clone(),
            package: package.to_string(),
            version: self.files[file].version.clone(),
            status,
            recipe: None,
            notes: Vec::new(),
            reason: None,
        }
    }

    fn refused(&self, file: usize, package: &str, reason: String) -> FileReport {
        FileReport {
            reason: Some(reason),
            ..self.report(file, package, FileStatus::Refused)
        }
    }

    /// The drafts of one sourced file: one per cell (and the oldest version's, for a generic
    /// file), or why it was refused.
    fn drafts(&self, file: usize, baseline: &Baseline, oldest: &Baseline) -> Drafts {
        let first = self.first_job[file];
        let mut per_stack = Vec::new();
        let mut oldest_draft = None;
        for offset in 0.. {
            let index = first + offset;
            if index >= self.results.len() || self.job_files[index] != file {
                break;
            }
            let (stack, base) = match self.kinds[index] {
                JobKind::Newest(stack) => (stack, baseline),
                JobKind::Oldest => (0, oldest),
            };
            let where_ = format!("{}/{}", self.stacks[stack].layer, self.stacks[stack].arch);
            let dump = match &self.results[index] {
                Sourced::Done(dump) => dump,
                Sourced::Failed {
                    status,
                    output,
                    calls,
                } => {
                    let mut said = String::new();
                    if !output.is_empty() {
                        said = format!(": {}", output.split_whitespace().collect::<Vec<_>>().join(" "));
                    }
                    if !calls.is_empty() {
                        said.push_str(&format!(" (it called: {})", calls.join("; ")));
                    }
                    if matches!(self.kinds[index], JobKind::Oldest) {
                        tracing::debug!(
                            "{}: fails for old versions{said}",
                            self.files[file].path.display()
                        );
                        continue;
                    }
                    return Err(format!(
                        "the config stops with status {status} when sourced (on {where_}){said}"
                    ));
                }
                Sourced::TimedOut { output, calls } => {
                    let mut said = String::new();
                    if !output.is_empty() {
                        said = format!(
                            "; it printed: {}",
                            output.split_whitespace().collect::<Vec<_>>().join(" ")
                        );
                    }
                    if !calls.is_empty() {
                        said.push_str(&format!("; it called: {}", calls.join("; ")));
                    }
                    return Err(format!(
                        "the config was still running when its time was up (on {where_}){said}"
                    ));
                }
            };
            if dump.output.contains("syntax error") {
                return Err(format!(
                    "bash cannot read the config: {}",
                    dump.output.split_whitespace().collect::<Vec<_>>().join(" ")
                ));
            }
            let draft = map::draft(
                dump,
                &MapContext {
                    baseline: base,
                    stack: &self.stacks[stack],
                },
            );
            match self.kinds[index] {
                JobKind::Newest(_) => per_stack.push(draft),
                JobKind::Oldest => oldest_draft = Some(draft),
            }
        }
        if per_stack.len() != self.stacks.len() {
            return Err("the config was not sourced on every layer (an importer bug)".to_string());
        }
        let mut drafts: Vec<Draft> = self
            .stack_of_cell
            .iter()
            .map(|stack| per_stack[*stack].clone())
            .collect();
        for draft in &mut drafts {
            if let Some(renamed) = &draft.renamed_to {
                return Err(format!(
                    "the config sets PACKAGE={renamed}: it builds another package under its own name (wheelwright has one recipe per package; merge it into `{renamed}` by hand)"
                ));
            }
            self.check_patches(draft);
        }
        Ok((drafts, oldest_draft))
    }

    /// Leaves out of a draft the patches that are missing or named by version, with notes;
    /// the files of a patch named by version (`fix-<version>.patch`) are still copied.
    fn check_patches(&self, draft: &mut Draft) {
        let mut missing = Vec::new();
        let mut versioned = Vec::new();
        let mut found = Vec::new();
        for patch in &draft.patches {
            if let Some((before, after)) = patch.split_once(NEWEST_VERSION) {
                let mut matching: Vec<String> = fs_err::read_dir(self.patches_directory)
                    .into_iter()
                    .flatten()
                    .flatten()
                    .map(|entry| entry.file_name().to_string_lossy().to_string())
                    .filter(|name| {
                        name.len() > before.len() + after.len()
                            && name.starts_with(before)
                            && name.ends_with(after)
                    })
                    .collect();
                matching.sort();
                found.extend(matching.iter().cloned());
                versioned.push((patch.clone(), matching));
            } else if !self.patches_directory.join(patch).is_file() {
                missing.push(patch.clone());
            }
        }
        let dropped: Vec<&String> = missing
            .iter()
            .chain(versioned.iter().map(|(patch, _)| patch))
            .collect();
        draft.patches.retain(|patch| !dropped.contains(&patch));
        draft.patches.extend(found);
        if let Some(Value::List(items)) = draft.values.get_mut(&Key::Patches) {
            items.retain(|item| !dropped.contains(&item));
            if items.is_empty() {
                draft.values.remove(&Key::Patches);
            }
        }
        for patch in missing {
            draft.notes.push(Note {
                key: Some(Key::Patches),
                message: format!(
                    "the patch `{patch}` is not in {}; left out (copy it to patches/ and add it)",
                    self.patches_directory.display()
                ),
            });
        }
        for (patch, matching) in versioned {
            draft.notes.push(Note {
                key: Some(Key::Patches),
                message: format!(
                    "the patch name `{}` depends on the version (build_wheel.sh applied the file of the version built); left out; {}: add each under a `versions` entry",
                    patch.replace(NEWEST_VERSION, "<version>"),
                    if matching.is_empty() { "no such file was found".to_string() } else { format!("copied to patches/: {}", matching.join(", ")) }
                ),
            });
        }
    }

    fn package(
        &self,
        name: &str,
        group: &Group,
        baseline: &dyn Fn(&Group, &str) -> Baseline,
    ) -> PackageOutcome {
        let package = group.package.as_str();
        let mut files: Vec<FileReport> = group
            .refused
            .iter()
            .map(|(file, reason)| self.refused(*file, package, reason.clone()))
            .collect();
        let mut sourced: Vec<usize> = group.generic.into_iter().collect();
        sourced.extend(&group.versioned);
        let refuse_all = |files: &mut Vec<FileReport>, reason: String| {
            for file in &sourced {
                files.push(self.refused(*file, package, reason.clone()));
            }
        };
        let recipe_path = self
            .output
            .join(format!("{name}.{}", crate::recipe::RECIPE_EXTENSION));
        if recipe_path.exists() && !self.force {
            refuse_all(
                &mut files,
                format!("{} exists (use --force to replace it)", recipe_path.display()),
            );
            return PackageOutcome { files };
        }

        let mut document = Document {
            package: package.to_string(),
            ..Default::default()
        };
        let mut generic_drafts: Vec<Draft> = vec![Draft::default(); self.cells.len()];
        let mut generic_notes: Vec<Note> = Vec::new();
        let mut sources: Vec<String> = Vec::new();
        if let Some(generic) = group.generic {
            let newest = baseline(group, NEWEST_VERSION);
            let oldest = baseline(group, OLDEST_VERSION);
            match self.drafts(generic, &newest, &oldest) {
                Err(reason) => {
                    let others = if group.versioned.is_empty() {
                        String::new()
                    } else {
                        " (the package's versioned configs are refused with it)".to_string()
                    };
                    files.push(self.refused(generic, package, reason.clone()));
                    for file in &group.versioned {
                        files.push(self.refused(
                            *file,
                            package,
                            format!("the package's generic config is refused: {reason}"),
                        ));
                    }
                    tracing::debug!("{package}: refused{others}");
                    return PackageOutcome { files };
                }
                Ok((drafts, oldest_draft)) => {
                    let (top, notes) = map::merge_cells(self.cells, &drafts);
                    document.top = top;
                    generic_notes.extend(drafts.iter().flat_map(|draft| draft.notes.clone()));
                    generic_notes.extend(notes);
                    generic_notes.extend(version_notes(&drafts[0], oldest_draft.as_ref()));
                    generic_notes.extend(leftover_version(&drafts));
                    generic_drafts = drafts;
                }
            }
            sources.push(self.files[generic].path.display().to_string());
        }

        // Versioned files: entries with what differs from the generic config at that version.
        let mut entries: Vec<(usize, Version, VersionEntry, Vec<Note>)> = Vec::new();
        let mut versioned_drafts: Vec<Vec<Draft>> = Vec::new();
        for &file in &group.versioned {
            let version_text = self.files[file].version.clone().unwrap_or_default();
            let when = format!("=={version_text}");
            let (Ok(version), Ok(_)) = (
                Version::from_str(&version_text),
                VersionSpecifiers::from_str(&when),
            ) else {
                files.push(self.refused(
                    file,
                    package,
                    format!("`{version_text}` is not a PEP 440 version"),
                ));
                continue;
            };
            let at_version = baseline(group, &version_text);
            match self.drafts(file, &at_version, &at_version) {
                Err(reason) => files.push(self.refused(file, package, reason)),
                Ok((drafts, _)) => {
                    let (values, mut notes) =
                        versioned_values(self.cells, &generic_drafts, &drafts, &version_text);
                    notes.splice(0..0, drafts.iter().flat_map(|draft| draft.notes.clone()));
                    let notes = unique(notes);
                    let mut comments = vec![format!(
                        "from {} (build_wheel.sh takes it instead of the generic config for exactly {version_text})",
                        self.files[file]
                            .path
                            .file_name()
                            .map(|name| name.to_string_lossy().to_string())
                            .unwrap_or_default()
                    )];
                    comments.extend(notes.iter().map(describe_note));
                    entries.push((
                        file,
                        version,
                        VersionEntry {
                            when,
                            sample: version_text,
                            comments,
                            values,
                        },
                        notes,
                    ));
                    versioned_drafts.push(drafts);
                    sources.push(self.files[file].path.display().to_string());
                }
            }
        }
        entries.sort_by(|a, b| a.1.cmp(&b.1));
        document.versions = entries.iter().map(|(_, _, entry, _)| entry.clone()).collect();

        let generic_notes = unique(generic_notes);
        document.header = vec![
            format!(
                "Imported by `wheelwright recipe import` from {}.",
                sources.join(", ")
            ),
            "Review the notes below: what build_wheel.sh did that this recipe does not, or does otherwise."
                .to_string(),
        ];
        for note in &generic_notes {
            match note.key.filter(|key| document.top.contains_key(key)) {
                Some(key) => document
                    .comments
                    .entry(key)
                    .or_default()
                    .push(note.message.clone()),
                None => document.header.push(describe_note(note)),
            }
        }

        // Patches, then the recipe: checked, then moved into place.
        let patch_names: BTreeSet<String> = generic_drafts
            .iter()
            .chain(versioned_drafts.iter().flatten())
            .flat_map(|draft| draft.patches.iter().cloned())
            .collect();
        let patch_names: Vec<String> = patch_names.into_iter().collect();
        let patches_out = self.output.join(crate::recipe::PATCHES_DIRECTORY);
        let created =
            match write::copy_patches(&patch_names, self.patches_directory, &patches_out, self.force) {
                Ok(created) => created,
                Err(reason) => {
                    refuse_all(&mut files, reason);
                    return PackageOutcome { files };
                }
            };
        let text = document.to_yaml();
        let written = write::check(&text, &recipe_path, &document, self.cells, self.layout).and_then(|()| {
            write::write_atomically(&recipe_path, text.as_bytes())
                .map_err(|error| format!("{}: {error}", recipe_path.display()))
        });
        if let Err(reason) = written {
            for path in created {
                let _ = fs_err::remove_file(path);
            }
            let done: BTreeSet<PathBuf> = files.iter().map(|file| file.config.clone()).collect();
            for file in &sourced {
                if !done.contains(&self.files[*file].path) {
                    files.push(self.refused(*file, package, format!("the recipe fails its check: {reason}")));
                }
            }
            return PackageOutcome { files };
        }

        // The report of each converted file.
        let converted = |file: usize, notes: &[Note]| {
            let status = if notes.is_empty() {
                FileStatus::Converted
            } else {
                FileStatus::ConvertedWithNotes
            };
            FileReport {
                recipe: Some(recipe_path.clone()),
                notes: notes.iter().map(describe_note).collect(),
                ..self.report(file, package, status)
            }
        };
        if let Some(generic) = group.generic {
            files.push(converted(generic, &generic_notes));
        }
        for (file, _, _, notes) in &entries {
            files.push(converted(*file, notes));
        }
        PackageOutcome { files }
    }
}

/// Notes for keys whose value at the oldest version differs (other than by the version's
/// text) from the newest's: the config tests the version.
fn version_notes(newest: &Draft, oldest: Option<&Draft>) -> Vec<Note> {
    let Some(oldest) = oldest else {
        return vec![Note {
            key: None,
            message: format!(
                "the config stops when sourced for an old version ({OLDEST_VERSION}): it refuses some versions, which the recipe does not"
            ),
        }];
    };
    let keys: BTreeSet<Key> = newest
        .values
        .keys()
        .chain(oldest.values.keys())
        .copied()
        .collect();
    let mut notes = Vec::new();
    for key in keys {
        let old = oldest
            .values
            .get(&key)
            .map(|value| map::replace_in(value, OLDEST_VERSION, NEWEST_VERSION));
        if old.as_ref() != newest.values.get(&key) {
            notes.push(Note {
                key: Some(key),
                message: format!(
                    "depends on the version beyond its text (the config compares VERSION): for old versions it is {}; the recipe has the newest versions' value (add a `versions` entry)",
                    map::describe(old.as_ref())
                ),
            });
        }
    }
    notes
}

/// Notes for values that keep a part of the version (`${VERSION%.*}`) that cannot be
/// written as `{{ version }}`.
fn leftover_version(drafts: &[Draft]) -> Vec<Note> {
    let part = NEWEST_VERSION.split('.').next().unwrap_or(NEWEST_VERSION);
    let mut notes = Vec::new();
    for draft in drafts {
        for (key, value) in &draft.values {
            let text = map::describe(Some(value));
            if text.replace("<version>", "").contains(part) {
                notes.push(Note {
                    key: Some(*key),
                    message: "uses a part of the version (like `${VERSION%.*}`), written as the imported stand-in: rewrite it with `{{ version }}` and tera filters".to_string(),
                });
            }
        }
    }
    notes
}

/// The values of a versioned file that differ from the generic file's at that version (the
/// generic values cleared where the versioned file does not set them), merged over cells.
fn versioned_values(
    cells: &[StackCell],
    generic: &[Draft],
    versioned: &[Draft],
    version: &str,
) -> (BTreeMap<Key, map::Written>, Vec<Note>) {
    let mut keys: BTreeSet<Key> = BTreeSet::new();
    for draft in generic.iter().chain(versioned) {
        keys.extend(draft.values.keys().copied());
    }
    let mut written = BTreeMap::new();
    let mut notes = Vec::new();
    for key in keys {
        let generic_values: Vec<Option<Value>> = generic
            .iter()
            .map(|draft| {
                draft
                    .values
                    .get(&key)
                    .map(|value| map::replace_in(value, NEWEST_VERSION, version))
            })
            .collect();
        let versioned_values: Vec<Option<Value>> = versioned
            .iter()
            .map(|draft| draft.values.get(&key).cloned())
            .collect();
        if generic_values == versioned_values {
            continue;
        }
        if key == Key::ArchSpecific {
            if versioned_values
                .iter()
                .any(|value| matches!(value, Some(Value::Flag(true))))
            {
                written.insert(key, map::Written::Flag(true));
            }
            continue;
        }
        let values: Vec<Option<Value>> = if key == Key::Environment {
            // Variables only the generic config exports are set empty; unchanged ones left out.
            generic_values
                .iter()
                .zip(&versioned_values)
                .map(|(generic, versioned)| {
                    let empty = BTreeMap::new();
                    let generic_map = match generic {
                        Some(Value::Map(map)) => map,
                        _ => &empty,
                    };
                    let versioned_map = match versioned {
                        Some(Value::Map(map)) => map,
                        _ => &empty,
                    };
                    let mut changes = BTreeMap::new();
                    for (name, value) in versioned_map {
                        if generic_map.get(name) != Some(value) {
                            changes.insert(name.clone(), value.clone());
                        }
                    }
                    for name in generic_map
                        .keys()
                        .filter(|name| !versioned_map.contains_key(*name))
                    {
                        changes.insert(name.clone(), String::new());
                        notes.push(Note {
                            key: Some(Key::Environment),
                            message: format!(
                                "{name} is exported by the generic config only: set empty for this version"
                            ),
                        });
                    }
                    Some(Value::Map(changes))
                })
                .collect()
        } else {
            versioned_values
                .iter()
                .zip(&generic_values)
                .map(|(versioned, generic)| match (versioned, generic) {
                    (Some(value), _) => Some(value.clone()),
                    (None, Some(generic)) => Some(map::cleared(generic)),
                    (None, None) => None,
                })
                .collect()
        };
        let references: Vec<Option<&Value>> = values.iter().map(Option::as_ref).collect();
        if let Some(value) = map::merge_key(cells, key, &references, &mut notes) {
            written.insert(key, value);
        }
    }
    (written, notes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_give_the_package_and_the_version() {
        let generic: BTreeSet<String> = ["numpy", "qiskit-aer-gpu-0-9-1", "foo"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            split_version("numpy-1.26", &generic),
            ("numpy".into(), Some("1.26".into()))
        );
        assert_eq!(
            split_version("qiskit-aer-gpu-0.9.1", &generic),
            ("qiskit-aer-gpu".into(), Some("0.9.1".into()))
        );
        assert_eq!(
            split_version("Fiona-1.9a2", &generic),
            ("Fiona".into(), Some("1.9a2".into()))
        );
        assert_eq!(split_version("foo-2", &generic), ("foo".into(), Some("2".into())));
        assert_eq!(split_version("bar-2", &generic), ("bar-2".into(), None));
        assert_eq!(
            split_version("PyPrismatic-cpu", &generic),
            ("PyPrismatic-cpu".into(), None)
        );
        assert_eq!(
            split_version("Box2D-kengz", &generic),
            ("Box2D-kengz".into(), None)
        );
    }
}
