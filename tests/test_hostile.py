"""Hostile and careless inputs: idlibsim never loses a user's data, never hangs, never
vouches for numbers it did not reproduce (issue 9).

Subprocesses are synchronised on real events (a temporary folder appearing, a lock being
held, a process stopped with SIGSTOP), never on a fixed sleep; every subprocess has a
generous timeout so that a hang fails the test instead of the suite.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from conftest import BASE_SCENARIO, BOMB, REPO, SCENARIOS

from sim.cli import EXIT_INPUT, EXIT_INTERRUPTED, EXIT_NOT_REPRODUCED, main
from sim.safety import MARKER, TargetLock, signals_held

TIMEOUT = 300  # seconds: only reached when something hangs


def cli(*args: str, env: dict | None = None, timeout: float = TIMEOUT, **kw):
    """`python -m sim ARGS` in a subprocess (a hang becomes a test failure)."""
    return subprocess.run(
        [sys.executable, "-m", "sim", *args],
        cwd=kw.pop("cwd", REPO),
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
        **kw,
    )


def _run(world, out: Path, *extra: str) -> int:
    return main(
        ["run", str(world.scenario(BOMB)), "--out", str(out), "--quiet", "--no-plots", *extra]
    )


def snapshot(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def wait_for(predicate, proc: subprocess.Popen | None = None, what: str = "", limit=TIMEOUT):
    """Poll until ``predicate()`` is true (a real event), failing if ``proc`` ends first."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        if proc is not None and proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the process ended before {what}: {proc.returncode}\n{err}")
        time.sleep(0.002)
    pytest.fail(f"timed out waiting for {what}")


def incomplete(parent: Path, name: str) -> list[Path]:
    return [p for p in parent.iterdir() if p.name.startswith(f".incomplete-{name}-")]


def start_full_run(out: Path, *extra: str) -> subprocess.Popen:
    """A real full-population `idlibsim run` (seconds of simulation to act in)."""
    return subprocess.Popen(
        [sys.executable, "-m", "sim", "run", str(SCENARIOS / "idlib_2019.toml"),
         "--out", str(out), "--quiet", "--no-plots", *extra],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "IDLIBSIM_CHECK": "0"},
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip


# --------------------------------------------------------------------------------------
# --force replaces only a results folder idlibsim wrote
# --------------------------------------------------------------------------------------


def _user_folder(tmp: Path) -> Path:
    p = tmp / "thesis"
    p.mkdir()
    (p / "chapter1.tex").write_text("x")
    return p


def _plain_file(tmp: Path) -> Path:
    p = tmp / "notes.txt"
    p.write_text("mine")
    return p


def _fifo(tmp: Path) -> Path:
    p = tmp / "pipe"
    os.mkfifo(p)
    return p


def _link_to_run(tmp: Path) -> Path:
    real = tmp / "real_run"
    shutil.copytree(tmp / "ours", real)
    link = tmp / "link"
    link.symlink_to(real)
    return link


def _run_with_extra_file(tmp: Path) -> Path:
    p = tmp / "annotated"
    shutil.copytree(tmp / "ours", p)
    (p / "my_notes.md").write_text("mine")
    return p


def test_an_empty_folder_is_used_without_force(world, tmp_path):
    out = tmp_path / "empty"
    out.mkdir()
    assert _run(world, out) == 0
    assert (out / "manifest.json").exists()


@pytest.mark.parametrize(
    "make, why",
    [
        (_user_folder, "not a results folder written by idlibsim"),
        (_plain_file, "is a file, not a results folder"),
        (_fifo, "is a named pipe (FIFO)"),
        (_link_to_run, "is a symbolic link"),
        (_run_with_extra_file, "'my_notes.md', which idlibsim did not write"),
    ],
    ids=["user-folder", "plain-file", "fifo", "symlink", "extra-file"],
)
def test_force_never_replaces_what_idlibsim_did_not_write(world, tmp_path, capsys, make, why):
    assert _run(world, tmp_path / "ours") == 0
    target = make(tmp_path)
    before = os.lstat(target)
    content = snapshot(target) if target.is_dir() and not target.is_symlink() else None
    assert _run(world, target, "--force") == EXIT_INPUT
    err = capsys.readouterr().err
    assert why in err and "even with --force" in err, err
    after = os.lstat(target)
    assert (stat.S_IFMT(after.st_mode), after.st_ino) == (
        stat.S_IFMT(before.st_mode),
        before.st_ino,
    )
    if content is not None:
        assert snapshot(target) == content
    assert not incomplete(tmp_path, target.name)


def test_force_never_replaces_the_scenario_folder(world, tmp_path, capsys):
    scenario = world.scenario(BOMB)
    before = snapshot(world.folder)
    code = main(["run", str(scenario), "--out", str(world.folder), "--force", "--quiet"])
    assert code == EXIT_INPUT
    assert "idlibsim never writes over its inputs" in capsys.readouterr().err
    assert snapshot(world.folder) == before


def test_force_never_replaces_a_device(world, tmp_path, capsys):
    before = os.stat("/dev/null")
    assert _run(world, Path("/dev/null"), "--force") == EXIT_INPUT
    assert "is a device" in capsys.readouterr().err
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and after.st_ino == before.st_ino


def test_an_out_that_is_the_current_folder_or_root_is_refused(world, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "keep.txt").write_text("mine")
    assert _run(world, Path(""), "--force") == EXIT_INPUT  # Path("") is "."
    assert _run(world, Path("/"), "--force") == EXIT_INPUT
    assert (tmp_path / "keep.txt").read_text() == "mine"


