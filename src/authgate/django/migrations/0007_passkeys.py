# Passkeys (WebAuthn credentials), after two-factor's 0006.

import django.db.models.deletion
from django.db import migrations, models

import authgate.django.fields


class Migration(migrations.Migration):
    dependencies = [
        ("authgate", "0006_two_factor"),
    ]

    operations = [
        migrations.CreateModel(
            name="Passkey",
            fields=[
                ("id", models.CharField(max_length=36, primary_key=True, serialize=False)),
                ("credential_hash", models.CharField(max_length=64)),
                ("credential_id", models.BinaryField(max_length=1023)),
                ("public_key", models.BinaryField(max_length=1023)),
                ("sign_count", models.BigIntegerField(default=0)),
                ("transports", models.CharField(blank=True, max_length=255, null=True)),
                ("aaguid", models.CharField(blank=True, max_length=36, null=True)),
                ("name", models.CharField(max_length=100)),
                ("backup_eligible", models.BooleanField(default=False)),
                ("backed_up", models.BooleanField(default=False)),
                ("created_at", authgate.django.fields.UTCDateTimeField()),
                ("last_used_at", authgate.django.fields.UTCDateTimeField(blank=True, null=True)),
                (
                    "user",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="passkeys",
                        to="authgate.user",
                    ),
                ),
            ],
            options={
                "db_table": "authgate_passkeys",
                "indexes": [models.Index(fields=["user"], name="ix_authgate_passkeys_user")],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("credential_hash",), name="uq_authgate_passkeys_credential_hash"
                    )
                ],
            },
        ),
    ]
