"""The JSON API through FastAPI's test client: results, uploads by content, limits, no file outside
the collection, JSON errors only; and a bounded load test on loopback."""

from __future__ import annotations

import io
import os
import sqlite3

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
from fastapi.testclient import TestClient  # noqa: E402

from polysense.search import Index  # noqa: E402
from polysense.search.server import BackgroundServer, create_app  # noqa: E402
from tests.search.conftest import write_png  # noqa: E402


@pytest.fixture
def client(indexed):
    idx, _, bundle = indexed
    index = Index.open(idx, embedder=bundle)
    with TestClient(create_app(index, max_upload_bytes=200_000), raise_server_exceptions=False) as c:
        c.index = index
        yield c
    index.close()


def _assert_json_error(response, status):
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"detail"} and isinstance(body["detail"], str) and body["detail"]
    assert "Traceback" not in response.text and 'File "' not in response.text
    return body["detail"]


def test_page_info_and_openapi(client):
    page = client.get("/")
    assert page.status_code == 200 and "polysense search" in page.text and 'id="upload-form"' in page.text
    info = client.get("/api/info").json()
    assert info["vectors"] == 9 and info["modalities"] == ["audio", "text"] and info["index"]["type"] == "flat"
    schema = client.get("/openapi.json").json()
    assert {"/api/search", "/api/search/upload", "/api/files/{file_id}/media"} <= set(schema["paths"])
    assert client.get("/docs").status_code == 200


def test_text_search_matches_the_python_api(client):
    body = client.get("/api/search", params={"q": "a dog barking", "k": 4}).json()
    expected = client.index.search(text="a dog barking", k=4)
    assert [r["item_id"] for r in body["results"]] == [h.item_id for h in expected]
    assert [r["score"] for r in body["results"]] == pytest.approx([h.score for h in expected])
    audio = [r for r in body["results"] if r["kind"] == "audio"]
    assert audio and all(r["media_url"] and r["spectrogram_url"] for r in audio)
    like = client.get("/api/search", params={"like": "clip0.wav", "k": 3}).json()["results"]
    assert len(like) == 3 and all(r["key"] != "clip0.wav" for r in like)


def test_media_and_spectrogram(client, indexed):
    _, root, _ = indexed
    hit = next(h for h in client.index.search(text="x", k=20) if h.key == "clip0.wav")
    media = client.get(f"/api/files/{hit.file_id}/media")
    assert media.status_code == 200 and media.content == (root / "clip0.wav").read_bytes()
    assert media.headers["content-type"].startswith("audio/")
    long = next(h for h in client.index.search(text="x", k=20) if h.start_s == 7.0)
    spec = client.get(f"/api/files/{long.file_id}/spectrogram.png", params={"start_s": 7.0, "end_s": 12.0})
    assert spec.status_code == 200 and spec.content[:8] == b"\x89PNG\r\n\x1a\n"
    from PIL import Image

    assert Image.open(io.BytesIO(spec.content)).size == (240, 64)
    text_hit = next(h for h in client.index.search(text="x", k=20) if h.kind == "text")
    _assert_json_error(client.get(f"/api/files/{text_hit.file_id}/media"), 404)  # a text has no media file


def test_upload_is_checked_by_content(client, indexed, tmp_path):
    _, root, _ = indexed
    wav = (root / "sub" / "clip3.wav").read_bytes()
    # the name says .txt and the type text/plain: the content (a WAV) decides
    r = client.post("/api/search/upload", files={"file": ("notes.txt", wav, "text/plain")}, data={"k": "2"})
    assert r.status_code == 200, r.text
    top = r.json()["results"][0]
    assert top["key"] == "sub/clip3.wav" and top["score"] == pytest.approx(1.0, abs=1e-4)
    fake = client.post("/api/search/upload", files={"file": ("dog.wav", b"RIFF1234WAVEnot audio at all", "audio/wav")})
    assert "not something this index searches by" in _assert_json_error(fake, 415)
    png = write_png(tmp_path / "p.png", (10, 200, 10)).read_bytes()  # an image, but this model embeds audio
    assert "accepts audio" in _assert_json_error(client.post("/api/search/upload", files={"file": ("p.png", png)}), 415)
    _assert_json_error(client.post("/api/search/upload", files={"file": ("e.wav", b"")}), 400)
    big = b"\0" * 300_000
    assert "limit" in _assert_json_error(client.post("/api/search/upload", files={"file": ("big.wav", big)}), 413)
    _assert_json_error(client.post("/api/search/upload", data={"k": "2"}), 422)  # no file


