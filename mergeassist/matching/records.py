"""The plain values the engine works on: a customer record in, a configuration to tune it."""

from __future__ import annotations

from dataclasses import dataclass, field

# The customer fields are owned by the CRM's types (plain Python, no Django): the fields a record
# may carry, in the order of the scan_csv columns after `id`.
from mergeassist.crm.types import CORE_FIELDS as RECORD_FIELDS


@dataclass(slots=True)
class Record:
    """One customer as the CRM holds it. Every field is optional text; `id` is opaque."""

    id: str
    name_first: str | None = None
    name_last: str | None = None
    email: str | None = None
    phone: str | None = None
    company_name: str | None = None
    address1: str | None = None
    address2: str | None = None
    city: str | None = None
    state: str | None = None
    zip: str | None = None
    country: str | None = None


@dataclass(frozen=True, slots=True)
class FieldRule:
    """How one field's similarity (0-1) turns into points.

    At similarity 1 the field adds `weight` points; at `neutral` it adds nothing; at `floor` or
    below it takes away `weight * penalty_ratio`. Straight lines in between. A field missing on
    either side adds nothing: no evidence either way.
    """

    weight: float
    neutral: float
    floor: float
    penalty_ratio: float


# Defaults measured on FEBRL1/FEBRL2 and the synthetic customer sets: see docs/matching.md.
# Why the penalties differ: people change emails, phones and addresses, so a difference there is
# weak evidence against; a different first name is strong evidence of a different person.
DEFAULT_RULES: dict[str, FieldRule] = {
    "first_name": FieldRule(weight=54.0, neutral=0.85, floor=0.60, penalty_ratio=0.48),
    "last_name": FieldRule(weight=66.0, neutral=0.75, floor=0.60, penalty_ratio=0.27),
    "email": FieldRule(weight=288.0, neutral=0.98, floor=0.70, penalty_ratio=0.15),
    "phone": FieldRule(weight=96.0, neutral=0.90, floor=0.75, penalty_ratio=0.15),
    "company": FieldRule(weight=19.0, neutral=0.80, floor=0.50, penalty_ratio=0.25),
    "address": FieldRule(weight=94.0, neutral=0.55, floor=0.50, penalty_ratio=0.31),
    "city": FieldRule(weight=37.0, neutral=0.80, floor=0.60, penalty_ratio=0.4),
    "zip": FieldRule(weight=21.0, neutral=0.60, floor=0.50, penalty_ratio=0.8),
    "state": FieldRule(weight=5.0, neutral=0.90, floor=0.50, penalty_ratio=0.5),
    # Not a field: the points taken away when the first name and a personal identifier both
    # differ (a family member, a colleague). See scoring._different_person.
    "different_person": FieldRule(weight=237.0, neutral=1.0, floor=0.0, penalty_ratio=1.0),
    # Not a field: the points taken away when email, phone and address disagree (at least two
    # present on both sides, none agreeing). See scoring._contact_conflict.
    "contact_conflict": FieldRule(weight=80.0, neutral=1.0, floor=0.0, penalty_ratio=1.0),
    # Not a field: the points taken away when only the name agrees. Set so that a full name
    # alone (54 + 66) stays below the threshold. See scoring._name_only.
    "name_only": FieldRule(weight=65.0, neutral=1.0, floor=0.0, penalty_ratio=1.0),
    # Not a field: the points added when both records, neither with an email or a phone, match
    # one third record strongly. As much as one agreeing street address, less than
    # `different_person` takes. See engine.cluster_vouched.
    "cluster": FieldRule(weight=94.0, neutral=1.0, floor=0.0, penalty_ratio=1.0),
}
DEFAULT_WEIGHTS: dict[str, float] = {name: rule.weight for name, rule in DEFAULT_RULES.items()}
DEFAULT_THRESHOLD = 60.0


@dataclass(frozen=True, slots=True)
class MatchConfig:
    """Knobs for find_duplicates. Django passes MERGEASSIST_MATCH_THRESHOLD/_WEIGHTS in here.

    `weights` overrides the points a field adds at full agreement (its penalty scales with it);
    unknown field names are refused so a typo in settings cannot silently do nothing.
    `max_block_size`: a blocking key shared by more records than this is only windowed, so a
    common name cannot go quadratic. `report_floor`: pairs scoring below it are not reported.
    """

    threshold: float = DEFAULT_THRESHOLD
    weights: dict[str, float] | None = None
    phone_region: str = "US"
    max_block_size: int = 40
    window: int = 4
    report_floor: float = 40.0
    rules: dict[str, FieldRule] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        unknown = set(self.weights or {}) - set(DEFAULT_RULES)
        if unknown:
            raise ValueError(f"unknown match weight(s) {sorted(unknown)}; known: {sorted(DEFAULT_RULES)}")
        if not 0 <= self.threshold <= 100:
            raise ValueError(f"threshold must be between 0 and 100, not {self.threshold}")
        if self.max_block_size < 2 or self.window < 1:
            raise ValueError("max_block_size must be at least 2 and window at least 1")
        rules = {
            name: FieldRule(float((self.weights or {}).get(name, rule.weight)), rule.neutral, rule.floor, rule.penalty_ratio)
            for name, rule in DEFAULT_RULES.items()
        }
        object.__setattr__(self, "rules", rules)
