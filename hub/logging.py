"""Structured logging (structlog): console or JSON, secrets masked, no message bodies."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Callable, MutableMapping
from typing import Any, TextIO, cast

import structlog

from normalizers.redact import redact_event_dict

SECRET_KEYS = re.compile(r"(secret|token|password|passwd|auth|api_key|apikey|signature|cookie)", re.I)

#: Extra processors (e.g. text redaction) installed by other modules before configure().
EXTRA_PROCESSORS: list[Callable[[Any, str, MutableMapping[str, Any]], MutableMapping[str, Any]]] = []


#: URL parts that are credentials: the /media/<token> path (the token is the permission to
#: fetch the file) and query parameters named like secrets (?token=, ?signature=, ...).
_MEDIA_TOKEN = re.compile(r"(/media/)[^/?#\s\"'<>]+")
_SECRET_QUERY = re.compile(r"([?&;][^=&\s\"'<>]*(?:token|secret|password|signature|key)[^=&\s\"'<>]*=)[^&#\s\"'<>]+", re.I)


def mask_url_secrets(text: str) -> str:
    """``text`` with /media tokens and secret-named query values replaced by ***."""
    if "/media/" in text or "=" in text:
        text = _MEDIA_TOKEN.sub(r"\1***", text)
        text = _SECRET_QUERY.sub(r"\1***", text)
    return text


def mask_url_tokens(_logger: Any, _name: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in event_dict.items():
        if isinstance(value, str):
            event_dict[key] = mask_url_secrets(value)
    return event_dict


def mask_secrets(_logger: Any, _name: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event_dict):
        if key != "event" and SECRET_KEYS.search(key) and event_dict[key]:
            event_dict[key] = "***"
    return event_dict


class _Stderr:
    """Whatever ``sys.stderr`` is at the time of writing (a test runner or a daemon may
    replace it after configure(); a stream bound at configure time may be closed by then)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


STDERR = _Stderr()


def configure(level: str = "INFO", fmt: str = "console") -> None:
    if fmt == "json":
        # the libraries' own records (RQ's "could not connect to Redis ... retrying") as JSON too,
        # masked like ours, so a log shipper reading one JSON object per line sees every line
        handler = logging.StreamHandler(cast(TextIO, STDERR))
        handler.setFormatter(structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_log_level, structlog.stdlib.add_logger_name,
                               structlog.processors.TimeStamper(fmt="iso", utc=True)],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, structlog.processors.format_exc_info,
                        redact_event_dict, mask_url_tokens, structlog.processors.JSONRenderer()]))
        logging.basicConfig(handlers=[handler], level=getattr(logging, level, logging.INFO), force=True)
    else:
        logging.basicConfig(format="%(message)s", stream=STDERR, level=getattr(logging, level, logging.INFO), force=True)
    for noisy in ("rq.worker", "rq.queue", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, getattr(logging, level, logging.INFO)))
    renderer = structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            mask_secrets,
            *EXTRA_PROCESSORS,
            structlog.processors.format_exc_info,
            redact_event_dict,  # after format_exc_info: tracebacks are redacted too
            mask_url_tokens,  # paths and URLs in events and tracebacks: /media/*** and ?token=***
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level, logging.INFO)),
        logger_factory=structlog.PrintLoggerFactory(file=cast(TextIO, STDERR)),  # duck-typed: write() and flush()
        cache_logger_on_first_use=False,
    )
