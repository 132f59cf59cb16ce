from django.core.management.base import BaseCommand

from mergeassist.review.scan import do_scan


class Command(BaseCommand):
    help = "Scan the local customer snapshot for duplicates and refresh the review queue."

    def handle(self, **options: object) -> None:
        scan = do_scan()
        self.stdout.write(
            f"Scanned {scan.customers_scanned:,} customers: {scan.candidate_pairs:,} candidate pairs compared; "
            f"{scan.pairs_created:,} new pairs, {scan.pairs_rescored:,} re-scored, "
            f"{scan.pairs_retired:,} retired, {scan.pairs_kept_decided:,} already decided kept as they were; "
            f"{scan.clusters:,} clusters (threshold {scan.threshold:g})."
        )
