//! The build: for one package, per cell (Python x arch), fetch the source once, build with a
//! real frontend, post-process the wheel, smoke-test it in a fresh environment, and report.

pub mod dependencies;
pub mod environment;
pub mod index;
pub mod pkg_info;
pub mod smoke_test;
pub mod source;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use crate::classify::{Filesystem, classify};
use crate::inspect::read_wheel_elves;
use crate::layout::{Layout, PythonVersion};
use crate::recipe::{ResolvedRecipe, TemplateContext};
use crate::spec::requirements::RequirementEdit;
use crate::tools::{CommandFailed, Invocation, capture, find_python, find_uv, run_logged, run_shell};

use crate::wheel::{Destination, Limits, PlaceOptions, Rewrite, TagChange, rewrite_wheel};
use environment::{Environment, install, make_environment};
use smoke_test::{SmokeTest, smoke_test};

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
    /// Let the smoke test fetch missing dependencies from PyPI.
    pub test_dependencies_from_pypi: bool,
    /// Pythons built at once (each Python's archs one after the other).
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
}

impl CellResult {
    /// Records how the smoke test went.
    fn record_test(&mut self, outcome: anyhow::Result<()>) {
        match outcome {
            Ok(()) => self.test = "passed".into(),
            Err(error) => {
                self.test = "failed".into();
                self.error = Some(format!("{error:#}"));
            }
        }
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

/// The `[build-system] requires` of a source tree (setuptools when there is no pyproject.toml).
fn build_requirements(source: &Path) -> Vec<String> {
    let text = fs_err::read_to_string(source.join("pyproject.toml")).ok();
    let table: Option<toml::Table> = text.and_then(|text| toml::from_str(&text).ok());
    let requires = table
        .as_ref()
        .and_then(|table| table.get("build-system"))
        .and_then(|system| system.get("requires"))
        .and_then(|requires| requires.as_array())
        .map(|items| {
            items
                .iter()
                .filter_map(|item| item.as_str().map(str::to_string))
                .collect::<Vec<_>>()
        });
    requires.unwrap_or_else(|| vec!["setuptools".to_string(), "wheel".to_string()])
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

/// What running one cell gives: its result, the files where `-march=native` was rewritten, and
/// the seconds spent compiling.
type CellOutcome = anyhow::Result<(CellResult, Vec<String>, f64)>;

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

/// A wheel built for one cell.
struct BuiltWheel {
    wheel: PathBuf,
    pure: bool,
    abi3: bool,
    notes: Vec<String>,
    march_native_rewritten: Vec<String>,
    compile_seconds: f64,
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

/// Locks a mutex, taking the data even if another thread panicked while holding it.
fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}

/// Per-package state shared by the cells.
struct PackageBuild<'a> {
    request: &'a BuildRequest,
    layout: &'a Layout,
    build_environments: std::sync::Mutex<BTreeMap<PythonVersion, Environment>>,
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

    let state = PackageBuild {
        request,
        layout,
        build_environments: std::sync::Mutex::new(BTreeMap::new()),
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
    // A wheel that serves several cells (pure: all; abi3: the other Pythons of its arch).
    let shared: std::sync::Mutex<Vec<SharedWheel>> = std::sync::Mutex::new(Vec::new());
    let run_cell = |cell: &Cell, test: bool| -> CellOutcome {
        let label = format!("{} {}", cell.python, cell.arch);
        let cell_started = Instant::now();
        let cell_dir = request.work.join(format!("py{}-{}", cell.python, cell.arch));
        let log = cell_dir.join("build.log");
        fs_err::create_dir_all(&cell_dir)?;
        let reuse = lock(&shared)
            .iter()
            .find(|wheel| wheel.pure || wheel.abi3_arch.as_deref() == Some(cell.arch.as_str()))
            .cloned();
        let recipe = resolve(&version, &context_for(&version, cell)?)?;
        let mut result = CellResult {
            python: cell.python.to_string(),
            arch: cell.arch.clone(),
            wheel: None,
            size: None,
            sha256: None,
            test: "not run".into(),
            seconds: 0.0,
            error: None,
            log: log.clone(),
            same_as: None,
            notes: Vec::new(),
        };
        let mut rewritten = Vec::new();
        let mut compile_seconds = 0.0;
        let wheel = match reuse {
            Some(reused) => {
                progress(&format!(
                    "testing {} {version} ({label}, same wheel as {})",
                    request.package, reused.from
                ));
                result.same_as = Some(reused.from.clone());
                result.notes.push(if reused.pure {
                    "pure wheel: built once".into()
                } else {
                    "abi3 wheel: built once per arch".into()
                });
                Some(reused.wheel)
            }
            None => {
                progress(&format!("building {} {version} ({label})", request.package));
                match state.build_cell(
                    cell,
                    &interpreters[&cell.python],
                    &fetched,
                    &version,
                    &recipe,
                    &cell_dir,
                    &log,
                ) {
                    Ok(built) => {
                        result.notes = built.notes;
                        rewritten = built.march_native_rewritten;
                        compile_seconds = built.compile_seconds;
                        if built.pure || built.abi3 {
                            lock(&shared).push(SharedWheel {
                                wheel: built.wheel.clone(),
                                from: label.clone(),
                                pure: built.pure,
                                abi3_arch: built.abi3.then(|| cell.arch.clone()),
                            });
                        }
                        Some(built.wheel)
                    }
                    Err(error) => {
                        result.error = Some(format!("{error:#}"));
                        None
                    }
                }
            }
        };
        if let Some(wheel) = wheel {
            result.size = fs_err::metadata(&wheel).ok().map(|m| m.len());
            result.sha256 = source::file_sha256(&wheel).ok();
            result.wheel = Some(wheel.clone());
        }
        if let Some(wheel) = result.wheel.clone().filter(|_| test) {
            progress(&format!("testing {} {version} ({label})", request.package));
            result.record_test(state.smoke_test(
                &interpreters[&cell.python],
                &wheel,
                &recipe,
                &cell_dir,
                &log,
                &cell.arch,
            ));
        }
        result.seconds = cell_started.elapsed().as_secs_f64();
        Ok((result, rewritten, compile_seconds))
    };
    // The first cell alone: it tells whether the wheel is pure or abi3. Then the rest, one
    // Python per worker (its archs in turn, sharing its build environment), `jobs` at a time.
    let mut results: Vec<(usize, CellOutcome)> = Vec::new();
    if let Some(first) = cells.first() {
        if request.recursive {
            // Build the first wheel, then whatever it needs that is not at hand, then test it.
            let mut outcome = run_cell(first, false);
            if let Ok((cell, _, _)) = &mut outcome
                && let Some(wheel) = cell.wheel.clone()
            {
                let started_test = Instant::now();
                report.dependencies = build_dependencies(request, layout, &wheel, first.python, progress)?;
                let recipe = resolve(&version, &context_for(&version, first)?)?;
                let cell_dir = request.work.join(format!("py{}-{}", first.python, first.arch));
                progress(&format!(
                    "testing {} {version} ({} {})",
                    request.package, first.python, first.arch
                ));
                let log = cell.log.clone();
                cell.record_test(state.smoke_test(
                    &interpreters[&first.python],
                    &wheel,
                    &recipe,
                    &cell_dir,
                    &log,
                    &first.arch,
                ));
                cell.seconds += started_test.elapsed().as_secs_f64();
            }
            results.push((0, outcome));
        } else {
            results.push((0, run_cell(first, true)));
        }
    }
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for (index, cell) in cells.iter().enumerate().skip(1) {
        match groups
            .iter_mut()
            .find(|group| cells[group[0]].python == cell.python)
        {
            Some(group) => group.push(index),
            None => groups.push(vec![index]),
        }
    }
    let next_group = std::sync::atomic::AtomicUsize::new(0);
    let collected = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..request.jobs.clamp(1, groups.len().max(1)) {
            scope.spawn(|| {
                loop {
                    let taken = next_group.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(group) = groups.get(taken) else { break };
                    for index in group {
                        let outcome = run_cell(&cells[*index], true);
                        lock(&collected).push((*index, outcome));
                    }
                }
            });
        }
    });
    results.extend(
        collected
            .into_inner()
            .unwrap_or_else(|poison| poison.into_inner()),
    );
    results.sort_by_key(|(index, _)| *index);
    for (_, outcome) in results {
        let (cell, rewritten, compile_seconds) = outcome?;
        report.march_native_rewritten.extend(rewritten);
        report.compile_seconds += compile_seconds;
        report.cells.push(cell);
    }
    report.march_native_rewritten.sort();
    report.march_native_rewritten.dedup();
    report.seconds = started.elapsed().as_secs_f64();
    if !request.keep_build_dir && report.ok() {
        // Keep logs of failures; drop build trees of successes.
        for cell in &cells {
            let _ = fs_err::remove_dir_all(
                request
                    .work
                    .join(format!("py{}-{}", cell.python, cell.arch))
                    .join("src"),
            );
        }
    }
    Ok(report)
}

impl PackageBuild<'_> {
    /// The build environment of `python`, made on first use. One worker handles each Python,
    /// so it is never made twice at once.
    fn build_environment(
        &self,
        python: PythonVersion,
        interpreter: &Path,
        log: &Path,
    ) -> Result<(Environment, bool), CommandFailed> {
        if let Some(environment) = lock(&self.build_environments).get(&python) {
            return Ok((environment.clone(), false));
        }
        let directory = self.request.work.join(format!("build-env-py{python}"));
        let environment = make_environment(interpreter, &directory, self.request.index_url.as_deref(), log)?;
        lock(&self.build_environments).insert(python, environment.clone());
        Ok((environment, true))
    }

