"""Clock time: the run's seconds shown as wall-clock times in the scenario's time zone.

Concepts held here:

* :func:`report_zone` -- ``scenario.timezone`` of a run directory's effective scenario
  (``scenario.toml``), UTC when the file does not say.
* :class:`ClockScale` -- a time axis in clock time: scenario seconds become matplotlib
  date numbers, ticks are placed and labelled in the zone (daylight-saving changes
  included), and the axis label names the zone and its UTC offset.
* :func:`local_hours` -- the hour of day (0-23, in the zone) of scenario times, for the
  hour-of-day tables.

Times inside the run stay seconds since ``scenario.start`` (``start_epoch_ms``, UTC);
only what people read is converted.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from sim.errors import UserError
from sim.scenario import is_time_zone

if TYPE_CHECKING:
    from matplotlib.axes import Axes

# matplotlib is imported where a chart needs it: the simulator's tables use local_hours,
# and a run should not pay matplotlib's import time and memory for it.

UTC_ZONE = ZoneInfo("UTC")


def report_zone(run_dir: Path) -> tuple[ZoneInfo, str]:
    """The zone clock times are shown in, and a note when the scenario could not say.

    A zone the tz database does not know is a :class:`UserError` naming the file and the
    value (the simulator validated it, so someone edited the file); a missing or unreadable
    ``scenario.toml`` means UTC, with the note saying why."""
    path = run_dir / "scenario.toml"
    if not path.is_file():
        return UTC_ZONE, "no scenario.toml: clock times in UTC"
    try:
        doc = tomllib.loads(path.read_text("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError):
        return UTC_ZONE, "scenario.toml is not readable TOML: clock times in UTC"
    section = doc.get("scenario")
    name = section.get("timezone", "UTC") if isinstance(section, dict) else "UTC"
    if not isinstance(name, str) or not is_time_zone(name):
        raise UserError(
            f"{path}: scenario.timezone: got {name!r}; not a known IANA time zone "
            "(use e.g. 'UTC' or 'Europe/Berlin')"
        )
    return ZoneInfo(name), ""


def zone_label(zone: ZoneInfo, at_epoch_ms: int) -> str:
    """``Europe/Berlin, UTC+01:00`` (the offset in force at ``at_epoch_ms``); ``UTC``."""
    name = str(zone.key)
    if name in ("UTC", "Etc/UTC"):
        return "UTC"
    offset = datetime.fromtimestamp(at_epoch_ms / 1000.0, tz=zone).strftime("%z")
    return f"{name}, UTC{offset[:3]}:{offset[3:]}"


def local_time(epoch_ms: int, zone: ZoneInfo, fmt: str = "%Y-%m-%d %H:%M %Z") -> str:
    """An instant as the zone's wall-clock text."""
    return datetime.fromtimestamp(epoch_ms / 1000.0, tz=UTC).astimezone(zone).strftime(fmt)


def local_hours(start_epoch_ms: int, seconds: Any, zone: ZoneInfo) -> np.ndarray:
    """Hour of day (0-23) in ``zone`` of each scenario time (NaN: -1)."""
    s = np.asarray(seconds, dtype=float)
    out = np.full(s.shape, -1, dtype=np.int64)
    ok = np.isfinite(s)
    if ok.any():
        # Whole milliseconds are plenty for an hour bucket, and keep pandas on integers.
        ms = start_epoch_ms + np.round(s[ok] * 1000.0).astype(np.int64)
        stamps = pd.DatetimeIndex(pd.to_datetime(ms, unit="ms", utc=True)).tz_convert(zone)
        out[ok] = stamps.hour.to_numpy(dtype=np.int64)
    return out


@dataclass(frozen=True, slots=True)
class ClockScale:
    """A time axis in clock time: call it on scenario seconds, then :meth:`decorate` the
    axes so the ticks read ``11:30`` in the zone.  Same interface as
    :class:`~sim.report.figures.TimeScale` (``__call__``, ``label``, ``decorate``)."""

    start_epoch_ms: int
    zone: ZoneInfo

    def __call__(self, seconds: Any) -> Any:
        # matplotlib's date functions carry no annotations, hence the ignores below.
        import matplotlib.dates as mdates

        start = np.datetime64(int(self.start_epoch_ms), "ms")
        base = float(mdates.date2num(start))  # type: ignore[no-untyped-call]
        return base + np.asarray(seconds, dtype=float) / 86400.0

    @property
    def unit(self) -> str:
        return zone_label(self.zone, self.start_epoch_ms)

    @property
    def label(self) -> str:
        return f"clock time ({self.unit})"

    def decorate(self, ax: Axes) -> None:
        import matplotlib.dates as mdates

        locator = mdates.AutoDateLocator(  # type: ignore[no-untyped-call]
            tz=self.zone, minticks=4, maxticks=10
        )
        ax.xaxis.set_major_locator(locator)
        fmt = mdates.ConciseDateFormatter(locator, tz=self.zone)  # type: ignore[no-untyped-call]
        ax.xaxis.set_major_formatter(fmt)
