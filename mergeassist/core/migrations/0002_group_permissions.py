from django.contrib.auth.management import create_permissions
from django.db import migrations

from mergeassist.core.roles import AUDITOR_PERMISSIONS, AUDITORS, REVIEWER_PERMISSIONS, REVIEWERS


def grant_permissions(apps, schema_editor) -> None:
    # Permissions are normally created after all migrations ran; the groups need them now.
    # Migration-state app configs have no models module, and create_permissions skips those; the
    # previous value is put back so that a caller passing the real registry (tests) is left intact.
    for app_config in apps.get_app_configs():
        previous = getattr(app_config, "models_module", None)
        app_config.models_module = previous or True
        try:
            create_permissions(app_config, apps=apps, verbosity=0)
        finally:
            app_config.models_module = previous
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for group_name, names in ((REVIEWERS, REVIEWER_PERMISSIONS), (AUDITORS, AUDITOR_PERMISSIONS)):
        group, _ = Group.objects.get_or_create(name=group_name)
        for name in names:
            app_label, codename = name.split(".")
            group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0001_groups"),
        ("crm", "0004_customer_subscriptions_cards_country"),
        ("review", "0002_review_queue"),
        ("audit", "0001_initial"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]
    operations = [migrations.RunPython(grant_permissions, migrations.RunPython.noop)]
