//! The instruction set a binary really uses: its executable sections decoded with iced-x86,
//! each instruction's CPUID features mapped to x86-64 micro-architecture levels, and the code
//! that checks the CPU at run time told apart from the code that assumes a level.
//!
//! How "guarded" is decided, since no decoder can prove which path a program takes:
//! - Evidence of run-time dispatch: a `cpuid` instruction, GCC's `__cpu_model` /
//!   `__cpu_indicator_init` (behind `__builtin_cpu_supports`), IFUNC symbols or IRELATIVE
//!   relocations (`target_clones`, glibc-style resolvers), and functions whose names carry a
//!   target (`foo.avx2`, `_AVX512_SKX`, `_haswell`: numpy, OpenBLAS and GCC naming).
//! - Without such evidence every instruction is assumed to run: the level used is required.
//! - With it, target-named functions and code outside any symbol are the dispatched kernels.
//!   Of the other functions that use SIMD, if most use legacy (non-VEX) SSE encodings the
//!   library was compiled for the baseline and its VEX/EVEX-only functions are kernels too;
//!   the required level is then the highest level of the baseline-compiled functions. If most
//!   use VEX, the library was compiled for a higher level, and every named, non-target
//!   function counts (erring towards the higher arch).

use std::collections::BTreeSet;

use goblin::elf::Elf;
use iced_x86::{Code, CpuidFeature, Decoder, DecoderOptions, EncodingKind, Instruction, Mnemonic};
use serde::Serialize;

/// What the instruction scan found in one ELF file.
#[derive(Debug, Clone, Serialize)]
pub struct InstructionScan {
    /// The highest x86-64 level of any instruction (1 = baseline).
    pub max_level: u8,
    /// The highest level of the instructions judged to run without a CPU check.
    pub unguarded_level: u8,
    /// CPU features (cpuinfo names) used anywhere above the baseline.
    pub features: BTreeSet<String>,
    /// CPU features used by code judged unguarded.
    pub unguarded_features: BTreeSet<String>,
    /// Evidence of run-time CPU dispatch.
    pub dispatch: Vec<String>,
    /// How the guarded/unguarded line was drawn, in words.
    pub judgement: String,
    /// A few unguarded instructions at the unguarded level, with their function.
    pub examples: Vec<String>,
    pub bytes_decoded: u64,
}

/// Feature name (as in /proc/cpuinfo) and x86-64 level of each CPUID feature above the
/// baseline. Features outside the level definitions get level 1 but keep their name.
fn feature_info(feature: CpuidFeature) -> Option<(&'static str, u8)> {
    use CpuidFeature as F;
    Some(match feature {
        F::SSE3 => ("pni", 2),
        F::SSSE3 => ("ssse3", 2),
        F::SSE4_1 => ("sse4_1", 2),
        F::SSE4_2 => ("sse4_2", 2),
        F::POPCNT => ("popcnt", 2),
        F::CMPXCHG16B => ("cx16", 2),
        F::AVX => ("avx", 3),
        F::AVX2 => ("avx2", 3),
        F::BMI1 => ("bmi1", 3),
        F::BMI2 => ("bmi2", 3),
        F::F16C => ("f16c", 3),
        F::FMA => ("fma", 3),
        F::LZCNT => ("abm", 3),
        F::MOVBE => ("movbe", 3),
        F::AVX_VNNI => ("avx_vnni", 3),
        F::AVX_IFMA => ("avx_ifma", 3),
        F::AVX_NE_CONVERT => ("avx_ne_convert", 3),
        F::AVX_VNNI_INT8 => ("avx_vnni_int8", 3),
        F::AVX_VNNI_INT16 => ("avx_vnni_int16", 3),
        F::AVX512F => ("avx512f", 4),
        F::AVX512BW => ("avx512bw", 4),
        F::AVX512CD => ("avx512cd", 4),
        F::AVX512DQ => ("avx512dq", 4),
        F::AVX512VL => ("avx512vl", 4),
        F::AVX512_VNNI => ("avx512_vnni", 4),
        F::AVX512_BF16 => ("avx512_bf16", 4),
        F::AVX512_IFMA => ("avx512ifma", 4),
        F::AVX512_VBMI => ("avx512vbmi", 4),
        F::AVX512_VBMI2 => ("avx512_vbmi2", 4),
        F::AVX512_BITALG => ("avx512_bitalg", 4),
        F::AVX512_VPOPCNTDQ => ("avx512_vpopcntdq", 4),
        F::AVX512_FP16 => ("avx512_fp16", 4),
        F::AVX512_VP2INTERSECT => ("avx512_vp2intersect", 4),
        F::AVX512ER => ("avx512er", 4),
        F::AVX512PF => ("avx512pf", 4),
        F::AVX512_4FMAPS => ("avx512_4fmaps", 4),
        F::AVX512_4VNNIW => ("avx512_4vnniw", 4),
        F::AMX_TILE => ("amx_tile", 4),
        F::AMX_INT8 => ("amx_int8", 4),
        F::AMX_BF16 => ("amx_bf16", 4),
        F::AMX_FP16 => ("amx_fp16", 4),
        F::AMX_COMPLEX => ("amx_complex", 4),
        F::AES => ("aes", 1),
        F::PCLMULQDQ => ("pclmulqdq", 1),
        F::SHA => ("sha_ni", 1),
        F::ADX => ("adx", 1),
        F::RDRAND => ("rdrand", 1),
        F::GFNI => ("gfni", 1),
        F::VAES => ("vaes", 1),
        F::VPCLMULQDQ => ("vpclmulqdq", 1),
        F::FMA4 => ("fma4", 1),
        F::SSE4A => ("sse4a", 1),
        _ => return None,
    })
}

