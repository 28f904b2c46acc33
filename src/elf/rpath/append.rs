//! Growing a search path where the old value has no room: wheelwright's own writer. A new
//! segment is appended at the end of the file (nothing before it moves): it holds the program
//! header table with one more entry (the old table sits between headers and sections, with no
//! room to grow) and a new `.dynstr`, the old one's bytes followed by the new value. Then the
//! ELF header points at the new table, `PT_PHDR` at its new place, `DT_STRTAB`, `DT_STRSZ` and
//! `DT_RPATH`/`DT_RUNPATH` at the new strings, and the `.dynstr` section header at them too
//! (binutils read the strings through it). Every old name keeps its offset, so symbols,
//! version records and `DT_NEEDED` entries need no change.
//!
//! A library's new segment goes at the first page clear of its segments in memory. An
//! executable's is placed at the address the file's first `PT_LOAD` (in table order) implies
//! for its file offset: kernels before 5.18 give an executable `AT_PHDR` as "first segment's
//! address - its offset + `e_phoff`", newer ones look the table up in the segments; both then
//! find it. When that address would overlap a segment in memory (.bss), the file is padded (up
//! to 1 MiB) until it does not. Layouts this cannot serve (an executable whose first segment
//! is not page-aligned or that would need more padding, a file without a search path and no
//! spare dynamic entry) are refused with the file untouched, so the caller can hand the edit
//! to patchelf. Every write is journalled:
//! when the result does not read back as asked, the file is put back as it was.

use std::path::Path;

use fs_err::os::unix::fs::FileExt as _;
use goblin::elf::dynamic::{
    DF_1_PIE, DT_FLAGS_1, DT_NEEDED, DT_NULL, DT_RPATH, DT_RUNPATH, DT_SONAME, DT_STRSZ, DT_STRTAB,
};
use goblin::elf::header::{ET_DYN, ET_EXEC};
use goblin::elf::program_header::{PF_R, PT_INTERP, PT_LOAD, PT_PHDR};
use goblin::elf::section_header::SHT_STRTAB;

use super::dynamic::{Dynamic, ElfFile, u32_at, u64_at};
use super::{RpathError, SearchPathTag, read_search_path};

/// The page size the new segment is aligned to (x86-64).
const PAGE: u64 = 0x1000;
/// The most zero bytes the writer adds to keep the new segment clear of the others in memory.
const MOST_PADDING: u64 = 1 << 20;
const PROGRAM_HEADER_SIZE: u64 = 56;
const SECTION_HEADER_SIZE: u64 = 64;

/// Why wheelwright's writer leaves a file to patchelf (nothing was written).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppendRefusal {
    #[error("it is neither an executable nor a shared object")]
    NotLoadable,
    #[error("it has no loaded segment")]
    NoLoadSegment,
    #[error("its first loaded segment maps offset {offset:#x} to {address:#x}, not on a page boundary")]
    Unaligned { offset: u64, address: u64 },
    #[error("the new segment would need {bytes} bytes of padding to stay clear of .bss")]
    TooMuchPadding { bytes: u64 },
    #[error("it has no DT_RPATH or DT_RUNPATH entry and no spare slot in its dynamic segment for one")]
    NoDynamicSlot,
    #[error("its program header table holds {count} entries already")]
    TooManyProgramHeaders { count: u16 },
}

/// What [`append_search_path`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    pub tag: SearchPathTag,
    pub old: Vec<String>,
    pub new: Vec<String>,
    /// The bytes added at the end of the file (padding, program headers, strings).
    pub added: std::ops::Range<u64>,
}

/// The bytes a write replaced, to put them back.
struct Journal<'a> {
    file: &'a fs_err::File,
    length: u64,
    replaced: Vec<(u64, Vec<u8>)>,
}

