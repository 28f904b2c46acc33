//! The build record wheelbuild writes beside each wheel (`<wheel file name>.json`), as
//! cp-wheels reads it: which file it describes (`sha256`) and how that file's smoke test went
//! (`test.status`: `passed`, `failed` or `not run`, with `test.error`) and whether it was held
//! back (`held`: libraries nodes of its layer do not have). A wheel whose own record says its
//! test did not pass, or that it is held, is not staged; wheels without a record (built by
//! other tools) are judged as before.

use std::path::{Path, PathBuf};

/// The largest record read: wheelbuild's are a few kilobytes.
const MAX_RECORD_SIZE: u64 = 16 << 20;

/// How the smoke test of the described wheel went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestStatus {
    Passed,
    Failed,
    NotRun,
}

/// `test`: its status, and the error of a failed test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestOutcome {
    pub status: TestStatus,
    pub error: Option<String>,
}

/// The keys cp-wheels reads; the others (build, changes, destination...) are wheelbuild's
/// business.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildRecord {
    /// The sha256 (hex) of the wheel file it describes.
    pub sha256: Option<String>,
    /// None in records written before wheelbuild recorded its test.
    pub test: Option<TestOutcome>,
    /// Why the wheel is held back (empty: it is not).
    pub held: Vec<String>,
}

/// A JSON value's type, for messages.
fn type_of(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Why a build record cannot be read; each quotes the key and what it holds.
#[derive(Debug, thiserror::Error)]
pub enum InvalidBuildRecord {
    #[error("{0}")]
    Json(serde_json::Error),
    #[error("it is larger than {0} bytes")]
    TooLarge(u64),
    /// What it holds instead (`an array`).
    #[error("it holds {0}, not an object")]
    NotAnObject(&'static str),
    #[error("`sha256` is {0}, not a string")]
    Sha256NotAString(serde_json::Value),
    #[error("`test.status` is `{0}`; expected `passed`, `failed` or `not run`")]
    UnknownStatus(String),
    #[error("`test.status` is {0}, not a string")]
    StatusNotAString(serde_json::Value),
    #[error("`test` has no `status`")]
    NoStatus,
    #[error("`test.error` is {0}, not a string")]
    ErrorNotAString(serde_json::Value),
    #[error("`test` is {} ({}), not an object with `status`", .0, type_of(.0))]
    TestNotAnObject(serde_json::Value),
    #[error("`held` is {0}, not a list of strings")]
    HeldNotAList(serde_json::Value),
}

impl BuildRecord {
    /// Parses a record; the error quotes the key and what it holds.
    pub fn parse(text: &[u8]) -> Result<Self, InvalidBuildRecord> {
        use serde_json::Value;
        let value: Value = serde_json::from_slice(text).map_err(InvalidBuildRecord::Json)?;
        let Value::Object(record) = &value else {
            return Err(InvalidBuildRecord::NotAnObject(type_of(&value)));
        };
        let sha256 = match record.get("sha256") {
            None | Some(Value::Null) => None,
            Some(Value::String(sha256)) => Some(sha256.clone()),
            Some(other) => return Err(InvalidBuildRecord::Sha256NotAString(other.clone())),
        };
        let test = match record.get("test") {
            None => None,
            Some(Value::Object(test)) => Some(parse_test(test)?),
            Some(other) => return Err(InvalidBuildRecord::TestNotAnObject(other.clone())),
        };
        let held = match record.get("held") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) if items.iter().all(Value::is_string) => items
                .iter()
                .filter_map(|item| item.as_str().map(str::to_string))
                .collect(),
            Some(other) => return Err(InvalidBuildRecord::HeldNotAList(other.clone())),
        };
        Ok(BuildRecord { sha256, test, held })
    }
}

/// Reads `test`: its `status`, and the `error` of a failed test.
fn parse_test(test: &serde_json::Map<String, serde_json::Value>) -> Result<TestOutcome, InvalidBuildRecord> {
    use serde_json::Value;
    let status = match test.get("status") {
        Some(Value::String(status)) => match status.as_str() {
            "passed" => TestStatus::Passed,
            "failed" => TestStatus::Failed,
            "not run" => TestStatus::NotRun,
            _ => return Err(InvalidBuildRecord::UnknownStatus(status.clone())),
        },
        Some(other) => return Err(InvalidBuildRecord::StatusNotAString(other.clone())),
        None => return Err(InvalidBuildRecord::NoStatus),
    };
    let error = match test.get("error") {
        None | Some(Value::Null) => None,
        Some(Value::String(error)) => Some(error.clone()),
        Some(other) => return Err(InvalidBuildRecord::ErrorNotAString(other.clone())),
    };
    Ok(TestOutcome { status, error })
}

