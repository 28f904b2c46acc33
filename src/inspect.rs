//! Reading the ELF members of a wheel, in parallel, for classification.

use std::path::Path;

use serde::Serialize;

use crate::elf::{ElfInfo, ElfProblem, inspect_elf, is_elf};
use crate::parallel::parallel_map_with;
use crate::spec::record::RecordHash;
use crate::wheel::buffered::SeekBufReader;
use crate::wheel::reader::Entry;
use crate::wheel::verify::{self, Expected, VerifyReport};
use crate::wheel::{Limits, WheelError, WheelErrorKind, WheelReader};

/// One ELF member of a wheel.
#[derive(Debug, Clone, Serialize)]
pub struct ElfMember {
    pub path: String,
    #[serde(flatten)]
    pub info: ElfInfo,
}

/// Why a member that should be ELF (by its name or its first bytes) cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberProblemKind {
    /// Read, but not an x86-64 ELF object.
    Elf(ElfProblem),
    /// Its bytes could not be read (the reason says how).
    Unreadable(String),
}

/// A member that should be ELF but cannot be used. Shown (and serialized) as
/// `path: problem`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberProblem {
    pub path: String,
    pub kind: MemberProblemKind,
}

impl MemberProblem {
    pub(crate) fn elf(entry: &Entry, problem: ElfProblem) -> Self {
        MemberProblem {
            path: entry.name.clone(),
            kind: MemberProblemKind::Elf(problem),
        }
    }

    pub(crate) fn unreadable(entry: &Entry, reason: String) -> Self {
        MemberProblem {
            path: entry.name.clone(),
            kind: MemberProblemKind::Unreadable(reason),
        }
    }

    /// The problem as a sentence that names the member: "`pkg/_ext.so` is not a valid ELF
    /// file: ...".
    pub fn sentence(&self) -> String {
        let path = &self.path;
        match &self.kind {
            MemberProblemKind::Elf(ElfProblem::NotElf) => {
                format!("`{path}` is not a valid ELF file: it does not start with the ELF magic number")
            }
            MemberProblemKind::Elf(ElfProblem::Damaged(detail)) => {
                format!("`{path}` is not a valid ELF file: damaged or truncated ({detail})")
            }
            MemberProblemKind::Elf(problem) => format!("`{path}` is {problem}"),
            MemberProblemKind::Unreadable(reason) => format!("`{path}` {reason}"),
        }
    }
}

impl std::fmt::Display for MemberProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            MemberProblemKind::Elf(problem) => write!(f, "{}: {problem}", self.path),
            MemberProblemKind::Unreadable(reason) => write!(f, "{}: {reason}", self.path),
        }
    }
}

