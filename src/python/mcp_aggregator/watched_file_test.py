"""Following a configuration file without a restart: by content, keeping the last good one.

The file here is a real policy file (`load_policy`) applied to a real `PolicyHolder`, wired as
`app.build_app` wires it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import pytest

from mcp_aggregator.errors import ConfigError
from mcp_aggregator.policy import Policy, PolicyHolder, load_policy
from mcp_aggregator.watched_file import WatchedFile
from mcp_common.auth import Principal

pytestmark = pytest.mark.anyio

DENY_ALL = "default: deny  # first\n"
OPEN = "default: authenticated\n"  # the same size as DENY_ALL
BROKEN = "default: maybe\n"


@dataclass
class Followed:
    path: Path
    holder: PolicyHolder
    watched: WatchedFile[Policy]
    results: list[str] = field(default_factory=list)

    def write(self, text: str, keep_mtime: bool = False) -> None:
        before = self.path.stat()
        self.path.write_text(text)
        if keep_mtime:  # as a ConfigMap symlink swap or an editor may leave it
            os.utime(self.path, ns=(before.st_atime_ns, before.st_mtime_ns))

    @property
    def running_is_open(self) -> bool:
        return self.holder.current.allows(Principal("someone"), "tools", "anything")


def _follow(path: Path, interval: float = 3600.0) -> Followed:
    holder = PolicyHolder(Policy())
    results: list[str] = []
    watched = WatchedFile(path, load_policy, holder.apply, results.append, interval, "policy")
    holder.current = watched.load()
    return Followed(path, holder, watched, results)


@pytest.fixture
def followed(tmp_path: Path) -> Followed:
    path = tmp_path / "policy.yaml"
    path.write_text(DENY_ALL)
    return _follow(path)


async def test_an_unchanged_file_is_not_applied_again(followed: Followed) -> None:
    mtime = followed.path.stat().st_mtime_ns + 60 * 10**9  # a minute later, the same content
    os.utime(followed.path, ns=(mtime, mtime))
    await followed.watched.check()
    assert followed.results == []


async def test_a_changed_file_is_applied_even_with_its_old_mtime(followed: Followed) -> None:
    assert len(OPEN) == len(DENY_ALL), "neither size nor mtime tells the versions apart"
    followed.write(OPEN, keep_mtime=True)
    await followed.watched.check()
    assert followed.running_is_open
    assert followed.results == ["applied"]
    await followed.watched.check()
    assert followed.results == ["applied"], "applied once per change"


async def test_an_invalid_change_is_rejected_once_and_the_running_version_stays(
    followed: Followed, caplog: pytest.LogCaptureFixture
) -> None:
    followed.write(BROKEN)
    await followed.watched.check()
    await followed.watched.check()
    assert not followed.running_is_open
    assert followed.results == ["rejected"]
    assert "policy change rejected, keeping the running one" in caplog.text
    assert "default: 'maybe' must be 'deny' or 'authenticated'" in caplog.text
    followed.write(OPEN)  # the fix
    await followed.watched.check()
    assert followed.running_is_open
    assert followed.results == ["rejected", "applied"]


async def test_a_file_gone_for_a_moment_changes_nothing(followed: Followed) -> None:
    followed.path.unlink()
    await followed.watched.check()
    followed.path.write_text(DENY_ALL)
    await followed.watched.check()
    assert followed.results == []


async def test_a_configmap_style_symlink_swap_is_followed(tmp_path: Path) -> None:
    # Kubernetes mounts policy.yaml -> ..data/policy.yaml, ..data -> ..<timestamp>, and
    # updates by pointing ..data at a new directory in one rename.
    for version, text in (("..v1", DENY_ALL), ("..v2", OPEN)):
        (tmp_path / version).mkdir()
        (tmp_path / version / "policy.yaml").write_text(text)
    (tmp_path / "..data").symlink_to("..v1")
    (tmp_path / "policy.yaml").symlink_to("..data/policy.yaml")
    followed = _follow(tmp_path / "policy.yaml")
    assert not followed.running_is_open
    (tmp_path / "..data_tmp").symlink_to("..v2")
    (tmp_path / "..data_tmp").replace(tmp_path / "..data")
    await followed.watched.check()
    assert followed.running_is_open
    assert followed.results == ["applied"]


async def test_load_refuses_an_invalid_file_at_start(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(BROKEN)
    with pytest.raises(ConfigError, match="must be 'deny' or 'authenticated'"):
        _follow(path)


async def test_watching_applies_a_change_on_its_own(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(DENY_ALL)
    holder = PolicyHolder(Policy())
    results: list[str] = []
    heard = anyio.Event()

    def on_result(result: str) -> None:
        results.append(result)
        heard.set()

    watched = WatchedFile(path, load_policy, holder.apply, on_result, 0.01, "policy")
    holder.current = watched.load()
    with anyio.fail_after(10):
        async with anyio.create_task_group() as group:
            group.start_soon(watched.watch)
            staged = tmp_path / "policy.yaml.new"
            staged.write_text(OPEN)
            staged.replace(path)  # whole: the watcher never reads half a file
            await heard.wait()
            group.cancel_scope.cancel()
    assert results == ["applied"]
    assert holder.current.allows(Principal("someone"), "tools", "anything")


async def test_a_parser_that_fails_unexpectedly_does_not_stop_the_watching(tmp_path: Path) -> None:
    # A bug in a parser (anything but ConfigError) once ended every background loop of the
    # aggregator while it went on serving; the watcher rejects that version and goes on.
    path = tmp_path / "policy.yaml"
    path.write_text(DENY_ALL)
    holder = PolicyHolder(Policy())
    results: list[str] = []
    heard = anyio.Event()

    def parse(file: Path) -> Policy:
        if "boom" in file.read_text():
            raise TypeError("a parser bug")
        return load_policy(file)

    def on_result(result: str) -> None:
        results.append(result)
        if result == "applied":
            heard.set()

    watched = WatchedFile(path, parse, holder.apply, on_result, 0.01, "policy")
    holder.current = watched.load()
    with anyio.fail_after(10):
        async with anyio.create_task_group() as group:
            group.start_soon(watched.watch)
            path.write_text("default: deny  # boom\n")
            while not results:
                await anyio.sleep(0.01)
            path.write_text(OPEN)
            await heard.wait()
            group.cancel_scope.cancel()
    assert results == ["rejected", "applied"]
    assert holder.current.allows(Principal("someone"), "tools", "anything")
