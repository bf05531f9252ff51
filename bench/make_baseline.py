"""Write a CI baseline from several `autoconv bench --quick --json` runs: the median ratio of
each op, and how far the runs spread (max / min), which is what the thresholds rest on.

    python bench/make_baseline.py run1.json run2.json ... > bench/baseline.json
"""

from __future__ import annotations

import datetime
import json
import platform
import statistics
import sys


def main(paths: list[str]) -> dict:
    runs = [json.load(open(path)) for path in paths]
    rows = []
    for index, row in enumerate(runs[0]["rows"]):
        values = [run["rows"][index]["best_ratio_numpy"] for run in runs]
        rows.append(
            {
                "op": row["op"],
                "shape": row["shape"],
                "best_ratio_numpy": statistics.median(values),
                "spread_max_over_min": max(values) / min(values),
            }
        )
    made = f"{datetime.date.today()}, median of {len(runs)} quick runs on {platform.machine()}"
    return {"made": made, "refresh": "see CONTRIBUTING.md (Benchmarks)", "rows": rows}


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: python bench/make_baseline.py RUN.json [RUN.json ...]")
    json.dump(main(sys.argv[1:]), sys.stdout, indent=1)
