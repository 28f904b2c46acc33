//! The nightly's memory between runs, in the state directory: the last result of every cell
//! (its input key and the hash of each input, its state and wheel), what was learnt from each
//! source (build requirements, Requires-Dist, compiled or not), and the history of runs. Only
//! the coordinator writes here, each file atomically (temporary file, rename).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::build::FetchedSource;

use super::CellId;

/// How a cell ended (or, for `up-to-date`, why it did not run).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CellState {
    /// Built, smoke-tested and passed.
    Built,
    /// An earlier passing result with the same input key stands.
    UpToDate,
    Failed,
    /// A package it needs to build or test failed: not built.
    DependencyFailed,
    /// Built, but its test needs a GPU that was not there.
    UntestedGpu,
    /// Built and passed, but it needs libraries nodes of its layer do not have: held back,
    /// not published.
    Held,
    /// The run was stopped before it finished.
    Cancelled,
    /// Ended for running past its time limit (by the local executor or the scheduler).
    Timeout,
    /// Ended for using more memory than its limit.
    OutOfMemory,
    /// The package could not be planned (its recipe, its source or versions, or the modules
    /// it loads): no cell of it was built.
    Unplannable,
}

pub use crate::cause::Cause;

impl CellState {
    pub fn as_str(self) -> &'static str {
        match self {
            CellState::Built => "built",
            CellState::UpToDate => "up-to-date",
            CellState::Failed => "failed",
            CellState::DependencyFailed => "dependency-failed",
            CellState::UntestedGpu => "untested-gpu",
            CellState::Held => "held",
            CellState::Cancelled => "cancelled",
            CellState::Timeout => "timeout",
            CellState::OutOfMemory => "out-of-memory",
            CellState::Unplannable => "unplannable",
        }
    }

    /// Whether the cell's wheel is good to use (and to skip next time).
    pub fn passed(self) -> bool {
        matches!(self, CellState::Built | CellState::UpToDate)
    }
}

impl std::fmt::Display for CellState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// The last result of one cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastResult {
    pub version: String,
    /// The hash over every input (`None`: unknown, the cell was not built).
    pub key: Option<String>,
    /// The hash of each input by name (`source`, `recipe`, `layout`, ...): what changed.
    pub inputs: BTreeMap<String, String>,
    pub state: CellState,
    pub reason: Option<String>,
    /// The wheel's file name, when one was staged.
    pub wheel: Option<String>,
    /// The run that produced it (its directory name).
    pub run: String,
    /// Unix seconds.
    pub finished: u64,
    /// The wheel's own requirements (names), for the order of the next runs.
    #[serde(default)]
    pub requires: Vec<String>,
}

/// What a source says about itself, learnt once per file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceFacts {
    pub source: FetchedSource,
    /// `[build-system] requires` (setuptools' default for a tree without it).
    pub build_requires: Vec<String>,
    /// PKG-INFO's Requires-Dist, when the sdist has them.
    pub requires_dist: Vec<String>,
    /// Whether it holds code to compile (else its wheel is pure: generic only).
    pub compiled: bool,
}

/// What names a source before it is fetched: the index's file of a version
/// (`pypi NAME VERSION`), an archive's URL with its pin, or a git URL at a rev. `None` for an
/// index source whose version is not known.
pub fn source_identity(
    package: &str,
    version: Option<&str>,
    source: &crate::recipe::Source,
    sha256: Option<&str>,
) -> Option<String> {
    match source {
        crate::recipe::Source::Pypi => {
            version.map(|version| format!("pypi {} {version}", crate::spec::normalize_name(package)))
        }
        crate::recipe::Source::Url { url } => Some(format!("url {url} {}", sha256.unwrap_or("-"))),
        crate::recipe::Source::Git { url, rev } => Some(format!("git {url} {rev}")),
    }
}

/// [`source_identity`] of the source `recipe` takes: an adoption's wheels (`adopt pypi ...`)
/// are not the sdist of the same version.
pub fn recipe_source_identity(
    package: &str,
    version: Option<&str>,
    recipe: &crate::recipe::ResolvedRecipe,
) -> Option<String> {
    let identity = source_identity(package, version, &recipe.source, recipe.sha256.as_deref())?;
    Some(match &recipe.adopt {
        Some(adopt) => format!(
            "adopt {} {}",
            adopt
                .url
                .as_deref()
                .or(adopt.find_links.as_deref())
                .unwrap_or("index"),
            identity
        ),
        None => identity,
    })
}

/// One line of the run history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub run: String,
    pub cell: String,
    pub package: String,
    pub version: String,
    pub state: CellState,
    pub seconds: f64,
    pub finished: u64,
}

/// The state directory.
#[derive(Debug, Clone)]
pub struct StateStore {
    root: PathBuf,
}

/// Writes `value` as JSON to `path` atomically (temporary file in the same directory, rename).
pub fn write_json_atomic(path: &Path, value: &impl Serialize) -> std::io::Result<()> {
    crate::atomic::write_json(path, value)
}

