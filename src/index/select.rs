//! Which file of a project page to build from, and why: the sdist of the version asked for,
//! or of the newest version that fits (not yanked, not a pre-release unless asked for or
//! nothing else fits, `Requires-Python` admitting a Python being built); a pure wheel when a
//! version has no sdist; the newer versions passed over and why (`adopt:` named for those with
//! only platform wheels). For a recipe whose git or URL source names the version, the newest
//! version the page lists in any form. Pure code on the parsed page.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use pep440_rs::{Version, VersionSpecifiers};

use super::page::ProjectFile;
use crate::layout::PythonVersion;
use crate::spec::{WheelFilename, normalize_name};

/// The version a build asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionRequest {
    /// The newest version that fits.
    Newest,
    /// Exactly this version (PEP 440 equality: `1.85` is `1.85.0`).
    Exact(Version),
    /// The newest version in a specifier set (`>=1.21,<3`).
    Matching(VersionSpecifiers),
}

impl VersionRequest {
    /// `None` is the newest; text starting with an operator is a specifier set; anything else
    /// an exact version.
    pub fn parse(text: Option<&str>) -> Result<Self, ChoiceError> {
        let Some(text) = text.map(str::trim).filter(|text| !text.is_empty()) else {
            return Ok(VersionRequest::Newest);
        };
        if text.starts_with(['<', '>', '=', '!', '~']) {
            VersionSpecifiers::from_str(text)
                .map(VersionRequest::Matching)
                .map_err(|error| ChoiceError::InvalidRequest {
                    text: text.to_string(),
                    reason: error.to_string(),
                })
        } else {
            Version::from_str(text)
                .map(VersionRequest::Exact)
                .map_err(|error| ChoiceError::InvalidRequest {
                    text: text.to_string(),
                    reason: error.to_string(),
                })
        }
    }

    /// Whether the request itself names a pre-release (which then may be chosen).
    pub fn names_prerelease(&self) -> bool {
        match self {
            VersionRequest::Newest => false,
            VersionRequest::Exact(version) => version.any_prerelease(),
            VersionRequest::Matching(specifiers) => {
                specifiers.iter().any(|specifier| specifier.any_prerelease())
            }
        }
    }

    /// The request as a qualifier of "version": empty, ` ==1.85`, or `` matching `>=1.21` ``.
    pub fn qualifier(&self) -> String {
        match self {
            VersionRequest::Newest => String::new(),
            VersionRequest::Exact(version) => format!(" =={version}"),
            VersionRequest::Matching(specifiers) => format!(" matching `{specifiers}`"),
        }
    }

    /// Whether `version` is one the request takes.
    pub fn contains(&self, version: &Version) -> bool {
        match self {
            VersionRequest::Newest => true,
            VersionRequest::Exact(exact) => exact == version,
            VersionRequest::Matching(specifiers) => specifiers.contains(version),
        }
    }
}

impl fmt::Display for VersionRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VersionRequest::Newest => f.write_str("the newest version"),
            VersionRequest::Exact(version) => write!(f, "=={version}"),
            VersionRequest::Matching(specifiers) => write!(f, "{specifiers}"),
        }
    }
}

/// What a file on a project page is, by its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DistributionFile {
    /// A source distribution wheelwright can unpack (`.tar.gz`, `.tgz`, `.zip`, `.tar`).
    Sdist {
        version: Version,
    },
    Wheel(WheelFilename),
}

impl DistributionFile {
    pub fn version(&self) -> &Version {
        match self {
            DistributionFile::Sdist { version } => version,
            DistributionFile::Wheel(wheel) => wheel.version(),
        }
    }
}

/// The sdist extensions `source::unpack` reads, most preferred first.
const SDIST_EXTENSIONS: [&str; 4] = [".tar.gz", ".zip", ".tgz", ".tar"];

/// Reads a file name of `project`'s page: an sdist (`<name>-<version>.<ext>`, where the name
/// may itself hold dashes, as old sdists' names do) or a wheel. Anything else (eggs,
/// installers, `.tar.bz2`) is `None`.
pub fn parse_distribution_file(project: &str, filename: &str) -> Option<DistributionFile> {
    if filename.ends_with(".whl") {
        return filename.parse().ok().map(DistributionFile::Wheel);
    }
    let stem = SDIST_EXTENSIONS
        .iter()
        .find_map(|extension| strip_suffix_ignore_case(filename, extension))?;
    let project = normalize_name(project);
    // The split after the project's own name first, then the last dash.
    let after_name = stem
        .match_indices('-')
        .find(|(index, _)| normalize_name(&stem[..*index]) == project)
        .map(|(index, _)| &stem[index + 1..]);
    let version = after_name
        .and_then(|text| Version::from_str(text).ok())
        .or_else(|| {
            let (_, text) = stem.rsplit_once('-')?;
            Version::from_str(text).ok()
        })?;
    Some(DistributionFile::Sdist { version })
}

fn strip_suffix_ignore_case<'a>(text: &'a str, suffix: &str) -> Option<&'a str> {
    let split = text.len().checked_sub(suffix.len())?;
    (text.is_char_boundary(split) && text[split..].eq_ignore_ascii_case(suffix)).then(|| &text[..split])
}

