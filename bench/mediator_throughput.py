"""Benchmark: requests/s through the mediator to simulated meters with a fixed per-request meter
latency, at client concurrency 15 (the deployed collector) and 500.

    python bench/mediator_throughput.py [--meters 1000] [--latency 0.05] [--requests 3000]

Runs `flows simulate` and `flows mediator` as separate processes on loopback (like a real
deployment) and drives readElement calls from this process.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import tempfile
import time
from pathlib import Path

from flows import eventloop
from flows.devtools.processes import free_port, start_flows, stop_flows
from flows.mediator import MediatorClient


async def drive(target: str, serials: list[str], total: int, concurrency: int) -> tuple[float, int]:
    """(requests/s, failures) for ``total`` reads spread over the meters."""
    gate = asyncio.Semaphore(concurrency)
    failures = 0

    async with MediatorClient(target, max_in_flight=concurrency) as client:
        async def one(n: int) -> None:
            nonlocal failures
            async with gate:
                try:
                    await client.read_element_a(serials[n % len(serials)])
                except Exception:  # noqa: BLE001 - counted and reported
                    failures += 1

        started = time.perf_counter()
        await asyncio.gather(*(one(n) for n in range(total)))
        return total / (time.perf_counter() - started), failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.05, help="meter latency, seconds")
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--min-gap", type=float, default=0.0,
                        help="mediator's gap between requests to one meter (real meters: 2)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        registry = Path(tmp) / "meters.csv"
        fleet = start_flows(["simulate", "--meters", str(args.meters), "--port", "0", "--shared-host",
                       "--latency", str(args.latency), "--registry", str(registry)], "meters ready")
        port = free_port()
        mediator = start_flows(["mediator", "--meters", str(registry), "--listen", f"127.0.0.1:{port}",
                          "--min-gap", str(args.min_gap)], "mediator listening")
        try:
            serials = [row["serial"] for row in csv.DictReader(registry.open())]
            print(f"mediator throughput: {args.meters} simulated meters, {args.latency * 1000:g} ms "
                  f"meter latency, {args.requests} readElement calls each")
            print(f"{'concurrency':>12} {'requests/s':>12} {'failures':>9} {'ideal/s':>9}")
            for concurrency in (15, 500):
                rate, failures = eventloop.run(drive(f"127.0.0.1:{port}", serials, args.requests,
                                                   concurrency))
                ideal = concurrency / args.latency if args.latency else float("inf")
                print(f"{concurrency:>12} {rate:>12,.0f} {failures:>9} {ideal:>9,.0f}")
        finally:
            for process in (mediator, fleet):
                stop_flows(process)


if __name__ == "__main__":
    main()
