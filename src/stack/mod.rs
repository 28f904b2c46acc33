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
mod run;

use run::*;

use crate::diagnose::tail;
use crate::layout::{Layout, ModuleRpath};
use crate::tools::{Invocation, read_log_from, run_logged_within, shell_quote};

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
    /// `module load NAME`, one module at a time: a failure names its module, and the library
    /// directories each module adds are told apart (the build record says which module
    /// provides a library).
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

/// A stack (or its failure) entered for one request, as the outcome of another request whose
/// steps are the same commands (two archs whose layer has no arch lines): the same shell
/// lines leave the same environment, so it is entered once and named for each.
fn for_request(
    entered: &Result<Arc<Stack>, StackError>,
    request: &StackRequest,
) -> Result<Arc<Stack>, StackError> {
    match entered {
        Ok(stack) if stack.request == *request => Ok(Arc::clone(stack)),
        Ok(stack) => Ok(Arc::new(Stack {
            request: request.clone(),
            ..(**stack).clone()
        })),
        Err(error) => {
            let mut error = error.clone();
            match &mut error {
                StackError::Step { layer, arch, .. }
                | StackError::Module { layer, arch, .. }
                | StackError::Other { layer, arch, .. } => {
                    layer.clone_from(&request.layer);
                    arch.clone_from(&request.arch);
                }
                StackError::UnknownLayer { .. }
                | StackError::NoModuleSystem { .. }
                | StackError::NoLmod { .. } => {}
            }
            Err(error)
        }
    }
}

/// Stacks entered by this process, by request and steps (layouts may differ), failures too.
type Entered = BTreeMap<(StackRequest, Vec<String>), Result<Arc<Stack>, StackError>>;

fn entered() -> std::sync::MutexGuard<'static, Entered> {
    static ENTERED: OnceLock<Mutex<Entered>> = OnceLock::new();
    ENTERED
        .get_or_init(|| Mutex::new(BTreeMap::new()))
        .lock()
        .unwrap_or_else(|poison| poison.into_inner())
}

/// What identifies a stack within the process.
fn memo_key(request: &StackRequest, steps: &[Step]) -> (StackRequest, Vec<String>) {
    (request.clone(), steps.iter().map(Step::command).collect())
}

/// The stack kept on disk from an earlier process for `request`, when the layout has a
/// modules system and the stack's module trees are unchanged.
fn kept(layout: &Layout, request: &StackRequest, steps: &[Step]) -> Option<Result<Arc<Stack>, StackError>> {
    layout.modules.as_ref()?;
    let kept = cache::lookup(&persistent_key(request, steps))?;
    tracing::debug!(
        "layer {} ({}): the stack kept from an earlier run",
        request.layer,
        request.arch
    );
    Some(kept.map(Arc::new))
}

/// Remembers a stack just entered, in the process and (with a modules system) on disk.
fn remember(
    layout: &Layout,
    request: &StackRequest,
    steps: &[Step],
    entered_now: &Result<Arc<Stack>, StackError>,
) {
    if let Some(modules) = &layout.modules {
        // The trees Lmod searched: the stack's own MODULEPATH, or for an error its layer's.
        let module_path = match entered_now {
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
        cache::store(
            &persistent_key(request, steps),
            &trees,
            &entered_now.clone().map(|stack| (*stack).clone()),
        );
    }
    entered().insert(memo_key(request, steps), entered_now.clone());
}

/// The environment the process's cells share for `request`, entered on first use (a stack
/// is entered once per process; a failure is remembered too). `None`: the host is the
/// environment (the layer has no lines and no modules are asked for).
pub fn enter(layout: &Layout, request: &StackRequest) -> Result<Option<Arc<Stack>>, StackError> {
    let steps = steps(layout, request)?;
    if steps.is_empty() {
        return Ok(None);
    }
    let key = memo_key(request, &steps);
    // Being entered ahead: wait for it, then it is known (or left to us).
    wait_if_pending(&key.1);
    let known = {
        let memo = entered();
        memo.get(&key).cloned().or_else(|| {
            memo.iter()
                .find(|((_, commands), _)| *commands == key.1)
                .map(|(_, same)| for_request(same, request))
        })
    };
    if let Some(known) = known {
        entered().insert(key, known.clone());
        return known.map(Some);
    }
    if let Some(kept) = kept(layout, request, &steps) {
        entered().insert(key, kept.clone());
        return kept.map(Some);
    }
    let entered_now = enter_now(layout.modules.is_some(), request, &steps).map(Arc::new);
    remember(layout, request, &steps, &entered_now);
    entered_now.map(Some)
}

/// Members of one batch at most: a batch that overruns its time loses no more than these.
const BATCH_MEMBERS: usize = 48;

/// Stacks being entered ahead of their use, by their steps' commands, and the signal that
/// some are done.
fn pending() -> &'static (Mutex<std::collections::BTreeSet<Vec<String>>>, std::sync::Condvar) {
    static PENDING: OnceLock<(Mutex<std::collections::BTreeSet<Vec<String>>>, std::sync::Condvar)> =
        OnceLock::new();
    PENDING.get_or_init(Default::default)
}

