//! `wheelbuild --index-url`: sources found on a local simple index (a Python HTTP server on
//! 127.0.0.1 that answers PEP 691 JSON when asked for it and PEP 503 HTML otherwise), with
//! the messages for a missing project, a missing version and a hash that does not match. The
//! full build, whose build environment also comes from the local index, is in CI's slow step.

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
struct LocalIndex {
    root: PathBuf,
    server: Child,
    port: u16,
}

impl LocalIndex {
    fn start(root: &Path) -> LocalIndex {
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

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/simple/", self.port)
    }

    /// Publishes `files` (copied into `files/`) as `project`'s page; `listed_sha256`
    /// overrides the hash the page gives for a file; `json` writes the PEP 691 page too.
    fn publish(&self, project: &str, files: &[PathBuf], listed_sha256: Option<&str>, json: bool) {
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

    fn requests(&self) -> String {
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
fn sdist(fixture: &str, name: &str, version: &str, into: &Path) -> PathBuf {
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
    assert_eq!(tree(&directory.path().join("cache")), Vec::<String>::new());
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
