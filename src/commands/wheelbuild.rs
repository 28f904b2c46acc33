//! `wheelbuild`: the main job, building one package across Pythons and archs.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;

use std::collections::BTreeMap;

use crate::build::{BuildReport, BuildRequest, CellOutcome, Recipes, build_package};
use crate::build::{PlanInputs, plan_cells};
use crate::cli::WheelbuildArgs;
use crate::layout::{Layout, PythonVersion};
use crate::outln;
use crate::recipe::{RecipeFile, RecipesDirectory, find_recipe, recipes_directory};
use crate::wheelhouse::place::{Options, Report, place_wheels};

fn cache_directory(explicit: Option<&PathBuf>) -> PathBuf {
    if let Some(path) = explicit {
        return path.clone();
    }
    crate::wheel::verified::cache_root().join("sources")
}

fn human_size(bytes: u64) -> String {
    if bytes >= 1 << 20 {
        format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
    } else {
        format!("{:.0} KiB", bytes as f64 / 1024.0)
    }
}

pub fn run(args: &WheelbuildArgs, layout: &Layout, quiet: bool) -> anyhow::Result<ExitCode> {
    run_with(args, layout, quiet, None)
}

/// [`run`], adopting the package's binary wheels when `adopt` is given (`wheelwright adopt`).
pub fn run_with(
    args: &WheelbuildArgs,
    layout: &Layout,
    quiet: bool,
    adopt: Option<crate::recipe::AdoptSettings>,
) -> anyhow::Result<ExitCode> {
    if let Some(file) = &args.cell {
        return run_cell(file, args, layout, quiet);
    }
    let package = args
        .package
        .clone()
        .ok_or_else(|| anyhow::anyhow!("--package is required (or --cell FILE)"))?;
    let (mut request, recipes, recipe_note) = request_from_args(args, &package, layout)?;
    request.adopt = adopt;
    // Every run names its recipe (or says why there is none), a dry run too.
    if !quiet {
        eprintln!("wheelbuild: {recipe_note}");
    }
    if args.dry_run {
        return dry_run(args, layout, &request, &recipes);
    }
    if let Some(directory) = &args.write_cells {
        let files = crate::build::write_cell_files(&request, layout, &recipes, directory)?;
        for file in &files {
            outln!("{}", file.display());
        }
        return Ok(ExitCode::SUCCESS);
    }
    let progress = Progress::new(quiet);
    let report = build_package(&request, layout, &recipes, &|message| progress.say(message));
    progress.finish();
    let report = report?;
    // --autocopy: the tested wheels (and those of dependencies built with --recursive) go
    // through cp-wheels' checks and placement.
    let copied = if args.autocopy {
        let wheels = tested_wheels(&report, &request.output);
        if wheels.is_empty() {
            tracing::warn!("--autocopy: no tested wheel to stage");
            None
        } else {
            Some(place_wheels(&wheels, layout, &Options::default(), &|_| {})?)
        }
    } else {
        None
    };
    if args.json {
        let mut value = serde_json::to_value(&report)?;
        if let (Some(copied), Some(object)) = (&copied, value.as_object_mut()) {
            object.insert("autocopy".to_string(), serde_json::to_value(copied)?);
        }
        outln!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        print_report(&report, &request.output, copied.as_ref());
    }
    Ok(if report.ok() && copied.as_ref().is_none_or(Report::ok) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// A spinner on a terminal; plain lines otherwise (logs, CI); nothing with -q.
struct Progress {
    spinner: Option<indicatif::ProgressBar>,
    quiet: bool,
}

impl Progress {
    fn new(quiet: bool) -> Self {
        use std::io::IsTerminal as _;
        let spinner = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            bar
        });
        Progress { spinner, quiet }
    }

    fn say(&self, message: &str) {
        match &self.spinner {
            Some(bar) => bar.set_message(message.to_string()),
            None if !self.quiet => eprintln!("wheelbuild: {message}"),
            None => {}
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.spinner {
            bar.finish_and_clear();
        }
    }
}

/// The build request the arguments describe, the package's recipes, and a line saying which
/// recipe is used (and where recipes were looked up).
fn request_from_args(
    args: &WheelbuildArgs,
    package: &str,
    layout: &Layout,
) -> anyhow::Result<(BuildRequest, Recipes, String)> {
    let pythons: Vec<PythonVersion> = if args.python.is_empty() {
        layout.python_versions.clone()
    } else {
        args.python
            .iter()
            .map(|text| text.trim().parse().map_err(anyhow::Error::msg))
            .collect::<anyhow::Result<_>>()
            .context("--python")?
    };
    let archs: Vec<String> = if args.arch.is_empty() {
        vec!["generic".to_string()]
    } else {
        args.arch.clone()
    };
    let layer = checked_layer(args, layout, &archs)?;
    // Every path is made absolute once, here (not canonicalised: symlinks stay as given), so
    // that commands run from other directories see the same files.
    let absolute = |path: &Path| std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let recipes = if args.recipes.as_ref().is_some_and(|path| !path.is_dir()) {
        let path = args.recipes.as_deref().unwrap_or(Path::new(""));
        anyhow::bail!("--recipes {}: no such directory", path.display());
    } else {
        recipes_directory(args.recipes.as_deref(), layout.recipes.as_deref())?
    };
    let recipe_file = match &recipes {
        Some(directory) => find_recipe(&directory.path, package)?,
        None => None,
    };
    let note = recipe_note(package, recipe_file.as_ref(), recipes.as_ref());
    let index = crate::index::configured_index(args.index_url.as_deref(), |name| std::env::var(name).ok());
    if let Some(index) = &index {
        let shown = url::Url::parse(&index.url)
            .map(|url| crate::index::http::redacted(&url))
            .unwrap_or_else(|_| index.url.clone());
        tracing::info!("package index: {shown} (from {})", index.origin);
    }
    let request = BuildRequest {
        package: package.to_string(),
        version: args.version.clone(),
        pythons,
        archs,
        layer,
        output: absolute(&args.output),
        work: absolute(&args.work_dir.clone().unwrap_or_else(|| {
            std::env::temp_dir().join(format!("wheelwright-build-{}", crate::spec::escape_name(package)))
        })),
        cache: absolute(&cache_directory(args.cache_dir.as_ref())),
        keep_build_dir: args.keep_build_dir,
        test_dependencies_from_pypi: !args.no_pypi,
        jobs: args.jobs.unwrap_or_else(crate::inspect::default_jobs).max(1),
        recursive: args.recursive,
        recipes: recipes.as_ref().map(|directory| directory.path.clone()),
        requirement: None,
        ancestors: Vec::new(),
        index_url: index.map(|index| index.url),
        adopt: None,
    };
    Ok((request, Recipes::new(package, recipe_file), note))
}

/// The layer to build for (`--layer`, else the layout's default), checked to have the archs.
fn checked_layer(args: &WheelbuildArgs, layout: &Layout, archs: &[String]) -> anyhow::Result<String> {
    let layer_name = args
        .layer
        .clone()
        .or_else(|| layout.default_layer.clone())
        .ok_or_else(|| anyhow::anyhow!("no --layer given and the layout has no default_layer"))?;
    let layer = layout.layers.get(&layer_name).ok_or_else(|| {
        anyhow::anyhow!(
            "--layer {layer_name}: the layout {} has no such layer (it has: {})",
            layout.source,
            layout.layers.keys().cloned().collect::<Vec<_>>().join(", ")
        )
    })?;
    for arch in archs {
        if !layer.archs.contains(arch) {
            anyhow::bail!(
                "--arch {arch}: layer {layer_name} has no such arch (it has: {})",
                layer.archs.join(", ")
            );
        }
    }
    Ok(layer_name)
}

/// Which recipe a build uses, in words.
fn recipe_note(package: &str, file: Option<&RecipeFile>, recipes: Option<&RecipesDirectory>) -> String {
    match (file, recipes) {
        (Some(file), Some(directory)) => format!(
            "recipe: {} (recipes from {})",
            file.file.display(),
            directory.origin
        ),
        (None, Some(directory)) => format!(
            "no recipe for {package} in {} (from {}): building with the defaults",
            directory.path.display(),
            directory.origin
        ),
        (_, None) => format!(
            "no recipes directory (no --recipes, $WHEELWRIGHT_RECIPES, layout `recipes` or ./recipes): building {package} with the defaults"
        ),
    }
}

/// `--dry-run`: the cells the build would run, planned by the same code as a build (the
/// recipe resolved per cell for the version given, or as it stands for every version).
fn dry_run(
    args: &WheelbuildArgs,
    layout: &Layout,
    request: &BuildRequest,
    recipes: &Recipes,
) -> anyhow::Result<ExitCode> {
    // Interpreters that are missing are left empty: a dry run says what would be built.
    let interpreters: BTreeMap<PythonVersion, PathBuf> = request
        .pythons
        .iter()
        .filter_map(|python| {
            crate::python::find_python(*python)
                .ok()
                .map(|path| (*python, path))
        })
        .collect();
    let version = request.exact_version();
    let plan = plan_cells(&PlanInputs {
        request,
        layout,
        recipes,
        interpreters: &interpreters,
        version: version.as_ref(),
        source: None,
    })?;
    // The layer's environment and the recipe's modules are checked in a dry run too.
    crate::build::enter_stacks(layout, &plan)?;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&plan.cells)?);
        return Ok(ExitCode::SUCCESS);
    }
    outln!(
        "{} {} for layer {}: {} cells{}",
        request.package,
        request.version.as_deref().unwrap_or("(newest)"),
        request.layer,
        plan.cells.len(),
        match recipes.file() {
            Some(_) => " (recipe found)",
            None => " (no recipe: PyPI defaults)",
        }
    );
    for cell in &plan.cells {
        let arch = &layout.archs[&cell.arch];
        outln!(
            "  python {}  arch {:<10}  {}",
            cell.python,
            cell.arch,
            arch.cflags
        );
        if let Ok(Some(stack)) = crate::build::cell_stack(layout, cell, true) {
            outln!(
                "    stack: {}; modules: {}",
                crate::words::count(stack.lines.len(), "line"),
                if stack.loaded.is_empty() {
                    "none".to_string()
                } else {
                    stack.loaded.join(" ")
                }
            );
        }
    }
    for note in &plan.notes {
        outln!("note: {note}");
    }
    outln!("pure and abi3 wheels are built once and tested on every cell");
    Ok(ExitCode::SUCCESS)
}

