//! The plan of a package's build: its version (asked, or the newest the recipe can build), its
//! source fetched once, and the matrix of cells, each resolved once from the recipe and
//! complete enough for another process to run it (`wheelbuild --cell FILE`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::layout::{Layout, PythonVersion};
use crate::recipe::{RecipeFile, ResolvedRecipe, Source};
use crate::tools::{Invocation, run_shell};

use super::BuildError;
use super::request::{BuildRequest, Recipes, template_context};
pub use super::source::ChosenVersion;
use super::source::{self, FetchedSource};

/// One cell of the matrix: everything needed to build and test one wheel, here or in another
/// process (it is written as JSON for `wheelbuild --cell`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Cell {
    pub package: String,
    /// The version being built; empty in a dry run that was given none (the newest then).
    pub version: String,
    pub python: PythonVersion,
    pub arch: String,
    pub layer: String,
    /// The base interpreter, by path.
    pub interpreter: PathBuf,
    /// The layout the cell was planned with (its path, or the embedded name).
    pub layout: String,
    /// The recipe resolved for this cell's version, Python, arch and layer.
    pub recipe: ResolvedRecipe,
    /// The fetched source (`None` in a dry run).
    pub source: Option<FetchedSource>,
    /// Where a wheel that passed its smoke test is staged (failed ones go to its `failed/`).
    pub output: PathBuf,
    /// The cell's own directory: source tree, log, the wheel until it is staged.
    pub directory: PathBuf,
    /// The build environment, shared by the cells of one Python built by one process.
    pub build_environment: PathBuf,
    /// The cell's share of the CPU budget (compiler parallelism).
    pub jobs: usize,
    /// The simple index for build and test requirements (`None`: PyPI).
    pub index_url: Option<String>,
    /// Whether the smoke test may take dependencies the wheelhouse lacks from the index.
    pub test_dependencies_from_pypi: bool,
}

impl Cell {
    /// `3.12 x86-64-v3`.
    pub fn label(&self) -> String {
        format!("{} {}", self.python, self.arch)
    }

    /// The cell's build log.
    pub fn log(&self) -> PathBuf {
        self.directory.join("build.log")
    }

    /// Reads a cell file written by [`Cell::write`].
    pub fn read(file: &Path) -> Result<Cell, BuildError> {
        let text = fs_err::read_to_string(file)?;
        serde_json::from_str(&text).map_err(|error| BuildError::CellFile {
            file: file.to_path_buf(),
            problem: error.to_string(),
        })
    }

    /// Writes the cell as JSON, atomically.
    pub fn write(&self, file: &Path) -> Result<(), BuildError> {
        Ok(crate::atomic::write_json(file, self)?)
    }
}

/// A package's plan: its version and the cells to build, in build order (arch by arch).
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub package: String,
    /// `None` in a dry run given no version.
    pub version: Option<String>,
    /// The recipe file, when the package has one.
    pub recipe: Option<PathBuf>,
    pub cells: Vec<Cell>,
    /// Decisions worth telling (a recipe that is not arch-specific).
    pub notes: Vec<String>,
}

/// What planning needs besides the request.
pub struct PlanInputs<'a> {
    pub request: &'a BuildRequest,
    pub layout: &'a Layout,
    pub recipes: &'a Recipes,
    pub interpreters: &'a BTreeMap<PythonVersion, PathBuf>,
    /// The version, once known (`None`: a dry run given none).
    pub version: Option<&'a pep440_rs::Version>,
    pub source: Option<&'a FetchedSource>,
}

/// The base interpreter of every Python of the request, by path.
pub fn find_interpreters(pythons: &[PythonVersion]) -> Result<BTreeMap<PythonVersion, PathBuf>, BuildError> {
    pythons
        .iter()
        .map(|version| {
            crate::python::find_python(*version)
                .map(|path| (*version, path))
                .map_err(BuildError::from)
        })
        .collect()
}

