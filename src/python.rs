//! Python interpreters found by path (`$WHEELWRIGHT_PYTHON_X_Y`, `pythonX.Y` on PATH, pyenv's
//! versions, the system's; never a pyenv shim), uv, and the versions of the tools a build
//! used (python, pip, uv, compilers) for build records and the nightly's keys.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::layout::PythonVersion;
use crate::tools::{capture, capture_in};

/// The pyenv root: `$PYENV_ROOT`, else `~/.pyenv`.
fn pyenv_root() -> Option<PathBuf> {
    std::env::var_os("PYENV_ROOT")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".pyenv")))
}

/// The interpreters tried for `version`, in order: `$WHEELWRIGHT_PYTHON_3_12`, `python3.12`
/// on PATH (not a pyenv shim, which runs only the global version), the newest pyenv
/// `versions/3.12.*`, then /usr/local/bin and /usr/bin.
pub fn python_candidates(version: PythonVersion) -> Vec<PathBuf> {
    let mut candidates = Vec::new();
    let variable = format!("WHEELWRIGHT_PYTHON_{}_{}", version.major, version.minor);
    if let Some(path) = std::env::var_os(&variable) {
        candidates.push(PathBuf::from(path));
    }
    let name = format!("python{version}");
    if let Some(paths) = std::env::var_os("PATH") {
        for directory in std::env::split_paths(&paths) {
            if directory.components().any(|part| part.as_os_str() == "shims") {
                continue;
            }
            candidates.push(directory.join(&name));
        }
    }
    if let Some(root) = pyenv_root() {
        let mut versions: Vec<(Vec<u32>, PathBuf)> = fs_err::read_dir(root.join("versions"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| {
                let file = entry.file_name().to_string_lossy().into_owned();
                let rest = file.strip_prefix(&format!("{version}."))?;
                let patch: u32 = rest.parse().ok()?;
                Some((vec![patch], entry.path().join("bin/python3")))
            })
            .collect();
        versions.sort();
        candidates.extend(versions.into_iter().rev().map(|(_, path)| path));
    }
    candidates.push(PathBuf::from(format!("/usr/local/bin/{name}")));
    candidates.push(PathBuf::from(format!("/usr/bin/{name}")));
    candidates
}

/// No interpreter of a Python version on this machine.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "no Python {version} interpreter found (looked at $WHEELWRIGHT_PYTHON_{major}_{minor}, python{version} on PATH, pyenv versions, /usr/local/bin, /usr/bin); install it or pass --python without it",
    major = version.major,
    minor = version.minor
)]
pub struct NoInterpreter {
    pub version: PythonVersion,
}

/// Finds an interpreter of `version` that really is that version.
pub fn find_python(version: PythonVersion) -> Result<PathBuf, NoInterpreter> {
    let candidates = python_candidates(version);
    for candidate in &candidates {
        if !candidate.is_file() {
            continue;
        }
        let reported = capture(
            candidate,
            &["-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        );
        if reported.as_deref() == Some(version.to_string().as_str()) {
            return Ok(candidate.clone());
        }
    }
    Err(NoInterpreter { version })
}

/// `uv` from `$WHEELWRIGHT_UV` or PATH.
pub fn find_uv() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("WHEELWRIGHT_UV").map(PathBuf::from) {
        return path.is_file().then_some(path);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|directory| directory.join("uv"))
            .find(|path| path.is_file())
    })
}

/// The programs a build ran, with the versions they report.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
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
fn version_line(program: &str, environment: Option<&BTreeMap<OsString, OsString>>) -> Option<String> {
    capture_in(Path::new(program), &["--version"], environment)
        .and_then(|text| text.lines().next().map(str::trim).map(str::to_string))
        .filter(|line| !line.is_empty())
}

/// The compiler a build would use for a language: `$VARIABLE` (its first word), else `default`.
fn compiler(variable: &str, default: &str, environment: Option<&BTreeMap<OsString, OsString>>) -> String {
    let value = match environment {
        Some(environment) => environment
            .get(std::ffi::OsStr::new(variable))
            .map(|value| value.to_string_lossy().into_owned()),
        None => std::env::var(variable).ok(),
    };
    value
        .and_then(|value| value.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| default.to_string())
}

/// `pip 26.3 from /path/site-packages/pip (python 3.12)` -> `pip 26.3 (python 3.12)`: where
/// a build environment lives is not part of a tool's version (and would make every record,
/// and every wheel, differ from run to run).
fn without_location(text: &str) -> String {
    match (text.find(" from "), text.rfind(" (")) {
        (Some(from), Some(open)) if open > from => format!("{}{}", &text[..from], &text[open..]),
        (Some(from), _) => text[..from].to_string(),
        _ => text.to_string(),
    }
}

impl ToolVersions {
    /// [`ToolVersions::gather`] without a build environment, asked once per interpreter in
    /// this process.
    pub fn gather_cached(interpreter: &Path) -> Self {
        static CACHE: std::sync::OnceLock<std::sync::Mutex<BTreeMap<PathBuf, ToolVersions>>> =
            std::sync::OnceLock::new();
        let cache = CACHE.get_or_init(Default::default);
        if let Some(tools) = cache
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .get(interpreter)
        {
            return tools.clone();
        }
        let tools = ToolVersions::gather(interpreter, None);
        cache
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .insert(interpreter.to_path_buf(), tools.clone());
        tools
    }

    /// Asks every tool for its version; `build_python` is the build environment's interpreter
    /// (for pip), `interpreter` the base one.
    pub fn gather(interpreter: &Path, build_python: Option<&Path>) -> Self {
        Self::gather_in(interpreter, build_python, None)
    }

    /// [`ToolVersions::gather`], the compilers those of `environment` (a stack's: its PATH,
    /// `$CC`, `$CXX`, `$FC`), asked in it.
    pub fn gather_in(
        interpreter: &Path,
        build_python: Option<&Path>,
        environment: Option<&BTreeMap<OsString, OsString>>,
    ) -> Self {
        ToolVersions {
            python_path: Some(interpreter.to_path_buf()),
            python: capture(interpreter, &["-c", "import sys; print(sys.version.split()[0])"]),
            pip: build_python
                .and_then(|python| capture(python, &["-m", "pip", "--version"]))
                .map(|text| without_location(&text)),
            uv: find_uv().and_then(|uv| capture(&uv, &["--version"])),
            cc: version_line(&compiler("CC", "cc", environment), environment),
            cxx: version_line(&compiler("CXX", "c++", environment), environment),
            fortran: version_line(&compiler("FC", "gfortran", environment), environment),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn tool_versions_do_not_say_where_they_live() {
        assert_eq!(
            without_location(
                "pip 26.3 from /tmp/run/build-env/lib/python3.12/site-packages/pip (python 3.12)"
            ),
            "pip 26.3 (python 3.12)"
        );
        assert_eq!(
            without_location("uv 0.13.9 (x86_64-unknown-linux-gnu)"),
            "uv 0.13.9 (x86_64-unknown-linux-gnu)"
        );
    }

    #[test]
    fn finds_no_python_two_hundred() {
        let error = find_python(PythonVersion { major: 3, minor: 200 })
            .unwrap_err()
            .to_string();
        assert!(error.contains("no Python 3.200 interpreter found"), "{error}");
    }
}
