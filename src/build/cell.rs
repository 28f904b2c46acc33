//! One cell's build: unpack the source, patch it, make its build environment (static and
//! dynamic build requirements, the wheelhouse first), build under the backend's compiler
//! settings, post-process the wheel, smoke-test it, and say how it went (a [`CellOutcome`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::Serialize;

use crate::layout::{Arch, Layout};
use crate::python::ToolVersions;
use crate::recipe::ResolvedRecipe;
use crate::stack::Stack;
use crate::tools::{Invocation, run_logged, run_shell};

use super::backend::{self, BackendKind, BuildSystem, CompilerSettings};
use super::environment::{Environment, InstallRequest, install_wheelhouse_first, make_environment};
use super::plan::Cell;
use super::post_process::{PostProcess, Processed, post_process};
use super::record::{BuildRecord, BuildRequirements, FileRecord, SourceRecord, StackRecord, TestStatus};
use super::smoke_test::{SmokeReport, SmokeTest, smoke_test};
use super::source::FetchedSource;
use super::{BuildError, dependencies, tree};

/// How one cell ended.
#[derive(Debug, Clone, Serialize)]
pub struct CellOutcome {
    pub python: String,
    pub arch: String,
    pub wheel: Option<PathBuf>,
    pub size: Option<u64>,
    pub sha256: Option<String>,
    pub test: TestStatus,
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
    /// Why its wheel is held back rather than staged although it passed: libraries it needs
    /// that nodes of the layer do not have (a warning, not an error).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub held: Vec<String>,
    /// Whose the failure is, when the cell failed (see [`crate::cause::Cause`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<crate::cause::Cause>,
}

impl CellOutcome {
    pub(super) fn new(cell: &Cell) -> Self {
        CellOutcome {
            python: cell.python.to_string(),
            arch: cell.arch.clone(),
            wheel: None,
            size: None,
            sha256: None,
            test: TestStatus::NotRun,
            seconds: 0.0,
            error: None,
            log: cell.log(),
            same_as: None,
            notes: Vec::new(),
            record: None,
            smoke_test: None,
            held: Vec::new(),
            cause: None,
        }
    }

    /// Records how the smoke test went.
    pub(super) fn record_test(&mut self, report: SmokeReport) {
        self.test = if report.passed {
            TestStatus::Passed
        } else {
            TestStatus::Failed
        };
        self.notes.push(report.summary());
        if let Some(error) = &report.error {
            self.error = Some(error.clone());
            self.cause = Some(crate::cause::Cause::Package);
        }
        self.smoke_test = Some(report);
    }

    /// `3.12 x86-64-v3`.
    pub fn label(&self) -> String {
        format!("{} {}", self.python, self.arch)
    }
}

/// A cell's run: its outcome, and what staging needs to know.
pub(super) struct CellRun {
    pub outcome: CellOutcome,
    /// The post-processed wheel (in the cell's directory until staged), when this cell built it.
    pub processed: Option<Processed>,
    pub record: Option<BuildRecord>,
    pub march_native_rewritten: Vec<String>,
    pub compile_seconds: f64,
}

/// A wheel another cell built that serves this one (pure: every cell; abi3: the other
/// Pythons of its arch).
#[derive(Debug, Clone)]
pub(super) struct SharedWheel {
    pub wheel: PathBuf,
    /// The cell it was built for.
    pub from: String,
    pub pure: bool,
    /// For an abi3 wheel, the arch it serves.
    pub abi3_arch: Option<String>,
}

impl SharedWheel {
    /// Whether this wheel serves `cell`.
    pub fn serves(&self, cell: &Cell) -> bool {
        self.pure || self.abi3_arch.as_deref() == Some(cell.arch.as_str())
    }
}

/// A wheel built and post-processed for one cell.
struct BuiltWheel {
    processed: Processed,
    record: BuildRecord,
    march_native_rewritten: Vec<String>,
    compile_seconds: f64,
}

/// What the cells run by one process share: the layout, and the build environments and tool
/// versions made once per Python.
pub struct Workshop<'a> {
    pub layout: &'a Layout,
    environments: Mutex<BTreeMap<PathBuf, Environment>>,
    /// By interpreter and stack (its lines and loaded modules: compilers come from modules).
    tools: Mutex<BTreeMap<(PathBuf, Vec<String>), ToolVersions>>,
}

