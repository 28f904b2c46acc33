//! The locked commit: the writers' lock, temporary files in the destination directories,
//! fsyncs, renames, stale temporary files of killed runs.

use super::*;

/// The writers' lock on the tree, held until dropped.
pub struct TreeLock {
    pub(super) _file: std::fs::File,
}

/// Takes the writers' lock, waiting (and saying so) while another writer holds it.
pub fn lock_tree(layout: &Layout) -> Result<TreeLock, PlaceError> {
    let path = &layout.publish.lock_file;
    let lock_error = |error| PlaceError::Lock {
        path: path.clone(),
        error,
    };
    if let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
        fs_err::create_dir_all(parent).map_err(lock_error)?;
    }
    let file = fs_err::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(lock_error)?
        .into_parts()
        .0;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            tracing::warn!(
                "waiting for the wheelhouse lock `{}`: another cp-wheels is writing",
                path.display()
            );
            file.lock().map_err(lock_error)?;
        }
        Err(std::fs::TryLockError::Error(error)) => return Err(lock_error(error)),
    }
    Ok(TreeLock { _file: file })
}

/// Creates a missing destination directory (and its missing parents) with the layout's mode.
pub(super) fn ensure_dir(path: &Path, root: &Path, mode: u32) -> std::io::Result<()> {
    if path.is_dir() {
        return Ok(());
    }
    let mut missing = Vec::new();
    let mut current = path;
    while !current.is_dir() && current != root {
        missing.push(current.to_path_buf());
        match current.parent() {
            Some(parent) => current = parent,
            None => break,
        }
    }
    for directory in missing.iter().rev() {
        match fs_err::create_dir(directory) {
            Ok(()) => fs_err::set_permissions(directory, std::fs::Permissions::from_mode(mode))?,
            Err(error) if error.kind() == ErrorKind::AlreadyExists => {}
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

/// A copy waiting for its rename.
pub(super) struct Staged {
    pub(super) decision: usize,
    pub(super) temp: tempfile::TempPath,
    pub(super) destination: PathBuf,
    pub(super) replace: bool,
}

pub(super) fn stage_copy(source: &Path, directory: &Path, mode: u32) -> std::io::Result<tempfile::TempPath> {
    let temp = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .suffix(TEMP_SUFFIX)
        .tempfile_in(directory)?;
    let (mut file, temp_path) = temp.into_parts();
    let mut input = fs_err::File::open(source)?;
    // std copies file to file with copy_file_range: in-kernel, a reflink where the
    // filesystem can.
    let copied = std::io::copy(&mut input, &mut file)?;
    let expected = input.metadata()?.len();
    if copied != expected {
        return Err(std::io::Error::other(format!(
            "copied {copied} bytes of `{}` but it holds {expected}: was it changing?",
            source.display()
        )));
    }
    file.set_permissions(std::fs::Permissions::from_mode(mode))?;
    Ok(temp_path)
}

pub(super) fn sync_path(path: &Path) -> std::io::Result<()> {
    fs_err::File::open(path)?.sync_all()
}

/// Copies every decided wheel: all temporary copies first, then one durability point, then
/// the renames, then the directories made durable.
pub(super) fn execute(tree: &mut Tree, decisions: &mut [Decision], layout: &Layout, options: &Options) {
    // The destination directories, made once each.
    let wanted: BTreeSet<usize> = decisions
        .iter()
        .filter(|decision| matches!(decision.outcome.action, Action::Place | Action::Replace))
        .filter_map(|decision| decision.dir)
        .collect();
    let mut unusable: HashMap<usize, String> = HashMap::new();
    for dir in wanted {
        if let Err(error) = ensure_dir(&tree.dir_path(dir), &tree.root, layout.publish.dir_mode) {
            unusable.insert(
                dir,
                format!("cannot create `{}`: {error}", tree.dir_path(dir).display()),
            );
        }
    }
    let jobs: Vec<(usize, PathBuf, PathBuf)> = decisions
        .iter_mut()
        .enumerate()
        .filter(|(_, decision)| matches!(decision.outcome.action, Action::Place | Action::Replace))
        .filter_map(|(index, decision)| {
            let dir = decision.dir?;
            if let Some(reason) = unusable.get(&dir) {
                decision.outcome.action = Action::Failed;
                decision.outcome.reason = Some(reason.clone());
                return None;
            }
            Some((index, decision.outcome.source.clone(), tree.dir_path(dir)))
        })
        .collect();
    // Copies in parallel: the kernel does the copying, the threads overlap its waits.
    let copies = parallel_map(&jobs, options.jobs.max(4), &|(_, source, directory)| {
        stage_copy(source, directory, layout.publish.file_mode)
    });
    let mut staged: Vec<Staged> = Vec::new();
    for ((index, _, directory), result) in jobs.into_iter().zip(copies) {
        let decision = &mut decisions[index];
        match result {
            Ok(temp) => staged.push(Staged {
                decision: index,
                temp,
                destination: directory.join(&decision.outcome.wheel),
                replace: decision.outcome.action == Action::Replace,
            }),
            Err(error) => {
                decision.outcome.action = Action::Failed;
                decision.outcome.reason =
                    Some(format!("cannot copy into `{}`: {error}", directory.display()));
            }
        }
    }
    let copied = std::time::Instant::now();
    if options.fsync {
        sync_many(&mut staged, decisions);
        tracing::debug!(
            "fsynced {} copies in {:.3}s",
            staged.len(),
            copied.elapsed().as_secs_f64()
        );
    }
    let mut touched_dirs = BTreeSet::new();
    for item in staged {
        let decision = &mut decisions[item.decision];
        let result = if item.replace {
            item.temp.persist(&item.destination)
        } else {
            item.temp.persist_noclobber(&item.destination)
        };
        match result {
            Ok(()) => {
                if let Some(dir) = decision.dir {
                    touched_dirs.insert(dir);
                    tree.insert(TreeWheel {
                        dir,
                        file_name: decision.outcome.wheel.clone(),
                        filename: decision
                            .outcome
                            .wheel
                            .parse()
                            .expect("the wheel's name was parsed before"),
                    });
                }
            }
            Err(error) => {
                decision.outcome.action = Action::Failed;
                decision.outcome.reason = Some(if error.error.kind() == ErrorKind::AlreadyExists {
                    format!(
                        "`{}` appeared while copying (a writer that does not take the lock?); left as it is",
                        item.destination.display()
                    )
                } else {
                    format!(
                        "cannot rename into `{}`: {}",
                        item.destination.display(),
                        error.error
                    )
                });
            }
        }
    }
    if options.fsync {
        for dir in touched_dirs {
            if let Err(error) = sync_path(&tree.dir_path(dir)) {
                tracing::warn!("cannot fsync `{}`: {error}", tree.dir_path(dir).display());
            }
        }
    }
}

/// fsyncs the staged copies, many at a time: fsync waits on the disk, not the CPU, and
/// concurrent fsyncs share the filesystem's journal commits. A copy that cannot be made
/// durable is not renamed.
pub(super) fn sync_many(staged: &mut Vec<Staged>, decisions: &mut [Decision]) {
    let paths: Vec<&Path> = staged.iter().map(|item| item.temp.as_ref()).collect();
    let results = parallel_map(&paths, 16, &|path: &&Path| sync_path(path));
    let mut kept = Vec::with_capacity(staged.len());
    for (item, result) in staged.drain(..).zip(results) {
        match result {
            Ok(()) => kept.push(item),
            Err(error) => {
                let outcome = &mut decisions[item.decision].outcome;
                outcome.action = Action::Failed;
                outcome.reason = Some(format!("cannot fsync the copy: {error}"));
            }
        }
    }
    *staged = kept;
}

/// Removes temporary files that killed runs left (only called with the lock held, so no
/// live writer owns them).
pub(super) fn clean_stale(tree: &Tree) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    for path in &tree.stale_temps {
        match fs_err::remove_file(path) {
            Ok(()) => removed.push(path.clone()),
            Err(error) => tracing::warn!("cannot remove a stale temporary file: {error}"),
        }
    }
    removed
}
