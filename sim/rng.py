"""Random numbers: the only module that makes generators.

Design (after Starsim's common random numbers):

* one integer ``seed`` per run; every generator is derived from it with
  :class:`numpy.random.SeedSequence`, never from global state;
* decisions draw from named streams (``"flee"``, ``"destination"`` ...), and each
  stream gets a fresh generator per simulated day, keyed by (seed, stream, day). Every
  day each stream draws one uniform per household *whether or not it is used*, indexed by
  the household's id rather than its position in the arrays. Two scenarios with the same
  seed therefore face the same dice, so their difference is the scenario, not noise, and
  the results do not depend on how the population arrays are ordered;
* replicate seeds for ensembles come from ``SeedSequence(base).spawn(n)``.
"""

from __future__ import annotations

import zlib

import numpy as np

#: Streams used by the model. Keys are hashed (CRC-32), so adding a stream never
#: shifts the numbers of the existing ones.
STREAMS = ("population", "propensity", "flee", "destination", "settle", "return", "border")


def _key(stream: str) -> int:
    return zlib.crc32(stream.encode("utf-8"))


def generator(seed: int, stream: str, *keys: int) -> np.random.Generator:
    """A generator for ``stream`` (and optional integer keys such as the day)."""
    if stream not in STREAMS:
        raise ValueError(f"unknown random stream {stream!r}; known: {STREAMS}")
    seq = np.random.SeedSequence(entropy=int(seed), spawn_key=(_key(stream), *map(int, keys)))
    return np.random.Generator(np.random.PCG64(seq))


def daily_uniforms(seed: int, stream: str, day: int, n: int) -> np.ndarray:
    """``n`` uniforms in [0, 1) for ``stream`` on ``day``: entry ``k`` belongs to household id ``k``.

    float32 halves the cost of the draws; its resolution (6e-8) is far finer than any
    probability the rules compare it with.
    """
    return generator(seed, stream, day).random(n, dtype=np.float32)


def replicate_seeds(base: int, n: int) -> list[int]:
    """Seeds of ``n`` replicates spawned from one base seed (63-bit integers).

    The i-th seed depends only on ``base`` and ``i``: asking for more replicates later
    keeps the first ones.
    """
    children = np.random.SeedSequence(int(base)).spawn(int(n))
    return [int(c.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1)) for c in children]
