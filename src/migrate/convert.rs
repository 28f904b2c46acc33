//! One package's configs converted ([`Context::package`]): the drafts of each config in every
//! cell, the generic config merged across cells, versioned configs as `versions` entries,
//! the notes placed beside their keys, and the recipe written (patches, check, rollback).

use super::*;

/// Everything the conversion of one package reads.
pub(super) struct Context<'a> {
    /// The file of each job.
    pub(super) job_files: &'a [usize],
    pub(super) files: &'a [ConfigFile],
    pub(super) cells: &'a [StackCell],
    pub(super) stacks: &'a [StackCell],
    pub(super) stack_of_cell: &'a [usize],
    pub(super) results: &'a [Sourced],
    pub(super) kinds: &'a [JobKind],
    pub(super) first_job: &'a [usize],
    pub(super) patches_directory: &'a Path,
    pub(super) output: &'a Path,
    pub(super) force: bool,
    pub(super) layout: &'a Layout,
}

/// A file's drafts, one per cell, or why it cannot be imported.
type Drafts = Result<(Vec<Draft>, Option<Draft>), String>;

fn describe_note(note: &Note) -> String {
    match note.key {
        Some(key) => format!("{key}: {}", note.message),
        None => note.message.clone(),
    }
}

/// Notes without repeats, in their first order.
fn unique(notes: impl IntoIterator<Item = Note>) -> Vec<Note> {
    let mut seen = BTreeSet::new();
    notes
        .into_iter()
        .filter(|note| seen.insert(note.clone()))
        .collect()
}

