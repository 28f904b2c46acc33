//! `wheelwright avail`: the wheels the wheelhouse offers a node, as a table or JSON.

use std::process::ExitCode;

use anyhow::Context as _;

use crate::cli::AvailArgs;
use crate::commands::node_of;
use crate::layout::{Layout, PythonVersion};
use crate::outln;
use crate::wheelhouse::avail::{AvailQuery, avail, render_table};
use crate::wheelhouse::tree::{Tree, check_root};

pub fn run(args: &AvailArgs, layout: &Layout) -> anyhow::Result<ExitCode> {
    let view = node_of(layout, &args.node)?;
    let mut dirs = view.dirs.clone();
    if args.all_archs {
        // The layer's other arch directories, after those the node can use.
        for arch in &layout.layers[&view.layer].archs {
            let relative = format!("{}/{arch}", view.layer);
            if !dirs.contains(&relative) {
                dirs.push(relative);
            }
        }
    }
    let pythons: Vec<PythonVersion> = if args.python.is_empty() {
        layout.python_versions.clone()
    } else {
        args.python
            .iter()
            .map(|text| text.parse().map_err(anyhow::Error::msg))
            .collect::<anyhow::Result<_>>()
            .context("--python")?
    };
    let tree = Tree::read(layout)
        .with_context(|| format!("cannot read the wheelhouse tree `{}`", layout.root.display()))?;
    // A root that is missing or holds none of the layout's directories is a wrong layout or
    // an unmounted filesystem, not a wheelhouse without wheels.
    check_root(layout, &tree)?;
    let query = AvailQuery {
        patterns: args.names.clone(),
        pythons: pythons.clone(),
        all_versions: args.all_versions,
        every_copy: args.all_versions || args.all_archs,
    };
    let rows = avail(&tree, &dirs, &query)?;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&rows)?);
    } else if !rows.is_empty() {
        // No header over nothing: the message below says what was searched.
        for line in render_table(&rows) {
            outln!("{line}");
        }
    }
    if rows.is_empty() {
        let names = if args.names.is_empty() {
            "no wheel".to_string()
        } else {
            format!("no wheel matches {}", args.names.join(" "))
        };
        let pythons: Vec<String> = pythons.iter().map(ToString::to_string).collect();
        eprintln!(
            "{names} in {} (searched {}{})",
            layout.root.display(),
            dirs.join(", "),
            if pythons.is_empty() {
                String::new()
            } else {
                format!("; Python {}", pythons.join(", "))
            }
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
