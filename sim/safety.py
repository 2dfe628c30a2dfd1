"""Never lose or overwrite what idlibsim did not write; never read what is not a file.

Every path given by a user, read from a manifest or named in a data file is hostile until
checked. This module holds the checks that the writers and readers share:

Reading
    :func:`sim.errors.read_limited` reads a file only if it is a *regular* file (not a FIFO, a
    device, a socket or a folder, also through a symbolic link) and at most ``limit``
    bytes, so a named pipe cannot hang a command and ``/dev/zero`` cannot fill memory.
    :func:`read_json` reads JSON written by idlibsim (manifests): size-limited, no
    ``NaN``/``Infinity``, no absurd nesting.

Writing a results folder (:class:`FolderWriter`)
    1. the target is checked *before anything is simulated*: a path that exists must be
       a folder that idlibsim wrote (a manifest of ours listing every file in it, every
       file unchanged) and ``force`` must be given; anything else (a user's folder, a
       plain file, a device, a symbolic link, a scenario's folder) is refused;
    2. a lock (``fcntl.flock`` on a lock file beside the target, released by the kernel
       if the process dies) makes a second process writing the same target fail at once;
    3. the files are written into a private temporary folder beside the target (which
       also proves the place is writable) and renamed into place only when complete: a
       new target with a no-replace rename, an old run with an atomic exchange, so an
       interrupted ``--force`` run leaves the previous complete run in place;
    4. a temporary folder left by a killed run (recognised by its marker file and name,
       and only while holding the target's lock) is removed by the next run.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import hashlib
import json
import os
import shutil
import signal
import stat
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .errors import (
    InputError,
    OutputError,
    Problem,
    ResultsExistError,
    describe_mode,
    not_a_regular_file,
    read_limited,
)

#: Largest manifest read (a full-population run's manifest is about 30 kB).
MAX_MANIFEST_BYTES = 20_000_000
#: Largest output table hashed or compared (a full-population locations.csv is ~10 MB).
MAX_OUTPUT_BYTES = 2_000_000_000
#: Marker file inside a temporary results folder: says that idlibsim created it.
MARKER = ".idlibsim-incomplete"
TMP_PREFIX = ".incomplete-"
LOCK_SUFFIX = ".idlibsim-lock"
#: Files of ours that are never outputs (excluded when listing a folder's outputs).
PRIVATE_NAMES = (MARKER,)


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def read_json(path: Path | str, what: str = "manifest", limit: int = MAX_MANIFEST_BYTES) -> Any:
    """JSON written by idlibsim: a regular file, size-limited, finite numbers only."""
    path = Path(path)
    data = read_limited(path, limit, what)
    try:
        return json.loads(data.decode("utf-8"), parse_constant=_no_constants)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        msg = str(exc) if not isinstance(exc, RecursionError) else "nested too deeply"
        raise InputError(
            [Problem(path, "", f"is not valid {what} JSON ({msg[:200]})", f"the {what} is damaged")]
        ) from None


def sha256_limited(path: Path | str, limit: int = MAX_OUTPUT_BYTES) -> str:
    """SHA-256 of a regular file (refused: FIFOs, devices, folders, larger than ``limit``)."""
    why = not_a_regular_file(path)
    if why:
        raise InputError([Problem(Path(path), "", why, "give a regular file")])
    h = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > limit:
            raise InputError([Problem(Path(path), "", "is not a regular file of sensible size")])
        while chunk := os.read(fd, 1 << 20):
            h.update(chunk)
    finally:
        os.close(fd)
    return h.hexdigest()


# --------------------------------------------------------------------------------------
# One file replaced atomically
# --------------------------------------------------------------------------------------

#: Name prefix of a file being written beside its final place (:func:`staged`).
STAGED_PREFIX = ".tmp-"


@contextlib.contextmanager
def staged(path: Path | str) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; renamed onto ``path`` (atomically,
    replacing it) when the block ends, removed if the block raises.

    ``with staged(out) as tmp: write(tmp)``: a reader sees the old file or the new one,
    never half a file. The temporary name is ``.tmp-<name>.<pid>.<ns>`` in the same folder.
    """
    path = Path(path)
    tmp = path.parent / f"{STAGED_PREFIX}{path.name}.{os.getpid()}.{time.time_ns()}"
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


# --------------------------------------------------------------------------------------
# Is this a folder idlibsim wrote?
# --------------------------------------------------------------------------------------


