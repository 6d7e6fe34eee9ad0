"""Index states say how far their scope's chunk ids go instead of counting versions: a
process's index is a cache that catches up by chunk id. Existing scopes start at their highest
chunk with a new generation, so the index files of the old format are never read again."""

import uuid

from django.db import migrations, models
from django.db.models import Max


def set_high_water(apps, schema_editor):
    IndexState = apps.get_model("retrieval", "IndexState")
    Chunk = apps.get_model("retrieval", "Chunk")
    highest = dict(
        Chunk.objects.order_by().values("scope").annotate(high=Max("id")).values_list("scope", "high")
    )
    for state in IndexState.objects.all():
        state.high = highest.get(state.scope, 0)
        state.stamp = uuid.uuid4().hex
        state.save(update_fields=["high", "stamp"])


class Migration(migrations.Migration):

    dependencies = [
        ('retrieval', '0002_alter_chunk_owner'),
    ]

    operations = [
        migrations.RemoveField(
            model_name='indexstate',
            name='version',
        ),
        migrations.AddField(
            model_name='indexstate',
            name='high',
            field=models.BigIntegerField(default=0, help_text='The highest chunk id in the scope.'),
        ),
        migrations.AddField(
            model_name='indexstate',
            name='removed',
            field=models.PositiveBigIntegerField(default=0, help_text='Chunks ever deleted from the scope (snapshots keep their ids).'),
        ),
        migrations.AlterField(
            model_name='indexstate',
            name='stamp',
            field=models.CharField(blank=True, default='', help_text="The vectors' generation: random, new whenever they are embedded again, so no snapshot of other vectors passes for current.", max_length=32),
        ),
        migrations.RunPython(set_high_water, migrations.RunPython.noop),
    ]