/// The facts about one instruction form that the scan needs, computed once per `Code`.
#[derive(Clone, Copy, Default)]
struct CodeFacts {
    level: u8,
    /// Bits into the scan's feature-name table.
    features: u64,
    legacy_simd: bool,
    vex_simd: bool,
}

/// Interns feature names into bit positions.
#[derive(Default)]
struct FeatureTable {
    names: Vec<&'static str>,
}

impl FeatureTable {
    fn bit(&mut self, name: &'static str) -> u64 {
        let index = self
            .names
            .iter()
            .position(|known| *known == name)
            .unwrap_or_else(|| {
                self.names.push(name);
                self.names.len() - 1
            });
        1u64 << index.min(63)
    }

    fn names(&self, mask: u64) -> BTreeSet<String> {
        self.names
            .iter()
            .enumerate()
            .filter(|(index, _)| mask & (1 << index) != 0)
            .map(|(_, name)| name.to_string())
            .collect()
    }
}

fn facts_for(instruction: &Instruction, table: &mut FeatureTable) -> CodeFacts {
    let mut facts = CodeFacts {
        level: 1,
        ..CodeFacts::default()
    };
    // `tzcnt` is `rep bsf`: CPUs without BMI1 run it as `bsf`, and compilers emit it for
    // baseline code on purpose, so it requires nothing.
    let features: &[CpuidFeature] = if instruction.mnemonic() == Mnemonic::Tzcnt {
        &[]
    } else {
        instruction.cpuid_features()
    };
    for feature in features {
        if let Some((name, level)) = feature_info(*feature) {
            facts.level = facts.level.max(level);
            facts.features |= table.bit(name);
        }
    }
    let simd = features.iter().any(|feature| {
        matches!(
            feature,
            CpuidFeature::SSE
                | CpuidFeature::SSE2
                | CpuidFeature::SSE3
                | CpuidFeature::SSSE3
                | CpuidFeature::SSE4_1
                | CpuidFeature::SSE4_2
                | CpuidFeature::AVX
                | CpuidFeature::AVX2
                | CpuidFeature::FMA
                | CpuidFeature::F16C
                | CpuidFeature::AVX512F
                | CpuidFeature::AVX512VL
                | CpuidFeature::AVX512BW
                | CpuidFeature::AVX512DQ
                | CpuidFeature::AVX512CD
        )
    });
    match instruction.encoding() {
        EncodingKind::Legacy => facts.legacy_simd = simd,
        EncodingKind::VEX | EncodingKind::EVEX => facts.vex_simd = true,
        _ => {}
    }
    facts
}

/// Per-function tallies.
#[derive(Clone, Default)]
struct FunctionStats<'a> {
    /// Borrowed from the file's string table (a mapped file's pages are not copied).
    name: &'a str,
    start: u64,
    end: u64,
    level: u8,
    features: u64,
    legacy_simd: bool,
    vex_simd: bool,
    /// The first instruction seen at the function's level.
    example: Option<Mnemonic>,
    target_named: bool,
}