impl Context<'_> {
    fn report(&self, file: usize, package: &str, status: FileStatus) -> FileReport {
        FileReport {
            config: self.files[file].path.clone(),
            package: package.to_string(),
            version: self.files[file].version.clone(),
            status,
            recipe: None,
            notes: Vec::new(),
            reason: None,
        }
    }

    fn refused(&self, file: usize, package: &str, reason: String) -> FileReport {
        FileReport {
            reason: Some(reason),
            ..self.report(file, package, FileStatus::Refused)
        }
    }

    /// The drafts of one sourced file: one per cell (and the oldest version's, for a generic
    /// file), or why it was refused.
    fn drafts(&self, file: usize, baseline: &Baseline, oldest: &Baseline) -> Drafts {
        let first = self.first_job[file];
        let mut per_stack = Vec::new();
        let mut oldest_draft = None;
        for offset in 0.. {
            let index = first + offset;
            if index >= self.results.len() || self.job_files[index] != file {
                break;
            }
            let (stack, base) = match self.kinds[index] {
                JobKind::Newest(stack) => (stack, baseline),
                JobKind::Oldest => (0, oldest),
            };
            let where_ = format!("{}/{}", self.stacks[stack].layer, self.stacks[stack].arch);
            let dump = match &self.results[index] {
                Sourced::Done(dump) => dump,
                Sourced::Failed {
                    status,
                    output,
                    calls,
                } => {
                    let mut said = String::new();
                    if !output.is_empty() {
                        said = format!(": {}", output.split_whitespace().collect::<Vec<_>>().join(" "));
                    }
                    if !calls.is_empty() {
                        said.push_str(&format!(" (it called: {})", calls.join("; ")));
                    }
                    if matches!(self.kinds[index], JobKind::Oldest) {
                        tracing::debug!(
                            "{}: fails for old versions{said}",
                            self.files[file].path.display()
                        );
                        continue;
                    }
                    return Err(format!(
                        "the config stops with status {status} when sourced (on {where_}){said}"
                    ));
                }
                Sourced::TimedOut { output, calls } => {
                    let mut said = String::new();
                    if !output.is_empty() {
                        said = format!(
                            "; it printed: {}",
                            output.split_whitespace().collect::<Vec<_>>().join(" ")
                        );
                    }
                    if !calls.is_empty() {
                        said.push_str(&format!("; it called: {}", calls.join("; ")));
                    }
                    return Err(format!(
                        "the config was still running when its time was up (on {where_}){said}"
                    ));
                }
            };
            if dump.output.contains("syntax error") {
                return Err(format!(
                    "bash cannot read the config: {}",
                    dump.output.split_whitespace().collect::<Vec<_>>().join(" ")
                ));
            }
            let draft = map::draft(
                dump,
                &MapContext {
                    baseline: base,
                    stack: &self.stacks[stack],
                },
            );
            match self.kinds[index] {
                JobKind::Newest(_) => per_stack.push(draft),
                JobKind::Oldest => oldest_draft = Some(draft),
            }
        }
        if per_stack.len() != self.stacks.len() {
            return Err("the config was not sourced on every layer (an importer bug)".to_string());
        }
        let mut drafts: Vec<Draft> = self
            .stack_of_cell
            .iter()
            .map(|stack| per_stack[*stack].clone())
            .collect();
        for draft in &mut drafts {
            if let Some(renamed) = &draft.renamed_to {
                return Err(format!(
                    "the config sets PACKAGE={renamed}: it builds another package under its own name (wheelwright has one recipe per package; merge it into `{renamed}` by hand)"
                ));
            }
            self.check_patches(draft);
        }
        Ok((drafts, oldest_draft))
    }

    /// Leaves out of a draft the patches that are missing or named by version, with notes;
    /// the files of a patch named by version (`fix-<version>.patch`) are still copied.
    fn check_patches(&self, draft: &mut Draft) {
        let mut missing = Vec::new();
        let mut versioned = Vec::new();
        let mut found = Vec::new();
        for patch in &draft.patches {
            if let Some((before, after)) = patch.split_once(NEWEST_VERSION) {
                let mut matching: Vec<String> = fs_err::read_dir(self.patches_directory)
                    .into_iter()
                    .flatten()
                    .flatten()
                    .map(|entry| entry.file_name().to_string_lossy().to_string())
                    .filter(|name| {
                        name.len() > before.len() + after.len()
                            && name.starts_with(before)
                            && name.ends_with(after)
                    })
                    .collect();
                matching.sort();
                found.extend(matching.iter().cloned());
                versioned.push((patch.clone(), matching));
            } else if !self.patches_directory.join(patch).is_file() {
                missing.push(patch.clone());
            }
        }
        let dropped: Vec<&String> = missing
            .iter()
            .chain(versioned.iter().map(|(patch, _)| patch))
            .collect();
        draft.patches.retain(|patch| !dropped.contains(&patch));
        draft.patches.extend(found);
        if let Some(Value::List(items)) = draft.values.get_mut(&Key::Patches) {
            items.retain(|item| !dropped.contains(&item));
            if items.is_empty() {
                draft.values.remove(&Key::Patches);
            }
        }
        for patch in missing {
            draft.notes.push(Note {
                key: Some(Key::Patches),
                message: format!(
                    "the patch `{patch}` is not in {}; left out (copy it to patches/ and add it)",
                    self.patches_directory.display()
                ),
            });
        }
        for (patch, matching) in versioned {
            draft.notes.push(Note {
                key: Some(Key::Patches),
                message: format!(
                    "the patch name `{}` depends on the version (build_wheel.sh applied the file of the version built); left out; {}: add each under a `versions` entry",
                    patch.replace(NEWEST_VERSION, "<version>"),
                    if matching.is_empty() { "no such file was found".to_string() } else { format!("copied to patches/: {}", matching.join(", ")) }
                ),
            });
        }
    }

    /// Converts one package's configs into its recipe; the report of each config.
    pub(super) fn package(
        &self,
        name: &str,
        group: &Group,
        baseline: &dyn Fn(&Group, &str) -> Baseline,
    ) -> PackageOutcome {
        let package = group.package.as_str();
        let mut files: Vec<FileReport> = group
            .refused
            .iter()
            .map(|(file, reason)| self.refused(*file, package, reason.clone()))
            .collect();
        let mut sourced: Vec<usize> = group.generic.into_iter().collect();
        sourced.extend(&group.versioned);
        let refuse_all = |files: &mut Vec<FileReport>, reason: String| {
            for file in &sourced {
                files.push(self.refused(*file, package, reason.clone()));
            }
        };
        let recipe_path = self
            .output
            .join(format!("{name}.{}", crate::recipe::RECIPE_EXTENSION));
        if recipe_path.exists() && !self.force {
            refuse_all(
                &mut files,
                format!("{} exists (use --force to replace it)", recipe_path.display()),
            );
            return PackageOutcome { files };
        }

        let mut document = Document {
            package: package.to_string(),
            ..Default::default()
        };
        let mut sources: Vec<String> = Vec::new();
        let generic = match group.generic {
            None => Generic {
                drafts: vec![Draft::default(); self.cells.len()],
                ..Generic::default()
            },
            Some(file) => match self.generic(file, group, baseline) {
                Ok(mut generic) => {
                    document.top = std::mem::take(&mut generic.top);
                    sources.push(self.files[file].path.display().to_string());
                    generic
                }
                Err(reason) => {
                    self.refuse_generic(file, group, reason, &mut files);
                    return PackageOutcome { files };
                }
            },
        };

        // Versioned files: entries with what differs from the generic config at that version.
        let (entries, versioned_drafts) =
            self.versioned_entries(group, baseline, &generic.drafts, &mut files, &mut sources);
        document.versions = entries.iter().map(|(_, _, entry, _)| entry.clone()).collect();

        let generic_notes = unique(generic.notes);
        annotate(&mut document, &sources, &generic_notes);

        // Patches, then the recipe: checked, then moved into place.
        match self.write_recipe(&document, &recipe_path, &generic.drafts, &versioned_drafts) {
            Ok(()) => {}
            Err(WriteFailure::Patches(reason)) => {
                refuse_all(&mut files, reason);
                return PackageOutcome { files };
            }
            Err(WriteFailure::Recipe(reason)) => {
                let done: BTreeSet<PathBuf> = files.iter().map(|file| file.config.clone()).collect();
                for file in &sourced {
                    if !done.contains(&self.files[*file].path) {
                        files.push(self.refused(
                            *file,
                            package,
                            format!("the recipe fails its check: {reason}"),
                        ));
                    }
                }
                return PackageOutcome { files };
            }
        }

        if let Some(generic_file) = group.generic {
            files.push(self.converted(generic_file, package, &recipe_path, &generic_notes));
        }
        for (file, _, _, notes) in &entries {
            files.push(self.converted(*file, package, &recipe_path, notes));
        }
        PackageOutcome { files }
    }

    /// The generic config `file`'s drafts in every cell, merged, with their notes; or why it
    /// cannot be imported.
    fn generic(
        &self,
        file: usize,
        group: &Group,
        baseline: &dyn Fn(&Group, &str) -> Baseline,
    ) -> Result<Generic, String> {
        let newest = baseline(group, NEWEST_VERSION);
        let oldest = baseline(group, OLDEST_VERSION);
        let (drafts, oldest_draft) = self.drafts(file, &newest, &oldest)?;
        let (top, merge_notes) = map::merge_cells(self.cells, &drafts);
        let mut notes: Vec<Note> = drafts.iter().flat_map(|draft| draft.notes.clone()).collect();
        notes.extend(merge_notes);
        notes.extend(version_notes(&drafts[0], oldest_draft.as_ref()));
        notes.extend(leftover_version(&drafts));
        Ok(Generic { drafts, top, notes })
    }

    /// Refuses the generic config `file` for `reason`, and the package's versioned configs
    /// with it.
    fn refuse_generic(&self, file: usize, group: &Group, reason: String, files: &mut Vec<FileReport>) {
        let package = group.package.as_str();
        let others = if group.versioned.is_empty() {
            String::new()
        } else {
            " (the package's versioned configs are refused with it)".to_string()
        };
        files.push(self.refused(file, package, reason.clone()));
        for versioned in &group.versioned {
            files.push(self.refused(
                *versioned,
                package,
                format!("the package's generic config is refused: {reason}"),
            ));
        }
        tracing::debug!("{package}: refused{others}");
    }

    /// The report of a config converted into the recipe at `recipe_path`, with its notes.
    fn converted(&self, file: usize, package: &str, recipe_path: &Path, notes: &[Note]) -> FileReport {
        let status = if notes.is_empty() {
            FileStatus::Converted
        } else {
            FileStatus::ConvertedWithNotes
        };
        FileReport {
            recipe: Some(recipe_path.to_path_buf()),
            notes: notes.iter().map(describe_note).collect(),
            ..self.report(file, package, status)
        }
    }

    /// The entries of a package's versioned configs (what differs from the generic config
    /// at that version), sorted by version, with the drafts they came from; a config that
    /// cannot be read is refused into `files`, the others' paths added to `sources`.
    fn versioned_entries(
        &self,
        group: &Group,
        baseline: &dyn Fn(&Group, &str) -> Baseline,
        generic_drafts: &[Draft],
        files: &mut Vec<FileReport>,
        sources: &mut Vec<String>,
    ) -> (Vec<VersionedConfig>, Vec<Vec<Draft>>) {
        let package = group.package.as_str();
        let mut entries: Vec<VersionedConfig> = Vec::new();
        let mut versioned_drafts: Vec<Vec<Draft>> = Vec::new();
        for &file in &group.versioned {
            let version_text = self.files[file].version.clone().unwrap_or_default();
            let when = format!("=={version_text}");
            let (Ok(version), Ok(_)) = (
                Version::from_str(&version_text),
                VersionSpecifiers::from_str(&when),
            ) else {
                files.push(self.refused(
                    file,
                    package,
                    format!("`{version_text}` is not a PEP 440 version"),
                ));
                continue;
            };
            let at_version = baseline(group, &version_text);
            match self.drafts(file, &at_version, &at_version) {
                Err(reason) => files.push(self.refused(file, package, reason)),
                Ok((drafts, _)) => {
                    let (values, mut notes) =
                        versioned_values(self.cells, generic_drafts, &drafts, &version_text);
                    notes.splice(0..0, drafts.iter().flat_map(|draft| draft.notes.clone()));
                    let notes = unique(notes);
                    let mut comments = vec![format!(
                        "from {} (build_wheel.sh takes it instead of the generic config for exactly {version_text})",
                        self.files[file]
                            .path
                            .file_name()
                            .map(|name| name.to_string_lossy().to_string())
                            .unwrap_or_default()
                    )];
                    comments.extend(notes.iter().map(describe_note));
                    entries.push((
                        file,
                        version,
                        VersionEntry {
                            when,
                            sample: version_text,
                            comments,
                            values,
                        },
                        notes,
                    ));
                    versioned_drafts.push(drafts);
                    sources.push(self.files[file].path.display().to_string());
                }
            }
        }
        entries.sort_by(|a, b| a.1.cmp(&b.1));
        (entries, versioned_drafts)
    }

    /// Copies the patches the drafts name, then checks the recipe and moves it into place;
    /// the patches it created are removed again when the recipe fails its check.
    fn write_recipe(
        &self,
        document: &Document,
        recipe_path: &Path,
        generic_drafts: &[Draft],
        versioned_drafts: &[Vec<Draft>],
    ) -> Result<(), WriteFailure> {
        let patch_names: BTreeSet<String> = generic_drafts
            .iter()
            .chain(versioned_drafts.iter().flatten())
            .flat_map(|draft| draft.patches.iter().cloned())
            .collect();
        let patch_names: Vec<String> = patch_names.into_iter().collect();
        let patches_out = self.output.join(crate::recipe::PATCHES_DIRECTORY);
        let created = write::copy_patches(&patch_names, self.patches_directory, &patches_out, self.force)
            .map_err(WriteFailure::Patches)?;
        let text = document.to_yaml();
        let written = write::check(&text, recipe_path, document, self.cells, self.layout).and_then(|()| {
            write::write_atomically(recipe_path, text.as_bytes())
                .map_err(|error| format!("{}: {error}", recipe_path.display()))
        });
        if let Err(reason) = written {
            for path in created {
                let _ = fs_err::remove_file(path);
            }
            return Err(WriteFailure::Recipe(reason));
        }
        Ok(())
    }
}

