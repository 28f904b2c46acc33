//! Virtual addresses to file offsets: the one mapping every reader of an ELF file's dynamic
//! tables goes through (the search path reader and editor, and [`super::inspect_elf`] where it
//! checks goblin's reading).
//!
//! An address is read through the `PT_LOAD` segments, in whatever order the program header
//! table lists them and wherever they lie in the file: patchelf 0.14 puts a new segment at
//! file offset 0 *below* the first original one, later patchelf releases append one at the
//! end, `strip` and other linkers leave their own layouts. A table may run on from one
//! segment into the next when the two are contiguous both in memory and in the file (patchelf
//! 0.14 puts the head of a long `.dynstr` in its new page and the rest in the old first
//! segment). When several segments map the same address to different bytes, the section
//! headers decide: the segment whose mapping agrees with the section holding the address wins.
//! An address no segment holds is refused even when a section claims it: the loader would not
//! see those bytes, so the file is damaged, whatever its section headers say.

use std::fmt;

/// A `PT_LOAD` segment, as far as the mapping needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadSegment {
    pub address: u64,
    pub offset: u64,
    pub file_size: u64,
    pub memory_size: u64,
}

impl LoadSegment {
    /// The `PT_LOAD` entries of a program header table, in its order.
    pub fn of(headers: &[goblin::elf::ProgramHeader]) -> Vec<LoadSegment> {
        headers
            .iter()
            .filter(|header| header.p_type == goblin::elf::program_header::PT_LOAD)
            .map(|header| LoadSegment {
                address: header.p_vaddr,
                offset: header.p_offset,
                file_size: header.p_filesz,
                memory_size: header.p_memsz,
            })
            .collect()
    }
}

/// An allocated section with bytes in the file (not `SHT_NOBITS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileSection {
    pub address: u64,
    pub offset: u64,
    pub size: u64,
}

/// Why an address range has no place in the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unmapped {
    #[error("is in no loaded segment")]
    NoSegment,
    #[error("runs past the end of its loaded segment ({length} bytes from {address:#x})")]
    PastSegment { address: u64, length: u64 },
    #[error(
        "is mapped by several loaded segments to different file offsets ({}) and no section header agrees with one",
        offsets.iter().map(|offset| format!("{offset:#x}")).collect::<Vec<_>>().join(", ")
    )]
    Ambiguous { offsets: Vec<u64> },
    #[error(
        "lies past the end of the file ({length} bytes at offset {offset:#x}, the file has {file_length})"
    )]
    PastEnd {
        offset: u64,
        length: u64,
        file_length: u64,
    },
}

/// How an ELF file's virtual addresses map to its bytes.
#[derive(Debug, Clone, Default)]
pub struct AddressMap {
    loads: Vec<LoadSegment>,
    sections: Vec<FileSection>,
    file_length: u64,
}

impl AddressMap {
    /// The map of a file `file_length` bytes long with these `PT_LOAD` segments (any order)
    /// and allocated sections (used only to settle what the segments leave ambiguous).
    pub fn new(loads: Vec<LoadSegment>, sections: Vec<FileSection>, file_length: u64) -> Self {
        AddressMap {
            loads,
            sections,
            file_length,
        }
    }

    /// The map of a file goblin parsed.
    pub fn of_goblin(elf: &goblin::elf::Elf<'_>, file_length: u64) -> Self {
        use goblin::elf::section_header::{SHF_ALLOC, SHT_NOBITS};
        let loads = LoadSegment::of(&elf.program_headers);
        let sections = elf
            .section_headers
            .iter()
            .filter(|section| section.sh_flags & u64::from(SHF_ALLOC) != 0 && section.sh_type != SHT_NOBITS)
            .map(|section| FileSection {
                address: section.sh_addr,
                offset: section.sh_offset,
                size: section.sh_size,
            })
            .collect();
        AddressMap::new(loads, sections, file_length)
    }

    /// Where the `length` bytes at virtual `address` lie in the file: through the segment
    /// holding `address`, and on through segments that continue it both in memory and in the
    /// file when the range runs past its end. A zero length is taken as one byte.
    pub fn file_offset(&self, address: u64, length: u64) -> Result<u64, Unmapped> {
        let length = length.max(1);
        let mut found: Vec<u64> = Vec::new();
        let mut holders = 0;
        for load in &self.loads {
            let Some(within) = address.checked_sub(load.address) else {
                continue;
            };
            if within >= load.file_size {
                continue;
            }
            holders += 1;
            if let Some(offset) = self.through(load, within, length)
                && !found.contains(&offset)
            {
                found.push(offset);
            }
        }
        let offset = match found.as_slice() {
            [] if holders == 0 => return Err(Unmapped::NoSegment),
            [] => return Err(Unmapped::PastSegment { address, length }),
            [offset] => *offset,
            offsets => {
                self.agreeing_section(address, length, offsets)
                    .ok_or_else(|| Unmapped::Ambiguous {
                        offsets: offsets.to_vec(),
                    })?
            }
        };
        match offset.checked_add(length) {
            Some(end) if end <= self.file_length => Ok(offset),
            _ => Err(Unmapped::PastEnd {
                offset,
                length,
                file_length: self.file_length,
            }),
        }
    }