/// Whether a function name says which CPU it was compiled for.
fn is_target_named(name: &str) -> bool {
    // Compiler clones (`foo.avx2`, `foo.arch_x86_64_v4`), numpy and OpenBLAS kernel suffixes,
    // and OpenSSL/BoringSSL assembly names (`aesni_*`, `*_shaext`, `bn_mulx4x_*`, `*_clmul`).
    const MARKERS: [&str; 30] = [
        "avx",
        "sse4",
        "sse3",
        "ssse3",
        "fma3",
        "f16c",
        "skx",
        "knl",
        "haswell",
        "skylake",
        "cooperlake",
        "icelake",
        "sapphire",
        "zen",
        "sandybridge",
        "excavator",
        "x86_64_v",
        "x86-64-v",
        ".arch_",
        "_asimd",
        "cascadelake",
        "tigerlake",
        "aesni",
        "shaext",
        "clmul",
        "mulx",
        "_adx",
        "vaes",
        "bmi2",
        "movbe",
    ];
    // One walk over the name, trying only the markers that start with the byte at hand (a
    // symbol table holds hundreds of thousands of names; no copy of each is made).
    const _: () = assert!(MARKERS.len() <= 32, "one bit per marker");
    const STARTING_WITH: [u32; 256] = {
        let mut table = [0u32; 256];
        let mut index = 0;
        while index < MARKERS.len() {
            let first = MARKERS[index].as_bytes()[0];
            table[first as usize] |= 1 << index;
            table[first.to_ascii_uppercase() as usize] |= 1 << index;
            index += 1;
        }
        table
    };
    let bytes = name.as_bytes();
    bytes.iter().enumerate().any(|(at, byte)| {
        let mut candidates = STARTING_WITH[usize::from(*byte)];
        while candidates != 0 {
            let marker = MARKERS[candidates.trailing_zeros() as usize].as_bytes();
            candidates &= candidates - 1;
            if bytes
                .get(at..at + marker.len())
                .is_some_and(|piece| piece.eq_ignore_ascii_case(marker))
            {
                return true;
            }
        }
        false
    })
}

const DISPATCH_SYMBOLS: [&str; 4] = [
    "__cpu_model",
    "__cpu_indicator_init",
    "__cpu_features2",
    "__get_cpuid_max",
];

impl FunctionStats<'_> {
    /// Counts one instruction of this function, with the facts of its form.
    fn count(&mut self, facts: CodeFacts, instruction: &Instruction) {
        if facts.level > self.level {
            self.level = facts.level;
            self.example = Some(instruction.mnemonic());
        }
        self.features |= facts.features;
        self.legacy_simd |= facts.legacy_simd;
        self.vex_simd |= facts.vex_simd;
    }
}

/// The functions of `elf` (from the full symbol table when present, else the dynamic one),
/// sorted by address, one per start address. The evidence of run-time dispatch the symbols
/// and relocations hold goes into `dispatch`: dispatch helpers, IFUNCs and IRELATIVE
/// relocations, target-named functions.
/// Hands the symbol and string tables and the relocations to `release`: read once, their
/// pages can go back (names still borrowed from them are read again from the file if used).
pub(crate) fn release_tables(elf: &Elf<'_>, bytes: &[u8], release: &dyn Fn(std::ops::Range<usize>)) {
    use goblin::elf::section_header::{SHT_DYNSYM, SHT_REL, SHT_RELA, SHT_STRTAB, SHT_SYMTAB};
    for section in &elf.section_headers {
        if matches!(
            section.sh_type,
            SHT_SYMTAB | SHT_STRTAB | SHT_DYNSYM | SHT_RELA | SHT_REL
        ) {
            let start = (section.sh_offset as usize).min(bytes.len());
            let end = (section.sh_offset.saturating_add(section.sh_size) as usize).min(bytes.len());
            release(start..end);
        }
    }
}

/// How many symbols are read between two calls of `read_functions`' `release`.
const SYMBOLS_BETWEEN_RELEASES: usize = 1 << 16;

/// A symbol table's name lookup.
type NameOf<'s, 'a> = Box<dyn Fn(usize) -> Option<&'a str> + 's>;

