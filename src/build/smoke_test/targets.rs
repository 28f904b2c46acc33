//! What the smoke test imports, read from the wheel itself (not from `top_level.txt`, which
//! can name a namespace that exists anyway, or leave a compiled module out):
//!
//! - every top-level package (a directory with `__init__.py`) and module (`x.py`) the wheel
//!   installs, those under `<name>.data/purelib/` and `.../platlib/` included; for a namespace
//!   package (a directory without `__init__.py`, PEP 420, or one whose `__init__.py` only
//!   extends its `__path__`, pkgutil or pkg_resources style) its real subpackages and modules
//!   instead, as deep as needed (`zope.interface`);
//! - every compiled extension module, by its dotted name: a `.so` named like one that exports
//!   `PyInit_<name>` in its dynamic symbol table. A `.so` that does not is a plain library
//!   (`numpy.libs/libopenblas...so`, `torch/lib/libc10.so`) and is not imported.
//!
//! Directories named `tests`, `test` or `testing` are left out (their imports need test-only
//! dependencies), and so is everything whose path is not made of Python identifiers
//! (`*.dist-info`, `*.data`, `*.libs`, `foo-stubs`).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::elf::exports_symbol;
use crate::wheel::{Entry, Limits, WheelError, WheelErrorKind, WheelReader};

/// What kind of thing an import target is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ImportKind {
    /// A directory with `__init__.py`.
    Package,
    /// A `.py` file (or a name a recipe gives that the wheel does not show as a package).
    Module,
    /// A compiled extension module: a shared object that exports `PyInit_<name>`.
    Extension,
}

/// One thing the smoke test imports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportTarget {
    pub kind: ImportKind,
    /// The dotted module name (`zope.interface`, `_cffi_backend`).
    pub name: String,
    /// The wheel member it stands for (`zope/interface/__init__.py`); None for a name that a
    /// recipe's `import_names` gives and the wheel does not hold.
    pub member: Option<String>,
}

/// The directories whose contents are never imported.
const TEST_DIRECTORIES: [&str; 3] = ["tests", "test", "testing"];

/// Extension candidates up to this size are read whole; larger ones (a 1 GiB `libtorch_cuda.so`)
/// are first streamed through a search for their `PyInit_` name.
const WHOLE_READ_LIMIT: u64 = 64 << 20;

/// Whether `name` is a Python identifier (the ASCII subset wheels use in practice, plus any
/// non-ASCII letters).
pub fn is_identifier(name: &str) -> bool {
    let mut characters = name.chars();
    characters
        .next()
        .is_some_and(|first| first.is_alphabetic() || first == '_')
        && characters.all(|character| character.is_alphanumeric() || character == '_')
}

/// The module name of a file named like an extension module on Linux (`_zmq` for
/// `_zmq.cpython-312-x86_64-linux-gnu.so`, `_x.abi3.so` or `_x.so`), or None.
pub fn extension_module_name(file: &str) -> Option<&str> {
    let (stem, suffix) = file.split_once('.')?;
    let tagged = suffix
        .strip_prefix("cpython-")
        .and_then(|rest| rest.strip_suffix(".so"))
        .is_some_and(|tag| !tag.is_empty() && !tag.contains('.'));
    (is_identifier(stem) && (suffix == "so" || suffix == "abi3.so" || tagged)).then_some(stem)
}

/// Where a wheel member is installed, relative to site-packages: `<name>.data/purelib/x` and
/// `.../platlib/x` go to `x`; other `.data` directories (scripts, headers, data) and the
/// `.dist-info` directory are not importable (None).
pub fn installed_path(member: &str) -> Option<&str> {
    let Some((first, rest)) = member.split_once('/') else {
        return Some(member);
    };
    if first.ends_with(".dist-info") {
        return None;
    }
    if first.ends_with(".data") {
        let (scheme, rest) = rest.split_once('/')?;
        return matches!(scheme, "purelib" | "platlib").then_some(rest);
    }
    Some(member)
}

/// What discovery knows about the files a wheel installs.
#[derive(Debug, Default)]
pub struct InstalledTree {
    /// Installed path -> wheel member, files only.
    files: BTreeMap<String, String>,
    /// Extension modules found by their symbols: installed path.
    extensions: BTreeSet<String>,
}

