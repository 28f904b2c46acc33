//! Reading the ELF members of a wheel, in parallel, for classification.

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Serialize;

use crate::elf::{ElfInfo, ElfProblem, inspect_elf, is_elf};
use crate::wheel::buffered::SeekBufReader;
use crate::wheel::reader::Entry;
use crate::wheel::{Limits, WheelError, WheelErrorKind, WheelReader};

/// One ELF member of a wheel.
#[derive(Debug, Clone, Serialize)]
pub struct ElfMember {
    pub path: String,
    #[serde(flatten)]
    pub info: ElfInfo,
}

/// The ELF members of a wheel and the members that claim to be ELF but cannot be read.
#[derive(Debug, Clone, Default)]
pub struct WheelElves {
    pub members: Vec<ElfMember>,
    pub problems: Vec<String>,
    /// The `.dist-info` directory, for build records.
    pub dist_info: String,
    /// wheelwright's own build record, if the wheel has one.
    pub build_record: Option<serde_json::Value>,
}

/// Extensions of members that are never ELF files; everything else is sniffed.
const TEXT_EXTENSIONS: [&str; 32] = [
    "py", "pyi", "pyc", "pyx", "pxd", "pxi", "txt", "md", "rst", "json", "toml", "cfg", "ini", "yaml", "yml",
    "h", "hpp", "hh", "c", "cc", "cpp", "cu", "cuh", "html", "js", "css", "csv", "typed", "pem", "svg",
    "png", "jpg",
];

fn looks_like_library(name: &str) -> bool {
    let file = name.rsplit('/').next().unwrap_or(name);
    file.ends_with(".so") || file.contains(".so.")
}

fn worth_sniffing(entry: &Entry) -> bool {
    if entry.is_dir || entry.size < 64 {
        return looks_like_library(&entry.name) && !entry.is_dir;
    }
    let file = entry.name.rsplit('/').next().unwrap_or(&entry.name);
    match file.rsplit_once('.') {
        Some((_, extension)) => !TEXT_EXTENSIONS.contains(&extension.to_ascii_lowercase().as_str()),
        None => true,
    }
}

/// An entry's index and what inspecting it gave.
type EntryResult = (usize, Result<Option<ElfMember>, String>);

type Archive = zip::ZipArchive<SeekBufReader<fs_err::File>>;

fn open_archive(path: &Path) -> Result<Archive, WheelErrorKind> {
    let file = fs_err::File::open(path)?;
    Ok(zip::ZipArchive::new(SeekBufReader::with_capacity(
        1 << 18,
        file,
    )?)?)
}

/// Inflates one entry (bounded by its declared size) and inspects it if it is ELF.
fn inspect_entry(archive: &mut Archive, entry: &Entry, scan: bool) -> Result<Option<ElfMember>, String> {
    use std::io::Read as _;
    let mut file = archive
        .by_index(entry.index)
        .map_err(|error| format!("{}: cannot be read: {error}", entry.name))?;
    let mut head = [0u8; 4];
    let head_length = file.read(&mut head).unwrap_or(0);
    if !is_elf(&head[..head_length]) {
        return if looks_like_library(&entry.name) {
            Err(format!("{}: {}", entry.name, ElfProblem::NotElf))
        } else {
            Ok(None)
        };
    }
    let started = std::time::Instant::now();
    let mut bytes = Vec::with_capacity(entry.size as usize);
    bytes.extend_from_slice(&head[..head_length]);
    file.take(entry.size.saturating_sub(head_length as u64) + 1)
        .read_to_end(&mut bytes)
        .map_err(|error| format!("{}: cannot be inflated: {error}", entry.name))?;
    if bytes.len() as u64 > entry.size {
        return Err(format!("{}: inflates past its declared size", entry.name));
    }
    let inflated = started.elapsed();
    let result = inspect_elf(&bytes, scan);
    tracing::debug!(
        "{}: {} bytes inflated in {inflated:.2?}, inspected in {:.2?}",
        entry.name,
        bytes.len(),
        started.elapsed() - inflated
    );
    match result {
        Ok(info) => Ok(Some(ElfMember {
            path: entry.name.clone(),
            info,
        })),
        Err(problem) => Err(format!("{}: {problem}", entry.name)),
    }
}

/// Reads every ELF member of the wheel at `path`, using up to `jobs` threads.
pub fn read_wheel_elves(
    path: &Path,
    limits: Limits,
    scan: bool,
    jobs: usize,
) -> Result<WheelElves, WheelError> {
    let mut reader = WheelReader::open(path, limits)?;
    let record_path = format!("{}/wheelwright.json", reader.dist_info);
    let build_record = reader
        .read_member(&record_path)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok());
    let mut candidates: Vec<Entry> = reader
        .entries
        .iter()
        .filter(|entry| worth_sniffing(entry))
        .cloned()
        .collect();
    // Largest first, so the threads finish together.
    candidates.sort_by_key(|entry| std::cmp::Reverse(entry.size));
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<EntryResult>> = Mutex::new(Vec::new());
    let jobs = jobs.clamp(1, 16).min(candidates.len().max(1));
    let worker = |archive: &mut Archive| {
        loop {
            let index = next.fetch_add(1, Ordering::Relaxed);
            let Some(entry) = candidates.get(index) else { break };
            let result = inspect_entry(archive, entry, scan);
            results
                .lock()
                .unwrap_or_else(|poison| poison.into_inner())
                .push((entry.index, result));
        }
    };
    let opened: Result<(), WheelErrorKind> = std::thread::scope(|scope| {
        let mut handles = Vec::new();
        for _ in 1..jobs {
            handles.push(scope.spawn(|| -> Result<(), WheelErrorKind> {
                let mut archive = open_archive(path)?;
                worker(&mut archive);
                Ok(())
            }));
        }
        worker(&mut reader.archive);
        for handle in handles {
            handle.join().unwrap_or(Ok(()))?;
        }
        Ok(())
    });
    opened.map_err(|kind| WheelError::new(path, kind))?;
    let mut results = results.into_inner().unwrap_or_else(|poison| poison.into_inner());
    results.sort_by_key(|(index, _)| *index);
    let mut elves = WheelElves {
        dist_info: reader.dist_info.clone(),
        build_record,
        ..WheelElves::default()
    };
    for (_, result) in results {
        match result {
            Ok(Some(member)) => elves.members.push(member),
            Ok(None) => {}
            Err(problem) => elves.problems.push(problem),
        }
    }
    Ok(elves)
}

/// The default number of threads: the machine's cores, at most 8.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).min(8)
}
