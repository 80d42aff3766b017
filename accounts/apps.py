from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AccountsConfig(AppConfig):
    """Staff identity and access: roles, API keys, authentication and permissions."""

    name = "accounts"
    verbose_name = "Accounts and access"

    def ready(self) -> None:
        from accounts import schema  # noqa: F401  (registers the OpenAPI auth schemes)

        # Permissions of models added by later migrations reach the role groups too.
        post_migrate.connect(_sync_after_migrate, dispatch_uid="accounts.sync_role_groups")


def _sync_after_migrate(sender: AppConfig, **kwargs: object) -> None:
    from accounts.roles import sync_role_groups

    if sender.name == "accounts":
        sync_role_groups(using=str(kwargs.get("using", "default")))
