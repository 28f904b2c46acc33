//! `wheelwright index`: write or refresh the static simple index of the node views.

use std::process::ExitCode;

use anyhow::Context as _;

use crate::cli::IndexArgs;
use crate::inspect::default_jobs;
use crate::layout::Layout;
use crate::outln;
use crate::wheelhouse::index::guard::ShrinkPolicy;
use crate::wheelhouse::index::{IndexOptions, write_index};
use crate::words::count;

pub fn run(args: &IndexArgs, layout: &Layout) -> anyhow::Result<ExitCode> {
    let options = IndexOptions {
        output: args.output.clone(),
        views: crate::wheelhouse::view::views_of(layout, args.layer.as_deref(), args.arch.as_deref())
            .map_err(anyhow::Error::msg)?,
        base_url: args.base_url.clone(),
        jobs: args.jobs.unwrap_or_else(default_jobs),
        prune_views: args.layer.is_none() && args.arch.is_none(),
        shrink: ShrinkPolicy {
            max_percent: args.max_shrink,
            allow: args.allow_shrink,
        },
    };
    let started = std::time::Instant::now();
    let summary = write_index(layout, &options)
        .with_context(|| format!("cannot write the index in `{}`", args.output.display()))?;
    tracing::info!("index written in {:.2?}", started.elapsed());
    for problem in &summary.problems {
        tracing::warn!("{problem}");
    }
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&summary)?);
        return Ok(ExitCode::SUCCESS);
    }
    for view in &summary.views {
        outln!(
            "{}/{}: {}, {}  {}",
            view.layer,
            view.arch,
            count(view.projects, "project"),
            count(view.wheels, "wheel"),
            view.url
        );
    }
    outln!(
        "{}, {}, {} ({} hashed, {} from the cache); {} written, {} unchanged, {} removed",
        count(summary.views.len(), "view"),
        count(summary.projects, "project"),
        count(summary.wheels, "wheel"),
        summary.hashed,
        summary.cached,
        count(summary.pages_written, "page"),
        summary.pages_unchanged,
        count(summary.removed, "file"),
    );
    Ok(ExitCode::SUCCESS)
}
