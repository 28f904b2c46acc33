//! Placing wheels into the tree (cp-wheels).
