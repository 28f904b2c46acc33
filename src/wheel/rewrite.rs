//! Rewriting a wheel: new version, requirements and tags, with untouched entries copied raw.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::reader::{Entry, Limits, WheelReader};
use super::writer::{PlaceOptions, WheelWriter, copy_atomically};
use super::{WheelError, WheelErrorKind};
use crate::spec::filename::TagSet;
use crate::spec::record::{HashAlgorithm, RecordEntry, is_record_or_signature};
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

    if !changed {
        if output_is_input || rewrite.is_empty() {
            outcome.output = input;
            return Ok(outcome);
        }
        if output.exists() && !overwrite {
            return Err(WheelErrorKind::OutputExists(output));
        }
        copy_atomically(&input, &output, place)?;
        outcome.status = OutcomeStatus::Copied;
        return Ok(outcome);
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
        let replaced_by_new = entry
            .name
            .strip_prefix(&format!("{old_dist_info}/"))
            .is_some_and(|file| added_files.iter().any(|(name, _)| name == file));
        if replaced_by_new {
            listed.remove(entry.name.as_str());
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
            listed.remove(entry.name.as_str());
            let options = reader.archive.by_index_raw(entry.index)?.options();
            writer.write_file(&new_name, bytes, options)?;
            continue;
        }
        let record_entry = if entry.is_dir {
            None
        } else {
            match listed.remove(entry.name.as_str()) {
                Some(row) if row.hash.is_some() => Some(RecordEntry {
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
