"""Writing a frozen record's fields past its guard (`Data.__init__`, its cached hash).

Compiled with mypyc (setup.py), ``object.__setattr__`` here is one C call into CPython's
generic setattr; from interpreted code it is a wrapper call that builds an argument tuple per
field — about a third of building a `Data` record, and a read in the seed query builds two and
sets twelve fields. `flows.ivm.data` calls it only where it is compiled: interpreted, a
Python function looping over the fields costs more than one ``object.__setattr__`` per field
from the record's generated ``__init__``, which is what it does then.
"""

from __future__ import annotations

from typing import Any


def set_fields(record: object, names: tuple[str, ...], values: tuple[Any, ...]) -> None:
    """``record.<names[i]> = values[i]`` for each field, bypassing the class's ``__setattr__``."""
    for position in range(len(names)):
        object.__setattr__(record, names[position], values[position])


def set_field(record: object, name: str, value: Any) -> None:
    """``record.<name> = value``, bypassing the class's ``__setattr__``."""
    object.__setattr__(record, name, value)
