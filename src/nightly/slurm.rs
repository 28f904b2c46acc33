//! The Slurm executor: each cell is a batch job (`sbatch`) with its CPUs, memory and time
//! limit, on the partition of its layer and the nodes of its arch (layout keys), after the
//! jobs of what it needs (`--dependency=afterok:`); progress from `squeue` (no `sbatch
//! --wait`, no accounting database); a job Slurm ends (time limit, memory, node failure) is
//! a failed cell with Slurm's reason; cancelling stops only the jobs this run submitted.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::layout::Layout;

use super::NightlyError;
use super::config::SlurmSettings;
use super::model::{Ended, Executor, Task};
use super::state::CellState;
use crate::resources::slurm_time;
use crate::tools::Program;

/// How long a Slurm command may take: a controller that does not answer is an error, not a
/// night that hangs.
const SLURM_COMMAND_LIMIT: Duration = Duration::from_secs(120);

/// Cancels Slurm jobs; a failure is logged (the jobs end with the run anyway).
fn scancel(ids: &[String]) {
    if let Err(error) = Program::new("cancelling Slurm jobs", "scancel")
        .args(ids)
        .output_within(SLURM_COMMAND_LIMIT)
    {
        tracing::warn!("{error}");
    }
}

/// How often `squeue` is asked.
const POLL_EVERY: Duration = Duration::from_millis(500);

/// Cells as Slurm batch jobs.
pub struct SlurmExecutor {
    settings: SlurmSettings,
    /// Partition and constraint per (layer, arch), from the layout.
    placement: BTreeMap<(String, String), (Option<String>, Option<String>)>,
    /// The GPU partition per layer, from the layout.
    gpu_partitions: BTreeMap<String, String>,
    program: PathBuf,
    layout: Option<PathBuf>,
    /// Jobs in flight: task index -> job id (its last job: the test job of a GPU cell).
    jobs: BTreeMap<usize, String>,
    /// The build jobs of GPU cells, by task (cancelled with their test job).
    build_jobs: BTreeMap<usize, String>,
    last_poll: Option<Instant>,
    /// Variables each job's script exports.
    environment: Vec<(String, String)>,
}

/// A job's state as `squeue` gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct JobState {
    state: String,
    reason: String,
}

/// Whether Slurm is usable from here: `sbatch` and `squeue` on PATH and a controller that answers.
pub fn available() -> Result<(), String> {
    for program in ["sbatch", "squeue", "scancel"] {
        if crate::tools::find_program(Path::new(program)).is_err() {
            return Err(format!("`{program}` is not on PATH (Debian: slurm-client)"));
        }
    }
    Program::new("asking the Slurm controller for this user's jobs", "squeue")
        .args(["-h", "-o", "%i", "--me"])
        .output_within(SLURM_COMMAND_LIMIT)
        .map(|_| ())
        .map_err(|error| {
            format!(
                "squeue cannot reach the Slurm controller: {}",
                error.to_string().trim()
            )
        })
}

impl SlurmExecutor {
    pub fn new(
        settings: &SlurmSettings,
        layout: &Layout,
        layout_file: Option<&Path>,
    ) -> Result<Self, NightlyError> {
        available().map_err(|problem| NightlyError::Config {
            message: format!("--executor slurm: {problem}"),
        })?;
        let mut placement = BTreeMap::new();
        let gpu_partitions = layout
            .layers
            .iter()
            .filter_map(|(name, layer)| Some((name.clone(), layer.slurm_gpu_partition.clone()?)))
            .collect();
        for (layer_name, layer) in &layout.layers {
            for arch in &layer.archs {
                let constraint = layout
                    .archs
                    .get(arch)
                    .and_then(|arch| arch.slurm_constraint.clone());
                placement.insert(
                    (layer_name.clone(), arch.clone()),
                    (layer.slurm_partition.clone(), constraint),
                );
            }
        }
        Ok(SlurmExecutor {
            settings: settings.clone(),
            placement,
            gpu_partitions,
            program: std::env::current_exe()?,
            layout: layout_file.map(Path::to_path_buf),
            jobs: BTreeMap::new(),
            build_jobs: BTreeMap::new(),
            last_poll: None,
            environment: Vec::new(),
        })
    }

    /// The batch script of a task: this program running the cell (or its `part`:
    /// `--build-only`, `--test-only`) with the CPUs Slurm gave.
    fn script(&self, task: &Task, part: &str) -> String {
        let quote = |path: &Path| crate::tools::shell_quote(&path.display().to_string());
        let layout = self
            .layout
            .as_ref()
            .map(|layout| format!(" --layout {}", quote(layout)))
            .unwrap_or_default();
        let exports: String = self
            .environment
            .iter()
            .map(|(name, value)| format!("export {name}={}\n", crate::tools::shell_quote(value)))
            .collect();
        format!(
            "#!/bin/sh\n# wheelwright nightly: {id}\n{exports}exec {program}{layout} nightly cell {file} --jobs \"${{SLURM_CPUS_PER_TASK:-{cpus}}}\"{part}\n",
            id = task.id,
            program = quote(&self.program),
            file = quote(&task.file),
            cpus = task.cpus,
        )
    }

