//! The reports of a nightly run, in its directory: `result.json` (every cell, for programs),
//! `summary.md` (for CI job pages) and `report.html` (the matrix coloured by state, with
//! durations, sizes, links to logs and each package's last runs; static, no JavaScript).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::NightlyError;
use super::model::{CellResult, RunState};
use super::state::{CellState, StateStore, utc, write_json_atomic};

const TEMPLATE: &str = include_str!("report.html.tera");

/// How many earlier runs the HTML report shows per package.
const HISTORY_RUNS: usize = 10;

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
    counts: BTreeMap<String, usize>,
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
            counts: counts(&results)
                .into_iter()
                .map(|(state, number)| (state.to_string(), number))
                .collect(),
            cells: &results,
        },
    )?;
    write_atomic(&directory.join("summary.md"), &summary(state, &results))?;
    write_atomic(
        &directory.join("report.html"),
        &html(directory, state, &results, store)?,
    )?;
    Ok(())
}

fn write_atomic(path: &Path, text: &str) -> std::io::Result<()> {
    let directory = path.parent().unwrap_or(Path::new("."));
    let temporary = tempfile::Builder::new()
        .prefix(".wheelwright-")
        .suffix(".tmp")
        .tempfile_in(directory)?;
    fs_err::write(temporary.path(), text)?;
    temporary.persist(path).map_err(|error| error.error)?;
    Ok(())
}

