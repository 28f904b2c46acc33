//! What was asked: the package, versions, Pythons, archs, layer and directories of a build,
//! and where its recipe comes from (a recipe file, or the defaults for a package without one).

use std::path::{Path, PathBuf};

use crate::layout::{Layout, PythonVersion};
use crate::recipe::{RecipeFile, ResolvedRecipe, TemplateContext};

use super::BuildError;

/// What to build.
#[derive(Debug, Clone)]
pub struct BuildRequest {
    pub package: String,
    pub version: Option<String>,
    pub pythons: Vec<PythonVersion>,
    pub archs: Vec<String>,
    pub layer: String,
    /// Where finished wheels are staged.
    pub output: PathBuf,
    /// Build directories and logs.
    pub work: PathBuf,
    /// Cached sources.
    pub cache: PathBuf,
    pub keep_build_dir: bool,
    /// Let the smoke test fetch dependencies the wheelhouse lacks from PyPI (`--no-pypi`
    /// turns it off).
    pub test_dependencies_from_pypi: bool,
    /// The CPU budget: cells built at once (each Python's archs one after the other), and
    /// the compiler parallelism they share.
    pub jobs: usize,
    /// Build the dependencies that the staging directory and the wheelhouse lack first.
    pub recursive: bool,
    /// Where recipes are looked up for dependencies built with `recursive`.
    pub recipes: Option<PathBuf>,
    /// A version specifier (`>=1.21,<3`) when `version` is not pinned: the newest match.
    pub requirement: Option<String>,
    /// The packages whose build asked for this one (to stop on cycles).
    pub ancestors: Vec<String>,
    /// The simple index for sources and build environments (`None`: PyPI).
    pub index_url: Option<String>,
    /// Adopt the package's binary wheel instead of building it (`wheelwright adopt`): these
    /// settings go over the recipe's `adopt` (lists appended, places replaced).
    pub adopt: Option<crate::recipe::AdoptSettings>,
}

impl BuildRequest {
    /// The exact version asked for, if one was (`--version 1.85`, not a specifier set).
    pub fn exact_version(&self) -> Option<pep440_rs::Version> {
        self.version.as_deref().and_then(|text| text.trim().parse().ok())
    }
}

/// Where a package's recipe comes from: its file in the recipes directory, or the defaults.
#[derive(Debug, Clone)]
pub struct Recipes {
    package: String,
    file: Option<RecipeFile>,
}

impl Recipes {
    /// The recipe of `package` in `directory` (the defaults when there is none, or no
    /// directory).
    pub fn find(directory: Option<&Path>, package: &str) -> Result<Self, BuildError> {
        let file = match directory {
            Some(directory) if directory.is_dir() => crate::recipe::find_recipe(directory, package)?,
            _ => None,
        };
        Ok(Recipes {
            package: package.to_string(),
            file,
        })
    }

    /// The recipe of `package` from an index of recipe files (the defaults when it has none).
    pub fn from_index(index: &crate::recipe::RecipeIndex, package: &str) -> Result<Self, BuildError> {
        Ok(Recipes {
            package: package.to_string(),
            file: index.load(package)?,
        })
    }

    /// A package's recipe from a file already loaded (or the defaults).
    pub fn new(package: &str, file: Option<RecipeFile>) -> Self {
        Recipes {
            package: package.to_string(),
            file,
        }
    }

    /// The same recipe with the index's sdist as its source (see
    /// [`RecipeFile::with_index_source`]).
    pub fn with_index_source(&self) -> Self {
        Recipes {
            package: self.package.clone(),
            file: self.file.as_ref().map(RecipeFile::with_index_source),
        }
    }

    /// The recipe file, when the package has one.
    pub fn file(&self) -> Option<&RecipeFile> {
        self.file.as_ref()
    }

    /// The recipe for `version` (every `versions` entry that contains it applied) and the
    /// cell's template values; `None` applies no `versions` entry (the version is not known
    /// yet: what the recipe says for every version).
    pub fn resolve(
        &self,
        version: Option<&pep440_rs::Version>,
        context: &TemplateContext,
    ) -> Result<ResolvedRecipe, BuildError> {
        match &self.file {
            Some(file) => Ok(match version {
                Some(version) => file.resolve(version, context)?,
                None => file.resolve_unversioned(context)?,
            }),
            None => Ok(crate::recipe::default_recipe(&self.package)),
        }
    }
}

/// The template values of a cell: its version, Python, arch (with the arch's flags from the
/// layout) and layer.
pub fn template_context(
    layout: &Layout,
    layer: &str,
    version: Option<&pep440_rs::Version>,
    python: PythonVersion,
    arch: &str,
) -> Result<TemplateContext, BuildError> {
    let arch = layout.archs.get(arch).ok_or_else(|| BuildError::UnknownArch {
        layout: layout.source.clone(),
        arch: arch.to_string(),
    })?;
    Ok(TemplateContext {
        version: version.map(ToString::to_string).unwrap_or_default(),
        python: python.to_string(),
        arch: arch.name.clone(),
        march: arch.march.clone(),
        cflags: arch.cflags.clone(),
        layer: layer.to_string(),
    })
}
