"""SAML 2.0 identity provider (pysaml2 for the protocol, python-xmlsec for in-process signatures).

Every module here imports pysaml2, and this package runs first. It imports the one pysaml2 module that
warns on import — ``saml2/cryptography/symmetric.py``: ``CryptographyDeprecationWarning: CFB has been
moved…``, about a cipher mode the sandbox never uses (its encrypted assertions are AES-256-CBC, through
python-xmlsec) — with exactly that warning ignored, for the time of that import only. The warning fires
once, when the module is first imported, so it never shows; every other warning, from pysaml2 and
cryptography included, still does.
"""

import warnings

from cryptography.utils import CryptographyDeprecationWarning

with warnings.catch_warnings():
    warnings.filterwarnings(
        "ignore",
        message="CFB has been moved",
        category=CryptographyDeprecationWarning,
        module=r"saml2\.cryptography\.symmetric",
    )
    import saml2.cryptography.symmetric  # noqa: F401
