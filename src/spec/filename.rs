//! Wheel filenames (PEP 427 / binary distribution format) and their compressed tag sets.

use std::fmt;
use std::str::FromStr;

use pep440_rs::Version;

use super::{escape_name, normalize_name};

/// Why a wheel filename could not be parsed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the wheel filename `{filename}` is invalid: {reason}")]
pub struct InvalidWheelFilename {
    pub filename: String,
    pub reason: String,
}

/// Why a tag or a compressed tag set cannot be read.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum InvalidTag {
    #[error("`{0}` is not a tag of the form python-abi-platform")]
    NotATag(String),
    #[error("`{0}` is not a tag set of the form python-abi-platform")]
    NotATagSet(String),
    #[error("the {what} tag `{part}` may hold only letters, digits, `_` and `.`")]
    InvalidPart { what: &'static str, part: String },
}

/// Why a build tag cannot be read.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum InvalidBuildTag {
    #[error("the build tag `{0}` must start with a digit")]
    NoNumber(String),
    #[error("the build tag `{0}` is out of range")]
    OutOfRange(String),
    #[error("the build tag `{0}` holds characters a filename cannot")]
    BadCharacters(String),
}

/// One interpreter/ABI/platform triple, e.g. `cp312-cp312-linux_x86_64`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag {
    pub python: String,
    pub abi: String,
    pub platform: String,
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}-{}", self.python, self.abi, self.platform)
    }
}

impl FromStr for Tag {
    type Err = InvalidTag;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = text.split('-').collect();
        match parts.as_slice() {
            [python, abi, platform] if [python, abi, platform].iter().all(|p| valid_tag(p)) => Ok(Tag {
                python: python.to_string(),
                abi: abi.to_string(),
                platform: platform.to_string(),
            }),
            _ => Err(InvalidTag::NotATag(text.to_string())),
        }
    }
}

fn valid_tag(part: &str) -> bool {
    !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The compressed tag set of a filename: `py2.py3-none-any` stands for two tags.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TagSet {
    pub python: Vec<String>,
    pub abi: Vec<String>,
    pub platform: Vec<String>,
}

impl TagSet {
    /// Parses one of the three dot-separated components (`cp312.cp313`).
    fn component(text: &str) -> Option<Vec<String>> {
        let parts: Vec<String> = text.split('.').map(str::to_string).collect();
        parts.iter().all(|part| valid_tag(part)).then_some(parts)
    }

    /// Parses `python-abi-platform` where each part may hold several dot-separated tags.
    pub fn parse(text: &str) -> Result<Self, InvalidTag> {
        let parts: Vec<&str> = text.split('-').collect();
        let [python, abi, platform] = parts.as_slice() else {
            return Err(InvalidTag::NotATagSet(text.to_string()));
        };
        let component = |part: &str, what: &'static str| {
            Self::component(part).ok_or_else(|| InvalidTag::InvalidPart {
                what,
                part: part.to_string(),
            })
        };
        Ok(TagSet {
            python: component(python, "python")?,
            abi: component(abi, "ABI")?,
            platform: component(platform, "platform")?,
        })
    }

    /// Every tag this set stands for, in filename order.
    pub fn expand(&self) -> Vec<Tag> {
        let mut tags = Vec::new();
        for python in &self.python {
            for abi in &self.abi {
                for platform in &self.platform {
                    tags.push(Tag {
                        python: python.clone(),
                        abi: abi.clone(),
                        platform: platform.clone(),
                    });
                }
            }
        }
        tags
    }

    /// A pure wheel: no ABI and any platform.
    pub fn is_pure(&self) -> bool {
        self.abi.iter().all(|abi| abi == "none") && self.platform.iter().all(|p| p == "any")
    }
}

impl fmt::Display for TagSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}-{}-{}",
            self.python.join("."),
            self.abi.join("."),
            self.platform.join(".")
        )
    }
}

/// The optional build tag: digits, then anything (`1`, `2_cuda`), compared as (number, rest).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BuildTag {
    pub number: u64,
    pub suffix: String,
}

impl fmt::Display for BuildTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.number, self.suffix)
    }
}

