"""The floors of ``docs/ARCHITECTURE.md``, enforced on the source with :mod:`ast`.

Every ``.py`` under ``harness/``, ``checkers/``, ``workloads/`` and ``nemesis/``
is parsed (nothing is imported) and each import of our packages is checked:

* **floor**: it points down, to a floor the importer may use (:data:`ALLOWED`);
* **private**: an import from another floor goes through that floor's package or
  a public submodule, never a private ``_module`` or ``_name``;
* **cycle**: no circle among the module-level imports (``if TYPE_CHECKING:``
  blocks and function bodies excluded), found with Tarjan's algorithm;
* **lazy**: no import of ours inside a function body unless its line says
  ``# lazy: start-up`` (``harness/run/_cli.py`` defers the heavy floors so that
  ``etcd-harness check`` starts fast).

Each failure names ``file:line`` and the rule. The same module also checks that
every path ``docs/ARCHITECTURE.md`` mentions exists.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("harness", "checkers", "workloads", "nemesis")
LAZY_MARK = "# lazy: start-up"

FLOORS = ("core", "etcd", "checkers", "report", "nemesis", "workloads", "run", "facade")

#: importer's floor -> the floors it may import.
ALLOWED: dict[str, frozenset[str]] = {
    "core": frozenset({"core"}),
    "etcd": frozenset({"core", "etcd"}),
    "checkers": frozenset({"core", "checkers"}),
    "report": frozenset({"core", "report"}),
    "nemesis": frozenset({"core", "etcd", "nemesis"}),
    "workloads": frozenset({"core", "etcd", "checkers", "workloads"}),
    "run": frozenset(FLOORS),
    "facade": frozenset(FLOORS),
}


def floor_of(module: str) -> str | None:
    """The floor a module (dotted name) lives on; None if it is on none."""
    parts = module.split(".")
    if parts[0] in ("checkers", "workloads", "nemesis"):
        return parts[0]
    if parts[0] != "harness":
        return None
    if len(parts) == 1 or parts[1] == "__main__":
        return "facade"
    return parts[1] if parts[1] in ("core", "etcd", "report", "run") else None


def is_private(part: str) -> bool:
    return part.startswith("_") and not part.endswith("__")


# -- reading the source -------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    module: str  # dotted name
    path: str  # as shown in messages, relative to the repository
    text: str

    @property
    def is_package(self) -> bool:
        return self.path.endswith("__init__.py")


@dataclass(frozen=True)
class Import:
    importer: Source
    line: int
    end_line: int
    target: str  # the module imported, or the package a name is taken from
    names: tuple[str, ...]  # ``from target import names``; empty for ``import target``
    where: str  # "module", "type-checking" or "function"

    @property
    def at(self) -> str:
        return f"{self.importer.path}:{self.line}"


def module_name(rel: Path) -> str:
    parts = list(rel.with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def read_tree(root: Path = ROOT) -> dict[str, Source]:
    sources: dict[str, Source] = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            rel = path.relative_to(root)
            if "__pycache__" in rel.parts:
                continue
            name = module_name(rel)
            sources[name] = Source(name, rel.as_posix(), path.read_text(encoding="utf-8"))
    return sources


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _walk(nodes: list[ast.stmt], where: str) -> Iterator[tuple[ast.Import | ast.ImportFrom, str]]:
    for node in nodes:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node, where
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield from _walk(node.body, "function")
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            yield from _walk(node.body, "function" if where == "function" else "type-checking")
            yield from _walk(node.orelse, where)
        else:
            for field in ("body", "orelse", "finalbody", "handlers", "cases"):
                children = getattr(node, field, None)
                if isinstance(children, list):
                    stmts = [c for c in children if isinstance(c, ast.stmt)]
                    stmts += [s for c in children if isinstance(c, ast.ExceptHandler | ast.match_case) for s in c.body]
                    yield from _walk(stmts, where)


def imports_of(source: Source) -> list[Import]:
    """Every import of our packages in ``source``, with where it runs."""
    found = []
    tree = ast.parse(source.text, filename=source.path)
    for node, where in _walk(tree.body, "module"):
        targets: list[tuple[str, tuple[str, ...]]]
        if isinstance(node, ast.Import):
            targets = [(alias.name, ()) for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                package = source.module.split(".")
                if not source.is_package:
                    package.pop()
                package = package[: len(package) - (node.level - 1)]
                base = ".".join([*package, base] if base else package)
            targets = [(base, tuple(alias.name for alias in node.names))]
        for target, names in targets:
            if target.split(".")[0] in PACKAGES:
                found.append(Import(source, node.lineno, node.end_lineno or node.lineno, target, names, where))
    return found


def _defines_getattr(node: ast.stmt) -> bool:
    """``def __getattr__(...)``, or ``__getattr__ = lazy_getattr(...)`` (``harness.core._lazy``)."""
    if isinstance(node, ast.FunctionDef):
        return node.name == "__getattr__"
    return isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__getattr__" for t in node.targets)


def lazy_names(source: Source) -> dict[str, str]:
    """For a package that loads names on first use (a module-level PEP 562 ``__getattr__``):
    name -> the module its ``if TYPE_CHECKING:`` block imports it from. Else empty."""
    tree = ast.parse(source.text, filename=source.path)
    if not any(_defines_getattr(n) for n in tree.body):
        return {}
    return {name: imp.target for imp in imports_of(source) if imp.where == "type-checking" for name in imp.names}


def modules_reached(imp: Import, known: Mapping[str, Source]) -> list[str]:
    """The modules an import names: ``from pkg import sub`` names ``pkg.sub`` if that is a
    module, else (a name defined in the package) ``pkg`` itself, and, if ``pkg`` loads that
    name on first use (:func:`lazy_names`), the module it loads it from."""
    if not imp.names:
        return [imp.target]
    lazy = lazy_names(known[imp.target]) if imp.target in known else {}
    reached = []
    for name in imp.names:
        sub = f"{imp.target}.{name}"
        reached.append(sub if sub in known else imp.target)
        if name in lazy:
            reached.append(lazy[name])
    return list(dict.fromkeys(reached))


# -- the rules ----------------------------------------------------------------------------------


def floor_violations(sources: Mapping[str, Source]) -> list[str]:
    problems = []
    for source in sources.values():
        mine = floor_of(source.module)
        if mine is None:
            problems.append(f"{source.path}:1: [floor] {source.module} is on no floor; "
                            "put it in one of the floor packages (docs/ARCHITECTURE.md)")
            continue
        for imp in imports_of(source):
            theirs = floor_of(imp.target)
            if theirs is None:
                problems.append(f"{imp.at}: [floor] import of {imp.target}, which is on no floor")
            elif theirs not in ALLOWED[mine]:
                problems.append(f"{imp.at}: [floor] the {mine} floor imports {imp.target} ({theirs} floor); "
                                f"{mine} may import only {', '.join(sorted(ALLOWED[mine]))}")
    return problems


def private_violations(sources: Mapping[str, Source]) -> list[str]:
    problems = []
    for source in sources.values():
        mine = floor_of(source.module)
        for imp in imports_of(source):
            theirs = floor_of(imp.target)
            if mine is None or theirs is None or theirs == mine:
                continue
            private = [p for p in imp.target.split(".") if is_private(p)]
            private += [n for n in imp.names if is_private(n)]
            if private:
                shown = f"from {imp.target} import {', '.join(imp.names)}" if imp.names else f"import {imp.target}"
                problems.append(f"{imp.at}: [private] `{shown}` reaches into the {theirs} floor's private "
                                f"{', '.join(private)}; import it from its package (export it there)")
    return problems


def lazy_violations(sources: Mapping[str, Source]) -> list[str]:
    problems = []
    for source in sources.values():
        lines = source.text.splitlines()
        for imp in imports_of(source):
            if imp.where != "function":
                continue
            if not any(LAZY_MARK in lines[n - 1] for n in range(imp.line, imp.end_line + 1)):
                problems.append(f"{imp.at}: [lazy] import of {imp.target} inside a function; move it to the "
                                f"top of the module, or mark a deliberate start-up deferral `{LAZY_MARK}`")
    return problems


def import_graph(sources: Mapping[str, Source]) -> dict[str, dict[str, Import]]:
    """module -> {module it needs loaded at load time: the import}.

    An import needs the module it names (for ``from pkg import name``, the package
    ``pkg``, whose ``__init__`` must have defined ``name``: also when ``pkg`` is the
    importer's own package). It also loads the packages above that module, except the
    importer's own packages, which are already loading."""
    graph: dict[str, dict[str, Import]] = {name: {} for name in sources}
    for source in sources.values():
        own = source.module.split(".")
        own_packages = {".".join(own[:i]) for i in range(1, len(own) + 1)}
        for imp in imports_of(source):
            if imp.where != "module":
                continue
            for target in modules_reached(imp, sources):
                if target in sources and target != source.module:
                    graph[source.module].setdefault(target, imp)
                parts = target.split(".")
                for i in range(1, len(parts)):
                    parent = ".".join(parts[:i])
                    if parent in sources and parent not in own_packages:
                        graph[source.module].setdefault(parent, imp)
    return graph


def strongly_connected(graph: Mapping[str, Mapping[str, object]]) -> list[list[str]]:
    """Tarjan's algorithm (iterative): the components with more than one module, or a self-loop."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, {})))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in graph.get(node, {}):
                    found.append(sorted(component))
    return found


def _points_down(importer: str, imported: str) -> bool:
    mine, theirs = floor_of(importer), floor_of(imported)
    return mine is not None and theirs is not None and theirs in ALLOWED[mine]


def cycle_violations(sources: Mapping[str, Source]) -> list[str]:
    graph = import_graph(sources)
    problems = []
    for component in strongly_connected(graph):
        members = set(component)
        edges = [(imp.at, a, b) for a in component for b, imp in sorted(graph[a].items()) if b in members]
        edges.sort(key=lambda e: _points_down(e[1], e[2]))  # an edge pointing up first: the likely culprit
        problems.append(f"{edges[0][0]}: [cycle] modules import each other at load time: {', '.join(component)}; "
                        f"edges: {'; '.join(f'{at} ({a} -> {b})' for at, a, b in edges)}")
    return problems


def all_violations(sources: Mapping[str, Source]) -> list[str]:
    return floor_violations(sources) + private_violations(sources) + cycle_violations(sources) + lazy_violations(
        sources)


# -- the tree -----------------------------------------------------------------------------------

TREE = read_tree()


def _report(problems: list[str]) -> str:
    return f"{len(problems)} architecture violation(s):\n" + "\n".join(problems)


def test_the_tree_has_every_floor() -> None:
    assert {floor_of(m) for m in TREE} == set(FLOORS)


def test_imports_point_down_to_allowed_floors() -> None:
    problems = floor_violations(TREE)
    assert not problems, _report(problems)


def test_other_floors_are_imported_through_their_packages() -> None:
    problems = private_violations(TREE)
    assert not problems, _report(problems)


def test_no_import_cycles() -> None:
    problems = cycle_violations(TREE)
    assert not problems, _report(problems)


def test_function_body_imports_are_marked_lazy() -> None:
    problems = lazy_violations(TREE)
    assert not problems, _report(problems)


# -- the checks themselves can fail -------------------------------------------------------------


def fake_tree(files: dict[str, str]) -> dict[str, Source]:
    return {(name := module_name(Path(path))): Source(name, path, text) for path, text in files.items()}


GOOD = {
    "harness/__init__.py": "from harness.core import Op\n",
    "harness/core/__init__.py": "from harness.core._history import Op\n",
    "harness/core/_history.py": "class Op: ...\n",
    "harness/etcd/__init__.py": "from harness.etcd._client import EtcdClient\n",
    "harness/etcd/_client.py": "from harness.core import Op\nclass EtcdClient: ...\n",
    "checkers/__init__.py": "from checkers._result import Checker\n",
    "checkers/_result.py": "from harness.core import Op\nclass Checker: ...\n",
    "nemesis/__init__.py": "from nemesis import _pause\n",
    "nemesis/_pause.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from harness.etcd import Node\n",
    "harness/run/__init__.py": ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                                "    from harness.run._runner import run_test\ndef __getattr__(name): ...\n"),
    "harness/run/_runner.py": ("from checkers import Checker\n"
                               "def main() -> None:\n    from nemesis import Fault  # lazy: start-up\n"),
}


def test_a_clean_fake_tree_passes() -> None:
    assert all_violations(fake_tree(GOOD)) == []


def test_planted_violations_are_each_named_with_file_line_and_rule() -> None:
    bad = dict(GOOD)
    bad["checkers/_result.py"] = "from harness.core import Op\nfrom harness.run import main\nclass Checker: ...\n"
    bad["nemesis/_pause.py"] = "import os\nfrom checkers._result import Checker\n"
    bad["harness/etcd/_client.py"] = "from harness.etcd import EtcdClient as _E\nclass EtcdClient: ...\n"
    bad["harness/core/_history.py"] = "def f() -> None:\n    from harness.core import Op\nclass Op: ...\n"
    problems = all_violations(fake_tree(bad))
    assert any(p.startswith("checkers/_result.py:2: [floor]") and "harness.run" in p for p in problems), problems
    assert any(p.startswith("nemesis/_pause.py:2: [floor]") for p in problems), problems
    assert any(p.startswith("nemesis/_pause.py:2: [private]") and "_result" in p for p in problems), problems
    assert any(p.startswith("harness/etcd/__init__.py:1: [cycle]") and "harness.etcd._client -> harness.etcd" in p
               for p in problems), problems
    assert any(p.startswith("harness/core/_history.py:2: [lazy]") for p in problems), problems
    assert len(problems) == 5, problems


def test_a_cycle_through_a_lazily_loaded_name_is_found() -> None:
    """``harness.run`` loads ``run_test`` on first use; importing it is importing ``harness.run._runner``."""
    bad = dict(GOOD)
    bad["checkers/_result.py"] = "from harness.core import Op\nfrom harness.run import run_test\nclass Checker: ...\n"
    cycles = cycle_violations(fake_tree(bad))
    assert len(cycles) == 1 and "checkers/_result.py:2" in cycles[0], cycles
    assert "checkers._result -> harness.run._runner" in cycles[0] and "harness.run._runner -> checkers" in cycles[0]


def test_type_checking_imports_break_no_cycle_but_still_keep_to_the_floors() -> None:
    tree = dict(GOOD)
    tree["harness/core/_history.py"] = (
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from harness.etcd import EtcdClient\nclass Op: ...\n")
    problems = all_violations(fake_tree(tree))
    assert [p.split(" ", 2)[:2] for p in problems] == [["harness/core/_history.py:3:", "[floor]"]], problems


# -- docs/ARCHITECTURE.md names real paths ------------------------------------------------------

DOC = ROOT / "docs" / "ARCHITECTURE.md"
PATH_LIKE = re.compile(r"^[\w.<>*-]+(?:/[\w.<>*-]*)*$")
FILE_SUFFIXES = (".py", ".md", ".yaml", ".js", ".css")


def doc_paths(text: str) -> list[tuple[int, str]]:
    """Backticked repository paths outside fenced blocks: ``a/b``, ``x.py``; ``<name>`` is a wildcard."""
    found = []
    fenced = False
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if fenced:
            continue
        for span in re.findall(r"`([^`]+)`", line):
            if PATH_LIKE.match(span) and ("/" in span or span.endswith(FILE_SUFFIXES)):
                found.append((number, span))
    return found


def path_exists(span: str) -> bool:
    pattern = re.sub(r"<[^>]*>", "*", span.rstrip("/"))
    for base in (ROOT, DOC.parent):
        if any(True for _ in base.glob(pattern)) if "*" in pattern else (base / pattern).exists():
            return True
    return False


def test_architecture_doc_names_only_paths_that_exist() -> None:
    paths = doc_paths(DOC.read_text(encoding="utf-8"))
    assert len(paths) > 20, "the table of files went missing"
    missing = [f"docs/ARCHITECTURE.md:{n}: `{p}` does not exist" for n, p in paths if not path_exists(p)]
    assert not missing, "\n".join(missing)


def test_the_doc_path_check_can_fail() -> None:
    assert doc_paths("see `harness/nowhere.py`, `a b/c` and\n```\n`results/x/`\n```\n") == [(1, "harness/nowhere.py")]
    assert not path_exists("harness/nowhere.py")
    assert path_exists("workloads/<name>.py") and path_exists("harness/core/")
