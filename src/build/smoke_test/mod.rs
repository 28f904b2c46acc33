//! The smoke test: install a built wheel in a fresh environment that sees only the staging
//! directories and the wheelhouse (and PyPI, for what they lack, when allowed), isolated from
//! the user's pip, uv and Python settings; import every top-level package and module and
//! every compiled extension module the wheel holds, each apart, in one interpreter; run the
//! recipe's tests and `pip check`. The outcome is a [`SmokeReport`], also when it fails.
//!
//! - [`targets`]: what to import, read from the wheel (ELF symbols tell extensions from
//!   libraries);
//! - [`imports`]: the import step and its script;
//! - [`install`]: the isolated environment, its installation, where each distribution came from.

pub mod imports;
pub mod install;
pub mod targets;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::BuildError;
use crate::python::find_uv;
use crate::recipe::{ResolvedRecipe, SkipImport};
use crate::tools::{Invocation, run_logged, run_shell};

use super::environment::{
    Environment, InstallRequest, Installed, install_wheelhouse_first, make_environment_with,
};
use imports::{ImportResult, ImportStep, SnippetResult, run_imports};
use install::{TestDependency, installed_distributions, isolated_invocation, origins};
use targets::{ImportKind, ImportTarget, WheelTargets};

/// The time limit of the import step (imports and the recipe's `test` snippet) when the
/// recipe sets no `import_timeout`.
pub const DEFAULT_IMPORT_TIMEOUT: Duration = Duration::from_secs(300);

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
    /// missing dependencies (None: PyPI).
    pub index_url: Option<&'a str>,
    /// The stack the test runs in (the layer's environment and the recipe's `modules`);
    /// `None`: the host's environment.
    pub stack: Option<std::sync::Arc<crate::stack::Stack>>,
}

/// A module the test did not import because the recipe says so.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Exempted {
    /// The module left alone.
    pub module: String,
    pub kind: ImportKind,
    /// The recipe's reason.
    pub reason: String,
    /// The `skip_imports` entry that covers it (the module itself or a parent).
    pub rule: String,
}

/// How a smoke test went: complete when it passed, as far as it got when it failed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SmokeReport {
    pub passed: bool,
    /// Why it failed.
    pub error: Option<String>,
    /// The test interpreter's version.
    pub python: Option<String>,
    /// Every import tried, in order: packages and modules, then extension modules.
    pub imported: Vec<ImportResult>,
    /// Imports never tried because the import step ended early.
    pub not_tried: Vec<String>,
    /// Imports left out by the recipe's `skip_imports`.
    pub exempted: Vec<Exempted>,
    /// The recipe's `test` snippet, when it ran.
    pub test_snippet: Option<SnippetResult>,
    /// Every distribution of the test environment and where it came from.
    pub dependencies: Vec<TestDependency>,
    /// Whether the test environment needed PyPI.
    pub used_pypi: bool,
    pub seconds: f64,
}

impl SmokeReport {
    /// One line for a person: what was imported and where the dependencies came from.
    pub fn summary(&self) -> String {
        let extensions = self
            .imported
            .iter()
            .filter(|result| result.kind == ImportKind::Extension)
            .count();
        let from_pypi: Vec<String> = self
            .dependencies
            .iter()
            .filter(|dependency| dependency.origin == install::Origin::Pypi)
            .map(|dependency| format!("{} {}", dependency.name, dependency.version))
            .collect();
        if self.imported.is_empty() && self.not_tried.is_empty() && !self.passed {
            return "smoke test: failed before the imports".to_string();
        }
        let mut text = format!(
            "smoke test: {} of {} imports passed ({} compiled extension module{})",
            self.imported.iter().filter(|result| result.ok).count(),
            self.imported.len() + self.not_tried.len(),
            extensions,
            if extensions == 1 { "" } else { "s" }
        );
        if !self.exempted.is_empty() {
            text.push_str(&format!(", {} exempted by the recipe", self.exempted.len()));
        }
        if !from_pypi.is_empty() {
            text.push_str(&format!("; from PyPI: {}", from_pypi.join(", ")));
        }
        text
    }
}

