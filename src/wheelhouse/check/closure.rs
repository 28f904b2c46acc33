//! The closure of one node: every requirement in force of the wheels the node would install
//! (the newest version of each project, or every version), met by some wheel the node can
//! install. In force means its marker holds for the node's Python on x86-64 Linux, with the
//! extras the wheelhouse itself asks for: `foo[bar]` in some checked wheel makes foo's
//! `extra == "bar"` requirements count (and so on, to a fixed point).

use std::collections::{BTreeSet, HashMap};

use pep440_rs::VersionSpecifiers;
use pep508_rs::{ExtraName, Requirement};

use super::model::{Finding, FindingKind, Fix, FixAction, Instead, NodeName};
use super::node::{Offer, Universe, specifiers_of};
use crate::spec::environment::marker_holds;
use crate::wheelhouse::avail::python_label;

/// How many versions a hole lists as present.
const VERSIONS_SHOWN: usize = 6;

/// Whether a requirement is in force, and through which extra: `None` not in force,
/// `Some(None)` without any extra, `Some(Some(extra))` through that one.
pub(super) fn in_force(
    requirement: &Requirement,
    offer: &Offer<'_>,
    extras: &[ExtraName],
) -> Option<Option<ExtraName>> {
    if marker_holds(&requirement.marker, &offer.environment, &[]) {
        return Some(None);
    }
    extras
        .iter()
        .find(|extra| {
            marker_holds(
                &requirement.marker,
                &offer.environment,
                std::slice::from_ref(*extra),
            )
        })
        .map(|extra| Some(extra.clone()))
}

/// The extras the checked wheels ask of each project, to a fixed point (an extra's own
/// requirements may ask for more).
pub(super) fn used_extras(
    universe: &Universe<'_>,
    offer: &Offer<'_>,
    checked: &[(usize, usize)],
) -> HashMap<usize, BTreeSet<ExtraName>> {
    let mut used: HashMap<usize, BTreeSet<ExtraName>> = HashMap::new();
    loop {
        let mut changed = false;
        for &(project, wheel) in checked {
            let extras: Vec<ExtraName> = used
                .get(&project)
                .map(|set| set.iter().cloned().collect())
                .unwrap_or_default();
            for requirement in &universe.metadata[wheel].requirements {
                if requirement.extras.is_empty() || in_force(requirement, offer, &extras).is_none() {
                    continue;
                }
                let Some(target) = universe.id_of_package(&requirement.name) else {
                    continue;
                };
                let set = used.entry(target).or_default();
                for extra in &requirement.extras {
                    changed |= set.insert(extra.clone());
                }
            }
        }
        if !changed {
            return used;
        }
    }
}

/// The closure holes of one node.
pub(super) fn check(universe: &Universe<'_>, offer: &Offer<'_>, all_versions: bool) -> Vec<Finding> {
    let checked: Vec<(usize, usize)> = offer
        .releases
        .iter()
        .enumerate()
        .flat_map(|(project, releases)| {
            let count = if all_versions {
                releases.len()
            } else {
                releases.len().min(1)
            };
            releases[..count]
                .iter()
                .map(move |release| (project, release.pick()))
        })
        .collect();
    let used = used_extras(universe, offer, &checked);
    let mut findings = Vec::new();
    for &(project, wheel) in &checked {
        let extras: Vec<ExtraName> = used
            .get(&project)
            .map(|set| set.iter().cloned().collect())
            .unwrap_or_default();
        for requirement in &universe.metadata[wheel].requirements {
            let Some(through) = in_force(requirement, offer, &extras) else {
                continue;
            };
            // A URL requirement is not the wheelhouse's to meet.
            let Some(specifiers) = specifiers_of(requirement) else {
                continue;
            };
            let target = universe.id_of(requirement.name.as_ref());
            if target.is_some_and(|target| offer.matching(target, specifiers).next().is_some()) {
                continue;
            }
            findings.push(hole(
                universe,
                offer,
                wheel,
                requirement,
                through,
                target,
                specifiers,
            ));
        }
    }
    findings
}

/// The node as findings name it.
pub(super) fn node_name(offer: &Offer<'_>) -> NodeName {
    NodeName {
        layer: offer.view.layer.clone(),
        arch: offer.view.arch.clone(),
        python: offer.python.to_string(),
    }
}

