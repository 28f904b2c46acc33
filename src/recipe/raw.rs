//! Stage 0: the recipe file as written. The YAML is read into a tree of nodes that keep their
//! line and column (`tree`, with granit-parser, serde-saphyr's parser), then walked once: each
//! level's keys are checked against the keys allowed at that place (an unknown key gets the
//! nearest allowed one as a suggestion) and each value against its shape. Every mistake is
//! collected and the walk goes on, so that one run reports them all; serde's derive (with
//! `deny_unknown_fields`) would stop at the first.

use super::*;

mod tree;

use tree::{Node, SyntaxError, read_tree};

/// A value with the line and column where it is written.
#[derive(Debug, Clone)]
pub(super) struct Located<T> {
    pub(super) value: T,
    pub(super) position: Option<Position>,
}

impl<T> Located<T> {
    fn new(value: T, position: Option<Position>) -> Self {
        Located { value, position }
    }
}

pub(super) type RawText = Located<String>;

/// A recipe file, and also one entry of its `versions` list and an entry's `extend`: the
/// three share their keys; [`Level`] says which are allowed where, and the walk sets only
/// those (`package` and `versions` at the top, `when` and `extend` in entries, lists in
/// `extend`).
#[derive(Debug, Default)]
pub(super) struct RawRecipe {
    pub(super) package: Option<RawText>,
    pub(super) when: Option<RawText>,
    pub(super) import_names: Option<Vec<RawText>>,
    pub(super) skip_imports: Option<Vec<Located<RawSkipImport>>>,
    pub(super) import_timeout: Option<RawText>,
    pub(super) test_gpus: Option<RawText>,
    pub(super) test: Option<RawText>,
    pub(super) test_command: Option<RawText>,
    pub(super) build_dependencies: Option<Vec<RawText>>,
    pub(super) test_dependencies: Option<Vec<RawText>>,
    pub(super) modules: Option<Vec<RawText>>,
    pub(super) build_modules: Option<Vec<RawText>>,
    pub(super) environment: Option<Vec<(RawText, RawText)>>,
    pub(super) pre_download: Option<Vec<RawText>>,
    pub(super) post_download: Option<Vec<RawText>>,
    pub(super) pre_build: Option<Vec<RawText>>,
    pub(super) post_build: Option<Vec<RawText>>,
    pub(super) build_command: Option<RawText>,
    pub(super) build_args: Option<Vec<RawText>>,
    pub(super) patches: Option<Vec<RawText>>,
    pub(super) source: Option<Located<RawSource>>,
    pub(super) sha256: Option<RawText>,
    pub(super) package_suffix: Option<RawText>,
    pub(super) requirements: Option<RawRequirements>,
    pub(super) resources: Option<RawResources>,
    pub(super) rpath: Option<Vec<RawText>>,
    pub(super) skip_python: Option<Vec<RawText>>,
    pub(super) arch_specific: Option<bool>,
    pub(super) adopt: Option<RawAdopt>,
    pub(super) extend: Option<Located<Box<RawRecipe>>>,
    pub(super) versions: Option<Vec<Located<RawRecipe>>>,
}

/// One entry of `skip_imports`: both keys are required (checked with their positions).
#[derive(Debug, Default)]
pub(super) struct RawSkipImport {
    pub(super) module: Option<RawText>,
    pub(super) reason: Option<RawText>,
}

/// `adopt:`: take the package's binary wheel from an index instead of building it, and
/// adjust its ELF search paths.
#[derive(Debug, Default)]
pub(super) struct RawAdopt {
    pub(super) find_links: Option<RawText>,
    pub(super) url: Option<RawText>,
    pub(super) add_rpath: Option<Vec<RawText>>,
    pub(super) add_origin: Option<bool>,
    pub(super) remove_rpath_prefix: Option<Vec<RawText>>,
}

/// What one build may use in the nightly (`sbatch --cpus-per-task --mem --time`).
#[derive(Debug, Default)]
pub(super) struct RawResources {
    pub(super) cpus: Option<RawText>,
    pub(super) memory: Option<RawText>,
    pub(super) time: Option<RawText>,
}

