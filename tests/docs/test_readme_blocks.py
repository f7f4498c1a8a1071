"""Every shell block of the READMEs runs, pasted as a reader would, in a fresh clone.

The worktree's committed HEAD is cloned into a temporary directory; its ``.venv`` is the
worktree's (a symlink, with the clone's sources first on ``PYTHONPATH``), so the blocks run
as they are written: ``.venv/bin/fleetsim ...`` or ``. .venv/bin/activate`` then
``fleetsim ...``.  The blocks of one README run in order in one shell, as a reader pastes
them one after the other (a server a block starts in the background serves the next
blocks; every process the shell started is stopped at the end).  Only three things are
changed, and only here, never in the README:

* sizes: :data:`SMALL` swaps a README's big scenario or long settings for small ones;
* ports: every fixed port (``--port 8080``, ``127.0.0.1:8080``) becomes a free loopback
  port, the same one wherever the README repeats it;
* a background ``fleetsim emulate ... &`` is followed by a wait until its port accepts
  connections (a reader starts the next command a few seconds later).

A command that ends with the visible comment ``# exits N`` must exit with N (an example
of an error or a ``--strict`` warning); any other command must succeed.

A block that cannot run here starts with the visible comment ``# doc-test: skip: REASON``
(a real API key, minutes of load); the test prints what it skipped and why, and a skip
without a reason fails.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fixtures.scenarios import REPO

READMES = ("README.md", "loadtest/README.md", "loadtest/emulator/README.md", "scenarios/README.md")
SKIP = "# doc-test: skip:"
SHELLS = ("sh", "bash", "shell", "console")
#: Per README: (text, replacement) applied to every block that runs, in order.
SMALL: dict[str, tuple[tuple[str, str], ...]] = {
    "README.md": (
        ("cp scenarios/lunch-rush.toml", "cp scenarios/tiny.toml"),
        ("fleet.workers=80", "fleet.workers=4"),
        ("sweep scenarios/lunch-rush.toml", "sweep scenarios/tiny.toml"),
        ("fleet.workers=60,90,120", "fleet.workers=3,5"),
        ("fleet.workers=60", "fleet.workers=3"),
        ("--seeds 10", "--seeds 2"),
        ('"on_time_pct>=95"', '"on_time_pct>=50"'),
    ),
    "loadtest/README.md": (
        ("scenarios/lunch-rush.toml", "scenarios/tiny.toml"),
        ("results/lunch-rush", "results/tiny"),
        ("--speedup 600 --scale 2", "--speedup 2000 --scale 2"),
        ("--speedup 500 \\", "--speedup 4000 \\"),
        ("--max-runs 3", "--max-runs 2"),
        ("--speedup 60", "--speedup 2000"),
    ),
}
PORT = re.compile(r"(?:--port |127\.0\.0\.1:|0\.0\.0\.0:|localhost:)(\d{4,5})\b")
EXITS = re.compile(r"^(?P<cmd>[^#]*\S)\s+# exits (?P<code>\d+)\b.*$")
EMULATE_BG = re.compile(r"fleetsim emulate\b.*--port (\d+).*&\s*(#.*)?$")


@dataclass(frozen=True, slots=True)
class Block:
    readme: str
    line: int  # of the opening fence
    text: str

    @property
    def skip_reason(self) -> str | None:
        first = self.text.lstrip().splitlines()[0] if self.text.strip() else ""
        if not first.startswith(SKIP):
            return None
        return first[len(SKIP) :].strip()


def shell_blocks(readme: str, text: str) -> list[Block]:
    out: list[Block] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = re.match(r"^```(\w*)\s*$", lines[i])
        if m is None:
            i += 1
            continue
        lang, start = m.group(1), i
        i += 1
        body = []
        while i < len(lines) and not lines[i].startswith("```"):
            body.append(lines[i])
            i += 1
        i += 1
        if lang in SHELLS:
            out.append(Block(readme, start + 1, "\n".join(body) + "\n"))
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


WAIT = """
__doc_wait() {  # until 127.0.0.1:$1 accepts a connection (at most 60 s)
  for _ in $(seq 300); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.2; done
  echo "doc-test: nothing listens on port $1" >&2; return 1
}
"""


def script(blocks: list[Block], small: tuple[tuple[str, str], ...]) -> str:
    """The shell script that runs ``blocks`` in order (see the module docstring)."""
    ports: dict[str, str] = {}

    def port(m: re.Match[str]) -> str:
        new = ports.setdefault(m.group(1), str(_free_port()))
        return m.group(0)[: -len(m.group(1))] + new

    parts = ["set -e", WAIT]
    for b in blocks:
        text = b.text
        for old, new in small:
            text = text.replace(old, new)
        text = PORT.sub(port, text)
        lines = []
        for ln in text.splitlines():
            want = EXITS.match(ln)
            if want:  # the command must fail with exactly this code
                cmd, code = want.group("cmd"), want.group("code")
                ln = f"if {cmd}; then __rc=0; else __rc=$?; fi; test $__rc -eq {code}"
            lines.append(ln)
            m = EMULATE_BG.search(ln)
            if m:
                lines.append(f"__doc_wait {m.group(1)}")
        parts.append(f'echo "doc-test: {b.readme}:{b.line}" >&2')
        parts.extend(lines)
    return "\n".join(parts) + "\n"


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The worktree's committed HEAD, cloned; ``.venv`` is the worktree's."""
    dst = tmp_path_factory.mktemp("docs") / "clone"
    head = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    subprocess.run(["git", "clone", "-q", "--no-checkout", str(REPO), str(dst)], check=True)
    subprocess.run(["git", "-C", str(dst), "checkout", "-q", head], check=True)
    (dst / ".venv").symlink_to(REPO / ".venv")
    return dst


