//! Rewriting a wheel: new version, requirements and tags, with untouched entries copied raw.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use pep440_rs::Version;
use serde::Serialize;

use super::reader::{Entry, Limits, WheelReader};
use super::writer::{PlaceOptions, copy_atomically};
use super::{WheelError, WheelErrorKind};
use crate::spec::filename::{TagSet, WheelFilename};
use crate::spec::metadata::Metadata;
use crate::spec::record::{RecordEntry, RecordHash, is_record_or_signature};
use crate::spec::requirements::{RequirementEdit, plan};
use crate::spec::version::{add_local_tag, insert_local_label};
use crate::spec::wheel_info::WheelInfo;

mod write;

/// A tag asked for that a filename cannot carry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the {what} tag `{tag}` may hold only letters, digits and `_`")]
pub struct InvalidTagChange {
    /// `python`, `ABI` or `platform`.
    pub what: &'static str,
    pub tag: String,
}

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

    fn apply(&self, tags: &TagSet) -> Result<TagSet, InvalidTagChange> {
        fn one(
            current: &[String],
            change: Option<&String>,
            what: &'static str,
        ) -> Result<Vec<String>, InvalidTagChange> {
            let Some(change) = change else {
                return Ok(current.to_vec());
            };
            let (mut result, added) = match change.strip_prefix('+') {
                Some(added) => (current.to_vec(), added),
                None => (Vec::new(), change.as_str()),
            };
            for tag in added.split('.') {
                if tag.is_empty() || !tag.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    return Err(InvalidTagChange {
                        what,
                        tag: tag.to_string(),
                    });
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
    /// Members whose new content is a file on disk (member name, file): written from it,
    /// deflated and hashed anew (ELF members whose search paths were edited).
    pub member_files: Vec<(String, PathBuf)>,
    /// Members whose new content is already deflated (member name, one-entry zip): ELF
    /// members whose edit was spliced into their old deflate stream.
    pub prepared: Vec<(String, std::sync::Arc<crate::wheel::writer::Precompressed>)>,
    /// The true digests of members, computed while reading them before the rewrite: their
    /// RECORD rows are checked against these instead of inflating the members again.
    pub known_digests: HashMap<String, MemberDigest>,
    /// Threads inflating and hashing members [default: [`crate::inspect::default_jobs`]].
    pub jobs: Option<usize>,
    /// Hash the new wheel (sha256) as it is written, for [`Outcome::sha256`].
    pub hash_output: bool,
}

impl Rewrite {
    /// Whether any change was asked for at all.
    pub fn is_empty(&self) -> bool {
        self.local_label.is_none()
            && self.local_tag.is_none()
            && self.requirement_edits.is_empty()
            && self.tags.is_empty()
            && self.member_files.is_empty()
            && self.prepared.is_empty()
    }

    /// The threads that inflate and hash members.
    fn jobs(&self) -> usize {
        self.jobs.unwrap_or_else(crate::inspect::default_jobs).max(1)
    }

    /// The names of the members written anew (from files, or prepared).
    fn new_members(&self) -> impl Iterator<Item = &String> {
        self.member_files
            .iter()
            .map(|(name, _)| name)
            .chain(self.prepared.iter().map(|(name, _)| name))
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDigest {
    pub hash: RecordHash,
    pub size: u64,
}

/// What checking RECORD against every member found: the true digests by entry name, and the
/// rows they contradict.
struct RecordCheck {
    digests: HashMap<String, MemberDigest>,
    mismatches: Vec<RecordMismatch>,
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

/// Hashes every member RECORD gives a hash for (one inflate each, `jobs` at a time, the
/// largest first); the mismatches in archive order.
fn check_record(reader: &mut WheelReader, jobs: usize) -> Result<RecordCheck, WheelErrorKind> {
    let rows: HashMap<String, RecordEntry> = reader
        .record
        .entries
        .iter()
        .map(|row| (row.path.clone(), row.clone()))
        .collect();
    let entries = reader.entries.clone();
    let mut work = Vec::new();
    let mut recorded = Vec::new();
    for entry in entries.iter().filter(|entry| !entry.is_dir) {
        if is_record_or_signature(&entry.name, &reader.dist_info) {
            continue;
        }
        let Some(row) = rows.get(&entry.name) else {
            continue;
        };
        let Some(recorded_hash) = &row.hash else { continue };
        work.push((reader.span(entry)?, recorded_hash.algorithm));
        recorded.push((recorded_hash.clone(), row.size));
    }
    let computed = super::inflate::digest_members(&reader.path, &work, jobs)?;
    let mut digests = HashMap::new();
    let mut mismatches = Vec::new();
    for ((span, _), ((recorded_hash, recorded_size), computed)) in
        work.iter().zip(recorded.iter().zip(computed))
    {
        let computed = computed?;
        mismatches.extend(judge_row(&span.entry, recorded_hash, *recorded_size, &computed));
        digests.insert(span.entry.name.clone(), computed);
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
    /// The output already exists with the very bytes this run would write: left as it is.
    AlreadyThere,
    /// A preview (`--print-req`): worked out, nothing written.
    Preview,
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
    /// The sha256 of the wheel written, when [`Rewrite::hash_output`] asked for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
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

/// Works out what `rewrite` makes of `input`, and where it would go, writing nothing: the
/// outcome (status [`OutcomeStatus::Preview`]) has the changes, notes and requirements a
/// rewrite would have. RECORD is not checked: only a rewrite reads every member.
pub fn preview_wheel(
    input: &Path,
    rewrite: &Rewrite,
    destination: &Destination,
    limits: Limits,
) -> Result<Outcome, WheelError> {
    let mut reader = WheelReader::open(input, limits)?;
    let mut planned = plan_rewrite(&mut reader, rewrite).map_err(|kind| WheelError::new(input, kind))?;
    let target = Target::new(&reader.path, destination, &planned.new_filename);
    let mut outcome = initial_outcome(&reader, &mut planned, &target);
    outcome.status = OutcomeStatus::Preview;
    Ok(outcome)
}

/// Whether two files hold the same bytes.
fn same_content(a: &Path, b: &Path) -> std::io::Result<bool> {
    use std::io::Read as _;
    if fs_err::metadata(a)?.len() != fs_err::metadata(b)?.len() {
        return Ok(false);
    }
    let (mut a, mut b) = (
        std::io::BufReader::new(fs_err::File::open(a)?),
        std::io::BufReader::new(fs_err::File::open(b)?),
    );
    let (mut left, mut right) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
    loop {
        let read = a.read(&mut left)?;
        if read == 0 {
            return Ok(true);
        }
        b.read_exact(&mut right[..read])?;
        if left[..read] != right[..read] {
            return Ok(false);
        }
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (fs_err::canonicalize(a), fs_err::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// The new wheel's version, metadata, WHEEL file and `.dist-info` additions, worked out
/// before anything is written, with the changes and notes they make.
struct Planned {
    old_version: Version,
    version: Version,
    new_filename: WheelFilename,
    metadata: Metadata,
    wheel_info: WheelInfo,
    metadata_changed: bool,
    wheel_changed: bool,
    /// Files to write into `.dist-info` that are not already there with these bytes.
    added_files: Vec<(String, Vec<u8>)>,
    /// Anything at all differs from the input wheel.
    changed: bool,
    changes: Vec<String>,
    notes: Vec<String>,
}

/// The new version: `rewrite`'s local tag and label applied to `old_version`.
fn new_version(old_version: &Version, rewrite: &Rewrite) -> Result<Version, WheelErrorKind> {
    let mut version = old_version.clone();
    if let Some(tag) = &rewrite.local_tag {
        version = add_local_tag(&version, tag)?;
    }
    if let Some(label) = &rewrite.local_label {
        version = insert_local_label(&version, label)?;
    }
    Ok(version)
}

/// The new tags, and the WHEEL file that carries them; a change of tags is said in `changes`.
fn retag(
    reader: &WheelReader,
    change: &TagChange,
    changes: &mut Vec<String>,
) -> Result<(TagSet, WheelInfo), WheelErrorKind> {
    let old_tags = &reader.filename.tags;
    let tags = change.apply(old_tags).map_err(WheelErrorKind::Retag)?;
    let mut wheel_info = reader.wheel_info.clone();
    if !change.is_empty() {
        let lines_changed = wheel_info.set_tags(&tags);
        if tags.is_pure() != old_tags.is_pure() {
            wheel_info.set_root_is_purelib(tags.is_pure());
        }
        if tags != *old_tags || lines_changed {
            changes.push(format!("tags {old_tags} -> {tags}"));
        }
    }
    Ok((tags, wheel_info))
}

/// The files of `rewrite.dist_info_files` that the wheel does not already hold with the same
/// bytes; each is said in `changes`.
fn dist_info_additions(
    reader: &mut WheelReader,
    rewrite: &Rewrite,
    changes: &mut Vec<String>,
) -> Vec<(String, Vec<u8>)> {
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
    added_files
}

/// Works out everything `rewrite` changes in the wheel of `reader`: version, requirements,
/// tags and `.dist-info` files.
fn plan_rewrite(reader: &mut WheelReader, rewrite: &Rewrite) -> Result<Planned, WheelErrorKind> {
    let mut changes = Vec::new();
    let mut notes = Vec::new();

    // The version.
    let old_version = reader.filename.version().clone();
    let version = new_version(&old_version, rewrite)?;
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
    let (tags, wheel_info) = retag(reader, &rewrite.tags, &mut changes)?;

    let new_filename = reader.filename.with_version(&version).with_tags(tags);
    let added_files = dist_info_additions(reader, rewrite, &mut changes);
    for member in rewrite.new_members() {
        if reader.entry(member).is_none() {
            return Err(WheelErrorKind::Io(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("no member `{member}` to replace"),
            )));
        }
    }
    let written_anew = rewrite.new_members().count();
    if written_anew > 0 {
        changes.push(format!(
            "{} written anew",
            crate::words::count(written_anew, "member")
        ));
    }
    let metadata_changed = metadata != reader.metadata;
    let wheel_changed = wheel_info != reader.wheel_info;
    let changed = metadata_changed
        || wheel_changed
        || !added_files.is_empty()
        || written_anew > 0
        || new_filename.to_string() != reader.filename.to_string();
    Ok(Planned {
        old_version,
        version,
        new_filename,
        metadata,
        wheel_info,
        metadata_changed,
        wheel_changed,
        added_files,
        changed,
        changes,
        notes,
    })
}

/// Where the new wheel goes, and how that path relates to the input.
struct Target {
    directory: PathBuf,
    output: PathBuf,
    /// The output path already exists and is the input file itself.
    is_input: bool,
    /// The destination is [`Destination::InPlace`].
    in_place: bool,
}

impl Target {
    fn new(input: &Path, destination: &Destination, new_filename: &WheelFilename) -> Self {
        let directory = match destination {
            Destination::InPlace => input
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."))
                .to_path_buf(),
            Destination::Directory(directory) => directory.clone(),
        };
        let output = directory.join(new_filename.to_string());
        let is_input = output.exists() && same_file(&output, input);
        Target {
            directory,
            output,
            is_input,
            in_place: matches!(destination, Destination::InPlace),
        }
    }
}

/// The outcome of a rewrite that has not (yet) written anything; takes the plan's changes
/// and notes.
fn initial_outcome(reader: &WheelReader, planned: &mut Planned, target: &Target) -> Outcome {
    Outcome {
        input: reader.path.clone(),
        output: target.output.clone(),
        status: OutcomeStatus::Unchanged,
        old_version: planned.old_version.to_string(),
        new_version: planned.version.to_string(),
        old_filename: reader.filename.to_string(),
        new_filename: planned.new_filename.to_string(),
        changes: std::mem::take(&mut planned.changes),
        notes: std::mem::take(&mut planned.notes),
        requirements: planned.metadata.requires_dist(),
        sha256: None,
    }
}

/// What became of a wheel with nothing to change.
enum Unchanged {
    /// Left as it is, or copied: the outcome says which.
    Done,
    /// Its RECORD lies and that was accepted: it is written anew, with these true digests.
    WriteAnew(HashMap<String, MemberDigest>),
}

/// A wheel with nothing to change: the input itself when it is the output (or nothing was
/// asked), else copied as it is, which only a wheel whose RECORD is true may be.
fn pass_on_unchanged(
    reader: &mut WheelReader,
    rewrite: &Rewrite,
    target: &Target,
    place: PlaceOptions,
    outcome: &mut Outcome,
) -> Result<Unchanged, WheelErrorKind> {
    if target.is_input || rewrite.is_empty() {
        outcome.output = reader.path.clone();
        return Ok(Unchanged::Done);
    }
    // An existing output is in the way only when it differs: the same bytes are already
    // there (as cp-wheels judges a wheel already in the tree).
    let already_there = target.output.exists() && same_content(&reader.path, &target.output)?;
    if target.output.exists() && !already_there && !place.overwrite {
        return Err(WheelErrorKind::OutputExists(target.output.clone()));
    }
    // A copy passes the wheel on as it is: only one whose RECORD is true.
    let check = check_record(reader, rewrite.jobs())?;
    if check.mismatches.is_empty() {
        if already_there {
            outcome.status = OutcomeStatus::AlreadyThere;
        } else {
            copy_atomically(&reader.path, &target.output, place)?;
            outcome.status = OutcomeStatus::Copied;
        }
        return Ok(Unchanged::Done);
    }
    if !rewrite.accept_bad_record {
        return Err(WheelErrorKind::BadRecord(check.mismatches));
    }
    // Accepted: written anew, with the true hashes.
    Ok(Unchanged::WriteAnew(check.digests))
}

fn rewrite_opened(
    reader: &mut WheelReader,
    rewrite: &Rewrite,
    destination: &Destination,
    place: PlaceOptions,
) -> Result<Outcome, WheelErrorKind> {
    let mut planned = plan_rewrite(reader, rewrite)?;
    let target = Target::new(&reader.path, destination, &planned.new_filename);
    let mut outcome = initial_outcome(reader, &mut planned, &target);

    // The true hashes of members, when known before the rewrite.
    let mut digests = rewrite.known_digests.clone();
    if !planned.changed {
        match pass_on_unchanged(reader, rewrite, &target, place, &mut outcome)? {
            Unchanged::Done => return Ok(outcome),
            Unchanged::WriteAnew(known) => digests = known,
        }
    }

    if target.is_input && !target.in_place {
        return Err(WheelErrorKind::WouldReplaceInput);
    }
    if target.output.exists() && !target.is_input && !place.overwrite {
        return write_beside_existing(reader, rewrite, &planned, &target, place, digests, outcome);
    }
    write::write_anew(reader, rewrite, &planned, &target, place, digests, &mut outcome)?;
    outcome.status = OutcomeStatus::Written;
    Ok(outcome)
}

/// The output exists and may not be replaced: the new wheel is written to a scratch file
/// beside it and compared. The same bytes are no conflict (already there; in place, the
/// input then goes, as it would once replaced); other bytes are refused.
fn write_beside_existing(
    reader: &mut WheelReader,
    rewrite: &Rewrite,
    planned: &Planned,
    target: &Target,
    place: PlaceOptions,
    digests: HashMap<String, MemberDigest>,
    mut outcome: Outcome,
) -> Result<Outcome, WheelErrorKind> {
    // Removed when dropped, whatever happens.
    let scratch = tempfile::Builder::new()
        .prefix(".wheelwright-")
        .suffix(".tmp")
        .tempfile_in(&target.directory)?
        .into_temp_path();
    let aside = Target {
        directory: target.directory.clone(),
        output: scratch.to_path_buf(),
        is_input: false,
        in_place: false,
    };
    let scratch_place = PlaceOptions {
        overwrite: true,
        fsync: false,
    };
    write::write_anew(
        reader,
        rewrite,
        planned,
        &aside,
        scratch_place,
        digests,
        &mut outcome,
    )?;
    if !same_content(&scratch, &target.output)? {
        return Err(WheelErrorKind::OutputExists(target.output.clone()));
    }
    if target.in_place {
        fs_err::remove_file(&reader.path)?;
        if place.fsync {
            let _ = fs_err::File::open(&target.directory).and_then(|directory| directory.sync_all());
        }
    }
    outcome.status = OutcomeStatus::AlreadyThere;
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
        assert_eq!(outcome.sha256, None, "not asked for");
        // Hashed as written: the sha256 of the file.
        let hashed = Rewrite {
            hash_output: true,
            ..rewrite.clone()
        };
        let place = PlaceOptions {
            overwrite: true,
            ..PlaceOptions::default()
        };
        let outcome = rewrite_wheel(&path, &hashed, &destination, place, Limits::default()).unwrap();
        assert_eq!(
            outcome.sha256.as_deref(),
            Some(
                crate::wheel::verified::file_sha256(&outcome.output)
                    .unwrap()
                    .as_str()
            )
        );
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