fn read_functions<'a>(
    elf: &Elf<'a>,
    lazy: Option<&super::LazySymbols<'a>>,
    dispatch: &mut BTreeSet<String>,
    release: &dyn Fn(),
) -> Vec<FunctionStats<'a>> {
    let (symbols, name_of): (&goblin::elf::Symtab<'a>, NameOf<'_, 'a>) = match lazy {
        Some(lazy) => (&lazy.symbols, Box::new(|offset| lazy.name(offset))),
        None if elf.syms.is_empty() => (&elf.dynsyms, Box::new(|offset| elf.dynstrtab.get_at(offset))),
        None => (&elf.syms, Box::new(|offset| elf.strtab.get_at(offset))),
    };
    let mut functions: Vec<FunctionStats> = Vec::new();
    let mut ifuncs = 0;
    for (number, symbol) in symbols.iter().enumerate() {
        if number % SYMBOLS_BETWEEN_RELEASES == SYMBOLS_BETWEEN_RELEASES - 1 {
            release();
        }
        let kind = symbol.st_type();
        if kind == goblin::elf::sym::STT_GNU_IFUNC {
            ifuncs += 1;
        }
        let name = name_of(symbol.st_name).unwrap_or_default();
        if DISPATCH_SYMBOLS.contains(&name) {
            dispatch.insert(format!("`{name}` (__builtin_cpu_supports)"));
        }
        if (kind == goblin::elf::sym::STT_FUNC || kind == goblin::elf::sym::STT_GNU_IFUNC)
            && symbol.st_size > 0
            && symbol.st_value > 0
        {
            functions.push(FunctionStats {
                target_named: is_target_named(name),
                name,
                start: symbol.st_value,
                end: symbol.st_value + symbol.st_size,
                level: 1,
                ..FunctionStats::default()
            });
        }
    }
    // Dynamic symbols can name dispatch helpers even when .symtab is present and vice versa.
    for symbol in elf.dynsyms.iter() {
        let name = elf.dynstrtab.get_at(symbol.st_name).unwrap_or_default();
        if DISPATCH_SYMBOLS.contains(&name) {
            dispatch.insert(format!("`{name}` (__builtin_cpu_supports)"));
        }
    }
    functions.sort_by_key(|function| (function.start, std::cmp::Reverse(function.end)));
    functions.dedup_by_key(|function| function.start);
    const R_X86_64_IRELATIVE: u32 = 37;
    let irelative = elf
        .dynrelas
        .iter()
        .chain(elf.pltrelocs.iter())
        .filter(|relocation| relocation.r_type == R_X86_64_IRELATIVE)
        .count();
    if ifuncs > 0 || irelative > 0 {
        dispatch.insert(format!(
            "ifunc ({ifuncs} IFUNC symbols, {irelative} IRELATIVE relocations)"
        ));
    }
    let target_named = functions.iter().filter(|function| function.target_named).count();
    if target_named > 0 {
        dispatch.insert(format!("{target_named} target-named functions"));
    }
    functions
}

/// What decoding the executable sections found beyond the functions' own tallies.
struct Decoded<'a> {
    /// The tally of instructions outside any function symbol.
    outside: FunctionStats<'a>,
    bytes_decoded: u64,
    /// A `cpuid` instruction was seen.
    cpuid: bool,
}

