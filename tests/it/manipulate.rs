//! `wheelwright manipulate` through the binary: what it writes, and what it refuses.

use std::path::Path;

use crate::common::{
    WheelSpec, file_digest, listing, member_names, patch_bytes, read_member, run, wheelwright,
};

fn verify_ok(wheel: &Path) {
    let (code, stdout, stderr) = run(wheelwright().arg("verify").arg(wheel));
    assert_eq!(code, 0, "verify {}: {stdout}{stderr}", wheel.display());
}

#[test]
fn inserts_the_local_version_everywhere_it_appears() {
    let input_dir = tempfile::tempdir().unwrap();
    let output_dir = tempfile::tempdir().unwrap();
    let mut spec = WheelSpec::new("demo-pkg", "1.85");
    spec.files.push((
        "demo_pkg-1.85.data/scripts/demo".into(),
        b"#!python\nprint(1)\n".to_vec(),
    ));
    let input = spec.write(input_dir.path());
    let before = file_digest(&input);

    let (code, stdout, stderr) = run(wheelwright()
        .args(["manipulate", "--insert-local-version", "-o"])
        .arg(output_dir.path())
        .arg(&input));
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(file_digest(&input), before, "the input must be untouched");
    assert_eq!(
        listing(output_dir.path()),
        ["demo_pkg-1.85+computecanada-py3-none-any.whl"]
    );
    let output = output_dir
        .path()
        .join("demo_pkg-1.85+computecanada-py3-none-any.whl");
    verify_ok(&output);

    let names = member_names(&output);
    assert!(
        names.contains(&"demo_pkg-1.85+computecanada.dist-info/METADATA".to_string()),
        "{names:?}"
    );
    assert!(
        names.contains(&"demo_pkg-1.85+computecanada.data/scripts/demo".to_string()),
        "{names:?}"
    );
    assert!(
        names
            .iter()
            .all(|name| !name.contains("1.85.dist-info") && !name.contains("1.85.data"))
    );
    assert_eq!(
        names.last().unwrap(),
        "demo_pkg-1.85+computecanada.dist-info/RECORD"
    );

    let metadata = read_member(&output, "demo_pkg-1.85+computecanada.dist-info/METADATA");
    assert_eq!(
        metadata,
        spec.metadata
            .replace("Version: 1.85\n", "Version: 1.85+computecanada\n")
    );
    let record = read_member(&output, "demo_pkg-1.85+computecanada.dist-info/RECORD");
    assert!(
        record.contains("\"demo_pkg/data,with \"\"comma\"\".txt\",sha256="),
        "{record}"
    );
    assert!(
        record.ends_with("demo_pkg-1.85+computecanada.dist-info/RECORD,,\n"),
        "{record}"
    );
}

#[test]
fn untouched_entries_are_copied_raw() {
    let directory = tempfile::tempdir().unwrap();
    let input = WheelSpec::new("demo", "1.0").write(directory.path());
    let out = directory.path().join("out");
    let (code, _, stderr) = run(wheelwright()
        .args(["manipulate", "-i", "-o"])
        .arg(&out)
        .arg(&input));
    assert_eq!(code, 0, "{stderr}");
    let output = out.join("demo-1.0+computecanada-py3-none-any.whl");
    let mut before = zip::ZipArchive::new(std::fs::File::open(&input).unwrap()).unwrap();
    let mut after = zip::ZipArchive::new(std::fs::File::open(&output).unwrap()).unwrap();
    for name in ["demo/__init__.py", "demo/data,with \"comma\".txt"] {
        let old = before.by_name(name).unwrap();
        let new = after.by_name(name).unwrap();
        assert_eq!(
            (old.crc32(), old.compressed_size(), old.compression()),
            (new.crc32(), new.compressed_size(), new.compression()),
            "{name}"
        );
    }
}

#[test]
fn a_second_run_changes_nothing() {
    let directory = tempfile::tempdir().unwrap();
    let input = WheelSpec::new("demo", "2.7.1+cpu").write(directory.path());
    let (code, stdout, _) = run(wheelwright()
        .current_dir(directory.path())
        .args(["manipulate", "-i"])
        .arg(&input));
    assert_eq!(code, 0);
    assert!(
        stdout.contains("version 2.7.1+cpu -> 2.7.1+cpu.computecanada"),
        "{stdout}"
    );
    let output = directory
        .path()
        .join("demo-2.7.1+cpu.computecanada-py3-none-any.whl");
    let digest = file_digest(&output);
    let (code, stdout, stderr) = run(wheelwright()
        .current_dir(directory.path())
        .args(["manipulate", "-i"])
        .arg(&output));
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with("ok "), "{stdout}");
    assert_eq!(file_digest(&output), digest);
}

