//! Simple indexes both ways. `wheelbuild --index-url`: sources found on a local simple index
//! (a Python HTTP server on 127.0.0.1 that answers PEP 691 JSON when asked for it and PEP 503
//! HTML otherwise), with the messages for a missing project, a missing version and a hash that
//! does not match; the full build, whose build environment also comes from the local index, is
//! in CI's slow step. `wheelwright index`: what it must never do to an existing index (empty
//! it for a missing or emptied root, shrink it by accident, show half of a view).

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use sha2::Digest as _;
use wheelwright::wheelhouse::simple::{IndexFile, project_html, project_json};

use crate::common::{WheelSpec, run};

/// The server: `/simple/<project>/` from `<root>/simple/<project>/index.json` when the Accept
/// header asks for PEP 691 JSON (and the file exists), else `index.html`; `/files/<name>`
/// from `<root>/files/` (GET and HEAD); everything else 404. Each request is appended to
/// `<root>/requests.log` as `<path> <accept> <method>`.
const SERVER: &str = r##"
import http.server, os, sys
root = os.path.abspath(sys.argv[1])

class Handler(http.server.BaseHTTPRequestHandler):
    def do_HEAD(self):
        self.answer(with_body=False)

    def do_GET(self):
        self.answer(with_body=True)

    def answer(self, with_body):
        accept = self.headers.get("Accept", "")
        with open(os.path.join(root, "requests.log"), "a") as log:
            log.write("%s %s %s\n" % (self.path, accept, self.command))
        path = self.path.split("?")[0].split("#")[0]
        local = os.path.normpath(os.path.join(root, path.lstrip("/")))
        kind = "application/octet-stream"
        if not local.startswith(root + os.sep):
            local = None
        elif path.startswith("/simple/") and os.path.isdir(local):
            json_page = os.path.join(local, "index.json")
            if "application/vnd.pypi.simple.v1+json" in accept and os.path.isfile(json_page):
                local, kind = json_page, "application/vnd.pypi.simple.v1+json"
            else:
                local, kind = os.path.join(local, "index.html"), "text/html; charset=utf-8"
        elif not path.startswith("/files/"):
            local = None
        if local is None or not os.path.isfile(local):
            self.send_error(404)
            return
        with open(local, "rb") as file:
            data = file.read()
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if with_body:
            self.wfile.write(data)

    def log_message(self, *args):
        pass

server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"##;

/// A local simple index, stopped when dropped.
pub(crate) struct LocalIndex {
    root: PathBuf,
    server: Child,
    port: u16,
}

impl LocalIndex {
    pub(crate) fn start(root: &Path) -> LocalIndex {
        std::fs::create_dir_all(root.join("simple")).unwrap();
        std::fs::create_dir_all(root.join("files")).unwrap();
        let script = root.join("server.py");
        std::fs::write(&script, SERVER).unwrap();
        let python = crate::common::python(12).expect("a Python 3.12 for the index server");
        let mut server = Command::new(python)
            .arg(&script)
            .arg(root)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(server.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line.trim().parse().expect("the server prints its port");
        LocalIndex {
            root: root.to_path_buf(),
            server,
            port,
        }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}/simple/", self.port)
    }

    /// Publishes `files` (copied into `files/`) as `project`'s page; `listed_sha256`
    /// overrides the hash the page gives for a file; `json` writes the PEP 691 page too.
    pub(crate) fn publish(&self, project: &str, files: &[PathBuf], listed_sha256: Option<&str>, json: bool) {
        let entries: Vec<IndexFile> = files
            .iter()
            .map(|path| {
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                let bytes = std::fs::read(path).unwrap();
                std::fs::write(self.root.join("files").join(&name), &bytes).unwrap();
                IndexFile {
                    url: format!("../../files/{name}"),
                    sha256: listed_sha256.map(str::to_string).unwrap_or_else(|| {
                        sha2::Sha256::digest(&bytes)
                            .iter()
                            .map(|byte| format!("{byte:02x}"))
                            .collect()
                    }),
                    size: bytes.len() as u64,
                    version: String::new(),
                    requires_python: Some(">=3.8".to_string()),
                    metadata_sha256: None,
                    file_name: name,
                }
            })
            .collect();
        let directory = self.root.join("simple").join(project);
        std::fs::create_dir_all(&directory).unwrap();
        std::fs::write(directory.join("index.html"), project_html(project, &entries)).unwrap();
        if json {
            std::fs::write(directory.join("index.json"), project_json(project, &entries)).unwrap();
        }
    }

