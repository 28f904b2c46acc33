//! Recipes (`recipes/<name>.yaml`): how to build one package, parsed raw (a YAML tree with
//! positions, walked along the recipe schema), templated (tera), and resolved per version
//! into [`ResolvedRecipe`].
//!
//! The flow follows the house rule "raw, then resolved": `RawRecipe` mirrors the YAML as
//! written (each level's keys checked against those allowed at its place); [`RecipeFile`] is
//! the checked form (every specifier, requirement, hash, Python version, patch name and
//! template validated, each value remembering its key path and line);
//! [`RecipeFile::resolve`] merges the per-version overrides that match a version and renders
//! the templates into a [`ResolvedRecipe`]. Every stage goes on past a mistake and collects
//! it, so that one check reports every error of a recipe, in line order ([`RecipeErrors`]).
//! The format is documented in `docs/recipes.md`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use pep440_rs::{Version, VersionSpecifiers};
use pep508_rs::PackageName;
use serde::Serialize;

use crate::layout::PythonVersion;
use crate::spec::normalize_name;
use crate::spec::requirements::{RequirementEdit, RequirementError};

mod check;
mod error;
mod file;
mod raw;
mod render;
mod version_template;

use check::*;
pub use error::*;
pub use file::*;
use raw::*;
use render::*;
pub use version_template::VersionTemplate;
// The importer (`crate::migrate`) checks the values it writes as recipes are checked.
pub(crate) use check::{Check, is_template};

/// Where the sources come from.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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

/// A source that names the version in its URL or `rev` (see [`RecipeFile::versioned_source`]),
/// with that template as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionedSource {
    /// An archive at a URL (`https://host/pkg-{{ version }}.tar.gz`).
    Url { url: VersionTemplate },
    /// A git repository at a `rev` (`v{{ version }}`).
    Git { rev: VersionTemplate },
}

/// Requirement changes to make to the built wheel (the `wheelwright manipulate` flags).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RequirementChanges {
    pub add: Vec<String>,
    pub remove: Vec<String>,
    /// `REQ` (same name) or `OLD->NEW`.
    pub update: Vec<String>,
}

/// A recipe's `resources`: what one of its builds may use in the nightly.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RecipeResources {
    pub cpus: Option<usize>,
    pub memory_mb: Option<u64>,
    pub time_minutes: Option<u64>,
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
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
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
    /// GPUs the smoke test needs (0: none); without one the wheel is built but not tested.
    #[serde(default)]
    pub test_gpus: u32,
    /// Python code run after the imports in the smoke test.
    pub test_snippet: Option<String>,
    /// A shell command run in the test environment instead of / after the snippet.
    pub test_command: Option<String>,
    /// Extra Python requirements installed into the build environment.
    pub build_dependencies: Vec<String>,
    /// Extra Python requirements installed into the test environment.
    pub test_dependencies: Vec<String>,
    /// Environment modules loaded for the build and the smoke test (`hdf5`, `cuda/12.6`),
    /// through the layout's module system.
    #[serde(default)]
    pub modules: Vec<String>,
    /// Environment modules loaded for the build only.
    #[serde(default)]
    pub build_modules: Vec<String>,
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
    /// What one build may use in the nightly (unset: the nightly configuration's).
    #[serde(default)]
    pub resources: RecipeResources,
    /// RPATH entries to add to the wheel's ELF files.
    pub rpath: Vec<String>,
    /// Python versions not to build for.
    pub skip_python: Vec<PythonVersion>,
    /// Whether builds differ per arch: None = decide from the source (compiled or not).
    pub arch_specific: Option<bool>,
    /// Take the binary wheel from an index instead of building (`wheelwright adopt`).
    #[serde(default)]
    pub adopt: Option<AdoptSettings>,
}

/// A recipe's `adopt:`: where the binary wheel comes from (the build's index unless
/// `find_links` or `url` says), and how its ELF members' search paths change.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AdoptSettings {
    /// A page (or a local directory) listing the wheels, searched instead of the index.
    pub find_links: Option<String>,
    /// The wheel itself (https, http or file URL).
    pub url: Option<String>,
    /// Directories appended to each ELF member's RPATH/RUNPATH.
    pub add_rpath: Vec<String>,
    /// Put `$ORIGIN` first in each ELF member's search path.
    pub add_origin: bool,
    /// Search path entries removed: those that start with one of these.
    pub remove_rpath_prefix: Vec<String>,
}

