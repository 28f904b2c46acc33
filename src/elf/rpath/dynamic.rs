//! Reading an x86-64 ELF file at offsets, for the search path editor and writer: the ELF header
//! and program headers (goblin), the section headers (to settle overlapping segments), the
//! dynamic segment, strings of `.dynstr` (its address placed by [`AddressMap`], the one
//! mapping), and every other name that points into `.dynstr` (dynamic entries, dynamic symbols,
//! version needs and definitions), to tell whether a string's bytes are shared. Nothing else
//! of the file is read.

use std::ops::RangeInclusive;
use std::path::Path;

use fs_err::os::unix::fs::FileExt as _;
use goblin::elf::dynamic::{
    DT_AUDIT, DT_CONFIG, DT_DEPAUDIT, DT_GNU_HASH, DT_HASH, DT_NEEDED, DT_NULL, DT_RPATH, DT_RUNPATH,
    DT_SONAME, DT_STRSZ, DT_STRTAB, DT_SYMENT, DT_SYMTAB, DT_VERDEF, DT_VERDEFNUM, DT_VERNEED, DT_VERNEEDNUM,
};
use goblin::elf::header::{EI_CLASS, EI_DATA, ELFCLASS32, ELFCLASS64, ELFDATA2LSB, EM_X86_64};
use goblin::elf::program_header::PT_DYNAMIC;
use goblin::elf::program_header::program_header64::ProgramHeader;

use super::{RpathError, SearchPathTag};
use crate::elf::ElfProblem;
use crate::elf::addresses::{AddressMap, FileSection, LoadSegment};

/// The dynamic tags whose values are offsets into `.dynstr` (`DT_AUXILIARY` and `DT_FILTER`
/// are not in goblin's table).
const STRING_TAGS: [(u64, &str); 9] = [
    (DT_NEEDED, "DT_NEEDED"),
    (DT_SONAME, "DT_SONAME"),
    (DT_RPATH, "DT_RPATH"),
    (DT_RUNPATH, "DT_RUNPATH"),
    (0x7fff_fffd, "DT_AUXILIARY"),
    (0x7fff_ffff, "DT_FILTER"),
    (DT_CONFIG, "DT_CONFIG"),
    (DT_DEPAUDIT, "DT_DEPAUDIT"),
    (DT_AUDIT, "DT_AUDIT"),
];

/// Loops over version records stop after this many, whatever a damaged file says.
const MOST_VERSION_RECORDS: u64 = 1 << 16;

/// An ELF file's string table: where it is in the file and its size.
#[derive(Debug, Clone, Copy)]
pub(super) struct StringTable {
    pub(super) offset: u64,
    pub(super) size: u64,
}

/// What the dynamic segment says.
#[derive(Debug)]
pub(super) struct Dynamic {
    /// How addresses map to file offsets.
    addresses: AddressMap,
    /// The program headers as read, for the appending writer.
    pub(super) program_headers: Vec<ProgramHeader>,
    /// The ELF header.
    pub(super) header: goblin::elf::header::header64::Header,
    /// Where the dynamic segment is in the file, and its size there.
    pub(super) segment_offset: u64,
    pub(super) segment_size: u64,
    /// The entries before `DT_NULL`: (tag, value).
    entries: Vec<(u64, u64)>,
    pub(super) strings: StringTable,
}

impl Dynamic {
    /// The value of the first entry with `tag`.
    pub(super) fn first(&self, tag: u64) -> Option<u64> {
        self.entries
            .iter()
            .find(|(entry_tag, _)| *entry_tag == tag)
            .map(|(_, value)| *value)
    }

    /// The entries before `DT_NULL`, in order: (tag, value).
    pub(super) fn entries(&self) -> &[(u64, u64)] {
        &self.entries
    }

    /// How the file's addresses map to its offsets.
    pub(super) fn addresses(&self) -> &AddressMap {
        &self.addresses
    }
}

/// A search path value as stored: its tag, its offset in `.dynstr` and its text.
#[derive(Debug)]
pub(super) struct StoredSearchPath {
    pub(super) tag: SearchPathTag,
    pub(super) offset: u64,
    pub(super) value: String,
}

/// Whether another name shares some bytes of `.dynstr`.
pub(super) enum Sharing {
    None,
    /// Named for the message: ``the dynamic symbol `x` ``.
    With(String),
    /// Some names could not be found (the symbols cannot be counted).
    Unknown,
}

