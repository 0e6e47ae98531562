"""WSGI middleware every AMS and LMS request passes through (journal outermost, then faults)."""

from __future__ import annotations

from flask import Flask


def install_request_middleware(app: Flask, app_name: str) -> None:
    """Wrap ``app`` so every tenant request is journaled and subject to the tenant's fault rules."""
    return None
