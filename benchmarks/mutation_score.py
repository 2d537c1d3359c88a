"""Mutation score per package, with cosmic-ray: every mutant its operators make of a package's modules is run
against the tests that cover that package, in a temporary copy of the repository (the working tree is never
edited), and the share of mutants the tests kill is printed per package.

    .venv/bin/python -m pip install -e '.[test]'        # brings cosmic-ray
    .venv/bin/python benchmarks/mutation_score.py --list
    .venv/bin/python benchmarks/mutation_score.py output engine.quant          # chosen packages
    .venv/bin/python benchmarks/mutation_score.py --jobs 2 --survivors         # all, two at a time, with diffs
    .venv/bin/python benchmarks/mutation_score.py output --tests-from main     # main's tests on this code

A mutant is killed when its tests fail or time out (cosmic-ray's "killed" and "incompetent"); it survives when
they pass. The unmutated copy must pass the same tests first (cosmic-ray baseline), else the package is
reported as invalid. Each mutant costs one pytest start (~2 s) plus its tests, so the selections below avoid
TensorFlow. The hand-written C kernel mutants (benchmarks/mutant_list.py, run by benchmarks/mutants.py) stay
beside this: cosmic-ray mutates Python only. Equivalent mutants (no behaviour can tell them apart) are listed
in EQUIVALENT with why; they are counted, not hidden.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from mutants import check_isolation, copy_repository, existing

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT_S = 120.0  # one mutant's test run; a mutant that loops forever is killed by it


@dataclass(frozen=True)
class Package:
    """Modules mutated together and the pytest selections (files or node ids, then options) that cover them."""

    name: str
    modules: tuple[str, ...]
    tests: tuple[str, ...]
    options: tuple[str, ...] = ()


PACKAGES = [
    Package("validate.gates+junit", ("edgeq/validate/gates.py", "edgeq/validate/junit.py"),
            ("tests/validate/test_val_gates.py", "tests/validate/test_val_thresholds.py"), ("-k", "not cli")),
    Package("engine.quant", ("edgeq/engine/quant.py",),
            ("tests/engine/test_quant_multiplier.py", "tests/engine/test_quant_reference.py")),
    Package("check.budgets", ("edgeq/check/rules.py",),
            ("tests/check/test_budgets.py", "tests/check/test_rules_details.py", "tests/check/test_check.py"),
            ("-k", "not digits and not android and not float_model and not rule_message and not convert")),
    Package("check.esp_nn", ("edgeq/check/esp_nn.py",), ("tests/check/test_esp_nn.py",), ("-k", "not digits")),
    Package("staging", ("edgeq/staging.py",),
            ("tests/integration/test_output_staging.py", "tests/integration/test_output_guards.py"),
            ("-m", "not slow")),
    # the stale-build cleanup's tests only: the library-building and QEMU tests take ~30 s a mutant
    Package("emulate.tflm", ("edgeq/emulate/tflm.py",), ("tests/emulate/test_emulate_tflm_cache.py",),
            ("-m", "not slow and not arm")),
    Package("recover.choice", ("edgeq/recover/score.py",), ("tests/recover/test_recover_choice.py",),
            ("-m", "not slow")),
]
BY_NAME = {p.name: p for p in PACKAGES}

# cosmic-ray replaces every binary and comparison operator by every other one (Add by Sub, Mul, Pow, BitXor,
# ...): 500+ mutants for a 100-line module, most of them crashing at once. Like mutmut, keep one replacement
# per operator, its natural opposite; every other operator (numbers, booleans, and/or, unary operators,
# break/continue, exceptions, decorators, loops) is kept in full.
BINARY = {"Add": "Sub", "Sub": "Add", "Mul": "Div", "Div": "Mul", "FloorDiv": "Div", "Mod": "FloorDiv",
          "Pow": "Mul", "LShift": "RShift", "RShift": "LShift", "BitAnd": "BitOr", "BitOr": "BitAnd",
          "BitXor": "BitOr", "MatMul": "Mul"}
COMPARISON = {"Eq": "NotEq", "NotEq": "Eq", "Lt": "LtE", "LtE": "Lt", "Gt": "GtE", "GtE": "Gt", "Is": "IsNot",
              "IsNot": "Is", "In": "NotIn", "NotIn": "In"}


def _kept_pairs(kind: str, pairs: dict[str, str]) -> str:
    """A regex matching every cosmic-ray operator of `kind` except the kept replacements."""
    kept = "|".join(f"{a}_{b}$" for a, b in pairs.items())
    return f"core/{kind}_(?!({kept}))"


# Unary operators: removing one (cosmic-ray's Delete_*: -x -> x, not x -> x, ~x -> x) and +x -> -x; not
# -x -> ~x and the like.
EXCLUDED_OPERATORS = [_kept_pairs("ReplaceBinaryOperator", BINARY),
                      _kept_pairs("ReplaceComparisonOperator", COMPARISON),
                      "core/ReplaceUnaryOperator_(?!(Delete_|UAdd_USub$))"]

# (module, the mutated line without spaces) -> why no test can kill it: mutants found equivalent by reading
# them, keyed by what the mutant's line reads (cosmic-ray's diff), so that edits elsewhere do not move them.
_Q, _O = "edgeq/engine/quant.py", "edgeq/staging.py"
_AT_ZERO = "differs only where the value is 0, and there both branches give 0"
_EQUIVALENT_LINES: dict[tuple[str, str], str] = {
    (_Q, "nudge = (1 << 30) if ab > 0 else 1 - (1 << 30)"): f"ab >= 0 -> ab > 0: {_AT_ZERO} (|1 - 2^30| >> 31 = 0)",
    (_Q, "nudge = (1 << 30) if ab >= 1 else 1 - (1 << 30)"): f"ab >= 0 -> ab >= 1: {_AT_ZERO}",
    (_Q, "nudge = (1 << 30) if ab >= -1 else 1 - (1 << 30)"): "ab >= 0 -> ab >= -1: at ab = -1 both nudges give "
                                                               "|total| < 2^31, i.e. 0",
    (_Q, "return quotient if total > 0 else -quotient"): f"total >= 0 -> > 0: {_AT_ZERO} (-0 == 0)",
    (_Q, "return quotient if total >= 1 else -quotient"): f"total >= 0 -> >= 1: {_AT_ZERO}",
    (_Q, "return quotient if total >= -1 else -quotient"): "at total = -1 the quotient 1 >> 31 is 0 either way",
    (_Q, "threshold = (mask >> 1) + (1 if x <= 0 else 0)"): "x < 0 -> x <= 0: at x = 0 the remainder is 0, never "
                                                             "above either threshold",
    (_Q, "threshold = (mask >> 1) + (1 if x < 1 else 0)"): "x < 0 -> x < 1: the same as x <= 0 for integers",
    (_Q, "left = shift if shift >= 0 else 0"): "at shift 0 the left shift is 0 either way",
    (_Q, "left = shift if shift > -1 else 0"): "the same as shift >= 0 for integers: at 0 the shift is 0",
    (_Q, "right = 0 if shift >= 0 else -shift"): "at shift 0 the right shift is 0 either way",
    (_Q, "right = 0 if shift > -1 else -shift"): "the same as shift >= 0 for integers: at 0 the shift is 0",
    (_Q, "shifted = ((x << left) - (1 << 31)) % (1 << 32) - (1 << 31)  # int32 wrap-around, as in C"):
        "(v + 2^31) mod 2^32 == (v - 2^31) mod 2^32",
    **{(_O, f'for block in iter(lambda: fh.read({size}), b""):'): "the read block size does not change the sha256"
       for size in ("2 << 20", "1 << 21", "1 << 19", "0 << 20")},
    **{(_O, f"mask = os.umask({m})"): "os.umask(x) returns the mask in force whatever x is, and the next line "
       "restores it" for m in ("1", "-1")},
    (_O, "continue"): "_created_parents: every ancestor of an existing folder exists, so after the first existing "
                      "one nothing more is appended (staging.py's only loop with break)",
}
EQUIVALENT = {(module, "".join(line.split())): why for (module, line), why in _EQUIVALENT_LINES.items()}
ANNOTATION = "a type annotation: never evaluated (the module has `from __future__ import annotations`)"


def annotation_lines(path: Path) -> set[int]:
    """Lines holding a type annotation of a module with postponed annotations (empty without them): an
    operator mutated there (`Path | None` -> `Path & None`) changes nothing that runs."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    postponed = any(isinstance(node, ast.ImportFrom) and node.module == "__future__"
                    and any(alias.name == "annotations" for alias in node.names) for node in tree.body)
    if not postponed:
        return set()
    found: set[int] = set()
    for node in ast.walk(tree):
        annotations = []
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            arguments = node.args
            annotations = [a.annotation for a in (*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs,
                                                  arguments.vararg, arguments.kwarg) if a is not None]
            annotations.append(node.returns)
        elif isinstance(node, ast.AnnAssign):
            annotations = [node.annotation]
        for annotation in annotations:
            if annotation is not None:
                found.update(range(annotation.lineno, (annotation.end_lineno or annotation.lineno) + 1))
    return found


