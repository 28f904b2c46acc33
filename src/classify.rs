//! Where a wheel belongs: the layers it works on (and why not the others), the arch it needs
//! (with the evidence), and its directory in the wheelhouse tree.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::inspect::{ElfMember, WheelElves};
use crate::layout::{Arch, DottedVersion, Layer, Layout};

/// The verdict for one layer.
#[derive(Debug, Clone, Serialize)]
pub struct LayerVerdict {
    pub works: bool,
    /// Why it does not work (empty when it does).
    pub reasons: Vec<String>,
    /// Whether DT_NEEDED libraries were looked up in the layer's directories.
    pub libraries_checked: bool,
    pub notes: Vec<String>,
    pub deprecated: bool,
}

/// The arch a wheel needs, with the evidence.
#[derive(Debug, Clone, Serialize)]
pub struct ArchVerdict {
    pub name: String,
    pub level: u8,
    pub evidence: Vec<String>,
}

/// The full answer for one wheel.
#[derive(Debug, Clone, Serialize)]
pub struct Classification {
    pub pure: bool,
    pub glibc: Option<DottedVersion>,
    pub layers: BTreeMap<String, LayerVerdict>,
    pub arch: ArchVerdict,
    /// `generic` or `<layer>/<arch>`; None when no layer can take the wheel.
    pub destination: Option<String>,
    pub notes: Vec<String>,
    /// Why the wheel cannot be judged at all: its tags promise compiled code, yet none of
    /// its compiled members can be read (one sentence per member). Empty otherwise.
    pub unreadable: Vec<String>,
}

impl Classification {
    /// The destination directory under the layout's root.
    pub fn destination_path(&self, layout: &Layout) -> Option<PathBuf> {
        self.destination
            .as_ref()
            .map(|relative| layout.root.join(relative))
    }
}

/// What the machine can tell about a library directory; a trait so tests can fake layers.
pub trait LibraryLookup {
    fn directory_exists(&self, directory: &Path) -> bool;
    fn library_exists(&self, directory: &Path, name: &str) -> bool;
}

/// The real filesystem.
pub struct Filesystem;

impl LibraryLookup for Filesystem {
    fn directory_exists(&self, directory: &Path) -> bool {
        directory.is_dir()
    }

    fn library_exists(&self, directory: &Path, name: &str) -> bool {
        directory.join(name).exists()
    }
}

/// Search-path entries that are relative to the object itself.
pub(crate) fn is_origin_relative(entry: &str) -> bool {
    entry.starts_with("$ORIGIN") || entry.starts_with("${ORIGIN}")
}

/// The layer an absolute RPATH entry points into, if any.
fn layer_of_path<'a>(layout: &'a Layout, entry: &str) -> Option<&'a Layer> {
    layout
        .layers
        .values()
        .filter_map(|layer| {
            layer
                .rpath_prefixes
                .iter()
                .filter(|prefix| {
                    entry.starts_with(prefix.as_str()) || format!("{entry}/").starts_with(prefix.as_str())
                })
                .map(|prefix| prefix.len())
                .max()
                .map(|length| (length, layer))
        })
        .max_by_key(|(length, _)| *length)
        .map(|(_, layer)| layer)
}

/// RPATH and RUNPATH entries that carry information (not `$ORIGIN`, not ignored).
fn search_paths<'a>(layout: &'a Layout, member: &'a ElfMember) -> impl Iterator<Item = &'a String> + 'a {
    member
        .info
        .rpath
        .iter()
        .chain(&member.info.runpath)
        .filter(|entry| !is_origin_relative(entry))
        .filter(|entry| {
            !layout
                .ignored_rpath
                .iter()
                .any(|ignored| entry.contains(ignored.as_str()))
        })
}

