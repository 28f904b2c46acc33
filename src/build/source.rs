//! Sources: fetched once (the sdist chosen from a simple index, a URL, or git at a pinned
//! ref), verified against the index's and the recipe's sha256, cached by hash, and unpacked
//! without escaping their directory. Downloads are Rust code (`index::http`); only git runs
//! as a program (through `tools`). Also the version a build given none is built at
//! ([`ChosenVersion`]): the newest the index has an sdist of, or, for a source whose URL or git
//! `rev` names the version, the newest the index lists, else the repository's newest tag; with
//! the newer versions passed over and why.

use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

use url::Url;

use super::pkg_info::read_sdist_metadata;
use crate::index::http::{HttpClient, redacted};
use crate::index::select::{self, VersionRequest};
use crate::index::{IndexClient, PYPI_SIMPLE};
use crate::layout::PythonVersion;
use crate::recipe::{Source, VersionTemplate, VersionedSource};
use crate::tools::{Invocation, run_logged};

/// A fetched source: an sdist/archive, or a wheel when the index has only a pure one.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FetchedSource {
    pub path: PathBuf,
    pub sha256: String,
    /// The version the file carries (from its name or PKG-INFO), when known.
    pub version: Option<String>,
    /// A pure wheel taken as is (nothing to build).
    pub is_wheel: bool,
    /// Where it was downloaded from (`None` for git and for the warm cache).
    pub url: Option<String>,
}

pub use crate::wheel::verified::file_sha256;

/// What to fetch, from where, into which cache.
#[derive(Debug, Clone, Copy)]
pub struct FetchRequest<'a> {
    pub package: &'a str,
    /// An exact version (`1.85`), a specifier set (`>=1.21,<3`), or `None` for the newest.
    pub version: Option<&'a str>,
    pub source: &'a Source,
    /// The simple index for `source: pypi` (`None`: PyPI).
    pub index_url: Option<&'a str>,
    /// The Pythons being built: a chosen version's `Requires-Python` admits one of them.
    pub pythons: &'a [PythonVersion],
    /// The recipe's sha256 pin: a download that differs is not cached.
    pub sha256: Option<&'a str>,
    /// The source cache (`<cache>/<sha256>/<file>`, `<cache>/pypi/<name>-<version>`).
    pub cache: &'a Path,
    /// The build's work directory (git checkouts go in it).
    pub work: &'a Path,
    /// The fetch log (git's output).
    pub log: &'a Path,
    pub invocation: &'a Invocation,
}

/// Why no wheel can be adopted (a source of wheels, for `adopt`).
#[derive(Debug, thiserror::Error)]
pub enum AdoptError {
    #[error("`{project}` has no wheels on {place}")]
    NoWheels { project: String, place: String },
    #[error("`{project}` has no version {request} with wheels on {place}; the newest with wheels: {}", newest.join(", "))]
    NoSuchVersion {
        project: String,
        request: String,
        place: String,
        newest: Vec<String>,
    },
    #[error(
        "`{project}` {version} on {place} has no wheel for Python {python} on linux x86_64 (glibc {glibc}); its wheels: {}",
        wheels.join(", ")
    )]
    NoWheelForPython {
        project: String,
        version: String,
        python: String,
        glibc: String,
        place: String,
        wheels: Vec<String>,
    },
    #[error("`{url}` is not a wheel's URL (its file name `{file}` is not a wheel's)")]
    NotAWheel { url: String, file: String },
    #[error("the wheel `{file}` is `{found}`, not `{project}`")]
    OtherProject {
        file: String,
        project: String,
        found: String,
    },
    #[error("find-links `{place}`: {problem}")]
    FindLinks { place: String, problem: String },
}