/// The generic config's drafts (one per cell), the values merged from them (the recipe's top
/// level) and its notes.
#[derive(Default)]
struct Generic {
    drafts: Vec<Draft>,
    top: BTreeMap<Key, map::Written>,
    notes: Vec<Note>,
}

/// A versioned config's file, its version, its entry and its notes.
type VersionedConfig = (usize, Version, VersionEntry, Vec<Note>);

/// Why a package's recipe was not written.
enum WriteFailure {
    /// Its patches could not be copied.
    Patches(String),
    /// The recipe fails its check (or cannot be written).
    Recipe(String),
}

/// The recipe's header (where it comes from, what to review) and the generic config's notes:
/// beside the key they are about, else in the header.
fn annotate(document: &mut Document, sources: &[String], generic_notes: &[Note]) {
    document.header = vec![
        format!(
            "Imported by `wheelwright recipe import` from {}.",
            sources.join(", ")
        ),
        "Review the notes below: what build_wheel.sh did that this recipe does not, or does otherwise."
            .to_string(),
    ];
    for note in generic_notes {
        match note.key.filter(|key| document.top.contains_key(key)) {
            Some(key) => document
                .comments
                .entry(key)
                .or_default()
                .push(note.message.clone()),
            None => document.header.push(describe_note(note)),
        }
    }
}

