//! The nightly's data, below everything that uses it: the tasks of a run and where each is,
//! how a cell's process ended, the executor interface, cell results and a run's state. The
//! coordinator ([`super::run`], [`super::schedule`]), the executors ([`super::local`],
//! [`super::slurm`]) and the reports ([`super::report`]) all import from here, and none of
//! them from another.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use super::config::Resources;
use super::state::CellState;
use super::{CellId, NightlyError};

/// Set when the user asks the run to stop (Ctrl-C, SIGTERM): the command that runs the
/// nightly installs the signal handler that calls [`request_stop`]; library code installs none.
static STOP: AtomicBool = AtomicBool::new(false);

/// Asks the running nightly to stop cleanly: what it started is cancelled, what it has not
/// started is `cancelled` (safe to call from a signal handler).
pub fn request_stop() {
    STOP.store(true, Ordering::SeqCst);
}

/// Whether a stop was asked for.
pub fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// Where a task is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum TaskStatus {
    Queued,
    Running { handle: String, started: u64 },
    Done { result: Box<CellResult> },
}

/// A cell this run builds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    pub id: CellId,
    pub version: String,
    /// The cell file (`wheelwright nightly cell FILE`).
    pub file: PathBuf,
    /// The cell's directory (its `outcome.json`, `build.log`).
    pub directory: PathBuf,
    /// The cell process's own output.
    pub output_log: PathBuf,
    pub cpus: usize,
    pub resources: Resources,
    /// Packages of the set it waits for.
    pub needs: Vec<String>,
    /// GPUs its smoke test needs (the recipe's `test_gpus`).
    #[serde(default)]
    pub gpus: u32,
    /// For a rebuild that verifies reproducibility: the staged wheel to compare with.
    #[serde(default)]
    pub verify_against: Option<PathBuf>,
    /// Build only (no smoke test, nothing staged): a verification rebuild.
    #[serde(default)]
    pub build_only: bool,
    pub key: Option<String>,
    pub inputs: BTreeMap<String, String>,
    /// Why it is built.
    pub reasons: Vec<String>,
    pub status: TaskStatus,
}

/// One cell in the run's report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellResult {
    pub package: String,
    pub version: String,
    pub layer: String,
    pub python: String,
    pub arch: String,
    pub state: CellState,
    /// Why it failed, or why it was built.
    pub reason: Option<String>,
    pub seconds: f64,
    /// The staged wheel.
    pub wheel: Option<PathBuf>,
    pub size: Option<u64>,
    /// The cell's build log (and its process output).
    pub log: Option<PathBuf>,
    pub output_log: Option<PathBuf>,
    /// The pid or Slurm job that ran it.
    pub job: Option<String>,
    /// For an up-to-date cell rebuilt by `--verify-reproducible`: how the new wheel compares.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reproducible: Option<super::reproducible::Reproducibility>,
    /// Whose a failure is (the recipe's, the site stack's, the source's, the package's, ours,
    /// a limit's, a need's); `None` for a cell that passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<crate::cause::Cause>,
}

impl CellResult {
    /// The result of a cell that did not run (up to date, set aside, refused before it
    /// started): no time, no wheel, no logs.
    pub fn not_run(id: &CellId, version: &str, state: CellState, reason: Option<String>) -> Self {
        CellResult {
            package: id.package.clone(),
            version: version.to_string(),
            layer: id.layer.clone(),
            python: id.python.to_string(),
            arch: id.arch.clone(),
            state,
            reason,
            seconds: 0.0,
            wheel: None,
            size: None,
            log: None,
            output_log: None,
            job: None,
            reproducible: None,
            cause: None,
        }
    }

    /// `numpy 2.2.6 (gentoo2023, py3.12, x86-64-v3)`.
    pub fn describe(&self) -> String {
        format!(
            "{} {} ({}, py{}, {})",
            self.package, self.version, self.layer, self.python, self.arch
        )
    }
}

/// The run's state, `run.json` in its directory.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunState {
    pub name: String,
    pub config: PathBuf,
    pub executor: String,
    pub started: u64,
    pub finished: Option<u64>,
    /// Cells that were up to date (not run).
    pub up_to_date: Vec<CellResult>,
    /// The cells of packages that could not be planned (not run), with the reason.
    #[serde(default)]
    pub unplannable: Vec<CellResult>,
    pub tasks: Vec<Task>,
    /// Packages whose wheels were published already (`[publish] per_package`).
    #[serde(default)]
    pub published: Vec<String>,
    /// Keep the work trees of cells that passed (`--keep-work`).
    #[serde(default)]
    pub keep_work: bool,
    /// The most the run's work directory held at once, in bytes.
    #[serde(default)]
    pub peak_scratch: u64,
    /// How busy the CPUs were (the local executor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<CpuUse>,
    /// What pruning the source cache to its limit removed (sources, bytes).
    #[serde(default)]
    pub cache_pruned: (usize, u64),
    /// What pruning uv's cache of build requirements removed (packages, bytes).
    #[serde(default)]
    pub build_cache_pruned: (usize, u64),
    /// What the check of the wheelhouse after publishing found (and filled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<super::check::CheckSummary>,
    /// The pass that fills the holes the check found, once planned (a run resumed during it
    /// goes on with it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filling: Option<FillPass>,
}