/// A download that is not what was expected.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(
        "the download of `{file}` from {url} has sha256 {actual}, but {expected_by} gives {expected}; nothing was cached"
    )]
    HashMismatch {
        file: String,
        url: String,
        actual: String,
        expected: String,
        /// `the index` or `the recipe`.
        expected_by: &'static str,
    },
    #[error("the recipe pins sha256 {pin} for {package}, but {index} lists `{file}` with sha256 {listed}")]
    PinMismatch {
        package: String,
        file: String,
        index: String,
        pin: String,
        listed: String,
    },
    #[error("the file name `{file}` from {url} is not a plain file name")]
    UnsafeFileName { file: String, url: String },
    #[error("the source `{}` has sha256 {actual} but the recipe pins {pin}", path.display())]
    PinnedSource {
        path: PathBuf,
        actual: String,
        pin: String,
    },
    #[error("the source URL `{url}`: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("moving the download of {url} to {}: {source}", target.display())]
    Persist {
        url: String,
        target: PathBuf,
        source: std::io::Error,
    },
    /// An archive that cannot be unpacked safely, or at all.
    #[error("{}: {problem}", archive.display())]
    Archive { archive: PathBuf, problem: String },
    #[error(
        "`{package}` is not on the index, and its git source's `rev` template `{template}` is not of the form PREFIX{{{{ version }}}}SUFFIX, so the tags of {url} cannot be read as versions; give the version to build"
    )]
    RevTemplate {
        package: String,
        url: String,
        template: String,
    },
    #[error(
        "`{package}` is not on the index, and no tag of {url} reads as a version{request} through the `rev` template `{template}`; its tags: {}",
        if tags.is_empty() { "none".to_string() } else { tags.join(", ") }
    )]
    NoVersionTag {
        package: String,
        url: String,
        template: String,
        /// ` matching `>=2`` or empty.
        request: String,
        /// A few of the repository's tags.
        tags: Vec<String>,
    },
    #[error(
        "`{package}` is not on {index}, and its source's template `{template}` names the version, which only the index can tell here; give the version to build"
    )]
    UrlNeedsVersion {
        package: String,
        index: String,
        template: String,
    },
    #[error("the source URL is empty: its template names the version, and no version was chosen")]
    NoUrl,
    #[error(
        "the git source {url} has no `rev` to check out: its `rev` template names the version, and no version was chosen"
    )]
    NoRev { url: String },
    #[error(transparent)]
    Index(#[from] crate::index::IndexError),
    #[error(transparent)]
    Http(#[from] crate::index::http::HttpError),
    #[error(transparent)]
    Choice(#[from] select::ChoiceError),
    #[error(transparent)]
    Adopt(Box<AdoptError>),
    #[error(transparent)]
    Command(#[from] crate::tools::CommandFailed),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl From<AdoptError> for FetchError {
    fn from(error: AdoptError) -> Self {
        FetchError::Adopt(Box::new(error))
    }
}

impl FetchError {
    fn archive(archive: &Path, problem: impl std::fmt::Display) -> Self {
        FetchError::Archive {
            archive: archive.to_path_buf(),
            problem: problem.to_string(),
        }
    }
}

/// The version in an sdist or wheel file name (`biopython-1.85.tar.gz` -> `1.85`).
pub fn version_from_file_name(file: &str) -> Option<String> {
    if let Ok(wheel) = file.parse::<crate::spec::WheelFilename>() {
        return Some(wheel.version().to_string());
    }
    let stem = [".tar.gz", ".tar.bz2", ".tar.xz", ".tgz", ".zip", ".tar"]
        .iter()
        .find_map(|suffix| file.strip_suffix(suffix))?;
    let (_, version) = stem.rsplit_once('-')?;
    version
        .parse::<pep440_rs::Version>()
        .ok()
        .map(|version| version.to_string())
}

/// Moves a file made outside the cache (a git archive) into it (`<cache>/<sha256>/<name>`).
fn cache_file(path: &Path, cache: &Path) -> Result<FetchedSource, FetchError> {
    let sha256 = file_sha256(path)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let directory = cache.join(&sha256);
    fs_err::create_dir_all(&directory)?;
    let cached = directory.join(&name);
    if !cached.exists() {
        fs_err::copy(path, &cached)?;
    }
    Ok(FetchedSource {
        version: version_from_file_name(&name),
        is_wheel: name.ends_with(".whl"),
        path: cached,
        sha256,
        url: None,
    })
}

/// The cached file `<cache>/<sha256>/<file>`, if it is there and still has that hash.
pub(super) fn cached_by_hash(cache: &Path, sha256: &str, file: &str) -> Option<PathBuf> {
    let path = cache.join(sha256.to_ascii_lowercase()).join(file);
    (path.is_file() && file_sha256(&path).ok()?.eq_ignore_ascii_case(sha256)).then_some(path)
}

/// Downloads `url` into the cache as `<cache>/<sha256>/<file>`: streamed to a temporary file
/// in the cache, hashed on the way, compared with `expected` (the hash and who gives it),
/// then renamed into place. On a mismatch nothing is left behind.
pub(super) fn download_into_cache(
    http: &HttpClient,
    url: &Url,
    file: &str,
    expected: Option<(&str, &'static str)>,
    cache: &Path,
) -> Result<(PathBuf, String), FetchError> {
    if !matches!(
        Path::new(file).components().collect::<Vec<_>>().as_slice(),
        [Component::Normal(_)]
    ) {
        return Err(FetchError::UnsafeFileName {
            file: file.to_string(),
            url: redacted(url),
        });
    }
    let started = Instant::now();
    let download = http.download(url, cache)?;
    if let Some((expected, expected_by)) = expected
        && !expected.eq_ignore_ascii_case(&download.sha256)
    {
        return Err(FetchError::HashMismatch {
            file: file.to_string(),
            url: redacted(url),
            actual: download.sha256,
            expected: expected.to_ascii_lowercase(),
            expected_by,
        });
    }
    {
        use std::os::unix::fs::PermissionsExt as _;
        // Temporary files are private; the cache is shared like pip's.
        download
            .file
            .as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))?;
    }
    let directory = cache.join(&download.sha256);
    fs_err::create_dir_all(&directory)?;
    let target = directory.join(file);
    download
        .file
        .persist(&target)
        .map_err(|error| FetchError::Persist {
            url: redacted(url),
            target: target.clone(),
            source: error.error,
        })?;
    tracing::info!(
        "downloaded `{file}` ({}) from {} in {:.2} s",
        human_size(download.size),
        redacted(url),
        started.elapsed().as_secs_f64()
    );
    Ok((target, download.sha256))
}

/// A size for a log line (`19.0 MiB`, `212 KiB`).
fn human_size(bytes: u64) -> String {
    if bytes >= 1 << 20 {
        format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20))
    } else {
        format!("{} KiB", bytes.div_ceil(1 << 10))
    }
}

