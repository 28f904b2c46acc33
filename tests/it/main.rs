//! Integration tests: the binaries run for real on wheels made here or fetched from PyPI.

#![allow(clippy::disallowed_methods)] // tests use std::fs freely and run the binaries and tools themselves

mod adopt;
mod backends;
mod check;
mod check_real;
mod common;
mod consumer;
mod cp_wheels;
mod docs;
mod index;
mod inspect;
mod latest;
mod layers;
mod layout;
mod manipulate;
mod messages;
mod nightly;
mod nightly_guards;
mod nightly_unplannable;
mod real_wheels;
mod recipe;
mod recipe_import;
mod report;
mod site_box;
mod stack;
mod verify;
mod wheelbuild;
