"""Fill the ``border_km`` column of ``scenarios/data/locations.csv``.

``border_km`` is the straight-line distance (km) from each place's coordinates to the
Syria-Turkey international boundary of ``scenarios/data/geo/border.geojson`` (OCHA/ITOS,
CC BY 3.0 IGO; see ``geo/README.md``), rounded to 0.1 km. The model uses it for the pull of
the border areas (docs/model.md, section 5). Government-held places get the value too (it
is not used for them: nobody settles there).

Method: for every border segment, the distance from the point on a local equirectangular
projection centred on the place (x = dlon * cos(lat) * R, y = dlat * R, R = 6371 km); at
these distances (under 100 km) the error against the great-circle distance is well under
1 %. Run from the project root: ``python scripts/derive_border_km.py``. It rewrites only the
``border_km`` column (added after ``hosting_population`` if missing); every other byte of
the file stays as it is.
"""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sim.geo import load_boundaries  # noqa: E402

EARTH_RADIUS_KM = 6371.0


def distance_to_lines_km(lat: float, lon: float, lines) -> float:
    """Shortest distance (km) from (lat, lon) to any segment of ``lines`` ((n, 2) lon/lat arrays)."""
    best = np.inf
    c = np.cos(np.radians(lat))
    for line in lines:
        x = np.radians(line[:, 0] - lon) * c * EARTH_RADIUS_KM
        y = np.radians(line[:, 1] - lat) * EARTH_RADIUS_KM
        ax, ay, dx, dy = x[:-1], y[:-1], np.diff(x), np.diff(y)
        t = np.clip(-(ax * dx + ay * dy) / np.maximum(dx * dx + dy * dy, 1e-12), 0.0, 1.0)
        best = min(best, float(np.hypot(ax + t * dx, ay + t * dy).min()))
    return best


def main() -> int:
    path = ROOT / "scenarios" / "data" / "locations.csv"
    text = path.read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO(text)))
    header = rows[0]
    if "border_km" not in header:
        at = header.index("hosting_population") + 1
        for r in rows:
            r.insert(at, "border_km" if r is header else "")
    col = header.index("border_km")
    lat_i, lon_i = header.index("lat"), header.index("lon")
    border = load_boundaries().border
    for r in rows[1:]:
        d = distance_to_lines_km(float(r[lat_i]), float(r[lon_i]), border)
        r[col] = f"{d:.1f}"
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    path.write_text(out.getvalue(), encoding="utf-8")
    print(f"wrote border_km for {len(rows) - 1} places into {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
