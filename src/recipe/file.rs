//! One recipe file: parsed, checked, and resolved for a version (overrides merged, templates
//! rendered) into a [`ResolvedRecipe`](super::ResolvedRecipe).

use super::*;

/// A checked recipe file: resolve it for a version with [`RecipeFile::resolve`].
///
/// It serialises (for `wheelwright recipe show` without `--version`) as the recipe as read:
/// templates unrendered, overrides listed.
#[derive(Debug, Clone, Serialize)]
pub struct RecipeFile {
    /// The file the recipe was read from.
    pub file: PathBuf,
    /// The PyPI name as the recipe gives it.
    pub package: String,
    /// The PEP 503 normalised name (`pyyaml`), which the file name normalises to as well.
    pub name: String,
    /// Where patch names are looked up: `patches/` next to the recipe file, made absolute.
    #[serde(skip)]
    pub patches_directory: PathBuf,
    #[serde(flatten)]
    pub(super) base: Settings,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) versions: Vec<Override>,
}

impl RecipeFile {
    /// Every module name the recipe loads for some version (`modules`, `build_modules`, in
    /// the file and in its `versions` entries), as written (templates unrendered): what a
    /// site check needs to know without a version.
    pub fn module_names(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        let settings = std::iter::once(&self.base).chain(
            self.versions
                .iter()
                .flat_map(|entry| std::iter::once(&entry.settings).chain(entry.extend.as_ref())),
        );
        for settings in settings {
            for list in [&settings.modules, &settings.build_modules].into_iter().flatten() {
                for text in list {
                    if !names.contains(&text.value) {
                        names.push(text.value.clone());
                    }
                }
            }
        }
        names
    }

    /// The recipe with the index's sdist as its source for every version (`source: pypi`),
    /// everything else as written: what a nightly with `sdist_fallback` builds when the
    /// recipe's own source cannot be reached.
    pub fn with_index_source(&self) -> RecipeFile {
        let mut recipe = self.clone();
        recipe.base.source = Some(super::check::SourceSetting::Pypi);
        for entry in &mut recipe.versions {
            entry.settings.source = None;
            if let Some(extend) = &mut entry.extend {
                extend.source = None;
            }
        }
        recipe
    }

    /// The modules (`modules`, `build_modules`) the recipe loads for a version without a
    /// `versions` entry, when none of them is a template: what a planner can enter ahead.
    pub fn plain_modules(&self) -> Option<(Vec<String>, Vec<String>)> {
        let plain = |list: &Option<Vec<super::check::Text>>| -> Option<Vec<String>> {
            list.iter()
                .flatten()
                .map(|text| {
                    (!text.value.contains("{{") && !text.value.contains("{%")).then(|| text.value.clone())
                })
                .collect()
        };
        Some((plain(&self.base.modules)?, plain(&self.base.build_modules)?))
    }

    /// Parses and checks recipe text; `file` names it in errors, and its name must be the
    /// package's (after PEP 503 normalisation). Patch files are not looked at (see
    /// [`load_recipe_file`]); everything else that can be checked without a version is, and
    /// every error found is reported, in line order.
    pub fn parse(text: &str, file: &Path) -> Result<RecipeFile, RecipeErrors> {
        let errors = Collected::default();
        let recipe = Self::read(text, file, &errors);
        errors.finish(recipe, file)
    }