/// Notes for keys whose value at the oldest version differs (other than by the version's
/// text) from the newest's: the config tests the version.
fn version_notes(newest: &Draft, oldest: Option<&Draft>) -> Vec<Note> {
    let Some(oldest) = oldest else {
        return vec![Note {
            key: None,
            message: format!(
                "the config stops when sourced for an old version ({OLDEST_VERSION}): it refuses some versions, which the recipe does not"
            ),
        }];
    };
    let keys: BTreeSet<Key> = newest
        .values
        .keys()
        .chain(oldest.values.keys())
        .copied()
        .collect();
    let mut notes = Vec::new();
    for key in keys {
        let old = oldest
            .values
            .get(&key)
            .map(|value| map::replace_in(value, OLDEST_VERSION, NEWEST_VERSION));
        if old.as_ref() != newest.values.get(&key) {
            notes.push(Note {
                key: Some(key),
                message: format!(
                    "depends on the version beyond its text (the config compares VERSION): for old versions it is {}; the recipe has the newest versions' value (add a `versions` entry)",
                    map::describe(old.as_ref())
                ),
            });
        }
    }
    notes
}

/// Notes for values that keep a part of the version (`${VERSION%.*}`) that cannot be
/// written as `{{ version }}`.
fn leftover_version(drafts: &[Draft]) -> Vec<Note> {
    let part = NEWEST_VERSION.split('.').next().unwrap_or(NEWEST_VERSION);
    let mut notes = Vec::new();
    for draft in drafts {
        for (key, value) in &draft.values {
            let text = map::describe(Some(value));
            if text.replace("<version>", "").contains(part) {
                notes.push(Note {
                    key: Some(*key),
                    message: "uses a part of the version (like `${VERSION%.*}`), written as the imported stand-in: rewrite it with `{{ version }}` and tera filters".to_string(),
                });
            }
        }
    }
    notes
}

