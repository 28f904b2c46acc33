//! METADATA (core metadata 1.0-2.4): the fields wheelwright reads and the edits it makes.

use std::str::FromStr;

use pep440_rs::Version;

use super::headers::{FieldEdit, HeaderDocument};
use super::requirements::{RequirementError, RequirementPlan};

/// A METADATA file that cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MetadataError {
    #[error("METADATA has no `{0}` field")]
    Missing(&'static str),
    #[error("METADATA `Version: {text}` is not a PEP 440 version: {reason}")]
    InvalidVersion { text: String, reason: String },
    #[error("METADATA `Metadata-Version: {0}` is not a version this tool knows (1.0 to 2.x)")]
    UnknownMetadataVersion(String),
    #[error("METADATA Requires-Dist: {0}")]
    Requirement(#[from] RequirementError),
}

/// A METADATA document with typed access to the fields we use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    document: HeaderDocument,
}

impl Metadata {
    pub fn parse(bytes: &[u8]) -> Result<Self, MetadataError> {
        let metadata = Metadata {
            document: HeaderDocument::parse(bytes),
        };
        if let Some(version) = metadata.document.get("Metadata-Version") {
            let known = matches!(version.split('.').next(), Some("1" | "2"));
            if !known {
                return Err(MetadataError::UnknownMetadataVersion(version));
            }
        }
        metadata.name()?;
        metadata.version()?;
        Ok(metadata)
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        self.document.to_bytes()
    }

    pub fn name(&self) -> Result<String, MetadataError> {
        self.document
            .get("Name")
            .filter(|name| !name.is_empty())
            .ok_or(MetadataError::Missing("Name"))
    }

    pub fn version(&self) -> Result<Version, MetadataError> {
        let text = self
            .document
            .get("Version")
            .ok_or(MetadataError::Missing("Version"))?;
        Version::from_str(&text).map_err(|err| MetadataError::InvalidVersion {
            text,
            reason: err.to_string(),
        })
    }

    pub fn metadata_version(&self) -> Option<String> {
        self.document.get("Metadata-Version")
    }

    /// `Requires-Python`, as written.
    pub fn requires_python(&self) -> Option<String> {
        self.document
            .get("Requires-Python")
            .filter(|text| !text.trim().is_empty())
    }

    /// The Requires-Dist values, as written.
    pub fn requires_dist(&self) -> Vec<String> {
        self.document.get_all("Requires-Dist")
    }

    /// Sets `Version:`; returns whether it changed.
    pub fn set_version(&mut self, version: &Version) -> bool {
        if self.version().ok().as_ref() == Some(version) {
            return false;
        }
        self.document.set("Version", &version.to_string())
    }

    /// Applies a requirement plan computed from [`Self::requires_dist`].
    pub fn apply_requirements(&mut self, plan: &RequirementPlan) {
        let mut decisions = plan.decisions.iter();
        self.document.edit("Requires-Dist", |_| {
            decisions.next().cloned().unwrap_or(FieldEdit::Keep)
        });
        self.document.insert_after_last("Requires-Dist", &plan.additions);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::requirements::{RequirementEdit, plan};

    const NUMPY: &str = "Metadata-Version: 2.1\nName: numpy\nVersion: 2.2.6\nSummary: Fundamental package for array computing in Python\nLicense: Copyright (c) 2005-2024, NumPy Developers.\n All rights reserved.\n\n Redistribution and use in source and binary forms\nClassifier: Programming Language :: C\nRequires-Python: >=3.10\nDescription-Content-Type: text/markdown\n\n<h1 align=\"center\">\n";

    #[test]
    fn reads_fields_of_real_metadata() {
        let metadata = Metadata::parse(NUMPY.as_bytes()).unwrap();
        assert_eq!(metadata.name().unwrap(), "numpy");
        assert_eq!(metadata.version().unwrap().to_string(), "2.2.6");
        assert_eq!(metadata.metadata_version().as_deref(), Some("2.1"));
        assert!(metadata.requires_dist().is_empty());
        assert_eq!(metadata.to_bytes(), NUMPY.as_bytes());
    }

    #[test]
    fn edits_version_and_requirements_in_place() {
        let text = "Metadata-Version: 2.4\nName: demo\nVersion: 1.0\nDynamic: license-file\nLicense-File: LICENSE\nRequires-Dist: nvidia-cufft-cu12; extra == \"cuda\"\nRequires-Dist: six\nProvides-Extra: cuda\n\nbody\n";
        let mut metadata = Metadata::parse(text.as_bytes()).unwrap();
        assert!(metadata.set_version(&Version::from_str("1.0+computecanada").unwrap()));
        let rule =
            crate::spec::requirements::NameRule::new("nvidia", &["nvidia-*".to_string()], &[]).unwrap();
        let edits = [
            RequirementEdit::Strip(rule),
            RequirementEdit::add("numpy>=2").unwrap(),
        ];
        let plan = plan(&metadata.requires_dist(), &edits).unwrap();
        metadata.apply_requirements(&plan);
        assert_eq!(
            String::from_utf8(metadata.to_bytes()).unwrap(),
            "Metadata-Version: 2.4\nName: demo\nVersion: 1.0+computecanada\nDynamic: license-file\nLicense-File: LICENSE\nRequires-Dist: six\nRequires-Dist: numpy>=2\nProvides-Extra: cuda\n\nbody\n"
        );
    }

    #[test]
    fn rejects_unusable_metadata() {
        assert_eq!(
            Metadata::parse(b"Name: x\n").unwrap_err(),
            MetadataError::Missing("Version")
        );
        assert_eq!(
            Metadata::parse(b"Version: 1\n").unwrap_err(),
            MetadataError::Missing("Name")
        );
        assert!(matches!(
            Metadata::parse(b"Name: x\nVersion: one\n").unwrap_err(),
            MetadataError::InvalidVersion { .. }
        ));
        assert!(matches!(
            Metadata::parse(b"Metadata-Version: 3.0\nName: x\nVersion: 1\n").unwrap_err(),
            MetadataError::UnknownMetadataVersion(_)
        ));
        for version in ["1.0", "1.1", "1.2", "2.0", "2.1", "2.2", "2.3", "2.4"] {
            let text = format!("Metadata-Version: {version}\nName: x\nVersion: 1\n");
            assert!(Metadata::parse(text.as_bytes()).is_ok(), "{version}");
        }
    }
}