def test_an_interrupted_force_run_leaves_the_previous_run_intact(world, tmp_path, monkeypatch):
    import sim.outputs.runner

    out = tmp_path / "run"
    assert _run(world, out) == 0
    before = snapshot(out)
    real = sim.outputs.runner.write_csv

    def write_then_interrupt(df, path):
        real(df, path)
        raise KeyboardInterrupt

    monkeypatch.setattr(sim.outputs.runner, "write_csv", write_then_interrupt)
    assert _run(world, out, "--force", "--seed", "7") == EXIT_INTERRUPTED
    assert snapshot(out) == before
    assert not incomplete(tmp_path, "run")
    assert not (tmp_path / ".run.idlibsim-lock").exists()


# --------------------------------------------------------------------------------------
# Output paths are checked before anything is simulated
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "out",
    [
        "{tmp}/file.txt/run",  # a file where a folder must be
        "/proc/idlibsim-cannot-write-here/run",  # not writable, even by root
        "{tmp}/" + "x" * 300,  # name too long
    ],
    ids=["under-a-file", "unwritable", "name-too-long"],
)
def test_an_unusable_out_fails_before_simulating(world, tmp_path, monkeypatch, capsys, out):
    import sim.outputs.runner

    (tmp_path / "file.txt").write_text("mine")

    def must_not_run(*a, **k):
        raise AssertionError("simulated before checking the output folder")

    monkeypatch.setattr(sim.outputs.runner, "simulate", must_not_run)
    assert _run(world, Path(out.format(tmp=tmp_path))) == EXIT_INPUT
    assert "error:" in capsys.readouterr().err
    assert (tmp_path / "file.txt").read_text() == "mine"


# --------------------------------------------------------------------------------------
# Concurrent runs into one folder, signals, leftovers
# --------------------------------------------------------------------------------------


def test_a_second_process_is_refused_while_the_folder_is_locked(world, tmp_path):
    out = tmp_path / "run"
    scenario = world.scenario(BOMB)
    with TargetLock(out):  # this test process holds the lock, as a running idlibsim would
        r = cli("run", str(scenario), "--out", str(out), "--quiet", "--no-plots")
        assert r.returncode == EXIT_INPUT, r.stderr
        assert "another idlibsim process is writing" in r.stderr
        assert not out.exists()
    r = cli("run", str(scenario), "--out", str(out), "--quiet", "--no-plots")
    assert r.returncode == 0, r.stderr


def test_two_real_runs_into_one_folder_do_not_both_succeed(tmp_path):
    out = tmp_path / "run"
    first = start_full_run(out, "--force")
    try:
        wait_for(lambda: incomplete(tmp_path, "run"), first, "the first run started writing")
        first.send_signal(signal.SIGSTOP)  # holds the lock while the second one tries
        second = cli(
            "run", str(SCENARIOS / "idlib_2019.toml"), "--out", str(out), "--force",
            "--quiet", "--no-plots", env={"IDLIBSIM_CHECK": "0"},
        )  # fmt: skip
        assert second.returncode == EXIT_INPUT, second.stderr
        assert "another idlibsim process is writing" in second.stderr
    finally:
        first.send_signal(signal.SIGCONT)
    _, err = first.communicate(timeout=TIMEOUT)
    assert first.returncode == 0, err
    assert json.loads((out / "manifest.json").read_text())["seed"] == 1
    assert not incomplete(tmp_path, "run")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_terminated_run_cleans_up_its_temporary_folder(tmp_path, sig):
    out = tmp_path / "run"
    proc = start_full_run(out)
    wait_for(lambda: incomplete(tmp_path, "run"), proc, "the run started writing")
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == (128 + sig if sig != signal.SIGINT else EXIT_INTERRUPTED), err
    assert "Traceback" not in err and "no results folder" in err
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == []  # no hidden folder, no lock file


# The flake of the test above (one run in ~20 under load left an empty hidden folder): the
# run blocks the signals while it creates its folder, but only in its main thread; the
# kernel gives a signal sent to the process to a thread that does not block it (NumPy's
# OpenBLAS starts threads on import), and when the main thread takes the GIL back after a
# system call (here mkdir) CPython runs the Python handler there and then, before the
# folder was recorded for clean-up. Here the signal goes to such a thread at a chosen
# point; the script waits until the kernel has delivered it (the wake-up fd) in a call
# that releases the GIL, so the handler is due at once: each point is hit every time.
_SIGNAL_AT = """
import contextlib, os, pathlib, signal, sys, threading

events, signum = {events!r}, {signum}
other = threading.Thread(target=threading.Event().wait, daemon=True)  # blocks no signal
other.start()
woken, wake = os.pipe()
os.set_blocking(wake, False)
signal.set_wakeup_fd(wake)  # written by the C-level handler, in whichever thread it runs

def fire(event):
    if events and events[0] == event:
        events.pop(0)
        os.set_blocking(woken, False)
        with contextlib.suppress(BlockingIOError):
            while os.read(woken, 64):  # bytes of signals already handled
                pass
        os.set_blocking(woken, True)
        signal.pthread_kill(other.ident, signum)
        os.read(woken, 1)  # delivered; taking the GIL back makes its handler due now

real_open, real_rename, real_unlink, real_mkdir = os.open, os.rename, os.unlink, pathlib.Path.mkdir

def open_(path, *a, **k):
    fd = real_open(path, *a, **k)
    if str(path).endswith(".idlibsim-lock"):
        fire("lock file created")
    return fd

def mkdir(self, *a, **k):
    real_mkdir(self, *a, **k)
    if self.name.startswith(".incomplete-"):
        fire("temporary folder created")

def rename(src, dst, *a, **k):
    real_rename(src, dst, *a, **k)
    if str(dst).endswith(".idlibsim-incomplete"):
        fire("marker written")

def unlink(path, *a, **k):
    real_unlink(path, *a, **k)
    fire("cleaning up")

os.open, os.rename, os.unlink, pathlib.Path.mkdir = open_, rename, unlink, mkdir
from sim.cli import main
sys.exit(main(["run", {scenario!r}, "--out", {out!r}, "--quiet", "--no-plots"]))
"""