    /// Parses and checks recipe text, collecting every error and going on past each as far as
    /// it can; None when the text is not a recipe at all. With errors collected, the recipe
    /// returned is for further checks only (wrong values left out, stand-ins for a missing
    /// package or a bad `when`).
    pub(super) fn read(text: &str, file: &Path, errors: &Collected) -> Option<RecipeFile> {
        let reader = Reader { file };
        let mut raw = read_recipe(text, file, errors)?;
        let stem = file
            .file_stem()
            .and_then(|stem| stem.to_str())
            .unwrap_or_default();
        let package = raw
            .package
            .take()
            .map(|package| Text::from_raw(package, "package".to_string()));
        let name = match &package {
            None => {
                errors.push(reader.unplaced(
                    "package".to_string(),
                    "missing: every recipe names its PyPI package",
                ));
                None
            }
            Some(package) => match PackageName::from_str(package.value.trim()) {
                Err(error) => {
                    errors.push(reader.invalid(package, format!("not a valid package name: {error}")));
                    None
                }
                Ok(name) => {
                    let name = name.to_string();
                    if normalize_name(stem) != name {
                        errors.push(reader.invalid(
                            package,
                            format!("the file name `{stem}` does not match the package (rename the file to `{name}.{RECIPE_EXTENSION}`)"),
                        ));
                    }
                    Some(name)
                }
            },
        };

        let entries = raw.versions.take().unwrap_or_default();
        let base = reader.settings(raw, "", errors);
        let mut versions = Vec::new();
        for (index, entry) in entries.into_iter().enumerate() {
            let prefix = format!("versions[{index}]");
            let Located {
                value: mut entry,
                position,
            } = entry;
            let when = entry
                .when
                .take()
                .map(|when| Text::from_raw(when, join_key(&prefix, "when")));
            let specifiers = match &when {
                None => {
                    errors.push(
                        reader
                            .unplaced(
                                join_key(&prefix, "when"),
                                "missing: each `versions` entry says which versions it is for (`when: \">=1.2,<2\"`)",
                            )
                            .at(&Text::place(prefix.clone(), position)),
                    );
                    None
                }
                Some(when) if when.value.trim().is_empty() => {
                    errors
                        .push(reader.invalid(when, "empty; settings for every version go at the top level"));
                    None
                }
                Some(when) => errors.ok(VersionSpecifiers::from_str(when.value.trim()).map_err(|error| {
                    reader.invalid(
                        when,
                        format!("not a PEP 440 version specifier set: {}", first_line(&error)),
                    )
                })),
            };
            let extend = entry
                .extend
                .take()
                .map(|more| reader.settings(*more.value, &join_key(&prefix, "extend"), errors));
            let settings = reader.settings(entry, &prefix, errors);
            // An entry with a bad `when` is still checked (with an empty specifier set, as a
            // stand-in: the recipe is not returned with errors).
            versions.push(Override {
                when: when.unwrap_or_else(|| Text::place(join_key(&prefix, "when"), position)),
                specifiers: specifiers.unwrap_or_else(VersionSpecifiers::empty),
                settings,
                extend,
            });
        }

        let directory = file.parent().unwrap_or(Path::new(""));
        let patches_directory = std::path::absolute(directory.join(PATCHES_DIRECTORY))
            .unwrap_or_else(|_| directory.join(PATCHES_DIRECTORY));
        let recipe = RecipeFile {
            file: file.to_path_buf(),
            package: package
                .map(|package| package.value.trim().to_string())
                .unwrap_or_else(|| stem.to_string()),
            name: name.unwrap_or_else(|| normalize_name(stem)),
            patches_directory,
            base,
            versions,
        };
        recipe.check_templates(errors);
        Some(recipe)
    }

    /// Renders every template with stand-in values and checks the results: the top level
    /// alone, and the top level with each `versions` entry. Combinations of several entries
    /// are checked by [`RecipeFile::resolve`].
    pub(super) fn check_templates(&self, errors: &Collected) {
        let sample = TemplateContext::sample();
        errors.all(self.render(&self.base, &sample, PatchCheck::Skip));
        for entry in &self.versions {
            let mut merged = self.base.clone();
            merged.apply(&entry.settings);
            if let Some(extend) = &entry.extend {
                merged.extend(extend);
            }
            errors.all(self.render(&merged, &sample, PatchCheck::Skip));
        }
    }

    /// Checks that every patch named without a template exists (templated names are
    /// checked by [`RecipeFile::resolve`] once rendered); every missing one is an error.
    pub fn check_patch_files(&self) -> Result<(), RecipeErrors> {
        let errors = Collected::default();
        self.collect_patch_errors(&errors);
        errors.finish(Some(()), &self.file)
    }

