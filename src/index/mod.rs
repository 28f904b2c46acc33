//! The package index client: which simple repository a build uses (`--index-url`, the pip
//! and uv variables, else PyPI), its project pages fetched (PEP 691 JSON asked for first,
//! PEP 503 HTML understood) and parsed, and the file to build from chosen. No `pip download`:
//! nothing runs a build backend to find a file.

pub mod http;
pub mod page;
pub mod select;

use url::Url;

use crate::spec::normalize_name;
use http::{HttpClient, HttpError, redacted};
use page::{PageError, PageFormat, ProjectFile};

/// PyPI's simple index, used when nothing names another.
pub const PYPI_SIMPLE: &str = "https://pypi.org/simple/";

/// The variables that name an index, in the order they are read after `--index-url`.
pub const INDEX_VARIABLES: [&str; 3] = ["PIP_INDEX_URL", "UV_INDEX_URL", "UV_DEFAULT_INDEX"];

/// An index named by the command line or the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfiguredIndex {
    pub url: String,
    /// What named it: `--index-url` or the variable's name.
    pub origin: &'static str,
}

/// The index `--index-url` (`flag`) or the environment (`variable`) names; `None` means PyPI.
pub fn configured_index(
    flag: Option<&str>,
    variable: impl Fn(&str) -> Option<String>,
) -> Option<ConfiguredIndex> {
    if let Some(url) = flag.map(str::trim).filter(|url| !url.is_empty()) {
        return Some(ConfiguredIndex {
            url: url.to_string(),
            origin: "--index-url",
        });
    }
    INDEX_VARIABLES.iter().find_map(|name| {
        variable(name)
            .map(|value| value.trim().to_string())
            .filter(|value| !value.is_empty())
            .map(|url| ConfiguredIndex { url, origin: name })
    })
}

/// An index that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("the index URL `{url}` is invalid: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("the index {index} has no project `{project}`: {source}")]
    ProjectNotFound {
        project: String,
        index: String,
        #[source]
        source: HttpError,
    },
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error(transparent)]
    Page(#[from] PageError),
}

