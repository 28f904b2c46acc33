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
mod convert;
mod map;
mod stack;
mod write;

use bash::{BashOptions, Job, Sourced};
use convert::Context;
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

/// The cells' distinct stacks (cells with the same variables are sourced once), and the
/// stack of each cell.
fn distinct_stacks(cells: &[StackCell]) -> (Vec<StackCell>, Vec<usize>) {
    let mut stacks: Vec<StackCell> = Vec::new();
    let mut stack_of_cell = Vec::with_capacity(cells.len());
    for cell in cells {
        match stacks.iter().position(|stack| stack.variables == cell.variables) {
            Some(index) => stack_of_cell.push(index),
            None => {
                stack_of_cell.push(stacks.len());
                stacks.push(cell.clone());
            }
        }
    }
    (stacks, stack_of_cell)
}

/// Every job of every file: the newest version on each stack, and the oldest once for
/// generic files; a versioned file's own version on each stack. With each job's kind, and
/// each file's first job.
fn sourcing_jobs(
    files: &[ConfigFile],
    groups: &BTreeMap<String, Group>,
    stacks: &[StackCell],
    baseline: &dyn Fn(&Group, &str) -> Baseline,
) -> (Vec<Job>, Vec<JobKind>, Vec<usize>) {
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
    (jobs, kinds, first_job)
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
    let (stacks, stack_of_cell) = distinct_stacks(&cells);
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

    let (jobs, kinds, first_job) = sourcing_jobs(&files, &groups, &stacks, &baseline);
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
