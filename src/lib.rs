//! wheelwright: build, fix, classify and publish Python wheels for HPC wheelhouses.
//!
//! Modules, from the pure core outwards:
//! - [`atomic`]: files written whole or not at all (temporary file, fsync, rename);
//! - [`spec`]: wheel filenames, tags, METADATA, WHEEL, RECORD, requirement edits (no I/O);
//! - [`wheel`]: reading wheels safely, writing them atomically, rewriting and verifying them;
//! - [`elf`]: ELF reading (goblin, addresses mapped through every `PT_LOAD`), search path
//!   editing, and the instruction scan (iced-x86);
//! - [`inspect`]: a wheel's ELF members read in parallel, verification in the same pass;
//! - [`classify`]: layers, arch and destination from a wheel's ELF files;
//! - [`audit`]: verify + ELF members + classification + the record of verified wheels, once;
//! - [`layout`]: `wheelhouse-layout.toml`, the site described as data;
//! - [`wheelhouse`]: the tree read once, node views, and cp-wheels placement;
//! - [`recipe`]: `recipes/*.yaml`, read, checked and resolved per version;
//! - [`migrate`]: another tool's build configs (wheels_builder's `build_wheel.sh`) made into
//!   recipes;
//! - [`stack`]: entering a site's stack (a layer's lines, Lmod modules), kept across runs;
//! - [`resources`]: memory sizes and wall times as recipes and the nightly write them;
//! - [`cause`]: whose a failure is (recipe, site stack, source, package, tool, limit);
//! - [`index`]: the package index client (PEP 503/691 pages, cached with their validators,
//!   version choice, downloads hashed on the way);
//! - [`tools`]: every external program (python, uv, pip, git, patch, compilers), found on
//!   PATH, run, logged and judged in one place;
//! - [`diagnose`]: what a failed command's log says (decisive lines, hint, whose it is);
//! - [`python`]: interpreters found by path, uv, and the tool versions builds record;
//! - [`build`]: `wheelbuild`'s pipeline: sources (through [`index`]), build environments
//!   and backends, post-processing, smoke tests, staging and build records;
//! - [`nightly`]: the nightly rebuild: its configuration, the plan of every cell against the
//!   state earlier runs left, executors, resumable runs and reports;
//! - [`parallel`]: the one parallel map the threads of every command go through;
//! - [`hint`]: the fix for an error as data, printed on its own `hint:` line;
//! - [`words`]: counts with their nouns, singular or plural, in every message;
//! - [`cli`] and [`commands`]: the command-line front ends.

pub mod atomic;
pub mod audit;
pub mod build;
pub mod cause;
pub mod classify;
pub mod cli;
pub mod commands;
pub mod diagnose;
pub mod elf;
pub mod hint;
pub mod index;
pub mod inspect;
pub mod layout;
pub mod migrate;
pub mod nightly;
pub mod parallel;
pub mod python;
pub mod recipe;
pub mod resources;
pub mod spec;
pub mod stack;
pub mod tools;
pub mod wheel;
pub mod wheelhouse;
pub mod words;