def folder_files(folder: Path) -> tuple[list[str], list[str]]:
    """Relative paths of the regular files under ``folder`` and of anything else in it.

    Nothing is followed: a symbolic link is reported as 'other', never entered.
    """
    files, other = [], []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        for d in list(dirnames):
            p = Path(dirpath) / d
            if os.path.islink(p):
                other.append(p.relative_to(folder).as_posix())
                dirnames.remove(d)
        for f in filenames:
            p = Path(dirpath) / f
            rel = p.relative_to(folder).as_posix()
            st = os.lstat(p)
            (files if stat.S_ISREG(st.st_mode) else other).append(rel)
    return sorted(files), sorted(other)


def not_our_folder(folder: Path, kind: str = "run") -> str | None:
    """Why ``folder`` is not a complete results folder idlibsim wrote, or None if it is.

    Ours means: a real folder (not a link) holding a ``manifest.json`` of ours for a
    ``kind`` folder ("run": written by ``idlibsim run``) that lists every other file in
    the folder with its SHA-256, every file unchanged, and nothing else in it.
    """
    try:
        st = os.lstat(folder)
    except FileNotFoundError:
        return "does not exist"
    if stat.S_ISLNK(st.st_mode):
        return "is a symbolic link (idlibsim does not write through links)"
    if not stat.S_ISDIR(st.st_mode):
        return f"is {describe_mode(st.st_mode)}, not a results folder"
    try:
        man = read_json(folder / "manifest.json")
    except InputError:
        return "is not a results folder written by idlibsim (no readable manifest.json of ours)"
    if not isinstance(man, dict) or man.get("tool") != "idlibsim":
        return "is not a results folder written by idlibsim (its manifest.json is not ours)"
    if man.get("kind", "run") != kind:
        return f"holds an idlibsim {man.get('kind')!s:.20} folder, not a {kind} folder"
    outputs = man.get("outputs_sha256")
    if not isinstance(outputs, dict):
        return "its manifest.json lists no outputs"
    try:
        files, other = folder_files(folder)
    except OSError as exc:
        return f"cannot be listed: {exc.strerror or exc}"
    if other:
        return f"holds {other[0]!r}, which is not a regular file idlibsim wrote"
    extra = [f for f in files if f != "manifest.json" and f not in outputs]
    if extra:
        return f"holds {extra[0]!r}, which idlibsim did not write (not in its manifest)"
    for name, digest in outputs.items():
        p = folder / str(name)
        if str(name) not in files:
            continue  # a missing output is no reason to keep the rest
        try:
            if sha256_limited(p) != digest:
                return f"{name} was changed after the run (its SHA-256 differs from the manifest's)"
        except (InputError, OSError):
            return f"{name} cannot be read"
    return None


# --------------------------------------------------------------------------------------
# Renames: no-replace and exchange (Linux renameat2), with portable fall-backs
# --------------------------------------------------------------------------------------