/// The pointer of a cached index download: `<cache>/pypi/<normalized name>-<version>` holds
/// the sha256 of the file fetched for it.
fn pypi_index(cache: &Path, package: &str, version: &str) -> PathBuf {
    cache
        .join("pypi")
        .join(format!("{}-{version}", crate::spec::normalize_name(package)))
}

/// The cached source of `package` at an exact `version`, found without the network.
pub fn cached_pypi(cache: &Path, package: &str, version: &str) -> Option<FetchedSource> {
    let sha256 = fs_err::read_to_string(pypi_index(cache, package, version)).ok()?;
    let sha256 = sha256.trim();
    let entry = fs_err::read_dir(cache.join(sha256))
        .ok()?
        .flatten()
        .find(|entry| !entry.file_name().to_string_lossy().starts_with('.'))?;
    let path = entry.path();
    if file_sha256(&path).ok()? != sha256 {
        return None;
    }
    let name = entry.file_name().to_string_lossy().into_owned();
    // The file's own version (`1.85` when `1.85.0` was asked for).
    let version = select::parse_distribution_file(package, &name)
        .map(|file| file.version().to_string())
        .unwrap_or_else(|| version.to_string());
    Some(FetchedSource {
        version: Some(version),
        is_wheel: name.ends_with(".whl"),
        path,
        sha256: sha256.to_string(),
        url: None,
    })
}

/// Fetches the source of `package` (at `version`, in a specifier set, or the newest) into the
/// cache.
pub fn fetch(request: &FetchRequest) -> Result<FetchedSource, FetchError> {
    fs_err::create_dir_all(request.cache)?;
    match request.source {
        Source::Pypi => fetch_from_index(request),
        Source::Url { url } => fetch_url(request, url),
        Source::Git { url, rev } => fetch_git(request, url, rev),
    }
}

/// The version a build was given none for (or a specifier set) is built at, and the newer
/// versions passed over because the recipe cannot build them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChosenVersion {
    pub version: pep440_rs::Version,
    /// Newer versions matching the request that cannot be built, newest first, and why
    /// (`has only platform wheels (...)`, `requires Python >=3.13`, `is yanked`).
    pub skipped: Vec<(pep440_rs::Version, String)>,
    /// Why this version, in full (logged).
    pub reason: String,
    /// One line for the plan's notes when newer versions were skipped: `kahypar: chose 1.3.5
    /// (the newest with an sdist); 1.3.6, 1.3.7 have only platform wheels; a recipe with
    /// `adopt:` takes those wheels instead`.
    pub note: Option<String>,
}

impl ChosenVersion {
    /// A version given exactly: nothing chosen, nothing skipped.
    pub fn asked(version: pep440_rs::Version) -> Self {
        ChosenVersion {
            reason: format!("version {version} as asked"),
            version,
            skipped: Vec::new(),
            note: None,
        }
    }

    /// A chosen version; `basis` says what made it the one (`the newest with an sdist`).
    fn chosen(
        package: &str,
        version: pep440_rs::Version,
        skipped: Vec<(pep440_rs::Version, String)>,
        basis: &str,
        reason: String,
    ) -> Self {
        let note = skipped_note(package, &version, &skipped, basis);
        ChosenVersion {
            version,
            skipped,
            reason,
            note,
        }
    }
}

/// `kahypar: chose 1.3.5 (the newest with an sdist); 1.3.6, 1.3.7 have only platform wheels;
/// a recipe with `adopt:` takes those wheels instead`; `None` when nothing was skipped.
fn skipped_note(
    package: &str,
    version: &pep440_rs::Version,
    skipped: &[(pep440_rs::Version, String)],
    basis: &str,
) -> Option<String> {
    if skipped.is_empty() {
        return None;
    }
    // Versions grouped by why, each group oldest first; a platform wheel's tags are left to
    // the log.
    let mut groups: Vec<(String, Vec<&pep440_rs::Version>)> = Vec::new();
    for (skipped_version, why) in skipped.iter().rev() {
        let why = if select::is_platform_wheels_only(why) {
            "has only platform wheels".to_string()
        } else {
            why.clone()
        };
        match groups.iter_mut().find(|(group, _)| *group == why) {
            Some((_, versions)) => versions.push(skipped_version),
            None => groups.push((why, vec![skipped_version])),
        }
    }
    let mut parts: Vec<String> = groups
        .iter()
        .map(|(why, versions)| {
            let names: Vec<String> = versions.iter().map(ToString::to_string).collect();
            let why = if versions.len() > 1 {
                plural(why)
            } else {
                why.clone()
            };
            format!("{} {why}", names.join(", "))
        })
        .collect();
    if skipped
        .iter()
        .any(|(_, why)| select::is_platform_wheels_only(why))
    {
        parts.push(select::ADOPT_ALTERNATIVE.to_string());
    }
    Some(format!(
        "{package}: chose {version} ({basis}); {}",
        parts.join("; ")
    ))
}

