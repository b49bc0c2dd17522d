"""The import graph of linkpool stands in floors: no module imports, directly or through
others, a module that imports it back. Every relative import counts, those inside
functions too, and so do the modules loaded by name: the built-in plugins (hooks.py's
table) and the commands and adapters the CLI loads."""

from __future__ import annotations

import ast
from pathlib import Path

from linkpool import cli, hooks

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {"core": "linkpool", "integrations": "linkpool.integrations"}


def module_name(path: Path) -> str:
    top, *rest = path.relative_to(ROOT).with_suffix("").parts
    parts = [PACKAGES[top], *rest]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports() -> dict[str, set[str]]:
    """Each module of ours and the modules of ours it imports."""
    graph: dict[str, set[tuple[str, str]]] = {}  # (module or package, module) imported
    for top in PACKAGES:
        for path in sorted((ROOT / top).rglob("*.py")):
            name = module_name(path)
            package = name if path.name == "__init__.py" else name.rpartition(".")[0]
            found = graph.setdefault(name, set())
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.ImportFrom) or not node.level:
                    continue
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
                # `from . import x`: the module x, or a name of the package itself
                found.update((target, f"{target}.{alias.name}") for alias in node.names)
    for _, module in hooks.BUILTIN:
        graph["linkpool.hooks"].add((module, module))
    graph["linkpool.cli"].update((f"linkpool.{c.module}",) * 2 for c in cli.SUBCOMMANDS.values())
    graph["linkpool.cli"].update((m, m) for m in graph if m.startswith("linkpool.integrations."))
    resolved = {m: {sub if sub in graph else target for target, sub in deps}
                for m, deps in graph.items()}
    return {m: {d for d in deps if d in graph and d != m} for m, deps in resolved.items()}


def test_no_module_imports_one_that_imports_it_back() -> None:
    graph = imports()
    assert graph["linkpool.observe"] >= {"linkpool.timeline", "linkpool.names"}
    assert "linkpool.plugins.classify" in graph["linkpool.hooks"]

    def reach(start: str) -> set[str]:
        seen: set[str] = set()
        todo = list(graph[start])
        while todo:
            m = todo.pop()
            if m not in seen:
                seen.add(m)
                todo += graph[m]
        return seen

    circles = sorted(m for m in graph if m in reach(m))
    assert circles == [], f"modules on an import circle: {circles}"


def test_every_relative_import_names_a_module_of_ours() -> None:
    """A module renamed or removed leaves no import behind (inside a function it would
    fail only when that function runs: `linkpool setup cargo` once did)."""
    graph: dict[str, set[tuple[str, str]]] = {}
    for top in PACKAGES:
        for path in sorted((ROOT / top).rglob("*.py")):
            name = module_name(path)
            package = name if path.name == "__init__.py" else name.rpartition(".")[0]
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ImportFrom) and node.level:
                    base = package.split(".")[:len(package.split(".")) - node.level + 1]
                    target = ".".join([*base, *([node.module] if node.module else [])])
                    graph.setdefault(name, set()).add((target, str(node.lineno)))
    modules = {module_name(p) for top in PACKAGES for p in (ROOT / top).rglob("*.py")}
    missing = sorted(f"{m}:{line} imports {target}" for m, deps in graph.items()
                     for target, line in deps if target not in modules)
    assert missing == []
