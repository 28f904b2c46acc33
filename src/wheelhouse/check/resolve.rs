//! A full resolution of `--resolve`'s requirements on one node, with PubGrub over the tree's
//! metadata: the user's `pip install -r FILE` done in advance. A project's versions are those
//! the node can install (best copy of each); a requirement's range is the set of those
//! versions it admits (PEP 440 as pip takes it: local labels ignored, pre-releases only when
//! named), written as runs of consecutive candidates, so that PubGrub's range algebra never
//! meets PEP 440's special cases. Extras are packages of their own (`foo[bar]` at version v
//! needs `foo` at v and bar's requirements), as uv does. Newest versions are tried first.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::BTreeSet;
use std::convert::Infallible;

use pep440_rs::{Version, VersionSpecifiers};
use pep508_rs::{ExtraName, Requirement};
use pubgrub::{
    DefaultStringReporter, Dependencies, DependencyConstraints, DependencyProvider,
    PackageResolutionStatistics, PubGrubError, Ranges, Reporter as _,
};

use super::RequirementLine;
use super::closure::{instead, node_name};
use super::model::{Finding, FindingKind, Fix, FixAction, Resolution, ResolvedPackage};
use super::node::{Offer, Universe, specifiers_of};
use crate::spec::environment::marker_holds;

/// A package of the resolution.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Package {
    /// The requirements file.
    Root,
    /// A project (its number, when the tree has it).
    Project { name: String, id: Option<usize> },
    /// A project's extra.
    Extra {
        name: String,
        id: Option<usize>,
        extra: ExtraName,
    },
}

impl std::fmt::Display for Package {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Package::Root => write!(formatter, "the requirements"),
            Package::Project { name, .. } => write!(formatter, "{name}"),
            Package::Extra { name, extra, .. } => write!(formatter, "{name}[{extra}]"),
        }
    }
}

impl Package {
    fn id(&self) -> Option<usize> {
        match self {
            Package::Root => None,
            Package::Project { id, .. } | Package::Extra { id, .. } => *id,
        }
    }
}

/// A requirement no candidate meets, seen while resolving: the first says what to build.
#[derive(Debug, Clone)]
struct Unmet {
    by: String,
    requirement: String,
    name: String,
    id: Option<usize>,
    specifiers: VersionSpecifiers,
}

struct Provider<'u, 'o> {
    universe: &'u Universe<'u>,
    offer: &'u Offer<'o>,
    roots: Vec<Requirement>,
    unmet: RefCell<Vec<Unmet>>,
}

impl Provider<'_, '_> {
    /// The versions of a package the node can install, newest first.
    fn candidates(&self, package: &Package) -> impl Iterator<Item = &Version> {
        let releases = package
            .id()
            .map(|id| self.offer.releases[id].as_slice())
            .unwrap_or_default();
        releases.iter().map(|release| &release.version)
    }

    /// The set of the package's candidates `specifiers` admit, as runs of consecutive
    /// candidates.
    fn range(&self, id: Option<usize>, specifiers: &VersionSpecifiers) -> Ranges<Version> {
        let Some(id) = id else {
            return Ranges::empty();
        };
        let admitted: BTreeSet<&Version> = self
            .offer
            .matching(id, specifiers)
            .map(|release| &release.version)
            .collect();
        let mut range = Ranges::empty();
        let mut run: Option<(&Version, &Version)> = None;
        // Oldest first, so that a run grows upwards.
        for release in self.offer.releases[id].iter().rev() {
            let version = &release.version;
            if admitted.contains(version) {
                run = Some(run.map_or((version, version), |(low, _)| (low, version)));
            } else if let Some((low, high)) = run.take() {
                range = range.union(&Ranges::from_range_bounds(low.clone()..=high.clone()));
            }
        }
        if let Some((low, high)) = run {
            range = range.union(&Ranges::from_range_bounds(low.clone()..=high.clone()));
        }
        range
    }

