//! The import step of a smoke test: one interpreter imports every target in turn (the script
//! `import_check.py`), catching each failure, then runs the recipe's test snippet. Results come
//! back through a file, one JSON line per event, so that nothing an imported module prints can
//! pass for a result; a step that runs past its time limit is killed, and one that dies (a
//! segfault, an illegal instruction) or is killed is reported with the import it was in.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::targets::{ImportKind, ImportTarget};
use crate::tools::{Invocation, run_logged_within};

/// The script the test interpreter runs.
pub const IMPORT_SCRIPT: &str = include_str!("import_check.py");

/// Why an import (or the snippet) failed: the exception and the end of its traceback.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    /// The exception's type (`ImportError`, `zmq.error.ZMQError`); empty when the interpreter
    /// was killed or died, which `message` then says.
    #[serde(rename = "type")]
    pub exception: String,
    pub message: String,
    /// The last lines of the traceback.
    #[serde(default)]
    pub traceback: Vec<String>,
}

impl Failure {
    /// `ImportError: libzmq.so.5: cannot open shared object file` (the message's first line).
    pub fn summary(&self) -> String {
        let message = self.message.lines().next().unwrap_or_default();
        match (self.exception.is_empty(), message.is_empty()) {
            (true, _) => message.to_string(),
            (false, true) => self.exception.clone(),
            (false, false) => format!("{}: {message}", self.exception),
        }
    }
}

/// How one import went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportResult {
    pub name: String,
    pub kind: ImportKind,
    pub ok: bool,
    /// How long it took (until it was stopped, for the one running when the step ended).
    pub seconds: f64,
    pub error: Option<Failure>,
    /// The module its file was loaded as already, by an earlier import (opencv 4's `cv2`
    /// loads `cv2/cv2.abi3.so` as `cv2`), or `an earlier import` when the file is mapped
    /// into the interpreter without a module of its own (opencv 5's): not imported again
    /// under its own name, which such a module refuses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loaded_as: Option<String>,
}

/// How the recipe's test snippet went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnippetResult {
    pub ok: bool,
    pub seconds: f64,
    pub error: Option<Failure>,
}

/// What the import step found.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ImportOutcome {
    /// The interpreter's version (`3.12.1`).
    pub python: Option<String>,
    /// Every import that was tried, in order.
    pub imported: Vec<ImportResult>,
    /// The targets never tried, because the step ended early.
    pub not_tried: Vec<String>,
    /// The snippet, if the recipe has one and it ran.
    pub snippet: Option<SnippetResult>,
    /// Why the step ended before its end, if it did (`killed after 300 s, its time limit,
    /// while importing `x``).
    pub interrupted: Option<String>,
}

impl ImportOutcome {
    /// The imports that failed.
    pub fn failures(&self) -> impl Iterator<Item = &ImportResult> {
        self.imported.iter().filter(|result| !result.ok)
    }
}

/// One line of the results file.
#[derive(Debug, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
enum Event {
    Python {
        version: String,
    },
    Start {
        name: String,
        at: f64,
    },
    Result {
        name: String,
        ok: bool,
        seconds: f64,
        error: Option<Failure>,
        #[serde(default)]
        loaded_as: Option<String>,
    },
    SnippetStart {
        at: f64,
    },
    Snippet {
        ok: bool,
        seconds: f64,
        error: Option<Failure>,
    },
    Done,
}

/// The plan the script reads.
#[derive(Debug, Serialize)]
struct Plan<'a> {
    targets: &'a [ImportTarget],
    snippet: Option<&'a str>,
    /// Seconds after which the interpreter dumps every thread's stack to the log (just before
    /// it is killed), to show where it hung.
    dump_after: u64,
}

/// Where the import step runs and what with.
pub struct ImportStep<'a> {
    /// The test environment's interpreter.
    pub python: &'a Path,
    pub targets: &'a [ImportTarget],
    pub snippet: Option<&'a str>,
    /// A directory for the script, its plan and its results (not the working directory,
    /// which stays empty).
    pub harness: &'a Path,
    pub invocation: &'a Invocation,
    pub log: &'a Path,
    pub limit: Duration,
}

