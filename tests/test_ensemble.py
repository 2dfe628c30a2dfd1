"""Ensembles: shared replicate seeds, bands, resuming, and Dask runs equal to local ones."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import BASE_SCENARIO, BOMB, BOMB_AGAIN, SCENARIOS

import sim.analysis.ensemble as ens
from sim.analysis.ensemble import (
    BAND_COLUMNS,
    METRICS,
    ClusterError,
    DistributedUnavailableError,
    RunTask,
    bands,
    load_ensemble,
    map_runs,
    run_ensemble,
)
from sim.cli import main
from sim.errors import InputError, ResultsExistError
from sim.model.history import DAILY_COLUMNS
from sim.model.rng import replicate_seeds
from sim.outputs.results import write_csv
from sim.outputs.runner import simulate
from sim.scenario.loading import load_scenario

HAS_DISTRIBUTED = importlib.util.find_spec("distributed") is not None
needs_dask = pytest.mark.skipif(
    not HAS_DISTRIBUTED,
    reason='Dask distributed is not installed (pip install "idlibsim[distributed]")',
)


def two_scenarios(world) -> tuple[Path, Path]:
    a = world.scenario(BOMB, name="a.toml")
    b = world.scenario(
        BOMB + BOMB_AGAIN,
        name="b.toml",
        base=BASE_SCENARIO.replace('name = "tiny"', 'name = "tiny_again"'),
    )
    return a, b


def files(folder: Path) -> dict[str, bytes]:
    """Every replicate and band file of an ensemble folder, by relative path."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*.csv"))
        if not p.name.startswith(".")
    }


# --------------------------------------------------------------------------------------
# Seeds
# --------------------------------------------------------------------------------------


def test_replicate_seeds_are_spawned_from_the_base_and_shared_by_every_scenario(world, tmp_path):
    a, b = two_scenarios(world)
    res = run_ensemble([a, b], replicates=3, base_seed=11, out=tmp_path / "e")
    seeds = replicate_seeds(11, 3)
    assert res.manifest["replicate_seeds"] == seeds
    assert len(set(seeds)) == 3
    for name in ("tiny", "tiny_again"):
        got = res.replicates[name].groupby("replicate")["seed"].first().tolist()
        assert got == seeds
    # Asking for more replicates later keeps the first ones.
    assert replicate_seeds(11, 5)[:3] == seeds


def test_a_replicate_file_is_the_daily_table_of_its_seed_byte_for_byte(world, tmp_path):
    path = world.scenario(BOMB)
    res = run_ensemble([path], replicates=2, base_seed=3, out=tmp_path / "e")
    seed = replicate_seeds(3, 2)[1]
    direct = tmp_path / "direct.csv"
    write_csv(simulate(load_scenario(path), seed=seed, population_scale=0.1).daily, direct)
    rep = res.folder / "tiny" / "replicates" / "rep-0001.csv"
    assert rep.read_bytes() == direct.read_bytes()
    assert list(pd.read_csv(rep).columns) == list(DAILY_COLUMNS)


# --------------------------------------------------------------------------------------
# Bands
# --------------------------------------------------------------------------------------


def _frame(values_by_day: list[float]) -> pd.DataFrame:
    n = len(values_by_day)
    df = pd.DataFrame(
        {
            "date": [f"2019-05-{d + 1:02d}" for d in range(n)],
            "day": range(n),
            "displaced_now": values_by_day,
        }
    )
    return df


def test_bands_of_known_numbers():
    # Five replicates; day 0 holds 1..5 and day 1 holds 10..50 (in shuffled order).
    reps = [[3, 30], [1, 10], [5, 50], [2, 20], [4, 40]]
    b = bands([_frame(v) for v in reps], metrics=["displaced_now"], scenario="s", label="S")
    assert list(b.columns) == list(BAND_COLUMNS)
    d0, d1 = b.iloc[0], b.iloc[1]
    # numpy's linear quantiles: position q * (n - 1) between the sorted values.
    assert (d0["median"], d0["p25"], d0["p75"]) == (3.0, 2.0, 4.0)
    assert d0["p05"] == pytest.approx(1.2) and d0["p95"] == pytest.approx(4.8)
    assert (d1["median"], d1["p05"], d1["p95"]) == (30.0, pytest.approx(12.0), pytest.approx(48.0))
    assert d0["n"] == 5 and d0["date"] == "2019-05-01" and d1["day"] == 1
    single = bands([_frame([7, 8])], metrics=["displaced_now"])
    assert (single[["median", "p05", "p95"]].to_numpy() == [[7, 7, 7], [8, 8, 8]]).all()


