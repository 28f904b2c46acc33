//! Adopting binary wheels (`wheelwright adopt`, a recipe's `adopt:`): the best wheel of a
//! version for each Python, chosen from the index's project page (or a find-links page or
//! directory, or one URL), downloaded into the cache checked against the hash the page
//! gives; then, in the cell, its members read once, their search paths edited (see [`read_adopted_members`])
//! before the post-processing every built wheel gets.

use std::path::{Path, PathBuf};

use pep440_rs::Version;
use url::Url;

pub use super::source::AdoptError;
use super::source::{FetchError, FetchedSource, cached_by_hash, download_into_cache};
use crate::index::http::{HttpClient, redacted};
use crate::index::page::{ProjectFile, parse_html_page};
use crate::index::select::{DistributionFile, VersionRequest, parse_distribution_file};
use crate::index::{IndexClient, PYPI_SIMPLE};
use crate::layout::{DottedVersion, PythonVersion};
use crate::recipe::AdoptSettings;
use crate::spec::WheelFilename;
use crate::spec::filename::installable_on;

mod holes;
mod members;

pub use members::{AdoptedMembers, read_adopted_members};

/// What adopting one package asks for.
#[derive(Debug, Clone, Copy)]
pub struct AdoptFetch<'a> {
    pub package: &'a str,
    /// An exact version, a specifier set, or `None` for the newest with wheels.
    pub version: Option<&'a str>,
    pub settings: &'a AdoptSettings,
    /// The build's index (`None`: PyPI), used unless `settings` names another place.
    pub index_url: Option<&'a str>,
    /// The layer's glibc: manylinux wheels needing a newer one do not run there.
    pub glibc: &'a DottedVersion,
    pub cache: &'a Path,
}

/// The rank of a platform tag on linux x86_64 with `glibc` (higher is better), or `None`
/// when it does not run there: `any` lowest, then manylinux by the glibc it needs (the
/// newest that fits is the most specific), `linux_x86_64` (a site's own build) highest.
fn platform_rank(platform: &str, glibc: &DottedVersion) -> Option<u32> {
    let needs = |major: u32, minor: u32| DottedVersion(vec![major, minor]) <= *glibc;
    let manylinux = |major: u32, minor: u32| needs(major, minor).then_some(10 + major * 100 + minor);
    match platform {
        "any" => Some(1),
        "linux_x86_64" => Some(10_000),
        "manylinux1_x86_64" => manylinux(2, 5),
        "manylinux2010_x86_64" => manylinux(2, 12),
        "manylinux2014_x86_64" => manylinux(2, 17),
        other => {
            let rest = other.strip_prefix("manylinux_")?.strip_suffix("_x86_64")?;
            let (major, minor) = rest.split_once('_')?;
            manylinux(major.parse().ok()?, minor.parse().ok()?)
        }
    }
}

/// The rank of a wheel for `python` (higher is better), or `None` when it does not install
/// there: its own `cpXY` ABI first, then `abi3`, then pure Python; then its platform.
pub fn wheel_rank(
    filename: &WheelFilename,
    python: PythonVersion,
    glibc: &DottedVersion,
) -> Option<(u8, u32)> {
    let tags = &filename.tags;
    if !installable_on(tags, python.major, python.minor) {
        return None;
    }
    let platform = tags
        .platform
        .iter()
        .filter_map(|platform| platform_rank(platform, glibc))
        .max()?;
    let own = format!("cp{}{}", python.major, python.minor);
    let interpreter = if tags.abi.contains(&own) {
        3
    } else if tags.abi.iter().any(|abi| abi == "abi3") {
        2
    } else {
        1
    };
    Some((interpreter, platform))
}

/// The files of one place: the index's project page, a find-links page, or a local directory.
struct Listing {
    /// For messages: the index or page URL, or the directory.
    place: String,
    files: Vec<ProjectFile>,
}