fn hole(
    universe: &Universe<'_>,
    offer: &Offer<'_>,
    wheel: usize,
    requirement: &Requirement,
    through: Option<ExtraName>,
    target: Option<usize>,
    specifiers: &VersionSpecifiers,
) -> Finding {
    let name = requirement.name.to_string();
    let (instead, fix) = instead(universe, offer, &name, target, specifiers);
    let requirer = &universe.tree.wheels[wheel].filename;
    let extra = through
        .as_ref()
        .map(|extra| format!(" (its extra `{extra}`, which the wheelhouse asks for)"))
        .unwrap_or_default();
    let message = format!(
        "{} {} requires `{}`{extra}",
        requirer.name_text(),
        requirer.version_text(),
        requirement
    );
    let mut finding = Finding::new(FindingKind::Closure, &name, message, fix);
    finding.wheel = Some(universe.relative(wheel));
    finding.requirement = Some(requirement.to_string());
    finding.extra = through.map(|extra| extra.to_string());
    finding.instead = Some(instead);
    finding.nodes = vec![node_name(offer)];
    finding
}

/// The arch a build for the node's layer should target: the node's own when the project has
/// arch-specific wheels in the layer (a generic copy beside them is refused), else `generic`.
pub(super) fn target_arch(universe: &Universe<'_>, offer: &Offer<'_>, project: usize) -> String {
    let arch_specific = universe.wheels_of[project].iter().any(|&wheel| {
        let dir = &universe.tree.dirs[universe.tree.wheels[wheel].dir];
        dir.layer.as_deref() == Some(offer.view.layer.as_str()) && dir.is_arch_specific()
    });
    if arch_specific {
        offer.view.arch.clone()
    } else {
        "generic".to_string()
    }
}

/// For a generic build of a project that has arch builds in the node's layer: the newest of
/// their versions that the requirement admits, as a baseline build goes beside the arch
/// builds of its own version only (cp-wheels' rule).
fn baseline_version(
    universe: &Universe<'_>,
    offer: &Offer<'_>,
    project: usize,
    specifiers: &VersionSpecifiers,
) -> Option<String> {
    if offer.view.arch != "generic" && target_arch(universe, offer, project) != "generic" {
        return None;
    }
    let prereleases = crate::spec::environment::names_prerelease(specifiers);
    universe.wheels_of[project]
        .iter()
        .filter(|&&wheel| {
            let dir = &universe.tree.dirs[universe.tree.wheels[wheel].dir];
            dir.layer.as_deref() == Some(offer.view.layer.as_str()) && dir.is_arch_specific()
        })
        .map(|&wheel| universe.version_of(wheel))
        .filter(|version| crate::spec::environment::admits(specifiers, version, prereleases))
        .max()
        .map(|version| version.clone().without_local().to_string())
}

/// What the wheelhouse has of `name` instead, and the fix.
pub(super) fn instead(
    universe: &Universe<'_>,
    offer: &Offer<'_>,
    name: &str,
    target: Option<usize>,
    specifiers: &VersionSpecifiers,
) -> (Instead, Fix) {
    let python = offer.python.to_string();
    // `>=2,<4`: one shell word, as `wheelbuild --version` takes it.
    let requirement = (!specifiers.is_empty()).then(|| {
        specifiers
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",")
    });
    let Some(target) = target else {
        // What the project is (pure or compiled) is not known: the build decides where its
        // wheels go.
        let mut fix = Fix::new(FixAction::AddRecipe, name);
        fix.requirement = requirement;
        fix.pythons = vec![python];
        let instead = Instead {
            text: format!("no wheel of {name} in the wheelhouse"),
            ..Instead::default()
        };
        return (instead, fix);
    };
    let mut fix = Fix::new(FixAction::Build, name);
    fix.requirement = requirement;
    fix.pythons = vec![python.clone()];
    // A pure project's wheels go to the top-level generic directory whatever the node.
    let pure = universe.wheels_of[target].iter().all(|&wheel| {
        universe.tree.wheels[wheel].filename.tags.is_pure()
            && universe.tree.dirs[universe.tree.wheels[wheel].dir]
                .layer
                .is_none()
    });
    if !pure {
        fix.layer = Some(offer.view.layer.clone());
        fix.arch = Some(target_arch(universe, offer, target));
        fix.version = baseline_version(universe, offer, target, specifiers);
    }
    let releases = &offer.releases[target];
    if !releases.is_empty() {
        let versions: Vec<String> = releases
            .iter()
            .map(|release| release.version.to_string())
            .collect();
        let mut text = versions[..versions.len().min(VERSIONS_SHOWN)].join(", ");
        if versions.len() > VERSIONS_SHOWN {
            text.push_str(&format!(" (and {} older)", versions.len() - VERSIONS_SHOWN));
        }
        text.push_str(" present");
        return (
            Instead {
                text,
                versions,
                ..Instead::default()
            },
            fix,
        );
    }
    (absent(universe, offer, name, target), fix)
}

