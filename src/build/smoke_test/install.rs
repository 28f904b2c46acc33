//! The test environment of a smoke test: isolated from the user's settings, filled from the
//! wheelhouse first (`--no-index` and the find-links directories), from PyPI only for what the
//! wheelhouse lacks and only when allowed, and afterwards accounted for: where every
//! installed distribution came from.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use pep440_rs::Version;
use serde::{Deserialize, Serialize};

use crate::build::environment::{Environment, Installed};
use crate::python::find_uv;
use crate::spec::{WheelFilename, normalize_name};
use crate::tools::{CommandFailed, Invocation, capture_logged};

/// Inherited variables that never reach the test's commands: pip's and uv's settings (a
/// shell's `PIP_FIND_LINKS` or `UV_INDEX_URL` would change what is installed) and those
/// that change what Python imports.
pub const CLEARED_VARIABLES: [&str; 6] = [
    "PIP_*",
    "UV_*",
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONSTARTUP",
    "PYTHONUSERBASE",
];

/// Inherited variables kept although [`CLEARED_VARIABLES`] covers them: where pip and uv keep
/// their caches, which changes no result and matters where a home directory is small.
pub const KEPT_VARIABLES: [&str; 2] = ["UV_CACHE_DIR", "PIP_CACHE_DIR"];

/// The invocation every command of a smoke test runs with: in `directory` (an empty one),
/// with the recipe's variables, wheelwright's own settings for pip and uv, and nothing of the
/// user's (see [`CLEARED_VARIABLES`]).
pub fn isolated_invocation(recipe_environment: &BTreeMap<String, String>, directory: &Path) -> Invocation {
    let mut environment = BTreeMap::from([
        // Never a Python other than the one given, and no configuration files: pip.conf or
        // uv.toml of the user, the site or the current directory.
        ("UV_PYTHON_DOWNLOADS".to_string(), "never".to_string()),
        ("UV_NO_CONFIG".to_string(), "1".to_string()),
        ("PIP_CONFIG_FILE".to_string(), "/dev/null".to_string()),
        ("PIP_DISABLE_PIP_VERSION_CHECK".to_string(), "1".to_string()),
        ("PYTHONNOUSERSITE".to_string(), "1".to_string()),
    ]);
    for name in KEPT_VARIABLES {
        if let Ok(value) = std::env::var(name) {
            environment.insert(name.to_string(), value);
        }
    }
    environment.extend(recipe_environment.clone());
    Invocation {
        directory: Some(directory.to_path_buf()),
        environment,
        unset: CLEARED_VARIABLES.iter().map(|name| name.to_string()).collect(),
        base: None,
    }
}

/// Where an installed distribution came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    /// The wheel under test.
    Wheel,
    /// A file of that name and version in a find-links directory (the staging directories
    /// and the wheelhouse).
    FindLinks,
    /// PyPI: in none of the find-links directories, installed when PyPI was allowed.
    Pypi,
    /// Installed with the environment itself (pip, setuptools: `uv venv --seed`).
    Environment,
    /// In none of the directories, although PyPI was not used.
    Unknown,
}

/// One distribution of the test environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestDependency {
    pub name: String,
    pub version: String,
    pub origin: Origin,
    /// The file it was installed from, for the wheel and find-links.
    pub file: Option<PathBuf>,
}

/// An entry of `pip list --format json`.
#[derive(Debug, Deserialize)]
struct Listed {
    name: String,
    version: String,
}