/// Reads the place `fetch` takes wheels from.
fn listing(http: &HttpClient, fetch: &AdoptFetch) -> Result<Listing, FetchError> {
    if let Some(place) = fetch.settings.find_links.as_deref() {
        return find_links(http, place);
    }
    let client = IndexClient::new(http.clone(), fetch.index_url.unwrap_or(PYPI_SIMPLE))?;
    let page = client.project_page(fetch.package)?;
    Ok(Listing {
        place: redacted(client.url()),
        files: page.files,
    })
}

/// A find-links place: an HTML page of links (http, https) or a local directory of wheels.
fn find_links(http: &HttpClient, place: &str) -> Result<Listing, FetchError> {
    let problem = |problem: String| AdoptError::FindLinks {
        place: place.to_string(),
        problem,
    };
    let directory = match place.strip_prefix("file://") {
        Some(path) => Some(PathBuf::from(path)),
        None if !place.contains("://") => Some(PathBuf::from(place)),
        None => None,
    };
    if let Some(directory) = directory {
        let mut files = Vec::new();
        let entries = fs_err::read_dir(&directory).map_err(|error| problem(error.to_string()))?;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.ends_with(".whl") {
                continue;
            }
            let path = std::path::absolute(entry.path()).map_err(|error| problem(error.to_string()))?;
            let url = Url::from_file_path(&path)
                .map_err(|()| problem(format!("`{}` is not a path", path.display())))?;
            files.push(ProjectFile {
                filename: name,
                url,
                sha256: None,
                requires_python: None,
                yanked: None,
                core_metadata: Default::default(),
                size: None,
                upload_time: None,
            });
        }
        return Ok(Listing {
            place: directory.display().to_string(),
            files,
        });
    }
    let url = Url::parse(place).map_err(|error| problem(error.to_string()))?;
    let page = http.get_text(&url, "text/html")?;
    let files = parse_html_page(&page.body, &page.url).map_err(|error| problem(error.to_string()))?;
    Ok(Listing {
        place: redacted(&url),
        files,
    })
}

/// The wheels of `project` in a listing, with their parsed names (other projects' files,
/// which a find-links page mixes in, and sdists left out).
fn wheels_of<'a>(project: &str, files: &'a [ProjectFile]) -> Vec<(&'a ProjectFile, WheelFilename)> {
    let project = crate::spec::normalize_name(project);
    files
        .iter()
        .filter_map(|file| match parse_distribution_file(&project, &file.filename)? {
            DistributionFile::Wheel(wheel) if wheel.normalized_name() == project => Some((file, wheel)),
            _ => None,
        })
        .collect()
}

/// The version to adopt: the one asked for, else the newest (final release, not yanked;
/// a pre-release only when nothing else is there) that has a wheel for one of `pythons`.
fn choose_version(
    fetch: &AdoptFetch,
    listing: &Listing,
    wheels: &[(&ProjectFile, WheelFilename)],
    pythons: &[PythonVersion],
) -> Result<Version, FetchError> {
    if wheels.is_empty() {
        return Err(AdoptError::NoWheels {
            project: fetch.package.to_string(),
            place: listing.place.clone(),
        }
        .into());
    }
    let request = VersionRequest::parse(fetch.version)?;
    let fits = |wheel: &WheelFilename| {
        pythons
            .iter()
            .any(|python| wheel_rank(wheel, *python, fetch.glibc).is_some())
    };
    // Versions with wheels (not yanked), oldest first; and those with a wheel for a Python asked.
    let mut all: Vec<&Version> = wheels
        .iter()
        .filter(|(file, _)| file.yanked.is_none())
        .map(|(_, wheel)| wheel.version())
        .collect();
    all.sort();
    all.dedup();
    let fitting: Vec<&Version> = all
        .iter()
        .copied()
        .filter(|version| {
            wheels
                .iter()
                .any(|(_, wheel)| wheel.version() == *version && fits(wheel))
        })
        .collect();
    let newest_final = |versions: &[&Version]| -> Option<Version> {
        versions
            .iter()
            .rev()
            .find(|version| !version.any_prerelease())
            .or(versions.last())
            .map(|version| (*version).clone())
    };
    let chosen = match &request {
        VersionRequest::Exact(wanted) => wheels
            .iter()
            .map(|(_, wheel)| wheel.version())
            .find(|version| *version == wanted)
            .cloned(),
        VersionRequest::Matching(specifiers) => {
            let matching: Vec<&Version> = all
                .iter()
                .copied()
                .filter(|version| specifiers.contains(version))
                .collect();
            let matching_fitting: Vec<&Version> = matching
                .iter()
                .copied()
                .filter(|version| fitting.contains(version))
                .collect();
            // One that fits the Pythons; else the newest match, whose missing wheel is the error.
            newest_final(&matching_fitting).or_else(|| newest_final(&matching))
        }
        // The newest that fits the Pythons; else the newest, whose missing wheel is the error.
        VersionRequest::Newest => newest_final(&fitting).or_else(|| newest_final(&all)),
    };
    chosen.ok_or_else(|| {
        AdoptError::NoSuchVersion {
            project: fetch.package.to_string(),
            request: request.to_string(),
            place: listing.place.clone(),
            newest: all.iter().rev().take(6).map(ToString::to_string).collect(),
        }
        .into()
    })
}

