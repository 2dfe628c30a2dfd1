"""Forked helper processes: when a process may fork one, and how the helper dies with it.

Two parts of a run hand work to a forked process on the other core: the figures
(:mod:`sim.outputs.figure_workers`) and who may flee on the coming days
(:mod:`sim.model.lookahead`). Both follow the rules here.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import threading


def can_fork() -> bool:
    """Whether this process may fork a helper: the ``fork`` start method exists (Linux,
    macOS) and this process runs a single thread (a lock held by another thread would stay
    held in the child forever: Dask workers, for one, run several)."""
    return "fork" in mp.get_all_start_methods() and threading.active_count() == 1


def cpus_available() -> int:
    """CPUs this process may run on (its affinity where the system says, else the count)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def die_with_parent() -> None:
    """Linux: this process gets SIGKILL when the process that forked it dies (however it
    dies), so that a helper is never left working for a process that is gone."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the parent ends its helpers itself
        pass
