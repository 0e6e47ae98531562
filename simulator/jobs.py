"""Every due-job kind the sandbox knows: importing this registers the AMS and LMS handlers."""

from __future__ import annotations

import simulator.ams.commerce.catalog_owner  # registers ams.catalog_import
import simulator.ams.idp.oidc.assertions  # registers the purge of used client assertions as due work
import simulator.ams.jobs  # registers ams.membership_sweep
import simulator.core.delivery  # registers outbox delivery as due work
import simulator.core.key_attempts  # registers the purge of failed API-key attempts as due work
import simulator.lms.learning.writeback  # registers lms.writeback_batch
import simulator.lms.sso.saml.expiry  # noqa: F401 - registers the purge of expired SAML one-time values
from simulator.core.jobs import registered_kinds

__all__ = ["registered_kinds"]
