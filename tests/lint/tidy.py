#!/usr/bin/env python3
"""tests/lint/tidy.py ROOT: the style rules the build enforces (style.md), on the C and C++
sources under ROOT (src/, include/, fuzz/, stress/, bench/). One line per violation,
"path:line: rule: what", and exit 1 if there is any; exit 0 and one summary line if not.

Rules:
  function-length  a function body longer than 80 lines needs a comment right above it
                   that says why ("long because ...").
  banned-api       in simulation code (the modules below campaign: core, sched, mem,
                   check, maple, vma, cma, nommu, kernel) nothing reads the host's clock
                   or entropy (std::chrono clocks, time(), gettimeofday, clock_gettime,
                   std::random_device, rand/srand), nothing uses a raw assert() (checks
                   raise a Failure naming what broke), and no ordered container is keyed
                   by pointers (its iteration order would be the allocator's).
  line-length      no line over 120 columns, unless what crosses column 120 is a string
                   literal (a message is not broken to fit).
"""
import os
import re
import sys

MAX_FUNCTION_LINES = 80
MAX_COLUMNS = 120
SOURCE_DIRS = ("src", "include", "fuzz", "stress", "bench")
EXTENSIONS = (".cpp", ".h", ".c", ".cc")
SIMULATION_MODULES = ("core", "sched", "mem", "check", "maple", "vma", "cma", "nommu", "kernel")
LONG_REASON = re.compile(r"\blong because\b", re.IGNORECASE)

BANNED = [
    (re.compile(r"std::chrono::(system_clock|steady_clock|high_resolution_clock)"), "reads the host clock"),
    (re.compile(r"\b(gettimeofday|clock_gettime)\s*\("), "reads the host clock"),
    (re.compile(r"(?<![\w.>:])time\s*\(\s*(nullptr|NULL|0)?\s*\)"), "reads the host clock"),
    (re.compile(r"\brandom_device\b"), "reads host entropy"),
    (re.compile(r"(?<![\w.>:])s?rand\s*\("), "uses the C library's global random state"),
    (re.compile(r"(?<![\w.>:])assert\s*\("), "raw assert(): raise a Failure that names what broke"),
    (re.compile(r"#\s*include\s*<(cassert|assert\.h)>"), "raw assert(): raise a Failure that names what broke"),
    (re.compile(r"std::(map|set|multimap|multiset)<\s*(const\s+)?[\w:]+\s*\*"),
     "an ordered container keyed by pointers iterates in allocation order"),
]


def blank_comments_and_strings(text):
    """Returns (code, strings): `code` is `text` with comments and string/char literals
    replaced by spaces (newlines kept, so line numbers and columns hold); `strings` marks,
    per character, whether it belongs to a string or char literal."""
    out = list(text)
    in_string = [False] * len(text)
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            for k in range(i, j):
                out[k] = " "
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            for k in range(i, j):
                if out[k] != "\n":
                    out[k] = " "
            i = j
        elif c == "R" and text.startswith('R"', i) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            open_paren = text.find("(", i + 2)
            delimiter = text[i + 2:open_paren]
            end = text.find(")" + delimiter + '"', open_paren)
            end = n if end < 0 else end + len(delimiter) + 2
            for k in range(i, end):
                in_string[k] = True
                if out[k] != "\n":
                    out[k] = " "
            i = end
        elif c in "\"'":
            if c == "'" and i > 0 and text[i - 1].isalnum():  # a digit separator: 1'000'000
                i += 1
                continue
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
            for k in range(i, j):
                in_string[k] = True
                out[k] = " "
            i = j
        else:
            i += 1
    return "".join(out), in_string


CONTROL = re.compile(r"\b(if|for|while|switch|catch|do|else|try)\s*(\(|$)")
QUALIFIERS = re.compile(r"\)\s*(const|noexcept|override|final|mutable|volatile|&|&&|\s)*"
                        r"(->\s*[\w:<>,\s*&]+)?\s*$")


def classify(head):
    """What a `{` opens, from the code between the previous `;`, `{` or `}` and it."""
    h = " ".join(head.split())
    if re.search(r"\bnamespace\b", h) or re.match(r'^extern\s+"C"', head.strip()) or h.startswith("extern"):
        return "namespace"
    if re.search(r"(^|\s|>)(class|struct|union|enum)(\s+class)?\s+[\w:]+[^()]*$", h) or re.fullmatch(
            r"(template\s*<.*>\s*)?(class|struct|union|enum)\s*", h):
        return "class"
    if not h or "=" in h.split("(")[0] or h.endswith("="):
        return "other"
    if CONTROL.search(h.split("(")[0] + "("):
        return "other"
    if QUALIFIERS.search(h) or re.search(r"\)\s*(noexcept\s*)?:\s*[\w:]+\s*[({]", h) or re.search(r"\)\s*:.*[)}]\s*$", h):
        return "function"
    return "other"


