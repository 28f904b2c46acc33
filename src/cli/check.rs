//! The arguments of `wheelwright check` (apart from the other commands' in `cli.rs`, which
//! would pass its size bound with them).

use std::path::PathBuf;

use clap::Args;

#[derive(Debug, Args)]
#[command(
    after_help = "Views: every arch of every active layer by default; --layer L for every arch of L; --arch A for A on the default layer; both for one.\nExit status: 1 when a hole is found (a requirement no wheel meets, a --resolve project that does not resolve) or the check cannot run, 0 otherwise."
)]
pub struct CheckArgs {
    /// The Pythons to check, comma-separated or repeated [default: the layout's].
    #[arg(long, value_name = "X.Y", value_delimiter = ',')]
    pub python: Vec<String>,
    /// Only this layer's views [default with --arch: the layout's default layer].
    #[arg(long, value_name = "LAYER")]
    pub layer: Option<String>,
    /// Only this arch's view [default: every arch of the layers checked].
    #[arg(long, value_name = "ARCH")]
    pub arch: Option<String>,
    /// Check every version of each project, not only the newest a node sees.
    #[arg(long)]
    pub all: bool,
    /// Resolve the requirements in FILE (pip's requirements format) in full on every node.
    #[arg(long, value_name = "FILE")]
    pub resolve: Option<PathBuf>,
    /// Only resolve --resolve's requirements: no check of the rest of the wheelhouse, so the
    /// exit status says whether that install works (a user's question).
    #[arg(long, requires = "resolve")]
    pub only_resolve: bool,
    /// Compare the newest versions with this index (a simple repository URL or directory).
    #[arg(long, value_name = "URL", conflicts_with = "staleness")]
    pub index_url: Option<String>,
    /// Compare the newest versions with the configured index ($PIP_INDEX_URL, $UV_INDEX_URL,
    /// $UV_DEFAULT_INDEX, else PyPI).
    #[arg(long)]
    pub staleness: bool,
    /// A project is stale when the index's newest release came out more than DAYS after the
    /// wheelhouse's newest (or is a major version ahead).
    #[arg(long, value_name = "DAYS", default_value_t = 730)]
    pub stale_after: u32,
    /// Threads reading METADATA and checking nodes [default: the number of cores, at most 8].
    #[arg(short, long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Where the METADATA cache is kept [default: $XDG_CACHE_HOME/wheelwright or
    /// ~/.cache/wheelwright].
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Read every wheel's METADATA, keeping no cache.
    #[arg(long, conflicts_with = "cache_dir")]
    pub no_cache: bool,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}