    pub(crate) fn requests(&self) -> String {
        std::fs::read_to_string(self.root.join("requests.log")).unwrap_or_default()
    }

    /// How many times the page of `project` was asked for.
    fn page_reads(&self, project: &str) -> usize {
        let page = format!("/simple/{project}/");
        self.requests()
            .lines()
            .filter(|line| line.starts_with(&page))
            .count()
    }
}

impl Drop for LocalIndex {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

/// A `.tar.gz` sdist of a fixture, with the PKG-INFO a real sdist has.
pub(crate) fn sdist(fixture: &str, name: &str, version: &str, into: &Path) -> PathBuf {
    let top = format!("{name}-{version}");
    let stage = into.join("stage");
    std::fs::create_dir_all(&stage).unwrap();
    let status = Command::new("cp")
        .arg("-r")
        .arg(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures")
                .join(fixture),
        )
        .arg(stage.join(&top))
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::write(
        stage.join(&top).join("PKG-INFO"),
        format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nRequires-Python: >=3.8\n"),
    )
    .unwrap();
    let archive = into.join(format!("{top}.tar.gz"));
    let status = Command::new("tar")
        .arg("czf")
        .arg(&archive)
        .arg("-C")
        .arg(&stage)
        .arg(&top)
        .status()
        .unwrap();
    assert!(status.success());
    archive
}

/// `wheelbuild --index-url <index>` in `directory`, with the index variables pointing
/// nowhere (so anything that ignores the flag fails) and no proxy for 127.0.0.1.
fn wheelbuild(directory: &Path, index: &LocalIndex, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_wheelbuild"));
    command
        .current_dir(directory)
        .env_remove("WHEELWRIGHT_LAYOUT")
        .env("RUST_LOG", "wheelwright=info")
        .env("NO_PROXY", "127.0.0.1")
        .env("no_proxy", "127.0.0.1")
        .env("PIP_INDEX_URL", "http://127.0.0.1:9/nowhere/")
        .env("UV_INDEX_URL", "http://127.0.0.1:9/nowhere/")
        .env("UV_DEFAULT_INDEX", "http://127.0.0.1:9/nowhere/")
        .arg("--index-url")
        .arg(index.url())
        .args(args)
        .arg("--output")
        .arg(directory.join("out"))
        .arg("--work-dir")
        .arg(directory.join("work"))
        .arg("--cache-dir")
        .arg(directory.join("cache"));
    command
}

/// The files under a directory, relative, sorted.
fn tree(directory: &Path) -> Vec<String> {
    let mut files: Vec<String> = walk(directory)
        .into_iter()
        .map(|path| path.strip_prefix(directory).unwrap().display().to_string())
        .collect();
    files.sort();
    files
}

fn walk(directory: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(directory).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(walk(&path));
        } else {
            found.push(path);
        }
    }
    found
}

