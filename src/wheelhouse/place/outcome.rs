//! cp-wheels' options and outcomes: what was asked, what happened to each wheel, the report.

use super::*;

/// What the user asked for.
#[derive(Debug, Clone)]
pub struct Options {
    /// Place in this arch directory instead of the detected one (validated against the layer).
    pub arch: Option<String>,
    /// Place in this layer instead of the detected one (the wheel must work on it).
    pub layer: Option<String>,
    /// Replace a different wheel of the same name.
    pub force: bool,
    /// Accept an `--arch` below the level the wheel's code needs.
    pub trust_arch: bool,
    /// Decide and report, change nothing.
    pub dry_run: bool,
    /// Delete each source once it is safely in the tree.
    pub remove: bool,
    /// fsync the copies and directories before and after the renames.
    pub fsync: bool,
    /// Place the wheels that pass even when others are refused.
    pub keep_going: bool,
    /// Threads for checking and classifying.
    pub jobs: usize,
    pub limits: Limits,
    /// Wheels already verified, by sha256 (None: verify every wheel in full).
    pub verified: Option<VerifiedCache>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            arch: None,
            layer: None,
            force: false,
            trust_arch: false,
            dry_run: false,
            remove: false,
            fsync: true,
            keep_going: false,
            jobs: crate::inspect::default_jobs(),
            limits: Limits::default(),
            verified: VerifiedCache::default_location(),
        }
    }
}

/// What happens (or happened) to one wheel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Copied into the tree (or would be, in a dry run).
    Place,
    /// Replaced a different wheel of the same name (`--force`).
    Replace,
    /// The same bytes are already there: nothing to do.
    Unchanged,
    /// Not placed; `reason` says why.
    Refuse,
    /// Would have been placed, but another wheel was refused (all or nothing).
    Held,
    /// The copy failed; `reason` says why.
    Failed,
}

/// The outcome for one wheel.
#[derive(Debug, Clone, Serialize)]
pub struct WheelOutcome {
    pub source: PathBuf,
    pub wheel: String,
    pub project: Option<String>,
    pub version: Option<String>,
    pub action: Action,
    /// The directory relative to the root (`generic`, `gentoo2023/x86-64-v3`).
    pub destination: Option<String>,
    /// The full path of the placed file.
    pub path: Option<PathBuf>,
    pub reason: Option<String>,
    pub warnings: Vec<String>,
    pub size: u64,
    /// The sha256 of the whole file.
    pub sha256: Option<String>,
    /// These bytes had verified before: member hashes were not checked again.
    pub verified_before: bool,
    /// The arch the wheel's code needs and why (from the inspect engine).
    pub detected: Option<String>,
    pub evidence: Vec<String>,
    pub source_removed: bool,
}

/// The publish hook's run.
#[derive(Debug, Clone, Serialize)]
pub struct PublishOutcome {
    pub command: String,
    pub files: Vec<PathBuf>,
    pub ok: bool,
    pub message: Option<String>,
    /// Where the files wait for `--publish-only` when the hook failed.
    pub pending_file: Option<PathBuf>,
}

/// The whole run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub root: PathBuf,
    pub dry_run: bool,
    pub wheels: Vec<WheelOutcome>,
    /// Temporary files of killed runs, removed (or, in a dry run, found).
    pub stale_temps: Vec<PathBuf>,
    pub publish: Option<PublishOutcome>,
}

impl Report {
    /// Everything asked for was done.
    pub fn ok(&self) -> bool {
        self.wheels
            .iter()
            .all(|wheel| matches!(wheel.action, Action::Place | Action::Replace | Action::Unchanged))
            && self.publish.as_ref().is_none_or(|publish| publish.ok)
    }

    pub fn count(&self, action: Action) -> usize {
        self.wheels.iter().filter(|wheel| wheel.action == action).count()
    }
}

/// Errors that stop the whole run (a single wheel's problem is a refusal instead).
#[derive(Debug, thiserror::Error)]
pub enum PlaceError {
    #[error("cannot use the wheelhouse root `{path}`: {error}")]
    Root { path: PathBuf, error: std::io::Error },
    #[error("cannot take the wheelhouse lock `{path}`: {error}")]
    Lock { path: PathBuf, error: std::io::Error },
    #[error("cannot read the wheelhouse tree under `{root}`: {error}")]
    Tree { root: PathBuf, error: std::io::Error },
    #[error("the `before` publish hook failed, nothing was placed: {0}")]
    Before(String),
    #[error("cannot record the unpublished files in `{path}`: {error}")]
    Pending { path: PathBuf, error: std::io::Error },
}
