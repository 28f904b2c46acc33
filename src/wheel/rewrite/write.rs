//! Writing the rewritten wheel: the old members copied raw under their new names (METADATA
//! and WHEEL written anew when they changed), every RECORD row checked on the way, the new
//! `.dist-info` files, a new RECORD, then the wheel put in place.

use std::collections::HashMap;

use zip::write::SimpleFileOptions;

use super::{
    MemberDigest, Outcome, Planned, RecordMismatch, Rewrite, Target, describe_mismatches, digest, judge_row,
};
use crate::spec::record::{HashAlgorithm, RecordEntry, is_record_or_signature};
use crate::wheel::WheelErrorKind;
use crate::wheel::reader::{Entry, WheelReader};
use crate::wheel::writer::{PlaceOptions, WheelWriter};

/// How member names of the old wheel become names in the new one: its `.dist-info` and
/// `.data` directories follow the new name and version.
struct Renames {
    old_dist_info: String,
    new_dist_info: String,
    old_data: Option<String>,
    new_data: String,
}

impl Renames {
    fn rename(&self, name: &str) -> String {
        match name.split_once('/') {
            Some((first, rest)) if first == self.old_dist_info => format!("{}/{rest}", self.new_dist_info),
            Some((first, rest)) if Some(first) == self.old_data.as_deref() => {
                format!("{}/{rest}", self.new_data)
            }
            _ => name.to_string(),
        }
    }
}

/// What the copy of the old members needs to know of the new wheel.
struct NewMembers<'a> {
    renames: Renames,
    metadata_path: String,
    wheel_path: String,
    /// The new METADATA, when it changed.
    metadata: Option<Vec<u8>>,
    /// The new WHEEL, when it changed.
    wheel: Option<Vec<u8>>,
    /// `.dist-info` files written afresh: their old members are not copied.
    added_files: &'a [(String, Vec<u8>)],
    /// Members written anew from files, already deflated (old name -> member).
    precompressed: HashMap<String, std::sync::Arc<crate::wheel::writer::Precompressed>>,
    accept_bad_record: bool,
}

impl NewMembers<'_> {
    /// Whether the member is replaced by one of the added `.dist-info` files.
    fn replaced_by_added_file(&self, name: &str) -> bool {
        name.strip_prefix(&format!("{}/", self.renames.old_dist_info))
            .is_some_and(|file| self.added_files.iter().any(|(name, _)| name == file))
    }

    /// The new bytes of METADATA or WHEEL, when `name` is one of them and it changed.
    fn replacement(&self, name: &str) -> Option<&Vec<u8>> {
        if name == self.metadata_path {
            self.metadata.as_ref()
        } else if name == self.wheel_path {
            self.wheel.as_ref()
        } else {
            None
        }
    }
}

/// What copying the members found out about the old RECORD.
#[derive(Default)]
struct RecordRepairs {
    /// The zip options of the old RECORD, for the new one.
    record_options: Option<SimpleFileOptions>,
    /// Notes on members dropped (signatures of the old RECORD).
    notes: Vec<String>,
    /// Members RECORD did not list or did not hash.
    unlisted: Vec<String>,
    /// Rows whose hash or size does not match their member.
    mismatches: Vec<RecordMismatch>,
    /// Paths RECORD listed that are not in the archive.
    missing: Vec<String>,
}

/// Checks a member's RECORD row against its true hash (known from `digests`, or inflated
/// now); a row that lies is added to `mismatches` and the corrected row returned.
fn check_row(
    reader: &mut WheelReader,
    entry: &Entry,
    row: Option<&RecordEntry>,
    new_name: &str,
    digests: &mut HashMap<String, MemberDigest>,
    mismatches: &mut Vec<RecordMismatch>,
) -> Result<Option<RecordEntry>, WheelErrorKind> {
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
            return Ok(Some(RecordEntry {
                path: new_name.to_string(),
                hash: Some(computed.hash),
                size: Some(computed.size),
            }));
        }
    }
    Ok(None)
}

