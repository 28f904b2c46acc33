//! The decisions, made under the lock against the tree read once: where each wheel goes,
//! what is refused and why, what is already there.

use super::*;

pub(super) struct Target {
    /// `generic` or `<layer>/<arch>`.
    pub(super) relative: String,
    /// The arch was given with `--arch` (the generic-copy check is then the user's call).
    pub(super) arch_overridden: bool,
    pub(super) detected: String,
    pub(super) evidence: Vec<String>,
}

/// Why a wheel has no place with the `--layer` and `--arch` asked for.
#[derive(Debug, thiserror::Error)]
pub(super) enum TargetError {
    #[error("unknown layer `{name}` (the layout {layout} has: {known})")]
    UnknownLayer {
        name: String,
        layout: String,
        known: String,
    },
    #[error("the layer `{0}` is deprecated: it takes no new wheels")]
    DeprecatedLayer(String),
    #[error("the wheel does not work on the layer `{layer}`: {reasons}")]
    NotOnLayer { layer: String, reasons: String },
    #[error("the wheel works on no layer that takes new wheels (unknown layer) — {0}")]
    NoLayer(String),
    #[error("the layout has no active layer to place an arch-specific copy in")]
    NoActiveLayer,
    #[error("unknown arch `{arch}` (the layout has: {known})")]
    UnknownArch { arch: String, known: String },
    #[error("the layer `{layer}` has no arch `{arch}` (it allows: {allowed})")]
    ArchNotInLayer {
        layer: String,
        arch: String,
        allowed: String,
    },
    #[error(
        "--arch {arch} (level {level}) is below what the wheel's code needs: {detected} ({evidence}); nodes without it would crash. --trust-arch places it anyway"
    )]
    ArchTooLow {
        arch: String,
        level: u8,
        detected: String,
        evidence: String,
    },
    #[error(
        "the wheel needs the arch `{detected}`, which the layer `{layer}` does not have (it has: {archs}); choose one with --arch"
    )]
    LayerLacksArch {
        detected: String,
        layer: String,
        archs: String,
    },
}

/// Applies `--layer` and `--arch` to the classification and checks them against the layout.
pub(super) fn choose_target(
    layout: &Layout,
    options: &Options,
    classification: &Classification,
) -> Result<Target, TargetError> {
    let detected = classification.arch.name.clone();
    let mut evidence = classification.arch.evidence.clone();
    evidence.extend(classification.notes.iter().cloned());
    let layer = choose_layer(layout, options, classification)?;
    let arch = choose_arch(layout, options, classification, layer.as_deref(), &evidence)?;
    let relative = match &layer {
        Some(layer) => format!("{layer}/{arch}"),
        None => "generic".to_string(),
    };
    Ok(Target {
        relative,
        arch_overridden: options.arch.is_some(),
        detected,
        evidence,
    })
}

/// The classification's reasons against `layer`, joined.
fn reasons_for(classification: &Classification, layer: &str) -> String {
    classification
        .layers
        .get(layer)
        .map(|verdict| verdict.reasons.join("; "))
        .unwrap_or_default()
}

/// The layer the wheel goes to: `--layer` when given (known, not deprecated, and one the
/// wheel works on), else the classification's; `None` for `generic`.
fn choose_layer(
    layout: &Layout,
    options: &Options,
    classification: &Classification,
) -> Result<Option<String>, TargetError> {
    let Some(name) = &options.layer else {
        return match classification.destination.as_deref() {
            None => {
                let why: Vec<String> = layout
                    .active_layers()
                    .map(|layer| format!("{}: {}", layer.name, reasons_for(classification, &layer.name)))
                    .collect();
                Err(TargetError::NoLayer(why.join("; ")))
            }
            Some("generic") => match &options.arch {
                // A wheel that runs anywhere, placed in an arch directory on request: the
                // default layer, as cp_wheels.sh does.
                Some(arch) if arch != "generic" => Ok(Some(
                    crate::wheelhouse::view::default_layer(layout).ok_or(TargetError::NoActiveLayer)?,
                )),
                _ => Ok(None),
            },
            Some(relative) => Ok(Some(relative.split('/').next().unwrap_or(relative).to_string())),
        };
    };
    let Some(layer) = layout.layers.get(name) else {
        let known: Vec<&str> = layout.active_layers().map(|layer| layer.name.as_str()).collect();
        return Err(TargetError::UnknownLayer {
            name: name.clone(),
            layout: layout.source.to_string(),
            known: known.join(", "),
        });
    };
    if layer.deprecated {
        return Err(TargetError::DeprecatedLayer(name.clone()));
    }
    if !classification.pure
        && !classification
            .layers
            .get(name)
            .is_some_and(|verdict| verdict.works)
    {
        return Err(TargetError::NotOnLayer {
            layer: name.clone(),
            reasons: reasons_for(classification, name),
        });
    }
    Ok(Some(name.clone()))
}

