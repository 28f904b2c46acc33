//! Findings that are not holes but surprise a maintainer: one version's wheels that disagree
//! on their requirements (on one Python across archs and tags: any requirement in force that
//! differs; across Pythons: a requirement without a marker that some wheels lack), and copies
//! a node takes that the wheelhouse did not mean for it (pip's choice among same-named files,
//! better tags in a less specific directory, the node's own arch build left behind).

use std::collections::{BTreeMap, BTreeSet, HashSet};

use pep508_rs::{ExtraName, MarkerEnvironment, Requirement, VersionOrUrl};

use super::closure::node_name;
use super::model::{Finding, FindingKind, Fix, FixAction, NodeName};
use super::node::{Offer, Release, Universe};
use crate::spec::environment::{linux_environment, marker_holds};
use crate::wheelhouse::view::NodeView;

/// What one node takes unexpectedly, of the newest version of each project.
pub(super) fn check_node(universe: &Universe<'_>, offer: &Offer<'_>) -> Vec<Finding> {
    let mut findings = Vec::new();
    for (project, releases) in offer.releases.iter().enumerate() {
        let Some(newest) = releases.first() else {
            continue;
        };
        findings.extend(better_tags_elsewhere(universe, offer, project, newest));
        findings.extend(arch_behind(universe, offer, project, newest));
    }
    findings
}

fn rank_of(universe: &Universe<'_>, offer: &Offer<'_>, wheel: usize) -> usize {
    offer.rank[universe.tree.wheels[wheel].dir].unwrap_or(usize::MAX)
}

/// The fix that builds `release` of `project` for the node's Python into `dir`.
fn build_in(
    universe: &Universe<'_>,
    offer: &Offer<'_>,
    project: usize,
    release: &Release,
    dir: &crate::wheelhouse::tree::TreeDir,
) -> Fix {
    let mut fix = Fix::new(FixAction::Build, &universe.names[project]);
    fix.version = Some(release.version.clone().without_local().to_string());
    fix.pythons = vec![offer.python.to_string()];
    fix.layer = dir.layer.clone();
    fix.arch = Some(dir.arch.clone());
    fix
}

/// The node takes the copy with the best tags from a less specific directory than one that
/// holds an arch build of the same version for it.
fn better_tags_elsewhere(
    universe: &Universe<'_>,
    offer: &Offer<'_>,
    project: usize,
    release: &Release,
) -> Option<Finding> {
    let pick = release.pick();
    let earliest = release
        .copies
        .iter()
        .copied()
        .min_by_key(|&wheel| rank_of(universe, offer, wheel))?;
    let earliest_dir = &universe.tree.dirs[universe.tree.wheels[earliest].dir];
    if rank_of(universe, offer, earliest) >= rank_of(universe, offer, pick)
        || !earliest_dir.is_arch_specific()
    {
        return None;
    }
    let fix = build_in(universe, offer, project, release, earliest_dir);
    let message = format!(
        "the node installs {} (its tags rank higher for Python {}) rather than {}, built for its CPU",
        universe.relative(pick),
        offer.python,
        universe.relative(earliest)
    );
    let mut finding = Finding::new(FindingKind::Shadowed, &universe.names[project], message, fix);
    finding.wheel = Some(universe.relative(pick));
    finding.nodes = vec![node_name(offer)];
    Some(finding)
}

/// The node installs its newest version from a less specific directory while an arch
/// directory before it holds an older build for this Python: the arch build was left behind.
fn arch_behind(
    universe: &Universe<'_>,
    offer: &Offer<'_>,
    project: usize,
    release: &Release,
) -> Option<Finding> {
    let pick = release.pick();
    let pick_rank = rank_of(universe, offer, pick);
    let preference = &universe.preference[offer.python_index];
    let behind = universe.wheels_of[project]
        .iter()
        .copied()
        .filter(|&wheel| {
            let dir = &universe.tree.dirs[universe.tree.wheels[wheel].dir];
            preference[wheel].is_some()
                && dir.is_arch_specific()
                && rank_of(universe, offer, wheel) < pick_rank
                && universe.age[wheel] > universe.age[pick]
        })
        // The build of the most specific directory (the node's own arch first).
        .min_by_key(|&wheel| (rank_of(universe, offer, wheel), universe.age[wheel]))?;
    let behind_dir = &universe.tree.dirs[universe.tree.wheels[behind].dir];
    let fix = build_in(universe, offer, project, release, behind_dir);
    let message = format!(
        "the node installs {} {} from {}, while its {} build is {}",
        universe.tree.wheels[pick].filename.name_text(),
        release.version,
        universe.dir_of(pick),
        behind_dir.relative,
        universe.version_of(behind)
    );
    let mut finding = Finding::new(FindingKind::ArchBehind, &universe.names[project], message, fix);
    finding.wheel = Some(universe.relative(behind));
    finding.nodes = vec![node_name(offer)];
    Some(finding)
}