#[test]
fn a_missing_project_and_a_missing_version_are_named() {
    let directory = tempfile::tempdir().unwrap();
    let index = LocalIndex::start(&directory.path().join("index"));
    let archive = sdist("purepkg", "purepkg", "0.1.0", directory.path());
    index.publish("purepkg", &[archive], None, true);

    let (code, stdout, stderr) = run(&mut wheelbuild(
        directory.path(),
        &index,
        &[
            "--package",
            "No_Such.Project",
            "--version",
            "1.0",
            "--python",
            "3.12",
        ],
    ));
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    let expected = format!(
        "the index {} has no project `No_Such.Project`: http://127.0.0.1:{}/simple/no-such-project/ does not exist (HTTP 404)",
        index.url(),
        index.port
    );
    assert!(stderr.contains(&expected), "{stderr}");

    let (code, stdout, stderr) = run(&mut wheelbuild(
        directory.path(),
        &index,
        &["--package", "purepkg", "--version", "0.2", "--python", "3.12"],
    ));
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    let expected = format!(
        "`purepkg` has no version 0.2 on {}; the newest there: 0.1.0",
        index.url()
    );
    assert!(stderr.contains(&expected), "{stderr}");
    // The normalised name was asked for, as PEP 691 JSON first.
    let requests = index.requests();
    assert!(
        requests.contains(
            "/simple/no-such-project/ application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01"
        ),
        "{requests}"
    );
    assert!(
        !directory.path().join("cache/pypi").exists(),
        "nothing was cached"
    );
}

#[test]
fn a_hash_that_does_not_match_the_index_is_an_error_and_nothing_is_cached() {
    let directory = tempfile::tempdir().unwrap();
    let index = LocalIndex::start(&directory.path().join("index"));
    let archive = sdist("purepkg", "purepkg", "0.1.0", directory.path());
    let actual: String = sha2::Sha256::digest(std::fs::read(&archive).unwrap())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    let listed = "0".repeat(64);
    index.publish("purepkg", &[archive], Some(&listed), true);
    let (code, stdout, stderr) = run(&mut wheelbuild(
        directory.path(),
        &index,
        &["--package", "purepkg", "--version", "0.1.0", "--python", "3.12"],
    ));
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    let expected = format!(
        "the download of `purepkg-0.1.0.tar.gz` from http://127.0.0.1:{}/files/purepkg-0.1.0.tar.gz has sha256 {actual}, but the index gives {listed}; nothing was cached",
        index.port
    );
    assert!(stderr.contains(&expected), "{stderr}");
    // No source was cached (the index's page is kept, with its validators, apart).
    let cached: Vec<String> = tree(&directory.path().join("cache"))
        .into_iter()
        .filter(|path| !path.starts_with("index-pages"))
        .collect();
    assert_eq!(cached, Vec::<String>::new());
}

#[test]
fn a_project_with_only_a_pure_wheel_is_fetched_from_an_html_index_and_taken_as_is() {
    let directory = tempfile::tempdir().unwrap();
    let index = LocalIndex::start(&directory.path().join("index"));
    let mut spec = WheelSpec::new("wheelonly", "1.2.0");
    spec.metadata = "Metadata-Version: 2.1\nName: wheelonly\nVersion: 1.2.0\n\n".to_string();
    spec.files.truncate(1);
    let wheels = directory.path().join("wheels");
    std::fs::create_dir_all(&wheels).unwrap();
    let wheel = spec.write(&wheels);
    // An older version with an sdist would do too, but the newest is the wheel.
    let older = sdist("purepkg", "wheelonly", "1.0.0", directory.path());
    // Only the PEP 503 HTML page: the client falls back to it.
    index.publish("wheelonly", &[older, wheel], None, false);
    // No uv: its seed packages would come from this index, which has no pip; pip's venv
    // seeds itself offline, and the smoke test installs with --no-index.
    let (code, stdout, stderr) = run(wheelbuild(
        directory.path(),
        &index,
        &["--package", "wheelonly", "--python", "3.12", "--json"],
    )
    .env("WHEELWRIGHT_UV", "/nonexistent/uv"));
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["version"], "1.2.0");
    assert_eq!(report["source"]["is_wheel"], true);
    assert_eq!(
        report["source"]["url"],
        format!(
            "http://127.0.0.1:{}/files/wheelonly-1.2.0-py3-none-any.whl",
            index.port
        )
    );
    assert_eq!(report["cells"][0]["test"], "passed", "{stdout}");
    assert!(
        stderr.contains("1.2.0 is the newest version that fits: it has no sdist, only this pure wheel"),
        "{stderr}"
    );
    assert!(
        index
            .requests()
            .contains("/simple/wheelonly/ application/vnd.pypi.simple.v1+json"),
        "JSON asked for, HTML served"
    );
    // The pinned version is now cached: a second build needs no index at all.
    let cached = tree(&directory.path().join("cache"));
    assert!(cached.contains(&"pypi/wheelonly-1.2.0".to_string()), "{cached:?}");
}

