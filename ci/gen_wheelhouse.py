#!/usr/bin/env python3
"""Generate a synthetic wheelhouse for ci/bench-cp-wheels.sh (standard library only).

Two independent parts, either or both in one invocation:

  --tree ROOT --tree-size N
      A wheelhouse tree of N existing wheels under ROOT, spread over the layout's
      directories: ROOT/generic, ROOT/gentoo2023/{generic,x86-64-v3,x86-64-v4},
      ROOT/{gentoo2020,gentoo,nix}/{generic,sse3,avx,avx2,avx512}. Every directory is
      created, also for N = 0. The wheels come from a catalog of projects that is the same
      for every N (the tree of 10,000 is the first 10,000 wheels of the tree of 50,000), so
      the new wheels below relate to every tree the same way.
      With --tree-files links (the default) each tree wheel is a hard link to one of a few
      template wheels of realistic sizes (ROOT.templates/, next to ROOT): valid zip files and
      valid wheels, but of a template project, so their dist-info does not match their file
      names. With --tree-files wheels each one is a small valid wheel of its own name, whose
      METADATA has Requires-Dist on earlier catalog projects (see `requirements`: lower
      bounds, some upper bounds a tree cannot meet, markers, extras) and, for some projects,
      an extra `all` with requirements of its own: the data of `wheelwright check`
      (ci/bench-check.sh). A project's requirements are the same for every tree size.

  --staging DIR --new M --manifest FILE
      M new, fully valid wheels in DIR (METADATA, WHEEL with Tag lines matching the file
      name, RECORD with sha256 digests and sizes), ~75% pure py3-none-any and ~25% compiled
      cp311/cp312/cp313 linux_x86_64 with a real ELF shared library (built once with gcc,
      plain x86-64, needing only libc, with a RUNPATH into the 2023 stack: gentoo2023, generic
      arch). Most are 20 KB-500 KB, ~5% are 2-20 MB. About 40% are new versions of projects
      among the first 700 of the catalog (all in trees of about 8,000 wheels and more with
      seed 1; only projects with no arch-specific wheels, so cp_wheels.sh's check lets them
      through), the rest new projects whose names (three words) no catalog project can have.
      FILE is a TSV manifest, one line per wheel: file, destination directory (generic for
      pure, gentoo2023/generic for compiled), bytes, sha256, kind (pure|compiled), project
      state (new-version|new-project).

  --verify DIR
      Checks every wheel in DIR as a wheel installer would: zip integrity, dist-info named
      after the file, WHEEL tags equal to the file name's, every member listed in RECORD with
      the right sha256 and size, RECORD listing itself without a hash, the first Python
      modules compiling. Exit 1 on any problem.

Everything is deterministic for a given --seed (on one machine: zlib and gcc output may
differ elsewhere). Progress and statistics go to stderr.
"""

from __future__ import annotations

import argparse
import base64
import csv
import hashlib
import io
import math
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import zipfile

LOCAL = "computecanada"
# Every member of a generated wheel gets this timestamp, so that the bytes depend only on
# the seed.
ZIP_DATE = (2024, 5, 1, 12, 0, 0)

LAYERS = {
    "gentoo2023": ["generic", "x86-64-v3", "x86-64-v4"],
    "gentoo2020": ["generic", "sse3", "avx", "avx2", "avx512"],
    "gentoo": ["generic", "sse3", "avx", "avx2", "avx512"],
    "nix": ["generic", "sse3", "avx", "avx2", "avx512"],
}
TREE_DIRS = ["generic"] + [f"{layer}/{arch}" for layer, archs in LAYERS.items() for arch in archs]

# The eras a project's versions are spread over, oldest first: the layer compiled wheels
# of that era live in, the CPython tags built for it, and the arch directories an
# arch-specific project was built for.
ERAS = [
    ("nix", ["cp35-cp35m", "cp36-cp36m", "cp37-cp37m"], ["sse3", "avx2", "avx512"]),
    ("gentoo", ["cp37-cp37m", "cp38-cp38"], ["avx2", "avx512"]),
    ("gentoo2020", ["cp38-cp38", "cp39-cp39", "cp310-cp310", "cp311-cp311"], ["avx", "avx2", "avx512"]),
    ("gentoo2023", ["cp310-cp310", "cp311-cp311", "cp312-cp312", "cp313-cp313"], ["x86-64-v3", "x86-64-v4"]),
]
# Where in a project's history (fraction of its versions) each era starts.
ERA_STARTS = [0.0, 0.10, 0.15, 0.40]

# Project kinds of the catalog: pure (generic/ only), compiled without arch-specific builds
# (<layer>/generic), compiled with arch-specific builds (<layer>/<arch>).
KIND_WEIGHTS = {"pure": 0.66, "compiled": 0.18, "arch": 0.16}