/// No longer pending: the stacks of these commands are entered (or left to [`enter`]).
fn settle<'c>(commands: impl IntoIterator<Item = &'c Vec<String>>) {
    let (set, signal) = pending();
    let mut set = set.lock().unwrap_or_else(|poison| poison.into_inner());
    for commands in commands {
        set.remove(commands);
    }
    signal.notify_all();
}

/// Waits while the stack of `commands` is being entered ahead.
fn wait_if_pending(commands: &Vec<String>) {
    let (set, signal) = pending();
    let mut set = set.lock().unwrap_or_else(|poison| poison.into_inner());
    while set.contains(commands) {
        set = signal.wait(set).unwrap_or_else(|poison| poison.into_inner());
    }
}

/// Stacks to enter ahead of their use (from [`ahead`]), grouped by the steps they share up
/// to their modules. Until [`StacksAhead::enter`] has entered one, [`enter`] asking for it
/// waits for it rather than entering it a second time; dropped unentered, they are left to
/// [`enter`].
pub struct StacksAhead<'a> {
    layout: &'a Layout,
    groups: BTreeMap<Vec<String>, Vec<(StackRequest, Vec<Step>)>>,
    /// The other requests whose steps are the commands of one in `groups` (two archs whose
    /// layer has no arch lines): named for it when it is entered.
    same: BTreeMap<Vec<String>, Vec<StackRequest>>,
}

/// The stacks of `requests` not yet entered by this process nor kept from an earlier one,
/// marked as pending (see [`StacksAhead`]). A request that is wrong (an unknown layer) is
/// left to [`enter`], which names the problem.
pub fn ahead<'a>(layout: &'a Layout, requests: &[StackRequest]) -> StacksAhead<'a> {
    let mut groups: BTreeMap<Vec<String>, Vec<(StackRequest, Vec<Step>)>> = BTreeMap::new();
    let mut same: BTreeMap<Vec<String>, Vec<StackRequest>> = BTreeMap::new();
    for request in requests {
        let Ok(steps) = steps(layout, request) else {
            continue;
        };
        let key = memo_key(request, &steps);
        if steps.is_empty() || entered().contains_key(&key) {
            continue;
        }
        if let Some(kept) = kept(layout, request, &steps) {
            entered().insert(key, kept);
            continue;
        }
        if let Some(others) = same.get_mut(&key.1) {
            if !others.contains(request) {
                others.push(request.clone());
            }
            continue;
        }
        same.insert(key.1.clone(), Vec::new());
        let shared = steps
            .iter()
            .position(|step| matches!(step, Step::Module(_)))
            .unwrap_or(steps.len());
        let base: Vec<String> = steps[..shared].iter().map(Step::command).collect();
        groups.entry(base).or_default().push((request.clone(), steps));
    }
    pending()
        .0
        .lock()
        .unwrap_or_else(|poison| poison.into_inner())
        .extend(same.keys().cloned());
    StacksAhead { layout, groups, same }
}

impl StacksAhead<'_> {
    /// Enters the stacks, `jobs` shells at a time. The stacks of a group are entered by one
    /// shell that runs their shared steps once and each stack's modules in a subshell of that
    /// state: a plan over hundreds of recipes starts Lmod once per stack, not once per step.
    pub fn enter(self, jobs: usize) {
        let lmod = self.layout.modules.is_some();
        let total: usize = self.groups.values().map(Vec::len).sum();
        if total == 0 {
            return;
        }
        // Enough batches for every shell to have one, none larger than BATCH_MEMBERS.
        let size = total.div_ceil(jobs.max(1)).clamp(1, BATCH_MEMBERS);
        let batches: Vec<&[(StackRequest, Vec<Step>)]> = self
            .groups
            .values()
            .flat_map(|members| members.chunks(size))
            .collect();
        tracing::info!(
            "entering {} in {}",
            crate::words::count(total, "stack"),
            crate::words::count(batches.len(), "shell")
        );
        crate::parallel::parallel_map(&batches, jobs.max(1), &|members: &&[(
            StackRequest,
            Vec<Step>,
        )]| {
            let mut done = Vec::new();
            for ((request, steps), settled) in members.iter().zip(enter_batch(lmod, members)) {
                let commands: Vec<String> = steps.iter().map(Step::command).collect();
                if let Some(entered_now) = settled {
                    let entered_now = entered_now.map(Arc::new);
                    remember(self.layout, request, steps, &entered_now);
                    for other in self.same.get(&commands).into_iter().flatten() {
                        remember(self.layout, other, steps, &for_request(&entered_now, other));
                    }
                }
                done.push(commands);
            }
            settle(&done);
        });
    }
}

