//! A site's set always holds packages that cannot be planned: each is set aside with its
//! state and real cause, what needs it is `dependency-failed`, every other package goes on,
//! and the exit status says something failed. What is wrong with the site itself is found
//! before any index query.

use std::path::{Path, PathBuf};

use crate::common::{WheelSpec, run, wheelwright};
use crate::index::{LocalIndex, sdist};

/// The embedded layout with Lmod and an (empty) module tree beside it; `extra` is appended.
fn lmod_layout(directory: &Path, extra: &str) -> PathBuf {
    std::fs::create_dir_all(directory.join("modules")).unwrap();
    let layout = directory.join("layout.toml");
    std::fs::write(
        &layout,
        format!(
            "{}\n[modules]\nsystem = \"lmod\"\nmodulepath = [\"modules\"]\n{extra}",
            wheelwright::layout::EMBEDDED_LAYOUT
        ),
    )
    .unwrap();
    layout
}

fn write_recipe(directory: &Path, name: &str, text: &str) {
    let recipes = directory.join("recipes");
    std::fs::create_dir_all(&recipes).unwrap();
    std::fs::write(
        recipes.join(format!("{name}.yaml")),
        format!("package: {name}\n{text}"),
    )
    .unwrap();
}

fn config(directory: &Path, packages: &[&str], index: &str) -> PathBuf {
    let names: Vec<String> = packages.iter().map(|name| format!("{name:?}")).collect();
    let config = directory.join("nightly.toml");
    std::fs::write(
        &config,
        format!(
            "packages = [{}]\nrecipes = \"recipes\"\nindex_url = \"{index}\"\n[matrix]\npythons = [\"3.12\"]\narchs = [\"generic\"]\n[paths]\ncache = \"cache\"\n",
            names.join(", ")
        ),
    )
    .unwrap();
    config
}

fn plan(layout: &Path, config: &Path, json: bool) -> (i32, String, String) {
    let mut command = wheelwright();
    command
        .env("NO_PROXY", "127.0.0.1")
        .env_remove("PIP_INDEX_URL")
        .env_remove("UV_INDEX_URL")
        .arg("--layout")
        .arg(layout)
        .args(["nightly", "plan", "--config"])
        .arg(config);
    if json {
        command.arg("--json");
    }
    run(&mut command)
}

