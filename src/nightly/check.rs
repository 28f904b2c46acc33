//! The wheelhouse checked after a night's publishing (`[check]` of the configuration): what
//! every node of the layout can install ([`crate::wheelhouse::check`]), kept in the run's
//! state for its reports; and the missing dependencies it finds, chosen to be planned and
//! built the same night (`fill_holes`, at most `fill_limit` packages).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::layout::Layout;
use crate::wheelhouse::check::{
    CheckOptions, Finding, FindingKind, FixAction, read_requirements_file, run_check,
};

use super::config::{NightlyConfig, PackageEntry, Wanted};

/// What the check after publishing found, as the reports show it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CheckSummary {
    /// Wheels and projects in the tree.
    pub wheels: usize,
    pub projects: usize,
    /// `<layer>/<arch>` of every node view checked, and the Pythons.
    pub views: Vec<String>,
    pub pythons: Vec<String>,
    /// Findings that are holes: a user's install fails on some node.
    pub holes: usize,
    /// Findings by kind (`closure`, `stale`, ...).
    pub counts: BTreeMap<String, usize>,
    pub findings: Vec<Finding>,
    /// Packages the night planned to fill holes, and why.
    #[serde(default)]
    pub filled: Vec<FilledPackage>,
    /// The check after filling found these holes first (the ones before the fill).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holes_before_filling: Option<usize>,
    /// Why the check could not run (the night goes on: the reports say so).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl CheckSummary {
    /// One line for the reports: `5 wheels of 5 projects checked on VIEWS x Python 3.12:
    /// 0 holes (1 stale)`; `hole_count` renders the holes (bold in Markdown).
    pub fn line(&self, hole_count: &dyn Fn(String) -> String) -> String {
        let kinds: Vec<String> = self
            .counts
            .iter()
            .map(|(kind, number)| format!("{number} {kind}"))
            .collect();
        format!(
            "{} of {} checked on {} x Python {}: {}{}",
            crate::words::count(self.wheels, "wheel"),
            crate::words::count(self.projects, "project"),
            self.views.join(", "),
            self.pythons.join(", "),
            hole_count(crate::words::count(self.holes, "hole")),
            if kinds.is_empty() {
                String::new()
            } else {
                format!(" ({})", kinds.join(", "))
            }
        )
    }
}

impl FilledPackage {
    /// `urllib3 >=1.26,<3 (for `urllib3>=1.26,<3` of generic/requests-...whl)`.
    pub fn describe(&self) -> String {
        format!(
            "{}{} (for {})",
            self.name,
            self.wanted
                .as_deref()
                .map(|wanted| format!(" {wanted}"))
                .unwrap_or_default(),
            self.because
        )
    }
}

/// A package planned to fill holes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilledPackage {
    /// Its normalised name.
    pub name: String,
    /// The versions wanted (`<2,>=1.26`), when the requirements say.
    pub wanted: Option<String>,
    /// The requirement and wheel that asked for it, in words.
    pub because: String,
    /// How many findings asked for it.
    pub findings: usize,
}

/// Checks the wheelhouse of `layout`: every node view of its active layers, every Python of
/// the night (the configuration's, else the layout's). A check that cannot run is recorded
/// as the summary's error.
pub fn check_wheelhouse(config: &NightlyConfig, layout: &Layout) -> CheckSummary {
    match try_check(config, layout) {
        Ok(summary) => summary,
        Err(error) => CheckSummary {
            error: Some(format!("{error:#}")),
            ..CheckSummary::default()
        },
    }
}

fn try_check(config: &NightlyConfig, layout: &Layout) -> anyhow::Result<CheckSummary> {
    let views = crate::wheelhouse::view::views_of(layout, None, None)?;
    let resolve = match &config.check.resolve {
        Some(path) => read_requirements_file(path)?,
        None => Vec::new(),
    };
    let options = CheckOptions {
        views,
        pythons: config
            .pythons
            .clone()
            .unwrap_or_else(|| layout.python_versions.clone()),
        all_versions: false,
        resolve,
        only_resolve: false,
        staleness: None,
        cache_dir: Some(config.paths.state.join("check-cache")),
        jobs: crate::inspect::default_jobs(),
    };
    let report = run_check(layout, &options)?;
    Ok(CheckSummary {
        wheels: report.wheels,
        projects: report.projects,
        views: report.views.clone(),
        pythons: report.pythons.clone(),
        holes: report.holes,
        counts: report
            .counts
            .iter()
            .map(|(kind, count)| (kind_name(*kind), *count))
            .collect(),
        findings: report.findings,
        filled: Vec::new(),
        holes_before_filling: None,
        error: None,
    })
}