/// `--cell FILE`: one cell built, tested and staged; its outcome printed.
fn run_cell(file: &Path, args: &WheelbuildArgs, layout: &Layout, quiet: bool) -> anyhow::Result<ExitCode> {
    if !quiet {
        // The recipe was resolved when the cell was planned: the file says which it was.
        let cell = crate::build::Cell::read(file)?;
        match &cell.recipe.file {
            Some(recipe) => eprintln!(
                "wheelbuild: recipe: {} (as planned in {})",
                recipe.display(),
                file.display()
            ),
            None => eprintln!(
                "wheelbuild: no recipe for {} (as planned in {}): building with the defaults",
                cell.package,
                file.display()
            ),
        }
    }
    let progress = Progress::new(quiet);
    let outcome = crate::build::run_cell_file(
        file,
        layout,
        args.jobs,
        crate::build::CellMode::Full,
        &|message| progress.say(message),
    );
    progress.finish();
    let outcome = outcome?;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&outcome)?);
    } else {
        print_cells(std::slice::from_ref(&outcome));
    }
    Ok(
        if crate::build::passed(&outcome) && !crate::build::held(&outcome) {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        },
    )
}

/// The table of cells, then their notes and errors.
fn print_cells(cells: &[CellOutcome]) {
    outln!(
        "  {:<6} {:<10} {:<62} {:>9}  {:<12} {:<7} {:>6}",
        "python",
        "arch",
        "wheel",
        "size",
        "sha256",
        "test",
        "time"
    );
    for cell in cells {
        let wheel = cell
            .wheel
            .as_ref()
            .and_then(|path| path.file_name())
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_else(|| "-".to_string());
        outln!(
            "  {:<6} {:<10} {:<62} {:>9}  {:<12} {:<7} {:>5.1}s",
            cell.python,
            cell.arch,
            wheel,
            cell.size.map(human_size).unwrap_or_default(),
            cell.sha256.as_deref().map(|sha| &sha[..12]).unwrap_or("-"),
            cell.test,
            cell.seconds
        );
    }
    for cell in cells {
        for note in &cell.notes {
            outln!("  note ({} {}): {note}", cell.python, cell.arch);
        }
        if let Some(error) = &cell.error {
            outln!("  error ({} {}): {error}", cell.python, cell.arch);
        }
        for reason in &cell.held {
            outln!(
                "  warning ({} {}): held back, not staged: {reason}",
                cell.python,
                cell.arch
            );
        }
    }
}

