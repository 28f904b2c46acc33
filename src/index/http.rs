//! Fetching over HTTP(S) and from `file://` URLs, for index pages and downloads: one ureq
//! agent (rustls; `HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY` and `NO_PROXY` from the
//! environment; `SSL_CERT_FILE` replacing the built-in roots), transient failures retried
//! with a short backoff, downloads streamed to a temporary file with their sha256 computed
//! on the way.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::Digest as _;
use url::Url;

/// A fetch that failed.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{url} answered HTTP {status}{}", retried(*attempts))]
    Status { url: String, status: u16, attempts: u32 },
    #[error("{url} does not exist{}", if *http { " (HTTP 404)" } else { "" })]
    NotFound { url: String, http: bool },
    #[error("could not fetch {url}: {message}{}", retried(*attempts))]
    Network {
        url: String,
        message: String,
        attempts: u32,
    },
    #[error("{url} is neither an http(s) nor a file URL")]
    Scheme { url: String },
    #[error("reading {url}: {source}")]
    File {
        url: String,
        #[source]
        source: std::io::Error,
    },
    #[error("writing the download of {url} to {}: {source}", directory.display())]
    Write {
        url: String,
        directory: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("SSL_CERT_FILE={}: {reason}", path.display())]
    Certificates { path: PathBuf, reason: String },
}

fn retried(attempts: u32) -> String {
    if attempts > 1 {
        format!(" (after {attempts} attempts)")
    } else {
        String::new()
    }
}

impl HttpError {
    /// Whether trying again may help: the network, or a server error.
    fn is_transient(&self) -> bool {
        match self {
            HttpError::Network { .. } => true,
            HttpError::Status { status, .. } => *status >= 500 || *status == 429 || *status == 408,
            _ => false,
        }
    }

    fn with_attempts(mut self, count: u32) -> Self {
        if let HttpError::Network { attempts, .. } | HttpError::Status { attempts, .. } = &mut self {
            *attempts = count;
        }
        self
    }
}

/// A text page and where it was finally served from (after redirects).
#[derive(Debug, Clone)]
pub struct Page {
    pub url: Url,
    pub content_type: Option<String>,
    pub body: String,
}

/// A response's status judged: 2xx is fine, 404 and 410 [`HttpError::NotFound`], any other
/// [`HttpError::Status`].
fn judge(url: &Url, status: u16) -> Result<(), HttpError> {
    match status {
        200..=299 => Ok(()),
        404 | 410 => Err(HttpError::NotFound {
            url: redacted(url),
            http: true,
        }),
        status => Err(HttpError::Status {
            url: redacted(url),
            status,
            attempts: 1,
        }),
    }
}

/// How long a kept page is served without asking when the server says nothing: what PyPI
/// declares for its simple pages (`Cache-Control: max-age=600`).
pub const PAGE_FRESH_FOR: Duration = Duration::from_secs(600);

/// A response header as text.
fn header_of(response: &ureq::http::Response<ureq::Body>, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(str::to_string)
}

/// A page's response read: where it was finally served from (after redirects), its content
/// type, and its text (at most [`PAGE_LIMIT`] bytes).
fn read_page(url: &Url, response: &mut ureq::http::Response<ureq::Body>) -> Result<Page, HttpError> {
    use ureq::ResponseExt as _;
    let final_url = Url::parse(&response.get_uri().to_string()).unwrap_or_else(|_| url.clone());
    let content_type = header_of(response, "content-type");
    let body = response
        .body_mut()
        .with_config()
        .limit(PAGE_LIMIT)
        .read_to_string()
        .map_err(|error| network(url, &error))?;
    Ok(Page {
        url: final_url,
        content_type,
        body,
    })
}

/// The freshness a `Cache-Control` header gives, in seconds (`no-cache`: none).
fn freshness(cache_control: Option<&str>) -> Option<u64> {
    let value = cache_control?.to_ascii_lowercase();
    if value.contains("no-cache") {
        return Some(0);
    }
    value
        .split(',')
        .find_map(|directive| directive.trim().strip_prefix("max-age="))
        .and_then(|seconds| seconds.trim().parse().ok())
}

/// A page kept by [`HttpClient::get_text_cached`], with the validators to ask again with.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct CachedPage {
    /// The URL asked for (a hash collision or a moved file is not served).
    asked: String,
    /// Where it was served from after redirects.
    url: String,
    content_type: Option<String>,
    etag: Option<String>,
    last_modified: Option<String>,
    /// When it was fetched or last confirmed (seconds since the epoch), and for how long it is
    /// fresh from then.
    fetched: u64,
    max_age: u64,
    body: String,
}

