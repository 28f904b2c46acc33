//! The RPATH / RUNPATH of an ELF shared object or executable: the edit (add directories, add
//! `$ORIGIN`, remove by prefix) as a pure function, reading the value, and writing a new value
//! in place over the old one's bytes in `.dynstr` when it fits and nothing else shares them.
//! Only the headers, the dynamic segment and the strings and tables it points to are read
//! (positioned reads: a 1 GB `libtorch_cuda.so` is never loaded whole). When the new value
//! does not fit, [`append_search_path`] writes it into a segment appended to the file, and
//! `crate::build::patchelf` chooses between that and patchelf. `dynamic` reads the file.

mod append;
mod dynamic;

pub use append::{AppendRefusal, Appended, append_search_path};

use std::fmt;
use std::path::{Path, PathBuf};

use fs_err::os::unix::fs::FileExt as _;
use goblin::elf::dynamic::{DT_RPATH, DT_RUNPATH};
use serde::Serialize;

use super::ElfProblem;
use dynamic::{ElfFile, Sharing};

/// What to do to a search path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RpathEdit {
    /// Directories appended when not already present (an entry holding `:` is several).
    pub add: Vec<String>,
    /// Put `$ORIGIN` first when it is not already there.
    pub add_origin: bool,
    /// Old entries starting with one of these (as strings, not path components: `/opt/cuda`
    /// also removes `/opt/cuda-12.6/lib64`) are dropped. `$ORIGIN/../../nvidia` removes
    /// exactly those `$ORIGIN`-relative entries; the others are kept.
    pub remove_prefixes: Vec<String>,
}

/// The dynamic-string tokens the loader also accepts braced (`${ORIGIN}` is `$ORIGIN`).
const BRACED_TOKENS: [(&str, &str); 3] = [
    ("${ORIGIN}", "$ORIGIN"),
    ("${LIB}", "$LIB"),
    ("${PLATFORM}", "$PLATFORM"),
];

/// An entry as compared: braced tokens unbraced. Entries keep their spelling in the result.
fn comparable(entry: &str) -> String {
    BRACED_TOKENS
        .iter()
        .fold(entry.to_string(), |entry, (braced, plain)| {
            entry.replace(braced, plain)
        })
}

/// The search path `old` becomes under `edit`: the old entries not removed by a prefix, in
/// their order; `$ORIGIN` in front if asked for and absent; then each added entry not already
/// there. Empty entries (which the loader reads as the current directory) and duplicates are
/// dropped. Removal applies to the old entries only: an added entry is never removed.
pub fn edited_search_path(old: &[String], edit: &RpathEdit) -> Vec<String> {
    let prefixes: Vec<String> = edit
        .remove_prefixes
        .iter()
        .map(|prefix| comparable(prefix))
        .collect();
    let kept = old.iter().filter(|entry| {
        let entry = comparable(entry);
        !prefixes.iter().any(|prefix| entry.starts_with(prefix.as_str()))
    });
    let origin_absent = edit.add_origin && !kept.clone().any(|entry| comparable(entry) == "$ORIGIN");
    let origin = origin_absent.then_some("$ORIGIN");
    let added = edit.add.iter().flat_map(|entry| entry.split(':'));
    let mut seen = std::collections::BTreeSet::new();
    origin
        .into_iter()
        .chain(kept.map(String::as_str))
        .chain(added)
        .filter(|entry| !entry.is_empty() && seen.insert(comparable(entry)))
        .map(str::to_string)
        .collect()
}

/// Which dynamic tag holds a search path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum SearchPathTag {
    /// `DT_RPATH`: searched before `LD_LIBRARY_PATH`, and for the dependencies of dependencies.
    Rpath,
    /// `DT_RUNPATH`: searched after `LD_LIBRARY_PATH`, for this file's own dependencies only.
    Runpath,
}

impl SearchPathTag {
    fn dynamic_tag(self) -> u64 {
        match self {
            SearchPathTag::Rpath => DT_RPATH,
            SearchPathTag::Runpath => DT_RUNPATH,
        }
    }
}

impl fmt::Display for SearchPathTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SearchPathTag::Rpath => "DT_RPATH",
            SearchPathTag::Runpath => "DT_RUNPATH",
        })
    }
}

/// The search paths of a file, split on `:` (an empty entry, the current directory, is kept).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SearchPath {
    /// The `DT_RPATH` entries, when the file has that tag.
    pub rpath: Option<Vec<String>>,
    /// The `DT_RUNPATH` entries, when the file has that tag.
    pub runpath: Option<Vec<String>>,
}

impl SearchPath {
    /// The tag the loader reads, and an edit changes: `DT_RUNPATH` when there is one (the
    /// loader then ignores `DT_RPATH`), else `DT_RPATH`.
    pub fn tag(&self) -> Option<SearchPathTag> {
        match (&self.runpath, &self.rpath) {
            (Some(_), _) => Some(SearchPathTag::Runpath),
            (None, Some(_)) => Some(SearchPathTag::Rpath),
            (None, None) => None,
        }
    }

    /// The entries of [`SearchPath::tag`]'s value; none without either tag.
    pub fn entries(&self) -> &[String] {
        self.runpath
            .as_deref()
            .or(self.rpath.as_deref())
            .unwrap_or_default()
    }
}

/// A search path written that reads back otherwise: what was found and what was wanted.
/// Shown as ``/a:/b` (DT_RUNPATH), not `/a:/c``.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchPathMismatch {
    pub found: SearchPath,
    pub wanted: Vec<String>,
}

