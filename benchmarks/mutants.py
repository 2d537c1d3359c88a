"""Mutation check: put each named bug (benchmarks/mutant_list.py) into a temporary copy of the repository,
run only the tests that cover it, and report which the suite catches.

    .venv/bin/python benchmarks/mutants.py                   # every mutant, the current tests
    .venv/bin/python benchmarks/mutants.py -k halves -k gate  # mutants whose name contains a pattern
    .venv/bin/python benchmarks/mutants.py --tests-from main  # the same mutants against main's tests
    .venv/bin/python benchmarks/mutants.py -k halves --tests tests/engine/test_engine_halves.py  # one file only
    .venv/bin/python benchmarks/mutants.py --list

A mutant is caught when its tests fail (pytest exit status 1). The unmutated copy runs the same tests
first: a selection that fails there makes its mutants "invalid", not caught. The copy holds the working
tree's tracked and untracked (not ignored) files, with `edgeq/_templates` and `edgeq/_targets` linked to
its own firmware_templates/ and targets/, so that nothing resolves to the editable install's sources.
Tests run with CI=true (a missing tool fails rather than skips). A full run takes 20-40 minutes.
Exit status: 0 when every mutant is caught.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mutant_list import MUTANTS, Mutant

ROOT = Path(__file__).resolve().parents[1]


def copy_repository(destination: Path, tests_from: str | None) -> None:
    """The working tree's files (tracked and untracked, not ignored) into `destination`; with `tests_from`,
    tests/ as it is at that revision instead."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for rel in filter(None, listed):
        source = ROOT / rel
        if source.is_file() and not (tests_from and rel.startswith("tests/")):
            target = destination / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    if tests_from:
        archive = subprocess.run(["git", "archive", tests_from, "tests"], cwd=ROOT, capture_output=True,
                                 check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(destination)], input=archive, check=True)
    (destination / "edgeq" / "_templates").symlink_to("../firmware_templates")
    (destination / "edgeq" / "_targets").symlink_to("../targets")


def check_isolation(copy: Path) -> None:
    """Fail unless edgeq, its templates and its targets all come from the copy."""
    probe = ("import edgeq, edgeq.resources as r; "
             "print(edgeq.__file__); print(r.templates_dir().resolve()); print(r.targets_dir().resolve())")
    lines = subprocess.run([sys.executable, "-c", probe], cwd=copy, capture_output=True, text=True,
                           check=True).stdout.split()
    outside = [line for line in lines if not Path(line).resolve().is_relative_to(copy.resolve())]
    if outside:
        raise SystemExit(f"mutants: the copy imports {outside} from outside {copy}; aborting")


def run_tests(copy: Path, tests: tuple[str, ...], log: Path) -> tuple[int, str, float]:
    """(pytest exit status, first failing test or '', seconds) for `tests` in the copy."""
    env = {**os.environ, "CI": "true", "PYTHONDONTWRITEBYTECODE": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rfE", *tests],
                          cwd=copy, env=env, capture_output=True, text=True)
    log.write_text(done.stdout + done.stderr)
    failed = [line.split()[1] for line in done.stdout.splitlines() if line.startswith(("FAILED ", "ERROR "))]
    return done.returncode, failed[0] if failed else "", time.monotonic() - start


def existing(copy: Path, tests: tuple[str, ...]) -> tuple[str, ...]:
    """The selections (files or node ids) that exist in the copy: another revision's tests may lack some."""
    files = sorted({t.split("::")[0] for t in tests if (copy / t.split("::")[0]).is_file()})
    if not files:
        return ()
    listed = subprocess.run([sys.executable, "-m", "pytest", "-q", "--collect-only", "-p", "no:cacheprovider",
                             *files], cwd=copy, capture_output=True, text=True).stdout.splitlines()
    collected = {line.split("[")[0] for line in listed if "::" in line}
    return tuple(t for t in tests if t in files or t.split("[")[0] in collected)


def apply(copy: Path, mutant: Mutant) -> str:
    """Edit the copy; return the file's original text."""
    path = copy / mutant.path
    original = path.read_text()
    text = original
    for old, new in mutant.edits:
        if text.count(old) != 1:
            raise SystemExit(f"mutants: {mutant.name}: {old!r} occurs {text.count(old)} times in {mutant.path}")
        text = text.replace(old, new)
    path.write_text(text)
    return original


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-k", action="append", default=[], help="only mutants whose name contains this")
    parser.add_argument("--tests-from", metavar="REV", help="use tests/ from this git revision (e.g. main)")
    parser.add_argument("--tests", action="append", default=[], metavar="ARG",
                        help="run these pytest files/node ids for every chosen mutant instead of its own")
    parser.add_argument("--list", action="store_true", help="list the mutants and their tests, run nothing")
    parser.add_argument("--keep", action="store_true", help="keep the copy and the pytest logs")
    args = parser.parse_args(argv)
    chosen = [m for m in MUTANTS if not args.k or any(k in m.name for k in args.k)]
    if args.list:
        for m in chosen:
            print(f"{m.name:40} {m.area:9} {m.path}\n{'':40} {' '.join(m.tests)}")
        return 0
    work = Path(tempfile.mkdtemp(prefix="edgeq-mutants-"))
    copy, logs = work / "repo", work / "logs"
    copy.mkdir()
    logs.mkdir()
    copy_repository(copy, args.tests_from)
    check_isolation(copy)
    print(f"{len(chosen)} mutants; tests from {args.tests_from or 'the working tree'}; copy in {copy}", flush=True)
    baseline: dict[tuple[str, ...], int] = {}
    rows = []
    for mutant in chosen:
        tests = existing(copy, tuple(args.tests) or mutant.tests)
        if not tests:
            rows.append((mutant, "missed", "no test file", 0.0))
            print(f"  {mutant.name:40} missed   (none of its test files exist)", flush=True)
            continue
        if tests not in baseline:
            baseline[tests], first, seconds = run_tests(copy, tests, logs / f"baseline-{len(baseline)}.log")
            if baseline[tests] != 0:
                print(f"  baseline of {' '.join(tests)} fails ({first}); its mutants are invalid", flush=True)
        if baseline[tests] != 0:
            rows.append((mutant, "invalid", "baseline fails", 0.0))
            continue
        original = apply(copy, mutant)
        try:
            status, first, seconds = run_tests(copy, tests, logs / f"{mutant.name}.log")
        finally:
            (copy / mutant.path).write_text(original)
        verdict = "caught" if status == 1 else "missed" if status == 0 else f"error {status}"
        rows.append((mutant, verdict, first, seconds))
        print(f"  {mutant.name:40} {verdict:8} {seconds:5.0f} s  {first}", flush=True)
    caught = sum(1 for _, verdict, _, _ in rows if verdict == "caught")
    valid = sum(1 for _, verdict, _, _ in rows if verdict != "invalid")
    print(f"\nscore: {caught} of {valid} mutants caught ({100 * caught / max(valid, 1):.0f} %)")
    for area in sorted({m.area for m in chosen}):
        in_area = [v for m, v, _, _ in rows if m.area == area and v != "invalid"]
        print(f"  {area:9} {sum(v == 'caught' for v in in_area)} of {len(in_area)}")
    missed = [m.name for m, v, _, _ in rows if v != "caught"]
    if missed:
        print("not caught: " + ", ".join(missed))
    if args.keep:
        print(f"copy and logs kept in {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if not missed else 1


if __name__ == "__main__":
    sys.exit(main())
