//! The verdict keys of the build record wheelbuild writes beside each wheel
//! (`<wheel file name>.json`), as one set of serde types both sides use: `build::record`
//! writes them inside its `WheelRecord`, cp-wheels reads them here ([`RecordVerdict`]) — which
//! file the record describes (`sha256`), how that file's smoke test went ([`TestRecord`]:
//! `test.status` `passed`, `failed` or `not run` ([`TestStatus`]), with `test.error`) and
//! whether it was held back (`held`: libraries nodes of its layer do not have). A wheel whose
//! own record says its test did not pass, or that it is held, is not staged; wheels without a
//! record (built by other tools) are judged as before.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize};

/// The largest record read: wheelbuild's are a few kilobytes.
const MAX_RECORD_SIZE: u64 = 16 << 20;

/// How a wheel's smoke test ended, as the record beside the wheel says: `passed`, `failed`
/// or `not run`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TestStatus {
    Passed,
    Failed,
    #[serde(rename = "not run")]
    NotRun,
}

impl std::fmt::Display for TestStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

impl TestStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TestStatus::Passed => "passed",
            TestStatus::Failed => "failed",
            TestStatus::NotRun => "not run",
        }
    }
}

/// The test part of the record beside a wheel (`test`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestRecord {
    #[serde(deserialize_with = "test_status")]
    pub status: TestStatus,
    /// The error of a failed test (absent or null: none was recorded).
    #[serde(default, deserialize_with = "test_error")]
    pub error: Option<String>,
    /// What each cell's smoke test did (imports, dependencies and where they came from), by
    /// cell (`3.12 generic`): a pure or abi3 wheel is tested by several. Absent in records
    /// written before it was (they had `report` and `also_tested_by`, ignored now).
    #[serde(default)]
    pub reports: BTreeMap<String, serde_json::Value>,
}

/// The keys of the record beside a wheel that cp-wheels reads; the others (build, changes,
/// destination...) are wheelbuild's business. The same names and types as in
/// `build::record::WheelRecord`, which writes them (a test there reads a written record
/// back through this view).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RecordVerdict {
    /// The sha256 (hex) of the wheel file it describes.
    #[serde(default, deserialize_with = "sha256")]
    pub sha256: Option<String>,
    /// None in records written before wheelbuild recorded its test; null is refused.
    #[serde(default, deserialize_with = "test")]
    pub test: Option<TestRecord>,
    /// Why the wheel is held back (empty, absent or null: it is not).
    #[serde(default, deserialize_with = "held")]
    pub held: Vec<String>,
}

/// Deserializes the value of `key` with `read`, its error naming the key path: `` `test` `` +
/// `` `status`: ... `` gives `` `test.status`: ... ``.
fn keyed<'de, D, T>(
    key: &str,
    deserializer: D,
    read: impl FnOnce(D) -> Result<T, D::Error>,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
{
    read(deserializer).map_err(|error| {
        let message = error.to_string();
        let inner = message
            .strip_prefix('`')
            .and_then(|rest| rest.split_once("`: "))
            .filter(|(path, _)| !path.contains(' '));
        <D::Error as serde::de::Error>::custom(match inner {
            Some((path, rest)) => format!("`{key}.{path}`: {rest}"),
            None => format!("`{key}`: {message}"),
        })
    })
}

fn test_status<'de, D: Deserializer<'de>>(deserializer: D) -> Result<TestStatus, D::Error> {
    keyed("status", deserializer, TestStatus::deserialize)
}

fn test_error<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    keyed("error", deserializer, Option::<String>::deserialize)
}

fn sha256<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    keyed("sha256", deserializer, Option::<String>::deserialize)
}

/// `test`, when present, is an object: null is not a record of no test.
fn test<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<TestRecord>, D::Error> {
    keyed("test", deserializer, TestRecord::deserialize).map(Some)
}

fn held<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    keyed("held", deserializer, Option::<Vec<String>>::deserialize).map(Option::unwrap_or_default)
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

