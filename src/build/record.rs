//! The build record: what went into a wheel (source, recipe, layout, interpreter, flags,
//! build requirements, tool versions) and, beside the staged wheel, how its smoke test went.
//! Written into the wheel's `.dist-info/wheelwright.json` and beside it as `<wheel>.json`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use crate::python::ToolVersions;

/// The inputs of one cell's wheel.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BuildRecord {
    /// The wheelwright version that built it.
    pub wheelwright: String,
    pub package: String,
    pub version: String,
    pub python: String,
    pub arch: String,
    pub layer: String,
    /// The PEP 517 backend (`setuptools.build_meta:__legacy__`, `mesonpy`, ...), or the
    /// recipe's build command.
    pub backend: Option<String>,
    /// CFLAGS, CXXFLAGS, FFLAGS, LDFLAGS and RUSTFLAGS as the build saw them.
    pub flags: BTreeMap<String, String>,
    /// The compiler parallelism the cell was given.
    pub jobs: usize,
    pub source: SourceRecord,
    pub recipe: Option<FileRecord>,
    /// The layout (a path, or the embedded name).
    pub layout: String,
    pub build_requirements: BuildRequirements,
    pub tools: ToolVersions,
    /// The software stack it was built in (the layer's lines, modules); absent when the host
    /// was the environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack: Option<StackRecord>,
    /// An adopted wheel's search paths that grew (no room in place): which writer wrote them
    /// (wheelwright's own, or patchelf and its version, and why), and for which members.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub search_path_writers: Vec<crate::build::patchelf::SearchPathWriterUse>,
}

/// The software stack a wheel was built in.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StackRecord {
    /// The layout's lines that entered the layer and arch.
    pub lines: Vec<String>,
    /// The modules asked for (the recipe's `modules`, then its `build_modules`).
    pub requested: Vec<String>,
    /// The modules loaded, as `module list` shows them (`hdf5/1.10.8`).
    pub loaded: Vec<String>,
    /// The libraries the wheel needs that the stack provided, and from where.
    pub libraries: Vec<StackLibrary>,
}

impl StackRecord {
    /// The record of an entered stack (its libraries are added once the wheel is built).
    pub fn of(stack: &crate::stack::Stack) -> Self {
        StackRecord {
            lines: stack.lines.clone(),
            requested: stack.request.modules.clone(),
            loaded: stack.loaded.clone(),
            libraries: Vec::new(),
        }
    }
}

/// A library a wheel needs, found in a directory the stack added.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct StackLibrary {
    /// The DT_NEEDED name (`libhdf5_serial.so.103`).
    pub library: String,
    pub directory: PathBuf,
    /// What added the directory: `module hdf5`, or the layer's line.
    pub from: String,
}

/// The source a wheel was built from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SourceRecord {
    pub file: Option<String>,
    pub sha256: String,
}

/// A file that decided the build, by name and content.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FileRecord {
    pub file: String,
    pub sha256: Option<String>,
}

/// The requirements installed into the build environment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BuildRequirements {
    /// `[build-system] requires` and the recipe's `build_dependencies`.
    pub declared: Vec<String>,
    /// What the backend asked for through `get_requires_for_build_wheel`.
    pub dynamic: Vec<String>,
}

/// How a wheel's smoke test ended, as the record beside the wheel says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TestStatus {
    Passed,
    Failed,
    #[serde(rename = "not run")]
    NotRun,
}

impl std::fmt::Display for TestStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

impl TestStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TestStatus::Passed => "passed",
            TestStatus::Failed => "failed",
            TestStatus::NotRun => "not run",
        }
    }
}

/// The test part of the record beside a wheel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestRecord {
    pub status: TestStatus,
    pub error: Option<String>,
    /// What each cell's smoke test did (imports, dependencies and where they came from), by
    /// cell (`3.12 generic`): a pure or abi3 wheel is tested by several.
    #[serde(default)]
    pub reports: BTreeMap<String, serde_json::Value>,
}