def test_bands_refuse_replicates_of_different_lengths():
    with pytest.raises(ValueError, match="same days"):
        bands([_frame([1, 2]), _frame([1, 2, 3])], metrics=["displaced_now"])


def test_ensemble_folder_layout_and_bands_csv(world, tmp_path):
    a, b = two_scenarios(world)
    res = run_ensemble([a, b], replicates=3, out=tmp_path / "e")
    folder = res.folder
    man = json.loads((folder / "manifest.json").read_text())
    assert man["kind"] == "ensemble" and man["status"] == "complete"
    assert man["replicates_done"] == {"tiny": 3, "tiny_again": 3}
    assert [s["name"] for s in man["scenarios"]] == ["tiny", "tiny_again"]
    assert all(len(s["digest"]) == 64 for s in man["scenarios"])
    assert man["population_scale"] == 0.1 and man["base_seed"] == 1
    table = pd.read_csv(folder / "bands.csv")
    assert list(table.columns) == list(BAND_COLUMNS)
    n_days = 30
    assert len(table) == 2 * len(METRICS) * n_days
    assert set(table["metric"]) == set(METRICS)
    assert (table["p05"] <= table["p25"]).all() and (table["p25"] <= table["median"]).all()
    assert (table["median"] <= table["p75"]).all() and (table["p75"] <= table["p95"]).all()
    one = pd.read_csv(folder / "tiny" / "bands.csv")
    assert len(one) == len(METRICS) * n_days
    for i in range(3):
        assert (folder / "tiny_again" / "replicates" / f"rep-{i:04d}.csv").exists()
    # The bands are those of the replicate files.
    reps = [pd.read_csv(p) for p in sorted((folder / "tiny" / "replicates").glob("rep-*.csv"))]
    last = np.median([r["displacements_cumulative"].iloc[-1] for r in reps])
    assert res.band("tiny", "displacements_cumulative")["median"].iloc[-1] == last
    loaded = load_ensemble(folder)
    pd.testing.assert_frame_equal(loaded.bands, res.bands, check_dtype=False)
    pd.testing.assert_frame_equal(loaded.replicates["tiny"], res.replicates["tiny"])
    assert loaded.labels == {"tiny": "tiny", "tiny_again": "tiny_again"}


def test_default_folder_name_is_deterministic_so_a_rerun_resumes(world, tmp_path):
    path = world.scenario(BOMB)
    first = run_ensemble([path], replicates=2, results_root=tmp_path)
    assert first.folder.parent == tmp_path
    assert first.folder.name.startswith("ensemble_tiny_")
    again = run_ensemble([path], replicates=2, results_root=tmp_path)
    assert again.folder == first.folder
    assert (again.ran, again.skipped) == (0, 2)
    other = run_ensemble([path], replicates=2, base_seed=2, results_root=tmp_path)
    assert other.folder != first.folder


# --------------------------------------------------------------------------------------
# Resuming and atomic writes
# --------------------------------------------------------------------------------------


def test_resume_recomputes_only_the_missing_replicate(world, tmp_path, monkeypatch):
    path = world.scenario(BOMB)
    out = tmp_path / "e"
    run_ensemble([path], replicates=3, out=out)
    reps = out / "tiny" / "replicates"
    before = files(out)
    # Date the kept replicates in the past: a rewrite would show, however coarse the clock.
    old = 1_000_000_000 * 10**9  # 2001-09-09, in ns
    for p in reps.glob("rep-*.csv"):
        os.utime(p, ns=(old, old))
    mtimes = {p.name: p.stat().st_mtime_ns for p in reps.glob("rep-*.csv")}
    (reps / "rep-0001.csv").unlink()
    bogus = reps / ".tmp-rep-0002.csv.999.123"  # what a crash mid-write leaves behind
    bogus.write_text("date,day,popul")

    calls = []
    real = ens.execute

    def counting(task):
        calls.append(task.seed)
        return real(task)

    monkeypatch.setattr(ens, "execute", counting)
    res = run_ensemble([path], replicates=3, out=out)
    assert calls == [replicate_seeds(1, 3)[1]]
    assert (res.ran, res.skipped) == (1, 2)
    assert files(out) == before
    assert not bogus.exists()
    for name in ("rep-0000.csv", "rep-0002.csv"):
        assert (reps / name).stat().st_mtime_ns == mtimes[name]


