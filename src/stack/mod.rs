//! Entering a site's software stack: a layer's shell lines, its arch's lines and a recipe's
//! Lmod modules run in one bash, each step judged on its own, and the environment they leave
//! captured once (with the modules Lmod says are loaded and the library directories each step
//! added) for every build and test command of the cells that use it.
//!
//! Capturing the environment, rather than keeping a shell open, is what makes a step's
//! failure attributable (the layer's line, or the module and Lmod's message), lets every
//! command of a cell (pip, the backend, the recipe's commands, the smoke test) start from it,
//! and lets a process enter a stack once for all its cells.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};

mod cache;

use crate::layout::{Layout, ModuleRpath};
use crate::tools::{Invocation, read_log_from, run_logged_within, shell_quote, tail};

/// How long entering a stack may take (Lmod on a cold network file system is slow, a line
/// waiting for input is stuck).
const ENTER_LIMIT: Duration = Duration::from_secs(300);

/// Where Lmod's bash initialisation file usually is, after `$LMOD_PKG/init/bash`.
const LMOD_INIT_PLACES: [&str; 4] = [
    "/usr/share/lmod/lmod/init/bash",
    "/opt/lmod/lmod/init/bash",
    "/usr/local/lmod/lmod/init/bash",
    "/opt/apps/lmod/lmod/init/bash",
];

/// Variables of the shell that entered the stack that say nothing about the stack.
const SHELL_VARIABLES: [&str; 4] = ["_", "SHLVL", "PWD", "OLDPWD"];

/// What to enter: a layer and arch of the layout, and the modules to load there.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct StackRequest {
    pub layer: String,
    pub arch: String,
    /// Modules in load order (a recipe's `modules`, then its `build_modules` for a build).
    pub modules: Vec<String>,
}

/// Why a stack cannot be entered.
#[derive(Debug, Clone, thiserror::Error, Serialize, Deserialize)]
pub enum StackError {
    #[error("the layout {layout} has no layer `{layer}`")]
    UnknownLayer { layout: String, layer: String },
    #[error(
        "modules are asked for ({modules}) but the layout {layout} names no modules system: add `[modules]` with `system = \"lmod\"`"
    )]
    NoModuleSystem { modules: String, layout: String },
    #[error(
        "the layout {layout} says the site uses Lmod, but its bash initialisation file is not on this machine (looked at: {looked}); install Lmod (Debian: lmod) or give the file as `[modules] init`"
    )]
    NoLmod { layout: String, looked: String },
    #[error("layer {layer} ({arch}) cannot be entered on this machine: {step} failed ({status}){output}")]
    Step {
        layer: String,
        arch: String,
        /// The step: the layout key and line, or Lmod's setup.
        step: String,
        status: String,
        output: String,
    },
    #[error("module `{module}` cannot be loaded in layer {layer} ({arch}) ({status}){output}")]
    Module {
        module: String,
        layer: String,
        arch: String,
        status: String,
        output: String,
    },
    #[error("entering layer {layer} ({arch}): {problem}")]
    Other {
        layer: String,
        arch: String,
        problem: String,
    },
}

/// A library directory a step of the stack added (to LIBRARY_PATH or LD_LIBRARY_PATH).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LibraryDir {
    pub directory: PathBuf,
    /// The step that added it: `module hdf5`, or the layer's line.
    pub from: String,
}

/// A stack entered: the environment its commands start from, and what it is made of.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Stack {
    pub request: StackRequest,
    /// The whole environment, as the last step left it.
    #[serde(with = "variable_pairs")]
    pub variables: Arc<BTreeMap<OsString, OsString>>,
    /// The layout's lines that were run, in order.
    pub lines: Vec<String>,
    /// The modules loaded at the end, as Lmod lists them (`hdf5/1.10.8`), in load order.
    pub loaded: Vec<String>,
    /// Library directories the steps added, in the order added.
    pub library_dirs: Vec<LibraryDir>,
}

