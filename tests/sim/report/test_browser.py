"""A real browser check: headless Chromium (Debian's package) opens the reports offline,
logs no console errors, loads every image, and we keep a screenshot of each.

Without Chromium the test skips locally and fails under ``CI=true`` (``make browser``
installs it).  Playwright drives the system browser; it never downloads one.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import orjson
import pytest

from fleetsim.run_page import write_run_report
from sim.sweep import SweepConfig, run_sweep
from tests.fixtures.runs import RESULTS_JSON, ROOT, TINY

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = ROOT / "results" / "report-screenshots"


def _chromium() -> str:
    for candidate in ("/usr/bin/chromium", shutil.which("chromium") or ""):
        if candidate and Path(candidate).is_file():
            return candidate
    if os.environ.get("CI") == "true":
        pytest.fail("chromium is not installed (run `make browser`); CI must run this check")
    pytest.skip("chromium is not installed (apt-get install chromium, or `make browser`)")


def _check_in_browser(html_path: Path, profile: Path, shot: Path) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    failed_requests: list[str] = []
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(profile),
            executable_path=_chromium(),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 800},  # a small laptop screen
            offline=True,  # the report must open with no network at all
        )
        try:
            page = context.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("requestfailed", lambda r: failed_requests.append(r.url))
            page.goto(html_path.as_uri(), wait_until="load")
            info: dict[str, Any] = page.evaluate(
                """() => {
                    const imgs = Array.from(document.images);
                    return {
                        count: imgs.length,
                        broken: imgs.filter(i => !(i.complete && i.naturalWidth > 0))
                                    .map(i => i.alt),
                        noAlt: imgs.filter(i => !(i.getAttribute("alt") || "").trim()).length,
                        overflowing: imgs.filter(i => i.getBoundingClientRect().width >
                                                 document.documentElement.clientWidth).length,
                        scrollWidth: document.documentElement.scrollWidth,
                        clientWidth: document.documentElement.clientWidth,
                        title: document.title,
                    };
                }"""
            )
            page.screenshot(path=str(shot), full_page=True)
        finally:
            context.close()
    info["errors"] = errors
    info["failed_requests"] = failed_requests
    return info


def _no_horizontal_scroll_and_alt_text(info: dict[str, Any]) -> None:
    """At 1280 px the page never scrolls sideways (wide tables scroll inside their own
    box), and every image says what it shows."""
    assert info["clientWidth"] == 1280, info
    assert info["overflowing"] == 0 and info["scrollWidth"] <= info["clientWidth"], info
    assert info["noAlt"] == 0, info


def _keep(shot: Path) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy2(shot, SCREENSHOTS / shot.name)


def test_run_report_renders_in_chromium(tiny_copy: Path, tmp_path: Path) -> None:
    _chromium()
    (tiny_copy / "results.json").write_bytes(orjson.dumps(RESULTS_JSON))
    report = write_run_report(tiny_copy)
    shot = tmp_path / "run-report.png"
    info = _check_in_browser(report, tmp_path / "profile", shot)
    assert info["errors"] == [], info["errors"]
    assert info["failed_requests"] == []
    assert info["count"] == 11 and info["broken"] == [], info  # 6 run charts, 5 replay
    _no_horizontal_scroll_and_alt_text(info)
    assert info["title"].startswith("fleetsim run report")
    assert shot.stat().st_size > 10_000
    _keep(shot)


def test_sweep_report_renders_in_chromium(tmp_path: Path) -> None:
    _chromium()
    result = run_sweep(
        SweepConfig(
            scenario=TINY,
            sets=("fleet.workers=3,6", "dispatch.policy=distance,load"),
            seeds=2,
            out_dir=tmp_path / "sweep",
            serial=True,
            progress=False,
            target="on_time_pct>=50",
            fleet_range=(1, 16),
            baseline_variant="fleet.workers=3,dispatch.policy=distance",
        )
    )
    report = result.out_dir / "report.html"
    shot = tmp_path / "sweep-report.png"
    info = _check_in_browser(report, tmp_path / "profile", shot)
    assert info["errors"] == [], info["errors"]
    assert info["count"] >= 10 and info["broken"] == [], info
    _no_horizontal_scroll_and_alt_text(info)
    html = report.read_text()
    assert 'class="answer' in html and 'id="fig-search"' in html and 'id="fig-paired"' in html
    _keep(shot)


def test_the_check_itself_catches_broken_pages(tmp_path: Path) -> None:
    _chromium()
    bad = tmp_path / "bad.html"
    bad.write_text(
        '<!DOCTYPE html><html><head><link rel="icon" href="data:,"><title>bad</title></head>'
        '<body><img alt="gone" src="missing.png"><script>console.error("oops")</script>'
        "</body></html>"
    )
    info = _check_in_browser(bad, tmp_path / "profile", tmp_path / "bad.png")
    assert "oops" in info["errors"]
    assert info["broken"] == ["gone"]
    wide = tmp_path / "wide.html"
    wide.write_text(
        '<!DOCTYPE html><html><head><link rel="icon" href="data:,"><title>w</title></head>'
        '<body><div style="width:1500px">wide</div><img alt=" " src="data:,"></body></html>'
    )
    info = _check_in_browser(wide, tmp_path / "profile2", tmp_path / "wide.png")
    with pytest.raises(AssertionError):
        _no_horizontal_scroll_and_alt_text(info)
    assert info["scrollWidth"] > 1280 and info["noAlt"] == 1
