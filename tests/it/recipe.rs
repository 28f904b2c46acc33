//! `wheelwright recipe check|show` on the shipped recipes and on broken ones.

use std::path::Path;

use crate::common::{run, wheelwright};

fn repository() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A recipes directory in a temporary directory, with the given files.
fn recipes(files: &[(&str, &str)]) -> tempfile::TempDir {
    let directory = tempfile::tempdir().unwrap();
    let recipes = directory.path().join("recipes");
    std::fs::create_dir_all(recipes.join("patches")).unwrap();
    for (name, text) in files {
        std::fs::write(recipes.join(name), text).unwrap();
    }
    directory
}

#[test]
fn the_shipped_recipes_check() {
    let (code, stdout, stderr) = run(wheelwright().current_dir(repository()).args(["recipe", "check"]));
    assert_eq!(code, 0, "{stdout}{stderr}");
    for name in [
        "biopython",
        "PyYAML",
        "python-dateutil",
        "beautifulsoup4",
        "msgpack",
        "bitarray",
        "scikit-learn",
    ] {
        assert!(
            stdout
                .lines()
                .any(|line| line == format!("ok  recipes/{name}.yaml")),
            "{name}: {stdout}"
        );
    }
    assert!(!stdout.contains("err "), "{stdout}");
    assert!(stdout.trim_end().ends_with(" with errors"), "{stdout}");
}

#[test]
fn broken_recipes_are_each_reported() {
    let directory = recipes(&[
        ("good.yaml", "package: good\nimport_names: [good]\n"),
        (
            "bad-key.yaml",
            "package: bad-key\nimport_names: [x]\nversions:\n  - when: \">=1.0\"\n    importnames: [y]\n",
        ),
        (
            "bad-specifier.yaml",
            "package: bad-specifier\nversions:\n  - when: \">=1.80,<\"\n    test: x = 1\n",
        ),
        (
            "missing-patch.yaml",
            "package: missing-patch\npatches: [fix-build.patch]\n",
        ),
        (
            "bad-requirement.yaml",
            "package: bad-requirement\nrequirements:\n  add: [\"numpy>=1.0\"]\n  update: [\"tensorflow-cpu->tensorflow>=\"]\n",
        ),
        (
            "bad-template.yaml",
            "package: bad-template\npre_build:\n  - ./configure --python={{ pyton }}\n",
        ),
        ("bad-syntax.yaml", "package: bad-syntax\nimport_names: [x, y\n"),
    ]);
    let (code, stdout, stderr) = run(wheelwright()
        .current_dir(directory.path())
        .args(["recipe", "check"]));
    assert_eq!(code, 1, "{stdout}{stderr}");
    let stdout = stdout.replace(&directory.path().display().to_string(), "TMP");
    insta::assert_snapshot!(stdout);
}

/// A recipe with four mistakes at four places: a top-level key misspelt, a top-level-only key
/// in a `versions` entry, a bad `when` and a bad requirement.
const FOUR_MISTAKES: &str = "package: demo
import_names: [demo]
pre_buld:
  - make
