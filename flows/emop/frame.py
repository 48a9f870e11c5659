"""EMOP frames: delimiter, length, addresses, control, data field, CRC-16/CCITT-FALSE.

```
0 0x7E | 1 length (bytes after the delimiter) | 2 dst type | 3-5 dst address | 6 src type |
7-9 src address | 10 control (seq | ack_code << 3) | 11.. data field | last 2: CRC big-endian
```
No byte stuffing: framing is by the length byte only.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass

from flows.emop.errors import CrcError, FrameFormatError, FrameLengthError

DELIMITER = 0x7E
HEADER_AND_CRC = 12  # length + addresses + control + CRC: length = 12 + len(data)
MAX_FRAME = 256
MAX_DATA = MAX_FRAME - 1 - HEADER_AND_CRC


def crc(data: bytes) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection)."""
    return binascii.crc_hqx(data, 0xFFFF)


@dataclass(frozen=True)
class Address:
    """A device: type (1 byte) and address (3 bytes)."""

    device_type: int
    address: int

    def __post_init__(self) -> None:
        if not 0 <= self.device_type <= 0xFF or not 0 <= self.address <= 0xFFFFFF:
            raise FrameFormatError(f"device type {self.device_type} / address "
                                   f"{self.address:#x} out of range (1 and 3 bytes)")

    def to_bytes(self) -> bytes:
        return bytes((self.device_type,)) + self.address.to_bytes(3, "big")

    def __str__(self) -> str:
        return f"{self.device_type:02X}/{self.address:06X}"


# What the reference Emlite client uses; meters reply with the addresses swapped.
ANY_METER = Address(0x00, 0x000000)
REFERENCE_CLIENT = Address(0x00, 0x21AE42)
REFERENCE_SEQUENCE = 5


@dataclass(frozen=True)
class Frame:
    destination: Address
    source: Address
    sequence: int
    ack_code: int
    data: bytes

    def __post_init__(self) -> None:
        if not 0 <= self.sequence <= 7 or not 0 <= self.ack_code <= 31:
            raise FrameFormatError(f"sequence {self.sequence} (0-7) or ack code {self.ack_code} "
                                   "(0-31) out of range")
        if len(self.data) > MAX_DATA:
            raise FrameLengthError(f"data field of {len(self.data)} bytes exceeds {MAX_DATA}")

    @property
    def control(self) -> int:
        return self.sequence | self.ack_code << 3

    def encode(self) -> bytes:
        body = (bytes((HEADER_AND_CRC + len(self.data),)) + self.destination.to_bytes()
                + self.source.to_bytes() + bytes((self.control,)) + self.data)
        return bytes((DELIMITER,)) + body + crc(body).to_bytes(2, "big")

    def reply(self, data: bytes, ack_code: int = 0) -> Frame:
        """The meter's answer to this request: addresses swapped, same sequence number."""
        return Frame(self.source, self.destination, self.sequence, ack_code, data)


def frame_size(header: bytes) -> int:
    """Total size of the frame starting with ``header`` (needs its first 2 bytes)."""
    if header[0] != DELIMITER:
        raise FrameFormatError(f"frame must start with 7E, got {header[0]:02X}")
    length = header[1]
    if length < HEADER_AND_CRC:
        raise FrameLengthError(f"length byte {length} is below the minimum {HEADER_AND_CRC}")
    return 1 + length


class FrameSplitter:
    """Bytes as they arrive on a connection in, whole frames out (by the length byte)."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> None:
        self._buffer += data

    def next_frame(self) -> bytes | None:
        """The next whole frame's bytes, or None until they have all arrived; raises
        `FrameFormatError`/`FrameLengthError` when the bytes cannot start a frame."""
        if len(self._buffer) < 2:
            return None
        size = frame_size(bytes(self._buffer[:2]))
        if len(self._buffer) < size:
            return None
        frame = bytes(self._buffer[:size])
        del self._buffer[:size]
        return frame

    def __len__(self) -> int:
        """Bytes received but not handed out yet."""
        return len(self._buffer)


def decode_frame(raw: bytes) -> Frame:
    """Parse and check one complete frame (length, delimiter, CRC)."""
    if len(raw) < 1 + HEADER_AND_CRC:
        raise FrameLengthError(f"{len(raw)} bytes cannot be a frame (at least "
                               f"{1 + HEADER_AND_CRC})")
    size = frame_size(raw)
    if len(raw) != size:
        raise FrameLengthError(f"length byte says {size} bytes in all, got {len(raw)}")
    expected, actual = crc(raw[1:-2]), int.from_bytes(raw[-2:], "big")
    if expected != actual:
        raise CrcError(expected, actual)
    control = raw[10]
    return Frame(
        destination=Address(raw[2], int.from_bytes(raw[3:6], "big")),
        source=Address(raw[6], int.from_bytes(raw[7:10], "big")),
        sequence=control & 0x07,
        ack_code=control >> 3,
        data=bytes(raw[11:-2]),
    )
