"""Prometheus metrics at /metrics: request counters plus work-state gauges read from SQL."""

from __future__ import annotations

import hmac

from flask import Blueprint, Response, current_app, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select

bp = Blueprint("metrics", __name__)
registry = CollectorRegistry()
REQUESTS = Counter("omnihub_http_requests_total", "HTTP requests", ["route", "status"], registry=registry)
LATENCY = Histogram("omnihub_http_request_seconds", "HTTP request latency", ["route"], registry=registry,
                    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5))


def observe(req, resp, seconds: float) -> None:
    route = req.url_rule.rule if req.url_rule else "unmatched"
    REQUESTS.labels(route, str(resp.status_code)).inc()
    LATENCY.labels(route).observe(seconds)


class WorkCollector:
    def __init__(self) -> None:
        self.rt = None

    def collect(self):
        if self.rt is None:
            return
        from hub.models import Conversation, Delivery, InboundEvent, Reply

        g = GaugeMetricFamily("omnihub_work_items", "Work items by table and state", labels=["table", "state"])
        c = GaugeMetricFamily("omnihub_conversations", "Conversations by status", labels=["status"])
        try:
            with self.rt.db.read() as s:
                for name, model in (("inbound_events", InboundEvent), ("deliveries", Delivery), ("replies", Reply)):
                    for state, n in s.execute(select(model.state, func.count()).group_by(model.state)):
                        g.add_metric([name, state], n)
                for status, n in s.execute(select(Conversation.status, func.count()).group_by(Conversation.status)):
                    c.add_metric([status], n)
            from hub import health

            h = GaugeMetricFamily("omnihub_connector_healthy", "1 when the connector works, 0 when it cannot authenticate or has failed too long",
                                  labels=["connector", "kind"])
            for item in health.statuses(self.rt):
                h.add_metric([item["name"], item["kind"]], 1 if item["healthy"] else 0)
        except Exception:
            return
        yield g
        yield c
        yield h


_collector = WorkCollector()
registry.register(_collector)


def _authorized(expected: str) -> bool:
    """OMNIHUB_METRICS_TOKEN unset: open, as before; set: ``Authorization: Bearer <token>``."""
    if not expected:
        return True
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), expected.encode())


@bp.get("/metrics")
def metrics():
    rt = current_app.extensions["omnihub"]
    if not _authorized(rt.settings.metrics_token):
        resp = jsonify({"error": "missing or wrong bearer token (OMNIHUB_METRICS_TOKEN is set)"})
        resp.status_code = 401
        resp.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return resp
    _collector.rt = rt
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
