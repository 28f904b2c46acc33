//! The plan's decisions: the packages in build order (a package after those of the set it
//! needs), then every cell's input key and state, and why a cell is built.

use super::*;

/// The packages in build order: a package after those of the set it needs; a cycle is an
/// error naming it.
pub(super) fn build_order(packages: Vec<PackagePlan>) -> Result<Vec<PackagePlan>, NightlyError> {
    let index: BTreeMap<String, usize> = packages
        .iter()
        .enumerate()
        .map(|(position, package)| (crate::spec::normalize_name(&package.name), position))
        .collect();
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Visiting,
        Done,
    }
    let mut marks = vec![Mark::New; packages.len()];
    let mut order = Vec::new();
    fn visit(
        position: usize,
        packages: &[PackagePlan],
        index: &BTreeMap<String, usize>,
        marks: &mut Vec<Mark>,
        path: &mut Vec<usize>,
        order: &mut Vec<usize>,
    ) -> Result<(), NightlyError> {
        match marks[position] {
            Mark::Done => return Ok(()),
            Mark::Visiting => {
                let start = path.iter().position(|&p| p == position).unwrap_or(0);
                let mut cycle: Vec<String> =
                    path[start..].iter().map(|&p| packages[p].name.clone()).collect();
                cycle.push(packages[position].name.clone());
                return Err(NightlyError::Cycle(cycle.join(" -> ")));
            }
            Mark::New => {}
        }
        marks[position] = Mark::Visiting;
        path.push(position);
        for need in packages[position].needs() {
            if let Some(&next) = index.get(&need) {
                visit(next, packages, index, marks, path, order)?;
            }
        }
        path.pop();
        marks[position] = Mark::Done;
        order.push(position);
        Ok(())
    }
    for position in 0..packages.len() {
        visit(
            position,
            &packages,
            &index,
            &mut marks,
            &mut Vec::new(),
            &mut order,
        )?;
    }
    let mut slots: Vec<Option<PackagePlan>> = packages.into_iter().map(Some).collect();
    Ok(order
        .into_iter()
        .filter_map(|position| slots[position].take())
        .collect())
}

/// Every cell's input key and state, in build order (a package's key includes the keys of the
/// packages it builds against).
pub(super) fn decide(packages: &mut [PackagePlan], rebuild: &BTreeSet<String>) {
    let mut keys: BTreeMap<(String, String, PythonVersion, String), Option<String>> = BTreeMap::new();
    for package in packages.iter_mut() {
        let normalized = crate::spec::normalize_name(&package.name);
        for planned in &mut package.cells {
            let dependency_keys: Option<Vec<String>> = package
                .build_needs
                .iter()
                .map(|need| {
                    let id = &planned.id;
                    let exact = (need.clone(), id.layer.clone(), id.python, id.arch.clone());
                    let generic = (need.clone(), id.layer.clone(), id.python, "generic".to_string());
                    keys.get(&exact)
                        .or_else(|| keys.get(&generic))
                        .cloned()
                        .unwrap_or(None)
                        .map(|key| format!("{need} {key}"))
                })
                .collect();
            let inputs = match (planned.own_inputs.take(), dependency_keys) {
                (Some(mut inputs), Some(dependencies)) => {
                    if !dependencies.is_empty() {
                        inputs.insert("dependencies".to_string(), hash_of(&dependencies));
                    }
                    Some(inputs)
                }
                _ => None,
            };
            planned.key = inputs.as_ref().map(hash_of);
            planned.inputs = inputs.unwrap_or_default();
            planned.reasons = reasons(
                planned.key.as_deref(),
                &planned.inputs,
                planned.last.as_ref(),
                package.version.as_deref(),
                rebuild.contains(&normalized),
            );
            planned.state = if planned.reasons.is_empty() {
                Planned::UpToDate
            } else {
                Planned::Build
            };
            keys.insert(
                (
                    normalized.clone(),
                    planned.id.layer.clone(),
                    planned.id.python,
                    planned.id.arch.clone(),
                ),
                planned.key.clone(),
            );
        }
    }
}

/// Why a cell whose input key is `key` (`None`: its source is not known yet), with
/// `inputs`, is built; empty when it is up to date.
pub(super) fn reasons(
    key: Option<&str>,
    inputs: &BTreeMap<String, String>,
    last: Option<&crate::nightly::state::LastResult>,
    version: Option<&str>,
    forced: bool,
) -> Vec<String> {
    let mut reasons = Vec::new();
    if forced {
        reasons.push("asked for (--rebuild)".to_string());
    }
    let Some(key) = key else {
        reasons.push(match version {
            None => "the version is known once the source is fetched".to_string(),
            Some(_) => "the source is not fetched yet".to_string(),
        });
        return reasons;
    };
    match last {
        None => reasons.push("no earlier result".to_string()),
        Some(last) if last.key.as_deref() == Some(key) => {
            if !last.state.passed() {
                reasons.push(format!("the last run {} ({})", last.state, last.run));
            }
        }
        Some(last) => {
            let changed: Vec<&str> = inputs
                .iter()
                .filter(|(name, hash)| last.inputs.get(*name) != Some(*hash))
                .map(|(name, _)| name.as_str())
                .collect();
            reasons.push(if last.version != version.unwrap_or_default() {
                format!(
                    "new version ({} -> {})",
                    last.version,
                    version.unwrap_or_default()
                )
            } else if changed.is_empty() {
                "the inputs changed".to_string()
            } else {
                format!("changed: {}", changed.join(", "))
            });
        }
    }
    reasons
}
