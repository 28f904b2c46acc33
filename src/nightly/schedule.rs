//! Running a run's tasks through an executor: dependants after what they need (or, with a
//! scheduler's job dependencies, chained to them), a task whose need failed marked
//! `dependency-failed` (and its waiting job cancelled), each result read from the cell's
//! `outcome.json` or from how the executor saw it end; Ctrl-C cancels what the run started.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::build::OUTCOME_FILE;

use super::NightlyError;
use super::model::{CellResult, Ended, Executor, RunState, Task, TaskStatus};
use super::state::{CellState, now, read_json, write_json_atomic};

/// What a task's needs say: ready (after these running tasks), still waiting, or a need failed.
enum Readiness {
    Ready(Vec<String>),
    Waiting,
    NeedFailed(String),
}

/// The cells of the packages a task needs, on its layer and Python: done and passed (or, when
/// the executor chains dependencies, running), or not.
fn readiness(tasks: &[Task], task: &Task, chains: bool) -> Readiness {
    let needs: BTreeSet<String> = task
        .needs
        .iter()
        .map(|name| crate::spec::normalize_name(name))
        .collect();
    let mut waiting = false;
    let mut after = Vec::new();
    for other in tasks {
        if !needs.contains(&crate::spec::normalize_name(&other.id.package))
            || other.id.layer != task.id.layer
            || other.id.python != task.id.python
        {
            continue;
        }
        match &other.status {
            TaskStatus::Done { result } if result.state.passed() => {}
            TaskStatus::Done { result } => {
                return Readiness::NeedFailed(format!(
                    "needs {}, whose cell {} {} {}",
                    other.id.package, other.id.python, other.id.arch, result.state
                ));
            }
            TaskStatus::Running { handle, .. } if chains => after.push(handle.clone()),
            _ => waiting = true,
        }
    }
    if waiting {
        Readiness::Waiting
    } else {
        Readiness::Ready(after)
    }
}

/// A task's result when it did not run to its end: `state` with `reason`.
fn not_run(task: &Task, state: CellState, reason: String) -> TaskStatus {
    let mut result = result_of(task, "", None);
    result.state = state;
    result.cause = match state {
        CellState::DependencyFailed => Some(crate::cause::Cause::Dependency),
        CellState::Failed => Some(crate::cause::Cause::Tool),
        _ => None,
    };
    result.reason = Some(reason);
    result.log = None;
    TaskStatus::Done {
        result: Box::new(result),
    }
}

/// Runs the queued tasks in build order until every one is done.
/// `on_package_done` is called once a package's every task is done (to publish it then).
pub(super) fn schedule(
    directory: &Path,
    state: &mut RunState,
    executor: &mut dyn Executor,
    progress: &(dyn Fn(&str) + Sync),
    on_package_done: &mut dyn FnMut(&mut RunState, &str),
) -> Result<(), NightlyError> {
    let run_file = directory.join("run.json");
    // Tasks an earlier coordinator left running: finished (their outcome is there), still
    // running (watched again), or lost (queued again).
    for index in 0..state.tasks.len() {
        if let TaskStatus::Running { handle, .. } = state.tasks[index].status.clone()
            && !executor.reattach(index, &state.tasks[index], &handle)
        {
            let task = &state.tasks[index];
            state.tasks[index].status = if task.directory.join(OUTCOME_FILE).is_file() {
                TaskStatus::Done {
                    result: Box::new(result_of(task, &handle, None)),
                }
            } else {
                TaskStatus::Queued
            };
        }
    }
    write_json_atomic(&run_file, state)?;
    let chains = executor.chains_dependencies();
    let started = Instant::now();
    loop {
        if super::model::stop_requested() {
            cancel(state, executor, progress);
            write_json_atomic(&run_file, state)?;
            return Ok(());
        }
        let mut changed = finish_ended(state, executor, chains, progress);
        changed |= start_ready(state, executor, chains, progress)?;
        if changed {
            for package in finished_packages(state) {
                on_package_done(state, &package);
            }
            state.peak_scratch = state
                .peak_scratch
                .max(super::cache::disk_usage(&directory.join("work")));
            if let Some(cpu) = executor.cpu_use() {
                state.cpu = Some(cpu);
            }
            write_json_atomic(&run_file, state)?;
            progress(&status_line(state));
        }
        let open = state
            .tasks
            .iter()
            .filter(|task| !matches!(task.status, TaskStatus::Done { .. }))
            .count();
        if open == 0 {
            break;
        }
        if executor.running() == 0 && !changed {
            // Nothing runs and nothing could start: the remaining tasks wait for each other.
            return Err(NightlyError::Run {
                directory: directory.to_path_buf(),
                problem: format!("{open} cells wait for cells that never run"),
            });
        }
        std::thread::sleep(Duration::from_millis(
            if started.elapsed() < Duration::from_secs(5) {
                50
            } else {
                250
            },
        ));
    }
    Ok(())
}

