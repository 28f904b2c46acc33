//! `wheelwright inspect` on wheels whose ELF files are compiled here, by the real `gcc`, from the
//! C sources in `tests/fixtures/elf/` (see its README.md for what each one proves).
//!
//! The objects are built once per test process into `target/tmp/elf-fixtures-<digest>` (the
//! digest covers the sources, this file (the build steps) and `gcc --version`), and reused by later runs.
//! A missing `gcc` fails the tests with a message saying so: nothing is skipped.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;
use sha2::Digest as _;

use crate::common::{WheelSpec, run, wheelwright};

// ---------------------------------------------------------------------------------------------
// Fixtures: compiling the C sources
// ---------------------------------------------------------------------------------------------

/// The RPATH (and RUNPATH) of `rpath.so` and `runpath.so`: gentoo2023's easybuild tree, arch
/// x86-64-v4.
const V4_RPATH: &str =
    "/cvmfs/soft.computecanada.ca/easybuild/software/2023/x86-64-v4/Compiler/gcc12/openblas/0.3.24/lib";

/// The library only the `new` layer of the test layout has.
const LAYER_LIBRARY: &str = "libonlyinlayer.so.1";

/// One compiled object: its file name in the fixture directory, its source and gcc's flags.
/// `{dir}` in a flag is replaced by the fixture directory.
const BUILDS: &[(&str, &str, &[&str])] = &[
    (
        "avx512.so",
        "avx512.c",
        &["-O2", "-march=x86-64-v4", "-shared", "-fPIC"],
    ),
    ("dispatch.so", "dispatch.c", &["-O2", "-shared", "-fPIC"]),
    (
        "plain.so",
        "plain.c",
        &["-O2", "-march=x86-64", "-shared", "-fPIC"],
    ),
    (
        LAYER_LIBRARY,
        "libonly2023.c",
        &["-O2", "-shared", "-fPIC", "-Wl,-soname,libonlyinlayer.so.1"],
    ),
    (
        "needs_lib.so",
        "needs_lib.c",
        &["-O2", "-shared", "-fPIC", "-L{dir}/link", "-lonlyinlayer"],
    ),
    (
        "rpath.so",
        "rpath.c",
        &[
            "-O2",
            "-shared",
            "-fPIC",
            "-Wl,--disable-new-dtags",
            "-Wl,-rpath,{rpath}",
        ],
    ),
    (
        "runpath.so",
        "rpath.c",
        &[
            "-O2",
            "-shared",
            "-fPIC",
            "-Wl,--enable-new-dtags",
            "-Wl,-rpath,{rpath}",
        ],
    ),
    ("glibc234.so", "glibc234.c", &["-O2", "-shared", "-fPIC"]),
];

/// The 32-bit object: a real i386 shared object. `-nostdlib` because the machine may lack the
/// 32-bit C runtime (crti.o, libgcc) while gcc can still compile and link for i386; if even
/// that fails, a copy of `plain.so` with EI_CLASS patched to ELFCLASS32 stands in (a 64-bit
/// body under a 32-bit ident: just as much "not for this machine", and malformed besides).
const BUILD_32: (&str, &str, &[&str]) = (
    "plain32.so",
    "plain.c",
    &["-m32", "-O2", "-shared", "-fPIC", "-nostdlib"],
);

/// The directory of the C sources.
fn sources() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/elf")
}

fn gcc_version() -> String {
    match Command::new("gcc").arg("--version").output() {
        Ok(output) if output.status.success() => String::from_utf8_lossy(&output.stdout).into_owned(),
        Ok(output) => panic!(
            "`gcc --version` failed ({}): the inspect tests compile their ELF fixtures with gcc\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ),
        Err(error) => panic!(
            "cannot run `gcc` ({error}): the inspect tests compile their ELF fixtures with the real \
             gcc; install it (Debian: apt-get install gcc)"
        ),
    }
}

fn expand(flag: &str, dir: &Path) -> String {
    flag.replace("{dir}", &dir.to_string_lossy())
        .replace("{rpath}", V4_RPATH)
}

/// Runs gcc; the error carries its command line and stderr.
fn gcc(dir: &Path, (output, source, flags): (&str, &str, &[&str])) -> Result<(), String> {
    let mut command = Command::new("gcc");
    // The source first: `-l` options only resolve symbols of the inputs before them.
    command
        .arg(sources().join(source))
        .args(flags.iter().map(|flag| expand(flag, dir)))
        .arg("-o")
        .arg(dir.join(output));
    let result = command
        .output()
        .map_err(|error| format!("cannot run {command:?}: {error}"))?;
    if result.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{command:?} failed ({}):\n{}",
            result.status,
            String::from_utf8_lossy(&result.stderr)
        ))
    }
}

