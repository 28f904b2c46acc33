//! External programs (python, uv, pip, patch, compilers) behind one module: found by path,
//! run with their argv logged and their output captured to a log file, and judged here: a
//! failure carries the exit status, the tail of the log, the log's path and a hint.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::layout::PythonVersion;

/// A command that failed, with what a person needs to fix it.
#[derive(Debug, thiserror::Error)]
#[error("{what} failed ({status}){headline}; log: {log}\n{tail}{hint}", headline = headline(tail).map(|line| format!(": {line}")).unwrap_or_default(), log = log.display(), hint = hint.as_deref().map(|h| format!("\nhint: {h}")).unwrap_or_default())]
pub struct CommandFailed {
    pub what: String,
    pub status: String,
    pub log: PathBuf,
    pub tail: String,
    /// Boxed: the error stays small enough to return by value.
    pub hint: Option<Box<str>>,
    /// Whether it was killed for running past its time limit (see [`run_logged_within`]).
    pub timed_out: bool,
    /// Whose the failure looks to be, from the log: the site stack's (a header, library,
    /// compiler or program missing), the source's (a distribution not found), the recipe's (a
    /// build dependency it does not list), a limit's, else the package's own.
    pub cause: crate::cause::Cause,
}

/// Where a command runs and what it sees.
#[derive(Debug, Clone, Default)]
pub struct Invocation {
    pub directory: Option<PathBuf>,
    /// Variables set for the command; they win over `unset`.
    pub environment: BTreeMap<String, String>,
    /// Variables removed from the inherited environment: a name (`PYTHONPATH`), or a prefix
    /// followed by `*` (`PIP_*`) for every variable whose name starts with it.
    pub unset: Vec<String>,
    /// The environment inherited instead of this process's: the one a layer's lines and
    /// modules left (see [`crate::stack`]). `None`: this process's.
    pub base: Option<std::sync::Arc<BTreeMap<OsString, OsString>>>,
}

impl Invocation {
    /// Whether the inherited variable `name` is removed by `unset` (and not set again by
    /// `environment`).
    pub fn removes(&self, name: &str) -> bool {
        !self.environment.contains_key(name)
            && self.unset.iter().any(|pattern| match pattern.strip_suffix('*') {
                Some(prefix) => name.starts_with(prefix),
                None => name == pattern,
            })
    }

    /// The inherited value of `name`: from `base` when there is one, else this process's
    /// (before `unset` and `environment` apply).
    pub fn inherited(&self, name: &str) -> Option<String> {
        match &self.base {
            Some(base) => base
                .get(std::ffi::OsStr::new(name))
                .map(|value| value.to_string_lossy().into_owned()),
            None => std::env::var(name).ok(),
        }
    }

    /// The whole environment of the command, from `base` when there is one, else this
    /// process's, minus what `unset` removes, plus `environment`.
    pub fn full_environment(&self) -> BTreeMap<OsString, OsString> {
        match &self.base {
            Some(base) => {
                self.environment_for(base.iter().map(|(name, value)| (name.clone(), value.clone())))
            }
            None => self.environment_for(std::env::vars_os()),
        }
    }

    /// The whole environment of the command, from the `inherited` one (the current
    /// process's, in [`run_logged`]): minus what `unset` removes, plus `environment`.
    pub fn environment_for(
        &self,
        inherited: impl IntoIterator<Item = (OsString, OsString)>,
    ) -> BTreeMap<OsString, OsString> {
        let mut variables: BTreeMap<OsString, OsString> = inherited
            .into_iter()
            .filter(|(name, _)| !name.to_str().is_some_and(|name| self.removes(name)))
            .collect();
        variables.extend(
            self.environment
                .iter()
                .map(|(name, value)| (OsString::from(name), OsString::from(value))),
        );
        variables
    }
}

/// A text without its ANSI escape sequences (colours from cmake, meson, cargo, pip's rich).
pub fn strip_ansi(text: &str) -> String {
    let mut plain = String::with_capacity(text.len());
    let mut characters = text.chars().peekable();
    while let Some(character) = characters.next() {
        if character != '\u{1b}' {
            plain.push(character);
            continue;
        }
        match characters.peek() {
            // CSI: ESC [ parameters... final byte in @..~
            Some('[') => {
                characters.next();
                for next in characters.by_ref() {
                    if ('@'..='~').contains(&next) {
                        break;
                    }
                }
            }
            // OSC: ESC ] ... BEL or ESC \
            Some(']') => {
                characters.next();
                while let Some(next) = characters.next() {
                    if next == '\u{7}' || (next == '\u{1b}' && characters.next_if_eq(&'\\').is_some()) {
                        break;
                    }
                }
            }
            Some(_) => {
                characters.next();
            }
            None => {}
        }
    }
    plain
}

/// The line of a failed command's shown log (see [`decisive_tail`]) that says why, for the
/// error's first line (the one a report's table shows): its first compiler error, else the
/// last line that reads as an error (`fatal: unable to access ...: Could not resolve host`,
/// `error: ...`, `ERROR: ...`). At most 200 characters.
pub fn headline(tail: &str) -> Option<String> {
    let mut lines = tail.lines();
    let line = if tail.starts_with("  first errors:") {
        lines.nth(1)
    } else {
        lines.rev().find(|line| {
            let said = line.trim_start_matches("  | ").trim_start().to_ascii_lowercase();
            ["fatal:", "error:", "error ", "e:", "fatal error"]
                .iter()
                .any(|start| said.starts_with(start))
        })
    }?;
    let line = line.trim_start_matches("  | ").trim();
    (!line.is_empty()).then(|| crate::words::clip(line, 200))
}

/// What a failed command's error shows of its log: the compilers' first `error:` lines with
/// the lines that show where (gcc, g++, gfortran, clang, rustc, nvcc, the linker, CMake,
/// meson) — the decisive lines, often hundreds of lines above the end — then the last lines;
/// or, with no such line, the last 25.
pub fn decisive_tail(text: &str) -> String {
    let text = strip_ansi(text);
    match first_errors(&text, 12) {
        Some(errors) => format!("  first errors:\n{errors}  last lines:\n{}", tail(&text, 10)),
        None => tail(&text, 25),
    }
}

