"""``healthtwin serve``: the web service (FHIR REST facade) over the store."""

from __future__ import annotations

from typing import Annotated

import typer

from healthtwin.errors import MissingDependencyError

__all__ = ["serve"]


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    database: Annotated[
        str | None,
        typer.Option(help="Database URL (default: $HEALTHTWIN_DATABASE_URL or a SQLite file)."),
    ] = None,
) -> None:
    """Serve the FHIR R4 API at http://HOST:PORT/fhir until interrupted."""
    try:
        import uvicorn

        from healthtwin.api.app import create_app
    except ImportError as err:
        raise MissingDependencyError(
            "the web service needs the api extra: pip install 'healthtwin[api]'"
        ) from err
    from healthtwin.store import open_store

    app = create_app(open_store(database), base_url=f"http://{host}:{port}/fhir")
    uvicorn.run(app, host=host, port=port, log_level="info")