_RENAME_NOREPLACE = 1
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _renameat2(src: Path, dst: Path, flags: int) -> bool:
    """``renameat2(src, dst, flags)``; False if the system or file system lacks it."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if fn(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), flags) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, getattr(errno, "EOPNOTSUPP", -1)):
        return False
    raise OSError(err, os.strerror(err), str(dst))


def rename_no_replace(src: Path, dst: Path) -> None:
    """Rename ``src`` to ``dst``; fail (FileExistsError) if ``dst`` exists, even empty."""
    if _renameat2(src, dst, _RENAME_NOREPLACE):
        return
    if os.path.lexists(dst):  # the caller holds the target's lock
        raise FileExistsError(errno.EEXIST, "exists", str(dst))
    os.rename(src, dst)


def exchange(a: Path, b: Path) -> None:
    """Swap two folders atomically where possible (else two renames, signals held)."""
    if _renameat2(a, b, _RENAME_EXCHANGE):
        return
    aside = b.parent / f"{TMP_PREFIX}{b.name}-swap-{os.getpid()}-{time.time_ns()}"
    os.rename(b, aside)
    os.rename(a, b)
    os.rename(aside, a)


#: The signals that end a run (:mod:`sim.cli` turns each into KeyboardInterrupt or
#: ``Terminated``); :func:`signals_held` defers them.
HELD_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)


class _Deferral:
    """The handler of the held signals while :func:`signals_held` holds them: it records a
    signal; once the hold has ended (``holding`` False) it passes one on to the handler it
    replaced, so a deferral left installed by an interrupted clean-up still behaves as the
    original handler."""

    def __init__(self) -> None:
        self.holding = True
        self.came: list[int] = []
        self.replaced: dict[int, Any] = {}

    def __call__(self, signum: int, frame: Any) -> None:
        if self.holding:
            self.came.append(signum)
            return
        handler = self.replaced.get(signum, signal.SIG_DFL)
        if callable(handler):
            handler(signum, frame)
        else:  # the default action (the process ends with the signal)
            signal.signal(signum, handler)
            signal.raise_signal(signum)


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Defer SIGINT/SIGTERM/SIGHUP for the duration (a cleanup or a swap is not cut short):
    a signal that comes meanwhile takes effect on leaving, as if it came then.

    Blocking them in this thread (``pthread_sigmask``) is not enough: the kernel gives a
    signal sent to the process to any thread that does not block it (NumPy's OpenBLAS
    starts threads when it is imported), and CPython then runs the Python handler in the
    main thread at its next instruction, whatever the main thread blocks. So in the main
    thread each handler of these signals (a Python one or the default action) is replaced
    for the duration by a :class:`_Deferral` that records the signal; on leaving, the
    handlers are put back (unless the block installed its own) and the first signal that
    came is raised again. Handlers run only in the main thread, so another thread needs
    only the mask.
    """
    try:
        old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, HELD_SIGNALS)
    except (AttributeError, ValueError, OSError):  # pragma: no cover - not POSIX
        yield
        return
    deferral = _Deferral()
    try:
        if threading.current_thread() is threading.main_thread():
            for signum in HELD_SIGNALS:
                handler = signal.getsignal(signum)
                if handler is not None and handler is not signal.SIG_IGN:
                    deferral.replaced[signum] = handler
                    signal.signal(signum, deferral)
        yield
    finally:
        deferral.holding = False  # from here on a signal goes to the handler it was for
        try:
            for signum, handler in deferral.replaced.items():
                if signal.getsignal(signum) is deferral:
                    signal.signal(signum, handler)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        if deferral.came:
            signal.raise_signal(deferral.came[0])


# --------------------------------------------------------------------------------------
# The writer
# --------------------------------------------------------------------------------------


def normalise_target(target: Path | str) -> Path:
    """The absolute target path (``..`` and ``.`` removed, links not followed)."""
    p = Path(os.path.abspath(os.fspath(target)))
    return p


def check_target(
    target: Path,
    force: bool,
    kind: str = "run",
    recognise: Callable[[Path], str | None] | None = None,
    protected: tuple[Path, ...] = (),
) -> None:
    """Refuse (OutputError) a target that must not be written or replaced."""
    recognise = recognise or (lambda p: not_our_folder(p, kind))
    if target.parent == target or not target.name:
        raise OutputError(f"{target} is the root of the file system; give a folder to create")
    for p in protected:
        try:
            p = Path(os.path.abspath(p))
        except (OSError, ValueError):
            continue
        if p == target or target in p.parents:
            raise OutputError(
                f"{target} holds an input of this run ({p.name}); idlibsim never writes over "
                "its inputs: give a new folder with --out"
            )
    if not os.path.lexists(target) or is_empty_folder(target):
        return
    why = recognise(target)
    if why is not None:
        raise OutputError(
            f"{target}: {why}; idlibsim replaces only a results folder it wrote itself, so it "
            "will not touch it, even with --force: give a new folder with --out"
        )
    if not force:
        raise ResultsExistError(
            f"results folder {target} already exists (from an earlier run); to replace it use "
            "--force (force=True in Python), or write elsewhere with --out (out=...)"
        )


def is_empty_folder(path: Path) -> bool:
    """A real folder (not a link) with nothing in it: writing there loses nothing."""
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode) and not any(os.scandir(path))
    except OSError:
        return False


