//! Rewriting a wheel: new version, requirements and tags, with untouched entries copied raw.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::reader::{Entry, Limits, WheelReader};
use super::writer::{PlaceOptions, WheelWriter, copy_atomically};
use super::{WheelError, WheelErrorKind};
use crate::spec::filename::TagSet;
use crate::spec::record::{HashAlgorithm, RecordEntry, RecordHash, is_record_or_signature};
use crate::spec::requirements::{RequirementEdit, plan};
use crate::spec::version::{add_local_tag, insert_local_label};

/// Replacement tags; a value starting with `+` adds to the existing tags instead.
#[derive(Debug, Clone, Default)]
pub struct TagChange {
    pub python: Option<String>,
    pub abi: Option<String>,
    pub platform: Option<String>,
}

impl TagChange {
    pub fn is_empty(&self) -> bool {
        self.python.is_none() && self.abi.is_none() && self.platform.is_none()
    }

    fn apply(&self, tags: &TagSet) -> Result<TagSet, String> {
        fn one(current: &[String], change: Option<&String>, what: &str) -> Result<Vec<String>, String> {
            let Some(change) = change else {
                return Ok(current.to_vec());
            };
            let (mut result, added) = match change.strip_prefix('+') {
                Some(added) => (current.to_vec(), added),
                None => (Vec::new(), change.as_str()),
            };
            for tag in added.split('.') {
                if tag.is_empty() || !tag.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    return Err(format!(
                        "the {what} tag `{tag}` may hold only letters, digits and `_`"
                    ));
                }
                if !result.iter().any(|existing| existing == tag) {
                    result.push(tag.to_string());
                }
            }
            Ok(result)
        }
        Ok(TagSet {
            python: one(&tags.python, self.python.as_ref(), "python")?,
            abi: one(&tags.abi, self.abi.as_ref(), "ABI")?,
            platform: one(&tags.platform, self.platform.as_ref(), "platform")?,
        })
    }
}

/// Everything a rewrite may change.
#[derive(Debug, Clone, Default)]
pub struct Rewrite {
    /// The site's local version label to insert (`computecanada`).
    pub local_label: Option<String>,
    /// A tag to put first in the local version (`torch26`).
    pub local_tag: Option<String>,
    pub requirement_edits: Vec<RequirementEdit>,
    pub tags: TagChange,
    /// Files to write into the `.dist-info` directory (file name, bytes), replacing any of
    /// the same name: wheelwright's build record.
    pub dist_info_files: Vec<(String, Vec<u8>)>,
    /// Rewrite a wheel whose RECORD does not match its members, with the true hashes and
    /// sizes in the new RECORD. Without it such a wheel is refused: its content was changed
    /// after it was built, or is damaged.
    pub accept_bad_record: bool,
}

impl Rewrite {
    /// Whether any change was asked for at all.
    pub fn is_empty(&self) -> bool {
        self.local_label.is_none()
            && self.local_tag.is_none()
            && self.requirement_edits.is_empty()
            && self.tags.is_empty()
    }
}

/// A member whose content does not match its RECORD row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMismatch {
    pub member: String,
    pub recorded_hash: RecordHash,
    pub recorded_size: Option<u64>,
    pub actual_hash: RecordHash,
    pub actual_size: u64,
}

impl std::fmt::Display for RecordMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.recorded_size {
            Some(recorded_size) => write!(
                f,
                "`{}` has {} ({} bytes) but RECORD says {} ({recorded_size} bytes)",
                self.member, self.actual_hash, self.actual_size, self.recorded_hash
            ),
            None => write!(
                f,
                "`{}` has {} but RECORD says {}",
                self.member, self.actual_hash, self.recorded_hash
            ),
        }
    }
}

/// The first few mismatches, and how many more there are.
pub fn describe_mismatches(mismatches: &[RecordMismatch]) -> String {
    const SHOWN: usize = 5;
    let shown: Vec<String> = mismatches.iter().take(SHOWN).map(ToString::to_string).collect();
    let more = mismatches.len().saturating_sub(SHOWN);
    if more > 0 {
        format!("{} (and {more} more)", shown.join("; "))
    } else {
        shown.join("; ")
    }
}