    /// The `sbatch` arguments of a task's job; `gpu`: the partition and count of a GPU test job.
    fn arguments(&self, task: &Task, script: &Path, after: &[String], gpu: Option<&str>) -> Vec<String> {
        let resources = &task.resources;
        let mut arguments = vec![
            "--parsable".to_string(),
            format!(
                "--job-name=ww-{}-py{}-{}",
                crate::spec::normalize_name(&task.id.package),
                task.id.python,
                task.id.arch
            ),
            format!("--cpus-per-task={}", task.cpus),
            format!("--mem={}M", resources.memory_mb),
            format!("--time={}", slurm_time(resources.time_minutes)),
            format!("--output={}", task.output_log.display()),
            format!("--chdir={}", task.directory.display()),
        ];
        if let Some(account) = &self.settings.account {
            arguments.push(format!("--account={account}"));
        }
        let (partition, constraint) = self
            .placement
            .get(&(task.id.layer.clone(), task.id.arch.clone()))
            .cloned()
            .unwrap_or_default();
        match gpu {
            Some(partition) => {
                arguments.push(format!("--partition={partition}"));
                arguments.push(format!("--gres=gpu:{}", task.gpus));
            }
            None => {
                if let Some(partition) = partition.or_else(|| self.settings.partition.clone()) {
                    arguments.push(format!("--partition={partition}"));
                }
                if let Some(constraint) = constraint {
                    arguments.push(format!("--constraint={constraint}"));
                }
            }
        }
        if !after.is_empty() {
            arguments.push(format!("--dependency=afterok:{}", after.join(":")));
        }
        arguments.extend(self.settings.sbatch_args.iter().cloned());
        arguments.push(script.display().to_string());
        arguments
    }

    /// The states of this user's jobs that Slurm still knows, by id.
    fn states(&self) -> Option<BTreeMap<String, JobState>> {
        let output = Program::new("asking Slurm for the states of the jobs", "squeue")
            .args(["-h", "--me", "-t", "all", "-o", "%i|%T|%r"])
            .output_within(SLURM_COMMAND_LIMIT)
            .map_err(|error| tracing::warn!("{}", error.to_string().trim()))
            .ok()?;
        Some(
            output
                .lines()
                .filter_map(|line| {
                    let mut parts = line.splitn(3, '|');
                    let id = parts.next()?.trim().to_string();
                    let state = parts.next()?.trim().to_string();
                    let reason = parts.next().unwrap_or_default().trim().to_string();
                    Some((id, JobState { state, reason }))
                })
                .collect(),
        )
    }
}

impl SlurmExecutor {
    /// Writes a batch script and submits it; the job id.
    fn submit(
        &self,
        task: &Task,
        script_name: &str,
        part: &str,
        after: &[String],
        gpu: Option<&str>,
    ) -> Result<String, NightlyError> {
        let script = task.directory.join(script_name);
        fs_err::write(&script, self.script(task, part))?;
        let arguments = self.arguments(task, &script, after, gpu);
        let output = Program::new("submitting the job", "sbatch")
            .args(&arguments)
            .output_within(SLURM_COMMAND_LIMIT)
            .map_err(|error| NightlyError::Run {
                directory: task.directory.clone(),
                problem: format!(
                    "sbatch {} refused the job: {}",
                    arguments.join(" "),
                    error.to_string().trim()
                ),
            })?;
        Ok(output.trim().split(';').next().unwrap_or_default().to_string())
    }
}

/// Job states that mean the job is over.
fn finished(state: &str) -> bool {
    !matches!(
        state,
        "PENDING"
            | "RUNNING"
            | "CONFIGURING"
            | "COMPLETING"
            | "SUSPENDED"
            | "REQUEUED"
            | "RESIZING"
            | "SIGNALING"
            | "STAGE_OUT"
    )
}