/// A reason said of several versions: `has` -> `have`, `is` -> `are`, `requires` -> `require`.
fn plural(why: &str) -> String {
    for (one, many) in [("has ", "have "), ("is ", "are "), ("requires ", "require ")] {
        if let Some(rest) = why.strip_prefix(one) {
            return format!("{many}{rest}");
        }
    }
    why.to_string()
}

/// The version of `request.package` the index offers for `request.version` (exact, a
/// specifier set, or the newest), without downloading anything: what a build resolves its
/// recipe for before it fetches.
pub fn choose_version(request: &FetchRequest) -> Result<ChosenVersion, FetchError> {
    let wanted = VersionRequest::parse(request.version)?;
    if let VersionRequest::Exact(version) = &wanted {
        return Ok(ChosenVersion::asked(version.clone()));
    }
    let http = HttpClient::new()?;
    let (_, choice) = choose_from_index(&http, request, &wanted)?;
    tracing::info!("{}: {}", request.package, choice.reason);
    let basis = if choice.is_wheel {
        "the newest with a pure wheel and no sdist"
    } else {
        "the newest with an sdist"
    };
    Ok(ChosenVersion::chosen(
        request.package,
        choice.version,
        choice.skipped,
        basis,
        choice.reason,
    ))
}

/// How long `git ls-remote` may take to list a repository's tags.
const GIT_TAGS_LIMIT: Duration = Duration::from_secs(120);

/// The version of a package whose source names the version (a git `rev` like
/// `v{{ version }}`, an archive URL like `.../pkg-{{ version }}.tar.gz`), for
/// `request.version` (exact, a specifier set, or the newest): the newest version the index
/// lists in any form (sdist or wheels) when the project is there; else, for git, the newest
/// of the repository's tags read through the template (`v0.2.0` -> 0.2.0), and for a URL an
/// error asking for the version. `request.source` is the recipe's source as resolved before
/// the version is known (its git URL).
pub fn choose_source_version(
    request: &FetchRequest,
    versioned: &VersionedSource,
) -> Result<ChosenVersion, FetchError> {
    let wanted = VersionRequest::parse(request.version)?;
    if let VersionRequest::Exact(version) = &wanted {
        return Ok(ChosenVersion::asked(version.clone()));
    }
    let package = request.package;
    match newest_on_index(request, &wanted) {
        Ok((index, listed)) => Ok(chosen_from_listed(package, &index, &wanted, listed, versioned)),
        Err(FetchError::Index(crate::index::IndexError::ProjectNotFound { index, .. })) => {
            match (versioned, request.source) {
                (VersionedSource::Git { rev }, Source::Git { url, .. }) => {
                    let version = newest_tag(request, url, rev, &wanted)?;
                    let reason = format!(
                        "{version} is the newest version{} among the tags of {url} (`{}`); the project is not on the index",
                        wanted.qualifier(),
                        rev.text
                    );
                    tracing::info!("{package}: {reason}");
                    Ok(ChosenVersion::chosen(package, version, Vec::new(), "", reason))
                }
                (VersionedSource::Git { rev: template }, _) | (VersionedSource::Url { url: template }, _) => {
                    Err(FetchError::UrlNeedsVersion {
                        package: package.to_string(),
                        index,
                        template: template.text.clone(),
                    })
                }
            }
        }
        Err(error) => Err(error),
    }
}

/// For a recipe whose `versions` entries give some versions a source that names the version:
/// the newest version the index lists in any form (matching the request), when the recipe's
/// source for it does (`versioned_for`); `None` when it does not (an sdist is needed then).
pub fn listed_version(
    request: &FetchRequest,
    versioned_for: &dyn Fn(&pep440_rs::Version) -> Option<VersionedSource>,
) -> Result<Option<ChosenVersion>, FetchError> {
    let wanted = VersionRequest::parse(request.version)?;
    let (index, listed) = newest_on_index(request, &wanted)?;
    Ok(versioned_for(&listed.version)
        .map(|versioned| chosen_from_listed(request.package, &index, &wanted, listed, &versioned)))
}

/// The newest version the index lists for `request.package` in any form, and the index's
/// name.
fn newest_on_index(
    request: &FetchRequest,
    wanted: &VersionRequest,
) -> Result<(String, select::Listed), FetchError> {
    let http = HttpClient::new()?;
    let client = IndexClient::new(http, request.index_url.unwrap_or(PYPI_SIMPLE))?
        .with_page_cache(&request.cache.join(PAGE_CACHE));
    let page = client.project_page(request.package)?;
    let index = redacted(client.url());
    let listed = select::newest_listed(request.package, &index, &page.files, wanted, request.pythons)?;
    Ok((index, listed))
}

