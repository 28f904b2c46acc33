//! Sourcing `build_wheel.sh` configs with bash itself, many at a time and in a sandbox, and
//! reading back what they set (bash's own `declare -p` serialisation).
//!
//! One bash process takes a batch of jobs (a config file with the variables it is sourced
//! under); each job runs in a subshell `( ... )`, so that a config's `exit`, errors and
//! variables stay in it. The sandbox: `env -i` with `PATH` an empty directory (no external
//! program can run: every command name goes to `command_not_found_handle`, which records the
//! call), `HOME` and the working directory in a temporary directory holding copies of the
//! configs, stdin from /dev/null, the restricted shell (`set -r`: no `cd`, no output
//! redirection, no command names with `/`, no changing `PATH`) from before each config
//! runs, and a time limit per job (past it the whole process group is killed and the batch
//! goes on from the next job). `module`, `pip`, `git`, `wget` and friends are also stubs.
//! Records are NUL-separated fields behind a marker with a nonce, which a config's own output
//! cannot produce by chance.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::ImportError;

/// Commands stubbed as functions (no fork); any other command is caught by
/// `command_not_found_handle` because PATH is empty.
const STUBS: [&str; 16] = [
    "module", "ml", "pip", "pip3", "python", "python3", "wget", "curl", "git", "tar", "unzip", "sed",
    "patch", "cmake", "make", "find",
];

/// The most output kept from one config (its `echo`s and bash's messages).
const MAX_OUTPUT: usize = 16 * 1024;

/// One config sourced under some variables.
#[derive(Debug, Clone)]
pub struct Job {
    /// Index of the config in the `configs` given to [`source_all`].
    pub config: usize,
    /// Variables set before the config is sourced, in order.
    pub assignments: Vec<Assignment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub name: String,
    pub value: String,
    pub exported: bool,
}

/// A shell variable after sourcing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShellVariable {
    pub exported: bool,
    /// An array (its elements are joined by spaces in `value`, as `${NAME[*]}`).
    pub array: bool,
    /// None: declared without a value.
    pub value: Option<String>,
}

/// What became of one job.
#[derive(Debug, Clone)]
pub enum Sourced {
    /// Sourced: the variables as they stood afterwards.
    Done(Dump),
    /// The subshell ended before its variables could be read (`exit`, `${X:?}`, a fatal
    /// error); its exit status.
    Failed {
        status: i32,
        output: String,
        calls: Vec<String>,
    },
    /// Still running past the time limit: killed.
    TimedOut { output: String, calls: Vec<String> },
}

#[derive(Debug, Clone)]
pub struct Dump {
    pub variables: BTreeMap<String, ShellVariable>,
    /// What the config printed (stdout and stderr, with bash's messages).
    pub output: String,
    /// Commands the config called that are not builtins (not run), as `name args`.
    pub calls: Vec<String>,
}

/// How to run the batches.
#[derive(Debug, Clone)]
pub struct BashOptions {
    pub bash: PathBuf,
    /// The time limit of one job.
    pub timeout: Duration,
    pub threads: usize,
}

/// Sources every job, in batches run `options.threads` at a time; the results in job order.
pub fn source_all(
    configs: &[PathBuf],
    jobs: &[Job],
    options: &BashOptions,
) -> Result<Vec<Sourced>, ImportError> {
    let sandbox = Sandbox::new(configs)?;
    let threads = options.threads.max(1);
    // Enough batches to keep every thread busy while slow ones finish, few enough that the
    // start of bash (and of its script) does not count.
    let batch_size = jobs.len().div_ceil(threads * 4).clamp(1, 500);
    let batches: Vec<&[Job]> = jobs.chunks(batch_size).collect();
    let results = crate::parallel::parallel_map(&batches, threads, &|batch| {
        run_batch(&sandbox, configs, batch, options)
    });
    let mut all = Vec::with_capacity(jobs.len());
    for result in results {
        all.extend(result?);
    }
    Ok(all)
}

/// The temporary directory bash runs in: copies of the configs, an empty PATH directory and
/// a HOME.
struct Sandbox {
    directory: tempfile::TempDir,
    nonce: String,
}

