//! A project page of a simple repository, parsed into the files it lists: PEP 691 JSON or
//! PEP 503 HTML (with the PEP 592 yank, PEP 658/714 metadata and `Requires-Python`
//! attributes). Pure code on the page's text and URL: the client fetches, this reads.

use std::collections::BTreeMap;

use url::Url;

/// The media types a client asks a simple repository for, JSON first (PEP 691).
pub const ACCEPT: &str =
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01";

/// How a page is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageFormat {
    /// PEP 691 JSON.
    Json,
    /// PEP 503 HTML.
    Html,
}

impl PageFormat {
    /// The format a `Content-Type` names; without one (a file), the text decides.
    pub fn detect(content_type: Option<&str>, body: &str) -> PageFormat {
        let media_type = content_type
            .and_then(|value| value.split(';').next())
            .map(|value| value.trim().to_ascii_lowercase());
        match media_type.as_deref() {
            Some(media) if media.ends_with("json") => PageFormat::Json,
            Some(media) if media.contains("html") => PageFormat::Html,
            _ if body.trim_start().starts_with('{') => PageFormat::Json,
            _ => PageFormat::Html,
        }
    }
}

impl std::fmt::Display for PageFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PageFormat::Json => "PEP 691 JSON",
            PageFormat::Html => "PEP 503 HTML",
        })
    }
}

/// Whether a metadata file (`<file>.metadata`, PEP 658/714) is served beside a file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CoreMetadata {
    #[default]
    Absent,
    Available {
        /// Hex sha256 of the metadata file, when the page gives it.
        sha256: Option<String>,
    },
}

/// One file a project page lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectFile {
    /// The file name (the last segment of its URL, percent-decoded).
    pub filename: String,
    /// Absolute, without the hash fragment.
    pub url: Url,
    /// Lowercase hex sha256, when the page gives one.
    pub sha256: Option<String>,
    /// The `Requires-Python` specifiers, as written (HTML-unescaped).
    pub requires_python: Option<String>,
    /// `Some(reason)` when the file is yanked (PEP 592); the reason may be empty.
    pub yanked: Option<String>,
    pub core_metadata: CoreMetadata,
    /// The size in bytes, when the page gives it (PEP 700).
    pub size: Option<u64>,
    /// When it was uploaded, as the page writes it (PEP 700 `upload-time`, ISO 8601 UTC).
    pub upload_time: Option<String>,
}

/// A page that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the project page {url} is not valid {format}: {reason}")]
pub struct PageError {
    pub url: String,
    pub format: PageFormat,
    pub reason: String,
}

/// Parses a project page in the given format; relative URLs are resolved against `page_url`
/// (the URL the page was finally served from).
pub fn parse_project_page(
    body: &str,
    format: PageFormat,
    page_url: &Url,
) -> Result<Vec<ProjectFile>, PageError> {
    match format {
        PageFormat::Json => parse_json_page(body, page_url),
        PageFormat::Html => parse_html_page(body, page_url),
    }
}

/// A PEP 691 page as written.
#[derive(Debug, serde::Deserialize)]
struct RawJsonPage {
    #[serde(default)]
    meta: Option<RawMeta>,
    files: Vec<RawJsonFile>,
}

#[derive(Debug, serde::Deserialize)]
struct RawMeta {
    #[serde(rename = "api-version")]
    api_version: Option<String>,
}

#[derive(Debug, serde::Deserialize)]
struct RawJsonFile {
    filename: String,
    url: String,
    #[serde(default)]
    hashes: BTreeMap<String, String>,
    #[serde(default, rename = "requires-python")]
    requires_python: Option<String>,
    #[serde(default)]
    yanked: Option<FlagOrText>,
    #[serde(default, rename = "core-metadata")]
    core_metadata: Option<FlagOrHashes>,
    #[serde(default, rename = "dist-info-metadata")]
    dist_info_metadata: Option<FlagOrHashes>,
    #[serde(default)]
    size: Option<u64>,
    #[serde(default, rename = "upload-time")]
    upload_time: Option<String>,
}

/// PEP 691 `yanked`: a boolean, or a string that is the reason (and means yanked).
#[derive(Debug, serde::Deserialize)]
#[serde(untagged)]
enum FlagOrText {
    Flag(bool),
    Text(String),
}

/// PEP 714 `core-metadata`: a boolean, or the metadata file's hashes.
#[derive(Debug, serde::Deserialize)]
#[serde(untagged)]
enum FlagOrHashes {
    Flag(bool),
    Hashes(BTreeMap<String, String>),
}