/// Compiles every fixture into `dir`, and makes the damaged ones.
fn build_fixtures(dir: &Path) {
    // -lonlyinlayer links against lib<name>.so: a link-time copy in its own directory, so that
    // the fixture directory itself only has the real soname.
    let link = dir.join("link");
    std::fs::create_dir_all(&link).unwrap();
    for &build in BUILDS {
        if let Err(message) = gcc(dir, build) {
            panic!("building the ELF fixture {}: {message}", build.0);
        }
        if build.0 == LAYER_LIBRARY {
            std::fs::copy(dir.join(LAYER_LIBRARY), link.join("libonlyinlayer.so")).unwrap();
        }
    }
    let plain = std::fs::read(dir.join("plain.so")).unwrap();
    if let Err(message) = gcc(dir, BUILD_32) {
        eprintln!("gcc -m32 cannot link here, patching EI_CLASS of plain.so instead: {message}");
        let mut patched = plain.clone();
        patched[4] = 1; // EI_CLASS = ELFCLASS32
        std::fs::write(dir.join(BUILD_32.0), patched).unwrap();
    }
    // A well-formed 64-bit ELF for another machine: e_machine = EM_AARCH64 (183).
    let mut aarch64 = plain.clone();
    aarch64[18..20].copy_from_slice(&183u16.to_le_bytes());
    std::fs::write(dir.join("aarch64.so"), aarch64).unwrap();
    // The first 100 bytes of a real one: the ELF header (64 bytes) and a piece of a program
    // header.
    std::fs::write(dir.join("truncated.so"), &plain[..100]).unwrap();
    std::fs::write(
        dir.join("not_elf.so"),
        b"INPUT ( /usr/lib/libfake.so.1 )\n/* a linker script, not an ELF file */\n",
    )
    .unwrap();
}

/// The directory of the compiled fixtures, built on first use.
fn fixtures() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let mut digest = sha2::Sha256::new();
        digest.update(gcc_version());
        // This file too: the build steps are code.
        digest.update(include_str!("inspect.rs"));
        let mut names: Vec<PathBuf> = std::fs::read_dir(sources())
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .collect();
        names.sort();
        for path in names {
            digest.update(path.file_name().unwrap().as_encoded_bytes());
            digest.update(std::fs::read(&path).unwrap());
        }
        let key: String = digest.finalize()[..8]
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let done = tmp.join(format!("elf-fixtures-{key}"));
        if done.is_dir() {
            return done;
        }
        std::fs::create_dir_all(tmp).unwrap();
        let building = tempfile::Builder::new()
            .prefix("elf-fixtures-building-")
            .tempdir_in(tmp)
            .unwrap();
        build_fixtures(building.path());
        // Another test process may have finished first: then its copy is used and ours dropped.
        if std::fs::rename(building.path(), &done).is_err() && !done.is_dir() {
            panic!("cannot move the ELF fixtures to {}", done.display());
        }
        done
    })
}

/// A compiled fixture.
pub(crate) fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixtures().join(name)).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Wheels and layouts
// ---------------------------------------------------------------------------------------------

/// The member path of an extension module of the package.
fn extension(package: &str, module: &str) -> String {
    format!("{package}/{module}.cpython-312-x86_64-linux-gnu.so")
}

/// A cp312 linux_x86_64 wheel of `name` 1.0 with the package's `__init__.py` and the given
/// members (path, bytes).
fn binary_wheel(directory: &Path, name: &str, members: Vec<(String, Vec<u8>)>) -> PathBuf {
    binary_wheel_version(directory, name, "1.0", members)
}

/// [`binary_wheel`] at another version.
pub(crate) fn binary_wheel_version(
    directory: &Path,
    name: &str,
    version: &str,
    members: Vec<(String, Vec<u8>)>,
) -> PathBuf {
    let mut spec = WheelSpec::new(name, version);
    spec.tags = "cp312-cp312-linux_x86_64".into();
    spec.wheel = spec
        .wheel
        .replace("Tag: py3-none-any", "Tag: cp312-cp312-linux_x86_64")
        .replace("Root-Is-Purelib: true", "Root-Is-Purelib: false");
    spec.files.retain(|(path, _)| path.ends_with("__init__.py"));
    spec.files.extend(members);
    spec.write(directory)
}

/// [`binary_wheel`] with members (path, fixture file name).
fn elf_wheel(directory: &Path, name: &str, members: &[(&str, &str)]) -> PathBuf {
    let members = members
        .iter()
        .map(|(path, file)| (path.to_string(), fixture(file)))
        .collect();
    binary_wheel(directory, name, members)
}

