//! `wheelwright check`: the holes of a wheelhouse per node view and Python. A small tree of
//! wheels made here, with holes made on purpose (a requirement missing for one Python, for one
//! arch, a pin the tree cannot meet, an extra's requirement missing) and requirements that are
//! not holes (excluded by a marker, an extra nobody asks for, a local version meeting `==`,
//! a pre-release when it is all there is): exactly those holes are found; the resolution of a
//! list agrees with `uv pip compile --no-index --find-links` per node view (when uv is on
//! PATH). The same on real PyPI wheels placed by `cp-wheels` is in `check_real` (CI's slow
//! step).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::common::{WheelSpec, run, uv, wheelwright};

const LAYOUT: &str = r#"
root = "tree"
local_version_label = "cc"
python_versions = ["3.11", "3.12", "3.13"]
default_layer = "gentoo2023"

[archs.generic]
level = 1
march = "x86-64"
features = ["sse2"]

[archs.x86-64-v3]
level = 3
march = "x86-64-v3"
features = ["avx2", "fma"]

[archs.x86-64-v4]
level = 4
march = "x86-64-v4"
features = ["avx512f"]

[layers.gentoo2023]
glibc = "2.37"
archs = ["generic", "x86-64-v3", "x86-64-v4"]

[layers.gentoo2020]
glibc = "2.30"
archs = ["generic"]
deprecated = true
"#;

/// A wheel of `name` with these tags and METADATA lines (`Requires-Dist: ...`).
pub(crate) fn wheel(name: &str, version: &str, tags: &str, lines: &[&str]) -> WheelSpec {
    let mut spec = WheelSpec::new(name, version);
    spec.tags = tags.to_string();
    let mut metadata = format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n");
    for line in lines {
        metadata.push_str(line);
        metadata.push('\n');
    }
    spec.metadata = metadata;
    let pure = tags.ends_with("-none-any");
    let tag_lines: String = tags
        .split('-')
        .next()
        .unwrap()
        .split('.')
        .map(|python| {
            let rest = tags.split_once('-').unwrap().1;
            format!("Tag: {python}-{rest}\n")
        })
        .collect();
    spec.wheel =
        format!("Wheel-Version: 1.0\nGenerator: wheelwright-tests\nRoot-Is-Purelib: {pure}\n{tag_lines}");
    let module = name.replace('-', "_").to_lowercase();
    spec.files = vec![(format!("{module}/__init__.py"), b"".to_vec())];
    spec
}

struct Tree {
    directory: tempfile::TempDir,
    layout: PathBuf,
    root: PathBuf,
}

impl Tree {
    fn new() -> Tree {
        let directory = tempfile::tempdir().unwrap();
        let layout = directory.path().join("layout.toml");
        std::fs::write(&layout, LAYOUT).unwrap();
        let root = directory.path().join("tree");
        std::fs::create_dir_all(root.join("generic")).unwrap();
        Tree {
            directory,
            layout,
            root,
        }
    }

    fn add(&self, directory: &str, spec: WheelSpec) -> PathBuf {
        let directory = self.root.join(directory);
        std::fs::create_dir_all(&directory).unwrap();
        spec.write(&directory)
    }

    /// `wheelwright --layout LAYOUT check --cache-dir CACHE ARGS...`
    fn check(&self, args: &[&str]) -> (i32, String, String) {
        run(wheelwright()
            .arg("--layout")
            .arg(&self.layout)
            .arg("check")
            .arg("--cache-dir")
            .arg(self.directory.path().join("cache"))
            .args(args))
    }

    fn check_json(&self, args: &[&str]) -> (i32, Value) {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let (code, stdout, stderr) = self.check(&all);
        let report =
            serde_json::from_str(&stdout).unwrap_or_else(|error| panic!("{error}\n{stdout}{stderr}"));
        (code, report)
    }
}

const CP311: &str = "cp311-cp311-linux_x86_64";
const CP312: &str = "cp312-cp312-linux_x86_64";

