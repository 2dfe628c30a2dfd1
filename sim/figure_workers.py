"""The figures of a run, drawn by processes forked before the simulation starts.

A run is one simulation (one core) followed by about five CPU seconds of figures. Forked
before the model is built, one process per batch of :data:`sim.report.BATCHES` imports
Matplotlib and loads the map boundaries on the other core while the model runs, then
waits. Once the run's tables are written, each is sent the summary and draws its batch
from the folder's CSV files (the same bytes as :func:`sim.report.render_plots`, which
draws them in this process), while this process writes the planner tables.

Errors (and a Ctrl-C raised while drawing) come back through a pipe and are raised in
the parent; a parent that stops early ends its workers (:meth:`FigureWorkers.close`).
Workers ignore SIGINT: the parent handles it and ends them.
"""

from __future__ import annotations

import multiprocessing as mp
import signal
import threading
import traceback
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any


def available() -> bool:
    """Whether figures can be drawn by forked workers: the ``fork`` start method exists
    (Linux) and this process runs a single thread (a lock held by another thread would
    stay held in the child forever)."""
    return "fork" in mp.get_all_start_methods() and threading.active_count() == 1


def _warm_up() -> None:
    """Import Matplotlib and the figure modules and draw a scrap of text (loads the fonts)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from . import maps, plots  # noqa: F401 - imported now, while the model runs
    from .geo import load_boundaries

    load_boundaries()
    fig = Figure(figsize=(1, 1), dpi=plots.DPI)
    FigureCanvasAgg(fig)
    fig.text(0.1, 0.5, "1 May 0.5M", fontsize=plots.TICK_PT, weight="bold")
    fig.text(0.1, 0.2, "1 May 0.5M", fontsize=plots.TICK_PT)
    fig.canvas.draw()


def _send(conn: Connection, obj: Any) -> None:
    try:
        conn.send(obj)
    except OSError:  # the parent is gone or gave up: nobody to tell
        pass


def _worker(conn: Connection, folder: Path, scenario: Any, batch: tuple[str, ...]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and ends us
    try:
        try:
            _warm_up()
        except Exception:  # noqa: BLE001 - a real problem shows again when drawing, reported then
            pass
        try:
            summary = conn.recv()
        except EOFError:  # the parent gave up before the figures
            return
        if summary is None:
            return
        from .report import draw_batch

        draw_batch(folder, scenario, summary, batch)
        _send(conn, None)
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, raised there
        try:
            _send(conn, exc)
        except Exception:  # an exception that does not pickle: its text
            text = traceback.format_exc()
            _send(conn, RuntimeError(f"drawing {', '.join(batch)} failed:\n{text}"))
    finally:
        conn.close()


class FigureWorkers:
    """One forked process per figure batch, started before the simulation.

    Use as a context manager (``close`` ends the workers whatever happens)::

        with FigureWorkers(folder, scenario) as workers:
            ...  # simulate, write the tables into folder
            workers.draw(summary)
            ...  # other work
            workers.wait()  # raises a worker's error here
    """

    def __init__(self, folder: Path, scenario: Any):
        from .report import BATCHES

        ctx = mp.get_context("fork")
        self._workers: list[tuple[Any, Connection]] = []
        for batch in BATCHES:
            parent_end, child_end = ctx.Pipe()
            proc = ctx.Process(
                target=_worker,
                args=(child_end, Path(folder), scenario, batch),
                name=f"idlibsim-figures-{len(self._workers) + 1}",
                daemon=True,
            )
            proc.start()
            child_end.close()
            self._workers.append((proc, parent_end))

    def draw(self, summary: dict[str, Any]) -> None:
        """Start drawing: the run's tables are in the folder now."""
        for _, conn in self._workers:
            conn.send(summary)

    def wait(self) -> None:
        """Wait until every figure is written; raise the first worker's error."""
        errors: list[BaseException] = []
        for proc, conn in self._workers:
            try:
                result = conn.recv()
            except EOFError:
                result = RuntimeError(f"{proc.name} ended without drawing its figures")
            proc.join()
            if result is not None:
                errors.append(result)
        if errors:
            raise errors[0]

    def close(self) -> None:
        """End the workers (at once if they are still drawing or waiting)."""
        for proc, conn in self._workers:
            conn.close()
            if proc.is_alive():
                proc.terminate()
            proc.join(5)
            if proc.is_alive():  # pragma: no cover - terminate failed
                proc.kill()
                proc.join()
        self._workers = []

    def __enter__(self) -> FigureWorkers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
