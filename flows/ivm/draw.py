"""`write_png`: a compiled query drawn with Graphviz, to read its shape (the optional extra
``flows[png]``: the ``graphviz`` package, and Graphviz's ``dot`` on the machine)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flows.ivm.errors import IvmError
from flows.ivm.graph import Graph, OperatorKind


def write_png(graph: Graph[Any, Any], path: str | Path, simplify_labels: bool = True,
              level: int = 2) -> None:
    """Draw ``graph`` into the PNG file ``path``: a box per operator (inputs and outputs
    bold), an arrow per stream; ``simplify_labels``: operator kinds only, else also node
    names. ``level`` is stepping's nesting depth to draw; every level is drawn here (a
    `per_group` scope is a cluster)."""
    try:
        import graphviz
    except ImportError:
        raise IvmError("write_png needs the graphviz package: pip install 'flows[png]' "
                       "(and Graphviz's dot: apt-get install graphviz)") from None
    drawing = graphviz.Digraph(graph.name, node_attr={"shape": "box", "fontname": "Helvetica"})
    ids = {id(node): f"n{position}" for position, node in enumerate(graph.nodes)}
    ends = {id(node) for node in (*graph.inputs, *graph.outputs)}
    for node in graph.nodes:
        label = str(node.kind) if simplify_labels else f"{node.name}\n{node.kind}"
        if node.kind == OperatorKind.INPUT:
            label = node.name
        drawing.node(ids[id(node)], label, style="bold" if id(node) in ends else "solid",
                     color="grey40" if node.depth else "black")
        for source in node.inputs:
            drawing.edge(ids[id(source)], ids[id(node)])
    try:
        png = drawing.pipe(format="png")
    except graphviz.ExecutableNotFound:
        raise IvmError("write_png needs Graphviz's dot program (apt-get install graphviz)") from None
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(png)
