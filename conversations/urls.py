from django.urls import path

from conversations import api

urlpatterns = [
    path("conversations", api.ConversationListApi.as_view(), name="conversation-list"),
    path("conversations/search", api.ConversationSearchApi.as_view(), name="conversation-search"),
    path(
        "conversations/<str:conversation_id>",
        api.ConversationDetailApi.as_view(),
        name="conversation-detail",
    ),
    path(
        "conversations/<str:conversation_id>/messages",
        api.MessageListApi.as_view(),
        name="conversation-messages",
    ),
]
