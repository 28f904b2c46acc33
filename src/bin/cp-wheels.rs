//! The `cp-wheels` binary: stage built wheels into the wheelhouse tree (not yet available).

use std::process::ExitCode;

use clap::Parser as _;

/// stage built wheels into the wheelhouse tree.
#[derive(Debug, clap::Parser)]
#[command(
    name = "cp-wheels",
    version,
    about = "stage built wheels into the wheelhouse tree (not yet available in this version)"
)]
struct Cli {
    /// Arguments for the coming implementation.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    arguments: Vec<String>,
}

fn main() -> ExitCode {
    let _ = Cli::parse();
    eprintln!(
        "error: `cp-wheels` is not yet available in wheelwright {} (planned in issue 5)",
        env!("CARGO_PKG_VERSION")
    );
    eprintln!("hint: `wheelwright manipulate` and `wheelwright verify` work today");
    ExitCode::from(2)
}
