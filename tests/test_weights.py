"""`weights`: fetch, verify and lock the pretrained weights, against a local HTTP server on 127.0.0.1
that plays the Hugging Face hub (HF_ENDPOINT), download.pytorch.org and GitHub (STDD_WEIGHTS_BASE_URL).

Tiny state_dicts stand in for the real files; TORCH_HOME and HF_HOME are temporary folders.
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch
from safetensors.torch import save as safetensors_bytes

from pipeline.__main__ import main
from pipeline.models import card as cards_module
from pipeline.models.card import Weights
from pipeline.models.pretrained import find_cached
from pipeline.weights import check_weights
from pipeline.weights.registry import model_weights
from pipeline.weights.verify import FIRST_FETCH, HUB_ETAG, LOCK, NAME_PREFIX

ROOT = Path(__file__).resolve().parents[1]
COMMIT = "0123456789abcdef0123456789abcdef01234567"
HF_REPOS = ("timm/legacy_xception.tf_in1k", "timm/efficientnet_b3.ra2_in1k")
CARDS = cards_module.catalogue()
MODELS = list(CARDS)
WITH_FILES = [name for name, card in CARDS.items() if card.weights]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def torch_bytes(state: dict) -> bytes:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


class Hub(BaseHTTPRequestHandler):
    """Serves `server.files` (URL path -> bytes); under `/<repo>/resolve/<revision>/` with the headers
    hf_hub_download needs: X-Repo-Commit, the (linked) ETag = SHA-256 of an LFS file, and sizes."""

    def do_HEAD(self) -> None:
        self.reply(body=False)

    def do_GET(self) -> None:
        self.reply(body=True)

    def reply(self, body: bool) -> None:
        self.server.requests.append(f"{self.command} {self.path}")
        data = self.server.files.get(self.path)
        if data is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        if "/resolve/" in self.path:
            etag = self.server.etags.get(self.path, sha256(data))
            for header, value in (("X-Repo-Commit", COMMIT), ("ETag", f'"{etag}"'), ("X-Linked-Etag", f'"{etag}"'),
                                  ("X-Linked-Size", str(len(data)))):
                self.send_header(header, value)
        self.end_headers()
        if body:
            self.wfile.write(data)

    def log_message(self, *args) -> None:  # quiet
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Hub)
    httpd.files, httpd.etags, httpd.requests = {}, {}, []
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def point_at(monkeypatch, tmp_path: Path, base: str) -> None:
    """Temporary caches; both kinds of source URL at `base`."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", base)
    monkeypatch.setenv("STDD_WEIGHTS_BASE_URL", base)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")


def rename_torchvision_files(monkeypatch, names: dict[str, str]) -> None:
    """Torchvision-kind files under other names (model -> name), in the cards that fetch, check and the models
    read: a served file's name must carry its own content's SHA-256 prefix, which the real names cannot."""
    real = cards_module.catalogue

    def catalogue(plugins=(), base="."):
        cards = dict(real(plugins, base))
        for model, name in names.items():
            card = cards[model]
            cards[model] = dataclasses.replace(card, weights=(dataclasses.replace(card.weights[0], name=name),))
        return cards

    monkeypatch.setattr(cards_module, "catalogue", catalogue)


@pytest.fixture
def published(server, tmp_path, monkeypatch) -> dict[tuple[str, str], bytes]:
    """Every card's published files on the server, as (model, file name) -> content: Hugging Face files under
    their repo, raw files by name, and torchvision files under a name with their content's SHA-256 prefix."""
    point_at(monkeypatch, tmp_path, f"http://127.0.0.1:{server.server_port}")
    files, renamed = {}, {}
    for i, (model, card) in enumerate(CARDS.items()):
        for j, w in enumerate(card.weights):
            if w.kind == "hf":
                data = safetensors_bytes({"w": torch.full((4,), float(10 * i + j))})
                server.files[f"/{w.origin}/resolve/main/{w.name}"] = data
                files[model, w.name] = data
            else:
                data = torch_bytes({"x": torch.full((3,), float(10 * i + j))})
                name = f"{model}-{sha256(data)[:8]}.pth" if w.kind == "torchvision" else w.name
                renamed.update({model: name} if w.kind == "torchvision" else {})
                server.files[f"/{name}"] = data
                files[model, name] = data
    rename_torchvision_files(monkeypatch, renamed)
    return files


