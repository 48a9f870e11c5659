"""The arrows between Flows' parts (DESIGN "Allowed arrows between parts"), checked on the source.

Every import counts, wherever it stands: at the top, inside a function, or under
TYPE_CHECKING. A part may import itself, the leaf modules of shared plumbing, and the parts the
table names; nothing else.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

import flows

ROOT = Path(flows.__file__).parent
FACTS, PLUMBING = "meterdata", "plumbing"
# Leaf modules of shared plumbing: anyone may use them, they import nothing else of Flows.
PLUMBING_MODULES = {"eventloop", "health", "logs", "retry"}
ALLOWED: dict[str, set[str]] = {
    FACTS: set(),
    PLUMBING: set(),
    "ivm": set(),
    "emop": {FACTS},
    "db": {FACTS},
    "meters": {"emop", FACTS},
    "mediator": {"emop", "db", FACTS},
    "collect": {"mediator", "db", FACTS},
    "views": {"db", FACTS},
    "api": {"views", "db", "mediator", FACTS},
}
ANYTHING = {"cli", "devtools"}
CLI_LIBRARIES = {"click", "typer", "rich_click"}


def part_of(module: str) -> str | None:
    """The part a ``flows…`` module belongs to (None: the package itself)."""
    names = module.split(".")
    if names[0] != "flows" or len(names) == 1:
        return None
    return PLUMBING if names[1] in PLUMBING_MODULES else names[1]


def module_name(path: Path) -> str:
    relative = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(source: str, module: str, is_package: bool) -> Iterator[str]:
    """Every module ``source`` imports, relative imports resolved."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            yield target
            # `from flows.ivm import operators` imports the module flows.ivm.operators (a name
            # that is no module matches no module, and belongs to the same part as ``target``).
            yield from (f"{target}.{alias.name}" for alias in node.names)


def violations(sources: Iterable[tuple[str, str, bool]]) -> list[str]:
    """``module: imports target (part → part)`` for every import the table does not allow;
    ``sources`` are (module name, source text, is a package)."""
    found = []
    for module, source, is_package in sources:
        part = part_of(module)
        if part is None or part in ANYTHING:
            continue
        reported: set[str] = set()
        for target in imports(source, module, is_package):
            if part == PLUMBING and target.split(".")[0] in CLI_LIBRARIES:
                found.append(f"{module}: imports {target} (plumbing imports no CLI library)")
            target_part = part_of(target)
            if target_part is None or target_part == part:
                continue
            if target_part == PLUMBING and part not in (FACTS, "ivm"):
                continue
            if target_part not in ALLOWED.get(part, set()) and target_part not in reported:
                reported.add(target_part)  # once per part, not again for each imported name
                found.append(f"{module}: imports {target} ({part} → {target_part})")
    return found


def flows_sources() -> list[tuple[str, str, bool]]:
    return [(module_name(path), path.read_text(), path.name == "__init__.py")
            for path in sorted(ROOT.rglob("*.py"))]


def test_every_import_follows_the_allowed_arrows() -> None:
    assert violations(flows_sources()) == []


def test_a_sideways_import_is_caught() -> None:
    sideways = [
        ("flows.views.cli", "from flows.collect.logs import configure_logging", False),
        ("flows.collect.syncers", "def f():\n    from flows.emop import records\n", False),
        ("flows.api.app", "from flows.collect import sync_cycle", False),
        ("flows.emop.records", "from ..db import connect", False),
        ("flows.eventloop", "import click", False),
        ("flows.ivm.graph", "from flows import eventloop", False),
        ("flows.views.feeder", "import flows.ivm as st", False),
    ]
    assert violations(sideways) == [
        "flows.views.cli: imports flows.collect.logs (views → collect)",
        "flows.collect.syncers: imports flows.emop (collect → emop)",
        "flows.api.app: imports flows.collect (api → collect)",
        "flows.emop.records: imports flows.db (emop → db)",
        "flows.eventloop: imports click (plumbing imports no CLI library)",
        "flows.ivm.graph: imports flows.eventloop (ivm → plumbing)",
        "flows.views.feeder: imports flows.ivm (views → ivm)",
    ]


def test_what_the_table_allows_passes() -> None:
    allowed = [
        ("flows.views.rules", "from flows.meterdata import HALF_HOUR", False),
        ("flows.collect.cli", "from flows import eventloop\nfrom flows.logs import configure_logging",
         False),
        ("flows.cli", "from flows.collect.cli import sync\nfrom flows.api import create_app", True),
        ("flows.db", "from flows.db.connection import connect\nfrom . import registry", True),
    ]
    assert violations(allowed) == []


def test_no_import_cycle_inside_ivm() -> None:
    modules = {name: source for name, source, _ in flows_sources() if part_of(name) == "ivm"}
    packages = {name for name, _, is_package in flows_sources() if is_package}
    graph = {name: {target for target in imports(source, name, name in packages) if target in modules
                    and target != name and target != "flows.ivm"}
             for name, source in modules.items() if name != "flows.ivm"}
    cycles = []

    def visit(name: str, path: list[str]) -> None:
        for target in sorted(graph.get(name, ())):
            if target in path:
                cycles.append(" → ".join([*path[path.index(target):], target]))
            elif target not in done:
                visit(target, [*path, target])
        done.add(name)

    done: set[str] = set()
    for name in sorted(graph):
        if name not in done:
            visit(name, [name])
    assert cycles == []


# SQL lives in flows.db (the Flows schema), flows.ivm (its own stores) and the views' table
# module (their own tables): a statement anywhere else is a second home for it.
SQL_HOMES = ("flows.db", "flows.ivm", "flows.views.store")
SQL_STATEMENT = re.compile(r"\b(SELECT\s+[\w*(]|INSERT\s+INTO|DELETE\s+FROM|UPDATE\s+\w+\s+SET|"
                           r"CREATE\s+(TABLE|INDEX|VIEW)|DROP\s+TABLE|TRUNCATE\s+\w)")


def sql_outside_its_homes(sources: Iterable[tuple[str, str, bool]]) -> list[str]:
    """``module: line N`` for every string literal holding SQL outside `SQL_HOMES`."""
    found = []
    for module, source, _ in sources:
        if module.startswith(SQL_HOMES):
            continue
        for node in ast.walk(ast.parse(source)):
            if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                    and SQL_STATEMENT.search(node.value)):
                found.append(f"{module}: line {node.lineno}")
    return found


def test_sql_only_in_db_ivm_and_the_views_tables() -> None:
    assert sql_outside_its_homes(flows_sources()) == []


def test_sql_elsewhere_is_caught() -> None:
    assert sql_outside_its_homes([
        ("flows.api.app", 'x = 1\nq = "SELECT 1 AS ready"', False),
        ("flows.views.rebuild", 'q = ("SELECT DISTINCT meter_id FROM meter_registers "\n'
                                '"ORDER BY 1")', False),
        ("flows.views.store.aggregates", 'q = "DELETE FROM usage_meter_daily"', False),
        ("flows.api.ui.fleet", '"""Select a meter to see its usage."""', False),
    ]) == ["flows.api.app: line 2", "flows.views.rebuild: line 1"]