/// Locks a mutex, taking the data even if another thread panicked while holding it.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}

impl<'a> Workshop<'a> {
    pub fn new(layout: &'a Layout) -> Self {
        Workshop {
            layout,
            environments: Mutex::new(BTreeMap::new()),
            tools: Mutex::new(BTreeMap::new()),
        }
    }

    /// Runs one cell: builds its wheel (or takes `reused`, another cell's), then, when `test`,
    /// smoke-tests it. Never fails: what went wrong is in the outcome.
    pub(super) fn run(
        &self,
        cell: &Cell,
        reused: Option<&SharedWheel>,
        test: bool,
        progress: &(dyn Fn(&str) + Sync),
    ) -> CellRun {
        let started = Instant::now();
        let mut run = CellRun {
            outcome: CellOutcome::new(cell),
            processed: None,
            record: None,
            march_native_rewritten: Vec::new(),
            compile_seconds: 0.0,
        };
        let label = cell.label();
        if let Err(error) = fs_err::create_dir_all(&cell.directory) {
            run.outcome.error = Some(error.to_string());
            run.outcome.cause = Some(crate::cause::Cause::Tool);
            return run;
        }
        let wheel = match reused {
            Some(reused) => {
                progress(&format!(
                    "testing {} {} ({label}, same wheel as {})",
                    cell.package, cell.version, reused.from
                ));
                run.outcome.same_as = Some(reused.from.clone());
                run.outcome.notes.push(if reused.pure {
                    "pure wheel: built once".into()
                } else {
                    "abi3 wheel: built once per arch".into()
                });
                Some(reused.wheel.clone())
            }
            None => {
                let doing = if cell.recipe.adopt.is_some() {
                    "adopting"
                } else {
                    "building"
                };
                progress(&format!("{doing} {} {} ({label})", cell.package, cell.version));
                match self.build(cell) {
                    Ok(built) => {
                        run.outcome.notes = built.processed.notes.clone();
                        run.outcome.held = built.processed.unprovided.clone();
                        run.march_native_rewritten = built.march_native_rewritten;
                        run.compile_seconds = built.compile_seconds;
                        let wheel = built.processed.wheel.clone();
                        run.processed = Some(built.processed);
                        run.record = Some(built.record);
                        Some(wheel)
                    }
                    Err(error) => {
                        run.outcome.error = Some(super::error::error_chain(&error));
                        run.outcome.cause = Some(error.cause());
                        None
                    }
                }
            }
        };
        if let Some(wheel) = &wheel {
            run.outcome.size = fs_err::metadata(wheel).ok().map(|m| m.len());
            // Post-processing hashed the wheel it wrote; a reused wheel is hashed here.
            run.outcome.sha256 = match &run.processed {
                Some(processed) => processed.sha256.clone(),
                None => crate::wheel::verified::file_sha256(wheel).ok(),
            };
            run.outcome.wheel = Some(wheel.clone());
        }
        if let Some(wheel) = wheel.filter(|_| test) {
            progress(&format!("testing {} {} ({label})", cell.package, cell.version));
            run.outcome.record_test(self.smoke_test(cell, &wheel));
        }
        run.outcome.seconds = started.elapsed().as_secs_f64();
        run
    }

    /// The build environment at `cell.build_environment`, made on first use. One worker
    /// handles each Python, so it is never made twice at once.
    fn build_environment(&self, cell: &Cell) -> Result<Environment, BuildError> {
        if let Some(environment) = lock(&self.environments).get(&cell.build_environment) {
            return Ok(environment.clone());
        }
        let environment = make_environment(
            &cell.interpreter,
            &cell.build_environment,
            cell.index_url.as_deref(),
            &cell.log(),
        )?;
        lock(&self.environments).insert(cell.build_environment.clone(), environment.clone());
        Ok(environment)
    }

