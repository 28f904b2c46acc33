//! The reports of a nightly run, in its directory: `result.json` (every cell, for programs),
//! `summary.md` (for CI job pages: counts by state, then what did not pass grouped by cause,
//! capped) and `report.html` (counts by state, what did not pass grouped by cause, the
//! packages of each state, and the whole matrix coloured by state with durations, sizes, links
//! to logs and each package's last runs; static, one file, no JavaScript, a few MB for a
//! site's thousand packages).
//!
//! Both human reports list what did not pass the same way: the cells of one package that ended
//! alike (same state, same reason but for the cell's own names) are one entry, written with
//! its cells in few words (`py3.11-3.13 × generic, x86-64-v3`), and entries are grouped by
//! cause class (`cause_of`), the causes a maintainer acts on first.
//!
//! What both share is here: the night's shape (columns, packages: `Matrix`) and its entries
//! (`failure_groups`); each renders in its own file (`summary.rs`, `html.rs`).

mod html;
mod summary;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Serialize;

use super::NightlyError;
use super::model::{CellResult, RunState};
use super::state::{CellState, StateStore, utc, write_json_atomic};
use crate::cause::Cause;
use crate::words::count;

/// The cause classes in the order the reports list them, with what each means: what a
/// maintainer can act on first, what follows from other failures or from the run last. A
/// class not named here is listed after these, under its own name.
const CAUSES: [(&str, &str); 9] = [
    ("recipe", "the recipe, as written or imported"),
    (
        "site-stack",
        "the site's software stack: a module, a system library, a compiler too old",
    ),
    (
        "source",
        "the source: fetching it, not on the index, no version the recipe can build",
    ),
    ("package", "the build or the smoke test failed"),
    ("tool", "wheelwright itself"),
    ("limit", "past the cell's time or memory limit"),
    ("dependency", "a package it needs did not pass"),
    (
        "held-back",
        "built, not published: held back for its libraries, or its GPU test not run",
    ),
    ("cancelled", "the run was stopped before the cell ended"),
];

/// Counts by state, in a fixed order.
pub fn counts(results: &[CellResult]) -> Vec<(CellState, usize)> {
    let mut counts: BTreeMap<CellState, usize> = BTreeMap::new();
    for result in results {
        *counts.entry(result.state).or_default() += 1;
    }
    counts.into_iter().collect()
}

