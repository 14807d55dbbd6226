"""QR codes of the pages' addresses, drawn on the server so a projector needs no network."""

from __future__ import annotations

import io

import segno


def qr_svg(url: str) -> bytes:
    """A QR code of ``url`` as a black-on-white SVG with a quiet zone."""
    out = io.BytesIO()
    segno.make(url, error="m").save(out, kind="svg", scale=8, border=2, dark="#000", light="#fff")
    return out.getvalue()