impl Sandbox {
    fn new(configs: &[PathBuf]) -> Result<Self, ImportError> {
        let directory = tempfile::Builder::new()
            .prefix("wheelwright-import-")
            .tempdir()
            .map_err(|error| ImportError::Io(error.to_string()))?;
        for sub in ["configs", "home", "empty-path"] {
            fs_err::create_dir_all(directory.path().join(sub)).map_err(ImportError::from_io)?;
        }
        for (index, config) in configs.iter().enumerate() {
            fs_err::copy(
                config,
                directory.path().join("configs").join(copy_name(index, config)),
            )
            .map_err(ImportError::from_io)?;
        }
        // Unpredictable enough that config output does not contain it: time, process and a
        // stack address.
        let marker_seed = format!(
            "{:?}{}{:p}",
            std::time::SystemTime::now(),
            std::process::id(),
            &directory
        );
        let nonce = format!("{:016x}", fxhash(marker_seed.as_bytes()));
        Ok(Sandbox { directory, nonce })
    }

    fn path(&self, sub: &str) -> PathBuf {
        self.directory.path().join(sub)
    }
}

/// The name of a config's copy: its own name (bash's messages quote it), made unique and
/// safe for `.` without a slash.
fn copy_name(index: usize, config: &Path) -> String {
    let name = config
        .file_name()
        .map(|name| name.to_string_lossy().to_string())
        .unwrap_or_default();
    let safe = !name.is_empty()
        && !name.starts_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._+-@".contains(c));
    if safe { name } else { format!("config-{index}.sh") }
}