/// How many files a same-name finding shows.
const EXAMPLES: usize = 10;

/// File names in two directories of a view: pip, given the directories as find-links, takes
/// the copy with the smallest URL (`generic` < `gentoo2023/generic` < `.../x86-64-v3` <
/// `.../x86-64-v4`), not the node's own. One finding for the tree: the nodes it concerns and
/// some of the files, as the fix is the site's (an index, or uv), not a wheel's.
pub(super) fn same_names(universe: &Universe<'_>, views: &[NodeView]) -> Option<Finding> {
    let mut nodes = BTreeSet::new();
    let mut examples: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for view in views {
        let rank: Vec<Option<usize>> = universe
            .tree
            .dirs
            .iter()
            .map(|dir| view.dirs.iter().position(|relative| *relative == dir.relative))
            .collect();
        for wheels in &universe.wheels_of {
            let mut by_name: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
            for &wheel in wheels {
                if rank[universe.tree.wheels[wheel].dir].is_some() {
                    by_name
                        .entry(&universe.tree.wheels[wheel].file_name)
                        .or_default()
                        .push(wheel);
                }
            }
            for copies in by_name.values().filter(|copies| copies.len() > 1) {
                let own = copies
                    .iter()
                    .copied()
                    .min_by_key(|&wheel| rank[universe.tree.wheels[wheel].dir]);
                let pip = copies
                    .iter()
                    .copied()
                    .min_by_key(|&wheel| universe.relative(wheel));
                let (Some(own), Some(pip)) = (own, pip) else {
                    continue;
                };
                if own == pip {
                    continue;
                }
                for (index, python) in universe.pythons.iter().enumerate() {
                    if universe.preference[index][own].is_some() {
                        nodes.insert(NodeName {
                            layer: view.layer.clone(),
                            arch: view.arch.clone(),
                            python: python.to_string(),
                        });
                    }
                }
                examples
                    .entry(format!(
                        "{} (its own: {})",
                        universe.relative(pip),
                        universe.dir_of(own)
                    ))
                    .or_default()
                    .insert(format!("{}/{}", view.layer, view.arch));
            }
        }
    }
    if examples.is_empty() {
        return None;
    }
    let message = format!(
        "pip with find-links installs another directory's copy of {} that are in several directories of a node's view (it takes the smallest URL; uv and the index take the node's own)",
        crate::words::count(examples.len(), "wheel")
    );
    let mut finding = Finding::new(
        FindingKind::Shadowed,
        "",
        message,
        Fix::new(FixAction::UseIndex, ""),
    );
    finding.nodes = nodes.into_iter().collect();
    finding.details = examples
        .iter()
        .take(EXAMPLES)
        .map(|(file, views)| {
            let views: Vec<&str> = views.iter().map(String::as_str).collect();
            format!("{file} on {}", views.join(", "))
        })
        .collect();
    if examples.len() > EXAMPLES {
        finding
            .details
            .push(format!("... and {} more", examples.len() - EXAMPLES));
    }
    Some(finding)
}

/// A requirement as compared between wheels: name, extras, specifiers, and the extra it is in
/// force through.
fn requirement_key(requirement: &Requirement, extra: Option<&ExtraName>) -> String {
    let mut key = requirement.name.to_string();
    if !requirement.extras.is_empty() {
        let extras: Vec<String> = requirement.extras.iter().map(ToString::to_string).collect();
        key.push_str(&format!("[{}]", extras.join(",")));
    }
    match &requirement.version_or_url {
        Some(VersionOrUrl::VersionSpecifier(specifiers)) => key.push_str(&specifiers.to_string()),
        Some(VersionOrUrl::Url(url)) => key.push_str(&format!(" @ {url}")),
        None => {}
    }
    if let Some(extra) = extra {
        key.push_str(&format!(" (extra `{extra}`)"));
    }
    key
}

