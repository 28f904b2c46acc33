//! Integration tests: the binaries run for real on wheels made here or fetched from PyPI.

mod common;
mod manipulate;
mod real_wheels;
mod verify;