/// A kind as the JSON writes it (`requirements-differ`).
pub fn kind_name(kind: FindingKind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|value| value.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{kind:?}"))
}

/// The packages to plan so that the holes of `summary` close: projects a requirement wants
/// that the wheelhouse lacks (or lacks for some node), which the night did not already try
/// (`tried`, normalised names), at most `limit`, those most asked for first. Each wants the
/// versions every requirement on it allows (the newest when none says).
pub fn packages_to_fill(
    summary: &CheckSummary,
    config: &NightlyConfig,
    tried: &BTreeSet<String>,
) -> Vec<(PackageEntry, FilledPackage)> {
    let mut wanted: BTreeMap<String, (BTreeSet<String>, Vec<&Finding>)> = BTreeMap::new();
    for finding in &summary.findings {
        if finding.kind != FindingKind::Closure
            || !matches!(finding.fix.action, FixAction::AddRecipe | FixAction::Build)
        {
            continue;
        }
        let name = crate::spec::normalize_name(&finding.fix.project);
        if tried.contains(&name) {
            continue;
        }
        let entry = wanted.entry(name).or_default();
        entry.0.extend(
            finding
                .fix
                .requirement
                .iter()
                .filter(|text| !text.is_empty())
                .cloned(),
        );
        entry.1.push(finding);
    }
    let mut chosen: Vec<(String, BTreeSet<String>, Vec<&Finding>)> = wanted
        .into_iter()
        .map(|(name, (requirements, findings))| (name, requirements, findings))
        .collect();
    chosen.sort_by(|a, b| b.2.len().cmp(&a.2.len()).then_with(|| a.0.cmp(&b.0)));
    chosen.truncate(config.check.fill_limit);
    chosen
        .into_iter()
        .map(|(name, requirements, findings)| {
            let specifiers =
                (!requirements.is_empty()).then(|| requirements.into_iter().collect::<Vec<_>>().join(","));
            let first = findings[0];
            let because = format!(
                "`{}` of {}",
                first.requirement.as_deref().unwrap_or(&name),
                first.wheel.as_deref().unwrap_or("the wheelhouse")
            );
            let entry = PackageEntry {
                name: name.clone(),
                wanted: specifiers.clone().map_or(Wanted::Latest, Wanted::Within),
                resources: config.resources,
                own_resources: false,
            };
            (
                entry,
                FilledPackage {
                    name,
                    wanted: specifiers,
                    because,
                    findings: findings.len(),
                },
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wheelhouse::check::Fix;

    fn finding(kind: FindingKind, project: &str, action: FixAction, requirement: Option<&str>) -> Finding {
        let mut fix = Fix::new(action, project);
        fix.requirement = requirement.map(str::to_string);
        let mut finding = Finding::new(kind, project, format!("{project} is missing"), fix);
        finding.wheel = Some(format!("generic/user_of_{project}-1.0-py3-none-any.whl"));
        finding.requirement = Some(format!("{project}{}", requirement.unwrap_or("")));
        finding
    }

    #[test]
    fn holes_are_filled_by_the_projects_most_asked_for_within_every_requirement_and_the_limit() {
        let config = NightlyConfig::parse(
            "packages = [\"six\"]\n[check]\nfill_holes = true\nfill_limit = 2\n",
            std::path::Path::new("/site/ci/nightly.toml"),
        )
        .unwrap();
        assert!(config.check.enabled && config.check.fill_holes);
        let summary = CheckSummary {
            holes: 6,
            findings: vec![
                finding(FindingKind::Closure, "Zeta_Lib", FixAction::AddRecipe, None),
                finding(FindingKind::Closure, "numpy", FixAction::Build, Some("<2")),
                finding(FindingKind::Closure, "numpy", FixAction::Build, Some(">=1.26")),
                finding(FindingKind::Closure, "alpha", FixAction::AddRecipe, None),
                // Tried tonight already: its failure is the night's to report, not a hole to fill.
                finding(FindingKind::Closure, "six", FixAction::Build, None),
                // Not missing dependencies: nothing to plan.
                finding(FindingKind::Resolution, "omega", FixAction::AddRecipe, None),
                finding(FindingKind::Stale, "beta", FixAction::Upgrade, None),
                finding(FindingKind::RequirementsDiffer, "gamma", FixAction::Rebuild, None),
            ],
            ..CheckSummary::default()
        };
        let tried: BTreeSet<String> = ["six".to_string()].into();
        let chosen = packages_to_fill(&summary, &config, &tried);
        let names: Vec<(&str, String, Option<&str>, usize)> = chosen
            .iter()
            .map(|(entry, filled)| {
                (
                    entry.name.as_str(),
                    entry.wanted.to_string(),
                    filled.wanted.as_deref(),
                    filled.findings,
                )
            })
            .collect();
        // numpy (two findings) first, within both requirements; then by name, up to the limit:
        // alpha, not zeta-lib.
        assert_eq!(
            names,
            [
                ("numpy", "<2,>=1.26".to_string(), Some("<2,>=1.26"), 2),
                ("alpha", "latest".to_string(), None, 1)
            ]
        );
        assert_eq!(
            chosen[1].1.because,
            "`alpha` of generic/user_of_alpha-1.0-py3-none-any.whl"
        );
        // Without a limit, zeta-lib too, by its normalised name.
        let mut unlimited = config.clone();
        unlimited.check.fill_limit = 10;
        let all: Vec<String> = packages_to_fill(&summary, &unlimited, &tried)
            .into_iter()
            .map(|(entry, _)| entry.name)
            .collect();
        assert_eq!(all, ["numpy", "alpha", "zeta-lib"]);
    }

    #[test]
    fn a_fill_pass_and_the_check_survive_the_run_file() {
        // A run killed during its fill pass resumes it from run.json: the packages, where
        // their tasks start and the holes before are read back.
        let state = serde_json::json!({
            "name": "20261207-030623", "config": "/site/ci/nightly.toml", "executor": "local",
            "started": 1, "finished": 2, "up_to_date": [], "tasks": [],
            "filling": {"packages": [{"name": "purepkg", "wanted": ">=0.1", "because": "`purepkg>=0.1` of generic/holey-1.0-py3-none-any.whl", "findings": 1}], "first_task": 3, "holes_before": 1},
            "check": {"wheels": 2, "projects": 2, "views": ["gentoo2023/generic"], "pythons": ["3.12"], "holes": 0, "counts": {}, "findings": [], "filled": [], "holes_before_filling": 1}
        });
        let state: crate::nightly::model::RunState = serde_json::from_value(state).unwrap();
        let pass = state.filling.as_ref().unwrap();
        assert_eq!((pass.first_task, pass.holes_before), (3, 1));
        assert_eq!(pass.packages[0].wanted.as_deref(), Some(">=0.1"));
        assert_eq!(state.check.as_ref().unwrap().holes_before_filling, Some(1));
        // An older run file, without either, still reads.
        let old: crate::nightly::model::RunState = serde_json::from_value(serde_json::json!({
            "name": "x", "config": "c", "executor": "local", "started": 1, "finished": null,
            "up_to_date": [], "tasks": []
        }))
        .unwrap();
        assert!(old.filling.is_none() && old.check.is_none());
    }

    #[test]
    fn a_check_that_cannot_run_is_recorded_not_raised() {
        let directory = tempfile::tempdir().unwrap();
        let config =
            NightlyConfig::parse("packages = [\"six\"]\n", &directory.path().join("nightly.toml")).unwrap();
        let mut layout = crate::layout::Layout::embedded().unwrap();
        layout.root = directory.path().join("no-such-tree");
        let summary = check_wheelhouse(&config, &layout);
        let error = summary.error.unwrap_or_default();
        assert!(error.contains("no-such-tree"), "{error}");
        assert_eq!(summary.holes, 0);
    }
}
