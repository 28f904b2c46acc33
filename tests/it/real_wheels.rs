//! End-to-end tests on real wheels from PyPI: rewrite, `wheelwright verify`, `wheel unpack`,
//! then install with pip and with uv into fresh venvs and import.
//!
//! They need the network, CPython 3.12 under pyenv and the tools of `ci/install-test-tools.sh`
//! (`uv`, `wheel`) on PATH, so they are ignored by default; CI's slow step runs them:
//!
//! ```text
//! source ci/install-test-tools.sh && cargo test --test it -- --ignored real_wheels
//! ```
//!
//! Downloads are kept in `target/test-cache/wheels` and reused.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use serde_json::Value;

/// The site's local version label in the embedded layout.
const LABEL: &str = "computecanada";

/// Every download uses this interpreter version and platform.
const PYTHON_VERSION: &str = "3.12";
const PLATFORM: &str = "manylinux_2_17_x86_64";

// ---------------------------------------------------------------------------------------------
// Tools
// ---------------------------------------------------------------------------------------------

/// The `wheelwright` binary under test, with the environment that would change its behaviour
/// removed.
fn wheelwright() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_wheelwright"));
    command.env_remove("WHEELWRIGHT_LAYOUT").env_remove("RUST_LOG");
    command
}

/// A command with the Python environment variables that could leak into venvs removed.
pub(crate) fn command(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut command = Command::new(program);
    command
        .env_remove("PYTHONPATH")
        .env_remove("PYTHONHOME")
        .env_remove("PYTHONSTARTUP")
        .env_remove("VIRTUAL_ENV")
        .env_remove("CONDA_PREFIX")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
        .env("PIP_NO_INPUT", "1")
        .env("UV_PYTHON_DOWNLOADS", "never")
        .env("UV_NO_PROGRESS", "1");
    command
}

/// CPython 3.12 found by path under pyenv (`$PYENV_ROOT` or `~/.pyenv`), never through shims.
pub(crate) fn python312() -> PathBuf {
    let root = std::env::var_os("PYENV_ROOT")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".pyenv")))
        .expect("PYENV_ROOT or HOME is set");
    let versions = root.join("versions");
    let mut candidates: Vec<(u32, PathBuf)> = fs_err::read_dir(&versions)
        .unwrap_or_else(|error| panic!("CPython 3.12 is looked for under pyenv: {error}"))
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let patch: u32 = name.strip_prefix("3.12.")?.parse().ok()?;
            let python = entry.path().join("bin/python3");
            python.is_file().then_some((patch, python))
        })
        .collect();
    candidates.sort();
    candidates
        .pop()
        .map(|(_, python)| python)
        .unwrap_or_else(|| panic!("no CPython 3.12.x with bin/python3 under {}", versions.display()))
}

/// An executable from PATH; the real-wheel tests fail (not skip) when it is missing.
fn on_path(name: &str) -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|directory| directory.join(name))
                .find(|path| path.is_file())
        })
        .unwrap_or_else(|| {
            panic!(
                "`{name}` is not on PATH: these tests need the tools of ci/install-test-tools.sh; \
                 run `source ci/install-test-tools.sh` first"
            )
        })
}

pub(crate) fn uv() -> PathBuf {
    on_path("uv")
}

fn wheel_tool() -> PathBuf {
    on_path("wheel")
}

/// Fails at once, before any download, when an interpreter or tool is missing.
fn preflight() {
    python312();
    uv();
    wheel_tool();
}

/// Describes a command for failure messages.
fn describe(command: &Command) -> String {
    let mut text = command.get_program().to_string_lossy().into_owned();
    for argument in command.get_args() {
        text.push(' ');
        text.push_str(&argument.to_string_lossy());
    }
    text
}

