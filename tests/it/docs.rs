//! Docs that cannot drift from the CLI: every command line written in README.md and docs/ is
//! parsed with the real clap definitions of the three binaries.
//!
//! Two kinds of lines are found:
//! - **examples** — the command lines of ```console blocks (the `$ ` lines, or every line
//!   when the block has none) and of ```sh/```bash blocks: each must parse as written, as if
//!   typed at a shell (up to a pipe, `&&`, `;`, a redirection or a comment);
//! - **synopses** — lines of plain ``` blocks and `inline code` that start with a binary's
//!   name (`cp-wheels [--wheel W]... [--arch A]`): their subcommands must exist and every flag
//!   they name must be a flag of that (sub)command. Brackets, `...`, `a|b` and `--a/--b` are
//!   read as synopsis notation; UPPERCASE and `<placeholder>` words stand for values.
//!
//! A removed subcommand or flag, or a mistyped one, fails the test with file:line.

use std::path::{Path, PathBuf};

use clap::CommandFactory as _;
use wheelwright::cli::{CpWheelsCli, WheelbuildCli, WheelwrightCli};

/// How a found line is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Typed at a shell: parsed in full.
    Example,
    /// Synopsis notation: subcommands and flags must exist.
    Synopsis,
}

/// A command line found in a document.
#[derive(Debug)]
struct Found {
    place: String,
    text: String,
    kind: Kind,
}

const BINARIES: [&str; 3] = ["wheelwright", "wheelbuild", "cp-wheels"];

/// The clap definition of a binary, built (global flags propagated to subcommands).
fn command_of(binary: &str) -> clap::Command {
    let mut command = match binary {
        "wheelwright" => WheelwrightCli::command(),
        "wheelbuild" => WheelbuildCli::command(),
        "cp-wheels" => CpWheelsCli::command(),
        other => panic!("no binary `{other}`"),
    };
    command.build();
    command
}

/// The binary a shell word runs (`wheelwright`, `target/release/cp-wheels`), if it is ours.
fn binary_of(word: &str) -> Option<&'static str> {
    let name = word.rsplit('/').next().unwrap_or(word);
    BINARIES.into_iter().find(|binary| *binary == name)
}

/// Whether a line (after an optional `$ `) starts a command we check: one of our binaries,
/// possibly after `VAR=value` words, or `cargo run ... --bin NAME` (`cargo build` runs nothing).
fn starts_command(line: &str) -> bool {
    let words: Vec<&str> = line.split_whitespace().collect();
    let mut rest = words.iter().skip_while(|word| is_assignment(word));
    match rest.next() {
        Some(&"cargo") => {
            rest.next() == Some(&"run")
                && words
                    .windows(2)
                    .any(|pair| pair[0] == "--bin" && binary_of(pair[1]).is_some())
        }
        Some(word) => binary_of(word).is_some(),
        None => false,
    }
}

fn is_assignment(word: &str) -> bool {
    word.split_once('=').is_some_and(|(name, _)| {
        !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
    })
}

/// Every command line of one Markdown document.
fn extract(markdown: &str, file: &str) -> Vec<Found> {
    let mut found = Vec::new();
    let lines: Vec<&str> = markdown.lines().collect();
    let mut index = 0;
    while index < lines.len() {
        let line = lines[index];
        let Some(language) = line.trim_start().strip_prefix("```") else {
            for span in inline_code(line) {
                if span.split_whitespace().next().and_then(binary_of).is_some() {
                    found.push(Found {
                        place: format!("{file}:{}", index + 1),
                        text: span.to_string(),
                        kind: Kind::Synopsis,
                    });
                }
            }
            index += 1;
            continue;
        };
        let language = language.trim().to_string();
        let start = index + 1;
        let mut end = start;
        while end < lines.len() && !lines[end].trim_start().starts_with("```") {
            end += 1;
        }
        let block = &lines[start..end];
        let kind = match language.as_str() {
            "console" | "sh" | "bash" | "shell" => Some(Kind::Example),
            "" | "text" => Some(Kind::Synopsis),
            _ => None,
        };
        if let Some(kind) = kind {
            let prompted =
                kind == Kind::Example && block.iter().any(|line| line.trim_start().starts_with("$ "));
            let mut number = 0;
            while number < block.len() {
                let first = number;
                let mut text = block[number].trim().to_string();
                // A shell continuation joins the next line.
                while text.ends_with('\\') && number + 1 < block.len() {
                    text.pop();
                    number += 1;
                    text.push(' ');
                    text.push_str(block[number].trim());
                }
                number += 1;
                let command = match text.strip_prefix("$ ") {
                    Some(command) => command,
                    None if prompted => continue,
                    None => text.as_str(),
                };
                if starts_command(command) {
                    found.push(Found {
                        place: format!("{file}:{}", start + first + 1),
                        text: command.to_string(),
                        kind,
                    });
                }
            }
        }
        index = end + 1;
    }
    found
}

