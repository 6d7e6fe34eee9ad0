# Usernames unique whatever their case, by a database constraint.
#
# Accounts whose names differ only in case cannot be merged (each has its own wallet, ledger,
# orders and password) and renaming one would lock its owner out without telling them, so the
# migration stops, naming them, for an operator to settle (rename one in the admin, then
# migrate again).

from django.db import migrations, models
from django.db.models import Count
from django.db.models.functions import Lower


def refuse_case_duplicates(apps, schema_editor):
    User = apps.get_model("accounts", "User")
    clashes = (
        User.objects.annotate(folded=Lower("username"))
        .values("folded")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .values_list("folded", flat=True)
    )
    groups = []
    for folded in clashes:
        names = (
            User.objects.annotate(folded=Lower("username"))
            .filter(folded=folded)
            .values_list("username", flat=True)
        )
        groups.append(", ".join(sorted(names)))
    if groups:
        raise RuntimeError(
            "Usernames must become unique whatever their case, but these accounts differ only "
            "in case: " + "; ".join(groups) + ". Rename all but one of each group (in the "
            "admin) and run migrate again."
        )


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_hash_legacy_tokens"),
    ]

    operations = [
        migrations.RunPython(refuse_case_duplicates, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="user",
            constraint=models.UniqueConstraint(
                Lower("username"),
                name="accounts_user_username_ci_unique",
                violation_error_message="A user with that username already exists.",
            ),
        ),
    ]
