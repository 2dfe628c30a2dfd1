"""``python -m sim`` runs the command line.

The signal handlers are installed before anything else is imported, so Ctrl-C (or a
SIGTERM) while Python is still importing the model exits quietly with status 130.
"""

import signal
import sys


def _quiet_exit(signum, frame):  # pragma: no cover - only during start-up
    raise SystemExit(130 if signum == signal.SIGINT else 128 + signum)


signal.signal(signal.SIGINT, _quiet_exit)
signal.signal(signal.SIGTERM, _quiet_exit)

from .cli import console  # noqa: E402 - after the handlers, on purpose

sys.exit(console())