impl FromStr for BuildTag {
    type Err = InvalidBuildTag;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let digits = text.chars().take_while(char::is_ascii_digit).count();
        if digits == 0 {
            return Err(InvalidBuildTag::NoNumber(text.to_string()));
        }
        let number = text[..digits]
            .parse()
            .map_err(|_| InvalidBuildTag::OutOfRange(text.to_string()))?;
        let suffix = text[digits..].to_string();
        if !suffix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        {
            return Err(InvalidBuildTag::BadCharacters(text.to_string()));
        }
        Ok(BuildTag { number, suffix })
    }
}

/// A parsed wheel filename. The name and version are kept as written so that an unchanged
/// filename renders byte for byte; accessors give their normalised forms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WheelFilename {
    name: String,
    version_text: String,
    version: Version,
    pub build: Option<BuildTag>,
    pub tags: TagSet,
}

impl WheelFilename {
    /// The name as written in the filename.
    pub fn name_text(&self) -> &str {
        &self.name
    }

    /// The PEP 503 normalised project name.
    pub fn normalized_name(&self) -> String {
        normalize_name(&self.name)
    }

    pub fn version(&self) -> &Version {
        &self.version
    }

    /// The version as written in the filename.
    pub fn version_text(&self) -> &str {
        &self.version_text
    }

    /// The same filename with another version (rendered in normal form).
    pub fn with_version(&self, version: &Version) -> Self {
        if version == &self.version {
            return self.clone();
        }
        WheelFilename {
            name: escape_name(&self.name),
            version_text: version.to_string(),
            version: version.clone(),
            ..self.clone()
        }
    }

    /// The same filename with another tag set.
    pub fn with_tags(&self, tags: TagSet) -> Self {
        WheelFilename { tags, ..self.clone() }
    }

    /// The `.dist-info` directory name a wheel of this filename should carry.
    pub fn dist_info_dir(&self) -> String {
        format!("{}-{}.dist-info", escape_name(&self.name), self.version_text)
    }

    /// The `.data` directory name a wheel of this filename may carry.
    pub fn data_dir(&self) -> String {
        format!("{}-{}.data", escape_name(&self.name), self.version_text)
    }
}

impl fmt::Display for WheelFilename {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.name, self.version_text)?;
        if let Some(build) = &self.build {
            write!(f, "-{build}")?;
        }
        write!(f, "-{}.whl", self.tags)
    }
}

impl FromStr for WheelFilename {
    type Err = InvalidWheelFilename;

    fn from_str(filename: &str) -> Result<Self, Self::Err> {
        let error = |reason: String| InvalidWheelFilename {
            filename: filename.to_string(),
            reason,
        };
        let stem = filename
            .strip_suffix(".whl")
            .ok_or_else(|| error("it does not end in `.whl`".to_string()))?;
        let parts: Vec<&str> = stem.split('-').collect();
        let (name, version_text, build, python, abi, platform) = match parts.as_slice() {
            [name, version, python, abi, platform] => (*name, *version, None, *python, *abi, *platform),
            [name, version, build, python, abi, platform] => {
                (*name, *version, Some(*build), *python, *abi, *platform)
            }
            _ => {
                return Err(error(format!(
                    "expected name-version[-build]-python-abi-platform.whl, found {} dash-separated parts",
                    parts.len()
                )));
            }
        };
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        {
            return Err(error(format!("the name `{name}` is not a valid project name")));
        }
        if !name.starts_with(|c: char| c.is_ascii_alphanumeric())
            || !name.ends_with(|c: char| c.is_ascii_alphanumeric())
        {
            return Err(error(format!(
                "the name `{name}` must start and end with a letter or digit"
            )));
        }
        let version = Version::from_str(version_text).map_err(|err| {
            error(format!(
                "the version `{version_text}` is not a PEP 440 version: {err}"
            ))
        })?;
        let build = build
            .map(BuildTag::from_str)
            .transpose()
            .map_err(|invalid| error(invalid.to_string()))?;
        let tags = TagSet::parse(&format!("{python}-{abi}-{platform}"))
            .map_err(|invalid| error(invalid.to_string()))?;
        Ok(WheelFilename {
            name: name.to_string(),
            version_text: version_text.to_string(),
            version,
            build,
            tags,
        })
    }
}

