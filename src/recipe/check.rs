//! Stage 1: the checked recipe: every specifier, requirement, hash, Python version, patch name
//! and template validated, each value remembering its key path and line; per-version overrides.

use super::*;

/// A string from the recipe with the key path and position it came from, so that a value
/// that turns out wrong after merging and rendering is still reported where it was written.
#[derive(Debug, Clone)]
pub(super) struct Text {
    pub(super) value: String,
    pub(super) key: String,
    pub(super) position: Option<Position>,
}

impl Text {
    pub(super) fn from_raw(raw: RawText, key: String) -> Self {
        Text {
            position: raw.position,
            value: raw.value,
            key,
        }
    }

    /// No value, only a key path and a position: where a missing key or a block is reported.
    pub(super) fn place(key: String, position: Option<Position>) -> Self {
        Text {
            value: String::new(),
            key,
            position,
        }
    }

    pub(super) fn is_template(&self) -> bool {
        is_template(&self.value)
    }
}

impl Serialize for Text {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.value)
    }
}

pub(crate) fn is_template(text: &str) -> bool {
    text.contains("{{") || text.contains("{%") || text.contains("{#")
}

/// `source:` after checking its shape (values are checked after rendering).
#[derive(Debug, Clone)]
pub(super) enum SourceSetting {
    Pypi,
    Url { url: Text, sha256: Option<Text> },
    Git { url: Text, rev: Text },
}

impl Serialize for SourceSetting {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        match self {
            SourceSetting::Pypi => serializer.serialize_str("pypi"),
            SourceSetting::Url { url, sha256 } => {
                let mut map = serializer.serialize_map(None)?;
                map.serialize_entry("url", url)?;
                if let Some(sha256) = sha256 {
                    map.serialize_entry("sha256", sha256)?;
                }
                map.end()
            }
            SourceSetting::Git { url, rev } => {
                let mut map = serializer.serialize_map(Some(2))?;
                map.serialize_entry("git", url)?;
                map.serialize_entry("rev", rev)?;
                map.end()
            }
        }
    }
}

/// One checked entry of `skip_imports` (values checked after rendering).
#[derive(Debug, Clone, Serialize)]
pub(super) struct SkipImportSetting {
    pub(super) module: Text,
    pub(super) reason: Text,
}

#[derive(Debug, Clone, Default, Serialize)]
pub(super) struct RequirementSettings {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) add: Option<Vec<Text>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) remove: Option<Vec<Text>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) update: Option<Vec<Text>>,
}

impl RequirementSettings {
    pub(super) fn is_empty(&self) -> bool {
        self.add.is_none() && self.remove.is_none() && self.update.is_none()
    }
}

/// `adopt`: the binary wheel taken instead of a build, and its search path edits.
#[derive(Debug, Clone, Default, Serialize)]
pub(super) struct AdoptSetting {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) find_links: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) url: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) add_rpath: Option<Vec<Text>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) add_origin: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) remove_rpath_prefix: Option<Vec<Text>>,
}

impl AdoptSetting {
    /// A later `versions` entry's `adopt`: the keys it gives replace ours.
    fn apply(&mut self, later: &AdoptSetting) {
        fn replace<T: Clone>(mine: &mut Option<T>, theirs: &Option<T>) {
            if let Some(value) = theirs {
                *mine = Some(value.clone());
            }
        }
        replace(&mut self.find_links, &later.find_links);
        replace(&mut self.url, &later.url);
        replace(&mut self.add_rpath, &later.add_rpath);
        replace(&mut self.add_origin, &later.add_origin);
        replace(&mut self.remove_rpath_prefix, &later.remove_rpath_prefix);
    }
}

/// `resources`: what one build may use in the nightly.
#[derive(Debug, Clone, Default, Serialize)]
pub(super) struct ResourceSettings {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) cpus: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) memory: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) time: Option<Text>,
}

impl ResourceSettings {
    pub(super) fn is_empty(&self) -> bool {
        self.cpus.is_none() && self.memory.is_none() && self.time.is_none()
    }
}

