"""The web page and JSON API over one index (FastAPI; ``polysense serve INDEX_DIR``).

Routes (the JSON API is described by its OpenAPI schema at ``/docs`` and ``/openapi.json``):

- ``GET /``: the page (type a query, upload a sound or picture, click a result to search by it);
- ``GET /api/info``: the index (size, modalities, index type);
- ``GET /api/search?q=TEXT|like=ID&k=10&dedupe=0.95``: ranked results;
- ``POST /api/search/upload`` (multipart ``file``): search by a sound or a picture;
- ``GET /api/files/{file_id}/media``: an indexed audio or image file;
- ``GET /api/files/{file_id}/spectrogram.png?start_s=&end_s=``: a thumbnail of indexed audio.

Safety:

- a file is named by its integer id in the index, never by a path, and is served only when its
  real path (symbolic links resolved) lies inside the indexed collection and it is a regular file
  that was indexed as audio or an image;
- uploads are capped (``max_upload_bytes``, by default the ``POLYSENSE_MAX_UPLOAD_BYTES`` limit of
  :mod:`polysense.limits`, 100 MiB: 413 above) and accepted only when
  they decode as audio (libsndfile) or an image (Pillow); the file name and declared type are ignored;
- every error is a JSON ``{"detail": ...}`` with a 4xx status (500 with no detail for a bug),
  never a stack trace;
- the index is opened read-only; ``polysense serve`` binds 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import mimetypes
from importlib import resources
from pathlib import Path
from typing import Any, get_type_hints

from fastapi import FastAPI, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, create_model
from starlette.exceptions import HTTPException as StarletteHTTPException

from polysense._checks import check_positive_int
from polysense.errors import AudioError, PolysenseError
from polysense.image import ImageError
from polysense.limits import current
from polysense.search.index import Hit, Index, decode_audio, decode_image
from polysense.search.thumbnails import spectrogram_png

__all__ = ["BackgroundServer", "create_app", "serve"]

MAX_K = 100
_MULTIPART_OVERHEAD = 64 * 1024


# built from Hit's fields: one definition, so the JSON API cannot drift from the library's results
Result = create_model(
    "Result",
    __doc__="One ranked result (see :class:`polysense.search.Hit`) with the URLs of its media.",
    **{name: (kind, ...) for name, kind in get_type_hints(Hit).items()},
    media_url=(str | None, ...),
    spectrogram_url=(str | None, ...),
)


class SearchResponse(BaseModel):
    query: dict[str, Any]
    results: list[Result]


class Info(BaseModel):
    vectors: int
    modalities: list[str]
    index: dict[str, Any]
    model: str
    max_upload_bytes: int



def _page() -> str:
    return resources.files("polysense.search").joinpath("static/index.html").read_text(encoding="utf-8")


def create_app(index: Index, *, max_upload_bytes: int | None = None) -> FastAPI:
    """A FastAPI app searching ``index`` (see the module docstring).

    ``max_upload_bytes``: the largest upload accepted (default: the ``POLYSENSE_MAX_UPLOAD_BYTES``
    limit of :mod:`polysense.limits`, 100 MiB).
    """
    max_upload_bytes = (current().max_upload_bytes if max_upload_bytes is None
                        else check_positive_int("max_upload_bytes", max_upload_bytes))
    root = index.root.resolve()
    app = FastAPI(title="polysense search", version="1",
                  description="Search an indexed collection of sounds, images and texts by text, sound, picture or item.")

    def error(status: int, detail: str) -> JSONResponse:
        return JSONResponse(status_code=status, content={"detail": detail})

    @app.exception_handler(PolysenseError)
    async def _bad_input(request: Request, exc: PolysenseError) -> JSONResponse:
        return error(400, str(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors()]
        return error(422, "; ".join(problems) or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error(exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:  # never leak a traceback
        return error(500, "internal error")

    @app.middleware("http")
    async def _cap_body(request: Request, call_next):
        length = request.headers.get("content-length")
        if length is not None:
            if not length.isdigit():
                return error(400, "invalid Content-Length header")
            if int(length) > max_upload_bytes + _MULTIPART_OVERHEAD:
                return error(413, f"the upload is larger than the limit of {max_upload_bytes} bytes")
        return await call_next(request)

    def results(hits: list[Hit]) -> list[Result]:
        out = []
        for h in hits:
            media = f"/api/files/{h.file_id}/media" if h.kind in ("audio", "image") and h.path else None
            spec = None
            if h.kind == "audio" and h.path:
                spec = f"/api/files/{h.file_id}/spectrogram.png"
                if h.start_s is not None:
                    spec += f"?start_s={h.start_s:.3f}&end_s={h.end_s:.3f}"
            out.append(Result(**h.to_dict(), media_url=media, spectrogram_url=spec))
        return out

    def safe_file(file_id: int, kinds: tuple[str, ...]) -> tuple[Path, dict[str, Any]]:
        row = index.file(file_id)
        if row is None or row["path"] is None or row["kind"] not in kinds:
            raise HTTPException(404, f"no indexed {' or '.join(kinds)} file has id {file_id}")
        path = (root / row["path"]).resolve()
        # the stored path came from the indexer, but the collection may have changed since
        if not path.is_relative_to(root) or not path.is_file():
            raise HTTPException(404, f"file {file_id} is no longer available inside the collection")
        return path, row

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> HTMLResponse:
        return HTMLResponse(_page())

    @app.get("/api/info", response_model=Info)
    async def info() -> Info:
        modalities = index.meta["settings"]["modalities"]
        return Info(vectors=len(index), modalities=modalities, index=index.meta["index"],
                    model=index.meta["model"]["fingerprint"][:12], max_upload_bytes=max_upload_bytes)

    @app.get("/api/search", response_model=SearchResponse)
    def search(
        q: str | None = Query(None, max_length=1000, description="a text query"),
        like: str | None = Query(None, max_length=2000, description="search by an indexed item (its item_id)"),
        k: int = Query(10, ge=1, le=MAX_K),
        dedupe: float | None = Query(None, ge=0.0, le=1.0, description="hide results at least this similar"),
    ) -> SearchResponse:
        if (q is None) == (like is None):
            raise HTTPException(400, "give exactly one of q (text) or like (an item id)")
        hits = index.search(text=q, like=like, k=k, dedupe=dedupe)
        return SearchResponse(query={"q": q, "like": like, "k": k, "dedupe": dedupe}, results=results(hits))

    @app.post("/api/search/upload", response_model=SearchResponse)
    def search_upload(
        file: UploadFile = File(..., description="a sound or a picture (decoded by content)"),
        k: int = Form(10, ge=1, le=MAX_K),
        dedupe: float | None = Form(None, ge=0.0, le=1.0),
    ) -> SearchResponse:
        data = bytearray()
        while chunk := file.file.read(1 << 16):  # a sync route: runs in the thread pool, not the event loop
            data += chunk
            if len(data) > max_upload_bytes:
                raise HTTPException(413, f"the upload is larger than the limit of {max_upload_bytes} bytes")
        if not data:
            raise HTTPException(400, "the upload is empty")
        kind, decoded = _decode_upload(bytes(data), index)
        hits = index.search(**{kind: decoded}, k=k, dedupe=dedupe)
        return SearchResponse(query={"upload": kind, "bytes": len(data), "k": k, "dedupe": dedupe},
                              results=results(hits))

    @app.get("/api/files/{file_id}/media", response_class=FileResponse)
    def media(file_id: int) -> FileResponse:
        path, row = safe_file(file_id, ("audio", "image"))
        media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return FileResponse(path, media_type=media_type, content_disposition_type="inline",
                            headers={"X-Content-Type-Options": "nosniff"})

    @app.get("/api/files/{file_id}/spectrogram.png", response_class=Response)
    def spectrogram(file_id: int, start_s: float = Query(0.0, ge=0.0), end_s: float | None = Query(None, gt=0.0)):
        path, _ = safe_file(file_id, ("audio",))
        try:
            png = spectrogram_png(path, start_s=start_s, end_s=end_s)
        except (OSError, RuntimeError, ValueError) as exc:
            raise HTTPException(404, f"file {file_id} cannot be read as audio ({type(exc).__name__})") from None
        return Response(png, media_type="image/png")

    return app


def _decode_upload(data: bytes, index: Index) -> tuple[str, Any]:
    """``("audio"|"image", decoded tensor)`` by content, for a modality the index's model embeds."""
    modalities = index.meta["settings"]["modalities"]
    settings = index.meta["settings"]
    tried = []
    if "audio" in modalities:
        try:
            return "audio", decode_audio(data, sample_rate=int(settings["sample_rate"]))
        except AudioError as exc:
            tried.append(str(exc))
    if "image" in modalities:
        try:
            return "image", decode_image(data, size=tuple(settings["image_size"]))
        except ImageError as exc:
            tried.append(str(exc))
    accepted = " or ".join(m for m in ("audio", "image") if m in modalities) or "nothing (a text-only model)"
    raise HTTPException(415, f"the upload is not something this index searches by (accepts {accepted}): "
                             + "; ".join(tried))


