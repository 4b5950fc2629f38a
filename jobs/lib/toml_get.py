#!/usr/bin/python3
"""Print one value of an attnpaths options file (TOML, CLI11 config format) for the job scripts.

    toml_get.py FILE TABLE.KEY [DEFAULT]      e.g.  toml_get.py config/markov/theory.toml theory.widths
Lists print space-separated; a missing key prints DEFAULT (or fails when none is given).
Uses tomllib (Python >= 3.11); older Pythons fall back to a reader for the simple `key = value`
lines these files use.
"""
import ast
import sys


def load(path):
    try:
        import tomllib
        with open(path, "rb") as f:
            return tomllib.load(f)
    except ImportError:
        pass
    root, table = {}, None
    with open(path) as f:
        for raw in f:
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            if line.startswith("["):
                table = root
                for part in line.strip("[]").split("."):
                    table = table.setdefault(part.strip().strip('"'), {})
                continue
            key, _, value = line.partition("=")
            value = value.strip()
            value = {"true": "True", "false": "False"}.get(value, value)
            (table if table is not None else root)[key.strip().strip('"')] = ast.literal_eval(value)
    return root


def main(argv):
    if len(argv) not in (3, 4):
        sys.exit(__doc__)
    path, dotted = argv[1], argv[2]
    node = load(path)
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            if len(argv) == 4:
                print(argv[3])
                return
            sys.exit(f"toml_get: '{dotted}' not found in {path}")
        node = node[part]
    if isinstance(node, list):
        print(" ".join(str(v) for v in node))
    elif isinstance(node, bool):
        print("true" if node else "false")
    else:
        print(node)


if __name__ == "__main__":
    main(sys.argv)