/// The first compiler or linker error lines of a log (each with up to three lines of context
/// after it: the source line and the caret, rustc's `-->`), at most `most` lines in all.
fn first_errors(text: &str, most: usize) -> Option<String> {
    static PATTERN: std::sync::OnceLock<Option<regex::Regex>> = std::sync::OnceLock::new();
    let pattern = PATTERN
        .get_or_init(|| {
            // Frontends indent a backend's output (pip by two spaces): any indent.
            regex::Regex::new(concat!(
                // gcc, g++, clang, gfortran with a position: `x.c:10:5: error: ...`.
                r"^\s*\S+?:\d+(:\d+)?: (fatal error|error): ",
                // gfortran's message line after the context, rustc, cargo.
                r"|^\s*(Error|error(\[E\d{4}\])?): ",
                // nvcc: `x.cu(10): error: ...`.
                r"|^\s*\S+\(\d+\): (catastrophic error|error): ",
                // The linker: undefined references, missing libraries.
                r"|^\s*(\S*/)?ld(\.\w+)?: .*(undefined reference|cannot find|error)",
                // CMake and meson.
                r"|^\s*CMake Error|^\s*\S*meson\.build:\d+:\d+: ERROR: ",
            ))
            .ok()
        })
        .as_ref()?;
    let lines: Vec<&str> = text.lines().collect();
    let mut shown: Vec<String> = Vec::new();
    let mut index = 0;
    while index < lines.len() && shown.len() < most {
        let line = lines[index];
        // Cheap test first: a long log has few lines with `rror` or `ld` in them.
        let candidate = (line.contains("rror") || line.contains("ld")) && pattern.is_match(line);
        // Summaries that only repeat that something failed are not decisive.
        let trimmed = line.trim_start();
        let summary = trimmed.starts_with("error: could not compile")
            || trimmed.starts_with("error: command '")
            || trimmed.starts_with("error: Command '")
            || trimmed.contains("subprocess-exited-with-error")
            || trimmed.starts_with("error: metadata-generation-failed")
            || trimmed.starts_with("error: No solution found when resolving");
        if !candidate || summary {
            index += 1;
            continue;
        }
        shown.push(format!("  | {line}"));
        // Context: the lines after it indented deeper (the source line, the caret, `-->`).
        let indent = |line: &str| line.len() - line.trim_start().len();
        let own = indent(line);
        let mut context = 0;
        while context < 3
            && index + 1 + context < lines.len()
            && shown.len() < most
            && !lines[index + 1 + context].trim().is_empty()
            && indent(lines[index + 1 + context]) > own
        {
            shown.push(format!("  | {}", lines[index + 1 + context]));
            context += 1;
        }
        index += 1 + context;
    }
    (!shown.is_empty()).then(|| shown.iter().map(|line| format!("{line}\n")).collect())
}

/// The last `lines` lines of a text, without colour codes.
pub fn tail(text: &str, lines: usize) -> String {
    let text = strip_ansi(text);
    let all: Vec<&str> = text.lines().collect();
    let start = all.len().saturating_sub(lines);
    all[start..].iter().map(|line| format!("  | {line}\n")).collect()
}

/// A hint naming a system library a build looked for and did not find (pkg-config, meson,
/// CMake, setup.py scripts), or None.
fn missing_system_library(log: &str) -> Option<String> {
    let install = |what: &str| {
        format!(
            "the system library `{what}` was not found: install its development package (Debian: apt-cache search {what} | grep -- -dev) or load its module, and make it visible to pkg-config (PKG_CONFIG_PATH) or the compiler (CPATH, LIBRARY_PATH)"
        )
    };
    // pkg-config: "Package 'zeromq', required by 'virtual:world', not found" and
    // "Package libzmq was not found in the pkg-config search path."
    if let Some(package) = regex_lite_find(log, "Package '", "', required by") {
        return Some(install(&package));
    }
    if let Some(package) = regex_lite_find(log, "Package ", " was not found in the pkg-config search path") {
        return Some(install(&package));
    }
    // meson: `Dependency "hdf5" not found` / `Run-time dependency zeromq found: NO`.
    if let Some(dependency) = regex_lite_find(log, "Dependency \"", "\" not found")
        .or_else(|| regex_lite_find(log, "dependency ", " found: NO"))
        .map(|found| {
            found
                .rsplit(' ')
                .next()
                .unwrap_or_default()
                .trim_matches('"')
                .to_string()
        })
    {
        return Some(install(&dependency));
    }
    // CMake: "Could NOT find ZeroMQ (missing: ...)" / "Could not find a package configuration
    // file provided by "ZeroMQ"".
    if let Some(package) = regex_lite_find(log, "Could NOT find ", " ").or_else(|| {
        regex_lite_find(
            log,
            "Could not find a package configuration file provided by \"",
            "\"",
        )
    }) {
        return Some(install(&package));
    }
    // h5py: "Unable to load dependency HDF5, make sure HDF5 is installed properly".
    if let Some(library) = regex_lite_find(log, "Unable to load dependency ", ",") {
        return Some(install(&library));
    }
    // pyproj: "proj executable not found. Please set the PROJ_DIR variable."
    if let Some(program) = log
        .lines()
        .find_map(|line| line.split_once(" executable not found").map(|(before, _)| before))
        .and_then(|before| before.split_whitespace().last())
        .map(str::to_string)
    {
        return Some(format!(
            "the program `{program}` (from a system library's tools) was not found: install the library's development and tools packages (Debian: apt-cache search {program}) or load its module"
        ));
    }
    None
}

/// A hint for well-known build failures.
pub fn hint_for(log: &str) -> Option<String> {
    diagnose(log).map(|(hint, _)| hint)
}

