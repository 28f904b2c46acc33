//! What an installer on a compute node judges requirements by, as pure functions: the PEP 508
//! marker environment of CPython X.Y on x86-64 Linux, and PEP 440 matching as pip and uv do
//! it (a public specifier ignores local version labels, so `1.26.4+computecanada` satisfies
//! `==1.26.4`; pre-releases only when a specifier names one, or when a project has nothing
//! else).

use std::str::FromStr;

use pep440_rs::{Version, VersionSpecifiers};
use pep508_rs::{ExtraName, MarkerEnvironment, MarkerEnvironmentBuilder, MarkerTree};

/// The marker environment of CPython `major.minor` on an x86-64 Linux node. The patch
/// version is `.0`, as uv's `--python-version X.Y` takes it: a marker or `Requires-Python`
/// that names a patch release is judged against the oldest one.
pub fn linux_environment(major: u8, minor: u8) -> MarkerEnvironment {
    let short = format!("{major}.{minor}");
    let full = format!("{major}.{minor}.0");
    MarkerEnvironment::try_from(MarkerEnvironmentBuilder {
        implementation_name: "cpython",
        implementation_version: &full,
        os_name: "posix",
        platform_machine: "x86_64",
        platform_python_implementation: "CPython",
        platform_release: "",
        platform_system: "Linux",
        platform_version: "",
        python_full_version: &full,
        python_version: &short,
        sys_platform: "linux",
    })
    .expect("X.Y.0 is a PEP 440 version")
}

/// The version a `Requires-Python` is judged against for CPython `major.minor` (`X.Y.0`).
pub fn python_full_version(major: u8, minor: u8) -> Version {
    Version::new([u64::from(major), u64::from(minor), 0])
}

/// Whether a requirement's marker holds in `environment` with `extras` requested.
pub fn marker_holds(marker: &MarkerTree, environment: &MarkerEnvironment, extras: &[ExtraName]) -> bool {
    marker.evaluate(environment, extras)
}

/// Whether `specifiers` name a pre-release (`>=2.0rc1`), which lets pre-releases match.
pub fn names_prerelease(specifiers: &VersionSpecifiers) -> bool {
    specifiers.iter().any(|specifier| specifier.any_prerelease())
}

/// Whether an installer takes `version` for `specifiers`: PEP 440 matching (local labels
/// ignored by public specifiers, as pep440_rs does), and a pre-release only when
/// `prereleases` allows it (see [`prereleases_allowed`]).
pub fn admits(specifiers: &VersionSpecifiers, version: &Version, prereleases: bool) -> bool {
    (prereleases || !version.any_prerelease()) && specifiers.contains(version)
}

/// Whether pre-releases may match `specifiers` for a project whose candidate versions are
/// `versions`: when a specifier names one, or when every candidate is a pre-release (where
/// pip and uv agree: pip also takes one when no final release matches, uv does not).
pub fn prereleases_allowed<'a>(
    specifiers: &VersionSpecifiers,
    mut versions: impl Iterator<Item = &'a Version>,
) -> bool {
    names_prerelease(specifiers) || versions.all(Version::any_prerelease)
}

