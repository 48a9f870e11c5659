"""`flows simulate` + `flows mediator --database` as real processes; InfoService from the
database; Prometheus metrics; mutual TLS; the checked-in gRPC code matches the .proto."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import urllib.request
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from grpc_health.v1 import health_pb2, health_pb2_grpc

from flows.db import connect, migrate, registry
from flows.db.registry_csv import import_registry
from flows.devtools.processes import free_port, start_flows, stop_flows
from flows.mediator import MediatorClient, MediatorError
from flows.mediator.links import LinkSettings, MeterLinks
from flows.mediator.server import Metrics, TlsFiles, start_server
from flows.meters import FleetServer, SimClock, build_fleet

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_mediator_process_over_the_flows_database(tmp_path: Path) -> None:
    registry_csv = tmp_path / "meters.csv"
    fleet = start_flows(
        [
            "simulate",
            "--meters",
            "6",
            "--seed",
            "8",
            "--port",
            "0",
            "--shared-host",
            "--registry",
            str(registry_csv),
        ],
        "meters ready",
    )
    url = f"sqlite:///{tmp_path / 'flows.db'}"
    with connect(url) as db:
        migrate(db)
        import csv

        for code in {row["esco"] for row in csv.DictReader(registry_csv.open())}:
            registry.add_esco(db, code)
        import_registry(db, registry_csv)
        first = registry.meters(db)[0]
        esco = first.esco_code
        all_serials = sorted(m.serial for m in registry.meters(db))
    metrics_port, port = free_port(), free_port()
    mediator = start_flows(
        [
            "mediator",
            "--database",
            url,
            "--listen",
            f"127.0.0.1:{port}",
            "--min-gap",
            "0.01",
            "--metrics-port",
            str(metrics_port),
        ],
        "mediator listening",
    )
    try:

        async def use() -> None:
            async with MediatorClient(f"127.0.0.1:{port}") as client:
                assert await client.serial_number(first.serial) == first.serial
                assert (await client.read_element_a(first.serial)).import_active > 0
                info = json.loads(await client.info(first.serial))
                # The deployed layout: the registry row and the shadow row, each whole.
                assert set(info) == {"registry", "shadow", "clock_time_diff_seconds",
                                     "clock_time_diff_synced_at"}
                assert info["registry"]["serial"] == first.serial
                assert info["registry"]["hardware"] == first.hardware
                assert info["shadow"]["id"] == info["registry"]["id"]
                assert "health" in info["shadow"] and "clock_time_diff_seconds" in info["shadow"]
                listed = json.loads(await client.meters(esco or ""))
                assert first.serial in [m["serial"] for m in listed]
                if esco:  # the esco's code matched whatever its case, as deployed
                    assert listed == json.loads(await client.meters(esco.lower()))
                every = json.loads(await client.meters(""))  # no esco: every esco's meters
                assert sorted(m["serial"] for m in every) == all_serials
                with pytest.raises(MediatorError, match="not known"):
                    await client.info("EML404")
            # The standard gRPC health checking protocol, for probes and load balancers.
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                check = health_pb2_grpc.HealthStub(channel).Check
                for service in ("", "EmliteMediatorService", "InfoService"):
                    answer = await check(health_pb2.HealthCheckRequest(service=service))
                    assert answer.status == health_pb2.HealthCheckResponse.SERVING

        asyncio.run(use())
        scraped = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics").read().decode()
        assert 'mediator_requests_total{method="readElement"} 2.0' in scraped
        assert 'flows_dependency_up{dependency="registry database"} 1.0' in scraped
        assert "mediator_queue_wait_seconds_count" in scraped
    finally:
        stop_flows(mediator)
        stop_flows(fleet)


def _certificate(
    name: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name,
    issuer_key: ec.EllipticCurvePrivateKey,
    ca: bool,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(item: object) -> bytes:
    if isinstance(item, x509.Certificate):
        return item.public_bytes(serialization.Encoding.PEM)
    assert isinstance(item, ec.EllipticCurvePrivateKey)
    return item.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def test_mutual_tls() -> None:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "flows test CA")])
    ca = _certificate("flows test CA", ca_key, ca_name, ca_key, ca=True)
    server_key, client_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    server_cert = _certificate("localhost", server_key, ca_name, ca_key, ca=False)
    client_cert = _certificate("collector", client_key, ca_name, ca_key, ca=False)
    start_time = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    meter = build_fleet(1, seed=3, start=start_time)[0]

    async def main() -> None:
        async with FleetServer([meter], SimClock(start_time, speed=0), port=0, own_addresses=False) as fleet:
            address = (fleet.endpoints[0].host, fleet.endpoints[0].port)

            async def resolve(serial: str) -> tuple[str, int] | None:
                return address if serial == meter.serial else None

            server, port = await start_server(
                "127.0.0.1:0",
                MeterLinks(resolve, LinkSettings(min_gap_s=0.01)),
                Metrics.create(),
                tls=TlsFiles(_pem(server_cert), _pem(server_key), _pem(ca)),
            )
            options = (("grpc.ssl_target_name_override", "localhost"),)
            try:
                trusted = grpc.ssl_channel_credentials(_pem(ca), _pem(client_key), _pem(client_cert))
                async with MediatorClient(
                    f"127.0.0.1:{port}", credentials=trusted, options=options
                ) as client:
                    assert await client.serial_number(meter.serial) == meter.serial
                anonymous = grpc.ssl_channel_credentials(_pem(ca))
                async with MediatorClient(
                    f"127.0.0.1:{port}", credentials=anonymous, options=options, deadline_s=5
                ) as client:
                    with pytest.raises(MediatorError) as refused:
                        await client.serial_number(meter.serial)
                    assert refused.value.code == "UNAVAILABLE"
            finally:
                await server.stop(None)

    asyncio.run(main())


def test_checked_in_grpc_code_matches_the_proto(tmp_path: Path) -> None:
    proto_dir = ROOT / "flows" / "mediator" / "proto"
    from grpc_tools import protoc

    assert (
        protoc.main(
            [
                "protoc",
                f"-I{proto_dir}",
                f"--python_out={tmp_path}",
                f"--grpc_python_out={tmp_path}",
                str(proto_dir / "mediator.proto"),
            ]
        )
        == 0
    )
    for name in ("mediator_pb2.py", "mediator_pb2_grpc.py"):
        fresh = (
            (tmp_path / name)
            .read_text()
            .replace("import mediator_pb2 as", "from flows.mediator.proto import mediator_pb2 as")
        )
        assert fresh == (proto_dir / name).read_text(), f"{name} is stale: run make proto"


def test_info_service_from_a_registry_csv(tmp_path: Path) -> None:
    """`flows mediator --meters CSV` serves InfoService too, from the CSV's rows."""
    registry_csv = tmp_path / "meters.csv"
    registry_csv.write_text("serial,ip_address,port,hardware,esco\n"
                            "EML1,127.0.0.1,9001,C1.w,MOR\nEML2,127.0.0.1,9002,P1.cx,HMCE\n")
    port = free_port()
    mediator = start_flows(["mediator", "--meters", str(registry_csv), "--listen",
                            f"127.0.0.1:{port}"], "mediator listening")
    try:
        async def use() -> None:
            async with MediatorClient(f"127.0.0.1:{port}") as client:
                info = json.loads(await client.info("EML2"))
                assert info == {"registry": {"serial": "EML2", "ip_address": "127.0.0.1",
                                             "port": 9002, "hardware": "P1.cx", "esco": "HMCE",
                                             "mode": "active"}, "shadow": {}}
                assert [m["serial"] for m in json.loads(await client.meters(""))] == ["EML1", "EML2"]
                assert [m["serial"] for m in json.loads(await client.meters("MOR"))] == ["EML1"]
                assert [m["serial"] for m in json.loads(await client.meters("mor"))] == ["EML1"]
                with pytest.raises(MediatorError, match="not known"):
                    await client.info("EML404")

        asyncio.run(use())
    finally:
        stop_flows(mediator)