# Well-known names open the catalog. At most one underscore in each (see new_project_name).
REAL_PURE = [
    "requests", "six", "attrs", "packaging", "idna", "certifi", "urllib3", "Jinja2", "click",
    "pytz", "python_dateutil", "tqdm", "toolz", "cycler", "decorator", "pyparsing", "tomli",
    "typing_extensions", "filelock", "fsspec", "networkx", "sympy", "mpmath", "Pygments",
    "docutils", "Sphinx", "alabaster", "babel", "imagesize", "snowballstemmer", "pluggy",
    "iniconfig", "pytest", "nbformat", "jsonschema", "traitlets", "tornado", "ipython",
    "jedi", "parso", "wcwidth", "prompt_toolkit", "executing", "asttokens", "pure_eval",
    "matplotlib_inline", "joblib", "threadpoolctl", "xarray", "dask", "distributed", "cloudpickle",
    "partd", "locket", "zict", "tblib", "sortedcontainers", "toml", "setuptools_scm", "wheel",
    "snakemake", "ConfigArgParse", "smart_open", "pyproject_hooks", "virtualenv", "mock",
    "appdirs", "platformdirs", "keras", "absl_py", "opt_einsum", "astunparse", "gast", "termcolor",
    "Markdown", "Werkzeug", "flatbuffers", "tensorboard", "einops", "timm",
    "huggingface_hub", "transformers", "accelerate", "datasets", "evaluate",
    "mdurl", "myst_parser", "pyyaml_include", "ruamel_yaml", "pooch", "xyzservices",
    "bokeh", "panel", "param", "holoviews", "colorcet", "imageio", "tifffile", "lazy_loader",
    "nibabel", "pydicom", "ase", "seekpath",
    "pybtex", "monty", "latexcodec", "uncertainties", "pint", "emcee",
    "corner", "dynesty", "ligo_segments", "gwpy", "bilby",
]
REAL_COMPILED = [
    "PyYAML", "MarkupSafe", "pyzmq", "psutil", "cffi", "msgpack", "kiwisolver", "pillow",
    "lxml", "regex", "wrapt", "charset_normalizer", "pycryptodome", "bcrypt", "cryptography",
    "zstandard", "lz4", "brotli", "ujson", "orjson", "greenlet", "gevent", "netCDF4",
    "cftime", "pyproj", "shapely", "fiona", "rasterio", "GDAL", "mpi4py", "h5py",
    "sentencepiece", "tokenizers", "safetensors", "pysam", "pybigwig", "biopython", "datrie",
]
REAL_ARCH = [
    "numpy", "scipy", "pandas", "scikit_learn", "torch", "torchvision", "torchaudio",
    "tensorflow", "jaxlib", "numba", "llvmlite", "matplotlib", "scikit_image", "opencv_python",
    "pyarrow", "numexpr", "Bottleneck", "tables", "statsmodels", "xgboost", "lightgbm",
    "faiss", "cupy", "mdtraj", "openmm", "rdkit", "healpy", "astropy", "pywavelets", "cython",
]

# Words for synthetic names and identifiers (no underscores inside a word, no Python keyword).
WORDS = """
astro atlas bio cell chem cloud cluster cosmo crystal cube data deep dense dict diff dock
edge eigen elastic field flow flux fold forge frame fuzzy gauss gene geo glyph graph grid
hash heap helix hydro image index infer kernel lattice layer lens linear lumen magnet
map matrix mesh meta micro model mol morph nano net neuro node numeric ocean optic orbit
panel parse part path peak phase photon pixel plasma plot point poly prism proto pulse
quant quasar query radar range raster ray reef relay rhythm ring robo sample scale scan
schema seed seis sensor seq shape shard signal solver sonic sparse spatial spectral sphere
spin stat stream struct swarm symbol tensor terra text thermo tile time token topo trace
track tree vector velo vertex vision volume voxel wave weave xray zone
""".split()
SUFFIXES = "py lib kit io tools utils core lab suite plus engine viz fit sim".split()
PREFIXES = "py django flask sphinx pytest types jupyter napari mkdocs dask".split()

# A small C file: the library compiled wheels carry (a real ELF, nothing but libc needed).
EXT_C = r"""
/* A tiny numeric kernel: enough to be a real shared library with code, data and a libc
   dependency (snprintf). */
#include <stddef.h>
#include <stdio.h>

static const double weights[8] = {0.5, 0.25, 0.125, 0.0625, 0.03125, 0.015625, 0.0078125, 0.00390625};

double bench_weighted_sum(const double *values, size_t count)
{
    double total = 0.0;
    for (size_t i = 0; i < count; i++)
        total += values[i] * weights[i % 8];
    return total;
}

int bench_describe(char *out, size_t size, double value)
{
    return snprintf(out, size, "weighted sum %.6g", value);
}

long bench_checksum(const unsigned char *bytes, size_t count)
{
    long sum = 17;
    for (size_t i = 0; i < count; i++)
        sum = sum * 31 + bytes[i];
    return sum;
}
"""


