//! The smoke test: install a built wheel in a fresh environment that sees only the staging
//! directories and the wheelhouse (and PyPI when allowed), import it, run the recipe's tests
//! and `pip check`.

use std::path::{Path, PathBuf};

use crate::recipe::ResolvedRecipe;
use crate::tools::{Invocation, find_uv, run_logged, run_shell};
use crate::wheel::Limits;

use super::environment::{install, make_environment};

/// What a smoke test needs to know.
#[derive(Debug, Clone)]
pub struct SmokeTest<'a> {
    /// The base interpreter of the cell's Python.
    pub interpreter: &'a Path,
    /// The wheel under test.
    pub wheel: &'a Path,
    pub recipe: &'a ResolvedRecipe,
    /// The cell's directory (the test environment and a scratch directory go in it).
    pub cell_dir: &'a Path,
    pub log: &'a Path,
    /// The directories the test installs from, in order: what a node of the cell's layer and
    /// arch would see (staging directories, then the wheelhouse view).
    pub find_links: Vec<PathBuf>,
    /// Whether missing test dependencies may come from PyPI (or `index_url`).
    pub allow_pypi: bool,
    /// The build's package index, for seeding the environment and, with `allow_pypi`, for
    /// missing dependencies.
    pub index_url: Option<&'a str>,
}

/// Runs the smoke test.
pub fn smoke_test(test: &SmokeTest) -> anyhow::Result<()> {
    let directory = test.cell_dir.join("test-env");
    let environment = make_environment(test.interpreter, &directory, test.index_url, test.log)?;
    let mut args = Vec::new();
    if !test.allow_pypi {
        args.push("--no-index".to_string());
    }
    for link in test.find_links.iter().filter(|link| link.is_dir()) {
        args.extend(["--find-links".to_string(), link.display().to_string()]);
    }
    let mut install_args = args.clone();
    install_args.push(test.wheel.display().to_string());
    install_args.extend(test.recipe.test_dependencies.iter().cloned());
    install(
        &environment,
        &install_args,
        "installing the wheel for its test",
        test.log,
        &Invocation::default(),
    )?;
    let names = if test.recipe.import_names.is_empty() {
        discover_import_names(test.wheel, &test.recipe.package)
    } else {
        test.recipe.import_names.clone()
    };
    let scratch = tempfile::tempdir_in(test.cell_dir)?;
    let invocation = Invocation {
        directory: Some(scratch.path().to_path_buf()),
        environment: {
            let mut vars = test.recipe.environment.clone();
            vars.extend(environment.activation());
            vars
        },
        unset: vec!["PYTHONPATH".into()],
    };
    let imports: String = names.iter().map(|name| format!("import {name}\n")).collect();
    let script = format!(
        "{imports}{}\n",
        test.recipe.test_snippet.clone().unwrap_or_default()
    );
    run_logged(
        "import test",
        &environment.python,
        &["-c".into(), script],
        &invocation,
        test.log,
    )
    .map_err(|error| anyhow::anyhow!("importing {} failed: {error}", names.join(", ")))?;
    if let Some(command) = &test.recipe.test_command {
        run_shell("test command", command, &invocation, test.log)?;
    }
    match find_uv() {
        Some(uv) => run_logged(
            "pip check",
            &uv,
            &[
                "pip".into(),
                "check".into(),
                "--python".into(),
                environment.python.display().to_string(),
            ],
            &invocation,
            test.log,
        ),
        None => run_logged(
            "pip check",
            &environment.python,
            &["-m".into(), "pip".into(), "check".into()],
            &invocation,
            test.log,
        ),
    }?;
    Ok(())
}

/// Candidate import names of an installed wheel: top_level.txt, else its top-level
/// packages and modules from RECORD, else build_wheel.sh's name heuristics.
fn discover_import_names(wheel: &Path, package: &str) -> Vec<String> {
    let mut names = Vec::new();
    if let Ok(mut reader) = crate::wheel::WheelReader::open(wheel, Limits::default()) {
        let top_level = format!("{}/top_level.txt", reader.dist_info);
        if let Ok(bytes) = reader.read_member(&top_level) {
            names.extend(
                String::from_utf8_lossy(&bytes)
                    .lines()
                    .map(str::trim)
                    .filter(|line| !line.is_empty() && !line.contains('/'))
                    .map(str::to_string),
            );
        }
        if names.is_empty() {
            for entry in &reader.entries {
                let Some((first, rest)) = entry.name.split_once('/') else {
                    // A top-level module.
                    if let Some(module) = entry
                        .name
                        .strip_suffix(".py")
                        .or_else(|| entry.name.split_once(".cpython").map(|(m, _)| m))
                        .or_else(|| entry.name.split_once(".abi3").map(|(m, _)| m))
                    {
                        names.push(module.to_string());
                    }
                    continue;
                };
                if rest == "__init__.py" && !first.ends_with(".dist-info") && !first.ends_with(".data") {
                    names.push(first.to_string());
                }
            }
        }
    }
    names.retain(|name| !name.starts_with('_') && name != "tests" && name != "test" && !name.is_empty());
    names.sort();
    names.dedup();
    if names.is_empty() {
        let base = package.replace('-', "_");
        names.push(base.to_lowercase());
        for prefix in ["python_", "py"] {
            if let Some(stripped) = base.to_lowercase().strip_prefix(prefix) {
                names.push(stripped.to_string());
            }
        }
    }
    names
}
