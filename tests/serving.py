"""A real `tenure serve` for tests: a generated shop with stored snapshots, keys of each scope and
a dashboard user, served by uvicorn in a subprocess on a free port of 127.0.0.1."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tenure import Workspace, generate
from tenure.access import add_user, create_key

from tests.servers import free_port

PASSWORD = "correct horse battery"
TENURE = str(Path(sys.executable).parent / "tenure")


@dataclass
class Shop:
    ws: Workspace
    keys: dict[str, str] = field(default_factory=dict)   # scope -> key
    user: str = "marketer@example.com"
    password: str = PASSWORD


def make_shop(root: Path, *, customers: int = 400, seed: int = 5, days=("2025-12-01", "2025-12-31")) -> Shop:
    """A generated shop (history to 2025-12-31), ingested, with a snapshot on each of `days`."""
    generate(customers=customers, seed=seed, out=root / "in", fmt="parquet")
    ws = Workspace.init(root / "ws")
    for entity in ("customers", "orders", "order_items", "events"):
        ws.ingest(entity, [root / "in" / f"{entity}.parquet"])
    for day in days:
        ws.run(as_of=__import__("datetime").date.fromisoformat(day), dispatch=False)
    shop = Shop(ws=ws)
    for scope in ("read", "write", "admin"):
        shop.keys[scope] = create_key(ws.store, scope=scope, name=f"test-{scope}")
    add_user(ws.store, username=shop.user, password=PASSWORD, scope="write")
    return shop


class Served:
    """`with Served(root) as s: httpx.get(s.url + "/healthz")`; stops the server at the end."""

    def __init__(self, root: Path, *args: str, env: dict | None = None) -> None:
        self.root, self.args = root, args
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen | None = None
        self.log = root.parent / f"serve-{self.port}.log"

    def __enter__(self) -> Served:
        self._out = self.log.open("wb")
        self.proc = subprocess.Popen([TENURE, "serve", "--port", str(self.port), "--workspace", str(self.root),
                                      *self.args], stdout=self._out, stderr=subprocess.STDOUT, env=self.env)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"tenure serve exited with {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError(f"tenure serve did not answer in 60 s: {self.log.read_text()[-2000:]}")

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> int | None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # a graceful stop: queued tracking events are flushed
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._out.close()
        return self.proc.returncode if self.proc else None

    def client(self, scope: str | None = None, shop: Shop | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {shop.keys[scope]}"} if scope and shop else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60, follow_redirects=False)
