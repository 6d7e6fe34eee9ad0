"""ASGI entry point, served by uvicorn so that streamed chats really stream."""

from __future__ import annotations

import gc
import os

from django.core.asgi import get_asgi_application

from core.body_limit import BodyLimit
from core.warmup import WarmUp

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

# Outermost: the worker loads what its first chat would otherwise load (the SDK, the shared
# index, the catalog) when the server starts it (core/warmup.py); an oversized body is
# refused before Django reads it (core/body_limit.py).
application = WarmUp(BodyLimit(get_asgi_application()))

# Everything loaded so far (Django, the apps and their modules: ~100k objects) lives as long
# as the worker. Frozen, the garbage collector stops walking it on every full collection (a
# long pause, during which every request of the worker stood still).
gc.collect()
gc.freeze()
