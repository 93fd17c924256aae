"""The web page's URLs, at the root of the site (the API lives under /api/, the admin /admin/)."""

from django.contrib.auth.views import LogoutView
from django.urls import path

from mosaic.web import views

app_name = "web"

urlpatterns = [
    path("", views.with_content_security_policy(views.conversation_list), name="home"),
    path(
        "login/",
        views.with_content_security_policy(views.SignInView.as_view()),
        name="login",
    ),
    path("logout/", LogoutView.as_view(), name="logout"),
    path("chat/", views.with_content_security_policy(views.chat), name="chat-new"),
    path(
        "chat/<uuid:conversation_id>/",
        views.with_content_security_policy(views.chat),
        name="chat",
    ),
]