impl CachedPage {
    fn page(&self, asked: &Url) -> Page {
        Page {
            url: Url::parse(&self.url).unwrap_or_else(|_| asked.clone()),
            content_type: self.content_type.clone(),
            body: self.body.clone(),
        }
    }
}

/// Writes a cache entry atomically (a temporary file in the cache, renamed).
fn write_cached_page(cache: &Path, path: &Path, entry: &CachedPage) -> std::io::Result<()> {
    use std::io::Write as _;
    fs_err::create_dir_all(cache)?;
    let mut temporary = tempfile::Builder::new().prefix(".page-").tempfile_in(cache)?;
    temporary.write_all(&serde_json::to_vec(entry).map_err(std::io::Error::other)?)?;
    temporary.persist(path).map_err(|error| error.error)?;
    Ok(())
}

/// A file downloaded into a temporary file (removed unless persisted).
#[derive(Debug)]
pub struct Download {
    pub file: tempfile::NamedTempFile,
    /// Lowercase hex.
    pub sha256: String,
    pub size: u64,
}

/// How long a host's addresses are kept: long enough for a plan, short enough for a night.
const RESOLVED_FOR: Duration = Duration::from_secs(300);

/// Host names resolved once for all connections: the system resolver asked for one host by
/// sixteen threads at once stalls some of them for its whole retry time (5 s measured here,
/// one UDP answer lost), and a plan opens its connections all at once. Concurrent lookups of
/// one host wait for the first; failures are not kept.
#[derive(Debug, Default)]
struct CachingResolver {
    inner: ureq::unversioned::resolver::DefaultResolver,
    #[allow(clippy::type_complexity)]
    hosts: Mutex<
        HashMap<String, Arc<Mutex<Option<(Instant, ureq::unversioned::resolver::ResolvedSocketAddrs)>>>>,
    >,
}

impl ureq::unversioned::resolver::Resolver for CachingResolver {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &ureq::config::Config,
        timeout: ureq::unversioned::transport::NextTimeout,
    ) -> Result<ureq::unversioned::resolver::ResolvedSocketAddrs, ureq::Error> {
        let key = uri
            .authority()
            .map(|authority| format!("{}|{authority}", uri.scheme_str().unwrap_or_default()));
        let Some(key) = key else {
            return self.inner.resolve(uri, config, timeout);
        };
        let slot = Arc::clone(
            self.hosts
                .lock()
                .unwrap_or_else(|poison| poison.into_inner())
                .entry(key)
                .or_default(),
        );
        // Held while resolving: the other threads asking for this host wait for the answer.
        let mut slot = slot.lock().unwrap_or_else(|poison| poison.into_inner());
        if let Some((when, addresses)) = slot.as_ref()
            && when.elapsed() < RESOLVED_FOR
        {
            return Ok(addresses.clone());
        }
        let addresses = self.inner.resolve(uri, config, timeout)?;
        *slot = Some((Instant::now(), addresses.clone()));
        Ok(addresses)
    }
}

/// The HTTP client: cheap to clone, one connection pool.
#[derive(Debug, Clone)]
pub struct HttpClient {
    agent: ureq::Agent,
    attempts: u32,
    backoff: Duration,
}

/// Pages larger than this are refused (PyPI's largest project pages are a few MB).
const PAGE_LIMIT: u64 = 256 << 20;

impl HttpClient {
    /// The process's client, with the proxies and certificates the environment names: one
    /// connection pool for every caller, so that hundreds of pages fetched from a few threads
    /// reuse their connections (no DNS lookup and TLS handshake per page).
    pub fn new() -> Result<Self, HttpError> {
        static SHARED: std::sync::OnceLock<HttpClient> = std::sync::OnceLock::new();
        if let Some(client) = SHARED.get() {
            return Ok(client.clone());
        }
        let client = Self::with_proxy(ureq::Proxy::try_from_env())?;
        Ok(SHARED.get_or_init(|| client).clone())
    }

