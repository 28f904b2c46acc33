//! Python environments for building and testing: made with `uv venv` (or `python -m venv`),
//! filled with `uv pip install` (or pip), always started by their own interpreter path, and
//! given the build's package index (a site mirror) explicitly, since uv does not read pip's
//! variables nor pip uv's.

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
    /// The package index its installs use (`None`: the installer's own default).
    pub index_url: Option<String>,
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

/// Makes a fresh environment for `interpreter` in `directory` (removed first if it exists);
/// its seed packages (uv) and later installs come from `index_url` when one is given.
pub fn make_environment(
    interpreter: &Path,
    directory: &Path,
    index_url: Option<&str>,
    log: &Path,
) -> Result<Environment, CommandFailed> {
    let directory = std::path::absolute(directory).unwrap_or_else(|_| directory.to_path_buf());
    let invocation = Invocation {
        environment: BTreeMap::from([("UV_PYTHON_DOWNLOADS".to_string(), "never".to_string())]),
        ..Invocation::default()
    };
    if directory.exists() {
        let _ = fs_err::remove_dir_all(&directory);
    }
    match find_uv() {
        Some(uv) => {
            let mut args: Vec<String> = vec!["venv".into(), "--seed".into(), "--quiet".into()];
            if let Some(url) = index_url {
                args.extend(["--index-url".into(), url.to_string()]);
            }
            args.extend([
                "--python".into(),
                interpreter.display().to_string(),
                directory.display().to_string(),
            ]);
            run_logged("uv venv", &uv, &args, &invocation, log)?
        }
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
        index_url: index_url.map(str::to_string),
    })
}

/// The `--index-url` arguments of an install into `environment`, unless it is `--no-index`.
fn index_arguments(environment: &Environment, arguments: &[String]) -> Vec<String> {
    match &environment.index_url {
        Some(url) if !arguments.iter().any(|argument| argument == "--no-index") => {
            vec!["--index-url".to_string(), url.clone()]
        }
        _ => Vec::new(),
    }
}

/// Installs requirements into an environment (uv when present, else pip), from its index.
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
            args.extend(index_arguments(environment, arguments));
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
            args.extend(index_arguments(environment, arguments));
            args.extend(arguments.iter().cloned());
            run_logged(what, &environment.python, &args, invocation, log)
        }
    }
}
