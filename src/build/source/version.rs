//! The version a build given none (or a specifier set) is built at ([`ChosenVersion`]): the
//! newest the index has an sdist of ([`choose_version`]), or, for a source whose URL or git
//! `rev` names the version ([`choose_source_version`], [`listed_version`]), the newest the
//! index lists, else the repository's newest tag; with the newer versions passed over and
//! why. Nothing is downloaded here but the index's project page and a repository's tag list.

use std::time::{Duration, Instant};

use super::{FetchError, FetchRequest, PAGE_CACHE, choose_from_index};
use crate::index::http::{HttpClient, redacted};
use crate::index::select::{self, VersionRequest};
use crate::index::{IndexClient, PYPI_SIMPLE};
use crate::recipe::{Source, VersionTemplate, VersionedSource};

/// The version a build was given none for (or a specifier set) is built at, and the newer
/// versions passed over because the recipe cannot build them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChosenVersion {
    pub version: pep440_rs::Version,
    /// Newer versions matching the request that cannot be built, newest first, and why
    /// (`has only platform wheels (...)`, `requires Python >=3.13`, `is yanked`).
    pub skipped: Vec<(pep440_rs::Version, String)>,
    /// Why this version, in full (logged).
    pub reason: String,
    /// One line for the plan's notes when newer versions were skipped: `kahypar: chose 1.3.5
    /// (the newest with an sdist); 1.3.6, 1.3.7 have only platform wheels; a recipe with
    /// `adopt:` takes those wheels instead`.
    pub note: Option<String>,
}

impl ChosenVersion {
    /// A version given exactly: nothing chosen, nothing skipped.
    pub fn asked(version: pep440_rs::Version) -> Self {
        ChosenVersion {
            reason: format!("version {version} as asked"),
            version,
            skipped: Vec::new(),
            note: None,
        }
    }

    /// A chosen version; `basis` says what made it the one (`the newest with an sdist`).
    fn chosen(
        package: &str,
        version: pep440_rs::Version,
        skipped: Vec<(pep440_rs::Version, String)>,
        basis: &str,
        reason: String,
    ) -> Self {
        let note = skipped_note(package, &version, &skipped, basis);
        ChosenVersion {
            version,
            skipped,
            reason,
            note,
        }
    }
}

/// `kahypar: chose 1.3.5 (the newest with an sdist); 1.3.6, 1.3.7 have only platform wheels;
/// a recipe with `adopt:` takes those wheels instead`; `None` when nothing was skipped.
fn skipped_note(
    package: &str,
    version: &pep440_rs::Version,
    skipped: &[(pep440_rs::Version, String)],
    basis: &str,
) -> Option<String> {
    if skipped.is_empty() {
        return None;
    }
    // Versions grouped by why, each group oldest first; a platform wheel's tags are left to
    // the log.
    let mut groups: Vec<(String, Vec<&pep440_rs::Version>)> = Vec::new();
    for (skipped_version, why) in skipped.iter().rev() {
        let why = if select::is_platform_wheels_only(why) {
            "has only platform wheels".to_string()
        } else {
            why.clone()
        };
        match groups.iter_mut().find(|(group, _)| *group == why) {
            Some((_, versions)) => versions.push(skipped_version),
            None => groups.push((why, vec![skipped_version])),
        }
    }
    let mut parts: Vec<String> = groups
        .iter()
        .map(|(why, versions)| {
            let names: Vec<String> = versions.iter().map(ToString::to_string).collect();
            let why = if versions.len() > 1 {
                plural(why)
            } else {
                why.clone()
            };
            format!("{} {why}", names.join(", "))
        })
        .collect();
    if skipped
        .iter()
        .any(|(_, why)| select::is_platform_wheels_only(why))
    {
        parts.push(select::ADOPT_ALTERNATIVE.to_string());
    }
    Some(format!(
        "{package}: chose {version} ({basis}); {}",
        parts.join("; ")
    ))
}

/// A reason said of several versions: `has` -> `have`, `is` -> `are`, `requires` -> `require`.
fn plural(why: &str) -> String {
    for (one, many) in [("has ", "have "), ("is ", "are "), ("requires ", "require ")] {
        if let Some(rest) = why.strip_prefix(one) {
            return format!("{many}{rest}");
        }
    }
    why.to_string()
}

