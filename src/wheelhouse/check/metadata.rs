//! The tree's METADATA for `check`, each wheel's read once: from the zip's central directory
//! and that one member ([`crate::wheel::reader::read_metadata_only`]), on every core, and kept
//! in a cache file (`<cache>/check/<root>.json`) keyed by the wheel's path and valid while its
//! size and modification time stay the same. Requirement texts are parsed once each, however
//! many wheels share them.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::str::FromStr as _;
use std::sync::Arc;

use pep440_rs::VersionSpecifiers;
use pep508_rs::Requirement;
use serde::{Deserialize, Serialize};

use crate::spec::environment::parse_requires_python;
use crate::spec::headers::HeaderDocument;
use crate::wheel::Limits;
use crate::wheelhouse::tree::Tree;

const CACHE_VERSION: u32 = 2;

/// What a wheel's METADATA says that `check` uses.
#[derive(Debug, Clone, Default)]
pub struct WheelMetadata {
    pub requires_python: Option<VersionSpecifiers>,
    /// Every `Requires-Dist` that parses as PEP 508 (shared between wheels that write the
    /// same text).
    pub requirements: Vec<Arc<Requirement>>,
    /// The extras the wheel declares (`Provides-Extra`), as written.
    pub provides_extra: Vec<String>,
    /// Why the wheel's METADATA could not be read (the wheel is then left out: an installer
    /// could not use it either).
    pub problem: Option<String>,
    /// `Requires-Dist` values that are not PEP 508 (reported as unreadable, otherwise ignored).
    pub invalid_requirements: Vec<String>,
}

/// The metadata of every wheel of a tree, by the wheel's index in [`Tree::wheels`].
#[derive(Debug, Default)]
pub struct TreeMetadata {
    pub wheels: Vec<WheelMetadata>,
    /// Wheels whose METADATA was read from the file this run.
    pub read: usize,
    /// Wheels whose METADATA came from the cache.
    pub cached: usize,
}

/// One wheel in the cache file, as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct CachedWheel {
    size: u64,
    mtime_ns: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    requires_python: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    requires_dist: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    provides_extra: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    problem: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct CacheFile {
    version: u32,
    /// The tree's root, to tell apart two trees whose names hash alike.
    root: String,
    /// By the wheel's path relative to the root.
    wheels: BTreeMap<String, CachedWheel>,
}

/// The cache file of the tree at `root` in `cache_dir`: named by a hash of the absolute root,
/// so that every tree has its own.
pub fn cache_file(cache_dir: &Path, root: &Path) -> PathBuf {
    use sha2::Digest as _;
    let absolute = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
    let digest = sha2::Sha256::digest(absolute.to_string_lossy().as_bytes());
    let hex: String = digest[..8].iter().map(|byte| format!("{byte:02x}")).collect();
    cache_dir.join("check").join(format!("{hex}.json"))
}

fn load_cache(path: &Path, root: &str) -> CacheFile {
    let Ok(bytes) = fs_err::read(path) else {
        return CacheFile::default();
    };
    match serde_json::from_slice::<CacheFile>(&bytes) {
        Ok(cache) if cache.version == CACHE_VERSION && cache.root == root => cache,
        Ok(_) => CacheFile::default(),
        Err(error) => {
            tracing::warn!(
                "{}: unreadable cache, every wheel's METADATA is read again: {error}",
                path.display()
            );
            CacheFile::default()
        }
    }
}

/// Size and modification time (ns) of a file, following symlinks.
fn stat(path: &Path) -> std::io::Result<(u64, i64)> {
    use std::os::unix::fs::MetadataExt as _;
    let metadata = fs_err::metadata(path)?;
    Ok((
        metadata.len(),
        metadata
            .mtime()
            .saturating_mul(1_000_000_000)
            .saturating_add(metadata.mtime_nsec()),
    ))
}