/// What the wheelhouse has of a project the node can install no version of: the Pythons the
/// node's directories have it for, the directories outside the view that have it for this
/// Python, or what its wheels are.
fn absent(universe: &Universe<'_>, offer: &Offer<'_>, name: &str, target: usize) -> Instead {
    let wheels = &universe.wheels_of[target];
    let in_view = |wheel: usize| offer.rank[universe.tree.wheels[wheel].dir].is_some();
    let pythons_where = |wheels: &mut dyn Iterator<Item = usize>| -> Vec<String> {
        let wheels: Vec<usize> = wheels.collect();
        universe
            .pythons
            .iter()
            .enumerate()
            .filter(|(index, _)| {
                wheels
                    .iter()
                    .any(|&wheel| universe.preference[*index][wheel].is_some())
            })
            .map(|(_, python)| python.to_string())
            .collect()
    };
    let other_pythons = pythons_where(&mut wheels.iter().copied().filter(|&wheel| in_view(wheel)));
    let directories: Vec<String> = wheels
        .iter()
        .filter(|&&wheel| !in_view(wheel) && universe.preference[offer.python_index][wheel].is_some())
        .map(|&wheel| universe.dir_of(wheel).to_string())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let text = if !directories.is_empty() {
        format!(
            "for this Python only in {}, which this node does not search",
            directories.join(", ")
        )
    } else if !other_pythons.is_empty() {
        format!(
            "no wheel for this Python (the node's directories have {name} for {})",
            other_pythons.join(", ")
        )
    } else {
        let anywhere = pythons_where(&mut wheels.iter().copied());
        if anywhere.is_empty() {
            let tags: BTreeSet<String> = wheels
                .iter()
                .map(|&wheel| python_label(&universe.tree.wheels[wheel].filename.tags))
                .collect();
            let tags: Vec<String> = tags.into_iter().collect();
            format!(
                "no wheel of {name} installs on the Pythons checked (its wheels are {})",
                tags.join(", ")
            )
        } else {
            format!(
                "not in this node's directories (the tree has {name} for {} elsewhere)",
                anywhere.join(", ")
            )
        }
    };
    Instead {
        text,
        versions: Vec::new(),
        pythons: other_pythons,
        directories,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wheelhouse::check::metadata::fixtures::{tree_at, write_wheel};
    use crate::wheelhouse::check::metadata::read_tree_metadata;

    fn metadata(name: &str, lines: &[&str]) -> String {
        let mut text = format!("Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n");
        for line in lines {
            text.push_str(line);
            text.push('\n');
        }
        text
    }

    #[test]
    fn extras_the_wheelhouse_asks_for_count_to_a_fixed_point() {
        let directory = tempfile::tempdir().unwrap();
        let generic = directory.path().join("generic");
        fs_err::create_dir_all(&generic).unwrap();
        let wheels = [
            ("a", vec!["Requires-Dist: b[x]"]),
            (
                "b",
                vec![
                    "Requires-Dist: c[y]; extra == \"x\"",
                    "Requires-Dist: never; extra == \"unused\"",
                ],
            ),
            (
                "c",
                vec![
                    "Requires-Dist: missing-y; extra == \"y\"",
                    "Requires-Dist: missing-z; extra == \"z\"",
                    "Requires-Dist: missing-old; extra == \"y\" and python_version < \"3.8\"",
                ],
            ),
        ];
        for (name, lines) in &wheels {
            write_wheel(
                &generic,
                &format!("{name}-1.0-py3-none-any.whl"),
                &metadata(name, lines),
            );
        }
        let tree = tree_at(directory.path());
        let read = read_tree_metadata(&tree, None, 1);
        let pythons = ["3.12".parse().unwrap()];
        let universe = Universe::new(&tree, &read.wheels, &pythons);
        let layout = crate::layout::Layout::embedded().unwrap();
        let view = crate::wheelhouse::view::node_view(&layout, "gentoo2023", "x86-64-v3").unwrap();
        let offer = Offer::new(&universe, &view, 0);
        let checked: Vec<(usize, usize)> = offer
            .releases
            .iter()
            .enumerate()
            .map(|(project, releases)| (project, releases[0].pick()))
            .collect();
        let used = used_extras(&universe, &offer, &checked);
        let extras_of = |name: &str| -> Vec<String> {
            used.get(&universe.id_of(name).unwrap())
                .map(|set| set.iter().map(ToString::to_string).collect())
                .unwrap_or_default()
        };
        assert_eq!(extras_of("b"), ["x"]);
        // Asked for by b's extra x, which a asks for: found on the second pass.
        assert_eq!(extras_of("c"), ["y"]);
        assert!(extras_of("a").is_empty());
        let holes: Vec<(String, Option<String>)> = check(&universe, &offer, false)
            .into_iter()
            .map(|finding| (finding.project, finding.extra))
            .collect();
        assert_eq!(holes, [("missing-y".to_string(), Some("y".to_string()))]);
    }
}
