#!/usr/bin/env python3
"""Cross-checks `wheelwright inspect --json --no-scan` against pyelftools and auditwheel.

Run by ci/compare-auditwheel.sh (which makes the venv with auditwheel and pyelftools);
see there for the whole story. Usage:

    compare_auditwheel.py [--wheelwright BIN | --reference-only] [--auditwheel BIN]
                          [--no-auditwheel] [--json-out FILE] WHEEL...

For every ELF member of every wheel (a member whose first four bytes are \\x7fELF), read
from the wheel into memory and parsed with pyelftools:
  soname   DT_SONAME of the dynamic section (null when absent)
  needed   DT_NEEDED entries, in file order (compared as a set; the order is checked too)
  rpath    DT_RPATH entries split on ':' (compared as a set)
  runpath  DT_RUNPATH entries split on ':' (compared as a set)
  glibc    the highest GLIBC_x.y[.z] version named in the GNU version-needs section
           (.gnu.version_r), over every needed library (null when none)
These are compared with the `elf_files` entry of the same member path in wheelwright's
JSON; an ELF member missing on either side is a mismatch too. At the wheel level, the
`glibc` of wheelwright's JSON is compared with the highest GLIBC_ version in the
`versioned_symbols` of `auditwheel show --json` (auditwheel leaves out the version needs
on ld-linux*.so / ld64.so.*, so when that alone explains a difference, it is reported as a
note and not as a mismatch), and auditwheel's `sym_tag` is checked to be the lowest
manylinux policy that allows that glibc.

Prints a per-wheel table and every mismatch as `MISMATCH wheel | file | field | ours | theirs`.
Exit status: 0 when nothing differs, 1 on any mismatch, 2 on a usage or tool error.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from elftools.common.exceptions import ELFError
from elftools.elf.dynamic import DynamicSection, DynamicSegment
from elftools.elf.elffile import ELFFile
from elftools.elf.gnuversions import GNUVerNeedSection

ELF_MAGIC = b"\x7fELF"
GLIBC_RE = re.compile(r"^GLIBC_(\d+(?:\.\d+)+)$")
# auditwheel's elf_find_versioned_symbols skips these version-need files.
LOADER_RE = re.compile(r"^(ld-linux.*|ld64\.so\.[12])$")


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def max_version(versions) -> str | None:
    versions = list(versions)
    return max(versions, key=version_key) if versions else None


def glibc_versions(names) -> list[str]:
    out = []
    for name in names:
        m = GLIBC_RE.match(name)
        if m:
            out.append(m.group(1))
    return out


def prefixed_versions(names, prefix: str) -> list[str]:
    """The x.y[.z] of every PREFIXx.y[.z] name (GLIBCXX_3.4.21, CXXABI_1.3.9, ...)."""
    pattern = re.compile("^" + re.escape(prefix) + r"(\d+(?:\.\d+)*)$")
    return [m.group(1) for m in map(pattern.match, names) if m]


def versioned_symbols(symbol_versions_by_file, skip_loader: bool = True) -> dict[str, set[str]]:
    """Union over files of {library: version names}, like auditwheel's versioned_symbols."""
    out: dict[str, set[str]] = {}
    for by_library in symbol_versions_by_file:
        for library, names in (by_library or {}).items():
            if skip_loader and LOADER_RE.match(library):
                continue
            out.setdefault(library, set()).update(names)
    return out


def fmt_map(mapping: dict[str, set[str]] | None) -> str:
    if mapping is None:
        return "null"
    return "{" + "; ".join(f"{k}: {' '.join(sorted(v))}" for k, v in sorted(mapping.items())) + "}"