/// The tree with its holes made on purpose.
fn holey_tree() -> Tree {
    let tree = Tree::new();
    tree.add(
        "generic",
        wheel(
            "app",
            "1.0+cc",
            "py3-none-any",
            &[
                "Requires-Dist: lib>=1.0",
                "Requires-Dist: libx[fast]>=1",
                // Excluded by markers: not holes, though nothing provides them.
                "Requires-Dist: backport; python_version < \"3.11\"",
                "Requires-Dist: winonly; sys_platform == \"win32\"",
                "Requires-Dist: pypyonly; platform_python_implementation == \"PyPy\"",
                "Requires-Dist: app-docs; extra == \"docs\"",
                "Provides-Extra: docs",
            ],
        ),
    );
    // An older app nobody checks without --all: its hole shows only then.
    tree.add(
        "generic",
        wheel("app", "0.9+cc", "py3-none-any", &["Requires-Dist: gone>=1"]),
    );
    // lib: compiled for 3.11 and 3.12 only, and only for x86-64-v3.
    tree.add("gentoo2023/x86-64-v3", wheel("lib", "1.2+cc", CP311, &[]));
    tree.add("gentoo2023/x86-64-v3", wheel("lib", "1.2+cc", CP312, &[]));
    // libx: its extra `fast` (asked for by app) needs speedup, which is missing; its extra
    // `docs` (asked for by nobody) needs sphinx, also missing: not a hole.
    tree.add(
        "generic",
        wheel(
            "libx",
            "1.0+cc",
            "py3-none-any",
            &[
                "Requires-Dist: speedup>=2; extra == \"fast\"",
                "Requires-Dist: sphinx; extra == \"docs\"",
                "Provides-Extra: fast",
                "Provides-Extra: docs",
            ],
        ),
    );
    // A pin the tree cannot meet.
    tree.add(
        "generic",
        wheel("pinned", "1.0+cc", "py3-none-any", &["Requires-Dist: app>=2"]),
    );
    // A local version meets `==` of its public version.
    tree.add(
        "generic",
        wheel("exact", "1.0+cc", "py3-none-any", &["Requires-Dist: libx==1.0"]),
    );
    // Pre-releases: taken when all there is, not when a final release exists.
    tree.add("generic", wheel("beta", "2.0rc1+cc", "py3-none-any", &[]));
    tree.add("generic", wheel("gamma", "1.0+cc", "py3-none-any", &[]));
    tree.add("generic", wheel("gamma", "2.0rc1+cc", "py3-none-any", &[]));
    tree.add(
        "generic",
        wheel(
            "pre",
            "1.0+cc",
            "py3-none-any",
            &[
                "Requires-Dist: beta>=1",
                "Requires-Dist: gamma>=1",
                "Requires-Dist: gamma>=2; extra == \"new\"",
            ],
        ),
    );
    tree
}

/// The holes of a report as (requiring project, required project, view, Python).
fn holes(report: &Value) -> BTreeSet<(String, String, String, String)> {
    let mut found = BTreeSet::new();
    for finding in report["findings"].as_array().unwrap() {
        if !finding["hole"].as_bool().unwrap() {
            continue;
        }
        let wheel = finding["wheel"].as_str().unwrap_or_default();
        let requirer = wheel
            .rsplit('/')
            .next()
            .unwrap()
            .split('-')
            .next()
            .unwrap()
            .to_string();
        for node in finding["nodes"].as_array().unwrap() {
            found.insert((
                requirer.clone(),
                finding["project"].as_str().unwrap().to_string(),
                format!(
                    "{}/{}",
                    node["layer"].as_str().unwrap(),
                    node["arch"].as_str().unwrap()
                ),
                node["python"].as_str().unwrap().to_string(),
            ));
        }
    }
    found
}

fn expect(rows: &[(&str, &str, &[&str], &[&str])]) -> BTreeSet<(String, String, String, String)> {
    let mut expected = BTreeSet::new();
    for (requirer, project, views, pythons) in rows {
        for view in *views {
            for python in *pythons {
                expected.insert((
                    requirer.to_string(),
                    project.to_string(),
                    format!("gentoo2023/{view}"),
                    python.to_string(),
                ));
            }
        }
    }
    expected
}

const ALL_VIEWS: &[&str] = &["generic", "x86-64-v3", "x86-64-v4"];
const ALL_PYTHONS: &[&str] = &["3.11", "3.12", "3.13"];

