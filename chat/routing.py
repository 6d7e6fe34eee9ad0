"""WebSocket routes (`config.asgi` serves them next to Django's HTTP views)."""

from django.urls import path

from chat.consumers import ChatConsumer

websocket_urlpatterns = [
    path("ws/chat/", ChatConsumer.as_asgi()),
    path("ws/chat/<int:conversation>/", ChatConsumer.as_asgi()),
]
