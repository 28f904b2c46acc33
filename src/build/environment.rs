//! Python environments for building and testing: made with `uv venv` (or `python -m venv`),
//! filled with `uv pip install` (or pip), always started by their own interpreter path, and
//! given the build's package index (a site mirror) explicitly, since uv does not read pip's
//! variables nor pip uv's.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::python::find_uv;
use crate::spec::{WheelFilename, normalize_name};
use crate::tools::{CommandFailed, Invocation, log_length, read_log_from, run_logged};

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
    /// PATH with the environment's `bin` first, before the PATH `invocation` would give.
    pub fn path_variable(&self, invocation: &Invocation) -> String {
        let existing = invocation
            .environment
            .get("PATH")
            .cloned()
            .or_else(|| invocation.inherited("PATH"));
        match existing {
            Some(existing) if !existing.is_empty() => format!("{}:{existing}", self.bin.display()),
            _ => self.bin.display().to_string(),
        }
    }

    /// The variables that make a command of `invocation` run "inside" the environment, as
    /// `activate` does.
    pub fn activation(&self, invocation: &Invocation) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("PATH".to_string(), self.path_variable(invocation)),
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

/// An environment that could not be filled.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// Distributions missing from the wheelhouse while PyPI is forbidden.
    #[error(
        "{what}: {} {} in none of the wheelhouse directories ({}) and PyPI is forbidden (`--no-pypi`); log: {}",
        quoted(.missing),
        if .missing.len() == 1 { "is" } else { "are" },
        .directories.iter().map(|directory| directory.display().to_string()).collect::<Vec<_>>().join(", "),
        .log.display(),
    )]
    Missing {
        /// What was being installed (`the test environment cannot be installed`).
        what: String,
        missing: Vec<String>,
        directories: Vec<PathBuf>,
        log: PathBuf,
    },
    #[error(transparent)]
    Command(#[from] CommandFailed),
}

