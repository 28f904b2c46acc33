//! The nightly's HTML report at a site's size, as a browser sees it: a generated night of
//! 1,000 packages x 9 cells with history, rendered by the library and opened in headless
//! Chromium; the DOM it builds has every cell with its state, the entries of what did not
//! pass, and an element for every in-page link.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use wheelwright::nightly::model::RunState;
use wheelwright::nightly::state::{HistoryEntry, StateStore};
use wheelwright::nightly::write_reports;

const PYTHONS: [&str; 3] = ["3.11", "3.12", "3.13"];
const ARCHS: [&str; 3] = ["generic", "x86-64-v3", "x86-64-v4"];

/// A night of `packages` packages x 3 Pythons x 3 archs in `directory` (its reports, and the
/// state directory with 12 earlier runs of history): every state, failures of several kinds.
fn site_night(directory: &Path, packages: usize) -> (RunState, StateStore) {
    let mut cells = Vec::new();
    let mut history = Vec::new();
    for index in 0..packages {
        let package = match index % 9 {
            0 => format!("Py_Site.Package{index}"),
            _ => format!("site-package-{index:04}"),
        };
        for python in PYTHONS {
            for arch in ARCHS {
                let cell = directory.join(format!("cells/{package}/gentoo2023/py{python}-{arch}"));
                let (state, reason) = match (index % 12, python, arch) {
                    (0, _, _) => (
                        "failed",
                        format!(
                            "the build failed:\n{}see {}",
                            "src/_core.c:40:2: error: #error \"needs C11 atomics\"\n".repeat(5),
                            cell.join("build.log").display()
                        ),
                    ),
                    (1, "3.13", _) => ("failed", "no version supports Python 3.13".to_string()),
                    (2, _, _) => (
                        "dependency-failed",
                        format!("needs site-package-0001, whose cell {python} {arch} failed"),
                    ),
                    (3, _, "x86-64-v4") => ("timeout", "ran past its time limit of 2h".to_string()),
                    (4, "3.11", _) => ("out-of-memory", "its processes held 17 GiB".to_string()),
                    (5, _, _) if index % 48 == 5 => ("held", "held back: libcuda.so.1".to_string()),
                    (6, _, _) if index % 48 == 6 => ("untested-gpu", "needs 1 GPU".to_string()),
                    (7, _, _) if index % 96 == 7 => ("cancelled", "the run was stopped".to_string()),
                    (8, _, _) if index % 48 == 8 => (
                        "unplannable",
                        "[site-stack] the module `gdal/3.9` does not load: not in this box".to_string(),
                    ),
                    _ if index % 2 == 0 => ("built", "source changed".to_string()),
                    _ => ("up-to-date", "built by run 20261205-020000".to_string()),
                };
                let ran = !["up-to-date", "unplannable"].contains(&state);
                cells.push(serde_json::json!({
                    "package": package,
                    "version": format!("1.{}", index % 7),
                    "layer": "gentoo2023",
                    "python": python,
                    "arch": arch,
                    "state": state,
                    "reason": reason,
                    "seconds": if ran { 42.0 } else { 0.0 },
                    "size": if ran { Some(2_400_000) } else { None },
                    "log": ran.then(|| cell.join("build.log")),
                    "output_log": ran.then(|| cell.join("output.log")),
                }));
                if arch == "generic" {
                    for run in 0..12 {
                        history.push(HistoryEntry {
                            run: format!("202611{:02}-020000", 10 + run),
                            cell: format!("{package}/gentoo2023/py{python}-{arch}"),
                            package: package.clone(),
                            version: "1.0".into(),
                            state: if (index + run) % 6 == 0 {
                                wheelwright::nightly::state::CellState::Failed
                            } else {
                                wheelwright::nightly::state::CellState::Built
                            },
                            seconds: 40.0,
                            finished: 0,
                        });
                    }
                }
            }
        }
    }
    let store = StateStore::new(&directory.join("state"));
    store.append_history(&history).unwrap();
    let state: RunState = serde_json::from_value(serde_json::json!({
        "name": "20261206-020000",
        "config": directory.join("nightly.toml"),
        "executor": "slurm",
        "started": 1_796_522_400u64,
        "finished": 1_796_551_200u64,
        "up_to_date": cells,
        "tasks": [],
    }))
    .unwrap();
    (state, store)
}

/// Runs Debian's Chromium headless on `page` with `arguments`, its own profile, no network of
/// its own, and a time limit; its standard output.
fn chromium(page: &Path, arguments: &[&str]) -> String {
    let program = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|name| {
            Command::new(name)
                .arg("--version")
                .output()
                .is_ok_and(|output| output.status.success())
        })
        .expect("no chromium on PATH: CI installs Debian's `chromium`");
    let profile = tempfile::tempdir().unwrap();
    let output = tempfile::NamedTempFile::new().unwrap();
    let mut child = Command::new(program)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            "--hide-scrollbars",
            "--window-size=1280,1000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(arguments)
        .arg(format!("file://{}", page.display()))
        .stdout(output.reopen().unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(180) {
            child.kill().unwrap();
            panic!("chromium took over 3 minutes on {}", page.display());
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "chromium {arguments:?}: {status}");
    std::fs::read_to_string(output.path()).unwrap()
}