/// A member's true hash (in its RECORD row's algorithm) and size.
#[derive(Debug, Clone)]
struct MemberDigest {
    hash: RecordHash,
    size: u64,
}

/// What checking RECORD against every member found: the true digests by entry name, and the
/// rows they contradict.
struct RecordCheck {
    digests: HashMap<String, MemberDigest>,
    mismatches: Vec<RecordMismatch>,
}

/// Inflates a member once to hash it.
fn digest(
    reader: &mut WheelReader,
    entry: &Entry,
    algorithm: HashAlgorithm,
) -> Result<MemberDigest, WheelErrorKind> {
    let mut hasher = algorithm.hasher();
    let size = reader.inflate_into(entry, &mut hasher)?;
    Ok(MemberDigest {
        hash: hasher.finish(),
        size,
    })
}

/// The mismatch between a RECORD row and a member's true hash and size, if any.
fn judge_row(
    entry: &Entry,
    recorded_hash: &RecordHash,
    recorded_size: Option<u64>,
    actual: &MemberDigest,
) -> Option<RecordMismatch> {
    let matches = actual.hash == *recorded_hash && recorded_size.is_none_or(|size| size == actual.size);
    (!matches).then(|| RecordMismatch {
        member: entry.name.clone(),
        recorded_hash: recorded_hash.clone(),
        recorded_size,
        actual_hash: actual.hash.clone(),
        actual_size: actual.size,
    })
}

/// Hashes every member RECORD gives a hash for, in archive order (one inflate each).
fn check_record(reader: &mut WheelReader) -> Result<RecordCheck, WheelErrorKind> {
    let rows: HashMap<String, RecordEntry> = reader
        .record
        .entries
        .iter()
        .map(|row| (row.path.clone(), row.clone()))
        .collect();
    let entries = reader.entries.clone();
    let mut digests = HashMap::new();
    let mut mismatches = Vec::new();
    for entry in entries.iter().filter(|entry| !entry.is_dir) {
        if is_record_or_signature(&entry.name, &reader.dist_info) {
            continue;
        }
        let Some(row) = rows.get(&entry.name) else {
            continue;
        };
        let Some(recorded_hash) = &row.hash else { continue };
        let computed = digest(reader, entry, recorded_hash.algorithm)?;
        mismatches.extend(judge_row(entry, recorded_hash, row.size, &computed));
        digests.insert(entry.name.clone(), computed);
    }
    Ok(RecordCheck { digests, mismatches })
}

/// Where a rewritten wheel goes.
#[derive(Debug, Clone)]
pub enum Destination {
    /// Replace the input (and remove it when the name changes).
    InPlace,
    /// Write into this directory; the input stays.
    Directory(PathBuf),
}

/// What happened to one wheel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OutcomeStatus {
    /// A new wheel was written.
    Written,
    /// Nothing needed changing and the output is the input.
    Unchanged,
    /// Nothing needed changing; the input was copied to the output directory.
    Copied,
}

/// The result of rewriting one wheel.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub input: PathBuf,
    pub output: PathBuf,
    pub status: OutcomeStatus,
    pub old_version: String,
    pub new_version: String,
    pub old_filename: String,
    pub new_filename: String,
    pub changes: Vec<String>,
    pub notes: Vec<String>,
    pub requirements: Vec<String>,
}