/// The values of a versioned file that differ from the generic file's at that version (the
/// generic values cleared where the versioned file does not set them), merged over cells.
fn versioned_values(
    cells: &[StackCell],
    generic: &[Draft],
    versioned: &[Draft],
    version: &str,
) -> (BTreeMap<Key, map::Written>, Vec<Note>) {
    let mut keys: BTreeSet<Key> = BTreeSet::new();
    for draft in generic.iter().chain(versioned) {
        keys.extend(draft.values.keys().copied());
    }
    let mut written = BTreeMap::new();
    let mut notes = Vec::new();
    for key in keys {
        let generic_values: Vec<Option<Value>> = generic
            .iter()
            .map(|draft| {
                draft
                    .values
                    .get(&key)
                    .map(|value| map::replace_in(value, NEWEST_VERSION, version))
            })
            .collect();
        let versioned_values: Vec<Option<Value>> = versioned
            .iter()
            .map(|draft| draft.values.get(&key).cloned())
            .collect();
        if generic_values == versioned_values {
            continue;
        }
        if key == Key::ArchSpecific {
            if versioned_values
                .iter()
                .any(|value| matches!(value, Some(Value::Flag(true))))
            {
                written.insert(key, map::Written::Flag(true));
            }
            continue;
        }
        let values: Vec<Option<Value>> = if key == Key::Environment {
            // Variables only the generic config exports are set empty; unchanged ones left out.
            generic_values
                .iter()
                .zip(&versioned_values)
                .map(|(generic, versioned)| {
                    let empty = BTreeMap::new();
                    let generic_map = match generic {
                        Some(Value::Map(map)) => map,
                        _ => &empty,
                    };
                    let versioned_map = match versioned {
                        Some(Value::Map(map)) => map,
                        _ => &empty,
                    };
                    let mut changes = BTreeMap::new();
                    for (name, value) in versioned_map {
                        if generic_map.get(name) != Some(value) {
                            changes.insert(name.clone(), value.clone());
                        }
                    }
                    for name in generic_map
                        .keys()
                        .filter(|name| !versioned_map.contains_key(*name))
                    {
                        changes.insert(name.clone(), String::new());
                        notes.push(Note {
                            key: Some(Key::Environment),
                            message: format!(
                                "{name} is exported by the generic config only: set empty for this version"
                            ),
                        });
                    }
                    Some(Value::Map(changes))
                })
                .collect()
        } else {
            versioned_values
                .iter()
                .zip(&generic_values)
                .map(|(versioned, generic)| match (versioned, generic) {
                    (Some(value), _) => Some(value.clone()),
                    (None, Some(generic)) => Some(map::cleared(generic)),
                    (None, None) => None,
                })
                .collect()
        };
        let references: Vec<Option<&Value>> = values.iter().map(Option::as_ref).collect();
        if let Some(value) = map::merge_key(cells, key, &references, &mut notes) {
            written.insert(key, value);
        }
    }
    (written, notes)
}
