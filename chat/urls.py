"""Routes of the chat API, mounted under /api/."""

from __future__ import annotations

from django.urls import path

from chat import views

urlpatterns = [
    path("chat/", views.ChatView.as_view(), name="chat"),
    path("conversations/", views.ConversationList.as_view(), name="conversations"),
    path("conversations/<int:pk>/", views.ConversationDetail.as_view(), name="conversation"),
    path(
        "conversations/<int:pk>/messages/",
        views.ConversationMessages.as_view(),
        name="conversation-messages",
    ),
]