/// The settings of the top level or of one `versions` entry; `None` = not given there.
#[derive(Debug, Clone, Default, Serialize)]
pub(super) struct Settings {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) import_names: Option<Vec<Text>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) skip_imports: Option<Vec<SkipImportSetting>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) import_timeout: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) test_gpus: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) test: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) test_command: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) build_dependencies: Option<Vec<Text>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) test_dependencies: Option<Vec<Text>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) modules: Option<Vec<Text>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) build_modules: Option<Vec<Text>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) environment: Option<BTreeMap<String, Text>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) pre_download: Option<Vec<Text>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) post_download: Option<Vec<Text>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) pre_build: Option<Vec<Text>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) post_build: Option<Vec<Text>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) build_command: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) build_args: Option<Vec<Text>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) patches: Option<Vec<Text>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) source: Option<SourceSetting>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) sha256: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) package_suffix: Option<Text>,
    #[serde(skip_serializing_if = "RequirementSettings::is_empty")]
    pub(super) requirements: RequirementSettings,
    #[serde(skip_serializing_if = "ResourceSettings::is_empty")]
    pub(super) resources: ResourceSettings,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) rpath: Option<Vec<Text>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) skip_python: Option<Vec<Text>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) arch_specific: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) adopt: Option<AdoptSetting>,
}

impl Settings {
    /// Applies a later `versions` entry: scalars and lists it gives replace ours,
    /// `environment` merges variable by variable, `requirements` merges list by list.
    pub(super) fn apply(&mut self, later: &Settings) {
        fn replace<T: Clone>(mine: &mut Option<T>, theirs: &Option<T>) {
            if let Some(value) = theirs {
                *mine = Some(value.clone());
            }
        }
        replace(&mut self.import_names, &later.import_names);
        replace(&mut self.skip_imports, &later.skip_imports);
        replace(&mut self.import_timeout, &later.import_timeout);
        replace(&mut self.test_gpus, &later.test_gpus);
        replace(&mut self.test, &later.test);
        replace(&mut self.test_command, &later.test_command);
        replace(&mut self.build_dependencies, &later.build_dependencies);
        replace(&mut self.test_dependencies, &later.test_dependencies);
        replace(&mut self.modules, &later.modules);
        replace(&mut self.build_modules, &later.build_modules);
        if let Some(variables) = &later.environment {
            self.environment.get_or_insert_with(BTreeMap::new).extend(
                variables
                    .iter()
                    .map(|(name, value)| (name.clone(), value.clone())),
            );
        }
        replace(&mut self.pre_download, &later.pre_download);
        replace(&mut self.post_download, &later.post_download);
        replace(&mut self.pre_build, &later.pre_build);
        replace(&mut self.post_build, &later.post_build);
        replace(&mut self.build_command, &later.build_command);
        replace(&mut self.build_args, &later.build_args);
        replace(&mut self.patches, &later.patches);
        replace(&mut self.source, &later.source);
        replace(&mut self.sha256, &later.sha256);
        replace(&mut self.package_suffix, &later.package_suffix);
        replace(&mut self.requirements.add, &later.requirements.add);
        replace(&mut self.requirements.remove, &later.requirements.remove);
        replace(&mut self.requirements.update, &later.requirements.update);
        replace(&mut self.resources.cpus, &later.resources.cpus);
        replace(&mut self.resources.memory, &later.resources.memory);
        replace(&mut self.resources.time, &later.resources.time);
        replace(&mut self.rpath, &later.rpath);
        replace(&mut self.skip_python, &later.skip_python);
        replace(&mut self.arch_specific, &later.arch_specific);
        if let Some(adopt) = &later.adopt {
            self.adopt.get_or_insert_with(AdoptSetting::default).apply(adopt);
        }
    }

