//! The data of a check, as the report, the nightly and `--json` see it: [`Finding`]s with the
//! nodes they concern, what the wheelhouse has instead and their [`Fix`] (words, a command and
//! the fields a planner needs); findings of several nodes that say the same merged into one.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::CheckOptions;
use super::metadata::TreeMetadata;
use super::node::Universe;
use crate::tools::shell_quote;
use crate::wheelhouse::tree::Tree;

/// What a finding is about. Closure and resolution findings are holes: a user's install
/// fails on the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FindingKind {
    /// A requirement of a wheel the node would install that no wheel the node can install
    /// meets.
    Closure,
    /// A project of `--resolve` that does not resolve on the node.
    Resolution,
    /// A wheel whose METADATA cannot be read (no installer can use it).
    Unreadable,
    /// One version's wheels that disagree on their requirements.
    RequirementsDiffer,
    /// A copy the node takes that is not the one the wheelhouse meant for it.
    Shadowed,
    /// The node's own arch build is older than the version it installs from a less specific
    /// directory.
    ArchBehind,
    /// A project whose newest version is far behind the index.
    Stale,
}

impl FindingKind {
    /// Whether a user's install fails on the node.
    pub fn is_hole(self) -> bool {
        matches!(self, FindingKind::Closure | FindingKind::Resolution)
    }

    /// The heading of the kind in the table.
    pub fn title(self) -> &'static str {
        match self {
            FindingKind::Closure => "requirements no wheel meets (closure)",
            FindingKind::Resolution => "projects that do not resolve (--resolve)",
            FindingKind::Unreadable => "wheels whose METADATA cannot be read",
            FindingKind::RequirementsDiffer => "versions whose wheels disagree on their requirements",
            FindingKind::Shadowed => "copies a node takes unexpectedly",
            FindingKind::ArchBehind => "arch builds older than what the node installs",
            FindingKind::Stale => "projects behind the index",
        }
    }
}

/// A node: a view and a Python.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct NodeName {
    pub layer: String,
    pub arch: String,
    pub python: String,
}

/// What the wheelhouse has instead of what was wanted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Instead {
    /// In words: `2.1.3, 2.2.6 present`, `no wheel for Python 3.13 (...)`.
    pub text: String,
    /// Versions the node can install, none of which fits (newest first).
    pub versions: Vec<String>,
    /// Pythons the node's directories have the project for, when not this one.
    pub pythons: Vec<String>,
    /// Directories outside the node's view that have it for this Python.
    pub directories: Vec<String>,
}

/// What to do about a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FixAction {
    /// The wheelhouse has no wheel of the project at all: a recipe to add (and build).
    AddRecipe,
    /// Build the project (a version matching `requirement`) for `pythons` on `layer`/`arch`.
    Build,
    /// Build one version's wheels again from one recipe, so that they agree.
    Rebuild,
    /// Take a copy out of the tree.
    Remove,
    /// Replace an unreadable wheel.
    Replace,
    /// Serve the node's view as a simple index (or install with uv): pip with find-links
    /// takes another copy than the node's own.
    UseIndex,
    /// Build the index's newest version.
    Upgrade,
}

/// A finding's fix: the fields a planner uses, a sentence, and the command that does it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Fix {
    pub action: FixAction,
    /// The project to build, rebuild or take out (normalised).
    pub project: String,
    /// The versions wanted, as specifiers (`<2`, `>=1.26`), when any.
    pub requirement: Option<String>,
    /// One version, when the fix is about one (its public part: what `wheelbuild --version`
    /// takes).
    pub version: Option<String>,
    /// The Pythons to build for.
    pub pythons: Vec<String>,
    pub layer: Option<String>,
    pub arch: Option<String>,
    /// The wheel concerned, relative to the root (remove, replace).
    pub path: Option<String>,
    /// The fix in words.
    pub text: String,
    /// The command that does it, when one does.
    pub command: Option<String>,
}

impl Fix {
    pub(crate) fn new(action: FixAction, project: &str) -> Fix {
        Fix {
            action,
            project: project.to_string(),
            requirement: None,
            version: None,
            pythons: Vec::new(),
            layer: None,
            arch: None,
            path: None,
            text: String::new(),
            command: None,
        }
    }

