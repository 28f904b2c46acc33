//! Recipe errors: each names the file, the key path and, when known, the line and column of
//! the value at fault (found again in the YAML text when the parser does not say).

use super::*;

/// A recipe that cannot be used, naming the file, the key path and, when known, the line and
/// column of the value at fault.
#[derive(Debug, thiserror::Error)]
pub enum RecipeError {
    /// A file or directory that cannot be read (the message names the path).
    #[error("{error}")]
    Read { path: PathBuf, error: std::io::Error },
    /// YAML that does not parse or does not fit the recipe schema (unknown key, wrong type).
    #[error("{}: {message}", Place::new(file, key.as_deref(), *position))]
    Syntax {
        file: PathBuf,
        key: Option<String>,
        position: Option<Position>,
        message: String,
    },
    /// A value that parses as YAML but is not acceptable.
    #[error(
        "{}{}: {message}",
        Place::new(file, Some(key), *position),
        value.as_ref().map(|value| format!(" = {value:?}")).unwrap_or_default()
    )]
    Invalid {
        file: PathBuf,
        key: String,
        position: Option<Position>,
        /// The value as written (or as rendered, for templated values).
        value: Option<String>,
        message: String,
    },
    /// A template that does not compile or does not render.
    #[error("{}: template error: {message}", Place::new(file, Some(key), *position))]
    Template {
        file: PathBuf,
        key: String,
        position: Option<Position>,
        message: String,
    },
    /// Two recipe files in one directory for the same (normalised) package name.
    #[error(
        "{}: a second recipe for the package `{name}` (the first is {})",
        file.display(),
        first.display()
    )]
    Duplicate {
        file: PathBuf,
        first: PathBuf,
        name: String,
    },
}

impl RecipeError {
    /// The recipe file (or directory) at fault.
    pub fn file(&self) -> &Path {
        match self {
            RecipeError::Read { path, .. } => path,
            RecipeError::Syntax { file, .. }
            | RecipeError::Invalid { file, .. }
            | RecipeError::Template { file, .. }
            | RecipeError::Duplicate { file, .. } => file,
        }
    }

    /// The key path at fault (`versions[1].requirements.add[0]`), when known.
    pub fn key(&self) -> Option<&str> {
        match self {
            RecipeError::Syntax { key, .. } => key.as_deref(),
            RecipeError::Invalid { key, .. } | RecipeError::Template { key, .. } => Some(key),
            RecipeError::Read { .. } | RecipeError::Duplicate { .. } => None,
        }
    }

    /// The line and column of the value at fault, when known.
    pub fn position(&self) -> Option<Position> {
        match self {
            RecipeError::Syntax { position, .. }
            | RecipeError::Invalid { position, .. }
            | RecipeError::Template { position, .. } => *position,
            RecipeError::Read { .. } | RecipeError::Duplicate { .. } => None,
        }
    }
}

/// Every error found in a recipe, in line order (errors without a line first), each with its
/// file, key path and position: one check reports them all, so that a recipe with four
/// mistakes takes one run to fix, not four. Never empty.
#[derive(Debug)]
pub struct RecipeErrors(Vec<RecipeError>);

impl RecipeErrors {
    /// The errors sorted by line and column, repeats dropped (a top-level value is checked
    /// alone and with each `versions` entry, and is still one mistake); None when empty.
    pub fn new(mut errors: Vec<RecipeError>) -> Option<Self> {
        errors.sort_by_key(|error| error.position().map(|position| (position.line, position.column)));
        let mut seen = std::collections::HashSet::new();
        errors.retain(|error| seen.insert(error.to_string()));
        (!errors.is_empty()).then_some(RecipeErrors(errors))
    }

    /// The errors, in line order.
    pub fn errors(&self) -> &[RecipeError] {
        &self.0
    }

    pub fn iter(&self) -> std::slice::Iter<'_, RecipeError> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always false: there is at least one error.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_vec(self) -> Vec<RecipeError> {
        self.0
    }
}

impl From<RecipeError> for RecipeErrors {
    fn from(error: RecipeError) -> Self {
        RecipeErrors(vec![error])
    }
}