impl Drop for StacksAhead<'_> {
    fn drop(&mut self) {
        settle(self.same.keys());
    }
}

/// Enters many stacks ahead of their use, `jobs` shells at a time, so that [`enter`] finds
/// them entered (see [`ahead`] and [`StacksAhead::enter`]).
pub fn enter_many(layout: &Layout, requests: &[StackRequest], jobs: usize) {
    ahead(layout, requests).enter(jobs);
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
        assert_eq!(
            parse_module_list("gcc/12.2.0:StdEnv/2023:hdf5/1.10.8"),
            ["gcc/12.2.0", "StdEnv/2023", "hdf5/1.10.8"]
        );
        assert!(parse_module_list("").is_empty());
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
    fn stacks_entered_together_are_the_stacks_entered_alone() {
        assert!(
            LMOD_INIT_PLACES.iter().any(|place| Path::new(place).is_file()),
            "this test needs Lmod (Debian: lmod; .ci/run installs it)"
        );
        let modules = tempfile::tempdir().unwrap();
        write_modulefiles(modules.path());
        fs_err::create_dir_all(modules.path().join("broken")).unwrap();
        fs_err::write(
            modules.path().join("broken/2.0.lua"),
            "LmodError(\"broken on purpose\")\n",
        )
        .unwrap();
        let layout = layout(&format!(
            "[modules]\nsystem = \"lmod\"\nmodulepath = [\"{}\"]\n[layers.site]\nglibc = \"2.36\"\narchs = [\"generic\", \"x86-64-v3\"]\nenvironment = [\"module load StdEnv/2023\"]\n",
            modules.path().display()
        ));
        let asked: [&[&str]; 5] = [
            &["hdf5"],
            &["hdf5", "broken"],
            &["nosuchlib/9.9", "hdf5"],
            &["StdEnv/2023", "hdf5"],
            &["broken/2.0"],
        ];
        let members: Vec<(StackRequest, Vec<Step>)> = asked
            .iter()
            .map(|modules| {
                let request = request("site", "generic", modules);
                let steps = steps(&layout, &request).unwrap();
                (request, steps)
            })
            .collect();
        let together = enter_batch(true, &members);
        assert_eq!(together.len(), members.len());
        for ((request, steps), together) in members.iter().zip(together) {
            let together = together.expect("every member is settled");
            match (together, enter_now(true, request, steps)) {
                (Ok(together), Ok(alone)) => {
                    assert_eq!(together.variables, alone.variables, "{request:?}");
                    assert_eq!(together.loaded, alone.loaded, "{request:?}");
                    assert_eq!(together.library_dirs, alone.library_dirs, "{request:?}");
                    assert_eq!(together.lines, alone.lines, "{request:?}");
                }
                (Err(together), Err(alone)) => {
                    assert_eq!(together.to_string(), alone.to_string(), "{request:?}")
                }
                (together, alone) => panic!("{request:?}: together {together:?}, alone {alone:?}"),
            }
        }
        // The failing module is named, whichever place it has among the modules.
        for (modules, named) in [
            (&["hdf5", "broken"][..], "broken"),
            (&["nosuchlib/9.9", "hdf5"][..], "nosuchlib/9.9"),
            (&["broken/2.0"][..], "broken/2.0"),
        ] {
            let error = enter_now(
                true,
                &request("site", "generic", modules),
                &steps(&layout, &request("site", "generic", modules)).unwrap(),
            )
            .unwrap_err()
            .to_string();
            assert!(
                error.starts_with(&format!(
                    "module `{named}` cannot be loaded in layer site (generic)"
                )),
                "{error}"
            );
        }
        // Entered ahead for both archs (whose steps are the same commands: entered once), then
        // found by `enter` under each arch's name.
        let requests: Vec<StackRequest> = ["generic", "x86-64-v3"]
            .into_iter()
            .flat_map(|arch| {
                [
                    request("site", arch, &["hdf5"]),
                    request("site", arch, &["hdf5", "broken"]),
                ]
            })
            .collect();
        enter_many(&layout, &requests, 2);
        let v3 = enter(&layout, &request("site", "x86-64-v3", &["hdf5"]))
            .unwrap()
            .unwrap();
        assert_eq!(v3.request.arch, "x86-64-v3");
        assert_eq!(v3.loaded, ["StdEnv/2023", "hdf5/1.10.8"]);
        let error = enter(&layout, &request("site", "x86-64-v3", &["hdf5", "broken"]))
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("module `broken` cannot be loaded in layer site (x86-64-v3)"),
            "{error}"
        );
        assert!(error.contains("broken on purpose"), "{error}");
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
