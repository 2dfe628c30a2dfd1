"""Derive scenarios/data/geo/ from the reference boundary files (run once, by hand).

Usage: python scripts/derive_geo.py SOURCE_FOLDER

SOURCE_FOLDER holds the GeoJSON files described in scenarios/data/geo/README.md (OCHA COD-AB
sub-districts 2020-12-17, CC BY 3.0 IGO; OCHA/ITOS international boundary line; Natural Earth
1:10m coastline, public domain). The script keeps the features that touch the map extent of
north-west Syria (EXTENT), snaps every vertex to a GRID-degree grid (about 200 m; neighbouring
polygons share their vertices, so they still meet edge to edge), and drops repeated vertices
and rings that collapse. Nothing else is changed; properties are trimmed to those the maps use.
The simulation never runs this script: it reads only its output.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

#: lon_min, lat_min, lon_max, lat_max (degrees): north-west Syria with northern Aleppo.
EXTENT = (35.55, 34.95, 38.0, 37.0)
#: Vertex grid (degrees); 0.002 deg is about 180 m east-west and 220 m north-south here.
GRID = 0.002
OUT = Path(__file__).resolve().parent.parent / "scenarios" / "data" / "geo"


def snap(ring: list) -> list:
    out = []
    for x, y in ring:
        p = [round(round(x / GRID) * GRID, 3), round(round(y / GRID) * GRID, 3)]
        if not out or p != out[-1]:
            out.append(p)
    return out


def touches(coords_iter) -> bool:
    x0, y0, x1, y1 = EXTENT
    return any(x0 <= x <= x1 and y0 <= y <= y1 for x, y in coords_iter)


def polygons(geom: dict) -> list:
    return [geom["coordinates"]] if geom["type"] == "Polygon" else geom["coordinates"]


def main(src: Path) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    sub = json.loads((src / "subdistricts.geojson").read_text(encoding="utf-8"))
    feats = []
    for f in sub["features"]:
        polys = polygons(f["geometry"])
        if not touches(pt for poly in polys for ring in poly for pt in ring):
            continue
        kept = []
        for poly in polys:
            rings = [snap(r) for r in poly]
            rings = [r for r in rings if len(r) >= 4]
            if rings:
                kept.append(rings)
        if not kept:
            continue
        p = f["properties"]
        feats.append(
            {
                "type": "Feature",
                "properties": {
                    k: p[k]
                    for k in ("pcode", "name", "district", "governorate", "governorate_pcode")
                },
                "geometry": {"type": "MultiPolygon", "coordinates": kept},
            }
        )
    write(OUT / "subdistricts.geojson", feats)
    for name, outname in (
        ("borders_ocha.geojson", "border.geojson"),
        ("coastline.geojson", "coastline.geojson"),
    ):
        d = json.loads((src / name).read_text(encoding="utf-8"))
        lines = []
        for f in d["features"]:
            g = f["geometry"]
            parts = [g["coordinates"]] if g["type"] == "LineString" else g["coordinates"]
            for part in parts:
                s = snap(part)
                if len(s) >= 2:
                    lines.append(s)
        write(
            OUT / outname,
            [
                {
                    "type": "Feature",
                    "properties": {"source": d["features"][0]["properties"].get("source", "")},
                    "geometry": {"type": "MultiLineString", "coordinates": lines},
                }
            ],
        )


def write(path: Path, feats: list) -> None:
    doc = {"type": "FeatureCollection", "features": feats}
    path.write_text(json.dumps(doc, separators=(",", ":"), ensure_ascii=False) + "\n", "utf-8")
    print(path, path.stat().st_size, "bytes,", len(feats), "features")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
