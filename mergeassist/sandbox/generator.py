"""Synthetic customers with known duplicates, for the sandbox CRM and the matching benchmark.

Pure Python (Faker + the standard library, no Django), so `seed_sandbox` and `bench/` share it.

Every record carries its ground truth: records with the same `entity` are the same real person,
and `variation` says how a record was made ("original", a duplicate kind such as "nickname", or a
look-alike kind such as "family_member", which is a *different* entity made to look similar).

Speed: Faker is called only to fill small pools once per process (a few seconds); records are then
assembled from the pools with `random.Random(seed)`, so 1M records take well under a minute and the
same seed always gives the same records.
"""

from __future__ import annotations

import bisect
import gc
import itertools
import random
import re
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TypeVar

T = TypeVar("T")

CORE_FIELDS = (
    "name_first",
    "name_last",
    "email",
    "phone",
    "company_name",
    "address1",
    "address2",
    "city",
    "state",
    "zip",
    "country",
)


@dataclass(slots=True)
class SyntheticCustomer:
    id: str
    entity: str
    variation: str
    name_first: str | None
    name_last: str | None
    email: str | None
    phone: str | None
    company_name: str | None
    address1: str | None
    address2: str | None
    city: str | None
    state: str | None
    zip: str | None
    country: str | None


# Variations. "original" is the first record of an entity; duplicates are further records of it;
# look-alikes are first records of *new* entities that resemble another one.
ORIGINAL = "original"
DUPLICATE_KINDS = (
    "exact_copy",
    "typo",
    "nickname",
    "swapped_names",
    "email_variant",
    "phone_format",
    "company_suffix",
    "moved",
    "missing_fields",
    "accents_stripped",
    "case_whitespace",
)
LOOKALIKE_KINDS = ("same_name", "family_member", "shared_mailbox", "placeholder_junk")

# Curated rather than taken from the `nicknames` package: the ground truth must be crisp.
NICKNAMES: dict[str, tuple[str, ...]] = {
    "Robert": ("Bob", "Rob", "Bobby", "Robbie"),
    "William": ("Bill", "Will", "Billy", "Liam"),
    "Elizabeth": ("Liz", "Beth", "Betty", "Eliza", "Lizzie"),
    "Katherine": ("Kate", "Kathy", "Katie"),
    "Catherine": ("Cathy", "Cate", "Kate"),
    "Kathryn": ("Kate", "Kathy"),
    "James": ("Jim", "Jimmy", "Jamie"),
    "John": ("Jack", "Johnny"),
    "Michael": ("Mike", "Mikey"),
    "Richard": ("Rick", "Dick", "Rich", "Ricky"),
    "Thomas": ("Tom", "Tommy"),
    "Joseph": ("Joe", "Joey"),
    "Charles": ("Charlie", "Chuck"),
    "Christopher": ("Chris",),
    "Daniel": ("Dan", "Danny"),
    "Matthew": ("Matt",),
    "Anthony": ("Tony",),
    "Steven": ("Steve",),
    "Stephen": ("Steve",),
    "Andrew": ("Andy", "Drew"),
    "Joshua": ("Josh",),
    "Nicholas": ("Nick",),
    "Jonathan": ("Jon",),
    "Benjamin": ("Ben",),
    "Samuel": ("Sam",),
    "Alexander": ("Alex",),
    "Edward": ("Ed", "Ted", "Eddie"),
    "Timothy": ("Tim",),
    "Patrick": ("Pat",),
    "Gregory": ("Greg",),
    "Jennifer": ("Jen", "Jenny"),
    "Margaret": ("Maggie", "Peggy", "Meg"),
    "Patricia": ("Pat", "Patty", "Trish"),
    "Susan": ("Sue", "Suzy"),
    "Jessica": ("Jess",),
    "Rebecca": ("Becky",),
    "Deborah": ("Debbie", "Deb"),
    "Christine": ("Chris", "Tina"),
    "Kimberly": ("Kim",),
    "Samantha": ("Sam",),
    "Victoria": ("Vicky", "Tori"),
    "Alexandra": ("Alex", "Sasha"),
    "Jacqueline": ("Jackie",),
    "Pamela": ("Pam",),
    "Abigail": ("Abby",),
}

