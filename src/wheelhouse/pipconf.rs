//! The installer configuration that points a node at the wheelhouse (`wheelwright
//! pip-config`): the view's directories as absolute paths, rendered as pip.conf and uv.toml.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::wheelhouse::view::NodeView;

/// The directories of a view on disk.
#[derive(Debug, Clone, Serialize)]
pub struct ViewDirectories {
    /// Absolute paths in search order (the root canonicalised when it exists).
    pub dirs: Vec<PathBuf>,
    /// Directories of the view that do not exist and were left out (uv refuses a missing
    /// find-links directory; pip warns about each one on every install).
    pub missing: Vec<String>,
    /// The root does not exist here: every directory is listed, none could be checked.
    pub root_missing: bool,
}

/// The absolute directories of `view` under `root`. When the root exists, directories that do
/// not are left out (and named in `missing`); when it does not (a config written for another
/// machine, which `pip-config` writes only with `--allow-missing-root`), every directory is
/// kept.
pub fn view_directories(root: &Path, view: &NodeView) -> ViewDirectories {
    let canonical = fs_err::canonicalize(root).ok();
    let root_missing = canonical.is_none();
    let base = canonical.unwrap_or_else(|| std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf()));
    let mut dirs = Vec::new();
    let mut missing = Vec::new();
    for relative in &view.dirs {
        let path = base.join(relative);
        if root_missing || path.is_dir() {
            dirs.push(path);
        } else {
            missing.push(relative.clone());
        }
    }
    ViewDirectories {
        dirs,
        missing,
        root_missing,
    }
}

/// A path as pip reads it from a whitespace-separated option: as is, or as a `file://` URL
/// when it holds whitespace (pip splits `find-links` on whitespace).
fn pip_location(path: &Path) -> String {
    let text = path.display().to_string();
    if text.contains(char::is_whitespace) {
        format!("file://{}", percent_encode_path(&text))
    } else {
        text
    }
}

/// Percent-encodes what may not appear literally in a URL path (RFC 3986 `pchar` and `/`).
pub fn percent_encode_path(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        let literal = byte.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/".contains(&byte);
        if literal {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// A TOML basic string.
fn toml_string(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
}

/// Where pip reads the file from, as a comment.
pub const PIP_CONF_TARGET: &str =
    "# pip.conf: $PIP_CONFIG_FILE, $VIRTUAL_ENV/pip.conf, ~/.config/pip/pip.conf or /etc/pip.conf";
/// Where uv reads the file from, as a comment.
pub const UV_TOML_TARGET: &str =
    "# uv.toml: $UV_CONFIG_FILE, --config-file, ~/.config/uv/uv.toml or /etc/uv/uv.toml";

/// pip.conf searching `dirs` in order (`find-links`, one per continuation line). With
/// `no_index`, PyPI is not consulted.
pub fn pip_conf(view: &NodeView, dirs: &[PathBuf], no_index: bool) -> String {
    let mut text = format!(
        "{PIP_CONF_TARGET}\n# The wheelhouse directories of a {}/{} node, most specific first.\n[global]\nfind-links =\n",
        view.layer, view.arch
    );
    for dir in dirs {
        text.push_str(&format!("    {}\n", pip_location(dir)));
    }
    if no_index {
        text.push_str("no-index = true\n");
    }
    text
}

/// uv.toml with one flat index per directory, in order. uv takes a version's wheel from the
/// first index that has it (a top-level `find-links` list does not keep that order);
/// `unsafe-best-match` makes it take the newest version from any directory, as pip does with
/// find-links, instead of stopping at the first directory that has the project. With
/// `no_index`, the last directory is the default index, which replaces PyPI.
pub fn uv_toml(view: &NodeView, dirs: &[PathBuf], no_index: bool) -> String {
    let mut text = format!(
        "{UV_TOML_TARGET}\n# The wheelhouse directories of a {}/{} node, most specific first: for one\n\
         # version, the first directory with a wheel wins; the newest version wins across them.\n\
         index-strategy = \"unsafe-best-match\"\n",
        view.layer, view.arch
    );
    for (position, dir) in dirs.iter().enumerate() {
        text.push_str(&format!(
            "\n[[index]]\nurl = {}\nformat = \"flat\"\n",
            toml_string(&dir.display().to_string())
        ));
        if no_index && position + 1 == dirs.len() {
            text.push_str("default = true\n");
        }
    }
    text
}

/// The URL of a view's simple index under `base` (a directory or a URL), with a final `/`.
pub fn view_index_url(base: &str, view: &NodeView) -> String {
    let base = if base.contains("://") {
        base.trim_end_matches('/').to_string()
    } else {
        let path = std::path::absolute(base).unwrap_or_else(|_| PathBuf::from(base));
        let path = fs_err::canonicalize(&path).unwrap_or(path);
        format!("file://{}", percent_encode_path(&path.display().to_string()))
    };
    format!("{base}/{}/{}/simple/", view.layer, view.arch)
}

/// pip.conf using a simple index made by `wheelwright index` (it replaces PyPI).
pub fn pip_conf_for_index(view: &NodeView, url: &str) -> String {
    format!(
        "{PIP_CONF_TARGET}\n# The wheelhouse index of a {}/{} node (it replaces PyPI).\n[global]\nindex-url = {url}\n",
        view.layer, view.arch
    )
}

/// uv.toml using a simple index made by `wheelwright index` as the default index.
pub fn uv_toml_for_index(view: &NodeView, url: &str) -> String {
    format!(
        "{UV_TOML_TARGET}\n# The wheelhouse index of a {}/{} node (it replaces PyPI).\n[[index]]\nurl = {}\ndefault = true\n",
        view.layer,
        view.arch,
        toml_string(url)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view() -> NodeView {
        NodeView {
            layer: "gentoo2023".into(),
            arch: "x86-64-v4".into(),
            dirs: vec!["gentoo2023/x86-64-v4".into(), "generic".into()],
        }
    }

    #[test]
    fn pip_conf_lists_one_directory_per_line() {
        let dirs = [
            PathBuf::from("/wh/gentoo2023/x86-64-v4"),
            PathBuf::from("/w h/generic"),
        ];
        let text = pip_conf(&view(), &dirs, true);
        assert!(
            text.ends_with(
                "[global]\nfind-links =\n    /wh/gentoo2023/x86-64-v4\n    file:///w%20h/generic\nno-index = true\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn uv_toml_is_valid_toml_with_ordered_flat_indexes() {
        let dirs = [PathBuf::from("/wh/a\"b"), PathBuf::from("/wh/generic")];
        let text = uv_toml(&view(), &dirs, true);
        let value: toml::Table = toml::from_str(&text).unwrap();
        assert_eq!(value["index-strategy"].as_str(), Some("unsafe-best-match"));
        let indexes = value["index"].as_array().unwrap();
        assert_eq!(indexes[0]["url"].as_str(), Some("/wh/a\"b"));
        assert_eq!(indexes[0]["format"].as_str(), Some("flat"));
        assert!(indexes[0].get("default").is_none());
        assert_eq!(indexes[1]["default"].as_bool(), Some(true));
        let text = uv_toml(&view(), &dirs, false);
        assert!(!text.contains("default"), "{text}");
    }

    #[test]
    fn index_urls_name_the_view() {
        assert_eq!(
            view_index_url("https://wh.example.org/index/", &view()),
            "https://wh.example.org/index/gentoo2023/x86-64-v4/simple/"
        );
        assert_eq!(percent_encode_path("/a b/c+1.0%"), "/a%20b/c+1.0%25");
    }
}
