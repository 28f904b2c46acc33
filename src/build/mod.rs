//! The build: for one package, per cell (Python x arch), fetch the source once, build with a
//! real frontend, post-process the wheel, smoke-test it in a fresh environment, and report.

pub mod backend;
mod cell;
pub mod dependencies;
pub mod environment;
pub mod index;
pub mod pkg_info;
pub mod post_process;
pub mod record;
pub mod smoke_test;
pub mod source;
mod stage;

pub use stage::FAILED_DIRECTORY;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use crate::layout::{Layout, PythonVersion};
use crate::recipe::{ResolvedRecipe, TemplateContext};
use crate::tools::{Invocation, find_python, run_shell};

use environment::Environment;
use smoke_test::{SmokeReport, SmokeTest, smoke_test};

/// What to build.
#[derive(Debug, Clone)]
pub struct BuildRequest {
    pub package: String,
    pub version: Option<String>,
    pub pythons: Vec<PythonVersion>,
    pub archs: Vec<String>,
    pub layer: String,
    /// Where finished wheels are staged.
    pub output: PathBuf,
    /// Build directories and logs.
    pub work: PathBuf,
    /// Cached sources.
    pub cache: PathBuf,
    pub keep_build_dir: bool,
    /// Let the smoke test fetch dependencies the wheelhouse lacks from PyPI (`--no-pypi`
    /// turns it off).
    pub test_dependencies_from_pypi: bool,
    /// The CPU budget: cells built at once (each Python's archs one after the other), and
    /// the compiler parallelism they share.
    pub jobs: usize,
    /// Build the dependencies that the staging directory and the wheelhouse lack first.
    pub recursive: bool,
    /// Where recipes are looked up for dependencies built with `recursive`.
    pub recipes: Option<PathBuf>,
    /// A version specifier (`>=1.21,<3`) when `version` is not pinned: the newest match.
    pub requirement: Option<String>,
    /// The packages whose build asked for this one (to stop on cycles).
    pub ancestors: Vec<String>,
    /// The simple index for sources and build environments (`None`: PyPI).
    pub index_url: Option<String>,
}

/// A resolver of recipes for `package`: its recipe file in `recipes`, else PyPI defaults.
pub fn recipe_resolver(
    recipes: Option<&Path>,
    package: &str,
) -> anyhow::Result<impl Fn(&str, &TemplateContext) -> anyhow::Result<ResolvedRecipe> + Sync + use<>> {
    let file = match recipes {
        Some(directory) if directory.is_dir() => crate::recipe::find_recipe(directory, package)?,
        _ => None,
    };
    let package = package.to_string();
    Ok(
        move |version: &str, context: &TemplateContext| -> anyhow::Result<ResolvedRecipe> {
            match &file {
                Some(file) => {
                    let version: pep440_rs::Version = version
                        .parse()
                        .map_err(|error| anyhow::anyhow!("version `{version}`: {error}"))?;
                    Ok(file.resolve(&version, context)?)
                }
                None => Ok(crate::recipe::default_recipe(&package)),
            }
        },
    )
}

/// One cell of the matrix.
#[derive(Debug, Clone, Serialize)]
pub struct Cell {
    pub python: PythonVersion,
    pub arch: String,
}

/// The plan: cells in build order.
pub fn matrix(request: &BuildRequest, skip_python: &[PythonVersion]) -> Vec<Cell> {
    let mut cells = Vec::new();
    for arch in &request.archs {
        for python in &request.pythons {
            if !skip_python.contains(python) {
                cells.push(Cell {
                    python: *python,
                    arch: arch.clone(),
                });
            }
        }
    }
    cells
}

