"""Route templates compile as ASP.NET routing reads them."""

from __future__ import annotations

from devhost.appindex import compile_route


def _match(template: str, path: str) -> dict | None:
    regex, _ = compile_route(template)
    m = regex.match(path)
    return None if m is None else {k: v for k, v in m.groupdict().items() if v is not None}


def test_plain_optional_typed_and_catch_all_parameters() -> None:
    assert _match("runs/{id}", "runs/abc") == {"id": "abc"}
    assert _match("runs/{id}", "runs/abc/x") is None
    assert _match("runs/{id?}", "runs") == {}
    assert _match("items/{n:int}", "items/12") == {"n": "12"}
    assert _match("items/{n:int}", "items/x") is None
    assert _match("files/{*path}", "files/a/b/c.csv") == {"path": "a/b/c.csv"}
    assert _match("Runs/{id}", "runs/1") == {"id": "1"}  # case-insensitive, as the host
