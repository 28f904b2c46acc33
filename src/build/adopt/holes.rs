//! The bytes of an ELF member the adoption pass need not keep in its scratch file: large
//! read-only data segments (`.rodata`, CUDA's `.nv_fatbin`), which neither the search path
//! edit nor the inspection reads. They are left as holes while the member is inflated, and
//! inflated again from the member's old stream ([`fill`]) the moment anything turns out to
//! need them: a section or dynamic table that lies in them ([`reason_to_fill`]), a new hash
//! that has to run through them after an edit, or a whole file deflated anew.

use std::ops::Range;
use std::os::unix::fs::FileExt as _;

use goblin::elf::program_header::{PF_W, PF_X, PT_LOAD, ProgramHeader};

use crate::wheel::splice::{BlockIndex, SpliceError, WINDOW, inflate_range};

/// A segment smaller than this is written anyway: a hole has to be worth its bookkeeping.
pub(super) const SMALLEST: u64 = 4 << 20;

/// The program header table must end within this many bytes of the file for holes to be
/// planned (it starts at byte 64 in files every linker writes).
pub(super) const PREFIX_LIMIT: usize = 64 << 10;

const PAGE: u64 = 4096;

/// Sections that may lie in a hole: data nothing of the adoption reads.
const UNREAD_SECTIONS: [&str; 8] = [
    "__nv_module_id",
    ".rodata",
    ".lrodata",
    ".nv_fatbin",
    "__nv_relfatbin",
    ".nvFatBinSegment",
    ".eh_frame",
    ".gcc_except_table",
];

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

fn context() -> goblin::container::Ctx {
    goblin::container::Ctx::new(
        goblin::container::Container::Big,
        goblin::container::Endian::Little,
    )
}

/// The program headers of a little-endian ELF64 file from its first bytes: `None` while
/// `prefix` is too short to hold them, `Some(None)` when there is no table to plan from.
fn program_headers(prefix: &[u8]) -> Option<Option<(Vec<ProgramHeader>, u64)>> {
    if prefix.len() < 64 {
        return None;
    }
    if !crate::elf::is_elf(prefix) || prefix[4] != 2 || prefix[5] != 1 {
        return Some(None);
    }
    let (Some(offset), Some(size), Some(count)) =
        (u64_at(prefix, 32), u16_at(prefix, 54), u16_at(prefix, 56))
    else {
        return Some(None);
    };
    // 0xffff: the count is in the first section header, which comes at the end.
    if size != 56 || count == 0 || count == 0xffff {
        return Some(None);
    }
    let end = offset.saturating_add(u64::from(count) * 56);
    if end > PREFIX_LIMIT as u64 {
        return Some(None);
    }
    if (prefix.len() as u64) < end {
        return None;
    }
    let headers = ProgramHeader::parse(prefix, offset as usize, usize::from(count), context()).ok();
    Some(headers.map(|headers| (headers, end)))
}

/// The ranges of the member to leave out of its scratch file, planned from its first bytes
/// (`None`: not enough of them yet). Only read-only, non-executable `PT_LOAD` segments past
/// the program header table qualify, less every other segment's bytes (the dynamic table,
/// notes, the interpreter, the exception frame header, writable or executable loads that
/// overlap them), page-aligned inward, each at least [`SMALLEST`] long.
pub(super) fn plan(prefix: &[u8]) -> Option<Vec<Range<u64>>> {
    let Some((headers, table_end)) = program_headers(prefix)? else {
        return Some(Vec::new());
    };
    let range = |header: &ProgramHeader| header.p_offset..header.p_offset.saturating_add(header.p_filesz);
    let unread = |header: &ProgramHeader| {
        header.p_type == PT_LOAD && header.p_flags & (PF_X | PF_W) == 0 && header.p_offset >= table_end
    };
    let mut holes: Vec<Range<u64>> = headers
        .iter()
        .filter(|header| unread(header))
        .map(range)
        .collect();
    for kept in headers
        .iter()
        .filter(|header| !unread(header) && header.p_filesz > 0)
    {
        let kept = range(kept);
        holes = holes
            .into_iter()
            .flat_map(|hole| {
                if kept.end <= hole.start || hole.end <= kept.start {
                    return vec![hole];
                }
                [hole.start..kept.start, kept.end..hole.end]
                    .into_iter()
                    .filter(|piece| piece.start < piece.end)
                    .collect()
            })
            .collect();
    }
    let mut holes: Vec<Range<u64>> = holes
        .into_iter()
        .map(|hole| hole.start.div_ceil(PAGE) * PAGE..hole.end / PAGE * PAGE)
        .filter(|hole| hole.end > hole.start && hole.end - hole.start >= SMALLEST)
        .collect();
    holes.sort_by_key(|hole| hole.start);
    holes.dedup_by(|later, earlier| {
        // Overlapping loads: one hole for both.
        if later.start <= earlier.end {
            earlier.end = earlier.end.max(later.end);
            return true;
        }
        false
    });
    Some(holes)
}