/// Rewrites `input` as `rewrite` says, writing to `destination`.
pub fn rewrite_wheel(
    input: &Path,
    rewrite: &Rewrite,
    destination: &Destination,
    place: PlaceOptions,
    limits: Limits,
) -> Result<Outcome, WheelError> {
    let mut reader = WheelReader::open(input, limits)?;
    rewrite_opened(&mut reader, rewrite, destination, place).map_err(|kind| WheelError::new(input, kind))
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (fs_err::canonicalize(a), fs_err::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

fn rewrite_opened(
    reader: &mut WheelReader,
    rewrite: &Rewrite,
    destination: &Destination,
    place: PlaceOptions,
) -> Result<Outcome, WheelErrorKind> {
    let overwrite = place.overwrite;
    let old_filename = reader.filename.clone();
    let mut changes = Vec::new();
    let mut notes = Vec::new();

    // The version.
    let old_version = old_filename.version().clone();
    let mut version = old_version.clone();
    if let Some(tag) = &rewrite.local_tag {
        version = add_local_tag(&version, tag)?;
    }
    if let Some(label) = &rewrite.local_label {
        version = insert_local_label(&version, label)?;
    }
    let mut metadata = reader.metadata.clone();
    if version != old_version {
        metadata.set_version(&version);
        changes.push(format!("version {old_version} -> {version}"));
    }

    // The requirements.
    let requirement_plan = plan(&metadata.requires_dist(), &rewrite.requirement_edits)?;
    metadata.apply_requirements(&requirement_plan);
    changes.extend(requirement_plan.changes.iter().cloned());
    notes.extend(requirement_plan.notes.iter().cloned());

    // The tags.
    let tags = rewrite
        .tags
        .apply(&old_filename.tags)
        .map_err(WheelErrorKind::Retag)?;
    let mut wheel_info = reader.wheel_info.clone();
    if !rewrite.tags.is_empty() {
        let lines_changed = wheel_info.set_tags(&tags);
        if tags.is_pure() != old_filename.tags.is_pure() {
            wheel_info.set_root_is_purelib(tags.is_pure());
        }
        if tags != old_filename.tags || lines_changed {
            changes.push(format!("tags {} -> {}", old_filename.tags, tags));
        }
    }

    let new_filename = old_filename.with_version(&version).with_tags(tags);
    let metadata_bytes = metadata.to_bytes();
    let wheel_bytes = wheel_info.to_bytes();
    let mut added_files = Vec::new();
    for (name, bytes) in &rewrite.dist_info_files {
        let path = format!("{}/{name}", reader.dist_info);
        let unchanged = reader.entry(&path).is_some()
            && reader.read_member(&path).ok().as_deref() == Some(bytes.as_slice());
        if !unchanged {
            changes.push(format!("wrote {name} into .dist-info"));
            added_files.push((name.clone(), bytes.clone()));
        }
    }
    let metadata_changed = metadata != reader.metadata;
    let wheel_changed = wheel_info != reader.wheel_info;
    let changed = metadata_changed
        || wheel_changed
        || !added_files.is_empty()
        || new_filename.to_string() != old_filename.to_string();

    let input = reader.path.clone();
    let directory = match destination {
        Destination::InPlace => input
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf(),
        Destination::Directory(directory) => directory.clone(),
    };
    let output = directory.join(new_filename.to_string());
    let output_is_input = output.exists() && same_file(&output, &input);
    let mut outcome = Outcome {
        input: input.clone(),
        output: output.clone(),
        status: OutcomeStatus::Unchanged,
        old_version: old_version.to_string(),
        new_version: version.to_string(),
        old_filename: old_filename.to_string(),
        new_filename: new_filename.to_string(),
        changes,
        notes,
        requirements: metadata.requires_dist(),
    };

    // The true hashes of members, when known before the rewrite.
    let mut digests = HashMap::new();
    if !changed {
        if output_is_input || rewrite.is_empty() {
            outcome.output = input;
            return Ok(outcome);
        }
        if output.exists() && !overwrite {
            return Err(WheelErrorKind::OutputExists(output));
        }
        // A copy passes the wheel on as it is: only one whose RECORD is true.
        let check = check_record(reader)?;
        if check.mismatches.is_empty() {
            copy_atomically(&input, &output, place)?;
            outcome.status = OutcomeStatus::Copied;
            return Ok(outcome);
        }
        if !rewrite.accept_bad_record {
            return Err(WheelErrorKind::BadRecord(check.mismatches));
        }
        // Accepted: written anew, with the true hashes, below.
        digests = check.digests;
    }

    let in_place = matches!(destination, Destination::InPlace);
    if output_is_input && !in_place {
        return Err(WheelErrorKind::WouldReplaceInput);
    }
    if output.exists() && !output_is_input && !overwrite {
        return Err(WheelErrorKind::OutputExists(output));
    }

    let new_dist_info = new_filename.dist_info_dir();
    let old_data = reader.data_dir();
    let new_data = new_filename.data_dir();
    let old_dist_info = reader.dist_info.clone();
    let rename = |name: &str| -> String {
        match name.split_once('/') {
            Some((first, rest)) if first == old_dist_info => format!("{new_dist_info}/{rest}"),
            Some((first, rest)) if Some(first) == old_data.as_deref() => format!("{new_data}/{rest}"),
            _ => name.to_string(),
        }
    };
    let metadata_path = format!("{}/METADATA", reader.dist_info);
    let wheel_path = format!("{}/WHEEL", reader.dist_info);

    let mut writer = WheelWriter::create_in(&directory)?;
    let entries: Vec<Entry> = reader.entries.clone();
    let old_record = std::mem::take(&mut reader.record);
    let mut listed: std::collections::HashMap<&str, &RecordEntry> = old_record
        .entries
        .iter()
        .map(|entry| (entry.path.as_str(), entry))
        .collect();
    let mut record_options = None;
    let mut unlisted = Vec::new();
    let mut mismatches: Vec<RecordMismatch> = Vec::new();
    for entry in &entries {
        let new_name = rename(&entry.name);
        if is_record_or_signature(&entry.name, &reader.dist_info) {
            if !entry.name.ends_with("/RECORD") {
                outcome.notes.push(format!(
                    "dropped the signature `{}`: it signs the old RECORD",
                    entry.name
                ));
            } else {
                record_options = Some(reader.archive.by_index_raw(entry.index)?.options());
            }
            listed.remove(entry.name.as_str());
            continue;
        }
        // Every member RECORD hashes is checked, raw copies and replaced files alike: a row
        // that lies means the wheel was changed after it was built, or is damaged. Each is
        // inflated once, here, just before its compressed bytes are copied.
        let row = listed.remove(entry.name.as_str());
        let mut corrected = None;
        if !entry.is_dir
            && let Some(row) = row
            && let Some(recorded_hash) = &row.hash
        {
            let computed = match digests.remove(&entry.name) {
                Some(known) => known,
                None => digest(reader, entry, recorded_hash.algorithm)?,
            };
            if let Some(mismatch) = judge_row(entry, recorded_hash, row.size, &computed) {
                mismatches.push(mismatch);
                corrected = Some(RecordEntry {
                    path: new_name.clone(),
                    hash: Some(computed.hash),
                    size: Some(computed.size),
                });
            }
        }
        if !mismatches.is_empty() && !rewrite.accept_bad_record {
            // Refused: only the check goes on, to name every bad row.
            continue;
        }
        let replaced_by_new = entry
            .name
            .strip_prefix(&format!("{old_dist_info}/"))
            .is_some_and(|file| added_files.iter().any(|(name, _)| name == file));
        if replaced_by_new {
            continue;
        }
        let replacement = if entry.name == metadata_path && metadata_changed {
            Some(&metadata_bytes)
        } else if entry.name == wheel_path && wheel_changed {
            Some(&wheel_bytes)
        } else {
            None
        };
        if let Some(bytes) = replacement {
            let options = reader.archive.by_index_raw(entry.index)?.options();
            writer.write_file(&new_name, bytes, options)?;
            continue;
        }
        let record_entry = if entry.is_dir {
            None
        } else {
            match (row, corrected) {
                (_, Some(corrected)) => Some(corrected),
                (Some(row), None) if row.hash.is_some() => Some(RecordEntry {
                    path: new_name.clone(),
                    ..row.clone()
                }),
                _ => {
                    // Not listed, or listed without a hash: hash it now.
                    let mut hasher = HashAlgorithm::Sha256.hasher();
                    let size = reader.inflate_into(entry, &mut hasher)?;
                    unlisted.push(entry.name.clone());
                    Some(RecordEntry {
                        path: new_name.clone(),
                        hash: Some(hasher.finish()),
                        size: Some(size),
                    })
                }
            }
        };
        let file = reader.archive.by_index_raw(entry.index)?;
        writer.raw_copy(file, &new_name, record_entry)?;
    }
    if !mismatches.is_empty() {
        if !rewrite.accept_bad_record {
            // Dropping the writer removes its temporary file: nothing is written.
            return Err(WheelErrorKind::BadRecord(mismatches));
        }
        let names: Vec<String> = mismatches
            .iter()
            .map(|mismatch| format!("`{}`", mismatch.member))
            .collect();
        outcome.changes.push(format!(
            "RECORD: the true hash and size of {} member(s) whose row did not match (--accept-bad-record): {}",
            mismatches.len(),
            names.join(", ")
        ));
        outcome.notes.push(format!(
            "RECORD did not match the content ({}); the new RECORD has the true hashes, as --accept-bad-record asked",
            describe_mismatches(&mismatches)
        ));
    }
    if !unlisted.is_empty() {
        outcome.notes.push(format!(
            "RECORD did not list (or hash) {} file(s); added them: {}",
            unlisted.len(),
            unlisted.join(", ")
        ));
    }
    let mut missing: Vec<&str> = listed.keys().copied().collect();
    if !missing.is_empty() {
        missing.sort_unstable();
        outcome.notes.push(format!(
            "RECORD listed {} path(s) not in the archive; dropped them: {}",
            missing.len(),
            missing.join(", ")
        ));
    }
    for (name, bytes) in &added_files {
        let options = record_options.unwrap_or_default();
        writer.write_file(&format!("{new_dist_info}/{name}"), bytes, options)?;
    }
    let permissions = fs_err::metadata(&input)
        .ok()
        .map(|metadata| metadata.permissions());
    let record_options = record_options.unwrap_or_default();
    let place = PlaceOptions {
        overwrite: overwrite || (in_place && output_is_input),
        ..place
    };
    writer.finish(
        &format!("{new_dist_info}/RECORD"),
        record_options,
        permissions,
        &output,
        place,
    )?;
    if in_place && !output_is_input {
        fs_err::remove_file(&input)?;
    }
    outcome.status = OutcomeStatus::Written;
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::record::Record;

    /// Writes `demo-<version>-py3-none-any.whl` into `directory`; RECORD gives `lie` as the
    /// content of `demo/data.txt` instead of its real bytes.
    fn wheel(directory: &Path, version: &str, lie: Option<&[u8]>) -> PathBuf {
        let dist_info = format!("demo-{version}.dist-info");
        let files: Vec<(String, Vec<u8>)> = vec![
            ("demo/__init__.py".into(), b"x = 1\n".to_vec()),
            ("demo/data.txt".into(), b"the real content\n".to_vec()),
            (
                format!("{dist_info}/METADATA"),
                format!("Metadata-Version: 2.1\nName: demo\nVersion: {version}\n").into_bytes(),
            ),
            (
                format!("{dist_info}/WHEEL"),
                b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n".to_vec(),
            ),
        ];
        let mut record = Record::default();
        let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default();
        for (name, bytes) in &files {
            writer.start_file(name.as_str(), options).unwrap();
            std::io::Write::write_all(&mut writer, bytes).unwrap();
            let listed = match lie {
                Some(lie) if name == "demo/data.txt" => lie,
                _ => bytes.as_slice(),
            };
            record.entries.push(RecordEntry {
                path: name.clone(),
                hash: Some(RecordHash::sha256(listed)),
                size: Some(listed.len() as u64),
            });
        }
        record.entries.push(RecordEntry {
            path: format!("{dist_info}/RECORD"),
            hash: None,
            size: None,
        });
        writer.start_file(format!("{dist_info}/RECORD"), options).unwrap();
        std::io::Write::write_all(&mut writer, &record.to_bytes()).unwrap();
        let path = directory.join(format!("demo-{version}-py3-none-any.whl"));
        fs_err::write(&path, writer.finish().unwrap().into_inner()).unwrap();
        path
    }

    fn label() -> Rewrite {
        Rewrite {
            local_label: Some("computecanada".into()),
            ..Rewrite::default()
        }
    }

    fn files_in(directory: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs_err::read_dir(directory)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_record_that_lies_is_refused_and_nothing_written() {
        let input = tempfile::tempdir().unwrap();
        let output = tempfile::tempdir().unwrap();
        let destination = Destination::Directory(output.path().to_path_buf());
        let options = PlaceOptions::default();
        // The same size, other bytes; then another size.
        for lie in [b"the fake content\n".as_slice(), b"short\n".as_slice()] {
            let path = wheel(input.path(), "1.0", Some(lie));
            let error = rewrite_wheel(&path, &label(), &destination, options, Limits::default()).unwrap_err();
            let WheelErrorKind::BadRecord(mismatches) = &error.kind else {
                panic!("{error}");
            };
            assert_eq!(mismatches.len(), 1, "{error}");
            assert_eq!(mismatches[0].member, "demo/data.txt");
            assert_eq!(
                mismatches[0].actual_hash,
                RecordHash::sha256(b"the real content\n")
            );
            assert_eq!(mismatches[0].recorded_hash, RecordHash::sha256(lie));
            let message = error.to_string();
            assert!(
                message.contains(&format!(
                    "`demo/data.txt` has {} (17 bytes) but RECORD says {} ({} bytes)",
                    RecordHash::sha256(b"the real content\n"),
                    RecordHash::sha256(lie),
                    lie.len()
                )),
                "{message}"
            );
            assert!(
                files_in(output.path()).is_empty(),
                "{:?}",
                files_in(output.path())
            );
        }
    }

    #[test]
    fn a_copy_checks_record_too() {
        // Nothing to change: the wheel would be copied as it is, which must not pass on a lie.
        let input = tempfile::tempdir().unwrap();
        let output = tempfile::tempdir().unwrap();
        let destination = Destination::Directory(output.path().to_path_buf());
        let path = wheel(input.path(), "1.0+computecanada", Some(b"lie\n"));
        let error = rewrite_wheel(
            &path,
            &label(),
            &destination,
            PlaceOptions::default(),
            Limits::default(),
        )
        .unwrap_err();
        assert!(matches!(error.kind, WheelErrorKind::BadRecord(_)), "{error}");
        assert!(files_in(output.path()).is_empty());
        // Accepted: rewritten (not copied) with the true hash.
        let rewrite = Rewrite {
            accept_bad_record: true,
            ..label()
        };
        let outcome = rewrite_wheel(
            &path,
            &rewrite,
            &destination,
            PlaceOptions::default(),
            Limits::default(),
        )
        .unwrap();
        assert_eq!(outcome.status, OutcomeStatus::Written);
        let report = crate::wheel::verify_wheel(&outcome.output, Limits::default()).unwrap();
        assert!(report.ok(), "{:?}", report.problems);
        // A true RECORD is copied.
        let good = wheel(input.path(), "2.0+computecanada", None);
        let outcome = rewrite_wheel(
            &good,
            &label(),
            &destination,
            PlaceOptions::default(),
            Limits::default(),
        )
        .unwrap();
        assert_eq!(outcome.status, OutcomeStatus::Copied);
    }

    #[test]
    fn accepted_bad_rows_get_the_true_hashes_and_say_so() {
        let input = tempfile::tempdir().unwrap();
        let output = tempfile::tempdir().unwrap();
        let path = wheel(input.path(), "1.0", Some(b"lie\n"));
        let rewrite = Rewrite {
            accept_bad_record: true,
            ..label()
        };
        let outcome = rewrite_wheel(
            &path,
            &rewrite,
            &Destination::Directory(output.path().to_path_buf()),
            PlaceOptions::default(),
            Limits::default(),
        )
        .unwrap();
        assert_eq!(outcome.status, OutcomeStatus::Written);
        assert!(
            outcome
                .changes
                .iter()
                .any(|change| change.contains("--accept-bad-record") && change.contains("`demo/data.txt`")),
            "{:?}",
            outcome.changes
        );
        assert!(
            outcome
                .notes
                .iter()
                .any(|note| note.contains(&format!("RECORD says {}", RecordHash::sha256(b"lie\n")))),
            "{:?}",
            outcome.notes
        );
        let report = crate::wheel::verify_wheel(&outcome.output, Limits::default()).unwrap();
        assert!(report.ok(), "{:?}", report.problems);
        // A true RECORD has nothing to say.
        let good = wheel(input.path(), "2.0", None);
        let outcome = rewrite_wheel(
            &good,
            &rewrite,
            &Destination::Directory(output.path().to_path_buf()),
            PlaceOptions::default(),
            Limits::default(),
        )
        .unwrap();
        assert!(
            outcome.changes.iter().all(|change| !change.contains("RECORD")),
            "{:?}",
            outcome.changes
        );
    }
}
