//! Sources: fetched once (pip download of the sdist, a URL, or git at a pinned ref),
//! verified against a sha256, cached by hash, and unpacked without escaping their directory.

use std::path::{Component, Path, PathBuf};

use crate::recipe::Source;
use crate::tools::{Invocation, run_logged};

/// A fetched source: an sdist/archive, or a wheel when PyPI has only a pure one.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FetchedSource {
    pub path: PathBuf,
    pub sha256: String,
    /// The version the file carries (from its name), when known.
    pub version: Option<String>,
    /// A pure wheel taken as is (nothing to build).
    pub is_wheel: bool,
}

pub use crate::wheel::verified::file_sha256;

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

/// Moves a downloaded file into the cache (`<cache>/<sha256>/<file name>`).
fn cache_file(path: &Path, cache: &Path) -> anyhow::Result<FetchedSource> {
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
    })
}

/// The index of cached PyPI sources: `<cache>/pypi/<normalized name>-<version>` holds the
/// sha256 of the file fetched for it.
fn pypi_index(cache: &Path, package: &str, version: &str) -> PathBuf {
    cache
        .join("pypi")
        .join(format!("{}-{version}", crate::spec::normalize_name(package)))
}

/// Fetches the source of `package` (at `version`, or the newest) into the cache.
#[allow(clippy::too_many_arguments)] // each is a distinct input of one fetch
pub fn fetch(
    package: &str,
    version: Option<&str>,
    source: &Source,
    python: &Path,
    cache: &Path,
    work: &Path,
    log: &Path,
    invocation: &Invocation,
) -> anyhow::Result<FetchedSource> {
    fs_err::create_dir_all(cache)?;
    // `version` is an exact version, or a specifier set (`>=1.21,<3`) for the newest match.
    let is_specifier = version.is_some_and(|text| text.starts_with(['<', '>', '=', '!', '~']));
    if let (Source::Pypi, Some(version), false) = (source, version, is_specifier) {
        let index = pypi_index(cache, package, version);
        if let Ok(sha256) = fs_err::read_to_string(&index) {
            let directory = cache.join(sha256.trim());
            if let Some(entry) = fs_err::read_dir(&directory)
                .ok()
                .and_then(|mut entries| entries.next())
                .and_then(Result::ok)
            {
                let path = entry.path();
                if file_sha256(&path).ok().as_deref() == Some(sha256.trim()) {
                    tracing::info!("source of {package} {version} from the cache: {}", path.display());
                    let name = entry.file_name().to_string_lossy().into_owned();
                    return Ok(FetchedSource {
                        version: Some(version.to_string()),
                        is_wheel: name.ends_with(".whl"),
                        path,
                        sha256: sha256.trim().to_string(),
                    });
                }
            }
        }
    }
    let download = work.join("download");
    if download.exists() {
        fs_err::remove_dir_all(&download)?;
    }
    fs_err::create_dir_all(&download)?;
    let python_args = |binary: bool| -> Vec<String> {
        let requirement = match version {
            Some(specifier) if is_specifier => format!("{package}{specifier}"),
            Some(version) => format!("{package}=={version}"),
            None => package.to_string(),
        };
        let mut args = vec![
            "-m".to_string(),
            "pip".to_string(),
            "download".to_string(),
            "--no-deps".to_string(),
            "--disable-pip-version-check".to_string(),
            "-d".to_string(),
            download.display().to_string(),
        ];
        if binary {
            args.extend(["--only-binary".to_string(), ":all:".to_string()]);
        } else {
            // Only the package itself from source: `:all:` would also build pip's own build
            // requirements (setuptools, wheel) from source, seconds for nothing.
            args.extend(["--no-binary".to_string(), package.to_string()]);
        }
        args.push(requirement);
        args
    };
    let fetched = match source {
        Source::Pypi
            if !is_specifier && pypi_json_download(package, version, python, &download, invocation, log) =>
        {
            let file = fs_err::read_dir(&download)?
                .flatten()
                .map(|entry| entry.path())
                .next()
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "the PyPI download saved nothing for {package}; see {}",
                        log.display()
                    )
                })?;
            cache_file(&file, cache)?
        }
        Source::Pypi => {
            let sdist = run_logged(
                "pip download (sdist)",
                python,
                &python_args(false),
                invocation,
                log,
            );
            if let Err(sdist_error) = sdist {
                // No sdist: a pure wheel will do.
                run_logged(
                    "pip download (wheel)",
                    python,
                    &python_args(true),
                    invocation,
                    log,
                )
                .map_err(|_| sdist_error)?;
            }
            let file = fs_err::read_dir(&download)?
                .flatten()
                .map(|entry| entry.path())
                .next()
                .ok_or_else(|| {
                    anyhow::anyhow!("pip download saved nothing for {package}; see {}", log.display())
                })?;
            if file.extension().is_some_and(|e| e == "whl") {
                let name = file
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let wheel: crate::spec::WheelFilename = name.parse()?;
                if !wheel.tags.is_pure() {
                    anyhow::bail!(
                        "{package} has no sdist on PyPI and its wheel `{name}` is not pure: nothing to build from"
                    );
                }
            }
            cache_file(&file, cache)?
        }
        Source::Url { url } => {
            let name = url
                .rsplit('/')
                .next()
                .filter(|n| !n.is_empty())
                .unwrap_or("source.tar.gz");
            let target = download.join(name);
            let script = "import sys, urllib.request; urllib.request.urlretrieve(sys.argv[1], sys.argv[2])";
            run_logged(
                "download",
                python,
                &[
                    "-c".into(),
                    script.into(),
                    url.clone(),
                    target.display().to_string(),
                ],
                invocation,
                log,
            )?;
            cache_file(&target, cache)?
        }
        Source::Git { url, rev } => {
            let checkout = download.join("checkout");
            let git = Path::new("git");
            run_logged(
                "git clone",
                git,
                &[
                    "clone".into(),
                    "--quiet".into(),
                    url.clone(),
                    checkout.display().to_string(),
                ],
                invocation,
                log,
            )?;
            let inside = Invocation {
                directory: Some(checkout.clone()),
                ..invocation.clone()
            };
            run_logged(
                "git checkout",
                git,
                &["checkout".into(), "--quiet".into(), rev.clone()],
                &inside,
                log,
            )?;
            // An archive of the pinned tree, so the cache holds one hashed file like the others.
            let archive = download.join(format!(
                "{}-{}.tar",
                crate::spec::escape_name(package),
                version.unwrap_or("git")
            ));
            run_logged(
                "git archive",
                git,
                &[
                    "archive".into(),
                    "--format=tar".into(),
                    format!("--prefix={}/", crate::spec::escape_name(package)),
                    "-o".into(),
                    archive.display().to_string(),
                    rev.clone(),
                ],
                &inside,
                log,
            )?;
            let mut fetched = cache_file(&archive, cache)?;
            fetched.version = version.filter(|_| !is_specifier).map(str::to_string);
            fetched
        }
    };
    if let (Source::Pypi, Some(found)) = (source, &fetched.version) {
        let index = pypi_index(cache, package, found);
        fs_err::create_dir_all(index.parent().unwrap_or(cache))?;
        fs_err::write(&index, &fetched.sha256)?;
    }
    Ok(fetched)
}