impl InstalledTree {
    /// A tree of `members` (wheel member names); extension modules are added with
    /// [`InstalledTree::mark_extension`].
    pub fn new<'a>(members: impl IntoIterator<Item = &'a str>) -> Self {
        let files = members
            .into_iter()
            .filter(|member| !member.ends_with('/'))
            .filter_map(|member| installed_path(member).map(|path| (path.to_string(), member.to_string())))
            .collect();
        InstalledTree {
            files,
            ..InstalledTree::default()
        }
    }

    /// Says that the file at installed path `path` exports `PyInit_<name>`.
    pub fn mark_extension(&mut self, path: &str) {
        self.extensions.insert(path.to_string());
    }

    /// The installed paths that could be extension modules: named like one, in importable
    /// directories. Which of them are is for their symbols to say.
    pub fn extension_candidates(&self) -> Vec<(&str, &str)> {
        self.files
            .iter()
            .filter(|(path, _)| extension_dotted_name(path).is_some())
            .map(|(path, member)| (path.as_str(), member.as_str()))
            .collect()
    }

    /// The top-level packages and modules, namespaces replaced by their contents, sorted.
    /// `is_namespace` says whether the `__init__.py` of a directory (by installed path and
    /// wheel member) only declares a namespace; it is asked only for the directories looked
    /// into.
    pub fn top_level(&self, is_namespace: &mut dyn FnMut(&str, &str) -> bool) -> Vec<ImportTarget> {
        let mut directories: Directories = BTreeMap::new();
        for path in self.files.keys() {
            let mut components: Vec<&str> = path.split('/').collect();
            let Some(file) = components.pop() else { continue };
            let mut parent_end = 0;
            for directory in components {
                directories
                    .entry(&path[..parent_end])
                    .or_default()
                    .1
                    .insert(directory);
                parent_end += usize::from(parent_end > 0) + directory.len();
            }
            directories.entry(&path[..parent_end]).or_default().0.insert(file);
        }
        let mut targets = Vec::new();
        self.visit(&directories, "", "", is_namespace, &mut targets);
        targets.sort_by(|a, b| a.name.cmp(&b.name));
        targets
    }

    fn visit(
        &self,
        directories: &Directories,
        directory: &str,
        prefix: &str,
        is_namespace: &mut dyn FnMut(&str, &str) -> bool,
        targets: &mut Vec<ImportTarget>,
    ) {
        let Some((files, subdirectories)) = directories.get(directory) else {
            return;
        };
        let join = |name: &str| {
            if directory.is_empty() {
                name.to_string()
            } else {
                format!("{directory}/{name}")
            }
        };
        for file in files {
            if let Some(stem) = file.strip_suffix(".py")
                && is_identifier(stem)
                && stem != "__init__"
                && !TEST_DIRECTORIES.contains(&stem)
            {
                targets.push(ImportTarget {
                    kind: ImportKind::Module,
                    name: format!("{prefix}{stem}"),
                    member: self.files.get(&join(file)).cloned(),
                });
            }
        }
        for subdirectory in subdirectories {
            if !importable_directory(subdirectory) {
                continue;
            }
            let path = join(subdirectory);
            let init = format!("{path}/__init__.py");
            match self.files.get(&init) {
                Some(member) if !is_namespace(&init, member) => targets.push(ImportTarget {
                    kind: ImportKind::Package,
                    name: format!("{prefix}{subdirectory}"),
                    member: Some(member.clone()),
                }),
                _ => self.visit(
                    directories,
                    &path,
                    &format!("{prefix}{subdirectory}."),
                    is_namespace,
                    targets,
                ),
            }
        }
    }

    /// The extension modules, by dotted name, sorted.
    pub fn extensions(&self) -> Vec<ImportTarget> {
        let mut targets: Vec<ImportTarget> = self
            .extensions
            .iter()
            .filter_map(|path| {
                Some(ImportTarget {
                    kind: ImportKind::Extension,
                    name: extension_dotted_name(path)?,
                    member: self.files.get(path).cloned(),
                })
            })
            .collect();
        targets.sort_by(|a, b| a.name.cmp(&b.name));
        targets.dedup_by(|a, b| a.name == b.name);
        targets
    }

    /// A name a recipe gives, as a target: a package or module of the wheel if it has one.
    pub fn locate(&self, name: &str) -> ImportTarget {
        let path = name.replace('.', "/");
        let init = format!("{path}/__init__.py");
        let (kind, member) = if let Some(member) = self.files.get(&init) {
            (ImportKind::Package, Some(member.clone()))
        } else if let Some(member) = self.files.get(&format!("{path}.py")) {
            (ImportKind::Module, Some(member.clone()))
        } else if let Some(extension) = self
            .extensions
            .iter()
            .find(|extension| extension_dotted_name(extension).as_deref() == Some(name))
        {
            (ImportKind::Extension, self.files.get(extension).cloned())
        } else {
            let prefix = format!("{path}/");
            let directory = self.files.keys().any(|file| file.starts_with(&prefix));
            (
                if directory {
                    ImportKind::Package
                } else {
                    ImportKind::Module
                },
                None,
            )
        };
        ImportTarget {
            kind,
            name: name.to_string(),
            member,
        }
    }
}

