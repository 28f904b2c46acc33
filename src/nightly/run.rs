//! A nightly run: plan, fetch what is unknown, write a cell file per cell to build, run them
//! through an executor in build order (dependants after what they need, on its fresh wheels;
//! a failure never stops the others), record every result, report, publish. The run's state
//! lives in its directory (`run.json`, written only by the coordinator; each cell writes its
//! own `outcome.json`), so a killed coordinator resumes without building a cell twice.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::build::{Cell, Recipes};
use crate::layout::Layout;

use super::NightlyError;
use super::config::NightlyConfig;
use super::plan::{NightlyPlan, PlanOptions, Planned, learn_source, plan};
use super::state::{
    CellState, HistoryEntry, LastResult, StateStore, now, read_json, run_name, write_json_atomic,
};

use super::model::{CellResult, Executor, RunState, Task, TaskStatus};
use super::schedule::schedule;

/// What `nightly run` is told.
pub struct RunOptions {
    pub rebuild: Vec<String>,
    /// Continue the run in this directory.
    pub resume: Option<PathBuf>,
    /// Plan, fetch and write the cell files; build nothing.
    pub dry_run: bool,
    /// Stage the passing wheels into the wheelhouse at the end.
    pub publish: bool,
    /// Keep the work trees of passing cells.
    pub keep_work: bool,
    /// Where recipes come from.
    pub recipes: Option<PathBuf>,
    /// Rebuild this many up-to-date cells and compare their wheels with the staged ones.
    pub verify_reproducible: usize,
    /// What to do when another run holds the state directory's lock.
    pub when_locked: super::lock::WhenLocked,
}

/// What a finished run leaves.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub directory: PathBuf,
    pub state: RunState,
    /// What publishing placed or refused: one report at the end, or one per package.
    pub published: Vec<crate::wheelhouse::place::Report>,
}

