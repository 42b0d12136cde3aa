# authgate's User as Django's AUTH_USER_MODEL (authgate.django.user).

from django.db import migrations, models


class Migration(migrations.Migration):
    """Django's user contract wants a unique ``USERNAME_FIELD`` (the email).

    The email is unique already, through ``uq_authgate_users_email_canonical``
    on its canonical form; a second index on the email itself would cost every
    write and, on MySQL/MariaDB, would fold accents (jose@ and josé@ collide
    there). So only Django's model state learns ``unique=True``; the database
    keeps the one constraint it has.
    """

    dependencies = [
        ("authgate", "0004_api_tokens"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="user",
                    name="email",
                    field=models.CharField(max_length=255, unique=True),
                ),
            ],
            database_operations=[],
        ),
    ]
