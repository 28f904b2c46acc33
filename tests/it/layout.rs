//! `wheelwright layout` through the binary: `show` prints the layout in force and names it.

use crate::common::{run, wheelwright};

/// The first line of `layout show`, and the rest, which must parse as TOML.
fn shown(command: &mut std::process::Command) -> (String, String) {
    let (code, stdout, stderr) = run(command.args(["layout", "show"]));
    assert_eq!(code, 0, "{stderr}");
    let (first, rest) = stdout.split_once('\n').expect("more than one line");
    toml::from_str::<toml::Table>(&stdout).unwrap_or_else(|error| panic!("not TOML: {error}\n{stdout}"));
    (first.to_string(), rest.to_string())
}

#[test]
fn show_prints_the_layout_in_force_and_says_which() {
    let directory = tempfile::tempdir().unwrap();
    let embedded = include_str!("../../wheelhouse-layout.toml");
    // No --layout, no $WHEELWRIGHT_LAYOUT: the embedded one.
    let (first, rest) = shown(&mut wheelwright());
    assert_eq!(
        first,
        "# layout: <embedded wheelhouse-layout.toml> (no --layout, $WHEELWRIGHT_LAYOUT unset)"
    );
    assert_eq!(rest.trim_end(), embedded.trim_end());

    // --layout FILE: that file, as written.
    let site = directory.path().join("site.toml");
    let site_text = embedded.replace(
        "local_version_label = \"computecanada\"",
        "local_version_label = \"mysite\"",
    );
    assert_ne!(site_text, embedded, "the label line is in the embedded layout");
    std::fs::write(&site, &site_text).unwrap();
    let (first, rest) = shown(wheelwright().arg("--layout").arg(&site));
    assert_eq!(first, format!("# layout: {} (from --layout)", site.display()));
    assert_eq!(rest.trim_end(), site_text.trim_end());

    // $WHEELWRIGHT_LAYOUT, and --layout over it.
    let other = directory.path().join("other.toml");
    std::fs::write(&other, embedded).unwrap();
    let (first, rest) = shown(wheelwright().env("WHEELWRIGHT_LAYOUT", &site));
    assert_eq!(
        first,
        format!("# layout: {} (from $WHEELWRIGHT_LAYOUT)", site.display())
    );
    assert!(rest.contains("\"mysite\""), "{rest}");
    let (first, _) = shown(
        wheelwright()
            .env("WHEELWRIGHT_LAYOUT", &site)
            .arg("--layout")
            .arg(&other),
    );
    assert_eq!(first, format!("# layout: {} (from --layout)", other.display()));

    // A file that cannot be read is an error naming it.
    let (code, _, stderr) = run(wheelwright()
        .arg("--layout")
        .arg(directory.path().join("missing.toml"))
        .args(["layout", "show"]));
    assert_eq!(code, 1);
    assert!(stderr.contains("missing.toml"), "{stderr}");
}