/// What was chosen and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub file: ProjectFile,
    pub version: Version,
    /// A pure wheel, taken as is: the version has no sdist.
    pub is_wheel: bool,
    /// Why this file, in words, for the log.
    pub reason: String,
    /// Things the caller should warn about (a yanked file asked for by its version).
    pub warnings: Vec<String>,
    /// Newer versions matching the request that could not be built, newest first, and why
    /// (`has only platform wheels (...)`, `requires Python >=3.13`, `is yanked`); pre-releases
    /// passed over for a final release are not among them.
    pub skipped: Vec<(Version, String)>,
}

/// What a recipe can do about versions that have only platform wheels: said wherever such a
/// version is passed over or refused.
pub const ADOPT_ALTERNATIVE: &str = "a recipe with `adopt:` takes those wheels instead";

/// Whether a reason for passing a version over is that it has only platform wheels.
pub fn is_platform_wheels_only(why: &str) -> bool {
    why.starts_with(PLATFORM_WHEELS_ONLY)
}

const PLATFORM_WHEELS_ONLY: &str = "has only platform wheels";

/// Why no file of a project page can be built from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChoiceError {
    #[error("the version `{text}` is neither a PEP 440 version nor a specifier set: {reason}")]
    InvalidRequest { text: String, reason: String },
    #[error("`{project}` has no files on {index}")]
    NoFiles { project: String, index: String },
    #[error(
        "`{project}` has no version{request} on {index}; the newest there: {}",
        newest.join(", ")
    )]
    NoSuchVersion {
        project: String,
        /// ` 1.84` or `` matching `>=2` ``.
        request: String,
        index: String,
        /// The newest few versions there are, newest first.
        newest: Vec<String>,
    },
    #[error(
        "`{project}` {version} has no sdist and no pure wheel on {index}, only wheels for specific platforms: {}; {ADOPT_ALTERNATIVE}",
        tags.join(", ")
    )]
    PlatformWheelsOnly {
        project: String,
        version: String,
        index: String,
        /// The tags of the wheels (a few, then how many more).
        tags: Vec<String>,
    },
    #[error(
        "`{project}` {version} requires Python {requires_python}, and none of the Pythons being built ({}) fits",
        pythons.join(", ")
    )]
    RequiresPython {
        project: String,
        version: String,
        requires_python: String,
        pythons: Vec<String>,
    },
    #[error(
        "no version of `{project}`{request} on {index} fits: {}",
        describe_rejected(rejected)
    )]
    NothingFits {
        project: String,
        /// Empty or `` matching `>=2` ``.
        request: String,
        index: String,
        /// The newest candidates and why each was passed over.
        rejected: Vec<(String, String)>,
    },
}

/// The versions passed over and why, `; `-separated: a run of versions with only platform
/// wheels said once (`1.3.7, 1.3.6 have only platform wheels (tags of 1.3.7)`), then the
/// `adopt:` alternative.
fn describe_rejected(rejected: &[(String, String)]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut run: Vec<&(String, String)> = Vec::new();
    let flush = |run: &mut Vec<&(String, String)>, parts: &mut Vec<String>| {
        match run.as_slice() {
            [] => {}
            [(version, why)] => parts.push(format!("{version} {why}")),
            [(_, first_why), ..] => {
                let versions: Vec<&str> = run.iter().map(|(version, _)| version.as_str()).collect();
                // The newest one's tags, as its own reason gives them: ` (tag, tag, and 9 more)`.
                let tags = first_why
                    .strip_prefix(PLATFORM_WHEELS_ONLY)
                    .map(str::trim)
                    .and_then(|tags| tags.strip_prefix('('))
                    .and_then(|tags| tags.strip_suffix(')'));
                parts.push(format!(
                    "{} have only platform wheels{}",
                    versions.join(", "),
                    tags.map(|tags| format!(" ({}: {tags})", versions[0]))
                        .unwrap_or_default()
                ));
            }
        }
        run.clear();
    };
    for entry in rejected {
        if is_platform_wheels_only(&entry.1) {
            run.push(entry);
        } else {
            flush(&mut run, &mut parts);
            parts.push(format!("{} {}", entry.0, entry.1));
        }
    }
    flush(&mut run, &mut parts);
    if rejected.iter().any(|(_, why)| is_platform_wheels_only(why)) {
        parts.push(ADOPT_ALTERNATIVE.to_string());
    }
    parts.join("; ")
}

/// How many versions an error lists.
const LISTED: usize = 6;

/// Whether a file's `Requires-Python` admits one of `pythons` (some patch release of it:
/// `X.Y.0` or a late `X.Y.99`). Unparseable specifiers admit everything, as pip treats them.
pub fn admits_python(requires_python: Option<&str>, pythons: &[PythonVersion]) -> bool {
    let Some(text) = requires_python else {
        return true;
    };
    let Ok(specifiers) = VersionSpecifiers::from_str(text) else {
        return true;
    };
    pythons.is_empty()
        || pythons.iter().any(|python| {
            [0, 99].iter().any(|patch| {
                specifiers.contains(&Version::new([
                    u64::from(python.major),
                    u64::from(python.minor),
                    *patch,
                ]))
            })
        })
}