/// The environment as a list of (name, value) pairs when kept on disk: names and values are
/// bytes, not text, so they cannot be the keys of a JSON object.
mod variable_pairs {
    use std::collections::BTreeMap;
    use std::ffi::OsString;
    use std::sync::Arc;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(
        variables: &Arc<BTreeMap<OsString, OsString>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(variables.iter())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Arc<BTreeMap<OsString, OsString>>, D::Error> {
        let pairs: Vec<(OsString, OsString)> = Deserialize::deserialize(deserializer)?;
        Ok(Arc::new(pairs.into_iter().collect()))
    }
}

impl Stack {
    /// An invocation that starts from this stack's environment.
    pub fn apply(&self, invocation: &mut Invocation) {
        invocation.base = Some(Arc::clone(&self.variables));
    }

    /// The library directories to give an RPATH at link time under `rule`: those under one of
    /// the layer's `rpath_prefixes` (`stack`), or all (`all`).
    pub fn rpath_directories(&self, rule: ModuleRpath, prefixes: &[String]) -> Vec<String> {
        self.library_dirs
            .iter()
            .map(|dir| dir.directory.display().to_string())
            .filter(|directory| match rule {
                ModuleRpath::None => false,
                ModuleRpath::Stack => prefixes
                    .iter()
                    .any(|prefix| directory.starts_with(prefix.as_str())),
                ModuleRpath::All => true,
            })
            .collect()
    }
}

/// One thing the entering shell does.
#[derive(Debug, Clone)]
enum Step {
    /// Sources Lmod's bash initialisation file.
    Lmod(PathBuf),
    /// `module use DIR`.
    Use(PathBuf),
    /// `module --force purge`: nothing of the caller's modules stays.
    Purge,
    /// A line of the layout, with its key.
    Line { key: String, text: String },
    /// `module load NAME`.
    Module(String),
}

impl Step {
    fn command(&self) -> String {
        match self {
            Step::Lmod(init) => format!(". {}", shell_quote(&init.display().to_string())),
            Step::Use(directory) => format!("module use {}", shell_quote(&directory.display().to_string())),
            Step::Purge => "module --force purge".to_string(),
            Step::Line { text, .. } => format!("eval -- {}", shell_quote(text)),
            Step::Module(name) => format!("module load {}", shell_quote(name)),
        }
    }

