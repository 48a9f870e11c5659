"""Building a deterministic fleet of virtual meters, and the simulated clock they share."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from flows.meters.model import Faults, VirtualMeter

ESCOS = ("MOR", "WLCE", "HMCE", "LCEE")
# (hardware code, three-phase configuration, share of the fleet)
HARDWARE_MIX = (("6Cw", 0, 0.45), ("6Bw", 0, 0.42), ("3Aw", 0, 0.08), ("", 0, 0.03), ("", 1, 0.02))
SINGLE_PHASE_FIRMWARE = (b"3032", b"3031", b"3024")


@dataclass
class SimClock:
    """Simulated UTC time: ``start`` plus real elapsed time × ``speed``; `set` jumps."""

    start: datetime
    speed: float = 1.0
    _real_start: float = field(default_factory=time.monotonic)

    def now(self) -> datetime:
        return self.start + timedelta(seconds=(time.monotonic() - self._real_start) * self.speed)

    def set(self, moment: datetime) -> None:
        self.start, self._real_start = moment, time.monotonic()


@dataclass(frozen=True)
class FaultRates:
    """Share of the fleet (0..1) with each fault; chosen per meter from the fleet's seed."""

    no_answer: float = 0.0
    refuse_connections: float = 0.0
    close_mid_frame: float = 0.0
    split_reply: float = 0.0
    corrupt_crc: float = 0.0
    nak: float = 0.0
    slow: float = 0.0
    sentinel_registers: float = 0.0
    register_reset: float = 0.0

    @classmethod
    def parse(cls, text: str) -> FaultRates:
        """``"no_answer=0.02,corrupt_crc=0.01"`` → rates; unknown names are an error."""
        rates: dict[str, float] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            name, _, value = part.partition("=")
            if name not in cls.__dataclass_fields__:
                known = ", ".join(cls.__dataclass_fields__)
                raise ValueError(f"unknown fault {name!r} (known: {known})")
            try:
                rate = float(value)
            except ValueError:
                raise ValueError(f"fault {name!r} needs a rate between 0 and 1, got {value!r}") from None
            if not 0 <= rate <= 1:
                raise ValueError(f"fault {name!r} needs a rate between 0 and 1, got {rate}")
            rates[name] = rate
        return cls(**rates)


def _faults(rng: random.Random, rates: FaultRates, start: datetime) -> Faults:
    faults = Faults()
    draw = rng.random()
    cumulative = 0.0
    # At most one fault per meter, so each faulty meter fails in one recognisable way.
    for name in FaultRates.__dataclass_fields__:
        cumulative += getattr(rates, name)
        if draw < cumulative:
            if name == "nak":
                faults.nak_code = rng.choice((2, 5, 6))
            elif name == "slow":
                faults.latency_s = 0.5
            elif name == "register_reset":
                faults.reset_at = start - timedelta(days=rng.randint(1, 5), minutes=30 * rng.randint(0, 47))
            else:
                setattr(faults, name, True)
            break
    return faults


def build_fleet(count: int, seed: int, start: datetime,
                rates: FaultRates | None = None) -> list[VirtualMeter]:
    """``count`` meters, the same for the same ``seed``; simulated from 31–45 days before
    ``start`` (their registers open with years of earlier use)."""
    if start.tzinfo is None:
        raise ValueError("the simulation start must be a timezone-aware (UTC) datetime")
    rng = random.Random(seed)
    meters = []
    for number in range(count):
        meter_rng = random.Random(rng.getrandbits(64))
        code, config, _ = meter_rng.choices(HARDWARE_MIX, weights=[m[2] for m in HARDWARE_MIX])[0]
        # Simulated history starts when the profile log's 30 days need it; the meter's earlier
        # life is in its opening register value.
        installed = (start - timedelta(days=meter_rng.randint(31, 45))).replace(
            minute=0, second=0, microsecond=0, tzinfo=UTC)
        # Four ASCII digits on every meter (three-phase ones too: the deployed client formats
        # any version as d_dd_d); the same random draws as ever, so a seed keeps its fleet.
        firmware = (meter_rng.choice(SINGLE_PHASE_FIRMWARE) if code
                    else bytes(0x30 + meter_rng.getrandbits(8) % 10 for _ in range(4)))
        meters.append(VirtualMeter(
            number=number,
            seed=meter_rng.getrandbits(48),
            serial=f"EML{2000000000 + seed % 1000 * 1000000 + number:010d}",
            address=0x001000 + number,
            hardware_code=code,
            three_phase_config=config,
            firmware=firmware,
            esco=meter_rng.choice(ESCOS),
            installed=installed,
            size=meter_rng.uniform(0.5, 1.8),
            solar_kw=meter_rng.choice((0.0, 0.0, 0.0, 3.0, 4.5)),
            initial_import_wh=meter_rng.randint(1_000_000, 40_000_000),
            initial_credit=Decimal(meter_rng.randint(1500, 6000)) / 100,
            topup_days=meter_rng.randint(5, 14),
            unit_rate=Decimal(meter_rng.randint(22000, 32000)) / 100000,
            standing_charge=Decimal(meter_rng.randint(40000, 65000)) / 100000,
            clock_drift_s_per_day=meter_rng.uniform(-2.0, 2.0),
            network_operator=meter_rng.randint(0, 3),
            faults=_faults(meter_rng, rates or FaultRates(), start),
        ))
    return meters
