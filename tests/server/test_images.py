"""Images: the upload allowlist and limits, EXIF orientation, downloads and thumbnails, listing with
allowlisted filters and keyset pages, assignment, and comments."""

from __future__ import annotations

import dataclasses
import io
import struct
import zlib

import numpy as np
from fastapi.testclient import TestClient
from PIL import Image, ImageOps

from seglab.api.app import create_app
from tests.server.conftest import World, image_bytes, unique


def _upload(client, pid: int, *files: tuple[str, bytes]):
    return client.post(
        f"/api/projects/{pid}/images", files=[("files", (n, d, "application/octet-stream")) for n, d in files]
    )


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def pixel_bomb() -> bytes:
    """A 200-byte PNG that declares 50,000 x 50,000 RGB pixels."""
    header = struct.pack(">IIBBBBB", 50_000, 50_000, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + _png_chunk(b"IEND", b"")
    )


def _gradient_jpeg(width: int, height: int, orientation: int) -> bytes:
    y, x = np.mgrid[0:height, 0:width]
    pixels = np.stack([x * 255 // width, y * 255 // height, np.full_like(x, 60)], axis=2).astype(np.uint8)
    exif = Image.Exif()
    exif[0x0112] = orientation
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="JPEG", quality=95, exif=exif.tobytes())
    return out.getvalue()


def test_upload_stores_the_file_and_serves_it_with_a_server_decided_type(world: World) -> None:
    owner = world.user("owner")
    pid = world.project(owner)
    data = image_bytes((32, 24), seed=5)
    r = _upload(owner, pid, ("folder/scene <1>.png", data))
    assert r.status_code == 201, r.text
    image = r.json()[0]
    assert (image["width"], image["height"], image["media_type"]) == (32, 24, "image/png")
    assert image["file_name"] == "folder/scene <1>.png" and image["status"] == "new"
    url = f"/api/projects/{pid}/images/{image['id']}/file"
    got = owner.get(url)
    assert got.status_code == 200 and got.content == data
    assert got.headers["content-type"] == "image/png" and got.headers["x-content-type-options"] == "nosniff"
    assert got.headers["content-disposition"].startswith("attachment;")
    assert owner.get(url, headers={"If-None-Match": got.headers["etag"]}).status_code == 304
    thumb = owner.get(f"/api/projects/{pid}/images/{image['id']}/thumbnail", params={"size": 128})
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    assert (
        owner.get(f"/api/projects/{pid}/images/{image['id']}/thumbnail", params={"size": 99}).status_code
        == 422
    )


def test_exif_orientation_is_applied_once_at_upload(world: World) -> None:
    owner = world.user("owner")
    pid = world.project(owner)
    data = _gradient_jpeg(200, 100, orientation=6)  # stored sideways, shown rotated 90 degrees clockwise
    image = _upload(owner, pid, ("phone.jpg", data)).json()[0]
    assert (image["width"], image["height"]) == (100, 200)
    stored = owner.get(f"/api/projects/{pid}/images/{image['id']}/file").content
    with Image.open(io.BytesIO(stored)) as img:
        assert img.size == (100, 200) and img.getexif().get(0x0112, 1) == 1
        upright = np.asarray(img.convert("RGB"), dtype=np.int16)
    with Image.open(io.BytesIO(data)) as original:
        expected = np.asarray(ImageOps.exif_transpose(original).convert("RGB"), dtype=np.int16)
    assert np.abs(upright - expected).mean() < 3.0  # the same picture, re-encoded once
    thumb = owner.get(f"/api/projects/{pid}/images/{image['id']}/thumbnail", params={"size": 128}).content
    with Image.open(io.BytesIO(thumb)) as img:
        assert img.size == (64, 128)


def test_hostile_and_broken_uploads_are_refused_and_nothing_is_added(world: World) -> None:
    owner = world.user("owner")
    pid = world.project(owner)
    jpeg = image_bytes((64, 64), fmt="JPEG", seed=1)
    png = image_bytes((8, 8), seed=2)
    bad_crc = bytearray(png)
    bad_crc[-20] ^= 0xFF  # inside the IDAT data: its CRC no longer matches
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    gif = io.BytesIO()
    Image.new("RGB", (4, 4)).save(gif, format="GIF")
    cases = {
        "bomb.png": (pixel_bomb(), 413),
        "logo.svg": (svg, 415),
        "anim.gif": (gif.getvalue(), 415),
        "eps.png": (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n", 415),
        "cut.jpg": (jpeg[: len(jpeg) // 2], 422),
        "crc.png": (bytes(bad_crc), 422),
        "../../etc/passwd.png": (png, 422),
    }
    for name, (data, status) in cases.items():
        r = _upload(owner, pid, (name, data))
        assert r.status_code == status, (name, r.status_code, r.text)
    # One bad file refuses the whole request.
    r = _upload(owner, pid, ("good.png", png), ("cut.jpg", jpeg[:300]))
    assert r.status_code == 422
    assert owner.get(f"/api/projects/{pid}/images").json()["total"] == 0


def test_duplicates_and_size_limits(world: World) -> None:
    owner = world.user("owner")
    pid = world.project(owner)
    png = image_bytes((8, 8), seed=3)
    assert _upload(owner, pid, ("a.png", png)).status_code == 201
    assert _upload(owner, pid, ("b.png", png)).status_code == 409  # same content
    assert _upload(owner, pid, ("a.png", image_bytes((8, 8), seed=4))).status_code == 409  # same name
    assert _upload(owner, pid, ("c.png", png), ("c.png", png)).status_code == 409
    services = world.services
    small = dataclasses.replace(
        services,
        settings=services.settings.model_copy(update={"max_request_bytes": 4000, "max_image_bytes": 1000}),
    )
    client = TestClient(create_app(services=small), headers=dict(owner.http.headers))
    big = image_bytes((30, 30), seed=6)
    assert 1000 < len(big) < 4000
    assert _upload(client, pid, ("big.png", big)).status_code == 413
    assert _upload(client, pid, ("huge.png", image_bytes((80, 80), seed=7))).status_code == 413
    assert owner.get(f"/api/projects/{pid}/images").json()["total"] == 1


def test_listing_pages_filters_and_sorts_from_an_allowlist(world: World) -> None:
    owner, ann = world.user("owner"), world.user("ann")
    pid = world.project(owner, annotator=ann)
    names = ["b_1.png", "a%2.png", "c_3.png", "d.png", "e.png"]
    ids = [world.image(owner, pid, name=n)["id"] for n in names]
    url = f"/api/projects/{pid}/images"
    seen, cursor = [], None
    while True:
        page = owner.get(url, params={"limit": 2, **({"cursor": cursor} if cursor else {})}).json()
        assert page["total"] == 5
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids
    by_name = owner.get(url, params={"sort": "-file_name", "limit": 3}).json()
    rest = owner.get(url, params={"sort": "-file_name", "cursor": by_name["next_cursor"]}).json()
    assert [i["file_name"] for i in by_name["items"] + rest["items"]] == sorted(names, reverse=True)
    assert [i["file_name"] for i in owner.get(url, params={"q": "%"}).json()["items"]] == ["a%2.png"]
    assert [i["file_name"] for i in owner.get(url, params={"q": "_"}).json()["items"]] == [
        "b_1.png",
        "c_3.png",
    ]
    assert owner.patch(f"{url}/{ids[3]}", json={"assignee_id": ann.user_id}).status_code == 200
    assert [i["id"] for i in ann.get(url, params={"assignee": "me"}).json()["items"]] == [ids[3]]
    assert len(owner.get(url, params={"assignee": "none"}).json()["items"]) == 4
    assert owner.get(url, params={"status": ["new", "approved"]}).json()["total"] == 5
    assert owner.get(url, params={"status": "submitted"}).json()["total"] == 0
    for params in (
        {"sort": "checksum"},
        {"annotations__user__password__startswith": "a"},
        {"assignee": "x"},
        {"cursor": "!!"},
        {"status": "deleted"},
        {"limit": 0},
    ):
        assert owner.get(url, params=params).status_code == 422, params


def test_assignment_needs_a_member_who_annotates(world: World) -> None:
    owner, viewer, stranger = world.user("owner"), world.user("viewer"), world.user("stranger")
    pid = world.project(owner, viewer=viewer)
    image = world.image(owner, pid)
    url = f"/api/projects/{pid}/images/{image['id']}"
    assert owner.patch(url, json={"assignee_id": viewer.user_id}).status_code == 422
    assert owner.patch(url, json={"assignee_id": stranger.user_id}).status_code == 422
    assert viewer.patch(url, json={"assignee_id": None}).status_code == 403
    assert owner.patch(url, json={"assignee_id": owner.user_id}).json()["assignee_id"] == owner.user_id
    assert owner.patch(url, json={"assignee_id": None}).json()["assignee_id"] is None
    assert viewer.delete(url).status_code == 403
    assert owner.delete(url).status_code == 204
    assert owner.get(url).status_code == 404


def test_comments_are_pinned_resolved_and_stored_verbatim(world: World) -> None:
    owner, ann, other = world.user("owner"), world.user("ann"), world.user("other")
    pid = world.project(owner, annotator=ann, annotator2=other)
    image = world.image(owner, pid, size=(64, 48))
    url = f"/api/projects/{pid}/images/{image['id']}/comments"
    text = '"><img src=x onerror=alert(1)> \u202e' + "x" * 100
    r = ann.post(url, json={"text": text, "x": 10.5, "y": 47.0})
    assert r.status_code == 201 and r.json()["text"] == text and r.json()["resolved"] is False
    cid = r.json()["id"]
    assert ann.post(url, json={"text": "off the image", "x": 65.0, "y": 1.0}).status_code == 422
    assert ann.post(url, json={"text": "half a point", "x": 1.0}).status_code == 422
    assert ann.post(url, json={"text": "whole image"}).status_code == 201
    assert other.patch(f"{url}/{cid}", json={"text": "edited"}).status_code == 403
    assert other.patch(f"{url}/{cid}", json={"resolved": True}).json()["resolved"] is True
    assert ann.patch(f"{url}/{cid}", json={"resolved": False, "text": "fixed"}).json()["text"] == "fixed"
    assert other.delete(f"{url}/{cid}").status_code == 403
    assert owner.delete(f"{url}/{cid}").status_code == 204
    assert [c["text"] for c in ann.get(url).json()] == ["whole image"]
    stranger = world.user("stranger")
    assert (
        stranger.get(url).status_code == 404
        and stranger.post(url, json={"text": unique("x")}).status_code == 404
    )
