"""The figures of a run, drawn by a process forked before the simulation starts.

A run is one simulation (one core) followed by about three CPU seconds of figures. Forked
before the model is built, one process imports Matplotlib, loads the map boundaries and
prepares what the figures need and the run's numbers do not change (empty figures with their
axes and ticks, the maps' rings, measured labels: :func:`sim.outputs.report.prepare_figures`)
on the other core while the model runs, then waits. Once the run's tables are written it is
sent the summary; it reads the tables, forks a helper (which inherits Matplotlib, the fonts
and the tables: nothing is imported twice) and the two draw :data:`FIGURE_ORDER`, each
taking the next figure not yet taken (the slowest first, so that both finish together),
while the run's process writes the planner tables. Each figure is drawn alone from the
folder's tables: the same bytes as :func:`sim.outputs.report.render_plots`, whoever draws it.

Errors (and a Ctrl-C raised while drawing) come back through a pipe and are raised in
the parent; a parent that stops early ends its worker (:meth:`FigureWorkers.close`), which
ends its helper first. The worker ignores SIGINT: the parent handles it and ends it.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
import traceback
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from sim.forking import can_fork, die_with_parent

#: The run's figures, the slowest to draw first (CPU seconds at full scale, 2019 scenario,
#: after the worker prepared them while the model ran, session 9: camp_occupancy 0.3,
#: flow_map 0.3, situation_by_week 0.25, needs 0.15, each choropleth pair 0.15-0.17, the
#: three line charts 0.11-0.14; about 1.7 s in all): two processes taking the next one in
#: turn finish within a small figure of each other.
FIGURE_ORDER = (
    "camp_occupancy.png",
    "flow_map.png",
    "situation_by_week.png",
    "needs.png",
    "map_displaced_from.png",
    "map_staying.png",
    "cumulative_displacement.png",
    "displaced_by_setting.png",
    "displaced_by_district.png",
)


#: Seconds after its fork during which the worker prepares the run's figures (what is not
#: prepared then is made when drawn). `idlibsim run` forks it before it imports and builds
#: the model (about 1.3 s for the 2019 scenario); the other core then belongs to the
#: model's own helper (:mod:`sim.model.lookahead`). Preparing takes about 0.6 s of CPU.
PREPARE_SECONDS = 1.2


#: How long :meth:`FigureWorkers.close` waits for a worker to end on SIGTERM (its handler ends
#: its helper first and waits for it) before killing it. Only a worker that never answers
#: waits this long; a busy machine can delay the answer by seconds, and a killed worker's
#: helper is ended by the kernel without being waited for (its last write could then race
#: the removal of the run's temporary folder).
END_WAIT_SECONDS = 60


def available() -> bool:
    """Whether figures can be drawn by forked workers (:func:`sim.forking.can_fork`: the
    ``fork`` start method exists and this process runs a single thread)."""
    return can_fork()


def _warm_up(scenario: Any = None, stop: Any = lambda: False) -> None:
    """Import Matplotlib and the figure modules, draw a scrap of text (loads the fonts) and,
    given the ``scenario``, prepare the run's figures until ``stop()`` is true
    (:func:`sim.outputs.report.prepare_figures`: empty figures, measured labels)."""
    from matplotlib.figure import Figure

    from sim.outputs import (
        maps,  # noqa: F401 - imported now, while the model runs
        plots,
    )
    from sim.outputs.canvas import Canvas
    from sim.outputs.geo import load_boundaries

    load_boundaries()
    fig = Figure(figsize=(1, 1), dpi=plots.DPI)
    Canvas(fig)
    fig.text(0.1, 0.5, "1 May 0.5M", fontsize=plots.TICK_PT, weight="bold")
    fig.text(0.1, 0.2, "1 May 0.5M", fontsize=plots.TICK_PT)
    fig.canvas.draw()
    if scenario is not None:
        from sim.outputs.report import prepare_figures

        prepare_figures(scenario, stop)


def _send(conn: Connection, obj: Any) -> None:
    try:
        conn.send(obj)
    except OSError:  # the parent is gone or gave up: nobody to tell
        pass


def _worker(conn: Connection, folder: Path, scenario: Any, names: tuple[str, ...]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and ends us
    started = time.monotonic()

    def stop_preparing() -> bool:  # the tables are there, or the model runs by now
        return conn.poll() or time.monotonic() - started > PREPARE_SECONDS

    try:
        try:
            _warm_up(scenario, stop=stop_preparing)
        except Exception:  # noqa: BLE001 - a real problem shows again when drawing, reported then
            pass
        try:
            message = conn.recv()
        except EOFError:  # the parent gave up before the figures
            return
        if message is None:
            return
        summary, given = message  # the run's folder, when forked before it was known
        draw_shared(Path(given) if given is not None else folder, scenario, summary, names)
        _send(conn, None)
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, raised there
        try:
            _send(conn, exc)
        except Exception:  # an exception that does not pickle: its text
            text = traceback.format_exc()
            _send(conn, RuntimeError(f"drawing {', '.join(names)} failed:\n{text}"))
    finally:
        conn.close()


def draw_shared(
    folder: Path, scenario: Any, summary: dict[str, Any], names: tuple[str, ...]
) -> None:
    """Draw the figures ``names`` of a run folder in this process and a forked helper, each
    taking the next figure in turn; raise the first error of either.

    The folder's daily.csv and locations.csv are read once, before the fork. Only in a
    single-threaded process (a lock held by another thread would stay held in the helper).
    """
    import pandas as pd

    from sim.outputs.report import draw_batch

    tables = (pd.read_csv(folder / "daily.csv"), pd.read_csv(folder / "locations.csv"))
    ctx = mp.get_context("fork")
    taken = ctx.Value("i", 0)  # in shared memory: the helper sees the same counter

    def draw_my_share() -> None:
        from sim.outputs.maps import reusing_tables

        with reusing_tables():  # maps of the same tables derive their series once
            while True:
                with taken.get_lock():
                    i = taken.value
                    taken.value = i + 1
                if i >= len(names):
                    return
                draw_batch(folder, scenario, summary, (names[i],), tables)

    if len(names) < 2 or not can_fork():
        draw_my_share()
        return
    result, report = ctx.Pipe(duplex=False)
    # SIGTERM (the parent ending us) waits until the helper exists and we can end it too
    me = os.getpid()
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    try:
        pid = os.fork()
    except BaseException:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
        raise
    if pid == 0:  # the helper: draw, report, leave without running the parent's exit code
        try:
            result.close()
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            die_with_parent()  # never left drawing into a folder nobody waits for
            if os.getppid() != me:  # the worker died before we could follow it
                os._exit(0)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
            try:
                draw_my_share()
                report.send(None)
            except BaseException as exc:  # noqa: BLE001 - sent to the process that forked us
                try:
                    report.send(exc)
                except Exception:  # an exception that does not pickle: its text
                    report.send(RuntimeError(f"drawing figures failed:\n{traceback.format_exc()}"))
        finally:
            os._exit(0)
    report.close()
    reaped = False

    def kill_helper() -> None:  # at once, and wait until it is gone
        nonlocal reaped
        if not reaped:
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except OSError:
                pass
            reaped = True

    def end_helper(signum: int, frame: Any) -> None:  # SIGTERM from the parent: both go
        kill_helper()
        os._exit(128 + signum)

    previous = signal.signal(signal.SIGTERM, end_helper)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
    try:
        mine: BaseException | None = None
        try:
            draw_my_share()
        except BaseException as exc:  # noqa: BLE001 - raised below, after the helper is gone
            mine = exc
            with taken.get_lock():
                taken.value = len(names)  # the helper takes nothing more
        try:
            theirs = result.recv()
        except EOFError:
            theirs = RuntimeError("the figure helper process ended without reporting")
        os.waitpid(pid, 0)
        reaped = True
    finally:
        kill_helper()  # unless reaped above
        signal.signal(signal.SIGTERM, previous)
        result.close()
    if mine is not None:
        raise mine
    if theirs is not None:
        raise theirs


class FigureWorkers:
    """A forked process that draws the figures (with a helper it forks), started before the
    simulation.

    Use as a context manager (``close`` ends the workers whatever happens)::

        with FigureWorkers(folder, scenario) as workers:
            ...  # simulate, write the tables into folder
            workers.draw(summary)
            ...  # other work
            workers.wait()  # raises a worker's error here
    """

    def __init__(self, folder: Path | None, scenario: Any, names: tuple[str, ...] = FIGURE_ORDER):
        ctx = mp.get_context("fork")
        self._folder = folder
        self._workers: list[tuple[Any, Connection]] = []
        parent_end, child_end = ctx.Pipe()
        proc = ctx.Process(
            target=_worker,
            args=(child_end, None if folder is None else Path(folder), scenario, tuple(names)),
            name="idlibsim-figures",
            daemon=True,
        )
        proc.start()
        child_end.close()
        self._workers.append((proc, parent_end))

    def draw(self, summary: dict[str, Any], folder: Path | None = None) -> None:
        """Start drawing: the run's tables are in the folder now (``folder``, or the one
        given when the workers were forked: ``None`` there lets a command fork them before
        it knows its folder, so that Matplotlib loads while it imports the model)."""
        if folder is None and self._folder is None:
            raise ValueError("the figure workers were forked without a folder: give draw() one")
        for _, conn in self._workers:
            conn.send((summary, None if folder is None else str(folder)))

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
        """End the worker and its helper (at once if they are still drawing or waiting)."""
        for proc, conn in self._workers:
            conn.close()
            if proc.is_alive():
                proc.terminate()
            proc.join(END_WAIT_SECONDS)
            if proc.is_alive():  # pragma: no cover - terminate failed
                proc.kill()
                proc.join()
        self._workers = []

    def __enter__(self) -> FigureWorkers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
