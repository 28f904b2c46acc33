//! Building inside a site's stack with Debian's real Lmod: test modulefiles (Lua), a layer
//! entered by its own lines, a library only a module provides (a C library gcc builds here,
//! and HDF5 from Debian's libhdf5-dev for a real h5py), a module that does not exist, and a
//! wheel that needs a library nothing provides (held back, not staged).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::run;
use crate::wheelbuild::{recipe, require_tools, sdist};

/// A scratch site: modulefiles, a library prefix, a layout, recipes.
struct Site {
    directory: tempfile::TempDir,
}

impl Site {
    fn new() -> Self {
        assert!(
            Path::new("/usr/share/lmod/lmod/init/bash").is_file(),
            "these tests need Lmod (Debian: lmod; .ci/run installs it)"
        );
        let site = Site {
            directory: tempfile::tempdir().unwrap(),
        };
        // The standard environment of the layer, as a site's StdEnv module.
        site.module(
            "StdEnv/2023.lua",
            "whatis(\"the test site's 2023 environment\")\nsetenv(\"EBVERSIONGENTOO\", \"2023\")\n",
        );
        std::fs::create_dir_all(site.path().join("recipes")).unwrap();
        std::fs::create_dir_all(site.path().join("layer-lib")).unwrap();
        site
    }

    fn path(&self) -> &Path {
        self.directory.path()
    }

    fn module(&self, file: &str, text: &str) {
        let path = self.path().join("modules").join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    /// A module for a prefix: include and library paths, and `<NAME>_DIR`.
    fn prefix_module(&self, file: &str, variable: &str, prefix: &Path) {
        let prefix = prefix.display();
        self.module(
            file,
            &format!(
                "setenv(\"{variable}\", \"{prefix}\")\nprepend_path(\"CPATH\", \"{prefix}/include\")\nprepend_path(\"LIBRARY_PATH\", \"{prefix}/lib\")\nprepend_path(\"LD_LIBRARY_PATH\", \"{prefix}/lib\")\n"
            ),
        );
    }

    /// The site's layout: one layer entered by loading StdEnv/2023, Lmod with the test
    /// modules, RPATHs to module libraries under the prefixes of `software/`. The layer's
    /// library directory exists (so libraries are judged against it) and is empty.
    fn layout(&self, name: &str, layer_lines: &[&str]) -> PathBuf {
        let lines: Vec<String> = layer_lines.iter().map(|line| format!("{line:?}")).collect();
        let text = format!(
            r#"root = "wheelhouse"
local_version_label = "computecanada"
python_versions = ["3.12"]
default_layer = "site2023"
system_libraries = ["libc.so.6", "libm.so.6", "libpthread.so.0", "libdl.so.2", "libgcc_s.so.1", "libstdc++.so.6", "libz.so.1"]

[modules]
system = "lmod"
modulepath = ["modules"]
rpath = "stack"

[archs.generic]
level = 1
march = "x86-64"
cflags = "-march=x86-64 -mtune=generic"

[layers.site2023]
glibc = "2.36"
archs = ["generic"]
library_dirs = ["{layer_lib}"]
rpath_prefixes = ["{software}/"]
environment = [{lines}]
"#,
            layer_lib = self.path().join("layer-lib").display(),
            software = self.path().join("software").display(),
            lines = lines.join(", "),
        );
        let path = self.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// libwwdemo.so.1 and its header, compiled by gcc into `software/wwdemo/1.0`.
    fn demo_library(&self) -> PathBuf {
        let prefix = self.path().join("software/wwdemo/1.0");
        std::fs::create_dir_all(prefix.join("lib")).unwrap();
        std::fs::create_dir_all(prefix.join("include")).unwrap();
        std::fs::write(prefix.join("include/wwdemo.h"), "int wwdemo_answer(void);\n").unwrap();
        let source = self.path().join("wwdemo.c");
        std::fs::write(&source, "int wwdemo_answer(void) { return 42; }\n").unwrap();
        let (code, stdout, stderr) = run(Command::new("gcc")
            .args(["-shared", "-fPIC", "-Wl,-soname,libwwdemo.so.1", "-o"])
            .arg(prefix.join("lib/libwwdemo.so.1"))
            .arg(&source));
        assert_eq!(code, 0, "gcc: {stdout}\n{stderr}");
        std::os::unix::fs::symlink("libwwdemo.so.1", prefix.join("lib/libwwdemo.so")).unwrap();
        prefix
    }

    fn wheelbuild(&self, layout: &Path, args: &[&str]) -> (i32, String, String) {
        run(Command::new(env!("CARGO_BIN_EXE_wheelbuild"))
            .current_dir(self.path())
            .env_remove("WHEELWRIGHT_LAYOUT")
            .env_remove("RUST_LOG")
            .args(args)
            .arg("--layout")
            .arg(layout)
            .arg("--output")
            .arg(self.path().join("out"))
            .arg("--work-dir")
            .arg(self.path().join("work"))
            .arg("--cache-dir")
            .arg(self.path().join("cache"))
            .arg("--recipes")
            .arg(self.path().join("recipes")))
    }
}

/// The one `.whl` in `directory`.
fn wheel_in(directory: &Path) -> PathBuf {
    let wheels: Vec<PathBuf> = std::fs::read_dir(directory)
        .unwrap()
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|extension| extension == "whl"))
        .collect();
    assert_eq!(wheels.len(), 1, "{:?}", crate::common::listing(directory));
    wheels[0].clone()
}

