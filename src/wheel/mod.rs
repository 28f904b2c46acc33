//! Wheels on disk: safe reading, atomic writing, rewriting and verification.

pub mod buffered;
pub mod inflate;
pub mod reader;
pub mod rewrite;
pub mod splice;
pub mod verified;
pub mod verify;
pub mod writer;

use std::path::{Path, PathBuf};

use crate::spec::filename::InvalidWheelFilename;
use crate::spec::metadata::MetadataError;
use crate::spec::record::RecordError;
use crate::spec::requirements::RequirementError;
use crate::spec::version::InvalidLabel;
use crate::spec::wheel_info::WheelInfoError;

pub use reader::{Entry, Limits, Span, WheelReader};
pub use rewrite::{
    Destination, Outcome, OutcomeStatus, RecordMismatch, Rewrite, TagChange, preview_wheel, rewrite_wheel,
};
pub use verify::{VerifyReport, verify_wheel};
pub use writer::PlaceOptions;

/// What is wrong with a wheel, or with writing one.
#[derive(Debug, thiserror::Error)]
pub enum WheelErrorKind {
    #[error("not a zip archive, or a truncated one ({0})")]
    NotZip(String),
    #[error("the zip archive is damaged: {0}")]
    Zip(String),
    #[error(transparent)]
    Filename(#[from] InvalidWheelFilename),
    #[error("the entry `{entry}` {reason}")]
    UnsafeEntry { entry: String, reason: String },
    #[error("the entry `{0}` is a symbolic link; wheels may not contain links")]
    Symlink(String),
    #[error("the entry `{0}` is encrypted")]
    Encrypted(String),
    #[error(
        "the entry `{entry}` is compressed with {method}, which wheelwright does not read: it reads only stored and deflate entries, the methods wheels are written with; repack the wheel with deflate"
    )]
    UnsupportedCompression { entry: String, method: String },
    #[error("the archive has {} entries named `{name}`; wheels need unique names", count_in_words(*.count))]
    DuplicateEntries { name: String, count: usize },
    #[error("the archive holds several entries named alike; wheels need unique names")]
    DuplicateNames,
    #[error("no `.dist-info` directory")]
    NoDistInfo,
    #[error("several `.dist-info` directories: {}", .0.join(", "))]
    AmbiguousDistInfo(Vec<String>),
    #[error("the directory `{found}` does not match the filename (expected `{expected}`)")]
    DistInfoMismatch { expected: String, found: String },
    #[error("`{0}` is missing")]
    MissingMember(String),
    #[error("`{entry}` inflates to {size} bytes, more than the limit of {limit} (zip bomb?)")]
    TooLarge { entry: String, size: u64, limit: u64 },
    #[error("the entries inflate to {size} bytes in all, more than the limit of {limit} (zip bomb?)")]
    TotalTooLarge { size: u64, limit: u64 },
    #[error("`{entry}` inflates to more bytes than its declared size of {declared}")]
    SizeLie { entry: String, declared: u64 },
    #[error("{member}: {error}")]
    Metadata { member: String, error: MetadataError },
    #[error("{member}: {error}")]
    WheelInfo { member: String, error: WheelInfoError },
    #[error("{member}: {error}")]
    Record { member: String, error: RecordError },
    #[error(
        "RECORD does not match the content of {}: {}; nothing was written",
        crate::words::count(.0.len(), "member"),
        rewrite::describe_mismatches(.0)
    )]
    BadRecord(Vec<RecordMismatch>),
    #[error("the filename says name `{filename}` but METADATA says `{metadata}`")]
    NameMismatch { filename: String, metadata: String },
    #[error("the filename says version `{filename}` but METADATA says `{metadata}`")]
    VersionMismatch { filename: String, metadata: String },
    #[error(transparent)]
    Requirement(#[from] RequirementError),
    #[error(transparent)]
    Label(#[from] InvalidLabel),
    #[error("the output `{0}` already exists; pass --force to replace it")]
    OutputExists(PathBuf),
    #[error("the output would replace the input; pass --inplace to rewrite it in place")]
    WouldReplaceInput,
    #[error("cannot retag: {0}")]
    Retag(rewrite::InvalidTagChange),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// "two", "three", or the number.
fn count_in_words(count: usize) -> String {
    match count {
        2 => "two".to_string(),
        3 => "three".to_string(),
        other => other.to_string(),
    }
}

/// A wheel error with the wheel's path.
#[derive(Debug, thiserror::Error)]
#[error("{}: {kind}", path.display())]
pub struct WheelError {
    pub path: PathBuf,
    pub kind: WheelErrorKind,
}

impl WheelError {
    pub fn new(path: &Path, kind: impl Into<WheelErrorKind>) -> Self {
        WheelError {
            path: path.to_path_buf(),
            kind: kind.into(),
        }
    }
}

impl From<zip::result::ZipError> for WheelErrorKind {
    fn from(error: zip::result::ZipError) -> Self {
        match error {
            zip::result::ZipError::Io(error) => WheelErrorKind::Io(error),
            other => WheelErrorKind::Zip(other.to_string()),
        }
    }
}