/// The packages whose every task is done.
fn finished_packages(state: &RunState) -> Vec<String> {
    let mut open: BTreeSet<&str> = BTreeSet::new();
    let mut all: BTreeSet<&str> = BTreeSet::new();
    for task in &state.tasks {
        all.insert(&task.id.package);
        if !matches!(task.status, TaskStatus::Done { .. }) {
            open.insert(&task.id.package);
        }
    }
    all.difference(&open).map(|package| package.to_string()).collect()
}

/// The prefix of the progress messages that say where the run stands (a terminal shows them
/// as one live line).
pub const STATUS: &str = "status: ";

/// `status: 12 done (1 failed), 2 running, 5 queued`.
fn status_line(state: &RunState) -> String {
    let (mut done, mut failed, mut running, mut queued) = (0, 0, 0, 0);
    for task in &state.tasks {
        match &task.status {
            TaskStatus::Done { result } => {
                done += 1;
                if !result.state.passed() {
                    failed += 1;
                }
            }
            TaskStatus::Running { .. } => running += 1,
            TaskStatus::Queued => queued += 1,
        }
    }
    format!("{STATUS}{done} done ({failed} not passed), {running} running, {queued} queued")
}

/// Records the tasks the executor saw end; a task whose need failed meanwhile is
/// `dependency-failed`, whatever its job did.
fn finish_ended(
    state: &mut RunState,
    executor: &mut dyn Executor,
    chains: bool,
    progress: &(dyn Fn(&str) + Sync),
) -> bool {
    let mut changed = false;
    for (index, ended) in executor.poll() {
        let TaskStatus::Running { handle, .. } = state.tasks[index].status.clone() else {
            continue;
        };
        let mut result = result_of(&state.tasks[index], &handle, Some(&ended));
        if let Some(against) = &state.tasks[index].verify_against {
            result = verified(result, against);
        }
        if !result.state.passed()
            && let Readiness::NeedFailed(reason) = readiness(&state.tasks, &state.tasks[index], chains)
        {
            result.state = CellState::DependencyFailed;
            result.reason = Some(reason);
        }
        progress(&format!(
            "{} {}: {}",
            state.tasks[index].id, state.tasks[index].version, result.state
        ));
        if result.state.passed() && !state.keep_work {
            // Bounded scratch: a passing cell's tree and environments go as soon as its
            // result is recorded (its wheel is staged); a failed one keeps everything.
            for part in ["src", "build-env", "test-env", "dist", "wheel"] {
                let _ = fs_err::remove_dir_all(state.tasks[index].directory.join(part));
            }
        }
        state.tasks[index].status = TaskStatus::Done {
            result: Box::new(result),
        };
        changed = true;
    }
    changed
}