/// The arch directory under `layer`: `--arch` when given (known, in the layer, and not below
/// what the wheel's code needs unless `--trust-arch`), else the detected arch (which the
/// layer must have), or `generic` for a wheel that runs anywhere.
fn choose_arch(
    layout: &Layout,
    options: &Options,
    classification: &Classification,
    layer: Option<&str>,
    evidence: &[String],
) -> Result<String, TargetError> {
    let detected = &classification.arch.name;
    let Some(arch) = &options.arch else {
        return match layer {
            Some(layer)
                if options.layer.is_some() || classification.destination.as_deref() != Some("generic") =>
            {
                if layout.layers[layer].archs.contains(detected) {
                    Ok(detected.clone())
                } else {
                    Err(TargetError::LayerLacksArch {
                        detected: detected.clone(),
                        layer: layer.to_string(),
                        archs: layout.layers[layer].archs.join(", "),
                    })
                }
            }
            _ => Ok("generic".to_string()),
        };
    };
    if !layout.archs.contains_key(arch) {
        let known: Vec<&str> = layout.archs.keys().map(String::as_str).collect();
        return Err(TargetError::UnknownArch {
            arch: arch.clone(),
            known: known.join(", "),
        });
    }
    if let Some(layer) = layer {
        let allowed = &layout.layers[layer].archs;
        if !allowed.contains(arch) {
            return Err(TargetError::ArchNotInLayer {
                layer: layer.to_string(),
                arch: arch.clone(),
                allowed: allowed.join(", "),
            });
        }
    }
    let level = layout.archs[arch].level;
    if level < classification.arch.level && !options.trust_arch {
        return Err(TargetError::ArchTooLow {
            arch: arch.clone(),
            level,
            detected: detected.clone(),
            evidence: evidence
                .first()
                .map_or("no evidence recorded", String::as_str)
                .to_string(),
        });
    }
    Ok(arch.clone())
}

/// Whether two files hold the same bytes.
pub(super) fn same_bytes(a: &Path, b: &Path) -> std::io::Result<bool> {
    let (meta_a, meta_b) = (fs_err::metadata(a)?, fs_err::metadata(b)?);
    if meta_a.len() != meta_b.len() {
        return Ok(false);
    }
    let mut file_a = std::io::BufReader::with_capacity(1 << 20, fs_err::File::open(a)?);
    let mut file_b = std::io::BufReader::with_capacity(1 << 20, fs_err::File::open(b)?);
    let mut buffer_a = vec![0u8; 1 << 20];
    let mut buffer_b = vec![0u8; 1 << 20];
    loop {
        let read = read_full(&mut file_a, &mut buffer_a)?;
        let read_b = read_full(&mut file_b, &mut buffer_b)?;
        if read != read_b || buffer_a[..read] != buffer_b[..read] {
            return Ok(false);
        }
        if read == 0 {
            return Ok(true);
        }
    }
}

pub(super) fn read_full(reader: &mut impl Read, buffer: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match reader.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(read) => filled += read,
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(filled)
}

/// The directories whose arch-specific wheels make a generic copy in `relative` wrong: for
/// the top-level `generic`, every layer's arch directories; for `<layer>/generic`, that
/// layer's.
pub(super) fn arch_dirs_served_by(tree: &Tree, relative: &str) -> Vec<usize> {
    let layer = relative.strip_suffix("/generic");
    (0..tree.dirs.len())
        .filter(|&index| {
            let dir = &tree.dirs[index];
            dir.is_arch_specific() && (layer.is_none() || dir.layer.as_deref() == layer)
        })
        .collect()
}

