"""The deployed Emlite mediator (simt-emlite 1.2.12's gRPC servicer), run as a test peer.

Runs in the Python 3.13 environment that holds the deployed packages (see conftest.py), never
in Flows' own. Usage: ``python deployed_mediator.py REGISTRY_CSV PORT``; prints ``listening``
when it serves. The package is used as published; three adapters make it run here:

1. `CsvRegistry`: the servicer finds meters through a registry that reads Supabase (the
   deployed cloud registry); this one reads the CSV `flows simulate` writes instead.
2. No spacing between requests: the deployed registry waits 2 s between two requests to one
   meter (MINIMUM_TIME_BETWEEN_REQUESTS_SECONDS), which would make a 30-day profile backfill
   take minutes; the simulated meters need no rest.
3. Object ids as bytearray: the published servicer hands the request's object id to its frame
   encoder, which only accepts it as bytes; without this every readElement fails.
"""

from __future__ import annotations

import csv
import signal
import sys
import threading
from concurrent import futures

import grpc
import simt_emlite.mediator.grpc.mediator_service as mediator_service
import simt_emlite.mediator.grpc.meter_registry as meter_registry
from simt_emlite.mediator.grpc.generated.mediator_pb2_grpc import add_EmliteMediatorServiceServicer_to_server


class CsvRegistry(meter_registry.MeterRegistry):
    """serial → MeterContext from a registry CSV (serial, ip_address, port)."""

    def __init__(self, path: str) -> None:  # not the parent's: it connects to Supabase
        with open(path, newline="") as handle:
            self._contexts = {row["serial"]: meter_registry.MeterContext(
                row["serial"], row["ip_address"], int(row["port"])) for row in csv.DictReader(handle)}

    def get_meter(self, serial: str) -> meter_registry.MeterContext | None:
        return self._contexts.get(serial)

    def refresh_from_db(self) -> None:
        pass


def main() -> None:
    registry_csv, port = sys.argv[1], int(sys.argv[2])
    meter_registry.MINIMUM_TIME_BETWEEN_REQUESTS_SECONDS = 0
    encode_object_id = mediator_service.emop_encode_u3be
    mediator_service.emop_encode_u3be = lambda value: bytearray(encode_object_id(value))
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=50))
    add_EmliteMediatorServiceServicer_to_server(
        mediator_service.EmliteMediatorServicer(CsvRegistry(registry_csv)), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    print("listening", flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    stopped.wait()
    server.stop(grace=1)


if __name__ == "__main__":
    main()
