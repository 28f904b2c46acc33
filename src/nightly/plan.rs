//! The nightly plan: every cell of the set (package x layer x Python x arch) with its state,
//! decided without building: up to date (its input key matches a passing earlier result) or
//! to build, and why (which input changed); packages in build order, from what each needs
//! to build and to test.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::build::{BuildRequest, Cell, Recipes};
use crate::build::{PlanInputs, plan_cells};
use crate::layout::{Layout, PythonVersion};
use crate::python::ToolVersions;
use crate::recipe::{ResolvedRecipe, Source};

use super::config::{NightlyConfig, PackageEntry, Resources, Wanted};
use super::model::hash_of;
use super::state::{Cause, SourceFacts, StateStore};
use super::{CellId, NightlyError};

/// What a planned cell will do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Planned {
    UpToDate,
    Build,
    /// Not built: a package it needs cannot be planned (its reasons say which).
    DependencyFailed,
}

/// One cell of the plan.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedCell {
    pub id: CellId,
    pub state: Planned,
    /// Why it is built (`no earlier result`, `changed: recipe, source`, ...).
    pub reasons: Vec<String>,
    /// The hash over every input; `None` until the source is known.
    pub key: Option<String>,
    /// The hash of each input.
    pub inputs: BTreeMap<String, String>,
    /// The cell as a build runs it (its recipe resolved).
    #[serde(skip)]
    pub cell: Cell,
    /// Its last result, read once.
    #[serde(skip)]
    last: Option<super::state::LastResult>,
    /// The hash of each input but the packages it builds against (`None`: the source is
    /// not known yet).
    #[serde(skip)]
    own_inputs: Option<BTreeMap<String, String>>,
}

/// One package of the plan.
#[derive(Debug, Clone, Serialize)]
pub struct PackagePlan {
    pub name: String,
    pub wanted: Wanted,
    /// `None` for a source at a URL or in git given no version: known once fetched.
    pub version: Option<String>,
    /// Why not a newer version, when newer ones exist that cannot be built (only wheels:
    /// `adopt:` takes those).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_note: Option<String>,
    pub recipe: Option<PathBuf>,
    /// The source's sha256, when it is known without fetching.
    pub source_sha256: Option<String>,
    /// Packages of the set it needs to build (their wheels are in its input key).
    pub build_needs: Vec<String>,
    /// Packages of the set its wheel needs at run time or for its test.
    pub test_needs: Vec<String>,
    pub resources: Resources,
    /// Whether the configuration set this package's resources (then its recipe's do not).
    #[serde(skip)]
    pub own_resources: bool,
    pub cells: Vec<PlannedCell>,
}

impl PackagePlan {
    /// What one of its cells may use: the configuration's per-package table, else the
    /// recipe's `resources` over the configuration's defaults.
    pub fn resources_of(&self, cell: &Cell) -> Resources {
        if self.own_resources {
            return self.resources;
        }
        let wanted = &cell.recipe.resources;
        Resources {
            cpus: wanted.cpus.unwrap_or(self.resources.cpus),
            memory_mb: wanted.memory_mb.unwrap_or(self.resources.memory_mb),
            time_minutes: wanted.time_minutes.unwrap_or(self.resources.time_minutes),
        }
    }
}

impl PackagePlan {
    /// Every package of the set it waits for.
    pub fn needs(&self) -> BTreeSet<String> {
        self.build_needs.iter().chain(&self.test_needs).cloned().collect()
    }
}

/// A package of the set that cannot be planned: the night goes on without it.
#[derive(Debug, Clone, Serialize)]
pub struct Unplannable {
    pub name: String,
    pub wanted: Wanted,
    pub recipe: Option<PathBuf>,
    /// Whose the problem is (the recipe's, the source's, the site stack's, ours).
    pub cause: Cause,
    /// The whole cause, every link of the error's chain.
    pub reason: String,
    /// The cells it would have had (every layer, Python and arch of the matrix).
    pub cells: Vec<CellId>,
}

/// The plan of the whole set, packages in build order.
#[derive(Debug, Clone, Serialize)]
pub struct NightlyPlan {
    pub packages: Vec<PackagePlan>,
    /// Packages that could not be planned, in the set's order.
    pub unplannable: Vec<Unplannable>,
}

impl NightlyPlan {
    /// (cells up to date, cells to build); cells held back by a need that cannot be planned
    /// are in neither.
    pub fn counts(&self) -> (usize, usize) {
        let cells = self.packages.iter().flat_map(|package| &package.cells);
        let up_to_date = cells
            .clone()
            .filter(|cell| cell.state == Planned::UpToDate)
            .count();
        let to_build = cells.filter(|cell| cell.state == Planned::Build).count();
        (up_to_date, to_build)
    }