def refuse_in_spawned_child(what: str) -> None:
    """Refuse to start ``what`` while a script is being re-imported by a spawned process.

    Dask (and multiprocessing with 'spawn') starts each worker by importing the user's
    script under the name ``__mp_main__``. Code at the top level of a script, without
    ``if __name__ == "__main__":``, then runs again in every worker: it would write the
    results folder again or start a cluster inside a worker ("Nanny failed to start").
    """
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "<module>" and frame.f_globals.get("__name__") == "__mp_main__":
            break
        frame = frame.f_back
    if frame is not None:
        raise RuntimeError(
            f"{what} was called while a worker process imported your script "
            f"({frame.f_code.co_filename}); in a script that runs ensembles on "
            'several workers, put the code under `if __name__ == "__main__":` (Dask starts '
            "its workers by importing the script)"
        )


class TargetLock:
    """An exclusive lock on writing ``target``: ``fcntl.flock`` on a hidden lock file beside
    it (``.<name>.idlibsim-lock``). The kernel releases it when the process dies, so a
    killed run never blocks the next one; a second process is refused at once."""

    def __init__(self, target: Path | str):
        self.target = normalise_target(target)
        self.path = self.target.parent / f".{self.target.name}{LOCK_SUFFIX}"
        self._fd: int | None = None

    def __enter__(self) -> TargetLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def acquire(self) -> None:
        import fcntl

        path = self.path
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        for _ in range(20):
            try:
                fd = os.open(path, flags | os.O_NONBLOCK, 0o644)
            except OSError as exc:
                raise OutputError(
                    f"cannot create the lock file {path}: {exc.strerror or exc}; give an --out "
                    "folder in a place you may write to"
                ) from None
            try:
                if not stat.S_ISREG(os.fstat(fd).st_mode):
                    raise OutputError(f"{path} is not a lock file of idlibsim; remove it")
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    raise OutputError(
                        f"another idlibsim process is writing {self.target} right now; wait "
                        "for it to finish or give another --out folder"
                    ) from None
                except OSError:  # no locks on this file system: go on without
                    pass
                # The file may have been removed (by the previous holder) and re-created.
                try:
                    same = os.stat(path, follow_symlinks=False).st_ino == os.fstat(fd).st_ino
                except FileNotFoundError:
                    same = False
            except BaseException:
                os.close(fd)
                raise
            if same:
                self._fd = fd
                return
            os.close(fd)
        raise OutputError(f"cannot take the lock {path}; try again")  # pragma: no cover

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            with contextlib.suppress(OSError):
                if os.stat(self.path, follow_symlinks=False).st_ino == os.fstat(self._fd).st_ino:
                    os.unlink(self.path)
        finally:
            os.close(self._fd)
            self._fd = None


