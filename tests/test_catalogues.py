"""The zh and en catalogues say the same things: the same keys, each message with the same
placeholders ({name}, {count}, …), every message a valid format string, no key written twice
(a dict literal keeps the last one silently). A key missing from en falls back to Chinese;
a placeholder missing from one language shows a reader the wrong thing or raises KeyError."""

from __future__ import annotations

import ast
import string
from pathlib import Path

import pytest

from bot.locale import en, zh

CATALOGUES = {"zh": zh.MESSAGES, "en": en.MESSAGES}
LOCALE = Path(__file__).resolve().parent.parent / "bot" / "locale"


def placeholders(template: str) -> set[str]:
    """The names a message fills in (`{name}`, `{count:d}` → name, count)."""
    return {
        field.split(".")[0].split("[")[0]
        for _, field, _, _ in string.Formatter().parse(template)
        if field is not None
    }


def test_zh_and_en_have_the_same_keys() -> None:
    only_zh = sorted(set(zh.MESSAGES) - set(en.MESSAGES))
    only_en = sorted(set(en.MESSAGES) - set(zh.MESSAGES))
    assert (only_zh, only_en) == ([], [])


@pytest.mark.parametrize("key", sorted(set(zh.MESSAGES) & set(en.MESSAGES)))
def test_each_message_has_the_same_placeholders_in_zh_and_en(key: str) -> None:
    assert placeholders(zh.MESSAGES[key]) == placeholders(en.MESSAGES[key])


@pytest.mark.parametrize("language", sorted(CATALOGUES))
def test_every_message_is_a_valid_format_string(language: str) -> None:
    broken = {}
    for key, template in CATALOGUES[language].items():
        try:
            placeholders(template)
        except ValueError as error:
            broken[key] = str(error)
    assert broken == {}


@pytest.mark.parametrize("language", sorted(CATALOGUES))
def test_no_key_is_written_twice(language: str) -> None:
    tree = ast.parse((LOCALE / f"{language}.py").read_text(encoding="utf-8"))
    keys = [
        key.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Dict)
        for key in node.keys
        if isinstance(key, ast.Constant)
    ]
    assert sorted({k for k in keys if keys.count(k) > 1}) == []


def test_placeholders_are_read_as_python_fills_them() -> None:
    assert placeholders("{name}，{count:d} 件，{when!s}，{{literal}}") == {"name", "count", "when"}