@pytest.mark.parametrize(
    "events, sig",
    [
        (["lock file created"], signal.SIGTERM),
        (["temporary folder created"], signal.SIGTERM),  # the flake: an empty folder left
        (["temporary folder created"], signal.SIGINT),
        (["marker written", "cleaning up"], signal.SIGINT),  # Ctrl-C twice
    ],
    ids=["lock", "folder", "folder-ctrl-c", "cleanup-ctrl-c-twice"],
)
def test_a_signal_taken_by_another_thread_never_leaves_a_temporary_folder(
    world, tmp_path, events, sig
):
    parent = tmp_path / "results"
    parent.mkdir()
    code = _SIGNAL_AT.format(
        events=events, signum=int(sig), scenario=str(world.scenario(BOMB)), out=str(parent / "run")
    )
    r = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
        timeout=TIMEOUT, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert r.returncode == (128 + sig if sig != signal.SIGINT else EXIT_INTERRUPTED), r.stderr
    assert "Traceback" not in r.stderr and "no results folder" in r.stderr
    assert sorted(p.name for p in parent.iterdir()) == []  # no hidden folder, no lock file


class _Stop(Exception):
    pass


@pytest.fixture
def sigterm_via_another_thread():
    """``send()``: SIGTERM delivered to another thread of this process (as the kernel does
    when the main thread blocks it), its Python handler (raising _Stop) due at once."""
    woken, wake = os.pipe()
    os.set_blocking(wake, False)
    old_fd = signal.set_wakeup_fd(wake)
    old = signal.signal(signal.SIGTERM, lambda signum, frame: (_ for _ in ()).throw(_Stop()))
    stop = threading.Event()
    other = threading.Thread(target=stop.wait, daemon=True)
    other.start()

    def send() -> None:
        os.set_blocking(woken, False)
        with contextlib.suppress(BlockingIOError):
            while os.read(woken, 64):  # bytes of signals already handled
                pass
        os.set_blocking(woken, True)
        signal.pthread_kill(other.ident, signal.SIGTERM)
        os.read(woken, 1)  # the C-level handler ran; taking the GIL back makes it due

    try:
        yield send
    finally:
        stop.set()
        other.join()
        signal.signal(signal.SIGTERM, old)
        signal.set_wakeup_fd(old_fd)
        os.close(woken)
        os.close(wake)


def test_a_held_signal_taken_by_another_thread_waits_for_the_end_of_the_block(
    sigterm_via_another_thread,
):
    done = []
    with pytest.raises(_Stop):
        with signals_held():
            sigterm_via_another_thread()
            done.append("after the signal")
            with signals_held():  # a nested block keeps it too
                sigterm_via_another_thread()
                done.append("nested")
            done.append("end of the block")
    assert done == ["after the signal", "nested", "end of the block"]
    with pytest.raises(_Stop):  # the handler is back: no longer held
        sigterm_via_another_thread()
        done.append("not held")
    assert done[-1] == "end of the block"


