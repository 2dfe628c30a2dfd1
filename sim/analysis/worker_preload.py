"""What a local Dask worker needs before its first replicate, imported once per machine.

:func:`sim.analysis.ensemble.start_worker_factory` starts multiprocessing's *forkserver*
with this module preloaded; the ``LocalCluster`` workers are then forked from it with
Dask, pandas, Mesa and the model already imported, instead of each spawned worker
importing them again (about 1 s of CPU per worker, on the critical path of its first
replicate: issue 16).

The code digest is computed here, once, so that forked workers report to the client
(:func:`sim.analysis.ensemble.check_workers`) the sources they actually imported, not
whatever is on disk when they are asked.
"""

from __future__ import annotations

import distributed  # noqa: F401 - the worker process itself

import sim.analysis.ensemble  # noqa: F401 - execute(): what a task runs
import sim.outputs.runner  # noqa: F401 - simulate(), the model and Mesa
from sim.provenance import code_digest

code_digest()
