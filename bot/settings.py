"""Settings from the environment or `.env`, all prefixed `WHISTLE_` (see `.env.example`).

An empty value means "not set" (so `.env.example` copied unchanged works), and a value
that is wrong is reported as one line that names the setting, says what is wrong and
shows a valid example (`SettingsError`), never as a traceback."""

from __future__ import annotations

import difflib
import os
from datetime import time
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.maps import MapApp
from bot.numbers import parse_id
from bot.workcalendar import DayName

PREFIX = "WHISTLE_"
DEFAULT_ZONE = "Asia/Shanghai"
"""The street's zone where neither WHISTLE_TIMEZONE nor an organisation file says one."""
PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")

EXAMPLES: dict[str, str] = {
    "telegram_token": "123456789:AAE-your-token-from-BotFather",
    "telegram_api_url": "https://api.telegram.org/bot",
    "telegram_file_url": "https://api.telegram.org/file/bot",
    "bot_api_client": "httpx",
    "database": "/var/lib/whistle/whistle.db",
    "org_file": "/etc/whistle/district.toml",
    "admin_ids": "3001,3002",
    "timezone": "Asia/Shanghai",
    "language": "zh",
    "invite_days": "7",
    "max_photos": "10",
    "max_text_length": "1000",
    "send_rate_overall": "30",
    "send_rate_private_chat": "1",
    "send_rate_group_per_minute": "20",
    "send_max_backoff_seconds": "300",
    "concurrent_updates": "64",
    "poll_timeout_seconds": "30",
    "weekly_stats": "true",
    "stats_weekday": "mon",
    "stats_time": "09:00",
    "report_limit_per_hour": "30",
    "log_level": "INFO",
    "proxy": "socks5://user:password@127.0.0.1:1080",
    "webhook_url": "https://whistle.example.gov.cn/telegram",
    "webhook_listen": "127.0.0.1:8443",
    "http_listen": "127.0.0.1:9100",
    "log_format": "json",
    "map_links": "amap,baidu",
}
"""A valid value of every setting, shown beside an error about it."""


