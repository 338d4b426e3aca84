#!/usr/bin/env python3
"""Gives a wheel built on this machine the manylinux tag its native libraries really satisfy.

scikit-build-core tags a wheel with the build machine's platform, ``linux_x86_64``: "built here,
no promise elsewhere" (right for ``pip install .``, refused by PyPI). A ``manylinux_2_X_x86_64``
tag promises that the wheel runs on every x86_64 Linux with glibc >= 2.X. That holds when each
shared library in the wheel

  * links only libraries every such system has (libc, libm, libstdc++, libgcc_s, ...), and
  * needs no glibc / libstdc++ / libgcc symbol version newer than the policy's.

This script reads both from the ELF files (``readelf -d`` for DT_NEEDED, ``readelf -V`` for the
version needs), picks the oldest policy of :data:`POLICIES` that admits every library, and writes
the wheel under that tag (file name, WHEEL and RECORD); with no admitting policy it leaves the
wheel as it is and says why. The policy limits are those of PEP 600 / auditwheel's
manylinux-policy.json for x86_64 (the libstdc++ each manylinux image's base system ships).

usage: python scripts/wheel_tag.py [--check] dist/normdeploy-*-linux_x86_64.whl
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import re
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

Version = tuple[int, ...]


@dataclass(frozen=True)
class Policy:
    name: str
    limits: dict[str, Version]  # symbol-version namespace -> newest version allowed


def _v(text: str) -> Version:
    return tuple(int(p) for p in text.split("."))


# Oldest first. manylinux_2_17 and older also forbid some glibc symbols by name; they are left out:
# a library built with a compiler new enough for C++17 needs more than glibc 2.17 anyway.
POLICIES: tuple[Policy, ...] = tuple(
    Policy(name, {"GLIBC": _v(glibc), "GLIBCXX": _v(glibcxx), "CXXABI": _v(cxxabi), "GCC": _v(gcc)})
    for name, glibc, glibcxx, cxxabi, gcc in (
        ("manylinux_2_28", "2.28", "3.4.24", "1.3.11", "7.0.0"),   # AlmaLinux 8 (GCC 8 libstdc++)
        ("manylinux_2_31", "2.31", "3.4.28", "1.3.12", "7.0.0"),   # Ubuntu 20.04 (GCC 10)
        ("manylinux_2_34", "2.34", "3.4.29", "1.3.13", "7.0.0"),   # AlmaLinux 9 (GCC 11)
        ("manylinux_2_35", "2.35", "3.4.30", "1.3.13", "12.0.0"),  # Ubuntu 22.04 (GCC 12)
    ))
# CXXABI_TM_1 / CXXABI_FLOAT128 are unnumbered versions every policy above admits.
UNNUMBERED_OK = {"CXXABI_TM_1", "CXXABI_FLOAT128"}
# Libraries every manylinux system provides (auditwheel's lib_whitelist, the part that can matter here),
# and glibc's own dynamic loader, which the CUDA runtime (cudart_static) links and auditwheel accepts.
SYSTEM_LIBS = frozenset({"libc.so.6", "libm.so.6", "libdl.so.2", "librt.so.1", "libpthread.so.0", "libgcc_s.so.1",
                         "libstdc++.so.6", "libatomic.so.1", "libmvec.so.1", "libresolv.so.2", "libz.so.1",
                         "ld-linux-x86-64.so.2"})


@dataclass
class ElfNeeds:
    path: str
    libraries: list[str] = field(default_factory=list)
    versions: dict[str, Version] = field(default_factory=dict)  # namespace -> newest version needed
    unnumbered: set[str] = field(default_factory=set)

    def describe(self) -> str:
        vs = ", ".join(f"{k}_{'.'.join(map(str, v))}" for k, v in sorted(self.versions.items()))
        return f"{self.path}: needs {vs or 'no versioned symbols'}; links {', '.join(self.libraries) or 'nothing'}"


def read_needs(path: Path, shown_as: str) -> ElfNeeds:
    """DT_NEEDED entries and the newest symbol version needed per namespace (GLIBC, GLIBCXX, ...)."""
    needs = ElfNeeds(shown_as)
    dynamic = subprocess.run(["readelf", "-d", str(path)], check=True, capture_output=True, text=True).stdout
    needs.libraries = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", dynamic)
    versions = subprocess.run(["readelf", "-V", str(path)], check=True, capture_output=True, text=True).stdout
    section = versions.split(".gnu.version_r", 1)[1] if ".gnu.version_r" in versions else ""
    for name in re.findall(r"Name: (\S+)\s+Flags", section):
        m = re.fullmatch(r"([A-Z]+)_([0-9.]+)", name)
        if m is None:
            needs.unnumbered.add(name)
            continue
        ns, ver = m.group(1), _v(m.group(2))
        if ver > needs.versions.get(ns, ()):
            needs.versions[ns] = ver
    return needs


def why_not(policy: Policy, needs: ElfNeeds) -> str | None:
    """None when ``policy`` admits the library, else the first reason it does not."""
    for lib in needs.libraries:
        if lib not in SYSTEM_LIBS:
            return f"links {lib}, which {policy.name} systems need not have"
    for ns, ver in sorted(needs.versions.items()):
        limit = policy.limits.get(ns)
        if limit is None:
            return f"needs {ns}_{'.'.join(map(str, ver))}, a symbol namespace outside the policy"
        if ver > limit:
            return f"needs {ns}_{'.'.join(map(str, ver))} > {ns}_{'.'.join(map(str, limit))}"
    odd = sorted(needs.unnumbered - UNNUMBERED_OK)
    if odd:
        return f"needs the unnumbered symbol version(s) {odd}"
    return None


def choose(all_needs: list[ElfNeeds]) -> tuple[Policy | None, list[str]]:
    """The oldest policy admitting every library, and the reasons the older ones do not."""
    reasons = []
    for policy in POLICIES:
        blockers = [f"{n.path} {r}" for n in all_needs if (r := why_not(policy, n)) is not None]
        if not blockers:
            return policy, reasons
        reasons.append(f"not {policy.name}: {blockers[0]}")
    return None, reasons


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def retag(wheel: Path, platform: str) -> Path:
    """Writes ``wheel`` under platform tag ``platform`` (name, WHEEL's Tag lines, RECORD) beside it
    and removes the original. Returns the new path."""
    name, version, py, abi, old_platform = wheel.name[: -len(".whl")].split("-")
    out = wheel.with_name(f"{name}-{version}-{py}-{abi}-{platform}.whl")
    dist_info = f"{name}-{version}.dist-info"
    with zipfile.ZipFile(wheel) as src:
        entries = {i.filename: src.read(i) for i in src.infolist()}
    wheel_meta = entries[f"{dist_info}/WHEEL"].decode()
    wheel_meta = re.sub(rf"^Tag: {re.escape(py)}-{re.escape(abi)}-{re.escape(old_platform)}$",
                        f"Tag: {py}-{abi}-{platform}", wheel_meta, flags=re.M)
    entries[f"{dist_info}/WHEEL"] = wheel_meta.encode()
    record_name = f"{dist_info}/RECORD"
    rows = [f"{n},{_record_hash(d)},{len(d)}" for n, d in entries.items() if n != record_name]
    entries[record_name] = ("\n".join(rows + [f"{record_name},,"]) + "\n").encode()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as dst:
        for n, d in entries.items():
            dst.writestr(n, d)
    if out != wheel:
        wheel.unlink()
    return out


def analyse(wheel: Path) -> list[ElfNeeds]:
    with zipfile.ZipFile(wheel) as z, tempfile.TemporaryDirectory() as tmp:
        libs = [n for n in z.namelist() if re.search(r"\.so(\.[0-9]+)*$", n)]
        result = []
        for n in libs:
            z.extract(n, tmp)
            result.append(read_needs(Path(tmp) / n, n))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("wheel", type=Path)
    parser.add_argument("--check", action="store_true", help="only print what the libraries need and the tag")
    args = parser.parse_args(argv)
    wheel: Path = args.wheel
    if not wheel.name.endswith("-linux_x86_64.whl"):
        print(f"wheel_tag: {wheel.name}: expected a *-linux_x86_64.whl built on this machine", file=sys.stderr)
        return 2
    all_needs = analyse(wheel)
    for n in all_needs:
        print(n.describe())
    policy, reasons = choose(all_needs)
    for r in reasons:
        print(r)
    if policy is None:
        print(f"no manylinux policy up to {POLICIES[-1].name} admits it: {wheel.name} keeps linux_x86_64 "
              "(installable on this kind of machine only)")
        return 0
    platform = f"{policy.name}_x86_64"
    print(f"-> {platform}")
    if not args.check:
        print(f"wrote {retag(wheel, platform)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