def test_a_killed_runs_leftover_is_removed_by_the_next_run_and_nothing_else(tmp_path):
    out = tmp_path / "run"
    proc = start_full_run(out)
    left = wait_for(  # the folder and its marker both written: the run is under way
        lambda: [p for p in incomplete(tmp_path, "run") if (p / MARKER).exists()],
        proc,
        "the run started writing",
    )
    proc.kill()
    proc.communicate(timeout=TIMEOUT)
    assert left[0].exists() and (left[0] / MARKER).exists()
    lookalike = tmp_path / ".incomplete-run-1-2"  # same name pattern, not ours (no marker)
    lookalike.mkdir()
    (lookalike / "mine.txt").write_text("mine")
    r = cli(
        "run", str(SCENARIOS / "idlib_2019.toml"), "--out", str(out), "--quiet", "--no-plots",
        "--population-scale", "0.1", env={"IDLIBSIM_CHECK": "0"},
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert not left[0].exists()
    assert (lookalike / "mine.txt").read_text() == "mine"
    assert not (out / MARKER).exists()


# --------------------------------------------------------------------------------------
# Ctrl-C during start-up
# --------------------------------------------------------------------------------------

_INTERRUPT_ON_IMPORT = """
import os, runpy, signal, sys

class Interrupt:
    def find_spec(self, name, path=None, target=None):
        if name == {module!r}:
            sys.meta_path.remove(self)
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C while this module is imported
        return None

sys.meta_path.insert(0, Interrupt())
sys.argv = ["idlibsim", "validate", {scenario!r}]
if {as_module}:
    runpy.run_module("sim", run_name="__main__", alter_sys=True)
else:  # what the `idlibsim` console script does
    from sim.cli import main
    sys.exit(main())
"""


@pytest.mark.parametrize(
    "module, as_module",
    # pydantic: the slowest import of `validate` (which imports no NumPy)
    [("pydantic", False), ("pydantic", True), ("sim.cli", True)],
    ids=["console-script-pydantic", "python-m-pydantic", "python-m-cli"],
)
def test_ctrl_c_during_start_up_exits_quietly(module, as_module):
    code = _INTERRUPT_ON_IMPORT.format(
        module=module, scenario=str(SCENARIOS / "idlib_2019.toml"), as_module=as_module
    )
    r = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
        timeout=TIMEOUT, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    assert r.returncode == EXIT_INTERRUPTED, r.stderr
    assert "Traceback" not in r.stderr


# --------------------------------------------------------------------------------------
# rerun: the manifest is untrusted; the files present are compared
# --------------------------------------------------------------------------------------


@pytest.fixture
def a_run(world, tmp_path) -> Path:
    out = tmp_path / "run"
    assert _run(world, out) == 0
    return out


def _edit_manifest(run: Path, change) -> None:
    path = run / "manifest.json"
    man = json.loads(path.read_text())
    change(man)
    path.write_text(json.dumps(man))


def test_rerun_reproduces_an_untouched_run(a_run, capsys):
    assert main(["rerun", str(a_run)]) == 0
    assert "reproduced" in capsys.readouterr().out


def test_rerun_reports_an_edited_table(a_run, capsys):
    daily = a_run / "daily.csv"
    lines = daily.read_text().splitlines()
    lines[5] = lines[5].replace(",", ",9", 1)
    daily.write_text("\n".join(lines) + "\n")
    assert main(["rerun", str(a_run)]) == EXIT_NOT_REPRODUCED
    out = capsys.readouterr().out
    assert "daily.csv: differs" in out and "edited after the run" in out and "line 6" in out


def test_rerun_reports_a_table_replaced_by_a_link_or_missing(a_run, capsys):
    (a_run / "routes.csv").unlink()
    (a_run / "daily.csv").rename(a_run / "elsewhere.csv")
    (a_run / "daily.csv").symlink_to(a_run / "elsewhere.csv")
    assert main(["rerun", str(a_run)]) == EXIT_NOT_REPRODUCED
    out = capsys.readouterr().out
    assert "routes.csv: missing from the run folder" in out
    assert "daily.csv: missing from the run folder" in out


def test_rerun_reports_an_edited_manifest_hash(a_run, capsys):
    _edit_manifest(a_run, lambda m: m["outputs_sha256"].update({"summary.json": "0" * 64}))
    assert main(["rerun", str(a_run)]) == EXIT_NOT_REPRODUCED
    assert "the manifest records another SHA-256" in capsys.readouterr().out


def test_rerun_never_writes_a_path_from_the_manifest(a_run, tmp_path, capsys):
    victim = tmp_path / "x" / "pyproject.toml"
    victim.parent.mkdir()
    victim.write_text("precious")
    for name in ("../x/pyproject", str(tmp_path / "x" / "pyproject"), "a/b", ".."):
        _edit_manifest(a_run, lambda m, n=name: m["scenario"]["scenario"].update({"name": n}))
        assert main(["rerun", str(a_run)]) == EXIT_INPUT
        assert "is not a scenario name" in capsys.readouterr().err
    assert victim.read_text() == "precious"
    assert sorted(p.name for p in (tmp_path / "x").iterdir()) == ["pyproject.toml"]


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda m: m.update(seed="1"), "seed"),
        (lambda m: m.update(seed=-1), "seed"),
        (lambda m: m.update(population_scale=0.3), "population_scale"),
        (lambda m: m.update(population_scale=True), "population_scale"),
        (lambda m: m.update(scenario=[1, 2]), "scenario"),
        (lambda m: m["scenario"]["scenario"].update(end="soon"), "scenario.scenario.end"),
        (lambda m: m["outputs_sha256"].update({"../../evil.csv": "0" * 64}), "not a safe file"),
        (lambda m: m["outputs_sha256"].update({"daily.csv": "zz"}), "not a SHA-256"),
        (lambda m: m["inputs_sha256"].update({"../../../etc/passwd": "0" * 64}), "not a safe"),
        (lambda m: m.update(inputs_sha256="all"), "inputs_sha256"),
        (lambda m: m["scenario"]["geography"].update(locations="../../x.csv"), "safe file path"),
        (lambda m: m["scenario"]["events"].update(deep={"a": {"b": {"c": {"d": {}}}}}), "deep"),
        (lambda m: m["scenario"].update({"x]\n[y": {}}), "scenario"),
        (lambda m: m.pop("outputs_sha256"), "missing from the manifest"),
    ],
    ids=[
        "seed-string", "seed-negative", "scale-not-1-over-k", "scale-bool", "scenario-list",
        "bad-date", "output-traversal", "bad-hash", "input-traversal", "inputs-not-table",
        "relative-data-path-escapes", "nested", "toml-injection-in-table-name", "missing",
    ],
)  # fmt: skip
def test_rerun_refuses_a_damaged_manifest_with_exit_2(a_run, capsys, change, message):
    _edit_manifest(a_run, change)
    assert main(["rerun", str(a_run)]) == EXIT_INPUT
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("text", ["{", '{"seed": NaN}', "[" * 100_000, '"just a string"'])
def test_rerun_and_score_refuse_a_broken_manifest_with_exit_2(a_run, capsys, text):
    (a_run / "manifest.json").write_text(text)
    assert main(["rerun", str(a_run)]) == EXIT_INPUT
    assert main(["score", str(a_run)]) == EXIT_INPUT
    err = capsys.readouterr().err
    assert "internal error" not in err


def test_score_refuses_a_manifest_without_a_usable_scenario(a_run, capsys):
    _edit_manifest(a_run, lambda m: m.update(scenario={"scenario": {"observed": 5}}))
    assert main(["score", str(a_run)]) == EXIT_INPUT
    (a_run / "daily.csv").write_text("nothing,useful\n1,2\n")
    assert main(["score", str(a_run)]) == EXIT_INPUT
    assert "internal error" not in capsys.readouterr().err


