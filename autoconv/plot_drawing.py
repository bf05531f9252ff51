"""``plot_model``'s pictures, drawn with Pillow in place of Graphviz.

The boxes go in ranks by their longest path from the model's inputs (the first rank holds the
boxes no edge points to); the ranks follow each other top to bottom (``"TB"``), left to right
(``"LR"``), or the other way (``"BT"``, ``"RL"``). An edge that skips ranks bends through a
point in each rank it crosses, so that it passes between boxes, not through them. Within a
rank the boxes and bends are ordered by where their neighbours in the rank before (then after)
are, which keeps branches apart, and the rank is centred. Sizes are in points (1/72 inch) as
Graphviz's are, and ``dpi`` turns them into pixels. Each box is Keras's table: a black title
row, then the activation row and the row of shape, dtype and trainable cells.
"""

from __future__ import annotations

import functools
import io
import itertools
import warnings
from dataclasses import dataclass
from typing import Any

from autoconv.plot_graph import Box, ModelGraph

# Sizes in points: Keras's font sizes, Graphviz's rank and node separations (0.5 and 0.25
# inch), its pen width; the padding inside a cell is smaller than Keras's cellpadding of 10.
TITLE_SIZE, TEXT_SIZE = 16, 14
PADDING, SPACING = 7, 2  # around a cell's text; between a box's cells (the black frame)
RANK_GAP, ITEM_GAP = 36, 18
MARGIN, CLUSTER_PADDING = 8, 8
PEN, ARROW_LENGTH, ARROW_WIDTH = 2, 10, 7
LINE_HEIGHT = 1.2  # a line of text, in font sizes
MAX_SIDE = 32767  # pixels: Graphviz's (cairo's) largest picture
# Fonts close to Keras's Helvetica that Pillow finds by name on Linux, macOS and Windows.
FONTS = {
    False: ("DejaVuSans.ttf", "Arial.ttf", "arial.ttf"),
    True: ("DejaVuSans-Bold.ttf", "Arial Bold.ttf", "arialbd.ttf"),
}


@dataclass
class _Cell:
    """A table cell as drawn: runs of (text, bold), its colours and font size (points)."""

    runs: list[tuple[str, bool]]
    background: str
    color: str
    size: int


