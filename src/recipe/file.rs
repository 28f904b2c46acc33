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
    /// Parses and checks recipe text; `file` names it in errors, and its name must be the
    /// package's (after PEP 503 normalisation). Patch files are not looked at (see
    /// [`load_recipe_file`]); everything else that can be checked without a version is.
    pub fn parse(text: &str, file: &Path) -> Result<RecipeFile, RecipeError> {
        let reader = Reader { file };
        let mut raw = parse_yaml(text, file)?;

        // `when` and `extend` belong to `versions` entries only.
        let misplaced = [
            ("when", raw.when.as_ref().map(|when| when.referenced)),
            ("extend", raw.extend.as_ref().map(|extend| extend.referenced)),
        ];
        for (key, location) in misplaced {
            if let Some(location) = location {
                let text = Text::from_raw(Spanned::new(String::new(), location, location), key.to_string());
                return Err(reader
                    .invalid(
                        &text,
                        format!("`{key}` belongs in an entry of `versions`, not at the top level"),
                    )
                    .without_value());
            }
        }
        let package = raw
            .package
            .take()
            .map(|package| Text::from_raw(package, "package".to_string()))
            .ok_or_else(|| {
                reader.unplaced(
                    "package".to_string(),
                    "missing: every recipe names its PyPI package",
                )
            })?;
        let name = PackageName::from_str(package.value.trim())
            .map_err(|error| reader.invalid(&package, format!("not a valid package name: {error}")))?
            .to_string();
        let stem = file
            .file_stem()
            .and_then(|stem| stem.to_str())
            .unwrap_or_default();
        if normalize_name(stem) != name {
            return Err(reader.invalid(
                &package,
                format!("the file name `{stem}` does not match the package (rename the file to `{name}.{RECIPE_EXTENSION}`)"),
            ));
        }

        let entries = raw.versions.take().unwrap_or_default();
        let base = reader.settings(raw, "")?;
        let mut versions = Vec::new();
        for (index, mut entry) in entries.into_iter().enumerate() {
            let prefix = format!("versions[{index}]");
            for (key, present) in [
                ("package", entry.package.is_some()),
                ("versions", entry.versions.is_some()),
            ] {
                if present {
                    return Err(reader.unplaced(
                        join_key(&prefix, key),
                        format!("`{key}` is only allowed at the top level, not in a `versions` entry"),
                    ));
                }
            }
            let when = entry
                .when
                .take()
                .map(|when| Text::from_raw(when, join_key(&prefix, "when")))
                .ok_or_else(|| {
                    reader.unplaced(
                        join_key(&prefix, "when"),
                        "missing: each `versions` entry says which versions it is for (`when: \">=1.2,<2\"`)",
                    )
                })?;
            if when.value.trim().is_empty() {
                return Err(reader.invalid(&when, "empty; settings for every version go at the top level"));
            }
            let specifiers = VersionSpecifiers::from_str(when.value.trim()).map_err(|error| {
                reader.invalid(
                    &when,
                    format!("not a PEP 440 version specifier set: {}", first_line(&error)),
                )
            })?;
            let extend = match entry.extend.take() {
                None => None,
                Some(spanned) => {
                    let more = *spanned.value;
                    let extend_prefix = join_key(&prefix, "extend");
                    let at = Text::from_raw(
                        Spanned::new(String::new(), spanned.referenced, spanned.defined),
                        extend_prefix.clone(),
                    );
                    let not_lists = [
                        ("package", more.package.is_some()),
                        ("when", more.when.is_some()),
                        ("versions", more.versions.is_some()),
                        ("extend", more.extend.is_some()),
                        ("test", more.test.is_some()),
                        ("test_command", more.test_command.is_some()),
                        ("import_timeout", more.import_timeout.is_some()),
                        ("test_gpus", more.test_gpus.is_some()),
                        ("resources", more.resources.is_some()),
                        ("environment", more.environment.is_some()),
                        ("build_command", more.build_command.is_some()),
                        ("source", more.source.is_some()),
                        ("sha256", more.sha256.is_some()),
                        ("package_suffix", more.package_suffix.is_some()),
                        ("arch_specific", more.arch_specific.is_some()),
                        ("adopt", more.adopt.is_some()),
                    ];
                    if let Some((key, _)) = not_lists.iter().find(|(_, present)| *present) {
                        return Err(reader
                            .invalid(
                                &at,
                                format!(
                                    "`extend` appends to lists; `{key}` is not a list (set it in the entry itself)"
                                ),
                            )
                            .without_value());
                    }
                    Some(reader.settings(more, &extend_prefix)?)
                }
            };
            let settings = reader.settings(entry, &prefix)?;
            versions.push(Override {
                when,
                specifiers,
                settings,
                extend,
            });
        }

        let directory = file.parent().unwrap_or(Path::new(""));
        let patches_directory = std::path::absolute(directory.join(PATCHES_DIRECTORY))
            .unwrap_or_else(|_| directory.join(PATCHES_DIRECTORY));
        let recipe = RecipeFile {
            file: file.to_path_buf(),
            package: package.value.trim().to_string(),
            name,
            patches_directory,
            base,
            versions,
        };
        recipe.check_templates()?;
        Ok(recipe)
    }

    /// Renders every template with stand-in values and checks the results: the top level
    /// alone, and the top level with each `versions` entry. Combinations of several entries
    /// are checked by [`RecipeFile::resolve`].
    pub(super) fn check_templates(&self) -> Result<(), RecipeError> {
        let sample = TemplateContext::sample();
        self.render(&self.base, &sample, PatchCheck::Skip)?;
        for entry in &self.versions {
            let mut merged = self.base.clone();
            merged.apply(&entry.settings);
            if let Some(extend) = &entry.extend {
                merged.extend(extend);
            }
            self.render(&merged, &sample, PatchCheck::Skip)?;
        }
        Ok(())
    }

    /// Checks that every patch named without a template exists (templated names are
    /// checked by [`RecipeFile::resolve`] once rendered).
    pub fn check_patch_files(&self) -> Result<(), RecipeError> {
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
                self.patch_path(patch, PatchCheck::Exists)?;
            }
        }
        Ok(())
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
    ) -> Result<ResolvedRecipe, RecipeError> {
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
    /// whose file tells the version).
    pub fn resolve_unversioned(&self, context: &TemplateContext) -> Result<ResolvedRecipe, RecipeError> {
        self.render(&self.base, context, PatchCheck::Exists)
    }

    pub(super) fn render(
        &self,
        settings: &Settings,
        context: &TemplateContext,
        patches: PatchCheck,
    ) -> Result<ResolvedRecipe, RecipeError> {
        let renderer = Renderer::new(self, context)?;
        let reader = Reader { file: &self.file };
        // A list item that is a template and renders to nothing is left out: that is how an
        // item is given for some layers, arches or Pythons only (`{% if layer == "gentoo2020"
        // %}gcc/9.3.0{% endif %}`). A literal empty item stays an error.
        let vanishes = |text: &Text| -> Result<bool, RecipeError> {
            Ok(text.is_template() && renderer.render(text)?.trim().is_empty())
        };
        let list = |texts: &Option<Vec<Text>>, check: Check| -> Result<Vec<String>, RecipeError> {
            let mut values = Vec::new();
            for text in texts.iter().flatten() {
                if !vanishes(text)? {
                    values.push(renderer.checked(text, check)?);
                }
            }
            Ok(values)
        };
        let optional = |text: &Option<Text>, check: Check| -> Result<Option<String>, RecipeError> {
            match text {
                None => Ok(None),
                Some(text) => {
                    let rendered = renderer.checked(text, check)?;
                    Ok(Some(rendered).filter(|value| !value.trim().is_empty()))
                }
            }
        };

        let mut patch_paths = Vec::new();
        for patch in settings.patches.iter().flatten() {
            if vanishes(patch)? {
                continue;
            }
            let name = renderer.render(patch)?;
            let rendered = Text {
                value: name,
                ..patch.clone()
            };
            patch_paths.push(self.patch_path(&rendered, patches)?);
        }

        let mut skip_python = Vec::new();
        for text in settings.skip_python.iter().flatten() {
            if vanishes(text)? {
                continue;
            }
            let rendered = renderer.render(text)?;
            let version = PythonVersion::from_str(rendered.trim()).map_err(|message| {
                reader.invalid(
                    &Text {
                        value: rendered.clone(),
                        ..text.clone()
                    },
                    message,
                )
            })?;
            if !skip_python.contains(&version) {
                skip_python.push(version);
            }
        }

        let mut environment = BTreeMap::new();
        for (name, value) in settings.environment.iter().flatten() {
            environment.insert(name.clone(), renderer.render(value)?);
        }

        let mut sha256 = optional(&settings.sha256, Check::Sha256)?;
        let source = match &settings.source {
            None | Some(SourceSetting::Pypi) => Source::Pypi,
            Some(SourceSetting::Url { url, sha256: pinned }) => {
                if let Some(pinned) = pinned {
                    if let Some(top) = &settings.sha256 {
                        return Err(reader.invalid(
                            top,
                            format!(
                                "the source already gives its sha256 (at `{}`); give it once",
                                pinned.key
                            ),
                        ));
                    }
                    sha256 = Some(renderer.checked(pinned, Check::Sha256)?);
                }
                Source::Url {
                    url: renderer.checked(url, Check::ArchiveUrl)?,
                }
            }
            Some(SourceSetting::Git { url, rev }) => {
                if let Some(top) = &settings.sha256 {
                    return Err(reader.invalid(
                        top,
                        "a git source is pinned by its `rev`; `sha256` is for archives",
                    ));
                }
                Source::Git {
                    url: renderer.checked(url, Check::GitUrl)?,
                    rev: renderer.checked(rev, Check::GitRev)?,
                }
            }
        };

        let package_suffix = optional(&settings.package_suffix, Check::Suffix)?;
        let mut skip_imports = Vec::new();
        for entry in settings.skip_imports.iter().flatten() {
            skip_imports.push(SkipImport {
                module: renderer.checked(&entry.module, Check::ImportName)?,
                reason: renderer.checked(&entry.reason, Check::Reason)?.trim().to_string(),
            });
        }
        // Check::Seconds has made sure that it parses.
        let import_timeout = optional(&settings.import_timeout, Check::Seconds)?
            .and_then(|seconds| seconds.parse::<u64>().ok());
        // Check::Gpus likewise.
        let test_gpus = optional(&settings.test_gpus, Check::Gpus)?
            .and_then(|gpus| gpus.parse::<u32>().ok())
            .unwrap_or(0);
        Ok(ResolvedRecipe {
            package: self.package.clone(),
            file: Some(self.file.clone()),
            import_names: list(&settings.import_names, Check::ImportName)?,
            skip_imports,
            import_timeout,
            test_gpus,
            test_snippet: optional(&settings.test, Check::Any)?,
            test_command: optional(&settings.test_command, Check::Any)?,
            build_dependencies: list(&settings.build_dependencies, Check::Requirement)?,
            test_dependencies: list(&settings.test_dependencies, Check::Requirement)?,
            modules: list(&settings.modules, Check::Module)?,
            build_modules: list(&settings.build_modules, Check::Module)?,
            environment,
            pre_download: list(&settings.pre_download, Check::Command)?,
            post_download: list(&settings.post_download, Check::Command)?,
            pre_build: list(&settings.pre_build, Check::Command)?,
            post_build: list(&settings.post_build, Check::Command)?,
            build_command: optional(&settings.build_command, Check::Any)?,
            build_args: list(&settings.build_args, Check::NotEmpty)?,
            patches: patch_paths,
            source,
            sha256,
            package_suffix,
            requirements: RequirementChanges {
                add: list(&settings.requirements.add, Check::Requirement)?,
                remove: list(&settings.requirements.remove, Check::RemoveRequirement)?,
                update: list(&settings.requirements.update, Check::UpdateRequirement)?,
            },
            resources: RecipeResources {
                cpus: optional(&settings.resources.cpus, Check::Cpus)?.and_then(|text| text.parse().ok()),
                memory_mb: optional(&settings.resources.memory, Check::Memory)?
                    .and_then(|text| text.parse().ok()),
                time_minutes: optional(&settings.resources.time, Check::Duration)?
                    .and_then(|text| text.parse().ok()),
            },
            rpath: list(&settings.rpath, Check::Rpath)?,
            skip_python,
            arch_specific: settings.arch_specific,
            adopt: match &settings.adopt {
                None => None,
                Some(adopt) => Some(AdoptSettings {
                    find_links: optional(&adopt.find_links, Check::NotEmpty)?,
                    url: optional(&adopt.url, Check::ArchiveUrl)?,
                    add_rpath: list(&adopt.add_rpath, Check::Rpath)?,
                    add_origin: adopt.add_origin.unwrap_or(false),
                    remove_rpath_prefix: list(&adopt.remove_rpath_prefix, Check::NotEmpty)?,
                }),
            },
        })
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
