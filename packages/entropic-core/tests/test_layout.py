"""The shape of the code (issue 12): no import circles, no private names across modules, the
Store's privates used only by the Store, siblings on the core's public surface, short modules."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGES = Path(__file__).resolve().parents[2]
CORE = PACKAGES / "entropic-core" / "src" / "entropic"
SOURCES = {
    "entropic": CORE,
    "entropic_dask": PACKAGES / "entropic-dask" / "src" / "entropic_dask",
    "entropic_cli": PACKAGES / "entropic-cli" / "src" / "entropic_cli",
}
#: Lines of code (docstrings, comments and blank lines left out) a module may have: past
#: about this many, a module holds more than one job. The Store's facade is mostly the
#: docstrings of its public methods, which do not count.
MOST_LINES = 400


def _modules() -> Iterator[tuple[str, Path]]:
    for package, root in SOURCES.items():
        if not root.is_dir():
            continue
        for path in sorted(root.rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            yield ".".join((package, *parts)), path


def _imports(name: str, path: Path) -> Iterator[tuple[str, list[str], bool]]:
    """(module imported, names taken from it, whether only for type checking)."""
    tree = ast.parse(path.read_text(), str(path))
    typing_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            typing_only.update(id(n) for n in ast.walk(node))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            yield base, [a.name for a in node.names], id(node) in typing_only
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, [], id(node) in typing_only


MODULES = dict(_modules())


def test_no_module_takes_a_private_name_from_another() -> None:
    offenders = [
        f"{name} imports {taken} from {module}"
        for name, path in MODULES.items()
        for module, names, _ in _imports(name, path)
        for taken in names
        if taken.startswith("_")
        and not taken.startswith("__")
        and module != name
        and f"{module}.{taken}" not in MODULES  # a private module of a package: fine
    ]
    assert not offenders


def test_only_the_core_imports_the_cores_private_modules() -> None:
    offenders = [
        f"{name} imports {module}"
        for name, path in MODULES.items()
        if not name.startswith("entropic.") and name != "entropic"
        for module, names, _ in _imports(name, path)
        if module.startswith("entropic._")
        or (module == "entropic" and any(n.startswith("_") and n != "__version__" for n in names))
    ]
    assert not offenders


def test_the_stores_privates_are_used_only_in_store_py() -> None:
    offenders = []
    for name, path in MODULES.items():
        if name == "entropic.store":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Attribute)
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
                and isinstance(node.value, ast.Name)
                and node.value.id in ("store", "target")
            ):
                offenders.append(f"{name}:{node.lineno} {node.value.id}.{node.attr}")
    assert not offenders


def test_no_import_circles() -> None:
    graph: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        deps = set()
        for module, names, typing_only in _imports(name, path):
            if typing_only:
                continue
            for candidate in [module, *(f"{module}.{n}" for n in names)]:
                if candidate in MODULES and candidate != name:
                    deps.add(candidate)
        graph[name] = deps
    # a package's __init__ importing its own modules is not a circle
    for name in graph:
        graph[name] = {d for d in graph[name] if not name.startswith(d + ".")}
    cycles = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for dep in graph.get(node, ()):
            if state.get(dep) == 1:
                cycles.append([*stack[stack.index(dep) :], dep])
            elif dep not in state:
                visit(dep)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert not cycles


def _code_lines(path: Path) -> int:
    text = path.read_text()
    tree = ast.parse(text)
    skipped: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            value = body[0].value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                skipped.update(range(body[0].lineno, (body[0].end_lineno or 0) + 1))
    return sum(
        1
        for number, line in enumerate(text.splitlines(), 1)
        if number not in skipped and line.strip() and not line.strip().startswith("#")
    )


@pytest.mark.parametrize("name", sorted(MODULES))
def test_modules_stay_short(name: str) -> None:
    lines = _code_lines(MODULES[name])
    assert lines <= MOST_LINES, f"{name} has {lines} lines of code"


def test_no_command_writes_sql() -> None:
    cli = SOURCES["entropic_cli"]
    offenders = [
        f"{path.relative_to(cli)} imports {module}"
        for name, path in MODULES.items()
        if name.startswith("entropic_cli")
        for module, names, _ in _imports(name, path)
        if module.startswith("sqlalchemy")
        and any(n in {"select", "insert", "update", "delete", "text", "func"} for n in names)
    ]
    assert not offenders