/// A hint for a well-known build failure, and whose the failure is.
fn diagnose(log: &str) -> Option<(String, crate::cause::Cause)> {
    use crate::cause::Cause;
    let log = &strip_ansi(log);
    let hint = hint_text(log)?;
    let cause = if log.contains("No matching distribution found")
        || log.contains("Could not find a version that satisfies")
    {
        Cause::Source
    } else if log.contains("ModuleNotFoundError: No module named") && !log.contains("fatal error: ") {
        Cause::Recipe
    } else {
        Cause::SiteStack
    };
    Some((hint, cause))
}

/// The hint text of [`diagnose`].
fn hint_text(log: &str) -> Option<String> {
    let header = regex_lite_find(log, "fatal error: ", ": No such file or directory");
    if let Some(header) = header {
        return Some(format!(
            "the header `{header}` is missing: install the development package that provides it (Debian: apt-file search {header}), or load its module"
        ));
    }
    if let Some(library) =
        regex_lite_find(log, "cannot find -l", ":").or_else(|| regex_lite_find(log, "cannot find -l", "\n"))
    {
        return Some(format!(
            "the library `lib{}` is missing at link time: install its development package or add its directory to LIBRARY_PATH",
            library.trim()
        ));
    }
    let compiler_missing = [
        "command 'gcc' failed: No such file",
        "gcc: not found",
        "error: command 'gcc' failed",
        "No CMAKE_C_COMPILER could be found",
        "unable to execute 'gcc'",
    ];
    if compiler_missing.iter().any(|needle| log.contains(needle)) {
        return Some(
            "no C compiler was found: install gcc (Debian: apt-get install build-essential)".to_string(),
        );
    }
    if log.contains("can't find Rust compiler")
        || log.contains("cargo: not found")
        || log.contains("Cargo, the Rust package manager, is not installed")
    {
        return Some("this package needs Rust: install rustc and cargo (rustup) or add `rust` to the recipe's build setup".to_string());
    }
    if let Some(hint) = missing_system_library(log) {
        return Some(hint);
    }
    if log.contains("No matching distribution found")
        || log.contains("Could not find a version that satisfies")
    {
        return Some("pip could not find a distribution: check the package name and version on PyPI, or the find-links directories".to_string());
    }
    if log.contains("ModuleNotFoundError: No module named") {
        let module = regex_lite_find(log, "No module named '", "'").unwrap_or_default();
        return Some(format!(
            "the module `{module}` is missing: add it to the recipe's build_dependencies (or test_dependencies)"
        ));
    }
    None
}

/// The text between `start` and the next `end` after it, for the first `start` in `text`.
fn regex_lite_find(text: &str, start: &str, end: &str) -> Option<String> {
    let from = text.find(start)? + start.len();
    let rest = &text[from..];
    let to = rest.find(end)?;
    Some(rest[..to].trim().to_string()).filter(|found| !found.is_empty() && found.len() < 200)
}

/// A program that is not on PATH (or not executable where it was named).
#[derive(Debug, Clone, thiserror::Error)]
#[error("`{name}` not found on PATH{}", debian.map(|package| format!(": install it (Debian: {package})")).unwrap_or_default())]
pub struct ProgramMissing {
    pub name: String,
    /// The Debian package that provides it, when known.
    pub debian: Option<&'static str>,
}

/// The Debian packages of the programs wheelwright starts by name.
const DEBIAN_PACKAGES: [(&str, &str); 16] = [
    ("git", "git"),
    ("patch", "patch"),
    ("gcc", "gcc"),
    ("cc", "gcc"),
    ("g++", "g++"),
    ("c++", "g++"),
    ("gfortran", "gfortran"),
    ("make", "make"),
    ("cmake", "cmake"),
    ("ninja", "ninja-build"),
    ("pkg-config", "pkg-config"),
    ("patchelf", "patchelf"),
    ("sh", "dash"),
    ("bash", "bash"),
    ("tar", "tar"),
    ("sbatch", "slurm-client"),
];

/// Whether `path` is a file someone may execute.
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    fs_err::metadata(path)
        .is_ok_and(|metadata| metadata.is_file() && metadata.permissions().mode() & 0o111 != 0)
}

/// Finds a program: a name with a `/` is taken as a path (made absolute, not resolved through
/// symlinks: a venv's `bin/python` must start as itself); a bare name is looked up on PATH.
pub fn find_program(name: &Path) -> Result<PathBuf, ProgramMissing> {
    find_program_on(name, std::env::var_os("PATH").as_deref())
}

/// [`find_program`], a bare name looked up on `path` (a PATH value) instead of this process's.
pub fn find_program_on(name: &Path, path: Option<&std::ffi::OsStr>) -> Result<PathBuf, ProgramMissing> {
    let missing = || {
        let text = name.display().to_string();
        let base = name
            .file_name()
            .map(|base| base.to_string_lossy().into_owned())
            .unwrap_or_default();
        ProgramMissing {
            debian: DEBIAN_PACKAGES
                .iter()
                .find(|(program, _)| *program == base)
                .map(|(_, package)| *package),
            name: text,
        }
    };
    if name.components().count() > 1 || name.is_absolute() {
        let path = std::path::absolute(name).map_err(|_| missing())?;
        return if is_executable(&path) {
            Ok(path)
        } else {
            Err(missing())
        };
    }
    path.and_then(|paths| {
        std::env::split_paths(paths)
            .filter(|directory| !directory.as_os_str().is_empty())
            .map(|directory| directory.join(name))
            .find(|path| is_executable(path))
    })
    .and_then(|path| std::path::absolute(path).ok())
    .ok_or_else(missing)
}

/// Runs `program args...`, all output to `log` (appended), and judges the exit status.
pub fn run_logged(
    what: &str,
    program: &Path,
    args: &[String],
    invocation: &Invocation,
    log: &Path,
) -> Result<(), CommandFailed> {
    run(what, program, args, invocation, log, None, None)
}