    /// Cells not built because a package they need cannot be planned.
    pub fn blocked(&self) -> usize {
        self.packages
            .iter()
            .flat_map(|package| &package.cells)
            .filter(|cell| cell.state == Planned::DependencyFailed)
            .count()
    }

    /// Takes a planned package out of the plan as unplannable (its source could not be
    /// fetched, say), and holds back what needs it.
    pub fn make_unplannable(&mut self, name: &str, cause: Cause, reason: String) {
        let normalized = crate::spec::normalize_name(name);
        let Some(position) = self
            .packages
            .iter()
            .position(|package| crate::spec::normalize_name(&package.name) == normalized)
        else {
            return;
        };
        let package = self.packages.remove(position);
        self.unplannable.push(Unplannable {
            name: package.name,
            wanted: package.wanted,
            recipe: package.recipe,
            cause,
            reason,
            cells: package.cells.into_iter().map(|cell| cell.id).collect(),
        });
        self.hold_back_dependants();
    }

    /// Marks `dependency-failed` every cell of a package that needs (directly or through
    /// another held-back package) one that cannot be planned. Packages are in build order,
    /// so one pass sees each need before its dependants.
    fn hold_back_dependants(&mut self) {
        let mut missing: BTreeMap<String, String> = self
            .unplannable
            .iter()
            .map(|package| {
                (
                    crate::spec::normalize_name(&package.name),
                    format!(
                        "needs {}, which cannot be planned ({})",
                        package.name, package.cause
                    ),
                )
            })
            .collect();
        for package in &mut self.packages {
            let Some(reason) = package.needs().iter().find_map(|need| missing.get(need).cloned()) else {
                continue;
            };
            for cell in &mut package.cells {
                cell.state = Planned::DependencyFailed;
                cell.reasons = vec![reason.clone()];
            }
            missing.insert(
                crate::spec::normalize_name(&package.name),
                format!("needs {}, which is held back: {reason}", package.name),
            );
        }
    }
}

/// Whose a planning error is.
fn cause_of(error: &NightlyError) -> Cause {
    use crate::build::BuildError;
    match error {
        NightlyError::Recipe(_) | NightlyError::Config { .. } => Cause::Recipe,
        NightlyError::Build(error) => match error.as_ref() {
            BuildError::Recipe(_) | BuildError::NoCell { .. } | BuildError::PackageSuffix { .. } => {
                Cause::Recipe
            }
            BuildError::Fetch(_) | BuildError::BadVersion { .. } | BuildError::UnknownVersion(_) => {
                Cause::Source
            }
            BuildError::Stack { .. } => Cause::SiteStack,
            _ => Cause::Tool,
        },
        _ => Cause::Tool,
    }
}

/// What planning is told besides the configuration.
pub struct PlanOptions<'a> {
    /// Packages to build whatever their state.
    pub rebuild: &'a [String],
    /// Where recipes come from (the configuration's, else the layout's, else ./recipes).
    pub recipes: Option<&'a Path>,
    /// Packages (normalised names) whose recipe's source cannot be reached, built from the
    /// index's sdist instead (`sdist_fallback`), each with why.
    pub index_sources: &'a BTreeMap<String, String>,
}

/// The machine facts every cell of a Python shares: its interpreter (the tools' versions are
/// asked once per interpreter, in parallel, before the cells are keyed).
struct Machine {
    interpreters: BTreeMap<PythonVersion, PathBuf>,
}