/// `Requires-Python` parsed leniently, as installers do: a value that does not parse admits
/// every Python (pip warns and installs).
pub fn parse_requires_python(text: &str) -> Option<VersionSpecifiers> {
    VersionSpecifiers::from_str(text.trim()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use pep508_rs::Requirement;

    fn specifiers(text: &str) -> VersionSpecifiers {
        VersionSpecifiers::from_str(text).unwrap()
    }

    fn version(text: &str) -> Version {
        Version::from_str(text).unwrap()
    }

    fn holds(requirement: &str, python: (u8, u8), extras: &[&str]) -> bool {
        let requirement: Requirement = requirement.parse().unwrap();
        let extras: Vec<ExtraName> = extras.iter().map(|extra| extra.parse().unwrap()).collect();
        marker_holds(
            &requirement.marker,
            &linux_environment(python.0, python.1),
            &extras,
        )
    }

    #[test]
    fn markers_are_judged_for_cpython_on_x86_64_linux() {
        assert!(holds("a; python_version < '3.12'", (3, 11), &[]));
        assert!(!holds("a; python_version < '3.12'", (3, 12), &[]));
        assert!(holds("a; python_full_version >= '3.12.0'", (3, 12), &[]));
        assert!(!holds("a; python_full_version >= '3.12.1'", (3, 12), &[]));
        assert!(holds(
            "a; sys_platform == 'linux' and platform_machine == 'x86_64'",
            (3, 13),
            &[]
        ));
        assert!(!holds("a; sys_platform == 'win32'", (3, 13), &[]));
        assert!(!holds("a; platform_system == 'Darwin'", (3, 13), &[]));
        assert!(holds(
            "a; os_name == 'posix' and implementation_name == 'cpython'",
            (3, 11),
            &[]
        ));
        assert!(holds(
            "a; platform_python_implementation == 'CPython'",
            (3, 11),
            &[]
        ));
        assert!(!holds(
            "a; platform_python_implementation == 'PyPy'",
            (3, 11),
            &[]
        ));
    }

    #[test]
    fn extra_markers_hold_only_when_the_extra_is_asked_for() {
        assert!(!holds("pytest; extra == 'test'", (3, 12), &[]));
        assert!(holds("pytest; extra == 'test'", (3, 12), &["test"]));
        assert!(!holds("pytest; extra == 'test'", (3, 12), &["docs"]));
        assert!(!holds(
            "a; extra == 'x' and python_version < '3.12'",
            (3, 12),
            &["x"]
        ));
        assert!(holds(
            "a; extra == 'x' and python_version < '3.12'",
            (3, 11),
            &["x"]
        ));
    }

    #[test]
    fn local_versions_satisfy_public_specifiers_as_pip_does() {
        let local = version("1.26.4+computecanada");
        assert!(admits(&specifiers("==1.26.4"), &local, false));
        assert!(admits(&specifiers(">=1.26"), &local, false));
        assert!(admits(&specifiers("<=1.26.4"), &local, false));
        assert!(admits(&specifiers("~=1.26.0"), &local, false));
        assert!(admits(&specifiers("==1.26.*"), &local, false));
        assert!(!admits(&specifiers("<1.26.4"), &local, false));
        // PEP 440: `>V` does not match a local version of V.
        assert!(!admits(&specifiers(">1.26.4"), &local, false));
        assert!(!admits(&specifiers("!=1.26.4"), &local, false));
        // An explicit local label is compared whole.
        assert!(admits(&specifiers("==1.26.4+computecanada"), &local, false));
        assert!(!admits(&specifiers("==1.26.4+other"), &local, false));
        assert!(!admits(
            &specifiers("==1.26.4+computecanada"),
            &version("1.26.4"),
            false
        ));
    }

    #[test]
    fn prereleases_only_when_named_or_alone() {
        let candidate = version("2.0rc1+computecanada");
        assert!(!admits(&specifiers(">=1"), &candidate, false));
        assert!(admits(&specifiers(">=1"), &candidate, true));
        assert!(!admits(&specifiers("<2"), &version("2.0rc1"), true));
        let named = specifiers(">=2.0rc1");
        let finals = [version("1.0"), version("2.0rc1")];
        assert!(prereleases_allowed(&named, finals.iter()));
        assert!(!prereleases_allowed(&specifiers(">=1"), finals.iter()));
        let only = [version("2.0rc1"), version("2.0b2")];
        assert!(prereleases_allowed(&specifiers(">=1"), only.iter()));
    }

    #[test]
    fn requires_python_is_judged_against_x_y_0() {
        let python = python_full_version(3, 11);
        assert!(parse_requires_python(">=3.10").unwrap().contains(&python));
        assert!(!parse_requires_python(">=3.11.4").unwrap().contains(&python));
        assert!(parse_requires_python("not a specifier").is_none());
    }
}