def test_a_truncated_replicate_file_is_run_again(world, tmp_path):
    path = world.scenario(BOMB)
    out = tmp_path / "e"
    run_ensemble([path], replicates=2, out=out)
    before = files(out)
    rep = out / "tiny" / "replicates" / "rep-0000.csv"
    rep.write_text("\n".join(rep.read_text().splitlines()[:5]) + "\n")
    res = run_ensemble([path], replicates=2, out=out)
    assert res.ran == 1
    assert files(out) == before


def test_a_crash_while_writing_leaves_no_file_that_counts_as_done(world, tmp_path, monkeypatch):
    path = world.scenario(BOMB)
    out = tmp_path / "e"

    def crashing_write(df, target):
        Path(target).write_text(df.to_csv(index=False)[:200])  # half a file, then the crash
        raise OSError("disk full")

    monkeypatch.setattr(ens, "write_csv", crashing_write)
    with pytest.raises(OSError, match="disk full"):
        run_ensemble([path], replicates=2, out=out)
    reps = out / "tiny" / "replicates"
    assert list(reps.iterdir()) == []  # neither a final file nor a temporary one
    monkeypatch.undo()
    res = run_ensemble([path], replicates=2, out=out)
    assert res.ran == 2


def test_refuses_to_mix_a_different_ensemble_into_a_folder(world, tmp_path):
    path = world.scenario(BOMB)
    out = tmp_path / "e"
    run_ensemble([path], replicates=2, out=out)
    with pytest.raises(ResultsExistError, match="base seed"):
        run_ensemble([path], replicates=2, base_seed=9, out=out)
    changed = world.scenario(BOMB.replace("0.5", "0.4"))
    with pytest.raises(ResultsExistError, match="changed"):
        run_ensemble([changed], replicates=2, out=out)
    stranger = tmp_path / "stranger"
    stranger.mkdir()
    (stranger / "notes.txt").write_text("mine")
    with pytest.raises(ResultsExistError, match="not an ensemble folder"):
        run_ensemble([path], replicates=1, out=stranger)


def test_two_scenarios_with_the_same_name_are_refused(world, tmp_path):
    a = world.scenario(BOMB, name="a.toml")
    b = world.scenario(BOMB_AGAIN, name="b.toml")  # also named "tiny"
    with pytest.raises(InputError, match="named 'tiny'"):
        run_ensemble([a, b], replicates=1, out=tmp_path / "e")


# --------------------------------------------------------------------------------------
# Common random numbers
# --------------------------------------------------------------------------------------


def test_common_random_numbers_make_paired_differences_tight(world, tmp_path):
    a, b = two_scenarios(world)
    res = run_ensemble([a, b], replicates=8, out=tmp_path / "e")

    def final(name):
        r = res.replicates[name]
        return r.groupby("replicate")["displacements_cumulative"].last().to_numpy(float)

    fa, fb = final("tiny"), final("tiny_again")
    paired = fb - fa
    unpaired = fb - np.roll(fa, 1)  # the same runs, but each against another seed's
    assert paired.mean() > 0  # the extra bombardment adds displacement
    assert paired.std() < 0.5 * unpaired.std(), (paired.std(), unpaired.std())
    # Before the extra event the two scenarios are identical run by run.
    ra, rb = res.replicates["tiny"], res.replicates["tiny_again"]
    early = ra["date"] < "2019-05-24"
    assert (
        ra.loc[early, "displacements_cumulative"].to_numpy()
        == rb.loc[early, "displacements_cumulative"].to_numpy()
    ).all()


# --------------------------------------------------------------------------------------
# map_runs and tasks (also used by calibration)
# --------------------------------------------------------------------------------------


def test_map_runs_returns_the_tables_in_task_order_with_overrides(world):
    path = world.scenario(BOMB)
    sc = load_scenario(path)
    tasks = [
        RunTask(str(path), 5, 0.1),
        RunTask(str(path), 6, 0.1, {"flee_rate": 0.2}),
        RunTask(str(path), 5, 0.1, days=10),
    ]
    got = map_runs(tasks)
    pd.testing.assert_frame_equal(got[0], simulate(sc, 5, 0.1).daily)
    pd.testing.assert_frame_equal(got[1], simulate(sc.with_behaviour(flee_rate=0.2), 6, 0.1).daily)
    pd.testing.assert_frame_equal(got[2], simulate(sc.truncated(10), 5, 0.1).daily)


