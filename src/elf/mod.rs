//! ELF inspection of wheel members: dependencies, search paths, symbol versions, ISA notes and
//! the instruction set actually used (see [`isa`]). Our own reading over goblin: no ldd, no
//! patchelf, nothing executed; the dynamic tables' addresses checked against the one mapping
//! of addresses to file offsets (`addresses`), which every layout patchelf, strip and linkers
//! write goes through. Editing search paths is [`rpath`]'s (in place, or grown into an
//! appended segment; patchelf is `crate::build::patchelf`'s).

mod addresses;
#[cfg(test)]
mod corpus;
pub mod isa;
pub mod rpath;

use std::collections::{BTreeMap, BTreeSet};

use goblin::elf::Elf;
use serde::Serialize;

use crate::layout::DottedVersion;

pub use isa::InstructionScan;

/// What kind of ELF object a member is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ElfKind {
    SharedObject,
    Executable,
    Relocatable,
    Other,
}

/// Why a member that looks like it should be ELF cannot be inspected.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ElfProblem {
    #[error("not an ELF file")]
    NotElf,
    #[error("a damaged or truncated ELF file ({0})")]
    Damaged(String),
    #[error("a 32-bit ELF file; x86-64 wheels need 64-bit objects")]
    ThirtyTwoBit,
    #[error("an ELF file for another machine ({0}), not x86-64")]
    OtherMachine(String),
}

/// Everything wheelwright reads from one ELF file.
#[derive(Debug, Clone, Serialize)]
pub struct ElfInfo {
    pub kind: ElfKind,
    pub soname: Option<String>,
    pub needed: Vec<String>,
    pub rpath: Vec<String>,
    pub runpath: Vec<String>,
    pub interpreter: Option<String>,
    /// Version names required from each library (`libc.so.6` -> `GLIBC_2.17`, ...).
    pub symbol_versions: BTreeMap<String, BTreeSet<String>>,
    /// The newest `GLIBC_x.y` required.
    pub glibc: Option<DottedVersion>,
    /// The newest `GLIBCXX_x.y.z` required.
    pub glibcxx: Option<DottedVersion>,
    /// The newest `CXXABI_x.y.z` required.
    pub cxxabi: Option<DottedVersion>,
    /// The x86-64 level from the GNU property note (`GNU_PROPERTY_X86_ISA_1_NEEDED`).
    pub isa_note: Option<u8>,
    /// The instructions used, when scanned.
    pub instructions: Option<InstructionScan>,
}

/// Whether `bytes` start like an ELF file.
pub fn is_elf(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\x7fELF")
}

fn newest(versions: &BTreeMap<String, BTreeSet<String>>, prefix: &str) -> Option<DottedVersion> {
    versions
        .values()
        .flatten()
        .filter_map(|name| name.strip_prefix(prefix))
        .filter_map(|version| version.parse::<DottedVersion>().ok())
        .max()
}

/// RPATH/RUNPATH entries split on `:`. Empty entries are kept: the loader reads them as the
/// current directory, which is worth seeing.
fn split_paths(entries: &[&str]) -> Vec<String> {
    entries
        .iter()
        .filter(|entry| !entry.is_empty())
        .flat_map(|entry| entry.split(':'))
        .map(str::to_string)
        .collect()
}

