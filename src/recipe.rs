//! Recipes (`recipes/<name>.yaml`): how to build one package, parsed raw (serde-saphyr),
//! templated (tera), and resolved per version into [`ResolvedRecipe`].
//!
//! The flow follows the house rule "raw, then resolved": `RawRecipe` mirrors the YAML as
//! written; [`RecipeFile`] is the checked form (every specifier, requirement, hash, Python
//! version, patch name and template validated, each value remembering its key path and
//! line); [`RecipeFile::resolve`] merges the per-version overrides that match a version and
//! renders the templates into a [`ResolvedRecipe`]. The format is documented in
//! `docs/recipes.md`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use pep440_rs::{Version, VersionSpecifiers};
use pep508_rs::PackageName;
use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

use crate::layout::PythonVersion;
use crate::spec::normalize_name;
use crate::spec::requirements::{RequirementEdit, RequirementError};

/// Where the sources come from.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Source {
    /// The sdist from the package index (PyPI, or `--index-url`), chosen from its simple
    /// project page; a pure wheel if that is all the version has.
    #[default]
    Pypi,
    /// An archive at a URL.
    Url { url: String },
    /// A git repository at a pinned ref.
    Git { url: String, rev: String },
}

/// Requirement changes to make to the built wheel (the `wheelwright manipulate` flags).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RequirementChanges {
    pub add: Vec<String>,
    pub remove: Vec<String>,
    /// `REQ` (same name) or `OLD->NEW`.
    pub update: Vec<String>,
}

/// A module the smoke test leaves alone (with its submodules): one that needs hardware or a
/// service the build machine lacks.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SkipImport {
    /// A dotted module name (`pkg.cuda_ext`).
    pub module: String,
    /// Why it is not imported (`needs a GPU`).
    pub reason: String,
}

impl SkipImport {
    /// Whether this exemption covers `module`: the module itself or one of its submodules.
    pub fn covers(&self, module: &str) -> bool {
        module
            .strip_prefix(self.module.as_str())
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
    }
}

/// The values recipe templates can use.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TemplateContext {
    /// The package version being built (`1.85`).
    pub version: String,
    /// The Python version (`3.12`).
    pub python: String,
    /// The arch name (`x86-64-v3`).
    pub arch: String,
    /// The arch's -march value (`x86-64-v3`).
    pub march: String,
    /// The arch's compiler flags (`-march=x86-64-v3`).
    pub cflags: String,
    /// The layer (`gentoo2023`).
    pub layer: String,
}

/// A recipe for one version, with every template rendered.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ResolvedRecipe {
    /// The PyPI name as the recipe gives it.
    pub package: String,
    /// The recipe file, or None for a package without one (PyPI defaults).
    pub file: Option<PathBuf>,
    /// Modules to import in the smoke test; empty means: discover from the wheel.
    pub import_names: Vec<String>,
    /// Modules the smoke test does not import (each with its submodules), and why.
    pub skip_imports: Vec<SkipImport>,
    /// The time limit, in seconds, of the smoke test's imports and `test` snippet; None: the
    /// default.
    pub import_timeout: Option<u64>,
    /// Python code run after the imports in the smoke test.
    pub test_snippet: Option<String>,
    /// A shell command run in the test environment instead of / after the snippet.
    pub test_command: Option<String>,
    /// Extra Python requirements installed into the build environment.
    pub build_dependencies: Vec<String>,
    /// Extra Python requirements installed into the test environment.
    pub test_dependencies: Vec<String>,
    /// Environment variables for download, build and test commands.
    pub environment: BTreeMap<String, String>,
    pub pre_download: Vec<String>,
    pub post_download: Vec<String>,
    pub pre_build: Vec<String>,
    pub post_build: Vec<String>,
    /// Replaces the default `pip wheel` build when set (run in the source directory).
    pub build_command: Option<String>,
    /// Extra arguments for `pip wheel` / `uv build`.
    pub build_args: Vec<String>,
    /// Patch files (absolute paths under recipes/patches/), applied with `patch -p1`.
    pub patches: Vec<PathBuf>,
    pub source: Source,
    /// The expected sha256 (hex) of the downloaded source, when pinned.
    pub sha256: Option<String>,
    /// Appended to the distribution name (`-cpu`, `_gpu`).
    pub package_suffix: Option<String>,
    pub requirements: RequirementChanges,
    /// RPATH entries to add to the wheel's ELF files.
    pub rpath: Vec<String>,
    /// Python versions not to build for.
    pub skip_python: Vec<PythonVersion>,
    /// Whether builds differ per arch: None = decide from the source (compiled or not).
    pub arch_specific: Option<bool>,
}

impl ResolvedRecipe {
    /// Whether the recipe says not to build for this Python version.
    pub fn skips_python(&self, python: &PythonVersion) -> bool {
        self.skip_python.contains(python)
    }
}

/// The directory, next to the recipe files, that holds the patch files recipes name.
pub const PATCHES_DIRECTORY: &str = "patches";

/// The largest `import_timeout` (a day): a longer one is a mistake, not a slow import.
pub const MAX_IMPORT_TIMEOUT: u64 = 86_400;

/// The extension of recipe files.
pub const RECIPE_EXTENSION: &str = "yaml";

/// The names recipe templates can use: the fields of [`TemplateContext`].
pub const TEMPLATE_VARIABLES: [&str; 6] = ["version", "python", "arch", "march", "cflags", "layer"];

impl TemplateContext {
    /// Stand-in values used to check templates when a recipe is loaded, before any version,
    /// Python or arch is known.
    pub fn sample() -> Self {
        TemplateContext {
            version: "1.0.0".to_string(),
            python: "3.12".to_string(),
            arch: "x86-64-v3".to_string(),
            march: "x86-64-v3".to_string(),
            cflags: "-march=x86-64-v3".to_string(),
            layer: "gentoo2023".to_string(),
        }
    }
}

/// A recipe that cannot be used, naming the file, the key path and, when known, the line and
/// column of the value at fault.
#[derive(Debug, thiserror::Error)]
pub enum RecipeError {
    /// A file or directory that cannot be read (the message names the path).
    #[error("{error}")]
    Read { path: PathBuf, error: std::io::Error },
    /// YAML that does not parse or does not fit the recipe schema (unknown key, wrong type).
    #[error("{}: {message}", Place::new(file, key.as_deref(), *position))]
    Syntax {
        file: PathBuf,
        key: Option<String>,
        position: Option<Position>,
        message: String,
    },
    /// A value that parses as YAML but is not acceptable.
    #[error(
        "{}{}: {message}",
        Place::new(file, Some(key), *position),
        value.as_ref().map(|value| format!(" = {value:?}")).unwrap_or_default()
    )]
    Invalid {
        file: PathBuf,
        key: String,
        position: Option<Position>,
        /// The value as written (or as rendered, for templated values).
        value: Option<String>,
        message: String,
    },
    /// A template that does not compile or does not render.
    #[error("{}: template error: {message}", Place::new(file, Some(key), *position))]
    Template {
        file: PathBuf,
        key: String,
        position: Option<Position>,
        message: String,
    },
    /// Two recipe files in one directory for the same (normalised) package name.
    #[error(
        "{}: a second recipe for the package `{name}` (the first is {})",
        file.display(),
        first.display()
    )]
    Duplicate {
        file: PathBuf,
        first: PathBuf,
        name: String,
    },
}

impl RecipeError {
    /// The recipe file (or directory) at fault.
    pub fn file(&self) -> &Path {
        match self {
            RecipeError::Read { path, .. } => path,
            RecipeError::Syntax { file, .. }
            | RecipeError::Invalid { file, .. }
            | RecipeError::Template { file, .. }
            | RecipeError::Duplicate { file, .. } => file,
        }
    }

    /// The key path at fault (`versions[1].requirements.add[0]`), when known.
    pub fn key(&self) -> Option<&str> {
        match self {
            RecipeError::Syntax { key, .. } => key.as_deref(),
            RecipeError::Invalid { key, .. } | RecipeError::Template { key, .. } => Some(key),
            RecipeError::Read { .. } | RecipeError::Duplicate { .. } => None,
        }
    }

    /// The line and column of the value at fault, when known.
    pub fn position(&self) -> Option<Position> {
        match self {
            RecipeError::Syntax { position, .. }
            | RecipeError::Invalid { position, .. }
            | RecipeError::Template { position, .. } => *position,
            RecipeError::Read { .. } | RecipeError::Duplicate { .. } => None,
        }
    }
}

/// A place in a recipe file: line and column, both counted from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Position {
    pub line: u32,
    pub column: u32,
}

impl Position {
    fn of(location: &serde_saphyr::Location) -> Option<Self> {
        let line = u32::try_from(location.line()).ok().filter(|line| *line > 0)?;
        let column = u32::try_from(location.column()).ok()?;
        Some(Position { line, column })
    }
}

/// `file:line:column: key `path`` — the start of every located message.
struct Place<'a> {
    file: &'a Path,
    key: Option<&'a str>,
    position: Option<Position>,
}

impl<'a> Place<'a> {
    fn new(file: &'a Path, key: Option<&'a str>, position: Option<Position>) -> Self {
        Place { file, key, position }
    }
}