/// Runs a command that must succeed and returns its stdout; on failure the panic names the
/// package (`label`), the step, the command and its output.
pub(crate) fn run_ok(label: &str, step: &str, command: &mut Command) -> String {
    let shown = describe(command);
    let output = command
        .output()
        .unwrap_or_else(|error| panic!("[{label}] {step}: `{shown}` does not start: {error}"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "[{label}] {step} failed ({}):\n$ {shown}\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        output.status
    );
    stdout
}

// ---------------------------------------------------------------------------------------------
// Wheels
// ---------------------------------------------------------------------------------------------

/// `target/`, found from the integration tests' scratch directory `target/tmp`.
pub(crate) fn target_dir() -> PathBuf {
    let scratch = Path::new(env!("CARGO_TARGET_TMPDIR"));
    scratch
        .parent()
        .expect("CARGO_TARGET_TMPDIR has a parent")
        .to_path_buf()
}

/// A fresh scratch directory under `target/tmp`, removed when dropped.
fn scratch(label: &str) -> tempfile::TempDir {
    let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    fs_err::create_dir_all(&base).unwrap();
    tempfile::Builder::new()
        .prefix(&format!("real-wheels-{}-", label.replace([' ', '/'], "-")))
        .tempdir_in(&base)
        .unwrap()
}

/// Serialises downloads between the tests of this process; a download goes to a temporary
/// directory and is renamed into the cache, so other processes never see half a file.
static DOWNLOAD: Mutex<()> = Mutex::new(());

fn cached(cache: &Path, prefix: &str) -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = fs_err::read_dir(cache)
        .ok()?
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with(prefix) && name.ends_with(".whl"))
        })
        .collect();
    found.sort();
    found.pop()
}

/// The wheel of `name==version` for CPython 3.12 on manylinux_2_17_x86_64, from the cache or
/// downloaded with pip.
fn fetch(name: &str, version: &str) -> PathBuf {
    let label = format!("{name} {version}");
    let cache = target_dir().join("test-cache/wheels");
    let prefix = format!("{}-{version}-", name.to_lowercase().replace(['-', '.'], "_"));
    let _guard = DOWNLOAD.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(wheel) = cached(&cache, &prefix) {
        return wheel;
    }
    fs_err::create_dir_all(&cache).unwrap();
    let download = tempfile::Builder::new()
        .prefix(".download-")
        .tempdir_in(&cache)
        .unwrap();
    run_ok(
        &label,
        "pip download",
        command(python312())
            .args(["-m", "pip", "download", "--no-deps", "--only-binary", ":all:"])
            .args(["--python-version", PYTHON_VERSION, "--platform", PLATFORM])
            .arg(format!("{name}=={version}"))
            .arg("-d")
            .arg(download.path()),
    );
    let downloaded = cached(download.path(), &prefix)
        .unwrap_or_else(|| panic!("[{label}] pip download left no {prefix}*.whl"));
    let destination = cache.join(downloaded.file_name().unwrap());
    fs_err::rename(&downloaded, &destination).unwrap();
    destination
}

fn file_name(path: &Path) -> &str {
    path.file_name()
        .and_then(|name| name.to_str())
        .expect("a UTF-8 file name")
}

/// Reads one member of a wheel, found by the end of its name (e.g. `.dist-info/METADATA`).
fn read_member_ending(wheel: &Path, ending: &str) -> (String, String) {
    let mut archive = zip::ZipArchive::new(fs_err::File::open(wheel).unwrap()).unwrap();
    let name = archive
        .file_names()
        .map(|name| name.expect("a UTF-8 member name").into_owned())
        .find(|name| name.ends_with(ending) && name.matches('/').count() == 1)
        .unwrap_or_else(|| panic!("no *{ending} in {}", wheel.display()));
    let mut text = String::new();
    std::io::Read::read_to_string(&mut archive.by_name(&name).unwrap(), &mut text).unwrap();
    (name, text)
}

/// A requirement with spaces dropped and quotes made double, so that the formatting does not
/// matter when comparing.
fn squash(requirement: &str) -> String {
    requirement.replace(' ', "").replace('\'', "\"")
}

/// Runs `wheelwright manipulate --json -o DIRECTORY ARGS WHEEL` and returns the one outcome.
fn manipulate(label: &str, wheel: &Path, args: &[&str], directory: &Path) -> Value {
    let stdout = run_ok(
        label,
        "wheelwright manipulate",
        wheelwright()
            .arg("manipulate")
            .arg("--json")
            .arg("-o")
            .arg(directory)
            .args(args)
            .arg(wheel),
    );
    let outcomes: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|error| panic!("[{label}] manipulate --json printed no JSON ({error}):\n{stdout}"));
    let outcomes = outcomes
        .as_array()
        .unwrap_or_else(|| panic!("[{label}] not a JSON array:\n{stdout}"));
    assert_eq!(outcomes.len(), 1, "[{label}] one outcome per wheel:\n{stdout}");
    outcomes[0].clone()
}

