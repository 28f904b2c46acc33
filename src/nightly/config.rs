//! `ci/nightly.toml`, the site's nightly set: the packages (a version, a PEP 440 specifier,
//! `latest`, or every recipe), the matrix, resources per cell, where run directories, state and
//! staged wheels go, publishing, and Slurm settings; errors name the file, line and key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use pep440_rs::{Version, VersionSpecifiers};
use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::build::BuildRequest;
use crate::layout::PythonVersion;
use crate::resources::{parse_memory, parse_time};

/// A nightly configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the nightly configuration {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{}: {message}", path.display())]
    Parse { path: PathBuf, message: String },
    #[error("{}:{line}:{column}: `{key}`: {message}", path.display())]
    Invalid {
        path: PathBuf,
        line: usize,
        column: usize,
        key: String,
        message: String,
    },
}

/// The file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    /// `NAME` (the newest), `NAME==1.85`, `NAME>=1.2,<2`.
    #[serde(default)]
    packages: Vec<Spanned<String>>,
    /// Every recipe of the recipes directory joins the set (the newest version, unless the
    /// package is listed).
    #[serde(default)]
    all_recipes: bool,
    /// The recipes directory (relative to this file) [default: the layout's, ./recipes].
    recipes: Option<String>,
    /// The simple index [default: PyPI].
    index_url: Option<String>,
    /// When a recipe's git or URL source cannot be reached (its host does not answer), build
    /// the index's sdist of the same version instead, and say so.
    #[serde(default)]
    sdist_fallback: bool,
    #[serde(default)]
    matrix: RawMatrix,
    #[serde(default)]
    resources: RawResources,
    /// Per package: its version and resources.
    #[serde(default)]
    package: BTreeMap<String, RawPackage>,
    #[serde(default)]
    paths: RawPaths,
    #[serde(default)]
    publish: RawPublish,
    #[serde(default)]
    slurm: RawSlurm,
    #[serde(default)]
    check: RawCheck,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCheck {
    /// Check the wheelhouse after publishing [default: true].
    enabled: Option<bool>,
    /// Plan and build, the same night, the dependencies the check finds missing.
    #[serde(default)]
    fill_holes: bool,
    /// At most this many packages filled in a night [default: 20].
    fill_limit: Option<usize>,
    /// A requirements file (relative to this file) resolved in full on every node.
    resolve: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMatrix {
    pythons: Option<Vec<Spanned<String>>>,
    layers: Option<Vec<Spanned<String>>>,
    archs: Option<Vec<Spanned<String>>>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawResources {
    cpus: Option<Spanned<usize>>,
    memory: Option<Spanned<String>>,
    time: Option<Spanned<String>>,
}

impl RawResources {
    fn is_set(&self) -> bool {
        self.cpus.is_some() || self.memory.is_some() || self.time.is_some()
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPackage {
    version: Option<Spanned<String>>,
    #[serde(default)]
    resources: RawResources,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPaths {
    runs: Option<String>,
    state: Option<String>,
    output: Option<Spanned<String>>,
    cache: Option<String>,
    cache_limit: Option<Spanned<String>>,
    build_cache: Option<String>,
    build_cache_limit: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPublish {
    #[serde(default)]
    enabled: bool,
    #[serde(default)]
    per_package: bool,
    #[serde(default)]
    untested_gpu: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSlurm {
    account: Option<String>,
    partition: Option<String>,
    gpu_partition: Option<String>,
    max_jobs: Option<usize>,
    #[serde(default)]
    sbatch_args: Vec<String>,
}

/// Which version of a package the nightly builds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "kebab-case")]
pub enum Wanted {
    /// The newest the index offers.
    Latest,
    /// This version (no network needed to plan it once its source is cached).
    Pinned(String),
    /// The newest within a specifier set.
    Within(String),
}

impl Wanted {
    /// The text `wheelbuild --version` takes for it (`None`: the newest).
    pub fn as_version_argument(&self) -> Option<&str> {
        match self {
            Wanted::Latest => None,
            Wanted::Pinned(text) | Wanted::Within(text) => Some(text),
        }
    }
}

impl std::fmt::Display for Wanted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Wanted::Latest => f.write_str("latest"),
            Wanted::Pinned(version) => write!(f, "=={version}"),
            Wanted::Within(specifiers) => f.write_str(specifiers),
        }
    }
}

/// What one cell may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resources {
    pub cpus: usize,
    /// MiB.
    pub memory_mb: u64,
    /// Minutes.
    pub time_minutes: u64,
}

impl Default for Resources {
    fn default() -> Self {
        Resources {
            cpus: 2,
            memory_mb: 4096,
            time_minutes: 60,
        }
    }
}

/// A package of the set.
#[derive(Debug, Clone, Serialize)]
pub struct PackageEntry {
    pub name: String,
    pub wanted: Wanted,
    pub resources: Resources,
    /// Whether `[package.NAME.resources]` set them (then a recipe's `resources` do not).
    pub own_resources: bool,
}

/// Where a nightly keeps its files.
#[derive(Debug, Clone, Serialize)]
pub struct Paths {
    /// One directory per run (`<runs>/<YYYYmmdd-HHMMSS>/`).
    pub runs: PathBuf,
    /// The last result of every cell and the run history: what makes the next night
    /// incremental.
    pub state: PathBuf,
    /// Where passing wheels are staged (the dependants of a package build against them).
    pub output: PathBuf,
    /// Downloaded sources, by sha256.
    pub cache: PathBuf,
    /// The most the source cache may hold after a run, in MiB (oldest pruned first).
    pub cache_limit_mb: u64,
    /// uv's cache of build requirements for the cells (`UV_CACHE_DIR`); `None`: uv's own.
    pub build_cache: Option<PathBuf>,
    /// The most uv's cache may hold after a run, in MiB.
    pub build_cache_limit_mb: u64,
}

/// Slurm settings for `--executor slurm`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SlurmSettings {
    pub account: Option<String>,
    pub partition: Option<String>,
    /// The partition of GPU nodes for smoke tests that need a GPU (unless the layer names
    /// its own).
    pub gpu_partition: Option<String>,
    /// Jobs in flight at most [default: 100].
    pub max_jobs: usize,
    /// More `sbatch` arguments, given as is.
    pub sbatch_args: Vec<String>,
}

/// The checked configuration.
#[derive(Debug, Clone, Serialize)]
pub struct NightlyConfig {
    pub file: PathBuf,
    pub packages: Vec<PackageEntry>,
    pub all_recipes: bool,
    pub recipes: Option<PathBuf>,
    pub index_url: Option<String>,
    /// Build the index's sdist when a recipe's own source cannot be reached.
    pub sdist_fallback: bool,
    /// `None`: the layout's.
    pub pythons: Option<Vec<PythonVersion>>,
    /// `None`: the layout's default layer.
    pub layers: Option<Vec<String>>,
    /// `None`: every arch of each layer.
    pub archs: Option<Vec<String>>,
    /// The defaults of every cell (a package's own override them).
    pub resources: Resources,
    pub paths: Paths,
    pub publish: bool,
    pub publish_per_package: bool,
    /// Publish wheels whose GPU smoke test could not run.
    pub publish_untested_gpu: bool,
    pub slurm: SlurmSettings,
    pub check: CheckSettings,
}

/// What the run checks of the wheelhouse after publishing (`[check]`).
#[derive(Debug, Clone, Serialize)]
pub struct CheckSettings {
    pub enabled: bool,
    /// Plan and build the missing dependencies the same night.
    pub fill_holes: bool,
    /// At most this many packages filled in a night.
    pub fill_limit: usize,
    /// A requirements file resolved in full on every node.
    pub resolve: Option<PathBuf>,
}

/// Reads the file line by line from byte offsets, for error positions.
struct Positions<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Positions<'_> {
    fn invalid<T>(&self, spanned: &Spanned<T>, key: &str, message: impl Into<String>) -> ConfigError {
        let offset = spanned.span().start.min(self.text.len());
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let column = offset - before.rfind('\n').map_or(0, |newline| newline + 1) + 1;
        ConfigError::Invalid {
            path: self.path.to_path_buf(),
            line,
            column,
            key: key.to_string(),
            message: message.into(),
        }
    }
}

impl NightlyConfig {
    /// What every build of the nightly asks for `package` on `layer`: the nightly's output,
    /// cache and index; test dependencies from PyPI; nothing recursive or adopted. The
    /// caller sets the version, Pythons, archs, work directory and jobs.
    pub fn build_request(&self, package: &str, layer: &str) -> BuildRequest {
        BuildRequest {
            package: package.to_string(),
            version: None,
            pythons: Vec::new(),
            archs: Vec::new(),
            layer: layer.to_string(),
            output: self.paths.output.clone(),
            work: PathBuf::new(),
            cache: self.paths.cache.clone(),
            keep_build_dir: false,
            test_dependencies_from_pypi: true,
            jobs: 1,
            recursive: false,
            recipes: None,
            requirement: None,
            ancestors: Vec::new(),
            index_url: self.index_url.clone(),
            adopt: None,
        }
    }

    /// Reads and checks a nightly configuration file; relative paths in it are relative to its
    /// directory.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = fs_err::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        Self::parse(&text, &path)
    }

    /// Parses and checks the text of `path`.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|error| ConfigError::Parse {
            path: path.to_path_buf(),
            message: error.to_string().trim_end().to_string(),
        })?;
        let at = Positions { path, text };
        let base = path.parent().unwrap_or(Path::new("."));
        let relative = |value: &str| {
            let value = Path::new(value);
            if value.is_absolute() {
                value.to_path_buf()
            } else {
                base.join(value)
            }
        };
        let resources = resources(&at, "resources", &raw.resources, Resources::default())?;
        let packages = packages(&at, &raw, resources)?;
        let pythons = match &raw.matrix.pythons {
            None => None,
            Some(list) => Some(
                list.iter()
                    .map(|text| {
                        text.get_ref()
                            .trim()
                            .parse::<PythonVersion>()
                            .map_err(|message| at.invalid(text, "matrix.pythons", message))
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
        };
        let names = |list: &Option<Vec<Spanned<String>>>| {
            list.as_ref()
                .map(|list| list.iter().map(|item| item.get_ref().clone()).collect())
        };
        let paths = Paths {
            runs: relative(raw.paths.runs.as_deref().unwrap_or("nightly/runs")),
            state: relative(raw.paths.state.as_deref().unwrap_or("nightly/state")),
            output: relative(
                raw.paths
                    .output
                    .as_ref()
                    .map_or("nightly/staging", |output| output.get_ref().as_str()),
            ),
            cache: raw
                .paths
                .cache
                .as_deref()
                .map(relative)
                .unwrap_or_else(|| crate::wheel::verified::cache_root().join("sources")),
            cache_limit_mb: match &raw.paths.cache_limit {
                Some(limit) => parse_memory(limit.get_ref())
                    .map_err(|message| at.invalid(limit, "paths.cache_limit", message))?,
                None => 20 << 10,
            },
            build_cache: raw.paths.build_cache.as_deref().map(relative),
            build_cache_limit_mb: match &raw.paths.build_cache_limit {
                Some(limit) => parse_memory(limit.get_ref())
                    .map_err(|message| at.invalid(limit, "paths.build_cache_limit", message))?,
                None => 20 << 10,
            },
        };
        Ok(NightlyConfig {
            file: path.to_path_buf(),
            packages,
            all_recipes: raw.all_recipes,
            recipes: raw.recipes.as_deref().map(relative),
            index_url: raw.index_url.clone(),
            sdist_fallback: raw.sdist_fallback,
            pythons,
            layers: names(&raw.matrix.layers),
            archs: names(&raw.matrix.archs),
            resources,
            paths,
            publish: raw.publish.enabled,
            publish_per_package: raw.publish.per_package,
            publish_untested_gpu: raw.publish.untested_gpu,
            check: CheckSettings {
                enabled: raw.check.enabled.unwrap_or(true),
                fill_holes: raw.check.fill_holes,
                fill_limit: raw.check.fill_limit.unwrap_or(20),
                resolve: raw.check.resolve.as_deref().map(relative),
            },
            slurm: SlurmSettings {
                account: raw.slurm.account.clone(),
                partition: raw.slurm.partition.clone(),
                gpu_partition: raw.slurm.gpu_partition.clone(),
                max_jobs: raw.slurm.max_jobs.unwrap_or(100).max(1),
                sbatch_args: raw.slurm.sbatch_args.clone(),
            },
        })
    }
}

/// The `packages` list and `[package.NAME]` tables, merged: one entry per package.
fn packages(at: &Positions, raw: &RawConfig, defaults: Resources) -> Result<Vec<PackageEntry>, ConfigError> {
    let mut entries: Vec<PackageEntry> = Vec::new();
    // Normalised name -> position in `entries`.
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for item in &raw.packages {
        let (name, wanted) =
            split_package(item.get_ref()).map_err(|message| at.invalid(item, "packages", message))?;
        if seen
            .insert(crate::spec::normalize_name(&name), entries.len())
            .is_some()
        {
            return Err(at.invalid(item, "packages", format!("`{name}` is listed twice")));
        }
        entries.push(PackageEntry {
            name,
            wanted,
            resources: defaults,
            own_resources: false,
        });
    }
    for (name, table) in &raw.package {
        let key = format!("package.{name}");
        let resources = resources(at, &format!("{key}.resources"), &table.resources, defaults)?;
        let wanted = match &table.version {
            Some(text) => wanted(text.get_ref().trim())
                .map_err(|message| at.invalid(text, &format!("{key}.version"), message))?,
            None => Wanted::Latest,
        };
        match seen
            .get(&crate::spec::normalize_name(name))
            .and_then(|position| entries.get_mut(*position))
        {
            Some(entry) => {
                if let Some(text) = &table.version
                    && entry.wanted != Wanted::Latest
                    && entry.wanted != wanted
                {
                    return Err(at.invalid(
                        text,
                        &format!("{key}.version"),
                        format!("`packages` already says {}", entry.wanted),
                    ));
                }
                if table.version.is_some() {
                    entry.wanted = wanted;
                }
                entry.resources = resources;
                entry.own_resources = table.resources.is_set();
            }
            None => {
                seen.insert(crate::spec::normalize_name(name), entries.len());
                entries.push(PackageEntry {
                    name: name.clone(),
                    wanted,
                    resources,
                    own_resources: table.resources.is_set(),
                });
            }
        }
    }
    Ok(entries)
}

/// `NAME`, `NAME==1.85`, `NAME>=1.2,<2`, `NAME@latest`.
fn split_package(text: &str) -> Result<(String, Wanted), String> {
    let text = text.trim();
    let end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .unwrap_or(text.len());
    let (name, rest) = text.split_at(end);
    if name.is_empty() {
        return Err(format!("`{text}` does not start with a package name"));
    }
    let rest = rest.trim();
    let wanted = match rest.strip_prefix('@') {
        Some(version) => wanted(version.trim())?,
        None if rest.is_empty() => Wanted::Latest,
        None => wanted(rest)?,
    };
    Ok((name.to_string(), wanted))
}

/// `latest`, `1.85`, `==1.85`, or a specifier set.
fn wanted(text: &str) -> Result<Wanted, String> {
    if text.is_empty() || text == "latest" {
        return Ok(Wanted::Latest);
    }
    if let Ok(version) = text.trim_start_matches("==").trim().parse::<Version>()
        && !text.contains(',')
    {
        return Ok(Wanted::Pinned(version.to_string()));
    }
    text.parse::<VersionSpecifiers>()
        .map(|specifiers| Wanted::Within(specifiers.to_string()))
        .map_err(|error| format!("`{text}` is not a version, a PEP 440 specifier set or `latest`: {error}"))
}

/// A resources table over `defaults`.
fn resources(
    at: &Positions,
    key: &str,
    raw: &RawResources,
    defaults: Resources,
) -> Result<Resources, ConfigError> {
    let mut resources = defaults;
    if let Some(cpus) = &raw.cpus {
        if *cpus.get_ref() == 0 {
            return Err(at.invalid(cpus, &format!("{key}.cpus"), "at least 1"));
        }
        resources.cpus = *cpus.get_ref();
    }
    if let Some(memory) = &raw.memory {
        resources.memory_mb = parse_memory(memory.get_ref())
            .map_err(|message| at.invalid(memory, &format!("{key}.memory"), message))?;
    }
    if let Some(time) = &raw.time {
        resources.time_minutes = parse_time(time.get_ref())
            .map_err(|message| at.invalid(time, &format!("{key}.time"), message))?;
    }
    Ok(resources)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<NightlyConfig, ConfigError> {
        NightlyConfig::parse(text, Path::new("/site/ci/nightly.toml"))
    }

    #[test]
    fn packages_versions_and_resources() {
        let config = parse(
            r#"
packages = ["biopython==1.85", "numpy>=2,<3", "simplejson", "six@latest"]
[resources]
cpus = 4
memory = "8G"
time = "2h"
[package.biopython.resources]
time = "1h30m"
[package.scipy]
version = "1.15.2"
[paths]
runs = "runs"
"#,
        )
        .unwrap();
        let summary: Vec<String> = config
            .packages
            .iter()
            .map(|entry| format!("{} {} {}", entry.name, entry.wanted, entry.resources.time_minutes))
            .collect();
        assert_eq!(
            summary,
            [
                "biopython ==1.85 90",
                "numpy >=2, <3 120",
                "simplejson latest 120",
                "six latest 120",
                "scipy ==1.15.2 120"
            ]
        );
        assert_eq!(config.resources.memory_mb, 8192);
        assert_eq!(config.paths.runs, PathBuf::from("/site/ci/runs"));
        assert_eq!(config.paths.output, PathBuf::from("/site/ci/nightly/staging"));
    }

    #[test]
    fn errors_name_the_line_and_the_key() {
        let error = parse("packages = [\"ok\",\n  \"numpy>>2\"]\n")
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("/site/ci/nightly.toml:2:3: `packages`: `>>2` is not a version"),
            "{error}"
        );
        let error = parse("[package.x.resources]\nmemory = \"lots\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("/site/ci/nightly.toml:2:10: `package.x.resources.memory`"),
            "{error}"
        );
        let error = parse("[matrix]\npythons = [\"3.12\", \"three\"]\n")
            .unwrap_err()
            .to_string();
        assert!(error.contains(":2:20: `matrix.pythons`"), "{error}");
        let error = parse("packges = []\n").unwrap_err().to_string();
        assert!(error.contains("unknown field `packges`"), "{error}");
        assert!(error.contains("line 1"), "{error}");
        let error = parse("packages = [\"a\", \"A\"]\n").unwrap_err().to_string();
        assert!(error.contains("`A` is listed twice"), "{error}");
    }
}
