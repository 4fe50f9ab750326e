"""Schemathesis hooks for test_openapi_schemathesis.py (loaded through SCHEMATHESIS_HOOKS): one
check beyond schemathesis' own, the gateway's promise that the API answers in JSON."""
import json

import schemathesis

# The operations whose documented answers are not JSON.
TEXT_PATHS = {"/healthz", "/readyz", "/metrics"}


@schemathesis.check
def api_answers_in_json(ctx, response, case):
    """Every answer of the API is a JSON body (errors in OpenAI's shape, `{"error": {...}}`),
    except a stream that started (`text/event-stream`) and the plain-text health endpoints."""
    content_type = (response.headers.get("content-type") or [""])[0]
    if case.operation.path in TEXT_PATHS:
        # Another method there is the plain router's empty 404 (the operations port is every
        # service's own, not the API's); GET answers text, or JSON for a connection refused.
        if case.method.upper() != "GET" or content_type.startswith("text/plain"):
            return None
    if response.status_code == 200 and content_type.startswith("text/event-stream"):
        body = case.body if isinstance(case.body, dict) else {}
        if body.get("stream") is not True:
            raise AssertionError("an event stream answered a request that did not ask for one")
        return None
    if not content_type.startswith("application/json"):
        raise AssertionError(f"{response.status_code} with content-type {content_type!r}, not JSON")
    try:
        document = json.loads(response.content)
    except ValueError as error:
        raise AssertionError(f"{response.status_code} body is not JSON: {error}") from None
    if response.status_code >= 400:
        detail = document.get("error") if isinstance(document, dict) else None
        if not isinstance(detail, dict) or not isinstance(detail.get("message"), str) \
                or not isinstance(detail.get("type"), str):
            raise AssertionError(f"{response.status_code} body is not OpenAI's error shape: {document!r}")
    return None