/// The cells of a package: every (arch, Python) pair whose recipe does not skip that Python;
/// generic only when the recipe says the package is not arch-specific. Each cell's recipe is
/// resolved here, once.
pub fn plan_cells(inputs: &PlanInputs) -> Result<Plan, BuildError> {
    let request = inputs.request;
    let mut notes = Vec::new();
    let mut archs = request.archs.clone();
    if let Some(python) = request.pythons.first()
        && let Some(arch) = archs.first()
    {
        let first = resolve(inputs, *python, arch)?;
        if first.adopt.is_some() && archs.iter().any(|arch| arch != "generic") {
            notes.push(format!(
                "{} is adopted (a binary wheel, the same for every arch): generic only",
                request.package
            ));
            archs = vec!["generic".to_string()];
        } else if first.arch_specific == Some(false) && archs.iter().any(|arch| arch != "generic") {
            notes.push(format!(
                "the recipe says {} is not arch-specific: building for generic only",
                request.package
            ));
            archs = vec!["generic".to_string()];
        }
    }
    let mut cells = Vec::new();
    for arch in &archs {
        for python in &request.pythons {
            let recipe = resolve(inputs, *python, arch)?;
            if recipe.skips_python(python) {
                continue;
            }
            cells.push(cell(inputs, *python, arch, recipe));
        }
    }
    Ok(Plan {
        package: request.package.clone(),
        version: inputs.version.map(ToString::to_string),
        recipe: inputs.recipes.file().map(|file| file.file.clone()),
        cells,
        notes,
    })
}

/// The recipe of one cell (with the request's `adopt` over the recipe's).
fn resolve(inputs: &PlanInputs, python: PythonVersion, arch: &str) -> Result<ResolvedRecipe, BuildError> {
    let context = template_context(inputs.layout, &inputs.request.layer, inputs.version, python, arch)?;
    let mut recipe = inputs.recipes.resolve(inputs.version, &context)?;
    with_adopt_request(&mut recipe, inputs.request);
    Ok(recipe)
}

/// The request's `adopt` settings (`wheelwright adopt` flags) over the recipe's: its places
/// replace the recipe's, its search path edits are added to them.
fn with_adopt_request(recipe: &mut ResolvedRecipe, request: &BuildRequest) {
    let Some(asked) = &request.adopt else {
        return;
    };
    let adopt = recipe.adopt.get_or_insert_with(Default::default);
    if asked.find_links.is_some() || asked.url.is_some() {
        adopt.find_links = asked.find_links.clone();
        adopt.url = asked.url.clone();
    }
    for entry in &asked.add_rpath {
        if !adopt.add_rpath.contains(entry) {
            adopt.add_rpath.push(entry.clone());
        }
    }
    adopt.add_origin |= asked.add_origin;
    for prefix in &asked.remove_rpath_prefix {
        if !adopt.remove_rpath_prefix.contains(prefix) {
            adopt.remove_rpath_prefix.push(prefix.clone());
        }
    }
}

fn cell(inputs: &PlanInputs, python: PythonVersion, arch: &str, recipe: ResolvedRecipe) -> Cell {
    let request = inputs.request;
    Cell {
        package: request.package.clone(),
        version: inputs.version.map(ToString::to_string).unwrap_or_default(),
        python,
        arch: arch.to_string(),
        layer: request.layer.clone(),
        interpreter: inputs.interpreters.get(&python).cloned().unwrap_or_default(),
        layout: inputs.layout.source.clone(),
        recipe,
        source: inputs.source.cloned(),
        output: request.output.clone(),
        directory: request.work.join(format!("py{python}-{arch}")),
        build_environment: request.work.join(format!("build-env-py{python}")),
        jobs: request.jobs,
        index_url: request.index_url.clone(),
        test_dependencies_from_pypi: request.test_dependencies_from_pypi,
    }
}

