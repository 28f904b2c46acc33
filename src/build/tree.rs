//! The source tree before the build: whether an archive holds code to compile,
//! `-march=native` rewritten to the arch's flag, and the recipe's package suffix applied.

use std::path::Path;

use super::BuildError;
use super::source;

/// Rewrites `-march=native` in the sources to the arch's flag; returns the files changed.
pub(super) fn rewrite_march_native(root: &Path, march: &str) -> Vec<String> {
    let mut changed = Vec::new();
    let skip = |name: &str| {
        let lower = name.to_ascii_lowercase();
        lower.starts_with("doc")
            || lower.starts_with("readme")
            || lower.starts_with("news")
            || lower.starts_with("changelog")
            || lower.ends_with(".md")
            || lower.ends_with(".rst")
            || lower.ends_with(".tex")
            || lower.ends_with(".txt") && lower.starts_with("install")
    };
    for entry in walkdir::WalkDir::new(root)
        .into_iter()
        .filter_entry(|entry| !skip(&entry.file_name().to_string_lossy()) && entry.file_name() != ".git")
        .flatten()
    {
        if !entry.file_type().is_file() || entry.metadata().map(|m| m.len()).unwrap_or(0) > 8 << 20 {
            continue;
        }
        let Ok(text) = fs_err::read_to_string(entry.path()) else {
            continue;
        };
        if text.contains("-march=native") {
            let replaced = text.replace("-march=native", &format!("-march={march}"));
            if fs_err::write(entry.path(), replaced).is_ok() {
                changed.push(
                    entry
                        .path()
                        .strip_prefix(root)
                        .unwrap_or(entry.path())
                        .display()
                        .to_string(),
                );
            }
        }
    }
    changed
}

/// Appends `suffix` to the distribution name where setup.py / pyproject.toml set it (as
/// build_wheel.sh's PACKAGE_SUFFIX did); an error when no file names it.
pub(super) fn apply_package_suffix(
    root: &Path,
    package: &str,
    suffix: &str,
) -> Result<Vec<String>, BuildError> {
    let mut renamed = Vec::new();
    for file in ["setup.py", "pyproject.toml", "setup.cfg"] {
        let path = root.join(file);
        let Ok(text) = fs_err::read_to_string(&path) else {
            continue;
        };
        let mut changed = text.clone();
        for (before, after) in [
            (
                format!("name=\"{package}\""),
                format!("name=\"{package}{suffix}\""),
            ),
            (format!("name='{package}'"), format!("name='{package}{suffix}'")),
            (
                format!("name = \"{package}\""),
                format!("name = \"{package}{suffix}\""),
            ),
            (
                format!("name = '{package}'"),
                format!("name = '{package}{suffix}'"),
            ),
            (
                format!("name = {package}\n"),
                format!("name = {package}{suffix}\n"),
            ),
        ] {
            changed = changed.replace(&before, &after);
        }
        if changed != text {
            fs_err::write(&path, changed)?;
            renamed.push(file.to_string());
        }
    }
    if renamed.is_empty() {
        return Err(BuildError::PackageSuffix {
            suffix: suffix.to_string(),
            package: package.to_string(),
        });
    }
    Ok(renamed)
}

/// Whether a source archive holds code to compile (C, C++, Cython, Fortran, Rust, CUDA, or a
/// CMake/meson/cargo project): such packages build per Python at once; the others build one
/// cell first, which tells whether the wheel is pure.
pub fn looks_compiled(fetched: &source::FetchedSource) -> bool {
    if fetched.is_wheel {
        return false;
    }
    let compiled = |name: &str| {
        let lower = name.to_ascii_lowercase();
        let base = lower.rsplit('/').next().unwrap_or_default();
        [
            ".c", ".cc", ".cpp", ".cxx", ".c++", ".pyx", ".f", ".f90", ".f95", ".rs", ".cu",
        ]
        .iter()
        .any(|suffix| lower.ends_with(suffix))
            || ["cargo.toml", "cmakelists.txt", "meson.build"].contains(&base)
    };
    let name = fetched.path.to_string_lossy().to_ascii_lowercase();
    let names: Option<Vec<String>> = if name.ends_with(".zip") {
        fs_err::File::open(&fetched.path)
            .ok()
            .and_then(|file| zip::ZipArchive::new(file).ok())
            .map(|archive| {
                archive
                    .file_names()
                    .flatten()
                    .map(|name| name.into_owned())
                    .collect()
            })
    } else if name.ends_with(".tar.gz") || name.ends_with(".tgz") || name.ends_with(".tar") {
        fs_err::File::open(&fetched.path).ok().and_then(|file| {
            let reader: Box<dyn std::io::Read> = if name.ends_with(".tar") {
                Box::new(file)
            } else {
                Box::new(flate2::read::GzDecoder::new(file))
            };
            let mut archive = tar::Archive::new(reader);
            let entries = archive.entries().ok()?;
            Some(
                entries
                    .flatten()
                    .filter_map(|entry| entry.path().ok().map(|path| path.to_string_lossy().into_owned()))
                    .collect(),
            )
        })
    } else {
        None
    };
    // An archive that cannot be listed is taken as compiled: building every cell is the safe
    // side.
    names.is_none_or(|names| names.iter().any(|name| compiled(name)))
}

