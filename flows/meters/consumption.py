"""Household energy as a pure function of (meter seed, half-hour): the same seed always gives
the same history, whatever order it is asked in, so registers and profile logs agree.

Import follows a daily shape (night base load, morning and evening peaks, more at weekends) with
per-half-hour noise; meters with solar panels export around midday (more in summer).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from flows.meterdata import HALF_HOUR

EPOCH = datetime(2000, 1, 1, tzinfo=UTC)

# Wh per half hour of a typical UK home by hour of day (≈ 8 kWh a day in all).
_DAILY_SHAPE = [90, 80, 75, 75, 75, 85, 140, 220, 210, 160, 140, 140,
                150, 140, 140, 150, 190, 290, 330, 300, 260, 210, 160, 120]


def half_hour_index(moment: datetime) -> int:
    """Half hours since 2000-01-01 UTC (the start of the half hour containing ``moment``)."""
    return (moment - EPOCH) // HALF_HOUR


def half_hour_start(index: int) -> datetime:
    return EPOCH + index * HALF_HOUR


def _noise(seed: int, index: int, stream: int) -> float:
    """A deterministic number in [0, 1) for (seed, half hour, stream) — splitmix64."""
    x = (seed * 0x9E3779B97F4A7C15 + index * 0xBF58476D1CE4E5B9 + stream * 0x94D049BB133111EB)
    x &= 0xFFFFFFFFFFFFFFFF
    x ^= x >> 30
    x = (x * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    x ^= x >> 27
    x = (x * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    x ^= x >> 31
    return x / 2**64


# 2000-01-01 was a Saturday: weekday (Monday = 0) of day d since then is (5 + d) % 7.
_FIRST_WEEKDAY = 5


def import_wh(seed: int, size: float, index: int) -> int:
    """Energy imported in half hour ``index`` (Wh, never negative)."""
    hour = index // 2 % 24
    weekend = 1.15 if (_FIRST_WEEKDAY + index // 48) % 7 >= 5 else 1.0
    noise = 0.6 + 0.8 * _noise(seed, index, 1)
    spike = 400 if _noise(seed, index, 2) < 0.02 else 0  # kettle, oven, washing machine
    return int(_DAILY_SHAPE[hour] * size * weekend * noise) + spike


def export_wh(seed: int, solar_kw: float, index: int) -> int:
    """Energy exported in half hour ``index`` by solar panels of ``solar_kw`` peak."""
    if solar_kw <= 0:
        return 0
    hour = index % 48 / 2
    if not 6 <= hour <= 18:
        return 0
    daylight = math.sin(math.pi * (hour - 6) / 12)
    day_of_year = index // 48 % 365.25
    season = 0.55 + 0.45 * math.cos(2 * math.pi * (day_of_year - 171) / 365.25)
    clouds = 0.3 + 0.7 * _noise(seed, index, 3)
    return int(solar_kw * 1000 * 0.5 * daylight * season * clouds * 0.6)