fn verify(label: &str, wheel: &Path) {
    run_ok(
        label,
        "wheelwright verify",
        wheelwright().arg("verify").arg(wheel),
    );
}

/// `wheel unpack`, which checks every RECORD hash, into `directory`; returns the tree.
fn wheel_unpack(label: &str, wheel: &Path, directory: &Path) -> PathBuf {
    run_ok(
        label,
        "wheel unpack",
        command(wheel_tool())
            .arg("unpack")
            .arg("-d")
            .arg(directory)
            .arg(wheel),
    );
    let mut trees: Vec<PathBuf> = fs_err::read_dir(directory)
        .unwrap()
        .flatten()
        .map(|entry| entry.path())
        .collect();
    assert_eq!(
        trees.len(),
        1,
        "[{label}] wheel unpack makes one directory: {trees:?}"
    );
    trees.pop().unwrap()
}

/// A fresh venv made by CPython 3.12's `venv`; returns its python.
fn pip_venv(label: &str, directory: &Path) -> PathBuf {
    run_ok(
        label,
        "python3.12 -m venv",
        command(python312()).arg("-m").arg("venv").arg(directory),
    );
    directory.join("bin/python")
}

/// A fresh venv made by `uv venv` with CPython 3.12 from pyenv; returns its python.
fn uv_venv(label: &str, directory: &Path) -> PathBuf {
    run_ok(
        label,
        "uv venv",
        command(uv())
            .arg("venv")
            .arg("--python")
            .arg(python312())
            .arg(directory),
    );
    directory.join("bin/python")
}

fn python_check(label: &str, step: &str, python: &Path, code: &str) -> String {
    run_ok(label, step, command(python).arg("-c").arg(code))
}

/// The `Version:` line of `pip show NAME`.
fn pip_show_version(label: &str, python: &Path, name: &str) -> String {
    let stdout = run_ok(
        label,
        "pip show",
        command(python).args(["-m", "pip", "show", name]),
    );
    stdout
        .lines()
        .find_map(|line| line.strip_prefix("Version:"))
        .map(|version| version.trim().to_string())
        .unwrap_or_else(|| panic!("[{label}] pip show {name} printed no Version:\n{stdout}"))
}

// ---------------------------------------------------------------------------------------------
// The round trip, package by package
// ---------------------------------------------------------------------------------------------

struct Case {
    /// The distribution name on PyPI (and for `pip show`).
    name: &'static str,
    version: &'static str,
    /// Requirement edits besides `--insert-local-version --strip-nvidia`.
    edits: &'static [&'static str],
    /// Requirements the rewritten METADATA must have (compared without spaces).
    expect_requirements: &'static [&'static str],
    /// Requirements the rewritten METADATA must no longer have (compared without spaces).
    expect_gone: &'static [&'static str],
    /// Python that imports the package, uses it a little and checks what the edits installed.
    import_check: &'static str,
}