#[derive(Debug, Default)]
pub(super) struct RawRequirements {
    pub(super) add: Option<Vec<RawText>>,
    pub(super) remove: Option<Vec<RawText>>,
    pub(super) update: Option<Vec<RawText>>,
}

/// `source:` is either a word (`pypi`) or a map.
#[derive(Debug)]
pub(super) enum RawSource {
    Word(String),
    Table(Box<RawSourceTable>),
}

#[derive(Debug, Default)]
pub(super) struct RawSourceTable {
    pub(super) url: Option<RawText>,
    pub(super) sha256: Option<RawText>,
    pub(super) git: Option<RawText>,
    pub(super) rev: Option<RawText>,
}

/// The keys of settings, allowed at the top level and in `versions` entries, in the order
/// the documentation lists them.
const SETTING_KEYS: [&str; 27] = [
    "import_names",
    "skip_imports",
    "import_timeout",
    "test_gpus",
    "test",
    "test_command",
    "build_dependencies",
    "test_dependencies",
    "modules",
    "build_modules",
    "environment",
    "pre_download",
    "post_download",
    "pre_build",
    "post_build",
    "build_command",
    "build_args",
    "patches",
    "source",
    "sha256",
    "package_suffix",
    "requirements",
    "resources",
    "rpath",
    "skip_python",
    "arch_specific",
    "adopt",
];

/// The settings that are lists (and `requirements`, whose values are): what `extend` takes.
const LIST_KEYS: [&str; 15] = [
    "import_names",
    "skip_imports",
    "build_dependencies",
    "test_dependencies",
    "modules",
    "build_modules",
    "pre_download",
    "post_download",
    "pre_build",
    "post_build",
    "build_args",
    "patches",
    "requirements",
    "rpath",
    "skip_python",
];

const SKIP_IMPORT_KEYS: [&str; 2] = ["module", "reason"];
const ADOPT_KEYS: [&str; 5] = [
    "find_links",
    "url",
    "add_rpath",
    "add_origin",
    "remove_rpath_prefix",
];
const RESOURCE_KEYS: [&str; 3] = ["cpus", "memory", "time"];
const REQUIREMENT_KEYS: [&str; 3] = ["add", "remove", "update"];
const SOURCE_KEYS: [&str; 4] = ["url", "sha256", "git", "rev"];

/// Where a [`RawRecipe`] sits: each place allows its own keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Level {
    /// The top level: `package`, the settings, `versions`.
    Top,
    /// An entry of `versions`: `when`, the settings, `extend`.
    Entry,
    /// An entry's `extend`: the list settings.
    Extend,
}

impl Level {
    /// The keys allowed at this place, in documentation order.
    pub(super) fn keys(self) -> Vec<&'static str> {
        match self {
            Level::Top => std::iter::once("package")
                .chain(SETTING_KEYS)
                .chain(["versions"])
                .collect(),
            Level::Entry => std::iter::once("when")
                .chain(SETTING_KEYS)
                .chain(["extend"])
                .collect(),
            Level::Extend => LIST_KEYS.to_vec(),
        }
    }

    /// Why `key`, allowed somewhere else in a recipe, is not allowed here; None for a key
    /// unknown everywhere.
    fn misplaced(self, key: &str) -> Option<String> {
        let known = matches!(key, "package" | "versions" | "when" | "extend") || SETTING_KEYS.contains(&key);
        if !known {
            return None;
        }
        Some(match (self, key) {
            (Level::Entry | Level::Extend, "package" | "versions") => {
                format!("`{key}` is only allowed at the top level, not in a `versions` entry")
            }
            (Level::Top, _) => format!("`{key}` belongs in an entry of `versions`, not at the top level"),
            _ => format!("`extend` appends to lists; `{key}` is not a list: set it in the entry itself"),
        })
    }
}

