"""The hand-written SVG charts (``label_pipeline.charts``) are standalone SVG documents an XML parser
reads, with one series per side drawn, one coloured cell per finite heat-map value (red low, green
high), escaped text, the same bytes for the same input, and no matplotlib behind them."""

from __future__ import annotations

import math
import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from label_pipeline import charts
from label_pipeline.charts import entry_chart_svg, heatmap_svg

SVG = "{http://www.w3.org/2000/svg}"
FIRST_WEEK = 2800  # 2023-08-31


def parse(document: bytes) -> ET.Element:
    root = ET.fromstring(document)
    assert root.tag == f"{SVG}svg"
    assert float(root.get("width")) > 0 and float(root.get("height")) > 0
    assert root.get("viewBox") == f"0 0 {root.get('width')} {root.get('height')}"
    return root


def series(root: ET.Element, kind: str) -> dict[str, list[tuple[float, float]]]:
    """The points of each side's polyline in one panel ('rate', 'mfe' or 'mae')."""
    out = {}
    for line in root.iter(f"{SVG}polyline"):
        classes = line.get("class", "").split()
        for side in charts.SIDES:
            if f"{kind}-{side}" in classes:
                out[side] = [tuple(map(float, p.split(","))) for p in line.get("points").split()]
    return out


def weekly_rates(weeks: int, first: int = FIRST_WEEK) -> dict[int, list[int]]:
    return {w: [1000 + w % 7, 200 + (w * 37) % 150] for w in range(first, first + weeks)}


def histogram(seed: int) -> tuple[np.ndarray, np.ndarray]:
    counts, edges = np.histogram(np.random.default_rng(seed).gamma(2.0, 20.0, 3000), bins=40)
    return counts.astype(np.float64), edges


def full_entry_chart() -> bytes:
    weekly = {"LONG": weekly_rates(53), "SHORT": weekly_rates(20, FIRST_WEEK + 10)}
    hists = {"LONG": histogram(1), "SHORT": histogram(2)}
    return entry_chart_svg(weekly, hists, {"LONG": histogram(3), "SHORT": histogram(4)})


def test_entry_chart_draws_one_series_per_side_and_panel() -> None:
    root = parse(full_entry_chart())
    rate = series(root, "rate")
    assert {s: len(p) for s, p in rate.items()} == {"LONG": 53, "SHORT": 20}
    assert len(list(root.iter(f"{SVG}circle"))) == 53 + 20  # a dot per week
    for kind in ("mfe", "mae"):  # stairs: each bin's two corners, plus both ends down to 0
        assert {s: len(p) for s, p in series(root, kind).items()} == {"LONG": 82, "SHORT": 82}
    texts = [t.text for t in root.iter(f"{SVG}text")]
    for title in ("entry_target rate per week", "MFE (bps), clipped at p99", "MAE (bps), clipped at p99"):
        assert title in texts
    dates = [t for t in texts if t and len(t) == 10 and t[4] == t[7] == "-"]
    assert dates[0] == "2023-08-31" and 2 <= len(dates) <= 4
    assert texts.count("LONG") == texts.count("SHORT") == 3  # a legend per panel


def test_rates_are_drawn_higher_for_higher_rates() -> None:
    weekly = {"LONG": {FIRST_WEEK: [100, 10], FIRST_WEEK + 1: [100, 50], FIRST_WEEK + 2: [100, 30]}, "SHORT": {}}
    (x0, y0), (x1, y1), (x2, y2) = series(parse(entry_chart_svg(weekly, {}, {})), "rate")["LONG"]
    assert x0 < x1 < x2 and y1 < y2 < y0  # SVG's y grows downwards


def test_missing_sides_draw_fewer_series() -> None:
    weekly = {"LONG": weekly_rates(5), "SHORT": {}}
    root = parse(entry_chart_svg(weekly, {"SHORT": histogram(1)}, {}))
    assert set(series(root, "rate")) == {"LONG"}
    assert set(series(root, "mfe")) == {"SHORT"}
    assert series(root, "mae") == {}


def test_empty_and_single_week_charts_are_valid() -> None:
    root = parse(entry_chart_svg({"LONG": {}, "SHORT": {}}, {}, {}))
    assert list(root.iter(f"{SVG}polyline")) == []
    root = parse(entry_chart_svg({"LONG": {FIRST_WEEK: [10, 3]}, "SHORT": {}}, {}, {}))
    assert len(series(root, "rate")["LONG"]) == 1
    assert "2023-08-31" in [t.text for t in root.iter(f"{SVG}text")]


def test_non_finite_and_degenerate_histograms_are_drawn_without_them() -> None:
    counts, edges = histogram(5)
    edges[3] = np.nan
    counts[10] = np.inf
    zeros = (np.zeros(40), np.linspace(0.0, 0.0, 41))  # all-zero counts over a zero-width range
    document = entry_chart_svg({"LONG": weekly_rates(3)}, {"LONG": (counts, edges)}, {"LONG": zeros})
    root = parse(document)
    assert len(series(root, "mfe")["LONG"]) == 82 - 2 - 2  # edge 3's four corners, bin 10's two tops
    assert len(series(root, "mae")["LONG"]) == 82
    assert b"nan" not in document.lower() and b"inf" not in document.lower()


def test_entry_chart_is_deterministic() -> None:
    assert full_entry_chart() == full_entry_chart()


TARGETS, STOPS = ["10", "20", "30"], ["5", "10", "15", "20"]


