"""The exceptions of the EMOP codec and transport; all derive from `EmopError`."""

from __future__ import annotations

ACK_CODES = {
    0: "ok",
    1: "FCS (CRC) error",
    2: "format error",
    3: "frame/data length incorrect",
    4: "maximum payload exceeded",
    5: "unknown object id",
    6: "security not granted / write to read-only object",
    7: "frame address incorrect",
}


class EmopError(Exception):
    """Anything wrong with an EMOP exchange."""


class FrameError(EmopError):
    """The bytes are not a well-formed EMOP frame."""


class FrameLengthError(FrameError):
    """The length byte disagrees with the bytes, or the frame is too short or too long."""


class FrameFormatError(FrameError):
    """Wrong delimiter, unknown data-field format, or a value of the wrong size."""


class CrcError(FrameError):
    """The frame check sequence (CRC-16/CCITT-FALSE) does not match."""

    def __init__(self, expected: int, actual: int) -> None:
        super().__init__(f"CRC mismatch: frame says {actual:04X}, bytes give {expected:04X}")
        self.expected, self.actual = expected, actual


class NakError(EmopError):
    """The meter answered with a non-zero ack/nak code."""

    def __init__(self, code: int) -> None:
        meaning = ACK_CODES.get(code, "unknown code")
        super().__init__(f"meter refused the request: NAK {code} ({meaning})")
        self.code = code


class ObjectIdMismatchError(EmopError):
    """The reply is for another object than the one asked for."""


class TransportError(EmopError):
    """The connection to the meter failed."""


class ConnectTimeoutError(TransportError):
    """No TCP connection within the connect timeout."""


class ConnectionRefusedByMeterError(TransportError):
    """The meter refused the TCP connection."""


class ReadTimeoutError(TransportError):
    """The meter did not send the whole reply within the read timeout."""


class ConnectionClosedError(TransportError):
    """The meter closed the connection before the whole reply arrived. ``received``: how many
    bytes of the reply came first (0: the meter turned the connection away, e.g. because it
    was still busy with the previous one)."""

    def __init__(self, message: str, received: int | None = None) -> None:
        super().__init__(message)
        self.received = received