/// An open ELF file, read (and written) at offsets.
pub(super) struct ElfFile<'a> {
    pub(super) file: &'a fs_err::File,
    pub(super) path: &'a Path,
    pub(super) length: u64,
}

pub(super) fn u16_at(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}

pub(super) fn u32_at(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0; 4];
    word.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(word)
}

pub(super) fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

impl<'a> ElfFile<'a> {
    pub(super) fn new(file: &'a fs_err::File, path: &'a Path) -> Result<Self, RpathError> {
        let length = file.metadata()?.len();
        Ok(ElfFile { file, path, length })
    }

    fn problem(&self, problem: ElfProblem) -> RpathError {
        RpathError::Elf {
            path: self.path.to_path_buf(),
            problem,
        }
    }

    pub(super) fn damaged(&self, reason: String) -> RpathError {
        self.problem(ElfProblem::Damaged(reason))
    }

    /// `length` bytes at `offset`; a file too short for them is damaged.
    pub(super) fn read(&self, offset: u64, length: u64) -> Result<Vec<u8>, RpathError> {
        if offset.checked_add(length).is_none_or(|end| end > self.length) {
            return Err(self.damaged(format!(
                "{length} bytes at offset {offset} lie past the end of the file, {} bytes long",
                self.length
            )));
        }
        let mut bytes = vec![0; length as usize];
        self.file.read_exact_at(&mut bytes, offset)?;
        Ok(bytes)
    }

    /// The allocated sections with bytes in the file, from the section header table; none
    /// when the file has no table or it cannot be read (sections only settle ambiguities).
    fn sections(&self, header: &goblin::elf::header::header64::Header) -> Vec<FileSection> {
        use goblin::elf::section_header::{SHF_ALLOC, SHT_NOBITS};
        const SECTION_HEADER_SIZE: u64 = 64;
        if header.e_shentsize as u64 != SECTION_HEADER_SIZE || header.e_shnum == 0 {
            return Vec::new();
        }
        let Ok(table) = self.read(header.e_shoff, u64::from(header.e_shnum) * SECTION_HEADER_SIZE) else {
            return Vec::new();
        };
        // Elf64_Shdr: sh_name, sh_type (u32), sh_flags, sh_addr, sh_offset, sh_size (u64), ...
        table
            .chunks_exact(SECTION_HEADER_SIZE as usize)
            .filter(|entry| u64_at(entry, 8) & u64::from(SHF_ALLOC) != 0 && u32_at(entry, 4) != SHT_NOBITS)
            .map(|entry| FileSection {
                address: u64_at(entry, 16),
                offset: u64_at(entry, 24),
                size: u64_at(entry, 32),
            })
            .collect()
    }

    /// Reads the ELF header, the program headers and the dynamic segment.
    pub(super) fn dynamic(&self) -> Result<Dynamic, RpathError> {
        use goblin::elf::header::header64::Header;
        const HEADER_SIZE: u64 = 64;
        const PROGRAM_HEADER_SIZE: u64 = 56;
        let identification = self.read(0, (self.length).min(HEADER_SIZE))?;
        if !crate::elf::is_elf(&identification) {
            return Err(self.problem(ElfProblem::NotElf));
        }
        match identification.get(EI_CLASS).copied() {
            Some(ELFCLASS32) => return Err(self.problem(ElfProblem::ThirtyTwoBit)),
            Some(ELFCLASS64) => {}
            _ => return Err(self.damaged("an unknown ELF class".to_string())),
        }
        if identification.get(EI_DATA) != Some(&ELFDATA2LSB) {
            return Err(self.damaged("big-endian, or an unknown byte order".to_string()));
        }
        if identification.len() < HEADER_SIZE as usize {
            return Err(self.damaged("shorter than an ELF header".to_string()));
        }
        let header = Header::parse(&identification).map_err(|error| self.damaged(error.to_string()))?;
        if header.e_machine != EM_X86_64 {
            return Err(self.problem(ElfProblem::OtherMachine(
                goblin::elf::header::machine_to_str(header.e_machine).to_string(),
            )));
        }
        if header.e_phentsize as u64 != PROGRAM_HEADER_SIZE && header.e_phnum != 0 {
            return Err(self.damaged(format!("program headers of {} bytes", header.e_phentsize)));
        }
        let count = u64::from(header.e_phnum);
        let table = self.read(header.e_phoff, count * PROGRAM_HEADER_SIZE)?;
        let program_headers =
            ProgramHeader::parse(&table, 0, count as usize, goblin::container::Endian::Little)
                .map_err(|error| self.damaged(error.to_string()))?;
        let loads = LoadSegment::of(
            &program_headers
                .iter()
                .map(|header| goblin::elf::ProgramHeader::from(*header))
                .collect::<Vec<_>>(),
        );
        let addresses = AddressMap::new(loads, self.sections(&header), self.length);
        let segment = program_headers
            .iter()
            .find(|header| header.p_type == PT_DYNAMIC)
            .ok_or_else(|| RpathError::NoDynamicSegment {
                path: self.path.to_path_buf(),
            })?;
        let bytes = self.read(segment.p_offset, segment.p_filesz)?;
        let entries = bytes
            .chunks_exact(16)
            .map(|entry| (u64_at(entry, 0), u64_at(entry, 8)))
            .take_while(|(tag, _)| *tag != DT_NULL)
            .collect();
        let mut dynamic = Dynamic {
            addresses,
            program_headers: program_headers.clone(),
            header,
            segment_offset: segment.p_offset,
            segment_size: segment.p_filesz,
            entries,
            strings: StringTable { offset: 0, size: 0 },
        };
        let (Some(address), Some(size)) = (dynamic.first(DT_STRTAB), dynamic.first(DT_STRSZ)) else {
            return Err(self.damaged("a dynamic segment without DT_STRTAB or DT_STRSZ".to_string()));
        };
        let offset = dynamic
            .addresses
            .file_offset(address, size)
            .map_err(|unmapped| self.damaged(format!("DT_STRTAB {address:#x} {unmapped}")))?;
        dynamic.strings = StringTable { offset, size };
        Ok(dynamic)
    }

