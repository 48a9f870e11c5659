"""Facts about meters and their data that every part shares, written once.

A leaf module: it imports nothing else of Flows, so any part may use it (the layering test
keeps it that way).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Literal
from zoneinfo import ZoneInfo

HALF_HOUR = timedelta(minutes=30)
# The local days Flows holds data for (SQLite's ``local_days`` spans them): values outside
# cannot be given a day (the views quarantine their meter).
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2100, 12, 31)
# The first local date a customer link may start at (a customer may have had the meter before
# its data); links end by `LAST_DAY`.
FIRST_LINK_DAY = date(1990, 1, 1)
# Local days (daily usage, missing half hours) are days in this zone: 46, 48 or 50 half hours.
LOCAL_ZONE = ZoneInfo("Europe/London")
# 0xFFFFFF Wh: what a meter reports when it cannot read a register ("register error").
REGISTER_SENTINEL_WH = 16_777_215
# Registers are u4 Wh: after this they wrap to 0.
REGISTER_MAX_WH = 0xFFFFFFFF
# A wrap goes from within this of the maximum to within this of 0.
ROLLOVER_MARGIN_WH = 1_000_000


def local_midnight(day: date) -> datetime:
    """When the local day ``day`` starts, in UTC (23:00 the day before in summer)."""
    return datetime.combine(day, time(), LOCAL_ZONE).astimezone(UTC)


# More than this in half an hour is not a household's import (24 kWh: a 48 kW supply).
SPIKE_WH = 24_000
# What a meter serial may look like (EML2137580826): letters and digits, then also . _ -; what
# the registry stores and every route's {serial} accepts (no markup, slashes or spaces).
SERIAL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
# An MPAN (meter point administration number): the 13-digit core that names a metering point
# in Great Britain (bills print it spaced, "16 1234 5678 901"). A meter has one for import and,
# when it exports, one for export. The last digit checks the first twelve: each times its prime,
# summed, modulo 11, modulo 10.
MPAN_PATTERN = r"^[0-9]{13}$"
_MPAN_PRIMES = (3, 5, 7, 13, 17, 19, 23, 29, 31, 37, 41, 43)
# The first two digits name the distributor; each of the 14 DNO areas is a GSP group (the
# ``gsp`` Octopus' API gives a meter point). Other distributors (IDNOs) span areas.
GSP_GROUPS = {"10": "_A", "11": "_B", "12": "_C", "13": "_D", "14": "_E", "15": "_F",
              "16": "_G", "17": "_P", "18": "_N", "19": "_J", "20": "_H", "21": "_K",
              "22": "_L", "23": "_M"}


def mpan_check_digit(first_twelve: str) -> int:
    """The check digit of an MPAN core whose first twelve digits are ``first_twelve``."""
    return sum(int(digit) * prime for digit, prime in zip(first_twelve, _MPAN_PRIMES,
                                                          strict=True)) % 11 % 10


def check_mpan(text: str) -> str:
    """``text`` as a stored MPAN (its 13 digits, spaces dropped); ValueError naming what is
    wrong otherwise."""
    digits = "".join(text.split())
    if len(digits) != 13 or not digits.isascii() or not digits.isdigit():
        raise ValueError(f"{text[:40]!r} is not an MPAN: 13 digits (the core, without the "
                         "profile class and supplier lines)")
    expected = mpan_check_digit(digits[:12])
    if int(digits[12]) != expected:
        raise ValueError(f"MPAN {digits} fails its check digit (the last digit would be "
                         f"{expected}): mistyped?")
    return digits


# The hardware of a single-phase meter whose hardware code is not one we know (the deployed
# client's name for it; the registry keeps it as it is).
UNKNOWN_SINGLE_PHASE = "SINGLE_PHASE_UNKNOWN"


class Hardware(StrEnum):
    """The meter kinds of the registry (``meter_registry.hardware``)."""

    C1_W = "C1.w"  # single phase, twin element (registers A and B)
    B1_W = "B1.w"
    EMA1_W = "EMA1.w"
    P1_AX = "P1.ax"  # three phase, whole current
    P1_CX = "P1.cx"  # three phase, CT operated

    @property
    def three_phase(self) -> bool:
        return self in (Hardware.P1_AX, Hardware.P1_CX)

    @property
    def twin_element(self) -> bool:
        return self is Hardware.C1_W

    @property
    def elements(self) -> tuple[str, ...]:
        """The registers a meter of this kind has."""
        return ("A", "B") if self.twin_element else ("A",)

    @property
    def register_scale(self) -> int:
        """Raw three-phase total units per Wh: CT-operated meters count tenths of a Wh (the
        deployed client reads their kWh as raw / 10,000), whole-current meters Wh."""
        return 10 if self is Hardware.P1_CX else 1


class Frequency(StrEnum):
    """How often a metric is collected (``meter_metrics.run_frequency``)."""

    HOURLY = "hourly"
    TWELVE_HOURLY = "12hourly"
    DAILY = "daily"

    @property
    def period(self) -> timedelta:
        return _PERIODS[self]


_PERIODS = {Frequency.HOURLY: timedelta(hours=1), Frequency.TWELVE_HOURLY: timedelta(hours=12),
            Frequency.DAILY: timedelta(days=1)}
FREQUENCIES: tuple[str, ...] = tuple(frequency.value for frequency in Frequency)

# Interval quality ----------------------------------------------------------------------------

Quality = Literal["actual", "estimated", "invalid"]
# Intervals with one of these flags are implausible: kept and shown, never summed as usage.
UNUSABLE_FLAGS = frozenset({"reversal", "sentinel", "spike"})
# An interval apportioned from a span (a gap, a clock skew, register reads), not measured.
DERIVED_FLAG = "derived"


def flag_names(flags: str | Iterable[str]) -> list[str]:
    """Flags as a list, from the views' comma-separated text or any iterable."""
    return [flag for flag in (flags.split(",") if isinstance(flags, str) else flags) if flag]
