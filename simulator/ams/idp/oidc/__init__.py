"""OpenID Connect provider (authlib): clients, the code flow with PKCE, tokens, userinfo, logout."""