impl Journal<'_> {
    /// Writes `bytes` at `offset` (within the old length), keeping what was there.
    fn write(&mut self, offset: u64, bytes: &[u8]) -> std::io::Result<()> {
        let mut old = vec![0; bytes.len()];
        self.file.read_exact_at(&mut old, offset)?;
        self.replaced.push((offset, old));
        self.file.write_all_at(bytes, offset)
    }

    /// Puts every replaced byte back and cuts what was appended.
    fn undo(self) -> std::io::Result<()> {
        for (offset, old) in self.replaced.iter().rev() {
            self.file.write_all_at(old, *offset)?;
        }
        self.file.set_len(self.length)
    }
}

fn align_up(value: u64, alignment: u64) -> Option<u64> {
    value
        .checked_add(alignment - 1)
        .map(|value| value / alignment * alignment)
}

/// Sets the search path of the ELF file at `path` to `new` by appending a segment with a new
/// string table (see the module's documentation). The tag stays: `DT_RUNPATH` when the file
/// has one, else `DT_RPATH`; a file with neither gets `DT_RPATH` when its dynamic segment has
/// a spare slot (a `DT_RUNPATH` would stop the loader from searching, for this file's needed
/// libraries, the `DT_RPATH` of the objects that load it, which such files rely on). The result is read back: the search path must be `new`, and the needed
/// libraries and soname as they were; else the file is restored and
/// [`RpathError::AppendResult`] returned.
pub fn append_search_path(path: &Path, new: &[String]) -> Result<Appended, RpathError> {
    let file = fs_err::OpenOptions::new().read(true).write(true).open(path)?;
    let elf = ElfFile::new(&file, path)?;
    let dynamic = elf.dynamic()?;
    let refused = |reason| RpathError::CannotAppend {
        path: path.to_path_buf(),
        reason,
    };
    if let Some(entry) = new.iter().find(|entry| entry.contains('\0')) {
        return Err(RpathError::InvalidEntry {
            path: path.to_path_buf(),
            entry: entry.clone(),
        });
    }
    let header = dynamic.header;
    if header.e_type != ET_DYN && header.e_type != ET_EXEC {
        return Err(refused(AppendRefusal::NotLoadable));
    }
    let stored = elf.search_path_strings(&dynamic)?;
    let current = stored
        .iter()
        .find(|string| string.tag == SearchPathTag::Runpath)
        .or_else(|| stored.first());
    // A file without a search path gets DT_RPATH: a DT_RUNPATH would stop the loader from
    // searching the DT_RPATH of the objects that load it for its own needed libraries (a
    // bundled libgfortran without a search path finds its libquadmath through the RPATH of
    // the extension module that loads it, as auditwheel leaves them).
    let tag = current.map_or(SearchPathTag::Rpath, |string| string.tag);
    let old = current
        .map(|string| super::split_value(&string.value))
        .unwrap_or_default();
    // The dynamic entries to point at the new value: those of the edited string (DT_RPATH and
    // DT_RUNPATH naming one string are edited together), or a spare DT_NULL slot.
    let entry_at = |index: usize| dynamic.segment_offset + 16 * index as u64;
    let retarget: Vec<usize> = match current {
        Some(current) => dynamic
            .entries()
            .iter()
            .enumerate()
            .filter(|(_, (entry_tag, value))| {
                matches!(*entry_tag, DT_RPATH | DT_RUNPATH) && *value == current.offset
            })
            .map(|(index, _)| index)
            .collect(),
        None => Vec::new(),
    };
    let slots = dynamic.segment_size / 16;
    let used = dynamic.entries().len() as u64;
    if current.is_none() && used + 2 > slots {
        return Err(refused(AppendRefusal::NoDynamicSlot));
    }
    let count = header.e_phnum;
    if count == u16::MAX || count >= 0xff00 {
        return Err(refused(AppendRefusal::TooManyProgramHeaders { count }));
    }
    // The kernel tells an executable where its program headers are (AT_PHDR); kernels
    // before 5.18 as "first segment's address - its offset + e_phoff", so the new segment
    // must keep that displacement. The loader finds a library's through its segments: no
    // constraint there.
    let executable = header.e_type == ET_EXEC
        || dynamic
            .program_headers
            .iter()
            .any(|segment| segment.p_type == PT_INTERP)
        || dynamic
            .first(DT_FLAGS_1)
            .is_some_and(|flags| flags & DF_1_PIE != 0);
    let displacement = if executable {
        let first_load = dynamic
            .program_headers
            .iter()
            .find(|segment| segment.p_type == PT_LOAD)
            .ok_or_else(|| refused(AppendRefusal::NoLoadSegment))?;
        Some(
            first_load
                .p_vaddr
                .checked_sub(first_load.p_offset)
                .filter(|displacement| displacement % PAGE == 0)
                .ok_or_else(|| {
                    refused(AppendRefusal::Unaligned {
                        offset: first_load.p_offset,
                        address: first_load.p_vaddr,
                    })
                })?,
        )
    } else {
        None
    };

    // The new segment: the strings (the `.dynstr` section header will name them), then the
    // program headers, 8-byte aligned.
    let table_size = (u64::from(count) + 1) * PROGRAM_HEADER_SIZE;
    let value = new.join(":");
    let mut strings = elf.read(dynamic.strings.offset, dynamic.strings.size)?;
    let value_offset = strings.len() as u64;
    strings.extend_from_slice(value.as_bytes());
    strings.push(0);
    let table_within = align_up(strings.len() as u64, 8).unwrap_or(u64::MAX);
    let segment_size = table_within.saturating_add(table_size);
    let overflow = || elf.damaged("the file is too large to grow".to_string());
    let file_end = align_up(elf.length, PAGE).ok_or_else(overflow)?;
    let clear_of = align_up(dynamic.addresses().memory_end(), PAGE).ok_or_else(overflow)?;
    // Both page-aligned; an executable's the file's end (or, clear of .bss, later) plus the
    // displacement, a library's the first page clear of every segment.
    let (offset, address) = match displacement {
        Some(displacement) => {
            let offset = file_end.max(clear_of.saturating_sub(displacement));
            if offset - file_end > MOST_PADDING {
                return Err(refused(AppendRefusal::TooMuchPadding {
                    bytes: offset - elf.length,
                }));
            }
            (offset, offset.checked_add(displacement).ok_or_else(overflow)?)
        }
        None => (file_end, clear_of),
    };
    let table_offset = offset + table_within;
    let table_address = address + table_within;

    let mut table = elf.read(header.e_phoff, u64::from(count) * PROGRAM_HEADER_SIZE)?;
    for (index, segment) in dynamic.program_headers.iter().enumerate() {
        if segment.p_type == PT_PHDR {
            let at = index * PROGRAM_HEADER_SIZE as usize;
            // p_offset, p_vaddr, p_paddr, p_filesz, p_memsz.
            for (field, value) in [
                (8, table_offset),
                (16, table_address),
                (24, table_address),
                (32, table_size),
                (40, table_size),
            ] {
                table[at + field..at + field + 8].copy_from_slice(&value.to_le_bytes());
            }
        }
    }
    let mut load = Vec::with_capacity(PROGRAM_HEADER_SIZE as usize);
    load.extend_from_slice(&PT_LOAD.to_le_bytes());
    load.extend_from_slice(&PF_R.to_le_bytes());
    for value in [offset, address, address, segment_size, segment_size, PAGE] {
        load.extend_from_slice(&value.to_le_bytes());
    }
    table.extend_from_slice(&load);
    let mut segment = strings.clone();
    segment.resize(table_within as usize, 0);
    segment.extend_from_slice(&table);

    let needed = elf.names(&dynamic, DT_NEEDED)?;
    let soname = elf.names(&dynamic, DT_SONAME)?;
    let section = dynstr_section(&elf, &dynamic)?;

    let mut journal = Journal {
        file: &file,
        length: elf.length,
        replaced: Vec::new(),
    };
    let written = (|| -> std::io::Result<()> {
        file.set_len(offset)?;
        file.write_all_at(&segment, offset)?;
        // e_phoff, e_phnum.
        journal.write(0x20, &table_offset.to_le_bytes())?;
        journal.write(0x38, &(count + 1).to_le_bytes())?;
        let strings_address = address;
        for (index, (entry_tag, _)) in dynamic.entries().iter().enumerate() {
            let new_value = match *entry_tag {
                DT_STRTAB => strings_address,
                DT_STRSZ => strings.len() as u64,
                _ if retarget.contains(&index) => value_offset,
                _ => continue,
            };
            journal.write(entry_at(index) + 8, &new_value.to_le_bytes())?;
        }
        if current.is_none() {
            let mut entry = Vec::with_capacity(16);
            entry.extend_from_slice(&DT_RPATH.to_le_bytes());
            entry.extend_from_slice(&value_offset.to_le_bytes());
            journal.write(entry_at(dynamic.entries().len()), &entry)?;
            let mut end = Vec::with_capacity(16);
            end.extend_from_slice(&DT_NULL.to_le_bytes());
            end.extend_from_slice(&0u64.to_le_bytes());
            journal.write(entry_at(dynamic.entries().len() + 1), &end)?;
        }
        if let Some(at) = section {
            // sh_addr, sh_offset, sh_size.
            journal.write(at + 16, &strings_address.to_le_bytes())?;
            journal.write(at + 24, &offset.to_le_bytes())?;
            journal.write(at + 32, &(strings.len() as u64).to_le_bytes())?;
        }
        Ok(())
    })();
    let check = written.map_err(RpathError::from).and_then(|()| {
        let after = read_search_path(path)?;
        let file = fs_err::File::open(path)?;
        let reread = ElfFile::new(&file, path)?;
        let reread_dynamic = reread.dynamic()?;
        let same = after.tag() == Some(tag)
            && after.entries() == new
            && reread.names(&reread_dynamic, DT_NEEDED)? == needed
            && reread.names(&reread_dynamic, DT_SONAME)? == soname;
        Ok((same, after))
    });
    match check {
        Ok((true, _)) => {
            tracing::debug!(
                "{}: {tag} `{}` -> `{value}` (a segment appended at offset {offset:#x}, address {address:#x})",
                path.display(),
                old.join(":")
            );
            Ok(Appended {
                tag,
                old,
                new: new.to_vec(),
                added: elf.length..offset + segment_size,
            })
        }
        Ok((false, found)) => {
            journal.undo()?;
            Err(RpathError::AppendResult {
                path: path.to_path_buf(),
                found,
                wanted: new.to_vec(),
            })
        }
        Err(error) => {
            journal.undo()?;
            Err(error)
        }
    }
}