def weights(*argv: str) -> int:
    return main(["weights", *argv])


def error_lines(capsys) -> list[str]:
    return capsys.readouterr().err.strip().splitlines()


def test_fetch_downloads_verifies_and_locks_every_file(published, server, tmp_path, capsys):
    lock = tmp_path / "results/weights.lock.json"
    assert weights("fetch", "--lock", str(lock)) == 0
    entries = {(e["model"], e["file"]): e for e in json.loads(lock.read_text())["files"]}
    r3d_name = model_weights()["r3d_18"].files[0].name
    how = {"hf": HUB_ETAG, "torchvision": NAME_PREFIX, "raw": FIRST_FETCH}
    assert {key: e["verified_by"] for key, e in entries.items()} == {
        (model, w.name): how[w.kind] for model, files in model_weights().items() for w in files.files}
    assert entries["i3d_rgb", "rgb_charades.pt"]["verified_by"] == FIRST_FETCH and r3d_name.startswith("r3d_18-")
    for key, entry in entries.items():
        assert entry["sha256"] == sha256(published[key]) and Path(entry["path"]).read_bytes() == published[key]
        assert entry["source"].startswith(f"http://127.0.0.1:{server.server_port}/")
    blob = Path(os.path.realpath(entries["xception", "model.safetensors"]["path"]))
    assert blob.parent.name == "blobs" and blob.name == entries["xception", "model.safetensors"]["sha256"]
    assert Path(entries["r3d_18", r3d_name]["path"]).parent == tmp_path / "torch/hub/checkpoints"

    # what the models load is what was fetched, and it passes the check the workflow runs
    cards = cards_module.catalogue()
    for model in WITH_FILES:
        assert str(find_cached(cards[model])[0]) == entries[next(k for k in entries if k[0] == model)]["path"]
    assert check_weights(list(MODELS), False, lock=lock) == []
    assert weights("check", *MODELS, "--lock", str(lock)) == 0

    # a second fetch needs no network: every file is present and verified
    server.requests.clear()
    assert weights("fetch", "--lock", str(lock)) == 0 and server.requests == []
    relocked = {(e["model"], e["file"]): e["verified_by"] for e in json.loads(lock.read_text())["files"]}
    assert relocked["i3d_rgb", "rgb_charades.pt"] == LOCK  # from now on vouched for by the lock
    capsys.readouterr()
    assert weights("list", "--lock", str(lock)) == 0
    table = capsys.readouterr().out
    assert (f"| xception | http://127.0.0.1:{server.server_port}/{HF_REPOS[0]}/resolve/main/model.safetensors | "
            f"model.safetensors | {tmp_path}/hf/hub/models--timm--legacy_xception.tf_in1k/snapshots/* | "
            f"yes | yes ({HUB_ETAG}, {LOCK}) |") in table
    assert "| efficientnet_b3_lstm | – | – | – | – | none needed: its backbone is the trained efficientnet_b3" \
        " detector |" in table


def test_a_file_changed_since_the_lock_is_refused(published, tmp_path, capsys):
    lock = str(tmp_path / "lock.json")
    assert weights("fetch", "i3d_rgb", "--lock", lock) == 0
    charades = tmp_path / "torch/hub/checkpoints/rgb_charades.pt"
    charades.write_bytes(torch_bytes({"logits.weight": torch.full((2,), 7.0)}))
    capsys.readouterr()
    assert weights("check", "i3d_rgb", "--lock", lock) == 1
    (line,) = error_lines(capsys)
    assert line.startswith(f"pipeline weights: error: i3d_rgb: {charades}: SHA-256 ") and "changed since" in line
    assert weights("fetch", "i3d_rgb", "--lock", lock) == 1
    (line,) = error_lines(capsys)
    assert "changed since" in line and f"or its entry in {lock} to accept it" in line
    assert charades.exists()  # the user's file is theirs to delete