# ------------------------------------------------------------------------ pyelftools side
@dataclass
class RefElf:
    path: str
    e_type: str
    soname: str | None = None
    needed: list[str] = field(default_factory=list)
    rpath: list[str] = field(default_factory=list)
    runpath: list[str] = field(default_factory=list)
    glibc: str | None = None  # over every version-need file
    glibcxx: str | None = None
    cxxabi: str | None = None
    symbol_versions: dict[str, list[str]] = field(default_factory=dict)  # library -> version names
    glibc_no_loader: str | None = None  # auditwheel's way: without ld-linux*/ld64.so.*
    error: str | None = None

    def as_json(self) -> dict:
        return {
            "path": self.path,
            "e_type": self.e_type,
            "soname": self.soname,
            "needed": self.needed,
            "rpath": self.rpath,
            "runpath": self.runpath,
            "glibc": self.glibc,
            "glibcxx": self.glibcxx,
            "cxxabi": self.cxxabi,
            "symbol_versions": self.symbol_versions,
            "glibc_no_loader": self.glibc_no_loader,
            "error": self.error,
        }


def dynamic_tags(elf: ELFFile):
    """The dynamic section's tags; the PT_DYNAMIC segment's when there are no section headers."""
    for section in elf.iter_sections():
        if isinstance(section, DynamicSection):
            return list(section.iter_tags())
    for segment in elf.iter_segments():
        if isinstance(segment, DynamicSegment):
            return list(segment.iter_tags())
    return []


def analyse_elf(path: str, data: bytes) -> RefElf:
    try:
        elf = ELFFile(io.BytesIO(data))
        ref = RefElf(path=path, e_type=str(elf.header["e_type"]))
        for tag in dynamic_tags(elf):
            d_tag = tag.entry.d_tag
            if d_tag == "DT_NEEDED":
                ref.needed.append(tag.needed)
            elif d_tag == "DT_SONAME":
                ref.soname = tag.soname
            elif d_tag == "DT_RPATH":
                ref.rpath.extend(tag.rpath.split(":"))
            elif d_tag == "DT_RUNPATH":
                ref.runpath.extend(tag.runpath.split(":"))
        all_names, no_loader = [], []
        for section in elf.iter_sections():
            if not isinstance(section, GNUVerNeedSection):
                continue
            for verneed, vernaux_iter in section.iter_versions():
                names = [vernaux.name for vernaux in vernaux_iter]
                all_names += names
                ref.symbol_versions.setdefault(verneed.name, [])
                ref.symbol_versions[verneed.name] += names
                if not LOADER_RE.match(verneed.name or ""):
                    no_loader += names
        ref.glibc = max_version(glibc_versions(all_names))
        ref.glibcxx = max_version(prefixed_versions(all_names, "GLIBCXX_"))
        ref.cxxabi = max_version(prefixed_versions(all_names, "CXXABI_"))
        ref.glibc_no_loader = max_version(glibc_versions(no_loader))
        return ref
    except (ELFError, ValueError, KeyError, AssertionError) as e:  # malformed: say so
        return RefElf(path=path, e_type="?", error=f"{type(e).__name__}: {e}")


def reference(wheel: Path) -> dict[str, RefElf]:
    out: dict[str, RefElf] = {}
    with zipfile.ZipFile(wheel) as zf:
        for info in zf.infolist():
            if info.is_dir() or info.file_size < 4:
                continue
            with zf.open(info) as f:
                if f.read(4) != ELF_MAGIC:
                    continue
            out[info.filename] = analyse_elf(info.filename, zf.read(info))
    return out


# ------------------------------------------------------------------------ the tools
def run_json(cmd: list[str], what: str):
    """Runs cmd; returns (parsed stdout JSON or None, exit code, stderr tail, seconds)."""
    start = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.monotonic() - start
    try:
        parsed = json.loads(proc.stdout)
    except json.JSONDecodeError:
        parsed = None
    tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
    if parsed is None:
        print(f"compare: {what} printed no JSON (exit {proc.returncode}): {tail}", file=sys.stderr)
    return parsed, proc.returncode, tail, seconds


def ours_for(wheelwright: str, wheel: Path):
    parsed, rc, tail, seconds = run_json(
        [wheelwright, "inspect", "--json", "--no-scan", str(wheel)], "wheelwright inspect"
    )
    if parsed is None:
        return None, rc, tail, seconds
    if isinstance(parsed, dict):  # tolerate a bare object, though the contract is an array
        parsed = [parsed]
    if not isinstance(parsed, list) or len(parsed) != 1 or not isinstance(parsed[0], dict):
        print(f"compare: wheelwright inspect: expected a one-element array, got {str(parsed)[:200]}",
              file=sys.stderr)
        return None, rc, tail, seconds
    return parsed[0], rc, tail, seconds


