"""Normalisers: turn what people typed into values that compare well.

Every function here takes one raw value (or None) and returns a normalised string, with
"" meaning "missing". Placeholders such as "n/a" or "000-000-0000" come back as "" too, so a
placeholder can never make two records look alike.
"""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers
from anyascii import anyascii
from nicknames import NickNamer

# --- text ------------------------------------------------------------------------------------

_NON_ALNUM = re.compile(r"[^a-z0-9]+")
# Apostrophes and dots join rather than split: O'Brien → obrien, St. → st. (anyascii has
# already turned a curly apostrophe into a straight one.)

# Values people type when a form insists on an answer they do not have.
PLACEHOLDER_WORDS: frozenset[str] = frozenset(
    {
        "", "na", "n a", "none", "null", "nil", "test", "testing", "unknown", "unk", "asdf", "asd",
        "qwerty", "xxx", "xx", "x", "tbd", "tba", "noname", "no name", "dummy", "fake", "sample",
        "abc", "aaa", "blank", "empty", "not provided", "not available", "nope", "no", "void", "-",
    }
)


def fold(value: str | None) -> str:
    """Lower-case ASCII words separated by single spaces ("Zoë  O'Brien-Smith" → "zoe obrien smith")."""
    if not value:
        return ""
    if not value.isascii():
        value = anyascii(value)
    # str.replace is several times faster than str.translate for the two common joiners.
    value = value.lower().replace("'", "").replace(".", "")
    if "`" in value:
        value = value.replace("`", "")
    return _NON_ALNUM.sub(" ", value).strip()


def is_placeholder(folded: str) -> bool:
    return folded in PLACEHOLDER_WORDS


# --- names -----------------------------------------------------------------------------------

