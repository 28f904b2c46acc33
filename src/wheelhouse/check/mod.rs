//! `wheelwright check`: what every node can install, checked across the whole wheelhouse
//! before users find the holes. For each node view (layer x arch) and Python of the run:
//! [`closure`] (each requirement of the newest version of each project the node sees, with
//! the extras the wheelhouse itself asks for, met by a wheel the node can install),
//! [`resolve`] (a list of projects resolved in full with PubGrub over the tree's metadata, the
//! user's `pip install` done in advance), [`stale`] (projects far behind an index) and
//! [`consistency`] (one version's wheels that disagree on their requirements; copies a node
//! would take unexpectedly). Every finding carries its fix, in words and as data
//! ([`Fix`]) that the nightly can plan builds from. The METADATA of each wheel is read once
//! and cached ([`metadata`]); what one node can install is computed once ([`node`]).
//!
//! The door is [`run_check`] with [`CheckOptions`], returning a [`CheckReport`] of
//! [`Finding`]s (serde-serialisable); [`render`] prints it as a table.

mod closure;
mod consistency;
pub mod metadata;
mod model;
mod node;
pub mod render;
mod requirements_file;
mod resolve;
mod stale;

use std::path::PathBuf;

pub use model::{
    CheckReport, Finding, FindingKind, Fix, FixAction, Instead, NodeName, Resolution, ResolvedPackage,
};
pub use requirements_file::{RequirementLine, RequirementsFileError, read_requirements_file};
pub use stale::{StalenessError, StalenessOptions};

use crate::layout::{Layout, PythonVersion};
use crate::wheelhouse::tree::{RootError, Tree, check_root};
use crate::wheelhouse::view::NodeView;
use node::{Offer, Universe};

/// What to check.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// The node views to check (see `commands::check` for how the CLI picks them).
    pub views: Vec<NodeView>,
    /// The Pythons to check each view for.
    pub pythons: Vec<PythonVersion>,
    /// Check every version of each project, not only the newest a node sees.
    pub all_versions: bool,
    /// Requirements to resolve in full on every node (a requirements file's lines).
    pub resolve: Vec<RequirementLine>,
    /// Only resolve `resolve` on every node: no closure, consistency or staleness findings.
    pub only_resolve: bool,
    /// Compare the newest versions with an index.
    pub staleness: Option<StalenessOptions>,
    /// Where the METADATA cache is kept (`<dir>/check/<root>.json`); `None`: not kept.
    pub cache_dir: Option<PathBuf>,
    /// Threads reading METADATA and checking nodes.
    pub jobs: usize,
}

/// A check that could not run.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("cannot read the wheelhouse tree `{}`", root.display())]
    Tree {
        root: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Root(#[from] RootError),
    #[error("nothing to check: {0}")]
    Nothing(&'static str),
    #[error(transparent)]
    Staleness(#[from] stale::StalenessError),
}

impl crate::hint::Hint for CheckError {
    fn hint(&self) -> Option<String> {
        match self {
            CheckError::Root(error) => error.hint(),
            CheckError::Staleness(error) => error.hint(),
            CheckError::Tree { .. } | CheckError::Nothing(_) => None,
        }
    }
}

/// Checks the wheelhouse of `layout` as `options` say. The tree is read once (a missing root,
/// or one that is not a wheelhouse, is an error), each wheel's METADATA once (cached), and
/// every node (view x Python) is checked on `options.jobs` threads.
pub fn run_check(layout: &Layout, options: &CheckOptions) -> Result<CheckReport, CheckError> {
    if options.views.is_empty() {
        return Err(CheckError::Nothing(
            "no node view (the layout has no active layer)",
        ));
    }
    if options.pythons.is_empty() {
        return Err(CheckError::Nothing(
            "no Python (the layout names none; give --python)",
        ));
    }
    let tree = Tree::read(layout).map_err(|source| CheckError::Tree {
        root: layout.root.clone(),
        source,
    })?;
    check_root(layout, &tree)?;
    tracing::info!("tree of {} wheels read", tree.wheels.len());
    let started = std::time::Instant::now();
    let cache = options
        .cache_dir
        .as_deref()
        .map(|directory| metadata::cache_file(directory, &tree.root));
    let tree_metadata = metadata::read_tree_metadata(&tree, cache.as_deref(), options.jobs);
    tracing::info!(
        "METADATA of {} wheels in {:.2?} ({} read, {} from the cache)",
        tree.wheels.len(),
        started.elapsed(),
        tree_metadata.read,
        tree_metadata.cached
    );
    let universe = Universe::new(&tree, &tree_metadata.wheels, &options.pythons);
    let nodes: Vec<(usize, usize)> = (0..options.views.len())
        .flat_map(|view| (0..options.pythons.len()).map(move |python| (view, python)))
        .collect();
    let checked = std::time::Instant::now();
    let per_node: Vec<(Vec<Finding>, Option<Resolution>)> =
        crate::parallel::parallel_map(&nodes, options.jobs, &|&(view, python)| {
            let offer = Offer::new(&universe, &options.views[view], python);
            let mut findings = Vec::new();
            if !options.only_resolve {
                findings.extend(closure::check(&universe, &offer, options.all_versions));
                findings.extend(consistency::check_node(&universe, &offer));
            }
            let resolution = (!options.resolve.is_empty()).then(|| {
                let (resolution, finding) = resolve::resolve(&universe, &offer, &options.resolve);
                findings.extend(finding);
                resolution
            });
            (findings, resolution)
        });
    let mut findings = Vec::new();
    let mut resolutions = Vec::new();
    for (node_findings, resolution) in per_node {
        findings.extend(node_findings);
        resolutions.extend(resolution);
    }
    tracing::info!("{} nodes checked in {:.2?}", nodes.len(), checked.elapsed());
    let tree_wide = std::time::Instant::now();
    if !options.only_resolve {
        findings.extend(consistency::check_versions(&universe, &options.views));
        findings.extend(consistency::same_names(&universe, &options.views));
        findings.extend(model::unreadable(&universe));
        tracing::info!("versions and copies checked in {:.2?}", tree_wide.elapsed());
    }
    if let Some(staleness) = options.staleness.as_ref().filter(|_| !options.only_resolve) {
        findings.extend(stale::check(&universe, &options.views, staleness, options.jobs)?);
    }
    let merging = std::time::Instant::now();
    let raw = findings.len();
    let findings = model::merge(findings);
    tracing::info!(
        "{raw} findings merged into {} in {:.2?}",
        findings.len(),
        merging.elapsed()
    );
    Ok(CheckReport::new(
        &tree,
        &universe,
        options,
        findings,
        resolutions,
        &tree_metadata,
    ))
}