/// How one cell ended.
#[derive(Debug, Clone, Serialize)]
pub struct CellResult {
    pub python: String,
    pub arch: String,
    pub wheel: Option<PathBuf>,
    pub size: Option<u64>,
    pub sha256: Option<String>,
    /// `passed`, `failed`, `not run`.
    pub test: String,
    pub seconds: f64,
    pub error: Option<String>,
    pub log: PathBuf,
    /// Set when this cell reuses another cell's wheel (pure or abi3).
    pub same_as: Option<String>,
    pub notes: Vec<String>,
    /// The build record beside the staged (or failed) wheel.
    pub record: Option<PathBuf>,
    /// What the smoke test imported and where its dependencies came from, when it ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smoke_test: Option<SmokeReport>,
}

impl CellResult {
    fn new(cell: &Cell, log: PathBuf) -> Self {
        CellResult {
            python: cell.python.to_string(),
            arch: cell.arch.clone(),
            wheel: None,
            size: None,
            sha256: None,
            test: record::TestStatus::NotRun.as_str().into(),
            seconds: 0.0,
            error: None,
            log,
            same_as: None,
            notes: Vec::new(),
            record: None,
            smoke_test: None,
        }
    }

    /// Records how the smoke test went.
    fn record_test(&mut self, report: SmokeReport) {
        self.test = if report.passed { "passed" } else { "failed" }.into();
        self.notes.push(report.summary());
        if let Some(error) = &report.error {
            self.error = Some(error.clone());
        }
        self.smoke_test = Some(report);
    }

    fn label(&self) -> String {
        format!("{} {}", self.python, self.arch)
    }
}

/// The result of a package build.
#[derive(Debug, Clone, Serialize)]
pub struct BuildReport {
    pub package: String,
    pub version: String,
    pub source: Option<source::FetchedSource>,
    pub cells: Vec<CellResult>,
    pub march_native_rewritten: Vec<String>,
    pub seconds: f64,
    pub compile_seconds: f64,
    /// Dependencies built first (`--recursive`).
    pub dependencies: Vec<BuildReport>,
}

impl BuildReport {
    pub fn ok(&self) -> bool {
        !self.cells.is_empty()
            && self.cells.iter().all(|cell| cell.error.is_none())
            && self.dependencies.iter().all(BuildReport::ok)
    }
}

/// Rewrites `-march=native` in the sources to the arch's flag; returns the files changed.
fn rewrite_march_native(root: &Path, march: &str) -> Vec<String> {
    let mut changed = Vec::new();
    let skip = |name: &str| {
        let lower = name.to_ascii_lowercase();
        lower.starts_with("doc")
            || lower.starts_with("readme")
            || lower.starts_with("news")
            || lower.starts_with("changelog")
            || lower.ends_with(".md")
            || lower.ends_with(".rst")
            || lower.ends_with(".tex")
            || lower.ends_with(".txt") && lower.starts_with("install")
    };
    for entry in walkdir::WalkDir::new(root)
        .into_iter()
        .filter_entry(|entry| !skip(&entry.file_name().to_string_lossy()) && entry.file_name() != ".git")
        .flatten()
    {
        if !entry.file_type().is_file() || entry.metadata().map(|m| m.len()).unwrap_or(0) > 8 << 20 {
            continue;
        }
        let Ok(text) = fs_err::read_to_string(entry.path()) else {
            continue;
        };
        if text.contains("-march=native") {
            let replaced = text.replace("-march=native", &format!("-march={march}"));
            if fs_err::write(entry.path(), replaced).is_ok() {
                changed.push(
                    entry
                        .path()
                        .strip_prefix(root)
                        .unwrap_or(entry.path())
                        .display()
                        .to_string(),
                );
            }
        }
    }
    changed
}

