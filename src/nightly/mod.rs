//! The nightly rebuild of the wheelhouse: the site's set ([`config`]), planned cell by cell
//! against what earlier runs left (`plan`, [`state`]), run by an executor in build order,
//! keeping going past failures and resumable (`run`, `schedule`, `local`, `slurm`), one run at
//! a time (`lock`), their data in one module below them all ([`model`]), the wheelhouse
//! checked after publishing and its holes filled the same night ([`check`]), and reported
//! (`report`: `result.json`, `summary.md`, `report.html`).
//!
//! Public: the data ([`config`], [`model`], [`state`], [`check`]'s summary) and what the command uses ([`plan()`],
//! [`run()`], [`LocalExecutor`], [`SlurmExecutor`], [`WhenLocked`], [`write_reports`]); the
//! coordinator's pieces stay inside.

mod cache;
pub mod check;
pub mod config;
mod limits;
mod local;
mod lock;
pub mod model;
mod plan;
mod report;
mod reproducible;
mod run;
mod schedule;
mod slurm;
pub mod state;

// The door: the data (`config`, `model`, `state`) is public; of the rest, what the command
// needs to plan, run, lock and report.
pub use local::LocalExecutor;
pub use lock::WhenLocked;
pub use plan::{NightlyPlan, PlanOptions, Planned, plan};
pub use report::{headline, write_reports};
pub use run::{RunOptions, RunReport, run};
pub use schedule::STATUS;
pub use slurm::SlurmExecutor;

use serde::{Deserialize, Serialize};

use crate::layout::PythonVersion;

/// One cell of the set: package x layer x Python x arch.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CellId {
    pub package: String,
    pub layer: String,
    pub python: PythonVersion,
    pub arch: String,
}

impl std::fmt::Display for CellId {
    /// `biopython/gentoo2023/py3.12-generic`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}/{}/py{}-{}",
            self.package, self.layer, self.python, self.arch
        )
    }
}

impl CellId {
    /// A path under a run directory for this cell (`<package>/<layer>/py3.12-generic`).
    pub fn relative_path(&self) -> std::path::PathBuf {
        std::path::Path::new(&crate::spec::normalize_name(&self.package))
            .join(&self.layer)
            .join(format!("py{}-{}", self.python, self.arch))
    }
}

/// Why a nightly cannot plan or run.
#[derive(Debug, thiserror::Error)]
pub enum NightlyError {
    #[error(transparent)]
    ConfigFile(#[from] config::ConfigError),
    #[error("{message}")]
    Config { message: String },
    #[error("dependency cycle in the nightly set: {0}")]
    Cycle(String),
    #[error(transparent)]
    Build(Box<crate::build::BuildError>),
    #[error(transparent)]
    Recipe(Box<crate::recipe::RecipeError>),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("the run directory {}: {problem}", directory.display())]
    Run {
        directory: std::path::PathBuf,
        problem: String,
    },
    #[error(transparent)]
    Report(#[from] tera::Error),
    #[error(transparent)]
    Place(#[from] crate::wheelhouse::place::PlaceError),
    /// What is wrong with the site rather than a package: found before any package is planned.
    #[error("the site's stack is not usable, so nothing can be planned: {0}")]
    Site(Box<crate::stack::StackError>),
    #[error("another nightly run holds {}: {holder}", path.display())]
    Locked {
        path: std::path::PathBuf,
        holder: String,
    },
}

impl NightlyError {
    /// The exit status of a command that ends with this error: 75 (`EX_TEMPFAIL`, try again
    /// later) when another run holds the lock, so that cron wrappers tell it from a failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            NightlyError::Locked { .. } => 75,
            _ => 1,
        }
    }
}

impl From<crate::build::BuildError> for NightlyError {
    fn from(error: crate::build::BuildError) -> Self {
        NightlyError::Build(Box::new(error))
    }
}

impl From<crate::recipe::RecipeError> for NightlyError {
    fn from(error: crate::recipe::RecipeError) -> Self {
        NightlyError::Recipe(Box::new(error))
    }
}

impl crate::hint::Hint for NightlyError {
    fn hint(&self) -> Option<String> {
        match self {
            NightlyError::Build(error) => crate::hint::Hint::hint(error.as_ref()),
            _ => None,
        }
    }
}
