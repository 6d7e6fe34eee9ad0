"""Project configuration: settings, URL wiring, ASGI/WSGI entry points."""
