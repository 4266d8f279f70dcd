"""Small hand-written SVG charts for the reports embedded in asset metadata as markdown
``data:image/svg+xml`` images (the UI's markdown sanitizer lets ``data:`` image sources through).

Why not matplotlib: a Dagster step is a fresh process, and importing matplotlib and loading its
font cache cost ~1.3 s there, then 0.2-0.4 s per chart warm, for two small pictures a partition.
Writing the SVG by hand costs a few milliseconds. The price is a fixed layout: every size and
margin is a constant and no font is measured; text is sized by a fixed per-character width
estimate (``_CHAR_EM`` of the font size), so an unusually long label overflows its margin instead
of moving the plot. Same input, same bytes; plain SVG 1.1 that any XML parser reads.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from xml.sax.saxutils import escape

import numpy as np

from label_pipeline.kernel.units import SIDES

_COLOURS = {"LONG": "#1f77b4", "SHORT": "#ff7f0e"}
_DASHES = {"LONG": "", "SHORT": ' stroke-dasharray="5 3"'}
_CHAR_EM = 0.6  # estimated width of one character, in font sizes
# matplotlib's RdYlGn anchors (ColorBrewer): low red, middle yellow, high green
_RDYLGN = [tuple(int(h[k : k + 2], 16) for k in (0, 2, 4)) for h in (
    "a50026 d73027 f46d43 fdae61 fee08b ffffbf d9ef8b a6d96a 66bd63 1a9850 006837".split())]


def _num(value: float) -> str:
    text = f"{round(value, 10):.6g}"
    return "0" if text == "-0" else text


def _c(value: float) -> str:
    return f"{value:.1f}"


def _text(x: float, y: float, text: str, size: float = 8, anchor: str = "middle", extra: str = "") -> str:
    return f'<text x="{_c(x)}" y="{_c(y)}" font-size="{size}" text-anchor="{anchor}"{extra}>{escape(text)}</text>'


def _document(width: float, height: float, title: str, body: list[str]) -> bytes:
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{width:.0f}" height="{height:.0f}" '
            f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="sans-serif">')
    rows = [head, f"<title>{escape(title)}</title>", '<rect width="100%" height="100%" fill="white"/>', *body]
    return "\n".join([*rows, "</svg>", ""]).encode("utf-8")


def _nice_ticks(lo: float, hi: float, target: int = 4) -> list[float]:
    """Round ticks (steps of 1, 2 or 5 times a power of ten) covering lo..hi."""
    if not hi - lo > 1e-9 * max(abs(lo), abs(hi), 1.0):  # (about) one value: open a range around it
        pad = abs(lo) * 0.1 if abs(lo) > 1e-6 else 0.5
        lo, hi = lo - pad, hi + pad
    span = hi - lo
    if not math.isfinite(span):
        return [lo, hi]
    raw = span / target
    magnitude = 10.0 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw * (1 - 1e-9))
    first, last = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)
    return [i * step for i in range(first, last + 1)]


def _scale(lo: float, hi: float, a: float, b: float) -> Callable[[Any], np.ndarray]:
    """lo..hi onto pixels a..b, halving first so that no difference of finite values overflows
    (what is still not finite, the caller leaves out)."""
    half_span = hi / 2 - lo / 2 if hi > lo else 1.0

    def scale(v: Any) -> np.ndarray:
        with np.errstate(all="ignore"):
            return a + (np.asarray(v, dtype=np.float64) / 2 - lo / 2) / half_span * (b - a)

    return scale


# entry chart: three panels of _PANEL_W, each plot area inset by these margins (px)
_WIDTH, _HEIGHT, _PANEL_W = 720, 190, 240
_LEFT, _RIGHT, _TOP, _BOTTOM = 42, 10, 22, 46


def _panel(left: float, title: str, series: dict[str, tuple[np.ndarray, np.ndarray]], kind: str,
           x_range: tuple[float, float], x_ticks: list[tuple[float, str]], y_ticks: list[float],
           markers: bool) -> list[str]:
    """One panel: frame, ticks, each side's polyline (finite points only) and a legend."""
    x0, x1, y0, y1 = left + _LEFT, left + _PANEL_W - _RIGHT, _TOP, _HEIGHT - _BOTTOM
    sx, sy = _scale(*x_range, x0, x1), _scale(y_ticks[0], y_ticks[-1], y1, y0)
    out = [_text((x0 + x1) / 2, 14, title, 9),
           f'<rect x="{_c(x0)}" y="{_c(y0)}" width="{_c(x1 - x0)}" height="{_c(y1 - y0)}" fill="none" stroke="#444"/>']
    x_ticks = [(float(sx(v)), label) for v, label in x_ticks if math.isfinite(sx(v))]
    y_ticks = [v for v in y_ticks if math.isfinite(sy(v))]
    for x, label in x_ticks:
        out.append(f'<line x1="{_c(x)}" y1="{_c(y1)}" x2="{_c(x)}" y2="{_c(y1 + 3)}" stroke="#444"/>')
        rotate = f' transform="rotate(-30 {_c(x)} {_c(y1 + 11)})"' if kind == "rate" else ""
        out.append(_text(x, y1 + 11, label, 7, "end" if rotate else "middle", rotate))
    for value in y_ticks:
        y = float(sy(value))
        out.append(f'<line x1="{_c(x0 - 3)}" y1="{_c(y)}" x2="{_c(x0)}" y2="{_c(y)}" stroke="#444"/>')
        out.append(_text(x0 - 5, y + 2.5, _num(value), 7, "end"))
    for side, (xs, ys) in series.items():
        px, py = sx(xs), sy(ys)
        keep = np.isfinite(px) & np.isfinite(py)
        px, py = px[keep], py[keep]
        points = " ".join(f"{_c(a)},{_c(b)}" for a, b in zip(px, py, strict=True))
        out.append(f'<polyline class="series {kind}-{side}" points="{points}" fill="none" '
                   f'stroke="{_COLOURS[side]}" stroke-width="1.3"{_DASHES[side]}/>')
        if markers:
            out += [f'<circle cx="{_c(a)}" cy="{_c(b)}" r="1.8" fill="{_COLOURS[side]}"/>' for a, b in zip(px, py, strict=True)]
    if series:  # legend, top right, over a translucent box
        out.append(f'<rect x="{_c(x1 - 62)}" y="{_c(y0 + 2)}" width="58" height="{11 * len(series) + 3}" '
                   'fill="white" fill-opacity="0.8" stroke="#ccc"/>')
    for k, side in enumerate(series):
        y = y0 + 9 + 11 * k
        out.append(f'<line x1="{_c(x1 - 58)}" y1="{_c(y)}" x2="{_c(x1 - 40)}" y2="{_c(y)}" '
                   f'stroke="{_COLOURS[side]}" stroke-width="1.3"{_DASHES[side]}/>')
        out.append(_text(x1 - 36, y + 2.5, side, 7, "start"))
    return out


