//! The imported recipe as YAML text (every string quoted, multi-line text as `|` blocks,
//! notes as comments), proved by parsing it back with the recipe parser and resolving it
//! for every layer and arch, then written atomically with its patch files.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use pep440_rs::Version;

use super::map::{Key, Written, WrittenSource};
use super::stack::StackCell;
use crate::layout::Layout;
use crate::recipe::{RecipeFile, TemplateContext};

/// One recipe to write.
#[derive(Debug, Clone, Default)]
pub struct Document {
    pub package: String,
    /// Comment lines at the top (where it came from, notes without a key).
    pub header: Vec<String>,
    pub top: BTreeMap<Key, Written>,
    /// Comments above keys of the top level.
    pub comments: BTreeMap<Key, Vec<String>>,
    pub versions: Vec<VersionEntry>,
}

/// One `versions` entry (from a `config/<package>-<version>.sh`).
#[derive(Debug, Clone, Default)]
pub struct VersionEntry {
    pub when: String,
    /// A version the entry applies to, to resolve it with.
    pub sample: String,
    pub comments: Vec<String>,
    pub values: BTreeMap<Key, Written>,
}

/// A scalar in YAML: a `|` block for multi-line text that a block keeps exactly, else a
/// double-quoted string with escapes.
fn scalar(text: &str, indent: usize) -> String {
    let blockable = text.contains('\n')
        && !text.starts_with('\n')
        && text
            .chars()
            .all(|c| c == '\n' || c == '\t' || !(c.is_control() || c == '\u{feff}'))
        && text
            .split('\n')
            .all(|line| line.is_empty() || !line.trim().is_empty())
        && !text.trim_end_matches('\n').ends_with([' ', '\t']);
    if !blockable {
        return quoted(text);
    }
    let body = text.trim_end_matches('\n');
    let trailing = text.len() - body.len();
    let chomp = match trailing {
        0 => "-",
        1 => "",
        _ => "+",
    };
    let indicator = if body.starts_with([' ', '\t']) { "2" } else { "" };
    let pad = " ".repeat(indent + 2);
    let mut out = format!("|{indicator}{chomp}");
    for line in text
        .trim_end_matches('\n')
        .split('\n')
        .chain(std::iter::repeat_n("", trailing.saturating_sub(1)))
    {
        out.push('\n');
        if !line.is_empty() {
            out.push_str(&pad);
            out.push_str(line);
        }
    }
    out
}

