//! The wheelhouse tree: reading it once ([`tree`]), the view a node has of it ([`view`]),
//! and placing wheels into it safely ([`place`], which heeds the [`build_record`] beside
//! each wheel); and its consumers' side: what a node is
//! offered ([`avail`]), its installer configuration ([`pipconf`]), a static simple index
//! per view ([`index`], pages rendered by [`simple`]), and what every node can install,
//! checked across the whole tree ([`check`]).

pub mod avail;
pub mod build_record;
pub mod check;
pub mod index;
pub mod pipconf;
pub mod place;
pub mod simple;
pub mod tree;
pub mod view;

pub use tree::{Tree, TreeDir, TreeWheel};
pub use view::{NodeView, NodeViewError, node_view};
