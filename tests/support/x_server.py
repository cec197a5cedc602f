"""A local X API v2 for tests: checks each request against X's documented contract
(method, path, query parameters, OAuth 1.0a signature or bearer token, JSON body) and
answers with recorded responses. Built on pytest-httpserver; tweepy is pointed at it
through the connector's ``api_base_url``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from oauthlib.oauth1.rfc5849 import signature as oauth_signature
from oauthlib.oauth1.rfc5849.utils import escape
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

CREDS = {
    "consumer_key": "ck-test",
    "consumer_secret": "cs-test",
    "access_token": "at-test",
    "access_token_secret": "ats-test",
}


def verify_oauth1(request: Request, consumer_secret: str, token_secret: str, consumer_key: str, token: str) -> None:
    """Recompute the HMAC-SHA1 OAuth 1.0a signature of request (RFC 5849 section 3.4)."""
    header = request.headers.get("Authorization", "")
    assert header.startswith("OAuth "), f"expected OAuth 1.0a user context, got {header[:20]!r}"
    params = dict(oauth_signature.collect_parameters(headers={"Authorization": header}, exclude_oauth_signature=False))
    assert params.get("oauth_consumer_key") == consumer_key
    assert params.get("oauth_token") == token
    assert params.get("oauth_signature_method") == "HMAC-SHA1"
    collected = oauth_signature.collect_parameters(
        uri_query=request.query_string.decode(), headers={"Authorization": header}, exclude_oauth_signature=True
    )
    base = oauth_signature.signature_base_string(
        request.method,
        oauth_signature.base_string_uri(request.base_url),
        oauth_signature.normalize_parameters(collected),
    )
    key = f"{escape(consumer_secret)}&{escape(token_secret)}".encode()
    expected = base64.b64encode(hmac.new(key, base.encode(), hashlib.sha1).digest()).decode()
    assert params["oauth_signature"] == expected, "OAuth 1.0a signature does not verify"


@dataclass
class Call:
    method: str
    path: str
    args: dict[str, str]
    json: Any
    at: float


@dataclass
class XApi:
    server: HTTPServer
    clock: Callable[[], float]
    creds: Mapping[str, str] = field(default_factory=lambda: dict(CREDS))
    bearer: str | None = None  # expect this bearer token instead of OAuth 1.0a
    calls: list[Call] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return self.server.url_for("/").rstrip("/")

    def rate_headers(self, remaining: int = 299, reset_in: float = 900) -> dict[str, str]:
        return {
            "x-rate-limit-limit": "300",
            "x-rate-limit-remaining": str(remaining),
            "x-rate-limit-reset": str(int(self.clock() + reset_in)),
        }

    def expect(
        self,
        method: str,
        path: str,
        *,
        response: Any,
        status: int = 200,
        args: Mapping[str, str | None] | None = None,
        fields: Mapping[str, Iterable[str]] | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        always: bool = False,
    ) -> None:
        """Expect the next request (in order; ``always``: any number of times, any order).

        ``args`` value None means "must be absent"; ``headers`` value None leaves that
        response header out.
        """

        def handler(request: Request) -> Response:
            self._check_auth(request)
            got = dict(parse_qsl(request.query_string.decode(), keep_blank_values=True))
            for name, value in (args or {}).items():
                if value is None:
                    assert name not in got, f"{method} {path}: unexpected {name}={got.get(name)!r}"
                else:
                    assert got.get(name) == value, f"{method} {path}: {name}={got.get(name)!r}, expected {value!r}"
            for name, needed in (fields or {}).items():
                have = set(filter(None, got.get(name, "").split(",")))
                missing = set(needed) - have
                assert not missing, f"{method} {path}: {name} lacks {sorted(missing)}"
            if "max_results" in got:
                assert 1 <= int(got["max_results"]) <= 100
            payload = None
            if method in ("POST", "PUT"):
                assert request.mimetype == "application/json", f"{method} {path}: content type {request.mimetype!r}"
                payload = request.get_json()
            if json_body is not None:
                assert payload == json_body, f"{method} {path}: body {payload!r}, expected {json_body!r}"
            self.calls.append(Call(method, request.path, got, payload, self.clock()))
            out = {"content-type": "application/json; charset=utf-8", **self.rate_headers(), **(headers or {})}
            out = {k: v for k, v in out.items() if v is not None}  # None: header left out
            return Response(json.dumps(response), status=status, headers=out)

        if always:
            self.server.expect_request(path, method=method).respond_with_handler(handler)
        else:
            self.server.expect_ordered_request(path, method=method).respond_with_handler(handler)

    def _check_auth(self, request: Request) -> None:
        if self.bearer:
            assert request.headers.get("Authorization") == f"Bearer {self.bearer}"
            return
        verify_oauth1(
            request,
            self.creds["consumer_secret"],
            self.creds["access_token_secret"],
            self.creds["consumer_key"],
            self.creds["access_token"],
        )
