//! `wheelwright recipe import --from-wheels-builder` on config files written here in the
//! `build_wheel.sh` format: the recipes read back key by key, and the report.

use std::path::Path;
use std::str::FromStr;

use serde_json::{Value, json};
use wheelwright::recipe::{RecipeFile, ResolvedRecipe, TemplateContext, load_recipe_file};

use crate::common::{run, wheelwright};

/// A wheels_builder checkout in a temporary directory: `config/` and `patches/`.
fn checkout(configs: &[(&str, &str)], patches: &[&str]) -> tempfile::TempDir {
    let directory = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(directory.path().join("config")).unwrap();
    std::fs::create_dir_all(directory.path().join("patches")).unwrap();
    for (name, text) in configs {
        std::fs::write(directory.path().join("config").join(name), text).unwrap();
    }
    for name in patches {
        std::fs::write(
            directory.path().join("patches").join(name),
            format!("--- a/{name}\n+++ b/{name}\n"),
        )
        .unwrap();
    }
    directory
}

fn import(checkout: &Path, output: &Path, extra: &[&str]) -> (i32, Value) {
    let mut command = wheelwright();
    command
        .args(["recipe", "import", "--json", "--from-wheels-builder"])
        .arg(checkout.join("config"))
        .arg("-o")
        .arg(output)
        .args(extra);
    let (code, stdout, stderr) = run(&mut command);
    let report: Value =
        serde_json::from_str(&stdout).unwrap_or_else(|error| panic!("{error}: {stdout}{stderr}"));
    (code, report)
}

/// The recipe as written (templates unrendered).
fn as_written(recipe: &RecipeFile) -> Value {
    serde_json::to_value(recipe).unwrap()
}

fn resolve(recipe: &RecipeFile, version: &str, layer: &str, arch: &str) -> ResolvedRecipe {
    let context = TemplateContext {
        version: String::new(),
        python: "3.12".into(),
        arch: arch.into(),
        march: arch.into(),
        cflags: format!("-march={arch}"),
        layer: layer.into(),
    };
    recipe
        .resolve(&pep440_rs::Version::from_str(version).unwrap(), &context)
        .unwrap()
}

fn file_report<'a>(report: &'a Value, config: &str) -> &'a Value {
    report["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|file| {
            file["config"]
                .as_str()
                .unwrap()
                .ends_with(&format!("/config/{config}"))
        })
        .unwrap_or_else(|| panic!("{config}: {report:#}"))
}

const EVERYTHING: &str = r#"# every documented variable
PYTHON_DEPS="cython>=3 meson-python numpy<2"
MODULE_RUNTIME_DEPS="hdf5 cuda/12.6"
MODULE_BUILD_DEPS="cmake"
PRE_DOWNLOAD_COMMANDS="echo fetching $VERSION"
POST_DOWNLOAD_COMMANDS="echo fetched"
PRE_BUILD_COMMANDS="
	sed -i -e 's/-Werror//' setup.py;
	sed -i -e \"s/1.0.0/$VERSION/\" setup.py
"
POST_BUILD_COMMANDS='echo built'
PYTHON_IMPORT_NAME="everything_core"
PYTHON_TESTS="everything_core.answer() == 42"
TEST_COMMAND="pytest --pyargs everything_core"
PATCHES="everything-fix.patch everything-gone.patch"
PACKAGE_DOWNLOAD_ARGUMENT="https://example.org/dist/everything-${VERSION}.tar.gz"
UPDATE_REQUIREMENTS="'tensorflow-cpu->tensorflow'"
RPATH_TO_ADD="'\$ORIGIN/../everything.libs'"
RPATH_ADD_ORIGIN=1
PACKAGE_SUFFIX="-cpu"
PIP_WHEEL_ARGS="--config-settings=setup-args=-Dblas=flexiblas"
BDIST_WHEEL_ARGS="--cpp_ext"
PYTHON_VERSIONS="python/3.12 python/3.13"
PATCH_WHEEL_COMMANDS="unzip -o \$ARCHNAME"
export EVERYTHING_OPENMP=1
HELPER=unused
"#;