def log(message: str) -> None:
    print(f"gen_wheelhouse: {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------- wheel writing


def record_hash(data: bytes) -> str:
    """RECORD's digest form: sha256=<urlsafe base64 without padding>."""
    digest = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def expand_tags(tag_set: str) -> list[str]:
    """py2.py3-none-any -> [py2-none-any, py3-none-any]."""
    python, abi, platform = tag_set.split("-")
    return [f"{p}-{a}-{pl}" for p in python.split(".") for a in abi.split(".") for pl in platform.split(".")]


def display_name(name: str) -> str:
    """The Name: field: what the project calls itself (scikit_learn -> scikit-learn)."""
    return name.replace("_", "-")


def write_wheel(path: str, name: str, version: str, tag_set: str, members: list[tuple[str, bytes, int]],
                summary: str, requires: list[str] = (), extras: dict[str, list[str]] | None = None) -> None:
    """Writes a wheel: `members` (archive name, bytes, deflate level) first, then the
    dist-info files, RECORD last. `name` is the file name's (escaped) project name."""
    dist_info = f"{name}-{version}.dist-info"
    purelib = tag_set.endswith("-none-any")
    metadata = [
        "Metadata-Version: 2.1",
        f"Name: {display_name(name)}",
        f"Version: {version}",
        f"Summary: {summary}",
        "Home-page: https://example.invalid/" + name.lower(),
        "License: BSD-3-Clause",
        "Requires-Python: >=3.8",
    ]
    metadata += [f"Requires-Dist: {req}" for req in requires]
    for extra, extra_requires in (extras or {}).items():
        metadata += [f'Requires-Dist: {req}; extra == "{extra}"' for req in extra_requires]
        metadata.append(f"Provides-Extra: {extra}")
    metadata_text = "\n".join(metadata) + "\n\n" + f"# {display_name(name)}\n\n{summary}.\n"
    wheel_text = "Wheel-Version: 1.0\nGenerator: gen_wheelhouse (1.0)\n"
    wheel_text += f"Root-Is-Purelib: {'true' if purelib else 'false'}\n"
    wheel_text += "".join(f"Tag: {tag}\n" for tag in expand_tags(tag_set))
    members = list(members) + [
        (f"{dist_info}/METADATA", metadata_text.encode(), 6),
        (f"{dist_info}/WHEEL", wheel_text.encode(), 6),
        (f"{dist_info}/top_level.txt", (name.lower() + "\n").encode(), 6),
    ]
    record = io.StringIO()
    writer = csv.writer(record, lineterminator="\n")
    for arcname, data, _level in members:
        writer.writerow([arcname, record_hash(data), len(data)])
    writer.writerow([f"{dist_info}/RECORD", "", ""])
    members.append((f"{dist_info}/RECORD", record.getvalue().encode(), 6))

    temp = path + ".part"
    with zipfile.ZipFile(temp, "w") as archive:
        for arcname, data, level in members:
            info = zipfile.ZipInfo(arcname, date_time=ZIP_DATE)
            info.external_attr = (0o755 if arcname.endswith(".so") else 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data, compresslevel=level)
    os.replace(temp, path)


# ------------------------------------------------------------------------- the catalog


class Project:
    """One project of the catalog and every wheel of it the tree holds."""

    def __init__(self, name: str, kind: str, versions: list[str], rng: random.Random, index: int = 0):
        self.name = name
        self.kind = kind
        self.versions = versions
        self.rng = rng
        # Its place in the catalog: requirements name only earlier projects.
        self.index = index

    def wheels(self) -> list[tuple[str, str, str]]:
        """(directory, file name, size class) of each of the project's tree wheels, oldest
        version first."""
        rng = self.rng
        out = []
        count = len(self.versions)
        for position, version in enumerate(self.versions):
            fraction = position / count
            era = max(i for i, start in enumerate(ERA_STARTS) if fraction >= start)
            layer, pythons, archs = ERAS[era]
            # Old builds often predate the local version label.
            full = version if (era == 0 and rng.random() < 0.5) else f"{version}+{LOCAL}"
            if self.kind == "pure":
                tag = "py2.py3-none-any" if era < 2 and rng.random() < 0.6 else "py3-none-any"
                out.append(("generic", f"{self.name}-{full}-{tag}.whl", "pure"))
                continue
            # Compiled: not every version was built for every Python of its era.
            built = [p for p in pythons if rng.random() < 0.8] or pythons[-1:]
            if self.kind == "compiled":
                targets = ["generic"]
            else:
                targets = [a for a in archs if rng.random() < 0.85] or archs[-1:]
            for arch in targets:
                for python in built:
                    size_class = "compiled" if self.kind == "compiled" else "arch"
                    out.append((f"{layer}/{arch}", f"{self.name}-{full}-{python}-linux_x86_64.whl", size_class))
        return out


def make_versions(rng: random.Random, count: int) -> list[str]:
    """`count` increasing versions in a realistic style (semver-like or calendar)."""
    if rng.random() < 0.12:
        year, minor = rng.randint(2016, 2020), rng.randint(1, 12)
        versions = []
        for _ in range(count):
            versions.append(f"{year}.{minor}.{rng.randint(0, 3)}" if rng.random() < 0.3 else f"{year}.{minor}")
            minor += rng.randint(1, 4)
            if minor > 12:
                year, minor = year + 1, minor - 12
        return versions
    major, minor, patch = rng.choice([0, 0, 0, 1, 1, 2, 3]), rng.randint(0, 20), 0
    versions = []
    for _ in range(count):
        short = patch == 0 and rng.random() < 0.3  # 1.4 rather than 1.4.0
        versions.append(f"{major}.{minor}" if short else f"{major}.{minor}.{patch}")
        step = rng.random()
        if step < 0.6:
            patch += 1
        elif step < 0.93:
            minor, patch = minor + 1, 0
        else:
            major, minor, patch = major + 1, 0, 0
    return versions


def bump(version: str) -> str:
    """A version newer than `version` (and than any patch release of it)."""
    parts = version.split(".")
    parts[1] = str(int(parts[1]) + 1)
    return ".".join(parts[:2] + ["0"])


def catalog_name(rng: random.Random) -> str:
    """A synthetic project name with at most one underscore."""
    w1, w2 = rng.sample(WORDS, 2)
    pattern = rng.random()
    if pattern < 0.3:
        return w1 + w2
    if pattern < 0.45:
        return "py" + w1
    if pattern < 0.7:
        return f"{w1}_{rng.choice(SUFFIXES)}"
    if pattern < 0.85:
        return f"{rng.choice(PREFIXES)}_{w1}"
    return f"{w1}_{w2}"


def new_project_name(rng: random.Random) -> str:
    """A name with exactly two underscores: never a catalog name (at most one), so a new
    project is new for every tree, and cp_wheels.sh's `find -name 'NAME-*.whl'` matches
    no tree wheel."""
    w1, w2 = rng.sample(WORDS, 2)
    return f"{w1}_{w2}_{rng.choice(SUFFIXES)}"


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def catalog(seed: int):
    """The endless, deterministic stream of catalog projects."""
    seen = set()
    real = [(n, "pure") for n in REAL_PURE] + [(n, "compiled") for n in REAL_COMPILED]
    real += [(n, "arch") for n in REAL_ARCH]
    random.Random(f"{seed}:real-order").shuffle(real)
    index = 0
    while True:
        rng = random.Random(f"{seed}:project:{index}")
        if index < len(real):
            name, kind = real[index]
        else:
            kind = rng.choices(list(KIND_WEIGHTS), weights=list(KIND_WEIGHTS.values()))[0]
            name = catalog_name(rng)
            while normalized(name) in seen:
                name = catalog_name(rng)
        assert name.count("_") <= 1, name
        seen.add(normalized(name))
        # Versions: most projects have a few, some many (a long history).
        count = min(1 + int(rng.expovariate(1 / (6 if kind == "pure" else 4))), 60)
        yield Project(name, kind, make_versions(rng, count), rng, index)
        index += 1


# ------------------------------------------------------------------------- requirements

# Projects that offer an extra `all` (every fifth), and how many earlier projects it needs.
EXTRA = "all"


def major_of(version: str) -> int:
    return int(version.split(".")[0])


def requirement(dep: Project, rng: random.Random) -> str:
    """A requirement on `dep` as projects write them: mostly a lower bound among its versions,
    some with an upper bound (a few that no version of it meets), a marker, or its extra."""
    name = display_name(dep.name)
    if dep.index % 5 == 0 and rng.random() < 0.2:
        name += f"[{EXTRA}]"
    low = dep.versions[rng.randrange(len(dep.versions))]
    roll = rng.random()
    if roll < 0.45:
        spec = f">={low}"
    elif roll < 0.7:
        spec = ""
    elif roll < 0.88:
        spec = f">={low},<{major_of(dep.versions[-1]) + 1}"
    elif roll < 0.96:
        spec = f"<{major_of(low) + 1}"
    else:
        # A pin on a version the tree does not have: a hole.
        spec = f"=={major_of(dep.versions[-1]) + 1}.0"
    roll = rng.random()
    marker = ""
    if roll < 0.08:
        marker = '; python_version < "3.12"'
    elif roll < 0.12:
        marker = '; sys_platform == "win32"'
    return f"{name}{spec}{marker}"


def requirements(project: Project, earlier: list[Project], seed: int) -> tuple[list[str], dict[str, list[str]]]:
    """The Requires-Dist of every wheel of `project` (the same for all its versions), and its
    extras, deterministic by seed and catalog position: earlier projects only, the first ones
    (the well-known names) most often."""
    rng = random.Random(f"{seed}:requires:{project.index}")
    pool = earlier[:600]
    if not pool or rng.random() < 0.3:
        return [], {}
    count = rng.choice([1, 1, 2, 2, 3, 3, 4, 5, 7])
    deps = {}
    for _ in range(count):
        dep = pool[min(int(rng.expovariate(1 / 80)), len(pool) - 1)]
        deps[dep.index] = dep
    requires = [requirement(dep, rng) for dep in deps.values()]
    extras = {}
    if project.index % 5 == 0:
        extra_deps = [pool[rng.randrange(len(pool))] for _ in range(rng.randint(1, 2))]
        extras[EXTRA] = [f"{display_name(dep.name)}>={dep.versions[0]}" for dep in extra_deps]
    return requires, extras


# ------------------------------------------------------------------------- the tree

# Template sizes (bytes) per size class, with weights: tree wheels are hard links to these.
TEMPLATE_SIZES = {
    "pure": [(12_000, 3), (60_000, 4), (250_000, 2), (1_200_000, 1)],
    "compiled": [(150_000, 2), (600_000, 3), (2_500_000, 1)],
    "arch": [(900_000, 2), (6_000_000, 2), (40_000_000, 1)],
}


def make_templates(directory: str, seed: int) -> dict[str, list[tuple[str, int]]]:
    """Writes the template wheels (valid wheels of a project `wheelhouse_template`) and
    returns {size class: [(path, weight)]}."""
    os.makedirs(directory, exist_ok=True)
    rng = random.Random(f"{seed}:templates")
    templates: dict[str, list[tuple[str, int]]] = {}
    number = 0
    for size_class, sizes in TEMPLATE_SIZES.items():
        for size, weight in sizes:
            number += 1
            version = f"1.{number}"
            tag = "py3-none-any" if size_class == "pure" else "cp311-cp311-linux_x86_64"
            path = os.path.join(directory, f"wheelhouse_template-{version}-{tag}.whl")
            if not os.path.exists(path):
                members = [("wheelhouse_template/__init__.py", b'"""Template."""\n', 6),
                           ("wheelhouse_template/payload.bin", rng.randbytes(size), 1)]
                write_wheel(path, "wheelhouse_template", version, tag, members,
                            "A template wheel for a generated tree")
            templates.setdefault(size_class, []).append((path, weight))
    return templates


def generate_tree(root: str, size: int, seed: int, files: str, templates_dir: str, manifest: str | None) -> None:
    start = time.monotonic()
    for directory in TREE_DIRS:
        os.makedirs(os.path.join(root, directory), exist_ok=True)
    templates = make_templates(templates_dir, seed) if files == "links" and size else {}
    pick = random.Random(f"{seed}:tree-links")
    counts = {d: 0 for d in TREE_DIRS}
    projects = 0
    placed = set()
    written = 0
    stream = catalog(seed)
    earlier: list[Project] = []
    while written < size:
        project = next(stream)
        projects += 1
        requires, extras = requirements(project, earlier, seed) if files == "wheels" else ([], {})
        earlier.append(project)
        for directory, file_name, size_class in project.wheels():
            if written >= size:
                break
            path = os.path.join(root, directory, file_name)
            if files == "links":
                paths, weights = zip(*templates[size_class])
                os.link(pick.choices(paths, weights=weights)[0], path)
            else:
                name, rest = file_name.split("-", 1)
                version, tag = rest[: -len(".whl")].split("-", 1)
                members = [(f"{name.lower()}/__init__.py", f'"""{name} {version}."""\n'.encode(), 6)]
                write_wheel(path, name, version, tag, members, f"The {name} project", requires, extras)
            placed.add((directory, file_name))
            counts[directory] += 1
            written += 1
    for directory in TREE_DIRS:
        log(f"  {directory:22} {counts[directory]:7}  ({100 * counts[directory] / max(size, 1):4.1f}%)")
    log(f"tree {root}: {written} wheels of {projects} projects ({files}) in {time.monotonic() - start:.1f}s")
    if manifest:
        check_against_manifest(root, manifest, placed)


def check_against_manifest(root: str, manifest: str, placed: set) -> None:
    """No new wheel may already be in the tree; says how many of the new wheels' projects
    the tree holds."""
    tree_projects = {normalized(file_name.split("-", 1)[0]) for _, file_name in placed}
    clashes, present, overlap = [], 0, 0
    with open(manifest, newline="") as handle:
        for row in csv.reader(handle, delimiter="\t"):
            if not row or row[0].startswith("#"):
                continue
            file_name, dest, state = row[0], row[1], row[5]
            if (dest, file_name) in placed:
                clashes.append(f"{dest}/{file_name}")
            if state == "new-version":
                overlap += 1
                present += normalized(file_name.split("-", 1)[0]) in tree_projects
    if clashes:
        sys.exit(f"gen_wheelhouse: new wheels already in the tree {root}: {clashes[:5]}")
    log(f"tree {root}: {present} of the {overlap} new wheels that are new versions of catalog projects "
        "find their project in it")


# ------------------------------------------------------------------------- new wheels


# The RUNPATH a wheel built in StdEnv/2023 carries (its compiler runtime's directory in the
# 2023 stack's Core tree, the same for every arch): it ties the wheel to the gentoo2023 layer,
# and names no arch (/x86-64-v3/Core/ is the layout's `not_arch_rpath`). Without it a library
# that needs only old glibc symbols runs everywhere, and both wheel_architecture.sh and
# `wheelwright inspect` send the wheel to the top-level generic/, not gentoo2023/generic/.
EXT_RUNPATH = "/cvmfs/soft.computecanada.ca/easybuild/software/2023/x86-64-v3/Core/gcccore/12.3/lib64"


def build_extension(workdir: str) -> bytes:
    """Compiles EXT_C once: gcc -shared -fPIC -O2 at the compiler's default arch (plain
    x86-64), with the gentoo2023 RUNPATH."""
    source = os.path.join(workdir, "ext.c")
    output = os.path.join(workdir, "_ext.so")
    with open(source, "w") as handle:
        handle.write(EXT_C)
    compiler = os.environ.get("CC", "gcc")
    try:
        command = [compiler, "-shared", "-fPIC", "-O2", "-o", output, source, f"-Wl,-rpath,{EXT_RUNPATH}"]
        subprocess.run(command, check=True)
    except (OSError, subprocess.CalledProcessError) as error:
        sys.exit(f"gen_wheelhouse: cannot build the extension library with {compiler}: {error}")
    with open(output, "rb") as handle:
        return handle.read()


class CodeWriter:
    """Python source that compresses like real code: functions and classes from a pool of
    snippets with varied identifiers, constants and docstrings."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.pool = [self.snippet() for _ in range(600)]
        # Every module is a header and snippets: all of them compile if each does.
        for snippet in self.pool:
            compile(snippet.replace("@P@", "pkg"), "<snippet>", "exec")

    def ident(self) -> str:
        rng = self.rng
        return "_".join(rng.sample(WORDS, rng.randint(1, 3)))

    def snippet(self) -> str:
        rng = self.rng
        name, arg1, local = self.ident(), self.ident(), self.ident()
        arg2 = self.ident()
        while arg2 == arg1:  # a repeated parameter name is a syntax error
            arg2 = self.ident()
        doc = " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 20)))
        body = []
        for _ in range(rng.randint(3, 12)):
            choice = rng.random()
            if choice < 0.3:
                body.append(f"    {local} = {arg1}.{self.ident()}({arg2}, {rng.randint(0, 999)})")
            elif choice < 0.5:
                body.append(f"    if {local} is None or len({arg2}) > {rng.randint(1, 64)}:")
                body.append(f"        raise ValueError(f\"{{{arg1}!r}}: {rng.choice(WORDS)} {rng.choice(WORDS)}\")")
            elif choice < 0.7:
                body.append(f"    for {self.ident()} in range({rng.randint(2, 256)}):")
                body.append(f"        {local} += {rng.random():.6f} * {arg1}[{rng.randint(0, 9)}]")
            elif choice < 0.85:
                numbers = ", ".join(str(rng.randint(0, 10_000)) for _ in range(rng.randint(2, 8)))
                body.append(f"    {local} = [{numbers}]")
            else:
                body.append(f"    # {' '.join(rng.choice(WORDS) for _ in range(rng.randint(3, 10)))}")
        body.append(f"    return {local}")
        if rng.random() < 0.25:
            head = (f"class @P@{name.title().replace('_', '')}:\n"
                    f"    \"\"\"{doc}.\"\"\"\n\n"
                    f"    def {self.ident()}(self, {arg1}, {arg2}=None):\n")
            return head + "\n".join("    " + line for line in body) + "\n\n\n"
        head = f"def @P@{name}({arg1}, {arg2}={rng.randint(0, 100)}):\n    \"\"\"{doc}.\"\"\"\n"
        return head + "\n".join(body) + "\n\n\n"

    def module(self, approx_bytes: int, prefix: str) -> bytes:
        parts, size = [f'"""{prefix}: generated module."""\n\nimport math\nimport os\n\n\n'], 0
        while size < approx_bytes:
            snippet = self.rng.choice(self.pool).replace("@P@", prefix)
            parts.append(snippet)
            size += len(snippet)
        return "".join(parts).encode()


def log_uniform(rng: random.Random, low: float, high: float) -> int:
    return int(math.exp(rng.uniform(math.log(low), math.log(high))))


def payload(rng: random.Random, code: CodeWriter, package: str, target: int) -> list[tuple[str, bytes, int]]:
    """Package members for a wheel of about `target` bytes (compressed): Python code
    (deflates ~4x) and, in some wheels, random binary data (does not deflate)."""
    big = target > 1_500_000
    binary_share = rng.uniform(0.5, 0.85) if big else (rng.uniform(0.0, 0.4) if rng.random() < 0.5 else 0.0)
    binary = int(target * binary_share)
    code_bytes = int((target - binary) * 4.2)
    members = [(f"{package}/__init__.py", f'"""{package}."""\n__version__ = "0"\n'.encode(), 6)]
    modules = max(1, code_bytes // 60_000)
    for index in range(modules):
        members.append((f"{package}/{code.ident()}_{index}.py", code.module(code_bytes // modules, package), 6))
    if binary:
        chunks = max(1, binary // 4_000_000)
        for index in range(chunks):
            # Level 1: random data does not deflate at any level; this only saves time.
            members.append((f"{package}/data/blob_{index}.bin", rng.randbytes(binary // chunks), 1))
    return members


def generate_new(staging: str, count: int, manifest: str, seed: int) -> None:
    start = time.monotonic()
    os.makedirs(staging, exist_ok=True)
    rng = random.Random(f"{seed}:new")
    code = CodeWriter(random.Random(f"{seed}:code"))
    with tempfile.TemporaryDirectory() as workdir:
        extension = build_extension(workdir)

    # Candidates for new versions: the first catalog projects without arch-specific builds
    # (cp_wheels.sh refuses a generic wheel of a project with arch-specific ones).
    stream = catalog(seed)
    first = [next(stream) for _ in range(700)]
    reuse = {"pure": [p for p in first if p.kind == "pure"], "compiled": [p for p in first if p.kind == "compiled"]}
    for pool in reuse.values():
        rng.shuffle(pool)
    taken_names = {normalized(p.name) for p in first}

    n_compiled = round(count * 0.25)
    n_pure = count - n_compiled
    # Compiled: one project version yields three wheels (cp311, cp312, cp313).
    jobs = [("pure", 1)] * n_pure + [("compiled", 3)] * (n_compiled // 3)
    if n_compiled % 3:
        jobs.append(("compiled", n_compiled % 3))
    rng.shuffle(jobs)

    rows, total = [], 0
    for kind, wheels in jobs:
        if reuse[kind] and rng.random() < 0.4:
            project = reuse[kind].pop()
            name, version, state = project.name, bump(project.versions[-1]), "new-version"
        else:
            name = new_project_name(rng)
            while normalized(name) in taken_names:
                name = new_project_name(rng)
            version, state = make_versions(rng, 1)[0], "new-project"
        taken_names.add(normalized(name))
        full = f"{version}+{LOCAL}"
        package = name.lower()
        target = log_uniform(rng, 2_000_000, 20_000_000) if rng.random() < 0.05 else log_uniform(rng, 20_000, 500_000)
        members = payload(rng, code, package, target)
        requires = [f"{display_name(p.name)}>={p.versions[0]}" for p in rng.sample(first, rng.randint(0, 4))]
        summary = f"{' '.join(rng.choice(WORDS) for _ in range(4)).capitalize()} tools"
        if kind == "pure":
            tags = ["py3-none-any"]
        else:
            tags = ["cp311-cp311-linux_x86_64", "cp312-cp312-linux_x86_64", "cp313-cp313-linux_x86_64"][:wheels]
        for tag in tags:
            wheel_members = list(members)
            if kind == "compiled":
                abi = tag.split("-")[0][2:]
                wheel_members.append((f"{package}/_ext.cpython-{abi}-x86_64-linux-gnu.so", extension, 6))
            file_name = f"{name}-{full}-{tag}.whl"
            path = os.path.join(staging, file_name)
            write_wheel(path, name, full, tag, wheel_members, summary, requires)
            with open(path, "rb") as handle:
                data = handle.read()
            dest = "generic" if kind == "pure" else "gentoo2023/generic"
            rows.append([file_name, dest, len(data), hashlib.sha256(data).hexdigest(), kind, state])
            total += len(data)
    with open(manifest, "w", newline="") as handle:
        handle.write("# file\tdest\tbytes\tsha256\tkind\tproject\n")
        csv.writer(handle, delimiter="\t", lineterminator="\n").writerows(rows)
    sizes = sorted(row[2] for row in rows)
    log(f"staging {staging}: {len(rows)} wheels, {total / 1e6:.0f} MB "
        f"(median {sizes[len(sizes) // 2] / 1e3:.0f} KB, {sum(s > 2_000_000 for s in sizes)} over 2 MB, "
        f"{sum(r[4] == 'compiled' for r in rows)} compiled, "
        f"{sum(r[5] == 'new-version' for r in rows)} new versions of catalog projects) "
        f"in {time.monotonic() - start:.1f}s")


# ------------------------------------------------------------------------- verification


def verify_wheel(path: str) -> list[str]:
    """Problems an installer would find in the wheel at `path` (empty: valid)."""
    problems = []
    file_name = os.path.basename(path)
    name, version, *rest = file_name[: -len(".whl")].split("-")
    tag_set = "-".join(rest[-3:])
    with zipfile.ZipFile(path) as archive:
        bad = archive.testzip()
        if bad:
            return [f"{bad}: bad CRC"]
        dist_info = f"{name}-{version}.dist-info"
        names = archive.namelist()
        if f"{dist_info}/RECORD" not in names:
            return [f"no {dist_info}/RECORD"]
        wheel = archive.read(f"{dist_info}/WHEEL").decode()
        tags = sorted(line[len("Tag: "):] for line in wheel.splitlines() if line.startswith("Tag: "))
        if tags != sorted(expand_tags(tag_set)):
            problems.append(f"WHEEL tags {tags} do not match the file name's {tag_set}")
        purelib = "Root-Is-Purelib: true" in wheel
        if purelib != tag_set.endswith("-none-any"):
            problems.append("Root-Is-Purelib does not fit the tags")
        metadata = archive.read(f"{dist_info}/METADATA").decode()
        if f"\nVersion: {version}\n" not in metadata:
            problems.append(f"METADATA Version is not {version}")
        if normalized(re.search(r"^Name: (.*)$", metadata, re.M).group(1)) != normalized(name):
            problems.append("METADATA Name does not match the file name")
        listed = {}
        for row in csv.reader(io.StringIO(archive.read(f"{dist_info}/RECORD").decode())):
            listed[row[0]] = (row[1], row[2])
        if listed.get(f"{dist_info}/RECORD") != ("", ""):
            problems.append("RECORD does not list itself with an empty hash and size")
        for member in names:
            if member.endswith("/") or member == f"{dist_info}/RECORD":
                continue
            if member not in listed:
                problems.append(f"{member} is not in RECORD")
                continue
            data = archive.read(member)
            if listed[member] != (record_hash(data), str(len(data))):
                problems.append(f"{member}: RECORD says {listed[member]}, content is {record_hash(data)},{len(data)}")
        problems += [f"{m} is in RECORD but not in the archive" for m in listed if m not in names]
        # The Python code must compile (the first modules of each wheel: they all come from
        # the same pool of snippets).
        for member in [n for n in names if n.endswith(".py")][:2]:
            try:
                compile(archive.read(member), member, "exec")
            except SyntaxError as error:
                problems.append(f"{member}: {error}")
    return problems


def verify(directory: str) -> None:
    paths = sorted(os.path.join(directory, f) for f in os.listdir(directory) if f.endswith(".whl"))
    failed = 0
    for path in paths:
        for problem in verify_wheel(path):
            print(f"{os.path.basename(path)}: {problem}", file=sys.stderr)
            failed += 1
    if failed or not paths:
        sys.exit(f"gen_wheelhouse: {failed} problems in {len(paths)} wheels in {directory}")
    log(f"verify {directory}: {len(paths)} wheels valid "
        "(zip CRCs, dist-info, WHEEL tags, every RECORD hash and size, Python code compiles)")


# ------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=1, help="random seed [1]")
    parser.add_argument("--tree", metavar="ROOT", help="write a tree of --tree-size wheels under ROOT")
    parser.add_argument("--tree-size", type=int, default=50_000, metavar="N", help="wheels in the tree [50000]")
    parser.add_argument("--tree-files", choices=["links", "wheels"], default="links",
                        help="tree wheels as hard links to templates (fast, realistic sizes) "
                        "or as small wheels of their own names [links]")
    parser.add_argument("--templates", metavar="DIR", help="where the templates go [ROOT.templates]")
    parser.add_argument("--staging", metavar="DIR", help="write --new new wheels into DIR")
    parser.add_argument("--new", type=int, default=1_000, metavar="M", help="new wheels [1000]")
    parser.add_argument("--manifest", metavar="FILE",
                        help="the new wheels' manifest (written with --staging; "
                        "with --tree, checked against the tree)")
    parser.add_argument("--verify", metavar="DIR", help="check every wheel in DIR")
    args = parser.parse_args()
    if not (args.tree or args.staging or args.verify):
        parser.error("nothing to do: give --tree, --staging or --verify")
    if args.tree_size < 0 or args.new < 1:
        parser.error("--tree-size must be >= 0 and --new >= 1")
    if args.staging:
        if not args.manifest:
            parser.error("--staging needs --manifest")
        generate_new(args.staging, args.new, args.manifest, args.seed)
    if args.tree:
        root = os.path.abspath(args.tree)
        if os.path.exists(root) and any(os.scandir(root)):
            parser.error(f"--tree {root} exists and is not empty")
        templates = args.templates or root.rstrip("/") + ".templates"
        generate_tree(root, args.tree_size, args.seed, args.tree_files, templates, args.manifest)
    if args.verify:
        verify(args.verify)


if __name__ == "__main__":
    main()