/// The version an adoption takes (asked, or the newest with a wheel for `pythons`), without
/// downloading anything.
pub fn choose_adopted_version(fetch: &AdoptFetch, pythons: &[PythonVersion]) -> Result<Version, FetchError> {
    if let Some(url) = fetch.settings.url.as_deref() {
        return Ok(WheelUrl::parse(url)?.wheel.version().clone());
    }
    let http = HttpClient::new()?;
    let listing = listing(&http, fetch)?;
    let wheels = wheels_of(fetch.package, &listing.files);
    choose_version(fetch, &listing, &wheels, pythons)
}

/// The wheels to adopt, one per Python in order: the best wheel of the chosen version for
/// each; once one is pure or abi3 the later Pythons take it too. Downloaded into the cache
/// (or found there by the hash the page gives), checked against that hash.
pub fn fetch_wheels(fetch: &AdoptFetch, pythons: &[PythonVersion]) -> Result<Vec<FetchedSource>, FetchError> {
    fs_err::create_dir_all(fetch.cache)?;
    let http = HttpClient::new()?;
    if let Some(url) = fetch.settings.url.as_deref() {
        let wheel = fetch_url(&http, fetch, url)?;
        return Ok(pythons.iter().map(|_| wheel.clone()).collect());
    }
    let listing = listing(&http, fetch)?;
    let wheels = wheels_of(fetch.package, &listing.files);
    let version = choose_version(fetch, &listing, &wheels, pythons)?;
    let of_version: Vec<&(&ProjectFile, WheelFilename)> = wheels
        .iter()
        .filter(|(_, wheel)| *wheel.version() == version)
        .collect();
    let mut fetched: Vec<FetchedSource> = Vec::new();
    let mut shared: Option<FetchedSource> = None;
    for python in pythons {
        if let Some(shared) = &shared {
            fetched.push(shared.clone());
            continue;
        }
        let best = of_version
            .iter()
            .filter_map(|(file, wheel)| {
                wheel_rank(wheel, *python, fetch.glibc).map(|rank| (rank, file, wheel))
            })
            .max_by_key(|(rank, _, _)| *rank);
        let Some((_, file, wheel)) = best else {
            return Err(AdoptError::NoWheelForPython {
                project: fetch.package.to_string(),
                version: version.to_string(),
                python: python.to_string(),
                glibc: fetch.glibc.to_string(),
                place: listing.place.clone(),
                wheels: of_version.iter().map(|(file, _)| file.filename.clone()).collect(),
            }
            .into());
        };
        tracing::info!(
            "{}: `{}` for Python {python} from {}",
            fetch.package,
            file.filename,
            listing.place
        );
        let source = download(&http, fetch, file, &version)?;
        if wheel.tags.is_pure() || wheel.tags.abi.iter().any(|abi| abi == "abi3") {
            shared = Some(source.clone());
        }
        fetched.push(source);
    }
    Ok(fetched)
}

