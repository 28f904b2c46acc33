//! `wheelwright check` on a small real wheelhouse: wheels from PyPI (requests, flask and
//! their requirements), labelled with `wheelwright manipulate` and placed by `cp-wheels`, with
//! holes made on purpose — charset-normalizer for 3.11 and 3.12 only (a requirement missing
//! for one Python), MarkupSafe only in `gentoo2023/x86-64-v3` (missing for one arch), click
//! 8.0.4 where flask wants `click>=8.1.3` (a pin the wheelhouse cannot meet), itsdangerous
//! made to require `requests[socks]` (an extra whose requirement, PySocks, is missing) — and
//! requirements excluded by markers (click's colorama on Windows, flask's importlib-metadata
//! before 3.10) or by extras nobody asks for. The check finds exactly those holes, and the
//! resolution of small lists agrees with `uv pip compile --no-index --find-links` per node
//! view and Python.
//!
//! Needs PyPI (pip download), CPython 3.12 under pyenv and uv (`source
//! ci/install-test-tools.sh`): CI's slow step runs it with `--ignored`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::check::{ours, uv_compile};
use crate::real_wheels::{command, python312, run_ok, target_dir, uv};

/// The wheel of `spec` for CPython `python` on manylinux_2_17_x86_64, from the test cache or
/// downloaded with pip.
fn fetch(spec: &str, python: &str, prefix: &str) -> PathBuf {
    let cache = target_dir().join("test-cache/check-wheels");
    fs_err::create_dir_all(&cache).unwrap();
    let found = |directory: &Path| {
        fs_err::read_dir(directory)
            .unwrap()
            .flatten()
            .map(|entry| entry.path())
            .find(|path| {
                path.file_name()
                    .and_then(|name| name.to_str())
                    .is_some_and(|name| name.to_lowercase().starts_with(prefix) && name.ends_with(".whl"))
            })
    };
    if let Some(wheel) = found(&cache) {
        return wheel;
    }
    let download = tempfile::Builder::new()
        .prefix(".download-")
        .tempdir_in(&cache)
        .unwrap();
    run_ok(
        spec,
        "pip download",
        command(python312())
            .args(["-m", "pip", "download", "--no-deps", "--only-binary", ":all:"])
            .args(["--python-version", python, "--platform", "manylinux_2_17_x86_64"])
            .arg(spec)
            .arg("-d")
            .arg(download.path()),
    );
    let downloaded =
        found(download.path()).unwrap_or_else(|| panic!("pip download of {spec} left no {prefix}*.whl"));
    let destination = cache.join(downloaded.file_name().unwrap());
    fs_err::rename(&downloaded, &destination).unwrap();
    destination
}

fn wheelwright(layout: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_wheelwright"));
    command
        .env_remove("WHEELWRIGHT_LAYOUT")
        .env_remove("RUST_LOG")
        .arg("--layout")
        .arg(layout);
    command
}

/// Labels `wheel` (and retags a compiled one `linux_x86_64`, as the site does), with
/// `extra` manipulate arguments, and places it with cp-wheels (`place`: its extra arguments).
fn stage(layout: &Path, staging: &Path, wheel: &Path, extra: &[&str], place: &[&str]) {
    let label = wheel.file_name().unwrap().to_string_lossy().into_owned();
    let output = staging.join(label.replace(".whl", ""));
    fs_err::create_dir_all(&output).unwrap();
    let mut manipulate = wheelwright(layout);
    manipulate
        .args(["manipulate", "--insert-local-version", "-o"])
        .arg(&output)
        .args(extra);
    if !label.ends_with("-none-any.whl") {
        manipulate.args(["--retag", "*-*-linux_x86_64"]);
    }
    run_ok(&label, "manipulate", manipulate.arg(wheel));
    let labelled = fs_err::read_dir(&output)
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    run_ok(
        &label,
        "cp-wheels",
        Command::new(env!("CARGO_BIN_EXE_cp-wheels"))
            .env_remove("WHEELWRIGHT_LAYOUT")
            .arg("--layout")
            .arg(layout)
            .args(place)
            .arg("--wheel")
            .arg(&labelled),
    );
}

/// The holes of a report as (requiring project, required project, arch, Python).
fn holes(report: &Value) -> BTreeSet<(String, String, String, String)> {
    let mut found = BTreeSet::new();
    for finding in report["findings"].as_array().unwrap() {
        if finding["kind"] != "closure" {
            continue;
        }
        let wheel = finding["wheel"].as_str().unwrap();
        let requirer = wheel
            .rsplit('/')
            .next()
            .unwrap()
            .split('-')
            .next()
            .unwrap()
            .to_lowercase();
        for node in finding["nodes"].as_array().unwrap() {
            found.insert((
                requirer.clone(),
                finding["project"].as_str().unwrap().to_string(),
                node["arch"].as_str().unwrap().to_string(),
                node["python"].as_str().unwrap().to_string(),
            ));
        }
    }
    found
}

const VIEWS: [&str; 3] = ["generic", "x86-64-v3", "x86-64-v4"];
const PYTHONS: [&str; 3] = ["3.11", "3.12", "3.13"];

