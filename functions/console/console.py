"""GET /console and GET /console/{proxy+}: the web console's static files, served by the API itself.

Same origin as the API (locally and on execute-api), so the page calls the API without CORS. The
files are plain HTML, JavaScript and CSS shipped with this function (no build step, nothing fetched
from elsewhere); the API key never reaches this function: the page keeps it in session storage.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

STATIC = Path(__file__).resolve().parent / "static"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
# The page talks only to its own origin; media (recordings) may come from the recording's host.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "media-src * blob: data:; connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

__all__ = ["lambda_handler", "resolve_asset"]


def resolve_asset(proxy: str | None) -> Path | None:
    """The file under ``static/`` a request names, or None (unknown, or trying to leave the folder)."""
    name = (proxy or "").strip("/") or "index.html"
    parts = PurePosixPath(name).parts
    if any(part in ("..", ".") or part.startswith(".") for part in parts):
        return None
    path = STATIC.joinpath(*parts)
    if not path.is_file() or path.suffix not in CONTENT_TYPES:
        return None
    return path


def _not_found() -> dict[str, Any]:
    return {
        "statusCode": 404,
        "headers": {"Content-Type": "application/json"},
        "body": '{"error": "not_found", "message": "no such console page"}',
    }


def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    path = str(event.get("path") or "")
    parameters = event.get("pathParameters") or {}
    if "proxy" not in parameters and not path.endswith("/"):
        # /console -> /console/ (relative, so a stage or base path in front is kept)
        return {"statusCode": 301, "headers": {"Location": "console/"}, "body": ""}
    asset = resolve_asset(parameters.get("proxy"))
    if asset is None:
        return _not_found()
    return {
        "statusCode": 200,
        "headers": {"Content-Type": CONTENT_TYPES[asset.suffix], **SECURITY_HEADERS},
        "body": asset.read_text(encoding="utf-8"),
    }