#[test]
#[ignore = "downloads pip, setuptools and wheel from PyPI for the local index; builds with uv: CI's slow step"]
fn a_build_takes_its_sdist_and_build_environment_from_the_index_given() {
    assert!(
        crate::common::uv().is_some(),
        "uv is not on PATH: run `source ci/install-test-tools.sh` first (CI's slow step does)"
    );
    let directory = tempfile::tempdir().unwrap();
    let index = LocalIndex::start(&directory.path().join("index"));
    let wheels = directory.path().join("wheels");
    let python = crate::common::python(12).unwrap();
    let (code, stdout, stderr) = run(Command::new(&python)
        .args([
            "-m",
            "pip",
            "download",
            "--disable-pip-version-check",
            "--only-binary",
            ":all:",
        ])
        .args(["pip", "setuptools", "wheel", "-d"])
        .arg(&wheels)
        .env_remove("PIP_INDEX_URL"));
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    for entry in std::fs::read_dir(&wheels).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let project = name.split('-').next().unwrap().to_lowercase();
        index.publish(&project, &[entry.path()], None, true);
    }
    let archive = sdist("purepkg", "purepkg", "0.1.0", directory.path());
    index.publish("purepkg", &[archive], None, true);

    let (code, stdout, stderr) = run(&mut wheelbuild(
        directory.path(),
        &index,
        &[
            "--package",
            "purepkg",
            "--version",
            "0.1.0",
            "--python",
            "3.12",
            "--json",
        ],
    ));
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["cells"][0]["test"], "passed", "{stdout}");
    assert_eq!(
        report["source"]["url"],
        format!("http://127.0.0.1:{}/files/purepkg-0.1.0.tar.gz", index.port)
    );
    let requests = index.requests();
    for path in [
        "/simple/purepkg/",
        "/files/purepkg-0.1.0.tar.gz",
        "/simple/setuptools/",
        "/simple/pip/",
    ] {
        assert!(
            requests.lines().any(|line| line.starts_with(&format!("{path} "))),
            "{path} was not asked for:\n{requests}"
        );
    }
    // A second build of the pinned version takes the cached sdist without the index.
    let build = |version: &str| {
        let (code, stdout, stderr) = run(&mut wheelbuild(
            directory.path(),
            &index,
            &[
                "--package",
                "purepkg",
                "--version",
                version,
                "--python",
                "3.12",
                "--json",
            ],
        ));
        assert_eq!(code, 0, "{stdout}\n{stderr}");
    };
    let before = index.page_reads("purepkg");
    build("0.1.0");
    let after = index.page_reads("purepkg");
    assert_eq!(before, after, "the warm cache needs no index");
    // Unpinned, with nothing cached: the project page is read once, both to choose the
    // version and to find its file.
    std::fs::remove_dir_all(directory.path().join("cache")).unwrap();
    build(">=0.1");
    assert_eq!(index.page_reads("purepkg"), after + 1, "{}", index.requests());
}

// `wheelwright index`: no surprises for the nodes.

use crate::consumer::{Wheelhouse, index, wheel};

