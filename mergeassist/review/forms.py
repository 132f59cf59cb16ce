"""Forms that check what reviewers send to the review screens (bad input -> 400 with a reason)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from django import forms
from django.http import QueryDict

from mergeassist.crm.ids import parse_crm_id
from mergeassist.review.reasons import REASON_LABELS

MAX_TERM_LENGTH = 100
PER_PAGE_CHOICES = [(n, str(n)) for n in (25, 50, 100)]
MAX_PER_PAGE = 100

# Score bands as the engine scores pairs (0-100); "" is every score.
SCORE_BANDS: dict[str, tuple[float, float | None]] = {
    "90": (90.0, None),
    "75": (75.0, 90.0),
    "0": (0.0, 75.0),
}
SCORE_BAND_CHOICES = [("", "Any score"), ("90", "90 and over"), ("75", "75 to 90"), ("0", "Under 75")]
REASON_CHOICES = [("", "Any reason"), *((flag, label.capitalize()) for flag, label in REASON_LABELS.items())]
SUBSCRIPTION_CHOICES = [("", "Either"), ("yes", "Has an active subscription"), ("no", "No active subscription")]

# The conflict choices arrive as radio groups named "choice:<field>".
CHOICE_PREFIX = "choice:"
MAX_FIELD_NAME_LENGTH = 100


@dataclass(frozen=True)
class QueuePosition:
    """Where a reviewer is in the queue.

    Pairs the reviewer has not skipped come first, strongest first (score, then id); skipped pairs
    come after them in the order they were skipped (`skipped_at`, then id).
    """

    pair_id: int
    score: float
    skipped_at: datetime | None = None

    @property
    def skipped(self) -> bool:
        return self.skipped_at is not None

    def as_cursor(self) -> str:
        if self.skipped_at is not None:
            return f"s:{self.skipped_at.isoformat()}:{self.pair_id}"
        return f"p:{self.score!r}:{self.pair_id}"

    @classmethod
    def from_cursor(cls, value: str) -> QueuePosition:
        """Raises ValueError for anything as_cursor() did not make."""
        kind, _, rest = value.partition(":")
        key, _, pair_id = rest.rpartition(":")
        if kind == "p":
            score = float(key)
            if score != score or score in (float("inf"), float("-inf")):
                raise ValueError(value)
            return cls(pair_id=int(pair_id), score=score)
        if kind == "s":
            skipped_at = datetime.fromisoformat(key)
            if skipped_at.tzinfo is None:
                raise ValueError(value)
            return cls(pair_id=int(pair_id), score=0.0, skipped_at=skipped_at)
        raise ValueError(value)


@dataclass(frozen=True)
class QueueQuery:
    """A checked queue request: filters, search, and the page (a cursor, not an offset)."""

    band: str = ""
    reason: str = ""
    subscription: str = ""
    search: str = ""
    after: QueuePosition | None = None
    per_page: int = 25

    @property
    def is_filtered(self) -> bool:
        return bool(self.band or self.reason or self.subscription or self.search)

    def params(self) -> dict[str, str]:
        """The filters as URL parameters (no cursor), carried from the queue to the pair screen."""
        values = {"band": self.band, "reason": self.reason, "subscription": self.subscription, "q": self.search}
        if self.per_page != QueueForm.base_fields["per_page"].initial:
            values["per_page"] = str(self.per_page)
        return {key: value for key, value in values.items() if value}


class QueueForm(forms.Form):
    q = forms.CharField(
        required=False,
        max_length=MAX_TERM_LENGTH,
        label="Search",
        widget=forms.TextInput(
            attrs={"type": "search", "placeholder": "Name, email or CRM id", "autocomplete": "off"}
        ),
    )
    band = forms.ChoiceField(required=False, choices=SCORE_BAND_CHOICES, label="Score")
    reason = forms.ChoiceField(required=False, choices=REASON_CHOICES, label="Reason")
    subscription = forms.ChoiceField(required=False, choices=SUBSCRIPTION_CHOICES, label="Active subscription")
    after = forms.CharField(required=False, max_length=80, widget=forms.HiddenInput)
    per_page = forms.TypedChoiceField(
        required=False, coerce=int, choices=PER_PAGE_CHOICES, initial=25, empty_value=25, label="Per page"
    )

    @classmethod
    def from_query(cls, query: QueryDict | Mapping[str, str]) -> QueueForm:
        return cls({name: query.get(name, "") for name in cls.base_fields})

    def clean_q(self) -> str:
        return " ".join(self.cleaned_data["q"].split())

    def clean_after(self) -> QueuePosition | None:
        value = self.cleaned_data["after"]
        if not value:
            return None
        try:
            return QueuePosition.from_cursor(value)
        except ValueError:
            raise forms.ValidationError("This is not a position in the queue; start from the first page.")

    def to_query(self) -> QueueQuery:
        data = self.cleaned_data
        return QueueQuery(
            band=data["band"],
            reason=data["reason"],
            subscription=data["subscription"],
            search=data["q"],
            after=data["after"],
            per_page=data["per_page"] or 25,
        )

    def error_summary(self) -> list[str]:
        return [
            f"{self.fields[name].label or 'Page'}: {message}"
            for name, messages in self.errors.items()
            for message in messages
        ]


class PairViewForm(forms.Form):
    """The pair screen's GET parameters: which customer is primary, and whether to load the preview."""

    primary = forms.CharField(required=False, max_length=64)
    preview = forms.BooleanField(required=False)

    def clean_primary(self) -> str | None:
        value = self.cleaned_data["primary"]
        if not value:
            return None
        crm_id = parse_crm_id(value)
        if crm_id is None:
            raise forms.ValidationError("This is not a customer id.")
        return crm_id


