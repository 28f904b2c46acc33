//! The user-facing commands: thin layers that turn arguments into library calls and print.

pub mod avail;
pub mod check;
pub mod cp_wheels;
pub mod index;
pub mod inspect;
pub mod layout;
pub mod manipulate;
pub mod nightly;
pub mod pip_config;
pub mod recipe;
pub mod verify;
pub mod wheelbuild;

use std::process::ExitCode;

use anyhow::Context as _;

use crate::cli::{Command, NodeArgs, WheelwrightCli};
use crate::layout::Layout;
use crate::wheelhouse::view::{NodeView, cpu_flags, default_layer, detect_arch, node_view};

/// Dispatches a parsed `wheelwright` command line.
pub fn run(cli: WheelwrightCli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Manipulate(args) => {
            let layout = Layout::load(cli.global.layout.as_deref())?;
            manipulate::run(&args, &layout)
        }
        Command::Verify(args) => verify::run(&args),
        Command::Inspect(args) => {
            let layout = Layout::load(cli.global.layout.as_deref())?;
            inspect::run(&args, &layout)
        }
        Command::Layout(command) => layout::run(&command, cli.global.layout.as_deref()),
        Command::Recipe(command) => recipe::run(&command, cli.global.layout.as_deref()),
        Command::Avail(args) => avail::run(&args, &Layout::load(cli.global.layout.as_deref())?),
        Command::PipConfig(args) => pip_config::run(&args, &Layout::load(cli.global.layout.as_deref())?),
        Command::Index(args) => index::run(&args, &Layout::load(cli.global.layout.as_deref())?),
        Command::Check(args) => check::run(&args, &Layout::load(cli.global.layout.as_deref())?),
        Command::Nightly(command) => nightly::run(
            &command,
            &Layout::load(cli.global.layout.as_deref())?,
            cli.global.layout.as_deref(),
            cli.global.quiet,
        ),
        Command::Adopt(args) => {
            let layout = Layout::load(cli.global.layout.as_deref())?;
            let settings = crate::recipe::AdoptSettings {
                find_links: args.find_links.clone(),
                url: args.url.clone(),
                add_rpath: args.add_rpath.clone(),
                add_origin: args.add_origin,
                remove_rpath_prefix: args.remove_rpath_prefix.clone(),
            };
            wheelbuild::run_with(&args.build, &layout, cli.global.quiet, Some(settings))
        }
    }
}

/// The node `--layer`/`--arch` name: the layout's default layer, and the best arch of the
/// layer this CPU runs.
pub fn node_of(layout: &Layout, node: &NodeArgs) -> anyhow::Result<NodeView> {
    let layer = match &node.layer {
        Some(layer) => layer.clone(),
        None => default_layer(layout).with_context(|| {
            format!(
                "the layout {} has no active layer: name one with --layer",
                layout.source
            )
        })?,
    };
    let arch = match &node.arch {
        Some(arch) => arch.clone(),
        None => {
            let arch = detect_arch(layout, &layer, &cpu_flags());
            tracing::info!("this CPU runs {layer}/{arch}");
            arch
        }
    };
    node_view(layout, &layer, &arch).map_err(anyhow::Error::msg)
}

pub use crate::words::count;
