"""Local fake chat servers for end-to-end tests: they speak the platforms' real wire protocols on
127.0.0.1 and record what they receive, so the bot's real client libraries can be pointed at
them by base URL."""