def draw(graph: ModelGraph, rankdir: str, dpi: float, image_format: str) -> bytes:
    """The picture of ``graph`` as the bytes of an ``image_format`` file (a Pillow format
    name), ``dpi`` pixels an inch; a picture too big for one image is drawn smaller, with a
    warning, as Graphviz does."""
    from PIL import Image, ImageDraw

    scale = dpi / 72
    layout = _lay_out(graph, rankdir, scale)
    width, height = layout.size
    limit = Image.MAX_IMAGE_PIXELS or float("inf")  # what Pillow opens without a warning
    shrink = min(1, MAX_SIDE / max(width, height), (limit / (width * height)) ** 0.5)
    if shrink < 1:
        scale *= 0.98 * shrink  # (sizes are rounded to pixels)
        layout = _lay_out(graph, rankdir, scale)
        warnings.warn(
            f"plot_model: the picture at dpi={dpi} would be {width}x{height} pixels, drawn at "
            f"dpi={round(scale * 72)} ({layout.size[0]}x{layout.size[1]}) to fit one image",
            stacklevel=3,
        )
    image = Image.new("RGB", layout.size, "white")
    pen = ImageDraw.Draw(image)
    padding, frame = _frame(scale)
    for cluster in graph.clusters():
        rects = [layout.rect(box.key) for box in cluster.boxes()]
        levels = cluster.depth() + 1  # its frame holds those of the models inside it
        left = min(r[0] for r in rects) - levels * padding
        top = min(r[1] for r in rects) - levels * frame
        right = max(r[2] for r in rects) + levels * padding
        bottom = max(r[3] for r in rects) + levels * padding
        _dashed_rectangle(pen, (left, top, right, bottom), _px(1, scale), _px(5, scale))
        corner = (left + padding // 2, top + padding // 2)
        pen.text(corner, cluster.name, "black", _font(TEXT_SIZE, scale))
    for points in layout.edges():
        _arrow(pen, points, scale)
    for box in graph.boxes():
        _draw_table(pen, _rows(box), layout.rect(box.key), scale)
    buffer = io.BytesIO()
    # PDF reads the resolution from `resolution`, the other formats from `dpi`.
    image.save(buffer, format=image_format, dpi=(dpi, dpi), resolution=float(dpi))
    return buffer.getvalue()


def _frame(scale: float) -> tuple[int, int]:
    """How far a cluster's frame reaches beyond its boxes: on the sides and below, and above
    (where its name goes)."""
    padding = _px(CLUSTER_PADDING, scale)
    return padding, padding + _px(TEXT_SIZE * LINE_HEIGHT, scale)


def _lay_out(graph: ModelGraph, rankdir: str, scale: float) -> _Layout:
    """The boxes at ``scale`` pixels a point, with room between ranks and between boxes for
    the frames of expanded nested models."""
    sizes = {box.key: _table_size(_rows(box), scale) for box in graph.boxes()}
    room = 2 * graph.depth() * _frame(scale)[1]
    return _Layout(
        list(sizes),
        sizes,
        graph.all_edges(),
        rankdir,
        rank_gap=_px(RANK_GAP, scale) + room,
        item_gap=_px(ITEM_GAP, scale) + room,
        margin=_px(MARGIN, scale) + room // 2,
    )


# ------------------------------------------------------------------------------ layout
class _Layout:
    """Where each box (by key) goes, and the points each edge passes through, in pixels."""

    def __init__(
        self,
        keys: list[int],
        sizes: dict[int, tuple[int, int]],
        edges: list[tuple[int, int]],
        rankdir: str,
        rank_gap: int,
        item_gap: int,
        margin: int,
    ) -> None:
        self.rankdir = rankdir
        self.along = 1 if rankdir in ("TB", "BT") else 0  # the size axis the ranks follow
        self.sizes: dict[Any, tuple[int, int]] = dict(sizes)
        rank = _ranks(keys, edges)
        rows: list[list[Any]] = [[] for _ in range(max(rank.values()) + 1)]
        for key in keys:
            rows[rank[key]].append(key)
        self.paths = []
        for number, (a, b) in enumerate(edges):
            bends = [("bend", number, r) for r in range(rank[a] + 1, rank[b])]
            for bend in bends:
                rows[bend[2]].append(bend)
                self.sizes[bend] = (0, 0)
            self.paths.append([a, *bends, b])
        _order(rows, self.paths)
        # Centres in rank space: (along the ranks, across them), each rank centred.
        self.centre: dict[Any, tuple[float, float]] = {}
        thickness = [max(self._size(item)[0] for item in row) for row in rows]
        breadths = [
            sum(self._size(item)[1] for item in row) + item_gap * (len(row) - 1) for row in rows
        ]
        along = 0
        for row, thick, breadth in zip(rows, thickness, breadths, strict=True):
            across = (max(breadths) - breadth + item_gap) / 2  # room for loops at the ends
            for item in row:
                self.centre[item] = (along + thick / 2, across + self._size(item)[1] / 2)
                across += self._size(item)[1] + item_gap
            along += thick + rank_gap
        self.extent = (along - rank_gap, max(breadths) + item_gap)
        self.margin, self.item_gap = margin, item_gap
        width, height = self.extent[::-1] if self.along == 1 else self.extent
        self.size = (round(width) + 2 * margin, round(height) + 2 * margin)

    def _size(self, item: Any) -> tuple[int, int]:
        """(along the ranks, across them)."""
        size = self.sizes[item]
        return (size[1], size[0]) if self.along == 1 else size

    def _xy(self, along: float, across: float) -> tuple[float, float]:
        """Rank space to pixels; "BT" and "RL" run the ranks backwards."""
        if self.rankdir in ("BT", "RL"):
            along = self.extent[0] - along
        point = (across, along) if self.along == 1 else (along, across)
        return point[0] + self.margin, point[1] + self.margin

    def rect(self, key: int) -> tuple[int, int, int, int]:
        """The box's (left, top, right, bottom) pixels."""
        x, y = self._xy(*self.centre[key])
        width, height = self.sizes[key]
        left, top = round(x - width / 2), round(y - height / 2)
        return left, top, left + width, top + height

    def edges(self) -> list[list[tuple[float, float]]]:
        """Each edge's points: out of its source's far side, through its bends, into the
        near side of its destination."""
        lines = []
        for path in self.paths:
            (a_along, a_across), (b_along, b_across) = self.centre[path[0]], self.centre[path[-1]]
            if path[0] == path[-1]:  # a layer called on its own output: a loop on its side
                thick, broad = self._size(path[0])
                side, out = a_across + broad / 2, a_across + broad / 2 + self.item_gap / 2
                early, late = a_along - thick / 4, a_along + thick / 4
                points = [(early, side), (early, out), (late, out), (late, side)]
            else:
                start = (a_along + self._size(path[0])[0] / 2, a_across)
                end = (b_along - self._size(path[-1])[0] / 2, b_across)
                points = [start, *(self.centre[bend] for bend in path[1:-1]), end]
            lines.append([self._xy(*point) for point in points])
        return lines


def _ranks(keys: list[int], edges: list[tuple[int, int]]) -> dict[int, int]:
    """Each box's longest path from a box no edge points to (a layer called on its own
    output has an edge to itself, left out here; the edges make no other cycle)."""
    rank = dict.fromkeys(keys, 0)
    waiting = dict.fromkeys(keys, 0)
    after: dict[int, list[int]] = {key: [] for key in keys}
    for a, b in (edge for edge in edges if edge[0] != edge[1]):
        waiting[b] += 1
        after[a].append(b)
    ready = [key for key in keys if waiting[key] == 0]
    while ready:
        key = ready.pop()
        for child in after[key]:
            rank[child] = max(rank[child], rank[key] + 1)
            waiting[child] -= 1
            if waiting[child] == 0:
                ready.append(child)
    return rank


def _order(rows: list[list[Any]], paths: list[list[Any]]) -> None:
    """Sort each rank by the mean place of its items' neighbours in the rank before, then,
    sweeping back, after (places counted from the rank's middle); items without neighbours
    there keep theirs."""
    before: dict[Any, list[Any]] = {item: [] for row in rows for item in row}
    after: dict[Any, list[Any]] = {item: [] for row in rows for item in row}
    for path in paths:
        for a, b in itertools.pairwise(path):
            after[a].append(b)
            before[b].append(a)
    place = {item: i - (len(row) - 1) / 2 for row in rows for i, item in enumerate(row)}

    def sort(row: list[Any], neighbours: dict[Any, list[Any]]) -> None:
        def key(item: Any) -> float:
            near = neighbours[item]
            return sum(place[n] for n in near) / len(near) if near else place[item]

        row.sort(key=key)
        place.update({item: i - (len(row) - 1) / 2 for i, item in enumerate(row)})

    for _ in range(2):
        for row in rows[1:]:
            sort(row, before)
        for row in reversed(rows[:-1]):
            sort(row, after)


# ------------------------------------------------------------------------------ tables
def _rows(box: Box) -> list[list[_Cell]]:
    """Keras's table for a box: the title, the activation, then the cells in one row."""
    title = (
        [(box.name, True), (f" ({box.class_name})", False)]
        if box.name is not None
        else [(box.class_name, True)]
    )
    rows = [[_Cell(title, "black", "white", TITLE_SIZE)]]
    if box.activation is not None:
        runs = [("Activation: ", False), (box.activation, True)]
        rows.append([_Cell(runs, "white", "black", TEXT_SIZE)])
    if box.cells:
        rows.append(
            [
                _Cell(
                    [(cell.caption, False), (cell.value, True)],
                    cell.color,
                    "black" if cell.color == "white" else "white",
                    TEXT_SIZE,
                )
                for cell in box.cells
            ]
        )
    return rows


def _cell_size(cell: _Cell, scale: float) -> tuple[int, int]:
    width = sum(_font(cell.size, scale, bold).getlength(text) for text, bold in cell.runs)
    padding = 2 * _px(PADDING, scale)
    return round(width) + padding, _px(cell.size * LINE_HEIGHT, scale) + padding


def _row_size(row: list[_Cell], scale: float) -> tuple[int, int]:
    sizes = [_cell_size(cell, scale) for cell in row]
    spacing = _px(SPACING, scale)
    return sum(w for w, _ in sizes) + spacing * (len(row) - 1), max(h for _, h in sizes)


def _table_size(rows: list[list[_Cell]], scale: float) -> tuple[int, int]:
    spacing = _px(SPACING, scale)
    sizes = [_row_size(row, scale) for row in rows]
    width = max(w for w, _ in sizes) + 2 * spacing
    return width, sum(h for _, h in sizes) + spacing * (len(rows) + 1)


def _draw_table(
    pen: Any, rows: list[list[_Cell]], rect: tuple[int, int, int, int], scale: float
) -> None:
    """The black table with its cells; a row narrower than the table has its cells widened
    alike."""
    left, top, right, bottom = rect
    spacing = _px(SPACING, scale)
    pen.rectangle((left, top, right - 1, bottom - 1), fill="black")
    y = top + spacing
    for row in rows:
        row_width, row_height = _row_size(row, scale)
        extra = (right - left - 2 * spacing - row_width) / len(row)
        x = left + spacing
        for cell in row:
            width = _cell_size(cell, scale)[0] + extra
            pen.rectangle((round(x), y, round(x + width) - 1, y + row_height - 1), cell.background)
            text_width = sum(_font(cell.size, scale, b).getlength(t) for t, b in cell.runs)
            text_x = x + (width - text_width) / 2
            text_y = y + (row_height - _px(cell.size * LINE_HEIGHT, scale)) / 2
            for text, bold in cell.runs:
                font = _font(cell.size, scale, bold)
                pen.text((round(text_x), round(text_y)), text, cell.color, font)
                text_x += font.getlength(text)
            x += width + spacing
        y += row_height + spacing


# ------------------------------------------------------------------------------- lines
def _arrow(pen: Any, points: list[tuple[float, float]], scale: float) -> None:
    """A line through ``points`` ending in an arrowhead at the last one."""
    (x0, y0), (x1, y1) = points[-2], points[-1]
    length = max(((x1 - x0) ** 2 + (y1 - y0) ** 2) ** 0.5, 1e-9)
    dx, dy = (x1 - x0) / length, (y1 - y0) / length  # the last segment's direction
    head, half = ARROW_LENGTH * scale, ARROW_WIDTH * scale / 2
    base = (x1 - dx * head, y1 - dy * head)
    pen.line([*points[:-1], base], "black", _px(PEN, scale), joint="curve")
    corners = [
        (base[0] - dy * half, base[1] + dx * half),
        (base[0] + dy * half, base[1] - dx * half),
    ]
    pen.polygon([(x1, y1), *corners], "black")


def _dashed_rectangle(
    pen: Any, rect: tuple[float, float, float, float], width: int, dash: int
) -> None:
    left, top, right, bottom = rect
    corners = [(left, top), (right, top), (right, bottom), (left, bottom), (left, top)]
    for (x0, y0), (x1, y1) in itertools.pairwise(corners):
        length = abs(x1 - x0) + abs(y1 - y0)  # the sides are straight
        for start in range(0, round(length), 2 * dash):
            end = min(start + dash, length)
            pen.line(
                [
                    (x0 + (x1 - x0) * start / length, y0 + (y1 - y0) * start / length),
                    (x0 + (x1 - x0) * end / length, y0 + (y1 - y0) * end / length),
                ],
                "black",
                width,
            )


# ------------------------------------------------------------------------------- fonts
def _px(points: float, scale: float) -> int:
    """``points`` in pixels, at least one."""
    return max(1, round(points * scale))


@functools.lru_cache(maxsize=16)
def _font(size: int, scale: float, bold: bool = False) -> Any:
    """A TrueType sans-serif of ``size`` points; Pillow's own font where none is found."""
    from PIL import ImageFont

    pixels = _px(size, scale)
    for name in FONTS[bold]:
        try:
            return ImageFont.truetype(name, pixels)
        except OSError:
            continue
    try:
        return ImageFont.load_default(pixels)
    except TypeError:  # Pillow before 10.1: one small bitmap font
        return ImageFont.load_default()
