//! The local executor: each cell runs as its own process (`wheelwright nightly cell FILE`),
//! as many at once as the CPU budget allows, each given its share of CPUs; a coordinator that
//! was killed finds the cells still running by their process id when it resumes.
//!
//! A cell does not keep its CPUs busy all the time: creating environments, installing build
//! requirements, packing and the smoke test are mostly one process waiting on the disk. When
//! the machine has measured (from `/proc/stat`) at least one CPU of the budget idle for a
//! while, one more cell is started beyond the reserved budget (at most twice the budget in
//! cells), so those phases overlap with another cell's compiling.
//!
//! Each cell runs in a process group of its own, held to its `time` and `memory`
//! ([`super::limits`]); cancelling a cell ends its whole group, compilers included.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use super::NightlyError;
use super::limits::{GroupMemory, Limits, Watch, signal_group};
use super::model::{Ended, Executor, Task, TaskStatus};

/// Cells as child processes within a CPU budget.
pub struct LocalExecutor {
    /// CPUs in all.
    budget: usize,
    /// CPUs in use.
    used: usize,
    /// The program that runs a cell (this one) and the layout it is given.
    program: PathBuf,
    layout: Option<PathBuf>,
    children: BTreeMap<usize, Running>,
    /// Whether this machine has a GPU (`nvidia-smi -L` lists one).
    gpu: bool,
    /// How busy the machine's CPUs have been lately.
    meter: CpuMeter,
    /// When the last cell was started (a new cell takes a moment to get busy).
    last_start: Option<Instant>,
    /// Variables each cell is given.
    environment: Vec<(String, String)>,
    /// The resident memory of the process groups, read at most once a second.
    memory: GroupMemory,
    memory_read: Option<Instant>,
}

/// The machine's CPU use over the last few seconds, from `/proc/stat` samples, and over the
/// whole run, interval by interval.
#[derive(Default)]
struct CpuMeter {
    /// (when, idle jiffies, all jiffies), oldest first, the last `WINDOW` of them.
    samples: std::collections::VecDeque<(Instant, u64, u64)>,
    /// CPUs of the machine.
    cores: usize,
    /// Cores busy in each interval of `step` since the first sample.
    history: Vec<f32>,
    /// The length of an interval of `history`.
    step: Duration,
    /// Where the current interval began (when, idle jiffies, all jiffies).
    mark: Option<(Instant, u64, u64)>,
}

/// The first length of an interval of the run's CPU history.
const HISTORY_STEP: Duration = Duration::from_secs(5);

/// At most this many intervals: then two by two are merged and the interval doubles (a
/// ten-hour night keeps intervals of 80 s).
const HISTORY_LENGTH: usize = 720;

/// How long the CPUs must have been idle before a cell beyond the budget starts.
const WINDOW: Duration = Duration::from_secs(2);

impl CpuMeter {
    fn new() -> Self {
        CpuMeter {
            cores: std::thread::available_parallelism().map_or(1, usize::from),
            step: HISTORY_STEP,
            ..Default::default()
        }
    }

    /// Adds the interval that ends with the sample `(now, idle, all)` to the history when it
    /// is long enough.
    fn record(&mut self, now: Instant, idle: u64, all: u64) {
        let Some((since, first_idle, first_all)) = self.mark else {
            self.mark = Some((now, idle, all));
            return;
        };
        if now.duration_since(since) < self.step {
            return;
        }
        if all > first_all {
            let idle = idle.saturating_sub(first_idle) as f64 / (all - first_all) as f64;
            self.history.push(((1.0 - idle) * self.cores as f64) as f32);
        }
        self.mark = Some((now, idle, all));
        if self.history.len() >= HISTORY_LENGTH {
            self.history = self
                .history
                .chunks(2)
                .map(|pair| pair.iter().sum::<f32>() / pair.len() as f32)
                .collect();
            self.step *= 2;
        }
    }

    /// The history so far.
    fn used(&self) -> crate::nightly::model::CpuUse {
        crate::nightly::model::CpuUse {
            cores: self.cores,
            interval_seconds: self.step.as_secs_f64(),
            busy: self.history.clone(),
        }
    }

