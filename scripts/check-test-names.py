#!/usr/bin/env python3
"""The house's one test-naming style: a test's name is a sentence, words joined by underscores
(A_newer_schema_is_refused), in every test project. Prints each test named otherwise and fails."""
import pathlib
import re
import sys

root = pathlib.Path(__file__).resolve().parent.parent
bad = []
for path in sorted((root / "tests").rglob("*.cs")):
    if "/bin/" in str(path) or "/obj/" in str(path):
        continue
    pending = False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if re.match(r"\s*\[(Fact|Theory|\w+Fact)\b", line):
            pending = True
            continue
        match = pending and re.match(r"\s*public (?:async )?(?:void|Task) (\w+)\(", line)
        if match:
            pending = False
            if "_" not in match.group(1):
                bad.append(f"{path.relative_to(root)}:{number}: {match.group(1)}: name a test as a sentence, words joined by _")
for line in bad:
    print(line)
sys.exit(1 if bad else 0)
