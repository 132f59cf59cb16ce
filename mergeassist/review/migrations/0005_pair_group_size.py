# The queue at scale: each pair knows its group's size (the clusters panel walks its own index), and
# the queue index covers what the filters read.

from django.conf import settings
from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def copy_cluster_sizes(apps, schema_editor):
    """Pairs scanned before the column existed take their cluster's size."""
    CandidatePair = apps.get_model("review", "CandidatePair")
    Cluster = apps.get_model("review", "Cluster")
    size = Cluster.objects.filter(pk=OuterRef("cluster_id")).values("size")[:1]
    CandidatePair.objects.filter(cluster__isnull=False).update(group_size=Subquery(size))


class Migration(migrations.Migration):

    dependencies = [
        ('crm', '0005_harden_syncrun_skipped_and_working_time'),
        ('review', '0004_merge_shown_preview_and_scan'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='candidatepair',
            name='group_size',
            field=models.PositiveIntegerField(default=2),
        ),
        migrations.RunPython(copy_cluster_sizes, migrations.RunPython.noop),
        migrations.AddIndex(
            model_name='candidatepair',
            index=models.Index(condition=models.Q(('group_size__gte', 3)), fields=['state', '-score', 'id'], name='review_pair_group_queue'),
        ),
        migrations.RemoveIndex(
            model_name='candidatepair',
            name='review_pair_queue',
        ),
        migrations.AddIndex(
            model_name='candidatepair',
            index=models.Index(fields=['state', '-score', 'id', 'customer_a', 'customer_b', 'same_email', 'same_phone', 'same_address', 'nickname', 'names_swapped'], name='review_pair_queue'),
        ),
    ]