    /// Takes a sample (nothing when `/proc/stat` cannot be read: no cell beyond the budget).
    fn sample(&mut self) {
        let Some((idle, all)) = fs_err::read_to_string("/proc/stat")
            .ok()
            .and_then(|text| cpu_jiffies(&text))
        else {
            return;
        };
        let now = Instant::now();
        self.record(now, idle, all);
        self.samples.push_back((now, idle, all));
        while self
            .samples
            .front()
            .is_some_and(|(when, ..)| now.duration_since(*when) > WINDOW + Duration::from_secs(1))
        {
            self.samples.pop_front();
        }
    }

    /// CPUs busy on average since `since` (`None`: not measured for long enough).
    fn busy_since(&self, since: Instant) -> Option<f64> {
        let (last_when, last_idle, last_all) = *self.samples.back()?;
        let (first_when, first_idle, first_all) = *self.samples.iter().find(|(when, ..)| {
            *when >= since && last_when.duration_since(*when) <= WINDOW + Duration::from_secs(1)
        })?;
        if last_when.duration_since(first_when) < WINDOW || last_all <= first_all {
            return None;
        }
        let idle = (last_idle - first_idle) as f64 / (last_all - first_all) as f64;
        Some((1.0 - idle) * self.cores as f64)
    }
}

/// The idle (idle + iowait) and all jiffies of the `cpu` line of `/proc/stat`.
fn cpu_jiffies(stat: &str) -> Option<(u64, u64)> {
    let line = stat.lines().find(|line| line.starts_with("cpu "))?;
    let numbers: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    // user nice system idle iowait irq softirq steal (guest time is counted in user).
    let idle = numbers.get(3)? + numbers.get(4).copied().unwrap_or(0);
    let all = numbers.iter().take(8).sum();
    Some((idle, all))
}

enum Running {
    /// Started by this coordinator.
    Child { child: Child, cpus: usize, watch: Watch },
    /// Started by an earlier coordinator of this run: watched by its process id.
    Adopted { pid: u32, cpus: usize, watch: Watch },
}

impl Running {
    fn cpus(&self) -> usize {
        match self {
            Running::Child { cpus, .. } | Running::Adopted { cpus, .. } => *cpus,
        }
    }

    /// Ends the cell's whole process group and, for a child, reaps it.
    fn end(&mut self) {
        match self {
            Running::Child { child, .. } => {
                if let Ok(group) = i32::try_from(child.id()) {
                    signal_group(group, libc::SIGKILL);
                }
                if let Err(error) = child.wait() {
                    tracing::warn!("cannot reap cell process {}: {error}", child.id());
                }
            }
            Running::Adopted { pid, .. } => {
                if let Ok(group) = i32::try_from(*pid) {
                    signal_group(group, libc::SIGTERM);
                }
            }
        }
    }
}

/// How a cell's process ended: its own exit, or a limit's.
fn ended(success: bool, how: String, watch: &Watch) -> Ended {
    match watch.breach() {
        Some(breach) => Ended {
            success: false,
            how,
            killed: Some(breach.describe()),
            state: Some(breach.state()),
        },
        None => Ended {
            success,
            how,
            killed: None,
            state: None,
        },
    }
}

impl LocalExecutor {
    /// `budget` CPUs; `layout` is passed to every cell (`None`: the embedded layout or
    /// `$WHEELWRIGHT_LAYOUT`, which the cells inherit).
    pub fn new(budget: usize, layout: Option<&Path>) -> Result<Self, NightlyError> {
        Ok(LocalExecutor {
            budget: budget.max(1),
            used: 0,
            program: std::env::current_exe()?,
            layout: layout.map(Path::to_path_buf),
            children: BTreeMap::new(),
            gpu: has_gpu(),
            meter: CpuMeter::new(),
            last_start: None,
            environment: Vec::new(),
            memory: GroupMemory::default(),
            memory_read: None,
        })
    }

    /// The CPUs a task gets: what it asks for, at most the budget.
    fn cpus(&self, task: &Task) -> usize {
        task.cpus.clamp(1, self.budget)
    }
}

/// Whether this machine has an NVIDIA GPU to test on.
fn has_gpu() -> bool {
    crate::tools::Program::new("listing the GPUs", "nvidia-smi")
        .arg("-L")
        .output_within(Duration::from_secs(30))
        .is_ok_and(|listed| listed.contains("GPU"))
}

