"""Hostile request bodies, read safely: JSON objects only, of bounded size and depth, with a JSON content type.

Every problem is a ``BadInput`` with a short reason and the HTTP status to answer (400, 413 or 415); no
exception text from a parser ever reaches a reply.
"""

from __future__ import annotations

import json
from typing import Any

import azure.functions as func

MAX_BODY_BYTES = 64 * 1024
MAX_DEPTH = 16
MAX_TEXT = 1024  # longest string field a request may carry (blob names, idempotency keys)


class BadInput(ValueError):
    """A request the app refuses; ``status`` is the 4xx to answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _depth(raw: bytes) -> int:
    """The deepest nesting of arrays/objects in JSON text (strings skipped), without parsing it."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return deepest


def json_object(req: func.HttpRequest, example: str) -> dict[str, Any]:
    """The request body as a JSON object; ``example`` shows the expected shape in the error."""
    ctype = (req.headers.get("content-type") or "").split(";")[0].strip().lower()
    if ctype != "application/json" and not ctype.endswith("+json"):
        given = repr(ctype[:60]) if ctype else "a body without a Content-Type"
        raise BadInput(f"the body must be application/json, not {given}", 415)
    raw = req.get_body() or b""
    if len(raw) > MAX_BODY_BYTES:
        raise BadInput(f"the body is over {MAX_BODY_BYTES} bytes", 413)
    if _depth(raw) > MAX_DEPTH:
        raise BadInput(f"the body nests deeper than {MAX_DEPTH} levels")
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise BadInput(f"the body must be JSON: {example}") from None
    if not isinstance(body, dict):
        raise BadInput(f"the body must be a JSON object: {example}, not {type(body).__name__}")
    return body


def text_field(body: dict[str, Any], name: str, required: bool = True) -> str | None:
    """A string field of at most ``MAX_TEXT`` characters (None when optional and absent)."""
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise BadInput(f"field {name!r}: expected a non-empty string, got {type(value).__name__}")
    if len(value) > MAX_TEXT or any(ord(c) < 32 for c in value):
        raise BadInput(f"field {name!r}: at most {MAX_TEXT} printable characters")
    return value


def error(message: str, status: int = 400) -> func.HttpResponse:
    return func.HttpResponse(json.dumps({"error": message}), status_code=status, mimetype="application/json",
                             headers={"Cache-Control": "no-store"})
