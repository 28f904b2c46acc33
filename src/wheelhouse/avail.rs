//! What the wheelhouse offers a node (`wheelwright avail`, like avail_wheels): the wheels of
//! a view matched by name pattern and Python version, newest version first, and of several
//! copies of a version the one an installer takes (the earliest directory of the view).

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use serde::Serialize;

use crate::layout::PythonVersion;
use crate::spec::filename::TagSet;
use crate::spec::normalize_name;
use crate::wheelhouse::tree::{Tree, TreeWheel};

/// A name pattern that is not a glob.
#[derive(Debug, thiserror::Error)]
#[error("the name pattern `{pattern}` is not a valid glob: {reason}")]
pub struct PatternError {
    pub pattern: String,
    pub reason: String,
}

/// What to list.
#[derive(Debug, Clone, Default)]
pub struct AvailQuery {
    /// Names or globs, any spelling; empty for every project.
    pub patterns: Vec<String>,
    /// Only wheels installable on one of these; empty for any Python.
    pub pythons: Vec<PythonVersion>,
    /// Every version, not only the newest of each project.
    pub all_versions: bool,
    /// Every copy of a version, not only the one in the earliest directory.
    pub every_copy: bool,
}

/// One wheel offered to the node.
#[derive(Debug, Clone, Serialize)]
pub struct AvailRow {
    /// The name as the filename writes it.
    pub name: String,
    pub normalized_name: String,
    pub version: String,
    /// The Python tags for people: `cp312`, `py2.py3`, `cp311-abi3`.
    pub python: String,
    pub python_tags: Vec<String>,
    pub abi_tags: Vec<String>,
    pub platform_tags: Vec<String>,
    pub file_name: String,
    /// The directory relative to the root (`gentoo2023/x86-64-v3`, `generic`).
    pub directory: String,
    /// Where the wheel is (absolute).
    pub path: PathBuf,
}

/// Compiles name patterns into one case-insensitive matcher of PEP 503 normalised names
/// (`Scikit_Learn*` matches `scikit-learn-intelex`). None matches everything.
pub fn name_matcher(patterns: &[String]) -> Result<Option<GlobSet>, PatternError> {
    if patterns.is_empty() {
        return Ok(None);
    }
    let mut builder = GlobSetBuilder::new();
    for pattern in patterns {
        let glob = GlobBuilder::new(&normalize_name(pattern))
            .case_insensitive(true)
            .build()
            .map_err(|error| PatternError {
                pattern: pattern.clone(),
                reason: error.kind().to_string(),
            })?;
        builder.add(glob);
    }
    builder.build().map(Some).map_err(|error| PatternError {
        pattern: patterns.join(" "),
        reason: error.kind().to_string(),
    })
}

/// Whether a CPython `python` can install a wheel with these tags (see
/// [`crate::spec::filename::installable_on`]).
pub fn installable_on(tags: &TagSet, python: PythonVersion) -> bool {
    crate::spec::filename::installable_on(tags, python.major, python.minor)
}

/// The Python tags of a filename for a table: `cp312`, `py2.py3`, `cp311-abi3`.
pub fn python_label(tags: &TagSet) -> String {
    let python = tags.python.join(".");
    if tags.abi.iter().any(|abi| abi == "abi3") {
        format!("{python}-abi3")
    } else {
        python
    }
}

fn row(tree: &Tree, wheel: &TreeWheel) -> AvailRow {
    let tags = &wheel.filename.tags;
    AvailRow {
        name: wheel.filename.name_text().to_string(),
        normalized_name: wheel.filename.normalized_name(),
        version: wheel.filename.version_text().to_string(),
        python: python_label(tags),
        python_tags: tags.python.clone(),
        abi_tags: tags.abi.clone(),
        platform_tags: tags.platform.clone(),
        file_name: wheel.file_name.clone(),
        directory: tree.dirs[wheel.dir].relative.clone(),
        path: {
            let path = tree.path_of(wheel);
            std::path::absolute(&path).unwrap_or(path)
        },
    }
}