    /// The bytes of the string at `offset` in `table`, without its NUL.
    fn string(&self, table: &StringTable, offset: u64) -> Result<Vec<u8>, RpathError> {
        const CHUNK: u64 = 256;
        let mut bytes = Vec::new();
        let mut at = offset;
        loop {
            let length = CHUNK.min(table.size.saturating_sub(at));
            if length == 0 {
                return Err(self.damaged(format!(
                    "the string at offset {offset} of .dynstr ({} bytes) has no end",
                    table.size
                )));
            }
            let chunk = self.read(table.offset + at, length)?;
            if let Some(end) = chunk.iter().position(|byte| *byte == 0) {
                bytes.extend_from_slice(&chunk[..end]);
                return Ok(bytes);
            }
            bytes.extend_from_slice(&chunk);
            at += length;
        }
    }

    /// The values of every entry with `tag` naming a string (`DT_NEEDED`: the libraries in
    /// order), lossily decoded.
    pub(super) fn names(&self, dynamic: &Dynamic, tag: u64) -> Result<Vec<String>, RpathError> {
        dynamic
            .entries
            .iter()
            .filter(|(entry_tag, _)| *entry_tag == tag)
            .map(|(_, offset)| self.string_lossy(&dynamic.strings, *offset))
            .collect()
    }

    /// The string at `offset` in `table`, lossily decoded (for messages).
    fn string_lossy(&self, table: &StringTable, offset: u64) -> Result<String, RpathError> {
        Ok(String::from_utf8_lossy(&self.string(table, offset)?).into_owned())
    }

    /// Where the string holding `offset` starts: after the last NUL before it. Usually
    /// `offset` itself; earlier when a linker stored the string as the tail of a longer one.
    pub(super) fn string_start(&self, table: &StringTable, offset: u64) -> Result<u64, RpathError> {
        const CHUNK: u64 = 256;
        let mut end = offset;
        while end > 0 {
            let from = end.saturating_sub(CHUNK);
            let chunk = self.read(table.offset + from, end - from)?;
            if let Some(nul) = chunk.iter().rposition(|byte| *byte == 0) {
                return Ok(from + nul as u64 + 1);
            }
            end = from;
        }
        Ok(0)
    }

    /// The `DT_RPATH` and `DT_RUNPATH` values (the first of each tag).
    pub(super) fn search_path_strings(&self, dynamic: &Dynamic) -> Result<Vec<StoredSearchPath>, RpathError> {
        let mut found = Vec::new();
        for tag in [SearchPathTag::Rpath, SearchPathTag::Runpath] {
            let Some(offset) = dynamic.first(tag.dynamic_tag()) else {
                continue;
            };
            let value = String::from_utf8(self.string(&dynamic.strings, offset)?).map_err(|_| {
                RpathError::NotText {
                    path: self.path.to_path_buf(),
                    tag,
                }
            })?;
            found.push(StoredSearchPath { tag, offset, value });
        }
        Ok(found)
    }

