//! Which `build_wheel.sh` stack variables (`EBVERSIONGENTOO`, `EBROOTGENTOO`, `RSNT_ARCH`,
//! `EBVERSIONARCH`) stand for each layer and arch of the layout: the cells a config is
//! sourced in.
//!
//! The table, as data a site can extend with `--stack LAYER:NAME=VALUE`:
//!
//! | layout | stack variables |
//! |---|---|
//! | layer `gentoo<YEAR>` | `EBVERSIONGENTOO=<YEAR>`, `EBROOTGENTOO=/cvmfs/soft.computecanada.ca/gentoo/<YEAR>` (2023 and later: `.../<YEAR>/x86-64-v3` or `x86-64-v4`, by arch) |
//! | any other layer | none (as on a machine without the Gentoo layer) |
//! | arch `x86-64-v3` / `x86-64-v4` | `RSNT_ARCH` = `EBVERSIONARCH` = `avx2` / `avx512` |
//! | arch `sse3`, `avx`, `avx2`, `avx512` | `RSNT_ARCH` = `EBVERSIONARCH` = the same name |
//! | arch `generic` | those of the layer's lowest other arch (the arch `build_wheel.sh` builds generic wheels on) |

use std::str::FromStr;

use crate::layout::Layout;

/// Where the Gentoo layers of the Alliance stack live (the prefix of `EBROOTGENTOO`).
const GENTOO_ROOT: &str = "/cvmfs/soft.computecanada.ca/gentoo";

/// The first Gentoo year whose root has one directory per arch.
const FIRST_YEAR_WITH_ARCH_ROOTS: u32 = 2023;

/// A variable set for one layer by `--stack LAYER:NAME=VALUE`, over the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackOverride {
    pub layer: String,
    pub name: String,
    pub value: String,
}

impl FromStr for StackOverride {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let hint = "expected LAYER:NAME=VALUE (`gentoo2023:EBVERSIONGENTOO=2023`)";
        let (layer, assignment) = text.split_once(':').ok_or_else(|| format!("`{text}`: {hint}"))?;
        let (name, value) = assignment
            .split_once('=')
            .ok_or_else(|| format!("`{text}`: {hint}"))?;
        let valid_name = name
            .chars()
            .next()
            .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if layer.is_empty() || !valid_name {
            return Err(format!("`{text}`: {hint}"));
        }
        Ok(StackOverride {
            layer: layer.to_string(),
            name: name.to_string(),
            value: value.to_string(),
        })
    }
}

/// One layer and arch of the layout, with the stack variables a config sees there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackCell {
    pub layer: String,
    pub arch: String,
    /// Exported before the config is sourced, in this order.
    pub variables: Vec<(String, String)>,
}

/// The `RSNT_ARCH` name of a layout arch, if it has one.
fn rsnt_arch(arch: &str) -> Option<&'static str> {
    match arch {
        "x86-64-v3" | "avx2" => Some("avx2"),
        "x86-64-v4" | "avx512" => Some("avx512"),
        "avx" => Some("avx"),
        "sse3" => Some("sse3"),
        _ => None,
    }
}

/// The year of a `gentoo<YEAR>` layer.
fn gentoo_year(layer: &str) -> Option<u32> {
    layer
        .strip_prefix("gentoo")
        .filter(|year| year.len() == 4)
        .and_then(|year| year.parse().ok())
}

/// The stack variables of one layer and arch, by the table above.
fn table_variables(layout: &Layout, layer: &str, arch: &str) -> Vec<(String, String)> {
    let mut arch_name = rsnt_arch(arch);
    if arch_name.is_none()
        && let Some(layer_archs) = layout.layers.get(layer).map(|layer| &layer.archs)
    {
        // `generic` (or an arch the table does not know): the layer's lowest named arch.
        arch_name = layer_archs
            .iter()
            .filter_map(|name| {
                let level = layout.archs.get(name).map(|arch| arch.level)?;
                rsnt_arch(name).map(|rsnt| (level, rsnt))
            })
            .min()
            .map(|(_, rsnt)| rsnt);
    }
    let mut variables = Vec::new();
    if let Some(year) = gentoo_year(layer) {
        variables.push(("EBVERSIONGENTOO".to_string(), year.to_string()));
        let root = if year >= FIRST_YEAR_WITH_ARCH_ROOTS {
            let directory = if arch_name == Some("avx512") {
                "x86-64-v4"
            } else {
                "x86-64-v3"
            };
            format!("{GENTOO_ROOT}/{year}/{directory}")
        } else {
            format!("{GENTOO_ROOT}/{year}")
        };
        variables.push(("EBROOTGENTOO".to_string(), root));
    }
    if let Some(name) = arch_name {
        variables.push(("RSNT_ARCH".to_string(), name.to_string()));
        variables.push(("EBVERSIONARCH".to_string(), name.to_string()));
    }
    variables
}

