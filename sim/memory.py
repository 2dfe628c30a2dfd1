"""How the C allocator hands memory to a run (glibc only; elsewhere nothing changes).

A day of the model allocates and frees arrays of a few megabytes (a column of the
households under threat, the day's random numbers). By default glibc serves each of them
with a fresh ``mmap`` and gives it back on free, so every array costs the kernel a page
fault per 4 kB page: about 200,000 faults and 0.6 s of system time in a full-population
run, and ten times more under Dask, whose workers are started with
``MALLOC_TRIM_THRESHOLD_=65536`` (measured in issue 16: the same replicate twice as slow in
a worker as in a plain process). Arrays below :data:`MMAP_THRESHOLD` come from the heap
instead, and up to :data:`TRIM_THRESHOLD` of freed heap is kept for the next day rather
than returned: a run's peak memory does not change, only how often the pages are faulted
in again.

The same settings as environment variables (read when a process starts), for Dask workers
started by hand (``dask worker``) or any other process: :data:`MALLOC_ENV`.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

#: Blocks from this size (bytes) are mapped on their own; smaller ones come from the heap.
#: 32 MiB is glibc's largest allowed value on 64-bit systems.
MMAP_THRESHOLD = 32 * 1024**2
#: Freed memory at the top of the heap kept for reuse before it is returned (bytes).
TRIM_THRESHOLD = 256 * 1024**2
#: The same as glibc environment variables (set before a process starts).
MALLOC_ENV = {
    "MALLOC_MMAP_THRESHOLD_": str(MMAP_THRESHOLD),
    "MALLOC_TRIM_THRESHOLD_": str(TRIM_THRESHOLD),
}
_M_TRIM_THRESHOLD = -1  # <malloc.h>
_M_MMAP_THRESHOLD = -3

_done = False


def tune_allocator() -> bool:
    """Apply :data:`MMAP_THRESHOLD` and :data:`TRIM_THRESHOLD` to this process (``mallopt``).

    Returns whether it was applied (False where the C library is not glibc). Calling it
    again does nothing.
    """
    global _done
    if _done:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    ok = mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
    ok = mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1 and ok
    _done = ok
    return ok
