//! `wheelwright check`: the wheelhouse's holes on every node, as a table or JSON; exit 1 when
//! a hole is found.

use std::process::ExitCode;

use anyhow::Context as _;

use crate::cli::CheckArgs;
use crate::inspect::default_jobs;
use crate::layout::{Layout, PythonVersion};
use crate::outln;
use crate::wheelhouse::check::render::render_report;
use crate::wheelhouse::check::{CheckOptions, StalenessOptions, read_requirements_file, run_check};
use crate::wheelhouse::view::views_of;

pub fn run(args: &CheckArgs, layout: &Layout) -> anyhow::Result<ExitCode> {
    let views = views_of(layout, args.layer.as_deref(), args.arch.as_deref()).map_err(anyhow::Error::msg)?;
    let pythons: Vec<PythonVersion> = if args.python.is_empty() {
        layout.python_versions.clone()
    } else {
        args.python
            .iter()
            .map(|text| text.trim().parse().map_err(anyhow::Error::msg))
            .collect::<anyhow::Result<_>>()
            .context("--python")?
    };
    let resolve = match &args.resolve {
        Some(path) => read_requirements_file(path).context("--resolve")?,
        None => Vec::new(),
    };
    let cache_root = args
        .cache_dir
        .clone()
        .unwrap_or_else(crate::wheel::verified::cache_root);
    let staleness = if args.index_url.is_some() || args.staleness {
        let index =
            crate::index::configured_index(args.index_url.as_deref(), |name| std::env::var(name).ok());
        let index_url = index.map_or_else(|| crate::index::PYPI_SIMPLE.to_string(), |index| index.url);
        Some(StalenessOptions {
            index_url,
            stale_after_days: args.stale_after,
            page_cache: (!args.no_cache).then(|| cache_root.join("index-pages")),
        })
    } else {
        None
    };
    let options = CheckOptions {
        views,
        pythons,
        all_versions: args.all,
        resolve,
        only_resolve: args.only_resolve,
        staleness,
        cache_dir: (!args.no_cache).then_some(cache_root),
        jobs: args.jobs.unwrap_or_else(default_jobs).max(1),
    };
    let started = std::time::Instant::now();
    let report = run_check(layout, &options)?;
    tracing::info!("checked in {:.2?}", started.elapsed());
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for line in render_report(&report) {
            outln!("{line}");
        }
    }
    Ok(if report.has_holes() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