/// Runs the smoke test. Everything that goes wrong is in the report, which says how far the
/// test got.
pub fn smoke_test(test: &SmokeTest) -> SmokeReport {
    let started = Instant::now();
    let mut report = SmokeReport::default();
    if let Err(error) = run(test, &mut report) {
        report.error = Some(super::error::error_chain(&error));
    }
    report.passed = report.error.is_none();
    report.seconds = started.elapsed().as_secs_f64();
    report
}

/// The steps, each filling in `report`; the first failure ends the test.
fn run(test: &SmokeTest, report: &mut SmokeReport) -> Result<(), BuildError> {
    // What to import, first: a wheel that cannot be read needs no environment.
    let discovered = targets::discover(test.wheel)?;
    let (targets, exempted) = plan_targets(&discovered, test.recipe);
    report.exempted = exempted;
    if targets.is_empty() {
        tracing::warn!(
            "{}: nothing to import (no package, module or extension module)",
            test.wheel.display()
        );
    }

    let scratch = tempfile::Builder::new()
        .prefix("smoke-test-")
        .tempdir_in(test.cell_dir)?;
    let work = scratch.path().join("cwd");
    let harness = scratch.path().join("harness");
    fs_err::create_dir_all(&work)?;
    fs_err::create_dir_all(&harness)?;
    let mut isolated = isolated_invocation(&test.recipe.environment, &work);
    if let Some(stack) = &test.stack {
        stack.apply(&mut isolated);
    }

    let environment = make_environment_with(
        test.interpreter,
        &test.cell_dir.join("test-env"),
        test.index_url,
        test.log,
        &isolated,
    )?;
    let seeded = installed_distributions(&environment, &isolated, test.log)?;
    let find_links: Vec<PathBuf> = test
        .find_links
        .iter()
        .filter(|link| link.is_dir())
        .cloned()
        .collect();
    let mut requirements = vec![test.wheel.display().to_string()];
    requirements.extend(test.recipe.test_dependencies.iter().cloned());
    let installed_with = install_wheelhouse_first(&InstallRequest {
        environment: &environment,
        requirements,
        find_links: &find_links,
        allow_pypi: test.allow_pypi,
        invocation: &isolated,
        log: test.log,
        what: "installing the wheel for its test",
        refusal: "the test environment cannot be installed",
    })?;
    report.used_pypi = installed_with == Installed::WithPypi;
    let installed = installed_distributions(&environment, &isolated, test.log)?;
    report.dependencies = origins(&installed, &seeded, test.wheel, &find_links, installed_with);

    let in_environment = Invocation {
        environment: {
            let mut variables = isolated.environment.clone();
            variables.extend(environment.activation(&isolated));
            variables
        },
        ..isolated.clone()
    };
    let limit = test
        .recipe
        .import_timeout
        .map_or(DEFAULT_IMPORT_TIMEOUT, Duration::from_secs);
    let outcome = run_imports(&ImportStep {
        python: &environment.python,
        targets: &targets,
        snippet: test.recipe.test_snippet.as_deref(),
        harness: &harness,
        invocation: &in_environment,
        log: test.log,
        limit,
    })?;
    report.python = outcome.python.clone();
    report.imported = outcome.imported.clone();
    report.not_tried = outcome.not_tried.clone();
    report.test_snippet = outcome.snippet.clone();
    if let Some(error) = import_error(&outcome, test.log) {
        return Err(BuildError::Test(error));
    }
    if let Some(SnippetResult {
        ok: false,
        error: Some(failure),
        ..
    }) = &outcome.snippet
    {
        return Err(BuildError::Test(format!(
            "the recipe's test failed: {}; log: {}\n{}",
            failure.summary(),
            test.log.display(),
            failure
                .traceback
                .iter()
                .map(|line| format!("  | {line}\n"))
                .collect::<String>()
        )));
    }
    if let Some(command) = &test.recipe.test_command {
        run_shell("test command", command, &in_environment, test.log)?;
    }
    pip_check(&environment, &in_environment, test.log)?;
    Ok(())
}