#[test]
fn inplace_replaces_the_wheel() {
    let directory = tempfile::tempdir().unwrap();
    let input = WheelSpec::new("demo", "1.0").write(directory.path());
    let (code, _, stderr) = run(wheelwright()
        .args(["manipulate", "--inplace", "-i", "--add-tag", "torch26"])
        .arg(&input));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        listing(directory.path()),
        ["demo-1.0+torch26.computecanada-py3-none-any.whl"]
    );

    // Same name: the file itself is rewritten.
    let wheel = directory
        .path()
        .join("demo-1.0+torch26.computecanada-py3-none-any.whl");
    let (code, _, stderr) = run(wheelwright()
        .args(["manipulate", "--inplace", "--strip-nvidia"])
        .arg(&wheel));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        listing(directory.path()),
        ["demo-1.0+torch26.computecanada-py3-none-any.whl"]
    );
    assert!(!read_member(&wheel, "demo-1.0+torch26.computecanada.dist-info/METADATA").contains("nvidia"));
    verify_ok(&wheel);
}

#[test]
fn refuses_to_overwrite_without_force() {
    let directory = tempfile::tempdir().unwrap();
    let input = WheelSpec::new("demo", "1.0").write(directory.path());
    let before = file_digest(&input);

    // The output would be the input itself.
    let (code, _, stderr) = run(wheelwright().current_dir(directory.path()).args([
        "manipulate",
        "--strip-nvidia",
        "demo-1.0-py3-none-any.whl",
    ]));
    assert_eq!(code, 1);
    insta::assert_snapshot!("would_replace_input", stderr);
    assert_eq!(file_digest(&input), before);

    // Another file is in the way.
    let out = directory.path().join("out");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("demo-1.0+computecanada-py3-none-any.whl"), b"precious").unwrap();
    let (code, _, stderr) = run(wheelwright().current_dir(directory.path()).args([
        "manipulate",
        "-i",
        "-o",
        "out",
        "demo-1.0-py3-none-any.whl",
    ]));
    assert_eq!(code, 1);
    insta::assert_snapshot!("output_exists", stderr);
    assert_eq!(
        std::fs::read(out.join("demo-1.0+computecanada-py3-none-any.whl")).unwrap(),
        b"precious"
    );
    assert_eq!(
        listing(&out),
        ["demo-1.0+computecanada-py3-none-any.whl"],
        "no temporary file left"
    );

    let (code, _, stderr) = run(wheelwright().current_dir(directory.path()).args([
        "manipulate",
        "-i",
        "--force",
        "-o",
        "out",
        "demo-1.0-py3-none-any.whl",
    ]));
    assert_eq!(code, 0, "{stderr}");
    verify_ok(&out.join("demo-1.0+computecanada-py3-none-any.whl"));
}

#[test]
fn edits_requirements() {
    let directory = tempfile::tempdir().unwrap();
    let mut spec = WheelSpec::new("demo", "1.0");
    spec.metadata = "Metadata-Version: 2.1\r\nName: demo\r\nVersion: 1.0\r\nRequires-Dist: numpy (>=1.19)\r\nRequires-Dist: torch>=2.0; extra == \"gpu\"\r\nRequires-Dist: nvidia-cudnn-cu12==9.5.1.17; extra == \"gpu\"\r\nRequires-Dist: nvidia-ml-py\r\nRequires-Dist: opencv-python\r\nRequires-Dist: triton==3.3.1\r\nProvides-Extra: gpu\r\n\r\nBody\r\n".into();
    let input = spec.write(directory.path());
    let (code, stdout, stderr) = run(wheelwright()
        .current_dir(directory.path())
        .args([
            "manipulate",
            "--insert_local_version",
            "--strip-nvidia",
            "--set-min-numpy",
            "1.26",
            "--set-lt-numpy",
            "2.0",
            "--update-req",
            "torch (~=2.6.0)",
            "--update-req",
            "opencv-python->opencv-python-headless",
            "--add-req",
            "tqdm>=4",
            "--remove-req",
            "triton",
            "-o",
            "out",
            "--wheels",
        ])
        .arg(&input));
    assert_eq!(code, 0, "{stdout}{stderr}");
    insta::assert_snapshot!("requirement_edits_summary", stdout);
    let output = directory
        .path()
        .join("out/demo-1.0+computecanada-py3-none-any.whl");
    verify_ok(&output);
    let metadata = read_member(&output, "demo-1.0+computecanada.dist-info/METADATA");
    assert_eq!(
        metadata,
        "Metadata-Version: 2.1\r\nName: demo\r\nVersion: 1.0+computecanada\r\nRequires-Dist: numpy>=1.26,<2.0\r\nRequires-Dist: torch (~=2.6.0); extra == \"gpu\"\r\nRequires-Dist: nvidia-ml-py\r\nRequires-Dist: opencv-python-headless\r\nRequires-Dist: tqdm>=4\r\nProvides-Extra: gpu\r\n\r\nBody\r\n"
    );
    let (code, stdout, _) = run(wheelwright().args(["manipulate", "--print-req"]).arg(&output));
    assert_eq!(code, 0);
    assert_eq!(
        stdout,
        "numpy>=1.26,<2.0\ntorch (~=2.6.0); extra == \"gpu\"\nnvidia-ml-py\nopencv-python-headless\ntqdm>=4\n"
    );
}

