//! `wheelwright verify`: check wheels and say exactly what is wrong.

use crate::outln;
use std::process::ExitCode;

use crate::cli::VerifyArgs;
use crate::wheel::verified::{VerifiedCache, file_sha256};
use crate::wheel::{Limits, verify_wheel};

pub fn run(args: &VerifyArgs) -> anyhow::Result<ExitCode> {
    let limits = Limits {
        total: args.max_unpacked_size,
        ..Limits::default()
    };
    let mut all_ok = true;
    let mut reports = Vec::new();
    for wheel in &args.wheels {
        match verify_wheel(wheel, limits) {
            Ok(report) => {
                all_ok &= report.ok();
                // Remembered by content, so that cp-wheels need not hash these bytes again.
                if report.ok()
                    && let Some(cache) = VerifiedCache::default_location()
                    && let Ok(sha256) = file_sha256(wheel)
                {
                    cache.record(&sha256, limits.total, Some(wheel));
                }
                if !args.json {
                    if report.ok() {
                        outln!(
                            "ok      {} ({} files, {} bytes checked)",
                            wheel.display(),
                            report.files_checked,
                            report.bytes_checked
                        );
                    } else {
                        outln!(
                            "FAILED  {} ({})",
                            wheel.display(),
                            super::count(report.problems.len(), "problem")
                        );
                        for problem in &report.problems {
                            outln!("  - {problem}");
                        }
                    }
                }
                reports.push(serde_json::json!({ "wheel": wheel, "ok": report.ok(), "report": report }));
            }
            Err(error) => {
                all_ok = false;
                if args.json {
                    reports
                        .push(serde_json::json!({ "wheel": wheel, "ok": false, "error": error.to_string() }));
                } else {
                    // The reason goes on the wheel's own line, as a report's problems do.
                    let reason = error.to_string();
                    let prefix = format!("{}: ", wheel.display());
                    outln!("FAILED  {}", wheel.display());
                    outln!("  - {}", reason.strip_prefix(&prefix).unwrap_or(&reason));
                }
            }
        }
    }
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&reports)?);
    }
    Ok(if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