@pytest.mark.parametrize("path", [
    "/api/files/..%2F..%2F..%2Fetc%2Fpasswd/media",
    "/api/files/%2Fetc%2Fpasswd/media",
    "/api/files//etc/passwd/media",
    "/api/files/1/../../../../etc/passwd",
    "/api/files/%2e%2e/%2e%2e/etc/passwd",
    "/..%2f..%2f..%2fetc%2fpasswd",
    "/api/files/-1/media",
    "/api/files/99999/media",
    "/api/files/1.5/media",
    "/static/../../../etc/passwd",
])
def test_no_file_outside_the_collection(client, path):
    response = client.get(path)
    assert response.status_code in (400, 404, 422)
    _assert_json_error(response, response.status_code)
    assert "root:" not in response.text


def test_symlink_swapped_in_after_indexing_is_refused(client, indexed, tmp_path):
    _, root, _ = indexed
    secret = tmp_path / "secret.wav"
    secret.write_bytes((root / "clip0.wav").read_bytes())
    hit = next(h for h in client.index.search(text="x", k=20) if h.key == "clip0.wav")
    (root / "clip0.wav").unlink()
    os.symlink(secret, root / "clip0.wav")  # now points outside the collection
    assert "no longer available" in _assert_json_error(client.get(f"/api/files/{hit.file_id}/media"), 404)
    _assert_json_error(client.get(f"/api/files/{hit.file_id}/spectrogram.png"), 404)


def test_malformed_requests_get_json_4xx(client):
    assert "exactly one" in _assert_json_error(client.get("/api/search"), 400)
    _assert_json_error(client.get("/api/search", params={"q": "a", "like": "clip0.wav"}), 400)
    _assert_json_error(client.get("/api/search", params={"q": "a", "k": 0}), 422)
    _assert_json_error(client.get("/api/search", params={"q": "a", "k": "many"}), 422)
    _assert_json_error(client.get("/api/search", params={"q": "a", "dedupe": 2}), 422)
    _assert_json_error(client.get("/api/search", params={"q": "x" * 5000}), 422)
    assert "like='nope'" in _assert_json_error(client.get("/api/search", params={"like": "nope"}), 400)
    assert "empty" in _assert_json_error(client.get("/api/search", params={"q": "   "}), 400)
    _assert_json_error(client.post("/api/search", json={"q": "a"}), 405)
    _assert_json_error(client.get("/nowhere"), 404)
    _assert_json_error(client.post("/api/search/upload", content=b"garbage",
                                   headers={"content-type": "multipart/form-data; boundary=xyz"}), 400)


def test_a_bug_is_a_json_500_without_traceback(client, monkeypatch):
    def boom(**kwargs):
        raise RuntimeError("secret internals /home/me")

    monkeypatch.setattr(client.index, "search", boom)
    response = client.get("/api/search", params={"q": "a"})
    assert _assert_json_error(response, 500) == "internal error" and "secret" not in response.text


def test_index_is_read_only_while_serving(indexed, monkeypatch):
    """The connection Index.open holds (caught where it is made) refuses writes; the vectors too."""
    from polysense.search import index as index_module
    from polysense.search.store import open_db

    connections = []

    def recording(path, **kwargs):
        connections.append(open_db(path, **kwargs))
        return connections[-1]

    monkeypatch.setattr(index_module, "open_db", recording)
    idx, _, bundle = indexed
    with Index.open(idx, embedder=bundle) as index:
        assert len(connections) == 1
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            connections[0].execute("DELETE FROM files")
        assert not index.vectors.flags.writeable


def test_bounded_load_on_loopback(indexed):
    from polysense.search.loadtest import run_load

    idx, _, bundle = indexed
    with Index.open(idx, embedder=bundle) as index, BackgroundServer(create_app(index)) as server:
        queries = ["a dog barking", "rain on a roof", "a bell", "a low hum", "whistle"]
        paths = [f"/api/search?q={q.replace(' ', '+')}&k=5" for q in queries] * 24  # 120 requests
        result = run_load(server.url, paths, clients=8)
    print(f"\nload test: {result['requests']} requests, 8 clients: p50 {result['p50_ms']:.1f} ms, "
          f"p99 {result['p99_ms']:.1f} ms")
    assert result["requests"] == 120 and result["errors"] == [] and result["statuses"] == {200: 120}


def test_upload_cap_defaults_to_the_project_limit(indexed, monkeypatch):
    idx, root, bundle = indexed
    monkeypatch.setenv("POLYSENSE_MAX_UPLOAD_BYTES", "1000")
    with Index.open(idx, embedder=bundle) as index, TestClient(create_app(index)) as c:
        assert c.get("/api/info").json()["max_upload_bytes"] == 1000
        wav = (root / "clip0.wav").read_bytes()
        assert len(wav) > 1000
        _assert_json_error(c.post("/api/search/upload", files={"file": ("a.wav", wav)}), 413)
