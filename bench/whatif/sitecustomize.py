"""What-if experiments for bench/latency.py (``--what-if-backlog N``, ``--what-if-executor N``).

Put on PYTHONPATH of BOTH the bot and the bare bolt app only when asked, to see how the
command latency would change with a larger TCP listen backlog for the HTTP server or a larger
bolt listener thread pool. Diagnosis only: the real numbers are the ones measured without it.
"""

import os

if os.environ.get("BENCH_WHATIF_BACKLOG"):
    import socketserver

    socketserver.TCPServer.request_queue_size = int(os.environ["BENCH_WHATIF_BACKLOG"])

if os.environ.get("BENCH_WHATIF_EXECUTOR"):
    from concurrent.futures import ThreadPoolExecutor

    import slack_bolt.app.app as _bolt_app

    _workers = int(os.environ["BENCH_WHATIF_EXECUTOR"])
    _orig_init = _bolt_app.App.__init__

    def _init(self, *args, **kwargs):
        kwargs.setdefault("listener_executor", ThreadPoolExecutor(max_workers=_workers))
        _orig_init(self, *args, **kwargs)

    _bolt_app.App.__init__ = _init