fn touches(holes: &[Range<u64>], range: &Range<u64>) -> bool {
    holes
        .iter()
        .any(|hole| hole.start < range.end && range.start < hole.end)
}

/// Why the holes of `file` (a member's scratch file) must be filled before it is read, if
/// they must: its section headers, or a section other than read-only data, or a table its
/// dynamic section points to, lie in a hole (or cannot be read to tell).
pub(super) fn reason_to_fill(file: &std::fs::File, holes: &[Range<u64>]) -> Option<String> {
    if holes.is_empty() {
        return None;
    }
    match tables_in_holes(file, holes) {
        Ok(None) => None,
        Ok(Some(reason)) => Some(reason),
        Err(error) => Some(format!("its tables could not be read: {error}")),
    }
}

fn read_range(file: &std::fs::File, offset: u64, length: u64) -> std::io::Result<Vec<u8>> {
    if length > 256 << 20 {
        return Err(std::io::Error::other(format!("a table of {length} bytes")));
    }
    let mut bytes = vec![0u8; length as usize];
    file.read_exact_at(&mut bytes, offset)?;
    Ok(bytes)
}

fn tables_in_holes(file: &std::fs::File, holes: &[Range<u64>]) -> std::io::Result<Option<String>> {
    use goblin::elf::section_header::{SHF_EXECINSTR, SHF_WRITE, SHT_NOBITS, SHT_PROGBITS, SectionHeader};
    let header = read_range(file, 0, 64)?;
    let invalid = |what: &str| std::io::Error::other(what.to_string());
    let section_offset = u64_at(&header, 40).ok_or_else(|| invalid("no header"))?;
    let section_size = u16_at(&header, 58).ok_or_else(|| invalid("no header"))?;
    let section_count = u16_at(&header, 60).ok_or_else(|| invalid("no header"))?;
    let names_index = u16_at(&header, 62).ok_or_else(|| invalid("no header"))?;
    if section_count == 0 || section_size != 64 {
        return Ok(Some(
            "it has no section headers to tell what lies where".to_string(),
        ));
    }
    let table = section_offset..section_offset.saturating_add(u64::from(section_count) * 64);
    if touches(holes, &table) {
        return Ok(Some("its section headers lie in a hole".to_string()));
    }
    let table_bytes = read_range(file, table.start, table.end - table.start)?;
    let sections = SectionHeader::parse_from(&table_bytes, 0, usize::from(section_count), context())
        .map_err(|error| std::io::Error::other(error.to_string()))?;
    let names = sections
        .get(usize::from(names_index))
        .ok_or_else(|| invalid("no section names"))?;
    let names_range = names.sh_offset..names.sh_offset.saturating_add(names.sh_size);
    if touches(holes, &names_range) {
        return Ok(Some("its section names lie in a hole".to_string()));
    }
    let names = read_range(file, names_range.start, names_range.end - names_range.start)?;
    for section in &sections {
        let range = section.sh_offset..section.sh_offset.saturating_add(section.sh_size);
        if section.sh_type == SHT_NOBITS || section.sh_size == 0 || !touches(holes, &range) {
            continue;
        }
        let name = names
            .get(section.sh_name..)
            .and_then(|rest| rest.split(|byte| *byte == 0).next())
            .map(String::from_utf8_lossy)
            .unwrap_or_default();
        // Read-only data by its type and flags too, not by its name alone: code, writable
        // data, notes, symbol and relocation tables are read whatever they are called.
        // (lld and gold give `.eh_frame` the type SHT_X86_64_UNWIND.)
        const SHT_X86_64_UNWIND: u32 = 0x7000_0001;
        let plain_data = matches!(section.sh_type, SHT_PROGBITS | SHT_X86_64_UNWIND)
            && section.sh_flags & u64::from(SHF_EXECINSTR | SHF_WRITE) == 0;
        if !plain_data
            || !UNREAD_SECTIONS
                .iter()
                .any(|unread| name == *unread || name.starts_with(&format!("{unread}.")))
        {
            return Ok(Some(format!("its section `{name}` lies in a hole")));
        }
    }
    dynamic_tables_in_holes(file, &header, holes)
}