    /// The `wheelbuild` command that builds what the fix asks for.
    fn wheelbuild(&self) -> String {
        let mut words = vec![
            "wheelbuild".to_string(),
            "--package".to_string(),
            self.project.clone(),
        ];
        if let Some(version) = self.version.as_ref().or(self.requirement.as_ref()) {
            words.push("--version".to_string());
            words.push(shell_quote(version));
        }
        if !self.pythons.is_empty() {
            words.push("--python".to_string());
            words.push(self.pythons.join(","));
        }
        if let Some(layer) = &self.layer {
            words.push("--layer".to_string());
            words.push(layer.clone());
        }
        if let Some(arch) = &self.arch {
            words.push("--arch".to_string());
            words.push(arch.clone());
        }
        if matches!(self.action, FixAction::AddRecipe | FixAction::Build) {
            words.push("--recursive".to_string());
        }
        words.join(" ")
    }

    /// Writes `text` and `command` from the fields.
    pub(crate) fn describe(&mut self) {
        let pythons = if self.pythons.is_empty() {
            String::new()
        } else {
            format!(" for Python {}", self.pythons.join(", "))
        };
        let place = match (&self.layer, &self.arch) {
            (Some(layer), Some(arch)) => format!(" on {layer}/{arch}"),
            (Some(layer), None) => format!(" on {layer}"),
            _ => String::new(),
        };
        let wanted = self
            .version
            .as_deref()
            .or(self.requirement.as_deref())
            .map(|text| format!(" {text}"))
            .unwrap_or_default();
        let (text, command) = match self.action {
            FixAction::AddRecipe => (
                format!(
                    "add a recipe for {} (recipes/{}.yaml) and build it{wanted}{pythons}{place}, or remove the requirement",
                    self.project, self.project
                ),
                Some(self.wheelbuild()),
            ),
            FixAction::Build => (
                format!("build {}{wanted}{pythons}{place}", self.project),
                Some(self.wheelbuild()),
            ),
            FixAction::Rebuild => (
                format!(
                    "rebuild {}{wanted}{pythons}{place} from one recipe so that its wheels agree (or align them with `wheelwright manipulate --update-req`)",
                    self.project
                ),
                Some(self.wheelbuild()),
            ),
            FixAction::Remove => (
                format!(
                    "remove {} from the tree (or point pip at the index: `wheelwright index`, `pip-config --index`)",
                    self.path.as_deref().unwrap_or_default()
                ),
                None,
            ),
            FixAction::Replace => (
                format!(
                    "replace or remove {}: no installer can read it",
                    self.path.as_deref().unwrap_or_default()
                ),
                None,
            ),
            FixAction::Upgrade => (
                format!("build {}{wanted}{pythons}{place}", self.project),
                Some(self.wheelbuild()),
            ),
            FixAction::UseIndex => (
                "serve each view as a simple index (`wheelwright index --output DIR`, then `wheelwright pip-config --index BASE`), or install with uv (`wheelwright pip-config --format uv`): both take the node's own copy".to_string(),
                None,
            ),
        };
        self.text = text;
        self.command = command;
    }
}

/// One finding: what, where (the nodes), what is there instead, and the fix.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Finding {
    pub kind: FindingKind,
    /// A user's install fails (closure and resolution findings).
    pub hole: bool,
    /// The project the finding is about (for closure: the one missing).
    pub project: String,
    /// The wheel whose requirement is not met, relative to the root.
    pub wheel: Option<String>,
    /// The requirement as the wheel (or the requirements file) writes it.
    pub requirement: Option<String>,
    /// The extra through which the requirement is in force, when it is one.
    pub extra: Option<String>,
    /// The nodes it concerns (empty: the tree as a whole).
    pub nodes: Vec<NodeName>,
    /// One line saying what is wrong.
    pub message: String,
    pub instead: Option<Instead>,
    /// More lines: a resolver's explanation, the requirements that differ.
    pub details: Vec<String>,
    pub fix: Fix,
}

impl Finding {
    pub(crate) fn new(kind: FindingKind, project: &str, message: String, fix: Fix) -> Finding {
        Finding {
            kind,
            hole: kind.is_hole(),
            project: project.to_string(),
            wheel: None,
            requirement: None,
            extra: None,
            nodes: Vec::new(),
            message,
            instead: None,
            details: Vec::new(),
            fix,
        }
    }
}

/// What several findings that say the same add up to: their nodes and their fixes' Pythons.
type Merged = (BTreeSet<NodeName>, BTreeSet<String>);