/// Appends `suffix` to the distribution name where setup.py / pyproject.toml set it (as
/// build_wheel.sh's PACKAGE_SUFFIX did); an error when no file names it.
fn apply_package_suffix(root: &Path, package: &str, suffix: &str) -> anyhow::Result<Vec<String>> {
    let mut renamed = Vec::new();
    for file in ["setup.py", "pyproject.toml", "setup.cfg"] {
        let path = root.join(file);
        let Ok(text) = fs_err::read_to_string(&path) else {
            continue;
        };
        let mut changed = text.clone();
        for (before, after) in [
            (
                format!("name=\"{package}\""),
                format!("name=\"{package}{suffix}\""),
            ),
            (format!("name='{package}'"), format!("name='{package}{suffix}'")),
            (
                format!("name = \"{package}\""),
                format!("name = \"{package}{suffix}\""),
            ),
            (
                format!("name = '{package}'"),
                format!("name = '{package}{suffix}'"),
            ),
            (
                format!("name = {package}\n"),
                format!("name = {package}{suffix}\n"),
            ),
        ] {
            changed = changed.replace(&before, &after);
        }
        if changed != text {
            fs_err::write(&path, changed)?;
            renamed.push(file.to_string());
        }
    }
    if renamed.is_empty() {
        anyhow::bail!(
            "package_suffix `{suffix}`: no setup.py, pyproject.toml or setup.cfg sets name = `{package}`"
        );
    }
    Ok(renamed)
}

/// Builds, depth first, the requirements of `wheel` that neither the staging directory nor
/// the wheelhouse can satisfy.
fn build_dependencies(
    request: &BuildRequest,
    layout: &Layout,
    wheel: &Path,
    python: PythonVersion,
    progress: &(dyn Fn(&str) + Sync),
) -> anyhow::Result<Vec<BuildReport>> {
    let mut reports = Vec::new();
    let mut directories = vec![request.output.clone()];
    directories.extend(dependencies::wheelhouse_directories(layout));
    for requirement in dependencies::runtime_requirements(wheel, python)? {
        let name = requirement.name.to_string();
        if dependencies::available(&requirement, python, &directories) {
            continue;
        }
        if request
            .ancestors
            .iter()
            .chain(std::iter::once(&request.package))
            .any(|ancestor| crate::spec::normalize_name(ancestor) == name)
        {
            anyhow::bail!(
                "dependency cycle: {} -> {name}",
                request
                    .ancestors
                    .iter()
                    .chain(std::iter::once(&request.package))
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(" -> ")
            );
        }
        let specifier = dependencies::specifier_text(&requirement);
        progress(&format!(
            "{} needs {name}{specifier}, which is not at hand: building it first",
            request.package
        ));
        let mut ancestors = request.ancestors.clone();
        ancestors.push(request.package.clone());
        let dependency = BuildRequest {
            package: name.clone(),
            version: None,
            requirement: (!specifier.is_empty()).then_some(specifier),
            work: request.work.join("dependencies").join(&name),
            ancestors,
            ..request.clone()
        };
        let resolve = recipe_resolver(request.recipes.as_deref(), &name)?;
        reports.push(build_package(&dependency, layout, &resolve, progress)?);
    }
    Ok(reports)
}

/// Locks a mutex, taking the data even if another thread panicked while holding it.
fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}

/// A wheel that serves several cells.
#[derive(Debug, Clone)]
struct SharedWheel {
    wheel: PathBuf,
    /// The cell it was built for.
    from: String,
    pure: bool,
    /// For an abi3 wheel, the arch it serves.
    abi3_arch: Option<String>,
}

/// A cell's run: its result, and what staging needs to know.
struct CellRun {
    result: CellResult,
    /// The post-processed wheel (in the cell's directory until staged), when this cell built it.
    processed: Option<post_process::Processed>,
    record: Option<record::BuildRecord>,
    march_native_rewritten: Vec<String>,
    compile_seconds: f64,
}

/// Per-package state shared by the cells.
struct PackageBuild<'a> {
    request: &'a BuildRequest,
    layout: &'a Layout,
    interpreters: BTreeMap<PythonVersion, PathBuf>,
    fetched: source::FetchedSource,
    version: String,
    build_environments: std::sync::Mutex<BTreeMap<PythonVersion, Environment>>,
    /// Tool versions, asked once per Python.
    tools: std::sync::Mutex<BTreeMap<PythonVersion, record::ToolVersions>>,
    /// The CPU budget: (cells started, cells running, cells in all).
    budget: std::sync::Mutex<(usize, usize, usize)>,
}

