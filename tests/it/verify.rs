//! `wheelwright verify` on good wheels and on every kind of damage.

use crate::common::{WheelSpec, patch_bytes, run, wheelwright};

#[test]
fn a_correct_wheel_verifies() {
    let directory = tempfile::tempdir().unwrap();
    let wheel = WheelSpec::new("demo", "1.0").write(directory.path());
    let (code, stdout, stderr) = run(wheelwright().arg("verify").arg(&wheel));
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.starts_with("ok "), "{stdout}");
    assert!(stdout.contains("(4 files"), "{stdout}");
}

#[test]
fn hash_size_and_listing_problems_are_each_named() {
    let directory = tempfile::tempdir().unwrap();
    let mut spec = WheelSpec::new("demo", "1.0");
    spec.unlisted
        .push(("demo/sneaky.py".into(), b"import os\n".to_vec()));
    spec.extra_record_rows
        .push("demo/gone.py,sha256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU,0".into());
    spec.wrong_hash_for.push("demo/data,with \"comma\".txt".into());
    spec.write(directory.path());
    let (code, stdout, _) = run(wheelwright()
        .current_dir(directory.path())
        .args(["verify", "demo-1.0-py3-none-any.whl"]));
    assert_eq!(code, 1);
    insta::assert_snapshot!(stdout);
}

#[test]
fn wheel_tag_lines_must_match_the_filename() {
    let directory = tempfile::tempdir().unwrap();
    let mut spec = WheelSpec::new("demo", "1.0");
    spec.wheel = spec
        .wheel
        .replace("Tag: py3-none-any", "Tag: cp312-cp312-linux_x86_64");
    let wheel = spec.write(directory.path());
    let (code, stdout, _) = run(wheelwright().arg("verify").arg(&wheel));
    assert_eq!(code, 1);
    assert!(
        stdout
            .contains("WHEEL lists the tags [cp312-cp312-linux_x86_64] but the filename says [py3-none-any]"),
        "{stdout}"
    );
}

#[test]
fn verify_reports_json() {
    let directory = tempfile::tempdir().unwrap();
    let wheel = WheelSpec::new("demo", "1.0").write(directory.path());
    let (code, stdout, _) = run(wheelwright().arg("verify").arg("--json").arg(&wheel));
    assert_eq!(code, 0);
    let value: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(value[0]["ok"], true);
    assert_eq!(value[0]["report"]["files_checked"], 4);
}

#[test]
fn a_damaged_entry_is_an_error_naming_it() {
    let directory = tempfile::tempdir().unwrap();
    let mut spec = WheelSpec::new("demo", "1.0");
    spec.stored = true;
    let wheel = spec.write(directory.path());
    // Same length, other bytes: the zip CRC no longer matches.
    patch_bytes(&wheel, "odd name\n", "odd NAME\n");
    let (code, stdout, stderr) = run(wheelwright()
        .current_dir(directory.path())
        .args(["verify", "demo-1.0-py3-none-any.whl"]));
    assert_eq!(code, 1, "{stdout}");
    assert_eq!(stderr, "");
    insta::assert_snapshot!(stdout);
}

#[test]
fn a_file_that_is_no_wheel_gets_its_reason_on_its_own_failed_line() {
    let directory = tempfile::tempdir().unwrap();
    let wheel = WheelSpec::new("demo", "1.0").write(directory.path());
    std::fs::write(directory.path().join("notes.txt"), "not a wheel").unwrap();
    std::fs::write(directory.path().join("broken-1.0-py3-none-any.whl"), "not a zip").unwrap();
    let mut spec = WheelSpec::new("other", "1.0");
    spec.wrong_hash_for.push("other/__init__.py".into());
    let damaged = spec.write(directory.path());
    let (code, stdout, stderr) = run(wheelwright()
        .current_dir(directory.path())
        .arg("verify")
        .arg(&wheel)
        .arg("notes.txt")
        .arg("broken-1.0-py3-none-any.whl")
        .arg(&damaged));
    assert_eq!(code, 1, "{stdout}{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    // Each failure is on stdout with its wheel, the reason indented below it.
    let notes = lines
        .iter()
        .position(|line| *line == "FAILED  notes.txt")
        .expect(&stdout);
    assert!(
        lines[notes + 1].starts_with("  - the wheel filename `notes.txt` is invalid"),
        "{stdout}"
    );
    let broken = lines
        .iter()
        .position(|line| *line == "FAILED  broken-1.0-py3-none-any.whl")
        .expect(&stdout);
    assert!(lines[broken + 1].starts_with("  - "), "{stdout}");
    assert!(
        stdout.contains("(1 problem)"),
        "one problem is singular: {stdout}"
    );
    assert!(
        !stderr.contains("notes.txt"),
        "the reasons are not split off to stderr: {stderr}"
    );
}
