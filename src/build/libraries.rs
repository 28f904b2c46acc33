//! Where the shared libraries a freshly built wheel needs come from: the wheel itself, the C
//! library and compiler runtime every layer has, another wheel, the layer's library
//! directories, the stack's modules — or none of them, which nodes of the layer cannot load.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::classify::{is_origin_relative, is_system_library};
use crate::inspect::WheelElves;
use crate::layout::{Layer, Layout};
use crate::stack::Stack;

use super::record::StackLibrary;

/// Directories the dynamic loader searches when nothing else names one.
const DEFAULT_DIRECTORIES: [&str; 6] = [
    "/lib/x86_64-linux-gnu",
    "/usr/lib/x86_64-linux-gnu",
    "/lib64",
    "/usr/lib64",
    "/lib",
    "/usr/lib",
];

/// A library a wheel needs that neither it, the layer, another wheel nor the stack provides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unprovided {
    pub library: String,
    /// The first member that needs it.
    pub needed_by: String,
    /// Where the build host has it, if it does.
    pub found_at: Option<PathBuf>,
}

impl Unprovided {
    pub fn sentence(&self, layer: &str) -> String {
        match &self.found_at {
            Some(path) => format!(
                "`{}` (needed by `{}`) was found at {} on the build host, but neither the wheel, the layer {layer} nor a module provides it",
                self.library,
                self.needed_by,
                path.display()
            ),
            None => format!(
                "`{}` (needed by `{}`) is provided by neither the wheel, the layer {layer} nor a module, and the build host does not have it either",
                self.library, self.needed_by
            ),
        }
    }
}

/// Where a wheel's needed libraries come from.
#[derive(Debug, Clone, Default)]
pub struct LibrarySources {
    /// Those found in a directory the stack added (a module's).
    pub from_stack: Vec<StackLibrary>,
    /// Those nodes of the layer cannot load.
    pub unprovided: Vec<Unprovided>,
    /// Those found only on the build host while the layer's library directories are not on
    /// this machine: not judged.
    pub unchecked: Vec<String>,
}

/// The build host's own library locations: the linker cache (`ldconfig -p`) and the default
/// directories.
struct HostLibraries {
    cache: BTreeMap<String, PathBuf>,
}

impl HostLibraries {
    /// The host's libraries, read once per process (the linker cache does not change under a
    /// build), and only when a library is found nowhere else.
    fn get() -> &'static Self {
        static HOST: std::sync::OnceLock<HostLibraries> = std::sync::OnceLock::new();
        HOST.get_or_init(HostLibraries::read)
    }

    fn read() -> Self {
        let mut cache = BTreeMap::new();
        let listing = ["/sbin/ldconfig", "/usr/sbin/ldconfig"]
            .iter()
            .find_map(|program| crate::tools::capture(Path::new(program), &["-p"]));
        for line in listing.unwrap_or_default().lines() {
            // `\tlibz.so.1 (libc6,x86-64) => /lib/x86_64-linux-gnu/libz.so.1`
            if let Some((left, path)) = line.split_once(" => ")
                && left.contains("x86-64")
                && let Some(name) = left.split_whitespace().next()
            {
                cache
                    .entry(name.to_string())
                    .or_insert_with(|| PathBuf::from(path.trim()));
            }
        }
        HostLibraries { cache }
    }

    /// Where the host's loader would find `library` for a member searching `directories`
    /// first.
    fn find(&self, library: &str, directories: &[PathBuf]) -> Option<PathBuf> {
        directories
            .iter()
            .map(|directory| directory.join(library))
            .find(|path| path.exists())
            .or_else(|| self.cache.get(library).cloned())
            .or_else(|| {
                DEFAULT_DIRECTORIES
                    .iter()
                    .map(|directory| Path::new(directory).join(library))
                    .find(|path| path.exists())
            })
    }

    /// Whether `path` is in one of the host system's own directories.
    fn is_system(&self, path: &Path) -> bool {
        let directory = path.parent().unwrap_or(Path::new("/"));
        DEFAULT_DIRECTORIES
            .iter()
            .any(|system| directory == Path::new(system))
            || self
                .cache
                .values()
                .any(|cached| cached.parent() == Some(directory))
    }
}