/// The new RECORD row of a member copied raw: the corrected row, the old row renamed, or
/// (not listed, or listed without a hash) a row hashed now, the member added to `unlisted`.
fn copied_row(
    reader: &mut WheelReader,
    entry: &Entry,
    row: Option<&RecordEntry>,
    corrected: Option<RecordEntry>,
    new_name: &str,
    unlisted: &mut Vec<String>,
) -> Result<Option<RecordEntry>, WheelErrorKind> {
    if entry.is_dir {
        return Ok(None);
    }
    Ok(Some(match (row, corrected) {
        (_, Some(corrected)) => corrected,
        (Some(row), None) if row.hash.is_some() => RecordEntry {
            path: new_name.to_string(),
            ..row.clone()
        },
        _ => {
            // Not listed, or listed without a hash: hash it now.
            let mut hasher = HashAlgorithm::Sha256.hasher();
            let size = reader.inflate_into(entry, &mut hasher)?;
            unlisted.push(entry.name.clone());
            RecordEntry {
                path: new_name.to_string(),
                hash: Some(hasher.finish()),
                size: Some(size),
            }
        }
    }))
}

/// Copies the members of the old wheel into `writer` (raw, or METADATA and WHEEL anew),
/// renamed, checking every RECORD row on the way. Once a row lies and that is not accepted,
/// nothing more is written: only the check goes on, to name every bad row.
fn copy_members(
    reader: &mut WheelReader,
    writer: &mut WheelWriter,
    new: &NewMembers,
    mut digests: HashMap<String, MemberDigest>,
) -> Result<RecordRepairs, WheelErrorKind> {
    let entries: Vec<Entry> = reader.entries.clone();
    let old_record = std::mem::take(&mut reader.record);
    let mut listed: HashMap<&str, &RecordEntry> = old_record
        .entries
        .iter()
        .map(|entry| (entry.path.as_str(), entry))
        .collect();
    let mut repairs = RecordRepairs::default();
    for entry in &entries {
        let new_name = new.renames.rename(&entry.name);
        if is_record_or_signature(&entry.name, &reader.dist_info) {
            if !entry.name.ends_with("/RECORD") {
                repairs.notes.push(format!(
                    "dropped the signature `{}`: it signs the old RECORD",
                    entry.name
                ));
            } else {
                repairs.record_options = Some(reader.archive.by_index_raw(entry.index)?.options());
            }
            listed.remove(entry.name.as_str());
            continue;
        }
        // Every member RECORD hashes is checked, raw copies and replaced files alike: a row
        // that lies means the wheel was changed after it was built, or is damaged. Each is
        // inflated once, here, just before its compressed bytes are copied.
        let row = listed.remove(entry.name.as_str());
        let corrected = check_row(
            reader,
            entry,
            row,
            &new_name,
            &mut digests,
            &mut repairs.mismatches,
        )?;
        if !repairs.mismatches.is_empty() && !new.accept_bad_record {
            // Refused: only the check goes on, to name every bad row.
            continue;
        }
        if new.replaced_by_added_file(&entry.name) {
            continue;
        }
        if let Some(bytes) = new.replacement(&entry.name) {
            let options = reader.archive.by_index_raw(entry.index)?.options();
            writer.write_file(&new_name, bytes, options)?;
            continue;
        }
        if let Some(member) = new.precompressed.get(&entry.name) {
            writer.copy_precompressed(member, &new_name)?;
            continue;
        }
        let record_entry = copied_row(reader, entry, row, corrected, &new_name, &mut repairs.unlisted)?;
        let file = reader.archive.by_index_raw(entry.index)?;
        writer.raw_copy(file, &new_name, record_entry)?;
    }
    repairs.missing = listed.keys().map(|path| path.to_string()).collect();
    Ok(repairs)
}

/// Says in `outcome` what the new RECORD repairs: rows that lied (accepted), files it did not
/// list, paths it listed that are not there.
fn report_repairs(repairs: RecordRepairs, outcome: &mut Outcome) {
    let RecordRepairs {
        notes,
        unlisted,
        mismatches,
        mut missing,
        ..
    } = repairs;
    outcome.notes.extend(notes);
    if !mismatches.is_empty() {
        let names: Vec<String> = mismatches
            .iter()
            .map(|mismatch| format!("`{}`", mismatch.member))
            .collect();
        outcome.changes.push(format!(
            "RECORD: the true hash and size of {} whose row did not match (--accept-bad-record): {}",
            crate::words::count(mismatches.len(), "member"),
            names.join(", ")
        ));
        outcome.notes.push(format!(
            "RECORD did not match the content ({}); the new RECORD has the true hashes, as --accept-bad-record asked",
            describe_mismatches(&mismatches)
        ));
    }
    if !unlisted.is_empty() {
        outcome.notes.push(format!(
            "RECORD did not list (or hash) {}; added them: {}",
            crate::words::count(unlisted.len(), "file"),
            unlisted.join(", ")
        ));
    }
    if !missing.is_empty() {
        missing.sort_unstable();
        outcome.notes.push(format!(
            "RECORD listed {} not in the archive; dropped them: {}",
            crate::words::count(missing.len(), "path"),
            missing.join(", ")
        ));
    }
}