def _finite_range(arrays: list[np.ndarray], default: tuple[float, float]) -> tuple[float, float]:
    finite = [a[np.isfinite(a)] for a in arrays]
    values = np.concatenate(finite) if finite else np.empty(0)
    return (float(values.min()), float(values.max())) if values.size else default


def entry_chart_svg(
    weekly: Mapping[str, Mapping[int, list[int]]],
    mfe: Mapping[str, tuple[np.ndarray, np.ndarray]],
    mae: Mapping[str, tuple[np.ndarray, np.ndarray]],
) -> bytes:
    """The entry-target rate per week and side (weekly[side][week] = [rows, targets], week counted
    from the Unix epoch), then the MFE and MAE histograms per side ((counts, edges), as stairs)."""
    rates = {}
    for side in SIDES:
        items = sorted(weekly.get(side, {}).items())
        if items:
            days = np.array([w * 7.0 for w, _ in items])
            rates[side] = (days, np.array([t / r if r else math.nan for r, t in (c[:2] for _, c in items)]))
    days = sorted({float(d) for xs, _ in rates.values() for d in xs})
    lo, hi = (days[0], days[-1]) if days else (0.0, 7.0)
    pad = max((hi - lo) * 0.04, 3.5)
    picks = sorted({days[round(i)] for i in np.linspace(0, len(days) - 1, min(4, len(days)))}) if days else []
    date_ticks = [(d, str(np.datetime64(int(d), "D"))) for d in picks]
    y_lo, y_hi = _finite_range([ys for _, ys in rates.values()], (0.0, 1.0))
    body = _panel(0, "entry_target rate per week", rates, "rate", (lo - pad, hi + pad), date_ticks,
                  _nice_ticks(y_lo, y_hi), markers=True)
    for k, (histograms, name) in enumerate(((mfe, "MFE"), (mae, "MAE")), start=1):
        series = {}
        for side in SIDES:
            if side in histograms:
                counts, edges = (np.asarray(a, dtype=np.float64).ravel() for a in histograms[side])
                xs, ys = np.repeat(edges, 2), np.concatenate([[0.0], np.repeat(counts, 2), [0.0]])
                n = min(len(xs), len(ys))  # stairs down to 0 at both ends, as matplotlib's
                series[side] = (xs[:n], ys[:n])
        x_lo, x_hi = _finite_range([xs for xs, _ in series.values()], (0.0, 1.0))
        slack = (x_hi - x_lo) * 0.02
        x_ticks = [t for t in _nice_ticks(x_lo, x_hi, 5) if x_lo - slack <= t <= x_hi + slack]
        top = max(_finite_range([ys for _, ys in series.values()], (0.0, 1.0))[1], 1.0)
        body += _panel(k * _PANEL_W, f"{name} (bps), clipped at p99", series, name.lower(), (x_lo, x_hi),
                       [(t, _num(t)) for t in x_ticks], _nice_ticks(0.0, top), markers=False)
    return _document(_WIDTH, _HEIGHT, "entry_target per week; MFE and MAE per side", body)


