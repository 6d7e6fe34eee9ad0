"""Drop the foreign keys' own indexes on conversation.user and message.conversation: the
conversation_user_recent and message_conversation_newest indexes lead with those columns."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from core.migration_ops import drop_index


class Migration(migrations.Migration):

    dependencies = [
        ('chat', '0002_alter_requestlog_options_and_more'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                drop_index('chat_conversation', 'user_id', 'chat_conversation_user_id_15357b84'),
                drop_index('chat_message', 'conversation_id', 'chat_message_conversation_id_a1207bf4'),
            ],
            state_operations=[
                migrations.AlterField(
                    model_name='conversation',
                    name='user',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='conversations', to=settings.AUTH_USER_MODEL),
                ),
                migrations.AlterField(
                    model_name='message',
                    name='conversation',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='messages', to='chat.conversation'),
                ),
            ],
        ),
    ]
