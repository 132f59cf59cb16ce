"""Forms that check what people send to the CRM screens."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from django import forms
from django.http import QueryDict

# The CRM caps per_page at 100; the select offers the usual sizes, the URL may ask for any up to it.
MAX_PER_PAGE = 100
PER_PAGE_CHOICES = [(n, str(n)) for n in (10, 25, 50, 100)]
# The longest search or filter value worth sending; longer ones are typing accidents.
MAX_TERM_LENGTH = 100

FILTER_FIELD_CHOICES = [
    ("email", "Email"),
    ("name_first", "First name"),
    ("name_last", "Last name"),
    ("company_name", "Company"),
]
FILTER_MATCH_CHOICES = [("contains", "contains"), ("exact", "is exactly")]

# The fields the CRM sorts by; "-" first means descending, as in the CRM's own `sort` parameter.
SORT_FIELD_LABELS = {
    "id": ("ID", "lowest first", "highest first"),
    "email": ("Email", "A–Z", "Z–A"),
    "name_first": ("First name", "A–Z", "Z–A"),
    "name_last": ("Last name", "A–Z", "Z–A"),
    "company_name": ("Company", "A–Z", "Z–A"),
    "created_at": ("Created", "oldest first", "newest first"),
    "updated_at": ("Updated", "oldest first", "newest first"),
}
SORT_CHOICES = [
    choice
    for field, (label, ascending, descending) in SORT_FIELD_LABELS.items()
    for choice in ((field, f"{label}, {ascending}"), (f"-{field}", f"{label}, {descending}"))
]

# What an empty or missing parameter means. Merged into the query before binding, so the form
# both validates and redisplays the values actually used.
CUSTOMER_LIST_DEFAULTS = {
    "filter_field": "email",
    "filter_match": "contains",
    "sort": "-updated_at",
    "page": "1",
    "per_page": "25",
}


@dataclass(frozen=True)
class CustomerListQuery:
    """A checked request for one page of customers, in the CRM's own terms."""

    search: str
    filters: dict[str, str]
    sort: str
    page: int
    per_page: int

    @property
    def is_filtered(self) -> bool:
        return bool(self.search or self.filters)


class CustomerListForm(forms.Form):
    search = forms.CharField(
        required=False,
        max_length=MAX_TERM_LENGTH,
        label="Search",
        widget=forms.TextInput(
            attrs={"type": "search", "placeholder": "Name or email", "autocomplete": "off"}
        ),
    )
    filter_field = forms.ChoiceField(choices=FILTER_FIELD_CHOICES, label="Filter on")
    filter_match = forms.ChoiceField(choices=FILTER_MATCH_CHOICES, label="Match")
    filter_value = forms.CharField(
        required=False,
        max_length=MAX_TERM_LENGTH,
        label="Value",
        widget=forms.TextInput(attrs={"type": "search", "autocomplete": "off"}),
    )
    sort = forms.ChoiceField(choices=SORT_CHOICES, label="Sort by")
    page = forms.IntegerField(min_value=1, max_value=1_000_000, label="Page")
    per_page = forms.IntegerField(
        min_value=1,
        max_value=MAX_PER_PAGE,
        label="Per page",
        widget=forms.Select(choices=PER_PAGE_CHOICES),
    )

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        # A size typed into the URL (per_page=30) must show as chosen, not as the select's first option.
        asked = str(self.data.get("per_page", ""))
        sizes = dict(PER_PAGE_CHOICES)
        if asked.isdigit() and 1 <= int(asked) <= MAX_PER_PAGE and int(asked) not in sizes:
            sizes[int(asked)] = asked
            self.fields["per_page"].widget.choices = sorted(sizes.items())

    @classmethod
    def from_query(cls, query: QueryDict | Mapping[str, str]) -> CustomerListForm:
        """Bind the form to the URL's parameters, with the defaults standing in for missing ones."""
        data = QueryDict(mutable=True)
        data.update(CUSTOMER_LIST_DEFAULTS)
        for name in cls.base_fields:
            value = query.get(name, "")
            if value != "":
                data[name] = value
        return cls(data)

    def to_query(self) -> CustomerListQuery:
        """The checked values; only call after is_valid()."""
        data = self.cleaned_data
        filters: dict[str, str] = {}
        if data["filter_value"]:
            # The CRM spells an exact match as filter[email] and a substring match as filter[email.contains].
            suffix = ".contains" if data["filter_match"] == "contains" else ""
            filters[f"{data['filter_field']}{suffix}"] = data["filter_value"]
        return CustomerListQuery(
            search=data["search"],
            filters=filters,
            sort=data["sort"],
            page=data["page"],
            per_page=data["per_page"],
        )

    def error_summary(self) -> list[str]:
        """One line per problem, naming the parameter, for the alert above the results."""
        return [
            f"{self.fields[name].label}: {message}"
            for name, messages in self.errors.items()
            for message in messages
        ]
