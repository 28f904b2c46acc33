//! The `cp-wheels` binary: stage built wheels into the wheelhouse tree; parse, dispatch, exit.

use std::process::ExitCode;

use clap::Parser as _;
use wheelwright::cli::{CpWheelsCli, finish, init_logging};
use wheelwright::layout::Layout;

fn main() -> ExitCode {
    let cli = CpWheelsCli::parse();
    init_logging(&cli.global);
    finish(
        Layout::load(cli.global.layout.as_deref())
            .map_err(anyhow::Error::from)
            .and_then(|layout| wheelwright::commands::cp_wheels::run(&cli.args, &layout, cli.global.quiet)),
    )
}
