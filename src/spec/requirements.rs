//! Requires-Dist edits: add, remove, update/rename, numpy bounds and stripping by name rules.
//!
//! Requirements are parsed with `pep508_rs`; a requirement we change is re-rendered from its
//! parts while its marker text is kept as written, and a requirement we do not change keeps
//! its exact text.

use std::str::FromStr;

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use pep440_rs::{Operator, Version, VersionSpecifier, VersionSpecifiers};
use pep508_rs::{PackageName, Requirement, VersionOrUrl};

use super::headers::FieldEdit;
use super::normalize_name;

/// Why a requirement edit could not be made.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RequirementError {
    #[error("`{text}` is not a valid PEP 508 requirement: {reason}")]
    Invalid { text: String, reason: String },
    #[error("the requirement `{existing}` is already present; use --update-req to change it")]
    AlreadyPresent { existing: String },
    #[error("narrowing `{requirement}` with {added} leaves no version: {detail}")]
    EmptyRange {
        requirement: String,
        added: String,
        detail: String,
    },
    #[error("`{text}` is not a version: {reason}")]
    InvalidVersion { text: String, reason: String },
    #[error("the pattern `{pattern}` is not a valid glob: {reason}")]
    InvalidGlob { pattern: String, reason: String },
}

/// A Requires-Dist value with its parse.
#[derive(Debug, Clone)]
pub struct ParsedRequirement {
    pub text: String,
    pub requirement: Requirement,
}

impl ParsedRequirement {
    pub fn parse(text: &str) -> Result<Self, RequirementError> {
        // A folded header value is one requirement over several lines.
        let unfolded = text.split('\n').map(str::trim).collect::<Vec<_>>().join(" ");
        let requirement =
            Requirement::from_str(unfolded.trim()).map_err(|err| RequirementError::Invalid {
                text: text.to_string(),
                reason: err.message.to_string(),
            })?;
        Ok(ParsedRequirement {
            text: text.to_string(),
            requirement,
        })
    }

    pub fn name(&self) -> &PackageName {
        &self.requirement.name
    }

    fn is_url(&self) -> bool {
        matches!(self.requirement.version_or_url, Some(VersionOrUrl::Url(_)))
    }

    /// The text before the marker (`numpy (>=1.21)`), and the marker as written, if any.
    pub fn split_marker(&self) -> (&str, Option<&str>) {
        if self.requirement.marker.contents().is_none() {
            return (self.text.trim(), None);
        }
        // In a URL requirement the marker must follow whitespace; elsewhere the first `;`
        // ends the requirement proper.
        let position = if self.is_url() {
            self.text
                .match_indices(';')
                .map(|(index, _)| index)
                .find(|&index| index > 0 && self.text[..index].ends_with([' ', '\t']))
        } else {
            self.text.find(';')
        };
        match position {
            Some(index) => (self.text[..index].trim(), Some(self.text[index + 1..].trim())),
            None => (self.text.trim(), None),
        }
    }

    fn specifiers(&self) -> Option<&VersionSpecifiers> {
        match &self.requirement.version_or_url {
            Some(VersionOrUrl::VersionSpecifier(specifiers)) => Some(specifiers),
            _ => None,
        }
    }

    /// The extras as written (`[dev, test]`), if any.
    fn extras_as_written(&self) -> Option<String> {
        if self.requirement.extras.is_empty() {
            return None;
        }
        let (head, _) = self.split_marker();
        let rest = head[name_end(head)..].trim_start();
        let written = rest
            .starts_with('[')
            .then(|| rest.find(']').map(|end| rest[..=end].to_string()))
            .flatten();
        // A folded value may break the extras over lines: render them from the parse then.
        written.filter(|extras| !extras.contains('\n')).or_else(|| {
            let extras: Vec<String> = self.requirement.extras.iter().map(ToString::to_string).collect();
            Some(format!("[{}]", extras.join(",")))
        })
    }

    /// The version specifiers as written (`<3,>=1.21.1`, `(>=4)`), if it has any.
    fn specifiers_as_written(&self) -> Option<String> {
        let specifiers = self.specifiers().filter(|specifiers| !specifiers.is_empty())?;
        let (head, _) = self.split_marker();
        let mut rest = head[name_end(head)..].trim_start();
        if rest.starts_with('[') {
            rest = rest.find(']').map_or("", |end| rest[end + 1..].trim_start());
        }
        // A folded value may break them over lines, or hide them in the extras we skipped:
        // render them from the parse then.
        if rest.is_empty() || rest.contains('\n') {
            return Some(specifiers.to_string());
        }
        Some(rest.to_string())
    }