/// Runs the import step. The error is for a step that could not start (its files could not
/// be written); everything that happens once it runs is in the outcome.
pub fn run_imports(step: &ImportStep) -> std::io::Result<ImportOutcome> {
    // A name that no `import` can reach (the harness directory is on sys.path before 3.11).
    let script = step.harness.join("wheelwright-import-check.py");
    let plan_path = step.harness.join("plan.json");
    let results = step.harness.join("results.jsonl");
    fs_err::write(&script, IMPORT_SCRIPT)?;
    let plan = Plan {
        targets: step.targets,
        snippet: step.snippet,
        dump_after: step.limit.as_secs().saturating_sub(5).max(1),
    };
    fs_err::write(
        &plan_path,
        serde_json::to_vec_pretty(&plan).map_err(std::io::Error::other)?,
    )?;
    if results.exists() {
        fs_err::remove_file(&results)?;
    }
    let mut invocation = step.invocation.clone();
    // The script's directory is not put on sys.path (3.11 and later; before, the harness
    // holds nothing importable anyway).
    invocation
        .environment
        .insert("PYTHONSAFEPATH".to_string(), "1".to_string());
    let outcome = run_logged_within(
        "import test",
        step.python,
        &[
            "-X".into(),
            "faulthandler".into(),
            script.display().to_string(),
            plan_path.display().to_string(),
            results.display().to_string(),
        ],
        &invocation,
        step.log,
        step.limit,
    );
    let text = fs_err::read_to_string(&results).unwrap_or_default();
    let ended = match &outcome {
        Ok(()) => None,
        Err(failure) if failure.timed_out => Some(format!(
            "the interpreter was killed after {} s, the time limit (`import_timeout` in the recipe)",
            step.limit.as_secs()
        )),
        Err(failure) => Some(format!("the interpreter ended ({})", failure.status)),
    };
    let mut read = read_results(&text, step.targets, now(), ended.as_deref());
    if let (Some(interrupted), Err(failure)) = (&mut read.interrupted, &outcome) {
        interrupted.push_str(&format!("; log: {}\n{}", failure.log.display(), failure.tail));
    }
    Ok(read)
}

/// Seconds since the epoch, as Python's `time.time()`.
fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs_f64())
        .unwrap_or(0.0)
}