    /// The tool versions of a build, asked once per build environment and stack (the
    /// compilers a stack's modules put first on PATH are the build's).
    fn tool_versions(&self, cell: &Cell, build_python: Option<&Path>, stack: Option<&Stack>) -> ToolVersions {
        let identity = stack
            .map(|stack| stack.lines.iter().chain(&stack.loaded).cloned().collect())
            .unwrap_or_default();
        let key = (build_python.unwrap_or(&cell.interpreter).to_path_buf(), identity);
        if let Some(tools) = lock(&self.tools).get(&key) {
            return tools.clone();
        }
        let tools = ToolVersions::gather_in(
            &cell.interpreter,
            build_python,
            stack.map(|stack| stack.variables.as_ref()),
        );
        lock(&self.tools).insert(key, tools.clone());
        tools
    }

    /// The directories build requirements are taken from first: the staging directory, then
    /// the wheelhouse.
    fn wheelhouse_links(&self, cell: &Cell) -> Vec<PathBuf> {
        let mut links = vec![cell.output.clone()];
        links.extend(dependencies::wheelhouse_directories(self.layout));
        links
    }

    /// The directories a cell's smoke test installs from: what a node of this layer and arch
    /// would see (this arch's staging directory, the generic one, then the wheelhouse
    /// directories of the node's view).
    fn test_links(&self, cell: &Cell) -> Vec<PathBuf> {
        let mut links = vec![super::plan::staging_dir(&cell.output, &cell.arch)];
        if cell.arch != "generic" {
            links.push(cell.output.clone());
        }
        match crate::wheelhouse::node_view(self.layout, &cell.layer, &cell.arch) {
            Ok(view) => links.extend(view.dirs.iter().map(|dir| self.layout.root.join(dir))),
            Err(_) => links.extend(dependencies::wheelhouse_directories(self.layout)),
        }
        links
    }

    /// The stack a cell's build (`build`: with its `build_modules`) or smoke test runs in.
    pub fn stack(&self, cell: &Cell, build: bool) -> Result<Option<Arc<Stack>>, BuildError> {
        super::plan::cell_stack(self.layout, cell, build)
    }

    /// Runs a cell's smoke test on `wheel`, in the layer's environment with the recipe's
    /// `modules`.
    pub(super) fn smoke_test(&self, cell: &Cell, wheel: &Path) -> SmokeReport {
        let stack = match self.stack(cell, false) {
            Ok(stack) => stack,
            Err(error) => {
                return SmokeReport {
                    error: Some(super::error::error_chain(&error)),
                    ..SmokeReport::default()
                };
            }
        };
        smoke_test(&SmokeTest {
            stack,
            interpreter: &cell.interpreter,
            wheel,
            recipe: &cell.recipe,
            cell_dir: &cell.directory,
            log: &cell.log(),
            find_links: self.test_links(cell),
            allow_pypi: cell.test_dependencies_from_pypi,
            index_url: cell.index_url.as_deref(),
        })
    }

