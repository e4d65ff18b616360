"""联合吹哨, the rest of issue #16: no private calls across services, the whole card within
Telegram's limits, photos with 配合完成 and a reason with the street's rating, a place
given as an address (the street's gazetteer), the whistle rows and series in the
statistics, and the whistle in the crash bench."""

from __future__ import annotations

import re
from pathlib import Path

from bot.message_limits import CAPTION_LIMIT, TEXT_LIMIT, telegram_length
from tests.conftest import open_street
from tests.test_whistle import SITE, ZJ_GROUP, arrive

ROOT = Path(__file__).resolve().parent.parent
ALL_DEPARTMENTS = ("cg", "zj", "sj", "hb", "yj", "pcs", "sw", "gd")


# --- 1. services call each other only through public methods --------------------------


def test_no_service_calls_another_services_private_methods() -> None:
    """`self.issues._choose(...)` and the like: a service reaches another only through its
    documented public methods."""
    private_call = re.compile(r"self\.(?!db\b)([a-z_]+)\._[a-z][a-z_]*\(")
    found = [
        f"{path.name}: {match.group(0)}"
        for path in sorted((ROOT / "bot" / "services").glob("*.py"))
        for match in private_call.finditer(path.read_text(encoding="utf-8"))
    ]
    assert found == []


# --- 2. the whole card, the whistle's section included, fits -------------------------


async def test_a_long_card_with_every_department_fits_with_its_whistle_section(
    tmp_path: Path, district_file: Path
) -> None:
    async with open_street(tmp_path, district_file, max_text_length=3000) as street:
        # 3,000 characters, 4,000 UTF-16 units (an emoji counts two): over a message alone.
        description = "🚧违建" * 1000
        worker = street.person(2001)
        number = await street.blow_whistle(worker, "违章建筑", description, photos=1, location=SITE)
        await street.settle()
        admin = street.person(3001)
        mark = admin.mark()
        await admin.send(f"/whistle {number} {' '.join(ALL_DEPARTMENTS)}")
        await admin.expect(f"已为 #{number} 吹哨", mark)
        await street.settle()
        # The group's card (a message): one message, every department, the title, fits.
        card = await street.api.expect(ZJ_GROUP, "联合吹哨 · 牵头", button="到场")
        assert card.text.startswith("🔔 #") and f"#{number}" in card.text
        assert telegram_length(card.text) <= TEXT_LIMIT
        for line in ("城管执法中队（牵头）：待到场", "住建办：待到场", "供电所：待到场"):
            assert line in card.text
        assert "…" in card.text  # the description gave way
        # The lead's card came with the report's photo: its caption (1,024) holds it too.
        lead = street.person(1002)
        captioned = [m for m in lead.inbox() if m.kind == "photo" and f"#{number}" in m.text]
        assert captioned, "the lead's photo card"
        caption = captioned[-1].text
        assert telegram_length(caption) <= CAPTION_LIMIT
        assert "联合吹哨 · 牵头" in caption and "供电所：待到场" in caption
        # An edit in place (the departments' states change) still fits, in one piece.
        await arrive(street, street.person(1102), number, SITE, "已到场")
        card = await street.api.expect(ZJ_GROUP, "住建办：已到场")
        assert telegram_length(card.text) <= TEXT_LIMIT and "供电所：待到场" in card.text