    /// The packages and ranges one requirement adds.
    fn edges(&self, by: &str, requirement: &Requirement, into: &mut Vec<(Package, Ranges<Version>)>) {
        let name = requirement.name.to_string();
        let id = self.universe.id_of_package(&requirement.name);
        // A URL requirement is not the wheelhouse's to meet: no candidate does.
        let specifiers = specifiers_of(requirement);
        let range = specifiers
            .as_ref()
            .map_or_else(Ranges::empty, |specifiers| self.range(id, specifiers));
        if range.is_empty() {
            self.unmet.borrow_mut().push(Unmet {
                by: by.to_string(),
                requirement: requirement.to_string(),
                name: name.clone(),
                id,
                specifiers: specifiers.cloned().unwrap_or_else(VersionSpecifiers::empty),
            });
        }
        for extra in &requirement.extras {
            into.push((
                Package::Extra {
                    name: name.clone(),
                    id,
                    extra: extra.clone(),
                },
                range.clone(),
            ));
        }
        into.push((Package::Project { name, id }, range));
    }
}

/// The edges merged per package (their ranges intersected), without the package itself.
fn constraints(
    edges: Vec<(Package, Ranges<Version>)>,
    itself: &Package,
) -> DependencyConstraints<Package, Ranges<Version>> {
    let mut merged: Vec<(Package, Ranges<Version>)> = Vec::new();
    for (package, range) in edges {
        if package == *itself {
            continue;
        }
        match merged.iter_mut().find(|(existing, _)| *existing == package) {
            Some((_, existing)) => *existing = existing.intersection(&range),
            None => merged.push((package, range)),
        }
    }
    merged.into_iter().collect()
}

impl DependencyProvider for Provider<'_, '_> {
    type P = Package;
    type V = Version;
    type VS = Ranges<Version>;
    type M = String;
    type Err = Infallible;
    type Priority = (u32, Reverse<usize>);

    fn prioritize(
        &self,
        package: &Package,
        range: &Ranges<Version>,
        statistics: &PackageResolutionStatistics,
    ) -> Self::Priority {
        // Conflicting packages first, then those with the fewest versions left.
        let count = self
            .candidates(package)
            .filter(|version| range.contains(*version))
            .count();
        (statistics.conflict_count(), Reverse(count))
    }

    fn choose_version(
        &self,
        package: &Package,
        range: &Ranges<Version>,
    ) -> Result<Option<Version>, Infallible> {
        if *package == Package::Root {
            return Ok(Some(Version::new([0])));
        }
        Ok(self
            .candidates(package)
            .find(|version| range.contains(*version))
            .cloned())
    }

    fn get_dependencies(
        &self,
        package: &Package,
        version: &Version,
    ) -> Result<Dependencies<Package, Ranges<Version>, String>, Infallible> {
        let environment = &self.offer.environment;
        let mut edges = Vec::new();
        match package {
            Package::Root => {
                for requirement in &self.roots {
                    if marker_holds(&requirement.marker, environment, &[]) {
                        self.edges("the requirements", requirement, &mut edges);
                    }
                }
            }
            Package::Project { name, id } | Package::Extra { name, id, .. } => {
                let Some(release) = id.and_then(|id| {
                    self.offer.releases[id]
                        .iter()
                        .find(|release| release.version == *version)
                }) else {
                    return Ok(Dependencies::Unavailable(format!(
                        "{name} {version} is not in the node's view"
                    )));
                };
                let by = format!("{name} {version}");
                let extra = match package {
                    Package::Extra { extra, .. } => Some(extra),
                    _ => None,
                };
                if extra.is_some() {
                    edges.push((
                        Package::Project {
                            name: name.clone(),
                            id: *id,
                        },
                        Ranges::singleton(version.clone()),
                    ));
                }
                for requirement in &self.universe.metadata[release.pick()].requirements {
                    let plain = marker_holds(&requirement.marker, environment, &[]);
                    let wanted = match extra {
                        None => plain,
                        Some(extra) => {
                            !plain
                                && marker_holds(&requirement.marker, environment, std::slice::from_ref(extra))
                        }
                    };
                    if wanted {
                        self.edges(&by, requirement, &mut edges);
                    }
                }
            }
        }
        Ok(Dependencies::Available(constraints(edges, package)))
    }
}

