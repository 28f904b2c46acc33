//! `wheelwright nightly`: plans and runs of a small set of fixture packages, for real (pip,
//! uv, gcc), through the local executor: order, failures, incremental runs, resuming.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::{run, wheelwright};
use crate::wheelbuild::{recipe, require_tools, sdist};

/// A site with recipes for the fixtures and a nightly configuration; returns the config file.
pub fn site(directory: &Path, packages: &[(&str, &str)], extra: &str) -> PathBuf {
    let recipes = directory.join("recipes");
    for (package, version) in packages {
        let archive = sdist(package, version, directory);
        recipe(&recipes, package, &archive, "");
    }
    let names: Vec<String> = packages.iter().map(|(name, _)| format!("\"{name}\"")).collect();
    let config = directory.join("nightly.toml");
    std::fs::write(
        &config,
        format!(
            "packages = [{}]\nrecipes = \"recipes\"\n[matrix]\npythons = [\"3.12\"]\narchs = [\"generic\"]\n[resources]\ncpus = 1\n[paths]\ncache = \"cache\"\n{extra}",
            names.join(", ")
        ),
    )
    .unwrap();
    config
}

fn nightly(config: &Path, args: &[&str]) -> (i32, String, String) {
    run(wheelwright()
        .args(["nightly"])
        .args(args)
        .arg("--config")
        .arg(config))
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|error| panic!("{error}: {text}"))
}

