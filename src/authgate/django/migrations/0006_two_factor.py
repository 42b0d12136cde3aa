# Second factors: the TOTP state of each user and their recovery codes (issue 11).

import django.db.models.deletion
from django.db import migrations, models

import authgate.django.fields


class Migration(migrations.Migration):
    dependencies = [
        ("authgate", "0005_django_user"),
    ]

    operations = [
        migrations.CreateModel(
            name="TwoFactor",
            fields=[
                (
                    "user",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="two_factor",
                        serialize=False,
                        to="authgate.user",
                    ),
                ),
                ("totp_secret", models.TextField(blank=True, null=True)),
                ("totp_pending_secret", models.TextField(blank=True, null=True)),
                (
                    "totp_enabled_at",
                    authgate.django.fields.UTCDateTimeField(blank=True, null=True),
                ),
                ("totp_last_step", models.BigIntegerField(default=0)),
                ("email_code_hash", models.CharField(blank=True, max_length=64, null=True)),
                ("email_code_challenge", models.CharField(blank=True, max_length=64, null=True)),
                (
                    "email_code_expires_at",
                    authgate.django.fields.UTCDateTimeField(blank=True, null=True),
                ),
                (
                    "email_enabled_at",
                    authgate.django.fields.UTCDateTimeField(blank=True, null=True),
                ),
                (
                    "grace_started_at",
                    authgate.django.fields.UTCDateTimeField(blank=True, null=True),
                ),
                ("trust_epoch", models.CharField(max_length=32)),
            ],
            options={"db_table": "authgate_two_factor"},
        ),
        migrations.CreateModel(
            name="RecoveryCode",
            fields=[
                ("id", models.CharField(max_length=36, primary_key=True, serialize=False)),
                ("code_hash", models.CharField(max_length=64)),
                ("created_at", authgate.django.fields.UTCDateTimeField()),
                ("used_at", authgate.django.fields.UTCDateTimeField(blank=True, null=True)),
                (
                    "user",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="recovery_codes",
                        to="authgate.user",
                    ),
                ),
            ],
            options={
                "db_table": "authgate_recovery_codes",
                "constraints": [
                    models.UniqueConstraint(
                        fields=("user", "code_hash"), name="uq_authgate_recovery_codes_user_code"
                    )
                ],
            },
        ),
    ]