#[test]
fn every_package_that_cannot_be_planned_is_set_aside_with_its_cause_and_the_rest_goes_on() {
    let directory = tempfile::tempdir().unwrap();
    let root = directory.path();
    let index = LocalIndex::start(&root.join("index"));
    index.publish(
        "purepkg",
        &[sdist("purepkg", "purepkg", "0.1.0", root)],
        None,
        true,
    );
    index.publish(
        "depuser",
        &[sdist("depuser", "depuser", "0.2.0", root)],
        None,
        true,
    );
    // A project whose only release is a wheel: nothing to build from.
    let mut wheel = WheelSpec::new("wheelonly", "2.0");
    wheel.tags = "cp312-cp312-manylinux_2_28_x86_64".into();
    std::fs::create_dir_all(root.join("wheels")).unwrap();
    index.publish("wheelonly", &[wheel.write(&root.join("wheels"))], None, true);
    // A project whose newest release is only a wheel: the older sdist is built, with a note.
    let mut newer = WheelSpec::new("olderok", "0.2.0");
    newer.tags = "cp312-cp312-manylinux_2_28_x86_64".into();
    index.publish(
        "olderok",
        &[
            sdist("purepkg", "olderok", "0.1.0", root),
            newer.write(&root.join("wheels")),
        ],
        None,
        true,
    );
    // A recipe with a mistake; a package that needs it; one whose module the site lacks.
    write_recipe(root, "badrecipe", "import_nams: [x]\n");
    write_recipe(root, "depuser", "build_dependencies: [\"badrecipe\"]\n");
    write_recipe(root, "purepkg", "");
    index.publish(
        "moduled",
        &[sdist("purepkg", "moduled", "0.1.0", root)],
        None,
        true,
    );
    write_recipe(root, "moduled", "modules: [\"nosuchmodule/1.0\"]\n");
    let layout = lmod_layout(root, "");
    let config = config(
        root,
        &[
            "purepkg",
            "nosuchproject",
            "wheelonly",
            "badrecipe",
            "depuser",
            "moduled",
            "olderok",
        ],
        &index.url(),
    );

    let (code, stdout, stderr) = plan(&layout, &config, false);
    assert_eq!(code, 1, "something cannot be planned: {stdout}\n{stderr}");
    assert!(
        stdout.starts_with(&format!(
            "nightly plan ({}): 7 packages, 3 cells: 0 up to date, 2 to build, 1 held back (a need cannot be planned); 4 cannot be planned",
            config.display()
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains("  purepkg 0.1.0\n"),
        "the good one is planned: {stdout}"
    );
    assert!(
        stdout.contains("  olderok 0.1.0\n    note: olderok: chose 0.1.0 (the newest with an sdist); 0.2.0 has only platform wheels"),
        "{stdout}"
    );
    assert!(stdout.contains("`adopt:` takes those wheels instead"), "{stdout}");
    assert!(
        stdout.contains("dependency-failed: needs badrecipe, which cannot be planned (recipe)"),
        "{stdout}"
    );
    let listed = stdout.split("cannot be planned (4):\n").nth(1).expect(&stdout);
    // One entry per package; a long cause continues on indented lines.
    let lines: Vec<&str> = listed.lines().filter(|line| !line.starts_with("    ")).collect();
    assert_eq!(lines.len(), 4, "{listed}");
    // In the set's order, each with its class and its real cause.
    assert!(lines[0].starts_with("  nosuchproject [source]: "), "{listed}");
    assert!(lines[0].contains("has no project `nosuchproject`"), "{listed}");
    assert!(lines[0].contains("HTTP 404"), "{listed}");
    assert!(lines[1].starts_with("  wheelonly [source]: "), "{listed}");
    assert!(
        lines[1].contains("2.0"),
        "names the version it cannot build: {listed}"
    );
    assert!(lines[2].starts_with("  badrecipe [recipe]: "), "{listed}");
    assert!(lines[2].contains("badrecipe.yaml:2:1"), "{listed}");
    assert!(lines[2].contains("did you mean `import_names`?"), "{listed}");
    assert!(lines[3].starts_with("  moduled [site-stack]: "), "{listed}");
    assert!(
        lines[3].contains("module `nosuchmodule/1.0` cannot be loaded"),
        "{listed}"
    );

    // The same as data.
    let (code, stdout, _) = plan(&layout, &config, true);
    assert_eq!(code, 1);
    let value: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let causes: Vec<(&str, &str)> = value["unplannable"]
        .as_array()
        .unwrap()
        .iter()
        .map(|package| {
            (
                package["name"].as_str().unwrap(),
                package["cause"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        causes,
        [
            ("nosuchproject", "source"),
            ("wheelonly", "source"),
            ("badrecipe", "recipe"),
            ("moduled", "site-stack")
        ]
    );
    assert_eq!(value["unplannable"][0]["cells"].as_array().unwrap().len(), 1);
}

#[test]
fn what_is_wrong_with_the_site_is_found_before_any_index_query() {
    let directory = tempfile::tempdir().unwrap();
    let root = directory.path();
    let index = LocalIndex::start(&root.join("index"));
    write_recipe(root, "moduled", "modules: [\"hdf5\"]\n");
    write_recipe(root, "plain", "");
    let config = config(root, &["plain", "moduled", "other"], &index.url());

    // Lmod named, but its initialisation file is not there.
    let layout = lmod_layout(root, "init = \"/nonexistent/lmod/init/bash\"\n");
    let started = std::time::Instant::now();
    let (code, stdout, stderr) = plan(&layout, &config, false);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stderr.starts_with("error: the site's stack is not usable, so nothing can be planned: "),
        "{stderr}"
    );
    assert!(stderr.contains("/nonexistent/lmod/init/bash"), "{stderr}");
    assert_eq!(index.requests(), "", "no index query before the site error");
    assert!(started.elapsed() < std::time::Duration::from_secs(30));

    // Recipes that load modules, and a layout without a modules system.
    let plain_layout = root.join("plain-layout.toml");
    std::fs::write(&plain_layout, wheelwright::layout::EMBEDDED_LAYOUT).unwrap();
    let (code, _, stderr) = plan(&plain_layout, &config, false);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("modules are asked for (by 1 recipe (moduled: hdf5))"),
        "{stderr}"
    );
    assert_eq!(index.requests(), "", "no index query before the site error");

    // A layer whose own line fails.
    let failing = root.join("failing-layout.toml");
    std::fs::write(
        &failing,
        wheelwright::layout::EMBEDDED_LAYOUT.replacen(
            "[layers.gentoo2023]",
            "[layers.gentoo2023]\nenvironment = [\"source /nonexistent/StdEnv.sh\"]",
            1,
        ),
    )
    .unwrap();
    std::fs::remove_file(root.join("recipes/moduled.yaml")).unwrap();
    let (code, _, stderr) = plan(&failing, &config, false);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("layer gentoo2023 (generic) cannot be entered"),
        "{stderr}"
    );
    assert!(stderr.contains("layers.gentoo2023.environment[0]"), "{stderr}");
    assert_eq!(index.requests(), "", "no index query before the site error");
}

#[test]
#[ignore = "builds with pip and uv (PyPI for setuptools, and a project PyPI does not have): CI's slow step"]
fn a_night_with_unplannable_packages_builds_the_others_and_reports_every_one() {
    crate::wheelbuild::require_tools();
    let directory = tempfile::tempdir().unwrap();
    let root = directory.path();
    let config = crate::nightly::site(
        root,
        &[
            ("purepkg", "0.1.0"),
            ("depuser", "0.2.0"),
            ("brokenbuild", "0.1.0"),
        ],
        "",
    );
    // depuser needs a package whose recipe is broken; a source that is not there; a project
    // PyPI does not have.
    let depuser = root.join("recipes/depuser.yaml");
    let text = std::fs::read_to_string(&depuser).unwrap();
    std::fs::write(&depuser, format!("{text}build_dependencies: [\"badrecipe\"]\n")).unwrap();
    write_recipe(root, "badrecipe", "import_nams: [x]\n");
    write_recipe(
        root,
        "unfetchable",
        &format!(
            "source:\n  url: file://{}/missing/unfetchable-1.0.tar.gz\n  sha256: {}\n",
            root.display(),
            "0".repeat(64)
        ),
    );
    let text = std::fs::read_to_string(&config).unwrap().replacen(
        "packages = [\"purepkg\", \"depuser\", \"brokenbuild\"]",
        "packages = [\"purepkg\", \"depuser\", \"brokenbuild\", \"badrecipe\", \"unfetchable\", \"wheelwright-test-no-such-project-4f1c\"]",
        1,
    );
    std::fs::write(&config, text).unwrap();

    let (code, stdout, stderr) = run(wheelwright()
        .args(["nightly", "run", "--json", "--config"])
        .arg(&config));
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    let runs = root.join("nightly/runs");
    let run_directory = std::fs::read_dir(&runs).unwrap().next().unwrap().unwrap().path();
    let result: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run_directory.join("result.json")).unwrap()).unwrap();
    let cause_of = |package: &str| -> String {
        result["cells"]
            .as_array()
            .unwrap()
            .iter()
            .find(|cell| cell["package"] == package)
            .and_then(|cell| cell["cause"].as_str())
            .unwrap_or("")
            .to_string()
    };
    let state_of = |package: &str| -> (String, String) {
        let cell = result["cells"]
            .as_array()
            .unwrap()
            .iter()
            .find(|cell| cell["package"] == package)
            .unwrap_or_else(|| panic!("no cell of {package}: {result}"));
        (
            cell["state"].as_str().unwrap().to_string(),
            cell["reason"].as_str().unwrap_or("").to_string(),
        )
    };
    assert_eq!(state_of("purepkg").0, "built", "{result}");
    assert_eq!(cause_of("purepkg"), "", "a cell that passed has no cause");
    // A compile failure quotes the compiler's first error, and says whose it looks to be
    // (a header the stack lacks).
    let (state, reason) = state_of("brokenbuild");
    assert_eq!(state, "failed");
    assert_eq!(cause_of("brokenbuild"), "site-stack");
    assert!(reason.contains("first errors:"), "{reason}");
    assert!(
        reason.contains("fatal error: wheelwright_missing_header.h"),
        "{reason}"
    );
    assert_eq!(cause_of("depuser"), "dependency");
    assert_eq!(cause_of("badrecipe"), "recipe");
    assert_eq!(cause_of("unfetchable"), "source");
    assert_eq!(cause_of("wheelwright-test-no-such-project-4f1c"), "source");
    let (state, reason) = state_of("depuser");
    assert_eq!(state, "dependency-failed");
    assert!(
        reason.contains("needs badrecipe, which cannot be planned"),
        "{reason}"
    );
    let (state, reason) = state_of("badrecipe");
    assert_eq!(state, "unplannable");
    assert!(
        reason.starts_with("[recipe] ") && reason.contains("did you mean `import_names`?"),
        "{reason}"
    );
    let (state, reason) = state_of("unfetchable");
    assert_eq!(state, "unplannable");
    // The real cause, not a bare "could not be fetched".
    assert!(
        reason.starts_with("[source] fetching the source failed: "),
        "{reason}"
    );
    assert!(reason.contains("missing/unfetchable-1.0.tar.gz"), "{reason}");
    let (state, reason) = state_of("wheelwright-test-no-such-project-4f1c");
    assert_eq!(state, "unplannable");
    assert!(reason.contains("HTTP 404"), "{reason}");
    assert_eq!(result["ok"], false);
    assert_eq!(result["counts"]["unplannable"], 3, "{result}");

    let summary = std::fs::read_to_string(run_directory.join("summary.md")).unwrap();
    for needle in [
        "unplannable",
        "did you mean `import_names`?",
        "fetching the source failed",
        "has no project `wheelwright-test-no-such-project-4f1c`",
    ] {
        assert!(summary.contains(needle), "summary.md lacks {needle}: {summary}");
    }
    let html = std::fs::read_to_string(run_directory.join("report.html")).unwrap();
    assert_eq!(
        html.matches("data-state=\"unplannable\"").count(),
        3,
        "one cell each"
    );
    assert!(
        html.contains("fetching the source failed"),
        "the report gives the reason"
    );
}