/// A wheel with one extension module built from `file`; returns the wheel and the member path.
fn one_extension_wheel(directory: &Path, name: &str, file: &str) -> (PathBuf, String) {
    let member = extension(name, &format!("_{}", file.trim_end_matches(".so")));
    let wheel = elf_wheel(directory, name, &[(&member, file)]);
    (wheel, member)
}

/// How the test layout's library directories are set up.
#[derive(Clone, Copy, PartialEq)]
enum Libraries {
    /// `new/lib64` has libonlyinlayer.so.1, `old/lib64` is empty.
    OnlyInNew,
    /// Both directories exist, neither has the library.
    Nowhere,
    /// Neither directory exists: nothing can be checked.
    Absent,
}

/// Writes a layout with two layers into `directory` and returns its path:
/// `new` (glibc 2.37, generic/x86-64-v3/x86-64-v4, the default) and `old` (glibc 2.30,
/// generic/avx2/avx512), each with a library directory under `directory`.
fn test_layout(directory: &Path, libraries: Libraries) -> PathBuf {
    let new_lib = directory.join("new/lib64");
    let old_lib = directory.join("old/lib64");
    if libraries != Libraries::Absent {
        std::fs::create_dir_all(&new_lib).unwrap();
        std::fs::create_dir_all(&old_lib).unwrap();
    }
    if libraries == Libraries::OnlyInNew {
        std::fs::copy(fixtures().join(LAYER_LIBRARY), new_lib.join(LAYER_LIBRARY)).unwrap();
    }
    let text = format!(
        r#"root = "wheelhouse"
local_version_label = "test"
python_versions = ["3.12"]
default_layer = "new"
system_libraries = ["libc.so.6", "libm.so.6", "libpthread.so.0", "libdl.so.2", "ld-linux-x86-64.so.2", "libgcc_s.so.1"]
ignored_rpath = ["/Core/python/"]

[archs.generic]
level = 1
march = "x86-64"
features = ["sse2"]

[archs.x86-64-v3]
level = 3
march = "x86-64-v3"
features = ["avx2", "fma"]

[archs.x86-64-v4]
level = 4
march = "x86-64-v4"
features = ["avx512f"]

[archs.avx2]
level = 3
march = "core-avx2"
features = ["avx2"]

[archs.avx512]
level = 4
march = "skylake-avx512"
features = ["avx512f"]

[layers.new]
description = "the newer test layer"
glibc = "2.37"
archs = ["generic", "x86-64-v3", "x86-64-v4"]
library_dirs = [{new:?}]
rpath_prefixes = ["/test/new/"]

[layers.old]
description = "the older test layer"
glibc = "2.30"
archs = ["generic", "avx2", "avx512"]
library_dirs = [{old:?}]
rpath_prefixes = ["/test/old/"]
"#,
        new = new_lib.to_str().unwrap(),
        old = old_lib.to_str().unwrap(),
    );
    let path = directory.join("layout.toml");
    std::fs::write(&path, text).unwrap();
    path
}

// ---------------------------------------------------------------------------------------------
// Running inspect
// ---------------------------------------------------------------------------------------------

/// `wheelwright inspect [--layout LAYOUT] ARGS... WHEELS...`: (exit code, stdout, stderr), never a
/// panic of the binary.
fn inspect_raw(layout: Option<&Path>, args: &[&str], wheels: &[&Path]) -> (i32, String, String) {
    let mut command = wheelwright();
    command.arg("inspect");
    if let Some(layout) = layout {
        command.arg("--layout").arg(layout);
    }
    command.args(args).args(wheels);
    let (code, stdout, stderr) = run(&mut command);
    assert_ne!(code, 101, "wheelwright panicked:\n{stdout}\n{stderr}");
    assert!(!stderr.contains("panicked"), "wheelwright panicked:\n{stderr}");
    (code, stdout, stderr)
}

/// `inspect --json` on one wheel: (exit code, the wheel's report).
fn inspect_one(layout: Option<&Path>, args: &[&str], wheel: &Path) -> (i32, Value) {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let (code, stdout, stderr) = inspect_raw(layout, &all, &[wheel]);
    let value: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|error| panic!("inspect --json printed no JSON ({error}):\n{stdout}\n{stderr}"));
    let reports = value.as_array().expect("an array of reports");
    assert_eq!(reports.len(), 1, "{value:#}");
    assert_eq!(reports[0]["wheel"], wheel.to_str().unwrap(), "{value:#}");
    (code, reports[0].clone())
}