    /// Applies a `versions` entry's `extend:` block: its lists are appended to ours.
    pub(super) fn extend(&mut self, more: &Settings) {
        fn append(mine: &mut Option<Vec<Text>>, theirs: &Option<Vec<Text>>) {
            if let Some(items) = theirs {
                mine.get_or_insert_with(Vec::new).extend(items.iter().cloned());
            }
        }
        append(&mut self.import_names, &more.import_names);
        if let Some(items) = &more.skip_imports {
            self.skip_imports
                .get_or_insert_with(Vec::new)
                .extend(items.iter().cloned());
        }
        append(&mut self.build_dependencies, &more.build_dependencies);
        append(&mut self.test_dependencies, &more.test_dependencies);
        append(&mut self.modules, &more.modules);
        append(&mut self.build_modules, &more.build_modules);
        append(&mut self.pre_download, &more.pre_download);
        append(&mut self.post_download, &more.post_download);
        append(&mut self.pre_build, &more.pre_build);
        append(&mut self.post_build, &more.post_build);
        append(&mut self.build_args, &more.build_args);
        append(&mut self.patches, &more.patches);
        append(&mut self.requirements.add, &more.requirements.add);
        append(&mut self.requirements.remove, &more.requirements.remove);
        append(&mut self.requirements.update, &more.requirements.update);
        append(&mut self.rpath, &more.rpath);
        append(&mut self.skip_python, &more.skip_python);
    }
}

/// One entry of `versions:`.
#[derive(Debug, Clone, Serialize)]
pub(super) struct Override {
    pub(super) when: Text,
    #[serde(skip)]
    pub(super) specifiers: VersionSpecifiers,
    #[serde(flatten)]
    pub(super) settings: Settings,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) extend: Option<Settings>,
}

/// Joins a key path: `versions[1]` + `requirements` -> `versions[1].requirements`.
pub(super) fn join_key(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

/// Builds the checked settings of one level of the file, checking what can be checked
/// before rendering (shapes, names, specifiers are checked by the caller).
pub(super) struct Reader<'a> {
    pub(super) file: &'a Path,
}

