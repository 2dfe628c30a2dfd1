"""What the benchmarks of one `idlibsim` command on a local Dask cluster share: their
common options, the command run into a temporary folder, and the load average they print.

On a shared machine the load average before and after says how much of the cores the
command had; the wall time alone says little.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def parser(doc: str) -> argparse.ArgumentParser:
    """A parser described by the first line of ``doc``, with the options every such benchmark
    takes: ``--scenario`` (the 2019 scenario) and ``--workers`` (2 Dask workers)."""
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("--scenario", type=Path, default=REPO / "scenarios" / "idlib_2019.toml")
    p.add_argument("--workers", type=int, default=2)
    return p


@dataclass
class Measured:
    """How one command went: its exit status, wall and CPU seconds (this process)."""

    code: int
    wall: float
    cpu: float
    load_before: float

    def load(self) -> str:
        """The 1-minute load average before the command and now, with the CPU count."""
        return (
            f"load average {self.load_before:.1f} before, {os.getloadavg()[0]:.1f} after on "
            f"{os.cpu_count()} CPUs"
        )


def run_command(args: list[str], out: str) -> Measured:
    """``idlibsim ARGS --out <temporary folder>/<out>`` in this process (nothing resumed from
    an earlier run, nothing shipped replaced); the folder is removed afterwards."""
    sys.path.insert(0, str(REPO))
    from sim.cli import main as idlibsim

    load0 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix=f"bench-{args[0]}-") as tmp:
        t0, c0 = time.perf_counter(), time.process_time()
        code = idlibsim([*args, "--out", str(Path(tmp) / out)])
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return Measured(code, wall, cpu, load0)
