"""The HTTP transport the vendor SDKs are given: a request that a server dropped without
answering (a kept-alive connection it closed just then) is sent once more, on a new connection.

Servers close connections that stay idle for their keep-alive timeout (uvicorn's, and so vLLM's,
is 5 s, as long as the SDKs' pools keep them). A request written to one just as the server closes
it gets no answer, only "Server disconnected" or a reset. The SDKs' own retry loops are off (the
registry's fallbacks are our retries, and an SDK's loop would multiply the wait on timeouts), so
without this a user would get a 502 for a connection the vendor closed a moment too early.

Only a failure before any response is retried, once, and on a new connection, since the pool's
other idle connections may be timing out at the same moment. That resend is what the SDKs do by
default too. Timeouts and refused connections are not retried: the server is slow or gone, and
asking again would only double the user's wait.
"""

from __future__ import annotations

import importlib
import logging
from types import ModuleType
from typing import Any

logger = logging.getLogger(__name__)

# The pool the OpenAI SDK gives itself (its `DEFAULT_CONNECTION_LIMITS`); a transport passed in
# replaces the SDK's, limits included.
MAX_CONNECTIONS = 1000
MAX_KEEPALIVE_CONNECTIONS = 100


def reconnecting_transport(http: ModuleType) -> Any:
    """A transport of ``http`` (``httpx`` or ``httpx2``, whichever the SDK runs on)."""
    return _transport_class(http)()


def library_of(client_class: type) -> ModuleType:
    """The httpx flavour an SDK's client class is built on (``httpx2`` for newer SDKs)."""
    for cls in client_class.__mro__:
        package = cls.__module__.partition(".")[0]
        if package in ("httpx", "httpx2"):
            return importlib.import_module(package)
    raise TypeError(f"{client_class.__name__} is not an httpx client")


def _transport_class(http: ModuleType) -> type:
    dropped = (http.RemoteProtocolError, http.ReadError, http.WriteError)

    class ReconnectingTransport(http.BaseTransport):  # type: ignore[name-defined]
        def __init__(self) -> None:
            limits = http.Limits(
                max_connections=MAX_CONNECTIONS,
                max_keepalive_connections=MAX_KEEPALIVE_CONNECTIONS,
            )
            self._pool = http.HTTPTransport(limits=limits)
            # Keeps nothing: its one connection closes with the response it carried.
            self._fresh = http.HTTPTransport(limits=http.Limits(max_keepalive_connections=0))

        def handle_request(self, request: Any) -> Any:
            try:
                return self._pool.handle_request(request)
            except dropped as err:
                if not isinstance(request.stream, http.ByteStream):
                    raise  # a streamed upload cannot be read again
                logger.info(
                    "%s %s: the connection was dropped before an answer (%s); sending it again",
                    request.method,
                    request.url.host,
                    err or type(err).__name__,
                )
                return self._fresh.handle_request(request)

        def close(self) -> None:
            self._pool.close()
            self._fresh.close()

    return ReconnectingTransport
