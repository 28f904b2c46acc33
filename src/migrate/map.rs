//! From the variables a config left set to recipe keys: what `build_wheel.sh` reads, its
//! defaults (set before sourcing, as it sets them), the mapping of each variable, and the
//! merge of the values of every layer and arch into one set of templates (a value that
//! differs per layer becomes a `{% if layer == ... %}` template).

use std::collections::BTreeMap;
use std::fmt;

use super::bash::Assignment;
use super::stack::StackCell;
use crate::layout::PythonVersion;

mod draft;
mod merge;

pub use draft::{MapContext, draft};
pub use merge::{Written, WrittenSource, cleared, describe, merge_cells, merge_key, replace_in};

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

#[cfg(test)]
mod tests {
    use super::draft::*;
    use super::merge::*;
    use super::*;
    use crate::migrate::bash::Dump;
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
