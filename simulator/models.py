"""Every table of the sandbox on one metadata: importing this registers core, AMS and LMS tables.

Whole-database work (migrations, tenant reset and delete) imports this module so that no table is missed;
the AMS and LMS packages themselves never import each other's models.
"""

from __future__ import annotations

import simulator.ams.commerce.models  # registers the AMS commerce tables
import simulator.ams.gateway.models  # registers the payment gateway stub tables
import simulator.ams.idp.models  # registers the AMS identity-provider tables
import simulator.ams.idp.token.models  # registers the AMS token hand-off tables
import simulator.ams.models  # registers the AMS tables
import simulator.ams.writeback.models  # registers the AMS writeback inbox tables
import simulator.console.conformance_runs  # registers the console's conformance-run history
import simulator.console.scenario_runs  # registers the console's scenario-run history
import simulator.core.models  # registers the core tables
import simulator.core.outbox_models  # registers the outbox tables
import simulator.lms.commerce.models  # registers the LMS purchase-sync tables
import simulator.lms.learning.models  # registers the LMS learning tables
import simulator.lms.models  # registers the LMS tables
import simulator.lms.sso.models  # noqa: F401 - registers the LMS service-provider tables (the others bind the name)
from simulator.core.db import Base

metadata = Base.metadata

__all__ = ["metadata"]
