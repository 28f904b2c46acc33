//! Stage 0: the recipe file as written, deserialised by serde-saphyr with every value's
//! position kept.

use super::*;

pub(super) type RawText = Spanned<String>;

/// A recipe file, and also one entry of its `versions` list: the two share their keys, and
/// [`RecipeFile::parse`] refuses the ones that belong to only one of them (`package` and
/// `versions` at the top, `when` and `extend` in entries).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRecipe {
    pub(super) package: Option<RawText>,
    pub(super) when: Option<RawText>,
    pub(super) import_names: Option<Vec<RawText>>,
    pub(super) skip_imports: Option<Vec<Spanned<RawSkipImport>>>,
    pub(super) import_timeout: Option<RawText>,
    pub(super) test_gpus: Option<RawText>,
    pub(super) test: Option<RawText>,
    pub(super) test_command: Option<RawText>,
    pub(super) build_dependencies: Option<Vec<RawText>>,
    pub(super) test_dependencies: Option<Vec<RawText>>,
    pub(super) modules: Option<Vec<RawText>>,
    pub(super) build_modules: Option<Vec<RawText>>,
    pub(super) environment: Option<BTreeMap<String, RawText>>,
    pub(super) pre_download: Option<Vec<RawText>>,
    pub(super) post_download: Option<Vec<RawText>>,
    pub(super) pre_build: Option<Vec<RawText>>,
    pub(super) post_build: Option<Vec<RawText>>,
    pub(super) build_command: Option<RawText>,
    pub(super) build_args: Option<Vec<RawText>>,
    pub(super) patches: Option<Vec<RawText>>,
    pub(super) source: Option<Spanned<RawSource>>,
    pub(super) sha256: Option<RawText>,
    pub(super) package_suffix: Option<RawText>,
    pub(super) requirements: Option<RawRequirements>,
    pub(super) resources: Option<RawResources>,
    pub(super) rpath: Option<Vec<RawText>>,
    pub(super) skip_python: Option<Vec<RawText>>,
    pub(super) arch_specific: Option<bool>,
    pub(super) adopt: Option<RawAdopt>,
    pub(super) extend: Option<Spanned<Box<RawRecipe>>>,
    pub(super) versions: Option<Vec<RawRecipe>>,
}

/// One entry of `skip_imports`: both keys are required (checked with their positions).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSkipImport {
    pub(super) module: Option<RawText>,
    pub(super) reason: Option<RawText>,
}

/// `adopt:`: take the package's binary wheel from an index instead of building it, and
/// adjust its ELF search paths.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAdopt {
    pub(super) find_links: Option<RawText>,
    pub(super) url: Option<RawText>,
    pub(super) add_rpath: Option<Vec<RawText>>,
    pub(super) add_origin: Option<bool>,
    pub(super) remove_rpath_prefix: Option<Vec<RawText>>,
}

/// What one build may use in the nightly (`sbatch --cpus-per-task --mem --time`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawResources {
    pub(super) cpus: Option<RawText>,
    pub(super) memory: Option<RawText>,
    pub(super) time: Option<RawText>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRequirements {
    pub(super) add: Option<Vec<RawText>>,
    pub(super) remove: Option<Vec<RawText>>,
    pub(super) update: Option<Vec<RawText>>,
}

/// `source:` is either a word (`pypi`) or a map; a hand-written visitor (rather than an
/// untagged enum) keeps serde-saphyr's locations and its unknown-key messages for the map.
#[derive(Debug)]
pub(super) enum RawSource {
    Word(String),
    Table(Box<RawSourceTable>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSourceTable {
    pub(super) url: Option<RawText>,
    pub(super) sha256: Option<RawText>,
    pub(super) git: Option<RawText>,
    pub(super) rev: Option<RawText>,
}

impl<'de> Deserialize<'de> for RawSource {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SourceVisitor;

        impl<'de> serde::de::Visitor<'de> for SourceVisitor {
            type Value = RawSource;

            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("`pypi`, a map {url, sha256} or a map {git, rev}")
            }

            fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<RawSource, E> {
                Ok(RawSource::Word(value.to_string()))
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<RawSource, A::Error> {
                RawSourceTable::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(|table| RawSource::Table(Box::new(table)))
            }
        }

        deserializer.deserialize_any(SourceVisitor)
    }
}

/// Parses recipe YAML, rendering serde-saphyr's errors as `file:line:column: key `path`: ...`.
pub(super) fn parse_yaml(text: &str, file: &Path) -> Result<RawRecipe, RecipeError> {
    if text.trim().is_empty()
        || text
            .lines()
            .all(|line| line.trim_start().starts_with('#') || line.trim().is_empty())
    {
        return Err(RecipeError::Invalid {
            file: file.to_path_buf(),
            key: "package".to_string(),
            position: None,
            value: None,
            message: "the recipe is empty; it needs at least `package`".to_string(),
        });
    }
    let options = serde_saphyr::options! { with_snippet: false };
    serde_saphyr::from_str_with_options::<RawRecipe>(text, options).map_err(|error| {
        let error = error.without_snippet();
        let location = error.location().filter(|location| location.line() > 0);
        let mut message = error.to_string();
        let mut key = None;
        if let Some(location) = &location {
            let suffix = format!(" at line {}, column {}", location.line(), location.column());
            if let Some(stripped) = message.strip_suffix(&suffix) {
                message = stripped.to_string();
            }
            if matches!(error, serde_saphyr::Error::NullIntoString { .. }) {
                message = "no value: give a string (\"\" for an empty one)".to_string();
            }
            let shallowest = matches!(error, serde_saphyr::Error::SerdeMissingField { .. });
            key = key_path_at(text, location.line(), location.column(), shallowest);
        }
        RecipeError::Syntax {
            file: file.to_path_buf(),
            key,
            position: location.as_ref().and_then(Position::of),
            message,
        }
    })
}