/// A wheel that runs anywhere on Python 3.
fn is_pure_python3(wheel: &WheelFilename) -> bool {
    wheel.tags.is_pure() && wheel.tags.python.iter().any(|tag| tag.starts_with("py3"))
}

/// The files of one version, by kind.
#[derive(Debug, Default)]
struct Release<'a> {
    sdists: Vec<&'a ProjectFile>,
    pure_wheels: Vec<&'a ProjectFile>,
    platform_wheels: Vec<(&'a ProjectFile, String)>,
}

/// How one version fares.
enum Verdict<'a> {
    Usable { file: &'a ProjectFile, is_wheel: bool },
    Rejected(String),
}

impl<'a> Release<'a> {
    /// The file to build from: an sdist (`.tar.gz` first), else a pure wheel; not yanked
    /// unless `allow_yanked`; its Requires-Python admitting one of `pythons`.
    fn verdict(&self, allow_yanked: bool, pythons: &[PythonVersion]) -> Verdict<'a> {
        if self.sdists.is_empty() && self.pure_wheels.is_empty() {
            return Verdict::Rejected(if self.platform_wheels.is_empty() {
                "has no sdist or wheel wheelwright can use".to_string()
            } else {
                format!(
                    "{PLATFORM_WHEELS_ONLY} ({})",
                    brief_tags(&self.platform_wheels).join(", ")
                )
            });
        }
        let candidates = || {
            self.sdists
                .iter()
                .map(|file| (*file, false))
                .chain(self.pure_wheels.iter().map(|file| (*file, true)))
        };
        let mut yanked = None;
        let mut python = None;
        for (file, is_wheel) in candidates() {
            if file.yanked.is_some() && !allow_yanked {
                yanked.get_or_insert(file);
                continue;
            }
            if !admits_python(file.requires_python.as_deref(), pythons) {
                python.get_or_insert(file);
                continue;
            }
            return Verdict::Usable { file, is_wheel };
        }
        match (python, yanked) {
            (Some(file), _) => Verdict::Rejected(format!(
                "requires Python {}",
                file.requires_python.as_deref().unwrap_or_default()
            )),
            (None, Some(file)) => Verdict::Rejected(match file.yanked.as_deref() {
                Some(reason) if !reason.is_empty() => format!("is yanked ({reason})"),
                _ => "is yanked".to_string(),
            }),
            (None, None) => Verdict::Rejected("has no usable file".to_string()),
        }
    }
}

/// The tags of platform wheels, a few of them and how many more.
fn brief_tags(wheels: &[(&ProjectFile, String)]) -> Vec<String> {
    let mut tags: Vec<String> = wheels.iter().map(|(_, tag)| tag.clone()).collect();
    tags.dedup();
    let more = tags.len().saturating_sub(4);
    tags.truncate(4);
    if more > 0 {
        tags.push(format!("and {more} more"));
    }
    tags
}

/// The files of `project`'s page by version, each version's sdists with `.tar.gz` first and
/// its pure wheels with `py3-none-any` first.
fn releases<'a>(project: &str, files: &'a [ProjectFile]) -> BTreeMap<Version, Release<'a>> {
    let mut releases: BTreeMap<Version, Release> = BTreeMap::new();
    for file in files {
        match parse_distribution_file(project, &file.filename) {
            Some(DistributionFile::Sdist { version }) => {
                let release = releases.entry(version).or_default();
                release.sdists.push(file);
            }
            Some(DistributionFile::Wheel(wheel)) => {
                let pure = is_pure_python3(&wheel);
                let release = releases.entry(wheel.version().clone()).or_default();
                if pure {
                    release.pure_wheels.push(file);
                } else {
                    release.platform_wheels.push((file, wheel.tags.to_string()));
                }
            }
            None => {}
        }
    }
    // `.tar.gz` before `.zip` and the rest; `py3-none-any` before other pure wheels.
    for release in releases.values_mut() {
        release.sdists.sort_by_key(|file| {
            SDIST_EXTENSIONS
                .iter()
                .position(|extension| file.filename.to_ascii_lowercase().ends_with(extension))
        });
        release
            .pure_wheels
            .sort_by_key(|file| !file.filename.ends_with("-py3-none-any.whl"));
    }
    releases
}

/// What a choice is made for: the project, its index, the version asked for and the Pythons
/// being built; and the project page's files by version.
struct Chooser<'a> {
    project: &'a str,
    index: &'a str,
    request: &'a VersionRequest,
    pythons: &'a [PythonVersion],
    releases: BTreeMap<Version, Release<'a>>,
}