/// The x86 ISA level needed, from a `.note.gnu.property` note.
fn isa_needed(elf: &Elf<'_>, bytes: &[u8]) -> Option<u8> {
    const NT_GNU_PROPERTY_TYPE_0: u32 = 5;
    const GNU_PROPERTY_X86_ISA_1_NEEDED: u32 = 0xc000_8002;
    let alignment = if elf.is_64 { 8 } else { 4 };
    let mut level = None;
    for note in elf.iter_note_sections(bytes, None)?.flatten() {
        if note.n_type != NT_GNU_PROPERTY_TYPE_0 || note.name != "GNU" {
            continue;
        }
        let mut desc = note.desc;
        while desc.len() >= 8 {
            let kind = u32::from_le_bytes([desc[0], desc[1], desc[2], desc[3]]);
            let size = u32::from_le_bytes([desc[4], desc[5], desc[6], desc[7]]) as usize;
            let Some(data) = desc.get(8..8 + size) else { break };
            if kind == GNU_PROPERTY_X86_ISA_1_NEEDED && size >= 4 {
                let bits = u32::from_le_bytes([data[0], data[1], data[2], data[3]]);
                // Bit 0 baseline, 1 v2, 2 v3, 3 v4.
                let found = (0..4)
                    .rev()
                    .find(|bit| bits & (1 << bit) != 0)
                    .map(|bit| bit as u8 + 1);
                level = level.max(found);
            }
            let padded = (8 + size).div_ceil(alignment) * alignment;
            desc = desc.get(padded..).unwrap_or_default();
        }
    }
    level
}

/// Checks goblin's reading of the dynamic string and symbol tables against the one address
/// mapping ([`addresses::AddressMap`]): an address it cannot place makes the file damaged
/// (goblin would read offset 0 instead); one goblin placed elsewhere (it takes the first
/// segment holding the address) is read again from where the mapping puts it, and the names
/// taken from it with it.
fn check_dynamic_tables<'a>(elf: &mut Elf<'a>, bytes: &'a [u8]) -> Result<(), ElfProblem> {
    use goblin::elf::dynamic::{DT_NEEDED, DT_RPATH, DT_RUNPATH, DT_SONAME, DT_STRTAB, DT_SYMENT, DT_SYMTAB};
    let Some(dynamic) = &elf.dynamic else {
        return Ok(());
    };
    let addresses = addresses::AddressMap::of_goblin(elf, bytes.len() as u64);
    let first = |tag: u64| {
        dynamic
            .dyns
            .iter()
            .find(|entry| entry.d_tag == tag)
            .map(|entry| entry.d_val)
    };
    let place = |what: &str, address: u64, length: u64| {
        addresses
            .file_offset(address, length)
            .map_err(|unmapped| ElfProblem::Damaged(format!("{what} {address:#x} {unmapped}")))
            .and_then(|offset| {
                usize::try_from(offset)
                    .map_err(|_| ElfProblem::Damaged(format!("{what} at offset {offset:#x}")))
            })
    };
    let (strings_at, symbols_at) = (first(DT_STRTAB), first(DT_SYMTAB));
    let strings = match strings_at {
        Some(address) => Some(place("DT_STRTAB", address, dynamic.info.strsz as u64)?),
        None => None,
    };
    let symbol_size = first(DT_SYMENT).unwrap_or(24);
    let symbols = match symbols_at {
        Some(address) if !elf.dynsyms.is_empty() => Some(place(
            "DT_SYMTAB",
            address,
            (elf.dynsyms.len() as u64).saturating_mul(symbol_size),
        )?),
        _ => None,
    };
    let entries: Vec<(u64, usize)> = dynamic
        .dyns
        .iter()
        .map(|entry| (entry.d_tag, entry.d_val as usize))
        .collect();
    let strings_moved = strings.is_some_and(|offset| offset != dynamic.info.strtab);
    let symbols_moved = symbols.is_some_and(|offset| offset != dynamic.info.symtab);
    if let Some(offset) = strings.filter(|_| strings_moved) {
        tracing::debug!(
            "goblin read .dynstr at {:#x}; it is at {offset:#x}",
            dynamic.info.strtab
        );
        let size = dynamic.info.strsz;
        elf.dynstrtab = goblin::strtab::Strtab::parse(bytes, offset, size, 0)
            .map_err(|error| ElfProblem::Damaged(error.to_string()))?;
        let names = |wanted: u64| -> Vec<&'a str> {
            entries
                .iter()
                .filter(|(tag, _)| *tag == wanted)
                .filter_map(|(_, value)| elf.dynstrtab.get_at(*value))
                .collect()
        };
        elf.libraries = names(DT_NEEDED);
        elf.rpaths = names(DT_RPATH);
        elf.runpaths = names(DT_RUNPATH);
        elf.soname = names(DT_SONAME).first().copied();
    }
    if let Some(offset) = symbols.filter(|_| symbols_moved) {
        let context = goblin::container::Ctx::new(
            goblin::container::Container::Big,
            goblin::container::Endian::Little,
        );
        elf.dynsyms = goblin::elf::Symtab::parse(bytes, offset, elf.dynsyms.len(), context)
            .map_err(|error| ElfProblem::Damaged(error.to_string()))?;
    }
    Ok(())
}