    pub(super) fn collect_patch_errors(&self, errors: &Collected) {
        let levels = std::iter::once(&self.base).chain(
            self.versions
                .iter()
                .flat_map(|entry| std::iter::once(&entry.settings).chain(entry.extend.as_ref())),
        );
        for settings in levels {
            for patch in settings
                .patches
                .iter()
                .flatten()
                .filter(|patch| !patch.is_template())
            {
                errors.ok(self.patch_path(patch, PatchCheck::Exists));
            }
        }
    }

    /// The `versions` entries (their `when`) that apply to `version`, as indices.
    pub fn matching_versions(&self, version: &Version) -> Vec<usize> {
        self.versions
            .iter()
            .enumerate()
            .filter(|(_, entry)| entry.specifiers.contains(version))
            .map(|(index, _)| index)
            .collect()
    }

    /// The `when` specifier sets of the `versions` entries, in file order.
    pub fn version_specifiers(&self) -> Vec<&VersionSpecifiers> {
        self.versions.iter().map(|entry| &entry.specifiers).collect()
    }

    /// The recipe for `version`: every `versions` entry whose `when` contains it is applied
    /// in file order, then every template is rendered with `context` (whose empty `version`
    /// is filled from `version`) and every value checked, including that patch files exist.
    pub fn resolve(
        &self,
        version: &Version,
        context: &TemplateContext,
    ) -> Result<ResolvedRecipe, RecipeErrors> {
        let mut settings = self.base.clone();
        for entry in &self.versions {
            if entry.specifiers.contains(version) {
                settings.apply(&entry.settings);
                if let Some(extend) = &entry.extend {
                    settings.extend(extend);
                }
            }
        }
        let mut context = context.clone();
        if context.version.is_empty() {
            context.version = version.to_string();
        }
        self.render(&settings, &context, PatchCheck::Exists)
    }

    /// The recipe as it stands for every version (no `versions` entry applied), rendered with
    /// `context`: what a build uses before its version is known (a source at a URL or in git,
    /// whose file tells the version). A git `rev` or an archive URL templated on the version
    /// is left empty here: the version is chosen first ([`RecipeFile::versioned_source`]),
    /// then the recipe is resolved for it.
    pub fn resolve_unversioned(&self, context: &TemplateContext) -> Result<ResolvedRecipe, RecipeErrors> {
        self.render(&self.base, context, PatchCheck::Exists)
    }

    /// Whether a `versions` entry gives a source of its own.
    pub fn overrides_source(&self) -> bool {
        self.versions.iter().any(|entry| entry.settings.source.is_some())
    }

    /// The source the recipe gives for `version` (`None`: at its top level, for every version
    /// not overridden) when it is at a URL or in git and its URL or `rev` names the version:
    /// then it cannot be fetched before a version is chosen.
    pub fn versioned_source(&self, version: Option<&Version>) -> Option<VersionedSource> {
        let source = match version {
            None => self.base.source.as_ref(),
            Some(version) => self
                .versions
                .iter()
                .rev()
                .filter(|entry| entry.specifiers.contains(version))
                .find_map(|entry| entry.settings.source.as_ref())
                .or(self.base.source.as_ref()),
        };
        match source? {
            SourceSetting::Pypi => None,
            SourceSetting::Url { url, .. } => {
                let template = VersionTemplate::new(url.value.clone());
                template
                    .names_version()
                    .then_some(VersionedSource::Url { url: template })
            }
            SourceSetting::Git { rev, .. } => {
                let template = VersionTemplate::new(rev.value.clone());
                template
                    .names_version()
                    .then_some(VersionedSource::Git { rev: template })
            }
        }
    }