/// The generic directories a node of `layer` also sees.
pub(super) fn generic_dirs_for(tree: &Tree, layer: &str) -> Vec<usize> {
    (0..tree.dirs.len())
        .filter(|&index| {
            let dir = &tree.dirs[index];
            !dir.is_arch_specific() && (dir.layer.is_none() || dir.layer.as_deref() == Some(layer))
        })
        .collect()
}

pub(super) fn list_some(wheels: &[String]) -> String {
    let shown: Vec<&str> = wheels.iter().take(8).map(String::as_str).collect();
    let more = wheels.len().saturating_sub(shown.len());
    format!(
        "{}{}",
        shown.join(", "),
        if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        }
    )
}

/// A decided placement, before the copy.
pub(super) struct Decision {
    pub(super) outcome: WheelOutcome,
    pub(super) dir: Option<usize>,
}

/// A project's wheel found in some directories: (directory, file name, version).
type FoundWheel = (usize, String, String);

/// The wheels this run has already decided to place.
#[derive(Default)]
struct Planned {
    /// By (directory, file name): their source.
    sources: HashMap<(usize, String), PathBuf>,
    /// By project: (directory, file name).
    by_project: HashMap<String, Vec<(usize, String)>>,
}

impl Planned {
    /// The project's wheels decided so far: (directory, file name).
    fn of_project(&self, project: &str) -> impl Iterator<Item = &(usize, String)> {
        self.by_project.get(project).into_iter().flatten()
    }

    /// Records that `source` goes to `dir` as `file_name`.
    fn add(&mut self, project: &str, dir: usize, file_name: &str, source: &Path) {
        self.sources
            .insert((dir, file_name.to_string()), source.to_path_buf());
        self.by_project
            .entry(project.to_string())
            .or_default()
            .push((dir, file_name.to_string()));
    }
}

/// The order in which wheels are decided, with their index among the arguments:
/// arch-specific placements first, so that a generic wheel of the same run is judged knowing
/// them.
fn decision_order(checked: Vec<Checked>) -> Vec<(usize, Checked)> {
    let mut order: Vec<(usize, Checked)> = checked.into_iter().enumerate().collect();
    order.sort_by_key(|(index, wheel)| {
        let generic = wheel.target.as_ref().map_or(true, |target| {
            !target.relative.contains('/') || target.relative.ends_with("/generic")
        });
        (generic, *index)
    });
    order
}

/// The outcome of a wheel before anything is decided: refused, with the check's warnings
/// (taken from `wheel`).
fn undecided_outcome(wheel: &mut Checked) -> WheelOutcome {
    WheelOutcome {
        source: wheel.source.clone(),
        wheel: wheel.file_name.clone(),
        project: wheel.filename.as_ref().map(WheelFilename::normalized_name),
        version: wheel
            .filename
            .as_ref()
            .map(|name| name.version_text().to_string()),
        action: Action::Refuse,
        destination: None,
        path: None,
        reason: None,
        warnings: std::mem::take(&mut wheel.warnings),
        size: wheel.size,
        sha256: wheel.sha256.clone(),
        verified_before: wheel.verified_before,
        detected: None,
        evidence: Vec::new(),
        source_removed: false,
    }
}

/// A wheel going where this run already places a wheel of that name: unchanged when the
/// bytes are the same, else refused.
fn judge_against_planned(first: &Path, source: &Path, outcome: &mut WheelOutcome) {
    match same_bytes(first, source) {
        Ok(true) => {
            outcome.action = Action::Unchanged;
            outcome.reason = Some(format!("the same wheel is also given as `{}`", first.display()));
        }
        _ => {
            outcome.reason = Some(format!(
                "`{}` goes to the same place with different bytes",
                first.display()
            ));
        }
    }
}

