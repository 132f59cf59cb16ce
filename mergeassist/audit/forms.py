"""Forms that check the history's and the dashboard's filters (bad input -> 400 with a reason)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from django import forms
from django.http import QueryDict

from mergeassist.audit.models import Decision

# "note pending" is not an outcome of its own: a merge whose note the outbox still has to deliver.
NOTE_PENDING = "note_pending"
# Nor is "note undeliverable": a merge whose note the CRM refused for good (someone should look).
NOTE_UNDELIVERABLE = "note_undeliverable"
OUTCOME_CHOICES = [
    ("", "Any outcome"),
    *Decision.Outcome.choices,
    (NOTE_PENDING, "Note pending"),
    (NOTE_UNDELIVERABLE, "Note undeliverable"),
]
PER_PAGE_CHOICES = [(n, str(n)) for n in (25, 50, 100)]
MAX_SEARCH_LENGTH = 320  # the longest email the CRM keeps
HISTORY_DEFAULTS = {"per_page": "50"}
DAYS_CHOICES = [(7, "Last 7 days"), (30, "Last 30 days"), (90, "Last 90 days"), (365, "Last year")]


@dataclass(frozen=True)
class HistoryQuery:
    """A checked history filter. `before`/`after` are decision ids: the page's keyset cursor."""

    search: str = ""
    date_from: date | None = None
    date_to: date | None = None
    reviewer: str = ""
    outcome: str = ""
    per_page: int = 50
    before: int | None = None
    after: int | None = None

    @property
    def is_filtered(self) -> bool:
        return bool(self.search or self.date_from or self.date_to or self.reviewer or self.outcome)


class HistoryFilterForm(forms.Form):
    q = forms.CharField(
        required=False,
        max_length=MAX_SEARCH_LENGTH,
        label="Customer",
        widget=forms.TextInput(
            attrs={"type": "search", "placeholder": "ID, email or name", "autocomplete": "off"}
        ),
    )
    date_from = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))
    reviewer = forms.ChoiceField(required=False, label="Reviewer")
    outcome = forms.ChoiceField(required=False, choices=OUTCOME_CHOICES, label="Outcome")
    per_page = forms.TypedChoiceField(coerce=int, choices=PER_PAGE_CHOICES, label="Per page")
    before = forms.IntegerField(required=False, min_value=1, label="Page", widget=forms.HiddenInput)
    after = forms.IntegerField(required=False, min_value=1, label="Page", widget=forms.HiddenInput)

    def __init__(self, *args: object, reviewers: list[str] = (), **kwargs: object) -> None:  # type: ignore[assignment]
        super().__init__(*args, **kwargs)
        self.fields["reviewer"].choices = [("", "Anyone"), *((name, name) for name in reviewers)]

    @classmethod
    def from_query(cls, query: QueryDict | Mapping[str, str], *, reviewers: list[str]) -> HistoryFilterForm:
        data = QueryDict(mutable=True)
        data.update(HISTORY_DEFAULTS)
        for name in cls.base_fields:
            value = query.get(name, "")
            if value != "":
                data[name] = value
        return cls(data, reviewers=reviewers)

    def clean(self) -> dict[str, object]:
        data = super().clean()
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", "The end date is before the start date.")
        if data.get("before") and data.get("after"):
            self.add_error(None, "A page is either before or after a decision, not both.")
        return data

    def to_query(self) -> HistoryQuery:
        data = self.cleaned_data
        return HistoryQuery(
            search=data["q"].strip(),
            date_from=data["date_from"],
            date_to=data["date_to"],
            reviewer=data["reviewer"],
            outcome=data["outcome"],
            per_page=data["per_page"],
            before=data["before"],
            after=data["after"],
        )

    def error_summary(self) -> list[str]:
        return [
            f"{self.fields[name].label}: {message}" if name in self.fields else message
            for name, messages in self.errors.items()
            for message in messages
        ]


class DashboardForm(forms.Form):
    days = forms.TypedChoiceField(coerce=int, choices=DAYS_CHOICES, label="Period")

    @classmethod
    def from_query(cls, query: QueryDict | Mapping[str, str]) -> DashboardForm:
        return cls({"days": query.get("days") or "30"})