    fn marker_string(&self) -> Option<String> {
        self.requirement
            .marker
            .contents()
            .map(|marker| marker.to_string())
    }
}

/// Where the project name at the start of a requirement's text ends.
fn name_end(head: &str) -> usize {
    head.find(|character: char| !(character.is_ascii_alphanumeric() || matches!(character, '.' | '_' | '-')))
        .unwrap_or(head.len())
}

/// `head` (a requirement without its marker) with `extras` after its name.
fn with_extras(head: &str, extras: Option<&str>) -> String {
    match extras {
        Some(extras) => {
            let end = name_end(head);
            format!("{}{extras}{}", &head[..end], &head[end..])
        }
        None => head.to_string(),
    }
}

/// `head` with `marker`; after a URL the `;` needs a space before it (PEP 508), else it
/// would be read as part of the URL.
fn with_marker(head: &str, marker: Option<&str>, url: bool) -> String {
    match marker {
        Some(marker) if url => format!("{head} ; {marker}"),
        Some(marker) => format!("{head}; {marker}"),
        None => head.to_string(),
    }
}

/// Name rules for stripping requirements: names matching `remove` and not `keep` go.
#[derive(Debug, Clone)]
pub struct NameRule {
    pub name: String,
    remove: GlobSet,
    keep: GlobSet,
}

fn build_globs(patterns: &[String]) -> Result<GlobSet, RequirementError> {
    let mut builder = GlobSetBuilder::new();
    for pattern in patterns {
        let normalized = normalize_glob(pattern);
        let glob = GlobBuilder::new(&normalized)
            .case_insensitive(true)
            .literal_separator(false)
            .build()
            .map_err(|err| RequirementError::InvalidGlob {
                pattern: pattern.clone(),
                reason: err.kind().to_string(),
            })?;
        builder.add(glob);
    }
    builder.build().map_err(|err| RequirementError::InvalidGlob {
        pattern: patterns.join(", "),
        reason: err.to_string(),
    })
}

/// Normalises the literal parts of a name glob as PEP 503 names are (`nvidia_*` -> `nvidia-*`).
fn normalize_glob(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut previous_separator = false;
    for character in pattern.chars() {
        if matches!(character, '-' | '_' | '.') {
            if !previous_separator {
                out.push('-');
            }
            previous_separator = true;
        } else {
            out.extend(character.to_lowercase());
            previous_separator = false;
        }
    }
    out
}

impl NameRule {
    pub fn new(name: &str, remove: &[String], keep: &[String]) -> Result<Self, RequirementError> {
        Ok(NameRule {
            name: name.to_string(),
            remove: build_globs(remove)?,
            keep: build_globs(keep)?,
        })
    }

    /// Whether a requirement on `package` is removed by this rule.
    pub fn strips(&self, package: &str) -> bool {
        let normalized = normalize_name(package);
        self.remove.is_match(&normalized) && !self.keep.is_match(&normalized)
    }
}

/// One requested change to the requirements of a wheel.
#[derive(Debug, Clone)]
pub enum RequirementEdit {
    /// Add a requirement; refused when one of that name and marker exists.
    Add(ParsedRequirement),
    /// Remove by name, or by name and the given specifiers/marker.
    Remove(ParsedRequirement),
    /// Replace every requirement named `from` by `to`, keeping each one's extras and marker
    /// unless `to` has its own. A rename (`OLD->NEW`) also keeps each one's version
    /// specifiers unless `to` gives its own.
    Update {
        from: PackageName,
        to: ParsedRequirement,
        rename: bool,
    },
    /// Narrow the numpy specifiers to `>= minimum` and/or `< less_than`.
    NumpyBounds {
        minimum: Option<Version>,
        less_than: Option<Version>,
    },
    /// Remove every requirement whose name the rule strips.
    Strip(NameRule),
}

impl RequirementEdit {
    /// `--add-req REQ`
    pub fn add(text: &str) -> Result<Self, RequirementError> {
        Ok(RequirementEdit::Add(ParsedRequirement::parse(text)?))
    }

    /// `--remove-req REQ`
    pub fn remove(text: &str) -> Result<Self, RequirementError> {
        Ok(RequirementEdit::Remove(ParsedRequirement::parse(text)?))
    }