/// The targets to import, in order (packages and modules, then extension modules), and those
/// the recipe exempts. A recipe's `import_names` replace the discovered packages and modules;
/// the extension modules are imported either way.
pub fn plan_targets(
    discovered: &WheelTargets,
    recipe: &ResolvedRecipe,
) -> (Vec<ImportTarget>, Vec<Exempted>) {
    let top_level = if recipe.import_names.is_empty() {
        discovered.top_level.clone()
    } else {
        recipe
            .import_names
            .iter()
            .map(|name| discovered.locate(name))
            .collect()
    };
    let mut targets: Vec<ImportTarget> = Vec::new();
    let mut exempted = Vec::new();
    for target in top_level.into_iter().chain(discovered.extensions.iter().cloned()) {
        if targets.iter().any(|taken| taken.name == target.name) {
            continue;
        }
        match recipe.skip_imports.iter().find(|skip| skip.covers(&target.name)) {
            Some(SkipImport { module, reason }) => exempted.push(Exempted {
                module: target.name.clone(),
                kind: target.kind,
                reason: reason.clone(),
                rule: module.clone(),
            }),
            None => targets.push(target),
        }
    }
    for skip in &recipe.skip_imports {
        if !exempted.iter().any(|exemption| exemption.rule == skip.module) {
            tracing::warn!(
                "skip_imports: `{}` is none of the modules the smoke test would import",
                skip.module
            );
        }
    }
    (targets, exempted)
}

