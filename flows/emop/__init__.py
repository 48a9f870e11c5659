"""flows.emop: the EM-Lite Object Protocol — frames, data fields, typed records, TCP transport.

    request = read_request(ObjectId.ELEMENT_A)
    async with MeterConnection("127.0.0.1", 8080) as meter:
        registers = ElementRegisters.decode(object_value(await meter.exchange(request), request))
"""

from flows.emop.errors import (
    ConnectionClosedError,
    ConnectionRefusedByMeterError,
    ConnectTimeoutError,
    CrcError,
    EmopError,
    FrameError,
    FrameFormatError,
    FrameLengthError,
    NakError,
    ObjectIdMismatchError,
    ReadTimeoutError,
    TransportError,
)
from flows.emop.frame import ANY_METER, REFERENCE_CLIENT, Address, Frame, crc, decode_frame
from flows.emop.messages import (
    Format,
    ObjectId,
    Route,
    block_pricing,
    element_b_tou_rate,
    event_log_request,
    event_log_value,
    object_value,
    profile_log_request,
    profile_log_value,
    read_request,
    write_request,
)
from flows.emop.records import ElementRegisters, Event, ProfileLog1Record, ProfileLog2Record, SignalQuality
from flows.emop.transport import MeterConnection, read_frame

__all__ = [
    "ANY_METER", "REFERENCE_CLIENT", "Address", "ConnectTimeoutError", "ConnectionClosedError",
    "ConnectionRefusedByMeterError", "CrcError", "ElementRegisters", "EmopError", "Event", "Format",
    "Frame", "FrameError", "FrameFormatError", "FrameLengthError", "MeterConnection", "NakError",
    "ObjectId", "ObjectIdMismatchError", "ProfileLog1Record", "ProfileLog2Record",
    "ReadTimeoutError", "Route", "SignalQuality", "TransportError", "block_pricing", "crc",
    "decode_frame", "element_b_tou_rate", "event_log_request", "event_log_value", "object_value",
    "profile_log_request", "profile_log_value", "read_frame", "read_request", "write_request",
]
