"""Benchmark: the posterior fit (`idlibsim posterior`) from scratch on a local Dask cluster.

    python benchmarks/bench_posterior.py                 # the defaults: 4 waves (150 + 3 x 100
                                                         # runs) at scale 0.05, 2 workers,
                                                         # 40 + 40 posterior predictive runs
    python benchmarks/bench_posterior.py --predictive 0  # the fit alone

Runs the command into a temporary folder (no checkpoints to resume from, the shipped draws
untouched) and prints the wall time, the CPU time of this process and the load average
before and after: on a shared machine the load says how much of the 2 cores the fit had.
The target: under 30 minutes on 2 cores.
"""

from __future__ import annotations

import sys

from measure import parser, run_command  # benchmarks/measure.py, beside this script


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__)
    p.add_argument("--waves", type=int, default=4)
    p.add_argument("--predictive", type=int, default=40)
    args = p.parse_args(argv)
    m = run_command(
        [
            "posterior", str(args.scenario), "--workers", str(args.workers),
            "--waves", str(args.waves), "--predictive", str(args.predictive),
        ],
        "fit",
    )  # fmt: skip
    print(
        f"posterior fit: {m.wall / 60:.1f} min wall ({m.wall:.0f} s) on {args.workers} workers; "
        f"{m.cpu:.0f} s CPU in this process (emulator, sampling); {m.load()}"
    )
    return m.code


if __name__ == "__main__":
    sys.exit(main())
