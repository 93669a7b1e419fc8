"""The provinces as SVG paths: a plain equirectangular projection of the boundaries file.

x = (lon − west) · cos(middle latitude), y = (north − lat): at Pakistan's latitudes that keeps
shapes recognisable without a projection library. Pure; computed once when the app starts.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BOUNDARIES = Path(__file__).resolve().parents[2] / "core" / "data" / "pakistan-provinces.geojson"
SCALE = 40.0  # SVG units per degree of latitude
PAD = 8.0
SMALL = 150.0  # shapes with less area (SVG units²) get their label outside, on a leader line

Ring = list[tuple[float, float]]


@dataclass(frozen=True)
class Shape:
    code: str
    name: str
    path: str  # the SVG path data
    label_x: float
    label_y: float
    small: bool


@dataclass(frozen=True)
class MapGeometry:
    width: float
    height: float
    shapes: tuple[Shape, ...]


def _polygons(geometry: dict[str, Any]) -> list[list[Ring]]:
    coords = geometry["coordinates"]
    polygons = [coords] if geometry["type"] == "Polygon" else coords
    return [[[(float(x), float(y)) for x, y in ring] for ring in poly] for poly in polygons]


def _area_centroid(ring: Ring) -> tuple[float, float, float]:
    """Signed-area-weighted centroid of a ring: (area, cx, cy)."""
    area = cx = cy = 0.0
    for (x0, y0), (x1, y1) in zip(ring, ring[1:] + ring[:1], strict=True):
        cross = x0 * y1 - x1 * y0
        area += cross
        cx += (x0 + x1) * cross
        cy += (y0 + y1) * cross
    area /= 2
    if area == 0:
        xs, ys = zip(*ring, strict=True)
        return 0.0, sum(xs) / len(xs), sum(ys) / len(ys)
    return abs(area), cx / (6 * area), cy / (6 * area)


def project(collection: dict[str, Any]) -> MapGeometry:
    """Turn a GeoJSON FeatureCollection with `code`/`name` properties into SVG shapes."""
    features = collection["features"]
    points = [
        pt for f in features for poly in _polygons(f["geometry"]) for ring in poly for pt in ring
    ]
    west = min(p[0] for p in points)
    east = max(p[0] for p in points)
    south = min(p[1] for p in points)
    north = max(p[1] for p in points)
    k = math.cos(math.radians((north + south) / 2))

    def xy(lon: float, lat: float) -> tuple[float, float]:
        return PAD + (lon - west) * k * SCALE, PAD + (north - lat) * SCALE

    shapes = []
    for feature in features:
        parts: list[str] = []
        best = (0.0, 0.0, 0.0)
        for poly in _polygons(feature["geometry"]):
            for n, ring in enumerate(poly):
                projected = [xy(lon, lat) for lon, lat in ring]
                parts.append("M" + "L".join(f"{x:.1f},{y:.1f}" for x, y in projected) + "Z")
                if n == 0:
                    area, cx, cy = _area_centroid(projected)
                    if area > best[0]:
                        best = (area, cx, cy)
        props = feature["properties"]
        shapes.append(
            Shape(
                code=props["code"],
                name=props["name"],
                path="".join(parts),
                label_x=round(best[1], 1),
                label_y=round(best[2], 1),
                small=best[0] < SMALL,
            )
        )
    width = 2 * PAD + (east - west) * k * SCALE
    height = 2 * PAD + (north - south) * SCALE
    return MapGeometry(round(width, 1), round(height, 1), tuple(shapes))


def load_map(path: Path = BOUNDARIES) -> MapGeometry:
    return project(json.loads(path.read_text(encoding="utf-8")))