/// Every cell's state by `package py arch`.
fn states(result: &serde_json::Value) -> Vec<String> {
    result["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|cell| {
            format!(
                "{} {} {} {}",
                cell["package"].as_str().unwrap(),
                cell["python"].as_str().unwrap(),
                cell["arch"].as_str().unwrap(),
                cell["state"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn a_bad_configuration_names_the_line_and_the_key() {
    let directory = tempfile::tempdir().unwrap();
    let config = directory.path().join("nightly.toml");
    std::fs::write(&config, "packages = [\"ok\"]\n[resources]\ntime = \"soon\"\n").unwrap();
    let (code, _, stderr) = nightly(&config, &["plan"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains(&format!("{}:3:8: `resources.time`", config.display())),
        "{stderr}"
    );
    let (code, _, stderr) = nightly(&directory.path().join("missing.toml"), &["plan"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("cannot read the nightly configuration"),
        "{stderr}"
    );
}

#[test]
fn a_cycle_in_the_set_is_named() {
    let directory = tempfile::tempdir().unwrap();
    let recipes = directory.path().join("recipes");
    std::fs::create_dir_all(&recipes).unwrap();
    for (package, needs) in [("alpha", "beta"), ("beta", "alpha")] {
        std::fs::write(
            recipes.join(format!("{package}.yaml")),
            format!("package: {package}\nsource:\n  url: file:///nonexistent/{package}-1.0.tar.gz\nbuild_dependencies: [\"{needs}\"]\n"),
        )
        .unwrap();
    }
    let config = directory.path().join("nightly.toml");
    std::fs::write(
        &config,
        "packages = [\"alpha==1.0\", \"beta==1.0\"]\nrecipes = \"recipes\"\n[matrix]\npythons = [\"3.12\"]\narchs = [\"generic\"]\n",
    )
    .unwrap();
    let (code, _, stderr) = nightly(&config, &["plan"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("dependency cycle in the nightly set: alpha -> beta -> alpha"),
        "{stderr}"
    );
}

#[test]
fn rebuild_refuses_a_package_not_in_the_set() {
    let directory = tempfile::tempdir().unwrap();
    let recipes = directory.path().join("recipes");
    std::fs::create_dir_all(&recipes).unwrap();
    for package in ["alpha", "six"] {
        std::fs::write(
            recipes.join(format!("{package}.yaml")),
            format!("package: {package}\nsource:\n  url: file:///nonexistent/{package}-1.0.tar.gz\n"),
        )
        .unwrap();
    }
    let config = directory.path().join("nightly.toml");
    std::fs::write(
        &config,
        "packages = [\"alpha==1.0\", \"six==1.0\"]\nrecipes = \"recipes\"\n[matrix]\npythons = [\"3.12\"]\narchs = [\"generic\"]\n",
    )
    .unwrap();
    for command in [&["plan"][..], &["run", "--dry-run"]] {
        let mut args = command.to_vec();
        args.extend(["--rebuild", "sx"]);
        let (code, stdout, stderr) = nightly(&config, &args);
        assert_eq!(code, 1, "{args:?}: {stdout}{stderr}");
        assert!(
            stderr.contains(&format!(
                "error: --rebuild sx: not in the nightly set of {}\nhint: did you mean `six`? the set has: alpha, six\n",
                config.display()
            )),
            "{args:?}: {stderr}"
        );
        assert!(stdout.is_empty(), "{stdout}");
    }
    assert!(
        !directory.path().join("runs").exists(),
        "a refused run starts nothing"
    );
    // A name of the set, in any spelling, is taken.
    let (code, stdout, stderr) = nightly(&config, &["plan", "--rebuild", "Alpha", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("asked for (--rebuild)"), "{stdout}");

    // A big set: its first names, how many, and the nearest.
    let names: Vec<String> = (0..14)
        .map(|index| format!("\"package{index:02}==1.0\""))
        .collect();
    std::fs::write(
        &config,
        format!(
            "packages = [{}]\n[matrix]\npythons = [\"3.12\"]\narchs = [\"generic\"]\n",
            names.join(", ")
        ),
    )
    .unwrap();
    let (code, _, stderr) = nightly(&config, &["plan", "--rebuild", "package3", "packag07"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("--rebuild package3 packag07: not in the nightly set"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "\nhint: did you mean `package03` or `package13` for package3, `package07` for packag07? the set has 14 packages: package00, package01, package02, package03, package04, package05, package06, package07, package08, package09, ... (`wheelwright nightly plan --config "
        ),
        "{stderr}"
    );
}

#[test]
#[ignore = "builds with pip and uv (PyPI for setuptools): CI's slow step"]
fn a_nightly_builds_in_order_keeps_going_and_then_skips_what_has_not_changed() {
    require_tools();
    let directory = tempfile::tempdir().unwrap();
    let config = site(
        directory.path(),
        &[
            ("needsbroken", "0.3.0"),
            ("depuser", "0.2.0"),
            ("brokenbuild", "0.1.0"),
            ("purepkg", "0.1.0"),
        ],
        // uv's cache of build requirements is the run's own, with a limit it cannot keep.
        "build_cache = \"uv-cache\"\nbuild_cache_limit = \"1M\"\n",
    );
    // Before anything was fetched, every cell is to build.
    let (code, stdout, stderr) = nightly(&config, &["plan", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    let plan = json(&stdout);
    assert_eq!(plan["packages"].as_array().unwrap().len(), 4);

    let (code, stdout, stderr) = nightly(&config, &["run", "--json"]);
    assert_eq!(code, 1, "a failed cell fails the run\n{stdout}\n{stderr}");
    let report = json(&stdout);
    let run_directory = PathBuf::from(report["directory"].as_str().unwrap());
    let result = json(&std::fs::read_to_string(run_directory.join("result.json")).unwrap());
    assert_eq!(
        states(&result),
        [
            "brokenbuild 3.12 generic failed",
            "depuser 3.12 generic built",
            "needsbroken 3.12 generic dependency-failed",
            "purepkg 3.12 generic built",
        ]
    );
    // The local executor says how busy the CPUs were, interval by interval (a run of real
    // builds lasts more than one interval).
    let busy = result["cpu"]["busy"].as_array().expect("cpu.busy in result.json");
    assert!(!busy.is_empty(), "{}", result["cpu"]);
    let cores = result["cpu"]["cores"].as_f64().unwrap();
    assert!(
        busy.iter()
            .all(|value| (0.0..=cores + 0.01).contains(&value.as_f64().unwrap())),
        "{}",
        result["cpu"]
    );
    assert!(result["cpu_busy_mean"].as_f64().unwrap() > 0.0, "{result}");
    let cells = result["cells"].as_array().unwrap();
    let broken = cells
        .iter()
        .find(|cell| cell["package"] == "brokenbuild")
        .unwrap();
    assert!(
        broken["reason"].as_str().unwrap().contains("pip wheel failed"),
        "{broken}"
    );
    assert!(Path::new(broken["log"].as_str().unwrap()).is_file(), "{broken}");
    let needs = cells
        .iter()
        .find(|cell| cell["package"] == "needsbroken")
        .unwrap();
    assert!(
        needs["reason"].as_str().unwrap().contains("needs brokenbuild"),
        "{needs}"
    );
    // Bounded scratch: a passing cell's tree and environments are gone, a failed one keeps
    // them; the run says the most its work directory held.
    let work = run_directory.join("work");
    assert!(!work.join("purepkg/gentoo2023/py3.12-generic/build-env").exists());
    assert!(work.join("brokenbuild/gentoo2023/py3.12-generic/src").is_dir());
    assert!(result["peak_scratch"].as_u64().unwrap() > 1 << 20, "{result}");
    // The cells filled the configured uv cache; it was pruned after the run.
    let uv_cache = directory.path().join("uv-cache");
    assert!(
        uv_cache.join("CACHEDIR.TAG").is_file(),
        "the cells used {}",
        uv_cache.display()
    );
    let (packages, bytes) = (
        result["build_cache_pruned"][0].as_u64().unwrap(),
        result["build_cache_pruned"][1].as_u64().unwrap(),
    );
    assert!(packages > 0 && bytes > 1 << 20, "{result}");
    // depuser was tested against the purepkg wheel this run built (it is on no index).
    let staging = directory.path().join("nightly/staging");
    assert!(
        staging
            .join("purepkg-0.1.0+computecanada-py3-none-any.whl")
            .is_file()
    );
    assert!(
        staging
            .join("depuser-0.2.0+computecanada-py3-none-any.whl")
            .is_file()
    );
    let summary = std::fs::read_to_string(run_directory.join("summary.md")).unwrap();
    assert!(
        summary.contains("2 built, 1 failed, 1 dependency-failed"),
        "{summary}"
    );
    check_report_in_a_browser(&run_directory.join("report.html"), &result);

    // The second night: what passed is up to date; what failed is tried again.
    let (code, stdout, stderr) = nightly(&config, &["plan", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    let plan = json(&stdout);
    let planned: Vec<String> = plan["packages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|package| package["cells"].as_array().unwrap().clone())
        .map(|cell| {
            format!(
                "{} {}",
                cell["id"]["package"].as_str().unwrap(),
                cell["state"].as_str().unwrap()
            )
        })
        .collect();
    let position = |text: &str| planned.iter().position(|cell| cell == text).unwrap_or(usize::MAX);
    // Build order: what a package needs comes first.
    assert!(
        position("purepkg up-to-date") < position("depuser up-to-date"),
        "{planned:?}"
    );
    assert!(
        position("brokenbuild build") < position("needsbroken build"),
        "{planned:?}"
    );
    assert_eq!(planned.len(), 4, "{planned:?}");
    // Rebuilding up-to-date cells to verify them: the same source gives the same bytes
    // (SOURCE_DATE_EPOCH), the staged wheels are left alone, and nothing is recorded as built.
    let staged = staging.join("purepkg-0.1.0+computecanada-py3-none-any.whl");
    let before = std::fs::read(&staged).unwrap();
    let (_, stdout, stderr) = nightly(&config, &["run", "--json", "--verify-reproducible", "2"]);
    let report = json(&stdout);
    let verified: Vec<&serde_json::Value> = report["state"]["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|task| !task["verify_against"].is_null())
        .collect();
    assert_eq!(verified.len(), 2, "{stdout}\n{stderr}");
    for task in verified {
        let result = &task["status"]["result"];
        assert_eq!(result["state"], "up-to-date", "{result}");
        assert_eq!(result["reproducible"]["identical"], true, "{result}");
    }
    assert_eq!(std::fs::read(&staged).unwrap(), before);
    // Asked to rebuild, a package is built whatever its state, with its reason.
    let (_, stdout, _) = nightly(&config, &["plan", "--rebuild", "purepkg"]);
    assert!(stdout.contains("build: asked for (--rebuild)"), "{stdout}");
}

/// Waits until `run.json` in some run directory under `runs` says a task is running; its
/// directory and the handle.
fn wait_for_running(runs: &Path, limit: Duration) -> (PathBuf, String) {
    let started = Instant::now();
    while started.elapsed() < limit {
        for entry in std::fs::read_dir(runs).into_iter().flatten().flatten() {
            let Ok(text) = std::fs::read_to_string(entry.path().join("run.json")) else {
                continue;
            };
            let Ok(state) = serde_json::from_str::<serde_json::Value>(&text) else {
                continue;
            };
            for task in state["tasks"].as_array().into_iter().flatten() {
                if task["status"]["status"] == "running" {
                    return (
                        entry.path(),
                        task["status"]["handle"].as_str().unwrap().to_string(),
                    );
                }
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("no task started within {limit:?}");
}

#[test]
#[ignore = "builds with pip and uv (PyPI for setuptools): CI's slow step"]
fn a_killed_coordinator_resumes_without_building_a_cell_twice() {
    require_tools();
    let directory = tempfile::tempdir().unwrap();
    let config = site(
        directory.path(),
        &[("depuser", "0.2.0"), ("purepkg", "0.1.0")],
        "",
    );
    let mut coordinator = Command::new(env!("CARGO_BIN_EXE_wheelwright"))
        .args(["nightly", "run", "--config"])
        .arg(&config)
        .env_remove("WHEELWRIGHT_LAYOUT")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let (run_directory, handle) =
        wait_for_running(&directory.path().join("nightly/runs"), Duration::from_secs(120));
    coordinator.kill().unwrap();
    coordinator.wait().unwrap();
    // The cell the coordinator started is still running: the resumed run watches it.
    let (code, stdout, stderr) = nightly(
        &config,
        &["run", "--json", "--resume", run_directory.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let result = json(&std::fs::read_to_string(run_directory.join("result.json")).unwrap());
    assert_eq!(
        states(&result),
        ["depuser 3.12 generic built", "purepkg 3.12 generic built"]
    );
    let first = result["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|cell| cell["job"] == handle.as_str());
    assert!(
        first.is_some(),
        "the cell started before the kill kept its process {handle}: {result}"
    );
    // Resuming a finished run builds nothing more.
    let (code, stdout, _) = nightly(
        &config,
        &["run", "--json", "--resume", run_directory.to_str().unwrap()],
    );
    assert_eq!(code, 0);
    assert_eq!(
        states(&json(
            &std::fs::read_to_string(run_directory.join("result.json")).unwrap()
        ))
        .len(),
        2,
        "{stdout}"
    );
}

/// Slurm is up (`ci/slurm/start.sh`; CI's slow step starts it).
fn require_slurm() {
    let answers = Command::new("squeue")
        .args(["-h", "--me"])
        .output()
        .is_ok_and(|output| output.status.success());
    assert!(
        answers,
        "no Slurm controller answers: run `ci/slurm/start.sh` first (CI's slow step does)"
    );
}

/// The states of a run's cells, from its `result.json`.
fn run_states(config: &Path, args: &[&str]) -> (i32, Vec<String>, serde_json::Value) {
    let mut arguments = vec!["run", "--json"];
    arguments.extend_from_slice(args);
    let (code, stdout, stderr) = nightly(config, &arguments);
    assert!(code == 0 || code == 1, "{stdout}\n{stderr}");
    let report = json(&stdout);
    let directory = PathBuf::from(report["directory"].as_str().unwrap());
    let result = json(&std::fs::read_to_string(directory.join("result.json")).unwrap());
    (code, states(&result), result)
}

#[test]
#[ignore = "needs a running Slurm (ci/slurm/start.sh) and builds with pip and uv: CI's slow step"]
fn slurm_and_the_local_executor_give_the_same_states() {
    require_tools();
    require_slurm();
    let set = [
        ("needsbroken", "0.3.0"),
        ("depuser", "0.2.0"),
        ("brokenbuild", "0.1.0"),
        ("purepkg", "0.1.0"),
        ("importfails", "0.1.0"),
    ];
    // importfails' smoke test needs a GPU, which neither executor has: built, not tested.
    let with_gpu_test = |directory: &Path| {
        let config = site(directory, &set, "");
        let recipe_file = directory.join("recipes/importfails.yaml");
        let text = std::fs::read_to_string(&recipe_file).unwrap();
        std::fs::write(&recipe_file, format!("{text}test_gpus: 1\n")).unwrap();
        config
    };
    let on_slurm = tempfile::tempdir().unwrap();
    let (code, slurm_states, result) = run_states(&with_gpu_test(on_slurm.path()), &["--executor", "slurm"]);
    assert_eq!(code, 1);
    let jobs: Vec<&str> = result["cells"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|cell| cell["job"].as_str())
        .collect();
    assert!(jobs.iter().all(|job| job.starts_with("job ")), "{jobs:?}");
    let locally = tempfile::tempdir().unwrap();
    let (_, local_states, _) = run_states(&with_gpu_test(locally.path()), &["--executor", "local"]);
    assert_eq!(slurm_states, local_states);
    assert_eq!(
        slurm_states,
        [
            "brokenbuild 3.12 generic failed",
            "depuser 3.12 generic built",
            "importfails 3.12 generic untested-gpu",
            "needsbroken 3.12 generic dependency-failed",
            "purepkg 3.12 generic built",
        ]
    );
    // The untested wheel is not staged (nor published): it waits in its cell's directory.
    let untested = result["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|cell| cell["package"] == "importfails")
        .unwrap();
    let wheel = PathBuf::from(untested["wheel"].as_str().unwrap());
    assert!(
        wheel.is_file() && !wheel.starts_with(on_slurm.path().join("nightly/staging")),
        "{untested}"
    );
    assert!(
        untested["reason"].as_str().unwrap().contains("needs 1 GPU"),
        "{untested}"
    );
    // The second night on Slurm submits nothing for what passed.
    let (_, states, result) = run_states(&on_slurm.path().join("nightly.toml"), &["--executor", "slurm"]);
    assert!(
        states.contains(&"purepkg 3.12 generic up-to-date".to_string()),
        "{states:?}"
    );
    assert!(
        states.contains(&"depuser 3.12 generic up-to-date".to_string()),
        "{states:?}"
    );
    let up_to_date = result["cells"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|cell| cell["state"] == "up-to-date")
        .all(|cell| cell["job"].is_null());
    assert!(up_to_date, "{result}");
}

#[test]
#[ignore = "needs a running Slurm (ci/slurm/start.sh) and builds with pip and uv: CI's slow step"]
fn a_job_slurm_ends_for_its_time_is_a_timeout_cell_with_slurms_reason() {
    require_tools();
    require_slurm();
    let directory = tempfile::tempdir().unwrap();
    let config = site(
        directory.path(),
        &[("purepkg", "0.1.0")],
        "[package.purepkg.resources]\ntime = \"1m\"\n",
    );
    // A recipe whose build outlives its time limit.
    let recipe_file = directory.path().join("recipes/purepkg.yaml");
    let text = std::fs::read_to_string(&recipe_file).unwrap();
    std::fs::write(&recipe_file, format!("{text}pre_build:\n  - sleep 600\n")).unwrap();
    let (code, states, result) = run_states(&config, &["--executor", "slurm"]);
    assert_eq!(code, 1);
    assert_eq!(states, ["purepkg 3.12 generic timeout"]);
    let reason = result["cells"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("Slurm ended the job") && reason.contains("TIMEOUT"),
        "{reason}"
    );
}

#[test]
#[ignore = "needs a running Slurm (ci/slurm/start.sh) and builds with pip and uv: CI's slow step"]
fn on_slurm_a_killed_coordinator_reattaches_and_ctrl_c_cancels_only_its_jobs() {
    require_tools();
    require_slurm();
    let directory = tempfile::tempdir().unwrap();
    let config = site(
        directory.path(),
        &[("depuser", "0.2.0"), ("purepkg", "0.1.0")],
        "",
    );
    let spawn = |config: &Path| {
        Command::new(env!("CARGO_BIN_EXE_wheelwright"))
            .args(["nightly", "run", "--executor", "slurm", "--config"])
            .arg(config)
            .env_remove("WHEELWRIGHT_LAYOUT")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut coordinator = spawn(&config);
    let (run_directory, handle) =
        wait_for_running(&directory.path().join("nightly/runs"), Duration::from_secs(120));
    coordinator.kill().unwrap();
    coordinator.wait().unwrap();
    let (code, stdout, stderr) = nightly(
        &config,
        &[
            "run",
            "--json",
            "--executor",
            "slurm",
            "--resume",
            run_directory.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let result = json(&std::fs::read_to_string(run_directory.join("result.json")).unwrap());
    assert_eq!(
        states(&result),
        ["depuser 3.12 generic built", "purepkg 3.12 generic built"]
    );
    assert!(
        result["cells"]
            .as_array()
            .unwrap()
            .iter()
            .any(|cell| cell["job"] == handle.as_str()),
        "the job submitted before the kill was watched, not submitted again: {handle} {result}"
    );

    // Ctrl-C: this run's jobs are cancelled, another job of the same user is not. Its output
    // goes to the test's directory, not `slurm-<id>.out` where the tests run.
    let second = tempfile::tempdir().unwrap();
    let other_log = second.path().join("other-job.out");
    let other = Command::new("sbatch")
        .args([
            "--parsable",
            "--time=00:05:00",
            "--mem=50M",
            &format!("--output={}", other_log.display()),
            &format!("--error={}", other_log.display()),
            "--wrap",
            "sleep 300",
        ])
        .output()
        .unwrap();
    let other = String::from_utf8_lossy(&other.stdout).trim().to_string();
    let config = site(second.path(), &[("purepkg", "0.1.0")], "");
    let recipe_file = second.path().join("recipes/purepkg.yaml");
    let text = std::fs::read_to_string(&recipe_file).unwrap();
    std::fs::write(&recipe_file, format!("{text}pre_build:\n  - sleep 600\n")).unwrap();
    let mut coordinator = spawn(&config);
    let (run_directory, handle) =
        wait_for_running(&second.path().join("nightly/runs"), Duration::from_secs(120));
    let status = Command::new("kill")
        .args(["-INT", &coordinator.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = coordinator.wait().unwrap();
    assert!(!exit.success());
    let queue = Command::new("squeue")
        .args(["-h", "--me", "-o", "%i"])
        .output()
        .unwrap();
    let queue = String::from_utf8_lossy(&queue.stdout).into_owned();
    let ours = handle.trim_start_matches("job ");
    assert!(!queue.lines().any(|id| id.trim() == ours), "{queue}");
    assert!(queue.lines().any(|id| id.trim() == other), "{queue}");
    let _ = Command::new("scancel").arg(&other).status();
    let result = json(&std::fs::read_to_string(run_directory.join("result.json")).unwrap());
    assert_eq!(states(&result), ["purepkg 3.12 generic cancelled"]);
}

/// Opens the HTML report in headless Chromium (Debian's `chromium`; CI installs it): the DOM it
/// builds has a cell for every (package, python, arch) of `result` with its state; a
/// screenshot is kept as a CI artefact (`target/ci-artifacts/nightly-report.png`).
fn check_report_in_a_browser(report: &Path, result: &serde_json::Value) {
    let chromium = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|name| {
            Command::new(name)
                .arg("--version")
                .output()
                .is_ok_and(|output| output.status.success())
        })
        .expect("no chromium on PATH: CI installs Debian's `chromium`");
    let browser = |extra: &[&str]| {
        let output = Command::new(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                "--window-size=1200,700",
            ])
            .args(extra)
            .arg(format!("file://{}", report.display()))
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let dom = browser(&["--dump-dom"]);
    for cell in result["cells"].as_array().unwrap() {
        let wanted = format!(
            "data-package=\"{}\" data-python=\"{}\" data-layer=\"{}\" data-arch=\"{}\" data-state=\"{}\"",
            cell["package"].as_str().unwrap(),
            cell["python"].as_str().unwrap(),
            cell["layer"].as_str().unwrap(),
            cell["arch"].as_str().unwrap(),
            cell["state"].as_str().unwrap()
        );
        assert!(dom.contains(&wanted), "the browser's DOM lacks {wanted}");
    }
    let artefacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/ci-artifacts");
    std::fs::create_dir_all(&artefacts).unwrap();
    let screenshot = artefacts.join("nightly-report.png");
    browser(&[&format!("--screenshot={}", screenshot.display())]);
    assert!(std::fs::metadata(&screenshot).is_ok_and(|meta| meta.len() > 10_000));
}

#[test]
#[ignore = "builds with pip and uv (PyPI for setuptools): CI's slow step"]
fn publishing_places_what_passed_and_nothing_else() {
    require_tools();
    let directory = tempfile::tempdir().unwrap();
    let layout = directory.path().join("layout.toml");
    std::fs::write(
        &layout,
        wheelwright::layout::EMBEDDED_LAYOUT.replace("root = \"wheelhouse\"", "root = \"tree\""),
    )
    .unwrap();
    let config = site(
        directory.path(),
        &[("purepkg", "0.1.0"), ("brokenbuild", "0.1.0")],
        "[publish]\nper_package = true\n",
    );
    let (code, stdout, stderr) = run(wheelwright()
        .arg("--layout")
        .arg(&layout)
        .args(["nightly", "run", "--publish", "--config"])
        .arg(&config));
    assert_eq!(code, 1, "brokenbuild fails\n{stdout}\n{stderr}");
    assert!(stderr.contains("purepkg: published 1 wheel"), "{stderr}");
    let placed: Vec<String> = walk(&directory.path().join("tree"));
    assert!(
        placed
            .iter()
            .any(|path| path.ends_with("/purepkg-0.1.0+computecanada-py3-none-any.whl")),
        "{placed:?}"
    );
    assert!(
        !placed.iter().any(|path| path.contains("brokenbuild")),
        "{placed:?}"
    );
}

/// Every file under `root`, as paths relative to it.
fn walk(root: &Path) -> Vec<String> {
    let mut files = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(directory) = stack.pop() {
        for entry in std::fs::read_dir(&directory).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(format!("/{}", path.strip_prefix(root).unwrap().display()));
            }
        }
    }
    files
}

#[test]
#[ignore = "needs a running Slurm (ci/slurm/start.sh), downloads from PyPI and builds: CI's slow step"]
fn a_nightly_of_real_pypi_packages_on_slurm() {
    require_tools();
    require_slurm();
    let directory = tempfile::tempdir().unwrap();
    let recipes = directory.path().join("recipes");
    std::fs::create_dir_all(&recipes).unwrap();
    // msgpack is made to fail; python-dateutil needs six (in the set) for its smoke test.
    std::fs::write(
        recipes.join("msgpack.yaml"),
        "package: msgpack\npre_build:\n  - echo 'this night msgpack fails' >&2; exit 3\n",
    )
    .unwrap();
    let config = directory.path().join("nightly.toml");
    std::fs::write(
        &config,
        "packages = [\"python-dateutil==2.9.0.post0\", \"msgpack==1.1.0\", \"six==1.17.0\"]\nrecipes = \"recipes\"\n[matrix]\npythons = [\"3.12\"]\narchs = [\"generic\"]\n[resources]\ncpus = 1\nmemory = \"2G\"\ntime = \"20m\"\n[paths]\ncache = \"cache\"\n",
    )
    .unwrap();
    let (code, states, result) = run_states(&config, &["--executor", "slurm"]);
    assert_eq!(code, 1);
    assert_eq!(
        states,
        [
            "msgpack 3.12 generic failed",
            "python-dateutil 3.12 generic built",
            "six 3.12 generic built",
        ]
    );
    let cells = result["cells"].as_array().unwrap();
    let msgpack = cells.iter().find(|cell| cell["package"] == "msgpack").unwrap();
    assert!(
        msgpack["reason"]
            .as_str()
            .unwrap()
            .contains("pre-build command failed"),
        "{msgpack}"
    );
    let log = std::fs::read_to_string(msgpack["log"].as_str().unwrap()).unwrap();
    assert!(log.contains("this night msgpack fails"), "{log}");
    // dateutil's smoke test took six from this run's staging directory, not from PyPI.
    let record_file = directory
        .path()
        .join("nightly/staging/python_dateutil-2.9.0.post0+computecanada-py2.py3-none-any.whl.json");
    let record = json(&std::fs::read_to_string(&record_file).unwrap());
    let reports = record["test"]["reports"].as_object().unwrap();
    let dependencies = reports.values().next().unwrap()["dependencies"]
        .as_array()
        .unwrap()
        .clone();
    let six = dependencies
        .iter()
        .find(|dependency| dependency["name"] == "six")
        .unwrap();
    assert_eq!(six["origin"], "find-links", "{six}");
    assert_eq!(six["version"], "1.17.0+computecanada", "{six}");
    // The next night's plan needs no network for pinned packages: with an index that does
    // not answer, it still knows everything is up to date but the failure.
    let offline = directory.path().join("offline.toml");
    std::fs::write(
        &offline,
        std::fs::read_to_string(&config).unwrap().replace(
            "recipes = \"recipes\"",
            "recipes = \"recipes\"\nindex_url = \"http://127.0.0.1:9/simple\"",
        ),
    )
    .unwrap();
    let (code, stdout, stderr) = nightly(&offline, &["plan"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("2 up to date, 1 to build"), "{stdout}");
    // And the run builds nothing but the failure.
    let (_, states, _) = run_states(&config, &["--executor", "slurm"]);
    assert_eq!(
        states,
        [
            "msgpack 3.12 generic failed",
            "python-dateutil 3.12 generic up-to-date",
            "six 3.12 generic up-to-date",
        ]
    );
}

#[test]
#[ignore = "builds with pip and uv (PyPI for setuptools): CI's slow step"]
fn the_night_checks_what_nodes_can_install_and_fills_a_missing_dependency() {
    require_tools();
    let directory = tempfile::tempdir().unwrap();
    let layout = directory.path().join("layout.toml");
    std::fs::write(
        &layout,
        wheelwright::layout::EMBEDDED_LAYOUT.replace("root = \"wheelhouse\"", "root = \"tree\""),
    )
    .unwrap();
    // The wheelhouse has `holey`, which needs purepkg (and, on Python 3.7 only, a project
    // nobody has: the marker excludes that hole); nothing in it has purepkg.
    let mut holey = crate::common::WheelSpec::new("holey", "1.0+computecanada");
    holey.metadata = "Metadata-Version: 2.1\nName: holey\nVersion: 1.0+computecanada\nRequires-Dist: purepkg>=0.1\nRequires-Dist: nowhere-to-be-found; python_version < \"3.8\"\n\n".into();
    std::fs::create_dir_all(directory.path().join("tree/generic")).unwrap();
    holey.write(&directory.path().join("tree/generic"));
    // purepkg has a recipe, but is not in the night's set (brokenbuild is, and fails).
    let archive = sdist("purepkg", "0.1.0", directory.path());
    recipe(&directory.path().join("recipes"), "purepkg", &archive, "");
    let config = site(
        directory.path(),
        &[("brokenbuild", "0.1.0")],
        "[publish]\nenabled = true\n",
    );
    let night = |extra: &str| {
        let text = std::fs::read_to_string(&config).unwrap();
        std::fs::write(&config, format!("{text}{extra}")).unwrap();
        let (code, stdout, stderr) = run(wheelwright()
            .arg("--layout")
            .arg(&layout)
            .args(["nightly", "run", "--json", "--config"])
            .arg(&config));
        assert_eq!(code, 1, "brokenbuild fails\n{stdout}\n{stderr}");
        let last = PathBuf::from(json(&stdout)["directory"].as_str().unwrap());
        (
            json(&std::fs::read_to_string(last.join("result.json")).unwrap()),
            std::fs::read_to_string(last.join("summary.md")).unwrap(),
            std::fs::read_to_string(last.join("report.html")).unwrap(),
            stderr,
        )
    };
    // Without fill_holes the hole is found, reported with its fix, and left.
    let (result, summary, report, _) = night("");
    let check = &result["check"];
    assert_eq!(check["holes"], 1, "{check}");
    let findings = check["findings"].as_array().unwrap();
    let hole = findings
        .iter()
        .find(|finding| finding["hole"] == true)
        .unwrap_or_else(|| panic!("{check}"));
    assert_eq!(hole["kind"], "closure", "{hole}");
    assert_eq!(hole["project"], "purepkg", "{hole}");
    assert_eq!(hole["requirement"], "purepkg>=0.1", "{hole}");
    assert_eq!(hole["fix"]["action"], "add-recipe", "{hole}");
    assert!(
        !findings
            .iter()
            .any(|finding| finding["project"] == "nowhere-to-be-found"),
        "the marker excludes it: {check}"
    );
    // Every node of the layout's active layer, for the night's Python.
    assert_eq!(check["pythons"], serde_json::json!(["3.12"]), "{check}");
    assert_eq!(
        hole["nodes"].as_array().unwrap().len(),
        check["views"].as_array().unwrap().len(),
        "{hole}"
    );
    assert!(summary.contains("## What the nodes can install"), "{summary}");
    assert!(
        summary.contains(
            "| closure | purepkg | generic/holey-1.0+computecanada-py3-none-any.whl | purepkg>=0.1 |"
        ),
        "{summary}"
    );
    assert!(
        report.contains("id=\"check\"") && report.contains("data-project=\"purepkg\""),
        "{report}"
    );
    assert!(
        !states(&result).iter().any(|cell| cell.starts_with("purepkg ")),
        "{result}"
    );
    // With fill_holes, purepkg is planned from its recipe, built, published and the check
    // after it finds no hole.
    let (result, summary, report, stderr) = night("[check]\nfill_holes = true\n");
    let check = &result["check"];
    assert_eq!(check["holes"], 0, "{check}");
    assert_eq!(check["holes_before_filling"], 1, "{check}");
    assert_eq!(check["filled"][0]["name"], "purepkg", "{check}");
    assert_eq!(check["filled"][0]["wanted"], ">=0.1", "{check}");
    assert!(stderr.contains("filling 1 hole's package: purepkg"), "{stderr}");
    assert!(
        states(&result).contains(&"purepkg 3.12 generic built".to_string()),
        "{result}"
    );
    let purepkg = result["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|cell| cell["package"] == "purepkg")
        .unwrap();
    assert!(
        purepkg["reason"]
            .to_string()
            .contains("fills a hole the check found"),
        "{purepkg}"
    );
    assert!(
        walk(&directory.path().join("tree"))
            .iter()
            .any(|path| path.ends_with("/purepkg-0.1.0+computecanada-py3-none-any.whl")),
        "published"
    );
    assert!(summary.contains("Filled the same night"), "{summary}");
    assert!(report.contains("Filled the same night"), "{report}");
}
