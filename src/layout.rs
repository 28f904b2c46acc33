//! `wheelhouse-layout.toml`: the site as data, parsed raw and resolved into checked settings.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::Deserialize;

use crate::spec::requirements::NameRule;

mod resolve;

use resolve::Resolver;

/// The layout shipped with wheelwright (the Alliance/ComputeCanada wheelhouse).
pub const EMBEDDED_LAYOUT: &str = include_str!("../wheelhouse-layout.toml");

/// The name used for the embedded layout in messages.
pub const EMBEDDED_NAME: &str = "<embedded wheelhouse-layout.toml>";

/// A layout that cannot be used, with the file and the key path at fault.
#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    // fs_err's message names the path already.
    #[error("cannot read the layout{}: {error}", named_by.map(|name| format!(" named by {name}")).unwrap_or_default())]
    Read {
        path: PathBuf,
        /// What named the file: `--layout`, `$WHEELWRIGHT_LAYOUT`.
        named_by: Option<&'static str>,
        error: std::io::Error,
    },
    #[error("{source_name}: {message}")]
    Parse { source_name: String, message: String },
    #[error("{source_name}: key `{key}` = {value}: {message}")]
    Invalid {
        source_name: String,
        key: String,
        value: String,
        message: String,
    },
}

impl LayoutError {
    /// The error, saying what named the file when it could not be read.
    fn named_by(self, name: &'static str) -> Self {
        match self {
            LayoutError::Read { path, error, .. } => LayoutError::Read {
                path,
                named_by: Some(name),
                error,
            },
            other => other,
        }
    }
}

