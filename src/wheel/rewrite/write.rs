//! Writing the rewritten wheel: the old members copied raw under their new names (METADATA
//! and WHEEL written anew when they changed), every RECORD row checked on the way, the new
//! `.dist-info` files, a new RECORD, then the wheel put in place.

use std::collections::{HashMap, HashSet};

use zip::write::SimpleFileOptions;

use super::{
    MemberDigest, Outcome, Planned, RecordMismatch, Rewrite, Target, describe_mismatches, judge_row,
};
use crate::spec::record::{HashAlgorithm, RecordEntry, is_record_or_signature};
use crate::wheel::WheelErrorKind;
use crate::wheel::inflate::digest_members;
use crate::wheel::reader::{Entry, Span, WheelReader};
use crate::wheel::writer::{PlaceOptions, RowSlot, WheelWriter};

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

    /// Whether the member's compressed bytes are copied as they are.
    fn copied_raw(&self, name: &str) -> bool {
        !self.replaced_by_added_file(name)
            && self.replacement(name).is_none()
            && !self.precompressed.contains_key(name)
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

/// A member copied raw whose RECORD row waits for the check of its content.
struct Pending {
    slot: RowSlot,
    /// Its place in the old wheel's entries.
    position: usize,
    new_name: String,
}

/// Copies the members of the old wheel into `writer` (raw, or METADATA and WHEEL anew),
/// renamed, in their order; the rows of raw copies are left to fill once their content is
/// checked.
fn copy_in_order(
    reader: &mut WheelReader,
    writer: &mut WheelWriter,
    new: &NewMembers,
    entries: &[Entry],
) -> Result<(RecordRepairs, Vec<Pending>), WheelErrorKind> {
    let mut repairs = RecordRepairs::default();
    let mut pending = Vec::new();
    for (position, entry) in entries.iter().enumerate() {
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
        let file = reader.archive.by_index_raw(entry.index)?;
        if entry.is_dir {
            writer.raw_copy(file, &new_name, None)?;
            continue;
        }
        let slot = writer.raw_copy_row_later(file, &new_name)?;
        pending.push(Pending {
            slot,
            position,
            new_name,
        });
    }
    Ok((repairs, pending))
}

/// Copies the members of the old wheel into `writer` (raw, or METADATA and WHEEL anew),
/// renamed, while other threads check every RECORD row against the content (members whose
/// digest is not known yet are inflated, `jobs` at a time, the largest first, and so are
/// members copied raw that RECORD does not hash). The new RECORD rows are filled once all are
/// checked. A row that lies is in the repairs' mismatches: the caller refuses the wheel
/// unless that was accepted.
fn copy_members(
    reader: &mut WheelReader,
    writer: &mut WheelWriter,
    new: &NewMembers,
    mut digests: HashMap<String, MemberDigest>,
    jobs: usize,
) -> Result<RecordRepairs, WheelErrorKind> {
    let entries: Vec<Entry> = reader.entries.clone();
    let old_record = std::mem::take(&mut reader.record);
    let listed: HashMap<&str, &RecordEntry> = old_record
        .entries
        .iter()
        .map(|entry| (entry.path.as_str(), entry))
        .collect();
    // Every member RECORD hashes is checked, raw copies and replaced files alike: a row
    // that lies means the wheel was changed after it was built, or is damaged.
    let mut work: Vec<(Span, HashAlgorithm)> = Vec::new();
    for entry in &entries {
        if entry.is_dir
            || is_record_or_signature(&entry.name, &reader.dist_info)
            || digests.contains_key(&entry.name)
        {
            continue;
        }
        let algorithm = match listed.get(entry.name.as_str()).and_then(|row| row.hash.as_ref()) {
            Some(hash) => hash.algorithm,
            None if new.copied_raw(&entry.name) => HashAlgorithm::Sha256,
            None => continue,
        };
        work.push((reader.span(entry)?, algorithm));
    }
    let path = reader.path.clone();
    let (copied, computed) = std::thread::scope(|scope| {
        let checker = scope.spawn(|| digest_members(&path, &work, jobs));
        let copied = copy_in_order(reader, writer, new, &entries);
        let computed = match checker.join() {
            Ok(computed) => computed,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        (copied, computed)
    });
    // A member that cannot be inflated is the error, the first in the archive's order.
    for ((span, _), computed) in work.iter().zip(computed?) {
        digests.insert(span.entry.name.clone(), computed?);
    }
    let (mut repairs, pending) = copied?;
    for entry in &entries {
        if entry.is_dir || is_record_or_signature(&entry.name, &reader.dist_info) {
            continue;
        }
        if let Some(row) = listed.get(entry.name.as_str())
            && let Some(recorded_hash) = &row.hash
            && let Some(computed) = digests.get(&entry.name)
        {
            repairs
                .mismatches
                .extend(judge_row(entry, recorded_hash, row.size, computed));
        }
    }
    if !repairs.mismatches.is_empty() && !new.accept_bad_record {
        return Ok(repairs);
    }
    let lied: HashSet<&str> = repairs
        .mismatches
        .iter()
        .map(|mismatch| mismatch.member.as_str())
        .collect();
    for Pending {
        slot,
        position,
        new_name,
    } in pending
    {
        let entry = &entries[position];
        let row = listed.get(entry.name.as_str()).filter(|row| row.hash.is_some());
        let computed = digests.get(&entry.name);
        let filled = match (row, computed) {
            (Some(_), Some(computed)) if lied.contains(entry.name.as_str()) => RecordEntry {
                path: new_name,
                hash: Some(computed.hash.clone()),
                size: Some(computed.size),
            },
            (Some(row), _) => RecordEntry {
                path: new_name,
                ..(*row).clone()
            },
            (None, Some(computed)) => {
                // Not listed, or listed without a hash: hashed now.
                repairs.unlisted.push(entry.name.clone());
                RecordEntry {
                    path: new_name,
                    hash: Some(computed.hash.clone()),
                    size: Some(computed.size),
                }
            }
            (None, None) => {
                return Err(WheelErrorKind::Io(std::io::Error::other(format!(
                    "`{}` was copied but never hashed",
                    entry.name
                ))));
            }
        };
        writer.fill_row(slot, filled);
    }
    let names: HashSet<&str> = entries.iter().map(|entry| entry.name.as_str()).collect();
    repairs.missing = listed
        .keys()
        .filter(|path| !names.contains(*path))
        .map(|path| path.to_string())
        .collect();
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

    let mut writer = if rewrite.hash_output {
        WheelWriter::create_hashed_in(&target.directory)?
    } else {
        WheelWriter::create_in(&target.directory)?
    };
    let repairs = copy_members(reader, &mut writer, &new, digests, rewrite.jobs())?;
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
    let (_, sha256) = writer.finish_with_sha256(
        &format!("{new_dist_info}/RECORD"),
        record_options,
        permissions,
        &target.output,
        place,
    )?;
    outcome.sha256 = sha256;
    if target.in_place && !target.is_input {
        fs_err::remove_file(input)?;
    }
    Ok(())
}