/// Directory (installed path, "" for the top) -> its files and its subdirectories.
type Directories<'a> = BTreeMap<&'a str, (BTreeSet<&'a str>, BTreeSet<&'a str>)>;

/// Whether discovery looks into a directory of this name.
fn importable_directory(name: &str) -> bool {
    is_identifier(name) && name != "__pycache__" && !TEST_DIRECTORIES.contains(&name)
}

/// The dotted name of the extension module at installed path `path`, if it is named like one
/// and sits in importable directories.
fn extension_dotted_name(path: &str) -> Option<String> {
    let (directory, file) = match path.rsplit_once('/') {
        Some((directory, file)) => (Some(directory), file),
        None => (None, path),
    };
    let module = extension_module_name(file)?;
    match directory {
        None => Some(module.to_string()),
        Some(directory) if directory.split('/').all(importable_directory) => {
            Some(format!("{}.{module}", directory.replace('/', ".")))
        }
        Some(_) => None,
    }
}

/// Whether an `__init__.py` only declares a namespace (pkgutil's `extend_path` or
/// pkg_resources' `declare_namespace`): then its directory's contents are imported instead.
pub fn declares_namespace(init: &str) -> bool {
    let code: Vec<&str> = init
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .collect();
    let declares = code
        .iter()
        .any(|line| line.contains("declare_namespace(") || line.contains("extend_path("));
    // A real package that also extends its path has more to it; a namespace `__init__.py`
    // is a handful of lines (imports, a try/except, the declaration, `__path__`).
    declares && code.len() <= 8
}

/// The import targets of a wheel: its top-level packages and modules (namespaces replaced by
/// their contents), then its extension modules.
#[derive(Debug, Default, Serialize)]
pub struct WheelTargets {
    pub top_level: Vec<ImportTarget>,
    pub extensions: Vec<ImportTarget>,
    /// The files, to place names given by a recipe.
    #[serde(skip)]
    tree: InstalledTree,
}

impl WheelTargets {
    /// A name a recipe gives, as a target: a package, module or extension module of the wheel
    /// if it has one (see [`InstalledTree::locate`]).
    pub fn locate(&self, name: &str) -> ImportTarget {
        self.tree.locate(name)
    }

    /// The targets of a wheel holding the members of these lists (for tests).
    #[cfg(test)]
    pub fn from_lists(top_level: Vec<ImportTarget>, extensions: Vec<ImportTarget>) -> Self {
        let members: Vec<String> = top_level
            .iter()
            .chain(&extensions)
            .filter_map(|target| target.member.clone())
            .collect();
        let mut tree = InstalledTree::new(members.iter().map(String::as_str));
        for extension in &extensions {
            if let Some(member) = &extension.member {
                tree.mark_extension(member);
            }
        }
        WheelTargets {
            top_level,
            extensions,
            tree,
        }
    }
}

/// Reads what a wheel would let one import (see the module documentation).
pub fn discover(wheel: &Path) -> Result<WheelTargets, WheelError> {
    discover_with(wheel, WHOLE_READ_LIMIT)
}

