"""The floor for command latency: a bare slack-bolt app whose /agenda handler only calls
ack(), served exactly like the bot serves HTTP mode (bolt's WSGI adapter behind the same
server the Slack backend uses, chatbot.web.make_wsgi_server).

    python bench/bare_bolt.py PORT API_URL      # SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET from env
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    port, api_url = int(sys.argv[1]), sys.argv[2]
    # same logging setup as `chatbot run` (INFO, same format)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    from slack_bolt import App
    from slack_bolt.adapter.wsgi import SlackRequestHandler
    from slack_sdk import WebClient

    # the server of the bot's HTTP mode, so the comparison is like for like
    from chatbot.backends.slack import HTTP_PATH
    from chatbot.web import make_wsgi_server

    client = WebClient(token=os.environ["SLACK_BOT_TOKEN"], base_url=api_url)
    app = App(
        client=client,
        signing_secret=os.environ["SLACK_SIGNING_SECRET"],
        request_verification_enabled=True,
        token_verification_enabled=False,
        process_before_response=False,
        raise_error_for_unhandled_request=False,
        logger=logging.getLogger("bare.bolt"),
    )

    @app.command("/agenda")
    def agenda(ack):
        ack()

    server = make_wsgi_server("127.0.0.1", port, SlackRequestHandler(app, path=HTTP_PATH), log_level=logging.DEBUG)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    logging.getLogger("bare").info("bare bolt listening on http://127.0.0.1:%d%s", port, HTTP_PATH)
    stop.wait()
    server.shutdown()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