impl PackageBuild<'_> {
    /// The cell's directory under the work directory.
    fn cell_dir(&self, cell: &Cell) -> PathBuf {
        self.request.work.join(format!("py{}-{}", cell.python, cell.arch))
    }

    /// A cell's share of the CPU budget: the budget over the cells that will be running
    /// alongside it (those running and those still to start, at most the budget).
    fn take_share(&self) -> usize {
        let mut budget = lock(&self.budget);
        let (started, running, total) = *budget;
        let waiting = total.saturating_sub(started);
        let alongside = (running + waiting).clamp(1, self.request.jobs.max(1));
        *budget = (started + 1, running + 1, total);
        (self.request.jobs / alongside).max(1)
    }

    fn release_share(&self) {
        let mut budget = lock(&self.budget);
        budget.1 = budget.1.saturating_sub(1);
    }
}

/// Whether a source archive holds code to compile (C, C++, Cython, Fortran, Rust, CUDA, or a
/// CMake/meson/cargo project): such packages build per Python at once; the others build one
/// cell first, which tells whether the wheel is pure.
fn looks_compiled(fetched: &source::FetchedSource) -> bool {
    if fetched.is_wheel {
        return false;
    }
    let compiled = |name: &str| {
        let lower = name.to_ascii_lowercase();
        let base = lower.rsplit('/').next().unwrap_or_default();
        [
            ".c", ".cc", ".cpp", ".cxx", ".c++", ".pyx", ".f", ".f90", ".f95", ".rs", ".cu",
        ]
        .iter()
        .any(|suffix| lower.ends_with(suffix))
            || ["cargo.toml", "cmakelists.txt", "meson.build"].contains(&base)
    };
    let name = fetched.path.to_string_lossy().to_ascii_lowercase();
    let names: Option<Vec<String>> = if name.ends_with(".zip") {
        fs_err::File::open(&fetched.path)
            .ok()
            .and_then(|file| zip::ZipArchive::new(file).ok())
            .map(|archive| {
                archive
                    .file_names()
                    .flatten()
                    .map(|name| name.into_owned())
                    .collect()
            })
    } else if name.ends_with(".tar.gz") || name.ends_with(".tgz") || name.ends_with(".tar") {
        fs_err::File::open(&fetched.path).ok().and_then(|file| {
            let reader: Box<dyn std::io::Read> = if name.ends_with(".tar") {
                Box::new(file)
            } else {
                Box::new(flate2::read::GzDecoder::new(file))
            };
            let mut archive = tar::Archive::new(reader);
            let entries = archive.entries().ok()?;
            Some(
                entries
                    .flatten()
                    .filter_map(|entry| entry.path().ok().map(|path| path.to_string_lossy().into_owned()))
                    .collect(),
            )
        })
    } else {
        None
    };
    // An archive that cannot be listed is taken as compiled: building every cell is the safe
    // side.
    names.is_none_or(|names| names.iter().any(|name| compiled(name)))
}