/// Plans the whole set.
pub fn plan(
    config: &NightlyConfig,
    layout: &Layout,
    store: &StateStore,
    options: &PlanOptions,
) -> Result<NightlyPlan, NightlyError> {
    let entries = set_entries(config, options.recipes)?;
    let pythons = config
        .pythons
        .clone()
        .unwrap_or_else(|| layout.python_versions.clone());
    let interpreters = crate::build::find_interpreters(&pythons)?;
    crate::parallel::parallel_map(&pythons, pythons.len(), &|python: &PythonVersion| {
        ToolVersions::gather_cached(&interpreters[python]);
    });
    let machine = Machine { interpreters };
    let layers = layers(config, layout)?;
    let names: BTreeSet<String> = entries
        .iter()
        .map(|entry| crate::spec::normalize_name(&entry.name))
        .collect();
    let index = match options.recipes {
        Some(directory) => crate::recipe::RecipeIndex::read(directory)?,
        None => crate::recipe::RecipeIndex::default(),
    };
    // Every recipe read first (no network): a broken one sets its package aside, and what
    // they ask of the site is checked before any package is planned.
    let recipes = crate::parallel::parallel_map(
        &entries,
        crate::inspect::default_jobs(),
        &|entry: &PackageEntry| Recipes::from_index(&index, &entry.name).map_err(NightlyError::from),
    );
    check_site(layout, &layers, &recipes)?;
    // The recipes' stacks are entered (on the cores) while the packages are planned (on the
    // index); a package's planner that needs one still being entered waits for it.
    let stacks = stacks_ahead(layout, &layers, &recipes);
    // A package that cannot be planned is set aside with its reason; the others go on.
    let mut unplannable = Vec::new();
    let set_aside = |entry: &PackageEntry, error: NightlyError| {
        let cause = cause_of(&error);
        tracing::info!("{}: cannot be planned ({cause}): {error}", entry.name);
        Unplannable {
            name: entry.name.clone(),
            wanted: entry.wanted.clone(),
            recipe: index.path_of(&entry.name),
            cause,
            reason: crate::build::error_chain(&error),
            cells: matrix_cells(&entry.name, &layers, &pythons),
        }
    };
    let mut work: Vec<(&PackageEntry, Recipes)> = Vec::new();
    for (entry, recipes) in entries.iter().zip(recipes) {
        match recipes {
            Ok(recipes)
                if options
                    .index_sources
                    .contains_key(&crate::spec::normalize_name(&entry.name)) =>
            {
                work.push((entry, recipes.with_index_source()));
            }
            Ok(recipes) => work.push((entry, recipes)),
            Err(error) => unplannable.push(set_aside(entry, error)),
        }
    }
    // Each package is planned apart (its version, source facts, cells), in parallel.
    let planned = std::thread::scope(|scope| {
        scope.spawn(|| stacks.enter(crate::inspect::default_jobs()));
        crate::parallel::parallel_map(&work, PLAN_THREADS, &|(entry, recipes): &(
            &PackageEntry,
            Recipes,
        )| {
            plan_package(&PackageInputs {
                config,
                layout,
                store,
                entry,
                recipes,
                pythons: &pythons,
                layers: &layers,
                machine: &machine,
                set: &names,
            })
        })
    });
    let mut packages = Vec::new();
    for ((entry, _), result) in work.iter().zip(planned) {
        match result {
            Ok(package) => packages.push(package),
            Err(NightlyError::Build(error)) => match *error {
                // A stack error that is not a module's is the site's, whichever package met it.
                crate::build::BuildError::Stack { error, .. } if crate::stack::is_site_error(&error) => {
                    return Err(NightlyError::Site(error));
                }
                other => unplannable.push(set_aside(entry, NightlyError::Build(Box::new(other)))),
            },
            Err(error) => unplannable.push(set_aside(entry, error)),
        }
    }
    // In the set's order, as they were listed.
    let order: BTreeMap<String, usize> = entries
        .iter()
        .enumerate()
        .map(|(position, entry)| (crate::spec::normalize_name(&entry.name), position))
        .collect();
    unplannable.sort_by_key(|package| order.get(&crate::spec::normalize_name(&package.name)).copied());
    let mut packages = build_order(packages)?;
    let rebuild: BTreeSet<String> = options
        .rebuild
        .iter()
        .map(|name| crate::spec::normalize_name(name))
        .collect();
    decide(&mut packages, &rebuild);
    // Say where a fallback's source comes from, on every cell it builds.
    for package in &mut packages {
        if let Some(why) = options
            .index_sources
            .get(&crate::spec::normalize_name(&package.name))
        {
            for cell in package
                .cells
                .iter_mut()
                .filter(|cell| cell.state == Planned::Build)
            {
                cell.reasons.push(format!(
                    "built from the index's sdist (sdist_fallback): the recipe's source cannot be reached: {why}"
                ));
            }
        }
    }
    let mut plan = NightlyPlan {
        packages,
        unplannable,
    };
    plan.hold_back_dependants();
    Ok(plan)
}

/// What the site must offer before any package is planned: the modules system the recipes
/// need, and every (layer, arch) stack of the matrix entered bare. Found in well under a
/// second, before any index query.
fn check_site(
    layout: &Layout,
    layers: &[(String, Vec<String>)],
    recipes: &[Result<Recipes, NightlyError>],
) -> Result<(), NightlyError> {
    let mut wanted: Vec<String> = Vec::new();
    let mut asking: Vec<String> = Vec::new();
    for recipes in recipes.iter().flatten() {
        if let Some(file) = recipes.file() {
            let names = file.module_names();
            if !names.is_empty() {
                asking.push(format!("{}: {}", file.package, names.join(", ")));
                for name in names {
                    if !wanted.contains(&name) {
                        wanted.push(name);
                    }
                }
            }
        }
    }
    let stacks: Vec<(String, String)> = layers
        .iter()
        .flat_map(|(layer, archs)| archs.iter().map(move |arch| (layer.clone(), arch.clone())))
        .collect();
    crate::stack::check_site(layout, &stacks, &wanted).map_err(|error| {
        // Name the recipes that ask for modules, a few of them, rather than every module.
        let error = match error {
            crate::stack::StackError::NoModuleSystem { layout, .. } => {
                let shown: Vec<&str> = asking.iter().take(5).map(String::as_str).collect();
                crate::stack::StackError::NoModuleSystem {
                    modules: format!(
                        "by {} ({}{})",
                        crate::words::count(asking.len(), "recipe"),
                        shown.join("; "),
                        if asking.len() > shown.len() { "; ..." } else { "" }
                    ),
                    layout,
                }
            }
            other => other,
        };
        NightlyError::Site(Box::new(error))
    })
}