/// Whether a process is alive and runs a cell (not a recycled process id).
fn alive(pid: u32) -> bool {
    let Ok(command_line) = fs_err::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let status = fs_err::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // A zombie has finished.
    let state = status
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .unwrap_or("");
    state != "Z" && String::from_utf8_lossy(&command_line).contains("nightly\0cell\0")
}

impl Executor for LocalExecutor {
    fn name(&self) -> &'static str {
        "local"
    }

    fn has_room(&self, task: &Task) -> bool {
        if self.children.is_empty() || self.used + self.cpus(task) <= self.budget {
            return true;
        }
        // Beyond the reserved budget: when a CPU of the budget has been idle since the last
        // start, for a while, and at most twice the budget in cells.
        let since = self.last_start.unwrap_or_else(|| Instant::now() - WINDOW * 2);
        self.children.len() < self.budget * 2
            && self
                .meter
                .busy_since(since)
                .is_some_and(|busy| busy + 1.0 <= self.budget as f64)
    }

    fn start(&mut self, index: usize, task: &Task, _after: &[String]) -> Result<String, NightlyError> {
        let cpus = if self.children.is_empty() || self.used + self.cpus(task) <= self.budget {
            self.cpus(task)
        } else {
            // Started on idle CPUs beyond the reservation: one CPU's share.
            1
        };
        if let Some(parent) = task.output_log.parent() {
            fs_err::create_dir_all(parent)?;
        }
        let log = fs_err::File::create(&task.output_log)?;
        let mut command = crate::tools::Program::new("running a cell", &self.program);
        if let Some(layout) = &self.layout {
            command = command.arg("--layout").arg(layout);
        }
        command = command
            .args(["nightly", "cell"])
            .arg(&task.file)
            .args(["--jobs", &cpus.to_string()]);
        if task.build_only || (task.gpus > 0 && !self.gpu) {
            // A verification rebuild, or no GPU here: built, left untested.
            command = command.arg("--build-only");
        }
        // A group of its own (as every program starts): its limits and a cancel reach every
        // process it starts.
        let child = command
            .stdin(Stdio::null())
            .stdout(log.try_clone()?.into_parts().0)
            .stderr(log.into_parts().0)
            .env("NO_COLOR", "1")
            .envs(self.environment.iter().map(|(name, value)| (name, value)))
            .spawn()
            .map_err(|error| NightlyError::Run {
                directory: task.directory.clone(),
                problem: format!("cannot start {}: {error}", self.program.display()),
            })?;
        let pid = child.id();
        self.last_start = Some(Instant::now());
        self.used += cpus;
        let watch = Watch::new(
            i32::try_from(pid).unwrap_or(i32::MAX),
            Instant::now(),
            Limits::of(&task.resources),
        );
        self.children.insert(index, Running::Child { child, cpus, watch });
        Ok(format!("pid {pid}"))
    }

    fn reattach(&mut self, index: usize, task: &Task, handle: &str) -> bool {
        let Some(pid) = handle
            .strip_prefix("pid ")
            .and_then(|pid| pid.trim().parse::<u32>().ok())
        else {
            return false;
        };
        if !alive(pid) {
            return false;
        }
        let cpus = self.cpus(task);
        self.used += cpus;
        // Its time counts from when the earlier coordinator started it.
        let running_for = match &task.status {
            TaskStatus::Running { started, .. } => {
                Duration::from_secs(super::state::now().saturating_sub(*started))
            }
            _ => Duration::ZERO,
        };
        let started = Instant::now()
            .checked_sub(running_for)
            .unwrap_or_else(Instant::now);
        let watch = Watch::new(
            i32::try_from(pid).unwrap_or(i32::MAX),
            started,
            Limits::of(&task.resources),
        );
        self.children.insert(index, Running::Adopted { pid, cpus, watch });
        true
    }

    fn poll(&mut self) -> Vec<(usize, Ended)> {
        self.meter.sample();
        let now = Instant::now();
        if !self.children.is_empty()
            && self
                .memory_read
                .is_none_or(|read| now.duration_since(read) >= Duration::from_secs(1))
        {
            self.memory = GroupMemory::read();
            self.memory_read = Some(now);
        }
        let mut ended_cells = Vec::new();
        for (index, running) in &mut self.children {
            match running {
                Running::Child { child, watch, .. } => match child.try_wait() {
                    Ok(Some(status)) => {
                        ended_cells.push((*index, ended(status.success(), status.to_string(), watch)))
                    }
                    Ok(None) => watch.check(&self.memory, now),
                    Err(error) => ended_cells.push((
                        *index,
                        ended(false, format!("cannot be waited for: {error}"), watch),
                    )),
                },
                Running::Adopted { pid, watch, .. } => {
                    if alive(*pid) {
                        watch.check(&self.memory, now);
                    } else {
                        ended_cells.push((
                            *index,
                            ended(
                                true,
                                format!("process {pid} ended (started by an earlier coordinator)"),
                                watch,
                            ),
                        ));
                    }
                }
            }
        }
        for (index, _) in &ended_cells {
            if let Some(running) = self.children.remove(index) {
                self.used = self.used.saturating_sub(running.cpus());
            }
        }
        ended_cells
    }

    fn running(&self) -> usize {
        self.children.len()
    }

    fn cancel(&mut self, index: usize) {
        if let Some(mut running) = self.children.remove(&index) {
            running.end();
            self.used = self.used.saturating_sub(running.cpus());
        }
    }

    fn cancel_all(&mut self) {
        for running in self.children.values_mut() {
            running.end();
        }
        self.children.clear();
        self.used = 0;
    }

    fn cpu_use(&self) -> Option<crate::nightly::model::CpuUse> {
        Some(self.meter.used())
    }

    fn set_environment(&mut self, variables: Vec<(String, String)>) {
        self.environment = variables;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_jiffies_count_idle_and_iowait() {
        let stat = "cpu  100 5 50 800 40 1 2 0 0 0\ncpu0 50 2 25 400 20 0 1 0 0 0\nintr 1\n";
        assert_eq!(cpu_jiffies(stat), Some((840, 998)));
        assert_eq!(cpu_jiffies("intr 1\n"), None);
        assert_eq!(cpu_jiffies("cpu  1 x 3\n"), None);
    }

    #[test]
    fn busy_cpus_are_measured_over_the_window_only() {
        let start = Instant::now();
        let mut meter = CpuMeter {
            cores: 2,
            ..CpuMeter::default()
        };
        // Not measured for long enough yet.
        meter.samples.push_back((start, 0, 0));
        meter.samples.push_back((start + Duration::from_secs(1), 50, 100));
        assert_eq!(meter.busy_since(start), None);
        // Over 3 s: 3 of 4 jiffies idle, one of two CPUs busy half the time.
        meter.samples.push_back((start + WINDOW, 300, 400));
        let busy = meter.busy_since(start).unwrap();
        assert!((busy - 0.5).abs() < 1e-9, "{busy}");
        // Since a later start, there is not enough measured.
        assert_eq!(meter.busy_since(start + Duration::from_secs(1)), None);
    }

    #[test]
    fn the_runs_cpu_history_keeps_its_length_by_merging_intervals() {
        let start = Instant::now();
        let mut meter = CpuMeter {
            cores: 2,
            step: HISTORY_STEP,
            ..CpuMeter::default()
        };
        // Every interval: 100 jiffies, 50 of them idle (one core of two busy), then the
        // other half of the intervals fully busy.
        let (mut idle, mut all) = (0, 0);
        meter.record(start, idle, all);
        for interval in 1..=HISTORY_LENGTH as u32 {
            all += 100;
            idle += if interval % 2 == 1 { 50 } else { 0 };
            meter.record(start + HISTORY_STEP * interval, idle, all);
        }
        let used = meter.used();
        assert_eq!(used.busy.len(), HISTORY_LENGTH / 2);
        assert_eq!(used.interval_seconds, HISTORY_STEP.as_secs_f64() * 2.0);
        // (1 + 2) / 2 cores in each merged interval.
        assert!(
            used.busy.iter().all(|busy| (busy - 1.5).abs() < 1e-6),
            "{:?}",
            &used.busy[..4]
        );
        assert!((used.mean().unwrap() - 1.5).abs() < 1e-6);
        // A sample before the interval is over adds nothing.
        meter.record(
            start + HISTORY_STEP * (HISTORY_LENGTH as u32) + Duration::from_secs(1),
            idle,
            all + 10,
        );
        assert_eq!(meter.used().busy.len(), HISTORY_LENGTH / 2);
    }
}
