//! Post-processing of a freshly built wheel: local version label, recipe requirement edits,
//! numpy/torch pins from what it was built against, nvidia stripping, honest tags, the build
//! record inside; then a full verification and the classification, in one pass (an adopted
//! wheel's members were checked and read by the adoption's pass: only its structure is).

use std::path::{Path, PathBuf};

use crate::inspect::read_wheel_elves;
use crate::layout::{Layout, PythonVersion};
use crate::recipe::ResolvedRecipe;
use crate::spec::requirements::RequirementEdit;
use crate::tools::capture;
use crate::wheel::{Destination, Limits, PlaceOptions, Rewrite, TagChange, rewrite_wheel};

use super::BuildError;
use super::record::BuildRecord;

/// What post-processing needs.
pub struct PostProcess<'a> {
    /// The wheel the frontend produced.
    pub built: &'a Path,
    pub python: PythonVersion,
    pub layout: &'a Layout,
    pub recipe: &'a ResolvedRecipe,
    /// The build environment's interpreter (asked which numpy and torch it built against).
    pub build_python: Option<&'a Path>,
    pub record: &'a BuildRecord,
    /// The stack the wheel was built in (its library directories tell what modules provided).
    pub stack: Option<&'a crate::stack::Stack>,
    /// The layer it was built for.
    pub layer: &'a str,
    /// An adopted wheel's members as the adoption pass read them: its edited ELF members
    /// (written in the same rewrite), the digests RECORD is checked against and the ELF
    /// members, none of which is inflated again.
    pub adopted: Option<&'a super::adopt::AdoptedMembers>,
    /// Where the finished wheel is written (a directory of the cell's: it is staged only once
    /// its smoke test passed).
    pub directory: &'a Path,
}

/// A post-processed, verified wheel.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Processed {
    pub wheel: PathBuf,
    pub file_name: String,
    pub pure: bool,
    pub abi3: bool,
    pub sha256: Option<String>,
    /// What the rewrite changed (for the record beside the wheel).
    pub changes: Vec<String>,
    pub notes: Vec<String>,
    /// Where cp-wheels would place it.
    pub destination: Option<String>,
    /// The libraries it needs that the stack provided (for the record beside it).
    #[serde(default)]
    pub stack_libraries: Vec<super::record::StackLibrary>,
    /// Why nodes of the layer could not load it (libraries nothing there provides): such a
    /// wheel is held back, not staged.
    #[serde(default)]
    pub unprovided: Vec<String>,
}

/// Rewrites, verifies and classifies the built wheel.
pub fn post_process(input: &PostProcess) -> Result<Processed, BuildError> {
    let mut notes = Vec::new();
    let filename: crate::spec::WheelFilename = input
        .built
        .file_name()
        .and_then(|name| name.to_str())
        .unwrap_or_default()
        .parse()?;
    let elves = built_elves(input, &filename)?;
    let compiled = !elves.members.is_empty();
    let mut record = input.record.clone();
    let unprovided = library_sources(input, &elves, &mut record, &mut notes);
    let tags = honest_tags(&filename, compiled, input.python, &mut notes);
    let (edits, local_tag) = requirement_edits(input, &elves, &mut notes)?;
    let rewrite = Rewrite {
        local_label: Some(input.layout.local_version_label.clone()),
        local_tag,
        requirement_edits: edits,
        tags,
        dist_info_files: vec![(
            "wheelwright.json".to_string(),
            serde_json::to_vec_pretty(&record).map_err(std::io::Error::other)?,
        )],
        // A wheel the frontend just wrote has a true RECORD; one that does not is a fault.
        accept_bad_record: false,
        member_files: input
            .adopted
            .map(|adopted| adopted.member_files.clone())
            .unwrap_or_default(),
        prepared: input
            .adopted
            .map(|adopted| adopted.prepared.clone())
            .unwrap_or_default(),
        known_digests: input
            .adopted
            .map(|adopted| adopted.digests.clone())
            .unwrap_or_default(),
        jobs: None,
        // The audit below needs the sha256 of the whole wheel: hashed as it is written.
        hash_output: true,
    };
    fs_err::create_dir_all(input.directory)?;
    let started = std::time::Instant::now();
    let outcome = rewrite_wheel(
        input.built,
        &rewrite,
        &Destination::Directory(input.directory.to_path_buf()),
        PlaceOptions {
            overwrite: true,
            fsync: true,
        },
        Limits::default(),
    )?;
    notes.extend(outcome.notes.iter().cloned());
    let output_filename: crate::spec::WheelFilename = outcome.new_filename.parse()?;
    tracing::info!("rewritten in {:.1} s", started.elapsed().as_secs_f64());
    let audit = audit_output(
        input,
        &filename,
        &outcome.output,
        outcome.sha256.clone(),
        &output_filename,
        &record,
    )?;
    if !audit.report.ok() {
        return Err(BuildError::bad_wheel(
            &outcome.output,
            format!(
                "the post-processed wheel fails verification: {}",
                audit.report.problems.join("; ")
            ),
        ));
    }
    Ok(Processed {
        pure: output_filename.tags.is_pure(),
        abi3: output_filename.tags.abi.iter().any(|abi| abi == "abi3"),
        wheel: outcome.output.clone(),
        file_name: outcome.new_filename.clone(),
        sha256: Some(audit.sha256),
        changes: outcome.changes.clone(),
        notes,
        destination: audit.classification.destination,
        stack_libraries: record.stack.map(|stack| stack.libraries).unwrap_or_default(),
        unprovided,
    })
}

