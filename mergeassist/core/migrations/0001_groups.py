from django.db import migrations

from mergeassist.core.roles import AUDITORS, REVIEWERS


def create_groups(apps, schema_editor) -> None:
    Group = apps.get_model("auth", "Group")
    for name in (REVIEWERS, AUDITORS):
        Group.objects.get_or_create(name=name)


class Migration(migrations.Migration):
    dependencies = [("auth", "0012_alter_user_first_name_max_length")]
    operations = [migrations.RunPython(create_groups, migrations.RunPython.noop)]
