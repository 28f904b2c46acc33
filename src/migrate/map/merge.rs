//! The merge of every layer's and arch's drafts into one set of recipe values: a value that
//! differs per layer becomes a `{% if layer == ... %}` template; and how values are described
//! in notes.

use std::collections::{BTreeMap, BTreeSet};

use super::super::stack::StackCell;
use super::*;
use crate::recipe::is_template;

/// Turns raw text (the version as [`NEWEST_VERSION`]) into a template: `{{ version }}` for
/// the version, everything else literal (template syntax in it inside `{% raw %}`).
pub fn template(raw: &str) -> String {
    raw.split(NEWEST_VERSION)
        .map(literal)
        .collect::<Vec<_>>()
        .join("{{ version }}")
}

/// Literal text as a template that renders to it.
pub fn literal(text: &str) -> String {
    if is_template(text) || text.ends_with('{') {
        format!("{{% raw %}}{text}{{% endraw %}}")
    } else {
        text.to_string()
    }
}

/// A value written to the recipe (templates).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    Text(String),
    List(Vec<String>),
    Map(BTreeMap<String, String>),
    Flag(bool),
    Source(WrittenSource),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WrittenSource {
    Pypi,
    Url(String),
    Git { url: String, rev: String },
}

/// The condition (a tera expression) for a set of cells, or None for all of them.
pub fn condition(cells: &[StackCell], present: &[bool]) -> Option<String> {
    if present.iter().all(|present| *present) {
        return None;
    }
    let mut layers: Vec<&str> = Vec::new();
    for cell in cells {
        if !layers.contains(&cell.layer.as_str()) {
            layers.push(&cell.layer);
        }
    }
    let mut parts = Vec::new();
    for layer in layers {
        let archs: Vec<(&str, bool)> = cells
            .iter()
            .zip(present)
            .filter(|(cell, _)| cell.layer == layer)
            .map(|(cell, present)| (cell.arch.as_str(), *present))
            .collect();
        if archs.iter().all(|(_, present)| *present) {
            parts.push(format!("layer == \"{layer}\""));
        } else {
            for (arch, _) in archs.iter().filter(|(_, present)| *present) {
                parts.push(format!("layer == \"{layer}\" and arch == \"{arch}\""));
            }
        }
    }
    Some(parts.join(" or "))
}

/// One text per cell as one template: the most common value (the first cell's among
/// equals) unconditional, the others behind their conditions.
pub fn merge_text(cells: &[StackCell], values: &[String]) -> String {
    let mut distinct: Vec<&String> = Vec::new();
    for value in values {
        if !distinct.contains(&value) {
            distinct.push(value);
        }
    }
    if distinct.len() == 1 {
        return template(distinct[0]);
    }
    let count = |value: &String| values.iter().filter(|other| *other == value).count();
    let fallback = distinct
        .iter()
        .copied()
        .max_by_key(|value| {
            (
                count(value),
                std::cmp::Reverse(values.iter().position(|other| other == *value)),
            )
        })
        .unwrap_or(distinct[0]);
    let mut out = String::new();
    for (index, value) in distinct.iter().filter(|value| **value != fallback).enumerate() {
        let present: Vec<bool> = values.iter().map(|other| other == *value).collect();
        let condition = condition(cells, &present).unwrap_or_else(|| "true".to_string());
        let tag = if index == 0 { "if" } else { "elif" };
        out.push_str(&format!("{{% {tag} {condition} %}}{}", template(value)));
    }
    if !fallback.is_empty() {
        out.push_str(&format!("{{% else %}}{}", template(fallback)));
    }
    out.push_str("{% endif %}");
    out
}

