"""What ``plot_model`` shows of a model, apart from how it is shown: a box per layer (its
title, activation and cells) and the edges between them, nested models as clusters. Made by
:func:`autoconv.plot_model.model_graph`; written as DOT text there, drawn with Pillow in
:mod:`autoconv.plot_drawing`."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Cell:
    """A cell of a box's bottom row: ``caption`` then ``value`` in bold, on ``color``."""

    caption: str
    value: str
    color: str = "white"


@dataclass
class Box:
    """One layer's box: its title (``name`` in bold then the class, or the class alone in
    bold when ``name`` is None), an activation row, and the cells of shapes, dtype and
    trainable. ``key`` is the layer's ``id``; ``colspan`` the column count Keras's table
    gives its full-width rows."""

    key: int
    name: str | None
    class_name: str
    activation: str | None = None
    cells: list[Cell] = field(default_factory=list)
    colspan: int = 1


@dataclass
class ModelGraph:
    """A model's boxes and expanded nested models (``items``, in Keras's order) and its
    ``edges`` as (source key, destination key), each once."""

    name: str
    items: list[Box | ModelGraph]
    edges: list[tuple[int, int]]

    def boxes(self) -> list[Box]:
        """Every box, those of nested models included, in drawing order."""
        found: list[Box] = []
        for item in self.items:
            found += item.boxes() if isinstance(item, ModelGraph) else [item]
        return found

    def clusters(self) -> list[ModelGraph]:
        """The expanded nested models, at every level."""
        found: list[ModelGraph] = []
        for item in self.items:
            if isinstance(item, ModelGraph):
                found += [item, *item.clusters()]
        return found

    def depth(self) -> int:
        """How many levels of expanded nested models it holds."""
        return max((c.depth() + 1 for c in self.items if isinstance(c, ModelGraph)), default=0)

    def all_edges(self) -> list[tuple[int, int]]:
        """Its edges and those of its expanded nested models, each once."""
        edges = dict.fromkeys(self.edges)
        for cluster in self.clusters():
            edges.update(dict.fromkeys(cluster.edges))
        return list(edges)