impl Serialize for MemberProblem {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// The ELF members of a wheel and the members that claim to be ELF but cannot be read.
#[derive(Debug, Clone, Default)]
pub struct WheelElves {
    pub members: Vec<ElfMember>,
    pub problems: Vec<MemberProblem>,
    /// The filename's tags say pure (`none` ABI, `any` platform): no compiled code expected.
    pub tagged_pure: bool,
    /// The `.dist-info` directory, for build records.
    pub dist_info: String,
    /// wheelwright's own build record, if the wheel has one.
    pub build_record: Option<serde_json::Value>,
}

impl WheelElves {
    /// The library names the wheel itself holds: each ELF member's file name and soname.
    pub fn bundled_names(&self) -> std::collections::BTreeSet<&str> {
        self.members
            .iter()
            .flat_map(|member| {
                std::iter::once(member.path.rsplit('/').next().unwrap_or(&member.path))
                    .chain(member.info.soname.as_deref())
            })
            .collect()
    }
}

/// Extensions of members that are never ELF files; everything else is sniffed.
const TEXT_EXTENSIONS: [&str; 32] = [
    "py", "pyi", "pyc", "pyx", "pxd", "pxi", "txt", "md", "rst", "json", "toml", "cfg", "ini", "yaml", "yml",
    "h", "hpp", "hh", "c", "cc", "cpp", "cu", "cuh", "html", "js", "css", "csv", "typed", "pem", "svg",
    "png", "jpg",
];

pub(crate) fn looks_like_library(name: &str) -> bool {
    let file = name.rsplit('/').next().unwrap_or(name);
    file.ends_with(".so") || file.contains(".so.")
}

pub(crate) fn worth_sniffing(entry: &Entry) -> bool {
    if entry.is_dir || entry.size < 64 {
        return looks_like_library(&entry.name) && !entry.is_dir;
    }
    let file = entry.name.rsplit('/').next().unwrap_or(&entry.name);
    match file.rsplit_once('.') {
        Some((_, extension)) => !TEXT_EXTENSIONS.contains(&extension.to_ascii_lowercase().as_str()),
        None => true,
    }
}

pub(crate) type Archive = zip::ZipArchive<SeekBufReader<fs_err::File>>;

fn open_archive(path: &Path) -> Result<Archive, WheelErrorKind> {
    let file = fs_err::File::open(path)?;
    Ok(zip::ZipArchive::new(SeekBufReader::with_capacity(
        1 << 18,
        file,
    )?)?)
}

/// ELF members at least this large are inflated to a scratch file and inspected from a
/// mapping of it ([`inspect_mapped`]) rather than read into memory.
const MAP_FROM: u64 = 64 << 20;

/// Inspects the ELF file at `path` (member `entry`) from a private mapping: the symbol table
/// is hidden from goblin and read lazily, and pages the reading is done with are handed back,
/// so memory stays bounded however large the file.
pub(crate) fn inspect_mapped(path: &Path, entry: &Entry, scan: bool) -> Result<ElfMember, MemberProblem> {
    let file = fs_err::File::open(path)
        .map_err(|error| MemberProblem::unreadable(entry, format!("cannot be read back: {error}")))?;
    // SAFETY: the scratch file is the caller's own and not changed while mapped. The mapping
    // is private: hiding the symbol table writes one page of our own.
    let mut map = unsafe { memmap2::MmapOptions::new().map_copy(file.file()) }
        .map_err(|error| MemberProblem::unreadable(entry, format!("cannot be mapped: {error}")))?;
    let hidden = crate::elf::hide_symbol_table(&mut map);
    let map = map
        .make_read_only()
        .map_err(|error| MemberProblem::unreadable(entry, format!("cannot be mapped: {error}")))?;
    // Pages already read are dropped from this process (they stay in the page cache).
    let release = |range: std::ops::Range<usize>| {
        let page = 4096;
        let start = range.start.div_ceil(page) * page;
        let end = range.end / page * page;
        if start < end {
            // SAFETY: a read-only private mapping of a file: dropped pages read back from it.
            let _ =
                unsafe { map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, start, end - start) };
        }
    };
    crate::elf::inspect_elf_releasing(&map, scan, &release, hidden)
        .map(|info| ElfMember {
            path: entry.name.clone(),
            info,
        })
        .map_err(|problem| MemberProblem::elf(entry, problem))
}

/// Writes `head` and the rest of `member` to a scratch file, handing every byte to `also`;
/// returns the file and the byte count.
fn inflate_to_scratch(
    head: &[u8],
    member: &mut dyn std::io::Read,
    also: &mut dyn FnMut(&[u8]),
) -> std::io::Result<(tempfile::NamedTempFile, u64)> {
    use std::io::Write as _;
    let mut scratch = tempfile::Builder::new().prefix("wheelwright-elf-").tempfile()?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, scratch.as_file_mut());
    out.write_all(head)?;
    also(head);
    let mut buffer = vec![0u8; 1 << 20];
    let mut size = head.len() as u64;
    loop {
        let read = member.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        also(&buffer[..read]);
        out.write_all(&buffer[..read])?;
        size += read as u64;
    }
    out.flush()?;
    drop(out);
    Ok((scratch, size))
}

