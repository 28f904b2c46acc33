//! From the variables a config left set to recipe keys: what `build_wheel.sh` reads, its
//! defaults (set before sourcing, as it sets them), the mapping of each variable, and the
//! merge of the values of every layer and arch into one set of templates (a value that
//! differs per layer becomes a `{% if layer == ... %}` template).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::bash::{Assignment, Dump, ShellVariable};
use super::stack::StackCell;
use crate::layout::PythonVersion;
use crate::recipe::{Check, is_template};

/// The version configs are sourced under: high enough to pass any "at least" comparison (the
/// recipe's top level is for the versions built now), and distinctive enough to be found in
/// values and turned into `{{ version }}`.
pub const NEWEST_VERSION: &str = "98765.4321.0";

/// The version the top level is compared with, to find configs whose result depends on the
/// version in other ways than by text (`if [[ $(translate_version $VERSION) -lt ...`).
pub const OLDEST_VERSION: &str = "0.0.1.dev4321";

/// `build_wheel.sh`'s download command when a config gives none (its meaning: `pip download`
/// of the sdist of `$PACKAGE_DOWNLOAD_ARGUMENT`).
const DEFAULT_DOWNLOAD_COMMAND: &str =
    "pip download -v --no-cache --no-binary $PACKAGE --no-deps $PACKAGE_DOWNLOAD_ARGUMENT";

/// Variables `build_wheel.sh` exports before sourcing a config, with its values.
const EXPORTED_DEFAULTS: [(&str, &str); 3] = [
    ("TORCH_CUDA_ARCH_LIST", "8.0;9.0+PTX"),
    ("CUDAARCHS", "80;90;90-virtual"),
    ("CARGO_BUILD_JOBS", "default"),
];

/// Defaults whose change has no recipe equivalent (wheelwright has its own build defaults).
const BUILD_WHEEL_DEFAULTS: [(&str, &str); 4] = [
    ("PYTHON_DEPS_DEFAULT", "setuptools pip"),
    (
        "MODULE_BUILD_DEPS_DEFAULT",
        "numpy python-build-bundle pytest cython rust",
    ),
    (
        "PRE_BUILD_COMMANDS_DEFAULT",
        "(build_wheel.sh's setup.py and license fixes)",
    ),
    (
        "EXCLUDE_PYTHON_VERSIONS",
        "(build_wheel.sh's list of old Pythons)",
    ),
];

/// Every variable `build_wheel.sh` reads from a config, documented or not.
pub const READ_VARIABLES: [&str; 31] = [
    "PACKAGE",
    "VERSION",
    "PYTHON_VERSIONS",
    "EXCLUDE_PYTHON_VERSIONS",
    "BDIST_WHEEL_ARGS",
    "PIP_WHEEL_ARGS",
    "MODULE_BUILD_DEPS",
    "MODULE_BUILD_DEPS_DEFAULT",
    "MODULE_RUNTIME_DEPS",
    "PACKAGE_DOWNLOAD_CMD",
    "PACKAGE_DOWNLOAD_ARGUMENT",
    "PACKAGE_DOWNLOAD_NAME",
    "PACKAGE_DOWNLOAD_METHOD",
    "PACKAGE_FOLDER_NAME",
    "PACKAGE_SUFFIX",
    "PATCHES",
    "PATCH_WHEEL_COMMANDS",
    "PRE_DOWNLOAD_COMMANDS",
    "POST_DOWNLOAD_COMMANDS",
    "PRE_BUILD_COMMANDS",
    "PRE_BUILD_COMMANDS_DEFAULT",
    "POST_BUILD_COMMANDS",
    "PRE_SETUP_COMMANDS",
    "PRE_TEST_COMMANDS",
    "PYTHON_DEPS",
    "PYTHON_DEPS_DEFAULT",
    "PYTHON_IMPORT_NAME",
    "PYTHON_TESTS",
    "RPATH_ADD_ORIGIN",
    "RPATH_TO_ADD",
    "UPDATE_REQUIREMENTS",
];

/// Names of `build_wheel.sh`'s own variables a command may refer to, which wheelwright does
/// not set.
const INTERNAL_REFERENCES: [&str; 8] = [
    "WHEEL_NAME",
    "ARCHNAME",
    "SCRIPT_DIR",
    "PYTHON_CMD",
    "PVDIR",
    "TMP_WHEELHOUSE",
    "WORKDIR",
    "PACKAGE_FOLDER_NAME",
];

/// What a config is sourced with besides the stack variables.
#[derive(Debug, Clone)]
pub struct Baseline {
    pub package: String,
    pub version: String,
    /// The config directory, absolute (`$CONFIGDIR`).
    pub config_directory: String,
    /// Its parent, where build_wheel.sh lives (`$SCRIPT_DIR`).
    pub script_directory: String,
    pub python_versions: Vec<PythonVersion>,
}