/// Resolves `lines` on the node: the resolution, and a finding when it fails.
pub(super) fn resolve(
    universe: &Universe<'_>,
    offer: &Offer<'_>,
    lines: &[RequirementLine],
) -> (Resolution, Option<Finding>) {
    let provider = Provider {
        universe,
        offer,
        roots: lines.iter().map(|line| line.requirement.clone()).collect(),
        unmet: RefCell::new(Vec::new()),
    };
    let node = node_name(offer);
    match pubgrub::resolve(&provider, Package::Root, Version::new([0])) {
        Ok(selected) => {
            let mut packages: Vec<ResolvedPackage> = selected
                .iter()
                .filter_map(|(package, version)| match package {
                    Package::Project { name, id: Some(id) } => {
                        let release = offer.releases[*id]
                            .iter()
                            .find(|release| release.version == *version)?;
                        Some(ResolvedPackage {
                            name: name.clone(),
                            version: version.to_string(),
                            wheel: universe.relative(release.pick()),
                        })
                    }
                    _ => None,
                })
                .collect();
            packages.sort_by(|a, b| a.name.cmp(&b.name));
            let resolution = Resolution {
                node,
                resolved: true,
                packages,
            };
            (resolution, None)
        }
        Err(error) => {
            let explanation = match error {
                PubGrubError::NoSolution(mut tree) => {
                    tree.collapse_no_versions();
                    // The root's version and the empty set, in words.
                    DefaultStringReporter::report(&tree)
                        .replace("the requirements 0 ", "the requirements ")
                        .replace("the requirements depends on", "the requirements depend on")
                        .replace("the requirements is forbidden", "the requirements cannot be met")
                        .replace(" ∅", " (no version the node can install)")
                }
                other => other.to_string(),
            };
            // The first requirement no candidate met that the explanation names.
            let unmet = {
                let unmet = provider.unmet.borrow();
                unmet
                    .iter()
                    .find(|unmet| explanation.contains(&unmet.name))
                    .or(unmet.first())
                    .cloned()
            };
            let finding = failure(universe, offer, lines, &explanation, unmet);
            let resolution = Resolution {
                node,
                resolved: false,
                packages: Vec::new(),
            };
            (resolution, Some(finding))
        }
    }
}

fn failure(
    universe: &Universe<'_>,
    offer: &Offer<'_>,
    lines: &[RequirementLine],
    explanation: &str,
    unmet: Option<Unmet>,
) -> Finding {
    let wanted: Vec<&str> = lines.iter().map(|line| line.text.as_str()).collect();
    let message = format!("`{}` does not resolve", wanted.join(" "));
    let (project, fix, instead, requirement, first) = match unmet {
        Some(unmet) => {
            let (instead, fix) = instead(universe, offer, &unmet.name, unmet.id, &unmet.specifiers);
            let first = format!("{} requires `{}`: {}", unmet.by, unmet.requirement, instead.text);
            (
                unmet.name,
                fix,
                Some(instead),
                Some(unmet.requirement),
                Some(first),
            )
        }
        None => {
            let project = lines
                .first()
                .map(|line| line.requirement.name.to_string())
                .unwrap_or_default();
            let mut fix = Fix::new(FixAction::Rebuild, &project);
            fix.pythons = vec![offer.python.to_string()];
            (project, fix, None, None, None)
        }
    };
    let mut finding = Finding::new(FindingKind::Resolution, &project, message, fix);
    finding.requirement = requirement;
    finding.instead = instead;
    finding.details = first
        .into_iter()
        .chain(explanation.lines().map(str::to_string))
        .collect();
    finding.nodes = vec![node_name(offer)];
    finding
}