/// The choice of a version the index lists, built from the source that names it.
fn chosen_from_listed(
    package: &str,
    index: &str,
    wanted: &VersionRequest,
    listed: select::Listed,
    versioned: &VersionedSource,
) -> ChosenVersion {
    let (built_from, template, basis) = match versioned {
        VersionedSource::Git { rev } => (
            "its git source at `rev`",
            &rev.text,
            "the newest on the index, built from its git source",
        ),
        VersionedSource::Url { url } => (
            "its source URL",
            &url.text,
            "the newest on the index, built from its source URL",
        ),
    };
    let reason = format!(
        "{} is the newest version{} on {index} ({built_from} `{template}` rendered for it)",
        listed.version,
        wanted.qualifier(),
    );
    tracing::info!("{package}: {reason}");
    ChosenVersion::chosen(package, listed.version, listed.skipped, basis, reason)
}

/// The newest version among the tags of the repository at `url` that read as versions
/// through `template` and match `wanted` (final releases first).
fn newest_tag(
    request: &FetchRequest,
    url: &str,
    template: &VersionTemplate,
    wanted: &VersionRequest,
) -> Result<pep440_rs::Version, FetchError> {
    if template.affixes().is_none() {
        return Err(FetchError::RevTemplate {
            package: request.package.to_string(),
            url: url.to_string(),
            template: template.text.clone(),
        });
    }
    let started = Instant::now();
    let tags = crate::tools::git_tags(url, request.invocation, request.log, GIT_TAGS_LIMIT)?;
    tracing::info!(
        "{url}: {} ({:.2} s)",
        crate::words::count(tags.len(), "tag"),
        started.elapsed().as_secs_f64()
    );
    let versions: Vec<pep440_rs::Version> = tags
        .iter()
        .filter_map(|tag| template.version_of_tag(tag))
        .filter(|version| wanted.contains(version))
        .collect();
    let newest_final = versions.iter().filter(|version| !version.any_prerelease()).max();
    let newest = if wanted.names_prerelease() {
        versions.iter().max()
    } else {
        newest_final.or(versions.iter().max())
    };
    newest.cloned().ok_or_else(|| FetchError::NoVersionTag {
        package: request.package.to_string(),
        url: url.to_string(),
        template: template.text.clone(),
        request: wanted.qualifier(),
        tags: tags.iter().rev().take(8).cloned().collect(),
    })
}

/// The directory of the source cache where project pages are kept with their validators.
pub const PAGE_CACHE: &str = "index-pages";

/// The index's project page read and the file to build chosen from it; the index's name (for
/// messages) with the choice.
fn choose_from_index(
    http: &HttpClient,
    request: &FetchRequest,
    wanted: &VersionRequest,
) -> Result<(String, select::Choice), FetchError> {
    let package = request.package;
    let client = IndexClient::new(http.clone(), request.index_url.unwrap_or(PYPI_SIMPLE))?
        .with_page_cache(&request.cache.join(PAGE_CACHE));
    let started = Instant::now();
    let page = client.project_page(package)?;
    let index = redacted(client.url());
    tracing::info!(
        "index {index}: {} lists {} file{} ({}, {:.2} s)",
        redacted(&page.url),
        page.files.len(),
        if page.files.len() == 1 { "" } else { "s" },
        page.format,
        started.elapsed().as_secs_f64()
    );
    let choice = select::choose(package, &index, &page.files, wanted, request.pythons)?;
    for warning in &choice.warnings {
        tracing::warn!("{package}: {warning}");
    }
    Ok((index, choice))
}

/// The file chosen from the index's project page, downloaded (or found in the cache).
fn fetch_from_index(request: &FetchRequest) -> Result<FetchedSource, FetchError> {
    let package = request.package;
    let wanted = VersionRequest::parse(request.version)?;
    if let (VersionRequest::Exact(version), Some(text)) = (&wanted, request.version) {
        let canonical = version.to_string();
        for key in [text.trim(), canonical.as_str()] {
            if let Some(cached) = cached_pypi(request.cache, package, key) {
                tracing::info!(
                    "source of {package} {key} from the cache: {}",
                    cached.path.display()
                );
                return Ok(cached);
            }
        }
    }
    let http = HttpClient::new()?;
    let (index, choice) = choose_from_index(&http, request, &wanted)?;
    let file = &choice.file;
    tracing::info!(
        "{package}: `{}` from {} ({})",
        file.filename,
        redacted(&file.url),
        choice.reason
    );
    if let (Some(pin), Some(listed)) = (request.sha256, &file.sha256)
        && !pin.eq_ignore_ascii_case(listed)
    {
        return Err(FetchError::PinMismatch {
            package: package.to_string(),
            file: file.filename.clone(),
            index: index.clone(),
            pin: pin.to_string(),
            listed: listed.clone(),
        });
    }
    let expected = file
        .sha256
        .as_deref()
        .map(|sha256| (sha256, "the index"))
        .or(request.sha256.map(|pin| (pin, "the recipe")));
    let (path, sha256) = match expected.and_then(|(sha256, _)| {
        cached_by_hash(request.cache, sha256, &file.filename).map(|path| (path, sha256.to_ascii_lowercase()))
    }) {
        Some((path, sha256)) => {
            tracing::info!("`{}` is already in the cache: {}", file.filename, path.display());
            (path, sha256)
        }
        None => download_into_cache(&http, &file.url, &file.filename, expected, request.cache)?,
    };
    if file.sha256.is_none() {
        tracing::info!(
            "{index} gives no sha256 for `{}`: recorded the one computed, {sha256}",
            file.filename
        );
    }
    let version = choice.version.to_string();
    if !choice.is_wheel {
        check_sdist_metadata(&path, package, &choice.version);
    }
    let mut keys = vec![version.clone()];
    keys.extend(
        request
            .version
            .map(str::trim)
            .filter(|text| matches!(wanted, VersionRequest::Exact(_)) && *text != version)
            .map(str::to_string),
    );
    for key in keys {
        let pointer = pypi_index(request.cache, package, &key);
        fs_err::create_dir_all(pointer.parent().unwrap_or(request.cache))?;
        fs_err::write(&pointer, &sha256)?;
    }
    Ok(FetchedSource {
        path,
        sha256,
        version: Some(version),
        is_wheel: choice.is_wheel,
        url: Some(redacted(&file.url)),
    })
}

