#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Checks that each public header stands on its own.

Every include/microseg/*.h must compile alone as strict C99 (no include-order dependency, no
GNU-only syntax that FFI generators or other compilers would trip on), and, if a clang is
given, as C++11 (the extern "C" guards work). microseg.h must include every other header.

Usage: check_headers.py --include DIR [--clang CLANG] -- CC [CC args...]
DIR is the directory holding microseg/; CC is the C compiler the project builds with.
"""
import argparse
import os
import re
import subprocess
import sys


def compile_alone(cmd, header, lang_args):
    src = f"#include <microseg/{header}>\n"
    r = subprocess.run(cmd + lang_args + ["-fsyntax-only", "-"], input=src, text=True,
                       capture_output=True)
    return r.returncode, (r.stdout + r.stderr).strip()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--include", required=True)
    ap.add_argument("--clang")
    ap.add_argument("cc", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cc = [c for c in a.cc if c != "--"]
    if not cc:
        ap.error("no C compiler given")

    hdir = os.path.join(a.include, "microseg")
    headers = sorted(h for h in os.listdir(hdir) if h.endswith(".h"))
    warn = ["-Wall", "-Wextra", "-Werror", "-pedantic-errors", "-I", a.include]
    problems = []
    checks = 0
    for h in headers:
        runs = [("C99", cc, ["-x", "c", "-std=c99"] + warn)]
        if a.clang:
            runs.append(("C++11", [a.clang], ["-x", "c++", "-std=c++11"] + warn))
        for what, cmd, args in runs:
            rc, out = compile_alone(cmd, h, args)
            checks += 1
            if rc != 0:
                problems.append(f"microseg/{h} does not compile alone as {what}:\n{out}")

    umbrella = open(os.path.join(hdir, "microseg.h"), encoding="utf-8").read()
    included = set(re.findall(r"#\s*include\s*<microseg/([\w.]+)>", umbrella))
    for h in headers:
        if h != "microseg.h" and h not in included:
            problems.append(f"microseg/microseg.h does not include microseg/{h}")

    for p in problems:
        print("headers:", p)
    if problems:
        return 1
    print(f"headers: {len(headers)} headers, {checks} standalone compiles, umbrella complete")
    return 0


if __name__ == "__main__":
    sys.exit(main())
