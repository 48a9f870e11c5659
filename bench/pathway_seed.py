"""The seed query (users ⋈ meters ⋈ half-hourly reads → daily sum per user, meter and day) on
Pathway, for `bench/ivm_vs_peers.py`. Runs in Pathway's own virtual environment
(``bench/.venv-pathway``); prints one JSON line.

    python bench/pathway_seed.py --meters 1000 --reads 1000000 --batch 1000 [--checksum]

The reads are the same as flows.ivm gets (`ivm_meter_reads.make_read`, meter ids as text):
a Python connector feeds them, committing every ``--batch`` reads (1: one read per commit),
into a graph of Pathway's own operators (joins, ``groupby().reduce(sum)``, a native date
floor). The output goes to Pathway's null sink — its fastest, nothing brought back to Python —
unless ``--checksum``, which subscribes and sums the final daily values (to check that both
engines compute the same thing). Time is wall time of ``pw.run``, start-up included.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import datetime, timedelta
from uuid import UUID

import pathway as pw

START = datetime(2023, 1, 1)


class UserSchema(pw.Schema):
    user_id: int
    name: str


class MeterSchema(pw.Schema):
    meter_id: str
    user_id: int


class ReadSchema(pw.Schema):
    meter_id: str
    timestamp: pw.DateTimeNaive
    value: float


def make_read(n: int, n_meters: int) -> dict[str, object]:
    """`ivm_meter_reads.make_read`, as a row."""
    return {"meter_id": str(UUID(int=(n % n_meters) + 1)),
            "timestamp": START + timedelta(minutes=30 * (n // n_meters)),
            "value": float((n * 7) % 13) * 0.25}


class Reads(pw.io.python.ConnectorSubject):
    def __init__(self, rows: list[dict[str, object]], batch: int) -> None:
        super().__init__()
        self.rows, self.batch = rows, batch

    def run(self) -> None:
        for offset in range(0, len(self.rows), self.batch):
            for row in self.rows[offset:offset + self.batch]:
                self.next(**row)
            self.commit()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--meters", type=int, default=1000)
    parser.add_argument("--reads", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--checksum", action="store_true")
    args = parser.parse_args()
    rows = [make_read(n, args.meters) for n in range(args.reads)]
    users = pw.debug.table_from_rows(UserSchema, [(i, f"user {i}") for i in range(args.meters)])
    meters = pw.debug.table_from_rows(
        MeterSchema, [(str(UUID(int=i + 1)), i) for i in range(args.meters)])
    reads = pw.io.python.read(Reads(rows, args.batch), schema=ReadSchema,
                              autocommit_duration_ms=None)
    user_meters = users.join(meters, users.user_id == meters.user_id).select(
        pw.left.user_id, pw.left.name, pw.right.meter_id)
    merged = user_meters.join(reads, user_meters.meter_id == reads.meter_id).select(
        pw.left.user_id, pw.left.meter_id, value=pw.right.value,
        date=pw.right.timestamp.dt.floor(pw.Duration(days=1)))
    daily = merged.groupby(merged.user_id, merged.meter_id, merged.date).reduce(
        merged.user_id, merged.meter_id, merged.date, value=pw.reducers.sum(merged.value))
    totals: dict[object, float] = {}
    if args.checksum:
        def on_change(key: object, row: dict[str, object], time: int, is_addition: bool) -> None:
            if is_addition:
                totals[key] = float(row["value"])  # type: ignore[arg-type]
            else:
                totals.pop(key, None)

        pw.io.subscribe(daily, on_change=on_change)
    else:
        pw.io.null.write(daily)
    started = time.perf_counter()
    pw.run(monitoring_level=pw.MonitoringLevel.NONE)
    elapsed = time.perf_counter() - started
    print(json.dumps({"engine": "pathway", "version": pw.__version__, "reads": args.reads,
                      "batch": args.batch, "seconds": elapsed,
                      "reads_per_s": args.reads / elapsed,
                      "checksum": round(sum(totals.values()), 6) if args.checksum else None}))


if __name__ == "__main__":
    main()