/// The version to build, before anything is fetched: the one asked for, else the newest the
/// recipe can build (within `--version`'s specifier set, or the requirement of a dependency):
/// from the index, the newest with an sdist (or only a pure wheel) whose `Requires-Python`
/// admits a Python asked for; for a source whose git `rev` or URL names the version (at the
/// top level, or in the `versions` entry of a version the index lists), the newest the index
/// lists in any form, or, for a git source of a project not on the index, the newest of the
/// repository's tags read through the `rev` template. The choice names the newer versions
/// passed over and why. `None` for a source at a fixed URL or `rev` given no version: its
/// file tells.
pub fn choose_version(
    request: &BuildRequest,
    layout: &Layout,
    recipes: &Recipes,
) -> Result<Option<ChosenVersion>, BuildError> {
    if let Some(version) = request.exact_version() {
        return Ok(Some(ChosenVersion::asked(version)));
    }
    let unversioned = unversioned_recipe(request, layout, recipes)?;
    if let Some(settings) = &unversioned.adopt {
        let fetch = adopt_fetch(request, layout, settings)?;
        let version = super::adopt::choose_adopted_version(&fetch, &request.pythons)?;
        return Ok(Some(ChosenVersion {
            reason: format!("{version} is the newest version with wheels to adopt"),
            version,
            skipped: Vec::new(),
            note: None,
        }));
    }
    let invocation = Invocation::default();
    let file = recipes.file();
    // Only a source named by the version may run git (`ls-remote`) to choose.
    let log = if unversioned.source != Source::Pypi || file.is_some_and(RecipeFile::overrides_source) {
        choice_log(request)?
    } else {
        request.work.clone()
    };
    let asked = fetch_request(request, &unversioned, &log, &invocation);
    match &unversioned.source {
        Source::Git { .. } | Source::Url { .. } => {
            match file.and_then(|file| file.versioned_source(None)) {
                Some(versioned) => Ok(Some(source::choose_source_version(&asked, &versioned)?)),
                // At a fixed `rev` or URL: the file tells the version.
                None => Ok(None),
            }
        }
        Source::Pypi => {
            let from_sdists = source::choose_version(&asked);
            // A `versions` entry may build newer versions from git or a URL named by the
            // version: then a version the index lists without an sdist can be built.
            let Some(file) = file.filter(|file| file.overrides_source()) else {
                return Ok(Some(from_sdists?));
            };
            let listed = source::listed_version(&asked, &|version| file.versioned_source(Some(version)))
                .ok()
                .flatten()
                .filter(|listed| {
                    from_sdists
                        .as_ref()
                        .map_or(true, |chosen| listed.version > chosen.version)
                });
            match listed {
                Some(listed) => Ok(Some(listed)),
                None => Ok(Some(from_sdists?)),
            }
        }
    }
}

/// Where choosing a version logs what it runs (`git ls-remote`): the build's `fetch.log`, or,
/// planning without a work directory (the nightly), `<cache>/logs/choose-version-<name>.log`,
/// started afresh each time.
fn choice_log(request: &BuildRequest) -> Result<PathBuf, BuildError> {
    if !request.work.as_os_str().is_empty() {
        fs_err::create_dir_all(&request.work)?;
        return Ok(request.work.join("fetch.log"));
    }
    let directory = request.cache.join("logs");
    fs_err::create_dir_all(&directory)?;
    let log = directory.join(format!(
        "choose-version-{}.log",
        crate::spec::normalize_name(&request.package)
    ));
    if log.exists() {
        fs_err::remove_file(&log)?;
    }
    Ok(log)
}

fn parse_version(text: &str) -> Result<pep440_rs::Version, BuildError> {
    text.parse()
        .map_err(|error: pep440_rs::VersionParseError| BuildError::BadVersion {
            version: text.to_string(),
            reason: error.to_string(),
        })
}

/// The first Python and arch of the request: the context of the package-level recipe.
fn first_cell(request: &BuildRequest) -> Result<(PythonVersion, String), BuildError> {
    let python = *request.pythons.first().ok_or(BuildError::NoPython)?;
    let arch = request
        .archs
        .first()
        .cloned()
        .unwrap_or_else(|| "generic".to_string());
    Ok((python, arch))
}

