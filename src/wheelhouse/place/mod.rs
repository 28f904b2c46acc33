//! Placing wheels into the tree (cp-wheels): check and classify each wheel without the lock,
//! then, holding the writers' lock, read the tree once, decide every placement against that
//! index, copy through temporary files, make them durable, rename, and run the publish hook.

use std::collections::{BTreeSet, HashMap};
use std::io::{ErrorKind, Read};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::build_record::{RecordCheck, check_build_record};
use super::tree::{TEMP_PREFIX, TEMP_SUFFIX, Tree, TreeWheel};
use crate::classify::Classification;
use crate::layout::Layout;
use crate::parallel::parallel_map;
use crate::spec::filename::WheelFilename;
use crate::spec::version::has_local_label;
use crate::wheel::Limits;
use crate::wheel::verified::{VerifiedCache, file_sha256};

mod check;
mod commit;
mod outcome;
mod plan;
mod publish;

use check::*;
pub use commit::*;
pub use outcome::*;
use plan::*;
pub use publish::*;

/// cp-wheels: checks `sources`, places what passes, and says what happened to each.
pub fn place_wheels(
    sources: &[PathBuf],
    layout: &Layout,
    options: &Options,
    progress: &(dyn Fn(&Path) + Sync),
) -> Result<Report, PlaceError> {
    let started = std::time::Instant::now();
    let checked = check_all(sources, layout, options, progress);
    tracing::debug!(
        "checked {} in {:.3}s",
        crate::words::count(sources.len(), "wheel"),
        started.elapsed().as_secs_f64()
    );
    let root = layout.root.clone();
    ensure_root(layout, options.dry_run)?;
    let _lock = if options.dry_run {
        None
    } else {
        Some(lock_tree(layout)?)
    };
    let mut tree = Tree::read(layout).map_err(|error| PlaceError::Tree {
        root: root.clone(),
        error,
    })?;
    for path in &tree.unparsable {
        tracing::warn!(
            "`{}` in the tree is not a valid wheel filename; ignored",
            path.display()
        );
    }
    let stale_temps = if options.dry_run {
        tree.stale_temps.clone()
    } else {
        clean_stale(&tree)
    };
    tracing::debug!(
        "read the tree ({} wheels in {} directories) at {:.3}s",
        tree.wheels.len(),
        tree.dirs.len(),
        started.elapsed().as_secs_f64()
    );
    let mut decisions = decide(&mut tree, checked, options);
    tracing::debug!("decided at {:.3}s", started.elapsed().as_secs_f64());
    if !options.keep_going {
        hold_back_if_refused(&mut decisions);
    }
    let mut report = Report {
        root,
        dry_run: options.dry_run,
        wheels: Vec::new(),
        stale_temps,
        publish: None,
    };
    if options.dry_run {
        report.wheels = decisions.into_iter().map(|decision| decision.outcome).collect();
        return Ok(report);
    }
    let to_place = decisions
        .iter()
        .any(|decision| matches!(decision.outcome.action, Action::Place | Action::Replace));
    if to_place {
        run_before(layout)?;
        execute(&mut tree, &mut decisions, layout, options);
        tracing::debug!("placed at {:.3}s", started.elapsed().as_secs_f64());
    }
    if options.remove {
        remove_sources(&mut decisions);
    }
    let placed: Vec<PathBuf> = decisions
        .iter()
        .filter(|decision| matches!(decision.outcome.action, Action::Place | Action::Replace))
        .filter_map(|decision| decision.outcome.path.clone())
        .collect();
    if to_place {
        report.publish = run_after(layout, placed)?;
    }
    report.wheels = decisions.into_iter().map(|decision| decision.outcome).collect();
    Ok(report)
}

/// Makes the wheelhouse root when it is missing (with a dry run, says it would): a fresh
/// local wheelhouse starts this way; a site whose root is elsewhere has the wrong layout, so
/// the warning says which layout named this root, loudly.
fn ensure_root(layout: &Layout, dry_run: bool) -> Result<(), PlaceError> {
    let root = &layout.root;
    if root.is_dir() {
        return Ok(());
    }
    // A fresh local wheelhouse starts this way; a site whose root is elsewhere has the
    // wrong layout: say which layout named this root, loudly.
    let shown = std::path::absolute(root).unwrap_or_else(|_| root.clone());
    if dry_run {
        tracing::warn!(
            "the wheelhouse root `{}` does not exist and would be created; it is the root of {}",
            shown.display(),
            layout.origin
        );
    } else {
        fs_err::create_dir_all(root).map_err(|error| PlaceError::Root {
            path: root.clone(),
            error,
        })?;
        tracing::warn!(
            "the wheelhouse root `{}` did not exist and was created; it is the root of {}",
            shown.display(),
            layout.origin
        );
    }
    Ok(())
}

/// When a wheel is refused, the wheels that would be placed are held back (`--keep-going`
/// places the rest).
fn hold_back_if_refused(decisions: &mut [Decision]) {
    let refused = decisions
        .iter()
        .any(|decision| decision.outcome.action == Action::Refuse);
    if refused {
        for decision in decisions.iter_mut() {
            if matches!(decision.outcome.action, Action::Place | Action::Replace) {
                decision.outcome.action = Action::Held;
                decision.outcome.reason =
                    Some("held back: other wheels were refused (--keep-going places the rest)".to_string());
            }
        }
    }
}

/// `--remove`: the sources of the wheels placed (or already in the tree) removed, but a
/// source that is the very file in the tree (cp-wheels run inside it).
fn remove_sources(decisions: &mut [Decision]) {
    for decision in decisions.iter_mut() {
        let outcome = &mut decision.outcome;
        if matches!(
            outcome.action,
            Action::Place | Action::Replace | Action::Unchanged
        ) {
            // The source may be the very file in the tree (cp-wheels run inside it).
            let is_placed_file = outcome.path.as_ref().is_some_and(|path| {
                match (fs_err::canonicalize(path), fs_err::canonicalize(&outcome.source)) {
                    (Ok(placed), Ok(source)) => placed == source,
                    _ => false,
                }
            });
            if is_placed_file {
                outcome
                    .warnings
                    .push("the source is the wheel in the tree: not removed".to_string());
                continue;
            }
            match fs_err::remove_file(&outcome.source) {
                Ok(()) => outcome.source_removed = true,
                Err(error) => outcome
                    .warnings
                    .push(format!("cannot remove the source: {error}")),
            }
        }
    }
}