    /// The search path string an edit changes: `DT_RUNPATH`'s when the file has one (the
    /// loader then ignores `DT_RPATH`), else `DT_RPATH`'s; `None` without either.
    pub(super) fn edited_search_path(
        &self,
        dynamic: &Dynamic,
    ) -> Result<Option<StoredSearchPath>, RpathError> {
        let mut stored = self.search_path_strings(dynamic)?;
        let index = stored
            .iter()
            .position(|string| string.tag == SearchPathTag::Runpath)
            .unwrap_or(0);
        Ok((index < stored.len()).then(|| stored.swap_remove(index)))
    }

    /// The first name of the file, other than the search paths stored at `edited`, whose
    /// string starts within `range` of `.dynstr`: a dynamic entry's, a dynamic symbol's, or a
    /// version need's or definition's.
    pub(super) fn sharer(
        &self,
        dynamic: &Dynamic,
        range: RangeInclusive<u64>,
        edited: u64,
    ) -> Result<Sharing, RpathError> {
        let named = |what: &str, offset: u64| -> Result<Sharing, RpathError> {
            let name = self.string_lossy(&dynamic.strings, offset)?;
            Ok(Sharing::With(format!("{what} `{name}`")))
        };
        for (tag, value) in &dynamic.entries {
            let Some((_, name)) = STRING_TAGS.iter().find(|(string_tag, _)| string_tag == tag) else {
                continue;
            };
            // DT_RPATH and DT_RUNPATH both naming the edited string (older linkers wrote
            // both) are edited together, as patchelf does.
            let edited_together = matches!(*tag, DT_RPATH | DT_RUNPATH) && *value == edited;
            if range.contains(value) && !edited_together {
                return named(&format!("the {name}"), *value);
            }
        }
        if let Some((what, offset)) = self.version_sharer(dynamic, &range)? {
            return named(what, offset);
        }
        self.symbol_sharer(dynamic, &range)
    }

    /// A version need's file or name, or a version definition's name, starting in `range`:
    /// what it is, and its offset.
    fn version_sharer(
        &self,
        dynamic: &Dynamic,
        range: &RangeInclusive<u64>,
    ) -> Result<Option<(&'static str, u64)>, RpathError> {
        let locate = |tag: u64, what: &str| -> Result<Option<u64>, RpathError> {
            let Some(address) = dynamic.first(tag) else {
                return Ok(None);
            };
            dynamic
                .addresses
                .file_offset(address, 1)
                .map(Some)
                .map_err(|unmapped| self.damaged(format!("{what} {address:#x} {unmapped}")))
        };
        // Elf64_Verneed: vn_version, vn_cnt (u16), vn_file, vn_aux, vn_next (u32); each
        // Elf64_Vernaux: vna_hash (u32), vna_flags, vna_other (u16), vna_name, vna_next (u32).
        if let Some(mut need) = locate(DT_VERNEED, "DT_VERNEED")? {
            let count = dynamic
                .first(DT_VERNEEDNUM)
                .unwrap_or(0)
                .min(MOST_VERSION_RECORDS);
            for _ in 0..count {
                let record = self.read(need, 16)?;
                let names = u16_at(&record, 2);
                let file = u64::from(u32_at(&record, 4));
                if range.contains(&file) {
                    return Ok(Some(("the library of a version need", file)));
                }
                let mut auxiliary = need + u64::from(u32_at(&record, 8));
                for _ in 0..names {
                    let entry = self.read(auxiliary, 16)?;
                    let name = u64::from(u32_at(&entry, 8));
                    if range.contains(&name) {
                        return Ok(Some(("the needed version", name)));
                    }
                    match u32_at(&entry, 12) {
                        0 => break,
                        next => auxiliary += u64::from(next),
                    }
                }
                match u32_at(&record, 12) {
                    0 => break,
                    next => need += u64::from(next),
                }
            }
        }
        // Elf64_Verdef: vd_version, vd_flags, vd_ndx, vd_cnt (u16), vd_hash, vd_aux, vd_next
        // (u32); each Elf64_Verdaux: vda_name, vda_next (u32).
        if let Some(mut definition) = locate(DT_VERDEF, "DT_VERDEF")? {
            let count = dynamic.first(DT_VERDEFNUM).unwrap_or(0).min(MOST_VERSION_RECORDS);
            for _ in 0..count {
                let record = self.read(definition, 20)?;
                let names = u16_at(&record, 6);
                let mut auxiliary = definition + u64::from(u32_at(&record, 12));
                for _ in 0..names {
                    let entry = self.read(auxiliary, 8)?;
                    let name = u64::from(u32_at(&entry, 0));
                    if range.contains(&name) {
                        return Ok(Some(("the defined version", name)));
                    }
                    match u32_at(&entry, 4) {
                        0 => break,
                        next => auxiliary += u64::from(next),
                    }
                }
                match u32_at(&record, 16) {
                    0 => break,
                    next => definition += u64::from(next),
                }
            }
        }
        Ok(None)
    }

