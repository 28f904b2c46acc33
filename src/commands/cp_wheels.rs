//! `cp-wheels`: which wheels to take (arguments, globs, directories), the placement report in
//! words or JSON, and the exit status.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};

use crate::cli::CpWheelsArgs;
use crate::layout::Layout;
use crate::outln;
use crate::spec::filename::WheelFilename;
use crate::spec::version::has_local_label;
use crate::wheel::Limits;
use crate::wheelhouse::place::{Action, Options, PublishOutcome, Report, place_wheels, publish_pending};

fn has_glob(text: &str) -> bool {
    text.contains(['*', '?', '['])
}

/// Expands one `--wheel` argument: a path, or a glob matched in its directory (recursively
/// when it holds `**`).
fn expand(pattern: &str) -> anyhow::Result<Vec<PathBuf>> {
    if !has_glob(pattern) {
        let path = PathBuf::from(pattern);
        if !path.is_file() {
            bail!("`{pattern}`: no such wheel file");
        }
        return Ok(vec![path]);
    }
    // The longest leading part without glob characters is the directory to list.
    let components: Vec<&str> = pattern.split('/').collect();
    let fixed = components.iter().take_while(|part| !has_glob(part)).count();
    let base = if fixed == 0 {
        PathBuf::from(".")
    } else {
        let joined = components[..fixed].join("/");
        PathBuf::from(if joined.is_empty() {
            "/".to_string()
        } else {
            joined
        })
    };
    let relative_pattern = components[fixed..].join("/");
    let matcher = globset::GlobBuilder::new(&relative_pattern)
        .literal_separator(true)
        .build()
        .with_context(|| format!("`{pattern}` is not a valid glob"))?
        .compile_matcher();
    let depth = if relative_pattern.contains("**") {
        usize::MAX
    } else {
        components.len() - fixed
    };
    let mut found: Vec<PathBuf> = walkdir::WalkDir::new(&base)
        .min_depth(1)
        .max_depth(depth)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_file())
        .filter(|entry| {
            entry
                .path()
                .strip_prefix(&base)
                .is_ok_and(|relative| matcher.is_match(relative))
        })
        .map(|entry| {
            if fixed == 0 {
                entry
                    .path()
                    .strip_prefix(".")
                    .unwrap_or(entry.path())
                    .to_path_buf()
            } else {
                entry.into_path()
            }
        })
        .collect();
    if found.is_empty() {
        bail!("`{pattern}` matches no file");
    }
    found.sort();
    Ok(found)
}

/// The labelled wheels of a directory; the others are skipped with a note.
fn labelled_in(directory: &Path, layout: &Layout) -> anyhow::Result<Vec<PathBuf>> {
    let mut wheels = Vec::new();
    let mut skipped: Vec<String> = Vec::new();
    for entry in fs_err::read_dir(directory)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.ends_with(".whl") || name.starts_with('.') || !entry.file_type()?.is_file() {
            continue;
        }
        let labelled = name
            .parse::<WheelFilename>()
            .is_ok_and(|filename| has_local_label(filename.version(), &layout.local_version_label));
        if labelled {
            wheels.push(entry.path());
        } else {
            skipped.push(name);
        }
    }
    if !skipped.is_empty() {
        skipped.sort();
        tracing::warn!(
            "skipped {} in `{}` without the local version label `+{}`: {}",
            crate::words::count(skipped.len(), "wheel"),
            directory.display(),
            layout.local_version_label,
            skipped.join(", ")
        );
    }
    wheels.sort();
    Ok(wheels)
}

/// The wheels a command line names, in order, each once.
pub fn collect_sources(args: &CpWheelsArgs, layout: &Layout) -> anyhow::Result<Vec<PathBuf>> {
    let mut sources = Vec::new();
    for pattern in args.wheels.iter().chain(&args.more_wheels) {
        sources.extend(expand(pattern)?);
    }
    for directory in &args.from {
        if !directory.is_dir() {
            bail!("--from `{}`: no such directory", directory.display());
        }
        sources.extend(labelled_in(directory, layout)?);
    }
    if args.wheels.is_empty() && args.more_wheels.is_empty() && args.from.is_empty() {
        sources.extend(labelled_in(Path::new("."), layout)?);
    }
    let mut seen = std::collections::HashSet::new();
    sources.retain(|path| seen.insert(fs_err::canonicalize(path).unwrap_or_else(|_| path.clone())));
    Ok(sources)
}

fn verb(action: Action, dry_run: bool) -> &'static str {
    match (action, dry_run) {
        (Action::Place, false) => "placed",
        (Action::Place, true) => "would place",
        (Action::Replace, false) => "replaced",
        (Action::Replace, true) => "would replace",
        (Action::Unchanged, _) => "unchanged",
        (Action::Refuse, _) => "refused",
        (Action::Held, _) => "held",
        (Action::Failed, _) => "FAILED",
    }
}

fn print_publish(publish: &PublishOutcome) {
    if publish.ok {
        eprintln!(
            "published {} with `{}`",
            crate::words::count(publish.files.len(), "file"),
            publish.command
        );
    } else {
        eprintln!(
            "error: the publish hook failed: {}",
            publish.message.as_deref().unwrap_or("unknown error")
        );
        if let Some(pending) = &publish.pending_file {
            eprintln!(
                "  the {} placed are listed in `{}`; `cp-wheels --publish-only` runs the hook again",
                crate::words::count(publish.files.len(), "file"),
                pending.display()
            );
        }
    }
}