/// A double-quoted YAML string.
pub fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for character in text.chars() {
        match character {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() || c == '\u{feff}' || c == '\u{2028}' || c == '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A comment, one `#` line per line of text.
fn comment(out: &mut String, indent: usize, text: &str) {
    for line in text.lines() {
        let _ = writeln!(out, "{}# {}", " ".repeat(indent), line.trim_end());
    }
}

/// `key: value` (or a block under `key:`) at `indent`.
fn entry(out: &mut String, indent: usize, key: Key, value: &Written) {
    let pad = " ".repeat(indent);
    if key == Key::RequirementsUpdate {
        let _ = writeln!(out, "{pad}requirements:");
        entry_named(out, indent + 2, "update", value);
        return;
    }
    entry_named(out, indent, key.name(), value);
}

fn entry_named(out: &mut String, indent: usize, name: &str, value: &Written) {
    let pad = " ".repeat(indent);
    match value {
        Written::Text(text) => {
            let _ = writeln!(out, "{pad}{name}: {}", scalar(text, indent));
        }
        Written::Flag(flag) => {
            let _ = writeln!(out, "{pad}{name}: {flag}");
        }
        Written::List(items) if items.is_empty() => {
            let _ = writeln!(out, "{pad}{name}: []");
        }
        Written::List(items) => {
            let _ = writeln!(out, "{pad}{name}:");
            for item in items {
                let _ = writeln!(out, "{pad}  - {}", scalar(item, indent + 2));
            }
        }
        Written::Map(map) if map.is_empty() => {
            let _ = writeln!(out, "{pad}{name}: {{}}");
        }
        Written::Map(map) => {
            let _ = writeln!(out, "{pad}{name}:");
            for (variable, value) in map {
                let _ = writeln!(out, "{pad}  {variable}: {}", scalar(value, indent + 2));
            }
        }
        Written::Source(WrittenSource::Pypi) => {
            let _ = writeln!(out, "{pad}{name}: pypi");
        }
        Written::Source(WrittenSource::Url(url)) => {
            let _ = writeln!(out, "{pad}{name}:\n{pad}  url: {}", quoted(url));
        }
        Written::Source(WrittenSource::Git { url, rev }) => {
            let _ = writeln!(
                out,
                "{pad}{name}:\n{pad}  git: {}\n{pad}  rev: {}",
                quoted(url),
                quoted(rev)
            );
        }
    }
}

impl Document {
    /// The recipe as YAML text.
    pub fn to_yaml(&self) -> String {
        let mut out = String::new();
        for line in &self.header {
            comment(&mut out, 0, line);
        }
        let _ = writeln!(out, "package: {}", quoted(&self.package));
        for (key, value) in &self.top {
            for note in self.comments.get(key).into_iter().flatten() {
                comment(&mut out, 0, note);
            }
            entry(&mut out, 0, *key, value);
        }
        if !self.versions.is_empty() {
            let _ = writeln!(out, "versions:");
            for version in &self.versions {
                for note in &version.comments {
                    comment(&mut out, 2, note);
                }
                let _ = writeln!(out, "  - when: {}", quoted(&version.when));
                for (key, value) in &version.values {
                    entry(&mut out, 4, *key, value);
                }
            }
        }
        out
    }

    /// What the recipe parser should read back: the serialised [`RecipeFile`] (settings and
    /// `versions`) of this document.
    pub fn expected_settings(&self) -> serde_json::Value {
        let mut top = settings_json(&self.top);
        if !self.versions.is_empty() {
            let versions: Vec<serde_json::Value> = self
                .versions
                .iter()
                .map(|version| {
                    let mut entry = settings_json(&version.values);
                    entry.insert("when".into(), version.when.clone().into());
                    serde_json::Value::Object(entry)
                })
                .collect();
            top.insert("versions".into(), versions.into());
        }
        serde_json::Value::Object(top)
    }
}

fn settings_json(values: &BTreeMap<Key, Written>) -> serde_json::Map<String, serde_json::Value> {
    let mut map = serde_json::Map::new();
    for (key, value) in values {
        let json = match value {
            Written::Text(text) => serde_json::Value::from(text.clone()),
            Written::Flag(flag) => serde_json::Value::from(*flag),
            Written::List(items) => serde_json::Value::from(items.clone()),
            Written::Map(entries) => serde_json::Value::Object(
                entries
                    .iter()
                    .map(|(name, value)| (name.clone(), serde_json::Value::from(value.clone())))
                    .collect(),
            ),
            Written::Source(WrittenSource::Pypi) => "pypi".into(),
            Written::Source(WrittenSource::Url(url)) => serde_json::json!({"url": url}),
            Written::Source(WrittenSource::Git { url, rev }) => serde_json::json!({"git": url, "rev": rev}),
        };
        if *key == Key::RequirementsUpdate {
            map.insert("requirements".into(), serde_json::json!({ "update": json }));
        } else {
            map.insert(key.name().into(), json);
        }
    }
    map
}

/// Checks recipe text as `wheelwright recipe check` does (parse, patch files under
/// `path`'s `patches/`), that it reads back as `document`, and that it resolves for every
/// layer and arch, at a version for the top level and each entry. The error in words.
pub fn check(
    text: &str,
    path: &Path,
    document: &Document,
    cells: &[StackCell],
    layout: &Layout,
) -> Result<(), String> {
    let recipe = RecipeFile::parse(text, path).map_err(|error| error.to_string())?;
    recipe.check_patch_files().map_err(|error| error.to_string())?;
    let mut read = serde_json::to_value(&recipe).map_err(|error| error.to_string())?;
    if let Some(object) = read.as_object_mut() {
        for own in ["file", "package", "name"] {
            object.remove(own);
        }
    }
    if read != document.expected_settings() {
        return Err(format!(
            "the YAML written does not read back as meant (an importer bug): read {read}, meant {}",
            document.expected_settings()
        ));
    }
    let python = layout
        .python_versions
        .first()
        .map(ToString::to_string)
        .unwrap_or_else(|| "3.12".to_string());
    let mut samples = vec!["1.0.0".to_string()];
    samples.extend(document.versions.iter().map(|version| version.sample.clone()));
    for sample in samples {
        let Ok(version) = Version::from_str(&sample) else {
            continue;
        };
        for cell in cells {
            let arch = layout.archs.get(&cell.arch);
            let context = TemplateContext {
                version: String::new(),
                python: python.clone(),
                arch: cell.arch.clone(),
                march: arch.map(|arch| arch.march.clone()).unwrap_or_default(),
                cflags: arch.map(|arch| arch.cflags.clone()).unwrap_or_default(),
                layer: cell.layer.clone(),
            };
            recipe.resolve(&version, &context).map_err(|error| {
                format!(
                    "{error} (resolved for version {sample} on {}/{})",
                    cell.layer, cell.arch
                )
            })?;
        }
    }
    Ok(())
}

/// Writes `contents` to `path` through a temporary file in the same directory.
pub fn write_atomically(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let directory = path.parent().unwrap_or(Path::new("."));
    let mut file = tempfile::NamedTempFile::new_in(directory)?;
    file.write_all(contents)?;
    file.as_file().sync_all()?;
    file.persist(path).map_err(|error| error.error)?;
    Ok(())
}

/// Copies patch files into `patches_out`; the ones it created (to remove if the recipe is
/// refused). A file already there with other contents is an error unless `force`.
pub fn copy_patches(
    names: &[String],
    patches_in: &Path,
    patches_out: &Path,
    force: bool,
) -> Result<Vec<PathBuf>, String> {
    let mut created = Vec::new();
    for name in names {
        let from = patches_in.join(name);
        let to = patches_out.join(name);
        let contents = fs_err::read(&from).map_err(|error| error.to_string())?;
        if to.exists() {
            let existing = fs_err::read(&to).map_err(|error| error.to_string())?;
            if existing == contents {
                continue;
            }
            if !force {
                return Err(format!(
                    "{} exists with other contents (use --force to replace it)",
                    to.display()
                ));
            }
        } else {
            created.push(to.clone());
        }
        if let Some(parent) = to.parent() {
            fs_err::create_dir_all(parent).map_err(|error| error.to_string())?;
        }
        write_atomically(&to, &contents).map_err(|error| format!("{}: {error}", to.display()))?;
    }
    Ok(created)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_quoted_and_blocks_keep_their_text() {
        assert_eq!(quoted("a \"b\" \\ c\u{1}"), "\"a \\\"b\\\" \\\\ c\\u0001\"");
        assert_eq!(scalar("one\n\ttwo", 0), "|-\n  one\n  \ttwo");
        assert_eq!(scalar("  indented\nnext\n", 2), "|2\n      indented\n    next");
        assert_eq!(scalar("carriage\r\nx", 0), "\"carriage\\r\\nx\"");
        assert_eq!(scalar("blank \n   \nx", 0), "\"blank \\n   \\nx\"");
        let mut document = Document {
            package: "Demo.Pkg".into(),
            header: vec!["imported".into()],
            ..Default::default()
        };
        let tricky = [
            "yes",
            "null",
            "- not a list",
            "# not a comment",
            "key: value",
            "{% raw %}${#a[@]}{% endraw %}",
            "multi\n  line: with colon\n\n# hash",
            "  leading\nspaces",
            "3.10",
            "'single'",
            "é ü \u{7f}",
        ];
        document.top.insert(
            Key::PreBuild,
            Written::List(tricky.iter().map(|text| text.to_string()).collect()),
        );
        document.top.insert(Key::Test, Written::Text("a\nb\n\n".into()));
        document.top.insert(
            Key::Environment,
            Written::Map([("A".to_string(), "x: y".to_string())].into()),
        );
        document
            .top
            .insert(Key::RequirementsUpdate, Written::List(vec!["a->b".into()]));
        document.top.insert(
            Key::Source,
            Written::Source(WrittenSource::Git {
                url: "https://example.org/x.git".into(),
                rev: "v{{ version }}".into(),
            }),
        );
        document
            .comments
            .insert(Key::Test, vec!["a note\nover two lines".into()]);
        document.versions.push(VersionEntry {
            when: "==1.2".into(),
            sample: "1.2".into(),
            comments: vec!["from demo-1.2.sh".into()],
            values: [
                (Key::Patches, Written::List(Vec::new())),
                (Key::TestCommand, Written::Text(String::new())),
            ]
            .into(),
        });
        let text = document.to_yaml();
        let recipe = RecipeFile::parse(&text, Path::new("/r/demo-pkg.yaml"))
            .unwrap_or_else(|error| panic!("{error}\n{text}"));
        let mut read = serde_json::to_value(&recipe).unwrap();
        for own in ["file", "package", "name"] {
            read.as_object_mut().unwrap().remove(own);
        }
        assert_eq!(read, document.expected_settings(), "{text}");
    }
}