def auditwheel_for(auditwheel: str, wheel: Path):
    parsed, rc, tail, seconds = run_json([auditwheel, "show", "--json", str(wheel)], "auditwheel show")
    return parsed, rc, tail, seconds


def policy_glibc(tag: str | None) -> str | None:
    m = re.match(r"^manylinux_(\d+)_(\d+)_", tag or "")
    return f"{m.group(1)}.{m.group(2)}" if m else None


def manylinux_policy_glibcs() -> list[str]:
    """The glibc versions of auditwheel's manylinux policies for x86_64, ascending."""
    try:
        from auditwheel.architecture import Architecture
        from auditwheel.libc import Libc
        from auditwheel.policy import WheelPolicies

        policies = WheelPolicies(libc=Libc.GLIBC, arch=Architecture.x86_64)
        found = {policy_glibc(p.name) for p in policies}
    except Exception as e:  # noqa: BLE001 - an API change only loses this one check
        print(f"compare: note: cannot list auditwheel's policies ({e}); sym_tag check skipped",
              file=sys.stderr)
        return []
    return sorted((v for v in found if v), key=version_key)


# ------------------------------------------------------------------------ comparison
def fmt(value) -> str:
    if isinstance(value, (list, set, tuple)):
        return "[" + ", ".join(sorted(value) if isinstance(value, set) else value) + "]"
    return "null" if value is None else str(value)


