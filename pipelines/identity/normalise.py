"""Identity values made comparable: the one place names, UPNs, NHS numbers and postcodes are
cleaned before they are stored or matched (docs/linkage.md, "Normalisation")."""

from __future__ import annotations

import re
import unicodedata

# Values that mean "not known": stored as NULL so that two blanks never look like a match.
PLACEHOLDERS = frozenset(
    {"", "unknown", "not known", "n/k", "nk", "n/a", "na", "none", "null", "tbc", "-", "?"}
)
# DfE's codes for a pupil whose UPN is not known (UN1-UN5 say why).
UPN_PLACEHOLDER = re.compile(r"^UN[1-5]$")
# A UPN: a check letter then 12 digits, or 11 digits then a letter (a temporary UPN).
UPN = re.compile(r"^[A-Z]\d{12}$|^[A-Z]\d{11}[A-Z]$|^\d{11}[A-Z]$")
# A UK postcode once spaces are gone: outward code (2-4) then inward code (digit, 2 letters).
POSTCODE = re.compile(r"^([A-Z]{1,2}\d[A-Z\d]?)(\d[A-Z]{2})$")


def blank(value: object) -> str | None:
    """The value as trimmed text, or None where it is empty or a placeholder for unknown."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    text = str(value).strip()
    return None if text.lower() in PLACEHOLDERS else text


# Letters Unicode does not decompose into a base letter and an accent, as English writes them.
UNDECOMPOSED = str.maketrans(
    {"Ł": "L", "ł": "l", "Ø": "O", "ø": "o", "Đ": "D", "đ": "d", "ß": "ss", "Æ": "AE",
     "æ": "ae", "Œ": "OE", "œ": "oe", "Þ": "TH", "þ": "th", "ı": "i"}
)  # fmt: skip


def normalise_name(value: object) -> str | None:
    """A name as splink compares it: upper case, accents dropped, hyphens and apostrophes as
    one space each, other punctuation gone, spaces collapsed. "Zoë O'Brien-Smith " becomes
    "ZOE O BRIEN SMITH": a double-barrelled name keeps both parts, so either can match."""
    text = blank(value)
    if text is None:
        return None
    decomposed = unicodedata.normalize("NFKD", text.translate(UNDECOMPOSED))
    letters = "".join(c for c in decomposed if not unicodedata.combining(c))
    letters = re.sub(r"[-'\u2019`]", " ", letters.upper())
    letters = re.sub(r"[^A-Z ]", "", letters)
    return " ".join(letters.split()) or None


def normalise_upn(value: object) -> str | None:
    """A UPN in upper case without spaces; UN1-UN5 and anything not shaped like a UPN: None."""
    text = blank(value)
    if text is None:
        return None
    upn = re.sub(r"\s", "", text).upper()
    if UPN_PLACEHOLDER.match(upn) or not UPN.match(upn):
        return None
    return upn


def normalise_nhs_number(value: object) -> str | None:
    """Ten digits whose modulus-11 check digit holds, else None (a mistyped number must not
    link two children); one digit repeated ten times is a placeholder, so None."""
    text = blank(value)
    if text is None:
        return None
    digits = re.sub(r"[\s-]", "", text)
    # One digit ten times (0000000000) is a placeholder whose check digit happens to hold.
    if not re.fullmatch(r"\d{10}", digits) or len(set(digits)) == 1:
        return None
    total = sum(int(d) * w for d, w in zip(digits[:9], range(10, 1, -1), strict=True))
    check = 11 - total % 11
    check = 0 if check == 11 else check
    return digits if check != 10 and check == int(digits[9]) else None


def normalise_postcode(value: object) -> str | None:
    """A postcode as "AB1 2CD"; anything not shaped like one: None."""
    text = blank(value)
    if text is None:
        return None
    compact = re.sub(r"\s", "", text).upper()
    match = POSTCODE.match(compact)
    return f"{match.group(1)} {match.group(2)}" if match else None


def normalise_ref(value: object) -> str | None:
    """A cross-reference (a council's child id, a police reference) as trimmed text."""
    return blank(value)


# SSDA903 codes sex as 1 (male) and 2 (female).
SEX_CODES = {"M": "M", "MALE": "M", "1": "M", "F": "F", "FEMALE": "F", "2": "F"}


def normalise_sex(value: object) -> str | None:
    """M or F; anything else (X, U, blank) is not evidence either way, so None."""
    text = blank(value)
    return None if text is None else SEX_CODES.get(text.upper())
