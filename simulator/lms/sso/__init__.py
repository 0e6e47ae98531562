"""The LMS's side of single sign-on: SAML 2.0 service provider and OpenID Connect relying party.

The LMS learns its identity provider only over HTTP (SAML metadata, OpenID discovery): by default the
tenant's own AMS, or an external IdP named in the tenant's ``sso`` settings. Protocol code lives in
:mod:`.saml` and :mod:`.oidc` (no Flask inside), accounts in :mod:`.provisioning`, HTTP in :mod:`.views`.
"""