/// Rewrites the real wheel, checks it with `wheelwright verify` and `wheel unpack`, then
/// installs it with pip and with uv into fresh venvs, imports it and checks the version.
fn round_trip(case: &Case) {
    let label = format!("{} {}", case.name, case.version);
    let label = label.as_str();
    preflight();
    let original = fetch(case.name, case.version);
    let scratch = scratch(case.name);
    let out = scratch.path().join("out");

    // Rewrite.
    let mut args = vec!["--insert-local-version", "--strip-nvidia"];
    args.extend_from_slice(case.edits);
    let outcome = manipulate(label, &original, &args, &out);
    let local_version = format!("{}+{LABEL}", case.version);
    assert_eq!(outcome["status"], "written", "[{label}] {outcome:#}");
    assert_eq!(outcome["old_version"], case.version, "[{label}] {outcome:#}");
    assert_eq!(
        outcome["new_version"],
        local_version.as_str(),
        "[{label}] {outcome:#}"
    );
    assert_eq!(
        outcome["old_filename"],
        file_name(&original),
        "[{label}] {outcome:#}"
    );
    let rewritten = PathBuf::from(outcome["output"].as_str().expect("output is a path"));
    assert_eq!(rewritten.parent(), Some(out.as_path()), "[{label}] {outcome:#}");
    assert_eq!(
        outcome["new_filename"],
        file_name(&rewritten),
        "[{label}] {outcome:#}"
    );
    let expected_name =
        file_name(&original).replacen(&format!("-{}-", case.version), &format!("-{local_version}-"), 1);
    assert_eq!(
        file_name(&rewritten),
        expected_name,
        "[{label}] only the version changes in the name"
    );
    assert!(
        rewritten.is_file(),
        "[{label}] {} was not written",
        rewritten.display()
    );
    assert!(original.is_file(), "[{label}] the input must stay");

    // The METADATA says what the outcome says.
    let (metadata_name, metadata) = read_member_ending(&rewritten, ".dist-info/METADATA");
    let normalized = case.name.to_lowercase().replace('-', "_");
    assert!(
        metadata_name.to_lowercase() == format!("{normalized}-{local_version}.dist-info/metadata"),
        "[{label}] the .dist-info follows the version: {metadata_name}"
    );
    assert!(
        metadata
            .lines()
            .any(|line| line == format!("Version: {local_version}")),
        "[{label}] METADATA Version is not {local_version}:\n{metadata}"
    );
    let requires: Vec<String> = metadata
        .lines()
        .filter_map(|line| line.strip_prefix("Requires-Dist:"))
        .map(squash)
        .collect();
    let reported: Vec<String> = outcome["requirements"]
        .as_array()
        .expect("requirements is an array")
        .iter()
        .map(|requirement| squash(requirement.as_str().unwrap()))
        .collect();
    assert_eq!(
        requires, reported,
        "[{label}] METADATA Requires-Dist and --json requirements differ"
    );
    for expected in case.expect_requirements {
        assert!(
            requires.contains(&squash(expected)),
            "[{label}] no Requires-Dist `{expected}` in METADATA:\n{metadata}"
        );
    }
    for gone in case.expect_gone {
        assert!(
            !requires.contains(&squash(gone)),
            "[{label}] Requires-Dist `{gone}` should be gone:\n{metadata}"
        );
    }

    // wheelwright's own check, then `wheel unpack`, which checks every RECORD hash too.
    verify(label, &original);
    verify(label, &rewritten);
    let tree = wheel_unpack(label, &rewritten, &scratch.path().join("unpacked"));
    assert_eq!(
        file_name(&tree).to_lowercase(),
        format!("{normalized}-{local_version}"),
        "[{label}] the unpacked tree is named after the new version"
    );

    // pip: the wheel alone and offline, then again from PyPI for its requirements as rewritten.
    let python = pip_venv(label, &scratch.path().join("pip-venv"));
    run_ok(
        label,
        "pip install --no-index --no-deps",
        command(&python)
            .args(["-m", "pip", "install", "--no-index", "--no-deps"])
            .arg(&rewritten),
    );
    assert_eq!(
        pip_show_version(label, &python, case.name),
        local_version,
        "[{label}] pip show"
    );
    run_ok(
        label,
        "pip install (requirements from PyPI)",
        command(&python).args(["-m", "pip", "install"]).arg(&rewritten),
    );
    run_ok(label, "pip check", command(&python).args(["-m", "pip", "check"]));
    python_check(label, "import after pip install", &python, case.import_check);
    assert_eq!(
        pip_show_version(label, &python, case.name),
        local_version,
        "[{label}] pip show"
    );

    // uv: a venv of its own, the wheel and its requirements in one go.
    let python = uv_venv(label, &scratch.path().join("uv-venv"));
    run_ok(
        label,
        "uv pip install",
        command(uv())
            .args(["pip", "install", "--python"])
            .arg(&python)
            .arg(&rewritten),
    );
    python_check(label, "import after uv pip install", &python, case.import_check);
    let version = python_check(
        label,
        "importlib.metadata.version",
        &python,
        &format!(
            "import importlib.metadata as m; print(m.version({:?}))",
            case.name
        ),
    );
    assert_eq!(
        version.trim(),
        local_version,
        "[{label}] importlib.metadata.version after uv"
    );
}

