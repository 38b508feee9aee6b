#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Fails if README.md's C example differs from examples/hello_endpoint.c.

The README marks the block with an HTML comment naming the file, on the line before the
```c fence: <!-- example: examples/hello_endpoint.c -->.
Usage: check_readme.py README.md SOURCE_ROOT
"""
import difflib
import os
import re
import sys


def main():
    readme, root = sys.argv[1], sys.argv[2]
    text = open(readme, encoding="utf-8").read()
    blocks = re.findall(r"<!-- example: (\S+) -->\s*\n```c\n(.*?)```", text, flags=re.S)
    if not blocks:
        print(f"{readme}: no marked example block found")
        return 1
    bad = 0
    for path, code in blocks:
        src = open(os.path.join(root, path), encoding="utf-8").read()
        if code != src:
            bad += 1
            print(f"{readme}: the block marked {path} differs from the file:")
            sys.stdout.writelines(difflib.unified_diff(
                src.splitlines(True), code.splitlines(True), path, "README.md"))
        else:
            print(f"{readme}: block for {path} matches ({len(src.splitlines())} lines)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
