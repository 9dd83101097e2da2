"""Credit-event tests reuse the servicing test kit (ledgerkit, bookfactory)."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent / "servicing"))
sys.path.insert(0, str(HERE.parent))