/// Everything under `directory` as it is on disk, symlinks not followed: each entry's path,
/// kind, and its content (a file's bytes and modification time, a symlink's target).
fn snapshot(directory: &Path) -> Vec<String> {
    use std::os::unix::fs::MetadataExt as _;
    let mut entries: Vec<String> = walkdir::WalkDir::new(directory)
        .min_depth(1)
        .into_iter()
        .map(|entry| {
            let entry = entry.unwrap();
            let relative = entry
                .path()
                .strip_prefix(directory)
                .unwrap()
                .display()
                .to_string();
            let metadata = entry.path().symlink_metadata().unwrap();
            if metadata.file_type().is_symlink() {
                format!(
                    "{relative} -> {}",
                    std::fs::read_link(entry.path()).unwrap().display()
                )
            } else if metadata.is_dir() {
                format!("{relative}/")
            } else {
                let bytes = std::fs::read(entry.path()).unwrap();
                format!(
                    "{relative} {} bytes sha256 {} mtime {}.{}",
                    bytes.len(),
                    crate::common::file_sha256_hex(entry.path()),
                    metadata.mtime(),
                    metadata.mtime_nsec()
                )
            }
        })
        .collect();
    entries.sort();
    entries
}

/// `wheelwright index --output OUTPUT ARGS...` for `wheelhouse`, expected to fail: stderr.
fn index_refused(wheelhouse: &Wheelhouse, output: &Path, args: &[&str]) -> String {
    let (code, stdout, stderr) =
        wheelhouse.run(&[&["index", "--output", output.to_str().unwrap()], args].concat());
    assert_eq!((code, stdout.as_str()), (1, ""), "{args:?}: {stderr}");
    stderr
}

#[test]
fn index_over_a_missing_or_emptied_root_removes_nothing() {
    let wheelhouse = Wheelhouse::new();
    let output = wheelhouse.path().join("index");
    let first = index(&wheelhouse, &output, &[]);
    assert_eq!(first["projects"], 6, "{first}");
    let before = snapshot(&output);
    assert!(before.len() > 50, "{before:#?}");
    let root = wheelhouse.root.display().to_string();
    let layout = wheelhouse.layout.display().to_string();
    let moved = wheelhouse.path().join("moved");

    // The root is missing: its path and the layout that named it.
    std::fs::rename(&wheelhouse.root, &moved).unwrap();
    let stderr = index_refused(&wheelhouse, &output, &[]);
    assert_eq!(
        stderr,
        format!(
            "error: cannot write the index in `{}`\n  caused by: the wheelhouse root `{root}` does not exist; it is the root of --layout {layout}\nhint: check `root` in {layout} and that the wheelhouse is mounted on this machine\n",
            output.display()
        )
    );
    assert_eq!(snapshot(&output), before, "nothing was touched");
    // Even when the user would allow shrinking: a missing root is never an empty wheelhouse.
    index_refused(&wheelhouse, &output, &["--allow-shrink"]);
    assert_eq!(snapshot(&output), before);
    // The same through $WHEELWRIGHT_LAYOUT, and with the embedded layout (no layout named:
    // its root is ./wheelhouse, missing here), the issue's case.
    let (code, _, stderr) = run(crate::common::wheelwright()
        .env("WHEELWRIGHT_LAYOUT", &wheelhouse.layout)
        .args(["index", "--output"])
        .arg(&output));
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "does not exist; it is the root of $WHEELWRIGHT_LAYOUT = {layout}\n"
        )),
        "{stderr}"
    );
    let (code, _, stderr) = run(crate::common::wheelwright()
        .current_dir(wheelhouse.path())
        .args(["index", "--output"])
        .arg(&output));
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "caused by: the wheelhouse root `{}` does not exist; it is the root of the embedded layout (neither --layout nor $WHEELWRIGHT_LAYOUT was given)\nhint: name the site's layout with --layout FILE or $WHEELWRIGHT_LAYOUT",
            wheelhouse.path().join("wheelhouse").display()
        )),
        "{stderr}"
    );
    assert_eq!(snapshot(&output), before);

    // The root is there but emptied: none of the layout's directories.
    std::fs::create_dir(&wheelhouse.root).unwrap();
    let stderr = index_refused(&wheelhouse, &output, &["--allow-shrink"]);
    assert!(
        stderr.contains(&format!("caused by: the wheelhouse root `{root}` is not a wheelhouse: none of the directories the layout defines exists in it (")),
        "{stderr}"
    );
    assert_eq!(snapshot(&output), before);

    // The directories are there, without a wheel: the index lists 6 projects.
    for relative in [
        "generic",
        "gentoo2023/generic",
        "gentoo2023/x86-64-v3",
        "gentoo2023/x86-64-v4",
    ] {
        std::fs::create_dir_all(wheelhouse.root.join(relative)).unwrap();
    }
    let stderr = index_refused(&wheelhouse, &output, &[]);
    assert!(
        stderr.contains(&format!(
            "caused by: the wheelhouse root `{root}` holds no wheel, but the index in `{}` lists 6 projects; it is the root of --layout {layout}; nothing was changed\nhint: check the layout's root; pass --allow-shrink if the wheelhouse really is empty now",
            output.canonicalize().unwrap().display()
        )),
        "{stderr}"
    );
    assert_eq!(snapshot(&output), before);
    // One view at a time is refused too: it would empty that view.
    let stderr = index_refused(
        &wheelhouse,
        &output,
        &["--layer", "gentoo2023", "--arch", "generic"],
    );
    assert!(stderr.contains("holds no wheel"), "{stderr}");
    assert_eq!(snapshot(&output), before);

    // The tree back: the index is as it was, nothing to write.
    std::fs::remove_dir_all(&wheelhouse.root).unwrap();
    std::fs::rename(&moved, &wheelhouse.root).unwrap();
    let again = index(&wheelhouse, &output, &[]);
    assert_eq!(
        (again["pages_written"].as_u64(), again["removed"].as_u64()),
        (Some(0), Some(0)),
        "{again}"
    );
    assert_eq!(snapshot(&output), before);
}