# Share of records that come from each locale; the rest of the world shows up with accents.
LOCALE_WEIGHTS = {"en_US": 0.84, "fr_FR": 0.05, "de_DE": 0.05, "es_ES": 0.03, "pt_BR": 0.03}
COUNTRY_SPELLINGS = {
    "en_US": ("US", "US", "US", "USA", "United States"),
    "fr_FR": ("FR", "France"),
    "de_DE": ("DE", "Germany", "Deutschland"),
    "es_ES": ("ES", "Spain", "España"),
    "pt_BR": ("BR", "Brazil", "Brasil"),
}
CALLING_CODES = {"en_US": "1", "fr_FR": "33", "de_DE": "49", "es_ES": "34", "pt_BR": "55"}
FREE_MAIL_DOMAINS = (
    ("gmail.com", 0.38),
    ("yahoo.com", 0.14),
    ("hotmail.com", 0.10),
    ("outlook.com", 0.09),
    ("aol.com", 0.05),
    ("icloud.com", 0.07),
    ("comcast.net", 0.04),
    ("proton.me", 0.03),
    ("msn.com", 0.03),
    ("live.com", 0.07),
)
_EMAIL_LOCAL_PATTERNS = ("{f}.{l}", "{f}{l}", "{i}{l}", "{f}_{l}", "{f}{j}", "{l}.{f}", "{f}")
SHARED_MAILBOXES = ("info", "office", "sales", "contact", "accounts", "hello")
JUNK_PHONES = ("n/a", "N/A", "000-000-0000", "none", "1234567890", "-", "(000) 000-0000")
JUNK_EMAILS = ("test@test.com", "none@none.com", "noemail@noemail.com", "na@na.com", "test@example.com")
UNIT_PREFIXES = ("Apt", "Apt.", "Unit", "Suite", "#", "Ste")
EMAIL_TAGS = ("shop", "news", "orders", "promo", "2024", "sub")

POOL_DRAWS = 4000  # Faker draws per pool: kept with repeats, so sampling keeps Faker's frequencies
_POOL_SEED = 20240611  # pools are fixed; the caller's seed picks from them


@dataclass(slots=True, frozen=True)
class _LocalePool:
    locale: str
    first_names: tuple[str, ...]
    last_names: tuple[str, ...]
    streets: tuple[str, ...]
    places: tuple[tuple[str, str | None, str], ...]  # (city, state, zip)
    companies: tuple[str, ...]