#[test]
fn an_empty_numpy_range_is_refused() {
    let directory = tempfile::tempdir().unwrap();
    let mut spec = WheelSpec::new("demo", "1.0");
    spec.metadata = spec
        .metadata
        .replace("Requires-Dist: six>=1.0", "Requires-Dist: numpy>=2.1");
    spec.write(directory.path());
    let (code, _, stderr) = run(wheelwright().current_dir(directory.path()).args([
        "manipulate",
        "--set-lt-numpy",
        "2.0",
        "-o",
        "out",
        "demo-1.0-py3-none-any.whl",
    ]));
    assert_eq!(code, 1);
    insta::assert_snapshot!("empty_numpy_range", stderr);
    assert!(listing(&directory.path().join("out")).is_empty());
}

#[test]
fn retags_filename_and_wheel_file() {
    let directory = tempfile::tempdir().unwrap();
    let mut spec = WheelSpec::new("demo", "1.0");
    spec.tags = "cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64".into();
    spec.wheel = "Wheel-Version: 1.0\nGenerator: bdist_wheel (0.45.1)\nRoot-Is-Purelib: false\nTag: cp312-cp312-manylinux_2_17_x86_64\nTag: cp312-cp312-manylinux2014_x86_64\n\n".into();
    let input = spec.write(directory.path());
    let (code, _, stderr) = run(wheelwright()
        .args(["manipulate", "-i", "--retag", "*-*-linux_x86_64", "-o"])
        .arg(directory.path().join("out"))
        .arg(&input));
    assert_eq!(code, 0, "{stderr}");
    let output = directory
        .path()
        .join("out/demo-1.0+computecanada-cp312-cp312-linux_x86_64.whl");
    verify_ok(&output);
    assert_eq!(
        read_member(&output, "demo-1.0+computecanada.dist-info/WHEEL"),
        "Wheel-Version: 1.0\nGenerator: bdist_wheel (0.45.1)\nRoot-Is-Purelib: false\nTag: cp312-cp312-linux_x86_64\n\n"
    );

    // A pure wheel that carries libraries becomes a platform wheel.
    let pure = WheelSpec::new("purelib", "1.0").write(directory.path());
    let (code, _, stderr) = run(wheelwright()
        .args([
            "manipulate",
            "--python-tag",
            "cp312",
            "--abi-tag",
            "cp312",
            "--platform-tag",
            "linux_x86_64",
            "-o",
        ])
        .arg(directory.path().join("out"))
        .arg(&pure));
    assert_eq!(code, 0, "{stderr}");
    let output = directory
        .path()
        .join("out/purelib-1.0-cp312-cp312-linux_x86_64.whl");
    verify_ok(&output);
    let wheel = read_member(&output, "purelib-1.0.dist-info/WHEEL");
    assert!(
        wheel.contains("Root-Is-Purelib: false\n") && wheel.contains("Tag: cp312-cp312-linux_x86_64\n"),
        "{wheel}"
    );
}

#[test]
fn signatures_are_dropped_and_unlisted_files_recorded() {
    let directory = tempfile::tempdir().unwrap();
    let mut spec = WheelSpec::new("demo", "1.0");
    spec.unlisted
        .push(("demo-1.0.dist-info/RECORD.jws".into(), b"{}".to_vec()));
    spec.unlisted.push(("demo/extra.py".into(), b"x = 1\n".to_vec()));
    let input = spec.write(directory.path());
    let (code, _, stderr) = run(wheelwright()
        .args(["manipulate", "-i", "-o"])
        .arg(directory.path().join("out"))
        .arg(&input));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("dropped the signature `demo-1.0.dist-info/RECORD.jws`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("RECORD did not list (or hash) 1 file; added them: demo/extra.py"),
        "{stderr}"
    );
    let output = directory
        .path()
        .join("out/demo-1.0+computecanada-py3-none-any.whl");
    verify_ok(&output);
    assert!(
        !member_names(&output)
            .iter()
            .any(|name| name.ends_with("RECORD.jws"))
    );
}

#[test]
fn json_output_describes_each_wheel() {
    let directory = tempfile::tempdir().unwrap();
    let good = WheelSpec::new("demo", "1.0").write(directory.path());
    std::fs::write(directory.path().join("broken-1.0-py3-none-any.whl"), b"not a zip").unwrap();
    let (code, stdout, _) = run(wheelwright()
        .current_dir(directory.path())
        .args(["manipulate", "-i", "--strip-nvidia", "--json", "-o", "out"])
        .arg(&good)
        .arg("broken-1.0-py3-none-any.whl"));
    assert_eq!(code, 1, "one wheel failed");
    let value: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(value[0]["status"], "written");
    assert_eq!(value[0]["new_version"], "1.0+computecanada");
    assert_eq!(value[0]["requirements"], serde_json::json!(["six>=1.0"]));
    assert_eq!(value[1]["status"], "error");
    assert!(value[1]["error"].as_str().unwrap().contains("not a zip archive"));
    assert_eq!(
        listing(&directory.path().join("out")),
        ["demo-1.0+computecanada-py3-none-any.whl"]
    );
}