def test_task_from_a_changed_scenario_and_input_check(world):
    path = world.scenario(BOMB)
    sc = load_scenario(path).with_behaviour(flee_rate=0.3).truncated(12)
    task = RunTask.from_scenario(sc, seed=4, population_scale=0.1)
    assert dict(task.behaviour) == {"flee_rate": 0.3} and task.days == 12
    pd.testing.assert_frame_equal(map_runs([task])[0], simulate(sc, 4, 0.1).daily)
    path.write_text(path.read_text().replace("0.5", "0.6"))  # the file differs on the "worker"
    with pytest.raises(ClusterError, match="same repository and data files at the same path"):
        map_runs([task])


def test_tasks_of_one_file_read_it_once_until_it_changes(world, monkeypatch):
    """A calibration or sensitivity run makes a task per seed and parameter set: the file is
    validated once (then checked by its hashes), and again once it changed."""
    path = world.scenario(BOMB)
    sc = load_scenario(path)
    reads = []
    real = ens.load_scenario
    monkeypatch.setattr(ens, "load_scenario", lambda p: reads.append(p) or real(p))
    tasks = [RunTask.from_scenario(sc.with_behaviour(flee_rate=r), 1, 0.1) for r in (0.2, 0.3)]
    tasks += [RunTask.from_scenario(sc, seed, 0.1) for seed in range(5)]
    first = len(reads)
    assert first <= 2  # read, and read again to be sure it did not change meanwhile
    assert [dict(t.behaviour) for t in tasks[:3]] == [{"flee_rate": 0.2}, {"flee_rate": 0.3}, {}]
    path.write_text(path.read_text().replace("0.5", "0.6"))
    with pytest.raises(ValueError, match="differs from its file"):
        RunTask.from_scenario(sc, 1, 0.1)
    assert len(reads) > first


def test_real_scenarios_share_seeds(tmp_path):
    scs = [
        load_scenario(SCENARIOS / "idlib_2019.toml").truncated(20),
        load_scenario(SCENARIOS / "whatif_2019_border_open.toml").truncated(20),
    ]
    res = run_ensemble(scs, replicates=2, population_scale=0.01, out=tmp_path / "e")
    assert [s["days"] for s in res.manifest["scenarios"]] == [20, 20]
    a, b = res.replicates["idlib_2019"], res.replicates[scs[1].name]
    assert len(a) == len(b) == 40
    # The border opens on 1 June, after these 20 days: identical runs, seed by seed.
    pd.testing.assert_frame_equal(a, b)


# --------------------------------------------------------------------------------------
# Dask
# --------------------------------------------------------------------------------------


def test_missing_dask_gives_a_clear_message(world, tmp_path, monkeypatch, capsys):
    import sys

    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    path = world.scenario(BOMB)
    with pytest.raises(DistributedUnavailableError, match=r'pip install "idlibsim\[distributed\]"'):
        run_ensemble([path], replicates=2, workers=2, out=tmp_path / "e")
    code = main(
        ["ensemble", str(path), "--replicates", "2", "--workers", "2", "--out", str(tmp_path / "f")]
    )
    assert code == 2
    assert "idlibsim[distributed]" in capsys.readouterr().err


@needs_dask
def test_local_cluster_gives_byte_identical_results(world, tmp_path):
    a, b = two_scenarios(world)
    one = run_ensemble([a, b], replicates=4, workers=1, out=tmp_path / "one")
    with ens.dask_client(2) as client:  # every replicate on the workers
        two = run_ensemble([a, b], replicates=4, out=tmp_path / "two", client=client)
    assert two.ran == 8
    assert files(one.folder) == files(two.folder)
    assert len(files(one.folder)) == 2 * 4 + 3  # replicates + bands.csv (all and per scenario)


#: Evaluated in a worker (``client.run(eval, ...)``: nothing of this module is imported there).
_IMPORTED = "[m in __import__('sys').modules for m in ('mesa', 'sim.outputs.runner')]"
_PARENT = "__import__('os').getppid()"