impl FlagOrHashes {
    fn resolve(&self) -> CoreMetadata {
        match self {
            FlagOrHashes::Flag(false) => CoreMetadata::Absent,
            FlagOrHashes::Flag(true) => CoreMetadata::Available { sha256: None },
            FlagOrHashes::Hashes(hashes) => CoreMetadata::Available {
                sha256: hashes.get("sha256").map(|hash| hash.to_ascii_lowercase()),
            },
        }
    }
}

/// Parses a PEP 691 JSON project page.
pub fn parse_json_page(body: &str, page_url: &Url) -> Result<Vec<ProjectFile>, PageError> {
    let error = |reason: String| PageError {
        url: super::http::redacted(page_url),
        format: PageFormat::Json,
        reason,
    };
    let raw: RawJsonPage = serde_json::from_str(body).map_err(|e| error(e.to_string()))?;
    if let Some(version) = raw.meta.as_ref().and_then(|meta| meta.api_version.as_deref())
        && version.split('.').next() != Some("1")
    {
        return Err(error(format!(
            "API version `{version}` (this client reads version 1.x)"
        )));
    }
    let mut files = Vec::with_capacity(raw.files.len());
    for file in raw.files {
        let url = page_url
            .join(&file.url)
            .map_err(|e| error(format!("the URL `{}` of `{}`: {e}", file.url, file.filename)))?;
        let (url, _) = split_fragment(url);
        files.push(ProjectFile {
            filename: file.filename,
            url,
            sha256: file.hashes.get("sha256").map(|hash| hash.to_ascii_lowercase()),
            requires_python: file.requires_python.filter(|text| !text.trim().is_empty()),
            yanked: match file.yanked {
                None | Some(FlagOrText::Flag(false)) => None,
                Some(FlagOrText::Flag(true)) => Some(String::new()),
                Some(FlagOrText::Text(reason)) => Some(reason),
            },
            core_metadata: file
                .core_metadata
                .or(file.dist_info_metadata)
                .map(|value| value.resolve())
                .unwrap_or_default(),
            size: file.size,
            upload_time: file.upload_time,
        });
    }
    Ok(files)
}

/// Parses a PEP 503 HTML project page: every anchor is a file; a `<base href>` changes what
/// relative links are relative to.
pub fn parse_html_page(body: &str, page_url: &Url) -> Result<Vec<ProjectFile>, PageError> {
    let error = |reason: String| PageError {
        url: super::http::redacted(page_url),
        format: PageFormat::Html,
        reason,
    };
    let tags = html_tags(body);
    let base = tags
        .iter()
        .find(|tag| tag.name == "base")
        .and_then(|tag| tag.attribute("href"))
        .and_then(|href| page_url.join(href).ok())
        .unwrap_or_else(|| page_url.clone());
    let mut files = Vec::new();
    for tag in tags.iter().filter(|tag| tag.name == "a") {
        let Some(href) = tag.attribute("href") else {
            continue;
        };
        let url = base
            .join(href)
            .map_err(|e| error(format!("the link `{href}`: {e}")))?;
        let (url, fragment) = split_fragment(url);
        let filename = file_name_of(&url)
            .or_else(|| Some(tag.text.trim().to_string()).filter(|text| !text.is_empty()))
            .ok_or_else(|| error(format!("the link `{href}` names no file")))?;
        let sha256 = fragment.and_then(|fragment| {
            fragment
                .strip_prefix("sha256=")
                .map(|hash| hash.to_ascii_lowercase())
        });
        let metadata = tag
            .attribute("data-core-metadata")
            .or_else(|| tag.attribute("data-dist-info-metadata"));
        let core_metadata = match metadata {
            None => CoreMetadata::Absent,
            Some(value) if value.eq_ignore_ascii_case("false") => CoreMetadata::Absent,
            Some(value) => CoreMetadata::Available {
                sha256: value
                    .strip_prefix("sha256=")
                    .map(|hash| hash.to_ascii_lowercase()),
            },
        };
        files.push(ProjectFile {
            filename,
            url,
            sha256,
            requires_python: tag
                .attribute("data-requires-python")
                .map(str::to_string)
                .filter(|text| !text.trim().is_empty()),
            yanked: tag.attribute("data-yanked").map(str::to_string),
            core_metadata,
            size: None,
            upload_time: None,
        });
    }
    Ok(files)
}