/// Runs manipulate on a damaged wheel: it must fail, name the file and the problem, leave the
/// input as it was and the output directory empty.
fn refused(directory: &Path, wheel_name: &str, extra: &[&str]) -> String {
    let input = directory.join(wheel_name);
    let before = file_digest(&input);
    let (code, stdout, stderr) = run(wheelwright()
        .current_dir(directory)
        .args(["manipulate", "-i", "-o", "out"])
        .args(extra)
        .arg(wheel_name));
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert_eq!(file_digest(&input), before, "input changed");
    let out = directory.join("out");
    assert!(
        !out.exists() || listing(&out).is_empty(),
        "left {:?}",
        listing(&out)
    );
    assert!(stderr.contains(wheel_name), "{stderr}");
    stderr
}

#[test]
fn bad_input_is_refused_with_a_clear_error() {
    let directory = tempfile::tempdir().unwrap();
    let dir = directory.path();
    let mut messages = Vec::new();

    std::fs::write(dir.join("text-1.0-py3-none-any.whl"), "hello").unwrap();
    messages.push(refused(dir, "text-1.0-py3-none-any.whl", &[]));

    let whole = std::fs::read(WheelSpec::new("cut", "1.0").write(dir)).unwrap();
    std::fs::write(dir.join("cut-1.0-py3-none-any.whl"), &whole[..whole.len() / 2]).unwrap();
    messages.push(refused(dir, "cut-1.0-py3-none-any.whl", &[]));

    let mut spec = WheelSpec::new("nodist", "1.0");
    spec.dist_info_override = Some("nodist-1.0.info".into());
    spec.write(dir);
    messages.push(refused(dir, "nodist-1.0-py3-none-any.whl", &[]));

    let mut spec = WheelSpec::new("twodist", "1.0");
    spec.unlisted.push((
        "other-2.0.dist-info/METADATA".into(),
        b"Name: other\nVersion: 2.0\n".to_vec(),
    ));
    spec.write(dir);
    messages.push(refused(dir, "twodist-1.0-py3-none-any.whl", &[]));

    let mut spec = WheelSpec::new("mismatch", "1.0");
    spec.metadata = spec.metadata.replace("Version: 1.0", "Version: 1.1");
    spec.write(dir);
    messages.push(refused(dir, "mismatch-1.0-py3-none-any.whl", &[]));

    let mut spec = WheelSpec::new("wrongdir", "1.0");
    spec.dist_info_override = Some("wrongdir-2.0.dist-info".into());
    spec.write(dir);
    messages.push(refused(dir, "wrongdir-1.0-py3-none-any.whl", &[]));

    let mut spec = WheelSpec::new("escape", "1.0");
    spec.files.push(("zz/evil.py".into(), b"boom".to_vec()));
    let path = spec.write(dir);
    patch_bytes(&path, "zz/evil.py", "../evil.py");
    messages.push(refused(dir, "escape-1.0-py3-none-any.whl", &[]));

    let mut spec = WheelSpec::new("absolute", "1.0");
    spec.files.push(("zz/evil.py".into(), b"boom".to_vec()));
    let path = spec.write(dir);
    patch_bytes(&path, "zz/evil.py", "/z/evil.py");
    messages.push(refused(dir, "absolute-1.0-py3-none-any.whl", &[]));

    let mut spec = WheelSpec::new("link", "1.0");
    spec.symlink = Some(("link/passwd".into(), "/etc/passwd".into()));
    spec.write(dir);
    messages.push(refused(dir, "link-1.0-py3-none-any.whl", &[]));

    let mut spec = WheelSpec::new("twice", "1.0");
    spec.files.push(("twice/a.py".into(), b"a".to_vec()));
    spec.files.push(("twice/b.py".into(), b"b".to_vec()));
    let path = spec.write(dir);
    patch_bytes(&path, "twice/b.py", "twice/a.py");
    messages.push(refused(dir, "twice-1.0-py3-none-any.whl", &[]));

    let mut spec = WheelSpec::new("bomb", "1.0");
    spec.files.push(("bomb/zeros.bin".into(), vec![0; 12 << 20]));
    spec.write(dir);
    messages.push(refused(
        dir,
        "bomb-1.0-py3-none-any.whl",
        &["--max-unpacked-size", "10000000"],
    ));

    let mut spec = WheelSpec::new("badrecord", "1.0");
    spec.record = Some("badrecord/__init__.py,sha256=xyz,12\n".into());
    spec.write(dir);
    messages.push(refused(dir, "badrecord-1.0-py3-none-any.whl", &[]));

    std::fs::write(dir.join("not-a-wheel-name.whl"), "x").unwrap();
    messages.push(refused(dir, "not-a-wheel-name.whl", &[]));

    insta::assert_snapshot!("bad_input_errors", messages.join(""));
}

