"""One name per concept, read from the source: every catalogue key is written out in full
(none built with an f-string or `+`), so searching for a key finds each place that shows it,
and every key in the catalogue is used somewhere; the tables that name an enum's members
cover every member; the open states, the weekday names and each Bot API method are written
once; no function is longer than a screen; benchmark figures live in docs/performance.md,
not in docstrings and comments."""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot import labels
from bot.callbacks import Rating
from bot.closures import ClosureKind
from bot.extensions import MESSAGES, REVIEW_ACTIONS, REVIEW_DONE, REVIEW_NOTICES, Kind
from bot.lifecycle import Action, State
from bot.locale import en, zh
from bot.maps import MapApp
from bot.permissions import Role
from bot.views import MAP_NAME_KEYS

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("bot", "handlers", "storage", "whistle_testing")
"""Where catalogue keys are used (the catalogues themselves excepted)."""
KEYS = frozenset(zh.MESSAGES) | frozenset(en.MESSAGES)


def _source_files(roots: tuple[str, ...] = SOURCES) -> Iterator[Path]:
    for root in roots:
        for path in sorted((ROOT / root).rglob("*.py")):
            if "locale" not in path.relative_to(ROOT).parts:
                yield path


def _trees() -> Iterator[tuple[Path, ast.Module]]:
    for path in _source_files():
        yield path, ast.parse(path.read_text(encoding="utf-8"))


def _string(node: ast.expr) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _pattern(node: ast.AST) -> str | None:
    """What a string built from pieces may turn out to be, as a regular expression (each
    piece not written out is `.+`), or None when the node builds no string."""
    if isinstance(node, ast.JoinedStr):
        parts = [re.escape(v.value) if isinstance(v, ast.Constant) else ".+" for v in node.values]
        return "".join(parts)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _string(node.left), _string(node.right)
        if left is None and right is None:
            return None
        return (re.escape(left) if left is not None else ".+") + (
            re.escape(right) if right is not None else ".+"
        )
    return None


def _not_a_key(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    """An attribute's name (`getattr(x, f"{key}_rate")`) or an index into a table
    (`times[f"{label}_from_{origin}"]`): built from pieces, but never a catalogue key."""
    parent = parents.get(node)
    if isinstance(parent, ast.Call) and isinstance(parent.func, ast.Name):
        return parent.func.id in {"getattr", "setattr", "hasattr"} and parent.args[1:2] == [node]
    return isinstance(parent, ast.Subscript) and parent.slice is node


def built_keys(source: str) -> list[tuple[int, str]]:
    """The (line, expression) of each string in `source` built from pieces that could be a
    catalogue key."""
    tree = ast.parse(source)
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found = []
    for node in ast.walk(tree):
        pattern = _pattern(node)
        if not pattern or not pattern.replace(".+", "") or _not_a_key(node, parents):
            continue
        if any(re.fullmatch(pattern, key) for key in KEYS):
            found.append((getattr(node, "lineno", 0), ast.unparse(node)))
    return found


def test_no_catalogue_key_is_built_from_pieces() -> None:
    built = [
        f"{path.relative_to(ROOT)}:{line}: {expression}"
        for path in _source_files()
        for line, expression in built_keys(path.read_text(encoding="utf-8"))
    ]
    assert built == []


def test_a_key_built_with_an_f_string_or_plus_is_found() -> None:
    source = (
        'plain(lang, f"state_{state.value}")\n'
        'text(lang, "rating_" + rating)\n'
        'key = f"{kind.value}_requested"\n'
        'getattr(now, f"{key}_rate")\n'
        'callback = f"clr:{issue_id}:{kind}"\n'
    )
    assert sorted(line for line, _ in built_keys(source)) == [1, 2, 3]


def test_every_catalogue_key_is_written_out_where_it_is_used() -> None:
    written = {
        node.value
        for _, tree in _trees()
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }
    assert sorted(KEYS - written) == []


@pytest.mark.parametrize(
    ("table", "members"),
    [
        (labels.STATE_KEYS, set(State)),
        (labels.RATING_KEYS, set(Rating)),
        (labels.RATE_BUTTON_KEYS, set(Rating)),
        (labels.ROLE_KEYS, set(Role)),
        (labels.CLOSURE_KEYS, set(ClosureKind)),
        (labels.CLOSURE_BUTTON_KEYS, set(ClosureKind)),
        (labels.CLOSURE_QUESTION_KEYS, set(ClosureKind)),
        (MESSAGES, set(Kind)),
        (REVIEW_NOTICES, set(REVIEW_ACTIONS.values())),
        (REVIEW_DONE, set(REVIEW_ACTIONS.values())),
        (MAP_NAME_KEYS, set(MapApp)),
    ],
    ids=[
        "states",
        "ratings",
        "rating buttons",
        "roles",
        "closures",
        "closure buttons",
        "closure questions",
        "extension kinds",
        "review notices",
        "review answers",
        "map apps",
    ],
)
def test_each_table_names_every_member(table: dict[object, object], members: set[object]) -> None:
    assert set(table) == members


def test_every_action_has_a_timeline_name() -> None:
    assert set(Action) - set(labels.EVENT_KEYS) == set()


def test_every_named_key_is_in_the_catalogue() -> None:
    named = [
        *labels.STATE_KEYS.values(),
        *labels.RATING_KEYS.values(),
        *labels.RATE_BUTTON_KEYS.values(),
        *labels.ROLE_KEYS.values(),
        *labels.CLOSURE_KEYS.values(),
        *labels.CLOSURE_BUTTON_KEYS.values(),
        *labels.CLOSURE_QUESTION_KEYS.values(),
        *labels.EVENT_KEYS.values(),
        *(key for m in MESSAGES.values() for key in vars(m).values()),
        *REVIEW_NOTICES.values(),
        *REVIEW_DONE.values(),
    ]
    assert sorted(set(named) - KEYS) == []


def test_every_column_has_a_header() -> None:
    from bot.stats import Figures
    from bot.stats_views import (
        DURATION_FIELDS,
        ISSUE_COLUMNS,
        ISSUE_HEADERS,
        SUMMARY_COLUMNS,
        SUMMARY_HEADERS,
        WHISTLE_COLUMNS,
        WHISTLE_HEADERS,
    )

    assert (list(ISSUE_HEADERS), list(SUMMARY_HEADERS), list(WHISTLE_HEADERS)) == (
        list(ISSUE_COLUMNS),
        list(SUMMARY_COLUMNS),
        list(WHISTLE_COLUMNS),
    )
    assert list(DURATION_FIELDS) == list(Figures.DURATIONS)


def test_every_command_in_a_menu_has_a_description() -> None:
    from handlers.people import COMMAND_DESCRIPTIONS, COMMON_COMMANDS, GUEST_COMMANDS, ROLE_COMMANDS

    in_menus = {*GUEST_COMMANDS, *COMMON_COMMANDS}
    in_menus.update(c for commands in ROLE_COMMANDS.values() for c in commands)
    assert in_menus - set(COMMAND_DESCRIPTIONS) == set()


def _literal_collections(tree: ast.Module) -> Iterator[ast.Tuple | ast.List | ast.Set]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Tuple | ast.List | ast.Set):  # Literal["mon", …] too
            yield node