    /// What the step is, for a message or a record.
    fn describe(&self) -> String {
        match self {
            Step::Lmod(init) => format!("loading Lmod (`. {}`)", init.display()),
            Step::Use(directory) => format!("`module use {}` ([modules] modulepath)", directory.display()),
            Step::Purge => "`module --force purge`".to_string(),
            Step::Line { key, text } => format!("`{key}` = `{text}`"),
            Step::Module(name) => format!("module {name}"),
        }
    }
}

/// Lmod's bash initialisation file: the layout's, else `$LMOD_PKG/init/bash`, else the first
/// of the usual places that exists.
fn lmod_init(layout: &Layout, init: Option<&Path>) -> Result<PathBuf, StackError> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    match init {
        Some(init) => candidates.push(init.to_path_buf()),
        None => {
            if let Some(package) = std::env::var_os("LMOD_PKG") {
                candidates.push(Path::new(&package).join("init/bash"));
            }
            candidates.extend(LMOD_INIT_PLACES.iter().map(PathBuf::from));
        }
    }
    candidates
        .iter()
        .find(|candidate| candidate.is_file())
        .cloned()
        .ok_or_else(|| StackError::NoLmod {
            layout: layout.source.clone(),
            looked: candidates
                .iter()
                .map(|candidate| candidate.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// The steps of `request`, in order; empty when the host is the environment (no lines, no
/// modules).
fn steps(layout: &Layout, request: &StackRequest) -> Result<Vec<Step>, StackError> {
    let layer = layout
        .layers
        .get(&request.layer)
        .ok_or_else(|| StackError::UnknownLayer {
            layout: layout.source.clone(),
            layer: request.layer.clone(),
        })?;
    let arch_lines = layer
        .arch_environment
        .get(&request.arch)
        .map(Vec::as_slice)
        .unwrap_or_default();
    if layer.environment.is_empty() && arch_lines.is_empty() && request.modules.is_empty() {
        return Ok(Vec::new());
    }
    let mut steps = Vec::new();
    match &layout.modules {
        Some(modules) => {
            steps.push(Step::Lmod(lmod_init(layout, modules.init.as_deref())?));
            steps.extend(modules.modulepath.iter().cloned().map(Step::Use));
            steps.push(Step::Purge);
        }
        None if !request.modules.is_empty() => {
            return Err(StackError::NoModuleSystem {
                modules: request.modules.join(", "),
                layout: layout.source.clone(),
            });
        }
        None => {}
    }
    let key = format!("layers.{}", request.layer);
    for (index, text) in layer.environment.iter().enumerate() {
        steps.push(Step::Line {
            key: format!("{key}.environment[{index}]"),
            text: text.clone(),
        });
    }
    for (index, text) in arch_lines.iter().enumerate() {
        steps.push(Step::Line {
            key: format!("{key}.arch_environment.{}[{index}]", request.arch),
            text: text.clone(),
        });
    }
    steps.extend(request.modules.iter().cloned().map(Step::Module));
    Ok(steps)
}

/// The bash script that runs `steps`: each step's output goes to the log after a marker line
/// (so a failure shows what that step said), the shell stops at the first step that fails,
/// and the library paths after each step, the module list and the environment at the end go
/// to files in `out`.
fn script(steps: &[Step], lmod: bool) -> String {
    let mut script = String::from(
        "exec 1>&2 </dev/null\n\
         __ww_out=\"$1\"\n\
         __ww_mark() { printf '%s\\0%s\\0%s\\0' \"$1\" \"${LIBRARY_PATH-}\" \"${LD_LIBRARY_PATH-}\" >> \"$__ww_out/paths\"; }\n\
         __ww_mark start\n",
    );
    for (index, step) in steps.iter().enumerate() {
        script.push_str(&format!(
            "printf '\\036wheelwright step {index}\\n'\n{} || exit $?\n__ww_mark {index}\n",
            step.command()
        ));
    }
    script.push_str("printf '\\036wheelwright step end\\n'\n");
    if lmod {
        // Lmod lists on stderr.
        script.push_str("module -t list 2> \"$__ww_out/list\"\n");
    }
    script.push_str("env -0 > \"$__ww_out/environment\"\n");
    script
}

/// The environment the process's cells share for `request`, entered on first use (a stack
/// is entered once per process; a failure is remembered too). `None`: the host is the
/// environment (the layer has no lines and no modules are asked for).
pub fn enter(layout: &Layout, request: &StackRequest) -> Result<Option<Arc<Stack>>, StackError> {
    type Entered = BTreeMap<(StackRequest, Vec<String>), Result<Arc<Stack>, StackError>>;
    static ENTERED: OnceLock<Mutex<Entered>> = OnceLock::new();
    let steps = steps(layout, request)?;
    if steps.is_empty() {
        return Ok(None);
    }
    let memo = ENTERED.get_or_init(|| Mutex::new(BTreeMap::new()));
    // The same request with the same steps (layouts may differ) is the same stack.
    let key = (request.clone(), steps.iter().map(Step::command).collect());
    if let Some(entered) = memo.lock().unwrap_or_else(|poison| poison.into_inner()).get(&key) {
        return entered.clone().map(Some);
    }
    // A stack of Lmod modules is kept on disk while its module trees are unchanged.
    let kept_as = layout.modules.as_ref().map(|_| persistent_key(request, &steps));
    if let Some(kept) = kept_as.as_deref().and_then(cache::lookup) {
        tracing::debug!(
            "layer {} ({}): the stack kept from an earlier run",
            request.layer,
            request.arch
        );
        let entered = kept.map(Arc::new);
        memo.lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .insert(key, entered.clone());
        return entered.map(Some);
    }
    let entered = enter_now(layout.modules.is_some(), request, &steps).map(Arc::new);
    if let (Some(kept_as), Some(modules)) = (&kept_as, &layout.modules) {
        // The trees Lmod searched: the stack's own MODULEPATH, or for an error its layer's.
        let module_path = match &entered {
            Ok(stack) => module_path_of(stack),
            Err(_) if !request.modules.is_empty() => {
                let bare = StackRequest {
                    layer: request.layer.clone(),
                    arch: request.arch.clone(),
                    modules: Vec::new(),
                };
                enter(layout, &bare)
                    .ok()
                    .flatten()
                    .as_deref()
                    .and_then(module_path_of)
            }
            Err(_) => None,
        };
        let trees = cache::trees(&modules.modulepath, module_path.as_deref());
        cache::store(kept_as, &trees, &entered.clone().map(|stack| (*stack).clone()));
    }
    memo.lock()
        .unwrap_or_else(|poison| poison.into_inner())
        .insert(key, entered.clone());
    entered.map(Some)
}

/// The `MODULEPATH` a stack ended with.
fn module_path_of(stack: &Stack) -> Option<String> {
    stack
        .variables
        .get(std::ffi::OsStr::new("MODULEPATH"))
        .map(|value| value.to_string_lossy().into_owned())
}

/// What identifies a stack across processes: the request, its steps' commands, and the size
/// and modification time of Lmod's initialisation file and of every file a layer's line names
/// by absolute path (`source /cvmfs/.../StdEnv.sh`).
fn persistent_key(request: &StackRequest, steps: &[Step]) -> String {
    let mut key = format!("{request:?}\n");
    for step in steps {
        key.push_str(&step.command());
        key.push('\n');
        let files: Vec<PathBuf> = match step {
            Step::Lmod(init) => vec![init.clone()],
            Step::Line { text, .. } => text
                .split(|c: char| c.is_whitespace() || matches!(c, ';' | '&' | '|' | '"' | '\''))
                .filter(|word| word.starts_with('/'))
                .map(PathBuf::from)
                .filter(|path| path.is_file())
                .collect(),
            _ => Vec::new(),
        };
        for file in files {
            let stamp = fs_err::metadata(&file).ok().map(|metadata| {
                let modified = metadata
                    .modified()
                    .ok()
                    .and_then(|time| time.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(0, |elapsed| elapsed.as_nanos());
                format!("{} {modified}", metadata.len())
            });
            key.push_str(&format!("  {} {}\n", file.display(), stamp.unwrap_or_default()));
        }
    }
    key
}

/// What must hold of the site before anything is planned: when `modules_wanted` (some
/// recipe loads modules) the layout names a modules system whose initialisation file is on
/// this machine; and every `(layer, arch)` stack, without modules, can be entered. A failure
/// here is the site's, not a package's.
pub fn check_site(
    layout: &Layout,
    stacks: &[(String, String)],
    modules_wanted: &[String],
) -> Result<(), StackError> {
    if !modules_wanted.is_empty() {
        match &layout.modules {
            None => {
                return Err(StackError::NoModuleSystem {
                    modules: modules_wanted.join(", "),
                    layout: layout.source.clone(),
                });
            }
            Some(modules) => {
                lmod_init(layout, modules.init.as_deref())?;
            }
        }
    }
    for (layer, arch) in stacks {
        enter(
            layout,
            &StackRequest {
                layer: layer.clone(),
                arch: arch.clone(),
                modules: Vec::new(),
            },
        )?;
    }
    Ok(())
}

/// Whether a stack error is the site's (no modules system, no Lmod, a layer's own line
/// fails) rather than one package's (a module it asks for does not load).
pub fn is_site_error(error: &StackError) -> bool {
    !matches!(error, StackError::Module { .. })
}

/// Enters `request`'s stack in a new bash, running `steps` (`lmod`: Lmod is loaded).
fn enter_now(lmod: bool, request: &StackRequest, steps: &[Step]) -> Result<Stack, StackError> {
    let other = |problem: String| StackError::Other {
        layer: request.layer.clone(),
        arch: request.arch.clone(),
        problem,
    };
    let directory = tempfile::Builder::new()
        .prefix("wheelwright-stack-")
        .tempdir()
        .map_err(|error| other(format!("no temporary directory: {error}")))?;
    let out = directory.path();
    let script_file = out.join("enter.sh");
    fs_err::write(&script_file, script(steps, lmod)).map_err(|error| other(error.to_string()))?;
    let log = out.join("enter.log");
    tracing::info!(
        "entering layer {} ({}){}",
        request.layer,
        request.arch,
        if request.modules.is_empty() {
            String::new()
        } else {
            format!(" with modules {}", request.modules.join(", "))
        }
    );
    let ran = run_logged_within(
        "entering the stack",
        Path::new("bash"),
        &[
            "--noprofile".into(),
            "--norc".into(),
            script_file.display().to_string(),
            out.display().to_string(),
        ],
        &Invocation::default(),
        &log,
        ENTER_LIMIT,
    );
    let text = read_log_from(&log, 0);
    if let Err(failure) = ran {
        return Err(step_failure(request, steps, &text, failure.status));
    }
    let Ok(environment) = fs_err::read(out.join("environment")) else {
        // A line ran `exit 0`: the shell ended before the end.
        return Err(step_failure(
            request,
            steps,
            &text,
            "the shell exited early".into(),
        ));
    };
    let variables = parse_environment(&environment);
    let loaded = match fs_err::read_to_string(out.join("list")) {
        Ok(list) => parse_module_list(&list),
        Err(_) => Vec::new(),
    };
    let paths = fs_err::read(out.join("paths")).unwrap_or_default();
    Ok(Stack {
        request: request.clone(),
        variables: Arc::new(variables),
        lines: steps
            .iter()
            .filter_map(|step| match step {
                Step::Line { text, .. } => Some(text.clone()),
                _ => None,
            })
            .collect(),
        loaded,
        library_dirs: library_dirs(&paths, steps),
    })
}

/// The error for the step the log's last marker names, with what it printed.
fn step_failure(request: &StackRequest, steps: &[Step], log: &str, status: String) -> StackError {
    let (marker, said) = match log.rfind("\u{1e}wheelwright step ") {
        Some(start) => {
            let rest = &log[start + "\u{1e}wheelwright step ".len()..];
            let (marker, said) = rest.split_once('\n').unwrap_or((rest, ""));
            (marker.trim().to_string(), said.to_string())
        }
        None => (String::new(), log.to_string()),
    };
    let said = said.trim();
    let output = if said.is_empty() {
        String::new()
    } else {
        format!(":\n{}", tail(said, 20).trim_end())
    };
    let step = marker.parse::<usize>().ok().and_then(|index| steps.get(index));
    match step {
        Some(Step::Module(module)) => StackError::Module {
            module: module.clone(),
            layer: request.layer.clone(),
            arch: request.arch.clone(),
            status,
            output,
        },
        Some(step) => StackError::Step {
            layer: request.layer.clone(),
            arch: request.arch.clone(),
            step: step.describe(),
            status,
            output,
        },
        None => StackError::Step {
            layer: request.layer.clone(),
            arch: request.arch.clone(),
            step: if marker == "end" {
                "listing the loaded modules".to_string()
            } else {
                "starting bash".to_string()
            },
            status,
            output,
        },
    }
}

/// `env -0` output as variables, without the entering shell's own.
fn parse_environment(bytes: &[u8]) -> BTreeMap<OsString, OsString> {
    use std::os::unix::ffi::OsStringExt as _;
    bytes
        .split(|byte| *byte == 0)
        .filter_map(|entry| {
            let equals = entry.iter().position(|byte| *byte == b'=')?;
            let (name, value) = (&entry[..equals], &entry[equals + 1..]);
            (!name.is_empty()).then(|| {
                (
                    OsString::from_vec(name.to_vec()),
                    OsString::from_vec(value.to_vec()),
                )
            })
        })
        .filter(|(name, _)| {
            !SHELL_VARIABLES
                .iter()
                .any(|shell| name.as_bytes() == shell.as_bytes())
        })
        .collect()
}

/// `module -t list` output (one module per line, sometimes with a `(S)`-like mark) as names.
fn parse_module_list(text: &str) -> Vec<String> {
    text.lines()
        .map(|line| {
            let line = line.trim();
            match line.split_once(char::is_whitespace) {
                Some((module, mark)) if mark.trim().starts_with('(') => module,
                _ => line,
            }
        })
        .filter(|line| !line.is_empty() && !line.contains(char::is_whitespace) && !line.ends_with(':'))
        .map(str::to_string)
        .collect()
}

/// The library directories each step added, from the paths file (`step\0LIBRARY_PATH\0
/// LD_LIBRARY_PATH\0`, first for the start, then after each step).
fn library_dirs(paths: &[u8], steps: &[Step]) -> Vec<LibraryDir> {
    let fields: Vec<String> = paths
        .split(|byte| *byte == 0)
        .map(|field| String::from_utf8_lossy(field).into_owned())
        .collect();
    let mut seen: Vec<PathBuf> = Vec::new();
    let mut added = Vec::new();
    for record in fields.chunks_exact(3) {
        let step = record[0].parse::<usize>().ok().and_then(|index| steps.get(index));
        for directory in record[1].split(':').chain(record[2].split(':')) {
            if directory.is_empty() || !Path::new(directory).is_absolute() {
                continue;
            }
            let directory = PathBuf::from(directory);
            if seen.contains(&directory) {
                continue;
            }
            seen.push(directory.clone());
            if let Some(step) = step {
                added.push(LibraryDir {
                    directory,
                    from: match step {
                        Step::Module(name) => format!("module {name}"),
                        Step::Line { text, .. } => text.clone(),
                        other => other.describe(),
                    },
                });
            }
        }
    }
    added
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(extra: &str) -> Layout {
        let text = format!(
            r#"
root = "wh"
local_version_label = "site"
[archs.generic]
level = 1
march = "x86-64"
[archs.x86-64-v3]
level = 3
march = "x86-64-v3"
{extra}
"#
        );
        Layout::parse(&text, "site.toml", Path::new("/tmp")).unwrap()
    }

    fn request(layer: &str, arch: &str, modules: &[&str]) -> StackRequest {
        StackRequest {
            layer: layer.into(),
            arch: arch.into(),
            modules: modules.iter().map(|module| module.to_string()).collect(),
        }
    }

    fn value(stack: &Stack, name: &str) -> Option<String> {
        stack
            .variables
            .get(std::ffi::OsStr::new(name))
            .map(|value| value.to_string_lossy().into_owned())
    }

    #[test]
    fn a_layer_without_lines_is_the_host() {
        let layout = layout("[layers.plain]\nglibc = \"2.36\"\narchs = [\"generic\"]\n");
        assert!(
            enter(&layout, &request("plain", "generic", &[]))
                .unwrap()
                .is_none()
        );
        let error = enter(&layout, &request("plain", "generic", &["hdf5"])).unwrap_err();
        assert!(error.to_string().contains("names no modules system"), "{error}");
        let error = enter(&layout, &request("nope", "generic", &[])).unwrap_err();
        assert!(error.to_string().contains("no layer `nope`"), "{error}");
    }

    #[test]
    fn layer_and_arch_lines_run_in_one_shell_and_leave_their_environment() {
        let library = tempfile::tempdir().unwrap();
        let layout = layout(&format!(
            r#"
[layers.site]
glibc = "2.36"
archs = ["generic", "x86-64-v3"]
environment = ["export STACK_NAME=site2023", "STACK_ROOT=/opt/site; export STACK_ROOT", "export LD_LIBRARY_PATH={}${{LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}}", "unset WHEELWRIGHT_STACK_TEST_GONE"]
[layers.site.arch_environment]
x86-64-v3 = ["export STACK_ARCH=$STACK_ROOT/avx2"]
"#,
            library.path().display()
        ));
        let stack = enter(&layout, &request("site", "x86-64-v3", &[]))
            .unwrap()
            .unwrap();
        assert_eq!(value(&stack, "STACK_NAME").as_deref(), Some("site2023"));
        assert_eq!(value(&stack, "STACK_ARCH").as_deref(), Some("/opt/site/avx2"));
        assert_eq!(value(&stack, "SHLVL"), None);
        assert!(value(&stack, "PATH").is_some(), "the host's variables are kept");
        assert_eq!(stack.lines.len(), 5);
        assert_eq!(stack.loaded, Vec::<String>::new());
        assert_eq!(
            stack.library_dirs,
            [LibraryDir {
                directory: library.path().to_path_buf(),
                from: layout.layers["site"].environment[2].clone(),
            }]
        );
        let generic = enter(&layout, &request("site", "generic", &[])).unwrap().unwrap();
        assert_eq!(value(&generic, "STACK_ARCH"), None, "the arch line is v3's only");
        // Commands started with the stack see its environment.
        let mut invocation = Invocation::default();
        stack.apply(&mut invocation);
        assert_eq!(invocation.inherited("STACK_NAME").as_deref(), Some("site2023"));
        let log = library.path().join("log");
        let out = library.path().join("out");
        crate::tools::run_shell(
            "probe",
            &format!("echo \"$STACK_ARCH\" > {}", out.display()),
            &invocation,
            &log,
        )
        .unwrap();
        assert_eq!(fs_err::read_to_string(&out).unwrap(), "/opt/site/avx2\n");
    }

    #[test]
    fn a_failing_line_is_named_with_its_key_and_output() {
        let layout = layout(
            r#"
[layers.broken]
glibc = "2.36"
archs = ["generic", "x86-64-v3"]
environment = ["export A=1", "echo 'no such stack here' >&2; false", "export B=2"]
[layers.early]
glibc = "2.36"
archs = ["generic"]
environment = ["exit 0"]
[layers.gone]
glibc = "2.36"
archs = ["generic", "x86-64-v3"]
[layers.gone.arch_environment]
x86-64-v3 = ["source /nonexistent/arch/avx2.sh"]
"#,
        );
        let error = enter(&layout, &request("broken", "generic", &[]))
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("layer broken (generic) cannot be entered on this machine"),
            "{error}"
        );
        assert!(
            error.contains("`layers.broken.environment[1]` = `echo 'no such stack here' >&2; false`"),
            "{error}"
        );
        assert!(error.contains("exit status 1"), "{error}");
        assert!(error.contains("no such stack here"), "{error}");
        let error = enter(&layout, &request("early", "generic", &[]))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("`layers.early.environment[0]` = `exit 0`"),
            "{error}"
        );
        assert!(error.contains("exited early"), "{error}");
        let error = enter(&layout, &request("gone", "x86-64-v3", &[]))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("layers.gone.arch_environment.x86-64-v3[0]"),
            "{error}"
        );
        assert!(error.contains("/nonexistent/arch/avx2.sh"), "{error}");
        assert!(
            enter(&layout, &request("gone", "generic", &[]))
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn lmod_output_is_read() {
        assert_eq!(
            parse_module_list("StdEnv/2023\nhdf5/1.10.8\ngcccore/.12.3 (H)\n"),
            ["StdEnv/2023", "hdf5/1.10.8", "gcccore/.12.3"]
        );
        assert!(parse_module_list("No modules loaded\n").is_empty());
        let environment = parse_environment(b"A=1\0_=/usr/bin/env\0MULTI=a\nb\0EMPTY=\0");
        assert_eq!(environment.len(), 3);
        assert_eq!(environment[std::ffi::OsStr::new("MULTI")], "a\nb");
    }

    /// Test modulefiles (Lua): a library from Debian's libhdf5-dev, and a standard environment
    /// that loads it, as a site's StdEnv loads its compiler and libraries.
    fn write_modulefiles(root: &Path) {
        let serial = "/usr/lib/x86_64-linux-gnu/hdf5/serial";
        for (file, text) in [
            (
                "hdf5/1.10.8.lua",
                format!(
                    "whatis(\"HDF5\")\nsetenv(\"HDF5_DIR\", \"{serial}\")\nprepend_path(\"LIBRARY_PATH\", \"{serial}/lib\")\nprepend_path(\"LD_LIBRARY_PATH\", \"{serial}/lib\")\n"
                ),
            ),
            (
                "StdEnv/2023.lua",
                "setenv(\"EBVERSIONGENTOO\", \"2023\")\n".into(),
            ),
        ] {
            let path = root.join(file);
            fs_err::create_dir_all(path.parent().unwrap()).unwrap();
            fs_err::write(path, text).unwrap();
        }
    }

    #[test]
    fn lmod_modules_are_loaded_listed_and_refused_by_name() {
        assert!(
            LMOD_INIT_PLACES.iter().any(|place| Path::new(place).is_file()),
            "this test needs Lmod (Debian: lmod; .ci/run installs it)"
        );
        let modules = tempfile::tempdir().unwrap();
        write_modulefiles(modules.path());
        let layout = layout(&format!(
            "[modules]\nsystem = \"lmod\"\nmodulepath = [\"{}\"]\n[layers.site]\nglibc = \"2.36\"\narchs = [\"generic\"]\nenvironment = [\"module load StdEnv/2023\"]\n",
            modules.path().display()
        ));
        let stack = enter(&layout, &request("site", "generic", &["hdf5"]))
            .unwrap()
            .unwrap();
        assert_eq!(stack.loaded, ["StdEnv/2023", "hdf5/1.10.8"]);
        assert_eq!(value(&stack, "EBVERSIONGENTOO").as_deref(), Some("2023"));
        assert_eq!(
            value(&stack, "HDF5_DIR").as_deref(),
            Some("/usr/lib/x86_64-linux-gnu/hdf5/serial")
        );
        assert_eq!(
            stack.library_dirs,
            [LibraryDir {
                directory: "/usr/lib/x86_64-linux-gnu/hdf5/serial/lib".into(),
                from: "module hdf5".into(),
            }]
        );
        let error = enter(&layout, &request("site", "generic", &["hdf5", "nosuchlib/9.9"]))
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("module `nosuchlib/9.9` cannot be loaded in layer site (generic)"),
            "{error}"
        );
        assert!(error.contains("Lmod has detected the following error"), "{error}");
        assert!(error.contains("nosuchlib/9.9"), "{error}");
    }

    #[test]
    fn a_missing_lmod_is_named() {
        let layout = layout(
            "[modules]\nsystem = \"lmod\"\ninit = \"/nonexistent/lmod/init/bash\"\n[layers.site]\nglibc = \"2.36\"\narchs = [\"generic\"]\n",
        );
        let error = enter(&layout, &request("site", "generic", &["hdf5"]))
            .unwrap_err()
            .to_string();
        assert!(error.contains("/nonexistent/lmod/init/bash"), "{error}");
        assert!(error.contains("Debian: lmod"), "{error}");
    }
}
