# Each plaintext token of rest_framework.authtoken becomes a knox token row holding only its
# digest, so the keys clients already have keep working; the plaintext rows are deleted.
#
# rest_framework.authtoken has left INSTALLED_APPS, so its table is read by SQL, and only where
# it exists (a database created before this migration). Its now empty table is left in place.

from datetime import timedelta

from django.conf import settings
from django.db import migrations
from django.utils import timezone
from knox.crypto import hash_token
from knox.settings import CONSTANTS

LEGACY_TABLE = "authtoken_token"


def hash_legacy_tokens(apps, schema_editor):
    connection = schema_editor.connection
    if LEGACY_TABLE not in connection.introspection.table_names():
        return
    ApiToken = apps.get_model("accounts", "ApiToken")
    table, key = connection.ops.quote_name(LEGACY_TABLE), connection.ops.quote_name("key")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {key}, user_id FROM {table}")  # noqa: S608 - fixed names
        rows = cursor.fetchall()
    expiry = timezone.now() + timedelta(seconds=settings.TOKEN_TTL)
    ApiToken.objects.bulk_create(
        ApiToken(
            token_key=legacy_key[: CONSTANTS.TOKEN_KEY_LENGTH],
            digest=hash_token(legacy_key),
            user_id=user_id,
            name="Issued before tokens were named",
            expiry=expiry,
        )
        for legacy_key, user_id in rows
    )
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table}")  # noqa: S608 - a fixed name


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_api_tokens"),
    ]

    operations = [
        # Backwards there is nothing to restore: the keys themselves are gone, by design.
        migrations.RunPython(hash_legacy_tokens, migrations.RunPython.noop),
    ]