/// The human report of a package build.
fn print_report(report: &BuildReport, output: &Path, copied: Option<&Report>) {
    outln!("{} {}", report.package, report.version);
    print_cells(&report.cells);
    if !report.march_native_rewritten.is_empty() {
        outln!(
            "  -march=native was rewritten in: {}",
            report.march_native_rewritten.join(", ")
        );
    }
    if report.compile_seconds > report.seconds {
        outln!(
            "  time: {:.1}s in all, {:.1}s compiling summed over the cells built at once",
            report.seconds,
            report.compile_seconds
        );
    } else {
        outln!(
            "  time: {:.1}s in all, {:.1}s compiling, {:.1}s everything else",
            report.seconds,
            report.compile_seconds,
            report.seconds - report.compile_seconds
        );
    }
    for cell in &report.cells {
        if let Some(wheel) = cell.wheel.as_ref().filter(|wheel| is_not_staged(wheel, output))
            && cell.same_as.is_none()
        {
            outln!(
                "  not staged ({} {}): {} (with its log and record)",
                cell.python,
                cell.arch,
                wheel.display()
            );
        }
    }
    let wheels: Vec<String> = tested_wheels(report, output)
        .iter()
        .map(|path| path.display().to_string())
        .collect();
    if let Some(copied) = copied {
        outln!("autocopy (cp-wheels):");
        crate::commands::cp_wheels::print_human(copied);
    } else if !wheels.is_empty() {
        let flags: Vec<String> = wheels
            .iter()
            .map(|wheel| format!("--wheel {}", crate::tools::shell_quote(wheel)))
            .collect();
        outln!("stage them with:\n  cp-wheels {}", flags.join(" "));
    }
}

/// Whether a wheel was moved to the output's `failed/` or `held/` directory (not staged).
fn is_not_staged(wheel: &Path, output: &Path) -> bool {
    wheel.starts_with(output.join(crate::build::FAILED_DIRECTORY))
        || wheel.starts_with(output.join(crate::build::HELD_DIRECTORY))
}

/// The staged wheels of cells that built and passed their test, dependencies first.
fn tested_wheels(report: &BuildReport, output: &Path) -> Vec<PathBuf> {
    let mut wheels: Vec<PathBuf> = report
        .dependencies
        .iter()
        .flat_map(|dependency| tested_wheels(dependency, output))
        .collect();
    wheels.extend(
        report
            .cells
            .iter()
            .filter(|cell| {
                cell.error.is_none()
                    && cell.same_as.is_none()
                    && cell.test == crate::build::record::TestStatus::Passed
            })
            .filter_map(|cell| cell.wheel.clone())
            .filter(|wheel| !is_not_staged(wheel, output)),
    );
    wheels
}
