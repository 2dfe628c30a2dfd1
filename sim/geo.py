"""Boundaries for the maps, and which sub-district (pcode) each place lies in.

The boundary files live in ``scenarios/data/geo/`` (derived by ``scripts/derive_geo.py``;
sources and licences in ``scenarios/data/geo/README.md``):

``subdistricts.geojson``  OCHA COD-AB sub-districts (admin 3) of north-west Syria, with pcodes;
``border.geojson``        the Syria-Turkey boundary (OCHA/ITOS line matching the polygons);
``coastline.geojson``     the Mediterranean coast (Natural Earth 1:10m).

Coordinates are WGS 84 longitude/latitude degrees. Places (rows of the scenario's locations
file) are tied to polygons by their ``pcode`` column; a place with no pcode, or a pcode with
no polygon, is still drawn as a point but is absent from the sub-district totals.
"""

from __future__ import annotations

import csv
import functools
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .provenance import PROJECT_ROOT

GEO_DIR = PROJECT_ROOT / "scenarios" / "data" / "geo"


@dataclass(frozen=True)
class SubDistrict:
    """One sub-district polygon: pcode, names and its rings (arrays of lon, lat in degrees)."""

    pcode: str
    name: str
    district: str
    governorate: str
    rings: tuple[np.ndarray, ...]  # outer rings and holes, each (n, 2)
    centroid: tuple[float, float]  # lon, lat (area-weighted over outer rings)

    @functools.cached_property
    def bbox(self) -> tuple[float, float, float, float]:
        """(lon_min, lat_min, lon_max, lat_max) in degrees."""
        allpts = np.concatenate(self.rings)
        return (*allpts.min(axis=0), *allpts.max(axis=0))


@dataclass(frozen=True)
class Boundaries:
    """Everything a base map draws."""

    sub_districts: dict[str, SubDistrict]
    border: tuple[np.ndarray, ...]
    coast: tuple[np.ndarray, ...]


def _ring_centroid(r: np.ndarray) -> tuple[float, float, float]:
    """Signed area (deg^2) and centroid of a closed ring (shoelace formula)."""
    x, y = r[:, 0], r[:, 1]
    x1, y1 = np.roll(x, -1), np.roll(y, -1)
    cross = x * y1 - x1 * y
    a = cross.sum() / 2.0
    if abs(a) < 1e-12:
        return 0.0, float(x.mean()), float(y.mean())
    return a, float(((x + x1) * cross).sum() / (6 * a)), float(((y + y1) * cross).sum() / (6 * a))


def _lines(path: Path) -> tuple[np.ndarray, ...]:
    doc = json.loads(path.read_text(encoding="utf-8"))
    out = []
    for f in doc["features"]:
        g = f["geometry"]
        parts = [g["coordinates"]] if g["type"] == "LineString" else g["coordinates"]
        out += [np.asarray(p, dtype=float) for p in parts]
    return tuple(out)


@functools.lru_cache(maxsize=4)
def load_boundaries(folder: Path = GEO_DIR) -> Boundaries:
    """Read the boundary files of ``folder`` (cached: the files never change during a run)."""
    doc = json.loads((folder / "subdistricts.geojson").read_text(encoding="utf-8"))
    subs: dict[str, SubDistrict] = {}
    for f in doc["features"]:
        p, g = f["properties"], f["geometry"]
        polys = [g["coordinates"]] if g["type"] == "Polygon" else g["coordinates"]
        rings, area, cx, cy = [], 0.0, 0.0, 0.0
        for poly in polys:
            for k, ring in enumerate(poly):
                arr = np.asarray(ring, dtype=float)
                rings.append(arr)
                if k == 0:
                    a, x, y = _ring_centroid(arr)
                    area, cx, cy = area + abs(a), cx + abs(a) * x, cy + abs(a) * y
        centroid = (cx / area, cy / area) if area > 0 else tuple(rings[0].mean(axis=0))
        subs[p["pcode"]] = SubDistrict(
            p["pcode"], p["name"], p.get("district", ""), p.get("governorate", ""), tuple(rings),
            (float(centroid[0]), float(centroid[1])),
        )  # fmt: skip
    return Boundaries(subs, _lines(folder / "border.geojson"), _lines(folder / "coastline.geojson"))


def place_pcodes(locations_file: Path | str | None) -> dict[str, str]:
    """``{place name: pcode}`` from a locations CSV (``name`` and ``pcode`` columns).

    Places with an empty pcode map to ``""``. A missing file, or one without a ``pcode``
    column, gives ``{}`` (maps then show points only): this is an output helper, the
    scenario loader has already validated the file the model ran on.
    """
    if not locations_file:
        return {}
    path = Path(locations_file)
    if not path.is_file():
        return {}
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or "pcode" not in reader.fieldnames:
            return {}
        return {
            (row.get("name") or "").strip(): (row.get("pcode") or "").strip().upper()
            for row in reader
            if (row.get("name") or "").strip()
        }