#[test]
fn check_finds_exactly_the_holes_made_on_purpose() {
    let tree = holey_tree();
    let (code, report) = tree.check_json(&[]);
    assert_eq!(code, 1, "{report:#}");
    let expected = expect(&[
        // lib: missing on the generic view (only in x86-64-v3), and for 3.13 everywhere.
        ("app", "lib", &["generic"], ALL_PYTHONS),
        ("app", "lib", &["x86-64-v3", "x86-64-v4"], &["3.13"]),
        // The extra app asks for.
        ("libx", "speedup", ALL_VIEWS, ALL_PYTHONS),
        // The pin.
        ("pinned", "app", ALL_VIEWS, ALL_PYTHONS),
    ]);
    assert_eq!(holes(&report), expected, "{report:#}");
    let findings = report["findings"].as_array().unwrap();
    let find = |project: &str, needle: &str| {
        findings
            .iter()
            .find(|finding| {
                finding["project"] == project
                    && finding["instead"]["text"].as_str().unwrap_or("").contains(needle)
            })
            .unwrap_or_else(|| panic!("no {project} finding with `{needle}`: {report:#}"))
    };
    let other_arch = find(
        "lib",
        "for this Python only in gentoo2023/x86-64-v3, which this node does not search",
    );
    assert_eq!(
        other_arch["instead"]["directories"],
        serde_json::json!(["gentoo2023/x86-64-v3"])
    );
    assert_eq!(other_arch["fix"]["action"], "build");
    assert_eq!(other_arch["fix"]["arch"], "generic");
    let other_python = find("lib", "no wheel for this Python");
    assert_eq!(
        other_python["instead"]["pythons"],
        serde_json::json!(["3.11", "3.12"])
    );
    assert_eq!(other_python["fix"]["pythons"], serde_json::json!(["3.13"]));
    // lib has arch builds only: the fix builds the node's arch, not a generic copy.
    assert_eq!(other_python["fix"]["arch"], "x86-64-v3");
    assert_eq!(
        other_python["fix"]["command"],
        "wheelbuild --package lib --version '>=1.0' --python 3.13 --layer gentoo2023 --arch x86-64-v3 --recursive"
    );
    let extra = find("speedup", "no wheel of speedup in the wheelhouse");
    assert_eq!(extra["extra"], "fast");
    assert_eq!(extra["fix"]["action"], "add-recipe");
    let pin = find("app", "1.0+cc, 0.9+cc present");
    assert_eq!(
        pin["instead"]["versions"],
        serde_json::json!(["1.0+cc", "0.9+cc"])
    );
    assert_eq!(pin["requirement"], "app>=2");
    assert_eq!(
        report["holes"].as_u64().unwrap() as usize,
        report["counts"]["closure"].as_u64().unwrap() as usize
    );

    // Every version: the old app's requirement is a hole too.
    let (_, report) = tree.check_json(&["--all"]);
    let all = holes(&report);
    assert!(all.is_superset(&expected));
    assert_eq!(
        all.difference(&expected).cloned().collect::<BTreeSet<_>>(),
        expect(&[("app", "gone", ALL_VIEWS, ALL_PYTHONS)])
    );
}

