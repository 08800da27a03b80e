# chatbot: build with `docker build -t chatbot .` (or `buildah bud --format docker -t chatbot .`), run with
# your config mounted read-only at /app/config, the notes and the ledger in their own volumes:
#   docker run --rm --user "$(id -u):$(id -g)" -v "$PWD/config:/app/config:ro" -v "$PWD/notes:/app/notes" \
#     -v "$PWD/state:/app/state" -p 8080:8080 -e CHATBOT_BACKEND=slack -e SLACK_BOT_TOKEN -e SLACK_APP_TOKEN chatbot
# No secret is ever copied into the image: tokens come from the environment, a zuliprc from the mounted config.
# PYTHON_IMAGE: a mirror of the official image, or any image with python >= 3.11 and pip on PATH
ARG PYTHON_IMAGE=python:3.12-slim
FROM ${PYTHON_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CHATBOT_CONFIG=/app/config/chatbot.toml \
    CHATBOT_STATE_DIR=/app/state \
    CHATBOT_WEB=0.0.0.0:8080

# git for [meetings.git] (notes in a Git clone); the slim image has none. Its version is the
# base image's Debian release's (security updates come with a rebuild), so it is not pinned.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends git \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
# The dependencies in their own layer, from pyproject.toml alone: editing the code or the README
# does not reinstall them.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > requirements.txt \
    && pip install -r requirements.txt
# Then the code itself (its dependencies are already there).
COPY README.md LICENSE ./
COPY chatbot ./chatbot
RUN pip install --no-deps . && rm -rf /src

# The example config, named file by file: nothing else in config/ (a zuliprc, a .env) can slip in.
RUN useradd --create-home --uid 10001 chatbot \
    && mkdir -p /app/config /app/notes /app/state \
    && chown chatbot:chatbot /app/notes /app/state
COPY config/chatbot.toml config/slack-app-manifest.yml /app/config/
COPY config/templates /app/config/templates

WORKDIR /app
USER 10001
# notes (written by the bot) and the ledger of sent reminders (CHATBOT_STATE_DIR); the config
# may be mounted read-only over /app/config
VOLUME ["/app/notes", "/app/state"]
# 8080: status pages, calendars and /healthz, served by `chatbot run` itself (CHATBOT_WEB);
# 3000: Slack's HTTP mode ([slack] mode = "http")
EXPOSE 8080 3000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; port = os.environ.get('CHATBOT_WEB', ':8080').rpartition(':')[2]; urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=4)"]
CMD ["chatbot", "run", "--stay"]