/// The message for a key not allowed at a place whose keys are `allowed`: why (`misplaced`,
/// for a key of another place), or the nearest allowed key when one is near enough to be the
/// intended one; then the list of the keys allowed there, and only those.
pub(super) fn refused_key(key: &str, allowed: &[&str], misplaced: Option<String>) -> String {
    let why = misplaced.unwrap_or_else(|| match nearest_key(key, allowed) {
        Some(near) => format!("unknown key; did you mean `{near}`?"),
        None => "unknown key".to_string(),
    });
    format!("{why} (the keys here: {})", allowed.join(", "))
}

/// The allowed key closest to `key` by edit distance (a transposition counts as one edit,
/// case and `-`/`_` are ignored), if it is within a third of its length (and one edit for
/// the shortest keys).
pub(super) fn nearest_key<'a>(key: &str, allowed: &[&'a str]) -> Option<&'a str> {
    let wanted = key.to_lowercase().replace('-', "_");
    allowed
        .iter()
        .map(|candidate| (strsim::damerau_levenshtein(&wanted, candidate), *candidate))
        .filter(|(distance, candidate)| *distance <= (candidate.chars().count() / 3).max(1))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// Reads recipe YAML into a [`RawRecipe`], collecting every syntax, key and shape error;
/// None when the text is not a YAML mapping at all (the error is collected).
pub(super) fn read_recipe(text: &str, file: &Path, errors: &Collected) -> Option<RawRecipe> {
    let empty = || RecipeError::Invalid {
        file: file.to_path_buf(),
        key: "package".to_string(),
        position: None,
        value: None,
        message: "the recipe is empty; it needs at least `package`".to_string(),
    };
    match read_tree(text) {
        Ok(Some(tree)) => Walker { file, errors }.recipe(&tree, "", Level::Top),
        Ok(None) => {
            errors.push(empty());
            None
        }
        Err(SyntaxError { message, position }) => {
            let key = position
                .and_then(|position| key_path_at(text, position.line.into(), position.column.into(), false));
            errors.push(RecipeError::Syntax {
                file: file.to_path_buf(),
                key,
                position,
                message,
            });
            None
        }
    }
}

/// One key of a mapping: its name, its key path and its value.
struct Entry<'n> {
    name: &'n str,
    key: String,
    value: &'n Located<Node>,
}

/// Walks the YAML tree along the recipe schema, collecting what does not fit.
struct Walker<'a> {
    file: &'a Path,
    errors: &'a Collected,
}