impl Chooser<'_> {
    /// The newest few versions on the page, newest first.
    fn newest(&self) -> Vec<String> {
        self.releases
            .keys()
            .rev()
            .take(LISTED)
            .map(ToString::to_string)
            .collect()
    }

    /// The Pythons being built, as text.
    fn python_list(&self) -> Vec<String> {
        self.pythons.iter().map(ToString::to_string).collect()
    }

    /// The error for a version (` 1.84`, `` matching `>=2` ``) the page does not have.
    fn no_such_version(&self, request: String) -> ChoiceError {
        ChoiceError::NoSuchVersion {
            project: self.project.to_string(),
            request,
            index: self.index.to_string(),
            newest: self.newest(),
        }
    }

    /// The file of exactly `wanted`: an sdist or pure wheel, even a yanked one (PEP 592) when
    /// no other file fits, with a warning; its Requires-Python must admit a Python built.
    fn exact(&self, wanted: &Version) -> Result<Choice, ChoiceError> {
        let Some((version, release)) = self.releases.iter().find(|(version, _)| *version == wanted) else {
            return Err(self.no_such_version(format!(" {wanted}")));
        };
        if release.sdists.is_empty() && release.pure_wheels.is_empty() {
            return Err(ChoiceError::PlatformWheelsOnly {
                project: self.project.to_string(),
                version: version.to_string(),
                index: self.index.to_string(),
                tags: brief_tags(&release.platform_wheels),
            });
        }
        // A version asked for by name may be yanked (PEP 592), but not if another file fits.
        let (file, is_wheel) = match release.verdict(false, &[]) {
            Verdict::Usable { file, is_wheel } => (file, is_wheel),
            Verdict::Rejected(_) => {
                let file = release
                    .sdists
                    .first()
                    .or(release.pure_wheels.first())
                    .copied()
                    .ok_or_else(|| self.no_such_version(format!(" {wanted}")))?;
                (file, release.sdists.is_empty())
            }
        };
        if !admits_python(file.requires_python.as_deref(), self.pythons) {
            return Err(ChoiceError::RequiresPython {
                project: self.project.to_string(),
                version: version.to_string(),
                requires_python: file.requires_python.clone().unwrap_or_default(),
                pythons: self.python_list(),
            });
        }
        let mut warnings = Vec::new();
        if let Some(reason) = &file.yanked {
            warnings.push(format!(
                "`{}` is yanked{}; taken because version {version} was asked for",
                file.filename,
                if reason.is_empty() {
                    String::new()
                } else {
                    format!(" ({reason})")
                }
            ));
        }
        Ok(Choice {
            file: file.clone(),
            version: version.clone(),
            is_wheel,
            reason: if is_wheel {
                format!("version {version} as asked; it has no sdist, only this pure wheel")
            } else {
                format!("version {version} as asked: its sdist")
            },
            warnings,
            skipped: Vec::new(),
        })
    }

    /// The newest fitting version: final releases first, then pre-releases when the request
    /// names one or no final release fits.
    fn newest_fitting(&self) -> Result<Choice, ChoiceError> {
        let allow_prerelease_first = self.request.names_prerelease();
        let matching: Vec<(&Version, &Release)> = self
            .releases
            .iter()
            .rev()
            .filter(|(version, _)| self.request.contains(version))
            .collect();
        if matching.is_empty() {
            return Err(self.no_such_version(self.request.qualifier()));
        }
        let mut passed = PassedOver::default();
        for pass in [false, true] {
            for (version, release) in &matching {
                let prerelease = version.any_prerelease();
                let allowed = allow_prerelease_first || pass;
                if prerelease && !allowed {
                    passed.prereleases.push(version.to_string());
                    continue;
                }
                if pass && !prerelease && !allow_prerelease_first {
                    // Already judged in the first pass.
                    continue;
                }
                match release.verdict(false, self.pythons) {
                    Verdict::Usable { file, is_wheel } => {
                        let taken = Taken {
                            version,
                            prerelease,
                            is_wheel,
                            // A pre-release taken only because no final release fits.
                            fallback: prerelease && !allow_prerelease_first,
                        };
                        return Ok(Choice {
                            file: file.clone(),
                            version: (*version).clone(),
                            is_wheel,
                            reason: self.newest_reason(&taken, &passed),
                            warnings: Vec::new(),
                            skipped: passed.rejected,
                        });
                    }
                    Verdict::Rejected(why) => passed.rejected.push(((*version).clone(), why)),
                }
            }
            if allow_prerelease_first {
                break;
            }
        }
        Err(self.nothing_fits(
            passed
                .rejected
                .into_iter()
                .map(|(version, why)| (version.to_string(), why))
                .collect(),
        ))
    }

    /// Why the newest fitting version was taken, with the newer versions passed over.
    fn newest_reason(&self, taken: &Taken, passed: &PassedOver) -> String {
        let mut reason = format!(
            "{} is the newest {}{} that fits{}: {}",
            taken.version,
            if taken.prerelease {
                "pre-release"
            } else {
                "version"
            },
            self.request.qualifier(),
            if taken.fallback {
                " (no final release does)"
            } else {
                ""
            },
            if taken.is_wheel {
                "it has no sdist, only this pure wheel"
            } else {
                "its sdist"
            }
        );
        let passed_over: Vec<String> = passed
            .rejected
            .iter()
            .map(|(version, why)| format!("{version} {why}"))
            .chain(
                (!taken.prerelease)
                    .then(|| {
                        passed
                            .prereleases
                            .iter()
                            .map(|version| format!("{version} is a pre-release"))
                    })
                    .into_iter()
                    .flatten(),
            )
            .take(LISTED)
            .collect();
        if !passed_over.is_empty() {
            reason.push_str(&format!(" (passed over: {})", passed_over.join("; ")));
        }
        if passed
            .rejected
            .iter()
            .any(|(_, why)| is_platform_wheels_only(why))
        {
            reason.push_str(&format!("; {ADOPT_ALTERNATIVE}"));
        }
        reason
    }

    /// The error when no matching version fits: the newest few rejected and why, the last one
    /// a Requires-Python was at fault for saying which Pythons are built.
    fn nothing_fits(&self, mut rejected: Vec<(String, String)>) -> ChoiceError {
        let python_note = if rejected.iter().any(|(_, why)| why.starts_with("requires Python")) {
            format!(" (building for Python {})", self.python_list().join(", "))
        } else {
            String::new()
        };
        rejected.truncate(LISTED);
        if let Some(last) = rejected
            .iter_mut()
            .rev()
            .find(|(_, why)| why.starts_with("requires Python"))
        {
            last.1.push_str(&python_note);
        }
        ChoiceError::NothingFits {
            project: self.project.to_string(),
            request: self.request.qualifier(),
            index: self.index.to_string(),
            rejected,
        }
    }
}