impl AdoptSettings {
    /// Whether the search paths of the wheel's ELF members are to change at all.
    pub fn edits_search_paths(&self) -> bool {
        self.add_origin || !self.add_rpath.is_empty() || !self.remove_rpath_prefix.is_empty()
    }
}

impl ResolvedRecipe {
    /// Whether the recipe says not to build for this Python version.
    pub fn skips_python(&self, python: &PythonVersion) -> bool {
        self.skip_python.contains(python)
    }
}

/// The directory, next to the recipe files, that holds the patch files recipes name.
pub const PATCHES_DIRECTORY: &str = "patches";

/// The most GPUs a smoke test may ask for.
pub const MAX_TEST_GPUS: u32 = 16;

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

/// Reads, parses and checks one recipe file, including that its literal patch names exist;
/// every error found, in line order.
pub fn load_recipe_file(path: &Path) -> Result<RecipeFile, RecipeErrors> {
    let text = fs_err::read_to_string(path).map_err(|error| RecipeError::Read {
        path: path.to_path_buf(),
        error,
    })?;
    let errors = Collected::default();
    let recipe = RecipeFile::read(&text, path, &errors);
    if let Some(recipe) = &recipe {
        recipe.collect_patch_errors(&errors);
    }
    errors.finish(recipe, path)
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
    pub result: Result<RecipeFile, RecipeErrors>,
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
            Err(RecipeErrors::from(RecipeError::Invalid {
                file: path.clone(),
                key: String::new(),
                position: None,
                value: None,
                message: format!(
                    "recipe files end in .{RECIPE_EXTENSION}: rename it to {stem}.{RECIPE_EXTENSION}"
                ),
            }))
        } else {
            load_recipe_file(&path)
        };
        let result = result.and_then(|recipe| match seen.get(&recipe.name) {
            Some(first) => Err(RecipeErrors::from(RecipeError::Duplicate {
                file: path.clone(),
                first: first.clone(),
                name: recipe.name.clone(),
            })),
            None => {
                seen.insert(recipe.name.clone(), path.clone());
                Ok(recipe)
            }
        });
        results.push(CheckedRecipe { path, result });
    }
    Ok(results)
}