/// Builds one package across the matrix. `resolve` turns a version and template context into
/// the recipe to use.
pub fn build_package(
    request: &BuildRequest,
    layout: &Layout,
    resolve: &(dyn Fn(&str, &TemplateContext) -> anyhow::Result<ResolvedRecipe> + Sync),
    progress: &(dyn Fn(&str) + Sync),
) -> anyhow::Result<BuildReport> {
    let started = Instant::now();
    fs_err::create_dir_all(&request.work)?;
    fs_err::create_dir_all(&request.output)?;
    let first_python = *request
        .pythons
        .first()
        .ok_or_else(|| anyhow::anyhow!("no Python version to build for"))?;
    let interpreters: BTreeMap<PythonVersion, PathBuf> = request
        .pythons
        .iter()
        .map(|version| find_python(*version).map(|path| (*version, path)))
        .collect::<Result<_, _>>()
        .map_err(anyhow::Error::msg)?;
    let context_for = |version: &str, cell: &Cell| -> anyhow::Result<TemplateContext> {
        let arch = layout
            .archs
            .get(&cell.arch)
            .ok_or_else(|| anyhow::anyhow!("the layout has no arch `{}`", cell.arch))?;
        Ok(TemplateContext {
            version: version.to_string(),
            python: cell.python.to_string(),
            arch: arch.name.clone(),
            march: arch.march.clone(),
            cflags: arch.cflags.clone(),
            layer: request.layer.clone(),
        })
    };

    // The source, once.
    let fetch_log = request.work.join("fetch.log");
    let first_cell = Cell {
        python: first_python,
        arch: request
            .archs
            .first()
            .cloned()
            .unwrap_or_else(|| "generic".to_string()),
    };
    let provisional = resolve(
        request.version.as_deref().unwrap_or("0"),
        &context_for(request.version.as_deref().unwrap_or("0"), &first_cell)?,
    )?;
    progress(&format!("fetching {}", request.package));
    let base_invocation = Invocation {
        environment: provisional.environment.clone(),
        ..Invocation::default()
    };
    let in_work = Invocation {
        directory: Some(request.work.clone()),
        ..base_invocation.clone()
    };
    for command in &provisional.pre_download {
        run_shell("pre-download command", command, &in_work, &fetch_log)?;
    }
    let fetched = source::fetch(&source::FetchRequest {
        package: &request.package,
        version: request.version.as_deref().or(request.requirement.as_deref()),
        source: &provisional.source,
        index_url: request.index_url.as_deref(),
        pythons: &request.pythons,
        sha256: provisional.sha256.as_deref(),
        cache: &request.cache,
        work: &request.work,
        log: &fetch_log,
        invocation: &base_invocation,
    })?;
    source::verify_pin(&fetched, provisional.sha256.as_deref())?;
    let version = fetched
        .version
        .clone()
        .or_else(|| request.version.clone())
        .ok_or_else(|| anyhow::anyhow!("cannot tell the version of `{}`", fetched.path.display()))?;
    for command in &provisional.post_download {
        run_shell("post-download command", command, &in_work, &fetch_log)?;
    }

    let mut cells = matrix(request, &provisional.skip_python);
    if provisional.arch_specific == Some(false) && request.archs.iter().any(|arch| arch != "generic") {
        progress(&format!(
            "the recipe says {} is not arch-specific: building for generic only",
            request.package
        ));
        cells.retain(|cell| cell.arch == "generic");
        if cells.is_empty() {
            cells = request
                .pythons
                .iter()
                .filter(|python| !provisional.skip_python.contains(python))
                .map(|python| Cell {
                    python: *python,
                    arch: "generic".to_string(),
                })
                .collect();
        }
    }
    let state = PackageBuild {
        request,
        layout,
        interpreters,
        fetched: fetched.clone(),
        version: version.clone(),
        build_environments: std::sync::Mutex::new(BTreeMap::new()),
        tools: std::sync::Mutex::new(BTreeMap::new()),
        budget: std::sync::Mutex::new((0, 0, cells.len())),
    };
    let mut report = BuildReport {
        package: request.package.clone(),
        version: version.clone(),
        source: Some(fetched.clone()),
        cells: Vec::new(),
        march_native_rewritten: Vec::new(),
        seconds: 0.0,
        compile_seconds: 0.0,
        dependencies: Vec::new(),
    };
    // A wheel that serves several cells (pure: all; abi3: the other Pythons of its arch).
    let shared: std::sync::Mutex<Vec<SharedWheel>> = std::sync::Mutex::new(Vec::new());
    let run_cell = |cell: &Cell, test: bool| -> CellRun {
        let cell_started = Instant::now();
        let cell_dir = state.cell_dir(cell);
        let log = cell_dir.join("build.log");
        let mut run = CellRun {
            result: CellResult::new(cell, log.clone()),
            processed: None,
            record: None,
            march_native_rewritten: Vec::new(),
            compile_seconds: 0.0,
        };
        let label = run.result.label();
        let recipe = match fs_err::create_dir_all(&cell_dir)
            .map_err(anyhow::Error::from)
            .and_then(|()| resolve(&version, &context_for(&version, cell)?))
        {
            Ok(recipe) => recipe,
            Err(error) => {
                run.result.error = Some(format!("{error:#}"));
                return run;
            }
        };
        let reuse = lock(&shared)
            .iter()
            .find(|wheel| wheel.pure || wheel.abi3_arch.as_deref() == Some(cell.arch.as_str()))
            .cloned();
        let wheel = match reuse {
            Some(reused) => {
                progress(&format!(
                    "testing {} {version} ({label}, same wheel as {})",
                    request.package, reused.from
                ));
                run.result.same_as = Some(reused.from.clone());
                run.result.notes.push(if reused.pure {
                    "pure wheel: built once".into()
                } else {
                    "abi3 wheel: built once per arch".into()
                });
                Some(reused.wheel)
            }
            None => {
                progress(&format!("building {} {version} ({label})", request.package));
                let share = state.take_share();
                let built = state.build_cell(cell, &recipe, &cell_dir, &log, share);
                state.release_share();
                match built {
                    Ok(built) => {
                        run.result.notes = built.processed.notes.clone();
                        run.march_native_rewritten = built.march_native_rewritten;
                        run.compile_seconds = built.compile_seconds;
                        if built.processed.pure || built.processed.abi3 {
                            lock(&shared).push(SharedWheel {
                                wheel: built.processed.wheel.clone(),
                                from: label.clone(),
                                pure: built.processed.pure,
                                abi3_arch: built.processed.abi3.then(|| cell.arch.clone()),
                            });
                        }
                        let wheel = built.processed.wheel.clone();
                        run.processed = Some(built.processed);
                        run.record = Some(built.record);
                        Some(wheel)
                    }
                    Err(error) => {
                        run.result.error = Some(format!("{error:#}"));
                        None
                    }
                }
            }
        };
        if let Some(wheel) = &wheel {
            run.result.size = fs_err::metadata(wheel).ok().map(|m| m.len());
            // Post-processing hashed the wheel it wrote; a reused wheel is hashed here.
            run.result.sha256 = match &run.processed {
                Some(processed) => processed.sha256.clone(),
                None => source::file_sha256(wheel).ok(),
            };
            run.result.wheel = Some(wheel.clone());
        }
        if let Some(wheel) = wheel.filter(|_| test) {
            progress(&format!("testing {} {version} ({label})", request.package));
            run.result
                .record_test(state.smoke_test(cell, &wheel, &recipe, &cell_dir, &log));
        }
        run.result.seconds = cell_started.elapsed().as_secs_f64();
        run
    };
    // Packages that look pure build one cell first: it tells whether the wheel is pure (then
    // the other cells only test it). Compiled ones start every Python at once. Each worker
    // takes one Python (its archs in turn, sharing its build environment), `jobs` at a time.
    let mut runs: Vec<(usize, CellRun)> = Vec::new();
    let first_alone = request.recursive || !looks_compiled(&fetched);
    let mut queue: Vec<usize> = (0..cells.len()).collect();
    if first_alone && let Some(first) = cells.first() {
        queue.remove(0);
        if request.recursive {
            // Build the first wheel, then whatever it needs that is not at hand, then test it.
            let mut run = run_cell(first, false);
            if let Some(wheel) = run.result.wheel.clone() {
                let started_test = Instant::now();
                report.dependencies = build_dependencies(request, layout, &wheel, first.python, progress)?;
                let recipe = resolve(&version, &context_for(&version, first)?)?;
                progress(&format!(
                    "testing {} {version} ({} {})",
                    request.package, first.python, first.arch
                ));
                let log = run.result.log.clone();
                run.result.record_test(state.smoke_test(
                    first,
                    &wheel,
                    &recipe,
                    &state.cell_dir(first),
                    &log,
                ));
                run.result.seconds += started_test.elapsed().as_secs_f64();
            }
            runs.push((0, run));
        } else {
            runs.push((0, run_cell(first, true)));
        }
    }
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for index in queue {
        match groups
            .iter_mut()
            .find(|group| cells[group[0]].python == cells[index].python)
        {
            Some(group) => group.push(index),
            None => groups.push(vec![index]),
        }
    }
    let grouped = crate::parallel::parallel_map(&groups, request.jobs, &|group: &Vec<usize>| {
        group
            .iter()
            .map(|index| (*index, run_cell(&cells[*index], true)))
            .collect::<Vec<_>>()
    });
    runs.extend(grouped.into_iter().flatten());
    runs.sort_by_key(|(index, _)| *index);
    let runs: Vec<CellRun> = runs.into_iter().map(|(_, run)| run).collect();
    for run in &runs {
        report
            .march_native_rewritten
            .extend(run.march_native_rewritten.iter().cloned());
        report.compile_seconds += run.compile_seconds;
    }
    // Only wheels whose every test passed reach the output directory; the others go to
    // `<output>/failed/` with their logs and records.
    report.cells = stage::stage(&state, runs, progress)?;
    report.march_native_rewritten.sort();
    report.march_native_rewritten.dedup();
    report.seconds = started.elapsed().as_secs_f64();
    if !request.keep_build_dir && report.ok() {
        // Keep logs of failures; drop build trees of successes.
        for cell in &cells {
            let _ = fs_err::remove_dir_all(state.cell_dir(cell).join("src"));
        }
    }
    Ok(report)
}