    #[allow(clippy::too_many_arguments)]
    fn build_cell(
        &self,
        cell: &Cell,
        interpreter: &Path,
        fetched: &source::FetchedSource,
        version: &str,
        recipe: &ResolvedRecipe,
        cell_dir: &Path,
        log: &Path,
    ) -> anyhow::Result<BuiltWheel> {
        let mut notes = Vec::new();
        let mut march_native_rewritten = Vec::new();
        let mut compile_seconds = 0.0;
        let arch = self
            .layout
            .archs
            .get(&cell.arch)
            .ok_or_else(|| anyhow::anyhow!("the layout has no arch `{}`", cell.arch))?
            .clone();
        let dist = cell_dir.join("dist");
        if dist.exists() {
            fs_err::remove_dir_all(&dist)?;
        }
        fs_err::create_dir_all(&dist)?;
        let built_wheel = if fetched.is_wheel {
            notes.push("PyPI has only a pure wheel: taken as is".into());
            let target = dist.join(fetched.path.file_name().unwrap_or_default());
            fs_err::copy(&fetched.path, &target)?;
            target
        } else {
            let source_dir = cell_dir.join("src");
            if source_dir.exists() {
                fs_err::remove_dir_all(&source_dir)?;
            }
            let root = source::unpack(&fetched.path, &source_dir)?;
            let mut environment_vars = recipe.environment.clone();
            let append = |key: &str, value: &str, vars: &mut BTreeMap<String, String>| {
                let existing = vars
                    .get(key)
                    .cloned()
                    .or_else(|| std::env::var(key).ok())
                    .unwrap_or_default();
                vars.insert(key.to_string(), format!("{existing} {value}").trim().to_string());
            };
            // setuptools (75.7 and later) replaces the interpreter's own compiler flags with a
            // CFLAGS from the environment, so start from the interpreter's flags (-O3 and
            // friends) when nobody set CFLAGS: the arch flags must add to them, not drop them.
            if !environment_vars.contains_key("CFLAGS") && std::env::var_os("CFLAGS").is_none() {
                let base = capture(
                    interpreter,
                    &[
                        "-c",
                        "import sysconfig; print(sysconfig.get_config_var('CFLAGS') or '')",
                    ],
                )
                .unwrap_or_default();
                for key in ["CFLAGS", "CXXFLAGS"] {
                    if !base.is_empty()
                        && !environment_vars.contains_key(key)
                        && std::env::var_os(key).is_none()
                    {
                        environment_vars.insert(key.to_string(), base.clone());
                    }
                }
            }
            for key in ["CFLAGS", "CXXFLAGS", "FFLAGS", "FCFLAGS"] {
                append(key, &arch.cflags, &mut environment_vars);
            }
            append(
                "RUSTFLAGS",
                &format!("-C target-cpu={}", arch.march),
                &mut environment_vars,
            );
            // The recipe's RPATH additions, applied when the extensions are linked.
            for entry in &recipe.rpath {
                append("LDFLAGS", &format!("-Wl,-rpath,{entry}"), &mut environment_vars);
                notes.push(format!("RPATH `{entry}` added at link time"));
            }
            let invocation = Invocation {
                directory: Some(root.clone()),
                environment: environment_vars,
                unset: vec!["PIP_REQUIRE_VIRTUALENV".into()],
            };
            for patch in &recipe.patches {
                run_logged(
                    "patch",
                    Path::new("patch"),
                    &[
                        "-p1".into(),
                        "--batch".into(),
                        "-i".into(),
                        patch.display().to_string(),
                    ],
                    &invocation,
                    log,
                )?;
            }
            let rewritten = rewrite_march_native(&root, &arch.march);
            if !rewritten.is_empty() {
                notes.push(format!(
                    "-march=native rewritten to -march={} in {}",
                    arch.march,
                    rewritten.join(", ")
                ));
                march_native_rewritten.extend(rewritten);
            }
            if let Some(suffix) = &recipe.package_suffix {
                let renamed = apply_package_suffix(&root, &recipe.package, suffix)?;
                notes.push(format!(
                    "distribution renamed with the suffix `{suffix}` in {}",
                    renamed.join(", ")
                ));
            }
            let mut requirements = build_requirements(&root);
            requirements.extend(recipe.build_dependencies.iter().cloned());
            requirements.extend(["pip".to_string(), "wheel".to_string()]);
            let (environment, _) = self.build_environment(cell.python, interpreter, log)?;
            let python = environment.python.clone();
            install(
                &environment,
                &requirements,
                "installing build dependencies",
                log,
                &Invocation::default(),
            )?;
            for command in &recipe.pre_build {
                run_shell("pre-build command", command, &invocation, log)?;
            }
            let compile_started = Instant::now();
            match &recipe.build_command {
                Some(command) => {
                    let mut with_dist = invocation.clone();
                    with_dist
                        .environment
                        .insert("WHEEL_DIR".into(), dist.display().to_string());
                    with_dist
                        .environment
                        .insert("PYTHON".into(), python.display().to_string());
                    run_shell("build command", command, &with_dist, log)?;
                }
                None => {
                    let mut args = vec![
                        "-m".into(),
                        "pip".into(),
                        "wheel".into(),
                        "--no-deps".into(),
                        "--no-build-isolation".into(),
                        "--disable-pip-version-check".into(),
                        "-v".into(),
                        "-w".into(),
                        dist.display().to_string(),
                    ];
                    args.extend(recipe.build_args.iter().cloned());
                    args.push(".".into());
                    run_logged("pip wheel", &python, &args, &invocation, log)?;
                }
            }
            compile_seconds += compile_started.elapsed().as_secs_f64();
            for command in &recipe.post_build {
                run_shell("post-build command", command, &invocation, log)?;
            }
            let wheels: Vec<PathBuf> = fs_err::read_dir(&dist)?
                .flatten()
                .map(|entry| entry.path())
                .filter(|path| path.extension().is_some_and(|e| e == "whl"))
                .collect();
            match wheels.as_slice() {
                [wheel] => wheel.clone(),
                [] => anyhow::bail!(
                    "the build produced no wheel in {}; log: {}",
                    dist.display(),
                    log.display()
                ),
                _ => anyhow::bail!("the build produced several wheels in {}", dist.display()),
            }
        };
        let (wheel, pure, abi3, post_notes) =
            self.post_process(&built_wheel, cell, fetched, version, recipe)?;
        notes.extend(post_notes);
        Ok(BuiltWheel {
            wheel,
            pure,
            abi3,
            notes,
            march_native_rewritten,
            compile_seconds,
        })
    }

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
        interpreter: &Path,
        wheel: &Path,
        recipe: &ResolvedRecipe,
        cell_dir: &Path,
        log: &Path,
        arch: &str,
    ) -> anyhow::Result<()> {
        smoke_test(&SmokeTest {
            interpreter,
            wheel,
            recipe,
            cell_dir,
            log,
            find_links: self.test_links(arch),
            allow_pypi: self.request.test_dependencies_from_pypi,
            index_url: self.request.index_url.as_deref(),
        })
    }

    /// Local version, requirement edits, nvidia stripping, honest tags, pins, build record.
    fn post_process(
        &self,
        built: &Path,
        cell: &Cell,
        fetched: &source::FetchedSource,
        version: &str,
        recipe: &ResolvedRecipe,
    ) -> anyhow::Result<(PathBuf, bool, bool, Vec<String>)> {
        let mut notes = Vec::new();
        let filename: crate::spec::WheelFilename = built
            .file_name()
            .and_then(|name| name.to_str())
            .unwrap_or_default()
            .parse()?;
        let elves = read_wheel_elves(built, Limits::default(), false, 2)?;
        let compiled = !elves.members.is_empty();
        let mut tags = TagChange::default();
        if compiled && filename.tags.is_pure() {
            let python_tag = format!("cp{}{}", cell.python.major, cell.python.minor);
            tags = TagChange {
                python: Some(python_tag.clone()),
                abi: Some(python_tag),
                platform: Some("linux_x86_64".into()),
            };
            notes.push(
                "a py3-none-any wheel with shared libraries: retagged to its Python and platform".into(),
            );
        } else if filename
            .tags
            .platform
            .iter()
            .any(|platform| platform.starts_with("manylinux") || platform.starts_with("musllinux"))
        {
            tags.platform = Some("linux_x86_64".into());
        }
        let mut edits = Vec::new();
        for text in &recipe.requirements.update {
            edits.push(RequirementEdit::update(text)?);
        }
        for text in &recipe.requirements.add {
            edits.push(RequirementEdit::add(text)?);
        }
        for text in &recipe.requirements.remove {
            edits.push(RequirementEdit::remove(text)?);
        }
        // Pins from what the wheel was built against.
        let build_python = lock(&self.build_environments)
            .get(&cell.python)
            .map(|environment| environment.python.clone());
        let mut local_tag = None;
        if compiled && let Some(python) = &build_python {
            let numpy = capture(python, &["-c", "import numpy; print(numpy.__version__)"]);
            if let Some(numpy) = numpy.and_then(|text| text.parse::<pep440_rs::Version>().ok())
                && numpy.release().first() == Some(&1)
            {
                edits.push(RequirementEdit::numpy_bounds(None, Some("2.0"))?);
                notes.push(format!("built against numpy {numpy}: numpy<2 required"));
            }
            let links_torch = elves.members.iter().any(|member| {
                member
                    .info
                    .needed
                    .iter()
                    .any(|library| library.starts_with("libtorch") || library.starts_with("libc10"))
            });
            if links_torch
                && let Some(torch) = capture(python, &["-c", "import torch; print(torch.__version__)"])
            {
                let release: Vec<&str> = torch.split(['+', '.']).take(2).collect();
                if let [major, minor] = release.as_slice() {
                    edits.push(RequirementEdit::update(&format!("torch~={major}.{minor}.0"))?);
                    local_tag = Some(format!("torch{major}{minor}"));
                    notes.push(format!(
                        "links libtorch from torch {torch}: torch~={major}.{minor}.0 required"
                    ));
                }
            }
        }
        if let Ok(rule) = self.layout.strip_rule("nvidia") {
            edits.push(RequirementEdit::Strip(rule.rule.clone()));
        }
        let record = serde_json::json!({
            "wheelwright": env!("CARGO_PKG_VERSION"),
            "package": recipe.package,
            "version": version,
            "python": cell.python.to_string(),
            "arch": cell.arch,
            "layer": self.request.layer,
            "cflags": self.layout.archs.get(&cell.arch).map(|arch| arch.cflags.clone()),
            "source": { "file": fetched.path.file_name().map(|n| n.to_string_lossy().into_owned()), "sha256": fetched.sha256 },
            "recipe": recipe.file.as_ref().map(|file| serde_json::json!({
                "file": file.file_name().map(|n| n.to_string_lossy().into_owned()),
                "sha256": source::file_sha256(file).ok(),
            })),
            "layout": self.layout.source,
            "tools": {
                "python": build_python.as_ref().and_then(|python| capture(python, &["--version"])),
                "pip": build_python.as_ref().and_then(|python| capture(python, &["-m", "pip", "--version"])),
                "uv": find_uv().and_then(|uv| capture(&uv, &["--version"])),
                "gcc": capture(Path::new("gcc"), &["-dumpfullversion"]),
            },
        });
        let record_bytes = serde_json::to_vec_pretty(&record)?;
        let rewrite = Rewrite {
            local_label: Some(self.layout.local_version_label.clone()),
            local_tag,
            requirement_edits: edits,
            tags,
            dist_info_files: vec![("wheelwright.json".to_string(), record_bytes.clone())],
        };
        let staging = self.staging_dir(&cell.arch);
        fs_err::create_dir_all(&staging)?;
        let outcome = rewrite_wheel(
            built,
            &rewrite,
            &Destination::Directory(staging),
            PlaceOptions {
                overwrite: true,
                fsync: true,
            },
            Limits::default(),
        )?;
        notes.extend(outcome.notes.iter().cloned());
        // The record beside the wheel, with the classification.
        let output_filename: crate::spec::WheelFilename = outcome.new_filename.parse()?;
        let pure = output_filename.tags.is_pure();
        // A pure wheel is the same for every arch: it is staged with the generic ones.
        let mut wheel_path = outcome.output.clone();
        if pure && cell.arch != "generic" {
            let generic = self.request.output.join(&outcome.new_filename);
            fs_err::rename(&wheel_path, &generic)?;
            wheel_path = generic;
        }
        let abi3 = output_filename.tags.abi.iter().any(|abi| abi == "abi3");
        // The finished wheel is verified in full (raw-copied members included) and its ELF
        // members read for the classification in the same pass; it is then remembered by
        // content so that cp-wheels need not hash it again.
        let (verified, elves) = crate::inspect::check_wheel(&wheel_path, Limits::default(), true, 2, true)?;
        if !verified.ok() {
            anyhow::bail!(
                "the post-processed wheel {} fails verification: {}",
                wheel_path.display(),
                verified.problems.join("; ")
            );
        }
        let classification = classify(self.layout, &elves, &Filesystem);
        let sha256 = source::file_sha256(&wheel_path).ok();
        if let (Some(sha256), Some(cache)) =
            (&sha256, crate::wheel::verified::VerifiedCache::default_location())
        {
            cache.record(sha256, Limits::default().total, Some(&wheel_path));
        }
        let beside = serde_json::json!({
            "wheel": outcome.new_filename,
            "sha256": sha256,
            "build": record,
            "changes": outcome.changes,
            "destination": classification.destination,
        });
        let beside_path = wheel_path.with_file_name(format!("{}.json", outcome.new_filename));
        fs_err::write(beside_path, serde_json::to_vec_pretty(&beside)?)?;
        Ok((wheel_path, pure, abi3, notes))
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