    /// A client through `proxy` (or none), with the certificates the environment names.
    fn with_proxy(proxy: Option<ureq::Proxy>) -> Result<Self, HttpError> {
        let mut config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .user_agent(concat!("wheelwright/", env!("CARGO_PKG_VERSION")))
            .timeout_connect(Some(Duration::from_secs(30)))
            .timeout_per_read(Some(Duration::from_secs(120)))
            // As many idle connections to one index as threads plan at once.
            .max_idle_connections(64)
            .max_idle_connections_per_host(16)
            .proxy(proxy);
        if let Some(path) = std::env::var_os("SSL_CERT_FILE").filter(|path| !path.is_empty()) {
            config = config.tls_config(tls_with_roots(Path::new(&path))?);
        }
        let resolver = CachingResolver::default();
        Ok(HttpClient {
            agent: ureq::Agent::with_parts(
                config.build(),
                ureq::unversioned::transport::DefaultConnector::default(),
                resolver,
            ),
            attempts: 3,
            backoff: Duration::from_millis(500),
        })
    }

    /// Runs `once` until it succeeds, fails for good, or the attempts are spent.
    fn retry<T>(&self, url: &Url, mut once: impl FnMut() -> Result<T, HttpError>) -> Result<T, HttpError> {
        let mut attempt = 1;
        loop {
            match once() {
                Err(error) if error.is_transient() && attempt < self.attempts => {
                    tracing::warn!("{error}; trying {} again", redacted(url));
                    std::thread::sleep(self.backoff * attempt);
                    attempt += 1;
                }
                Err(error) => return Err(error.with_attempts(attempt)),
                Ok(value) => return Ok(value),
            }
        }
    }

    /// Sends a GET and judges the status: 2xx is the response, 404 [`HttpError::NotFound`].
    fn get(&self, url: &Url, accept: &str) -> Result<ureq::http::Response<ureq::Body>, HttpError> {
        let response = self
            .agent
            .get(url.as_str())
            .header("Accept", accept)
            .call()
            .map_err(|error| network(url, &error))?;
        judge(url, response.status().as_u16())?;
        Ok(response)
    }

    /// Fetches a text page. A `file://` URL of a directory reads its `index.json` (else its
    /// `index.html`), as `wheelwright index` writes them.
    pub fn get_text(&self, url: &Url, accept: &str) -> Result<Page, HttpError> {
        match url.scheme() {
            "http" | "https" => self.retry(url, || read_page(url, &mut self.get(url, accept)?)),
            "file" => {
                let path = local_path(url)?;
                let path = if path.is_dir() {
                    ["index.json", "index.html"]
                        .iter()
                        .map(|name| path.join(name))
                        .find(|candidate| candidate.is_file())
                        .ok_or_else(|| HttpError::NotFound {
                            url: redacted(url),
                            http: false,
                        })?
                } else {
                    path
                };
                let body = fs_err::read_to_string(&path).map_err(|source| local_file_error(url, source))?;
                Ok(Page {
                    url: url.clone(),
                    content_type: None,
                    body,
                })
            }
            _ => Err(HttpError::Scheme { url: redacted(url) }),
        }
    }