#[test]
fn a_metadata_member_that_inflates_past_its_size_is_caught() {
    let directory = tempfile::tempdir().unwrap();
    let mut spec = WheelSpec::new("liar", "1.0");
    // A METADATA larger than the member limit is refused before inflating it.
    spec.metadata.push_str(&"x".repeat(70 << 20));
    spec.write(directory.path());
    let stderr = refused(directory.path(), "liar-1.0-py3-none-any.whl", &[]);
    assert!(
        stderr.contains(
            "liar-1.0.dist-info/METADATA` inflates to 73400502 bytes, more than the limit of 67108864"
        ),
        "{stderr}"
    );
}

#[test]
fn usage_errors_are_clear() {
    let (code, _, stderr) = run(wheelwright().args(["manipulate", "x.whl"]));
    assert_eq!(code, 1);
    assert!(stderr.contains("no change requested"), "{stderr}");
    let (code, _, stderr) = run(wheelwright().args(["manipulate", "--add-req", "numpy >=", "x.whl"]));
    assert_eq!(code, 1);
    assert!(stderr.contains("--add-req numpy >="), "{stderr}");
    let (code, _, stderr) = run(wheelwright().args(["manipulate", "--strip", "nothing", "x.whl"]));
    assert_eq!(code, 1);
    assert!(
        stderr.contains("no requirement-stripping rule `nothing` (it has: nvidia)"),
        "{stderr}"
    );
}

#[test]
fn updating_a_requirement_keeps_its_extras_and_marker() {
    let directory = tempfile::tempdir().unwrap();
    let mut spec = WheelSpec::new("demo", "1.0");
    spec.metadata = spec.metadata.replace(
        "Requires-Dist: six>=1.0\n",
        "Requires-Dist: six>=1.0\nRequires-Dist: numpy[dev]>=1.0; extra == \"dev\"\nRequires-Dist: opencv-python[gui]>=4\nProvides-Extra: dev\n",
    );
    let input = spec.write(directory.path());
    let (code, stdout, stderr) = run(wheelwright()
        .current_dir(directory.path())
        .args([
            "manipulate",
            "--update-req",
            "numpy>=1.26",
            "--update-req",
            "opencv-python->opencv-python-headless>=4.8",
            "--set-lt-numpy",
            "3",
            "-o",
            "out",
        ])
        .arg(&input));
    assert_eq!(code, 0, "{stdout}{stderr}");
    let output = directory.path().join("out/demo-1.0-py3-none-any.whl");
    verify_ok(&output);
    let metadata = read_member(&output, "demo-1.0.dist-info/METADATA");
    assert!(
        metadata.contains("Requires-Dist: numpy[dev]>=1.26,<3; extra == \"dev\"\n"),
        "{metadata}"
    );
    assert!(
        metadata.contains("Requires-Dist: opencv-python-headless[gui]>=4.8\n"),
        "{metadata}"
    );
    assert!(
        stdout.contains(
            "updated requirement `numpy[dev]>=1.0; extra == \"dev\"` to `numpy[dev]>=1.26; extra == \"dev\"`"
        ),
        "{stdout}"
    );
}

#[test]
fn a_repeated_entry_is_named() {
    let directory = tempfile::tempdir().unwrap();
    let mut spec = WheelSpec::new("twice", "1.0");
    spec.files.push(("twice/a.py".into(), b"a".to_vec()));
    spec.files.push(("twice/b.py".into(), b"b".to_vec()));
    let path = spec.write(directory.path());
    patch_bytes(&path, "twice/b.py", "twice/a.py");
    let stderr = refused(directory.path(), "twice-1.0-py3-none-any.whl", &[]);
    assert!(
        stderr.contains("the archive has two entries named `twice/a.py`"),
        "{stderr}"
    );
    // verify and inspect say the same.
    let (code, stdout, stderr) = run(wheelwright().arg("verify").arg(&path));
    assert_eq!(code, 1);
    assert!(
        format!("{stdout}{stderr}").contains("two entries named `twice/a.py`"),
        "{stdout}{stderr}"
    );
}

#[test]
fn a_member_compressed_with_bzip2_or_lzma_is_named_not_called_damage() {
    let directory = tempfile::tempdir().unwrap();
    for (name, method, said) in [
        ("bzipped", "ZIP_BZIP2", "bzip2 (zip method 12)"),
        ("lzmaed", "ZIP_LZMA", "LZMA (zip method 14)"),
    ] {
        let path = WheelSpec::new(name, "1.0").write(directory.path());
        let member = format!("{name}/__init__.py");
        crate::common::recompress_member(&path, &member, method);
        let wheel_name = format!("{name}-1.0-py3-none-any.whl");
        let stderr = refused(directory.path(), &wheel_name, &[]);
        assert!(
            stderr.contains(&format!(
                "the entry `{member}` is compressed with {said}, which wheelwright does not read"
            )),
            "{stderr}"
        );
        assert!(
            !stderr.contains("damaged") && !stderr.contains("corrupt"),
            "{stderr}"
        );
        for command in ["verify", "inspect"] {
            let (code, stdout, stderr) = run(wheelwright().arg(command).arg(&path));
            assert_eq!(code, 1, "{command}: {stdout}{stderr}");
            let all = format!("{stdout}{stderr}");
            assert!(
                all.contains(&format!("`{member}` is compressed with {said}")),
                "{command}: {all}"
            );
            assert!(!all.contains("damaged"), "{command}: {all}");
        }
    }
}