/// The cells configs are sourced in: every arch of every active layer, the default layer
/// first (its values are the ones kept when cells disagree and no condition can say so).
pub fn stack_cells(layout: &Layout, overrides: &[StackOverride]) -> Vec<StackCell> {
    let mut layers: Vec<&str> = layout.active_layers().map(|layer| layer.name.as_str()).collect();
    if let Some(default) = layout.default_layer.as_deref()
        && let Some(index) = layers.iter().position(|layer| *layer == default)
    {
        let default = layers.remove(index);
        layers.insert(0, default);
    }
    let mut cells = Vec::new();
    for layer in layers {
        let archs = layout
            .layers
            .get(layer)
            .map(|layer| layer.archs.clone())
            .unwrap_or_default();
        for arch in archs {
            let mut variables = table_variables(layout, layer, &arch);
            for set in overrides.iter().filter(|set| set.layer == layer) {
                match variables.iter_mut().find(|(name, _)| *name == set.name) {
                    Some(existing) => existing.1 = set.value.clone(),
                    None => variables.push((set.name.clone(), set.value.clone())),
                }
            }
            cells.push(StackCell {
                layer: layer.to_string(),
                arch,
                variables,
            });
        }
    }
    cells
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find<'a>(cells: &'a [StackCell], layer: &str, arch: &str) -> &'a StackCell {
        cells
            .iter()
            .find(|cell| cell.layer == layer && cell.arch == arch)
            .unwrap()
    }

    fn value<'a>(cell: &'a StackCell, name: &str) -> Option<&'a str> {
        cell.variables
            .iter()
            .find(|(variable, _)| variable == name)
            .map(|(_, value)| value.as_str())
    }

    #[test]
    fn the_default_layout_maps_to_the_alliance_stack() {
        let layout = Layout::embedded().unwrap();
        let cells = stack_cells(&layout, &[]);
        assert_eq!(cells[0].layer, "gentoo2023");
        assert!(
            cells.iter().all(|cell| cell.layer != "nix"),
            "deprecated layers are left out"
        );
        let v4 = find(&cells, "gentoo2023", "x86-64-v4");
        assert_eq!(value(v4, "EBVERSIONGENTOO"), Some("2023"));
        assert_eq!(value(v4, "RSNT_ARCH"), Some("avx512"));
        assert_eq!(
            value(v4, "EBROOTGENTOO"),
            Some("/cvmfs/soft.computecanada.ca/gentoo/2023/x86-64-v4")
        );
        let generic = find(&cells, "gentoo2023", "generic");
        assert_eq!(value(generic, "RSNT_ARCH"), Some("avx2"));
        let old = find(&cells, "gentoo2020", "generic");
        assert_eq!(value(old, "RSNT_ARCH"), Some("sse3"));
        assert_eq!(
            value(old, "EBROOTGENTOO"),
            Some("/cvmfs/soft.computecanada.ca/gentoo/2020")
        );
    }

    #[test]
    fn overrides_replace_or_add_variables_of_one_layer() {
        let layout = Layout::embedded().unwrap();
        let overrides = [
            "gentoo2020:EBVERSIONGENTOO=2020b".parse().unwrap(),
            "gentoo2020:CUDA_DEFAULT=11.4".parse().unwrap(),
        ];
        let cells = stack_cells(&layout, &overrides);
        let old = find(&cells, "gentoo2020", "avx2");
        assert_eq!(value(old, "EBVERSIONGENTOO"), Some("2020b"));
        assert_eq!(value(old, "CUDA_DEFAULT"), Some("11.4"));
        assert_eq!(value(find(&cells, "gentoo2023", "generic"), "CUDA_DEFAULT"), None);
        assert!("gentoo2020=2".parse::<StackOverride>().is_err());
        assert!("gentoo2020:1X=2".parse::<StackOverride>().is_err());
    }
}