    /// Fetches a text page as [`HttpClient::get_text`] does, keeping it in `cache` (a
    /// directory). A page younger than its freshness — the server's `Cache-Control: max-age`,
    /// else [`PAGE_FRESH_FOR`] (what PyPI declares for its simple pages) — is served from the
    /// cache without asking; an older one is asked for again with the validators the server
    /// sent (`If-None-Match` / `If-Modified-Since`), and a `304 Not Modified` is served from
    /// the cache. `no-store` pages are not kept. A cache entry that cannot be read is ignored;
    /// one that cannot be written is only logged.
    pub fn get_text_cached(&self, url: &Url, accept: &str, cache: &Path) -> Result<Page, HttpError> {
        if !matches!(url.scheme(), "http" | "https") {
            return self.get_text(url, accept);
        }
        use sha2::Digest as _;
        let key: String = sha2::Sha256::digest(format!("{accept}\n{url}").as_bytes())
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        let entry_path = cache.join(format!("{key}.json"));
        let cached: Option<CachedPage> = fs_err::read(&entry_path)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .filter(|entry: &CachedPage| entry.asked == url.as_str());
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_secs());
        if let Some(entry) = &cached
            && now.saturating_sub(entry.fetched) < entry.max_age
        {
            tracing::debug!(
                "{}: {} s old, fresh: from the cache",
                redacted(url),
                now - entry.fetched
            );
            return Ok(entry.page(url));
        }
        self.retry(url, || {
            let mut request = self.agent.get(url.as_str()).header("Accept", accept);
            if let Some(entry) = &cached {
                if let Some(etag) = &entry.etag {
                    request = request.header("If-None-Match", etag);
                }
                if let Some(modified) = &entry.last_modified {
                    request = request.header("If-Modified-Since", modified);
                }
            }
            let mut response = request.call().map_err(|error| network(url, &error))?;
            let status = response.status().as_u16();
            if status == 304
                && let Some(entry) = &cached
            {
                tracing::debug!("{}: not modified, from the cache", redacted(url));
                // Fresh again for as long as the answer says.
                let renewed = CachedPage {
                    fetched: now,
                    max_age: freshness(header_of(&response, "cache-control").as_deref())
                        .unwrap_or(entry.max_age),
                    ..entry.clone()
                };
                if let Err(error) = write_cached_page(cache, &entry_path, &renewed) {
                    tracing::info!("the page cache {}: {error}", cache.display());
                }
                return Ok(entry.page(url));
            }
            judge(url, status)?;
            let (etag, last_modified) = (
                header_of(&response, "etag"),
                header_of(&response, "last-modified"),
            );
            let cache_control = header_of(&response, "cache-control");
            let page = read_page(url, &mut response)?;
            let keep = !cache_control
                .as_deref()
                .is_some_and(|value| value.to_ascii_lowercase().contains("no-store"));
            if keep {
                let entry = CachedPage {
                    asked: url.to_string(),
                    url: page.url.to_string(),
                    content_type: page.content_type.clone(),
                    etag,
                    last_modified,
                    fetched: now,
                    max_age: freshness(cache_control.as_deref()).unwrap_or(PAGE_FRESH_FOR.as_secs()),
                    body: page.body.clone(),
                };
                if let Err(error) = write_cached_page(cache, &entry_path, &entry) {
                    tracing::info!("the page cache {}: {error}", cache.display());
                }
            }
            Ok(page)
        })
    }

    /// Downloads `url` into a temporary file in `directory`, hashing while writing.
    pub fn download(&self, url: &Url, directory: &Path) -> Result<Download, HttpError> {
        let write_error = |source: std::io::Error| HttpError::Write {
            url: redacted(url),
            directory: directory.to_path_buf(),
            source,
        };
        match url.scheme() {
            "http" | "https" => self.retry(url, || {
                let mut response = self.get(url, "*/*")?;
                let mut reader = response.body_mut().as_reader();
                copy_hashing(&mut reader, directory, write_error).map_err(|failure| match failure {
                    CopyFailure::Read(error) => HttpError::Network {
                        url: redacted(url),
                        message: error.to_string(),
                        attempts: 1,
                    },
                    CopyFailure::Write(error) => error,
                })
            }),
            "file" => {
                let path = local_path(url)?;
                let mut file = fs_err::File::open(&path).map_err(|source| local_file_error(url, source))?;
                copy_hashing(&mut file, directory, write_error).map_err(|failure| match failure {
                    CopyFailure::Read(source) => HttpError::File {
                        url: redacted(url),
                        source,
                    },
                    CopyFailure::Write(error) => error,
                })
            }
            _ => Err(HttpError::Scheme { url: redacted(url) }),
        }
    }
}

/// Why a copy stopped: the source (maybe worth a retry) or the destination.
enum CopyFailure {
    Read(std::io::Error),
    Write(HttpError),
}

/// Copies `reader` into a new temporary file in `directory`, hashing on the way.
fn copy_hashing(
    reader: &mut dyn std::io::Read,
    directory: &Path,
    write_error: impl Fn(std::io::Error) -> HttpError,
) -> Result<Download, CopyFailure> {
    let mut file = tempfile::Builder::new()
        .prefix(".download-")
        .tempfile_in(directory)
        .map_err(|error| CopyFailure::Write(write_error(error)))?;
    let mut hasher = sha2::Sha256::new();
    let mut buffer = vec![0u8; 1 << 17];
    let mut size = 0u64;
    loop {
        let read = match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => read,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(CopyFailure::Read(error)),
        };
        hasher.update(&buffer[..read]);
        file.write_all(&buffer[..read])
            .map_err(|error| CopyFailure::Write(write_error(error)))?;
        size += read as u64;
    }
    file.as_file()
        .sync_all()
        .map_err(|error| CopyFailure::Write(write_error(error)))?;
    Ok(Download {
        file,
        sha256: hasher
            .finalize()
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect(),
        size,
    })
}

/// A URL for messages and logs: its password, if any, replaced by `****`.
pub fn redacted(url: &Url) -> String {
    if url.password().is_some() {
        let mut shown = url.clone();
        let _ = shown.set_password(Some("****"));
        shown.to_string()
    } else {
        url.to_string()
    }
}

