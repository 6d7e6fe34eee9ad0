"""Drop the foreign key's own index on ledgerentry.wallet: ledger_wallet_newest leads with it."""

import django.db.models.deletion
from django.db import migrations, models

from core.migration_ops import drop_index


class Migration(migrations.Migration):

    dependencies = [
        ('billing', '0002_alter_ledgerentry_created_at_and_more'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                drop_index('billing_ledgerentry', 'wallet_id', 'billing_ledgerentry_wallet_id_d66e2707'),
            ],
            state_operations=[
                migrations.AlterField(
                    model_name='ledgerentry',
                    name='wallet',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='entries', to='billing.wallet'),
                ),
            ],
        ),
    ]
