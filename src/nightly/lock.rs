//! One nightly at a time: the coordinator of a run holds an exclusive lock on
//! `<state>/nightly.lock` from before it plans until it has reported. A second run (a night
//! that overran into the next cron start, a manual run during the night) sees who holds it —
//! process, host, start time, run directory — and stops with [`NightlyError::Locked`], or
//! waits for it (`--wait`). The lock is the kernel's (`flock`), so a coordinator that dies
//! releases it with its process; the holder's description it leaves behind is noticed by the
//! next run, which says it takes over.

use std::io::{Read as _, Seek as _, Write as _};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::NightlyError;
use super::state::{now, utc};

/// The lock file in a state directory.
pub const LOCK_FILE: &str = "nightly.lock";

/// Who holds (or last held) the lock: what the lock file says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub pid: u32,
    pub host: String,
    /// Seconds since the epoch.
    pub started: u64,
    /// The run directory, once it is known.
    #[serde(default)]
    pub run: Option<PathBuf>,
}

impl Holder {
    fn this_process() -> Self {
        Holder {
            pid: std::process::id(),
            host: host_name(),
            started: now(),
            run: None,
        }
    }

    /// `process 1234 on node7, started 2026-12-06 02:00:00 UTC (run /srv/nightly/runs/...)`.
    pub fn describe(&self) -> String {
        let run = self
            .run
            .as_ref()
            .map(|run| format!(" (run {})", run.display()))
            .unwrap_or_default();
        format!(
            "process {} on {}, started {}{run}",
            self.pid,
            self.host,
            utc(self.started)
        )
    }

    /// Whether the holder is a process of this host that no longer runs.
    fn is_dead_here(&self) -> bool {
        self.host == host_name() && !Path::new(&format!("/proc/{}", self.pid)).exists()
    }
}

/// This machine's name, as `hostname` prints it.
pub fn host_name() -> String {
    fs_err::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_string())
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "an unknown host".to_string())
}

/// Whether a second run waits for the lock or stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenLocked {
    Stop,
    Wait,
}

/// The held lock; released when dropped (its description cleared first, so that the next run
/// knows it was released, not abandoned).
#[derive(Debug)]
pub struct RunLock {
    file: fs_err::File,
    holder: Holder,
}

/// Reads the holder a lock file describes (None: empty, or not a description).
fn read_holder(file: &mut fs_err::File) -> Option<Holder> {
    let mut text = String::new();
    file.rewind().ok()?;
    file.read_to_string(&mut text).ok()?;
    serde_json::from_str(&text).ok()
}

impl RunLock {
    /// Takes the lock of the state directory `state` (created if missing). Held by another
    /// run: [`NightlyError::Locked`] with [`WhenLocked::Stop`], else waits for it, saying so.
    pub fn acquire(
        state: &Path,
        when_locked: WhenLocked,
        progress: &(dyn Fn(&str) + Sync),
    ) -> Result<RunLock, NightlyError> {
        fs_err::create_dir_all(state)?;
        let path = state.join(LOCK_FILE);
        let mut file = fs_err::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        match file.file().try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let holder = read_holder(&mut file);
                let described = holder.as_ref().map_or_else(
                    || "a process that has not said who it is yet".to_string(),
                    Holder::describe,
                );
                if when_locked == WhenLocked::Stop {
                    return Err(NightlyError::Locked {
                        path,
                        holder: described,
                    });
                }
                progress(&format!(
                    "waiting for the run that holds {}: {described}",
                    path.display()
                ));
                file.file().lock().map_err(|error| lock_error(&path, error))?;
            }
            Err(std::fs::TryLockError::Error(error)) => return Err(lock_error(&path, error)),
        }
        // Locked. A description left behind is a coordinator that ended without releasing.
        if let Some(previous) = read_holder(&mut file) {
            let how = if previous.is_dead_here() {
                "which is no longer running"
            } else {
                "which ended without releasing it"
            };
            progress(&format!(
                "taking over {} from {}, {how}",
                path.display(),
                previous.describe()
            ));
        }
        let mut lock = RunLock {
            file,
            holder: Holder::this_process(),
        };
        lock.write_holder()?;
        Ok(lock)
    }

    /// Names the run directory in the description (once the run has one).
    pub fn set_run(&mut self, run: &Path) -> std::io::Result<()> {
        self.holder.run = Some(run.to_path_buf());
        self.write_holder()
    }

    fn write_holder(&mut self) -> std::io::Result<()> {
        let text = serde_json::to_string_pretty(&self.holder).map_err(std::io::Error::other)?;
        self.file.set_len(0)?;
        self.file.rewind()?;
        self.file.write_all(text.as_bytes())?;
        self.file.write_all(b"\n")?;
        self.file.sync_data()
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // Released on purpose: the next run finds no description to take over.
        if let Err(error) = self.file.set_len(0) {
            tracing::warn!("cannot clear the nightly lock's description: {error}");
        }
        // Closing the file releases the kernel's lock.
    }
}

