"""Baseline jobs and apps for the benchmarks."""

from __future__ import annotations

from flask import Flask, request


def noop(key: str) -> None:
    """An RQ no-op job (it only counts itself, so the run knows when all are done)."""
    from rq import get_current_job

    get_current_job().connection.incr(key)


bare = Flask("bare")


@bare.post("/webhooks/<name>/<hook>")
def bare_webhook(name: str, hook: str):
    request.get_data()
    return {"ok": True}
