"""The house in figures: modules per package, the largest, long functions, import cycles and arrows back.

    python benchmarks/house_metrics.py [--list]

Reads the source with `ast` only (nothing is imported). An import counts wherever it is written (a lazy
import inside a function is still an arrow between modules). Stage order, lowest first: advisor (the
shared types, laws and intervals), calibration/proxy, calibration/sweep, calibration/fit, calibration/cli;
calibration/record (the trial record, contract 1 in code, and the cell's local model the fit reads and a
search plans for) sits below proxy; calibration/studies (replays of searches and designs on recorded
sweeps, and the design resting on them: they drive the sweep's search and score with the fit) sits above
fit, below cli. A stage may import its own package and lower ones, except that fit reads trials through
contract 1 and so imports neither proxy nor sweep.
"""

from __future__ import annotations

import argparse
import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("advisor", "calibration")
STAGE_RANK = {"advisor": 0, "calibration.record": 1, "calibration.proxy": 2, "calibration.sweep": 3,
              "calibration.fit": 4, "calibration.studies": 5, "calibration.cli": 6}
FIT_MAY_NOT_IMPORT = ("calibration.proxy", "calibration.sweep")
LONG_FUNCTION_LINES = 60


def module_files() -> dict[str, Path]:
    """Every module of the two packages, by dotted name."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def imported_modules(name: str, tree: ast.AST, known: set[str]) -> set[str]:
    """The project modules `name` imports anywhere in its text."""
    targets = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")[: len(name.split(".")) - node.level]
                base = ".".join(anchor + ([base] if base else []))
            targets.add(base)
            targets.update(f"{base}.{alias.name}" for alias in node.names)
    return {target for target in targets if target in known and target != name}


def private_imports(tree: ast.AST) -> list[str]:
    """`from module import _name` lines: a private name used across modules."""
    return [f"{node.module}.{alias.name}" for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module
            and node.module.split(".")[0] in PACKAGES
            for alias in node.names if alias.name.startswith("_") and not alias.name.startswith("__")]


def long_functions(name: str, tree: ast.AST) -> list[str]:
    return [f"{name}.{node.name} ({node.end_lineno - node.lineno + 1} lines)" for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > LONG_FUNCTION_LINES]


def stage_of(module: str) -> str:
    return max((prefix for prefix in STAGE_RANK if module == prefix or module.startswith(prefix + ".")),
               key=len, default="calibration")


def arrows_back(graph: dict[str, set[str]]) -> list[str]:
    """Imports from a lower stage to a higher one, and fit's imports of proxy or sweep."""
    found = []
    for source, targets in graph.items():
        for target in targets:
            low, high = stage_of(source), stage_of(target)
            if STAGE_RANK.get(high, 0) > STAGE_RANK.get(low, 0) or (
                    low == "calibration.fit" and high in FIT_MAY_NOT_IMPORT):
                found.append(f"{source} -> {target}")
    return sorted(found)


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan's algorithm, iterative)."""
    index, low, on_stack, stack, groups = {}, {}, set(), [], []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        groups.append(sorted(group))
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph.get(child, ())))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return groups


def package_of(module: str) -> str:
    """The package a (non-__init__) module belongs to: advisor, advisor.cli, calibration.fit, ..."""
    return module.rsplit(".", 1)[0]


def measure() -> dict:
    files = module_files()
    trees = {name: ast.parse(path.read_text(), str(path)) for name, path in files.items()}
    graph = {name: imported_modules(name, tree, set(files)) for name, tree in trees.items()}
    # a package's __init__ imported as a prefix is not an arrow to every module in it
    lines = {name: len(files[name].read_text().splitlines()) for name in files}
    per_package = defaultdict(list)
    for name in files:
        if not files[name].name == "__init__.py":
            per_package[package_of(name)].append(name)
    return {
        "packages": {package: (len(modules), max(modules, key=lines.get), lines[max(modules, key=lines.get)])
                     for package, modules in sorted(per_package.items())},
        "long_functions": sorted(f for name, tree in trees.items() for f in long_functions(name, tree)),
        "cycles": cycles(graph),
        "arrows_back": arrows_back(graph),
        "private_imports": sorted({p for tree in trees.values() for p in private_imports(tree)}),
        "lines": sum(lines.values()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="name every cycle, arrow and long function")
    args = parser.parse_args()
    figures = measure()
    print(f"{'package':<20} {'modules':>7}  largest")
    for package, (count, largest, size) in figures["packages"].items():
        print(f"{package:<20} {count:>7}  {largest} ({size} lines)")
    print(f"lines in all: {figures['lines']}")
    for key in ("long_functions", "cycles", "arrows_back", "private_imports"):
        print(f"{key.replace('_', ' ')}: {len(figures[key])}")
        if args.list:
            for item in figures[key]:
                print("   ", " -> ".join(item) if isinstance(item, list) else item)


if __name__ == "__main__":
    main()