#[test]
fn a_record_that_does_not_match_is_refused_unless_accepted() {
    let directory = tempfile::tempdir().unwrap();
    let mut spec = WheelSpec::new("tampered", "1.0");
    spec.wrong_hash_for = vec!["tampered/__init__.py".into()];
    let input = spec.write(directory.path());
    let stderr = refused(directory.path(), "tampered-1.0-py3-none-any.whl", &[]);
    // The member, what RECORD says (the hash of "other bytes") and what it really is.
    assert!(
        stderr.contains("RECORD does not match the content of 1 member: `tampered/__init__.py` has sha256=",),
        "{stderr}"
    );
    assert!(
        stderr.contains("but RECORD says sha256=o-rV7trV34IxjFFoXbwcFHo20f-FhPyC3msI0L9jp5U (20 bytes)"),
        "{stderr}"
    );
    assert!(stderr.contains("hint: --accept-bad-record"), "{stderr}");
    // In place too: the input stays as it was.
    let before = file_digest(&input);
    let (code, _, stderr) = run(wheelwright().args(["manipulate", "--inplace", "-i"]).arg(&input));
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(file_digest(&input), before);
    // No new wheel, no temporary file beside it (`out` is the earlier run's, empty).
    assert_eq!(
        listing(directory.path()),
        ["out", "tampered-1.0-py3-none-any.whl"]
    );
    assert!(listing(&directory.path().join("out")).is_empty());

    // Accepted: written, RECORD true, and the change said.
    let (code, stdout, stderr) = run(wheelwright()
        .current_dir(directory.path())
        .args(["manipulate", "-i", "--accept-bad-record", "--json", "-o", "out"])
        .arg(&input));
    assert_eq!(code, 0, "{stdout}{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report[0]["status"], "written");
    let changes = report[0]["changes"].to_string();
    assert!(
        changes.contains("--accept-bad-record") && changes.contains("`tampered/__init__.py`"),
        "{changes}"
    );
    assert!(stderr.contains("RECORD did not match the content"), "{stderr}");
    verify_ok(
        &directory
            .path()
            .join("out/tampered-1.0+computecanada-py3-none-any.whl"),
    );
}

/// A wheel whose requirements are `lines` (in place of the default ones).
fn wheel_requiring(directory: &Path, lines: &[&str]) -> std::path::PathBuf {
    let mut spec = WheelSpec::new("demo", "1.0");
    let requirements: String = lines
        .iter()
        .map(|line| format!("Requires-Dist: {line}\n"))
        .collect();
    spec.metadata = spec.metadata.replace(
        "Requires-Dist: six>=1.0\nRequires-Dist: nvidia-cublas-cu12==12.6.4.1; platform_system == \"Linux\"\n",
        &requirements,
    );
    spec.write(directory)
}

#[test]
fn both_numpy_bounds_apply_to_a_wheel_without_numpy_in_any_order() {
    let directory = tempfile::tempdir().unwrap();
    let input = wheel_requiring(directory.path(), &["six>=1.0"]);
    for (index, flags) in [
        ["--set-min-numpy", "1.2", "--set-lt-numpy", "3"],
        ["--set-lt-numpy", "3", "--set-min-numpy", "1.2"],
    ]
    .iter()
    .enumerate()
    {
        let out = directory.path().join(format!("out{index}"));
        let (code, stdout, stderr) = run(wheelwright()
            .arg("manipulate")
            .args(flags)
            .arg("-o")
            .arg(&out)
            .arg(&input));
        assert_eq!(code, 0, "{flags:?}: {stdout}{stderr}");
        let output = out.join("demo-1.0-py3-none-any.whl");
        verify_ok(&output);
        let metadata = read_member(&output, "demo-1.0.dist-info/METADATA");
        assert!(
            metadata.contains("Requires-Dist: six>=1.0\nRequires-Dist: numpy>=1.2,<3\n"),
            "{flags:?}: {metadata}"
        );
        assert!(
            stdout.contains("added requirement `numpy>=1.2,<3` (there was no numpy requirement)"),
            "{stdout}"
        );
    }
    // Bounds that leave nothing are refused, as for a requirement that was there.
    let (code, _, stderr) = run(wheelwright()
        .args(["manipulate", "--set-min-numpy", "3", "--set-lt-numpy", "2", "-o"])
        .arg(directory.path().join("empty"))
        .arg(&input));
    assert_eq!(code, 1);
    assert!(stderr.contains("leaves no version"), "{stderr}");
}

#[test]
fn a_rename_keeps_the_specifiers_extras_and_marker() {
    let directory = tempfile::tempdir().unwrap();
    let input = wheel_requiring(
        directory.path(),
        &["urllib3<3,>=1.21.1", "urllib3[socks]>=1.26; extra == \"socks\""],
    );
    let (code, stdout, stderr) = run(wheelwright()
        .args(["manipulate", "-u", "urllib3->urllib3-fork", "-o", "out"])
        .current_dir(directory.path())
        .arg(&input));
    assert_eq!(code, 0, "{stdout}{stderr}");
    let output = directory.path().join("out/demo-1.0-py3-none-any.whl");
    verify_ok(&output);
    let metadata = read_member(&output, "demo-1.0.dist-info/METADATA");
    assert!(
        metadata.contains(
            "Requires-Dist: urllib3-fork<3,>=1.21.1\nRequires-Dist: urllib3-fork[socks]>=1.26; extra == \"socks\"\n"
        ),
        "{metadata}"
    );
    // The new requirement's own specifiers win.
    let (code, stdout, stderr) = run(wheelwright()
        .args(["manipulate", "-u", "urllib3->urllib3-fork>=2", "-p"])
        .arg(&input));
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(
        stdout,
        "urllib3-fork>=2\nurllib3-fork[socks]>=2; extra == \"socks\"\n"
    );
}

#[test]
fn print_req_previews_the_edits_and_writes_nothing() {
    let directory = tempfile::tempdir().unwrap();
    let input = wheel_requiring(directory.path(), &["urllib3<3,>=1.21.1", "six"]);
    let before = file_digest(&input);
    let (code, stdout, stderr) = run(wheelwright()
        .current_dir(directory.path())
        .args(["manipulate", "-u", "urllib3->urllib3-fork", "-i", "-p"])
        .arg(&input));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout, "urllib3-fork<3,>=1.21.1\nsix\n");
    assert!(
        stderr.contains("warning: --print-req only previews the edits: nothing was written"),
        "{stderr}"
    );
    assert_eq!(listing(directory.path()), ["demo-1.0-py3-none-any.whl"]);
    assert_eq!(file_digest(&input), before);
    // As JSON: the outcome of each wheel, nothing written.
    let (code, stdout, stderr) = run(wheelwright()
        .current_dir(directory.path())
        .args(["manipulate", "-u", "six>=1.16", "-p", "--json"])
        .arg(&input));
    assert_eq!(code, 0, "{stderr}");
    let value: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(value[0]["status"], "preview");
    assert_eq!(
        value[0]["requirements"],
        serde_json::json!(["urllib3<3,>=1.21.1", "six>=1.16"])
    );
    assert_eq!(listing(directory.path()), ["demo-1.0-py3-none-any.whl"]);
    // Flags that only mean something when writing are refused with it.
    for flag in [&["--inplace"][..], &["-o", "out"], &["--force"]] {
        let (code, _, stderr) = run(wheelwright()
            .current_dir(directory.path())
            .args(["manipulate", "-i", "-p"])
            .args(flag)
            .arg(&input));
        assert_eq!(code, 2, "{flag:?}");
        assert!(stderr.contains("cannot be used with"), "{stderr}");
    }
    assert_eq!(listing(directory.path()), ["demo-1.0-py3-none-any.whl"]);
}