@needs_dask
def test_local_workers_are_forked_with_the_model_imported_and_the_allocator_set():
    """Workers of a local cluster are forked by a process that imported the model once (the
    fork server), instead of being fresh interpreters that each import it before their
    first task; that process started with the allocator settings (what glibc reads)."""
    import multiprocessing

    from sim.memory import MALLOC_ENV

    if "forkserver" not in multiprocessing.get_all_start_methods():  # pragma: no cover
        pytest.skip("no fork server on this platform (workers are spawned)")
    with ens.dask_client(2) as client:
        imported = client.run(eval, _IMPORTED)
        parents = set(client.run(eval, _PARENT).values())
    assert list(imported.values()) == [[True, True]] * 2  # before any task
    assert len(parents) == 1 and os.getpid() not in parents
    proc = Path(f"/proc/{parents.pop()}")
    if proc.exists():  # Linux: the fork server, its preload, the environment it started with
        cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
        assert "multiprocessing.forkserver" in cmdline and "sim.analysis.worker_preload" in cmdline
        environ = dict(
            item.partition("=")[::2]
            for item in (proc / "environ").read_bytes().decode(errors="replace").split("\0")
        )
        assert {k: environ.get(k) for k in MALLOC_ENV} == MALLOC_ENV


def test_tasks_kept_here_spare_the_workers_a_last_round_alone():
    assert [ens._kept_here(left, 2) for left in range(8)] == [0, 0, 0, 1, 0, 1, 0, 1]
    assert ens._kept_here(7, 4) == 0  # three more here would outlast the workers' one round
    assert ens._kept_here(9, 4) == 1
    assert ens._kept_here(14, 4) == 2


@needs_dask
def test_while_the_local_cluster_starts_this_process_computes_replicates(
    world, tmp_path, monkeypatch
):
    """run_ensemble(workers=2) computes replicates itself, from the last, until the workers
    are up, then sends them the rest: each replicate runs once, the files equal those of
    an ensemble run in one process."""
    path = world.scenario(BOMB)
    n = 6
    ref = run_ensemble([path], replicates=n, out=tmp_path / "one")

    starts: list = []
    real_start = ens._LocalStart.__init__

    def recording_start(self, *args, **kwargs):
        starts.append(self)
        real_start(self, *args, **kwargs)

    import sim.outputs.runner as runner

    here: list[int] = []
    real_simulate = runner.simulate

    def simulate_here(scenario, seed, *args, **kwargs):
        # In this process only (the workers were forked before; Dask sends them `execute`
        # by name): its first replicate ends only once the workers are up, a real event
        # whatever the speed of the machine, so the others can only go to the workers.
        here.append(seed)
        starts[0]._done.wait(600)
        return real_simulate(scenario, seed, *args, **kwargs)

    written: list[str] = []
    real_write = ens.write_atomic_csv

    def recording_write(df, target):
        written.append(Path(target).name)
        real_write(df, target)

    monkeypatch.setattr(ens._LocalStart, "__init__", recording_start)
    monkeypatch.setattr(runner, "simulate", simulate_here)
    monkeypatch.setattr(ens, "write_atomic_csv", recording_write)
    two = run_ensemble([path], replicates=n, workers=2, out=tmp_path / "two")
    assert len(starts) == 1 and starts[0].error is None
    # The last replicate here; of the five left, four for the two workers (two rounds each)
    # and one more here, rather than a third round for one worker while the other waits.
    assert here == [two.seeds[-1], two.seeds[-2]]
    assert two.ran == n
    assert sorted(w for w in written if w.startswith("rep-")) == [
        f"rep-{i:04d}.csv" for i in range(n)
    ]
    assert files(two.folder) == files(ref.folder)