/// What a record says about the wheel beside it, when it does describe that wheel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordCheck {
    /// No record beside the wheel.
    Absent,
    /// The record describes these bytes and does not object: the test passed, or (a record
    /// from before wheelbuild wrote `test`) it says nothing of a test.
    Passed { path: PathBuf },
    /// The record describes other bytes (the wheel was rebuilt or changed since): it says
    /// nothing about this one.
    OtherFile { path: PathBuf, warning: String },
}

/// Why a wheel's own build record refuses it.
#[derive(Debug, thiserror::Error)]
pub enum BuildRecordError {
    #[error("its build record `{}` cannot be read: {error}", path.display())]
    Unreadable { path: PathBuf, error: std::io::Error },
    #[error("its build record `{}` does not parse: {reason}", path.display())]
    Invalid {
        path: PathBuf,
        reason: InvalidBuildRecord,
    },
    #[error("its build record `{}` says the smoke test failed: {}", path.display(), error.as_deref().unwrap_or("no error was recorded"))]
    TestFailed { path: PathBuf, error: Option<String> },
    #[error("its build record `{}` says it was never smoke-tested", path.display())]
    NeverTested { path: PathBuf },
    #[error(
        "its build record `{}` says it is held back: {}; nodes of its layer cannot load it (load the module that provides the library in its recipe, or list the library in the layout's system_libraries, then rebuild)",
        path.display(),
        reasons.join("; ")
    )]
    Held { path: PathBuf, reasons: Vec<String> },
}

/// Where the record of `wheel` is: `<wheel path>.json`.
pub fn record_path(wheel: &Path) -> PathBuf {
    let mut name = wheel.as_os_str().to_owned();
    name.push(".json");
    PathBuf::from(name)
}

/// Judges the record text `text`, found at `path`, for a wheel whose whole-file sha256 is
/// `wheel_sha256` (hex).
pub fn judge(path: &Path, text: &[u8], wheel_sha256: &str) -> Result<RecordCheck, BuildRecordError> {
    let record = BuildRecord::parse(text).map_err(|reason| BuildRecordError::Invalid {
        path: path.to_path_buf(),
        reason,
    })?;
    let path = path.to_path_buf();
    match record.sha256.as_deref() {
        Some(recorded) if recorded.eq_ignore_ascii_case(wheel_sha256) => {}
        Some(recorded) => {
            return Ok(RecordCheck::OtherFile {
                warning: format!(
                    "the build record `{}` is for other bytes (sha256 {recorded}, the wheel's is {wheel_sha256}): ignored",
                    path.display()
                ),
                path,
            });
        }
        None => {
            return Ok(RecordCheck::OtherFile {
                warning: format!(
                    "the build record `{}` gives no sha256, so it cannot say which wheel it describes: ignored",
                    path.display()
                ),
                path,
            });
        }
    }
    if !record.held.is_empty() {
        return Err(BuildRecordError::Held {
            path,
            reasons: record.held,
        });
    }
    match record.test {
        None
        | Some(TestOutcome {
            status: TestStatus::Passed,
            ..
        }) => Ok(RecordCheck::Passed { path }),
        Some(TestOutcome {
            status: TestStatus::Failed,
            error,
        }) => Err(BuildRecordError::TestFailed { path, error }),
        Some(TestOutcome {
            status: TestStatus::NotRun,
            ..
        }) => Err(BuildRecordError::NeverTested { path }),
    }
}