/// The `code spans` of one line of prose.
fn inline_code(line: &str) -> Vec<&str> {
    let mut spans = Vec::new();
    let mut rest = line;
    while let Some(open) = rest.find('`') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('`') else { break };
        spans.push(&after[..close]);
        rest = &after[close + 1..];
    }
    spans
}

/// The words of an example as a shell passes them: up to a pipe, a list operator, a
/// redirection or a comment; `VAR=value` prefixes dropped; `cargo run ... --bin X --` read as
/// `X`. Returns the binary and its arguments.
fn shell_words(text: &str) -> Result<(&'static str, Vec<String>), String> {
    let words = shlex::split(text).ok_or_else(|| format!("unbalanced quotes in `{text}`"))?;
    let words: Vec<String> = words
        .into_iter()
        .take_while(|word| {
            !matches!(word.as_str(), "|" | "||" | "&&" | ";" | "&")
                && !word.starts_with('>')
                && !word.starts_with("2>")
                && !word.starts_with('<')
        })
        .skip_while(|word| is_assignment(word))
        .collect();
    let Some(first) = words.first() else {
        return Err(format!("no command in `{text}`"));
    };
    if first == "cargo" {
        let binary = words
            .windows(2)
            .find(|pair| pair[0] == "--bin")
            .and_then(|pair| binary_of(&pair[1]))
            .ok_or_else(|| format!("`{text}` runs no binary of ours"))?;
        let arguments = match words.iter().position(|word| word == "--") {
            Some(separator) => words[separator + 1..].to_vec(),
            None => Vec::new(),
        };
        return Ok((binary, arguments));
    }
    let binary = binary_of(first).ok_or_else(|| format!("`{first}` is not a binary of ours"))?;
    Ok((binary, words[1..].to_vec()))
}

/// Parses an example with the binary's clap definition.
fn check_example(text: &str) -> Result<(), String> {
    let (binary, arguments) = shell_words(text)?;
    let command = command_of(binary);
    match command.try_get_matches_from(std::iter::once(binary.to_string()).chain(arguments)) {
        Ok(_) => Ok(()),
        Err(error)
            if matches!(
                error.kind(),
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion
            ) =>
        {
            Ok(())
        }
        Err(error) => Err(error
            .render()
            .to_string()
            .lines()
            .next()
            .unwrap_or_default()
            .to_string()),
    }
}

/// The words of a synopsis with its notation taken apart: brackets and `...` dropped,
/// `-a|-b` and `--a/--b` split into their flags, `x|y` values reduced to `x`.
fn synopsis_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    for word in text.split_whitespace() {
        if word == "#" || word.starts_with("#") {
            break;
        }
        let word: String = word.chars().filter(|c| !matches!(c, '[' | ']')).collect();
        let word = word.trim_end_matches("...").trim_end_matches(',');
        if word.is_empty() {
            continue;
        }
        if word.starts_with('-') {
            for flag in word.split(['|', '/']) {
                if !flag.is_empty() {
                    words.push(flag.to_string());
                }
            }
        } else {
            words.push(word.split('|').next().unwrap_or(word).to_string());
        }
    }
    words
}

/// A placeholder for a value or a subcommand (`FILE`, `WHEEL`, `<subcommand>`, `OPTIONS`).
fn is_placeholder(word: &str) -> bool {
    word.starts_with('<')
        || word.starts_with('\'')
        || word.starts_with('"')
        || word.chars().any(|c| c.is_ascii_uppercase()) && !word.chars().any(|c| c.is_ascii_lowercase())
}

/// The argument a flag names in a command, if it has one.
fn flag_of<'command>(command: &'command clap::Command, flag: &str) -> Option<&'command clap::Arg> {
    if let Some(long) = flag.strip_prefix("--") {
        let long = long.split_once('=').map_or(long, |(name, _)| name);
        command.get_arguments().find(|arg| {
            arg.get_long() == Some(long)
                || arg
                    .get_all_aliases()
                    .is_some_and(|aliases| aliases.contains(&long))
        })
    } else {
        let short = flag.strip_prefix('-')?.chars().next()?;
        command.get_arguments().find(|arg| {
            arg.get_short() == Some(short)
                || arg
                    .get_all_short_aliases()
                    .is_some_and(|aliases| aliases.contains(&short))
        })
    }
}