@lru_cache(maxsize=1)
def _locale_pools() -> dict[str, _LocalePool]:
    """Ask Faker once per process; everything after this is plain `random` sampling."""
    from faker import Faker

    pools: dict[str, _LocalePool] = {}
    for locale in LOCALE_WEIGHTS:
        fake = Faker(locale)
        fake.seed_instance(_POOL_SEED)
        draws = POOL_DRAWS if locale == "en_US" else POOL_DRAWS // 4
        first_names = [fake.first_name() for _ in range(draws)]
        if locale == "en_US":
            # Formal names with nicknames are common in the US; make sure each shows up.
            first_names += list(NICKNAMES) * 8
        pools[locale] = _LocalePool(
            locale=locale,
            first_names=tuple(first_names),
            last_names=tuple(fake.last_name() for _ in range(draws)),
            streets=tuple(fake.street_name() for _ in range(draws // 2)),
            places=tuple(_fake_place(fake, locale) for _ in range(draws // 2)),
            companies=tuple(fake.company() for _ in range(draws // 2)),
        )
    return pools


def _fake_place(fake, locale: str) -> tuple[str, str | None, str]:
    if locale == "en_US":
        state = fake.state_abbr(include_territories=False)
        return fake.city(), state, fake.zipcode_in_state(state)
    return fake.city(), None, fake.postcode()


# ---------------------------------------------------------------------------------------------
# Small text helpers


_NOT_DECOMPOSABLE = str.maketrans({"ß": "ss", "ø": "o", "Ø": "O", "æ": "ae", "œ": "oe", "ł": "l"})


def _ascii_fold(text: str) -> str:
    """'Hélène Groß' -> 'Helene Gross' (NFKD alone would drop ß, ø, æ)."""
    if text.isascii():
        return text
    text = text.translate(_NOT_DECOMPOSABLE)
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


@lru_cache(maxsize=65536)  # names come from the pools, so the cache sees each one often
def _mailbox(email: str) -> str:
    """The mailbox an address delivers to: gmail ignores dots, so "jo.ann@" and "joann@" are one
    (and one person's, which is why `_make_email_variant` may write either for a duplicate)."""
    local, _, domain = email.lower().rpartition("@")
    return f"{local.replace('.', '')}@{domain}" if domain == "gmail.com" else email.lower()


def _email_token(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", _ascii_fold(text).lower())


def _company_domain(company: str) -> str:
    words = [w for w in re.split(r"[\s,&\-]+", _ascii_fold(company).lower()) if w]
    words = [w for w in words if w not in {"and", "inc", "llc", "ltd", "plc", "group", "sons"}] or words
    return re.sub(r"[^a-z0-9]", "", "".join(words[:2])) + ".com"


def _one_char_typo(rng: random.Random, text: str) -> str:
    """One insert, delete, substitute or adjacent swap: the slips people make typing a form."""
    if len(text) < 3:
        return text + rng.choice("aeinrst")
    i = rng.randrange(1, len(text) - 1)  # keep the first letter: people rarely mistype it
    op = rng.randrange(4)
    if op == 0:
        return text[:i] + rng.choice("aeiounrstl") + text[i:]
    if op == 1:
        return text[:i] + text[i + 1 :]
    if op == 2:
        replacement = rng.choice([c for c in "aeiounrstlm" if c != text[i].lower()])
        return text[:i] + replacement + text[i + 1 :]
    return text[: i - 1] + text[i] + text[i - 1] + text[i + 1 :]


# ---------------------------------------------------------------------------------------------
# Phones: stored as people type them; variants keep the same digits in another layout.

_US_LAYOUTS = (
    ("({a}) {e}-{n}", 0.40),
    ("{a}-{e}-{n}", 0.25),
    ("{a}.{e}.{n}", 0.08),
    ("+1 {a} {e} {n}", 0.07),
    ("{a}{e}{n}", 0.12),
    ("+1 ({a}) {e}-{n}", 0.04),
    ("1-{a}-{e}-{n}", 0.04),
)


_US_LAYOUT_TEXTS = tuple(layout for layout, _ in _US_LAYOUTS)
_US_LAYOUT_CUM_WEIGHTS = tuple(itertools.accumulate(w for _, w in _US_LAYOUTS))


def _us_phone_digits(rng: random.Random) -> str:
    # NANP: area code and exchange never start with 0 or 1. (int(random() * n) is the fast randrange.)
    area = 200 + int(rng.random() * 800)
    exchange = 200 + int(rng.random() * 800)
    line = int(rng.random() * 10000)
    return f"{area}{exchange}{line:04d}"


def _format_us_phone(rng: random.Random, digits: str, avoid: str | None = None) -> str:
    while True:
        layout = _weighted_pick(rng, _US_LAYOUT_TEXTS, _US_LAYOUT_CUM_WEIGHTS)
        phone = layout.format(a=digits[:3], e=digits[3:6], n=digits[6:])
        if phone != avoid:
            return phone


def _format_intl_phone(rng: random.Random, calling_code: str, national: str, avoid: str | None = None) -> str:
    pairs = " ".join(national[i : i + 2] for i in range(1, len(national), 2))
    layouts = (
        f"+{calling_code} {national[0]} {pairs}",
        f"+{calling_code}{national}",
        f"0{national}",
        f"0{national[0]} {pairs}",
        f"00{calling_code} {national}",
    )
    while True:
        phone = rng.choice(layouts)
        if phone != avoid:
            return phone


def _reformat_phone(rng: random.Random, phone: str) -> str | None:
    """Same number, different layout; None when the phone holds no real number."""
    digits = re.sub(r"\D", "", phone)
    if phone.startswith("00"):
        digits = digits[2:]
    if phone.startswith("+") or phone.startswith("00"):
        for code in CALLING_CODES.values():
            if code != "1" and digits.startswith(code):
                return _format_intl_phone(rng, code, digits[len(code) :], avoid=phone)
    if phone.startswith("0") and len(digits) >= 9:
        return None  # national layout of a foreign number: the country is unknown from it
    if len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]
    if len(digits) != 10 or len(set(digits)) < 3:
        return None
    return _format_us_phone(rng, digits, avoid=phone)


# ---------------------------------------------------------------------------------------------
# Building records


class _Generator:
    """Holds the seeded RNG and the running state (emails in use, entity counter, originals)."""

    def __init__(self, seed: int, duplicate_rate: float) -> None:
        if not 0.0 <= duplicate_rate < 1.0:
            raise ValueError(f"duplicate_rate must be in [0, 1), got {duplicate_rate}")
        self.rng = random.Random(seed)
        self.pools = _locale_pools()
        self.locales = list(LOCALE_WEIGHTS)
        self.locale_cum_weights = list(_cumulative(LOCALE_WEIGHTS.values()))
        self.mail_domains = [d for d, _ in FREE_MAIL_DOMAINS]
        self.mail_cum_weights = list(_cumulative(w for _, w in FREE_MAIL_DOMAINS))
        self.emails_in_use: set[str] = set()
        self.entity_count = 0
        self.originals: list[SyntheticCustomer] = []
        # Each entity gets duplicates with probability p; group sizes 1..4 average ~1.4 records.
        # So the expected share of duplicate records equals duplicate_rate (capped when p > 1).
        self.group_sizes = (1, 2, 3, 4)
        self.group_size_weights = (0.72, 0.18, 0.07, 0.03)
        mean_group = sum(s * w for s, w in zip(self.group_sizes, self.group_size_weights))
        self.p_has_duplicates = min(1.0, duplicate_rate / (1.0 - duplicate_rate) / mean_group)

    # -- sampling (int(random() * n) is several times faster than randrange on hot paths) ----

    def below(self, n: int) -> int:
        return int(self.rng.random() * n)

    def pick(self, items: Sequence[T]) -> T:
        return items[int(self.rng.random() * len(items))]

    # -- entities ---------------------------------------------------------------------------

    def new_entity_id(self) -> str:
        self.entity_count += 1
        return f"e{self.entity_count}"

    def pick_locale(self) -> _LocalePool:
        return self.pools[_weighted_pick(self.rng, self.locales, self.locale_cum_weights)]

    def person(
        self, variation: str = ORIGINAL, pool: _LocalePool | None = None, **given: str | None
    ) -> SyntheticCustomer:
        """A fresh entity: every field drawn anew unless given."""
        rng = self.rng
        pool = pool or self.pick_locale()
        first = given.pop("name_first", None) or self.pick(pool.first_names)
        last = given.pop("name_last", None) or self.pick(pool.last_names)
        company = self.pick(pool.companies) if rng.random() < 0.22 else None
        city, state, zip_code = self.pick(pool.places)
        fields: dict[str, str | None] = {
            "name_first": first,
            "name_last": last,
            "email": self.personal_email(first, last, company) if rng.random() < 0.97 else None,
            "phone": self.phone(pool) if rng.random() < 0.90 else None,
            "company_name": company,
            "address1": self.street_address(pool) if rng.random() < 0.95 else None,
            "address2": self.unit() if rng.random() < 0.15 else None,
            "city": city,
            "state": state,
            "zip": zip_code,
            "country": self.pick(COUNTRY_SPELLINGS[pool.locale]) if rng.random() < 0.85 else None,
        }
        fields.update(given)
        return SyntheticCustomer(id="", entity=self.new_entity_id(), variation=variation, **fields)

    def personal_email(self, first: str, last: str, company: str | None) -> str:
        rng = self.rng
        f, l = _email_token(first) or "x", _email_token(last) or "x"
        local = self.pick(_EMAIL_LOCAL_PATTERNS).format(f=f, l=l, i=f[0], j=l[0])
        if rng.random() < 0.3:
            local += str(1 + self.below(99))
        if company and rng.random() < 0.5:
            domain = _company_domain(company)
        else:
            domain = _weighted_pick(rng, self.mail_domains, self.mail_cum_weights)
        return self.unique_email(local, domain)

    def unique_email(self, local: str, domain: str) -> str:
        # Mail providers never hand one mailbox to two people; numbers are what people add.
        email = f"{local}@{domain}"
        while _mailbox(email) in self.emails_in_use:
            email = f"{local}{1 + self.below(9999)}@{domain}"
        self.emails_in_use.add(_mailbox(email))
        return email

    def phone(self, pool: _LocalePool) -> str:
        if pool.locale == "en_US":
            return _format_us_phone(self.rng, _us_phone_digits(self.rng))
        national = f"{1 + self.below(9)}{self.below(100_000_000):08d}"
        return _format_intl_phone(self.rng, CALLING_CODES[pool.locale], national)

    def street_address(self, pool: _LocalePool) -> str:
        number = 1 + self.below(9999) if self.rng.random() < 0.7 else 1 + self.below(199)
        if pool.locale == "en_US":
            return f"{number} {self.pick(pool.streets)}"
        return f"{self.pick(pool.streets)} {number}"

    def unit(self) -> str:
        return f"{self.pick(UNIT_PREFIXES)} {1 + self.below(40)}{self.pick(('', '', 'A', 'B', 'C'))}"

    # -- look-alikes: different entities that resemble each other ---------------------------

    def lookalike_group(self) -> list[SyntheticCustomer]:
        """Usually one plain original; sometimes a small group of different people who look alike."""
        roll = self.rng.random()
        if roll < 0.03 and self.originals:
            return [self.same_name_as(self.pick(self.originals))]
        if roll < 0.055:
            return self.family()
        if roll < 0.07:
            return self.colleagues()
        if roll < 0.095:
            return [self.junk_person()]
        return [self.person()]

    def same_name_as(self, other: SyntheticCustomer) -> SyntheticCustomer:
        return self.person("same_name", name_first=other.name_first, name_last=other.name_last)

    def family(self) -> list[SyntheticCustomer]:
        head = self.person(pool=self.pools["en_US"])
        head.address1 = head.address1 or self.street_address(self.pools["en_US"])
        members = [head]
        for _ in range(self.pick((1, 1, 2))):
            first = self.different_first_name(self.pools["en_US"], avoid={m.name_first for m in members})
            member = self.person(
                "family_member", pool=self.pools["en_US"], name_first=first, name_last=head.name_last
            )
            for field in ("address1", "address2", "city", "state", "zip", "country"):
                setattr(member, field, getattr(head, field))
            if self.rng.random() < 0.5:
                member.phone = head.phone  # the household landline
            members.append(member)
        return members

    def colleagues(self) -> list[SyntheticCustomer]:
        pool = self.pools["en_US"]
        company = self.pick(pool.companies)
        mailbox = f"{self.pick(SHARED_MAILBOXES)}@{_company_domain(company)}"
        office = self.person(pool=pool, company_name=company)
        office.email = mailbox
        office.address1 = office.address1 or self.street_address(pool)
        main_line = office.phone
        staff = [office]
        for _ in range(self.pick((1, 1, 2))):
            colleague = self.person("shared_mailbox", pool=pool, company_name=company, email=mailbox)
            for field in ("address1", "address2", "city", "state", "zip", "country"):
                setattr(colleague, field, getattr(office, field))
            if main_line and self.rng.random() < 0.6:
                colleague.phone = main_line
            staff.append(colleague)
        return staff

    def junk_person(self) -> SyntheticCustomer:
        junk = self.person("placeholder_junk")
        if self.rng.random() < 0.6:
            junk.phone = self.pick(JUNK_PHONES)
        else:
            junk.email = self.pick(JUNK_EMAILS)
        return junk

    def different_first_name(self, pool: _LocalePool, avoid: set[str | None]) -> str:
        while True:
            name = self.pick(pool.first_names)
            if name not in avoid:
                return name

    # -- duplicates: more records of the same entity ----------------------------------------

    def duplicates_of(self, original: SyntheticCustomer) -> list[SyntheticCustomer]:
        if self.rng.random() >= self.p_has_duplicates:
            return []
        size = self.rng.choices(self.group_sizes, self.group_size_weights)[0]
        return [self.duplicate_of(original) for _ in range(size)]

    def duplicate_of(self, original: SyntheticCustomer) -> SyntheticCustomer:
        rng = self.rng
        dup = _copy(original)
        kinds = [self.pick_duplicate_kind(dup)]
        if rng.random() < 0.25:  # real duplicates often differ in two ways at once
            second = self.pick_duplicate_kind(dup)
            if second not in kinds and second != "exact_copy" and kinds[0] != "exact_copy":
                kinds.append(second)
        applied = [kind for kind in kinds if _DUPLICATE_MAKERS[kind](self, dup)]
        dup.variation = "+".join(applied) or "exact_copy"
        return dup

    def pick_duplicate_kind(self, record: SyntheticCustomer) -> str:
        while True:
            kind = self.rng.choices(DUPLICATE_KINDS, _DUPLICATE_WEIGHTS)[0]
            if _DUPLICATE_APPLIES[kind](record):
                return kind

    # -- the whole run ------------------------------------------------------------------------

    def generate(self, count: int) -> list[SyntheticCustomer]:
        records: list[SyntheticCustomer] = []
        while len(records) < count:
            for entity_first in self.lookalike_group():
                self.originals.append(entity_first)
                records.append(entity_first)
                records.extend(self.duplicates_of(entity_first))
        del records[count:]
        # Shuffle so ids carry no hint of who duplicates whom.
        self.rng.shuffle(records)
        for number, record in enumerate(records, start=1):
            record.id = str(number)
        return records


def _weighted_pick(rng: random.Random, items: Sequence[T], cum_weights: Sequence[float]) -> T:
    # What rng.choices(items, cum_weights=...)[0] does, without building a list per call.
    return items[bisect.bisect(cum_weights, rng.random() * cum_weights[-1])]


def _cumulative(weights: Iterable[float]) -> Iterable[float]:
    total = 0.0
    for w in weights:
        total += w
        yield total


def _copy(record: SyntheticCustomer) -> SyntheticCustomer:
    return SyntheticCustomer(*(getattr(record, f) for f in SyntheticCustomer.__slots__))


# Each maker changes the copy in place and says whether it could.


def _make_exact_copy(gen: _Generator, dup: SyntheticCustomer) -> bool:
    return True


def _make_typo(gen: _Generator, dup: SyntheticCustomer) -> bool:
    rng = gen.rng
    field = rng.choices(("name_first", "name_last", "address1", "email"), (0.35, 0.35, 0.15, 0.15))[0]
    value = getattr(dup, field)
    if not value:
        field, value = "name_last", dup.name_last
    if not value:
        return False
    if field == "email":
        local, _, domain = value.partition("@")
        dup.email = f"{_one_char_typo(rng, local)}@{domain}"
    else:
        setattr(dup, field, _one_char_typo(rng, value))
    return True


def _make_nickname(gen: _Generator, dup: SyntheticCustomer) -> bool:
    nicknames = NICKNAMES.get(dup.name_first or "")
    if not nicknames:
        return False
    dup.name_first = gen.rng.choice(nicknames)
    return True


def _make_swapped_names(gen: _Generator, dup: SyntheticCustomer) -> bool:
    dup.name_first, dup.name_last = dup.name_last, dup.name_first
    return True


def _make_email_variant(gen: _Generator, dup: SyntheticCustomer) -> bool:
    if not dup.email or "@" not in dup.email:
        return False
    rng = gen.rng
    local, _, domain = dup.email.partition("@")
    choices = ["case", "plus_tag", "other_domain", "from_name"]
    if domain == "gmail.com":
        choices.append("gmail_dots")
    choice = rng.choice(choices)
    if choice == "case":
        dup.email = f"{local.capitalize()}@{domain.capitalize()}" if rng.random() < 0.5 else dup.email.upper()
    elif choice == "plus_tag":
        dup.email = f"{local}+{rng.choice(EMAIL_TAGS)}@{domain}"
    elif choice == "gmail_dots":
        plain = local.replace(".", "")
        cut = rng.randrange(1, len(plain)) if len(plain) > 1 else 1
        dup.email = f"{plain}@{domain}" if "." in local else f"{plain[:cut]}.{plain[cut:]}@{domain}"
    elif choice == "other_domain":
        other = rng.choice([d for d in gen.mail_domains if d != domain])
        dup.email = gen.unique_email(local, other)
    else:  # the same person's other address, built from the name
        dup.email = gen.personal_email(dup.name_first or "x", dup.name_last or "x", None)
    return True


def _make_phone_format(gen: _Generator, dup: SyntheticCustomer) -> bool:
    reformatted = _reformat_phone(gen.rng, dup.phone) if dup.phone else None
    if not reformatted:
        return False
    dup.phone = reformatted
    return True


_COMPANY_SUFFIX_SWAPS = (
    (" and ", " & "),
    (" & ", " and "),
    (" Inc", " Inc."),
    (" Inc", ", Inc."),
    (" Inc", " Incorporated"),
    (" LLC", " L.L.C."),
    (" LLC", ", LLC"),
    (" Ltd", " Limited"),
    (" Ltd", " Ltd."),
    (" PLC", " plc"),
    (" Group", ""),
    (" LLC", ""),
    (" Inc", ""),
)


def _make_company_suffix(gen: _Generator, dup: SyntheticCustomer) -> bool:
    if not dup.company_name:
        return False
    company = dup.company_name
    swaps = [(old, new) for old, new in _COMPANY_SUFFIX_SWAPS if old in company]
    if swaps:
        old, new = gen.rng.choice(swaps)
        dup.company_name = company.replace(old, new, 1)
    else:
        dup.company_name = f"{company} {gen.rng.choice(('Inc.', 'LLC', 'Co.'))}"
    return True


def _make_moved(gen: _Generator, dup: SyntheticCustomer) -> bool:
    # Moved house: new street and usually a new city; name and email stay, the phone may not.
    pool = gen.pools["en_US"] if dup.state else gen.pick_locale()
    dup.address1 = gen.street_address(pool)
    dup.address2 = gen.unit() if gen.rng.random() < 0.15 else None
    if gen.rng.random() < 0.8:
        dup.city, dup.state, dup.zip = gen.rng.choice(pool.places)
    if dup.phone and gen.rng.random() < 0.3:
        dup.phone = gen.phone(pool)
    return True


_OPTIONAL_FIELDS = CORE_FIELDS[2:]  # all but the names


def _make_missing_fields(gen: _Generator, dup: SyntheticCustomer) -> bool:
    present = [f for f in _OPTIONAL_FIELDS if getattr(dup, f)]
    if len(present) < 3:
        return False
    dropped = gen.rng.sample(present, gen.rng.randint(2, min(4, len(present) - 1)))
    if "email" in dropped and "phone" in dropped:
        dropped.remove("email")  # a record with a name only is not a customer anyone keeps
    for field in dropped:
        # CRMs hold both: None from the API, "" from a cleared form field.
        setattr(dup, field, "" if gen.rng.random() < 0.3 else None)
    return True


def _make_accents_stripped(gen: _Generator, dup: SyntheticCustomer) -> bool:
    changed = False
    for field in ("name_first", "name_last", "address1", "city"):
        value = getattr(dup, field)
        if value and not value.isascii():
            setattr(dup, field, _ascii_fold(value))
            changed = True
    return changed


def _make_case_whitespace(gen: _Generator, dup: SyntheticCustomer) -> bool:
    rng = gen.rng
    style = rng.randrange(3)
    for field in ("name_first", "name_last", "address1", "city"):
        value = getattr(dup, field)
        if not value:
            continue
        if style == 0:
            value = value.upper()
        elif style == 1:
            value = value.lower()
        else:
            value = f" {value}  " if rng.random() < 0.5 else value.replace(" ", "  ")
        setattr(dup, field, value)
    return True


def _has_non_ascii(record: SyntheticCustomer) -> bool:
    values = (record.name_first, record.name_last, record.address1, record.city)
    return any(v and not v.isascii() for v in values)


_DUPLICATE_MAKERS: dict[str, Callable[[_Generator, SyntheticCustomer], bool]] = {
    "exact_copy": _make_exact_copy,
    "typo": _make_typo,
    "nickname": _make_nickname,
    "swapped_names": _make_swapped_names,
    "email_variant": _make_email_variant,
    "phone_format": _make_phone_format,
    "company_suffix": _make_company_suffix,
    "moved": _make_moved,
    "missing_fields": _make_missing_fields,
    "accents_stripped": _make_accents_stripped,
    "case_whitespace": _make_case_whitespace,
}
# A kind is only drawn when the record can show it (no nickname for "Tyler").
_DUPLICATE_APPLIES: dict[str, Callable[[SyntheticCustomer], bool]] = {
    "exact_copy": lambda r: True,
    "typo": lambda r: bool(r.name_last),
    "nickname": lambda r: (r.name_first or "") in NICKNAMES,
    "swapped_names": lambda r: bool(r.name_first and r.name_last),
    "email_variant": lambda r: bool(r.email),
    "phone_format": lambda r: bool(r.phone) and any(c.isdigit() for c in r.phone or ""),
    "company_suffix": lambda r: bool(r.company_name),
    "moved": lambda r: True,
    "missing_fields": lambda r: True,
    "accents_stripped": _has_non_ascii,
    "case_whitespace": lambda r: True,
}
_DUPLICATE_WEIGHTS = (0.03, 0.20, 0.30, 0.05, 0.14, 0.12, 0.15, 0.08, 0.10, 0.30, 0.04)


# ---------------------------------------------------------------------------------------------
# Public API


def generate_customers(count: int, *, seed: int = 0, duplicate_rate: float = 0.25) -> list[SyntheticCustomer]:
    """`count` customers; about `duplicate_rate` of them are extra records of an earlier entity.

    The same (count, seed, duplicate_rate) gives the same records, ids "1".."count" in shuffled
    order. Look-alikes (same name, family, shared mailbox, placeholder junk) are separate entities.
    """
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    # The records hold no reference cycles; without this the collector rescans the growing list
    # again and again and a 1M run takes about twice as long.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _Generator(seed, duplicate_rate).generate(count)
    finally:
        if gc_was_enabled:
            gc.enable()


def true_pairs(customers: Iterable[SyntheticCustomer]) -> set[tuple[str, str]]:
    """Every pair of records of the same entity, as (id_a, id_b) with int(id_a) < int(id_b)."""
    ids_by_entity: dict[str, list[int]] = defaultdict(list)
    for customer in customers:
        ids_by_entity[customer.entity].append(int(customer.id))
    pairs: set[tuple[str, str]] = set()
    for ids in ids_by_entity.values():
        if len(ids) < 2:
            continue
        ids.sort()
        for i, id_a in enumerate(ids):
            for id_b in ids[i + 1 :]:
                pairs.add((str(id_a), str(id_b)))
    return pairs
