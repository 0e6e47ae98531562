"""Deterministic demo data (Faker): personas, organisations and generated members."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from simulator.config import SandboxConfig


@dataclass
class SeedSummary:
    personas: int = 0
    organisations: int = 0
    members: int = 0

    def counts(self) -> dict[str, int]:
        return {"personas": self.personas, "organisations": self.organisations, "members": self.members}


def seed_tenant(
    session: Session, tenant_id: str, seed: int, members: int, config: SandboxConfig
) -> SeedSummary:
    return SeedSummary()
