"""`whistle doctor`: one look at everything a street office must get right before the bot
can serve it — the settings, the database, the organisation, the way to the Bot API, and
the people who cannot receive pushes yet. It changes nothing: the database is opened
read-only and never created."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import aiosqlite
from telegram import Bot
from telegram.error import InvalidToken, TelegramError

from bot.organisation import (
    OrganisationInvalid,
    check_zone,
    parse_organisation,
    read_organisation_text,
)
from bot.settings import Settings
from storage.migrations import LATEST_VERSION
from storage.org import stored_source
from storage.people import everyone_with_roles

Say = Callable[[str], None]


@dataclass
class Findings:
    say: Say
    to_fix: list[str] = field(default_factory=list)

    def good(self, what: str) -> None:
        self.say(f"ok    {what}")

    def note(self, what: str) -> None:
        self.say(f"note  {what}")

    def fix(self, what: str) -> None:
        self.to_fix.append(what)
        self.say(f"FIX   {what}")


async def examine(settings: Settings, say: Say) -> int:
    """Print one line per check and a verdict; 0 when nothing needs fixing, else 1."""
    findings = Findings(say)
    _settings(settings, findings)
    version = _database(settings.database, findings)
    await _organisation(settings, version is not None, findings)
    await _bot_api(settings, findings)
    if version is not None:
        await _people(settings.database, findings)
    if findings.to_fix:
        say(f"doctor: {len(findings.to_fix)} thing(s) to fix (the FIX lines above)")
        return 1
    say("doctor: all good — `whistle run` can start")
    return 0


def _settings(settings: Settings, findings: Findings) -> None:
    findings.good("settings: read (environment and .env)")
    if settings.telegram_token is None:
        findings.fix(
            "WHISTLE_TELEGRAM_TOKEN is not set; for example "
            "WHISTLE_TELEGRAM_TOKEN=123456789:AAE-your-token-from-BotFather"
        )
    mode = f"webhook at {settings.webhook_url}" if settings.webhook_url else "long polling"
    findings.good(f"updates by {mode}; proxy: {'set' if settings.proxy else 'none'}")


def _database(path: Path, findings: Findings) -> int | None:
    """The schema version of a database that opens and passes integrity_check, else None."""
    if not path.exists():
        findings.fix(
            f"database {path} does not exist: `whistle org import FILE` or `whistle run` "
            "creates it (check WHISTLE_DATABASE and the folder the command runs in)"
        )
        return None
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    except sqlite3.Error as error:
        findings.fix(f"database {path} cannot be read: {error}")
        return None
    if integrity != "ok":
        findings.fix(
            f"database {path} fails integrity_check ({integrity}): restore the last backup"
        )
        return None
    if version > LATEST_VERSION:
        findings.fix(
            f"database {path} is at schema version {version}, newer than this Whistle "
            f"({LATEST_VERSION}): upgrade Whistle"
        )
        return None
    if version < LATEST_VERSION:
        findings.note(
            f"database {path}: schema version {version}, the next start migrates it to "
            f"{LATEST_VERSION} (take a backup first: whistle backup PATH)"
        )
    else:
        findings.good(f"database {path}: opens, integrity ok, migrations current")
    return version


async def _organisation(settings: Settings, have_db: bool, findings: Findings) -> None:
    if settings.org_file is not None:
        path = settings.org_file
        try:
            toml_text = read_organisation_text(path)
            org = parse_organisation(toml_text)
            check_zone(org, toml_text, settings.timezone)
        except OrganisationInvalid as invalid:
            findings.fix(
                f"organisation file {path}: {len(invalid.errors)} error(s), the first: "
                f"{invalid.errors[0]}; see them all with: whistle org check {path}"
            )
            return
        findings.good(
            f"organisation file {path}: {len(org.departments)} departments, "
            f"{len(org.categories)} categories, {len(org.grids)} grids"
        )
        return
    source = await _stored_organisation(settings.database) if have_db else None
    if source is None:
        findings.fix("no organisation: set WHISTLE_ORG_FILE or run `whistle org import FILE` once")
        return
    findings.good("organisation: imported into the database (WHISTLE_ORG_FILE not set)")


async def _stored_organisation(path: Path) -> str | None:
    async with aiosqlite.connect(f"file:{path}?mode=ro", uri=True) as conn:
        conn.row_factory = aiosqlite.Row
        try:
            return await stored_source(conn)
        except sqlite3.Error:
            return None


async def _bot_api(settings: Settings, findings: Findings) -> None:
    """getMe through the same request objects (and so the same proxy) as `whistle run`."""
    if settings.telegram_token is None:
        return
    from bot.app import redact, redact_in_logs, request_objects

    redact_in_logs(settings.token())
    calls, polling = request_objects(settings)
    bot = Bot(
        settings.token(),
        base_url=settings.telegram_api_url,
        request=calls,
        get_updates_request=polling,
    )
    where = f"the Bot API at {settings.telegram_api_url}"
    if settings.proxy is not None:
        where += " through WHISTLE_PROXY"
    try:
        async with bot:
            me = bot.bot
            findings.good(f"{where}: reached; the bot is @{me.username}")
            webhook = await bot.get_webhook_info()
        _webhook(settings, webhook.url, webhook.last_error_message, findings)
    except InvalidToken:
        findings.fix(f"{where} refused the token: check WHISTLE_TELEGRAM_TOKEN")
    except TelegramError as error:
        findings.fix(f"cannot reach {where}: {redact(error.message)}")
    finally:
        await calls.shutdown()
        await polling.shutdown()


def _webhook(settings: Settings, url: str, last_error: str | None, findings: Findings) -> None:
    """What Telegram says about the webhook, beside what the settings ask for."""
    if settings.webhook_url is None:
        if url:
            findings.note(f"a webhook is set ({url}); `whistle run` deletes it and polls")
        return
    if url != settings.webhook_url:
        findings.note(f"the webhook is {url or 'not set'}; `whistle run` sets it")
    elif last_error:
        findings.fix(
            f"Telegram could not deliver to the webhook {url}: {last_error} (check the reverse "
            "proxy in front of WHISTLE_WEBHOOK_LISTEN)"
        )
    else:
        findings.good(f"webhook {url}: set, no delivery errors")


async def _people(path: Path, findings: Findings) -> None:
    async with aiosqlite.connect(f"file:{path}?mode=ro", uri=True) as conn:
        conn.row_factory = aiosqlite.Row
        try:
            everyone = await everyone_with_roles(conn)
        except sqlite3.Error as error:
            findings.fix(f"cannot read the roster: {error}")
            return
    unseen = [person for person in everyone if not person.seen]
    if not unseen:
        findings.good(f"people: all {len(everyone)} on the roster have opened the bot")
        return
    findings.fix(
        f"{len(unseen)} of {len(everyone)} people on the roster never opened a chat with the "
        "bot and cannot receive pushes; ask each to send it /start:"
    )
    for person in unseen:
        roles = ", ".join(
            grant.role.value + (f" {grant.scope}" if grant.scope else "") for grant in person.grants
        )
        findings.say(f"        {person.name or '-'}\t{roles}\t{person.user_id}")