impl IntoIterator for RecipeErrors {
    type Item = RecipeError;
    type IntoIter = std::vec::IntoIter<RecipeError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a RecipeErrors {
    type Item = &'a RecipeError;
    type IntoIter = std::slice::Iter<'a, RecipeError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// One error as itself; several as a count, then one error a line (each naming its file,
/// line, column and key, as one error does).
impl fmt::Display for RecipeErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.as_slice() {
            [only] => write!(f, "{only}"),
            errors => {
                let file = errors.first().map(RecipeError::file);
                match file.filter(|file| errors.iter().all(|error| error.file() == *file)) {
                    Some(file) => write!(f, "{} errors in {}:", errors.len(), file.display())?,
                    None => write!(f, "{} errors:", errors.len())?,
                }
                for error in errors {
                    write!(f, "\n  {error}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for RecipeErrors {}

/// The errors of one check as it goes on past each (shared by the closures that render a
/// recipe's values, hence the cell).
#[derive(Debug, Default)]
pub(super) struct Collected(std::cell::RefCell<Vec<RecipeError>>);

impl Collected {
    pub(super) fn push(&self, error: RecipeError) {
        self.0.borrow_mut().push(error);
    }

    pub(super) fn extend(&self, errors: RecipeErrors) {
        self.0.borrow_mut().extend(errors);
    }

    /// The value of `result`, or None with its error kept.
    pub(super) fn ok<T>(&self, result: Result<T, RecipeError>) -> Option<T> {
        result.map_err(|error| self.push(error)).ok()
    }

    /// Like [`Collected::ok`] for a check that reports several errors.
    pub(super) fn all<T>(&self, result: Result<T, RecipeErrors>) -> Option<T> {
        result.map_err(|errors| self.extend(errors)).ok()
    }

    /// `value` when nothing went wrong, else every error kept. `file` names the recipe in the
    /// (unexpected) case of no value and no error.
    pub(super) fn finish<T>(self, value: Option<T>, file: &Path) -> Result<T, RecipeErrors> {
        match (RecipeErrors::new(self.0.into_inner()), value) {
            (Some(errors), _) => Err(errors),
            (None, Some(value)) => Ok(value),
            (None, None) => Err(RecipeErrors::from(RecipeError::Syntax {
                file: file.to_path_buf(),
                key: None,
                position: None,
                message: "the recipe could not be read".to_string(),
            })),
        }
    }
}

/// A place in a recipe file: line and column, both counted from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Position {
    pub line: u32,
    pub column: u32,
}

impl Position {
    /// The position of a parser marker (its line counts from 1, its column from 0).
    pub(super) fn of(marker: &serde_saphyr::granit_parser::Marker) -> Option<Self> {
        let line = u32::try_from(marker.line()).ok().filter(|line| *line > 0)?;
        let column = u32::try_from(marker.col()).ok()?.checked_add(1)?;
        Some(Position { line, column })
    }
}

/// `file:line:column: key `path`` — the start of every located message.
pub(super) struct Place<'a> {
    pub(super) file: &'a Path,
    pub(super) key: Option<&'a str>,
    pub(super) position: Option<Position>,
}

impl<'a> Place<'a> {
    pub(super) fn new(file: &'a Path, key: Option<&'a str>, position: Option<Position>) -> Self {
        Place { file, key, position }
    }
}

impl fmt::Display for Place<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(Position { line, column }) = self.position {
            write!(f, ":{line}:{column}")?;
        }
        if let Some(key) = self.key.filter(|key| !key.is_empty()) {
            write!(f, ": key `{key}`")?;
        }
        Ok(())
    }
}

impl RecipeError {
    pub(super) fn without_value(mut self) -> Self {
        if let RecipeError::Invalid { value, .. } = &mut self {
            *value = None;
        }
        self
    }

    /// Gives an error without a position the position of `text`.
    pub(super) fn at(mut self, text: &Text) -> Self {
        if let RecipeError::Invalid { position, .. } = &mut self {
            *position = text.position;
        }
        self
    }
}

/// The first line of an error whose display draws the value with a caret under it.
pub(super) fn first_line(error: &dyn fmt::Display) -> String {
    let text = error.to_string();
    let line = text.lines().next().unwrap_or_default().trim();
    line.strip_prefix("Failed to parse version: ")
        .unwrap_or(line)
        .trim_end_matches(':')
        .to_string()
}

/// The key path of the YAML node that starts at `line`:`column` (both from 1): a YAML syntax
/// error says where it is, this says which key that is. With `shallowest`, the outermost
/// node starting there (a mapping rather than its first key).
pub(super) fn key_path_at(text: &str, line: u64, column: u64, shallowest: bool) -> Option<String> {
    use serde_saphyr::granit_parser::{Event, Parser};

    enum Frame {
        Mapping { key: Option<String>, awaiting_key: bool },
        Sequence { index: usize },
    }

    fn segment_of(frame: Option<&Frame>, scalar: Option<&str>) -> Option<String> {
        match frame {
            None => None,
            Some(Frame::Mapping { key, awaiting_key }) => {
                let name = if *awaiting_key { scalar } else { key.as_deref() };
                Some(name.unwrap_or("?").to_string())
            }
            Some(Frame::Sequence { index }) => Some(format!("[{index}]")),
        }
    }

    fn join(segments: &[String]) -> String {
        let mut path = String::new();
        for segment in segments {
            if !path.is_empty() && !segment.starts_with('[') {
                path.push('.');
            }
            path.push_str(segment);
        }
        path
    }

    /// A node inside `frame` is complete: move to the next key, value or index.
    fn finish(frame: Option<&mut Frame>, scalar: Option<&str>) {
        match frame {
            Some(Frame::Mapping { key, awaiting_key }) => {
                if *awaiting_key {
                    *key = scalar.map(str::to_string);
                }
                *awaiting_key = !*awaiting_key;
            }
            Some(Frame::Sequence { index }) => *index += 1,
            None => {}
        }
    }

    let mut frames: Vec<Frame> = Vec::new();
    let mut segments: Vec<String> = Vec::new();
    let mut found = None;
    for item in Parser::new_from_str(text) {
        let Ok((event, span)) = item else { break };
        let scalar = match &event {
            Event::Scalar(value, ..) => Some(value.as_ref()),
            _ => None,
        };
        let is_node = matches!(
            event,
            Event::Scalar(..) | Event::SequenceStart(..) | Event::MappingStart(..) | Event::Alias(..)
        );
        if is_node {
            let segment = segment_of(frames.last(), scalar);
            let here = span.start.line() as u64 == line && span.start.col() as u64 + 1 == column;
            if here && !(shallowest && found.is_some()) {
                let mut path = segments.clone();
                path.extend(segment.clone());
                found = Some(join(&path));
            }
            match event {
                Event::SequenceStart(..) => {
                    segments.push(segment.unwrap_or_default());
                    frames.push(Frame::Sequence { index: 0 });
                }
                Event::MappingStart(..) => {
                    segments.push(segment.unwrap_or_default());
                    frames.push(Frame::Mapping {
                        key: None,
                        awaiting_key: true,
                    });
                }
                _ => finish(frames.last_mut(), scalar),
            }
        } else if matches!(event, Event::SequenceEnd | Event::MappingEnd) {
            frames.pop();
            segments.pop();
            finish(frames.last_mut(), None);
        }
    }
    found.map(|path| path.trim_start_matches('.').to_string())
}
