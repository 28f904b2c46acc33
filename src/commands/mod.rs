//! The user-facing commands: thin layers that turn arguments into library calls and print.

pub mod cp_wheels;
pub mod inspect;
pub mod layout;
pub mod manipulate;
pub mod recipe;
pub mod verify;
pub mod wheelbuild;

use std::process::ExitCode;

use crate::cli::{Command, WheelwrightCli};
use crate::layout::Layout;

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
    }
}