/// One file of a listing into the cache: found there by the page's hash, else downloaded and
/// checked against it; a local file is hashed where it is.
fn download(
    http: &HttpClient,
    fetch: &AdoptFetch,
    file: &ProjectFile,
    version: &Version,
) -> Result<FetchedSource, FetchError> {
    if file.url.scheme() == "file" {
        let path = file.url.to_file_path().map_err(|()| AdoptError::FindLinks {
            place: file.url.to_string(),
            problem: "not a local path".into(),
        })?;
        let sha256 = super::source::file_sha256(&path)?;
        if let Some(expected) = &file.sha256
            && !expected.eq_ignore_ascii_case(&sha256)
        {
            return Err(FetchError::HashMismatch {
                file: file.filename.clone(),
                url: file.url.to_string(),
                actual: sha256,
                expected: expected.clone(),
                expected_by: "the index",
            });
        }
        return Ok(FetchedSource {
            path,
            sha256,
            version: Some(version.to_string()),
            is_wheel: true,
            url: Some(file.url.to_string()),
        });
    }
    let expected = file.sha256.as_deref().map(|sha256| (sha256, "the index"));
    let (path, sha256) =
        match expected.and_then(|(sha256, _)| cached_by_hash(fetch.cache, sha256, &file.filename)) {
            Some(path) => (path, file.sha256.clone().unwrap_or_default().to_ascii_lowercase()),
            None => download_into_cache(http, &file.url, &file.filename, expected, fetch.cache)?,
        };
    if file.sha256.is_none() {
        tracing::warn!(
            "`{}`: the page gives no sha256; recorded the one computed, {sha256}",
            file.filename
        );
    }
    Ok(FetchedSource {
        path,
        sha256,
        version: Some(version.to_string()),
        is_wheel: true,
        url: Some(redacted(&file.url)),
    })
}

/// A wheel's URL taken apart: without its `#sha256=` fragment, the hash it gave, the file
/// name and what the name says.
struct WheelUrl {
    url: Url,
    sha256: Option<String>,
    name: String,
    wheel: WheelFilename,
}

impl WheelUrl {
    fn parse(text: &str) -> Result<Self, FetchError> {
        let mut url = Url::parse(text).map_err(|error| FetchError::BadUrl {
            url: text.to_string(),
            reason: error.to_string(),
        })?;
        let sha256 = url
            .fragment()
            .and_then(|fragment| fragment.strip_prefix("sha256="))
            .map(str::to_ascii_lowercase);
        url.set_fragment(None);
        let name = crate::index::page::file_name_of(&url).unwrap_or_default();
        let wheel: WheelFilename = name.parse().map_err(|_| AdoptError::NotAWheel {
            url: redacted(&url),
            file: name.clone(),
        })?;
        Ok(WheelUrl {
            url,
            sha256,
            name,
            wheel,
        })
    }
}