pub(crate) fn print_human(report: &Report) {
    let width = report
        .wheels
        .iter()
        .map(|wheel| verb(wheel.action, report.dry_run).len())
        .max()
        .unwrap_or(0);
    for wheel in &report.wheels {
        let verb = verb(wheel.action, report.dry_run);
        match wheel.action {
            Action::Place | Action::Replace | Action::Unchanged => {
                let detected = wheel
                    .detected
                    .as_ref()
                    .map(|arch| {
                        let why = wheel
                            .evidence
                            .first()
                            .map(|evidence| {
                                let short: String = evidence.chars().take(90).collect();
                                let cut = if short.len() < evidence.len() { "…" } else { "" };
                                format!(": {short}{cut}")
                            })
                            .unwrap_or_default();
                        format!("  [{arch}{why}]")
                    })
                    .unwrap_or_default();
                outln!(
                    "{verb:<width$}  {}/{}{detected}",
                    wheel.destination.as_deref().unwrap_or("?"),
                    wheel.wheel
                );
            }
            _ => outln!(
                "{verb:<width$}  {}: {}",
                wheel.source.display(),
                wheel.reason.as_deref().unwrap_or("")
            ),
        }
        for warning in &wheel.warnings {
            tracing::warn!("{}: {warning}", wheel.wheel);
        }
        if wheel.source_removed {
            tracing::info!("removed `{}`", wheel.source.display());
        }
    }
    if !report.stale_temps.is_empty() {
        eprintln!(
            "{} {} left by an interrupted run",
            if report.dry_run { "found" } else { "removed" },
            crate::words::count(report.stale_temps.len(), "temporary file")
        );
    }
    let mut summary = Vec::new();
    for action in [
        Action::Place,
        Action::Replace,
        Action::Unchanged,
        Action::Refuse,
        Action::Held,
        Action::Failed,
    ] {
        let count = report.count(action);
        if count > 0 {
            summary.push(format!("{count} {}", verb(action, report.dry_run)));
        }
    }
    eprintln!(
        "{}{} under `{}`",
        if report.dry_run { "dry run: " } else { "" },
        if summary.is_empty() {
            "nothing to do".to_string()
        } else {
            summary.join(", ")
        },
        report.root.display()
    );
    if let Some(publish) = &report.publish {
        print_publish(publish);
    }
}

/// Refuses an `--layer` or `--arch` the layout does not have before any wheel is looked at
/// (each wheel would be refused for it; with no wheel, the run would say nothing to do).
fn check_node_flags(args: &CpWheelsArgs, layout: &Layout) -> anyhow::Result<()> {
    if let Some(name) = &args.layer {
        let active: Vec<&str> = layout.active_layers().map(|layer| layer.name.as_str()).collect();
        match layout.layers.get(name) {
            None => bail!(
                "--layer {name}: the layout {} has no such layer (it has: {})",
                layout.source,
                active.join(", ")
            ),
            Some(layer) if layer.deprecated => bail!(
                "--layer {name}: the layer is deprecated and takes no new wheels (the active ones: {})",
                active.join(", ")
            ),
            Some(_) => {}
        }
    }
    if let Some(arch) = &args.arch
        && !layout.archs.contains_key(arch)
    {
        bail!(
            "--arch {arch}: the layout {} has no such arch (it has: {})",
            layout.source,
            layout.archs.keys().cloned().collect::<Vec<_>>().join(", ")
        );
    }
    Ok(())
}

/// Runs cp-wheels.
pub fn run(args: &CpWheelsArgs, layout: &Layout, quiet: bool) -> anyhow::Result<ExitCode> {
    if args.publish_only {
        let outcome = publish_pending(layout)?;
        if args.json {
            outln!("{}", serde_json::to_string_pretty(&outcome)?);
        }
        return Ok(match outcome {
            None => {
                eprintln!("nothing to publish");
                ExitCode::SUCCESS
            }
            Some(outcome) => {
                if !args.json {
                    print_publish(&outcome);
                }
                if outcome.ok {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                }
            }
        });
    }
    check_node_flags(args, layout)?;
    let sources = collect_sources(args, layout)?;
    if sources.is_empty() {
        eprintln!(
            "no wheels with the local version label `+{}` to stage; nothing to do",
            layout.local_version_label
        );
        if args.json {
            outln!("{}", serde_json::json!({"root": layout.root, "wheels": []}));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let options = Options {
        arch: args.arch.clone(),
        layer: args.layer.clone(),
        force: args.force,
        trust_arch: args.trust_arch,
        dry_run: args.dry_run,
        remove: args.remove,
        fsync: !args.no_fsync,
        keep_going: args.keep_going,
        jobs: args.jobs.unwrap_or_else(crate::inspect::default_jobs).max(1),
        limits: Limits {
            total: args.max_unpacked_size,
            ..Limits::default()
        },
        verified: if args.full_verify {
            None
        } else {
            crate::wheel::verified::VerifiedCache::default_location()
        },
    };
    let bar = (!quiet && sources.len() > 1 && std::io::stderr().is_terminal()).then(|| {
        let bar = indicatif::ProgressBar::new(sources.len() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("checking {bar:30} {pos}/{len} {wide_msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let progress = |path: &Path| {
        if let Some(bar) = &bar {
            bar.inc(1);
            bar.set_message(
                path.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            );
        }
    };
    let report = place_wheels(&sources, layout, &options, &progress);
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let report = report?;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_human(&report);
    }
    Ok(if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
