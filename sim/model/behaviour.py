"""The households' rules, as pure functions on arrays.

Each function states its formula and units. Random decisions take uniforms, not
generators, so every rule is deterministic given its inputs and easy to test.
Parameter meanings, defaults and sources: :class:`sim.scenario.schema.Behaviour` and
``docs/model.md``.
"""

from __future__ import annotations

import hashlib

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra


def fear_kernel(road_km: np.ndarray, fear_distance_km: float) -> np.ndarray:
    """``K[j, k] = exp(-road_km[j, k] / L)``: how much danger at ``k`` frightens people at ``j``."""
    return np.exp(-road_km / fear_distance_km)


def danger(intensity: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Danger felt at each place (0-1): ``D_j = 1 - prod_k (1 - I_k K_jk)``.

    Attacks at different places are independent threats; one close heavy attack weighs
    as much as several distant ones. ``intensity`` is today's conflict intensity by place
    (0-1), ``kernel`` from :func:`fear_kernel`.
    """
    return 1.0 - np.prod(1.0 - kernel * intensity[None, :], axis=1)


def update_fear(previous: np.ndarray, danger_today: np.ndarray, memory_days: float) -> np.ndarray:
    """Remembered danger: ``F(t) = max(D(t), F(t-1) exp(-1/memory_days))`` (0-1)."""
    if memory_days <= 0:
        return danger_today.copy()
    return np.maximum(danger_today, previous * np.exp(-1.0 / memory_days))


def flee_probability(fear: np.ndarray, propensity: np.ndarray, flee_rate: float) -> np.ndarray:
    """Daily probability that a household flees: ``p = 1 - exp(-flee_rate * propensity * fear)``.

    ``flee_rate`` in 1/day, ``propensity`` (mean 1) per household, ``fear`` (0-1) at its place.
    """
    return -np.expm1(-flee_rate * propensity * fear)


def flee_hazard(
    fear: np.ndarray, flee_rate: float, tolerance: float = 0.0, exponent: float = 1.0
) -> np.ndarray:
    """Daily hazard of flight per unit propensity at each place (1/day).

    ``hazard = flee_rate * (max(0, fear - tolerance) / (1 - tolerance)) ** exponent``:
    people live with a background of fear (``tolerance``) and leave at a rate that grows
    with the fear above it, faster than proportionally when ``exponent > 1`` (a ground
    assault frightens far more than twice as much as bombardment at half its intensity).
    A household with propensity ``x`` flees when an Exponential(1) draw ``E`` is below
    ``x * hazard``, which happens with probability ``1 - exp(-x * hazard)``
    (:func:`flee_probability`).
    """
    if tolerance >= 1:
        return np.zeros_like(fear)
    excess = np.maximum(fear - tolerance, 0.0) / (1.0 - tolerance)
    return flee_rate * excess**exponent


def routes(
    edge_km: np.ndarray,
    blocked: np.ndarray,
    government: np.ndarray,
    penalty_km: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shortest routes for civilians between all pairs of places.

    ``edge_km`` (n, n) road lengths (inf = no road); ``blocked`` (n, n) roads closed
    today; entering a government-held place costs ``penalty_km`` extra, so such routes are
    taken only when nothing else exists. Returns ``next_hop[i, j]`` (next place from ``i``
    toward ``j``, -1 if none, ``j`` itself when ``i == j``), ``cost[i, j]`` (km including
    penalties) and ``km[i, j]`` (real road km along that route).
    """
    n = edge_km.shape[0]
    w = np.where(blocked, np.inf, edge_km) + np.where(government, penalty_km, 0.0)[None, :]
    i, j = np.nonzero(np.isfinite(w))
    # Paths from every i to a fixed j are paths from j in the reversed graph, whose
    # predecessor array is then the next hop from i toward j.
    g_rev = csr_matrix((w[i, j], (j, i)), shape=(n, n))
    cost, pred = dijkstra(g_rev, directed=True, return_predecessors=True)
    cost = cost.T  # cost[i, j] from i to j
    next_hop = pred.T.astype(np.int64)  # pred[j, i] = node after i on the way to j
    next_hop[next_hop < 0] = -1
    np.fill_diagonal(next_hop, np.arange(n))
    # real km: follow the hops (at most n steps)
    km = np.zeros((n, n))
    cur = np.repeat(np.arange(n)[:, None], n, axis=1)
    dest = np.repeat(np.arange(n)[None, :], n, axis=0)
    live = (cur != dest) & np.isfinite(cost)
    for _ in range(n):
        if not live.any():
            break
        nxt = next_hop[cur[live], dest[live]]
        km[live] += edge_km[cur[live], nxt]
        cur[live] = nxt
        live = (cur != dest) & np.isfinite(cost)
    km[~np.isfinite(cost)] = np.inf
    return next_hop, cost, km


#: Routes already computed in this process, by a digest of their inputs (the road network,
#: closures, front line and penalty change on a few days; every replicate of a scenario in
#: a worker sees the same ones): digest -> read-only (next_hop, cost, km).
_ROUTES: dict[bytes, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}


def routes_remembered(
    edge_km: np.ndarray,
    blocked: np.ndarray,
    government: np.ndarray,
    penalty_km: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`routes`, remembered: the same inputs (bytes) give the same (read-only) arrays.

    All-pairs routes take 3-10 ms (Dijkstra, then following the hops for the real km), ten
    times a run: a tenth of a replicate at population scale 0.1 in an ensemble, whose
    replicates share them.
    """
    edge = np.ascontiguousarray(edge_km, dtype=np.float64)
    h = hashlib.sha256()
    h.update(repr(edge.shape).encode())
    h.update(float(penalty_km).hex().encode())
    for a in (edge, np.asarray(blocked, dtype=bool), np.asarray(government, dtype=bool)):
        h.update(np.ascontiguousarray(a).tobytes())
    key = h.digest()
    found = _ROUTES.get(key)
    if found is None:
        found = routes(edge_km, blocked, government, penalty_km)
        for a in found:
            a.setflags(write=False)
        if len(_ROUTES) >= 64:  # a few scenarios' worth (~100 kB each); never grow without bound
            _ROUTES.clear()
        _ROUTES[key] = found
    return found


def attractiveness(
    cost_km: np.ndarray,
    fear: np.ndarray,
    border_km: np.ndarray,
    room: np.ndarray,
    candidate: np.ndarray,
    distance_km: float | np.ndarray,
    safety_weight: float,
    border_pull_km: float,
    origins: np.ndarray | None = None,
) -> np.ndarray:
    """Probability that a household fleeing from ``i`` heads for ``j`` (rows sum to 1 or 0).

    ``w_ij = exp(-cost_ij / distance_km) * (1 - fear_j)^safety_weight
    * exp(-border_km_j / border_pull_km) * room_j`` for candidate places ``j != i``;
    ``cost`` is the route length in km (with the front-line penalty), ``fear`` the danger
    expected at ``j`` (0-1; the model passes :func:`expected_danger`, so places in the
    path of the advance are avoided), ``border_km`` the road distance to the nearest
    border crossing, ``room`` the shelter ``j`` offers (:func:`shelter`, people; any
    positive scale: rows are normalised). Places with ``room_j = 0`` are never chosen.
    ``candidate`` is by destination ``(n,)`` or by origin and destination ``(n, n)``.
    ``distance_km`` (km) is one scale, or one per origin ``(n,)`` (:func:`reach_factor`).
    Computed in logs and normalised per row.

    ``origins`` (place indices, repeats allowed): only the rows of these origins, shape
    ``(len(origins), n)``; a per-origin ``distance_km`` or ``candidate`` is then given per
    row (``distance_km[r]``, ``candidate[r]`` for ``origins[r]``). Each row equals bit for
    bit the row of the whole matrix with the same inputs (every step is per element or per
    row): a day's movers leave from a few places, in a few reach classes, so one call
    computes the rows read instead of a whole matrix per class (issue 16).
    """
    scale = np.asarray(distance_km, dtype=float)
    if scale.ndim == 1:
        scale = scale[:, None]
    cand = candidate if candidate.ndim == 2 else candidate[None, :]
    if origins is not None:
        origins = np.asarray(origins, dtype=np.intp)
        cost_km = cost_km[origins]
    # log(0) = -inf without the divide warning (and without an errstate context per call)
    log_room = np.log(room, out=np.full(np.shape(room), -np.inf), where=room != 0)
    logw = (
        -cost_km / scale
        + safety_weight * np.log1p(-np.minimum(fear, 1.0 - 1e-12))[None, :]
        - (border_km / border_pull_km)[None, :]
        + log_room[None, :]
    )
    ok = cand & np.isfinite(cost_km)
    if origins is None:
        np.fill_diagonal(ok, False)
    else:
        ok[np.arange(len(origins)), origins] = False
    logw = np.where(ok, logw, -np.inf)
    top = logw.max(axis=1, keepdims=True)
    w = np.where(np.isfinite(top), np.exp(logw - np.where(np.isfinite(top), top, 0.0)), 0.0)
    total = w.sum(axis=1, keepdims=True)
    return np.divide(w, total, out=np.zeros_like(w), where=total > 0)


def reach_factor(expected: np.ndarray, floor: float, exponent: float) -> np.ndarray:
    """Multiplier (0-1) of a moving household's distance scale by the danger it leaves.

    ``f_i = max(E_i, floor) ** exponent``, ``E_i`` the danger expected at the place it leaves
    (0-1), ``floor`` the background fear people live with (``fear_tolerance``; a positive
    floor keeps the scale positive), ``exponent`` = ``reach_danger_exponent`` (-). Under a
    ground assault or with the front at the door (``E`` near 1) households go as far as their
    reach takes them; leaving occasional strikes (``E`` = 0.3, exponent 2: a tenth of the
    reach) they go to the nearest quiet place; moving on from an overflow site in a quiet
    place, to the nearest place with room. ``exponent`` 0: 1 everywhere.
    """
    if exponent == 0:
        return np.ones_like(expected, dtype=float)
    return np.maximum(np.clip(expected, 0.0, 1.0), max(floor, 1e-6)) ** exponent


def reach_distances(median_km: float, spread: float, quantiles) -> np.ndarray:
    """Distance scale (km) of each reach class: ``median_km * exp(spread * z_q)``.

    ``z_q`` is the standard normal quantile of each class midpoint: households' distance
    scales are log-normal with median ``median_km`` and log-s.d. ``spread``.
    """
    # scipy.special.ndtri is the standard normal quantile (scipy.stats.norm.ppf without
    # importing scipy.stats, which takes seconds)
    from scipy.special import ndtri

    return median_km * np.exp(spread * ndtri(np.asarray(quantiles, dtype=float)))


def choose(prob: np.ndarray, origin: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Destination of each household by inverse CDF: row ``origin`` of ``prob``, uniform ``u``.

    Returns -1 where the origin has no possible destination.
    """
    cdf = np.cumsum(prob, axis=1)
    rows = cdf[origin]
    total = rows[:, -1]
    j = (rows <= (u * total)[:, None]).sum(axis=1)
    j = np.minimum(j, prob.shape[1] - 1)
    return np.where(total > 0, j, -1)


_INT16_MAX = int(np.iinfo(np.int16).max)
#: Up to this many households :func:`_rank` is lexsort itself (faster than two sorts there).
_LEXSORT_MAX = 256


def _rank(group: np.ndarray, order_key: np.ndarray, tiebreak: np.ndarray) -> np.ndarray:
    """``np.lexsort((tiebreak, order_key, group))``, about five times faster for thousands.

    Sorts by ``order_key``, then (stable, a radix sort for small place numbers) by
    ``group``. ``tiebreak`` only matters between equal keys of one group, which random keys
    almost never have: if any (or a NaN) is found, the full lexsort decides.
    """
    group = np.asarray(group)
    order_key = np.asarray(order_key)
    # (lexsort itself for the day's small queues: a few us, against ~20 for two sorts)
    if len(group) <= _LEXSORT_MAX or order_key.dtype.kind != "f" or np.isnan(order_key).any():
        return np.lexsort((tiebreak, order_key, group))
    order = np.argsort(order_key)
    g = group[order]
    if g.dtype.kind in "iu" and g.min() >= 0 and g.max() <= _INT16_MAX:
        g = g.astype(np.int16)  # a stable sort of 16-bit integers is a radix sort
    order = order[np.argsort(g, kind="stable")]
    g, k = group[order], order_key[order]
    if ((g[1:] == g[:-1]) & (k[1:] == k[:-1])).any():
        return np.lexsort((tiebreak, order_key, group))
    return order


def fill_in_order(
    group: np.ndarray,
    size: np.ndarray,
    order_key: np.ndarray,
    tiebreak: np.ndarray,
    free: list[np.ndarray],
) -> np.ndarray:
    """Share out places, in priority order, among households arriving at the same place.

    Households are ranked within their ``group`` (the place) by ``order_key``
    (smaller first), then ``tiebreak`` (the household id, so that the result never
    depends on the order of the arrays). Tier ``t`` of ``free`` (e.g. host places, then camp places) gives
    the places still free at each place. Tier by tier, the households not yet placed take
    it while the running total of people ranked before them (among those still unplaced)
    plus themselves fits its free places; households beyond all tiers get ``len(free)``
    (overflow: informal sites). No tier is ever filled beyond its free places.
    Returns the tier of each household (in the input order).
    """
    n = len(group)
    if n == 0:
        return np.empty(0, dtype=np.int64)
    order = _rank(group, order_key, tiebreak)
    g = group[order]
    s = size[order].astype(np.float64)
    t_sorted = np.full(n, len(free), dtype=np.int64)
    for t, f in enumerate(free):
        if t == 0:  # everyone is unplaced
            gg, ss = g, s
        else:
            idx = (t_sorted == len(free)).nonzero()[0]  # still unplaced, in rank order
            if len(idx) == 0:
                break
            gg, ss = g[idx], s[idx]
        c = ss.cumsum()
        first = np.empty(len(gg), bool)
        first[0] = True
        np.not_equal(gg[1:], gg[:-1], out=first[1:])
        base = np.maximum.accumulate(np.where(first, c - ss, 0.0))
        running = c - base  # people up to and including this household, within its place
        fits = running <= np.maximum(f[gg], 0.0)
        t_sorted[fits if t == 0 else idx[fits]] = t
    tier = np.empty(n, dtype=np.int64)
    tier[order] = t_sorted
    return tier


# --------------------------------------------------------------------------------------
# The front and sustained bombardment (issue 11)
# --------------------------------------------------------------------------------------


def front_distance(road_km: np.ndarray, front: np.ndarray) -> np.ndarray:
    """Road distance (km) from each place to the nearest front place: ``min_k road_km[j, k]``.

    ``front`` (bool, by place) marks today's front: places under ground assault or
    captured recently. ``inf`` where there is no front (or no road to it).
    """
    if not front.any():
        return np.full(road_km.shape[0], np.inf)
    return road_km[:, front].min(axis=1)


def front_speed(
    km_now: np.ndarray, km_before: np.ndarray, days: float, max_speed: float = np.inf
) -> np.ndarray:
    """How fast the front approaches each place (km/day, 0 to ``max_speed``).

    ``v = min(max_speed, max(0, (km_before - km_now) / days))`` where both distances are
    finite, else 0: a front that appears from nowhere has no measured speed (its distance
    alone counts). ``max_speed`` (km/day) keeps a new assault far from the old front (a jump
    of the nearest front place, not an advance) from being read as a rout.
    """
    ok = np.isfinite(km_now) & np.isfinite(km_before)
    with np.errstate(invalid="ignore"):
        v = np.where(ok, (km_before - km_now) / days, 0.0)
    return np.clip(v, 0.0, max_speed)


def front_threat(
    front_km: np.ndarray, speed: np.ndarray, lookahead_days: float, front_distance_km: float
) -> np.ndarray:
    """Anticipated threat of the front (0-1): ``A = exp(-max(0, d - T v) / L)``.

    ``d`` the road distance to the nearest front place (km), ``v`` its speed of approach
    (km/day), ``T`` = ``lookahead_days`` (days) and ``L`` = ``front_distance_km`` (km): a
    place counts as being as close to the front as it will be ``T`` days from now if the
    front keeps its speed. 0 where there is no front (``d = inf``) or when ``L <= 0``.
    """
    if front_distance_km <= 0:
        return np.zeros_like(front_km, dtype=float)
    ahead = np.maximum(front_km - lookahead_days * speed, 0.0)
    # (inf - inf where there is no front; a tiny L overflows d / L to inf: exp(-inf) = 0)
    with np.errstate(invalid="ignore", over="ignore"):
        a = np.exp(-ahead / front_distance_km)
    return np.where(np.isfinite(front_km), a, 0.0)


def sustained_bombardment(
    previous: np.ndarray, bombardment: np.ndarray, memory_days: float
) -> np.ndarray:
    """Sustained bombardment (0-1), an exponentially weighted mean of the daily intensity.

    ``B(t) = B(t-1) exp(-1/T) + (1 - exp(-1/T)) I_b(t)``, ``I_b`` today's air-strike and
    shelling intensity at the place itself (0-1), ``T`` = ``memory_days``: a single day of
    strikes raises ``B`` by ``(1 - exp(-1/T)) I_b``; weeks of strikes bring it to ``I_b``.
    ``T <= 0``: ``B = I_b``.
    """
    if memory_days <= 0:
        return bombardment.astype(float).copy()
    keep = np.exp(-1.0 / memory_days)
    return previous * keep + (1.0 - keep) * bombardment


def expected_danger(fear: np.ndarray, threat: np.ndarray) -> np.ndarray:
    """Danger expected at a place (0-1): ``E = 1 - (1 - F)(1 - A)``.

    Remembered danger ``F`` and the anticipated threat of the front ``A`` combine as
    independent hazards.
    """
    return 1.0 - (1.0 - fear) * (1.0 - threat)


def flight_hazard(
    expected: np.ndarray,
    sustained: np.ndarray,
    flee_rate: float,
    tolerance: float,
    exponent: float,
    bombardment_rate: float,
) -> np.ndarray:
    """Daily hazard of flight per unit propensity (1/day).

    ``h = flee_rate * (max(0, E - tolerance) / (1 - tolerance)) ** exponent + r_b * B``:
    the response to expected danger ``E`` (:func:`expected_danger`, which includes the
    approaching front) and, added to it, a steady response ``r_b`` = ``bombardment_rate``
    (1/day) to sustained bombardment ``B`` (:func:`sustained_bombardment`).
    """
    return flee_hazard(expected, flee_rate, tolerance, exponent) + bombardment_rate * sustained


def shelter(capacity: np.ndarray, occupied: np.ndarray, floor: float) -> np.ndarray:
    """Shelter a place offers to newcomers (people): ``S = max(C - O, floor * C, 0)``.

    ``C`` its host and camp places (people), ``O`` those taken or already promised to
    people on their way (people). A full place still offers ``floor * C`` (informal
    sites, crowding in): the pull of a place is the room it has, so a camp cluster with
    thousands of free places draws more than a village with ten.
    """
    return np.maximum(np.maximum(capacity - occupied, floor * capacity), 0.0)


def camp_pull(room: np.ndarray, camp_places: np.ndarray, camp_weight: float) -> np.ndarray:
    """Pull of a place with its camps (people): ``max(0, S + (k - 1) * C_c)``.

    ``S`` the shelter it offers (:func:`shelter`, people), ``C_c`` its formal camp places
    (people, **full or not**) and ``k`` = ``camp_weight``: each camp place draws like
    ``k - 1`` extra free places. Camps were where aid, registration and services were
    (CCCM), and a full camp area kept receiving people, who settled in sites set up beside
    it (REACH ISMI: 71 % of May 2019's arrivals in Idleb and surroundings went to Dana
    sub-district, whose camps were full): so the pull of camps grows with their size, not
    with their free places. ``k = 1``: camps draw like any other room (no preference);
    ``k = 0``: a camp place draws nothing. After Flee's ``camp_weight`` (an attraction
    multiplier for camps), without its fall to zero at full capacity.
    """
    return np.maximum(room + (camp_weight - 1.0) * camp_places, 0.0)


def return_probability(
    expected_home: np.ndarray, threshold: float, return_rate: float
) -> np.ndarray:
    """Daily probability that a displaced household sets off home (0-1).

    ``p = return_rate * (1 - E / threshold)`` when the danger expected at home ``E`` is
    below ``threshold``, else 0: households go back in lulls, more readily the quieter home
    is; never while the front approaches or strikes continue. (Captured homes are excluded
    by the caller.)
    """
    if threshold <= 0:
        return np.zeros_like(expected_home, dtype=float)
    # a tiny threshold makes E / threshold overflow to inf: p = 0, as the clip says
    with np.errstate(over="ignore"):
        return return_rate * np.clip(1.0 - expected_home / threshold, 0.0, 1.0)
