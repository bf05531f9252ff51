"""Compare a quick benchmark run with the committed baseline; fail only on a big regression.

    autoconv bench --quick --json > run.json
    python bench/compare.py bench/baseline.json run.json

For each op the ratio autoconv time / NumPy time of the fastest rounds (measured in the same
run, so the machine's speed cancels out; the fastest round is steadier than the median under
a noisy neighbour) is compared with the baseline's. Two checks, with thresholds set from the
spread of 4 quick runs on the CI machine kind (stored per op in baseline.json):
- the geometric mean of all ops' changes must stay under GEOMEAN_THRESHOLD (its run-to-run
  spread was 1.08x), which catches a general slowdown;
- no single op may get more than OP_THRESHOLD slower (single ops spread up to 1.65x), which
  catches a kernel that fell off a cliff (serial, or Python, or a lost fusion).
Both are wide on purpose: CI must not be flaky.

Refresh the baseline after a deliberate change:
    autoconv bench --quick --json > bench/baseline.json
"""

from __future__ import annotations

import json
import math
import sys

GEOMEAN_THRESHOLD = 1.5
OP_THRESHOLD = 4.0


def ratios(report: dict) -> dict[str, float]:
    return {f"{row['op']} [{row['shape']}]": row["best_ratio_numpy"] for row in report["rows"]}


def main(baseline_path: str, run_path: str) -> int:
    with open(baseline_path) as f:
        baseline = ratios(json.load(f))
    with open(run_path) as f:
        run = ratios(json.load(f))
    failures, changes = [], []
    print(f"{'op':62s} {'baseline':>9s} {'this run':>9s} {'change':>7s}")
    for key, now in run.items():
        before = baseline.get(key)
        if before is None:
            print(f"{key:62s} {'-':>9s} {now:9.2f}   (new)")
            continue
        change = now / before
        changes.append(change)
        flag = "  REGRESSION" if change > OP_THRESHOLD else ""
        print(f"{key:62s} {before:9.2f} {now:9.2f} {change:6.2f}x{flag}")
        if flag:
            failures.append(key)
    missing = sorted(set(baseline) - set(run))
    for key in missing:
        print(f"{key:62s} missing from this run")
    geomean = math.exp(sum(math.log(c) for c in changes) / len(changes)) if changes else 1.0
    print(f"geometric mean change: {geomean:.2f}x (fails above {GEOMEAN_THRESHOLD}x)")
    if failures or missing or geomean > GEOMEAN_THRESHOLD:
        print(f"{len(failures)} op(s) slower than {OP_THRESHOLD}x, {len(missing)} missing")
        return 1
    print("no regression against the baseline")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python bench/compare.py BASELINE.json RUN.json")
    sys.exit(main(sys.argv[1], sys.argv[2]))
