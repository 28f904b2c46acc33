//! `wheelwright nightly plan|run|cell`: the nightly rebuild's front end.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::ExitCode;

use crate::cli::{ExecutorKind, NightlyCommand, NightlyPlanArgs, NightlyRunArgs};
use crate::hint::HintExt as _;
use crate::layout::Layout;
use crate::nightly::config::NightlyConfig;
use crate::nightly::state::StateStore;
use crate::nightly::{LocalExecutor, PlanOptions, Planned, RunOptions, headline, plan, run as run_nightly};
use crate::outln;
use crate::recipe::recipes_directory;
use crate::spec::normalize_name;

pub fn run(
    command: &NightlyCommand,
    layout: &Layout,
    layout_file: Option<&Path>,
    quiet: bool,
) -> anyhow::Result<ExitCode> {
    match command {
        NightlyCommand::Plan(args) => plan_command(args, layout),
        NightlyCommand::Run(args) => run_command(args, layout, layout_file, quiet),
        NightlyCommand::Cell(args) => {
            let say = |message: &str| {
                if !quiet {
                    eprintln!("cell: {message}");
                }
            };
            let mode = if args.build_only {
                crate::build::CellMode::BuildOnly
            } else if args.test_only {
                crate::build::CellMode::TestOnly
            } else {
                crate::build::CellMode::Full
            };
            let outcome = crate::build::run_cell_file(&args.file, layout, args.jobs, mode, &say)?;
            if mode == crate::build::CellMode::BuildOnly {
                outln!("{}", serde_json::to_string_pretty(&outcome)?);
                return Ok(if outcome.error.is_none() {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                });
            }
            outln!("{}", serde_json::to_string_pretty(&outcome)?);
            Ok(if crate::build::passed(&outcome) {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}

/// The recipes directory of a nightly: its configuration's, else the layout's, else ./recipes.
fn recipes(config: &NightlyConfig, layout: &Layout) -> anyhow::Result<Option<std::path::PathBuf>> {
    Ok(
        recipes_directory(config.recipes.as_deref(), layout.recipes.as_deref())?
            .map(|directory| directory.path),
    )
}

/// The names of the nightly set, PEP 503 normalised: the packages listed and, with
/// `all_recipes`, every recipe file of the recipes directory (as the plan takes them). None
/// when the set cannot be known here (`all_recipes` without a recipes directory: the plan
/// says why).
fn set_names(config: &NightlyConfig, recipes: Option<&Path>) -> anyhow::Result<Option<BTreeSet<String>>> {
    let mut names: BTreeSet<String> = config
        .packages
        .iter()
        .map(|entry| normalize_name(&entry.name))
        .collect();
    if config.all_recipes {
        let Some(directory) = recipes else {
            return Ok(None);
        };
        for path in crate::recipe::recipe_paths(directory)? {
            if let Some(stem) = path.file_stem() {
                names.insert(normalize_name(&stem.to_string_lossy()));
            }
        }
    }
    Ok(Some(names))
}

/// How many edits turn `a` into `b` (Levenshtein), for "did you mean".
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, left) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, right) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(left != *right);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

/// The names listed in a hint: all of a small set, else the first few and how many more.
const NAMES_SHOWN: usize = 10;

/// Refuses `--rebuild` names that are not in the set: a misspelt name would otherwise
/// rebuild nothing and say nothing. The error lists the set (or its first names) and the
/// nearest names.
fn check_rebuild(rebuild: &[String], config: &NightlyConfig, recipes: Option<&Path>) -> anyhow::Result<()> {
    if rebuild.is_empty() {
        return Ok(());
    }
    let Some(names) = set_names(config, recipes)? else {
        return Ok(());
    };
    let unknown: Vec<&String> = rebuild
        .iter()
        .filter(|name| !names.contains(&normalize_name(name)))
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    let mut suggestions = Vec::new();
    for name in &unknown {
        let wanted = normalize_name(name);
        let mut near: Vec<(usize, &String)> = names
            .iter()
            .map(|known| (edit_distance(&wanted, known), known))
            .filter(|(distance, known)| *distance <= (known.len().max(wanted.len()) / 3).max(2))
            .collect();
        near.sort();
        // Only the nearest (ties kept), not everything within reach.
        let nearest = near.first().map(|(distance, _)| *distance);
        let near: Vec<String> = near
            .iter()
            .filter(|(distance, _)| Some(*distance) == nearest)
            .take(3)
            .map(|(_, known)| format!("`{known}`"))
            .collect();
        if !near.is_empty() {
            let near = near.join(" or ");
            suggestions.push(if unknown.len() == 1 {
                near
            } else {
                format!("{near} for {name}")
            });
        }
    }
    let shown: Vec<&str> = names.iter().take(NAMES_SHOWN).map(String::as_str).collect();
    let set = if names.len() > NAMES_SHOWN {
        format!(
            "the set has {}: {}, ... (`wheelwright nightly plan --config {}` lists them all)",
            crate::words::count(names.len(), "package"),
            shown.join(", "),
            config.file.display()
        )
    } else if names.is_empty() {
        "the set is empty".to_string()
    } else {
        format!("the set has: {}", shown.join(", "))
    };
    let hint = if suggestions.is_empty() {
        set
    } else {
        format!("did you mean {}? {set}", suggestions.join(", "))
    };
    let unknown: Vec<&str> = unknown.iter().map(|name| name.as_str()).collect();
    Err(anyhow::anyhow!(
        "--rebuild {}: not in the nightly set of {}",
        unknown.join(" "),
        config.file.display()
    ))
    .hint(hint)
}

fn plan_command(args: &NightlyPlanArgs, layout: &Layout) -> anyhow::Result<ExitCode> {
    let config = NightlyConfig::load(&args.config)?;
    let store = StateStore::new(&config.paths.state);
    let recipes = recipes(&config, layout)?;
    check_rebuild(&args.rebuild, &config, recipes.as_deref())?;
    let planned = plan(
        &config,
        layout,
        &store,
        &PlanOptions {
            rebuild: &args.rebuild,
            recipes: recipes.as_deref(),
            index_sources: &BTreeMap::new(),
        },
    )?;
    // A package that cannot be planned is something that failed, as a failed cell is.
    let status = if planned.unplannable.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    };
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&planned)?);
        return Ok(status);
    }
    let (up_to_date, to_build) = planned.counts();
    let blocked = planned.blocked();
    let mut headline = format!(
        "nightly plan ({}): {}, {}: {up_to_date} up to date, {to_build} to build",
        config.file.display(),
        crate::words::count(planned.packages.len() + planned.unplannable.len(), "package"),
        crate::words::count(up_to_date + to_build + blocked, "cell"),
    );
    if blocked > 0 {
        headline.push_str(&format!(", {blocked} held back (a need cannot be planned)"));
    }
    if !planned.unplannable.is_empty() {
        headline.push_str(&format!("; {} cannot be planned", planned.unplannable.len()));
    }
    outln!("{headline}");
    for package in &planned.packages {
        let needs: Vec<String> = package.needs().into_iter().collect();
        outln!(
            "  {} {}{}",
            package.name,
            package.version.as_deref().unwrap_or("(version once fetched)"),
            if needs.is_empty() {
                String::new()
            } else {
                format!("  (after {})", needs.join(", "))
            }
        );
        if let Some(note) = &package.version_note {
            outln!("    note: {note}");
        }
        for cell in &package.cells {
            let state = match cell.state {
                Planned::UpToDate => "up-to-date".to_string(),
                Planned::Build => format!("build: {}", cell.reasons.join("; ")),
                Planned::DependencyFailed => format!("dependency-failed: {}", cell.reasons.join("; ")),
            };
            outln!(
                "    {:<12} py{:<5} {:<10} {state}",
                cell.id.layer,
                cell.id.python,
                cell.id.arch
            );
        }
    }
    if !planned.unplannable.is_empty() {
        outln!("cannot be planned ({}):", planned.unplannable.len());
        for package in &planned.unplannable {
            // A long cause (a module's output) goes on indented lines of its own.
            let mut lines = package.reason.lines();
            outln!(
                "  {} [{}]: {}",
                package.name,
                package.cause,
                lines.next().unwrap_or("")
            );
            for line in lines {
                outln!("      {line}");
            }
        }
    }
    Ok(status)
}