/// Reads an ELF file; `scan` also decodes its executable code.
pub fn inspect_elf(bytes: &[u8], scan: bool) -> Result<ElfInfo, ElfProblem> {
    inspect_elf_releasing(bytes, scan, &|_| {}, None)
}

/// Where a `.symtab` and its string table lie, once hidden from goblin by
/// [`hide_symbol_table`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HiddenSymbols {
    symbols: (usize, usize),
    entry_size: usize,
    strings: (usize, usize),
}

/// A symbol table read lazily by wheelwright rather than by goblin's parse (which reads the
/// whole string table into a list up front): its symbols and its string table's bytes.
pub struct LazySymbols<'a> {
    pub symbols: goblin::elf::Symtab<'a>,
    pub strings: &'a [u8],
    /// Both tables' byte ranges in the file.
    pub ranges: [std::ops::Range<usize>; 2],
}

impl<'a> LazySymbols<'a> {
    /// The NUL-terminated name at `offset` of the string table, if it is UTF-8.
    pub fn name(&self, offset: usize) -> Option<&'a str> {
        let tail = self.strings.get(offset..)?;
        let end = tail.iter().position(|&byte| byte == 0)?;
        std::str::from_utf8(&tail[..end]).ok()
    }
}

/// Marks the `.symtab` section header of a 64-bit little-endian ELF file `SHT_NULL` in
/// `bytes` (a private copy-on-write mapping: only the page holding it is copied), so that
/// goblin's parse skips the symbol table and its string table (tens of MB in unstripped
/// libraries); [`inspect_elf_releasing`] reads them lazily instead. Returns where they are,
/// or `None` (nothing changed) when the file has no such table or anything is out of bounds.
pub fn hide_symbol_table(bytes: &mut [u8]) -> Option<HiddenSymbols> {
    const SHT_SYMTAB: u32 = 2;
    if !is_elf(bytes) || bytes.get(4) != Some(&2) || bytes.get(5) != Some(&1) {
        return None;
    }
    // Little-endian fields at `at + plus`, bounds and overflow checked.
    fn field<const N: usize>(bytes: &[u8], at: usize, plus: usize) -> Option<[u8; N]> {
        let start = at.checked_add(plus)?;
        bytes.get(start..start.checked_add(N)?)?.try_into().ok()
    }
    let u16_at = |at, plus| field::<2>(bytes, at, plus).map(u16::from_le_bytes);
    let u32_at = |at, plus| field::<4>(bytes, at, plus).map(u32::from_le_bytes);
    let u64_at = |at, plus| {
        field::<8>(bytes, at, plus).and_then(|field| usize::try_from(u64::from_le_bytes(field)).ok())
    };
    let table = u64_at(0, 0x28)?;
    let entry = usize::from(u16_at(0, 0x3a)?);
    let count = usize::from(u16_at(0, 0x3c)?);
    if entry < 64 || count == 0 {
        return None;
    }
    let header = |index: usize| table.checked_add(index.checked_mul(entry)?);
    let range = |at: usize| -> Option<(usize, usize)> {
        let offset = u64_at(at, 24)?;
        let size = u64_at(at, 32)?;
        (offset.checked_add(size)? <= bytes.len()).then_some((offset, size))
    };
    let symbol_table = |index: usize| -> Option<(usize, HiddenSymbols)> {
        let at = header(index)?;
        if u32_at(at, 4)? != SHT_SYMTAB {
            return None;
        }
        let link = usize::try_from(u32_at(at, 40)?).ok()?;
        if link >= count {
            return None;
        }
        let hidden = HiddenSymbols {
            symbols: range(at)?,
            entry_size: u64_at(at, 56)?,
            strings: range(header(link)?)?,
        };
        Some((at, hidden))
    };
    let (at, found) = (0..count).find_map(symbol_table)?;
    if found.entry_size != 24 {
        return None;
    }
    bytes[at + 4..at + 8].copy_from_slice(&0u32.to_le_bytes());
    Some(found)
}