/// The version of `request.package` the index offers for `request.version` (exact, a
/// specifier set, or the newest), without downloading anything: what a build resolves its
/// recipe for before it fetches.
pub fn choose_version(request: &FetchRequest) -> Result<ChosenVersion, FetchError> {
    let wanted = VersionRequest::parse(request.version)?;
    if let VersionRequest::Exact(version) = &wanted {
        return Ok(ChosenVersion::asked(version.clone()));
    }
    let http = HttpClient::new()?;
    let (_, choice) = choose_from_index(&http, request, &wanted)?;
    tracing::info!("{}: {}", request.package, choice.reason);
    let basis = if choice.is_wheel {
        "the newest with a pure wheel and no sdist"
    } else {
        "the newest with an sdist"
    };
    Ok(ChosenVersion::chosen(
        request.package,
        choice.version,
        choice.skipped,
        basis,
        choice.reason,
    ))
}

/// How long `git ls-remote` may take to list a repository's tags.
const GIT_TAGS_LIMIT: Duration = Duration::from_secs(120);

/// The version of a package whose source names the version (a git `rev` like
/// `v{{ version }}`, an archive URL like `.../pkg-{{ version }}.tar.gz`), for
/// `request.version` (exact, a specifier set, or the newest): the newest version the index
/// lists in any form (sdist or wheels) when the project is there; else, for git, the newest
/// of the repository's tags read through the template (`v0.2.0` -> 0.2.0), and for a URL an
/// error asking for the version. `request.source` is the recipe's source as resolved before
/// the version is known (its git URL).
pub fn choose_source_version(
    request: &FetchRequest,
    versioned: &VersionedSource,
) -> Result<ChosenVersion, FetchError> {
    let wanted = VersionRequest::parse(request.version)?;
    if let VersionRequest::Exact(version) = &wanted {
        return Ok(ChosenVersion::asked(version.clone()));
    }
    let package = request.package;
    match newest_on_index(request, &wanted) {
        Ok((index, listed)) => Ok(chosen_from_listed(package, &index, &wanted, listed, versioned)),
        Err(FetchError::Index(crate::index::IndexError::ProjectNotFound { index, .. })) => {
            match (versioned, request.source) {
                (VersionedSource::Git { rev }, Source::Git { url, .. }) => {
                    let version = newest_tag(request, url, rev, &wanted)?;
                    let reason = format!(
                        "{version} is the newest version{} among the tags of {url} (`{}`); the project is not on the index",
                        wanted.qualifier(),
                        rev.text
                    );
                    tracing::info!("{package}: {reason}");
                    Ok(ChosenVersion::chosen(package, version, Vec::new(), "", reason))
                }
                (VersionedSource::Git { rev: template }, _) | (VersionedSource::Url { url: template }, _) => {
                    Err(FetchError::UrlNeedsVersion {
                        package: package.to_string(),
                        index,
                        template: template.text.clone(),
                    })
                }
            }
        }
        Err(error) => Err(error),
    }
}

/// For a recipe whose `versions` entries give some versions a source that names the version:
/// the newest version the index lists in any form (matching the request), when the recipe's
/// source for it does (`versioned_for`); `None` when it does not (an sdist is needed then).
pub fn listed_version(
    request: &FetchRequest,
    versioned_for: &dyn Fn(&pep440_rs::Version) -> Option<VersionedSource>,
) -> Result<Option<ChosenVersion>, FetchError> {
    let wanted = VersionRequest::parse(request.version)?;
    let (index, listed) = newest_on_index(request, &wanted)?;
    Ok(versioned_for(&listed.version)
        .map(|versioned| chosen_from_listed(request.package, &index, &wanted, listed, &versioned)))
}

