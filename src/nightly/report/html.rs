//! `report.html`: counts by state, what did not pass by cause, the packages of each state, and
//! the whole matrix with each package's last runs; one static file from
//! `report.html.tera`, no JavaScript, no inline styles, reasons once per entry.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use serde::Serialize;

use super::super::state::HistoryEntry;
use super::{
    CellResult, CellState, FailureGroup, Matrix, NightlyError, RunState, StateStore, by_cause, by_reason,
    by_state, cause_rank, count, entry_reason, headline, human_seconds, human_size, not_passed, scratch_line,
    short, tally, utc,
};

const TEMPLATE: &str = include_str!("../report.html.tera");

/// How many earlier runs the HTML report shows per package.
const HISTORY_RUNS: usize = 10;

/// How much of a reason the tooltip of a matrix cell shows: the whole reason is in the list of
/// what did not pass, once per entry, not once per cell.
const TITLE_CHARACTERS: usize = 100;

/// How much of a reason an entry shows, in lines and characters: a reason quotes the decisive
/// lines, a few; one that quotes a whole log is cut, so that a night of many such entries
/// stays a page a browser opens (the whole reason is in `result.json`).
const REASON_LINES: usize = 40;
const REASON_CHARACTERS: usize = 4000;

/// The start of a long reason, saying where the rest is.
fn excerpt(reason: &str) -> String {
    let lines = reason.lines().count();
    let mut shown = String::new();
    for line in reason.lines().take(REASON_LINES) {
        if shown.chars().count() + line.chars().count() > REASON_CHARACTERS {
            break;
        }
        shown.push_str(line);
        shown.push('\n');
    }
    if shown.len() >= reason.len() {
        return reason.to_string();
    }
    let more = lines - shown.lines().count();
    format!(
        "{shown}... ({more} more line{}: the whole reason is in result.json)",
        if more == 1 { "" } else { "s" }
    )
}

