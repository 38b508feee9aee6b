#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Totals for .ci/run: meson testlog.json files plus the steps .ci/run recorded itself.

Usage: summarize.py STEPS.jsonl [TAG=path/to/testlog.json ...]
Prints every failure with the tail of its output, then, as the very last line,
"N passed, N failed". Exit status 1 if anything failed, if a test was skipped while running
as root (counted as failed: CI runs as root so nothing has a reason to skip), or if no test
ran under meson test (counted as one failure).
"""
import json
import os
import sys

PASS = {"OK", "EXPECTEDFAIL"}
SKIP = {"SKIP"}
TAIL = 40


def read_jsonl(path):
    rows = []
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for n, line in enumerate(f, 1):
                line = line.strip()
                if not line:
                    continue
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as e:
                    rows.append({"name": f"{path}:{n} unreadable ({e})", "result": "ERROR"})
    except OSError as e:
        rows.append({"name": f"{path} unreadable ({e.strerror})", "result": "ERROR"})
    return rows


def tail(text, n=TAIL):
    lines = (text or "").rstrip("\n").splitlines()
    cut = lines[-n:]
    if len(lines) > n:
        cut.insert(0, f"... ({len(lines) - n} earlier lines)")
    return "\n".join("    | " + line for line in cut)


def main():
    steps_path, logs = sys.argv[1], sys.argv[2:]
    as_root = os.geteuid() == 0
    passed, failed, skipped = [], [], []

    for spec in logs:
        tag, _, path = spec.partition("=")
        for t in read_jsonl(path):
            # meson names tests "project:suite / name"; the project part is noise here.
            name = f"{tag}: {t.get('name', '?').split(':', 1)[-1]}"
            out = t.get("stdout", "") or ""
            if t.get("stderr"):
                out += "\n" + t["stderr"]
            entry = (name, t.get("result", "?"), out)
            if entry[1] in PASS:
                passed.append(entry)
            elif entry[1] in SKIP:
                skipped.append(entry)
            else:
                failed.append(entry)

    if not passed and not failed and not skipped:
        failed.append(("no test ran under meson test", "FAIL", ""))

    for s in read_jsonl(steps_path):
        log = ""
        if s.get("log") and os.path.exists(s["log"]):
            with open(s["log"], encoding="utf-8", errors="replace") as f:
                log = f.read()
        entry = (s.get("name", "?"), s.get("result", "?"), log)
        (passed if entry[1] == "OK" else failed).append(entry)

    if skipped:
        print(f"Skipped ({len(skipped)}):")
        for name, _, out in skipped:
            print(f"  {name}")
        if as_root:
            print("  running as root, so these count as failures: a test skips only when it "
                  "lacks privileges")
            failed.extend((n, "SKIP as root", o) for n, _, o in skipped)

    if failed:
        print(f"Failures ({len(failed)}):")
        for name, result, out in failed:
            print(f"\n  {name}: {result}")
            if out.strip():
                print(tail(out))
        print()
        print("Failed: " + ", ".join(name for name, _, _ in failed))

    print(f"{len(passed)} passed, {len(failed)} failed")
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())
