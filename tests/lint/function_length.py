#!/usr/bin/env python3
"""Every function in src/ and apps/ is at most MAX_LINES lines long (docs/architecture.md).

A function is a brace block whose header (the text since the previous ';', '{' or '}') contains a
parameter list ')' and is not a control statement, class, struct, namespace, enum or initialiser.
Lambdas count as part of the function that contains them. Comments and string/char literals are
removed first, so braces inside them do not count.

Usage: function_length.py [--max N] [--self-test] [ROOT ...]   (default roots: src apps)
Exit status 1 lists every function over the limit as FILE:LINE: NAME (N lines).
"""
import pathlib
import re
import sys

MAX_LINES = 80
NOT_FUNCTION = re.compile(r"^\s*(?:[\w:]+\s+)*(?:if|for|while|switch|catch|do|else|try|namespace|class|struct|"
                          r"union|enum|extern)\b")
EXTENSIONS = (".cpp", ".hpp", ".h", ".cc")


def strip_comments_and_literals(text):
    """Replace comments and string/char literals by spaces, keeping newlines (so line numbers stay)."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i)); i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j])); i = j
        elif text.startswith('R"', i) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            m = re.match(r'R"([^(\s]*)\(', text[i:])
            end = text.find(")" + m.group(1) + '"', i) if m else -1
            j = n if end < 0 else end + len(m.group(1)) + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j])); i = j
        elif c in "\"'":
            if c == "'" and i > 0 and text[i - 1].isalnum() and i + 1 < n and text[i + 1].isalnum():
                out.append(c); i += 1   # digit separator 1'000'000
                continue
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
            out.append(c + " " * (j - i - 2) + c if j - i >= 2 else c); i = j
        else:
            out.append(c); i += 1
    return "".join(out)


def functions(text):
    """Yield (name, first_line, line_count) of every top-level function body in C++ text."""
    code = strip_comments_and_literals(text)
    stack = []            # for each open '{': (is_function, start_line, name)
    header_start = 0
    line = 1
    for i, c in enumerate(code):
        if c == "\n":
            line += 1
        elif c == "{":
            header = code[header_start:i]
            inside_function = any(f for f, _, _ in stack)
            is_function = (not inside_function and ")" in header and "=" not in header.split("(")[0]
                           and not NOT_FUNCTION.match(header.strip()) and not header.strip().endswith("="))
            name = ""
            if is_function:
                m = re.search(r"([~\w:<>]+)\s*\(", header.split(")")[0] + ")")
                name = m.group(1) if m else header.strip().split("(")[0][-40:]
            stack.append((is_function, line, name))
            header_start = i + 1
        elif c == "}":
            if stack:
                is_function, start, name = stack.pop()
                if is_function:
                    yield name, start, line - start + 1
            header_start = i + 1
        elif c == ";":
            header_start = i + 1
        elif c == "#" and code[header_start:i].strip() == "":
            header_start = i      # preprocessor line: skip to end of line below
            j = code.find("\n", i)
            header_start = j if j >= 0 else len(code)


def long_functions(roots, max_lines):
    for root in roots:
        for path in sorted(pathlib.Path(root).rglob("*")):
            if path.suffix in EXTENSIONS:
                for name, start, count in functions(path.read_text(errors="replace")):
                    if count > max_lines:
                        yield f"{path}:{start}: {name} ({count} lines)"


def self_test():
    body = "\n".join(f"  x += {k};" for k in range(100))
    long_src = ("// a comment with { braces\nnamespace a {\nstruct S { int f() const { return 1; } };\n"
                "int long_one(int x) {\n  if (x) {\n  const char* s = \"}}}\";\n  }\n" + body + "\n  return x;\n}\n"
                "int short_one(int x) {\n  auto l = [](int y) { return y; };\n  return l(x);\n}\n}\n")
    found = list(functions(long_src))
    names = {n: c for n, _, c in found}
    assert "long_one" in names and names["long_one"] > 80, found
    assert "short_one" in names and names["short_one"] == 4, found
    assert "f" in names, found
    assert not any(c > 80 for n, c in names.items() if n != "long_one"), found
    print("self-test passed:", found)


def main(argv):
    max_lines, roots = MAX_LINES, []
    it = iter(argv)
    for a in it:
        if a == "--max":
            max_lines = int(next(it))
        elif a == "--self-test":
            self_test(); return 0
        else:
            roots.append(a)
    offenders = list(long_functions(roots or ["src", "apps"], max_lines))
    for o in offenders:
        print(o)
    if offenders:
        print(f"{len(offenders)} function(s) longer than {max_lines} lines (split them into named stages)")
        return 1
    print(f"every function is at most {max_lines} lines")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
