//! `wheelwright recipe check|show|import`: validate recipe files, print one recipe resolved
//! for a version, Python and arch, and make recipes from `build_wheel.sh` configs (the work
//! is in [`crate::recipe`] and [`crate::migrate`]).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;

use crate::cli::{RecipeCheckArgs, RecipeCommand, RecipeImportArgs, RecipeShowArgs};
use crate::hint::HintExt as _;
use crate::layout::{Layout, PythonVersion};
use crate::outln;
use crate::recipe::{self, CheckedRecipe, RecipeError, TemplateContext};

pub fn run(command: &RecipeCommand, global_layout: Option<&Path>) -> anyhow::Result<ExitCode> {
    match command {
        RecipeCommand::Check(args) => check(args, global_layout),
        RecipeCommand::Show(args) => show(args, global_layout),
        RecipeCommand::Import(args) => import(args, global_layout),
    }
}

/// The recipes directory of a `recipe` command: `--recipes` (or `$WHEELWRIGHT_RECIPES`) as
/// written, else looked up as `wheelbuild` does ([`recipe::recipes_directory`]); here a
/// directory is required, so finding none is an error that names every place looked at.
fn recipes_directory(explicit: Option<&Path>, global_layout: Option<&Path>) -> anyhow::Result<PathBuf> {
    // A directory named on the command line is taken as written: `recipe check` reports it
    // with the recipes' own results when it cannot be read.
    if let Some(path) = explicit {
        return Ok(path.to_path_buf());
    }
    let layout_recipes = Layout::load(global_layout)?.recipes;
    match recipe::recipes_directory(None, layout_recipes.as_deref())? {
        Some(found) => {
            tracing::info!("recipes from {} ({})", found.path.display(), found.origin);
            // Files are named as the user wrote the directory (relative stays relative).
            Ok(layout_recipes.unwrap_or_else(|| PathBuf::from(recipe::RECIPES_DIRECTORY)))
        }
        None => Err(anyhow::anyhow!(
            "no recipes directory: no --recipes, no $WHEELWRIGHT_RECIPES, no `recipes` key in the layout, and no ./recipes here"
        ))
        .hint("name one with --recipes DIR, or give recipe files or directories as arguments"),
    }
}

