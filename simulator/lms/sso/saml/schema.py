"""python3-saml's XML Schema check (SAML core 2.0 schemas) on schemas compiled once, not per message.

``OneLogin_Saml2_XML.validate_xml`` reads and compiles ``saml-schema-protocol-2.0.xsd`` (and every schema
it imports) on each call: about 2 ms per SAML response, more than all of python3-saml's other checks.
:func:`install` puts :func:`validate_xml` in its place — the same contract and the same schemas, each
compiled once and kept in a small pool (an lxml ``XMLSchema`` keeps the error log of its last run, so one
object serves one thread at a time; a thread that finds the pool empty compiles another) — and python3-saml
calls it wherever it validated before (responses, logout messages, metadata).

Example::

    install()   # once, at import of the ACS validation
    OneLogin_Saml2_XML.validate_xml(document, "saml-schema-protocol-2.0.xsd")   # element or error code
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import onelogin.saml2.xml_utils
from lxml import etree
from onelogin.saml2.xml_utils import OneLogin_Saml2_XML

log = logging.getLogger(__name__)

SCHEMA_DIR = Path(onelogin.saml2.xml_utils.__file__).parent / "schemas"
_idle: dict[str, list[etree.XMLSchema]] = {}
_idle_lock = threading.Lock()


@contextmanager
def compiled_schema(name: str) -> Iterator[etree.XMLSchema]:
    """The schema file ``name`` of python3-saml's schema folder, compiled, for this thread's use only."""
    with _idle_lock:
        idle = _idle.setdefault(name, [])
        schema = idle.pop() if idle else None
    if schema is None:
        schema = OneLogin_Saml2_XML._schema_class(etree.parse(str(SCHEMA_DIR / name)))
    try:
        yield schema
    finally:
        with _idle_lock:
            idle.append(schema)


def validate_xml(xml: Any, schema: str, debug: bool = False) -> Any:
    """``OneLogin_Saml2_XML.validate_xml``: the parsed element when ``xml`` is valid against ``schema``,
    else ``'unloaded_xml'`` (it does not parse, DTDs and entities refused) or ``'invalid_xml'``."""
    try:
        element = OneLogin_Saml2_XML.to_etree(xml)
    except Exception:  # python3-saml's contract: any parse failure is 'unloaded_xml'
        log.debug("XML could not be parsed for schema validation", exc_info=debug)
        return "unloaded_xml"
    with compiled_schema(schema) as validator:
        if not validator.validate(element):
            if debug:
                log.debug("schema errors: %s", [error.message for error in validator.error_log])
            return "invalid_xml"
    return element


def install() -> None:
    """Make python3-saml validate with :func:`validate_xml` (idempotent)."""
    OneLogin_Saml2_XML.validate_xml = staticmethod(validate_xml)  # type: ignore[method-assign,assignment]
