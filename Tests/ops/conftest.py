"""Shared fixtures of the ops checks: the real `deepresize serve` binary on an ephemeral port of 127.0.0.1,
and PNG test images made in code (no fixtures on disk)."""
import os
import re
import shutil
import signal
import struct
import subprocess
import tempfile
import time
import zlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


class Server:
    """`deepresize serve --port 0` with its own data directory; the port comes from its "listening on" line."""

    def __init__(self, *settings: str):
        binary = os.environ.get("DEEPRESIZE_BIN", str(ROOT / ".build/debug/deepresize"))
        if not os.access(binary, os.X_OK):
            raise RuntimeError(f"no deepresize binary at {binary}: run `swift build` first")
        self.data = tempfile.mkdtemp(prefix="deepresize-ops-")
        self.log_path = Path(self.data) / "server.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("DEEPRESIZE_")}
        args = [binary, "serve", "--host", "127.0.0.1", "--port", "0", "--data", self.data + "/data",
                "--workers", "1", "--config", str(ROOT / "config/deepresize.json"),
                "--weights", os.environ.get("DEEPRESIZE_TEST_WEIGHTS", str(ROOT / "weights/vgg16-imagenet.safetensors"))]
        for setting in settings:
            args += ["--set", setting]
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 30
        self.port = None
        while self.port is None and time.monotonic() < deadline and self.process.poll() is None:
            match = re.search(r"listening on http://[0-9.]+:([0-9]+)", self.log_path.read_text())
            if match:
                self.port = int(match.group(1))
            else:
                time.sleep(0.05)
        if self.port is None:
            self.stop()
            raise RuntimeError("server did not start:\n" + self.log_path.read_text())
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
        shutil.rmtree(self.data, ignore_errors=True)


@pytest.fixture(scope="session")
def server():
    instance = Server()
    yield instance
    instance.stop()


def png(width: int, height: int) -> bytes:
    """An RGB PNG: a sky-to-ground gradient with a red disc right of centre (something seams can avoid)."""
    cx, cy, r = width * 0.6, height * 0.5, min(width, height) * 0.3
    rows = bytearray()
    for y in range(height):
        rows.append(0)  # filter type None
        for x in range(width):
            if (x - cx) ** 2 + (y - cy) ** 2 < r * r:
                rows += bytes((200, 40 + (x * 7 + y * 3) % 40, 30))
            else:
                rows += bytes((40 + 120 * y // max(1, height - 1), 90 + 80 * x // max(1, width - 1), 200))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(rows))) + chunk(b"IEND", b"")


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", data[16:24])