/// The newer versions passed over on the way to the newest fitting one.
#[derive(Default)]
struct PassedOver {
    /// Versions judged and rejected, and why, newest first.
    rejected: Vec<(Version, String)>,
    /// Pre-releases skipped while looking for a final release.
    prereleases: Vec<String>,
}

/// The version taken as the newest that fits.
struct Taken<'a> {
    version: &'a Version,
    prerelease: bool,
    is_wheel: bool,
    /// A pre-release taken because no final release fits.
    fallback: bool,
}

/// Chooses the file to build `project` from among `files` (the project page of `index`), for
/// `request` and the Pythons being built.
pub fn choose(
    project: &str,
    index: &str,
    files: &[ProjectFile],
    request: &VersionRequest,
    pythons: &[PythonVersion],
) -> Result<Choice, ChoiceError> {
    let releases = releases(project, files);
    if releases.is_empty() {
        return Err(ChoiceError::NoFiles {
            project: project.to_string(),
            index: index.to_string(),
        });
    }
    let chooser = Chooser {
        project,
        index,
        request,
        pythons,
        releases,
    };
    match request {
        VersionRequest::Exact(wanted) => chooser.exact(wanted),
        VersionRequest::Newest | VersionRequest::Matching(_) => chooser.newest_fitting(),
    }
}

/// A version chosen from what a page lists rather than from a file to build: for a recipe
/// whose sources come from git, the index only says which versions there are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub version: Version,
    /// Newer versions matching the request passed over, newest first, and why.
    pub skipped: Vec<(Version, String)>,
}

