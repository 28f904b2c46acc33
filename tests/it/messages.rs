//! How errors and warnings read: one style (`error:`, `warning:`, `hint:`), no cause said
//! twice, and the places looked at named when something is missing.

use crate::common::{WheelSpec, run, wheelwright};

#[test]
fn a_missing_nightly_configuration_is_said_once() {
    let directory = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = run(wheelwright()
        .current_dir(directory.path())
        .args(["nightly", "plan"]));
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stderr.starts_with("error: cannot read the nightly configuration"),
        "{stderr}"
    );
    assert!(stderr.contains("ci/nightly.toml"), "{stderr}");
    assert!(
        !stderr.contains("caused by"),
        "the cause is already in the message: {stderr}"
    );
    assert_eq!(stderr.matches("No such file or directory").count(), 1, "{stderr}");
}

#[test]
fn recipe_check_without_a_recipes_directory_names_every_place_looked_at() {
    let directory = tempfile::tempdir().unwrap();
    let (code, _, stderr) = run(wheelwright()
        .current_dir(directory.path())
        .env_remove("WHEELWRIGHT_RECIPES")
        .args(["recipe", "check"]));
    assert_eq!(code, 1, "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines[0],
        "error: no recipes directory: no --recipes, no $WHEELWRIGHT_RECIPES, no `recipes` key in the layout, and no ./recipes here"
    );
    assert!(
        lines[1].starts_with("hint: name one with --recipes DIR"),
        "{stderr}"
    );
}

#[test]
fn warnings_read_like_errors() {
    let directory = tempfile::tempdir().unwrap();
    let wheel = WheelSpec::new("demo", "1.0").write(directory.path());
    let output = directory.path().join("out");
    let (code, stdout, stderr) = run(wheelwright()
        .args(["manipulate", "--remove-req", "nosuchthing", "-o"])
        .arg(&output)
        .arg(&wheel));
    assert_eq!(code, 0, "{stdout}{stderr}");
    let warning = stderr
        .lines()
        .find(|line| line.contains("no requirement matches `nosuchthing`"))
        .expect(&stderr);
    assert!(
        warning.starts_with("warning: "),
        "one style for warnings: {stderr}"
    );
    assert!(!stderr.contains(" WARN "), "{stderr}");
}

#[test]
fn a_layout_file_named_by_the_environment_says_so_when_it_is_missing() {
    let directory = tempfile::tempdir().unwrap();
    let missing = directory.path().join("site-layout.toml");
    let (code, _, stderr) = run(wheelwright().env("WHEELWRIGHT_LAYOUT", &missing).arg("avail"));
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.starts_with(&format!(
            "error: cannot read the layout named by $WHEELWRIGHT_LAYOUT: failed to open file `{}`",
            missing.display()
        )),
        "{stderr}"
    );
    assert_eq!(
        stderr.matches(&missing.display().to_string()).count(),
        1,
        "the path once: {stderr}"
    );
    let (_, _, stderr) = run(wheelwright().arg("--layout").arg(&missing).arg("avail"));
    assert!(
        stderr.starts_with("error: cannot read the layout named by --layout: "),
        "{stderr}"
    );
}

#[test]
fn avail_prints_no_table_header_over_nothing() {
    let directory = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(directory.path().join("wheelhouse/generic")).unwrap();
    let (code, stdout, stderr) = run(wheelwright().current_dir(directory.path()).args([
        "avail",
        "--arch",
        "generic",
        "nosuchproject",
    ]));
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert_eq!(stdout, "", "nothing matched, nothing on stdout");
    assert!(stderr.contains("no wheel matches nosuchproject"), "{stderr}");
}

#[test]
fn cp_wheels_names_each_wheel_it_skips() {
    let directory = tempfile::tempdir().unwrap();
    let staging = directory.path().join("staging");
    std::fs::create_dir_all(&staging).unwrap();
    WheelSpec::new("demo", "1.0").write(&staging);
    WheelSpec::new("other", "2.0").write(&staging);
    let (_, stdout, stderr) = run(crate::cp_wheels::cp_wheels()
        .current_dir(directory.path())
        .args(["--dry-run", "--from"])
        .arg(&staging));
    let warning = stderr
        .lines()
        .find(|line| line.starts_with("warning: skipped 2 wheels in"))
        .unwrap_or_else(|| panic!("{stdout}{stderr}"));
    assert!(
        warning.ends_with(
            "without the local version label `+computecanada`: demo-1.0-py3-none-any.whl, other-2.0-py3-none-any.whl"
        ),
        "{warning}"
    );
}