fn fetch_request<'a>(
    request: &'a BuildRequest,
    recipe: &'a ResolvedRecipe,
    log: &'a Path,
    invocation: &'a Invocation,
) -> source::FetchRequest<'a> {
    source::FetchRequest {
        package: &request.package,
        version: request.version.as_deref().or(request.requirement.as_deref()),
        source: &recipe.source,
        index_url: request.index_url.as_deref(),
        pythons: &request.pythons,
        sha256: recipe.sha256.as_deref(),
        cache: &request.cache,
        work: &request.work,
        log,
        invocation,
    }
}

/// The plan of a build and its source, fetched once: the version first (asked, or the newest
/// the index offers), then each cell's recipe resolved for it, then the source fetched with
/// the first cell's recipe (its `source`, `sha256` and download commands). A source at a URL
/// or in git given no version is fetched first with the recipe as it stands for every
/// version; the version its file carries then decides the cells' recipes (and a `sha256` they
/// pin is checked).
pub fn prepare(
    request: &BuildRequest,
    layout: &Layout,
    recipes: &Recipes,
    interpreters: &BTreeMap<PythonVersion, PathBuf>,
) -> Result<(Plan, FetchedSource), BuildError> {
    let plan_for = |version: &pep440_rs::Version| {
        plan_of_version(&PlanInputs {
            request,
            layout,
            recipes,
            interpreters,
            version: Some(version),
            source: None,
        })
    };
    if let Some(adopted) = prepare_adoption(request, layout, recipes, interpreters)? {
        return Ok(adopted);
    }
    let mut plan = match choose_version(request, layout, recipes)? {
        Some(chosen) => {
            let version = chosen.version;
            let mut plan = plan_for(&version)?;
            if let Some(note) = chosen.note {
                tracing::info!("{note}");
                plan.notes.push(note);
            }
            let fetched = fetch(request, &plan.cells[0].recipe, Some(&version))?;
            let found = version_of(&fetched, Some(&version), request)?;
            if found != version {
                tracing::warn!(
                    "{}: `{}` says it is version {found}, not {version}",
                    request.package,
                    fetched.path.display()
                );
            }
            (with_source(plan, &fetched), fetched)
        }
        None => {
            let (python, arch) = first_cell(request)?;
            let context = template_context(layout, &request.layer, None, python, &arch)?;
            let fetched = fetch(request, &recipes.resolve(None, &context)?, None)?;
            let version = version_of(&fetched, None, request)?;
            let plan = plan_for(&version)?;
            source::verify_pin(&fetched, plan.cells[0].recipe.sha256.as_deref())?;
            (with_source(plan, &fetched), fetched)
        }
    };
    plan.0.version = plan.0.cells.first().map(|cell| cell.version.clone());
    Ok(plan)
}

/// Where a cell's wheel is staged: the output directory for generic builds, a subdirectory
/// per arch otherwise (the wheels of different archs share a file name).
pub(super) fn staging_dir(output: &Path, arch: &str) -> PathBuf {
    if arch == "generic" {
        output.to_path_buf()
    } else {
        output.join(arch)
    }
}

/// The stack a cell's build (`build`: with the recipe's `build_modules` after its `modules`)
/// or smoke test runs in, entered once per process; a module that cannot be loaded names the
/// recipe file.
pub fn cell_stack(
    layout: &Layout,
    cell: &Cell,
    build: bool,
) -> Result<Option<std::sync::Arc<crate::stack::Stack>>, BuildError> {
    let mut modules = cell.recipe.modules.clone();
    if build {
        modules.extend(cell.recipe.build_modules.iter().cloned());
    }
    let request = crate::stack::StackRequest {
        layer: cell.layer.clone(),
        arch: cell.arch.clone(),
        modules,
    };
    crate::stack::enter(layout, &request).map_err(|error| BuildError::Stack {
        recipe: cell.recipe.file.clone(),
        error: Box::new(error),
    })
}

