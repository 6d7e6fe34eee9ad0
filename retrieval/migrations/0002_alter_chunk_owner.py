"""Drop the foreign key's own index on chunk.owner: chunk_owner_memory leads with it."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from core.migration_ops import drop_index


class Migration(migrations.Migration):

    dependencies = [
        ('retrieval', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                drop_index('retrieval_chunk', 'owner_id', 'retrieval_chunk_owner_id_b4819b6a'),
            ],
            state_operations=[
                migrations.AlterField(
                    model_name='chunk',
                    name='owner',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='chunks', to=settings.AUTH_USER_MODEL),
                ),
            ],
        ),
    ]
