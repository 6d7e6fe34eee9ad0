# Tally's production image: the API (uvicorn), the background task worker and the maintenance
# commands all run from it; docker-compose.yml wires them to PostgreSQL and Redis.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DATA_DIR=/data \
    TALLY_ENV=production \
    WEB_CONCURRENCY=2

# libgomp: faiss-cpu's OpenMP runtime.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --create-home --home-dir /home/tally --uid 10001 tally \
    && mkdir -p /data \
    && chown tally /data

WORKDIR /app

# Dependencies first, from the runtime lock alone (exact versions, checked against their
# hashes), so a code change reuses this layer. The app runs from /app, so the project itself
# is not installed.
COPY requirements/run.txt ./requirements/
RUN pip install --require-hashes -r requirements/run.txt

COPY --chown=root:root . .
RUN python -m compileall -q accounts billing chat config orders providers retrieval web

USER tally
VOLUME ["/data"]
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:8000/api/health/', timeout=4)"]

# The app reads client addresses from X-Forwarded-For itself (TRUSTED_PROXIES), so uvicorn's
# own proxy-header handling is off. Static files are collected at start: /data is a volume.
CMD ["sh", "-c", "python manage.py collectstatic --noinput --verbosity 0 && exec uvicorn config.asgi:application --host 0.0.0.0 --port 8000 --workers \"$WEB_CONCURRENCY\" --no-proxy-headers --no-access-log --timeout-graceful-shutdown 20"]