    /// Builds and post-processes one cell's wheel.
    fn build(&self, cell: &Cell) -> Result<BuiltWheel, BuildError> {
        let fetched = cell.source.as_ref().ok_or_else(|| BuildError::CellFile {
            file: cell.directory.clone(),
            problem: "the cell has no fetched source (it was planned by a dry run)".into(),
        })?;
        let arch = self
            .layout
            .archs
            .get(&cell.arch)
            .ok_or_else(|| BuildError::UnknownArch {
                layout: self.layout.source.clone(),
                arch: cell.arch.clone(),
            })?
            .clone();
        let dist = cell.directory.join("dist");
        if dist.exists() {
            fs_err::remove_dir_all(&dist)?;
        }
        fs_err::create_dir_all(&dist)?;
        let stack = self.stack(cell, true)?;
        let mut record = new_record(cell, fetched, self.layout);
        record.stack = stack.as_deref().map(StackRecord::of);
        let mut notes = Vec::new();
        let mut march_native_rewritten = Vec::new();
        let mut compile_seconds = 0.0;
        let mut build_python = None;
        let mut adopted = None;
        let built_wheel = if let (true, Some(adopt)) = (fetched.is_wheel, &cell.recipe.adopt) {
            // Adopted: the binary wheel is post-processed from where it was fetched, its
            // edited ELF members written in the same rewrite.
            notes.push(format!(
                "adopted `{}`{}",
                fetched.path.file_name().unwrap_or_default().to_string_lossy(),
                fetched
                    .url
                    .as_deref()
                    .map(|url| format!(" from {url}"))
                    .unwrap_or_default()
            ));
            record.backend = Some("adopted binary wheel".to_string());
            let started = Instant::now();
            let members = super::adopt::read_adopted_members(
                &fetched.path,
                adopt,
                &cell.directory,
                &cell.log(),
                &crate::wheel::verified::cache_root().join("tools"),
                cell.index_url.as_deref(),
                cell.jobs,
            )?;
            tracing::info!(
                "members read once, {} ELF, {} edited, in {:.1} s",
                members.elves.members.len(),
                crate::words::count(members.changes.len(), "search path"),
                started.elapsed().as_secs_f64()
            );
            if adopt.edits_search_paths() && members.changes.is_empty() {
                notes.push("no ELF member's search path needed the asked edits".to_string());
            }
            notes.extend(
                members
                    .changes
                    .iter()
                    .map(|change| format!("search path of {change}")),
            );
            record.search_path_writers = members.writers.clone();
            adopted = Some(members);
            record.tools = self.tool_versions(cell, None, stack.as_deref());
            fetched.path.clone()
        } else if fetched.is_wheel {
            notes.push("PyPI has only a pure wheel: taken as is".into());
            let target = dist.join(fetched.path.file_name().unwrap_or_default());
            fs_err::copy(&fetched.path, &target)?;
            record.tools = self.tool_versions(cell, None, stack.as_deref());
            target
        } else {
            let tree = prepare_tree(cell, fetched, &arch, stack.as_deref(), &mut notes)?;
            march_native_rewritten = tree.march_native_rewritten;
            let setup = self.prepare_build(cell, &tree.root, &arch, stack.as_deref(), &mut notes)?;
            build_python = Some(setup.environment.python.clone());
            record.backend = Some(match &cell.recipe.build_command {
                Some(_) => "recipe build_command".to_string(),
                None => setup.system.backend.clone(),
            });
            record.flags = setup.settings.flags.clone();
            record.build_requirements = setup.requirements.clone();
            record.tools = self.tool_versions(cell, Some(&setup.environment.python), stack.as_deref());
            let compile_started = Instant::now();
            let wheel = compile(cell, &setup, &dist)?;
            compile_seconds += compile_started.elapsed().as_secs_f64();
            wheel
        };
        let mut processed = post_process(&PostProcess {
            built: &built_wheel,
            python: cell.python,
            layout: self.layout,
            recipe: &cell.recipe,
            build_python: build_python.as_deref(),
            record: &record,
            stack: stack.as_deref(),
            layer: &cell.layer,
            adopted: adopted.as_ref(),
            directory: &cell.directory.join("wheel"),
        })?;
        notes.append(&mut processed.notes);
        processed.notes = notes;
        if let Some(stack) = record.stack.as_mut() {
            stack.libraries = processed.stack_libraries.clone();
        }
        Ok(BuiltWheel {
            processed,
            record,
            march_native_rewritten,
            compile_seconds,
        })
    }

    /// The RPATH entries given at link time: the recipe's, then the library directories of
    /// the stack's modules that the layout's `[modules] rpath` rule takes.
    fn link_rpath(&self, cell: &Cell, stack: Option<&Stack>) -> Vec<String> {
        let mut rpath = cell.recipe.rpath.clone();
        if let (Some(stack), Some(modules)) = (stack, &self.layout.modules) {
            let prefixes = self
                .layout
                .layers
                .get(&cell.layer)
                .map(|layer| layer.rpath_prefixes.as_slice())
                .unwrap_or_default();
            for directory in stack.rpath_directories(modules.rpath, prefixes) {
                if !rpath.contains(&directory) {
                    rpath.push(directory);
                }
            }
        }
        rpath
    }