/// [`inspect_elf`], telling `release` each range of code the scan is done with; `hidden`
/// says where the symbol table [`hide_symbol_table`] hid from goblin lies.
pub fn inspect_elf_releasing(
    bytes: &[u8],
    scan: bool,
    release: &dyn Fn(std::ops::Range<usize>),
    hidden: Option<HiddenSymbols>,
) -> Result<ElfInfo, ElfProblem> {
    if !is_elf(bytes) {
        return Err(ElfProblem::NotElf);
    }
    // EI_CLASS is byte 4: 1 = 32-bit, 2 = 64-bit.
    if bytes.get(4) == Some(&1) {
        return Err(ElfProblem::ThirtyTwoBit);
    }
    let mut elf = Elf::parse(bytes).map_err(|error| ElfProblem::Damaged(error.to_string()))?;
    if !elf.is_64 {
        return Err(ElfProblem::ThirtyTwoBit);
    }
    check_dynamic_tables(&mut elf, bytes)?;
    // Parsing read the string tables whole: their pages go back until used.
    isa::release_tables(&elf, bytes, release);
    if elf.header.e_machine != goblin::elf::header::EM_X86_64 {
        return Err(ElfProblem::OtherMachine(
            goblin::elf::header::machine_to_str(elf.header.e_machine).to_string(),
        ));
    }
    let kind = match elf.header.e_type {
        goblin::elf::header::ET_DYN if elf.interpreter.is_some() && elf.soname.is_none() => {
            ElfKind::Executable
        }
        goblin::elf::header::ET_DYN => ElfKind::SharedObject,
        goblin::elf::header::ET_EXEC => ElfKind::Executable,
        goblin::elf::header::ET_REL => ElfKind::Relocatable,
        _ => ElfKind::Other,
    };
    let mut symbol_versions: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    if let Some(verneed) = &elf.verneed {
        for need in verneed.iter() {
            let library = elf.dynstrtab.get_at(need.vn_file).unwrap_or("?").to_string();
            let names = symbol_versions.entry(library).or_default();
            for aux in need.iter() {
                if let Some(name) = elf.dynstrtab.get_at(aux.vna_name) {
                    names.insert(name.to_string());
                }
            }
        }
    }
    let context = goblin::container::Ctx::new(
        goblin::container::Container::Big,
        goblin::container::Endian::Little,
    );
    let lazy = hidden.and_then(|hidden| {
        let (offset, size) = hidden.symbols;
        let (strings_offset, strings_size) = hidden.strings;
        Some(LazySymbols {
            symbols: goblin::elf::Symtab::parse(bytes, offset, size / hidden.entry_size, context).ok()?,
            strings: &bytes[strings_offset..strings_offset + strings_size],
            ranges: [
                offset..offset + size,
                strings_offset..strings_offset + strings_size,
            ],
        })
    });
    let instructions = if scan {
        Some(isa::scan(&elf, bytes, release, lazy.as_ref()))
    } else {
        None
    };
    Ok(ElfInfo {
        kind,
        soname: elf.soname.map(str::to_string),
        needed: elf.libraries.iter().map(|library| library.to_string()).collect(),
        rpath: split_paths(&elf.rpaths),
        runpath: split_paths(&elf.runpaths),
        interpreter: elf.interpreter.map(str::to_string),
        glibc: newest(&symbol_versions, "GLIBC_"),
        glibcxx: newest(&symbol_versions, "GLIBCXX_"),
        cxxabi: newest(&symbol_versions, "CXXABI_"),
        symbol_versions,
        isa_note: isa_needed(&elf, bytes),
        instructions,
    })
}