    /// `--update-req REQ` or `--update-req OLD->NEW`
    pub fn update(text: &str) -> Result<Self, RequirementError> {
        let (from, to, rename) = match text.split_once("->") {
            Some((from, to)) => (
                ParsedRequirement::parse(from)?,
                ParsedRequirement::parse(to)?,
                true,
            ),
            None => {
                let to = ParsedRequirement::parse(text)?;
                (to.clone(), to, false)
            }
        };
        Ok(RequirementEdit::Update {
            from: from.requirement.name,
            to,
            rename,
        })
    }

    /// `--set-min-numpy` / `--set-lt-numpy`
    pub fn numpy_bounds(minimum: Option<&str>, less_than: Option<&str>) -> Result<Self, RequirementError> {
        let parse = |text: &str| {
            Version::from_str(text).map_err(|err| RequirementError::InvalidVersion {
                text: text.to_string(),
                reason: err.to_string(),
            })
        };
        Ok(RequirementEdit::NumpyBounds {
            minimum: minimum.map(parse).transpose()?,
            less_than: less_than.map(parse).transpose()?,
        })
    }
}

/// The outcome of applying edits: one decision per existing Requires-Dist (in order), the
/// requirements to append, and a sentence for each change or note.
#[derive(Debug, Clone, Default)]
pub struct RequirementPlan {
    pub decisions: Vec<FieldEdit>,
    pub additions: Vec<String>,
    pub changes: Vec<String>,
    pub notes: Vec<String>,
}

impl RequirementPlan {
    pub fn changed(&self) -> bool {
        !self.additions.is_empty() || self.decisions.iter().any(|decision| decision != &FieldEdit::Keep)
    }
}

/// The working state: current text of each existing requirement (None once removed), and
/// added requirements.
struct Working {
    current: Vec<Option<ParsedRequirement>>,
    originals: Vec<String>,
    added: Vec<ParsedRequirement>,
}

fn specifier_key(specifiers: Option<&VersionSpecifiers>) -> Vec<String> {
    let mut key: Vec<String> = specifiers
        .map(|specifiers| specifiers.iter().map(ToString::to_string).collect())
        .unwrap_or_default();
    key.sort();
    key
}

/// Applies `edits` in order to the Requires-Dist values `existing`.
pub fn plan(existing: &[String], edits: &[RequirementEdit]) -> Result<RequirementPlan, RequirementError> {
    let mut working = Working {
        current: existing
            .iter()
            .map(|text| ParsedRequirement::parse(text).map(Some))
            .collect::<Result<_, _>>()?,
        originals: existing.to_vec(),
        added: Vec::new(),
    };
    let mut changes = Vec::new();
    let mut notes = Vec::new();
    for edit in edits {
        apply_edit(&mut working, edit, &mut changes, &mut notes)?;
    }
    let decisions = working
        .current
        .iter()
        .zip(&working.originals)
        .map(|(current, original)| match current {
            None => FieldEdit::Remove,
            Some(requirement) if &requirement.text == original => FieldEdit::Keep,
            Some(requirement) => FieldEdit::Replace(requirement.text.clone()),
        })
        .collect();
    Ok(RequirementPlan {
        decisions,
        additions: working.added.into_iter().map(|added| added.text).collect(),
        changes,
        notes,
    })
}

fn apply_edit(
    working: &mut Working,
    edit: &RequirementEdit,
    changes: &mut Vec<String>,
    notes: &mut Vec<String>,
) -> Result<(), RequirementError> {
    match edit {
        RequirementEdit::Add(new) => apply_add(working, new, changes)?,
        RequirementEdit::Remove(pattern) => apply_remove(working, pattern, changes, notes),
        RequirementEdit::Update { from, to, rename } => {
            apply_update(working, from, to, *rename, changes, notes)?
        }
        RequirementEdit::NumpyBounds { minimum, less_than } => {
            apply_numpy_bounds(working, minimum.as_ref(), less_than.as_ref(), changes, notes)?
        }
        RequirementEdit::Strip(rule) => apply_strip(working, rule, changes),
    }
    Ok(())
}

/// `--add-req`: refused when the same project with the same marker is there already.
fn apply_add(
    working: &mut Working,
    new: &ParsedRequirement,
    changes: &mut Vec<String>,
) -> Result<(), RequirementError> {
    let marker = new.marker_string();
    let clash = working
        .current
        .iter()
        .flatten()
        .chain(working.added.iter())
        .find(|existing| existing.name() == new.name() && existing.marker_string() == marker);
    if let Some(existing) = clash {
        return Err(RequirementError::AlreadyPresent {
            existing: existing.text.clone(),
        });
    }
    changes.push(format!("added requirement `{}`", new.text));
    working.added.push(new.clone());
    Ok(())
}