    /// A dynamic symbol whose name starts in `range`.
    fn symbol_sharer(&self, dynamic: &Dynamic, range: &RangeInclusive<u64>) -> Result<Sharing, RpathError> {
        const SYMBOLS_PER_READ: u64 = 4096;
        let Some(address) = dynamic.first(DT_SYMTAB) else {
            return Ok(Sharing::None);
        };
        let Some(count) = self.symbol_count(dynamic)? else {
            return Ok(Sharing::Unknown);
        };
        let entry_size = dynamic.first(DT_SYMENT).unwrap_or(24);
        if entry_size < 4 {
            return Err(self.damaged(format!("DT_SYMENT {entry_size}")));
        }
        let size = count
            .checked_mul(entry_size)
            .ok_or_else(|| self.damaged(format!("{count} dynamic symbols of {entry_size} bytes")))?;
        let table = dynamic.addresses.file_offset(address, size).map_err(|unmapped| {
            self.damaged(format!("the {count} dynamic symbols at {address:#x} {unmapped}"))
        })?;
        let mut first = 0;
        while first < count {
            let symbols = SYMBOLS_PER_READ.min(count - first);
            let bytes = self.read(table + first * entry_size, symbols * entry_size)?;
            // st_name is the first field of Elf64_Sym.
            let shared = bytes
                .chunks_exact(entry_size as usize)
                .map(|symbol| u64::from(u32_at(symbol, 0)))
                .find(|name| range.contains(name));
            if let Some(name) = shared {
                let text = self.string_lossy(&dynamic.strings, name)?;
                return Ok(Sharing::With(format!("the dynamic symbol `{text}`")));
            }
            first += symbols;
        }
        Ok(Sharing::None)
    }

    /// How many dynamic symbols there are, as the loader sees them: `nchain` of `DT_HASH`, or
    /// the end of the last chain of `DT_GNU_HASH`. `None` without either table.
    fn symbol_count(&self, dynamic: &Dynamic) -> Result<Option<u64>, RpathError> {
        let locate = |address: u64, length: u64| {
            dynamic
                .addresses
                .file_offset(address, length)
                .map_err(|unmapped| self.damaged(format!("a hash table at {address:#x} {unmapped}")))
        };
        if let Some(address) = dynamic.first(DT_HASH) {
            let header = self.read(locate(address, 8)?, 8)?;
            return Ok(Some(u64::from(u32_at(&header, 4))));
        }
        let Some(address) = dynamic.first(DT_GNU_HASH) else {
            return Ok(None);
        };
        // nbuckets, symoffset, bloom_size, bloom_shift (u32); the bloom filter (u64 words);
        // the buckets (u32); the chains (u32), one per hashed symbol, the last of a chain odd.
        let table = locate(address, 16)?;
        let header = self.read(table, 16)?;
        let buckets = u64::from(u32_at(&header, 0));
        let first_hashed = u64::from(u32_at(&header, 4));
        let bloom_words = u64::from(u32_at(&header, 8));
        let buckets_at = table + 16 + bloom_words * 8;
        let bucket_bytes = self.read(buckets_at, buckets * 4)?;
        let last_start = bucket_bytes
            .chunks_exact(4)
            .map(|bucket| u64::from(u32_at(bucket, 0)))
            .max()
            .unwrap_or(0);
        if last_start == 0 {
            return Ok(Some(first_hashed));
        }
        if last_start < first_hashed {
            return Err(self.damaged(format!(
                "DT_GNU_HASH starts a chain at symbol {last_start}, before its first hashed symbol {first_hashed}"
            )));
        }
        let mut index = last_start;
        let chains_at = buckets_at + buckets * 4;
        loop {
            let chain = self.read(chains_at + (index - first_hashed) * 4, 4)?;
            if u32_at(&chain, 0) & 1 == 1 {
                return Ok(Some(index + 1));
            }
            index += 1;
        }
    }
}
