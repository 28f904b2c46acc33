//! A check's report for people: findings grouped by kind, holes first, each with its nodes,
//! what the wheelhouse has instead and its fix (words and command); then the resolutions and
//! a closing count.

use std::collections::BTreeMap;

use super::model::{CheckReport, Finding, NodeName};
use crate::words::count;

/// The nodes of a finding in few words: `Python 3.13 on gentoo2023/generic, gentoo2023/x86-64-v3`,
/// `Python 3.11, 3.12 on every view`.
pub fn nodes_text(nodes: &[NodeName], report: &CheckReport) -> String {
    let mut by_python: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for node in nodes {
        by_python
            .entry(node.python.as_str())
            .or_default()
            .push(format!("{}/{}", node.layer, node.arch));
    }
    // Pythons that share a list of views are named together.
    let mut groups: Vec<(Vec<&str>, Vec<String>)> = Vec::new();
    let mut pythons: Vec<&&str> = by_python.keys().collect();
    pythons.sort_by_key(|python| {
        let mut parts = python.split('.').map(|part| part.parse::<u32>().unwrap_or(0));
        (parts.next(), parts.next())
    });
    for python in pythons {
        let views = &by_python[*python];
        match groups.iter_mut().find(|(_, existing)| existing == views) {
            Some((names, _)) => names.push(python),
            None => groups.push((vec![python], views.clone())),
        }
    }
    groups
        .iter()
        .map(|(pythons, views)| {
            let views = if views.len() == report.views.len() && report.views.len() > 1 {
                "every view".to_string()
            } else {
                views.join(", ")
            };
            format!("Python {} on {views}", pythons.join(", "))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn finding_lines(finding: &Finding, report: &CheckReport, lines: &mut Vec<String>) {
    lines.push(format!("  {}", finding.message));
    if let Some(wheel) = &finding.wheel {
        lines.push(format!("    wheel:    {wheel}"));
    }
    if !finding.nodes.is_empty() {
        lines.push(format!("    nodes:    {}", nodes_text(&finding.nodes, report)));
    }
    if let Some(instead) = &finding.instead {
        lines.push(format!("    instead:  {}", instead.text));
    }
    for detail in &finding.details {
        lines.push(format!("    | {detail}"));
    }
    lines.push(format!("    fix:      {}", finding.fix.text));
    if let Some(command) = &finding.fix.command {
        lines.push(format!("              {command}"));
    }
}

/// The report as lines of text.
pub fn render_report(report: &CheckReport) -> Vec<String> {
    let mut lines = vec![format!(
        "{}: {} of {}; {} x {} ({}); METADATA: {} read, {} from the cache",
        report.root.display(),
        count(report.wheels, "wheel"),
        count(report.projects, "project"),
        count(report.views.len(), "view"),
        count(report.pythons.len(), "Python"),
        report.pythons.join(", "),
        report.metadata_read,
        report.metadata_cached,
    )];
    let mut kinds: Vec<_> = report.counts.keys().copied().collect();
    kinds.sort_by_key(|kind| (!kind.is_hole(), *kind));
    for kind in kinds {
        let findings: Vec<&Finding> = report
            .findings
            .iter()
            .filter(|finding| finding.kind == kind)
            .collect();
        lines.push(String::new());
        lines.push(format!("{}: {}", kind.title(), findings.len()));
        for finding in findings {
            finding_lines(finding, report, &mut lines);
        }
    }
    if !report.resolutions.is_empty() {
        let resolved = report
            .resolutions
            .iter()
            .filter(|resolution| resolution.resolved)
            .count();
        lines.push(String::new());
        lines.push(format!(
            "resolution: {} of {} resolved",
            resolved,
            count(report.resolutions.len(), "node")
        ));
        for resolution in &report.resolutions {
            let node = &resolution.node;
            let chosen: Vec<String> = resolution
                .packages
                .iter()
                .map(|package| format!("{}=={}", package.name, package.version))
                .collect();
            lines.push(format!(
                "  Python {} on {}/{}: {}",
                node.python,
                node.layer,
                node.arch,
                if resolution.resolved {
                    chosen.join(" ")
                } else {
                    "does not resolve (see above)".to_string()
                }
            ));
        }
    }
    let others = report.findings.len() - report.holes;
    lines.push(String::new());
    lines.push(format!(
        "{} (closure, resolution), {}",
        count(report.holes, "hole"),
        count(others, "other finding")
    ));
    lines
}