def test_downloads_with_a_wrong_checksum_are_refused_and_not_kept(published, server, tmp_path, monkeypatch, capsys):
    url = f"/{HF_REPOS[0]}/resolve/main/model.safetensors"
    server.etags[url] = sha256(b"the published file is another one")
    assert weights("fetch", "xception", "--lock", str(tmp_path / "lock.json")) == 1
    (line,) = error_lines(capsys)
    assert line.startswith("pipeline weights: error: xception: http://127.0.0.1:")
    assert "does not match the hub ETag" in line
    repo = tmp_path / "hf/hub/models--timm--legacy_xception.tf_in1k"
    assert not [p for p in repo.rglob("*") if p.is_file() or p.is_symlink()
                if p.parent.name in ("blobs", COMMIT)], "the bad download stays in the cache"

    rename_torchvision_files(monkeypatch, {"r3d_18": "r3d_18-deadbeef.pth"})
    server.files["/r3d_18-deadbeef.pth"] = torch_bytes({"fc.weight": torch.ones(3)})
    assert weights("fetch", "r3d_18", "--lock", str(tmp_path / "lock.json")) == 1
    (line,) = error_lines(capsys)
    assert 'refused (invalid hash value (expected "deadbeef"' in line and line.endswith("nothing was kept")
    assert list((tmp_path / "torch/hub/checkpoints").iterdir()) == []
    assert not (tmp_path / "lock.json").exists()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


OFFLINE = re.compile(r"pipeline weights: error: (\w+): cannot download (\S+) \((.+)\); put (\S+) in (\S+) "
                     r"or run with network")


def test_offline_fetch_fails_fast_with_one_line(tmp_path):
    """As on a machine without network: the first model fails in seconds, one line, no traceback."""
    base = f"http://127.0.0.1:{closed_port()}"
    env = {**os.environ, "TORCH_HOME": str(tmp_path / "torch"), "HF_HOME": str(tmp_path / "hf"), "HF_ENDPOINT": base,
           "STDD_WEIGHTS_BASE_URL": base, "NO_PROXY": "127.0.0.1"}
    env.pop("HF_HUB_CACHE", None)
    start = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "pipeline", "weights", "fetch", "--lock", str(tmp_path / "l.json")],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert time.monotonic() - start < 30 and result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    model, url, _, name, where = OFFLINE.fullmatch(line).groups()
    assert (model, name) == ("xception", "model.safetensors")
    assert url == f"{base}/{HF_REPOS[0]}/resolve/main/model.safetensors"
    assert where == str(tmp_path / "hf/hub/models--timm--legacy_xception.tf_in1k/snapshots/manual")


def test_torch_hub_sources_offline_and_unresponsive(tmp_path, monkeypatch, capsys):
    point_at(monkeypatch, tmp_path, f"http://127.0.0.1:{closed_port()}")
    assert weights("fetch", "r3d_18", "--lock", str(tmp_path / "l.json")) == 1
    (line,) = error_lines(capsys)
    model, url, reason, name, where = OFFLINE.fullmatch(line).groups()
    assert (model, url.rsplit("/", 1)[-1], name, where) == (
        "r3d_18", "r3d_18-b3b3357e.pth", "r3d_18-b3b3357e.pth", str(tmp_path / "torch/hub/checkpoints"))
    assert "refused" in reason

    with socket.socket() as silent:  # accepts connections (the kernel's backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        point_at(monkeypatch, tmp_path, f"http://127.0.0.1:{silent.getsockname()[1]}")
        for model in ("i3d_rgb", "xception"):
            start = time.monotonic()
            assert weights("fetch", model, "--timeout", "1", "--lock", str(tmp_path / "l.json")) == 1
            assert time.monotonic() - start < 10
            (line,) = error_lines(capsys)
            assert OFFLINE.fullmatch(line).group(1) == model