def test_rerun_out_must_be_new(a_run, tmp_path, capsys):
    keep = tmp_path / "keep"
    keep.mkdir()
    (keep / "mine.txt").write_text("mine")
    assert main(["rerun", str(a_run), "--out", str(keep)]) == EXIT_INPUT
    assert (keep / "mine.txt").read_text() == "mine"
    fresh = tmp_path / "fresh"
    assert main(["rerun", str(a_run), "--out", str(fresh)]) == 0
    assert (fresh / "daily.csv").read_bytes() == (a_run / "daily.csv").read_bytes()


# --------------------------------------------------------------------------------------
# Special files never hang a command
# --------------------------------------------------------------------------------------


def test_special_files_are_refused_without_hanging(world, tmp_path):
    fifo = tmp_path / "pipe.toml"
    os.mkfifo(fifo)
    link = tmp_path / "link.toml"
    link.symlink_to(fifo)
    extends = world.scenario('extends = "pipe.toml"\n', name="ext.toml", base="")
    data_fifo = tmp_path / "data" / "pipe.csv"
    os.mkfifo(data_fifo)
    locations = world.scenario(
        "",
        name="loc.toml",
        base=world.scenario(BOMB).read_text().replace("data/locations.csv", "data/pipe.csv"),
    )
    observed = world.scenario(
        "",
        name="obs.toml",
        base=world.scenario(BOMB)
        .read_text()
        .replace("[population]", 'observed = "data/pipe.csv"\n\n[population]', 1),
    )
    zero = world.scenario(
        "",
        name="zero.toml",
        base=world.scenario(BOMB).read_text().replace("data/locations.csv", "/dev/zero"),
    )
    for path, what in (
        (fifo, "named pipe"),
        (link, "named pipe"),
        (extends, "named pipe"),
        (locations, "named pipe"),
        (observed, "named pipe"),
        (zero, "device"),
    ):
        r = cli("validate", str(path), timeout=120)
        assert r.returncode == EXIT_INPUT, (path, r.stderr)
        assert what in r.stderr and "Traceback" not in r.stderr


def test_special_files_inside_a_run_folder_never_hang(a_run, tmp_path):
    fifo = tmp_path / "data" / "fifo.csv"
    os.mkfifo(fifo)
    r = cli("score", str(a_run), "--observed", str(fifo), timeout=120)
    assert r.returncode == EXIT_INPUT and "named pipe" in r.stderr, r.stderr
    _edit_manifest(a_run, lambda m: m["inputs_sha256"].update({str(fifo): "0" * 64}))
    r = cli("rerun", str(a_run), timeout=120)
    assert r.returncode == EXIT_INPUT and "named pipe" in r.stderr, r.stderr
    (a_run / "manifest.json").unlink()
    os.mkfifo(a_run / "manifest.json")
    for cmd in ("rerun", "score"):
        r = cli(cmd, str(a_run), timeout=120)
        assert r.returncode == EXIT_INPUT, r.stderr
        assert "Traceback" not in r.stderr


# --------------------------------------------------------------------------------------
# Absurd magnitudes are input errors; the total is honoured or refused
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "row, message",
    [
        ("Border Camp,camp_cluster,opposition,36.30,36.68,2000,2000,1e20,", "absurdly large"),
        ("Border Camp,camp_cluster,opposition,36.30,36.68,1e308,2000,5000,", "absurdly large"),
        ("Border Camp,camp_cluster,opposition,36.30,36.68,inf,2000,5000,", "not a finite"),
    ],
    ids=["capacity-1e20", "population-1e308", "population-inf"],
)
def test_absurd_counts_in_the_data_are_input_errors(world, tmp_path, capsys, row, message):
    text = (world.folder / "data" / "locations.csv").read_text()
    lines = [row if ln.startswith("Border Camp,") else ln for ln in text.splitlines()]
    world.locations("\n".join(lines) + "\n")
    assert _run(world, tmp_path / "out") == EXIT_INPUT
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "scale, total, message",
    [
        ("1e-7", 102000, "at least 100 are needed"),
        ("0.5", 100001, "the total would change"),
        ("0.3333333333333333", 102001, "the total would change"),
    ],
)
def test_a_scale_that_would_change_the_total_is_refused(
    world, tmp_path, capsys, scale, total, message
):
    path = world.scenario(BOMB)
    path.write_text(path.read_text().replace("total = 102000", f"total = {total}"))
    code = main(["run", str(path), "--out", str(tmp_path / "o"), "--population-scale", scale])
    assert code == EXIT_INPUT
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_an_honoured_total_is_exact(world):
    from sim.outputs.runner import simulate
    from sim.scenario.loading import load_scenario

    path = world.scenario(BOMB)
    path.write_text(path.read_text().replace("total = 102000", "total = 102003"))
    res = simulate(load_scenario(path), seed=1, population_scale=1.0)
    assert (res.daily["population"] == 102003).all()


def test_a_very_deep_extends_chain_is_an_input_error(world, capsys):
    world.scenario(BOMB, name="s0.toml")
    for i in range(1, 60):
        world.scenario(f'extends = "s{i - 1}.toml"\n', name=f"s{i}.toml", base="")
    assert main(["validate", str(world.folder / "s59.toml")]) == EXIT_INPUT
    assert "more than 20 files deep" in capsys.readouterr().err