#[test]
fn index_refuses_to_shrink_a_view_unless_allowed() {
    let wheelhouse = Wheelhouse::new();
    let output = wheelhouse.path().join("index");
    index(&wheelhouse, &output, &[]);
    let before = snapshot(&output);
    // purepkg and newpy leave the tree: 2 of the 6 projects of the arch views, 2 of the 5 of
    // the baseline view (limitedapi is in x86-64-v3 only).
    for name in [
        "purepkg-1.2+cc-py3-none-any.whl",
        "purepkg-1.10+cc-py2.py3-none-any.whl",
        "newpy-3.0+cc-py3-none-any.whl",
        "newpy-2.0+cc-py3-none-any.whl",
    ] {
        std::fs::remove_file(wheelhouse.root.join("generic").join(name)).unwrap();
    }
    let stderr = index_refused(&wheelhouse, &output, &[]);
    assert_eq!(
        stderr,
        format!(
            "error: cannot write the index in `{}`\n  caused by: this run would take too many projects from the index in `{}` (a run may remove at most 10 % of a view's projects, rounded up, and never all of them): \
             gentoo2023/generic: 5 -> 3 projects (2 removed: newpy, purepkg); \
             gentoo2023/x86-64-v3: 6 -> 4 projects (2 removed: newpy, purepkg); \
             gentoo2023/x86-64-v4: 6 -> 4 projects (2 removed: newpy, purepkg); nothing was changed\n\
             hint: pass --allow-shrink if the wheelhouse really lost them\n",
            output.display(),
            output.canonicalize().unwrap().display()
        )
    );
    assert_eq!(snapshot(&output), before, "nothing was touched");
    // 20 % of 6 projects, rounded up, is 2: only the baseline view (20 % of 5 is 1) is refused.
    let stderr = index_refused(&wheelhouse, &output, &["--max-shrink", "20"]);
    assert!(stderr.contains("(a run may remove at most 20 % of a view's projects, rounded up, and never all of them): gentoo2023/generic: 5 -> 3 projects (2 removed: newpy, purepkg); nothing was changed"), "{stderr}");
    assert_eq!(snapshot(&output), before);
    let (code, _, stderr) = wheelhouse.run(&["index", "--output", "x", "--max-shrink", "101"]);
    assert_eq!(code, 2, "{stderr}");

    // Allowed: the pages go, with the links and metadata files of the four wheels.
    let summary = index(&wheelhouse, &output, &["--allow-shrink"]);
    assert_eq!(summary["projects"], 4, "{summary}");
    // 2 pages of 2 projects in 3 views, and 4 links with their metadata files.
    assert_eq!(summary["removed"], 2 * 2 * 3 + 4 + 4, "{summary}");
    let simple = output.join("gentoo2023/x86-64-v3/simple");
    assert!(!simple.join("purepkg").exists());
    let root_page = std::fs::read_to_string(simple.join("index.html")).unwrap();
    assert!(!root_page.contains("newpy"), "{root_page}");
    assert!(root_page.contains("fastcalc"), "{root_page}");
    // And from now on that is the index compared with: one project more may go.
    std::fs::remove_file(wheelhouse.root.join("generic/Data_Tools-0.1+cc-py3-none-any.whl")).unwrap();
    let summary = index(&wheelhouse, &output, &[]);
    assert_eq!(summary["projects"], 3, "{summary}");
}