/// `6 built, 2 up-to-date, 1 failed`.
pub fn headline(results: &[CellResult]) -> String {
    let counts = counts(results);
    if counts.is_empty() {
        return "no cells".to_string();
    }
    counts
        .iter()
        .map(|(state, number)| format!("{number} {state}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The cause class of a cell that did not pass: what the reports group failures by.
///
/// The cell's own (`cause`, what its build or plan found); for a cell without one (results of
/// older runs, states no build judged), from what it says or its state: an unplannable
/// cell's reason names its class (`[source] ...`), a time or memory limit is `limit`, a failed
/// dependency `dependency`, a stopped run `cancelled`, a built wheel that was held back or
/// not tested `held-back`, every other failure `package`.
pub(crate) fn cause_of(result: &CellResult) -> &'static str {
    let declared = || {
        let (class, _) = result.reason.as_deref()?.strip_prefix('[')?.split_once("] ")?;
        serde_json::from_value::<Cause>(serde_json::Value::String(class.to_string())).ok()
    };
    match (result.cause, result.state) {
        // Built but not published, or stopped: whatever a build said, not a failure of its own.
        (_, CellState::UntestedGpu | CellState::Held) => "held-back",
        (_, CellState::Cancelled) => "cancelled",
        (Some(cause), _) => cause.as_str(),
        (None, CellState::Unplannable) => declared().map_or("package", Cause::as_str),
        (None, CellState::Timeout | CellState::OutOfMemory) => "limit",
        (None, CellState::DependencyFailed) => "dependency",
        (None, _) => "package",
    }
}

/// A cell's reason as its entry shows it: without the `[class] ` it starts with when the
/// entry's heading says the class already.
fn entry_reason(result: &CellResult) -> &str {
    let reason = result.reason.as_deref().unwrap_or_default();
    reason
        .strip_prefix(&format!("[{}] ", cause_of(result)))
        .unwrap_or(reason)
}

/// Where a cause class is listed, and what it means (`None` for a class this module does
/// not know).
fn cause_rank(cause: &str) -> (usize, Option<&'static str>) {
    CAUSES
        .iter()
        .position(|(name, _)| *name == cause)
        .map_or((CAUSES.len(), None), |index| (index, Some(CAUSES[index].1)))
}

#[derive(Serialize)]
struct ResultFile<'a> {
    run: &'a str,
    config: &'a Path,
    executor: &'a str,
    started: u64,
    finished: Option<u64>,
    ok: bool,
    /// The most the run's work directory held at once, in bytes.
    peak_scratch: u64,
    /// What pruning the source cache removed: (directories, bytes).
    cache_pruned: (usize, u64),
    /// What pruning uv's cache removed: (packages, bytes).
    build_cache_pruned: (usize, u64),
    /// How busy the machine's CPUs were (the local executor): cores busy per interval.
    #[serde(skip_serializing_if = "Option::is_none")]
    cpu: Option<&'a super::model::CpuUse>,
    /// Cores busy on average over the run.
    #[serde(skip_serializing_if = "Option::is_none")]
    cpu_busy_mean: Option<f64>,
    counts: BTreeMap<String, usize>,
    /// What the check of the wheelhouse after publishing found, and the holes filled.
    #[serde(skip_serializing_if = "Option::is_none")]
    check: Option<&'a super::check::CheckSummary>,
    cells: &'a [CellResult],
}

/// Writes `result.json`, `summary.md` and `report.html` into the run directory.
pub fn write_reports(directory: &Path, state: &RunState, store: &StateStore) -> Result<(), NightlyError> {
    let results = state.results();
    write_json_atomic(
        &directory.join("result.json"),
        &ResultFile {
            run: &state.name,
            config: &state.config,
            executor: &state.executor,
            started: state.started,
            finished: state.finished,
            ok: state.ok(),
            peak_scratch: state.peak_scratch,
            cache_pruned: state.cache_pruned,
            build_cache_pruned: state.build_cache_pruned,
            cpu: state.cpu.as_ref(),
            cpu_busy_mean: state.cpu.as_ref().and_then(super::model::CpuUse::mean),
            counts: counts(&results)
                .into_iter()
                .map(|(state, number)| (state.to_string(), number))
                .collect(),
            check: state.check.as_ref(),
            cells: &results,
        },
    )?;
    let matrix = Matrix::of(&results);
    let groups = failure_groups(&results);
    write_atomic(
        &directory.join("summary.md"),
        &summary::summary(state, &results, &matrix, &groups),
    )?;
    write_atomic(
        &directory.join("report.html"),
        &html::html(directory, state, &results, &matrix, &groups, store)?,
    )?;
    Ok(())
}

fn write_atomic(path: &Path, text: &str) -> std::io::Result<()> {
    crate::atomic::write(path, text.as_bytes())
}

fn human_seconds(seconds: f64) -> String {
    if seconds >= 3600.0 {
        format!(
            "{}h{:02}m",
            (seconds / 3600.0) as u64,
            (seconds % 3600.0 / 60.0) as u64
        )
    } else if seconds >= 60.0 {
        format!("{}m{:02}s", (seconds / 60.0) as u64, (seconds % 60.0) as u64)
    } else {
        format!("{seconds:.1}s")
    }
}

fn human_size(bytes: u64) -> String {
    if bytes >= 1 << 30 {
        format!("{:.1} GiB", bytes as f64 / (1u64 << 30) as f64)
    } else if bytes >= 1 << 20 {
        format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
    } else {
        format!("{:.0} KiB", bytes as f64 / 1024.0)
    }
}

/// The first line of `text` (with the next when it ends in `:`), without the path of the log
/// it names (`; log: PATH`: the report links the cell's log), at most `characters` long
/// (`...` when cut).
fn short(text: &str, characters: usize) -> String {
    let mut lines = text.lines().map(str::trim).filter(|line| !line.is_empty());
    let mut line = lines.next().unwrap_or_default().to_string();
    // A lead-in (`the build failed:`) says little without the line it leads to.
    if line.ends_with(':')
        && let Some(next) = lines.next()
    {
        line = format!("{line} {next}");
    }
    if let Some(at) = line.find("; log: ") {
        line.truncate(at);
    }
    crate::words::clip(&line, characters)
}

/// `Scratch: at most 1.2 GiB under work/ at once; source cache: 2 sources pruned (300 MiB);
/// build cache: within its limit. CPUs: 1.83 of 2 busy on average.`
fn scratch_line(state: &RunState) -> String {
    let pruned = |(pruned, bytes): (usize, u64), what: &str| {
        if pruned == 0 {
            "within its limit".to_string()
        } else {
            format!("{} pruned ({})", count(pruned, what), human_size(bytes))
        }
    };
    let cpu = state
        .cpu
        .as_ref()
        .and_then(|cpu| Some((cpu.mean()?, cpu.cores)))
        .map(|(mean, cores)| format!(" CPUs: {mean:.2} of {cores} busy on average."))
        .unwrap_or_default();
    format!(
        "Scratch: at most {} under work/ at once; source cache: {}; build cache: {}.{cpu}",
        human_size(state.peak_scratch),
        pruned(state.cache_pruned, "source"),
        pruned(state.build_cache_pruned, "package"),
    )
}

/// The order of Python versions: by number (`3.9` before `3.10`), then as written.
fn python_order(python: &str) -> (Vec<u64>, &str) {
    (
        python
            .split('.')
            .map(|part| part.parse().unwrap_or(u64::MAX))
            .collect(),
        python,
    )
}

/// The run's columns and packages: the shape both human reports describe cells by.
struct Matrix<'a> {
    /// (layer, Python, arch), by layer, Python (by number) and arch.
    columns: Vec<(&'a str, &'a str, &'a str)>,
    /// The run's Pythons, by number.
    pythons: Vec<&'a str>,
    several_layers: bool,
    /// Each package's cells, by name (its PEP 503 form: `Pillow` among the `p`s).
    packages: Vec<(&'a str, Vec<&'a CellResult>)>,
}

impl<'a> Matrix<'a> {
    fn of(results: &'a [CellResult]) -> Self {
        let mut columns: Vec<(&str, &str, &str)> = results
            .iter()
            .map(|result| {
                (
                    result.layer.as_str(),
                    result.python.as_str(),
                    result.arch.as_str(),
                )
            })
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        columns.sort_by(|a, b| (a.0, python_order(a.1), a.2).cmp(&(b.0, python_order(b.1), b.2)));
        let mut pythons: Vec<&str> = columns
            .iter()
            .map(|(_, python, _)| *python)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        pythons.sort_by_key(|python| python_order(python));
        let layers: BTreeSet<&str> = columns.iter().map(|(layer, _, _)| *layer).collect();
        let mut packages: BTreeMap<(String, &str), Vec<&CellResult>> = BTreeMap::new();
        for result in results {
            packages
                .entry((
                    crate::spec::normalize_name(&result.package),
                    result.package.as_str(),
                ))
                .or_default()
                .push(result);
        }
        Matrix {
            columns,
            pythons,
            several_layers: layers.len() > 1,
            packages: packages
                .into_iter()
                .map(|((_, package), cells)| (package, cells))
                .collect(),
        }
    }

    /// Cells in few words: `py3.11-3.13 × generic, x86-64-v3` for Pythons x archs; cells that
    /// are not one such product in parts (`py3.12 × generic; py3.11, 3.13 × x86-64-v3`), each
    /// with its layer when the run has several (`gentoo2023 py3.12 × generic`).
    fn describe(&self, cells: &[&CellResult]) -> String {
        // layer -> arch -> the indices of its Pythons in `self.pythons`.
        let mut layers: BTreeMap<&str, BTreeMap<&str, BTreeSet<usize>>> = BTreeMap::new();
        for cell in cells {
            if let Some(index) = self.pythons.iter().position(|python| *python == cell.python) {
                layers
                    .entry(cell.layer.as_str())
                    .or_default()
                    .entry(cell.arch.as_str())
                    .or_default()
                    .insert(index);
            }
        }
        let mut parts = Vec::new();
        for (layer, archs) in layers {
            // Archs with the same Pythons share a part, in the order the archs come.
            let mut products: Vec<(BTreeSet<usize>, Vec<&str>)> = Vec::new();
            for (arch, pythons) in archs {
                match products.iter_mut().find(|(others, _)| *others == pythons) {
                    Some((_, archs)) => archs.push(arch),
                    None => products.push((pythons, vec![arch])),
                }
            }
            for (pythons, archs) in products {
                let product = format!("{} × {}", self.python_ranges(&pythons), archs.join(", "));
                parts.push(if self.several_layers {
                    format!("{layer} {product}")
                } else {
                    product
                });
            }
        }
        parts.join("; ")
    }

    /// `py3.11-3.13`, `py3.9, 3.11-3.12`: neighbouring Pythons of the run as a range.
    fn python_ranges(&self, indices: &BTreeSet<usize>) -> String {
        let indices: Vec<usize> = indices.iter().copied().collect();
        let name = |index: usize| self.pythons.get(index).copied().unwrap_or("?");
        let mut ranges = Vec::new();
        let mut start = 0;
        while start < indices.len() {
            let mut end = start;
            while end + 1 < indices.len() && indices[end + 1] == indices[end] + 1 {
                end += 1;
            }
            ranges.push(if start == end {
                name(indices[start]).to_string()
            } else {
                format!("{}-{}", name(indices[start]), name(indices[end]))
            });
            start = end + 1;
        }
        format!("py{}", ranges.join(", "))
    }
}

/// A package's cells that did not pass and ended alike: one entry of the lists of failures.
struct FailureGroup<'a> {
    cause: &'static str,
    /// At least one; the first speaks for the others (its reason and logs are shown).
    cells: Vec<&'a CellResult>,
}

