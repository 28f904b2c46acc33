//! `verify`: the filename against `.dist-info`, METADATA and WHEEL, and every RECORD row.

use std::collections::HashMap;
use std::path::Path;

use serde::Serialize;

use super::WheelError;
use super::reader::{Limits, WheelReader};
use crate::spec::filename::Tag;
use crate::spec::record::is_record_or_signature;

/// What verification found in one wheel.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    pub wheel: std::path::PathBuf,
    pub files_checked: usize,
    pub bytes_checked: u64,
    pub problems: Vec<String>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Checks a wheel. Structural problems (not a zip, unsafe entries, missing or mismatched
/// `.dist-info`, METADATA disagreeing with the filename) are errors; content problems (hashes,
/// sizes, unlisted files, tags) are collected in the report.
pub fn verify_wheel(path: &Path, limits: Limits) -> Result<VerifyReport, WheelError> {
    let mut reader = WheelReader::open(path, limits)?;
    let mut problems = Vec::new();

    let mut filename_tags: Vec<Tag> = reader.filename.tags.expand();
    filename_tags.sort();
    let mut wheel_tags = reader.wheel_info.tags().unwrap_or_default();
    wheel_tags.sort();
    if wheel_tags != filename_tags {
        let render = |tags: &[Tag]| {
            tags.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        problems.push(format!(
            "WHEEL lists the tags [{}] but the filename says [{}]",
            render(&wheel_tags),
            render(&filename_tags)
        ));
    }

    let mut rows: HashMap<String, _> = reader
        .record
        .entries
        .iter()
        .map(|entry| (entry.path.clone(), entry.clone()))
        .collect();
    let record_path = format!("{}/RECORD", reader.dist_info);
    if rows.remove(&record_path).is_none() {
        problems.push(format!("RECORD does not list itself (`{record_path}`)"));
    }
    let mut files_checked = 0;
    let mut bytes_checked = 0;
    for entry in reader.entries.clone() {
        if entry.is_dir || is_record_or_signature(&entry.name, &reader.dist_info) {
            rows.remove(&entry.name);
            continue;
        }
        let Some(row) = rows.remove(&entry.name) else {
            problems.push(format!("`{}` is in the archive but not in RECORD", entry.name));
            continue;
        };
        let Some(expected) = row.hash else {
            problems.push(format!("RECORD gives no hash for `{}`", entry.name));
            continue;
        };
        let mut hasher = expected.algorithm.hasher();
        let size = reader
            .inflate_into(&entry, &mut hasher)
            .map_err(|kind| WheelError::new(path, kind))?;
        files_checked += 1;
        bytes_checked += size;
        let actual = hasher.finish();
        if actual != expected {
            problems.push(format!(
                "`{}` has hash {actual} but RECORD says {expected}",
                entry.name
            ));
        }
        match row.size {
            Some(listed) if listed != size => {
                problems.push(format!(
                    "`{}` is {size} bytes but RECORD says {listed}",
                    entry.name
                ));
            }
            None => problems.push(format!("RECORD gives no size for `{}`", entry.name)),
            _ => {}
        }
    }
    let mut missing: Vec<String> = rows.into_keys().collect();
    missing.sort();
    for path in missing {
        problems.push(format!("RECORD lists `{path}` but the archive does not hold it"));
    }
    Ok(VerifyReport {
        wheel: path.to_path_buf(),
        files_checked,
        bytes_checked,
        problems,
    })
}
