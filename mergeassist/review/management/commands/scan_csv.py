"""`manage.py scan_csv INPUT.csv --out PAIRS.csv`: the scan's engine on a file, no database needed."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from mergeassist.matching import find_duplicates, read_records_csv, write_pairs_csv
from mergeassist.review.scan import match_config


class Command(BaseCommand):
    help = (
        "Find duplicates in a CSV of customers (id,name_first,name_last,email,phone,company_name,"
        "address1,address2,city,state,zip,country) and write id_a,id_b,score,is_match,explanation."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("input", type=Path)
        parser.add_argument("--out", type=Path, required=True)

    def handle(self, *, input: Path, out: Path, **options: object) -> None:
        if not input.is_file():
            raise CommandError(f"No such file: {input}")
        try:
            records, problems = read_records_csv(input)
        except (UnicodeDecodeError, OSError) as error:
            raise CommandError(f"Cannot read {input}: {error}") from None
        for problem in problems:
            self.stderr.write(f"{input}: {problem}")
        if not records:
            raise CommandError(f"{input} has no usable rows.")
        result = find_duplicates(records, match_config())
        written = write_pairs_csv(out, result.pairs)
        matches = sum(pair.is_match for pair in result.pairs)
        self.stdout.write(
            f"Read {len(records):,} records ({len(problems)} rows skipped); wrote {written:,} pairs to {out}, "
            f"{matches:,} of them over the threshold, in {len(result.clusters):,} clusters."
        )