/// The minor version of a `cp3X` / `py3X` tag with the given prefix (`cp311` -> 11).
fn minor_of(tag: &str, prefix: &str) -> Option<u8> {
    let digits = tag.strip_prefix(prefix)?;
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Whether CPython `major.minor` can install a wheel with these tags, as pip's and uv's tag lists
/// decide (the platform is not looked at: the wheelhouse holds one platform):
/// `cpXY-cpXY`; `cp3K-abi3` for K up to the minor version; `py3`, `py3K` (K up to the minor
/// version) and `cpXY` with the ABI `none`.
pub fn installable_on(tags: &TagSet, major: u8, minor: u8) -> bool {
    if major != 3 {
        return false;
    }
    let own = format!("cp3{minor}");
    tags.python.iter().any(|python_tag| {
        tags.abi.iter().any(|abi| match abi.as_str() {
            "none" => {
                python_tag == "py3"
                    || *python_tag == own
                    || minor_of(python_tag, "py3").is_some_and(|tag_minor| tag_minor <= minor)
            }
            "abi3" => {
                minor_of(python_tag, "cp3").is_some_and(|tag_minor| tag_minor >= 2 && tag_minor <= minor)
            }
            abi => abi == own && *python_tag == own,
        })
    })
}

/// How much an installer on CPython `major.minor` prefers a wheel with these tags: lower is
/// better, `None` when it cannot install it (the same set as [`installable_on`]). The order is
/// pip's and uv's tag list (`packaging.tags.sys_tags`) with every platform but `any` taken as
/// the node's: `cpXY-cpXY`, `cpXY-abi3`, `cpXY-none`, older `cp3K-abi3` (newest first),
/// `py3XY`, `py3`, older `py3K` with a platform; then `cpXY-none-any`, `py3XY-none-any`,
/// `py3-none-any`, older `py3K-none-any`. Of a compressed tag set the best tag counts.
pub fn tag_preference(tags: &TagSet, major: u8, minor: u8) -> Option<u32> {
    if major != 3 {
        return None;
    }
    let own = u32::from(minor);
    let mut best: Option<u32> = None;
    for python_tag in &tags.python {
        for abi in &tags.abi {
            for platform in &tags.platform {
                let any = platform == "any";
                let cp = minor_of(python_tag, "cp3").map(u32::from);
                let py = if python_tag == "py3" {
                    Some(None)
                } else {
                    minor_of(python_tag, "py3").map(|tag_minor| Some(u32::from(tag_minor)))
                };
                let rank = match (cp, py, abi.as_str()) {
                    (Some(tag), _, abi) if tag == own && abi == format!("cp3{own}") && !any => Some(0),
                    (Some(tag), _, "abi3") if tag == own => Some(1),
                    (Some(tag), _, "none") if tag == own && !any => Some(2),
                    (Some(tag), _, "abi3") if (2..own).contains(&tag) => Some(3 + own - tag),
                    (_, Some(Some(tag)), "none") if tag == own => Some(if any { 201 } else { 100 }),
                    (_, Some(None), "none") => Some(if any { 202 } else { 101 }),
                    (_, Some(Some(tag)), "none") if tag < own => {
                        Some(if any { 203 + own - tag } else { 102 + own - tag })
                    }
                    (Some(tag), _, "none") if tag == own => Some(200),
                    _ => None,
                };
                if let Some(rank) = rank {
                    best = Some(best.map_or(rank, |best| best.min(rank)));
                }
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> WheelFilename {
        text.parse().unwrap_or_else(|err| panic!("{err}"))
    }

    #[test]
    fn round_trips() {
        for text in [
            "numpy-2.2.6-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
            "requests-2.32.3-py3-none-any.whl",
            "six-1.16.0-py2.py3-none-any.whl",
            "torch-2.7.1+cpu-cp312-cp312-linux_x86_64.whl",
            "foo-1!2.0rc1.post2.dev3+local.7-1_cuda-cp311-abi3-linux_x86_64.whl",
            "Zope.Sub_Pkg-1.0-py3-none-any.whl",
        ] {
            assert_eq!(parse(text).to_string(), text);
        }
    }

    #[test]
    fn parses_components() {
        let wheel = parse("numpy-2.2.6-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl");
        assert_eq!(wheel.normalized_name(), "numpy");
        assert_eq!(wheel.version().to_string(), "2.2.6");
        assert_eq!(
            wheel.tags.platform,
            ["manylinux_2_17_x86_64", "manylinux2014_x86_64"]
        );
        assert_eq!(wheel.tags.expand().len(), 2);
        assert!(!wheel.tags.is_pure());

        let six = parse("six-1.16.0-py2.py3-none-any.whl");
        let expanded: Vec<String> = six.tags.expand().iter().map(Tag::to_string).collect();
        assert_eq!(expanded, ["py2-none-any", "py3-none-any"]);
        assert!(six.tags.is_pure());

        let built = parse("foo-1.0-12_b-py3-none-any.whl");
        assert_eq!(
            built.build,
            Some(BuildTag {
                number: 12,
                suffix: "_b".into()
            })
        );
    }

    #[test]
    fn names_and_versions_normalise() {
        let wheel = parse("Zope.Sub_Pkg-1.0-py3-none-any.whl");
        assert_eq!(wheel.normalized_name(), "zope-sub-pkg");
        let renamed = wheel.with_version(&Version::from_str("1.0+computecanada").unwrap());
        assert_eq!(
            renamed.to_string(),
            "zope_sub_pkg-1.0+computecanada-py3-none-any.whl"
        );
        assert_eq!(
            renamed.dist_info_dir(),
            "zope_sub_pkg-1.0+computecanada.dist-info"
        );
        assert_eq!(renamed.data_dir(), "zope_sub_pkg-1.0+computecanada.data");
    }

    #[test]
    fn retags() {
        let wheel = parse("numpy-2.2.6-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl");
        let retagged = wheel.with_tags(TagSet::parse("cp312-cp312-linux_x86_64").unwrap());
        assert_eq!(retagged.to_string(), "numpy-2.2.6-cp312-cp312-linux_x86_64.whl");
    }

    #[test]
    fn rejects_invalid_names() {
        for bad in [
            "numpy-2.2.6-cp312-cp312.whl",
            "numpy-2.2.6-cp312-cp312-linux_x86_64.zip",
            "numpy-not.a.version-cp312-cp312-linux_x86_64.whl",
            "numpy-1.0-x1-cp312-cp312-linux_x86_64.whl",
            "-1.0-py3-none-any.whl",
            "num py-1.0-py3-none-any.whl",
            "numpy-1.0-py3--any.whl",
            "a-b-c-d-e-f-g.whl",
            "numpy-1.0-py3-none-any..x.whl",
        ] {
            assert!(bad.parse::<WheelFilename>().is_err(), "{bad} parsed");
        }
        let err = "numpy-2.2.6-cp312.whl".parse::<WheelFilename>().unwrap_err();
        assert!(err.to_string().contains("numpy-2.2.6-cp312.whl"), "{err}");
    }

    #[test]
    fn tag_preference_follows_the_installers_tag_order() {
        let rank = |tags: &str| tag_preference(&TagSet::parse(tags).unwrap(), 3, 12);
        let ordered = [
            "cp312-cp312-linux_x86_64",
            "cp312-abi3-linux_x86_64",
            "cp311-abi3-linux_x86_64",
            "cp39-abi3-linux_x86_64",
            "py3-none-linux_x86_64",
            "cp312-none-any",
            "py312-none-any",
            "py3-none-any",
            "py311-none-any",
        ];
        for pair in ordered.windows(2) {
            assert!(rank(pair[0]) < rank(pair[1]), "{} before {}", pair[0], pair[1]);
        }
        assert_eq!(rank("py2.py3-none-any"), rank("py3-none-any"));
        for tags in [
            "cp311-cp311-linux_x86_64",
            "cp313-abi3-linux_x86_64",
            "py313-none-any",
            "py2-none-any",
            "cp313-cp313t-linux_x86_64",
        ] {
            assert_eq!(rank(tags), None, "{tags}");
        }
        for tags in ordered
            .iter()
            .chain(["cp311-cp311-linux_x86_64", "py2-none-any"].iter())
        {
            let set = TagSet::parse(tags).unwrap();
            assert_eq!(
                tag_preference(&set, 3, 12).is_some(),
                installable_on(&set, 3, 12),
                "{tags}"
            );
        }
    }
}
