//! External programs (python, uv, pip, patch, compilers) behind one module: found by path,
//! run with their argv logged and their output captured to a log file, and judged here: a
//! failure carries the exit status, the tail of the log, the log's path and a hint.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::layout::PythonVersion;

/// A command that failed, with what a person needs to fix it.
#[derive(Debug, thiserror::Error)]
#[error("{what} failed ({status}); log: {log}\n{tail}{hint}", log = log.display(), hint = hint.as_deref().map(|h| format!("\nhint: {h}")).unwrap_or_default())]
pub struct CommandFailed {
    pub what: String,
    pub status: String,
    pub log: PathBuf,
    pub tail: String,
    pub hint: Option<String>,
}

/// Where a command runs and what it sees.
#[derive(Debug, Clone, Default)]
pub struct Invocation {
    pub directory: Option<PathBuf>,
    pub environment: BTreeMap<String, String>,
    /// Variables removed from the environment.
    pub unset: Vec<String>,
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
    let log = &strip_ansi(log);
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
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
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
    use std::io::Write as _;
    let rendered = std::iter::once(program.display().to_string())
        .chain(args.iter().map(|arg| shell_quote(arg)))
        .collect::<Vec<_>>()
        .join(" ");
    tracing::debug!("{what}: {rendered}");
    let fail = |status: String, text: String| CommandFailed {
        what: what.to_string(),
        status,
        log: log.to_path_buf(),
        tail: tail(&text, 25),
        hint: hint_for(&text),
    };
    let mut file = fs_err::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|error| fail("the log could not be opened".into(), error.to_string()))?;
    let _ = writeln!(file, "$ {rendered}");
    let program = find_program(program).map_err(|missing| CommandFailed {
        what: what.to_string(),
        status: format!("`{}` not found on PATH", missing.name),
        log: log.to_path_buf(),
        tail: String::new(),
        hint: missing
            .debian
            .map(|package| format!("install it (Debian: {package})")),
    })?;
    let mut expression = duct::cmd(&program, args)
        .stderr_to_stdout()
        .stdout_capture()
        .unchecked();
    if let Some(directory) = &invocation.directory {
        expression = expression.dir(directory);
    }
    for (key, value) in &invocation.environment {
        expression = expression.env(key, value);
    }
    for key in &invocation.unset {
        expression = expression.env_remove(key);
    }
    let output = expression.run().map_err(|error| {
        fail(
            format!("could not start `{}`", program.display()),
            error.to_string(),
        )
    })?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let _ = file.write_all(text.as_bytes());
    if output.status.success() {
        Ok(())
    } else {
        let status = match output.status.code() {
            Some(code) => format!("exit status {code}"),
            None => "killed by a signal".to_string(),
        };
        Err(fail(status, text))
    }
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
    let program = find_program(program).ok()?;
    let output = duct::cmd(&program, args)
        .stderr_null()
        .stdout_capture()
        .unchecked()
        .run()
        .ok()?;
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

/// Finds an interpreter of `version` that really is that version.
pub fn find_python(version: PythonVersion) -> Result<PathBuf, String> {
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
    Err(format!(
        "no Python {version} interpreter found (looked at $WHEELWRIGHT_PYTHON_{}_{}, python{version} on PATH, pyenv versions, /usr/local/bin, /usr/bin); install it or pass --python without it",
        version.major, version.minor
    ))
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn quotes_only_when_needed() {
        assert_eq!(shell_quote("-march=x86-64-v3"), "-march=x86-64-v3");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
    }

    #[test]
    fn finds_no_python_two_hundred() {
        let error = find_python(PythonVersion { major: 3, minor: 200 }).unwrap_err();
        assert!(error.contains("no Python 3.200 interpreter found"), "{error}");
    }
}