impl Reader<'_> {
    pub(super) fn invalid(&self, text: &Text, message: impl Into<String>) -> RecipeError {
        RecipeError::Invalid {
            file: self.file.to_path_buf(),
            key: text.key.clone(),
            position: text.position,
            value: Some(text.value.clone()),
            message: message.into(),
        }
    }

    /// Like [`Reader::invalid`], quoting `value` rather than the text's own value.
    pub(super) fn invalid_value(&self, text: &Text, value: &str, message: impl Into<String>) -> RecipeError {
        RecipeError::Invalid {
            file: self.file.to_path_buf(),
            key: text.key.clone(),
            position: text.position,
            value: Some(value.to_string()),
            message: message.into(),
        }
    }

    pub(super) fn unplaced(&self, key: String, message: impl Into<String>) -> RecipeError {
        RecipeError::Invalid {
            file: self.file.to_path_buf(),
            key,
            position: None,
            value: None,
            message: message.into(),
        }
    }

    pub(super) fn text(&self, raw: Option<RawText>, prefix: &str, name: &str) -> Option<Text> {
        raw.map(|raw| Text::from_raw(raw, join_key(prefix, name)))
    }

    pub(super) fn list(&self, raw: Option<Vec<RawText>>, prefix: &str, name: &str) -> Option<Vec<Text>> {
        let key = join_key(prefix, name);
        raw.map(|items| {
            items
                .into_iter()
                .enumerate()
                .map(|(index, raw)| Text::from_raw(raw, format!("{key}[{index}]")))
                .collect()
        })
    }

    /// The settings of one level; `raw` must have had its structural keys taken out. A value
    /// that is wrong is left out and its error collected.
    pub(super) fn settings(&self, raw: RawRecipe, prefix: &str, errors: &Collected) -> Settings {
        let environment = raw.environment.map(|variables| {
            let mut checked = BTreeMap::new();
            for (name, value) in variables {
                let text = Text::from_raw(value, join_key(prefix, &format!("environment.{}", name.value)));
                if is_variable_name(&name.value) {
                    checked.insert(name.value, text);
                } else {
                    errors.push(self.invalid_value(
                        &text,
                        &name.value,
                        "an environment variable name is letters, digits and `_`, not starting with a digit",
                    ));
                }
            }
            checked
        });
        let source = raw.source.and_then(|located| {
            let at = Text::place(join_key(prefix, "source"), located.position);
            errors.ok(self.source(located.value, &at, prefix))
        });
        let requirements = match raw.requirements {
            None => RequirementSettings::default(),
            Some(requirements) => {
                let prefix = join_key(prefix, "requirements");
                RequirementSettings {
                    add: self.list(requirements.add, &prefix, "add"),
                    remove: self.list(requirements.remove, &prefix, "remove"),
                    update: self.list(requirements.update, &prefix, "update"),
                }
            }
        };
        let resources = match raw.resources {
            None => ResourceSettings::default(),
            Some(resources) => {
                let prefix = join_key(prefix, "resources");
                ResourceSettings {
                    cpus: self.text(resources.cpus, &prefix, "cpus"),
                    memory: self.text(resources.memory, &prefix, "memory"),
                    time: self.text(resources.time, &prefix, "time"),
                }
            }
        };
        let adopt = raw.adopt.map(|adopt| {
            let prefix = join_key(prefix, "adopt");
            AdoptSetting {
                find_links: self.text(adopt.find_links, &prefix, "find_links"),
                url: self.text(adopt.url, &prefix, "url"),
                add_rpath: self.list(adopt.add_rpath, &prefix, "add_rpath"),
                add_origin: adopt.add_origin,
                remove_rpath_prefix: self.list(adopt.remove_rpath_prefix, &prefix, "remove_rpath_prefix"),
            }
        });
        let skip_imports = raw.skip_imports.map(|entries| {
            entries
                .into_iter()
                .enumerate()
                .filter_map(|(index, entry)| {
                    let key = format!("{}[{index}]", join_key(prefix, "skip_imports"));
                    self.skip_import(entry, &key, errors)
                })
                .collect()
        });
        Settings {
            import_names: self.list(raw.import_names, prefix, "import_names"),
            skip_imports,
            import_timeout: self.text(raw.import_timeout, prefix, "import_timeout"),
            test_gpus: self.text(raw.test_gpus, prefix, "test_gpus"),
            test: self.text(raw.test, prefix, "test"),
            test_command: self.text(raw.test_command, prefix, "test_command"),
            build_dependencies: self.list(raw.build_dependencies, prefix, "build_dependencies"),
            test_dependencies: self.list(raw.test_dependencies, prefix, "test_dependencies"),
            modules: self.list(raw.modules, prefix, "modules"),
            build_modules: self.list(raw.build_modules, prefix, "build_modules"),
            environment,
            pre_download: self.list(raw.pre_download, prefix, "pre_download"),
            post_download: self.list(raw.post_download, prefix, "post_download"),
            pre_build: self.list(raw.pre_build, prefix, "pre_build"),
            post_build: self.list(raw.post_build, prefix, "post_build"),
            build_command: self.text(raw.build_command, prefix, "build_command"),
            build_args: self.list(raw.build_args, prefix, "build_args"),
            patches: self.list(raw.patches, prefix, "patches"),
            source,
            sha256: self.text(raw.sha256, prefix, "sha256"),
            package_suffix: self.text(raw.package_suffix, prefix, "package_suffix"),
            requirements,
            resources,
            rpath: self.list(raw.rpath, prefix, "rpath"),
            skip_python: self.list(raw.skip_python, prefix, "skip_python"),
            arch_specific: raw.arch_specific,
            adopt,
        }
    }

    /// One `skip_imports` entry at key path `key`: a `module` and a `reason`, both required
    /// (each one missing is an error of its own).
    pub(super) fn skip_import(
        &self,
        located: Located<RawSkipImport>,
        key: &str,
        errors: &Collected,
    ) -> Option<SkipImportSetting> {
        let at = Text::place(key.to_string(), located.position);
        let entry = located.value;
        let module = self.text(entry.module, key, "module");
        if module.is_none() {
            errors.push(
                self.unplaced(
                    join_key(key, "module"),
                    "missing: name the module not to import (`module: pkg.cuda_ext`)",
                )
                .at(&at),
            );
        }
        let reason = self.text(entry.reason, key, "reason");
        if reason.is_none() {
            let module = module
                .as_ref()
                .map(|module| format!("`{}`", module.value.trim()))
                .unwrap_or_else(|| "the module".to_string());
            errors.push(
                self.unplaced(
                    join_key(key, "reason"),
                    format!("missing: say why {module} is not imported (`reason: needs a GPU`)"),
                )
                .at(&at),
            );
        }
        Some(SkipImportSetting {
            module: module?,
            reason: reason?,
        })
    }

    pub(super) fn source(
        &self,
        raw: RawSource,
        at: &Text,
        prefix: &str,
    ) -> Result<SourceSetting, RecipeError> {
        let shape = "`source` is `pypi`, {url: URL, sha256: HEX} or {git: URL, rev: COMMIT-OR-TAG}";
        match raw {
            RawSource::Word(word) if word == "pypi" => Ok(SourceSetting::Pypi),
            RawSource::Word(word) => Err(self.invalid_value(at, &word, shape)),
            RawSource::Table(table) => {
                let table = *table;
                let prefix = join_key(prefix, "source");
                let url = self.text(table.url, &prefix, "url");
                let sha256 = self.text(table.sha256, &prefix, "sha256");
                let git = self.text(table.git, &prefix, "git");
                let rev = self.text(table.rev, &prefix, "rev");
                match (url, git) {
                    (Some(url), None) => match rev {
                        Some(rev) => Err(self.invalid(&rev, "`rev` goes with `git`, not `url`")),
                        None => Ok(SourceSetting::Url { url, sha256 }),
                    },
                    (None, Some(git)) => {
                        if let Some(sha256) = sha256 {
                            return Err(self.invalid(
                                &sha256,
                                "a git source is pinned by its `rev`; `sha256` is for archives",
                            ));
                        }
                        match rev {
                            Some(rev) => Ok(SourceSetting::Git { url: git, rev }),
                            None => Err(self
                                .unplaced(
                                    join_key(&prefix, "rev"),
                                    "a git source needs `rev`: a full 40-hex commit or a tag name",
                                )
                                .at(at)),
                        }
                    }
                    (Some(_), Some(git)) => Err(self.invalid(&git, "give `url` or `git`, not both")),
                    (None, None) => Err(self.invalid(at, shape).without_value()),
                }
            }
        }
    }
}

