//! Staleness: the projects whose newest version in the wheelhouse is far behind a package
//! index's newest final release, by release date (PEP 700 `upload-time` of each version's
//! first file on the index) or by a major version. Project pages come through the crate's
//! index client (PEP 691 JSON or PEP 503 HTML; HTML gives no dates, so only the major version
//! counts there), kept with their validators in a page cache when one is given.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

use pep440_rs::Version;

use super::model::{Finding, FindingKind, Fix, FixAction};
use super::node::Universe;
use crate::index::select::parse_distribution_file;
use crate::index::{IndexClient, IndexError};
use crate::wheelhouse::view::NodeView;

/// How staleness is judged.
#[derive(Debug, Clone)]
pub struct StalenessOptions {
    /// The index to compare with (a simple repository URL or directory).
    pub index_url: String,
    /// A project is stale when the index's newest release came out more than this many days
    /// after the wheelhouse's newest.
    pub stale_after_days: u32,
    /// Where project pages are kept between runs; `None`: not kept.
    pub page_cache: Option<PathBuf>,
}

/// The index could not be used at all.
#[derive(Debug, thiserror::Error)]
pub enum StalenessError {
    #[error("cannot compare with the index {index}")]
    Index {
        index: String,
        #[source]
        source: Box<IndexError>,
    },
    #[error(
        "cannot compare with the index {index}: no project page could be read ({failed} tried; the first error: {first})"
    )]
    Unreachable {
        index: String,
        failed: usize,
        first: String,
    },
    #[error("the index {index} has none of the wheelhouse's {projects} projects: is it the right index?")]
    NoneFound { index: String, projects: usize },
}

impl crate::hint::Hint for StalenessError {
    fn hint(&self) -> Option<String> {
        Some("check --index-url and the network, or leave out --index-url/--staleness".to_string())
    }
}

/// Days since 1970-01-01 of an ISO 8601 date (`2024-05-01T12:00:00Z`: the date part).
fn days_of(timestamp: &str) -> Option<i64> {
    let date = timestamp.get(..10)?;
    let mut parts = date.split('-');
    let year: i64 = parts.next()?.parse().ok()?;
    let month: i64 = parts.next()?.parse().ok()?;
    let day: i64 = parts.next()?.parse().ok()?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    Some(era * 146_097 + day_of_era - 719_468)
}

/// A project's versions on the index: each version's earliest upload day, when known.
type Listed = BTreeMap<Version, Option<i64>>;