/// The error of an import step that did not import everything, naming each failed import
/// with its error line: "2 of 14 imports failed: `a._b`: ImportError: ...; `c`: ...".
fn import_error(outcome: &imports::ImportOutcome, log: &Path) -> Option<String> {
    let failures: Vec<&ImportResult> = outcome.failures().collect();
    let total = outcome.imported.len() + outcome.not_tried.len();
    let mut parts = Vec::new();
    if !failures.is_empty() {
        parts.push(format!(
            "{} of {total} imports failed: {}",
            failures.len(),
            failures
                .iter()
                .map(|result| format!(
                    "`{}`: {}",
                    result.name,
                    result
                        .error
                        .as_ref()
                        .map(imports::Failure::summary)
                        .unwrap_or_default()
                ))
                .collect::<Vec<_>>()
                .join("; ")
        ));
    }
    if !outcome.not_tried.is_empty() {
        parts.push(format!(
            "{} not tried: {}",
            outcome.not_tried.len(),
            outcome
                .not_tried
                .iter()
                .map(|name| format!("`{name}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    match &outcome.interrupted {
        Some(interrupted) => parts.push(interrupted.clone()),
        None if !parts.is_empty() => parts.push(format!("log: {}", log.display())),
        None => {}
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// `pip check` in the test environment (uv's when there is uv).
fn pip_check(
    environment: &Environment,
    invocation: &Invocation,
    log: &Path,
) -> Result<(), crate::tools::CommandFailed> {
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
            invocation,
            log,
        ),
        None => run_logged(
            "pip check",
            &environment.python,
            &["-m".into(), "pip".into(), "check".into()],
            invocation,
            log,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(kind: ImportKind, name: &str) -> ImportTarget {
        let path = name.replace('.', "/");
        let member = match kind {
            ImportKind::Package => format!("{path}/__init__.py"),
            ImportKind::Module => format!("{path}.py"),
            ImportKind::Extension => format!("{path}.cpython-312-x86_64-linux-gnu.so"),
        };
        ImportTarget {
            kind,
            name: name.to_string(),
            member: Some(member),
        }
    }

    #[test]
    fn recipes_name_imports_and_exempt_some_but_extensions_stay() {
        let discovered = WheelTargets::from_lists(
            vec![
                target(ImportKind::Package, "pkg"),
                target(ImportKind::Module, "helper"),
            ],
            vec![
                target(ImportKind::Extension, "pkg._core"),
                target(ImportKind::Extension, "pkg.cuda._kernels"),
                target(ImportKind::Extension, "pkg.cudart"),
            ],
        );
        let recipe = ResolvedRecipe {
            import_names: vec!["pkg".into(), "pkg._core".into()],
            skip_imports: vec![SkipImport {
                module: "pkg.cuda".into(),
                reason: "needs a GPU".into(),
            }],
            ..ResolvedRecipe::default()
        };
        let (targets, exempted) = plan_targets(&discovered, &recipe);
        let names: Vec<&str> = targets.iter().map(|target| target.name.as_str()).collect();
        // `helper` is replaced by the recipe's list, `pkg._core` imported once, the cuda
        // subpackage's extension exempted, its namesake `pkg.cudart` not.
        assert_eq!(names, ["pkg", "pkg._core", "pkg.cudart"]);
        assert_eq!(
            exempted,
            [Exempted {
                module: "pkg.cuda._kernels".into(),
                kind: ImportKind::Extension,
                reason: "needs a GPU".into(),
                rule: "pkg.cuda".into(),
            }]
        );
        let (all, none) = plan_targets(&discovered, &ResolvedRecipe::default());
        let names: Vec<&str> = all.iter().map(|target| target.name.as_str()).collect();
        assert_eq!(
            names,
            ["pkg", "helper", "pkg._core", "pkg.cuda._kernels", "pkg.cudart"]
        );
        assert!(none.is_empty());
    }

    #[test]
    fn failed_imports_are_named_with_their_error() {
        let failure = |exception: &str, message: &str| imports::Failure {
            exception: exception.into(),
            message: message.into(),
            traceback: vec!["Traceback (most recent call last):".into()],
        };
        let mut outcome = imports::ImportOutcome {
            imported: vec![
                ImportResult {
                    name: "zmq".into(),
                    kind: ImportKind::Package,
                    ok: true,
                    seconds: 0.1,
                    error: None,
                    loaded_as: None,
                },
                ImportResult {
                    name: "zmq.backend.cython._zmq".into(),
                    kind: ImportKind::Extension,
                    ok: false,
                    seconds: 0.0,
                    error: Some(failure(
                        "ImportError",
                        "libzmq.so.5: cannot open shared object file: No such file or directory",
                    )),
                    loaded_as: None,
                },
            ],
            ..imports::ImportOutcome::default()
        };
        assert_eq!(
            import_error(&outcome, Path::new("build.log")).unwrap(),
            "1 of 2 imports failed: `zmq.backend.cython._zmq`: ImportError: libzmq.so.5: cannot open shared object file: No such file or directory; log: build.log"
        );
        outcome.imported.truncate(1);
        assert_eq!(import_error(&outcome, Path::new("build.log")), None);
        outcome.not_tried = vec!["b".into()];
        outcome.interrupted =
            Some("the interpreter ended (killed by signal 11 (SIGSEGV)) while importing `a`".into());
        outcome.imported.push(ImportResult {
            name: "a".into(),
            kind: ImportKind::Extension,
            ok: false,
            seconds: 0.0,
            error: Some(failure(
                "",
                "the interpreter ended (killed by signal 11 (SIGSEGV))",
            )),
            loaded_as: None,
        });
        assert_eq!(
            import_error(&outcome, Path::new("build.log")).unwrap(),
            "1 of 3 imports failed: `a`: the interpreter ended (killed by signal 11 (SIGSEGV)); 1 not tried: `b`; the interpreter ended (killed by signal 11 (SIGSEGV)) while importing `a`"
        );
    }
}