fn lock_error(path: &Path, error: std::io::Error) -> NightlyError {
    NightlyError::Io(std::io::Error::new(
        error.kind(),
        format!("cannot lock {}: {error}", path.display()),
    ))
}

#[cfg(test)]
mod tests {
    // Tests build their fixtures with real tools (gcc, git, readelf).
    #![allow(clippy::disallowed_methods)]
    use super::*;

    fn quiet(_: &str) {}

    #[test]
    fn a_second_run_sees_who_holds_the_lock_and_takes_it_once_released() {
        let state = tempfile::tempdir().unwrap();
        let mut first = RunLock::acquire(state.path(), WhenLocked::Stop, &quiet).unwrap();
        first.set_run(Path::new("/runs/20261206-020000")).unwrap();
        let error = RunLock::acquire(state.path(), WhenLocked::Stop, &quiet).unwrap_err();
        let message = error.to_string();
        assert!(matches!(error, NightlyError::Locked { .. }), "{message}");
        assert!(
            message.contains(&format!("process {} on {}", std::process::id(), host_name())),
            "{message}"
        );
        assert!(message.contains("(run /runs/20261206-020000)"), "{message}");
        drop(first);
        // Released on purpose: taken without a notice.
        let said = std::sync::Mutex::new(Vec::<String>::new());
        let record = |message: &str| said.lock().unwrap().push(message.to_string());
        let second = RunLock::acquire(state.path(), WhenLocked::Stop, &record).unwrap();
        assert!(said.lock().unwrap().is_empty(), "{:?}", said.lock().unwrap());
        drop(second);
    }

    #[test]
    fn a_waiting_run_starts_when_the_first_ends() {
        let state = tempfile::tempdir().unwrap();
        let first = RunLock::acquire(state.path(), WhenLocked::Stop, &quiet).unwrap();
        let path = state.path().to_path_buf();
        let said = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let heard = said.clone();
        let waiter = std::thread::spawn(move || {
            let record = |message: &str| heard.lock().unwrap().push(message.to_string());
            RunLock::acquire(&path, WhenLocked::Wait, &record).map(|_| std::time::Instant::now())
        });
        std::thread::sleep(std::time::Duration::from_millis(300));
        let released = std::time::Instant::now();
        drop(first);
        let acquired = waiter.join().unwrap().unwrap();
        assert!(
            acquired >= released,
            "the waiter took the lock before it was released"
        );
        assert!(
            said.lock().unwrap()[0].starts_with("waiting for the run that holds"),
            "{:?}",
            said.lock().unwrap()
        );
    }

    #[test]
    fn a_lock_left_by_a_dead_coordinator_is_taken_over_with_a_notice() {
        let state = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let left = Holder {
            pid: dead,
            host: host_name(),
            started: 1_765_000_000,
            run: Some(PathBuf::from("/runs/old")),
        };
        fs_err::write(
            state.path().join(LOCK_FILE),
            serde_json::to_string(&left).unwrap(),
        )
        .unwrap();
        let said = std::sync::Mutex::new(Vec::<String>::new());
        let record = |message: &str| said.lock().unwrap().push(message.to_string());
        let lock = RunLock::acquire(state.path(), WhenLocked::Stop, &record).unwrap();
        let said = said.lock().unwrap().clone();
        assert_eq!(said.len(), 1, "{said:?}");
        assert!(said[0].contains(&format!("from process {dead} on")), "{said:?}");
        assert!(said[0].ends_with("which is no longer running"), "{said:?}");
        // The file now describes this process.
        let text = fs_err::read_to_string(state.path().join(LOCK_FILE)).unwrap();
        let holder: Holder = serde_json::from_str(&text).unwrap();
        assert_eq!(holder.pid, std::process::id());
        drop(lock);
        assert_eq!(fs_err::read_to_string(state.path().join(LOCK_FILE)).unwrap(), "");
    }
}