/// `--remove-req`: every requirement the pattern matches (name, and specifiers and marker
/// when it gives them); a note when none does.
fn apply_remove(
    working: &mut Working,
    pattern: &ParsedRequirement,
    changes: &mut Vec<String>,
    notes: &mut Vec<String>,
) {
    let wanted_specifiers = pattern
        .requirement
        .version_or_url
        .as_ref()
        .map(|_| specifier_key(pattern.specifiers()));
    let wanted_marker = pattern.marker_string();
    let matches = |candidate: &ParsedRequirement| {
        candidate.name() == pattern.name()
            && wanted_specifiers
                .as_ref()
                .is_none_or(|wanted| &specifier_key(candidate.specifiers()) == wanted)
            && wanted_marker
                .as_ref()
                .is_none_or(|wanted| Some(wanted) == candidate.marker_string().as_ref())
    };
    let mut found = false;
    for slot in working.current.iter_mut() {
        if slot.as_ref().is_some_and(&matches)
            && let Some(removed) = slot.take()
        {
            changes.push(format!("removed requirement `{}`", removed.text));
            found = true;
        }
    }
    let before = working.added.len();
    working.added.retain(|added| !matches(added));
    found |= working.added.len() != before;
    if !found {
        notes.push(format!(
            "no requirement matches `{}`; nothing removed",
            pattern.text
        ));
    }
}

/// `--update-req` (or a rename): each requirement on `from` rewritten to `to`, keeping its
/// marker and extras (and, for a rename without versions, its specifiers).
fn apply_update(
    working: &mut Working,
    from: &PackageName,
    to: &ParsedRequirement,
    rename: bool,
    changes: &mut Vec<String>,
    notes: &mut Vec<String>,
) -> Result<(), RequirementError> {
    let (to_head, to_marker) = to.split_marker();
    // A rename says which project, not which versions: NEW without specifiers (or
    // URL) of its own takes each old requirement's.
    let keep_versions = rename && to.requirement.version_or_url.is_none();
    let mut found = false;
    let slots = working
        .current
        .iter_mut()
        .flatten()
        .chain(working.added.iter_mut());
    for existing in slots.filter(|existing| existing.name() == from) {
        found = true;
        let (_, marker) = existing.split_marker();
        // `numpy[dev]>=1.0; extra == "dev"` updated by `numpy>=1.26` keeps `[dev]`, as
        // it keeps the marker: REQ says which versions, not which extras.
        let extras = if to.requirement.extras.is_empty() {
            existing.extras_as_written()
        } else {
            None
        };
        let mut head = with_extras(to_head, extras.as_deref());
        if keep_versions {
            if let Some(specifiers) = existing.specifiers_as_written() {
                if specifiers.starts_with('(') {
                    head.push(' ');
                }
                head.push_str(&specifiers);
            } else if existing.is_url() {
                notes.push(format!(
                    "`{}` named a URL of `{from}`, which `{}` cannot take: give the new requirement its own URL or specifiers",
                    existing.text, to.text
                ));
            }
        }
        let text = with_marker(&head, to_marker.or(marker), to.is_url());
        if text != existing.text {
            changes.push(format!("updated requirement `{}` to `{text}`", existing.text));
            *existing = ParsedRequirement::parse(&text)?;
        }
    }
    if !found {
        notes.push(format!(
            "no requirement on `{from}` to update; use --add-req to add `{}`",
            to.text
        ));
    }
    Ok(())
}

/// numpy's bounds narrowed on each numpy requirement (one added with a minimum when there
/// is none).
fn apply_numpy_bounds(
    working: &mut Working,
    minimum: Option<&Version>,
    less_than: Option<&Version>,
    changes: &mut Vec<String>,
    notes: &mut Vec<String>,
) -> Result<(), RequirementError> {
    let numpy = PackageName::from_str("numpy").expect("numpy is a valid name");
    let mut found = false;
    let slots = working
        .current
        .iter_mut()
        .flatten()
        .chain(working.added.iter_mut());
    for existing in slots.filter(|existing| existing.name() == &numpy && !existing.is_url()) {
        found = true;
        let narrowed = narrow(existing, minimum, less_than)?;
        if let Some(text) = narrowed {
            changes.push(format!("narrowed requirement `{}` to `{text}`", existing.text));
            *existing = ParsedRequirement::parse(&text)?;
        }
    }
    if !found {
        if minimum.is_some() {
            // Both bounds apply to the requirement added, as they would narrow one
            // that was there (an empty range is refused the same way).
            let bare = ParsedRequirement::parse("numpy")?;
            let text = narrow(&bare, minimum, less_than)?.unwrap_or_else(|| bare.text.clone());
            changes.push(format!(
                "added requirement `{text}` (there was no numpy requirement)"
            ));
            working.added.push(ParsedRequirement::parse(&text)?);
        } else {
            notes.push("no numpy requirement; an upper bound alone adds none".to_string());
        }
    }
    Ok(())
}

