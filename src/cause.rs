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

/// Whether a failure's text says that a host could not be reached at all (no address, no
/// answer, no route), as opposed to a host that answered "not found": what `sdist_fallback`
/// falls back on. git, curl and our HTTP client's words.
pub fn is_unreachable(text: &str) -> bool {
    const SIGNS: [&str; 9] = [
        "Could not resolve host",
        "failed to lookup address",
        "Name or service not known",
        "Temporary failure in name resolution",
        "Connection refused",
        "Connection timed out",
        "Network is unreachable",
        "No route to host",
        "Failed to connect to",
    ];
    SIGNS.iter().any(|sign| text.contains(sign))
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

#[cfg(test)]
mod tests {
    use super::is_unreachable;

    #[test]
    fn a_host_that_cannot_be_reached_is_told_from_one_that_answered() {
        for text in [
            "fatal: unable to access 'https://github.com/o/p/': Could not resolve host: github.com",
            "could not fetch https://github.com/o/p/archive/v1.tar.gz: io: failed to lookup address information: Name or service not known",
            "curl: (7) Failed to connect to example.org port 443: Connection refused",
        ] {
            assert!(is_unreachable(text), "{text}");
        }
        for text in [
            "fatal: Remote branch v9.9 not found in upstream origin",
            "could not fetch https://example.org/x.tar.gz: HTTP 404 Not Found",
        ] {
            assert!(!is_unreachable(text), "{text}");
        }
    }
}