impl Executor for SlurmExecutor {
    fn name(&self) -> &'static str {
        "slurm"
    }

    fn chains_dependencies(&self) -> bool {
        true
    }

    fn has_room(&self, _task: &Task) -> bool {
        self.jobs.len() < self.settings.max_jobs
    }

    fn start(&mut self, index: usize, task: &Task, after: &[String]) -> Result<String, NightlyError> {
        fs_err::create_dir_all(&task.directory)?;
        if let Some(parent) = task.output_log.parent() {
            fs_err::create_dir_all(parent)?;
        }
        let after: Vec<String> = after
            .iter()
            .filter_map(|handle| handle.strip_prefix("job ").map(str::to_string))
            .collect();
        if task.build_only {
            let id = self.submit(task, "job-build.sh", " --build-only", &after, None)?;
            self.jobs.insert(index, id.clone());
            return Ok(format!("job {id}"));
        }
        if task.gpus == 0 {
            let id = self.submit(task, "job.sh", "", &after, None)?;
            self.jobs.insert(index, id.clone());
            return Ok(format!("job {id}"));
        }
        // A GPU cell: built on a CPU node, then tested as its own job on a GPU node; with no
        // GPU partition, built and left untested.
        let gpu_partition = self
            .gpu_partitions
            .get(&task.id.layer)
            .cloned()
            .or_else(|| self.settings.gpu_partition.clone());
        let build = self.submit(task, "job-build.sh", " --build-only", &after, None)?;
        let Some(partition) = gpu_partition else {
            self.jobs.insert(index, build.clone());
            return Ok(format!("job {build}"));
        };
        let test = self.submit(
            task,
            "job-test.sh",
            " --test-only",
            std::slice::from_ref(&build),
            Some(&partition),
        )?;
        self.build_jobs.insert(index, build);
        self.jobs.insert(index, test.clone());
        Ok(format!("job {test}"))
    }

    fn reattach(&mut self, index: usize, _task: &Task, handle: &str) -> bool {
        let Some(id) = handle.strip_prefix("job ") else {
            return false;
        };
        let known = self
            .states()
            .and_then(|states| states.get(id).cloned())
            .is_some_and(|state| !finished(&state.state));
        if known {
            self.jobs.insert(index, id.to_string());
        }
        known
    }

    fn poll(&mut self) -> Vec<(usize, Ended)> {
        if self.jobs.is_empty() || self.last_poll.is_some_and(|last| last.elapsed() < POLL_EVERY) {
            return Vec::new();
        }
        self.last_poll = Some(Instant::now());
        let Some(states) = self.states() else {
            return Vec::new();
        };
        let mut ended = Vec::new();
        for (index, id) in &self.jobs {
            match states.get(id) {
                // A job whose dependency failed never starts (unless Slurm kills it itself).
                Some(state) if state.state == "PENDING" && state.reason == "DependencyNeverSatisfied" => {
                    scancel(std::slice::from_ref(id));
                    ended.push((
                        *index,
                        Ended {
                            success: false,
                            how: format!("Slurm job {id}: its dependency failed"),
                            killed: None,
                            state: None,
                        },
                    ));
                }
                Some(state) if !finished(&state.state) => {}
                Some(state) => {
                    let how = if state.reason.is_empty() || state.reason == "None" {
                        format!("Slurm job {id}: {}", state.state)
                    } else {
                        format!("Slurm job {id}: {} ({})", state.state, state.reason)
                    };
                    // COMPLETED and FAILED are the cell's own ending; the others are Slurm's.
                    let killed = (!matches!(state.state.as_str(), "COMPLETED" | "FAILED"))
                        .then(|| format!("Slurm ended the job: {how}"));
                    let limit = match state.state.as_str() {
                        "TIMEOUT" => Some(CellState::Timeout),
                        "OUT_OF_MEMORY" => Some(CellState::OutOfMemory),
                        _ => None,
                    };
                    ended.push((
                        *index,
                        Ended {
                            success: state.state == "COMPLETED",
                            how,
                            killed,
                            state: limit,
                        },
                    ));
                }
                None => ended.push((
                    *index,
                    Ended {
                        success: false,
                        how: format!("Slurm job {id} is no longer known to Slurm"),
                        killed: None,
                        state: None,
                    },
                )),
            }
        }
        for (index, _) in &ended {
            self.jobs.remove(index);
            self.build_jobs.remove(index);
        }
        ended
    }

    fn running(&self) -> usize {
        self.jobs.len()
    }

    fn cancel(&mut self, index: usize) {
        let ids: Vec<String> = self
            .jobs
            .remove(&index)
            .into_iter()
            .chain(self.build_jobs.remove(&index))
            .collect();
        if !ids.is_empty() {
            scancel(&ids);
        }
    }

    fn cancel_all(&mut self) {
        let ids: Vec<String> = self
            .jobs
            .values()
            .chain(self.build_jobs.values())
            .cloned()
            .collect();
        self.build_jobs.clear();
        if !ids.is_empty() {
            scancel(&ids);
        }
        self.jobs.clear();
    }

    fn set_environment(&mut self, variables: Vec<(String, String)>) {
        self.environment = variables;
    }
}
