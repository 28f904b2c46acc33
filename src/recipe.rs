//! Recipes (`recipes/<name>.yaml`): how to build one package, parsed raw (serde-saphyr),
//! templated (tera), and resolved per version into [`ResolvedRecipe`].

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::layout::PythonVersion;

/// Where the sources come from.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Source {
    /// The sdist from PyPI (`pip download --no-binary :all:`); a pure wheel if that is all
    /// there is.
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
