"""omnihub: the Flask app, storage, threading, inbox, API and CLI."""