def _element_names(node: ast.Tuple | ast.List | ast.Set) -> frozenset[str]:
    """The states or words a literal collection lists: `State.REPORTED` → "reported"."""
    names = set()
    for element in node.elts:
        if isinstance(element, ast.Attribute) and isinstance(element.value, ast.Name):
            if element.value.id == "State":
                names.add(State[element.attr].value)
        elif (word := _string(element)) is not None:
            names.add(word)
    return frozenset(names)


def _lists_of(wanted: frozenset[str]) -> list[str]:
    return [
        str(path.relative_to(ROOT))
        for path, tree in _trees()
        for node in _literal_collections(tree)
        if wanted <= _element_names(node)
    ]


def test_the_open_states_are_listed_once() -> None:
    from bot.lifecycle import OPEN_STATES

    assert _lists_of(frozenset(s.value for s in OPEN_STATES)) == ["bot/lifecycle.py"]


def test_the_weekday_names_are_listed_once() -> None:
    from bot.workcalendar import DAY_NAMES

    assert _lists_of(frozenset(DAY_NAMES)) == ["bot/workcalendar.py"]


def test_each_bot_api_method_is_named_in_one_place() -> None:
    from bot.bot_api import Method

    names = {value for key, value in vars(Method).items() if key.isupper()}
    written = [
        f"{path.relative_to(ROOT)}:{node.lineno}: {node.value}"
        for path in _source_files((*SOURCES, "bench"))
        if path.name != "bot_api.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Constant) and node.value in names
    ]
    assert written == []


LONGEST_FUNCTION = 60
"""Lines, from `def` to the last line of the body: about a screen."""
LONG_FUNCTIONS_BEING_SPLIT: frozenset[str] = frozenset()
"""Longer functions still to be split (none: keep it so)."""


def test_no_function_is_longer_than_a_screen() -> None:
    long = sorted(
        f"{path.relative_to(ROOT)}:{node.name}"
        for path in _source_files(("bot", "handlers", "storage"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and (node.end_lineno or node.lineno) - node.lineno + 1 > LONGEST_FUNCTION
    )
    assert sorted(set(long) - LONG_FUNCTIONS_BEING_SPLIT) == []


MEASUREMENT = re.compile(r"\d[\d,.]*\s*(ms|µs|MiB|GiB|KiB|MB|GB|reports/s|updates/s|msg/s)\b")
"""A benchmark's figure: a number with a unit of time, memory or throughput."""


def _docs_and_comments(source: str) -> Iterator[tuple[int, str]]:
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            doc = ast.get_docstring(node, clean=False)
            if doc:
                yield (node.body[0].lineno, doc)
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            yield token.start[0], token.string


def test_benchmark_figures_live_in_docs_performance_not_in_the_code() -> None:
    figures = [
        f"{path.relative_to(ROOT)}:{line}: {found.group(0)}"
        for path in _source_files(("bot", "handlers", "storage"))
        for line, words in _docs_and_comments(path.read_text(encoding="utf-8"))
        for found in MEASUREMENT.finditer(words)
    ]
    assert figures == []
    moved = (ROOT / "docs" / "performance.md").read_text(encoding="utf-8")
    assert "## Figures moved from the code" in moved
