"""Cross-cutting code every app may use: the error format, pagination, the client's address,
health, the cache and task backends, the admin base, migration helpers, the request-body
guard. It imports no app."""
