//! A cell's own inputs, hashed for its key (source, recipe, layout and its stack, tools), and
//! what a fetched source says about itself (its build requirements, Requires-Dist, whether
//! it compiles).

use super::*;

/// The hash of each input of a cell's own that decides its wheel (the packages it builds
/// against are added in build order); `None` while the source is unknown.
pub fn input_hashes(
    cell: &Cell,
    layout: &Layout,
    source_sha256: Option<&str>,
) -> Option<BTreeMap<String, String>> {
    let source = match (&cell.recipe.source, source_sha256) {
        (_, Some(sha256)) => sha256.to_string(),
        (Source::Git { url, rev }, None) => format!("git {url} {rev}"),
        _ => return None,
    };
    let mut inputs = BTreeMap::new();
    inputs.insert("source".to_string(), source);
    inputs.insert("recipe".to_string(), recipe_hash(&cell.recipe));
    inputs.insert("layout".to_string(), layout_hash(layout, &cell.layer, &cell.arch));
    inputs.insert(
        "python".to_string(),
        hash_of(&(cell.python.to_string(), cell.interpreter.display().to_string())),
    );
    let tools = ToolVersions::gather_cached(&cell.interpreter);
    inputs.insert("tools".to_string(), hash_of(&tools));
    inputs.insert("wheelwright".to_string(), env!("CARGO_PKG_VERSION").to_string());
    // What the stack is made of on this machine: a module's new default version rebuilds.
    for (name, build) in [("stack", true), ("test-stack", false)] {
        if let Ok(Some(stack)) = crate::build::cell_stack(layout, cell, build) {
            inputs.insert(
                name.to_string(),
                hash_of(&(&stack.lines, &stack.loaded, &stack.library_dirs)),
            );
        }
    }
    Some(inputs)
}

/// The resolved recipe without where its file lives, and its patches by content.
fn recipe_hash(recipe: &ResolvedRecipe) -> String {
    let mut recipe = recipe.clone();
    recipe.file = None;
    let patches: Vec<(String, String)> = recipe
        .patches
        .iter()
        .map(|patch| {
            (
                patch
                    .file_name()
                    .map(|name| name.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                crate::wheel::verified::file_sha256(patch).unwrap_or_default(),
            )
        })
        .collect();
    recipe.patches = Vec::new();
    hash_of(&(recipe, patches))
}

/// The parts of the layout a cell's wheel depends on: the local version label, the
/// requirement rules, the layer and the arch.
fn layout_hash(layout: &Layout, layer: &str, arch: &str) -> String {
    let arch = layout.archs.get(arch).map(|arch| {
        (
            arch.name.clone(),
            arch.level,
            arch.march.clone(),
            arch.cflags.clone(),
            arch.features.clone(),
        )
    });
    let layer = layout.layers.get(layer).map(|layer| {
        (
            layer.name.clone(),
            layer.glibc.to_string(),
            layer.library_dirs.clone(),
            layer.rpath_prefixes.clone(),
            layer.not_arch_rpath.clone(),
        )
    });
    let rules: Vec<(String, Vec<String>, Vec<String>)> = layout
        .strip_rules
        .iter()
        .map(|(name, rule)| (name.clone(), rule.remove.clone(), rule.keep.clone()))
        .collect();
    let base = hash_of(&(layout.local_version_label.clone(), rules, layer, arch));
    // The rule that adds RPATHs to module libraries changes the wheel (the stack's own
    // lines and modules are the `stack` input); layouts without modules keep their hash.
    match &layout.modules {
        Some(modules) if modules.rpath != crate::layout::ModuleRpath::None => hash_of(&(base, modules.rpath)),
        _ => base,
    }
}

/// The facts of a fetched source: its build requirements, Requires-Dist and whether it
/// compiles (read from the archive once).
pub fn learn_source(fetched: &crate::build::FetchedSource) -> SourceFacts {
    if fetched.is_wheel {
        // A wheel (a pure one from PyPI, or an adopted one): nothing to build; its own
        // METADATA says what it needs.
        let requires_dist = crate::wheel::WheelReader::open(&fetched.path, crate::wheel::Limits::default())
            .map(|reader| {
                reader
                    .metadata
                    .requires_dist()
                    .iter()
                    .map(ToString::to_string)
                    .collect()
            })
            .unwrap_or_default();
        return SourceFacts {
            source: fetched.clone(),
            build_requires: Vec::new(),
            requires_dist,
            compiled: false,
        };
    }
    let files = if fetched.is_wheel {
        BTreeMap::new()
    } else {
        crate::build::read_top_level_files(&fetched.path, &["PKG-INFO", "pyproject.toml"]).unwrap_or_default()
    };
    let pyproject = files
        .get("pyproject.toml")
        .map(|(_, bytes)| String::from_utf8_lossy(bytes).into_owned());
    let build_requires = crate::build::BuildSystem::parse(pyproject.as_deref(), &fetched.path)
        .map(|system| system.requires)
        .unwrap_or_default();
    let mut requires_dist = files
        .get("PKG-INFO")
        .and_then(|(_, bytes)| crate::build::SdistMetadata::parse(bytes).ok())
        .map(|metadata| metadata.requires_dist)
        .unwrap_or_default();
    if requires_dist.is_empty() {
        // No PKG-INFO (a git archive) or none listed: `[project] dependencies`, unless the
        // backend computes them.
        requires_dist = pyproject.as_deref().map(static_dependencies).unwrap_or_default();
    }
    SourceFacts {
        source: fetched.clone(),
        build_requires,
        requires_dist,
        compiled: crate::build::looks_compiled(fetched),
    }
}

/// `[project] dependencies` of a `pyproject.toml`, when they are static (not in `dynamic`).
fn static_dependencies(text: &str) -> Vec<String> {
    let Ok(table) = toml::from_str::<toml::Table>(text) else {
        return Vec::new();
    };
    let Some(project) = table.get("project").and_then(|project| project.as_table()) else {
        return Vec::new();
    };
    let dynamic = project
        .get("dynamic")
        .and_then(|dynamic| dynamic.as_array())
        .is_some_and(|dynamic| dynamic.iter().any(|item| item.as_str() == Some("dependencies")));
    if dynamic {
        return Vec::new();
    }
    project
        .get("dependencies")
        .and_then(|dependencies| dependencies.as_array())
        .map(|dependencies| {
            dependencies
                .iter()
                .filter_map(|item| item.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}
