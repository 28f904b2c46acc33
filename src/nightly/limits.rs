//! The local executor's resource limits: each cell runs in a process group of its own, which
//! is ended when it runs past the cell's `time` (SIGTERM, then SIGKILL after a grace period)
//! or when the resident memory of its processes goes above the cell's `memory` (SIGKILL at
//! once), so that one hanging or swelling build cannot hold the night. The cell then ends as
//! `timeout` or `out-of-memory`, as Slurm's end reasons are reported.
//!
//! Memory is the sum of the resident set sizes of the group's processes, read from `/proc`
//! about once a second: shared pages are counted once per process, so the sum errs on the
//! high side, and a spike shorter than a sample can slip through (the kernel's own OOM killer
//! still guards the machine). An address-space limit (`RLIMIT_AS`) was not used: it makes
//! programs that reserve large virtual ranges (JVMs, Go, sanitizers, rustc's threads) fail at
//! their start under any limit a build would set.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::config::Resources;
use super::state::CellState;

/// How long a group that was sent SIGTERM for its time has before SIGKILL.
const GRACE: Duration = Duration::from_secs(10);

/// A cell's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub time: Duration,
    /// Bytes of resident memory.
    pub memory: u64,
}

impl Limits {
    pub fn of(resources: &Resources) -> Self {
        Limits {
            time: Duration::from_secs(resources.time_minutes.saturating_mul(60)),
            memory: resources.memory_mb.saturating_mul(1 << 20),
        }
    }
}

/// A limit a cell went past.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Breach {
    Timeout { limit: Duration },
    OutOfMemory { limit: u64, used: u64 },
}

impl Breach {
    /// The cell's state.
    pub fn state(&self) -> CellState {
        match self {
            Breach::Timeout { .. } => CellState::Timeout,
            Breach::OutOfMemory { .. } => CellState::OutOfMemory,
        }
    }

    /// The cell's reason: `ran past its time limit of 1h 30m: its processes were ended`.
    pub fn describe(&self) -> String {
        match self {
            Breach::Timeout { limit } => format!(
                "ran past its time limit of {}: its processes were ended (the local executor's limit; `time` in the recipe or [resources])",
                minutes(*limit)
            ),
            Breach::OutOfMemory { limit, used } => format!(
                "its processes held {} of memory, over its limit of {}: they were killed (`memory` in the recipe or [resources])",
                mebibytes(*used),
                mebibytes(*limit)
            ),
        }
    }
}

/// `1h 30m`, `45m`, `20s`.
fn minutes(duration: Duration) -> String {
    let seconds = duration.as_secs();
    match (seconds / 3600, seconds % 3600 / 60, seconds % 60) {
        (0, 0, seconds) => format!("{seconds}s"),
        (0, minutes, 0) => format!("{minutes}m"),
        (hours, 0, 0) => format!("{hours}h"),
        (hours, minutes, 0) => format!("{hours}h {minutes}m"),
        (hours, minutes, seconds) => format!("{hours}h {minutes}m {seconds}s"),
    }
}

fn mebibytes(bytes: u64) -> String {
    let mib = bytes >> 20;
    if mib >= 1024 && mib.is_multiple_of(1024) {
        format!("{}G", mib / 1024)
    } else {
        format!("{mib}M")
    }
}

/// Resident bytes of every process group of the machine, read once from `/proc` for all the
/// cells of a poll.
#[derive(Debug, Default)]
pub struct GroupMemory {
    by_group: HashMap<i32, u64>,
}

impl GroupMemory {
    pub fn read() -> Self {
        // SAFETY: sysconf only reads a configuration value.
        let page = u64::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
        let mut by_group: HashMap<i32, u64> = HashMap::new();
        let Ok(entries) = fs_err::read_dir("/proc") else {
            return GroupMemory { by_group };
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(pid) = name
                .to_str()
                .filter(|name| name.bytes().all(|b| b.is_ascii_digit()))
            else {
                continue;
            };
            // A process that ended since the listing is simply not counted.
            let Ok(stat) = fs_err::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            if let Some((group, pages)) = group_and_resident_pages(&stat) {
                *by_group.entry(group).or_default() += pages * page;
            }
        }
        GroupMemory { by_group }
    }

    /// Resident bytes of the processes of `group`.
    pub fn of(&self, group: i32) -> u64 {
        self.by_group.get(&group).copied().unwrap_or(0)
    }
}

/// The process group and resident pages of a `/proc/PID/stat` line. The command name (field 2)
/// is in parentheses and may hold spaces and parentheses, so fields are counted after its
/// last `)`: state is field 3, pgrp field 5, rss field 24.
fn group_and_resident_pages(stat: &str) -> Option<(i32, u64)> {
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let group = fields.get(2)?.parse().ok()?;
    let pages = fields.get(21)?.parse().ok()?;
    Some((group, pages))
}

/// Sends `signal` to every process of `group`; to the process alone when it leads no group (a
/// cell started by an older coordinator).
pub fn signal_group(group: i32, signal: libc::c_int) {
    // SAFETY: kill has no memory effects; a group or process that is gone gives ESRCH.
    let sent = unsafe { libc::kill(-group, signal) };
    if sent != 0 {
        // SAFETY: as above.
        unsafe { libc::kill(group, signal) };
    }
}

/// The watch over one running cell.
#[derive(Debug)]
pub struct Watch {
    group: i32,
    started: Instant,
    limits: Limits,
    breach: Option<Breach>,
    /// When SIGTERM was sent for the time limit; SIGKILL follows after [`GRACE`].
    terminated: Option<Instant>,
    killed: bool,
}