/// Whether an ELF file defines and exports the dynamic symbol `symbol` (global or weak, not
/// undefined): how a CPython extension module is told from a plain library, by its
/// `PyInit_<name>` (any machine: a module built for another one is still a module).
pub fn exports_symbol(bytes: &[u8], symbol: &str) -> Result<bool, ElfProblem> {
    use goblin::elf::section_header::SHN_UNDEF;
    use goblin::elf::sym::{STB_GLOBAL, STB_GNU_UNIQUE, STB_WEAK};
    if !is_elf(bytes) {
        return Err(ElfProblem::NotElf);
    }
    let mut elf = Elf::parse(bytes).map_err(|error| ElfProblem::Damaged(error.to_string()))?;
    if elf.is_64 {
        check_dynamic_tables(&mut elf, bytes)?;
    }
    Ok(elf.dynsyms.iter().any(|entry| {
        entry.st_shndx != SHN_UNDEF as usize
            && matches!(entry.st_bind(), STB_GLOBAL | STB_WEAK | STB_GNU_UNIQUE)
            && elf.dynstrtab.get_at(entry.st_name) == Some(symbol)
    }))
}

#[cfg(test)]
mod tests {
    // Tests build their fixtures with real tools (gcc, git, readelf).
    #![allow(clippy::disallowed_methods)]
    use super::*;

    #[test]
    fn refuses_what_is_not_x86_64_elf() {
        assert_eq!(inspect_elf(b"hello", true).unwrap_err(), ElfProblem::NotElf);
        let mut header = b"\x7fELF\x01\x01\x01".to_vec();
        header.resize(64, 0);
        assert_eq!(inspect_elf(&header, true).unwrap_err(), ElfProblem::ThirtyTwoBit);
        let mut truncated = b"\x7fELF\x02\x01\x01".to_vec();
        truncated.resize(20, 0);
        assert!(matches!(
            inspect_elf(&truncated, true).unwrap_err(),
            ElfProblem::Damaged(_)
        ));
    }

    #[test]
    fn exported_symbols_are_told_from_imported_ones() {
        // This test binary calls `malloc` (an undefined dynamic symbol) and defines none of
        // CPython's.
        let bytes = fs_err::read(std::env::current_exe().unwrap()).unwrap();
        assert!(!exports_symbol(&bytes, "malloc").unwrap());
        assert!(!exports_symbol(&bytes, "PyInit_x").unwrap());
        assert_eq!(exports_symbol(b"text", "x").unwrap_err(), ElfProblem::NotElf);
    }

    #[test]
    fn a_symbol_table_hidden_from_goblin_is_read_lazily_to_the_same_result() {
        let directory = tempfile::tempdir().unwrap();
        fs_err::write(
            directory.path().join("lib.c"),
            "#include <immintrin.h>\n\
             __attribute__((target(\"avx2\"))) void add_avx2(float *a) { _mm256_storeu_ps(a, _mm256_add_ps(_mm256_loadu_ps(a), _mm256_loadu_ps(a))); }\n\
             static int helper(int x) { return x * 3; }\n\
             int plain(int x) { return helper(x) + 1; }\n",
        )
        .unwrap();
        rpath::tests::gcc(
            directory.path(),
            &["-O1", "-shared", "-fPIC", "lib.c", "-o", "lib.so"],
        );
        let bytes = fs_err::read(directory.path().join("lib.so")).unwrap();
        let whole = inspect_elf(&bytes, true).unwrap();
        let mut copy = bytes.clone();
        let hidden = hide_symbol_table(&mut copy).expect("an unstripped library has a .symtab");
        assert_ne!(copy, bytes, "the section header is marked");
        // goblin no longer sees the table; the scan reads it lazily and finds the same.
        let elf = Elf::parse(&copy).unwrap();
        assert!(elf.syms.is_empty());
        let lazy = inspect_elf_releasing(&copy, true, &|_| {}, Some(hidden)).unwrap();
        let json = |info: &ElfInfo| serde_json::to_value(info).unwrap();
        assert_eq!(json(&whole), json(&lazy));
        // The names came from the lazily read table: `add_avx2` is told by its name.
        let scan = lazy.instructions.unwrap();
        assert!(
            scan.dispatch
                .iter()
                .any(|found| found == "1 target-named functions"),
            "{scan:?}"
        );
        assert!(scan.features.contains("avx"), "{scan:?}");
        // A stripped file has nothing to hide; garbage is left alone.
        let mut garbage = b"\x7fELF\x02\x01\x01".to_vec();
        garbage.resize(100, 0xff);
        assert_eq!(hide_symbol_table(&mut garbage), None);
    }

