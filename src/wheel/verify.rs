//! `verify`: the filename against `.dist-info`, METADATA and WHEEL, and every RECORD row.

use std::collections::HashMap;
use std::path::Path;

use serde::Serialize;

use super::WheelError;
use super::reader::{Entry, Limits, WheelReader};
use crate::spec::filename::Tag;
use crate::spec::record::{RecordHash, is_record_or_signature};

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

/// One member to hash, with what RECORD says about it.
#[derive(Debug, Clone)]
pub struct Expected {
    pub entry: Entry,
    /// The entry's position in the archive.
    pub position: usize,
    pub hash: RecordHash,
    pub size: Option<u64>,
}

/// What verification needs computed: the members to hash, and the problems already found
/// without reading any member: about the whole wheel (tags, RECORD itself), about members
/// (unlisted, rows without a hash; with their position in the archive, so that the report
/// follows the archive's order), and RECORD rows of missing files.
#[derive(Debug, Clone)]
pub struct Plan {
    pub expected: Vec<Expected>,
    pub head: Vec<String>,
    pub at: Vec<(usize, String)>,
    pub tail: Vec<String>,
}

/// Compares filename, WHEEL and RECORD, and lists the members whose hashes must be checked.
pub fn plan(reader: &WheelReader) -> Plan {
    let mut problems = Vec::new();
    let mut at = Vec::new();
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
    let mut expected = Vec::new();
    for (position, entry) in reader.entries.iter().enumerate() {
        if entry.is_dir || is_record_or_signature(&entry.name, &reader.dist_info) {
            rows.remove(&entry.name);
            continue;
        }
        let Some(row) = rows.remove(&entry.name) else {
            at.push((
                position,
                format!("`{}` is in the archive but not in RECORD", entry.name),
            ));
            continue;
        };
        let Some(hash) = row.hash else {
            at.push((position, format!("RECORD gives no hash for `{}`", entry.name)));
            continue;
        };
        expected.push(Expected {
            entry: entry.clone(),
            position,
            hash,
            size: row.size,
        });
    }
    let mut missing: Vec<String> = rows.into_keys().collect();
    missing.sort();
    let tail = missing
        .into_iter()
        .map(|path| format!("RECORD lists `{path}` but the archive does not hold it"))
        .collect();
    Plan {
        expected,
        head: problems,
        at,
        tail,
    }
}

/// Judges the computed (hash, size) of each planned member, in the plan's order.
pub fn judge(path: &Path, plan: Plan, computed: &[(RecordHash, u64)]) -> VerifyReport {
    let mut at = plan.at;
    let mut bytes_checked = 0;
    for (expected, (actual, size)) in plan.expected.iter().zip(computed) {
        bytes_checked += size;
        let name = &expected.entry.name;
        let position = expected.position;
        if *actual != expected.hash {
            at.push((
                position,
                format!("`{name}` has hash {actual} but RECORD says {}", expected.hash),
            ));
        }
        match expected.size {
            Some(listed) if listed != *size => {
                at.push((
                    position,
                    format!("`{name}` is {size} bytes but RECORD says {listed}"),
                ));
            }
            None => at.push((position, format!("RECORD gives no size for `{name}`"))),
            _ => {}
        }
    }
    at.sort_by_key(|(position, _)| *position);
    let mut problems = plan.head;
    problems.extend(at.into_iter().map(|(_, problem)| problem));
    problems.extend(plan.tail);
    VerifyReport {
        wheel: path.to_path_buf(),
        files_checked: computed.len(),
        bytes_checked,
        problems,
    }
}

/// Checks a wheel. Structural problems (not a zip, unsafe entries, missing or mismatched
/// `.dist-info`, METADATA disagreeing with the filename, a member that cannot be inflated or
/// fails its CRC-32) are errors; content problems (hashes, sizes, unlisted files, tags) are
/// collected in the report. Members are inflated and hashed on every core, the largest first.
pub fn verify_wheel(path: &Path, limits: Limits) -> Result<VerifyReport, WheelError> {
    let mut reader = WheelReader::open(path, limits)?;
    let plan = plan(&reader);
    let error = |kind| WheelError::new(path, kind);
    let mut work = Vec::with_capacity(plan.expected.len());
    for expected in &plan.expected {
        work.push((
            reader.span(&expected.entry).map_err(error)?,
            expected.hash.algorithm,
        ));
    }
    let digests =
        super::inflate::digest_members(path, &work, crate::inspect::default_jobs()).map_err(error)?;
    let mut computed = Vec::with_capacity(digests.len());
    for digest in digests {
        let digest = digest.map_err(error)?;
        computed.push((digest.hash, digest.size));
    }
    Ok(judge(path, plan, &computed))
}