/// The `elf_files` entry of a member.
fn elf_file<'a>(report: &'a Value, member: &str) -> &'a Value {
    report["elf_files"]
        .as_array()
        .unwrap_or_else(|| panic!("no elf_files array: {report:#}"))
        .iter()
        .find(|file| file["path"] == member)
        .unwrap_or_else(|| panic!("{member} not among the ELF files: {report:#}"))
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {value}"))
        .iter()
        .map(|item| {
            item.as_str()
                .unwrap_or_else(|| panic!("not a string: {item}"))
                .to_string()
        })
        .collect()
}

fn works(report: &Value, layer: &str) -> bool {
    report["layers"][layer]["works"]
        .as_bool()
        .unwrap_or_else(|| panic!("no layers.{layer}.works: {report:#}"))
}

fn reasons(report: &Value, layer: &str) -> String {
    strings(&report["layers"][layer]["reasons"]).join("\n")
}

// ---------------------------------------------------------------------------------------------
// The fixtures have the properties the tests rely on (binutils, not wheelwright)
// ---------------------------------------------------------------------------------------------

fn tool(program: &str, args: &[&str], file: &str) -> String {
    let path = fixtures().join(file);
    let output = Command::new(program)
        .args(args)
        .arg(&path)
        .output()
        .unwrap_or_else(|error| panic!("cannot run {program} (binutils, installed with gcc): {error}"));
    assert!(output.status.success(), "{program} {args:?} {file}: {output:?}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn the_fixtures_are_what_the_tests_claim() {
    let avx512 = tool("objdump", &["-d"], "avx512.so");
    assert!(
        avx512.contains("%zmm"),
        "avx512.so has no zmm instruction:\n{avx512}"
    );
    assert!(!avx512.contains("cpuid"), "avx512.so checks the CPU");

    let dispatch = tool("objdump", &["-d"], "dispatch.so");
    assert!(dispatch.contains("%zmm"), "dispatch.so has no zmm instruction");
    assert!(dispatch.contains("cpuid"), "dispatch.so has no cpuid");
    assert!(dispatch.contains("<clone_scale_add.avx512f>:"), "no target clone");
    assert!(
        dispatch.contains("<__cpu_indicator_init>"),
        "no __builtin_cpu_supports support"
    );
    let symbols = tool("readelf", &["--dyn-syms", "-W"], "dispatch.so");
    assert!(symbols.contains("IFUNC"), "dispatch.so has no ifunc:\n{symbols}");

    let plain = tool("objdump", &["-d"], "plain.so");
    assert!(!plain.contains("%ymm") && !plain.contains("%zmm") && !plain.contains("cpuid"));

    let needs = tool("readelf", &["-d"], "needs_lib.so");
    assert!(needs.contains("Shared library: [libonlyinlayer.so.1]"), "{needs}");
    let library = tool("readelf", &["-d"], LAYER_LIBRARY);
    assert!(
        library.contains("Library soname: [libonlyinlayer.so.1]"),
        "{library}"
    );

    let rpath = tool("readelf", &["-d", "-W"], "rpath.so");
    assert!(
        rpath.contains(&format!("(RPATH)              Library rpath: [{V4_RPATH}]")),
        "{rpath}"
    );
    let runpath = tool("readelf", &["-d", "-W"], "runpath.so");
    assert!(
        runpath.contains(&format!("Library runpath: [{V4_RPATH}]")),
        "{runpath}"
    );
    assert!(!runpath.contains("(RPATH)"), "{runpath}");

    let versions = tool("objdump", &["-T"], "glibc234.so");
    assert!(versions.contains("(GLIBC_2.34) pthread_create"), "{versions}");

    let header = tool("readelf", &["-h"], "plain32.so");
    assert!(header.contains("ELF32"), "{header}");
    let header = tool("readelf", &["-h"], "aarch64.so");
    assert!(header.contains("AArch64"), "{header}");
    assert_eq!(fixture("truncated.so").len(), 100);
    assert_eq!(&fixture("truncated.so")[..4], b"\x7fELF");
}

// ---------------------------------------------------------------------------------------------
// inspect
// ---------------------------------------------------------------------------------------------

#[test]
fn a_pure_wheel_goes_to_generic() {
    let directory = tempfile::tempdir().unwrap();
    let layout = test_layout(directory.path(), Libraries::OnlyInNew);
    let wheel = WheelSpec::new("purepkg", "1.0").write(directory.path());
    let (code, report) = inspect_one(Some(&layout), &[], &wheel);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["pure"], true, "{report:#}");
    assert_eq!(report["elf_files"], serde_json::json!([]), "{report:#}");
    assert_eq!(report["destination"], "generic", "{report:#}");
    assert!(report.get("error").is_none_or(Value::is_null), "{report:#}");
}

