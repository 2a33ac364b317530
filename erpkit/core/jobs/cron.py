"""A small cron expression parser: ``minute hour day month weekday``.

Each field takes ``*``, numbers, lists (``1,15``), ranges (``1-5``) and steps
(``*/5``, ``8-18/2``); months and weekdays also take English names (``jan``,
``mon-fri``). Weekday 0 and 7 are Sunday. As in cron, when both the day of the
month and the weekday are restricted, a time matches if either does. The
shortcuts ``@hourly``, ``@daily``, ``@weekly``, ``@monthly`` and ``@yearly`` are
accepted. Times are the server's local time.
"""

from __future__ import annotations

from datetime import datetime, timedelta

_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
_FIELDS = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day", 1, 31, {}),
    ("month", 1, 12, {n: i + 1 for i, n in enumerate(_MONTHS)}),
    ("weekday", 0, 7, {n: i for i, n in enumerate(_DAYS)}),
)
_SHORTCUTS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}


class CronError(ValueError):
    """A cron expression that cannot be parsed; the message names the field."""


def _value(text: str, name: str, lo: int, hi: int, names: dict[str, int]) -> int:
    key = text.lower()
    if key in names:
        return names[key]
    if not text.isdigit():
        raise CronError(f"{name} field: {text!r} is not a number")
    value = int(text)
    if not lo <= value <= hi:
        raise CronError(f"{name} field: {value} is outside {lo}-{hi}")
    return value


def _field(text: str, name: str, lo: int, hi: int, names: dict[str, int]) -> frozenset[int]:
    out: set[int] = set()
    for part in text.split(","):
        if not part:
            raise CronError(f"{name} field: empty list item in {text!r}")
        base, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise CronError(f"{name} field: step {step_text!r} must be a positive number")
            step = int(step_text)
        if base == "*":
            start, end = lo, hi
        elif "-" in base:
            a, _, b = base.partition("-")
            start, end = _value(a, name, lo, hi, names), _value(b, name, lo, hi, names)
            if start > end:
                raise CronError(f"{name} field: range {base!r} runs backwards")
        else:
            start = _value(base, name, lo, hi, names)
            end = hi if step_text else start
        out.update(range(start, end + 1, step))
    return frozenset(out)


class Cron:
    """A parsed cron expression; :meth:`matches` tests one minute."""

    def __init__(self, expression: str) -> None:
        self.expression = expression
        text = _SHORTCUTS.get(expression.strip().lower(), expression)
        parts = text.split()
        if len(parts) != 5:
            raise CronError(
                f"{expression!r} needs five fields (minute hour day month weekday), "
                f"not {len(parts)}"
            )
        fields = [_field(p, *spec) for p, spec in zip(parts, _FIELDS, strict=True)]
        self.minutes, self.hours, self.days, self.months, weekdays = fields
        self.weekdays = frozenset(d % 7 for d in weekdays)  # 7 is Sunday too
        self._any_day = parts[2] == "*"
        self._any_weekday = parts[4] == "*"

    def __repr__(self) -> str:
        return f"Cron({self.expression!r})"

    def matches(self, when: datetime) -> bool:
        """Whether the minute of ``when`` is one the expression names."""
        if (
            when.minute not in self.minutes
            or when.hour not in self.hours
            or when.month not in self.months
        ):
            return False
        return self._day_matches(when)

    def latest(self, start: datetime, end: datetime) -> datetime | None:
        """The last matching minute in ``[start, end]`` (minute precision), or None."""
        minute = end.replace(second=0, microsecond=0)
        start = start.replace(second=0, microsecond=0)
        while minute >= start:
            if self.matches(minute):
                return minute
            minute -= timedelta(minutes=1)
        return None

    def next_after(self, when: datetime, limit_days: int = 366 * 5) -> datetime | None:
        """The first matching minute strictly after ``when`` (None if none within the limit)."""
        minute = when.replace(second=0, microsecond=0) + timedelta(minutes=1)
        end = minute + timedelta(days=limit_days)
        while minute < end:
            if minute.month not in self.months:
                # jump to the first day of the next month
                minute = (minute.replace(day=1, hour=0, minute=0) + timedelta(days=32)).replace(
                    day=1
                )
                continue
            if not self._day_matches(minute):
                minute = minute.replace(hour=0, minute=0) + timedelta(days=1)
                continue
            if minute.hour not in self.hours:
                minute = minute.replace(minute=0) + timedelta(hours=1)
                continue
            if minute.minute in self.minutes:
                return minute
            minute += timedelta(minutes=1)
        return None

    def _day_matches(self, when: datetime) -> bool:
        day_ok = when.day in self.days
        weekday_ok = (when.weekday() + 1) % 7 in self.weekdays  # cron: 0 = Sunday
        if self._any_day or self._any_weekday:
            return day_ok and weekday_ok
        return day_ok or weekday_ok
