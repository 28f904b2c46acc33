//! `wheelwright inspect`: per wheel, the layers it works on, the arch it needs and where it goes.

use std::process::ExitCode;

use crate::classify::{Classification, Filesystem, classify};
use crate::cli::InspectArgs;
use crate::inspect::{WheelElves, default_jobs, read_wheel_elves};
use crate::layout::Layout;
use crate::outln;
use crate::wheel::Limits;

fn level_name(level: u8) -> String {
    if level <= 1 {
        "baseline x86-64".to_string()
    } else {
        format!("x86-64-v{level}")
    }
}

fn print_human(wheel: &std::path::Path, elves: &WheelElves, result: &Classification, layout: &Layout) {
    outln!("{}", wheel.display());
    if result.pure {
        outln!("  compiled code  none (pure)");
    } else {
        let bundled: Vec<&str> = elves
            .members
            .iter()
            .filter(|member| member.path.contains(".libs/") || member.info.soname.is_some())
            .map(|member| member.path.rsplit('/').next().unwrap_or(&member.path))
            .collect();
        outln!(
            "  ELF files      {}{}{}",
            elves.members.len(),
            result
                .glibc
                .as_ref()
                .map(|glibc| format!(", newest glibc symbol GLIBC_{glibc}"))
                .unwrap_or_default(),
            if bundled.is_empty() {
                String::new()
            } else {
                format!("; libraries inside: {}", bundled.join(", "))
            }
        );
        let max_level = elves
            .members
            .iter()
            .filter_map(|member| member.info.instructions.as_ref())
            .map(|scan| scan.max_level)
            .max();
        let unguarded = elves
            .members
            .iter()
            .filter_map(|member| member.info.instructions.as_ref())
            .map(|scan| scan.unguarded_level)
            .max();
        match (max_level, unguarded) {
            (Some(max), Some(unguarded)) => outln!(
                "  instructions   up to {}; without a CPU check: {}",
                level_name(max),
                level_name(unguarded)
            ),
            _ => outln!("  instructions   not scanned"),
        }
    }
    for problem in &elves.problems {
        outln!("  problem        {problem}");
    }
    for (name, verdict) in &result.layers {
        let label = if verdict.deprecated {
            format!("{name} (deprecated)")
        } else {
            name.clone()
        };
        if verdict.works {
            outln!(
                "  layer          {label}: yes{}",
                if verdict.libraries_checked || result.pure {
                    ""
                } else {
                    " (libraries not checked)"
                }
            );
        } else {
            outln!("  layer          {label}: no");
            for reason in &verdict.reasons {
                outln!("                   - {reason}");
            }
        }
        for note in &verdict.notes {
            outln!("                   note: {note}");
        }
    }
    outln!("  arch           {}", result.arch.name);
    for evidence in &result.arch.evidence {
        outln!("                   - {evidence}");
    }
    for note in &result.notes {
        outln!("  note           {note}");
    }
    match result.destination_path(layout) {
        Some(path) => outln!(
            "  destination    {} ({})",
            result.destination.as_deref().unwrap_or_default(),
            path.display()
        ),
        None => outln!("  destination    none: no layer that takes new wheels can run it"),
    }
}

pub fn run(args: &InspectArgs, layout: &Layout) -> anyhow::Result<ExitCode> {
    let limits = Limits {
        total: args.max_unpacked_size,
        ..Limits::default()
    };
    let jobs = args.jobs.unwrap_or_else(default_jobs);
    let mut ok = true;
    let mut reports = Vec::new();
    for (index, wheel) in args.wheels.iter().enumerate() {
        let started = std::time::Instant::now();
        let elves = match read_wheel_elves(wheel, limits, !args.no_scan, jobs) {
            Ok(elves) => elves,
            Err(error) => {
                ok = false;
                if args.json {
                    reports.push(serde_json::json!({ "wheel": wheel, "error": error.to_string() }));
                } else {
                    eprintln!("error: {error}");
                }
                continue;
            }
        };
        let result = classify(layout, &elves, &Filesystem);
        tracing::info!("{}: classified in {:.2?}", wheel.display(), started.elapsed());
        ok &= result.destination.is_some();
        if args.json {
            reports.push(serde_json::json!({
                "wheel": wheel,
                "pure": result.pure,
                "elf_files": elves.members,
                "problems": elves.problems,
                "glibc": result.glibc,
                "layers": result.layers,
                "arch": result.arch,
                "destination": result.destination,
                "destination_path": result.destination_path(layout),
                "notes": result.notes,
            }));
        } else {
            if index > 0 {
                outln!("");
            }
            print_human(wheel, &elves, &result, layout);
        }
    }
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&reports)?);
    }
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
