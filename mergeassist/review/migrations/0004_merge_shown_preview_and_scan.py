from django.db import migrations


class Migration(migrations.Migration):
    # The review screens' and the scan's work landed side by side; neither depends on the other.
    dependencies = [
        ("review", "0003_review_shown_preview"),
        ("review", "0003_scan_one_at_a_time"),
    ]
    operations = []