fn quoted(names: &[String]) -> String {
    names
        .iter()
        .map(|name| format!("`{name}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// How an environment was filled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Installed {
    /// From the find-links directories alone.
    Offline,
    /// With PyPI, after the find-links directories alone were not enough.
    WithPypi,
}

/// What to install into an environment, and from where.
pub struct InstallRequest<'a> {
    pub environment: &'a Environment,
    /// The requirements (a wheel under test first, when there is one: it is never "missing").
    pub requirements: Vec<String>,
    /// The find-links directories (the staging directories and the wheelhouse).
    pub find_links: &'a [PathBuf],
    /// Whether what they lack may come from the index.
    pub allow_pypi: bool,
    pub invocation: &'a Invocation,
    pub log: &'a Path,
    /// What is installed, for the log (`installing build dependencies`).
    pub what: &'a str,
    /// The start of the error when something is missing and the index is not allowed.
    pub refusal: &'a str,
}

/// Installs from the find-links directories alone (`--no-index`); if that fails for want of
/// a distribution, again with PyPI when allowed, else an error naming what is missing.
pub fn install_wheelhouse_first(request: &InstallRequest) -> Result<Installed, InstallError> {
    let links: Vec<String> = request
        .find_links
        .iter()
        .filter(|link| link.is_dir())
        .flat_map(|link| ["--find-links".to_string(), link.display().to_string()])
        .collect();
    let mut offline = vec!["--no-index".to_string()];
    offline.extend(links.iter().cloned());
    offline.extend(request.requirements.iter().cloned());
    let start = log_length(request.log);
    let failure = match install(
        request.environment,
        &offline,
        &format!("{} (wheelhouse only)", request.what),
        request.log,
        request.invocation,
    ) {
        Ok(()) => return Ok(Installed::Offline),
        Err(failure) => failure,
    };
    let output = read_log_from(request.log, start);
    // The wheel under test is there, whatever uv's reasoning says about it.
    let under_test = request
        .requirements
        .first()
        .and_then(|wheel| Path::new(wheel).file_name()?.to_str().map(str::to_string))
        .and_then(|file| WheelFilename::from_str(&file).ok())
        .map(|filename| filename.normalized_name());
    let mut missing = missing_distributions(&output);
    missing.retain(|name| Some(name) != under_test.as_ref());
    if missing.is_empty() && !resolution_failed(&output) {
        return Err(failure.into());
    }
    if !request.allow_pypi {
        if missing.is_empty() {
            return Err(failure.into());
        }
        return Err(InstallError::Missing {
            what: request.refusal.to_string(),
            missing,
            directories: request.find_links.to_vec(),
            log: request.log.to_path_buf(),
        });
    }
    tracing::info!(
        "the wheelhouse lacks {}: {} with PyPI",
        if missing.is_empty() {
            "a distribution".to_string()
        } else {
            missing.join(", ")
        },
        request.what
    );
    // Only what the wheelhouse lacks comes from the index (with what it needs in turn); then
    // the rest from the wheelhouse alone, as asked. When that cannot work (the index's
    // version of a missing distribution does not suit the rest), everything is resolved
    // with the index.
    if !missing.is_empty() {
        let mut lacking = links.clone();
        lacking.extend(missing.iter().cloned());
        let from_index = install(
            request.environment,
            &lacking,
            &format!("{} (what the wheelhouse lacks, from PyPI)", request.what),
            request.log,
            request.invocation,
        );
        if from_index.is_ok()
            && install(
                request.environment,
                &offline,
                &format!("{} (the rest from the wheelhouse)", request.what),
                request.log,
                request.invocation,
            )
            .is_ok()
        {
            return Ok(Installed::WithPypi);
        }
    }
    let mut online = links;
    online.extend(request.requirements.iter().cloned());
    install(
        request.environment,
        &online,
        &format!("{} (wheelhouse, then PyPI)", request.what),
        request.log,
        request.invocation,
    )?;
    Ok(Installed::WithPypi)
}

/// Whether an installer's output says that it could not resolve the requirements (rather than,
/// say, failing to build or unpack something).
pub fn resolution_failed(output: &str) -> bool {
    [
        "No solution found when resolving",
        "No matching distribution found",
        "Could not find a version that satisfies",
    ]
    .iter()
    .any(|needle| output.contains(needle))
}

/// The distributions an installer's output says it could not find (normalised names, sorted):
/// uv's "Because numpy was not found in the provided package locations ...", "there is no
/// version of numpy==9", "only numpy<=1.26 is available", pip's "No matching distribution
/// found for numpy>=2".
pub fn missing_distributions(output: &str) -> Vec<String> {
    let mut names = Vec::new();
    // Lines are joined: uv wraps its explanation over several lines.
    let text = output
        .lines()
        .map(|line| {
            line.trim_start_matches(['│', '╰', '─', '▶', ' ', '|', '×'])
                .trim()
        })
        .collect::<Vec<_>>()
        .join(" ");
    for (start, end) in [
        ("ecause ", " was not found in the"),
        ("there is no version of ", " "),
        ("there are no versions of ", " "),
        // Not "only cffi==1.0 is available and you require cffi": a step of uv's reasoning
        // about what is there, not a want.
        ("only ", " is available and "),
        ("only ", " are available and "),
        ("No matching distribution found for ", " "),
    ] {
        let mut rest = text.as_str();
        while let Some(at) = rest.find(start) {
            let after = &rest[at + start.len()..];
            rest = after;
            let Some(stop) = after.find(end).or_else(|| (end == " ").then_some(after.len())) else {
                continue;
            };
            if end.ends_with("available and ") && after[stop + end.len()..].starts_with("you require") {
                continue;
            }
            let candidate = &after[..stop];
            // "only the following versions of numpy are available" names it last.
            let candidate = candidate
                .strip_prefix("the following versions of ")
                .unwrap_or(candidate);
            if let Some(name) = requirement_name(candidate) {
                names.push(name);
            }
        }
    }
    names.sort();
    names.dedup();
    names
}

/// The normalised distribution name at the start of a requirement (`numpy>=2` -> `numpy`),
/// if the text is a single requirement.
fn requirement_name(text: &str) -> Option<String> {
    let text = text.trim().trim_end_matches([',', '.', ':']);
    let end = text
        .find(|character: char| !(character.is_ascii_alphanumeric() || "._-".contains(character)))
        .unwrap_or(text.len());
    let (name, rest) = text.split_at(end);
    let rest = rest.trim_start();
    let specifier = rest.is_empty() || rest.starts_with(['<', '>', '=', '!', '~', '[', '@', ';']);
    (!name.is_empty()
        && specifier
        && !rest.contains(' ')
        && name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric()))
    .then(|| normalize_name(name))
}