/// Sorts out where each library the wheel's members need comes from, for building on
/// `layer` in `stack` with the recipe's `environment` (its library paths are searched too).
pub fn library_sources(
    elves: &WheelElves,
    layout: &Layout,
    layer: &Layer,
    stack: Option<&Stack>,
    environment: &BTreeMap<String, String>,
) -> LibrarySources {
    let mut sources = LibrarySources::default();
    let bundled = elves.bundled_names();
    let layer_present: Vec<&PathBuf> = layer.library_dirs.iter().filter(|dir| dir.is_dir()).collect();
    // Where the build and its test looked: the recipe's paths, then the stack's (or this
    // process's).
    let mut search_path: Vec<PathBuf> = Vec::new();
    for name in ["LD_LIBRARY_PATH", "LIBRARY_PATH"] {
        if let Some(value) = environment.get(name) {
            search_path.extend(std::env::split_paths(value));
        }
        let inherited = match stack {
            Some(stack) => stack.variables.get(std::ffi::OsStr::new(name)).cloned(),
            None => std::env::var_os(name),
        };
        if let Some(value) = inherited {
            search_path.extend(std::env::split_paths(&value));
        }
    }
    search_path.retain(|directory| directory.is_absolute());
    let mut judged: Vec<String> = Vec::new();
    for member in &elves.members {
        let rpath: Vec<PathBuf> = member
            .info
            .rpath
            .iter()
            .chain(&member.info.runpath)
            .filter(|entry| !is_origin_relative(entry))
            .map(PathBuf::from)
            .collect();
        let looks_elsewhere = member
            .info
            .rpath
            .iter()
            .chain(&member.info.runpath)
            .any(|entry| is_origin_relative(entry));
        for needed in &member.info.needed {
            if judged.contains(needed)
                || bundled.contains(needed.as_str())
                || is_system_library(layout, needed)
                || layout.provider_of(needed).is_some()
            {
                continue;
            }
            judged.push(needed.clone());
            if layer_present
                .iter()
                .any(|directory| directory.join(needed).exists())
            {
                continue;
            }
            if let Some(stack) = stack
                && let Some(dir) = stack
                    .library_dirs
                    .iter()
                    .find(|dir| dir.directory.join(needed).exists())
            {
                sources.from_stack.push(StackLibrary {
                    library: needed.clone(),
                    directory: dir.directory.clone(),
                    from: dir.from.clone(),
                });
                continue;
            }
            // An RPATH into the stack's own tree (`rpath_prefixes`) that has it.
            let in_stack_tree = rpath.iter().any(|directory| {
                let text = directory.display().to_string();
                layer
                    .rpath_prefixes
                    .iter()
                    .any(|prefix| text.starts_with(prefix.as_str()))
                    && directory.join(needed).exists()
            });
            if in_stack_tree {
                continue;
            }
            let mut directories = rpath.clone();
            directories.extend(search_path.iter().cloned());
            let host = HostLibraries::get();
            let found_at = host.find(needed, &directories);
            match &found_at {
                // Not on this host and the member looks next to itself: another wheel's.
                None if looks_elsewhere => continue,
                // The layer is not on this machine: the host's system libraries stand in for
                // its own, and cannot be judged.
                Some(path) if layer_present.is_empty() && host.is_system(path) => {
                    sources.unchecked.push(needed.clone());
                    continue;
                }
                _ => {}
            }
            sources.unprovided.push(Unprovided {
                library: needed.clone(),
                needed_by: member.path.clone(),
                found_at,
            });
        }
    }
    sources
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elf::{ElfInfo, ElfKind};
    use crate::inspect::ElfMember;
    use crate::stack::{LibraryDir, StackRequest};

    fn member(path: &str, needed: &[&str], rpath: &[&str]) -> ElfMember {
        ElfMember {
            path: path.to_string(),
            info: ElfInfo {
                kind: ElfKind::SharedObject,
                soname: None,
                needed: needed.iter().map(|name| name.to_string()).collect(),
                rpath: rpath.iter().map(|entry| entry.to_string()).collect(),
                runpath: Vec::new(),
                interpreter: None,
                symbol_versions: Default::default(),
                glibc: None,
                glibcxx: None,
                cxxabi: None,
                isa_note: None,
                instructions: None,
            },
        }
    }

    fn layout(library_dir: &Path, prefix: &Path) -> Layout {
        let text = format!(
            "root = \"wh\"\nlocal_version_label = \"site\"\nsystem_libraries = [\"libc.so.6\"]\n[provided_by_wheels]\ntorch = [\"libtorch*.so\"]\n[archs.generic]\nlevel = 1\nmarch = \"x86-64\"\n[layers.site]\nglibc = \"2.36\"\narchs = [\"generic\"]\nlibrary_dirs = [\"{}\"]\nrpath_prefixes = [\"{}/\"]\n",
            library_dir.display(),
            prefix.display()
        );
        Layout::parse(&text, "site.toml", Path::new("/")).unwrap()
    }

    fn touch(path: &Path) {
        fs_err::create_dir_all(path.parent().unwrap()).unwrap();
        fs_err::write(path, b"").unwrap();
    }

    #[test]
    fn each_library_is_traced_to_the_wheel_the_layer_a_module_or_nowhere() {
        let root = tempfile::tempdir().unwrap();
        let layer_dir = root.path().join("layer/lib64");
        let module_dir = root.path().join("software/hdf5/lib");
        let stack_tree = root.path().join("software/zlib/lib");
        let host_dir = root.path().join("host/lib");
        touch(&layer_dir.join("libopenblas.so.0"));
        touch(&module_dir.join("libhdf5.so.310"));
        touch(&stack_tree.join("libzstd.so.1"));
        touch(&host_dir.join("libhost.so.2"));
        let layout = layout(&layer_dir, &root.path().join("software"));
        let stack = Stack {
            request: StackRequest {
                layer: "site".into(),
                arch: "generic".into(),
                modules: vec!["hdf5".into()],
            },
            variables: Default::default(),
            lines: Vec::new(),
            loaded: vec!["hdf5/1.14".into()],
            library_dirs: vec![LibraryDir {
                directory: module_dir.clone(),
                from: "module hdf5".into(),
            }],
        };
        let elves = WheelElves {
            members: vec![
                member(
                    "pkg/_ext.so",
                    &[
                        "libc.so.6",
                        "libbundled.so.1",
                        "libtorch_cpu.so",
                        "libopenblas.so.0",
                        "libhdf5.so.310",
                        "libzstd.so.1",
                        "libhost.so.2",
                        "libnowhere.so.9",
                    ],
                    &[&stack_tree.display().to_string()],
                ),
                member("pkg.libs/libbundled.so.1", &["libhost.so.2"], &[]),
            ],
            ..WheelElves::default()
        };
        let environment = BTreeMap::from([("LD_LIBRARY_PATH".to_string(), host_dir.display().to_string())]);
        let sources = library_sources(
            &elves,
            &layout,
            &layout.layers["site"],
            Some(&stack),
            &environment,
        );
        assert_eq!(
            sources.from_stack,
            [StackLibrary {
                library: "libhdf5.so.310".into(),
                directory: module_dir,
                from: "module hdf5".into(),
            }]
        );
        assert_eq!(
            sources.unprovided,
            [
                Unprovided {
                    library: "libhost.so.2".into(),
                    needed_by: "pkg/_ext.so".into(),
                    found_at: Some(host_dir.join("libhost.so.2")),
                },
                Unprovided {
                    library: "libnowhere.so.9".into(),
                    needed_by: "pkg/_ext.so".into(),
                    found_at: None,
                },
            ]
        );
        assert!(sources.unchecked.is_empty());
        let sentence = sources.unprovided[0].sentence("site");
        assert!(sentence.contains("was found at"), "{sentence}");
        assert!(
            sources.unprovided[1]
                .sentence("site")
                .contains("does not have it either")
        );
    }

    #[test]
    fn without_the_layer_on_this_machine_host_system_libraries_are_not_judged() {
        let root = tempfile::tempdir().unwrap();
        let layout = layout(&root.path().join("absent/lib64"), &root.path().join("software"));
        // libc's neighbour on every Debian: libz is listed by ldconfig, in a system directory.
        let elves = WheelElves {
            members: vec![
                member(
                    "pkg/_ext.so",
                    &["libz.so.1", "libgone.so.3"],
                    &["$ORIGIN/../other.libs"],
                ),
                member("pkg/_two.so", &["libnotthere.so.4"], &[]),
            ],
            ..WheelElves::default()
        };
        let sources = library_sources(&elves, &layout, &layout.layers["site"], None, &BTreeMap::new());
        assert_eq!(sources.unchecked, ["libz.so.1"]);
        // Not on this host, next to an $ORIGIN RPATH: another wheel's; without one: nowhere.
        assert_eq!(sources.unprovided.len(), 1, "{:?}", sources.unprovided);
        assert_eq!(sources.unprovided[0].library, "libnotthere.so.4");
    }
}
