//! The nightly's guards: one run at a time (a run finds the state directory locked by another
//! coordinator and stops with exit status 75, naming it, or waits for it with `--wait`), and
//! each cell of the local executor held to its time limit.

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::run;
use crate::nightly::site;
use crate::wheelbuild::{recipe, require_tools, sdist};

fn nightly_run(config: &std::path::Path, extra: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_wheelwright"));
    command
        .env_remove("WHEELWRIGHT_LAYOUT")
        .args(["nightly", "run", "--dry-run", "--config"])
        .arg(config)
        .args(extra);
    command
}

/// Holds the lock as a running coordinator would: the kernel's lock and a description.
fn hold_lock(state: &std::path::Path) -> std::fs::File {
    std::fs::create_dir_all(state).unwrap();
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(state.join("nightly.lock"))
        .unwrap();
    file.lock().unwrap();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    write!(
        file,
        r#"{{"pid": {}, "host": "{}", "started": 1765000000, "run": "/srv/nightly/runs/20251206-054640"}}"#,
        std::process::id(),
        host.trim()
    )
    .unwrap();
    file
}

#[test]
fn a_second_run_is_refused_while_one_holds_the_state_and_waits_with_wait() {
    let directory = tempfile::tempdir().unwrap();
    let config = site(directory.path(), &[("purepkg", "0.1.0")], "");
    let state = directory.path().join("nightly/state");
    let held = hold_lock(&state);

    let (code, stdout, stderr) = run(&mut nightly_run(&config, &[]));
    assert_eq!(code, 75, "a distinct status for a locked state: {stdout}{stderr}");
    assert!(
        stderr.starts_with(&format!(
            "error: another nightly run holds {}: process {} on ",
            state.join("nightly.lock").display(),
            std::process::id()
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("started 2025-12-06 05:46:40 UTC (run /srv/nightly/runs/20251206-054640)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("\nhint: `nightly run --wait` waits for it to end"),
        "{stderr}"
    );
    assert!(
        !directory.path().join("nightly/runs").exists(),
        "the refused run made no run directory"
    );

    // --wait: the run starts once the lock is released.
    let waiting = nightly_run(&config, &["--wait"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        !directory.path().join("nightly/runs").exists(),
        "the waiting run did not start early"
    );
    let released = Instant::now();
    drop(held);
    let output = waiting.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("nightly: waiting for the run that holds"),
        "{stderr}"
    );
    // The description this test left is not the waiting run's business: it was released.
    assert!(released.elapsed() < Duration::from_secs(60));
    assert!(directory.path().join("nightly/runs").is_dir(), "{stderr}");
    // Released at the end: the file holds no description.
    assert_eq!(std::fs::read_to_string(state.join("nightly.lock")).unwrap(), "");
}

#[test]
#[ignore = "builds with pip and uv (PyPI for setuptools) and waits out a one-minute limit: CI's slow step"]
fn a_cell_past_its_time_ends_as_timeout_and_the_night_goes_on() {
    require_tools();
    let directory = tempfile::tempdir().unwrap();
    let config = site(
        directory.path(),
        &[("purepkg", "0.1.0"), ("importfails", "0.1.0")],
        "",
    );
    // purepkg's build hangs; its limit is one minute.
    let archive = sdist("purepkg", "0.1.0", directory.path());
    recipe(
        &directory.path().join("recipes"),
        "purepkg",
        &archive,
        "pre_build: [\"sleep 900\"]\nresources:\n  time: 1m\n",
    );
    let started = Instant::now();
    let (code, stdout, stderr) = run(Command::new(env!("CARGO_BIN_EXE_wheelwright"))
        .env_remove("WHEELWRIGHT_LAYOUT")
        .args(["nightly", "run", "--json", "--jobs", "1", "--config"])
        .arg(&config));
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(600),
        "the hanging build held the night"
    );
    let result: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let cells = result["state"]["tasks"].as_array().unwrap();
    let state_of = |package: &str| {
        cells
            .iter()
            .find(|task| task["id"]["package"] == package)
            .map(|task| task["status"]["result"].clone())
            .unwrap()
    };
    let hung = state_of("purepkg");
    assert_eq!(hung["state"], "timeout", "{hung}");
    let reason = hung["reason"].as_str().unwrap();
    assert!(reason.starts_with("ran past its time limit of 1m"), "{reason}");
    // The other package ran to its own end (its smoke test fails, as it is made to).
    let other = state_of("importfails");
    assert_eq!(other["state"], "failed", "{other}");
    assert!(
        !other["reason"].as_str().unwrap().contains("time limit"),
        "{other}"
    );
    // No `sleep` of the hung build is left.
    let leftover = Command::new("pgrep").args(["-f", "sleep 900"]).output().unwrap();
    assert!(
        leftover.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&leftover.stdout)
    );
}
