//! Sources: fetched once (the sdist chosen from a simple index, a URL, or git at a pinned
//! ref), verified against the index's and the recipe's sha256, cached by hash. Downloads are
//! Rust code (`index::http`); only git runs as a program (through `tools`). `version` chooses
//! the version a build given none is built at ([`ChosenVersion`]); `unpack` unpacks a fetched
//! archive without escaping its directory.

mod unpack;
mod version;

pub use unpack::unpack;
pub use version::{ChosenVersion, choose_source_version, choose_version, listed_version};

use std::path::{Component, Path, PathBuf};
use std::time::Instant;

use url::Url;

use super::pkg_info::read_sdist_metadata;
use crate::index::http::{HttpClient, redacted};
use crate::index::select::{self, VersionRequest};
use crate::index::{IndexClient, PYPI_SIMPLE};
use crate::layout::PythonVersion;
use crate::recipe::Source;
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
}
