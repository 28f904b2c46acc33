//! `cp-wheels` on temporary wheelhouses: placement by classification, every refusal with its
//! message, dry runs, no-ops, --force, modes, the publish hooks, SIGKILL at many points of a
//! large copy, and several writers at once.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::common::{WheelSpec, run};
use crate::inspect::{binary_wheel_version, fixture};

const LABEL: &str = "+computecanada";

/// The `cp-wheels` binary under test.
pub(crate) fn cp_wheels() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cp-wheels"));
    command
        .env_remove("WHEELWRIGHT_LAYOUT")
        .env_remove("RUST_LOG")
        .env("WHEELWRIGHT_VERIFIED_CACHE", verified_cache());
    command
}

/// The record of verified wheels the tests use (never the user's own).
fn verified_cache() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("verified-wheels")
}

/// A temporary site: the shipped layout with its root at `<dir>/tree`, and a staging
/// directory. `edit` changes the layout text.
struct Site {
    dir: tempfile::TempDir,
}

impl Site {
    fn new() -> Self {
        Self::with_layout(|text| text)
    }

    fn with_layout(edit: impl FnOnce(String) -> String) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let shipped =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("wheelhouse-layout.toml"))
                .unwrap()
                .replace("root = \"wheelhouse\"", "root = \"tree\"");
        std::fs::write(dir.path().join("layout.toml"), edit(shipped)).unwrap();
        std::fs::create_dir(dir.path().join("stage")).unwrap();
        Site { dir }
    }

    fn layout(&self) -> PathBuf {
        self.dir.path().join("layout.toml")
    }

    fn stage(&self) -> PathBuf {
        self.dir.path().join("stage")
    }

    fn tree(&self) -> PathBuf {
        self.dir.path().join("tree")
    }

    /// Runs cp-wheels in the staging directory with the site's layout.
    fn run(&self, args: &[&str]) -> (i32, String, String) {
        run(cp_wheels()
            .current_dir(self.stage())
            .arg("--layout")
            .arg(self.layout())
            .args(args))
    }

    /// Runs with `--json` and parses the report.
    fn run_json(&self, args: &[&str]) -> (i32, Value) {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let (code, stdout, stderr) = self.run(&all);
        let report =
            serde_json::from_str(&stdout).unwrap_or_else(|error| panic!("{error}: {stdout}\n{stderr}"));
        (code, report)
    }

    /// Every file under the tree, relative, sorted (cp-wheels' own files at the root, the
    /// lock and the unpublished list, left out).
    fn files(&self) -> Vec<String> {
        let mut files: Vec<String> = walkdir::WalkDir::new(self.tree())
            .into_iter()
            .filter_map(Result::ok)
            .filter(|entry| entry.file_type().is_file())
            .map(|entry| {
                entry
                    .path()
                    .strip_prefix(self.tree())
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            })
            .filter(|path| !path.starts_with(".wheelwright."))
            .collect();
        files.sort();
        files
    }

    /// A labelled pure wheel in the staging directory.
    fn pure(&self, name: &str, version: &str) -> PathBuf {
        WheelSpec::new(name, &format!("{version}{LABEL}")).write(&self.stage())
    }

    /// A labelled cp312 wheel whose extension is the compiled fixture `object` (e.g.
    /// `avx512.so` for x86-64-v4 code, `plain.so` for baseline code).
    fn compiled(&self, name: &str, version: &str, object: &str) -> PathBuf {
        let member = format!("{name}/_ext.cpython-312-x86_64-linux-gnu.so");
        binary_wheel_version(
            &self.stage(),
            name,
            &format!("{version}{LABEL}"),
            vec![(member, fixture(object))],
        )
    }
}

