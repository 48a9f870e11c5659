"""Parameters several routes share."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

from flows.meterdata import SERIAL_PATTERN

# A meter serial in a path: anything else (markup, spaces, an empty one) is a 422.
Serial = Annotated[str, Path(pattern=SERIAL_PATTERN, description="the meter's serial")]
