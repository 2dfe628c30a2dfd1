"""The shape of the code: no import cycles among the ``sim`` modules, arrows point down.

Read with the standard library's ``ast`` (nothing is imported): every ``import`` counts,
at the top of a module, inside a function (a lazy import for start-up speed is still an
arrow) or under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SIM = Path(__file__).resolve().parent.parent / "sim"

#: The floors, lowest first: packages (and the few modules outside them). A module may
#: import from its own floor and the floors below, never from a floor above: the model
#: knows nothing of results folders, analyses, the dashboard or the command line.
#: The scenario files and the model share a floor (the scenario checks names against the
#: model's geography; the model reads the scenario); cycles are caught module by module.
FLOORS: dict[str, tuple[str, ...]] = {
    "base": (
        "sim.errors",
        "sim.safety",
        "sim.provenance",
        "sim.observed",
        "sim.memory",
        "sim.forking",
    ),
    "model": ("sim.model", "sim.scenario", "sim.schema_doc"),
    "outputs": ("sim.outputs",),
    "analysis": ("sim.analysis",),
    "dashboard": ("sim.dashboard",),
    "top": ("sim.cli", "sim.__main__"),
}


def module_name(path: Path, root: Path = SIM) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, modules: set[str], root: Path = SIM) -> set[str]:
    """The ``sim`` modules that the file at ``path`` imports (anywhere in it)."""
    name = module_name(path, root)
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            # `from pkg import module` imports the module; `from module import name` the module
            targets = [
                f"{target}.{a.name}" if f"{target}.{a.name}" in modules else target
                for a in node.names
            ]
        else:
            continue
        for t in targets:
            while t and t not in modules:  # `import sim.a.b` imports sim.a.b (and its parents)
                t = t.rpartition(".")[0]
            if t and t != name:
                found.add(t)
    return found


def import_graph(root: Path = SIM) -> dict[str, set[str]]:
    files = {module_name(p, root): p for p in sorted(root.rglob("*.py"))}
    return {m: imports_of(p, set(files), root) for m, p in files.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def floor_of(module: str) -> int | None:
    for i, members in enumerate(FLOORS.values()):
        if any(module == m or module.startswith(m + ".") for m in members):
            return i
    return None


def upward_arrows(graph: dict[str, set[str]]) -> list[str]:
    names = list(FLOORS)
    bad = []
    for m, targets in sorted(graph.items()):
        mine = floor_of(m)
        for t in sorted(targets):
            theirs = floor_of(t)
            if mine is not None and theirs is not None and theirs > mine:
                bad.append(f"{m} ({names[mine]}) imports {t} ({names[theirs]})")
    return bad


# -- the checks ---------------------------------------------------------------------------


def test_no_import_cycles_among_sim_modules():
    found = cycles(import_graph())
    assert not found, (
        "import cycles (each a group of modules that import each other):\n"
        + "\n".join(" <-> ".join(c) for c in found)
    )


def test_arrows_point_down_only():
    bad = upward_arrows(import_graph())
    assert not bad, "modules importing from a higher floor:\n" + "\n".join(bad)


def test_every_module_is_on_a_floor():
    graph = import_graph()
    homeless = [m for m in graph if m != "sim" and floor_of(m) is None]
    assert not homeless, f"modules on no floor (add them to FLOORS): {homeless}"
    missing = [m for members in FLOORS.values() for m in members if m not in graph]
    assert not missing, f"FLOORS names modules that do not exist: {missing}"


# -- the checker finds what it should (so the checks above can fail) ----------------------


@pytest.fixture()
def toy(tmp_path: Path) -> Path:
    root = tmp_path / "sim"
    (root / "model").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "model" / "__init__.py").write_text("")
    (root / "errors.py").write_text("import json\n")
    (root / "cli.py").write_text("from .errors import X\nfrom .model import core\n")
    (root / "model" / "core.py").write_text(
        "from ..errors import X\n\ndef f():\n    from sim.cli import main\n"
    )
    return root


def test_checker_sees_function_local_and_package_imports(toy: Path):
    graph = import_graph(toy)
    assert graph["sim.cli"] == {"sim.errors", "sim.model.core"}
    assert graph["sim.model.core"] == {"sim.errors", "sim.cli"}
    assert cycles(graph) == [["sim.cli", "sim.model.core"]]


def test_checker_reports_an_upward_arrow():
    graph = {"sim.model.rng": {"sim.errors"}, "sim.model.history": {"sim.outputs.plots"}}
    assert upward_arrows(graph) == ["sim.model.history (model) imports sim.outputs.plots (outputs)"]
    assert cycles(graph) == []
