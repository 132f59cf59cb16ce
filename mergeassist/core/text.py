"""Showing text that came from the CRM (or any person) safely: visible controls, isolated direction.

Autoescaping stops markup; it does not stop text that lies about itself. A right-to-left override
shows `evil\u202egpj.exe` as "evilexe.jpg" and, left open, reverses whatever follows it (the admin's
title and breadcrumbs); zero-width characters make two different values look the same. A reviewer
comparing two customers must see every difference, so these characters are shown as visible
markers, never interpreted. Templates use the `crm_text` filter (mergeassist.core.templatetags.text);
plain-text places (a page title, an admin breadcrumb, a <select> option) use `isolated_text`.
"""

from __future__ import annotations

import unicodedata

# U+2066 FIRST STRONG ISOLATE ... U+2069 POP DIRECTIONAL ISOLATE: the plain-text form of <bdi>.
FSI, PDI = "\u2068", "\u2069"
# Values longer than this get their full text in a tooltip (the CSS truncates them on one line).
TOOLTIP_FROM = 24


def is_hidden_control(ch: str) -> bool:
    """True for characters that change how text looks without being seen: C0 and C1 controls,
    DEL, and format characters (bidi overrides and isolates, zero-width spaces and joiners, BOM)."""
    return unicodedata.category(ch) in ("Cc", "Cf")


def marker(ch: str) -> str:
    """The visible stand-in: control pictures for C0 (␀ ␇ ␛) and DEL, ⟨U+202E⟩ for the rest."""
    code = ord(ch)
    if code < 0x20:
        return chr(0x2400 + code)
    if code == 0x7F:
        return "\u2421"
    return f"\u27e8U+{code:04X}\u27e9"


def has_hidden_control(text: str) -> bool:
    # str.isprintable() is False for every hidden control (and for a few visible characters such
    # as a no-break space): a check in C for the common case, the exact one only when it fails.
    return not text.isprintable() and any(is_hidden_control(ch) for ch in text)


def visible_text(value: object) -> str:
    """The value with every hidden control replaced by its visible marker."""
    text = "" if value is None else str(value)
    if not has_hidden_control(text):
        return text
    return "".join(marker(ch) if is_hidden_control(ch) else ch for ch in text)


def isolated_text(value: object) -> str:
    """visible_text wrapped in a first-strong isolate, for places where markup cannot go.

    Only text that could reorder what surrounds it (right-to-left letters, hidden controls) is
    wrapped: "Ann Lee" stays "Ann Lee", so plain names read (and compare) as before.
    """
    raw = "" if value is None else str(value)
    text = visible_text(raw)
    if any(is_hidden_control(ch) or unicodedata.bidirectional(ch) in _RIGHT_TO_LEFT for ch in raw):
        return f"{FSI}{text}{PDI}"
    return text


_RIGHT_TO_LEFT = ("R", "AL", "AN")