/// Why a build record cannot be read; the serde errors name the key path and what it holds.
#[derive(Debug, thiserror::Error)]
pub enum InvalidBuildRecord {
    /// Not JSON (the parser's message gives the line and column).
    #[error("{0}")]
    Json(serde_json::Error),
    #[error("it is larger than {0} bytes")]
    TooLarge(u64),
    /// What it holds instead (`an array`).
    #[error("it holds {0}, not an object")]
    NotAnObject(&'static str),
    /// A key of the verdict holds the wrong thing: `` `test.status`: unknown variant ... ``.
    #[error("{0}")]
    Key(serde_json::Error),
}

impl RecordVerdict {
    /// Parses the keys cp-wheels reads from a record; the error quotes the key and what it
    /// holds. An object only: serde would read an array's items as the keys in turn.
    pub fn parse(text: &[u8]) -> Result<Self, InvalidBuildRecord> {
        let value: serde_json::Value = serde_json::from_slice(text).map_err(InvalidBuildRecord::Json)?;
        if !value.is_object() {
            return Err(InvalidBuildRecord::NotAnObject(type_of(&value)));
        }
        RecordVerdict::deserialize(&value).map_err(InvalidBuildRecord::Key)
    }
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
    let record = RecordVerdict::parse(text).map_err(|reason| BuildRecordError::Invalid {
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
        | Some(TestRecord {
            status: TestStatus::Passed,
            ..
        }) => Ok(RecordCheck::Passed { path }),
        Some(TestRecord {
            status: TestStatus::Failed,
            error,
            ..
        }) => Err(BuildRecordError::TestFailed { path, error }),
        Some(TestRecord {
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
            error.contains("`held`: invalid type: string \"yes\", expected a sequence"),
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
                "`test.status`: unknown variant `skipped`, expected one of `passed`, `failed`, `not run`",
            ),
            (
                r#"{"sha256": 12}"#,
                "`sha256`: invalid type: integer `12`, expected a string",
            ),
            (
                &format!(r#"{{"sha256": "{SHA}", "test": "passed"}}"#),
                "`test`: invalid type: string \"passed\", expected struct TestRecord",
            ),
            (
                &format!(r#"{{"sha256": "{SHA}", "test": null}}"#),
                "`test`: invalid type: null, expected struct TestRecord",
            ),
            (
                &format!(r#"{{"sha256": "{SHA}", "test": {{"status": "passed", "error": 3}}}}"#),
                "`test.error`: invalid type: integer `3`, expected a string",
            ),
            (
                &format!(r#"{{"sha256": "{SHA}", "test": {{}}}}"#),
                "`test`: missing field `status`",
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
    fn records_in_the_shapes_earlier_versions_wrote_still_read() {
        // Before `reports`: the test had `report` and `also_tested_by`; no `held`.
        let before_reports = format!(
            r#"{{"wheel": "a.whl", "sha256": "{SHA}", "build": {{"package": "a"}}, "changes": [],
                "destination": null,
                "test": {{"status": "failed", "error": "boom", "report": {{"imports": []}},
                          "also_tested_by": ["3.11 generic"]}}}}"#
        );
        let verdict = RecordVerdict::parse(before_reports.as_bytes()).unwrap();
        assert_eq!(
            verdict.test,
            Some(TestRecord {
                status: TestStatus::Failed,
                error: Some("boom".to_string()),
                reports: BTreeMap::new(),
            })
        );
        assert!(verdict.held.is_empty());
        assert!(matches!(
            judged(&before_reports),
            Err(BuildRecordError::TestFailed { error: Some(error), .. }) if error == "boom"
        ));
        // Before `test`: no test, nothing against the wheel; `held` and `sha256` may be null.
        let verdict =
            RecordVerdict::parse(format!(r#"{{"sha256": "{SHA}", "held": null}}"#).as_bytes()).unwrap();
        assert_eq!(
            verdict,
            RecordVerdict {
                sha256: Some(SHA.to_string()),
                test: None,
                held: Vec::new(),
            }
        );
        assert!(matches!(
            judged(&format!(r#"{{"sha256": "{SHA}", "held": null}}"#)),
            Ok(RecordCheck::Passed { .. })
        ));
        // A test without `error`, or with a null one.
        for test in [
            r#"{"status": "passed"}"#,
            r#"{"status": "passed", "error": null}"#,
        ] {
            let verdict = RecordVerdict::parse(format!(r#"{{"test": {test}}}"#).as_bytes()).unwrap();
            assert_eq!(
                verdict.test.map(|test| (test.status, test.error)),
                Some((TestStatus::Passed, None))
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
