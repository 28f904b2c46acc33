//! Shared test helpers: the binaries, interpreters, and wheels made to order.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use base64::Engine as _;
use sha2::Digest as _;
use zip::write::SimpleFileOptions;

/// The `wheelwright` binary under test.
pub fn wheelwright() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_wheelwright"));
    command.env_remove("WHEELWRIGHT_LAYOUT").env_remove("RUST_LOG");
    command
}

/// Runs a command and returns (exit code, stdout, stderr).
pub fn run(command: &mut Command) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = command.output().expect("the command starts");
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

/// A Python interpreter of the given minor version, found by path (pyenv or the system),
/// never through shims.
pub fn python(minor: u8) -> Option<PathBuf> {
    let root = std::env::var_os("PYENV_ROOT")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".pyenv")))?;
    let mut candidates: Vec<PathBuf> = std::fs::read_dir(root.join("versions"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with(&format!("3.{minor}.")))
        })
        .map(|path| path.join("bin/python3"))
        .filter(|path| path.exists())
        .collect();
    candidates.sort();
    candidates.pop().or_else(|| {
        let system = PathBuf::from(format!("/usr/bin/python3.{minor}"));
        system.exists().then_some(system)
    })
}

/// `uv` from PATH, if installed.
pub fn uv() -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("uv"))
            .find(|path| path.is_file())
    })
}

fn record_hash(bytes: &[u8]) -> String {
    format!(
        "sha256={}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(bytes))
    )
}

/// A wheel assembled entry by entry; by default a correct pure wheel with a package.
#[derive(Clone)]
pub struct WheelSpec {
    pub name: String,
    pub version: String,
    pub tags: String,
    pub metadata: String,
    pub wheel: String,
    /// (path, bytes) of the files, dist-info excluded.
    pub files: Vec<(String, Vec<u8>)>,
    /// Extra raw entries added after RECORD is computed and not listed in it.
    pub unlisted: Vec<(String, Vec<u8>)>,
    /// Rows to append to RECORD as they are.
    pub extra_record_rows: Vec<String>,
    /// Override of the RECORD text.
    pub record: Option<String>,
    pub symlink: Option<(String, String)>,
    pub dist_info_override: Option<String>,
    /// Store entries uncompressed, so tests can patch their bytes.
    pub stored: bool,
    /// Paths whose RECORD row gets the hash of other bytes.
    pub wrong_hash_for: Vec<String>,
}

impl WheelSpec {
    pub fn new(name: &str, version: &str) -> Self {
        let module = name.replace('-', "_").to_lowercase();
        WheelSpec {
            name: name.to_string(),
            version: version.to_string(),
            tags: "py3-none-any".to_string(),
            metadata: format!(
                "Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: A test package\nRequires-Dist: six>=1.0\nRequires-Dist: nvidia-cublas-cu12==12.6.4.1; platform_system == \"Linux\"\n\nA description.\n"
            ),
            wheel:
                "Wheel-Version: 1.0\nGenerator: wheelwright-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
                    .to_string(),
            files: vec![
                (
                    format!("{module}/__init__.py"),
                    format!("__version__ = '{version}'\n").into_bytes(),
                ),
                (
                    format!("{module}/data,with \"comma\".txt"),
                    b"odd name\n".to_vec(),
                ),
            ],
            unlisted: Vec::new(),
            extra_record_rows: Vec::new(),
            record: None,
            symlink: None,
            dist_info_override: None,
            stored: false,
            wrong_hash_for: Vec::new(),
        }
    }

    pub fn filename(&self) -> String {
        format!(
            "{}-{}-{}.whl",
            self.name.replace('-', "_"),
            self.version,
            self.tags
        )
    }

    pub fn dist_info(&self) -> String {
        self.dist_info_override
            .clone()
            .unwrap_or_else(|| format!("{}-{}.dist-info", self.name.replace('-', "_"), self.version))
    }

    /// Writes the wheel into `directory` and returns its path.
    pub fn write(&self, directory: &Path) -> PathBuf {
        let path = directory.join(self.filename());
        let file = std::fs::File::create(&path).unwrap();
        let mut zip = zip::ZipWriter::new(file);
        let method = if self.stored {
            zip::CompressionMethod::Stored
        } else {
            zip::CompressionMethod::Deflated
        };
        let options = SimpleFileOptions::default().compression_method(method);
        let dist_info = self.dist_info();
        let mut rows = Vec::new();
        let mut all: Vec<(String, Vec<u8>)> = self.files.clone();
        all.push((
            format!("{dist_info}/METADATA"),
            self.metadata.clone().into_bytes(),
        ));
        all.push((format!("{dist_info}/WHEEL"), self.wheel.clone().into_bytes()));
        for (name, bytes) in &all {
            zip.start_file(name, options).unwrap();
            zip.write_all(bytes).unwrap();
            let mut writer = csv::Writer::from_writer(Vec::new());
            writer
                .write_record([
                    name.as_str(),
                    &if self.wrong_hash_for.contains(name) {
                        record_hash(b"other bytes")
                    } else {
                        record_hash(bytes)
                    },
                    &bytes.len().to_string(),
                ])
                .unwrap();
            rows.push(
                String::from_utf8(writer.into_inner().unwrap())
                    .unwrap()
                    .trim_end()
                    .to_string(),
            );
        }
        for (name, bytes) in &self.unlisted {
            zip.start_file(name, options).unwrap();
            zip.write_all(bytes).unwrap();
        }
        if let Some((name, target)) = &self.symlink {
            zip.add_symlink(name, target, options).unwrap();
        }
        rows.extend(self.extra_record_rows.iter().cloned());
        rows.push(format!("{dist_info}/RECORD,,"));
        let record = self.record.clone().unwrap_or_else(|| rows.join("\n") + "\n");
        zip.start_file(format!("{dist_info}/RECORD"), options).unwrap();
        zip.write_all(record.as_bytes()).unwrap();
        zip.finish().unwrap();
        path
    }
}

