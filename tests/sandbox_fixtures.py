"""Fixtures that serve the sandbox CRM over real HTTP (filled in with the sandbox)."""