/// The projects a view's root page lists.
fn listed(page: &str) -> Vec<String> {
    page.split("<a href=\"")
        .skip(1)
        .map(|rest| rest.split('/').next().unwrap().to_string())
        .collect()
}

#[test]
fn index_replaces_each_view_at_once_and_a_killed_run_leaves_it_readable() {
    let wheelhouse = Wheelhouse::new();
    let output = wheelhouse.path().join("index");
    index(&wheelhouse, &output, &[]);
    let view = output.join("gentoo2023/x86-64-v3");
    let simple = view.join("simple");
    let generation = std::fs::read_link(&simple).unwrap();
    assert!(
        generation.to_string_lossy().starts_with(".simple."),
        "{}",
        generation.display()
    );
    let inode = |path: &Path| {
        use std::os::unix::fs::MetadataExt as _;
        std::fs::metadata(path).unwrap().ino()
    };
    let fastcalc = inode(&simple.join("fastcalc/index.html"));

    // A new project: a new generation, the unchanged pages are the same files.
    wheelhouse.add("generic", wheel("extra", "1.0+cc", "py3-none-any", "generic"));
    let summary = index(&wheelhouse, &output, &[]);
    // In each of 3 views: the 2 pages of the new project and the 2 root pages.
    assert_eq!(summary["pages_written"], 3 * 4, "{summary}");
    let new_generation = std::fs::read_link(&simple).unwrap();
    assert_ne!(new_generation, generation);
    assert_eq!(
        inode(&simple.join("fastcalc/index.html")),
        fastcalc,
        "not rewritten"
    );
    // The previous generation stays for readers until the next run.
    assert!(view.join(&generation).join("index.html").is_file());
    index(&wheelhouse, &output, &[]);
    assert!(!view.join(&generation).exists());
    assert_eq!(std::fs::read_link(&simple).unwrap(), new_generation);

    // Readers while runs come and go: the root page is always there and whole, and every
    // project it lists has its page. Runs are killed at random moments in between: what
    // they leave is readable, and the next run finishes the job.
    let with_extra = listed(&std::fs::read_to_string(simple.join("index.html")).unwrap());
    let extra_wheel = wheelhouse.root.join("generic/extra-1.0+cc-py3-none-any.whl");
    let parked = wheelhouse.path().join("extra.whl");
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        let reader = scope.spawn(|| {
            let mut reads = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let page = std::fs::read_to_string(simple.join("index.html"))
                    .expect("the root page is always there");
                assert!(page.trim_end().ends_with("</html>"), "a whole page: {page}");
                let projects = listed(&page);
                assert!(
                    projects == with_extra || projects.iter().all(|name| with_extra.contains(name)),
                    "{projects:?}"
                );
                reads += 1;
            }
            reads
        });
        for round in 0..24u64 {
            // The extra project comes and goes (one of 7: within the default share).
            if round % 2 == 0 {
                std::fs::rename(&extra_wheel, &parked).unwrap();
            } else {
                std::fs::rename(&parked, &extra_wheel).unwrap();
            }
            let mut child = crate::common::wheelwright()
                .arg("--layout")
                .arg(&wheelhouse.layout)
                .args(["index", "--output"])
                .arg(&output)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            if round % 3 != 2 {
                std::thread::sleep(std::time::Duration::from_micros(round * 700));
                let _ = child.kill();
            }
            let _ = child.wait();
            // Whatever the moment of the kill: each view readable, its projects' pages there.
            for arch in ["generic", "x86-64-v3", "x86-64-v4"] {
                let simple = output.join("gentoo2023").join(arch).join("simple");
                let page = std::fs::read_to_string(simple.join("index.html")).unwrap();
                for project in listed(&page) {
                    assert!(
                        simple.join(&project).join("index.html").is_file(),
                        "{arch}: {project}"
                    );
                }
            }
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        assert!(reader.join().unwrap() > 0);
    });
    // A last run completes: the tree has the extra project again (24 rounds: back in place).
    assert!(extra_wheel.is_file());
    let summary = index(&wheelhouse, &output, &[]);
    assert_eq!(summary["projects"], 7, "{summary}");
    let leftovers: Vec<String> = snapshot(&output)
        .into_iter()
        .filter(|entry| entry.contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:#?}");
}