fn name_of(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

fn actions(report: &Value) -> Vec<String> {
    report["wheels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|wheel| wheel["action"].as_str().unwrap().to_string())
        .collect()
}

fn reason(report: &Value, index: usize) -> String {
    report["wheels"][index]["reason"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn wheels_go_where_their_code_says_with_the_sites_modes() {
    let site = Site::new();
    let pure = site.pure("purepkg", "1.0");
    let v4 = site.compiled("fastpkg", "2.0", "avx512.so");
    let plain = site.compiled("plainpkg", "3.0", "plain.so");
    let (code, stdout, stderr) = site.run(&[]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(
        site.files(),
        [
            format!("generic/{}", name_of(&plain)),
            format!("generic/{}", name_of(&pure)),
            format!("gentoo2023/x86-64-v4/{}", name_of(&v4)),
        ]
    );
    assert!(stdout.contains("placed"), "{stdout}");
    assert!(stderr.contains("3 placed"), "{stderr}");
    for file in site.files() {
        let mode = std::fs::metadata(site.tree().join(&file))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777;
        assert_eq!(mode, 0o664, "{file}");
        assert_eq!(
            std::fs::read(site.tree().join(&file)).unwrap(),
            std::fs::read(site.stage().join(file.rsplit('/').next().unwrap())).unwrap()
        );
    }
    let mode = std::fs::metadata(site.tree().join("gentoo2023/x86-64-v4"))
        .unwrap()
        .permissions()
        .mode()
        & 0o7777;
    assert_eq!(mode, 0o2775);
    // The sources stay without --remove.
    assert!(pure.exists() && v4.exists());
}

#[test]
fn without_arguments_only_labelled_wheels_are_taken() {
    let site = Site::new();
    let labelled = site.pure("labelled", "1.0");
    let plain = WheelSpec::new("unlabelled", "1.0").write(&site.stage());
    let (code, _, stderr) = site.run(&[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(site.files(), [format!("generic/{}", name_of(&labelled))]);
    assert!(stderr.contains("skipped 1 wheel in"), "{stderr}");
    assert!(
        stderr.contains(": unlabelled-1.0-py3-none-any.whl"),
        "the skipped wheel is named: {stderr}"
    );
    // Named explicitly, the unlabelled wheel is refused with the reason.
    let (code, report) = site.run_json(&["--wheel", plain.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert_eq!(actions(&report), ["refuse"]);
    assert!(
        reason(&report, 0).contains("forget to add the local version identifier"),
        "{report}"
    );
    assert_eq!(site.files().len(), 1);
}

#[test]
fn globs_and_from_directories_collect_wheels() {
    let site = Site::new();
    let other = site.dir.path().join("elsewhere");
    std::fs::create_dir(&other).unwrap();
    WheelSpec::new("alpha", "1.0+computecanada").write(&other);
    WheelSpec::new("beta", "1.0+computecanada").write(&other);
    site.pure("gamma", "1.0");
    let pattern = format!("{}/a*.whl", other.display());
    let (code, report) = site.run_json(&["--dry-run", "--wheel", &pattern]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["wheels"].as_array().unwrap().len(), 1);
    let (code, report) = site.run_json(&["--dry-run", "--from", other.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert_eq!(report["wheels"].as_array().unwrap().len(), 2);
    let (code, _, stderr) = site.run(&["--wheel", "nothing-*.whl"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("`nothing-*.whl` matches no file"), "{stderr}");
}

#[test]
fn dry_run_writes_nothing() {
    let site = Site::new();
    site.pure("purepkg", "1.0");
    site.compiled("fastpkg", "2.0", "avx512.so");
    let (code, stdout, stderr) = site.run(&["--dry-run"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("would place  gentoo2023/x86-64-v4/fastpkg-2.0+computecanada"),
        "{stdout}"
    );
    assert!(stderr.contains("dry run: 2 would place"), "{stderr}");
    assert!(!site.tree().exists(), "a dry run created the tree");
}

#[test]
fn identical_copy_is_a_no_op_different_bytes_need_force() {
    let site = Site::new();
    let wheel = site.pure("purepkg", "1.0");
    assert_eq!(site.run(&[]).0, 0);
    let placed = site.tree().join("generic").join(name_of(&wheel));
    let before = std::fs::metadata(&placed).unwrap().modified().unwrap();
    let (code, report) = site.run_json(&[]);
    assert_eq!(code, 0);
    assert_eq!(actions(&report), ["unchanged"]);
    assert_eq!(std::fs::metadata(&placed).unwrap().modified().unwrap(), before);

    // Another wheel under the same name.
    let mut spec = WheelSpec::new("purepkg", "1.0+computecanada");
    spec.files.push(("purepkg/extra.py".into(), b"x = 1\n".to_vec()));
    spec.write(&site.stage());
    let (code, report) = site.run_json(&[]);
    assert_eq!(code, 1);
    assert_eq!(actions(&report), ["refuse"]);
    assert!(
        reason(&report, 0).contains("a different wheel of that name is already at"),
        "{report}"
    );
    assert!(reason(&report, 0).contains("--force replaces it"));
    assert_ne!(std::fs::read(&placed).unwrap(), std::fs::read(&wheel).unwrap());

    // Run inside the tree with --remove, the wheel is its own source: kept.
    let (code, stdout, stderr) = run(cp_wheels()
        .current_dir(site.tree().join("generic"))
        .arg("--layout")
        .arg(site.layout())
        .args(["--remove", "--json"]));
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("the source is the wheel in the tree: not removed"),
        "{stdout}"
    );
    assert!(placed.exists());

    let (code, report) = site.run_json(&["--force"]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(actions(&report), ["replace"]);
    assert_eq!(std::fs::read(&placed).unwrap(), std::fs::read(&wheel).unwrap());
    assert_eq!(
        std::fs::metadata(&placed).unwrap().permissions().mode() & 0o777,
        0o664
    );
}

#[test]
fn arch_override_is_checked_against_the_layer_and_the_code() {
    let site = Site::new();
    let v4 = site.compiled("fastpkg", "2.0", "avx512.so");
    let v4 = v4.to_str().unwrap();
    let (code, report) = site.run_json(&["--wheel", v4, "--arch", "avx2"]);
    assert_eq!(code, 1);
    assert!(
        reason(&report, 0).contains("the layer `gentoo2023` has no arch `avx2`"),
        "{report}"
    );
    // An arch the layout does not have is refused before any wheel is looked at.
    let (code, stdout, stderr) = site.run(&["--json", "--wheel", v4, "--arch", "pentium"]);
    assert_eq!(code, 1, "{stdout}");
    assert!(stderr.contains("--arch pentium: the layout"), "{stderr}");
    assert!(stderr.contains("has no such arch (it has: "), "{stderr}");
    let (code, report) = site.run_json(&["--wheel", v4, "--arch", "x86-64-v3"]);
    assert_eq!(code, 1);
    assert!(
        reason(&report, 0).contains("below what the wheel's code needs: x86-64-v4"),
        "{report}"
    );
    assert!(site.files().is_empty());
    let (code, report) = site.run_json(&["--wheel", v4, "--arch", "x86-64-v3", "--trust-arch"]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["wheels"][0]["destination"], "gentoo2023/x86-64-v3");
    // A pure wheel may be put in an arch directory; it lands in the default layer.
    let pure = site.pure("purepkg", "1.0");
    let (code, report) = site.run_json(&["--wheel", pure.to_str().unwrap(), "--arch", "x86-64-v4"]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["wheels"][0]["destination"], "gentoo2023/x86-64-v4");
}

#[test]
fn unknown_deprecated_and_impossible_layers_are_refused() {
    let site = Site::new();
    let plain = site.compiled("plainpkg", "1.0", "plain.so");
    let plain = plain.to_str().unwrap();
    // A layer the layout lacks, or one that takes no new wheels, is a usage error: refused
    // before any wheel is looked at, with the layers that would do.
    let (code, stdout, stderr) = site.run(&["--json", "--wheel", plain, "--layer", "gentoo2099"]);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stderr.contains("--layer gentoo2099: the layout") && stderr.contains("has no such layer (it has: "),
        "{stderr}"
    );
    let (code, _, stderr) = site.run(&["--wheel", plain, "--layer", "nix"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("--layer nix: the layer is deprecated and takes no new wheels"),
        "{stderr}"
    );
    assert!(site.files().is_empty());
    let (code, report) = site.run_json(&["--wheel", plain, "--layer", "gentoo2020"]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["wheels"][0]["destination"], "gentoo2020/generic");

    // A wheel needing glibc 2.34 on a site whose layers have 2.30 at most: no layer.
    let old = Site::with_layout(|text| text.replace("glibc = \"2.37\"", "glibc = \"2.30\""));
    let wheel = old.compiled("newglibc", "1.0", "glibc234.so");
    let (code, report) = old.run_json(&["--wheel", wheel.to_str().unwrap()]);
    assert_eq!(code, 1);
    let why = reason(&report, 0);
    assert!(
        why.contains("works on no layer that takes new wheels (unknown layer)"),
        "{why}"
    );
    assert!(why.contains("GLIBC_2.34"), "{why}");
    assert!(old.files().is_empty());
}

#[test]
fn a_generic_copy_is_refused_when_arch_specific_wheels_exist() {
    let site = Site::new();
    site.compiled("fastpkg", "1.0", "avx512.so");
    assert_eq!(site.run(&[]).0, 0);
    for entry in std::fs::read_dir(site.stage()).unwrap() {
        std::fs::remove_file(entry.unwrap().path()).unwrap();
    }
    let pure = site.pure("fastpkg", "2.0");
    let (code, report) = site.run_json(&[]);
    assert_eq!(code, 1);
    let why = reason(&report, 0);
    assert!(
        why.contains("arch-specific wheels of fastpkg already exist"),
        "{why}"
    );
    assert!(
        why.contains("gentoo2023/x86-64-v4/fastpkg-1.0+computecanada"),
        "{why}"
    );
    assert!(why.contains("use --arch ARCH"), "{why}");
    // With --arch the user has said where it goes.
    let (code, report) = site.run_json(&["--wheel", pure.to_str().unwrap(), "--arch", "x86-64-v3"]);
    assert_eq!(code, 0, "{report}");

    // The baseline build of the same release goes next to its arch builds, as their fallback
    // in the layer's generic directory, whether they are in the tree or in the same run.
    let site = Site::new();
    site.compiled("fastpkg", "1.0", "avx512.so");
    assert_eq!(site.run(&[]).0, 0);
    let baseline = site.dir.path().join("baseline");
    std::fs::create_dir(&baseline).unwrap();
    let member = "fastpkg/_ext.cpython-312-x86_64-linux-gnu.so".to_string();
    let fallback = binary_wheel_version(
        &baseline,
        "fastpkg",
        "1.0+computecanada",
        vec![(member, fixture("plain.so"))],
    );
    let (code, report) = site.run_json(&["--wheel", fallback.to_str().unwrap()]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["wheels"][0]["destination"], "gentoo2023/generic");
    assert!(
        report["wheels"][0]["warnings"]
            .to_string()
            .contains("next to the arch-specific wheels")
    );

    let together = Site::new();
    let v3_dir = together.dir.path().join("v3");
    std::fs::create_dir(&v3_dir).unwrap();
    let generic = together.compiled("duo", "1.0", "plain.so");
    let member = "duo/_ext.cpython-312-x86_64-linux-gnu.so".to_string();
    let fast = binary_wheel_version(
        &v3_dir,
        "duo",
        "1.0+computecanada",
        vec![(member, fixture("avx512.so"))],
    );
    let (code, report) = together.run_json(&[
        "--wheel",
        generic.to_str().unwrap(),
        "--wheel",
        fast.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["wheels"][0]["destination"], "gentoo2023/generic");
    assert_eq!(report["wheels"][1]["destination"], "gentoo2023/x86-64-v4");
    // The same file name in two directories: pip's find-links behaviour is pointed out.
    let warnings = report["wheels"][0]["warnings"].to_string();
    assert!(
        warnings.contains("a wheel of the same name is also in gentoo2023/x86-64-v4/duo-1.0"),
        "{warnings}"
    );
    assert!(warnings.contains("serve pip `wheelwright index`"), "{warnings}");

    // The reverse: an arch-specific wheel of a project with generic wheels is placed, with a
    // warning.
    let site = Site::new();
    site.pure("mixed", "1.0");
    assert_eq!(site.run(&[]).0, 0);
    site.compiled("mixed", "2.0", "avx512.so");
    let (code, report) = site.run_json(&["--wheel", "mixed-2.0*.whl"]);
    assert_eq!(code, 0, "{report}");
    let warnings = report["wheels"][0]["warnings"].to_string();
    assert!(
        warnings.contains("generic wheels of mixed exist too"),
        "{warnings}"
    );
}

#[test]
fn a_broken_wheel_is_refused_and_holds_back_the_others() {
    let site = Site::new();
    let good = site.pure("goodpkg", "1.0");
    let mut bad = WheelSpec::new("badpkg", "1.0+computecanada");
    bad.wrong_hash_for = vec!["badpkg/__init__.py".into()];
    bad.write(&site.stage());
    let (code, report) = site.run_json(&["--remove"]);
    assert_eq!(code, 1);
    assert_eq!(actions(&report), ["refuse", "held"]);
    assert!(reason(&report, 0).contains("fails verification"), "{report}");
    assert!(reason(&report, 0).contains("badpkg/__init__.py"), "{report}");
    assert!(site.files().is_empty());
    assert!(good.exists(), "--remove deleted a wheel that was not placed");
    let (code, report) = site.run_json(&["--keep-going", "--remove"]);
    assert_eq!(code, 1);
    assert_eq!(actions(&report), ["refuse", "place"]);
    assert_eq!(site.files(), [format!("generic/{}", name_of(&good))]);
    assert!(!good.exists(), "--remove kept a placed wheel");
    assert_eq!(report["wheels"][1]["source_removed"], true);
}

#[test]
fn foreign_platforms_and_bad_names_are_refused() {
    let site = Site::new();
    let mut mac = WheelSpec::new("macpkg", "1.0+computecanada");
    mac.tags = "cp312-cp312-macosx_11_0_arm64".into();
    mac.wheel = mac.wheel.replace("py3-none-any", "cp312-cp312-macosx_11_0_arm64");
    let mac = mac.write(&site.stage());
    let (code, report) = site.run_json(&["--wheel", mac.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        reason(&report, 0).contains("`macosx_11_0_arm64` is not for x86_64 Linux"),
        "{report}"
    );
    let junk = site.stage().join("not-a-wheel.whl");
    std::fs::write(&junk, b"junk").unwrap();
    let (code, report) = site.run_json(&["--wheel", junk.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(!reason(&report, 0).is_empty(), "{report}");
}

#[test]
fn stale_temporary_files_are_cleaned_and_never_listed() {
    let site = Site::new();
    std::fs::create_dir_all(site.tree().join("generic")).unwrap();
    let stale = site.tree().join("generic/.wheelwright-abc123.tmp");
    std::fs::write(&stale, b"half a wheel").unwrap();
    site.pure("purepkg", "1.0");
    let (code, report) = site.run_json(&["--dry-run"]);
    assert_eq!(code, 0);
    assert_eq!(report["stale_temps"].as_array().unwrap().len(), 1);
    assert!(stale.exists(), "a dry run removed a file");
    let (code, report) = site.run_json(&[]);
    assert_eq!(code, 0);
    assert_eq!(report["stale_temps"].as_array().unwrap().len(), 1);
    assert!(!stale.exists());
}

#[test]
fn the_publish_hooks_run_once_and_a_failure_is_kept_for_retry() {
    let hooks = |before: &str, after: &str| {
        let before = before.to_string();
        let after = after.to_string();
        move |text: String| {
            text.replace(
                "[publish]\n",
                &format!("[publish]\nbefore = {before:?}\nafter = {after:?}\n"),
            )
        }
    };
    let site = Site::with_layout(hooks(
        "echo opened >> ../hook.log",
        "echo \"{{ count }} {{ files }}\" >> ../hook.log; cat >> ../hook-stdin.log",
    ));
    let first = site.pure("one", "1.0");
    let second = site.pure("two", "1.0");
    let (code, stdout, stderr) = site.run(&[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stderr.contains("published 2 files"), "{stderr}");
    let log = std::fs::read_to_string(site.dir.path().join("hook.log")).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 2, "{log}");
    assert_eq!(lines[0], "opened");
    assert!(lines[1].starts_with("2 "), "{log}");
    assert!(
        lines[1].contains(&name_of(&first)) && lines[1].contains(&name_of(&second)),
        "{log}"
    );
    let stdin = std::fs::read_to_string(site.dir.path().join("hook-stdin.log")).unwrap();
    assert_eq!(stdin.lines().count(), 2);
    // Nothing to place: no hook.
    assert_eq!(site.run(&[]).0, 0);
    assert_eq!(
        std::fs::read_to_string(site.dir.path().join("hook.log")).unwrap(),
        log
    );

    // A failing `after` leaves the files listed; --publish-only retries them.
    let failing = Site::with_layout(hooks("true", "exit 3"));
    let wheel = failing.pure("three", "1.0");
    let (code, _, stderr) = failing.run(&[]);
    assert_eq!(code, 1);
    assert!(stderr.contains("the publish hook failed"), "{stderr}");
    assert!(stderr.contains("exit status 3"), "{stderr}");
    assert_eq!(failing.files(), [format!("generic/{}", name_of(&wheel))]);
    let pending = failing.tree().join(".wheelwright.unpublished");
    assert!(
        std::fs::read_to_string(&pending)
            .unwrap()
            .contains(&name_of(&wheel))
    );
    let text = std::fs::read_to_string(failing.layout()).unwrap();
    std::fs::write(failing.layout(), text.replace("exit 3", "cat > ../published.txt")).unwrap();
    let (code, _, stderr) = failing.run(&["--publish-only"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        std::fs::read_to_string(failing.dir.path().join("published.txt"))
            .unwrap()
            .contains(&name_of(&wheel))
    );
    assert!(!pending.exists());

    // A failing `before` places nothing.
    let closed = Site::with_layout(hooks("exit 1", "true"));
    closed.pure("four", "1.0");
    let (code, _, stderr) = closed.run(&[]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("the `before` publish hook failed, nothing was placed"),
        "{stderr}"
    );
    assert!(closed.files().is_empty());
}

/// Writes a labelled wheel of about `megabytes` of incompressible data (stored, so the copy
/// is as large as the data) with Python, whose hashing is fast in a debug test build.
fn big_wheel(directory: &Path, name: &str, megabytes: usize, seed: u8) -> PathBuf {
    let script = r#"
import base64, hashlib, os, random, sys, zipfile
directory, name, megabytes, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
version = "1.0+computecanada"
random.seed(seed)
data = random.randbytes(megabytes << 20)
files = {f"{name}/__init__.py": b"", f"{name}/blob.bin": data}
dist = f"{name}-{version}.dist-info"
files[f"{dist}/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()
files[f"{dist}/WHEEL"] = b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
rows = []
for path, content in files.items():
    digest = base64.urlsafe_b64encode(hashlib.sha256(content).digest()).rstrip(b"=").decode()
    rows.append(f"{path},sha256={digest},{len(content)}")
rows.append(f"{dist}/RECORD,,")
files[f"{dist}/RECORD"] = ("\n".join(rows) + "\n").encode()
path = os.path.join(directory, f"{name}-{version}-py3-none-any.whl")
with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
    for member, content in files.items():
        archive.writestr(member, content)
print(path)
"#;
    let python = crate::common::python(12)
        .or_else(|| crate::common::python(11))
        .expect("a Python 3.11 or 3.12 interpreter (pyenv or /usr/bin)");
    let output = Command::new(python)
        .arg("-c")
        .arg(script)
        .arg(directory)
        .arg(name)
        .arg(megabytes.to_string())
        .arg(seed.to_string())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    PathBuf::from(String::from_utf8(output.stdout).unwrap().trim())
}

#[test]
fn sigkill_at_any_point_never_leaves_a_partial_or_loses_a_wheel() {
    let site = Site::new();
    let elsewhere = site.dir.path().join("old");
    std::fs::create_dir(&elsewhere).unwrap();
    // The wheel already in the tree, and a different one of the same name to force over it.
    let old = big_wheel(&elsewhere, "bigpkg", 96, 1);
    let new = big_wheel(&site.stage(), "bigpkg", 96, 2);
    let (code, _, stderr) = site.run(&["--from", elsewhere.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    let old_bytes = std::fs::read(&old).unwrap();
    let new_bytes = std::fs::read(&new).unwrap();
    let placed = site.tree().join("generic").join(name_of(&new));
    // Another wheel placed before: must survive every kill.
    let bystander = site
        .tree()
        .join("generic")
        .join(name_of(&old).replace("bigpkg", "bystander"));
    std::fs::write(&bystander, b"not touched").unwrap();

    // How long an uninterrupted run takes (then put the old wheel back).
    let start = std::time::Instant::now();
    let (code, _, stderr) = site.run(&["--full-verify", "--force", "--wheel", new.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    let full = start.elapsed();
    std::fs::write(&placed, &old_bytes).unwrap();

    // Kill points spread over the whole run and a little past it (start-up varies).
    let kills = 24;
    let mut saw_new = false;
    let mut saw_old = false;
    let mut saw_temp = 0;
    for step in 0..kills {
        let delay = full.mul_f64(1.2 * f64::from(step) / f64::from(kills));
        let mut child = cp_wheels()
            .current_dir(site.stage())
            .arg("--layout")
            .arg(site.layout())
            .args(["-q", "--full-verify", "--force", "--wheel", new.to_str().unwrap()])
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        // Under the final name: exactly the old wheel or exactly the new one.
        let now = std::fs::read(&placed).expect("the wheel under its final name is gone");
        if now == new_bytes {
            saw_new = true;
        } else if now == old_bytes {
            saw_old = true;
        } else {
            panic!(
                "after a kill at {delay:?} the wheel is neither the old nor the new one ({} bytes)",
                now.len()
            );
        }
        assert_eq!(std::fs::read(&bystander).unwrap(), b"not touched");
        // Every .whl in the tree is whole; temporary files are the only leftovers.
        if site.files().iter().any(|file| file.ends_with(".tmp")) {
            saw_temp += 1;
        }
        for file in site.files() {
            assert!(
                file.ends_with(".whl") || file.contains("/.wheelwright-") && file.ends_with(".tmp"),
                "unexpected file {file}"
            );
        }
        std::fs::write(&placed, &old_bytes).unwrap();
    }
    assert!(
        saw_old,
        "no kill landed before the rename: the test proves nothing"
    );
    eprintln!(
        "kills: {kills}; the new wheel already in place after some: {saw_new}; a temporary copy left by {saw_temp}"
    );
    // The next run cleans the leftovers and completes.
    let (code, _, stderr) = site.run(&["--force", "--wheel", new.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(std::fs::read(&placed).unwrap(), new_bytes);
    assert!(
        site.files().iter().all(|file| !file.ends_with(".tmp")),
        "{:?}",
        site.files()
    );
}

#[test]
fn concurrent_writers_end_with_exactly_the_expected_files() {
    let site = Site::new();
    let writers = 4;
    let per_writer = 6;
    let mut expected = Vec::new();
    let mut directories = Vec::new();
    for writer in 0..writers {
        let directory = site.dir.path().join(format!("writer{writer}"));
        std::fs::create_dir(&directory).unwrap();
        for index in 0..per_writer {
            let wheel =
                WheelSpec::new(&format!("pkg{writer}x{index}"), "1.0+computecanada").write(&directory);
            expected.push(format!("generic/{}", name_of(&wheel)));
        }
        // One wheel every writer carries, byte for byte the same.
        let shared = WheelSpec::new("shared", "1.0+computecanada").write(&directory);
        if writer == 0 {
            expected.push(format!("generic/{}", name_of(&shared)));
        }
        // And an arch-specific one.
        let member = format!("fast{writer}/_ext.cpython-312-x86_64-linux-gnu.so");
        let fast = binary_wheel_version(
            &directory,
            &format!("fast{writer}"),
            "1.0+computecanada",
            vec![(member, fixture("avx512.so"))],
        );
        expected.push(format!("gentoo2023/x86-64-v4/{}", name_of(&fast)));
        directories.push(directory);
    }
    expected.sort();
    let children: Vec<_> = directories
        .iter()
        .map(|directory| {
            cp_wheels()
                .arg("--layout")
                .arg(site.layout())
                .arg("--json")
                .arg("--from")
                .arg(directory)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut placed_shared = 0;
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let report: Value = serde_json::from_slice(&output.stdout).unwrap();
        for wheel in report["wheels"].as_array().unwrap() {
            if wheel["project"] == "shared" && wheel["action"] == "place" {
                placed_shared += 1;
            }
        }
    }
    assert_eq!(
        placed_shared, 1,
        "the shared wheel was placed by more than one writer"
    );
    assert_eq!(site.files(), expected);
}

#[test]
fn bytes_that_verified_before_are_not_hashed_again() {
    let site = Site::new();
    let mut spec = WheelSpec::new("cachedpkg", "1.0+computecanada");
    // Unique bytes for this test run, so an earlier run's record cannot answer.
    let nonce = format!("{:?}", std::time::SystemTime::now());
    spec.files
        .push(("cachedpkg/nonce.txt".into(), nonce.into_bytes()));
    let wheel = spec.write(&site.stage());
    let (code, report) = site.run_json(&["--dry-run"]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["wheels"][0]["verified_before"], false);
    let sha256 = report["wheels"][0]["sha256"].as_str().unwrap().to_string();
    assert_eq!(sha256.len(), 64);
    // The dry run verified the bytes: the real run trusts that record.
    let (code, report) = site.run_json(&[]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["wheels"][0]["verified_before"], true);
    assert_eq!(report["wheels"][0]["sha256"], sha256.as_str());
    // --full-verify ignores it; other bytes under the same name are verified in full and,
    // being broken, refused.
    let (_, report) = site.run_json(&["--full-verify", "--dry-run"]);
    assert_eq!(report["wheels"][0]["verified_before"], false);
    let mut broken = spec.clone();
    broken.wrong_hash_for = vec!["cachedpkg/nonce.txt".into()];
    std::fs::remove_file(&wheel).unwrap();
    broken.write(&site.stage());
    let (code, report) = site.run_json(&["--force"]);
    assert_eq!(code, 1);
    assert!(reason(&report, 0).contains("fails verification"), "{report}");
}

#[test]
fn a_platform_wheel_whose_extensions_are_all_invalid_is_refused_not_placed_as_pure() {
    let site = Site::new();
    let good = site.pure("goodpkg", "1.0");
    let member = "junkpkg/_ext.cpython-312-x86_64-linux-gnu.so";
    let junk = binary_wheel_version(
        &site.stage(),
        "junkpkg",
        &format!("1.0{LABEL}"),
        vec![(member.to_string(), b"garbage, not an object file\n".repeat(10))],
    );
    let (code, report) = site.run_json(&[
        "--wheel",
        junk.to_str().unwrap(),
        "--wheel",
        good.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(actions(&report), ["refuse", "held"], "{report:#}");
    assert!(
        reason(&report, 0).contains(&format!(
            "`{member}` is not a valid ELF file: it does not start with the ELF magic number"
        )),
        "{report:#}"
    );
    assert!(site.files().is_empty(), "{:?}", site.files());
    // A stray unreadable library beside real code only warns: the real code decides.
    let stray = "mixedpkg/_stray.cpython-312-x86_64-linux-gnu.so";
    let mixed = binary_wheel_version(
        &site.stage(),
        "mixedpkg",
        &format!("1.0{LABEL}"),
        vec![
            (
                "mixedpkg/_ext.cpython-312-x86_64-linux-gnu.so".to_string(),
                fixture("plain.so"),
            ),
            (stray.to_string(), b"garbage\n".repeat(10)),
        ],
    );
    let (code, report) = site.run_json(&["--wheel", mixed.to_str().unwrap()]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(actions(&report), ["place"]);
    assert!(
        report["wheels"][0]["warnings"]
            .to_string()
            .contains(&format!("unreadable ELF: {stray}: not an ELF file")),
        "{report:#}"
    );
}

/// Writes the build record wheelbuild leaves beside `wheel` (`<wheel>.json`), with `sha256`
/// (the wheel's own when None) and `test`.
fn build_record(wheel: &Path, sha256: Option<&str>, test: Value) -> PathBuf {
    use sha2::Digest as _;
    let own: String = sha2::Sha256::digest(std::fs::read(wheel).unwrap())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    let record = serde_json::json!({
        "wheel": name_of(wheel),
        "sha256": sha256.map_or(own, str::to_string),
        "build": { "python": "3.12", "arch": "generic" },
        "changes": [],
        "destination": "generic",
        "test": test,
    });
    let path = PathBuf::from(format!("{}.json", wheel.display()));
    std::fs::write(&path, serde_json::to_vec_pretty(&record).unwrap()).unwrap();
    path
}

#[test]
fn a_wheel_whose_build_record_says_its_test_failed_is_refused() {
    let site = Site::new();
    let good = site.pure("goodpkg", "1.0");
    let bad = site.pure("badpkg", "1.0");
    build_record(
        &bad,
        None,
        serde_json::json!({ "status": "failed", "error": "ImportError: libfoo.so.1: cannot open shared object file" }),
    );
    let (code, report) = site.run_json(&[]);
    assert_eq!(code, 1, "{report:#}");
    // Sorted by name: badpkg first.
    assert_eq!(actions(&report), ["refuse", "held"], "{report:#}");
    // The record's path as cp-wheels found the wheel (in the current directory).
    assert_eq!(
        reason(&report, 0),
        format!(
            "its build record `./{}.json` says the smoke test failed: ImportError: libfoo.so.1: cannot open shared object file",
            name_of(&bad)
        )
    );
    assert!(site.files().is_empty(), "{:?}", site.files());
    // --keep-going places the rest.
    let (code, report) = site.run_json(&["--keep-going"]);
    assert_eq!(code, 1);
    assert_eq!(actions(&report), ["refuse", "place"], "{report:#}");
    assert_eq!(site.files(), [format!("generic/{}", name_of(&good))]);

    // Never tested.
    let untested = site.pure("untestedpkg", "1.0");
    build_record(&untested, None, serde_json::json!({ "status": "not run" }));
    let (code, stdout, stderr) = site.run(&["--wheel", untested.to_str().unwrap()]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stdout.contains("says it was never smoke-tested"), "{stdout}");

    // Passed: placed.
    let tested = site.pure("testedpkg", "1.0");
    build_record(&tested, None, serde_json::json!({ "status": "passed" }));
    let (code, report) = site.run_json(&["--wheel", tested.to_str().unwrap()]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(actions(&report), ["place"]);
    assert_eq!(report["wheels"][0]["warnings"], serde_json::json!([]));
}

#[test]
fn a_build_record_of_other_bytes_warns_and_a_damaged_one_refuses() {
    let site = Site::new();
    // The record of an earlier build of the same name: ignored, with a warning.
    let rebuilt = site.pure("rebuiltpkg", "1.0");
    let other = "ab".repeat(32);
    build_record(
        &rebuilt,
        Some(&other),
        serde_json::json!({ "status": "failed", "error": "old" }),
    );
    let (code, report) = site.run_json(&["--wheel", rebuilt.to_str().unwrap(), "--dry-run"]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(actions(&report), ["place"]);
    let warnings = report["wheels"][0]["warnings"].to_string();
    assert!(
        warnings.contains("is for other bytes") && warnings.contains(&other),
        "{warnings}"
    );

    // A record that does not parse is suspicious: refused, with the path and the error.
    let damaged = site.pure("damagedpkg", "1.0");
    let record = PathBuf::from(format!("{}.json", damaged.display()));
    std::fs::write(&record, b"{\"sha256\": \"12").unwrap();
    let (code, report) = site.run_json(&["--wheel", damaged.to_str().unwrap()]);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(actions(&report), ["refuse"]);
    let why = reason(&report, 0);
    assert!(
        why.starts_with(&format!(
            "its build record `{}` does not parse: EOF while parsing",
            record.display()
        )),
        "{why}"
    );
    assert!(site.files().is_empty(), "{:?}", site.files());
}