#[test]
fn unguarded_avx512_needs_x86_64_v4() {
    let directory = tempfile::tempdir().unwrap();
    let layout = test_layout(directory.path(), Libraries::OnlyInNew);
    let (wheel, member) = one_extension_wheel(directory.path(), "avxpkg", "avx512.so");
    let (code, report) = inspect_one(Some(&layout), &[], &wheel);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["pure"], false, "{report:#}");
    let file = elf_file(&report, &member);
    assert_eq!(file["kind"], "shared-object", "{report:#}");
    assert_eq!(file["instructions"]["max_level"], 4, "{report:#}");
    assert_eq!(file["instructions"]["unguarded_level"], 4, "{report:#}");
    assert_eq!(
        file["instructions"]["dispatch"],
        serde_json::json!([]),
        "{report:#}"
    );
    assert!(works(&report, "new") && works(&report, "old"), "{report:#}");
    assert_eq!(report["arch"]["name"], "x86-64-v4", "{report:#}");
    assert_eq!(report["arch"]["level"], 4, "{report:#}");
    assert!(!strings(&report["arch"]["evidence"]).is_empty(), "{report:#}");
    assert_eq!(report["destination"], "new/x86-64-v4", "{report:#}");
}

#[test]
fn avx512_behind_run_time_dispatch_stays_generic() {
    let directory = tempfile::tempdir().unwrap();
    let layout = test_layout(directory.path(), Libraries::OnlyInNew);
    let (wheel, member) = one_extension_wheel(directory.path(), "dispatchpkg", "dispatch.so");
    let (code, report) = inspect_one(Some(&layout), &[], &wheel);
    assert_eq!(code, 0, "{report:#}");
    let instructions = &elf_file(&report, &member)["instructions"];
    assert_eq!(instructions["max_level"], 4, "{report:#}");
    assert!(!strings(&instructions["dispatch"]).is_empty(), "{report:#}");
    assert_eq!(report["arch"]["name"], "generic", "{report:#}");
    assert_eq!(report["arch"]["level"], 1, "{report:#}");
    assert_eq!(report["destination"], "generic", "{report:#}");
}

#[test]
fn dispatch_is_still_seen_in_a_stripped_object() {
    // Wheels usually ship stripped objects: no .symtab, so no `clone_scale_add.avx512f` names,
    // but the cpuid instructions and the IFUNC in .dynsym are still there.
    let directory = tempfile::tempdir().unwrap();
    let stripped = directory.path().join("dispatch-stripped.so");
    let status = Command::new("strip")
        .arg("--strip-all")
        .arg(fixtures().join("dispatch.so"))
        .arg("-o")
        .arg(&stripped)
        .status()
        .expect("strip (binutils) runs");
    assert!(status.success());
    let member = extension("strippedpkg", "_dispatch");
    let wheel = binary_wheel(
        directory.path(),
        "strippedpkg",
        vec![(member.clone(), std::fs::read(&stripped).unwrap())],
    );
    let layout = test_layout(directory.path(), Libraries::OnlyInNew);
    let (code, report) = inspect_one(Some(&layout), &[], &wheel);
    assert_eq!(code, 0, "{report:#}");
    let instructions = &elf_file(&report, &member)["instructions"];
    assert_eq!(instructions["max_level"], 4, "{report:#}");
    assert!(!strings(&instructions["dispatch"]).is_empty(), "{report:#}");
    assert_eq!(report["destination"], "generic", "{report:#}");
}

#[test]
fn baseline_code_on_every_layer_goes_to_generic() {
    let directory = tempfile::tempdir().unwrap();
    let layout = test_layout(directory.path(), Libraries::OnlyInNew);
    let (wheel, member) = one_extension_wheel(directory.path(), "plainpkg", "plain.so");
    let (code, report) = inspect_one(Some(&layout), &[], &wheel);
    assert_eq!(code, 0, "{report:#}");
    let file = elf_file(&report, &member);
    // Nothing but libc, if even that: Debian's gcc links with --as-needed, and plain.c calls
    // nothing in libc.
    let needed = strings(&file["needed"]);
    assert!(needed.iter().all(|library| library == "libc.so.6"), "{report:#}");
    assert_eq!(file["rpath"], serde_json::json!([]), "{report:#}");
    assert_eq!(file["runpath"], serde_json::json!([]), "{report:#}");
    assert_eq!(file["instructions"]["unguarded_level"], 1, "{report:#}");
    for layer in ["new", "old"] {
        assert!(works(&report, layer), "{report:#}");
        assert_eq!(report["layers"][layer]["libraries_checked"], true, "{report:#}");
    }
    assert_eq!(report["problems"], serde_json::json!([]), "{report:#}");
    assert_eq!(report["arch"]["name"], "generic", "{report:#}");
    assert_eq!(report["destination"], "generic", "{report:#}");
}