/// A layout strip rule: every requirement it names removed.
fn apply_strip(working: &mut Working, rule: &NameRule, changes: &mut Vec<String>) {
    for slot in working.current.iter_mut() {
        if slot
            .as_ref()
            .is_some_and(|existing| rule.strips(existing.name().as_ref()))
            && let Some(removed) = slot.take()
        {
            changes.push(format!(
                "stripped requirement `{}` (rule `{}`)",
                removed.text, rule.name
            ));
        }
    }
    working.added.retain(|added| !rule.strips(added.name().as_ref()));
}

/// A bound with its version and whether it is inclusive.
#[derive(Debug, Clone)]
struct Bound {
    version: Version,
    inclusive: bool,
}

/// Narrows a numpy requirement; returns its new text, or None when nothing changes.
fn narrow(
    existing: &ParsedRequirement,
    minimum: Option<&Version>,
    less_than: Option<&Version>,
) -> Result<Option<String>, RequirementError> {
    let mut lower: Option<Bound> = None;
    let mut upper: Option<Bound> = None;
    let mut others: Vec<VersionSpecifier> = Vec::new();
    let mut consider = |specifier: &VersionSpecifier| match specifier.operator() {
        Operator::GreaterThan | Operator::GreaterThanEqual => {
            let bound = Bound {
                version: specifier.version().clone(),
                inclusive: *specifier.operator() == Operator::GreaterThanEqual,
            };
            let tighter = lower.as_ref().is_none_or(|current| {
                bound.version > current.version || (bound.version == current.version && !bound.inclusive)
            });
            if tighter {
                lower = Some(bound);
            }
        }
        Operator::LessThan | Operator::LessThanEqual => {
            let bound = Bound {
                version: specifier.version().clone(),
                inclusive: *specifier.operator() == Operator::LessThanEqual,
            };
            let tighter = upper.as_ref().is_none_or(|current| {
                bound.version < current.version || (bound.version == current.version && !bound.inclusive)
            });
            if tighter {
                upper = Some(bound);
            }
        }
        _ => others.push(specifier.clone()),
    };
    if let Some(specifiers) = existing.specifiers() {
        specifiers.iter().for_each(&mut consider);
    }
    let mut added = Vec::new();
    if let Some(minimum) = minimum {
        let specifier = VersionSpecifier::from_version(Operator::GreaterThanEqual, minimum.clone())
            .expect(">= accepts any version");
        added.push(specifier.to_string());
        consider(&specifier);
    }
    if let Some(less_than) = less_than {
        let specifier = VersionSpecifier::from_version(Operator::LessThan, less_than.clone())
            .expect("< accepts any version");
        added.push(specifier.to_string());
        consider(&specifier);
    }
    let empty = |detail: String| RequirementError::EmptyRange {
        requirement: existing.text.clone(),
        added: added.join(","),
        detail,
    };
    if let (Some(lower), Some(upper)) = (&lower, &upper) {
        let open = lower.version < upper.version
            || (lower.version == upper.version && lower.inclusive && upper.inclusive);
        if !open {
            return Err(empty(format!(
                "the lower bound {} is not below the upper bound {}",
                lower.version, upper.version
            )));
        }
    }
    // Pins and compatible releases must still admit a version inside the new bounds.
    for other in &others {
        let candidate = other.version();
        let pinned = matches!(other.operator(), Operator::Equal | Operator::ExactEqual);
        let inside = |version: &Version| {
            lower.as_ref().is_none_or(|bound| {
                version > &bound.version || (bound.inclusive && version == &bound.version)
            }) && upper.as_ref().is_none_or(|bound| {
                version < &bound.version || (bound.inclusive && version == &bound.version)
            })
        };
        if pinned && !inside(candidate) {
            return Err(empty(format!("the pin `{other}` falls outside the new bounds")));
        }
        if *other.operator() == Operator::TildeEqual
            && upper.as_ref().is_some_and(|bound| {
                bound.version <= *candidate && !(bound.inclusive && bound.version == *candidate)
            })
        {
            return Err(empty(format!("`{other}` starts at or above the upper bound")));
        }
    }
    let mut specifiers: Vec<String> = others.iter().map(ToString::to_string).collect();
    if let Some(lower) = lower {
        specifiers.push(format!(
            "{}{}",
            if lower.inclusive { ">=" } else { ">" },
            lower.version
        ));
    }
    if let Some(upper) = upper {
        specifiers.push(format!(
            "{}{}",
            if upper.inclusive { "<=" } else { "<" },
            upper.version
        ));
    }
    let mut sorted_new = specifiers.clone();
    sorted_new.sort();
    if sorted_new == specifier_key(existing.specifiers()) {
        return Ok(None);
    }
    let (_, marker) = existing.split_marker();
    let mut head = existing.requirement.name.to_string();
    head.push_str(&existing.extras_as_written().unwrap_or_default());
    head.push_str(&specifiers.join(","));
    Ok(Some(with_marker(&head, marker, false)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(
        existing: &[&str],
        edits: &[RequirementEdit],
    ) -> Result<(Vec<String>, RequirementPlan), RequirementError> {
        let existing: Vec<String> = existing.iter().map(|text| text.to_string()).collect();
        let plan = plan(&existing, edits)?;
        let mut result = Vec::new();
        for (original, decision) in existing.iter().zip(&plan.decisions) {
            match decision {
                FieldEdit::Keep => result.push(original.clone()),
                FieldEdit::Replace(text) => result.push(text.clone()),
                FieldEdit::Remove => {}
            }
        }
        result.extend(plan.additions.iter().cloned());
        Ok((result, plan))
    }

    fn nvidia_rule() -> NameRule {
        NameRule::new(
            "nvidia",
            &["nvidia-*".to_string()],
            &["nvidia-ml-py".to_string(), "nvidia_dali_*".to_string()],
        )
        .unwrap()
    }

    #[test]
    fn strips_nvidia_everywhere_but_the_allow_list() {
        let (result, plan) = run(
            &[
                "filelock",
                "nvidia-cublas-cu12==12.6.4.1; platform_system == \"Linux\" and platform_machine == \"x86_64\"",
                "NVIDIA_CUDNN_CU12 (==9.5.1.17) ; extra == 'cuda'",
                "nvidia.nccl.cu12>=2",
                "triton==3.3.1; platform_system == \"Linux\"",
                "nvidia-ml-py>=12",
                "nvidia-dali-cuda120; extra == \"dali\"",
            ],
            &[RequirementEdit::Strip(nvidia_rule())],
        )
        .unwrap();
        assert_eq!(
            result,
            [
                "filelock",
                "triton==3.3.1; platform_system == \"Linux\"",
                "nvidia-ml-py>=12",
                "nvidia-dali-cuda120; extra == \"dali\""
            ]
        );
        assert_eq!(plan.changes.len(), 3);
    }

    #[test]
    fn adds_and_refuses_duplicates() {
        let (result, _) = run(
            &["numpy>=1.21"],
            &[RequirementEdit::add("torch (~=2.6.0)").unwrap()],
        )
        .unwrap();
        assert_eq!(result, ["numpy>=1.21", "torch (~=2.6.0)"]);
        let error = run(&["numpy>=1.21"], &[RequirementEdit::add("numpy<3").unwrap()]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "the requirement `numpy>=1.21` is already present; use --update-req to change it"
        );
        // Same name behind another marker is another requirement.
        let (result, _) = run(
            &["numpy; extra == 'test'"],
            &[RequirementEdit::add("numpy<3").unwrap()],
        )
        .unwrap();
        assert_eq!(result.len(), 2);
    }

    #[test]
    fn removes_by_name_or_exact_specifier() {
        let existing = ["scipy>=1.10", "Scipy<2; python_version < '3.13'", "six"];
        let (result, _) = run(&existing, &[RequirementEdit::remove("scipy").unwrap()]).unwrap();
        assert_eq!(result, ["six"]);
        let (result, _) = run(&existing, &[RequirementEdit::remove("scipy>=1.10").unwrap()]).unwrap();
        assert_eq!(result, ["Scipy<2; python_version < '3.13'", "six"]);
        let (result, plan) = run(&existing, &[RequirementEdit::remove("absent").unwrap()]).unwrap();
        assert_eq!(result.len(), 3);
        assert_eq!(plan.notes.len(), 1);
        assert!(!plan.changed());
    }

    #[test]
    fn updates_and_renames_keeping_markers() {
        let existing = ["torch>=2.0; extra == 'gpu'", "opencv-python>=4"];
        let (result, _) = run(&existing, &[RequirementEdit::update("torch (~=2.6.0)").unwrap()]).unwrap();
        assert_eq!(result, ["torch (~=2.6.0); extra == 'gpu'", "opencv-python>=4"]);
        let (result, _) = run(
            &existing,
            &[RequirementEdit::update("opencv-python->opencv-python-headless>=4.8").unwrap()],
        )
        .unwrap();
        assert_eq!(
            result,
            ["torch>=2.0; extra == 'gpu'", "opencv-python-headless>=4.8"]
        );
    }

    #[test]
    fn updates_renames_and_narrowing_keep_extras_and_markers() {
        let existing = [
            "numpy[dev]>=1.0; extra == \"dev\"",
            "opencv-python [ffmpeg, gui] (>=4) ; python_version < '3.13'",
        ];
        let (result, _) = run(&existing, &[RequirementEdit::update("numpy>=1.26").unwrap()]).unwrap();
        assert_eq!(result[0], "numpy[dev]>=1.26; extra == \"dev\"");
        // REQ's own extras and marker win.
        let (result, _) = run(
            &existing,
            &[RequirementEdit::update("numpy[test]>=2; python_version >= '3.10'").unwrap()],
        )
        .unwrap();
        assert_eq!(result[0], "numpy[test]>=2; python_version >= '3.10'");
        let (result, _) = run(
            &existing,
            &[RequirementEdit::update("opencv-python->opencv-python-headless (>=4.8)").unwrap()],
        )
        .unwrap();
        assert_eq!(
            result[1],
            "opencv-python-headless[ffmpeg, gui] (>=4.8); python_version < '3.13'"
        );
        let (result, _) = run(
            &existing,
            &[RequirementEdit::numpy_bounds(Some("1.26"), Some("3")).unwrap()],
        )
        .unwrap();
        assert_eq!(result[0], "numpy[dev]>=1.26,<3; extra == \"dev\"");
        // Every rewritten text parses back to the same extras.
        for text in result {
            let parsed = ParsedRequirement::parse(&text).unwrap();
            assert!(!parsed.requirement.extras.is_empty(), "{text}");
        }
        // A URL requirement takes the extras before its `@`.
        let (result, _) = run(
            &["pkg[cli] @ https://example.org/pkg-1.0.tar.gz ; os_name == 'posix'"],
            &[RequirementEdit::update("pkg @ https://example.org/pkg-2.0.tar.gz").unwrap()],
        )
        .unwrap();
        assert_eq!(
            result,
            ["pkg[cli] @ https://example.org/pkg-2.0.tar.gz ; os_name == 'posix'"]
        );
        let parsed = ParsedRequirement::parse(&result[0]).unwrap();
        assert!(parsed.requirement.marker.contents().is_some(), "{parsed:?}");
        assert!(
            matches!(&parsed.requirement.version_or_url, Some(VersionOrUrl::Url(url)) if url.to_string() == "https://example.org/pkg-2.0.tar.gz"),
            "{parsed:?}"
        );
    }

    #[test]
    fn narrows_numpy() {
        let edit = |min: Option<&str>, lt: Option<&str>| RequirementEdit::numpy_bounds(min, lt).unwrap();
        let (result, _) = run(
            &["numpy>=1.19,<3; python_version >= '3.9'"],
            &[edit(Some("1.26"), Some("2.0"))],
        )
        .unwrap();
        assert_eq!(result, ["numpy>=1.26,<2.0; python_version >= '3.9'"]);
        let (result, plan) = run(&["numpy>=2.1"], &[edit(Some("1.26"), None)]).unwrap();
        assert_eq!(result, ["numpy>=2.1"]);
        assert!(!plan.changed());
        let (result, _) = run(&["numpy!=1.24.0"], &[edit(Some("1.21"), None)]).unwrap();
        assert_eq!(result, ["numpy!=1.24.0,>=1.21"]);
        let (result, _) = run(&["scipy"], &[edit(Some("2.0"), None)]).unwrap();
        assert_eq!(result, ["scipy", "numpy>=2.0"]);
        let (result, _) = run(&["scipy"], &[edit(None, Some("2.0"))]).unwrap();
        assert_eq!(result, ["scipy"]);
    }

    #[test]
    fn both_numpy_bounds_make_the_requirement_added() {
        let (result, plan) = run(
            &["scipy"],
            &[RequirementEdit::numpy_bounds(Some("1.2"), Some("3")).unwrap()],
        )
        .unwrap();
        assert_eq!(result, ["scipy", "numpy>=1.2,<3"]);
        assert_eq!(
            plan.changes,
            ["added requirement `numpy>=1.2,<3` (there was no numpy requirement)"]
        );
        // The same as adding numpy first and narrowing it.
        let (added_first, _) = run(
            &["scipy"],
            &[
                RequirementEdit::add("numpy").unwrap(),
                RequirementEdit::numpy_bounds(Some("1.2"), Some("3")).unwrap(),
            ],
        )
        .unwrap();
        assert_eq!(added_first, result);
        let error = run(
            &["scipy"],
            &[RequirementEdit::numpy_bounds(Some("3"), Some("2")).unwrap()],
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "narrowing `numpy` with >=3,<2 leaves no version: the lower bound 3 is not below the upper bound 2"
        );
    }

    #[test]
    fn renames_keep_the_specifiers_unless_new_gives_its_own() {
        let existing = [
            "urllib3<3,>=1.21.1",
            "urllib3[socks] (>=1.26) ; extra == 'socks'",
            "six",
        ];
        let (result, plan) = run(
            &existing,
            &[RequirementEdit::update("urllib3->urllib3-fork").unwrap()],
        )
        .unwrap();
        assert_eq!(
            result,
            [
                "urllib3-fork<3,>=1.21.1",
                "urllib3-fork[socks] (>=1.26); extra == 'socks'",
                "six"
            ]
        );
        assert!(plan.notes.is_empty(), "{:?}", plan.notes);
        for text in &result[..2] {
            let parsed = ParsedRequirement::parse(text).unwrap();
            assert_eq!(parsed.name().as_ref(), "urllib3-fork");
            assert!(
                parsed
                    .specifiers()
                    .is_some_and(|specifiers| !specifiers.is_empty()),
                "{text}"
            );
        }
        // NEW's own specifiers win.
        let (result, _) = run(
            &existing,
            &[RequirementEdit::update("urllib3->urllib3-fork>=2").unwrap()],
        )
        .unwrap();
        assert_eq!(
            result,
            [
                "urllib3-fork>=2",
                "urllib3-fork[socks]>=2; extra == 'socks'",
                "six"
            ]
        );
        // A plain update (no `->`) still says which versions: REQ without any means any.
        let (result, _) = run(&existing[..1], &[RequirementEdit::update("urllib3").unwrap()]).unwrap();
        assert_eq!(result, ["urllib3"]);
        // A URL names the old project's archive: not carried over, and said so.
        let (result, plan) = run(
            &["pkg @ https://example.org/pkg-1.0.tar.gz"],
            &[RequirementEdit::update("pkg->pkg-ng").unwrap()],
        )
        .unwrap();
        assert_eq!(result, ["pkg-ng"]);
        assert!(plan.notes[0].contains("URL"), "{:?}", plan.notes);
    }

    #[test]
    fn refuses_empty_numpy_ranges() {
        let edit = RequirementEdit::numpy_bounds(None, Some("2.0")).unwrap();
        let error = run(&["numpy>=2.1"], &[edit]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "narrowing `numpy>=2.1` with <2.0 leaves no version: the lower bound 2.1 is not below the upper bound 2.0"
        );
        let edit = RequirementEdit::numpy_bounds(Some("2.0"), None).unwrap();
        let error = run(&["numpy==1.26.4"], &[edit]).unwrap_err();
        assert!(error.to_string().contains("pin"), "{error}");
    }

    #[test]
    fn splits_markers_as_written() {
        let parsed =
            ParsedRequirement::parse("pkg @ https://example.org/a;b.whl ; python_version < '3.12'").unwrap();
        assert_eq!(
            parsed.split_marker(),
            (
                "pkg @ https://example.org/a;b.whl",
                Some("python_version < '3.12'")
            )
        );
    }

    #[test]
    fn rejects_invalid_requirements() {
        assert!(RequirementEdit::add("numpy >=").is_err());
        assert!(RequirementEdit::numpy_bounds(Some("x.y"), None).is_err());
        assert!(NameRule::new("bad", &["nvidia-[".to_string()], &[]).is_err());
    }
}
