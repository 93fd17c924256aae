"""Django's user model is not ours to give a service, and the admin edits it directly: these
receivers (connected in ``AccountsConfig.ready``) turn "this user can no longer sign in" into
``services.user_access_ended`` wherever it happens."""

from __future__ import annotations

from typing import Any

from accounts.services import user_access_ended


def on_user_saved(sender: Any, instance: Any, **kwargs: Any) -> None:
    if not instance.is_active:
        user_access_ended(user_id=instance.pk)


def on_user_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    user_access_ended(user_id=instance.pk)