/// The features each x86-64 level adds, for turning an ISA note into feature requirements.
fn level_features(level: u8) -> &'static [&'static str] {
    match level {
        2 => &["pni", "ssse3", "sse4_1", "sse4_2", "popcnt", "cx16"],
        3 => &["avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "abm", "movbe"],
        4 => &["avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"],
        _ => &[],
    }
}

pub(crate) fn is_system_library(layout: &Layout, name: &str) -> bool {
    layout.system_libraries.iter().any(|system| system == name)
        || name.starts_with("libpython3")
        || name.starts_with("ld-linux")
}

fn judge_layer(
    layout: &Layout,
    layer: &Layer,
    elves: &WheelElves,
    lookup: &dyn LibraryLookup,
) -> LayerVerdict {
    let mut reasons = Vec::new();
    let mut notes = Vec::new();
    // Symbol versions.
    for member in &elves.members {
        if let Some(glibc) = &member.info.glibc
            && glibc > &layer.glibc
        {
            reasons.push(format!(
                "`{}` needs GLIBC_{glibc}, the layer has glibc {}",
                member.path, layer.glibc
            ));
        }
        if let (Some(needed), Some(available)) = (&member.info.glibcxx, &layer.glibcxx)
            && needed > available
        {
            reasons.push(format!(
                "`{}` needs GLIBCXX_{needed}, the layer's libstdc++ has GLIBCXX_{available}",
                member.path
            ));
        }
    }
    // Search paths into another layer.
    for member in &elves.members {
        for entry in search_paths(layout, member) {
            if let Some(other) = layer_of_path(layout, entry)
                && other.name != layer.name
            {
                reasons.push(format!(
                    "`{}` has RPATH `{entry}`, which points into layer {}",
                    member.path, other.name
                ));
            }
        }
    }
    // Libraries.
    let bundled = elves.bundled_names();
    let present_directories: Vec<PathBuf> = layer
        .library_dirs
        .iter()
        .filter(|directory| lookup.directory_exists(directory))
        .cloned()
        .collect();
    let libraries_checked = !present_directories.is_empty();
    let mut unchecked = BTreeSet::new();
    let mut from_wheels = BTreeSet::new();
    let mut missing = BTreeMap::new();
    for member in &elves.members {
        let own_directories: Vec<PathBuf> = search_paths(layout, member)
            .filter(|entry| layer_of_path(layout, entry).is_some_and(|owner| owner.name == layer.name))
            .map(PathBuf::from)
            .filter(|directory| lookup.directory_exists(directory))
            .collect();
        for needed in &member.info.needed {
            if bundled.contains(needed.as_str()) || is_system_library(layout, needed) {
                continue;
            }
            if let Some(provider) = layout.provider_of(needed) {
                from_wheels.insert(format!("{needed} (from the {} wheel)", provider.wheel));
                continue;
            }
            let directories: Vec<&PathBuf> = present_directories.iter().chain(&own_directories).collect();
            if directories.is_empty() {
                unchecked.insert(needed.clone());
                continue;
            }
            if !directories
                .iter()
                .any(|directory| lookup.library_exists(directory, needed))
            {
                missing
                    .entry(needed.clone())
                    .or_insert_with(|| member.path.clone());
            }
        }
    }
    for (library, member) in missing {
        reasons.push(format!(
            "`{library}` (needed by `{member}`) is not in the layer's library directories"
        ));
    }
    if !from_wheels.is_empty() {
        notes.push(format!(
            "libraries other wheels provide: {}",
            from_wheels.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    if !unchecked.is_empty() {
        notes.push(format!(
            "the layer's library directories are not on this machine, so these were not looked up: {} (judged on glibc and RPATH only)",
            unchecked.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    LayerVerdict {
        works: reasons.is_empty(),
        reasons,
        libraries_checked,
        notes,
        deprecated: layer.deprecated,
    }
}

/// What a wheel's members and build record say about the arch it needs.
#[derive(Default)]
struct ArchRequirements<'a> {
    /// Sentences saying what was found, in the order found.
    evidence: Vec<String>,
    /// CPU features the code needs, each with the first member that needs it.
    required: BTreeMap<String, String>,
    /// The highest arch named outright (by an RPATH or the build record), with why.
    named: Option<(&'a Arch, String)>,
}

impl<'a> ArchRequirements<'a> {
    /// Reads the requirements of every member of `elves`, then its build record.
    fn gather(layout: &'a Layout, elves: &WheelElves) -> Self {
        let mut found = Self::default();
        let not_arch: Vec<&String> = layout
            .layers
            .values()
            .flat_map(|layer| &layer.not_arch_rpath)
            .collect();
        for member in &elves.members {
            found.note_rpath_archs(layout, &not_arch, member);
            found.note_isa(member);
            found.note_instructions(member);
        }
        found.note_build_record(layout, elves);
        found
    }

    /// Keeps `arch` as the named arch when none is named yet or it is above the one named.
    fn keep_highest_named(&mut self, arch: &'a Arch, reason: String) {
        if self
            .named
            .as_ref()
            .is_none_or(|(current, _)| arch.level > current.level)
        {
            self.named = Some((arch, reason));
        }
    }

    /// Archs (other than `generic`) named by a directory of the member's RPATH entries,
    /// except entries matching a layer's `not_arch_rpath` patterns.
    fn note_rpath_archs(&mut self, layout: &'a Layout, not_arch: &[&String], member: &ElfMember) {
        for entry in search_paths(layout, member) {
            if not_arch.iter().any(|pattern| entry.contains(pattern.as_str())) {
                continue;
            }
            let with_slash = format!("{entry}/");
            for arch in layout.archs.values() {
                if arch.name != "generic" && with_slash.contains(&format!("/{}/", arch.name)) {
                    let reason = format!(
                        "`{}` has RPATH `{entry}`, built against arch {}",
                        member.path, arch.name
                    );
                    self.keep_highest_named(arch, reason);
                }
            }
        }
    }

    /// The features of the x86-64 level the member's GNU property note asks for (above 1).
    fn note_isa(&mut self, member: &ElfMember) {
        if let Some(level) = member.info.isa_note.filter(|level| *level > 1) {
            for feature in level_features(level) {
                self.required
                    .entry(feature.to_string())
                    .or_insert_with(|| member.path.clone());
            }
            self.evidence.push(format!(
                "`{}` is marked as needing x86-64-v{level} (GNU property note)",
                member.path
            ));
        }
    }

    /// The features the member's instructions use without a CPU check, and what its
    /// run-time dispatch reaches.
    fn note_instructions(&mut self, member: &ElfMember) {
        let Some(scan) = &member.info.instructions else {
            return;
        };
        for feature in &scan.unguarded_features {
            self.required
                .entry(feature.clone())
                .or_insert_with(|| member.path.clone());
        }
        if scan.unguarded_level > 1 {
            self.evidence.push(format!(
                "`{}` uses x86-64-v{} instructions without a CPU check ({}{})",
                member.path,
                scan.unguarded_level,
                scan.unguarded_features
                    .iter()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", "),
                if scan.examples.is_empty() {
                    String::new()
                } else {
                    format!("; e.g. {}", scan.examples.join(", "))
                }
            ));
        } else if scan.max_level > 1 && !scan.dispatch.is_empty() {
            self.evidence.push(format!(
                "`{}` has x86-64-v{} code only behind run-time dispatch ({})",
                member.path,
                scan.max_level,
                scan.dispatch.join(", ")
            ));
        }
    }

    /// The arch the wheel's build record says it was built for, when the layout has it
    /// and it is not `generic`.
    fn note_build_record(&mut self, layout: &'a Layout, elves: &WheelElves) {
        if let Some(arch) = elves
            .build_record
            .as_ref()
            .and_then(|record| record.get("arch"))
            .and_then(|arch| arch.as_str())
            .and_then(|name| layout.archs.get(name))
            && arch.name != "generic"
        {
            let reason = format!("the wheel's build record says it was built for {}", arch.name);
            self.keep_highest_named(arch, reason);
        }
    }
}

/// The lowest arch of `layer` that guarantees (with the archs below it) every required
/// feature the layer's archs distinguish, else its highest; notes in `evidence` the features
/// it ignores, and when no arch fits.
fn lowest_fitting_arch<'a>(
    layout: &'a Layout,
    layer: &Layer,
    required: &BTreeMap<String, String>,
    evidence: &mut Vec<String>,
) -> Option<&'a Arch> {
    // Archs of the layer by level, with what each guarantees (its features and those below).
    let mut archs: Vec<&Arch> = layer
        .archs
        .iter()
        .filter_map(|name| layout.archs.get(name))
        .collect();
    archs.sort_by_key(|arch| arch.level);
    let known: BTreeSet<&str> = archs
        .iter()
        .flat_map(|arch| arch.features.iter().map(String::as_str))
        .collect();
    let needed: BTreeSet<&str> = required
        .keys()
        .map(String::as_str)
        .filter(|feature| known.contains(feature))
        .collect();
    let ignored: Vec<&str> = required
        .keys()
        .map(String::as_str)
        .filter(|feature| !known.contains(feature))
        .collect();
    if !ignored.is_empty() {
        evidence.push(format!(
            "features no arch of {} distinguishes (every node has them, or none is promised): {}",
            layer.name,
            ignored.join(", ")
        ));
    }
    let guarantees = |candidate: &Arch| -> BTreeSet<&str> {
        archs
            .iter()
            .filter(|arch| arch.level <= candidate.level)
            .flat_map(|arch| arch.features.iter().map(String::as_str))
            .collect()
    };
    let chosen = archs
        .iter()
        .find(|arch| needed.iter().all(|feature| guarantees(arch).contains(feature)))
        .copied();
    if chosen.is_none() {
        evidence.push(format!(
            "no arch of {} guarantees all of: {}; taking its highest",
            layer.name,
            needed.iter().copied().collect::<Vec<_>>().join(", ")
        ));
        return archs.last().copied();
    }
    chosen
}

/// The lowest arch of `layer` that every requirement fits, with the evidence.
fn judge_arch(layout: &Layout, layer: &Layer, elves: &WheelElves) -> ArchVerdict {
    let ArchRequirements {
        mut evidence,
        required,
        named,
    } = ArchRequirements::gather(layout, elves);
    let mut chosen = lowest_fitting_arch(layout, layer, &required, &mut evidence);
    if let Some((arch, reason)) = named {
        evidence.insert(0, reason);
        if layer.archs.contains(&arch.name) && chosen.is_none_or(|chosen| arch.level >= chosen.level) {
            chosen = Some(arch);
        } else if !layer.archs.contains(&arch.name) {
            evidence.push(format!("layer {} has no {} directory", layer.name, arch.name));
        }
    }
    match chosen {
        Some(arch) => ArchVerdict {
            name: arch.name.clone(),
            level: arch.level,
            evidence,
        },
        None => ArchVerdict {
            name: "generic".to_string(),
            level: 1,
            evidence,
        },
    }
}

/// Classifies a wheel from its ELF members.
pub fn classify(layout: &Layout, elves: &WheelElves, lookup: &dyn LibraryLookup) -> Classification {
    let glibc = elves
        .members
        .iter()
        .filter_map(|member| member.info.glibc.clone())
        .max();
    if elves.members.is_empty() && !elves.tagged_pure && !elves.problems.is_empty() {
        return unreadable(layout, elves);
    }
    if elves.members.is_empty() {
        return Classification {
            pure: true,
            glibc,
            // No compiled code: it works everywhere, with no libraries to check.
            layers: same_on_every_layer(layout, true, &[], true),
            arch: ArchVerdict {
                name: "generic".to_string(),
                level: 1,
                evidence: vec!["no compiled code".to_string()],
            },
            destination: Some("generic".to_string()),
            notes: Vec::new(),
            unreadable: Vec::new(),
        };
    }
    let layers: BTreeMap<String, LayerVerdict> = layout
        .layers
        .values()
        .map(|layer| (layer.name.clone(), judge_layer(layout, layer, elves, lookup)))
        .collect();
    let mut notes = Vec::new();
    let active: Vec<&Layer> = layout.active_layers().collect();
    let working: Vec<&Layer> = active
        .iter()
        .copied()
        .filter(|layer| layers[&layer.name].works)
        .collect();
    let target = layout
        .default_layer
        .as_ref()
        .and_then(|name| working.iter().find(|layer| &layer.name == name))
        .or_else(|| working.iter().max_by(|a, b| a.glibc.cmp(&b.glibc)))
        .copied();
    let Some(target) = target else {
        let arch = ArchVerdict {
            name: "generic".to_string(),
            level: 1,
            evidence: Vec::new(),
        };
        notes.push("the wheel works on no layer that takes new wheels".to_string());
        return Classification {
            pure: false,
            glibc,
            layers,
            arch,
            destination: None,
            notes,
            unreadable: Vec::new(),
        };
    };
    let arch = judge_arch(layout, target, elves);
    let everywhere = working.len() == active.len();
    let destination = if everywhere && arch.name == "generic" {
        "generic".to_string()
    } else {
        if !everywhere {
            let others: Vec<&str> = working.iter().map(|layer| layer.name.as_str()).collect();
            notes.push(format!("works on: {}", others.join(", ")));
        }
        format!("{}/{}", target.name, arch.name)
    };
    Classification {
        pure: false,
        glibc,
        layers,
        arch,
        destination: Some(destination),
        notes,
        unreadable: Vec::new(),
    }
}

/// One verdict on every layer of the layout (each keeping whether it is deprecated), for a
/// wheel whose members say nothing layer by layer.
fn same_on_every_layer(
    layout: &Layout,
    works: bool,
    reasons: &[String],
    libraries_checked: bool,
) -> BTreeMap<String, LayerVerdict> {
    layout
        .layers
        .values()
        .map(|layer| {
            (
                layer.name.clone(),
                LayerVerdict {
                    works,
                    reasons: reasons.to_vec(),
                    libraries_checked,
                    notes: Vec::new(),
                    deprecated: layer.deprecated,
                },
            )
        })
        .collect()
}

/// A platform wheel none of whose compiled members can be read (garbage or truncated `.so`
/// files, objects for another machine): not pure, since its tags and file names promise
/// compiled code, and placeable nowhere, since nothing says where that code runs.
fn unreadable(layout: &Layout, elves: &WheelElves) -> Classification {
    let sentences: Vec<String> = elves.problems.iter().map(|problem| problem.sentence()).collect();
    Classification {
        pure: false,
        glibc: None,
        layers: same_on_every_layer(layout, false, &sentences, false),
        arch: ArchVerdict {
            name: "generic".to_string(),
            level: 1,
            evidence: Vec::new(),
        },
        destination: None,
        notes: vec![format!(
            "the wheel is tagged for a platform, but none of its compiled members can be read: {}",
            sentences.join("; ")
        )],
        unreadable: sentences,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elf::ElfProblem;
    use crate::inspect::{MemberProblem, MemberProblemKind};

    fn not_elf(path: &str) -> MemberProblem {
        MemberProblem {
            path: path.to_string(),
            kind: MemberProblemKind::Elf(ElfProblem::NotElf),
        }
    }

    #[test]
    fn a_platform_wheel_whose_compiled_members_are_all_unreadable_is_not_pure() {
        let layout = Layout::embedded().unwrap();
        let elves = WheelElves {
            problems: vec![
                not_elf("pkg/_ext.so"),
                MemberProblem {
                    path: "pkg/_cut.so".to_string(),
                    kind: MemberProblemKind::Elf(ElfProblem::Damaged("too short".to_string())),
                },
            ],
            tagged_pure: false,
            ..WheelElves::default()
        };
        let result = classify(&layout, &elves, &Filesystem);
        assert!(!result.pure);
        assert_eq!(result.destination, None);
        assert_eq!(
            result.unreadable,
            [
                "`pkg/_ext.so` is not a valid ELF file: it does not start with the ELF magic number",
                "`pkg/_cut.so` is not a valid ELF file: damaged or truncated (too short)",
            ]
        );
        assert!(!result.layers.is_empty());
        for (name, verdict) in &result.layers {
            assert!(!verdict.works, "{name}");
            assert_eq!(verdict.reasons, result.unreadable, "{name}");
        }
        assert!(result.notes[0].contains("none of its compiled members can be read"));
    }

    #[test]
    fn pure_tags_or_no_compiled_members_stay_pure() {
        let layout = Layout::embedded().unwrap();
        // A pure wheel with a stray file named like a library: its tags promise no code.
        let stray = WheelElves {
            problems: vec![not_elf("pkg/data/fake.so")],
            tagged_pure: true,
            ..WheelElves::default()
        };
        let result = classify(&layout, &stray, &Filesystem);
        assert!(result.pure);
        assert_eq!(result.destination.as_deref(), Some("generic"));
        assert!(result.unreadable.is_empty());
        // A platform-tagged wheel without any compiled member (retagged pure code).
        let empty = WheelElves::default();
        let result = classify(&layout, &empty, &Filesystem);
        assert!(result.pure);
        assert!(result.unreadable.is_empty());
    }
}
