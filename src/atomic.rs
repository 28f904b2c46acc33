//! Files written whole or not at all: the bytes go to a temporary file in the destination
//! directory, which is flushed to disk and renamed over the destination, so that a reader sees
//! the old file or the new one and a killed writer leaves at most a `.wheelwright-*.tmp`.

use std::path::Path;

/// Writes `bytes` to `path` atomically (its directory is made when missing).
pub fn write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let directory = path.parent().unwrap_or(Path::new("."));
    fs_err::create_dir_all(directory)?;
    let mut temporary = tempfile::Builder::new()
        .prefix(".wheelwright-")
        .suffix(".tmp")
        .tempfile_in(directory)?;
    std::io::Write::write_all(&mut temporary, bytes)?;
    temporary.as_file().sync_all()?;
    temporary.persist(path).map_err(|error| error.error)?;
    Ok(())
}

/// Writes `value` as pretty JSON to `path` atomically.
pub fn write_json(path: &Path, value: &impl serde::Serialize) -> std::io::Result<()> {
    let bytes = serde_json::to_vec_pretty(value).map_err(std::io::Error::other)?;
    write(path, &bytes)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_file_is_replaced_whole_and_no_temporary_file_stays() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("new/state.json");
        super::write_json(&path, &serde_json::json!({"a": 1})).unwrap();
        super::write(&path, b"{\"a\": 2}").unwrap();
        assert_eq!(fs_err::read_to_string(&path).unwrap(), "{\"a\": 2}");
        let names: Vec<String> = fs_err::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["state.json"]);
    }
}