/// Reads the results file. `ended` says how the interpreter ended when it did not exit
/// normally; `now` dates the end of an import that never finished.
pub fn read_results(text: &str, targets: &[ImportTarget], now: f64, ended: Option<&str>) -> ImportOutcome {
    let kind_of = |name: &str| {
        targets
            .iter()
            .find(|target| target.name == name)
            .map_or(ImportKind::Module, |target| target.kind)
    };
    let mut outcome = ImportOutcome::default();
    let mut running: Option<(String, f64)> = None;
    let mut snippet_running: Option<f64> = None;
    let mut done = false;
    for line in text.lines() {
        // A line cut short by a kill is not an event.
        let Ok(event) = serde_json::from_str::<Event>(line) else {
            continue;
        };
        match event {
            Event::Python { version } => outcome.python = Some(version),
            Event::Start { name, at } => running = Some((name, at)),
            Event::Result {
                name,
                ok,
                seconds,
                error,
                loaded_as,
            } => {
                running = None;
                outcome.imported.push(ImportResult {
                    kind: kind_of(&name),
                    name,
                    ok,
                    seconds,
                    error,
                    loaded_as,
                });
            }
            Event::SnippetStart { at } => snippet_running = Some(at),
            Event::Snippet { ok, seconds, error } => {
                snippet_running = None;
                outcome.snippet = Some(SnippetResult { ok, seconds, error });
            }
            Event::Done => done = true,
        }
    }
    if done {
        return outcome;
    }
    let how = ended.unwrap_or("the interpreter ended without finishing");
    let (during, stopped) = match (&running, snippet_running) {
        (Some((name, _)), _) => (format!("while importing `{name}`"), how.to_string()),
        (None, Some(_)) => ("while running the recipe's test".to_string(), how.to_string()),
        (None, None) if outcome.python.is_none() => ("before the first import".to_string(), how.to_string()),
        (None, None) => ("between imports".to_string(), how.to_string()),
    };
    if let Some((name, at)) = running {
        outcome.imported.push(ImportResult {
            kind: kind_of(&name),
            name,
            ok: false,
            seconds: (now - at).max(0.0),
            error: Some(Failure {
                exception: String::new(),
                message: stopped.clone(),
                traceback: Vec::new(),
            }),
            loaded_as: None,
        });
    } else if let Some(at) = snippet_running {
        outcome.snippet = Some(SnippetResult {
            ok: false,
            seconds: (now - at).max(0.0),
            error: Some(Failure {
                exception: String::new(),
                message: stopped.clone(),
                traceback: Vec::new(),
            }),
        });
    }
    outcome.not_tried = targets
        .iter()
        .filter(|target| !outcome.imported.iter().any(|result| result.name == target.name))
        .map(|target| target.name.clone())
        .collect();
    outcome.interrupted = Some(format!("{stopped} {during}"));
    outcome
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn target(kind: ImportKind, name: &str) -> ImportTarget {
        ImportTarget {
            kind,
            name: name.to_string(),
            member: None,
        }
    }

    /// The newest CPython under pyenv, by path.
    fn python() -> Option<PathBuf> {
        let root = std::env::var_os("PYENV_ROOT")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".pyenv")))?;
        ["3.13", "3.12", "3.11", "3.10"].iter().find_map(|version| {
            let mut found: Vec<PathBuf> = fs_err::read_dir(root.join("versions"))
                .ok()?
                .flatten()
                .map(|entry| entry.path())
                .filter(|path| {
                    path.file_name()
                        .and_then(|name| name.to_str())
                        .is_some_and(|name| name.starts_with(&format!("{version}.")))
                })
                .map(|path| path.join("bin/python3"))
                .filter(|path| path.exists())
                .collect();
            found.sort();
            found.pop()
        })
    }

    struct Setup {
        _directory: tempfile::TempDir,
        modules: PathBuf,
        harness: PathBuf,
        log: PathBuf,
        python: PathBuf,
    }

    fn setup(modules: &[(&str, &str)]) -> Option<Setup> {
        let Some(python) = python() else {
            eprintln!("no pyenv CPython: the script is not run");
            return None;
        };
        let directory = tempfile::tempdir().unwrap();
        let root = directory.path();
        let modules_dir = root.join("modules");
        let harness = root.join("harness");
        for directory in [&modules_dir, &harness, &root.join("work")] {
            fs_err::create_dir_all(directory).unwrap();
        }
        for (path, text) in modules {
            let path = modules_dir.join(path);
            fs_err::create_dir_all(path.parent().unwrap()).unwrap();
            fs_err::write(path, text).unwrap();
        }
        Some(Setup {
            modules: modules_dir,
            harness,
            log: root.join("log"),
            python,
            _directory: directory,
        })
    }

    fn run(setup: &Setup, targets: &[ImportTarget], snippet: Option<&str>, limit: Duration) -> ImportOutcome {
        let invocation = Invocation {
            directory: Some(setup.harness.parent().unwrap().join("work")),
            environment: [("PYTHONPATH".to_string(), setup.modules.display().to_string())].into(),
            unset: Vec::new(),
            base: None,
        };
        run_imports(&ImportStep {
            python: &setup.python,
            targets,
            snippet,
            harness: &setup.harness,
            invocation: &invocation,
            log: &setup.log,
            limit,
        })
        .unwrap()
    }

    #[test]
    fn each_import_is_tried_and_judged_apart() {
        let Some(setup) = setup(&[
            ("good/__init__.py", "ANSWER = 42\n"),
            (
                "good/sub.py",
                "print('{\"event\": \"result\", \"name\": \"bad\", \"ok\": true, \"seconds\": 0}')\n",
            ),
            (
                "bad.py",
                "raise ImportError('libzmq.so.5: cannot open shared object file')\n",
            ),
            ("exits.py", "import sys\nsys.exit(3)\n"),
            (
                "chatty.py",
                "import sys, json\nprint('noise')\nsys.stdout = None\njson.dumps = None\n",
            ),
        ]) else {
            return;
        };
        let targets = [
            target(ImportKind::Package, "good"),
            target(ImportKind::Module, "good.sub"),
            target(ImportKind::Module, "bad"),
            target(ImportKind::Module, "chatty"),
            target(ImportKind::Module, "exits"),
            target(ImportKind::Extension, "missing._ext"),
        ];
        let outcome = run(
            &setup,
            &targets,
            Some("assert good.ANSWER == 42\n"),
            Duration::from_secs(60),
        );
        let summary: Vec<String> = outcome
            .imported
            .iter()
            .map(|result| {
                format!(
                    "{} {} {}",
                    result.name,
                    result.ok,
                    result.error.as_ref().map(Failure::summary).unwrap_or_default()
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                "good true ",
                "good.sub true ",
                "bad false ImportError: libzmq.so.5: cannot open shared object file",
                "chatty true ",
                "exits false SystemExit: 3",
                "missing._ext false ModuleNotFoundError: No module named 'missing'",
            ]
        );
        let bad = outcome.imported[2].error.as_ref().unwrap();
        assert!(
            bad.traceback.last().unwrap().contains("ImportError: libzmq.so.5"),
            "{:?}",
            bad.traceback
        );
        assert_eq!(outcome.imported[5].kind, ImportKind::Extension);
        assert!(outcome.python.is_some());
        // The snippet does not run when an import failed.
        assert_eq!(outcome.snippet, None);
        assert_eq!(outcome.interrupted, None);
        let log = fs_err::read_to_string(&setup.log).unwrap();
        assert!(
            log.contains("noise") && log.contains("import bad failed"),
            "{log}"
        );

        // All good: the snippet runs, with the imported names bound.
        let outcome = run(
            &setup,
            &targets[..2],
            Some("assert good.ANSWER == 42\n"),
            Duration::from_secs(60),
        );
        assert!(outcome.imported.iter().all(|result| result.ok));
        assert!(outcome.snippet.as_ref().unwrap().ok, "{:?}", outcome.snippet);
        let outcome = run(
            &setup,
            &targets[..1],
            Some("assert good.ANSWER == 41, 'no'\n"),
            Duration::from_secs(60),
        );
        assert_eq!(
            outcome.snippet.unwrap().error.unwrap().summary(),
            "AssertionError: no"
        );
    }

    #[test]
    fn an_extension_its_package_loaded_under_another_name_is_not_imported_again() {
        // As opencv's cv2: the package's __init__ loads its binary as the package itself, and
        // the binary refuses to be imported under its own name.
        let Some(setup) = setup(&[
            (
                "pkg/__init__.py",
                "import importlib.util, os, sys\n\
                 spec = importlib.util.spec_from_file_location('pkg', os.path.join(os.path.dirname(__file__), 'core.py'))\n\
                 module = importlib.util.module_from_spec(spec)\n\
                 sys.modules['pkg'] = module\n\
                 spec.loader.exec_module(module)\n",
            ),
            (
                "pkg/core.py",
                "if __name__ != 'pkg':\n    raise ImportError('Bindings generation error: loaded as ' + __name__)\nANSWER = 42\n",
            ),
            ("other/__init__.py", ""),
            ("other/native.py", "ANSWER = 1\n"),
            // Its binary mapped, its contents copied, no module of it kept.
            (
                "mapped/__init__.py",
                "import mmap, os\n\
                 _file = open(os.path.join(os.path.dirname(__file__), 'core.py'), 'rb')\n\
                 _map = mmap.mmap(_file.fileno(), 0, prot=mmap.PROT_READ)\n",
            ),
            (
                "mapped/core.py",
                "raise ImportError('Bindings generation error: loaded as ' + __name__)\n",
            ),
        ]) else {
            return;
        };
        let targets = [
            target(ImportKind::Package, "pkg"),
            target(ImportKind::Extension, "pkg.core"),
            target(ImportKind::Package, "other"),
            target(ImportKind::Extension, "other.native"),
            target(ImportKind::Package, "mapped"),
            target(ImportKind::Extension, "mapped.core"),
        ];
        let outcome = run(
            &setup,
            &targets,
            Some("assert pkg.ANSWER == 42\n"),
            Duration::from_secs(60),
        );
        let summary: Vec<String> = outcome
            .imported
            .iter()
            .map(|result| format!("{} {} {:?}", result.name, result.ok, result.loaded_as))
            .collect();
        assert_eq!(
            summary,
            [
                "pkg true None",
                "pkg.core true Some(\"pkg\")",
                "other true None",
                // Not loaded before: imported under its own name.
                "other.native true None",
                "mapped true None",
                "mapped.core true Some(\"an earlier import\")",
            ]
        );
        assert!(outcome.snippet.unwrap().ok);
        // Asked for alone, the same: looking for it imports its package, which loads it.
        let outcome = run(&setup, &targets[1..2], None, Duration::from_secs(60));
        assert_eq!(
            outcome.imported[0].loaded_as.as_deref(),
            Some("pkg"),
            "{:?}",
            outcome.imported
        );
        // A module that really fails still fails: no other module has its file.
        let outcome = run(
            &setup,
            &[target(ImportKind::Extension, "pkg.missing")],
            None,
            Duration::from_secs(60),
        );
        assert!(!outcome.imported[0].ok, "{:?}", outcome.imported);
    }

    #[test]
    fn a_hanging_or_crashing_import_is_named() {
        let Some(setup) = setup(&[
            ("fine.py", ""),
            ("hangs.py", "import time\ntime.sleep(60)\n"),
            ("crashes.py", "import ctypes\nctypes.string_at(0)\n"),
        ]) else {
            return;
        };
        let targets = [
            target(ImportKind::Module, "fine"),
            target(ImportKind::Module, "hangs"),
            target(ImportKind::Module, "never"),
        ];
        let outcome = run(&setup, &targets, None, Duration::from_secs(2));
        assert_eq!(outcome.imported.len(), 2);
        assert!(outcome.imported[0].ok);
        let hung = &outcome.imported[1];
        assert!(!hung.ok && hung.seconds >= 1.0, "{hung:?}");
        assert_eq!(outcome.not_tried, ["never"]);
        let interrupted = outcome.interrupted.unwrap();
        assert!(
            interrupted.starts_with("the interpreter was killed after 2 s, the time limit (`import_timeout` in the recipe) while importing `hangs`"),
            "{interrupted}"
        );

        let targets = [
            target(ImportKind::Module, "crashes"),
            target(ImportKind::Module, "fine"),
        ];
        let outcome = run(&setup, &targets, None, Duration::from_secs(60));
        let interrupted = outcome.interrupted.unwrap();
        assert!(
            interrupted.starts_with(
                "the interpreter ended (killed by signal 11 (SIGSEGV)) while importing `crashes`"
            ),
            "{interrupted}"
        );
        // faulthandler's dump is in the log's tail.
        assert!(interrupted.contains("Fatal Python error"), "{interrupted}");
        assert_eq!(outcome.not_tried, ["fine"]);
    }

    #[test]
    fn results_are_read_from_what_was_written() {
        let targets = [
            target(ImportKind::Package, "a"),
            target(ImportKind::Extension, "a._b"),
        ];
        let text = "{\"event\": \"python\", \"version\": \"3.12.1\", \"executable\": \"x\"}\n{\"event\": \"start\", \"name\": \"a\", \"at\": 100.0}\n{\"event\": \"result\", \"name\": \"a\", \"ok\": true, \"seconds\": 0.5}\n{\"event\": \"start\", \"name\": \"a._b\", \"at\": 101.0}\n{\"event\": \"resu";
        let outcome = read_results(
            text,
            &targets,
            105.0,
            Some("the interpreter ended (exit status 1)"),
        );
        assert_eq!(outcome.python.as_deref(), Some("3.12.1"));
        assert_eq!(outcome.imported.len(), 2);
        assert_eq!(outcome.imported[1].kind, ImportKind::Extension);
        assert_eq!(outcome.imported[1].seconds, 4.0);
        assert_eq!(
            outcome.interrupted.as_deref(),
            Some("the interpreter ended (exit status 1) while importing `a._b`")
        );
        let outcome = read_results("", &targets, 0.0, Some("the interpreter ended (exit status 2)"));
        assert_eq!(
            outcome.interrupted.as_deref(),
            Some("the interpreter ended (exit status 2) before the first import")
        );
        assert_eq!(outcome.not_tried, ["a", "a._b"]);
    }
}
