//! `wheelwright manipulate`: rewrite wheels' version, requirements and tags.

use crate::outln;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

use crate::cli::ManipulateArgs;
use crate::layout::Layout;
use crate::spec::requirements::RequirementEdit;
use crate::wheel::{
    Destination, Limits, OutcomeStatus, PlaceOptions, Rewrite, TagChange, WheelErrorKind, preview_wheel,
    rewrite_wheel,
};

/// Turns the flags into one [`Rewrite`], checking every requirement and rule name up front.
fn build_rewrite(args: &ManipulateArgs, layout: &Layout) -> anyhow::Result<Rewrite> {
    let mut edits = Vec::new();
    for text in &args.update_req {
        edits.push(RequirementEdit::update(text).with_context(|| format!("--update-req {text}"))?);
    }
    for text in &args.add_req {
        edits.push(RequirementEdit::add(text).with_context(|| format!("--add-req {text}"))?);
    }
    for text in &args.remove_req {
        edits.push(RequirementEdit::remove(text).with_context(|| format!("--remove-req {text}"))?);
    }
    if args.set_min_numpy.is_some() || args.set_lt_numpy.is_some() {
        edits.push(RequirementEdit::numpy_bounds(
            args.set_min_numpy.as_deref(),
            args.set_lt_numpy.as_deref(),
        )?);
    }
    let mut rules: Vec<&str> = args.strip.iter().map(String::as_str).collect();
    if args.strip_nvidia && !rules.contains(&"nvidia") {
        rules.push("nvidia");
    }
    for name in rules {
        let rule = layout.strip_rule(name).map_err(anyhow::Error::msg)?;
        edits.push(RequirementEdit::Strip(rule.rule.clone()));
    }
    let mut tags = TagChange {
        python: args.python_tag.clone(),
        abi: args.abi_tag.clone(),
        platform: args.platform_tag.clone(),
    };
    if let Some(retag) = &args.retag {
        let parts: Vec<&str> = retag.split('-').collect();
        let [python, abi, platform] = parts.as_slice() else {
            anyhow::bail!("--retag {retag}: expected PYTHON-ABI-PLATFORM, with `*` for a part to keep");
        };
        let part = |text: &str| (text != "*").then(|| text.to_string());
        tags = TagChange {
            python: part(python),
            abi: part(abi),
            platform: part(platform),
        };
    }
    Ok(Rewrite {
        local_label: args
            .insert_local_version
            .then(|| layout.local_version_label.clone()),
        local_tag: args.add_tag.clone(),
        requirement_edits: edits,
        tags,
        dist_info_files: Vec::new(),
        accept_bad_record: args.accept_bad_record,
        ..Rewrite::default()
    })
}

pub fn run(args: &ManipulateArgs, layout: &Layout) -> anyhow::Result<ExitCode> {
    let rewrite = build_rewrite(args, layout)?;
    let wheels: Vec<PathBuf> = args.wheels.iter().chain(&args.more_wheels).cloned().collect();
    if wheels.is_empty() {
        anyhow::bail!("no wheel given: pass one or more WHEEL paths");
    }
    if rewrite.is_empty() && !args.print_req {
        anyhow::bail!(
            "no change requested: pass --insert-local-version, --add-req, --strip-nvidia, --platform-tag ... or --print-req"
        );
    }
    // --print-req previews: the edits are worked out and nothing is written.
    let preview = args.print_req;
    let destination = if args.inplace {
        Destination::InPlace
    } else {
        if !preview && !args.output_dir.is_dir() && !rewrite.is_empty() {
            fs_err::create_dir_all(&args.output_dir)?;
        }
        Destination::Directory(args.output_dir.clone())
    };
    let limits = Limits {
        total: args.max_unpacked_size,
        ..Limits::default()
    };
    let place = PlaceOptions {
        overwrite: args.force,
        fsync: !args.no_fsync,
    };
    let mut failures = 0;
    let mut results = Vec::new();
    for wheel in &wheels {
        if wheel.extension().and_then(|e| e.to_str()) != Some("whl") {
            failures += 1;
            let message = format!("{}: not a wheel (the name does not end in .whl)", wheel.display());
            eprintln!("error: {message}");
            results.push(serde_json::json!({ "input": wheel, "status": "error", "error": message }));
            continue;
        }
        let result = if preview {
            preview_wheel(wheel, &rewrite, &destination, limits)
        } else {
            rewrite_wheel(wheel, &rewrite, &destination, place, limits)
        };
        match result {
            Ok(outcome) => {
                for note in &outcome.notes {
                    tracing::warn!("{}: {note}", wheel.display());
                }
                if args.json {
                    results.push(serde_json::to_value(&outcome)?);
                } else if args.print_req {
                    if wheels.len() > 1 {
                        outln!("# {}", wheel.display());
                    }
                    for requirement in &outcome.requirements {
                        outln!("{requirement}");
                    }
                } else {
                    match outcome.status {
                        OutcomeStatus::Written => outln!("wrote   {}", outcome.output.display()),
                        OutcomeStatus::Copied => {
                            outln!("copied  {} (no change needed)", outcome.output.display())
                        }
                        OutcomeStatus::Unchanged => {
                            outln!("ok      {} (no change needed)", outcome.output.display())
                        }
                        OutcomeStatus::AlreadyThere => {
                            outln!(
                                "there   {} (already there, the same bytes)",
                                outcome.output.display()
                            )
                        }
                        // Only --print-req previews, and it printed the requirements above.
                        OutcomeStatus::Preview => {}
                    }
                    for change in &outcome.changes {
                        outln!("  - {change}");
                    }
                }
            }
            Err(error) => {
                failures += 1;
                eprintln!("error: {error}");
                if matches!(error.kind, WheelErrorKind::BadRecord(_)) {
                    eprintln!(
                        "hint: --accept-bad-record rewrites it anyway, with the true hashes in RECORD, once you trust its content"
                    );
                }
                results.push(
                    serde_json::json!({ "input": wheel, "status": "error", "error": error.to_string() }),
                );
            }
        }
    }
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&results)?);
    }
    if preview && !rewrite.is_empty() {
        tracing::warn!("--print-req only previews the edits: nothing was written (run without it to write)");
    }
    if failures > 0 {
        if wheels.len() > 1 {
            eprintln!("error: {failures} of {} wheels failed", wheels.len());
        }
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
