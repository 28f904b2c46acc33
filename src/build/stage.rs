//! Staging: a wheel reaches the output directory only when every cell that tested it passed
//! and nodes of its layer can load it; those that failed go to `<output>/failed/` with their
//! logs, those that passed but need libraries the layer lacks to `<output>/held/`, each with
//! its record beside it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::BuildError;
use super::cell::{CellOutcome, CellRun};
use super::record::{TestRecord, TestStatus, WheelRecord};

/// Where a package's wheels are staged.
pub(super) struct StageTarget<'a> {
    pub output: &'a Path,
    pub package: &'a str,
    pub version: &'a str,
}

/// The directory under the output directory that takes what failed.
pub const FAILED_DIRECTORY: &str = "failed";

/// The directory under the output directory that takes wheels that passed their test but
/// need libraries nodes of the layer do not have (never picked up by cp-wheels `--from`).
pub const HELD_DIRECTORY: &str = "held";

/// Moves `file` into `directory` under `name`: a rename, or (across file systems) a copy to a
/// temporary file there, fsync and rename; the source is removed after.
fn move_into(file: &Path, directory: &Path, name: &str) -> std::io::Result<PathBuf> {
    fs_err::create_dir_all(directory)?;
    let target = directory.join(name);
    if fs_err::rename(file, &target).is_ok() {
        return Ok(target);
    }
    let temporary = tempfile::Builder::new()
        .prefix(".wheelwright-")
        .suffix(".tmp")
        .tempfile_in(directory)?;
    fs_err::copy(file, temporary.path())?;
    temporary.as_file().sync_all()?;
    temporary.persist(&target).map_err(|error| error.error)?;
    fs_err::remove_file(file)?;
    Ok(target)
}

/// Writes a JSON file atomically (temporary file, rename).
pub(super) fn write_json(path: &Path, value: &impl serde::Serialize) -> Result<(), BuildError> {
    Ok(crate::atomic::write_json(path, value)?)
}

/// Cells that built the same file name for the same place (pure and abi3 wheels built by
/// several cells at once): the first one's wheel is kept, the others count as its testers.
/// The cells' outcomes, and the runs with their index.
fn keep_one_of_each(output: &Path, runs: Vec<CellRun>) -> (Vec<CellOutcome>, Vec<(usize, CellRun)>) {
    let mut keeper: BTreeMap<(PathBuf, String), usize> = BTreeMap::new();
    let mut results: Vec<CellOutcome> = Vec::new();
    let mut pending: Vec<(usize, CellRun)> = Vec::new();
    for (index, mut run) in runs.into_iter().enumerate() {
        if let Some(processed) = &run.processed {
            let place = if processed.pure {
                output.to_path_buf()
            } else {
                super::plan::staging_dir(output, &run.outcome.arch)
            };
            match keeper.get(&(place.clone(), processed.file_name.clone())) {
                Some(first) => {
                    let first_label = results[*first].label();
                    run.outcome.same_as = Some(first_label.clone());
                    run.outcome.notes.push(format!(
                        "the same file as the wheel of {first_label}, which is kept"
                    ));
                    run.outcome.wheel = results[*first].wheel.clone();
                    let _ = fs_err::remove_file(&processed.wheel);
                    run.processed = None;
                }
                None => {
                    keeper.insert((place, processed.file_name.clone()), index);
                }
            }
        }
        results.push(run.outcome.clone());
        pending.push((index, run));
    }
    (results, pending)
}

/// A failed build's log, kept in `failed/` under the package, version, Python and arch.
fn keep_failed_build_log(
    target: &StageTarget,
    result: &CellOutcome,
    failed_dir: &Path,
) -> Result<(), BuildError> {
    let name = format!(
        "{}-{}-py{}-{}.log",
        crate::spec::escape_name(target.package),
        target.version,
        result.python,
        result.arch
    );
    if result.log.is_file() {
        fs_err::create_dir_all(failed_dir)?;
        fs_err::copy(&result.log, failed_dir.join(name))?;
    }
    Ok(())
}

/// What the cells that tested one wheel say together: whether it passed (every one did), its
/// status (failed when one failed, else not run), and each cell's error with its label.
fn verdict(statuses: &[&CellOutcome]) -> (bool, TestStatus, Vec<String>) {
    let passed = !statuses.is_empty() && statuses.iter().all(|cell| cell.test == TestStatus::Passed);
    let status = if passed {
        TestStatus::Passed
    } else if statuses.iter().any(|cell| cell.test == TestStatus::Failed) {
        TestStatus::Failed
    } else {
        TestStatus::NotRun
    };
    let errors = statuses
        .iter()
        .filter_map(|cell| {
            cell.error
                .as_ref()
                .map(|error| format!("{}: {error}", cell.label()))
        })
        .collect();
    (passed, status, errors)
}

