//! One audit of a wheel, the same for cp-wheels' placement and the build's post-processing:
//! its sha256, a full verification (skipped member hashing for bytes the record of verified
//! wheels knows), its ELF members read in the same pass, and the classification against the
//! layout; bytes that verify are remembered.

use std::path::Path;

use crate::classify::{Classification, Filesystem, classify};
use crate::inspect::{WheelElves, check_structure, check_wheel};
use crate::layout::Layout;
use crate::wheel::verified::{VerifiedCache, file_sha256};
use crate::wheel::{Limits, VerifyReport, WheelError};

/// What an audit found.
#[derive(Debug)]
pub struct Audit {
    /// The sha256 of the whole file.
    pub sha256: String,
    /// The record of verified wheels knew these bytes: member hashes were not checked again.
    pub verified_before: bool,
    pub report: VerifyReport,
    pub elves: WheelElves,
    pub classification: Classification,
}

/// How to audit.
#[derive(Debug, Clone, Copy)]
pub struct AuditOptions<'a> {
    pub limits: Limits,
    /// Threads inside the wheel.
    pub jobs: usize,
    /// The record of verified wheels (None: hash every member, remember nothing).
    pub cache: Option<&'a VerifiedCache>,
}

/// Audits the wheel at `path`; `sha256` when the caller hashed the file already.
pub fn audit(
    path: &Path,
    layout: &Layout,
    options: AuditOptions,
    sha256: Option<String>,
) -> Result<Audit, WheelError> {
    let sha256 = match sha256.or_else(|| options.cache.and_then(|cache| cache.known_sha256(path))) {
        Some(sha256) => sha256,
        None => {
            tracing::debug!("{}: not hashed as it was written: read again", path.display());
            file_sha256(path).map_err(|error| WheelError::new(path, error))?
        }
    };
    let known = options
        .cache
        .is_some_and(|cache| cache.contains(&sha256, options.limits.total));
    let (report, elves) = check_wheel(path, options.limits, true, options.jobs, !known)?;
    if !known
        && report.ok()
        && let Some(cache) = options.cache
    {
        cache.record(&sha256, options.limits.total, Some(path));
    }
    let classification = classify(layout, &elves, &Filesystem);
    Ok(Audit {
        sha256,
        verified_before: known,
        report,
        elves,
        classification,
    })
}

/// Audits a wheel written from checked parts (an adopted wheel's rewrite: every raw-copied
/// member's digest was checked against RECORD as it was read, every new member hashed as it
/// was written): its structure is verified, no member is inflated again, and `elves` (its
/// ELF members as written) are classified. Bytes that verify are remembered. `sha256` is the
/// file's when the writer hashed it as it wrote it; otherwise the file is read for it.
pub fn audit_written(
    path: &Path,
    layout: &Layout,
    options: AuditOptions,
    elves: WheelElves,
    sha256: Option<String>,
) -> Result<Audit, WheelError> {
    let sha256 = match sha256 {
        Some(sha256) => sha256,
        None => {
            tracing::debug!("{}: not hashed as it was written: read again", path.display());
            file_sha256(path).map_err(|error| WheelError::new(path, error))?
        }
    };
    let report = check_structure(path, options.limits)?;
    if report.ok()
        && let Some(cache) = options.cache
    {
        cache.record(&sha256, options.limits.total, Some(path));
    }
    let classification = classify(layout, &elves, &Filesystem);
    Ok(Audit {
        sha256,
        verified_before: false,
        report,
        elves,
        classification,
    })
}
