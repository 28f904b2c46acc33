//! One bash entering a stack's steps: the script (a prelude, each step judged, the
//! environment dumped at the end; several requests in one batch), its run in a scratch
//! directory, and what it left read back (the environment, the modules Lmod loaded, the
//! library directories each step added), or the step that failed and why.

use super::*;

/// The start of every entering script: output to the log, the out directory from `$1`, and
/// `__ww_mark STEP` appending the library paths after a step to `$__ww_paths`.
pub(super) const PRELUDE: &str = "exec 1>&2 </dev/null\n\
     __ww_out=\"$1\"\n\
     __ww_paths=\"$__ww_out/paths\"\n\
     __ww_mark() { printf '%s\\0%s\\0%s\\0' \"$1\" \"${LIBRARY_PATH-}\" \"${LD_LIBRARY_PATH-}\" >> \"$__ww_paths\"; }\n\
     __ww_mark start\n";

/// The lines that run `steps` (numbered from `first`): each step's output goes to the log
/// after a marker line (so a failure shows what that step said), the shell stops at the first
/// step that fails, and the library paths after each step are marked.
pub(super) fn step_lines(steps: &[Step], first: usize) -> String {
    let mut lines = String::new();
    for (offset, step) in steps.iter().enumerate() {
        let index = first + offset;
        lines.push_str(&format!(
            "printf '\\036wheelwright step {index}\\n'\n{} || exit $?\n__ww_mark {index}\n",
            step.command()
        ));
    }
    lines
}

/// The lines that end an entry: the modules Lmod has loaded (its `LOADEDMODULES`, in load
/// order, as `module -t list` shows them, without starting Lmod again) and the environment,
/// to files in the out directory whose names start with `prefix`.
pub(super) fn ending(prefix: &str, lmod: bool) -> String {
    let mut lines = String::from("printf '\\036wheelwright step end\\n'\n");
    if lmod {
        lines.push_str(&format!(
            "printf '%s' \"${{LOADEDMODULES-}}\" > \"$__ww_out/{prefix}list\"\n"
        ));
    }
    lines.push_str(&format!("env -0 > \"$__ww_out/{prefix}environment\"\n"));
    lines
}

/// The bash script that runs `steps` and leaves the library paths after each step, the
/// module list and the environment at the end in files of the out directory (`$1`).
pub(super) fn script(steps: &[Step], lmod: bool) -> String {
    format!("{PRELUDE}{}{}", step_lines(steps, 0), ending("", lmod))
}

/// The bash script that runs the steps `members` share (`base`) once, then each member's own
/// steps in a subshell of that state (the file `shared` says the shared steps ran): its output to `N.log`, its files named `N.*`, its exit
/// status to `N.status`. A member that fails does not stop the others.
pub(super) fn batch_script(base: &[Step], members: &[Vec<Step>], lmod: bool) -> String {
    let mut script = format!("{PRELUDE}{}: > \"$__ww_out/shared\"\n", step_lines(base, 0));
    for (member, steps) in members.iter().enumerate() {
        script.push_str(&format!(
            "(\nexec >\"$__ww_out/{member}.log\" 2>&1\n__ww_paths=\"$__ww_out/{member}.paths\"\n{}{})\nprintf '%s' $? > \"$__ww_out/{member}.status\"\n",
            step_lines(&steps[base.len()..], base.len()),
            ending(&format!("{member}."), lmod)
        ));
    }
    script
}

/// A directory for an entering shell's script and files.
pub(super) fn scratch(request: &StackRequest) -> Result<tempfile::TempDir, StackError> {
    tempfile::Builder::new()
        .prefix("wheelwright-stack-")
        .tempdir()
        .map_err(|error| StackError::Other {
            layer: request.layer.clone(),
            arch: request.arch.clone(),
            problem: format!("no temporary directory: {error}"),
        })
}

/// Runs an entering script in a new bash (`out` is its `$1`), its output to `log`, within
/// `limit`; the failure's status when it fails.
pub(super) fn run_script(
    request: &StackRequest,
    out: &Path,
    script: &str,
    log: &Path,
    limit: Duration,
) -> Result<(), StackError> {
    let script_file = out.join("enter.sh");
    fs_err::write(&script_file, script).map_err(|error| StackError::Other {
        layer: request.layer.clone(),
        arch: request.arch.clone(),
        problem: error.to_string(),
    })?;
    run_logged_within(
        "entering the stack",
        Path::new("bash"),
        &[
            "--noprofile".into(),
            "--norc".into(),
            script_file.display().to_string(),
            out.display().to_string(),
        ],
        &Invocation::default(),
        log,
        limit,
    )
    .map_err(|failure| StackError::Other {
        layer: request.layer.clone(),
        arch: request.arch.clone(),
        problem: failure.status,
    })
}

