"""SAML 2.0 identity provider (pysaml2 for the protocol, python-xmlsec for in-process signatures)."""