/// Warns when an index sdist's PKG-INFO names another project or version than asked for
/// (some old sdists are sloppy, so it is not an error).
fn check_sdist_metadata(path: &Path, package: &str, version: &pep440_rs::Version) {
    match read_sdist_metadata(path) {
        Ok(Some(metadata)) => {
            if crate::spec::normalize_name(&metadata.name) != crate::spec::normalize_name(package) {
                tracing::warn!(
                    "{}: PKG-INFO names the project `{}`, not `{package}`",
                    path.display(),
                    metadata.name
                );
            }
            if &metadata.version != version {
                tracing::warn!(
                    "{}: PKG-INFO says version {}, the index {version}",
                    path.display(),
                    metadata.version
                );
            }
        }
        Ok(None) => tracing::warn!("{}: the sdist has no PKG-INFO", path.display()),
        Err(error) => tracing::warn!("{error}"),
    }
}

/// The version of a URL or git source from its sdist metadata, when it has PKG-INFO.
fn version_from_pkg_info(path: &Path) -> Option<String> {
    match read_sdist_metadata(path) {
        Ok(metadata) => metadata.map(|metadata| metadata.version.to_string()),
        Err(error) => {
            tracing::debug!("{error}");
            None
        }
    }
}

/// An archive at a URL (`https://`, `http://`, `file://`), checked against the recipe's pin;
/// with a pin, a file already cached under it is used without the network.
fn fetch_url(request: &FetchRequest, text: &str) -> Result<FetchedSource, FetchError> {
    if text.trim().is_empty() {
        return Err(FetchError::NoUrl);
    }
    let url = Url::parse(text).map_err(|error| FetchError::BadUrl {
        url: text.to_string(),
        reason: error.to_string(),
    })?;
    let file = crate::index::page::file_name_of(&url).unwrap_or_else(|| "source.tar.gz".to_string());
    let cached = request.sha256.and_then(|pin| {
        cached_by_hash(request.cache, pin, &file).map(|path| (path, pin.to_ascii_lowercase()))
    });
    let (path, sha256, from) = match cached {
        Some((path, sha256)) => {
            tracing::info!(
                "source `{file}` from the cache (pinned sha256): {}",
                path.display()
            );
            (path, sha256, None)
        }
        None => {
            let http = HttpClient::new()?;
            let (path, sha256) = download_into_cache(
                &http,
                &url,
                &file,
                request.sha256.map(|pin| (pin, "the recipe")),
                request.cache,
            )?;
            (path, sha256, Some(redacted(&url)))
        }
    };
    Ok(FetchedSource {
        version: version_from_file_name(&file).or_else(|| version_from_pkg_info(&path)),
        is_wheel: file.ends_with(".whl"),
        path,
        sha256,
        url: from,
    })
}

/// A git repository at a pinned rev, archived so that the cache holds one hashed file like
/// the others.
fn fetch_git(request: &FetchRequest, url: &str, rev: &str) -> Result<FetchedSource, FetchError> {
    if rev.trim().is_empty() {
        return Err(FetchError::NoRev { url: url.to_string() });
    }
    let download = request.work.join("download");
    if download.exists() {
        fs_err::remove_dir_all(&download)?;
    }
    fs_err::create_dir_all(&download)?;
    let checkout = download.join("checkout");
    let git = Path::new("git");
    run_logged(
        "git clone",
        git,
        &[
            "clone".into(),
            "--quiet".into(),
            url.to_string(),
            checkout.display().to_string(),
        ],
        request.invocation,
        request.log,
    )?;
    let inside = Invocation {
        directory: Some(checkout.clone()),
        ..request.invocation.clone()
    };
    run_logged(
        "git checkout",
        git,
        &["checkout".into(), "--quiet".into(), rev.to_string()],
        &inside,
        request.log,
    )?;
    let exact = match VersionRequest::parse(request.version) {
        Ok(VersionRequest::Exact(_)) => request.version.map(str::trim),
        _ => None,
    };
    let archive = download.join(format!(
        "{}-{}.tar",
        crate::spec::escape_name(request.package),
        exact.unwrap_or("git")
    ));
    run_logged(
        "git archive",
        git,
        &[
            "archive".into(),
            "--format=tar".into(),
            format!("--prefix={}/", crate::spec::escape_name(request.package)),
            "-o".into(),
            archive.display().to_string(),
            rev.to_string(),
        ],
        &inside,
        request.log,
    )?;
    let mut fetched = cache_file(&archive, request.cache)?;
    // A repository that carries PKG-INFO says its version; else the version asked for.
    fetched.version = version_from_pkg_info(&fetched.path).or_else(|| exact.map(str::to_string));
    Ok(fetched)
}

