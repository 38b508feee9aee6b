#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Checks that the shared library, its version script and the public headers agree.

  - the SONAME is the expected one (libmicroseg.so.0);
  - every dynamic symbol the library defines is named microseg_* and carries the version
    node that lists it in the map (today: MICROSEG_0.1), so nothing leaks unversioned;
  - every symbol in the map is exported and declared with MICROSEG_API in a public header;
  - every MICROSEG_API declaration in the headers is in the map;
  - no public prototype named microseg_* lacks MICROSEG_API (it would not be exported).

Usage: check_abi.py --lib LIB.so --map libmicroseg.map --headers DIR [--headers DIR ...]
                    [--soname libmicroseg.so.0]
Exit status 0 when everything agrees, 1 with one line per problem otherwise.
With --expect-problem REGEX (used to test this checker) the status is 0 only if a reported
problem matches REGEX.
"""
import argparse
import os
import re
import subprocess
import sys

NODE_RE = re.compile(r"^MICROSEG_\d+\.\d+$")


def strip_c_comments(text):
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"//[^\n]*", " ", text)


def strip_preprocessor(text):
    out, cont = [], False
    for line in text.splitlines():
        if cont or line.lstrip().startswith("#"):
            cont = line.rstrip().endswith("\\")
            continue
        out.append(line)
    return "\n".join(out)


def parse_map(path, problems):
    """Returns {symbol: node} for the global entries of every version node."""
    text = open(path, encoding="utf-8").read()
    text = strip_c_comments(re.sub(r"#[^\n]*", " ", text))
    symbols = {}
    nodes = re.findall(r"([A-Za-z_][\w.]*)\s*\{(.*?)\}\s*([A-Za-z_][\w.]*)?\s*;", text, flags=re.S)
    if not nodes:
        problems.append(f"{path}: no version node found")
    for node, body, _parent in nodes:
        if not NODE_RE.match(node):
            problems.append(f"{path}: version node {node!r} is not named MICROSEG_<major>.<minor>")
        section = None
        for item in body.split(";"):
            item = item.strip()
            m = re.match(r"(global|local)\s*:\s*(.*)", item, flags=re.S)
            if m:
                section, item = m.group(1), m.group(2).strip()
            if not item:
                continue
            if section == "local":
                continue
            if section != "global":
                problems.append(f"{path}: {node}: entry {item!r} outside a global:/local: section")
                continue
            if any(c in item for c in "*?[") or item.startswith("extern"):
                problems.append(f"{path}: {node}: list symbols one by one, not {item!r}")
                continue
            if not item.startswith("microseg_"):
                problems.append(f"{path}: {node}: {item} lacks the microseg_ prefix")
            if item in symbols:
                problems.append(f"{path}: {item} listed in both {symbols[item]} and {node}")
            symbols[item] = node
    return symbols


def parse_headers(dirs, problems):
    """Returns {symbol: header} for MICROSEG_API declarations."""
    api = {}
    for d in dirs:
        for name in sorted(os.listdir(d)):
            if not name.endswith(".h"):
                continue
            path = os.path.join(d, name)
            text = strip_preprocessor(strip_c_comments(open(path, encoding="utf-8").read()))
            # Statements at any nesting level; declarations end at ';', bodies are not expected
            # in public headers apart from struct/enum definitions.
            for stmt in re.split(r"[;{}]", text):
                stmt = " ".join(stmt.split())
                if not stmt:
                    continue
                exported = re.search(r"\bMICROSEG_API\b", stmt) is not None
                fn = re.search(r"\b(microseg_\w+)\s*\(", stmt)
                if exported:
                    m = fn or re.search(r"\b(microseg_\w+)\s*(?:\[|=|$)", stmt)
                    if not m:
                        problems.append(f"{path}: cannot find the name in: {stmt}")
                        continue
                    sym = m.group(1)
                    if sym in api:
                        problems.append(f"{path}: {sym} declared again (first in {api[sym]})")
                    api[sym] = path
                elif fn and not stmt.startswith("typedef"):
                    problems.append(f"{path}: {fn.group(1)} declared without MICROSEG_API")
    return api


def run(cmd):
    try:
        return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    except FileNotFoundError:
        sys.exit(f"check_abi: {cmd[0]} not found (binutils)")
    except subprocess.CalledProcessError as e:
        sys.exit(f"check_abi: {' '.join(cmd)} failed: {e.stderr.strip()}")


def library_soname(lib):
    m = re.search(r"\(SONAME\)\s+Library soname: \[([^\]]+)\]", run(["readelf", "-W", "-d", lib]))
    return m.group(1) if m else None


def library_exports(lib):
    """Returns {symbol: version or None} for defined, global/weak dynamic symbols."""
    exports = {}
    for line in run(["readelf", "-W", "--dyn-syms", lib]).splitlines():
        f = line.split()
        # Num: Value Size Type Bind Vis Ndx Name [(verindex)]
        if len(f) < 8 or not f[0].endswith(":") or not f[0][:-1].isdigit():
            continue
        bind, ndx, name = f[4], f[6], f[7]
        if ndx == "UND" or bind not in ("GLOBAL", "WEAK", "UNIQUE"):
            continue
        sym, _, version = name.partition("@")
        version = version.lstrip("@") or None
        if ndx == "ABS" and NODE_RE.match(sym) and version in (None, sym):
            continue  # the symbol that defines a version node
        exports[sym] = version
    return exports


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lib", required=True)
    ap.add_argument("--map", required=True)
    ap.add_argument("--headers", action="append", required=True)
    ap.add_argument("--soname", default="libmicroseg.so.0")
    ap.add_argument("--expect-problem", metavar="REGEX",
                    help="self-test: succeed only if a reported problem matches REGEX")
    a = ap.parse_args()

    problems = []
    mapped = parse_map(a.map, problems)
    declared = parse_headers(a.headers, problems)
    exports = library_exports(a.lib)

    soname = library_soname(a.lib)
    if soname != a.soname:
        problems.append(f"{a.lib}: SONAME is {soname!r}, expected {a.soname!r}")

    for sym, version in sorted(exports.items()):
        if sym not in mapped:
            problems.append(f"{a.lib}: exports {sym} (version {version}) which the map does not list")
        elif version != mapped[sym]:
            problems.append(f"{a.lib}: {sym} has version {version}, the map puts it in {mapped[sym]}")
    for sym in sorted(mapped):
        if sym not in exports:
            problems.append(f"{a.map}: {sym} is listed but the library does not define it")
        if sym not in declared:
            problems.append(f"{a.map}: {sym} is listed but no public header declares it MICROSEG_API")
    for sym in sorted(declared):
        if sym not in mapped:
            problems.append(f"{declared[sym]}: {sym} is MICROSEG_API but missing from {a.map}")

    for p in problems:
        print("abi:", p)
    if a.expect_problem:
        hit = any(re.search(a.expect_problem, p) for p in problems)
        print(f"abi: self-test: a problem matching {a.expect_problem!r} was "
              + ("reported" if hit else "NOT reported"))
        return 0 if hit else 1
    if problems:
        print(f"abi: {len(problems)} problem(s)")
        return 1
    versions = sorted({v for v in exports.values() if v})
    print(f"abi: {len(exports)} exported symbols, versions {', '.join(versions)}, "
          f"{len(declared)} MICROSEG_API declarations, SONAME {soname}: consistent")
    if not exports:
        print("abi: the library exports nothing")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
