//! The `wheelwright` toolbox binary: parse, dispatch, exit.

use std::process::ExitCode;

use clap::Parser as _;
use wheelwright::cli::{WheelwrightCli, finish, init_logging};

fn main() -> ExitCode {
    let cli = WheelwrightCli::parse();
    init_logging(&cli.global);
    finish(wheelwright::commands::run(cli))
}