/// Reads one wheel's METADATA into a cache entry (a wheel that cannot be read gets its
/// problem).
fn read_wheel(path: &Path, size: u64, mtime_ns: i64) -> CachedWheel {
    let mut entry = CachedWheel {
        size,
        mtime_ns,
        requires_python: None,
        requires_dist: Vec::new(),
        provides_extra: Vec::new(),
        problem: None,
    };
    match crate::wheel::reader::read_metadata_only(path, Limits::default()) {
        Ok(bytes) => {
            let document = HeaderDocument::parse(&bytes);
            entry.requires_python = document
                .get("Requires-Python")
                .filter(|value| !value.trim().is_empty());
            entry.requires_dist = document.get_all("Requires-Dist");
            entry.provides_extra = document.get_all("Provides-Extra");
            entry.problem = inconsistent_with_its_name(path, &document);
        }
        Err(error) => entry.problem = Some(error.to_string()),
    }
    entry
}

/// Why pip and uv refuse a wheel whose METADATA names another project or version than its
/// file name does (`inconsistent name: expected 'a', but metadata has 'b'`), if they do.
fn inconsistent_with_its_name(path: &Path, document: &HeaderDocument) -> Option<String> {
    let filename: crate::spec::WheelFilename = path.file_name()?.to_str()?.parse().ok()?;
    let Some(name) = document.get("Name").filter(|name| !name.trim().is_empty()) else {
        return Some("its METADATA has no `Name`: installers refuse the wheel".to_string());
    };
    if crate::spec::normalize_name(name.trim()) != filename.normalized_name() {
        return Some(format!(
            "its METADATA names the project `{}`, its file name `{}`: installers refuse the wheel",
            name.trim(),
            filename.name_text()
        ));
    }
    let Some(version) = document
        .get("Version")
        .filter(|version| !version.trim().is_empty())
    else {
        return Some("its METADATA has no `Version`: installers refuse the wheel".to_string());
    };
    match pep440_rs::Version::from_str(version.trim()) {
        Ok(version) if version == *filename.version() => None,
        _ => Some(format!(
            "its METADATA says version `{}`, its file name `{}`: installers refuse the wheel",
            version.trim(),
            filename.version_text()
        )),
    }
}

/// Parses requirement texts, each distinct text once.
#[derive(Default)]
struct RequirementParser {
    parsed: HashMap<String, Option<Arc<Requirement>>>,
}

impl RequirementParser {
    fn parse(&mut self, text: &str) -> Option<Arc<Requirement>> {
        if let Some(found) = self.parsed.get(text) {
            return found.clone();
        }
        // A folded header value is one requirement over several lines.
        let unfolded = text.split('\n').map(str::trim).collect::<Vec<_>>().join(" ");
        let parsed = Requirement::from_str(unfolded.trim()).ok().map(Arc::new);
        self.parsed.insert(text.to_string(), parsed.clone());
        parsed
    }

    fn metadata(&mut self, entry: &CachedWheel) -> WheelMetadata {
        let mut metadata = WheelMetadata {
            requires_python: entry.requires_python.as_deref().and_then(parse_requires_python),
            provides_extra: entry.provides_extra.clone(),
            problem: entry.problem.clone(),
            ..WheelMetadata::default()
        };
        for text in &entry.requires_dist {
            match self.parse(text) {
                Some(requirement) => metadata.requirements.push(requirement),
                None => metadata.invalid_requirements.push(text.clone()),
            }
        }
        metadata
    }
}