    /// The build environment filled (declared, then the backend's dynamic requirements, the
    /// wheelhouse first), the compiler settings, and the recipe's pre-build commands run.
    fn prepare_build(
        &self,
        cell: &Cell,
        root: &Path,
        arch: &Arch,
        stack: Option<&Stack>,
        notes: &mut Vec<String>,
    ) -> Result<BuildSetup, BuildError> {
        let recipe = &cell.recipe;
        // Every command of the build starts from the stack's environment.
        let mut in_stack = Invocation::default();
        if let Some(stack) = stack {
            stack.apply(&mut in_stack);
        }
        let log = cell.log();
        let system = BuildSystem::read(root)?;
        let kind = system.kind();
        let environment = self.build_environment(cell)?;
        let mut declared = system.requires.clone();
        declared.extend(recipe.build_dependencies.iter().cloned());
        let mut requirements = declared.clone();
        requirements.extend(["pip".to_string(), "wheel".to_string()]);
        let links = self.wheelhouse_links(cell);
        let install = |requirements: Vec<String>, what: &str| {
            install_wheelhouse_first(&InstallRequest {
                environment: &environment,
                requirements,
                find_links: &links,
                allow_pypi: true,
                invocation: &in_stack,
                log: &log,
                what,
                refusal: "the build environment cannot be installed",
            })
        };
        install(requirements.clone(), "installing build dependencies")?;
        // Everything from here on runs inside the build environment: its bin/ first on PATH
        // (backends start cmake, ninja, maturin, meson by name).
        let rpath = self.link_rpath(cell, stack);
        let settings = backend::compiler_settings(&backend::CompilerInputs {
            kind,
            interpreter: &cell.interpreter,
            arch,
            jobs: cell.jobs,
            given: &recipe.environment,
            outer: &|key| in_stack.inherited(key),
            rpath: &rpath,
            frontend_arguments: &recipe.build_args,
        });
        for entry in &rpath {
            notes.push(format!("RPATH `{entry}` added at link time"));
        }
        let mut variables = recipe.environment.clone();
        variables.extend(settings.environment.clone());
        variables.extend(environment.activation(&in_stack));
        // Reproducible: the zip timestamps of the wheel come from the source, not the clock
        // (unless the recipe sets its own).
        if !variables.contains_key("SOURCE_DATE_EPOCH")
            && let Some(epoch) = cell.source.as_ref().and_then(super::tree::source_date_epoch)
        {
            variables.insert("SOURCE_DATE_EPOCH".into(), epoch.to_string());
        }
        if kind == BackendKind::Setuptools && cell.jobs > 1 && !variables.contains_key("DIST_EXTRA_CONFIG") {
            let config = backend::setuptools_parallel_config(&cell.directory, cell.jobs)?;
            variables.insert("DIST_EXTRA_CONFIG".into(), config.display().to_string());
        }
        let invocation = Invocation {
            directory: Some(root.to_path_buf()),
            environment: variables,
            unset: vec!["PIP_REQUIRE_VIRTUALENV".into()],
            base: in_stack.base.clone(),
        };
        for command in &recipe.pre_build {
            run_shell("pre-build command", command, &invocation, &log)?;
        }
        let mut dynamic = Vec::new();
        if recipe.build_command.is_none() {
            // The backend's own list, asked after the pre-build commands (which may edit its
            // configuration), installed the same way.
            let settings_map = backend::config_settings(&recipe.build_args);
            dynamic =
                backend::dynamic_requirements(&environment, root, &system, &settings_map, &invocation, &log)?;
            let missing: Vec<String> = dynamic
                .iter()
                .filter(|requirement| !requirements.contains(requirement))
                .cloned()
                .collect();
            if !missing.is_empty() {
                tracing::info!(
                    "{} {}: the backend asks for {} as well",
                    recipe.package,
                    cell.python,
                    missing.join(", ")
                );
                install(missing, "installing the backend's build requirements")?;
            }
        }
        Ok(BuildSetup {
            environment,
            system,
            settings,
            invocation,
            requirements: BuildRequirements { declared, dynamic },
        })
    }
}

/// A build environment ready to build in.
struct BuildSetup {
    environment: Environment,
    system: BuildSystem,
    settings: CompilerSettings,
    /// Commands in the source tree, inside the build environment, with the compiler settings.
    invocation: Invocation,
    requirements: BuildRequirements,
}