fn fxhash(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// Quotes a value for bash (single quotes).
pub fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// The script of one batch.
fn script(sandbox: &Sandbox, configs: &[PathBuf], jobs: &[Job], first: usize) -> String {
    let mut text = String::new();
    // One stream: the records, the configs' output and bash's messages. The stubs write to
    // stderr (a redirection made when they are defined, which the restricted shell allows),
    // so that a call inside `$(...)` is recorded rather than captured into a value.
    text.push_str("exec 2>&1\n");
    text.push_str(&format!("readonly __ww_mark=$'\\001'{}\n", quote(&sandbox.nonce)));
    text.push_str(
        "command_not_found_handle() { builtin printf '\\0%s:call\\0%s\\0' \"$__ww_mark\" \"$*\"; return 0; } >&2\n",
    );
    for stub in STUBS {
        text.push_str(&format!(
            "{stub}() {{ builtin printf '\\0%s:call\\0%s\\0' \"$__ww_mark\" \"{stub} $*\"; return 0; }} >&2\n"
        ));
    }
    // build_wheel.sh's helper that configs call to compare versions: up to four numeric
    // parts, each part's leading digits (`1.9a2` -> 1.9.0.0 as 1009000000).
    text.push_str(concat!(
        "translate_version() { local IFS=. part; local -a parts=($1) numbers=();",
        " for part in \"${parts[0]}\" \"${parts[1]}\" \"${parts[2]}\" \"${parts[3]}\"; do",
        " part=${part%%[!0-9]*}; numbers+=($((10#${part:-0}))); done;",
        " builtin printf '%d%03d%03d%03d\\n' \"${numbers[@]}\"; }\n",
    ));
    text.push_str("shopt -u sourcepath\n");
    for (offset, job) in jobs.iter().enumerate() {
        let index = first + offset;
        text.push_str(&format!(
            "builtin printf '\\0%s:begin\\0%s\\0' \"$__ww_mark\" {index}\n( "
        ));
        for assignment in &job.assignments {
            if assignment.exported {
                text.push_str("export ");
            }
            text.push_str(&format!("{}={}; ", assignment.name, quote(&assignment.value)));
        }
        let name = copy_name(job.config, &configs[job.config]);
        text.push_str(&format!(
            "set -r; . {} </dev/null; __ww_status=$?; builtin printf '\\0%s:vars\\0' \"$__ww_mark\"; builtin declare -p; builtin printf '\\0%s:end\\0%s\\0' \"$__ww_mark\" \"$__ww_status\" )\n",
            quote(&name)
        ));
        text.push_str("builtin printf '\\0%s:exit\\0%s\\0' \"$__ww_mark\" \"$?\"\n");
    }
    text
}

/// Runs one batch, starting bash again after a job that ran out of time.
fn run_batch(
    sandbox: &Sandbox,
    configs: &[PathBuf],
    jobs: &[Job],
    options: &BashOptions,
) -> Result<Vec<Sourced>, ImportError> {
    let mut results: Vec<Sourced> = Vec::with_capacity(jobs.len());
    while results.len() < jobs.len() {
        let done = results.len();
        let outcome = run_process(sandbox, configs, &jobs[done..], options)?;
        let reached = outcome.results.len();
        results.extend(outcome.results);
        if let Some(stuck) = outcome.timed_out {
            results.push(stuck);
        } else if reached < jobs.len() - done {
            // bash ended early without a record of the rest: refuse them rather than loop.
            while results.len() < jobs.len() {
                results.push(Sourced::Failed {
                    status: -1,
                    output: "bash stopped before sourcing this config".to_string(),
                    calls: Vec::new(),
                });
            }
        }
    }
    Ok(results)
}

struct ProcessOutcome {
    results: Vec<Sourced>,
    /// The job that was killed for its time, if one was.
    timed_out: Option<Sourced>,
}

/// Starts bash on the script of `jobs` and reads its records as they come.
fn run_process(
    sandbox: &Sandbox,
    configs: &[PathBuf],
    jobs: &[Job],
    options: &BashOptions,
) -> Result<ProcessOutcome, ImportError> {
    let script_text = script(sandbox, configs, jobs, 0);
    // Outside the configs' directory (a config cannot read it by name).
    let mut script_file = tempfile::Builder::new()
        .prefix("batch-")
        .suffix(".bash")
        .tempfile_in(sandbox.directory.path())
        .map_err(ImportError::from_io)?;
    {
        use std::io::Write as _;
        script_file
            .write_all(script_text.as_bytes())
            .map_err(ImportError::from_io)?;
    }
    let mut child = crate::tools::Program::new("sourcing configs", &options.bash)
        .arg("--noprofile")
        .arg("--norc")
        .arg(script_file.path())
        .env_clear()
        .env("PATH", sandbox.path("empty-path"))
        .env("HOME", sandbox.path("home"))
        .env("LC_ALL", "C")
        .current_dir(sandbox.path("configs"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|error| ImportError::Bash {
            bash: options.bash.clone(),
            message: error.to_string(),
        })?;
    tracing::debug!("bash {} sources {} jobs", child.id(), jobs.len());
    let mut stdout = child.stdout.take().ok_or_else(|| ImportError::Bash {
        bash: options.bash.clone(),
        message: "no stdout".to_string(),
    })?;
    let (sender, receiver) = mpsc::channel::<Vec<u8>>();
    let reader = std::thread::spawn(move || {
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            match stdout.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(count) => {
                    if sender.send(buffer[..count].to_vec()).is_err() {
                        break;
                    }
                }
            }
        }
    });

    let mut parser = RecordParser::new(&sandbox.nonce);
    let mut timed_out = None;
    let mut started = Instant::now();
    let mut current = None;
    loop {
        let remaining = options.timeout.saturating_sub(started.elapsed());
        match receiver.recv_timeout(remaining) {
            Ok(chunk) => {
                parser.feed(&chunk);
                if parser.current != current {
                    current = parser.current;
                    started = Instant::now();
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if parser.current.is_some() {
                    tracing::warn!(
                        "{}: still sourcing after {} s: killed",
                        configs[jobs[parser.results.len()].config].display(),
                        options.timeout.as_secs()
                    );
                    kill_group(child.id());
                    timed_out = Some(parser.take_current_as_timed_out());
                    break;
                }
                started = Instant::now();
            }
        }
    }
    if timed_out.is_some() {
        // The reader ends when every process of the group has gone.
        let _ = child.wait();
        let _ = reader.join();
    } else {
        let _ = reader.join();
        let _ = child.wait();
    }
    Ok(ProcessOutcome {
        results: parser.results,
        timed_out,
    })
}

/// Kills a process group (bash and the subshells it forked).
fn kill_group(pid: u32) {
    let Ok(group) = i32::try_from(pid) else {
        return;
    };
    // SAFETY: kill(2) with a negative pid signals that process group; no memory is shared.
    unsafe {
        libc::kill(-group, libc::SIGKILL);
    }
}

/// What the next field is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Output,
    Index,
    Call,
    Declarations,
    EndStatus,
    ExitStatus,
}

