//! What a compute node sees of the tree: its layer and arch, and the directories it may
//! install from, in the order pip and uv should search them.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::layout::Layout;

/// A node's view of the wheelhouse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeView {
    pub layer: String,
    pub arch: String,
    /// Directories relative to the root, most specific first: the arch directory, the
    /// layer's lower-level arch directories (an x86-64-v4 CPU runs x86-64-v3 code), the
    /// layer's `generic`, then the top-level `generic`.
    pub dirs: Vec<String>,
}

/// A layer or arch the layout does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeViewError {
    #[error("unknown layer `{layer}` (the layout {layout} defines: {})", known.join(", "))]
    UnknownLayer {
        layer: String,
        /// Where the layout was read from.
        layout: String,
        known: Vec<String>,
    },
    #[error("the layer `{layer}` has no arch `{arch}` (it has: {})", known.join(", "))]
    UnknownArch {
        layer: String,
        arch: String,
        known: Vec<String>,
    },
    #[error("the layout {layout} has no active layer: name one with --layer")]
    NoActiveLayer { layout: String },
}

/// The view of a node on `layer` with an `arch` CPU; errors name the layer or arch and list
/// the known ones.
pub fn node_view(layout: &Layout, layer: &str, arch: &str) -> Result<NodeView, NodeViewError> {
    let Some(found) = layout.layers.get(layer) else {
        return Err(NodeViewError::UnknownLayer {
            layer: layer.to_string(),
            layout: layout.source.clone(),
            known: layout.layers.keys().cloned().collect(),
        });
    };
    if !found.archs.iter().any(|name| name == arch) {
        return Err(NodeViewError::UnknownArch {
            layer: layer.to_string(),
            arch: arch.to_string(),
            known: found.archs.clone(),
        });
    }
    let level = |name: &str| layout.archs.get(name).map_or(1, |arch| arch.level);
    let own = level(arch);
    let mut lower: Vec<&String> = found
        .archs
        .iter()
        .filter(|name| name.as_str() != arch && name.as_str() != "generic" && level(name) <= own)
        .collect();
    lower.sort_by_key(|name| std::cmp::Reverse(level(name)));
    let mut dirs = Vec::new();
    if arch != "generic" {
        dirs.push(format!("{layer}/{arch}"));
    }
    dirs.extend(lower.into_iter().map(|name| format!("{layer}/{name}")));
    if found.archs.iter().any(|name| name == "generic") {
        dirs.push(format!("{layer}/generic"));
    }
    dirs.push("generic".to_string());
    Ok(NodeView {
        layer: layer.to_string(),
        arch: arch.to_string(),
        dirs,
    })
}

/// The views a command over several views takes (`index`, `check`, the nightly's check):
/// one (`layer` and `arch`), every arch of one layer (`layer`), one arch of the default layer
/// (`arch`), or every arch of every active layer (neither).
pub fn views_of(
    layout: &Layout,
    layer: Option<&str>,
    arch: Option<&str>,
) -> Result<Vec<NodeView>, NodeViewError> {
    let pairs: Vec<(String, String)> = match (layer, arch) {
        (Some(layer), Some(arch)) => vec![(layer.to_string(), arch.to_string())],
        // An unknown layer gets node_view's error below, which lists the known ones.
        (Some(layer), None) => match layout.layers.get(layer) {
            Some(found) => found
                .archs
                .iter()
                .map(|arch| (layer.to_string(), arch.clone()))
                .collect(),
            None => vec![(layer.to_string(), String::new())],
        },
        (None, Some(arch)) => {
            let layer = default_layer(layout).ok_or_else(|| NodeViewError::NoActiveLayer {
                layout: layout.source.clone(),
            })?;
            vec![(layer, arch.to_string())]
        }
        (None, None) => layout
            .active_layers()
            .flat_map(|layer| layer.archs.iter().map(|arch| (layer.name.clone(), arch.clone())))
            .collect(),
    };
    pairs
        .iter()
        .map(|(layer, arch)| node_view(layout, layer, arch))
        .collect()
}