/// Like [`run_logged`], but the command is killed once it has run for `limit`; the failure
/// then says so and has `timed_out` set.
pub fn run_logged_within(
    what: &str,
    program: &Path,
    args: &[String],
    invocation: &Invocation,
    log: &Path,
    limit: Duration,
) -> Result<(), CommandFailed> {
    run(what, program, args, invocation, log, Some(limit), None)
}

/// How often a command with a time limit is looked at.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

fn run(
    what: &str,
    program: &Path,
    args: &[String],
    invocation: &Invocation,
    log: &Path,
    limit: Option<Duration>,
    stdout: Option<&Path>,
) -> Result<(), CommandFailed> {
    use std::io::Write as _;
    let rendered = std::iter::once(program.display().to_string())
        .chain(args.iter().map(|arg| shell_quote(arg)))
        .collect::<Vec<_>>()
        .join(" ");
    tracing::debug!("{what}: {rendered}");
    let fail = |status: String, text: String| {
        let diagnosis = diagnose(&text);
        CommandFailed {
            what: what.to_string(),
            status,
            log: log.to_path_buf(),
            tail: decisive_tail(&text),
            cause: diagnosis
                .as_ref()
                .map_or(crate::cause::Cause::Package, |(_, cause)| *cause),
            hint: diagnosis.map(|(hint, _)| hint.into_boxed_str()),
            timed_out: false,
        }
    };
    let mut file = fs_err::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|error| fail("the log could not be opened".into(), error.to_string()))?;
    let _ = writeln!(file, "$ {rendered}");
    // The command's output is appended to the log as it comes (a long build can be
    // followed there); on failure it is read back from here for the tail and the hint.
    let start = log_length(log);
    let environment = invocation.full_environment();
    let program = find_program_on(
        program,
        environment
            .get(std::ffi::OsStr::new("PATH"))
            .map(OsString::as_os_str),
    )
    .map_err(|missing| CommandFailed {
        what: what.to_string(),
        status: format!("`{}` not found on PATH", missing.name),
        log: log.to_path_buf(),
        tail: String::new(),
        hint: missing
            .debian
            .map(|package| format!("install it (Debian: {package})").into_boxed_str()),
        timed_out: false,
        cause: crate::cause::Cause::SiteStack,
    })?;
    let mut expression = duct::cmd(&program, args).stdin_null();
    expression = match stdout {
        // Data on stdout (to a file, since a pipe could fill), messages to the log.
        Some(path) => expression.stdout_path(path).stderr_file(file.into_file()),
        None => expression.stderr_to_stdout().stdout_file(file.into_file()),
    };
    expression = expression.full_env(environment).unchecked();
    if let Some(directory) = &invocation.directory {
        expression = expression.dir(directory);
    }
    let could_not_start = |error: std::io::Error| {
        fail(
            format!("could not start `{}`", program.display()),
            error.to_string(),
        )
    };
    let handle = expression.start().map_err(could_not_start)?;
    let started = Instant::now();
    let mut timed_out = false;
    let status = loop {
        let finished = match limit {
            None => handle.wait().map(Some),
            Some(_) => handle.try_wait(),
        }
        .map_err(could_not_start)?;
        if let Some(output) = finished {
            break output.status;
        }
        if limit.is_some_and(|limit| started.elapsed() >= limit) && !timed_out {
            timed_out = true;
            let _ = handle.kill();
        }
        std::thread::sleep(POLL_INTERVAL);
    };
    if status.success() && !timed_out {
        return Ok(());
    }
    let text = read_log_from(log, start);
    let status = match (timed_out, status.code()) {
        (true, _) => format!(
            "killed after {} s, its time limit",
            limit.unwrap_or_default().as_secs()
        ),
        (false, Some(code)) => format!("exit status {code}"),
        (false, None) => {
            use std::os::unix::process::ExitStatusExt as _;
            match status.signal() {
                Some(signal) => format!("killed by signal {signal}{}", signal_name(signal)),
                None => "killed by a signal".to_string(),
            }
        }
    };
    let mut failure = fail(status, text);
    failure.timed_out = timed_out;
    if timed_out {
        failure.cause = crate::cause::Cause::Limit;
    }
    Err(failure)
}

/// ` (SIGSEGV)` for the signals a crashing program usually dies of.
pub fn signal_name(signal: i32) -> &'static str {
    match signal {
        4 => " (SIGILL: an instruction this CPU does not have)",
        6 => " (SIGABRT)",
        7 => " (SIGBUS)",
        9 => " (SIGKILL)",
        11 => " (SIGSEGV)",
        15 => " (SIGTERM)",
        _ => "",
    }
}

/// The length of a log: where the output of the next command logged to it starts.
pub fn log_length(log: &Path) -> u64 {
    fs_err::metadata(log).map(|metadata| metadata.len()).unwrap_or(0)
}

