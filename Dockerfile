# chatbot: build with `docker build -t chatbot .`, run with the config mounted at /app/config:
#   docker run --rm --user "$(id -u):$(id -g)" -v "$PWD/config:/app/config" -v "$PWD/notes:/app/notes" \
#     -e CHATBOT_BACKEND=slack -e SLACK_BOT_TOKEN -e SLACK_APP_TOKEN chatbot
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    CHATBOT_CONFIG=/app/config/chatbot.toml

# git for [meetings.git] (notes in a Git clone); the slim image has none
RUN apt-get update \
    && apt-get install -y --no-install-recommends git \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY chatbot ./chatbot
RUN pip install . && rm -rf /src

RUN useradd --create-home --uid 10001 chatbot \
    && mkdir -p /app/config /app/notes \
    && chown -R chatbot:chatbot /app
COPY --chown=chatbot:chatbot config /app/config

WORKDIR /app
USER chatbot
VOLUME ["/app/config", "/app/notes"]
EXPOSE 3000
CMD ["chatbot", "run", "--stay"]