fn record_beside(wheel: &Path) -> serde_json::Value {
    let mut name = wheel.as_os_str().to_owned();
    name.push(".json");
    serde_json::from_str(&std::fs::read_to_string(PathBuf::from(name)).unwrap()).unwrap()
}

#[test]
fn a_missing_module_or_a_broken_layer_stops_the_build_before_it_starts() {
    let site = Site::new();
    let layout = site.layout("layout.toml", &["module load StdEnv/2023"]);
    let archive = site.path().join("never-fetched-1.0.tar.gz");
    recipe(
        &site.path().join("recipes"),
        "needsmodule",
        &archive,
        "modules: [StdEnv/2023, nosuchlib/9.9]\n",
    );
    let (code, stdout, stderr) = site.wheelbuild(
        &layout,
        &["--package", "needsmodule", "--version", "1.0", "--python", "3.12"],
    );
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    let recipe_file = site.path().join("recipes/needsmodule.yaml");
    assert!(
        stderr.contains(&format!(
            "{}: module `nosuchlib/9.9` cannot be loaded in layer site2023 (generic)",
            recipe_file.display()
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("Lmod has detected the following error"),
        "{stderr}"
    );
    assert!(
        !site.path().join("cache").exists() || crate::common::listing(&site.path().join("cache")).is_empty(),
        "nothing is fetched"
    );
    assert!(!site.path().join("out").join("needsmodule").exists());

    // A dry run checks the same.
    let (code, _, stderr) = site.wheelbuild(
        &layout,
        &["--package", "needsmodule", "--version", "1.0", "--dry-run"],
    );
    assert_eq!(code, 1);
    assert!(
        stderr.contains("module `nosuchlib/9.9` cannot be loaded"),
        "{stderr}"
    );

    // A layer line that fails names the layer, the key and the line, with Lmod's words.
    let broken = site.layout(
        "broken.toml",
        &["module load StdEnv/2023", "module load arch/avx9"],
    );
    recipe(&site.path().join("recipes"), "plain", &archive, "");
    let (code, stdout, stderr) =
        site.wheelbuild(&broken, &["--package", "plain", "--version", "1.0", "--dry-run"]);
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(
        stderr.contains(
            "layer site2023 (generic) cannot be entered on this machine: `layers.site2023.environment[1]` = `module load arch/avx9` failed (exit status 1)"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("arch/avx9"), "{stderr}");

    // `layout check --enter` tries every layer and arch on this machine.
    let check = |layout: &Path| {
        run(crate::common::wheelwright()
            .args(["layout", "check", "--enter"])
            .arg(layout))
    };
    let (code, stdout, stderr) = check(&broken);
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("entered site2023 (generic): FAILED: layer site2023 (generic) cannot be entered"),
        "{stdout}"
    );
    let (code, stdout, stderr) = check(&layout);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("layer site2023       glibc 2.36, archs generic, entered by 1 line"),
        "{stdout}"
    );
    assert!(
        stdout.contains("entered site2023 (generic): ok, modules StdEnv/2023"),
        "{stdout}"
    );

    // Modules in a recipe, but no modules system in the layout.
    let no_lmod = site.path().join("no-lmod.toml");
    let text = std::fs::read_to_string(&layout).unwrap().replace(
        "[modules]\nsystem = \"lmod\"\nmodulepath = [\"modules\"]\nrpath = \"stack\"\n",
        "",
    );
    std::fs::write(
        &no_lmod,
        text.replace("environment = [\"module load StdEnv/2023\"]", ""),
    )
    .unwrap();
    let (code, _, stderr) = site.wheelbuild(
        &no_lmod,
        &["--package", "needsmodule", "--version", "1.0", "--dry-run"],
    );
    assert_eq!(code, 1);
    assert!(stderr.contains("names no modules system"), "{stderr}");
    assert!(stderr.contains("needsmodule.yaml"), "{stderr}");

    // The dry run of a good stack lists what it loads.
    recipe(
        &site.path().join("recipes"),
        "plain",
        &archive,
        "modules: [StdEnv/2023]\n",
    );
    let (code, stdout, stderr) =
        site.wheelbuild(&layout, &["--package", "plain", "--version", "1.0", "--dry-run"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("stack: 1 line; modules: StdEnv/2023"), "{stdout}");
}

#[test]
#[ignore = "builds with gcc, pip and uv (PyPI for setuptools) inside Lmod modules: CI's slow step"]
fn a_module_provides_the_library_and_the_record_says_which() {
    require_tools();
    let site = Site::new();
    let prefix = site.demo_library();
    site.prefix_module("wwdemo/1.0.lua", "WWDEMO_DIR", &prefix);
    // A compiler module for the build only: `$CC` is a wrapper that leaves a mark.
    let compiler = site.path().join("software/wwcc/1.0/bin");
    std::fs::create_dir_all(&compiler).unwrap();
    let marker = site.path().join("wwcc-was-used");
    std::fs::write(
        compiler.join("wwcc"),
        "#!/bin/sh\nif [ \"$1\" = --version ]; then echo 'wwcc (wheelwright test wrapper) 1.0'; exit 0; fi\ntouch \"$WWCC_MARKER\"\nexec gcc \"$@\"\n",
    )
    .unwrap();
    let status = Command::new("chmod")
        .arg("755")
        .arg(compiler.join("wwcc"))
        .status()
        .unwrap();
    assert!(status.success());
    site.module(
        "wwcc/1.0.lua",
        &format!(
            "prepend_path(\"PATH\", \"{}\")\nsetenv(\"CC\", \"wwcc\")\nsetenv(\"WWCC_MARKER\", \"{}\")\n",
            compiler.display(),
            marker.display()
        ),
    );
    let layout = site.layout("layout.toml", &["module load StdEnv/2023"]);
    let archive = sdist("stackdemo", "0.1.0", site.path());
    // The test runs in the layer too (EBVERSIONGENTOO), and the build did (built_in_layer);
    // the build-only module is not loaded for the test.
    recipe(
        &site.path().join("recipes"),
        "stackdemo",
        &archive,
        "modules: [wwdemo]\nbuild_modules: [wwcc]\ntest: |\n  import os\n  assert stackdemo.answer() == 42\n  assert stackdemo.built_in_layer() == '2023'\n  assert os.environ['EBVERSIONGENTOO'] == '2023'\n  assert 'WWCC_MARKER' not in os.environ\n",
    );
    let (code, stdout, stderr) =
        site.wheelbuild(&layout, &["--package", "stackdemo", "--python", "3.12", "--json"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let wheel = wheel_in(&site.path().join("out"));
    let record = record_beside(&wheel);
    let stack = &record["build"]["stack"];
    assert_eq!(
        stack["lines"],
        serde_json::json!(["module load StdEnv/2023"]),
        "{record}"
    );
    assert_eq!(
        stack["requested"],
        serde_json::json!(["wwdemo", "wwcc"]),
        "{record}"
    );
    assert_eq!(
        stack["loaded"],
        serde_json::json!(["StdEnv/2023", "wwdemo/1.0", "wwcc/1.0"]),
        "{record}"
    );
    // The build compiled with the module's compiler, and the record names it.
    assert!(marker.exists(), "the module's $CC was not used");
    assert_eq!(
        record["build"]["tools"]["cc"], "wwcc (wheelwright test wrapper) 1.0",
        "{record}"
    );
    assert_eq!(
        stack["libraries"],
        serde_json::json!([{
            "library": "libwwdemo.so.1",
            "directory": prefix.join("lib"),
            "from": "module wwdemo",
        }]),
        "{record}"
    );
    // The same record is inside the wheel.
    let inside: serde_json::Value = serde_json::from_str(&crate::common::read_member(
        &wheel,
        "stackdemo-0.1.0+computecanada.dist-info/wheelwright.json",
    ))
    .unwrap();
    assert_eq!(inside["stack"], *stack);
    // `rpath = "stack"`: the module's library directory is under the layer's prefixes, so
    // the extension finds it without LD_LIBRARY_PATH; inspect shows it.
    let (code, stdout, stderr) = run(crate::common::wheelwright()
        .arg("inspect")
        .arg("--json")
        .arg(&wheel));
    assert_eq!(code, 0, "{stderr}");
    let library = prefix.join("lib").display().to_string();
    assert!(stdout.contains(&library), "no RPATH to {library}: {stdout}");
}

#[test]
#[ignore = "builds with gcc, pip and uv (PyPI for setuptools): CI's slow step"]
fn a_wheel_that_needs_a_library_nothing_provides_is_held_back() {
    require_tools();
    let site = Site::new();
    let prefix = site.demo_library();
    let layout = site.layout("layout.toml", &["module load StdEnv/2023"]);
    let archive = sdist("stackdemo", "0.1.0", site.path());
    // The library is reached through the recipe's own variables, not a module: the build and
    // its test on this host work, nodes of the layer would not have it.
    let prefix = prefix.display();
    recipe(
        &site.path().join("recipes"),
        "stackdemo",
        &archive,
        &format!(
            "environment:\n  CPATH: {prefix}/include\n  LIBRARY_PATH: {prefix}/lib\n  LD_LIBRARY_PATH: {prefix}/lib\ntest: \"assert stackdemo.answer() == 42\"\n"
        ),
    );
    let (code, stdout, stderr) = site.wheelbuild(&layout, &["--package", "stackdemo", "--python", "3.12"]);
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(stdout.contains("held back, not staged"), "{stdout}");
    assert!(stdout.contains(&format!("`libwwdemo.so.1` (needed by `stackdemo/_demo.cpython-312-x86_64-linux-gnu.so`) was found at {prefix}/lib/libwwdemo.so.1 on the build host, but neither the wheel, the layer site2023 nor a module provides it")), "{stdout}");
    let out = site.path().join("out");
    assert!(
        !crate::common::listing(&out)
            .iter()
            .any(|file| file.ends_with(".whl")),
        "a held wheel reached the output: {:?}",
        crate::common::listing(&out)
    );
    let wheel = wheel_in(&out.join("held"));
    let record = record_beside(&wheel);
    assert_eq!(record["test"]["status"], "passed", "{record}");
    assert!(
        record["held"][0].as_str().unwrap().contains("libwwdemo.so.1"),
        "{record}"
    );
    // cp-wheels refuses it when asked by name.
    let (code, stdout, stderr) = run(Command::new(env!("CARGO_BIN_EXE_cp-wheels"))
        .current_dir(site.path())
        .env_remove("WHEELWRIGHT_LAYOUT")
        .arg("--layout")
        .arg(&layout)
        .arg("--wheel")
        .arg(&wheel));
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(
        format!("{stdout}{stderr}").contains("says it is held back"),
        "{stdout}\n{stderr}"
    );
}

#[test]
#[ignore = "downloads and builds h5py from PyPI against Debian's HDF5 through an Lmod module: CI's slow step"]
fn h5py_builds_with_the_hdf5_module() {
    require_tools();
    let site = Site::new();
    // An HDF5 prefix made of Debian's serial HDF5, as a site's module tree would have it.
    let serial = Path::new("/usr/lib/x86_64-linux-gnu/hdf5/serial");
    assert!(
        serial.is_dir(),
        "this test needs Debian's libhdf5-dev (.ci/run installs it)"
    );
    let prefix = site.path().join("software/hdf5/1.10.8");
    std::fs::create_dir_all(prefix.join("lib")).unwrap();
    std::os::unix::fs::symlink(serial.join("include"), prefix.join("include")).unwrap();
    for entry in std::fs::read_dir(serial.join("lib")).unwrap().flatten() {
        let target = std::fs::canonicalize(entry.path()).unwrap();
        std::os::unix::fs::symlink(&target, prefix.join("lib").join(entry.file_name())).unwrap();
        // The versioned names (libhdf5_serial.so.103) the libraries link by.
        if let Some(soname) = target.file_name()
            && !prefix.join("lib").join(soname).exists()
        {
            std::os::unix::fs::symlink(&target, prefix.join("lib").join(soname)).unwrap();
        }
    }
    for soname in ["libhdf5_serial.so.103", "libhdf5_serial_hl.so.100"] {
        let link = prefix.join("lib").join(soname);
        let system = Path::new("/usr/lib/x86_64-linux-gnu").join(soname);
        if !link.exists() && system.exists() {
            std::os::unix::fs::symlink(system, link).unwrap();
        }
    }
    site.prefix_module("hdf5/1.10.8.lua", "HDF5_DIR", &prefix);
    let layout = site.layout("layout.toml", &["module load StdEnv/2023"]);
    std::fs::write(
        site.path().join("recipes/h5py.yaml"),
        "package: h5py\nmodules: [hdf5]\ntest: |\n  import os, tempfile\n  import numpy\n  path = os.path.join(tempfile.mkdtemp(), 't.h5')\n  with h5py.File(path, 'w') as f:\n      f['x'] = numpy.arange(10)\n  with h5py.File(path) as f:\n      assert list(f['x'][:]) == list(range(10))\n  assert h5py.version.hdf5_version == '1.10.8', h5py.version.hdf5_version\n",
    )
    .unwrap();
    let (code, stdout, stderr) = site.wheelbuild(
        &layout,
        &["--package", "h5py", "--version", "3.16.0", "--python", "3.12"],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let wheel = wheel_in(&site.path().join("out"));
    let record = record_beside(&wheel);
    let stack = &record["build"]["stack"];
    assert_eq!(
        stack["loaded"],
        serde_json::json!(["StdEnv/2023", "hdf5/1.10.8"]),
        "{record}"
    );
    let libraries = stack["libraries"].as_array().unwrap();
    assert!(
        libraries
            .iter()
            .any(|library| library["library"] == "libhdf5_serial.so.103" && library["from"] == "module hdf5"),
        "{record}"
    );
}

#[test]
#[ignore = "builds with gcc, pip and uv (PyPI for setuptools) inside Lmod modules: CI's slow step"]
fn a_nightly_spans_layers_each_in_its_own_stack_and_a_new_module_version_rebuilds() {
    require_tools();
    let site = Site::new();
    site.module("StdEnv/2020.lua", "setenv(\"EBVERSIONGENTOO\", \"2020\")\n");
    let prefix = site.demo_library();
    site.prefix_module("wwdemo/1.0.lua", "WWDEMO_DIR", &prefix);
    let one_layer =
        std::fs::read_to_string(site.layout("layout.toml", &["module load StdEnv/2023"])).unwrap();
    let layout = site.path().join("two-layers.toml");
    std::fs::write(
        &layout,
        format!(
            "{one_layer}\n[layers.site2020]\nglibc = \"2.36\"\narchs = [\"generic\"]\nlibrary_dirs = [\"{}\"]\nrpath_prefixes = [\"{}/\"]\nenvironment = [\"module --force purge\", \"module load StdEnv/2020\"]\n",
            site.path().join("layer-lib").display(),
            site.path().join("software").display()
        ),
    )
    .unwrap();
    let archive = sdist("stackdemo", "0.1.0", site.path());
    recipe(
        &site.path().join("recipes"),
        "stackdemo",
        &archive,
        "modules: [wwdemo]\ntest: |\n  import os\n  assert stackdemo.answer() == 42\n  assert stackdemo.built_in_layer() == os.environ['EBVERSIONGENTOO'] == '{{ layer | replace(from=\"site\", to=\"\") }}'\n",
    );
    let config = site.path().join("nightly.toml");
    std::fs::write(
        &config,
        "packages = [\"stackdemo\"]\nrecipes = \"recipes\"\n[matrix]\npythons = [\"3.12\"]\narchs = [\"generic\"]\nlayers = [\"site2023\", \"site2020\"]\n[resources]\ncpus = 1\n[paths]\ncache = \"cache\"\n",
    )
    .unwrap();
    let nightly = |args: &[&str]| {
        run(crate::common::wheelwright()
            .current_dir(site.path())
            .arg("nightly")
            .args(args)
            .arg("--config")
            .arg(&config)
            .arg("--layout")
            .arg(&layout))
    };
    let (code, stdout, stderr) = nightly(&["run", "--json"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let directory = PathBuf::from(report["directory"].as_str().unwrap());
    let result: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(directory.join("result.json")).unwrap()).unwrap();
    let states: Vec<String> = result["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|cell| {
            format!(
                "{} {}",
                cell["layer"].as_str().unwrap(),
                cell["state"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(states, ["site2020 built", "site2023 built"], "{result}");

    // Nothing changed: up to date. A newer wwdemo module becomes the default: both rebuild,
    // the stack named as what changed.
    let (code, stdout, stderr) = nightly(&["plan", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(!stdout.contains("\"build\""), "{stdout}");
    site.prefix_module("wwdemo/1.1.lua", "WWDEMO_DIR", &prefix);
    let (code, stdout, stderr) = nightly(&["plan", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    let plan: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let cells = plan["packages"][0]["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 2, "{plan}");
    for cell in cells {
        assert_eq!(cell["state"], "build", "{plan}");
        let reasons = cell["reasons"].to_string();
        assert!(reasons.contains("stack"), "{plan}");
    }
}
