//! The per-wheel checks, run before the lock and in parallel: name, label, platform, full
//! verification and ELF reading in one pass, the build record, the classification.

use super::*;
use crate::spec::filename::InvalidWheelFilename;
use crate::wheel::WheelErrorKind;
use crate::wheelhouse::build_record::BuildRecordError;

/// A wheel after the checks that need no lock.
pub(super) struct Checked {
    pub(super) source: PathBuf,
    pub(super) file_name: String,
    pub(super) filename: Option<WheelFilename>,
    pub(super) size: u64,
    pub(super) sha256: Option<String>,
    pub(super) verified_before: bool,
    /// Where it goes (relative directory), or why it cannot go anywhere.
    pub(super) target: Result<Target, Refusal>,
    pub(super) warnings: Vec<String>,
}

pub(super) fn is_supported_platform(tag: &str) -> bool {
    tag == "any" || tag == "linux_x86_64" || (tag.starts_with("manylinux") && tag.ends_with("_x86_64"))
}

/// Why the checks before the lock refuse a wheel.
#[derive(Debug, thiserror::Error)]
pub(super) enum Refusal {
    #[error("{0}")]
    Filename(InvalidWheelFilename),
    #[error(
        "the version {version} has no local version label `+{label}`: did you forget to add the local version identifier? (`wheelwright manipulate -i` adds it)"
    )]
    NoLocalLabel { version: String, label: String },
    #[error("the platform tag `{0}` is not for x86_64 Linux with glibc; the wheelhouse cannot serve it")]
    UnsupportedPlatform(String),
    #[error("cannot read the wheel: {0}")]
    Unreadable(std::io::Error),
    #[error("{0}")]
    BuildRecord(BuildRecordError),
    #[error("{0}")]
    Audit(WheelErrorKind),
    /// The verification's problems (the first few are said).
    #[error("the wheel fails verification: {}", first_problems(.0))]
    FailsVerification(Vec<String>),
    /// The compiled members that cannot be read.
    #[error(
        "its tags say it has compiled code, but none of its compiled members can be read: {}",
        .0.join("; ")
    )]
    NoReadableCode(Vec<String>),
    #[error("{0}")]
    Target(super::plan::TargetError),
    /// Not checked yet (never seen outside `check`).
    #[error("not checked")]
    NotChecked,
}

/// The first five problems, and how many more there are.
fn first_problems(problems: &[String]) -> String {
    let shown: Vec<&str> = problems.iter().take(5).map(String::as_str).collect();
    let more = problems.len().saturating_sub(shown.len());
    format!(
        "{}{}",
        shown.join("; "),
        if more > 0 {
            format!(" (and {more} more)")
        } else {
            String::new()
        }
    )
}

/// Checks, verifies and classifies one wheel; never touches the tree.
pub(super) fn check(source: &Path, layout: &Layout, options: &Options, inner_jobs: usize) -> Checked {
    let file_name = source
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let size = fs_err::metadata(source).map_or(0, |meta| meta.len());
    let mut checked = Checked {
        source: source.to_path_buf(),
        file_name,
        filename: None,
        size,
        sha256: None,
        verified_before: false,
        target: Err(Refusal::NotChecked),
        warnings: Vec::new(),
    };
    checked.target = match judge(&mut checked, layout, options, inner_jobs) {
        Ok(classification) => choose_target(layout, options, &classification).map_err(Refusal::Target),
        Err(refusal) => Err(refusal),
    };
    checked
}

/// The checks of the wheel `checked` stands for, which record in it what they find (parsed
/// filename, sha256, warnings): its name, label and platform, its build record, then
/// verification and ELF reading in one pass; the classification of a wheel that passes.
fn judge(
    checked: &mut Checked,
    layout: &Layout,
    options: &Options,
    inner_jobs: usize,
) -> Result<Classification, Refusal> {
    let source = checked.source.clone();
    let filename: WheelFilename = checked.file_name.parse().map_err(Refusal::Filename)?;
    checked.filename = Some(filename.clone());
    if !has_local_label(filename.version(), &layout.local_version_label) {
        return Err(Refusal::NoLocalLabel {
            version: filename.version_text().to_string(),
            label: layout.local_version_label.clone(),
        });
    }
    if let Some(tag) = filename
        .tags
        .platform
        .iter()
        .find(|tag| !is_supported_platform(tag))
    {
        return Err(Refusal::UnsupportedPlatform(tag.clone()));
    }
    if filename
        .tags
        .platform
        .iter()
        .any(|tag| tag.starts_with("manylinux"))
    {
        checked.warnings.push(
            "a manylinux tag: wheels of the site are usually retagged linux_x86_64 (`wheelwright manipulate --retag '*-*-linux_x86_64'`)".to_string(),
        );
    }
    // Bytes that verified before (a dry run, wheelbuild, `wheelwright verify`) need not be
    // inflated and hashed again: the whole file's sha256 is the key.
    let cache = options.verified.as_ref();
    let sha256 = match cache.and_then(|cache| cache.known_sha256(&source)) {
        Some(sha256) => sha256,
        None => file_sha256(&source).map_err(Refusal::Unreadable)?,
    };
    checked.sha256 = Some(sha256.clone());
    // Before any inflating: the wheel's own build record may already refuse it.
    match check_build_record(&source, &sha256).map_err(Refusal::BuildRecord)? {
        RecordCheck::OtherFile { warning, .. } => checked.warnings.push(warning),
        RecordCheck::Absent | RecordCheck::Passed { .. } => {}
    }
    let audit = crate::audit::audit(
        &source,
        layout,
        crate::audit::AuditOptions {
            limits: options.limits,
            jobs: inner_jobs,
            cache,
        },
        Some(sha256),
    )
    .map_err(|error| Refusal::Audit(error.kind))?;
    checked.verified_before = audit.verified_before;
    let crate::audit::Audit {
        report,
        elves,
        classification,
        ..
    } = audit;
    if !report.ok() {
        return Err(Refusal::FailsVerification(report.problems));
    }
    if !classification.unreadable.is_empty() {
        return Err(Refusal::NoReadableCode(classification.unreadable));
    }
    // Some members unreadable beside readable ones: the readable code decides, the rest
    // is said.
    checked.warnings.extend(
        elves
            .problems
            .iter()
            .map(|problem| format!("unreadable ELF: {problem}")),
    );
    Ok(classification)
}

/// Runs the checks on every wheel, `jobs` at a time: one thread per wheel when there are
/// many, threads inside each wheel when there are a few big ones.
pub(super) fn check_all(
    sources: &[PathBuf],
    layout: &Layout,
    options: &Options,
    progress: &(dyn Fn(&Path) + Sync),
) -> Vec<Checked> {
    let jobs = options.jobs.max(1);
    let inner_jobs = if sources.len() >= jobs { 1 } else { jobs };
    parallel_map(sources, jobs, &|source: &PathBuf| {
        let checked = check(source, layout, options, inner_jobs);
        progress(source);
        checked
    })
}
