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
use super::{RpathError, SearchPath, SearchPathMismatch, SearchPathTag, read_search_path};

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
    if let Some(entry) = new.iter().find(|entry| entry.contains('\0')) {
        return Err(RpathError::InvalidEntry {
            path: path.to_path_buf(),
            entry: entry.clone(),
        });
    }
    let header = dynamic.header;
    if header.e_type != ET_DYN && header.e_type != ET_EXEC {
        return Err(refusal(path, AppendRefusal::NotLoadable));
    }
    let edited = Edited::of(&elf, &dynamic)?;
    let count = header.e_phnum;
    if count == u16::MAX || count >= 0xff00 {
        return Err(refusal(path, AppendRefusal::TooManyProgramHeaders { count }));
    }
    let displacement = executable_displacement(&dynamic).map_err(|reason| refusal(path, reason))?;
    let value = new.join(":");
    let segment = NewSegment::place(&elf, &dynamic, &value, displacement)?;
    let bytes = segment.bytes(&elf, &dynamic)?;
    let needed = elf.names(&dynamic, DT_NEEDED)?;
    let soname = elf.names(&dynamic, DT_SONAME)?;
    let section = dynstr_section(&elf, &dynamic)?;

    let mut journal = Journal {
        file: &file,
        length: elf.length,
        replaced: Vec::new(),
    };
    let check = write(&mut journal, &dynamic, &edited, &segment, &bytes, section)
        .map_err(RpathError::from)
        .and_then(|()| reads_back(path, edited.tag, new, &needed, &soname));
    match check {
        Ok((true, _)) => {
            tracing::debug!(
                "{}: {} `{}` -> `{value}` (a segment appended at offset {:#x}, address {:#x})",
                path.display(),
                edited.tag,
                edited.old.join(":"),
                segment.offset,
                segment.address
            );
            Ok(Appended {
                tag: edited.tag,
                old: edited.old,
                new: new.to_vec(),
                added: elf.length..segment.offset + segment.size(),
            })
        }
        Ok((false, found)) => {
            journal.undo()?;
            Err(RpathError::AppendResult {
                path: path.to_path_buf(),
                mismatch: SearchPathMismatch {
                    found,
                    wanted: new.to_vec(),
                },
            })
        }
        Err(error) => {
            journal.undo()?;
            Err(error)
        }
    }
}

/// Why the file at `path` is left to patchelf.
fn refusal(path: &Path, reason: AppendRefusal) -> RpathError {
    RpathError::CannotAppend {
        path: path.to_path_buf(),
        reason,
    }
}

/// The search path an append edits: its tag and old entries, and the dynamic entries to point
/// at the new value.
struct Edited {
    tag: SearchPathTag,
    old: Vec<String>,
    /// The indices of the dynamic entries naming the edited string (`DT_RPATH` and
    /// `DT_RUNPATH` naming one string are edited together).
    retarget: Vec<usize>,
    /// The file has no search path: a `DT_RPATH` entry (and a new `DT_NULL`) goes into the
    /// dynamic segment's spare slots.
    add_entry: bool,
}

impl Edited {
    /// The edited search path of the file: `DT_RUNPATH`'s, else `DT_RPATH`'s; a file with
    /// neither gets a `DT_RPATH` when its dynamic segment has two spare slots.
    fn of(elf: &ElfFile<'_>, dynamic: &Dynamic) -> Result<Self, RpathError> {
        let Some(current) = elf.edited_search_path(dynamic)? else {
            // A file without a search path gets DT_RPATH: a DT_RUNPATH would stop the loader
            // from searching the DT_RPATH of the objects that load it for its own needed
            // libraries (a bundled libgfortran without a search path finds its libquadmath
            // through the RPATH of the extension module that loads it, as auditwheel leaves
            // them).
            let slots = dynamic.segment_size / 16;
            if dynamic.entries().len() as u64 + 2 > slots {
                return Err(refusal(elf.path, AppendRefusal::NoDynamicSlot));
            }
            return Ok(Edited {
                tag: SearchPathTag::Rpath,
                old: Vec::new(),
                retarget: Vec::new(),
                add_entry: true,
            });
        };
        let retarget = dynamic
            .entries()
            .iter()
            .enumerate()
            .filter(|(_, (entry_tag, value))| {
                matches!(*entry_tag, DT_RPATH | DT_RUNPATH) && *value == current.offset
            })
            .map(|(index, _)| index)
            .collect();
        Ok(Edited {
            tag: current.tag,
            old: super::split_value(&current.value),
            retarget,
            add_entry: false,
        })
    }
}