/// A cell's reason without the cell's own names (its directory `py3.12-generic`, `3.12
/// generic`, `cp312`, `python3.12`), so that cells that failed alike fall into one group.
fn reason_key(result: &CellResult) -> String {
    let reason = result.reason.as_deref().unwrap_or_default();
    let python = &result.python;
    let arch = &result.arch;
    reason
        .replace(&format!("py{python}-{arch}"), "py*-*")
        .replace(&format!("{python} {arch}"), "* *")
        .replace(&format!("cp{}", python.replace('.', "")), "cp*")
        .replace(&format!("python{python}"), "python*")
}

/// What did not pass, as entries: by cause class (in [`CAUSES`] order), package, version,
/// state and reason.
fn failure_groups(results: &[CellResult]) -> Vec<FailureGroup<'_>> {
    type Key<'a> = (usize, &'static str, String, &'a str, CellState, String);
    let mut groups: BTreeMap<Key<'_>, Vec<&CellResult>> = BTreeMap::new();
    for result in results.iter().filter(|result| !result.state.passed()) {
        let cause = cause_of(result);
        groups
            .entry((
                cause_rank(cause).0,
                cause,
                crate::spec::normalize_name(&result.package),
                result.version.as_str(),
                result.state,
                reason_key(result),
            ))
            .or_default()
            .push(result);
    }
    groups
        .into_iter()
        .map(|((_, cause, ..), cells)| FailureGroup { cause, cells })
        .collect()
}