def _equivalent(copy: Path, where: tuple[str, int, str, int], diff: str, lines: dict[str, set[int]]) -> str:
    """Why the surviving mutant at `where` (module, line, operator, occurrence) with `diff` is equivalent, or ''."""
    module, line, operator, _ = where
    added = ["".join(d[1:].split()) for d in diff.splitlines() if d.startswith("+") and not d.startswith("+++")]
    for text in added:
        if (module, text) in EQUIVALENT:
            return EQUIVALENT[(module, text)]
    if module not in lines:
        lines[module] = annotation_lines(copy / module)
    if operator.startswith("core/ReplaceBinaryOperator_BitOr") and line in lines[module]:
        return ANNOTATION
    return ""


def _config(package: Package, tests: tuple[str, ...]) -> str:
    command = " ".join([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests,
                        *(f"'{o}'" if " " in o else o for o in package.options)])
    modules = ", ".join(json.dumps(m) for m in package.modules)
    return (f"[cosmic-ray]\nmodule-path = [{modules}]\ntimeout = {TIMEOUT_S}\nexcluded-modules = []\n"
            f"test-command = {json.dumps(command)}\n\n[cosmic-ray.distributor]\nname = \"local\"\n\n"
            f"[cosmic-ray.filters.operators-filter]\nexclude-operators = {json.dumps(EXCLUDED_OPERATORS)}\n")


