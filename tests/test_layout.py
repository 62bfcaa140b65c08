"""The package layout the README's "Where things live" table describes, checked on the code itself.

Every import in bot/ is read from the source (module level, inside functions and under
TYPE_CHECKING alike), so a lazy import cannot slip past: the engine never imports Discord, no
module reaches into another's private names, and no two modules import each other in a loop.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from conftest import REPO

BOT = REPO / "bot"


def _module(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module(path): path for path in sorted(BOT.rglob("*.py"))}


def _inside(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _imports(module: str) -> list[tuple[str, str, int, bool]]:
    """(imported module, name taken or "", line, run when `module` is imported) for every import in it."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    deferred = {id(node) for scope in ast.walk(tree) if isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef))
                for node in ast.walk(scope)}
    deferred |= {id(node) for block in ast.walk(tree) if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
                 for statement in block.body for node in ast.walk(statement)}
    found = []
    for node in ast.walk(tree):
        top = id(node) not in deferred
        if isinstance(node, ast.Import):
            found += [(alias.name, "", node.lineno, top) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                found.append((submodule, "", node.lineno, top) if submodule in MODULES else (base, alias.name, node.lineno, top))
    return found


def _bot_imports(module: str) -> set[str]:
    return {target for target, _, _, _ in _imports(module) if target in MODULES and target != module}


# package -> what no module in it may import (a name covers its submodules)
MUST_NOT_IMPORT = {
    "bot.engine": ["discord", "bot.discord", "bot.cli", "bot.render", "bot.messages", "bot.tools"],
    "bot.discord": ["bot.cli", "bot.render", "bot.tools"],
    "bot.render": ["discord", "bot.discord", "bot.cli", "bot.tools"],
    "bot.tools": ["discord", "bot.discord", "bot.cli"],
    "bot.storage": ["discord", "bot.discord", "bot.engine", "bot.cli", "bot.render", "bot.tools"],
}


@pytest.mark.parametrize("package", sorted(MUST_NOT_IMPORT))
def test_no_package_imports_what_the_readme_forbids(package):
    broken = [
        (module, line, target)
        for module in MODULES if _inside(module, package)
        for target, _, line, _ in _imports(module)
        for banned in MUST_NOT_IMPORT[package] if _inside(target, banned)
    ]
    assert broken == []


def test_messages_and_config_stand_on_nothing_else_of_the_bot():
    assert _bot_imports("bot.messages") == set()
    assert _bot_imports("bot.config") == set()
    assert _bot_imports("bot.language") == set()
    assert {target for target, _, _, _ in _imports("bot.messages")} == {"__future__"}


def test_the_discord_front_end_sees_only_the_engine_facade_and_its_data():
    reached = {target for module in MODULES if _inside(module, "bot.discord")
               for target in _bot_imports(module) if _inside(target, "bot.engine")}
    assert reached <= {"bot.engine.engine", "bot.engine.models"}


def test_the_command_line_imports_its_heavy_parts_only_inside_the_commands():
    at_import = {target for target, _, _, top in _imports("bot.cli") if top and target in MODULES}
    assert at_import <= {"bot.config"}


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__") and name not in {"_asdict", "_replace", "_fields", "_make"}


def test_no_module_outside_the_tools_reaches_into_another_modules_private_names():
    """Neither `from x import _y` nor `x._y` (a module's or another object's, such as `engine._live`)."""
    private = []
    for module in MODULES:
        if _inside(module, "bot.tools"):
            continue
        private += [(module, line, f"{target}.{name}") for target, name, line, _ in _imports(module)
                    if target in MODULES and _private(name)]
        private += [
            (module, node.lineno, ast.unparse(node))
            for node in ast.walk(ast.parse(MODULES[module].read_text(encoding="utf-8")))
            if isinstance(node, ast.Attribute) and _private(node.attr)
            and ast.unparse(node.value).split(".")[0] not in ("self", "cls")
        ]
    assert private == []


def test_no_import_cycle():
    graph = {module: _bot_imports(module) for module in MODULES}
    cycles, state = [], {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for target in sorted(graph[module]):
            if state.get(target) == "open":
                cycles.append(path[path.index(target):] + [target])
            elif target not in state:
                visit(target, [*path, target])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []
