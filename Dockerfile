# codegen-bot: the web server and the job worker (`serve --role web|worker`).
# The image has no embedded PostgreSQL: run it with DATABASE_URL set.
#   docker build -t codegen-bot .
#   docker run -e DATABASE_URL=postgresql://... --env-file .env -p 3000:3000 codegen-bot

FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
WORKDIR /src
# Every package from the lock, each checked against its hash; then the
# project itself, resolving nothing (its build backend is in the lock too).
COPY requirements.lock ./
RUN /opt/venv/bin/pip install --require-hashes --no-deps -r requirements.lock
COPY pyproject.toml README.md LICENSE ./
COPY app ./app
COPY handlers ./handlers
COPY prompts ./prompts
COPY migrations ./migrations
RUN /opt/venv/bin/pip install --no-deps --no-build-isolation . \
    && /opt/venv/bin/pip uninstall --yes setuptools

FROM python:3.11-slim-bookworm
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PORT=3000 \
    LOG_FORMAT=json
COPY --from=build /opt/venv /opt/venv
# Not root: the bot needs no privilege, and reads a .env (if any) from /app.
RUN useradd --system --uid 10001 --user-group --home-dir /app --create-home codegen
USER codegen
WORKDIR /app
# The manifest the status page registers the App from (the package has no copy).
COPY app.yml ./
EXPOSE 3000
# SIGTERM: stop taking work, let running jobs finish within
# SHUTDOWN_GRACE_SECONDS (25 s), exit 0. Give `docker stop` more than that:
#   docker stop --time 40 ...
STOPSIGNAL SIGTERM
# /health on METRICS_PORT when set (a worker's), else PORT.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["codegen-bot", "health"]
CMD ["codegen-bot", "serve"]