/// The text of `log` from byte `start` on (what the commands since then appended).
pub fn read_log_from(log: &Path, start: u64) -> String {
    use std::io::{Read as _, Seek as _};
    let mut bytes = Vec::new();
    if let Ok(mut file) = fs_err::File::open(log)
        && file.seek(std::io::SeekFrom::Start(start)).is_ok()
    {
        let _ = file.read_to_end(&mut bytes);
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Runs `program args...` and returns its stdout; its stderr goes to `log`, and a failure is
/// judged as in [`run_logged`] (for commands whose output is data: `uv pip list --format json`).
pub fn capture_logged(
    what: &str,
    program: &Path,
    args: &[String],
    invocation: &Invocation,
    log: &Path,
) -> Result<String, CommandFailed> {
    capture_within(what, program, args, invocation, log, None)
}

/// [`capture_logged`], killed after `limit` when one is given.
fn capture_within(
    what: &str,
    program: &Path,
    args: &[String],
    invocation: &Invocation,
    log: &Path,
    limit: Option<Duration>,
) -> Result<String, CommandFailed> {
    let stdout = tempfile::NamedTempFile::new().map_err(|error| CommandFailed {
        what: what.to_string(),
        status: "no temporary file for its output".to_string(),
        log: log.to_path_buf(),
        tail: format!("  | {error}\n"),
        hint: None,
        timed_out: false,
        cause: crate::cause::Cause::Tool,
    })?;
    run(what, program, args, invocation, log, limit, Some(stdout.path()))?;
    Ok(fs_err::read_to_string(stdout.path()).unwrap_or_default())
}

/// The tag names of the git repository at `url` (`git ls-remote --tags`), without the
/// `^{}` entries of annotated tags, in git's order; its stderr goes to `log`. Killed after
/// `limit` (a server that does not answer must not hold a plan), and never asks for a
/// password (`GIT_TERMINAL_PROMPT=0`).
pub fn git_tags(
    url: &str,
    invocation: &Invocation,
    log: &Path,
    limit: Duration,
) -> Result<Vec<String>, CommandFailed> {
    let mut invocation = invocation.clone();
    invocation
        .environment
        .insert("GIT_TERMINAL_PROMPT".to_string(), "0".to_string());
    let output = capture_within(
        "git ls-remote",
        Path::new("git"),
        &["ls-remote".to_string(), "--tags".to_string(), url.to_string()],
        &invocation,
        log,
        Some(limit),
    )?;
    Ok(parse_tag_refs(&output))
}

/// The tag names in `git ls-remote --tags` output (`<sha>\trefs/tags/<name>`), each once
/// (an annotated tag's peeled `<name>^{}` line is the same tag).
fn parse_tag_refs(output: &str) -> Vec<String> {
    let mut tags: Vec<String> = Vec::new();
    for line in output.lines() {
        let Some(name) = line
            .split_once('\t')
            .and_then(|(_, reference)| reference.trim().strip_prefix("refs/tags/"))
        else {
            continue;
        };
        let name = name.strip_suffix("^{}").unwrap_or(name);
        if !tags.iter().any(|tag| tag == name) {
            tags.push(name.to_string());
        }
    }
    tags
}

/// Runs a shell command line (`sh -c`), logged like [`run_logged`].
pub fn run_shell(
    what: &str,
    command: &str,
    invocation: &Invocation,
    log: &Path,
) -> Result<(), CommandFailed> {
    run_logged(
        what,
        Path::new("/bin/sh"),
        &["-c".to_string(), command.to_string()],
        invocation,
        log,
    )
}

/// Quotes an argument for display (and for `sh`), only when needed.
pub fn shell_quote(argument: &str) -> String {
    let safe = !argument.is_empty()
        && argument
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if safe {
        argument.to_string()
    } else {
        format!("'{}'", argument.replace('\'', "'\\''"))
    }
}

/// Runs a program and returns its stdout, for quick questions (versions).
pub fn capture(program: &Path, args: &[&str]) -> Option<String> {
    capture_in(program, args, None)
}

/// [`capture`], the program found on and run with `environment` (a stack's) instead of this
/// process's environment.
pub fn capture_in(
    program: &Path,
    args: &[&str],
    environment: Option<&BTreeMap<OsString, OsString>>,
) -> Option<String> {
    let path = match environment {
        Some(environment) => environment.get(std::ffi::OsStr::new("PATH")).cloned(),
        None => std::env::var_os("PATH"),
    };
    let program = find_program_on(program, path.as_deref()).ok()?;
    let mut expression = duct::cmd(&program, args)
        .stderr_null()
        .stdout_capture()
        .unchecked();
    if let Some(environment) = environment {
        expression = expression.full_env(environment);
    }
    let output = expression.run().ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// The pyenv root: `$PYENV_ROOT`, else `~/.pyenv`.
fn pyenv_root() -> Option<PathBuf> {
    std::env::var_os("PYENV_ROOT")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".pyenv")))
}

/// The interpreters tried for `version`, in order: `$WHEELWRIGHT_PYTHON_3_12`, `python3.12`
/// on PATH (not a pyenv shim, which runs only the global version), the newest pyenv
/// `versions/3.12.*`, then /usr/local/bin and /usr/bin.
pub fn python_candidates(version: PythonVersion) -> Vec<PathBuf> {
    let mut candidates = Vec::new();
    let variable = format!("WHEELWRIGHT_PYTHON_{}_{}", version.major, version.minor);
    if let Some(path) = std::env::var_os(&variable) {
        candidates.push(PathBuf::from(path));
    }
    let name = format!("python{version}");
    if let Some(paths) = std::env::var_os("PATH") {
        for directory in std::env::split_paths(&paths) {
            if directory.components().any(|part| part.as_os_str() == "shims") {
                continue;
            }
            candidates.push(directory.join(&name));
        }
    }
    if let Some(root) = pyenv_root() {
        let mut versions: Vec<(Vec<u32>, PathBuf)> = fs_err::read_dir(root.join("versions"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| {
                let file = entry.file_name().to_string_lossy().into_owned();
                let rest = file.strip_prefix(&format!("{version}."))?;
                let patch: u32 = rest.parse().ok()?;
                Some((vec![patch], entry.path().join("bin/python3")))
            })
            .collect();
        versions.sort();
        candidates.extend(versions.into_iter().rev().map(|(_, path)| path));
    }
    candidates.push(PathBuf::from(format!("/usr/local/bin/{name}")));
    candidates.push(PathBuf::from(format!("/usr/bin/{name}")));
    candidates
}

/// No interpreter of a Python version on this machine.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "no Python {version} interpreter found (looked at $WHEELWRIGHT_PYTHON_{major}_{minor}, python{version} on PATH, pyenv versions, /usr/local/bin, /usr/bin); install it or pass --python without it",
    major = version.major,
    minor = version.minor
)]
pub struct NoInterpreter {
    pub version: PythonVersion,
}

/// Finds an interpreter of `version` that really is that version.
pub fn find_python(version: PythonVersion) -> Result<PathBuf, NoInterpreter> {
    let candidates = python_candidates(version);
    for candidate in &candidates {
        if !candidate.is_file() {
            continue;
        }
        let reported = capture(
            candidate,
            &["-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        );
        if reported.as_deref() == Some(version.to_string().as_str()) {
            return Ok(candidate.clone());
        }
    }
    Err(NoInterpreter { version })
}

/// `uv` from `$WHEELWRIGHT_UV` or PATH.
pub fn find_uv() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("WHEELWRIGHT_UV").map(PathBuf::from) {
        return path.is_file().then_some(path);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|directory| directory.join("uv"))
            .find(|path| path.is_file())
    })
}

