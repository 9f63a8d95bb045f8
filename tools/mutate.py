"""``make mutate``: mutation testing of the modules that decide what a row is (docs/mutation.md).

Runs mutmut (configured in ``[tool.mutmut]`` of pyproject.toml: which modules, which tests) from a
fresh ``mutants/`` folder, then prints the score per module and every mutant that no test killed,
and writes them, with each one's diff, to ``mutants/survivors.txt``.

    python tools/mutate.py             # a fresh, complete run (what `make mutate` does)
    python tools/mutate.py --again     # re-test only the mutants the last run did not kill
    python tools/mutate.py --report    # print the last run's results again
    python tools/mutate.py --diffs     # ... with the diff of every mutant not killed

Not part of `make test`: a complete run takes tens of minutes on two cores.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MUTANTS = ROOT / "mutants"
# at most two mutants at a time: the machines this project runs on have two cores
MAX_CHILDREN = min(2, os.cpu_count() or 1)
NOT_KILLED = ("survived", "no tests", "suspicious", "segfault", "not checked")
COLUMNS = ("killed", "timeout", "survived", "no tests", "suspicious", "segfault", "not checked")


def _config() -> dict:
    import tomllib

    return tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["tool"]["mutmut"]


def _modules() -> list[str]:
    return list(_config()["only_mutate"])


def results() -> dict[str, dict[str, str]]:
    """module path -> {mutant name: status}, from mutmut's files under mutants/."""
    from mutmut.stats import status_by_exit_code

    out: dict[str, dict[str, str]] = {}
    for module in _modules():
        meta = MUTANTS / f"{module}.meta"
        if not meta.exists():
            continue
        codes = json.loads(meta.read_text("utf-8"))["exit_code_by_key"]
        out[module] = {name: status_by_exit_code[code] for name, code in codes.items()}
    return out


def _diff(name: str, module: str) -> str:
    from mutmut.mutation.diff_apply import get_diff_for_mutant

    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        return get_diff_for_mutant(name, path=module)
    except Exception as exc:  # a diff is a convenience: the name alone still says which mutant
        return f"(no diff: {exc})"
    finally:
        os.chdir(cwd)


def report(found: dict[str, dict[str, str]], *, diffs: bool, elapsed: float | None) -> int:
    """Print the score table and the mutants not killed; returns how many were not killed."""
    if not found:
        print("no mutation results under mutants/: run `make mutate` first")
        return 0
    totals: Counter[str] = Counter()
    width = max(len(m) for m in found)
    print()
    print(f"{'module':<{width}}  {'total':>5}  " + "  ".join(f"{c:>11}" for c in COLUMNS) + "  not killed")
    for module, statuses in found.items():
        counts = Counter(statuses.values())
        totals.update(counts)
        totals["total"] += len(statuses)
        print(_row(module, width, len(statuses), counts))
    print(_row("all", width, totals["total"], totals))
    lines = []
    for module, statuses in found.items():
        missed = {n: s for n, s in statuses.items() if s in NOT_KILLED}
        if not missed:
            continue
        by_status = defaultdict(list)
        for name, status in sorted(missed.items()):
            by_status[status].append(name)
        for status, names in by_status.items():
            lines.append(f"\n{module}: {len(names)} {status}")
            for name in names:
                lines.append(f"    {name}")
                if diffs:
                    lines.extend("        " + line for line in _diff(name, module).splitlines())
    survivors = MUTANTS / "survivors.txt"
    with_diffs = [ln for module, statuses in found.items() for n, s in sorted(statuses.items()) if s in NOT_KILLED
                  for ln in (f"# {n}: {s}", _diff(n, module), "")]
    survivors.write_text("\n".join(with_diffs), "utf-8")
    if lines:
        print("\nmutants no test killed (`.venv/bin/mutmut show NAME` shows one; all diffs: mutants/survivors.txt):")
        print("\n".join(lines))
    not_killed = sum(totals[s] for s in NOT_KILLED)
    share = 100 * not_killed / totals["total"] if totals["total"] else 0.0
    print(f"\n{totals['killed'] + totals['timeout']} of {totals['total']} mutants killed; "
          f"{not_killed} not killed ({share:.1f}%)" + (f"; mutmut ran {elapsed / 60:.1f} min" if elapsed else ""))
    (MUTANTS / "summary.json").write_text(json.dumps({
        "modules": {m: dict(Counter(s.values())) | {"total": len(s)} for m, s in found.items()},
        "not_killed": not_killed, "total": totals["total"], "minutes": round(elapsed / 60, 1) if elapsed else None,
    }, indent=2), "utf-8")
    return not_killed


def _row(name: str, width: int, total: int, counts: Counter[str]) -> str:
    missed = sum(counts[s] for s in NOT_KILLED)
    share = f"{100 * missed / total:.1f}%" if total else "-"
    return f"{name:<{width}}  {total:>5}  " + "  ".join(f"{counts[c]:>11}" for c in COLUMNS) + f"  {missed} ({share})"


def run(names: list[str]) -> float:
    mutmut = Path(sys.executable).with_name("mutmut")
    started = time.monotonic()
    code = subprocess.call([str(mutmut), "run", "--max-children", str(MAX_CHILDREN), *names], cwd=ROOT)
    elapsed = time.monotonic() - started
    if code != 0:
        sys.exit(f"mutmut run failed (exit {code}); its output is above")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--again", action="store_true", help="re-test only the mutants the last run did not kill")
    parser.add_argument("--report", action="store_true", help="only print the last run's results")
    parser.add_argument("--diffs", action="store_true", help="print the diff of every mutant not killed")
    args = parser.parse_args()
    elapsed = None
    if not args.report:
        if args.again:
            names = [n for statuses in results().values() for n, s in statuses.items() if s in NOT_KILLED]
            if not names:
                sys.exit("nothing to re-test: no earlier run left a mutant alive (run without --again)")
            elapsed = run(names)
        else:
            shutil.rmtree(MUTANTS, ignore_errors=True)  # results cached by mutmut would outlive changed tests
            elapsed = run([])
    report(results(), diffs=args.diffs, elapsed=elapsed)


if __name__ == "__main__":
    main()