impl crate::hint::Hint for InstallError {
    fn hint(&self) -> Option<String> {
        match self {
            InstallError::Missing { missing, .. } => Some(format!(
                "`--recursive` builds {} first",
                if missing.len() == 1 { "it" } else { "them" }
            )),
            InstallError::Command(error) => crate::hint::Hint::hint(error),
        }
    }
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

    #[test]
    fn missing_distributions_are_read_from_uv_and_pip() {
        let uv = "  × No solution found when resolving dependencies:\n  ╰─▶ Because numpy was not found in the provided package locations and depuser==0.2.0\n      depends on numpy, we can conclude that depuser==0.2.0 cannot be used.\n      And because you require depuser, we can conclude that your requirements are\n      unsatisfiable.\n";
        assert_eq!(missing_distributions(uv), ["numpy"]);
        assert!(resolution_failed(uv));
        let several = "╰─▶ Because Scikit_Learn was not found in the provided package locations and x depends on scikit-learn, ...\n      And because scipy was not found in the provided package\n      locations and x depends on scipy, ...";
        assert_eq!(missing_distributions(several), ["scikit-learn", "scipy"]);
        let version =
            "╰─▶ Because only numpy<=1.26.4 is available and depuser==0.2.0 depends on numpy>=2, ...";
        assert_eq!(missing_distributions(version), ["numpy"]);
        // uv 0.13's wording; the wheel under test is "only ... available" and required.
        let present = "error: No solution found when resolving dependencies\n  cause: Because pycparser was not found in the provided package locations and cffi==1.17.1+computecanada depends on pycparser, we can conclude that cffi==1.17.1+computecanada cannot be used.\n         And because only cffi==1.17.1+computecanada is available and you require cffi, we can conclude that your requirements are unsatisfiable.\n";
        assert_eq!(missing_distributions(present), ["pycparser"]);
        let exact = "╰─▶ Because there is no version of purepkg==9.0 and you require purepkg==9.0, ...";
        assert_eq!(missing_distributions(exact), ["purepkg"]);
        let pip = "ERROR: Could not find a version that satisfies the requirement numpy>=2 (from depuser) (from versions: none)\nERROR: No matching distribution found for numpy>=2\n";
        assert_eq!(missing_distributions(pip), ["numpy"]);
        assert!(resolution_failed(pip));
        let other = "error: Failed to read `x.whl`: invalid zip\n";
        assert!(missing_distributions(other).is_empty() && !resolution_failed(other));
    }

    #[test]
    fn the_missing_error_names_them_and_the_ways_out() {
        let error = InstallError::Missing {
            what: "the test environment cannot be installed".into(),
            missing: vec!["numpy".into(), "scipy".into()],
            directories: vec!["out".into(), "wheelhouse/generic".into()],
            log: "build.log".into(),
        };
        assert_eq!(
            error.to_string(),
            "the test environment cannot be installed: `numpy`, `scipy` are in none of the wheelhouse directories (out, wheelhouse/generic) and PyPI is forbidden (`--no-pypi`); log: build.log"
        );
        // The way out is the error's hint, apart from its message.
        assert_eq!(
            crate::hint::Hint::hint(&error).as_deref(),
            Some("`--recursive` builds them first")
        );
    }
}
