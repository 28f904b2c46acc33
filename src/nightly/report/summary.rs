//! `summary.md`, for CI job pages: the headline, counts by state, what did not pass by cause
//! (capped: a site's night can have thousands of failing cells), reproducibility, and for a
//! small night a row per cell.

use std::fmt::Write as _;

use super::{
    CellResult, FailureGroup, Matrix, RunState, by_cause, by_reason, by_state, cause_rank, count,
    entry_reason, headline, human_seconds, not_passed, scratch_line, short, tally, utc,
};

/// How many entries of what did not pass `summary.md` lists before it points at `report.html`:
/// a CI job page stays readable (and GitHub keeps at most 1 MiB of a step's summary).
pub(super) const SUMMARY_GROUPS: usize = 200;

/// Up to this many cells, `summary.md` ends with a row per cell; a site's night has thousands,
/// which are in `report.html` and `result.json`.
const SUMMARY_CELL_ROWS: usize = 100;

/// The first line of a reason, for Markdown tables and lists: long enough for a tool's
/// failure with the line that says why (`git clone failed (exit status 128): fatal: unable
/// to access ...: Could not resolve host: github.com`).
fn first_line(text: &str) -> String {
    short(text, 300).replace('|', "\\|")
}

/// The Markdown summary: the headline, counts by state, what did not pass by cause (the first
/// [`SUMMARY_GROUPS`] entries), reproducibility, and for a small run every cell.
pub(super) fn summary(
    state: &RunState,
    results: &[CellResult],
    matrix: &Matrix<'_>,
    groups: &[FailureGroup<'_>],
) -> String {
    let mut text = String::new();
    let _ = writeln!(text, "# Nightly {}\n", state.name);
    let _ = writeln!(
        text,
        "{}, {}: {}. Started {}{}.\n",
        count(matrix.packages.len(), "package"),
        count(results.len(), "cell"),
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
    if !results.is_empty() {
        let _ = writeln!(text, "| state | cells | packages |\n|---|--:|--:|");
        for (cell_state, (cells, packages)) in by_state(results) {
            let _ = writeln!(text, "| {cell_state} | {cells} | {} |", packages.len());
        }
    }
    if !groups.is_empty() {
        not_passed_by_cause(&mut text, matrix, groups);
    }
    reproducibility(&mut text, results);
    if let Some(check) = &state.check {
        wheelhouse_check(&mut text, check);
    }
    cells(&mut text, results);
    text
}

/// How many findings of the check `summary.md` lists (the rest are in `result.json`).
const SUMMARY_FINDINGS: usize = 50;

/// What the check of the wheelhouse after publishing found: holes first, each with its fix;
/// the packages filled.
fn wheelhouse_check(text: &mut String, check: &crate::nightly::check::CheckSummary) {
    let _ = writeln!(text, "\n## What the nodes can install (wheelwright check)\n");
    if let Some(error) = &check.error {
        let _ = writeln!(text, "The check could not run: {}\n", first_line(error));
        return;
    }
    let _ = writeln!(text, "{}.\n", check.line(&|holes| format!("**{holes}**")));
    if !check.filled.is_empty() {
        let filled: Vec<String> = check.filled.iter().map(|filled| filled.describe()).collect();
        let _ = writeln!(
            text,
            "Filled the same night (`fill_holes`), {} before: {}.\n",
            count(check.holes_before_filling.unwrap_or_default(), "hole"),
            filled.join("; ")
        );
    }
    if check.findings.is_empty() {
        return;
    }
    let _ = writeln!(
        text,
        "| kind | project | wheel | requirement | nodes | instead | fix |\n|---|---|---|---|---|---|---|"
    );
    let mut findings: Vec<&crate::wheelhouse::check::Finding> = check.findings.iter().collect();
    findings.sort_by_key(|finding| !finding.hole);
    for finding in findings.iter().take(SUMMARY_FINDINGS) {
        let nodes: Vec<String> = finding
            .nodes
            .iter()
            .map(|node| format!("{}/{} py{}", node.layer, node.arch, node.python))
            .collect();
        let _ = writeln!(
            text,
            "| {} | {} | {} | {} | {} | {} | {} |",
            crate::nightly::check::kind_name(finding.kind),
            finding.project,
            finding.wheel.as_deref().unwrap_or(""),
            first_line(finding.requirement.as_deref().unwrap_or("")),
            first_line(&nodes.join(", ")),
            first_line(
                finding
                    .instead
                    .as_ref()
                    .map_or("", |instead| instead.text.as_str())
            ),
            first_line(&finding.fix.text)
        );
    }
    if findings.len() > SUMMARY_FINDINGS {
        let _ = writeln!(
            text,
            "\n{} more in `result.json` and `report.html`.",
            findings.len() - SUMMARY_FINDINGS
        );
    }
}

/// What did not pass, by cause then reason: the first [`SUMMARY_GROUPS`] entries, then how
/// many more `report.html` lists.
fn not_passed_by_cause(text: &mut String, matrix: &Matrix<'_>, groups: &[FailureGroup<'_>]) {
    let _ = writeln!(
        text,
        "\n## Not passed, by cause\n\n{}: one line per package and reason, with its cells.",
        not_passed(groups)
    );
    let mut shown = 0;
    let mut left: Vec<&FailureGroup> = Vec::new();
    for (cause, groups) in by_cause(groups) {
        if shown == SUMMARY_GROUPS {
            left.extend(groups);
            continue;
        }
        let _ = writeln!(
            text,
            "\n### {cause}{} ({})\n",
            cause_rank(cause)
                .1
                .map(|meaning| format!(": {meaning}"))
                .unwrap_or_default(),
            tally(groups)
        );
        for block in by_reason(groups) {
            if shown == SUMMARY_GROUPS {
                left.extend(block);
                continue;
            }
            let shared = block.len() > 1;
            if let (true, Some(first)) = (shared, block.first().and_then(|group| group.cells.first())) {
                let _ = writeln!(
                    text,
                    "- {}, one reason: {}: {}",
                    tally(block.iter().copied()),
                    first.state,
                    first_line(reason_of(first))
                );
            }
            for group in block {
                if shown == SUMMARY_GROUPS {
                    left.push(group);
                    continue;
                }
                let _ = writeln!(text, "{}", summary_entry(group, matrix, shared));
                shown += 1;
            }
        }
    }
    if !left.is_empty() {
        let _ = writeln!(
            text,
            "\n... and {} more {} ({}): see `report.html`.",
            left.len(),
            if left.len() == 1 { "entry" } else { "entries" },
            tally(left.iter().copied())
        );
    }
}

/// The up-to-date cells rebuilt to verify them, and how each compares.
fn reproducibility(text: &mut String, results: &[CellResult]) {
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
}

/// Every cell, for a small run; else where to find them.
fn cells(text: &mut String, results: &[CellResult]) {
    if results.len() <= SUMMARY_CELL_ROWS {
        if !results.is_empty() {
            let _ = writeln!(text, "\n## Cells\n");
            let _ = writeln!(
                text,
                "| package | version | layer | python | arch | state | time | wheel |"
            );
            let _ = writeln!(text, "|---|---|---|---|---|---|---|---|");
        }
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
    } else {
        let _ = writeln!(
            text,
            "\nEvery cell: the matrix in `report.html`, and `result.json`."
        );
    }
}

/// A cell's reason for the summary (`no reason recorded` for none).
fn reason_of(cell: &CellResult) -> &str {
    Some(entry_reason(cell))
        .filter(|reason| !reason.is_empty())
        .unwrap_or("no reason recorded")
}

/// `- **numpy 2.2.6**: failed, py3.11-3.13 × generic: the reason (log: `...`)`; in a block of
/// packages with one reason (`shared`), only what is the package's own:
/// `  - **numpy 2.2.6**: py3.11-3.13 × generic (log: `...`)`.
fn summary_entry(group: &FailureGroup<'_>, matrix: &Matrix<'_>, shared: bool) -> String {
    let Some(first) = group.cells.first() else {
        return String::new();
    };
    let reason = reason_of(first);
    let log = first
        .log
        .as_ref()
        .or(first.output_log.as_ref())
        .filter(|log| !reason.contains(&log.display().to_string()))
        .map(|log| format!(" (log: `{}`)", log.display()))
        .unwrap_or_default();
    if shared {
        return format!(
            "  - **{} {}**: {}{log}",
            first.package,
            first.version,
            matrix.describe(&group.cells)
        );
    }
    format!(
        "- **{} {}**: {}, {}: {}{log}",
        first.package,
        first.version,
        first.state,
        matrix.describe(&group.cells),
        first_line(reason),
    )
}
