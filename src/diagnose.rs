//! What a failed command's log says: its decisive lines (the compilers' first errors, not the
//! last warnings), the line that says why, a hint naming the missing piece (a header, a
//! library, a module), and whose the failure looks to be ([`crate::cause::Cause`]).

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
            let said = line.trim_start_matches("  | ").trim_start();
            let lower = said.to_ascii_lowercase();
            ["fatal:", "error:", "error ", "e:", "fatal error"]
                .iter()
                .any(|start| lower.starts_with(start))
                || python_exception(said)
        })
    }?;
    let line = line.trim_start_matches("  | ").trim();
    (!line.is_empty()).then(|| crate::words::clip(line, 200))
}

/// Whether a line is a Python exception's last line (`ModuleNotFoundError: No module named
/// 'x'`, `RuntimeError: ...`, `setuptools.errors.SetupError: ...`): what a backend that failed
/// in Python says last.
fn python_exception(line: &str) -> bool {
    line.split_once(": ").is_some_and(|(name, _)| {
        let last = name.rsplit('.').next().unwrap_or(name);
        (last.ends_with("Error") || last.ends_with("Exception"))
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
    })
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
    // pyproj: "proj executable not found. Please set the PROJ_DIR variable."; a library's
    // `*-config` script (psycopg2's pg_config, mysqlclient's mysql_config, GDAL's gdal-config,
    // netCDF's nc-config): "Unable to run `gdal-config`", "mysql_config not found",
    // "sh: 1: nc-config: not found", "Could not find gdal-config".
    if let Some(program) = log
        .lines()
        .find_map(|line| line.split_once(" executable not found").map(|(before, _)| before))
        .and_then(|before| before.split_whitespace().last())
        .map(str::to_string)
        .or_else(|| log.lines().find_map(missing_config_script))
    {
        return Some(format!(
            "the program `{program}` (from a system library's tools) was not found: install the library's development and tools packages (Debian: apt-cache search {program}) or load its module"
        ));
    }
    None
}

/// The `*-config` (or `*_config`) script a line says could not be run or found, if any.
fn missing_config_script(line: &str) -> Option<String> {
    let lower = line.to_ascii_lowercase();
    let says_missing = [
        "not found",
        "unable to run",
        "could not find",
        "cannot find",
        "no such file",
    ]
    .iter()
    .any(|words| lower.contains(words));
    if !says_missing {
        return None;
    }
    line.split(|c: char| c.is_whitespace() || "`'\":;,()[]".contains(c))
        .map(|word| word.rsplit('/').next().unwrap_or(word).trim_end_matches('.'))
        .find(|word| {
            (word.ends_with("-config") || word.ends_with("_config"))
                && word.len() > "-config".len()
                && word
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.+".contains(c))
        })
        .map(str::to_string)
}

/// A hint for well-known build failures.
pub fn hint_for(log: &str) -> Option<String> {
    diagnose(log).map(|(hint, _)| hint)
}

/// A hint for a well-known build failure, and whose the failure is.
pub(crate) fn diagnose(log: &str) -> Option<(String, crate::cause::Cause)> {
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

#[cfg(test)]
mod tests {
    use super::*;
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
        let output = crate::tools::Program::new("compiling a broken file", "gcc")
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
        // A backend that failed in Python: its exception's last line.
        let python = decisive_tail(
            "Traceback (most recent call last):\n  File \"setup.py\", line 3\nModuleNotFoundError: No module named 'pkg_resources'\n\nnote: This error originates from a subprocess\n",
        );
        assert_eq!(
            headline(&python).as_deref(),
            Some("ModuleNotFoundError: No module named 'pkg_resources'")
        );
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
            ("Error: pg_config executable not found.\n", "`pg_config`"),
            ("OSError: mysql_config not found\n", "`mysql_config`"),
            ("/bin/sh: 1: mysql_config: not found\n", "`mysql_config`"),
            (
                "      error: Unable to run `gdal-config`: is GDAL installed?\n",
                "`gdal-config`",
            ),
            (
                "Could not find gdal-config. Make sure you have installed GDAL\n",
                "`gdal-config`",
            ),
            ("sh: 1: /usr/bin/nc-config: not found\n", "`nc-config`"),
        ];
        for (log, named) in cases {
            let hint = hint_for(log).unwrap_or_default();
            assert!(hint.contains(named), "{log:?} -> {hint:?}");
            // The site's stack lacks it: not the package's failure.
            assert_eq!(
                diagnose(log).map(|(_, cause)| cause),
                Some(crate::cause::Cause::SiteStack),
                "{log:?}"
            );
        }
        // A config script a line names without saying it is missing is no hint.
        assert_eq!(hint_for("running gdal-config --version\n3.6.2\n"), None);
    }

    #[test]
    fn colour_codes_are_stripped_from_tails() {
        let text = "\u{1b}[1;31merror:\u{1b}[0m it broke\n\u{1b}]8;;http://x\u{7}link\u{1b}]8;;\u{7}\n";
        assert_eq!(strip_ansi(text), "error: it broke\nlink\n");
        assert_eq!(tail(text, 5), "  | error: it broke\n  | link\n");
    }
}