/// Checks a synopsis: its subcommand path exists, and every flag is a flag of the command it
/// is given to (short clusters `-vv` letter by letter).
fn check_synopsis(text: &str) -> Result<(), String> {
    let words = synopsis_words(text);
    let Some(binary) = words.first().and_then(|word| binary_of(word)) else {
        return Err(format!("`{text}` does not start with a binary of ours"));
    };
    let root = command_of(binary);
    let mut command = &root;
    let mut path = binary.to_string();
    let mut descending = true;
    let mut skip_value = false;
    for word in &words[1..] {
        if skip_value {
            skip_value = false;
            continue;
        }
        if word.starts_with('-') && word.len() > 1 && !word.starts_with("---") {
            let flags: Vec<String> = if word.starts_with("--") {
                vec![word.clone()]
            } else {
                word[1..].chars().map(|c| format!("-{c}")).collect()
            };
            for flag in &flags {
                let Some(arg) = flag_of(command, flag) else {
                    return Err(format!("`{path}` has no flag `{flag}`"));
                };
                skip_value = arg.get_action().takes_values() && !word.contains('=') && flags.len() == 1;
            }
            continue;
        }
        if descending && command.has_subcommands() && !is_placeholder(word) {
            match command.find_subcommand(word) {
                Some(subcommand) => {
                    path = format!("{path} {word}");
                    command = subcommand;
                }
                None => {
                    let known: Vec<&str> = command.get_subcommands().map(clap::Command::get_name).collect();
                    return Err(format!(
                        "`{path}` has no subcommand `{word}` (it has {})",
                        known.join(", ")
                    ));
                }
            }
            continue;
        }
        // A positional value (or a placeholder for one): the subcommand path ends here.
        descending = false;
    }
    Ok(())
}

fn check(found: &Found) -> Result<(), String> {
    match found.kind {
        Kind::Example => check_example(&found.text),
        Kind::Synopsis => check_synopsis(&found.text),
    }
}

/// README.md and every page of docs/.
fn documents() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut documents = vec![root.join("README.md")];
    let mut pages: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .expect("docs/ is readable")
        .map(|entry| entry.expect("docs/ lists").path())
        .filter(|path| path.extension().is_some_and(|extension| extension == "md"))
        .collect();
    pages.sort();
    documents.extend(pages);
    documents
}

#[test]
fn every_documented_command_line_parses_with_the_real_cli() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut checked = 0;
    let mut examples = 0;
    let mut failures = Vec::new();
    for document in documents() {
        let text = std::fs::read_to_string(&document).expect("the document reads");
        let name = document
            .strip_prefix(root)
            .unwrap_or(&document)
            .display()
            .to_string();
        for found in extract(&text, &name) {
            checked += 1;
            if found.kind == Kind::Example {
                examples += 1;
            }
            if let Err(problem) = check(&found) {
                failures.push(format!("{}: `{}`: {problem}", found.place, found.text));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} documented command lines do not match the CLI:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // The docs hold dozens of command lines; finding few means the extraction broke.
    assert!(
        checked > 80,
        "only {checked} command lines found in README.md and docs/"
    );
    assert!(
        examples > 5,
        "only {examples} runnable examples found in README.md and docs/"
    );
}

#[test]
fn the_checker_catches_a_removed_flag_or_subcommand() {
    let page = "\
Run `wheelwright verify --json WHEEL` or `wheelwright inspect --no-such-flag WHEEL`.

```
wheelwright vanished-command FILE
cp-wheels [--wheel W]... [--arch A] [--remove] [--dry-run]
wheelwright nightly plan [--rebuild PKG...] [-vv]
```

```console
$ wheelbuild --package biopython --version 1.85 --python 3.12
ok
$ wheelbuild --package biopython --pythons 3.12 | tail -1
$ cp-wheels --wheel x.whl --arch x86-64-v3 --dry-run  # a comment
```

```console
cargo run --release --bin wheelbuild -- --package pyyaml --nope
```
";
    let found = extract(page, "page.md");
    let texts: Vec<(&str, Kind)> = found
        .iter()
        .map(|found| (found.text.as_str(), found.kind))
        .collect();
    assert_eq!(
        texts,
        [
            ("wheelwright verify --json WHEEL", Kind::Synopsis),
            ("wheelwright inspect --no-such-flag WHEEL", Kind::Synopsis),
            ("wheelwright vanished-command FILE", Kind::Synopsis),
            (
                "cp-wheels [--wheel W]... [--arch A] [--remove] [--dry-run]",
                Kind::Synopsis
            ),
            (
                "wheelwright nightly plan [--rebuild PKG...] [-vv]",
                Kind::Synopsis
            ),
            (
                "wheelbuild --package biopython --version 1.85 --python 3.12",
                Kind::Example
            ),
            (
                "wheelbuild --package biopython --pythons 3.12 | tail -1",
                Kind::Example
            ),
            (
                "cp-wheels --wheel x.whl --arch x86-64-v3 --dry-run  # a comment",
                Kind::Example
            ),
            (
                "cargo run --release --bin wheelbuild -- --package pyyaml --nope",
                Kind::Example
            ),
        ]
    );
    let verdicts: Vec<bool> = found.iter().map(|found| check(found).is_ok()).collect();
    assert_eq!(
        verdicts,
        [true, false, false, true, true, true, false, true, false]
    );
    let problem = check(&found[2]).expect_err("a removed subcommand is caught");
    assert!(problem.contains("no subcommand `vanished-command`"), "{problem}");
    let problem = check(&found[1]).expect_err("a removed flag is caught");
    assert!(
        problem.contains("`wheelwright inspect` has no flag `--no-such-flag`"),
        "{problem}"
    );
}