/// Checks a fetched file against a pinned sha256.
pub fn verify_pin(fetched: &FetchedSource, pin: Option<&str>) -> Result<(), FetchError> {
    if let Some(pin) = pin
        && !pin.eq_ignore_ascii_case(&fetched.sha256)
    {
        return Err(FetchError::PinnedSource {
            path: fetched.path.clone(),
            actual: fetched.sha256.clone(),
            pin: pin.to_string(),
        });
    }
    Ok(())
}

/// A relative archive path that stays inside the destination, or why not.
fn safe_relative(path: &Path) -> Result<PathBuf, String> {
    let mut clean = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => clean.push(part),
            Component::CurDir => {}
            Component::ParentDir => return Err("escapes with `..`".into()),
            Component::RootDir | Component::Prefix(_) => return Err("is absolute".into()),
        }
    }
    Ok(clean)
}

/// Unpacks an sdist (tar.gz, tar.bz2 unsupported, tar, zip) into `destination` and returns the
/// source root (the single top-level directory, if there is one). Links may not point out of
/// the tree; device files and absolute or `..` paths are refused.
pub fn unpack(archive: &Path, destination: &Path) -> Result<PathBuf, FetchError> {
    fs_err::create_dir_all(destination)?;
    let name = archive
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if name.ends_with(".zip") {
        let file = fs_err::File::open(archive)?;
        let zip_error = |error: zip::result::ZipError| FetchError::archive(archive, error);
        let mut zip = zip::ZipArchive::new(file).map_err(zip_error)?;
        for index in 0..zip.len() {
            let mut entry = zip.by_index(index).map_err(zip_error)?;
            let entry_name = entry.name().map_err(zip_error)?.to_string();
            let relative = safe_relative(Path::new(&entry_name))
                .map_err(|why| FetchError::archive(archive, format!("the entry `{entry_name}` {why}")))?;
            if entry.is_symlink() {
                return Err(FetchError::archive(
                    archive,
                    format!("the entry `{entry_name}` is a symbolic link"),
                ));
            }
            let target = destination.join(&relative);
            if entry.is_dir() {
                fs_err::create_dir_all(&target)?;
            } else {
                if let Some(parent) = target.parent() {
                    fs_err::create_dir_all(parent)?;
                }
                let mut out = fs_err::File::create(&target)?;
                std::io::copy(&mut entry, &mut out)?;
            }
        }
    } else {
        let file = fs_err::File::open(archive)?;
        let reader: Box<dyn std::io::Read> = if name.ends_with(".gz") || name.ends_with(".tgz") {
            Box::new(flate2::read::GzDecoder::new(file))
        } else if name.ends_with(".tar") {
            Box::new(file)
        } else {
            return Err(FetchError::archive(
                archive,
                "unsupported archive format (tar.gz, tar or zip)",
            ));
        };
        let mut tar = tar::Archive::new(reader);
        for entry in tar.entries()? {
            let mut entry = entry?;
            let path = entry.path()?.into_owned();
            let relative = safe_relative(&path).map_err(|why| {
                FetchError::archive(archive, format!("the entry `{}` {why}", path.display()))
            })?;
            if relative.as_os_str().is_empty() {
                continue;
            }
            let kind = entry.header().entry_type();
            let target = destination.join(&relative);
            if kind.is_symlink() || kind.is_hard_link() {
                let link = entry.link_name()?.map(|l| l.into_owned()).unwrap_or_default();
                let resolved = if kind.is_hard_link() {
                    safe_relative(&link)
                } else {
                    safe_relative(&relative.parent().unwrap_or(Path::new("")).join(&link)).and_then(
                        |joined| {
                            // Re-resolve `..` lexically inside the tree.
                            let mut depth: i32 = 0;
                            for component in relative
                                .parent()
                                .unwrap_or(Path::new(""))
                                .join(&link)
                                .components()
                            {
                                match component {
                                    Component::ParentDir => depth -= 1,
                                    Component::Normal(_) => depth += 1,
                                    Component::RootDir | Component::Prefix(_) => {
                                        return Err("is absolute".to_string());
                                    }
                                    Component::CurDir => {}
                                }
                                if depth < 0 {
                                    return Err("escapes with `..`".to_string());
                                }
                            }
                            Ok(joined)
                        },
                    )
                };
                if let Err(why) = resolved {
                    return Err(FetchError::archive(
                        archive,
                        format!("the link `{}` -> `{}` {why}", path.display(), link.display()),
                    ));
                }
            }
            if !(kind.is_file()
                || kind.is_dir()
                || kind.is_symlink()
                || kind.is_hard_link()
                || kind == tar::EntryType::GNUSparse
                || kind.is_pax_global_extensions()
                || kind.is_pax_local_extensions())
            {
                continue;
            }
            if let Some(parent) = target.parent() {
                fs_err::create_dir_all(parent)?;
            }
            entry.set_preserve_permissions(false);
            entry.unpack_in(destination)?;
        }
    }
    // The source root: a single top-level directory, else the destination itself.
    let top: Vec<PathBuf> = fs_err::read_dir(destination)?
        .flatten()
        .map(|entry| entry.path())
        .collect();
    Ok(match top.as_slice() {
        [single] if single.is_dir() => single.clone(),
        _ => destination.to_path_buf(),
    })
}

