//! Whose a failure is — the recipe's, the site's, the source's, the package's own, ours, or
//! a limit's: the vocabulary the build, the external-program runner and the nightly's reports
//! share, so that a night's failures are told apart and grouped.

use serde::{Deserialize, Serialize};

/// Whose a failure is: the recipe's, the site's, the source's, the package's own, ours, or a
/// limit's. Reports group failures by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cause {
    /// The recipe as written (or imported): a key, a value, a template, a patch.
    Recipe,
    /// The site's stack: a module that does not load, a library or compiler the stack lacks.
    SiteStack,
    /// The source: not on the index, no version the recipe can build, a fetch that failed.
    Source,
    /// The package's own build or test.
    Package,
    /// wheelwright itself.
    Tool,
    /// A time or memory limit.
    Limit,
    /// A package it needs failed.
    Dependency,
}

impl Cause {
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::Recipe => "recipe",
            Cause::SiteStack => "site-stack",
            Cause::Source => "source",
            Cause::Package => "package",
            Cause::Tool => "tool",
            Cause::Limit => "limit",
            Cause::Dependency => "dependency",
        }
    }
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}
