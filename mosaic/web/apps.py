"""The web chat page: Django views over the same socket and selectors as every other client."""

from __future__ import annotations

from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "mosaic.web"
    label = "web"
    verbose_name = "Mosaic web page"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_out

        from mosaic.web.session_sockets import on_logout

        # A logout anywhere (this page, the admin) ends the sockets of that browser session.
        user_logged_out.connect(on_logout, dispatch_uid="mosaic.web.session_sockets")
