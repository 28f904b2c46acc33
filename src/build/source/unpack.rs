//! Unpacking a fetched source archive (tar.gz, tar or zip) into a build's directory without
//! escaping it: absolute and `..` paths are refused, links may not point out of the tree,
//! zip symbolic links and device files are refused or passed over.

use std::path::{Component, Path, PathBuf};

use super::FetchError;

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
        unpack_zip(archive, destination)?;
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
        unpack_tar(archive, reader, destination)?;
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

/// Unpacks the zip `archive` into `destination`; a symbolic link is refused.
fn unpack_zip(archive: &Path, destination: &Path) -> Result<(), FetchError> {
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
    Ok(())
}

/// Unpacks the tar stream `reader` (of `archive`) into `destination`: files, directories,
/// links that stay inside the tree, and the entries that carry metadata; other kinds (device
/// files, fifos) are passed over.
fn unpack_tar(archive: &Path, reader: Box<dyn std::io::Read>, destination: &Path) -> Result<(), FetchError> {
    let mut tar = tar::Archive::new(reader);
    for entry in tar.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.into_owned();
        let relative = safe_relative(&path)
            .map_err(|why| FetchError::archive(archive, format!("the entry `{}` {why}", path.display())))?;
        if relative.as_os_str().is_empty() {
            continue;
        }
        let kind = entry.header().entry_type();
        let target = destination.join(&relative);
        if kind.is_symlink() || kind.is_hard_link() {
            let link = entry.link_name()?.map(|l| l.into_owned()).unwrap_or_default();
            if let Err(why) = link_stays_inside(&relative, &link, kind.is_hard_link()) {
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
    Ok(())
}

/// Whether the link at `relative` to `link` stays inside the tree, or why not: a hard link's
/// target is relative to the tree's root, a symbolic link's to the link's directory (its `..`
/// resolved lexically, never above the root on the way).
fn link_stays_inside(relative: &Path, link: &Path, hard: bool) -> Result<(), String> {
    if hard {
        return safe_relative(link).map(drop);
    }
    // `..` resolved lexically from the link's directory (`docs/guide/changes.md` ->
    // `../../CHANGELOG.md` stays inside), refused only where it climbs above the root.
    let joined = relative.parent().unwrap_or(Path::new("")).join(link);
    let mut depth: i32 = 0;
    for component in joined.components() {
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
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbolic_links_may_climb_within_the_tree_but_not_above_it() {
        let link = |at: &str, to: &str| link_stays_inside(Path::new(at), Path::new(to), false);
        // pyopal 0.7.3's sdist: docs link to the changelog at its top.
        assert_eq!(
            link("pyopal-0.7.3/docs/guide/changes.md", "../../CHANGELOG.md"),
            Ok(())
        );
        assert_eq!(link("pkg-1.0/a/b", "./c/../d"), Ok(()));
        assert_eq!(
            link("pkg-1.0/docs/x.md", "../../../etc/passwd"),
            Err("escapes with `..`".to_string())
        );
        assert_eq!(link("pkg-1.0/x", "/etc/passwd"), Err("is absolute".to_string()));
        // Out and back in is still out on the way.
        assert!(link("pkg-1.0/x", "../../pkg-1.0/y").is_err());
        // A hard link's target is relative to the root: no `..` at all.
        assert!(link_stays_inside(Path::new("pkg-1.0/x"), Path::new("pkg-1.0/../y"), true).is_err());
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