#[test]
fn a_second_plan_enters_no_stack_until_the_module_tree_changes() {
    let directory = tempfile::tempdir().unwrap();
    let root = directory.path();
    // A module tree with one module; a recipe that loads it and one that loads a missing one.
    let layout = lmod_layout(root, "");
    std::fs::create_dir_all(root.join("modules/demo")).unwrap();
    std::fs::write(
        root.join("modules/demo/1.0.lua"),
        "setenv(\"DEMO_ROOT\", \"/opt/demo\")\n",
    )
    .unwrap();
    write_recipe(
        root,
        "withmodule",
        &format!(
            "source:\n  git: file:///nonexistent/withmodule.git\n  rev: {}\nmodules: [\"demo\"]\n",
            "a".repeat(40)
        ),
    );
    write_recipe(
        root,
        "missing",
        &format!(
            "source:\n  git: file:///nonexistent/missing.git\n  rev: {}\nmodules: [\"absent/2.0\"]\n",
            "b".repeat(40)
        ),
    );
    let config = config(
        root,
        &["withmodule==1.0", "missing==1.0"],
        "http://127.0.0.1:9/simple",
    );
    let cache = root.join("user-cache");
    let plan = || {
        run(wheelwright()
            .env("XDG_CACHE_HOME", &cache)
            .args(["-vv", "--layout"])
            .arg(&layout)
            .args(["nightly", "plan", "--config"])
            .arg(&config))
    };
    // Stacks entered alone (`entering layer ...`) or ahead, together (`entering N stacks in
    // M shells`).
    let entered = |stderr: &str| -> usize {
        stderr
            .lines()
            .filter_map(|line| {
                if line.contains("info: entering layer") {
                    return Some(1);
                }
                let rest = line.split("info: entering ").nth(1)?;
                let (count, rest) = rest.split_once(' ')?;
                rest.starts_with("stack")
                    .then(|| count.parse::<usize>().ok())
                    .flatten()
            })
            .sum()
    };
    let (code, stdout, first) = plan();
    assert_eq!(code, 1, "`missing` cannot be planned: {stdout}{first}");
    assert!(
        stdout.contains("module `absent/2.0` cannot be loaded"),
        "{stdout}"
    );
    assert!(entered(&first) >= 2, "{first}");
    // Nothing changed: every stack, the failed one too, comes from the cache.
    let (code, again_stdout, again) = plan();
    assert_eq!(code, 1);
    assert_eq!(entered(&again), 0, "{again}");
    assert!(again.contains("the stack kept from an earlier run"), "{again}");
    assert_eq!(again_stdout, stdout, "the same plan");
    // The missing module appears: its stack is entered again and now loads.
    std::fs::create_dir_all(root.join("modules/absent")).unwrap();
    std::fs::write(
        root.join("modules/absent/2.0.lua"),
        "setenv(\"ABSENT_ROOT\", \"/opt/absent\")\n",
    )
    .unwrap();
    let (code, stdout, third) = plan();
    assert_eq!(code, 0, "{stdout}{third}");
    assert!(entered(&third) >= 1, "{third}");
    assert!(!stdout.contains("cannot be planned"), "{stdout}");
}
