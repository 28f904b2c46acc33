//! The consumer side of the wheelhouse: `avail`, `pip-config` and `index` on a small tree,
//! with real pip and uv installs from what they produce.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use sha2::Digest as _;

use crate::common::{WheelSpec, python, read_member, run, uv, wheelwright};

const LAYOUT: &str = r#"
root = "tree"
local_version_label = "cc"
python_versions = ["3.11", "3.12"]
default_layer = "gentoo2023"

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

[layers.gentoo2023]
glibc = "2.37"
archs = ["generic", "x86-64-v3", "x86-64-v4"]

[layers.gentoo2020]
glibc = "2.30"
archs = ["generic"]
deprecated = true
"#;

/// A temporary wheelhouse: a layout file and its tree.
pub(crate) struct Wheelhouse {
    directory: tempfile::TempDir,
    pub(crate) layout: PathBuf,
    pub(crate) root: PathBuf,
}

/// A wheel without requirements whose package records where it was placed (`WHERE`).
pub(crate) fn wheel(name: &str, version: &str, tags: &str, marker: &str) -> WheelSpec {
    let mut spec = WheelSpec::new(name, version);
    spec.tags = tags.to_string();
    spec.metadata = format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: test\n");
    let pure = tags.ends_with("-none-any");
    // WHEEL has one `Tag:` line per tag of a compressed set (`py2.py3-none-any`).
    let parts: Vec<Vec<&str>> = tags
        .splitn(3, '-')
        .map(|part| part.split('.').collect())
        .collect();
    let mut tag_lines = String::new();
    for python in &parts[0] {
        for abi in &parts[1] {
            for platform in &parts[2] {
                tag_lines.push_str(&format!("Tag: {python}-{abi}-{platform}\n"));
            }
        }
    }
    spec.wheel =
        format!("Wheel-Version: 1.0\nGenerator: wheelwright-tests\nRoot-Is-Purelib: {pure}\n{tag_lines}");
    let module = name.replace('-', "_").to_lowercase();
    spec.files = vec![(
        format!("{module}/__init__.py"),
        format!("WHERE = {marker:?}\n").into_bytes(),
    )];
    spec
}

impl Wheelhouse {
    pub(crate) fn new() -> Wheelhouse {
        let directory = tempfile::tempdir().unwrap();
        let layout = directory.path().join("layout.toml");
        std::fs::write(&layout, LAYOUT).unwrap();
        let root = directory.path().join("tree");
        let wheelhouse = Wheelhouse {
            directory,
            layout,
            root,
        };
        let cp312 = "cp312-cp312-linux_x86_64";
        // The same project in three directories, the newest version in both arch directories.
        wheelhouse.add("gentoo2023/x86-64-v4", wheel("fastcalc", "2.0+cc", cp312, "v4"));
        wheelhouse.add("gentoo2023/x86-64-v3", wheel("fastcalc", "2.0+cc", cp312, "v3"));
        wheelhouse.add(
            "gentoo2023/x86-64-v3",
            wheel("fastcalc", "1.5+cc", "cp311-cp311-linux_x86_64", "v3-old"),
        );
        wheelhouse.add(
            "gentoo2023/generic",
            wheel("fastcalc", "1.0+cc", cp312, "layer-generic"),
        );
        // Pure wheels: 1.10 is newer than 1.2 (PEP 440, not string order).
        wheelhouse.add("generic", wheel("purepkg", "1.2+cc", "py3-none-any", "generic"));
        wheelhouse.add(
            "generic",
            wheel("purepkg", "1.10+cc", "py2.py3-none-any", "generic"),
        );
        wheelhouse.add(
            "gentoo2023/x86-64-v3",
            wheel("limitedapi", "0.5+cc", "cp311-abi3-linux_x86_64", "v3"),
        );
        wheelhouse.add(
            "gentoo2023/generic",
            wheel("only311", "3.0+cc", "cp311-cp311-linux_x86_64", "layer-generic"),
        );
        let mut newpy = wheel("newpy", "3.0+cc", "py3-none-any", "new");
        newpy.metadata = newpy
            .metadata
            .replace("Summary", "Requires-Python: >=3.12\nSummary");
        wheelhouse.add("generic", newpy);
        wheelhouse.add("generic", wheel("newpy", "2.0+cc", "py3-none-any", "old"));
        wheelhouse.add(
            "generic",
            wheel("Data_Tools", "0.1+cc", "py3-none-any", "generic"),
        );
        // A wheel of the deprecated layer: never in a view of gentoo2023.
        wheelhouse.add(
            "gentoo2020/generic",
            wheel("fastcalc", "9.0+cc", cp312, "old-layer"),
        );
        wheelhouse
    }

    pub(crate) fn add(&self, directory: &str, spec: WheelSpec) -> PathBuf {
        let directory = self.root.join(directory);
        std::fs::create_dir_all(&directory).unwrap();
        spec.write(&directory)
    }

    pub(crate) fn path(&self) -> &Path {
        self.directory.path()
    }

    /// `wheelwright --layout LAYOUT ARGS...`
    pub(crate) fn run(&self, args: &[&str]) -> (i32, String, String) {
        run(wheelwright().arg("--layout").arg(&self.layout).args(args))
    }