/// The wheels of `dirs` (relative to the root, searched in this order) that the query asks
/// for: projects by name; in each, versions newest first; in each version, directories in
/// the view's order. Without `every_copy`, a wheel is left out when an earlier directory has
/// one of the same version and tags: the installer takes that one.
pub fn avail(tree: &Tree, dirs: &[String], query: &AvailQuery) -> Result<Vec<AvailRow>, PatternError> {
    let matcher = name_matcher(&query.patterns)?;
    let rank: HashMap<usize, usize> = dirs
        .iter()
        .enumerate()
        .filter_map(|(position, relative)| tree.dir_index(relative).map(|index| (index, position)))
        .collect();
    let installable = |wheel: &TreeWheel| {
        query.pythons.is_empty()
            || query
                .pythons
                .iter()
                .any(|python| installable_on(&wheel.filename.tags, *python))
    };
    let mut rows = Vec::new();
    for project in tree.projects() {
        if matcher.as_ref().is_some_and(|matcher| !matcher.is_match(project)) {
            continue;
        }
        let mut wheels: Vec<&TreeWheel> = tree
            .project(project)
            .filter(|wheel| rank.contains_key(&wheel.dir) && installable(wheel))
            .collect();
        wheels.sort_by(|a, b| {
            b.filename
                .version()
                .cmp(a.filename.version())
                .then(rank[&a.dir].cmp(&rank[&b.dir]))
                .then(a.file_name.cmp(&b.file_name))
        });
        if let Some(newest) = wheels.first().map(|wheel| wheel.filename.version().clone())
            && !query.all_versions
        {
            wheels.retain(|wheel| *wheel.filename.version() == newest);
        }
        let mut seen = HashSet::new();
        for wheel in wheels {
            let key = (wheel.filename.version().clone(), wheel.filename.tags.to_string());
            if seen.insert(key) || query.every_copy {
                rows.push(row(tree, wheel));
            }
        }
    }
    Ok(rows)
}

/// The rows as an aligned table with a header.
pub fn render_table(rows: &[AvailRow]) -> Vec<String> {
    let header = ["name", "version", "python", "directory"];
    let cells: Vec<[&str; 4]> = rows
        .iter()
        .map(|row| {
            [
                row.name.as_str(),
                row.version.as_str(),
                row.python.as_str(),
                row.directory.as_str(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for line in &cells {
        for (width, cell) in widths.iter_mut().zip(line) {
            *width = (*width).max(cell.len());
        }
    }
    std::iter::once(header)
        .chain(cells)
        .map(|line| {
            let mut text = String::new();
            for (column, cell) in line.iter().enumerate() {
                if column + 1 == line.len() {
                    text.push_str(cell);
                } else {
                    text.push_str(&format!("{cell:<width$}  ", width = widths[column]));
                }
            }
            text
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn python(text: &str) -> PythonVersion {
        text.parse().unwrap()
    }

    fn installable(tags: &str, version: &str) -> bool {
        installable_on(&TagSet::parse(tags).unwrap(), python(version))
    }

    #[test]
    fn tags_match_pythons_as_installers_decide() {
        assert!(installable("py3-none-any", "3.12"));
        assert!(installable("py2.py3-none-any", "3.10"));
        assert!(!installable("py2-none-any", "3.12"));
        assert!(installable("py311-none-any", "3.12"));
        assert!(!installable("py313-none-any", "3.12"));
        assert!(installable("cp312-cp312-linux_x86_64", "3.12"));
        assert!(!installable("cp312-cp312-linux_x86_64", "3.11"));
        assert!(!installable("cp312-cp312-linux_x86_64", "3.13"));
        assert!(installable("cp311-abi3-linux_x86_64", "3.11"));
        assert!(installable("cp311-abi3-linux_x86_64", "3.13"));
        assert!(!installable("cp311-abi3-linux_x86_64", "3.10"));
        assert!(installable("cp312-none-any", "3.12"));
        assert!(!installable("cp312-none-any", "3.13"));
        assert!(installable("cp311.cp312-cp311.cp312-linux_x86_64", "3.12"));
        assert!(!installable("cp313-cp313t-linux_x86_64", "3.13"));
        assert_eq!(
            python_label(&TagSet::parse("cp39-abi3-linux_x86_64").unwrap()),
            "cp39-abi3"
        );
        assert_eq!(
            python_label(&TagSet::parse("py2.py3-none-any").unwrap()),
            "py2.py3"
        );
    }

    #[test]
    fn patterns_are_normalised_globs() {
        let matcher = name_matcher(&["Scikit_Learn*".to_string(), "NUM?Y".to_string()])
            .unwrap()
            .unwrap();
        assert!(matcher.is_match("scikit-learn"));
        assert!(matcher.is_match("scikit-learn-intelex"));
        assert!(matcher.is_match("numpy"));
        assert!(!matcher.is_match("numba"));
        assert!(name_matcher(&[]).unwrap().is_none());
        let error = name_matcher(&["a[".to_string()]).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("the name pattern `a[` is not a valid glob"),
            "{error}"
        );
    }
}
