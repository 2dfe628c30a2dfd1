"""Which code produced a result: package version, git commit, and a digest of the sources.

``manifest.json`` records :func:`source_info` so that a published figure can be traced to
the exact code; Dask workers are compared with the client by :func:`worker_identity`
before any work is sent to them (a worker running other code would give other numbers).
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

#: The package folder and the project folder (the repository) above it.
SIM_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = SIM_DIR.parent
UNKNOWN = "unknown"


@functools.lru_cache(maxsize=1)
def code_digest() -> str:
    """SHA-256 of the model's source files (``sim/**/*.py``, paths and contents)."""
    h = hashlib.sha256()
    for p in sorted(SIM_DIR.rglob("*.py")):
        h.update(p.relative_to(SIM_DIR).as_posix().encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


def package_version() -> str:
    from . import __version__

    return __version__


def _git(*args: str) -> str | None:
    git = shutil.which("git")
    if git is None:
        return None
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env["GIT_OPTIONAL_LOCKS"] = "0"  # never write to the repository (index refresh)
    try:
        out = subprocess.run(
            [git, "-C", str(PROJECT_ROOT), *args],
            capture_output=True,
            text=True,
            timeout=20,
            env=env,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 else None


@functools.lru_cache(maxsize=1)
def source_info() -> dict[str, Any]:
    """Version, git commit and whether the checkout was modified (``unknown`` if not known).

    ``git_modified`` is true when tracked files differ from the commit (uncommitted
    edits: the numbers may not come from the recorded commit), false when clean, and
    ``"unknown"`` when idlibsim does not run from a git checkout or git is absent.
    """
    info: dict[str, Any] = {
        "idlibsim_version": package_version(),
        "code_sha256": code_digest(),
        "git_commit": UNKNOWN,
        "git_modified": UNKNOWN,
    }
    top = _git("rev-parse", "--show-toplevel")
    if top is None or Path(top.strip()).resolve() != PROJECT_ROOT:
        info["git_note"] = (
            "git is not installed" if shutil.which("git") is None else "not run from a git checkout"
        )
        return info
    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no")
    if commit:
        info["git_commit"] = commit.strip()
    if status is not None:
        info["git_modified"] = bool(status.strip())
        if status.strip():
            info["git_modified_files"] = [ln[3:] for ln in status.splitlines()][:50]
    return info


def worker_identity() -> dict[str, str]:
    """What a Dask worker runs (compared with the client's before work is submitted)."""
    import socket

    return {
        "version": package_version(),
        "code_sha256": code_digest(),
        "path": str(SIM_DIR),
        "host": socket.gethostname(),
    }
