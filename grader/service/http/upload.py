"""Reading an upload: capped before anything else, multipart or a raw body."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from pathlib import PurePosixPath

from fastapi import Request
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException, MultiPartParser

from ..callback_policy import MAX_URL

MULTIPART_SLACK = 16 * 1024  # boundaries, part headers and the small form fields
MAX_LABEL = 200


def too_large(limit: int, size: int | None = None) -> HTTPException:
    what = "The file is larger" if size is None else f"The file is {size} bytes, larger"
    return HTTPException(413, f"{what} than the limit of {limit} bytes.",
                         headers={"X-Limit": str(limit)})  # fmt: skip


async def read_capped(request: Request, limit: int) -> bytes:
    """The request body, refused (413) as soon as it is larger than a file of ``limit``
    bytes could make it: it is never read past that."""
    cap = limit + MULTIPART_SLACK
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > cap:
        raise too_large(limit)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > cap:
            raise too_large(limit)
    return bytes(body)


async def parse_upload(request: Request, body: bytes) -> tuple[bytes, str | None, dict[str, str]]:
    """(file bytes, file name, other form fields) from multipart or a raw body."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        return body, None, {}

    async def stream() -> AsyncGenerator[bytes, None]:
        yield body

    parser = MultiPartParser(
        request.headers, stream(), max_files=1, max_fields=10, max_part_size=MAX_URL * 2
    )
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise HTTPException(422, f"Malformed multipart body: {exc.message}") from None
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise HTTPException(422, "The multipart body has no file field named 'file'.")
    data = await upload.read()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    await form.close()
    return data, upload.filename, fields


async def read_source(request: Request, limit: int) -> tuple[bytes, str | None, dict[str, str]]:
    """The submitted file, its name and the other form fields, under the service's limit:
    what ``POST /v1/submissions`` and the student pages both read an upload with."""
    source, name, fields = await parse_upload(request, await read_capped(request, limit))
    if len(source) > limit:
        raise too_large(limit, len(source))
    return source, name, fields


def clean_filename(name: str | None) -> str:
    """The upload's base name (no folders), printable, at most 255 characters."""
    base = PurePosixPath((name or "").replace("\\", "/")).name
    base = "".join(c if c.isprintable() else "_" for c in base)[:255]
    return base or "minigpt.py"


def check_label(value: str | None, what: str, limit: int = MAX_LABEL) -> str | None:
    if value is None or value == "":
        return None
    if len(value) > limit or not value.isprintable():
        raise HTTPException(422, f"{what} must be printable text of at most {limit} characters.")
    return value
