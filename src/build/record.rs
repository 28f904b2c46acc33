//! The build record: what went into a wheel (source, recipe, layout, interpreter, flags,
//! build requirements, tool versions) and, beside the staged wheel, how its smoke test went.
//! Written into the wheel's `.dist-info/wheelwright.json` and beside it as `<wheel>.json`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::tools::{capture, find_uv};

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

/// The programs a build ran, with the versions they report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ToolVersions {
    /// The base interpreter (by path) and its full version.
    pub python_path: Option<PathBuf>,
    pub python: Option<String>,
    pub pip: Option<String>,
    pub uv: Option<String>,
    /// The first line of `$CC --version` (`cc` by default), and likewise for C++ and Fortran.
    pub cc: Option<String>,
    pub cxx: Option<String>,
    pub fortran: Option<String>,
}

/// The first line of `program --version`.
fn version_line(program: &str) -> Option<String> {
    capture(Path::new(program), &["--version"])
        .and_then(|text| text.lines().next().map(str::trim).map(str::to_string))
        .filter(|line| !line.is_empty())
}

/// The compiler a build would use for a language: `$VARIABLE` (its first word), else `default`.
fn compiler(variable: &str, default: &str) -> String {
    std::env::var(variable)
        .ok()
        .and_then(|value| value.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| default.to_string())
}

impl ToolVersions {
    /// Asks every tool for its version; `build_python` is the build environment's interpreter
    /// (for pip), `interpreter` the base one.
    pub fn gather(interpreter: &Path, build_python: Option<&Path>) -> Self {
        ToolVersions {
            python_path: Some(interpreter.to_path_buf()),
            python: capture(interpreter, &["-c", "import sys; print(sys.version.split()[0])"]),
            pip: build_python.and_then(|python| capture(python, &["-m", "pip", "--version"])),
            uv: find_uv().and_then(|uv| capture(&uv, &["--version"])),
            cc: version_line(&compiler("CC", "cc")),
            cxx: version_line(&compiler("CXX", "c++")),
            fortran: version_line(&compiler("FC", "gfortran")),
        }
    }
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
}

impl WheelRecord {
    /// The path of the record beside `wheel`.
    pub fn path_beside(wheel: &Path) -> PathBuf {
        let mut name = wheel.file_name().unwrap_or_default().to_os_string();
        name.push(".json");
        wheel.with_file_name(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
