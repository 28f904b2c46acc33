//! One cell's build: unpack the source, patch it, make its build environment (static and
//! dynamic build requirements, the wheelhouse first), build with pip under the backend's
//! compiler settings, then post-process the wheel.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::layout::PythonVersion;
use crate::recipe::ResolvedRecipe;
use crate::tools::{CommandFailed, Invocation, run_logged, run_shell};

use super::backend::{self, BackendKind, BuildSystem};
use super::environment::{Environment, InstallRequest, install_wheelhouse_first, make_environment};
use super::post_process::{PostProcess, Processed, post_process};
use super::record::{BuildRecord, BuildRequirements, FileRecord, SourceRecord, ToolVersions};
use super::{Cell, PackageBuild, apply_package_suffix, dependencies, lock, rewrite_march_native, source};

/// A wheel built and post-processed for one cell.
pub(super) struct BuiltWheel {
    pub processed: Processed,
    pub record: BuildRecord,
    pub march_native_rewritten: Vec<String>,
    pub compile_seconds: f64,
}

impl PackageBuild<'_> {
    /// The build environment of `python`, made on first use. One worker handles each Python,
    /// so it is never made twice at once.
    fn build_environment(
        &self,
        python: PythonVersion,
        interpreter: &Path,
        log: &Path,
    ) -> Result<Environment, CommandFailed> {
        if let Some(environment) = lock(&self.build_environments).get(&python) {
            return Ok(environment.clone());
        }
        let directory = self.request.work.join(format!("build-env-py{python}"));
        let environment = make_environment(interpreter, &directory, self.request.index_url.as_deref(), log)?;
        lock(&self.build_environments).insert(python, environment.clone());
        Ok(environment)
    }

    /// The directories build and test requirements are taken from first: the staging
    /// directories of this build, then the wheelhouse.
    fn wheelhouse_links(&self) -> Vec<PathBuf> {
        let mut links = vec![self.request.output.clone()];
        links.extend(dependencies::wheelhouse_directories(self.layout));
        links
    }

    /// The tool versions of a Python's build, asked once.
    fn tool_versions(&self, python: PythonVersion, interpreter: &Path, build_python: &Path) -> ToolVersions {
        if let Some(tools) = lock(&self.tools).get(&python) {
            return tools.clone();
        }
        let tools = ToolVersions::gather(interpreter, Some(build_python));
        lock(&self.tools).insert(python, tools.clone());
        tools
    }

    /// Builds and post-processes one cell's wheel; `jobs` is its share of the CPU budget.
    pub(super) fn build_cell(
        &self,
        cell: &Cell,
        recipe: &ResolvedRecipe,
        cell_dir: &Path,
        log: &Path,
        jobs: usize,
    ) -> anyhow::Result<BuiltWheel> {
        let interpreter = &self.interpreters[&cell.python];
        let fetched = &self.fetched;
        let mut notes = Vec::new();
        let mut march_native_rewritten = Vec::new();
        let mut compile_seconds = 0.0;
        let arch = self
            .layout
            .archs
            .get(&cell.arch)
            .ok_or_else(|| anyhow::anyhow!("the layout has no arch `{}`", cell.arch))?
            .clone();
        let dist = cell_dir.join("dist");
        if dist.exists() {
            fs_err::remove_dir_all(&dist)?;
        }
        fs_err::create_dir_all(&dist)?;
        let mut record = BuildRecord {
            wheelwright: env!("CARGO_PKG_VERSION").to_string(),
            package: recipe.package.clone(),
            version: self.version.clone(),
            python: cell.python.to_string(),
            arch: cell.arch.clone(),
            layer: self.request.layer.clone(),
            jobs,
            source: SourceRecord {
                file: fetched
                    .path
                    .file_name()
                    .map(|name| name.to_string_lossy().into_owned()),
                sha256: fetched.sha256.clone(),
            },
            recipe: recipe.file.as_ref().map(|file| FileRecord {
                file: file
                    .file_name()
                    .map(|name| name.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                sha256: source::file_sha256(file).ok(),
            }),
            layout: self.layout.source.clone(),
            ..BuildRecord::default()
        };
        let mut build_python = None;
        let built_wheel = if fetched.is_wheel {
            notes.push("PyPI has only a pure wheel: taken as is".into());
            let target = dist.join(fetched.path.file_name().unwrap_or_default());
            fs_err::copy(&fetched.path, &target)?;
            record.tools = ToolVersions::gather(interpreter, None);
            target
        } else {
            let source_dir = cell_dir.join("src");
            if source_dir.exists() {
                fs_err::remove_dir_all(&source_dir)?;
            }
            let root = source::unpack(&fetched.path, &source_dir)?;
            let plain = Invocation {
                directory: Some(root.clone()),
                environment: recipe.environment.clone(),
                unset: vec!["PIP_REQUIRE_VIRTUALENV".into()],
            };
            for patch in &recipe.patches {
                run_logged(
                    "patch",
                    Path::new("patch"),
                    &[
                        "-p1".into(),
                        "--batch".into(),
                        "-i".into(),
                        patch.display().to_string(),
                    ],
                    &plain,
                    log,
                )?;
            }
            let rewritten = rewrite_march_native(&root, &arch.march);
            if !rewritten.is_empty() {
                notes.push(format!(
                    "-march=native rewritten to -march={} in {}",
                    arch.march,
                    rewritten.join(", ")
                ));
                march_native_rewritten.extend(rewritten);
            }
            if let Some(suffix) = &recipe.package_suffix {
                let renamed = apply_package_suffix(&root, &recipe.package, suffix)?;
                notes.push(format!(
                    "distribution renamed with the suffix `{suffix}` in {}",
                    renamed.join(", ")
                ));
            }
            let system = BuildSystem::read(&root)?;
            let kind = system.kind();
            let environment = self.build_environment(cell.python, interpreter, log)?;
            let python = environment.python.clone();
            build_python = Some(python.clone());
            let mut declared = system.requires.clone();
            declared.extend(recipe.build_dependencies.iter().cloned());
            let mut requirements = declared.clone();
            requirements.extend(["pip".to_string(), "wheel".to_string()]);
            let links = self.wheelhouse_links();
            install_wheelhouse_first(&InstallRequest {
                environment: &environment,
                requirements: requirements.clone(),
                find_links: &links,
                allow_pypi: true,
                invocation: &Invocation::default(),
                log,
                what: "installing build dependencies",
                refusal: "the build environment cannot be installed",
            })?;
            // Everything from here on runs inside the build environment: its bin/ first on
            // PATH (backends start cmake, ninja, maturin, meson by name).
            let settings = backend::compiler_settings(&backend::CompilerInputs {
                kind,
                interpreter,
                arch: &arch,
                jobs,
                given: &recipe.environment,
                outer: &|key| std::env::var(key).ok(),
                rpath: &recipe.rpath,
                frontend_arguments: &recipe.build_args,
            });
            for entry in &recipe.rpath {
                notes.push(format!("RPATH `{entry}` added at link time"));
            }
            let mut variables = recipe.environment.clone();
            variables.extend(settings.environment.clone());
            variables.extend(environment.activation());
            if kind == BackendKind::Setuptools && jobs > 1 && !variables.contains_key("DIST_EXTRA_CONFIG") {
                let config = backend::setuptools_parallel_config(cell_dir, jobs)?;
                variables.insert("DIST_EXTRA_CONFIG".into(), config.display().to_string());
            }
            let invocation = Invocation {
                directory: Some(root.clone()),
                environment: variables,
                unset: vec!["PIP_REQUIRE_VIRTUALENV".into()],
            };
            for command in &recipe.pre_build {
                run_shell("pre-build command", command, &invocation, log)?;
            }
            let dynamic = if recipe.build_command.is_none() {
                // The backend's own list, asked after the pre-build commands (which may edit
                // its configuration), installed the same way.
                let settings_map = backend::config_settings(&recipe.build_args);
                let asked = backend::dynamic_requirements(
                    &environment,
                    &root,
                    &system,
                    &settings_map,
                    &invocation,
                    log,
                )?;
                let missing: Vec<String> = asked
                    .iter()
                    .filter(|requirement| !requirements.contains(requirement))
                    .cloned()
                    .collect();
                if !missing.is_empty() {
                    tracing::info!(
                        "{} {}: the backend asks for {} as well",
                        recipe.package,
                        cell.python,
                        missing.join(", ")
                    );
                    install_wheelhouse_first(&InstallRequest {
                        environment: &environment,
                        requirements: missing,
                        find_links: &links,
                        allow_pypi: true,
                        invocation: &Invocation::default(),
                        log,
                        what: "installing the backend's build requirements",
                        refusal: "the build environment cannot be installed",
                    })?;
                }
                asked
            } else {
                Vec::new()
            };
            record.backend = Some(match &recipe.build_command {
                Some(_) => "recipe build_command".to_string(),
                None => system.backend.clone(),
            });
            record.flags = settings.flags.clone();
            record.build_requirements = BuildRequirements { declared, dynamic };
            record.tools = self.tool_versions(cell.python, interpreter, &python);
            let compile_started = Instant::now();
            match &recipe.build_command {
                Some(command) => {
                    let mut with_dist = invocation.clone();
                    with_dist
                        .environment
                        .insert("WHEEL_DIR".into(), dist.display().to_string());
                    with_dist
                        .environment
                        .insert("PYTHON".into(), python.display().to_string());
                    run_shell("build command", command, &with_dist, log)?;
                }
                None => {
                    let mut args = vec![
                        "-m".into(),
                        "pip".into(),
                        "wheel".into(),
                        "--no-deps".into(),
                        "--no-build-isolation".into(),
                        "--disable-pip-version-check".into(),
                        "-v".into(),
                        "-w".into(),
                        dist.display().to_string(),
                    ];
                    args.extend(recipe.build_args.iter().cloned());
                    args.extend(settings.frontend_arguments.iter().cloned());
                    args.push(".".into());
                    run_logged("pip wheel", &python, &args, &invocation, log)?;
                }
            }
            compile_seconds += compile_started.elapsed().as_secs_f64();
            for command in &recipe.post_build {
                run_shell("post-build command", command, &invocation, log)?;
            }
            let wheels: Vec<PathBuf> = fs_err::read_dir(&dist)?
                .flatten()
                .map(|entry| entry.path())
                .filter(|path| path.extension().is_some_and(|e| e == "whl"))
                .collect();
            match wheels.as_slice() {
                [wheel] => wheel.clone(),
                [] => anyhow::bail!(
                    "the build produced no wheel in {}; log: {}",
                    dist.display(),
                    log.display()
                ),
                _ => anyhow::bail!("the build produced several wheels in {}", dist.display()),
            }
        };
        let mut processed = post_process(&PostProcess {
            built: &built_wheel,
            python: cell.python,
            layout: self.layout,
            recipe,
            build_python: build_python.as_deref(),
            record: &record,
            directory: &cell_dir.join("wheel"),
        })?;
        notes.append(&mut processed.notes);
        processed.notes = notes;
        Ok(BuiltWheel {
            processed,
            record,
            march_native_rewritten,
            compile_seconds,
        })
    }
}
