//! The requirements file `--resolve` reads: pip's format, one PEP 508 requirement a line,
//! `#` comments, `\` continuations; option lines (`-r`, `--index-url`, ...) are skipped with a
//! warning, as they say nothing about what to resolve.

use std::path::{Path, PathBuf};
use std::str::FromStr as _;

use pep508_rs::Requirement;

/// One requirement of the file.
#[derive(Debug, Clone)]
pub struct RequirementLine {
    /// Its line number (the first, for a continued line).
    pub line: usize,
    /// As written, without comment.
    pub text: String,
    pub requirement: Requirement,
}

/// A requirements file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RequirementsFileError {
    #[error("cannot read the requirements file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}:{line}: `{text}` is not a PEP 508 requirement: {reason}", path.display())]
    Invalid {
        path: PathBuf,
        line: usize,
        text: String,
        reason: String,
    },
    #[error("the requirements file {} names no requirement", path.display())]
    Empty { path: PathBuf },
}

impl crate::hint::Hint for RequirementsFileError {
    fn hint(&self) -> Option<String> {
        match self {
            RequirementsFileError::Invalid { .. } => {
                Some("write one requirement a line, as `numpy>=2` or `scipy[io]==1.15.*`".to_string())
            }
            RequirementsFileError::Empty { .. } => {
                Some("list the projects to resolve, one a line (e.g. the site's most-installed)".to_string())
            }
            RequirementsFileError::Read { .. } => None,
        }
    }
}

/// Parses the text of a requirements file (`path` names it in errors).
pub fn parse_requirements(text: &str, path: &Path) -> Result<Vec<RequirementLine>, RequirementsFileError> {
    let mut lines = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (index, raw) in text.lines().enumerate() {
        let number = index + 1;
        let (start, mut joined) = pending.take().unwrap_or((number, String::new()));
        if let Some(continued) = raw.strip_suffix('\\') {
            joined.push_str(continued);
            pending = Some((start, joined));
            continue;
        }
        joined.push_str(raw);
        // A comment starts at `#` at the line's start or after whitespace (pip's rule).
        let text = match joined.find(" #").or(joined.starts_with('#').then_some(0)) {
            Some(at) => joined[..at].trim(),
            None => joined.trim(),
        };
        if text.is_empty() {
            continue;
        }
        if text.starts_with('-') {
            tracing::warn!(
                "{}:{start}: `{text}` skipped: only requirements are resolved",
                path.display()
            );
            continue;
        }
        let requirement = Requirement::from_str(text).map_err(|error| RequirementsFileError::Invalid {
            path: path.to_path_buf(),
            line: start,
            text: text.to_string(),
            reason: error.message.to_string(),
        })?;
        lines.push(RequirementLine {
            line: start,
            text: text.to_string(),
            requirement,
        });
    }
    if lines.is_empty() {
        return Err(RequirementsFileError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(lines)
}

/// Reads and parses a requirements file.
pub fn read_requirements_file(path: &Path) -> Result<Vec<RequirementLine>, RequirementsFileError> {
    let text = fs_err::read_to_string(path).map_err(|source| RequirementsFileError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_requirements(&text, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requirement_lines_comments_continuations_and_options() {
        let text = "# the site's favourites\nnumpy>=2  # arrays\n\nscipy[io] \\\n  ==1.15.*\n--index-url https://example.invalid/simple\nrequests; python_version >= '3.11'\n";
        let lines = parse_requirements(text, Path::new("top.txt")).unwrap();
        let texts: Vec<(usize, &str)> = lines.iter().map(|line| (line.line, line.text.as_str())).collect();
        assert_eq!(
            texts,
            [
                (2, "numpy>=2"),
                (4, "scipy[io]   ==1.15.*"),
                (7, "requests; python_version >= '3.11'")
            ]
        );
        assert_eq!(lines[1].requirement.extras.len(), 1);
    }

    #[test]
    fn a_bad_line_is_named_with_its_file_and_number() {
        let error = parse_requirements("numpy\nscipy >>= 1\n", Path::new("top.txt")).unwrap_err();
        let message = error.to_string();
        assert!(
            message.starts_with("top.txt:2: `scipy >>= 1` is not a PEP 508 requirement"),
            "{message}"
        );
        assert!(crate::hint::Hint::hint(&error).is_some());
        let error = parse_requirements("# nothing\n", Path::new("top.txt")).unwrap_err();
        assert_eq!(
            error.to_string(),
            "the requirements file top.txt names no requirement"
        );
    }
}
