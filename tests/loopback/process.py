"""The real bot process, `python -m bot run`, pointed at a loopback Discord.

Why a working folder of its own: settings also come from `.env` in the working directory, and a
developer's `.env` must not leak into a test; the worktree goes on PYTHONPATH instead.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from .server import LoopbackDiscord

REPO = Path(__file__).resolve().parents[2]
TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.loopback-secret.token-value-xyz"


class BotProcess:
    """One `python -m bot run`, its stdout/stderr in a file, started against `server`."""

    def __init__(self, server: LoopbackDiscord, workdir: Path, *, seeds: Path, index: Path, **env: str) -> None:
        self.server = server
        self.workdir = workdir
        self.log_path = workdir / "bot.log"
        workdir.mkdir(parents=True, exist_ok=True)
        self.env = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "DISCORD_TOKEN": server.token,
            "DISCORD_API_BASE_URL": server.base_url,
            "SEEDS_DIR": str(seeds),
            "INDEX_DIR": str(index),
            "ASK_COOLDOWN_SECONDS": "0",
            "LOG_LEVEL": "DEBUG",  # the token must stay out of every level
            "HF_HUB_OFFLINE": "1",
            **env,
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.identifies_before = 0

    def start(self, timeout: float = 120.0) -> "BotProcess":
        self.identifies_before = len(self.server.gateway_ops("recv", 2))
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "bot", "run"], cwd=self.workdir, env=self.env,
                                            stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while "logged in as" not in self.log():
            if self.process.poll() is not None:
                raise AssertionError(f"the bot exited with {self.process.returncode}:\n{self.log()[-3000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"the bot did not log in within {timeout}s:\n{self.log()[-3000:]}")
            time.sleep(0.1)
        return self

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""

    def send(self, signum: int) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    def wait(self, timeout: float) -> int:
        assert self.process is not None
        return self.process.wait(timeout)

    def stop(self) -> None:
        """Teardown: SIGTERM, then SIGKILL if it hangs (a test that wanted a clean exit asserted it already)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