/// One list per cell as one list of templates: items in every cell as they are, the others
/// behind the condition of the cells that have them (they render to nothing elsewhere, and
/// an item that renders to nothing is left out).
pub fn merge_list(cells: &[StackCell], lists: &[Vec<String>]) -> Vec<String> {
    let mut merged: Vec<String> = Vec::new();
    for list in lists {
        // A new item goes right after the item before it in its own list.
        let mut previous: Option<usize> = None;
        for item in list {
            match merged.iter().position(|existing| existing == item) {
                Some(position) => previous = Some(position),
                None => {
                    let position = previous.map_or(0, |position| position + 1);
                    merged.insert(position, item.clone());
                    previous = Some(position);
                }
            }
        }
    }
    merged
        .iter()
        .map(|item| {
            let present: Vec<bool> = lists.iter().map(|list| list.contains(item)).collect();
            match condition(cells, &present) {
                None => template(item),
                Some(condition) => format!("{{% if {condition} %}}{}{{% endif %}}", template(item)),
            }
        })
        .collect()
}

/// The values of every cell of one config merged into written values, with notes about
/// what could not be merged. `drafts` are in the order of `cells`.
pub fn merge_cells(cells: &[StackCell], drafts: &[Draft]) -> (BTreeMap<Key, Written>, Vec<Note>) {
    let mut keys: BTreeSet<Key> = BTreeSet::new();
    for draft in drafts {
        keys.extend(draft.values.keys().copied());
    }
    let mut written = BTreeMap::new();
    let mut notes = Vec::new();
    for key in keys {
        let values: Vec<Option<&Value>> = drafts.iter().map(|draft| draft.values.get(&key)).collect();
        if let Some(value) = merge_key(cells, key, &values, &mut notes) {
            written.insert(key, value);
        }
    }
    (written, notes)
}

/// One key's values of every cell (None: not set there) merged.
pub fn merge_key(
    cells: &[StackCell],
    key: Key,
    values: &[Option<&Value>],
    notes: &mut Vec<Note>,
) -> Option<Written> {
    let kind = values.iter().flatten().next()?;
    match kind {
        Value::Text(_) => {
            let texts: Vec<String> = values
                .iter()
                .map(|value| match value {
                    Some(Value::Text(text)) => text.clone(),
                    _ => String::new(),
                })
                .collect();
            Some(Written::Text(merge_text(cells, &texts)))
        }
        Value::List(_) => {
            let lists: Vec<Vec<String>> = values
                .iter()
                .map(|value| match value {
                    Some(Value::List(items)) => items.clone(),
                    _ => Vec::new(),
                })
                .collect();
            Some(Written::List(merge_list(cells, &lists)))
        }
        Value::Map(_) => Some(Written::Map(merge_map(cells, key, values, notes))),
        Value::Flag(_) => Some(Written::Flag(
            values
                .iter()
                .any(|value| matches!(value, Some(Value::Flag(true)))),
        )),
        Value::Source(_) => Some(Written::Source(merge_source(cells, values, notes))),
    }
}

/// One map key's values of every cell merged name by name (a name missing in a cell is set
/// empty there, with a note).
fn merge_map(
    cells: &[StackCell],
    key: Key,
    values: &[Option<&Value>],
    notes: &mut Vec<Note>,
) -> BTreeMap<String, String> {
    let maps: Vec<BTreeMap<String, String>> = values
        .iter()
        .map(|value| match value {
            Some(Value::Map(map)) => map.clone(),
            _ => BTreeMap::new(),
        })
        .collect();
    let names: BTreeSet<&String> = maps.iter().flat_map(|map| map.keys()).collect();
    let mut merged = BTreeMap::new();
    for name in names {
        let texts: Vec<String> = maps
            .iter()
            .map(|map| map.get(name).cloned().unwrap_or_default())
            .collect();
        if maps.iter().any(|map| !map.contains_key(name)) {
            let present: Vec<bool> = maps.iter().map(|map| map.contains_key(name)).collect();
            notes.push(Note::on(
                key,
                format!(
                    "{name} is exported only where {}; elsewhere the recipe sets it empty (rather than not at all)",
                    condition(cells, &present).unwrap_or_default()
                ),
            ));
        }
        merged.insert(name.clone(), merge_text(cells, &texts));
    }
    merged
}