/// Enters the stack of every cell's build and smoke test (each once per process) before
/// anything is fetched or built: a layer that cannot be entered or a module that cannot be
/// loaded stops the build here, named.
pub fn enter_stacks(layout: &Layout, plan: &Plan) -> Result<(), BuildError> {
    for cell in &plan.cells {
        for build in [true, false] {
            cell_stack(layout, cell, build)?;
        }
    }
    Ok(())
}

/// The cells of a known version, at least one, each cell's stack entered.
fn plan_of_version(inputs: &PlanInputs) -> Result<Plan, BuildError> {
    let plan = plan_cells(inputs)?;
    if plan.cells.is_empty() {
        return Err(BuildError::NoCell {
            package: inputs.request.package.clone(),
            version: inputs.version.map(ToString::to_string).unwrap_or_default(),
        });
    }
    enter_stacks(inputs.layout, &plan)?;
    Ok(plan)
}

/// The recipe as it stands for every version (no `versions` entry applied) for the request's
/// first cell, the request's `adopt` over it.
fn unversioned_recipe(
    request: &BuildRequest,
    layout: &Layout,
    recipes: &Recipes,
) -> Result<ResolvedRecipe, BuildError> {
    let (python, arch) = first_cell(request)?;
    let context = template_context(layout, &request.layer, None, python, &arch)?;
    let mut unversioned = recipes.resolve(None, &context)?;
    with_adopt_request(&mut unversioned, request);
    Ok(unversioned)
}

/// What fetching an adoption's wheels needs: the request's version and places, the layer's
/// glibc.
fn adopt_fetch<'a>(
    request: &'a BuildRequest,
    layout: &'a Layout,
    settings: &'a crate::recipe::AdoptSettings,
) -> Result<super::adopt::AdoptFetch<'a>, BuildError> {
    let layer = layout
        .layers
        .get(&request.layer)
        .ok_or_else(|| BuildError::UnknownLayer {
            layout: layout.source.clone(),
            layer: request.layer.clone(),
        })?;
    Ok(super::adopt::AdoptFetch {
        package: &request.package,
        version: request.version.as_deref().or(request.requirement.as_deref()),
        settings,
        index_url: request.index_url.as_deref(),
        glibc: &layer.glibc,
        cache: &request.cache,
    })
}

/// The plan of an adoption (the recipe, or the request, says `adopt`): the version and one
/// binary wheel per Python from the index (or the recipe's find-links or URL), each cell with
/// its own; `None` for a build.
fn prepare_adoption(
    request: &BuildRequest,
    layout: &Layout,
    recipes: &Recipes,
    interpreters: &BTreeMap<PythonVersion, PathBuf>,
) -> Result<Option<(Plan, FetchedSource)>, BuildError> {
    let unversioned = unversioned_recipe(request, layout, recipes)?;
    let Some(settings) = unversioned.adopt.clone() else {
        return Ok(None);
    };
    let fetch = adopt_fetch(request, layout, &settings)?;
    let pythons: Vec<PythonVersion> = request
        .pythons
        .iter()
        .filter(|python| !unversioned.skips_python(python))
        .copied()
        .collect();
    let wheels = super::adopt::fetch_wheels(&fetch, &pythons)?;
    let first = wheels.first().cloned().ok_or(BuildError::NoPython)?;
    let version = parse_version(first.version.as_deref().unwrap_or_default())?;
    let mut plan = plan_of_version(&PlanInputs {
        request,
        layout,
        recipes,
        interpreters,
        version: Some(&version),
        source: None,
    })?;
    for cell in &mut plan.cells {
        let index = pythons.iter().position(|python| *python == cell.python);
        cell.source = index.and_then(|index| wheels.get(index)).cloned();
    }
    plan.version = Some(version.to_string());
    Ok(Some((plan, first)))
}

/// The plan with the fetched source in every cell.
fn with_source(mut plan: Plan, fetched: &FetchedSource) -> Plan {
    for cell in &mut plan.cells {
        cell.source = Some(fetched.clone());
    }
    plan
}

