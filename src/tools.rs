//! The runner of external programs (python, uv, pip, git, patch, compilers): found by path,
//! run with their argv logged, their output captured to a log file, held to a time limit,
//! and judged here: a failure carries the exit status, the decisive lines of the log (read
//! by [`crate::diagnose`]), the log's path, a hint and whose it looks to be.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::diagnose::{decisive_tail, diagnose};

/// A command that failed, with what a person needs to fix it.
#[derive(Debug, thiserror::Error)]
#[error("{what} failed ({status}){headline}{log}\n{tail}", headline = crate::diagnose::headline(tail).map(|line| format!(": {line}")).unwrap_or_default(), log = if log.as_os_str().is_empty() { String::new() } else { format!("; log: {}", log.display()) })]
pub struct CommandFailed {
    pub what: String,
    pub status: String,
    /// Where its output went (empty: it was read, not logged; see [`Program`]).
    pub log: PathBuf,
    pub tail: String,
    /// The fix, kept apart from the message (see [`crate::hint::Hint`]). Boxed: the error
    /// stays small enough to return by value.
    pub hint: Option<Box<str>>,
    /// Whether it was killed for running past its time limit (see [`run_logged_within`]).
    pub timed_out: bool,
    /// Whose the failure looks to be, from the log: the site stack's (a header, library,
    /// compiler or program missing), the source's (a distribution not found), the recipe's (a
    /// build dependency it does not list), a limit's, else the package's own.
    pub cause: crate::cause::Cause,
}

impl crate::hint::Hint for CommandFailed {
    fn hint(&self) -> Option<String> {
        self.hint.as_deref().map(str::to_string)
    }
}

/// A program to start, the one way this crate starts one besides the logged runs below
/// ([`run_logged`], [`capture_logged`]): a scheduler's `squeue` and `sbatch`, a cell's own
/// process, a sandboxed bash, a publish hook. It starts in a process group of its own (so
/// that it and what it starts end together) with no stdin unless given one, its argv is
/// logged when it starts, and [`Program::output_within`] and [`Program::status`] judge how it
/// ended as the logged runs do ([`CommandFailed`]).
#[derive(Debug)]
pub struct Program {
    what: String,
    command: std::process::Command,
}

impl Program {
    /// `program` (a name looked up on PATH when it starts, or a path), to do `what`.
    #[allow(clippy::disallowed_methods)]
    pub fn new(what: impl Into<String>, program: impl AsRef<std::ffi::OsStr>) -> Self {
        use std::os::unix::process::CommandExt as _;
        let mut command = std::process::Command::new(program);
        command.process_group(0).stdin(std::process::Stdio::null());
        Program {
            what: what.into(),
            command,
        }
    }