    /// The file offset of `within` bytes into `load`, when `length` bytes from there lie in it
    /// or in the segments that continue it without a gap in memory or in the file.
    fn through(&self, load: &LoadSegment, within: u64, length: u64) -> Option<u64> {
        let offset = load.offset.checked_add(within)?;
        let mut end = within.checked_add(length)?;
        let mut current = *load;
        // Each step moves to another segment: no more steps than segments.
        for _ in 0..=self.loads.len() {
            if end <= current.file_size {
                return Some(offset);
            }
            // Bytes past p_filesz are zeros in memory (.bss), not the file's next bytes.
            if current.memory_size != current.file_size {
                return None;
            }
            let next_address = current.address.checked_add(current.file_size)?;
            let next_offset = current.offset.checked_add(current.file_size)?;
            let next = self.loads.iter().find(|next| {
                next.address == next_address && next.offset == next_offset && next.file_size > 0
            })?;
            end -= current.file_size;
            current = *next;
        }
        None
    }

    /// Of `offsets` (several segments' readings of `address`), the one a section holding the
    /// whole range agrees with.
    fn agreeing_section(&self, address: u64, length: u64, offsets: &[u64]) -> Option<u64> {
        let end = address.checked_add(length)?;
        self.sections.iter().find_map(|section| {
            let section_end = section.address.checked_add(section.size)?;
            if address < section.address || end > section_end {
                return None;
            }
            let offset = section.offset.checked_add(address - section.address)?;
            offsets.contains(&offset).then_some(offset)
        })
    }

    /// The highest end in memory of any loaded segment (its `p_memsz` included).
    pub fn memory_end(&self) -> u64 {
        self.loads
            .iter()
            .map(|load| load.address.saturating_add(load.memory_size))
            .max()
            .unwrap_or(0)
    }
}

impl fmt::Display for LoadSegment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "PT_LOAD at offset {:#x}, address {:#x}, {:#x} bytes in the file",
            self.offset, self.address, self.file_size
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(address: u64, offset: u64, file_size: u64, memory_size: u64) -> LoadSegment {
        LoadSegment {
            address,
            offset,
            file_size,
            memory_size,
        }
    }

    #[test]
    fn a_segment_below_the_first_one_maps_and_tables_run_on_into_the_next() {
        // patchelf 0.14 on a non-PIE executable: a page at offset 0 mapped at 0x3ff000, listed
        // after the original segments, the old first segment moved to offset 0x1000.
        let map = AddressMap::new(
            vec![
                load(0x400000, 0x1000, 0x7788, 0x7788),
                load(0x408000, 0x9000, 0x1ad5, 0x1ad5),
                load(0x3ff000, 0, 0x1000, 0x1000),
            ],
            Vec::new(),
            0x20000,
        );
        assert_eq!(map.file_offset(0x3ff388, 0x82), Ok(0x388));
        // A .dynstr of 15,672 bytes starting in the new page runs on into the old segment.
        assert_eq!(map.file_offset(0x3ff388, 15_672), Ok(0x388));
        assert_eq!(map.file_offset(0x408010, 16), Ok(0x9010));
        assert_eq!(map.file_offset(0x3fe000, 1), Err(Unmapped::NoSegment));
        // Not contiguous in memory with the next one: 0x400000 + 0x7788 is not 0x408000.
        assert_eq!(
            map.file_offset(0x407000, 0x1000),
            Err(Unmapped::PastSegment {
                address: 0x407000,
                length: 0x1000
            })
        );
    }

    #[test]
    fn bss_and_file_gaps_end_a_segment() {
        // Contiguous in memory but not in the file; then one whose memory outruns its file.
        let map = AddressMap::new(
            vec![load(0, 0, 0x1000, 0x1000), load(0x1000, 0x3000, 0x1000, 0x2000)],
            Vec::new(),
            0x4000,
        );
        assert!(map.file_offset(0xff0, 0x20).is_err());
        assert_eq!(map.file_offset(0x1ff0, 0x10), Ok(0x3ff0));
        assert!(map.file_offset(0x1ff0, 0x20).is_err());
        // Bytes of .bss are not in the file.
        assert_eq!(map.file_offset(0x2100, 1), Err(Unmapped::NoSegment));
    }

    #[test]
    fn offsets_past_the_end_of_the_file_are_refused() {
        let map = AddressMap::new(vec![load(0, 0, 0x3000, 0x3000)], Vec::new(), 0x2000);
        assert_eq!(
            map.file_offset(0x1ff0, 0x20),
            Err(Unmapped::PastEnd {
                offset: 0x1ff0,
                length: 0x20,
                file_length: 0x2000
            })
        );
        assert_eq!(map.file_offset(0x1000, 0x20), Ok(0x1000));
        // Overflowing sizes are no mapping, not a panic.
        let huge = AddressMap::new(vec![load(u64::MAX - 4, u64::MAX - 4, 4, 4)], Vec::new(), u64::MAX);
        assert!(huge.file_offset(u64::MAX - 2, u64::MAX).is_err());
    }

    #[test]
    fn sections_settle_segments_that_disagree() {
        let loads = vec![
            load(0x1000, 0x1000, 0x1000, 0x1000),
            load(0x1000, 0x5000, 0x1000, 0x1000),
        ];
        let alone = AddressMap::new(loads.clone(), Vec::new(), 0x8000);
        assert_eq!(
            alone.file_offset(0x1100, 8),
            Err(Unmapped::Ambiguous {
                offsets: vec![0x1100, 0x5100]
            })
        );
        let with_section = AddressMap::new(
            loads,
            vec![FileSection {
                address: 0x1080,
                offset: 0x5080,
                size: 0x100,
            }],
            0x8000,
        );
        assert_eq!(with_section.file_offset(0x1100, 8), Ok(0x5100));
        // A section alone does not map what no segment holds.
        let only_section = AddressMap::new(
            Vec::new(),
            vec![FileSection {
                address: 0x1000,
                offset: 0x1000,
                size: 0x100,
            }],
            0x8000,
        );
        assert_eq!(only_section.file_offset(0x1000, 8), Err(Unmapped::NoSegment));
    }
}
