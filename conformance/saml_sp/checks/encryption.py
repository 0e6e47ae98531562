"""Encrypted assertions (SHOULD, when the SP's metadata publishes an encryption key)."""

from __future__ import annotations

from conformance.harness.checks import SHOULD, Verdict
from conformance.saml_sp.browser import start_sign_on
from conformance.saml_sp.judge import accepted, refused
from conformance.saml_sp.suite import SUITE
from conformance.saml_sp.world import World


def _has_encryption_key(world: World) -> str | None:
    if world.sp.encryption_certificates:
        return None
    return "the SP's metadata publishes no encryption certificate"


@SUITE.check(
    "SAML-SP-ENC-1",
    SHOULD,
    "encryption",
    "An assertion encrypted to the SP's published key signs the member in",
    "SAML core 2.0 §2.3.4 and §6; XML Encryption 1.1",
    "Decrypt EncryptedAssertion with the private key of the metadata's encryption certificate "
    "(AES-256-CBC data, RSA-OAEP key transport), then verify the assertion's signature.",
    applies=_has_encryption_key,
)
def encrypted(world: World) -> Verdict:
    sign_on = start_sign_on(world, world.member)
    xml = world.mint(sign_on, encrypt=True, sign="both")
    return accepted(
        world, sign_on, xml, "The IdP's response with the signed assertion encrypted to the SP's key."
    )


@SUITE.check(
    "SAML-SP-ENC-2",
    SHOULD,
    "encryption",
    "An assertion encrypted to another key is refused",
    "SAML core 2.0 §6.1; XML Encryption 1.1 §4.2",
    "Treat an assertion you cannot decrypt as no assertion at all: refuse the response.",
    applies=_has_encryption_key,
)
def encrypted_to_another_key(world: World) -> Verdict:
    sign_on = start_sign_on(world, world.member)
    xml = world.mint(sign_on, encrypt=True, sign="both", encryption_certificate=world.attacker[1])
    description = "The IdP's response with the assertion encrypted to a key the SP does not hold."
    return refused(world, sign_on, xml, description, ("member",))