def _position(v: float, lo: float, hi: float) -> float:
    """Where ``v`` lies between ``lo`` and ``hi`` (0 to 1; 0.5 when they are equal). A span wider
    than the largest float (``hi - lo`` overflows) is scaled by halves; a subnormal span is not,
    since its halves round to zero. Python floats: numpy's would warn on the overflow."""
    v, lo, hi = float(v), float(lo), float(hi)
    if not hi > lo:
        return 0.5
    span = hi - lo
    if math.isinf(span):
        return (v / 2 - lo / 2) / (hi / 2 - lo / 2)
    return (v - lo) / span


def _rdylgn(t: float) -> tuple[str, bool]:
    """The colour at t in 0..1 and whether it is dark (for the text on it)."""
    pos = min(max(t, 0.0), 1.0) * (len(_RDYLGN) - 1) if math.isfinite(t) else 0.5 * (len(_RDYLGN) - 1)
    i = min(int(pos), len(_RDYLGN) - 2)
    rgb = [round(a + (b - a) * (pos - i)) for a, b in zip(_RDYLGN[i], _RDYLGN[i + 1], strict=True)]
    return "#{:02x}{:02x}{:02x}".format(*rgb), 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2] < 110


def heatmap_svg(
    panels: Sequence[tuple[str, np.ndarray]],
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    title: str,
    row_axis: str,
    col_axis: str,
    columns: int,
) -> bytes:
    """Heat maps of (panel title, 2-D grid rows x columns), `columns` a row, each coloured red (low)
    to green (high) over its own finite values, each cell showing its value; non-finite cells blank."""
    cw, ch, pad = 34, 16, 10
    label_w = max((len(s) for s in row_labels), default=0) * _CHAR_EM * 7 + 6
    n_rows, n_cols = len(row_labels), len(col_labels)
    left = 14 + label_w
    panel_w, panel_h = left + n_cols * cw + pad, 16 + n_rows * ch + 30
    per_row = max(1, min(columns, len(panels)))
    width = max(2 * pad + per_row * panel_w, 2 * pad + len(title) * _CHAR_EM * 10)
    height = 26 + math.ceil(len(panels) / per_row) * panel_h + pad
    body = [_text(width / 2, 17, title, 10, extra=' font-weight="bold"')]
    for k, (name, values) in enumerate(panels):
        grid = np.atleast_2d(np.asarray(values, dtype=np.float64))
        px, py = pad + (k % per_row) * panel_w, 26 + (k // per_row) * panel_h
        gx, gy = px + left, py + 16
        finite = grid[np.isfinite(grid)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
        gw, gh = grid.shape[1] * cw, grid.shape[0] * ch
        body.append(_text(gx + gw / 2, py + 11, name, 8))
        for (i, j), v in np.ndenumerate(grid):
            x, y = gx + j * cw, gy + i * ch
            if not math.isfinite(v):
                body.append(f'<rect class="blank" x="{_c(x)}" y="{_c(y)}" width="{cw}" height="{ch}" fill="none" stroke="#ddd"/>')
                continue
            fill, dark = _rdylgn(_position(v, lo, hi))
            body.append(f'<rect class="cell" x="{_c(x)}" y="{_c(y)}" width="{cw}" height="{ch}" fill="{fill}"/>')
            body.append(_text(x + cw / 2, y + ch / 2 + 2.5, f"{v:.2f}", 7, extra=' fill="white"' if dark else ""))
        body.append(f'<rect x="{_c(gx)}" y="{_c(gy)}" width="{gw}" height="{gh}" fill="none" stroke="#444"/>')
        body += [_text(gx - 3, gy + i * ch + ch / 2 + 2.5, s, 7, "end") for i, s in enumerate(row_labels)]
        body += [_text(gx + j * cw + cw / 2, gy + gh + 9, s, 7) for j, s in enumerate(col_labels)]
        body.append(_text(gx + gw / 2, gy + gh + 20, col_axis, 7))
        mid = gy + gh / 2
        body.append(_text(px + 7, mid, row_axis, 7, extra=f' transform="rotate(-90 {_c(px + 7)} {_c(mid)})"'))
    return _document(width, height, title, body)