impl Baseline {
    fn python_versions_value(&self) -> String {
        self.python_versions
            .iter()
            .map(|version| format!("python/{version}"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The variables `build_wheel.sh` has set when it sources a config, then the stack's.
    pub fn assignments(&self, stack: &StackCell) -> Vec<Assignment> {
        let plain = |name: &str, value: &str| Assignment {
            name: name.to_string(),
            value: value.to_string(),
            exported: false,
        };
        let package = self.package.as_str();
        let mut assignments = vec![
            plain("PACKAGE", package),
            plain("VERSION", &self.version),
            plain("THIS_SCRIPT", "build_wheel.sh"),
            plain("SCRIPT_DIR", &self.script_directory),
            plain("CONFIGDIR", &self.config_directory),
            plain("PYTHON_VERSIONS", &self.python_versions_value()),
            plain("PYTHON_IMPORT_NAME", package),
            plain("PACKAGE_FOLDER_NAME", package),
            plain("PACKAGE_DOWNLOAD_NAME", package),
            plain(
                "PACKAGE_DOWNLOAD_ARGUMENT",
                &format!("{package}=={}", self.version),
            ),
            plain("PACKAGE_DOWNLOAD_CMD", DEFAULT_DOWNLOAD_COMMAND),
        ];
        for name in [
            "UPDATE_REQUIREMENTS",
            "RPATH_TO_ADD",
            "BDIST_WHEEL_ARGS",
            "PIP_WHEEL_ARGS",
            "PRE_DOWNLOAD_COMMANDS",
            "PATCHES",
        ] {
            assignments.push(plain(name, ""));
        }
        for (name, value) in BUILD_WHEEL_DEFAULTS {
            assignments.push(plain(name, value));
        }
        for (name, value) in EXPORTED_DEFAULTS {
            assignments.push(Assignment {
                name: name.to_string(),
                value: value.to_string(),
                exported: true,
            });
        }
        if let Some((_, year)) = stack.variables.iter().find(|(name, _)| name == "EBVERSIONGENTOO") {
            assignments.push(plain("YEAR", year));
        }
        for (name, value) in &stack.variables {
            assignments.push(Assignment {
                name: name.clone(),
                value: value.clone(),
                exported: true,
            });
        }
        assignments
    }
}

/// A recipe key the importer writes, in the order it writes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Key {
    ImportNames,
    Test,
    TestCommand,
    BuildDependencies,
    Modules,
    BuildModules,
    Environment,
    PreDownload,
    PostDownload,
    PreBuild,
    PostBuild,
    BuildArgs,
    Patches,
    Source,
    PackageSuffix,
    RequirementsUpdate,
    Rpath,
    SkipPython,
    ArchSpecific,
}

impl Key {
    pub fn name(self) -> &'static str {
        match self {
            Key::ImportNames => "import_names",
            Key::Test => "test",
            Key::TestCommand => "test_command",
            Key::BuildDependencies => "build_dependencies",
            Key::Modules => "modules",
            Key::BuildModules => "build_modules",
            Key::Environment => "environment",
            Key::PreDownload => "pre_download",
            Key::PostDownload => "post_download",
            Key::PreBuild => "pre_build",
            Key::PostBuild => "post_build",
            Key::BuildArgs => "build_args",
            Key::Patches => "patches",
            Key::Source => "source",
            Key::PackageSuffix => "package_suffix",
            Key::RequirementsUpdate => "requirements.update",
            Key::Rpath => "rpath",
            Key::SkipPython => "skip_python",
            Key::ArchSpecific => "arch_specific",
        }
    }
}

impl fmt::Display for Key {
    fn fmt(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str(self.name())
    }
}

/// Where the sources come from, as the config gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceValue {
    Pypi,
    Url(String),
    Git { url: String, rev: String },
}

/// One key's value in one cell, untemplated (the version still as [`NEWEST_VERSION`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Text(String),
    List(Vec<String>),
    Map(BTreeMap<String, String>),
    Flag(bool),
    Source(SourceValue),
}

/// Something of a config the recipe does not carry, or carries differently: kept as a YAML
/// comment (by its key, or at the top) and in the report.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Note {
    pub key: Option<Key>,
    pub message: String,
}

impl Note {
    fn on(key: Key, message: impl Into<String>) -> Self {
        Note {
            key: Some(key),
            message: message.into(),
        }
    }

    fn general(message: impl Into<String>) -> Self {
        Note {
            key: None,
            message: message.into(),
        }
    }
}

/// One config's recipe values in one cell.
#[derive(Debug, Clone, Default)]
pub struct Draft {
    pub values: BTreeMap<Key, Value>,
    pub notes: Vec<Note>,
    /// Patch file names named by `PATCHES` (to be copied).
    pub patches: Vec<String>,
    /// The config builds another package (`PACKAGE=other`): it cannot be a recipe of its own.
    pub renamed_to: Option<String>,
    /// Variables a command exported before anything else, with literal values: they go to
    /// the recipe's `environment` (each recipe command runs in a shell of its own).
    exported: BTreeMap<String, String>,
}

impl Draft {
    fn set(&mut self, key: Key, value: Value) {
        let empty = match &value {
            Value::Text(text) => text.is_empty(),
            Value::List(items) => items.is_empty(),
            Value::Map(map) => map.is_empty(),
            Value::Flag(_) => false,
            Value::Source(source) => *source == SourceValue::Pypi,
        };
        if !empty {
            self.values.insert(key, value);
        }
    }

    fn push(&mut self, key: Key, item: String) {
        match self.values.entry(key).or_insert_with(|| Value::List(Vec::new())) {
            Value::List(items) => items.push(item),
            other => *other = Value::List(vec![item]),
        }
    }
}

