"""Drop the foreign key's own index on order.user: order_user_newest leads with it."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from core.migration_ops import drop_index


class Migration(migrations.Migration):

    dependencies = [
        ('orders', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                drop_index('orders_order', 'user_id', 'orders_order_user_id_e9b59eb1'),
            ],
            state_operations=[
                migrations.AlterField(
                    model_name='order',
                    name='user',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='orders', to=settings.AUTH_USER_MODEL),
                ),
            ],
        ),
    ]
