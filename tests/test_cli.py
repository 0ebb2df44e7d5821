"""The `scribe` command line itself: --version, -h, a bare `scribe`, what the help says, and
a database it can't use reported like any other bad setting (one line, exit code 2)."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import struct
import subprocess
import sys
import threading
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import main

ROOT = Path(__file__).resolve().parents[1]
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
SCRIBE = Path(sys.executable).parent / "scribe"  # the installed entry point


def invoke(*args: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(main, list(args), prog_name="scribe", env=env)


def flat(text: str) -> str:
    """Help text with click's line wrapping undone."""
    return " ".join(text.split())


def test_version() -> None:
    result = invoke("--version")
    assert (result.exit_code, result.output) == (0, f"scribe, version {VERSION}\n")


@pytest.mark.parametrize("command", [[], ["run"], ["export"], ["stats"], ["db"], ["db", "upgrade"], ["demo"], ["draft"]])
def test_dash_h_is_help(command: list[str]) -> None:
    short, long = invoke(*command, "-h"), invoke(*command, "--help")
    assert (short.exit_code, long.exit_code) == (0, 0)
    assert short.output == long.output and short.output.startswith(f"Usage: scribe {' '.join(command)}".rstrip() + " [OPTIONS]")


def test_a_bare_scribe_shows_the_help_and_succeeds() -> None:
    bare = subprocess.run([str(SCRIBE)], capture_output=True, text=True, timeout=60)
    assert bare.returncode == 0, bare.stderr
    assert bare.stdout == subprocess.run([str(SCRIBE), "--help"], capture_output=True, text=True, timeout=60).stdout
    assert "Commands:" in bare.stdout and "run " in bare.stdout and bare.stderr == ""
    version = subprocess.run([str(SCRIBE), "--version"], capture_output=True, text=True, timeout=60)
    assert (version.returncode, version.stdout) == (0, f"scribe, version {VERSION}\n")


def test_run_help_says_where_settings_come_from() -> None:
    text = flat(invoke("run", "--help").output)
    assert "Settings come from the environment and from a .env file in the current folder" in text
    assert "see .env.example for every setting" in text


@pytest.mark.parametrize("command", [["export"], ["stats"], ["db", "upgrade"]])
def test_database_commands_say_which_database_they_read(command: list[str]) -> None:
    text = flat(invoke(*command, "--help").output)
    assert "the database DATABASE_URL names (from the environment or .env; without it sqlite:///scribe.db, in the current folder)" in text


# -- a database `scribe` can't use -------------------------------------------------------------

SECRET = "pw-s3cret-do-not-print"