# --------------------------------------------------------------------------------------
# Spreadsheet formulas
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "A\tB"])
def test_place_names_that_run_as_formulas_are_refused(world, tmp_path, capsys, name):
    text = (world.folder / "data" / "locations.csv").read_text().replace("Safe Town", name)
    world.locations(text if "\t" not in name else text.replace(name, f'"{name}"'))
    world.routes((world.folder / "data" / "routes.csv").read_text().replace("Safe Town", name))
    assert _run(world, tmp_path / "o") == EXIT_INPUT
    err = capsys.readouterr().err
    assert "formula" in err or "control character" in err


def test_user_text_written_to_csv_is_neutralised(tmp_path):
    import pandas as pd

    from sim.outputs.results import write_csv

    df = pd.DataFrame({"label": ["=cmd|' /C calc'!A0", "plain", "-x", "@y"], "n": [-1, 2, 3, 4]})
    write_csv(df, tmp_path / "t.csv")
    back = pd.read_csv(tmp_path / "t.csv")
    assert list(back["label"]) == ["'=cmd|' /C calc'!A0", "plain", "'-x", "'@y"]
    assert list(back["n"]) == [-1, 2, 3, 4]  # numbers are numbers


# --------------------------------------------------------------------------------------
# Calibration never replaces the shipped parameters unless asked
# --------------------------------------------------------------------------------------


def _calibration_world(world) -> Path:
    from sim.outputs.runner import simulate
    from sim.scenario.loading import load_scenario

    truth = load_scenario(world.scenario(BOMB + "\n[behaviour]\nflee_rate = 0.08\n", name="t.toml"))
    d = simulate(truth, seed=5).daily.set_index("date")
    obs = world.folder / "data" / "observed.csv"
    rows = ["as_of,period_start,value,measure,report_date,use,why,quote,source"]
    for as_of, measure in (("2019-05-10", "movements"), ("2019-05-30", "people")):
        col = "new_displacements" if measure == "movements" else "new_people_displaced"
        v = d.loc["2019-05-01":as_of, col].sum()
        rows.append(f"{as_of},2019-05-01,{v},{measure},{as_of},fit,t,t,synthetic")
    obs.write_text("\n".join(rows) + "\n")
    params = world.folder / "params.toml"
    params.write_text(
        "# Behaviour parameters fitted by `idlibsim calibrate` (shipped)\n\n[behaviour]\nflee_rate = 0.1\n"
    )
    text = world.scenario(BOMB).read_text()
    text = text.replace("[population]", 'observed = "data/observed.csv"\n\n[population]', 1)
    return world.scenario('\n[behaviour]\nparameters = "params.toml"\n', name="fit.toml", base=text)


def test_quick_calibration_never_replaces_the_shipped_parameters(world, tmp_path, capsys):
    scenario = _calibration_world(world)
    params = world.folder / "params.toml"
    shipped = params.read_bytes()
    repo_fit = (SCENARIOS / "params" / "idlib_2019_fit.toml").read_bytes()
    # Asking for both is refused before anything runs.
    assert main(["calibrate", str(scenario), "--quick", "--update-shipped"]) == EXIT_INPUT
    assert "never replaces the shipped parameters" in capsys.readouterr().err
    # An --out inside the committed report folder is refused too.
    bad = REPO / "results" / "calibration" / "tiny"
    assert main(["calibrate", str(scenario), "--quick", "--out", str(bad)]) == EXIT_INPUT
    assert not bad.exists()
    # A quick fit goes to its own folder, with its own parameter file.
    out = tmp_path / "cal"
    code = main(["calibrate", str(scenario), "--quick", "--seeds", "1",
                 "--population-scale", "0.5", "--out", str(out)])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert params.read_bytes() == shipped
    assert (SCENARIOS / "params" / "idlib_2019_fit.toml").read_bytes() == repo_fit
    text = (out / "parameters.toml").read_text()
    assert 'status = "quick test fit' in text and "nan" not in text
    assert (out / "report.md").exists()
    # Not again into the same folder without --force; with it, the old report is replaced.
    assert main(["calibrate", str(scenario), "--quick", "--out", str(out)]) == EXIT_INPUT
    (out / "my_notes.md").write_text("mine")
    code = main(["calibrate", str(scenario), "--quick", "--out", str(out), "--force"])
    assert code == EXIT_INPUT and (out / "my_notes.md").exists()


def test_the_real_scenario_refuses_a_quick_update_of_the_shipped_files(capsys):
    before = {
        p: p.read_bytes()
        for p in [
            SCENARIOS / "params" / "idlib_2019_fit.toml",
            *(REPO / "results" / "calibration").rglob("*"),
        ]
        if p.is_file()
    }
    r = cli("calibrate", str(SCENARIOS / "idlib_2019.toml"), "--quick", "--update-shipped")
    assert r.returncode == EXIT_INPUT, r.stderr
    assert {p: p.read_bytes() for p in before} == before


# --------------------------------------------------------------------------------------
# Ensembles never mix versions or accept edited replicates
# --------------------------------------------------------------------------------------


def test_an_edited_replicate_is_detected_and_run_again(world, tmp_path):
    from sim.analysis.ensemble import run_ensemble

    path = world.scenario(BOMB)
    out = tmp_path / "e"
    first = run_ensemble([path], replicates=2, out=out)
    rep = out / "tiny" / "replicates" / "rep-0001.csv"
    good = rep.read_bytes()
    lines = rep.read_text().splitlines()
    lines[3] = lines[3].replace(",", ",1", 1)  # still a complete, readable table
    rep.write_text("\n".join(lines) + "\n")
    again = run_ensemble([path], replicates=2, out=out)
    assert (again.ran, again.skipped) == (1, 1)
    assert any("rep-0001.csv is changed since it was written" in n for n in again.notes)
    assert rep.read_bytes() == good
    assert again.manifest["outputs_sha256"] == first.manifest["outputs_sha256"]


