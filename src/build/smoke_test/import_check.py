"""wheelwright's smoke test: import each module of a plan in turn, then run a test snippet.

Usage: python wheelwright-import-check.py PLAN.json RESULTS.jsonl

PLAN.json is {"targets": [{"name": "pkg.mod", "kind": "extension"}, ...], "snippet": "...",
"dump_after": SECONDS}: past that many seconds every thread's stack goes to stderr (the log),
to show where a step that is about to be killed for its time hangs.
One JSON object per line goes to RESULTS.jsonl, never to stdout (which imported modules may
write to): "start" before each import (so that a crash or a time-out names it), "result"
after it, the same for the snippet, and "done" at the end. Every exception of an import is
caught and recorded; the next target is imported regardless.

Written for every CPython wheelwright builds for (3.8 and later): no newer syntax.
"""

import faulthandler
import importlib
import importlib.machinery
import importlib.util
import json
import os
import sys
import time
import traceback

TRACEBACK_LINES = 12


def describe(error):
    """The exception's type, message and the last lines of its traceback."""
    kind = type(error)
    name = kind.__qualname__
    if kind.__module__ not in ("builtins", "__main__"):
        name = kind.__module__ + "." + name
    try:
        message = str(error)
    except BaseException:  # a __str__ that raises
        message = "<the exception's message cannot be shown>"
    try:
        lines = traceback.format_exception(kind, error, error.__traceback__)
        text = "".join(lines).rstrip("\n").split("\n")
    except BaseException:
        text = []
    return {"type": name, "message": message, "traceback": text[-TRACEBACK_LINES:]}


def origins(name):
    """The files `name` could be imported from: its spec's origin when a finder gives one,
    and the files of its dotted path on sys.path (a package's __init__ may have put another
    module under the package's name, so that the finders no longer see it as a package)."""
    found = []
    try:
        spec = importlib.util.find_spec(name)
        origin = getattr(spec, "origin", None) if spec is not None else None
        if isinstance(origin, str):
            found.append(origin)
    except BaseException:
        pass
    parts = name.split(".")
    suffixes = importlib.machinery.EXTENSION_SUFFIXES + importlib.machinery.SOURCE_SUFFIXES
    for entry in sys.path:
        if not isinstance(entry, str):
            continue
        base = os.path.join(entry or os.curdir, *parts)
        for suffix in suffixes:
            found.append(base + suffix)
    return [path for path in found if os.path.isfile(path)]


def loaded_as(name):
    """The module the file `name` would be imported from is loaded as already (or "an earlier
    import" when the file is mapped into the process without a module of its own), if it is:
    an extension a package's __init__ loads under another name (opencv's cv2 loads
    cv2/cv2.abi3.so as `cv2`) refuses to be imported again under its own."""
    try:
        files = set(os.path.realpath(path) for path in origins(name))
        if not files:
            return None
        for module_name, module in list(sys.modules.items()):
            path = getattr(module, "__file__", None)
            if module_name != name and isinstance(path, str) and os.path.realpath(path) in files:
                return module_name
        # Loaded, and its contents copied into the package (opencv 5's cv2 keeps no module of
        # it): the shared object is mapped into this process.
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            for line in maps:
                fields = line.split(None, 5)
                if len(fields) == 6 and fields[5].strip() in files:
                    return "an earlier import"
    except BaseException:  # the import below reports what is wrong
        return None
    return None


def main():
    plan_path, results_path = sys.argv[1], sys.argv[2]
    with open(plan_path, encoding="utf-8") as plan_file:
        plan = json.load(plan_file)
    results = open(results_path, "a", encoding="utf-8")
    # Bound now: an imported module may replace json.dumps, sys.stdout or the cwd.
    dumps = json.dumps
    clock = time.perf_counter
    wall = time.time
    stderr = sys.stderr

    def emit(record):
        results.write(dumps(record) + "\n")
        results.flush()

    if plan.get("dump_after"):
        faulthandler.dump_traceback_later(plan["dump_after"], exit=False)
    emit({"event": "python", "version": "%d.%d.%d" % sys.version_info[:3], "executable": sys.executable})
    namespace = {"__name__": "__wheelwright_test__"}
    failed = 0
    for target in plan["targets"]:
        name = target["name"]
        emit({"event": "start", "name": name, "at": wall()})
        started = clock()
        try:
            importlib.import_module(name)
        except BaseException as error:  # SystemExit and KeyboardInterrupt from module code too
            seconds = clock() - started
            # An extension that refuses to be imported under its own name because an earlier
            # import loaded it under another: its compiled code is loaded, which is the point.
            already = None
            if target.get("kind") == "extension" and isinstance(error, ImportError):
                already = loaded_as(name)
            if already is not None:
                emit({"event": "result", "name": name, "ok": True, "seconds": seconds, "loaded_as": already})
                continue
            failed += 1
            details = describe(error)
            emit({"event": "result", "name": name, "ok": False, "seconds": seconds, "error": details})
            try:
                stderr.write("import %s failed:\n%s\n" % (name, "\n".join(details["traceback"])))
            except BaseException:
                pass
        else:
            emit({"event": "result", "name": name, "ok": True, "seconds": clock() - started})
            # As `import a.b.c` does: the snippet sees the top-level name.
            top = name.split(".")[0]
            if top in sys.modules:
                namespace[top] = sys.modules[top]
    snippet = plan.get("snippet")
    if snippet is not None and not failed:
        emit({"event": "snippet-start", "at": wall()})
        started = clock()
        try:
            exec(compile(snippet, "<recipe test>", "exec"), namespace)
        except BaseException as error:
            details = describe(error)
            emit({"event": "snippet", "ok": False, "seconds": clock() - started, "error": details})
            try:
                stderr.write("the recipe's test failed:\n%s\n" % "\n".join(details["traceback"]))
            except BaseException:
                pass
        else:
            emit({"event": "snippet", "ok": True, "seconds": clock() - started})
    emit({"event": "done"})
    results.close()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            pass
    # Not sys.exit: threads that imported modules started, or their atexit hooks, must not
    # keep the process alive or change its verdict, which is in the results file.
    os._exit(0)


main()
