//! `wheelhouse-layout.toml`: the site as data, parsed raw and resolved into checked settings.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::Deserialize;

use crate::spec::requirements::NameRule;

/// The layout shipped with wheelwright (the Alliance/ComputeCanada wheelhouse).
pub const EMBEDDED_LAYOUT: &str = include_str!("../wheelhouse-layout.toml");

/// The name used for the embedded layout in messages.
pub const EMBEDDED_NAME: &str = "<embedded wheelhouse-layout.toml>";

/// A layout that cannot be used, with the file and the key path at fault.
#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    #[error("cannot read the layout `{path}`: {error}")]
    Read { path: PathBuf, error: std::io::Error },
    #[error("{source_name}: {message}")]
    Parse { source_name: String, message: String },
    #[error("{source_name}: key `{key}` = {value}: {message}")]
    Invalid {
        source_name: String,
        key: String,
        value: String,
        message: String,
    },
}

/// The file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLayout {
    root: String,
    local_version_label: String,
    #[serde(default)]
    python_versions: Vec<String>,
    #[serde(default)]
    strip_requirements: BTreeMap<String, RawStripRule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStripRule {
    #[serde(default)]
    description: String,
    remove: Vec<String>,
    #[serde(default)]
    keep: Vec<String>,
}

/// A Python version as `major.minor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PythonVersion {
    pub major: u8,
    pub minor: u8,
}

impl FromStr for PythonVersion {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let parse = |part: &str| {
            part.parse::<u8>()
                .ok()
                .filter(|_| !part.is_empty() && part.chars().all(|c| c.is_ascii_digit()))
        };
        match text.split_once('.') {
            Some((major, minor)) => match (parse(major), parse(minor)) {
                (Some(major @ 2..=3), Some(minor)) => Ok(PythonVersion { major, minor }),
                _ => Err(format!("`{text}` is not a Python version like 3.12")),
            },
            None => Err(format!("`{text}` is not a Python version like 3.12")),
        }
    }
}

impl fmt::Display for PythonVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// A named requirement-stripping rule.
#[derive(Debug, Clone)]
pub struct StripRule {
    pub description: String,
    pub remove: Vec<String>,
    pub keep: Vec<String>,
    pub rule: NameRule,
}

/// The resolved, checked layout.
#[derive(Debug, Clone)]
pub struct Layout {
    /// Where this layout came from (a path, or the embedded name).
    pub source: String,
    pub root: PathBuf,
    pub local_version_label: String,
    pub python_versions: Vec<PythonVersion>,
    pub strip_rules: BTreeMap<String, StripRule>,
}

impl Layout {
    /// The layout shipped with wheelwright.
    pub fn embedded() -> Result<Self, LayoutError> {
        Self::parse(EMBEDDED_LAYOUT, EMBEDDED_NAME, Path::new("."))
    }

    /// Reads and checks a layout file; relative roots are taken from its directory.
    pub fn from_file(path: &Path) -> Result<Self, LayoutError> {
        let text = fs_err::read_to_string(path).map_err(|error| LayoutError::Read {
            path: path.to_path_buf(),
            error,
        })?;
        let base = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        Self::parse(&text, &path.display().to_string(), base)
    }

    /// `--layout FILE`, else `$WHEELWRIGHT_LAYOUT`, else the embedded layout.
    pub fn load(explicit: Option<&Path>) -> Result<Self, LayoutError> {
        let from_environment = std::env::var_os("WHEELWRIGHT_LAYOUT").filter(|value| !value.is_empty());
        match explicit
            .map(Path::to_path_buf)
            .or(from_environment.map(PathBuf::from))
        {
            Some(path) => Self::from_file(&path),
            None => Self::embedded(),
        }
    }

    /// Parses layout text; `source_name` names it in errors.
    pub fn parse(text: &str, source_name: &str, base: &Path) -> Result<Self, LayoutError> {
        let raw: RawLayout = toml::from_str(text).map_err(|error| LayoutError::Parse {
            source_name: source_name.to_string(),
            message: error.to_string().trim_end().to_string(),
        })?;
        Self::resolve(raw, source_name, base)
    }

    fn resolve(raw: RawLayout, source_name: &str, base: &Path) -> Result<Self, LayoutError> {
        let invalid = |key: String, value: &str, message: String| LayoutError::Invalid {
            source_name: source_name.to_string(),
            key,
            value: format!("{value:?}"),
            message,
        };
        if raw.root.trim().is_empty() {
            return Err(invalid(
                "root".into(),
                &raw.root,
                "the wheelhouse root may not be empty".into(),
            ));
        }
        let root = Path::new(&raw.root);
        let root = if root.is_absolute() {
            root.to_path_buf()
        } else {
            base.join(root)
        };

        let label = &raw.local_version_label;
        let label_valid = !label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric());
        if !label_valid {
            return Err(invalid(
                "local_version_label".into(),
                label,
                "a local version label is one segment of letters and digits (e.g. computecanada)".into(),
            ));
        }

