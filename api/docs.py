"""API docs that work offline: Swagger UI at ``/docs`` and Redoc at ``/redoc``.

Their scripts, styles and icon come from the ``fastapi-offline`` package (pinned
like every dependency) and are served by the gateway itself, so the pages load
without any CDN: no request leaves for another host (``tests/test_pages_offline.py``).

Redoc's bundle also loads its "API docs by Redocly" logo from cdn.redoc.ly, with
no option to turn that off; the gateway serves the bundle with that one URL
emptied (the image then hides itself, the link stays).
"""

from functools import cache
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI, Request, Response
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = Path(fastapi_offline.__file__).parent / "static"
ASSETS_URL = "/docs-assets"
REDOC_URL = "/docs-redoc.js"
REDOC_LOGO = b'src:"https://cdn.redoc.ly/redoc/logo-mini.svg"'

SWAGGER_UI_PARAMETERS = {"validatorUrl": None}  # no badge fetched from validator.swagger.io


@cache
def redoc_bundle() -> bytes:
    """Redoc's standalone bundle, without the logo it would fetch from its CDN."""
    return (ASSETS / "redoc.standalone.js").read_bytes().replace(REDOC_LOGO, b'src:""')


def install(app: FastAPI) -> None:
    """Add ``/docs`` and ``/redoc``, and serve the assets they load."""
    assert app.openapi_url is not None
    openapi_url = app.openapi_url
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS), name="docs-assets")

    @app.get(REDOC_URL, include_in_schema=False)
    async def redoc_js() -> Response:
        headers = {"Cache-Control": "public, max-age=3600"}
        return Response(redoc_bundle(), media_type="text/javascript", headers=headers)

    def _root(request: Request) -> str:
        return str(request.scope.get("root_path", "")).rstrip("/")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = _root(request)
        return get_swagger_ui_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} API",
            swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            oauth2_redirect_url=None,
            swagger_ui_parameters=SWAGGER_UI_PARAMETERS,
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = _root(request)
        return get_redoc_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} API",
            redoc_js_url=root + REDOC_URL,
            redoc_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            with_google_fonts=False,
        )