/// For an executable, the distance between its first `PT_LOAD`'s address and file offset,
/// which the new segment must keep: the kernel tells an executable where its program headers
/// are (`AT_PHDR`), kernels before 5.18 as "first segment's address - its offset + e_phoff".
/// `None` for a library: the loader finds its headers through its segments.
fn executable_displacement(dynamic: &Dynamic) -> Result<Option<u64>, AppendRefusal> {
    let executable = dynamic.header.e_type == ET_EXEC
        || dynamic
            .program_headers
            .iter()
            .any(|segment| segment.p_type == PT_INTERP)
        || dynamic
            .first(DT_FLAGS_1)
            .is_some_and(|flags| flags & DF_1_PIE != 0);
    if !executable {
        return Ok(None);
    }
    let first_load = dynamic
        .program_headers
        .iter()
        .find(|segment| segment.p_type == PT_LOAD)
        .ok_or(AppendRefusal::NoLoadSegment)?;
    first_load
        .p_vaddr
        .checked_sub(first_load.p_offset)
        .filter(|displacement| displacement % PAGE == 0)
        .map(Some)
        .ok_or(AppendRefusal::Unaligned {
            offset: first_load.p_offset,
            address: first_load.p_vaddr,
        })
}

/// The appended segment: where it goes and what it holds. First the strings (the `.dynstr`
/// section header will name them), then the program headers, 8-byte aligned.
struct NewSegment {
    /// Its file offset and address, both page-aligned.
    offset: u64,
    address: u64,
    /// The old `.dynstr`, then the new value and its NUL.
    strings: Vec<u8>,
    /// Where the new value starts in `strings`.
    value_offset: u64,
    /// Where the program header table starts in the segment, and its size.
    table_within: u64,
    table_size: u64,
}

impl NewSegment {
    /// The segment holding `value` after the file's strings, placed: an executable's at the
    /// file's end (or, clear of .bss, later) plus its `displacement`, a library's at the
    /// file's end and the first page clear of every segment.
    fn place(
        elf: &ElfFile<'_>,
        dynamic: &Dynamic,
        value: &str,
        displacement: Option<u64>,
    ) -> Result<Self, RpathError> {
        let table_size = (u64::from(dynamic.header.e_phnum) + 1) * PROGRAM_HEADER_SIZE;
        let mut strings = elf.read(dynamic.strings.offset, dynamic.strings.size)?;
        let value_offset = strings.len() as u64;
        strings.extend_from_slice(value.as_bytes());
        strings.push(0);
        let table_within = align_up(strings.len() as u64, 8).unwrap_or(u64::MAX);
        let overflow = || elf.damaged("the file is too large to grow".to_string());
        let file_end = align_up(elf.length, PAGE).ok_or_else(overflow)?;
        let clear_of = align_up(dynamic.addresses().memory_end(), PAGE).ok_or_else(overflow)?;
        let (offset, address) = match displacement {
            Some(displacement) => {
                let offset = file_end.max(clear_of.saturating_sub(displacement));
                if offset - file_end > MOST_PADDING {
                    return Err(refusal(
                        elf.path,
                        AppendRefusal::TooMuchPadding {
                            bytes: offset - elf.length,
                        },
                    ));
                }
                (offset, offset.checked_add(displacement).ok_or_else(overflow)?)
            }
            None => (file_end, clear_of),
        };
        Ok(NewSegment {
            offset,
            address,
            strings,
            value_offset,
            table_within,
            table_size,
        })
    }

    /// Its size in the file and in memory.
    fn size(&self) -> u64 {
        self.table_within.saturating_add(self.table_size)
    }

    fn table_offset(&self) -> u64 {
        self.offset + self.table_within
    }

    fn table_address(&self) -> u64 {
        self.address + self.table_within
    }

