"""The roles people are given. Names are part of the interface: admins create users into them."""

REVIEWERS = "Reviewers"  # may review and merge
AUDITORS = "Auditors"  # may read history and export, never merge

# What each group may do, as "app_label.codename"; granted by core's migrations.
REVIEWER_PERMISSIONS = ("review.review_pairs", "review.view_candidatepair", "crm.view_customer")
AUDITOR_PERMISSIONS = (
    "audit.view_history",
    "audit.export_history",
    "audit.view_decision",
    "audit.view_crmcall",
    "review.view_candidatepair",
    "crm.view_customer",
)
