"""The mediator's gRPC services (grpc.aio), wire-compatible with the deployed Emlite mediator.

Status codes as the deployed one returns them: INVALID_ARGUMENT (no serial), NOT_FOUND (unknown
serial), RESOURCE_EXHAUSTED (meter busy beyond the lock wait), INTERNAL ("failed to connect after
retries" / "Meter communication failed: <reason>", e.g. a CRC error or NAK).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeVar

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from prometheus_client import CollectorRegistry, Counter, Histogram

from flows.emop import EmopError, Frame, NakError
from flows.emop.messages import REFERENCE_ROUTE, object_value, read_request, write_request
from flows.mediator.links import LinkError, MeterFailed, MeterLinks
from flows.mediator.proto import mediator_pb2 as pb
from flows.mediator.proto import mediator_pb2_grpc as pb_grpc

T = TypeVar("T")


@dataclass
class Metrics:
    registry: CollectorRegistry
    requests: Counter
    failures: Counter
    queue_wait: Histogram

    @classmethod
    def create(cls) -> Metrics:
        registry = CollectorRegistry()
        return cls(
            registry,
            Counter("mediator_requests", "Requests to meters", ["method"], registry=registry),
            Counter("mediator_failures", "Failed requests by status code", ["code"], registry=registry),
            Histogram(
                "mediator_queue_wait_seconds",
                "Wait for a meter's lock",
                registry=registry,
                buckets=(0.01, 0.1, 0.5, 1, 2, 5, 10, 30, 60),
            ),
        )


def _status(name: str) -> grpc.StatusCode:
    return getattr(grpc.StatusCode, name)


class EmliteMediatorService(pb_grpc.EmliteMediatorServiceServicer):  # type: ignore[misc]
    def __init__(self, links: MeterLinks, metrics: Metrics) -> None:
        self.links, self.metrics = links, metrics
        links.queue_wait_observer = lambda serial, seconds: metrics.queue_wait.observe(seconds)

    async def _call(
        self, method: str, serial: str, context: grpc.aio.ServicerContext, work: Callable[[], Awaitable[T]]
    ) -> T:
        self.metrics.requests.labels(method).inc()
        if not serial:
            self.metrics.failures.labels("INVALID_ARGUMENT").inc()
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "Target meter serial not specified")
        try:
            return await work()
        except LinkError as error:
            self.metrics.failures.labels(error.status).inc()
            await context.abort(_status(error.status), str(error))
        raise AssertionError("unreachable: abort raises")

    async def readElement(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        async def work() -> Any:
            frame = read_request(_object_id(request.objectId))
            reply = await self.links.exchange(request.serial, frame, is_write=False)
            return pb.ReadElementReply(response=_value(reply, frame))

        return await self._call("readElement", request.serial, context, work)

    async def writeElement(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        async def work() -> Any:
            frame = write_request(_object_id(request.objectId), request.payload)
            reply = await self.links.exchange(request.serial, frame, is_write=True)
            _value(reply, frame)
            return pb.WriteElementReply()

        return await self._call("writeElement", request.serial, context, work)

    async def sendRawMessage(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        async def work() -> Any:
            if not request.dataField:
                raise _Invalid("dataField is empty")
            frame = REFERENCE_ROUTE.frame(bytes(request.dataField))
            # Writes travel this way too: a raw message is never re-sent.
            reply = await self.links.exchange(request.serial, frame, is_write=True)
            if reply.ack_code:
                raise MeterFailed(f"Meter communication failed: {NakError(reply.ack_code)}")
            return pb.SendRawMessageReply(response=reply.data[1:])

        return await self._call("sendRawMessage", request.serial, context, work)


class _Invalid(LinkError):
    status = "INVALID_ARGUMENT"


MAX_OBJECT_ID = 0xFFFFFF  # object ids are 3 bytes on the wire


def _object_id(object_id: int) -> int:
    """The request's object id, refused when it does not fit in 3 bytes (masking it would read
    another object: 0x1FFFD1D is not CSQ)."""
    if not 0 <= object_id <= MAX_OBJECT_ID:
        raise _Invalid(f"object id {object_id:#x} does not fit in 3 bytes (at most {MAX_OBJECT_ID:#x})")
    return int(object_id)


def _value(reply: Frame, request: Frame) -> bytes:
    try:
        return object_value(reply, request)
    except EmopError as error:
        raise MeterFailed(f"Meter communication failed: {error}") from error


def _json_value(value: Any) -> Any:
    """Registry and shadow values as JSON: timestamps in ISO 8601, anything else as text."""
    return value.isoformat() if isinstance(value, (datetime, date)) else str(value)


class InfoService(pb_grpc.InfoServiceServicer):  # type: ignore[misc]
    """Registry and shadow facts from the Flows database."""

    def __init__(
        self, info: Callable[[str], dict[str, Any] | None], meters: Callable[[str], list[dict[str, Any]]]
    ) -> None:
        self.info, self.meters = info, meters

    async def GetInfo(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        if not request.serial:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "Target meter serial not specified")
        try:
            found = self.info(request.serial)
        except LinkError as error:
            await context.abort(_status(error.status), str(error))
        if found is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"Meter '{request.serial}' not known")
        return pb.GetInfoReply(json_data=json.dumps(found, default=_json_value))

    async def GetMeters(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            meters = self.meters(request.esco)
        except LinkError as error:
            await context.abort(_status(error.status), str(error))
        return pb.GetMetersReply(json_meters=json.dumps(meters, default=_json_value))


@dataclass
class TlsFiles:
    cert: bytes
    key: bytes
    ca: bytes


async def start_server(
    listen: str,
    links: MeterLinks,
    metrics: Metrics,
    info: InfoService | None = None,
    tls: TlsFiles | None = None,
) -> tuple[grpc.aio.Server, int]:
    """Start serving on ``listen`` (host:port; port 0 picks one); the server and its port."""
    server = grpc.aio.server(options=[("grpc.max_concurrent_streams", 100_000)])
    pb_grpc.add_EmliteMediatorServiceServicer_to_server(EmliteMediatorService(links, metrics), server)
    if info is not None:
        pb_grpc.add_InfoServiceServicer_to_server(info, server)
    # The standard gRPC health checking protocol (grpc.health.v1): SERVING while it runs.
    checks = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(checks, server)
    for service in ("", "EmliteMediatorService", *(("InfoService",) if info else ())):
        await checks.set(service, health_pb2.HealthCheckResponse.SERVING)
    if tls is None:
        port = server.add_insecure_port(listen)
    else:
        credentials = grpc.ssl_server_credentials(
            [(tls.key, tls.cert)], root_certificates=tls.ca, require_client_auth=True
        )
        port = server.add_secure_port(listen, credentials)
    await server.start()
    return server, port