def test_check_on_an_empty_cache_names_every_model(tmp_path, monkeypatch, capsys):
    point_at(monkeypatch, tmp_path, f"http://127.0.0.1:{closed_port()}")
    lock = tmp_path / "lock.json"
    problems = check_weights(list(MODELS), False, lock=lock)
    assert [p.split(":")[0] for p in problems] == WITH_FILES  # sequence models need efficientnet_b3's
    assert all(f"`python -m pipeline weights fetch {m}`" in p for m, p in zip(WITH_FILES, problems))
    assert "rgb_charades.pt or rgb_imagenet.pt missing: put rgb_charades.pt in " in problems[3]
    assert check_weights(list(MODELS), True, lock=lock) == []
    own = tmp_path / "mine.pt"
    own.write_bytes(b"x")
    configured = {"xception": str(own), "r3d_18": "/no", "i3d_rgb": "none", "efficientnet_b3": ""}
    assert check_weights(["xception", "r3d_18", "i3d_rgb"], False, lock=lock, configured=configured) == [
        "r3d_18: pretrained.r3d_18 = /no is not a file"]

    assert weights("check", "efficientnet_b3_lstm", "i3d_rgb", "--lock", str(lock)) == 1
    assert [line.split(": ")[2] for line in error_lines(capsys)] == ["efficientnet_b3", "i3d_rgb"]
    assert weights("check", "i3d_rgb", "--pretrained", '{"allow_random_init": true}', "--lock", str(lock)) == 0
    assert weights("check", "--lock", str(lock)) == 2 and weights("fetch", "resnet") == 2
    assert [line.split(": error: ")[1].split(";")[0] for line in error_lines(capsys)] == [
        "check: name the models", "unknown model(s) resnet"]
    lock.write_text("{not json")
    assert weights("check", "i3d_rgb", "--lock", str(lock)) == 1
    (line,) = error_lines(capsys)
    assert line.startswith(f"pipeline weights: error: {lock}: not a readable weights lock file")


def test_the_cards_name_the_files_their_libraries_publish():
    """Every card's published files are those of its library: torchvision's video weights (URL with the
    SHA-256 prefix torch.hub checks) and timm's Hugging Face repos; a backbone detector has none."""
    import timm
    import torchvision.models.video as video

    torchvision_urls = {w.url for enum in vars(video).values() if isinstance(enum, type) and hasattr(enum, "DEFAULT")
                        and hasattr(enum, "__members__") for w in enum}
    assert "https://download.pytorch.org/models/r3d_18-b3b3357e.pth" in torchvision_urls
    for name, card in CARDS.items():
        for w in card.weights:
            if w.kind == "torchvision":
                assert f"{w.origin}/{w.name}" in torchvision_urls, name
            elif w.kind == "hf" and w.origin.startswith("timm/"):  # a timm model and tag (its hub repo's name)
                cfg = timm.models.get_pretrained_cfg(w.origin.removeprefix("timm/"))
                assert cfg is not None and cfg.hf_hub_id in (None, w.origin), name
        assert not (card.backbone and card.weights), f"{name}: a backbone detector publishes no files of its own"
    assert {m: c.backbone for m, c in CARDS.items() if c.backbone} == {
        "efficientnet_b3_lstm": "efficientnet_b3", "efficientnet_b3_bigru": "efficientnet_b3"}


def test_help(capsys):
    with pytest.raises(SystemExit) as exit_info:
        weights("--help")
    assert exit_info.value.code == 0 and "fetch [MODEL ...]" in capsys.readouterr().out