def test_a_replicate_replaced_by_a_folder_is_refused_and_the_manifest_stays_complete(
    world, tmp_path, capsys
):
    path = world.scenario(BOMB)
    out = tmp_path / "e"
    argv = ["ensemble", str(path), "--replicates", "2", "--out", str(out), "--quiet"]
    assert main(argv) == 0
    rep = out / "tiny" / "replicates" / "rep-0000.csv"
    rep.unlink()
    rep.mkdir()
    (rep / "mine.txt").write_text("mine")
    assert main(argv) == EXIT_INPUT
    assert "is not a replicate file" in capsys.readouterr().err
    assert json.loads((out / "manifest.json").read_text())["status"] == "complete"
    assert (rep / "mine.txt").read_text() == "mine"


def test_a_resume_through_another_scenario_list_does_not_mix_versions(world, tmp_path):
    from sim.analysis.ensemble import run_ensemble

    a = world.scenario(BOMB, name="a.toml")
    b = world.scenario(BOMB, name="b.toml", base=BASE_SCENARIO.replace('"tiny"', '"other"'))
    out = tmp_path / "e"
    run_ensemble([a], replicates=3, out=out)  # version 1 of "tiny"
    run_ensemble([b], replicates=3, out=out)  # another list: the manifest no longer names "tiny"
    a.write_text(a.read_text().replace("intensity = 0.5", "intensity = 0.7"))  # version 2
    res = run_ensemble([a], replicates=3, out=out)
    assert res.ran == 3, "replicates of the old version were reused"
    assert all("another version of the scenario" in n for n in res.notes) and len(res.notes) == 3
    fresh = run_ensemble([a], replicates=3, out=tmp_path / "fresh")
    for i in range(3):
        rel = Path("tiny") / "replicates" / f"rep-{i:04d}.csv"
        assert (out / rel).read_bytes() == (fresh.folder / rel).read_bytes()


def test_replicates_without_a_record_are_not_trusted(world, tmp_path):
    from sim.analysis.ensemble import run_ensemble

    path = world.scenario(BOMB)
    out = tmp_path / "e"
    run_ensemble([path], replicates=2, out=out)
    # e.g. files copied in from another folder: the manifest does not vouch for them
    _edit_manifest(out, lambda m: m.update(status="running", replicate_records={}))
    res = run_ensemble([path], replicates=2, out=out)
    assert res.ran == 2 and all("not recorded" in n for n in res.notes)


# --------------------------------------------------------------------------------------
# Dask workers must run the same code
# --------------------------------------------------------------------------------------


def test_dask_workers_running_other_code_are_refused(world, tmp_path):
    distributed = pytest.importorskip("distributed")
    other = tmp_path / "other_code"
    shutil.copytree(REPO / "sim", other / "sim", ignore=shutil.ignore_patterns("__pycache__"))
    with (other / "sim" / "behaviour.py").open("a") as fh:
        fh.write("\n# a local edit on the worker machine\n")
    with distributed.LocalCluster(
        n_workers=0, processes=False, protocol="tcp", host="127.0.0.1", dashboard_address=":0"
    ) as cluster:
        worker = subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_worker", cluster.scheduler_address,
             "--nthreads", "1", "--no-dashboard", "--memory-limit", "1GiB"],
            cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(other)},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            out = tmp_path / "e"
            r = cli(
                "ensemble", str(world.scenario(BOMB)), "--replicates", "1",
                "--scheduler", cluster.scheduler_address, "--out", str(out), "--quiet",
            )  # fmt: skip
            assert r.returncode == EXIT_INPUT, r.stderr
            assert "different idlibsim code" in r.stderr and str(other) in r.stderr
            assert not (out / "manifest.json").exists()
        finally:
            worker.terminate()
            worker.wait(timeout=60)


# --------------------------------------------------------------------------------------
# Provenance: the manifest names the code
# --------------------------------------------------------------------------------------