def _hold_the_first_task(held: str, gate: str) -> None:
    """In a Dask worker: the first replicate to start on any worker records its process id
    in ``held`` and then waits on the FIFO ``gate`` (forever: it is killed); the others run."""
    real = ens.execute

    def execute(task):
        try:
            fd = os.open(held, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return real(task)
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        with open(gate) as wait:  # blocks: no writer ever comes
            wait.read()
        return real(task)  # pragma: no cover - killed before

    ens.execute = execute


@needs_dask
def test_a_worker_killed_mid_ensemble_loses_and_duplicates_nothing(world, tmp_path, monkeypatch):
    path = world.scenario(BOMB)
    n = 10
    ref = run_ensemble([path], replicates=n, population_scale=1.0, out=tmp_path / "ref")

    out = tmp_path / "dask"
    reps = out / "tiny" / "replicates"
    written: list[str] = []
    real_write = ens.write_atomic_csv

    def recording_write(df, target):
        written.append(Path(target).name)
        real_write(df, target)

    monkeypatch.setattr(ens, "write_atomic_csv", recording_write)
    held, gate = tmp_path / "held", tmp_path / "gate"
    os.mkfifo(gate)  # nobody opens it for writing: a task reading it waits until killed
    with ens.dask_client(workers=2) as client:
        # The first replicate to start on a worker writes the worker's pid and waits: that
        # worker is busy, whatever the speed of the machine (the others run as usual).
        client.run(_hold_the_first_task, str(held), str(gate))
        outcome: dict = {}

        def target():
            try:
                outcome["res"] = run_ensemble(
                    [path], replicates=n, population_scale=1.0, out=out, client=client
                )
            except BaseException as exc:  # pragma: no cover - reported below
                outcome["err"] = exc

        t = threading.Thread(target=target)
        t.start()
        deadline = time.monotonic() + 600  # generous: a busy machine; we stop when ready

        def holding_pid() -> str:  # written by the held task (a real event)
            return held.read_text() if held.exists() else ""

        while time.monotonic() < deadline and t.is_alive() and not holding_pid():
            time.sleep(0.01)
        assert held.exists() and held.read_text(), "no replicate started on a worker"
        pid = int(held.read_text())
        victim = next(w for w, p in client.run(os.getpid).items() if p == pid)
        busy = {victim: client.processing()[victim]}
        os.kill(pid, signal.SIGKILL)
        t.join(120)
        assert not t.is_alive()
        assert "err" not in outcome, outcome.get("err")
        assert pid not in client.run(os.getpid).values()  # the worker did die

        # The scheduler took the victim's tasks back (processing -> released) and ran them again.
        def rescheduled(dask_scheduler, keys=tuple(busy[victim])):
            return [
                k
                for k in keys
                if any(s[1:3] == ("processing", "released") for s in dask_scheduler.story(k))
            ]

        assert client.run_on_scheduler(rescheduled)
    res = outcome["res"]
    rep_names = [w for w in written if w.startswith("rep-")]
    assert sorted(rep_names) == [f"rep-{i:04d}.csv" for i in range(n)]  # each written once
    assert res.ran == n
    assert sorted(p.name for p in reps.iterdir()) == [f"rep-{i:04d}.csv" for i in range(n)]
    assert files(out) == files(ref.folder)


# --------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------


def test_cli_ensemble_writes_the_folder_and_a_summary(world, tmp_path, capsys):
    a, b = two_scenarios(world)
    out = tmp_path / "cli"
    code = main(
        [
            "ensemble",
            str(a),
            str(b),
            "--replicates",
            "2",
            "--seed",
            "4",
            "--population-scale",
            "0.1",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    text = capsys.readouterr().out
    assert str(out) in text and "ran 4" in text and "replicates/min" in text
    assert (out / "bands.csv").exists() and (out / "manifest.json").exists()
    man = json.loads((out / "manifest.json").read_text())
    assert man["replicate_seeds"] == replicate_seeds(4, 2)
    assert man["command"][:2] == ["idlibsim", "ensemble"]
    # Run again: everything is kept.
    assert (
        main(["ensemble", str(a), str(b), "--replicates", "2", "--seed", "4", "--out", str(out)])
        == 0
    )
    assert "ran 0, kept 4" in capsys.readouterr().out


def test_cli_ensemble_bad_input_is_a_message_not_a_traceback(world, tmp_path, capsys):
    assert main(["ensemble", str(tmp_path / "nope.toml"), "--out", str(tmp_path / "e")]) == 2
    assert "nope.toml" in capsys.readouterr().err
    bad = world.scenario(BOMB.replace('kind = "bombardment"', 'kind = "bombing"'))
    assert main(["ensemble", str(bad), "--out", str(tmp_path / "e")]) == 2
    assert "bombing" in capsys.readouterr().err


def test_more_replicates_into_the_same_folder_keeps_the_first_ones(world, tmp_path):
    path = world.scenario(BOMB)
    out = tmp_path / "e"
    small = run_ensemble([path], replicates=2, out=out)
    first = files(out)["tiny/replicates/rep-0001.csv"]
    more = run_ensemble([path], replicates=3, out=out)
    assert (more.ran, more.skipped) == (1, 2)
    assert files(out)["tiny/replicates/rep-0001.csv"] == first
    assert more.manifest["replicate_seeds"][:2] == small.manifest["replicate_seeds"]
    assert (more.bands["n"] == 3).all()