def function_spans(code):
    """(line of the opening brace, line of the closing brace) of each outermost function
    body in `code` (a lambda or a local class inside a function counts as its body)."""
    spans = []
    stack = []  # what each open brace opened
    head_start = 0
    line = 1
    function_open = None
    for i, c in enumerate(code):
        if c == "\n":
            line += 1
        elif c == "{":
            inside_function = any(kind in ("function", "other-in-function") for kind, _ in stack)
            if inside_function:
                stack.append(("other-in-function", line))
            else:
                head = code[head_start:i]
                head = re.sub(r"^\s*#.*$", "", head, flags=re.MULTILINE)
                kind = classify(head)
                if kind == "function":
                    function_open = line
                    stack.append(("function", line))
                else:
                    stack.append((kind, line))
            head_start = i + 1
        elif c == "}":
            if stack:
                kind, _ = stack.pop()
                if kind == "function" and function_open is not None:
                    spans.append((function_open, line))
                    function_open = None
            head_start = i + 1
        elif c == ";":
            head_start = i + 1
    return spans


def comment_above(lines, first_line):
    """The comment lines right above line `first_line` (1-based)."""
    i = first_line - 2
    text = []
    while i >= 0 and lines[i].strip().startswith("//"):
        text.append(lines[i].strip()[2:].strip())
        i -= 1
    return " ".join(reversed(text))  # one sentence may run over several lines


def signature_start(lines, open_line):
    """The first line of the declaration whose body opens on `open_line`: walk up while
    the line above is a continuation (not blank, not a comment, not ending a statement)."""
    i = open_line - 1
    for _ in range(8):
        above = lines[i - 1].strip() if i >= 1 else ""
        if not above or above.startswith("//") or above.endswith((";", "}", "{")) or above.startswith("#"):
            break
        i -= 1
    return i + 1


def check_file(root, path, problems):
    rel = os.path.relpath(path, root)
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    code, in_string = blank_comments_and_strings(text)
    lines = text.split("\n")
    code_lines = code.split("\n")

    for first, last in function_spans(code):
        length = last - first - 1
        if length <= MAX_FUNCTION_LINES:
            continue
        start = signature_start(lines, first)
        if LONG_REASON.search(comment_above(lines, start)):
            continue
        problems.append(f"{rel}:{start}: function-length: {length} lines (limit {MAX_FUNCTION_LINES}) and no "
                        f"comment above it saying why it is long (\"long because ...\")")

    parts = rel.split(os.sep)
    module = parts[1] if parts[0] == "src" else parts[2] if parts[:2] == ["include", "mmtorture"] else ""
    if module in SIMULATION_MODULES:
        for number, code_line in enumerate(code_lines, 1):
            for pattern, why in BANNED:
                if pattern.search(code_line) or (pattern.pattern.startswith("#") and pattern.search(lines[number - 1])):
                    problems.append(f"{rel}:{number}: banned-api: {why}: {lines[number - 1].strip()}")

    offset = 0
    for number, raw in enumerate(lines, 1):
        if len(raw) > MAX_COLUMNS and not in_string[offset + MAX_COLUMNS]:
            problems.append(f"{rel}:{number}: line-length: {len(raw)} columns (limit {MAX_COLUMNS})")
        offset += len(raw) + 1


def main():
    if len(sys.argv) != 2:
        print("usage: tidy.py ROOT", file=sys.stderr)
        return 2
    root = sys.argv[1]
    files = []
    for d in SOURCE_DIRS:
        for dirpath, dirnames, filenames in os.walk(os.path.join(root, d)):
            dirnames.sort()
            files += [os.path.join(dirpath, f) for f in sorted(filenames) if f.endswith(EXTENSIONS)]
    problems = []
    for path in files:
        check_file(root, path, problems)
    for p in problems:
        print(p)
    if problems:
        print(f"tidy: {len(problems)} problems in {len(files)} files")
        return 1
    print(f"tidy: {len(files)} files clean")
    return 0


if __name__ == "__main__":
    sys.exit(main())