/// The distributions installed in an environment (`uv pip list` or `pip list`, as JSON).
pub fn installed_distributions(
    environment: &Environment,
    invocation: &Invocation,
    log: &Path,
) -> Result<Vec<(String, String)>, CommandFailed> {
    let output = match find_uv() {
        Some(uv) => capture_logged(
            "uv pip list",
            &uv,
            &[
                "pip".into(),
                "list".into(),
                "--format".into(),
                "json".into(),
                "--python".into(),
                environment.python.display().to_string(),
            ],
            invocation,
            log,
        )?,
        None => capture_logged(
            "pip list",
            &environment.python,
            &[
                "-m".into(),
                "pip".into(),
                "list".into(),
                "--format".into(),
                "json".into(),
                "--disable-pip-version-check".into(),
            ],
            invocation,
            log,
        )?,
    };
    let listed: Vec<Listed> = serde_json::from_str(output.trim()).map_err(|error| CommandFailed {
        what: "listing the test environment".to_string(),
        status: format!("its output is not the JSON list expected: {error}"),
        log: log.to_path_buf(),
        tail: crate::diagnose::tail(&output, 5),
        hint: None,
        timed_out: false,
        cause: crate::cause::Cause::Tool,
    })?;
    Ok(listed
        .into_iter()
        .map(|entry| (entry.name, entry.version))
        .collect())
}

/// The distribution files of find-links directories, by (normalised name, version): the
/// first directory that has one wins, as for pip.
pub fn find_links_files(directories: &[PathBuf]) -> BTreeMap<(String, Version), PathBuf> {
    let mut files = BTreeMap::new();
    for directory in directories {
        let Ok(entries) = fs_err::read_dir(directory) else {
            continue;
        };
        let mut paths: Vec<PathBuf> = entries.flatten().map(|entry| entry.path()).collect();
        paths.sort();
        for path in paths {
            let Some(key) = path
                .file_name()
                .and_then(|name| name.to_str())
                .and_then(distribution_of_file)
            else {
                continue;
            };
            files.entry(key).or_insert(path);
        }
    }
    files
}

/// (normalised name, version) of a wheel or sdist file name.
fn distribution_of_file(file: &str) -> Option<(String, Version)> {
    if file.ends_with(".whl") {
        let filename = WheelFilename::from_str(file).ok()?;
        return Some((filename.normalized_name(), filename.version().clone()));
    }
    let stem = [".tar.gz", ".zip", ".tar.bz2"]
        .iter()
        .find_map(|suffix| file.strip_suffix(suffix))?;
    let (name, version) = stem.rsplit_once('-')?;
    Some((normalize_name(name), Version::from_str(version).ok()?))
}

/// Where each installed distribution came from: the wheel under test, a find-links file of
/// its name and version, the environment's own seed packages (`seeded`), or PyPI when it was
/// used. Each one from PyPI is announced with a warning.
pub fn origins(
    installed: &[(String, String)],
    seeded: &[(String, String)],
    wheel: &Path,
    find_links: &[PathBuf],
    installed_with: Installed,
) -> Vec<TestDependency> {
    let files = find_links_files(find_links);
    let under_test = wheel
        .file_name()
        .and_then(|name| name.to_str())
        .and_then(distribution_of_file);
    let mut dependencies = Vec::new();
    for (name, version) in installed {
        let key = Version::from_str(version)
            .ok()
            .map(|parsed| (normalize_name(name), parsed));
        let (origin, file) = if key.is_some() && key == under_test {
            (Origin::Wheel, Some(wheel.to_path_buf()))
        } else if let Some(path) = key.as_ref().and_then(|key| files.get(key)) {
            (Origin::FindLinks, Some(path.clone()))
        } else if seeded.iter().any(|(seed, seed_version)| {
            normalize_name(seed) == normalize_name(name) && seed_version == version
        }) {
            (Origin::Environment, None)
        } else if installed_with == Installed::WithPypi {
            tracing::warn!("{name} {version} came from PyPI: it is in none of the wheelhouse directories");
            (Origin::Pypi, None)
        } else {
            (Origin::Unknown, None)
        };
        dependencies.push(TestDependency {
            name: name.clone(),
            version: version.clone(),
            origin,
            file,
        });
    }
    dependencies
}

#[cfg(test)]
mod tests {
    use std::ffi::OsString;

    use super::*;