#[test]
#[ignore = "needs PyPI; run in CI's slow step with --ignored"]
fn numpy() {
    round_trip(&Case {
        name: "numpy",
        version: "2.2.6",
        edits: &["--add-req", "tqdm>=4"],
        expect_requirements: &["tqdm>=4"],
        expect_gone: &[],
        import_check: "import numpy, tqdm\n\
                       a = numpy.arange(12.0).reshape(3, 4)\n\
                       assert (a @ a.T).trace() == 506.0\n",
    });
}

#[test]
#[ignore = "needs PyPI; run in CI's slow step with --ignored"]
fn scipy() {
    round_trip(&Case {
        name: "scipy",
        version: "1.15.3",
        edits: &["--set-min-numpy", "2.0"],
        expect_requirements: &["numpy>=2.0,<2.5"],
        expect_gone: &["numpy<2.5,>=1.23.5"],
        import_check: "import numpy, scipy, scipy.linalg\n\
                       assert int(numpy.__version__.split('.')[0]) >= 2, numpy.__version__\n\
                       assert abs(scipy.linalg.inv([[4.0]])[0][0] - 0.25) < 1e-12\n",
    });
}

#[test]
#[ignore = "needs PyPI; run in CI's slow step with --ignored"]
fn pillow() {
    round_trip(&Case {
        name: "pillow",
        version: "11.3.0",
        edits: &["--add-req", "tqdm>=4"],
        expect_requirements: &["tqdm>=4"],
        expect_gone: &[],
        import_check: "import io, tqdm\n\
                       from PIL import Image\n\
                       buffer = io.BytesIO()\n\
                       Image.new('RGB', (8, 8), 'red').save(buffer, 'PNG')\n\
                       buffer.seek(0)\n\
                       assert Image.open(buffer).getpixel((0, 0)) == (255, 0, 0)\n",
    });
}

#[test]
#[ignore = "needs PyPI; run in CI's slow step with --ignored"]
fn cryptography() {
    round_trip(&Case {
        name: "cryptography",
        version: "45.0.7",
        edits: &["--update-req", "cffi>=1.15"],
        expect_requirements: &["cffi>=1.15; platform_python_implementation != \"PyPy\""],
        expect_gone: &["cffi>=1.14; platform_python_implementation != \"PyPy\""],
        import_check: "import cffi\n\
                       from cryptography.fernet import Fernet\n\
                       f = Fernet(Fernet.generate_key())\n\
                       assert f.decrypt(f.encrypt(b'wheel')) == b'wheel'\n",
    });
}

#[test]
#[ignore = "needs PyPI; run in CI's slow step with --ignored"]
fn requests() {
    round_trip(&Case {
        name: "requests",
        version: "2.32.3",
        edits: &["--update-req", "urllib3>=2,<3", "--add-req", "tqdm>=4"],
        expect_requirements: &["urllib3>=2,<3", "tqdm>=4"],
        expect_gone: &["urllib3<3,>=1.21.1"],
        import_check: "import requests, urllib3, tqdm\n\
                       assert int(urllib3.__version__.split('.')[0]) >= 2, urllib3.__version__\n\
                       assert requests.Request('GET', 'https://example.org/').prepare().url == 'https://example.org/'\n",
    });
}

// ---------------------------------------------------------------------------------------------
// Tags and --inplace
// ---------------------------------------------------------------------------------------------

