//! Pure wheel-format code: filenames, tags, METADATA, WHEEL, RECORD and requirement edits.
//!
//! Nothing in this module touches the disk or a zip archive: every function takes strings or
//! bytes and returns values, so each rule of the specifications is unit-tested on its own.

pub mod environment;
pub mod filename;
pub mod headers;
pub mod metadata;
pub mod record;
pub mod requirements;
pub mod version;
pub mod wheel_info;

pub use filename::{BuildTag, Tag, TagSet, WheelFilename};
pub use headers::HeaderDocument;
pub use metadata::Metadata;
pub use record::{HashAlgorithm, Record, RecordEntry, RecordHash};
pub use wheel_info::WheelInfo;

/// The PEP 503 normal form of a project name: lower case, runs of `-`, `_`, `.` become `-`.
pub fn normalize_name(name: &str) -> String {
    let mut normalized = String::with_capacity(name.len());
    let mut in_separator = false;
    for character in name.chars() {
        if matches!(character, '-' | '_' | '.') {
            in_separator = true;
        } else {
            if in_separator && !normalized.is_empty() {
                normalized.push('-');
            }
            in_separator = false;
            normalized.extend(character.to_lowercase());
        }
    }
    normalized
}

/// The escaped form of a project name used in wheel filenames and `.dist-info` directory names
/// (`Zope.Sub_Pkg` -> `zope_sub_pkg`).
pub fn escape_name(name: &str) -> String {
    normalize_name(name).replace('-', "_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_names_per_pep_503() {
        assert_eq!(normalize_name("Zope.Sub_Pkg"), "zope-sub-pkg");
        assert_eq!(normalize_name("friendly--bard"), "friendly-bard");
        assert_eq!(normalize_name("FRIENDLY-._BARD"), "friendly-bard");
        assert_eq!(normalize_name("nvidia_cublas_cu12"), "nvidia-cublas-cu12");
        assert_eq!(escape_name("Zope.Sub_Pkg"), "zope_sub_pkg");
        assert_eq!(escape_name("biopython"), "biopython");
    }
}
