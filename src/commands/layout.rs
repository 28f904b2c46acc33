//! `wheelwright layout check|show`: validate and summarise a wheelhouse layout (and, with
//! `--enter`, enter its layers' build environments on this machine).

use crate::outln;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;

use crate::cli::LayoutCommand;
use crate::layout::{EMBEDDED_LAYOUT, EMBEDDED_NAME, Layout};

/// The text of the layout in force and where it comes from, looked up as
/// [`Layout::load`] does: `--layout FILE`, else `$WHEELWRIGHT_LAYOUT`, else the embedded one.
fn layout_in_force(global_layout: Option<&Path>) -> anyhow::Result<(String, String)> {
    let from_environment = std::env::var_os("WHEELWRIGHT_LAYOUT").filter(|value| !value.is_empty());
    let (path, origin) = match (global_layout, from_environment) {
        (Some(path), _) => (path.to_path_buf(), "--layout"),
        (None, Some(path)) => (std::path::PathBuf::from(path), "$WHEELWRIGHT_LAYOUT"),
        (None, None) => {
            return Ok((
                EMBEDDED_LAYOUT.to_string(),
                format!("{EMBEDDED_NAME} (no --layout, $WHEELWRIGHT_LAYOUT unset)"),
            ));
        }
    };
    let text =
        fs_err::read_to_string(&path).with_context(|| format!("reading the layout given by {origin}"))?;
    Ok((text, format!("{} (from {origin})", path.display())))
}