/// Reads the NUL-separated stream of a batch as it arrives.
struct RecordParser {
    marker: Vec<u8>,
    pending: Vec<u8>,
    expect: Expect,
    /// The job being sourced (its index in the batch).
    current: Option<usize>,
    output: Vec<u8>,
    calls: Vec<String>,
    declarations: Option<String>,
    end_status: Option<i32>,
    results: Vec<Sourced>,
}

impl RecordParser {
    fn new(nonce: &str) -> Self {
        let mut marker = vec![1u8];
        marker.extend_from_slice(nonce.as_bytes());
        marker.push(b':');
        RecordParser {
            marker,
            pending: Vec::new(),
            expect: Expect::Output,
            current: None,
            output: Vec::new(),
            calls: Vec::new(),
            declarations: None,
            end_status: None,
            results: Vec::new(),
        }
    }

    fn feed(&mut self, chunk: &[u8]) {
        self.pending.extend_from_slice(chunk);
        let mut start = 0;
        while let Some(length) = self.pending[start..].iter().position(|byte| *byte == 0) {
            let field = self.pending[start..start + length].to_vec();
            start += length + 1;
            self.field(&field);
        }
        self.pending.drain(..start);
    }

    fn field(&mut self, field: &[u8]) {
        let text = || String::from_utf8_lossy(field).to_string();
        match self.expect {
            Expect::Index => {
                self.current = text().parse().ok();
                self.expect = Expect::Output;
            }
            Expect::Call => {
                self.calls.push(text());
                self.expect = Expect::Output;
            }
            Expect::Declarations => {
                self.declarations = Some(text());
                self.expect = Expect::Output;
            }
            Expect::EndStatus => {
                self.end_status = Some(text().parse().unwrap_or(-1));
                self.expect = Expect::Output;
            }
            Expect::ExitStatus => {
                let status = text().parse().unwrap_or(-1);
                self.finish(status);
                self.expect = Expect::Output;
            }
            Expect::Output => match field.strip_prefix(self.marker.as_slice()) {
                Some(b"begin") => self.expect = Expect::Index,
                Some(b"call") => self.expect = Expect::Call,
                Some(b"vars") => self.expect = Expect::Declarations,
                Some(b"end") => self.expect = Expect::EndStatus,
                Some(b"exit") => self.expect = Expect::ExitStatus,
                _ => {
                    if self.output.len() < MAX_OUTPUT {
                        self.output.extend_from_slice(field);
                    }
                }
            },
        }
    }

    fn output_text(&mut self) -> String {
        let mut text = String::from_utf8_lossy(&std::mem::take(&mut self.output)).to_string();
        if text.len() >= MAX_OUTPUT {
            text.push_str("\n[output cut]");
        }
        text.trim().to_string()
    }

    fn finish(&mut self, exit_status: i32) {
        let output = self.output_text();
        let calls = std::mem::take(&mut self.calls);
        let result = match (self.end_status.take(), self.declarations.take()) {
            (Some(_), Some(declarations)) => Sourced::Done(Dump {
                variables: parse_declarations(&declarations),
                output,
                calls,
            }),
            _ => Sourced::Failed {
                status: exit_status,
                output,
                calls,
            },
        };
        self.results.push(result);
        self.current = None;
    }

    fn take_current_as_timed_out(&mut self) -> Sourced {
        Sourced::TimedOut {
            output: self.output_text(),
            calls: std::mem::take(&mut self.calls),
        }
    }
}

/// Parses `declare -p` output: `declare -FLAGS NAME="value"`, `NAME=$'...'`, `NAME=(...)` or
/// `NAME` alone, one a line (values may span lines inside their quotes). Names starting with
/// `__ww` (the importer's own) are left out.
pub fn parse_declarations(text: &str) -> BTreeMap<String, ShellVariable> {
    let mut variables = BTreeMap::new();
    let mut cursor = Cursor {
        characters: text.chars().collect(),
        position: 0,
    };
    while !cursor.at_end() {
        if !cursor.eat_str("declare ") {
            cursor.skip_line();
            continue;
        }
        let flags = cursor.take_while(|c| c != ' ');
        cursor.eat(' ');
        let name = cursor.take_while(|c| c != '=' && c != '\n');
        let array = flags.contains('a') || flags.contains('A');
        let value = if cursor.eat('=') {
            if array && cursor.peek() == Some('(') {
                Some(cursor.array_value())
            } else {
                Some(cursor.scalar_value())
            }
        } else {
            None
        };
        cursor.skip_line();
        if name.starts_with("__ww") || name.is_empty() {
            continue;
        }
        variables.insert(
            name,
            ShellVariable {
                exported: flags.contains('x'),
                array,
                value,
            },
        );
    }
    variables
}