impl fmt::Display for Place<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(Position { line, column }) = self.position {
            write!(f, ":{line}:{column}")?;
        }
        if let Some(key) = self.key.filter(|key| !key.is_empty()) {
            write!(f, ": key `{key}`")?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// Raw: the file as written.

type RawText = Spanned<String>;

/// A recipe file, and also one entry of its `versions` list: the two share their keys, and
/// [`RecipeFile::parse`] refuses the ones that belong to only one of them (`package` and
/// `versions` at the top, `when` and `extend` in entries).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRecipe {
    package: Option<RawText>,
    when: Option<RawText>,
    import_names: Option<Vec<RawText>>,
    skip_imports: Option<Vec<Spanned<RawSkipImport>>>,
    import_timeout: Option<RawText>,
    test: Option<RawText>,
    test_command: Option<RawText>,
    build_dependencies: Option<Vec<RawText>>,
    test_dependencies: Option<Vec<RawText>>,
    environment: Option<BTreeMap<String, RawText>>,
    pre_download: Option<Vec<RawText>>,
    post_download: Option<Vec<RawText>>,
    pre_build: Option<Vec<RawText>>,
    post_build: Option<Vec<RawText>>,
    build_command: Option<RawText>,
    build_args: Option<Vec<RawText>>,
    patches: Option<Vec<RawText>>,
    source: Option<Spanned<RawSource>>,
    sha256: Option<RawText>,
    package_suffix: Option<RawText>,
    requirements: Option<RawRequirements>,
    rpath: Option<Vec<RawText>>,
    skip_python: Option<Vec<RawText>>,
    arch_specific: Option<bool>,
    extend: Option<Spanned<Box<RawRecipe>>>,
    versions: Option<Vec<RawRecipe>>,
}

/// One entry of `skip_imports`: both keys are required (checked with their positions).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSkipImport {
    module: Option<RawText>,
    reason: Option<RawText>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRequirements {
    add: Option<Vec<RawText>>,
    remove: Option<Vec<RawText>>,
    update: Option<Vec<RawText>>,
}

/// `source:` is either a word (`pypi`) or a map; a hand-written visitor (rather than an
/// untagged enum) keeps serde-saphyr's locations and its unknown-key messages for the map.
#[derive(Debug)]
enum RawSource {
    Word(String),
    Table(Box<RawSourceTable>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSourceTable {
    url: Option<RawText>,
    sha256: Option<RawText>,
    git: Option<RawText>,
    rev: Option<RawText>,
}

impl<'de> Deserialize<'de> for RawSource {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SourceVisitor;

        impl<'de> serde::de::Visitor<'de> for SourceVisitor {
            type Value = RawSource;

            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("`pypi`, a map {url, sha256} or a map {git, rev}")
            }

            fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<RawSource, E> {
                Ok(RawSource::Word(value.to_string()))
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<RawSource, A::Error> {
                RawSourceTable::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(|table| RawSource::Table(Box::new(table)))
            }
        }

        deserializer.deserialize_any(SourceVisitor)
    }
}

// ---------------------------------------------------------------------------------------
// Checked: every value with its key path and position.

/// A string from the recipe with the key path and position it came from, so that a value
/// that turns out wrong after merging and rendering is still reported where it was written.
#[derive(Debug, Clone)]
struct Text {
    value: String,
    key: String,
    position: Option<Position>,
}

impl Text {
    fn from_raw(raw: RawText, key: String) -> Self {
        Text {
            position: Position::of(&raw.referenced),
            value: raw.value,
            key,
        }
    }

    fn is_template(&self) -> bool {
        is_template(&self.value)
    }
}

impl Serialize for Text {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.value)
    }
}

fn is_template(text: &str) -> bool {
    text.contains("{{") || text.contains("{%") || text.contains("{#")
}

/// `source:` after checking its shape (values are checked after rendering).
#[derive(Debug, Clone)]
enum SourceSetting {
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
struct SkipImportSetting {
    module: Text,
    reason: Text,
}

#[derive(Debug, Clone, Default, Serialize)]
struct RequirementSettings {
    #[serde(skip_serializing_if = "Option::is_none")]
    add: Option<Vec<Text>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    remove: Option<Vec<Text>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    update: Option<Vec<Text>>,
}

impl RequirementSettings {
    fn is_empty(&self) -> bool {
        self.add.is_none() && self.remove.is_none() && self.update.is_none()
    }
}

/// The settings of the top level or of one `versions` entry; `None` = not given there.
#[derive(Debug, Clone, Default, Serialize)]
struct Settings {
    #[serde(skip_serializing_if = "Option::is_none")]
    import_names: Option<Vec<Text>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    skip_imports: Option<Vec<SkipImportSetting>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    import_timeout: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none")]
    test: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none")]
    test_command: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none")]
    build_dependencies: Option<Vec<Text>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    test_dependencies: Option<Vec<Text>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    environment: Option<BTreeMap<String, Text>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pre_download: Option<Vec<Text>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    post_download: Option<Vec<Text>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pre_build: Option<Vec<Text>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    post_build: Option<Vec<Text>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    build_command: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none")]
    build_args: Option<Vec<Text>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    patches: Option<Vec<Text>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<SourceSetting>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sha256: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none")]
    package_suffix: Option<Text>,
    #[serde(skip_serializing_if = "RequirementSettings::is_empty")]
    requirements: RequirementSettings,
    #[serde(skip_serializing_if = "Option::is_none")]
    rpath: Option<Vec<Text>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    skip_python: Option<Vec<Text>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    arch_specific: Option<bool>,
}

impl Settings {
    /// Applies a later `versions` entry: scalars and lists it gives replace ours,
    /// `environment` merges variable by variable, `requirements` merges list by list.
    fn apply(&mut self, later: &Settings) {
        fn replace<T: Clone>(mine: &mut Option<T>, theirs: &Option<T>) {
            if let Some(value) = theirs {
                *mine = Some(value.clone());
            }
        }
        replace(&mut self.import_names, &later.import_names);
        replace(&mut self.skip_imports, &later.skip_imports);
        replace(&mut self.import_timeout, &later.import_timeout);
        replace(&mut self.test, &later.test);
        replace(&mut self.test_command, &later.test_command);
        replace(&mut self.build_dependencies, &later.build_dependencies);
        replace(&mut self.test_dependencies, &later.test_dependencies);
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
        replace(&mut self.rpath, &later.rpath);
        replace(&mut self.skip_python, &later.skip_python);
        replace(&mut self.arch_specific, &later.arch_specific);
    }

    /// Applies a `versions` entry's `extend:` block: its lists are appended to ours.
    fn extend(&mut self, more: &Settings) {
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
struct Override {
    when: Text,
    #[serde(skip)]
    specifiers: VersionSpecifiers,
    #[serde(flatten)]
    settings: Settings,
    #[serde(skip_serializing_if = "Option::is_none")]
    extend: Option<Settings>,
}

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
    base: Settings,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    versions: Vec<Override>,
}

/// Joins a key path: `versions[1]` + `requirements` -> `versions[1].requirements`.
fn join_key(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

/// Builds the checked settings of one level of the file, checking what can be checked
/// before rendering (shapes, names, specifiers are checked by the caller).
struct Reader<'a> {
    file: &'a Path,
}

impl Reader<'_> {
    fn invalid(&self, text: &Text, message: impl Into<String>) -> RecipeError {
        RecipeError::Invalid {
            file: self.file.to_path_buf(),
            key: text.key.clone(),
            position: text.position,
            value: Some(text.value.clone()),
            message: message.into(),
        }
    }

    /// Like [`Reader::invalid`], quoting `value` rather than the text's own value.
    fn invalid_value(&self, text: &Text, value: &str, message: impl Into<String>) -> RecipeError {
        RecipeError::Invalid {
            file: self.file.to_path_buf(),
            key: text.key.clone(),
            position: text.position,
            value: Some(value.to_string()),
            message: message.into(),
        }
    }

    fn unplaced(&self, key: String, message: impl Into<String>) -> RecipeError {
        RecipeError::Invalid {
            file: self.file.to_path_buf(),
            key,
            position: None,
            value: None,
            message: message.into(),
        }
    }

    fn text(&self, raw: Option<RawText>, prefix: &str, name: &str) -> Option<Text> {
        raw.map(|raw| Text::from_raw(raw, join_key(prefix, name)))
    }

    fn list(&self, raw: Option<Vec<RawText>>, prefix: &str, name: &str) -> Option<Vec<Text>> {
        let key = join_key(prefix, name);
        raw.map(|items| {
            items
                .into_iter()
                .enumerate()
                .map(|(index, raw)| Text::from_raw(raw, format!("{key}[{index}]")))
                .collect()
        })
    }

