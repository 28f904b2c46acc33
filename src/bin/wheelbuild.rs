//! The `wheelbuild` binary: build, fix and smoke-test wheels; parse, dispatch, exit.

use std::process::ExitCode;

use clap::Parser as _;
use wheelwright::cli::{WheelbuildCli, finish, init_logging};
use wheelwright::layout::Layout;

fn main() -> ExitCode {
    let cli = WheelbuildCli::parse();
    init_logging(&cli.global);
    finish(
        Layout::load(cli.global.layout.as_deref())
            .map_err(anyhow::Error::from)
            .and_then(|layout| wheelwright::commands::wheelbuild::run(&cli.build, &layout, cli.global.quiet)),
    )
}