pub fn run(command: &LayoutCommand, global_layout: Option<&Path>) -> anyhow::Result<ExitCode> {
    match command {
        LayoutCommand::Show => {
            let (text, source) = layout_in_force(global_layout)?;
            // A TOML comment: stdout stays a valid layout file.
            outln!("# layout: {source}");
            outln!("{}", text.trim_end());
        }
        LayoutCommand::Check { file, json, enter } => {
            let layout = match file {
                Some(file) => Layout::from_file(file)?,
                None => Layout::load(global_layout)?,
            };
            let entered = if *enter { enter_all(&layout) } else { Vec::new() };
            let failed = entered.iter().any(|entry| entry.error.is_some());
            if *json {
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&layout_json(&layout, &entered))?
                );
            } else {
                print_summary(&layout, &entered)?;
            }
            if failed {
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `layout check --json`: the layout as read, and how entering its layers went.
fn layout_json(layout: &Layout, entered: &[Entered]) -> serde_json::Value {
    let versions: Vec<String> = layout.python_versions.iter().map(ToString::to_string).collect();
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
    let archs: serde_json::Map<String, serde_json::Value> = layout
            .archs
            .values()
            .map(|arch| {
                (
                    arch.name.clone(),
                    serde_json::json!({ "description": arch.description, "level": arch.level, "march": arch.march, "cflags": arch.cflags, "features": arch.features }),
                )
            })
            .collect();
    let layers: serde_json::Map<String, serde_json::Value> = layout
        .layers
        .values()
        .map(|layer| {
            (
                layer.name.clone(),
                serde_json::json!({
                    "description": layer.description,
                    "glibc": layer.glibc.to_string(),
                    "glibcxx": layer.glibcxx.as_ref().map(ToString::to_string),
                    "archs": layer.archs,
                    "library_dirs": layer.library_dirs,
                    "rpath_prefixes": layer.rpath_prefixes,
                    "deprecated": layer.deprecated,
                    "environment": layer.environment,
                    "arch_environment": layer.arch_environment,
                }),
            )
        })
        .collect();
    serde_json::json!({
        "source": layout.source,
        "default_layer": layout.default_layer,
        "archs": archs,
        "layers": layers,
        "root": layout.root,
        "local_version_label": layout.local_version_label,
        "python_versions": versions,
        "strip_requirements": rules,
        "modules": layout.modules.as_ref().map(|modules| serde_json::json!({
            "system": "lmod",
            "init": modules.init,
            "modulepath": modules.modulepath,
            "rpath": modules.rpath,
        })),
        "entered": entered.iter().map(|entry| serde_json::json!({
            "layer": entry.layer,
            "arch": entry.arch,
            "ok": entry.error.is_none(),
            "loaded": entry.loaded,
            "error": entry.error,
        })).collect::<Vec<_>>(),
        "publish": {
            "file_mode": format!("{:04o}", layout.publish.file_mode),
            "dir_mode": format!("{:04o}", layout.publish.dir_mode),
            "lock_file": layout.publish.lock_file,
            "before": layout.publish.before,
            "after": layout.publish.after,
        },
    })
}

/// `layout check`: the layout summarised, a line per layer, arch, rule and entered stack.
fn print_summary(layout: &Layout, entered: &[Entered]) -> anyhow::Result<()> {
    let versions: Vec<String> = layout.python_versions.iter().map(ToString::to_string).collect();
    outln!("{} is valid", layout.source);
    outln!("  root                 {}", layout.root.display());
    outln!("  local version label  {}", layout.local_version_label);
    outln!("  python versions      {}", versions.join(", "));
    outln!(
        "  publish              files {:04o}, directories {:04o}, lock {}, hooks: {}",
        layout.publish.file_mode,
        layout.publish.dir_mode,
        layout.publish.lock_file.display(),
        match (&layout.publish.before, &layout.publish.after) {
            (None, None) => "none".to_string(),
            (before, after) => format!(
                "before `{}`, after `{}`",
                before.as_deref().unwrap_or("-"),
                after.as_deref().unwrap_or("-")
            ),
        }
    );
    if let Some(default) = &layout.default_layer {
        outln!("  default layer        {default}");
    }
    if let Some(modules) = &layout.modules {
        outln!(
            "  modules              lmod (init {}), modulepath {}, rpath {}",
            modules
                .init
                .as_ref()
                .map_or("found at build time".to_string(), |init| init
                    .display()
                    .to_string()),
            if modules.modulepath.is_empty() {
                "as the caller's".to_string()
            } else {
                modules
                    .modulepath
                    .iter()
                    .map(|path| path.display().to_string())
                    .collect::<Vec<_>>()
                    .join(":")
            },
            serde_json::to_value(modules.rpath)?.as_str().unwrap_or_default()
        );
    }
    for layer in layout.layers.values() {
        let lines = layer.environment.len() + layer.arch_environment.values().map(Vec::len).sum::<usize>();
        outln!(
            "  layer {:<14} glibc {}, archs {}{}{}",
            layer.name,
            layer.glibc,
            layer.archs.join(", "),
            if lines == 0 {
                String::new()
            } else {
                format!(", entered by {}", crate::words::count(lines, "line"))
            },
            if layer.deprecated {
                " (deprecated, read-only)"
            } else {
                ""
            }
        );
    }
    for arch in layout.archs.values() {
        outln!(
            "  arch {:<15} x86-64 level {}, {}",
            arch.name,
            arch.level,
            arch.cflags
        );
    }
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
    for entry in entered {
        match &entry.error {
            None => outln!(
                "  entered {} ({}): {}",
                entry.layer,
                entry.arch,
                if entry.loaded.is_empty() {
                    "ok".to_string()
                } else {
                    format!("ok, modules {}", entry.loaded.join(" "))
                }
            ),
            Some(error) => outln!("  entered {} ({}): FAILED: {error}", entry.layer, entry.arch),
        }
    }
    Ok(())
}

/// How entering one layer and arch went.
struct Entered {
    layer: String,
    arch: String,
    loaded: Vec<String>,
    error: Option<String>,
}

/// Enters every active layer and arch that has lines of its own.
fn enter_all(layout: &Layout) -> Vec<Entered> {
    let mut entered = Vec::new();
    for layer in layout.active_layers() {
        for arch in &layer.archs {
            if !layer.has_environment(arch) {
                continue;
            }
            let request = crate::stack::StackRequest {
                layer: layer.name.clone(),
                arch: arch.clone(),
                modules: Vec::new(),
            };
            let (loaded, error) = match crate::stack::enter(layout, &request) {
                Ok(stack) => (stack.map(|stack| stack.loaded.clone()).unwrap_or_default(), None),
                Err(error) => (Vec::new(), Some(error.to_string())),
            };
            entered.push(Entered {
                layer: layer.name.clone(),
                arch: arch.clone(),
                loaded,
                error,
            });
        }
    }
    entered
}