#[test]
fn an_identical_existing_output_is_already_there_not_an_error() {
    let directory = tempfile::tempdir().unwrap();
    let input = WheelSpec::new("demo", "1.0").write(directory.path());
    let out = directory.path().join("out");
    let output = out.join("demo-1.0+computecanada-py3-none-any.whl");
    let manipulate = |extra: &[&str]| {
        run(wheelwright()
            .args(["manipulate", "-i", "-o"])
            .arg(&out)
            .args(extra)
            .arg(&input))
    };
    let (code, stdout, stderr) = manipulate(&[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with("wrote "), "{stdout}");
    let digest = file_digest(&output);
    // Again: the same bytes are there already; no --force needed, nothing replaced.
    let (code, stdout, stderr) = manipulate(&[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with("there "), "{stdout}");
    assert!(stdout.contains("already there"), "{stdout}");
    assert_eq!(file_digest(&output), digest);
    assert_eq!(
        listing(&out),
        ["demo-1.0+computecanada-py3-none-any.whl"],
        "no scratch file left"
    );
    let (code, stdout, _) = manipulate(&["--json"]);
    assert_eq!(code, 0);
    let value: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(value[0]["status"], "already-there");
    // A wheel that needs no change, copied: the same again.
    let (code, stdout, stderr) = run(wheelwright()
        .args(["manipulate", "-i", "-o"])
        .arg(directory.path().join("copies"))
        .arg(&output));
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with("copied "), "{stdout}");
    let (code, stdout, stderr) = run(wheelwright()
        .args(["manipulate", "-i", "-o"])
        .arg(directory.path().join("copies"))
        .arg(&output));
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with("there "), "{stdout}");
    // Other bytes are still refused without --force.
    let (code, _, stderr) = manipulate(&["--strip-nvidia"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("already exists; pass --force"), "{stderr}");
    assert_eq!(file_digest(&output), digest);
    assert_eq!(
        listing(&out),
        ["demo-1.0+computecanada-py3-none-any.whl"],
        "no scratch file left"
    );
    // In place, onto an identical wheel of the new name: the input goes, as with --force.
    let beside = tempfile::tempdir().unwrap();
    std::fs::copy(&input, beside.path().join("demo-1.0-py3-none-any.whl")).unwrap();
    std::fs::copy(
        &output,
        beside.path().join("demo-1.0+computecanada-py3-none-any.whl"),
    )
    .unwrap();
    let (code, stdout, stderr) = run(wheelwright().current_dir(beside.path()).args([
        "manipulate",
        "-i",
        "--inplace",
        "demo-1.0-py3-none-any.whl",
    ]));
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.starts_with("there "), "{stdout}");
    assert_eq!(
        listing(beside.path()),
        ["demo-1.0+computecanada-py3-none-any.whl"]
    );
    assert_eq!(
        file_digest(&beside.path().join("demo-1.0+computecanada-py3-none-any.whl")),
        digest
    );
}