    /// Like [`Wheelhouse::run`], asserting success; stdout.
    pub(crate) fn ok(&self, args: &[&str]) -> String {
        let (code, stdout, stderr) = self.run(args);
        assert_eq!(code, 0, "{args:?}\n{stdout}{stderr}");
        stdout
    }

    fn canonical_root(&self) -> PathBuf {
        self.root.canonicalize().unwrap()
    }
}

fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

// avail

#[test]
fn avail_shows_the_newest_version_from_the_first_directory_of_the_view() {
    let wheelhouse = Wheelhouse::new();
    let v4 = wheelhouse.ok(&["avail", "--layer", "gentoo2023", "--arch", "x86-64-v4"]);
    assert_eq!(
        lines(&v4),
        [
            "name version python directory",
            "Data_Tools 0.1+cc py3 generic",
            "fastcalc 2.0+cc cp312 gentoo2023/x86-64-v4",
            "limitedapi 0.5+cc cp311-abi3 gentoo2023/x86-64-v3",
            "newpy 3.0+cc py3 generic",
            "only311 3.0+cc cp311 gentoo2023/generic",
            "purepkg 1.10+cc py2.py3 generic",
        ],
        "{v4}"
    );
    let v3 = wheelhouse.ok(&["avail", "--arch", "x86-64-v3", "fastcalc", "limitedapi"]);
    assert_eq!(
        lines(&v3)[1..],
        [
            "fastcalc 2.0+cc cp312 gentoo2023/x86-64-v3",
            "limitedapi 0.5+cc cp311-abi3 gentoo2023/x86-64-v3",
        ],
        "{v3}"
    );
    // A baseline node sees neither arch directory.
    let generic = wheelhouse.ok(&["avail", "--arch", "generic", "fastcalc", "limitedapi"]);
    assert_eq!(
        lines(&generic)[1..],
        ["fastcalc 1.0+cc cp312 gentoo2023/generic"],
        "{generic}"
    );
}

#[test]
fn avail_filters_by_python_and_lists_every_version_on_request() {
    let wheelhouse = Wheelhouse::new();
    let node = ["avail", "--layer", "gentoo2023", "--arch", "x86-64-v4"];
    let py312 = wheelhouse.ok(&[&node[..], &["--python", "3.12"]].concat());
    assert!(!py312.contains("only311"), "{py312}");
    assert!(py312.contains("limitedapi"), "abi3 cp311 runs on 3.12: {py312}");
    let py310 = wheelhouse.ok(&[&node[..], &["--python", "3.10"]].concat());
    assert_eq!(
        lines(&py310)[1..],
        [
            "Data_Tools 0.1+cc py3 generic",
            "newpy 3.0+cc py3 generic",
            "purepkg 1.10+cc py2.py3 generic"
        ],
        "{py310}"
    );
    let py311 = wheelhouse.ok(&[&node[..], &["--python", "3.11", "fastcalc"]].concat());
    assert_eq!(
        lines(&py311)[1..],
        ["fastcalc 1.5+cc cp311 gentoo2023/x86-64-v3"],
        "{py311}"
    );

    let every = wheelhouse.ok(&[&node[..], &["--all-versions", "fastcalc", "purepkg"]].concat());
    assert_eq!(
        lines(&every)[1..],
        [
            "fastcalc 2.0+cc cp312 gentoo2023/x86-64-v4",
            "fastcalc 2.0+cc cp312 gentoo2023/x86-64-v3",
            "fastcalc 1.5+cc cp311 gentoo2023/x86-64-v3",
            "fastcalc 1.0+cc cp312 gentoo2023/generic",
            "purepkg 1.10+cc py2.py3 generic",
            "purepkg 1.2+cc py3 generic",
        ],
        "{every}"
    );
    // A baseline node with --all-archs sees the arch directories too, after its own.
    let all_archs = wheelhouse.ok(&["avail", "--arch", "generic", "--all-archs", "fastcalc"]);
    assert_eq!(
        lines(&all_archs)[1..],
        [
            "fastcalc 2.0+cc cp312 gentoo2023/x86-64-v3",
            "fastcalc 2.0+cc cp312 gentoo2023/x86-64-v4"
        ],
        "{all_archs}"
    );
}

#[test]
fn avail_names_are_case_insensitive_normalised_globs() {
    let wheelhouse = Wheelhouse::new();
    let node = ["avail", "--arch", "x86-64-v4"];
    let found = wheelhouse.ok(&[&node[..], &["FAST*", "data.t*"]].concat());
    assert_eq!(
        lines(&found)[1..],
        [
            "Data_Tools 0.1+cc py3 generic",
            "fastcalc 2.0+cc cp312 gentoo2023/x86-64-v4"
        ],
        "{found}"
    );
    let found = wheelhouse.ok(&[&node[..], &["data-tools"]].concat());
    assert_eq!(lines(&found).len(), 2, "{found}");
}