/// The record written beside a wheel (`<wheel>.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WheelRecord {
    pub wheel: String,
    pub sha256: Option<String>,
    pub build: BuildRecord,
    pub changes: Vec<String>,
    /// Where cp-wheels would place it (layer/arch directory), from the classification.
    pub destination: Option<String>,
    pub test: TestRecord,
    /// Why it is held back rather than staged (libraries nodes of its layer do not have);
    /// cp-wheels refuses a wheel whose record says so.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub held: Vec<String>,
}

impl WheelRecord {
    /// The path of the record beside `wheel`.
    pub fn path_beside(wheel: &Path) -> PathBuf {
        let mut name = wheel.file_name().unwrap_or_default().to_os_string();
        name.push(".json");
        wheel.with_file_name(name)
    }

    /// Writes the record beside `wheel` (through a temporary file and a rename), with the
    /// wheel's permissions: whoever may read the wheel may read what went into it (a
    /// temporary file alone would leave it 0600). Returns the record's path.
    pub fn write_beside(&self, wheel: &Path) -> std::io::Result<PathBuf> {
        let path = Self::path_beside(wheel);
        let directory = path.parent().unwrap_or(Path::new("."));
        let mut temporary = tempfile::Builder::new()
            .prefix(".wheelwright-")
            .suffix(".tmp")
            .tempfile_in(directory)?;
        serde_json::to_writer_pretty(&mut temporary, self).map_err(std::io::Error::other)?;
        let permissions = fs_err::metadata(wheel)?.permissions();
        temporary
            .as_file()
            .set_permissions(permissions)
            .map_err(|error| {
                std::io::Error::new(
                    error.kind(),
                    format!(
                        "cannot set the mode of the build record `{}`: {error}",
                        path.display()
                    ),
                )
            })?;
        temporary.persist(&path).map_err(|error| {
            std::io::Error::new(
                error.error.kind(),
                format!(
                    "cannot move the build record to `{}`: {}",
                    path.display(),
                    error.error
                ),
            )
        })?;
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_record_beside_a_wheel_has_the_wheels_mode() {
        use std::os::unix::fs::PermissionsExt as _;
        let directory = tempfile::tempdir().unwrap();
        let wheel = directory.path().join("a-1-py3-none-any.whl");
        fs_err::write(&wheel, b"wheel").unwrap();
        let record = WheelRecord {
            wheel: "a-1-py3-none-any.whl".to_string(),
            sha256: None,
            build: BuildRecord::default(),
            changes: Vec::new(),
            destination: None,
            test: TestRecord {
                status: TestStatus::Passed,
                error: None,
                reports: BTreeMap::new(),
            },
            held: Vec::new(),
        };
        for mode in [0o644, 0o664, 0o640] {
            fs_err::set_permissions(&wheel, std::fs::Permissions::from_mode(mode)).unwrap();
            let path = record.write_beside(&wheel).unwrap();
            assert_eq!(path, WheelRecord::path_beside(&wheel));
            let written = fs_err::metadata(&path).unwrap().permissions().mode() & 0o7777;
            assert_eq!(written, mode, "{written:o} for a wheel of {mode:o}");
            let read: WheelRecord = serde_json::from_slice(&fs_err::read(&path).unwrap()).unwrap();
            assert_eq!(read, record);
        }
        // Only the record and the wheel: no temporary file left.
        assert_eq!(fs_err::read_dir(directory.path()).unwrap().count(), 2);
    }

    #[test]
    fn test_status_reads_and_writes_its_words() {
        for (status, word) in [
            (TestStatus::Passed, "\"passed\""),
            (TestStatus::Failed, "\"failed\""),
            (TestStatus::NotRun, "\"not run\""),
        ] {
            assert_eq!(serde_json::to_string(&status).unwrap(), word);
            assert_eq!(serde_json::from_str::<TestStatus>(word).unwrap(), status);
        }
        assert_eq!(
            WheelRecord::path_beside(Path::new("/out/a-1-py3-none-any.whl")),
            Path::new("/out/a-1-py3-none-any.whl.json")
        );
    }
}