#[test]
#[ignore = "needs PyPI and uv; run in CI's slow step with --ignored"]
fn check_finds_the_holes_of_a_real_wheelhouse_and_resolves_as_uv_does() {
    let uv = uv();
    let directory = tempfile::tempdir().unwrap();
    let root = directory.path().join("tree");
    let layout = directory.path().join("layout.toml");
    let text =
        fs_err::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("wheelhouse-layout.toml")).unwrap();
    let text = text.replacen(
        "root = \"wheelhouse\"",
        &format!("root = {:?}", root.display().to_string()),
        1,
    );
    assert!(
        text.contains(&root.display().to_string()),
        "the shipped layout's root line changed"
    );
    fs_err::write(&layout, text).unwrap();
    let staging = directory.path().join("staging");

    for (spec, prefix) in [
        ("requests==2.32.3", "requests-2.32.3-"),
        ("idna==3.10", "idna-3.10-"),
        ("urllib3==2.2.3", "urllib3-2.2.3-"),
        ("certifi==2024.8.30", "certifi-2024.8.30-"),
        ("flask==3.0.3", "flask-3.0.3-"),
        ("werkzeug==3.0.6", "werkzeug-3.0.6-"),
        ("jinja2==3.1.4", "jinja2-3.1.4-"),
        ("blinker==1.8.2", "blinker-1.8.2-"),
        ("click==8.0.4", "click-8.0.4-"),
    ] {
        stage(&layout, &staging, &fetch(spec, "3.12", prefix), &[], &[]);
    }
    // An extra whose requirement is missing: itsdangerous made to ask for requests[socks].
    let itsdangerous = fetch("itsdangerous==2.2.0", "3.12", "itsdangerous-2.2.0-");
    stage(
        &layout,
        &staging,
        &itsdangerous,
        &["--add-req", "requests[socks]>=2"],
        &[],
    );
    // A requirement missing for one Python: no charset-normalizer for 3.13.
    for (python, tag) in [("3.11", "cp311"), ("3.12", "cp312")] {
        let prefix = format!("charset_normalizer-3.4.0-{tag}-");
        stage(
            &layout,
            &staging,
            &fetch("charset-normalizer==3.4.0", python, &prefix),
            &[],
            &[],
        );
    }
    // A requirement missing for one arch: MarkupSafe only for x86-64-v3 (and v4) nodes.
    for (python, tag) in [("3.11", "cp311"), ("3.12", "cp312"), ("3.13", "cp313")] {
        let prefix = format!("markupsafe-3.0.2-{tag}-");
        let wheel = fetch("markupsafe==3.0.2", python, &prefix);
        stage(
            &layout,
            &staging,
            &wheel,
            &[],
            &["--layer", "gentoo2023", "--arch", "x86-64-v3"],
        );
    }
    assert!(root.join("gentoo2023/x86-64-v3").read_dir().unwrap().count() == 3);

    let cache = directory.path().join("cache");
    let check = |args: &[&str]| -> (i32, Value) {
        let output = wheelwright(&layout)
            .args(["check", "--layer", "gentoo2023", "--json", "--cache-dir"])
            .arg(&cache)
            .args(args)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let report = serde_json::from_str(&stdout)
            .unwrap_or_else(|error| panic!("{error}\n{stdout}{}", String::from_utf8_lossy(&output.stderr)));
        (output.status.code().unwrap(), report)
    };
    let (code, report) = check(&[]);
    assert_eq!(code, 1, "{report:#}");
    let mut expected = BTreeSet::new();
    let mut add = |requirer: &str, project: &str, views: &[&str], pythons: &[&str]| {
        for view in views {
            for python in pythons {
                expected.insert((
                    requirer.to_string(),
                    project.to_string(),
                    view.to_string(),
                    python.to_string(),
                ));
            }
        }
    };
    add("requests", "charset-normalizer", &VIEWS, &["3.13"]);
    add("jinja2", "markupsafe", &["generic"], &PYTHONS);
    add("werkzeug", "markupsafe", &["generic"], &PYTHONS);
    add("flask", "click", &VIEWS, &PYTHONS);
    add("requests", "pysocks", &VIEWS, &PYTHONS);
    assert_eq!(holes(&report), expected, "{report:#}");
    // Nothing else: no resolution was asked for, and these wheels agree with each other.
    let kinds: BTreeSet<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|finding| finding["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, BTreeSet::from(["closure"]), "{report:#}");
    let click = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|finding| finding["project"] == "click")
        .unwrap();
    assert_eq!(click["instead"]["text"], "8.0.4+computecanada present");
    assert_eq!(
        click["fix"]["command"],
        "wheelbuild --package click --version '>=8.1.3' --python 3.11,3.12,3.13 --recursive"
    );

    let requirements = directory.path().join("requirements.txt");
    for list in [
        "requests\njinja2\nclick\n",
        "flask\n",
        "itsdangerous\n",
        "werkzeug\ncharset-normalizer\n",
    ] {
        fs_err::write(&requirements, list).unwrap();
        let (_, report) = check(&["--resolve", requirements.to_str().unwrap()]);
        for view in VIEWS {
            let mut dirs = vec![format!("gentoo2023/{view}")];
            if view == "x86-64-v4" {
                dirs.push("gentoo2023/x86-64-v3".to_string());
            }
            if view != "generic" {
                dirs.push("gentoo2023/generic".to_string());
            }
            dirs.push("generic".to_string());
            let links: Vec<String> = dirs
                .iter()
                .filter(|dir| root.join(dir).is_dir())
                .flat_map(|dir| ["--find-links".to_string(), root.join(dir).display().to_string()])
                .collect();
            for python in PYTHONS {
                let theirs = uv_compile(&uv, &links, python, &requirements);
                assert_eq!(
                    ours(&report, view, python),
                    theirs,
                    "{list:?} on gentoo2023/{view} with Python {python}"
                );
            }
        }
    }
}
