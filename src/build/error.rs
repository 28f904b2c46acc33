//! The build's one error type: what stopped a package or a cell, typed, with the file or
//! command that caused it; the binaries render it (`error:`, `caused by:`, `hint:`).

use std::path::PathBuf;

use crate::recipe::RecipeErrors;
use crate::tools::CommandFailed;

use super::backend::BackendError;
use super::environment::InstallError;
use super::source::FetchError;

/// Why a build (or one of its cells) stopped.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A program the build ran failed (its log and hint are in the message).
    #[error(transparent)]
    Command(#[from] CommandFailed),
    /// Every error of a recipe, in line order.
    #[error(transparent)]
    Recipe(#[from] RecipeErrors),
    #[error(transparent)]
    Fetch(Box<FetchError>),
    #[error(transparent)]
    Backend(#[from] BackendError),
    #[error(transparent)]
    Install(#[from] InstallError),
    #[error(transparent)]
    Wheel(#[from] crate::wheel::WheelError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    SearchPathWriter(#[from] super::patchelf::UnknownWriter),
    #[error(transparent)]
    Filename(#[from] crate::spec::filename::InvalidWheelFilename),
    #[error(transparent)]
    Requirement(#[from] crate::spec::requirements::RequirementError),
    #[error("the layout {layout} has no arch `{arch}`")]
    UnknownArch { layout: String, arch: String },
    #[error("the layout {layout} has no layer `{layer}`")]
    UnknownLayer { layout: String, layer: String },
    /// No interpreter of a Python version on this machine (the message says where it looked).
    #[error(transparent)]
    NoInterpreter(#[from] crate::python::NoInterpreter),
    #[error("{package} {version}: no cell to build (the recipe skips every Python asked for)")]
    NoCell { package: String, version: String },
    #[error("no Python version to build for")]
    NoPython,
    #[error("cannot tell the version of `{}`", .0.display())]
    UnknownVersion(PathBuf),
    #[error("version `{version}`: {reason}")]
    BadVersion { version: String, reason: String },
    #[error(
        "the build produced no wheel in {}; log: {}",
        directory.display(),
        log.display()
    )]
    NoWheel { directory: PathBuf, log: PathBuf },
    #[error("the build produced several wheels in {}", .0.display())]
    SeveralWheels(PathBuf),
    #[error("package_suffix `{suffix}`: no setup.py, pyproject.toml or setup.cfg sets name = `{package}`")]
    PackageSuffix { suffix: String, package: String },
    /// The wheel the build made, or its metadata, is not what post-processing can work with.
    #[error("{}: {problem}", wheel.display())]
    BadWheel { wheel: PathBuf, problem: String },
    /// A smoke test that failed (the message names the import or test and the log).
    #[error("{0}")]
    Test(String),
    #[error("dependency cycle: {0}")]
    Cycle(String),
    /// The cell's layer cannot be entered, or a module of its recipe cannot be loaded (the
    /// recipe file is named for a module of its own).
    #[error("{}{error}", recipe_context(recipe.as_deref(), error))]
    Stack {
        recipe: Option<PathBuf>,
        error: Box<crate::stack::StackError>,
    },
    /// A cell file (`wheelbuild --cell`) that cannot be used.
    #[error("the cell file {}: {problem}", file.display())]
    CellFile { file: PathBuf, problem: String },
}

impl From<FetchError> for BuildError {
    fn from(error: FetchError) -> Self {
        BuildError::Fetch(Box::new(error))
    }
}

impl BuildError {
    /// A problem with a wheel file.
    pub fn bad_wheel(wheel: &std::path::Path, problem: impl std::fmt::Display) -> Self {
        BuildError::BadWheel {
            wheel: wheel.to_path_buf(),
            problem: problem.to_string(),
        }
    }
}

/// `recipes/h5py.yaml: ` before a stack error caused by the recipe (its modules).
fn recipe_context(recipe: Option<&std::path::Path>, error: &crate::stack::StackError) -> String {
    use crate::stack::StackError;
    match (recipe, error) {
        (Some(recipe), StackError::Module { .. } | StackError::NoModuleSystem { .. }) => {
            format!("{}: ", recipe.display())
        }
        _ => String::new(),
    }
}

/// An error with its causes, one line: `message: cause: cause` (what a cell's outcome keeps),
/// then a `hint:` line for each fix the chain knows.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    // The fixes, kept apart from the messages, on their own lines (a report has no renderer).
    crate::hint::with_hints(text, error)
}

pub use crate::cause::Cause;

impl BuildError {
    /// Whose this failure is, for the nightly's reports.
    pub fn cause(&self) -> Cause {
        match self {
            BuildError::Recipe(_) | BuildError::NoCell { .. } | BuildError::PackageSuffix { .. } => {
                Cause::Recipe
            }
            BuildError::Fetch(_) | BuildError::BadVersion { .. } | BuildError::UnknownVersion(_) => {
                Cause::Source
            }
            BuildError::Stack { .. } => Cause::SiteStack,
            BuildError::Command(failed) => failed.cause,
            BuildError::Backend(_)
            | BuildError::Install(_)
            | BuildError::NoWheel { .. }
            | BuildError::SeveralWheels(_)
            | BuildError::BadWheel { .. }
            | BuildError::Test(_) => Cause::Package,
            _ => Cause::Tool,
        }
    }
}

impl super::patchelf::GrowFailure<BuildError> {
    /// The build's error, a file's problem told as the adopted `wheel`'s.
    pub fn into_build_error(self, wheel: &std::path::Path) -> BuildError {
        match self {
            super::patchelf::GrowFailure::Rpath(error) => BuildError::bad_wheel(wheel, error),
            super::patchelf::GrowFailure::Patchelf(error) => error,
        }
    }
}

impl crate::hint::Hint for BuildError {
    fn hint(&self) -> Option<String> {
        match self {
            BuildError::Command(error) => error.hint(),
            BuildError::Fetch(error) => error.hint(),
            BuildError::Install(error) => error.hint(),
            _ => None,
        }
    }
}