class SettingsError(Exception):
    """Settings that cannot be used; `str()` is one line per problem, each naming the
    setting, what is wrong and a valid example."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        env_ignore_empty=True,
        extra="ignore",
    )

    telegram_token: SecretStr | None = None
    telegram_api_url: str = "https://api.telegram.org/bot"
    telegram_file_url: str | None = None
    bot_api_client: Literal["httpx", "aiohttp"] = "httpx"
    database: Path = Path("whistle.db")
    org_file: Path | None = None
    admin_ids: Annotated[list[int], NoDecode] = []
    timezone: str | None = None
    """Optional: the organisation file's `timezone` is the street's. Set, it is a check —
    a file in another zone is refused and the bot does not start."""
    language: Literal["zh", "en"] = "zh"
    invite_days: Annotated[int, Field(gt=0, le=365)] = 7
    max_photos: Annotated[int, Field(gt=0, le=10)] = 10
    max_text_length: Annotated[int, Field(gt=0, le=3000)] = 1000
    send_rate_overall: Annotated[float, Field(gt=0)] = 30.0
    send_rate_private_chat: Annotated[float, Field(gt=0)] = 1.0
    send_rate_group_per_minute: Annotated[float, Field(gt=0)] = 20.0
    send_max_backoff_seconds: Annotated[int, Field(gt=0)] = 300
    concurrent_updates: Annotated[int, Field(ge=1, le=1024)] = 64
    poll_timeout_seconds: Annotated[int, Field(ge=0, le=50)] = 30
    weekly_stats: bool = True
    stats_weekday: DayName = "mon"
    stats_time: time = time(9, 0)
    report_limit_per_hour: Annotated[int, Field(gt=0)] = 30
    prompt_minutes: Annotated[int, Field(gt=0, le=1440)] = 15
    log_level: str = "INFO"
    proxy: SecretStr | None = None
    """Every Bot API call goes through this proxy (it may carry a password: kept secret)."""
    webhook_url: str | None = None
    """The public https address Telegram posts updates to; unset: long polling."""
    webhook_listen: str | None = None
    """host:port the webhook server binds (behind the reverse proxy that owns the URL)."""
    http_listen: str | None = None
    """host:port for /healthz and /metrics; unset: not served. The same address as
    WHISTLE_WEBHOOK_LISTEN shares the webhook's server."""
    log_format: Literal["text", "json"] = "text"
    # places: the map apps a card's shared location links to
    map_links: Annotated[list[MapApp], NoDecode] = []
    """amap, baidu, osm, apple, comma-separated; unset: 高德 in Chinese, OpenStreetMap in
    English (bot/maps.py)."""

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            ids: list[int] = []
            for part in value.replace(";", ",").replace("，", ",").split(","):
                part = part.strip()
                if not part:
                    continue
                user_id = parse_id(part, hash_allowed=False)
                if user_id is None:
                    raise ValueError(f"{part!r} is not a Telegram user id (digits 0-9 only)")
                ids.append(user_id)
            return ids
        if isinstance(value, int):
            return [value]
        return value

    @field_validator("map_links", mode="before")
    @classmethod
    def _split_maps(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        chosen: list[MapApp] = []
        for part in value.replace("，", ",").split(","):
            name = part.strip().lower()
            if not name:
                continue
            if name not in MapApp.__members__.values():
                known = ", ".join(app.value for app in MapApp)
                raise ValueError(f"{part.strip()!r} is not a map app (one of {known})")
            if MapApp(name) not in chosen:
                chosen.append(MapApp(name))
        return chosen

    @field_validator("admin_ids")
    @classmethod
    def _positive_ids(cls, value: list[int]) -> list[int]:
        for user_id in value:
            if not 0 < user_id < 2**63:
                raise ValueError(f"{user_id} is not a Telegram user id (a positive number)")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not a time zone name") from None
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        if value.upper() not in LOG_LEVELS:
            raise ValueError(f"{value!r} is not one of {', '.join(LOG_LEVELS)}")
        return value.upper()

    @field_validator("telegram_api_url", "telegram_file_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"{value!r} is not an http:// or https:// address")
        return value

    @field_validator("proxy")
    @classmethod
    def _proxy_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return value
        parts = urlsplit(value.get_secret_value())
        if parts.scheme not in PROXY_SCHEMES or not parts.hostname:
            raise ValueError(
                "not a proxy address: it starts with "
                + ", ".join(f"{scheme}://" for scheme in PROXY_SCHEMES)
                + " and names a host"
            )
        try:
            parts.port  # noqa: B018  (raises for a port that is not a number)
        except ValueError:
            raise ValueError("the proxy's port is not a number") from None
        return value

    @field_validator("webhook_url")
    @classmethod
    def _webhook_url(cls, value: str | None) -> str | None:
        if value is None:
            return value
        parts = urlsplit(value)
        local = parts.hostname in ("127.0.0.1", "localhost", "::1")
        secure = parts.scheme == "https" or (local and parts.scheme == "http")
        if not parts.hostname or not secure:
            raise ValueError("Telegram posts updates only to an https:// address")
        return value

    @field_validator("webhook_listen", "http_listen")
    @classmethod
    def _listen(cls, value: str | None) -> str | None:
        if value is None:
            return value
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("not host:port")
        return value

    @model_validator(mode="after")
    def _webhook_pair(self) -> Settings:
        if (self.webhook_url is None) != (self.webhook_listen is None):
            missing = "webhook_listen" if self.webhook_listen is None else "webhook_url"
            raise ValueError(
                f"{PREFIX}{missing.upper()} is not set: webhook mode needs both "
                f"{PREFIX}WEBHOOK_URL and {PREFIX}WEBHOOK_LISTEN; for example "
                f"{PREFIX}{missing.upper()}={EXAMPLES[missing]}"
            )
        return self

    def token(self) -> str:
        if self.telegram_token is None:
            raise SettingsError([problem("telegram_token", "is not set (`whistle run` needs it)")])
        return self.telegram_token.get_secret_value()

    def proxy_url(self) -> str | None:
        return None if self.proxy is None else self.proxy.get_secret_value()


def host_and_port(listen: str) -> tuple[str, int]:
    """`host:port` (as the listen settings are checked to be) split; `[::1]` loses its
    brackets."""
    host, _, port = listen.rpartition(":")
    return host.strip("[]"), int(port)


def problem(field: str, what: str) -> str:
    """One line about one setting: its name, what is wrong, a valid example."""
    name = PREFIX + field.upper()
    return f"{name} {what}; for example {name}={EXAMPLES.get(field, '…')}"


def load_settings(**overrides: Any) -> Settings:
    """The settings from the environment and `.env`, or `SettingsError` (a misspelt
    WHISTLE_ name is one too: otherwise the setting it was meant to be is silently left at
    its default)."""
    unknown = _unknown_names(overrides.get("_env_file", Settings.model_config.get("env_file")))
    try:
        settings = Settings(**overrides)
    except ValidationError as invalid:
        raise SettingsError(
            unknown + [_describe(error) for error in invalid.errors(include_url=False)]
        ) from None
    if unknown:
        raise SettingsError(unknown)
    return settings


def _unknown_names(env_file: object) -> list[str]:
    """One line for every WHISTLE_ name in the environment or the `.env` file that is no
    setting, naming the closest real one."""
    known = [PREFIX + name.upper() for name in Settings.model_fields]
    given = [name for name in os.environ if name.upper().startswith(PREFIX)]
    if isinstance(env_file, str | Path) and Path(env_file).is_file():
        given += [
            name
            for name in dotenv_values(env_file, encoding="utf-8")
            if name.upper().startswith(PREFIX)
        ]
    problems: list[str] = []
    for name in dict.fromkeys(given):
        if name.upper() in known:
            continue
        closest = difflib.get_close_matches(name.upper(), known, n=1, cutoff=0.6)
        hint = f"did you mean {closest[0]}?" if closest else "see .env.example for the settings"
        problems.append(f"{name} is not a setting; {hint}")
    return problems


def _describe(error: Any) -> str:
    message = str(error["msg"])
    message = message.removeprefix("Value error, ")
    if not error["loc"]:  # a rule about several settings says itself which and how
        return message
    field = str(error["loc"][0])
    shown = error.get("input")
    if field == "proxy" or field == "telegram_token":
        return problem(field, f"is wrong: {message}")
    if isinstance(shown, str | int | float) and repr(shown) not in message:
        return problem(field, f"is {shown!r}: {message}")
    return problem(field, f"is wrong: {message}")