/// Inflates one entry (bounded by its declared size) and inspects it if it is ELF.
fn inspect_entry(
    archive: &mut Archive,
    entry: &Entry,
    scan: bool,
) -> Result<Option<ElfMember>, MemberProblem> {
    use std::io::Read as _;
    let mut file = archive
        .by_index(entry.index)
        .map_err(|error| MemberProblem::unreadable(entry, format!("cannot be read: {error}")))?;
    let mut head = [0u8; 4];
    let head_length = file.read(&mut head).unwrap_or(0);
    if !is_elf(&head[..head_length]) {
        return if looks_like_library(&entry.name) {
            Err(MemberProblem::elf(entry, ElfProblem::NotElf))
        } else {
            Ok(None)
        };
    }
    let started = std::time::Instant::now();
    let mut bounded = file.take(entry.size.saturating_sub(head_length as u64) + 1);
    if entry.size >= MAP_FROM {
        let (scratch, size) = inflate_to_scratch(&head[..head_length], &mut bounded, &mut |_| {})
            .map_err(|error| MemberProblem::unreadable(entry, format!("cannot be inflated: {error}")))?;
        if size > entry.size {
            return Err(MemberProblem::unreadable(
                entry,
                "inflates past its declared size".to_string(),
            ));
        }
        return inspect_mapped(scratch.path(), entry, scan).map(Some);
    }
    let mut bytes = Vec::with_capacity(entry.size as usize);
    bytes.extend_from_slice(&head[..head_length]);
    bounded
        .read_to_end(&mut bytes)
        .map_err(|error| MemberProblem::unreadable(entry, format!("cannot be inflated: {error}")))?;
    if bytes.len() as u64 > entry.size {
        return Err(MemberProblem::unreadable(
            entry,
            "inflates past its declared size".to_string(),
        ));
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
        Err(problem) => Err(MemberProblem::elf(entry, problem)),
    }
}

/// The most threads that read one wheel.
const MAX_JOBS: usize = 16;

/// Runs `work` on each entry, up to `jobs` at a time (at most [`MAX_JOBS`]), each thread with
/// its own handle on the archive (the first thread uses `archive`); the results come back in
/// `entries`' order. An archive that cannot be opened again is the error.
pub(crate) fn for_each_entry<T: Send>(
    path: &Path,
    archive: &mut Archive,
    entries: &[Entry],
    jobs: usize,
    work: &(dyn Fn(&mut Archive, &Entry) -> T + Sync),
) -> Result<Vec<T>, WheelErrorKind> {
    // Largest first, so the threads finish together.
    let mut order: Vec<usize> = (0..entries.len()).collect();
    order.sort_by_key(|&index| std::cmp::Reverse(entries[index].size));
    let mut results = parallel_map_with(
        &order,
        jobs.clamp(1, MAX_JOBS),
        Some(archive),
        &|| open_archive(path),
        &|archive, &index| (index, work(archive, &entries[index])),
    )?;
    results.sort_by_key(|(index, _)| *index);
    Ok(results.into_iter().map(|(_, result)| result).collect())
}

pub(crate) fn read_build_record(reader: &mut WheelReader) -> Option<serde_json::Value> {
    let record_path = format!("{}/wheelwright.json", reader.dist_info);
    reader
        .read_member(&record_path)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
}

pub(crate) fn collect_elves(
    reader: &WheelReader,
    build_record: Option<serde_json::Value>,
    results: impl IntoIterator<Item = Result<Option<ElfMember>, MemberProblem>>,
) -> WheelElves {
    let mut elves = WheelElves {
        dist_info: reader.dist_info.clone(),
        tagged_pure: reader.filename.tags.is_pure(),
        build_record,
        ..WheelElves::default()
    };
    for result in results {
        match result {
            Ok(Some(member)) => elves.members.push(member),
            Ok(None) => {}
            Err(problem) => elves.problems.push(problem),
        }
    }
    elves
}

/// Reads every ELF member of the wheel at `path`, using up to `jobs` threads.
pub fn read_wheel_elves(
    path: &Path,
    limits: Limits,
    scan: bool,
    jobs: usize,
) -> Result<WheelElves, WheelError> {
    let mut reader = WheelReader::open(path, limits)?;
    let build_record = read_build_record(&mut reader);
    let results = sniff_members(path, &mut reader, scan, jobs)?;
    Ok(collect_elves(&reader, build_record, results))
}

/// Inflates and inspects every member that may be ELF, `jobs` at a time.
fn sniff_members(
    path: &Path,
    reader: &mut WheelReader,
    scan: bool,
    jobs: usize,
) -> Result<Vec<Result<Option<ElfMember>, MemberProblem>>, WheelError> {
    let candidates: Vec<Entry> = reader
        .entries
        .iter()
        .filter(|entry| worth_sniffing(entry))
        .cloned()
        .collect();
    for_each_entry(path, &mut reader.archive, &candidates, jobs, &|archive, entry| {
        inspect_entry(archive, entry, scan)
    })
    .map_err(|kind| WheelError::new(path, kind))
}

