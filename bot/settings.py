"""Settings from the environment or `.env`, all prefixed `WHISTLE_` (see `.env.example`)."""

from __future__ import annotations

from datetime import time
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="WHISTLE_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    telegram_token: SecretStr | None = None
    telegram_api_url: str = "https://api.telegram.org/bot"
    telegram_file_url: str | None = None
    bot_api_client: Literal["httpx", "aiohttp"] = "httpx"
    database: Path = Path("whistle.db")
    org_file: Path | None = None
    admin_ids: Annotated[list[int], NoDecode] = []
    timezone: str = "Asia/Shanghai"
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
    stats_weekday: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] = "mon"
    stats_time: time = time(9, 0)
    report_limit_per_hour: Annotated[int, Field(gt=0)] = 30
    prompt_minutes: Annotated[int, Field(gt=0, le=1440)] = 15
    log_level: str = "INFO"

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            return [int(part) for part in value.replace(";", ",").split(",") if part.strip()]
        if isinstance(value, int):
            return [value]
        return value

    def token(self) -> str:
        if self.telegram_token is None:
            raise RuntimeError("WHISTLE_TELEGRAM_TOKEN is not set")
        return self.telegram_token.get_secret_value()
