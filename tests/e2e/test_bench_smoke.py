"""The benchmark script runs end to end at a tiny size and prints its table and ratios.

Only the shape of the output is checked: at this size fixed costs dominate and the targets (which
``make bench`` checks on 1M-row archives) are meaningless.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench.py"


def test_bench_script_prints_the_table_and_the_ratios(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--watch", "2000", "--likes", "400", "--naive-rows", "500",
         "--scales", "1000", "--download-mb", "2", "--repeat", "1", "--workdir", str(tmp_path), "--no-check"],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert "wall s" in out and "rows/s" in out and "peak MB" in out
    for case in ("(1) tiktok-portability load", "(2) DuckDB read_json", "(3) dict-per-row dlt",
                 "(3) … extrapolated", "(4) second export", "(1) at 1,000 watch rows", "(5) API download"):
        assert case in out, (case, out)
    for ratio in ("ratio (1)/(2) wall time:", "ratio (1)/(3) wall time:", "ratio (4)/(1) wall time:"):
        assert ratio in out, (ratio, out)
    assert "targets met" in out and "machine:" in out
    # the first load loaded exactly what the generator wrote
    assert "ROWS DIFFER" not in out


def test_many_users_benchmark_prints_every_figure(tmp_path):
    """``benchmarks/many_users.py --quick`` at its smallest: 4 users in batches of 2, 2 of them into
    PostgreSQL with one worker (a line saying why when no PostgreSQL can be had)."""
    script = SCRIPT.with_name("many_users.py")
    proc = subprocess.run(
        [sys.executable, str(script), "--quick", "--no-check", "--users", "4", "--batch", "2", "--pg-users", "2",
         "--workers", "1", "--repeat", "1", "--workdir", str(tmp_path)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert "wall s" in out and "rows/s" in out and "peak MB" in out and "machine:" in out
    for case in ("(1) 4 users -> one DuckDB, 2 runs of 2", "(3) 2 archives of", "(3) one archive, the same rows",
                 "(4) first load", "(4) next-day export"):
        assert case in out, (case, out)
    for figure in ("(1) wall time:", "(1) peak memory per 2-archive run:",
                   "(1) dlt state size (chars stored) by users:", "(1) dlt state after 4 users / after 2:",
                   "(1) _tiktok_user_state rows by users:", "(2) PostgreSQL", "(3) per-row cost",
                   "(4) next-day export / first load wall time:"):
        assert figure in out, (figure, out)
    assert "targets met" in out
    # every table held exactly the rows the generator wrote (DuckDB, and PostgreSQL when it ran)
    assert "ROWS DIFFER" not in out
    assert "[MISSED] (1) every table holds exactly the expected rows" not in out
