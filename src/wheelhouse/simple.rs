//! The pages of a static simple repository, rendered from plain data without I/O: PEP 503
//! HTML with PEP 592/658/714 attributes, and the PEP 691 JSON (API version 1.1, PEP 700).

use serde_json::{Value, json};

/// The simple repository API version the pages declare (PEP 629 / PEP 700).
pub const API_VERSION: &str = "1.1";

/// The media type of the JSON pages (PEP 691), for servers that negotiate content.
pub const JSON_MEDIA_TYPE: &str = "application/vnd.pypi.simple.v1+json";

/// One file of a project page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexFile {
    pub file_name: String,
    /// The link without its hash fragment (relative to the page, or absolute).
    pub url: String,
    /// Hex sha256 of the file.
    pub sha256: String,
    pub size: u64,
    /// The version as the filename writes it.
    pub version: String,
    /// METADATA's `Requires-Python`, if it has one.
    pub requires_python: Option<String>,
    /// Hex sha256 of the METADATA served at `<url>.metadata`, when there is one.
    pub metadata_sha256: Option<String>,
}

/// Escapes text for HTML content and double-quoted attribute values.
pub fn html_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html>\n  <head>\n    <meta name=\"pypi:repository-version\" content=\"{API_VERSION}\">\n    <title>{}</title>\n  </head>\n  <body>\n    <h1>{}</h1>\n{body}  </body>\n</html>\n",
        html_escape(title),
        html_escape(title)
    )
}

fn to_json(value: &Value) -> String {
    let mut text = serde_json::to_string_pretty(value).expect("a JSON value renders");
    text.push('\n');
    text
}

/// The root page: one link per project (normalised names, sorted by the caller).
pub fn root_html(title: &str, projects: &[String]) -> String {
    let links: String = projects
        .iter()
        .map(|name| {
            let name = html_escape(name);
            format!("    <a href=\"{name}/\">{name}</a><br>\n")
        })
        .collect();
    page(title, &links)
}

/// The root page as PEP 691 JSON.
pub fn root_json(projects: &[String]) -> String {
    let projects: Vec<Value> = projects.iter().map(|name| json!({ "name": name })).collect();
    to_json(&json!({
        "meta": { "api-version": API_VERSION },
        "projects": projects,
    }))
}

/// A project page: one anchor per file, with the hash, Requires-Python and the metadata
/// file's hash under both its PEP 658 and PEP 714 names (older pips read only the first).
pub fn project_html(project: &str, files: &[IndexFile]) -> String {
    let mut links = String::new();
    for file in files {
        let mut anchor = format!(
            "    <a href=\"{}#sha256={}\"",
            html_escape(&file.url),
            file.sha256
        );
        if let Some(requires_python) = &file.requires_python {
            anchor.push_str(&format!(
                " data-requires-python=\"{}\"",
                html_escape(requires_python)
            ));
        }
        if let Some(metadata) = &file.metadata_sha256 {
            anchor.push_str(&format!(
                " data-dist-info-metadata=\"sha256={metadata}\" data-core-metadata=\"sha256={metadata}\""
            ));
        }
        anchor.push_str(&format!(">{}</a><br>\n", html_escape(&file.file_name)));
        links.push_str(&anchor);
    }
    page(&format!("Links for {project}"), &links)
}

/// A project page as PEP 691 JSON with the PEP 700 `versions` and `size`.
pub fn project_json(project: &str, files: &[IndexFile]) -> String {
    let mut versions: Vec<&str> = Vec::new();
    for file in files {
        if !versions.contains(&file.version.as_str()) {
            versions.push(&file.version);
        }
    }
    let files: Vec<Value> = files
        .iter()
        .map(|file| {
            let mut entry = json!({
                "filename": file.file_name,
                "url": file.url,
                "hashes": { "sha256": file.sha256 },
                "size": file.size,
            });
            if let Some(requires_python) = &file.requires_python {
                entry["requires-python"] = json!(requires_python);
            }
            if let Some(metadata) = &file.metadata_sha256 {
                entry["core-metadata"] = json!({ "sha256": metadata });
                entry["dist-info-metadata"] = json!({ "sha256": metadata });
            }
            entry
        })
        .collect();
    to_json(&json!({
        "meta": { "api-version": API_VERSION },
        "name": project,
        "versions": versions,
        "files": files,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(requires_python: Option<&str>, metadata: Option<&str>) -> IndexFile {
        IndexFile {
            file_name: "demo-1.0+cc-py3-none-any.whl".into(),
            url: "../../../../files/generic/demo-1.0+cc-py3-none-any.whl".into(),
            sha256: "ab".repeat(32),
            size: 123,
            version: "1.0+cc".into(),
            requires_python: requires_python.map(str::to_string),
            metadata_sha256: metadata.map(str::to_string),
        }
    }

    #[test]
    fn project_anchors_carry_hash_requires_python_and_metadata() {
        let html = project_html("demo", &[file(Some(">=3.9,<4"), Some("cd"))]);
        let hash = "ab".repeat(32);
        assert!(
            html.contains(&format!(
                "<a href=\"../../../../files/generic/demo-1.0+cc-py3-none-any.whl#sha256={hash}\" data-requires-python=\"&gt;=3.9,&lt;4\" data-dist-info-metadata=\"sha256=cd\" data-core-metadata=\"sha256=cd\">demo-1.0+cc-py3-none-any.whl</a>"
            )),
            "{html}"
        );
        assert!(html.contains("<meta name=\"pypi:repository-version\" content=\"1.1\">"));
        let html = project_html("demo", &[file(None, None)]);
        assert!(!html.contains("data-"), "{html}");
    }

    #[test]
    fn json_pages_follow_pep_691_and_700() {
        let value: Value = serde_json::from_str(&project_json(
            "demo",
            &[file(Some(">=3.9"), Some("cd")), file(None, None)],
        ))
        .unwrap();
        assert_eq!(value["meta"]["api-version"], "1.1");
        assert_eq!(value["name"], "demo");
        assert_eq!(value["versions"], json!(["1.0+cc"]));
        assert_eq!(value["files"][0]["core-metadata"]["sha256"], "cd");
        assert_eq!(value["files"][0]["requires-python"], ">=3.9");
        assert_eq!(value["files"][0]["size"], 123);
        assert!(value["files"][1].get("core-metadata").is_none());
        let root: Value = serde_json::from_str(&root_json(&["a".into(), "b-c".into()])).unwrap();
        assert_eq!(root["projects"], json!([{ "name": "a" }, { "name": "b-c" }]));
        assert!(root_html("t", &["b-c".into()]).contains("<a href=\"b-c/\">b-c</a>"));
    }
}