/// Where the section header of the `SHT_STRTAB` section at the dynamic string table's address
/// and offset is, if the file has one.
fn dynstr_section(elf: &ElfFile<'_>, dynamic: &Dynamic) -> Result<Option<u64>, RpathError> {
    let header = &dynamic.header;
    if header.e_shnum == 0 || u64::from(header.e_shentsize) != SECTION_HEADER_SIZE {
        return Ok(None);
    }
    let Some(strtab_address) = dynamic.first(DT_STRTAB) else {
        return Ok(None);
    };
    let Ok(table) = elf.read(header.e_shoff, u64::from(header.e_shnum) * SECTION_HEADER_SIZE) else {
        return Ok(None);
    };
    Ok(table
        .chunks_exact(SECTION_HEADER_SIZE as usize)
        .position(|entry| {
            u32_at(entry, 4) == SHT_STRTAB
                && u64_at(entry, 16) == strtab_address
                && u64_at(entry, 24) == dynamic.strings.offset
        })
        .map(|index| header.e_shoff + index as u64 * SECTION_HEADER_SIZE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_journal_puts_back_every_byte_and_the_length() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("file");
        let original: Vec<u8> = (0..=255).collect();
        fs_err::write(&path, &original).unwrap();
        let file = fs_err::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        let mut journal = Journal {
            file: &file,
            length: original.len() as u64,
            replaced: Vec::new(),
        };
        file.set_len(4096).unwrap();
        file.write_all_at(b"appended", 4000).unwrap();
        journal.write(10, b"first").unwrap();
        journal.write(12, b"overlapping").unwrap();
        assert_ne!(fs_err::read(&path).unwrap(), original);
        journal.undo().unwrap();
        assert_eq!(fs_err::read(&path).unwrap(), original);
    }
}