def serve(index: Index, *, host: str = "127.0.0.1", port: int = 8000,
          max_upload_bytes: int | None = None) -> None:  # pragma: no cover - blocking
    """Run the app with uvicorn (127.0.0.1 by default: reachable from this machine only)."""
    import uvicorn

    uvicorn.run(create_app(index, max_upload_bytes=max_upload_bytes), host=host, port=port, log_level="info")


class BackgroundServer:
    """Serve an app on this machine in a background thread, for as long as a ``with`` block runs
    (a notebook that keeps working while its index's page is open; the load benchmark)::

        with BackgroundServer(create_app(index)) as server:
            print(server.url)  # http://127.0.0.1:PORT

    Binds 127.0.0.1 (reachable from this machine only) on ``port``, by default a free one chosen
    by the system; raises :class:`RuntimeError` when uvicorn has not started within ``start_timeout_s``.
    """

    def __init__(self, app: FastAPI, *, port: int = 0, start_timeout_s: float = 20.0) -> None:
        import socket
        import threading

        import uvicorn

        if not port:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
        self.port = check_positive_int("port", port, maximum=65535)
        self.url = f"http://127.0.0.1:{self.port}"
        self.start_timeout_s = start_timeout_s
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> BackgroundServer:
        import time

        self.thread.start()
        deadline = time.monotonic() + self.start_timeout_s
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                self.server.should_exit = True
                raise RuntimeError(f"the server on {self.url} did not start within {self.start_timeout_s:g} s")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
