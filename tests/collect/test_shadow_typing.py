"""Every syncer's shadow update is checked by mypy against `flows.db.shadows.ShadowUpdate`: a
misspelt column or a wrong type fails the type check, before any sync runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

MISSPELT = '''
from datetime import UTC, datetime
from flows.collect.syncers import SyncResult

def sync_csq_badly() -> SyncResult:
    return SyncResult(shadow={"csq": 20, "csq_att": datetime.now(UTC)})
'''
WRONG_TYPE = '''
from flows.collect.syncers import SyncResult

def sync_balance_badly() -> SyncResult:
    return SyncResult(shadow={"balance": "4.91"})
'''


@pytest.mark.parametrize("source, complaint", [(MISSPELT, '"csq_att"'), (WRONG_TYPE, "balance")])
def test_mypy_refuses_a_shadow_update_that_is_not_a_shadow_column(
        tmp_path: Path, source: str, complaint: str) -> None:
    module = tmp_path / "bad_syncer.py"
    module.write_text(source)
    checked = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-incremental",
                              "--follow-imports=silent", str(module)],
                             capture_output=True, text=True, cwd=Path(__file__).parents[2])
    assert checked.returncode == 1, checked.stdout
    assert "typeddict" in checked.stdout and complaint in checked.stdout, checked.stdout
