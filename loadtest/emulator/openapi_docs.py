"""``/docs``: Swagger UI over ``/openapi.json``, from the assets the ``swagger-ui-py``
package ships (Swagger UI 5, which renders OpenAPI 3.1; nothing is fetched at run time).

The page and its assets are open paths (the emulator's dialect, which asks for no
credentials), like ``/openapi.json``; the server binds loopback unless told otherwise.
Only the files the page needs are served, from the package's ``static`` folder, read once.
"""

from __future__ import annotations

from importlib import resources

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from loadtest.emulator.errors import ApiError
from loadtest.providers.onfleet import E_NOT_FOUND, MSG_NOT_FOUND

DOCS_PATH = "/docs"
STATIC = resources.files("swagger_ui").joinpath("static")

#: The assets the page references, with their media types.
ASSETS = {
    "swagger-ui.css": "text/css; charset=utf-8",
    "index.css": "text/css; charset=utf-8",
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui-standalone-preset.js": "text/javascript; charset=utf-8",
    "favicon-32x32.png": "image/png",
    "favicon-16x16.png": "image/png",
}

PAGE = f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>fleetsim emulator - API docs</title>
  <link rel="stylesheet" type="text/css" href="{DOCS_PATH}/swagger-ui.css">
  <link rel="stylesheet" type="text/css" href="{DOCS_PATH}/index.css">
  <link rel="icon" type="image/png" href="{DOCS_PATH}/favicon-32x32.png" sizes="32x32">
  <link rel="icon" type="image/png" href="{DOCS_PATH}/favicon-16x16.png" sizes="16x16">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="{DOCS_PATH}/swagger-ui-bundle.js" charset="UTF-8"></script>
  <script src="{DOCS_PATH}/swagger-ui-standalone-preset.js" charset="UTF-8"></script>
  <script>
    window.onload = function () {{
      window.ui = SwaggerUIBundle({{
        url: "/openapi.json",
        dom_id: "#swagger-ui",
        deepLinking: true,
        presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
        plugins: [SwaggerUIBundle.plugins.DownloadUrl],
        layout: "StandaloneLayout"
      }});
    }};
  </script>
</body>
</html>
"""


class DocsRoutes:
    """The page and its assets (each read from the package on first use)."""

    def __init__(self) -> None:
        self._cache: dict[str, bytes] = {}

    async def page(self, request: Request) -> Response:
        return HTMLResponse(PAGE)

    async def asset(self, request: Request) -> Response:
        name = request.path_params["name"]
        media = ASSETS.get(name)
        if media is None:
            raise ApiError(404, MSG_NOT_FOUND, error=E_NOT_FOUND, cause=f"no asset {name}")
        data = self._cache.get(name)
        if data is None:
            data = STATIC.joinpath(name).read_bytes()
            self._cache[name] = data
        return Response(data, media_type=media, headers={"Cache-Control": "max-age=3600"})

    def routes(self) -> list[BaseRoute]:
        return [
            Route(DOCS_PATH, self.page, methods=["GET"]),
            Route(f"{DOCS_PATH}/{{name}}", self.asset, methods=["GET"]),
        ]
