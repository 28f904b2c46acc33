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

#[cfg(test)]
mod architecture_page {
    /// docs/architecture.md names every module under `src/`: a top-level module has a row of
    /// the module table (its name in the row's first cell), and each submodule is named in
    /// that row by its path under the module (`smoke_test/install`, or its leaf `install`
    /// after its directory `smoke_test/`), or anywhere on the page as `a/b` or `a::b`.
    #[test]
    fn architecture_page_names_every_module() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let page = fs_err::read_to_string(root.join("docs/architecture.md")).unwrap();
        let mut rows: std::collections::BTreeMap<String, String> = std::collections::BTreeMap::new();
        for line in page.lines() {
            let Some(first) = line.strip_prefix("| ").and_then(|rest| rest.split(" | ").next()) else {
                continue;
            };
            for name in first.split(", ") {
                if let Some(name) = name.strip_prefix('`').and_then(|name| name.strip_suffix('`')) {
                    rows.insert(name.to_string(), line.to_string());
                }
            }
        }
        let mut missing = Vec::new();
        for entry in walkdir::WalkDir::new(root.join("src")).into_iter().flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|extension| extension != "rs") {
                continue;
            }
            let relative = path.strip_prefix(root.join("src")).unwrap().with_extension("");
            let mut parts: Vec<String> = relative
                .components()
                .map(|part| part.as_os_str().to_string_lossy().into_owned())
                .collect();
            if parts == ["lib"] || parts[0] == "bin" {
                continue;
            }
            if parts.last().is_some_and(|last| last == "mod") {
                parts.pop();
            }
            let Some(row) = rows.get(&parts[0]) else {
                missing.push(parts.join("/"));
                continue;
            };
            if parts.len() == 1 {
                continue;
            }
            let under = parts[1..].join("/");
            let leaf = parts.last().unwrap();
            let named = [format!("`{under}`"), format!("`{under}/"), format!("`{under}/`")]
                .iter()
                .any(|needle| row.contains(needle.as_str()))
                || (parts.len() > 2 && row.contains(&format!("`{leaf}`")))
                || page.contains(&parts.join("/"))
                || page.contains(&parts.join("::"));
            if !named {
                missing.push(parts.join("/"));
            }
        }
        assert!(
            missing.is_empty(),
            "docs/architecture.md does not name these modules: {missing:?}"
        );
    }
}