class RefusingPostgres:
    """A PostgreSQL server, as far as a client can tell, that refuses every password: it
    answers the start-up as PostgreSQL does (no TLS, ask for the password) and then sends
    FATAL 28P01. It keeps the passwords it was sent, to show the client really tried one."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.passwords: list[str] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with conn, contextlib.suppress(OSError, ValueError):
                self._refuse(conn)

    @staticmethod
    def _read(conn: socket.socket, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = conn.recv(size - len(data))
            if not chunk:
                raise ValueError("client went away")
            data += chunk
        return data

    def _refuse(self, conn: socket.socket) -> None:
        while True:  # SSLRequest / GSSENCRequest first, then the StartupMessage
            (length,) = struct.unpack("!i", self._read(conn, 4))
            body = self._read(conn, length - 4)
            if struct.unpack("!i", body[:4])[0] in (80877103, 80877104):
                conn.sendall(b"N")
                continue
            params = body[4:].split(b"\0")
            user = dict(zip(params[::2], params[1::2], strict=False)).get(b"user", b"").decode()
            break
        conn.sendall(b"R" + struct.pack("!ii", 8, 3))  # AuthenticationCleartextPassword
        kind = self._read(conn, 1)
        (length,) = struct.unpack("!i", self._read(conn, 4))
        if kind == b"p":
            self.passwords.append(self._read(conn, length - 4).rstrip(b"\0").decode())
        fields = b"".join(key + value.encode() + b"\0" for key, value in (
            (b"S", "FATAL"), (b"V", "FATAL"), (b"C", "28P01"), (b"M", f'password authentication failed for user "{user}"')))
        conn.sendall(b"E" + struct.pack("!i", 4 + len(fields) + 1) + fields + b"\0")

    def close(self) -> None:
        self.listener.close()


def scribe_run(database_url: str, cwd: Path, *, wrap: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SCRIBE_", "DATABASE_URL", "PORT"))}
    env.update({"SLACK_BOT_TOKEN": "xoxb-1-abc", "SLACK_SIGNING_SECRET": "sig-secret-value", "DATABASE_URL": database_url})
    return subprocess.run([*(wrap or []), str(SCRIBE), "run"], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


def assert_one_line(result: subprocess.CompletedProcess[str], line: str) -> None:
    assert (result.returncode, result.stdout, result.stderr) == (2, "", line + "\n")
    assert SECRET not in result.stderr and "Traceback" not in result.stderr


def test_an_unreachable_database(tmp_path: Path) -> None:
    with socket.socket() as bound:  # a port that is taken, and refuses connections: nobody listens
        bound.bind(("127.0.0.1", 0))
        port = bound.getsockname()[1]
        result = scribe_run(f"postgresql+psycopg://scribe:{SECRET}@127.0.0.1:{port}/scribe", tmp_path)
    assert_one_line(result, f"Incident Scribe cannot start: DATABASE_URL=postgresql+psycopg://scribe:***@127.0.0.1:{port}/scribe: "
                            f"nothing answers at 127.0.0.1 port {port} (connection refused); is PostgreSQL running there?")


def test_a_wrong_database_password(tmp_path: Path) -> None:
    server = RefusingPostgres()
    try:
        result = scribe_run(f"postgresql://scribe:{SECRET}@127.0.0.1:{server.port}/scribe", tmp_path)
    finally:
        server.close()
    assert server.passwords and set(server.passwords) == {SECRET}
    assert_one_line(result, f"Incident Scribe cannot start: DATABASE_URL=postgresql://scribe:***@127.0.0.1:{server.port}/scribe: "
                            'PostgreSQL refused the user name or password (password authentication failed for user "scribe"); '
                            "check them in DATABASE_URL")


def test_a_sqlite_file_in_a_missing_folder(tmp_path: Path) -> None:
    result = scribe_run(f"sqlite:///{tmp_path}/nope/scribe.db", tmp_path)
    assert_one_line(result, f"Incident Scribe cannot start: DATABASE_URL=sqlite:///{tmp_path}/nope/scribe.db: the folder {tmp_path}/nope "
                            "does not exist; create it, or point DATABASE_URL at a file in an existing folder")
    assert not (tmp_path / "nope").exists()


def test_a_sqlite_file_in_a_folder_this_user_cant_write(tmp_path: Path) -> None:
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    wrap = None
    if os.geteuid() == 0:  # root writes anywhere: run it without the capabilities that allow that
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv to drop the capability to write anywhere")
        wrap = [setpriv, "--bounding-set", "-dac_override,-dac_read_search,-fowner", "--inh-caps", "-all"]
    try:
        result = scribe_run(f"sqlite:///{folder}/scribe.db", tmp_path, wrap=wrap)
    finally:
        folder.chmod(0o755)
    assert_one_line(result, f"Incident Scribe cannot start: DATABASE_URL=sqlite:///{folder}/scribe.db: the folder {folder} is not "
                            "writable by this user; SQLite needs to create files there")
    assert list(folder.iterdir()) == []


def scribe_run_against(api_url: str, token: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SCRIBE_", "DATABASE_URL", "PORT"))}
    env.update({"SLACK_BOT_TOKEN": token, "SLACK_SIGNING_SECRET": "sig-secret-value", "SLACK_API_URL": api_url,
                "DATABASE_URL": f"sqlite:///{cwd}/scribe.db", "SCRIBE_SCHEDULER": "false"})
    return subprocess.run([str(SCRIBE), "run"], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


def test_slack_that_cant_be_reached_is_one_line_and_exit_2(tmp_path: Path) -> None:
    with socket.socket() as bound:  # a port nobody listens on
        bound.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{bound.getsockname()[1]}/api/"
        result = scribe_run_against(url, "xoxb-1-unreachable-token", tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr and "xoxb-1-unreachable-token" not in result.stderr
    assert result.stderr.splitlines()[-1] == (
        f"Incident Scribe cannot start: Slack can't be reached at SLACK_API_URL={url} ([Errno 111] Connection refused); "
        "check the address and that this machine can reach it."
    )


def test_a_token_slack_refuses_is_one_line_and_exit_2(tmp_path: Path, slack) -> None:  # type: ignore[no-untyped-def]
    result = scribe_run_against(slack.base_url, "xoxb-1-not-this-workspaces-token", tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr and "not-this-workspaces" not in result.stderr
    assert result.stderr.splitlines()[-1] == (
        "Incident Scribe cannot start: Slack refused SLACK_BOT_TOKEN (auth.test answered `invalid_auth`): copy the Bot User "
        "OAuth Token (xoxb-…) again from your app's OAuth & Permissions page, and reinstall the app if it was removed."
    )