/// The requirements of `wheel` in force on `environment`, with every extra it declares.
fn in_force(universe: &Universe<'_>, wheel: usize, environment: &MarkerEnvironment) -> BTreeSet<String> {
    let metadata = &universe.metadata[wheel];
    let extras: Vec<ExtraName> = metadata
        .provides_extra
        .iter()
        .filter_map(|extra| extra.parse().ok())
        .collect();
    let mut keys = BTreeSet::new();
    for requirement in &metadata.requirements {
        if marker_holds(&requirement.marker, environment, &[]) {
            keys.insert(requirement_key(requirement, None));
        } else if let Some(extra) = extras
            .iter()
            .find(|extra| marker_holds(&requirement.marker, environment, std::slice::from_ref(*extra)))
        {
            keys.insert(requirement_key(requirement, Some(extra)));
        }
    }
    keys
}

/// The requirements without a marker: what every Python gets.
fn unconditional(universe: &Universe<'_>, wheel: usize) -> BTreeSet<String> {
    universe.metadata[wheel]
        .requirements
        .iter()
        .filter(|requirement| requirement.marker.is_true())
        .map(|requirement| requirement.name.to_string())
        .collect()
}

/// Lines naming what some wheels have and others lack, given each wheel's set.
fn differences(universe: &Universe<'_>, sets: &[(usize, BTreeSet<String>)], what: &str) -> Vec<String> {
    let union: BTreeSet<&String> = sets.iter().flat_map(|(_, set)| set).collect();
    let mut lines = Vec::new();
    for key in union {
        let (with, without): (Vec<_>, Vec<_>) = sets.iter().partition(|(_, set)| set.contains(key));
        if without.is_empty() {
            continue;
        }
        let names = |wheels: &[&(usize, BTreeSet<String>)]| {
            wheels
                .iter()
                .map(|(wheel, _)| universe.relative(*wheel))
                .collect::<Vec<_>>()
                .join(", ")
        };
        lines.push(format!(
            "{what}`{key}` in {} but not in {}",
            names(&with),
            names(&without)
        ));
    }
    lines
}

/// Every version (in the checked views' directories) whose wheels disagree on their
/// requirements.
pub(super) fn check_versions(universe: &Universe<'_>, views: &[NodeView]) -> Vec<Finding> {
    let searched: HashSet<&str> = views
        .iter()
        .flat_map(|view| view.dirs.iter().map(String::as_str))
        .collect();
    let environments: Vec<MarkerEnvironment> = universe
        .pythons
        .iter()
        .map(|python| linux_environment(python.major, python.minor))
        .collect();
    let mut findings = Vec::new();
    for (project, wheels) in universe.wheels_of.iter().enumerate() {
        let mut versions: BTreeMap<&pep440_rs::Version, Vec<usize>> = BTreeMap::new();
        for &wheel in wheels {
            if searched.contains(universe.dir_of(wheel)) && universe.metadata[wheel].problem.is_none() {
                versions
                    .entry(universe.version_of(wheel))
                    .or_default()
                    .push(wheel);
            }
        }
        for (version, wheels) in versions {
            if wheels.len() < 2 {
                continue;
            }
            let mut details = Vec::new();
            for (index, environment) in environments.iter().enumerate() {
                let sets: Vec<(usize, BTreeSet<String>)> = wheels
                    .iter()
                    .filter(|&&wheel| universe.preference[index][wheel].is_some())
                    .map(|&wheel| (wheel, in_force(universe, wheel, environment)))
                    .collect();
                let python = &universe.pythons[index];
                details.extend(differences(universe, &sets, &format!("on Python {python}: ")));
            }
            let sets: Vec<(usize, BTreeSet<String>)> = wheels
                .iter()
                .map(|&wheel| (wheel, unconditional(universe, wheel)))
                .collect();
            details.extend(differences(universe, &sets, "without a marker: "));
            if details.is_empty() {
                continue;
            }
            let name = &universe.names[project];
            let mut fix = Fix::new(FixAction::Rebuild, name);
            fix.version = Some(version.clone().without_local().to_string());
            let message = format!(
                "the {} wheels of {name} {version} disagree on their requirements",
                wheels.len()
            );
            let mut finding = Finding::new(FindingKind::RequirementsDiffer, name, message, fix);
            finding.details = details;
            findings.push(finding);
        }
    }
    findings
}