_NAME_NOISE: frozenset[str] = frozenset(
    {"mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "jr", "sr", "ii", "iii", "iv", "phd", "md"}
)


def normalise_name(value: str | None) -> str:
    """A folded name without titles or generational suffixes; "" for a placeholder."""
    folded = fold(value)
    if is_placeholder(folded):
        return ""
    words = [word for word in folded.split(" ") if word not in _NAME_NOISE]
    return " ".join(words)


_nicknamer = NickNamer()


@lru_cache(maxsize=65536)
def name_family(name: str) -> frozenset[str]:
    """The name and every name the `nicknames` table links it to (bob → robert, bobby, bert).

    The table is broad ("al" links to a dozen names), so callers treat a shared family as a weak
    hint, never as proof.
    """
    if not name:
        return frozenset()
    first_word = name.split(" ", 1)[0]
    return frozenset({first_word} | _nicknamer.canonicals_of(first_word))


def are_nicknames(name_a: str, name_b: str) -> bool:
    """True when one name is a nickname of the other, or both are nicknames of one name."""
    family_a = name_family(name_a)
    family_b = name_family(name_b)
    return bool(family_a & family_b)


# --- emails ----------------------------------------------------------------------------------

# Misspelt domains seen in sign-up forms, mapped to the domain that was meant.
EMAIL_DOMAIN_TYPOS: dict[str, str] = {
    "gmial.com": "gmail.com", "gmai.com": "gmail.com", "gmal.com": "gmail.com",
    "gamil.com": "gmail.com", "gnail.com": "gmail.com", "gmail.co": "gmail.com",
    "gmail.con": "gmail.com", "gmail.cm": "gmail.com", "gmaill.com": "gmail.com",
    "gmail.om": "gmail.com", "gmali.com": "gmail.com", "googlemail.com": "gmail.com",
    "hotmial.com": "hotmail.com", "hotmal.com": "hotmail.com", "hotmai.com": "hotmail.com",
    "hotmail.co": "hotmail.com", "hotmail.con": "hotmail.com", "hotmil.com": "hotmail.com",
    "homail.com": "hotmail.com", "hotamil.com": "hotmail.com",
    "yaho.com": "yahoo.com", "yahooo.com": "yahoo.com", "yahoo.con": "yahoo.com",
    "yhoo.com": "yahoo.com", "yahho.com": "yahoo.com", "yaoo.com": "yahoo.com",
    "outlok.com": "outlook.com", "outloo.com": "outlook.com", "outlook.con": "outlook.com",
    "iclod.com": "icloud.com", "icloud.con": "icloud.com", "icoud.com": "icloud.com",
    "aol.con": "aol.com", "aoll.com": "aol.com",
}
# Providers that deliver "a.b+shop@" to "ab@": the dots are ignored, the +tag is a label.
_DOTS_IGNORED: frozenset[str] = frozenset({"gmail.com"})
_PLUS_TAGS_IGNORED: frozenset[str] = frozenset(
    {"gmail.com", "outlook.com", "hotmail.com", "live.com", "msn.com", "icloud.com", "me.com",
     "fastmail.com", "protonmail.com", "proton.me"}
)
_PLACEHOLDER_EMAIL_LOCALS: frozenset[str] = frozenset(
    {"noemail", "no.email", "no-email", "none", "no", "na", "n/a", "test", "testing", "noreply",
     "no-reply", "donotreply", "do-not-reply", "nobody", "null", "unknown", "asdf", "email", "x",
     "xx", "xxx", "fake", "dummy", "sample", "abc", "nomail", "no_email", "declined", "optout"}
)
_PLACEHOLDER_EMAIL_DOMAINS: frozenset[str] = frozenset(
    {"example.com", "example.org", "example.net", "test.com", "none.com", "noemail.com",
     "nomail.com", "domain.com", "invalid", "localhost", "email.invalid", "test.test"}
)
# Role addresses read by a team: sharing one says "same company", not "same person".
SHARED_MAILBOXES: frozenset[str] = frozenset(
    {"info", "sales", "support", "office", "admin", "contact", "hello", "billing", "accounts",
     "accounting", "enquiries", "enquiry", "inquiries", "help", "team", "mail", "orders",
     "service", "customerservice", "customer.service", "reception", "hr", "jobs", "careers",
     "marketing", "webmaster", "postmaster", "finance", "invoices", "invoice", "bookings",
     "frontdesk", "general", "hi", "team", "ops", "operations", "purchasing", "accountspayable",
     "ap", "ar", "it", "helpdesk", "customercare", "care", "feedback", "press", "media"}
)


def normalise_email(value: str | None) -> str:
    """The address the mail would land in: lower case, typo-free domain, provider rules applied."""
    if not value:
        return ""
    email = value.strip().lower()
    if not email.isascii():
        email = anyascii(email)
    email = email.strip(" <>\"'")
    local, at, domain = email.rpartition("@")
    if not at or not local or "." not in domain:
        return ""
    domain = domain.strip(".")
    domain = EMAIL_DOMAIN_TYPOS.get(domain, domain)
    if local in _PLACEHOLDER_EMAIL_LOCALS or domain in _PLACEHOLDER_EMAIL_DOMAINS:
        return ""
    if domain in _PLUS_TAGS_IGNORED:
        local = local.split("+", 1)[0]
    if domain in _DOTS_IGNORED:
        local = local.replace(".", "")
    if not local:
        return ""
    return f"{local}@{domain}"


def is_shared_mailbox(email: str) -> bool:
    """True for a normalised role address such as info@acme.com."""
    return is_shared_local_part(email.split("@", 1)[0])


def is_shared_local_part(local: str) -> bool:
    """True for the part before the "@" of a role address ("info", "customer.service")."""
    return local in SHARED_MAILBOXES or local.replace(".", "").replace("-", "") in SHARED_MAILBOXES


# --- phones ----------------------------------------------------------------------------------

_PHONE_PUNCTUATION = re.compile(r"[\s\-().\/]+")
_PHONE_EXTENSION = re.compile(r"\s*(?:ext\.?|extension|x|#)\s*\d+\s*$", re.IGNORECASE)
# Regions that share the +1 plan, so 10 digits there mean +1 followed by the digits.
_NANP_REGIONS: frozenset[str] = frozenset({"US", "CA", "PR", "GU", "VI", "AS", "MP"})
_PLACEHOLDER_PHONE_DIGITS: frozenset[str] = frozenset(
    {"1234567890", "0123456789", "9876543210", "1234567", "12345678", "123456789"}
)


def normalise_phone(value: str | None, region: str = "US") -> str:
    """E.164 ("+14155550123"), or "" when it is missing, a placeholder or not a number; a foreign
    number written in its national form without a country code keeps its bare digits.

    phonenumbers.parse costs ~30-50 µs, so plain digit strings take a fast path and only the
    rest (letters, unusual lengths, foreign formats) are parsed, with a cache in front.
    """
    if not value:
        return ""
    # Chained str.replace is ~5x faster than a regex here; the regex catches the rare rest.
    compact = value.replace(" ", "").replace("-", "").replace("(", "").replace(")", "").replace(".", "")
    # "+14155550123" is not alnum only because of its plus: the regex would find nothing to strip.
    if not compact.isalnum() and not (compact[:1] == "+" and compact[1:].isalnum()):
        compact = _PHONE_PUNCTUATION.sub("", compact)
    if not compact:
        return ""
    has_plus = compact[0] == "+"  # indexing is cheaper than a startswith call
    digits = compact[1:] if has_plus else compact
    if not has_plus and digits.startswith("00"):  # the international prefix written out
        has_plus, digits = True, digits[2:]
    if digits.isdigit() and digits.isascii():
        if _is_placeholder_phone(digits):
            return ""
        if has_plus:
            if 8 <= len(digits) <= 15 and digits[0] != "0":
                return "+" + digits
        elif region in _NANP_REGIONS:
            if len(digits) == 10 and digits[0] not in "01":
                return "+1" + digits
            if len(digits) == 11 and digits[0] == "1" and digits[1] not in "01":
                return "+" + digits
            if digits[0] == "0" and 8 <= len(digits) <= 12:
                # A foreign number in its national form ("06 05 56 83 53"): the country cannot
                # be known here, so keep the bare digits (no "+", so never mistaken for E.164).
                return digits
    return _parse_phone_slowly(value.strip(), region)


def _is_placeholder_phone(digits: str) -> bool:
    national = digits[-10:]
    # One digit repeated ("5555555555"), or none: stripping the first digit leaves nothing.
    # (Same answer as len(set(national)) <= 1 without building a set per number.)
    return not national.strip(national[:1]) or national in _PLACEHOLDER_PHONE_DIGITS or digits in _PLACEHOLDER_PHONE_DIGITS


@lru_cache(maxsize=65536)
def _parse_phone_slowly(value: str, region: str) -> str:
    value = _PHONE_EXTENSION.sub("", value)
    try:
        parsed = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return ""
    if not phonenumbers.is_possible_number(parsed):
        return ""
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return "" if _is_placeholder_phone(e164[1:]) else e164


# --- companies -------------------------------------------------------------------------------

# Legal forms add nothing to identity: "Acme, Inc." and "ACME Corporation" are one company.
COMPANY_LEGAL_SUFFIXES: frozenset[str] = frozenset(
    {"inc", "incorporated", "llc", "llp", "lp", "ltd", "limited", "gmbh", "corp", "corporation",
     "co", "company", "plc", "pty", "pte", "sa", "sas", "sarl", "srl", "ag", "bv", "nv", "oy", "ab",
     "as", "kg", "spa", "pc", "pllc", "lc", "cic", "group", "holdings"}
)
_PLACEHOLDER_COMPANIES: frozenset[str] = frozenset(
    {"self", "self employed", "selfemployed", "individual", "private", "personal", "home", "retired",
     "student", "unemployed", "freelance", "freelancer", "company", "business", "my company"}
)


def normalise_company(value: str | None) -> str:
    """Folded company name without its legal form ("The Smith & Sons Co., Ltd." → "smith and sons")."""
    if not value:
        return ""
    folded = fold(value.replace("&", " and ").replace("+", " and "))
    # "L.L.C." folds to "llc" thanks to the dot joiner; "l l c" still needs gluing.
    folded = folded.replace("l l c", "llc").replace("l l p", "llp")
    if is_placeholder(folded) or folded in _PLACEHOLDER_COMPANIES:
        return ""
    words = folded.split(" ")
    if words and words[0] == "the":
        words = words[1:]
    while len(words) > 1 and words[-1] in COMPANY_LEGAL_SUFFIXES:
        words.pop()
    return " ".join(words)


# --- addresses -------------------------------------------------------------------------------

STREET_ABBREVIATIONS: dict[str, str] = {
    "street": "st", "str": "st", "avenue": "ave", "av": "ave", "avn": "ave", "road": "rd",
    "drive": "dr", "drv": "dr", "lane": "ln", "boulevard": "blvd", "boul": "blvd", "court": "ct",
    "place": "pl", "plc": "pl", "circuit": "cct", "crescent": "cres", "cresent": "cres",
    "terrace": "tce", "terr": "tce", "parade": "pde", "highway": "hwy", "square": "sq",
    "parkway": "pkwy", "pky": "pkwy", "circle": "cir", "close": "cl", "way": "wy",
    "grove": "gr", "trail": "trl", "expressway": "expy", "freeway": "fwy", "mount": "mt",
    "point": "pt", "route": "rte", "center": "ctr", "centre": "ctr",
    "north": "n", "south": "s", "east": "e", "west": "w",
    "northeast": "ne", "northwest": "nw", "southeast": "se", "southwest": "sw",
}
_UNIT_WORDS: frozenset[str] = frozenset(
    {"apt", "apartment", "apmt", "apmnt", "appt", "suite", "ste", "unit", "flat", "fl", "floor",
     "room", "rm", "no", "number", "lot", "bldg", "building", "level", "lvl"}
)


def normalise_address(address1: str | None, address2: str | None = None) -> tuple[str, str, str]:
    """(house number, street line, unit) with standard abbreviations.

    "123 North Main Street, Apt #4B" → ("123", "123 n main st", "4b"). The street line keeps
    the house number so it reads well on a review screen; the number is also returned alone so
    two houses on one street can be told apart.
    """
    units: list[str] = []
    lines: list[str] = []
    house_number = ""
    for part in (address1, address2):
        if not part:
            continue
        line, found, head = address_part(part)
        house_number = house_number or head
        if found:
            units.extend(found)
        if line:
            lines.append(line)
    street = " ".join(lines)
    if not house_number and street:
        house_number = next((word for word in street.split(" ") if word[:1].isdigit()), "")
    return house_number, street, " ".join(units)


def address_part(part: str) -> tuple[str, tuple[str, ...], str]:
    """One non-empty address line → (street words, unit numbers found, leading house number or "")."""
    # A leading house number is split off so that the rest ("Main Street"), which many
    # customers share, is normalised once and then served from the cache.
    head, space, rest = part.strip().partition(" ")
    if space and head.isdigit() and head.isascii():
        line, found = _normalise_address_text(rest)
        return (f"{head} {line}" if line else head), found, head
    line, found = _normalise_address_text(part)
    return line, found, ""


@lru_cache(maxsize=1 << 17)
def _normalise_address_text(text: str) -> tuple[str, tuple[str, ...]]:
    """One address line → (street words, unit numbers found)."""
    if "/" in text and is_placeholder(fold(text)):  # "n/a"
        return "", ()
    # "#4" and "2/98" (Australian unit/number) become words the loop below understands.
    folded = fold(text.replace("#", " unit ").replace("/", " unitslash "))
    if is_placeholder(folded):
        return "", ()
    words = folded.split(" ")
    units: list[str] = []
    if _UNIT_WORDS.isdisjoint(words) and "unitslash" not in words:
        kept = [STREET_ABBREVIATIONS.get(word, word) for word in words]
    else:
        kept = _strip_units(words, units)
    return " ".join(kept), tuple(units)


def _strip_units(words: list[str], units: list[str]) -> list[str]:
    """The street words without unit markers; the unit numbers found are appended to `units`."""
    kept: list[str] = []
    index = 0
    while index < len(words):
        word = words[index]
        following = words[index + 1] if index + 1 < len(words) else ""
        if word == "unitslash":
            if kept and kept[-1].isdigit():  # "2/98 smith st": the number before the slash is the unit
                units.append(kept.pop())
            index += 1
        elif word in _UNIT_WORDS and following in _UNIT_WORDS:
            index += 1  # "apt #4" became "apt unit 4": one unit word is enough
        elif word in _UNIT_WORDS and any(c.isdigit() for c in following):
            units.append(following)
            index += 2
        else:
            kept.append(STREET_ABBREVIATIONS.get(word, word))
            index += 1
    return kept


_US_ZIP = re.compile(r"^(\d{5})-?\d{4}$")


def normalise_postcode(value: str | None) -> str:
    """Upper-case postcode without spaces; a US ZIP+4 becomes its five-digit ZIP."""
    if not value:
        return ""
    compact = value.strip().upper().replace(" ", "").replace("-", "")
    if not compact.isascii():
        compact = anyascii(compact).upper()
    match = _US_ZIP.match(compact)
    if match:
        return match.group(1)
    if not compact.isalnum() or set(compact) <= {"0"} or fold(compact) in PLACEHOLDER_WORDS:
        return ""
    return compact


US_STATES: dict[str, str] = {
    "alabama": "al", "alaska": "ak", "arizona": "az", "arkansas": "ar", "california": "ca",
    "colorado": "co", "connecticut": "ct", "delaware": "de", "florida": "fl", "georgia": "ga",
    "hawaii": "hi", "idaho": "id", "illinois": "il", "indiana": "in", "iowa": "ia", "kansas": "ks",
    "kentucky": "ky", "louisiana": "la", "maine": "me", "maryland": "md", "massachusetts": "ma",
    "michigan": "mi", "minnesota": "mn", "mississippi": "ms", "missouri": "mo", "montana": "mt",
    "nebraska": "ne", "nevada": "nv", "new hampshire": "nh", "new jersey": "nj",
    "new mexico": "nm", "new york": "ny", "north carolina": "nc", "north dakota": "nd",
    "ohio": "oh", "oklahoma": "ok", "oregon": "or", "pennsylvania": "pa", "rhode island": "ri",
    "south carolina": "sc", "south dakota": "sd", "tennessee": "tn", "texas": "tx", "utah": "ut",
    "vermont": "vt", "virginia": "va", "washington": "wa", "west virginia": "wv",
    "wisconsin": "wi", "wyoming": "wy", "district of columbia": "dc",
}


def normalise_state(value: str | None) -> str:
    folded = fold(value)
    if is_placeholder(folded):
        return ""
    return US_STATES.get(folded, folded)


_CITY_ABBREVIATIONS: dict[str, str] = {"saint": "st", "sainte": "ste", "mount": "mt", "fort": "ft"}


def normalise_city(value: str | None) -> str:
    folded = fold(value)
    if is_placeholder(folded):
        return ""
    return " ".join(_CITY_ABBREVIATIONS.get(word, word) for word in folded.split(" "))
