//! Checking a raw layout and resolving it part by part into the settings of a [`Layout`]:
//! every check names the key at fault.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{
    Arch, Layer, LayoutError, ModuleRpath, Modules, ProvidedLibrary, Publish, PythonVersion, RawArch,
    RawLayer, RawModules, RawPublish, RawStripRule, StripRule, known_names,
};
use crate::spec::requirements::NameRule;

/// Checks one raw layout and resolves its parts: knows the file's name (for errors) and its
/// directory (for relative paths).
pub(super) struct Resolver<'a> {
    pub(super) source_name: &'a str,
    pub(super) base: &'a Path,
}

impl Resolver<'_> {
    /// The error for the key `key` whose value `value` is wrong because of `message`.
    fn invalid(&self, key: impl Into<String>, value: &str, message: impl Into<String>) -> LayoutError {
        LayoutError::Invalid {
            source_name: self.source_name.to_string(),
            key: key.into(),
            value: format!("{value:?}"),
            message: message.into(),
        }
    }

    /// `path` as written if absolute, else taken from the layout file's directory.
    fn path(&self, path: &str) -> PathBuf {
        if Path::new(path).is_absolute() {
            PathBuf::from(path)
        } else {
            self.base.join(path)
        }
    }

    /// The wheelhouse root: not empty, relative ones taken from the file's directory.
    pub(super) fn root(&self, root: &str) -> Result<PathBuf, LayoutError> {
        if root.trim().is_empty() {
            return Err(self.invalid("root", root, "the wheelhouse root may not be empty"));
        }
        Ok(self.path(root))
    }

    /// Checks that the local version label is one segment of ASCII letters and digits.
    pub(super) fn check_label(&self, label: &str) -> Result<(), LayoutError> {
        if label.is_empty() || !label.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(self.invalid(
                "local_version_label",
                label,
                "a local version label is one segment of letters and digits (e.g. computecanada)",
            ));
        }
        Ok(())
    }

    /// The Python versions, parsed, none listed twice.
    pub(super) fn python_versions(&self, texts: &[String]) -> Result<Vec<PythonVersion>, LayoutError> {
        let mut python_versions = Vec::new();
        for (index, text) in texts.iter().enumerate() {
            let key = format!("python_versions[{index}]");
            let version = text
                .parse()
                .map_err(|message: String| self.invalid(key.clone(), text, message))?;
            if python_versions.contains(&version) {
                return Err(self.invalid(key, text, "listed twice"));
            }
            python_versions.push(version);
        }
        Ok(python_versions)
    }

    /// The requirement-stripping rules, each pattern checked on its own, then compiled.
    pub(super) fn strip_rules(
        &self,
        raw: BTreeMap<String, RawStripRule>,
    ) -> Result<BTreeMap<String, StripRule>, LayoutError> {
        let mut strip_rules = BTreeMap::new();
        for (name, rule) in raw {
            let key = format!("strip_requirements.{name}");
            if rule.remove.is_empty() {
                return Err(self.invalid(
                    format!("{key}.remove"),
                    "[]",
                    "a rule must remove at least one pattern",
                ));
            }
            for (field, patterns) in [("remove", &rule.remove), ("keep", &rule.keep)] {
                for (index, pattern) in patterns.iter().enumerate() {
                    NameRule::new(&name, std::slice::from_ref(pattern), &[]).map_err(|error| {
                        self.invalid(format!("{key}.{field}[{index}]"), pattern, error.to_string())
                    })?;
                }
            }
            let compiled = NameRule::new(&name, &rule.remove, &rule.keep)
                .map_err(|error| self.invalid(key.clone(), &name, error.to_string()))?;
            strip_rules.insert(
                name,
                StripRule {
                    description: rule.description,
                    remove: rule.remove,
                    keep: rule.keep,
                    rule: compiled,
                },
            );
        }
        Ok(strip_rules)
    }

    /// The archs: a level from 1 to 4, one `-march` value, cflags defaulting to `-march=`.
    pub(super) fn archs(
        &self,
        raw: BTreeMap<String, RawArch>,
    ) -> Result<BTreeMap<String, Arch>, LayoutError> {
        let mut archs = BTreeMap::new();
        for (name, arch) in raw {
            let key = format!("archs.{name}");
            if !(1..=4).contains(&arch.level) {
                return Err(self.invalid(
                    format!("{key}.level"),
                    &arch.level.to_string(),
                    "the x86-64 level is 1, 2, 3 or 4",
                ));
            }
            if arch.march.trim().is_empty() || arch.march.contains(char::is_whitespace) {
                return Err(self.invalid(
                    format!("{key}.march"),
                    &arch.march,
                    "one -march value, e.g. x86-64-v3",
                ));
            }
            let cflags = arch.cflags.unwrap_or_else(|| format!("-march={}", arch.march));
            archs.insert(
                name.clone(),
                Arch {
                    name,
                    description: arch.description,
                    level: arch.level,
                    march: arch.march,
                    cflags,
                    features: arch.features,
                    slurm_constraint: arch.slurm_constraint,
                },
            );
        }
        Ok(archs)
    }

    /// The layers, each checked against the archs already resolved.
    pub(super) fn layers(
        &self,
        raw: BTreeMap<String, RawLayer>,
        archs: &BTreeMap<String, Arch>,
    ) -> Result<BTreeMap<String, Layer>, LayoutError> {
        let mut layers = BTreeMap::new();
        for (name, layer) in raw {
            let layer = self.layer(name, layer, archs)?;
            layers.insert(layer.name.clone(), layer);
        }
        Ok(layers)
    }

    /// One layer: not called `generic`, its glibc and glibcxx versions parsed, its lists checked.
    fn layer(
        &self,
        name: String,
        layer: RawLayer,
        archs: &BTreeMap<String, Arch>,
    ) -> Result<Layer, LayoutError> {
        let key = format!("layers.{name}");
        if name == "generic" {
            return Err(self.invalid(
                key,
                &name,
                "`generic` is the top-level directory of pure wheels, not a layer",
            ));
        }
        let glibc = layer
            .glibc
            .parse()
            .map_err(|message: String| self.invalid(format!("{key}.glibc"), &layer.glibc, message))?;
        let glibcxx = layer
            .glibcxx
            .as_deref()
            .map(|text| {
                text.parse()
                    .map_err(|message: String| self.invalid(format!("{key}.glibcxx"), text, message))
            })
            .transpose()?;
        self.check_layer_lists(&key, &layer, archs)?;
        Ok(Layer {
            name,
            description: layer.description,
            glibc,
            glibcxx,
            archs: layer.archs,
            library_dirs: layer.library_dirs.iter().map(PathBuf::from).collect(),
            rpath_prefixes: layer.rpath_prefixes,
            not_arch_rpath: layer.not_arch_rpath,
            deprecated: layer.deprecated,
            slurm_partition: layer.slurm_partition,
            slurm_gpu_partition: layer.slurm_gpu_partition,
            environment: layer.environment,
            arch_environment: layer.arch_environment,
        })
    }

    /// Checks a layer's lists: at least one arch, each defined; absolute library
    /// directories; no empty RPATH prefix.
    fn check_layer_lists(
        &self,
        key: &str,
        layer: &RawLayer,
        archs: &BTreeMap<String, Arch>,
    ) -> Result<(), LayoutError> {
        if layer.archs.is_empty() {
            return Err(self.invalid(format!("{key}.archs"), "[]", "a layer needs at least one arch"));
        }
        for (index, arch) in layer.archs.iter().enumerate() {
            if !archs.contains_key(arch) {
                return Err(self.invalid(
                    format!("{key}.archs[{index}]"),
                    arch,
                    format!("no such arch (the layout defines: {})", known_names(archs)),
                ));
            }
        }
        for (index, directory) in layer.library_dirs.iter().enumerate() {
            if !Path::new(directory).is_absolute() {
                return Err(self.invalid(
                    format!("{key}.library_dirs[{index}]"),
                    directory,
                    "library directories are absolute paths",
                ));
            }
        }
        for (index, prefix) in layer.rpath_prefixes.iter().enumerate() {
            if prefix.trim().is_empty() {
                return Err(self.invalid(
                    format!("{key}.rpath_prefixes[{index}]"),
                    prefix,
                    "an RPATH prefix may not be empty",
                ));
            }
        }
        self.check_lines(&format!("{key}.environment"), &layer.environment)?;
        for (arch, lines) in &layer.arch_environment {
            let arch_key = format!("{key}.arch_environment.{arch}");
            if !layer.archs.contains(arch) {
                return Err(self.invalid(
                    arch_key,
                    arch,
                    format!("the layer has no such arch (it has: {})", layer.archs.join(", ")),
                ));
            }
            self.check_lines(&arch_key, lines)?;
        }
        Ok(())
    }

    /// Checks the shell lines of an environment: none blank, none spanning lines (each is
    /// run and judged on its own; a multi-line construct would be cut in pieces).
    fn check_lines(&self, key: &str, lines: &[String]) -> Result<(), LayoutError> {
        for (index, line) in lines.iter().enumerate() {
            if line.trim().is_empty() {
                return Err(self.invalid(
                    format!("{key}[{index}]"),
                    line,
                    "an environment line may not be blank",
                ));
            }
            if line.contains(['\n', '\r', '\0']) {
                return Err(self.invalid(
                    format!("{key}[{index}]"),
                    line,
                    "one shell command per line (each line is run and checked on its own)",
                ));
            }
        }
        Ok(())
    }

    /// The modules system: Lmod (the only one supported), its init file and extra module
    /// directories absolute, the RPATH rule one of `none`, `stack`, `all`.
    pub(super) fn modules(&self, raw: RawModules) -> Result<Modules, LayoutError> {
        if raw.system != "lmod" {
            return Err(self.invalid(
                "modules.system",
                &raw.system,
                "the supported modules system is \"lmod\"",
            ));
        }
        let init = raw.init.as_deref().map(|init| self.path(init));
        let mut modulepath = Vec::new();
        for (index, directory) in raw.modulepath.iter().enumerate() {
            if directory.trim().is_empty() {
                return Err(self.invalid(
                    format!("modules.modulepath[{index}]"),
                    directory,
                    "a module directory may not be empty",
                ));
            }
            modulepath.push(self.path(directory));
        }
        let rpath = match raw.rpath.as_deref() {
            None | Some("none") => ModuleRpath::None,
            Some("stack") => ModuleRpath::Stack,
            Some("all") => ModuleRpath::All,
            Some(other) => {
                return Err(self.invalid(
                    "modules.rpath",
                    other,
                    "one of \"none\", \"stack\" (library directories under the layer's rpath_prefixes), \"all\"",
                ));
            }
        };
        Ok(Modules {
            init,
            modulepath,
            rpath,
        })
    }

    /// Checks that the default layer, when one is named, exists and is not deprecated.
    pub(super) fn check_default_layer(
        &self,
        default: Option<&str>,
        layers: &BTreeMap<String, Layer>,
    ) -> Result<(), LayoutError> {
        let Some(default) = default else {
            return Ok(());
        };
        match layers.get(default) {
            None => Err(self.invalid(
                "default_layer",
                default,
                format!("no such layer (the layout defines: {})", known_names(layers)),
            )),
            Some(layer) if layer.deprecated => Err(self.invalid(
                "default_layer",
                default,
                "a deprecated layer cannot be the default",
            )),
            Some(_) => Ok(()),
        }
    }

    /// The library name patterns other wheels provide, compiled as globs.
    pub(super) fn provided_by_wheels(
        &self,
        raw: BTreeMap<String, Vec<String>>,
    ) -> Result<Vec<ProvidedLibrary>, LayoutError> {
        let mut provided_by_wheels = Vec::new();
        for (wheel, patterns) in raw {
            for (index, pattern) in patterns.iter().enumerate() {
                let matcher = globset::Glob::new(pattern)
                    .map_err(|error| {
                        self.invalid(
                            format!("provided_by_wheels.{wheel}[{index}]"),
                            pattern,
                            error.kind().to_string(),
                        )
                    })?
                    .compile_matcher();
                provided_by_wheels.push(ProvidedLibrary {
                    wheel: wheel.clone(),
                    pattern: pattern.clone(),
                    matcher,
                });
            }
        }
        Ok(provided_by_wheels)
    }

    /// The octal mode `publish.<key>`, or `default` when it is not given.
    fn mode(&self, key: &str, value: Option<&str>, default: u32) -> Result<u32, LayoutError> {
        match value {
            None => Ok(default),
            Some(text) => u32::from_str_radix(text.trim_start_matches("0o"), 8)
                .ok()
                .filter(|mode| *mode <= 0o7777)
                .ok_or_else(|| {
                    self.invalid(
                        format!("publish.{key}"),
                        text,
                        "an octal file mode such as \"0664\"",
                    )
                }),
        }
    }

    /// The publish settings: modes (placed wheels stay owner-writable), the writers' lock
    /// (by default in `root`), and the hooks (blank ones dropped).
    pub(super) fn publish(&self, raw: RawPublish, root: &Path) -> Result<Publish, LayoutError> {
        let file_mode = self.mode("file_mode", raw.file_mode.as_deref(), 0o664)?;
        let dir_mode = self.mode("dir_mode", raw.dir_mode.as_deref(), 0o2775)?;
        if file_mode & 0o600 != 0o600 {
            return Err(self.invalid(
                "publish.file_mode",
                raw.file_mode.as_deref().unwrap_or_default(),
                "placed wheels must stay readable and writable by their owner",
            ));
        }
        let hook = |text: Option<String>| text.filter(|command| !command.trim().is_empty());
        Ok(Publish {
            file_mode,
            dir_mode,
            lock_file: match &raw.lock_file {
                Some(path) => self.path(path),
                None => root.join(".wheelwright.lock"),
            },
            before: hook(raw.before),
            after: hook(raw.after),
        })
    }

    /// The site's recipes directory, when named: not empty, relative to the file's directory.
    pub(super) fn recipes(&self, recipes: Option<&str>) -> Result<Option<PathBuf>, LayoutError> {
        match recipes.map(str::trim) {
            Some("") => Err(self.invalid("recipes", "", "the recipes directory may not be empty")),
            Some(path) => Ok(Some(self.path(path))),
            None => Ok(None),
        }
    }
}
