//! Real PyPI sdists of every kind of build backend, built with no recipe: maturin (Rust),
//! scikit-build-core (CMake), meson-python, a namespace package with C extensions and a
//! cffi-based one. The build record must show that every compiled module was imported by the
//! smoke test, and the wheels must stay close in size to what plain `pip wheel` makes.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::run;

/// One package of the set: what it is, and the compiled modules its smoke test must import.
struct Case {
    package: &'static str,
    version: &'static str,
    backend: &'static str,
    extensions: &'static [&'static str],
    /// Compare the wheel's size with plain `pip wheel`'s.
    compare_size: bool,
}

const CASES: [Case; 5] = [
    Case {
        package: "rpds-py",
        version: "0.22.3",
        backend: "maturin",
        extensions: &["rpds.rpds"],
        compare_size: true,
    },
    Case {
        package: "pyzmq",
        version: "27.1.0",
        backend: "scikit_build_core.build",
        extensions: &["zmq.backend.cython._zmq"],
        compare_size: false,
    },
    Case {
        package: "pywavelets",
        version: "1.9.0",
        backend: "mesonpy",
        extensions: &[
            "pywt._extensions._pywt",
            "pywt._extensions._dwt",
            "pywt._extensions._swt",
        ],
        compare_size: true,
    },
    Case {
        package: "zope.interface",
        version: "7.2",
        backend: "setuptools.build_meta",
        extensions: &["zope.interface._zope_interface_coptimizations"],
        compare_size: false,
    },
    Case {
        package: "cffi",
        version: "1.17.1",
        backend: "setuptools.build_meta",
        extensions: &["_cffi_backend"],
        compare_size: false,
    },
];

/// The size of the wheel plain `pip wheel` (build isolation, the backend's defaults) makes of
/// the same sdist.
fn pip_wheel_size(sdist: &Path, scratch: &Path) -> u64 {
    let out = scratch.join("pip-wheel");
    let (code, stdout, stderr) = run(Command::new(crate::common::pyenv_python312())
        .args([
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--disable-pip-version-check",
            "-w",
        ])
        .arg(&out)
        .arg(sdist));
    assert_eq!(code, 0, "pip wheel {}: {stdout}\n{stderr}", sdist.display());
    let wheel = std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .find(|entry| entry.path().extension().is_some_and(|e| e == "whl"))
        .unwrap()
        .path();
    std::fs::metadata(wheel).unwrap().len()
}

#[test]
#[ignore = "downloads and builds five real sdists from PyPI (Rust, CMake, meson, C): CI's slow step"]
fn every_backend_builds_and_its_compiled_code_is_loaded() {
    assert!(
        crate::common::uv().is_some(),
        "uv is not on PATH: run `source ci/install-test-tools.sh` first"
    );
    let directory = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for case in &CASES {
        let work = directory.path().join(format!("work-{}", case.package));
        let (code, stdout, stderr) = run(Command::new(env!("CARGO_BIN_EXE_wheelbuild"))
            .current_dir(directory.path())
            .env_remove("WHEELWRIGHT_LAYOUT")
            .env_remove("WHEELWRIGHT_RECIPES")
            .args([
                "--package",
                case.package,
                "--version",
                case.version,
                "--python",
                "3.12",
                "--json",
            ])
            .arg("--output")
            .arg(directory.path().join("out"))
            .arg("--work-dir")
            .arg(&work)
            .arg("--cache-dir")
            .arg(directory.path().join("cache")));
        if code != 0 {
            failures.push(format!(
                "{} {}: exit {code}\n{stdout}\n{stderr}",
                case.package, case.version
            ));
            continue;
        }
        let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        let cell = &report["cells"][0];
        assert_eq!(cell["test"], "passed", "{cell}");
        let wheel = PathBuf::from(cell["wheel"].as_str().unwrap());
        let record_path = PathBuf::from(format!("{}.json", wheel.display()));
        let record: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&record_path).unwrap()).unwrap();
        assert_eq!(record["test"]["status"], "passed", "{record}");
        let backend = record["build"]["backend"].as_str().unwrap_or_default();
        assert!(
            backend.starts_with(case.backend),
            "{}: backend {backend}",
            case.package
        );
        // No debug information unless asked: -g0 in the flags the build saw.
        assert!(
            record["build"]["flags"]["CFLAGS"]
                .as_str()
                .unwrap()
                .ends_with("-g0"),
            "{record}"
        );
        let imported: Vec<(String, bool)> = record["test"]["reports"]["3.12 generic"]["imported"]
            .as_array()
            .unwrap_or_else(|| panic!("{}: no imports in the record: {record}", case.package))
            .iter()
            .map(|entry| (entry["name"].as_str().unwrap().to_string(), entry["ok"] == true))
            .collect();
        for extension in case.extensions {
            assert!(
                imported.iter().any(|(name, ok)| name == extension && *ok),
                "{}: `{extension}` was not imported by the smoke test: {imported:?}",
                case.package
            );
        }
        if case.compare_size {
            let sdist = PathBuf::from(report["source"]["path"].as_str().unwrap());
            let ours = std::fs::metadata(&wheel).unwrap().len();
            let pips = pip_wheel_size(&sdist, &work);
            eprintln!(
                "{}: ours {ours} bytes, plain pip wheel {pips} bytes",
                case.package
            );
            assert!(
                (ours as f64) <= 1.5 * pips as f64,
                "{}: {ours} bytes against pip's {pips}",
                case.package
            );
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