struct Cursor {
    characters: Vec<char>,
    position: usize,
}

impl Cursor {
    fn at_end(&self) -> bool {
        self.position >= self.characters.len()
    }

    fn peek(&self) -> Option<char> {
        self.characters.get(self.position).copied()
    }

    fn next(&mut self) -> Option<char> {
        let character = self.peek()?;
        self.position += 1;
        Some(character)
    }

    fn eat(&mut self, expected: char) -> bool {
        if self.peek() == Some(expected) {
            self.position += 1;
            true
        } else {
            false
        }
    }

    fn eat_str(&mut self, expected: &str) -> bool {
        let end = self.position + expected.chars().count();
        if end <= self.characters.len()
            && self.characters[self.position..end]
                .iter()
                .copied()
                .eq(expected.chars())
        {
            self.position = end;
            true
        } else {
            false
        }
    }

    fn take_while(&mut self, keep: impl Fn(char) -> bool) -> String {
        let mut taken = String::new();
        while let Some(character) = self.peek().filter(|c| keep(*c)) {
            taken.push(character);
            self.position += 1;
        }
        taken
    }

    fn skip_line(&mut self) {
        while let Some(character) = self.next() {
            if character == '\n' {
                break;
            }
        }
    }

    /// `"..."`, `$'...'`, or a bare word.
    fn scalar_value(&mut self) -> String {
        if self.eat('"') {
            self.double_quoted()
        } else if self.eat_str("$'") {
            self.ansi_c_quoted()
        } else {
            self.take_while(|c| c != '\n' && c != ' ' && c != ')')
        }
    }

    /// The rest of a double-quoted string: `\` escapes `"`, `\`, `$` and `` ` ``.
    fn double_quoted(&mut self) -> String {
        let mut value = String::new();
        while let Some(character) = self.next() {
            match character {
                '"' => break,
                '\\' => match self.peek() {
                    Some(escaped @ ('"' | '\\' | '$' | '`')) => {
                        value.push(escaped);
                        self.position += 1;
                    }
                    Some('\n') => self.position += 1,
                    _ => value.push('\\'),
                },
                other => value.push(other),
            }
        }
        value
    }

    /// The rest of a `$'...'` string, with bash's ANSI-C escapes.
    fn ansi_c_quoted(&mut self) -> String {
        let mut bytes: Vec<u8> = Vec::new();
        let push = |bytes: &mut Vec<u8>, character: char| {
            let mut buffer = [0u8; 4];
            bytes.extend_from_slice(character.encode_utf8(&mut buffer).as_bytes());
        };
        while let Some(character) = self.next() {
            match character {
                '\'' => break,
                '\\' => {
                    let Some(escape) = self.next() else { break };
                    match escape {
                        'a' => bytes.push(7),
                        'b' => bytes.push(8),
                        'e' | 'E' => bytes.push(27),
                        'f' => bytes.push(12),
                        'n' => bytes.push(b'\n'),
                        'r' => bytes.push(b'\r'),
                        't' => bytes.push(b'\t'),
                        'v' => bytes.push(11),
                        '0'..='7' => {
                            let mut number = escape.to_digit(8).unwrap_or(0);
                            for _ in 0..2 {
                                match self.peek().and_then(|c| c.to_digit(8)) {
                                    Some(digit) => {
                                        number = number * 8 + digit;
                                        self.position += 1;
                                    }
                                    None => break,
                                }
                            }
                            bytes.push((number & 0xff) as u8);
                        }
                        'x' => {
                            let digits = self.hex_digits(2);
                            bytes.push(u8::try_from(digits).unwrap_or(b'?'));
                        }
                        'u' | 'U' => {
                            let digits = self.hex_digits(if escape == 'u' { 4 } else { 8 });
                            push(&mut bytes, char::from_u32(digits).unwrap_or('?'));
                        }
                        'c' => {
                            let control = self.next().unwrap_or('@');
                            bytes.push((control as u32 & 0x1f) as u8);
                        }
                        other => push(&mut bytes, other),
                    }
                }
                other => push(&mut bytes, other),
            }
        }
        String::from_utf8_lossy(&bytes).to_string()
    }

