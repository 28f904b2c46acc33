//! `wheelwright recipe check|show`: validate recipe files, and print one recipe resolved for a
//! version, Python and arch (the work is in [`crate::recipe`]).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;

use crate::cli::{RecipeCheckArgs, RecipeCommand, RecipeShowArgs};
use crate::layout::{Layout, PythonVersion};
use crate::outln;
use crate::recipe::{self, CheckedRecipe, RecipeError, TemplateContext};

pub fn run(command: &RecipeCommand, global_layout: Option<&Path>) -> anyhow::Result<ExitCode> {
    match command {
        RecipeCommand::Check(args) => check(args, global_layout),
        RecipeCommand::Show(args) => show(args, global_layout),
    }
}

/// The recipes directory of a `recipe` command: `--recipes` (or `$WHEELWRIGHT_RECIPES`), else
/// the layout's `recipes` key, else `./recipes` (as `wheelbuild` looks them up).
fn recipes_directory(explicit: Option<&Path>, global_layout: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(path) = explicit {
        return Ok(path.to_path_buf());
    }
    let layout = Layout::load(global_layout)?;
    Ok(layout
        .recipes
        .unwrap_or_else(|| PathBuf::from(recipe::RECIPES_DIRECTORY)))
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
                Err(error) => serde_json::json!({
                    "path": file.path,
                    "package": null,
                    "ok": false,
                    "errors": [error_json(error)],
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
                Err(error) => {
                    outln!("err {}", file.path.display());
                    outln!("    {error}");
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

fn show(args: &RecipeShowArgs, global_layout: Option<&Path>) -> anyhow::Result<ExitCode> {
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
