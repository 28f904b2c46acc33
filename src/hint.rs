//! Hints: the fix for an error kept as data beside its message, so that one place
//! ([`crate::cli::render_error`]) prints it on its own `hint:` line, and tests can read it
//! apart from the message.

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

/// Every hint attached anywhere in an error's chain, outermost first.
pub fn hints_of(error: &anyhow::Error) -> Vec<&str> {
    error
        .chain()
        .filter_map(|cause| cause.downcast_ref::<Hinted>())
        .map(Hinted::hint)
        .collect()
}
