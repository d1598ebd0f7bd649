"""Identities a customer writes in a message ("my number is (650) 555-1234", "it's ana@example.com").

Numbers are read with Google's libphonenumber (`phonenumbers`, the lite build without geocoding data), in the
tenant's country when no country code is given; possible numbers count (fictional 555 numbers included), because
a claim is only ever a candidate: it becomes a link once the customer proves it with a one-time code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import phonenumbers
from phonenumbers import Leniency, PhoneNumberFormat

from oratio.customers.identity import identity_key

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2,24}")


@dataclass(frozen=True, slots=True)
class Claim:
    """An identity a customer wrote: `address` is where a code can go, `key` the profile key it would link to."""

    kind: Literal["phone", "email"]
    address: str

    @property
    def key(self) -> str:
        return identity_key(self.kind, self.address)


def claims_in(text: str, region: str) -> list[Claim]:
    """The phone numbers and email addresses in `text`, in order (numbers read in `region`, ISO 3166 alpha-2)."""
    found: list[tuple[int, Claim]] = []
    for match in phonenumbers.PhoneNumberMatcher(text, region, leniency=Leniency.POSSIBLE):
        number = phonenumbers.format_number(match.number, PhoneNumberFormat.E164)
        found.append((match.start, Claim("phone", number)))
    for email in _EMAIL.finditer(text):
        found.append((email.start(), Claim("email", email.group(0).lower())))
    return [claim for _, claim in sorted(found, key=lambda item: item[0])]


def display_address(claim: Claim) -> str:
    """How the address is shown back to the customer (an international number, or the email as written)."""
    if claim.kind == "phone":
        return phonenumbers.format_number(phonenumbers.parse(claim.address), PhoneNumberFormat.INTERNATIONAL)
    return claim.address