impl Walker<'_> {
    fn fault(&self, key: &str, position: Option<Position>, message: impl Into<String>) {
        self.errors.push(RecipeError::Syntax {
            file: self.file.to_path_buf(),
            key: Some(key.to_string()),
            position,
            message: message.into(),
        });
    }

    /// The entries of the mapping at `key` whose names are in `allowed`; the others are
    /// errors (`refuse` says why a name is not allowed, else it is an unknown key). Merge
    /// keys (`<<: *base`) are expanded, the keys written in the mapping winning. None (with
    /// the error kept) when the node is not a mapping; `expected` says what it should be.
    fn entries<'n>(
        &self,
        node: &'n Located<Node>,
        key: &str,
        expected: &str,
        allowed: &[&str],
        refuse: &dyn Fn(&str) -> Option<String>,
    ) -> Option<Vec<Entry<'n>>> {
        let Node::Mapping(pairs) = &node.value else {
            self.fault(
                key,
                node.position,
                format!("{expected}, not {}", node.value.describe()),
            );
            return None;
        };
        let mut written: Vec<(&str, Option<Position>, &Located<Node>)> = Vec::new();
        let mut merged = Vec::new();
        for (name, value) in pairs {
            let Node::Scalar { value: text, .. } = &name.value else {
                self.fault(key, name.position, "a key is a name, not a list or a mapping");
                continue;
            };
            if text == "<<" {
                merged.push(value);
                continue;
            }
            if let Some((_, first, _)) = written.iter().find(|(seen, ..)| seen == text) {
                let first = first.map(|first| format!(" (the first is on line {})", first.line));
                self.fault(
                    &join_key(key, text),
                    name.position,
                    format!("a second `{text}` in one mapping{}", first.unwrap_or_default()),
                );
                continue;
            }
            written.push((text, name.position, value));
        }
        for base in merged {
            let bases: Vec<&Located<Node>> = match &base.value {
                Node::Sequence(items) => items.iter().collect(),
                _ => vec![base],
            };
            for base in bases {
                let Node::Mapping(pairs) = &base.value else {
                    self.fault(
                        &join_key(key, "<<"),
                        base.position,
                        format!("`<<` merges a mapping, not {}", base.value.describe()),
                    );
                    continue;
                };
                for (name, value) in pairs {
                    if let Node::Scalar { value: text, .. } = &name.value
                        && !written.iter().any(|(seen, ..)| seen == text)
                    {
                        written.push((text, name.position, value));
                    }
                }
            }
        }
        let mut entries = Vec::new();
        for (name, position, value) in written {
            let path = join_key(key, name);
            if allowed.contains(&name) {
                entries.push(Entry {
                    name,
                    key: path,
                    value,
                });
            } else {
                self.fault(&path, position, refused_key(name, allowed, refuse(name)));
            }
        }
        Some(entries)
    }

    /// A setting's text; no value (`key:` alone) is the same as leaving the key out.
    fn text(&self, node: &Located<Node>, key: &str) -> Option<RawText> {
        match &node.value {
            value if value.is_null() => None,
            Node::Scalar { value, .. } => Some(Located::new(value.clone(), node.position)),
            other => {
                self.fault(
                    key,
                    node.position,
                    format!("expected a text value, not {}", other.describe()),
                );
                None
            }
        }
    }

    /// An item of a list or a value of a map: there no value is a mistake.
    fn item(&self, node: &Located<Node>, key: &str) -> Option<RawText> {
        if node.value.is_null() {
            self.fault(
                key,
                node.position,
                "no value: give a string (\"\" for an empty one)",
            );
            return None;
        }
        self.text(node, key)
    }

    /// A list, each item read by `each` (with its key path `key[index]`). One bad item
    /// drops the list (its error kept), so that the indices of the others stay right.
    fn items<T>(
        &self,
        node: &Located<Node>,
        key: &str,
        each: impl Fn(&Located<Node>, &str) -> Option<T>,
    ) -> Option<Vec<T>> {
        match &node.value {
            value if value.is_null() => None,
            Node::Sequence(items) => items
                .iter()
                .enumerate()
                .map(|(index, item)| each(item, &format!("{key}[{index}]")))
                .collect::<Vec<_>>()
                .into_iter()
                .collect(),
            other => {
                self.fault(
                    key,
                    node.position,
                    format!(
                        "expected a list (`[a, b]`, or one `- a` line per item), not {}",
                        other.describe()
                    ),
                );
                None
            }
        }
    }

    fn list(&self, node: &Located<Node>, key: &str) -> Option<Vec<RawText>> {
        self.items(node, key, |item, key| self.item(item, key))
    }

    /// `true` or `false` (YAML 1.1's `yes`, `no`, `on`, `off` too, as serde-saphyr reads them).
    fn boolean(&self, node: &Located<Node>, key: &str) -> Option<bool> {
        if node.value.is_null() {
            return None;
        }
        if let Node::Scalar { value, .. } = &node.value {
            let word = value.trim().to_ascii_lowercase();
            match word.as_str() {
                "true" | "yes" | "y" | "on" => return Some(true),
                "false" | "no" | "n" | "off" => return Some(false),
                _ => {}
            }
        }
        self.fault(
            key,
            node.position,
            format!("expected true or false, not {}", node.value.describe()),
        );
        None
    }

    /// A recipe, a `versions` entry or an `extend` block at key path `prefix`.
    fn recipe(&self, node: &Located<Node>, prefix: &str, level: Level) -> Option<RawRecipe> {
        let expected = match level {
            Level::Top => "a recipe is a mapping of keys (`package: name` and settings)",
            Level::Entry => "a `versions` entry is a mapping (`- when: \">=2\"` and settings)",
            Level::Extend => "`extend` is a mapping of lists to append (`extend: {pre_build: [...]}`)",
        };
        let entries = self.entries(node, prefix, expected, &level.keys(), &|key| level.misplaced(key))?;
        let mut raw = RawRecipe::default();
        for Entry { name, key, value } in entries {
            let key = key.as_str();
            match name {
                "package" => raw.package = self.text(value, key),
                "when" => raw.when = self.text(value, key),
                "import_names" => raw.import_names = self.list(value, key),
                "skip_imports" => {
                    raw.skip_imports = self.items(value, key, |item, key| self.skip_import(item, key));
                }
                "import_timeout" => raw.import_timeout = self.text(value, key),
                "test_gpus" => raw.test_gpus = self.text(value, key),
                "test" => raw.test = self.text(value, key),
                "test_command" => raw.test_command = self.text(value, key),
                "build_dependencies" => raw.build_dependencies = self.list(value, key),
                "test_dependencies" => raw.test_dependencies = self.list(value, key),
                "modules" => raw.modules = self.list(value, key),
                "build_modules" => raw.build_modules = self.list(value, key),
                "environment" => raw.environment = self.environment(value, key),
                "pre_download" => raw.pre_download = self.list(value, key),
                "post_download" => raw.post_download = self.list(value, key),
                "pre_build" => raw.pre_build = self.list(value, key),
                "post_build" => raw.post_build = self.list(value, key),
                "build_command" => raw.build_command = self.text(value, key),
                "build_args" => raw.build_args = self.list(value, key),
                "patches" => raw.patches = self.list(value, key),
                "source" => raw.source = self.source(value, key),
                "sha256" => raw.sha256 = self.text(value, key),
                "package_suffix" => raw.package_suffix = self.text(value, key),
                "requirements" => raw.requirements = self.requirements(value, key),
                "resources" => raw.resources = self.resources(value, key),
                "rpath" => raw.rpath = self.list(value, key),
                "skip_python" => raw.skip_python = self.list(value, key),
                "arch_specific" => raw.arch_specific = self.boolean(value, key),
                "adopt" => raw.adopt = self.adopt(value, key),
                "extend" if !value.value.is_null() => {
                    raw.extend = self
                        .recipe(value, key, Level::Extend)
                        .map(|more| Located::new(Box::new(more), value.position));
                }
                "versions" => {
                    raw.versions = self.items(value, key, |entry, key| {
                        self.recipe(entry, key, Level::Entry)
                            .map(|recipe| Located::new(recipe, entry.position))
                    });
                }
                _ => {}
            }
        }
        Some(raw)
    }

    /// The sub-mapping at `key` (no value: not given), with the keys `allowed` there.
    fn table<'n>(
        &self,
        node: &'n Located<Node>,
        key: &str,
        expected: &str,
        allowed: &[&str],
    ) -> Option<Vec<Entry<'n>>> {
        if node.value.is_null() {
            return None;
        }
        self.entries(node, key, expected, allowed, &|_| None)
    }

    fn skip_import(&self, node: &Located<Node>, key: &str) -> Option<Located<RawSkipImport>> {
        let entries = self.entries(
            node,
            key,
            "a `skip_imports` entry is a mapping `{module: pkg.cuda, reason: needs a GPU}`",
            &SKIP_IMPORT_KEYS,
            &|_| None,
        )?;
        let mut raw = RawSkipImport::default();
        for Entry { name, key, value } in entries {
            match name {
                "module" => raw.module = self.text(value, &key),
                _ => raw.reason = self.text(value, &key),
            }
        }
        Some(Located::new(raw, node.position))
    }

    fn environment(&self, node: &Located<Node>, key: &str) -> Option<Vec<(RawText, RawText)>> {
        if node.value.is_null() {
            return None;
        }
        let Node::Mapping(pairs) = &node.value else {
            self.fault(
                key,
                node.position,
                format!(
                    "`environment` is a mapping of variables (`NAME: value`), not {}",
                    node.value.describe()
                ),
            );
            return None;
        };
        let mut variables = Vec::new();
        for (name, value) in pairs {
            let Node::Scalar { value: text, .. } = &name.value else {
                self.fault(
                    key,
                    name.position,
                    "a variable name is a word, not a list or a mapping",
                );
                continue;
            };
            let path = join_key(key, text);
            if variables
                .iter()
                .any(|(seen, _): &(RawText, RawText)| seen.value == *text)
            {
                self.fault(&path, name.position, format!("a second `{text}` in one mapping"));
                continue;
            }
            if let Some(value) = self.item(value, &path) {
                variables.push((Located::new(text.clone(), name.position), value));
            }
        }
        Some(variables)
    }

    fn source(&self, node: &Located<Node>, key: &str) -> Option<Located<RawSource>> {
        match &node.value {
            value if value.is_null() => None,
            Node::Scalar { value, .. } => Some(Located::new(RawSource::Word(value.clone()), node.position)),
            _ => {
                let expected =
                    "`source` is `pypi`, {url: URL, sha256: HEX} or {git: URL, rev: COMMIT-OR-TAG}";
                let entries = self.entries(node, key, expected, &SOURCE_KEYS, &|_| None)?;
                let mut table = RawSourceTable::default();
                for Entry { name, key, value } in entries {
                    let text = self.text(value, &key);
                    match name {
                        "url" => table.url = text,
                        "sha256" => table.sha256 = text,
                        "git" => table.git = text,
                        _ => table.rev = text,
                    }
                }
                Some(Located::new(RawSource::Table(Box::new(table)), node.position))
            }
        }
    }

    fn requirements(&self, node: &Located<Node>, key: &str) -> Option<RawRequirements> {
        let expected = "`requirements` is a mapping {add: [...], remove: [...], update: [...]}";
        let entries = self.table(node, key, expected, &REQUIREMENT_KEYS)?;
        let mut raw = RawRequirements::default();
        for Entry { name, key, value } in entries {
            let list = self.list(value, &key);
            match name {
                "add" => raw.add = list,
                "remove" => raw.remove = list,
                _ => raw.update = list,
            }
        }
        Some(raw)
    }

    fn resources(&self, node: &Located<Node>, key: &str) -> Option<RawResources> {
        let expected = "`resources` is a mapping {cpus: 8, memory: 16G, time: 2h}";
        let entries = self.table(node, key, expected, &RESOURCE_KEYS)?;
        let mut raw = RawResources::default();
        for Entry { name, key, value } in entries {
            let text = self.text(value, &key);
            match name {
                "cpus" => raw.cpus = text,
                "memory" => raw.memory = text,
                _ => raw.time = text,
            }
        }
        Some(raw)
    }

    fn adopt(&self, node: &Located<Node>, key: &str) -> Option<RawAdopt> {
        let expected = "`adopt` is a mapping (`adopt: {}` takes the index's wheels as they are)";
        let entries = self.table(node, key, expected, &ADOPT_KEYS)?;
        let mut raw = RawAdopt::default();
        for Entry { name, key, value } in entries {
            match name {
                "find_links" => raw.find_links = self.text(value, &key),
                "url" => raw.url = self.text(value, &key),
                "add_rpath" => raw.add_rpath = self.list(value, &key),
                "add_origin" => raw.add_origin = self.boolean(value, &key),
                _ => raw.remove_rpath_prefix = self.list(value, &key),
            }
        }
        Some(raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(text: &str) -> Vec<String> {
        let collected = Collected::default();
        read_recipe(text, Path::new("r/a.yaml"), &collected);
        match collected.finish(Some(()), Path::new("r/a.yaml")) {
            Ok(()) => Vec::new(),
            Err(errors) => errors.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn suggestions_come_from_the_keys_of_the_place() {
        let entry = Level::Entry.keys();
        assert_eq!(nearest_key("patchez", &entry), Some("patches"));
        assert_eq!(nearest_key("importnames", &entry), Some("import_names"));
        assert_eq!(nearest_key("Import-Names", &entry), Some("import_names"));
        assert_eq!(nearest_key("wehn", &entry), Some("when"));
        assert_eq!(nearest_key("colour", &entry), None);
        // `package` is a top-level key: never suggested in an entry.
        assert_eq!(nearest_key("packag", &entry), None);
        assert_eq!(nearest_key("packag", &Level::Top.keys()), Some("package"));
        assert_eq!(Level::Top.keys().len(), 29);
        assert!(!Level::Entry.keys().contains(&"package"));
        assert!(Level::Extend.keys().iter().all(|key| LIST_KEYS.contains(key)));
    }

    #[test]
    fn every_key_and_shape_mistake_is_collected_in_one_walk() {
        let [top, entry, extend] =
            [Level::Top, Level::Entry, Level::Extend].map(|level| level.keys().join(", "));
        let text = "package: a\npatchez: [x]\nimport_names: x\nwhen: '>1'\narch_specific: maybe\nversions:\n  - when: '>1'\n    package: a\n    extend: {test: x, pre_biuld: [y]}\n    environment: {A: ~}\n  - 3\n";
        assert_eq!(
            errors(text),
            [
                "r/a.yaml:2:1: key `patchez`: unknown key; did you mean `patches`? (the keys here: package, import_names, skip_imports, import_timeout, test_gpus, test, test_command, build_dependencies, test_dependencies, modules, build_modules, environment, pre_download, post_download, pre_build, post_build, build_command, build_args, patches, source, sha256, package_suffix, requirements, resources, rpath, skip_python, arch_specific, adopt, versions)",
                "r/a.yaml:3:15: key `import_names`: expected a list (`[a, b]`, or one `- a` line per item), not the text \"x\"",
                &format!(
                    "r/a.yaml:4:1: key `when`: `when` belongs in an entry of `versions`, not at the top level (the keys here: {top})"
                ),
                "r/a.yaml:5:16: key `arch_specific`: expected true or false, not the text \"maybe\"",
                &format!(
                    "r/a.yaml:8:5: key `versions[0].package`: `package` is only allowed at the top level, not in a `versions` entry (the keys here: {entry})"
                ),
                &format!(
                    "r/a.yaml:9:14: key `versions[0].extend.test`: `extend` appends to lists; `test` is not a list: set it in the entry itself (the keys here: {extend})"
                ),
                "r/a.yaml:9:23: key `versions[0].extend.pre_biuld`: unknown key; did you mean `pre_build`? (the keys here: import_names, skip_imports, build_dependencies, test_dependencies, modules, build_modules, pre_download, post_download, pre_build, post_build, build_args, patches, requirements, rpath, skip_python)",
                "r/a.yaml:10:22: key `versions[0].environment.A`: no value: give a string (\"\" for an empty one)",
                "r/a.yaml:11:5: key `versions[1]`: a `versions` entry is a mapping (`- when: \">=2\"` and settings), not the text \"3\"",
            ]
        );
    }

    #[test]
    fn aliases_merges_and_repeats() {
        let text = "package: a\nbase: &deps [x, y]\n";
        assert_eq!(errors(text).len(), 1);
        let collected = Collected::default();
        let raw = read_recipe(
            "package: a\nbuild_dependencies: &deps [x, y]\ntest_dependencies: *deps\nadopt: &adopt {url: u}\nversions:\n  - <<: {when: '>1', test: t}\n    test: mine\n",
            Path::new("r/a.yaml"),
            &collected,
        )
        .unwrap();
        assert!(collected.finish(Some(()), Path::new("r/a.yaml")).is_ok());
        let tests: Vec<String> = raw
            .test_dependencies
            .unwrap()
            .into_iter()
            .map(|text| text.value)
            .collect();
        assert_eq!(tests, ["x", "y"]);
        let entry = &raw.versions.unwrap()[0].value;
        assert_eq!(entry.when.as_ref().unwrap().value, ">1");
        assert_eq!(entry.test.as_ref().unwrap().value, "mine");
        assert_eq!(
            errors("package: a\ntest: x\ntest: y\n"),
            ["r/a.yaml:3:1: key `test`: a second `test` in one mapping (the first is on line 2)"]
        );
        assert_eq!(
            errors("package: a\n---\npackage: b\n"),
            [
                "r/a.yaml:2:1: a recipe is one YAML document; remove the second `---` and what follows, or merge them"
            ]
        );
        assert_eq!(
            errors("- a\n"),
            ["r/a.yaml:1:1: a recipe is a mapping of keys (`package: name` and settings), not a list"]
        );
    }
}
