from __future__ import annotations

import datetime as dt

from django import template

from audit import actions

register = template.Library()


@register.filter
def action_label(action: str) -> str:
    return actions.label(action)


@register.filter
def duration(value: dt.timedelta | None) -> str:
    """A span of time as 1 d 2 h 3 min (or —)."""
    if value is None:
        return "—"
    minutes = int(value.total_seconds() // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    parts = [f"{days} d"] * bool(days) + [f"{hours} h"] * bool(hours) + [f"{minutes} min"]
    return " ".join(parts)