fn check(args: &RecipeCheckArgs, global_layout: Option<&Path>) -> anyhow::Result<ExitCode> {
    let mut checked = Vec::new();
    // Errors about a whole directory (cannot be read) rather than one file.
    let mut directory_errors = Vec::new();
    // With no paths, the recipes directory (an error if it is missing); else each path as
    // a directory or a file.
    let targets = if args.paths.is_empty() {
        vec![(recipes_directory(args.recipes.as_deref(), global_layout)?, true)]
    } else {
        args.paths
            .iter()
            .map(|path| (path.clone(), path.is_dir()))
            .collect()
    };
    for (target, is_directory) in &targets {
        if *is_directory {
            match recipe::check_recipes(target) {
                Ok(results) => checked.extend(results),
                Err(error) => directory_errors.push(error),
            }
        } else {
            checked.push(CheckedRecipe {
                path: target.clone(),
                result: recipe::load_recipe_file(target),
            });
        }
    }

    let file_failures = checked.iter().filter(|file| file.result.is_err()).count();
    let failures = file_failures + directory_errors.len();
    if args.json {
        let error_json = |error: &RecipeError| {
            serde_json::json!({
                "message": error.to_string(),
                "file": error.file(),
                "key": error.key(),
                "line": error.position().map(|position| position.line),
                "column": error.position().map(|position| position.column),
            })
        };
        let files: Vec<serde_json::Value> = checked
            .iter()
            .map(|file| match &file.result {
                Ok(recipe) => serde_json::json!({
                    "path": file.path,
                    "package": recipe.package,
                    "ok": true,
                    "errors": [],
                }),
                Err(errors) => serde_json::json!({
                    "path": file.path,
                    "package": null,
                    "ok": false,
                    "errors": errors.iter().map(error_json).collect::<Vec<_>>(),
                }),
            })
            .collect();
        let value = serde_json::json!({
            "ok": failures == 0,
            "recipes": files,
            "errors": directory_errors.iter().map(error_json).collect::<Vec<_>>(),
        });
        outln!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        for error in &directory_errors {
            outln!("error: {error}");
        }
        for file in &checked {
            match &file.result {
                Ok(_) => outln!("ok  {}", file.path.display()),
                Err(errors) => {
                    outln!("err {}", file.path.display());
                    for error in errors {
                        outln!("    {error}");
                    }
                }
            }
        }
        let count = checked.len();
        if count > 0 || directory_errors.is_empty() {
            outln!(
                "{count} recipe{}, {file_failures} with errors",
                if count == 1 { "" } else { "s" }
            );
        }
    }
    Ok(if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `--layer NAME`, refused (with the layout's layers) when the layout has no such layer.
fn check_layer(layout: &Layout, name: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        layout.layers.contains_key(name),
        "--layer {name}: the layout {} has no such layer (it has: {})",
        layout.source,
        layout.layers.keys().cloned().collect::<Vec<_>>().join(", ")
    );
    Ok(())
}

fn show(args: &RecipeShowArgs, global_layout: Option<&Path>) -> anyhow::Result<ExitCode> {
    // Checked first, whether or not a version is given: a misspelt layer is never ignored.
    if let Some(layer) = &args.layer {
        check_layer(&Layout::load(global_layout)?, layer)?;
    }
    let recipe = recipe::find_recipe(
        &recipes_directory(args.recipes.as_deref(), global_layout)?,
        &args.name,
    )?;
    let Some(version_text) = &args.version else {
        // Without a version nothing can be resolved: print the recipe as read.
        let value = match &recipe {
            Some(recipe) => serde_json::to_value(recipe)?,
            None => serde_json::to_value(recipe::default_recipe(&args.name))?,
        };
        outln!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(ExitCode::SUCCESS);
    };
    let version: pep440_rs::Version = version_text
        .parse()
        .map_err(|error| anyhow::anyhow!("--version `{version_text}` is not a PEP 440 version: {error}"))?;
    let python: PythonVersion = args
        .python
        .parse()
        .map_err(|message: String| anyhow::anyhow!("--python: {message}"))?;
    let layout = Layout::load(global_layout)?;
    let arch = layout.archs.get(&args.arch).with_context(|| {
        format!(
            "--arch {}: the layout {} has no such arch (it has: {})",
            args.arch,
            layout.source,
            layout.archs.keys().cloned().collect::<Vec<_>>().join(", ")
        )
    })?;
    let layer = args
        .layer
        .clone()
        .or_else(|| layout.default_layer.clone())
        .unwrap_or_default();
    let context = TemplateContext {
        version: version.to_string(),
        python: python.to_string(),
        arch: arch.name.clone(),
        march: arch.march.clone(),
        cflags: arch.cflags.clone(),
        layer,
    };
    let resolved = match &recipe {
        Some(recipe) => {
            let entries = recipe.matching_versions(&version);
            tracing::info!(
                "{}: versions entries applied for {version}: {entries:?}",
                recipe.file.display()
            );
            recipe.resolve(&version, &context)?
        }
        None => {
            tracing::info!("no recipe for {}: PyPI defaults", args.name);
            recipe::default_recipe(&args.name)
        }
    };
    outln!("{}", serde_json::to_string_pretty(&resolved)?);
    Ok(ExitCode::SUCCESS)
}

fn import(args: &RecipeImportArgs, global_layout: Option<&Path>) -> anyhow::Result<ExitCode> {
    use crate::migrate::{FileStatus, ImportOptions, StackOverride, import_configs};
    let layout = Layout::load(global_layout)?;
    let stack = args
        .stack
        .iter()
        .map(|text| {
            text.parse::<StackOverride>()
                .map_err(|message| anyhow::anyhow!("--stack {message}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    for set in &stack {
        anyhow::ensure!(
            layout.layers.contains_key(&set.layer),
            "--stack {}: the layout {} has no layer `{}` (it has: {})",
            set.layer,
            layout.source,
            set.layer,
            layout.layers.keys().cloned().collect::<Vec<_>>().join(", ")
        );
    }
    let options = ImportOptions {
        config_directory: args.from_wheels_builder.clone(),
        patches_directory: args.patches.clone(),
        output_directory: args.output.clone(),
        force: args.force,
        stack,
        bash: args.bash.clone(),
        timeout: std::time::Duration::from_secs(args.timeout.max(1)),
        threads: args
            .jobs
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |count| count.get())),
    };
    let report = import_configs(&options, &layout)
        .with_context(|| format!("importing the configs of {}", args.from_wheels_builder.display()))?;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for file in &report.files {
            let recipe = file
                .recipe
                .as_ref()
                .map(|recipe| format!(" -> {}", recipe.display()))
                .unwrap_or_default();
            match file.status {
                FileStatus::Converted => outln!("ok      {}{recipe}", file.config.display()),
                FileStatus::ConvertedWithNotes => {
                    outln!("notes   {}{recipe}", file.config.display());
                    for note in &file.notes {
                        outln!("        - {note}");
                    }
                }
                FileStatus::Refused => {
                    outln!("refused {}", file.config.display());
                    outln!("        {}", file.reason.as_deref().unwrap_or_default());
                }
            }
        }
        outln!(
            "{} configs: {} converted, {} converted with notes, {} refused",
            report.files.len(),
            report.converted,
            report.converted_with_notes,
            report.refused
        );
    }
    Ok(if report.refused == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
