"""The import graph runs one way (docs/architecture.md, "Layers"): a package imports only those
below it, and no two modules import each other, counting imports inside functions."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Lower number: lower layer. A package may import packages of a lower layer, and the few
# same-layer packages listed in SIDEWAYS.
LAYER = {
    "core": 0,
    "accounts": 1,
    "providers": 2,
    "conversations": 3,
    "memory": 3,
    "routing": 3,
    "agents": 4,
    "jobs": 4,
    "mosaic": 5,
}
SIDEWAYS = {
    ("memory", "conversations"),  # an insight remembers the conversation it came from
    ("agents", "jobs"),  # the turn records agent events and enqueues jobs
}


def _modules() -> dict[str, Path]:
    found = {}
    for package in LAYER:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def _imports(path: Path, module: str) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")[: -node.level or None]
                prefix = ".".join([*base, node.module] if node.module else base)
            else:
                prefix = node.module or ""
            names.add(prefix)
            names.update(f"{prefix}.{alias.name}" for alias in node.names)
    return names


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {
        name: {target for target in _imports(path, name) if target in modules and target != name}
        for name, path in modules.items()
    }


def test_no_package_imports_a_higher_one() -> None:
    wrong = []
    for module, targets in _graph().items():
        source = module.split(".")[0]
        for target in targets:
            dest = target.split(".")[0]
            if dest == source:
                continue
            if LAYER[dest] > LAYER[source] or (
                LAYER[dest] == LAYER[source] and (source, dest) not in SIDEWAYS
            ):
                wrong.append(f"{module} imports {target}")
    assert wrong == []


def test_no_import_cycle_between_modules() -> None:
    graph = _graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = 0

    def visit(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    assert cycles == []