fn human_seconds(seconds: f64) -> String {
    if seconds >= 60.0 {
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

/// The first line of a reason, for tables.
fn first_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default();
    let line = line.replace('|', "\\|");
    if line.chars().count() > 160 {
        format!("{}...", line.chars().take(157).collect::<String>())
    } else {
        line
    }
}

/// `Scratch: at most 1.2 GiB under work/ at once; source cache: 2 sources pruned (300 MiB);
/// build cache: within its limit.`
fn scratch_line(state: &RunState) -> String {
    let pruned = |(pruned, bytes): (usize, u64), what: &str| {
        if pruned == 0 {
            "within its limit".to_string()
        } else {
            format!(
                "{pruned} {what}{} pruned ({})",
                if pruned == 1 { "" } else { "s" },
                human_size(bytes)
            )
        }
    };
    format!(
        "Scratch: at most {} under work/ at once; source cache: {}; build cache: {}.",
        human_size(state.peak_scratch),
        pruned(state.cache_pruned, "source"),
        pruned(state.build_cache_pruned, "package"),
    )
}

/// The Markdown summary.
fn summary(state: &RunState, results: &[CellResult]) -> String {
    let mut text = String::new();
    let packages: BTreeSet<&str> = results.iter().map(|result| result.package.as_str()).collect();
    let _ = writeln!(text, "# Nightly {}\n", state.name);
    let _ = writeln!(
        text,
        "{} package{}, {} cell{}: {}. Started {}{}.\n",
        packages.len(),
        if packages.len() == 1 { "" } else { "s" },
        results.len(),
        if results.len() == 1 { "" } else { "s" },
        headline(results),
        utc(state.started),
        state
            .finished
            .map(|finished| format!(
                ", took {}",
                human_seconds(finished.saturating_sub(state.started) as f64)
            ))
            .unwrap_or_default()
    );
    let _ = writeln!(text, "{}\n", scratch_line(state));
    let _ = writeln!(
        text,
        "| package | version | layer | python | arch | state | time | wheel |"
    );
    let _ = writeln!(text, "|---|---|---|---|---|---|---|---|");
    for result in results {
        let _ = writeln!(
            text,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            result.package,
            result.version,
            result.layer,
            result.python,
            result.arch,
            result.state,
            human_seconds(result.seconds),
            result
                .wheel
                .as_ref()
                .and_then(|wheel| wheel.file_name())
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_else(|| "-".to_string())
        );
    }
    let failures: Vec<&CellResult> = results.iter().filter(|result| !result.state.passed()).collect();
    if !failures.is_empty() {
        let _ = writeln!(text, "\n## Not passed\n");
        for result in failures {
            let _ = writeln!(
                text,
                "- {}: {}: {}{}",
                result.describe(),
                result.state,
                first_line(result.reason.as_deref().unwrap_or("no reason recorded")),
                result
                    .log
                    .as_ref()
                    .or(result.output_log.as_ref())
                    .filter(|log| !result
                        .reason
                        .as_deref()
                        .unwrap_or_default()
                        .contains(&log.display().to_string()))
                    .map(|log| format!(" (log: `{}`)", log.display()))
                    .unwrap_or_default()
            );
        }
    }
    let verified: Vec<&CellResult> = results
        .iter()
        .filter(|result| result.reproducible.is_some())
        .collect();
    if !verified.is_empty() {
        let _ = writeln!(text, "\n## Reproducibility (rebuilt up-to-date cells)\n");
        for result in verified {
            let Some(comparison) = &result.reproducible else {
                continue;
            };
            let _ = writeln!(
                text,
                "- {}: {}",
                result.describe(),
                if comparison.identical {
                    "byte-identical".to_string()
                } else {
                    format!("differs: {}", comparison.differences.join("; "))
                }
            );
        }
    }
    text
}

#[derive(Serialize)]
struct Column {
    key: String,
    layer: String,
    python: String,
    arch: String,
}

#[derive(Serialize, Default)]
struct HtmlCell {
    state: Option<String>,
    layer: String,
    python: String,
    arch: String,
    reason: String,
    log: Option<String>,
    seconds: String,
    size: Option<String>,
}

#[derive(Serialize)]
struct Past {
    run: String,
    state: String,
}

#[derive(Serialize)]
struct Row {
    package: String,
    version: String,
    cells: Vec<HtmlCell>,
    history: Vec<Past>,
}

#[derive(Serialize)]
struct Failure {
    package: String,
    version: String,
    layer: String,
    python: String,
    arch: String,
    state: String,
    reason: String,
    log: Option<String>,
    output_log: Option<String>,
}

/// A link to a log: relative to the run directory when it is inside it.
fn link(directory: &Path, path: Option<&PathBuf>) -> Option<String> {
    let path = path?;
    Some(match path.strip_prefix(directory) {
        Ok(relative) => relative.display().to_string(),
        Err(_) => format!("file://{}", path.display()),
    })
}

/// The HTML report.
fn html(
    directory: &Path,
    state: &RunState,
    results: &[CellResult],
    store: &StateStore,
) -> Result<String, NightlyError> {
    let columns: BTreeSet<(String, String, String)> = results
        .iter()
        .map(|result| (result.layer.clone(), result.python.clone(), result.arch.clone()))
        .collect();
    let columns: Vec<(String, String, String)> = columns.into_iter().collect();
    let mut packages: BTreeMap<String, Vec<&CellResult>> = BTreeMap::new();
    for result in results {
        packages.entry(result.package.clone()).or_default().push(result);
    }
    let history = store.history();
    let rows: Vec<Row> = packages
        .iter()
        .map(|(package, cells)| {
            let mut runs: Vec<Past> = Vec::new();
            let mut seen_runs: BTreeMap<String, CellState> = BTreeMap::new();
            for entry in history.iter().filter(|entry| &entry.package == package) {
                let worst = seen_runs.entry(entry.run.clone()).or_insert(entry.state);
                if !entry.state.passed() {
                    *worst = entry.state;
                }
            }
            for (run, state) in seen_runs
                .iter()
                .rev()
                .take(HISTORY_RUNS)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
            {
                runs.push(Past {
                    run: run.clone(),
                    state: state.to_string(),
                });
            }
            Row {
                package: package.clone(),
                version: cells.first().map(|cell| cell.version.clone()).unwrap_or_default(),
                cells: columns
                    .iter()
                    .map(|(layer, python, arch)| {
                        cells
                            .iter()
                            .find(|cell| &cell.layer == layer && &cell.python == python && &cell.arch == arch)
                            .map(|cell| HtmlCell {
                                state: Some(cell.state.to_string()),
                                layer: layer.clone(),
                                python: python.clone(),
                                arch: arch.clone(),
                                reason: cell.reason.clone().unwrap_or_default(),
                                log: link(directory, cell.log.as_ref().or(cell.output_log.as_ref())),
                                seconds: human_seconds(cell.seconds),
                                size: cell.size.map(human_size),
                            })
                            .unwrap_or_default()
                    })
                    .collect(),
                history: runs,
            }
        })
        .collect();
    let failures: Vec<Failure> = results
        .iter()
        .filter(|result| !result.state.passed())
        .map(|result| Failure {
            package: result.package.clone(),
            version: result.version.clone(),
            layer: result.layer.clone(),
            python: result.python.clone(),
            arch: result.arch.clone(),
            state: result.state.to_string(),
            reason: result.reason.clone().unwrap_or_default(),
            log: link(directory, result.log.as_ref()),
            output_log: link(directory, result.output_log.as_ref()),
        })
        .collect();
    let mut context = tera::Context::new();
    context.insert("run", &state.name);
    context.insert("headline", &headline(results));
    context.insert("started", &utc(state.started));
    context.insert("finished", &state.finished.map(utc));
    context.insert("executor", &state.executor);
    context.insert("scratch", &scratch_line(state));
    context.insert(
        "counts",
        &counts(results)
            .into_iter()
            .map(|(state, number)| serde_json::json!({"state": state.to_string(), "number": number}))
            .collect::<Vec<_>>(),
    );
    context.insert(
        "columns",
        &columns
            .iter()
            .map(|(layer, python, arch)| Column {
                key: format!("{layer}/py{python}-{arch}"),
                layer: layer.clone(),
                python: python.clone(),
                arch: arch.clone(),
            })
            .collect::<Vec<_>>(),
    );
    context.insert("rows", &rows);
    context.insert("failures", &failures);
    Ok(tera::Tera::one_off(TEMPLATE, &context, true)?)
}
