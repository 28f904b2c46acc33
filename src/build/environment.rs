//! Python environments for building and testing: made with `uv venv` (or `python -m venv`),
//! filled with `uv pip install` (or pip), always started by their own interpreter path.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::tools::{CommandFailed, Invocation, find_uv, run_logged};

/// A Python environment made for building or testing.
#[derive(Debug, Clone)]
pub struct Environment {
    /// The environment's directory (absolute).
    pub directory: PathBuf,
    /// `<directory>/bin/python`, never resolved through its symlink: started through the
    /// link, Python finds the environment's site-packages.
    pub python: PathBuf,
    /// `<directory>/bin`, put first on PATH for the commands run in the environment.
    pub bin: PathBuf,
}

impl Environment {
    /// PATH with the environment's `bin` first.
    pub fn path_variable(&self) -> String {
        match std::env::var("PATH") {
            Ok(existing) if !existing.is_empty() => format!("{}:{existing}", self.bin.display()),
            _ => self.bin.display().to_string(),
        }
    }

    /// The variables that make a command run "inside" the environment, as `activate` does.
    pub fn activation(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("PATH".to_string(), self.path_variable()),
            ("VIRTUAL_ENV".to_string(), self.directory.display().to_string()),
        ])
    }
}

/// Makes a fresh environment for `interpreter` in `directory` (removed first if it exists).
pub fn make_environment(
    interpreter: &Path,
    directory: &Path,
    log: &Path,
) -> Result<Environment, CommandFailed> {
    make_environment_with(interpreter, directory, log, &Invocation::default())
}

/// [`make_environment`], the commands run with `invocation` (`UV_PYTHON_DOWNLOADS=never`
/// added: the environment is made with `interpreter`, never with a Python uv downloads).
pub fn make_environment_with(
    interpreter: &Path,
    directory: &Path,
    log: &Path,
    invocation: &Invocation,
) -> Result<Environment, CommandFailed> {
    let directory = std::path::absolute(directory).unwrap_or_else(|_| directory.to_path_buf());
    let mut invocation = invocation.clone();
    invocation
        .environment
        .insert("UV_PYTHON_DOWNLOADS".to_string(), "never".to_string());
    if directory.exists() {
        let _ = fs_err::remove_dir_all(&directory);
    }
    match find_uv() {
        Some(uv) => run_logged(
            "uv venv",
            &uv,
            &[
                "venv".into(),
                "--seed".into(),
                "--quiet".into(),
                "--python".into(),
                interpreter.display().to_string(),
                directory.display().to_string(),
            ],
            &invocation,
            log,
        )?,
        None => run_logged(
            "python -m venv",
            interpreter,
            &["-m".into(), "venv".into(), directory.display().to_string()],
            &invocation,
            log,
        )?,
    }
    Ok(Environment {
        python: directory.join("bin/python"),
        bin: directory.join("bin"),
        directory,
    })
}

/// Installs requirements into an environment (uv when present, else pip).
pub fn install(
    environment: &Environment,
    arguments: &[String],
    what: &str,
    log: &Path,
    invocation: &Invocation,
) -> Result<(), CommandFailed> {
    if arguments.is_empty() {
        return Ok(());
    }
    match find_uv() {
        Some(uv) => {
            let mut args = vec![
                "pip".into(),
                "install".into(),
                "--python".into(),
                environment.python.display().to_string(),
            ];
            args.extend(arguments.iter().cloned());
            run_logged(what, &uv, &args, invocation, log)
        }
        None => {
            let mut args = vec![
                "-m".into(),
                "pip".into(),
                "install".into(),
                "--disable-pip-version-check".into(),
            ];
            args.extend(arguments.iter().cloned());
            run_logged(what, &environment.python, &args, invocation, log)
        }
    }
}

/// Installs requirements taking what `links` (the staging and wheelhouse directories) hold
/// first: an offline attempt with only those directories, then, when it cannot be satisfied
/// there, one with the index as well.
pub fn install_preferring(
    environment: &Environment,
    requirements: &[String],
    links: &[PathBuf],
    what: &str,
    log: &Path,
) -> Result<(), CommandFailed> {
    if requirements.is_empty() {
        return Ok(());
    }
    let mut link_args = Vec::new();
    for link in links.iter().filter(|link| link.is_dir()) {
        link_args.extend(["--find-links".to_string(), link.display().to_string()]);
    }
    if !link_args.is_empty() {
        let mut offline = vec!["--no-index".to_string()];
        offline.extend(link_args.iter().cloned());
        offline.extend(requirements.iter().cloned());
        let quiet_log = log.with_extension("offline.log");
        match install(
            environment,
            &offline,
            &format!("{what} (wheelhouse only)"),
            &quiet_log,
            &Invocation::default(),
        ) {
            Ok(()) => return Ok(()),
            Err(error) => tracing::debug!(
                "{what}: not all in the wheelhouse ({}), asking the index too",
                error.status
            ),
        }
    }
    let mut online = link_args;
    online.extend(requirements.iter().cloned());
    install(environment, &online, what, log, &Invocation::default())
}