/// The stacks the recipes' cells will ask for (each recipe's modules, with and without its
/// build modules, in every (layer, arch) of the matrix), to be entered by a few shells for
/// them all rather than one per stack (see [`crate::stack::ahead`]). Recipes whose modules
/// are templates or differ by version enter theirs when planned.
fn stacks_ahead<'a>(
    layout: &'a Layout,
    layers: &[(String, Vec<String>)],
    recipes: &[Result<Recipes, NightlyError>],
) -> crate::stack::StacksAhead<'a> {
    let mut requests = Vec::new();
    for file in recipes.iter().flatten().filter_map(Recipes::file) {
        let Some((modules, build_modules)) = file.plain_modules() else {
            continue;
        };
        if modules.is_empty() && build_modules.is_empty() {
            continue;
        }
        let mut for_build = modules.clone();
        for_build.extend(build_modules);
        for (layer, archs) in layers {
            for arch in archs {
                for modules in [&for_build, &modules] {
                    requests.push(crate::stack::StackRequest {
                        layer: layer.clone(),
                        arch: arch.clone(),
                        modules: modules.clone(),
                    });
                }
            }
        }
    }
    crate::stack::ahead(layout, &requests)
}

/// Packages planned at once: planning waits on the index (a page per package) far more than
/// it computes, so more than the cores; bounded, to be kind to the index.
const PLAN_THREADS: usize = 16;

/// Every cell of the matrix for one package: each layer's archs x the Pythons.
fn matrix_cells(package: &str, layers: &[(String, Vec<String>)], pythons: &[PythonVersion]) -> Vec<CellId> {
    let mut cells = Vec::new();
    for (layer, archs) in layers {
        for python in pythons {
            for arch in archs {
                cells.push(CellId {
                    package: package.to_string(),
                    layer: layer.clone(),
                    python: *python,
                    arch: arch.clone(),
                });
            }
        }
    }
    cells
}

/// The packages of the set: those listed, then (with `all_recipes`) every other recipe.
fn set_entries(config: &NightlyConfig, recipes: Option<&Path>) -> Result<Vec<PackageEntry>, NightlyError> {
    let mut entries = config.packages.clone();
    if config.all_recipes {
        let directory = recipes.ok_or_else(|| NightlyError::Config {
            message: format!(
                "{}: `all_recipes` needs a recipes directory (`recipes` here, or the layout's)",
                config.file.display()
            ),
        })?;
        // The files are only listed here: each is read when its package is planned, so that
        // a broken one sets its own package aside, not the night.
        let names = crate::recipe::RecipeIndex::read(directory)?.names();
        let mut listed: BTreeSet<String> = entries
            .iter()
            .map(|entry| crate::spec::normalize_name(&entry.name))
            .collect();
        for name in names {
            if listed.insert(crate::spec::normalize_name(&name)) {
                entries.push(PackageEntry {
                    name: name.clone(),
                    wanted: Wanted::Latest,
                    resources: config.resources,
                    own_resources: false,
                });
            }
        }
    }
    Ok(entries)
}

/// The layers of the matrix, each with its archs.
fn layers(config: &NightlyConfig, layout: &Layout) -> Result<Vec<(String, Vec<String>)>, NightlyError> {
    let names = match &config.layers {
        Some(names) => names.clone(),
        None => vec![layout.default_layer.clone().ok_or_else(|| NightlyError::Config {
            message: format!(
                "{}: no `matrix.layers` and the layout {} has no default_layer",
                config.file.display(),
                layout.source
            ),
        })?],
    };
    names
        .into_iter()
        .map(|name| {
            let layer = layout.layers.get(&name).ok_or_else(|| NightlyError::Config {
                message: format!(
                    "{}: `matrix.layers`: the layout {} has no layer `{name}` (its layers: {})",
                    config.file.display(),
                    layout.source,
                    layout.layers.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            })?;
            let archs: Vec<String> = match &config.archs {
                Some(archs) => archs
                    .iter()
                    .filter(|arch| layer.archs.contains(arch))
                    .cloned()
                    .collect(),
                None => layer.archs.clone(),
            };
            Ok((name, archs))
        })
        .collect()
}

struct PackageInputs<'a> {
    config: &'a NightlyConfig,
    layout: &'a Layout,
    store: &'a StateStore,
    entry: &'a PackageEntry,
    recipes: &'a Recipes,
    pythons: &'a [PythonVersion],
    layers: &'a [(String, Vec<String>)],
    machine: &'a Machine,
    set: &'a BTreeSet<String>,
}

