"""ASGI entry point, served by uvicorn so that streamed chats really stream, with the chat's
WebSockets (Django Channels) next to Django's HTTP views."""

from __future__ import annotations

import gc
import os

from django.core.asgi import get_asgi_application

from core.body_limit import BodyLimit
from core.warmup import WarmUp

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

django_application = get_asgi_application()  # sets Django up: the consumers need the apps

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from chat.routing import websocket_urlpatterns  # noqa: E402

# No origin check on sockets: they authenticate with an API token, never a cookie, so a page
# on another site cannot borrow a user's session (the API answers any origin the same way).
routes = ProtocolTypeRouter(
    {"http": django_application, "websocket": URLRouter(websocket_urlpatterns)}
)

# Outermost: the worker loads what its first chat would otherwise load (the SDK, the shared
# index, the catalog) when the server starts it (core/warmup.py); an oversized body is
# refused before Django reads it (core/body_limit.py).
application = WarmUp(BodyLimit(routes))

# Everything loaded so far (Django, the apps and their modules: ~100k objects) lives as long
# as the worker. Frozen, the garbage collector stops walking it on every full collection (a
# long pause, during which every request of the worker stood still).
gc.collect()
gc.freeze()