/// The record of a cell's build, before its build environment is known.
fn new_record(cell: &Cell, fetched: &FetchedSource, layout: &Layout) -> BuildRecord {
    BuildRecord {
        wheelwright: env!("CARGO_PKG_VERSION").to_string(),
        package: cell.recipe.package.clone(),
        version: cell.version.clone(),
        python: cell.python.to_string(),
        arch: cell.arch.clone(),
        layer: cell.layer.clone(),
        jobs: cell.jobs,
        source: SourceRecord {
            file: fetched
                .path
                .file_name()
                .map(|name| name.to_string_lossy().into_owned()),
            sha256: fetched.sha256.clone(),
        },
        recipe: cell.recipe.file.as_ref().map(|file| FileRecord {
            file: file
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_default(),
            sha256: crate::wheel::verified::file_sha256(file).ok(),
        }),
        layout: layout.source.clone(),
        ..BuildRecord::default()
    }
}

/// A source tree ready to build.
struct PreparedTree {
    root: PathBuf,
    march_native_rewritten: Vec<String>,
}

/// Unpacks the source into the cell's directory, applies the recipe's patches, rewrites
/// `-march=native` to the arch's flag and applies the package suffix.
fn prepare_tree(
    cell: &Cell,
    fetched: &FetchedSource,
    arch: &Arch,
    stack: Option<&Stack>,
    notes: &mut Vec<String>,
) -> Result<PreparedTree, BuildError> {
    let recipe = &cell.recipe;
    let source_dir = cell.directory.join("src");
    if source_dir.exists() {
        fs_err::remove_dir_all(&source_dir)?;
    }
    let root = super::source::unpack(&fetched.path, &source_dir)?;
    let mut plain = Invocation {
        directory: Some(root.clone()),
        environment: recipe.environment.clone(),
        unset: vec!["PIP_REQUIRE_VIRTUALENV".into()],
        base: None,
    };
    if let Some(stack) = stack {
        stack.apply(&mut plain);
    }
    for patch in &recipe.patches {
        let arguments = [
            "-p1".into(),
            "--batch".into(),
            "-i".into(),
            patch.display().to_string(),
        ];
        run_logged("patch", Path::new("patch"), &arguments, &plain, &cell.log())?;
    }
    let rewritten = tree::rewrite_march_native(&root, &arch.march);
    if !rewritten.is_empty() {
        notes.push(format!(
            "-march=native rewritten to -march={} in {}",
            arch.march,
            rewritten.join(", ")
        ));
    }
    if let Some(suffix) = &recipe.package_suffix {
        let renamed = tree::apply_package_suffix(&root, &recipe.package, suffix)?;
        notes.push(format!(
            "distribution renamed with the suffix `{suffix}` in {}",
            renamed.join(", ")
        ));
    }
    Ok(PreparedTree {
        root,
        march_native_rewritten: rewritten,
    })
}

/// Runs the build (the recipe's build command, or `pip wheel` through the backend) and the
/// post-build commands; the one wheel it made.
fn compile(cell: &Cell, setup: &BuildSetup, dist: &Path) -> Result<PathBuf, BuildError> {
    let recipe: &ResolvedRecipe = &cell.recipe;
    let log = cell.log();
    let python = &setup.environment.python;
    match &recipe.build_command {
        Some(command) => {
            let mut with_dist = setup.invocation.clone();
            with_dist
                .environment
                .insert("WHEEL_DIR".into(), dist.display().to_string());
            with_dist
                .environment
                .insert("PYTHON".into(), python.display().to_string());
            run_shell("build command", command, &with_dist, &log)?;
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
            args.extend(setup.settings.frontend_arguments.iter().cloned());
            args.push(".".into());
            run_logged("pip wheel", python, &args, &setup.invocation, &log)?;
        }
    }
    for command in &recipe.post_build {
        run_shell("post-build command", command, &setup.invocation, &log)?;
    }
    let wheels: Vec<PathBuf> = fs_err::read_dir(dist)?
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|e| e == "whl"))
        .collect();
    match wheels.as_slice() {
        [wheel] => Ok(wheel.clone()),
        [] => Err(BuildError::NoWheel {
            directory: dist.to_path_buf(),
            log,
        }),
        _ => Err(BuildError::SeveralWheels(dist.to_path_buf())),
    }
}