/// Reads a JSON file; `None` when it is missing or not what is expected (a warning then).
pub fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Option<T> {
    let text = fs_err::read_to_string(path).ok()?;
    match serde_json::from_str(&text) {
        Ok(value) => Some(value),
        Err(error) => {
            tracing::warn!("{}: ignored ({error})", path.display());
            None
        }
    }
}

impl StateStore {
    pub fn new(root: &Path) -> Self {
        StateStore {
            root: root.to_path_buf(),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn cell_path(&self, id: &CellId) -> PathBuf {
        self.root
            .join("cells")
            .join(crate::spec::normalize_name(&id.package))
            .join(&id.layer)
            .join(format!("py{}-{}.json", id.python, id.arch))
    }

    /// The last result of a cell, if there is one.
    pub fn last(&self, id: &CellId) -> Option<LastResult> {
        read_json(&self.cell_path(id))
    }

    /// Records a cell's result.
    pub fn record(&self, id: &CellId, result: &LastResult) -> std::io::Result<()> {
        write_json_atomic(&self.cell_path(id), result)
    }

    fn facts_path(&self, identity: &str) -> PathBuf {
        self.root
            .join("sources")
            .join(format!("{}.json", super::model::hash_of(&identity)))
    }

    /// What was learnt from a source, by its identity (see [`source_identity`]), if it was
    /// fetched before and is still in the cache.
    pub fn source_facts(&self, identity: &str) -> Option<SourceFacts> {
        let facts: SourceFacts = read_json(&self.facts_path(identity))?;
        facts.source.path.is_file().then_some(facts)
    }

    pub fn save_source_facts(&self, identity: &str, facts: &SourceFacts) -> std::io::Result<()> {
        write_json_atomic(&self.facts_path(identity), facts)
    }

    fn history_path(&self) -> PathBuf {
        self.root.join("history.jsonl")
    }

    /// Appends lines to the history (under a lock on the file: one coordinator at a time).
    pub fn append_history(&self, entries: &[HistoryEntry]) -> std::io::Result<()> {
        fs_err::create_dir_all(&self.root)?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.history_path())?;
        file.lock()?;
        let mut text = String::new();
        for entry in entries {
            text.push_str(&serde_json::to_string(entry).map_err(std::io::Error::other)?);
            text.push('\n');
        }
        (&file).write_all(text.as_bytes())?;
        file.sync_all()?;
        Ok(())
    }

    /// The history, oldest first (lines that cannot be read are skipped).
    pub fn history(&self) -> Vec<HistoryEntry> {
        fs_err::read_to_string(self.history_path())
            .map(|text| {
                text.lines()
                    .filter_map(|line| serde_json::from_str(line).ok())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Now, in Unix seconds.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or_default()
}

/// `2026-12-02 16:40:05 UTC` for Unix seconds.
pub fn utc(seconds: u64) -> String {
    let (date, clock) = utc_parts(seconds);
    format!("{date} {clock} UTC")
}

/// `20261202-164005`, a run directory's name.
pub fn run_name(seconds: u64) -> String {
    let (date, clock) = utc_parts(seconds);
    format!("{}-{}", date.replace('-', ""), clock.replace(':', ""))
}

/// (`YYYY-MM-DD`, `HH:MM:SS`) in UTC, from days since the epoch by the civil calendar.
fn utc_parts(seconds: u64) -> (String, String) {
    let days = (seconds / 86_400) as i64;
    let rest = seconds % 86_400;
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (
        format!("{year:04}-{month:02}-{day:02}"),
        format!("{:02}:{:02}:{:02}", rest / 3600, rest % 3600 / 60, rest % 60),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(1_796_229_605), "2026-12-02 16:40:05 UTC");
        assert_eq!(run_name(1_796_229_605), "20261202-164005");
    }

    #[test]
    fn results_and_history_are_kept() {
        let directory = tempfile::tempdir().unwrap();
        let store = StateStore::new(directory.path());
        let id = CellId {
            package: "Demo_Pkg".into(),
            layer: "gentoo2023".into(),
            python: "3.12".parse().unwrap(),
            arch: "generic".into(),
        };
        assert!(store.last(&id).is_none());
        let result = LastResult {
            version: "1.0".into(),
            key: Some("k".into()),
            inputs: BTreeMap::from([("source".to_string(), "s".to_string())]),
            state: CellState::Built,
            reason: None,
            wheel: Some("demo_pkg-1.0-py3-none-any.whl".into()),
            run: "20261202-164005".into(),
            finished: 1,
            requires: vec!["numpy".into()],
        };
        store.record(&id, &result).unwrap();
        assert_eq!(store.last(&id), Some(result));
        assert!(
            directory
                .path()
                .join("cells/demo-pkg/gentoo2023/py3.12-generic.json")
                .is_file()
        );
        let entry = HistoryEntry {
            run: "r".into(),
            cell: id.to_string(),
            package: "demo-pkg".into(),
            version: "1.0".into(),
            state: CellState::Failed,
            seconds: 1.5,
            finished: 2,
        };
        store.append_history(std::slice::from_ref(&entry)).unwrap();
        store.append_history(std::slice::from_ref(&entry)).unwrap();
        assert_eq!(store.history(), [entry.clone(), entry]);
    }
}