impl Watch {
    /// A cell whose process group is `group`, running since `started`.
    pub fn new(group: i32, started: Instant, limits: Limits) -> Self {
        Watch {
            group,
            started,
            limits,
            breach: None,
            terminated: None,
            killed: false,
        }
    }

    /// Checks the limits against the time and the group's `memory`; ends the group when it
    /// is past one (and kills it when it outlives its grace period).
    pub fn check(&mut self, memory: &GroupMemory, now: Instant) {
        if self.killed {
            return;
        }
        if let Some(terminated) = self.terminated {
            if now.duration_since(terminated) >= GRACE {
                tracing::info!("process group {} outlived its grace period: SIGKILL", self.group);
                signal_group(self.group, libc::SIGKILL);
                self.killed = true;
            }
            return;
        }
        let used = memory.of(self.group);
        if used > self.limits.memory {
            self.breach = Some(Breach::OutOfMemory {
                limit: self.limits.memory,
                used,
            });
            signal_group(self.group, libc::SIGKILL);
            self.killed = true;
        } else if now.duration_since(self.started) > self.limits.time {
            self.breach = Some(Breach::Timeout {
                limit: self.limits.time,
            });
            signal_group(self.group, libc::SIGTERM);
            self.terminated = Some(now);
        }
    }

    /// The limit the cell went past, if any.
    pub fn breach(&self) -> Option<&Breach> {
        self.breach.as_ref()
    }
}

#[cfg(test)]
mod tests {
    // Tests build their fixtures with real tools (gcc, git, readelf).
    #![allow(clippy::disallowed_methods)]
    use super::*;
    use std::os::unix::process::CommandExt as _;

    #[test]
    fn stat_lines_give_the_group_and_resident_pages_whatever_the_command_name() {
        let stat = "4242 (cc1 (x) y) S 4200 4100 4100 0 -1 4194560 1000 0 0 0 5 1 0 0 20 0 1 0 123 456789 321 18446744073709551615";
        assert_eq!(group_and_resident_pages(stat), Some((4100, 321)));
        assert_eq!(group_and_resident_pages("garbage"), None);
    }

    #[test]
    fn limits_are_described_in_the_units_they_are_written_in() {
        assert_eq!(minutes(Duration::from_secs(5400)), "1h 30m");
        assert_eq!(minutes(Duration::from_secs(2700)), "45m");
        assert_eq!(minutes(Duration::from_secs(2)), "2s");
        assert_eq!(mebibytes(4 << 30), "4G");
        assert_eq!(mebibytes(300 << 20), "300M");
    }

    /// Starts `script` in a group of its own.
    fn group_running(script: &str) -> std::process::Child {
        std::process::Command::new("sh")
            .args(["-c", script])
            .process_group(0)
            .spawn()
            .unwrap()
    }

    fn watch_until_ended(child: &mut std::process::Child, watch: &mut Watch) -> std::process::ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "the group was not ended");
            watch.check(&GroupMemory::read(), Instant::now());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The processes of `group` that still run (zombies, which only wait to be reaped by
    /// whoever inherited them, are not counted).
    fn live_members(group: i32) -> Vec<String> {
        let mut members = Vec::new();
        for entry in fs_err::read_dir("/proc").unwrap().flatten() {
            let Ok(stat) = fs_err::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            let Some((_, rest)) = stat.rsplit_once(')') else {
                continue;
            };
            let fields: Vec<&str> = rest.split_whitespace().collect();
            if fields.get(2) == Some(&group.to_string().as_str()) && fields.first() != Some(&"Z") {
                members.push(stat);
            }
        }
        members
    }

    #[test]
    fn a_group_past_its_time_is_ended_grandchildren_included() {
        // The shell waits for a grandchild: both must end.
        let mut child = group_running("sleep 300 & wait");
        let group = i32::try_from(child.id()).unwrap();
        let limits = Limits {
            time: Duration::from_millis(500),
            memory: u64::MAX,
        };
        let mut watch = Watch::new(group, Instant::now(), limits);
        let status = watch_until_ended(&mut child, &mut watch);
        assert!(!status.success());
        assert_eq!(
            watch.breach(),
            Some(&Breach::Timeout {
                limit: Duration::from_millis(500)
            })
        );
        assert_eq!(watch.breach().unwrap().state(), CellState::Timeout);
        // No process of the group is left.
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(GroupMemory::read().of(group), 0);
        assert_eq!(
            live_members(group),
            Vec::<String>::new(),
            "the grandchild `sleep` still runs"
        );
    }

    #[test]
    fn a_group_above_its_memory_is_killed_and_says_how_much_it_held() {
        let python = ["python3", "/usr/bin/python3"]
            .into_iter()
            .find(|python| std::process::Command::new(python).arg("-V").output().is_ok())
            .expect("a python3");
        // A child that touches 200 MiB and waits; the limit is 64 MiB.
        let script = format!("{python} -c 'import time; data = bytearray(200 << 20); time.sleep(300)'");
        let mut child = group_running(&script);
        let group = i32::try_from(child.id()).unwrap();
        let limits = Limits {
            time: Duration::from_secs(600),
            memory: 64 << 20,
        };
        let mut watch = Watch::new(group, Instant::now(), limits);
        watch_until_ended(&mut child, &mut watch);
        match watch.breach() {
            Some(Breach::OutOfMemory { limit, used }) => {
                assert_eq!(*limit, 64 << 20);
                assert!(*used > 64 << 20, "{used}");
            }
            other => panic!("not out of memory: {other:?}"),
        }
        let reason = watch.breach().unwrap().describe();
        assert!(reason.contains("over its limit of 64M"), "{reason}");
    }
}
