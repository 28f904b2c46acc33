//! `wheelbuild`: the main job, building one package across Pythons and archs.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;

use crate::build::{BuildReport, BuildRequest, build_package, matrix};
use crate::cli::WheelbuildArgs;
use crate::layout::{Layout, PythonVersion};
use crate::outln;
use crate::recipe::{ResolvedRecipe, TemplateContext, default_recipe, find_recipe, recipes_directory};
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
    let layer_name = args
        .layer
        .clone()
        .or_else(|| layout.default_layer.clone())
        .ok_or_else(|| anyhow::anyhow!("no --layer given and the layout has no default_layer"))?;
    let layer = layout
        .layers
        .get(&layer_name)
        .ok_or_else(|| anyhow::anyhow!("the layout {} has no layer `{layer_name}`", layout.source))?;
    for arch in &archs {
        if !layer.archs.contains(arch) {
            anyhow::bail!(
                "--arch {arch}: layer {layer_name} has no such arch (it has: {})",
                layer.archs.join(", ")
            );
        }
    }
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
        Some(directory) => find_recipe(&directory.path, &args.package)?,
        None => None,
    };
    let recipe_note = match (&recipe_file, &recipes) {
        (Some(file), Some(directory)) => format!(
            "recipe: {} (recipes from {})",
            file.file.display(),
            directory.origin
        ),
        (None, Some(directory)) => format!(
            "no recipe for {} in {} (from {}): building with the defaults",
            args.package,
            directory.path.display(),
            directory.origin
        ),
        (_, None) => format!(
            "no recipes directory (no --recipes, $WHEELWRIGHT_RECIPES, layout `recipes` or ./recipes): building {} with the defaults",
            args.package
        ),
    };
    if !quiet && !args.dry_run {
        eprintln!("wheelbuild: {recipe_note}");
    }
    let index =
        crate::build::index::configured_index(args.index_url.as_deref(), |name| std::env::var(name).ok());
    if let Some(index) = &index {
        let shown = url::Url::parse(&index.url)
            .map(|url| crate::build::index::http::redacted(&url))
            .unwrap_or_else(|_| index.url.clone());
        tracing::info!("package index: {shown} (from {})", index.origin);
    }
    let request = BuildRequest {
        package: args.package.clone(),
        version: args.version.clone(),
        pythons,
        archs,
        layer: layer_name,
        output: absolute(&args.output),
        work: absolute(&args.work_dir.clone().unwrap_or_else(|| {
            std::env::temp_dir().join(format!(
                "wheelwright-build-{}",
                crate::spec::escape_name(&args.package)
            ))
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
    };
    let resolve = |version: &str, context: &TemplateContext| -> anyhow::Result<ResolvedRecipe> {
        match &recipe_file {
            Some(file) => {
                let version: pep440_rs::Version = version
                    .parse()
                    .map_err(|error| anyhow::anyhow!("version `{version}`: {error}"))?;
                Ok(file.resolve(&version, context)?)
            }
            None => Ok(default_recipe(&args.package)),
        }
    };
    if args.dry_run {
        let skip = match (&recipe_file, &args.version) {
            (Some(_), Some(version)) => {
                let context = TemplateContext {
                    version: version.clone(),
                    python: String::new(),
                    arch: String::new(),
                    march: String::new(),
                    cflags: String::new(),
                    layer: request.layer.clone(),
                };
                resolve(version, &context)
                    .map(|recipe| recipe.skip_python)
                    .unwrap_or_default()
            }
            _ => Vec::new(),
        };
        let cells = matrix(&request, &skip);
        if args.json {
            outln!("{}", serde_json::to_string_pretty(&cells)?);
        } else {
            outln!(
                "{} {} for layer {}: {} cells{}",
                request.package,
                request.version.as_deref().unwrap_or("(newest)"),
                request.layer,
                cells.len(),
                match &recipe_file {
                    Some(_) => " (recipe found)".to_string(),
                    None => " (no recipe: PyPI defaults)".to_string(),
                }
            );
            for cell in &cells {
                let arch = &layout.archs[&cell.arch];
                outln!(
                    "  python {}  arch {:<10}  {}",
                    cell.python,
                    cell.arch,
                    arch.cflags
                );
            }
            outln!("pure and abi3 wheels are built once and tested on every cell");
        }
        return Ok(ExitCode::SUCCESS);
    }
    // A spinner on a terminal; plain lines otherwise (logs, CI); nothing with -q.
    use std::io::IsTerminal as _;
    let spinner = (!quiet && std::io::stderr().is_terminal()).then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        bar
    });
    let progress = |message: &str| match &spinner {
        Some(bar) => bar.set_message(message.to_string()),
        None if !quiet => eprintln!("wheelbuild: {message}"),
        None => {}
    };
    let report = build_package(&request, layout, &resolve, &progress);
    if let Some(bar) = &spinner {
        bar.finish_and_clear();
    }
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
        outln!("{} {}", report.package, report.version);
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
        for cell in &report.cells {
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
        for cell in &report.cells {
            for note in &cell.notes {
                outln!("  note ({} {}): {note}", cell.python, cell.arch);
            }
            if let Some(error) = &cell.error {
                outln!("  error ({} {}): {error}", cell.python, cell.arch);
            }
        }
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
            if let Some(wheel) = cell
                .wheel
                .as_ref()
                .filter(|wheel| is_failed(wheel, &request.output))
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
        let wheels: Vec<String> = tested_wheels(&report, &request.output)
            .iter()
            .map(|path| path.display().to_string())
            .collect();
        if let Some(copied) = &copied {
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
    Ok(if report.ok() && copied.as_ref().is_none_or(Report::ok) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Whether a wheel was moved to the output's `failed/` directory.
fn is_failed(wheel: &Path, output: &Path) -> bool {
    wheel.starts_with(output.join(crate::build::FAILED_DIRECTORY))
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
            .filter(|cell| cell.error.is_none() && cell.same_as.is_none() && cell.test == "passed")
            .filter_map(|cell| cell.wheel.clone())
            .filter(|wheel| !is_failed(wheel, output)),
    );
    wheels
}