/// The `SOURCE_DATE_EPOCH` of a source archive: the newest modification time of its tar
/// entries (what the sdist's own tools stamped), so that rebuilding the same source gives
/// the same zip timestamps. `None` for what is not a tar archive or has no time.
pub fn source_date_epoch(fetched: &source::FetchedSource) -> Option<u64> {
    let name = fetched.path.to_string_lossy().to_ascii_lowercase();
    if fetched.is_wheel || !(name.ends_with(".tar.gz") || name.ends_with(".tgz") || name.ends_with(".tar")) {
        return None;
    }
    let file = fs_err::File::open(&fetched.path).ok()?;
    let reader: Box<dyn std::io::Read> = if name.ends_with(".tar") {
        Box::new(file)
    } else {
        Box::new(flate2::read::GzDecoder::new(file))
    };
    let mut archive = tar::Archive::new(reader);
    archive
        .entries()
        .ok()?
        .flatten()
        .filter_map(|entry| entry.header().mtime().ok())
        .filter(|mtime| *mtime > 0)
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_suffixes_rename_the_distribution() {
        let directory = tempfile::tempdir().unwrap();
        fs_err::write(
            directory.path().join("setup.py"),
            "setup(name=\"torchvision\", version='1')\n",
        )
        .unwrap();
        let renamed = apply_package_suffix(directory.path(), "torchvision", "-cpu").unwrap();
        assert_eq!(renamed, ["setup.py"]);
        assert!(
            fs_err::read_to_string(directory.path().join("setup.py"))
                .unwrap()
                .contains("name=\"torchvision-cpu\"")
        );
        let error = apply_package_suffix(directory.path(), "other", "-cpu")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("no setup.py, pyproject.toml or setup.cfg sets name = `other`"),
            "{error}"
        );
    }

    /// A `.tar.gz` holding `names` (empty files), as a fetched source.
    fn sdist_of(directory: &Path, names: &[&str]) -> source::FetchedSource {
        let path = directory.join(format!("demo-{}.tar.gz", names.len()));
        let file = fs_err::File::create(&path).unwrap();
        let mut archive = tar::Builder::new(flate2::write::GzEncoder::new(file, flate2::Compression::fast()));
        for name in names {
            let mut header = tar::Header::new_gnu();
            header.set_size(0);
            header.set_mode(0o644);
            header.set_cksum();
            archive.append_data(&mut header, name, std::io::empty()).unwrap();
        }
        archive.into_inner().unwrap().finish().unwrap();
        source::FetchedSource {
            path,
            sha256: String::new(),
            version: None,
            is_wheel: false,
            url: None,
        }
    }

    #[test]
    fn compiled_sources_are_told_from_pure_ones() {
        let directory = tempfile::tempdir().unwrap();
        let pure = sdist_of(
            directory.path(),
            &["demo-1/pyproject.toml", "demo-1/demo/__init__.py"],
        );
        assert!(!looks_compiled(&pure));
        for compiled in [
            "demo-1/src/_speedups.c",
            "demo-1/Cargo.toml",
            "demo-1/meson.build",
            "demo-1/demo/_x.pyx",
        ] {
            let fetched = sdist_of(directory.path(), &["demo-1/pyproject.toml", compiled]);
            assert!(looks_compiled(&fetched), "{compiled}");
        }
        // What cannot be listed is taken as compiled: every cell is built.
        let unreadable = source::FetchedSource {
            path: directory.path().join("missing.tar.gz"),
            ..pure
        };
        assert!(looks_compiled(&unreadable));
    }

    #[test]
    fn finds_march_native() {
        let directory = tempfile::tempdir().unwrap();
        fs_err::write(
            directory.path().join("setup.py"),
            "flags = ['-O3', '-march=native']\n",
        )
        .unwrap();
        fs_err::create_dir(directory.path().join("docs")).unwrap();
        fs_err::write(directory.path().join("docs/build.md"), "-march=native\n").unwrap();
        let changed = rewrite_march_native(directory.path(), "x86-64-v3");
        assert_eq!(changed, ["setup.py"]);
        assert!(
            fs_err::read_to_string(directory.path().join("setup.py"))
                .unwrap()
                .contains("-march=x86-64-v3")
        );
    }
}
