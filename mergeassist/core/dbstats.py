"""Planner statistics, refreshed after the writes that change a table's shape (a scan)."""

from __future__ import annotations

from django.db import connection
from django.db.models import Model


def refresh_planner_statistics(*models: type[Model]) -> None:
    """Let the database's query planner see what these tables hold now.

    SQLite gathers no statistics by itself. Without them it assumes an equality on an indexed
    column matches about ten rows, so a queue search that names five pairs walks the whole queue
    index (`state = 'pending'`) instead of fetching the five. `analysis_limit` keeps ANALYZE to a
    sample of each index (milliseconds at a million rows). PostgreSQL's autovacuum analyses in its
    own time; after a scan has written thousands of pairs, now is better.
    """
    quote = connection.ops.quote_name
    tables = [quote(model._meta.db_table) for model in models]
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("PRAGMA analysis_limit=1000")
            for table in tables:
                cursor.execute(f"ANALYZE {table}")
        elif connection.vendor == "postgresql":
            cursor.execute(f"ANALYZE {', '.join(tables)}")