/// The version a fetched file carries, else the one it was fetched for.
fn version_of(
    fetched: &FetchedSource,
    asked: Option<&pep440_rs::Version>,
    request: &BuildRequest,
) -> Result<pep440_rs::Version, BuildError> {
    match (&fetched.version, asked, &request.version) {
        (Some(text), _, _) => parse_version(text),
        (None, Some(version), _) => Ok(version.clone()),
        (None, None, Some(text)) => parse_version(text),
        (None, None, None) => Err(BuildError::UnknownVersion(fetched.path.clone())),
    }
}

/// Fetches the source with `recipe`'s source, pin and download commands (run in the work
/// directory, logged to `fetch.log`).
fn fetch(
    request: &BuildRequest,
    recipe: &ResolvedRecipe,
    version: Option<&pep440_rs::Version>,
) -> Result<FetchedSource, BuildError> {
    let log = request.work.join("fetch.log");
    let base_invocation = Invocation {
        environment: recipe.environment.clone(),
        ..Invocation::default()
    };
    let in_work = Invocation {
        directory: Some(request.work.clone()),
        ..base_invocation.clone()
    };
    for command in &recipe.pre_download {
        run_shell("pre-download command", command, &in_work, &log)?;
    }
    let mut asked = fetch_request(request, recipe, &log, &base_invocation);
    let pinned = version.map(ToString::to_string);
    if let Some(pinned) = &pinned {
        asked.version = Some(pinned);
    }
    let fetched = source::fetch(&asked)?;
    source::verify_pin(&fetched, recipe.sha256.as_deref())?;
    for command in &recipe.post_download {
        run_shell("post-download command", command, &in_work, &log)?;
    }
    Ok(fetched)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(pythons: &[&str], archs: &[&str]) -> BuildRequest {
        BuildRequest {
            package: "demo".into(),
            version: Some("1.2".into()),
            pythons: pythons.iter().map(|python| python.parse().unwrap()).collect(),
            archs: archs.iter().map(|arch| arch.to_string()).collect(),
            layer: "gentoo2023".into(),
            output: PathBuf::from("/out"),
            work: PathBuf::from("/work"),
            cache: PathBuf::from("/cache"),
            keep_build_dir: false,
            test_dependencies_from_pypi: false,
            jobs: 4,
            recursive: false,
            recipes: None,
            requirement: None,
            ancestors: Vec::new(),
            index_url: None,
            adopt: None,
        }
    }

    fn recipes(text: &str) -> Recipes {
        let file = crate::recipe::RecipeFile::parse(text, Path::new("/recipes/demo.yaml")).unwrap();
        Recipes::new("demo", Some(file))
    }

    fn plan(request: &BuildRequest, recipes: &Recipes, version: &str) -> Plan {
        let layout = Layout::load(None).unwrap();
        let version: pep440_rs::Version = version.parse().unwrap();
        plan_cells(&PlanInputs {
            request,
            layout: &layout,
            recipes,
            interpreters: &BTreeMap::new(),
            version: Some(&version),
            source: None,
        })
        .unwrap()
    }

    fn labels(plan: &Plan) -> Vec<String> {
        plan.cells.iter().map(Cell::label).collect()
    }

    #[test]
    fn cells_go_arch_by_arch_and_skip_what_the_recipe_of_the_version_skips() {
        let request = request(&["3.11", "3.12"], &["generic", "x86-64-v3"]);
        let recipes = recipes("package: demo\nversions:\n  - when: \">=1.2\"\n    skip_python: [\"3.11\"]\n");
        assert_eq!(
            labels(&plan(&request, &recipes, "1.2")),
            ["3.12 generic", "3.12 x86-64-v3"]
        );
        // An older version is not touched by the entry.
        assert_eq!(
            labels(&plan(&request, &recipes, "1.1")),
            ["3.11 generic", "3.12 generic", "3.11 x86-64-v3", "3.12 x86-64-v3"]
        );
    }

    #[test]
    fn each_cell_has_its_own_resolved_recipe() {
        let request = request(&["3.12"], &["generic", "x86-64-v3"]);
        let recipes = recipes("package: demo\nenvironment:\n  FLAGS: \"{{ cflags }} for {{ version }}\"\n");
        let plan = plan(&request, &recipes, "1.2");
        let flags: Vec<&str> = plan
            .cells
            .iter()
            .map(|cell| cell.recipe.environment["FLAGS"].as_str())
            .collect();
        assert_eq!(
            flags,
            ["-march=x86-64 -mtune=generic for 1.2", "-march=x86-64-v3 for 1.2"]
        );
        assert_eq!(plan.cells[1].directory, PathBuf::from("/work/py3.12-x86-64-v3"));
        assert_eq!(
            plan.cells[1].build_environment,
            PathBuf::from("/work/build-env-py3.12")
        );
    }

    #[test]
    fn a_package_that_is_not_arch_specific_builds_for_generic_only() {
        let request = request(&["3.12"], &["x86-64-v3", "x86-64-v4"]);
        let recipes = recipes("package: demo\narch_specific: false\n");
        let plan = plan(&request, &recipes, "1.2");
        assert_eq!(labels(&plan), ["3.12 generic"]);
        assert_eq!(plan.notes.len(), 1, "{:?}", plan.notes);
    }

    /// A git repository with one commit tagged with each of `tags`; its `file://` URL.
    fn repository_with_tags(directory: &Path, tags: &[&str]) -> String {
        let repository = directory.join("repository");
        fs_err::create_dir_all(&repository).unwrap();
        let git = |args: &[&str]| {
            crate::tools::Program::new("making the test repository", "git")
                .args(["-c", "user.name=t", "-c", "user.email=t@example.org"])
                .args(args)
                .current_dir(&repository)
                .status(None)
                .unwrap_or_else(|error| panic!("git {args:?}: {error}"));
        };
        git(&["init", "--quiet"]);
        for tag in tags {
            fs_err::write(repository.join("setup.py"), format!("# {tag}\n")).unwrap();
            git(&["add", "setup.py"]);
            git(&["commit", "--quiet", "-m", tag]);
            git(&["tag", tag]);
        }
        format!("file://{}", repository.display())
    }

    #[test]
    fn a_git_source_not_on_the_index_takes_its_newest_tag_and_renders_rev_with_it() {
        let directory = tempfile::tempdir().unwrap();
        let url = repository_with_tags(directory.path(), &["v0.1.0", "v0.2.0", "v0.3.0rc1", "nightly"]);
        // An index (a local directory) that does not have the project.
        let index = directory.path().join("index");
        fs_err::create_dir_all(&index).unwrap();
        let recipes = recipes(&format!(
            "package: demo\nsource: {{git: \"{url}\", rev: \"v{{{{ version }}}}\"}}\n"
        ));
        let mut request = request(&["3.12"], &["generic"]);
        request.version = None;
        request.index_url = Some(index.display().to_string());
        request.work = directory.path().join("work");
        request.cache = directory.path().join("cache");
        let layout = Layout::load(None).unwrap();
        // Before the version is known, the rev is left empty rather than rendered as `v`.
        let (python, arch) = first_cell(&request).unwrap();
        let context = template_context(&layout, &request.layer, None, python, &arch).unwrap();
        let unversioned = recipes.resolve(None, &context).unwrap();
        assert_eq!(
            unversioned.source,
            Source::Git {
                url: url.clone(),
                rev: String::new()
            }
        );
        let chosen = choose_version(&request, &layout, &recipes).unwrap().unwrap();
        assert_eq!(chosen.version.to_string(), "0.2.0", "{}", chosen.reason);
        assert!(chosen.reason.contains("among the tags of"), "{}", chosen.reason);
        assert_eq!(chosen.note, None);
        let plan = plan(&request, &recipes, "0.2.0");
        assert_eq!(
            plan.cells[0].recipe.source,
            Source::Git {
                url: url.clone(),
                rev: "v0.2.0".to_string()
            }
        );
        // A specifier set is honoured among the tags; one that names a pre-release takes it.
        request.version = Some("<0.2".to_string());
        let chosen = choose_version(&request, &layout, &recipes).unwrap().unwrap();
        assert_eq!(chosen.version.to_string(), "0.1.0");
        request.version = Some(">=0.3.0rc1".to_string());
        let chosen = choose_version(&request, &layout, &recipes).unwrap().unwrap();
        assert_eq!(chosen.version.to_string(), "0.3.0rc1");
        request.version = Some(">=1".to_string());
        let error = choose_version(&request, &layout, &recipes)
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with(&format!(
                "`demo` is not on the index, and no tag of {url} reads as a version matching `>=1` through the `rev` template `v{{{{ version }}}}`; its tags: "
            )),
            "{error}"
        );
    }

    #[test]
    fn choosing_without_a_work_directory_logs_in_the_cache_afresh() {
        let directory = tempfile::tempdir().unwrap();
        let mut request = request(&["3.12"], &["generic"]);
        request.package = "Demo_Pkg".into();
        request.work = PathBuf::new();
        request.cache = directory.path().join("cache");
        let log = choice_log(&request).unwrap();
        assert_eq!(
            log,
            directory.path().join("cache/logs/choose-version-demo-pkg.log")
        );
        fs_err::write(&log, "an earlier night\n").unwrap();
        assert_eq!(choice_log(&request).unwrap(), log);
        assert!(!log.exists(), "started afresh");
        request.work = directory.path().join("work");
        assert_eq!(
            choice_log(&request).unwrap(),
            directory.path().join("work/fetch.log")
        );
    }

    #[test]
    fn a_git_source_at_a_fixed_rev_is_not_chosen_for() {
        let recipes = recipes(
            "package: demo\nsource: {git: \"file:///nowhere\", rev: \"0123456789abcdef0123456789abcdef01234567\"}\n",
        );
        let mut request = request(&["3.12"], &["generic"]);
        request.version = None;
        let layout = Layout::load(None).unwrap();
        assert!(choose_version(&request, &layout, &recipes).unwrap().is_none());
    }

    #[test]
    fn an_empty_rev_is_refused_before_git_runs() {
        let directory = tempfile::tempdir().unwrap();
        let source = Source::Git {
            url: "file:///nowhere".to_string(),
            rev: String::new(),
        };
        let invocation = Invocation::default();
        let log = directory.path().join("fetch.log");
        let error = source::fetch(&source::FetchRequest {
            package: "demo",
            version: None,
            source: &source,
            index_url: None,
            pythons: &[],
            sha256: None,
            cache: directory.path(),
            work: directory.path(),
            log: &log,
            invocation: &invocation,
        })
        .unwrap_err()
        .to_string();
        assert_eq!(
            error,
            "the git source file:///nowhere has no `rev` to check out: its `rev` template names the version, and no version was chosen"
        );
        assert!(!log.exists(), "git did not run");
    }

    #[test]
    fn a_cell_file_reads_back_as_written() {
        let request = request(&["3.12"], &["generic"]);
        let recipes = recipes("package: demo\ntest: \"import demo\"\n");
        let cell = plan(&request, &recipes, "1.2").cells.remove(0);
        let directory = tempfile::tempdir().unwrap();
        let file = directory.path().join("cell.json");
        cell.write(&file).unwrap();
        let read = Cell::read(&file).unwrap();
        assert_eq!(
            serde_json::to_value(&read).unwrap(),
            serde_json::to_value(&cell).unwrap()
        );
        fs_err::write(&file, "{\"package\": 1}").unwrap();
        let error = Cell::read(&file).unwrap_err().to_string();
        assert!(
            error.starts_with(&format!("the cell file {}:", file.display())),
            "{error}"
        );
    }
}