@dataclass
class WheelResult:
    name: str
    elf_ours: int | str = "-"
    elf_ref: int = 0
    compared: int = 0
    mismatches: list[tuple[str, str, str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    glibc_ours: str | None = None
    glibc_ref: str | None = None
    glibc_audit: str | None = None
    sym_tag: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)

    def mismatch(self, file: str, fieldname: str, ours, theirs) -> None:
        self.mismatches.append((file, fieldname, fmt(ours), fmt(theirs)))


def compare_files(res: WheelResult, ours: dict, refs: dict[str, RefElf]) -> None:
    entries = ours.get("elf_files")
    if not isinstance(entries, list):
        res.mismatch("-", "elf_files", "missing or not an array", f"{len(refs)} ELF members")
        return
    by_path: dict[str, dict] = {}
    for entry in entries:
        path = entry.get("path") if isinstance(entry, dict) else None
        if not isinstance(path, str):
            res.mismatch("-", "elf_files", f"entry without a path: {str(entry)[:80]}", "-")
            continue
        if path in by_path:
            res.mismatch(path, "elf_files", "listed twice", "once")
        by_path[path] = entry
    res.elf_ours = len(by_path)
    for path in sorted(set(refs) - set(by_path)):
        res.mismatch(path, "presence", "not listed", f"ELF ({refs[path].e_type})")
    for path in sorted(set(by_path) - set(refs)):
        res.mismatch(path, "presence", "listed as ELF", "not an ELF member")
    for path in sorted(set(refs) & set(by_path)):
        ref, mine = refs[path], by_path[path]
        res.compared += 1
        if ref.error:
            res.notes.append(f"{path}: pyelftools could not parse it ({ref.error}); not compared")
            continue
        if mine.get("soname") != ref.soname:
            res.mismatch(path, "soname", mine.get("soname"), ref.soname)
        needed = mine.get("needed")
        if not isinstance(needed, list) or set(needed) != set(ref.needed):
            res.mismatch(path, "needed", needed, ref.needed)
        elif needed != ref.needed:
            res.mismatch(path, "needed (order)", needed, ref.needed)
        for key in ("rpath", "runpath"):
            value = mine.get(key)
            theirs = getattr(ref, key)
            if not isinstance(value, list) or set(value) != set(theirs):
                res.mismatch(path, key, value, theirs)
        for key in ("glibc", "glibcxx"):
            if mine.get(key) != getattr(ref, key):
                res.mismatch(path, key, mine.get(key), getattr(ref, key))
        # Beyond the contract: checked when wheelwright prints them.
        if "cxxabi" in mine and mine["cxxabi"] != ref.cxxabi:
            res.mismatch(path, "cxxabi", mine["cxxabi"], ref.cxxabi)
        if "symbol_versions" in mine:
            theirs_map = {k: set(v) for k, v in ref.symbol_versions.items()}
            mine_map = mine["symbol_versions"]
            if not isinstance(mine_map, dict) or {k: set(v) for k, v in mine_map.items()} != theirs_map:
                res.mismatch(path, "symbol_versions", fmt_map(mine_map if isinstance(mine_map, dict) else None),
                             fmt_map(theirs_map))


def compare_wheel(wheel: Path, args, policy_glibcs: list[str]) -> tuple[WheelResult, dict[str, RefElf]]:
    res = WheelResult(name=wheel.name)
    start = time.monotonic()
    refs = reference(wheel)
    res.seconds["pyelftools"] = time.monotonic() - start
    res.elf_ref = len(refs)
    res.glibc_ref = max_version(r.glibc for r in refs.values() if r.glibc)
    glibc_ref_no_loader = max_version(r.glibc_no_loader for r in refs.values() if r.glibc_no_loader)

    ours_versioned = None
    ref_versioned = versioned_symbols(
        {k: set(v) for k, v in r.symbol_versions.items()} for r in refs.values())
    if args.reference_only:
        res.elf_ours = "-"
    else:
        ours, rc, tail, seconds = ours_for(args.wheelwright, wheel)
        res.seconds["wheelwright"] = seconds
        if ours is None:
            res.mismatch("-", "wheelwright inspect", f"no usable JSON (exit {rc}): {tail}", "-")
        else:
            if rc != 0:
                res.notes.append(f"wheelwright inspect exited {rc} (JSON still read): {tail}")
            if ours.get("pure") is not (len(refs) == 0):
                res.mismatch("-", "pure", ours.get("pure"), len(refs) == 0)
            compare_files(res, ours, refs)
            files = ours.get("elf_files") if isinstance(ours.get("elf_files"), list) else []
            if files and all(isinstance(f, dict) and "symbol_versions" in f for f in files):
                ours_versioned = versioned_symbols(f["symbol_versions"] for f in files)
            res.glibc_ours = ours.get("glibc")
            if res.glibc_ours != res.glibc_ref:
                res.mismatch("(wheel)", "glibc vs pyelftools", res.glibc_ours, res.glibc_ref)

    if not args.no_auditwheel:
        audit, rc, tail, seconds = auditwheel_for(args.auditwheel, wheel)
        res.seconds["auditwheel"] = seconds
        if audit is None or "error" in audit or audit.get("pure") is not False:
            res.mismatch("(wheel)", "auditwheel show", "-",
                         f"no result (exit {rc}): {audit.get('error') if audit else tail}")
        else:
            names = [n for vs in audit.get("versioned_symbols", {}).values() for n in vs]
            res.glibc_audit = max_version(glibc_versions(names))
            res.sym_tag = audit.get("sym_tag")
            audit_versioned = {k: set(v) for k, v in audit.get("versioned_symbols", {}).items()}
            if ref_versioned != audit_versioned:
                res.notes.append(
                    f"the version needs pyelftools reads (without ld-linux) differ from auditwheel's "
                    f"versioned_symbols: {fmt_map(ref_versioned)} vs {fmt_map(audit_versioned)}"
                )
            elif ours_versioned is not None and ours_versioned != audit_versioned:
                res.mismatch("(wheel)", "versioned_symbols vs auditwheel (without ld-linux)",
                             fmt_map(ours_versioned), fmt_map(audit_versioned))
            if glibc_ref_no_loader != res.glibc_audit:
                # Our reading of the file disagrees with auditwheel's own: not wheelwright's fault.
                res.notes.append(
                    f"pyelftools without ld-linux needs ({fmt(glibc_ref_no_loader)}) differs from "
                    f"auditwheel ({fmt(res.glibc_audit)}): auditwheel adds external libraries' symbols?"
                )
            if not args.reference_only:
                if res.glibc_ours != res.glibc_audit:
                    if res.glibc_ours == res.glibc_ref and glibc_ref_no_loader == res.glibc_audit:
                        res.notes.append(
                            f"glibc {fmt(res.glibc_ours)} vs auditwheel {fmt(res.glibc_audit)}: only the "
                            "version needs on the dynamic loader (ld-linux), which auditwheel skips, differ"
                        )
                    else:
                        res.mismatch("(wheel)", "glibc vs auditwheel", res.glibc_ours, res.glibc_audit)
            # sym_tag must be the lowest manylinux policy allowing the wheel's glibc.
            tag_glibc = policy_glibc(res.sym_tag)
            if policy_glibcs and res.glibc_audit and tag_glibc:
                allowed = [v for v in policy_glibcs if version_key(v) >= version_key(res.glibc_audit)]
                if allowed and allowed[0] != tag_glibc:
                    res.notes.append(
                        f"auditwheel sym_tag {res.sym_tag} is not the lowest policy allowing glibc "
                        f"{res.glibc_audit} ({allowed[0]}): other symbol versions (GLIBCXX, CXXABI, ...) constrain it"
                    )
    return res, refs


# ------------------------------------------------------------------------ main
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("wheels", nargs="+", type=Path, metavar="WHEEL")
    ap.add_argument("--wheelwright", default="target/release/wheelwright")
    ap.add_argument("--reference-only", action="store_true",
                    help="no wheelwright: pyelftools against auditwheel only (to test this script)")
    ap.add_argument("--auditwheel", default=str(Path(sys.executable).parent / "auditwheel"))
    ap.add_argument("--no-auditwheel", action="store_true", help="skip the auditwheel show checks")
    ap.add_argument("--json-out", type=Path, help="write the pyelftools reading of every wheel here")
    ap.add_argument("--verbose", action="store_true", help="print every ELF member's reading")
    args = ap.parse_args()
    for wheel in args.wheels:
        if not wheel.is_file():
            print(f"compare: error: no wheel at {wheel}", file=sys.stderr)
            return 2

    policy_glibcs = [] if args.no_auditwheel else manylinux_policy_glibcs()
    results, dump = [], {}
    for wheel in args.wheels:
        print(f"compare: {wheel.name} ...", file=sys.stderr, flush=True)
        res, refs = compare_wheel(wheel, args, policy_glibcs)
        results.append(res)
        if args.json_out or args.verbose:
            dump[wheel.name] = [r.as_json() for r in refs.values()]
            if args.verbose:
                for r in refs.values():
                    print(f"  {r.path}: glibc={fmt(r.glibc)} soname={fmt(r.soname)} needed={fmt(r.needed)} "
                          f"rpath={fmt(r.rpath)} runpath={fmt(r.runpath)}", file=sys.stderr)
    if args.json_out:
        args.json_out.write_text(json.dumps(dump, indent=1) + "\n")

    head = ("wheel", "ELF ours", "ELF pyelftools", "compared", "mismatches",
            "glibc ours", "glibc pyelftools", "glibc auditwheel", "auditwheel sym_tag", "seconds")
    rows = []
    for r in results:
        secs = ", ".join(f"{k} {v:.1f}" for k, v in r.seconds.items())
        rows.append((r.name, str(r.elf_ours), str(r.elf_ref), str(r.compared), str(len(r.mismatches)),
                     fmt(r.glibc_ours) if not args.reference_only else "-", fmt(r.glibc_ref),
                     fmt(r.glibc_audit) if not args.no_auditwheel else "-", r.sym_tag or "-", secs))
    print()
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---" for _ in head) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print()
    total = 0
    for r in results:
        for note in r.notes:
            print(f"note: {r.name}: {note}")
        for file, fieldname, ours, theirs in r.mismatches:
            total += 1
            print(f"MISMATCH {r.name} | {file} | {fieldname} | ours: {ours} | theirs: {theirs}")
    compared = sum(r.compared for r in results)
    print(f"compare: {len(results)} wheels, {compared} ELF files compared, {total} mismatches")
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