/// A package's version, source facts, needs and cells (their states are decided later, in
/// build order).
fn plan_package(inputs: &PackageInputs) -> Result<PackagePlan, NightlyError> {
    let entry = inputs.entry;
    let (mut version, version_note) = version_of(inputs)?;
    let facts = known_source(inputs, &mut version)?;
    let mut cells = Vec::new();
    let mut recipe_needs: BTreeSet<String> = BTreeSet::new();
    let mut recipe_test_needs: BTreeSet<String> = BTreeSet::new();
    for (layer, archs) in inputs.layers {
        let archs: Vec<String> = match &facts {
            Some(facts) if !facts.compiled && archs.iter().any(|arch| arch == "generic") => {
                vec!["generic".to_string()]
            }
            _ => archs.clone(),
        };
        let request = request(inputs, layer, archs);
        let plan = plan_cells(&PlanInputs {
            request: &request,
            layout: inputs.layout,
            recipes: inputs.recipes,
            interpreters: &inputs.machine.interpreters,
            version: version.as_ref(),
            source: facts.as_ref().map(|facts| &facts.source),
        })?;
        // A layer that cannot be entered, or a recipe's module that cannot be loaded, stops
        // the night before anything is built.
        crate::build::enter_stacks(inputs.layout, &plan)?;
        for cell in plan.cells {
            recipe_needs.extend(names_of(&cell.recipe.build_dependencies));
            recipe_test_needs.extend(names_of(&cell.recipe.test_dependencies));
            let id = CellId {
                package: entry.name.clone(),
                layer: cell.layer.clone(),
                python: cell.python,
                arch: cell.arch.clone(),
            };
            let own_inputs = input_hashes(
                &cell,
                inputs.layout,
                facts.as_ref().map(|facts| facts.source.sha256.as_str()),
            );
            cells.push(PlannedCell {
                last: inputs.store.last(&id),
                id,
                state: Planned::Build,
                reasons: Vec::new(),
                key: None,
                inputs: BTreeMap::new(),
                cell,
                own_inputs,
            });
        }
    }
    let own = crate::spec::normalize_name(&entry.name);
    let in_set = |names: BTreeSet<String>| -> Vec<String> {
        names
            .into_iter()
            .filter(|name| *name != own && inputs.set.contains(name))
            .collect()
    };
    let mut build_needs = recipe_needs;
    let mut test_needs = recipe_test_needs;
    if let Some(facts) = &facts {
        build_needs.extend(names_of(&facts.build_requires));
        test_needs.extend(names_of(&facts.requires_dist));
    }
    for cell in &cells {
        if let Some(last) = &cell.last {
            test_needs.extend(last.requires.iter().map(|name| crate::spec::normalize_name(name)));
        }
    }
    let build_needs = in_set(build_needs);
    let test_needs: Vec<String> = in_set(test_needs)
        .into_iter()
        .filter(|name| !build_needs.contains(name))
        .collect();
    Ok(PackagePlan {
        name: entry.name.clone(),
        wanted: entry.wanted.clone(),
        version: version.map(|version| version.to_string()),
        version_note,
        recipe: inputs.recipes.file().map(|file| file.file.clone()),
        source_sha256: facts.as_ref().map(|facts| facts.source.sha256.clone()),
        build_needs,
        test_needs,
        resources: entry.resources,
        own_resources: entry.own_resources,
        cells,
    })
}

/// The recipe of a package's first cell (its source, pin and version entries), for `version`
/// or, unknown, as it stands for every version.
fn source_recipe(
    inputs: &PackageInputs,
    version: Option<&pep440_rs::Version>,
) -> Result<ResolvedRecipe, NightlyError> {
    let (layer, archs) = inputs.layers.first().cloned().unwrap_or_default();
    let python = *inputs.pythons.first().ok_or_else(|| NightlyError::Config {
        message: format!("{}: no Python in the matrix", inputs.config.file.display()),
    })?;
    let arch = archs.first().cloned().unwrap_or_else(|| "generic".to_string());
    let context = crate::build::template_context(inputs.layout, &layer, version, python, &arch)?;
    Ok(inputs.recipes.resolve(version, &context)?)
}

