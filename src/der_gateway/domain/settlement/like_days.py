"""Like days and local clock time for baselines.

A day is weekend-like when it is a Saturday, a Sunday or a holiday, weekday-like otherwise; a like day of an
event day is an earlier day of the same kind that is not excluded (the caller excludes, for instance, the
service point's own earlier event days).  Days are local dates in the calendar's time zone, and a time on a
like day is the same wall-clock time as on the event day, whatever the UTC offset is on either day (a wall
time that does not exist on the like day, in a spring-forward gap, is read with the offset before the change).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from typing import Iterator


@dataclass(frozen=True)
class Calendar:
    zone: tzinfo
    holidays: frozenset[date] = field(default_factory=frozenset)
    excluded: frozenset[date] = field(default_factory=frozenset)

    def day_of(self, t: int) -> date:
        return datetime.fromtimestamp(t, self.zone).date()

    def weekend_like(self, day: date) -> bool:
        return day.weekday() >= 5 or day in self.holidays

    def like_days(self, event_day: date, lookback_days: int) -> Iterator[date]:
        """The like days among the lookback_days days before event_day, most recent first."""
        weekend = self.weekend_like(event_day)
        for back in range(1, lookback_days + 1):
            day = event_day - timedelta(days=back)
            if self.weekend_like(day) == weekend and day not in self.excluded:
                yield day

    def same_clock(self, t: int, event_day: date, day: date) -> int:
        """The instant on day at the wall-clock time t has on event_day (t may fall on a later date than
        event_day, for a window crossing midnight; the offset in days is kept)."""
        wall = datetime.fromtimestamp(t, self.zone).replace(tzinfo=None) + (day - event_day)
        return int(wall.replace(tzinfo=self.zone).timestamp())