    #[test]
    fn names_goblin_read_from_another_place_are_read_again_from_the_one_mapping() {
        // goblin takes the first segment holding an address in memory (p_memsz), the mapping
        // the segments' file bytes (p_filesz), with sections settling overlaps: where they
        // differ, the mapping's place is read. Shown on goblin's own result, its string and
        // symbol tables' offsets made wrong.
        let directory = tempfile::tempdir().unwrap();
        fs_err::write(directory.path().join("lib.c"), "int value(void) { return 1; }\n").unwrap();
        rpath::tests::gcc(
            directory.path(),
            &[
                "-shared",
                "-fPIC",
                "-Wl,-soname,libvalue.so",
                "-Wl,-rpath,$ORIGIN/lib",
                "-o",
                "libvalue.so",
                "lib.c",
            ],
        );
        let bytes = fs_err::read(directory.path().join("libvalue.so")).unwrap();
        let truth = inspect_elf(&bytes, false).unwrap();
        assert_eq!(truth.runpath, ["$ORIGIN/lib"]);
        let mut elf = Elf::parse(&bytes).unwrap();
        let symbols = elf.dynsyms.len();
        let dynamic = elf.dynamic.as_mut().unwrap();
        dynamic.info.strtab = 0;
        dynamic.info.symtab = 64;
        elf.libraries.clear();
        elf.runpaths.clear();
        elf.soname = None;
        elf.dynsyms = goblin::elf::Symtab::default();
        check_dynamic_tables(&mut elf, &bytes).unwrap();
        assert_eq!(elf.libraries, truth.needed);
        assert_eq!(elf.runpaths, ["$ORIGIN/lib"]);
        assert_eq!(elf.soname, Some("libvalue.so"));
        assert_eq!(elf.dynsyms.len(), 0, "no symbols counted, none read again");
        assert!(symbols > 0);
        // With goblin's count, the symbols are read again too.
        let mut elf = Elf::parse(&bytes).unwrap();
        let names = |elf: &Elf<'_>| -> Vec<String> {
            elf.dynsyms
                .iter()
                .filter_map(|symbol| elf.dynstrtab.get_at(symbol.st_name).map(str::to_string))
                .collect()
        };
        let expected = names(&elf);
        elf.dynamic.as_mut().unwrap().info.symtab = 64;
        let context = goblin::container::Ctx::new(
            goblin::container::Container::Big,
            goblin::container::Endian::Little,
        );
        elf.dynsyms = goblin::elf::Symtab::parse(&bytes, 64, symbols, context).unwrap();
        assert_ne!(names(&elf), expected);
        check_dynamic_tables(&mut elf, &bytes).unwrap();
        assert_eq!(names(&elf), expected);
        assert!(expected.iter().any(|name| name == "value"), "{expected:?}");
    }

    #[test]
    fn reads_this_test_binary() {
        // The running test executable is a real x86-64 ELF file linked against glibc.
        let bytes = fs_err::read(std::env::current_exe().unwrap()).unwrap();
        let info = inspect_elf(&bytes, false).unwrap();
        assert!(
            info.needed.iter().any(|library| library == "libc.so.6"),
            "{:?}",
            info.needed
        );
        assert!(info.glibc.is_some());
        assert!(matches!(info.kind, ElfKind::Executable | ElfKind::SharedObject));
    }
}
