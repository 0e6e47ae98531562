"""The saml-sp checks, one module per group."""