#[test]
fn check_narrows_by_python_layer_and_arch_and_prints_a_table() {
    let tree = holey_tree();
    let (code, report) = tree.check_json(&["--python", "3.12", "--arch", "x86-64-v4"]);
    assert_eq!(code, 1);
    assert_eq!(report["views"], serde_json::json!(["gentoo2023/x86-64-v4"]));
    assert_eq!(report["pythons"], serde_json::json!(["3.12"]));
    assert_eq!(
        holes(&report),
        expect(&[
            ("libx", "speedup", &["x86-64-v4"], &["3.12"]),
            ("pinned", "app", &["x86-64-v4"], &["3.12"]),
        ])
    );
    let (code, stdout, stderr) = tree.check(&["--layer", "gentoo2023", "--python", "3.11,3.13"]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    for expected in [
        "requirements no wheel meets (closure): 6",
        "  app 1.0+cc requires `lib>=1.0`",
        "    wheel:    generic/app-1.0+cc-py3-none-any.whl",
        "    nodes:    Python 3.11 on gentoo2023/generic",
        "    instead:  for this Python only in gentoo2023/x86-64-v3, which this node does not search",
        "    fix:      build lib 1.2 for Python 3.11 on gentoo2023/generic",
        "              wheelbuild --package lib --version 1.2 --python 3.11 --layer gentoo2023 --arch generic --recursive",
        "    nodes:    Python 3.13 on gentoo2023/x86-64-v3",
        "    instead:  no wheel for this Python (the node's directories have lib for 3.11)",
        "    nodes:    Python 3.11, 3.13 on every view",
        "    instead:  1.0+cc, 0.9+cc present",
        "              wheelbuild --package speedup --version '>=2' --python 3.11,3.13 --recursive",
        "  libx 1.0+cc requires `speedup>=2 ; extra == 'fast'` (its extra `fast`, which the wheelhouse asks for)",
    ] {
        assert!(stdout.contains(expected), "`{expected}` missing:\n{stdout}");
    }
    assert!(
        stdout.trim_end().ends_with("other findings") || stdout.trim_end().ends_with("other finding"),
        "{stdout}"
    );

    // A tree without holes: exit 0.
    let clean = Tree::new();
    clean.add(
        "generic",
        wheel(
            "alone",
            "1.0+cc",
            "py3-none-any",
            &["Requires-Dist: other; python_version < \"3\""],
        ),
    );
    let (code, stdout, stderr) = clean.check(&[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("0 holes (closure, resolution), 0 other findings"),
        "{stdout}"
    );
}

#[test]
fn check_errors_name_the_problem() {
    let tree = holey_tree();
    let (code, _, stderr) = tree.check(&["--layer", "gentoo2099"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("unknown layer `gentoo2099`"), "{stderr}");
    let (code, _, stderr) = tree.check(&["--python", "three"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("--python"), "{stderr}");
    let missing = tree.directory.path().join("missing.txt");
    let (code, _, stderr) = tree.check(&["--resolve", missing.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(stderr.contains("cannot read the requirements file"), "{stderr}");
    let bad = tree.directory.path().join("bad.txt");
    std::fs::write(&bad, "app\nlib >>= 2\n").unwrap();
    let (code, _, stderr) = tree.check(&["--resolve", bad.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("bad.txt:2: `lib >>= 2` is not a PEP 508 requirement"),
        "{stderr}"
    );
    assert!(stderr.contains("hint: "), "{stderr}");
    std::fs::remove_dir_all(&tree.root).unwrap();
    let (code, _, stderr) = tree.check(&[]);
    assert_eq!(code, 1);
    assert!(stderr.contains("does not exist"), "{stderr}");
    assert!(stderr.contains("hint: check `root` in"), "{stderr}");
}

#[test]
fn check_reads_each_metadata_once_then_from_its_cache() {
    let tree = holey_tree();
    let (_, first) = tree.check_json(&[]);
    let wheels = first["wheels"].as_u64().unwrap();
    assert_eq!(first["metadata_read"].as_u64().unwrap(), wheels);
    let (_, second) = tree.check_json(&[]);
    assert_eq!(second["metadata_read"], 0);
    assert_eq!(second["metadata_cached"].as_u64().unwrap(), wheels);
    assert_eq!(holes(&first), holes(&second));
    // A wheel replaced in place is read again.
    tree.add(
        "generic",
        wheel("pinned", "1.0+cc", "py3-none-any", &["Requires-Dist: app>=1.0"]),
    );
    let (code, third) = tree.check_json(&[]);
    assert_eq!(third["metadata_read"], 1);
    assert!(holes(&third).iter().all(|(requirer, ..)| requirer != "pinned"));
    assert_eq!(code, 1);
}

#[test]
fn check_reports_wheels_that_disagree_and_copies_taken_unexpectedly() {
    let tree = Tree::new();
    tree.add(
        "gentoo2023/x86-64-v3",
        wheel("fast", "2.0+cc", CP312, &["Requires-Dist: six"]),
    );
    tree.add(
        "gentoo2023/x86-64-v4",
        wheel(
            "fast",
            "2.0+cc",
            CP312,
            &["Requires-Dist: six", "Requires-Dist: extra-dep"],
        ),
    );
    tree.add("gentoo2023/generic", wheel("fast", "2.0+cc", CP311, &[]));
    // The v4 build was left behind: a v4 node installs 2.1 from the layer's generic directory.
    tree.add("gentoo2023/x86-64-v4", wheel("slow", "1.0+cc", CP312, &[]));
    tree.add("gentoo2023/generic", wheel("slow", "1.1+cc", CP312, &[]));
    // The same file name in two directories: pip (find-links) takes the smallest URL.
    tree.add("gentoo2023/x86-64-v3", wheel("twin", "1.0+cc", CP312, &[]));
    tree.add("gentoo2023/generic", wheel("twin", "1.0+cc", CP312, &[]));
    tree.add("generic", wheel("six", "1.17.0+cc", "py2.py3-none-any", &[]));
    tree.add(
        "generic",
        wheel(
            "extra-dep",
            "1.0+cc",
            "py3-none-any",
            &["Requires-Dist: six >>= 1"],
        ),
    );
    std::fs::write(
        tree.root.join("generic/broken-1.0+cc-py3-none-any.whl"),
        b"not a zip",
    )
    .unwrap();
    std::fs::write(tree.root.join("generic/not-a-wheel-name.whl"), b"").unwrap();
    let (code, report) = tree.check_json(&["--python", "3.11,3.12"]);
    assert_eq!(code, 0, "no holes: {report:#}");
    let findings = report["findings"].as_array().unwrap();
    let of = |kind: &str| -> Vec<&Value> {
        findings
            .iter()
            .filter(|finding| finding["kind"] == kind)
            .collect()
    };
    let differ = of("requirements-differ");
    assert_eq!(differ.len(), 1, "{report:#}");
    assert_eq!(differ[0]["project"], "fast");
    let details = differ[0]["details"].to_string();
    assert!(details.contains("`extra-dep` in gentoo2023/x86-64-v4/fast-2.0+cc-cp312-cp312-linux_x86_64.whl but not in gentoo2023/x86-64-v3/fast-2.0+cc-cp312-cp312-linux_x86_64.whl"), "{details}");
    assert!(details.contains("without a marker: `six` in"), "{details}");
    assert_eq!(differ[0]["fix"]["action"], "rebuild");
    let behind = of("arch-behind");
    assert_eq!(behind.len(), 1, "{report:#}");
    assert_eq!(behind[0]["project"], "slow");
    assert_eq!(
        behind[0]["nodes"],
        serde_json::json!([{"layer": "gentoo2023", "arch": "x86-64-v4", "python": "3.12"}])
    );
    assert_eq!(behind[0]["fix"]["version"], "1.1");
    assert_eq!(behind[0]["fix"]["arch"], "x86-64-v4");
    let shadowed = of("shadowed");
    assert_eq!(shadowed.len(), 1, "{report:#}");
    assert_eq!(shadowed[0]["fix"]["action"], "use-index");
    assert_eq!(
        shadowed[0]["details"],
        serde_json::json!([
            "gentoo2023/generic/twin-1.0+cc-cp312-cp312-linux_x86_64.whl (its own: gentoo2023/x86-64-v3) on gentoo2023/x86-64-v3, gentoo2023/x86-64-v4",
            "gentoo2023/x86-64-v3/fast-2.0+cc-cp312-cp312-linux_x86_64.whl (its own: gentoo2023/x86-64-v4) on gentoo2023/x86-64-v4"
        ])
    );
    assert_eq!(
        shadowed[0]["nodes"],
        serde_json::json!([
            {"layer": "gentoo2023", "arch": "x86-64-v3", "python": "3.12"},
            {"layer": "gentoo2023", "arch": "x86-64-v4", "python": "3.12"}
        ])
    );
    let unreadable = of("unreadable");
    assert_eq!(unreadable.len(), 3, "{report:#}");
    assert!(
        unreadable.iter().any(|finding| finding["message"]
            == "its METADATA has `Requires-Dist: six >>= 1`, which is not PEP 508: installers refuse the wheel"),
        "{report:#}"
    );
    assert!(
        unreadable
            .iter()
            .all(|finding| finding["fix"]["action"] == "replace")
    );
    assert!(
        unreadable.iter().any(|finding| finding["message"]
            == "`generic/not-a-wheel-name.whl` is not a valid wheel file name: installers skip it"),
        "{report:#}"
    );
}

/// The node's directories as `--find-links` arguments.
fn find_links(root: &Path, view: &str) -> Vec<String> {
    let mut dirs = vec![format!("gentoo2023/{view}")];
    if view == "x86-64-v4" {
        dirs.push("gentoo2023/x86-64-v3".to_string());
    }
    if view != "generic" {
        dirs.push("gentoo2023/generic".to_string());
    }
    dirs.push("generic".to_string());
    dirs.iter()
        .filter(|dir| root.join(dir).is_dir())
        .flat_map(|dir| ["--find-links".to_string(), root.join(dir).display().to_string()])
        .collect()
}

/// `uv pip compile` of `requirements` for a node: the pins (`name==version`), or None when it
/// does not resolve.
pub(crate) fn uv_compile(
    uv: &Path,
    links: &[String],
    python: &str,
    requirements: &Path,
) -> Option<BTreeSet<String>> {
    let mut command = Command::new(uv);
    command.args(["pip", "compile"]);
    // An interpreter named by path: uv's own search goes through pyenv's slow shims. Markers
    // and tags follow --python-version and --python-platform whatever it is.
    if let Some(interpreter) = crate::common::python(12).or_else(|| crate::common::python(11)) {
        command.arg("--python").arg(interpreter);
    }
    let (code, stdout, stderr) = run(command
        .args([
            "--no-index",
            "--no-header",
            "--no-annotate",
            "--no-cache",
            "--quiet",
        ])
        .args(links)
        .args([
            "--python-version",
            python,
            "--python-platform",
            "x86_64-unknown-linux-gnu",
        ])
        .arg(requirements)
        .env("UV_PYTHON_DOWNLOADS", "never")
        .env_remove("UV_INDEX_URL")
        .env_remove("PIP_INDEX_URL"));
    if code != 0 {
        assert!(
            stderr.contains("No solution found")
                || stderr.contains("not found in the package registry")
                || stderr.contains("no versions of")
                || stderr.contains("Because"),
            "uv failed for another reason:\n{stderr}"
        );
        return None;
    }
    Some(
        stdout
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .map(|line| line.split(';').next().unwrap().trim().to_lowercase())
            .collect(),
    )
}

/// Our resolution of a node, as uv's: the pins, or None.
pub(crate) fn ours(report: &Value, view: &str, python: &str) -> Option<BTreeSet<String>> {
    let resolution = report["resolutions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|resolution| resolution["node"]["arch"] == view && resolution["node"]["python"] == python)
        .unwrap_or_else(|| panic!("no resolution for {view} {python}"));
    resolution["resolved"].as_bool().unwrap().then(|| {
        resolution["packages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|package| {
                format!(
                    "{}=={}",
                    package["name"].as_str().unwrap(),
                    package["version"].as_str().unwrap()
                )
            })
            .collect()
    })
}

#[test]
fn check_resolution_agrees_with_uv_pip_compile_per_node_view() {
    let tree = holey_tree();
    // A project with a conflict only a resolver sees: `both` needs old and new of `shared`.
    tree.add("generic", wheel("shared", "1.0+cc", "py3-none-any", &[]));
    tree.add("generic", wheel("shared", "2.0+cc", "py3-none-any", &[]));
    tree.add(
        "generic",
        wheel("left", "1.0+cc", "py3-none-any", &["Requires-Dist: shared<2"]),
    );
    tree.add(
        "generic",
        wheel("right", "1.0+cc", "py3-none-any", &["Requires-Dist: shared>=2"]),
    );
    tree.add(
        "generic",
        wheel("right", "0.5+cc", "py3-none-any", &["Requires-Dist: shared>=1"]),
    );
    let requirements = tree.directory.path().join("top.txt");
    std::fs::write(&requirements, "app\nexact\nleft\nright\npre\n").unwrap();
    let (code, report) = tree.check_json(&["--resolve", requirements.to_str().unwrap()]);
    assert_eq!(code, 1);
    // app's extra `fast` needs speedup: no node resolves `app` ... except that `app` asks for
    // libx[fast], which no node can meet; so every node fails.
    for view in ALL_VIEWS {
        for python in ALL_PYTHONS {
            assert_eq!(ours(&report, view, python), None, "{view} {python}");
        }
    }
    let resolution = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|finding| {
            finding["kind"] == "resolution"
                && finding["nodes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|node| node["arch"] == "x86-64-v3" && node["python"] == "3.12")
        })
        .unwrap();
    assert_eq!(resolution["project"], "speedup", "{resolution:#}");
    let details = resolution["details"].to_string();
    assert!(
        details.contains(
            "libx 1.0+cc requires `speedup>=2 ; extra == 'fast'`: no wheel of speedup in the wheelhouse"
        ),
        "{details}"
    );
    assert!(
        details.contains("speedup >=2 (no version the node can install)")
            || details.contains("speedup (no version"),
        "{details}"
    );
    assert!(!details.contains("requirements 0"), "{details}");

    // Without app: resolves where lib is not needed; `left` and `right` meet at right 0.5.
    std::fs::write(&requirements, "exact\nleft\nright\npre\nlibx\n").unwrap();
    let (code, report) = tree.check_json(&["--resolve", requirements.to_str().unwrap()]);
    assert_eq!(code, 1, "the closure holes remain");
    let expected: BTreeSet<String> = [
        "beta==2.0rc1+cc",
        "exact==1.0+cc",
        "gamma==1.0+cc",
        "left==1.0+cc",
        "libx==1.0+cc",
        "pre==1.0+cc",
        "right==0.5+cc",
        "shared==1.0+cc",
    ]
    .iter()
    .map(ToString::to_string)
    .collect();
    assert_eq!(ours(&report, "generic", "3.12"), Some(expected));

    let Some(uv) = uv() else {
        eprintln!("skipped the comparison with uv: uv is not on PATH (source ci/install-test-tools.sh)");
        return;
    };
    for list in [
        "exact\nleft\nright\npre\nlibx\n",
        "exact\nlib\n",
        "lib>=1.2\nlibx[fast]\n",
    ] {
        std::fs::write(&requirements, list).unwrap();
        let (_, report) = tree.check_json(&["--resolve", requirements.to_str().unwrap()]);
        for view in ALL_VIEWS {
            for python in ALL_PYTHONS {
                let theirs = uv_compile(&uv, &find_links(&tree.root, view), python, &requirements);
                assert_eq!(
                    ours(&report, view, python),
                    theirs,
                    "{list:?} on {view} with Python {python}"
                );
            }
        }
    }
}

/// A PEP 691 page of `project` in the directory index `root`: (file name, upload time).
fn index_page(root: &Path, project: &str, files: &[(&str, &str)]) {
    let directory = root.join(project);
    std::fs::create_dir_all(&directory).unwrap();
    let files: Vec<Value> = files
        .iter()
        .map(|(name, uploaded)| {
            serde_json::json!({"filename": name, "url": name, "hashes": {}, "upload-time": uploaded})
        })
        .collect();
    let page = serde_json::json!({"meta": {"api-version": "1.1"}, "name": project, "files": files});
    std::fs::write(directory.join("index.json"), page.to_string()).unwrap();
}

#[test]
fn check_names_projects_far_behind_the_index() {
    let tree = Tree::new();
    tree.add("generic", wheel("oldpkg", "1.0+cc", "py3-none-any", &[]));
    tree.add("generic", wheel("freshpkg", "2.0+cc", "py3-none-any", &[]));
    tree.add("generic", wheel("majorpkg", "1.9+cc", "py3-none-any", &[]));
    tree.add("generic", wheel("sitepkg", "0.1+cc", "py3-none-any", &[]));
    let index = tree.directory.path().join("index");
    // 1.0 -> 1.5: 1247 days later; the pre-release and the yanked... are not newer finals.
    index_page(
        &index,
        "oldpkg",
        &[
            ("oldpkg-1.0.tar.gz", "2020-01-01T00:00:00Z"),
            ("oldpkg-1.0-py3-none-any.whl", "2020-01-02T00:00:00Z"),
            ("oldpkg-1.5.tar.gz", "2023-06-01T10:00:00.5Z"),
            ("oldpkg-2.0rc1.tar.gz", "2024-01-01T00:00:00Z"),
        ],
    );
    index_page(
        &index,
        "freshpkg",
        &[
            ("freshpkg-2.0.tar.gz", "2024-01-01T00:00:00Z"),
            ("freshpkg-2.1.tar.gz", "2024-03-01T00:00:00Z"),
        ],
    );
    index_page(
        &index,
        "majorpkg",
        &[
            ("majorpkg-1.9.tar.gz", "2024-01-01T00:00:00Z"),
            ("majorpkg-2.0.tar.gz", "2024-01-11T00:00:00Z"),
        ],
    );
    let (code, report) = tree.check_json(&["--index-url", index.to_str().unwrap()]);
    assert_eq!(code, 0, "stale projects are not holes: {report:#}");
    let stale: Vec<(String, String, String)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|finding| finding["kind"] == "stale")
        .map(|finding| {
            (
                finding["project"].as_str().unwrap().to_string(),
                finding["message"].as_str().unwrap().to_string(),
                finding["fix"]["command"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        stale,
        [
            (
                "majorpkg".to_string(),
                "the newest here is 1.9+cc; the index has 2.0 (released 10 days later, a major version ahead)".to_string(),
                "wheelbuild --package majorpkg --version 2.0".to_string()
            ),
            (
                "oldpkg".to_string(),
                "the newest here is 1.0+cc; the index has 1.5 (released 1247 days later)".to_string(),
                "wheelbuild --package oldpkg --version 1.5".to_string()
            ),
        ]
    );
    // A shorter limit makes freshpkg (60 days behind) stale too.
    let (_, report) = tree.check_json(&["--index-url", index.to_str().unwrap(), "--stale-after", "30"]);
    assert_eq!(report["counts"]["stale"], 3, "{report:#}");
    // An index with none of the projects is the wrong index.
    let empty = tree.directory.path().join("empty-index");
    std::fs::create_dir_all(&empty).unwrap();
    let (code, _, stderr) = tree.check(&["--index-url", empty.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("has none of the wheelhouse's 4 projects"),
        "{stderr}"
    );
    assert!(stderr.contains("hint: check --index-url"), "{stderr}");
}

#[test]
fn only_resolve_answers_a_users_question_whatever_holes_the_rest_of_the_tree_has() {
    let tree = Tree::new();
    // The user's list: `app`, which needs `lib`; both there for every node.
    tree.add(
        "generic",
        wheel("app", "1.0+cc", "py3-none-any", &["Requires-Dist: lib>=1"]),
    );
    tree.add("generic", wheel("lib", "1.2+cc", "py3-none-any", &[]));
    // Elsewhere in the tree: a project whose requirement nobody built.
    tree.add(
        "generic",
        wheel("other", "2.0+cc", "py3-none-any", &["Requires-Dist: nowhere"]),
    );
    let list = tree.directory.path().join("requirements.txt");
    std::fs::write(&list, "app\n").unwrap();
    let list = list.to_str().unwrap();
    // The whole check: the tree's hole makes it exit 1.
    let (code, report) = tree.check_json(&["--python", "3.12", "--resolve", list]);
    assert_eq!(code, 1, "{report}");
    assert!(report["findings"].to_string().contains("nowhere"), "{report}");
    // Only the list: it resolves on every node, so 0, and the tree's hole is not reported.
    let (code, report) = tree.check_json(&["--python", "3.12", "--resolve", list, "--only-resolve"]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["findings"], serde_json::json!([]), "{report}");
    let resolutions = report["resolutions"].as_array().unwrap();
    assert_eq!(resolutions.len(), 3, "every view of the default layer: {report}");
    for resolution in resolutions {
        assert_eq!(resolution["resolved"], true, "{resolution}");
        let names: Vec<&str> = resolution["packages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|package| package["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["app", "lib"], "{resolution}");
    }
    // A list that does not resolve still exits 1.
    let broken = tree.directory.path().join("broken.txt");
    std::fs::write(&broken, "other\n").unwrap();
    let (code, report) = tree.check_json(&[
        "--python",
        "3.12",
        "--resolve",
        broken.to_str().unwrap(),
        "--only-resolve",
    ]);
    assert_eq!(code, 1, "{report}");
    assert_eq!(report["findings"][0]["kind"], "resolution", "{report}");
    // Without --resolve it is refused.
    let (code, _, stderr) = tree.check(&["--only-resolve"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--resolve"), "{stderr}");
}
