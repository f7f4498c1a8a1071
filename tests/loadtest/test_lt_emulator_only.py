"""Emulator-only driver-app calls never go to a target off this machine."""

from loadtest.replay.wire import effective_skip_ops


def test_driver_calls_are_skipped_for_remote_targets() -> None:
    assert effective_skip_ops((), "https://onfleet.com") == ("driver.*",)
    assert effective_skip_ops(("task.complete",), "http://10.0.0.5:8080") == (
        "task.complete",
        "driver.*",
    )
    assert effective_skip_ops(("driver.*",), "https://onfleet.com") == ("driver.*",)


def test_driver_calls_are_kept_for_loopback_targets() -> None:
    for url in ("http://127.0.0.1:8080", "http://localhost:1234", "http://[::1]:80"):
        assert effective_skip_ops((), url) == ()