def _cosmic_ray(copy: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run a cosmic-ray command (`cosmic-ray ...` or one of its cr-* tools) in the copy, on the copy's edgeq."""
    env = {**os.environ, "CI": "true", "PYTHONDONTWRITEBYTECODE": "1", "TF_CPP_MIN_LOG_LEVEL": "3",
           "PYTHONPATH": str(copy)}
    program, rest = (args[0], args[1:]) if args[0].startswith(("cosmic-ray", "cr-")) else ("cosmic-ray", args)
    tool = Path(sys.executable).with_name(program)
    if not tool.is_file():
        raise SystemExit("mutation_score: cosmic-ray is not installed: pip install -e '.[test]'")
    return subprocess.run([str(tool), *rest], cwd=copy, env=env, capture_output=True, text=True)


def score_package(package: Package, tests_from: str | None, keep: bool) -> dict:
    """Run every mutant of `package` in a fresh copy; its counts and its survivors."""
    work = Path(tempfile.mkdtemp(prefix=f"edgeq-mutation-{package.name}-"))
    copy = work / "repo"
    copy.mkdir()
    start = time.monotonic()
    try:
        copy_repository(copy, tests_from)
        check_isolation(copy)
        tests = existing(copy, package.tests)
        result = {"package": package.name, "modules": list(package.modules), "tests": list(tests),
                  "options": list(package.options)}
        if not tests:  # another revision without these tests kills nothing
            (copy / "cr.toml").write_text(_config(package, ("--collect-only",)))
            _init(copy, package)
            total = sum(1 for _, outcome in _dump(copy) if outcome is None)
            return {**result, "status": "no tests", "killed": 0, "survived": total, "total": total,
                    "survivors": [], "seconds": 0.0}
        (copy / "cr.toml").write_text(_config(package, tests))
        _init(copy, package)
        done = _cosmic_ray(copy, "baseline", "cr.toml")
        if done.returncode != 0:
            return {**result, "status": "invalid (the unmutated copy fails its tests)", "killed": 0, "survived": 0,
                    "total": 0, "survivors": [], "detail": (done.stdout + done.stderr)[-3000:], "seconds": 0.0}
        done = _cosmic_ray(copy, "exec", "cr.toml", "session.sqlite")
        if done.returncode != 0:
            raise SystemExit(f"cosmic-ray exec failed for {package.name}: {done.stderr[-2000:]}")
        rows = _dump(copy)
        survivors = []
        killed = 0
        lines: dict[str, set[int]] = {}
        rows = [(item, outcome) for item, outcome in rows if outcome is not None
                and outcome.get("worker_outcome") != "skipped"]
        for item, outcome in rows:
            if outcome.get("test_outcome") in ("killed", "incompetent"):
                killed += 1
                continue
            mutation = item["mutations"][0]
            where = (mutation["module_path"], mutation["start_pos"][0], mutation["operator_name"],
                     mutation["occurrence"])
            survivors.append({"module": where[0], "line": where[1], "operator": where[2],
                              "occurrence": where[3], "diff": outcome.get("diff", ""),
                              "equivalent": _equivalent(copy, where, outcome.get("diff", ""), lines)})
        total = len(rows)
        return {**result, "status": "scored", "killed": killed, "survived": total - killed, "total": total,
                "survivors": survivors, "seconds": round(time.monotonic() - start, 1)}
    finally:
        if keep:
            print(f"  {package.name}: copy kept in {work}", flush=True)
        else:
            shutil.rmtree(work, ignore_errors=True)


def _init(copy: Path, package: Package) -> None:
    """cosmic-ray init, then drop the operator replacements EXCLUDED_OPERATORS names."""
    for command in (("cosmic-ray", "init", "cr.toml", "session.sqlite"),
                    ("cr-filter-operators", "session.sqlite", "cr.toml")):
        done = _cosmic_ray(copy, *command)
        if done.returncode != 0:
            raise SystemExit(f"{command[0]} {command[1]} failed for {package.name}: {done.stderr[-2000:]}")


def _dump(copy: Path) -> list[tuple[dict, dict | None]]:
    done = _cosmic_ray(copy, "dump", "session.sqlite")
    rows = []
    for line in done.stdout.splitlines():
        if line.strip():
            item, outcome = json.loads(line)
            rows.append((item, outcome))
    return rows


def _line(result: dict) -> str:
    """'name  killed / total killed  x %  (without the equivalent ones: y %)'."""
    total = result["total"]
    share = f"{100 * result['killed'] / total:5.1f} %" if total else "   - %"
    equivalent = sum(1 for s in result["survivors"] if s["equivalent"])
    rest = total - equivalent
    eq = (f"; {equivalent} equivalent, without them {result['killed']} / {rest} = "
          f"{100 * result['killed'] / rest:.1f} %") if equivalent and rest else ""
    return (f"{result['package']:22} {result['killed']:4} / {total:<4} killed {share}  "
            f"({result['status']}, {result.get('seconds', 0):.0f} s{eq})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("packages", nargs="*", help="package names (default: all; see --list)")
    parser.add_argument("--list", action="store_true", help="list the packages, their modules and tests")
    parser.add_argument("--jobs", type=int, default=1, help="packages run at once (each uses one core)")
    parser.add_argument("--tests-from", metavar="REV", help="use tests/ from this git revision (e.g. main)")
    parser.add_argument("--survivors", action="store_true", help="print each surviving mutant's diff")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the results as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the copies (with cosmic-ray's sessions)")
    args = parser.parse_args(argv)
    unknown = [name for name in args.packages if name not in BY_NAME]
    if unknown:
        parser.error(f"unknown package(s) {', '.join(unknown)}; one of {', '.join(BY_NAME)}")
    chosen = [BY_NAME[name] for name in args.packages] or PACKAGES
    if args.list:
        for p in chosen:
            print(f"{p.name:22} {' '.join(p.modules)}\n{'':22} tests: {' '.join(p.tests + p.options)}")
        return 0
    print(f"{len(chosen)} package(s); tests from {args.tests_from or 'the working tree'}", flush=True)
    with ThreadPoolExecutor(max_workers=max(args.jobs, 1)) as pool:
        results = list(pool.map(lambda p: score_package(p, args.tests_from, args.keep), chosen))
    for result in results:
        print(_line(result))
        if args.survivors:
            for s in result["survivors"]:
                print(f"  survived: {s['module']}:{s['line']} {s['operator']} #{s['occurrence']}"
                      + (f"  [equivalent: {s['equivalent']}]" if s["equivalent"] else ""))
                for diff_line in s["diff"].splitlines():
                    if diff_line.startswith(("+", "-")) and not diff_line.startswith(("+++", "---")):
                        print(f"      {diff_line}")
    killed, total = sum(r["killed"] for r in results), sum(r["total"] for r in results)
    equivalent = sum(1 for r in results for s in r["survivors"] if s["equivalent"])
    print(f"all: {killed} / {total} killed ({100 * killed / max(total, 1):.1f} %); {equivalent} equivalent, "
          f"without them {100 * killed / max(total - equivalent, 1):.1f} %")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