/// The programs a build ran, with the versions they report.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ToolVersions {
    /// The base interpreter (by path) and its full version.
    pub python_path: Option<PathBuf>,
    pub python: Option<String>,
    pub pip: Option<String>,
    pub uv: Option<String>,
    /// The first line of `$CC --version` (`cc` by default), and likewise for C++ and Fortran.
    pub cc: Option<String>,
    pub cxx: Option<String>,
    pub fortran: Option<String>,
}

/// The first line of `program --version`.
fn version_line(program: &str, environment: Option<&BTreeMap<OsString, OsString>>) -> Option<String> {
    capture_in(Path::new(program), &["--version"], environment)
        .and_then(|text| text.lines().next().map(str::trim).map(str::to_string))
        .filter(|line| !line.is_empty())
}

/// The compiler a build would use for a language: `$VARIABLE` (its first word), else `default`.
fn compiler(variable: &str, default: &str, environment: Option<&BTreeMap<OsString, OsString>>) -> String {
    let value = match environment {
        Some(environment) => environment
            .get(std::ffi::OsStr::new(variable))
            .map(|value| value.to_string_lossy().into_owned()),
        None => std::env::var(variable).ok(),
    };
    value
        .and_then(|value| value.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| default.to_string())
}

/// `pip 26.3 from /path/site-packages/pip (python 3.12)` -> `pip 26.3 (python 3.12)`: where
/// a build environment lives is not part of a tool's version (and would make every record,
/// and every wheel, differ from run to run).
fn without_location(text: &str) -> String {
    match (text.find(" from "), text.rfind(" (")) {
        (Some(from), Some(open)) if open > from => format!("{}{}", &text[..from], &text[open..]),
        (Some(from), _) => text[..from].to_string(),
        _ => text.to_string(),
    }
}

impl ToolVersions {
    /// [`ToolVersions::gather`] without a build environment, asked once per interpreter in
    /// this process.
    pub fn gather_cached(interpreter: &Path) -> Self {
        static CACHE: std::sync::OnceLock<std::sync::Mutex<BTreeMap<PathBuf, ToolVersions>>> =
            std::sync::OnceLock::new();
        let cache = CACHE.get_or_init(Default::default);
        if let Some(tools) = cache
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .get(interpreter)
        {
            return tools.clone();
        }
        let tools = ToolVersions::gather(interpreter, None);
        cache
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .insert(interpreter.to_path_buf(), tools.clone());
        tools
    }

    /// Asks every tool for its version; `build_python` is the build environment's interpreter
    /// (for pip), `interpreter` the base one.
    pub fn gather(interpreter: &Path, build_python: Option<&Path>) -> Self {
        Self::gather_in(interpreter, build_python, None)
    }