/// Decodes every executable section of `elf`, counting each instruction in the function
/// (of `functions`, sorted by address) that holds it, or in the code outside any symbol.
fn decode_sections<'n>(
    elf: &Elf<'_>,
    bytes: &[u8],
    functions: &mut [FunctionStats<'n>],
    table: &mut FeatureTable,
    release: &dyn Fn(std::ops::Range<usize>),
) -> Decoded<'n> {
    let mut decoded = Decoded {
        outside: FunctionStats {
            name: "(code outside any symbol)",
            level: 1,
            ..FunctionStats::default()
        },
        bytes_decoded: 0,
        cpuid: false,
    };
    let mut cache: Vec<Option<CodeFacts>> = vec![None; Code::values().len()];
    let mut instruction = Instruction::default();
    let executable = elf.section_headers.iter().filter(|section| {
        section.sh_flags & u64::from(goblin::elf::section_header::SHF_EXECINSTR) != 0
            && section.sh_type == goblin::elf::section_header::SHT_PROGBITS
    });
    for section in executable {
        let start = section.sh_offset as usize;
        let Some(code) = start
            .checked_add(section.sh_size as usize)
            .and_then(|end| bytes.get(start..end))
        else {
            continue;
        };
        decoded.bytes_decoded += code.len() as u64;
        let mut decoder = Decoder::with_ip(64, code, section.sh_addr, DecoderOptions::NO_INVALID_CHECK);
        // Functions are sorted; walk them alongside the instructions.
        let mut next = functions.partition_point(|function| function.end <= section.sh_addr);
        let mut released = 0;
        while decoder.can_decode() {
            if decoder.position() - released >= RELEASE_EVERY {
                release(start + released..start + decoder.position());
                released = decoder.position();
            }
            decoder.decode_out(&mut instruction);
            let code_kind = instruction.code();
            if code_kind == Code::INVALID {
                continue;
            }
            let facts = match cache[code_kind as usize] {
                Some(facts) => facts,
                None => {
                    let facts = facts_for(&instruction, table);
                    cache[code_kind as usize] = Some(facts);
                    if instruction.mnemonic() == Mnemonic::Cpuid {
                        decoded.cpuid = true;
                    }
                    facts
                }
            };
            let address = instruction.ip();
            while next < functions.len() && functions[next].end <= address {
                next += 1;
            }
            let owner = match functions.get_mut(next) {
                Some(function) if function.start <= address => function,
                _ => &mut decoded.outside,
            };
            owner.count(facts, &instruction);
        }
    }
    decoded
}

/// Which tallies count as code that runs without a CPU check, and how that line was drawn,
/// in words (see the module's documentation).
fn unguarded<'a, 'n>(
    functions: &'a [FunctionStats<'n>],
    outside: &'a FunctionStats<'n>,
    dispatch: &BTreeSet<String>,
) -> (Vec<&'a FunctionStats<'n>>, String) {
    if dispatch.is_empty() {
        return (
            functions.iter().chain(std::iter::once(outside)).collect(),
            "no run-time CPU checks found: every instruction is assumed to run".to_string(),
        );
    }
    let plain: Vec<&FunctionStats> = functions
        .iter()
        .filter(|function| !function.target_named)
        .collect();
    let legacy = plain.iter().filter(|f| f.legacy_simd).count();
    let vex_only = plain.iter().filter(|f| f.vex_simd && !f.legacy_simd).count();
    if plain.is_empty() {
        (
            Vec::new(),
            "run-time CPU checks found and no function symbols: all code above the baseline is taken as dispatched".to_string(),
        )
    } else if legacy > 0 && legacy * 20 >= legacy + vex_only {
        // Code compiled for x86-64-v3 or above never uses legacy SSE encodings, and code
        // compiled for the baseline never uses VEX: finding legacy SSE says the library
        // targets the baseline, so its functions with VEX/EVEX are dispatched kernels
        // (compiled with target attributes, or written in assembly behind a check).
        let with_vex = plain.iter().filter(|f| f.vex_simd).count();
        (
            plain.into_iter().filter(|f| !f.vex_simd).collect(),
            format!(
                "run-time CPU checks found; {legacy} functions use legacy SSE encodings (baseline code), so the {with_vex} functions with VEX/EVEX instructions are taken as dispatched kernels"
            ),
        )
    } else {
        (
            plain,
            format!(
                "run-time CPU checks found, but {vex_only} functions use VEX/EVEX and only {legacy} legacy SSE: the library is compiled above the baseline, so its named functions count"
            ),
        )
    }
}