/// The newest version of `project` that `files` list in any form (sdist or wheel, for any
/// platform), within `request`: not every file of it yanked, some file's `Requires-Python`
/// admitting one of `pythons`; final releases first, a pre-release when the request names
/// one or no final release fits.
pub fn newest_listed(
    project: &str,
    index: &str,
    files: &[ProjectFile],
    request: &VersionRequest,
    pythons: &[PythonVersion],
) -> Result<Listed, ChoiceError> {
    let mut versions: BTreeMap<Version, Vec<&ProjectFile>> = BTreeMap::new();
    for file in files {
        if let Some(parsed) = parse_distribution_file(project, &file.filename) {
            versions.entry(parsed.version().clone()).or_default().push(file);
        }
    }
    if versions.is_empty() {
        return Err(ChoiceError::NoFiles {
            project: project.to_string(),
            index: index.to_string(),
        });
    }
    let matching: Vec<(&Version, &Vec<&ProjectFile>)> = versions
        .iter()
        .rev()
        .filter(|(version, _)| request.contains(version))
        .collect();
    if matching.is_empty() {
        return Err(ChoiceError::NoSuchVersion {
            project: project.to_string(),
            request: request.qualifier(),
            index: index.to_string(),
            newest: versions
                .keys()
                .rev()
                .take(LISTED)
                .map(ToString::to_string)
                .collect(),
        });
    }
    let prerelease_first = request.names_prerelease();
    let mut skipped: Vec<(Version, String)> = Vec::new();
    for pass in [false, true] {
        for (version, files) in &matching {
            let prerelease = version.any_prerelease();
            if (prerelease && !(prerelease_first || pass)) || (pass && !prerelease) {
                continue;
            }
            let live: Vec<&&ProjectFile> = files.iter().filter(|file| file.yanked.is_none()).collect();
            if live.is_empty() {
                skipped.push(((*version).clone(), "is yanked".to_string()));
                continue;
            }
            if !live
                .iter()
                .any(|file| admits_python(file.requires_python.as_deref(), pythons))
            {
                // Every file has a Requires-Python that admits none of them: name the first.
                let requires_python = live
                    .iter()
                    .find_map(|file| file.requires_python.as_deref())
                    .unwrap_or_default();
                skipped.push(((*version).clone(), format!("requires Python {requires_python}")));
                continue;
            }
            return Ok(Listed {
                version: (*version).clone(),
                skipped,
            });
        }
        if prerelease_first {
            break;
        }
    }
    let mut rejected: Vec<(String, String)> = skipped
        .into_iter()
        .map(|(version, why)| (version.to_string(), why))
        .collect();
    rejected.truncate(LISTED);
    Err(ChoiceError::NothingFits {
        project: project.to_string(),
        request: request.qualifier(),
        index: index.to_string(),
        rejected,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str) -> ProjectFile {
        ProjectFile {
            filename: name.to_string(),
            url: url::Url::parse(&format!("https://files.example/{name}")).unwrap(),
            sha256: Some("00".repeat(32)),
            requires_python: None,
            yanked: None,
            core_metadata: Default::default(),
            size: None,
            upload_time: None,
        }
    }

    fn yanked(name: &str, reason: &str) -> ProjectFile {
        ProjectFile {
            yanked: Some(reason.to_string()),
            ..file(name)
        }
    }

    fn requiring(name: &str, requires_python: &str) -> ProjectFile {
        ProjectFile {
            requires_python: Some(requires_python.to_string()),
            ..file(name)
        }
    }

    fn pythons() -> Vec<PythonVersion> {
        vec!["3.11".parse().unwrap(), "3.12".parse().unwrap()]
    }

    fn pick(files: &[ProjectFile], request: Option<&str>) -> Result<Choice, ChoiceError> {
        choose(
            "demo-pkg",
            "https://pypi.org/simple/",
            files,
            &VersionRequest::parse(request).unwrap(),
            &pythons(),
        )
    }

    #[test]
    fn reads_file_names_with_dashes_in_the_project_name() {
        assert_eq!(
            parse_distribution_file("python-dateutil", "python-dateutil-2.8.2.tar.gz"),
            Some(DistributionFile::Sdist {
                version: "2.8.2".parse().unwrap()
            })
        );
        assert_eq!(
            parse_distribution_file("python_dateutil", "python_dateutil-2.9.0.post0.tar.gz")
                .unwrap()
                .version()
                .to_string(),
            "2.9.0.post0"
        );
        assert_eq!(
            parse_distribution_file("Demo.Pkg", "Demo.Pkg-1.0.ZIP")
                .unwrap()
                .version()
                .to_string(),
            "1.0"
        );
        assert!(matches!(
            parse_distribution_file("six", "six-1.16.0-py2.py3-none-any.whl"),
            Some(DistributionFile::Wheel(_))
        ));
        assert_eq!(parse_distribution_file("old", "old-1.0.tar.bz2"), None);
        assert_eq!(parse_distribution_file("old", "old-1.0-py2.7.egg"), None);
    }

    #[test]
    fn an_exact_version_is_matched_by_pep_440_equality() {
        let files = [
            file("demo_pkg-1.85.tar.gz"),
            file("demo_pkg-1.85-cp312-cp312-manylinux_2_17_x86_64.whl"),
            file("demo_pkg-1.86.tar.gz"),
        ];
        let choice = pick(&files, Some("1.85.0")).unwrap();
        assert_eq!(choice.file.filename, "demo_pkg-1.85.tar.gz");
        assert!(!choice.is_wheel);
        assert_eq!(choice.reason, "version 1.85 as asked: its sdist");
        let error = pick(&files, Some("1.84")).unwrap_err();
        assert_eq!(
            error.to_string(),
            "`demo-pkg` has no version 1.84 on https://pypi.org/simple/; the newest there: 1.86, 1.85"
        );
    }

    #[test]
    fn the_newest_skips_yanked_prereleases_and_pythons_not_built() {
        let files = [
            file("demo_pkg-1.0.tar.gz"),
            file("demo_pkg-1.1.zip"),
            file("demo_pkg-1.1.tar.gz"),
            requiring("demo_pkg-1.2.tar.gz", ">=3.13"),
            yanked("demo_pkg-1.3.tar.gz", "broken"),
            file("demo_pkg-2.0rc1.tar.gz"),
        ];
        let choice = pick(&files, None).unwrap();
        assert_eq!(choice.file.filename, "demo_pkg-1.1.tar.gz", "tar.gz first");
        assert_eq!(
            choice.reason,
            "1.1 is the newest version that fits: its sdist (passed over: 1.3 is yanked (broken); 1.2 requires Python >=3.13; 2.0rc1 is a pre-release)"
        );
        // Within a specifier set; a pre-release only when the set names one.
        let choice = pick(&files, Some(">=1.0,<1.2")).unwrap();
        assert_eq!(choice.version.to_string(), "1.1");
        let choice = pick(&files, Some(">=2.0rc1")).unwrap();
        assert_eq!(choice.version.to_string(), "2.0rc1");
        // `>=1.3` matches only a yanked final release: the pre-release is all that fits.
        let choice = pick(&files, Some(">=1.3")).unwrap();
        assert_eq!(choice.version.to_string(), "2.0rc1");
        assert_eq!(
            choice.reason,
            "2.0rc1 is the newest pre-release matching `>=1.3` that fits (no final release does): its sdist (passed over: 1.3 is yanked (broken))"
        );
    }

    #[test]
    fn requires_python_admits_a_patch_release_of_a_python_built() {
        let built = pythons();
        assert!(admits_python(None, &built));
        assert!(admits_python(Some(">=3.12.1"), &built));
        assert!(admits_python(Some("~=3.11"), &built));
        assert!(!admits_python(Some(">=3.13"), &built));
        assert!(!admits_python(Some("<3.11"), &built));
        assert!(!admits_python(Some("!=3.11.*,!=3.12.*"), &built));
        assert!(admits_python(Some("not a specifier"), &built));
        assert!(admits_python(Some(">=3.13"), &[]));
    }

    #[test]
    fn a_version_without_an_sdist_gives_its_pure_wheel_or_says_it_has_only_platform_wheels() {
        let files = [
            file("demo_pkg-1.0-py2.py3-none-any.whl"),
            file("demo_pkg-1.0-py3-none-any.whl"),
            file("demo_pkg-2.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"),
            file("demo_pkg-2.0-cp312-cp312-manylinux_2_17_x86_64.whl"),
            file("demo_pkg-2.0-cp312-cp312-win_amd64.whl"),
        ];
        let choice = pick(&files, Some("1.0")).unwrap();
        assert!(choice.is_wheel);
        assert_eq!(choice.file.filename, "demo_pkg-1.0-py3-none-any.whl");
        let error = pick(&files, Some("2.0")).unwrap_err();
        assert_eq!(
            error.to_string(),
            "`demo-pkg` 2.0 has no sdist and no pure wheel on https://pypi.org/simple/, only wheels for specific platforms: cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64, cp312-cp312-manylinux_2_17_x86_64, cp312-cp312-win_amd64; a recipe with `adopt:` takes those wheels instead"
        );
        // The newest takes the older version with a pure wheel, and says why.
        let choice = pick(&files, None).unwrap();
        assert_eq!(choice.version.to_string(), "1.0");
        assert!(
            choice
                .reason
                .contains("passed over: 2.0 has only platform wheels (cp311-"),
            "{}",
            choice.reason
        );
    }

    #[test]
    fn versions_with_only_platform_wheels_are_skipped_and_named_with_the_adopt_alternative() {
        let files = [
            file("demo_pkg-1.3.5.tar.gz"),
            file("demo_pkg-1.3.5-cp312-cp312-manylinux_2_17_x86_64.whl"),
            file("demo_pkg-1.3.6-cp312-cp312-manylinux_2_17_x86_64.whl"),
            file("demo_pkg-1.3.7-cp312-cp312-manylinux_2_17_x86_64.whl"),
            file("demo_pkg-1.3.7-cp313-cp313-manylinux_2_17_x86_64.whl"),
        ];
        let choice = pick(&files, None).unwrap();
        assert_eq!(choice.version.to_string(), "1.3.5");
        assert!(!choice.is_wheel);
        let skipped: Vec<String> = choice
            .skipped
            .iter()
            .map(|(version, why)| format!("{version} {why}"))
            .collect();
        assert_eq!(
            skipped,
            [
                "1.3.7 has only platform wheels (cp312-cp312-manylinux_2_17_x86_64, cp313-cp313-manylinux_2_17_x86_64)",
                "1.3.6 has only platform wheels (cp312-cp312-manylinux_2_17_x86_64)"
            ]
        );
        assert_eq!(
            choice.reason,
            "1.3.5 is the newest version that fits: its sdist (passed over: 1.3.7 has only platform wheels (cp312-cp312-manylinux_2_17_x86_64, cp313-cp313-manylinux_2_17_x86_64); 1.3.6 has only platform wheels (cp312-cp312-manylinux_2_17_x86_64)); a recipe with `adopt:` takes those wheels instead"
        );
        // Asked for by name, a version with only platform wheels is an error naming `adopt:`.
        let error = pick(&files, Some("1.3.7")).unwrap_err().to_string();
        assert!(
            error.ends_with("only wheels for specific platforms: cp312-cp312-manylinux_2_17_x86_64, cp313-cp313-manylinux_2_17_x86_64; a recipe with `adopt:` takes those wheels instead"),
            "{error}"
        );
        // Nothing with an sdist at all (kahypar): the versions said once, `adopt:` named.
        let error = pick(&files[2..], None).unwrap_err().to_string();
        assert_eq!(
            error,
            "no version of `demo-pkg` on https://pypi.org/simple/ fits: 1.3.7, 1.3.6 have only platform wheels (1.3.7: cp312-cp312-manylinux_2_17_x86_64, cp313-cp313-manylinux_2_17_x86_64); a recipe with `adopt:` takes those wheels instead"
        );
        let mixed = [
            requiring("demo_pkg-2.0.tar.gz", ">=3.14"),
            file("demo_pkg-1.0-cp312-cp312-manylinux_2_17_x86_64.whl"),
        ];
        assert_eq!(
            pick(&mixed, None).unwrap_err().to_string(),
            "no version of `demo-pkg` on https://pypi.org/simple/ fits: 2.0 requires Python >=3.14 (building for Python 3.11, 3.12); 1.0 has only platform wheels (cp312-cp312-manylinux_2_17_x86_64); a recipe with `adopt:` takes those wheels instead"
        );
    }

    #[test]
    fn requires_python_skips_newer_versions_and_says_so() {
        let files = [
            requiring("demo_pkg-2.0.tar.gz", ">=3.13"),
            requiring("demo_pkg-1.9.tar.gz", ">=3.12"),
        ];
        let choice = pick(&files, None).unwrap();
        assert_eq!(choice.version.to_string(), "1.9");
        assert_eq!(
            choice.skipped,
            [("2.0".parse().unwrap(), "requires Python >=3.13".to_string())]
        );
        assert!(!choice.reason.contains("adopt"), "{}", choice.reason);
    }

    #[test]
    fn a_git_source_takes_the_newest_version_listed_in_any_form() {
        let files = [
            file("demo_pkg-0.1.0.tar.gz"),
            file("demo_pkg-0.2.0-cp312-cp312-manylinux_2_17_x86_64.whl"),
            requiring("demo_pkg-0.3.0-cp313-cp313-manylinux_2_17_x86_64.whl", ">=3.13"),
            yanked("demo_pkg-0.4.0.tar.gz", "bad"),
            file("demo_pkg-0.5.0rc1.tar.gz"),
        ];
        let listed = |request: Option<&str>| {
            newest_listed(
                "demo-pkg",
                "https://pypi.org/simple/",
                &files,
                &VersionRequest::parse(request).unwrap(),
                &pythons(),
            )
        };
        let newest = listed(None).unwrap();
        assert_eq!(
            newest.version.to_string(),
            "0.2.0",
            "a platform wheel says 0.2.0 exists"
        );
        let skipped: Vec<String> = newest
            .skipped
            .iter()
            .map(|(version, why)| format!("{version} {why}"))
            .collect();
        assert_eq!(skipped, ["0.4.0 is yanked", "0.3.0 requires Python >=3.13"]);
        assert_eq!(listed(Some("<0.2")).unwrap().version.to_string(), "0.1.0");
        assert_eq!(
            listed(Some(">=0.5.0rc1")).unwrap().version.to_string(),
            "0.5.0rc1"
        );
        assert_eq!(
            listed(Some(">=1")).unwrap_err().to_string(),
            "`demo-pkg` has no version matching `>=1` on https://pypi.org/simple/; the newest there: 0.5.0rc1, 0.4.0, 0.3.0, 0.2.0, 0.1.0"
        );
    }

    #[test]
    fn a_yanked_version_asked_for_is_taken_with_a_warning() {
        let files = [yanked("demo_pkg-1.3.tar.gz", ""), file("demo_pkg-1.2.tar.gz")];
        let choice = pick(&files, Some("1.3")).unwrap();
        assert_eq!(choice.file.filename, "demo_pkg-1.3.tar.gz");
        assert_eq!(
            choice.warnings,
            ["`demo_pkg-1.3.tar.gz` is yanked; taken because version 1.3 was asked for"]
        );
    }

    #[test]
    fn errors_say_what_is_true() {
        let all_yanked = [
            yanked("demo_pkg-1.0.tar.gz", "oops"),
            yanked("demo_pkg-1.1.tar.gz", ""),
        ];
        assert_eq!(
            pick(&all_yanked, None).unwrap_err().to_string(),
            "no version of `demo-pkg` on https://pypi.org/simple/ fits: 1.1 is yanked; 1.0 is yanked (oops)"
        );
        let too_new = [requiring("demo_pkg-1.0.tar.gz", ">=3.14")];
        assert_eq!(
            pick(&too_new, None).unwrap_err().to_string(),
            "no version of `demo-pkg` on https://pypi.org/simple/ fits: 1.0 requires Python >=3.14 (building for Python 3.11, 3.12)"
        );
        assert_eq!(
            pick(&too_new, Some("1.0")).unwrap_err().to_string(),
            "`demo-pkg` 1.0 requires Python >=3.14, and none of the Pythons being built (3.11, 3.12) fits"
        );
        assert_eq!(
            pick(&too_new, Some(">=2")).unwrap_err().to_string(),
            "`demo-pkg` has no version matching `>=2` on https://pypi.org/simple/; the newest there: 1.0"
        );
        assert_eq!(
            pick(&[file("README.txt")], None).unwrap_err().to_string(),
            "`demo-pkg` has no files on https://pypi.org/simple/"
        );
        assert!(matches!(
            VersionRequest::parse(Some(">=1,,")),
            Err(ChoiceError::InvalidRequest { .. })
        ));
        assert_eq!(VersionRequest::parse(Some(" ")).unwrap(), VersionRequest::Newest);
    }
}