/// The groups of one cause each, in order: (cause, its groups).
fn by_cause<'g, 'a>(groups: &'g [FailureGroup<'a>]) -> Vec<(&'static str, &'g [FailureGroup<'a>])> {
    let mut causes = Vec::new();
    let mut start = 0;
    for index in 1..=groups.len() {
        if index == groups.len() || groups[index].cause != groups[start].cause {
            causes.push((groups[start].cause, &groups[start..index]));
            start = index;
        }
    }
    causes
}

/// The entries of one cause by reason: entries of several packages that give the same reason
/// (a module the site lacks, a package they all need) are one block, the biggest first; every
/// other entry is a block of its own, in the order of the packages.
fn by_reason<'g, 'a>(groups: &'g [FailureGroup<'a>]) -> Vec<Vec<&'g FailureGroup<'a>>> {
    let mut blocks: Vec<Vec<&FailureGroup>> = Vec::new();
    let mut positions: BTreeMap<(CellState, String), usize> = BTreeMap::new();
    for group in groups {
        let Some(first) = group.cells.first() else {
            continue;
        };
        let key = (first.state, reason_key(first));
        match positions.get(&key) {
            Some(&position) => blocks[position].push(group),
            None => {
                positions.insert(key, blocks.len());
                blocks.push(vec![group]);
            }
        }
    }
    blocks.sort_by_key(|block| std::cmp::Reverse(block.len()));
    blocks
}

/// `3 packages, 9 cells`: the size of a list of entries.
fn tally<'g, 'a: 'g>(groups: impl IntoIterator<Item = &'g FailureGroup<'a>>) -> String {
    let mut packages: BTreeSet<&str> = BTreeSet::new();
    let mut cells = 0;
    for group in groups {
        cells += group.cells.len();
        packages.extend(group.cells.iter().map(|cell| cell.package.as_str()));
    }
    format!("{}, {}", count(packages.len(), "package"), count(cells, "cell"))
}