/// The error of reading a `file://` URL's file: missing (as a 404 would be), or unreadable.
fn local_file_error(url: &Url, source: std::io::Error) -> HttpError {
    if source.kind() == std::io::ErrorKind::NotFound {
        HttpError::NotFound {
            url: redacted(url),
            http: false,
        }
    } else {
        HttpError::File {
            url: redacted(url),
            source,
        }
    }
}

/// The local path of a `file://` URL.
fn local_path(url: &Url) -> Result<PathBuf, HttpError> {
    url.to_file_path().map_err(|()| HttpError::File {
        url: redacted(url),
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a local path"),
    })
}

/// A ureq failure as a network error.
fn network(url: &Url, error: &ureq::Error) -> HttpError {
    HttpError::Network {
        url: redacted(url),
        message: error.to_string(),
        attempts: 1,
    }
}

/// TLS trusting exactly the certificates of a PEM file (as pip and uv treat `SSL_CERT_FILE`).
fn tls_with_roots(path: &Path) -> Result<ureq::tls::TlsConfig, HttpError> {
    let pem = fs_err::read(path).map_err(|error| HttpError::Certificates {
        path: path.to_path_buf(),
        reason: error.to_string(),
    })?;
    let certificates: Vec<ureq::tls::Certificate<'static>> = ureq::tls::parse_pem(&pem)
        .filter_map(|item| match item {
            Ok(ureq::tls::PemItem::Certificate(certificate)) => Some(certificate),
            _ => None,
        })
        .collect();
    if certificates.is_empty() {
        return Err(HttpError::Certificates {
            path: path.to_path_buf(),
            reason: "no PEM certificate in it".to_string(),
        });
    }
    Ok(ureq::tls::TlsConfig::builder()
        .root_certs(ureq::tls::RootCerts::new_with_certs(&certificates))
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_urls_read_pages_and_download_with_a_hash() {
        let directory = tempfile::tempdir().unwrap();
        let project = directory.path().join("simple/demo");
        fs_err::create_dir_all(&project).unwrap();
        fs_err::write(project.join("index.html"), "<a href=\"x\">x</a>").unwrap();
        let client = HttpClient::new().unwrap();
        let url = Url::from_directory_path(&project).unwrap();
        let page = client.get_text(&url, "*/*").unwrap();
        assert_eq!(page.body, "<a href=\"x\">x</a>");
        // index.json wins over index.html.
        fs_err::write(project.join("index.json"), "{}").unwrap();
        assert_eq!(client.get_text(&url, "*/*").unwrap().body, "{}");
        let missing = Url::from_directory_path(directory.path().join("simple/other")).unwrap();
        assert!(matches!(
            client.get_text(&missing, "*/*"),
            Err(HttpError::NotFound { http: false, .. })
        ));

        let file = Url::from_file_path(project.join("index.json")).unwrap();
        let download = client.download(&file, directory.path()).unwrap();
        assert_eq!(
            download.sha256,
            "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        assert_eq!(download.size, 2);
        assert_eq!(download.file.path().parent(), Some(directory.path()));
        let error = HttpClient::new()
            .unwrap()
            .download(&Url::parse("ftp://host/x").unwrap(), directory.path())
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "ftp://host/x is neither an http(s) nor a file URL"
        );
    }

    /// A server on 127.0.0.1 that answers its connections in turn with `answers` (raw HTTP;
    /// an empty answer closes the connection unanswered) and returns every request's head
    /// (request line and headers).
    fn serve(answers: Vec<&'static str>) -> (Url, std::thread::JoinHandle<Vec<String>>) {
        use std::io::{BufRead as _, BufReader};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = Url::parse(&format!("http://{}/simple/demo/", listener.local_addr().unwrap())).unwrap();
        let server = std::thread::spawn(move || {
            let mut heads = Vec::new();
            for answer in answers {
                let (mut stream, _) = listener.accept().unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut head = String::new();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
                        break;
                    }
                    head.push_str(&line);
                }
                heads.push(head);
                stream.write_all(answer.as_bytes()).unwrap();
            }
            heads
        });
        (url, server)
    }

    #[test]
    fn a_page_is_asked_for_again_with_its_validators_and_a_304_is_served_from_the_cache() {
        let cache = tempfile::tempdir().unwrap();
        let client = HttpClient::with_proxy(None).unwrap();
        let (url, server) = serve(vec![
            "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nETag: \"v1\"\r\nLast-Modified: Sun, 06 Dec 2026 20:00:00 GMT\r\nCache-Control: max-age=0\r\nContent-Length: 5\r\nConnection: close\r\n\r\nfirst",
            "HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nCache-Control: max-age=0\r\nConnection: close\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nETag: \"v2\"\r\nContent-Length: 6\r\nConnection: close\r\n\r\nsecond",
        ]);
        let first = client.get_text_cached(&url, "text/html", cache.path()).unwrap();
        assert_eq!(first.body, "first");
        let again = client.get_text_cached(&url, "text/html", cache.path()).unwrap();
        assert_eq!(again.body, "first", "a 304 is answered from the cache");
        assert_eq!(again.content_type.as_deref(), Some("text/html"));
        let changed = client.get_text_cached(&url, "text/html", cache.path()).unwrap();
        assert_eq!(changed.body, "second", "a changed page replaces the kept one");
        let heads = server.join().unwrap();
        assert!(!heads[0].to_lowercase().contains("if-none-match"), "{}", heads[0]);
        let second = heads[1].to_lowercase();
        assert!(second.contains("if-none-match: \"v1\""), "{second}");
        assert!(
            second.contains("if-modified-since: sun, 06 dec 2026 20:00:00 gmt"),
            "{second}"
        );
        assert!(
            heads[2].to_lowercase().contains("if-none-match: \"v1\""),
            "{}",
            heads[2]
        );

        // A fresh page (the server's max-age, or PyPI's 600 s when it says nothing) is served
        // without asking: the server sees one request for two fetches.
        let other = tempfile::tempdir().unwrap();
        let (url, server) = serve(vec![
            "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 4\r\nConnection: close\r\n\r\nkept",
        ]);
        assert_eq!(
            client
                .get_text_cached(&url, "text/html", other.path())
                .unwrap()
                .body,
            "kept"
        );
        assert_eq!(
            client
                .get_text_cached(&url, "text/html", other.path())
                .unwrap()
                .body,
            "kept"
        );
        assert_eq!(server.join().unwrap().len(), 1);
        assert_eq!(freshness(Some("public, max-age=600")), Some(600));
        assert_eq!(freshness(Some("no-cache")), Some(0));
        assert_eq!(freshness(None), None);
    }

    #[test]
    fn transient_failures_are_retried_and_a_404_is_not() {
        let mut client = HttpClient::with_proxy(None).unwrap();
        client.backoff = Duration::from_millis(10);
        let (url, server) = serve(vec![
            "",
            "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
        ]);
        let page = client.get_text(&url, "text/html").unwrap();
        assert_eq!(page.body, "ok");
        assert_eq!(page.content_type.as_deref(), Some("text/html"));
        let request_lines: Vec<String> = server
            .join()
            .unwrap()
            .iter()
            .map(|head| head.lines().next().unwrap_or_default().to_string())
            .collect();
        assert_eq!(request_lines, vec!["GET /simple/demo/ HTTP/1.1"; 3]);

        let (url, server) = serve(vec![
            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        ]);
        let error = client.get_text(&url, "text/html").unwrap_err();
        assert_eq!(error.to_string(), format!("{url} does not exist (HTTP 404)"));
        assert_eq!(server.join().unwrap().len(), 1, "asked once");

        let (url, _server) = serve(vec![
            "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
            3
        ]);
        let error = client.download(&url, &std::env::temp_dir()).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!("{url} answered HTTP 500 (after 3 attempts)")
        );
    }

    #[test]
    fn passwords_are_not_shown() {
        let url = Url::parse("https://user:secret@mirror.example/simple/").unwrap();
        assert_eq!(redacted(&url), "https://user:****@mirror.example/simple/");
        let url = Url::parse("https://mirror.example/simple/").unwrap();
        assert_eq!(redacted(&url), "https://mirror.example/simple/");
    }

    #[test]
    fn server_errors_are_transient_client_errors_are_not() {
        let status = |status| HttpError::Status {
            url: "u".into(),
            status,
            attempts: 1,
        };
        assert!(status(503).is_transient());
        assert!(status(429).is_transient());
        assert!(!status(403).is_transient());
        assert!(
            !HttpError::NotFound {
                url: "u".into(),
                http: true
            }
            .is_transient()
        );
        assert_eq!(
            status(502).with_attempts(3).to_string(),
            "u answered HTTP 502 (after 3 attempts)"
        );
    }
}