/// Every recipe of a directory by normalised package name, or every error found (of every
/// file, each file's in line order).
pub fn load_recipes(directory: &Path) -> Result<BTreeMap<String, RecipeFile>, Vec<RecipeError>> {
    let results = check_recipes(directory).map_err(|error| vec![error])?;
    let mut recipes = BTreeMap::new();
    let mut errors = Vec::new();
    for checked in results {
        match checked.result {
            Ok(recipe) => {
                recipes.insert(recipe.name.clone(), recipe);
            }
            Err(found) => errors.extend(found),
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
pub fn find_recipe(directory: &Path, package: &str) -> Result<Option<RecipeFile>, RecipeErrors> {
    RecipeIndex::read(directory)?.load(package)
}

/// The recipe files of a directory by normalised package name, listed once (what a caller
/// that looks up many packages uses).
#[derive(Debug, Clone, Default)]
pub struct RecipeIndex {
    files: BTreeMap<String, Vec<PathBuf>>,
}

impl RecipeIndex {
    pub fn read(directory: &Path) -> Result<Self, RecipeError> {
        let mut files: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
        for path in recipe_paths(directory)? {
            let is_yaml = path
                .extension()
                .is_some_and(|extension| extension == RECIPE_EXTENSION);
            if !is_yaml {
                continue;
            }
            let stem = path
                .file_stem()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            files.entry(normalize_name(&stem)).or_default().push(path);
        }
        Ok(RecipeIndex { files })
    }

    /// The package names of the directory's recipe files, as their file names spell them,
    /// in file-name order (the files are not read).
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .files
            .values()
            .filter_map(|paths| paths.first())
            .filter_map(|path| path.file_stem())
            .map(|stem| stem.to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// The path of `package`'s recipe file, if it has one (the first, when there are two).
    pub fn path_of(&self, package: &str) -> Option<PathBuf> {
        self.files
            .get(&normalize_name(package))
            .and_then(|paths| paths.first().cloned())
    }

    /// The recipe file of `package`, loaded (with every error it has); two files for its name
    /// are an error.
    pub fn load(&self, package: &str) -> Result<Option<RecipeFile>, RecipeErrors> {
        let wanted = normalize_name(package);
        match self.files.get(&wanted).map(Vec::as_slice) {
            None | Some([]) => Ok(None),
            Some([path]) => load_recipe_file(path).map(Some),
            Some([first, second, ..]) => Err(RecipeErrors::from(RecipeError::Duplicate {
                file: second.clone(),
                first: first.clone(),
                name: wanted,
            })),
        }
    }
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

    fn parse(name: &str, text: &str) -> Result<RecipeFile, RecipeErrors> {
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
                "recipes/a.yaml:5:5: key `versions[0].importnames`: unknown key; did you mean `import_names`? (the keys here: when, import_names, skip_imports, import_timeout, test_gpus, test, test_command, build_dependencies, test_dependencies, modules, build_modules, environment, pre_download, post_download, pre_build, post_build, build_command, build_args, patches, source, sha256, package_suffix, requirements, resources, rpath, skip_python, arch_specific, adopt, extend)",
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
    fn every_mistake_is_reported_at_once_in_line_order() {
        // Found by different stages (keys, `when`, rendering), reported in line order.
        let text = "package: a
build_dependencies: [\"numpy >= \"]
pre_buld: [make]
versions:
  - when: \">=1.80,<\"
    package: a
    patchez: [fix.patch]
    import_names: [\"{{ pyton }}\"]
skip_python: [\"3.x\"]
";
        let errors = parse("a", text).unwrap_err();
        let found: Vec<(u32, u32, &str)> = errors
            .iter()
            .map(|error| {
                let position = error.position().unwrap();
                (position.line, position.column, error.key().unwrap())
            })
            .collect();
        assert_eq!(
            found,
            [
                (2, 22, "build_dependencies[0]"),
                (3, 1, "pre_buld"),
                (5, 11, "versions[0].when"),
                (6, 5, "versions[0].package"),
                (7, 5, "versions[0].patchez"),
                (8, 20, "versions[0].import_names[0]"),
                (9, 15, "skip_python[0]"),
            ]
        );
        let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert!(
            messages[1].contains("pre_buld`: unknown key; did you mean `pre_build`?"),
            "{}",
            messages[1]
        );
        assert!(messages[4].contains("did you mean `patches`?"), "{}", messages[4]);
        // The keys listed are those of a `versions` entry, and only those.
        for message in &messages[3..5] {
            let listed = message
                .split_once("(the keys here: ")
                .and_then(|(_, rest)| rest.strip_suffix(')'))
                .unwrap();
            let listed: Vec<&str> = listed.split(", ").collect();
            assert_eq!(listed, Level::Entry.keys());
            assert!(!listed.contains(&"package") && !listed.contains(&"versions"));
        }
        assert!(
            messages[5].contains("template error: Variable `pyton` not found"),
            "{}",
            messages[5]
        );
        let shown = errors.to_string();
        assert!(
            shown.starts_with(
                "7 errors in recipes/a.yaml:\n  recipes/a.yaml:2:22: key `build_dependencies[0]`"
            ),
            "{shown}"
        );
        assert_eq!(shown.lines().count(), 8);

        // Resolving for a version collects its errors too.
        let recipe = parse(
            "a",
            "package: a\nenvironment:\n  A: \"{% if python == '3.11' %}{{ nope }}{% endif %}\"\n  B: \"{% if python == '3.11' %}{{ nada }}{% endif %}\"\n",
        )
        .unwrap();
        let errors = recipe
            .resolve(&"1.0".parse().unwrap(), &context("1.0", "3.11"))
            .unwrap_err();
        let keys: Vec<_> = errors.iter().filter_map(RecipeError::key).collect();
        assert_eq!(keys, ["environment.A", "environment.B"]);
    }

    #[test]
    fn each_kind_of_mistake_is_refused() {
        let keys = |level: Level| level.keys().join(", ");
        let top_level_when = format!(
            "recipes/a.yaml:2:1: key `when`: `when` belongs in an entry of `versions`, not at the top level (the keys here: {})",
            keys(Level::Top)
        );
        let package_in_entry = format!(
            "recipes/a.yaml:4:5: key `versions[0].package`: `package` is only allowed at the top level, not in a `versions` entry (the keys here: {})",
            keys(Level::Entry)
        );
        let test_in_extend = format!(
            "recipes/a.yaml:4:14: key `versions[0].extend.test`: `extend` appends to lists; `test` is not a list: set it in the entry itself (the keys here: {})",
            keys(Level::Extend)
        );
        let cases = [
            (
                "arch_specific: maybe",
                "recipes/a.yaml:2:16: key `arch_specific`: expected true or false, not the text \"maybe\"",
            ),
            (
                "import_names: [x, y",
                "recipes/a.yaml:2:15: key `import_names`: unclosed bracket '['",
            ),
            (
                "import_names: x",
                "recipes/a.yaml:2:15: key `import_names`: expected a list (`[a, b]`, or one `- a` line per item), not the text \"x\"",
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
                "recipes/a.yaml:2:34: key `source.sha25`: unknown key; did you mean `sha256`? (the keys here: url, sha256, git, rev)",
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
            ("when: '>1'", top_level_when.as_str()),
            (
                "versions:\n  - test: x",
                "recipes/a.yaml:3:5: key `versions[0].when`: missing: each `versions` entry says which versions it is for (`when: \">=1.2,<2\"`)",
            ),
            (
                "versions:\n  - when: ''",
                "recipes/a.yaml:3:11: key `versions[0].when` = \"\": empty; settings for every version go at the top level",
            ),
            (
                "versions:\n  - when: '>1'\n    package: b",
                package_in_entry.as_str(),
            ),
            (
                "versions:\n  - when: '>1'\n    extend: {test: x}",
                test_in_extend.as_str(),
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
        assert_errors(&cases);
    }

    /// Each recipe body gives exactly its expected error; every mismatch is listed.
    fn assert_errors(cases: &[(&str, &str)]) {
        let mut mismatches = Vec::new();
        for (body, expected) in cases {
            let actual = error("a", &format!("package: a\n{body}\n"));
            if actual != *expected {
                mismatches.push(format!("{body}\n  expected: {expected}\n  actual:   {actual}"));
            }
        }
        assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    }

    /// The error of recipe `a` with `text`: when it is loaded, else when it is resolved for 1.0.
    fn error_at_load_or_resolve(text: &str) -> String {
        parse("a", text).map_or_else(
            |error| error.to_string(),
            |recipe| {
                recipe
                    .resolve(&"1.0".parse().unwrap(), &TemplateContext::sample())
                    .unwrap_err()
                    .to_string()
            },
        )
    }

    #[test]
    fn adopt_is_read_overridden_per_version_and_checked() {
        let recipe = parse(
            "a",
            "package: a\nadopt:\n  add_rpath: [/opt/cuda/lib64]\n  remove_rpath_prefix: [\"$ORIGIN/../nvidia\"]\nversions:\n  - when: '>=2'\n    adopt: {url: \"https://host/a-{{ version }}-py3-none-any.whl\", add_origin: true}\n",
        )
        .unwrap();
        let old = resolve(&recipe, "1.0").adopt.unwrap();
        assert_eq!(
            old,
            AdoptSettings {
                find_links: None,
                url: None,
                add_rpath: vec!["/opt/cuda/lib64".into()],
                add_origin: false,
                remove_rpath_prefix: vec!["$ORIGIN/../nvidia".into()],
            }
        );
        assert!(old.edits_search_paths());
        let new = resolve(&recipe, "2.0").adopt.unwrap();
        assert_eq!(new.url.as_deref(), Some("https://host/a-2.0-py3-none-any.whl"));
        assert!(new.add_origin);
        assert_eq!(new.add_rpath, ["/opt/cuda/lib64"]);
        assert!(default_recipe("a").adopt.is_none());
        assert!(
            parse("a", "package: a\nadopt: {}\n")
                .map(|recipe| resolve(&recipe, "1").adopt.is_some())
                .unwrap()
        );
        let error = error_at_load_or_resolve("package: a\nadopt:\n  add_rpath: [\"/a:/b\"]\n");
        assert!(error.contains("adopt.add_rpath"), "{error}");
        let error = parse("a", "package: a\nadopt:\n  rpath: [x]\n")
            .unwrap_err()
            .to_string();
        assert!(error.contains("rpath"), "{error}");
    }

    #[test]
    fn resources_and_gpus_are_read_and_checked() {
        let recipe = parse(
            "a",
            "package: a\ntest_gpus: 1\nresources:\n  cpus: 4\n  memory: 8G\n  time: 1h30m\nversions:\n  - when: '>=2'\n    resources: {time: \"3h\"}\n",
        )
        .unwrap();
        let old = resolve(&recipe, "1.0");
        assert_eq!(old.test_gpus, 1);
        assert_eq!(
            old.resources,
            RecipeResources {
                cpus: Some(4),
                memory_mb: Some(8192),
                time_minutes: Some(90)
            }
        );
        assert_eq!(resolve(&recipe, "2.0").resources.time_minutes, Some(180));
        assert_eq!(default_recipe("a").resources, RecipeResources::default());
        // Checked when the file is loaded: the key path and the line are named.
        let error = parse("a", "package: a\nresources:\n  memory: lots\n")
            .unwrap_err()
            .to_string();
        assert!(error.contains("3:11: key `resources.memory`"), "{error}");
        let error = error_at_load_or_resolve("package: a\ntest_gpus: 99\n");
        assert!(error.contains("a number of GPUs from 0 to 16"), "{error}");
    }

    #[test]
    fn skip_imports_need_a_module_and_a_reason() {
        let timeout_in_extend = format!(
            "recipes/a.yaml:4:14: key `versions[0].extend.import_timeout`: `extend` appends to lists; `import_timeout` is not a list: set it in the entry itself (the keys here: {})",
            Level::Extend.keys().join(", ")
        );
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
                "recipes/a.yaml:2:46: key `skip_imports[0].why`: unknown key (the keys here: module, reason)",
            ),
            (
                "skip_imports: a.cuda",
                "recipes/a.yaml:2:15: key `skip_imports`: expected a list (`[a, b]`, or one `- a` line per item), not the text \"a.cuda\"",
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
                timeout_in_extend.as_str(),
            ),
        ];
        assert_errors(&cases);
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
        let [error] = error.errors() else {
            panic!("one error: {error}")
        };
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
    fn template_items_that_render_to_nothing_are_left_out() {
        let recipe = parse(
            "a",
            "package: a\nbuild_modules:\n  - cmake\n  - \"{% if layer == 'gentoo2020' %}gcc/9.3.0{% endif %}\"\nskip_python: [\"{% if layer == 'gentoo2020' %}3.13{% endif %}\"]\n",
        )
        .unwrap();
        let new = resolve(&recipe, "1");
        assert_eq!(new.build_modules, ["cmake"]);
        assert!(new.skip_python.is_empty());
        let old = recipe
            .resolve(
                &Version::from_str("1").unwrap(),
                &TemplateContext {
                    layer: "gentoo2020".into(),
                    ..context("1", "3.12")
                },
            )
            .unwrap();
        assert_eq!(old.build_modules, ["cmake", "gcc/9.3.0"]);
        assert_eq!(old.skip_python.len(), 1);
        // A literal empty item is still a mistake.
        assert!(parse("a", "package: a\nbuild_modules: [\"\"]\n").is_err());
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
    fn a_source_named_by_the_version_waits_for_the_version() {
        let recipe = parse(
            "a",
            "package: a\nsource: {git: 'https://x/a', rev: 'v{{ version }}'}\nversions:\n  - when: '<1'\n    source: {url: 'https://x/a-{{ version }}.tar.gz'}\n  - when: '<0.5'\n    source: pypi\n",
        )
        .unwrap();
        // Resolved before the version is known, the rev (and a URL) is left empty, never `v`.
        let unversioned = recipe.resolve_unversioned(&context("", "3.12")).unwrap();
        assert_eq!(
            unversioned.source,
            Source::Git {
                url: "https://x/a".to_string(),
                rev: String::new()
            }
        );
        assert_eq!(
            resolve(&recipe, "2.0").source,
            Source::Git {
                url: "https://x/a".to_string(),
                rev: "v2.0".to_string()
            }
        );
        let git = Some(VersionedSource::Git {
            rev: VersionTemplate::new("v{{ version }}"),
        });
        assert_eq!(recipe.versioned_source(None), git);
        assert_eq!(recipe.versioned_source(Some(&"2.0".parse().unwrap())), git);
        assert_eq!(
            recipe.versioned_source(Some(&"0.7".parse().unwrap())),
            Some(VersionedSource::Url {
                url: VersionTemplate::new("https://x/a-{{ version }}.tar.gz")
            })
        );
        assert_eq!(recipe.versioned_source(Some(&"0.1".parse().unwrap())), None);
        assert!(recipe.overrides_source());
        let fixed = parse("b", "package: b\nsource: {git: 'https://x/b', rev: v1.0}\n").unwrap();
        assert_eq!(fixed.versioned_source(None), None);
        assert!(!fixed.overrides_source());
        assert_eq!(
            fixed.resolve_unversioned(&context("", "3.12")).unwrap().source,
            Source::Git {
                url: "https://x/b".to_string(),
                rev: "v1.0".to_string()
            }
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