        let mut python_versions = Vec::new();
        for (index, text) in raw.python_versions.iter().enumerate() {
            let version = text
                .parse()
                .map_err(|message| invalid(format!("python_versions[{index}]"), text, message))?;
            if python_versions.contains(&version) {
                return Err(invalid(
                    format!("python_versions[{index}]"),
                    text,
                    "listed twice".into(),
                ));
            }
            python_versions.push(version);
        }

        let mut strip_rules = BTreeMap::new();
        for (name, rule) in raw.strip_requirements {
            let key = format!("strip_requirements.{name}");
            if rule.remove.is_empty() {
                return Err(invalid(
                    format!("{key}.remove"),
                    "[]",
                    "a rule must remove at least one pattern".into(),
                ));
            }
            for (field, patterns) in [("remove", &rule.remove), ("keep", &rule.keep)] {
                for (index, pattern) in patterns.iter().enumerate() {
                    NameRule::new(&name, std::slice::from_ref(pattern), &[]).map_err(|error| {
                        invalid(format!("{key}.{field}[{index}]"), pattern, error.to_string())
                    })?;
                }
            }
            let compiled = NameRule::new(&name, &rule.remove, &rule.keep)
                .map_err(|error| invalid(key.clone(), &name, error.to_string()))?;
            strip_rules.insert(
                name,
                StripRule {
                    description: rule.description,
                    remove: rule.remove,
                    keep: rule.keep,
                    rule: compiled,
                },
            );
        }

        Ok(Layout {
            source: source_name.to_string(),
            root,
            local_version_label: raw.local_version_label,
            python_versions,
            strip_rules,
        })
    }

    /// The stripping rule called `name`, or an error listing the known ones.
    pub fn strip_rule(&self, name: &str) -> Result<&StripRule, String> {
        self.strip_rules.get(name).ok_or_else(|| {
            let known: Vec<&str> = self.strip_rules.keys().map(String::as_str).collect();
            format!(
                "the layout {} has no requirement-stripping rule `{name}` (it has: {})",
                self.source,
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Layout, LayoutError> {
        Layout::parse(text, "test.toml", Path::new("/site"))
    }

    #[test]
    fn the_embedded_layout_is_valid() {
        let layout = Layout::embedded().unwrap();
        assert_eq!(layout.local_version_label, "computecanada");
        assert_eq!(
            layout
                .python_versions
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            ["3.11", "3.12", "3.13"]
        );
        let nvidia = &layout.strip_rule("nvidia").unwrap().rule;
        assert!(nvidia.strips("nvidia-cublas-cu12"));
        assert!(nvidia.strips("nvidia_cudnn_cu12"));
        assert!(nvidia.strips("NVIDIA-NCCL-CU12"));
        assert!(!nvidia.strips("nvidia-ml-py"));
        assert!(!nvidia.strips("triton"));
    }

    #[test]
    fn relative_roots_follow_the_file() {
        let layout = parse("root = \"wh\"\nlocal_version_label = \"site\"\n").unwrap();
        assert_eq!(layout.root, Path::new("/site/wh"));
        let layout = parse("root = \"/cvmfs/wh\"\nlocal_version_label = \"site\"\n").unwrap();
        assert_eq!(layout.root, Path::new("/cvmfs/wh"));
    }

    #[test]
    fn errors_name_the_key() {
        let cases = [
            (
                "root = \"\"\nlocal_version_label = \"x\"\n",
                "test.toml: key `root` = \"\": the wheelhouse root may not be empty",
            ),
            (
                "root = \"w\"\nlocal_version_label = \"compute-canada\"\n",
                "test.toml: key `local_version_label` = \"compute-canada\": a local version label is one segment of letters and digits (e.g. computecanada)",
            ),
            (
                "root = \"w\"\nlocal_version_label = \"x\"\npython_versions = [\"3.12\", \"three\"]\n",
                "test.toml: key `python_versions[1]` = \"three\": `three` is not a Python version like 3.12",
            ),
            (
                "root = \"w\"\nlocal_version_label = \"x\"\n[strip_requirements.n]\nremove = [\"nvidia-*\", \"a[\"]\n",
                "test.toml: key `strip_requirements.n.remove[1]` = \"a[\": the pattern `a[` is not a valid glob: unclosed character class; missing ']'",
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(parse(text).unwrap_err().to_string(), expected);
        }
    }

    #[test]
    fn syntax_and_unknown_keys_are_errors_with_lines() {
        let error = parse("root = \"w\"\nlocal_version_label = \"x\"\nlabel = 3\n")
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("test.toml: "), "{error}");
        assert!(error.contains("unknown field `label`"), "{error}");
        assert!(error.contains("line 3"), "{error}");
        let error = parse("root = \n").unwrap_err().to_string();
        assert!(error.contains("line 1"), "{error}");
    }
}