/// Whether a table the dynamic section points to lies in a hole (any file offset a load
/// segment maps its address to).
fn dynamic_tables_in_holes(
    file: &std::fs::File,
    header: &[u8],
    holes: &[Range<u64>],
) -> std::io::Result<Option<String>> {
    use goblin::elf::dynamic::*;
    use goblin::elf::program_header::PT_DYNAMIC;
    let offset = u64_at(header, 32).unwrap_or_default();
    let count = u16_at(header, 56).unwrap_or_default();
    let table = read_range(file, offset, u64::from(count) * 56)?;
    let headers = ProgramHeader::parse(&table, 0, usize::from(count), context())
        .map_err(|error| std::io::Error::other(error.to_string()))?;
    let Some(dynamic) = headers.iter().find(|header| header.p_type == PT_DYNAMIC) else {
        return Ok(None);
    };
    let entries = read_range(file, dynamic.p_offset, dynamic.p_filesz)?;
    let value = |tag: u64| {
        entries
            .chunks_exact(16)
            .map(|entry| {
                (
                    u64_at(entry, 0).unwrap_or_default(),
                    u64_at(entry, 8).unwrap_or_default(),
                )
            })
            .take_while(|(found, _)| *found != DT_NULL)
            .find(|(found, _)| *found == tag)
            .map(|(_, value)| value)
    };
    const DT_RELR: u64 = 36;
    const DT_RELRSZ: u64 = 35;
    let tables = [
        (DT_STRTAB, Some(DT_STRSZ)),
        (DT_SYMTAB, None),
        (DT_HASH, None),
        (DT_GNU_HASH, None),
        (DT_RELA, Some(DT_RELASZ)),
        (DT_REL, Some(DT_RELSZ)),
        (DT_RELR, Some(DT_RELRSZ)),
        (DT_JMPREL, Some(DT_PLTRELSZ)),
        (DT_VERSYM, None),
        (DT_VERNEED, None),
        (DT_VERDEF, None),
    ];
    for (tag, size) in tables {
        let Some(address) = value(tag) else { continue };
        let length = size.and_then(value).unwrap_or(1).max(1);
        for load in headers.iter().filter(|header| header.p_type == PT_LOAD) {
            if load.p_vaddr <= address && address < load.p_vaddr.saturating_add(load.p_filesz) {
                let start = load.p_offset + (address - load.p_vaddr);
                if touches(holes, &(start..start.saturating_add(length))) {
                    return Ok(Some(format!(
                        "the table of its dynamic tag {tag:#x} lies in a hole"
                    )));
                }
            }
        }
    }
    Ok(None)
}