/// What a path must have escaped in a link: controls, space, and what means something in a
/// URL or in HTML (links are written into the page as they are).
const PATH_IN_LINK: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'&')
    .add(b'\'')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`');

/// A link to a log: relative to the run directory when it is inside it, percent-encoded.
fn link(directory: &Path, path: Option<&PathBuf>) -> Option<String> {
    let path = path?;
    Some(match path.strip_prefix(directory) {
        Ok(relative) => utf8_percent_encode(&relative.to_string_lossy(), PATH_IN_LINK).to_string(),
        Err(_) => format!(
            "file://{}",
            utf8_percent_encode(&path.to_string_lossy(), PATH_IN_LINK)
        ),
    })
}

/// A package's anchor in the report (`pkg-<anchor>`): its PEP 503 name, the same every night,
/// so that links to a package's row can be kept.
fn anchor(package: &str) -> String {
    crate::spec::normalize_name(package)
        .chars()
        .map(|character| {
            if character.is_ascii_alphanumeric() || character == '-' {
                character
            } else {
                '-'
            }
        })
        .collect()
}

#[derive(Serialize)]
struct Column<'a> {
    key: String,
    layer: &'a str,
    python: &'a str,
    arch: &'a str,
}

/// A state's line in the counts, and its packages.
#[derive(Serialize)]
struct StateLine<'a> {
    state: String,
    passed: bool,
    cells: usize,
    /// `12 packages (30 cells)`.
    tally: String,
    package_links: Vec<PackageLink<'a>>,
}

#[derive(Serialize)]
struct PackageLink<'a> {
    name: &'a str,
    anchor: String,
}

/// The entries of one cause.
#[derive(Serialize)]
struct CauseSection {
    cause: &'static str,
    meaning: Option<&'static str>,
    /// `3 packages, 9 cells`.
    tally: String,
    /// Open on the page: what follows from other failures or from the run starts closed.
    open: bool,
    blocks: Vec<HtmlBlock>,
}

/// Entries with one reason: one package's, or several packages' that gave the same.
#[derive(Serialize)]
struct HtmlBlock {
    shared: bool,
    /// `21 packages, 189 cells`.
    tally: String,
    reason: String,
    /// When the cells' reasons differ in their own names: whose reason is shown.
    note: Option<String>,
    groups: Vec<HtmlGroup>,
}

#[derive(Serialize)]
struct HtmlGroup {
    package: String,
    anchor: String,
    /// The package's first entry, which its matrix row links to.
    first: bool,
    version: String,
    state: String,
    /// `py3.11-3.13 × generic, x86-64-v3`.
    cells: String,
    count: usize,
    log: Option<String>,
    output_log: Option<String>,
}

#[derive(Serialize)]
struct HtmlCell<'a> {
    state: Option<String>,
    layer: &'a str,
    python: &'a str,
    arch: &'a str,
    /// For a cell that did not pass: its reason's start.
    title: Option<String>,
    log: Option<String>,
    /// `12.3s · 4.5 MiB`.
    note: String,
}

#[derive(Serialize)]
struct Past<'a> {
    run: &'a str,
    state: String,
}

#[derive(Serialize)]
struct Row<'a> {
    package: &'a str,
    anchor: String,
    /// Whether it has an entry among what did not pass.
    failed: bool,
    version: String,
    cells: Vec<HtmlCell<'a>>,
    history: Vec<Past<'a>>,
}

/// Each package's last [`HISTORY_RUNS`] runs, oldest first, each with its worst state.
fn history_by_package(history: &[HistoryEntry]) -> BTreeMap<&str, Vec<Past<'_>>> {
    let mut runs: BTreeMap<&str, BTreeMap<&str, CellState>> = BTreeMap::new();
    for entry in history {
        let worst = runs
            .entry(entry.package.as_str())
            .or_default()
            .entry(entry.run.as_str())
            .or_insert(entry.state);
        if !entry.state.passed() {
            *worst = entry.state;
        }
    }
    runs.into_iter()
        .map(|(package, runs)| {
            let skip = runs.len().saturating_sub(HISTORY_RUNS);
            let pasts = runs
                .into_iter()
                .skip(skip)
                .map(|(run, state)| Past {
                    run,
                    state: state.to_string(),
                })
                .collect();
            (package, pasts)
        })
        .collect()
}

/// The HTML report.
pub(super) fn html(
    directory: &Path,
    state: &RunState,
    results: &[CellResult],
    matrix: &Matrix<'_>,
    groups: &[FailureGroup<'_>],
    store: &StateStore,
) -> Result<String, NightlyError> {
    let mut failed_packages: BTreeSet<&str> = BTreeSet::new();
    let causes = cause_sections(directory, matrix, groups, &mut failed_packages);
    let history = store.history();
    let rows = matrix_rows(directory, matrix, &failed_packages, &history);
    let states = state_lines(results);
    let mut context = tera::Context::new();
    context.insert("run", &state.name);
    context.insert("headline", &headline(results));
    context.insert(
        "size",
        &format!(
            "{}, {}",
            count(matrix.packages.len(), "package"),
            count(results.len(), "cell")
        ),
    );
    context.insert("started", &utc(state.started));
    context.insert("finished", &state.finished.map(utc));
    context.insert("executor", &state.executor);
    context.insert("scratch", &scratch_line(state));
    context.insert("states", &states);
    context.insert("not_passed", &not_passed(groups));
    context.insert("causes", &causes);
    context.insert(
        "columns",
        &matrix
            .columns
            .iter()
            .map(|&(layer, python, arch)| Column {
                key: format!("{layer}/py{python}-{arch}"),
                layer,
                python,
                arch,
            })
            .collect::<Vec<_>>(),
    );
    context.insert("rows", &rows);
    context.insert("check", &state.check.as_ref().map(CheckSection::of));
    Ok(tera::Tera::one_off(TEMPLATE, &context, true)?)
}

/// How many findings of the check the report lists (all are in `result.json`).
const REPORT_FINDINGS: usize = 1000;

/// The check of the wheelhouse after publishing, for the template.
#[derive(serde::Serialize)]
struct CheckSection {
    error: Option<String>,
    line: String,
    filled: Vec<String>,
    findings: Vec<FindingRow>,
    more: usize,
}

#[derive(serde::Serialize)]
struct FindingRow {
    kind: String,
    hole: bool,
    project: String,
    wheel: String,
    requirement: String,
    nodes: String,
    instead: String,
    fix: String,
    command: String,
}

impl CheckSection {
    fn of(check: &crate::nightly::check::CheckSummary) -> CheckSection {
        let mut findings: Vec<&crate::wheelhouse::check::Finding> = check.findings.iter().collect();
        findings.sort_by_key(|finding| !finding.hole);
        CheckSection {
            error: check.error.clone(),
            line: check.line(&|holes| holes),
            filled: check
                .filled
                .iter()
                .map(|filled| format!("{}: {}", filled.describe(), count(filled.findings, "finding")))
                .collect(),
            more: findings.len().saturating_sub(REPORT_FINDINGS),
            findings: findings
                .into_iter()
                .take(REPORT_FINDINGS)
                .map(|finding| FindingRow {
                    kind: crate::nightly::check::kind_name(finding.kind),
                    hole: finding.hole,
                    project: finding.project.clone(),
                    wheel: finding.wheel.clone().unwrap_or_default(),
                    requirement: finding.requirement.clone().unwrap_or_default(),
                    nodes: finding
                        .nodes
                        .iter()
                        .map(|node| format!("{}/{} py{}", node.layer, node.arch, node.python))
                        .collect::<Vec<_>>()
                        .join(", "),
                    instead: finding
                        .instead
                        .as_ref()
                        .map(|instead| instead.text.clone())
                        .unwrap_or_default(),
                    fix: finding.fix.text.clone(),
                    command: finding.fix.command.clone().unwrap_or_default(),
                })
                .collect(),
        }
    }
}

/// The failures by cause, then by reason, each group linking its logs; `failed_packages`
/// collects the packages shown (the first group of a package is its anchor).
fn cause_sections<'a>(
    directory: &Path,
    matrix: &Matrix<'_>,
    groups: &[FailureGroup<'a>],
    failed_packages: &mut BTreeSet<&'a str>,
) -> Vec<CauseSection> {
    by_cause(groups)
        .into_iter()
        .map(|(cause, groups)| CauseSection {
            cause,
            meaning: cause_rank(cause).1,
            tally: tally(groups),
            open: !matches!(cause, "dependency" | "cancelled"),
            blocks: by_reason(groups)
                .into_iter()
                .filter_map(|block| {
                    let shown = block.first()?.cells.first()?;
                    let alike = block
                        .iter()
                        .all(|group| group.cells.iter().all(|cell| cell.reason == shown.reason));
                    let shared = block.len() > 1;
                    Some(HtmlBlock {
                        shared,
                        tally: tally(block.iter().copied()),
                        reason: excerpt(entry_reason(shown)),
                        note: (!alike).then(|| {
                            format!(
                                "The reason of {}{}; the others' differ only where they name their own cell.",
                                if shared {
                                    format!("{} ", shown.package)
                                } else {
                                    String::new()
                                },
                                matrix.describe(&[*shown])
                            )
                        }),
                        groups: block
                            .into_iter()
                            .filter_map(|group| {
                                let first = group.cells.first()?;
                                Some(HtmlGroup {
                                    package: first.package.clone(),
                                    anchor: anchor(&first.package),
                                    first: failed_packages.insert(first.package.as_str()),
                                    version: first.version.clone(),
                                    state: first.state.to_string(),
                                    cells: matrix.describe(&group.cells),
                                    count: group.cells.len(),
                                    log: link(directory, first.log.as_ref()),
                                    output_log: link(directory, first.output_log.as_ref()),
                                })
                            })
                            .collect(),
                    })
                })
                .collect(),
        })
        .collect()
}

/// The matrix's rows: a package's cells by column, with its history.
fn matrix_rows<'a>(
    directory: &Path,
    matrix: &'a Matrix<'_>,
    failed_packages: &BTreeSet<&str>,
    history: &'a [HistoryEntry],
) -> Vec<Row<'a>> {
    let mut pasts = history_by_package(history);
    matrix
        .packages
        .iter()
        .map(|(package, cells)| {
            let package = *package;
            let versions: BTreeSet<&str> = cells.iter().map(|cell| cell.version.as_str()).collect();
            Row {
                package,
                anchor: anchor(package),
                failed: failed_packages.contains(package),
                version: versions.into_iter().collect::<Vec<_>>().join(", "),
                cells: matrix
                    .columns
                    .iter()
                    .map(|&(layer, python, arch)| {
                        let cell = cells
                            .iter()
                            .find(|cell| cell.layer == layer && cell.python == python && cell.arch == arch);
                        HtmlCell {
                            state: cell.map(|cell| cell.state.to_string()),
                            layer,
                            python,
                            arch,
                            title: cell
                                .filter(|cell| !cell.state.passed())
                                .and_then(|cell| cell.reason.as_deref())
                                .map(|reason| short(reason, TITLE_CHARACTERS)),
                            log: cell.and_then(|cell| {
                                link(directory, cell.log.as_ref().or(cell.output_log.as_ref()))
                            }),
                            note: cell.map(cell_note).unwrap_or_default(),
                        }
                    })
                    .collect(),
                history: pasts.remove(package).unwrap_or_default(),
            }
        })
        .collect()
}

/// A line per state: its cells and packages.
fn state_lines(results: &[CellResult]) -> Vec<StateLine<'_>> {
    by_state(results)
        .into_iter()
        .map(|(cell_state, (cells, packages))| StateLine {
            state: cell_state.to_string(),
            passed: cell_state.passed(),
            cells,
            tally: format!("{} ({})", count(packages.len(), "package"), count(cells, "cell")),
            package_links: packages
                .into_iter()
                .map(|name| PackageLink {
                    name,
                    anchor: anchor(name),
                })
                .collect(),
        })
        .collect()
}

/// What a matrix cell says besides its state: `12.3s · 4.5 MiB` (nothing for a cell that took
/// no time, as an up-to-date one).
fn cell_note(cell: &&CellResult) -> String {
    let mut note = if cell.seconds > 0.0 {
        human_seconds(cell.seconds)
    } else {
        String::new()
    };
    if let Some(size) = cell.size {
        if !note.is_empty() {
            note.push_str(" · ");
        }
        note.push_str(&human_size(size));
    }
    note
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_reason_is_cut_where_a_line_ends() {
        assert_eq!(excerpt("a\nb"), "a\nb");
        let long: String = (0..100).map(|line| format!("line {line}\n")).collect();
        let cut = excerpt(&long);
        assert!(cut.starts_with("line 0\nline 1\n"), "{cut}");
        assert!(
            cut.ends_with("line 39\n... (60 more lines: the whole reason is in result.json)"),
            "{cut}"
        );
        let wide = format!("{}\n{}\n", "x".repeat(3000), "y".repeat(3000));
        assert_eq!(
            excerpt(&wide),
            format!(
                "{}\n... (1 more line: the whole reason is in result.json)",
                "x".repeat(3000)
            )
        );
    }
}
