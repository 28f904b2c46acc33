//! Local version labels: `1.85` -> `1.85+computecanada`, `2.7.1+cpu` -> `2.7.1+cpu.computecanada`.

use std::str::FromStr;

use pep440_rs::Version;

/// A local version label or tag is not a valid PEP 440 local segment list.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("`{label}` is not a valid local version label: use letters and digits, with `.` between segments")]
pub struct InvalidLabel {
    pub label: String,
}

fn check_label(label: &str) -> Result<(), InvalidLabel> {
    let valid = !label.is_empty()
        && label
            .split('.')
            .all(|segment| !segment.is_empty() && segment.chars().all(|c| c.is_ascii_alphanumeric()));
    if valid {
        Ok(())
    } else {
        Err(InvalidLabel {
            label: label.to_string(),
        })
    }
}

/// The lower-cased segments of a version's local part, as PEP 440 compares them.
fn local_segments(version: &Version) -> Vec<String> {
    version
        .local()
        .iter()
        .map(|segment| segment.to_string().to_ascii_lowercase())
        .collect()
}

fn contains_all(haystack: &[String], label: &str) -> bool {
    let wanted: Vec<String> = label.split('.').map(str::to_ascii_lowercase).collect();
    haystack
        .windows(wanted.len())
        .any(|window| window == wanted.as_slice())
}

fn with_local(version: &Version, segments: &[String]) -> Version {
    let public = version.clone().without_local();
    if segments.is_empty() {
        return public;
    }
    let text = format!("{public}+{}", segments.join("."));
    // The public part came from a valid version and every segment was checked, so the text
    // is a valid version; fall back to the input rather than panic if that ever changes.
    Version::from_str(&text).unwrap_or_else(|_| version.clone())
}

/// Appends `label` as the last local segment unless the local part already carries it.
pub fn insert_local_label(version: &Version, label: &str) -> Result<Version, InvalidLabel> {
    check_label(label)?;
    let mut segments = local_segments(version);
    if contains_all(&segments, label) {
        return Ok(version.clone());
    }
    segments.extend(label.split('.').map(str::to_ascii_lowercase));
    Ok(with_local(version, &segments))
}

/// Puts `tag` first in the local part (`+torch26.computecanada`) unless it is already there.
pub fn add_local_tag(version: &Version, tag: &str) -> Result<Version, InvalidLabel> {
    check_label(tag)?;
    let segments = local_segments(version);
    if contains_all(&segments, tag) {
        return Ok(version.clone());
    }
    let mut new_segments: Vec<String> = tag.split('.').map(str::to_ascii_lowercase).collect();
    new_segments.extend(segments);
    Ok(with_local(version, &new_segments))
}

/// Whether the version's local part carries `label` (as whole segments).
pub fn has_local_label(version: &Version, label: &str) -> bool {
    contains_all(&local_segments(version), label)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> Version {
        Version::from_str(text).unwrap()
    }

    #[test]
    fn inserts_the_label() {
        let label = "computecanada";
        assert_eq!(
            insert_local_label(&v("1.85"), label).unwrap().to_string(),
            "1.85+computecanada"
        );
        assert_eq!(
            insert_local_label(&v("2.7.1+cpu"), label).unwrap().to_string(),
            "2.7.1+cpu.computecanada"
        );
        assert_eq!(
            insert_local_label(&v("1!2.0rc1.post3.dev4"), label)
                .unwrap()
                .to_string(),
            "1!2.0rc1.post3.dev4+computecanada"
        );
    }

    #[test]
    fn insertion_is_idempotent() {
        let once = insert_local_label(&v("2.7.1+cpu"), "computecanada").unwrap();
        let twice = insert_local_label(&once, "computecanada").unwrap();
        assert_eq!(once, twice);
        assert!(has_local_label(&twice, "computecanada"));
        // A label that merely contains the word is not the label.
        let other = insert_local_label(&v("1.0+computecanadax"), "computecanada").unwrap();
        assert_eq!(other.to_string(), "1.0+computecanadax.computecanada");
    }

    #[test]
    fn tags_go_first() {
        let tagged = add_local_tag(&v("2.3.0+computecanada"), "torch26").unwrap();
        assert_eq!(tagged.to_string(), "2.3.0+torch26.computecanada");
        assert_eq!(
            add_local_tag(&v("1.0"), "torch26").unwrap().to_string(),
            "1.0+torch26"
        );
        assert_eq!(add_local_tag(&tagged, "torch26").unwrap(), tagged);
    }

    #[test]
    fn rejects_bad_labels() {
        for bad in ["", "a-b", "a..b", "+x", "é"] {
            assert!(insert_local_label(&v("1.0"), bad).is_err(), "{bad}");
        }
    }
}
