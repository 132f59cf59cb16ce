#!/usr/bin/env python
"""Django's command-line utility for MergeAssist."""
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mergeassist.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as exc:
        # A setting the operator must fix (e.g. MERGEASSIST_CRM_URL missing in production): say which
        # in one line, rather than at the end of a traceback through Django's internals.
        sys.exit(f"MergeAssist cannot start: {exc}")


if __name__ == "__main__":
    main()