pub(super) fn is_variable_name(name: &str) -> bool {
    let mut characters = name.chars();
    characters
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && characters.all(|character| character.is_ascii_alphanumeric() || character == '_')
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PatchCheck {
    Skip,
    Exists,
}

/// What a rendered value must be.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Check {
    Any,
    NotEmpty,
    Command,
    ImportName,
    Reason,
    Seconds,
    Gpus,
    Cpus,
    Memory,
    Duration,
    Requirement,
    RemoveRequirement,
    UpdateRequirement,
    Sha256,
    Suffix,
    Rpath,
    /// An environment module (`hdf5`, `hdf5/1.14.2`, `StdEnv/2023`).
    Module,
    ArchiveUrl,
    GitUrl,
    GitRev,
}

/// Why a rendered value is not acceptable for its key.
#[derive(Debug, thiserror::Error)]
pub(crate) enum InvalidValue {
    #[error("empty")]
    Empty,
    #[error("not a Python module name (dotted identifiers, like `Bio` or `google.protobuf`)")]
    NotAModuleName,
    #[error("empty: say why the module is not imported (`needs a GPU`)")]
    NoReason,
    #[error(
        "a number of seconds from 1 to {} (a whole number, no unit)",
        MAX_IMPORT_TIMEOUT
    )]
    NotSeconds,
    #[error("a number of GPUs from 0 to {} (a whole number)", MAX_TEST_GPUS)]
    NotGpus,
    #[error("a number of CPUs from 1 to 1024")]
    NotCpus,
    #[error("{0}")]
    NotResource(String),
    #[error("{}", requirement_reason(.0))]
    Requirement(RequirementError),
    /// A sha256 of another length (in characters) or with other characters.
    #[error("a sha256 is 64 hexadecimal digits (this is {0} characters)")]
    NotSha256(usize),
    /// The package name the suffix would make.
    #[error("`{0}` would not be a valid package name")]
    BadSuffix(String),
    #[error("one directory per entry (no `:`); list several entries instead")]
    SeveralDirectories,
    #[error("a module name like `hdf5` or `hdf5/1.14.2`: letters, digits and `._+-/`, one module per entry")]
    NotAModule,
    #[error("an archive URL starts with https://, http:// or file://")]
    NotAnArchiveUrl,
    #[error("a git URL starts with https://, ssh://, git://, file:// or is user@host:path")]
    NotAGitUrl,
    #[error("`{0}` looks like an abbreviated commit; give all 40 hexadecimal digits")]
    AbbreviatedCommit(String),
    #[error("`{0}` is a branch, which moves; give a full 40-hex commit or a tag name")]
    Branch(String),
    #[error("`{0}` is not a valid tag name or 40-hex commit")]
    NotARev(String),
}