/// One member hashed for verification, and inspected on the way if it is ELF.
type Digested = (RecordHash, u64, Result<Option<ElfMember>, MemberProblem>);

fn digest_entry(archive: &mut Archive, expected: &Expected, scan: bool) -> Result<Digested, WheelErrorKind> {
    use std::io::Read as _;
    let entry = &expected.entry;
    let file = archive.by_index(entry.index)?;
    let mut bounded = file.take(entry.size + 1);
    let mut hasher = expected.hash.algorithm.hasher();
    let cannot =
        |error: std::io::Error| WheelErrorKind::Zip(format!("`{}` cannot be inflated: {error}", entry.name));
    let mut elf = Ok(None);
    let size = if worth_sniffing(entry) {
        let mut head = [0u8; 4];
        let mut filled = 0;
        while filled < head.len() {
            match bounded.read(&mut head[filled..]).map_err(cannot)? {
                0 => break,
                read => filled += read,
            }
        }
        if is_elf(&head[..filled]) && entry.size >= MAP_FROM {
            let (scratch, size) =
                inflate_to_scratch(&head[..filled], &mut bounded, &mut |bytes| hasher.update(bytes))
                    .map_err(cannot)?;
            if size <= entry.size {
                elf = inspect_mapped(scratch.path(), entry, scan).map(Some);
            }
            size
        } else if is_elf(&head[..filled]) {
            let mut bytes = Vec::with_capacity(entry.size.min(1 << 30) as usize);
            bytes.extend_from_slice(&head[..filled]);
            bounded.read_to_end(&mut bytes).map_err(cannot)?;
            hasher.update(&bytes);
            if bytes.len() as u64 <= entry.size {
                elf = match inspect_elf(&bytes, scan) {
                    Ok(info) => Ok(Some(ElfMember {
                        path: entry.name.clone(),
                        info,
                    })),
                    Err(problem) => Err(MemberProblem::elf(entry, problem)),
                };
            }
            bytes.len() as u64
        } else {
            if looks_like_library(&entry.name) {
                elf = Err(MemberProblem::elf(entry, ElfProblem::NotElf));
            }
            hasher.update(&head[..filled]);
            filled as u64 + std::io::copy(&mut bounded, &mut hasher).map_err(cannot)?
        }
    } else {
        std::io::copy(&mut bounded, &mut hasher).map_err(cannot)?
    };
    if size > entry.size {
        return Err(WheelErrorKind::SizeLie {
            entry: entry.name.clone(),
            declared: entry.size,
        });
    }
    Ok((hasher.finish(), size, elf))
}

/// Verifies a wheel (as [`crate::wheel::verify_wheel`]) and reads its ELF members in the same
/// pass: every member is inflated once, by up to `jobs` threads. With `hash_members` false
/// (bytes known to have verified before), the members' hashes are not checked: only the
/// structure, the filename against `.dist-info`, METADATA and WHEEL, and RECORD's listing.
pub fn check_wheel(
    path: &Path,
    limits: Limits,
    scan: bool,
    jobs: usize,
    hash_members: bool,
) -> Result<(VerifyReport, WheelElves), WheelError> {
    let mut reader = WheelReader::open(path, limits)?;
    let build_record = read_build_record(&mut reader);
    let mut plan = verify::plan(&reader);
    if !hash_members {
        let results = sniff_members(path, &mut reader, scan, jobs)?;
        plan.expected.clear();
        let report = verify::judge(path, plan, &[]);
        return Ok((report, collect_elves(&reader, build_record, results)));
    }
    let entries: Vec<Entry> = plan
        .expected
        .iter()
        .map(|expected| expected.entry.clone())
        .collect();
    let by_index: std::collections::HashMap<usize, &Expected> = plan
        .expected
        .iter()
        .map(|expected| (expected.entry.index, expected))
        .collect();
    let results = for_each_entry(path, &mut reader.archive, &entries, jobs, &|archive, entry| {
        digest_entry(archive, by_index[&entry.index], scan)
    })
    .map_err(|kind| WheelError::new(path, kind))?;
    let mut computed = Vec::with_capacity(results.len());
    let mut elves = Vec::new();
    for result in results {
        let (hash, size, elf) = result.map_err(|kind| WheelError::new(path, kind))?;
        computed.push((hash, size));
        elves.push(elf);
    }
    let report = verify::judge(path, plan, &computed);
    Ok((report, collect_elves(&reader, build_record, elves)))
}