/// The newest version the index lists for `request.package` in any form, and the index's
/// name.
fn newest_on_index(
    request: &FetchRequest,
    wanted: &VersionRequest,
) -> Result<(String, select::Listed), FetchError> {
    let http = HttpClient::new()?;
    let client = IndexClient::new(http, request.index_url.unwrap_or(PYPI_SIMPLE))?
        .with_page_cache(&request.cache.join(PAGE_CACHE));
    let page = client.project_page(request.package)?;
    let index = redacted(client.url());
    let listed = select::newest_listed(request.package, &index, &page.files, wanted, request.pythons)?;
    Ok((index, listed))
}

/// The choice of a version the index lists, built from the source that names it.
fn chosen_from_listed(
    package: &str,
    index: &str,
    wanted: &VersionRequest,
    listed: select::Listed,
    versioned: &VersionedSource,
) -> ChosenVersion {
    let (built_from, template, basis) = match versioned {
        VersionedSource::Git { rev } => (
            "its git source at `rev`",
            &rev.text,
            "the newest on the index, built from its git source",
        ),
        VersionedSource::Url { url } => (
            "its source URL",
            &url.text,
            "the newest on the index, built from its source URL",
        ),
    };
    let reason = format!(
        "{} is the newest version{} on {index} ({built_from} `{template}` rendered for it)",
        listed.version,
        wanted.qualifier(),
    );
    tracing::info!("{package}: {reason}");
    ChosenVersion::chosen(package, listed.version, listed.skipped, basis, reason)
}

/// The newest version among the tags of the repository at `url` that read as versions
/// through `template` and match `wanted` (final releases first).
fn newest_tag(
    request: &FetchRequest,
    url: &str,
    template: &VersionTemplate,
    wanted: &VersionRequest,
) -> Result<pep440_rs::Version, FetchError> {
    if template.affixes().is_none() {
        return Err(FetchError::RevTemplate {
            package: request.package.to_string(),
            url: url.to_string(),
            template: template.text.clone(),
        });
    }
    let started = Instant::now();
    let tags = crate::tools::git_tags(url, request.invocation, request.log, GIT_TAGS_LIMIT)?;
    tracing::info!(
        "{url}: {} ({:.2} s)",
        crate::words::count(tags.len(), "tag"),
        started.elapsed().as_secs_f64()
    );
    let versions: Vec<pep440_rs::Version> = tags
        .iter()
        .filter_map(|tag| template.version_of_tag(tag))
        .filter(|version| wanted.contains(version))
        .collect();
    let newest_final = versions.iter().filter(|version| !version.any_prerelease()).max();
    let newest = if wanted.names_prerelease() {
        versions.iter().max()
    } else {
        newest_final.or(versions.iter().max())
    };
    newest.cloned().ok_or_else(|| FetchError::NoVersionTag {
        package: request.package.to_string(),
        url: url.to_string(),
        template: template.text.clone(),
        request: wanted.qualifier(),
        tags: tags.iter().rev().take(8).cloned().collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_note_of_a_choice_groups_the_versions_skipped() {
        let version = |text: &str| -> pep440_rs::Version { text.parse().unwrap() };
        let skipped = vec![
            (
                version("1.3.7"),
                "has only platform wheels (cp312-cp312-manylinux_2_17_x86_64)".to_string(),
            ),
            (version("1.3.6.1"), "requires Python >=3.14".to_string()),
            (
                version("1.3.6"),
                "has only platform wheels (cp311-cp311-win_amd64)".to_string(),
            ),
        ];
        let chosen = ChosenVersion::chosen(
            "kahypar",
            version("1.3.5"),
            skipped,
            "the newest with an sdist",
            String::new(),
        );
        assert_eq!(
            chosen.note.as_deref(),
            Some(
                "kahypar: chose 1.3.5 (the newest with an sdist); 1.3.6, 1.3.7 have only platform wheels; 1.3.6.1 requires Python >=3.14; a recipe with `adopt:` takes those wheels instead"
            )
        );
        let yanked = ChosenVersion::chosen(
            "demo",
            version("1.0"),
            vec![(version("1.1"), "is yanked (broken)".to_string())],
            "the newest with an sdist",
            String::new(),
        );
        assert_eq!(
            yanked.note.as_deref(),
            Some("demo: chose 1.0 (the newest with an sdist); 1.1 is yanked (broken)")
        );
        assert_eq!(ChosenVersion::asked(version("2.0")).note, None);
    }
}