/// What an entering shell left for one stack in `out` (files named `prefix*`): the stack, or
/// the failure of the step its log (`log`, the shell's output up to and including its own)
/// ends in. `paths` holds the marks made before its own.
pub(super) fn collect(
    request: &StackRequest,
    steps: &[Step],
    out: &Path,
    prefix: &str,
    log: &str,
    paths: &[u8],
) -> Result<Stack, StackError> {
    let Ok(environment) = fs_err::read(out.join(format!("{prefix}environment"))) else {
        // A line ran `exit 0`: the shell ended before the end.
        return Err(step_failure(request, steps, log, "the shell exited early".into()));
    };
    let loaded = match fs_err::read_to_string(out.join(format!("{prefix}list"))) {
        Ok(list) => parse_module_list(&list),
        Err(_) => Vec::new(),
    };
    let mut paths = paths.to_vec();
    if !prefix.is_empty() {
        paths.extend(fs_err::read(out.join(format!("{prefix}paths"))).unwrap_or_default());
    }
    Ok(Stack {
        request: request.clone(),
        variables: Arc::new(parse_environment(&environment)),
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

/// Enters `request`'s stack in a new bash, running `steps` (`lmod`: Lmod is loaded).
pub(super) fn enter_now(lmod: bool, request: &StackRequest, steps: &[Step]) -> Result<Stack, StackError> {
    let directory = scratch(request)?;
    let out = directory.path();
    let log = out.join("enter.log");
    tracing::info!("entering {}", describe_request(request));
    let ran = run_script(request, out, &script(steps, lmod), &log, ENTER_LIMIT);
    let text = read_log_from(&log, 0);
    if let Err(StackError::Other { problem, .. }) = ran {
        return Err(step_failure(request, steps, &text, problem));
    }
    ran?;
    let paths = fs_err::read(out.join("paths")).unwrap_or_default();
    collect(request, steps, out, "", &text, &paths)
}

/// Enters the stacks of `members`, which share their steps up to their first module, in one
/// bash (see [`batch_script`]). Each member's stack or failure, in order; `None` for a member
/// the shell did not settle (it overran its time before that member ended).
pub(super) fn enter_batch(
    lmod: bool,
    members: &[(StackRequest, Vec<Step>)],
) -> Vec<Option<Result<Stack, StackError>>> {
    let Some((first, first_steps)) = members.first() else {
        return Vec::new();
    };
    let shared = first_steps
        .iter()
        .position(|step| matches!(step, Step::Module(_)))
        .unwrap_or(first_steps.len());
    let base = &first_steps[..shared];
    let directory = match scratch(first) {
        Ok(directory) => directory,
        Err(error) => return members.iter().map(|_| Some(Err(error.clone()))).collect(),
    };
    let out = directory.path();
    let log = out.join("enter.log");
    tracing::debug!(
        "entering {} stacks of layer {} ({}) in one shell",
        members.len(),
        first.layer,
        first.arch
    );
    let steps: Vec<Vec<Step>> = members.iter().map(|(_, steps)| steps.clone()).collect();
    // Each member may take as long as one stack entered alone.
    let limit = ENTER_LIMIT.saturating_mul(u32::try_from(members.len()).unwrap_or(u32::MAX));
    let ran = run_script(first, out, &batch_script(base, &steps, lmod), &log, limit);
    let base_log = read_log_from(&log, 0);
    let base_paths = fs_err::read(out.join("paths")).unwrap_or_default();
    members
        .iter()
        .enumerate()
        .map(|(member, (request, steps))| {
            let Ok(status) = fs_err::read_to_string(out.join(format!("{member}.status"))) else {
                if out.join("shared").exists() {
                    // Stopped (overrun) before this member ended.
                    return None;
                }
                // The shared steps failed: every member fails as they did.
                let status = match &ran {
                    Err(StackError::Other { problem, .. }) => problem.clone(),
                    _ => "the shell exited early".to_string(),
                };
                return Some(Err(step_failure(request, steps, &base_log, status)));
            };
            let own = read_log_from(&out.join(format!("{member}.log")), 0);
            let text = format!("{base_log}{own}");
            match status.trim() {
                "0" => Some(collect(
                    request,
                    steps,
                    out,
                    &format!("{member}."),
                    &text,
                    &base_paths,
                )),
                code => Some(Err(step_failure(
                    request,
                    steps,
                    &text,
                    format!("exit status {code}"),
                ))),
            }
        })
        .collect()
}

/// A request as log lines name it.
pub(super) fn describe_request(request: &StackRequest) -> String {
    format!(
        "layer {} ({}){}",
        request.layer,
        request.arch,
        if request.modules.is_empty() {
            String::new()
        } else {
            format!(" with modules {}", request.modules.join(", "))
        }
    )
}

/// The error for the step the log's last marker names, with what it printed.
pub(super) fn step_failure(request: &StackRequest, steps: &[Step], log: &str, status: String) -> StackError {
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
pub(super) fn parse_environment(bytes: &[u8]) -> BTreeMap<OsString, OsString> {
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

/// Lmod's `LOADEDMODULES` (names separated by `:`) or `module -t list` output (one module
/// per line, sometimes with a `(S)`-like mark) as names.
pub(super) fn parse_module_list(text: &str) -> Vec<String> {
    text.split(['\n', ':'])
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
pub(super) fn library_dirs(paths: &[u8], steps: &[Step]) -> Vec<LibraryDir> {
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
