"""Token hand-off SSO, the legacy AMS pattern: a one-time token in the browser, validated over a back channel.

The AMS sends the browser to a registered service (an LMS) with a short-lived random token; the service
asks ``POST /t/{tenant}/sso/token/validate`` — authenticated with its own credential — who the token
belongs to, and gets the member's profile (the same attributes, release rules and renames as SAML and
OIDC) with the access-policy decision. Registry in :mod:`.registry`, tokens in :mod:`.handoff`, HTTP in
:mod:`.views`.
"""
