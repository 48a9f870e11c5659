"""flows.ivm stands alone: it imports nothing else from flows (checked on the source)."""

from __future__ import annotations

import ast
from pathlib import Path

import flows.ivm

PACKAGE = Path(flows.ivm.__file__).parent


def test_ivm_imports_nothing_else_from_flows() -> None:
    offending = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level
                     else [])
            offending += [f"{path.name}: {name}" for name in names
                          if (name == "flows" or name.startswith("flows."))
                          and not name.startswith("flows.ivm")]
    assert offending == []
