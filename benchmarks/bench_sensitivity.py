"""Benchmark: the Morris sensitivity analysis (`idlibsim sensitivity`) at its defaults.

    python benchmarks/bench_sensitivity.py            # 10 trajectories x 27 runs + 1,
                                                      # scale 0.05, 2 Dask workers

Runs into a temporary folder and prints the wall time and the load average before and
after (on a shared machine the load says how much of the 2 cores it had).
"""

from __future__ import annotations

import sys

from measure import parser, run_command  # benchmarks/measure.py, beside this script


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__)
    p.add_argument("--trajectories", type=int, default=10)
    args = p.parse_args(argv)
    m = run_command(
        [
            "sensitivity", str(args.scenario), "--workers", str(args.workers),
            "--trajectories", str(args.trajectories),
        ],
        "s",
    )  # fmt: skip
    print(
        f"sensitivity: {m.wall / 60:.1f} min wall ({m.wall:.0f} s) on {args.workers} workers; "
        f"{m.load()}"
    )
    return m.code


if __name__ == "__main__":
    sys.exit(main())