class FolderWriter:
    """Write a results folder safely (see the module docstring).

    >>> with FolderWriter(target, force=False) as tmp:   # doctest: +SKIP
    ...     write files into tmp

    :meth:`open` (called by ``__enter__``) checks the target, takes the lock and creates
    the temporary folder; call it *before* the long computation so that every problem
    with the output path is found first. ``__exit__`` renames into place, or removes the
    temporary folder if the block raised (including KeyboardInterrupt and SIGTERM).
    """

    def __init__(
        self,
        target: Path | str,
        force: bool = False,
        kind: str = "run",
        recognise: Callable[[Path], str | None] | None = None,
        protected: tuple[Path, ...] = (),
    ):
        self.target = normalise_target(target)
        self.force = force
        self.kind = kind
        self.recognise = recognise or (lambda p: not_our_folder(p, kind))
        self.protected = protected
        self.tmp: Path | None = None
        self._lock_obj: TargetLock | None = None

    # -- lifecycle ---------------------------------------------------------------------
    def open(self) -> Path:
        if self.tmp is not None:
            return self.tmp
        check_target(self.target, self.force, self.kind, self.recognise, self.protected)
        parent = self.target.parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(
                f"cannot create the folder {parent}: {exc.strerror or exc}; give an --out "
                "folder in a place you may write to"
            ) from None
        if not parent.is_dir():
            raise OutputError(f"{parent} is not a folder; give an --out folder you may write to")
        try:
            # Signals wait until the lock and the temporary folder are both recorded, so
            # that an interruption at any moment is cleaned up by abort().
            with signals_held():
                self._lock()
                check_target(self.target, self.force, self.kind, self.recognise, self.protected)
                self._remove_stale()
                stamp = f"{os.getpid()}-{time.time_ns()}"
                tmp = parent / f"{TMP_PREFIX}{self.target.name}-{stamp}"
                try:
                    tmp.mkdir(mode=0o755)
                    self.tmp = tmp
                    # written under another name and renamed: a marker that exists is whole
                    part = tmp / f"{MARKER}.part"
                    part.write_text(
                        json.dumps({"tool": "idlibsim", "target": self.target.name}),
                        encoding="utf-8",
                    )
                    os.rename(part, tmp / MARKER)
                except OSError as exc:
                    raise OutputError(
                        f"cannot write in {parent}: {exc.strerror or exc}; give an --out folder "
                        "in a place you may write to"
                    ) from None
        except BaseException:
            self.abort()
            raise
        return tmp

    def __enter__(self) -> Path:
        return self.open()

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is not None:
            self.abort()
            return False
        self.commit()
        return False

    def abort(self) -> None:
        """Remove the temporary folder and release the lock (a signal waits until both are
        done: a second Ctrl-C does not cut the clean-up short)."""
        with signals_held():
            try:
                if self.tmp is not None:
                    shutil.rmtree(self.tmp, ignore_errors=True)
                    self.tmp = None
            finally:
                self._unlock()

    def commit(self) -> None:
        """Rename the finished temporary folder into place (exchange with an old run)."""
        assert self.tmp is not None, "open() first"
        tmp = self.tmp
        with signals_held():
            try:
                (tmp / MARKER).unlink(missing_ok=True)
                if is_empty_folder(self.target):
                    os.rmdir(self.target)  # nothing in it: a no-replace rename follows
                if os.path.lexists(self.target):
                    # checked before the run; check again: it may have changed since
                    check_target(self.target, self.force, self.kind, self.recognise, self.protected)
                    exchange(tmp, self.target)
                    shutil.rmtree(tmp, ignore_errors=True)  # the old run, now at tmp
                else:
                    rename_no_replace(tmp, self.target)
                self.tmp = None
            except BaseException:
                if self.tmp is not None:
                    shutil.rmtree(tmp, ignore_errors=True)
                    self.tmp = None
                raise
            finally:
                self._unlock()

    # -- lock --------------------------------------------------------------------------
    def _lock(self) -> None:
        lock = TargetLock(self.target)
        lock.acquire()
        self._lock_obj = lock

    def _unlock(self) -> None:
        lock, self._lock_obj = getattr(self, "_lock_obj", None), None
        if lock is not None:
            lock.release()

    # -- leftovers ---------------------------------------------------------------------
    def _remove_stale(self) -> None:
        """Remove temporary folders of this target left by killed runs (we hold the lock)."""
        parent = self.target.parent
        prefix = f"{TMP_PREFIX}{self.target.name}-"
        try:
            entries = list(os.scandir(parent))
        except OSError:
            return
        for e in entries:
            if not e.name.startswith(prefix) or e.is_symlink() or not e.is_dir():
                continue
            marker = Path(e.path) / MARKER
            try:
                info = read_json(marker, "marker", limit=10_000)
            except InputError:
                continue
            if isinstance(info, dict) and info.get("target") == self.target.name:
                shutil.rmtree(e.path, ignore_errors=True)


def output_files(folder: Path) -> dict[str, str]:
    """SHA-256 of every regular file under ``folder`` (our private marker excluded)."""
    files, _ = folder_files(folder)
    return {
        f: sha256_limited(folder / f)
        for f in files
        if Path(f).name not in PRIVATE_NAMES and f != "manifest.json"
    }


def check_replaceable_file(path: Path | str, ours: Callable[[Path], bool], what: str) -> None:
    """Refuse (OutputError) to replace ``path`` unless it is a regular file that ``ours``
    recognises as written by idlibsim (a missing file is fine)."""
    path = Path(path)
    if not os.path.lexists(path):
        return
    st = os.lstat(path)
    if not stat.S_ISREG(st.st_mode):
        raise OutputError(
            f"{path} is {describe_mode(st.st_mode)}; idlibsim writes the {what} only as a new "
            "file or over one it wrote: give another file name"
        )
    try:
        mine = ours(path)
    except (OSError, InputError, ValueError):
        mine = False
    if not mine:
        raise OutputError(
            f"{path} exists and was not written by idlibsim as a {what}; it will not be "
            "replaced: give another file name (or move the file away)"
        )


def starts_with(path: Path, prefix: bytes) -> bool:
    """Whether a regular file begins with ``prefix`` (reads only that much)."""
    if not_a_regular_file(path):
        return False
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        return os.read(fd, len(prefix)) == prefix
    finally:
        os.close(fd)