/// Parses an index URL: an `http(s)://` or `file://` URL, or a local directory; the result
/// ends with `/` so that project names join below it.
pub fn parse_index_url(text: &str) -> Result<Url, IndexError> {
    let invalid = |reason: String| IndexError::InvalidUrl {
        url: text.to_string(),
        reason,
    };
    let mut url = match Url::parse(text) {
        Ok(url) => url,
        Err(url::ParseError::RelativeUrlWithoutBase) => {
            let path = std::path::absolute(text).map_err(|error| invalid(error.to_string()))?;
            Url::from_directory_path(&path)
                .map_err(|()| invalid("not a URL, nor a local directory".to_string()))?
        }
        Err(error) => return Err(invalid(error.to_string())),
    };
    if !matches!(url.scheme(), "http" | "https" | "file") {
        return Err(invalid(format!(
            "the scheme `{}` is not http, https or file",
            url.scheme()
        )));
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    url.set_fragment(None);
    Ok(url)
}

/// A project page, parsed.
#[derive(Debug, Clone)]
pub struct ProjectPage {
    /// Where it was finally served from.
    pub url: Url,
    pub format: PageFormat,
    pub files: Vec<ProjectFile>,
}

/// A client of one simple repository.
#[derive(Debug, Clone)]
pub struct IndexClient {
    http: HttpClient,
    index: Url,
    /// Where project pages are kept with their validators (see
    /// [`HttpClient::get_text_cached`]); `None`: not kept.
    page_cache: Option<std::path::PathBuf>,
}

impl IndexClient {
    pub fn new(http: HttpClient, index_url: &str) -> Result<Self, IndexError> {
        Ok(IndexClient {
            http,
            index: parse_index_url(index_url)?,
            page_cache: None,
        })
    }

    /// Keeps project pages in `directory` and asks for them again with their validators.
    pub fn with_page_cache(mut self, directory: &std::path::Path) -> Self {
        self.page_cache = Some(directory.to_path_buf());
        self
    }

    /// The index's URL (ending with `/`).
    pub fn url(&self) -> &Url {
        &self.index
    }

    /// The HTTP client its pages are fetched with, for downloading the files they list.
    pub fn http(&self) -> &HttpClient {
        &self.http
    }

    /// The page of a project: its normalised name (PEP 503) below the index.
    pub fn project_url(&self, project: &str) -> Result<Url, IndexError> {
        self.index
            .join(&format!("{}/", normalize_name(project)))
            .map_err(|error| IndexError::InvalidUrl {
                url: redacted(&self.index),
                reason: error.to_string(),
            })
    }

    /// Fetches and parses the page of `project`. A 404 is [`IndexError::ProjectNotFound`].
    /// A page read in the last minute by this process is not read again (a build chooses its
    /// version, resolves its recipe for it, then fetches the file the same page lists).
    pub fn project_page(&self, project: &str) -> Result<ProjectPage, IndexError> {
        let url = self.project_url(project)?;
        if let Some(page) = recent_page(&url) {
            tracing::debug!("{}: read {:.1} s ago", redacted(&url), page.0.as_secs_f64());
            return Ok(page.1);
        }
        let page = self.read_page(project, &url)?;
        remember_page(&url, &page);
        Ok(page)
    }

    fn read_page(&self, project: &str, url: &Url) -> Result<ProjectPage, IndexError> {
        let fetched = match &self.page_cache {
            Some(cache) => self.http.get_text_cached(url, page::ACCEPT, cache),
            None => self.http.get_text(url, page::ACCEPT),
        };
        let page = fetched.map_err(|error| match error {
            HttpError::NotFound { .. } => IndexError::ProjectNotFound {
                project: project.to_string(),
                index: redacted(&self.index),
                source: error,
            },
            other => IndexError::Http(other),
        })?;
        let format = PageFormat::detect(page.content_type.as_deref(), &page.body);
        let files = page::parse_project_page(&page.body, format, &page.url)?;
        Ok(ProjectPage {
            url: page.url,
            format,
            files,
        })
    }
}

/// Project pages this process read lately: (page URL asked for, when, page), newest last.
type RecentPages = Vec<(Url, std::time::Instant, ProjectPage)>;
static RECENT_PAGES: std::sync::Mutex<RecentPages> = std::sync::Mutex::new(Vec::new());
/// How long a page read is reused, and how many are kept.
const RECENT_FOR: std::time::Duration = std::time::Duration::from_secs(60);
const RECENT_PAGES_KEPT: usize = 8;

/// The page at `url` if this process read it within [`RECENT_FOR`], with its age.
fn recent_page(url: &Url) -> Option<(std::time::Duration, ProjectPage)> {
    let pages = RECENT_PAGES.lock().ok()?;
    pages
        .iter()
        .rev()
        .find(|(at, when, _)| at == url && when.elapsed() < RECENT_FOR)
        .map(|(_, when, page)| (when.elapsed(), page.clone()))
}

fn remember_page(url: &Url, page: &ProjectPage) {
    if let Ok(mut pages) = RECENT_PAGES.lock() {
        pages.retain(|(at, when, _)| at != url && when.elapsed() < RECENT_FOR);
        if pages.len() >= RECENT_PAGES_KEPT {
            pages.remove(0);
        }
        pages.push((url.clone(), std::time::Instant::now(), page.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_then_pip_then_uv_name_the_index() {
        let none = |_: &str| None;
        assert_eq!(configured_index(None, none), None);
        let environment = |name: &str| match name {
            "UV_INDEX_URL" => Some("https://uv.example/simple".to_string()),
            "UV_DEFAULT_INDEX" => Some("https://default.example/simple".to_string()),
            _ => None,
        };
        assert_eq!(
            configured_index(None, environment),
            Some(ConfiguredIndex {
                url: "https://uv.example/simple".into(),
                origin: "UV_INDEX_URL"
            })
        );
        let with_pip = |name: &str| match name {
            "PIP_INDEX_URL" => Some("https://pip.example/simple/".to_string()),
            other => environment(other),
        };
        assert_eq!(configured_index(None, with_pip).unwrap().origin, "PIP_INDEX_URL");
        assert_eq!(
            configured_index(Some("http://127.0.0.1:1/simple/"), with_pip),
            Some(ConfiguredIndex {
                url: "http://127.0.0.1:1/simple/".into(),
                origin: "--index-url"
            })
        );
        let empty = |_: &str| Some(" ".to_string());
        assert_eq!(configured_index(Some(""), empty), None);
    }

    #[test]
    fn project_pages_are_under_the_normalised_name() {
        let client =
            IndexClient::new(HttpClient::new().unwrap(), "https://mirror.example/pypi/simple").unwrap();
        assert_eq!(client.url().as_str(), "https://mirror.example/pypi/simple/");
        assert_eq!(
            client.project_url("Zope.Sub_Pkg").unwrap().as_str(),
            "https://mirror.example/pypi/simple/zope-sub-pkg/"
        );
        let local = parse_index_url("/srv/index/simple").unwrap();
        assert_eq!(local.as_str(), "file:///srv/index/simple/");
        let error = parse_index_url("ftp://mirror.example/simple/").unwrap_err();
        assert_eq!(
            error.to_string(),
            "the index URL `ftp://mirror.example/simple/` is invalid: the scheme `ftp` is not http, https or file"
        );
    }
}