/// A wheel going to `destination`, where a wheel of that name already is: unchanged when
/// the bytes are the same, replaced with `--force` when they are not, else refused.
fn judge_against_existing(destination: &Path, source: &Path, force: bool, outcome: &mut WheelOutcome) {
    match same_bytes(destination, source) {
        Ok(true) => {
            outcome.action = Action::Unchanged;
            outcome.reason = Some("the same bytes are already in place".to_string());
        }
        Ok(false) if force => outcome.action = Action::Replace,
        Ok(false) => {
            outcome.reason = Some(format!(
                "a different wheel of that name is already at `{}`; --force replaces it",
                destination.display()
            ));
        }
        Err(error) => {
            outcome.reason = Some(format!(
                "cannot compare with `{}`: {error}",
                destination.display()
            ));
        }
    }
}

/// Decides wheel after wheel against the tree and what this run already decided.
struct Decider<'a> {
    tree: &'a Tree,
    options: &'a Options,
    planned: Planned,
}

impl Decider<'_> {
    /// Decides where one wheel goes, or why it does not.
    fn decide(&mut self, mut wheel: Checked) -> Decision {
        let mut outcome = undecided_outcome(&mut wheel);
        let target = match wheel.target {
            Ok(target) => target,
            Err(refusal) => {
                outcome.reason = Some(refusal.to_string());
                return Decision { outcome, dir: None };
            }
        };
        outcome.detected = Some(target.detected.clone());
        outcome.evidence = target.evidence.clone();
        outcome.destination = Some(target.relative.clone());
        let Some(dir) = self.tree.dir_index(&target.relative) else {
            outcome.reason = Some(format!("`{}` is not a directory of the layout", target.relative));
            return Decision { outcome, dir: None };
        };
        let project = outcome.project.clone().unwrap_or_default();
        let version = wheel
            .filename
            .as_ref()
            .map(|name| name.version().to_string())
            .unwrap_or_default();
        let dir = if self.tree.dirs[dir].is_arch_specific() {
            self.warn_generic_too(&project, dir, &mut outcome);
            dir
        } else if target.arch_overridden {
            dir
        } else {
            match self.generic_placement(&project, &version, dir, &mut outcome) {
                Ok(dir) => dir,
                Err(reason) => {
                    outcome.reason = Some(reason);
                    return Decision {
                        outcome,
                        dir: Some(dir),
                    };
                }
            }
        };
        let destination = self.tree.dir_path(dir).join(&wheel.file_name);
        outcome.path = Some(destination.clone());
        self.warn_same_name_elsewhere(&project, &wheel.file_name, dir, &mut outcome);
        if let Some(first) = self.planned.sources.get(&(dir, wheel.file_name.clone())) {
            judge_against_planned(first, &wheel.source, &mut outcome);
        } else if self.tree.find(dir, &wheel.file_name).is_some() {
            judge_against_existing(&destination, &wheel.source, self.options.force, &mut outcome);
        } else {
            outcome.action = Action::Place;
        }
        if matches!(outcome.action, Action::Place | Action::Replace) {
            self.planned.add(&project, dir, &wheel.file_name, &wheel.source);
        }
        Decision {
            outcome,
            dir: Some(dir),
        }
    }

    /// The project's wheels in `dirs`, in the tree or decided earlier in this run, sorted.
    fn in_tree_or_planned(&self, project: &str, dirs: &[usize]) -> Vec<FoundWheel> {
        let mut found: Vec<FoundWheel> = self
            .tree
            .project(project)
            .filter(|existing| dirs.contains(&existing.dir))
            .map(|existing| {
                (
                    existing.dir,
                    existing.file_name.clone(),
                    existing.filename.version().to_string(),
                )
            })
            .collect();
        for (planned_dir, name) in self.planned.of_project(project) {
            if dirs.contains(planned_dir) {
                let version = name
                    .parse::<WheelFilename>()
                    .map(|parsed| parsed.version().to_string())
                    .unwrap_or_default();
                found.push((*planned_dir, name.clone(), version));
            }
        }
        found.sort();
        found
    }

    /// Some of `found`, as paths relative to the root.
    fn describe(&self, found: &[FoundWheel]) -> String {
        let names: Vec<String> = found
            .iter()
            .map(|(dir, name, _)| format!("{}/{name}", self.tree.dirs[*dir].relative))
            .collect();
        list_some(&names)
    }

    /// Warns when generic wheels of the project are seen by the same nodes as the
    /// arch-specific directory `dir`.
    fn warn_generic_too(&self, project: &str, dir: usize, outcome: &mut WheelOutcome) {
        let layer = self.tree.dirs[dir].layer.clone().unwrap_or_default();
        let generic = self.in_tree_or_planned(project, &generic_dirs_for(self.tree, &layer));
        if !generic.is_empty() {
            outcome.warnings.push(format!(
                "generic wheels of {project} exist too ({}): nodes of {layer} see both and take the newest version, whatever its arch",
                self.describe(&generic)
            ));
        }
    }

    /// Where a generic wheel of version `version` bound for the generic directory `dir` goes,
    /// given the project's arch-specific wheels that `dir` serves too: next to them in their
    /// layer's generic directory when they are all of its version and in one layer, refused
    /// when they are not, `dir` when there are none.
    fn generic_placement(
        &self,
        project: &str,
        version: &str,
        dir: usize,
        outcome: &mut WheelOutcome,
    ) -> Result<usize, String> {
        let served = arch_dirs_served_by(self.tree, &self.tree.dirs[dir].relative);
        let specific = self.in_tree_or_planned(project, &served);
        if specific.is_empty() {
            return Ok(dir);
        }
        let layers: BTreeSet<Option<String>> = specific
            .iter()
            .map(|(dir, _, _)| self.tree.dirs[*dir].layer.clone())
            .collect();
        let same_version = specific.iter().all(|(_, _, other)| other == version);
        if !(same_version && layers.len() == 1) {
            return Err(format!(
                "arch-specific wheels of {project} already exist ({}): it cannot be copied as a generic wheel; use --arch ARCH to say which arch it is for",
                self.describe(&specific)
            ));
        }
        // The baseline build of a release that also has arch builds: it is their fallback,
        // next to them in the layer's generic directory.
        let layer = layers.into_iter().next().flatten().unwrap_or_default();
        match self.tree.dir_index(&format!("{layer}/generic")) {
            Some(fallback) if fallback != dir => {
                outcome.warnings.push(format!(
                    "placed in {layer}/generic, next to the arch-specific wheels of the same version ({})",
                    self.describe(&specific)
                ));
                outcome.destination = Some(self.tree.dirs[fallback].relative.clone());
                Ok(fallback)
            }
            _ => Ok(dir),
        }
    }

    /// Warns when a wheel of the same file name is in another directory (in the tree or
    /// placed by this run): with plain find-links, pip takes the copy whose path sorts first,
    /// whatever the order of the directories, so a node may get another arch's build than
    /// its own.
    fn warn_same_name_elsewhere(
        &self,
        project: &str,
        file_name: &str,
        dir: usize,
        outcome: &mut WheelOutcome,
    ) {
        let mut elsewhere: Vec<String> = self
            .tree
            .project(project)
            .filter(|existing| existing.file_name == file_name && existing.dir != dir)
            .map(|existing| self.tree.relative_path(existing))
            .collect();
        for (planned_dir, name) in self.planned.of_project(project) {
            if name == file_name && *planned_dir != dir {
                elsewhere.push(format!(
                    "{}/{name} (this run)",
                    self.tree.dirs[*planned_dir].relative
                ));
            }
        }
        if !elsewhere.is_empty() {
            outcome.warnings.push(format!(
                "a wheel of the same name is also in {}: pip given these directories as find-links takes the copy whose path sorts first, not the node's own arch; serve pip `wheelwright index` (or use uv with `wheelwright pip-config`)",
                list_some(&elsewhere)
            ));
        }
    }
}

/// Decides every wheel against the tree (arch-specific placements first); the decisions
/// keep the order of `checked`.
pub(super) fn decide(tree: &mut Tree, checked: Vec<Checked>, options: &Options) -> Vec<Decision> {
    let mut decider = Decider {
        tree,
        options,
        planned: Planned::default(),
    };
    let mut decisions: Vec<(usize, Decision)> = decision_order(checked)
        .into_iter()
        .map(|(index, wheel)| (index, decider.decide(wheel)))
        .collect();
    decisions.sort_by_key(|(index, _)| *index);
    decisions.into_iter().map(|(_, decision)| decision).collect()
}
