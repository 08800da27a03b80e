"""Run all the benchmarks and print one table (ratios against baselines measured in the same
run). Run by hand; see bench/README.md.

    python bench/run.py            # full size, a few minutes
    python bench/run.py --smoke    # tiny sizes, a few seconds, no errbot (used by the tests)
    python bench/run.py --only latency,scan
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Row, table

BENCHES = ("latency", "scan", "startup", "reminders", "clicks")


def machine() -> str:
    return (
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores (nproc), "
        f"Python {platform.python_version()} ({platform.python_implementation()}), "
        f"{platform.system()} {platform.release()}"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Run the chatbot benchmarks and print a table.")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes, to check the benchmarks still work")
    ap.add_argument("--only", default=",".join(BENCHES), help=f"comma-separated subset of {', '.join(BENCHES)}")
    args = ap.parse_args(argv)
    chosen = [b.strip() for b in args.only.split(",") if b.strip()]
    unknown = [b for b in chosen if b not in BENCHES]
    if unknown:
        ap.error(f"unknown benchmark(s): {', '.join(unknown)}")

    rows: list[Row] = []
    failed = False
    t0 = time.monotonic()
    for name in chosen:
        started = time.monotonic()
        print(f"running {name}{' (smoke)' if args.smoke else ''} ...", file=sys.stderr, flush=True)
        try:
            module = __import__(name)
            rows += module.run(smoke=args.smoke)
        except Exception as exc:  # one broken benchmark must not hide the others' numbers
            failed = True
            traceback.print_exc()
            rows.append(
                Row(name, "FAILED", f"{type(exc).__name__}: {str(exc).splitlines()[0][:80] if str(exc) else ''}")
            )
        print(f"  {name} took {time.monotonic() - started:.1f} s", file=sys.stderr, flush=True)

    print(f"Machine: {machine()}")
    print(f"Total time: {time.monotonic() - t0:.0f} s{' (smoke sizes)' if args.smoke else ''}")
    print()
    print(table(rows))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