def heatmap(panels: list[tuple[str, np.ndarray]], title: str = "mean net edge (bps) per plan") -> bytes:
    return heatmap_svg(panels, TARGETS, STOPS, title, "target bps", "stop bps", columns=2)


def cells(root: ET.Element) -> list[ET.Element]:
    return [r for r in root.iter(f"{SVG}rect") if r.get("class") == "cell"]


def rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def test_heatmap_has_a_coloured_cell_per_finite_value() -> None:
    grids = [np.arange(12.0).reshape(3, 4) - 5, np.full((3, 4), np.nan), np.arange(12.0).reshape(3, 4)]
    grids[2][1, 2] = np.nan
    grids[2][0, 0] = -np.inf
    root = parse(heatmap([(f"panel {k}", g) for k, g in enumerate(grids)]))
    assert len(cells(root)) == 3 * 3 * 4 - 12 - 2
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "-5.00" in texts and "6.00" in texts and "11.00" in texts and "nan" not in texts
    assert {"panel 0", "panel 1", "panel 2", "target bps", "stop bps"} <= set(texts)
    assert texts.count("15") == 3  # column labels under each panel


def test_lowest_value_is_red_and_highest_green() -> None:
    grid = np.array([[0.5, 3.0, -2.0, 1.0], [0.0, 0.1, 0.2, 0.3], [np.nan, 1.5, 2.5, 0.7]])
    fills = {(c.get("x"), c.get("y")): rgb(c.get("fill")) for c in cells(parse(heatmap([("LONG", grid)])))}
    ordered = sorted(fills, key=lambda xy: (float(xy[1]), float(xy[0])))  # row by row
    finite = grid[np.isfinite(grid)]
    low, high = fills[ordered[int(np.argmin(finite))]], fills[ordered[int(np.argmax(finite))]]
    assert low[0] > 150 and low[1] < 60  # red
    assert high[1] > 90 and high[0] < 60  # green


def test_a_flat_panel_gets_the_middle_colour() -> None:
    root = parse(heatmap([("flat", np.full((3, 4), 2.0))]))
    for cell in cells(root):
        r, g, b = rgb(cell.get("fill"))
        assert r > 240 and g > 240 and b < 200  # the pale yellow middle


def test_heatmap_escapes_text_and_is_deterministic() -> None:
    panels = [("a < b & c", np.arange(12.0).reshape(3, 4))]
    document = heatmap(panels, title="edge <&> per plan")
    assert document == heatmap(panels, title="edge <&> per plan")
    root = parse(document)
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "edge <&> per plan" in texts and "a < b & c" in texts
    assert root.find(f"{SVG}title").text == "edge <&> per plan"


def test_empty_heatmap_and_odd_columns_are_valid() -> None:
    assert cells(parse(heatmap_svg([], TARGETS, STOPS, "none", "t", "s", columns=3))) == []
    one = [("x", np.ones((3, 4)))] * 3
    assert len(cells(parse(heatmap_svg(one, TARGETS, STOPS, "t", "t", "s", columns=0)))) == 36


@pytest.mark.filterwarnings("error::RuntimeWarning")  # a value span wider than the largest float once overflowed
@settings(max_examples=60, deadline=None)
@given(grids=st.lists(hnp.arrays(np.float64, (3, 4), elements=st.floats(allow_nan=True, allow_infinity=True)), max_size=4))
def test_any_heatmap_parses_with_finite_coordinates(grids) -> None:
    document = heatmap([(str(k), g) for k, g in enumerate(grids)])
    root = parse(document)
    assert len(cells(root)) == sum(int(np.isfinite(g).sum()) for g in grids)
    for element in root.iter():
        for name in ("x", "y", "width", "height"):
            if element.get(name) is not None and not element.get(name).endswith("%"):
                assert math.isfinite(float(element.get(name)))


@pytest.mark.filterwarnings("error::RuntimeWarning")
@pytest.mark.parametrize(
    "lo, hi",
    [(0.0, 5e-324), (-5e-324, 5e-324), (-1.7e308, 1.7e308), (-np.finfo(float).max, np.finfo(float).max), (1.0, 3.0)],
)
def test_a_cell_colour_spans_its_grid_from_lo_to_hi(lo, hi) -> None:
    """Spans that underflow when halved (subnormal) and overflow when subtracted (wider than the
    largest float) both run from 0 at the lowest value to 1 at the highest, found by hypothesis."""
    assert charts._position(lo, lo, hi) == 0.0 and charts._position(hi, lo, hi) == 1.0
    assert 0.0 <= charts._position(lo / 2 + hi / 2, lo, hi) <= 1.0
    assert charts._position(hi, hi, hi) == 0.5
    parse(heatmap([("0", np.array([[lo, hi, np.nan]]))]))


@given(lo=st.floats(-1e6, 1e6), span=st.floats(0, 1e6))
def test_nice_ticks_cover_the_range_in_round_steps(lo, span) -> None:
    ticks = charts._nice_ticks(lo, lo + span)
    assert 2 <= len(ticks) <= 7
    step = ticks[1] - ticks[0]
    assert ticks[0] <= lo + 1e-6 * step and ticks[-1] >= lo + span - 1e-6 * step
    mantissa = step / 10 ** math.floor(math.log10(step))
    assert any(math.isclose(mantissa, m, rel_tol=1e-6) for m in (1, 2, 5, 10))


def test_importing_charts_does_not_import_matplotlib() -> None:
    check = "import label_pipeline.charts, sys; assert not any(m.startswith('matplotlib') for m in sys.modules)"
    subprocess.run([sys.executable, "-c", check], check=True)