/// Reads one member of a zip file.
pub fn read_member(wheel: &Path, name: &str) -> String {
    let mut archive = zip::ZipArchive::new(std::fs::File::open(wheel).unwrap()).unwrap();
    let mut file = archive
        .by_name(name)
        .unwrap_or_else(|_| panic!("{name} in {}", wheel.display()));
    let mut text = String::new();
    std::io::Read::read_to_string(&mut file, &mut text).unwrap();
    text
}

/// The bytes of a zip file's member.
pub fn read_member_bytes(wheel: &Path, name: &str) -> Vec<u8> {
    let mut archive = zip::ZipArchive::new(std::fs::File::open(wheel).unwrap()).unwrap();
    let mut file = archive
        .by_name(name)
        .unwrap_or_else(|_| panic!("{name} in {}", wheel.display()));
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut file, &mut bytes).unwrap();
    bytes
}

/// The names of a zip file's entries, in order.
pub fn member_names(wheel: &Path) -> Vec<String> {
    let archive = zip::ZipArchive::new(std::fs::File::open(wheel).unwrap()).unwrap();
    archive
        .file_names()
        .map(|name| name.unwrap().into_owned())
        .collect()
}

/// Every file in a directory, sorted.
pub fn listing(directory: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(directory)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Replaces every occurrence of `from` by `to` (same length) in a file: renames a zip entry
/// in both its local header and the central directory, making names a zip writer refuses.
pub fn patch_bytes(path: &Path, from: &str, to: &str) {
    assert_eq!(from.len(), to.len());
    let mut bytes = std::fs::read(path).unwrap();
    let mut count = 0;
    let mut index = 0;
    while let Some(found) = bytes[index..]
        .windows(from.len())
        .position(|w| w == from.as_bytes())
    {
        let at = index + found;
        bytes[at..at + to.len()].copy_from_slice(to.as_bytes());
        index = at + to.len();
        count += 1;
    }
    assert!(count >= 1, "`{from}` found {count} times in {}", path.display());
    std::fs::write(path, bytes).unwrap();
}

/// `command` with the directories of a build under `directory`: `out`, `work`, `cache` and
/// `recipes` (wheelbuild's and adopt's options).
pub fn in_build_directories<'a>(command: &'a mut Command, directory: &Path) -> &'a mut Command {
    command
        .arg("--output")
        .arg(directory.join("out"))
        .arg("--work-dir")
        .arg(directory.join("work"))
        .arg("--cache-dir")
        .arg(directory.join("cache"))
        .arg("--recipes")
        .arg(directory.join("recipes"))
}

/// The sha256 of a file, hex.
pub fn file_sha256_hex(path: &Path) -> String {
    file_digest(path)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// The sha256 of a file, to prove an input was left untouched.
pub fn file_digest(path: &Path) -> Vec<u8> {
    sha2::Sha256::digest(std::fs::read(path).unwrap()).to_vec()
}

/// Rewrites the zip `wheel` with Python's zipfile, compressing `member` with `method`
/// (`ZIP_BZIP2`, `ZIP_LZMA`) and the other entries as they were: what another zip tool makes.
pub fn recompress_member(wheel: &Path, member: &str, method: &str) {
    let python = python(12).or_else(|| python(11)).expect("a CPython 3.11 or 3.12");
    let script = r#"
import sys, zipfile
path, member, method = sys.argv[1], sys.argv[2], getattr(zipfile, sys.argv[3])
with zipfile.ZipFile(path) as source:
    entries = [(info, source.read(info)) for info in source.infolist()]
with zipfile.ZipFile(path, "w") as target:
    for info, data in entries:
        info.compress_type = method if info.filename == member else info.compress_type
        target.writestr(info, data)
"#;
    let (code, stdout, stderr) = run(Command::new(python)
        .arg("-c")
        .arg(script)
        .arg(wheel)
        .arg(member)
        .arg(method));
    assert_eq!(code, 0, "{stdout}{stderr}");
}

/// The newest pyenv CPython 3.12 by path (pyenv shims run only the global version).
pub fn pyenv_python312() -> PathBuf {
    let root = std::env::var_os("PYENV_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(&std::env::var_os("HOME").unwrap()).join(".pyenv"));
    let mut versions: Vec<PathBuf> = std::fs::read_dir(root.join("versions"))
        .unwrap()
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.file_name().unwrap().to_string_lossy().starts_with("3.12."))
        .collect();
    versions.sort();
    versions.pop().expect("a pyenv Python 3.12").join("bin/python3")
}
