from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    label = "accounts"
    verbose_name = "Accounts and API tokens"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported here: these modules need the app registry, which is ready only now.
        from django.contrib.auth import get_user_model
        from django.db.models.signals import post_delete, post_save

        from accounts import schema  # noqa: F401 - registers the OpenAPI auth extension
        from accounts.signals import on_user_deleted, on_user_saved

        # Deactivating a user anywhere (the admin, a shell, a script) ends their chat sockets.
        user_model = get_user_model()
        post_save.connect(on_user_saved, sender=user_model, dispatch_uid="accounts.user_saved")
        post_delete.connect(
            on_user_deleted, sender=user_model, dispatch_uid="accounts.user_deleted"
        )
