//! `wheelwright recipe check|show`: validate recipes and print one resolved.

use std::path::Path;
use std::process::ExitCode;

use crate::cli::RecipeCommand;

pub fn run(_command: &RecipeCommand, _global_layout: Option<&Path>) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`wheelwright recipe` is not implemented yet")
}
