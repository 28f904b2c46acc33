//! Hints: the fix for an error kept as data beside its message, never in it, so that one
//! place ([`crate::cli::render_error`]) prints it on its own `hint:` line, reports add it to a
//! reason ([`with_hints`]), and tests read it apart from the message. A library error that
//! knows its fix implements [`Hint`]; `anyhow` code attaches one with [`HintExt`].

use std::fmt;

/// An error with the fix the user can apply. Its message is the wrapped error's own (the hint
/// is not part of it); its causes are the wrapped error's causes.
#[derive(Debug)]
pub struct Hinted {
    error: anyhow::Error,
    hint: String,
}

impl Hinted {
    /// The fix, one line.
    pub fn hint(&self) -> &str {
        &self.hint
    }
}

impl fmt::Display for Hinted {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}", self.error)
    }
}

impl std::error::Error for Hinted {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.error.source()
    }
}

/// Attaches a hint to an error (`.hint("pass --allow-shrink ...")`).
pub trait HintExt<T> {
    /// The error of this result, with `hint` as its fix.
    fn hint(self, hint: impl Into<String>) -> anyhow::Result<T>;
    /// As [`HintExt::hint`], the hint computed only on error.
    fn with_hint<H: Into<String>>(self, hint: impl FnOnce() -> H) -> anyhow::Result<T>;
}

impl<T, E: Into<anyhow::Error>> HintExt<T> for Result<T, E> {
    fn hint(self, hint: impl Into<String>) -> anyhow::Result<T> {
        self.map_err(|error| {
            anyhow::Error::new(Hinted {
                error: error.into(),
                hint: hint.into(),
            })
        })
    }

    fn with_hint<H: Into<String>>(self, hint: impl FnOnce() -> H) -> anyhow::Result<T> {
        self.map_err(|error| {
            anyhow::Error::new(Hinted {
                error: error.into(),
                hint: hint().into(),
            })
        })
    }
}

/// The first error of type `T` in an error's chain, looking through hints (a hinted error is
/// one link of the chain that holds the error it wraps).
pub fn find_cause<T>(error: &anyhow::Error) -> Option<&T>
where
    T: std::error::Error + Send + Sync + 'static,
{
    error.chain().find_map(|cause| {
        cause.downcast_ref::<T>().or_else(|| {
            cause
                .downcast_ref::<Hinted>()
                .and_then(|hinted| hinted.error.downcast_ref::<T>())
        })
    })
}

/// An error that knows the fix the user can apply (or whose wrapped error does).
pub trait Hint {
    /// The fix, one line; `None` when there is none.
    fn hint(&self) -> Option<String>;
}

/// The hints of one link of an error chain: a library error's own; for a hinted error, those
/// of the error it wraps, then the one attached to it.
fn hints_at(cause: &(dyn std::error::Error + 'static)) -> Vec<String> {
    match cause.downcast_ref::<Hinted>() {
        Some(hinted) => {
            let mut hints: Vec<String> = hinted.error.chain().flat_map(hints_at).collect();
            hints.push(hinted.hint.clone());
            hints
        }
        None => hint_of(cause).into_iter().collect(),
    }
}

/// The hint of a library error that knows its fix.
fn hint_of(cause: &(dyn std::error::Error + 'static)) -> Option<String> {
    macro_rules! known {
        ($($type:ty),* $(,)?) => {
            $(if let Some(error) = cause.downcast_ref::<$type>() {
                return error.hint();
            })*
        };
    }
    known!(
        crate::tools::CommandFailed,
        crate::build::BuildError,
        crate::nightly::NightlyError,
        crate::wheelhouse::tree::RootError,
        crate::wheelhouse::index::IndexError,
        crate::wheelhouse::check::CheckError,
        crate::wheelhouse::check::RequirementsFileError,
        crate::wheelhouse::check::StalenessError,
    );
    None
}

/// Every hint anywhere in an error's chain, outermost first, each once.
pub fn hints_of(error: &anyhow::Error) -> Vec<String> {
    let mut hints: Vec<String> = Vec::new();
    for hint in error.chain().flat_map(hints_at) {
        if !hints.contains(&hint) {
            hints.push(hint);
        }
    }
    hints
}

/// The hints of a library error's chain (itself and its sources), outermost first, each once.
pub fn hints_of_error(error: &(dyn std::error::Error + 'static)) -> Vec<String> {
    let mut hints: Vec<String> = Vec::new();
    let mut link = Some(error);
    while let Some(cause) = link {
        for hint in hints_at(cause) {
            if !hints.contains(&hint) {
                hints.push(hint);
            }
        }
        link = cause.source();
    }
    hints
}

/// `text` with a `hint:` line for each hint of `error`: a reason in a report, where there is no
/// renderer to add them.
pub fn with_hints(text: String, error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = text;
    for hint in hints_of_error(error) {
        text.push_str(&format!("\nhint: {hint}"));
    }
    text
}