/// Runs the nightly (or resumes one).
pub fn run(
    config: &NightlyConfig,
    layout: &Layout,
    executor: &mut dyn Executor,
    options: &RunOptions,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<RunReport, NightlyError> {
    let mut lock = super::lock::RunLock::acquire(&config.paths.state, options.when_locked, progress)?;
    let store = StateStore::new(&config.paths.state);
    let (directory, mut state) = match &options.resume {
        Some(directory) => resume_state(directory)?,
        None => new_run(config, layout, &store, executor.name(), options, progress)?,
    };
    lock.set_run(&directory)?;
    write_json_atomic(&directory.join("run.json"), &state)?;
    if options.dry_run {
        return Ok(RunReport {
            directory,
            state,
            published: Vec::new(),
        });
    }
    let publishing = options.publish || config.publish;
    let mut published: Vec<crate::wheelhouse::place::Report> = Vec::new();
    if state.finished.is_none() {
        let per_package = publishing && config.publish_per_package;
        let published_each = &mut published;
        let mut on_package_done = |state: &mut RunState, package: &str| {
            if !per_package || state.published.iter().any(|done| done == package) {
                return;
            }
            state.published.push(package.to_string());
            match publish(config, layout, state, Some(package)) {
                Ok(Some(report)) => {
                    progress(&format!(
                        "{package}: published {}",
                        crate::words::count(report.wheels.len(), "wheel")
                    ));
                    published_each.push(report);
                }
                Ok(None) => {}
                Err(error) => progress(&format!("{package}: publishing failed: {error}")),
            }
        };
        schedule(&directory, &mut state, executor, progress, &mut on_package_done)?;
        state.finished = Some(now());
        state.cache_pruned =
            super::cache::prune_sources(&config.paths.cache, config.paths.cache_limit_mb << 20);
        state.build_cache_pruned = super::cache::prune_build_cache(
            config.paths.build_cache.as_deref(),
            config.paths.build_cache_limit_mb << 20,
        );
        write_json_atomic(&directory.join("run.json"), &state)?;
        record_results(&store, &state, 0)?;
    }
    if publishing && !config.publish_per_package {
        published.extend(publish(config, layout, &state, None)?);
    }
    if publishing && config.check.enabled && state.check.is_none() {
        let night = Night {
            config,
            layout,
            store: &store,
            directory: &directory,
            options,
            progress,
        };
        let summary = night.check_and_fill(&mut state, executor, &mut published)?;
        state.check = Some(summary);
        write_json_atomic(&directory.join("run.json"), &state)?;
    }
    super::report::write_reports(&directory, &state, &store)?;
    Ok(RunReport {
        directory,
        state,
        published,
    })
}

/// The state of an interrupted run, from its directory.
fn resume_state(directory: &Path) -> Result<(PathBuf, RunState), NightlyError> {
    let state: RunState = read_json(&directory.join("run.json")).ok_or_else(|| NightlyError::Run {
        directory: directory.to_path_buf(),
        problem: "no readable run.json: not a nightly run directory".into(),
    })?;
    Ok((directory.to_path_buf(), state))
}

/// A new run: its directory, its plan, the sources it lacks fetched, and a cell file per
/// cell to build.
fn new_run(
    config: &NightlyConfig,
    layout: &Layout,
    store: &StateStore,
    executor: &str,
    options: &RunOptions,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<(PathBuf, RunState), NightlyError> {
    let started = now();
    let (name, directory) = run_directory(&config.paths.runs, started)?;
    let planned = plan_and_fetch(config, layout, store, &directory, options, progress)?;
    for package in &planned.unplannable {
        progress(&format!(
            "{}: cannot be planned: {}",
            package.name, package.reason
        ));
    }
    let unplannable = unplannable_results(&planned);
    let mut tasks = tasks(&planned, &directory, config)?;
    let verify = super::reproducible::verify_tasks(
        &planned,
        store,
        &directory,
        &config.paths.output,
        options.verify_reproducible,
    )?;
    let mut up_to_date = up_to_date(&planned, store);
    up_to_date.retain(|result| {
        !verify.iter().any(|task| {
            task.id.package == result.package
                && task.id.layer == result.layer
                && task.id.python.to_string() == result.python
                && task.id.arch == result.arch
        })
    });
    tasks.extend(verify);
    let state = RunState {
        name,
        config: config.file.clone(),
        executor: executor.to_string(),
        started,
        finished: None,
        up_to_date,
        unplannable,
        tasks,
        published: Vec::new(),
        keep_work: options.keep_work,
        peak_scratch: 0,
        cpu: None,
        cache_pruned: (0, 0),
        build_cache_pruned: (0, 0),
        check: None,
        filling: None,
    };
    write_json_atomic(&directory.join("plan.json"), &planned)?;
    Ok((directory, state))
}

/// Plans the set of `config`, fetching the sources the plan needs and planning again (with
/// the index's sdist where a recipe's host cannot be reached and `sdist_fallback` allows it);
/// a source that cannot be fetched makes its package unplannable, with the cause.
fn plan_and_fetch(
    config: &NightlyConfig,
    layout: &Layout,
    store: &StateStore,
    directory: &Path,
    options: &RunOptions,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<NightlyPlan, NightlyError> {
    // Packages whose recipe's source cannot be reached, built from the index's sdist when the
    // configuration allows it (`sdist_fallback`): planned again once with that source.
    let mut index_sources: BTreeMap<String, String> = BTreeMap::new();
    // Failures of earlier passes stand (their packages are not fetched again).
    let mut fetch_failures: BTreeMap<String, String> = BTreeMap::new();
    let mut planned = loop {
        let plan_options = PlanOptions {
            rebuild: &options.rebuild,
            recipes: options.recipes.as_deref(),
            index_sources: &index_sources,
        };
        progress("planning");
        let mut planned = plan(config, layout, store, &plan_options)?;
        let unknown = sources_to_fetch(&planned, &fetch_failures);
        if !unknown.is_empty() {
            for index in unknown {
                let package = &planned.packages[index];
                progress(&format!("fetching {}", package.name));
                let index_source = index_sources.contains_key(&crate::spec::normalize_name(&package.name));
                if let Err(error) = fetch(config, layout, store, directory, package, options, index_source) {
                    fetch_failures.insert(package.name.clone(), crate::build::error_chain(&error));
                }
            }
            planned = plan(config, layout, store, &plan_options)?;
        }
        let unreachable = unreachable_sources(&fetch_failures, &index_sources, config.sdist_fallback);
        if unreachable.is_empty() {
            break planned;
        }
        fetch_failures.retain(|name, _| {
            !unreachable
                .iter()
                .any(|(unreached, _)| *unreached == crate::spec::normalize_name(name))
        });
        for (name, why) in unreachable {
            tracing::warn!(
                "{name}: the recipe's source cannot be reached ({why}): the index's sdist is built instead (sdist_fallback)"
            );
            index_sources.insert(name, why);
        }
    };
    // A source that could not be fetched makes its package unplannable, with the real cause.
    for (name, failure) in fetch_failures {
        planned.make_unplannable(
            &name,
            super::state::Cause::Source,
            format!("fetching the source failed: {failure}"),
        );
    }
    Ok(planned)
}

/// The packages of the plan whose source must be fetched before they can be keyed or built
/// (their positions), but those whose fetch failed already: a key that needs the source's
/// hash, or a cell to build whose source is not in the cache yet (a git source at a tag is
/// keyed by its rev, but built from the fetch).
fn sources_to_fetch(planned: &NightlyPlan, fetch_failures: &BTreeMap<String, String>) -> Vec<usize> {
    planned
        .packages
        .iter()
        .enumerate()
        .filter(|(_, package)| {
            package.cells.iter().any(|cell| {
                cell.key.is_none() || (cell.state == Planned::Build && cell.cell.source.is_none())
            })
        })
        .filter(|(_, package)| !fetch_failures.contains_key(&package.name))
        .map(|(index, _)| index)
        .collect()
}

/// With `sdist_fallback`, the packages whose fetch failed because the recipe's source cannot
/// be reached (and that are not built from the index already): (normalised name, the line of
/// the failure that says so), to plan again with the index's sdist.
fn unreachable_sources(
    fetch_failures: &BTreeMap<String, String>,
    index_sources: &BTreeMap<String, String>,
    sdist_fallback: bool,
) -> Vec<(String, String)> {
    fetch_failures
        .iter()
        .filter(|(name, failure)| {
            sdist_fallback
                && crate::cause::is_unreachable(failure)
                && !index_sources.contains_key(&crate::spec::normalize_name(name))
        })
        .map(|(name, failure)| {
            let why = failure
                .lines()
                .find(|line| crate::cause::is_unreachable(line))
                .unwrap_or(failure)
                .trim();
            (crate::spec::normalize_name(name), crate::words::clip(why, 300))
        })
        .collect()
}

/// A fresh run directory named after the time (`-2`, `-3` when one of that second exists).
fn run_directory(runs: &Path, started: u64) -> Result<(String, PathBuf), NightlyError> {
    fs_err::create_dir_all(runs)?;
    let base = run_name(started);
    for attempt in 1..1000 {
        let name = if attempt == 1 {
            base.clone()
        } else {
            format!("{base}-{attempt}")
        };
        let directory = runs.join(&name);
        match fs_err::create_dir(&directory) {
            Ok(()) => return Ok((name, directory)),
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(error) => return Err(error.into()),
        }
    }
    Err(NightlyError::Run {
        directory: runs.to_path_buf(),
        problem: "cannot make a new run directory".into(),
    })
}

/// Fetches a package's source into the cache and learns its facts.
fn fetch(
    config: &NightlyConfig,
    layout: &Layout,
    store: &StateStore,
    directory: &Path,
    package: &super::plan::PackagePlan,
    options: &RunOptions,
    index_source: bool,
) -> Result<(), crate::build::BuildError> {
    let Some(first) = package.cells.first() else {
        return Ok(());
    };
    let request = crate::build::BuildRequest {
        version: package
            .version
            .clone()
            .or_else(|| package.wanted.as_version_argument().map(str::to_string)),
        pythons: vec![first.cell.python],
        archs: vec![first.cell.arch.clone()],
        work: directory
            .join("work")
            .join(crate::spec::normalize_name(&package.name)),
        ..config.build_request(&package.name, &first.cell.layer)
    };
    fs_err::create_dir_all(&request.work)?;
    let mut recipes = Recipes::find(options.recipes.as_deref(), &package.name)?;
    if index_source {
        recipes = recipes.with_index_source();
    }
    let interpreters = crate::build::find_interpreters(&request.pythons)?;
    let (plan, fetched) = crate::build::prepare(&request, layout, &recipes, &interpreters)?;
    let facts = learn_source(&fetched);
    // Under what names the next plan looks it up: the version's source, and (for a source at a
    // URL or in git given no version) the source as the recipe gives it for every version.
    let mut identities: BTreeSet<String> = BTreeSet::new();
    if let Some(cell) = plan.cells.first() {
        identities.extend(super::state::recipe_source_identity(
            &package.name,
            plan.version.as_deref(),
            &cell.recipe,
        ));
    }
    if package.version.is_none() {
        let context = crate::build::template_context(
            layout,
            &first.cell.layer,
            None,
            first.cell.python,
            &first.cell.arch,
        )?;
        let unversioned = recipes.resolve(None, &context)?;
        identities.extend(super::state::recipe_source_identity(
            &package.name,
            None,
            &unversioned,
        ));
    }
    for identity in identities {
        store.save_source_facts(&identity, &facts)?;
    }
    Ok(())
}

/// A planned cell as this run builds it: in its own directory (with its own build
/// environment: cells may run at once), with its CPUs, staging into `output`.
pub(super) fn cell_in(planned: &Cell, directory: &Path, cpus: usize, output: &Path) -> Cell {
    Cell {
        directory: directory.to_path_buf(),
        build_environment: directory.join("build-env"),
        jobs: cpus,
        output: output.to_path_buf(),
        ..planned.clone()
    }
}

/// The cells to build, each with its cell file written.
fn tasks(planned: &NightlyPlan, directory: &Path, config: &NightlyConfig) -> Result<Vec<Task>, NightlyError> {
    let mut tasks = Vec::new();
    for package in &planned.packages {
        for planned_cell in package
            .cells
            .iter()
            .filter(|cell| cell.state != Planned::UpToDate)
        {
            let relative = planned_cell.id.relative_path();
            let cell_directory = directory.join("work").join(&relative);
            let resources = package.resources_of(&planned_cell.cell);
            let cell = cell_in(
                &planned_cell.cell,
                &cell_directory,
                resources.cpus,
                &config.paths.output,
            );
            let file = directory
                .join("cells")
                .join(format!("{}.json", relative.display()));
            let status = match (planned_cell.state, &cell.source) {
                (Planned::DependencyFailed, _) => {
                    let mut result = failed_before_start(planned_cell, &cell, planned_cell.reasons.join("; "));
                    result.state = CellState::DependencyFailed;
                    result.cause = Some(crate::cause::Cause::Dependency);
                    TaskStatus::Done {
                        result: Box::new(result),
                    }
                }
                (_, None) => TaskStatus::Done {
                    result: Box::new(failed_before_start(
                        planned_cell,
                        &cell,
                        "the source was fetched, but planning again did not find it (a bug of wheelwright's: please report it with this run's plan.json)".into(),
                    )),
                },
                (_, Some(_)) => {
                    fs_err::create_dir_all(file.parent().unwrap_or(directory))?;
                    cell.write(&file)?;
                    TaskStatus::Queued
                }
            };
            tasks.push(Task {
                id: planned_cell.id.clone(),
                version: cell.version.clone(),
                file,
                output_log: cell_directory.join("cell.log"),
                directory: cell_directory,
                cpus: resources.cpus,
                resources,
                needs: package.needs().into_iter().collect(),
                gpus: cell.recipe.test_gpus,
                verify_against: None,
                build_only: false,
                key: planned_cell.key.clone(),
                inputs: planned_cell.inputs.clone(),
                reasons: planned_cell.reasons.clone(),
                status,
            });
        }
    }
    Ok(tasks)
}

/// A result per cell of each package that could not be planned.
fn unplannable_results(planned: &NightlyPlan) -> Vec<CellResult> {
    planned
        .unplannable
        .iter()
        .flat_map(|package| {
            package.cells.iter().map(|id| CellResult {
                cause: Some(package.cause),
                ..CellResult::not_run(
                    id,
                    &package.wanted.to_string(),
                    CellState::Unplannable,
                    Some(format!("[{}] {}", package.cause, package.reason)),
                )
            })
        })
        .collect()
}

fn failed_before_start(planned: &super::plan::PlannedCell, cell: &Cell, reason: String) -> CellResult {
    CellResult {
        cause: Some(crate::cause::Cause::Tool),
        ..CellResult::not_run(&planned.id, &cell.version, CellState::Failed, Some(reason))
    }
}

/// The cells that are up to date, with their earlier wheel.
fn up_to_date(planned: &NightlyPlan, store: &StateStore) -> Vec<CellResult> {
    planned
        .packages
        .iter()
        .flat_map(|package| {
            package
                .cells
                .iter()
                .filter(|cell| cell.state == Planned::UpToDate)
                .map(|cell| {
                    let last = store.last(&cell.id);
                    CellResult {
                        wheel: last
                            .as_ref()
                            .and_then(|last| last.wheel.clone())
                            .map(PathBuf::from),
                        ..CellResult::not_run(
                            &cell.id,
                            &cell.cell.version,
                            CellState::UpToDate,
                            last.as_ref().map(|last| format!("built by run {}", last.run)),
                        )
                    }
                })
        })
        .collect()
}

/// Every result of the run into the state directory (the next run's memory) and its history.
/// Records the results of the tasks from `from` on (those of a pass of the run).
fn record_results(store: &StateStore, state: &RunState, from: usize) -> Result<(), NightlyError> {
    let mut history = Vec::new();
    for task in state.tasks[from.min(state.tasks.len())..]
        .iter()
        .filter(|task| task.verify_against.is_none())
    {
        let TaskStatus::Done { result } = &task.status else {
            continue;
        };
        let requires = match (&result.wheel, result.state) {
            (Some(wheel), CellState::Built) => crate::build::runtime_requirements(wheel, task.id.python)
                .map(|requirements| {
                    requirements
                        .iter()
                        .map(|requirement| requirement.name.to_string())
                        .collect()
                })
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        store.record(
            &task.id,
            &LastResult {
                version: task.version.clone(),
                key: task.key.clone(),
                inputs: task.inputs.clone(),
                state: result.state,
                reason: result.reason.clone(),
                wheel: result
                    .wheel
                    .as_ref()
                    .and_then(|wheel| wheel.file_name())
                    .map(|name| name.to_string_lossy().into_owned()),
                run: state.name.clone(),
                finished: state.finished.unwrap_or_else(now),
                requires,
            },
        )?;
        history.push(HistoryEntry {
            run: state.name.clone(),
            cell: task.id.to_string(),
            package: task.id.package.clone(),
            version: task.version.clone(),
            state: result.state,
            seconds: result.seconds,
            finished: state.finished.unwrap_or_else(now),
        });
    }
    store.append_history(&history)?;
    Ok(())
}

/// The passing wheels of this run (or of one `package`) through cp-wheels' placement, once.
fn publish(
    config: &NightlyConfig,
    layout: &Layout,
    state: &RunState,
    package: Option<&str>,
) -> Result<Option<crate::wheelhouse::place::Report>, NightlyError> {
    let wheels: BTreeSet<PathBuf> = state
        .tasks
        .iter()
        .filter(|task| {
            package.is_none_or(|package| {
                crate::spec::normalize_name(&task.id.package) == crate::spec::normalize_name(package)
            })
        })
        .filter_map(|task| match &task.status {
            TaskStatus::Done { result } if result.state == CellState::Built => result.wheel.clone(),
            TaskStatus::Done { result }
                if result.state == CellState::UntestedGpu && config.publish_untested_gpu =>
            {
                result.wheel.clone()
            }
            _ => None,
        })
        .filter(|wheel| wheel.is_file())
        .collect();
    if wheels.is_empty() {
        return Ok(None);
    }
    let wheels: Vec<PathBuf> = wheels.into_iter().collect();
    let options = crate::wheelhouse::place::Options {
        keep_going: true,
        ..crate::wheelhouse::place::Options::default()
    };
    Ok(Some(crate::wheelhouse::place::place_wheels(
        &wheels,
        layout,
        &options,
        &|_| {},
    )?))
}

/// What the passes of a run after the first share.
struct Night<'a> {
    config: &'a NightlyConfig,
    layout: &'a Layout,
    store: &'a StateStore,
    directory: &'a Path,
    options: &'a RunOptions,
    progress: &'a (dyn Fn(&str) + Sync),
}

impl Night<'_> {
    /// Checks the published wheelhouse; with `fill_holes`, plans the missing dependencies,
    /// builds and publishes them in a pass of their own, and checks again.
    fn check_and_fill(
        &self,
        state: &mut RunState,
        executor: &mut dyn Executor,
        published: &mut Vec<crate::wheelhouse::place::Report>,
    ) -> Result<super::check::CheckSummary, NightlyError> {
        // A run resumed during its fill pass goes on with it.
        let pass = match state.filling.clone() {
            Some(pass) => pass,
            None => {
                (self.progress)("checking what every node can install");
                let summary = super::check::check_wheelhouse(self.config, self.layout);
                if let Some(error) = &summary.error {
                    (self.progress)(&format!("the check could not run: {error}"));
                }
                if !self.config.check.fill_holes || summary.error.is_some() || summary.holes == 0 {
                    return Ok(summary);
                }
                match self.plan_fill(state, &summary)? {
                    Some(pass) => pass,
                    None => return Ok(summary),
                }
            }
        };
        schedule(self.directory, state, executor, self.progress, &mut |_, _| {})?;
        state.finished = Some(now());
        write_json_atomic(&self.directory.join("run.json"), &*state)?;
        record_results(self.store, state, pass.first_task)?;
        for filled in &pass.packages {
            published.extend(publish(self.config, self.layout, state, Some(&filled.name))?);
        }
        (self.progress)("checking again after filling");
        let mut after = super::check::check_wheelhouse(self.config, self.layout);
        after.filled = pass.packages;
        after.holes_before_filling = Some(pass.holes_before);
        Ok(after)
    }

    /// Plans the packages that fill the holes of `summary` (not tried tonight, at most the
    /// limit) as tasks appended to the run, kept in its state; `None` when there are none.
    fn plan_fill(
        &self,
        state: &mut RunState,
        summary: &super::check::CheckSummary,
    ) -> Result<Option<super::model::FillPass>, NightlyError> {
        let tried: BTreeSet<String> = state
            .results()
            .iter()
            .map(|result| crate::spec::normalize_name(&result.package))
            .chain(
                state
                    .tasks
                    .iter()
                    .map(|task| crate::spec::normalize_name(&task.id.package)),
            )
            .collect();
        let fills = super::check::packages_to_fill(summary, self.config, &tried);
        if fills.is_empty() {
            return Ok(None);
        }
        let names: Vec<&str> = fills.iter().map(|(_, filled)| filled.name.as_str()).collect();
        (self.progress)(&format!(
            "filling {}: {}",
            crate::words::count(fills.len(), "hole's package"),
            names.join(", ")
        ));
        let packages: Vec<super::check::FilledPackage> =
            fills.iter().map(|(_, filled)| filled.clone()).collect();
        let mut config = self.config.clone();
        config.packages = fills.into_iter().map(|(entry, _)| entry).collect();
        config.all_recipes = false;
        let planned = plan_and_fetch(
            &config,
            self.layout,
            self.store,
            self.directory,
            self.options,
            self.progress,
        )?;
        let first_task = state.tasks.len();
        let mut tasks = tasks(&planned, self.directory, &config)?;
        for task in &mut tasks {
            if let Some(why) = packages
                .iter()
                .find(|filled| filled.name == crate::spec::normalize_name(&task.id.package))
            {
                task.reasons
                    .insert(0, format!("fills a hole the check found: {}", why.because));
            }
        }
        state.tasks.extend(tasks);
        state.unplannable.extend(unplannable_results(&planned));
        state.up_to_date.extend(up_to_date(&planned, self.store));
        let pass = super::model::FillPass {
            packages,
            first_task,
            holes_before: summary.holes,
        };
        state.filling = Some(pass.clone());
        write_json_atomic(&self.directory.join("run.json"), &*state)?;
        Ok(Some(pass))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_resumes_from_its_run_json_and_refuses_another_directory() {
        let directory = tempfile::tempdir().unwrap();
        let error = resume_state(directory.path()).unwrap_err().to_string();
        assert!(
            error.contains("no readable run.json: not a nightly run directory"),
            "{error}"
        );
        // A run left with one task running and one done: resumed as it was left (the
        // scheduler then decides what to watch, finish or queue again).
        let cells = directory.path().join("cells");
        let mut running = Task::for_tests("numpy", "3.12", "generic", &[], &cells);
        running.status = TaskStatus::Running {
            handle: "job 7".to_string(),
            started: 5,
        };
        let left = RunState {
            name: "20261207-000000".to_string(),
            config: PathBuf::from("nightly.toml"),
            executor: "slurm".to_string(),
            started: 5,
            finished: None,
            up_to_date: Vec::new(),
            unplannable: Vec::new(),
            tasks: vec![
                running,
                Task::for_tests("scipy", "3.12", "generic", &["numpy"], &cells),
            ],
            published: Vec::new(),
            keep_work: false,
            peak_scratch: 0,
            cpu: None,
            cache_pruned: (0, 0),
            build_cache_pruned: (0, 0),
            check: None,
            filling: None,
        };
        write_json_atomic(&directory.path().join("run.json"), &left).unwrap();
        let (resumed_in, resumed) = resume_state(directory.path()).unwrap();
        assert_eq!(resumed_in, directory.path());
        assert_eq!(resumed.tasks, left.tasks);
        assert_eq!(resumed.finished, None);
    }

    #[test]
    fn only_unreachable_sources_fall_back_to_the_index_and_only_once() {
        let failures: BTreeMap<String, String> = [
            (
                "Pillow",
                "fetching https://example.org/pillow.tar.gz\ncurl: (6) Could not resolve host: example.org\n",
            ),
            ("numpy", "the archive's sha256 is abc, the recipe says def"),
            ("scipy", "git clone: Failed to connect to github.com port 443"),
        ]
        .iter()
        .map(|(name, failure)| (name.to_string(), failure.to_string()))
        .collect();
        // Without sdist_fallback, nothing falls back.
        assert!(unreachable_sources(&failures, &BTreeMap::new(), false).is_empty());
        // With it: the unreachable ones, by normalised name, with the line that says why.
        assert_eq!(
            unreachable_sources(&failures, &BTreeMap::new(), true),
            [
                (
                    "pillow".to_string(),
                    "curl: (6) Could not resolve host: example.org".to_string()
                ),
                (
                    "scipy".to_string(),
                    "git clone: Failed to connect to github.com port 443".to_string()
                ),
            ]
        );
        // A package built from the index already does not fall back again.
        let already: BTreeMap<String, String> = [("pillow".to_string(), "earlier".to_string())].into();
        let again = unreachable_sources(&failures, &already, true);
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].0, "scipy");
    }

    #[test]
    fn a_new_run_directory_is_named_after_its_second_and_never_reused() {
        let runs = tempfile::tempdir().unwrap();
        let started = 1_796_601_600; // 2026-12-07 00:00:00 UTC
        let names: Vec<String> = (0..3)
            .map(|_| run_directory(runs.path(), started).unwrap().0)
            .collect();
        assert_eq!(
            names,
            ["20261207-000000", "20261207-000000-2", "20261207-000000-3"]
        );
        assert!(runs.path().join("20261207-000000-3").is_dir());
    }
}