/// `2742 cells of 472 packages did not pass`.
fn not_passed(groups: &[FailureGroup<'_>]) -> String {
    let packages: BTreeSet<&str> = groups
        .iter()
        .flat_map(|group| group.cells.iter().map(|cell| cell.package.as_str()))
        .collect();
    let cells: usize = groups.iter().map(|group| group.cells.len()).sum();
    format!(
        "{} of {} did not pass",
        count(cells, "cell"),
        count(packages.len(), "package")
    )
}

/// The cells of each state and the packages with such a cell, in the states' order.
fn by_state(results: &[CellResult]) -> BTreeMap<CellState, (usize, BTreeSet<&str>)> {
    let mut states: BTreeMap<CellState, (usize, BTreeSet<&str>)> = BTreeMap::new();
    for result in results {
        let (cells, packages) = states.entry(result.state).or_default();
        *cells += 1;
        packages.insert(result.package.as_str());
    }
    states
}

#[cfg(test)]
mod tests {
    use super::*;

    const PYTHONS: [&str; 3] = ["3.11", "3.12", "3.13"];
    const ARCHS: [&str; 3] = ["generic", "x86-64-v3", "x86-64-v4"];

    /// A cell's result as `run.json` holds it (through serde: fields added later with a
    /// default need no change here).
    fn cell(package: &str, python: &str, arch: &str, state: &str, reason: Option<String>) -> CellResult {
        serde_json::from_value(serde_json::json!({
            "package": package,
            "version": "1.0",
            "layer": "gentoo2023",
            "python": python,
            "arch": arch,
            "state": state,
            "reason": reason,
            "seconds": 12.5,
        }))
        .unwrap()
    }

    fn run_state(results: Vec<CellResult>) -> RunState {
        serde_json::from_value(serde_json::json!({
            "name": "20261206-020000",
            "config": "/site/ci/nightly.toml",
            "executor": "local",
            "started": 1_796_522_400u64,
            "finished": 1_796_529_600u64,
            "up_to_date": results,
            "tasks": [],
        }))
        .unwrap()
    }

    /// Every value of `attribute` (`id="`, `href="#`) in `html`.
    fn values<'a>(html: &'a str, attribute: &str) -> Vec<&'a str> {
        html.split(attribute)
            .skip(1)
            .map(|rest| &rest[..rest.find('"').unwrap()])
            .collect()
    }

    #[test]
    fn durations_in_hours_minutes_or_seconds() {
        assert_eq!(human_seconds(12.34), "12.3s");
        assert_eq!(human_seconds(157.0), "2m37s");
        assert_eq!(human_seconds(7_200.0), "2h00m");
        assert_eq!(human_seconds(29_100.0), "8h05m");
    }

    #[test]
    fn a_reason_in_short_says_what_its_lead_in_leads_to() {
        assert_eq!(short("no wheel for 3.13\nmore", 100), "no wheel for 3.13");
        assert_eq!(
            short(
                "the build failed:\n\n  a.c:1:2: error: no <format>\nb.c: error",
                100
            ),
            "the build failed: a.c:1:2: error: no <format>"
        );
        assert_eq!(short("the build failed:", 100), "the build failed:");
        assert_eq!(short(&"x".repeat(120), 10), "xxxxxxx...");
        assert_eq!(short("", 10), "");
    }

    #[test]
    fn causes_come_from_states_until_cells_carry_theirs() {
        let of = |state: &str| cause_of(&cell("a", "3.12", "generic", state, None));
        assert_eq!(of("failed"), "package");
        assert_eq!(of("timeout"), "limit");
        assert_eq!(of("out-of-memory"), "limit");
        assert_eq!(of("dependency-failed"), "dependency");
        assert_eq!(of("cancelled"), "cancelled");
        assert_eq!(of("held"), "held-back");
        assert_eq!(of("untested-gpu"), "held-back");
        // Every class cause_of gives is listed, with its meaning.
        for state in ["failed", "timeout", "dependency-failed", "cancelled", "held"] {
            assert!(cause_rank(of(state)).1.is_some(), "{state}");
        }
        assert_eq!(cause_rank("something-new"), (CAUSES.len(), None));
        // An unplannable package's reason names its class.
        let unplannable = |reason: &str| cell("a", "3.12", "generic", "unplannable", Some(reason.into()));
        for class in ["recipe", "site-stack", "source", "tool"] {
            let result = unplannable(&format!("[{class}] it cannot be planned"));
            assert_eq!(cause_of(&result), class);
            assert_eq!(entry_reason(&result), "it cannot be planned");
        }
        // A cell's own cause wins over what its state suggests.
        let mut told = cell("a", "3.12", "generic", "failed", None);
        told.cause = Some(Cause::SiteStack);
        assert_eq!(cause_of(&told), "site-stack");
        told.state = CellState::Timeout;
        told.cause = Some(Cause::Limit);
        assert_eq!(cause_of(&told), "limit");
        let unclassed = unplannable("[somewhere] it cannot be planned");
        assert_eq!(cause_of(&unclassed), "package");
        assert_eq!(entry_reason(&unclassed), "[somewhere] it cannot be planned");
    }

    #[test]
    fn cells_in_few_words() {
        let results: Vec<CellResult> = ["3.9", "3.10", "3.11"]
            .iter()
            .flat_map(|python| {
                ["generic", "x86-64-v3"]
                    .iter()
                    .map(move |arch| cell("a", python, arch, "failed", None))
            })
            .collect();
        let matrix = Matrix::of(&results);
        assert_eq!(matrix.pythons, ["3.9", "3.10", "3.11"]);
        let all: Vec<&CellResult> = results.iter().collect();
        assert_eq!(matrix.describe(&all), "py3.9-3.11 × generic, x86-64-v3");
        let some: Vec<&CellResult> = results
            .iter()
            .filter(|cell| cell.arch == "x86-64-v3" || cell.python == "3.10")
            .collect();
        assert_eq!(matrix.describe(&some), "py3.10 × generic; py3.9-3.11 × x86-64-v3");
        let gaps: Vec<&CellResult> = results.iter().filter(|cell| cell.python != "3.10").collect();
        assert_eq!(matrix.describe(&gaps), "py3.9, 3.11 × generic, x86-64-v3");
        let mut layered = results.clone();
        layered[0].layer = "gentoo2020".into();
        let matrix = Matrix::of(&layered);
        assert_eq!(
            matrix.describe(&layered.iter().take(2).collect::<Vec<_>>()),
            "gentoo2020 py3.9 × generic; gentoo2023 py3.9 × x86-64-v3"
        );
    }

    #[test]
    fn failures_are_grouped_by_cause_then_package_and_reason() {
        let mut results = Vec::new();
        for python in PYTHONS {
            for arch in ARCHS {
                // One reason for all nine cells, but for each cell's own directory.
                results.push(cell(
                    "numpy",
                    python,
                    arch,
                    "failed",
                    Some(format!(
                        "the build failed: error: 'format' file not found\nsee /runs/r/numpy/gentoo2023/py{python}-{arch}/build.log"
                    )),
                ));
                results.push(cell(
                    "scipy",
                    python,
                    arch,
                    "dependency-failed",
                    Some(format!("needs numpy, whose cell {python} {arch} failed")),
                ));
                let (state, reason) = match (python, arch) {
                    ("3.13", "x86-64-v4") => ("timeout", "ran past its time limit of 1h"),
                    ("3.13", _) => ("failed", "no wheel for 3.13"),
                    _ => ("built", "new version"),
                };
                results.push(cell("Pillow_SIMD", python, arch, state, Some(reason.into())));
            }
        }
        results.sort_by(|a, b| (&a.package, &a.python, &a.arch).cmp(&(&b.package, &b.python, &b.arch)));
        let groups = failure_groups(&results);
        let matrix = Matrix::of(&results);
        let listed: Vec<String> = groups
            .iter()
            .map(|group| {
                format!(
                    "{} {} {}: {}",
                    group.cause,
                    group.cells[0].package,
                    group.cells[0].state,
                    matrix.describe(&group.cells)
                )
            })
            .collect();
        assert_eq!(
            listed,
            [
                "package numpy failed: py3.11-3.13 × generic, x86-64-v3, x86-64-v4",
                "package Pillow_SIMD failed: py3.13 × generic, x86-64-v3",
                "limit Pillow_SIMD timeout: py3.13 × x86-64-v4",
                "dependency scipy dependency-failed: py3.11-3.13 × generic, x86-64-v3, x86-64-v4",
            ]
        );

        let directory = tempfile::tempdir().unwrap();
        let store = StateStore::new(&directory.path().join("state"));
        write_reports(directory.path(), &run_state(results), &store).unwrap();
        let summary = fs_err::read_to_string(directory.path().join("summary.md")).unwrap();
        assert!(
            summary.contains("3 packages, 27 cells: 6 built, 11 failed, 9 dependency-failed, 1 timeout."),
            "{summary}"
        );
        assert!(summary.contains("| failed | 11 | 2 |"), "{summary}");
        let package = summary.find("### package: the build or the smoke test failed (2 packages, 11 cells)");
        let limit = summary.find("### limit");
        let dependency = summary.find("### dependency");
        assert!(
            package < limit && limit < dependency && package.is_some(),
            "{summary}"
        );
        assert!(
            summary.contains(
                "- **numpy 1.0**: failed, py3.11-3.13 × generic, x86-64-v3, x86-64-v4: the build failed: error: 'format' file not found\n"
            ),
            "{summary}"
        );
        // A small night keeps its table of cells.
        assert!(summary.contains("## Cells"), "{summary}");

        let html = fs_err::read_to_string(directory.path().join("report.html")).unwrap();
        assert_eq!(html.matches("<li class=\"group\"").count(), 4, "{html}");
        // The package's entry links to its row, its row to its first entry; names normalized.
        assert!(html.contains("id=\"pkg-pillow-simd\""), "{html}");
        assert!(html.contains("id=\"fail-pillow-simd\""), "{html}");
        assert!(
            html.contains("<a href=\"#fail-pillow-simd\">Pillow_SIMD</a>"),
            "{html}"
        );
        // The reason once, in the entry, with whose it is (the cells' differ in their paths).
        assert_eq!(html.matches("py3.11-generic&#x2F;build.log").count(), 1, "{html}");
        assert_eq!(html.matches("py3.12-generic&#x2F;build.log").count(), 0, "{html}");
        assert!(html.contains("The reason of py3.11 × generic"), "{html}");
        // The consequences start closed.
        assert!(html.contains("<details id=\"cause-package\" data-cause=\"package\" open>"));
        assert!(html.contains("<details id=\"cause-dependency\" data-cause=\"dependency\">"));
    }

    /// A site's night: `packages` packages x 3 Pythons x 3 archs, states mixed, 12 runs of
    /// history.
    fn site_night(directory: &Path, packages: usize) -> (RunState, StateStore) {
        let mut results = Vec::new();
        let mut history = Vec::new();
        for index in 0..packages {
            let package = if index % 7 == 0 {
                format!("Some_Package.{index}")
            } else {
                format!("package-{index:04}")
            };
            for python in PYTHONS {
                for arch in ARCHS {
                    let cell_directory = directory.join(format!("{package}/gentoo2023/py{python}-{arch}"));
                    let (state, reason) = match index % 10 {
                        0 => (
                            "failed",
                            format!(
                                "the build failed:\n{}see {}/build.log",
                                "src/module.cpp:12:10: error: 'format' file not found\n".repeat(8),
                                cell_directory.display()
                            ),
                        ),
                        1 if python == "3.13" => ("failed", "no version supports Python 3.13".to_string()),
                        2 => (
                            "dependency-failed",
                            format!("needs package-0001, whose cell {python} {arch} failed"),
                        ),
                        3 if arch == "x86-64-v4" => ("timeout", "ran past its time limit of 1h".to_string()),
                        4 if index % 50 == 4 => {
                            ("out-of-memory", "its processes held 9 GiB of memory".to_string())
                        }
                        5 if index % 100 == 5 => {
                            ("held", "held back, not published: libcuda.so.1".to_string())
                        }
                        6 if index % 100 == 6 => ("untested-gpu", "its smoke test needs 1 GPU".to_string()),
                        7 if index % 200 == 7 => ("cancelled", "the run was stopped".to_string()),
                        8 if index % 100 == 8 => (
                            "unplannable",
                            "[source] no version of it fits: 2.0 has only platform wheels".to_string(),
                        ),
                        _ if index % 3 == 0 => ("built", "recipe changed; source changed".to_string()),
                        _ => ("up-to-date", "built by run 20261205-020000".to_string()),
                    };
                    let mut result = cell(&package, python, arch, state, Some(reason));
                    if state != "up-to-date" {
                        result.log = Some(cell_directory.join("build.log"));
                        result.output_log = Some(cell_directory.join("output.log"));
                        result.size = Some(3_500_000);
                    } else {
                        result.seconds = 0.0;
                    }
                    results.push(result);
                }
            }
            for run in 0..12 {
                history.push(super::super::state::HistoryEntry {
                    run: format!("202611{:02}-020000", run + 10),
                    cell: format!("{package}/gentoo2023/py3.12-generic"),
                    package: package.clone(),
                    version: "1.0".into(),
                    state: if (index + run) % 5 == 0 {
                        CellState::Failed
                    } else {
                        CellState::Built
                    },
                    seconds: 30.0,
                    finished: 0,
                });
            }
        }
        let store = StateStore::new(&directory.join("state"));
        store.append_history(&history).unwrap();
        (run_state(results), store)
    }

    #[test]
    fn a_site_sized_night_fits_in_a_few_megabytes() {
        let directory = tempfile::tempdir().unwrap();
        let (state, store) = site_night(directory.path(), 1000);
        let results = state.results();
        let started = std::time::Instant::now();
        write_reports(directory.path(), &state, &store).unwrap();
        let html = fs_err::read_to_string(directory.path().join("report.html")).unwrap();
        eprintln!(
            "report.html for 1,000 packages x 9 cells: {} bytes; the three reports in {:?}",
            html.len(),
            started.elapsed()
        );
        assert!(html.len() < 5_000_000, "{} bytes", html.len());

        // Every cell, with its state; nothing else has a state attribute.
        assert_eq!(html.matches("<td class=\"cell st ").count(), 9000);
        assert_eq!(html.matches(" data-state=\"").count(), 9000);
        for result in results.iter().step_by(97) {
            let wanted = format!(
                "data-package=\"{}\" data-python=\"{}\" data-layer=\"{}\" data-arch=\"{}\" data-state=\"{}\"",
                result.package, result.python, result.layer, result.arch, result.state
            );
            assert!(html.contains(&wanted), "{wanted}");
        }
        // Reasons once, in the entries: the 8 error lines of 100 packages' 9 cells in one entry
        // each; each cell's tooltip has the reason's first line and the error it leads to.
        assert_eq!(html.matches("module.cpp:12:10").count(), 100 * 8 + 100 * 9);
        assert!(html.contains(" title=\"the build failed: src&#x2F;module.cpp:12:10: error: "));
        // Counts at the top, then what did not pass, the states, the matrix.
        let positions: Vec<usize> = [
            "id=\"counts\"",
            "id=\"failures\"",
            "id=\"states\"",
            "id=\"matrix\"",
        ]
        .iter()
        .map(|id| html.find(id).unwrap())
        .collect();
        assert!(positions.is_sorted(), "{positions:?}");
        for state in [
            "built",
            "up-to-date",
            "failed",
            "dependency-failed",
            "untested-gpu",
            "held",
            "cancelled",
            "timeout",
            "out-of-memory",
            "unplannable",
        ] {
            assert!(html.contains(&format!("<tr id=\"count-{state}\">")), "{state}");
            assert!(
                html.contains(&format!("<details id=\"state-{state}\"")),
                "{state}"
            );
        }
        for cause in [
            "source",
            "package",
            "limit",
            "dependency",
            "held-back",
            "cancelled",
        ] {
            assert!(html.contains(&format!("id=\"cause-{cause}\"")), "{cause}");
        }
        // Every anchor resolves, and no two elements share an id.
        let ids: Vec<&str> = values(&html, " id=\"");
        let unique: BTreeSet<&str> = ids.iter().copied().collect();
        assert_eq!(ids.len(), unique.len());
        let links = values(&html, "href=\"#");
        assert!(links.len() > 2000, "{}", links.len());
        for link in links {
            assert!(unique.contains(link), "#{link} leads nowhere");
        }
        assert!(unique.contains("pkg-some-package-7"));
        // No inline styles, no scripts.
        assert!(!html.contains("style=\"") && !html.contains("<script"));
        // History: at most the last 10 runs a package.
        assert_eq!(html.matches("<i class=\"st ").count(), 10 * 1000);

        let summary = fs_err::read_to_string(directory.path().join("summary.md")).unwrap();
        eprintln!("summary.md: {} bytes", summary.len());
        assert!(summary.len() < 100_000, "{} bytes", summary.len());
        assert_eq!(
            summary
                .lines()
                .filter(|line| line.trim_start().starts_with("- **"))
                .count(),
            summary::SUMMARY_GROUPS,
            "{summary}"
        );
        // Packages that gave one reason: one block, the reason once.
        assert!(
            summary.contains(
                "\n- 10 packages, 90 cells, one reason: unplannable: no version of it fits: 2.0 has only platform wheels\n  - **package-0008 1.0**: py3.11-3.13 × generic, x86-64-v3, x86-64-v4 (log: "
            ),
            "{summary}"
        );
        assert_eq!(
            html.matches("no version of it fits").count(),
            1 + 10 * 9,
            "once in its block, and in each cell's tooltip"
        );
        assert!(html.contains("<li class=\"block shared\"><strong>10 packages, 90 cells</strong>, one reason:<pre>no version of it fits"));
        assert!(html.contains("<strong>100 packages, 900 cells</strong>, one reason:<pre>needs package-0001, whose cell 3.11 generic failed</pre><p class=\"note\">The reason of package-0002 py3.11 × generic; the others&#x27; differ only where they name their own cell.</p>"), "{html}");
        let groups = failure_groups(&results).len();
        assert!(
            summary.contains(&format!(
                "... and {} more entries (",
                groups - summary::SUMMARY_GROUPS
            )),
            "{summary}"
        );
        assert!(!summary.contains("## Cells"));
    }
}
