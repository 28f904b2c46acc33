#!/usr/bin/env python3
"""The sizes issue 24 bounds: the longest functions in src/ and the longest files without
their tests.

    ci/code_sizes.py                 # the 10 longest functions and files (tests left out)
    ci/code_sizes.py --top 30        # more
    ci/code_sizes.py --check         # exit 1 when a function is over --function-limit lines
                                     # or a file over --file-limit lines without its tests
    ci/code_sizes.py --tests         # count the functions of test modules too

A function's length is the lines from its `fn` line to its closing brace. A file's length
without its tests stops at its `#[cfg(test)]` module. Braces are matched on the source with
comments, strings (raw ones too) and character literals blanked, so a `{` in a format string
does not count.
"""

import argparse
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def blank(text):
    """`text` with comments, string and character literals replaced by spaces (newlines kept)."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif (m := re.match(r'b?r(#*)"', text[i:i + 300])) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            close = '"' + m.group(1)
            j = text.find(close, i + m.end())
            j = n if j < 0 else j + len(close)
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            j += 1
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == "'" and (m := re.match(r"'(\\.[^']*|[^\\'])'", text[i:i + 12])):
            out.append(" " * m.end())
            i += m.end()
        else:
            out.append(c)
            i += 1
    return "".join(out)


FN = re.compile(r"^\s*(?:pub(?:\([^)]*\))?\s+)?(?:const\s+)?(?:async\s+)?(?:unsafe\s+)?(?:extern\s+\"[^\"]*\"\s+)?fn\s+(\w+)", re.M)
TESTS = re.compile(r"^\s*#\[cfg\(test\)\]\s*\n\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+\w+", re.M)


def sizes(path, with_tests):
    text = path.read_text()
    code = blank(text)
    tests = TESTS.search(code)
    end_of_code = tests.start() if tests else len(code)
    file_lines = code[:end_of_code].count("\n")
    functions = []
    for match in FN.finditer(code):
        if not with_tests and match.start() >= end_of_code:
            continue
        # The body: the first `{` after the signature (a `;` first: a declaration only).
        j = match.end()
        while j < len(code) and code[j] not in "{;":
            j += 1
        if j >= len(code) or code[j] == ";":
            continue
        depth, k = 0, j
        while k < len(code):
            if code[k] == "{":
                depth += 1
            elif code[k] == "}":
                depth -= 1
                if depth == 0:
                    break
            k += 1
        first = code.count("\n", 0, match.start()) + 1
        last = code.count("\n", 0, k) + 1
        functions.append((last - first + 1, f"{path.relative_to(ROOT)}:{first}", match.group(1)))
    return file_lines, functions


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--top", type=int, default=10)
    parser.add_argument("--tests", action="store_true", help="count test modules' functions too")
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--function-limit", type=int, default=120)
    parser.add_argument("--file-limit", type=int, default=800)
    arguments = parser.parse_args()
    files, functions = [], []
    for path in sorted((ROOT / "src").rglob("*.rs")):
        file_lines, found = sizes(path, arguments.tests)
        files.append((file_lines, str(path.relative_to(ROOT))))
        functions.extend(found)
    functions.sort(reverse=True)
    files.sort(reverse=True)
    print(f"longest functions (lines, {'with' if arguments.tests else 'without'} tests):")
    for length, where, name in functions[: arguments.top]:
        print(f"{length:6}  {name}  {where}")
    print("longest files (lines without their tests):")
    for length, name in files[: arguments.top]:
        print(f"{length:6}  {name}")
    if arguments.check:
        over = [f for f in functions if f[0] > arguments.function_limit]
        big = [f for f in files if f[0] > arguments.file_limit]
        for length, where, name in over:
            print(f"error: `{name}` ({where}) is {length} lines, over {arguments.function_limit}")
        for length, name in big:
            print(f"error: {name} is {length} lines without its tests, over {arguments.file_limit}")
        return 1 if over or big else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
