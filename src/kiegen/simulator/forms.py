"""Just enough multipart/form-data parsing for the simulator's stream-upload route (no python-multipart)."""

from __future__ import annotations

import re

import attrs

__all__ = ["FormFile", "parse_multipart"]

_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)
_PARAM = re.compile(r'(\w+)="([^"]*)"')


@attrs.frozen
class FormFile:
    filename: str
    data: bytes
    content_type: str


def parse_multipart(body: bytes, content_type: str) -> dict[str, str | FormFile]:
    """Fields by name: text fields as ``str``, file fields as ``FormFile``. Unreadable input gives ``{}``."""
    match = _BOUNDARY.search(content_type)
    if not content_type.lower().startswith("multipart/form-data") or match is None:
        return {}
    delimiter = b"--" + match.group(1).encode("latin-1")
    fields: dict[str, str | FormFile] = {}
    for section in body.split(delimiter)[1:]:
        if section.startswith(b"--"):
            break
        head, sep, content = section.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        if not sep:
            continue
        content = content.removesuffix(b"\r\n")
        headers: dict[str, str] = {}
        for line in head.decode("latin-1").split("\r\n"):
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        params = dict(_PARAM.findall(headers.get("content-disposition", "")))
        name = params.get("name", "")
        if not name:
            continue
        if "filename" in params:
            kind = headers.get("content-type", "application/octet-stream")
            fields[name] = FormFile(params["filename"], content, kind)
        else:
            fields[name] = content.decode("utf-8", errors="replace")
    return fields
