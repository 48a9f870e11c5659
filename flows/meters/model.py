"""A virtual Emlite meter: identity, registers, balance, clock, logs — all derived from its seed
and the simulated time, so its answers are deterministic and always mutually consistent."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

from flows.emop import records
from flows.emop.records import ElementRegisters, Event, ProfileLog1Record, ProfileLog2Record
from flows.meterdata import HALF_HOUR, REGISTER_SENTINEL_WH
from flows.meters.consumption import export_wh, half_hour_index, half_hour_start, import_wh

PROFILE_DAYS = 30
RECORDS_PER_PROFILE_CALL = 4
MONEY = Decimal("0.00001")


@dataclass
class Faults:
    """What a meter does wrong. Probabilities are per request; the rest are on/off."""

    no_answer: bool = False          # reads the request, never replies (client times out)
    refuse_connections: bool = False  # nothing listens: connection refused
    close_mid_frame: bool = False     # sends half the reply, then closes
    split_reply: bool = False         # sends the reply in small pieces
    corrupt_crc: bool = False
    nak_code: int | None = None       # answers every request with this NAK code
    latency_s: float = 0.0            # mean extra delay before replying (exponential)
    fixed_latency_s: float = 0.0      # a constant delay before every reply (benchmarks)
    sentinel_registers: bool = False  # element A import reads 16777215 Wh (meter error)
    reset_at: datetime | None = None  # registers restart from zero at this time
    allow_second_connection: bool = False  # real meters refuse a concurrent second connection

    def active(self) -> list[str]:
        names = [name for name in ("no_answer", "refuse_connections", "close_mid_frame",
                                   "split_reply", "corrupt_crc", "sentinel_registers")
                 if getattr(self, name)]
        if self.nak_code is not None:
            names.append(f"nak_{self.nak_code}")
        if self.latency_s:
            names.append(f"latency_{self.latency_s:g}s")
        if self.reset_at is not None:
            names.append("register_reset")
        return names


@dataclass
class VirtualMeter:
    number: int
    seed: int
    serial: str
    address: int            # EMOP source address (3 bytes)
    hardware_code: str      # what object 608000 holds: "6Cw", "6Bw", "3Aw" or "" (three-phase)
    three_phase_config: int  # 0 → P1.cx, 1 → P1.ax (three-phase only)
    firmware: bytes
    esco: str
    installed: datetime     # registers start counting here (UTC, on a half-hour)
    size: float             # household size factor for consumption
    solar_kw: float
    initial_import_wh: int
    initial_credit: Decimal
    unit_rate: Decimal       # GBP per kWh
    standing_charge: Decimal  # GBP per day
    clock_drift_s_per_day: float
    network_operator: int
    topup_days: int = 7
    faults: Faults = field(default_factory=Faults)
    prepay_enabled: bool = True
    # Settings a supplier reads and writes (objects FFFF10, FFFF11, FFFF0B, FFFF0E, FFFF0F).
    backlight: int = 0  # 0: normal (single phase) / always off (three phase)
    load_switch: int = 0  # 0: normal, button always needed
    daylight_savings_correction: bool = True
    no_debt_recovery_in_emergency_credit: bool = False
    no_standing_charge_in_power_fail: bool = True
    clock_offset_s: float = 0.0  # set by a clock write
    # The future tariff and the time switches as last written (object id → payload); objects
    # never written answer the meter's defaults.
    written: dict[int, bytes] = field(default_factory=dict)
    extra_credit: Decimal = Decimal(0)  # from top-up tokens
    _import_sums: list[int] = field(default_factory=lambda: [0], repr=False)
    _export_sums: list[int] = field(default_factory=lambda: [0], repr=False)

    # Derived identity --------------------------------------------------------------------

    @property
    def hardware(self) -> str:
        name = records.HARDWARE.get(self.hardware_code)
        return name if name else records.THREE_PHASE_CONFIG[self.three_phase_config]

    @property
    def three_phase(self) -> bool:
        return self.hardware_code == ""

    @property
    def twin_element(self) -> bool:
        return self.hardware_code in ("6C", "6Cw")

    # Energy -------------------------------------------------------------------------------

    def _sums(self, upto: int) -> tuple[int, int]:
        """Cumulative (import, export) Wh of the half hours from installation up to ``upto``."""
        first = half_hour_index(self.installed)
        count = max(0, upto - first)
        while len(self._import_sums) <= count:
            index = first + len(self._import_sums) - 1
            self._import_sums.append(self._import_sums[-1] + import_wh(self.seed, self.size, index))
            self._export_sums.append(self._export_sums[-1]
                                     + export_wh(self.seed, self.solar_kw, index))
        return self._import_sums[count], self._export_sums[count]

    def _energy_since_install(self, moment: datetime) -> tuple[int, int]:
        if moment <= self.installed:
            return 0, 0
        index = half_hour_index(moment)
        done_import, done_export = self._sums(index)
        fraction = (moment - half_hour_start(index)) / HALF_HOUR
        return (done_import + int(fraction * import_wh(self.seed, self.size, index)),
                done_export + int(fraction * export_wh(self.seed, self.solar_kw, index)))

    def registers(self, moment: datetime) -> tuple[int, int]:
        """Cumulative (import, export) active Wh of element A at ``moment``; they never decrease
        except at an injected reset, after which they count from zero."""
        imported, exported = self._energy_since_install(moment)
        imported += self.initial_import_wh
        reset = self.faults.reset_at
        if reset is not None and moment >= reset:
            base_import, base_export = self._energy_since_install(reset)
            return imported - base_import - self.initial_import_wh, exported - base_export
        return imported, exported

    def element_a(self, moment: datetime) -> ElementRegisters:
        imported, exported = self.registers(moment)
        if self.faults.sentinel_registers:
            imported = REGISTER_SENTINEL_WH
        return ElementRegisters(imported, exported, imported // 20, exported // 40)

    def element_b(self, moment: datetime) -> ElementRegisters:
        """Twin-element meters measure a second circuit (e.g. storage heating): a third of A."""
        if not self.twin_element:
            return ElementRegisters(0, 0, 0, 0)
        imported, _ = self.registers(moment)
        return ElementRegisters(imported // 3, 0, imported // 60, 0)

    # Money, clock, radio, voltage ------------------------------------------------------------

    def balance(self, moment: datetime) -> Decimal:
        """Credit left: topped up to `initial_credit` every `topup_days`, then falling with
        usage × unit rate and the daily standing charge (may go negative: debt)."""
        if moment <= self.installed:
            return self.initial_credit + self.extra_credit
        period = timedelta(days=self.topup_days)
        topped_up = self.installed + ((moment - self.installed) // period) * period
        imported = self._energy_since_install(moment)[0] - self._energy_since_install(topped_up)[0]
        days = Decimal((moment - topped_up) / timedelta(days=1))
        spent = Decimal(imported) / 1000 * self.unit_rate + days * self.standing_charge
        return (self.initial_credit + self.extra_credit - spent).quantize(
            MONEY, rounding=ROUND_HALF_EVEN)

    def top_up(self, amount: Decimal) -> None:
        """A token entered: credit on top of the regular top-ups."""
        self.extra_credit += amount

    def clock(self, moment: datetime) -> datetime:
        days = (moment - self.installed) / timedelta(days=1)
        drift = timedelta(seconds=days * self.clock_drift_s_per_day + self.clock_offset_s)
        return (moment + drift).replace(microsecond=0)

    def set_clock(self, meter_time: datetime, moment: datetime) -> None:
        """A clock write: from now on the meter shows ``meter_time`` (plus future drift)."""
        days = (moment - self.installed) / timedelta(days=1)
        self.clock_offset_s = (meter_time - moment).total_seconds() - days * self.clock_drift_s_per_day

    def signal_quality(self, moment: datetime) -> records.SignalQuality:
        hour = half_hour_index(moment) // 2
        csq = 8 + int(random.Random(self.seed * 7919 + hour).random() * 24)
        return records.SignalQuality(min(csq, 31), self.network_operator)

    def active_power_w(self, moment: datetime, element: str = "A") -> int:
        """Instantaneous import power (W) of an element: this half hour's average."""
        if element == "B" and not self.twin_element:
            return 0
        watts = import_wh(self.seed, self.size, half_hour_index(moment)) * 2
        return watts // 3 if element == "B" else watts

    def transaction_count(self, moment: datetime) -> int:
        """Top-ups so far: one every `topup_days` since installation."""
        if moment <= self.installed:
            return 0
        return int((moment - self.installed) // timedelta(days=self.topup_days))

    def voltage_dv(self, moment: datetime, phase: int = 0) -> int:
        rng = random.Random(self.seed * 104729 + half_hour_index(moment) * 4 + phase)
        return 2300 + int(rng.random() * 150)

    # Logs -------------------------------------------------------------------------------------

    def events(self, moment: datetime) -> list[Event]:
        """Up to 100 events, newest first: power failures and restores every few days."""
        rng = random.Random(self.seed * 31337)
        found: list[Event] = []
        when = self.installed
        while True:
            when += timedelta(hours=rng.randint(20, 200), minutes=rng.randint(0, 59))
            if when > moment:
                break
            event_id = rng.choice((1, 2, 7, 12, 33, 54))
            found.append(Event(when.replace(microsecond=0), event_id, rng.randint(0, 3)))
        return list(reversed(found))[:100]

    def event_page(self, page: int, moment: datetime) -> list[Event]:
        events = self.events(moment)[page * records.EVENTS_PER_PAGE:(page + 1)
                                     * records.EVENTS_PER_PAGE]
        empty = Event(records.EMOP_EPOCH, 0, 0)
        return events + [empty] * (records.EVENTS_PER_PAGE - len(events))

    def _profile_indexes(self, since: datetime, moment: datetime) -> list[int]:
        """Half-hour boundaries in the log: from ``since`` (or the oldest kept), 2 hours' worth,
        none that has not finished yet."""
        newest = half_hour_index(moment)  # boundaries up to the current half hour's start
        oldest = max(half_hour_index(self.installed), newest - PROFILE_DAYS * 48)
        first = max(oldest, _boundary_at_or_after(since))
        return [i for i in range(first, first + RECORDS_PER_PROFILE_CALL) if i <= newest]

    def profile_log_1(self, since: datetime, moment: datetime) -> list[ProfileLog1Record]:
        rows = []
        for index in self._profile_indexes(since, moment):
            at = half_hour_start(index)
            element_a = self.element_a(at)
            element_b = self.element_b(at)
            reset = self.faults.reset_at
            status = records.STATUS_VALID
            if reset is not None and at - HALF_HOUR < reset <= at:
                status |= records.STATUS_RESET
            rows.append(ProfileLog1Record(at, status, element_a.import_active,
                                          element_b.import_active))
        return rows

    def three_phase_intervals(self, start: datetime, end: datetime, moment: datetime,
                              most: int) -> tuple[datetime, list[tuple[int, int]]]:
        """The interval profile of a three-phase meter: cumulative active import and export Wh
        at each half-hour boundary from ``start`` (rounded up) until ``end`` that has passed,
        at most ``most`` of them (one frame's worth); the first boundary and the values."""
        first = max(_boundary_at_or_after(start), half_hour_index(self.installed))
        last = min(half_hour_index(moment), _boundary_at_or_after(end) - 1)
        indexes = range(first, min(last + 1, first + most))
        return half_hour_start(first), [self.registers(half_hour_start(i)) for i in indexes]

    def profile_log_2(self, since: datetime, moment: datetime) -> list[ProfileLog2Record]:
        rows = []
        for index in self._profile_indexes(since, moment)[: 2 if self.twin_element else 3]:
            at = half_hour_start(index)
            a = self.element_a(at)
            b = self.element_b(at)
            twin = self.twin_element
            rows.append(ProfileLog2Record(
                at, records.STATUS_VALID, a.export_active, a.import_reactive, a.export_reactive,
                self.voltage_dv(at), b.export_active if twin else None,
                b.import_reactive if twin else None, b.export_reactive if twin else None))
        return rows


def _boundary_at_or_after(moment: datetime) -> int:
    """The index of the first half-hour boundary at or after ``moment``."""
    return -(-(moment - records.EMOP_EPOCH) // HALF_HOUR)