/// The URL without its fragment, and the fragment.
fn split_fragment(mut url: Url) -> (Url, Option<String>) {
    let fragment = url.fragment().map(str::to_string);
    url.set_fragment(None);
    (url, fragment)
}

/// The last path segment of a URL, percent-decoded.
pub fn file_name_of(url: &Url) -> Option<String> {
    let segment = url.path_segments()?.next_back()?;
    let decoded = percent_encoding::percent_decode_str(segment)
        .decode_utf8_lossy()
        .into_owned();
    Some(decoded).filter(|name| !name.is_empty())
}

/// A start tag of interest (`a`, `base`) with its attributes (names lowercased, values
/// unescaped) and, for an anchor, its text.
#[derive(Debug, Clone, PartialEq, Eq)]
struct HtmlTag {
    name: String,
    attributes: Vec<(String, String)>,
    text: String,
}

impl HtmlTag {
    fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// The `<a>` and `<base>` start tags of a page, in order. A small tokenizer that knows
/// quoted and unquoted attribute values, attributes without a value, comments and case: what
/// simple index pages use, not a general HTML parser.
fn html_tags(html: &str) -> Vec<HtmlTag> {
    let mut tags = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        rest = &rest[start + 1..];
        if let Some(comment) = rest.strip_prefix("!--") {
            rest = comment.find("-->").map_or("", |end| &comment[end + 3..]);
            continue;
        }
        let name_length = rest
            .find(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(rest.len());
        let name = rest[..name_length].to_ascii_lowercase();
        rest = &rest[name_length..];
        if name != "a" && name != "base" {
            continue;
        }
        let (attributes, after) = html_attributes(rest);
        rest = after;
        let mut text = String::new();
        if name == "a" {
            let end = find_ignore_case(rest, "</a").unwrap_or(rest.len());
            text = html_unescape(&strip_tags(&rest[..end]));
            rest = &rest[end..];
        }
        tags.push(HtmlTag {
            name,
            attributes,
            text,
        });
    }
    tags
}

/// The attributes of a start tag from just after its name, and the text after its `>`.
fn html_attributes(mut rest: &str) -> (Vec<(String, String)>, &str) {
    let mut attributes = Vec::new();
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            return (attributes, rest);
        }
        if let Some(after) = rest.strip_prefix('>') {
            return (attributes, after);
        }
        if let Some(after) = rest.strip_prefix('/') {
            rest = after;
            continue;
        }
        let name_length = rest
            .find(|c: char| c.is_whitespace() || matches!(c, '=' | '>' | '/'))
            .unwrap_or(rest.len());
        let name = rest[..name_length].to_ascii_lowercase();
        rest = rest[name_length..].trim_start();
        let mut value = String::new();
        if let Some(after) = rest.strip_prefix('=') {
            rest = after.trim_start();
            let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'');
            if let Some(quote) = quote {
                let inner = &rest[1..];
                let end = inner.find(quote).unwrap_or(inner.len());
                value = html_unescape(&inner[..end]);
                rest = inner.get(end + 1..).unwrap_or("");
            } else {
                let end = rest
                    .find(|c: char| c.is_whitespace() || c == '>')
                    .unwrap_or(rest.len());
                value = html_unescape(&rest[..end]);
                rest = &rest[end..];
            }
        }
        if !name.is_empty() {
            attributes.push((name, value));
        }
    }
}

/// Where `needle` (ASCII) first occurs in `haystack`, ignoring ASCII case.
fn find_ignore_case(haystack: &str, needle: &str) -> Option<usize> {
    haystack
        .as_bytes()
        .windows(needle.len())
        .position(|window| window.eq_ignore_ascii_case(needle.as_bytes()))
}

/// Text with any tags inside it removed (`<a><b>x</b></a>` -> `x`).
fn strip_tags(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut inside = false;
    for character in text.chars() {
        match character {
            '<' => inside = true,
            '>' if inside => inside = false,
            other if !inside => out.push(other),
            _ => {}
        }
    }
    out
}