    /// [`ToolVersions::gather`], the compilers those of `environment` (a stack's: its PATH,
    /// `$CC`, `$CXX`, `$FC`), asked in it.
    pub fn gather_in(
        interpreter: &Path,
        build_python: Option<&Path>,
        environment: Option<&BTreeMap<OsString, OsString>>,
    ) -> Self {
        ToolVersions {
            python_path: Some(interpreter.to_path_buf()),
            python: capture(interpreter, &["-c", "import sys; print(sys.version.split()[0])"]),
            pip: build_python
                .and_then(|python| capture(python, &["-m", "pip", "--version"]))
                .map(|text| without_location(&text)),
            uv: find_uv().and_then(|uv| capture(&uv, &["--version"])),
            cc: version_line(&compiler("CC", "cc", environment), environment),
            cxx: version_line(&compiler("CXX", "c++", environment), environment),
            fortran: version_line(&compiler("FC", "gfortran", environment), environment),
        }
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_compile_failure_quotes_the_first_errors_not_the_last_warnings() {
        // A real gcc: the error comes first, then 60 lines of warnings.
        let directory = tempfile::tempdir().unwrap();
        let source = directory.path().join("broken.c");
        let mut text = String::from("int broken(void) { return undeclared_name; }\n");
        for index in 0..30 {
            text.push_str(&format!("int unused{index}(int x) {{ int y; return x; }}\n"));
        }
        fs_err::write(&source, text).unwrap();
        let output = std::process::Command::new("gcc")
            .args(["-Wall", "-c", "-o", "/dev/null"])
            .arg(&source)
            .output()
            .expect("gcc runs");
        assert!(!output.status.success());
        let log = format!(
            "building...\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(log.lines().count() > 60, "{log}");
        let shown = decisive_tail(&log);
        let (errors, last) = shown.split_once("  last lines:\n").expect(&shown);
        assert!(errors.starts_with("  first errors:\n  | "), "{shown}");
        assert!(
            errors.contains("broken.c:1:27: error: ") && errors.contains("undeclared_name"),
            "{shown}"
        );
        assert!(!errors.contains("warning:"), "{shown}");
        assert!(last.contains("warning: unused variable"), "{shown}");
        let first = headline(&shown).expect(&shown);
        assert!(
            first.contains("broken.c:1:27: error: ") && first.contains("undeclared_name"),
            "{first}"
        );
        // A log with no error line keeps its last lines.
        assert_eq!(decisive_tail("one\ntwo\n"), "  | one\n  | two\n");
        // The line that says why, for the error's first line.
        let git = decisive_tail(
            "$ git clone --quiet https://github.com/o/p /w/checkout\nCloning into '/w/checkout'...\nfatal: unable to access 'https://github.com/o/p/': Could not resolve host: github.com\n",
        );
        assert_eq!(
            headline(&git).as_deref(),
            Some("fatal: unable to access 'https://github.com/o/p/': Could not resolve host: github.com")
        );
        assert_eq!(headline(&decisive_tail("all went well\nbut exit 1\n")), None);
    }

    #[test]
    fn first_errors_know_rustc_gfortran_nvcc_the_linker_and_cmake() {
        let log = "\
   Compiling demo v0.1.0
warning: unused import
error[E0425]: cannot find value `x` in this scope
  --> src/lib.rs:3:5
   |
error: could not compile `demo` (lib) due to 1 previous error
x.f90:10:5:

   10 |     call foo(
      |     1
Error: Syntax error in argument list at (1)
kernel.cu(12): error: identifier \"blockIdx_\" is undefined
/usr/bin/ld: cannot find -lhdf5: No such file or directory
CMake Error at CMakeLists.txt:5 (find_package):
error: command '/usr/bin/gcc' failed with exit code 1
";
        let errors = first_errors(log, 20).unwrap();
        let lines: Vec<&str> = errors
            .lines()
            .map(|line| line.trim_start_matches("  | "))
            .collect();
        assert_eq!(
            lines,
            [
                "error[E0425]: cannot find value `x` in this scope",
                "  --> src/lib.rs:3:5",
                "   |",
                "Error: Syntax error in argument list at (1)",
                "kernel.cu(12): error: identifier \"blockIdx_\" is undefined",
                "/usr/bin/ld: cannot find -lhdf5: No such file or directory",
                "CMake Error at CMakeLists.txt:5 (find_package):",
            ]
        );
    }

    #[test]
    fn a_failure_says_whose_it_looks_to_be() {
        use crate::cause::Cause;
        let cause = |log: &str| diagnose(log).map(|(_, cause)| cause);
        assert_eq!(
            cause("x.c:1:10: fatal error: zlib.h: No such file or directory"),
            Some(Cause::SiteStack)
        );
        assert_eq!(
            cause("Package libzmq was not found in the pkg-config search path."),
            Some(Cause::SiteStack)
        );
        assert_eq!(
            cause("ERROR: No matching distribution found for nosuch"),
            Some(Cause::Source)
        );
        assert_eq!(
            cause("ModuleNotFoundError: No module named 'Cython'"),
            Some(Cause::Recipe)
        );
        assert_eq!(cause("x.c:3:1: error: expected ';'"), None);
    }
    use super::*;

    #[test]
    fn tag_refs_are_read_once_each() {
        let output = "1111111111111111111111111111111111111111\trefs/tags/v0.1.0\n\
            2222222222222222222222222222222222222222\trefs/tags/v0.2.0\n\
            3333333333333333333333333333333333333333\trefs/tags/v0.2.0^{}\n\
            4444444444444444444444444444444444444444\trefs/heads/main\n";
        assert_eq!(parse_tag_refs(output), ["v0.1.0", "v0.2.0"]);
        assert!(parse_tag_refs("").is_empty());
    }

    #[test]
    fn git_tags_lists_a_local_repository_s_tags() {
        let directory = tempfile::tempdir().unwrap();
        let repository = directory.path().join("repository");
        let git = |args: &[&str]| {
            let status = std::process::Command::new("git")
                .args(["-c", "user.name=t", "-c", "user.email=t@example.org"])
                .args(args)
                .current_dir(&repository)
                .status()
                .unwrap();
            assert!(status.success(), "git {args:?}");
        };
        fs_err::create_dir_all(&repository).unwrap();
        git(&["init", "--quiet"]);
        git(&["commit", "--quiet", "--allow-empty", "-m", "one"]);
        git(&["tag", "v0.1.0"]);
        git(&["tag", "-a", "v0.2.0", "-m", "annotated"]);
        let url = format!("file://{}", repository.display());
        let log = directory.path().join("git.log");
        let tags = git_tags(&url, &Invocation::default(), &log, Duration::from_secs(30)).unwrap();
        assert_eq!(tags, ["v0.1.0", "v0.2.0"]);
        let missing = format!("file://{}", directory.path().join("nothing").display());
        let error = git_tags(&missing, &Invocation::default(), &log, Duration::from_secs(30))
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("git ls-remote failed (exit status"), "{error}");
    }

    #[test]
    fn hints_name_the_missing_piece() {
        let log = "src/x.c:1:10: fatal error: zlib.h: No such file or directory\n";
        assert!(hint_for(log).unwrap().contains("`zlib.h`"));
        let log = "/usr/bin/ld: cannot find -lhdf5: No such file or directory\n";
        assert!(hint_for(log).unwrap().contains("`libhdf5`"));
        assert!(
            hint_for("error: command 'gcc' failed: No such file or directory")
                .unwrap()
                .contains("C compiler")
        );
        assert!(
            hint_for("ModuleNotFoundError: No module named 'Cython'")
                .unwrap()
                .contains("`Cython`")
        );
        assert_eq!(hint_for("all good"), None);
    }

    #[test]
    fn programs_are_found_on_path_or_named_missing() {
        let sh = find_program(Path::new("sh")).unwrap();
        assert!(sh.is_absolute() && sh.ends_with("sh"), "{}", sh.display());
        let error = find_program(Path::new("patch-wheelwright-nonexistent")).unwrap_err();
        assert_eq!(
            error.to_string(),
            "`patch-wheelwright-nonexistent` not found on PATH"
        );
        let error = ProgramMissing {
            name: "patch".into(),
            debian: Some("patch"),
        };
        assert_eq!(
            error.to_string(),
            "`patch` not found on PATH: install it (Debian: patch)"
        );
        // A relative path is made absolute against the current directory, not resolved.
        let relative = find_program(Path::new("./no-such-program")).unwrap_err();
        assert!(relative.name.contains("no-such-program"));
    }

    #[test]
    fn hints_name_missing_system_libraries() {
        let cases = [
            (
                "Package 'zeromq', required by 'virtual:world', not found\n",
                "`zeromq`",
            ),
            (
                "Package libzmq was not found in the pkg-config search path.\n",
                "`libzmq`",
            ),
            ("Run-time dependency hdf5 found: NO (tried pkgconfig)\n", "`hdf5`"),
            (
                "ERROR: Dependency \"openblas\" not found, tried pkgconfig\n",
                "`openblas`",
            ),
            ("  Could NOT find ZeroMQ (missing: ZeroMQ_LIBRARY)\n", "`ZeroMQ`"),
            (
                "Unable to load dependency HDF5, make sure HDF5 is installed properly\n",
                "`HDF5`",
            ),
            (
                "      proj executable not found. Please set the PROJ_DIR variable.\n",
                "`proj`",
            ),
        ];
        for (log, named) in cases {
            let hint = hint_for(log).unwrap_or_default();
            assert!(hint.contains(named), "{log:?} -> {hint:?}");
        }
    }

    #[test]
    fn colour_codes_are_stripped_from_tails() {
        let text = "\u{1b}[1;31merror:\u{1b}[0m it broke\n\u{1b}]8;;http://x\u{7}link\u{1b}]8;;\u{7}\n";
        assert_eq!(strip_ansi(text), "error: it broke\nlink\n");
        assert_eq!(tail(text, 5), "  | error: it broke\n  | link\n");
    }

    #[test]
    fn invocations_clear_variables_by_name_and_prefix() {
        let invocation = Invocation {
            environment: BTreeMap::from([
                ("UV_PYTHON_DOWNLOADS".to_string(), "never".to_string()),
                ("PYTHONNOUSERSITE".to_string(), "1".to_string()),
            ]),
            unset: vec!["PIP_*".into(), "UV_*".into(), "PYTHONPATH".into()],
            ..Invocation::default()
        };
        let inherited = [
            ("PIP_FIND_LINKS", "/shell/wheels"),
            ("PIP_INDEX_URL", "https://mirror"),
            ("UV_FIND_LINKS", "/shell/wheels"),
            ("UV_PYTHON_DOWNLOADS", "automatic"),
            ("PYTHONPATH", "/home/me/src"),
            ("PYTHONPATHS", "kept: only the exact name is removed"),
            ("PIPX_HOME", "kept: the prefix is `PIP_`"),
            ("HOME", "/home/me"),
        ]
        .map(|(name, value)| (OsString::from(name), OsString::from(value)));
        let environment = invocation.environment_for(inherited);
        let names: Vec<&str> = environment.keys().filter_map(|name| name.to_str()).collect();
        assert_eq!(
            names,
            [
                "HOME",
                "PIPX_HOME",
                "PYTHONNOUSERSITE",
                "PYTHONPATHS",
                "UV_PYTHON_DOWNLOADS"
            ]
        );
        assert_eq!(environment[&OsString::from("UV_PYTHON_DOWNLOADS")], "never");
        assert!(invocation.removes("PIP_FIND_LINKS"));
        assert!(!invocation.removes("UV_PYTHON_DOWNLOADS"));
    }

    #[test]
    fn commands_see_only_the_invocations_environment() {
        let directory = tempfile::tempdir().unwrap();
        let log = directory.path().join("log");
        let invocation = Invocation {
            directory: Some(directory.path().to_path_buf()),
            environment: BTreeMap::from([("WHEELWRIGHT_TEST_SET".to_string(), "yes".to_string())]),
            // The variables of this test process: none matches, PATH must stay.
            unset: vec!["CARGO_*".into(), "RUST_TEST_THREADS".into()],
            base: None,
        };
        let stdout = capture_logged(
            "env",
            Path::new("sh"),
            &["-c".into(), "env; pwd; echo to-the-log >&2".into()],
            &invocation,
            &log,
        )
        .unwrap();
        assert!(stdout.contains("WHEELWRIGHT_TEST_SET=yes\n"), "{stdout}");
        assert!(!stdout.contains("CARGO_"), "{stdout}");
        assert!(
            stdout.contains(&directory.path().display().to_string()),
            "{stdout}"
        );
        let logged = fs_err::read_to_string(&log).unwrap();
        assert!(
            logged.contains("to-the-log") && !logged.contains("WHEELWRIGHT_TEST_SET"),
            "{logged}"
        );
    }

    #[test]
    fn a_command_past_its_time_limit_is_killed() {
        let directory = tempfile::tempdir().unwrap();
        let log = directory.path().join("log");
        let started = Instant::now();
        let error = run_logged_within(
            "sleeper",
            Path::new("sh"),
            &["-c".into(), "echo started; sleep 30".into()],
            &Invocation::default(),
            &log,
            Duration::from_millis(300),
        )
        .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(10));
        assert!(error.timed_out);
        assert_eq!(error.status, "killed after 0 s, its time limit");
        assert!(error.tail.contains("started"), "{}", error.tail);
        let error = run_logged(
            "failing",
            Path::new("sh"),
            &[
                "-c".into(),
                "echo 'fatal error: x.h: No such file or directory'; exit 3".into(),
            ],
            &Invocation::default(),
            &log,
        )
        .unwrap_err();
        assert_eq!(error.status, "exit status 3");
        assert!(!error.timed_out);
        assert!(error.hint.unwrap().contains("`x.h`"));
        assert!(
            !error.tail.contains("started"),
            "only this command's output: {}",
            error.tail
        );
    }

    #[test]
    fn quotes_only_when_needed() {
        assert_eq!(shell_quote("-march=x86-64-v3"), "-march=x86-64-v3");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
    }

    #[test]
    fn tool_versions_do_not_say_where_they_live() {
        assert_eq!(
            without_location(
                "pip 26.3 from /tmp/run/build-env/lib/python3.12/site-packages/pip (python 3.12)"
            ),
            "pip 26.3 (python 3.12)"
        );
        assert_eq!(
            without_location("uv 0.13.9 (x86_64-unknown-linux-gnu)"),
            "uv 0.13.9 (x86_64-unknown-linux-gnu)"
        );
    }

    #[test]
    fn finds_no_python_two_hundred() {
        let error = find_python(PythonVersion { major: 3, minor: 200 })
            .unwrap_err()
            .to_string();
        assert!(error.contains("no Python 3.200 interpreter found"), "{error}");
    }
}
