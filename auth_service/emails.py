"""Email addresses: one canonical form per mailbox, and refusal of look-alikes.

Threat model: an attacker registers an address that a person (or an operator reading a list)
takes for someone else's: fullwidth letters, a Cyrillic `\u0430` among Latin ones, a zero-width
space, a combining accent instead of a composed letter, a trailing dot in the domain.
Folding (NFKC, then case-folding, then NFKC again, as Unicode's NFKC_Casefold) makes every
compatibility- or case-equal spelling the same string, so they are one account; what
folding cannot make equal (invisible and format characters, combining marks left on their
own, scripts mixed in one local part or domain label) is refused. The syntax itself is
email-validator's (RFC 5321/5322 with SMTPUTF8, IDNA domains), never a regex of ours.
Deliverability is not checked: no DNS here.
"""

import unicodedata

import email_validator
from confusable_homoglyphs import categories  # type: ignore[import-untyped]

# Characters that are not visible or change how neighbours render: format (Cf, e.g. zero-width
# space, bidi overrides), control (Cc), private use, unassigned and separators (Z*).
_REFUSED_CATEGORIES = {"Cc", "Cf", "Co", "Cn", "Cs", "Zs", "Zl", "Zp"}
# Scripts every script may mix with: digits, punctuation (COMMON), combining marks (INHERITED).
_NEUTRAL_SCRIPTS = {"COMMON", "INHERITED"}


class InvalidEmail(ValueError):
    """Not an email address this service accepts; the message says why."""


def fold(email: str) -> str:
    """NFKC_Casefold: the form in which equal-looking spellings are one string."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", email).casefold()).strip()


def canonical(email: str) -> str:
    """The form accounts are stored and looked up under. An address that does not validate
    (a legacy one, or a typo at login) is only folded: it can match nothing new."""
    folded = fold(email)
    try:
        return email_validator.validate_email(folded, check_deliverability=False).normalized
    except email_validator.EmailNotValidError:
        return folded


def validate(email: str) -> str:
    """The canonical form of a new account's address, or InvalidEmail saying what is wrong."""
    for character in email:
        if unicodedata.category(character) in _REFUSED_CATEGORIES and character != " ":
            name = unicodedata.name(character, f"U+{ord(character):04X}")
            raise InvalidEmail(f"contains an invisible or control character ({name})")
    folded = fold(email)
    for character in folded:
        # Folding composes a letter and its accent into one character; a mark still on its
        # own (after a digit, "1\u0301") changes how its neighbour looks. Marks of a script
        # of their own (Devanagari's vowel signs) are the script's spelling, and stay.
        if unicodedata.category(character).startswith("M") and (
            categories.alias(character) == "INHERITED"
        ):
            name = unicodedata.name(character, f"U+{ord(character):04X}")
            raise InvalidEmail(f"contains a combining mark that composes with nothing ({name})")
    try:
        checked = email_validator.validate_email(folded, check_deliverability=False)
    except email_validator.EmailNotValidError as exc:
        raise InvalidEmail(str(exc)) from None
    local, _, domain = checked.normalized.rpartition("@")
    for part in [local, *domain.split(".")]:
        scripts = categories.unique_aliases(part) - _NEUTRAL_SCRIPTS
        if len(scripts) > 1:
            raise InvalidEmail(f"mixes scripts ({', '.join(sorted(scripts))}) in {part!r}")
    return checked.normalized
