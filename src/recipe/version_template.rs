//! A source's template (a git `rev`, an archive URL) read for the version it names: whether
//! it uses `{{ version }}` (then it cannot be rendered before the version is chosen), and, for
//! the plain form `PREFIX{{ version }}SUFFIX`, the version a tag of the repository stands for
//! (`v{{ version }}` and the tag `v0.2.0` give 0.2.0). Pure code on the template's text.

use std::str::FromStr;

use pep440_rs::Version;

/// A source template (a git source's `rev`, an archive's URL), as written (unrendered).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionTemplate {
    pub text: String,
}

impl VersionTemplate {
    pub fn new(text: impl Into<String>) -> Self {
        VersionTemplate { text: text.into() }
    }

    /// Whether the template uses the variable `version` anywhere (in `{{ }}` or `{% %}`).
    pub fn names_version(&self) -> bool {
        blocks(&self.text).any(|block| {
            block
                .split(|character: char| !(character.is_ascii_alphanumeric() || character == '_'))
                .any(|word| word == "version")
        })
    }

    /// The literal text around `{{ version }}` when the template is exactly
    /// `PREFIX{{ version }}SUFFIX` (one substitution, nothing else templated): `("v", "")`
    /// for `v{{ version }}`. `None` for any other template.
    pub fn affixes(&self) -> Option<(&str, &str)> {
        let open = self.text.find("{{")?;
        let close = open + self.text[open..].find("}}")?;
        if self.text[open + 2..close].trim() != "version" {
            return None;
        }
        let (prefix, suffix) = (&self.text[..open], &self.text[close + 2..]);
        let templated = |text: &str| {
            ["{{", "}}", "{%", "%}", "{#", "#}"]
                .iter()
                .any(|mark| text.contains(mark))
        };
        (!templated(prefix) && !templated(suffix)).then_some((prefix, suffix))
    }

    /// The version a tag name stands for under this template: the tag without the
    /// template's prefix and suffix, read as a PEP 440 version (`v0.2.0` -> 0.2.0 for
    /// `v{{ version }}`). `None` for a tag of another form, or a template that is not
    /// `PREFIX{{ version }}SUFFIX`.
    pub fn version_of_tag(&self, tag: &str) -> Option<Version> {
        let (prefix, suffix) = self.affixes()?;
        let text = tag.strip_prefix(prefix)?.strip_suffix(suffix)?;
        // `Version::from_str` accepts a leading `v` itself; a tag `vv1.0` under `v{{ version }}`
        // is not a version tag, nor is `1.0` under `v{{ version }}` read through the prefix.
        if text.is_empty() || !text.starts_with(|character: char| character.is_ascii_digit()) {
            return None;
        }
        Version::from_str(text).ok()
    }
}

/// The inner text of every `{{ }}` and `{% %}` block of a template.
fn blocks(template: &str) -> impl Iterator<Item = &str> {
    let mut rest = template;
    std::iter::from_fn(move || {
        loop {
            let start = rest.find('{')?;
            let after = &rest[start + 1..];
            let close = match after.chars().next() {
                Some('{') => "}}",
                Some('%') => "%}",
                _ => {
                    rest = after;
                    continue;
                }
            };
            let inner = &after[1..];
            let end = inner.find(close).unwrap_or(inner.len());
            let block = &inner[..end];
            rest = inner.get(end + close.len()..).unwrap_or_default();
            return Some(block);
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_names_the_version_or_not() {
        assert!(VersionTemplate::new("v{{ version }}").names_version());
        assert!(VersionTemplate::new("{{version}}").names_version());
        assert!(VersionTemplate::new("release-{{ version | replace(from='.', to='_') }}").names_version());
        assert!(VersionTemplate::new("{% if version %}v{{ version }}{% endif %}").names_version());
        assert!(!VersionTemplate::new("v1.2.3").names_version());
        assert!(!VersionTemplate::new("{{ python_version }}").names_version());
        assert!(!VersionTemplate::new("0123456789abcdef0123456789abcdef01234567").names_version());
    }

    #[test]
    fn the_affixes_of_a_plain_version_template() {
        assert_eq!(VersionTemplate::new("v{{ version }}").affixes(), Some(("v", "")));
        assert_eq!(VersionTemplate::new("{{version}}").affixes(), Some(("", "")));
        assert_eq!(
            VersionTemplate::new("release-{{ version }}-final").affixes(),
            Some(("release-", "-final"))
        );
        assert_eq!(VersionTemplate::new("{{ version | lower }}").affixes(), None);
        assert_eq!(VersionTemplate::new("{{ layer }}-{{ version }}").affixes(), None);
        assert_eq!(VersionTemplate::new("v1.0").affixes(), None);
    }

    #[test]
    fn tags_read_as_versions_through_the_template() {
        let template = VersionTemplate::new("v{{ version }}");
        assert_eq!(template.version_of_tag("v0.2.0"), Some("0.2.0".parse().unwrap()));
        assert_eq!(
            template.version_of_tag("v1.0rc1"),
            Some("1.0rc1".parse().unwrap())
        );
        assert_eq!(template.version_of_tag("0.2.0"), None);
        assert_eq!(template.version_of_tag("vv0.2.0"), None);
        assert_eq!(template.version_of_tag("v-latest"), None);
        assert_eq!(template.version_of_tag("v"), None);
        let bare = VersionTemplate::new("{{ version }}");
        assert_eq!(bare.version_of_tag("2024.1"), Some("2024.1".parse().unwrap()));
        assert_eq!(bare.version_of_tag("v2024.1"), None);
        let suffixed = VersionTemplate::new("pkg-{{ version }}-src");
        assert_eq!(
            suffixed.version_of_tag("pkg-3.1-src"),
            Some("3.1".parse().unwrap())
        );
        assert_eq!(suffixed.version_of_tag("pkg-3.1"), None);
    }
}
