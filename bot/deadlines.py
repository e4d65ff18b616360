"""Deadlines from a category and an urgency: the one place that computes them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.organisation import Category


@dataclass(frozen=True)
class Deadlines:
    acknowledge_by: datetime
    resolve_by: datetime


def ack_window(category: Category, urgent: bool) -> timedelta:
    minutes = category.urgent_ack_minutes if urgent and category.urgent_ack_minutes else None
    return timedelta(minutes=minutes or category.ack_minutes)


def resolve_window(category: Category, urgent: bool) -> timedelta:
    hours = category.urgent_resolve_hours if urgent and category.urgent_resolve_hours else None
    return timedelta(hours=hours or category.resolve_hours)


def deadlines_from(category: Category, urgent: bool, dispatched_at: datetime) -> Deadlines:
    """Both clocks start when a department is given the issue (each dispatch restarts them):
    that is the moment the department becomes answerable for it."""
    return Deadlines(
        acknowledge_by=dispatched_at + ack_window(category, urgent),
        resolve_by=dispatched_at + resolve_window(category, urgent),
    )