/// `--url`: one wheel, its name checked to be the package's; a `#sha256=` fragment is
/// checked like an index's hash.
fn fetch_url(http: &HttpClient, fetch: &AdoptFetch, text: &str) -> Result<FetchedSource, FetchError> {
    let WheelUrl {
        url,
        sha256,
        name,
        wheel,
    } = WheelUrl::parse(text)?;
    if wheel.normalized_name() != crate::spec::normalize_name(fetch.package) {
        return Err(AdoptError::OtherProject {
            file: name,
            project: fetch.package.to_string(),
            found: wheel.name_text().to_string(),
        }
        .into());
    }
    let file = ProjectFile {
        filename: name,
        url,
        sha256,
        requires_python: None,
        yanked: None,
        core_metadata: Default::default(),
        size: None,
        upload_time: None,
    };
    download(http, fetch, &file, wheel.version())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rank(name: &str, python: &str) -> Option<(u8, u32)> {
        let filename: WheelFilename = name.parse().unwrap();
        wheel_rank(&filename, python.parse().unwrap(), &DottedVersion(vec![2, 37]))
    }

    #[test]
    fn the_best_wheel_is_the_pythons_own_then_abi3_then_pure_on_the_newest_manylinux_that_runs() {
        let own = rank("torch-2.7.1-cp312-cp312-manylinux_2_28_x86_64.whl", "3.12").unwrap();
        let abi3 = rank("pkg-1.0-cp39-abi3-manylinux2014_x86_64.whl", "3.12").unwrap();
        let pure = rank("pkg-1.0-py3-none-any.whl", "3.12").unwrap();
        assert!(own > abi3 && abi3 > pure);
        let older = rank("pkg-1.0-cp312-cp312-manylinux2014_x86_64.whl", "3.12").unwrap();
        let newer = rank("pkg-1.0-cp312-cp312-manylinux_2_28_x86_64.whl", "3.12").unwrap();
        assert!(newer > older);
        // Not for this Python, this machine, or this layer's glibc.
        assert_eq!(
            rank("pkg-1.0-cp311-cp311-manylinux_2_28_x86_64.whl", "3.12"),
            None
        );
        assert_eq!(
            rank("pkg-1.0-cp312-cp312-manylinux_2_28_aarch64.whl", "3.12"),
            None
        );
        assert_eq!(rank("pkg-1.0-cp312-cp312-musllinux_1_2_x86_64.whl", "3.12"), None);
        assert_eq!(
            rank("pkg-1.0-cp312-cp312-manylinux_2_39_x86_64.whl", "3.12"),
            None
        );
        assert_eq!(rank("pkg-1.0-cp313-abi3-manylinux2014_x86_64.whl", "3.12"), None);
        // Several platform tags: the best that runs.
        assert!(
            rank(
                "pkg-1.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
                "3.12"
            )
            .is_some()
        );
    }

    fn file(name: &str) -> ProjectFile {
        ProjectFile {
            filename: name.to_string(),
            url: Url::parse(&format!("https://files.example/{name}")).unwrap(),
            sha256: Some("00".repeat(32)),
            requires_python: None,
            yanked: None,
            core_metadata: Default::default(),
            size: None,
            upload_time: None,
        }
    }

    #[test]
    fn the_version_is_the_newest_with_a_wheel_for_the_pythons() {
        let files = [
            file("jax_cuda12_plugin-0.6.2-cp312-cp312-manylinux2014_x86_64.whl"),
            file("jax_cuda12_plugin-0.6.2-cp313-cp313-manylinux2014_x86_64.whl"),
            file("jax_cuda12_plugin-0.7.0rc1-cp312-cp312-manylinux2014_x86_64.whl"),
            file("jax_cuda12_plugin-0.6.1-cp311-cp311-manylinux2014_x86_64.whl"),
            file("jax_cuda12_plugin-0.7.0-cp314-cp314-manylinux2014_x86_64.whl"),
            file("other-9.0-py3-none-any.whl"),
            file("jax_cuda12_plugin-0.8.0.tar.gz"),
        ];
        let listing = Listing {
            place: "https://pypi.example/simple/".into(),
            files: files.to_vec(),
        };
        let glibc = DottedVersion(vec![2, 37]);
        let settings = AdoptSettings::default();
        let fetch = |version: Option<&'static str>| AdoptFetch {
            package: "jax-cuda12-plugin",
            version,
            settings: &settings,
            index_url: None,
            glibc: &glibc,
            cache: Path::new("/nonexistent"),
        };
        let wheels = wheels_of("jax-cuda12-plugin", &listing.files);
        assert_eq!(wheels.len(), 5);
        let py = |text: &str| -> Vec<PythonVersion> { text.split(',').map(|v| v.parse().unwrap()).collect() };
        let chosen = choose_version(&fetch(None), &listing, &wheels, &py("3.12,3.13")).unwrap();
        assert_eq!(chosen.to_string(), "0.6.2");
        let chosen = choose_version(&fetch(None), &listing, &wheels, &py("3.11")).unwrap();
        assert_eq!(chosen.to_string(), "0.6.1");
        let error = choose_version(&fetch(Some("0.5.0")), &listing, &wheels, &py("3.12"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("has no version ==0.5.0 with wheels"), "{error}");
        assert!(error.contains("0.6.2"), "{error}");
    }
}
