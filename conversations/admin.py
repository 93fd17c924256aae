from django.contrib import admin

from conversations.models import Conversation, Message


class MessageInline(admin.TabularInline[Message, Conversation]):
    model = Message
    fields = ("sequence", "role", "status", "content", "provider", "model", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ["sequence"]
    show_change_link = True


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin[Conversation]):
    list_display = ["id", "title", "owner", "agent_slug", "archived", "updated_at"]
    list_filter = ["archived", "agent_slug"]
    search_fields = ["title", "owner__username", "id"]
    readonly_fields = ["id", "owner", "session_id", "last_sequence", "created_at", "updated_at"]
    inlines = [MessageInline]


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin[Message]):
    list_display = [
        "id",
        "conversation",
        "sequence",
        "role",
        "status",
        "provider",
        "model",
        "created_at",
    ]
    list_filter = ["role", "status", "provider"]
    search_fields = ["id", "conversation__id"]
    readonly_fields = [f.name for f in Message._meta.fields if f.name != "search_vector"]
    exclude = ["search_vector"]