/// The values of `attribute` (`id`, `href`) on the elements of `dom`, as the browser wrote them.
fn values<'a>(dom: &'a str, attribute: &str) -> Vec<&'a str> {
    let marker = format!(" {attribute}=\"");
    dom.split(marker.as_str())
        .skip(1)
        .map(|rest| &rest[..rest.find('"').unwrap()])
        .collect()
}

#[test]
#[ignore = "opens the report in headless Chromium: CI's slow step"]
fn a_site_sized_report_in_a_browser() {
    let directory = tempfile::tempdir().unwrap();
    let (state, store) = site_night(directory.path(), 1000);
    write_reports(directory.path(), &state, &store).unwrap();
    let report = directory.path().join("report.html");
    let size = std::fs::metadata(&report).unwrap().len();
    eprintln!("report.html, 1,000 packages x 9 cells: {size} bytes");
    assert!(size < 5_000_000, "{size} bytes");
    let result: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(directory.path().join("result.json")).unwrap())
            .unwrap();
    let cells = result["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 9000);

    let started = Instant::now();
    let dom = chromium(&report, &["--dump-dom"]);
    eprintln!("chromium loaded it and dumped its DOM in {:?}", started.elapsed());
    // Every cell, once, with its state: the attributes from `data-package` to `data-state`.
    let mut seen: HashSet<&str> = HashSet::new();
    for piece in dom.split("<td class=\"cell ").skip(1) {
        let start = piece.find("data-package=").unwrap();
        let state = piece.find("data-state=\"").unwrap() + "data-state=\"".len();
        let end = state + piece[state..].find('"').unwrap() + 1;
        assert!(seen.insert(&piece[start..end]), "twice: {}", &piece[start..end]);
    }
    assert_eq!(seen.len(), 9000);
    assert_eq!(
        dom.matches(" data-state=\"").count(),
        9000,
        "a state on something else than a cell"
    );
    let mut not_passed: BTreeMap<&str, usize> = BTreeMap::new();
    for cell in cells {
        let field = |name: &str| cell[name].as_str().unwrap();
        let reason = field("reason");
        let wanted = format!(
            "data-package=\"{}\" data-python=\"{}\" data-layer=\"{}\" data-arch=\"{}\" data-state=\"{}\"",
            field("package"),
            field("python"),
            field("layer"),
            field("arch"),
            field("state")
        );
        assert!(seen.contains(wanted.as_str()), "the browser's DOM lacks {wanted}");
        if !["built", "up-to-date"].contains(&field("state")) {
            *not_passed.entry(field("package")).or_default() += 1;
            assert!(!reason.is_empty());
        }
    }

    // What did not pass: before the matrix, every such cell in one entry of its package.
    let failures = &dom[dom.find("<section id=\"failures\"").unwrap()..dom.find("id=\"matrix\"").unwrap()];
    let mut listed: BTreeMap<&str, usize> = BTreeMap::new();
    for entry in failures.split("<li class=\"group\"").skip(1) {
        let package = values(entry, "data-entry")[0];
        let count: usize = values(entry, "data-cells")[0].parse().unwrap();
        *listed.entry(package).or_default() += count;
    }
    assert_eq!(listed, not_passed);
    for cause in [
        "site-stack",
        "package",
        "limit",
        "dependency",
        "held-back",
        "cancelled",
    ] {
        assert!(failures.contains(&format!("id=\"cause-{cause}\"")), "{cause}");
    }

    // Counts at the top, one line per state the night has.
    let counts = &dom[dom.find("id=\"counts\"").unwrap()..dom.find("</table>").unwrap()];
    let states: BTreeSet<&str> = cells.iter().map(|cell| cell["state"].as_str().unwrap()).collect();
    assert_eq!(states.len(), 10);
    for state in &states {
        assert!(counts.contains(&format!("<tr id=\"count-{state}\">")), "{state}");
    }

    // Every in-page link leads to an element: rows, entries, states, causes.
    let ids: Vec<&str> = values(&dom, "id");
    let unique: HashSet<&str> = ids.iter().copied().collect();
    assert_eq!(ids.len(), unique.len(), "an id twice");
    let links: Vec<&str> = values(&dom, "href")
        .into_iter()
        .filter_map(|link| link.strip_prefix('#'))
        .collect();
    assert!(links.len() > 2000, "{} in-page links", links.len());
    for link in &links {
        assert!(unique.contains(link), "#{link} leads nowhere");
    }
    for package in cells.iter().map(|cell| cell["package"].as_str().unwrap()) {
        let anchor = format!("pkg-{}", wheelwright::spec::normalize_name(package));
        assert!(unique.contains(anchor.as_str()), "{anchor}");
    }

    // A picture of the top of it, kept by CI.
    let artefacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/ci-artifacts");
    std::fs::create_dir_all(&artefacts).unwrap();
    let screenshot = artefacts.join("nightly-report-site.png");
    chromium(&report, &[&format!("--screenshot={}", screenshot.display())]);
    assert!(std::fs::metadata(&screenshot).is_ok_and(|meta| meta.len() > 10_000));
}