/// Replaces HTML character references: the named ones index pages use (`&amp;`, `&lt;`,
/// `&gt;`, `&quot;`, `&apos;`, `&nbsp;`) and numeric ones; an unknown one stays as written.
pub fn html_unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('&') {
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        let end = rest[1..]
            .find(|c: char| c == ';' || c == '&' || c.is_whitespace())
            .map(|position| position + 1)
            .filter(|position| rest.as_bytes()[*position] == b';');
        let Some(end) = end else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..end];
        let replaced = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            "nbsp" => Some('\u{a0}'),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .map(|hex| u32::from_str_radix(hex, 16))
                .or_else(|| entity.strip_prefix('#').map(str::parse::<u32>))
                .and_then(Result::ok)
                .and_then(char::from_u32),
        };
        match replaced {
            Some(character) => {
                out.push(character);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wheelhouse::simple::{IndexFile, project_html, project_json};

    fn page_url() -> Url {
        Url::parse("https://mirror.example/simple/demo-pkg/").unwrap()
    }

    #[test]
    fn reads_a_pep_691_page_with_relative_urls_yanks_and_metadata() {
        let body = r#"{
          "meta": {"api-version": "1.1"},
          "name": "demo-pkg",
          "files": [
            {"filename": "demo_pkg-1.0.tar.gz", "url": "../../files/demo_pkg-1.0.tar.gz",
             "hashes": {"sha256": "ABCDEF", "md5": "00"}, "requires-python": ">=3.9",
             "core-metadata": {"sha256": "11"}, "size": 1234,
             "upload-time": "2024-05-01T12:00:00.123456Z"},
            {"filename": "demo_pkg-0.9.tar.gz", "url": "https://files.example/x/demo_pkg-0.9.tar.gz#sha256=ff",
             "hashes": {}, "yanked": "broken build", "dist-info-metadata": true},
            {"filename": "demo_pkg-0.8.tar.gz", "url": "/abs/demo_pkg-0.8.tar.gz",
             "hashes": {"sha256": "22"}, "yanked": true, "requires-python": ""},
            {"filename": "demo_pkg-0.7.tar.gz", "url": "demo_pkg-0.7.tar.gz",
             "hashes": {"sha256": "33"}, "yanked": false, "core-metadata": false}
          ]
        }"#;
        let files = parse_json_page(body, &page_url()).unwrap();
        assert_eq!(files.len(), 4);
        assert_eq!(
            files[0].url.as_str(),
            "https://mirror.example/files/demo_pkg-1.0.tar.gz"
        );
        assert_eq!(files[0].sha256.as_deref(), Some("abcdef"));
        assert_eq!(files[0].requires_python.as_deref(), Some(">=3.9"));
        assert_eq!(files[0].yanked, None);
        assert_eq!(
            files[0].core_metadata,
            CoreMetadata::Available {
                sha256: Some("11".into())
            }
        );
        assert_eq!(files[0].size, Some(1234));
        assert_eq!(
            files[0].upload_time.as_deref(),
            Some("2024-05-01T12:00:00.123456Z")
        );
        assert_eq!(files[1].upload_time, None);
        // A fragment in the URL is dropped; a reason means yanked.
        assert_eq!(
            files[1].url.as_str(),
            "https://files.example/x/demo_pkg-0.9.tar.gz"
        );
        assert_eq!(files[1].sha256, None);
        assert_eq!(files[1].yanked.as_deref(), Some("broken build"));
        assert_eq!(files[1].core_metadata, CoreMetadata::Available { sha256: None });
        assert_eq!(
            files[2].url.as_str(),
            "https://mirror.example/abs/demo_pkg-0.8.tar.gz"
        );
        assert_eq!(files[2].yanked.as_deref(), Some(""));
        assert_eq!(files[2].requires_python, None);
        assert_eq!(
            files[3].url.as_str(),
            "https://mirror.example/simple/demo-pkg/demo_pkg-0.7.tar.gz"
        );
        assert_eq!(files[3].yanked, None);
        assert_eq!(files[3].core_metadata, CoreMetadata::Absent);
    }

    #[test]
    fn a_bad_json_page_or_api_version_is_an_error_naming_the_page() {
        let error = parse_json_page("{\"files\": 3}", &page_url()).unwrap_err();
        assert!(
            error.to_string().starts_with(
                "the project page https://mirror.example/simple/demo-pkg/ is not valid PEP 691 JSON:"
            ),
            "{error}"
        );
        let error =
            parse_json_page(r#"{"meta": {"api-version": "2.0"}, "files": []}"#, &page_url()).unwrap_err();
        assert!(error.to_string().contains("API version `2.0`"), "{error}");
    }

    #[test]
    fn reads_a_pep_503_page_with_escaped_attributes() {
        let body = r#"<!DOCTYPE html>
<html><head><meta name="pypi:repository-version" content="1.1"><title>Links for demo-pkg</title></head>
<body>
<!-- <a href="commented-out-1.0.tar.gz">no</a> -->
<A HREF="../../files/demo_pkg-1.0.tar.gz#sha256=ABC123" data-requires-python="&gt;=3.9,&lt;4">demo_pkg-1.0.tar.gz</A><br/>
<a href='demo_pkg-0.9-py3-none-any.whl#md5=00' data-yanked="bad &amp; broken" data-core-metadata="sha256=44">demo_pkg-0.9-py3-none-any.whl</a>
<a data-yanked href=https://files.example/demo%2Bpkg-0.8.zip data-dist-info-metadata=true><span>demo+pkg-0.8.zip</span></a>
<a href="demo_pkg-0.7.tar.gz" data-requires-python="&#62;=3.8" data-core-metadata="false">demo_pkg-0.7.tar.gz</a>
</body></html>"#;
        let files = parse_html_page(body, &page_url()).unwrap();
        let names: Vec<&str> = files.iter().map(|file| file.filename.as_str()).collect();
        assert_eq!(
            names,
            [
                "demo_pkg-1.0.tar.gz",
                "demo_pkg-0.9-py3-none-any.whl",
                "demo+pkg-0.8.zip",
                "demo_pkg-0.7.tar.gz"
            ]
        );
        assert_eq!(
            files[0].url.as_str(),
            "https://mirror.example/files/demo_pkg-1.0.tar.gz"
        );
        assert_eq!(files[0].sha256.as_deref(), Some("abc123"));
        assert_eq!(files[0].requires_python.as_deref(), Some(">=3.9,<4"));
        assert_eq!(files[0].yanked, None);
        assert_eq!(files[1].sha256, None, "only sha256 fragments count");
        assert_eq!(files[1].yanked.as_deref(), Some("bad & broken"));
        assert_eq!(
            files[1].core_metadata,
            CoreMetadata::Available {
                sha256: Some("44".into())
            }
        );
        assert_eq!(files[2].yanked.as_deref(), Some(""));
        assert_eq!(files[2].core_metadata, CoreMetadata::Available { sha256: None });
        assert_eq!(files[3].requires_python.as_deref(), Some(">=3.8"));
        assert_eq!(files[3].core_metadata, CoreMetadata::Absent);
    }

    #[test]
    fn a_base_tag_moves_relative_links() {
        let body = "<html><head><base href=\"https://cdn.example/packages/\"></head><body><a href=\"x-1.0.tar.gz\">x-1.0.tar.gz</a></body></html>";
        let files = parse_html_page(body, &page_url()).unwrap();
        assert_eq!(files[0].url.as_str(), "https://cdn.example/packages/x-1.0.tar.gz");
    }

    #[test]
    fn pages_wheelwright_writes_read_back() {
        let files = vec![IndexFile {
            file_name: "demo_pkg-1.0-py3-none-any.whl".into(),
            url: "../../files/demo_pkg-1.0-py3-none-any.whl".into(),
            sha256: "ab".repeat(32),
            size: 10,
            version: "1.0".into(),
            requires_python: Some(">=3.9, <4".into()),
            metadata_sha256: Some("cd".repeat(32)),
        }];
        let from_html = parse_html_page(&project_html("demo-pkg", &files), &page_url()).unwrap();
        let from_json = parse_json_page(&project_json("demo-pkg", &files), &page_url()).unwrap();
        let mut expected = from_json[0].clone();
        assert_eq!(expected.size, Some(10));
        expected.size = None;
        assert_eq!(from_html, vec![expected]);
        assert_eq!(from_html[0].requires_python.as_deref(), Some(">=3.9, <4"));
        assert_eq!(from_html[0].sha256.as_deref(), Some("ab".repeat(32).as_str()));
    }

    #[test]
    fn formats_are_told_by_content_type_then_text() {
        assert_eq!(
            PageFormat::detect(Some("application/vnd.pypi.simple.v1+json"), ""),
            PageFormat::Json
        );
        assert_eq!(
            PageFormat::detect(Some("text/html; charset=utf-8"), "{"),
            PageFormat::Html
        );
        assert_eq!(PageFormat::detect(None, "  {\"files\": []}"), PageFormat::Json);
        assert_eq!(PageFormat::detect(None, "<html>"), PageFormat::Html);
    }

    #[test]
    fn unescapes_named_and_numeric_references() {
        assert_eq!(
            html_unescape("&lt;3&#44;&#x3E;=2 &amp;&amp; a&b &unknown; &"),
            "<3,>=2 && a&b &unknown; &"
        );
    }
}