/// The source of every cell (None: PyPI) merged: URLs or git repositories as templates when
/// every cell has that kind; else the first cell's (the default layer's), with a note.
fn merge_source(cells: &[StackCell], values: &[Option<&Value>], notes: &mut Vec<Note>) -> WrittenSource {
    let sources: Vec<SourceValue> = values
        .iter()
        .map(|value| match value {
            Some(Value::Source(source)) => source.clone(),
            _ => SourceValue::Pypi,
        })
        .collect();
    let urls: Option<Vec<String>> = sources
        .iter()
        .map(|source| match source {
            SourceValue::Url(url) => Some(url.clone()),
            _ => None,
        })
        .collect();
    if let Some(urls) = urls {
        return WrittenSource::Url(merge_text(cells, &urls));
    }
    let gits: Option<Vec<(String, String)>> = sources
        .iter()
        .map(|source| match source {
            SourceValue::Git { url, rev } => Some((url.clone(), rev.clone())),
            _ => None,
        })
        .collect();
    if let Some(gits) = gits {
        let urls: Vec<String> = gits.iter().map(|(url, _)| url.clone()).collect();
        let revs: Vec<String> = gits.iter().map(|(_, rev)| rev.clone()).collect();
        return WrittenSource::Git {
            url: merge_text(cells, &urls),
            rev: merge_text(cells, &revs),
        };
    }
    // Different kinds of source per layer: the first cell's (the default layer's).
    notes.push(Note::on(
        Key::Source,
        format!(
            "the source differs per layer ({}); the recipe has the default layer's",
            sources
                .iter()
                .map(describe_source)
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect::<Vec<_>>()
                .join(", ")
        ),
    ));
    match &sources[0] {
        SourceValue::Pypi => WrittenSource::Pypi,
        SourceValue::Url(url) => WrittenSource::Url(template(url)),
        SourceValue::Git { url, rev } => WrittenSource::Git {
            url: template(url),
            rev: template(rev),
        },
    }
}

pub fn describe_source(source: &SourceValue) -> String {
    match source {
        SourceValue::Pypi => "pypi".to_string(),
        SourceValue::Url(url) => format!("url {}", url.replace(NEWEST_VERSION, "<version>")),
        SourceValue::Git { url, rev } => format!("git {url} at {}", rev.replace(NEWEST_VERSION, "<version>")),
    }
}

/// A value shown in a note, the version as `<version>`.
pub fn describe(value: Option<&Value>) -> String {
    let text = match value {
        None => "(not set)".to_string(),
        Some(Value::Text(text)) => shown(text),
        Some(Value::List(items)) => format!(
            "[{}]",
            items
                .iter()
                .map(|item| shown(item))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Some(Value::Map(map)) => format!(
            "{{{}}}",
            map.iter()
                .map(|(name, value)| format!("{name}: {}", shown(value)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Some(Value::Flag(flag)) => flag.to_string(),
        Some(Value::Source(source)) => describe_source(source),
    };
    text.replace(NEWEST_VERSION, "<version>")
}

/// A value with every occurrence of `from` replaced by `to` (the version of one evaluation
/// as that of another).
pub fn replace_in(value: &Value, from: &str, to: &str) -> Value {
    let swap = |text: &String| text.replace(from, to);
    match value {
        Value::Text(text) => Value::Text(swap(text)),
        Value::List(items) => Value::List(items.iter().map(swap).collect()),
        Value::Map(map) => Value::Map(
            map.iter()
                .map(|(name, value)| (name.clone(), swap(value)))
                .collect(),
        ),
        Value::Flag(flag) => Value::Flag(*flag),
        Value::Source(source) => Value::Source(match source {
            SourceValue::Pypi => SourceValue::Pypi,
            SourceValue::Url(url) => SourceValue::Url(swap(url)),
            SourceValue::Git { url, rev } => SourceValue::Git {
                url: swap(url),
                rev: swap(rev),
            },
        }),
    }
}

/// The value that clears a key in a `versions` entry (its type's empty value).
pub fn cleared(value: &Value) -> Value {
    match value {
        Value::Text(_) => Value::Text(String::new()),
        Value::List(_) => Value::List(Vec::new()),
        Value::Map(_) => Value::Map(BTreeMap::new()),
        Value::Flag(flag) => Value::Flag(*flag),
        Value::Source(_) => Value::Source(SourceValue::Pypi),
    }
}