/// What an earlier fetch learnt about the package's source, found without the network; a
/// source at a URL or in git tells its version this way.
fn known_source(
    inputs: &PackageInputs,
    version: &mut Option<pep440_rs::Version>,
) -> Result<Option<SourceFacts>, NightlyError> {
    let recipe = source_recipe(inputs, version.as_ref())?;
    let text = version.as_ref().map(ToString::to_string);
    let Some(identity) = super::state::recipe_source_identity(&inputs.entry.name, text.as_deref(), &recipe)
    else {
        return Ok(None);
    };
    let facts = inputs.store.source_facts(&identity);
    if version.is_none()
        && let Some(found) = facts.as_ref().and_then(|facts| facts.source.version.as_deref())
    {
        *version = Some(parse_version(found)?);
    }
    Ok(facts)
}

/// The normalised names of requirement strings (those that do not parse are left out).
fn names_of(requirements: &[String]) -> BTreeSet<String> {
    requirements
        .iter()
        .filter_map(|text| {
            <pep508_rs::Requirement as std::str::FromStr>::from_str(text.trim())
                .ok()
                .map(|requirement| crate::spec::normalize_name(requirement.name.as_ref()))
        })
        .collect()
}

/// The build request of one package on one layer.
fn request(inputs: &PackageInputs, layer: &str, archs: Vec<String>) -> BuildRequest {
    let config = inputs.config;
    BuildRequest {
        package: inputs.entry.name.clone(),
        version: inputs.entry.wanted.as_version_argument().map(str::to_string),
        pythons: inputs.pythons.to_vec(),
        archs,
        layer: layer.to_string(),
        output: config.paths.output.clone(),
        work: PathBuf::new(),
        cache: config.paths.cache.clone(),
        keep_build_dir: false,
        test_dependencies_from_pypi: true,
        jobs: inputs.entry.resources.cpus,
        recursive: false,
        recipes: None,
        requirement: None,
        ancestors: Vec::new(),
        index_url: config.index_url.clone(),
        adopt: None,
    }
}

/// The version the nightly builds: pinned ones need no network; `latest` and specifier sets
/// ask the index; a source at a URL or in git given no version is known once fetched.
/// The version and, when newer versions exist that cannot be built (only wheels, a
/// `Requires-Python` that admits no Python of the matrix), the note that says so.
fn version_of(inputs: &PackageInputs) -> Result<(Option<pep440_rs::Version>, Option<String>), NightlyError> {
    let entry = inputs.entry;
    if let Wanted::Pinned(text) = &entry.wanted {
        return Ok((Some(parse_version(text)?), None));
    }
    let (layer, archs) = inputs.layers.first().cloned().unwrap_or_default();
    let request = request(inputs, &layer, archs);
    Ok(
        match crate::build::choose_version(&request, inputs.layout, inputs.recipes)? {
            Some(chosen) => (Some(chosen.version), chosen.note),
            None => (None, None),
        },
    )
}

fn parse_version(text: &str) -> Result<pep440_rs::Version, NightlyError> {
    text.parse()
        .map_err(|error: pep440_rs::VersionParseError| NightlyError::Config {
            message: format!("version `{text}`: {error}"),
        })
}

/// The packages in build order: a package after those of the set it needs; a cycle is an
/// error naming it.
fn build_order(packages: Vec<PackagePlan>) -> Result<Vec<PackagePlan>, NightlyError> {
    let index: BTreeMap<String, usize> = packages
        .iter()
        .enumerate()
        .map(|(position, package)| (crate::spec::normalize_name(&package.name), position))
        .collect();
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Visiting,
        Done,
    }
    let mut marks = vec![Mark::New; packages.len()];
    let mut order = Vec::new();
    fn visit(
        position: usize,
        packages: &[PackagePlan],
        index: &BTreeMap<String, usize>,
        marks: &mut Vec<Mark>,
        path: &mut Vec<usize>,
        order: &mut Vec<usize>,
    ) -> Result<(), NightlyError> {
        match marks[position] {
            Mark::Done => return Ok(()),
            Mark::Visiting => {
                let start = path.iter().position(|&p| p == position).unwrap_or(0);
                let mut cycle: Vec<String> =
                    path[start..].iter().map(|&p| packages[p].name.clone()).collect();
                cycle.push(packages[position].name.clone());
                return Err(NightlyError::Cycle(cycle.join(" -> ")));
            }
            Mark::New => {}
        }
        marks[position] = Mark::Visiting;
        path.push(position);
        for need in packages[position].needs() {
            if let Some(&next) = index.get(&need) {
                visit(next, packages, index, marks, path, order)?;
            }
        }
        path.pop();
        marks[position] = Mark::Done;
        order.push(position);
        Ok(())
    }
    for position in 0..packages.len() {
        visit(
            position,
            &packages,
            &index,
            &mut marks,
            &mut Vec::new(),
            &mut order,
        )?;
    }
    let mut slots: Vec<Option<PackagePlan>> = packages.into_iter().map(Some).collect();
    Ok(order
        .into_iter()
        .filter_map(|position| slots[position].take())
        .collect())
}