    pub fn arg(mut self, argument: impl AsRef<std::ffi::OsStr>) -> Self {
        self.command.arg(argument);
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: AsRef<std::ffi::OsStr>>(mut self, arguments: I) -> Self {
        self.command.args(arguments);
        self
    }

    pub fn env(mut self, name: impl AsRef<std::ffi::OsStr>, value: impl AsRef<std::ffi::OsStr>) -> Self {
        self.command.env(name, value);
        self
    }

    pub fn envs<I, K, V>(mut self, variables: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<std::ffi::OsStr>,
        V: AsRef<std::ffi::OsStr>,
    {
        self.command.envs(variables);
        self
    }

    pub fn env_remove(mut self, name: impl AsRef<std::ffi::OsStr>) -> Self {
        self.command.env_remove(name);
        self
    }

    /// Starts from an empty environment (then [`Program::env`] adds to it).
    pub fn env_clear(mut self) -> Self {
        self.command.env_clear();
        self
    }

    pub fn current_dir(mut self, directory: impl AsRef<Path>) -> Self {
        self.command.current_dir(directory);
        self
    }

    pub fn stdin(mut self, stdin: impl Into<std::process::Stdio>) -> Self {
        self.command.stdin(stdin);
        self
    }

    pub fn stdout(mut self, stdout: impl Into<std::process::Stdio>) -> Self {
        self.command.stdout(stdout);
        self
    }

    pub fn stderr(mut self, stderr: impl Into<std::process::Stdio>) -> Self {
        self.command.stderr(stderr);
        self
    }

    /// The command line, for logs and messages.
    pub fn rendered(&self) -> String {
        std::iter::once(self.command.get_program())
            .chain(self.command.get_args())
            .map(|part| shell_quote(&part.to_string_lossy()))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Starts it; the caller waits for it (and may end its group with `killpg`).
    pub fn spawn(mut self) -> std::io::Result<std::process::Child> {
        tracing::debug!("{}: {}", self.what, self.rendered());
        self.command.spawn()
    }

    /// Runs it to its end, its stdout and stderr captured (unless set) and its exit status
    /// left to the caller to judge: for tests that assert on what a tool printed or how it
    /// ended (gcc's errors, `readelf`'s table, a fixture that must run). `&mut self`, so that
    /// a caller may run it again (after ETXTBSY, say).
    pub fn output(&mut self) -> std::io::Result<std::process::Output> {
        tracing::debug!("{}: {}", self.what, self.rendered());
        self.command.output()
    }

    /// A failure of this program that is not its output's: it could not start.
    fn not_started(&self, error: &std::io::Error) -> CommandFailed {
        let missing = error.kind() == std::io::ErrorKind::NotFound;
        CommandFailed {
            what: self.what.clone(),
            status: if missing {
                format!(
                    "`{}` not found on PATH",
                    self.command.get_program().to_string_lossy()
                )
            } else {
                format!(
                    "could not start `{}`: {error}",
                    self.command.get_program().to_string_lossy()
                )
            },
            log: PathBuf::new(),
            tail: String::new(),
            hint: None,
            timed_out: false,
            cause: if missing {
                crate::cause::Cause::SiteStack
            } else {
                crate::cause::Cause::Tool
            },
        }
    }

    /// Runs it to its end, within `limit` (its group killed past it), its stdout read and
    /// returned; a failure quotes the last lines it wrote on stderr.
    pub fn output_within(self, limit: Duration) -> Result<String, CommandFailed> {
        use std::io::Read as _;
        let what = self.what.clone();
        let program = self
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = program.spawn_judged()?;
        // Read both pipes while it runs: a full pipe would stop it.
        let mut stdout = child.stdout.take();
        let mut stderr = child.stderr.take();
        let out = std::thread::spawn(move || {
            let mut text = Vec::new();
            if let Some(pipe) = stdout.as_mut() {
                let _ = pipe.read_to_end(&mut text);
            }
            text
        });
        let err = std::thread::spawn(move || {
            let mut text = Vec::new();
            if let Some(pipe) = stderr.as_mut() {
                let _ = pipe.read_to_end(&mut text);
            }
            text
        });
        let started = Instant::now();
        let mut timed_out = false;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) => {}
                Err(_) => break None,
            }
            if started.elapsed() >= limit && !timed_out {
                timed_out = true;
                kill_group(&mut child);
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let stdout = String::from_utf8_lossy(&out.join().unwrap_or_default()).into_owned();
        let stderr = String::from_utf8_lossy(&err.join().unwrap_or_default()).into_owned();
        match status {
            Some(status) if status.success() && !timed_out => Ok(stdout),
            status => Err(CommandFailed {
                what,
                status: judged(status, timed_out, limit),
                log: PathBuf::new(),
                tail: crate::diagnose::tail(&stderr, 10),
                hint: None,
                timed_out,
                cause: if timed_out {
                    crate::cause::Cause::Limit
                } else {
                    crate::cause::Cause::Tool
                },
            }),
        }
    }

    /// Runs it to its end with the output where it was set (this process's, unless given),
    /// feeding `input` to its stdin when given; judged by its exit status.
    pub fn status(self, input: Option<&[u8]>) -> Result<(), CommandFailed> {
        let program = match input {
            Some(_) => self.stdin(std::process::Stdio::piped()),
            None => self,
        };
        let what = program.what.clone();
        let mut child = program.spawn_judged()?;
        if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
            // A program that does not read its stdin closes it early: not an error.
            let _ = std::io::Write::write_all(&mut stdin, input);
        }
        let status = child.wait().ok();
        match status {
            Some(status) if status.success() => Ok(()),
            status => Err(CommandFailed {
                what,
                status: judged(status, false, Duration::ZERO),
                log: PathBuf::new(),
                tail: String::new(),
                hint: None,
                timed_out: false,
                cause: crate::cause::Cause::Tool,
            }),
        }
    }

    /// [`Program::spawn`], a failure to start judged.
    fn spawn_judged(self) -> Result<std::process::Child, CommandFailed> {
        tracing::debug!("{}: {}", self.what, self.rendered());
        let mut this = self;
        match this.command.spawn() {
            Ok(child) => Ok(child),
            Err(error) => Err(this.not_started(&error)),
        }
    }
}

/// Ends a child's whole process group (it leads one: [`Program`] starts it so), then reaps it.
fn kill_group(child: &mut std::process::Child) {
    if let Ok(group) = i32::try_from(child.id()) {
        // SAFETY: killpg only sends a signal; the group is the child's own.
        unsafe {
            libc::killpg(group, libc::SIGKILL);
        }
    }
    let _ = child.kill();
}

/// How a program ended, in words: `exit status 3`, `killed by SIGSEGV`, or its time limit.
fn judged(status: Option<std::process::ExitStatus>, timed_out: bool, limit: Duration) -> String {
    use std::os::unix::process::ExitStatusExt as _;
    match status {
        _ if timed_out => format!("killed after {} s, its time limit", limit.as_secs()),
        None => "its end could not be seen".to_string(),
        Some(status) => match (status.code(), status.signal()) {
            (Some(code), _) => format!("exit status {code}"),
            (None, Some(signal)) => format!("killed by {}", signal_name(signal)),
            (None, None) => status.to_string(),
        },
    }
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
    // The runner: the one place besides `Program::new` that starts a program.
    #[allow(clippy::disallowed_methods)]
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
    #[allow(clippy::disallowed_methods)]
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

#[cfg(test)]
mod tests {
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
            Program::new("making the test repository", "git")
                .args(["-c", "user.name=t", "-c", "user.email=t@example.org"])
                .args(args)
                .current_dir(&repository)
                .status(None)
                .unwrap_or_else(|error| panic!("git {args:?}: {error}"));
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
    fn a_program_is_judged_and_its_whole_group_ends_at_its_limit() {
        let listed = Program::new("echoing", "sh")
            .args(["-c", "echo out; echo err >&2"])
            .output_within(Duration::from_secs(30))
            .unwrap();
        assert_eq!(listed, "out\n");
        let failed = Program::new("failing on purpose", "sh")
            .args(["-c", "echo 'error: no controller' >&2; exit 3"])
            .output_within(Duration::from_secs(30))
            .unwrap_err();
        let message = failed.to_string();
        assert!(
            message.starts_with("failing on purpose failed (exit status 3): error: no controller\n"),
            "{message}"
        );
        assert!(
            !message.contains("log:"),
            "nothing was logged to a file: {message}"
        );
        let missing = Program::new("asking", "wheelwright-no-such-program")
            .output_within(Duration::from_secs(30))
            .unwrap_err();
        assert_eq!(missing.status, "`wheelwright-no-such-program` not found on PATH");
        // Past its limit, the program and what it started (a grandchild holding the pipe
        // open) are ended at once.
        let started = Instant::now();
        let stuck = Program::new("sleeping", "sh")
            .args(["-c", "sleep 60 & sleep 60"])
            .output_within(Duration::from_millis(300))
            .unwrap_err();
        assert!(stuck.timed_out, "{stuck}");
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{:?}",
            started.elapsed()
        );
        // `status` feeds stdin and judges the end.
        Program::new("reading", "sh")
            .args(["-c", "read line; test \"$line\" = hello"])
            .stdout(std::process::Stdio::null())
            .status(Some(b"hello\n"))
            .unwrap();
        let refused = Program::new("reading", "sh")
            .args(["-c", "read line; test \"$line\" = bye"])
            .status(Some(b"hello\n"))
            .unwrap_err();
        assert_eq!(refused.status, "exit status 1");
    }

    #[test]
    fn quotes_only_when_needed() {
        assert_eq!(shell_quote("-march=x86-64-v3"), "-march=x86-64-v3");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
    }
}
