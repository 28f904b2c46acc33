//! The wheelhouse tree: reading it once ([`tree`]), the view a node has of it ([`view`]),
//! and placing wheels into it safely ([`place`]).

pub mod place;
pub mod tree;
pub mod view;

pub use tree::{Tree, TreeDir, TreeWheel};
pub use view::{NodeView, node_view};
