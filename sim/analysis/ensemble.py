"""Ensembles: many seeded replicates of one or more scenarios, summarised as bands.

A single stochastic run is not a result. ``run_ensemble`` runs ``N`` replicates of each
scenario and reduces them to the median and the 25-75 % and 5-95 % bands per scenario,
day and metric (after Agents.jl's ``ensemblerun!`` and Starsim's ``MultiSim.reduce``).

Seeds and common random numbers
    One base seed spawns the replicate seeds (:func:`sim.model.rng.replicate_seeds`, a
    ``numpy.random.SeedSequence``). Replicate ``i`` of *every* scenario uses seed ``i``;
    since a household's dice are a function of (seed, stream, day, household id), two
    scenarios run with the same seed face the same dice and their difference is the
    scenario, not seed noise. The results do not depend on the number of workers.

Folder (``results/<ensemble-id>/``; see ``docs/ensembles.md``)::

    manifest.json                         what was run: scenarios and their digests,
                                          base seed, replicate seeds, scale, versions
    bands.csv                             scenario, label, date, day, metric, median,
                                          p05, p25, p75, p95, n
    <scenario>/bands.csv                  the same rows for one scenario
    <scenario>/replicates/rep-0000.csv    each replicate's daily table (daily.csv columns)

Each replicate file is written to a temporary file in the same folder and renamed into
place, so a file that exists is complete. Rerunning the same command resumes: replicates
already written are kept and not rerun.

Distributed runs
    With ``workers > 1`` the replicates run on a Dask ``LocalCluster``; with
    ``scheduler="tcp://host:8786"`` on an existing Dask cluster. Workers only compute;
    the client writes every file as results come back, so a worker that dies makes Dask
    reschedule its task and nothing is lost or written twice. While a new local cluster
    starts (its fork server importing the model, about 1.5 s of one core), the client
    computes replicates itself, from the last, and sends the rest once the workers are up. Tasks carry the scenario
    *file path* (plus behaviour overrides), so every worker machine needs the repository
    and data at the same path and the same installed ``idlibsim``; a task checks the
    scenario digest and refuses to run on different inputs.

Dask is an optional dependency (``pip install "idlibsim[distributed]"``) imported only
when it is used.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import stat
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.errors import (
    InputError,
    OutputError,
    Problem,
    ResultsExistError,
    UsageError,
    describe_mode,
    not_a_regular_file,
)
from sim.model.history import DAILY_COLUMNS
from sim.model.rng import replicate_seeds
from sim.outputs.folders import ENSEMBLE_KIND, REPLICATES_DIR, EnsembleFolder
from sim.outputs.results import (
    MANIFEST_VERSION,
    PROJECT_ROOT,
    display_path,
    portable,
    scale_label,
    scenario_digest,
    versions,
    write_csv,
)
from sim.provenance import source_info, worker_identity
from sim.safety import (
    STAGED_PREFIX,
    TargetLock,
    normalise_target,
    refuse_in_spawned_child,
    sha256_limited,
    staged,
)
from sim.scenario.loading import Scenario, load_scenario

__all__ = [
    "BAND_COLUMNS",
    "METRICS",
    "QUANTILES",
    "DistributedUnavailableError",
    "EnsembleResult",
    "RunTask",
    "bands",
    "dask_client",
    "ensemble_id",
    "load_ensemble",
    "map_runs",
    "run_ensemble",
]

#: Metrics summarised in bands.csv: every daily.csv column but the date and day.
METRICS = tuple(c for c in DAILY_COLUMNS if c not in ("date", "day"))
#: Band columns and their quantiles (numpy's default, linear interpolation).
QUANTILES = {"median": 0.5, "p05": 0.05, "p25": 0.25, "p75": 0.75, "p95": 0.95}
BAND_COLUMNS = ("scenario", "label", "date", "day", "metric", *QUANTILES, "n", "uncertainty")
#: Memory limit per LocalCluster worker (capped by an equal share of the machine's memory).
#: A full-population (scale 1) 2019 replicate peaks at about 0.35 GB; see docs/ensembles.md.
LOCAL_WORKER_MEMORY = 2 * 1024**3
#: Environment variable capping the number of replicates (tests and quick trials; the
#: cap is announced on stderr and the manifest records the replicates actually run).
MAX_REPLICATES_ENV = "IDLIBSIM_MAX_REPLICATES"
#: How long to wait for at least one worker on an existing scheduler.
WAIT_FOR_WORKERS_SECONDS = 60

log = logging.getLogger(__name__)


class DistributedUnavailableError(ImportError):
    """Dask distributed is needed (workers > 1 or a scheduler) but not installed."""


class ClusterError(RuntimeError):
    """The Dask cluster could not be reached or could not run the tasks."""


# --------------------------------------------------------------------------------------
# Tasks: what a worker runs
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunTask:
    """One simulation to run anywhere: picklable, small, refers to the scenario by path.

    A worker evaluates ``simulate(load_scenario(scenario).with_behaviour(**behaviour)
    [.truncated(days)], seed, population_scale)`` and returns its daily table. When
    ``digest`` is given the worker checks that the scenario it loaded has that
    :func:`sim.outputs.results.scenario_digest` (same inputs as the client), else it refuses.
    """

    scenario: str
    seed: int
    population_scale: float = 0.1
    behaviour: Mapping[str, float] = field(default_factory=dict)
    days: int | None = None
    digest: str | None = None
    #: a replicate's draw of parameters and population (sim.analysis.uncertainty.apply),
    #: applied after the digest check: {"behaviour": {...}, "population_total": ...}
    draw: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_scenario(cls, scenario: Scenario, seed: int, population_scale: float = 0.1) -> RunTask:
        """The task that reproduces ``scenario`` (a loaded file, possibly with changed
        behaviour parameters or truncated) from its file path.

        Raises ``ValueError`` if the scenario differs from its file in another way.
        """
        path = str(Path(scenario.path).resolve())
        base = _load_unchanged(path)  # once per file and process: ~40 ms a task before
        mine, theirs = scenario.behaviour.as_dict(), base.behaviour.as_dict()
        overrides = {k: v for k, v in mine.items() if theirs[k] != v}
        days = scenario.n_days if scenario.end != base.end else None
        task = cls(
            path,
            int(seed),
            float(population_scale),
            overrides,
            days,
            scenario_digest(scenario),
        )
        if scenario_digest(task.load(check=False)) != task.digest:
            raise ValueError(
                f"scenario '{scenario.name}' differs from its file {scenario.path} in more than "
                "behaviour parameters and length; save it as a scenario file to run it in an ensemble"
            )
        return task

    def load(self, check: bool = True) -> Scenario:
        """The scenario this task runs (checked against ``digest`` when ``check``)."""
        sc = _load_unchanged(self.scenario)
        if self.behaviour:
            sc = sc.with_behaviour(**dict(self.behaviour))
        if self.days is not None:
            sc = sc.truncated(int(self.days))
        if check and self.digest is not None:
            found = scenario_digest(sc)
            if found != self.digest:
                import socket

                raise ClusterError(
                    f"scenario {self.scenario} on {socket.gethostname()} is not the one the "
                    f"client ran (digest {found[:8]} instead of {self.digest[:8]}): every machine "
                    "needs the same repository and data files at the same path"
                )
        if self.draw:
            from sim.analysis.uncertainty import apply

            sc = apply(sc, self.draw)
        return sc


#: Scenario files this process has loaded (a worker runs many replicates of one scenario):
#: path as given -> (SHA-256 of every file it read, the scenario). Scenarios are frozen.
_LOADED: dict[str, tuple[dict[str, str], Scenario]] = {}


def _load_unchanged(path: str) -> Scenario:
    """``load_scenario(path)``, or the scenario this process loaded from it before if every
    file it read (the scenario chain, parameter file, places, roads, tables) still has the
    same contents (SHA-256): validating a scenario takes ~20 ms, hashing its files < 1 ms."""
    known = _LOADED.get(path)
    if known is not None:
        hashes, sc = known
        try:
            if sc.input_hashes() == hashes:
                return sc
        except OSError:  # a file went away: load_scenario says so properly
            pass
    _LOADED.pop(path, None)
    # Read again between two hashings of its files, and kept only if none changed: a file
    # rewritten while it was read never leaves a stale scenario behind (once per scenario).
    before = load_scenario(path).input_hashes()
    sc = load_scenario(path)
    if sc.input_hashes() == before:
        if len(_LOADED) >= 16:  # a few scenarios per process; never grow without bound
            _LOADED.clear()
        _LOADED[path] = (before, sc)
    return sc


def execute(task: RunTask) -> pd.DataFrame:
    """Run one task and return its daily table (this is what Dask workers call)."""
    from sim.memory import tune_allocator
    from sim.outputs.runner import simulate  # lazy: `idlibsim compare` reads ensembles without Mesa

    tune_allocator()  # whatever MALLOC_* the worker was started with (sim.memory)

    sc = task.load()
    return simulate(sc, seed=task.seed, population_scale=task.population_scale, summary=False).daily


# --------------------------------------------------------------------------------------
# Dask
# --------------------------------------------------------------------------------------


def _import_distributed():
    try:
        import distributed
    except ImportError:  # pragma: no cover - depends on the environment
        raise DistributedUnavailableError(
            "running on several workers or a Dask scheduler needs Dask distributed: "
            'pip install "idlibsim[distributed]"'
        ) from None
    return distributed


#: Dask's own diagnostics, for a dashboard the local cluster does not start.
LOCAL_DASK_CONFIG = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "500ms",
    "distributed.admin.system-monitor.interval": "2s",
}

#: Preloaded by the process that forks the local Dask workers (start_worker_factory).
WORKER_PRELOAD = ("sim.analysis.worker_preload",)


_FACTORY_LOCK = threading.Lock()


def start_worker_factory() -> str:
    """Start, without waiting for it, the process that forks this machine's Dask workers.

    Returns the start method for ``LocalCluster`` workers: ``"forkserver"`` where the
    platform has it (Linux, macOS), else ``"spawn"``. The fork server imports
    :data:`WORKER_PRELOAD` (Dask, pandas, Mesa, the model: about 1 s of CPU) once, in the
    background, with the allocator settings of :data:`sim.memory.MALLOC_ENV` in its
    environment; each worker forked from it starts with all of it imported, where a
    spawned worker imports it all again before its first replicate (issue 16: 1-1.5 s of
    each worker's CPU in a 20-replicate ensemble). Calling it early (as
    :func:`run_ensemble` does) lets those imports overlap the client's own work.

    The server is multiprocessing's, one per process: it lives until this process ends,
    and a server that was already running (started by other code) is used as it is. Only
    the modules of the idlibsim it imported run in the workers, which is what they report
    to :func:`check_workers`. The user's script is not imported in the workers.
    """
    import multiprocessing
    from multiprocessing import forkserver

    from sim.memory import MALLOC_ENV

    if "forkserver" not in multiprocessing.get_all_start_methods():
        return "spawn"  # pragma: no cover - Windows
    with _FACTORY_LOCK:  # one thread at a time changes the environment
        multiprocessing.get_context("forkserver").set_forkserver_preload(list(WORKER_PRELOAD))
        saved = {k: os.environ.get(k) for k in MALLOC_ENV}
        os.environ.update(MALLOC_ENV)  # inherited by the server, then by every worker it forks
        try:
            forkserver.ensure_running()
        except OSError:  # pragma: no cover - no Unix sockets or no processes left
            return "spawn"
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
    return "forkserver"


def _local_memory_limit(workers: int) -> int:
    """Per-worker memory limit: ``LOCAL_WORKER_MEMORY``, or an equal share if smaller."""
    try:
        import psutil

        total = int(psutil.virtual_memory().total)
    except Exception:  # pragma: no cover - psutil ships with distributed
        return LOCAL_WORKER_MEMORY
    return int(min(LOCAL_WORKER_MEMORY, total // max(1, workers)))


@contextmanager
def dask_client(workers: int = 2, scheduler: str | None = None) -> Iterator[Any]:
    """A Dask ``Client``: on an existing scheduler, or on a new ``LocalCluster``.

    The local cluster has ``workers`` single-threaded worker processes (the model is
    single-threaded NumPy; processes avoid the GIL), a memory limit per worker, no
    dashboard, and only error logs. It is closed on exit.
    """
    distributed = _import_distributed()
    if scheduler:
        try:
            client = distributed.Client(scheduler, timeout="20s")
        except Exception as exc:  # noqa: BLE001 - a bad address raises many kinds (ValueError ...)
            raise ClusterError(
                f"cannot reach the Dask scheduler at {scheduler}: {exc}. Start one with "
                "'dask scheduler' and workers with 'dask worker <address>' (docs/ensembles.md)"
            ) from None
        try:
            try:
                client.wait_for_workers(1, timeout=WAIT_FOR_WORKERS_SECONDS)
            except TimeoutError:
                raise ClusterError(
                    f"the Dask scheduler at {scheduler} has no workers after "
                    f"{WAIT_FOR_WORKERS_SECONDS} s; start some with 'dask worker {scheduler} "
                    "--nthreads 1 --memory-limit 1GiB'"
                ) from None
            check_workers(client)  # before any work: same idlibsim code everywhere
            yield client
        finally:
            client.close()
        return
    refuse_in_spawned_child("starting a Dask LocalCluster (workers > 1)")
    import dask

    from sim.memory import MALLOC_ENV

    # Dask starts workers with MALLOC_TRIM_THRESHOLD_=65536, which makes every array of a
    # replicate a fresh mapping (page faults: a replicate twice as slow as in a plain
    # process). Its documented knob, the environment set before a worker is spawned:
    environ: dict[str, str] = {
        f"distributed.nanny.pre-spawn-environ.{k}": v for k, v in MALLOC_ENV.items()
    }
    # Workers forked from a process that has imported the model (start_worker_factory).
    environ["distributed.worker.multiprocessing-method"] = start_worker_factory()
    environ.update(LOCAL_DASK_CONFIG)
    with dask.config.set(environ):
        cluster = distributed.LocalCluster(
            n_workers=int(workers),
            threads_per_worker=1,
            processes=True,
            memory_limit=_local_memory_limit(workers),
            dashboard_address=":0",
            silence_logs=logging.CRITICAL,
        )
    try:
        client = distributed.Client(cluster)
        try:
            yield client
        finally:
            client.close()
    finally:
        cluster.close()


def map_runs(
    tasks: Sequence[RunTask],
    workers: int = 1,
    scheduler: str | None = None,
    *,
    client: Any = None,
    on_result: Callable[[int, pd.DataFrame], None] | None = None,
    progress: bool = False,
    desc: str = "runs",
) -> list[pd.DataFrame]:
    """Run many tasks and return their daily tables in task order.

    In this process when ``workers == 1`` and there is no ``scheduler`` or ``client``;
    otherwise on Dask (``client`` if given, else a ``LocalCluster`` of ``workers`` or the
    cluster at ``scheduler``, opened for this call; while a new ``LocalCluster`` starts,
    this process computes tasks itself). ``on_result(i, daily)`` is called in this
    process once per task as its result arrives (in completion order). The tables are
    identical whichever way the tasks run.

    Calibration and other modules that call this many times should open one client with
    :func:`dask_client` and pass it as ``client`` (starting a cluster takes seconds).
    """
    tasks = list(tasks)
    out: list[pd.DataFrame | None] = [None] * len(tasks)
    bar = _progress(len(tasks), 0, desc, progress)
    try:
        if client is None and workers <= 1 and not scheduler:
            for i, task in enumerate(tasks):
                df = execute(task)
                out[i] = df
                if on_result is not None:
                    on_result(i, df)
                bar.update(1)
        elif client is None and not scheduler:
            _map_while_starting(workers, tasks, out, on_result, bar)
        else:
            ctx = nullcontext(client) if client is not None else dask_client(workers, scheduler)
            with ctx as c:
                _map_on_dask(c, tasks, out, on_result, bar)
    finally:
        bar.close()
    return out  # type: ignore[return-value]


def check_workers(client: Any) -> None:
    """Refuse (ClusterError) Dask workers that run other idlibsim code than this process.

    Every worker reports its package version and :func:`sim.provenance.code_digest` (a
    hash of the ``sim/*.py`` sources) with ``client.run``; a worker with another version,
    other sources, or no idlibsim at all would give other numbers, so no work is sent.
    Workers already checked on this client are not asked again.
    """
    mine = worker_identity()
    try:
        info = client.scheduler_info()
        addresses = set(info.get("workers", {}))
    except Exception:  # noqa: BLE001 - report as unreachable below
        addresses = set()
    checked = getattr(client, "_idlibsim_checked_workers", set())
    if addresses and addresses <= checked:
        return
    try:
        found = client.run(worker_identity, on_error="return")
    except Exception as exc:  # noqa: BLE001 - any failure here is a cluster problem
        raise ClusterError(
            f"cannot ask the Dask workers which idlibsim they run: {type(exc).__name__}: {exc}"
        ) from None
    bad = []
    for addr, theirs in sorted(found.items()):
        if isinstance(theirs, BaseException):
            bad.append(f"{addr} cannot import idlibsim ({type(theirs).__name__}: {theirs})")
        elif not isinstance(theirs, dict):
            bad.append(f"{addr} answered {str(theirs)[:60]!r}")
        elif (theirs.get("version"), theirs.get("code_sha256")) != (
            mine["version"],
            mine["code_sha256"],
        ):
            bad.append(
                f"{addr} ({theirs.get('host')}) runs idlibsim {theirs.get('version')} with code "
                f"digest {str(theirs.get('code_sha256'))[:12]} from {theirs.get('path')}"
            )
    if bad:
        raise ClusterError(
            "Dask workers run different idlibsim code from this process (idlibsim "
            f"{mine['version']}, code digest {mine['code_sha256'][:12]} from {mine['path']}); "
            "their numbers would differ, so nothing was sent to them:\n  "
            + "\n  ".join(bad[:10])
            + "\n  install the same idlibsim (same commit, no local edits) on every worker "
            "and restart them"
        )
    try:
        client._idlibsim_checked_workers = checked | set(found)
    except AttributeError:  # pragma: no cover - a client that refuses attributes
        pass


def _map_on_dask(client, tasks, out, on_result, bar) -> None:
    if not tasks:
        return
    check_workers(client)
    futures, index = _submit(client, tasks)
    _collect(client, futures, index, tasks, out, on_result, bar)


def _submit(client: Any, tasks: Sequence[RunTask]) -> tuple[list[Any], dict[str, int]]:
    """Send ``tasks`` to the workers: their futures, and each future's key -> task index."""
    token = uuid.uuid4().hex[:12]
    keys = [f"idlibsim-run-{token}-{i}" for i in range(len(tasks))]
    futures = client.map(execute, list(tasks), key=keys, pure=False)
    return futures, {k: i for i, k in enumerate(keys)}


def _collect(client, futures, index, tasks, out, on_result, bar) -> None:
    """Receive the results of :func:`_submit` as they arrive (each written once)."""
    distributed = _import_distributed()
    try:
        for fut in distributed.as_completed(futures):
            i = index[fut.key]
            if out[i] is not None:  # a result can only arrive once; never write twice
                continue
            try:
                df = fut.result()
            except distributed.scheduler.KilledWorker as exc:
                raise ClusterError(
                    f"the task of run {i} (seed {tasks[i].seed}) killed several Dask workers: "
                    f"{exc}. Workers may be short of memory (docs/ensembles.md)"
                ) from None
            except ModuleNotFoundError as exc:
                raise ClusterError(
                    f"a Dask worker cannot import the model ({exc}); install idlibsim at the "
                    "same version on every worker machine"
                ) from None
            out[i] = df
            if on_result is not None:
                on_result(i, df)
            bar.update(1)
            fut.release()
    finally:
        pending = [f for f in futures if not f.done()]
        if pending:
            client.cancel(pending)


class _LocalStart:
    """A local cluster (:func:`dask_client`) coming up in a background thread.

    ``on_ready(client)`` runs in that thread as soon as the workers are up; :meth:`wait`
    returns the client (or raises what stopped the start), :meth:`close` closes it.
    """

    def __init__(self, workers: int, on_ready: Callable[[Any], None]):
        self._cm = dask_client(workers)
        self._on_ready = on_ready
        self.client: Any = None
        self.error: BaseException | None = None
        self.seconds = 0.0  # until the workers were up
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._start, name="idlibsim-cluster", daemon=True)
        self._t0 = time.perf_counter()
        self._thread.start()

    def _start(self) -> None:
        try:
            self.client = self._cm.__enter__()
            self.seconds = time.perf_counter() - self._t0
            self._on_ready(self.client)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller by wait()
            self.error = exc
        finally:
            self._done.set()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def wait(self) -> Any:
        self._thread.join()
        if self.error is not None:
            raise self.error
        return self.client

    def close(self) -> None:
        self._thread.join()
        if self.client is not None:
            self.client = None
            self._cm.__exit__(None, None, None)


def _map_while_starting(workers: int, tasks, out, on_result, bar) -> None:
    """Tasks on a new local cluster of ``workers``; until its workers are up, this process
    computes tasks itself, from the end of the list.

    Starting the cluster is mostly the fork server importing the model (about 1.5 s on one
    core, :func:`start_worker_factory`), during which this process, which has the model
    imported already, would otherwise wait. Once the workers are up, the tasks not taken
    here are sent to them at once (from the starting thread), and this process finishes the
    task it is computing, plus the few that would otherwise make one worker run a round
    more than the others while the rest wait (:func:`_kept_here`). Each task runs in
    exactly one place; the tables are the same wherever a task runs.
    """
    refuse_in_spawned_child("starting a Dask LocalCluster (workers > 1)")
    _import_distributed()  # its message before any work
    lock = threading.Lock()
    here = [len(tasks)]  # tasks[here[0]:] are computed (or being computed) in this process
    sent: dict[str, Any] = {}  # "limit": tasks[:limit] went to the workers

    def send(client: Any) -> None:
        check_workers(client)  # before any work: same idlibsim code everywhere
        with lock:
            n = 0 if "stopped" in sent else here[0] - _kept_here(here[0], workers)
            sent["futures"], sent["index"] = _submit(client, tasks[:n]) if n else ([], {})
            sent["limit"] = n

    start = _LocalStart(workers, send)
    computed = 0
    try:
        while True:
            with lock:
                if here[0] <= sent.get("limit", 0) or (start.done and "limit" not in sent):
                    break  # the rest is the workers' (or the start failed: wait() says why)
                here[0] -= 1
                i = here[0]
            df = execute(tasks[i])
            out[i] = df
            computed += 1
            if on_result is not None:
                on_result(i, df)
            bar.update(1)
        client = start.wait()
        log.info(
            "local cluster of %d workers up after %.2f s; %d of %d tasks computed here",
            workers, start.seconds, computed, len(tasks),
            extra={"cluster_start_seconds": start.seconds, "computed_here": computed},
        )  # fmt: skip
        _collect(client, sent["futures"], sent["index"], tasks, out, on_result, bar)
    finally:
        with lock:
            sent["stopped"] = True  # an error or Ctrl-C here: the workers get nothing
        start.close()


def _kept_here(left: int, workers: int) -> int:
    """Of ``left`` tasks not yet taken when the workers are up, how many more this process
    computes after its current one: the remainder of ``left / workers`` (else one worker
    would run a last round alone), if the workers still have as many rounds as that."""
    extra = left % workers
    return extra if (left - extra) // workers >= extra else 0


def _progress(total: int, initial: int, desc: str, enabled: bool):
    if not enabled:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit="run", file=sys.stderr)


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


# --------------------------------------------------------------------------------------
# Bands
# --------------------------------------------------------------------------------------


def quantile_bands(values: np.ndarray, axis: int = 0) -> dict[str, np.ndarray]:
    """Median, 5/25/75/95 % quantiles (linear interpolation) and count along ``axis``."""
    values = np.asarray(values, dtype=np.float64)
    qs = np.quantile(values, list(QUANTILES.values()), axis=axis)
    res = {name: qs[k] for k, name in enumerate(QUANTILES)}
    res["n"] = np.full(qs.shape[1:], values.shape[axis], dtype=np.int64)
    return res


def bands(
    daily_frames: Sequence[pd.DataFrame],
    metrics: Sequence[str] | None = None,
    scenario: str | None = None,
    label: str | None = None,
    uncertainty: str = "seed noise",
) -> pd.DataFrame:
    """Median and bands across replicates, per day and metric (a long table).

    ``daily_frames``: the daily tables of one scenario's replicates (same dates). Returns
    columns ``date, day, metric, median, p05, p25, p75, p95, n, uncertainty`` (with
    ``scenario`` and ``label`` first when given), metric by metric in daily.csv order, day
    by day; ``uncertainty`` names the sources the replicates vary (what the band covers).
    """
    frames = list(daily_frames)
    if not frames:
        raise ValueError("no replicates to summarise")
    first = frames[0]
    for k, df in enumerate(frames[1:], 1):
        if len(df) != len(first) or not np.array_equal(
            df["date"].astype(str).to_numpy(), first["date"].astype(str).to_numpy()
        ):
            raise ValueError(f"replicate {k} does not cover the same days as replicate 0")
    metrics = list(metrics) if metrics is not None else [m for m in METRICS if m in first]
    cube = np.stack([df[metrics].to_numpy(dtype=np.float64) for df in frames])  # rep, day, m
    q = quantile_bands(cube, axis=0)  # each (day, metric)
    nd, nm = len(first), len(metrics)
    table = {
        "date": np.tile(first["date"].astype(str).to_numpy(dtype=object), nm),
        "day": np.tile(first["day"].to_numpy(), nm),
        "metric": np.repeat(np.array(metrics, dtype=object), nd),
    }
    for name in (*QUANTILES, "n"):
        table[name] = q[name].T.reshape(-1)
    table["uncertainty"] = uncertainty
    df = pd.DataFrame(table)
    if label is not None:
        df.insert(0, "label", label)
    if scenario is not None:
        df.insert(0, "scenario", scenario)
    return df


# --------------------------------------------------------------------------------------
# Ensembles
# --------------------------------------------------------------------------------------


@dataclass
class EnsembleResult:
    """An ensemble folder and its tables.

    ``replicates[name]``: one scenario's replicate daily tables stacked, with columns
    ``replicate`` and ``seed`` first; ``bands``: the long band table of bands.csv.
    """

    folder: Path
    manifest: dict[str, Any]
    replicates: dict[str, pd.DataFrame]
    bands: pd.DataFrame
    ran: int = 0
    skipped: int = 0
    wall_seconds: float = 0.0
    notes: list[str] = field(default_factory=list)  # replicates found invalid and rerun

    @property
    def scenarios(self) -> list[str]:
        return [s["name"] for s in self.manifest["scenarios"]]

    @property
    def labels(self) -> dict[str, str]:
        return {s["name"]: s["label"] for s in self.manifest["scenarios"]}

    @property
    def seeds(self) -> list[int]:
        return list(self.manifest["replicate_seeds"])

    def frames(self, scenario: str) -> list[pd.DataFrame]:
        """The replicate daily tables of one scenario, as daily.csv (replicate order)."""
        df = self.replicates[scenario]
        return [
            g.drop(columns=["replicate", "seed"]).reset_index(drop=True)
            for _, g in df.groupby("replicate", sort=True)
        ]

    def band(self, scenario: str, metric: str) -> pd.DataFrame:
        """Median and bands of one scenario and metric, day by day."""
        b = self.bands
        return b[(b["scenario"] == scenario) & (b["metric"] == metric)].reset_index(drop=True)


def ensemble_id(
    scenarios: Sequence[Scenario],
    base_seed: int,
    replicates: int,
    population_scale: float,
    uncertainty: Sequence[Any] = (),
) -> str:
    """Deterministic folder name: the same inputs give the same folder (so runs resume)."""
    names = [sc.name for sc in scenarios]
    key: dict[str, Any] = {
        "scenarios": [[sc.name, scenario_digest(sc)] for sc in scenarios],
        "base_seed": int(base_seed),
        "replicates": int(replicates),
        "population_scale": float(population_scale),
    }
    if any(u.mode != "seed" for u in uncertainty):  # seed-only ensembles keep their names
        key["uncertainty"] = [
            [u.mode, u.posterior.sha256 if u.posterior is not None else "", sorted(u.fixed),
             u.population]
            for u in uncertainty
        ]  # fmt: skip
    h = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:8]
    joined = "+".join(names)
    if len(joined) > 80:
        joined = f"{names[0]}+{len(names) - 1}more"
    return f"ensemble_{joined}_{h}"


def write_atomic_csv(df: pd.DataFrame, path: Path) -> None:
    """Write a CSV under a temporary name in the same folder, then rename it into place."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with staged(path) as tmp:
        write_csv(df, tmp)


def read_replicate(path: Path, n_days: int | None = None) -> pd.DataFrame | None:
    """A replicate file if it is complete (daily.csv columns, ``n_days`` rows), else None."""
    if not_a_regular_file(path):  # a named pipe would hang pandas
        return None
    try:
        df = pd.read_csv(path)
    except (OSError, ValueError, pd.errors.ParserError):
        return None
    if list(df.columns) != list(DAILY_COLUMNS) or df.empty:
        return None
    if n_days is not None and len(df) != n_days:
        return None
    if df[list(METRICS)].isna().to_numpy().any():
        return None
    return df


def _clean_temporaries(folder: Path) -> int:
    n = 0
    if folder.is_dir():
        for p in folder.glob(f"{STAGED_PREFIX}*"):
            p.unlink(missing_ok=True)
            n += 1
    return n


def _resolve(items: Sequence[Path | str | Scenario]) -> list[Scenario]:
    out = []
    for it in items:
        out.append(it if isinstance(it, Scenario) else load_scenario(it))
    seen: dict[str, Scenario] = {}
    problems = []
    for sc in out:
        if sc.name in seen:
            problems.append(
                Problem(
                    sc.path,
                    "scenario.name",
                    f"two scenarios of the ensemble are named '{sc.name}' "
                    f"(also {seen[sc.name].path})",
                    "give each scenario file its own [scenario] name, or list each file once",
                )
            )
        seen[sc.name] = sc
    if problems:
        raise InputError(problems)
    return out


def _reported_days(sc: Scenario) -> int:
    return (sc.end - sc.report_from).days + 1


def _scenario_entry(sc: Scenario, task: RunTask, unc: _Uncertainty | None = None) -> dict[str, Any]:
    return {
        "uncertainty": (unc or _Uncertainty("seed", set(), None, {}, False, ["seed"])).entry(),
        "name": sc.name,
        "label": sc.label,
        "title": sc.title,
        "file": display_path(sc.path),
        "behaviour_overrides": dict(task.behaviour),
        "days": task.days,
        "digest": task.digest,
        "period": {
            "start": sc.start.isoformat(),
            "end": sc.end.isoformat(),
            "report_from": sc.report_from.isoformat(),
        },
        "reported_days": _reported_days(sc),
        "observed": display_path(sc.observed) if sc.observed else "",
        "inputs_sha256": {display_path(p): d for p, d in sorted(sc.input_hashes().items())},
        "scenario": portable(sc.resolved),
    }


def _check_compatible(
    folder: Path, base_seed: int, scale: float, entries: list[dict], uncertainty: str = "seed"
) -> dict[str, Any] | None:
    """Refuse to mix replicates of a different ensemble into ``folder``; the old manifest."""
    st = os.lstat(folder) if os.path.lexists(folder) else None
    if st is not None and (stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode)):
        raise OutputError(
            f"{folder} is {describe_mode(st.st_mode)}, not an ensemble folder; idlibsim will not "
            "write there: choose another --out"
        )
    path = EnsembleFolder(folder).manifest_path
    if not os.path.lexists(path):
        if st is not None and any(p for p in folder.iterdir() if not p.name.startswith(".")):
            raise ResultsExistError(
                f"{folder} exists and is not an ensemble folder; choose another --out"
            )
        return None
    try:
        old = EnsembleFolder(folder).read_manifest()
    except InputError:
        raise ResultsExistError(
            f"{path} cannot be read as a manifest of idlibsim; remove the folder or choose "
            "another --out"
        ) from None
    why = []
    if not isinstance(old, dict) or old.get("kind") != ENSEMBLE_KIND:
        why.append("it is not an ensemble folder")
    else:
        if old.get("base_seed") != base_seed:
            why.append(f"its base seed is {str(old.get('base_seed'))[:20]}, not {base_seed}")
        old_scale = old.get("population_scale")
        if not isinstance(old_scale, (int, float)) or float(old_scale) != float(scale):
            why.append(f"its population scale is {str(old_scale)[:20]}, not {scale:g}")
        if old.get("uncertainty", "seed") != uncertainty:
            why.append(
                f"its uncertainty is {str(old.get('uncertainty', 'seed'))[:20]}, not {uncertainty}"
            )
        olds = old.get("scenarios")
        olds = olds if isinstance(olds, list) else []
        digests = {s.get("name"): s.get("digest") for s in olds if isinstance(s, dict)}
        uncs = {s.get("name"): s.get("uncertainty") for s in olds if isinstance(s, dict)}
        for e in entries:
            if e["name"] in digests and digests[e["name"]] != e["digest"]:
                why.append(f"scenario '{e['name']}' or its input files have changed since")
            elif (
                e["name"] in uncs
                and uncertainty != "seed"
                and _draw_key(uncs[e["name"]]) != _draw_key(e["uncertainty"])
            ):
                why.append(f"scenario '{e['name']}' draws from other posterior or fixed values")
    if why:
        raise ResultsExistError(
            f"{folder} holds a different ensemble ({'; '.join(why)}); "
            "choose another --out or remove the folder"
        )
    return old


def _draw_key(u: Any) -> Any:
    """What decides a scenario's draws (a changed posterior or fix gives other runs)."""
    if not isinstance(u, dict):
        return None
    post = u.get("posterior") if isinstance(u.get("posterior"), dict) else {}
    return (post.get("sha256"), u.get("fixed_by_user"), u.get("covers"))


def _old_records(old: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """What the folder's manifest says about each replicate file it holds.

    ``{"<scenario>/replicates/rep-0000.csv": {"sha256", "scenario_digest", "seed"}}``;
    from an older complete manifest without records: its outputs, scenario digests and
    replicate seeds. Anything malformed is ignored (such a replicate is simply rerun).
    """
    if not old:
        return {}
    recs = old.get("replicate_records")
    out: dict[str, dict[str, Any]] = {}
    if isinstance(recs, dict):
        for k, v in recs.items():
            if isinstance(k, str) and isinstance(v, dict):
                out[k] = v
        return out
    if old.get("status") != "complete":
        return {}
    outputs = old.get("outputs_sha256") if isinstance(old.get("outputs_sha256"), dict) else {}
    seeds = old.get("replicate_seeds") if isinstance(old.get("replicate_seeds"), list) else []
    for s in old.get("scenarios") or []:
        if not isinstance(s, dict) or not isinstance(s.get("name"), str):
            continue
        for i, seed in enumerate(seeds):
            rel = f"{s['name']}/{REPLICATES_DIR}/rep-{i:04d}.csv"
            if isinstance(outputs.get(rel), str):
                out[rel] = {
                    "sha256": outputs[rel],
                    "scenario_digest": s.get("digest"),
                    "seed": seed,
                }
    return out


def _reusable(
    path: Path, rel: str, rec: dict[str, Any] | None, digest: str, seed: int, n_days: int
) -> str | None:
    """None if the replicate file can be kept, else why it is run again."""
    if rec is None:
        return "not recorded in the ensemble's manifest"
    if rec.get("scenario_digest") != digest:
        return "written by another version of the scenario or its input files"
    if rec.get("seed") != int(seed):
        return "written with another seed"
    if not_a_regular_file(path) or os.path.islink(path):
        return "not a regular file"
    try:
        if sha256_limited(path) != rec.get("sha256"):
            return "changed since it was written (its SHA-256 is not the recorded one)"
    except (InputError, OSError):
        return "unreadable"
    if read_replicate(path, n_days) is None:
        return "incomplete or unreadable"
    return None


def _manifest(
    ensemble: str,
    entries: list[dict],
    base_seed: int,
    seeds: list[int],
    scale: float,
    done: dict[str, int],
    status: str,
    command: list[str] | None,
    wall: float,
    outputs: dict[str, str] | None = None,
    workers: int = 1,
    scheduler: str | None = None,
    records: dict[str, dict[str, Any]] | None = None,
    uncertainty: str = "seed",
) -> dict[str, Any]:
    from sim.analysis.uncertainty import COVERS_TEXT

    return {
        "manifest_version": MANIFEST_VERSION,
        "tool": "idlibsim",
        "kind": ENSEMBLE_KIND,
        "ensemble_id": ensemble,
        "status": status,
        "created_utc": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "command": command if command is not None else sys.argv,
        "base_seed": int(base_seed),
        "replicates": len(seeds),
        "replicate_seeds": [int(s) for s in seeds],
        "seeds_note": "replicate i of every scenario uses replicate_seeds[i] "
        "(numpy SeedSequence(base_seed).spawn; common random numbers across scenarios)",
        "uncertainty": uncertainty,
        "uncertainty_note": "what the bands cover, per scenario: scenarios[].uncertainty "
        "(sources: " + "; ".join(f"{k}: {v}" for k, v in COVERS_TEXT.items()) + "); each "
        "replicate's draw: <scenario>/draws.csv; replicate i of every scenario gets the same "
        "draw (common random numbers)",
        "population_scale": float(scale),
        "people_per_simulated_person": int(round(1 / scale)),
        "replicates_done": done,
        "execution": {"workers": int(workers), "scheduler": scheduler or ""},
        "wall_seconds": round(wall, 3),
        "scenarios": entries,
        "versions": versions(),
        "source": source_info(),
        "outputs_sha256": outputs or {},
        "replicate_records": records or {},
    }


def run_ensemble(
    scenarios: Sequence[Path | str | Scenario],
    replicates: int,
    base_seed: int = 1,
    population_scale: float = 0.1,
    workers: int = 1,
    scheduler: str | None = None,
    out: Path | str | None = None,
    progress: bool = False,
    *,
    client: Any = None,
    results_root: Path | str | None = None,
    command: list[str] | None = None,
    uncertainty: str = "seed",
    posterior: Path | str | None = None,
    fix: Sequence[str] = (),
) -> EnsembleResult:
    """Run ``replicates`` replicates of each scenario (same seeds for all) and summarise.

    Writes ``results/<ensemble-id>/`` (or ``out``) and returns an :class:`EnsembleResult`.
    Replicates whose file already exists are kept, not rerun. ``workers > 1`` runs on a
    Dask ``LocalCluster``, ``scheduler`` on an existing Dask cluster, ``client`` on an
    existing Dask client (which is left open).

    ``uncertainty`` (:mod:`sim.analysis.uncertainty`): ``"seed"`` (this function's
    default: seed noise only), ``"parameters"`` (each replicate also draws the behaviour
    parameters from the posterior beside the scenario's parameter file, or ``posterior``)
    or ``"all"`` (also the population total and sub-district estimates; the default of
    ``idlibsim ensemble``). Replicate ``i`` of every scenario gets the same draw; values
    the user fixed (the scenario's ``[behaviour]`` table, ``with_behaviour``, ``fix``) are
    not drawn.
    """
    t0 = time.perf_counter()
    if client is None and not scheduler and int(workers) > 1:
        refuse_in_spawned_child("starting a Dask LocalCluster (workers > 1)")
        _import_distributed()  # its message before any work
        start_worker_factory()  # the workers' imports overlap this process's own (Mesa)
    from sim.model.model import population_weight  # lazy: compare reads ensembles without Mesa
    from sim.outputs.runner import check_population_scale

    if int(replicates) < 1:
        raise ValueError("replicates must be at least 1")
    population_weight(population_scale)  # ValueError for scales that are not 1/k
    if int(workers) < 1:
        raise ValueError("workers must be at least 1")
    scs = _resolve(scenarios)
    cap = os.environ.get(MAX_REPLICATES_ENV, "")
    if cap.isdigit() and 0 < int(cap) < int(replicates):
        log.warning(
            "%s=%s: running %s replicates instead of %s", MAX_REPLICATES_ENV, cap, cap, replicates
        )
        print(
            f"idlibsim: {MAX_REPLICATES_ENV}={cap}: running {cap} replicates instead of "
            f"{replicates} (a setting for tests and quick trials)",
            file=sys.stderr,
        )
        replicates = int(cap)
    seeds = replicate_seeds(base_seed, int(replicates))
    templates = [RunTask.from_scenario(sc, 0, population_scale) for sc in scs]
    plans = [
        _uncertainty_plan(sc, t, uncertainty, posterior, fix)
        for sc, t in zip(scs, templates, strict=True)
    ]
    entries = [_scenario_entry(sc, t, u) for sc, t, u in zip(scs, templates, plans, strict=True)]
    name = ensemble_id(scs, base_seed, replicates, population_scale, plans)
    if out is not None:
        folder = Path(out)
    else:
        root = Path(results_root) if results_root else PROJECT_ROOT / "results"
        folder = root / name
    for sc in scs:
        check_population_scale(sc, population_scale)  # the total honoured, or refused
    folder = normalise_target(folder)
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create {folder.parent}: {exc.strerror or exc}") from None
    with TargetLock(folder):  # a second process writing this folder is refused
        old = _check_compatible(folder, int(base_seed), population_scale, entries, uncertainty)
        records = _old_records(old)
        todo: list[tuple[str, int, RunTask]] = []
        done: dict[str, int] = {}
        notes: list[str] = []
        weight = int(round(1 / population_scale))
        draws: dict[str, list[dict[str, Any]]] = {}
        for sc, tpl, entry, unc in zip(scs, templates, entries, plans, strict=True):
            draws[sc.name] = [
                unc.values(base_seed, i, sc.population_total, weight) for i in range(len(seeds))
            ]
            for d in (folder / sc.name, folder / sc.name / REPLICATES_DIR):
                if os.path.lexists(d) and (os.path.islink(d) or not d.is_dir()):
                    raise OutputError(
                        f"{d} is not a folder idlibsim wrote (a link or a file); it will not "
                        "write through it: remove it or choose another --out"
                    )
            n_days = _reported_days(sc)
            done[sc.name] = 0
            for i, seed in enumerate(seeds):
                p = EnsembleFolder(folder).replicate_path(sc.name, i)
                rel = p.relative_to(folder).as_posix()
                if os.path.lexists(p) and (os.path.islink(p) or not os.path.isfile(p)):
                    # never remove what idlibsim did not write (a folder, a link, a device)
                    raise OutputError(
                        f"{p} is not a replicate file (it is {_describe(p)}); idlibsim will not "
                        "replace it: remove it yourself or choose another --out"
                    )
                if os.path.lexists(p):
                    why = _reusable(p, rel, records.get(rel), entry["digest"], seed, n_days)
                    if why is None:
                        done[sc.name] += 1
                        continue
                    notes.append(f"replicate {rel} is {why}; running it again")
                    log.warning("replicate %s is %s; running it again", rel, why)
                records.pop(rel, None)
                todo.append((sc.name, i, _with_seed(tpl, seed, draws[sc.name][i])))
        for sc in scs:
            _clean_temporaries(folder / sc.name / REPLICATES_DIR)
        plan = _Plan(
            folder, name, scs, entries, seeds, int(base_seed), float(population_scale), todo,
            done, sum(done.values()), int(workers), scheduler, command, t0, records, notes,
            uncertainty, draws,
        )  # fmt: skip
        remote = bool(todo) and client is None and bool(scheduler)
        # Connect first, so that an unreachable cluster leaves nothing behind. A local
        # cluster starts while this process computes the first replicates (map_runs).
        with dask_client(workers, scheduler) if remote else nullcontext(client) as dask:
            return _carry_out(plan, dask, progress)


def _describe(p: Path) -> str:
    try:
        return describe_mode(os.lstat(p).st_mode)
    except OSError:
        return "unreadable"


@dataclass
class _Plan:
    """What an ensemble call will do: its folder, scenarios, seeds and missing replicates."""

    folder: Path
    name: str
    scenarios: list[Scenario]
    entries: list[dict[str, Any]]
    seeds: list[int]
    base_seed: int
    scale: float
    todo: list[tuple[str, int, RunTask]]  # (scenario name, replicate index, task)
    done: dict[str, int]
    skipped: int
    workers: int
    scheduler: str | None
    command: list[str] | None
    t0: float
    #: replicate file (relative) -> sha256, scenario digest and seed of what was written
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    uncertainty: str = "seed"
    #: scenario name -> each replicate's draw as applied (Draw.for_scenario)
    draws: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def manifest(self, status: str, wall: float = 0.0, outputs=None) -> dict[str, Any]:
        return _manifest(
            self.name, self.entries, self.base_seed, self.seeds, self.scale, self.done, status,
            self.command, wall, outputs, workers=self.workers, scheduler=self.scheduler,
            records=self.records, uncertainty=self.uncertainty,
        )  # fmt: skip


def _carry_out(plan: _Plan, client: Any, progress: bool) -> EnsembleResult:
    """Run the missing replicates (writing each as it arrives), then the bands and manifest."""
    folder = plan.folder
    folder.mkdir(parents=True, exist_ok=True)
    _clean_temporaries(folder)
    if plan.todo:
        EnsembleFolder(folder).write_manifest(plan.manifest("running"))
    digests = {e["name"]: e["digest"] for e in plan.entries}

    ran = 0
    if plan.todo:
        bar = _progress(len(plan.seeds) * len(plan.scenarios), plan.skipped, "replicates", progress)

        def save(k: int, daily: pd.DataFrame) -> None:
            nonlocal ran
            scen, i, _ = plan.todo[k]
            path = EnsembleFolder(folder).replicate_path(scen, i)
            write_atomic_csv(daily, path)
            plan.records[path.relative_to(folder).as_posix()] = {
                "sha256": sha256_limited(path),
                "scenario_digest": digests[scen],
                "seed": int(plan.seeds[i]),
            }
            EnsembleFolder(folder).write_manifest(plan.manifest("running"))
            plan.done[scen] += 1
            ran += 1
            bar.update(1)

        try:
            tasks = [t for _, _, t in plan.todo]
            map_runs(tasks, plan.workers if client is None else 1, client=client, on_result=save)
        finally:
            bar.close()

    # Summarise from the files (the same numbers whether they were just run or resumed).
    tables: dict[str, pd.DataFrame] = {}
    band_tables = []
    outputs: dict[str, str] = {}
    for sc in plan.scenarios:
        frames = []
        for i in range(len(plan.seeds)):
            path = EnsembleFolder(folder).replicate_path(sc.name, i)
            df = read_replicate(path, _reported_days(sc))
            if df is None:  # pragma: no cover - would be a bug: every replicate was written
                raise RuntimeError(f"replicate {i} of {sc.name} is missing from {folder}")
            frames.append(df)
            rel = path.relative_to(folder).as_posix()
            outputs[rel] = sha256_limited(path)
            if plan.records.get(rel, {}).get("sha256") != outputs[rel]:
                raise OutputError(f"{path} changed while the ensemble ran; run the command again")
        tables[sc.name] = _stack(frames, plan.seeds)
        entry = next(e for e in plan.entries if e["name"] == sc.name)
        b = bands(
            frames,
            scenario=sc.name,
            label=sc.label,
            uncertainty=entry["uncertainty"]["covers_text"],
        )
        write_atomic_csv(b.drop(columns=["scenario", "label"]), folder / sc.name / "bands.csv")
        band_tables.append(b)
        if plan.uncertainty != "seed":
            dpath = folder / sc.name / "draws.csv"
            write_atomic_csv(_draws_table(sc, plan.draws[sc.name], plan.seeds), dpath)
            outputs[dpath.relative_to(folder).as_posix()] = sha256_limited(dpath)
    all_bands = pd.concat(band_tables, ignore_index=True)
    write_atomic_csv(all_bands, folder / "bands.csv")
    outputs = {"bands.csv": sha256_limited(folder / "bands.csv"), **outputs}
    wall = time.perf_counter() - plan.t0
    man = plan.manifest("complete", wall, outputs)
    EnsembleFolder(folder).write_manifest(man)
    return EnsembleResult(folder, man, tables, all_bands, ran, plan.skipped, wall, plan.notes)


def _with_seed(task: RunTask, seed: int, draw: Mapping[str, Any] | None = None) -> RunTask:
    from dataclasses import replace

    return replace(task, seed=int(seed), draw=dict(draw or {}))


@dataclass
class _Uncertainty:
    """What an ensemble draws for one scenario (:mod:`sim.analysis.uncertainty`)."""

    mode: str
    fixed: set[str]
    posterior: Any  # sim.analysis.posterior.Posterior or None
    ranges: dict[str, tuple[float, float]]
    population: bool
    covers: list[str]
    note: str = ""

    def values(self, base_seed: int, i: int, total: int, weight: int) -> dict[str, Any]:
        from sim.analysis.uncertainty import draw

        if self.mode == "seed":
            return {}
        d = draw(base_seed, i, self.mode, self.posterior, self.ranges)
        return d.for_scenario(total, weight, self.fixed, self.population) | {
            "posterior_index": d.posterior_index
        }

    def entry(self) -> dict[str, Any]:
        from sim.analysis.uncertainty import TOTAL_RANGE, TOTAL_SOURCE, covers_text

        post = self.posterior
        return {
            "mode": self.mode,
            "covers": self.covers,
            "covers_text": covers_text(self.covers),
            "fixed_by_user": sorted(self.fixed),
            "posterior": {
                "file": display_path(post.path) if post is not None else "",
                "sha256": post.sha256 if post is not None else "",
                "draws": len(post) if post is not None else 0,
                "parameters": list(post.names) if post is not None else [],
            },
            "population": {
                "drawn": self.population,
                "total_range": list(TOTAL_RANGE) if self.population else [],
                "total_source": TOTAL_SOURCE if self.population else "",
                "places_drawn": len(self.ranges) if self.population else 0,
                "place_ranges_source": "each row's population_source in the locations file"
                if self.population
                else "",
            },
            "note": self.note,
        }


def _uncertainty_plan(
    sc: Scenario, task: RunTask, mode: str, posterior: Path | str | None, fix: Sequence[str]
) -> _Uncertainty:
    """Which sources an ensemble draws for ``sc`` under ``mode``, and from what."""
    from sim.analysis.posterior import load_posterior, posterior_path
    from sim.analysis.uncertainty import MODES, POPULATION, covers, population_ranges, user_fixed

    if mode not in MODES:
        raise ValueError(f"uncertainty must be one of {', '.join(MODES)}, got {mode!r}")
    if mode == "seed":
        return _Uncertainty(mode, set(), None, {}, False, ["seed"])
    fixed = user_fixed(sc, task.behaviour, fix)
    path = Path(posterior) if posterior else posterior_path(sc.parameters_file)
    post, note = None, ""
    if path is not None and (posterior or path.exists()):
        post = load_posterior(path)
    else:
        note = (
            "no posterior draws beside the scenario's parameter file "
            f"({display_path(sc.parameters_file) if sc.parameters_file else 'none'}): the "
            "behaviour parameters are not drawn (write them with `idlibsim posterior`)"
        )
        if mode == "parameters":
            raise InputError(
                [
                    Problem(
                        sc.path,
                        "behaviour.parameters",
                        "--uncertainty parameters needs posterior draws; " + note,
                        "run `idlibsim posterior SCENARIO`, or pass --posterior FILE",
                    )
                ]
            )
    if post is not None and sc.parameters_file and post.meta.get("parameters_sha256"):
        if post.meta["parameters_sha256"] != sha256_limited(Path(sc.parameters_file)):
            note = (
                f"the posterior {display_path(post.path)} was fitted beside an earlier version "
                "of the parameter file: rerun `idlibsim posterior --update-shipped`"
            )
            log.warning(note)
    drawn = [n for n in (post.names if post is not None else ()) if n not in fixed]
    if post is not None and not drawn:
        note = "every parameter of the posterior is fixed by the user: none is drawn"
    population = mode == "all" and POPULATION not in set(fix)
    ranges = population_ranges(sc.locations_file) if population else {}
    return _Uncertainty(
        mode, fixed, post, ranges, population, covers(mode, bool(drawn), population), note
    )


def _draws_table(sc: Scenario, draws: list[dict[str, Any]], seeds: Sequence[int]) -> pd.DataFrame:
    """Each replicate's draw as run: posterior row, population total, parameter values."""
    rows = []
    for i, d in enumerate(draws):
        row: dict[str, Any] = {
            "replicate": i,
            "seed": int(seeds[i]),
            "posterior_draw": int(d.get("posterior_index", -1)),
            "population_total": int(d.get("population_total", sc.population_total)),
        }
        beh = sc.behaviour.as_dict()
        for k in sorted(d.get("behaviour", {})):
            row[k] = d["behaviour"][k]
        for k in sorted(beh):
            row.setdefault(k, beh[k])
        for k, v in sorted(d.get("population_factors", {}).items()):
            row[f"population_factor:{k}"] = round(float(v), 6)
        rows.append(row)
    return pd.DataFrame(rows)


def _stack(frames: list[pd.DataFrame], seeds: Sequence[int]) -> pd.DataFrame:
    parts = []
    for i, df in enumerate(frames):
        d = df.copy()
        d.insert(0, "seed", int(seeds[i]))
        d.insert(0, "replicate", i)
        parts.append(d)
    return pd.concat(parts, ignore_index=True)


def band_covers(entry: Any) -> str:
    """What a manifest's scenario entry says its band covers (older ensembles: seed noise)."""
    u = entry.get("uncertainty") if isinstance(entry, dict) else None
    text = u.get("covers_text") if isinstance(u, dict) else None
    return str(text)[:300] if isinstance(text, str) and text else "seed noise"


def load_ensemble(folder: Path | str, allow_incomplete: bool = True) -> EnsembleResult:
    """Read an ensemble folder: manifest, replicate tables and bands (pandas DataFrames).

    Replicates that are missing (an interrupted ensemble) are left out; the bands are
    recomputed from the replicates present when bands.csv is missing or out of date.
    """
    folder = Path(folder)
    ens = EnsembleFolder(folder)
    if not ens.is_ensemble():
        raise InputError(
            [
                Problem(
                    folder,
                    "",
                    "is not an ensemble folder (no manifest.json written by 'idlibsim ensemble')",
                    "give a folder made by 'idlibsim ensemble', e.g. results/ensemble_...",
                )
            ]
        )
    man = ens.manifest()
    seeds = man["replicate_seeds"]
    tables: dict[str, pd.DataFrame] = {}
    band_tables = []
    complete = man.get("status") == "complete"
    for s in man["scenarios"]:
        frames, present = [], []
        for i in range(len(seeds)):
            df = read_replicate(
                EnsembleFolder(folder).replicate_path(s["name"], i), s.get("reported_days")
            )
            if df is not None:
                frames.append(df)
                present.append(i)
        if len(present) < len(seeds):
            complete = False
            if not allow_incomplete:
                raise InputError(
                    [
                        Problem(
                            folder / s["name"],
                            "",
                            f"{len(present)} of {len(seeds)} replicates are present",
                            "rerun the same 'idlibsim ensemble' command to finish it",
                        )
                    ]
                )
        if not frames:
            continue
        parts = []
        for i, df in zip(present, frames, strict=True):
            d = df.copy()
            d.insert(0, "seed", int(seeds[i]))
            d.insert(0, "replicate", i)
            parts.append(d)
        tables[s["name"]] = pd.concat(parts, ignore_index=True)
        band_tables.append(
            bands(frames, scenario=s["name"], label=s["label"], uncertainty=band_covers(s))
        )
    if complete and (folder / "bands.csv").exists():
        all_bands = pd.read_csv(folder / "bands.csv")
        if "uncertainty" not in all_bands:  # written before bands said what they cover
            all_bands["uncertainty"] = all_bands["scenario"].map(
                {s["name"]: band_covers(s) for s in man["scenarios"]}
            )
    elif band_tables:
        all_bands = pd.concat(band_tables, ignore_index=True)
    else:
        all_bands = pd.DataFrame(columns=list(BAND_COLUMNS))
    return EnsembleResult(folder, man, tables, all_bands, 0, 0, float(man.get("wall_seconds", 0)))


# --------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------


def cli_ensemble(args, argv: list[str]) -> int:
    """``idlibsim ensemble SCENARIO.toml ... --replicates N [--workers K] [--scheduler A]``."""
    scenarios = [load_scenario(p) for p in args.scenario]
    quiet = bool(getattr(args, "quiet", False))
    fix, values = _parse_fix(getattr(args, "fix", None) or [])
    if values:
        scenarios = [sc.with_behaviour(**values) for sc in scenarios]
    try:
        res = run_ensemble(
            scenarios,
            uncertainty=getattr(args, "uncertainty", "all"),
            posterior=getattr(args, "posterior", None),
            fix=fix,
            replicates=args.replicates,
            base_seed=args.seed,
            population_scale=args.population_scale,
            workers=args.workers,
            scheduler=args.scheduler,
            out=args.out,
            progress=not quiet and sys.stderr.isatty(),
            command=["idlibsim", *argv],
        )
    except (DistributedUnavailableError, ClusterError) as exc:
        raise UsageError(str(exc)) from None
    if not quiet:
        print(format_ensemble(res))
    return 0


def _parse_fix(items: Sequence[str]) -> tuple[list[str], dict[str, float]]:
    """``--fix NAME`` / ``--fix NAME=VALUE``: names held, and values set (checked)."""
    from sim.analysis.fields import behaviour_params
    from sim.analysis.uncertainty import POPULATION
    from sim.errors import UsageError, did_you_mean

    spec = behaviour_params()
    names, values = [], {}
    for item in items:
        name, eq, text = str(item).partition("=")
        name = name.strip()
        if name != POPULATION and name not in spec:
            raise UsageError(
                f"--fix {item}: '{name}' is not a behaviour parameter or 'population'; "
                + did_you_mean(name, [*spec, POPULATION])
            )
        names.append(name)
        if not eq:
            continue
        if name == POPULATION:
            raise UsageError("--fix population takes no value: set [population] total instead")
        f = spec[name]
        try:
            v = float(text)
        except ValueError:
            raise UsageError(f"--fix {item}: '{text}' is not a number") from None
        lo, hi = f.bounds()
        if not lo <= v <= hi or v != v:
            raise UsageError(f"--fix {item}: {name} must be between {lo:g} and {hi:g}")
        if f.kind == "int" and v != int(v):
            raise UsageError(f"--fix {item}: {name} must be a whole number")
        values[name] = int(v) if f.kind == "int" else v
    return names, values


def format_ensemble(res: EnsembleResult) -> str:
    """A few lines: where, how many, how fast, and the end-of-period medians and bands."""
    man = res.manifest
    n = man["replicates"]
    total = n * len(man["scenarios"])
    rate = res.ran / (res.wall_seconds / 60) if res.ran and res.wall_seconds > 0 else float("nan")
    lines = [
        f"ensemble: {res.folder}",
        f"  {len(man['scenarios'])} scenario(s) x {n} replicates = {total} runs "
        f"at population scale {scale_label(man['population_scale'])} (base seed {man['base_seed']})",
        f"  ran {res.ran}, kept {res.skipped} already done; {res.wall_seconds:.1f} s"
        + (f", {rate:.1f} replicates/min" if res.ran else ""),
    ]
    b = res.bands
    for s in man["scenarios"]:
        lines.append(f"  {s['label']} ({s['name']}), on {s['period']['end']}:")
        lines.append(f"    bands cover: {band_covers(s)}")
        note = (s.get("uncertainty") or {}).get("note")
        if note:
            lines.append(f"    note: {note}")
        for metric, text in (
            ("displacements_cumulative", "displacements (movements)"),
            ("displaced_people_cumulative", "people displaced at least once"),
            ("displaced_now", "displaced now"),
        ):
            rows = b[(b["scenario"] == s["name"]) & (b["metric"] == metric)]
            if rows.empty:
                continue
            r = rows.iloc[-1]
            lines.append(
                f"    {text}: median {r['median']:,.0f} (90% of runs {r['p05']:,.0f} to {r['p95']:,.0f})"
            )
    lines.append(f"  compare: idlibsim compare {res.folder} -o {res.folder / 'comparison.png'}")
    return "\n".join(lines)
