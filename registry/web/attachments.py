"""A stored upload (evidence, a submission's attachment) sent back as a download."""

from __future__ import annotations

import io
from pathlib import Path

from flask import Response, send_file

from registry.services.evidence import EXTENSIONS


def stored_download(path: Path, media_type: str, sha256: str, original_name: str) -> Response:
    """The file as an attachment, named as uploaded (else by its hash and type), never
    cached. Read whole (uploads are at most MAX_UPLOAD_BYTES): no file handle outlives the
    request, whoever the client."""
    return send_file(
        io.BytesIO(path.read_bytes()),
        mimetype=media_type,
        as_attachment=True,
        download_name=original_name or f"{sha256[:12]}.{EXTENSIONS[media_type]}",
        max_age=0,
    )
