"""The console function serves its own static files only, with a strict content security policy."""

from __future__ import annotations

from typing import Any

from local.proxy_events import api_event


def _get(handler: Any, context: Any, proxy: str | None, path: str) -> dict[str, Any]:
    if proxy is None:
        event = api_event("GET", "/console", api_key_id=None)
    else:
        event = api_event("GET", "/console/{proxy+}", path_params={"proxy": proxy}, api_key_id=None)
    event["path"] = path
    return dict(handler.lambda_handler(event, context))


def test_index_assets_redirect_and_refusals(handler_env: Any, lambda_context: Any) -> None:
    handler = handler_env("console")
    index = _get(handler, lambda_context, "", "/console/")
    assert index["statusCode"] == 200 and index["headers"]["Content-Type"].startswith("text/html")
    assert "default-src 'self'" in index["headers"]["Content-Security-Policy"]
    assert '<script src="console.js"' in index["body"]
    script = _get(handler, lambda_context, "console.js", "/console/console.js")
    assert script["statusCode"] == 200 and script["headers"]["Content-Type"].startswith("text/javascript")
    redirect = _get(handler, lambda_context, None, "/console")
    assert redirect["statusCode"] == 301 and redirect["headers"]["Location"] == "console/"
    for name in ("../console.py", "..%2Fconsole.py", ".hidden", "nope.html", "console.py", "a/../../x.js"):
        assert _get(handler, lambda_context, name, f"/console/{name}")["statusCode"] == 404, name


def test_every_file_the_page_loads_is_served(handler_env: Any, lambda_context: Any) -> None:
    import re

    handler = handler_env("console")
    index = _get(handler, lambda_context, "", "/console/")["body"]
    assets = re.findall(r'(?:src|href)="([a-z_]+\.(?:js|css))"', index)
    assert assets
    for asset in assets:
        assert _get(handler, lambda_context, asset, f"/console/{asset}")["statusCode"] == 200, asset