def test_every_readme_block_is_found_and_every_skip_has_a_reason() -> None:
    blocks = [b for r in READMES for b in shell_blocks(r, (REPO / r).read_text())]
    assert len(blocks) >= 10  # the READMEs' commands, not an empty scan
    skipped = [b for b in blocks if b.skip_reason is not None]
    assert all(b.skip_reason for b in skipped), "a skip marker needs a reason"
    assert len(skipped) < len(blocks) / 2


def test_a_command_marked_exits_n_must_exit_n() -> None:
    ok = Block("x.md", 1, "false  # exits 1\n")
    assert subprocess.run(["bash", "-c", script([ok], ())]).returncode == 0
    wrong = Block("x.md", 1, "true  # exits 1\n")
    assert subprocess.run(["bash", "-c", script([wrong], ())]).returncode != 0


def test_the_script_uses_free_ports_and_waits_for_a_background_emulator() -> None:
    b = Block(
        "x.md",
        1,
        "fleetsim emulate --port 8080 &\nfleetsim replay t --host http://127.0.0.1:8080\n",
    )
    text = script([b], ())
    (port,) = set(re.findall(r"127\.0\.0\.1:(\d+)", text))
    assert port != "8080" and f"--port {port} &" in text and f"__doc_wait {port}" in text


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("readme", READMES)
def test_readme_shell_blocks_run_in_a_fresh_clone(
    readme: str, clone: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocks = shell_blocks(readme, (clone / readme).read_text())
    runnable = [b for b in blocks if b.skip_reason is None]
    skipped = [b for b in blocks if b.skip_reason is not None]
    with capsys.disabled():
        for b in skipped:
            print(f"\ndoc-test skipped {b.readme}:{b.line}: {b.skip_reason}")
    if not runnable:
        return
    env = {
        **os.environ,
        "PATH": f"{clone / '.venv' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": str(clone),
    }
    for k in ("ONFLEET_API_KEY", "FLEETSIM_WEBHOOK_SECRET", "VIRTUAL_ENV"):
        env.pop(k, None)
    # Output to a file, not a pipe: a server left in the background holds a pipe open.
    log = clone / f"doc-test-{readme.replace('/', '_')}.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            ["bash", "-c", script(runnable, SMALL.get(readme, ()))],
            cwd=clone,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            proc.wait(timeout=540)
        finally:
            # The servers a block left in the background: the whole session, at the end.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)
    said = log.read_text()
    assert proc.returncode == 0, f"{readme}: a block failed\n{said[-6000:]}"