/// The metadata of every wheel of `tree`: from the cache file (when given) for wheels whose
/// size and modification time it has, read from the wheels for the others, `jobs` threads at
/// a time; the cache is then written again (temporary file and rename) if anything changed.
/// A wheel that cannot be statted or read gets its problem, never an error of the whole run;
/// a cache that cannot be written is a warning.
pub fn read_tree_metadata(tree: &Tree, cache: Option<&Path>, jobs: usize) -> TreeMetadata {
    let root = std::path::absolute(&tree.root)
        .unwrap_or_else(|_| tree.root.clone())
        .to_string_lossy()
        .into_owned();
    let mut file = cache.map(|path| load_cache(path, &root)).unwrap_or_default();
    let indices: Vec<usize> = (0..tree.wheels.len()).collect();
    let relative: Vec<String> = tree
        .wheels
        .iter()
        .map(|wheel| tree.relative_path(wheel))
        .collect();
    let file_ref = &file;
    let entries: Vec<(CachedWheel, bool)> = crate::parallel::parallel_map(&indices, jobs, &|&index| {
        let path = tree.path_of(&tree.wheels[index]);
        let (size, mtime_ns) = match stat(&path) {
            Ok(found) => found,
            Err(error) => {
                let entry = CachedWheel {
                    size: 0,
                    mtime_ns: 0,
                    requires_python: None,
                    requires_dist: Vec::new(),
                    provides_extra: Vec::new(),
                    problem: Some(error.to_string()),
                };
                return (entry, true);
            }
        };
        match file_ref.wheels.get(&relative[index]) {
            Some(cached) if cached.size == size && cached.mtime_ns == mtime_ns => (cached.clone(), false),
            _ => (read_wheel(&path, size, mtime_ns), true),
        }
    });
    let read = entries.iter().filter(|(_, fresh)| *fresh).count();
    let mut parser = RequirementParser::default();
    let wheels = entries.iter().map(|(entry, _)| parser.metadata(entry)).collect();
    if let Some(path) = cache {
        // Nothing read: every wheel came from the cache, which changes only if it has more.
        if read > 0 || file.wheels.len() != entries.len() {
            file.version = CACHE_VERSION;
            file.root = root;
            file.wheels = relative
                .into_iter()
                .zip(entries.into_iter().map(|(entry, _)| entry))
                .collect();
            let written = serde_json::to_vec(&file)
                .map_err(std::io::Error::other)
                .and_then(|bytes| crate::atomic::write(path, &bytes));
            if let Err(error) = written {
                tracing::warn!("cannot write the check cache {}: {error}", path.display());
            }
        }
    }
    TreeMetadata {
        read,
        cached: tree.wheels.len() - read,
        wheels,
    }
}

/// Trees of small wheels for the check's unit tests.
#[cfg(test)]
pub(super) mod fixtures {
    use std::path::{Path, PathBuf};

    use crate::wheelhouse::tree::Tree;

    /// Writes a wheel holding only `METADATA` (enough for the check) into `directory`.
    pub fn write_wheel(directory: &Path, file_name: &str, metadata: &str) -> PathBuf {
        let (name, rest) = file_name.split_once('-').unwrap();
        let version = rest.split('-').next().unwrap();
        let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default();
        writer
            .start_file(format!("{name}-{version}.dist-info/METADATA"), options)
            .unwrap();
        std::io::Write::write_all(&mut writer, metadata.as_bytes()).unwrap();
        let path = directory.join(file_name);
        fs_err::write(&path, writer.finish().unwrap().into_inner()).unwrap();
        path
    }