/// Every cell's input key and state, in build order (a package's key includes the keys of the
/// packages it builds against).
fn decide(packages: &mut [PackagePlan], rebuild: &BTreeSet<String>) {
    let mut keys: BTreeMap<(String, String, PythonVersion, String), Option<String>> = BTreeMap::new();
    for package in packages.iter_mut() {
        let normalized = crate::spec::normalize_name(&package.name);
        for planned in &mut package.cells {
            let dependency_keys: Option<Vec<String>> = package
                .build_needs
                .iter()
                .map(|need| {
                    let id = &planned.id;
                    let exact = (need.clone(), id.layer.clone(), id.python, id.arch.clone());
                    let generic = (need.clone(), id.layer.clone(), id.python, "generic".to_string());
                    keys.get(&exact)
                        .or_else(|| keys.get(&generic))
                        .cloned()
                        .unwrap_or(None)
                        .map(|key| format!("{need} {key}"))
                })
                .collect();
            let inputs = match (planned.own_inputs.take(), dependency_keys) {
                (Some(mut inputs), Some(dependencies)) => {
                    if !dependencies.is_empty() {
                        inputs.insert("dependencies".to_string(), hash_of(&dependencies));
                    }
                    Some(inputs)
                }
                _ => None,
            };
            planned.key = inputs.as_ref().map(hash_of);
            planned.inputs = inputs.unwrap_or_default();
            planned.reasons = reasons(
                planned,
                planned.last.as_ref(),
                package.version.as_deref(),
                rebuild.contains(&normalized),
            );
            planned.state = if planned.reasons.is_empty() {
                Planned::UpToDate
            } else {
                Planned::Build
            };
            keys.insert(
                (
                    normalized.clone(),
                    planned.id.layer.clone(),
                    planned.id.python,
                    planned.id.arch.clone(),
                ),
                planned.key.clone(),
            );
        }
    }
}

/// Why a cell is built; empty when it is up to date.
fn reasons(
    planned: &PlannedCell,
    last: Option<&super::state::LastResult>,
    version: Option<&str>,
    forced: bool,
) -> Vec<String> {
    let mut reasons = Vec::new();
    if forced {
        reasons.push("asked for (--rebuild)".to_string());
    }
    let Some(key) = &planned.key else {
        reasons.push(match version {
            None => "the version is known once the source is fetched".to_string(),
            Some(_) => "the source is not fetched yet".to_string(),
        });
        return reasons;
    };
    match last {
        None => reasons.push("no earlier result".to_string()),
        Some(last) if last.key.as_deref() == Some(key.as_str()) => {
            if !last.state.passed() {
                reasons.push(format!("the last run {} ({})", last.state, last.run));
            }
        }
        Some(last) => {
            let changed: Vec<&str> = planned
                .inputs
                .iter()
                .filter(|(name, hash)| last.inputs.get(*name) != Some(*hash))
                .map(|(name, _)| name.as_str())
                .collect();
            reasons.push(if last.version != version.unwrap_or_default() {
                format!(
                    "new version ({} -> {})",
                    last.version,
                    version.unwrap_or_default()
                )
            } else if changed.is_empty() {
                "the inputs changed".to_string()
            } else {
                format!("changed: {}", changed.join(", "))
            });
        }
    }
    reasons
}

/// The hash of each input of a cell's own that decides its wheel (the packages it builds
/// against are added in build order); `None` while the source is unknown.
pub fn input_hashes(
    cell: &Cell,
    layout: &Layout,
    source_sha256: Option<&str>,
) -> Option<BTreeMap<String, String>> {
    let source = match (&cell.recipe.source, source_sha256) {
        (_, Some(sha256)) => sha256.to_string(),
        (Source::Git { url, rev }, None) => format!("git {url} {rev}"),
        _ => return None,
    };
    let mut inputs = BTreeMap::new();
    inputs.insert("source".to_string(), source);
    inputs.insert("recipe".to_string(), recipe_hash(&cell.recipe));
    inputs.insert("layout".to_string(), layout_hash(layout, &cell.layer, &cell.arch));
    inputs.insert(
        "python".to_string(),
        hash_of(&(cell.python.to_string(), cell.interpreter.display().to_string())),
    );
    let tools = ToolVersions::gather_cached(&cell.interpreter);
    inputs.insert("tools".to_string(), hash_of(&tools));
    inputs.insert("wheelwright".to_string(), env!("CARGO_PKG_VERSION").to_string());
    // What the stack is made of on this machine: a module's new default version rebuilds.
    for (name, build) in [("stack", true), ("test-stack", false)] {
        if let Ok(Some(stack)) = crate::build::cell_stack(layout, cell, build) {
            inputs.insert(
                name.to_string(),
                hash_of(&(&stack.lines, &stack.loaded, &stack.library_dirs)),
            );
        }
    }
    Some(inputs)
}