/// The file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLayout {
    root: String,
    local_version_label: String,
    #[serde(default)]
    python_versions: Vec<String>,
    default_layer: Option<String>,
    #[serde(default)]
    system_libraries: Vec<String>,
    #[serde(default)]
    ignored_rpath: Vec<String>,
    #[serde(default)]
    provided_by_wheels: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    archs: BTreeMap<String, RawArch>,
    #[serde(default)]
    layers: BTreeMap<String, RawLayer>,
    #[serde(default)]
    strip_requirements: BTreeMap<String, RawStripRule>,
    #[serde(default)]
    publish: RawPublish,
    /// The site's recipes directory (relative to the layout file's directory).
    recipes: Option<String>,
    /// The site's environment modules system.
    modules: Option<RawModules>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModules {
    system: String,
    init: Option<String>,
    #[serde(default)]
    modulepath: Vec<String>,
    rpath: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPublish {
    file_mode: Option<String>,
    dir_mode: Option<String>,
    lock_file: Option<String>,
    before: Option<String>,
    after: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawArch {
    #[serde(default)]
    description: String,
    level: u8,
    march: String,
    cflags: Option<String>,
    #[serde(default)]
    features: Vec<String>,
    slurm_constraint: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLayer {
    #[serde(default)]
    description: String,
    glibc: String,
    glibcxx: Option<String>,
    archs: Vec<String>,
    #[serde(default)]
    library_dirs: Vec<String>,
    #[serde(default)]
    rpath_prefixes: Vec<String>,
    #[serde(default)]
    not_arch_rpath: Vec<String>,
    #[serde(default)]
    deprecated: bool,
    slurm_partition: Option<String>,
    slurm_gpu_partition: Option<String>,
    #[serde(default)]
    environment: Vec<String>,
    #[serde(default)]
    arch_environment: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStripRule {
    #[serde(default)]
    description: String,
    remove: Vec<String>,
    #[serde(default)]
    keep: Vec<String>,
}

/// A Python version as `major.minor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PythonVersion {
    pub major: u8,
    pub minor: u8,
}

impl FromStr for PythonVersion {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let parse = |part: &str| {
            part.parse::<u8>()
                .ok()
                .filter(|_| !part.is_empty() && part.chars().all(|c| c.is_ascii_digit()))
        };
        match text.split_once('.') {
            Some((major, minor)) => match (parse(major), parse(minor)) {
                (Some(major @ 2..=3), Some(minor)) => Ok(PythonVersion { major, minor }),
                _ => Err(format!("`{text}` is not a Python version like 3.12")),
            },
            None => Err(format!("`{text}` is not a Python version like 3.12")),
        }
    }
}

impl serde::Serialize for PythonVersion {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for PythonVersion {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for PythonVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// A named requirement-stripping rule.
#[derive(Debug, Clone)]
pub struct StripRule {
    pub description: String,
    pub remove: Vec<String>,
    pub keep: Vec<String>,
    pub rule: NameRule,
}

/// A dotted version such as a glibc `2.37`, compared numerically part by part.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DottedVersion(pub Vec<u32>);

impl FromStr for DottedVersion {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        text.split('.')
            .map(|part| {
                part.parse::<u32>()
                    .map_err(|_| format!("`{text}` is not a dotted version like 2.37"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(DottedVersion)
    }
}

impl fmt::Display for DottedVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        write!(f, "{}", parts.join("."))
    }
}

impl serde::Serialize for DottedVersion {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// A CPU micro-architecture directory of the wheelhouse.
#[derive(Debug, Clone)]
pub struct Arch {
    pub name: String,
    pub description: String,
    /// The x86-64 micro-architecture level the arch guarantees (1-4).
    pub level: u8,
    pub march: String,
    pub cflags: String,
    pub features: Vec<String>,
    /// The `sbatch --constraint` that selects nodes of this arch (nightly's Slurm executor).
    pub slurm_constraint: Option<String>,
}

/// A software layer of the site.
#[derive(Debug, Clone)]
pub struct Layer {
    pub name: String,
    pub description: String,
    pub glibc: DottedVersion,
    pub glibcxx: Option<DottedVersion>,
    /// Arch names, in the order the layout lists them.
    pub archs: Vec<String>,
    pub library_dirs: Vec<PathBuf>,
    pub rpath_prefixes: Vec<String>,
    pub not_arch_rpath: Vec<String>,
    pub deprecated: bool,
    /// The Slurm partition of this layer's nodes (nightly's Slurm executor).
    pub slurm_partition: Option<String>,
    /// The partition of its GPU nodes, for smoke tests that need a GPU.
    pub slurm_gpu_partition: Option<String>,
    /// Shell lines that enter the layer for building and testing (`module load StdEnv/2023`);
    /// empty: the host is the layer's environment.
    pub environment: Vec<String>,
    /// Per arch of the layer, the lines that select it after `environment` (`module load
    /// arch/avx2`).
    pub arch_environment: BTreeMap<String, Vec<String>>,
}

impl Layer {
    /// Whether building for `arch` of this layer runs any line of the layout's own.
    pub fn has_environment(&self, arch: &str) -> bool {
        !self.environment.is_empty()
            || self
                .arch_environment
                .get(arch)
                .is_some_and(|lines| !lines.is_empty())
    }
}

/// The environment modules system of a site (`[modules]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Modules {
    /// Lmod's shell initialisation file for bash; `None`: found at build time
    /// (`$LMOD_PKG/init/bash`, then the usual install places).
    pub init: Option<PathBuf>,
    /// Directories put first on MODULEPATH (`module use`), in order.
    pub modulepath: Vec<PathBuf>,
    /// Which library directories of loaded modules get an RPATH in the wheels built with them.
    pub rpath: ModuleRpath,
}

/// The rule that adds RPATHs to the library directories of loaded modules at link time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModuleRpath {
    /// None: the wheel finds them through the environment (LD_LIBRARY_PATH) of the node.
    #[default]
    None,
    /// Those under one of the layer's `rpath_prefixes` (the stack's own paths).
    Stack,
    /// Every library directory a module adds.
    All,
}

/// A pattern of library file names that another wheel provides.
#[derive(Debug, Clone)]
pub struct ProvidedLibrary {
    pub wheel: String,
    pub pattern: String,
    matcher: globset::GlobMatcher,
}

impl ProvidedLibrary {
    pub fn matches(&self, library: &str) -> bool {
        self.matcher.is_match(library)
    }
}

/// How cp-wheels writes into the tree: modes, the writers' lock, and the publish hooks.
#[derive(Debug, Clone)]
pub struct Publish {
    /// Mode of placed wheels (default 0o664: group rw, world r).
    pub file_mode: u32,
    /// Mode of directories cp-wheels creates (default 0o2775).
    pub dir_mode: u32,
    /// The lock every writer holds (default `<root>/.wheelwright.lock`).
    pub lock_file: PathBuf,
    /// Shell command run once before anything is placed (e.g. opening a CVMFS transaction).
    pub before: Option<String>,
    /// Shell command template run once after placement with the placed files.
    pub after: Option<String>,
}

/// How the layout in use was chosen, for messages that must say where a setting came from
/// (a wheelhouse root that does not exist is usually the wrong layout, not the wrong root).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayoutOrigin {
    /// No `--layout` and no `$WHEELWRIGHT_LAYOUT`: the layout shipped with wheelwright.
    Embedded,
    /// `--layout FILE`.
    Flag(PathBuf),
    /// `$WHEELWRIGHT_LAYOUT` = FILE.
    Environment(PathBuf),
    /// A file named some other way (`layout check FILE`, a cell's recorded layout).
    File(PathBuf),
    /// Text parsed under this name (tests, tools).
    Named(String),
}

impl LayoutOrigin {
    /// The origin of text parsed as `source_name`.
    fn of_name(source_name: &str) -> Self {
        if source_name == EMBEDDED_NAME {
            LayoutOrigin::Embedded
        } else {
            LayoutOrigin::Named(source_name.to_string())
        }
    }
}

impl fmt::Display for LayoutOrigin {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LayoutOrigin::Embedded => write!(
                formatter,
                "the embedded layout (neither --layout nor $WHEELWRIGHT_LAYOUT was given)"
            ),
            LayoutOrigin::Flag(path) => write!(formatter, "--layout {}", path.display()),
            LayoutOrigin::Environment(path) => {
                write!(formatter, "$WHEELWRIGHT_LAYOUT = {}", path.display())
            }
            LayoutOrigin::File(path) => write!(formatter, "the layout {}", path.display()),
            LayoutOrigin::Named(name) => write!(formatter, "the layout {name}"),
        }
    }
}

/// The resolved, checked layout.
#[derive(Debug, Clone)]
pub struct Layout {
    /// Where this layout came from (a path, or the embedded name).
    pub source: String,
    /// How it was chosen: `--layout`, `$WHEELWRIGHT_LAYOUT`, or the embedded layout.
    pub origin: LayoutOrigin,
    pub root: PathBuf,
    pub local_version_label: String,
    pub python_versions: Vec<PythonVersion>,
    pub strip_rules: BTreeMap<String, StripRule>,
    /// The layer compiled wheels go to when several fit.
    pub default_layer: Option<String>,
    pub system_libraries: Vec<String>,
    pub ignored_rpath: Vec<String>,
    pub provided_by_wheels: Vec<ProvidedLibrary>,
    pub archs: BTreeMap<String, Arch>,
    /// Layers in the order of the file's keys (sorted by name).
    pub layers: BTreeMap<String, Layer>,
    pub publish: Publish,
    /// The site's recipes directory, when the layout names one (`recipes = "recipes"`).
    pub recipes: Option<PathBuf>,
    /// The site's environment modules (Lmod), when it says it has them.
    pub modules: Option<Modules>,
}

impl Layout {
    /// The layout shipped with wheelwright.
    pub fn embedded() -> Result<Self, LayoutError> {
        Self::parse(EMBEDDED_LAYOUT, EMBEDDED_NAME, Path::new("."))
    }

    /// Reads and checks a layout file; relative roots are taken from its directory.
    pub fn from_file(path: &Path) -> Result<Self, LayoutError> {
        let text = fs_err::read_to_string(path).map_err(|error| LayoutError::Read {
            path: path.to_path_buf(),
            named_by: None,
            error,
        })?;
        let base = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let mut layout = Self::parse(&text, &path.display().to_string(), base)?;
        layout.origin = LayoutOrigin::File(path.to_path_buf());
        Ok(layout)
    }

    /// `--layout FILE`, else `$WHEELWRIGHT_LAYOUT`, else the embedded layout.
    pub fn load(explicit: Option<&Path>) -> Result<Self, LayoutError> {
        let from_environment = std::env::var_os("WHEELWRIGHT_LAYOUT").filter(|value| !value.is_empty());
        if let Some(path) = explicit {
            let mut layout = Self::from_file(path).map_err(|error| error.named_by("--layout"))?;
            layout.origin = LayoutOrigin::Flag(path.to_path_buf());
            return Ok(layout);
        }
        match from_environment.map(PathBuf::from) {
            Some(path) => {
                let mut layout =
                    Self::from_file(&path).map_err(|error| error.named_by("$WHEELWRIGHT_LAYOUT"))?;
                layout.origin = LayoutOrigin::Environment(path);
                Ok(layout)
            }
            None => Self::embedded(),
        }
    }

    /// Parses layout text; `source_name` names it in errors.
    pub fn parse(text: &str, source_name: &str, base: &Path) -> Result<Self, LayoutError> {
        let raw: RawLayout = toml::from_str(text).map_err(|error| LayoutError::Parse {
            source_name: source_name.to_string(),
            message: error.to_string().trim_end().to_string(),
        })?;
        Self::resolve(raw, source_name, base)
    }

    /// Checks the raw layout part by part, in the order of its keys below (the first fault
    /// found is the error), and resolves it into the checked settings.
    fn resolve(raw: RawLayout, source_name: &str, base: &Path) -> Result<Self, LayoutError> {
        let resolver = Resolver { source_name, base };
        let root = resolver.root(&raw.root)?;
        resolver.check_label(&raw.local_version_label)?;
        let python_versions = resolver.python_versions(&raw.python_versions)?;
        let strip_rules = resolver.strip_rules(raw.strip_requirements)?;
        let archs = resolver.archs(raw.archs)?;
        let layers = resolver.layers(raw.layers, &archs)?;
        resolver.check_default_layer(raw.default_layer.as_deref(), &layers)?;
        let provided_by_wheels = resolver.provided_by_wheels(raw.provided_by_wheels)?;
        let publish = resolver.publish(raw.publish, &root)?;
        let recipes = resolver.recipes(raw.recipes.as_deref())?;
        let modules = raw.modules.map(|modules| resolver.modules(modules)).transpose()?;
        Ok(Layout {
            modules,
            source: source_name.to_string(),
            origin: LayoutOrigin::of_name(source_name),
            publish,
            recipes,
            root,
            local_version_label: raw.local_version_label,
            python_versions,
            strip_rules,
            default_layer: raw.default_layer,
            system_libraries: raw.system_libraries,
            ignored_rpath: raw.ignored_rpath,
            provided_by_wheels,
            archs,
            layers,
        })
    }

    /// Layers wheels may be placed in (not deprecated).
    pub fn active_layers(&self) -> impl Iterator<Item = &Layer> {
        self.layers.values().filter(|layer| !layer.deprecated)
    }

    /// The wheel that provides `library`, if one does.
    pub fn provider_of(&self, library: &str) -> Option<&ProvidedLibrary> {
        self.provided_by_wheels
            .iter()
            .find(|provided| provided.matches(library))
    }

    /// The stripping rule called `name`, or an error listing the known ones.
    pub fn strip_rule(&self, name: &str) -> Result<&StripRule, String> {
        self.strip_rules.get(name).ok_or_else(|| {
            format!(
                "the layout {} has no requirement-stripping rule `{name}` (it has: {})",
                self.source,
                if self.strip_rules.is_empty() {
                    "none".to_string()
                } else {
                    known_names(&self.strip_rules)
                }
            )
        })
    }
}

/// The names of a map's keys, comma-separated, for error messages.
fn known_names<V>(map: &BTreeMap<String, V>) -> String {
    map.keys().map(String::as_str).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Layout, LayoutError> {
        Layout::parse(text, "test.toml", Path::new("/site"))
    }

    #[test]
    fn the_origin_says_how_the_layout_was_chosen() {
        let embedded = Layout::embedded().unwrap();
        assert_eq!(embedded.origin, LayoutOrigin::Embedded);
        assert!(embedded.origin.to_string().starts_with("the embedded layout"));
        let directory = tempfile::tempdir().unwrap();
        let file = directory.path().join("site.toml");
        fs_err::write(&file, EMBEDDED_LAYOUT).unwrap();
        let flagged = Layout::load(Some(&file)).unwrap();
        assert_eq!(flagged.origin, LayoutOrigin::Flag(file.clone()));
        assert_eq!(flagged.origin.to_string(), format!("--layout {}", file.display()));
        assert_eq!(
            Layout::from_file(&file).unwrap().origin,
            LayoutOrigin::File(file.clone())
        );
        assert_eq!(
            LayoutOrigin::Environment(file.clone()).to_string(),
            format!("$WHEELWRIGHT_LAYOUT = {}", file.display())
        );
    }

    #[test]
    fn the_embedded_layout_is_valid() {
        let layout = Layout::embedded().unwrap();
        assert_eq!(layout.local_version_label, "computecanada");
        assert_eq!(
            layout
                .python_versions
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            ["3.11", "3.12", "3.13"]
        );
        let nvidia = &layout.strip_rule("nvidia").unwrap().rule;
        assert!(nvidia.strips("nvidia-cublas-cu12"));
        assert!(nvidia.strips("nvidia_cudnn_cu12"));
        assert!(nvidia.strips("NVIDIA-NCCL-CU12"));
        assert!(!nvidia.strips("nvidia-ml-py"));
        assert!(!nvidia.strips("triton"));
    }

    #[test]
    fn the_embedded_layout_describes_the_alliance_tree() {
        let layout = Layout::embedded().unwrap();
        assert_eq!(layout.default_layer.as_deref(), Some("gentoo2023"));
        let gentoo2023 = &layout.layers["gentoo2023"];
        assert_eq!(gentoo2023.glibc.to_string(), "2.37");
        assert_eq!(gentoo2023.archs, ["generic", "x86-64-v3", "x86-64-v4"]);
        assert!(!gentoo2023.deprecated);
        assert_eq!(
            layout.layers["gentoo2020"].archs,
            ["generic", "sse3", "avx", "avx2", "avx512"]
        );
        assert!(layout.layers["nix"].deprecated && layout.layers["gentoo"].deprecated);
        assert_eq!(layout.archs["x86-64-v4"].level, 4);
        assert_eq!(layout.archs["x86-64-v3"].cflags, "-march=x86-64-v3");
        assert_eq!(layout.provider_of("libtorch_cpu.so").unwrap().wheel, "torch");
        assert_eq!(
            layout.provider_of("libtensorflow_framework.so.2").unwrap().wheel,
            "tensorflow"
        );
        assert!(layout.provider_of("libfoo.so").is_none());
        let active: Vec<&str> = layout.active_layers().map(|layer| layer.name.as_str()).collect();
        assert_eq!(active, ["gentoo2020", "gentoo2023"]);
        assert!("2.37".parse::<DottedVersion>().unwrap() > "2.9".parse().unwrap());
    }

    #[test]
    fn relative_roots_follow_the_file() {
        let layout = parse("root = \"wh\"\nlocal_version_label = \"site\"\n").unwrap();
        assert_eq!(layout.root, Path::new("/site/wh"));
        let layout = parse("root = \"/cvmfs/wh\"\nlocal_version_label = \"site\"\n").unwrap();
        assert_eq!(layout.root, Path::new("/cvmfs/wh"));
    }

    #[test]
    fn errors_name_the_key() {
        let cases = [
            (
                "root = \"\"\nlocal_version_label = \"x\"\n",
                "test.toml: key `root` = \"\": the wheelhouse root may not be empty",
            ),
            (
                "root = \"w\"\nlocal_version_label = \"compute-canada\"\n",
                "test.toml: key `local_version_label` = \"compute-canada\": a local version label is one segment of letters and digits (e.g. computecanada)",
            ),
            (
                "root = \"w\"\nlocal_version_label = \"x\"\npython_versions = [\"3.12\", \"three\"]\n",
                "test.toml: key `python_versions[1]` = \"three\": `three` is not a Python version like 3.12",
            ),
            (
                "root = \"w\"\nlocal_version_label = \"x\"\n[strip_requirements.n]\nremove = [\"nvidia-*\", \"a[\"]\n",
                "test.toml: key `strip_requirements.n.remove[1]` = \"a[\": the pattern `a[` is not a valid glob: unclosed character class; missing ']'",
            ),
        ];
        let base =
            "root = \"w\"\nlocal_version_label = \"x\"\n[archs.generic]\nlevel = 1\nmarch = \"x86-64\"\n";
        let more = [
            (
                format!("{base}[layers.l]\nglibc = \"2.x\"\narchs = [\"generic\"]\n"),
                "test.toml: key `layers.l.glibc` = \"2.x\": `2.x` is not a dotted version like 2.37",
            ),
            (
                format!("{base}[layers.l]\nglibc = \"2.30\"\narchs = [\"generic\", \"avx9\"]\n"),
                "test.toml: key `layers.l.archs[1]` = \"avx9\": no such arch (the layout defines: generic)",
            ),
            (
                format!(
                    "default_layer = \"old\"\n{base}[layers.old]\nglibc = \"2.30\"\narchs = [\"generic\"]\ndeprecated = true\n"
                ),
                "test.toml: key `default_layer` = \"old\": a deprecated layer cannot be the default",
            ),
            (
                base.replace("level = 1", "level = 7"),
                "test.toml: key `archs.generic.level` = \"7\": the x86-64 level is 1, 2, 3 or 4",
            ),
            (
                format!(
                    "{base}[layers.l]\nglibc = \"2.30\"\narchs = [\"generic\"]\nlibrary_dirs = [\"lib\"]\n"
                ),
                "test.toml: key `layers.l.library_dirs[0]` = \"lib\": library directories are absolute paths",
            ),
            (
                format!(
                    "{base}[layers.l]\nglibc = \"2.30\"\narchs = [\"generic\"]\n[layers.l.arch_environment]\navx2 = [\"module load arch/avx2\"]\n"
                ),
                "test.toml: key `layers.l.arch_environment.avx2` = \"avx2\": the layer has no such arch (it has: generic)",
            ),
            (
                format!(
                    "{base}[layers.l]\nglibc = \"2.30\"\narchs = [\"generic\"]\nenvironment = [\"module load a\", \" \"]\n"
                ),
                "test.toml: key `layers.l.environment[1]` = \" \": an environment line may not be blank",
            ),
            (
                format!(
                    "{base}[layers.l]\nglibc = \"2.30\"\narchs = [\"generic\"]\nenvironment = [\"if true; then\\n  module load a\\nfi\"]\n"
                ),
                "test.toml: key `layers.l.environment[0]` = \"if true; then\\n  module load a\\nfi\": one shell command per line (each line is run and checked on its own)",
            ),
            (
                format!("{base}[modules]\nsystem = \"environment-modules\"\n"),
                "test.toml: key `modules.system` = \"environment-modules\": the supported modules system is \"lmod\"",
            ),
            (
                format!("{base}[modules]\nsystem = \"lmod\"\nrpath = \"some\"\n"),
                "test.toml: key `modules.rpath` = \"some\": one of \"none\", \"stack\" (library directories under the layer's rpath_prefixes), \"all\"",
            ),
        ];
        for (text, expected) in cases.iter().map(|(t, e)| (t.to_string(), *e)).chain(more) {
            assert_eq!(parse(&text).unwrap_err().to_string(), expected);
        }
    }

    #[test]
    fn build_environments_and_modules_are_read() {
        let layout = parse(
            "root = \"w\"\nlocal_version_label = \"x\"\n[modules]\nsystem = \"lmod\"\nmodulepath = [\"modules\", \"/cvmfs/m\"]\nrpath = \"stack\"\n[archs.generic]\nlevel = 1\nmarch = \"x86-64\"\n[archs.avx2]\nlevel = 3\nmarch = \"core-avx2\"\n[layers.l]\nglibc = \"2.30\"\narchs = [\"generic\", \"avx2\"]\nenvironment = [\"module --force purge\", \"module load StdEnv/2020\"]\n[layers.l.arch_environment]\navx2 = [\"module load arch/avx2\"]\n",
        )
        .unwrap();
        let modules = layout.modules.as_ref().unwrap();
        assert_eq!(modules.init, None);
        assert_eq!(
            modules.modulepath,
            [PathBuf::from("/site/modules"), PathBuf::from("/cvmfs/m")]
        );
        assert_eq!(modules.rpath, ModuleRpath::Stack);
        let layer = &layout.layers["l"];
        assert_eq!(
            layer.environment,
            ["module --force purge", "module load StdEnv/2020"]
        );
        assert!(layer.has_environment("avx2") && layer.has_environment("generic"));
        assert_eq!(layer.arch_environment["avx2"], ["module load arch/avx2"]);
        // The embedded layout enters nothing: the host is the environment.
        let embedded = Layout::embedded().unwrap();
        assert!(embedded.modules.is_none());
        assert!(
            embedded
                .layers
                .values()
                .all(|layer| !layer.has_environment("generic"))
        );
    }

    #[test]
    fn syntax_and_unknown_keys_are_errors_with_lines() {
        let error = parse("root = \"w\"\nlocal_version_label = \"x\"\nlabel = 3\n")
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("test.toml: "), "{error}");
        assert!(error.contains("unknown field `label`"), "{error}");
        assert!(error.contains("line 3"), "{error}");
        let error = parse("root = \n").unwrap_err().to_string();
        assert!(error.contains("line 1"), "{error}");
    }
}
