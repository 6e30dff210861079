"""Agents and security officers may retry a failed Graph step of a case (graphops' permission).

The agent sees the failure and its reason on the case page; for a TAP the retry is the human
decision to issue a new pass, which graphops leaves to a person.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GRANTS = {"helpdesk_agent": "retry_graphoperation", "security_officer": "retry_graphoperation"}


def grant(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, codename in GRANTS.items():
        perm = Permission.objects.get(content_type__app_label="graphops", codename=codename)
        Group.objects.get(name=role).permissions.add(perm)


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, codename in GRANTS.items():
        perm = Permission.objects.filter(content_type__app_label="graphops", codename=codename)
        Group.objects.get(name=role).permissions.remove(*perm)


class Migration(migrations.Migration):
    dependencies = [
        ("tickets", "0003_workflow_records"),
        ("graphops", "0001_initial"),
    ]
    operations = [migrations.RunPython(grant, revoke)]
