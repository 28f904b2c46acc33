//! The publish hooks (`before`, `after`) and the file of placed wheels an `after` hook has
//! not published yet.

use super::*;

/// The file listing placed wheels whose `after` hook has not succeeded yet.
pub fn pending_file(layout: &Layout) -> PathBuf {
    layout.publish.lock_file.with_extension("unpublished")
}

pub(super) fn read_pending(path: &Path) -> Vec<PathBuf> {
    fs_err::read_to_string(path)
        .map(|text| {
            text.lines()
                .filter(|line| !line.is_empty())
                .map(PathBuf::from)
                .collect()
        })
        .unwrap_or_default()
}

pub(super) fn write_pending(path: &Path, files: &[PathBuf]) -> std::io::Result<()> {
    if files.is_empty() {
        return match fs_err::remove_file(path) {
            Err(error) if error.kind() != ErrorKind::NotFound => Err(error),
            _ => Ok(()),
        };
    }
    let mut text = String::new();
    for file in files {
        text.push_str(&file.to_string_lossy());
        text.push('\n');
    }
    let directory = path.parent().unwrap_or(Path::new("."));
    let mut temp = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .tempfile_in(directory)?;
    std::io::Write::write_all(&mut temp, text.as_bytes())?;
    temp.as_file().sync_all()?;
    temp.persist(path).map_err(|error| error.error)?;
    Ok(())
}

/// A hook's command line, run by `sh -c`, its output this process's.
pub(super) fn shell_command(what: &str, command: &str) -> crate::tools::Program {
    crate::tools::Program::new(what, "sh")
        .arg("-c")
        .arg(command)
        .stdout(std::process::Stdio::inherit())
        .stderr(std::process::Stdio::inherit())
}

/// Runs the `before` hook.
pub(super) fn run_before(layout: &Layout) -> Result<(), PlaceError> {
    let Some(command) = &layout.publish.before else {
        return Ok(());
    };
    tracing::info!("publish hook (before): {command}");
    shell_command("the publish hook (before)", command)
        .env("WHEELWRIGHT_ROOT", &layout.root)
        .status(None)
        .map_err(|failed| PlaceError::Before(format!("`{command}`: {}", failed.status)))
}

/// Runs the `after` hook on `files` (pending ones of earlier runs included); on failure the
/// files are written to the pending list for `--publish-only`.
pub(super) fn run_after(layout: &Layout, files: Vec<PathBuf>) -> Result<Option<PublishOutcome>, PlaceError> {
    let Some(template) = &layout.publish.after else {
        return Ok(None);
    };
    let pending_path = pending_file(layout);
    let mut all = read_pending(&pending_path);
    for file in files {
        if !all.contains(&file) {
            all.push(file);
        }
    }
    if all.is_empty() {
        return Ok(None);
    }
    let quoted: Vec<String> = all
        .iter()
        .map(|file| crate::tools::shell_quote(&file.to_string_lossy()))
        .collect();
    let mut context = tera::Context::new();
    context.insert("root", &crate::tools::shell_quote(&layout.root.to_string_lossy()));
    context.insert("files", &quoted.join(" "));
    context.insert("count", &all.len());
    let command = match tera::Tera::one_off(template, &context, false) {
        Ok(command) => command,
        Err(error) => {
            return finish_after(
                layout,
                template.clone(),
                all,
                Some(format!("the `after` template does not render: {error}")),
            );
        }
    };
    tracing::info!("publish hook (after): {command}");
    let listing: String = all.iter().map(|file| format!("{}\n", file.display())).collect();
    let failure = shell_command("the publish hook (after)", &command)
        .env("WHEELWRIGHT_ROOT", &layout.root)
        .status(Some(listing.as_bytes()))
        .err()
        .map(|failed| format!("`{command}`: {}", failed.status));
    finish_after(layout, command, all, failure)
}

pub(super) fn finish_after(
    layout: &Layout,
    command: String,
    files: Vec<PathBuf>,
    failure: Option<String>,
) -> Result<Option<PublishOutcome>, PlaceError> {
    let pending_path = pending_file(layout);
    let ok = failure.is_none();
    let pending = if ok { Vec::new() } else { files.clone() };
    write_pending(&pending_path, &pending).map_err(|error| PlaceError::Pending {
        path: pending_path.clone(),
        error,
    })?;
    Ok(Some(PublishOutcome {
        command,
        files,
        ok,
        message: failure,
        pending_file: (!ok).then_some(pending_path),
    }))
}

/// `cp-wheels --publish-only`: runs the `after` hook on the files earlier runs placed but
/// could not publish.
pub fn publish_pending(layout: &Layout) -> Result<Option<PublishOutcome>, PlaceError> {
    let _lock = lock_tree(layout)?;
    run_after(layout, Vec::new())
}