    /// The tree at `root` under the embedded layout.
    pub fn tree_at(root: &Path) -> Tree {
        let text = crate::layout::EMBEDDED_LAYOUT.replacen(
            "root = \"wheelhouse\"",
            &format!("root = {:?}", root.display().to_string()),
            1,
        );
        let layout = crate::layout::Layout::parse(&text, "site.toml", Path::new("/")).unwrap();
        Tree::read(&layout).unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::{tree_at, write_wheel};
    use super::*;

    #[test]
    fn a_wheel_whose_metadata_names_another_project_or_version_is_one_installers_refuse() {
        let directory = tempfile::tempdir().unwrap();
        let cases = [
            // The same project and version however spelt: fine.
            (
                "Scikit_Learn-1.5.0+computecanada-py3-none-any.whl",
                "Name: scikit-learn\nVersion: 1.5.0+computecanada\n",
                None,
            ),
            ("pkg-1.0-py3-none-any.whl", "Name: pkg\nVersion: 1.0.0\n", None),
            (
                "pkg-1.0-py3-none-any.whl",
                "Name: other\nVersion: 1.0\n",
                Some("names the project `other`"),
            ),
            (
                "pkg-1.0-py3-none-any.whl",
                "Name: pkg\nVersion: 2.0\n",
                Some("says version `2.0`"),
            ),
            (
                "pkg-1.0+computecanada-py3-none-any.whl",
                "Name: pkg\nVersion: 1.0\n",
                Some("says version `1.0`"),
            ),
            ("pkg-1.0-py3-none-any.whl", "Version: 1.0\n", Some("no `Name`")),
            ("pkg-1.0-py3-none-any.whl", "Name: pkg\n", Some("no `Version`")),
        ];
        for (file_name, metadata, problem) in cases {
            let path = write_wheel(
                directory.path(),
                file_name,
                &format!("Metadata-Version: 2.1\n{metadata}\n"),
            );
            let size = fs_err::metadata(&path).unwrap().len();
            let read = read_wheel(&path, size, 0);
            match problem {
                None => assert_eq!(read.problem, None, "{file_name}: {metadata}"),
                Some(words) => {
                    let found = read.problem.unwrap_or_default();
                    assert!(
                        found.contains(words) && found.contains("installers refuse"),
                        "{file_name}: {found}"
                    );
                }
            }
        }
    }

    #[test]
    fn metadata_is_cached_by_size_and_mtime() {
        let directory = tempfile::tempdir().unwrap();
        let root = directory.path().join("tree");
        let generic = root.join("generic");
        fs_err::create_dir_all(&generic).unwrap();
        let path = write_wheel(
            &generic,
            "demo-1.0-py3-none-any.whl",
            "Metadata-Version: 2.1\nName: demo\nVersion: 1.0\nRequires-Python: >=3.10\nRequires-Dist: six>=1\nRequires-Dist: pytest; extra == \"test\"\nRequires-Dist: not a requirement (\nProvides-Extra: test\n",
        );
        write_wheel(
            &generic,
            "other-2.0-py3-none-any.whl",
            "Metadata-Version: 2.1\nName: other\nVersion: 2.0\nRequires-Dist: six>=1\n",
        );
        fs_err::write(generic.join("broken-1.0-py3-none-any.whl"), b"not a zip").unwrap();
        let cache = cache_file(&directory.path().join("cache"), &root);
        let tree = tree_at(&root);

        let first = read_tree_metadata(&tree, Some(&cache), 2);
        assert_eq!((first.read, first.cached), (3, 0));
        let demo = tree
            .wheels
            .iter()
            .position(|wheel| wheel.file_name.starts_with("demo"))
            .unwrap();
        let other = tree
            .wheels
            .iter()
            .position(|wheel| wheel.file_name.starts_with("other"))
            .unwrap();
        let broken = tree
            .wheels
            .iter()
            .position(|wheel| wheel.file_name.starts_with("broken"))
            .unwrap();
        let metadata = &first.wheels[demo];
        assert_eq!(metadata.requires_python.as_ref().unwrap().to_string(), ">=3.10");
        assert_eq!(metadata.requirements.len(), 2);
        assert_eq!(metadata.invalid_requirements, ["not a requirement ("]);
        assert_eq!(metadata.provides_extra, ["test"]);
        // One parse for a text two wheels share.
        assert!(Arc::ptr_eq(
            &metadata.requirements[0],
            &first.wheels[other].requirements[0]
        ));
        assert!(
            first.wheels[broken]
                .problem
                .as_ref()
                .unwrap()
                .contains("broken-1.0"),
            "{:?}",
            first.wheels[broken].problem
        );

        let second = read_tree_metadata(&tree, Some(&cache), 2);
        assert_eq!((second.read, second.cached), (0, 3));
        assert_eq!(second.wheels[demo].requirements.len(), 2);

        // Same size, new mtime: read again.
        let file = fs_err::OpenOptions::new().write(true).open(&path).unwrap();
        file.file()
            .set_modified(std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000))
            .unwrap();
        drop(file);
        let third = read_tree_metadata(&tree, Some(&cache), 1);
        assert_eq!((third.read, third.cached), (1, 2));

        // New content of another size under the same name: read again.
        write_wheel(
            &generic,
            "other-2.0-py3-none-any.whl",
            "Metadata-Version: 2.1\nName: other\nVersion: 2.0\n",
        );
        let fourth = read_tree_metadata(&tree, Some(&cache), 1);
        assert_eq!((fourth.read, fourth.cached), (1, 2));
        assert!(fourth.wheels[other].requirements.is_empty());

        // A wheel gone from the tree leaves the cache.
        fs_err::remove_file(generic.join("broken-1.0-py3-none-any.whl")).unwrap();
        let tree = tree_at(&root);
        let fifth = read_tree_metadata(&tree, Some(&cache), 1);
        assert_eq!((fifth.read, fifth.cached), (0, 2));
        let written: CacheFile = serde_json::from_slice(&fs_err::read(&cache).unwrap()).unwrap();
        assert_eq!(written.wheels.len(), 2);
    }
}