fn listed(project: &str, page: &crate::index::ProjectPage) -> Listed {
    let mut versions: Listed = BTreeMap::new();
    for file in &page.files {
        if file.yanked.is_some() {
            continue;
        }
        let Some(parsed) = parse_distribution_file(project, &file.filename) else {
            continue;
        };
        let day = file.upload_time.as_deref().and_then(days_of);
        let slot = versions.entry(parsed.version().clone()).or_insert(day);
        *slot = match (*slot, day) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    versions
}

/// Whether `here` (the wheelhouse's newest, its local label dropped) is stale against the
/// index's versions, and why.
fn judge(here: &Version, versions: &Listed, stale_after_days: u32) -> Option<(Version, String)> {
    let (newest, newest_day) = versions
        .iter()
        .rev()
        .find(|(version, _)| !version.any_prerelease())?;
    if newest <= here {
        return None;
    }
    let major_behind = newest.release().first() > here.release().first();
    let here_day = versions.get(here).copied().flatten();
    let gap = newest_day.zip(here_day).map(|(newest, here)| newest - here);
    let too_old = gap.is_some_and(|gap| gap > i64::from(stale_after_days));
    if !(major_behind || too_old) {
        return None;
    }
    let mut why = Vec::new();
    if let Some(gap) = gap {
        why.push(format!("released {gap} days later"));
    }
    if major_behind {
        why.push("a major version ahead".to_string());
    }
    Some((newest.clone(), why.join(", ")))
}

/// The stale projects among those the views search.
pub(super) fn check(
    universe: &Universe<'_>,
    views: &[NodeView],
    options: &StalenessOptions,
    jobs: usize,
) -> Result<Vec<Finding>, StalenessError> {
    let index_error = |source| StalenessError::Index {
        index: options.index_url.clone(),
        source: Box::new(source),
    };
    let http = crate::index::http::HttpClient::new().map_err(|error| index_error(IndexError::Http(error)))?;
    let mut client = IndexClient::new(http, &options.index_url).map_err(index_error)?;
    if let Some(cache) = &options.page_cache {
        client = client.with_page_cache(cache);
    }
    let searched: HashSet<&str> = views
        .iter()
        .flat_map(|view| view.dirs.iter().map(String::as_str))
        .collect();
    let projects: Vec<(usize, Version)> = universe
        .wheels_of
        .iter()
        .enumerate()
        .filter_map(|(project, wheels)| {
            let newest = wheels
                .iter()
                .filter(|&&wheel| searched.contains(universe.dir_of(wheel)))
                .map(|&wheel| universe.version_of(wheel))
                .max()?;
            Some((project, newest.clone()))
        })
        .collect();
    // Network-bound: more threads than cores.
    let pages = crate::parallel::parallel_map(&projects, jobs.max(8), &|(project, _)| {
        client.project_page(&universe.names[*project])
    });
    let mut findings = Vec::new();
    let (mut failed, mut first_error, mut found) = (0, None, 0);
    for ((project, newest), page) in projects.iter().zip(pages) {
        let name = &universe.names[*project];
        let page = match page {
            Ok(page) => page,
            Err(IndexError::ProjectNotFound { .. }) => {
                tracing::info!("{name}: not on the index {}", options.index_url);
                continue;
            }
            Err(error) => {
                tracing::warn!("{name}: cannot read its page on the index: {error}");
                failed += 1;
                first_error.get_or_insert_with(|| error.to_string());
                continue;
            }
        };
        found += 1;
        let here = newest.clone().without_local();
        let Some((newer, why)) = judge(&here, &listed(name, &page), options.stale_after_days) else {
            continue;
        };
        let mut fix = Fix::new(FixAction::Upgrade, name);
        fix.version = Some(newer.to_string());
        let message = format!("the newest here is {newest}; the index has {newer} ({why})");
        findings.push(Finding::new(FindingKind::Stale, name, message, fix));
    }
    if found == 0 && failed > 0 {
        return Err(StalenessError::Unreachable {
            index: options.index_url.clone(),
            failed,
            first: first_error.unwrap_or_default(),
        });
    }
    if found == 0 && !projects.is_empty() {
        return Err(StalenessError::NoneFound {
            index: options.index_url.clone(),
            projects: projects.len(),
        });
    }
    Ok(findings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr as _;

    fn version(text: &str) -> Version {
        Version::from_str(text).unwrap()
    }

    #[test]
    fn days_count_from_the_epoch() {
        assert_eq!(days_of("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(days_of("2000-03-01"), Some(11_017));
        assert_eq!(days_of("2024-05-01T12:00:00.123456Z"), Some(19_844));
        assert_eq!(days_of("2024-13-01"), None);
        assert_eq!(days_of("soon"), None);
    }

    #[test]
    fn stale_by_age_or_major_version() {
        let day = |text: &str| days_of(text);
        let versions: Listed = [
            (version("1.0"), day("2020-01-01")),
            (version("1.5"), day("2021-06-01")),
            (version("1.6"), day("2023-01-01")),
            (version("2.0rc1"), day("2024-01-01")),
        ]
        .into_iter()
        .collect();
        // 1.0 -> 1.6: 1096 days later.
        let (newer, why) = judge(&version("1.0"), &versions, 730).unwrap();
        assert_eq!(
            (newer.to_string(), why.as_str()),
            ("1.6".to_string(), "released 1096 days later")
        );
        assert!(judge(&version("1.5"), &versions, 730).is_none());
        assert!(judge(&version("1.6"), &versions, 730).is_none());
        let mut major = versions.clone();
        major.insert(version("2.0"), day("2021-07-01"));
        let (newer, why) = judge(&version("1.5"), &major, 730).unwrap();
        assert_eq!(
            (newer.to_string(), why.as_str()),
            ("2.0".to_string(), "released 30 days later, a major version ahead")
        );
        // Unknown dates (an HTML index): only the major version counts.
        let undated: Listed = [(version("1.0"), None), (version("1.9"), None)]
            .into_iter()
            .collect();
        assert!(judge(&version("1.0"), &undated, 0).is_none());
    }
}