/// Verifies a wheel's structure only: the filename against `.dist-info`, METADATA, WHEEL and
/// RECORD's listing, no member inflated (for a wheel written from parts whose bytes were
/// checked as they were read).
pub fn check_structure(path: &Path, limits: Limits) -> Result<VerifyReport, WheelError> {
    let reader = WheelReader::open(path, limits)?;
    let mut plan = verify::plan(&reader);
    plan.expected.clear();
    Ok(verify::judge(path, plan, &[]))
}

/// The default number of threads: the machine's cores, at most 8.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).min(8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_elf_member_is_read_from_a_mapped_scratch_file_to_the_same_result() {
        use std::io::Write as _;
        let directory = tempfile::tempdir().unwrap();
        // 64 MiB of initialised data make the library large; it deflates to almost nothing.
        fs_err::write(
            directory.path().join("big.c"),
            "char big[64 << 20] = {1};\nint first(void) { return big[0]; }\n",
        )
        .unwrap();
        crate::elf::rpath::tests::gcc(
            directory.path(),
            &["-O1", "-shared", "-fPIC", "big.c", "-o", "big.so"],
        );
        let bytes = fs_err::read(directory.path().join("big.so")).unwrap();
        assert!(bytes.len() as u64 >= MAP_FROM);
        let zip_path = directory.path().join("members.zip");
        let mut zip = zip::ZipWriter::new(fs_err::File::create(&zip_path).unwrap().into_file());
        zip.start_file("pkg/big.so", zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(&bytes).unwrap();
        zip.finish().unwrap();
        let mut archive = open_archive(&zip_path).unwrap();
        let member = Entry {
            index: 0,
            name: "pkg/big.so".to_string(),
            is_dir: false,
            size: bytes.len() as u64,
        };
        let mapped = inspect_entry(&mut archive, &member, true).unwrap().unwrap();
        let whole = inspect_elf(&bytes, true).unwrap();
        assert_eq!(
            serde_json::to_value(&mapped.info).unwrap(),
            serde_json::to_value(&whole).unwrap()
        );
        // A member that says it is smaller than it inflates to is refused.
        let lying = Entry {
            size: MAP_FROM,
            ..member
        };
        assert!(inspect_entry(&mut archive, &lying, true).is_err());
    }

    fn entry(name: &str) -> Entry {
        Entry {
            index: 0,
            name: name.to_string(),
            is_dir: false,
            size: 100,
        }
    }

    #[test]
    fn member_problems_read_as_before_and_as_sentences() {
        let garbage = MemberProblem::elf(&entry("pkg/_ext.so"), ElfProblem::NotElf);
        assert_eq!(garbage.to_string(), "pkg/_ext.so: not an ELF file");
        assert_eq!(
            serde_json::to_value(&garbage).unwrap(),
            serde_json::json!("pkg/_ext.so: not an ELF file")
        );
        assert_eq!(
            garbage.sentence(),
            "`pkg/_ext.so` is not a valid ELF file: it does not start with the ELF magic number"
        );
        let foreign = MemberProblem::elf(&entry("pkg/_arm.so"), ElfProblem::OtherMachine("ARM".into()));
        assert_eq!(
            foreign.sentence(),
            "`pkg/_arm.so` is an ELF file for another machine (ARM), not x86-64"
        );
        let unreadable =
            MemberProblem::unreadable(&entry("pkg/_big.so"), "inflates past its declared size".into());
        assert_eq!(
            unreadable.to_string(),
            "pkg/_big.so: inflates past its declared size"
        );
        assert_eq!(
            unreadable.sentence(),
            "`pkg/_big.so` inflates past its declared size"
        );
    }
}
