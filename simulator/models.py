"""Every table of the sandbox on one metadata: importing this registers core, AMS and LMS tables.

Whole-database work (migrations, tenant reset and delete) imports this module so that no table is missed;
the AMS and LMS packages themselves never import each other's models.
"""

from __future__ import annotations

import simulator.ams.models  # registers the AMS tables
import simulator.core.models  # registers the core tables
import simulator.lms.models  # noqa: F401 - registers the LMS tables (the first two bind the name)
from simulator.core.db import Base

metadata = Base.metadata

__all__ = ["metadata"]