    /// The settings of one level; `raw` must have had its structural keys taken out.
    fn settings(&self, raw: RawRecipe, prefix: &str) -> Result<Settings, RecipeError> {
        let environment = match raw.environment {
            None => None,
            Some(variables) => {
                let mut checked = BTreeMap::new();
                for (name, value) in variables {
                    let text = Text::from_raw(value, join_key(prefix, &format!("environment.{name}")));
                    if !is_variable_name(&name) {
                        return Err(self.invalid_value(
                            &text,
                            &name,
                            "an environment variable name is letters, digits and `_`, not starting with a digit",
                        ));
                    }
                    checked.insert(name, text);
                }
                Some(checked)
            }
        };
        let source = match raw.source {
            None => None,
            Some(spanned) => {
                let at = Text::from_raw(
                    Spanned::new(String::new(), spanned.referenced, spanned.defined),
                    join_key(prefix, "source"),
                );
                Some(self.source(spanned.value, &at, prefix)?)
            }
        };
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
        let skip_imports = match raw.skip_imports {
            None => None,
            Some(entries) => Some(
                entries
                    .into_iter()
                    .enumerate()
                    .map(|(index, entry)| {
                        self.skip_import(entry, &format!("{}[{index}]", join_key(prefix, "skip_imports")))
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
        };
        Ok(Settings {
            import_names: self.list(raw.import_names, prefix, "import_names"),
            skip_imports,
            import_timeout: self.text(raw.import_timeout, prefix, "import_timeout"),
            test: self.text(raw.test, prefix, "test"),
            test_command: self.text(raw.test_command, prefix, "test_command"),
            build_dependencies: self.list(raw.build_dependencies, prefix, "build_dependencies"),
            test_dependencies: self.list(raw.test_dependencies, prefix, "test_dependencies"),
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
            rpath: self.list(raw.rpath, prefix, "rpath"),
            skip_python: self.list(raw.skip_python, prefix, "skip_python"),
            arch_specific: raw.arch_specific,
        })
    }

    /// One `skip_imports` entry at key path `key`: a `module` and a `reason`, both required.
    fn skip_import(
        &self,
        spanned: Spanned<RawSkipImport>,
        key: &str,
    ) -> Result<SkipImportSetting, RecipeError> {
        let at = Text::from_raw(
            Spanned::new(String::new(), spanned.referenced, spanned.defined),
            key.to_string(),
        );
        let entry = spanned.value;
        let module = self.text(entry.module, key, "module").ok_or_else(|| {
            self.unplaced(
                join_key(key, "module"),
                "missing: name the module not to import (`module: pkg.cuda_ext`)",
            )
            .at(&at)
        })?;
        let reason = self.text(entry.reason, key, "reason").ok_or_else(|| {
            self.unplaced(
                join_key(key, "reason"),
                format!(
                    "missing: say why `{}` is not imported (`reason: needs a GPU`)",
                    module.value.trim()
                ),
            )
            .at(&at)
        })?;
        Ok(SkipImportSetting { module, reason })
    }

    fn source(&self, raw: RawSource, at: &Text, prefix: &str) -> Result<SourceSetting, RecipeError> {
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

impl RecipeError {
    fn without_value(mut self) -> Self {
        if let RecipeError::Invalid { value, .. } = &mut self {
            *value = None;
        }
        self
    }

    /// Gives an error without a position the position of `text`.
    fn at(mut self, text: &Text) -> Self {
        if let RecipeError::Invalid { position, .. } = &mut self {
            *position = text.position;
        }
        self
    }
}

/// The first line of an error whose display draws the value with a caret under it.
fn first_line(error: &dyn fmt::Display) -> String {
    let text = error.to_string();
    let line = text.lines().next().unwrap_or_default().trim();
    line.strip_prefix("Failed to parse version: ")
        .unwrap_or(line)
        .trim_end_matches(':')
        .to_string()
}

fn is_variable_name(name: &str) -> bool {
    let mut characters = name.chars();
    characters
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && characters.all(|character| character.is_ascii_alphanumeric() || character == '_')
}

/// Parses recipe YAML, rendering serde-saphyr's errors as `file:line:column: key `path`: ...`.
fn parse_yaml(text: &str, file: &Path) -> Result<RawRecipe, RecipeError> {
    if text.trim().is_empty()
        || text
            .lines()
            .all(|line| line.trim_start().starts_with('#') || line.trim().is_empty())
    {
        return Err(RecipeError::Invalid {
            file: file.to_path_buf(),
            key: "package".to_string(),
            position: None,
            value: None,
            message: "the recipe is empty; it needs at least `package`".to_string(),
        });
    }
    let options = serde_saphyr::options! { with_snippet: false };
    serde_saphyr::from_str_with_options::<RawRecipe>(text, options).map_err(|error| {
        let error = error.without_snippet();
        let location = error.location().filter(|location| location.line() > 0);
        let mut message = error.to_string();
        let mut key = None;
        if let Some(location) = &location {
            let suffix = format!(" at line {}, column {}", location.line(), location.column());
            if let Some(stripped) = message.strip_suffix(&suffix) {
                message = stripped.to_string();
            }
            if matches!(error, serde_saphyr::Error::NullIntoString { .. }) {
                message = "no value: give a string (\"\" for an empty one)".to_string();
            }
            let shallowest = matches!(error, serde_saphyr::Error::SerdeMissingField { .. });
            key = key_path_at(text, location.line(), location.column(), shallowest);
        }
        RecipeError::Syntax {
            file: file.to_path_buf(),
            key,
            position: location.as_ref().and_then(Position::of),
            message,
        }
    })
}

/// The key path of the YAML node that starts at `line`:`column` (both from 1): serde-saphyr
/// reports where a wrong value is, this says which key that is. With `shallowest`, the
/// outermost node starting there (a mapping rather than its first key).
fn key_path_at(text: &str, line: u64, column: u64, shallowest: bool) -> Option<String> {
    use serde_saphyr::granit_parser::{Event, Parser};

    enum Frame {
        Mapping { key: Option<String>, awaiting_key: bool },
        Sequence { index: usize },
    }

    fn segment_of(frame: Option<&Frame>, scalar: Option<&str>) -> Option<String> {
        match frame {
            None => None,
            Some(Frame::Mapping { key, awaiting_key }) => {
                let name = if *awaiting_key { scalar } else { key.as_deref() };
                Some(name.unwrap_or("?").to_string())
            }
            Some(Frame::Sequence { index }) => Some(format!("[{index}]")),
        }
    }

    fn join(segments: &[String]) -> String {
        let mut path = String::new();
        for segment in segments {
            if !path.is_empty() && !segment.starts_with('[') {
                path.push('.');
            }
            path.push_str(segment);
        }
        path
    }

    /// A node inside `frame` is complete: move to the next key, value or index.
    fn finish(frame: Option<&mut Frame>, scalar: Option<&str>) {
        match frame {
            Some(Frame::Mapping { key, awaiting_key }) => {
                if *awaiting_key {
                    *key = scalar.map(str::to_string);
                }
                *awaiting_key = !*awaiting_key;
            }
            Some(Frame::Sequence { index }) => *index += 1,
            None => {}
        }
    }

    let mut frames: Vec<Frame> = Vec::new();
    let mut segments: Vec<String> = Vec::new();
    let mut found = None;
    for item in Parser::new_from_str(text) {
        let Ok((event, span)) = item else { break };
        let scalar = match &event {
            Event::Scalar(value, ..) => Some(value.as_ref()),
            _ => None,
        };
        let is_node = matches!(
            event,
            Event::Scalar(..) | Event::SequenceStart(..) | Event::MappingStart(..) | Event::Alias(..)
        );
        if is_node {
            let segment = segment_of(frames.last(), scalar);
            let here = span.start.line() as u64 == line && span.start.col() as u64 + 1 == column;
            if here && !(shallowest && found.is_some()) {
                let mut path = segments.clone();
                path.extend(segment.clone());
                found = Some(join(&path));
            }
            match event {
                Event::SequenceStart(..) => {
                    segments.push(segment.unwrap_or_default());
                    frames.push(Frame::Sequence { index: 0 });
                }
                Event::MappingStart(..) => {
                    segments.push(segment.unwrap_or_default());
                    frames.push(Frame::Mapping {
                        key: None,
                        awaiting_key: true,
                    });
                }
                _ => finish(frames.last_mut(), scalar),
            }
        } else if matches!(event, Event::SequenceEnd | Event::MappingEnd) {
            frames.pop();
            segments.pop();
            finish(frames.last_mut(), None);
        }
    }
    found.map(|path| path.trim_start_matches('.').to_string())
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
                        ("environment", more.environment.is_some()),
                        ("build_command", more.build_command.is_some()),
                        ("source", more.source.is_some()),
                        ("sha256", more.sha256.is_some()),
                        ("package_suffix", more.package_suffix.is_some()),
                        ("arch_specific", more.arch_specific.is_some()),
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
    fn check_templates(&self) -> Result<(), RecipeError> {
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

    fn render(
        &self,
        settings: &Settings,
        context: &TemplateContext,
        patches: PatchCheck,
    ) -> Result<ResolvedRecipe, RecipeError> {
        let renderer = Renderer::new(self, context)?;
        let reader = Reader { file: &self.file };
        let list = |texts: &Option<Vec<Text>>, check: Check| -> Result<Vec<String>, RecipeError> {
            texts
                .iter()
                .flatten()
                .map(|text| renderer.checked(text, check))
                .collect()
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
            let name = renderer.render(patch)?;
            let rendered = Text {
                value: name,
                ..patch.clone()
            };
            patch_paths.push(self.patch_path(&rendered, patches)?);
        }

        let mut skip_python = Vec::new();
        for text in settings.skip_python.iter().flatten() {
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
        Ok(ResolvedRecipe {
            package: self.package.clone(),
            file: Some(self.file.clone()),
            import_names: list(&settings.import_names, Check::ImportName)?,
            skip_imports,
            import_timeout,
            test_snippet: optional(&settings.test, Check::Any)?,
            test_command: optional(&settings.test_command, Check::Any)?,
            build_dependencies: list(&settings.build_dependencies, Check::Requirement)?,
            test_dependencies: list(&settings.test_dependencies, Check::Requirement)?,
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
            rpath: list(&settings.rpath, Check::Rpath)?,
            skip_python,
            arch_specific: settings.arch_specific,
        })
    }

    /// The path of a (rendered) patch name, checked to stay under the patches directory and,
    /// with [`PatchCheck::Exists`], to be a file.
    fn patch_path(&self, patch: &Text, check: PatchCheck) -> Result<PathBuf, RecipeError> {
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PatchCheck {
    Skip,
    Exists,
}

/// What a rendered value must be.
#[derive(Debug, Clone, Copy)]
enum Check {
    Any,
    NotEmpty,
    Command,
    ImportName,
    Reason,
    Seconds,
    Requirement,
    RemoveRequirement,
    UpdateRequirement,
    Sha256,
    Suffix,
    Rpath,
    ArchiveUrl,
    GitUrl,
    GitRev,
}

fn requirement_reason(error: RequirementError) -> String {
    match error {
        RequirementError::Invalid { text, reason } => {
            format!("`{text}` is not a valid PEP 508 requirement: {reason}")
        }
        other => other.to_string(),
    }
}

impl Check {
    /// The value to keep, or why the rendered `value` is not acceptable.
    fn apply(self, value: &str, package: &str) -> Result<String, String> {
        let trimmed = value.trim();
        match self {
            Check::Any => Ok(value.to_string()),
            Check::NotEmpty | Check::Command if trimmed.is_empty() => Err("empty".to_string()),
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
                    Err(
                        "not a Python module name (dotted identifiers, like `Bio` or `google.protobuf`)"
                            .to_string(),
                    )
                }
            }
            Check::Reason if trimmed.is_empty() => {
                Err("empty: say why the module is not imported (`needs a GPU`)".to_string())
            }
            Check::Reason => Ok(trimmed.to_string()),
            Check::Seconds => match trimmed.parse::<u64>() {
                Ok(seconds) if (1..=MAX_IMPORT_TIMEOUT).contains(&seconds) => Ok(seconds.to_string()),
                _ => Err(format!(
                    "a number of seconds from 1 to {MAX_IMPORT_TIMEOUT} (a whole number, no unit)"
                )),
            },
            Check::Requirement => RequirementEdit::add(trimmed)
                .map(|_| trimmed.to_string())
                .map_err(requirement_reason),
            Check::RemoveRequirement => RequirementEdit::remove(trimmed)
                .map(|_| trimmed.to_string())
                .map_err(requirement_reason),
            Check::UpdateRequirement => RequirementEdit::update(trimmed)
                .map(|_| trimmed.to_string())
                .map_err(requirement_reason),
            Check::Sha256 => {
                if trimmed.len() == 64 && trimmed.chars().all(|character| character.is_ascii_hexdigit()) {
                    Ok(trimmed.to_ascii_lowercase())
                } else {
                    Err(format!(
                        "a sha256 is 64 hexadecimal digits (this is {} characters)",
                        trimmed.chars().count()
                    ))
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
                    Err(format!("`{joined}` would not be a valid package name"))
                }
            }
            Check::Rpath => {
                if trimmed.is_empty() {
                    Err("empty".to_string())
                } else if trimmed.contains(':') {
                    Err("one directory per entry (no `:`); list several entries instead".to_string())
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
                    Err("an archive URL starts with https://, http:// or file://".to_string())
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
                    Err(
                        "a git URL starts with https://, ssh://, git://, file:// or is user@host:path"
                            .to_string(),
                    )
                }
            }
            Check::GitRev => check_git_rev(trimmed).map(|()| trimmed.to_string()),
        }
    }
}

/// A git `rev` must pin the sources: a full commit, or a tag (which we cannot tell from a
/// branch by its name, but can refuse the usual branch names and abbreviated commits).
fn check_git_rev(rev: &str) -> Result<(), String> {
    let is_hex = !rev.is_empty() && rev.chars().all(|character| character.is_ascii_hexdigit());
    if is_hex && rev.len() == 40 {
        return Ok(());
    }
    if is_hex && (7..40).contains(&rev.len()) && rev.chars().any(|character| character.is_ascii_alphabetic())
    {
        return Err(format!(
            "`{rev}` looks like an abbreviated commit; give all 40 hexadecimal digits"
        ));
    }
    let branches = ["HEAD", "main", "master", "develop", "development", "trunk", "dev"];
    if branches.contains(&rev) || rev.starts_with("refs/heads/") || rev.starts_with("origin/") {
        return Err(format!(
            "`{rev}` is a branch, which moves; give a full 40-hex commit or a tag name"
        ));
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
        return Err(format!("`{rev}` is not a valid tag name or 40-hex commit"));
    }
    Ok(())
}

/// Renders templates of one recipe with one context.
struct Renderer<'a> {
    recipe: &'a RecipeFile,
    context: tera::Context,
}

impl<'a> Renderer<'a> {
    fn new(recipe: &'a RecipeFile, context: &TemplateContext) -> Result<Self, RecipeError> {
        let context = tera::Context::from_serialize(context).map_err(|error| RecipeError::Template {
            file: recipe.file.clone(),
            key: String::new(),
            position: None,
            message: template_message(&error),
        })?;
        Ok(Renderer { recipe, context })
    }

    fn render(&self, text: &Text) -> Result<String, RecipeError> {
        if !text.is_template() {
            return Ok(text.value.clone());
        }
        tera::Tera::one_off(&text.value, &self.context, false).map_err(|error| RecipeError::Template {
            file: self.recipe.file.clone(),
            key: text.key.clone(),
            position: text.position,
            message: template_message(&error),
        })
    }

    fn checked(&self, text: &Text, check: Check) -> Result<String, RecipeError> {
        let rendered = self.render(text)?;
        check.apply(&rendered, &self.recipe.package).map_err(|message| {
            Reader {
                file: &self.recipe.file,
            }
            .invalid(
                &Text {
                    value: rendered.clone(),
                    ..text.clone()
                },
                message,
            )
        })
    }
}

/// Tera's error chain as one line, without its internal template name; a parse error's
/// drawing (` --> 1:16 | ... = expected ...`) becomes "expected ... (at 1:16 in the value)".
fn template_message(error: &tera::Error) -> String {
    let mut parts = Vec::new();
    let mut current: Option<&dyn std::error::Error> = Some(error);
    while let Some(error) = current {
        parts.push(error.to_string());
        current = error.source();
    }
    let generic = parts.len() > 1 && parts[0].starts_with("Failed to ");
    let parts = if generic { &parts[1..] } else { &parts[..] };
    let mut message = parts
        .iter()
        .map(|part| {
            let part = part
                .replace(" while rendering '__tera_one_off'", "")
                .replace("'__tera_one_off'", "the template");
            match part.trim_start().strip_prefix("--> ") {
                Some(drawing) => {
                    let position = drawing.lines().next().unwrap_or_default().trim();
                    let expected = drawing
                        .lines()
                        .filter_map(|line| line.trim().strip_prefix("= "))
                        .collect::<Vec<_>>()
                        .join("; ");
                    format!("{expected} (at {position} in the value)")
                }
                None => part,
            }
        })
        .collect::<Vec<_>>()
        .join(": ");
    if message.contains("not found in context") {
        message.push_str(&format!(
            " (the variables are: {})",
            TEMPLATE_VARIABLES.join(", ")
        ));
    }
    if message.contains("comment end") {
        message.push_str(
            "; `{#` starts a template comment: write `{{ \"{#\" }}` or wrap the text in {% raw %}...{% endraw %}",
        );
    }
    message
}

// ---------------------------------------------------------------------------------------
// Files and directories.

/// Reads, parses and checks one recipe file, including that its literal patch names exist.
pub fn load_recipe_file(path: &Path) -> Result<RecipeFile, RecipeError> {
    let text = fs_err::read_to_string(path).map_err(|error| RecipeError::Read {
        path: path.to_path_buf(),
        error,
    })?;
    let recipe = RecipeFile::parse(&text, path)?;
    recipe.check_patch_files()?;
    Ok(recipe)
}

/// The recipe files of a directory (`*.yaml`, and `*.yml` so that they can be refused
/// rather than ignored), sorted by file name.
pub fn recipe_paths(directory: &Path) -> Result<Vec<PathBuf>, RecipeError> {
    let read_error = |error| RecipeError::Read {
        path: directory.to_path_buf(),
        error,
    };
    let mut paths = Vec::new();
    for entry in fs_err::read_dir(directory).map_err(read_error)? {
        let path = entry.map_err(read_error)?.path();
        let extension = path.extension().and_then(|extension| extension.to_str());
        if matches!(extension, Some("yaml" | "yml")) && path.is_file() {
            paths.push(path);
        }
    }
    paths.sort();
    Ok(paths)
}

/// The outcome of loading one recipe file of a directory.
#[derive(Debug)]
pub struct CheckedRecipe {
    pub path: PathBuf,
    pub result: Result<RecipeFile, RecipeError>,
}

/// Loads every recipe of a directory, one result per file, in file-name order. A `.yml`
/// file and a second file for an already-seen package are errors of their own; the outer
/// error is for a directory that cannot be read.
pub fn check_recipes(directory: &Path) -> Result<Vec<CheckedRecipe>, RecipeError> {
    let mut results = Vec::new();
    let mut seen: BTreeMap<String, PathBuf> = BTreeMap::new();
    for path in recipe_paths(directory)? {
        let result = if path.extension().is_some_and(|extension| extension == "yml") {
            let stem = path
                .file_stem()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            Err(RecipeError::Invalid {
                file: path.clone(),
                key: String::new(),
                position: None,
                value: None,
                message: format!(
                    "recipe files end in .{RECIPE_EXTENSION}: rename it to {stem}.{RECIPE_EXTENSION}"
                ),
            })
        } else {
            load_recipe_file(&path)
        };
        let result = result.and_then(|recipe| match seen.get(&recipe.name) {
            Some(first) => Err(RecipeError::Duplicate {
                file: path.clone(),
                first: first.clone(),
                name: recipe.name.clone(),
            }),
            None => {
                seen.insert(recipe.name.clone(), path.clone());
                Ok(recipe)
            }
        });
        results.push(CheckedRecipe { path, result });
    }
    Ok(results)
}

/// Every recipe of a directory by normalised package name, or every error found.
pub fn load_recipes(directory: &Path) -> Result<BTreeMap<String, RecipeFile>, Vec<RecipeError>> {
    let results = check_recipes(directory).map_err(|error| vec![error])?;
    let mut recipes = BTreeMap::new();
    let mut errors = Vec::new();
    for checked in results {
        match checked.result {
            Ok(recipe) => {
                recipes.insert(recipe.name.clone(), recipe);
            }
            Err(error) => errors.push(error),
        }
    }
    if errors.is_empty() {
        Ok(recipes)
    } else {
        Err(errors)
    }
}

/// Where recipes are looked up, and why there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipesDirectory {
    pub path: PathBuf,
    /// `--recipes`/`$WHEELWRIGHT_RECIPES`, `the layout`, or `./recipes`.
    pub origin: &'static str,
}

/// The recipes directory: `explicit` (`--recipes`, or `$WHEELWRIGHT_RECIPES` through the
/// flag's environment fallback), then the layout's `recipes` key, then `./recipes`. The first
/// two must exist; `./recipes` is used only when it does. None: no recipes (PyPI defaults).
pub fn recipes_directory(
    explicit: Option<&Path>,
    layout_recipes: Option<&Path>,
) -> Result<Option<RecipesDirectory>, RecipeError> {
    let checked = |path: &Path, origin: &'static str| {
        if path.is_dir() {
            Ok(Some(RecipesDirectory {
                path: std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()),
                origin,
            }))
        } else {
            Err(RecipeError::Read {
                path: path.to_path_buf(),
                error: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("{}: no such recipes directory (from {origin})", path.display()),
                ),
            })
        }
    };
    if let Some(path) = explicit.filter(|path| !path.as_os_str().is_empty()) {
        return checked(path, "--recipes or $WHEELWRIGHT_RECIPES");
    }
    if let Some(path) = layout_recipes {
        return checked(path, "the layout's `recipes` key");
    }
    let local = Path::new(RECIPES_DIRECTORY);
    if local.is_dir() {
        return checked(local, "./recipes");
    }
    Ok(None)
}

/// The recipes directory looked for in the current directory when nothing else names one.
pub const RECIPES_DIRECTORY: &str = "recipes";

/// The recipe for `package` (any spelling: `PyYAML`, `pyyaml`, `py_yaml`...) in `directory`,
/// or None when there is no file for it. A directory that cannot be read is an error, so
/// that a wrong `--recipes` does not silently build everything with defaults.
pub fn find_recipe(directory: &Path, package: &str) -> Result<Option<RecipeFile>, RecipeError> {
    let wanted = normalize_name(package);
    let mut found: Option<PathBuf> = None;
    for path in recipe_paths(directory)? {
        let is_yaml = path
            .extension()
            .is_some_and(|extension| extension == RECIPE_EXTENSION);
        let stem = path
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if !is_yaml || normalize_name(&stem) != wanted {
            continue;
        }
        if let Some(first) = &found {
            return Err(RecipeError::Duplicate {
                file: path.clone(),
                first: first.clone(),
                name: wanted,
            });
        }
        found = Some(path);
    }
    found.map(|path| load_recipe_file(&path)).transpose()
}

/// The recipe of a package without a recipe file: the PyPI sdist, built and tested with
/// the defaults (import names discovered from the wheel).
pub fn default_recipe(package: &str) -> ResolvedRecipe {
    ResolvedRecipe {
        package: package.to_string(),
        ..ResolvedRecipe::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(name: &str, text: &str) -> Result<RecipeFile, RecipeError> {
        RecipeFile::parse(text, &Path::new("recipes").join(format!("{name}.yaml")))
    }

    fn context(version: &str, python: &str) -> TemplateContext {
        TemplateContext {
            version: version.to_string(),
            python: python.to_string(),
            arch: "x86-64-v3".to_string(),
            march: "x86-64-v3".to_string(),
            cflags: "-march=x86-64-v3".to_string(),
            layer: "gentoo2023".to_string(),
        }
    }

    fn resolve(recipe: &RecipeFile, version: &str) -> ResolvedRecipe {
        recipe
            .resolve(&version.parse().unwrap(), &context(version, "3.12"))
            .unwrap()
    }

    fn error(name: &str, text: &str) -> String {
        parse(name, text).unwrap_err().to_string()
    }

    const FULL: &str = r#"
package: Example_Package
import_names: [example, example.sub]
test: |
  assert example.answer() == 42
test_command: pytest --pyargs example -x
build_dependencies: ["cython>=3", numpy]
test_dependencies: [pytest]
environment:
  CFLAGS_EXTRA: "{{ cflags }} -O2"
  JOBS: 4
pre_download: ["echo pre-download {{ version }}"]
post_download: ["echo post-download"]
pre_build: ["sed -i -e 's/-march=native//' setup.py"]
post_build: ["echo built for {{ python }} on {{ arch }} ({{ march }}) in {{ layer }}"]
build_args: ["--config-settings=setup-args=-Dblas=flexiblas"]
source:
  url: "https://example.org/example-{{ version }}.tar.gz"
  sha256: "ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789"
package_suffix: "-cpu"
requirements:
  add: ["scipy>=1.10; python_version >= '3.11'"]
  remove: [nvidia-cublas-cu12]
  update: ["tensorflow-cpu->tensorflow", "numpy<3"]
rpath: ["$ORIGIN/../example.libs"]
skip_python: ["3.11", 3.10]
arch_specific: true
versions:
  - when: "<2"
    build_dependencies: ["cython<3", "numpy<2"]
    environment: {JOBS: "1", OLD: "yes"}
  - when: ">=1.5,<2"
    extend:
      build_dependencies: [setuptools]
      pre_build: ["echo also"]
    test_command: ""
  - when: ">=3"
    source: {git: "https://github.com/example/example", rev: "v{{ version }}"}
"#;

    #[test]
    fn a_full_recipe_resolves() {
        let recipe = parse("example-package", FULL).unwrap();
        assert_eq!(recipe.package, "Example_Package");
        assert_eq!(recipe.name, "example-package");
        let resolved = resolve(&recipe, "2.1");
        assert_eq!(resolved.package, "Example_Package");
        assert_eq!(
            resolved.file.as_deref(),
            Some(Path::new("recipes/example-package.yaml"))
        );
        assert_eq!(resolved.import_names, ["example", "example.sub"]);
        assert_eq!(
            resolved.test_snippet.as_deref(),
            Some("assert example.answer() == 42\n")
        );
        assert_eq!(
            resolved.test_command.as_deref(),
            Some("pytest --pyargs example -x")
        );
        assert_eq!(resolved.build_dependencies, ["cython>=3", "numpy"]);
        assert_eq!(resolved.test_dependencies, ["pytest"]);
        assert_eq!(
            resolved.environment,
            BTreeMap::from([
                ("CFLAGS_EXTRA".to_string(), "-march=x86-64-v3 -O2".to_string()),
                ("JOBS".to_string(), "4".to_string()),
            ])
        );
        assert_eq!(resolved.pre_download, ["echo pre-download 2.1"]);
        assert_eq!(resolved.post_download, ["echo post-download"]);
        assert_eq!(resolved.pre_build, ["sed -i -e 's/-march=native//' setup.py"]);
        assert_eq!(
            resolved.post_build,
            ["echo built for 3.12 on x86-64-v3 (x86-64-v3) in gentoo2023"]
        );
        assert_eq!(resolved.build_command, None);
        assert_eq!(
            resolved.build_args,
            ["--config-settings=setup-args=-Dblas=flexiblas"]
        );
        assert_eq!(
            resolved.source,
            Source::Url {
                url: "https://example.org/example-2.1.tar.gz".to_string()
            }
        );
        assert_eq!(
            resolved.sha256.as_deref(),
            Some("abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789")
        );
        assert_eq!(resolved.package_suffix.as_deref(), Some("-cpu"));
        assert_eq!(
            resolved.requirements,
            RequirementChanges {
                add: vec!["scipy>=1.10; python_version >= '3.11'".to_string()],
                remove: vec!["nvidia-cublas-cu12".to_string()],
                update: vec!["tensorflow-cpu->tensorflow".to_string(), "numpy<3".to_string()],
            }
        );
        assert_eq!(resolved.rpath, ["$ORIGIN/../example.libs"]);
        let skipped: Vec<String> = resolved.skip_python.iter().map(ToString::to_string).collect();
        assert_eq!(skipped, ["3.11", "3.10"]);
        assert!(resolved.skips_python(&"3.10".parse().unwrap()));
        assert!(!resolved.skips_python(&"3.12".parse().unwrap()));
        assert_eq!(resolved.arch_specific, Some(true));
        assert!(resolved.patches.is_empty());
        assert_eq!(
            recipe.matching_versions(&"2.1".parse().unwrap()),
            Vec::<usize>::new()
        );
    }

    #[test]
    fn matching_versions_entries_apply_in_order() {
        let recipe = parse("example-package", FULL).unwrap();
        assert_eq!(recipe.matching_versions(&"1.2".parse().unwrap()), [0]);
        assert_eq!(recipe.matching_versions(&"1.7".parse().unwrap()), [0, 1]);

        // One entry: lists replace, environment merges variable by variable.
        let old = resolve(&recipe, "1.2");
        assert_eq!(old.build_dependencies, ["cython<3", "numpy<2"]);
        assert_eq!(old.environment["JOBS"], "1");
        assert_eq!(old.environment["OLD"], "yes");
        assert_eq!(old.environment["CFLAGS_EXTRA"], "-march=x86-64-v3 -O2");
        assert_eq!(old.test_command.as_deref(), Some("pytest --pyargs example -x"));

        // Two entries: `extend` appends to the list the earlier entry set; "" clears.
        let middle = resolve(&recipe, "1.7");
        assert_eq!(middle.build_dependencies, ["cython<3", "numpy<2", "setuptools"]);
        assert_eq!(
            middle.pre_build,
            ["sed -i -e 's/-march=native//' setup.py", "echo also"]
        );
        assert_eq!(middle.test_command, None);

        // A later source replaces the whole source; templates see the version.
        let new = resolve(&recipe, "3.0.1");
        assert_eq!(
            new.source,
            Source::Git {
                url: "https://github.com/example/example".to_string(),
                rev: "v3.0.1".to_string()
            }
        );
    }

    #[test]
    fn the_git_source_refuses_a_sha256_from_the_top_level() {
        let text = "package: x\nsha256: 0000000000000000000000000000000000000000000000000000000000000000\nversions:\n  - when: '>=3'\n    source: {git: 'https://github.com/x/x', rev: 'v1'}\n";
        assert_eq!(
            error("x", text),
            "recipes/x.yaml:2:9: key `sha256` = \"0000000000000000000000000000000000000000000000000000000000000000\": a git source is pinned by its `rev`; `sha256` is for archives"
        );
    }

    #[test]
    fn the_version_fills_an_empty_context_version_and_python_drives_conditions() {
        let recipe = parse(
            "x",
            "package: x\nenvironment:\n  V: \"{{ version }}\"\n  OLD: \"{% if python == '3.11' %}yes{% else %}no{% endif %}\"\n",
        )
        .unwrap();
        let mut empty = context("", "3.11");
        empty.version.clear();
        let resolved = recipe.resolve(&"1.85.0".parse().unwrap(), &empty).unwrap();
        assert_eq!(resolved.environment["V"], "1.85.0");
        assert_eq!(resolved.environment["OLD"], "yes");
        let resolved = recipe
            .resolve(&"1.85.0".parse().unwrap(), &context("1.85.0", "3.12"))
            .unwrap();
        assert_eq!(resolved.environment["OLD"], "no");
    }

    #[test]
    fn a_package_without_a_recipe_gets_the_defaults() {
        let recipe = default_recipe("Foo_Bar");
        assert_eq!(recipe.package, "Foo_Bar");
        assert_eq!(recipe.file, None);
        assert_eq!(recipe.source, Source::Pypi);
        assert!(recipe.import_names.is_empty() && recipe.build_dependencies.is_empty());
        assert_eq!(recipe.arch_specific, None);
    }

    #[test]
    fn error_messages_name_file_key_line_and_column() {
        let cases = [
            (
                "package: a\nimport_names: [x]\nversions:\n  - when: \">=1.0\"\n    importnames: [y]\n",
                "recipes/a.yaml:5:5: key `versions[0].importnames`: unknown field `importnames`, expected one of package, when, import_names, skip_imports, import_timeout, test, test_command, build_dependencies, test_dependencies, environment, pre_download, post_download, pre_build, post_build, build_command, build_args, patches, source, sha256, package_suffix, requirements, rpath, skip_python, arch_specific, extend, versions",
            ),
            (
                "package: a\nversions:\n  - when: \">=1.80,<\"\n    test: x\n",
                "recipes/a.yaml:3:11: key `versions[0].when` = \">=1.80,<\": not a PEP 440 version specifier set: Unexpected end of version specifier, expected version",
            ),
            (
                "package: a\nversions:\n  - when: \">=1\"\n    requirements:\n      add: [numpy]\n      update: [\"tensorflow-cpu->tensorflow>=\"]\n",
                "recipes/a.yaml:6:16: key `versions[0].requirements.update[0]` = \"tensorflow-cpu->tensorflow>=\": `tensorflow>=` is not a valid PEP 508 requirement: Unexpected end of version specifier, expected version",
            ),
            (
                "package: a\npre_build:\n  - echo {{ pyton }}\n",
                "recipes/a.yaml:3:5: key `pre_build[0]`: template error: Variable `pyton` not found in context (the variables are: version, python, arch, march, cflags, layer)",
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(error("a", text), expected);
        }
    }

    #[test]
    fn each_kind_of_mistake_is_refused() {
        let cases = [
            (
                "arch_specific: maybe",
                "recipes/a.yaml:2:16: key `arch_specific`: invalid boolean",
            ),
            (
                "import_names: [x, y",
                "recipes/a.yaml:2:15: key `import_names`: unclosed bracket '['",
            ),
            (
                "import_names: x",
                "recipes/a.yaml:2:15: key `import_names`: expected sequence start",
            ),
            (
                "import_names: [Bio-Python]",
                "recipes/a.yaml:2:16: key `import_names[0]` = \"Bio-Python\": not a Python module name (dotted identifiers, like `Bio` or `google.protobuf`)",
            ),
            (
                "build_dependencies: [\"numpy >= \"]",
                "recipes/a.yaml:2:22: key `build_dependencies[0]` = \"numpy >= \": `numpy >=` is not a valid PEP 508 requirement: Unexpected end of version specifier, expected version",
            ),
            (
                "sha256: abc",
                "recipes/a.yaml:2:9: key `sha256` = \"abc\": a sha256 is 64 hexadecimal digits (this is 3 characters)",
            ),
            (
                "skip_python: [\"3.x\"]",
                "recipes/a.yaml:2:15: key `skip_python[0]` = \"3.x\": `3.x` is not a Python version like 3.12",
            ),
            (
                "environment: {1BAD: x}",
                "recipes/a.yaml:2:21: key `environment.1BAD` = \"1BAD\": an environment variable name is letters, digits and `_`, not starting with a digit",
            ),
            (
                "package_suffix: \"-c p u\"",
                "recipes/a.yaml:2:17: key `package_suffix` = \"-c p u\": `a-c p u` would not be a valid package name",
            ),
            (
                "rpath: [\"/a:/b\"]",
                "recipes/a.yaml:2:9: key `rpath[0]` = \"/a:/b\": one directory per entry (no `:`); list several entries instead",
            ),
            (
                "pre_build: [\"  \"]",
                "recipes/a.yaml:2:13: key `pre_build[0]` = \"  \": empty",
            ),
            (
                "patches: [../x.patch]",
                "recipes/a.yaml:2:11: key `patches[0]` = \"../x.patch\": a patch is a file name under patches/ (no absolute paths, no `..`)",
            ),
            (
                "source: github",
                "recipes/a.yaml:2:9: key `source` = \"github\": `source` is `pypi`, {url: URL, sha256: HEX} or {git: URL, rev: COMMIT-OR-TAG}",
            ),
            (
                "source: {url: 'ftp://x/a.tgz'}",
                "recipes/a.yaml:2:15: key `source.url` = \"ftp://x/a.tgz\": an archive URL starts with https://, http:// or file://",
            ),
            (
                "source: {url: 'https://x/a.tgz', sha25: abc}",
                "recipes/a.yaml:2:34: key `source.sha25`: unknown field `sha25`, expected one of url, sha256, git, rev",
            ),
            (
                "source: {url: 'https://x/a.tgz', rev: v1}",
                "recipes/a.yaml:2:39: key `source.rev` = \"v1\": `rev` goes with `git`, not `url`",
            ),
            (
                "source: {git: 'https://x/a', rev: main}",
                "recipes/a.yaml:2:35: key `source.rev` = \"main\": `main` is a branch, which moves; give a full 40-hex commit or a tag name",
            ),
            (
                "source: {git: 'https://x/a', rev: 1a2b3c4d}",
                "recipes/a.yaml:2:35: key `source.rev` = \"1a2b3c4d\": `1a2b3c4d` looks like an abbreviated commit; give all 40 hexadecimal digits",
            ),
            (
                "source: {git: 'https://x/a'}",
                "recipes/a.yaml:2:9: key `source.rev`: a git source needs `rev`: a full 40-hex commit or a tag name",
            ),
            (
                "source: {git: 'https://x/a', rev: v1, sha256: abc}",
                "recipes/a.yaml:2:47: key `source.sha256` = \"abc\": a git source is pinned by its `rev`; `sha256` is for archives",
            ),
            (
                "source: {url: 'https://x/a', sha256: '0000000000000000000000000000000000000000000000000000000000000000'}\nsha256: '1111111111111111111111111111111111111111111111111111111111111111'",
                "recipes/a.yaml:3:9: key `sha256` = \"1111111111111111111111111111111111111111111111111111111111111111\": the source already gives its sha256 (at `source.sha256`); give it once",
            ),
            (
                "when: '>1'",
                "recipes/a.yaml:2:7: key `when`: `when` belongs in an entry of `versions`, not at the top level",
            ),
            (
                "versions:\n  - test: x",
                "recipes/a.yaml: key `versions[0].when`: missing: each `versions` entry says which versions it is for (`when: \">=1.2,<2\"`)",
            ),
            (
                "versions:\n  - when: ''",
                "recipes/a.yaml:3:11: key `versions[0].when` = \"\": empty; settings for every version go at the top level",
            ),
            (
                "versions:\n  - when: '>1'\n    package: b",
                "recipes/a.yaml: key `versions[0].package`: `package` is only allowed at the top level, not in a `versions` entry",
            ),
            (
                "versions:\n  - when: '>1'\n    extend: {test: x}",
                "recipes/a.yaml:4:13: key `versions[0].extend`: `extend` appends to lists; `test` is not a list (set it in the entry itself)",
            ),
            (
                "pre_build: ['echo {{ version']",
                "recipes/a.yaml:2:13: key `pre_build[0]`: template error: expected `or`, `and`, `not`, `<=`, `>=`, `<`, `>`, `==`, `!=`, `+`, `-`, `*`, `/`, `%`, a filter, or a variable end (`}}`) (at 1:16 in the value)",
            ),
            (
                "pre_build: ['echo ${#list[@]}']",
                "recipes/a.yaml:2:13: key `pre_build[0]`: template error: expected a comment end (`#}`) (at 1:17 in the value); `{#` starts a template comment: write `{{ \"{#\" }}` or wrap the text in {% raw %}...{% endraw %}",
            ),
        ];
        let mut mismatches = Vec::new();
        for (body, expected) in cases {
            let actual = error("a", &format!("package: a\n{body}\n"));
            if actual != expected {
                mismatches.push(format!("{body}\n  expected: {expected}\n  actual:   {actual}"));
            }
        }
        assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    }

    #[test]
    fn skip_imports_need_a_module_and_a_reason() {
        let recipe = parse(
            "a",
            "package: a\nskip_imports:\n  - {module: a.cuda, reason: needs a GPU}\n  - module: \"a.py{{ python | replace(from='.', to='') }}\"\n    reason: \"  not on {{ arch }}  \"\nimport_timeout: 600\nversions:\n  - when: '>=2'\n    import_timeout: \"{{ 100 * 9 }}\"\n    extend:\n      skip_imports: [{module: a.server, reason: needs a service}]\n  - when: '>=3'\n    skip_imports: []\n",
        )
        .unwrap();
        let old = resolve(&recipe, "1.0");
        assert_eq!(
            old.skip_imports,
            [
                SkipImport {
                    module: "a.cuda".into(),
                    reason: "needs a GPU".into()
                },
                SkipImport {
                    module: "a.py312".into(),
                    reason: "not on x86-64-v3".into()
                },
            ]
        );
        assert_eq!(old.import_timeout, Some(600));
        let new = resolve(&recipe, "2.0");
        let modules: Vec<&str> = new.skip_imports.iter().map(|skip| skip.module.as_str()).collect();
        assert_eq!(modules, ["a.cuda", "a.py312", "a.server"]);
        assert_eq!(new.import_timeout, Some(900));
        assert!(resolve(&recipe, "3.0").skip_imports.is_empty());
        assert_eq!(default_recipe("a").import_timeout, None);

        // An exemption covers the module and its submodules, not its namesakes.
        let skip = &old.skip_imports[0];
        assert!(skip.covers("a.cuda") && skip.covers("a.cuda._kernels"));
        assert!(!skip.covers("a.cudart") && !skip.covers("a"));

        let cases = [
            (
                "skip_imports: [{module: a.cuda}]",
                "recipes/a.yaml:2:16: key `skip_imports[0].reason`: missing: say why `a.cuda` is not imported (`reason: needs a GPU`)",
            ),
            (
                "skip_imports:\n  - module: a.cuda\n  - {module: a.gpu, reason: x}",
                "recipes/a.yaml:3:5: key `skip_imports[0].reason`: missing: say why `a.cuda` is not imported (`reason: needs a GPU`)",
            ),
            (
                "skip_imports: [{reason: needs a GPU}]",
                "recipes/a.yaml:2:16: key `skip_imports[0].module`: missing: name the module not to import (`module: pkg.cuda_ext`)",
            ),
            (
                "skip_imports: [{module: a.cuda, reason: \" \"}]",
                "recipes/a.yaml:2:41: key `skip_imports[0].reason` = \" \": empty: say why the module is not imported (`needs a GPU`)",
            ),
            (
                "skip_imports: [{module: a/cuda.so, reason: GPU}]",
                "recipes/a.yaml:2:25: key `skip_imports[0].module` = \"a/cuda.so\": not a Python module name (dotted identifiers, like `Bio` or `google.protobuf`)",
            ),
            (
                "skip_imports: [{module: \"{{ arch }}\", reason: GPU}]",
                "recipes/a.yaml:2:25: key `skip_imports[0].module` = \"x86-64-v3\": not a Python module name (dotted identifiers, like `Bio` or `google.protobuf`)",
            ),
            (
                "skip_imports: [{module: a.cuda, reason: GPU, why: x}]",
                "recipes/a.yaml:2:46: key `skip_imports[0].why`: unknown field `why`, expected one of module, reason",
            ),
            (
                "skip_imports: a.cuda",
                "recipes/a.yaml:2:15: key `skip_imports`: expected sequence start",
            ),
            (
                "import_timeout: 0",
                "recipes/a.yaml:2:17: key `import_timeout` = \"0\": a number of seconds from 1 to 86400 (a whole number, no unit)",
            ),
            (
                "import_timeout: 5m",
                "recipes/a.yaml:2:17: key `import_timeout` = \"5m\": a number of seconds from 1 to 86400 (a whole number, no unit)",
            ),
            (
                "versions:\n  - when: '>1'\n    extend: {import_timeout: 5}",
                "recipes/a.yaml:4:13: key `versions[0].extend`: `extend` appends to lists; `import_timeout` is not a list (set it in the entry itself)",
            ),
        ];
        let mut mismatches = Vec::new();
        for (body, expected) in cases {
            let actual = error("a", &format!("package: a\n{body}\n"));
            if actual != expected {
                mismatches.push(format!("{body}\n  expected: {expected}\n  actual:   {actual}"));
            }
        }
        assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    }

    #[test]
    fn the_package_and_the_file_name_agree() {
        assert_eq!(parse("pyyaml", "package: PyYAML\n").unwrap().name, "pyyaml");
        assert_eq!(parse("PyYAML", "package: pyyaml\n").unwrap().package, "pyyaml");
        assert_eq!(parse("Foo.Bar", "package: foo_bar\n").unwrap().name, "foo-bar");
        assert_eq!(
            error("yaml", "package: PyYAML\n"),
            "recipes/yaml.yaml:1:10: key `package` = \"PyYAML\": the file name `yaml` does not match the package (rename the file to `pyyaml.yaml`)"
        );
        assert_eq!(
            error("a", "import_names: [a]\n"),
            "recipes/a.yaml: key `package`: missing: every recipe names its PyPI package"
        );
        assert_eq!(
            error("a", "# nothing yet\n\n"),
            "recipes/a.yaml: key `package`: the recipe is empty; it needs at least `package`"
        );
        assert!(
            error("a", "package: 'a b'\n")
                .starts_with("recipes/a.yaml:1:10: key `package` = \"a b\": not a valid package name"),
            "{}",
            error("a", "package: 'a b'\n")
        );
    }

    #[test]
    fn templates_are_checked_when_loading_and_when_resolving() {
        // A variable used only on a branch the stand-in values do not take is found when a
        // version is resolved.
        let recipe = parse(
            "a",
            "package: a\nenvironment: {A: \"{% if python == '3.11' %}{{ nope }}{% endif %}\"}\n",
        )
        .unwrap();
        let error = recipe
            .resolve(&"1.0".parse().unwrap(), &context("1.0", "3.11"))
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "recipes/a.yaml:2:18: key `environment.A`: template error: Variable `nope` not found in context (the variables are: version, python, arch, march, cflags, layer)"
        );
        assert_eq!(error.key(), Some("environment.A"));
        assert_eq!(error.position(), Some(Position { line: 2, column: 18 }));
        assert_eq!(error.file(), Path::new("recipes/a.yaml"));

        // A rendered value is checked like a literal one, and reported where it was written.
        let recipe = parse(
            "a",
            "package: a\nversions:\n  - when: '>=2'\n    requirements: {add: [\"numpy>={{ version }}\"]}\n",
        )
        .unwrap();
        let resolved = recipe
            .resolve(&"2.5".parse().unwrap(), &context("2.5", "3.12"))
            .unwrap();
        assert_eq!(resolved.requirements.add, ["numpy>=2.5"]);
        let error = recipe
            .resolve(&"2.5".parse().unwrap(), &context("2.5-x?", "3.12"))
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("recipes/a.yaml:4:26: key `versions[0].requirements.add[0]` = \"numpy>=2.5-x?\": `numpy>=2.5-x?` is not a valid PEP 508 requirement"),
            "{error}"
        );
    }

    #[test]
    fn several_overrides_combine_and_are_checked_together() {
        // Each entry is fine with the top level; together they set sha256 twice.
        let text = "package: a\nversions:\n  - when: '>=1'\n    source: {url: 'https://x/a.tgz', sha256: '0000000000000000000000000000000000000000000000000000000000000000'}\n  - when: '>=2'\n    sha256: '1111111111111111111111111111111111111111111111111111111111111111'\n";
        let recipe = parse("a", text).unwrap();
        assert!(
            recipe
                .resolve(&"1.5".parse().unwrap(), &context("1.5", "3.12"))
                .is_ok()
        );
        let error = recipe
            .resolve(&"2.0".parse().unwrap(), &context("2.0", "3.12"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "recipes/a.yaml:6:13: key `versions[1].sha256` = \"1111111111111111111111111111111111111111111111111111111111111111\": the source already gives its sha256 (at `versions[0].source.sha256`); give it once"
        );
    }

    #[test]
    fn template_syntax_can_be_escaped() {
        let recipe = parse(
            "a",
            "package: a\npre_build:\n  - 'echo ${{ \"{#\" }}list[@]} {{ \"{{\" }}'\n  - '{% raw %}echo ${#list[@]} {{x}}{% endraw %}'\n",
        )
        .unwrap();
        assert_eq!(
            resolve(&recipe, "1").pre_build,
            ["echo ${#list[@]} {{", "echo ${#list[@]} {{x}}"]
        );
    }

    #[test]
    fn git_revs_pin_the_sources() {
        assert!(check_git_rev("0123456789abcdef0123456789abcdef01234567").is_ok());
        for tag in ["v1.2.3", "1.2.3", "20240101", "release/1.0", "refs/tags/v2"] {
            assert!(check_git_rev(tag).is_ok(), "{tag}");
        }
        for bad in [
            "main",
            "HEAD",
            "refs/heads/x",
            "abc1234",
            "v1..2",
            "-x",
            "a b",
            "x.lock",
            "",
        ] {
            assert!(check_git_rev(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn key_paths_are_found_from_positions() {
        let text = "package: a\nversions:\n  - when: x\n    requirements:\n      add: [a, b]\n  - {when: y, test: z}\n";
        assert_eq!(key_path_at(text, 1, 1, false).as_deref(), Some("package"));
        assert_eq!(key_path_at(text, 1, 10, false).as_deref(), Some("package"));
        assert_eq!(
            key_path_at(text, 3, 5, false).as_deref(),
            Some("versions[0].when")
        );
        assert_eq!(key_path_at(text, 3, 5, true).as_deref(), Some("versions[0]"));
        assert_eq!(
            key_path_at(text, 5, 16, false).as_deref(),
            Some("versions[0].requirements.add[1]")
        );
        assert_eq!(
            key_path_at(text, 6, 15, false).as_deref(),
            Some("versions[1].test")
        );
        assert_eq!(
            key_path_at(text, 6, 21, false).as_deref(),
            Some("versions[1].test")
        );
        assert_eq!(key_path_at(text, 1, 1, true).as_deref(), Some(""));
        assert_eq!(key_path_at(text, 9, 1, false), None);
    }

    #[test]
    fn a_recipe_shows_as_written() {
        let recipe = parse(
            "a",
            "package: a\ntest: \"{{ version }}\"\nsource: pypi\nversions:\n  - when: '<2'\n    extend: {build_dependencies: [x]}\n",
        )
        .unwrap();
        let value = serde_json::to_value(&recipe).unwrap();
        assert_eq!(
            value,
            serde_json::json!({
                "file": "recipes/a.yaml",
                "package": "a",
                "name": "a",
                "test": "{{ version }}",
                "source": "pypi",
                "versions": [{"when": "<2", "extend": {"build_dependencies": ["x"]}}],
            })
        );
    }

    #[test]
    fn directories_find_and_check_recipes() {
        let directory = tempfile::tempdir().unwrap();
        let root = directory.path();
        fs_err::create_dir_all(root.join(PATCHES_DIRECTORY)).unwrap();
        fs_err::write(root.join("patches/fix.patch"), "").unwrap();
        fs_err::write(
            root.join("PyYAML.yaml"),
            "package: PyYAML\npatches: [fix.patch]\n",
        )
        .unwrap();
        fs_err::write(root.join("py_yaml.yaml"), "package: py-yaml\n").unwrap();
        fs_err::write(root.join("README.md"), "not a recipe").unwrap();

        let found = find_recipe(root, "pyyaml").unwrap().unwrap();
        assert_eq!(found.package, "PyYAML");
        let resolved = found
            .resolve(&"6.0".parse().unwrap(), &context("6.0", "3.12"))
            .unwrap();
        assert_eq!(
            resolved.patches,
            [std::path::absolute(root.join("patches/fix.patch")).unwrap()]
        );
        assert!(find_recipe(root, "numpy").unwrap().is_none());
        assert!(find_recipe(&root.join("missing"), "numpy").is_err());

        let all = load_recipes(root).unwrap();
        assert_eq!(all.keys().collect::<Vec<_>>(), ["py-yaml", "pyyaml"]);

        // A second file for one package, a .yml file and a missing patch are each errors.
        fs_err::write(root.join("pyyaml.yaml"), "package: pyyaml\n").unwrap();
        fs_err::write(root.join("six.yml"), "package: six\n").unwrap();
        fs_err::write(root.join("zlib.yaml"), "package: zlib\npatches: [nope.patch]\n").unwrap();
        let errors: Vec<String> = load_recipes(root)
            .unwrap_err()
            .iter()
            .map(|error| error.to_string().replace(&root.display().to_string(), "DIR"))
            .collect();
        assert_eq!(
            errors,
            [
                "DIR/pyyaml.yaml: a second recipe for the package `pyyaml` (the first is DIR/PyYAML.yaml)",
                "DIR/six.yml: recipe files end in .yaml: rename it to six.yaml",
                "DIR/zlib.yaml:2:11: key `patches[0]` = \"nope.patch\": no such patch file: DIR/patches/nope.patch",
            ]
        );
        let error = find_recipe(root, "PYYAML")
            .unwrap_err()
            .to_string()
            .replace(&root.display().to_string(), "DIR");
        assert_eq!(
            error,
            "DIR/pyyaml.yaml: a second recipe for the package `pyyaml` (the first is DIR/PyYAML.yaml)"
        );
    }

    #[test]
    fn the_shipped_recipes_are_valid() {
        let directory = Path::new(env!("CARGO_MANIFEST_DIR")).join("recipes");
        let recipes = load_recipes(&directory).unwrap_or_else(|errors| {
            panic!(
                "{}",
                errors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        });
        for name in [
            "biopython",
            "pyyaml",
            "python-dateutil",
            "beautifulsoup4",
            "msgpack",
            "bitarray",
            "scikit-learn",
        ] {
            let recipe = &recipes[name];
            let resolved = recipe
                .resolve(&"1.0".parse().unwrap(), &context("1.0", "3.12"))
                .unwrap();
            assert!(!resolved.import_names.is_empty(), "{name}");
            assert!(resolved.test_snippet.is_some(), "{name}");
        }
        assert_eq!(resolve(&recipes["biopython"], "1.85").import_names, ["Bio"]);
        assert_eq!(resolve(&recipes["pyyaml"], "6.0.2").import_names, ["yaml"]);
        assert_eq!(resolve(&recipes["beautifulsoup4"], "4.13").import_names, ["bs4"]);
        let sklearn = &recipes["scikit-learn"];
        assert_eq!(
            resolve(sklearn, "1.6.1").build_dependencies,
            ["numpy", "scipy", "cython", "meson-python", "ninja"]
        );
        let old = resolve(sklearn, "1.4.2");
        assert_eq!(
            old.build_dependencies,
            ["numpy", "scipy", "cython", "setuptools", "wheel"]
        );
        assert_eq!(old.environment["SKLEARN_BUILD_PARALLEL"], "4");
        assert!(old.skips_python(&"3.13".parse().unwrap()));
        assert!(resolve(sklearn, "1.5.1").skips_python(&"3.13".parse().unwrap()));
        assert!(!resolve(sklearn, "1.5.2").skips_python(&"3.13".parse().unwrap()));
    }
}