versions:
  - when: \">=1.80,<\"
    package: demo
    build_dependencies: [\"numpy >= \"]
";

#[test]
fn every_mistake_of_a_recipe_is_reported_in_one_run() {
    let directory = recipes(&[
        ("demo.yaml", FOUR_MISTAKES),
        ("good.yaml", "package: good\n"),
        ("other.yaml", "package: other\ntest_comand: pytest\n"),
    ]);
    let (code, stdout, stderr) = run(wheelwright()
        .current_dir(directory.path())
        .args(["recipe", "check"]));
    assert_eq!(code, 1, "{stdout}{stderr}");
    insta::assert_snapshot!(stdout);

    // Each error names the file, line, column and key path, in line order.
    let places: Vec<&str> = stdout
        .lines()
        .filter_map(|line| line.strip_prefix("    recipes/demo.yaml:"))
        .map(|rest| {
            let key = rest.find("key `").unwrap() + "key `".len();
            &rest[..key + rest[key..].find('`').unwrap()]
        })
        .collect();
    assert_eq!(
        places,
        [
            "3:1: key `pre_buld",
            "6:11: key `versions[0].when",
            "7:5: key `versions[0].package",
            "8:26: key `versions[0].build_dependencies[0]",
        ]
    );
    // The keys listed for the entry are those of an entry: no `package`, no `versions`.
    let entry_error = stdout
        .lines()
        .find(|line| line.contains("versions[0].package"))
        .unwrap();
    let (_, listed) = entry_error.split_once("(the keys here: ").unwrap();
    let listed: Vec<&str> = listed.trim_end_matches(')').split(", ").collect();
    assert!(
        listed.contains(&"when") && listed.contains(&"extend"),
        "{listed:?}"
    );
    assert!(
        !listed.contains(&"package") && !listed.contains(&"versions"),
        "{listed:?}"
    );

    // --json lists them all as well.
    let (code, stdout, _) = run(wheelwright()
        .current_dir(directory.path())
        .args(["recipe", "check", "--json"]));
    assert_eq!(code, 1);
    let value: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let demo = &value["recipes"][0];
    assert_eq!(demo["path"], "recipes/demo.yaml");
    let lines: Vec<u64> = demo["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|error| error["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [3, 6, 7, 8]);
    assert_eq!(demo["errors"][3]["key"], "versions[0].build_dependencies[0]");
    assert_eq!(value["recipes"][2]["errors"][0]["key"], "test_comand");

    // wheelbuild refuses the recipe with all four errors, before anything is fetched.
    let (code, _, stderr) = run(std::process::Command::new(env!("CARGO_BIN_EXE_wheelbuild"))
        .current_dir(directory.path())
        .env_remove("WHEELWRIGHT_RECIPES")
        .env_remove("WHEELWRIGHT_LAYOUT")
        .args([
            "--package",
            "demo",
            "--version",
            "1.0",
            "--python",
            "3.12",
            "--dry-run",
        ]));
    assert_eq!(code, 1, "{stderr}");
    let stderr = stderr.replace(&directory.path().display().to_string(), "TMP");
    assert!(
        stderr.starts_with(
            "error: 4 errors in TMP/recipes/demo.yaml:\n  TMP/recipes/demo.yaml:3:1: key `pre_buld`"
        ),
        "{stderr}"
    );
    for place in ["demo.yaml:6:11:", "demo.yaml:7:5:", "demo.yaml:8:26:"] {
        assert!(stderr.contains(place), "{place}: {stderr}");
    }
}

#[test]
fn named_files_are_checked_alone() {
    let directory = recipes(&[
        ("good.yaml", "package: good\n"),
        ("wrong-name.yaml", "package: other\n"),
    ]);
    let (code, stdout, _) =
        run(wheelwright()
            .current_dir(directory.path())
            .args(["recipe", "check", "recipes/good.yaml"]));
    assert_eq!(code, 0, "{stdout}");
    assert_eq!(stdout, "ok  recipes/good.yaml\n1 recipe, 0 with errors\n");

    let (code, stdout, _) = run(wheelwright().current_dir(directory.path()).args([
        "recipe",
        "check",
        "recipes/wrong-name.yaml",
        "recipes/absent.yaml",
    ]));
    assert_eq!(code, 1, "{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "err recipes/wrong-name.yaml");
    assert_eq!(
        lines[1],
        "    recipes/wrong-name.yaml:1:10: key `package` = \"other\": the file name `wrong-name` does not match the package (rename the file to `other.yaml`)"
    );
    assert_eq!(lines[2], "err recipes/absent.yaml");
    assert!(lines[3].contains("recipes/absent.yaml"), "{stdout}");
    assert_eq!(lines[4], "2 recipes, 2 with errors");
}

#[test]
fn check_reports_json() {
    let directory = recipes(&[
        ("good.yaml", "package: good\n"),
        ("bad.yaml", "package: bad\nsha256: abc\n"),
    ]);
    let (code, stdout, _) = run(wheelwright().current_dir(directory.path()).args([
        "recipe",
        "check",
        "--json",
        "--recipes",
        "recipes",
    ]));
    assert_eq!(code, 1);
    let value: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(value["ok"], false);
    let bad = &value["recipes"][0];
    assert_eq!(bad["path"], "recipes/bad.yaml");
    assert_eq!(bad["ok"], false);
    assert_eq!(bad["errors"][0]["key"], "sha256");
    assert_eq!(bad["errors"][0]["line"], 2);
    assert_eq!(bad["errors"][0]["column"], 9);
    assert_eq!(
        bad["errors"][0]["message"],
        "recipes/bad.yaml:2:9: key `sha256` = \"abc\": a sha256 is 64 hexadecimal digits (this is 3 characters)"
    );
    assert_eq!(value["recipes"][1]["package"], "good");
    assert_eq!(value["recipes"][1]["ok"], true);
}

#[test]
fn a_missing_recipes_directory_is_an_error() {
    let directory = tempfile::tempdir().unwrap();
    let (code, stdout, _) =
        run(wheelwright()
            .current_dir(directory.path())
            .args(["recipe", "check", "--recipes", "nowhere"]));
    assert_eq!(code, 1);
    assert!(stdout.starts_with("error: "), "{stdout}");
    assert!(stdout.contains("nowhere"), "{stdout}");
}

#[test]
fn show_resolves_a_shipped_recipe_for_a_version() {
    let (code, stdout, stderr) = run(wheelwright().current_dir(repository()).args([
        "recipe",
        "show",
        "Scikit_Learn",
        "--version",
        "1.4.2",
        "--python",
        "3.11",
    ]));
    assert_eq!(code, 0, "{stderr}");
    let value: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(value["package"], "scikit-learn");
    assert_eq!(value["import_names"], serde_json::json!(["sklearn"]));
    assert_eq!(
        value["build_dependencies"],
        serde_json::json!(["numpy", "scipy", "cython", "setuptools", "wheel"])
    );
    assert_eq!(value["environment"]["SKLEARN_BUILD_PARALLEL"], "4");
    assert_eq!(value["skip_python"], serde_json::json!(["3.13"]));
    assert_eq!(value["source"], serde_json::json!({"kind": "pypi"}));
}

#[test]
fn show_renders_templates_with_the_layout_arch() {
    let directory = recipes(&[(
        "demo.yaml",
        "package: demo\nenvironment:\n  FLAGS: \"{{ cflags }}\"\n  WHERE: \"{{ layer }}/{{ arch }}/{{ march }}/py{{ python }}\"\nsource:\n  git: https://github.com/example/demo\n  rev: \"v{{ version }}\"\n",
    )]);
    let (code, stdout, stderr) = run(wheelwright().current_dir(directory.path()).args([
        "recipe",
        "show",
        "demo",
        "--version",
        "2.0",
        "--arch",
        "generic",
    ]));
    assert_eq!(code, 0, "{stderr}");
    let value: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(value["environment"]["FLAGS"], "-march=x86-64 -mtune=generic");
    assert_eq!(value["environment"]["WHERE"], "gentoo2023/generic/x86-64/py3.12");
    assert_eq!(
        value["source"],
        serde_json::json!({"kind": "git", "url": "https://github.com/example/demo", "rev": "v2.0"})
    );

    let (code, _, stderr) = run(wheelwright().current_dir(directory.path()).args([
        "recipe",
        "show",
        "demo",
        "--version",
        "2.0",
        "--arch",
        "avx9",
    ]));
    assert_eq!(code, 1);
    assert!(stderr.contains("--arch avx9"), "{stderr}");
}

#[test]
fn show_without_a_version_prints_the_recipe_as_written() {
    let (code, stdout, stderr) =
        run(wheelwright()
            .current_dir(repository())
            .args(["recipe", "show", "scikit-learn"]));
    assert_eq!(code, 0, "{stderr}");
    let value: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(value["file"], "recipes/scikit-learn.yaml");
    assert_eq!(value["versions"][0]["when"], "<1.5");
    assert_eq!(value["versions"][1]["skip_python"], serde_json::json!(["3.13"]));
}

#[test]
fn show_gives_defaults_for_a_package_without_a_recipe() {
    let (code, stdout, stderr) =
        run(wheelwright()
            .current_dir(repository())
            .args(["recipe", "show", "six", "--version", "1.17.0"]));
    assert_eq!(code, 0, "{stderr}");
    let value: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(value["package"], "six");
    assert_eq!(value["file"], serde_json::Value::Null);
    assert_eq!(value["import_names"], serde_json::json!([]));
}

#[test]
fn show_reports_errors_found_only_for_a_version() {
    let directory = recipes(&[(
        "demo.yaml",
        "package: demo\nversions:\n  - when: \">=2\"\n    patches: [\"demo-{{ version }}.patch\"]\n",
    )]);
    let (code, stdout, _) = run(wheelwright()
        .current_dir(directory.path())
        .args(["recipe", "check"]));
    assert_eq!(code, 0, "{stdout}");
    let (code, _, stderr) =
        run(wheelwright()
            .current_dir(directory.path())
            .args(["recipe", "show", "demo", "--version", "2.1"]));
    assert_eq!(code, 1);
    let stderr = stderr.replace(&directory.path().display().to_string(), "TMP");
    assert_eq!(
        stderr,
        "error: recipes/demo.yaml:4:15: key `versions[0].patches[0]` = \"demo-2.1.patch\": no such patch file: TMP/recipes/patches/demo-2.1.patch\n"
    );
    std::fs::write(directory.path().join("recipes/patches/demo-2.1.patch"), "").unwrap();
    let (code, stdout, stderr) =
        run(wheelwright()
            .current_dir(directory.path())
            .args(["recipe", "show", "demo", "--version", "2.1"]));
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("patches/demo-2.1.patch"), "{stdout}");
}

#[test]
fn a_layout_can_name_the_recipes_directory() {
    // A site keeps its recipes beside its layout: `recipes = "site-recipes"` is taken from the
    // layout file's directory, by `recipe show`/`check` and by `wheelbuild`.
    let directory = tempfile::tempdir().unwrap();
    let site = directory.path().join("site");
    std::fs::create_dir_all(site.join("site-recipes")).unwrap();
    std::fs::write(
        site.join("site-recipes/demo-pkg.yaml"),
        "package: demo-pkg\nimport_names: [demo]\n",
    )
    .unwrap();
    let layout = std::fs::read_to_string(repository().join("wheelhouse-layout.toml")).unwrap();
    std::fs::write(
        site.join("layout.toml"),
        format!("recipes = \"site-recipes\"\n{layout}"),
    )
    .unwrap();
    let elsewhere = directory.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let (code, stdout, stderr) = run(wheelwright()
        .current_dir(&elsewhere)
        .env_remove("WHEELWRIGHT_RECIPES")
        .env("WHEELWRIGHT_LAYOUT", site.join("layout.toml"))
        .args(["recipe", "show", "demo_pkg"]));
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("\"demo\""), "{stdout}");
    let (code, stdout, stderr) = run(wheelwright()
        .current_dir(&elsewhere)
        .env_remove("WHEELWRIGHT_RECIPES")
        .env("WHEELWRIGHT_LAYOUT", site.join("layout.toml"))
        .args(["recipe", "check"]));
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("demo-pkg.yaml"), "{stdout}");
    let (code, stdout, stderr) = run(std::process::Command::new(env!("CARGO_BIN_EXE_wheelbuild"))
        .current_dir(&elsewhere)
        .env_remove("WHEELWRIGHT_RECIPES")
        .env("WHEELWRIGHT_LAYOUT", site.join("layout.toml"))
        .args([
            "--package",
            "demo-pkg",
            "--version",
            "1.0",
            "--python",
            "3.12",
            "--dry-run",
        ]));
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("(recipe found)"), "{stdout}");
    // A layout naming a directory that does not exist is an error, not the defaults.
    std::fs::write(
        site.join("broken.toml"),
        format!("recipes = \"no-such-recipes\"\n{layout}"),
    )
    .unwrap();
    let (code, _, stderr) = run(std::process::Command::new(env!("CARGO_BIN_EXE_wheelbuild"))
        .current_dir(&elsewhere)
        .env_remove("WHEELWRIGHT_RECIPES")
        .env("WHEELWRIGHT_LAYOUT", site.join("broken.toml"))
        .args([
            "--package",
            "demo-pkg",
            "--version",
            "1.0",
            "--python",
            "3.12",
            "--dry-run",
        ]));
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("no-such-recipes"), "{stderr}");
}