#[test]
#[ignore = "needs PyPI; run in CI's slow step with --ignored"]
fn numpy_retagged_linux_x86_64() {
    let label = "numpy 2.2.6 --platform-tag linux_x86_64";
    preflight();
    let original = fetch("numpy", "2.2.6");
    let scratch = scratch("numpy-retag");
    let out = scratch.path().join("out");
    let outcome = manipulate(label, &original, &["--platform-tag", "linux_x86_64"], &out);
    assert_eq!(outcome["status"], "written", "[{label}] {outcome:#}");
    assert_eq!(outcome["new_version"], "2.2.6", "[{label}] {outcome:#}");
    let rewritten = PathBuf::from(outcome["output"].as_str().expect("output is a path"));
    assert_eq!(
        file_name(&rewritten),
        "numpy-2.2.6-cp312-cp312-linux_x86_64.whl",
        "[{label}]"
    );

    let (wheel_name, wheel_file) = read_member_ending(&rewritten, ".dist-info/WHEEL");
    assert_eq!(wheel_name, "numpy-2.2.6.dist-info/WHEEL", "[{label}]");
    let tags: Vec<&str> = wheel_file
        .lines()
        .filter_map(|line| line.strip_prefix("Tag: "))
        .collect();
    assert_eq!(
        tags,
        ["cp312-cp312-linux_x86_64"],
        "[{label}] WHEEL:\n{wheel_file}"
    );
    let (_, original_wheel_file) = read_member_ending(&original, ".dist-info/WHEEL");
    let others = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|line| !line.starts_with("Tag:"))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(
        others(&wheel_file),
        others(&original_wheel_file),
        "[{label}] only the Tag lines of WHEEL change"
    );

    verify(label, &rewritten);
    wheel_unpack(label, &rewritten, &scratch.path().join("unpacked"));
    let python = pip_venv(label, &scratch.path().join("pip-venv"));
    run_ok(
        label,
        "pip install --no-index --no-deps",
        command(&python)
            .args(["-m", "pip", "install", "--no-index", "--no-deps"])
            .arg(&rewritten),
    );
    python_check(
        label,
        "import numpy",
        &python,
        "import numpy; assert numpy.ones(3).sum() == 3.0",
    );
    assert_eq!(
        pip_show_version(label, &python, "numpy"),
        "2.2.6",
        "[{label}] pip show"
    );
    let tags = run_ok(
        label,
        "pip's installed WHEEL",
        command(&python).arg("-c").arg(
            "import importlib.metadata as m\n\
             print(m.distribution('numpy').read_text('WHEEL'))",
        ),
    );
    assert!(
        tags.contains("Tag: cp312-cp312-linux_x86_64"),
        "[{label}] installed WHEEL:\n{tags}"
    );
}

#[test]
#[ignore = "needs PyPI; run in CI's slow step with --ignored"]
fn pillow_inplace() {
    let label = "pillow 11.3.0 --inplace";
    preflight();
    let cached = fetch("pillow", "11.3.0");
    let scratch = scratch("pillow-inplace");
    let directory = scratch.path().join("wheels");
    fs_err::create_dir_all(&directory).unwrap();
    let input = directory.join(file_name(&cached));
    fs_err::copy(&cached, &input).unwrap();

    let stdout = run_ok(
        label,
        "wheelwright manipulate --inplace",
        wheelwright()
            .args([
                "manipulate",
                "--inplace",
                "--json",
                "--insert-local-version",
                "--strip-nvidia",
            ])
            .arg(&input),
    );
    let outcomes: Value = serde_json::from_str(&stdout).unwrap();
    let outcome = &outcomes[0];
    assert_eq!(outcome["status"], "written", "[{label}] {outcome:#}");
    let expected = file_name(&input).replacen("-11.3.0-", "-11.3.0+computecanada-", 1);
    assert_eq!(
        outcome["new_filename"],
        expected.as_str(),
        "[{label}] {outcome:#}"
    );

    let mut listing: Vec<String> = fs_err::read_dir(&directory)
        .unwrap()
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    listing.sort();
    assert_eq!(
        listing,
        [expected.as_str()],
        "[{label}] the input goes, the rewrite takes its place"
    );
    let rewritten = directory.join(&expected);
    assert_eq!(
        PathBuf::from(outcome["output"].as_str().unwrap()),
        rewritten,
        "[{label}]"
    );
    assert!(cached.is_file(), "[{label}] the cached original is untouched");
    verify(label, &rewritten);
    wheel_unpack(label, &rewritten, &scratch.path().join("unpacked"));
}

/// `wheelwright verify` accepts every real wheel as downloaded (no false alarms).
#[test]
#[ignore = "needs PyPI; run in CI's slow step with --ignored"]
fn downloaded_wheels_verify() {
    for (name, version) in [
        ("numpy", "2.2.6"),
        ("scipy", "1.15.3"),
        ("pillow", "11.3.0"),
        ("cryptography", "45.0.7"),
        ("requests", "2.32.3"),
    ] {
        let wheel = fetch(name, version);
        verify(&format!("{name} {version}"), &wheel);
    }
}
