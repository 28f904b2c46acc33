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
    make_environment_with(interpreter, directory, index_url, log, &Invocation::default())
}

/// [`make_environment`], the commands run with `invocation` (`UV_PYTHON_DOWNLOADS=never`
/// added: the environment is made with `interpreter`, never with a Python uv downloads).
pub fn make_environment_with(
    interpreter: &Path,
    directory: &Path,
    index_url: Option<&str>,
    log: &Path,
    invocation: &Invocation,
) -> Result<Environment, CommandFailed> {
    let directory = std::path::absolute(directory).unwrap_or_else(|_| directory.to_path_buf());
    let mut invocation = with_index(invocation, index_url);
    invocation
        .environment
        .insert("UV_PYTHON_DOWNLOADS".to_string(), "never".to_string());
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

/// The variables that name a default index: dropped when an index is given on the command
/// line, since uv prefers `UV_DEFAULT_INDEX` to an `--index-url` argument.
const INDEX_VARIABLES: [&str; 4] = [
    "UV_DEFAULT_INDEX",
    "UV_INDEX_URL",
    "PIP_INDEX_URL",
    "PIP_NO_INDEX",
];

/// `invocation` without the index variables when `index_url` replaces them.
fn with_index(invocation: &Invocation, index_url: Option<&str>) -> Invocation {
    let mut invocation = invocation.clone();
    if index_url.is_some() {
        for name in INDEX_VARIABLES {
            invocation.environment.remove(name);
            invocation.unset.push(name.to_string());
        }
    }
    invocation
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
    let index = index_arguments(environment, arguments);
    let invocation = &with_index(invocation, index.get(1).map(String::as_str));
    match find_uv() {
        Some(uv) => {
            let mut args = vec![
                "pip".into(),
                "install".into(),
                "--python".into(),
                environment.python.display().to_string(),
            ];
            args.extend(index.iter().cloned());
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
            args.extend(index.iter().cloned());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_index_given_replaces_the_index_variables_unless_the_install_is_offline() {
        let environment = Environment {
            directory: PathBuf::from("/env"),
            python: PathBuf::from("/env/bin/python"),
            bin: PathBuf::from("/env/bin"),
            index_url: Some("https://mirror.example/simple/".into()),
        };
        assert_eq!(
            index_arguments(&environment, &["numpy".into()]),
            ["--index-url", "https://mirror.example/simple/"]
        );
        assert!(index_arguments(&environment, &["--no-index".into(), "numpy".into()]).is_empty());
        let invocation = Invocation {
            environment: BTreeMap::from([("UV_DEFAULT_INDEX".to_string(), "x".to_string())]),
            ..Invocation::default()
        };
        let given = with_index(&invocation, Some("https://mirror.example/simple/"));
        assert!(given.environment.is_empty());
        assert!(given.unset.contains(&"UV_DEFAULT_INDEX".to_string()));
        assert!(given.unset.contains(&"PIP_INDEX_URL".to_string()));
        let untouched = with_index(&invocation, None);
        assert_eq!(untouched.environment.len(), 1);
        assert!(untouched.unset.is_empty());
    }
}
