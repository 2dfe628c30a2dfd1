"""Who may flee from home on the coming days, drawn on another core while today runs.

Flight (:meth:`sim.model.movement.Movement.flight`) first finds, in every threatened
place, the households at home whose uniform of the ``"flee"`` stream is below a bound of
their ``propensity * hazard``: over half a million counter-based hashes a day at full
population, about a quarter of the simulation's time. Those *candidates* depend only on
the seed, the day and that day's conditions, and the conditions come from the scenario's
timeline alone (:class:`sim.model.conflict.Conditions`), never from what the households
did. So a helper process forked when the run starts draws them for every day, a day or
more ahead, with its own copy of the conditions, while the model simulates today; the
model then keeps the candidates still at home and decides as before. The numbers are the
same whoever draws them (a test).

A process, not a thread: the model's days are many small NumPy calls, and a thread
hashing beside them waits for the interpreter lock far more than it works (measured: no
gain at all). Used by :meth:`sim.model.model.DisplacementModel.run` when the process may
use more than one CPU and may fork (:func:`sim.forking.can_fork`: not in a Dask worker);
otherwise, and in a model stepped day by day (the dashboard), each day's candidates are
drawn by the model itself.
"""

from __future__ import annotations

import os
import signal
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection

import numpy as np

from sim.forking import can_fork, die_with_parent
from sim.model.conflict import Conditions

#: Bytes of the pipe between the helper and the model where the system allows (Linux:
#: ``F_SETPIPE_SZ``): room for several days of candidates (~80 kB a day at full
#: population), so that the helper can stay ahead of the model.
PIPE_BYTES = 1 << 20

_OK, _FAILED = b"ok\0\0\0\0\0\0", b"failed\0\0"  # 8-byte headers: the rows stay aligned


class FlightLookahead:
    """``draw(day, conditions)`` for each of ``days`` in order, in a forked helper process.

    ``conditions`` are the model's conditions as they stand before the first of ``days``;
    the helper updates its own copy (the fork's) to each day before drawing. :meth:`take`
    returns a day's rows (int64), waiting for the helper if needed, and raises an error of
    the helper there. Use as a context manager (or call :meth:`close`): the helper is
    killed and reaped on leaving, also on an error or Ctrl-C, and dies with the model's
    process however that ends (Linux).
    """

    def __init__(
        self,
        draw: Callable[[int, Conditions], np.ndarray],
        conditions: Conditions,
        days: range,
    ):
        import multiprocessing as mp

        if not can_fork():
            raise RuntimeError("FlightLookahead needs a single-threaded process that can fork")
        self._days = days
        self._next = days.start
        reader, writer = mp.Pipe(duplex=False)
        _widen(writer)
        parent = os.getpid()
        self._pid: int | None = os.fork()
        if self._pid == 0:  # the helper: draw every day, send each, leave at once
            try:
                reader.close()
                _become_helper(parent)
                _draw_days(writer, draw, conditions, days)
            finally:
                os._exit(0)
        writer.close()
        self._conn: Connection = reader

    def take(self, day: int) -> np.ndarray | None:
        """The rows for ``day`` (waiting for the helper), or None for a day out of order."""
        if self._pid is None or day != self._next or day not in self._days:
            return None
        try:
            message = self._conn.recv_bytes()
        except EOFError:
            raise RuntimeError(
                "the helper process drawing who may flee ended without a word"
            ) from None
        if message[:8] == _FAILED:
            text = message[8:].decode("utf-8", "replace")
            raise RuntimeError(f"drawing who may flee failed in the helper process:\n{text}")
        self._next = day + 1
        return np.frombuffer(message, dtype=np.int64, offset=8)

    def close(self) -> None:
        """End the helper (at once, if it is still drawing) and reap it."""
        pid, self._pid = self._pid, None
        if pid is None:
            return
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
        self._conn.close()

    def __enter__(self) -> FlightLookahead:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _widen(conn: Connection) -> None:
    """Give the pipe :data:`PIPE_BYTES` where the system allows (else keep its size)."""
    try:
        import fcntl

        fcntl.fcntl(conn.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    except (ImportError, AttributeError, OSError):
        pass


def _become_helper(parent: int) -> None:
    """Signals of a helper: Ctrl-C is the model's process's to handle (it ends us); any
    signal the model's process blocked at the fork is unblocked; die with it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_SETMASK, set())
    die_with_parent()
    if os.getppid() != parent:  # the model's process died before we could follow it
        os._exit(0)


def _draw_days(
    writer: Connection,
    draw: Callable[[int, Conditions], np.ndarray],
    conditions: Conditions,
    days: range,
) -> None:
    try:
        for day in days:
            conditions.update(day)
            rows = np.ascontiguousarray(draw(day, conditions), dtype=np.int64)
            writer.send_bytes(_OK + rows.tobytes())
    except BrokenPipeError:  # the model stopped listening: nothing to tell
        pass
    except BaseException:  # noqa: BLE001 - told to the model's process, raised there
        try:
            writer.send_bytes(_FAILED + traceback.format_exc().encode("utf-8", "replace"))
        except OSError:
            pass