/// Starts every queued task whose needs allow it (and marks those whose needs failed); with
/// chained dependencies, cancels the waiting jobs of a need that failed.
fn start_ready(
    state: &mut RunState,
    executor: &mut dyn Executor,
    chains: bool,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<bool, NightlyError> {
    let mut changed = false;
    for index in 0..state.tasks.len() {
        let queued = state.tasks[index].status == TaskStatus::Queued;
        let running = matches!(state.tasks[index].status, TaskStatus::Running { .. });
        if !(queued || running && chains) {
            continue;
        }
        match readiness(&state.tasks, &state.tasks[index], chains) {
            Readiness::NeedFailed(reason) => {
                if running {
                    executor.cancel(index);
                }
                let task = &state.tasks[index];
                progress(&format!(
                    "{} {}: {}",
                    task.id,
                    task.version,
                    CellState::DependencyFailed
                ));
                state.tasks[index].status = not_run(task, CellState::DependencyFailed, reason);
                changed = true;
            }
            Readiness::Ready(after) if queued && executor.has_room(&state.tasks[index]) => {
                let _ = fs_err::remove_file(state.tasks[index].directory.join(OUTCOME_FILE));
                let handle = match executor.start(index, &state.tasks[index], &after) {
                    Ok(handle) => handle,
                    Err(error) => {
                        // A job the scheduler refuses is this cell's failure, not the run's.
                        let task = &state.tasks[index];
                        progress(&format!("{} {}: {}", task.id, task.version, CellState::Failed));
                        state.tasks[index].status = not_run(task, CellState::Failed, error.to_string());
                        changed = true;
                        continue;
                    }
                };
                progress(&format!(
                    "{} {}: started ({handle})",
                    state.tasks[index].id, state.tasks[index].version
                ));
                state.tasks[index].status = TaskStatus::Running {
                    handle,
                    started: now(),
                };
                changed = true;
            }
            _ => {}
        }
    }
    Ok(changed)
}

/// Stops the run: what this run started is cancelled, what has not started is `cancelled`.
fn cancel(state: &mut RunState, executor: &mut dyn Executor, progress: &(dyn Fn(&str) + Sync)) {
    progress("stopping: cancelling the cells this run started");
    executor.cancel_all();
    for index in 0..state.tasks.len() {
        if !matches!(state.tasks[index].status, TaskStatus::Done { .. }) {
            state.tasks[index].status = not_run(
                &state.tasks[index],
                CellState::Cancelled,
                "the run was stopped (Ctrl-C or SIGTERM)".to_string(),
            );
        }
    }
}

/// A task's result from its `outcome.json` (or, without one, from how its process ended).
fn result_of(task: &Task, handle: &str, ended: Option<&Ended>) -> CellResult {
    let outcome: Option<WrittenOutcome> = read_json(&task.directory.join(OUTCOME_FILE));
    let started = match &task.status {
        TaskStatus::Running { started, .. } => Some(*started),
        _ => None,
    };
    let mut result = CellResult {
        package: task.id.package.clone(),
        version: task.version.clone(),
        layer: task.id.layer.clone(),
        python: task.id.python.to_string(),
        arch: task.id.arch.clone(),
        state: CellState::Failed,
        reason: None,
        seconds: started.map_or(0.0, |started| now().saturating_sub(started) as f64),
        wheel: None,
        size: None,
        log: Some(task.directory.join("build.log")).filter(|log| log.is_file()),
        output_log: Some(task.output_log.clone()),
        job: (!handle.is_empty()).then(|| handle.to_string()),
        reproducible: None,
        cause: None,
    };
    if let Some((killed, ended)) = ended.and_then(|ended| ended.killed.as_ref().map(|killed| (killed, ended)))
    {
        result.state = ended.state.unwrap_or(CellState::Failed);
        result.cause = ended.state.map(|_| crate::cause::Cause::Limit);
        result.reason = Some(match outcome.and_then(|outcome| outcome.error) {
            Some(error) => format!("{killed}; the cell said: {error}"),
            None => format!("{killed}; see {}", task.output_log.display()),
        });
        return result;
    }
    match outcome {
        Some(outcome) => {
            result.seconds = outcome.seconds;
            result.wheel = outcome.wheel.clone();
            result.size = outcome.size;
            let built_only = task.build_only && outcome.test == crate::build::record::TestStatus::NotRun;
            if outcome.error.is_none()
                && outcome.test == crate::build::record::TestStatus::Passed
                && !outcome.held.is_empty()
            {
                result.state = CellState::Held;
                result.reason = Some(format!("held back, not published: {}", outcome.held.join("; ")));
            } else if outcome.error.is_none()
                && (outcome.test == crate::build::record::TestStatus::Passed || built_only)
            {
                result.state = CellState::Built;
                result.reason = Some(task.reasons.join("; ")).filter(|reason| !reason.is_empty());
            } else if task.gpus > 0
                && outcome.error.is_none()
                && outcome.test == crate::build::record::TestStatus::NotRun
            {
                // Built, but nowhere to run its test: never silently passed.
                result.state = CellState::UntestedGpu;
                result.reason = Some(format!(
                    "built; its smoke test needs {} GPU{} and none was available (the wheel stays in {})",
                    task.gpus,
                    if task.gpus == 1 { "" } else { "s" },
                    task.directory.display()
                ));
            } else {
                result.reason = Some(
                    outcome
                        .error
                        .clone()
                        .unwrap_or_else(|| format!("the smoke test {}", outcome.test)),
                );
                // A cell that says nothing of whose it is failed its own build or test.
                result.cause = Some(outcome.cause.unwrap_or(crate::cause::Cause::Package));
            }
        }
        None => {
            result.cause = Some(crate::cause::Cause::Tool);
            result.reason = Some(match ended {
                Some(ended) => format!(
                    "the cell ended ({}) without an outcome; see {}",
                    ended.how,
                    task.output_log.display()
                ),
                None => format!("the cell left no outcome; see {}", task.output_log.display()),
            });
        }
    }
    result
}

/// A verification rebuild's result: the cell stays up to date, with how its new wheel
/// compares with the staged one (a rebuild that failed is a failed cell).
fn verified(mut result: CellResult, against: &Path) -> CellResult {
    if result.state != CellState::Built {
        result.reason = result
            .reason
            .map(|reason| format!("rebuilding to verify: {reason}"));
        return result;
    }
    let comparison = result
        .wheel
        .as_deref()
        .map(|wheel| super::reproducible::compare(wheel, against));
    result.state = CellState::UpToDate;
    result.reason = Some(match &comparison {
        Some(comparison) if comparison.identical => "rebuilt: byte-identical to the staged wheel".to_string(),
        Some(comparison) => format!(
            "rebuilt: differs from the staged wheel: {}",
            comparison.differences.join("; ")
        ),
        None => "rebuilt, but left no wheel to compare".to_string(),
    });
    result.reproducible = comparison;
    result
}

/// The parts of a cell's `outcome.json` a result needs.
#[derive(Deserialize)]
struct WrittenOutcome {
    wheel: Option<PathBuf>,
    size: Option<u64>,
    test: crate::build::record::TestStatus,
    seconds: f64,
    error: Option<String>,
    #[serde(default)]
    held: Vec<String>,
    #[serde(default)]
    cause: Option<crate::cause::Cause>,
}