impl fmt::Display for SearchPathMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` (", self.found.entries().join(":"))?;
        match self.found.tag() {
            Some(tag) => write!(f, "{tag}")?,
            None => f.write_str("no tag")?,
        }
        write!(f, "), not `{}`", self.wanted.join(":"))
    }
}

/// What [`edit_in_place`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RpathChange {
    /// The edit leaves the value as it is: nothing was written.
    Unchanged {
        tag: Option<SearchPathTag>,
        entries: Vec<String>,
    },
    /// The new value was written over the old one's bytes.
    Rewritten {
        tag: SearchPathTag,
        old: Vec<String>,
        new: Vec<String>,
        /// The bytes of the file written.
        written: std::ops::Range<u64>,
    },
}

/// Why a new value cannot be written over the old one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoRoomReason {
    #[error("the file has no DT_RPATH or DT_RUNPATH entry")]
    NoEntry,
    #[error("it needs {new} bytes and the old value has {old}")]
    TooLong { old: usize, new: usize },
    #[error("the old value's bytes in .dynstr are shared with {with}")]
    Shared { with: String },
    #[error(
        "the dynamic symbols cannot be counted (no DT_HASH or DT_GNU_HASH), so a symbol name sharing the old value's bytes cannot be ruled out"
    )]
    UnknownSymbols,
}

/// A search path that cannot be read or edited in place.
#[derive(Debug, thiserror::Error)]
pub enum RpathError {
    /// Reading or writing failed (the message names the file).
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("{}: {problem}", path.display())]
    Elf { path: PathBuf, problem: ElfProblem },
    #[error(
        "{}: no dynamic segment (a static executable or an object file): it has no search path",
        path.display()
    )]
    NoDynamicSegment { path: PathBuf },
    #[error("{}: the {tag} is not UTF-8 text", path.display())]
    NotText { path: PathBuf, tag: SearchPathTag },
    #[error("{}: the search path entry {entry:?} holds a NUL byte", path.display())]
    InvalidEntry { path: PathBuf, entry: String },
    /// The caller may fall back to `crate::build::patchelf::edit_with_patchelf` with `new`.
    #[error(
        "{}: the {} `{}` cannot be written in place: {reason}",
        path.display(),
        tag.map_or("search path".to_string(), |tag| tag.to_string()),
        new.join(":")
    )]
    NoRoom {
        path: PathBuf,
        /// The tag the file has (`None`: neither).
        tag: Option<SearchPathTag>,
        new: Vec<String>,
        reason: NoRoomReason,
    },
    /// wheelwright's own writer cannot serve this layout; nothing was written.
    #[error("{}: wheelwright cannot append a string table to it: {reason}", path.display())]
    CannotAppend { path: PathBuf, reason: AppendRefusal },
    /// wheelwright's own writer wrote something that does not read back as asked; the file
    /// was restored.
    #[error(
        "{}: after appending a string table the search path is {mismatch} (the file was restored)",
        path.display()
    )]
    AppendResult {
        path: PathBuf,
        mismatch: SearchPathMismatch,
    },
    #[error(
        "{}: the needed libraries changed from `{}` to `{}` while the search path was set",
        path.display(),
        before.join(", "),
        after.join(", ")
    )]
    NeededChanged {
        path: PathBuf,
        before: Vec<String>,
        after: Vec<String>,
    },
    #[error("{}: patchelf could not set the search path", path.display())]
    Patchelf {
        path: PathBuf,
        #[source]
        source: Box<crate::tools::CommandFailed>,
    },
    #[error("{}: after patchelf the search path is {mismatch}", path.display())]
    PatchelfResult {
        path: PathBuf,
        mismatch: SearchPathMismatch,
    },
}

/// Reads the `DT_RPATH` and `DT_RUNPATH` of an x86-64 ELF file.
pub fn read_search_path(path: &Path) -> Result<SearchPath, RpathError> {
    let file = fs_err::File::open(path)?;
    let elf = ElfFile::new(&file, path)?;
    let dynamic = elf.dynamic()?;
    let mut search_path = SearchPath::default();
    for stored in elf.search_path_strings(&dynamic)? {
        let slot = match stored.tag {
            SearchPathTag::Rpath => &mut search_path.rpath,
            SearchPathTag::Runpath => &mut search_path.runpath,
        };
        *slot = Some(split_value(&stored.value));
    }
    Ok(search_path)
}

/// The `DT_NEEDED` libraries of an x86-64 ELF file, in order.
pub fn read_needed(path: &Path) -> Result<Vec<String>, RpathError> {
    let file = fs_err::File::open(path)?;
    let elf = ElfFile::new(&file, path)?;
    let dynamic = elf.dynamic()?;
    elf.names(&dynamic, goblin::elf::dynamic::DT_NEEDED)
}

/// Applies `edit` to the search path of the file at `path`, in place: the new value is written
/// over the old one's bytes (NUL-padded) when it is no longer and no other name of the file
/// (a `DT_NEEDED`, a symbol, a version name: linkers merge string tails) shares those bytes.
/// `DT_RUNPATH` is edited when the file has one, else `DT_RPATH`. An edit that changes
/// nothing writes nothing; one that does not fit is [`RpathError::NoRoom`], the file untouched.
/// An edit that empties the value leaves an empty string, which the loader ignores (an empty
/// *entry* would be the current directory; the edit never writes one).
pub fn edit_in_place(path: &Path, edit: &RpathEdit) -> Result<RpathChange, RpathError> {
    let file = fs_err::OpenOptions::new().read(true).write(true).open(path)?;
    let elf = ElfFile::new(&file, path)?;
    let dynamic = elf.dynamic()?;
    let current = elf.edited_search_path(&dynamic)?;
    let old = current
        .as_ref()
        .map(|string| split_value(&string.value))
        .unwrap_or_default();
    let new = edited_search_path(&old, edit);
    if let Some(entry) = new.iter().find(|entry| entry.contains('\0')) {
        return Err(RpathError::InvalidEntry {
            path: path.to_path_buf(),
            entry: entry.clone(),
        });
    }
    let value = new.join(":");
    let tag = current.as_ref().map(|string| string.tag);
    let no_room = |reason| RpathError::NoRoom {
        path: path.to_path_buf(),
        tag,
        new: new.clone(),
        reason,
    };
    let Some(current) = current else {
        return if new.is_empty() {
            Ok(RpathChange::Unchanged {
                tag: None,
                entries: old,
            })
        } else {
            Err(no_room(NoRoomReason::NoEntry))
        };
    };
    if value == current.value {
        return Ok(RpathChange::Unchanged {
            tag: Some(current.tag),
            entries: old,
        });
    }
    if value.len() > current.value.len() {
        return Err(no_room(NoRoomReason::TooLong {
            old: current.value.len(),
            new: value.len(),
        }));
    }
    // The bytes the old value's characters and NUL occupy, from the start of the longest
    // string it is the tail of: a name starting anywhere in there would change too.
    let end = current.offset + current.value.len() as u64;
    let start = elf.string_start(&dynamic.strings, current.offset)?;
    match elf.sharer(&dynamic, start..=end, current.offset)? {
        Sharing::None => {}
        Sharing::With(with) => return Err(no_room(NoRoomReason::Shared { with })),
        Sharing::Unknown => return Err(no_room(NoRoomReason::UnknownSymbols)),
    }
    let mut bytes = value.into_bytes();
    bytes.resize(current.value.len() + 1, 0);
    let at = dynamic.strings.offset + current.offset;
    file.write_all_at(&bytes, at)?;
    tracing::debug!(
        "{}: {} `{}` -> `{}` (in place)",
        path.display(),
        current.tag,
        current.value,
        new.join(":")
    );
    Ok(RpathChange::Rewritten {
        tag: current.tag,
        old,
        new,
        written: at..at + bytes.len() as u64,
    })
}

/// A search path value split on `:`; the empty value has no entries.
fn split_value(value: &str) -> Vec<String> {
    if value.is_empty() {
        Vec::new()
    } else {
        value.split(':').map(str::to_string).collect()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    // Tests build their fixtures with real tools (gcc, readelf, patchelf), started by
    // `tools::Program` as everything else.
    use super::*;
    use crate::tools::Program;
    use dynamic::u64_at;
    use goblin::elf::dynamic::{DT_GNU_HASH, DT_STRSZ, DT_STRTAB};
    use goblin::elf::program_header::PT_DYNAMIC;

    fn strings(entries: &[&str]) -> Vec<String> {
        entries.iter().map(|entry| entry.to_string()).collect()
    }

    fn edit(add: &[&str], add_origin: bool, remove_prefixes: &[&str]) -> RpathEdit {
        RpathEdit {
            add: strings(add),
            add_origin,
            remove_prefixes: strings(remove_prefixes),
        }
    }

    #[test]
    fn edits_keep_order_and_origin_entries() {
        let old = strings(&["$ORIGIN/../../nvidia/cublas/lib", "/usr/lib64", "$ORIGIN/lib"]);
        assert_eq!(
            edited_search_path(&old, &edit(&["/cvmfs/cuda/12.6/lib64"], true, &["/usr"])),
            [
                "$ORIGIN",
                "$ORIGIN/../../nvidia/cublas/lib",
                "$ORIGIN/lib",
                "/cvmfs/cuda/12.6/lib64"
            ]
        );
        // An `$ORIGIN` prefix removes exactly those entries, however `$ORIGIN` is spelled.
        let old = strings(&[
            "${ORIGIN}/../../nvidia/cudnn/lib",
            "$ORIGIN/../torch/lib",
            "/opt/x",
        ]);
        assert_eq!(
            edited_search_path(&old, &edit(&[], false, &["$ORIGIN/../../nvidia"])),
            ["$ORIGIN/../torch/lib", "/opt/x"]
        );
        assert_eq!(
            edited_search_path(&old, &edit(&[], false, &["${ORIGIN}/../torch"])),
            ["${ORIGIN}/../../nvidia/cudnn/lib", "/opt/x"]
        );
        // Prefixes are strings, not path components.
        assert_eq!(
            edited_search_path(
                &strings(&["/opt/cuda-12/lib", "/opt/cudnn"]),
                &edit(&[], false, &["/opt/cuda"])
            ),
            ["/opt/cudnn"]
        );
    }

    #[test]
    fn origin_is_added_first_and_only_when_absent() {
        let old = strings(&["/a", "${ORIGIN}"]);
        assert_eq!(
            edited_search_path(&old, &edit(&[], true, &[])),
            ["/a", "${ORIGIN}"]
        );
        let old = strings(&["/a", "$ORIGIN/lib"]);
        assert_eq!(
            edited_search_path(&old, &edit(&[], true, &[])),
            ["$ORIGIN", "/a", "$ORIGIN/lib"]
        );
        // Removed, then asked for: added back, first.
        let old = strings(&["/a", "$ORIGIN"]);
        assert_eq!(
            edited_search_path(&old, &edit(&[], true, &["$ORIGIN"])),
            ["$ORIGIN", "/a"]
        );
        assert_eq!(edited_search_path(&[], &edit(&[], true, &[])), ["$ORIGIN"]);
    }

    #[test]
    fn empty_entries_and_duplicates_are_dropped() {
        let old = strings(&["/a", "", "/b", "/a", "$ORIGIN/x"]);
        assert_eq!(
            edited_search_path(
                &old,
                &edit(&["/b", "${ORIGIN}/x", "/c:/d:", "/c", ""], false, &[])
            ),
            ["/a", "/b", "$ORIGIN/x", "/c", "/d"]
        );
        // Added entries are not removed by the prefixes, which apply to the old ones.
        assert_eq!(
            edited_search_path(&strings(&["/opt/old"]), &edit(&["/opt/new"], false, &["/opt"])),
            ["/opt/new"]
        );
        assert!(edited_search_path(&[], &RpathEdit::default()).is_empty());
    }

    #[test]
    fn the_loaders_tag_is_the_one_edited() {
        let both = SearchPath {
            rpath: Some(strings(&["/old"])),
            runpath: Some(strings(&["/new"])),
        };
        assert_eq!(both.tag(), Some(SearchPathTag::Runpath));
        assert_eq!(both.entries(), ["/new"]);
        let rpath = SearchPath {
            rpath: Some(strings(&["/old"])),
            runpath: None,
        };
        assert_eq!(rpath.tag(), Some(SearchPathTag::Rpath));
        assert_eq!(SearchPath::default().tag(), None);
        assert!(SearchPath::default().entries().is_empty());
        assert_eq!(split_value(""), Vec::<String>::new());
        assert_eq!(split_value("/a::/b"), ["/a", "", "/b"]);
    }

    #[test]
    fn a_search_path_that_reads_back_otherwise_names_what_was_found_and_wanted() {
        let mismatch = |found: SearchPath| SearchPathMismatch {
            found,
            wanted: strings(&["$ORIGIN", "/opt/lib"]),
        };
        let runpath = SearchPath {
            rpath: None,
            runpath: Some(strings(&["/a", "/b"])),
        };
        let appended = RpathError::AppendResult {
            path: PathBuf::from("lib.so"),
            mismatch: mismatch(runpath),
        };
        assert_eq!(
            appended.to_string(),
            "lib.so: after appending a string table the search path is `/a:/b` (DT_RUNPATH), not `$ORIGIN:/opt/lib` (the file was restored)"
        );
        let patched = RpathError::PatchelfResult {
            path: PathBuf::from("lib.so"),
            mismatch: mismatch(SearchPath::default()),
        };
        assert_eq!(
            patched.to_string(),
            "lib.so: after patchelf the search path is `` (no tag), not `$ORIGIN:/opt/lib`"
        );
    }

    /// Runs gcc in `directory`; its failure fails the test with gcc's message.
    pub(crate) fn gcc(directory: &Path, args: &[&str]) {
        let output = Program::new("compiling a test file", "gcc")
            .args(args)
            .current_dir(directory)
            .output()
            .expect("gcc runs: these tests compile their ELF files with it");
        assert!(
            output.status.success(),
            "gcc {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// What `readelf -dW` (binutils) shows of a file's dynamic section.
    pub(crate) struct ReadelfDynamic(String);

    impl ReadelfDynamic {
        pub(crate) fn of(path: &Path) -> Self {
            let output = Program::new("reading a test file's dynamic section", "readelf")
                .arg("-dW")
                .arg(path)
                .output()
                .expect("readelf runs (binutils): these tests compare against it");
            assert!(
                output.status.success(),
                "readelf -d {}: {}",
                path.display(),
                String::from_utf8_lossy(&output.stderr)
            );
            ReadelfDynamic(String::from_utf8_lossy(&output.stdout).into_owned())
        }

        /// The values shown after `label` (`Library rpath:`), in order, without brackets.
        pub(crate) fn values(&self, label: &str) -> Vec<String> {
            self.0
                .lines()
                .filter_map(|line| {
                    let (_, rest) = line.split_once(label)?;
                    Some(
                        rest.trim()
                            .trim_start_matches('[')
                            .trim_end_matches(']')
                            .to_string(),
                    )
                })
                .collect()
        }
    }

    /// The RPATH and RUNPATH that `readelf -d` (binutils) shows.
    fn readelf(path: &Path) -> (Option<String>, Option<String>) {
        let shown = ReadelfDynamic::of(path);
        let value = |label: &str| shown.values(label).into_iter().next();
        (value("Library rpath:"), value("Library runpath:"))
    }

    /// `-Wl,--enable-new-dtags` (RUNPATH) or `-Wl,--disable-new-dtags` (RPATH).
    fn dtags(tag: SearchPathTag) -> &'static str {
        match tag {
            SearchPathTag::Rpath => "-Wl,--disable-new-dtags",
            SearchPathTag::Runpath => "-Wl,--enable-new-dtags",
        }
    }

    /// `deps/libdep.so`; `libtop.so`, needing it, with the search path `rpath` (under `tag`);
    /// and `main`, linked against `libtop.so`, finding it by its own `$ORIGIN` only: `main`
    /// runs when `libtop.so`'s search path finds `deps/`.
    struct Fixture {
        directory: tempfile::TempDir,
        library: PathBuf,
        program: PathBuf,
    }

    /// `libplain.so` in `directory`, from `plain.c` written there: no search path, no needs.
    fn plain_library(directory: &Path) -> PathBuf {
        fs_err::write(directory.join("plain.c"), "int plain(void) { return 1; }\n").unwrap();
        gcc(directory, &["-shared", "-fPIC", "-o", "libplain.so", "plain.c"]);
        directory.join("libplain.so")
    }

    /// Links `libtop.so` from `top.c` in `root`, needing `deps/libdep.so`, with the search
    /// path `rpath` under `tag`.
    fn link_top(root: &Path, tag: SearchPathTag, rpath: &str) {
        let rpath_flag = format!("-Wl,-rpath,{rpath}");
        gcc(
            root,
            &[
                "-shared",
                "-fPIC",
                "-o",
                "libtop.so",
                "top.c",
                "-Ldeps",
                "-ldep",
                &rpath_flag,
                dtags(tag),
            ],
        );
    }

    fn fixture(tag: SearchPathTag, rpath: &str) -> Fixture {
        let directory = tempfile::tempdir().unwrap();
        let root = directory.path();
        fs_err::create_dir(root.join("deps")).unwrap();
        fs_err::write(root.join("dep.c"), "int dep_value(void) { return 42; }\n").unwrap();
        fs_err::write(
            root.join("top.c"),
            "int dep_value(void);\nint top_value(void) { return dep_value() + 1; }\n",
        )
        .unwrap();
        fs_err::write(
            root.join("main.c"),
            "#include <stdio.h>\nint top_value(void);\nint main(void) { printf(\"%d\\n\", top_value()); return 0; }\n",
        )
        .unwrap();
        gcc(root, &["-shared", "-fPIC", "-o", "deps/libdep.so", "dep.c"]);
        link_top(root, tag, rpath);
        gcc(
            root,
            &[
                "-o",
                "main",
                "main.c",
                "-L.",
                "-ltop",
                "-Wl,-rpath,$ORIGIN",
                "-Wl,-rpath-link,deps",
                dtags(tag),
            ],
        );
        Fixture {
            library: root.join("libtop.so"),
            program: root.join("main"),
            directory,
        }
    }

    /// Runs `command`, again while the kernel says its file is busy: another test thread
    /// forking while it held the file open for writing (ETXTBSY) is a race of the test
    /// harness, not a fault of the file.
    pub(crate) fn output_of(command: &mut Program) -> std::process::Output {
        let mut tries = 0;
        loop {
            match command.output() {
                Err(error) if error.raw_os_error() == Some(libc::ETXTBSY) && tries < 50 => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                result => return result.unwrap_or_else(|error| panic!("{command:?}: {error}")),
            }
        }
    }

    /// Runs the fixture's program: its stdout, or None when it fails.
    fn run(program: &Path) -> Option<String> {
        let output =
            output_of(&mut Program::new("the fixture's program", program).env_remove("LD_LIBRARY_PATH"));
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
    }

    #[test]
    fn a_value_that_fits_is_written_in_place_under_the_same_tag() {
        for tag in [SearchPathTag::Runpath, SearchPathTag::Rpath] {
            let fixture = fixture(tag, "$ORIGIN/../site-packages/lib:/cvmfs/example.org/old/lib64");
            assert_eq!(
                run(&fixture.program),
                None,
                "{tag}: deps/ is not on the search path yet"
            );
            let before = read_search_path(&fixture.library).unwrap();
            assert_eq!(before.tag(), Some(tag));
            assert_eq!(
                before.entries(),
                ["$ORIGIN/../site-packages/lib", "/cvmfs/example.org/old/lib64"]
            );
            let length = fs_err::metadata(&fixture.library).unwrap().len();

            let change = edit_in_place(
                &fixture.library,
                &edit(&["$ORIGIN/deps"], true, &["/cvmfs/example.org/old"]),
            )
            .unwrap();
            let new = strings(&["$ORIGIN", "$ORIGIN/../site-packages/lib", "$ORIGIN/deps"]);
            let RpathChange::Rewritten { written, .. } = &change else {
                panic!("{change:?}")
            };
            // The old value's bytes and its NUL, no more.
            assert_eq!(
                written.end - written.start,
                before.entries().join(":").len() as u64 + 1
            );
            assert_eq!(
                change,
                RpathChange::Rewritten {
                    tag,
                    old: before.entries().to_vec(),
                    new: new.clone(),
                    written: written.clone(),
                }
            );
            // Our reader, binutils and the loader agree.
            assert_eq!(read_search_path(&fixture.library).unwrap().entries(), new);
            let value = Some(new.join(":"));
            let expected = match tag {
                SearchPathTag::Rpath => (value, None),
                SearchPathTag::Runpath => (None, value),
            };
            assert_eq!(readelf(&fixture.library), expected, "{tag}");
            assert_eq!(run(&fixture.program).as_deref(), Some("43"), "{tag}");
            assert_eq!(fs_err::metadata(&fixture.library).unwrap().len(), length);
            // The program itself: an executable read the same way.
            assert_eq!(read_search_path(&fixture.program).unwrap().entries(), ["$ORIGIN"]);
            drop(fixture.directory);
        }
    }

    #[test]
    fn a_value_that_does_not_fit_is_refused_and_nothing_is_written() {
        let fixture = fixture(SearchPathTag::Runpath, "$ORIGIN/lib");
        let bytes = fs_err::read(&fixture.library).unwrap();
        let error = edit_in_place(&fixture.library, &edit(&["$ORIGIN/deps"], false, &[])).unwrap_err();
        let RpathError::NoRoom { tag, new, reason, .. } = &error else {
            panic!("{error}");
        };
        assert_eq!(*tag, Some(SearchPathTag::Runpath));
        assert_eq!(*new, ["$ORIGIN/lib", "$ORIGIN/deps"]);
        assert_eq!(*reason, NoRoomReason::TooLong { old: 11, new: 24 });
        assert_eq!(
            error.to_string(),
            format!(
                "{}: the DT_RUNPATH `$ORIGIN/lib:$ORIGIN/deps` cannot be written in place: it needs 24 bytes and the old value has 11",
                fixture.library.display()
            )
        );
        assert_eq!(fs_err::read(&fixture.library).unwrap(), bytes);

        // An edit that changes nothing writes nothing.
        let unchanged =
            edit_in_place(&fixture.library, &edit(&["$ORIGIN/lib"], false, &["/elsewhere"])).unwrap();
        assert_eq!(
            unchanged,
            RpathChange::Unchanged {
                tag: Some(SearchPathTag::Runpath),
                entries: strings(&["$ORIGIN/lib"])
            }
        );
        assert_eq!(fs_err::read(&fixture.library).unwrap(), bytes);
    }

    #[test]
    fn a_file_without_a_search_path_cannot_get_one_in_place() {
        let directory = tempfile::tempdir().unwrap();
        let library = plain_library(directory.path());
        assert_eq!(read_search_path(&library).unwrap(), SearchPath::default());
        let error = edit_in_place(&library, &edit(&["/opt/lib"], true, &[])).unwrap_err();
        assert!(
            matches!(&error, RpathError::NoRoom { tag: None, reason: NoRoomReason::NoEntry, new, .. } if *new == ["$ORIGIN", "/opt/lib"]),
            "{error}"
        );
        assert_eq!(
            edit_in_place(&library, &edit(&[], false, &["/opt"])).unwrap(),
            RpathChange::Unchanged {
                tag: None,
                entries: Vec::new()
            }
        );
    }

    #[test]
    fn bytes_shared_with_another_name_are_not_overwritten() {
        // GNU ld stores a string that is the tail of another once: the symbol
        // `shared_tail_name` points into the RUNPATH `/x/y/shared_tail_name`, the RPATH
        // `shared_head` into the symbol `wheelwright_shared_head`, the DT_NEEDED `libc.so.6`,
        // the version needed from it and the version `WHEELWRIGHT_1.0` defined here into
        // search paths ending with them.
        let directory = tempfile::tempdir().unwrap();
        let root = directory.path();
        fs_err::write(
            root.join("names.c"),
            "#include <stdio.h>\nint shared_tail_name(void) { return 1; }\n\
             int wheelwright_shared_head(void) { return puts(\"needs libc\"); }\n",
        )
        .unwrap();
        fs_err::write(root.join("names.map"), "WHEELWRIGHT_1.0 { global: *; };\n").unwrap();
        let cases = [
            (
                "/x/y/shared_tail_name",
                SearchPathTag::Runpath,
                "the dynamic symbol `shared_tail_name`",
                // DT_HASH instead of DT_GNU_HASH: the symbols counted from the other table.
                Some("-Wl,--hash-style=sysv"),
            ),
            (
                "shared_head",
                SearchPathTag::Rpath,
                "the dynamic symbol `wheelwright_shared_head`",
                None,
            ),
            (
                "/x/y/libc.so.6",
                SearchPathTag::Runpath,
                "the DT_NEEDED `libc.so.6`",
                None,
            ),
            (
                "/x/y/GLIBC_2.2.5",
                SearchPathTag::Runpath,
                "the needed version `GLIBC_2.2.5`",
                None,
            ),
            (
                "/x/y/WHEELWRIGHT_1.0",
                SearchPathTag::Rpath,
                "the defined version `WHEELWRIGHT_1.0`",
                Some("-Wl,--version-script=names.map"),
            ),
        ];
        for (rpath, tag, sharer, extra) in cases {
            let rpath_flag = format!("-Wl,-rpath,{rpath}");
            let mut args = vec![
                "-shared",
                "-fPIC",
                "-o",
                "libnames.so",
                "names.c",
                &rpath_flag,
                dtags(tag),
            ];
            args.extend(extra);
            gcc(root, &args);
            let library = root.join("libnames.so");
            let bytes = fs_err::read(&library).unwrap();
            let error = edit_in_place(&library, &edit(&[], false, &[rpath])).unwrap_err();
            assert!(
                matches!(&error, RpathError::NoRoom { reason: NoRoomReason::Shared { with }, .. } if with == sharer),
                "{rpath}: {error}"
            );
            assert_eq!(fs_err::read(&library).unwrap(), bytes, "{rpath}");
            assert_eq!(read_search_path(&library).unwrap().entries(), [rpath]);
        }
    }

    /// The value of the first dynamic entry with `tag` (read with goblin).
    fn dynamic_entry(path: &Path, tag: u64) -> u64 {
        let bytes = fs_err::read(path).unwrap();
        let elf = goblin::elf::Elf::parse(&bytes).unwrap();
        let dynamic = elf.dynamic.unwrap();
        dynamic
            .dyns
            .iter()
            .find(|entry| entry.d_tag == tag)
            .unwrap()
            .d_val
    }

    /// Turns the first dynamic entry with `tag` into (`new_tag`, `value`).
    fn rewrite_dynamic_entry(path: &Path, tag: u64, new_tag: u64, value: u64) {
        let mut bytes = fs_err::read(path).unwrap();
        let elf = goblin::elf::Elf::parse(&bytes).unwrap();
        let segment = elf
            .program_headers
            .iter()
            .find(|header| header.p_type == PT_DYNAMIC)
            .unwrap();
        let at = (segment.p_offset..segment.p_offset + segment.p_filesz)
            .step_by(16)
            .map(|at| at as usize)
            .find(|at| u64_at(&bytes, *at) == tag)
            .unwrap();
        bytes[at..at + 8].copy_from_slice(&new_tag.to_le_bytes());
        bytes[at + 8..at + 16].copy_from_slice(&value.to_le_bytes());
        fs_err::write(path, &bytes).unwrap();
    }

    #[test]
    fn string_tables_in_no_segment_or_past_the_end_are_refused_by_both_readers() {
        let fixture = fixture(SearchPathTag::Runpath, "$ORIGIN/lib");
        let good = fs_err::read(&fixture.library).unwrap();
        let length = good.len() as u64;
        let cases = [
            // An address no PT_LOAD holds (goblin alone would read offset 0 instead).
            (DT_STRTAB, 0x7fff_0000_0000, "is in no loaded segment"),
            // A size that runs past the segment and past the end of the file.
            (DT_STRSZ, length * 4, "past the end of its loaded segment"),
        ];
        for (tag, value, message) in cases {
            fs_err::write(&fixture.library, &good).unwrap();
            rewrite_dynamic_entry(&fixture.library, tag, tag, value);
            let error = read_search_path(&fixture.library).unwrap_err();
            assert!(
                matches!(&error, RpathError::Elf { problem: ElfProblem::Damaged(reason), .. } if reason.contains(message)),
                "{error}"
            );
            let bytes = fs_err::read(&fixture.library).unwrap();
            // goblin itself may stumble first (reading strings at offset 0); refused either way.
            let problem = crate::elf::inspect_elf(&bytes, false).unwrap_err();
            assert!(matches!(&problem, ElfProblem::Damaged(_)), "{problem}");
            // Nor does the writer touch it.
            let new = strings(&["$ORIGIN/lib", "/opt/site/a/longer/directory/lib64"]);
            assert!(matches!(
                append_search_path(&fixture.library, &new),
                Err(RpathError::Elf { .. })
            ));
            assert_eq!(fs_err::read(&fixture.library).unwrap(), bytes);
        }
    }

    #[test]
    fn a_longer_value_is_appended_under_the_same_tag_and_the_program_runs() {
        for tag in [SearchPathTag::Runpath, SearchPathTag::Rpath] {
            let fixture = fixture(tag, "$ORIGIN/lib");
            assert_eq!(run(&fixture.program), None, "{tag}");
            let new = strings(&[
                "$ORIGIN/lib",
                "$ORIGIN/deps",
                "/cvmfs/example.org/cuda/12.6/lib64",
            ]);
            let error = edit_in_place(
                &fixture.library,
                &edit(
                    &new[1..].iter().map(String::as_str).collect::<Vec<_>>(),
                    false,
                    &[],
                ),
            )
            .unwrap_err();
            assert!(matches!(error, RpathError::NoRoom { .. }), "{error}");
            let appended = append_search_path(&fixture.library, &new).unwrap();
            assert_eq!(appended.tag, tag);
            assert_eq!(appended.old, ["$ORIGIN/lib"]);
            let value = Some(new.join(":"));
            let expected = match tag {
                SearchPathTag::Rpath => (value, None),
                SearchPathTag::Runpath => (None, value),
            };
            assert_eq!(readelf(&fixture.library), expected, "{tag}");
            assert_eq!(run(&fixture.program).as_deref(), Some("43"), "{tag}");
            // The executable too (the protoc case): its `$ORIGIN` grown.
            let program = strings(&["$ORIGIN", "/opt/site/cuda/lib64"]);
            append_search_path(&fixture.program, &program).unwrap();
            assert_eq!(read_search_path(&fixture.program).unwrap().entries(), program);
            assert_eq!(run(&fixture.program).as_deref(), Some("43"), "{tag}");
        }
    }

    #[test]
    fn a_library_with_a_large_bss_grows_without_padding_and_still_loads() {
        let fixture = fixture(SearchPathTag::Runpath, "$ORIGIN/lib");
        let root = fixture.directory.path();
        // libtop.so again, with 16 MiB of .bss reaching far past the end of its file.
        fs_err::write(
            root.join("top.c"),
            "static char buffer[16 << 20];\nint dep_value(void);\nint top_value(void) { buffer[9] = 1; return dep_value() + buffer[9]; }\n",
        )
        .unwrap();
        link_top(root, SearchPathTag::Runpath, "$ORIGIN/lib");
        let length = fs_err::metadata(&fixture.library).unwrap().len();
        let new = strings(&[
            "$ORIGIN/lib",
            "$ORIGIN/deps",
            "/cvmfs/example.org/cuda/12.6/lib64",
        ]);
        let appended = append_search_path(&fixture.library, &new).unwrap();
        // Appended at the next page of the file: nothing like 16 MiB of padding.
        assert!(appended.added.end - length < 2 * 4096, "{appended:?}");
        assert_eq!(readelf(&fixture.library), (None, Some(new.join(":"))));
        assert_eq!(run(&fixture.program).as_deref(), Some("43"));
    }

    #[test]
    fn a_file_without_a_search_path_gets_one_appended_only_into_a_spare_slot() {
        let directory = tempfile::tempdir().unwrap();
        let new = strings(&["$ORIGIN", "/opt/lib"]);
        // GNU ld reserves spare DT_NULL entries (`--spare-dynamic-tags`, 5 by default): a
        // DT_RPATH goes into one (a DT_RUNPATH would change how the file's own needed
        // libraries are found: see build::patchelf's tests).
        let library = plain_library(directory.path());
        let appended = append_search_path(&library, &new).unwrap();
        assert_eq!(appended.tag, SearchPathTag::Rpath);
        assert!(appended.old.is_empty());
        assert_eq!(readelf(&library), (Some(new.join(":")), None));
        // Without one: refused, the file untouched (patchelf moves the dynamic section).
        gcc(
            directory.path(),
            &[
                "-shared",
                "-fPIC",
                "-Wl,--spare-dynamic-tags=0",
                "-o",
                "libtight.so",
                "plain.c",
            ],
        );
        let tight = directory.path().join("libtight.so");
        let bytes = fs_err::read(&tight).unwrap();
        let error = append_search_path(&tight, &new).unwrap_err();
        assert!(
            matches!(
                &error,
                RpathError::CannotAppend {
                    reason: AppendRefusal::NoDynamicSlot,
                    ..
                }
            ),
            "{error}"
        );
        assert_eq!(
            error.to_string(),
            format!(
                "{}: wheelwright cannot append a string table to it: it has no DT_RPATH or DT_RUNPATH entry and no spare slot in its dynamic segment for one",
                tight.display()
            )
        );
        assert_eq!(fs_err::read(&tight).unwrap(), bytes);
    }

    #[test]
    fn symbols_that_cannot_be_counted_forbid_an_in_place_edit() {
        // Without DT_GNU_HASH (nor DT_HASH) the dynamic symbols cannot be counted, so a name
        // sharing the old value's bytes cannot be ruled out.
        let fixture = fixture(SearchPathTag::Runpath, "$ORIGIN/../lib:/opt/old/lib");
        let gnu_hash = dynamic_entry(&fixture.library, DT_GNU_HASH);
        rewrite_dynamic_entry(
            &fixture.library,
            DT_GNU_HASH,
            goblin::elf::dynamic::DT_DEBUG,
            gnu_hash,
        );
        let error = edit_in_place(&fixture.library, &edit(&[], false, &["/opt/old"])).unwrap_err();
        assert!(
            matches!(
                error,
                RpathError::NoRoom {
                    reason: NoRoomReason::UnknownSymbols,
                    ..
                }
            ),
            "{error}"
        );
    }

    #[test]
    fn an_rpath_and_a_runpath_naming_one_string_are_edited_together() {
        // Older linkers wrote DT_RPATH beside DT_RUNPATH, both naming one string: made here
        // by turning the DT_FINI entry into a DT_RPATH naming the DT_RUNPATH's string.
        let fixture = fixture(SearchPathTag::Runpath, "$ORIGIN/../lib:/opt/old/lib");
        let string = dynamic_entry(&fixture.library, DT_RUNPATH);
        rewrite_dynamic_entry(&fixture.library, goblin::elf::dynamic::DT_FINI, DT_RPATH, string);
        let both = read_search_path(&fixture.library).unwrap();
        assert_eq!(both.rpath, both.runpath);

        let change = edit_in_place(&fixture.library, &edit(&[], false, &["/opt/old"])).unwrap();
        assert!(matches!(
            change,
            RpathChange::Rewritten {
                tag: SearchPathTag::Runpath,
                ..
            }
        ));
        let value = Some("$ORIGIN/../lib".to_string());
        assert_eq!(readelf(&fixture.library), (value.clone(), value));
    }

    #[test]
    fn what_is_not_a_dynamic_x86_64_elf_file_is_named() {
        let directory = tempfile::tempdir().unwrap();
        let text = directory.path().join("README");
        fs_err::write(&text, "hello").unwrap();
        assert_eq!(
            read_search_path(&text).unwrap_err().to_string(),
            format!("{}: not an ELF file", text.display())
        );
        let mut header = b"\x7fELF\x01\x01\x01".to_vec();
        header.resize(52, 0);
        let small = directory.path().join("small.so");
        fs_err::write(&small, &header).unwrap();
        assert!(matches!(
            read_search_path(&small).unwrap_err(),
            RpathError::Elf {
                problem: ElfProblem::ThirtyTwoBit,
                ..
            }
        ));
        fs_err::write(
            directory.path().join("object.c"),
            "int object(void) { return 1; }\n",
        )
        .unwrap();
        gcc(directory.path(), &["-c", "-fPIC", "-o", "object.o", "object.c"]);
        let object = directory.path().join("object.o");
        assert!(matches!(
            read_search_path(&object).unwrap_err(),
            RpathError::NoDynamicSegment { .. }
        ));
        let truncated = directory.path().join("truncated.o");
        let bytes = fs_err::read(&object).unwrap();
        fs_err::write(&truncated, &bytes[..40]).unwrap();
        let error = read_search_path(&truncated).unwrap_err();
        assert!(
            matches!(&error, RpathError::Elf { problem: ElfProblem::Damaged(_), path } if *path == truncated),
            "{error}"
        );
        let missing = directory.path().join("missing.so");
        assert!(
            read_search_path(&missing)
                .unwrap_err()
                .to_string()
                .contains("missing.so")
        );
    }
}