/// A requirement that does not parse, said as a recipe value: "`x` is not a valid PEP 508
/// requirement: ...".
fn requirement_reason(error: &RequirementError) -> String {
    match error {
        RequirementError::Invalid { text, reason } => {
            format!("`{text}` is not a valid PEP 508 requirement: {reason}")
        }
        other => other.to_string(),
    }
}

impl Check {
    /// The value to keep, or why the rendered `value` is not acceptable.
    pub(crate) fn apply(self, value: &str, package: &str) -> Result<String, InvalidValue> {
        let trimmed = value.trim();
        match self {
            Check::Any => Ok(value.to_string()),
            Check::NotEmpty | Check::Command if trimmed.is_empty() => Err(InvalidValue::Empty),
            Check::NotEmpty | Check::Command => Ok(value.to_string()),
            Check::ImportName => {
                let valid = !trimmed.is_empty()
                    && trimmed.split('.').all(|part| {
                        let mut characters = part.chars();
                        characters
                            .next()
                            .is_some_and(|first| first.is_alphabetic() || first == '_')
                            && characters.all(|character| character.is_alphanumeric() || character == '_')
                    });
                if valid {
                    Ok(trimmed.to_string())
                } else {
                    Err(InvalidValue::NotAModuleName)
                }
            }
            Check::Reason if trimmed.is_empty() => Err(InvalidValue::NoReason),
            Check::Reason => Ok(trimmed.to_string()),
            Check::Seconds => match trimmed.parse::<u64>() {
                Ok(seconds) if (1..=MAX_IMPORT_TIMEOUT).contains(&seconds) => Ok(seconds.to_string()),
                _ => Err(InvalidValue::NotSeconds),
            },
            Check::Cpus => match trimmed.parse::<u32>() {
                Ok(cpus) if (1..=1024).contains(&cpus) => Ok(cpus.to_string()),
                _ => Err(InvalidValue::NotCpus),
            },
            Check::Memory => crate::resources::parse_memory(trimmed)
                .map(|megabytes| megabytes.to_string())
                .map_err(InvalidValue::NotResource),
            Check::Duration => crate::resources::parse_time(trimmed)
                .map(|minutes| minutes.to_string())
                .map_err(InvalidValue::NotResource),
            Check::Gpus => match trimmed.parse::<u32>() {
                Ok(gpus) if gpus <= MAX_TEST_GPUS => Ok(gpus.to_string()),
                _ => Err(InvalidValue::NotGpus),
            },
            Check::Requirement => RequirementEdit::add(trimmed)
                .map(|_| trimmed.to_string())
                .map_err(InvalidValue::Requirement),
            Check::RemoveRequirement => RequirementEdit::remove(trimmed)
                .map(|_| trimmed.to_string())
                .map_err(InvalidValue::Requirement),
            Check::UpdateRequirement => RequirementEdit::update(trimmed)
                .map(|_| trimmed.to_string())
                .map_err(InvalidValue::Requirement),
            Check::Sha256 => {
                if trimmed.len() == 64 && trimmed.chars().all(|character| character.is_ascii_hexdigit()) {
                    Ok(trimmed.to_ascii_lowercase())
                } else {
                    Err(InvalidValue::NotSha256(trimmed.chars().count()))
                }
            }
            Check::Suffix => {
                if trimmed.is_empty() {
                    return Ok(String::new());
                }
                let joined = format!("{package}{trimmed}");
                if trimmed.chars().all(|character| {
                    character.is_ascii_alphanumeric() || matches!(character, '-' | '_' | '.')
                }) && PackageName::from_str(&joined).is_ok()
                {
                    Ok(trimmed.to_string())
                } else {
                    Err(InvalidValue::BadSuffix(joined))
                }
            }
            Check::Module => {
                if !trimmed.is_empty()
                    && !trimmed.starts_with(['/', '-'])
                    && trimmed
                        .chars()
                        .all(|character| character.is_ascii_alphanumeric() || "._+-/".contains(character))
                {
                    Ok(trimmed.to_string())
                } else {
                    Err(InvalidValue::NotAModule)
                }
            }
            Check::Rpath => {
                if trimmed.is_empty() {
                    Err(InvalidValue::Empty)
                } else if trimmed.contains(':') {
                    Err(InvalidValue::SeveralDirectories)
                } else {
                    Ok(trimmed.to_string())
                }
            }
            Check::ArchiveUrl => {
                let schemes = ["https://", "http://", "file://"];
                if schemes.iter().any(|scheme| trimmed.starts_with(scheme))
                    && !trimmed.contains(char::is_whitespace)
                {
                    Ok(trimmed.to_string())
                } else {
                    Err(InvalidValue::NotAnArchiveUrl)
                }
            }
            Check::GitUrl => {
                let schemes = ["https://", "http://", "ssh://", "git://", "file://"];
                let scp_like = trimmed.split_once(':').is_some_and(|(host, path)| {
                    host.contains('@') && !host.contains('/') && !path.is_empty()
                });
                if (schemes.iter().any(|scheme| trimmed.starts_with(scheme)) || scp_like)
                    && !trimmed.contains(char::is_whitespace)
                {
                    Ok(trimmed.to_string())
                } else {
                    Err(InvalidValue::NotAGitUrl)
                }
            }
            Check::GitRev => check_git_rev(trimmed).map(|()| trimmed.to_string()),
        }
    }
}

