"""Test card numbers of the payment gateway stub, and what may be kept of a card.

A magic number selects the outcome of every charge made with its token (the scheme popularised by
Stripe's test cards). Any other number that passes the Luhn check is approved.

=====================  ===================  ===============================================
Number                 Outcome              Gateway answer
=====================  ===================  ===============================================
4242 4242 4242 4242    approved             charge ``succeeded``
4000 0000 0000 0002    generic decline      402 ``card_declined``
4000 0000 0000 9995    insufficient funds   402 ``insufficient_funds``
4000 0000 0000 0069    expired card         402 ``expired_card``
4000 0000 0000 0127    incorrect CVC        402 ``incorrect_cvc``
4000 0000 0000 0119    processing error     402 ``processing_error``
4000 0000 0000 3220    challenge            charge ``requires_action``; ``confirm`` completes it
=====================  ===================  ===============================================
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

from simulator.core.redaction import luhn_valid

APPROVED = "approved"
CHALLENGE = "challenge"
CHALLENGE_ANSWER = "pass"
TEST_CARDS: dict[str, str] = {
    "4242424242424242": APPROVED,
    "4000000000000002": "card_declined",
    "4000000000009995": "insufficient_funds",
    "4000000000000069": "expired_card",
    "4000000000000127": "incorrect_cvc",
    "4000000000000119": "processing_error",
    "4000000000003220": CHALLENGE,
}
DECLINE_MESSAGES: dict[str, str] = {
    "card_declined": "The card was declined.",
    "insufficient_funds": "The card has insufficient funds.",
    "expired_card": "The card has expired.",
    "incorrect_cvc": "The card's security code is incorrect.",
    "processing_error": "An error occurred while processing the card; try again.",
}
_BRANDS = (
    (r"^4", "visa"),
    (r"^(5[1-5]|2[2-7])", "mastercard"),
    (r"^3[47]", "amex"),
    (r"^6(011|5)", "discover"),
)


@dataclass(frozen=True)
class CardFacts:
    """Everything the gateway keeps of a card: never the number or the CVC."""

    brand: str
    last4: str
    fingerprint: str
    behaviour: str


def card_facts(number: str, secret: str) -> CardFacts:
    """Brand, last four, keyed fingerprint and test outcome of ``number`` (digits, spaces or dashes).

    Raises ``ValueError`` with a plain message when the number is not a card number.
    """
    digits = re.sub(r"[ -]", "", number)
    if not digits.isdigit() or not 12 <= len(digits) <= 19 or not luhn_valid(digits):
        raise ValueError("not a valid card number")
    brand = next((name for pattern, name in _BRANDS if re.match(pattern, digits)), "unknown")
    fingerprint = hmac.new(secret.encode(), digits.encode(), hashlib.sha256).hexdigest()
    return CardFacts(brand, digits[-4:], fingerprint, TEST_CARDS.get(digits, APPROVED))