const LAYERED: &str = r#"if [[ "$EBVERSIONGENTOO" == "2023" ]]; then
	MODULE_BUILD_DEPS="cuda/12.9"
	export LAYERED_FLAG=new
else
	MODULE_BUILD_DEPS="gcc/9.3.0 cuda/11.7"
	export LAYERED_FLAG=old
fi
if [[ "$RSNT_ARCH" == "avx512" ]]; then
	PYTHON_DEPS="layered-avx512-helper"
fi
if [[ -n "$EBROOTGENTOO" ]]; then
	PRE_BUILD_COMMANDS="echo on gentoo"
fi
PACKAGE_DOWNLOAD_ARGUMENT="https://github.com/org/layered.git"
PACKAGE_DOWNLOAD_NAME="$PACKAGE-$VERSION.tar.gz"
PACKAGE_DOWNLOAD_METHOD="Git"
PACKAGE_DOWNLOAD_CMD="git clone --recursive $PACKAGE_DOWNLOAD_ARGUMENT --branch v${VERSION:?version required} $PACKAGE_FOLDER_NAME"
POST_DOWNLOAD_COMMANDS="tar -zcf ${PACKAGE}-${VERSION}.tar.gz $PACKAGE_FOLDER_NAME"
if [[ $(translate_version $VERSION) -lt $(translate_version '2.0') ]]; then
	PYTHON_DEPS="$PYTHON_DEPS oldhelper"
fi
"#;

