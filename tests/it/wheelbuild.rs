//! `wheelbuild` through the binary. The fast tests need nothing; the ignored ones build real
//! packages (fixtures and biopython from PyPI) with gcc, pip and uv, in CI's slow step.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{run, wheelwright};

fn wheelbuild() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_wheelbuild"));
    command.env_remove("WHEELWRIGHT_LAYOUT").env_remove("RUST_LOG");
    command
}

pub(crate) fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

#[test]
fn dry_run_prints_the_matrix() {
    let empty = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = run(wheelbuild().current_dir(empty.path()).args([
        "--package",
        "biopython",
        "--version",
        "1.85",
        "--arch",
        "generic,x86-64-v3",
        "--python",
        "3.12,3.13",
        "--dry-run",
    ]));
    assert_eq!(code, 0, "{stderr}");
    insta::assert_snapshot!(stdout, @r"
    biopython 1.85 for layer gentoo2023: 4 cells (no recipe: PyPI defaults)
      python 3.12  arch generic     -march=x86-64 -mtune=generic
      python 3.13  arch generic     -march=x86-64 -mtune=generic
      python 3.12  arch x86-64-v3   -march=x86-64-v3
      python 3.13  arch x86-64-v3   -march=x86-64-v3
    pure and abi3 wheels are built once and tested on every cell
    ");
}

#[test]
fn usage_errors_name_the_problem() {
    let (code, _, stderr) = run(wheelbuild().args(["--package", "x", "--arch", "avx2", "--dry-run"]));
    assert_eq!(code, 1);
    assert!(
        stderr.contains(
            "--arch avx2: layer gentoo2023 has no such arch (it has: generic, x86-64-v3, x86-64-v4)"
        ),
        "{stderr}"
    );
    let (code, _, stderr) =
        run(wheelbuild().args(["--package", "x", "--python", "3.200", "--version", "1.0"]));
    assert_eq!(code, 1);
    assert!(stderr.contains("no Python 3.200 interpreter found"), "{stderr}");
    let (code, _, stderr) = run(wheelbuild().args(["--package", "x", "--python", "three"]));
    assert_eq!(code, 1);
    assert!(stderr.contains("--python"), "{stderr}");
    let (code, _, stderr) =
        run(wheelbuild().args(["--package", "x", "--recipes", "/nonexistent", "--dry-run"]));
    assert_eq!(code, 1);
    assert!(
        stderr.contains("--recipes /nonexistent: no such directory"),
        "{stderr}"
    );
}

/// A `.tar.gz` sdist of a fixture directory, made with the system tar.
pub(crate) fn sdist(fixture: &str, version: &str, into: &Path) -> PathBuf {
    let stage = into.join(format!("{fixture}-{version}"));
    let status = Command::new("cp")
        .arg("-r")
        .arg(fixtures().join(fixture))
        .arg(&stage)
        .status()
        .unwrap();
    assert!(status.success());
    let archive = into.join(format!("{fixture}-{version}.tar.gz"));
    let status = Command::new("tar")
        .arg("czf")
        .arg(&archive)
        .arg("-C")
        .arg(into)
        .arg(format!("{fixture}-{version}"))
        .status()
        .unwrap();
    assert!(status.success());
    archive
}

/// Writes a recipe for a fixture sdist at a file:// URL.
pub(crate) fn recipe(recipes: &Path, package: &str, archive: &Path, extra: &str) {
    std::fs::create_dir_all(recipes).unwrap();
    let text = format!(
        "package: {package}\nsource:\n  url: file://{}\n{extra}",
        archive.display()
    );
    std::fs::write(recipes.join(format!("{package}.yaml")), text).unwrap();
}

pub(crate) fn require_tools() {
    assert!(
        crate::common::uv().is_some(),
        "uv is not on PATH: run `source ci/install-test-tools.sh` first (CI's slow step does)"
    );
}

fn build(directory: &Path, args: &[&str]) -> (i32, String, String) {
    run(crate::common::in_build_directories(
        wheelbuild().current_dir(directory).args(args),
        directory,
    ))
}

fn has_avx512() -> bool {
    std::fs::read_to_string("/proc/cpuinfo")
        .is_ok_and(|text| text.contains(" avx512f") && text.contains(" avx512bw"))
}

#[test]
#[ignore = "builds with gcc, pip and uv (PyPI for setuptools): CI's slow step"]
fn arch_builds_get_the_arch_flags() {
    require_tools();
    let directory = tempfile::tempdir().unwrap();
    let archive = sdist("cpulevel", "0.1.0", directory.path());
    // The smoke test asserts the level the C code was compiled for, through the template.
    recipe(
        &directory.path().join("recipes"),
        "cpulevel",
        &archive,
        "import_names: [cpulevel]\ntest: \"assert cpulevel.level() == '{{ march }}', cpulevel.level()\"\nrpath: [/opt/site/lib]\n",
    );
    let mut archs = vec!["generic", "x86-64-v3"];
    if has_avx512() {
        archs.push("x86-64-v4");
    } else {
        eprintln!("this CPU has no AVX-512: the x86-64-v4 build is not run");
    }
    let arch_list = archs.join(",");
    let (code, stdout, stderr) = build(
        directory.path(),
        &[
            "--package",
            "cpulevel",
            "--python",
            "3.12",
            "--arch",
            &arch_list,
            "--json",
            "--autocopy",
        ],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let cells = report["cells"].as_array().unwrap();
    assert_eq!(cells.len(), archs.len());
    for (cell, arch) in cells.iter().zip(&archs) {
        assert_eq!(cell["arch"], *arch);
        assert_eq!(cell["test"], "passed", "{cell}");
        assert!(
            cell["same_as"].is_null(),
            "compiled wheels are built per arch: {cell}"
        );
    }
    // The same file name for each arch: staged in a directory per arch, then placed by
    // --autocopy in the tree (the embedded layout's root, relative to the current directory):
    // the baseline build next to the arch builds, as their fallback.
    let name = "cpulevel-0.1.0+computecanada-cp312-cp312-linux_x86_64.whl";
    let out = directory.path().join("out");
    let tree = directory.path().join("wheelhouse/gentoo2023");
    for arch in &archs {
        let staged = if *arch == "generic" {
            out.join(name)
        } else {
            out.join(arch).join(name)
        };
        assert!(staged.exists(), "{}", staged.display());
        assert_eq!(
            std::fs::read(tree.join(arch).join(name)).unwrap(),
            std::fs::read(&staged).unwrap(),
            "{arch}"
        );
    }
    let copied: Vec<&str> = report["autocopy"]["wheels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|wheel| wheel["action"].as_str().unwrap())
        .collect();
    assert_eq!(copied, vec!["place"; archs.len()]);
    // inspect agrees that the v3 build is arch-specific (the build record names the arch).
    let v3 = cells[1]["wheel"].as_str().unwrap();
    let (code, stdout, _) = run(wheelwright().args(["inspect", "--json", v3]));
    assert_eq!(code, 0);
    let inspected: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(inspected[0]["arch"]["name"], "x86-64-v3");
    // The recipe's rpath reached the linker.
    let module = &inspected[0]["elf_files"][0];
    let search: Vec<&str> = module["rpath"]
        .as_array()
        .unwrap()
        .iter()
        .chain(module["runpath"].as_array().unwrap())
        .filter_map(|entry| entry.as_str())
        .collect();
    assert!(search.contains(&"/opt/site/lib"), "{module}");
}

#[test]
#[ignore = "builds with pip and uv (PyPI for setuptools): CI's slow step"]
fn a_pure_package_builds_once() {
    require_tools();
    let directory = tempfile::tempdir().unwrap();
    let archive = sdist("purepkg", "0.1.0", directory.path());
    recipe(
        &directory.path().join("recipes"),
        "purepkg",
        &archive,
        "test: \"assert purepkg.ANSWER == 42\"\n",
    );
    let (code, stdout, stderr) = build(
        directory.path(),
        &["--package", "purepkg", "--python", "3.12,3.13", "--json"],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let cells = report["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 2);
    assert!(cells[0]["same_as"].is_null());
    assert_eq!(cells[1]["same_as"], "3.12 generic");
    assert_eq!(cells[1]["test"], "passed");
    let wheels: Vec<String> = crate::common::listing(&directory.path().join("out"))
        .into_iter()
        .filter(|name| name.ends_with(".whl"))
        .collect();
    assert_eq!(wheels, ["purepkg-0.1.0+computecanada-py3-none-any.whl"]);
    // The record beside the wheel is as readable as the wheel (not a temporary file's 0600).
    use std::os::unix::fs::PermissionsExt as _;
    let wheel = directory.path().join("out").join(&wheels[0]);
    let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o7777;
    let record = directory.path().join("out").join(format!("{}.json", wheels[0]));
    assert_eq!(mode(&record), mode(&wheel), "{}", record.display());
}

#[test]
#[ignore = "builds with gcc, pip and uv (PyPI for setuptools): CI's slow step"]
fn a_failing_build_says_why() {
    require_tools();
    let directory = tempfile::tempdir().unwrap();
    let archive = sdist("brokenbuild", "0.1.0", directory.path());
    recipe(&directory.path().join("recipes"), "brokenbuild", &archive, "");
    let (code, stdout, stderr) = build(
        directory.path(),
        &["--package", "brokenbuild", "--python", "3.12"],
    );
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    // The first line says why: the compiler's first error, then where the log is.
    assert!(
        stdout.contains(
            "pip wheel failed (exit status 1): brokenbuild.c:2:10: fatal error: wheelwright_missing_header.h: No such file or directory; log: "
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("wheelwright_missing_header.h: No such file or directory"),
        "the log tail: {stdout}"
    );
    assert!(
        stdout.contains("hint: the header `wheelwright_missing_header.h` is missing"),
        "{stdout}"
    );
}

#[test]
#[ignore = "builds with pip and uv (PyPI for setuptools): CI's slow step"]
fn a_failing_import_shows_the_traceback() {
    require_tools();
    let directory = tempfile::tempdir().unwrap();
    let archive = sdist("importfails", "0.1.0", directory.path());
    recipe(&directory.path().join("recipes"), "importfails", &archive, "");
    let (code, stdout, stderr) = build(
        directory.path(),
        &["--package", "importfails", "--python", "3.12"],
    );
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(
        stdout
            .contains("1 of 1 imports failed: `importfails`: ImportError: importfails is broken on purpose"),
        "{stdout}"
    );
}

#[test]
#[ignore = "builds with gcc, pip and uv (PyPI for setuptools): CI's slow step"]
fn an_extension_that_cannot_load_fails_the_build() {
    require_tools();
    let directory = tempfile::tempdir().unwrap();
    let archive = sdist("badext", "0.1.0", directory.path());
    // top_level.txt says `badext`, which imports fine: the old test passed this wheel.
    recipe(&directory.path().join("recipes"), "badext", &archive, "");
    let (code, stdout, stderr) = build(
        directory.path(),
        &["--package", "badext", "--python", "3.12", "--json"],
    );
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let cell = &report["cells"][0];
    assert_eq!(cell["test"], "failed", "{cell}");
    let error = cell["error"].as_str().unwrap();
    assert!(
        error.starts_with("1 of 3 imports failed: `badext._broken`: ImportError: ")
            && error.contains("undefined symbol: wheelwright_missing_function"),
        "{error}"
    );
    let imported: Vec<String> = cell["smoke_test"]["imported"]
        .as_array()
        .unwrap()
        .iter()
        .map(|result| {
            format!(
                "{} {} {}",
                result["kind"].as_str().unwrap(),
                result["name"].as_str().unwrap(),
                result["ok"]
            )
        })
        .collect();
    assert_eq!(
        imported,
        [
            "package badext true",
            "extension badext._broken false",
            "extension badext._fine true",
        ]
    );

    // Exempted with a reason, the build passes and says so.
    recipe(
        &directory.path().join("recipes"),
        "badext",
        &archive,
        "skip_imports: [{module: badext._broken, reason: needs a library the build machine lacks}]\n",
    );
    let (code, stdout, stderr) = build(
        directory.path(),
        &["--package", "badext", "--python", "3.12", "--json"],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let smoke = &report["cells"][0]["smoke_test"];
    assert_eq!(smoke["passed"], true);
    assert_eq!(smoke["exempted"][0]["module"], "badext._broken");
    assert_eq!(
        smoke["exempted"][0]["reason"],
        "needs a library the build machine lacks"
    );
    assert_eq!(smoke["imported"].as_array().unwrap().len(), 2);
}

#[test]
#[ignore = "builds with pip and uv (PyPI for setuptools): CI's slow step"]
fn the_shells_pip_and_python_settings_do_not_reach_the_test() {
    require_tools();
    let directory = tempfile::tempdir().unwrap();
    let recipes = directory.path().join("recipes");
    recipe(
        &recipes,
        "purepkg",
        &sdist("purepkg", "0.1.0", directory.path()),
        "",
    );
    recipe(
        &recipes,
        "depuser",
        &sdist("depuser", "0.2.0", directory.path()),
        "test: \"assert depuser.ANSWER == 42\"\n",
    );
    let (code, stdout, stderr) = build(directory.path(), &["--package", "purepkg", "--python", "3.12"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");

    // A newer purepkg that breaks on import, where the shell's find-links point, and a
    // depuser on the shell's PYTHONPATH that breaks too.
    let bad = directory.path().join("bad-wheels");
    std::fs::create_dir_all(&bad).unwrap();
    let mut spec = crate::common::WheelSpec::new("purepkg", "9.0");
    spec.metadata = "Metadata-Version: 2.1\nName: purepkg\nVersion: 9.0\n".to_string();
    spec.files = vec![(
        "purepkg/__init__.py".to_string(),
        b"raise ImportError('the shell reached the test')\n".to_vec(),
    )];
    spec.write(&bad);
    let shadow = directory.path().join("pythonpath/depuser");
    std::fs::create_dir_all(&shadow).unwrap();
    std::fs::write(
        shadow.join("__init__.py"),
        "raise ImportError('PYTHONPATH reached the test')\n",
    )
    .unwrap();

    let (code, stdout, stderr) = run(wheelbuild()
        .current_dir(directory.path())
        .env("PIP_FIND_LINKS", &bad)
        .env("UV_FIND_LINKS", &bad)
        .env("PYTHONPATH", directory.path().join("pythonpath"))
        .args(["--package", "depuser", "--python", "3.12", "--json", "--output"])
        .arg(directory.path().join("out"))
        .arg("--work-dir")
        .arg(directory.path().join("work"))
        .arg("--cache-dir")
        .arg(directory.path().join("cache"))
        .arg("--recipes")
        .arg(&recipes));
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let smoke = &report["cells"][0]["smoke_test"];
    assert_eq!(smoke["passed"], true, "{smoke}");
    let purepkg = smoke["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|dependency| dependency["name"] == "purepkg")
        .unwrap();
    assert_eq!(purepkg["version"], "0.1.0+computecanada", "{purepkg}");
    assert_eq!(purepkg["origin"], "find-links", "{purepkg}");
    assert!(
        purepkg["file"]
            .as_str()
            .unwrap()
            .ends_with("out/purepkg-0.1.0+computecanada-py3-none-any.whl"),
        "{purepkg}"
    );
    assert_eq!(smoke["test_snippet"]["ok"], true, "{smoke}");
}

#[test]
#[ignore = "builds with pip and uv (PyPI for setuptools): CI's slow step"]
fn recursive_builds_missing_dependencies_first() {
    require_tools();
    let directory = tempfile::tempdir().unwrap();
    let recipes = directory.path().join("recipes");
    let dependency = sdist("purepkg", "0.1.0", directory.path());
    recipe(&recipes, "purepkg", &dependency, "");
    let user = sdist("depuser", "0.2.0", directory.path());
    recipe(
        &recipes,
        "depuser",
        &user,
        "test: \"assert depuser.ANSWER == 42\"\n",
    );

    // Without --recursive the smoke test, which sees no index, cannot find purepkg.
    let (code, stdout, _) = build(directory.path(), &["--package", "depuser", "--python", "3.12"]);
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("purepkg"), "{stdout}");

    let (code, stdout, stderr) = build(
        directory.path(),
        &[
            "--package",
            "depuser",
            "--python",
            "3.12",
            "--recursive",
            "--json",
        ],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["dependencies"][0]["package"], "purepkg");
    assert_eq!(report["cells"][0]["test"], "passed");
    assert!(
        directory
            .path()
            .join("out/purepkg-0.1.0+computecanada-py3-none-any.whl")
            .exists()
    );
    assert!(
        directory
            .path()
            .join("out/depuser-0.2.0+computecanada-py3-none-any.whl")
            .exists()
    );
}

#[test]
#[ignore = "downloads biopython 1.85 from PyPI and builds it for 3 Pythons: CI's slow step"]
fn the_card_command_builds_biopython_for_three_pythons() {
    require_tools();
    // The product card's command as written, from an empty directory, with the recipes named
    // by $WHEELWRIGHT_RECIPES: the wheels land in the current directory, numpy (needed by the
    // smoke test, absent from the empty local wheelhouse) comes from PyPI with a notice.
    let directory = tempfile::tempdir().unwrap();
    let recipes = Path::new(env!("CARGO_MANIFEST_DIR")).join("recipes");
    let (code, stdout, stderr) = run(wheelbuild()
        .current_dir(directory.path())
        .env("WHEELWRIGHT_RECIPES", &recipes)
        .args(["--package", "biopython", "--version", "1.85"]));
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stderr.contains(&format!("recipe: {}", recipes.join("biopython.yaml").display())),
        "{stderr}"
    );
    for python in ["311", "312", "313"] {
        let wheel = directory.path().join(format!(
            "biopython-1.85+computecanada-cp{python}-cp{python}-linux_x86_64.whl"
        ));
        assert!(wheel.exists(), "{} missing; {stdout}", wheel.display());
        let (code, verified, _) = run(wheelwright().arg("verify").arg(&wheel));
        assert_eq!(code, 0, "{verified}");
    }
    let passed_rows = stdout
        .lines()
        .filter(|line| line.contains(".whl") && line.contains(" passed "))
        .count();
    assert_eq!(passed_rows, 3, "{stdout}");
    // The smoke test loaded biopython's compiled code, and said where numpy came from.
    assert!(stdout.contains("compiled extension modules"), "{stdout}");
    assert!(stdout.contains("from PyPI: numpy"), "{stdout}");
    assert!(stdout.contains("cp-wheels --wheel"), "{stdout}");
}

/// Runs git in `directory`, failing the test on error.
fn git(directory: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .current_dir(directory)
        .args(args)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.org")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.org")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

#[test]
#[ignore = "builds with pip and uv (PyPI for setuptools): CI's slow step"]
fn patches_and_git_sources_are_applied() {
    require_tools();
    let directory = tempfile::tempdir().unwrap();
    let recipes = directory.path().join("recipes");
    // A patch (applied with `patch -p1`, found on PATH) changes the answer the test checks.
    let archive = sdist("purepkg", "0.1.0", directory.path());
    std::fs::create_dir_all(recipes.join("patches")).unwrap();
    std::fs::write(
        recipes.join("patches/answer.patch"),
        "--- a/purepkg/__init__.py\n+++ b/purepkg/__init__.py\n@@ -1 +1 @@\n-ANSWER = 42\n+ANSWER = 43\n",
    )
    .unwrap();
    recipe(
        &recipes,
        "purepkg",
        &archive,
        "patches: [answer.patch]\ntest: \"assert purepkg.ANSWER == 43, purepkg.ANSWER\"\n",
    );
    let (code, stdout, stderr) = build(
        directory.path(),
        &["--package", "purepkg", "--version", "0.1.0", "--python", "3.12"],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains(" passed "), "{stdout}");

    // A git source: a local repository at a pinned commit (git found on PATH).
    let repository = directory.path().join("repository");
    let status = Command::new("cp")
        .arg("-r")
        .arg(fixtures().join("depuser"))
        .arg(&repository)
        .status()
        .unwrap();
    assert!(status.success());
    git(&repository, &["init", "--quiet"]);
    git(&repository, &["add", "."]);
    git(&repository, &["commit", "--quiet", "-m", "fixture"]);
    let commit = git(&repository, &["rev-parse", "HEAD"]);
    std::fs::write(
        recipes.join("depuser.yaml"),
        format!(
            "package: depuser\nsource:\n  git: file://{}\n  rev: {commit}\ntest: \"assert depuser.ANSWER == 43\"\n",
            repository.display()
        ),
    )
    .unwrap();
    // purepkg (staged above, patched) is what depuser needs at run time.
    let (code, stdout, stderr) = build(
        directory.path(),
        &[
            "--package",
            "depuser",
            "--version",
            "0.2.0",
            "--python",
            "3.12",
            "--no-pypi",
        ],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        directory
            .path()
            .join("out/depuser-0.2.0+computecanada-py3-none-any.whl")
            .exists(),
        "{stdout}"
    );
}

#[test]
#[ignore = "builds with pip and uv (PyPI for setuptools): CI's slow step"]
fn a_wheel_that_fails_its_test_is_not_staged() {
    require_tools();
    let directory = tempfile::tempdir().unwrap();
    let archive = sdist("importfails", "0.1.0", directory.path());
    recipe(&directory.path().join("recipes"), "importfails", &archive, "");
    let (code, stdout, stderr) = build(
        directory.path(),
        &["--package", "importfails", "--python", "3.12", "--json"],
    );
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    let out = directory.path().join("out");
    let name = "importfails-0.1.0+computecanada-py3-none-any.whl";
    assert!(
        !crate::common::listing(&out)
            .iter()
            .any(|file| file.ends_with(".whl")),
        "a wheel that failed its test reached the output: {:?}",
        crate::common::listing(&out)
    );
    let failed = out.join("failed");
    assert!(
        failed.join(name).exists(),
        "{:?}",
        crate::common::listing(&failed)
    );
    assert!(
        crate::common::listing(&failed)
            .iter()
            .any(|file| file.starts_with(name) && file.ends_with(".log")),
        "{:?}",
        crate::common::listing(&failed)
    );
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(failed.join(format!("{name}.json"))).unwrap()).unwrap();
    assert_eq!(record["test"]["status"], "failed", "{record}");
    assert!(
        record["test"]["error"]
            .as_str()
            .unwrap()
            .contains("importfails is broken on purpose"),
        "{record}"
    );
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["cells"][0]["test"], "failed");
    // cp-wheels, asked to place it anyway, refuses it and says why.
    let (code, stdout, stderr) = run(Command::new(env!("CARGO_BIN_EXE_cp-wheels"))
        .current_dir(directory.path())
        .env_remove("WHEELWRIGHT_LAYOUT")
        .arg("--wheel")
        .arg(failed.join(name)));
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(
        format!("{stdout}{stderr}").contains("smoke test failed"),
        "{stdout}\n{stderr}"
    );
    assert!(!directory.path().join("wheelhouse/generic").join(name).exists());
}

#[test]
#[ignore = "builds with pip and uv (PyPI for setuptools): CI's slow step"]
fn recipes_come_from_the_environment_and_relative_paths_hold() {
    require_tools();
    let directory = tempfile::tempdir().unwrap();
    let recipes = directory.path().join("site-recipes");
    let archive = sdist("purepkg", "0.1.0", directory.path());
    recipe(
        &recipes,
        "purepkg",
        &archive,
        "test: \"assert purepkg.ANSWER == 42\"\n",
    );
    let empty = directory.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let shell_links = directory.path().join("shell-links");
    std::fs::create_dir(&shell_links).unwrap();
    // From an empty directory, with the recipes named only by $WHEELWRIGHT_RECIPES, relative
    // --output and --work-dir, and a shell PIP_FIND_LINKS that must not reach the test.
    let (code, stdout, stderr) = run(wheelbuild()
        .current_dir(&empty)
        .env("WHEELWRIGHT_RECIPES", &recipes)
        .env("PIP_FIND_LINKS", &shell_links)
        .env("UV_FIND_LINKS", &shell_links)
        .args([
            "--package",
            "purepkg",
            "--version",
            "0.1.0",
            "--python",
            "3.12",
            "--output",
            "staged",
            "--work-dir",
            "work",
            "--cache-dir",
            "cache",
        ]));
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stderr.contains(&format!("recipe: {}", recipes.join("purepkg.yaml").display())),
        "{stderr}"
    );
    assert!(
        empty
            .join("staged/purepkg-0.1.0+computecanada-py3-none-any.whl")
            .exists(),
        "{stdout}"
    );
    assert!(empty.join("work").is_dir());
    // Without the variable, and no ./recipes: the defaults, and the run says so.
    let (code, stdout, stderr) = run(wheelbuild()
        .current_dir(&empty)
        .env_remove("WHEELWRIGHT_RECIPES")
        .args(["--package", "purepkg", "--python", "3.12", "--dry-run"]));
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("(no recipe: PyPI defaults)"), "{stdout}");
}

#[test]
#[ignore = "builds with pip and uv, downloads from PyPI: CI's slow step"]
fn test_dependencies_come_from_the_wheelhouse_before_pypi() {
    require_tools();
    let directory = tempfile::tempdir().unwrap();
    let recipes = directory.path().join("recipes");
    recipe(
        &recipes,
        "purepkg",
        &sdist("purepkg", "0.1.0", directory.path()),
        "test_dependencies: [six, packaging]\ntest: \"import six, packaging; assert six.__version__ == '1.16.0', six.__version__\"\n",
    );
    // The staging directory (part of what the test installs from) holds an older six than
    // PyPI's; packaging is in none of the directories.
    let out = directory.path().join("out");
    let python = crate::common::pyenv_python312();
    let (code, stdout, stderr) = run(Command::new(&python)
        .args([
            "-m",
            "pip",
            "download",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
        ])
        .args(["--only-binary", ":all:", "six==1.16.0", "-d"])
        .arg(&out));
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let (code, stdout, stderr) = build(
        directory.path(),
        &["--package", "purepkg", "--python", "3.12", "--json"],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let dependencies = report["cells"][0]["smoke_test"]["dependencies"]
        .as_array()
        .unwrap();
    let find = |name: &str| {
        dependencies
            .iter()
            .find(|dependency| dependency["name"] == name)
            .unwrap_or_else(|| panic!("{name}: {dependencies:?}"))
    };
    assert_eq!(find("six")["version"], "1.16.0", "{dependencies:?}");
    assert_eq!(find("six")["origin"], "find-links", "{dependencies:?}");
    assert_eq!(find("packaging")["origin"], "pypi", "{dependencies:?}");
}

#[test]
#[ignore = "builds with pip and uv (PyPI for setuptools): CI's slow step"]
fn cells_written_to_files_are_built_alone_by_another_process() {
    require_tools();
    let directory = tempfile::tempdir().unwrap();
    let archive = sdist("purepkg", "0.1.0", directory.path());
    recipe(
        &directory.path().join("recipes"),
        "purepkg",
        &archive,
        "test: \"assert purepkg.ANSWER == 42\"\n",
    );
    let cells = directory.path().join("cells");
    let (code, stdout, stderr) = build(
        directory.path(),
        &[
            "--package",
            "purepkg",
            "--python",
            "3.12,3.13",
            "--write-cells",
            cells.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let files: Vec<String> = crate::common::listing(&cells);
    assert_eq!(files, ["py3.12-generic.json", "py3.13-generic.json"]);
    // Writing the cells built nothing.
    assert!(
        !directory
            .path()
            .join("out")
            .join("purepkg-0.1.0+computecanada-py3-none-any.whl")
            .exists()
    );
    let cell: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(cells.join("py3.13-generic.json")).unwrap()).unwrap();
    assert_eq!(cell["version"], "0.1.0");
    assert_eq!(cell["recipe"]["test_snippet"], "assert purepkg.ANSWER == 42");
    assert!(cell["source"]["sha256"].as_str().unwrap().len() == 64, "{cell}");

    // One cell, run by itself from a different directory: built, tested, staged, outcome kept.
    let (code, stdout, stderr) = run(wheelbuild()
        .current_dir(std::env::temp_dir())
        .arg("--cell")
        .arg(cells.join("py3.13-generic.json"))
        .arg("--json"));
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let outcome: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(outcome["python"], "3.13");
    assert_eq!(outcome["test"], "passed", "{stdout}");
    let staged = directory
        .path()
        .join("out/purepkg-0.1.0+computecanada-py3-none-any.whl");
    assert!(staged.exists(), "{stdout}");
    assert!(
        directory
            .path()
            .join("out/purepkg-0.1.0+computecanada-py3-none-any.whl.json")
            .exists()
    );
    let kept: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(directory.path().join("work/py3.13-generic/outcome.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(kept["test"], "passed");

    // A cell file that is not one, and a layout that differs from the planned one, are errors.
    std::fs::write(cells.join("broken.json"), "{\"package\": \"purepkg\"}").unwrap();
    let (code, _, stderr) = run(wheelbuild().arg("--cell").arg(cells.join("broken.json")));
    assert_eq!(code, 1);
    assert!(stderr.contains("broken.json: missing field"), "{stderr}");
    let layout = directory.path().join("layout.toml");
    std::fs::write(&layout, wheelwright::layout::EMBEDDED_LAYOUT).unwrap();
    let (code, _, stderr) = run(wheelbuild()
        .env("WHEELWRIGHT_LAYOUT", &layout)
        .arg("--cell")
        .arg(cells.join("py3.12-generic.json")));
    assert_eq!(code, 1);
    assert!(stderr.contains("it was planned with the layout"), "{stderr}");
}

#[test]
fn every_run_names_its_recipe_on_stderr() {
    let directory = tempfile::tempdir().unwrap();
    let archive = sdist("purepkg", "0.1.0", directory.path());
    let recipes = directory.path().join("site-recipes");
    recipe(&recipes, "purepkg", &archive, "");
    let named = format!(
        "wheelbuild: recipe: {} (recipes from --recipes or $WHEELWRIGHT_RECIPES)",
        recipes.join("purepkg.yaml").display()
    );
    let with_recipes = |args: &[&str]| {
        run(wheelbuild()
            .current_dir(directory.path())
            .env_remove("WHEELWRIGHT_RECIPES")
            .arg("--recipes")
            .arg(&recipes)
            .args(args))
    };
    // A dry run names it too (its stdout stays the matrix).
    let (code, stdout, stderr) = with_recipes(&["--package", "purepkg", "--version", "0.1.0", "--dry-run"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains(&named), "{stderr}");
    assert!(stdout.contains("(recipe found)"), "{stdout}");
    // A package the directory has no recipe for: the run says where it looked.
    let (code, _, stderr) = with_recipes(&["--package", "six", "--version", "1.17.0", "--dry-run"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "wheelbuild: no recipe for six in {} (from --recipes or $WHEELWRIGHT_RECIPES): building with the defaults",
            recipes.display()
        )),
        "{stderr}"
    );
    // -q: only errors.
    let (code, _, stderr) = with_recipes(&["-q", "--package", "purepkg", "--version", "0.1.0", "--dry-run"]);
    assert_eq!(code, 0);
    assert!(stderr.is_empty(), "{stderr}");

    // Cells written with --write-cells name the recipe they were planned with when run.
    if crate::common::python(12).is_none() {
        eprintln!("no CPython 3.12: the --cell part is left out");
        return;
    }
    let cells = directory.path().join("cells");
    let (code, stdout, stderr) = with_recipes(&[
        "--package",
        "purepkg",
        "--version",
        "0.1.0",
        "--python",
        "3.12",
        "--write-cells",
        "cells",
        "--work-dir",
        "work",
        "--cache-dir",
        "cache",
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let cell = cells.join("py3.12-generic.json");
    assert!(cell.is_file(), "{stdout}");
    // Run under another layout, the cell is refused before building: after naming its recipe.
    let other_layout = directory.path().join("layout.toml");
    std::fs::write(&other_layout, include_str!("../../wheelhouse-layout.toml")).unwrap();
    let (code, _, stderr) = run(wheelbuild()
        .arg("--layout")
        .arg(&other_layout)
        .arg("--cell")
        .arg(&cell));
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "wheelbuild: recipe: {} (as planned in {})",
            recipes.join("purepkg.yaml").display(),
            cell.display()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("it was planned with the layout"), "{stderr}");
}
