"""SAML 2.0 Web Browser SSO, service-provider side (OneLogin's python3-saml is the validator)."""
