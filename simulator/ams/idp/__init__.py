"""The AMS as identity provider: login, signing keys, a SAML 2.0 IdP and an OpenID Connect provider.

Services (:mod:`keys`, :mod:`registry`, :mod:`saml.idp`, :mod:`oidc.provider`, :mod:`login`) know no
Flask; :mod:`views` and the protocol view modules only translate HTTP.
"""