def test_the_manifest_records_the_git_commit_and_whether_the_tree_was_modified(a_run):
    src = json.loads((a_run / "manifest.json").read_text())["source"]
    assert len(src["code_sha256"]) == 64 and src["idlibsim_version"]
    git = shutil.which("git")
    head = (
        subprocess.run([git, "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True)
        if git
        else None
    )
    if head is None or head.returncode != 0:
        assert src["git_commit"] == "unknown" and src["git_modified"] == "unknown"
    else:
        assert src["git_commit"] == head.stdout.strip()
        assert isinstance(src["git_modified"], bool)


def test_without_git_the_commit_is_unknown(monkeypatch):
    import sim.provenance as prov

    monkeypatch.setattr(prov.shutil, "which", lambda name: None)
    prov.source_info.cache_clear()
    try:
        info = prov.source_info()
    finally:
        prov.source_info.cache_clear()
    assert info["git_commit"] == "unknown" and info["git_modified"] == "unknown"
    assert info["git_note"] == "git is not installed"


# --------------------------------------------------------------------------------------
# The README's Python API snippet runs as written
# --------------------------------------------------------------------------------------


def readme_snippet() -> str:
    text = (REPO / "README.md").read_text()
    section = text.split("## Python API", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def test_the_readme_python_snippet_runs_when_pasted_into_a_script(tmp_path):
    code = readme_snippet()
    assert 'if __name__ == "__main__":' in code
    script = tmp_path / "analysis.py"
    script.write_text(code)
    shutil.copytree(SCENARIOS, tmp_path / "scenarios")
    env = {
        "IDLIBSIM_CHECK": "0",
        "IDLIBSIM_MAX_REPLICATES": "2",  # the snippet's 20 replicates, shrunk for the suite
        "MPLBACKEND": "Agg",
    }
    for attempt in (1, 2):  # twice: the second run meets the first run's folders
        r = subprocess.run(
            [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True,
            timeout=900, env={**os.environ, **env},
        )  # fmt: skip
        assert r.returncode == 0, f"attempt {attempt}:\n{r.stdout}\n{r.stderr}"
        assert "Traceback" not in r.stderr
    assert (tmp_path / "results" / "my_run" / "manifest.json").exists()
    assert "running 2 replicates instead of 20" in r.stderr


def test_top_level_api_calls_in_a_script_without_a_guard_say_what_is_wrong(world, tmp_path):
    """A script without the __main__ guard, re-imported by a spawned worker process (as
    Dask starts its workers): the worker is told why, and writes nothing."""
    script = tmp_path / "unguarded.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import multiprocessing, sys
            import sim

            base = sim.load_scenario({str(world.scenario(BOMB))!r})
            sim.run(base, seed=1, out="results/x", plots=False)

            def work():
                pass

            child = multiprocessing.get_context("spawn").Process(target=work)
            child.start()
            child.join()
            sys.exit(child.exitcode)
            """
        )
    )
    r = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True,
        timeout=TIMEOUT,
    )  # fmt: skip
    assert r.returncode != 0
    assert 'put the code under `if __name__ == "__main__":`' in r.stderr
    assert "already exists" not in r.stderr  # the real cause, not a symptom
    assert (tmp_path / "results" / "x" / "manifest.json").exists()


# --------------------------------------------------------------------------------------
# Other outputs: compare's figure, the schema reference, ensemble folders
# --------------------------------------------------------------------------------------


def test_compare_never_replaces_a_users_figure(world, tmp_path, capsys):
    from sim.analysis.ensemble import run_ensemble

    ens = run_ensemble([world.scenario(BOMB)], replicates=2, out=tmp_path / "e")
    mine = tmp_path / "figure.png"
    mine.write_bytes(b"my own figure")
    assert main(["compare", str(ens.folder), "-o", str(mine)]) == EXIT_INPUT
    assert "was not written by idlibsim" in capsys.readouterr().err
    assert mine.read_bytes() == b"my own figure"
    table = tmp_path / "fresh.csv"
    table.write_text("my,own,table\n")  # the numbers would go beside the figure
    assert main(["compare", str(ens.folder), "-o", str(tmp_path / "fresh.png")]) == EXIT_INPUT
    assert table.read_text() == "my,own,table\n"
    ok = tmp_path / "cmp.png"
    assert main(["compare", str(ens.folder), "-o", str(ok)]) == 0
    assert main(["compare", str(ens.folder), "-o", str(ok)]) == 0  # ours: replaced


def test_schema_never_replaces_a_users_file(tmp_path, capsys):
    mine = tmp_path / "notes.md"
    mine.write_text("mine")
    assert main(["schema", "--out", str(mine)]) == EXIT_INPUT
    assert mine.read_text() == "mine"
    ref = tmp_path / "reference.md"
    assert main(["schema", "--out", str(ref)]) == 0
    assert main(["schema", "--out", str(ref)]) == 0


def test_an_ensemble_folder_that_is_a_link_a_file_or_locked_is_refused(world, tmp_path, capsys):
    path = world.scenario(BOMB)
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    plain = tmp_path / "plain"
    plain.write_text("mine")
    for out in (link, plain):
        assert main(["ensemble", str(path), "--replicates", "1", "--out", str(out)]) == EXIT_INPUT
    assert list(real.iterdir()) == [] and plain.read_text() == "mine"
    out = tmp_path / "e"
    with TargetLock(out):
        assert main(["ensemble", str(path), "--replicates", "1", "--out", str(out)]) == EXIT_INPUT
    assert "another idlibsim process" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize(
    "change",
    [
        lambda m: m.pop("replicate_seeds"),
        lambda m: m.update(replicate_seeds=["1"]),
        lambda m: m["scenarios"][0].update(name="../../elsewhere"),
        lambda m: m["scenarios"][0].pop("label"),
        lambda m: m.update(scenarios={}),
    ],
    ids=["no-seeds", "seed-text", "name-traversal", "no-label", "scenarios-not-list"],
)
def test_compare_refuses_a_damaged_ensemble_manifest_with_exit_2(world, tmp_path, capsys, change):
    from sim.analysis.ensemble import run_ensemble

    ens = run_ensemble([world.scenario(BOMB)], replicates=1, out=tmp_path / "e")
    _edit_manifest(ens.folder, change)
    assert main(["compare", str(ens.folder), "-o", str(tmp_path / "c.png")]) == EXIT_INPUT
    assert "internal error" not in capsys.readouterr().err


@pytest.mark.parametrize("address", ["garbage", "http://x:y", "tcp://[::1"])
def test_a_bad_scheduler_address_is_exit_2_and_writes_nothing(world, tmp_path, capsys, address):
    pytest.importorskip("distributed")
    out = tmp_path / "e"
    argv = ["ensemble", str(world.scenario(BOMB)), "--replicates", "1", "--out", str(out)]
    assert main([*argv, "--scheduler", address]) == EXIT_INPUT
    assert "cannot reach the Dask scheduler" in capsys.readouterr().err
    assert not out.exists() and not (tmp_path / ".e.idlibsim-lock").exists()
