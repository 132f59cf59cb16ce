"""The roles people are given. Names are part of the interface: admins create users into them."""

REVIEWERS = "Reviewers"  # may review and merge
AUDITORS = "Auditors"  # may read history and export, never merge