/// Fills the holes of the scratch file `scratch` that end after byte `after` (and any earlier
/// hole the window of one of them reaches into), inflating their bytes again from the
/// member's old stream at `stream_start` of `wheel`, which `index` indexed; the holes filled
/// leave `holes`.
pub(super) fn fill(
    scratch: &std::fs::File,
    holes: &mut Vec<Range<u64>>,
    after: u64,
    wheel: &std::fs::File,
    stream_start: u64,
    index: &BlockIndex,
) -> Result<(), SpliceError> {
    let mut first = holes.partition_point(|hole| hole.end <= after);
    let restart = |hole: &Range<u64>| {
        let before = index
            .boundaries
            .partition_point(|boundary| boundary.offset <= hole.start);
        index.boundaries[before.saturating_sub(1)]
    };
    // A window that reaches into an earlier hole needs that one filled first.
    while first > 0 && holes[first - 1].end > restart(&holes[first]).offset.saturating_sub(WINDOW) {
        first -= 1;
    }
    for hole in holes.drain(first..) {
        let from = restart(&hole);
        let window_start = from.offset.saturating_sub(WINDOW);
        let window = read_range(scratch, window_start, from.offset - window_start)?;
        inflate_range(
            wheel,
            stream_start,
            from,
            &window,
            hole.clone(),
            &mut |at, bytes| scratch.write_all_at(bytes, at),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An ELF64 header and program header table for `segments` (type, flags, offset, size).
    fn elf_head(segments: &[(u32, u32, u64, u64)]) -> Vec<u8> {
        let mut bytes = vec![0u8; 64];
        bytes[..4].copy_from_slice(b"\x7fELF");
        bytes[4] = 2;
        bytes[5] = 1;
        bytes[6] = 1;
        bytes[32..40].copy_from_slice(&64u64.to_le_bytes());
        bytes[54..56].copy_from_slice(&56u16.to_le_bytes());
        bytes[56..58].copy_from_slice(&(segments.len() as u16).to_le_bytes());
        for (kind, flags, offset, size) in segments {
            let mut header = vec![0u8; 56];
            header[0..4].copy_from_slice(&kind.to_le_bytes());
            header[4..8].copy_from_slice(&flags.to_le_bytes());
            header[8..16].copy_from_slice(&offset.to_le_bytes());
            header[16..24].copy_from_slice(&offset.to_le_bytes());
            header[32..40].copy_from_slice(&size.to_le_bytes());
            header[40..48].copy_from_slice(&size.to_le_bytes());
            bytes.extend_from_slice(&header);
        }
        bytes
    }

    const R: u32 = goblin::elf::program_header::PF_R;
    const MB: u64 = 1 << 20;

    #[test]
    fn only_large_read_only_data_segments_become_holes_less_what_other_segments_hold() {
        use goblin::elf::program_header::{PT_DYNAMIC, PT_GNU_EH_FRAME, PT_NOTE};
        let head = elf_head(&[
            (PT_LOAD, R, 0, 20 * MB),                 // headers and dynamic tables: kept
            (PT_LOAD, R | PF_X, 20 * MB, 30 * MB),    // code: kept
            (PT_LOAD, R, 50 * MB, 100 * MB + 123),    // read-only data: a hole
            (PT_GNU_EH_FRAME, R, 120 * MB + 5, 1000), // cut out of it
            (PT_LOAD, R | PF_W, 151 * MB, 10 * MB),   // writable: kept
            (PT_DYNAMIC, R | PF_W, 152 * MB, 512),
            (PT_NOTE, R, 200 * MB, 36),
            (PT_LOAD, R, 200 * MB, 2 * MB), // read-only but small: kept
        ]);
        assert_eq!(plan(&head[..100]), None, "the table is not whole yet");
        let holes = plan(&head).unwrap();
        assert_eq!(holes, vec![50 * MB..120 * MB, 120 * MB + PAGE..150 * MB]);
    }

    /// A file of `length` bytes with `sections` (name, type, flags, offset, size) described by
    /// a section header table at its end, and a program header table of `segments`.
    fn elf_file(
        length: u64,
        segments: &[(u32, u32, u64, u64)],
        sections: &[(&str, u32, u64, u64, u64)],
    ) -> std::fs::File {
        let mut bytes = elf_head(segments);
        bytes.resize(length as usize, 0xaa);
        let mut names = vec![0u8];
        let mut name_offsets = Vec::new();
        for (name, ..) in sections.iter().copied().chain([(".shstrtab", 3, 0, 0, 0)]) {
            name_offsets.push(names.len());
            names.extend_from_slice(name.as_bytes());
            names.push(0);
        }
        let names_offset = bytes.len() as u64;
        bytes.extend_from_slice(&names);
        let table = bytes.len() as u64;
        let mut header = |name: usize, kind: u32, flags: u64, offset: u64, size: u64| {
            let mut entry = vec![0u8; 64];
            entry[0..4].copy_from_slice(&(name as u32).to_le_bytes());
            entry[4..8].copy_from_slice(&kind.to_le_bytes());
            entry[8..16].copy_from_slice(&flags.to_le_bytes());
            entry[24..32].copy_from_slice(&offset.to_le_bytes());
            entry[32..40].copy_from_slice(&size.to_le_bytes());
            bytes.extend_from_slice(&entry);
        };
        header(0, 0, 0, 0, 0);
        for (index, (_, kind, flags, offset, size)) in sections.iter().enumerate() {
            header(name_offsets[index], *kind, *flags, *offset, *size);
        }
        header(
            name_offsets[sections.len()],
            3,
            0,
            names_offset,
            names.len() as u64,
        );
        let count = sections.len() as u16 + 2;
        bytes[40..48].copy_from_slice(&table.to_le_bytes());
        bytes[58..60].copy_from_slice(&64u16.to_le_bytes());
        bytes[60..62].copy_from_slice(&count.to_le_bytes());
        bytes[62..64].copy_from_slice(&(count - 1).to_le_bytes());
        let mut file = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut file, &bytes).unwrap();
        file
    }

    #[test]
    fn only_read_only_data_may_stay_in_a_hole_whatever_the_sections_are_called() {
        use goblin::elf::section_header::{SHF_ALLOC, SHF_EXECINSTR, SHT_PROGBITS, SHT_SYMTAB};
        let segments = [(PT_LOAD, R, 0, 64 * 1024), (PT_LOAD, R, 64 * 1024, 8 * MB)];
        let head = elf_head(&segments);
        let holes = plan(&head).unwrap();
        assert_eq!(holes, vec![64 * 1024..64 * 1024 + 8 * MB]);
        let alloc = u64::from(SHF_ALLOC);
        let data = (".rodata", SHT_PROGBITS, alloc, 64 * 1024, 4 * MB);
        let fatbin = (".nv_fatbin", SHT_PROGBITS, alloc, 64 * 1024 + 4 * MB, 4 * MB);
        let file = elf_file(10 * MB, &segments, &[data, fatbin]);
        assert_eq!(reason_to_fill(&file, &holes), None);
        // Code called `.rodata`, a symbol table called `.rodata.x`, a section of another name:
        // each needs the bytes.
        for (section, named) in [
            (
                (
                    ".rodata",
                    SHT_PROGBITS,
                    alloc | u64::from(SHF_EXECINSTR),
                    64 * 1024,
                    MB,
                ),
                ".rodata",
            ),
            ((".rodata.x", SHT_SYMTAB, 0, 64 * 1024, MB), ".rodata.x"),
            ((".text", SHT_PROGBITS, alloc, 64 * 1024, MB), ".text"),
        ] {
            let file = elf_file(10 * MB, &segments, &[section, fatbin]);
            let reason = reason_to_fill(&file, &holes).unwrap_or_default();
            assert!(reason.contains(&format!("`{named}`")), "{reason}");
        }
        // No section headers at all: nothing tells what lies where.
        let mut bare = elf_head(&segments);
        bare.resize(10 * MB as usize, 0);
        let mut file = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut file, &bare).unwrap();
        assert!(
            reason_to_fill(&file, &holes)
                .unwrap()
                .contains("no section headers")
        );
    }

    #[test]
    fn no_holes_without_a_table_to_plan_from() {
        assert_eq!(
            plan(b"#!/bin/sh\n echo this is a script of more than sixty four bytes ...."),
            Some(vec![])
        );
        let mut big_endian = elf_head(&[(PT_LOAD, R, 50 * MB, 100 * MB)]);
        big_endian[5] = 2;
        assert_eq!(plan(&big_endian), Some(vec![]));
        let mut many = elf_head(&[(PT_LOAD, R, 50 * MB, 100 * MB)]);
        many[56..58].copy_from_slice(&0xffffu16.to_le_bytes());
        assert_eq!(plan(&many), Some(vec![]));
        // A table far into the file: not planned from.
        let mut far = elf_head(&[(PT_LOAD, R, 50 * MB, 100 * MB)]);
        far[32..40].copy_from_slice(&(1u64 << 20).to_le_bytes());
        assert_eq!(plan(&far), Some(vec![]));
    }
}