/// The resolved recipe without where its file lives, and its patches by content.
fn recipe_hash(recipe: &ResolvedRecipe) -> String {
    let mut recipe = recipe.clone();
    recipe.file = None;
    let patches: Vec<(String, String)> = recipe
        .patches
        .iter()
        .map(|patch| {
            (
                patch
                    .file_name()
                    .map(|name| name.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                crate::wheel::verified::file_sha256(patch).unwrap_or_default(),
            )
        })
        .collect();
    recipe.patches = Vec::new();
    hash_of(&(recipe, patches))
}

/// The parts of the layout a cell's wheel depends on: the local version label, the
/// requirement rules, the layer and the arch.
fn layout_hash(layout: &Layout, layer: &str, arch: &str) -> String {
    let arch = layout.archs.get(arch).map(|arch| {
        (
            arch.name.clone(),
            arch.level,
            arch.march.clone(),
            arch.cflags.clone(),
            arch.features.clone(),
        )
    });
    let layer = layout.layers.get(layer).map(|layer| {
        (
            layer.name.clone(),
            layer.glibc.to_string(),
            layer.library_dirs.clone(),
            layer.rpath_prefixes.clone(),
            layer.not_arch_rpath.clone(),
        )
    });
    let rules: Vec<(String, Vec<String>, Vec<String>)> = layout
        .strip_rules
        .iter()
        .map(|(name, rule)| (name.clone(), rule.remove.clone(), rule.keep.clone()))
        .collect();
    let base = hash_of(&(layout.local_version_label.clone(), rules, layer, arch));
    // The rule that adds RPATHs to module libraries changes the wheel (the stack's own
    // lines and modules are the `stack` input); layouts without modules keep their hash.
    match &layout.modules {
        Some(modules) if modules.rpath != crate::layout::ModuleRpath::None => hash_of(&(base, modules.rpath)),
        _ => base,
    }
}

/// The facts of a fetched source: its build requirements, Requires-Dist and whether it
/// compiles (read from the archive once).
pub fn learn_source(fetched: &crate::build::FetchedSource) -> SourceFacts {
    if fetched.is_wheel {
        // A wheel (a pure one from PyPI, or an adopted one): nothing to build; its own
        // METADATA says what it needs.
        let requires_dist = crate::wheel::WheelReader::open(&fetched.path, crate::wheel::Limits::default())
            .map(|reader| {
                reader
                    .metadata
                    .requires_dist()
                    .iter()
                    .map(ToString::to_string)
                    .collect()
            })
            .unwrap_or_default();
        return SourceFacts {
            source: fetched.clone(),
            build_requires: Vec::new(),
            requires_dist,
            compiled: false,
        };
    }
    let files = if fetched.is_wheel {
        BTreeMap::new()
    } else {
        crate::build::read_top_level_files(&fetched.path, &["PKG-INFO", "pyproject.toml"]).unwrap_or_default()
    };
    let pyproject = files
        .get("pyproject.toml")
        .map(|(_, bytes)| String::from_utf8_lossy(bytes).into_owned());
    let build_requires = crate::build::BuildSystem::parse(pyproject.as_deref(), &fetched.path)
        .map(|system| system.requires)
        .unwrap_or_default();
    let mut requires_dist = files
        .get("PKG-INFO")
        .and_then(|(_, bytes)| crate::build::SdistMetadata::parse(bytes).ok())
        .map(|metadata| metadata.requires_dist)
        .unwrap_or_default();
    if requires_dist.is_empty() {
        // No PKG-INFO (a git archive) or none listed: `[project] dependencies`, unless the
        // backend computes them.
        requires_dist = pyproject.as_deref().map(static_dependencies).unwrap_or_default();
    }
    SourceFacts {
        source: fetched.clone(),
        build_requires,
        requires_dist,
        compiled: crate::build::looks_compiled(fetched),
    }
}

/// `[project] dependencies` of a `pyproject.toml`, when they are static (not in `dynamic`).
fn static_dependencies(text: &str) -> Vec<String> {
    let Ok(table) = toml::from_str::<toml::Table>(text) else {
        return Vec::new();
    };
    let Some(project) = table.get("project").and_then(|project| project.as_table()) else {
        return Vec::new();
    };
    let dynamic = project
        .get("dynamic")
        .and_then(|dynamic| dynamic.as_array())
        .is_some_and(|dynamic| dynamic.iter().any(|item| item.as_str() == Some("dependencies")));
    if dynamic {
        return Vec::new();
    }
    project
        .get("dependencies")
        .and_then(|dependencies| dependencies.as_array())
        .map(|dependencies| {
            dependencies
                .iter()
                .filter_map(|item| item.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}
