"""The shared JSON client: one status mapping, the API's message, the connector's name."""

from __future__ import annotations

import pytest
from werkzeug import Response

from hub.errors import AuthError, PermanentDeliveryError, RetriableDeliveryError
from outbound._http import JsonClient, api_message


@pytest.fixture
def client(httpserver):
    return JsonClient(httpserver.url_for(""), who="zendesk connector 'acme'", timeout=2)


@pytest.mark.parametrize(
    "status,headers,exc,retry_after",
    [
        (429, {"Retry-After": "7"}, RetriableDeliveryError, 7.0),
        (503, {}, RetriableDeliveryError, None),
        (401, {}, AuthError, None),
        (403, {}, AuthError, None),
        (404, {}, PermanentDeliveryError, None),
        (422, {}, PermanentDeliveryError, None),
    ],
)
def test_status_mapping(client, httpserver, status, headers, exc, retry_after):
    httpserver.expect_request("/api/x").respond_with_json({"error": "RecordInvalid", "description": "Requester email is invalid"}, status=status, headers=headers)
    with pytest.raises(exc) as err:
        client.post("/api/x", json={"secret": "do-not-echo"})
    text = str(err.value)
    assert "zendesk connector 'acme'" in text and f"HTTP {status}" in text and "Requester email is invalid" in text
    assert "do-not-echo" not in text
    if exc is RetriableDeliveryError:
        assert err.value.retry_after == retry_after
    else:
        assert not isinstance(err.value, RetriableDeliveryError)


def test_query_strings_are_not_echoed_and_html_answers_are_permanent(client, httpserver):
    httpserver.expect_request("/hook").respond_with_response(Response("<html>login</html>", status=200, content_type="text/html"))
    with pytest.raises(PermanentDeliveryError, match="not JSON.*base URL"):
        client.get("/hook?token=s3cret")
    httpserver.expect_request("/gone").respond_with_data("nope", status=410)
    with pytest.raises(PermanentDeliveryError) as err:
        client.get("/gone?token=s3cret")
    assert "s3cret" not in str(err.value) and "nope" in str(err.value)


def test_timeouts_are_retriable(httpserver):
    import time

    httpserver.expect_request("/slow").respond_with_handler(lambda r: (time.sleep(0.5), Response("{}"))[1])
    client = JsonClient(httpserver.url_for(""), who="zammad connector 'z'", timeout=0.1)
    with pytest.raises(RetriableDeliveryError, match="zammad connector 'z'.*timed out"):
        client.get("/slow")


def test_api_message_prefers_the_apis_error_fields():
    import httpx

    r = httpx.Response(400, json={"code": "invalid_value", "message": "Validation failed", "errors": [{"field": "email"}]})
    assert api_message(r) == 'Validation failed; [{"field":"email"}]'
    assert api_message(httpx.Response(500, text="x" * 1000)) == "x" * 300


def test_redirects_are_a_configuration_error(client, httpserver):
    httpserver.expect_request("/api/x").respond_with_data("", status=302, headers={"Location": "https://acme.example.com/login?next=/api/x"})
    with pytest.raises(PermanentDeliveryError, match=r"redirected \(HTTP 302\) to https://acme.example.com/login; check the base URL"):
        client.get("/api/x")
