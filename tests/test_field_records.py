"""Records are the domain's and SQL is storage's: the records are defined in
bot/records.py, which reaches neither storage nor Telegram; storage defines no records of
its own; no SQL is written outside storage/; and the statistics query names each fact
the figures count."""

from __future__ import annotations

import ast
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.stats import FACTS, TIMES, IssueRow
from storage import stats as stats_store
from storage.db import Database
from tests import issue_rows
from tests.test_stats import ENDS, HOUR, MIN, STARTS, T0, issue, store

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "handlers", "storage")


def _module_file(module: str) -> Path | None:
    """The project file of a module name (None outside the project)."""
    if module.split(".")[0] not in PACKAGES:
        return None
    base = ROOT.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def _imports(path: Path) -> set[str]:
    """Every module a file imports, wherever the import statement is (a function's too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _reached(module: str) -> set[str]:
    """The modules `module` imports, directly or through the project's own modules."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        path = _module_file(name)
        if path is None:
            continue
        for imported in _imports(path) - seen:
            seen.add(imported)
            todo.append(imported)
    return seen


def _forbidden(reached: set[str]) -> list[str]:
    outside = ("storage", "handlers", "bot.services", "telegram")
    return sorted(m for m in reached if any(m == p or m.startswith(p + ".") for p in outside))


@pytest.mark.parametrize("module", ["bot.records", "bot.views", "bot.stats"])
def test_the_records_views_and_statistics_reach_no_storage_services_or_telegram(
    module: str,
) -> None:
    assert _module_file(module) is not None, f"{module} is missing"
    assert _forbidden(_reached(module)) == []


def _is_dataclass(node: ast.ClassDef) -> bool:
    return any(
        "dataclass" in ast.unparse(decorator).split("(")[0] for decorator in node.decorator_list
    )


def test_storage_defines_no_records_of_its_own() -> None:
    records = [
        f"{path.name}: {node.name}"
        for path in sorted((ROOT / "storage").glob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ClassDef) and _is_dataclass(node)
    ]
    assert records == []


SQL = re.compile(
    r"\b(SELECT|INSERT|UPDATE|DELETE|FROM|WHERE|IS NOT NULL|IS NULL|COALESCE|group_concat)\b"
)


def _docstrings(tree: ast.AST) -> set[int]:
    """The string statements of a module (docstrings of modules, classes, functions and
    attributes): prose, not code."""
    return {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    }


def test_no_sql_is_written_outside_storage() -> None:
    found = []
    for package in ("bot", "handlers"):
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            prose = _docstrings(tree)
            found += [
                f"{path.relative_to(ROOT)}:{node.lineno}: {node.value.strip()[:50]}"
                for node in ast.walk(tree)
                if isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and id(node) not in prose
                and SQL.search(node.value)
            ]
    assert found == []


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    async with Database(tmp_path / "records.db") as database:
        async with database.write() as tx:
            await issue_rows.places(tx)
        yield database


def _facts(row: IssueRow) -> dict[str, bool]:
    """Each fact of one issue, read straight from the definitions in bot/stats.py."""
    acknowledged, ack_deadline = row.acknowledged_at, row.ack_deadline
    resolved = row.resolved_at if row.state in ("resolved", "closed") else None
    deadline = row.resolve_deadline
    return {
        "open": row.state in ("reported", "dispatched", "acknowledged", "transferred", "reopened"),
        "acknowledged": acknowledged is not None,
        "acknowledged_on_time": acknowledged is not None
        and ack_deadline is not None
        and acknowledged <= ack_deadline,
        "resolved": resolved is not None,
        "resolved_on_time": resolved is not None and deadline is not None and resolved <= deadline,
        "resolved_late": resolved is not None and deadline is not None and resolved > deadline,
        "rated": row.rating is not None,
        "satisfied": row.rating in ("satisfied", "fair"),
        "reopened": row.reopened,
        "escalated": row.escalated,
        "transferred": row.transferred,
        "resolved_on_time_original": resolved is not None
        and (row.original_resolve_deadline or deadline) is not None
        and resolved <= (row.original_resolve_deadline or deadline or 0),
        "excluded": row.state == "closed" and row.closure in ("invalid", "duplicate"),
    }


async def test_the_cohort_query_reads_each_fact_the_figures_count_by_name(db: Database) -> None:
    rows = [
        issue(
            1,
            state="closed",
            acknowledged_at=T0 + 10 * MIN,
            resolved_at=T0 + 30 * HOUR,
            rating="fair",
            reopened=True,
        ),
        issue(2, reported_at=T0 + 1, escalated=True, transferred=True, resolve_deadline=None),
        issue(
            3,
            reported_at=T0 + 2,
            state="resolved",
            acknowledged_at=T0 + 40 * MIN,
            resolved_at=T0 + 2 * HOUR,
            rating="dissatisfied",
        ),
    ]
    await store(db, rows)
    cohort = await stats_store.cohort_columns(db.reader, STARTS, ENDS)

    assert sorted(cohort.facts) == sorted(FACTS)
    assert sorted(cohort.times) == sorted(TIMES)
    for position, row in enumerate(rows):
        read = {name: bool(cohort.fact(name)[position]) for name in FACTS}
        assert read == _facts(row), row.id
    assert cohort.department == ["cg", "cg", "cg"]
    assert list(cohort.times["ack_from_report"][[0, 2]]) == [10 * MIN, 40 * MIN - 2]