fn run_command(
    args: &NightlyRunArgs,
    layout: &Layout,
    layout_file: Option<&Path>,
    quiet: bool,
) -> anyhow::Result<ExitCode> {
    let config = NightlyConfig::load(&args.config)?;
    let recipes = recipes(&config, layout)?;
    check_rebuild(&args.rebuild, &config, recipes.as_deref())?;
    let mut executor = executor_for(args, &config, layout, layout_file)?;
    // On a terminal, where the run stands is one live line; elsewhere (cron, CI logs) each
    // cell's start and end is a line.
    use std::io::IsTerminal as _;
    let live = (!quiet && std::io::stderr().is_terminal()).then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        bar
    });
    let say = |message: &str| match (&live, message.strip_prefix(crate::nightly::STATUS)) {
        (Some(bar), Some(status)) => bar.set_message(status.to_string()),
        (Some(bar), None) => bar.println(format!("nightly: {message}")),
        (None, Some(_)) => {}
        (None, None) if !quiet => eprintln!("nightly: {message}"),
        (None, None) => {}
    };
    // Ctrl-C and SIGTERM stop the run cleanly: what it started is cancelled.
    if let Err(error) = ctrlc::set_handler(crate::nightly::model::request_stop) {
        tracing::warn!("Ctrl-C will not cancel the cells cleanly: {error}");
    }
    let report = run_nightly(
        &config,
        layout,
        executor.as_mut(),
        &RunOptions {
            rebuild: args.rebuild.clone(),
            resume: args.resume.clone(),
            dry_run: args.dry_run,
            publish: args.publish,
            keep_work: args.keep_work,
            recipes,
            verify_reproducible: args.verify_reproducible,
            when_locked: if args.wait {
                crate::nightly::WhenLocked::Wait
            } else {
                crate::nightly::WhenLocked::Stop
            },
        },
        &say,
    );
    if let Some(bar) = &live {
        bar.finish_and_clear();
    }
    let report = match report {
        Err(error @ crate::nightly::NightlyError::Locked { .. }) => {
            return Err(error).hint(
                "`nightly run --wait` waits for it to end (a cron job can, to queue behind a night that overran)",
            );
        }
        other => other?,
    };
    print_run(args, &report)?;
    let ok = report.state.ok() && report.published.iter().all(|published| published.ok());
    Ok(if ok || args.dry_run {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The executor `--executor` names, cells started with the layout file they were planned
/// with and uv's cache of the configuration.
fn executor_for(
    args: &NightlyRunArgs,
    config: &NightlyConfig,
    layout: &Layout,
    layout_file: Option<&Path>,
) -> anyhow::Result<Box<dyn crate::nightly::model::Executor>> {
    let layout_file = layout_file
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os("WHEELWRIGHT_LAYOUT").map(std::path::PathBuf::from));
    let mut executor: Box<dyn crate::nightly::model::Executor> = match args.executor {
        ExecutorKind::Local => Box::new(LocalExecutor::new(
            args.jobs.unwrap_or_else(crate::inspect::default_jobs),
            layout_file.as_deref(),
        )?),
        ExecutorKind::Slurm => Box::new(crate::nightly::SlurmExecutor::new(
            &config.slurm,
            layout,
            layout_file.as_deref(),
        )?),
    };
    if let Some(cache) = &config.paths.build_cache {
        executor.set_environment(vec![("UV_CACHE_DIR".to_string(), cache.display().to_string())]);
    }
    Ok(executor)
}

/// What a run did, on stdout: the report as JSON, the dry run's count, or the headline, what
/// did not pass, what was published and where the reports are.
fn print_run(args: &NightlyRunArgs, report: &crate::nightly::RunReport) -> anyhow::Result<()> {
    let results = report.state.results();
    if args.json {
        outln!("{}", serde_json::to_string_pretty(report)?);
    } else if args.dry_run {
        let queued = report.state.tasks.len();
        outln!(
            "nightly {} (dry run): {queued} cells to build, {} up to date; cell files in {}",
            report.state.name,
            report.state.up_to_date.len(),
            report.directory.join("cells").display()
        );
    } else {
        outln!("nightly {}: {}", report.state.name, headline(&results));
        for result in results.iter().filter(|result| !result.state.passed()) {
            outln!(
                "  {}: {}{}: {}",
                result.describe(),
                result.state,
                result
                    .cause
                    .map(|cause| format!(" [{cause}]"))
                    .unwrap_or_default(),
                result
                    .reason
                    .as_deref()
                    .and_then(|reason| reason.lines().next())
                    .unwrap_or("")
            );
        }
        for published in &report.published {
            outln!("published (cp-wheels):");
            crate::commands::cp_wheels::print_human(published);
        }
        outln!(
            "reports: {} (summary.md, result.json)",
            report.directory.join("report.html").display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::edit_distance;

    #[test]
    fn edit_distance_counts_insertions_deletions_and_substitutions() {
        assert_eq!(edit_distance("six", "six"), 0);
        assert_eq!(edit_distance("sx", "six"), 1);
        assert_eq!(edit_distance("sixx", "six"), 1);
        assert_eq!(edit_distance("numpy", "nunpy"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
