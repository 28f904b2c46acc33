//! `nightly run --verify-reproducible N`: up to N up-to-date cells are built again into the
//! run's own directory (their staged wheels untouched) and each new wheel is compared with the
//! staged one, member by member.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use super::model::{Task, TaskStatus};
use super::plan::{NightlyPlan, Planned};
use super::state::StateStore;

/// How a rebuilt wheel compares with the staged one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reproducibility {
    /// The staged wheel it was compared with.
    pub against: PathBuf,
    /// The same bytes.
    pub identical: bool,
    /// What differs: members only in one wheel, members whose content differs, or the zip
    /// metadata (times, compression) when every member's content is the same.
    pub differences: Vec<String>,
}

/// The members of a wheel: name -> sha256 of the content.
fn member_hashes(wheel: &Path) -> std::io::Result<BTreeMap<String, String>> {
    let mut archive = zip::ZipArchive::new(fs_err::File::open(wheel)?).map_err(std::io::Error::other)?;
    let mut hashes = BTreeMap::new();
    for index in 0..archive.len() {
        let mut entry = archive.by_index(index).map_err(std::io::Error::other)?;
        let name = entry.name().map_err(std::io::Error::other)?.to_string();
        let mut hasher = sha2::Sha256::new();
        let mut buffer = vec![0u8; 64 << 10];
        loop {
            let read = entry.read(&mut buffer)?;
            if read == 0 {
                break;
            }
            hasher.update(&buffer[..read]);
        }
        let digest: String = hasher
            .finalize()
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        hashes.insert(name, digest);
    }
    Ok(hashes)
}

/// Compares a rebuilt wheel with the staged one.
pub fn compare(rebuilt: &Path, staged: &Path) -> Reproducibility {
    let mut result = Reproducibility {
        against: staged.to_path_buf(),
        identical: false,
        differences: Vec::new(),
    };
    let same_bytes = match (
        crate::wheel::verified::file_sha256(rebuilt),
        crate::wheel::verified::file_sha256(staged),
    ) {
        (Ok(a), Ok(b)) => a == b,
        (Err(error), _) | (_, Err(error)) => {
            result.differences.push(format!("cannot be read: {error}"));
            return result;
        }
    };
    if same_bytes {
        result.identical = true;
        return result;
    }
    match (member_hashes(rebuilt), member_hashes(staged)) {
        (Ok(new), Ok(old)) => {
            for (name, hash) in &new {
                match old.get(name) {
                    None => result
                        .differences
                        .push(format!("{name}: only in the rebuilt wheel")),
                    Some(before) if before != hash => {
                        result.differences.push(format!("{name}: content differs"))
                    }
                    Some(_) => {}
                }
            }
            for name in old.keys().filter(|name| !new.contains_key(*name)) {
                result
                    .differences
                    .push(format!("{name}: only in the staged wheel"));
            }
            if result.differences.is_empty() {
                result
                    .differences
                    .push("every member's content is the same; the zip metadata (times, order, compression) differs".into());
            }
        }
        (Err(error), _) | (_, Err(error)) => result
            .differences
            .push(format!("cannot be read as a zip: {error}")),
    }
    result
}

/// The staged wheel of an up-to-date cell, if it is still where staging put it.
fn staged_wheel(output: &Path, arch: &str, name: &str) -> Option<PathBuf> {
    [output.join(arch).join(name), output.join(name)]
        .into_iter()
        .find(|path| path.is_file())
}

/// Up to `count` up-to-date cells whose staged wheel is there, as tasks that build them again
/// into `directory/verify/...` (cell files written).
pub fn verify_tasks(
    planned: &NightlyPlan,
    store: &StateStore,
    directory: &Path,
    output: &Path,
    count: usize,
) -> Result<Vec<Task>, super::NightlyError> {
    let mut tasks = Vec::new();
    for package in &planned.packages {
        for cell in package
            .cells
            .iter()
            .filter(|cell| cell.state == Planned::UpToDate)
        {
            if tasks.len() >= count {
                return Ok(tasks);
            }
            let Some(name) = store.last(&cell.id).and_then(|last| last.wheel) else {
                continue;
            };
            let Some(staged) = staged_wheel(output, &cell.id.arch, &name) else {
                continue;
            };
            // A pure wheel is staged once for several cells: compare it with a rebuild by the
            // cell whose build is staged (its record says which).
            let record: Option<crate::build::record::WheelRecord> =
                super::state::read_json(&crate::build::record::WheelRecord::path_beside(&staged));
            if record.is_some_and(|record| {
                record.build.python != cell.id.python.to_string() || record.build.arch != cell.id.arch
            }) {
                continue;
            }
            let relative = cell.id.relative_path();
            let cell_directory = directory.join("verify").join(&relative);
            let resources = package.resources_of(&cell.cell);
            let rebuilt = super::run::cell_in(
                &cell.cell,
                &cell_directory,
                resources.cpus,
                &cell_directory.join("staging"),
            );
            let file = directory
                .join("verify-cells")
                .join(format!("{}.json", relative.display()));
            fs_err::create_dir_all(file.parent().unwrap_or(directory))?;
            rebuilt.write(&file)?;
            tasks.push(Task {
                id: cell.id.clone(),
                version: rebuilt.version.clone(),
                file,
                output_log: cell_directory.join("cell.log"),
                directory: cell_directory,
                cpus: resources.cpus,
                resources,
                needs: Vec::new(),
                gpus: 0,
                key: cell.key.clone(),
                inputs: cell.inputs.clone(),
                reasons: vec!["rebuilt to verify that it is reproducible".into()],
                verify_against: Some(staged),
                build_only: true,
                status: TaskStatus::Queued,
            });
        }
    }
    Ok(tasks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    fn wheel(path: &Path, members: &[(&str, &str)], time: zip::DateTime) {
        let mut writer = zip::ZipWriter::new(fs_err::File::create(path).unwrap());
        for (name, content) in members {
            let options = zip::write::SimpleFileOptions::default().last_modified_time(time);
            writer.start_file(*name, options).unwrap();
            writer.write_all(content.as_bytes()).unwrap();
        }
        writer.finish().unwrap();
    }

    #[test]
    fn wheels_are_compared_member_by_member() {
        let directory = tempfile::tempdir().unwrap();
        let at = |path: &str| directory.path().join(path);
        let early = zip::DateTime::from_date_and_time(2020, 1, 1, 0, 0, 0).unwrap();
        let late = zip::DateTime::from_date_and_time(2024, 1, 1, 0, 0, 0).unwrap();
        wheel(&at("a.whl"), &[("x.py", "1"), ("y.so", "elf")], early);
        wheel(&at("same.whl"), &[("x.py", "1"), ("y.so", "elf")], early);
        wheel(&at("later.whl"), &[("x.py", "1"), ("y.so", "elf")], late);
        wheel(&at("other.whl"), &[("x.py", "2"), ("z.py", "")], early);
        assert!(compare(&at("same.whl"), &at("a.whl")).identical);
        let times = compare(&at("later.whl"), &at("a.whl"));
        assert!(!times.identical);
        assert!(times.differences[0].contains("zip metadata"), "{times:?}");
        let other = compare(&at("other.whl"), &at("a.whl"));
        assert_eq!(
            other.differences,
            [
                "x.py: content differs",
                "z.py: only in the rebuilt wheel",
                "y.so: only in the staged wheel"
            ]
        );
    }
}
