"""chatbot: a chat-ops bot for recurring community meetings (reminders, agenda, action items)."""

__version__ = "0.1.0"
