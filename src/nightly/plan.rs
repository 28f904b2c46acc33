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

mod inputs;
mod order;

pub use inputs::{input_hashes, learn_source};
use order::{build_order, decide};

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
    in_set_order(&mut unplannable, &entries);
    let mut packages = build_order(packages)?;
    let rebuild: BTreeSet<String> = options
        .rebuild
        .iter()
        .map(|name| crate::spec::normalize_name(name))
        .collect();
    decide(&mut packages, &rebuild);
    say_index_sources(&mut packages, options.index_sources);
    let mut plan = NightlyPlan {
        packages,
        unplannable,
    };
    plan.hold_back_dependants();
    Ok(plan)
}

/// Packages that cannot be planned in the set's order, as they were listed.
fn in_set_order(unplannable: &mut [Unplannable], entries: &[PackageEntry]) {
    let order: BTreeMap<String, usize> = entries
        .iter()
        .enumerate()
        .map(|(position, entry)| (crate::spec::normalize_name(&entry.name), position))
        .collect();
    unplannable.sort_by_key(|package| order.get(&crate::spec::normalize_name(&package.name)).copied());
}

/// Says where a fallback's source comes from (`index_sources`: why, by normalised name), on
/// every cell it builds.
fn say_index_sources(packages: &mut [PackagePlan], index_sources: &BTreeMap<String, String>) {
    for package in packages {
        if let Some(why) = index_sources.get(&crate::spec::normalize_name(&package.name)) {
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
    BuildRequest {
        version: inputs.entry.wanted.as_version_argument().map(str::to_string),
        pythons: inputs.pythons.to_vec(),
        archs,
        jobs: inputs.entry.resources.cpus,
        ..inputs.config.build_request(&inputs.entry.name, layer)
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

#[cfg(test)]
mod tests {
    use super::super::state::{CellState, LastResult};
    use super::order::*;
    use super::*;

    fn package(name: &str, build_needs: &[&str], test_needs: &[&str]) -> PackagePlan {
        PackagePlan {
            name: name.to_string(),
            wanted: Wanted::Latest,
            version: Some("1.0".to_string()),
            version_note: None,
            recipe: None,
            source_sha256: None,
            build_needs: build_needs.iter().map(|need| need.to_string()).collect(),
            test_needs: test_needs.iter().map(|need| need.to_string()).collect(),
            resources: Resources::default(),
            own_resources: false,
            cells: Vec::new(),
        }
    }

    fn names(packages: &[PackagePlan]) -> Vec<&str> {
        packages.iter().map(|package| package.name.as_str()).collect()
    }

    #[test]
    fn packages_are_built_after_what_they_need_in_the_sets_order_otherwise() {
        let ordered = build_order(vec![
            package("scipy", &["numpy", "pybind11"], &[]),
            package("pandas", &["numpy"], &["pytz"]),
            package("numpy", &[], &[]),
            package("pytz", &[], &[]),
            package("pybind11", &[], &[]),
            // Needs outside the set are not waited for.
            package("h5py", &["Cython", "numpy"], &[]),
        ])
        .unwrap();
        assert_eq!(
            names(&ordered),
            ["numpy", "pybind11", "scipy", "pytz", "pandas", "h5py"]
        );
        // A package's own name is normalised (needs come normalised, from `names_of`).
        let ordered = build_order(vec![
            package("zope.interface", &["setuptools-scm"], &[]),
            package("Setuptools_SCM", &[], &[]),
        ])
        .unwrap();
        assert_eq!(names(&ordered), ["Setuptools_SCM", "zope.interface"]);
    }

    #[test]
    fn packages_set_aside_are_reported_in_the_sets_order() {
        let entries: Vec<PackageEntry> = ["Pillow", "numpy", "scipy"]
            .iter()
            .map(|name| PackageEntry {
                name: name.to_string(),
                wanted: Wanted::Latest,
                resources: Resources::default(),
                own_resources: false,
            })
            .collect();
        let set_aside = |name: &str| Unplannable {
            name: name.to_string(),
            wanted: Wanted::Latest,
            recipe: None,
            cause: Cause::Recipe,
            reason: String::new(),
            cells: Vec::new(),
        };
        // Set aside as their planners finished: scipy's recipe first, then pillow's source.
        let mut unplannable = vec![set_aside("scipy"), set_aside("pillow")];
        in_set_order(&mut unplannable, &entries);
        let names: Vec<&str> = unplannable.iter().map(|package| package.name.as_str()).collect();
        assert_eq!(names, ["pillow", "scipy"]);
    }

    #[test]
    fn a_cycle_is_an_error_naming_it() {
        let error = build_order(vec![
            package("a", &["b"], &[]),
            package("b", &[], &["c"]),
            package("c", &["a"], &[]),
            package("d", &[], &[]),
        ])
        .unwrap_err();
        assert!(
            matches!(&error, NightlyError::Cycle(cycle) if cycle == "a -> b -> c -> a"),
            "{error}"
        );
    }

    #[test]
    fn the_matrix_is_layer_then_python_then_arch() {
        let pythons: Vec<PythonVersion> = ["3.11", "3.12"]
            .iter()
            .map(|python| python.parse().unwrap())
            .collect();
        let layers = vec![
            (
                "gentoo2023".to_string(),
                vec!["generic".to_string(), "x86-64-v3".to_string()],
            ),
            ("archive".to_string(), vec!["generic".to_string()]),
        ];
        let cells: Vec<String> = matrix_cells("numpy", &layers, &pythons)
            .iter()
            .map(|cell| format!("{} {} {}", cell.layer, cell.python, cell.arch))
            .collect();
        assert_eq!(
            cells,
            [
                "gentoo2023 3.11 generic",
                "gentoo2023 3.11 x86-64-v3",
                "gentoo2023 3.12 generic",
                "gentoo2023 3.12 x86-64-v3",
                "archive 3.11 generic",
                "archive 3.12 generic",
            ]
        );
    }

    fn last(key: &str, state: CellState, inputs: &[(&str, &str)]) -> LastResult {
        LastResult {
            version: "1.0".to_string(),
            key: Some(key.to_string()),
            inputs: inputs
                .iter()
                .map(|(name, hash)| (name.to_string(), hash.to_string()))
                .collect(),
            state,
            reason: None,
            wheel: None,
            run: "2026-12-06".to_string(),
            finished: 0,
            requires: Vec::new(),
        }
    }

    #[test]
    fn a_cell_is_built_when_its_key_changed_its_last_run_failed_or_it_is_asked_for() {
        let inputs: BTreeMap<String, String> = [("recipe", "r2"), ("source", "s1")]
            .iter()
            .map(|(name, hash)| (name.to_string(), hash.to_string()))
            .collect();
        let passed = last("k1", CellState::Built, &[("recipe", "r1"), ("source", "s1")]);
        // Same key, passed: up to date, unless asked for.
        assert!(reasons(Some("k1"), &inputs, Some(&passed), Some("1.0"), false).is_empty());
        assert_eq!(
            reasons(Some("k1"), &inputs, Some(&passed), Some("1.0"), true),
            ["asked for (--rebuild)"]
        );
        // Same key, failed last time: built again, saying when.
        let failed = last("k1", CellState::Failed, &[]);
        assert_eq!(
            reasons(Some("k1"), &inputs, Some(&failed), Some("1.0"), false),
            [format!("the last run {} (2026-12-06)", CellState::Failed)]
        );
        // Another key: what changed, or the new version.
        assert_eq!(
            reasons(Some("k2"), &inputs, Some(&passed), Some("1.0"), false),
            ["changed: recipe"]
        );
        assert_eq!(
            reasons(Some("k2"), &inputs, Some(&passed), Some("1.1"), false),
            ["new version (1.0 -> 1.1)"]
        );
        let same_inputs = last("k1", CellState::Built, &[("recipe", "r2"), ("source", "s1")]);
        assert_eq!(
            reasons(Some("k2"), &inputs, Some(&same_inputs), Some("1.0"), false),
            ["the inputs changed"]
        );
        // Nothing before, or no key yet.
        assert_eq!(
            reasons(Some("k1"), &inputs, None, Some("1.0"), false),
            ["no earlier result"]
        );
        assert_eq!(
            reasons(None, &inputs, Some(&passed), Some("1.0"), false),
            ["the source is not fetched yet"]
        );
        assert_eq!(
            reasons(None, &inputs, None, None, true),
            [
                "asked for (--rebuild)",
                "the version is known once the source is fetched"
            ]
        );
    }
}
