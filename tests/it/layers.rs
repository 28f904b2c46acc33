//! An unknown `--layer` is refused, naming the layout's layers, by every command that takes
//! one (avail, pip-config and index have their own tests).

use std::process::Command;

use crate::common::{run, wheelwright};

fn binary(name: &str) -> Command {
    let path = match name {
        "wheelbuild" => env!("CARGO_BIN_EXE_wheelbuild"),
        "cp-wheels" => env!("CARGO_BIN_EXE_cp-wheels"),
        _ => env!("CARGO_BIN_EXE_wheelwright"),
    };
    let mut command = Command::new(path);
    command.env_remove("WHEELWRIGHT_LAYOUT").env_remove("RUST_LOG");
    command
}

const KNOWN: &str = "(it has: gentoo, gentoo2020, gentoo2023, nix)";

#[test]
fn an_unknown_layer_is_refused_with_the_known_ones() {
    let directory = tempfile::tempdir().unwrap();
    let recipes = directory.path().join("recipes");
    std::fs::create_dir(&recipes).unwrap();
    let cases: Vec<(&str, Vec<&str>)> = vec![
        (
            "wheelwright",
            vec!["recipe", "show", "six", "--layer", "gentoo2032"],
        ),
        (
            "wheelwright",
            vec![
                "recipe",
                "show",
                "six",
                "--version",
                "1.17.0",
                "--layer",
                "gentoo2032",
            ],
        ),
        (
            "wheelbuild",
            vec!["--package", "six", "--layer", "gentoo2032", "--dry-run"],
        ),
        (
            "wheelwright",
            vec!["adopt", "--package", "six", "--layer", "gentoo2032", "--dry-run"],
        ),
    ];
    for (program, args) in cases {
        let (code, stdout, stderr) = run(binary(program)
            .current_dir(directory.path())
            .env("WHEELWRIGHT_RECIPES", &recipes)
            .args(&args));
        assert_eq!(code, 1, "{program} {args:?}: {stdout}{stderr}");
        assert!(
            stderr.contains(&format!(
                "--layer gentoo2032: the layout <embedded wheelhouse-layout.toml> has no such layer {KNOWN}"
            )),
            "{program} {args:?}: {stderr}"
        );
        assert!(stdout.is_empty(), "{program} {args:?}: {stdout}");
    }
    // A known one is taken.
    let (code, _, stderr) = run(wheelwright()
        .current_dir(directory.path())
        .env("WHEELWRIGHT_RECIPES", &recipes)
        .args(["recipe", "show", "six", "--layer", "gentoo2020"]));
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn cp_wheels_refuses_an_unknown_or_deprecated_layer_before_looking_for_wheels() {
    // No wheel at all: before, this said "nothing to do" and exited 0.
    let directory = tempfile::tempdir().unwrap();
    let (code, _, stderr) =
        run(binary("cp-wheels")
            .current_dir(directory.path())
            .args(["--layer", "gentoo2032", "-n"]));
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(
            "--layer gentoo2032: the layout <embedded wheelhouse-layout.toml> has no such layer (it has: gentoo2020, gentoo2023)"
        ),
        "{stderr}"
    );
    let (code, _, stderr) = run(binary("cp-wheels")
        .current_dir(directory.path())
        .args(["--layer", "nix", "-n"]));
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("--layer nix: the layer is deprecated"),
        "{stderr}"
    );
    let (code, _, stderr) = run(binary("cp-wheels")
        .current_dir(directory.path())
        .args(["--arch", "avx3", "-n"]));
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("--arch avx3: the layout"), "{stderr}");
    // A known layer with nothing to stage is still nothing to do.
    let (code, _, stderr) =
        run(binary("cp-wheels")
            .current_dir(directory.path())
            .args(["--layer", "gentoo2023", "-n"]));
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("nothing to do"), "{stderr}");
}