#[test]
fn no_scan_skips_the_instructions() {
    let directory = tempfile::tempdir().unwrap();
    let layout = test_layout(directory.path(), Libraries::OnlyInNew);
    let (wheel, member) = one_extension_wheel(directory.path(), "noscanpkg", "avx512.so");
    let (code, report) = inspect_one(Some(&layout), &["--no-scan"], &wheel);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(
        elf_file(&report, &member)["instructions"],
        Value::Null,
        "{report:#}"
    );
}

#[test]
fn a_library_only_one_layer_has_limits_the_wheel_to_it() {
    let directory = tempfile::tempdir().unwrap();
    let layout = test_layout(directory.path(), Libraries::OnlyInNew);
    let (wheel, member) = one_extension_wheel(directory.path(), "libpkg", "needs_lib.so");
    let (code, report) = inspect_one(Some(&layout), &[], &wheel);
    assert_eq!(code, 0, "{report:#}");
    let file = elf_file(&report, &member);
    assert!(
        strings(&file["needed"]).contains(&LAYER_LIBRARY.to_string()),
        "{report:#}"
    );
    assert_eq!(file["soname"], Value::Null, "{report:#}");
    assert!(works(&report, "new"), "{report:#}");
    assert!(!works(&report, "old"), "{report:#}");
    assert!(reasons(&report, "old").contains(LAYER_LIBRARY), "{report:#}");
    for layer in ["new", "old"] {
        assert_eq!(report["layers"][layer]["libraries_checked"], true, "{report:#}");
    }
    assert_eq!(report["destination"], "new/generic", "{report:#}");

    let (code, stdout, stderr) = inspect_raw(Some(&layout), &[], &[&wheel]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("new/generic"), "{stdout}");
    assert!(stdout.contains(LAYER_LIBRARY), "{stdout}");
}

#[test]
fn a_bundled_library_is_not_looked_for_in_the_layers() {
    let directory = tempfile::tempdir().unwrap();
    let layout = test_layout(directory.path(), Libraries::Nowhere);
    let member = extension("bundlepkg", "_needs_lib");
    let wheel = elf_wheel(
        directory.path(),
        "bundlepkg",
        &[
            (&member, "needs_lib.so"),
            ("bundlepkg.libs/libonlyinlayer.so.1", LAYER_LIBRARY),
        ],
    );
    let (code, report) = inspect_one(Some(&layout), &[], &wheel);
    assert_eq!(code, 0, "{report:#}");
    let library = elf_file(&report, "bundlepkg.libs/libonlyinlayer.so.1");
    assert_eq!(library["soname"], LAYER_LIBRARY, "{report:#}");
    assert!(works(&report, "new") && works(&report, "old"), "{report:#}");
    assert_eq!(report["destination"], "generic", "{report:#}");
}

#[test]
fn a_library_no_layer_has_fails_the_wheel() {
    let directory = tempfile::tempdir().unwrap();
    let layout = test_layout(directory.path(), Libraries::Nowhere);
    let (wheel, _) = one_extension_wheel(directory.path(), "libpkg", "needs_lib.so");
    let (code, report) = inspect_one(Some(&layout), &[], &wheel);
    assert_eq!(code, 1, "{report:#}");
    for layer in ["new", "old"] {
        assert!(!works(&report, layer), "{report:#}");
        assert!(reasons(&report, layer).contains(LAYER_LIBRARY), "{report:#}");
    }
    assert_eq!(report["destination"], Value::Null, "{report:#}");

    let (code, stdout, stderr) = inspect_raw(Some(&layout), &[], &[&wheel]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        format!("{stdout}{stderr}").contains(LAYER_LIBRARY),
        "{stdout}{stderr}"
    );
}