impl crate::hint::Hint for FetchError {
    fn hint(&self) -> Option<String> {
        match self {
            FetchError::Command(error) => crate::hint::Hint::hint(error),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_from_file_names() {
        assert_eq!(
            version_from_file_name("biopython-1.85.tar.gz").as_deref(),
            Some("1.85")
        );
        assert_eq!(
            version_from_file_name("python_dateutil-2.9.0.post0.tar.gz").as_deref(),
            Some("2.9.0.post0")
        );
        assert_eq!(
            version_from_file_name("six-1.16.0-py2.py3-none-any.whl").as_deref(),
            Some("1.16.0")
        );
        assert_eq!(version_from_file_name("README"), None);
    }

    #[test]
    fn the_note_of_a_choice_groups_the_versions_skipped() {
        let version = |text: &str| -> pep440_rs::Version { text.parse().unwrap() };
        let skipped = vec![
            (
                version("1.3.7"),
                "has only platform wheels (cp312-cp312-manylinux_2_17_x86_64)".to_string(),
            ),
            (version("1.3.6.1"), "requires Python >=3.14".to_string()),
            (
                version("1.3.6"),
                "has only platform wheels (cp311-cp311-win_amd64)".to_string(),
            ),
        ];
        let chosen = ChosenVersion::chosen(
            "kahypar",
            version("1.3.5"),
            skipped,
            "the newest with an sdist",
            String::new(),
        );
        assert_eq!(
            chosen.note.as_deref(),
            Some(
                "kahypar: chose 1.3.5 (the newest with an sdist); 1.3.6, 1.3.7 have only platform wheels; 1.3.6.1 requires Python >=3.14; a recipe with `adopt:` takes those wheels instead"
            )
        );
        let yanked = ChosenVersion::chosen(
            "demo",
            version("1.0"),
            vec![(version("1.1"), "is yanked (broken)".to_string())],
            "the newest with an sdist",
            String::new(),
        );
        assert_eq!(
            yanked.note.as_deref(),
            Some("demo: chose 1.0 (the newest with an sdist); 1.1 is yanked (broken)")
        );
        assert_eq!(ChosenVersion::asked(version("2.0")).note, None);
    }

    #[test]
    fn refuses_escaping_paths() {
        assert!(safe_relative(Path::new("../x")).is_err());
        assert!(safe_relative(Path::new("/etc/passwd")).is_err());
        assert_eq!(safe_relative(Path::new("./a/b")).unwrap(), Path::new("a/b"));
    }

    #[test]
    fn unpacks_a_tarball_and_refuses_an_escaping_one() {
        let directory = tempfile::tempdir().unwrap();
        let good = directory.path().join("pkg-1.0.tar.gz");
        {
            let file = fs_err::File::create(&good).unwrap();
            let encoder = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
            let mut builder = tar::Builder::new(encoder);
            let mut header = tar::Header::new_gnu();
            header.set_size(5);
            header.set_mode(0o644);
            header.set_cksum();
            builder
                .append_data(&mut header, "pkg-1.0/setup.py", &b"print"[..])
                .unwrap();
            builder.into_inner().unwrap().finish().unwrap();
        }
        let root = unpack(&good, &directory.path().join("out")).unwrap();
        assert!(root.ends_with("pkg-1.0"));
        assert_eq!(fs_err::read_to_string(root.join("setup.py")).unwrap(), "print");

        let bad = directory.path().join("bad-1.0.tar");
        {
            let file = fs_err::File::create(&bad).unwrap();
            let mut builder = tar::Builder::new(file);
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(tar::EntryType::Symlink);
            header.set_size(0);
            header.set_cksum();
            builder
                .append_link(&mut header, "bad-1.0/escape", "../../etc/passwd")
                .unwrap();
            builder.finish().unwrap();
        }
        let error = unpack(&bad, &directory.path().join("bad-out"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("escapes"), "{error}");
    }
}
