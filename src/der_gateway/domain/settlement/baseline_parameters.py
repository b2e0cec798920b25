"""The parameters of each baseline method, with their defaults, read from and written to JSON-like dicts.

A program stores its method as {"name": <method>, <camelCase parameter>: <value>, ...}; a parameter left out
takes its default.  Integers are JSON integers; decimals (adjustment caps, minutes) may be given as a number or
a numeric string and are written back as strings, exactly.  Anything else is refused with a ValueError that
names the field.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar, Literal, Mapping, Union, get_args, get_type_hints

Adjustment = Literal["ratio", "difference", "none"]
ADJUSTMENTS: tuple[str, ...] = get_args(Adjustment)
MAX_LOOKBACK_DAYS = 366


@dataclass(frozen=True)
class HighXOfY:
    """The highest X of the Y most recent like days, averaged interval by interval, with a day-of adjustment."""

    name: ClassVar[str] = "high-x-of-y"
    weekday_highest: int = 5
    weekday_days: int = 10
    weekend_highest: int = 4
    weekend_days: int = 4
    lookback_days: int = 45
    adjustment: Adjustment = "ratio"
    adjustment_hours: int = 3
    adjustment_gap_hours: int = 1
    adjustment_min: Decimal = Decimal("0.8")
    adjustment_max: Decimal = Decimal("1.2")

    def check(self) -> None:
        _check_lookback(self.lookback_days)
        for kind in ("weekday", "weekend"):
            highest, days = getattr(self, f"{kind}_highest"), getattr(self, f"{kind}_days")
            if highest > days:
                raise ValueError(f"{_camel(kind + '_highest')}: must be at most {_camel(kind + '_days')} "
                                 f"({days}), got {highest}")
        if not self.adjustment_min <= 1:
            raise ValueError(f"adjustmentMin: must be at most 1, got {self.adjustment_min}")
        if not self.adjustment_max >= 1:
            raise ValueError(f"adjustmentMax: must be at least 1, got {self.adjustment_max}")


@dataclass(frozen=True)
class ComparableDay:
    """The like day whose pre-event load best matches the event day's; its window load is the baseline."""

    name: ClassVar[str] = "comparable-day"
    days: int = 10
    lookback_days: int = 45
    match_hours: int = 4
    match_gap_hours: int = 1
    match_interval_minutes: int = 60

    def check(self) -> None:
        _check_lookback(self.lookback_days)
        if (self.match_hours * 60) % self.match_interval_minutes:
            raise ValueError(f"matchIntervalMinutes: must divide matchHours ({self.match_hours} h), "
                             f"got {self.match_interval_minutes}")


@dataclass(frozen=True)
class MeterBefore:
    """The mean load over the minutes just before the event, constant over the window."""

    name: ClassVar[str] = "meter-before"
    minutes: Decimal = Decimal(15)

    def check(self) -> None:
        if (self.minutes * 60) % 1:
            raise ValueError(f"minutes: must be a whole number of seconds, got {self.minutes}")


def _check_lookback(days: int) -> None:
    if days > MAX_LOOKBACK_DAYS:
        raise ValueError(f"lookbackDays: must be at most {MAX_LOOKBACK_DAYS}, got {days}")


BaselineParameters = Union[HighXOfY, ComparableDay, MeterBefore]
PARAMETER_TYPES: dict[str, type[HighXOfY] | type[ComparableDay] | type[MeterBefore]] = {
    t.name: t for t in (HighXOfY, ComparableDay, MeterBefore)}
# the least value each parameter takes; every one given here is a positive integer or decimal
_MINIMUM: dict[str, int] = {"adjustment_gap_hours": 0, "match_gap_hours": 0}


def _camel(field_name: str) -> str:
    head, *rest = field_name.split("_")
    return head + "".join(part.title() for part in rest)


def _value(key: str, kind: Any, minimum: int, raw: Any) -> Any:
    if kind is int:
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise ValueError(f"{key}: must be an integer, got {raw!r}")
        if raw < minimum:
            raise ValueError(f"{key}: must be at least {minimum}, got {raw}")
        return raw
    if kind is Decimal:
        if isinstance(raw, bool) or not isinstance(raw, (int, float, str, Decimal)):
            raise ValueError(f"{key}: must be a decimal number, got {raw!r}")
        try:
            number = Decimal(str(raw))
        except InvalidOperation:
            raise ValueError(f"{key}: must be a decimal number, got {raw!r}") from None
        if not number.is_finite() or number <= 0:
            raise ValueError(f"{key}: must be a number greater than 0, got {raw!r}")
        return number
    allowed = get_args(kind)
    if raw not in allowed:
        raise ValueError(f"{key}: must be one of {', '.join(allowed)}, got {raw!r}")
    return raw


def parse_method(document: Any) -> BaselineParameters:
    """A program's baselineMethod ({"name": ..., parameters...}) as the method's parameters, checked."""
    if not isinstance(document, Mapping):
        raise ValueError(f"baselineMethod: must be an object, got {document!r}")
    name = document.get("name")
    kind = PARAMETER_TYPES.get(name) if isinstance(name, str) else None
    if kind is None:
        raise ValueError(f"name: must be one of {', '.join(PARAMETER_TYPES)}, got {name!r}")
    hints = get_type_hints(kind)
    known = {_camel(f.name): f.name for f in fields(kind)}
    unknown = sorted(k for k in document if k != "name" and k not in known)
    if unknown:
        raise ValueError(f"{unknown[0]}: not a parameter of {name} (its parameters: {', '.join(known)})")
    values = {attr: _value(key, hints[attr], _MINIMUM.get(attr, 1), document[key])
              for key, attr in known.items() if key in document}
    parameters = kind(**values)
    parameters.check()
    return parameters


def method_document(parameters: BaselineParameters) -> dict[str, Any]:
    """The JSON-like form of a method and all its parameters (defaults included), as parse_method reads it."""
    document: dict[str, Any] = {"name": parameters.name}
    for f in fields(parameters):
        value = getattr(parameters, f.name)
        document[_camel(f.name)] = str(value) if isinstance(value, Decimal) else value
    return document