/// [`discover`], reading candidates up to `whole_read_limit` bytes whole.
fn discover_with(wheel: &Path, whole_read_limit: u64) -> Result<WheelTargets, WheelError> {
    let mut reader = WheelReader::open(wheel, Limits::default())?;
    let entries: BTreeMap<String, Entry> = reader
        .entries
        .iter()
        .map(|entry| (entry.name.clone(), entry.clone()))
        .collect();
    let mut tree = InstalledTree::new(entries.keys().map(String::as_str));
    let fail = |kind: WheelErrorKind| WheelError::new(wheel, kind);

    let candidates: Vec<(String, String)> = tree
        .extension_candidates()
        .into_iter()
        .map(|(path, member)| (path.to_string(), member.to_string()))
        .collect();
    for (path, member) in candidates {
        let file = path.rsplit('/').next().unwrap_or(&path);
        let Some(module) = extension_module_name(file) else {
            continue;
        };
        let symbol = format!("PyInit_{module}");
        if is_extension(&mut reader, &entries[&member], &symbol, whole_read_limit).map_err(fail)? {
            tree.mark_extension(&path);
        } else {
            tracing::debug!("{member}: no `{symbol}`: a library, not an extension module");
        }
    }
    // A namespace `__init__.py` is a few lines; a bigger one belongs to a real package.
    let mut failure = None;
    let top_level = tree.top_level(&mut |_, member| {
        let Some(entry) = entries.get(member).filter(|entry| entry.size <= 4096) else {
            return false;
        };
        let mut bytes = Vec::new();
        match reader.inflate_into(entry, &mut bytes) {
            Ok(_) => declares_namespace(&String::from_utf8_lossy(&bytes)),
            Err(error) => {
                failure.get_or_insert(error);
                false
            }
        }
    });
    if let Some(error) = failure {
        return Err(fail(error));
    }
    Ok(WheelTargets {
        top_level,
        extensions: tree.extensions(),
        tree,
    })
}

/// Whether the member `entry` is an ELF object that exports `symbol`.
fn is_extension(
    reader: &mut WheelReader,
    entry: &Entry,
    symbol: &str,
    whole_read_limit: u64,
) -> Result<bool, WheelErrorKind> {
    if entry.size > whole_read_limit && !stream_contains(reader, entry, symbol)? {
        return Ok(false);
    }
    let mut bytes = Vec::with_capacity(usize::try_from(entry.size).unwrap_or(0));
    reader.inflate_into(entry, &mut bytes)?;
    match exports_symbol(&bytes, symbol) {
        Ok(exports) => Ok(exports),
        Err(problem) => {
            tracing::debug!("{}: {problem}: not an extension module", entry.name);
            Ok(false)
        }
    }
}