    /// Renders and checks every value of `settings`, collecting every error.
    pub(super) fn render(
        &self,
        settings: &Settings,
        context: &TemplateContext,
        patches: PatchCheck,
    ) -> Result<ResolvedRecipe, RecipeErrors> {
        let renderer = Renderer::new(self, context)?;
        let reader = Reader { file: &self.file };
        let errors = Collected::default();
        // A list item that is a template and renders to nothing is left out: that is how an
        // item is given for some layers, arches or Pythons only (`{% if layer == "gentoo2020"
        // %}gcc/9.3.0{% endif %}`). A literal empty item stays an error. None: left out, or
        // wrong (the error collected).
        let rendered_item = |text: &Text| -> Option<Text> {
            let rendered = errors.ok(renderer.render(text))?;
            if text.is_template() && rendered.trim().is_empty() {
                return None;
            }
            Some(Text {
                value: rendered,
                ..text.clone()
            })
        };
        let list = |texts: &Option<Vec<Text>>, check: Check| -> Vec<String> {
            texts
                .iter()
                .flatten()
                .filter_map(|text| errors.ok(renderer.check(&rendered_item(text)?, check)))
                .collect()
        };
        let optional = |text: &Option<Text>, check: Check| -> Option<String> {
            errors
                .ok(renderer.checked(text.as_ref()?, check))
                .filter(|value| !value.trim().is_empty())
        };
        let required = |text: &Text, check: Check| -> String {
            errors.ok(renderer.checked(text, check)).unwrap_or_default()
        };

        let patch_paths = settings
            .patches
            .iter()
            .flatten()
            .filter_map(|patch| errors.ok(self.patch_path(&rendered_item(patch)?, patches)))
            .collect();

        let mut skip_python = Vec::new();
        for text in settings.skip_python.iter().flatten() {
            let Some(rendered) = rendered_item(text) else {
                continue;
            };
            let version = errors.ok(PythonVersion::from_str(rendered.value.trim())
                .map_err(|message| reader.invalid(&rendered, message)));
            if let Some(version) = version
                && !skip_python.contains(&version)
            {
                skip_python.push(version);
            }
        }

        let mut environment = BTreeMap::new();
        for (name, value) in settings.environment.iter().flatten() {
            if let Some(rendered) = errors.ok(renderer.render(value)) {
                environment.insert(name.clone(), rendered);
            }
        }

        let mut sha256 = optional(&settings.sha256, Check::Sha256);
        let source = match &settings.source {
            None | Some(SourceSetting::Pypi) => Source::Pypi,
            Some(SourceSetting::Url { url, sha256: pinned }) => {
                if let Some(pinned) = pinned {
                    if let Some(top) = &settings.sha256 {
                        errors.push(reader.invalid(
                            top,
                            format!(
                                "the source already gives its sha256 (at `{}`); give it once",
                                pinned.key
                            ),
                        ));
                    }
                    sha256 = errors.ok(renderer.checked(pinned, Check::Sha256));
                }
                Source::Url {
                    // Like a git `rev`: a URL templated on the version stays empty until the
                    // version is known.
                    url: if context.version.is_empty()
                        && VersionTemplate::new(url.value.clone()).names_version()
                    {
                        String::new()
                    } else {
                        required(url, Check::ArchiveUrl)
                    },
                }
            }
            Some(SourceSetting::Git { url, rev }) => {
                if let Some(top) = &settings.sha256 {
                    errors.push(reader.invalid(
                        top,
                        "a git source is pinned by its `rev`; `sha256` is for archives",
                    ));
                }
                Source::Git {
                    url: required(url, Check::GitUrl),
                    // A rev templated on the version stays empty until the version is known
                    // (rendered now, `v{{ version }}` would give the tag `v`); fetching a git
                    // source with an empty rev is refused.
                    rev: if context.version.is_empty()
                        && VersionTemplate::new(rev.value.clone()).names_version()
                    {
                        String::new()
                    } else {
                        required(rev, Check::GitRev)
                    },
                }
            }
        };

        let package_suffix = optional(&settings.package_suffix, Check::Suffix);
        let skip_imports = settings
            .skip_imports
            .iter()
            .flatten()
            .map(|entry| SkipImport {
                module: required(&entry.module, Check::ImportName),
                reason: required(&entry.reason, Check::Reason).trim().to_string(),
            })
            .collect();
        // Check::Seconds has made sure that it parses.
        let import_timeout = optional(&settings.import_timeout, Check::Seconds)
            .and_then(|seconds| seconds.parse::<u64>().ok());
        // Check::Gpus likewise.
        let test_gpus = optional(&settings.test_gpus, Check::Gpus)
            .and_then(|gpus| gpus.parse::<u32>().ok())
            .unwrap_or(0);
        let resolved = ResolvedRecipe {
            package: self.package.clone(),
            file: Some(self.file.clone()),
            import_names: list(&settings.import_names, Check::ImportName),
            skip_imports,
            import_timeout,
            test_gpus,
            test_snippet: optional(&settings.test, Check::Any),
            test_command: optional(&settings.test_command, Check::Any),
            build_dependencies: list(&settings.build_dependencies, Check::Requirement),
            test_dependencies: list(&settings.test_dependencies, Check::Requirement),
            modules: list(&settings.modules, Check::Module),
            build_modules: list(&settings.build_modules, Check::Module),
            environment,
            pre_download: list(&settings.pre_download, Check::Command),
            post_download: list(&settings.post_download, Check::Command),
            pre_build: list(&settings.pre_build, Check::Command),
            post_build: list(&settings.post_build, Check::Command),
            build_command: optional(&settings.build_command, Check::Any),
            build_args: list(&settings.build_args, Check::NotEmpty),
            patches: patch_paths,
            source,
            sha256,
            package_suffix,
            requirements: RequirementChanges {
                add: list(&settings.requirements.add, Check::Requirement),
                remove: list(&settings.requirements.remove, Check::RemoveRequirement),
                update: list(&settings.requirements.update, Check::UpdateRequirement),
            },
            resources: RecipeResources {
                cpus: optional(&settings.resources.cpus, Check::Cpus).and_then(|text| text.parse().ok()),
                memory_mb: optional(&settings.resources.memory, Check::Memory)
                    .and_then(|text| text.parse().ok()),
                time_minutes: optional(&settings.resources.time, Check::Duration)
                    .and_then(|text| text.parse().ok()),
            },
            rpath: list(&settings.rpath, Check::Rpath),
            skip_python,
            arch_specific: settings.arch_specific,
            adopt: settings.adopt.as_ref().map(|adopt| AdoptSettings {
                find_links: optional(&adopt.find_links, Check::NotEmpty),
                url: optional(&adopt.url, Check::ArchiveUrl),
                add_rpath: list(&adopt.add_rpath, Check::Rpath),
                add_origin: adopt.add_origin.unwrap_or(false),
                remove_rpath_prefix: list(&adopt.remove_rpath_prefix, Check::NotEmpty),
            }),
        };
        errors.finish(Some(resolved), &self.file)
    }

    /// The path of a (rendered) patch name, checked to stay under the patches directory and,
    /// with [`PatchCheck::Exists`], to be a file.
    pub(super) fn patch_path(&self, patch: &Text, check: PatchCheck) -> Result<PathBuf, RecipeError> {
        let reader = Reader { file: &self.file };
        let name = patch.value.trim();
        let relative = Path::new(name);
        let escapes = relative.components().any(|component| {
            !matches!(
                component,
                std::path::Component::Normal(_) | std::path::Component::CurDir
            )
        });
        if name.is_empty() || escapes {
            return Err(reader.invalid(
                patch,
                format!("a patch is a file name under {PATCHES_DIRECTORY}/ (no absolute paths, no `..`)"),
            ));
        }
        let path = self.patches_directory.join(relative);
        if check == PatchCheck::Exists && !path.is_file() {
            return Err(reader.invalid(patch, format!("no such patch file: {}", path.display())));
        }
        Ok(path)
    }
}