/// Deflates the members written anew from files, in parallel (each in a one-entry zip beside
/// the new wheel), with the zip options of the member they replace.
fn precompress_members(
    reader: &WheelReader,
    member_files: &[(String, std::path::PathBuf)],
    directory: &std::path::Path,
) -> Result<HashMap<String, crate::wheel::writer::Precompressed>, WheelErrorKind> {
    let mut jobs = Vec::new();
    for (name, path) in member_files {
        let entry = reader.entry(name).ok_or_else(|| {
            WheelErrorKind::Io(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("no member `{name}` to replace"),
            ))
        })?;
        jobs.push((name.clone(), path.clone(), entry.index));
    }
    let mut options = Vec::new();
    for (_, _, index) in &jobs {
        // `options()` needs the archive mutably: read them before the threads start.
        options.push(reader_options(reader, *index)?);
    }
    let work: Vec<(String, std::path::PathBuf, SimpleFileOptions)> = jobs
        .into_iter()
        .zip(options)
        .map(|((name, path, _), options)| (name, path, options))
        .collect();
    let threads = crate::inspect::default_jobs().min(work.len().max(1));
    let results = crate::parallel::parallel_map(&work, threads, &|(name, path, options)| {
        crate::wheel::writer::precompress(path, directory, *options).map(|member| (name.clone(), member))
    });
    results.into_iter().collect()
}

/// The zip options of entry `index` (its method and times), read without inflating it.
fn reader_options(reader: &WheelReader, index: usize) -> Result<SimpleFileOptions, WheelErrorKind> {
    let mut archive = zip::ZipArchive::new(fs_err::File::open(&reader.path)?.into_file())?;
    let options = archive.by_index_raw(index)?.options();
    Ok(options)
}

/// Writes the new wheel: the old members copied (RECORD checked), the new `.dist-info` files,
/// a new RECORD; then puts it in place, removing the input when rewritten in place under a
/// new name.
pub(super) fn write_anew(
    reader: &mut WheelReader,
    rewrite: &Rewrite,
    planned: &Planned,
    target: &Target,
    place: PlaceOptions,
    digests: HashMap<String, MemberDigest>,
    outcome: &mut Outcome,
) -> Result<(), WheelErrorKind> {
    let new_dist_info = planned.new_filename.dist_info_dir();
    let new = NewMembers {
        renames: Renames {
            old_dist_info: reader.dist_info.clone(),
            new_dist_info: new_dist_info.clone(),
            old_data: reader.data_dir(),
            new_data: planned.new_filename.data_dir(),
        },
        metadata_path: format!("{}/METADATA", reader.dist_info),
        wheel_path: format!("{}/WHEEL", reader.dist_info),
        metadata: planned.metadata_changed.then(|| planned.metadata.to_bytes()),
        wheel: planned.wheel_changed.then(|| planned.wheel_info.to_bytes()),
        added_files: &planned.added_files,
        precompressed: precompress_members(reader, &rewrite.member_files, &target.directory)?
            .into_iter()
            .map(|(name, member)| (name, std::sync::Arc::new(member)))
            .chain(rewrite.prepared.iter().cloned())
            .collect(),
        accept_bad_record: rewrite.accept_bad_record,
    };

    let mut writer = WheelWriter::create_in(&target.directory)?;
    let repairs = copy_members(reader, &mut writer, &new, digests)?;
    if !repairs.mismatches.is_empty() && !rewrite.accept_bad_record {
        // Dropping the writer removes its temporary file: nothing is written.
        return Err(WheelErrorKind::BadRecord(repairs.mismatches));
    }
    let record_options = repairs.record_options.unwrap_or_default();
    report_repairs(repairs, outcome);
    for (name, bytes) in &planned.added_files {
        writer.write_file(&format!("{new_dist_info}/{name}"), bytes, record_options)?;
    }
    let input = &reader.path;
    let permissions = fs_err::metadata(input)
        .ok()
        .map(|metadata| metadata.permissions());
    let place = PlaceOptions {
        overwrite: place.overwrite || (target.in_place && target.is_input),
        ..place
    };
    writer.finish(
        &format!("{new_dist_info}/RECORD"),
        record_options,
        permissions,
        &target.output,
        place,
    )?;
    if target.in_place && !target.is_input {
        fs_err::remove_file(input)?;
    }
    Ok(())
}