/// Whether the member's bytes contain `symbol` followed by NUL (as in a string table),
/// without holding the member in memory. A symbol the bytes do not contain cannot be exported.
fn stream_contains(reader: &mut WheelReader, entry: &Entry, symbol: &str) -> Result<bool, WheelErrorKind> {
    let mut needle = symbol.as_bytes().to_vec();
    needle.push(0);
    let file = reader.archive.by_index(entry.index)?;
    let mut bounded = file.take(entry.size + 1);
    let mut buffer = vec![0u8; 1 << 20];
    let mut carried = 0usize;
    loop {
        let read = bounded
            .read(&mut buffer[carried..])
            .map_err(|error| WheelErrorKind::Zip(format!("`{}` cannot be inflated: {error}", entry.name)))?;
        if read == 0 {
            return Ok(false);
        }
        let filled = carried + read;
        if buffer[..filled]
            .windows(needle.len())
            .any(|window| window == needle.as_slice())
        {
            return Ok(true);
        }
        // Keep the tail that could start a match split across two reads.
        carried = (needle.len() - 1).min(filled);
        buffer.copy_within(filled - carried..filled, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(targets: &[ImportTarget]) -> Vec<String> {
        targets
            .iter()
            .map(|target| format!("{:?} {}", target.kind, target.name))
            .collect()
    }

    #[test]
    fn extension_file_names() {
        for (file, module) in [
            ("_zmq.cpython-312-x86_64-linux-gnu.so", Some("_zmq")),
            ("_x.cpython-313t-x86_64-linux-gnu.so", Some("_x")),
            ("_cffi_backend.abi3.so", Some("_cffi_backend")),
            ("bare.so", Some("bare")),
            ("libc10.so", Some("libc10")),
            ("libopenblas64_p-r0-0cf96a72.3.23.dev.so", None),
            ("libz.so.1", None),
            ("x.py", None),
            ("x.cpython-312.pyc", None),
            ("1x.so", None),
            ("x.pypy39-pp73-x86_64-linux-gnu.so", None),
        ] {
            assert_eq!(extension_module_name(file), module, "{file}");
        }
    }

    #[test]
    fn installed_paths_of_members() {
        assert_eq!(installed_path("a/b.py"), Some("a/b.py"));
        assert_eq!(installed_path("x-1.data/platlib/a/b.so"), Some("a/b.so"));
        assert_eq!(installed_path("x-1.data/purelib/c.py"), Some("c.py"));
        assert_eq!(installed_path("x-1.data/scripts/run"), None);
        assert_eq!(installed_path("x-1.dist-info/RECORD"), None);
        assert_eq!(installed_path("top.py"), Some("top.py"));
    }

    #[test]
    fn namespaces_are_replaced_by_their_contents() {
        let mut tree = InstalledTree::new([
            // PEP 420: no __init__.py in zope/ (and a nested namespace).
            "zope/interface/__init__.py",
            "zope/interface/_zope_interface_coptimizations.cpython-312-x86_64-linux-gnu.so",
            "zope/interface/tests/__init__.py",
            "zope/interface/tests/_test_ext.cpython-312-x86_64-linux-gnu.so",
            "zope/deep/er/__init__.py",
            "zope/helper.py",
            // pkgutil style.
            "google/__init__.py",
            "google/protobuf/__init__.py",
            // Plain packages and modules, one from platlib.
            "pkg/__init__.py",
            "pkg/sub/__init__.py",
            "six.py",
            "_private.py",
            "x-1.0.data/platlib/fast/__init__.py",
            "x-1.0.data/purelib/slow.py",
            "x-1.0.data/scripts/tool",
            // Not importable, or not to be imported.
            "x-1.0.dist-info/top_level.txt",
            "numpy.libs/libopenblas.so",
            "tests/__init__.py",
            "test.py",
            "foo-stubs/__init__.pyi",
            "__pycache__/six.cpython-312.pyc",
            "data/only.txt",
            "_cffi_backend.cpython-312-x86_64-linux-gnu.so",
        ]);
        tree.mark_extension("zope/interface/_zope_interface_coptimizations.cpython-312-x86_64-linux-gnu.so");
        tree.mark_extension("_cffi_backend.cpython-312-x86_64-linux-gnu.so");
        let mut asked = Vec::new();
        let top_level = tree.top_level(&mut |init, _| {
            asked.push(init.to_string());
            init == "google/__init__.py"
        });
        // Asked only about the directories looked into (not pkg/sub, inside a package).
        assert_eq!(
            asked,
            [
                "fast/__init__.py",
                "google/__init__.py",
                "google/protobuf/__init__.py",
                "pkg/__init__.py",
                "zope/deep/er/__init__.py",
                "zope/interface/__init__.py"
            ]
        );
        assert_eq!(
            names(&top_level),
            [
                "Module _private",
                "Package fast",
                "Package google.protobuf",
                "Package pkg",
                "Module six",
                "Module slow",
                "Package zope.deep.er",
                "Module zope.helper",
                "Package zope.interface",
            ]
        );
        assert_eq!(
            names(&tree.extensions()),
            [
                "Extension _cffi_backend",
                "Extension zope.interface._zope_interface_coptimizations"
            ]
        );
        // Only named-like-extension files in importable directories are candidates.
        let candidates: Vec<&str> = tree
            .extension_candidates()
            .into_iter()
            .map(|(path, _)| path)
            .collect();
        assert_eq!(
            candidates,
            [
                "_cffi_backend.cpython-312-x86_64-linux-gnu.so",
                "zope/interface/_zope_interface_coptimizations.cpython-312-x86_64-linux-gnu.so",
            ]
        );
        let fast = tree.locate("fast");
        assert_eq!(fast.kind, ImportKind::Package);
        assert_eq!(
            fast.member.as_deref(),
            Some("x-1.0.data/platlib/fast/__init__.py")
        );
        assert_eq!(tree.locate("zope").kind, ImportKind::Package);
        assert_eq!(tree.locate("_cffi_backend").kind, ImportKind::Extension);
        assert_eq!(
            tree.locate("elsewhere"),
            ImportTarget {
                kind: ImportKind::Module,
                name: "elsewhere".into(),
                member: None
            }
        );
    }

    /// Compiles a C source into a shared object with gcc.
    fn shared_object(directory: &Path, name: &str, source: &str) -> Vec<u8> {
        let source_path = directory.join(format!("{name}.c"));
        let output = directory.join(format!("{name}.so"));
        fs_err::write(&source_path, source).unwrap();
        crate::tools::Program::new("compiling a test library", "gcc")
            .args(["-shared", "-fPIC", "-O1", "-o"])
            .arg(&output)
            .arg(&source_path)
            .status(None)
            .unwrap_or_else(|error| panic!("gcc failed on {name}.c: {error}"));
        fs_err::read(output).unwrap()
    }

    /// A wheel holding `files`, in `directory`.
    fn wheel(directory: &Path, files: &[(&str, &[u8])]) -> std::path::PathBuf {
        use crate::wheel::writer::WheelWriter;
        let options = zip::write::SimpleFileOptions::default();
        let mut writer = WheelWriter::create_in(directory).unwrap();
        for (name, bytes) in files {
            writer.write_file(name, bytes, options).unwrap();
        }
        writer
            .write_file(
                "x-1.0.dist-info/METADATA",
                b"Metadata-Version: 2.1\nName: x\nVersion: 1.0\n",
                options,
            )
            .unwrap();
        writer
            .write_file(
                "x-1.0.dist-info/WHEEL",
                b"Wheel-Version: 1.0\nRoot-Is-Purelib: false\nTag: cp312-cp312-linux_x86_64\n",
                options,
            )
            .unwrap();
        let path = directory.join("x-1.0-cp312-cp312-linux_x86_64.whl");
        writer
            .finish(
                "x-1.0.dist-info/RECORD",
                options,
                None,
                &path,
                crate::wheel::PlaceOptions {
                    overwrite: true,
                    fsync: false,
                },
            )
            .unwrap()
    }

    #[test]
    fn extensions_are_told_from_libraries_by_their_symbols() {
        let directory = tempfile::tempdir().unwrap();
        let build = directory.path();
        // What makes an extension module, for the loader, is this exported function.
        let extension = shared_object(build, "ext", "void *PyInit_fast(void) { return 0; }\n");
        let speed = shared_object(build, "speed", "void *PyInit__speed(void) { return 0; }\n");
        // A library: a plain export, and one that calls an extension's PyInit (an undefined
        // symbol of that name, which must not count).
        let library = shared_object(build, "lib", "int helper(void) { return 1; }\n");
        let caller = shared_object(
            build,
            "caller",
            "extern void *PyInit_caller(void);\nvoid *call(void) { return PyInit_caller(); }\n",
        );
        let wheel = wheel(
            build,
            &[
                ("pkg/__init__.py", b""),
                ("pkg/fast.cpython-312-x86_64-linux-gnu.so", &extension),
                ("pkg/libhelper.so", &library),
                ("pkg/caller.so", &caller),
                ("x-1.0.data/platlib/plat/_speed.abi3.so", &speed),
                ("x.libs/libfast.so", &extension),
                (
                    "ns/__init__.py",
                    b"__path__ = __import__('pkgutil').extend_path(__path__, __name__)\n",
                ),
                ("ns/real/__init__.py", b""),
                ("x-1.0.data/purelib/toplevel.py", b""),
                ("pkg/linker_script.so", b"INPUT(-lc)\n"),
            ],
        );
        for limit in [WHOLE_READ_LIMIT, 0] {
            let targets = discover_with(&wheel, limit).unwrap();
            assert_eq!(
                names(&targets.top_level),
                ["Package ns.real", "Package pkg", "Module toplevel"],
                "read whole up to {limit} bytes"
            );
            assert_eq!(
                names(&targets.extensions),
                ["Extension pkg.fast", "Extension plat._speed"],
                "read whole up to {limit} bytes"
            );
            assert_eq!(
                targets.extensions[1].member.as_deref(),
                Some("x-1.0.data/platlib/plat/_speed.abi3.so")
            );
        }
    }

    #[test]
    fn namespace_declarations() {
        assert!(declares_namespace(
            "__import__('pkg_resources').declare_namespace(__name__)\n"
        ));
        assert!(declares_namespace(
            "# comment\ntry:\n    __import__('pkg_resources').declare_namespace(__name__)\nexcept ImportError:\n    from pkgutil import extend_path\n    __path__ = extend_path(__path__, __name__)\n"
        ));
        assert!(!declares_namespace(""));
        assert!(!declares_namespace("from .core import *\n"));
        let big = format!(
            "from pkgutil import extend_path\n__path__ = extend_path(__path__, __name__)\n{}",
            "x = 1\n".repeat(20)
        );
        assert!(!declares_namespace(&big));
    }
}