/// The record's test part: the verdict, the errors, and each cell's smoke test report.
fn test_record(status: TestStatus, errors: &[String], statuses: &[&CellOutcome]) -> TestRecord {
    TestRecord {
        status,
        error: (!errors.is_empty()).then(|| errors.join("\n")),
        reports: statuses
            .iter()
            .filter_map(|cell| {
                let report = serde_json::to_value(cell.smoke_test.as_ref()?).ok()?;
                Some((cell.label(), report))
            })
            .collect(),
    }
}

/// Stages the cells' wheels and returns the cells' results with their final paths.
pub(super) fn stage(
    target: &StageTarget,
    runs: Vec<CellRun>,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<Vec<CellOutcome>, BuildError> {
    let output = &target.output.to_path_buf();
    let failed_dir = output.join(FAILED_DIRECTORY);
    let held_dir = output.join(HELD_DIRECTORY);
    let (mut results, pending) = keep_one_of_each(output, runs);
    // Who tested each built wheel (by its pending path).
    let mut testers: BTreeMap<PathBuf, Vec<usize>> = BTreeMap::new();
    for (index, result) in results.iter().enumerate() {
        if let Some(wheel) = &result.wheel {
            testers.entry(wheel.clone()).or_default().push(index);
        }
    }
    let mut final_paths: BTreeMap<PathBuf, PathBuf> = BTreeMap::new();
    for (index, run) in pending {
        let result = &results[index];
        let Some(processed) = run.processed else {
            if result.same_as.is_none() && result.wheel.is_none() {
                keep_failed_build_log(target, result, &failed_dir)?;
            }
            continue;
        };
        let tested_by = testers.get(&processed.wheel).cloned().unwrap_or_default();
        let statuses: Vec<&CellOutcome> = tested_by.iter().map(|index| &results[*index]).collect();
        let (passed, status, error) = verdict(&statuses);
        let held = passed && !processed.unprovided.is_empty();
        let directory = match (passed, processed.pure) {
            (true, _) if held && result.arch == "generic" => held_dir.clone(),
            (true, _) if held => held_dir.join(&result.arch),
            (true, true) => output.clone(),
            (true, false) => super::plan::staging_dir(output, &result.arch),
            (false, true) => failed_dir.clone(),
            (false, false) if result.arch == "generic" => failed_dir.clone(),
            (false, false) => failed_dir.join(&result.arch),
        };
        let target = move_into(&processed.wheel, &directory, &processed.file_name)?;
        if passed {
            // A wheel of this name that failed in an earlier run is no longer the news.
            let stale = if processed.pure || result.arch == "generic" {
                failed_dir.clone()
            } else {
                failed_dir.join(&result.arch)
            };
            let _ = fs_err::remove_file(stale.join(&processed.file_name));
            let _ = fs_err::remove_file(WheelRecord::path_beside(&stale.join(&processed.file_name)));
        }
        if held {
            progress(&format!(
                "warning: {} passed its smoke test but is held back in {}: {}",
                processed.file_name,
                directory.display(),
                processed.unprovided.join("; ")
            ));
        }
        if !passed {
            progress(&format!(
                "{} did not pass its smoke test: moved to {}",
                processed.file_name,
                directory.display()
            ));
            for cell in &statuses {
                if cell.log.is_file() {
                    let name = format!("{}.py{}-{}.log", processed.file_name, cell.python, cell.arch);
                    fs_err::copy(&cell.log, directory.join(name))?;
                }
            }
        }
        let record = WheelRecord {
            wheel: processed.file_name.clone(),
            sha256: processed.sha256.clone(),
            build: run.record.clone().unwrap_or_default(),
            changes: processed.changes.clone(),
            destination: processed.destination.clone(),
            held: if held {
                processed.unprovided.clone()
            } else {
                Vec::new()
            },
            test: test_record(status, &error, &statuses),
        };
        let record_path = record.write_beside(&target)?;
        for tester in &tested_by {
            results[*tester].record = Some(record_path.clone());
            if held {
                results[*tester].held = processed.unprovided.clone();
            }
        }
        final_paths.insert(processed.wheel.clone(), target);
    }
    for result in &mut results {
        if let Some(wheel) = &result.wheel
            && let Some(target) = final_paths.get(wheel)
        {
            result.wheel = Some(target.clone());
        }
    }
    Ok(results)
}
