//! `wheelwright pip-config`: the pip.conf and uv.toml of a node's view of the wheelhouse.

use std::process::ExitCode;

use crate::cli::{ConfigFormat, PipConfigArgs};
use crate::commands::node_of;
use crate::hint::HintExt as _;
use crate::layout::Layout;
use crate::outln;
use crate::wheelhouse::pipconf::{
    pip_conf, pip_conf_for_index, uv_toml, uv_toml_for_index, view_directories, view_index_url,
};
use crate::wheelhouse::tree::{RootError, check_wheelhouse};

/// Stops before a configuration points nodes at a root that is not there, unless
/// `--allow-missing-root` says the nodes mount it at that path.
fn check_root(args: &PipConfigArgs, layout: &Layout) -> anyhow::Result<()> {
    match check_wheelhouse(layout) {
        Ok(()) => Ok(()),
        Err(RootError::Missing { .. }) if args.allow_missing_root => Ok(()),
        Err(error @ RootError::Missing { .. }) => Err(error).hint(
            "if the nodes mount the wheelhouse at that path, --allow-missing-root writes the configuration unchecked",
        ),
        Err(error) => Err(error.into()),
    }
}

pub fn run(args: &PipConfigArgs, layout: &Layout) -> anyhow::Result<ExitCode> {
    let view = node_of(layout, &args.node)?;
    let (pip, uv, directories) = match &args.index {
        Some(base) => {
            let url = view_index_url(base, &view);
            (
                pip_conf_for_index(&view, &url),
                uv_toml_for_index(&view, &url),
                None,
            )
        }
        None => {
            check_root(args, layout)?;
            let directories = view_directories(&layout.root, &view);
            if directories.root_missing {
                tracing::warn!(
                    "the wheelhouse root {} does not exist here: every directory of the view is listed unchecked (--allow-missing-root); it is the root of {}",
                    layout.root.display(),
                    layout.origin
                );
            }
            for missing in &directories.missing {
                tracing::warn!("{missing} does not exist in {}: left out", layout.root.display());
            }
            if directories.dirs.is_empty() {
                anyhow::bail!(
                    "none of the directories of the {}/{} view exists under {}; it is the root of {}",
                    view.layer,
                    view.arch,
                    layout.root.display(),
                    layout.origin
                );
            }
            (
                pip_conf(&view, &directories.dirs, args.no_index),
                uv_toml(&view, &directories.dirs, args.no_index),
                Some(directories),
            )
        }
    };
    if args.json {
        let value = serde_json::json!({
            "layer": view.layer,
            "arch": view.arch,
            "dirs": directories.as_ref().map(|found| &found.dirs),
            "missing": directories.as_ref().map(|found| &found.missing),
            "index_url": args.index.as_ref().map(|base| view_index_url(base, &view)),
            "pip_conf": pip,
            "uv_toml": uv,
        });
        outln!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(ExitCode::SUCCESS);
    }
    match args.format {
        ConfigFormat::Pip => outln!("{}", pip.trim_end()),
        ConfigFormat::Uv => outln!("{}", uv.trim_end()),
        ConfigFormat::Both => {
            outln!("{}", pip.trim_end());
            outln!("");
            outln!("{}", uv.trim_end());
        }
    }
    Ok(ExitCode::SUCCESS)
}