/// A value shortened for a note.
fn shown(value: &str) -> String {
    let single: String = value.split_whitespace().collect::<Vec<_>>().join(" ");
    if single.chars().count() > 160 {
        format!("`{}...`", single.chars().take(157).collect::<String>())
    } else {
        format!("`{single}`")
    }
}

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
fn replace_reference(text: &str, name: &str, replacement: &str) -> (String, bool) {
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
fn leading_exports(command: &str) -> (Vec<(String, String)>, String) {
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

/// Maps one config's variables in one cell to recipe values and notes.
pub fn draft(dump: &Dump, context: &MapContext) -> Draft {
    let baseline = context.baseline;
    let mut draft = Draft::default();
    let variables = &dump.variables;
    let text = |name: &str| -> String {
        variables
            .get(name)
            .and_then(|variable| variable.value.clone())
            .unwrap_or_default()
    };
    let assignments = baseline.assignments(context.stack);
    let default_of = |name: &str| -> Option<String> {
        assignments
            .iter()
            .find(|assignment| assignment.name == name)
            .map(|assignment| assignment.value.clone())
    };
    let changed =
        |name: &str| -> bool { Some(text(name)) != default_of(name) && variables.contains_key(name) };
    let package = baseline.package.as_str();
    // Runtime references to build_wheel.sh's shell variables in command strings: the
    // version and the package are known, the others have no counterpart.
    let command = |draft: &mut Draft, key: Key, raw: &str| -> Option<String> {
        let mut command = tidy_command(raw);
        if command.is_empty() {
            return None;
        }
        command = replace_reference(&command, "VERSION", NEWEST_VERSION).0;
        command = replace_reference(&command, "PACKAGE", package).0;
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
        if command.contains(&baseline.script_directory) && !baseline.script_directory.is_empty() {
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
    };

    // PACKAGE and VERSION set by the config.
    let package_now = text("PACKAGE");
    if package_now != package {
        if crate::spec::normalize_name(&package_now) == crate::spec::normalize_name(package) {
            // Only the spelling: the PyPI spelling the config prefers.
        } else {
            draft.renamed_to = Some(package_now.clone());
        }
    }
    if text("VERSION") != baseline.version {
        draft.notes.push(Note::general(format!(
            "sets VERSION={}: build_wheel.sh then builds that version whatever was asked; a recipe cannot pin the version (ask for it with `--version`)",
            shown(&text("VERSION"))
        )));
    }

    // Import test.
    let import_name = text("PYTHON_IMPORT_NAME");
    if changed("PYTHON_IMPORT_NAME") {
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
            match Check::ImportName.apply(&name, package) {
                Ok(name) => draft.push(Key::ImportNames, name),
                Err(error) => draft.notes.push(Note::on(
                    Key::ImportNames,
                    format!("PYTHON_IMPORT_NAME item {}: {error}; left out", shown(&name)),
                )),
            }
        }
    }
    let tests = text("PYTHON_TESTS");
    if !tests.trim().is_empty() {
        draft.set(Key::Test, Value::Text(tidy_command(&tests)));
    }
    let pre_test = text("PRE_TEST_COMMANDS");
    let test_command = text("TEST_COMMAND");
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
        let joined = replace_reference(&joined, "PACKAGE", package).0;
        draft.set(Key::TestCommand, Value::Text(joined));
    }

    // Dependencies and modules.
    for word in text("PYTHON_DEPS").split_whitespace() {
        let sample = word.replace(NEWEST_VERSION, "1.0.0");
        match Check::Requirement.apply(&sample, package) {
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
        for word in text(variable).split_whitespace() {
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
            match Check::Module.apply(word, package) {
                Ok(_) => draft.push(key, word.to_string()),
                Err(error) => draft.notes.push(Note::on(
                    key,
                    format!("{variable} item {}: {error}; left out", shown(word)),
                )),
            }
        }
    }
    for (name, default) in BUILD_WHEEL_DEFAULTS {
        if variables.contains_key(name) && text(name) != default {
            draft.notes.push(Note::general(format!(
                "sets {name}={}: build_wheel.sh's own defaults have no recipe equivalent (wheelwright has its own); not mapped",
                shown(&text(name))
            )));
        }
    }

    // Commands.
    let setup = text("PRE_SETUP_COMMANDS");
    if !setup.trim().is_empty()
        && let Some(command) = command(&mut draft, Key::PreDownload, &setup)
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
        if let Some(command) = command(&mut draft, key, &text(variable)) {
            draft.push(key, command);
        }
    }
    let patch_wheel = text("PATCH_WHEEL_COMMANDS");
    if !patch_wheel.trim().is_empty() {
        draft.notes.push(Note::general(format!(
            "PATCH_WHEEL_COMMANDS {} (for packages downloaded as wheels): wheelwright builds from sources and has no equivalent; not mapped",
            shown(&patch_wheel)
        )));
    }

    // Sources.
    source(&mut draft, &text, &changed, baseline, &mut |draft, key, raw| {
        command(draft, key, raw)
    });

    // Build arguments.
    for word in text("PIP_WHEEL_ARGS").split_whitespace() {
        draft.push(Key::BuildArgs, word.to_string());
    }
    let bdist = text("BDIST_WHEEL_ARGS");
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
        let value = text(variable);
        if value.contains(['\'', '"', '$', '\\']) {
            draft.notes.push(Note::on(
                Key::BuildArgs,
                format!("{variable} has shell quoting or expansions that build_wheel.sh's `eval` processed: check the arguments"),
            ));
        }
    }

    // Patches.
    for patch in text("PATCHES").split_whitespace() {
        draft.push(Key::Patches, patch.to_string());
        draft.patches.push(patch.to_string());
    }

    // The built wheel.
    let suffix = text("PACKAGE_SUFFIX");
    if !suffix.trim().is_empty() {
        match Check::Suffix.apply(&suffix, package) {
            Ok(suffix) => draft.set(Key::PackageSuffix, Value::Text(suffix)),
            Err(error) => draft.notes.push(Note::on(
                Key::PackageSuffix,
                format!("PACKAGE_SUFFIX {}: {error}; left out", shown(&suffix)),
            )),
        }
    }
    for word in text("UPDATE_REQUIREMENTS").split_whitespace() {
        let word = word.trim_matches(['\'', '"']);
        match Check::UpdateRequirement.apply(&word.replace(NEWEST_VERSION, "1.0.0"), package) {
            Ok(_) => draft.push(Key::RequirementsUpdate, word.to_string()),
            Err(error) => draft.notes.push(Note::on(
                Key::RequirementsUpdate,
                format!("UPDATE_REQUIREMENTS item {}: {error}; left out", shown(word)),
            )),
        }
    }
    for directory in text("RPATH_TO_ADD").split(':') {
        let directory = directory.trim().trim_matches(['\'', '"']).trim();
        if !directory.is_empty() {
            draft.push(Key::Rpath, directory.to_string());
        }
    }
    if !text("RPATH_ADD_ORIGIN").trim().is_empty() {
        draft.push(Key::Rpath, "$ORIGIN".to_string());
    }

    // Python versions.
    if changed("PYTHON_VERSIONS") {
        let mut wanted = Vec::new();
        let mut unknown = Vec::new();
        for word in text("PYTHON_VERSIONS").split_whitespace() {
            let version = word.strip_prefix("python/").unwrap_or(word);
            match version.parse::<PythonVersion>() {
                Ok(version) if baseline.python_versions.contains(&version) => wanted.push(version),
                _ => unknown.push(word.to_string()),
            }
        }
        let skip: Vec<String> = baseline
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

    // Exported variables.
    let mut environment = BTreeMap::new();
    let stack_names: BTreeSet<&str> = context
        .stack
        .variables
        .iter()
        .map(|(name, _)| name.as_str())
        .collect();
    let mut left_out = Vec::new();
    for (name, variable) in variables {
        let ShellVariable { exported, value, .. } = variable;
        let default = assignments.iter().find(|assignment| assignment.name == *name);
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

    // What sourcing did besides setting variables.
    for call in &dump.calls {
        draft.notes.push(Note::general(format!(
            "calls {} while sourced (not run by the import; a recipe runs no command when read)",
            shown(call)
        )));
    }
    if !dump.output.is_empty() {
        draft.notes.push(Note::general(format!(
            "prints while sourced: {}",
            shown(&dump.output)
        )));
    }
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

/// Turns raw text (the version as [`NEWEST_VERSION`]) into a template: `{{ version }}` for
/// the version, everything else literal (template syntax in it inside `{% raw %}`).
pub fn template(raw: &str) -> String {
    raw.split(NEWEST_VERSION)
        .map(literal)
        .collect::<Vec<_>>()
        .join("{{ version }}")
}

/// Literal text as a template that renders to it.
pub fn literal(text: &str) -> String {
    if is_template(text) || text.ends_with('{') {
        format!("{{% raw %}}{text}{{% endraw %}}")
    } else {
        text.to_string()
    }
}

/// A value written to the recipe (templates).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    Text(String),
    List(Vec<String>),
    Map(BTreeMap<String, String>),
    Flag(bool),
    Source(WrittenSource),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WrittenSource {
    Pypi,
    Url(String),
    Git { url: String, rev: String },
}

/// The condition (a tera expression) for a set of cells, or None for all of them.
pub fn condition(cells: &[StackCell], present: &[bool]) -> Option<String> {
    if present.iter().all(|present| *present) {
        return None;
    }
    let mut layers: Vec<&str> = Vec::new();
    for cell in cells {
        if !layers.contains(&cell.layer.as_str()) {
            layers.push(&cell.layer);
        }
    }
    let mut parts = Vec::new();
    for layer in layers {
        let archs: Vec<(&str, bool)> = cells
            .iter()
            .zip(present)
            .filter(|(cell, _)| cell.layer == layer)
            .map(|(cell, present)| (cell.arch.as_str(), *present))
            .collect();
        if archs.iter().all(|(_, present)| *present) {
            parts.push(format!("layer == \"{layer}\""));
        } else {
            for (arch, _) in archs.iter().filter(|(_, present)| *present) {
                parts.push(format!("layer == \"{layer}\" and arch == \"{arch}\""));
            }
        }
    }
    Some(parts.join(" or "))
}

/// One text per cell as one template: the most common value (the first cell's among
/// equals) unconditional, the others behind their conditions.
pub fn merge_text(cells: &[StackCell], values: &[String]) -> String {
    let mut distinct: Vec<&String> = Vec::new();
    for value in values {
        if !distinct.contains(&value) {
            distinct.push(value);
        }
    }
    if distinct.len() == 1 {
        return template(distinct[0]);
    }
    let count = |value: &String| values.iter().filter(|other| *other == value).count();
    let fallback = distinct
        .iter()
        .copied()
        .max_by_key(|value| {
            (
                count(value),
                std::cmp::Reverse(values.iter().position(|other| other == *value)),
            )
        })
        .unwrap_or(distinct[0]);
    let mut out = String::new();
    for (index, value) in distinct.iter().filter(|value| **value != fallback).enumerate() {
        let present: Vec<bool> = values.iter().map(|other| other == *value).collect();
        let condition = condition(cells, &present).unwrap_or_else(|| "true".to_string());
        let tag = if index == 0 { "if" } else { "elif" };
        out.push_str(&format!("{{% {tag} {condition} %}}{}", template(value)));
    }
    if !fallback.is_empty() {
        out.push_str(&format!("{{% else %}}{}", template(fallback)));
    }
    out.push_str("{% endif %}");
    out
}

/// One list per cell as one list of templates: items in every cell as they are, the others
/// behind the condition of the cells that have them (they render to nothing elsewhere, and
/// an item that renders to nothing is left out).
pub fn merge_list(cells: &[StackCell], lists: &[Vec<String>]) -> Vec<String> {
    let mut merged: Vec<String> = Vec::new();
    for list in lists {
        // A new item goes right after the item before it in its own list.
        let mut previous: Option<usize> = None;
        for item in list {
            match merged.iter().position(|existing| existing == item) {
                Some(position) => previous = Some(position),
                None => {
                    let position = previous.map_or(0, |position| position + 1);
                    merged.insert(position, item.clone());
                    previous = Some(position);
                }
            }
        }
    }
    merged
        .iter()
        .map(|item| {
            let present: Vec<bool> = lists.iter().map(|list| list.contains(item)).collect();
            match condition(cells, &present) {
                None => template(item),
                Some(condition) => format!("{{% if {condition} %}}{}{{% endif %}}", template(item)),
            }
        })
        .collect()
}

/// The values of every cell of one config merged into written values, with notes about
/// what could not be merged. `drafts` are in the order of `cells`.
pub fn merge_cells(cells: &[StackCell], drafts: &[Draft]) -> (BTreeMap<Key, Written>, Vec<Note>) {
    let mut keys: BTreeSet<Key> = BTreeSet::new();
    for draft in drafts {
        keys.extend(draft.values.keys().copied());
    }
    let mut written = BTreeMap::new();
    let mut notes = Vec::new();
    for key in keys {
        let values: Vec<Option<&Value>> = drafts.iter().map(|draft| draft.values.get(&key)).collect();
        if let Some(value) = merge_key(cells, key, &values, &mut notes) {
            written.insert(key, value);
        }
    }
    (written, notes)
}

/// One key's values of every cell (None: not set there) merged.
pub fn merge_key(
    cells: &[StackCell],
    key: Key,
    values: &[Option<&Value>],
    notes: &mut Vec<Note>,
) -> Option<Written> {
    let kind = values.iter().flatten().next()?;
    match kind {
        Value::Text(_) => {
            let texts: Vec<String> = values
                .iter()
                .map(|value| match value {
                    Some(Value::Text(text)) => text.clone(),
                    _ => String::new(),
                })
                .collect();
            Some(Written::Text(merge_text(cells, &texts)))
        }
        Value::List(_) => {
            let lists: Vec<Vec<String>> = values
                .iter()
                .map(|value| match value {
                    Some(Value::List(items)) => items.clone(),
                    _ => Vec::new(),
                })
                .collect();
            Some(Written::List(merge_list(cells, &lists)))
        }
        Value::Map(_) => {
            let maps: Vec<BTreeMap<String, String>> = values
                .iter()
                .map(|value| match value {
                    Some(Value::Map(map)) => map.clone(),
                    _ => BTreeMap::new(),
                })
                .collect();
            let names: BTreeSet<&String> = maps.iter().flat_map(|map| map.keys()).collect();
            let mut merged = BTreeMap::new();
            for name in names {
                let texts: Vec<String> = maps
                    .iter()
                    .map(|map| map.get(name).cloned().unwrap_or_default())
                    .collect();
                if maps.iter().any(|map| !map.contains_key(name)) {
                    let present: Vec<bool> = maps.iter().map(|map| map.contains_key(name)).collect();
                    notes.push(Note::on(
                        key,
                        format!(
                            "{name} is exported only where {}; elsewhere the recipe sets it empty (rather than not at all)",
                            condition(cells, &present).unwrap_or_default()
                        ),
                    ));
                }
                merged.insert(name.clone(), merge_text(cells, &texts));
            }
            Some(Written::Map(merged))
        }
        Value::Flag(_) => Some(Written::Flag(
            values
                .iter()
                .any(|value| matches!(value, Some(Value::Flag(true)))),
        )),
        Value::Source(_) => {
            let sources: Vec<SourceValue> = values
                .iter()
                .map(|value| match value {
                    Some(Value::Source(source)) => source.clone(),
                    _ => SourceValue::Pypi,
                })
                .collect();
            let urls: Option<Vec<String>> = sources
                .iter()
                .map(|source| match source {
                    SourceValue::Url(url) => Some(url.clone()),
                    _ => None,
                })
                .collect();
            if let Some(urls) = urls {
                return Some(Written::Source(WrittenSource::Url(merge_text(cells, &urls))));
            }
            let gits: Option<Vec<(String, String)>> = sources
                .iter()
                .map(|source| match source {
                    SourceValue::Git { url, rev } => Some((url.clone(), rev.clone())),
                    _ => None,
                })
                .collect();
            if let Some(gits) = gits {
                let urls: Vec<String> = gits.iter().map(|(url, _)| url.clone()).collect();
                let revs: Vec<String> = gits.iter().map(|(_, rev)| rev.clone()).collect();
                return Some(Written::Source(WrittenSource::Git {
                    url: merge_text(cells, &urls),
                    rev: merge_text(cells, &revs),
                }));
            }
            // Different kinds of source per layer: the first cell's (the default layer's).
            notes.push(Note::on(
                Key::Source,
                format!(
                    "the source differs per layer ({}); the recipe has the default layer's",
                    sources
                        .iter()
                        .map(describe_source)
                        .collect::<BTreeSet<_>>()
                        .into_iter()
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
            Some(Written::Source(match &sources[0] {
                SourceValue::Pypi => WrittenSource::Pypi,
                SourceValue::Url(url) => WrittenSource::Url(template(url)),
                SourceValue::Git { url, rev } => WrittenSource::Git {
                    url: template(url),
                    rev: template(rev),
                },
            }))
        }
    }
}

pub fn describe_source(source: &SourceValue) -> String {
    match source {
        SourceValue::Pypi => "pypi".to_string(),
        SourceValue::Url(url) => format!("url {}", url.replace(NEWEST_VERSION, "<version>")),
        SourceValue::Git { url, rev } => format!("git {url} at {}", rev.replace(NEWEST_VERSION, "<version>")),
    }
}

/// A value shown in a note, the version as `<version>`.
pub fn describe(value: Option<&Value>) -> String {
    let text = match value {
        None => "(not set)".to_string(),
        Some(Value::Text(text)) => shown(text),
        Some(Value::List(items)) => format!(
            "[{}]",
            items
                .iter()
                .map(|item| shown(item))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Some(Value::Map(map)) => format!(
            "{{{}}}",
            map.iter()
                .map(|(name, value)| format!("{name}: {}", shown(value)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Some(Value::Flag(flag)) => flag.to_string(),
        Some(Value::Source(source)) => describe_source(source),
    };
    text.replace(NEWEST_VERSION, "<version>")
}

/// A value with every occurrence of `from` replaced by `to` (the version of one evaluation
/// as that of another).
pub fn replace_in(value: &Value, from: &str, to: &str) -> Value {
    let swap = |text: &String| text.replace(from, to);
    match value {
        Value::Text(text) => Value::Text(swap(text)),
        Value::List(items) => Value::List(items.iter().map(swap).collect()),
        Value::Map(map) => Value::Map(
            map.iter()
                .map(|(name, value)| (name.clone(), swap(value)))
                .collect(),
        ),
        Value::Flag(flag) => Value::Flag(*flag),
        Value::Source(source) => Value::Source(match source {
            SourceValue::Pypi => SourceValue::Pypi,
            SourceValue::Url(url) => SourceValue::Url(swap(url)),
            SourceValue::Git { url, rev } => SourceValue::Git {
                url: swap(url),
                rev: swap(rev),
            },
        }),
    }
}

/// The value that clears a key in a `versions` entry (its type's empty value).
pub fn cleared(value: &Value) -> Value {
    match value {
        Value::Text(_) => Value::Text(String::new()),
        Value::List(_) => Value::List(Vec::new()),
        Value::Map(_) => Value::Map(BTreeMap::new()),
        Value::Flag(flag) => Value::Flag(*flag),
        Value::Source(_) => Value::Source(SourceValue::Pypi),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migrate::bash::ShellVariable;

    fn cells() -> Vec<StackCell> {
        let cell = |layer: &str, arch: &str| StackCell {
            layer: layer.into(),
            arch: arch.into(),
            variables: Vec::new(),
        };
        vec![
            cell("gentoo2023", "x86-64-v3"),
            cell("gentoo2023", "x86-64-v4"),
            cell("gentoo2020", "avx2"),
        ]
    }

    fn baseline() -> Baseline {
        Baseline {
            package: "demo".into(),
            version: NEWEST_VERSION.into(),
            config_directory: "/wb/config".into(),
            script_directory: "/wb".into(),
            python_versions: vec![
                "3.11".parse().unwrap(),
                "3.12".parse().unwrap(),
                "3.13".parse().unwrap(),
            ],
        }
    }

    /// The dump of a config that set `set` over the baseline (exported names start with `+`).
    fn dump(set: &[(&str, &str)]) -> Dump {
        let stack = &cells()[0];
        let mut variables: BTreeMap<String, ShellVariable> = baseline()
            .assignments(stack)
            .into_iter()
            .map(|assignment| {
                (
                    assignment.name,
                    ShellVariable {
                        exported: assignment.exported,
                        array: false,
                        value: Some(assignment.value),
                    },
                )
            })
            .collect();
        for (name, value) in set {
            let (name, exported) = match name.strip_prefix('+') {
                Some(name) => (name, true),
                None => (*name, false),
            };
            variables.insert(
                name.to_string(),
                ShellVariable {
                    exported,
                    array: false,
                    value: Some(value.to_string()),
                },
            );
        }
        Dump {
            variables,
            output: String::new(),
            calls: Vec::new(),
        }
    }

    fn map(set: &[(&str, &str)]) -> Draft {
        let baseline = baseline();
        let cells = cells();
        draft(
            &dump(set),
            &MapContext {
                baseline: &baseline,
                stack: &cells[0],
            },
        )
    }

    fn list(draft: &Draft, key: Key) -> Vec<String> {
        match draft.values.get(&key) {
            Some(Value::List(items)) => items.clone(),
            other => panic!("{key}: {other:?}"),
        }
    }

    fn text(draft: &Draft, key: Key) -> String {
        match draft.values.get(&key) {
            Some(Value::Text(text)) => text.clone(),
            other => panic!("{key}: {other:?}"),
        }
    }

    #[test]
    fn each_documented_variable_maps_to_its_key() {
        let version = NEWEST_VERSION;
        let draft = map(&[
            ("PYTHON_DEPS", "cython>=3 'numpy<2' meson-python"),
            ("MODULE_RUNTIME_DEPS", "hdf5 cuda/12.6"),
            ("MODULE_BUILD_DEPS", "arch/avx2 cmake"),
            ("PRE_DOWNLOAD_COMMANDS", "echo before"),
            (
                "PRE_BUILD_COMMANDS",
                "\n\tsed -i -e 's/a/b/' setup.py;\n\tsed -i -e 's/c/d/' setup.py\n",
            ),
            ("POST_BUILD_COMMANDS", "echo built $VERSION of $PACKAGE"),
            ("PYTHON_IMPORT_NAME", "demo_core"),
            ("PYTHON_TESTS", "demo_core.run()"),
            ("PRE_TEST_COMMANDS", "ulimit -s 8192"),
            ("TEST_COMMAND", "pytest --pyargs demo_core"),
            ("PATCHES", "one.patch two.patch"),
            ("UPDATE_REQUIREMENTS", "'faiss-cpu->faiss' numpy<3"),
            ("RPATH_TO_ADD", "'$ORIGIN/../torch/lib':/opt/lib"),
            ("RPATH_ADD_ORIGIN", "yes"),
            ("PACKAGE_SUFFIX", "-cpu"),
            (
                "PIP_WHEEL_ARGS",
                "-Csetup-args=-Dblas=flexiblas\n -Csetup-args=-Dlapack=flexiblas",
            ),
            ("BDIST_WHEEL_ARGS", "--cpp_ext"),
            ("PYTHON_VERSIONS", "python/3.12 python/3.13"),
            (
                "PACKAGE_DOWNLOAD_ARGUMENT",
                &format!("https://example.org/demo-{version}.tar.gz"),
            ),
            ("+DEMO_FLAG", "1"),
            ("+TORCH_CUDA_ARCH_LIST", "8.0"),
            ("HELPER", "x"),
        ]);
        assert_eq!(
            list(&draft, Key::BuildDependencies),
            ["cython>=3", "meson-python"]
        );
        assert!(draft.notes.iter().any(|note| note.message.contains("'numpy<2'")));
        assert_eq!(list(&draft, Key::Modules), ["hdf5", "cuda/12.6"]);
        assert_eq!(list(&draft, Key::BuildModules), ["cmake"]);
        assert_eq!(draft.values.get(&Key::ArchSpecific), Some(&Value::Flag(true)));
        assert_eq!(list(&draft, Key::PreDownload), ["echo before"]);
        assert_eq!(
            list(&draft, Key::PreBuild),
            ["sed -i -e 's/a/b/' setup.py;\nsed -i -e 's/c/d/' setup.py"]
        );
        assert_eq!(
            list(&draft, Key::PostBuild),
            [format!("echo built {version} of demo")]
        );
        assert_eq!(list(&draft, Key::ImportNames), ["demo_core"]);
        assert_eq!(text(&draft, Key::Test), "demo_core.run()");
        assert_eq!(
            text(&draft, Key::TestCommand),
            "ulimit -s 8192\npytest --pyargs demo_core"
        );
        assert_eq!(list(&draft, Key::Patches), ["one.patch", "two.patch"]);
        assert_eq!(draft.patches, ["one.patch", "two.patch"]);
        assert_eq!(
            list(&draft, Key::RequirementsUpdate),
            ["faiss-cpu->faiss", "numpy<3"]
        );
        assert_eq!(
            list(&draft, Key::Rpath),
            ["$ORIGIN/../torch/lib", "/opt/lib", "$ORIGIN"]
        );
        assert_eq!(text(&draft, Key::PackageSuffix), "-cpu");
        assert_eq!(
            list(&draft, Key::BuildArgs),
            [
                "-Csetup-args=-Dblas=flexiblas",
                "-Csetup-args=-Dlapack=flexiblas",
                "--config-settings=--build-option=--cpp_ext"
            ]
        );
        assert_eq!(list(&draft, Key::SkipPython), ["3.11"]);
        assert_eq!(
            draft.values.get(&Key::Source),
            Some(&Value::Source(SourceValue::Url(format!(
                "https://example.org/demo-{version}.tar.gz"
            ))))
        );
        let Some(Value::Map(environment)) = draft.values.get(&Key::Environment) else {
            panic!("{draft:?}");
        };
        assert_eq!(
            environment
                .iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect::<Vec<_>>(),
            ["DEMO_FLAG=1", "TORCH_CUDA_ARCH_LIST=8.0"]
        );
        assert!(
            draft
                .notes
                .iter()
                .any(|note| note.message.contains("left out: HELPER"))
        );
    }

    #[test]
    fn git_downloads_become_git_sources() {
        let version = NEWEST_VERSION;
        let draft = map(&[
            ("PACKAGE_DOWNLOAD_ARGUMENT", "https://github.com/org/demo.git"),
            ("PACKAGE_DOWNLOAD_METHOD", "Git"),
            ("PACKAGE_DOWNLOAD_NAME", &format!("demo-{version}.tar.gz")),
            (
                "PACKAGE_DOWNLOAD_CMD",
                &format!("git clone --recursive https://github.com/org/demo.git --branch v{version} demo"),
            ),
            (
                "POST_DOWNLOAD_COMMANDS",
                &format!("tar -zcf demo-{version}.tar.gz demo"),
            ),
        ]);
        assert_eq!(
            draft.values.get(&Key::Source),
            Some(&Value::Source(SourceValue::Git {
                url: "https://github.com/org/demo.git".into(),
                rev: format!("v{version}"),
            }))
        );
        assert!(
            !draft.values.contains_key(&Key::PostDownload),
            "the archive of the clone is not needed"
        );
        assert!(
            draft
                .notes
                .iter()
                .any(|note| note.message.contains("--recursive"))
        );

        let pip_git = map(&[(
            "PACKAGE_DOWNLOAD_ARGUMENT",
            &format!("git+https://github.com/org/demo.git@v{version}"),
        )]);
        assert_eq!(
            pip_git.values.get(&Key::Source),
            Some(&Value::Source(SourceValue::Git {
                url: "https://github.com/org/demo.git".into(),
                rev: format!("v{version}"),
            }))
        );
        let unpinned = map(&[
            ("PACKAGE_DOWNLOAD_METHOD", "Git"),
            ("PACKAGE_DOWNLOAD_ARGUMENT", "https://github.com/org/demo"),
            (
                "PACKAGE_DOWNLOAD_CMD",
                "git clone https://github.com/org/demo demo",
            ),
        ]);
        assert!(!unpinned.values.contains_key(&Key::Source));
        assert!(
            unpinned
                .notes
                .iter()
                .any(|note| note.message.contains("without a pinned revision"))
        );
    }

    #[test]
    fn commands_that_rely_on_build_wheel_internals_are_noted() {
        let draft = map(&[
            ("PRE_BUILD_COMMANDS", "cd python; export FORCE_CUDA=1"),
            (
                "POST_BUILD_COMMANDS",
                "/wb/manipulate_wheels.py --inplace -w $WHEEL_NAME",
            ),
        ]);
        let messages: Vec<&str> = draft.notes.iter().map(|note| note.message.as_str()).collect();
        assert!(
            messages.iter().any(|message| message.contains("`export`, `cd`")),
            "{messages:?}"
        );
        assert!(
            messages.iter().any(|message| message.contains("$WHEEL_NAME")),
            "{messages:?}"
        );
        assert!(
            messages
                .iter()
                .any(|message| message.contains("wheels_builder checkout")),
            "{messages:?}"
        );
    }

    #[test]
    fn leading_literal_exports_move_to_the_environment() {
        let draft = map(&[
            (
                "PRE_BUILD_COMMANDS",
                "export FORCE_CUDA=1; export TORCH_CUDA_ARCH_LIST='6.0;7.0' MAX_JOBS=8 &&\n  python setup.py build_ext",
            ),
            ("PRE_DOWNLOAD_COMMANDS", "export SODIUM_INSTALL=system;"),
        ]);
        let Some(Value::Map(environment)) = draft.values.get(&Key::Environment) else {
            panic!("no environment: {:?}", draft.values);
        };
        let pairs: Vec<(&str, &str)> = environment
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("FORCE_CUDA", "1"),
                ("MAX_JOBS", "8"),
                ("SODIUM_INSTALL", "system"),
                ("TORCH_CUDA_ARCH_LIST", "6.0;7.0")
            ]
        );
        assert_eq!(list(&draft, Key::PreBuild), ["python setup.py build_ext"]);
        assert!(
            !draft.values.contains_key(&Key::PreDownload),
            "a command of exports only is gone"
        );
        // Nothing stateful is left to note.
        assert!(
            draft
                .notes
                .iter()
                .all(|note| !note.message.contains("does not carry over")),
            "{:?}",
            draft.notes
        );

        // Computed values, and exports after another command, stay where they are.
        for command in [
            "export GEOS_DIR=$EBROOTGEOS",
            "export CC=`which gcc`",
            "make; export DONE=1",
            "export A=1 | tee log",
        ] {
            assert_eq!(
                leading_exports(command),
                (Vec::new(), command.to_string()),
                "{command}"
            );
        }
        assert_eq!(
            leading_exports("export A='x;y'; export B=\"z && w\"\nexport C=$D; make"),
            (
                vec![
                    ("A".to_string(), "x;y".to_string()),
                    ("B".to_string(), "z && w".to_string())
                ],
                "export C=$D; make".to_string()
            )
        );
    }

    #[test]
    fn templates_keep_literal_braces_and_mark_the_version() {
        assert_eq!(
            template(&format!("v{NEWEST_VERSION}.tar.gz")),
            "v{{ version }}.tar.gz"
        );
        assert_eq!(template("n=${#list[@]}"), "{% raw %}n=${#list[@]}{% endraw %}");
        assert_eq!(
            replace_reference("a $VERSION ${VERSION} $VERSION_X", "VERSION", "V").0,
            "a V V $VERSION_X"
        );
        assert_eq!(tidy_command("\n\t\tone;\n\t\t  two\n\t"), "one;\n  two");
    }

    #[test]
    fn values_that_differ_per_layer_become_conditions() {
        let cells = cells();
        let text = merge_text(&cells, &["new".into(), "new".into(), "old".into()]);
        assert_eq!(
            text,
            "{% if layer == \"gentoo2020\" %}old{% else %}new{% endif %}"
        );
        let list = merge_list(
            &cells,
            &[
                vec!["cuda/12.9".into()],
                vec!["cuda/12.9".into(), "extra".into()],
                vec!["gcc/9.3.0".into(), "cuda/11.7".into()],
            ],
        );
        assert_eq!(
            list,
            [
                "{% if layer == \"gentoo2020\" %}gcc/9.3.0{% endif %}",
                "{% if layer == \"gentoo2020\" %}cuda/11.7{% endif %}",
                "{% if layer == \"gentoo2023\" %}cuda/12.9{% endif %}",
                "{% if layer == \"gentoo2023\" and arch == \"x86-64-v4\" %}extra{% endif %}",
            ]
        );
        // The conditions render as meant.
        for (layer, arch, expected) in [("gentoo2023", "x86-64-v3", "new"), ("gentoo2020", "avx2", "old")] {
            let mut context = tera::Context::new();
            context.insert("layer", layer);
            context.insert("arch", arch);
            assert_eq!(tera::Tera::one_off(&text, &context, false).unwrap(), expected);
        }
        let mut context = tera::Context::new();
        context.insert("layer", "gentoo2023");
        context.insert("arch", "x86-64-v3");
        let condition = "{% if layer == \"gentoo2020\" or layer == \"gentoo2023\" and arch == \"x86-64-v4\" %}yes{% else %}no{% endif %}";
        assert_eq!(tera::Tera::one_off(condition, &context, false).unwrap(), "no");
        let raw = format!(
            "{{% if layer == \"gentoo2023\" %}}{}{{% endif %}}",
            template("${#a}")
        );
        assert_eq!(tera::Tera::one_off(&raw, &context, false).unwrap(), "${#a}");
    }
}