/// The CPU flags of this machine (from `/proc/cpuinfo`), empty when it cannot be read.
pub fn cpu_flags() -> BTreeSet<String> {
    let text = fs_err::read_to_string("/proc/cpuinfo").unwrap_or_default();
    text.lines()
        .find(|line| line.starts_with("flags"))
        .and_then(|line| line.split_once(':'))
        .map(|(_, flags)| flags.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default()
}

/// The most capable arch of `layer` whose CPU features are all in `flags` (`generic` when
/// none is).
pub fn detect_arch(layout: &Layout, layer: &str, flags: &BTreeSet<String>) -> String {
    let Some(layer) = layout.layers.get(layer) else {
        return "generic".to_string();
    };
    layer
        .archs
        .iter()
        .filter_map(|name| layout.archs.get(name))
        .filter(|arch| arch.features.iter().all(|feature| flags.contains(feature)))
        .max_by_key(|arch| arch.level)
        .map_or_else(|| "generic".to_string(), |arch| arch.name.clone())
}

/// The layer a node uses when none is named: the layout's default, else the newest active one.
pub fn default_layer(layout: &Layout) -> Option<String> {
    layout.default_layer.clone().or_else(|| {
        layout
            .active_layers()
            .max_by(|a, b| a.glibc.cmp(&b.glibc))
            .map(|layer| layer.name.clone())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v4_node_sees_v3_then_generic() {
        let layout = Layout::embedded().unwrap();
        let view = node_view(&layout, "gentoo2023", "x86-64-v4").unwrap();
        assert_eq!(
            view.dirs,
            [
                "gentoo2023/x86-64-v4",
                "gentoo2023/x86-64-v3",
                "gentoo2023/generic",
                "generic"
            ]
        );
        let view = node_view(&layout, "gentoo2023", "generic").unwrap();
        assert_eq!(view.dirs, ["gentoo2023/generic", "generic"]);
        let view = node_view(&layout, "gentoo2020", "avx").unwrap();
        assert_eq!(
            view.dirs,
            [
                "gentoo2020/avx",
                "gentoo2020/sse3",
                "gentoo2020/generic",
                "generic"
            ]
        );
    }

    #[test]
    fn views_of_every_arch_one_layer_or_one_view() {
        let layout = Layout::embedded().unwrap();
        let names = |views: Vec<NodeView>| -> Vec<String> {
            views
                .iter()
                .map(|view| format!("{}/{}", view.layer, view.arch))
                .collect()
        };
        assert_eq!(names(views_of(&layout, None, None).unwrap()).len(), 8);
        assert_eq!(
            names(views_of(&layout, Some("gentoo2023"), None).unwrap()),
            [
                "gentoo2023/generic",
                "gentoo2023/x86-64-v3",
                "gentoo2023/x86-64-v4"
            ]
        );
        assert_eq!(
            names(views_of(&layout, None, Some("x86-64-v4")).unwrap()),
            ["gentoo2023/x86-64-v4"]
        );
        assert!(views_of(&layout, Some("gentoo2099"), None).is_err());
    }

    #[test]
    fn unknown_layer_and_arch_are_named() {
        let layout = Layout::embedded().unwrap();
        let error = node_view(&layout, "gentoo2099", "generic")
            .unwrap_err()
            .to_string();
        assert!(error.contains("unknown layer `gentoo2099`"), "{error}");
        let error = node_view(&layout, "gentoo2023", "avx2").unwrap_err().to_string();
        assert!(error.contains("has no arch `avx2`"), "{error}");
    }

    #[test]
    fn arch_detection_takes_the_highest_complete_feature_set() {
        let layout = Layout::embedded().unwrap();
        let flags = |list: &str| list.split(' ').map(str::to_string).collect::<BTreeSet<_>>();
        let v3 = flags("sse2 avx avx2 bmi1 bmi2 f16c fma abm movbe xsave");
        assert_eq!(detect_arch(&layout, "gentoo2023", &v3), "x86-64-v3");
        let v4 = flags(
            "sse2 avx avx2 bmi1 bmi2 f16c fma abm movbe xsave avx512f avx512bw avx512cd avx512dq avx512vl",
        );
        assert_eq!(detect_arch(&layout, "gentoo2023", &v4), "x86-64-v4");
        assert_eq!(detect_arch(&layout, "gentoo2023", &flags("sse2 avx")), "generic");
    }
}