    /// Its bytes: the strings, zeros to the table, and the program header table: the file's,
    /// its `PT_PHDR` moved here, and a `PT_LOAD` for this segment.
    fn bytes(&self, elf: &ElfFile<'_>, dynamic: &Dynamic) -> Result<Vec<u8>, RpathError> {
        let header = &dynamic.header;
        let mut table = elf.read(header.e_phoff, u64::from(header.e_phnum) * PROGRAM_HEADER_SIZE)?;
        for (index, segment) in dynamic.program_headers.iter().enumerate() {
            if segment.p_type == PT_PHDR {
                let at = index * PROGRAM_HEADER_SIZE as usize;
                // p_offset, p_vaddr, p_paddr, p_filesz, p_memsz.
                for (field, value) in [
                    (8, self.table_offset()),
                    (16, self.table_address()),
                    (24, self.table_address()),
                    (32, self.table_size),
                    (40, self.table_size),
                ] {
                    table[at + field..at + field + 8].copy_from_slice(&value.to_le_bytes());
                }
            }
        }
        let mut load = Vec::with_capacity(PROGRAM_HEADER_SIZE as usize);
        load.extend_from_slice(&PT_LOAD.to_le_bytes());
        load.extend_from_slice(&PF_R.to_le_bytes());
        let size = self.size();
        for value in [self.offset, self.address, self.address, size, size, PAGE] {
            load.extend_from_slice(&value.to_le_bytes());
        }
        table.extend_from_slice(&load);
        let mut bytes = self.strings.clone();
        bytes.resize(self.table_within as usize, 0);
        bytes.extend_from_slice(&table);
        Ok(bytes)
    }
}

/// Appends the segment's `bytes` to the file and points the file at them, every overwritten
/// byte journalled: the ELF header at the new program header table, `DT_STRTAB` and
/// `DT_STRSZ` at the new strings, the edited entries (or a new `DT_RPATH`) at the new value,
/// and the `.dynstr` section header at `section`, if any, at the new strings.
fn write(
    journal: &mut Journal<'_>,
    dynamic: &Dynamic,
    edited: &Edited,
    segment: &NewSegment,
    bytes: &[u8],
    section: Option<u64>,
) -> std::io::Result<()> {
    journal.file.set_len(segment.offset)?;
    journal.file.write_all_at(bytes, segment.offset)?;
    // e_phoff, e_phnum.
    journal.write(0x20, &segment.table_offset().to_le_bytes())?;
    journal.write(0x38, &(dynamic.header.e_phnum + 1).to_le_bytes())?;
    let entry_at = |index: usize| dynamic.segment_offset + 16 * index as u64;
    let strings_size = segment.strings.len() as u64;
    for (index, (entry_tag, _)) in dynamic.entries().iter().enumerate() {
        let new_value = match *entry_tag {
            DT_STRTAB => segment.address,
            DT_STRSZ => strings_size,
            _ if edited.retarget.contains(&index) => segment.value_offset,
            _ => continue,
        };
        journal.write(entry_at(index) + 8, &new_value.to_le_bytes())?;
    }
    if edited.add_entry {
        let mut entry = Vec::with_capacity(16);
        entry.extend_from_slice(&DT_RPATH.to_le_bytes());
        entry.extend_from_slice(&segment.value_offset.to_le_bytes());
        journal.write(entry_at(dynamic.entries().len()), &entry)?;
        let mut end = Vec::with_capacity(16);
        end.extend_from_slice(&DT_NULL.to_le_bytes());
        end.extend_from_slice(&0u64.to_le_bytes());
        journal.write(entry_at(dynamic.entries().len() + 1), &end)?;
    }
    if let Some(at) = section {
        // sh_addr, sh_offset, sh_size.
        journal.write(at + 16, &segment.address.to_le_bytes())?;
        journal.write(at + 24, &segment.offset.to_le_bytes())?;
        journal.write(at + 32, &strings_size.to_le_bytes())?;
    }
    Ok(())
}

/// The file at `path` read back after the write: whether its search path is `new` under
/// `tag` and its needed libraries and soname are as they were; and the search path found.
fn reads_back(
    path: &Path,
    tag: SearchPathTag,
    new: &[String],
    needed: &[String],
    soname: &[String],
) -> Result<(bool, SearchPath), RpathError> {
    let after = read_search_path(path)?;
    let file = fs_err::File::open(path)?;
    let reread = ElfFile::new(&file, path)?;
    let dynamic = reread.dynamic()?;
    let same = after.tag() == Some(tag)
        && after.entries() == new
        && reread.names(&dynamic, DT_NEEDED)? == needed
        && reread.names(&dynamic, DT_SONAME)? == soname;
    Ok((same, after))
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