impl PackageBuild<'_> {
    /// Where a cell's wheel is staged: the output directory for generic builds, a
    /// subdirectory per arch otherwise (the wheels of different archs share a file name).
    fn staging_dir(&self, arch: &str) -> PathBuf {
        if arch == "generic" {
            self.request.output.clone()
        } else {
            self.request.output.join(arch)
        }
    }

    /// The directories a cell's smoke test installs from: what a node of this layer and arch
    /// would see (this arch's staging directory, the generic one, then the wheelhouse
    /// directories of the node's view).
    fn test_links(&self, arch: &str) -> Vec<PathBuf> {
        let mut links = vec![self.staging_dir(arch)];
        if arch != "generic" {
            links.push(self.request.output.clone());
        }
        match crate::wheelhouse::node_view(self.layout, &self.request.layer, arch) {
            Ok(view) => links.extend(view.dirs.iter().map(|dir| self.layout.root.join(dir))),
            Err(_) => links.extend(dependencies::wheelhouse_directories(self.layout)),
        }
        links
    }

    /// Runs a cell's smoke test.
    fn smoke_test(
        &self,
        cell: &Cell,
        wheel: &Path,
        recipe: &ResolvedRecipe,
        cell_dir: &Path,
        log: &Path,
    ) -> SmokeReport {
        smoke_test(&SmokeTest {
            interpreter: &self.interpreters[&cell.python],
            wheel,
            recipe,
            cell_dir,
            log,
            find_links: self.test_links(&cell.arch),
            allow_pypi: self.request.test_dependencies_from_pypi,
            index_url: self.request.index_url.as_deref(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_matrix_skips_pythons_and_orders_by_arch() {
        let request = BuildRequest {
            package: "demo".into(),
            version: None,
            pythons: vec!["3.11".parse().unwrap(), "3.12".parse().unwrap()],
            archs: vec!["generic".into(), "x86-64-v3".into()],
            layer: "gentoo2023".into(),
            output: PathBuf::new(),
            work: PathBuf::new(),
            cache: PathBuf::new(),
            keep_build_dir: false,
            test_dependencies_from_pypi: false,
            jobs: 1,
            recursive: false,
            recipes: None,
            requirement: None,
            ancestors: Vec::new(),
            index_url: None,
        };
        let cells = matrix(&request, &["3.11".parse().unwrap()]);
        let labels: Vec<String> = cells
            .iter()
            .map(|cell| format!("{} {}", cell.python, cell.arch))
            .collect();
        assert_eq!(labels, ["3.12 generic", "3.12 x86-64-v3"]);
    }

    #[test]
    fn package_suffixes_rename_the_distribution() {
        let directory = tempfile::tempdir().unwrap();
        fs_err::write(
            directory.path().join("setup.py"),
            "setup(name=\"torchvision\", version='1')\n",
        )
        .unwrap();
        let renamed = apply_package_suffix(directory.path(), "torchvision", "-cpu").unwrap();
        assert_eq!(renamed, ["setup.py"]);
        assert!(
            fs_err::read_to_string(directory.path().join("setup.py"))
                .unwrap()
                .contains("name=\"torchvision-cpu\"")
        );
        let error = apply_package_suffix(directory.path(), "other", "-cpu")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("no setup.py, pyproject.toml or setup.cfg sets name = `other`"),
            "{error}"
        );
    }

    /// A `.tar.gz` holding `names` (empty files), as a fetched source.
    fn sdist_of(directory: &Path, names: &[&str]) -> source::FetchedSource {
        let path = directory.join(format!("demo-{}.tar.gz", names.len()));
        let file = fs_err::File::create(&path).unwrap();
        let mut archive = tar::Builder::new(flate2::write::GzEncoder::new(file, flate2::Compression::fast()));
        for name in names {
            let mut header = tar::Header::new_gnu();
            header.set_size(0);
            header.set_mode(0o644);
            header.set_cksum();
            archive.append_data(&mut header, name, std::io::empty()).unwrap();
        }
        archive.into_inner().unwrap().finish().unwrap();
        source::FetchedSource {
            path,
            sha256: String::new(),
            version: None,
            is_wheel: false,
            url: None,
        }
    }

    #[test]
    fn compiled_sources_are_told_from_pure_ones() {
        let directory = tempfile::tempdir().unwrap();
        let pure = sdist_of(
            directory.path(),
            &["demo-1/pyproject.toml", "demo-1/demo/__init__.py"],
        );
        assert!(!looks_compiled(&pure));
        for compiled in [
            "demo-1/src/_speedups.c",
            "demo-1/Cargo.toml",
            "demo-1/meson.build",
            "demo-1/demo/_x.pyx",
        ] {
            let fetched = sdist_of(directory.path(), &["demo-1/pyproject.toml", compiled]);
            assert!(looks_compiled(&fetched), "{compiled}");
        }
        // What cannot be listed is taken as compiled: every cell is built.
        let unreadable = source::FetchedSource {
            path: directory.path().join("missing.tar.gz"),
            ..pure
        };
        assert!(looks_compiled(&unreadable));
    }

    #[test]
    fn finds_march_native() {
        let directory = tempfile::tempdir().unwrap();
        fs_err::write(
            directory.path().join("setup.py"),
            "flags = ['-O3', '-march=native']\n",
        )
        .unwrap();
        fs_err::create_dir(directory.path().join("docs")).unwrap();
        fs_err::write(directory.path().join("docs/build.md"), "-march=native\n").unwrap();
        let changed = rewrite_march_native(directory.path(), "x86-64-v3");
        assert_eq!(changed, ["setup.py"]);
        assert!(
            fs_err::read_to_string(directory.path().join("setup.py"))
                .unwrap()
                .contains("-march=x86-64-v3")
        );
    }
}