/// A few instructions at `level` (above the baseline) of the counted tallies, with their
/// function: "vaddps in `foo`".
fn examples(counted: &[&FunctionStats<'_>], level: u8) -> Vec<String> {
    counted
        .iter()
        .filter(|f| f.level == level && level > 1)
        .take(3)
        .map(|f| {
            let mnemonic = f
                .example
                .map(|m| format!("{m:?}").to_ascii_lowercase())
                .unwrap_or_default();
            format!("{mnemonic} in `{}`", f.name)
        })
        .collect()
}

/// How much decoded code is handed back at a time (see [`scan`]'s `release`).
const RELEASE_EVERY: usize = 16 << 20;

/// Decodes every executable section of `elf`; `release` is told each range of `bytes` the
/// decoding is done with (a mapped file's caller drops those pages: memory stays bounded).
/// `lazy`: the symbol table, when it was hidden from goblin's parse.
pub fn scan<'a>(
    elf: &Elf<'a>,
    bytes: &[u8],
    release: &dyn Fn(std::ops::Range<usize>),
    lazy: Option<&super::LazySymbols<'a>>,
) -> InstructionScan {
    let mut table = FeatureTable::default();
    let mut dispatch = BTreeSet::new();
    let release_all = || {
        release_tables(elf, bytes, release);
        for range in lazy.iter().flat_map(|lazy| lazy.ranges.iter()) {
            release(range.clone());
        }
    };
    let mut functions = read_functions(elf, lazy, &mut dispatch, &release_all);
    release_all();
    let decoded = decode_sections(elf, bytes, &mut functions, &mut table, release);
    if decoded.cpuid {
        dispatch.insert("cpuid".to_string());
    }
    let everything = || functions.iter().chain(std::iter::once(&decoded.outside));
    let all_features = everything().fold(0, |mask, f| mask | f.features);
    let max_level = everything().map(|f| f.level).max().unwrap_or(1);

    let (counted, judgement) = unguarded(&functions, &decoded.outside, &dispatch);
    let unguarded_level = counted.iter().map(|f| f.level).max().unwrap_or(1);
    let unguarded_mask = counted.iter().fold(0, |mask, f| mask | f.features);
    InstructionScan {
        max_level,
        unguarded_level,
        features: table.names(all_features),
        unguarded_features: table.names(unguarded_mask),
        dispatch: dispatch.into_iter().collect(),
        judgement,
        examples: examples(&counted, unguarded_level),
        bytes_decoded: decoded.bytes_decoded,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_features_to_levels() {
        assert_eq!(feature_info(CpuidFeature::AVX512F), Some(("avx512f", 4)));
        assert_eq!(feature_info(CpuidFeature::AVX2), Some(("avx2", 3)));
        assert_eq!(feature_info(CpuidFeature::SSE4_2), Some(("sse4_2", 2)));
        assert_eq!(feature_info(CpuidFeature::SSE2), None);
        assert_eq!(feature_info(CpuidFeature::INTEL386), None);
    }

    #[test]
    fn decodes_levels_of_known_encodings() {
        let mut table = FeatureTable::default();
        // vaddps zmm0, zmm1, zmm2 (EVEX, AVX512F)
        let bytes = [0x62, 0xf1, 0x74, 0x48, 0x58, 0xc2];
        let mut decoder = Decoder::new(64, &bytes, DecoderOptions::NONE);
        let facts = facts_for(&decoder.decode(), &mut table);
        assert_eq!(facts.level, 4);
        assert!(facts.vex_simd && !facts.legacy_simd);
        assert_eq!(
            table.names(facts.features),
            BTreeSet::from(["avx512f".to_string()])
        );
        // addps xmm0, xmm1 (legacy SSE)
        let bytes = [0x0f, 0x58, 0xc1];
        let facts = facts_for(
            &Decoder::new(64, &bytes, DecoderOptions::NONE).decode(),
            &mut table,
        );
        assert_eq!(facts.level, 1);
        assert!(facts.legacy_simd);
        // vfmadd231ps ymm0, ymm1, ymm2 (VEX, FMA)
        let bytes = [0xc4, 0xe2, 0x75, 0xb8, 0xc2];
        let facts = facts_for(
            &Decoder::new(64, &bytes, DecoderOptions::NONE).decode(),
            &mut table,
        );
        assert_eq!(facts.level, 3);
    }

    #[test]
    fn recognises_target_names() {
        for name in [
            "foo.avx2",
            "FLOAT_add_AVX512_SKX",
            "sgemm_kernel_HASWELL",
            "bar.arch_x86_64_v4",
            "dgemm_SKYLAKEX",
            "aesni_ctr32_encrypt_blocks",
            "bn_mulx4x_mont",
        ] {
            assert!(is_target_named(name), "{name}");
        }
        for name in [
            "PyInit__core",
            "main",
            "compute_sum",
            "ends_with_av",
            "x86_64",
            "",
        ] {
            assert!(!is_target_named(name), "{name}");
        }
    }
}