/// A wheel with members of many sizes: a large one first (20 MiB that deflate poorly, hashed
/// on a thread of its own as it is inflated), a medium one, and forty small ones, so that the
/// check of RECORD reads several members at once, the largest first.
fn many_sizes(name: &str) -> WheelSpec {
    let mut spec = WheelSpec::new(name, "1.0");
    let mut state = 0x2545_f491_u32;
    let mut noise = |length: usize| -> Vec<u8> {
        (0..length)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                (state % 13) as u8
            })
            .collect()
    };
    spec.files.insert(0, (format!("{name}/big.bin"), noise(20 << 20)));
    spec.files.push((format!("{name}/medium.bin"), noise(3 << 20)));
    for number in 0..40 {
        spec.files.push((
            format!("{name}/m{number:02}.py"),
            format!("value = {number}\n").into_bytes(),
        ));
    }
    spec
}

/// `record` with the row of `member` changed by `change` (or dropped when it gives None).
fn edit_row(record: &str, member: &str, change: impl Fn(&str) -> Option<String>) -> String {
    record
        .lines()
        .filter_map(|line| {
            if line.starts_with(&format!("{member},")) {
                change(line)
            } else {
                Some(line.to_string())
            }
        })
        .map(|line| line + "\n")
        .collect()
}

#[test]
fn the_parallel_check_names_a_bad_member_that_is_neither_first_nor_largest() {
    let directory = tempfile::tempdir().unwrap();
    let dir = directory.path();

    // RECORD gives the hash of other bytes for a small member in the middle.
    let mut spec = many_sizes("wronghash");
    spec.wrong_hash_for = vec!["wronghash/m17.py".into()];
    spec.write(dir);
    let stderr = refused(dir, "wronghash-1.0-py3-none-any.whl", &[]);
    assert!(
        stderr.contains("RECORD does not match the content of 1 member: `wronghash/m17.py` has sha256="),
        "{stderr}"
    );

    // RECORD gives another size.
    let mut spec = many_sizes("wrongsize");
    let path = spec.write(dir);
    let record = read_member(&path, "wrongsize-1.0.dist-info/RECORD");
    spec.record = Some(edit_row(&record, "wrongsize/m23.py", |row| {
        let (head, size) = row.rsplit_once(',').unwrap();
        Some(format!("{head},{}", size.parse::<u64>().unwrap() + 1))
    }));
    spec.write(dir);
    let stderr = refused(dir, "wrongsize-1.0-py3-none-any.whl", &[]);
    assert!(
        stderr.contains("RECORD does not match the content of 1 member: `wrongsize/m23.py` has sha256=")
            && stderr.contains("(11 bytes) but RECORD says sha256=")
            && stderr.contains("(12 bytes)"),
        "{stderr}"
    );

    // A member's bytes changed in the archive: its zip CRC-32 no longer matches.
    let mut spec = many_sizes("badcrc");
    spec.stored = true;
    let path = spec.write(dir);
    patch_bytes(&path, "value = 31\n", "value = 3!\n");
    let stderr = refused(dir, "badcrc-1.0-py3-none-any.whl", &[]);
    assert!(
        stderr.contains("`badcrc/m31.py` cannot be inflated: Invalid checksum"),
        "{stderr}"
    );

    // A member RECORD does not list: verify names it; manipulate adds its row and says so.
    let mut spec = many_sizes("unlisted");
    let path = spec.write(dir);
    let record = read_member(&path, "unlisted-1.0.dist-info/RECORD");
    spec.record = Some(edit_row(&record, "unlisted/m29.py", |_| None));
    let path = spec.write(dir);
    let (code, stdout, _) = run(wheelwright().arg("verify").arg(&path));
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains("`unlisted/m29.py` is in the archive but not in RECORD"),
        "{stdout}"
    );
    let (code, stdout, stderr) = run(wheelwright()
        .current_dir(dir)
        .args(["manipulate", "-i", "-o", "out"])
        .arg(&path));
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stderr.contains("RECORD did not list (or hash) 1 file; added them: unlisted/m29.py"),
        "{stderr}"
    );
    verify_ok(&dir.join("out/unlisted-1.0+computecanada-py3-none-any.whl"));
}
