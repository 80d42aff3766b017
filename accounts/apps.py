from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AccountsConfig(AppConfig):
    """Staff identity and access: roles, API keys, authentication and permissions."""

    name = "accounts"
    verbose_name = "Accounts and access"

    def ready(self) -> None:
        from accounts import receivers, schema  # noqa: F401  (signal receivers, OpenAPI auth schemes)

        # Permissions of models added by later migrations reach the role groups too.
        post_migrate.connect(_sync_after_migrate, dispatch_uid="accounts.sync_role_groups")


def _sync_after_migrate(sender: AppConfig, **kwargs: object) -> None:
    from django.apps import apps

    from accounts.roles import sync_role_groups

    # post_migrate is sent once per app, in INSTALLED_APPS order, and each app's permissions
    # are created by its own signal: wait for the last app so every permission exists (this
    # also restores the groups after a test database flush).
    if sender.name == list(apps.get_app_configs())[-1].name:
        sync_role_groups(using=str(kwargs.get("using", "default")))
