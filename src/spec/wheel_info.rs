//! The `.dist-info/WHEEL` file: `Wheel-Version`, `Root-Is-Purelib`, `Tag:` lines, `Build:`.

use super::filename::{InvalidTag, Tag, TagSet};
use super::headers::HeaderDocument;

/// A WHEEL file that cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WheelInfoError {
    #[error("WHEEL has no `Wheel-Version` field")]
    MissingVersion,
    #[error("WHEEL `Wheel-Version: {0}` has a major version this tool does not support (1.x)")]
    UnsupportedVersion(String),
    #[error("WHEEL `Root-Is-Purelib: {0}` is neither true nor false")]
    InvalidPurelib(String),
    #[error("WHEEL `Tag: {tag}`: {reason}")]
    InvalidTag { tag: String, reason: InvalidTag },
}

/// A WHEEL document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WheelInfo {
    document: HeaderDocument,
}

impl WheelInfo {
    pub fn parse(bytes: &[u8]) -> Result<Self, WheelInfoError> {
        let info = WheelInfo {
            document: HeaderDocument::parse(bytes),
        };
        let version = info
            .document
            .get("Wheel-Version")
            .ok_or(WheelInfoError::MissingVersion)?;
        if version.split('.').next() != Some("1") {
            return Err(WheelInfoError::UnsupportedVersion(version));
        }
        info.root_is_purelib()?;
        info.tags()?;
        Ok(info)
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        self.document.to_bytes()
    }

    pub fn root_is_purelib(&self) -> Result<bool, WheelInfoError> {
        match self.document.get("Root-Is-Purelib") {
            None => Ok(false),
            Some(value) if value.eq_ignore_ascii_case("true") => Ok(true),
            Some(value) if value.eq_ignore_ascii_case("false") => Ok(false),
            Some(value) => Err(WheelInfoError::InvalidPurelib(value)),
        }
    }

    pub fn tags(&self) -> Result<Vec<Tag>, WheelInfoError> {
        self.document
            .get_all("Tag")
            .into_iter()
            .map(|tag| {
                tag.parse().map_err(|reason| WheelInfoError::InvalidTag {
                    tag: tag.clone(),
                    reason,
                })
            })
            .collect()
    }

    pub fn build(&self) -> Option<String> {
        self.document.get("Build")
    }

    /// Writes one `Tag:` line per tag of `tags`; returns whether anything changed.
    pub fn set_tags(&mut self, tags: &TagSet) -> bool {
        let lines: Vec<String> = tags.expand().iter().map(ToString::to_string).collect();
        self.document.replace_all("Tag", &lines)
    }

    /// Sets `Root-Is-Purelib`; returns whether it changed.
    pub fn set_root_is_purelib(&mut self, purelib: bool) -> bool {
        if self.root_is_purelib().ok() == Some(purelib) {
            return false;
        }
        self.document
            .set("Root-Is-Purelib", if purelib { "true" } else { "false" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WHEEL: &str = "Wheel-Version: 1.0\nGenerator: bdist_wheel (0.45.1)\nRoot-Is-Purelib: false\nTag: cp312-cp312-manylinux_2_17_x86_64\nTag: cp312-cp312-manylinux2014_x86_64\n\n";

    #[test]
    fn reads_and_retags() {
        let mut info = WheelInfo::parse(WHEEL.as_bytes()).unwrap();
        assert!(!info.root_is_purelib().unwrap());
        assert_eq!(info.tags().unwrap().len(), 2);
        assert!(info.set_tags(&TagSet::parse("cp312-cp312-linux_x86_64").unwrap()));
        assert_eq!(
            String::from_utf8(info.to_bytes()).unwrap(),
            "Wheel-Version: 1.0\nGenerator: bdist_wheel (0.45.1)\nRoot-Is-Purelib: false\nTag: cp312-cp312-linux_x86_64\n\n"
        );
        assert!(!info.set_root_is_purelib(false));
        assert!(info.set_root_is_purelib(true));
        assert!(info.root_is_purelib().unwrap());
    }

    #[test]
    fn rejects_bad_wheel_files() {
        assert_eq!(
            WheelInfo::parse(b"Tag: py3-none-any\n").unwrap_err(),
            WheelInfoError::MissingVersion
        );
        assert!(matches!(
            WheelInfo::parse(b"Wheel-Version: 2.0\n").unwrap_err(),
            WheelInfoError::UnsupportedVersion(_)
        ));
        assert!(matches!(
            WheelInfo::parse(b"Wheel-Version: 1.0\nRoot-Is-Purelib: maybe\n").unwrap_err(),
            WheelInfoError::InvalidPurelib(_)
        ));
        assert!(matches!(
            WheelInfo::parse(b"Wheel-Version: 1.0\nTag: py3-none\n").unwrap_err(),
            WheelInfoError::InvalidTag { .. }
        ));
    }
}
