//! The YAML text of a recipe read into a tree of nodes that keep their line and column (with
//! granit-parser, serde-saphyr's parser): one document, aliases replaced by what they name
//! (bounded), nothing checked against the recipe schema yet (the walk in `raw` does that).

use std::collections::HashMap;

use serde_saphyr::granit_parser::{Event, Parser, ScalarStyle};

use super::Located;
use crate::recipe::Position;

/// A YAML node as written, with the position of its first character.
#[derive(Debug, Clone)]
pub(super) enum Node {
    Scalar { value: String, plain: bool },
    Sequence(Vec<Located<Node>>),
    Mapping(Vec<(Located<Node>, Located<Node>)>),
}

impl Node {
    /// A plain `~`, `null` or nothing at all: no value.
    pub(super) fn is_null(&self) -> bool {
        matches!(self, Node::Scalar { value, plain: true } if matches!(value.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }

    /// What the node is, for "expected ..., not ..." messages.
    pub(super) fn describe(&self) -> String {
        match self {
            _ if self.is_null() => "no value".to_string(),
            Node::Scalar { value, .. } => format!("the text {value:?}"),
            Node::Sequence(_) => "a list".to_string(),
            Node::Mapping(_) => "a mapping".to_string(),
        }
    }

    /// The number of nodes in the tree, to bound what aliases expand to.
    fn size(&self) -> usize {
        1 + match self {
            Node::Scalar { .. } => 0,
            Node::Sequence(items) => items.iter().map(|item| item.value.size()).sum(),
            Node::Mapping(entries) => entries
                .iter()
                .map(|(key, value)| key.value.size() + value.value.size())
                .sum(),
        }
    }
}

/// The most nodes aliases may add to a document: far more than any recipe needs, and a
/// stop to "billion laughs" documents.
const MAX_ALIAS_NODES: usize = 100_000;

/// YAML that cannot be read as one document.
pub(super) struct SyntaxError {
    pub(super) message: String,
    pub(super) position: Option<Position>,
}

/// Reads the YAML text into a tree (aliases replaced by what they name); None for a
/// document with nothing in it.
pub(super) fn read_tree(text: &str) -> Result<Option<Located<Node>>, SyntaxError> {
    enum Open {
        Sequence {
            items: Vec<Located<Node>>,
            position: Option<Position>,
            anchor: usize,
        },
        Mapping {
            entries: Vec<(Located<Node>, Located<Node>)>,
            key: Option<Located<Node>>,
            position: Option<Position>,
            anchor: usize,
        },
    }

    let mut open: Vec<Open> = Vec::new();
    let mut anchors: HashMap<usize, Located<Node>> = HashMap::new();
    let mut root = None;
    let mut documents = 0;
    let mut aliased = 0;
    for item in Parser::new_from_str(text) {
        let (event, span) = item.map_err(|error| SyntaxError {
            message: error.info(),
            position: Position::of(error.marker()),
        })?;
        let position = Position::of(&span.start);
        let (node, anchor) = match event {
            Event::DocumentStart(..) => {
                documents += 1;
                if documents > 1 {
                    return Err(SyntaxError {
                        message: "a recipe is one YAML document; remove the second `---` and what follows, or merge them".to_string(),
                        position,
                    });
                }
                continue;
            }
            Event::Scalar(value, style, anchor, _) => (
                Located::new(
                    Node::Scalar {
                        value: value.into_owned(),
                        plain: matches!(style, ScalarStyle::Plain),
                    },
                    position,
                ),
                anchor,
            ),
            Event::Alias(id) => {
                let Some(named) = anchors.get(&id) else {
                    return Err(SyntaxError {
                        message: "an alias to a node that contains it (recursive aliases are not supported)"
                            .to_string(),
                        position,
                    });
                };
                aliased += named.value.size();
                if aliased > MAX_ALIAS_NODES {
                    return Err(SyntaxError {
                        message: format!("aliases expand to more than {MAX_ALIAS_NODES} nodes"),
                        position,
                    });
                }
                (Located::new(named.value.clone(), position), 0)
            }
            Event::SequenceStart(_, anchor, _) => {
                open.push(Open::Sequence {
                    items: Vec::new(),
                    position,
                    anchor,
                });
                continue;
            }
            Event::MappingStart(_, anchor, _) => {
                open.push(Open::Mapping {
                    entries: Vec::new(),
                    key: None,
                    position,
                    anchor,
                });
                continue;
            }
            Event::SequenceEnd | Event::MappingEnd => match open.pop() {
                Some(Open::Sequence {
                    items,
                    position,
                    anchor,
                }) => (Located::new(Node::Sequence(items), position), anchor),
                Some(Open::Mapping {
                    entries,
                    position,
                    anchor,
                    ..
                }) => (Located::new(Node::Mapping(entries), position), anchor),
                None => continue,
            },
            _ => continue,
        };
        if anchor != 0 {
            anchors.insert(anchor, node.clone());
        }
        match open.last_mut() {
            None => root = Some(node),
            Some(Open::Sequence { items, .. }) => items.push(node),
            Some(Open::Mapping { entries, key, .. }) => match key.take() {
                None => *key = Some(node),
                Some(name) => entries.push((name, node)),
            },
        }
    }
    Ok(root.filter(|node| !node.value.is_null()))
}