#[test]
fn configs_become_recipes_key_by_key() {
    let checkout = checkout(
        &[
            ("everything.sh", EVERYTHING),
            ("layered.sh", LAYERED),
            (
                "versioned.sh",
                "PYTHON_DEPS=\"numpy\"\nPATCHES=\"versioned-fix.patch\"\n",
            ),
            (
                "versioned-1.2.sh",
                "PYTHON_DEPS=\"numpy<2 cython<3\"\nexport VERSIONED_OLD=1\n",
            ),
            ("broken.sh", "echo 'not built from source here'\nexit 1\n"),
            ("syntax.sh", "if [[ 1 == 1 ]; then\nPYTHON_DEPS=x\nfi\n"),
        ],
        &["everything-fix.patch", "versioned-fix.patch"],
    );
    let output = tempfile::tempdir().unwrap();
    let (code, report) = import(checkout.path(), output.path(), &[]);
    assert_eq!(code, 1, "refusals give status 1: {report:#}");
    assert_eq!(report["converted"], 2, "{report:#}");
    assert_eq!(report["converted_with_notes"], 2, "{report:#}");
    assert_eq!(report["refused"], 2, "{report:#}");

    // Every documented variable.
    let recipe = load_recipe_file(&output.path().join("everything.yaml")).unwrap();
    let written = as_written(&recipe);
    assert_eq!(written["package"], "everything");
    assert_eq!(
        written["build_dependencies"],
        json!(["cython>=3", "meson-python", "numpy<2"])
    );
    assert_eq!(written["modules"], json!(["hdf5", "cuda/12.6"]));
    assert_eq!(written["build_modules"], json!(["cmake"]));
    assert_eq!(written["pre_download"], json!(["echo fetching {{ version }}"]));
    assert_eq!(written["post_download"], json!(["echo fetched"]));
    assert_eq!(
        written["pre_build"],
        json!(["sed -i -e 's/-Werror//' setup.py;\nsed -i -e \"s/1.0.0/{{ version }}/\" setup.py"])
    );
    assert_eq!(written["post_build"], json!(["echo built"]));
    assert_eq!(written["import_names"], json!(["everything_core"]));
    assert_eq!(written["test"], "everything_core.answer() == 42");
    assert_eq!(written["test_command"], "pytest --pyargs everything_core");
    assert_eq!(written["patches"], json!(["everything-fix.patch"]));
    assert_eq!(
        written["source"],
        json!({"url": "https://example.org/dist/everything-{{ version }}.tar.gz"})
    );
    assert_eq!(
        written["requirements"],
        json!({"update": ["tensorflow-cpu->tensorflow"]})
    );
    assert_eq!(written["rpath"], json!(["$ORIGIN/../everything.libs", "$ORIGIN"]));
    assert_eq!(written["package_suffix"], "-cpu");
    assert_eq!(
        written["build_args"],
        json!([
            "--config-settings=setup-args=-Dblas=flexiblas",
            "--config-settings=--build-option=--cpp_ext"
        ])
    );
    assert_eq!(written["skip_python"], json!(["3.11"]));
    assert_eq!(written["environment"], json!({"EVERYTHING_OPENMP": "1"}));
    assert!(output.path().join("patches/everything-fix.patch").is_file());
    let resolved = resolve(&recipe, "1.5", "gentoo2023", "x86-64-v3");
    assert_eq!(resolved.pre_download, ["echo fetching 1.5"]);
    let notes = file_report(&report, "everything.sh")["notes"].to_string();
    for expected in [
        "everything-gone.patch",
        "PATCH_WHEEL_COMMANDS",
        "HELPER",
        "BDIST_WHEEL_ARGS",
    ] {
        assert!(notes.contains(expected), "{expected}: {notes}");
    }
    let text = std::fs::read_to_string(output.path().join("everything.yaml")).unwrap();
    assert!(
        text.contains("# the patch `everything-gone.patch` is not in"),
        "{text}"
    );
    assert!(
        text.contains("  - |-\n    sed -i"),
        "multi-line commands are blocks: {text}"
    );

    // Values that differ per layer and arch are template conditions.
    let recipe = load_recipe_file(&output.path().join("layered.yaml")).unwrap();
    let new = resolve(&recipe, "2.1", "gentoo2023", "x86-64-v3");
    let new_v4 = resolve(&recipe, "2.1", "gentoo2023", "x86-64-v4");
    let old = resolve(&recipe, "2.1", "gentoo2020", "avx2");
    let old_v4 = resolve(&recipe, "2.1", "gentoo2020", "avx512");
    assert_eq!(new.build_modules, ["cuda/12.9"]);
    assert_eq!(old.build_modules, ["gcc/9.3.0", "cuda/11.7"]);
    assert_eq!(new.environment["LAYERED_FLAG"], "new");
    assert_eq!(old.environment["LAYERED_FLAG"], "old");
    assert_eq!(new.build_dependencies, Vec::<String>::new());
    assert_eq!(new_v4.build_dependencies, ["layered-avx512-helper"]);
    assert_eq!(old_v4.build_dependencies, ["layered-avx512-helper"]);
    assert_eq!(new.pre_build, ["echo on gentoo"]);
    assert_eq!(
        as_written(&recipe)["source"],
        json!({"git": "https://github.com/org/layered.git", "rev": "v{{ version }}"})
    );
    assert!(
        new.post_download.is_empty(),
        "the archive of the clone is not needed"
    );
    let notes = file_report(&report, "layered.sh")["notes"].to_string();
    assert!(notes.contains("oldhelper"), "the version test is noted: {notes}");
    assert!(notes.contains("--recursive"), "{notes}");

    // A versioned file is a versions entry with what differs at its version.
    let recipe = load_recipe_file(&output.path().join("versioned.yaml")).unwrap();
    let written = as_written(&recipe);
    assert_eq!(written["build_dependencies"], json!(["numpy"]));
    assert_eq!(written["versions"][0]["when"], "==1.2");
    assert_eq!(
        written["versions"][0]["build_dependencies"],
        json!(["numpy<2", "cython<3"])
    );
    assert_eq!(written["versions"][0]["patches"], json!([]));
    assert_eq!(
        written["versions"][0]["environment"],
        json!({"VERSIONED_OLD": "1"})
    );
    let at = resolve(&recipe, "1.2", "gentoo2023", "generic");
    assert!(at.patches.is_empty());
    let later = resolve(&recipe, "1.3", "gentoo2023", "generic");
    assert_eq!(later.build_dependencies, ["numpy"]);
    assert_eq!(later.patches.len(), 1);
    assert_eq!(file_report(&report, "versioned-1.2.sh")["status"], "converted");
    assert_eq!(file_report(&report, "versioned.sh")["status"], "converted");

    // Refusals, with their reasons; nothing written for them.
    let broken = file_report(&report, "broken.sh");
    assert_eq!(broken["status"], "refused");
    assert!(
        broken["reason"]
            .as_str()
            .unwrap()
            .contains("not built from source here"),
        "{broken}"
    );
    assert!(!output.path().join("broken.yaml").exists());
    let syntax = file_report(&report, "syntax.sh");
    assert_eq!(syntax["status"], "refused");
    assert!(
        syntax["reason"].as_str().unwrap().contains("syntax error"),
        "{syntax}"
    );

    // Every recipe written passes `recipe check`.
    let (code, stdout, stderr) = run(wheelwright().args(["recipe", "check"]).arg(output.path()));
    assert_eq!(code, 0, "{stdout}{stderr}");

    // Existing recipes are kept unless --force.
    let (_, again) = import(checkout.path(), output.path(), &[]);
    assert!(
        file_report(&again, "everything.sh")["reason"]
            .as_str()
            .unwrap()
            .contains("--force"),
        "{again:#}"
    );
    let (_, forced) = import(checkout.path(), output.path(), &["--force"]);
    assert_eq!(forced["converted"], 2, "{forced:#}");
}