#[test]
fn cp_wheels_names_the_root_it_creates_and_the_layout_that_named_it() {
    let directory = tempfile::tempdir().unwrap();
    let layout = directory.path().join("layout.toml");
    let shipped =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("wheelhouse-layout.toml"))
            .unwrap()
            .replace("root = \"wheelhouse\"", "root = \"tree\"");
    std::fs::write(&layout, shipped).unwrap();
    let stage = directory.path().join("stage");
    std::fs::create_dir(&stage).unwrap();
    let wheel = WheelSpec::new("purepkg", "1.0+computecanada").write(&stage);
    let root = directory.path().join("tree");
    let cp_wheels = |args: &[&str]| {
        run(Command::new(env!("CARGO_BIN_EXE_cp-wheels"))
            .current_dir(&stage)
            .env_remove("WHEELWRIGHT_LAYOUT")
            .env_remove("RUST_LOG")
            .env("WHEELWRIGHT_VERIFIED_CACHE", directory.path().join("verified"))
            .arg("--layout")
            .arg(&layout)
            .args(args)
            .arg(&wheel))
    };
    let (code, stdout, stderr) = cp_wheels(&["--dry-run"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stderr.contains(&format!(
            "the wheelhouse root `{}` does not exist and would be created; it is the root of --layout {}",
            root.display(),
            layout.display()
        )),
        "{stderr}"
    );
    assert!(!root.exists(), "a dry run creates nothing");
    let (code, stdout, stderr) = cp_wheels(&[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stderr.contains(&format!(
            "the wheelhouse root `{}` did not exist and was created; it is the root of --layout {}",
            root.display(),
            layout.display()
        )),
        "{stderr}"
    );
    assert!(
        root.join("generic/purepkg-1.0+computecanada-py3-none-any.whl")
            .is_file()
    );
    assert!(wheel.is_file(), "the source stays without --remove");
    // Once it exists, nothing more is said about it.
    let (code, _, stderr) = cp_wheels(&[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("wheelhouse root"), "{stderr}");
}
