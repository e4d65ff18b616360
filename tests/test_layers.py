"""The layers, read from the source: handlers translate Telegram to service calls and never
reach storage or a database connection; storage translates calls to SQL and knows nothing of
Telegram; the domain rules (states, routing, deadlines, permissions, the organisation,
statistics, the clock, the records) depend on none of services, storage, handlers or
Telegram; and the product never imports the test tools in whistle_testing/ (except the
command line's `demo` command, lazily). Each rule is one test, so a broken one names itself.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

DOMAIN_MODULES = (
    "bot/lifecycle.py",
    "bot/routing.py",
    "bot/deadlines.py",
    "bot/permissions.py",
    "bot/organisation.py",
    "bot/stats.py",
    "bot/clock.py",
    "bot/whistles.py",  # 联合吹哨: the distance rule and arrival limits
)
"""The pure core. A records module joins it when it exists (see `domain_files`)."""

DATABASE_NAMES = frozenset({"aiosqlite", "sqlite3"})


@dataclass(frozen=True)
class Import:
    """One import in a source file: the module's dotted name, its line, and whether it
    runs when the file is imported (False inside a function: a lazy import)."""

    module: str
    line: int
    at_import_time: bool


def _package(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def _absolute(name: str, module: str | None, level: int) -> str:
    """The dotted name of `from {'.' * level}{module} import …` written in module `name`."""
    if level == 0:
        return module or ""
    base = name.split(".")[:-level]
    return ".".join([*base, *([module] if module else [])])


def _imports(path: Path) -> Iterator[Import]:
    return _imports_in(path.read_text(encoding="utf-8"), _package(path))


def _imports_in(source: str, name: str) -> Iterator[Import]:
    tree = ast.parse(source)
    lazy: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            lazy.update(id(inner) for inner in ast.walk(node) if inner is not node)
    for node in ast.walk(tree):
        eager = id(node) not in lazy
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(alias.name, node.lineno, eager)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(name, node.module, node.level)
            yield Import(base, node.lineno, eager)
            for alias in node.names:
                yield Import(".".join(filter(None, (base, alias.name))), node.lineno, eager)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name | ast.Attribute)
            and (getattr(node.func, "id", None) or getattr(node.func, "attr", None))
            in {"__import__", "import_module"}
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            yield Import(node.args[0].value, node.lineno, eager)


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _files(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py"))


def _domain_files() -> list[Path]:
    records = [ROOT / "bot" / "records.py", *sorted((ROOT / "bot" / "records").glob("*.py"))]
    return [ROOT / m for m in DOMAIN_MODULES] + [p for p in records if p.exists()]


def _where(path: Path, line: int, what: str) -> str:
    return f"{path.relative_to(ROOT)}:{line} {what}"


def _importing(files: list[Path], *packages: str) -> list[str]:
    return [
        _where(path, found.line, f"imports {found.module}")
        for path in files
        for found in _imports(path)
        if any(_within(found.module, package) for package in packages)
    ]


def handlers_import_storage() -> list[str]:
    return _importing(_files("handlers"), "storage")


def handlers_touch_a_database() -> list[str]:
    """A database module imported, or the services' `Database` reached (`svc.db.reader`)."""
    found = _importing(_files("handlers"), *DATABASE_NAMES)
    for path in _files("handlers"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr == "db":
                found.append(_where(path, node.lineno, f"reaches {ast.unparse(node)}"))
    return found


def storage_imports_telegram() -> list[str]:
    return _importing(_files("storage"), "telegram")


def product_imports_the_tools() -> list[str]:
    found = []
    for path in _files("bot", "handlers", "storage"):
        for imported in _imports(path):
            if not _within(imported.module, "whistle_testing"):
                continue
            if path == ROOT / "bot" / "cli.py" and not imported.at_import_time:
                continue  # the `demo` command, imported when it runs
            found.append(_where(path, imported.line, f"imports {imported.module}"))
    return found


def domain_module_rule(path: Path) -> Callable[[], list[str]]:
    def check() -> list[str]:
        return _importing([path], "bot.services", "storage", "handlers", "telegram")

    return check


def storage_depends_on_a_module_that_imports_storage() -> list[str]:
    """Storage depends on the domain, never the reverse: no module of bot/ that storage
    imports may import storage (today's cycle was bot/views.py and storage's records)."""
    used = {
        imported.module
        for path in _files("storage")
        for imported in _imports(path)
        if _within(imported.module, "bot")
    }
    found = []
    for path in _files("bot"):
        if _package(path) in used:
            found += _importing([path], "storage")
    return found


RULES: list[tuple[str, Callable[[], list[str]], str | None]] = [
    (
        "handlers do not import storage",
        handlers_import_storage,
        None,
    ),
    (
        "handlers do not touch a database connection",
        handlers_touch_a_database,
        None,
    ),
    ("storage does not import telegram", storage_imports_telegram, None),
    (
        "bot, handlers and storage do not import whistle_testing (bar the lazy demo command)",
        product_imports_the_tools,
        None,
    ),
]


def _domain_rules() -> list[tuple[str, Callable[[], list[str]], str | None]]:
    return [
        (
            f"domain {path.relative_to(ROOT)} imports no services, storage, handlers or telegram",
            domain_module_rule(path),
            None,
        )
        for path in _domain_files()
    ]


ALL_RULES = [
    *RULES,
    *_domain_rules(),
    (
        "no module of bot/ that storage imports imports storage",
        storage_depends_on_a_module_that_imports_storage,
        None,
    ),
]


def _case(rule: tuple[str, Callable[[], list[str]], str | None]) -> object:
    name, _check, failing_today = rule
    marks = [pytest.mark.xfail(strict=True, reason=failing_today)] if failing_today else []
    return pytest.param(rule, id=name, marks=marks)


@pytest.mark.parametrize("rule", [_case(rule) for rule in ALL_RULES])
def test_layer_rule(rule: tuple[str, Callable[[], list[str]], str | None]) -> None:
    name, check, _ = rule
    broken = check()
    assert not broken, f"{name}:\n" + "\n".join(broken)


def test_every_domain_module_named_exists() -> None:
    """A rule over a renamed file would pass by checking nothing."""
    missing = [m for m in DOMAIN_MODULES if not (ROOT / m).exists()]
    assert not missing


def test_the_walker_sees_what_it_must() -> None:
    """The checks find imports however they are written: from-imports, relative ones,
    ones inside functions (lazy) and `__import__` calls."""
    source = (
        "from storage.drafts import Draft\n"
        "from .. import storage\n"
        "def later():\n"
        "    import whistle_testing\n"
        "    return __import__('telegram')\n"
    )
    found = {(i.module, i.at_import_time) for i in _imports_in(source, "handlers.sample")}
    assert ("storage.drafts", True) in found
    assert ("storage", True) in found
    assert ("whistle_testing", False) in found
    assert ("telegram", False) in found
