"""The boundaries file as SVG: every gazetteer province has a shape and a label inside the map."""

from __future__ import annotations

from services.api.page.map import load_map, project
from services.core.gazetteer import load_gazetteer


def test_every_province_has_a_shape_and_a_label_inside_the_map() -> None:
    geometry = load_map()
    assert sorted(s.code for s in geometry.shapes) == sorted(load_gazetteer().codes)
    for shape in geometry.shapes:
        assert shape.path.startswith("M") and shape.path.endswith("Z")
        assert 0 < shape.label_x < geometry.width and 0 < shape.label_y < geometry.height
    assert [s.code for s in geometry.shapes if s.small] == ["PK-IS"]
    assert 0.9 < geometry.width / geometry.height < 1.2  # Pakistan is about as wide as tall


def test_projection_keeps_north_up_and_west_left() -> None:
    square = {
        "type": "Feature",
        "properties": {"code": "X", "name": "X"},
        "geometry": {
            "type": "Polygon",
            "coordinates": [[[60, 30], [61, 30], [61, 31], [60, 31], [60, 30]]],
        },
    }
    shape = project({"features": [square]}).shapes[0]
    first, second = shape.path[1:].split("L")[:2]
    x0, y0 = map(float, first.split(","))
    x1, y1 = map(float, second.split(","))
    assert x1 > x0 and y1 == y0  # east is right
    assert shape.label_x > 0 and not shape.small