/// The ELF members of the built wheel: an adopted wheel's, as its adoption read them; else
/// read now.
fn built_elves(
    input: &PostProcess,
    filename: &crate::spec::WheelFilename,
) -> Result<crate::inspect::WheelElves, BuildError> {
    if let Some(adopted) = input.adopted {
        return Ok(adopted.elves.clone());
    }
    let started = std::time::Instant::now();
    let elves = read_wheel_elves(input.built, Limits::default(), false, 2)?;
    tracing::info!(
        "{}: {} ELF members read in {:.1} s",
        filename.name_text(),
        elves.members.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(elves)
}

/// Where the wheel's libraries come from on nodes of its layer: the stack's into `record`, a
/// note when the layer's directories are not on this machine; the sentences of the libraries
/// nothing there provides (the wheel is then held back).
fn library_sources(
    input: &PostProcess,
    elves: &crate::inspect::WheelElves,
    record: &mut BuildRecord,
    notes: &mut Vec<String>,
) -> Vec<String> {
    let Some(layer) = input.layout.layers.get(input.layer) else {
        return Vec::new();
    };
    let sources =
        super::libraries::library_sources(elves, input.layout, layer, input.stack, &input.recipe.environment);
    if !sources.unchecked.is_empty() {
        notes.push(format!(
            "the layer's library directories are not on this machine: taken from the host, unjudged: {}",
            sources.unchecked.join(", ")
        ));
    }
    let unprovided = sources
        .unprovided
        .iter()
        .map(|library| library.sentence(input.layer))
        .collect();
    if let Some(stack) = record.stack.as_mut() {
        stack.libraries = sources.from_stack;
    }
    unprovided
}

/// Honest tags: a pure-tagged wheel with shared libraries retagged to its Python and
/// platform; a manylinux or musllinux platform tag (which the frontend did not earn) made
/// `linux_x86_64`.
fn honest_tags(
    filename: &crate::spec::WheelFilename,
    compiled: bool,
    python: PythonVersion,
    notes: &mut Vec<String>,
) -> TagChange {
    let mut tags = TagChange::default();
    if compiled && filename.tags.is_pure() {
        let python_tag = format!("cp{}{}", python.major, python.minor);
        tags = TagChange {
            python: Some(python_tag.clone()),
            abi: Some(python_tag),
            platform: Some("linux_x86_64".into()),
        };
        notes.push("a py3-none-any wheel with shared libraries: retagged to its Python and platform".into());
    } else if filename
        .tags
        .platform
        .iter()
        .any(|platform| platform.starts_with("manylinux") || platform.starts_with("musllinux"))
    {
        tags.platform = Some("linux_x86_64".into());
    }
    tags
}

/// The requirement edits: the recipe's, the pins from what a compiled wheel was built against
/// (numpy, torch: with the local tag torch gives), the layout's nvidia strip rule.
fn requirement_edits(
    input: &PostProcess,
    elves: &crate::inspect::WheelElves,
    notes: &mut Vec<String>,
) -> Result<(Vec<RequirementEdit>, Option<String>), BuildError> {
    let compiled = !elves.members.is_empty();
    let recipe = input.recipe;
    let mut edits = Vec::new();
    for text in &recipe.requirements.update {
        edits.push(RequirementEdit::update(text)?);
    }
    for text in &recipe.requirements.add {
        edits.push(RequirementEdit::add(text)?);
    }
    for text in &recipe.requirements.remove {
        edits.push(RequirementEdit::remove(text)?);
    }
    // Pins from what the wheel was built against.
    let mut local_tag = None;
    if compiled && let Some(python) = input.build_python {
        let numpy = capture(python, &["-c", "import numpy; print(numpy.__version__)"]);
        if let Some(numpy) = numpy.and_then(|text| text.parse::<pep440_rs::Version>().ok())
            && numpy.release().first() == Some(&1)
        {
            edits.push(RequirementEdit::numpy_bounds(None, Some("2.0"))?);
            notes.push(format!("built against numpy {numpy}: numpy<2 required"));
        }
        let links_torch = elves.members.iter().any(|member| {
            member
                .info
                .needed
                .iter()
                .any(|library| library.starts_with("libtorch") || library.starts_with("libc10"))
        });
        if links_torch && let Some(torch) = capture(python, &["-c", "import torch; print(torch.__version__)"])
        {
            let release: Vec<&str> = torch.split(['+', '.']).take(2).collect();
            if let [major, minor] = release.as_slice() {
                edits.push(RequirementEdit::update(&format!("torch~={major}.{minor}.0"))?);
                local_tag = Some(format!("torch{major}{minor}"));
                notes.push(format!(
                    "links libtorch from torch {torch}: torch~={major}.{minor}.0 required"
                ));
            }
        }
    }
    if let Ok(rule) = input.layout.strip_rule("nvidia") {
        edits.push(RequirementEdit::Strip(rule.rule.clone()));
    }
    Ok((edits, local_tag))
}

/// Verifies the finished wheel `output` in full (raw-copied members included) and reads its
/// ELF members for the classification in the same pass; `sha256`: the whole wheel's, hashed
/// as it was written.
fn audit_output(
    input: &PostProcess,
    filename: &crate::spec::WheelFilename,
    output: &Path,
    sha256: Option<String>,
    output_filename: &crate::spec::WheelFilename,
    record: &BuildRecord,
) -> Result<crate::audit::Audit, BuildError> {
    // The finished wheel is verified in full (raw-copied members included) and its ELF
    // members read for the classification in the same pass; it is then remembered by content
    // so that cp-wheels need not hash it again.
    let cache = crate::wheel::verified::VerifiedCache::default_location();
    let started = std::time::Instant::now();
    let options = crate::audit::AuditOptions {
        limits: Limits::default(),
        jobs: 2,
        cache: cache.as_ref(),
    };
    let audit = match input.adopted {
        // Written from members checked as they were read: not inflated again.
        Some(adopted) => {
            let mut elves = adopted.elves.clone();
            let (old_data, new_data) = (filename.data_dir(), output_filename.data_dir());
            for member in &mut elves.members {
                if let Some(rest) = member.path.strip_prefix(&format!("{old_data}/")) {
                    member.path = format!("{new_data}/{rest}");
                }
            }
            elves.dist_info = output_filename.dist_info_dir();
            elves.tagged_pure = output_filename.tags.is_pure();
            elves.build_record = serde_json::to_value(record).ok();
            crate::audit::audit_written(output, input.layout, options, elves, sha256)?
        }
        None => crate::audit::audit(output, input.layout, options, None)?,
    };
    tracing::info!(
        "verified and classified in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(audit)
}
