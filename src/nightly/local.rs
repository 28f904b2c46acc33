//! The local executor: each cell runs as its own process (`wheelwright nightly cell FILE`),
//! as many at once as the CPU budget allows, each given its share of CPUs; a coordinator that
//! was killed finds the cells still running by their process id when it resumes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::NightlyError;
use super::run::{Ended, Executor, Task};

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
}

enum Running {
    /// Started by this coordinator.
    Child { child: Child, cpus: usize },
    /// Started by an earlier coordinator of this run: watched by its process id.
    Adopted { pid: u32, cpus: usize },
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
        })
    }

    /// The CPUs a task gets: what it asks for, at most the budget.
    fn cpus(&self, task: &Task) -> usize {
        task.cpus.clamp(1, self.budget)
    }
}

/// Whether this machine has an NVIDIA GPU to test on.
fn has_gpu() -> bool {
    Command::new("nvidia-smi").arg("-L").output().is_ok_and(|output| {
        output.status.success() && String::from_utf8_lossy(&output.stdout).contains("GPU")
    })
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
        self.children.is_empty() || self.used + self.cpus(task) <= self.budget
    }

    fn start(&mut self, index: usize, task: &Task, _after: &[String]) -> Result<String, NightlyError> {
        let cpus = self.cpus(task);
        if let Some(parent) = task.output_log.parent() {
            fs_err::create_dir_all(parent)?;
        }
        let log = fs_err::File::create(&task.output_log)?;
        let mut command = Command::new(&self.program);
        if let Some(layout) = &self.layout {
            command.arg("--layout").arg(layout);
        }
        command
            .args(["nightly", "cell"])
            .arg(&task.file)
            .args(["--jobs", &cpus.to_string()]);
        if task.build_only || (task.gpus > 0 && !self.gpu) {
            // A verification rebuild, or no GPU here: built, left untested.
            command.arg("--build-only");
        }
        command
            .stdin(Stdio::null())
            .stdout(log.try_clone()?.into_parts().0)
            .stderr(log.into_parts().0)
            .env("NO_COLOR", "1");
        let child = command.spawn().map_err(|error| NightlyError::Run {
            directory: task.directory.clone(),
            problem: format!("cannot start {}: {error}", self.program.display()),
        })?;
        let pid = child.id();
        self.used += cpus;
        self.children.insert(index, Running::Child { child, cpus });
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
        self.children.insert(index, Running::Adopted { pid, cpus });
        true
    }

    fn poll(&mut self) -> Vec<(usize, Ended)> {
        let mut ended = Vec::new();
        for (index, running) in &mut self.children {
            match running {
                Running::Child { child, .. } => match child.try_wait() {
                    Ok(Some(status)) => ended.push((
                        *index,
                        Ended {
                            success: status.success(),
                            how: status.to_string(),
                            killed: None,
                        },
                    )),
                    Ok(None) => {}
                    Err(error) => ended.push((
                        *index,
                        Ended {
                            success: false,
                            how: format!("cannot be waited for: {error}"),
                            killed: None,
                        },
                    )),
                },
                Running::Adopted { pid, .. } => {
                    if !alive(*pid) {
                        ended.push((
                            *index,
                            Ended {
                                success: true,
                                how: format!("process {pid} ended (started by an earlier coordinator)"),
                                killed: None,
                            },
                        ));
                    }
                }
            }
        }
        for (index, _) in &ended {
            if let Some(running) = self.children.remove(index) {
                let cpus = match running {
                    Running::Child { cpus, .. } | Running::Adopted { cpus, .. } => cpus,
                };
                self.used = self.used.saturating_sub(cpus);
            }
        }
        ended
    }

    fn running(&self) -> usize {
        self.children.len()
    }

    fn cancel(&mut self, index: usize) {
        if let Some(running) = self.children.remove(&index) {
            match running {
                Running::Child { mut child, cpus } => {
                    let _ = child.kill();
                    let _ = child.wait();
                    self.used = self.used.saturating_sub(cpus);
                }
                Running::Adopted { pid, cpus } => {
                    let _ = Command::new("kill").arg(pid.to_string()).status();
                    self.used = self.used.saturating_sub(cpus);
                }
            }
        }
    }

    fn cancel_all(&mut self) {
        for running in self.children.values_mut() {
            match running {
                Running::Child { child, .. } => {
                    let _ = child.kill();
                    let _ = child.wait();
                }
                Running::Adopted { pid, .. } => {
                    let _ = Command::new("kill").arg(pid.to_string()).status();
                }
            }
        }
        self.children.clear();
        self.used = 0;
    }
}
