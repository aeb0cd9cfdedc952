"""The domain package's layout: its imports point one way, its ports are declared once per feature
(read from the source with `ast`, nothing imported).

Given every `import` of shared/ (at the top of a module or inside a function: a lazy import runs
too), then no module reaches itself through others, and no two packages of shared/ import each
other (annotation-only imports count here too): a replay is a kind of backtest run
(shared.transactions.workflow), so shared.backtests needs nothing of shared.transactions while
shared.transactions builds on shared.backtests; the engine reads `shared.backtest_settings`, and
every feature publishes through `shared.events`.
"""

from __future__ import annotations

import ast
from itertools import combinations
from pathlib import Path

SHARED = Path(__file__).resolve().parent.parent / "shared"


def _modules() -> dict[str, Path]:
    modules = {}
    for path in SHARED.rglob("*.py"):
        parts = path.relative_to(SHARED.parent).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def _type_checking_only(tree: ast.Module) -> set[ast.AST]:
    """The imports under `if TYPE_CHECKING:`: annotations only, never run."""
    return {
        node
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and isinstance(block.test, ast.Name) and block.test.id == "TYPE_CHECKING"
        for statement in block.body
        for node in ast.walk(statement)
    }


def import_graph(runtime_only: bool) -> dict[str, set[str]]:
    """module -> the modules of shared/ it imports (`from shared.x import name` counts as shared.x.name
    when that is a module, else as shared.x)."""
    modules = _modules()

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        tree = ast.parse(path.read_text())
        skipped = _type_checking_only(tree) if runtime_only else set()
        targets: set[str | None] = set()
        for node in ast.walk(tree):
            if node in skipped:
                continue
            if isinstance(node, ast.Import):
                targets |= {resolve(alias.name) for alias in node.names if alias.name.startswith("shared.")}
            elif (
                isinstance(node, ast.ImportFrom)
                and node.level == 0
                and node.module
                and (node.module == "shared" or node.module.startswith("shared."))
            ):
                targets |= {resolve(f"{node.module}.{alias.name}") for alias in node.names}
        graph[module] = {target for target in targets if target is not None and target != module}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for successor in sorted(graph.get(node, ())):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while (member := stack.pop()) != node:
                component.append(member)
            if component:
                found.append(sorted([*component, node]))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def package_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def mutual_pairs(graph: dict[str, set[str]]) -> dict[frozenset[str], list[tuple[str, str]]]:
    """Package pairs importing each other, with the imports both ways."""
    arrows: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for module, targets in graph.items():
        for target in sorted(targets):
            if package_of(module) != package_of(target):
                arrows.setdefault((package_of(module), package_of(target)), []).append((module, target))
    return {
        frozenset(pair): arrows[pair] + arrows[pair[::-1]]
        for pair in combinations(sorted({p for arrow in arrows for p in arrow}), 2)
        if pair in arrows and pair[::-1] in arrows
    }


# ---------------------------------------------------------------- the checker itself
def test_cycles_finds_a_loop_and_nothing_in_a_chain():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_the_graph_reads_top_level_lazy_and_type_checking_imports():
    graph, runtime = import_graph(runtime_only=False), import_graph(runtime_only=True)
    assert "shared.backtest_settings" in graph["shared.engine.positions"]  # at the top
    assert "shared.backtests.monte_carlo" in runtime["shared.backtests.analyses"]  # inside a method
    assert "shared.engine.chunks" in graph["shared.backtests.ports"]  # under TYPE_CHECKING
    assert "shared.engine.chunks" not in runtime["shared.backtests.ports"]


def test_mutual_pairs_names_the_imports_both_ways():
    graph = {
        "shared.a.x": {"shared.b.y"},
        "shared.b.y": {"shared.a.z"},
        "shared.a.z": set(),
        "shared.c": {"shared.a.x"},
    }
    assert mutual_pairs(graph) == {frozenset({"a", "b"}): [("shared.a.x", "shared.b.y"), ("shared.b.y", "shared.a.z")]}


# ---------------------------------------------------------------- shared/
def test_no_module_of_shared_imports_itself_through_others():
    assert cycles(import_graph(runtime_only=True)) == []


def test_backtests_import_nothing_of_transactions():
    graph = import_graph(runtime_only=False)
    assert [
        (m, t)
        for m, targets in graph.items()
        for t in targets
        if package_of(m) == "backtests" and package_of(t) == "transactions"
    ] == []
    assert "shared.backtests.runs" in graph["shared.transactions.workflow"]  # the replay is a kind of run


def test_no_two_packages_of_shared_import_each_other():
    assert mutual_pairs(import_graph(runtime_only=False)) == {}


# ---------------------------------------------------------------- ports
FEATURES = ("accounts", "strategies", "backtests", "optimizations", "transactions", "market_data", "realtime")
# Protocols that are no feature's port: each names why it is a Protocol.
NOT_PORTS = {
    "shared/metrics.py": {"TradeColumns"},  # the engine's Trades; metrics sits below the engine (it imports metrics)
    "shared/market_data/parsing.py": {"RowLocator"},  # three locators of a bad row, in that module
    "shared/events.py": {"EventPublisher"},  # the publisher every feature sends events through
    "shared/run_watchdog.py": {"RunFailing", "StaleRuns"},  # the runs of both state machines; a test fake
}


def protocols() -> dict[str, set[str]]:
    """module path -> the Protocol classes it declares."""
    found: dict[str, set[str]] = {}
    for path in sorted(SHARED.rglob("*.py")):
        names = {
            node.name
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.ClassDef)
            and any(isinstance(base, ast.Name) and base.id == "Protocol" for base in node.bases)
        }
        if names:
            found[str(path.relative_to(SHARED.parent))] = names
    return found


def test_ports_are_declared_in_their_features_ports_module():
    declared = protocols()
    elsewhere = {
        path: names
        for path, names in declared.items()
        if not path.endswith("/ports.py") and NOT_PORTS.get(path) != names
    }
    assert elsewhere == {}
    assert {path.split("/")[1] for path in declared if path.endswith("/ports.py")} == set(FEATURES)