/// The packages a run planned to fill holes: their tasks start at `first_task`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FillPass {
    pub packages: Vec<super::check::FilledPackage>,
    pub first_task: usize,
    /// The holes the check found before.
    pub holes_before: usize,
}

impl RunState {
    /// Every cell's result so far (up to date, then the tasks that are done).
    pub fn results(&self) -> Vec<CellResult> {
        let mut results = self.up_to_date.clone();
        results.extend(self.unplannable.iter().cloned());
        results.extend(self.tasks.iter().filter_map(|task| match &task.status {
            TaskStatus::Done { result } => Some((**result).clone()),
            _ => None,
        }));
        results.sort_by(|a, b| {
            (&a.package, &a.layer, &a.python, &a.arch).cmp(&(&b.package, &b.layer, &b.python, &b.arch))
        });
        results
    }

    /// Whether every cell passed.
    pub fn ok(&self) -> bool {
        self.results().iter().all(|result| result.state.passed())
    }
}

/// How a cell's process ended, as the executor saw it.
#[derive(Debug, Clone)]
pub struct Ended {
    pub success: bool,
    /// `exit status: 1`, or the scheduler's state (`Slurm job 12: FAILED`).
    pub how: String,
    /// Set when the scheduler, not the cell, ended it (time limit, memory, node failure,
    /// cancelled): its words, which are the cell's reason whatever the cell wrote.
    pub killed: Option<String>,
    /// The state a limit gave the cell (`timeout`, `out-of-memory`) when a limit ended it;
    /// otherwise a cell ended by someone else is `failed`.
    pub state: Option<CellState>,
}

/// Where cells run: this machine, or a scheduler.
/// How busy the machine's CPUs were while the run's cells ran (the local executor, from
/// `/proc/stat`): the cores busy on average in each interval, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CpuUse {
    /// The machine's CPUs.
    pub cores: usize,
    /// The length of each interval (doubled as a long run goes on, so the series stays short).
    pub interval_seconds: f64,
    /// Cores busy on average in each interval.
    pub busy: Vec<f32>,
}

impl CpuUse {
    /// Cores busy on average over the whole series.
    pub fn mean(&self) -> Option<f64> {
        (!self.busy.is_empty())
            .then(|| self.busy.iter().map(|busy| f64::from(*busy)).sum::<f64>() / self.busy.len() as f64)
    }
}

pub trait Executor {
    fn name(&self) -> &'static str;
    /// Whether a task may be started before the tasks it needs finish, given their handles
    /// (a scheduler's job dependencies).
    fn chains_dependencies(&self) -> bool {
        false
    }
    /// Whether `task` can start now.
    fn has_room(&self, task: &Task) -> bool;
    /// Starts a task after the running tasks `after` (handles); returns its handle (`pid
    /// 1234`, `job 56`), kept in `run.json`.
    fn start(&mut self, index: usize, task: &Task, after: &[String]) -> Result<String, NightlyError>;
    /// Watches a task an earlier coordinator started; false when it is no longer running.
    fn reattach(&mut self, index: usize, task: &Task, handle: &str) -> bool;
    /// The tasks that ended since the last call.
    fn poll(&mut self) -> Vec<(usize, Ended)>;
    /// Tasks running.
    fn running(&self) -> usize;
    /// Stops one task.
    fn cancel(&mut self, index: usize);
    /// Stops what this run started.
    fn cancel_all(&mut self);
    /// Variables every cell started from now on is given (e.g. `UV_CACHE_DIR`).
    fn set_environment(&mut self, variables: Vec<(String, String)>);
    /// How busy this machine's CPUs have been since the executor started, when it measures
    /// that (cells that run elsewhere, as Slurm's, are not measured).
    fn cpu_use(&self) -> Option<CpuUse> {
        None
    }
}

/// The sha256 of a value's JSON, hex.
pub fn hash_of(value: &impl Serialize) -> String {
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    sha2::Sha256::digest(&bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[cfg(test)]
impl Task {
    /// A queued task of `package` on layer `gentoo2023`, `python` and `arch`, needing
    /// `needs`, whose cell directory is `directory` (for the coordinator's tests).
    pub(crate) fn for_tests(
        package: &str,
        python: &str,
        arch: &str,
        needs: &[&str],
        directory: &std::path::Path,
    ) -> Self {
        Task {
            id: CellId {
                package: package.to_string(),
                layer: "gentoo2023".to_string(),
                python: python.parse().expect("a Python version"),
                arch: arch.to_string(),
            },
            version: "1.0".to_string(),
            file: directory.join("cell.json"),
            directory: directory.to_path_buf(),
            output_log: directory.join("cell.log"),
            cpus: 2,
            resources: Resources::default(),
            needs: needs.iter().map(|need| need.to_string()).collect(),
            gpus: 0,
            verify_against: None,
            build_only: false,
            key: None,
            inputs: BTreeMap::new(),
            reasons: vec!["no earlier result".to_string()],
            status: TaskStatus::Queued,
        }
    }
}