/// Findings that say the same on several nodes, merged into one that names them all (and the
/// fix's Pythons joined); sorted by kind, project and wheel; every fix described.
pub(crate) fn merge(findings: Vec<Finding>) -> Vec<Finding> {
    // A finding without its nodes and its fix's Pythons is the key.
    let mut merged: HashMap<Finding, Merged> = HashMap::new();
    for mut finding in findings {
        let nodes = std::mem::take(&mut finding.nodes);
        let pythons = std::mem::take(&mut finding.fix.pythons);
        let entry = merged.entry(finding).or_default();
        entry.0.extend(nodes);
        entry.1.extend(pythons);
    }
    let mut merged: Vec<(Finding, Merged)> = merged.into_iter().collect();
    merged.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    merged
        .into_iter()
        .map(|(mut finding, (nodes, pythons))| {
            finding.nodes = nodes.into_iter().collect();
            let mut pythons: Vec<String> = pythons.into_iter().collect();
            pythons.sort_by_key(|python| python_sort_key(python));
            finding.fix.pythons = pythons;
            finding.fix.describe();
            finding
        })
        .collect()
}

/// `3.9` before `3.10`.
fn python_sort_key(python: &str) -> (u32, u32) {
    let mut parts = python.split('.').map(|part| part.parse().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

/// The wheels of the tree whose METADATA cannot be read, and the `.whl` files whose names are
/// not wheel names (installers skip them).
pub(crate) fn unreadable(universe: &Universe<'_>) -> Vec<Finding> {
    let finding = |project: &str, path: String, problem: String| {
        let mut fix = Fix::new(FixAction::Replace, project);
        fix.path = Some(path.clone());
        let mut finding = Finding::new(FindingKind::Unreadable, project, problem, fix);
        finding.wheel = Some(path);
        finding
    };
    let mut findings: Vec<Finding> = universe
        .metadata
        .iter()
        .enumerate()
        .flat_map(|(wheel, metadata)| {
            let project = &universe.names[universe.project_of[wheel]];
            let invalid = metadata.invalid_requirements.iter().map(|text| {
                format!("its METADATA has `Requires-Dist: {text}`, which is not PEP 508: installers refuse the wheel")
            });
            metadata
                .problem
                .iter()
                .cloned()
                .chain(invalid)
                .map(|problem| finding(project, universe.relative(wheel), problem))
                .collect::<Vec<_>>()
        })
        .collect();
    for path in &universe.tree.unparsable {
        let relative = path.strip_prefix(&universe.tree.root).unwrap_or(path);
        let message = format!(
            "`{}` is not a valid wheel file name: installers skip it",
            relative.display()
        );
        findings.push(finding("", relative.display().to_string(), message));
    }
    findings
}

/// One node's resolution of `--resolve`.
#[derive(Debug, Clone, Serialize)]
pub struct Resolution {
    pub node: NodeName,
    /// Whether every requirement resolved (else a resolution finding says why).
    pub resolved: bool,
    /// What was chosen, by name.
    pub packages: Vec<ResolvedPackage>,
}

/// A project a resolution chose, and the wheel the node would install.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResolvedPackage {
    pub name: String,
    pub version: String,
    /// Relative to the root.
    pub wheel: String,
}

/// A check's result.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub root: PathBuf,
    /// `<layer>/<arch>` of each view checked.
    pub views: Vec<String>,
    pub pythons: Vec<String>,
    pub wheels: usize,
    pub projects: usize,
    /// Wheels whose METADATA was read this run, and those that came from the cache.
    pub metadata_read: usize,
    pub metadata_cached: usize,
    /// Findings that are holes (closure, resolution).
    pub holes: usize,
    /// Findings by kind.
    pub counts: BTreeMap<FindingKind, usize>,
    pub findings: Vec<Finding>,
    /// Per node, when `--resolve` was given.
    pub resolutions: Vec<Resolution>,
}

impl CheckReport {
    pub(crate) fn new(
        tree: &Tree,
        universe: &Universe<'_>,
        options: &CheckOptions,
        findings: Vec<Finding>,
        resolutions: Vec<Resolution>,
        metadata: &TreeMetadata,
    ) -> CheckReport {
        let mut counts = BTreeMap::new();
        for finding in &findings {
            *counts.entry(finding.kind).or_insert(0) += 1;
        }
        CheckReport {
            root: std::path::absolute(&tree.root).unwrap_or_else(|_| tree.root.clone()),
            views: options
                .views
                .iter()
                .map(|view| format!("{}/{}", view.layer, view.arch))
                .collect(),
            pythons: options.pythons.iter().map(ToString::to_string).collect(),
            wheels: tree.wheels.len(),
            projects: universe.names.len(),
            metadata_read: metadata.read,
            metadata_cached: metadata.cached,
            holes: findings.iter().filter(|finding| finding.hole).count(),
            counts,
            findings,
            resolutions,
        }
    }

    /// Whether a user's install would fail somewhere (exit 1).
    pub fn has_holes(&self) -> bool {
        self.holes > 0
    }
}