#[test]
fn without_the_library_directories_libraries_are_not_checked() {
    let directory = tempfile::tempdir().unwrap();
    let layout = test_layout(directory.path(), Libraries::Absent);
    let (wheel, _) = one_extension_wheel(directory.path(), "libpkg", "needs_lib.so");
    let (code, report) = inspect_one(Some(&layout), &[], &wheel);
    assert_eq!(code, 0, "{report:#}");
    for layer in ["new", "old"] {
        assert_eq!(report["layers"][layer]["libraries_checked"], false, "{report:#}");
        // Judged on glibc and RPATH only: nothing rules the layer out.
        assert!(works(&report, layer), "{report:#}");
    }
    assert_eq!(report["destination"], "generic", "{report:#}");

    let (code, stdout, stderr) = inspect_raw(Some(&layout), &[], &[&wheel]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let human = format!("{stdout}{stderr}").to_lowercase();
    assert!(
        human.contains("not checked")
            || human.contains("unchecked")
            || human.contains("not found on this machine"),
        "the human output does not say the libraries were not checked:\n{stdout}{stderr}"
    );
}

#[test]
fn a_newer_glibc_than_the_layer_has_is_refused() {
    // The shipped layout: gentoo2020 has glibc 2.30, gentoo2023 2.37; pthread_create is
    // GLIBC_2.34 when linked against glibc >= 2.34 (this machine's).
    let directory = tempfile::tempdir().unwrap();
    let (wheel, member) = one_extension_wheel(directory.path(), "threadpkg", "glibc234.so");
    let (code, report) = inspect_one(None, &[], &wheel);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(elf_file(&report, &member)["glibc"], "2.34", "{report:#}");
    assert_eq!(report["glibc"], "2.34", "{report:#}");
    assert!(works(&report, "gentoo2023"), "{report:#}");
    assert!(!works(&report, "gentoo2020"), "{report:#}");
    let why = reasons(&report, "gentoo2020");
    assert!(why.contains("2.34") && why.contains("2.30"), "{report:#}");
    assert_eq!(report["destination"], "gentoo2023/generic", "{report:#}");
}

#[test]
fn the_same_glibc_check_with_a_layout_file() {
    let directory = tempfile::tempdir().unwrap();
    let layout = test_layout(directory.path(), Libraries::OnlyInNew);
    let (wheel, _) = one_extension_wheel(directory.path(), "threadpkg", "glibc234.so");
    let (code, report) = inspect_one(Some(&layout), &[], &wheel);
    assert_eq!(code, 0, "{report:#}");
    assert!(works(&report, "new"), "{report:#}");
    assert!(!works(&report, "old"), "{report:#}");
    let why = reasons(&report, "old");
    assert!(why.contains("2.34") && why.contains("2.30"), "{report:#}");
    assert_eq!(report["destination"], "new/generic", "{report:#}");
}

#[test]
fn an_rpath_into_an_arch_directory_of_a_layer_sets_both() {
    let directory = tempfile::tempdir().unwrap();
    for (file, field) in [("rpath.so", "rpath"), ("runpath.so", "runpath")] {
        let name = format!("{}pkg", file.trim_end_matches(".so"));
        let (wheel, member) = one_extension_wheel(directory.path(), &name, file);
        let (code, report) = inspect_one(None, &[], &wheel);
        assert_eq!(code, 0, "{report:#}");
        let elf = elf_file(&report, &member);
        assert_eq!(elf[field], serde_json::json!([V4_RPATH]), "{report:#}");
        let other = if field == "rpath" { "runpath" } else { "rpath" };
        assert_eq!(elf[other], serde_json::json!([]), "{report:#}");
        assert!(works(&report, "gentoo2023"), "{file}: {report:#}");
        for layer in ["gentoo2020", "gentoo", "nix"] {
            assert!(!works(&report, layer), "{file} on {layer}: {report:#}");
        }
        assert_eq!(report["arch"]["name"], "x86-64-v4", "{file}: {report:#}");
        assert_eq!(report["arch"]["level"], 4, "{file}: {report:#}");
        assert!(
            strings(&report["arch"]["evidence"])
                .iter()
                .any(|line| line.contains("x86-64-v4")),
            "{file}: {report:#}"
        );
        assert_eq!(
            report["destination"], "gentoo2023/x86-64-v4",
            "{file}: {report:#}"
        );
    }
}

#[test]
fn damaged_and_foreign_elf_members_are_reported_never_a_panic() {
    let directory = tempfile::tempdir().unwrap();
    let layout = test_layout(directory.path(), Libraries::OnlyInNew);
    let good = extension("badpkg", "_plain");
    let bad = [
        (extension("badpkg", "_not_elf"), "not_elf.so"),
        (extension("badpkg", "_truncated"), "truncated.so"),
        (extension("badpkg", "_plain32"), "plain32.so"),
        (extension("badpkg", "_aarch64"), "aarch64.so"),
    ];
    let mut members: Vec<(&str, &str)> = vec![(&good, "plain.so")];
    members.extend(bad.iter().map(|(path, file)| (path.as_str(), *file)));
    let wheel = elf_wheel(directory.path(), "badpkg", &members);

    let (code, report) = inspect_one(Some(&layout), &[], &wheel);
    // The wheel itself is readable and its one good object runs everywhere.
    assert_eq!(code, 0, "{report:#}");
    assert!(report.get("error").is_none_or(Value::is_null), "{report:#}");
    elf_file(&report, &good);
    let problems = strings(&report["problems"]);
    for (path, _) in &bad {
        assert!(
            problems
                .iter()
                .any(|problem| problem.starts_with(&format!("{path}:"))),
            "{path} not among the problems: {report:#}"
        );
    }
    let not_elf = problems
        .iter()
        .find(|problem| problem.contains("_not_elf"))
        .unwrap();
    assert!(not_elf.contains("not an ELF file"), "{not_elf}");

    let (code, stdout, stderr) = inspect_raw(Some(&layout), &[], &[&wheel]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    for (path, _) in &bad {
        assert!(
            format!("{stdout}{stderr}").contains(path.as_str()),
            "{path}:\n{stdout}{stderr}"
        );
    }
}

#[test]
fn only_bad_elf_members_each_reported_alone() {
    // Each damaged object as the only binary of its wheel: still reported, never a panic, and
    // the exit status is a decision (0 or 1), not a crash.
    let directory = tempfile::tempdir().unwrap();
    let layout = test_layout(directory.path(), Libraries::OnlyInNew);
    for file in ["not_elf.so", "truncated.so", "plain32.so", "aarch64.so"] {
        let name = format!("only{}", file.trim_end_matches(".so").replace('_', ""));
        let (wheel, member) = one_extension_wheel(directory.path(), &name, file);
        let (code, report) = inspect_one(Some(&layout), &[], &wheel);
        assert!(code == 0 || code == 1, "{file}: exit {code}: {report:#}");
        let problems = strings(&report["problems"]);
        assert!(
            problems
                .iter()
                .any(|problem| problem.starts_with(&format!("{member}:"))),
            "{file}: {report:#}"
        );
        let (code, stdout, stderr) = inspect_raw(Some(&layout), &[], &[&wheel]);
        assert!(code == 0 || code == 1, "{file}: exit {code}: {stdout}{stderr}");
    }
}

#[test]
fn several_wheels_one_report_each_and_an_unreadable_one_fails() {
    let directory = tempfile::tempdir().unwrap();
    let layout = test_layout(directory.path(), Libraries::OnlyInNew);
    let pure = WheelSpec::new("purepkg", "1.0").write(directory.path());
    let (avx, _) = one_extension_wheel(directory.path(), "avxpkg", "avx512.so");
    let broken = directory.path().join("broken-1.0-py3-none-any.whl");
    std::fs::write(&broken, b"not a zip file").unwrap();

    let (code, stdout, stderr) = inspect_raw(Some(&layout), &["--json"], &[&pure, &avx]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let reports: Value = serde_json::from_str(&stdout).unwrap();
    let destinations: Vec<&Value> = reports
        .as_array()
        .unwrap()
        .iter()
        .map(|report| &report["destination"])
        .collect();
    assert_eq!(destinations, ["generic", "new/x86-64-v4"], "{reports:#}");

    let (code, stdout, stderr) = inspect_raw(Some(&layout), &["--json"], &[&pure, &broken]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    let reports: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(reports[0]["destination"], "generic", "{reports:#}");
    assert!(reports[1]["error"].is_string(), "{reports:#}");
}

#[test]
fn a_platform_wheel_whose_extensions_are_all_invalid_is_not_pure() {
    let directory = tempfile::tempdir().unwrap();
    let layout = test_layout(directory.path(), Libraries::OnlyInNew);
    let garbage = extension("junkpkg", "_garbage");
    let truncated = extension("junkpkg", "_truncated");
    let wheel = binary_wheel(
        directory.path(),
        "junkpkg",
        vec![
            (
                garbage.clone(),
                b"\x00\x01garbage bytes, not an object file".repeat(8),
            ),
            (truncated.clone(), fixture("truncated.so")),
        ],
    );
    let (code, report) = inspect_one(Some(&layout), &[], &wheel);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(report["pure"], false, "{report:#}");
    assert!(report["destination"].is_null(), "{report:#}");
    let notes = strings(&report["notes"]).join("\n");
    assert!(
        notes.contains(&format!(
            "`{garbage}` is not a valid ELF file: it does not start with the ELF magic number"
        )),
        "{report:#}"
    );
    assert!(
        notes.contains(&format!(
            "`{truncated}` is not a valid ELF file: damaged or truncated"
        )),
        "{report:#}"
    );
    for layer in ["new", "old"] {
        assert!(!works(&report, layer), "{layer}: {report:#}");
    }
    let (code, stdout, _) = inspect_raw(Some(&layout), &[], &[&wheel]);
    assert_eq!(code, 1);
    assert!(!stdout.contains("none (pure)"), "{stdout}");
    assert!(stdout.contains("destination    none"), "{stdout}");
}