    #[test]
    fn the_test_sees_none_of_the_users_settings() {
        let invocation = isolated_invocation(
            &BTreeMap::from([("OMP_NUM_THREADS".to_string(), "1".to_string())]),
            Path::new("/scratch"),
        );
        let inherited = [
            ("PIP_FIND_LINKS", "/shell/bad-wheels"),
            ("UV_FIND_LINKS", "/shell/bad-wheels"),
            ("UV_INDEX_URL", "https://elsewhere"),
            ("PYTHONPATH", "/home/me/src"),
            ("PYTHONHOME", "/opt/python"),
            ("PYTHONSTARTUP", "/home/me/.pythonrc"),
            ("PYTHONUSERBASE", "/home/me/.local"),
            ("PIP_CONFIG_FILE", "/home/me/pip.conf"),
            ("HOME", "/home/me"),
        ]
        .map(|(name, value)| (OsString::from(name), OsString::from(value)));
        let environment = invocation.environment_for(inherited);
        let get = |name: &str| {
            environment
                .get(&OsString::from(name))
                .and_then(|value| value.to_str())
        };
        for name in [
            "PIP_FIND_LINKS",
            "UV_FIND_LINKS",
            "UV_INDEX_URL",
            "PYTHONPATH",
            "PYTHONHOME",
            "PYTHONSTARTUP",
            "PYTHONUSERBASE",
        ] {
            assert_eq!(get(name), None, "{name}");
        }
        assert_eq!(get("PIP_CONFIG_FILE"), Some("/dev/null"));
        assert_eq!(get("UV_PYTHON_DOWNLOADS"), Some("never"));
        assert_eq!(get("UV_NO_CONFIG"), Some("1"));
        assert_eq!(get("PYTHONNOUSERSITE"), Some("1"));
        assert_eq!(get("OMP_NUM_THREADS"), Some("1"));
        assert_eq!(get("HOME"), Some("/home/me"));
        assert_eq!(invocation.directory.as_deref(), Some(Path::new("/scratch")));
    }

    #[test]
    fn every_distribution_has_an_origin() {
        let directory = tempfile::tempdir().unwrap();
        let staging = directory.path().join("out");
        let wheelhouse = directory.path().join("wheelhouse");
        fs_err::create_dir_all(&staging).unwrap();
        fs_err::create_dir_all(&wheelhouse).unwrap();
        let wheel = staging.join("depuser-0.2.0+computecanada-py3-none-any.whl");
        for path in [
            wheel.clone(),
            staging.join("purepkg-0.1.0+computecanada-py3-none-any.whl"),
            wheelhouse.join("purepkg-0.1.0+computecanada-py3-none-any.whl"),
            wheelhouse.join("Six-1.17.0.tar.gz"),
            wheelhouse.join("README"),
        ] {
            fs_err::write(path, "").unwrap();
        }
        let installed = [
            ("depuser", "0.2.0+computecanada"),
            ("purepkg", "0.1.0+computecanada"),
            ("six", "1.17.0"),
            ("numpy", "2.3.1"),
            ("pip", "25.1"),
        ]
        .map(|(name, version)| (name.to_string(), version.to_string()));
        let seeded = [("pip".to_string(), "25.1".to_string())];
        let links = [staging.clone(), wheelhouse.clone()];
        let found = origins(&installed, &seeded, &wheel, &links, Installed::WithPypi);
        let summary: Vec<String> = found
            .iter()
            .map(|dependency| {
                format!(
                    "{} {:?} {}",
                    dependency.name,
                    dependency.origin,
                    dependency
                        .file
                        .as_ref()
                        .map(|file| file.strip_prefix(directory.path()).unwrap().display().to_string())
                        .unwrap_or_default()
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                "depuser Wheel out/depuser-0.2.0+computecanada-py3-none-any.whl",
                "purepkg FindLinks out/purepkg-0.1.0+computecanada-py3-none-any.whl",
                "six FindLinks wheelhouse/Six-1.17.0.tar.gz",
                "numpy Pypi ",
                "pip Environment ",
            ]
        );
        let offline = origins(&installed, &seeded, &wheel, &links, Installed::Offline);
        assert_eq!(offline[3].origin, Origin::Unknown);
    }
}