#[test]
fn avail_json_is_an_array_of_wheels() {
    let wheelhouse = Wheelhouse::new();
    let stdout = wheelhouse.ok(&["avail", "--arch", "x86-64-v4", "--json", "fastcalc", "limitedapi"]);
    let rows: Value = serde_json::from_str(&stdout).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["name"], "fastcalc");
    assert_eq!(rows[0]["version"], "2.0+cc");
    assert_eq!(rows[0]["directory"], "gentoo2023/x86-64-v4");
    assert_eq!(
        rows[0]["file_name"],
        "fastcalc-2.0+cc-cp312-cp312-linux_x86_64.whl"
    );
    assert_eq!(rows[1]["abi_tags"], serde_json::json!(["abi3"]));
    assert_eq!(rows[1]["python"], "cp311-abi3");
    let path = Path::new(rows[1]["path"].as_str().unwrap());
    assert!(path.is_absolute() && path.is_file(), "{}", path.display());
}

#[test]
fn avail_errors_name_the_problem() {
    let wheelhouse = Wheelhouse::new();
    let (code, _, stderr) = wheelhouse.run(&["avail", "--layer", "gentoo2099"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("error: unknown layer `gentoo2099`"), "{stderr}");
    let (code, _, stderr) = wheelhouse.run(&["avail", "--arch", "avx2"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("the layer `gentoo2023` has no arch `avx2`"),
        "{stderr}"
    );
    let (code, stdout, stderr) = wheelhouse.run(&["avail", "--arch", "x86-64-v4", "nothing*"]);
    assert_eq!(code, 1, "{stdout}");
    assert!(stderr.starts_with("no wheel matches nothing* in "), "{stderr}");
    let (code, stdout, _) = wheelhouse.run(&["avail", "--arch", "generic", "--json", "limitedapi"]);
    assert_eq!((code, stdout.trim()), (1, "[]"));
    let (code, _, stderr) = wheelhouse.run(&["avail", "--python", "3", "fastcalc"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("`3` is not a Python version like 3.12"),
        "{stderr}"
    );
}

#[test]
fn avail_detects_the_arch_of_this_cpu_by_default() {
    let wheelhouse = Wheelhouse::new();
    let stdout = wheelhouse.ok(&["avail", "fastcalc"]);
    let directory = lines(&stdout)[1].rsplit(' ').next().unwrap().to_string();
    assert!(
        [
            "gentoo2023/x86-64-v4",
            "gentoo2023/x86-64-v3",
            "gentoo2023/generic"
        ]
        .contains(&directory.as_str()),
        "{stdout}"
    );
}

// pip-config

#[test]
fn pip_config_lists_the_view_in_order() {
    let wheelhouse = Wheelhouse::new();
    let root = wheelhouse.canonical_root();
    let r = root.display();
    let pip = wheelhouse.ok(&["pip-config", "--arch", "x86-64-v4", "--format", "pip"]);
    assert_eq!(
        pip,
        format!(
            "# pip.conf: $PIP_CONFIG_FILE, $VIRTUAL_ENV/pip.conf, ~/.config/pip/pip.conf or /etc/pip.conf\n\
             # The wheelhouse directories of a gentoo2023/x86-64-v4 node, most specific first.\n\
             [global]\nfind-links =\n    {r}/gentoo2023/x86-64-v4\n    {r}/gentoo2023/x86-64-v3\n    \
             {r}/gentoo2023/generic\n    {r}/generic\n"
        )
    );
    let uv_toml = wheelhouse.ok(&[
        "pip-config",
        "--arch",
        "x86-64-v3",
        "--format",
        "uv",
        "--no-index",
    ]);
    let parsed: toml::Table = toml::from_str(&uv_toml).unwrap();
    assert_eq!(parsed["index-strategy"].as_str(), Some("unsafe-best-match"));
    let urls: Vec<&str> = parsed["index"]
        .as_array()
        .unwrap()
        .iter()
        .map(|index| {
            assert_eq!(index["format"].as_str(), Some("flat"));
            index["url"].as_str().unwrap()
        })
        .collect();
    let expected: Vec<String> = ["gentoo2023/x86-64-v3", "gentoo2023/generic", "generic"]
        .iter()
        .map(|relative| root.join(relative).display().to_string())
        .collect();
    assert_eq!(urls, expected);
    assert_eq!(parsed["index"][2]["default"].as_bool(), Some(true));

    let both = wheelhouse.ok(&["pip-config", "--arch", "generic"]);
    assert!(both.starts_with("# pip.conf: "), "{both}");
    assert!(both.contains("\n\n# uv.toml: "), "{both}");

    let json: Value =
        serde_json::from_str(&wheelhouse.ok(&["pip-config", "--arch", "x86-64-v4", "--json"])).unwrap();
    assert_eq!(json["dirs"].as_array().unwrap().len(), 4);
    assert_eq!(json["pip_conf"].as_str().unwrap(), pip);

    let (code, _, stderr) = wheelhouse.run(&["pip-config", "--layer", "nope"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("unknown layer `nope`"), "{stderr}");
}

#[test]
fn pip_config_leaves_out_missing_directories() {
    let wheelhouse = Wheelhouse::new();
    std::fs::remove_dir_all(wheelhouse.root.join("gentoo2023/generic")).unwrap();
    let (code, stdout, stderr) = wheelhouse.run(&["pip-config", "--arch", "x86-64-v3", "--format", "pip"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(!stdout.contains("gentoo2023/generic"), "{stdout}");
    assert!(stderr.contains("gentoo2023/generic does not exist"), "{stderr}");
}

/// `wheelwright ARGS...` with the layout in `$WHEELWRIGHT_LAYOUT` instead of `--layout`.
fn run_with_layout_variable(wheelhouse: &Wheelhouse, args: &[&str]) -> (i32, String, String) {
    run(wheelwright()
        .env("WHEELWRIGHT_LAYOUT", &wheelhouse.layout)
        .args(args))
}

#[test]
fn avail_and_pip_config_name_a_missing_root_and_where_the_layout_came_from() {
    let wheelhouse = Wheelhouse::new();
    let root = wheelhouse.root.display().to_string();
    let layout = wheelhouse.layout.display().to_string();
    std::fs::rename(&wheelhouse.root, wheelhouse.path().join("moved")).unwrap();
    let missing = format!("error: the wheelhouse root `{root}` does not exist; it is the root of");
    let check_hint =
        format!("\nhint: check `root` in {layout} and that the wheelhouse is mounted on this machine");
    for command in [&["avail", "fastcalc"][..], &["pip-config", "--arch", "x86-64-v3"]] {
        let (code, stdout, stderr) = wheelhouse.run(command);
        assert_eq!((code, stdout.as_str()), (1, ""), "{command:?}: {stderr}");
        assert!(
            stderr.contains(&format!("{missing} --layout {layout}{check_hint}")),
            "{command:?}: {stderr}"
        );
        let (code, stdout, stderr) = run_with_layout_variable(&wheelhouse, command);
        assert_eq!((code, stdout.as_str()), (1, ""), "{command:?}: {stderr}");
        assert!(
            stderr.contains(&format!("{missing} $WHEELWRIGHT_LAYOUT = {layout}{check_hint}")),
            "{command:?}: {stderr}"
        );
        // No layout named: the embedded one, whose root is `./wheelhouse` here.
        let (code, stdout, stderr) = run(wheelwright().current_dir(wheelhouse.path()).args(command));
        assert_eq!((code, stdout.as_str()), (1, ""), "{command:?}: {stderr}");
        let embedded = format!(
            "error: the wheelhouse root `{}` does not exist; it is the root of the embedded layout (neither --layout nor $WHEELWRIGHT_LAYOUT was given)\nhint: name the site's layout with --layout FILE or $WHEELWRIGHT_LAYOUT",
            wheelhouse.path().join("wheelhouse").display()
        );
        assert!(stderr.contains(&embedded), "{command:?}: {stderr}");
    }
    // pip-config says how to insist; insisting lists every directory unchecked.
    let (_, _, stderr) = wheelhouse.run(&["pip-config", "--arch", "x86-64-v3"]);
    assert!(
        stderr.ends_with("\nhint: if the nodes mount the wheelhouse at that path, --allow-missing-root writes the configuration unchecked\n"),
        "{stderr}"
    );
    let (code, stdout, stderr) = wheelhouse.run(&[
        "pip-config",
        "--arch",
        "x86-64-v3",
        "--format",
        "pip",
        "--allow-missing-root",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.ends_with(&format!(
            "    {root}/gentoo2023/x86-64-v3\n    {root}/gentoo2023/generic\n    {root}/generic\n"
        )),
        "{stdout}"
    );
    assert!(
        stderr.contains("does not exist here: every directory of the view is listed unchecked"),
        "{stderr}"
    );

    // A root that exists but holds none of the layout's directories is no wheelhouse either.
    std::fs::create_dir_all(wheelhouse.root.join("unrelated")).unwrap();
    for command in [
        &["avail", "fastcalc"][..],
        &["pip-config", "--arch", "x86-64-v3"],
        &["pip-config", "--arch", "x86-64-v3", "--allow-missing-root"],
    ] {
        let (code, stdout, stderr) = wheelhouse.run(command);
        assert_eq!((code, stdout.as_str()), (1, ""), "{command:?}: {stderr}");
        assert!(
            stderr.contains(&format!(
                "error: the wheelhouse root `{root}` is not a wheelhouse: none of the directories the layout defines exists in it (generic, gentoo2020/generic, gentoo2023/generic, gentoo2023/x86-64-v3, gentoo2023/x86-64-v4); it is the root of --layout {layout}"
            )),
            "{command:?}: {stderr}"
        );
    }
    // Nothing was written into the tree.
    assert_eq!(crate::common::listing(&wheelhouse.root), ["unrelated"]);
}

/// A fresh venv (without pip: the base interpreter's pip installs into it with `--python`).
fn venv(python: &Path, directory: &Path) -> PathBuf {
    let venv = directory.join(format!("venv-{}", rand_suffix()));
    let (code, stdout, stderr) = run(Command::new(python)
        .args(["-m", "venv", "--without-pip"])
        .arg(&venv));
    assert_eq!(code, 0, "{stdout}{stderr}");
    venv
}

fn rand_suffix() -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    COUNTER.fetch_add(1, Ordering::Relaxed).to_string()
}

/// `WHERE` of the installed package, or None.
fn installed_marker(venv: &Path, module: &str) -> Option<String> {
    let pattern = venv.join("lib");
    let site = std::fs::read_dir(pattern)
        .ok()?
        .flatten()
        .map(|entry| {
            entry
                .path()
                .join("site-packages")
                .join(module)
                .join("__init__.py")
        })
        .find(|path| path.is_file())?;
    let text = std::fs::read_to_string(site).unwrap();
    Some(
        text.trim()
            .trim_start_matches("WHERE = ")
            .trim_matches('"')
            .to_string(),
    )
}

/// The version of `project` installed in `venv`, from its dist-info directory name.
fn installed_version(venv: &Path, project: &str) -> Option<String> {
    let lib = std::fs::read_dir(venv.join("lib")).ok()?.flatten().next()?.path();
    std::fs::read_dir(lib.join("site-packages"))
        .ok()?
        .flatten()
        .filter_map(|entry| entry.file_name().to_str().map(str::to_string))
        .find_map(|name| {
            name.strip_prefix(&format!("{project}-"))?
                .strip_suffix(".dist-info")
                .map(str::to_string)
        })
}

/// `uv pip install` into `venv` with its settings from `args`, isolated from the user's.
fn uv_install(uv: &Path, venv: &Path, args: &[&str]) -> (i32, String, String) {
    run(Command::new(uv)
        .args(["pip", "install", "--no-cache", "--python"])
        .arg(venv.join("bin/python"))
        .args(args)
        .env_remove("PIP_FIND_LINKS")
        .env_remove("UV_INDEX_URL")
        .env_remove("UV_FIND_LINKS")
        .env_remove("UV_CONFIG_FILE")
        .env_remove("VIRTUAL_ENV"))
}

/// The base interpreter's pip installing into `venv`, isolated from the user's settings.
fn pip_install(python: &Path, venv: &Path, config: Option<&Path>, args: &[&str]) -> (i32, String, String) {
    let mut command = Command::new(python);
    command
        .args(["-m", "pip", "--python"])
        .arg(venv.join("bin/python"))
        .args(["install", "--no-cache-dir", "--disable-pip-version-check"])
        .args(args)
        .env_remove("PIP_FIND_LINKS")
        .env_remove("PIP_INDEX_URL")
        .env_remove("PIP_NO_INDEX")
        .env("PIP_CONFIG_FILE", config.unwrap_or(Path::new("/dev/null")));
    run(&mut command)
}

#[test]
fn uv_installs_from_the_node_arch_with_the_generated_uv_toml() {
    let Some(uv) = uv() else {
        eprintln!("skipped: uv is not on PATH (source ci/install-test-tools.sh)");
        return;
    };
    let python = python(12).expect("CPython 3.12");
    let wheelhouse = Wheelhouse::new();
    for (arch, expected) in [
        ("x86-64-v4", "v4"),
        ("x86-64-v3", "v3"),
        ("generic", "layer-generic"),
    ] {
        let config = wheelhouse.path().join(format!("uv-{arch}.toml"));
        let text = wheelhouse.ok(&["pip-config", "--arch", arch, "--format", "uv", "--no-index"]);
        std::fs::write(&config, text).unwrap();
        let venv = venv(&python, wheelhouse.path());
        let (code, stdout, stderr) = uv_install(
            &uv,
            &venv,
            &["--config-file", config.to_str().unwrap(), "fastcalc", "purepkg"],
        );
        assert_eq!(code, 0, "{arch}: {stdout}{stderr}");
        assert_eq!(
            installed_marker(&venv, "fastcalc").as_deref(),
            Some(expected),
            "{arch}"
        );
        assert_eq!(installed_version(&venv, "purepkg").as_deref(), Some("1.10+cc"));
    }
}

#[test]
fn pip_reads_the_generated_pip_conf() {
    let python = python(12).expect("CPython 3.12");
    let wheelhouse = Wheelhouse::new();
    let config = wheelhouse.path().join("pip.conf");
    let text = wheelhouse.ok(&[
        "pip-config",
        "--arch",
        "x86-64-v4",
        "--format",
        "pip",
        "--no-index",
    ]);
    std::fs::write(&config, text).unwrap();
    let venv = venv(&python, wheelhouse.path());
    let (code, stdout, stderr) = pip_install(&python, &venv, Some(&config), &["fastcalc", "limitedapi"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    // The newest version; which of two identical files pip takes from find-links is pip's
    // choice (by URL, not by find-links order: see docs/wheelhouse-consumers.md).
    assert_eq!(installed_version(&venv, "fastcalc").as_deref(), Some("2.0+cc"));
    assert_eq!(installed_marker(&venv, "limitedapi").as_deref(), Some("v3"));
}

// index

fn sha256_hex(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

pub(crate) fn index(wheelhouse: &Wheelhouse, output: &Path, extra: &[&str]) -> Value {
    let stdout = wheelhouse.ok(&[&["index", "--json", "--output", output.to_str().unwrap()], extra].concat());
    serde_json::from_str(&stdout).unwrap()
}

/// The hrefs of a project page.
fn hrefs(page: &str) -> Vec<String> {
    page.split("<a href=\"")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap().to_string())
        .collect()
}

#[test]
fn index_pages_hashes_and_metadata_files() {
    let wheelhouse = Wheelhouse::new();
    let output = wheelhouse.path().join("index");
    let summary = index(&wheelhouse, &output, &[]);
    // gentoo2023's three views; the deprecated layer's are not written.
    assert_eq!(summary["views"].as_array().unwrap().len(), 3);
    assert_eq!(summary["wheels"], 11, "{summary}");
    assert_eq!(
        (summary["hashed"].as_u64(), summary["cached"].as_u64()),
        (Some(11), Some(0))
    );
    assert!(!output.join("gentoo2020").exists());

    let simple = output.join("gentoo2023/x86-64-v4/simple");
    let root_page = std::fs::read_to_string(simple.join("index.html")).unwrap();
    for project in [
        "data-tools",
        "fastcalc",
        "limitedapi",
        "newpy",
        "only311",
        "purepkg",
    ] {
        assert!(
            root_page.contains(&format!("<a href=\"{project}/\">{project}</a>")),
            "{root_page}"
        );
    }
    let page = std::fs::read_to_string(simple.join("fastcalc/index.html")).unwrap();
    let links = hrefs(&page);
    // The v3 copy of 2.0 has the same file name as the v4 one: only the v4 one is listed.
    let files: Vec<&str> = links.iter().map(|href| href.split('#').next().unwrap()).collect();
    assert_eq!(
        files,
        [
            "../../../../files/gentoo2023/generic/fastcalc-1.0+cc-cp312-cp312-linux_x86_64.whl",
            "../../../../files/gentoo2023/x86-64-v3/fastcalc-1.5+cc-cp311-cp311-linux_x86_64.whl",
            "../../../../files/gentoo2023/x86-64-v4/fastcalc-2.0+cc-cp312-cp312-linux_x86_64.whl",
        ],
        "{page}"
    );
    for href in &links {
        let (file, hash) = href.split_once("#sha256=").unwrap();
        let link = simple.join("fastcalc").join(file);
        // A relative symlink into the tree, with the wheel's hash.
        let target = std::fs::read_link(&link).unwrap();
        assert!(target.is_relative(), "{}", target.display());
        let wheel_name = link.file_name().unwrap().to_str().unwrap().to_string();
        let directory = file
            .trim_start_matches("../../../../files/")
            .rsplit_once('/')
            .unwrap()
            .0;
        let in_tree = wheelhouse.root.join(directory).join(&wheel_name);
        assert_eq!(link.canonicalize().unwrap(), in_tree.canonicalize().unwrap());
        assert_eq!(hash, sha256_hex(&std::fs::read(&in_tree).unwrap()));
        // The metadata file holds METADATA's exact bytes, with its hash on the anchor.
        let metadata = std::fs::read(format!("{}.metadata", link.display())).unwrap();
        let dist_info = wheel_name.split('-').take(2).collect::<Vec<_>>().join("-");
        assert_eq!(
            String::from_utf8(metadata.clone()).unwrap(),
            read_member(&in_tree, &format!("{dist_info}.dist-info/METADATA"))
        );
        let metadata_hash = sha256_hex(&metadata);
        assert!(
            page.contains(&format!(
                "data-dist-info-metadata=\"sha256={metadata_hash}\" data-core-metadata=\"sha256={metadata_hash}\""
            )),
            "{page}"
        );
    }
    let v3_page =
        std::fs::read_to_string(output.join("gentoo2023/x86-64-v3/simple/fastcalc/index.html")).unwrap();
    assert!(
        v3_page.contains("files/gentoo2023/x86-64-v3/fastcalc-2.0+cc"),
        "{v3_page}"
    );
    assert!(!v3_page.contains("x86-64-v4"), "{v3_page}");

    let newpy = std::fs::read_to_string(simple.join("newpy/index.html")).unwrap();
    assert!(newpy.contains("data-requires-python=\"&gt;=3.12\""), "{newpy}");
    assert_eq!(newpy.matches("data-requires-python").count(), 1, "{newpy}");

    // PEP 691 JSON beside each page.
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(simple.join("newpy/index.json")).unwrap()).unwrap();
    assert_eq!(json["meta"]["api-version"], "1.1");
    assert_eq!(json["name"], "newpy");
    assert_eq!(json["versions"], serde_json::json!(["2.0+cc", "3.0+cc"]));
    let newest = &json["files"][1];
    assert_eq!(newest["requires-python"], ">=3.12");
    assert_eq!(newest["filename"], "newpy-3.0+cc-py3-none-any.whl");
    let metadata = std::fs::read(
        simple
            .join("newpy")
            .join(format!("{}.metadata", newest["url"].as_str().unwrap())),
    )
    .unwrap();
    assert_eq!(newest["core-metadata"]["sha256"], sha256_hex(&metadata));
    let root_json: Value =
        serde_json::from_str(&std::fs::read_to_string(simple.join("index.json")).unwrap()).unwrap();
    assert_eq!(root_json["projects"].as_array().unwrap().len(), 6);

    // The baseline view has no limitedapi (it is in x86-64-v3 only).
    let generic_root = std::fs::read_to_string(output.join("gentoo2023/generic/simple/index.html")).unwrap();
    assert!(!generic_root.contains("limitedapi"), "{generic_root}");
    // Nothing was written into the tree.
    let in_tree: Vec<_> = walkdir::WalkDir::new(&wheelhouse.root)
        .into_iter()
        .flatten()
        .filter(|entry| entry.file_type().is_file())
        .filter(|entry| !entry.path().to_string_lossy().ends_with(".whl"))
        .collect();
    assert!(in_tree.is_empty(), "{in_tree:?}");
}

#[test]
fn index_reruns_hash_only_what_changed_and_drop_what_left() {
    let wheelhouse = Wheelhouse::new();
    let output = wheelhouse.path().join("index");
    index(&wheelhouse, &output, &[]);
    let again = index(&wheelhouse, &output, &[]);
    assert_eq!(
        (again["hashed"].as_u64(), again["cached"].as_u64()),
        (Some(0), Some(11)),
        "{again}"
    );
    assert_eq!(again["pages_written"], 0, "{again}");
    assert_eq!(again["removed"], 0, "{again}");

    // A changed wheel is hashed again; a removed one leaves the pages, its link and metadata.
    let rebuilt = wheelhouse.add(
        "generic",
        wheel("purepkg", "1.10+cc", "py2.py3-none-any", "rebuilt"),
    );
    // Another mtime, whatever the filesystem's timestamp granularity.
    std::fs::File::options()
        .write(true)
        .open(&rebuilt)
        .unwrap()
        .set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000))
        .unwrap();
    let removed = wheelhouse.root.join("generic/purepkg-1.2+cc-py3-none-any.whl");
    std::fs::remove_file(&removed).unwrap();
    std::fs::remove_file(
        wheelhouse
            .root
            .join("gentoo2023/generic/only311-3.0+cc-cp311-cp311-linux_x86_64.whl"),
    )
    .unwrap();
    let third = index(&wheelhouse, &output, &[]);
    assert_eq!(
        (third["hashed"].as_u64(), third["cached"].as_u64()),
        (Some(1), Some(8)),
        "{third}"
    );
    let simple = output.join("gentoo2023/x86-64-v3/simple");
    let page = std::fs::read_to_string(simple.join("purepkg/index.html")).unwrap();
    assert!(!page.contains("purepkg-1.2+cc"), "{page}");
    assert!(
        page.contains(&sha256_hex(&std::fs::read(&rebuilt).unwrap())),
        "{page}"
    );
    assert!(
        !output
            .join("files/generic/purepkg-1.2+cc-py3-none-any.whl")
            .exists()
    );
    assert!(
        !output
            .join("files/generic/purepkg-1.2+cc-py3-none-any.whl.metadata")
            .exists()
    );
    assert!(!simple.join("only311").exists());
    assert!(
        !std::fs::read_to_string(simple.join("index.html"))
            .unwrap()
            .contains("only311")
    );
    // 4 files (link + metadata of two wheels) and the pages of only311 in the three views.
    assert_eq!(third["removed"], 4 + 6, "{third}");
    let leftovers: Vec<_> = walkdir::WalkDir::new(&output)
        .into_iter()
        .flatten()
        .filter(|entry| entry.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn index_of_one_view_and_absolute_links() {
    let wheelhouse = Wheelhouse::new();
    let output = wheelhouse.path().join("index");
    let summary = index(
        &wheelhouse,
        &output,
        &[
            "--layer",
            "gentoo2023",
            "--arch",
            "x86-64-v4",
            "--base-url",
            "https://wh.example.org/idx/",
        ],
    );
    assert_eq!(
        summary["views"][0]["url"],
        "https://wh.example.org/idx/gentoo2023/x86-64-v4/simple/"
    );
    assert_eq!(summary["views"].as_array().unwrap().len(), 1);
    assert!(!output.join("gentoo2023/x86-64-v3").exists());
    let page =
        std::fs::read_to_string(output.join("gentoo2023/x86-64-v4/simple/purepkg/index.html")).unwrap();
    assert!(
        page.contains(
            "href=\"https://wh.example.org/idx/files/generic/purepkg-1.10+cc-py2.py3-none-any.whl#sha256="
        ),
        "{page}"
    );
    // Human summary.
    let stdout = wheelhouse.ok(&[
        "index",
        "--output",
        output.to_str().unwrap(),
        "--layer",
        "gentoo2023",
        "--arch",
        "x86-64-v4",
    ]);
    assert!(
        stdout.contains("1 view, 6 projects, 10 wheels (0 hashed, 10 from the cache)"),
        "{stdout}"
    );
    // Never into the tree.
    let inside = wheelhouse.root.join("generic/index");
    let (code, _, stderr) = wheelhouse.run(&["index", "--output", inside.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(stderr.contains("is inside the wheelhouse tree"), "{stderr}");
    let (code, _, stderr) = wheelhouse.run(&[
        "index",
        "--output",
        "x",
        "--layer",
        "gentoo2023",
        "--arch",
        "avx9",
    ]);
    assert_eq!(code, 1);
    assert!(stderr.contains("has no arch `avx9`"), "{stderr}");
}

#[test]
fn pip_installs_the_node_arch_from_the_index() {
    let python = python(12).expect("CPython 3.12");
    let wheelhouse = Wheelhouse::new();
    let output = wheelhouse.path().join("index");
    index(&wheelhouse, &output, &[]);
    for (arch, expected) in [("x86-64-v4", "v4"), ("x86-64-v3", "v3")] {
        let url = format!(
            "file://{}/gentoo2023/{arch}/simple",
            output.canonicalize().unwrap().display()
        );
        let venv = venv(&python, wheelhouse.path());
        let (code, stdout, stderr) = pip_install(
            &python,
            &venv,
            None,
            &["--index-url", &url, "fastcalc", "purepkg", "newpy"],
        );
        assert_eq!(code, 0, "{arch}: {stdout}{stderr}");
        assert_eq!(
            installed_marker(&venv, "fastcalc").as_deref(),
            Some(expected),
            "{arch}"
        );
        assert_eq!(installed_version(&venv, "fastcalc").as_deref(), Some("2.0+cc"));
        assert_eq!(installed_version(&venv, "purepkg").as_deref(), Some("1.10+cc"));
        assert_eq!(installed_version(&venv, "newpy").as_deref(), Some("3.0+cc"));
    }
}

#[test]
fn uv_installs_the_node_arch_from_the_index_and_honours_requires_python() {
    let Some(uv) = uv() else {
        eprintln!("skipped: uv is not on PATH (source ci/install-test-tools.sh)");
        return;
    };
    let wheelhouse = Wheelhouse::new();
    let output = wheelhouse.path().join("index");
    index(&wheelhouse, &output, &[]);
    let base = format!("file://{}/gentoo2023", output.canonicalize().unwrap().display());
    let python312 = python(12).expect("CPython 3.12");
    for (arch, expected) in [("x86-64-v4", "v4"), ("x86-64-v3", "v3")] {
        let venv = venv(&python312, wheelhouse.path());
        let url = format!("{base}/{arch}/simple");
        let (code, stdout, stderr) =
            uv_install(&uv, &venv, &["--no-config", "--index-url", &url, "fastcalc"]);
        assert_eq!(code, 0, "{arch}: {stdout}{stderr}");
        assert_eq!(
            installed_marker(&venv, "fastcalc").as_deref(),
            Some(expected),
            "{arch}"
        );
    }
    // newpy 3.0 requires Python 3.12: a 3.11 environment gets 2.0.
    let python311 = python(11).expect("CPython 3.11");
    let venv = venv(&python311, wheelhouse.path());
    let url = format!("{base}/x86-64-v3/simple");
    let (code, stdout, stderr) = uv_install(
        &uv,
        &venv,
        &["--no-config", "--index-url", &url, "newpy", "fastcalc"],
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(installed_version(&venv, "newpy").as_deref(), Some("2.0+cc"));
    assert_eq!(installed_marker(&venv, "fastcalc").as_deref(), Some("v3-old"));
}

#[test]
fn index_lists_an_unreadable_wheel_without_metadata() {
    let wheelhouse = Wheelhouse::new();
    std::fs::write(
        wheelhouse.root.join("generic/broken-1.0+cc-py3-none-any.whl"),
        b"not a zip",
    )
    .unwrap();
    let output = wheelhouse.path().join("index");
    let (code, stdout, stderr) = wheelhouse.run(&[
        "index",
        "--output",
        output.to_str().unwrap(),
        "--layer",
        "gentoo2023",
        "--arch",
        "generic",
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stderr.contains("generic/broken-1.0+cc-py3-none-any.whl: indexed without its metadata"),
        "{stderr}"
    );
    let page = std::fs::read_to_string(output.join("gentoo2023/generic/simple/broken/index.html")).unwrap();
    assert!(page.contains("broken-1.0+cc-py3-none-any.whl#sha256="), "{page}");
    assert!(!page.contains("data-core-metadata"), "{page}");
    assert!(
        !output
            .join("files/generic/broken-1.0+cc-py3-none-any.whl.metadata")
            .exists()
    );
    // The problem is remembered with the hash: a re-run reports it without reading the wheel.
    let (_, _, stderr) =
        wheelhouse.run(&["index", "--output", output.to_str().unwrap(), "--arch", "generic"]);
    assert!(stderr.contains("indexed without its metadata"), "{stderr}");
}

#[test]
fn index_drops_the_pages_of_views_that_left_the_layout() {
    let wheelhouse = Wheelhouse::new();
    let output = wheelhouse.path().join("index");
    index(&wheelhouse, &output, &[]);
    assert!(output.join("gentoo2023/x86-64-v4/simple/index.html").is_file());
    // The layout loses x86-64-v4 (its wheels stay in the tree, no view shows them).
    let text = std::fs::read_to_string(&wheelhouse.layout).unwrap();
    std::fs::write(
        &wheelhouse.layout,
        text.replace(
            "archs = [\"generic\", \"x86-64-v3\", \"x86-64-v4\"]",
            "archs = [\"generic\", \"x86-64-v3\"]",
        ),
    )
    .unwrap();
    // A run of one view leaves the other views alone.
    index(
        &wheelhouse,
        &output,
        &["--layer", "gentoo2023", "--arch", "generic"],
    );
    assert!(output.join("gentoo2023/x86-64-v4/simple/index.html").is_file());
    // A run of every view would remove the view that is gone: its nodes would lose every
    // project, so it takes --allow-shrink.
    let (code, stdout, stderr) = wheelhouse.run(&["index", "--output", output.to_str().unwrap()]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stderr.contains("gentoo2023/x86-64-v4: 6 -> 0 projects (the view is no longer in the layout); nothing was changed\nhint: pass --allow-shrink"),
        "{stderr}"
    );
    assert!(output.join("gentoo2023/x86-64-v4/simple/index.html").is_file());
    // Allowed, it removes that view, and only it.
    let summary = index(&wheelhouse, &output, &["--allow-shrink"]);
    assert!(!output.join("gentoo2023/x86-64-v4").exists(), "{summary}");
    assert!(output.join("gentoo2023/x86-64-v3/simple/index.html").is_file());
    assert!(output.join("gentoo2023/generic/simple/index.html").is_file());
}