/// A git `rev` must pin the sources: a full commit, or a tag (which we cannot tell from a
/// branch by its name, but can refuse the usual branch names and abbreviated commits).
pub(super) fn check_git_rev(rev: &str) -> Result<(), InvalidValue> {
    let is_hex = !rev.is_empty() && rev.chars().all(|character| character.is_ascii_hexdigit());
    if is_hex && rev.len() == 40 {
        return Ok(());
    }
    if is_hex && (7..40).contains(&rev.len()) && rev.chars().any(|character| character.is_ascii_alphabetic())
    {
        return Err(InvalidValue::AbbreviatedCommit(rev.to_string()));
    }
    let branches = ["HEAD", "main", "master", "develop", "development", "trunk", "dev"];
    if branches.contains(&rev) || rev.starts_with("refs/heads/") || rev.starts_with("origin/") {
        return Err(InvalidValue::Branch(rev.to_string()));
    }
    let name = rev.strip_prefix("refs/tags/").unwrap_or(rev);
    let bad_character = name.chars().find(|character| {
        character.is_whitespace() || character.is_control() || "~^:?*[\\".contains(*character)
    });
    if name.is_empty()
        || bad_character.is_some()
        || name.starts_with(['-', '/', '.'])
        || name.ends_with(['/', '.'])
        || name.ends_with(".lock")
        || name.contains("..")
        || name.contains("@{")
        || name.contains("//")
    {
        return Err(InvalidValue::NotARev(rev.to_string()));
    }
    Ok(())
}
