//! What a built wheel needs at run time, and whether the staging directory or the wheelhouse
//! already has it (for `wheelbuild --recursive`).

use std::path::{Path, PathBuf};
use std::str::FromStr;

use pep508_rs::{Requirement, VersionOrUrl};

use crate::layout::{Layout, PythonVersion};
use crate::spec::WheelFilename;
use crate::wheel::{Limits, WheelReader};

/// The Requires-Dist of `wheel` that apply on `python` (no extras).
pub fn runtime_requirements(
    wheel: &Path,
    python: PythonVersion,
) -> Result<Vec<Requirement>, super::BuildError> {
    let reader = WheelReader::open(wheel, Limits::default())?;
    let environment = crate::spec::environment::linux_environment(python.major, python.minor);
    let mut requirements = Vec::new();
    for text in reader.metadata.requires_dist() {
        let requirement = Requirement::from_str(text.trim()).map_err(|error| {
            super::BuildError::bad_wheel(wheel, format!("Requires-Dist `{text}`: {}", error.message))
        })?;
        if requirement.marker.evaluate(&environment, &[]) {
            requirements.push(requirement);
        }
    }
    Ok(requirements)
}

/// The version specifiers of a requirement as text (`>=1.21,<3`), empty for none.
pub fn specifier_text(requirement: &Requirement) -> String {
    match &requirement.version_or_url {
        Some(VersionOrUrl::VersionSpecifier(specifiers)) => specifiers.to_string(),
        _ => String::new(),
    }
}

/// Whether a wheel file's tags can run on `python`.
fn runs_on(filename: &WheelFilename, python: PythonVersion) -> bool {
    let ours = format!("cp{}{}", python.major, python.minor);
    filename.tags.python.iter().any(|tag| {
        tag == &ours
            || tag == &format!("py{}", python.major)
            || tag == &format!("py{}{}", python.major, python.minor)
            || (filename.tags.abi.iter().any(|abi| abi == "abi3")
                && tag
                    .strip_prefix(&format!("cp{}", python.major))
                    .and_then(|minor| minor.parse::<u8>().ok())
                    .is_some_and(|minor| minor <= python.minor))
    })
}

/// Whether a wheel in `directories` satisfies `requirement` on `python`.
pub fn available(requirement: &Requirement, python: PythonVersion, directories: &[PathBuf]) -> bool {
    let wanted = requirement.name.to_string();
    directories.iter().any(|directory| {
        fs_err::read_dir(directory)
            .into_iter()
            .flatten()
            .flatten()
            .any(|entry| {
                let name = entry.file_name().to_string_lossy().into_owned();
                let Ok(filename) = name.parse::<WheelFilename>() else {
                    return false;
                };
                filename.normalized_name() == wanted
                    && runs_on(&filename, python)
                    && match &requirement.version_or_url {
                        Some(VersionOrUrl::VersionSpecifier(specifiers)) => {
                            specifiers.contains(filename.version())
                        }
                        _ => true,
                    }
            })
    })
}

/// The wheelhouse directories of the layout that exist.
pub fn wheelhouse_directories(layout: &Layout) -> Vec<PathBuf> {
    let mut directories = vec![layout.root.join("generic")];
    for layer in layout.active_layers() {
        for arch in &layer.archs {
            directories.push(layout.root.join(&layer.name).join(arch));
        }
    }
    directories.retain(|directory| directory.is_dir());
    directories
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn judges_wheels_against_requirements() {
        let directory = tempfile::tempdir().unwrap();
        for name in [
            "numpy-2.2.6+computecanada-cp312-cp312-linux_x86_64.whl",
            "six-1.16.0+computecanada-py2.py3-none-any.whl",
            "cryptography-45.0.7+computecanada-cp311-abi3-linux_x86_64.whl",
        ] {
            fs_err::write(directory.path().join(name), b"").unwrap();
        }
        let directories = [directory.path().to_path_buf()];
        let python: PythonVersion = "3.12".parse().unwrap();
        let requirement = |text: &str| Requirement::<pep508_rs::VerbatimUrl>::from_str(text).unwrap();
        assert!(available(&requirement("numpy>=1.21"), python, &directories));
        assert!(!available(&requirement("numpy<2"), python, &directories));
        assert!(!available(
            &requirement("numpy"),
            "3.13".parse().unwrap(),
            &directories
        ));
        assert!(available(&requirement("six"), python, &directories));
        assert!(available(
            &requirement("cryptography>=45"),
            "3.13".parse().unwrap(),
            &directories
        ));
        assert!(!available(&requirement("scipy"), python, &directories));
    }

    #[test]
    fn markers_are_evaluated_for_the_python() {
        let environment = crate::spec::environment::linux_environment(3, 12);
        let applies = |text: &str| {
            Requirement::<pep508_rs::VerbatimUrl>::from_str(text)
                .unwrap()
                .marker
                .evaluate(&environment, &[])
        };
        assert!(applies("tomli; python_version < '3.13'"));
        assert!(!applies("tomli; python_version < '3.11'"));
        assert!(!applies("pywin32; sys_platform == 'win32'"));
        assert!(!applies("pytest; extra == 'test'"));
    }
}
