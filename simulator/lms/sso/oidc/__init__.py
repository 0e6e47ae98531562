"""OpenID Connect 1.0 relying party (authorization code flow with PKCE), authlib/joserfc underneath."""
