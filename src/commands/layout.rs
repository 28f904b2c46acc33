//! `wheelwright layout check|show`: validate and summarise a wheelhouse layout.

use crate::outln;
use std::path::Path;
use std::process::ExitCode;

use crate::cli::LayoutCommand;
use crate::layout::{EMBEDDED_LAYOUT, Layout};

pub fn run(command: &LayoutCommand, global_layout: Option<&Path>) -> anyhow::Result<ExitCode> {
    match command {
        LayoutCommand::Show => {
            outln!("{}", EMBEDDED_LAYOUT.trim_end());
        }
        LayoutCommand::Check { file, json } => {
            let layout = Layout::load(file.as_deref().or(global_layout))?;
            let versions: Vec<String> = layout.python_versions.iter().map(ToString::to_string).collect();
            if *json {
                let rules: serde_json::Map<String, serde_json::Value> = layout
                    .strip_rules
                    .iter()
                    .map(|(name, rule)| {
                        (
                            name.clone(),
                            serde_json::json!({ "description": rule.description, "remove": rule.remove, "keep": rule.keep }),
                        )
                    })
                    .collect();
                let value = serde_json::json!({
                    "source": layout.source,
                    "root": layout.root,
                    "local_version_label": layout.local_version_label,
                    "python_versions": versions,
                    "strip_requirements": rules,
                });
                outln!("{}", serde_json::to_string_pretty(&value)?);
            } else {
                outln!("{} is valid", layout.source);
                outln!("  root                 {}", layout.root.display());
                outln!("  local version label  {}", layout.local_version_label);
                outln!("  python versions      {}", versions.join(", "));
                for (name, rule) in &layout.strip_rules {
                    outln!(
                        "  strip rule `{name}`    removes {}; keeps {}",
                        rule.remove.join(", "),
                        if rule.keep.is_empty() {
                            "nothing".to_string()
                        } else {
                            rule.keep.join(", ")
                        }
                    );
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