/// Reads and judges the record beside `wheel`, if there is one.
pub fn check_build_record(wheel: &Path, wheel_sha256: &str) -> Result<RecordCheck, BuildRecordError> {
    use std::io::Read as _;
    let path = record_path(wheel);
    let unreadable = |error| BuildRecordError::Unreadable {
        path: path.clone(),
        error,
    };
    let file = match fs_err::File::open(&path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(RecordCheck::Absent),
        Err(error) => return Err(unreadable(error)),
    };
    let mut text = Vec::new();
    file.take(MAX_RECORD_SIZE + 1)
        .read_to_end(&mut text)
        .map_err(unreadable)?;
    if text.len() as u64 > MAX_RECORD_SIZE {
        return Err(BuildRecordError::Invalid {
            path,
            reason: InvalidBuildRecord::TooLarge(MAX_RECORD_SIZE),
        });
    }
    judge(&path, &text, wheel_sha256)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn judged(text: &str) -> Result<RecordCheck, BuildRecordError> {
        judge(Path::new("stage/a.whl.json"), text.as_bytes(), SHA)
    }

    #[test]
    fn a_record_of_these_bytes_decides_by_its_test() {
        let record =
            |test: &str| format!(r#"{{"wheel": "a.whl", "sha256": "{SHA}", "test": {test}, "build": {{}}}}"#);
        assert!(matches!(
            judged(&record(r#"{"status": "passed"}"#)),
            Ok(RecordCheck::Passed { .. })
        ));
        assert_eq!(
            judged(&record(
                r#"{"status": "failed", "error": "ImportError: libfoo.so.1"}"#
            ))
            .unwrap_err()
            .to_string(),
            "its build record `stage/a.whl.json` says the smoke test failed: ImportError: libfoo.so.1"
        );
        assert_eq!(
            judged(&record(r#"{"status": "failed"}"#))
                .unwrap_err()
                .to_string(),
            "its build record `stage/a.whl.json` says the smoke test failed: no error was recorded"
        );
        assert_eq!(
            judged(&record(r#"{"status": "not run", "error": null}"#))
                .unwrap_err()
                .to_string(),
            "its build record `stage/a.whl.json` says it was never smoke-tested"
        );
        // The sha256 in upper case is the same hash.
        let upper = format!(
            r#"{{"sha256": "{}", "test": {{"status": "failed"}}}}"#,
            SHA.to_uppercase()
        );
        assert!(matches!(judged(&upper), Err(BuildRecordError::TestFailed { .. })));
        // A record from before `test` existed says nothing against the wheel.
        assert!(matches!(
            judged(&format!(r#"{{"sha256": "{SHA}"}}"#)),
            Ok(RecordCheck::Passed { .. })
        ));
    }

    #[test]
    fn a_held_wheel_is_refused_with_its_reasons() {
        let held = format!(
            r#"{{"sha256": "{SHA}", "test": {{"status": "passed"}}, "held": ["`libfoo.so.1` was found at /usr/lib/libfoo.so.1 on the build host"]}}"#
        );
        let error = judged(&held).unwrap_err().to_string();
        assert!(
            error.starts_with(
                "its build record `stage/a.whl.json` says it is held back: `libfoo.so.1` was found"
            ),
            "{error}"
        );
        assert!(matches!(
            judged(&format!(
                r#"{{"sha256": "{SHA}", "test": {{"status": "passed"}}, "held": []}}"#
            )),
            Ok(RecordCheck::Passed { .. })
        ));
        let error = judged(&format!(r#"{{"sha256": "{SHA}", "held": "yes"}}"#))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("`held` is \"yes\", not a list of strings"),
            "{error}"
        );
    }

    #[test]
    fn a_record_of_other_bytes_is_ignored_with_a_warning() {
        let other = "f".repeat(64);
        let check = judged(&format!(
            r#"{{"sha256": "{other}", "test": {{"status": "failed"}}}}"#
        ))
        .unwrap();
        let RecordCheck::OtherFile { warning, .. } = check else {
            panic!("{check:?}");
        };
        assert!(
            warning.contains(&format!("sha256 {other}, the wheel's is {SHA}")),
            "{warning}"
        );
        let check = judged(r#"{"sha256": null, "test": {"status": "failed"}}"#).unwrap();
        assert!(matches!(check, RecordCheck::OtherFile { .. }), "{check:?}");
    }

    #[test]
    fn a_damaged_record_refuses_with_the_parse_error() {
        for (text, expected) in [
            ("{\"sha256\": ", "EOF while parsing a value at line 1 column 11"),
            ("[\"abc\"]", "it holds an array, not an object"),
            (
                &format!(r#"{{"sha256": "{SHA}", "test": {{"status": "skipped"}}}}"#),
                "`test.status` is `skipped`; expected `passed`, `failed` or `not run`",
            ),
            (r#"{"sha256": 12}"#, "`sha256` is 12, not a string"),
            (
                &format!(r#"{{"sha256": "{SHA}", "test": "passed"}}"#),
                "`test` is \"passed\" (a string), not an object with `status`",
            ),
            (
                &format!(r#"{{"sha256": "{SHA}", "test": {{}}}}"#),
                "`test` has no `status`",
            ),
        ] {
            let error = judged(text).unwrap_err();
            assert!(
                matches!(error, BuildRecordError::Invalid { .. }),
                "{text}: {error}"
            );
            let message = error.to_string();
            assert!(
                message.starts_with("its build record `stage/a.whl.json` does not parse: ")
                    && message.contains(expected),
                "{text}: {message}"
            );
        }
    }

    #[test]
    fn the_record_is_read_from_beside_the_wheel() {
        let directory = tempfile::tempdir().unwrap();
        let wheel = directory.path().join("a-1.0+computecanada-py3-none-any.whl");
        assert_eq!(
            record_path(&wheel),
            directory.path().join("a-1.0+computecanada-py3-none-any.whl.json")
        );
        assert_eq!(check_build_record(&wheel, SHA).unwrap(), RecordCheck::Absent);
        fs_err::write(
            record_path(&wheel),
            format!(r#"{{"sha256": "{SHA}", "test": {{"status": "not run"}}}}"#),
        )
        .unwrap();
        assert!(matches!(
            check_build_record(&wheel, SHA),
            Err(BuildRecordError::NeverTested { .. })
        ));
    }
}
