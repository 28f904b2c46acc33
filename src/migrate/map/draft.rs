//! The mapping of one config's variables, in one cell, to recipe values and notes
//! ([`draft`]): what each group of `build_wheel.sh` variables becomes, and the tidying of the
//! command strings they hold.

use std::collections::{BTreeMap, BTreeSet};

use super::super::bash::{Assignment, Dump, ShellVariable};
use super::super::stack::StackCell;
use super::*;
use crate::layout::PythonVersion;
use crate::recipe::Check;

/// A command string as a recipe command: surrounding blank lines dropped, the common
/// indentation removed, trailing spaces cut.
pub fn tidy_command(command: &str) -> String {
    let lines: Vec<&str> = command.lines().map(str::trim_end).collect();
    let first = lines.iter().position(|line| !line.trim().is_empty());
    let last = lines.iter().rposition(|line| !line.trim().is_empty());
    let (Some(first), Some(last)) = (first, last) else {
        return String::new();
    };
    let lines = &lines[first..=last];
    let indent = lines
        .iter()
        .filter(|line| !line.trim().is_empty())
        .map(|line| line.len() - line.trim_start_matches([' ', '\t']).len())
        .min()
        .unwrap_or(0);
    lines
        .iter()
        .map(|line| {
            if line.len() >= indent {
                &line[indent..]
            } else {
                line.trim_start()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Replaces `$NAME` and `${NAME}` (not `$NAME_MORE`) by `replacement`; true if any was.
pub(super) fn replace_reference(text: &str, name: &str, replacement: &str) -> (String, bool) {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut replaced = false;
    while let Some(start) = rest.find('$') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let braced = format!("{{{name}}}");
        if let Some(tail) = after.strip_prefix(&braced) {
            out.push_str(replacement);
            rest = tail;
            replaced = true;
        } else if let Some(tail) = after.strip_prefix(name)
            && !tail.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        {
            out.push_str(replacement);
            rest = tail;
            replaced = true;
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    (out, replaced)
}

/// Whether a command names a build_wheel.sh variable (`$WHEEL_NAME`, `${SCRIPT_DIR}`).
fn references(text: &str, name: &str) -> bool {
    replace_reference(text, name, "").1
}

/// The leading `export NAME=VALUE` statements of a command whose values are literal (no `$`,
/// no backquote: nothing the shell would compute), and the rest of the command. Statements
/// end at a top-level `;`, `&&` or newline; the first statement that is not such an export
/// ends the hoisting, so what the exports meant is kept: they came before everything else.
pub(super) fn leading_exports(command: &str) -> (Vec<(String, String)>, String) {
    let mut exports = Vec::new();
    let mut start = 0;
    loop {
        let (statement, next) = next_statement(command, start);
        let trimmed = statement.trim();
        if trimmed.is_empty() {
            if next >= command.len() {
                return (exports, String::new());
            }
            start = next;
            continue;
        }
        match literal_export(trimmed) {
            Some(found) => {
                exports.extend(found);
                start = next;
            }
            None => return (exports, command[start..].trim().to_string()),
        }
    }
}

/// The statement of `command` that starts at `start`, and where the next one starts.
fn next_statement(command: &str, start: usize) -> (&str, usize) {
    let bytes = command.as_bytes();
    let (mut single, mut double, mut escaped) = (false, false, false);
    let mut index = start;
    while index < bytes.len() {
        let byte = bytes[index];
        if escaped {
            escaped = false;
        } else if byte == b'\\' && !single {
            escaped = true;
        } else if byte == b'\'' && !double {
            single = !single;
        } else if byte == b'"' && !single {
            double = !double;
        } else if !single && !double {
            if byte == b';' || byte == b'\n' {
                return (&command[start..index], index + 1);
            }
            if byte == b'&' && bytes.get(index + 1) == Some(&b'&') {
                return (&command[start..index], index + 2);
            }
        }
        index += 1;
    }
    (&command[start..], bytes.len())
}

/// `export A=1 B='x y'` with literal values, as (name, value) pairs; None for anything else.
fn literal_export(statement: &str) -> Option<Vec<(String, String)>> {
    // Nothing computed (even quoted), and no operator outside quotes.
    if statement.contains(['$', '`']) || unquoted(statement).contains(['|', '&', '<', '>', '(', ')']) {
        return None;
    }
    let words = shlex::split(statement)?;
    let (first, assignments) = words.split_first()?;
    if first != "export" || assignments.is_empty() {
        return None;
    }
    assignments
        .iter()
        .map(|word| {
            let (name, value) = word.split_once('=')?;
            let valid = !name.is_empty()
                && !name.starts_with(|c: char| c.is_ascii_digit())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            valid.then(|| (name.to_string(), value.to_string()))
        })
        .collect()
}

/// A statement with its quoted parts left out.
fn unquoted(statement: &str) -> String {
    let mut out = String::new();
    let mut quote: Option<char> = None;
    for c in statement.chars() {
        match quote {
            Some(open) if c == open => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '"' => quote = Some(c),
            None => out.push(c),
        }
    }
    out
}

/// The shell words of a command that change the shell state for the commands after it.
fn stateful_words(command: &str) -> Vec<&'static str> {
    let words: BTreeSet<&str> = command
        .split(|c: char| c.is_whitespace() || matches!(c, ';' | '&' | '|' | '(' | ')'))
        .collect();
    ["export", "cd", "pushd", "source", "module"]
        .into_iter()
        .filter(|word| words.contains(word))
        .collect()
}

/// What the mapping needs besides the variables.
pub struct MapContext<'a> {
    pub baseline: &'a Baseline,
    /// The stack variables of the cell (exported before sourcing, not the config's).
    pub stack: &'a StackCell,
}

/// One config's variables in one cell, read by the mapping of each group of keys.
struct Mapping<'a> {
    dump: &'a Dump,
    variables: &'a BTreeMap<String, ShellVariable>,
    baseline: &'a Baseline,
    stack: &'a StackCell,
    /// build_wheel.sh's defaults in this cell.
    assignments: Vec<Assignment>,
    package: &'a str,
}

impl<'a> Mapping<'a> {
    fn new(dump: &'a Dump, context: &MapContext<'a>) -> Self {
        Mapping {
            dump,
            variables: &dump.variables,
            baseline: context.baseline,
            stack: context.stack,
            assignments: context.baseline.assignments(context.stack),
            package: context.baseline.package.as_str(),
        }
    }

    /// A variable's value (empty when unset).
    fn text(&self, name: &str) -> String {
        self.variables
            .get(name)
            .and_then(|variable| variable.value.clone())
            .unwrap_or_default()
    }

    /// build_wheel.sh's default of a variable in this cell.
    fn default_of(&self, name: &str) -> Option<String> {
        self.assignments
            .iter()
            .find(|assignment| assignment.name == name)
            .map(|assignment| assignment.value.clone())
    }

    /// Whether the config set a variable to other than its default.
    fn changed(&self, name: &str) -> bool {
        Some(self.text(name)) != self.default_of(name) && self.variables.contains_key(name)
    }

    /// A command string as a recipe command. Runtime references to build_wheel.sh's shell
    /// variables in it: the version and the package are known, the others have no
    /// counterpart (noted).
    fn command(&self, draft: &mut Draft, key: Key, raw: &str) -> Option<String> {
        let mut command = tidy_command(raw);
        if command.is_empty() {
            return None;
        }
        command = replace_reference(&command, "VERSION", NEWEST_VERSION).0;
        command = replace_reference(&command, "PACKAGE", self.package).0;
        for name in INTERNAL_REFERENCES {
            if references(&command, name) {
                draft.notes.push(Note::on(
                    key,
                    format!(
                        "refers to build_wheel.sh's `${name}`, which wheelwright does not set: rewrite it"
                    ),
                ));
            }
        }
        if command.contains(&self.baseline.script_directory) && !self.baseline.script_directory.is_empty() {
            draft.notes.push(Note::on(
                key,
                "runs a script of the wheels_builder checkout (manipulate_wheels.py, ...): use `requirements` or a wheelwright command instead",
            ));
        }
        if matches!(key, Key::PreBuild | Key::PreDownload | Key::PostDownload) {
            let (exports, rest) = leading_exports(&command);
            if !exports.is_empty() {
                draft.notes.push(Note::on(
                    Key::Environment,
                    format!(
                        "{} of {} moved here (each recipe command runs in a shell of its own)",
                        exports
                            .iter()
                            .map(|(name, value)| format!("`export {name}={value}`"))
                            .collect::<Vec<_>>()
                            .join(", "),
                        key.name()
                    ),
                ));
                draft.exported.extend(exports);
                command = rest;
                if command.is_empty() {
                    return None;
                }
            }
        }
        let stateful = stateful_words(&command);
        if !stateful.is_empty() && matches!(key, Key::PreBuild | Key::PreDownload | Key::PostDownload) {
            draft.notes.push(Note::on(
                key,
                format!(
                    "uses {}: each recipe command runs in its own `/bin/sh -c`, so this does not carry over to the build as it did in build_wheel.sh (move exported variables to `environment`, modules to `build_modules`)",
                    stateful.iter().map(|word| format!("`{word}`")).collect::<Vec<_>>().join(", ")
                ),
            ));
        }
        Some(command)
    }

    /// PACKAGE and VERSION set by the config.
    fn name_and_version(&self, draft: &mut Draft) {
        let package_now = self.text("PACKAGE");
        if package_now != self.package {
            if crate::spec::normalize_name(&package_now) == crate::spec::normalize_name(self.package) {
                // Only the spelling: the PyPI spelling the config prefers.
            } else {
                draft.renamed_to = Some(package_now.clone());
            }
        }
        if self.text("VERSION") != self.baseline.version {
            draft.notes.push(Note::general(format!(
                "sets VERSION={}: build_wheel.sh then builds that version whatever was asked; a recipe cannot pin the version (ask for it with `--version`)",
                shown(&self.text("VERSION"))
            )));
        }
    }

    /// The import test and the test commands.
    fn tests(&self, draft: &mut Draft) {
        let import_name = self.text("PYTHON_IMPORT_NAME");
        if self.changed("PYTHON_IMPORT_NAME") {
            if import_name.trim().is_empty() {
                draft.notes.push(Note::on(
                    Key::ImportNames,
                    "PYTHON_IMPORT_NAME is empty: build_wheel.sh skipped the import test; wheelwright imports what the wheel has",
                ));
            }
            for name in import_name
                .split(|c: char| c.is_whitespace() || c == ',')
                .filter(|name| !name.is_empty())
            {
                let name = name.replace('-', "_");
                match Check::ImportName.apply(&name, self.package) {
                    Ok(name) => draft.push(Key::ImportNames, name),
                    Err(error) => draft.notes.push(Note::on(
                        Key::ImportNames,
                        format!("PYTHON_IMPORT_NAME item {}: {error}; left out", shown(&name)),
                    )),
                }
            }
        }
        let tests = self.text("PYTHON_TESTS");
        if !tests.trim().is_empty() {
            draft.set(Key::Test, Value::Text(tidy_command(&tests)));
        }
        let pre_test = self.text("PRE_TEST_COMMANDS");
        let test_command = self.text("TEST_COMMAND");
        let mut test_commands = Vec::new();
        if !pre_test.trim().is_empty() {
            test_commands.push(tidy_command(&pre_test));
            if test_command.trim().is_empty() {
                draft.notes.push(Note::on(
                    Key::TestCommand,
                    "PRE_TEST_COMMANDS ran before the import test in build_wheel.sh; `test_command` runs after it, in its own shell",
                ));
            }
        }
        if !test_command.trim().is_empty() {
            test_commands.push(tidy_command(&test_command));
        }
        if !test_commands.is_empty() {
            let joined = test_commands.join("\n");
            let joined = replace_reference(&joined, "VERSION", NEWEST_VERSION).0;
            let joined = replace_reference(&joined, "PACKAGE", self.package).0;
            draft.set(Key::TestCommand, Value::Text(joined));
        }
    }

    /// Dependencies and modules, and build_wheel.sh's own defaults the config changed.
    fn dependencies(&self, draft: &mut Draft) {
        for word in self.text("PYTHON_DEPS").split_whitespace() {
            let sample = word.replace(NEWEST_VERSION, "1.0.0");
            match Check::Requirement.apply(&sample, self.package) {
                Ok(_) => draft.push(Key::BuildDependencies, word.to_string()),
                Err(error) => draft.notes.push(Note::on(
                    Key::BuildDependencies,
                    format!("PYTHON_DEPS item {}: {error}; left out", shown(word)),
                )),
            }
        }
        for (variable, key) in [
            ("MODULE_RUNTIME_DEPS", Key::Modules),
            ("MODULE_BUILD_DEPS", Key::BuildModules),
        ] {
            for word in self.text(variable).split_whitespace() {
                if let Some(arch) = word.strip_prefix("arch/") {
                    draft.set(Key::ArchSpecific, Value::Flag(true));
                    draft.notes.push(Note::on(
                        Key::ArchSpecific,
                        format!(
                            "{variable} loads `arch/{arch}`: wheelwright builds for each arch of the layout instead (`arch_specific: true`)"
                        ),
                    ));
                    continue;
                }
                match Check::Module.apply(word, self.package) {
                    Ok(_) => draft.push(key, word.to_string()),
                    Err(error) => draft.notes.push(Note::on(
                        key,
                        format!("{variable} item {}: {error}; left out", shown(word)),
                    )),
                }
            }
        }
        for (name, default) in BUILD_WHEEL_DEFAULTS {
            if self.variables.contains_key(name) && self.text(name) != default {
                draft.notes.push(Note::general(format!(
                    "sets {name}={}: build_wheel.sh's own defaults have no recipe equivalent (wheelwright has its own); not mapped",
                    shown(&self.text(name))
                )));
            }
        }
    }

    /// The commands before and after the build.
    fn commands(&self, draft: &mut Draft) {
        let setup = self.text("PRE_SETUP_COMMANDS");
        if !setup.trim().is_empty()
            && let Some(command) = self.command(draft, Key::PreDownload, &setup)
        {
            draft.push(Key::PreDownload, command);
            draft.notes.push(Note::on(
                Key::PreDownload,
                "PRE_SETUP_COMMANDS ran before the build environment was made; it is the first `pre_download` command",
            ));
        }
        for (variable, key) in [
            ("PRE_DOWNLOAD_COMMANDS", Key::PreDownload),
            ("PRE_BUILD_COMMANDS", Key::PreBuild),
            ("POST_BUILD_COMMANDS", Key::PostBuild),
        ] {
            if let Some(command) = self.command(draft, key, &self.text(variable)) {
                draft.push(key, command);
            }
        }
        let patch_wheel = self.text("PATCH_WHEEL_COMMANDS");
        if !patch_wheel.trim().is_empty() {
            draft.notes.push(Note::general(format!(
                "PATCH_WHEEL_COMMANDS {} (for packages downloaded as wheels): wheelwright builds from sources and has no equivalent; not mapped",
                shown(&patch_wheel)
            )));
        }
    }

    /// `PACKAGE_DOWNLOAD_*` to `source` (and `post_download`).
    fn source(&self, draft: &mut Draft) {
        source(
            draft,
            &|name| self.text(name),
            &|name| self.changed(name),
            self.baseline,
            &mut |draft, key, raw| self.command(draft, key, raw),
        );
    }

    /// Build arguments.
    fn build_arguments(&self, draft: &mut Draft) {
        for word in self.text("PIP_WHEEL_ARGS").split_whitespace() {
            draft.push(Key::BuildArgs, word.to_string());
        }
        let bdist = self.text("BDIST_WHEEL_ARGS");
        for word in bdist.split_whitespace() {
            draft.push(Key::BuildArgs, format!("--config-settings=--build-option={word}"));
        }
        if !bdist.trim().is_empty() {
            draft.notes.push(Note::on(
                Key::BuildArgs,
                format!(
                    "BDIST_WHEEL_ARGS {} went to `setup.py bdist_wheel`; they are passed to the build backend as `--config-settings=--build-option=...`",
                    shown(&bdist)
                ),
            ));
        }
        for variable in ["PIP_WHEEL_ARGS", "BDIST_WHEEL_ARGS"] {
            let value = self.text(variable);
            if value.contains(['\'', '"', '$', '\\']) {
                draft.notes.push(Note::on(
                    Key::BuildArgs,
                    format!("{variable} has shell quoting or expansions that build_wheel.sh's `eval` processed: check the arguments"),
                ));
            }
        }
    }

    /// Patches and the built wheel (suffix, requirement updates, search paths).
    fn wheel(&self, draft: &mut Draft) {
        for patch in self.text("PATCHES").split_whitespace() {
            draft.push(Key::Patches, patch.to_string());
            draft.patches.push(patch.to_string());
        }

        // The built wheel.
        let suffix = self.text("PACKAGE_SUFFIX");
        if !suffix.trim().is_empty() {
            match Check::Suffix.apply(&suffix, self.package) {
                Ok(suffix) => draft.set(Key::PackageSuffix, Value::Text(suffix)),
                Err(error) => draft.notes.push(Note::on(
                    Key::PackageSuffix,
                    format!("PACKAGE_SUFFIX {}: {error}; left out", shown(&suffix)),
                )),
            }
        }
        for word in self.text("UPDATE_REQUIREMENTS").split_whitespace() {
            let word = word.trim_matches(['\'', '"']);
            match Check::UpdateRequirement.apply(&word.replace(NEWEST_VERSION, "1.0.0"), self.package) {
                Ok(_) => draft.push(Key::RequirementsUpdate, word.to_string()),
                Err(error) => draft.notes.push(Note::on(
                    Key::RequirementsUpdate,
                    format!("UPDATE_REQUIREMENTS item {}: {error}; left out", shown(word)),
                )),
            }
        }
        for directory in self.text("RPATH_TO_ADD").split(':') {
            let directory = directory.trim().trim_matches(['\'', '"']).trim();
            if !directory.is_empty() {
                draft.push(Key::Rpath, directory.to_string());
            }
        }
        if !self.text("RPATH_ADD_ORIGIN").trim().is_empty() {
            draft.push(Key::Rpath, "$ORIGIN".to_string());
        }
    }

    /// The Python versions built.
    fn python_versions(&self, draft: &mut Draft) {
        if self.changed("PYTHON_VERSIONS") {
            let mut wanted = Vec::new();
            let mut unknown = Vec::new();
            for word in self.text("PYTHON_VERSIONS").split_whitespace() {
                let version = word.strip_prefix("python/").unwrap_or(word);
                match version.parse::<PythonVersion>() {
                    Ok(version) if self.baseline.python_versions.contains(&version) => wanted.push(version),
                    _ => unknown.push(word.to_string()),
                }
            }
            let skip: Vec<String> = self
                .baseline
                .python_versions
                .iter()
                .filter(|version| !wanted.contains(version))
                .map(ToString::to_string)
                .collect();
            if !unknown.is_empty() {
                draft.notes.push(Note::on(
                    Key::SkipPython,
                    format!(
                        "PYTHON_VERSIONS names {} which the layout does not build for; left out",
                        unknown.join(" ")
                    ),
                ));
            }
            if wanted.is_empty() {
                draft.notes.push(Note::on(
                    Key::SkipPython,
                    "PYTHON_VERSIONS has none of the layout's Python versions: every one is skipped",
                ));
            }
            draft.set(Key::SkipPython, Value::List(skip));
        }
    }

    /// Exported variables.
    fn environment(&self, draft: &mut Draft) {
        let mut environment = BTreeMap::new();
        let stack_names: BTreeSet<&str> = self
            .stack
            .variables
            .iter()
            .map(|(name, _)| name.as_str())
            .collect();
        let mut left_out = Vec::new();
        for (name, variable) in self.variables {
            let ShellVariable { exported, value, .. } = variable;
            let default = self
                .assignments
                .iter()
                .find(|assignment| assignment.name == *name);
            let unchanged = default.is_some_and(|assignment| {
                Some(&assignment.value) == value.as_ref() && assignment.exported == *exported
            });
            if unchanged
                || READ_VARIABLES.contains(&name.as_str())
                || ["PACKAGE_DOWNLOAD_NAME"].contains(&name.as_str())
            {
                continue;
            }
            if *exported && is_shell_own(name) {
                continue;
            }
            if *exported {
                if stack_names.contains(name.as_str()) {
                    draft.notes.push(Note::on(
                        Key::Environment,
                        format!("changes the stack variable {name}; not mapped"),
                    ));
                    continue;
                }
                if let Some(value) = value {
                    environment.insert(name.clone(), value.clone());
                }
            } else if default.is_none() && !is_shell_own(name) {
                left_out.push(name.clone());
            }
        }
        // Exports the commands made first come after the config's own: they ran later.
        environment.extend(std::mem::take(&mut draft.exported));
        draft.set(Key::Environment, Value::Map(environment));
        if !left_out.is_empty() {
            draft.notes.push(Note::general(format!(
                "shell variables that build_wheel.sh does not read and the config does not export, left out: {}",
                left_out.join(" ")
            )));
        }
    }

    /// What sourcing did besides setting variables.
    fn sourcing(&self, draft: &mut Draft) {
        for call in &self.dump.calls {
            draft.notes.push(Note::general(format!(
                "calls {} while sourced (not run by the import; a recipe runs no command when read)",
                shown(call)
            )));
        }
        if !self.dump.output.is_empty() {
            draft.notes.push(Note::general(format!(
                "prints while sourced: {}",
                shown(&self.dump.output)
            )));
        }
    }
}

/// Maps one config's variables in one cell to recipe values and notes.
pub fn draft(dump: &Dump, context: &MapContext) -> Draft {
    let mapping = Mapping::new(dump, context);
    let mut draft = Draft::default();
    mapping.name_and_version(&mut draft);
    mapping.tests(&mut draft);
    mapping.dependencies(&mut draft);
    mapping.commands(&mut draft);
    mapping.source(&mut draft);
    mapping.build_arguments(&mut draft);
    mapping.wheel(&mut draft);
    mapping.python_versions(&mut draft);
    mapping.environment(&mut draft);
    mapping.sourcing(&mut draft);
    draft
}

/// Variables bash sets itself (not the config's).
fn is_shell_own(name: &str) -> bool {
    name.starts_with("BASH")
        || name.starts_with("COMP_")
        || name.starts_with("HIST")
        || [
            "_",
            "DIRSTACK",
            "EPOCHREALTIME",
            "EPOCHSECONDS",
            "EUID",
            "FUNCNAME",
            "GROUPS",
            "HOSTNAME",
            "HOSTTYPE",
            "IFS",
            "LINENO",
            "MACHTYPE",
            "OPTERR",
            "OPTIND",
            "OSTYPE",
            "PIPESTATUS",
            "PPID",
            "PS4",
            "PWD",
            "OLDPWD",
            "RANDOM",
            "SECONDS",
            "SHELL",
            "SHELLOPTS",
            "SHLVL",
            "SRANDOM",
            "TERM",
            "UID",
            "PATH",
            "HOME",
            "LC_ALL",
            "ENV",
            "COLUMNS",
            "LINES",
            "MAILCHECK",
            "OPTARG",
            "PS1",
            "PS2",
        ]
        .contains(&name)
}

/// `PACKAGE_DOWNLOAD_*` to `source` (and `post_download`).
fn source(
    draft: &mut Draft,
    text: &dyn Fn(&str) -> String,
    changed: &dyn Fn(&str) -> bool,
    baseline: &Baseline,
    command: &mut dyn FnMut(&mut Draft, Key, &str) -> Option<String>,
) {
    let method = text("PACKAGE_DOWNLOAD_METHOD");
    let argument = text("PACKAGE_DOWNLOAD_ARGUMENT");
    let download = text("PACKAGE_DOWNLOAD_CMD");
    let post_download = text("POST_DOWNLOAD_COMMANDS");
    let archive_name = text("PACKAGE_DOWNLOAD_NAME");
    let folder = text("PACKAGE_FOLDER_NAME");
    let mut keep_post_download = true;
    let words: Vec<&str> = download.split_whitespace().collect();
    let is_git_clone = words.len() >= 2 && words[0] == "git" && words[1] == "clone";
    if method.eq_ignore_ascii_case("git") || is_git_clone {
        let url = if argument.contains("://") || argument.contains('@') {
            argument.clone()
        } else {
            words
                .iter()
                .skip(2)
                .find(|word| word.contains("://"))
                .map(|word| word.to_string())
                .unwrap_or_default()
        };
        let rev = words
            .iter()
            .position(|word| *word == "--branch" || *word == "-b")
            .and_then(|index| words.get(index + 1))
            .map(|rev| rev.to_string());
        match rev {
            Some(rev) if !url.is_empty() => {
                draft.set(Key::Source, Value::Source(SourceValue::Git { url, rev }));
            }
            _ => draft.notes.push(Note::on(
                Key::Source,
                format!(
                    "the download {} clones without a pinned revision (`--branch`): wheelwright needs one; give `source: {{git: ..., rev: ...}}`",
                    shown(&download)
                ),
            )),
        }
        if words.iter().any(|word| word.starts_with("--recurs")) {
            draft.notes.push(Note::on(
                Key::Source,
                "the clone takes the submodules (`--recursive`): check that the git source has them",
            ));
        }
        // build_wheel.sh made an archive of the clone for itself: a git source does not
        // need one.
        let archive = format!("tar -zcf {archive_name} {folder}");
        if post_download.split_whitespace().collect::<Vec<_>>().join(" ") == archive {
            keep_post_download = false;
        }
    } else if changed("PACKAGE_DOWNLOAD_CMD") {
        draft.notes.push(Note::on(
            Key::Source,
            format!(
                "custom download command {}: wheelwright downloads the source itself; express it as `source` (url or git)",
                shown(&download)
            ),
        ));
    } else if changed("PACKAGE_DOWNLOAD_ARGUMENT") {
        let argument = argument.trim();
        if let Some(git) = argument.strip_prefix("git+") {
            // git+https://host/org/repo.git@rev
            match git
                .rsplit_once('@')
                .filter(|(url, _)| url.contains("://") && !url.ends_with("://"))
            {
                Some((url, rev)) if !rev.contains('/') => draft.set(
                    Key::Source,
                    Value::Source(SourceValue::Git {
                        url: url.to_string(),
                        rev: rev.to_string(),
                    }),
                ),
                _ => draft.notes.push(Note::on(
                    Key::Source,
                    format!(
                        "the download {} names no pinned revision: give `source: {{git: ..., rev: ...}}`",
                        shown(argument)
                    ),
                )),
            }
        } else if argument.starts_with("https://")
            || argument.starts_with("http://")
            || argument.starts_with("file://")
        {
            draft.set(Key::Source, Value::Source(SourceValue::Url(argument.to_string())));
        } else if argument == format!("{}=={}", baseline.package, baseline.version) {
        } else {
            draft.notes.push(Note::on(
                Key::Source,
                format!(
                    "PACKAGE_DOWNLOAD_ARGUMENT {} is not a URL: the recipe downloads `{}` from the package index",
                    shown(argument),
                    baseline.package
                ),
            ));
        }
    }
    if keep_post_download && let Some(command) = command(draft, Key::PostDownload, &post_download) {
        draft.push(Key::PostDownload, command);
    }
}
