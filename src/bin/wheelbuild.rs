//! The `wheelbuild` binary: build, fix and smoke-test wheels from recipes (not yet available).

use std::process::ExitCode;

use clap::Parser as _;

/// build, fix and smoke-test wheels from recipes.
#[derive(Debug, clap::Parser)]
#[command(
    name = "wheelbuild",
    version,
    about = "build, fix and smoke-test wheels from recipes (not yet available in this version)"
)]
struct Cli {
    /// Arguments for the coming implementation.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    arguments: Vec<String>,
}

fn main() -> ExitCode {
    let _ = Cli::parse();
    eprintln!(
        "error: `wheelbuild` is not yet available in wheelwright {} (planned in issue 4)",
        env!("CARGO_PKG_VERSION")
    );
    eprintln!("hint: `wheelwright manipulate` and `wheelwright verify` work today");
    ExitCode::from(2)
}