#[test]
fn configs_cannot_reach_outside_the_sandbox_and_hanging_ones_are_stopped() {
    let marker = tempfile::tempdir().unwrap();
    let victim = marker.path().join("victim");
    std::fs::write(&victim, "keep").unwrap();
    let checkout = checkout(
        &[
            (
                "harmful.sh",
                &format!(
                    "rm -f {victim}\n/bin/rm -f {victim}\necho gone > {victim}\ncd /\nPYTHON_DEPS=\"ok $(ls /)\"\n",
                    victim = victim.display()
                ),
            ),
            ("hanging.sh", "while true; do :; done\n"),
            ("pathy.sh", "export PATH=/bin:$PATH\nPYTHON_DEPS=numpy\n"),
            ("fine.sh", "PYTHON_DEPS=\"numpy\"\n"),
        ],
        &[],
    );
    let output = tempfile::tempdir().unwrap();
    let (_, report) = import(checkout.path(), output.path(), &["--timeout", "1"]);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
    let harmful = file_report(&report, "harmful.sh");
    assert_eq!(harmful["status"], "converted-with-notes", "{harmful}");
    let notes = harmful["notes"].to_string();
    assert!(notes.contains("calls `rm -f"), "{notes}");
    assert!(notes.contains("restricted"), "{notes}");
    let recipe = load_recipe_file(&output.path().join("harmful.yaml")).unwrap();
    assert_eq!(as_written(&recipe)["build_dependencies"], json!(["ok"]));
    let hanging = file_report(&report, "hanging.sh");
    assert_eq!(hanging["status"], "refused");
    assert!(hanging["reason"].as_str().unwrap().contains("time"), "{hanging}");
    assert_eq!(file_report(&report, "fine.sh")["status"], "converted");
    let pathy = file_report(&report, "pathy.sh");
    // PATH stays the empty directory; what bash said is in the notes.
    assert_eq!(pathy["status"], "converted-with-notes");
    assert!(
        pathy["notes"].to_string().contains("PATH: readonly variable"),
        "{pathy}"
    );
}

#[test]
fn the_text_report_counts_and_explains() {
    let checkout = checkout(
        &[
            ("plain.sh", "PYTHON_DEPS=numpy\n"),
            ("stop.sh", "echo unsupported; exit 1\n"),
        ],
        &[],
    );
    let output = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = run(wheelwright()
        .args(["recipe", "import", "--from-wheels-builder"])
        .arg(checkout.path().join("config"))
        .arg("-o")
        .arg(output.path()));
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stdout.contains("ok      "), "{stdout}");
    assert!(stdout.contains("refused "), "{stdout}");
    assert!(stdout.contains("unsupported"), "{stdout}");
    assert!(
        stdout
            .trim_end()
            .ends_with("2 configs: 1 converted, 0 converted with notes, 1 refused"),
        "{stdout}"
    );
}