    fn hex_digits(&mut self, most: usize) -> u32 {
        let mut number = 0;
        for _ in 0..most {
            match self.peek().and_then(|c| c.to_digit(16)) {
                Some(digit) => {
                    number = number * 16 + digit;
                    self.position += 1;
                }
                None => break,
            }
        }
        number
    }

    /// `([0]="a" [1]="b")` or an associative `([key]="v" )`: the values, joined by spaces.
    fn array_value(&mut self) -> String {
        self.eat('(');
        let mut values = Vec::new();
        loop {
            self.take_while(|c| c == ' ');
            match self.peek() {
                None | Some(')') => {
                    self.eat(')');
                    break;
                }
                Some('[') => {
                    // The key: up to `]=`, which keys cannot contain unquoted.
                    while let Some(character) = self.next() {
                        if character == ']' && self.peek() == Some('=') {
                            self.position += 1;
                            break;
                        }
                    }
                    values.push(self.scalar_value());
                }
                Some(_) => {
                    values.push(self.scalar_value());
                }
            }
        }
        values.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declarations_read_back_every_quoting() {
        let text = concat!(
            "declare -- A=\"plain\"\n",
            "declare -x B=\"say \\\"hi\\\" to \\$USER and \\`x\\` \\\\ done\"\n",
            "declare -- C=$'line one\\n\\tline \\'two\\'\\001'\n",
            "declare -a D=([0]=\"x\" [1]=\"y z\")\n",
            "declare -A E=([k]=\"v\" )\n",
            "declare -- F\n",
            "declare -- G=\"multi\nline\"\n",
            "declare -ir H=\"3\"\n",
            "declare -- __ww_status=\"0\"\n",
        );
        let variables = parse_declarations(text);
        let value = |name: &str| variables[name].value.clone();
        assert_eq!(value("A").as_deref(), Some("plain"));
        assert_eq!(value("B").as_deref(), Some("say \"hi\" to $USER and `x` \\ done"));
        assert!(variables["B"].exported && !variables["A"].exported);
        assert_eq!(value("C").as_deref(), Some("line one\n\tline 'two'\u{1}"));
        assert_eq!(value("D").as_deref(), Some("x y z"));
        assert!(variables["D"].array);
        assert_eq!(value("E").as_deref(), Some("v"));
        assert_eq!(value("F"), None);
        assert_eq!(value("G").as_deref(), Some("multi\nline"));
        assert_eq!(value("H").as_deref(), Some("3"));
        assert!(!variables.contains_key("__ww_status"));
    }

    #[test]
    fn bash_serialises_what_it_is_given_and_the_parser_reads_it_back() {
        let Some(bash) = crate::tools::find_program(Path::new("bash")).ok() else {
            return;
        };
        let directory = tempfile::tempdir().unwrap();
        let config = directory.path().join("odd.sh");
        let tricky = "a \"b\" $c `d` \\e\n\tf 'g' \u{1}h é";
        fs_err::write(
            &config,
            format!(
                "X={}\nexport Y=1\nZ=(one two)\necho printed\nmodule load gcc\nnot-a-command --flag\n",
                quote(tricky)
            ),
        )
        .unwrap();
        let configs = vec![config];
        let jobs = vec![Job {
            config: 0,
            assignments: vec![Assignment {
                name: "PACKAGE".into(),
                value: "odd".into(),
                exported: false,
            }],
        }];
        let options = BashOptions {
            bash,
            timeout: Duration::from_secs(20),
            threads: 1,
        };
        let results = source_all(&configs, &jobs, &options).unwrap();
        let Sourced::Done(dump) = &results[0] else {
            panic!("{:?}", results[0]);
        };
        assert_eq!(dump.variables["X"].value.as_deref(), Some(tricky));
        assert!(dump.variables["Y"].exported);
        assert_eq!(dump.variables["Z"].value.as_deref(), Some("one two"));
        assert_eq!(dump.output, "printed");
        assert_eq!(dump.calls, ["module load gcc", "not-a-command --flag"]);
    }
}