/// Downloads the sdist of `package` (at `version`, or the newest) straight from PyPI's JSON
/// API, checking the sha256 PyPI publishes. Much faster than `pip download`, which builds the
/// package's metadata first; used only with the default index (no `PIP_INDEX_URL`), and any
/// failure falls back to `pip download`. Returns whether the file is in `download`.
fn pypi_json_download(
    package: &str,
    version: Option<&str>,
    python: &Path,
    download: &Path,
    invocation: &Invocation,
    log: &Path,
) -> bool {
    if std::env::var_os("PIP_INDEX_URL").is_some() || std::env::var_os("PIP_NO_INDEX").is_some() {
        return false;
    }
    const SCRIPT: &str = r#"
import hashlib, json, os, sys, urllib.request
name, version, target = sys.argv[1], sys.argv[2], sys.argv[3]
base = "https://pypi.org/pypi/" + name
with urllib.request.urlopen(base + ("/" + version if version else "") + "/json", timeout=60) as response:
    data = json.load(response)
sdists = [u for u in data["urls"] if u["packagetype"] == "sdist" and not u.get("yanked")]
if not sdists:
    sys.exit("no sdist for %s %s on PyPI" % (name, data["info"]["version"]))
entry = sdists[0]
path = os.path.join(target, entry["filename"])
with urllib.request.urlopen(entry["url"], timeout=300) as response, open(path, "wb") as out:
    digest = hashlib.sha256()
    while True:
        chunk = response.read(1 << 20)
        if not chunk:
            break
        digest.update(chunk)
        out.write(chunk)
if digest.hexdigest() != entry["digests"]["sha256"]:
    os.remove(path)
    sys.exit("sha256 mismatch for " + entry["filename"])
print(path)
"#;
    let args = vec![
        "-c".to_string(),
        SCRIPT.to_string(),
        package.to_string(),
        version.unwrap_or_default().to_string(),
        download.display().to_string(),
    ];
    match run_logged("PyPI sdist download", python, &args, invocation, log) {
        Ok(()) => true,
        Err(error) => {
            tracing::info!("direct PyPI download failed, trying pip download: {}", error.what);
            if let Ok(entries) = fs_err::read_dir(download) {
                for entry in entries.flatten() {
                    let _ = fs_err::remove_file(entry.path());
                }
            }
            false
        }
    }
}

/// Checks a fetched file against a pinned sha256.
pub fn verify_pin(fetched: &FetchedSource, pin: Option<&str>) -> anyhow::Result<()> {
    if let Some(pin) = pin
        && !pin.eq_ignore_ascii_case(&fetched.sha256)
    {
        anyhow::bail!(
            "the source `{}` has sha256 {} but the recipe pins {pin}",
            fetched.path.display(),
            fetched.sha256
        );
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
pub fn unpack(archive: &Path, destination: &Path) -> anyhow::Result<PathBuf> {
    fs_err::create_dir_all(destination)?;
    let name = archive
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if name.ends_with(".zip") {
        let file = fs_err::File::open(archive)?;
        let mut zip = zip::ZipArchive::new(file)?;
        for index in 0..zip.len() {
            let mut entry = zip.by_index(index)?;
            let entry_name = entry.name()?.to_string();
            let relative = safe_relative(Path::new(&entry_name))
                .map_err(|why| anyhow::anyhow!("{}: the entry `{entry_name}` {why}", archive.display()))?;
            if entry.is_symlink() {
                anyhow::bail!(
                    "{}: the entry `{entry_name}` is a symbolic link",
                    archive.display()
                );
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
            anyhow::bail!(
                "{}: unsupported archive format (tar.gz, tar or zip)",
                archive.display()
            );
        };
        let mut tar = tar::Archive::new(reader);
        for entry in tar.entries()? {
            let mut entry = entry?;
            let path = entry.path()?.into_owned();
            let relative = safe_relative(&path).map_err(|why| {
                anyhow::anyhow!("{}: the entry `{}` {why}", archive.display(), path.display())
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
                    anyhow::bail!(
                        "{}: the link `{}` -> `{}` {why}",
                        archive.display(),
                        path.display(),
                        link.display()
                    );
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
