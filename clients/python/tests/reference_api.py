#!/usr/bin/env python3
"""The API that AIOHappyBase 1.4's documentation gives, read off its text.

    reference_api.py extract DOCS > tests/aiohappybase_api.txt
        writes the documented signatures (classes, methods, their parameters and defaults,
        class attributes) of ``aiohappybase`` and ``aiohappybase.sync``, one per line, as the
        signature test (test_aio_api.py) reads them;
    reference_api.py check DOCS
        checks that tests/aiohappybase_api.txt is what ``extract`` gives today, and that every
        example in test_doc_examples.py is in the documentation word for word (whitespace
        aside), once the changes that file lists are undone.

DOCS is the documentation as text (the project keeps it outside the repository).
"""

import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
API_FILE = os.path.join(HERE, "aiohappybase_api.txt")
HEADER = ("# AIOHappyBase 1.4's documented API, written by tests/reference_api.py extract from "
          "its documentation.\n# One class, method or attribute a line; '->' is the documented "
          "return type. Do not edit by hand.\n")

CLASS = re.compile(r"^class (aiohappybase(?:\.sync)?\.\w+)(\(.*\))?$")
METHOD = re.compile(r"^(\w+)\((.*)\)(?: \u2192 (.+))?$")
ATTRIBUTE = re.compile(r"^([A-Z][A-Z_]+)$")
ALIAS = re.compile(r"^\s*alias of (\S+)$")


def extract(lines):
    """The signature lines, in the documentation's order."""
    out, current, attribute = [], None, None
    start = next(i for i, line in enumerate(lines) if CLASS.match(line))
    for line in lines[start:]:
        line = line.rstrip("\n")
        if line.strip() == "Version history":
            break
        if attribute is not None:
            alias = ALIAS.match(line)
            if alias:
                out.append("%s.%s = alias of %s" % (current, attribute, alias.group(1)))
                attribute = None
            continue
        match = CLASS.match(line)
        if match:
            current = match.group(1)
            out.append(current + (match.group(2) or ""))
            continue
        match = METHOD.match(line.strip())
        if match and current is not None and not line.startswith(" "):
            text = "%s.%s(%s)" % (current, match.group(1), match.group(2))
            out.append(text + (" -> " + match.group(3) if match.group(3) else ""))
            continue
        match = ATTRIBUTE.match(line.strip())
        if match and current is not None:
            attribute = match.group(1)
    return out


def normalise(text):
    return " ".join(text.split())


def check(docs_text, lines):
    problems = []
    with open(API_FILE) as f:
        committed = [line.rstrip("\n") for line in f if not line.startswith("#")]
    if committed != extract(lines):
        problems.append("%s differs from what extract gives: run extract again" % API_FILE)
    sys.path.insert(0, HERE)
    import test_doc_examples as examples
    docs = normalise(docs_text)
    for name, block in examples.BLOCKS.items():
        for runs, documented, _why in examples.CHANGES.get(name, ()):
            assert runs in block, (name, runs)
            block = block.replace(runs, documented)
        if normalise(block) not in docs:
            problems.append("example %r is not in the documentation as written" % name)
    return problems


def main(argv):
    if len(argv) != 3 or argv[1] not in ("extract", "check"):
        sys.exit(__doc__)
    with open(argv[2], encoding="utf-8") as f:
        text = f.read()
    lines = text.splitlines()
    if argv[1] == "extract":
        sys.stdout.write(HEADER + "".join(line + "\n" for line in extract(lines)))
        return
    problems = check(text, lines)
    for problem in problems:
        print("reference_api: " + problem)
    print("reference_api: %s" % ("ok" if not problems else "%d problems" % len(problems)))
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main(sys.argv)
