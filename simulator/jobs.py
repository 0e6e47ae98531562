"""Every due-job kind the sandbox knows: importing this registers the AMS and LMS handlers."""

from __future__ import annotations

import simulator.ams.jobs  # noqa: F401 - registers ams.membership_sweep
from simulator.core.jobs import registered_kinds

__all__ = ["registered_kinds"]