class _CustomerPairForm(forms.Form):
    primary = forms.CharField(max_length=64)
    secondary = forms.CharField(max_length=64)

    def _clean_id(self, name: str) -> str:
        crm_id = parse_crm_id(self.cleaned_data[name])
        if crm_id is None:
            raise forms.ValidationError("This is not a customer id.")
        return crm_id

    def clean_primary(self) -> str:
        return self._clean_id("primary")

    def clean_secondary(self) -> str:
        return self._clean_id("secondary")


class MergeForm(_CustomerPairForm):
    """What the reviewer saw and chose: the preview's fingerprint, per conflict whose value to keep."""

    fingerprint = forms.CharField(max_length=128)
    confirm_risks = forms.BooleanField(required=False)

    def clean(self) -> dict:
        data = super().clean() or {}
        take_secondary: list[str] = []
        for key in self.data:
            if not key.startswith(CHOICE_PREFIX):
                continue
            field = key.removeprefix(CHOICE_PREFIX)
            value = self.data.get(key)
            if not field or len(field) > MAX_FIELD_NAME_LENGTH:
                raise forms.ValidationError(f"{field[:20]!r} is not a field of the preview.")
            if value not in ("primary", "secondary"):
                raise forms.ValidationError(f"Keep the primary's or take the secondary's value for {field}.")
            if value == "secondary":
                take_secondary.append(field)
        data["take_secondary"] = take_secondary
        return data


class ClusterMergeForm(forms.Form):
    """A cluster's merge: the primary, the members folded in (each with its preview's fingerprint)."""

    primary = forms.CharField(max_length=64)
    members = forms.MultipleChoiceField(choices=(), label="Fold in")
    confirm_risks = forms.BooleanField(required=False)

    def __init__(self, *args: object, member_ids: list[str], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.fields["members"].choices = [(crm_id, crm_id) for crm_id in member_ids]
        self.member_ids = member_ids

    def clean_primary(self) -> str:
        crm_id = parse_crm_id(self.cleaned_data["primary"])
        if crm_id is None or crm_id not in self.member_ids:
            raise forms.ValidationError("The primary must be one of the cluster's customers.")
        return crm_id

    def clean(self) -> dict:
        data = super().clean() or {}
        primary, members = data.get("primary"), data.get("members") or []
        if primary is None or not members:
            return data
        if primary in members:
            raise forms.ValidationError("The primary cannot also be folded into itself.")
        fingerprints: list[tuple[str, str]] = []
        take_secondary: dict[str, list[str]] = {}
        for member in members:
            fingerprint = str(self.data.get(f"fingerprint:{member}", ""))
            if not fingerprint or len(fingerprint) > 128:
                raise forms.ValidationError(
                    f"The merge preview of customer {member} has not been seen; load it before merging."
                )
            fingerprints.append((member, fingerprint))
            prefix = f"{CHOICE_PREFIX}{member}:"
            for key in self.data:
                if key.startswith(prefix):
                    value = self.data.get(key)
                    if value not in ("primary", "secondary"):
                        raise forms.ValidationError(f"Keep the primary's or take the secondary's value for {key}.")
                    if value == "secondary":
                        take_secondary.setdefault(member, []).append(key.removeprefix(prefix))
        data["member_fingerprints"] = fingerprints
        data["take_secondary"] = take_secondary
        return data


class CompareForm(forms.Form):
    """Two customers ticked on the customer list, to open on the pair screen."""

    customer = forms.MultipleChoiceField(choices=(), label="Customers")

    def clean_customer(self) -> list[str]:
        raw = self.data.getlist("customer") if isinstance(self.data, QueryDict) else self.data.get("customer", [])
        ids = []
        for value in raw:
            crm_id = parse_crm_id(value)
            if crm_id is None:
                raise forms.ValidationError(f"{str(value)[:20]!r} is not a customer id.")
            if crm_id not in ids:
                ids.append(crm_id)
        if len(ids) != 2:
            raise forms.ValidationError("Tick exactly two different customers to compare.")
        return ids

    def full_clean(self) -> None:
        # The choices are whatever ids the list showed; clean_customer checks each one.
        self.fields["customer"].choices = [(v, v) for v in self.data.getlist("customer")] if isinstance(
            self.data, QueryDict
        ) else []
        super().full_clean()


def error_summary(form: forms.Form) -> list[str]:
    """One line per problem, naming the field, for a 400 page or fragment."""
    lines = []
    for name, messages in form.errors.items():
        label = form.fields[name].label if name in form.fields and form.fields[name].label else name
        for message in messages:
            lines.append(message if name == "__all__" else f"{label}: {message}")
    return lines
