"""``--html FILE``: one self-contained page (parses, fetches nothing, embeds every plot it names, carries every
finding), and a real browser renders it to a page that is not blank and not wider than the window."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from test_diagnose import llama2c_log


class _Page(HTMLParser):
    """Collects what the assertions need: tags that did not close, every reference, the images, the text."""

    VOID = {"meta", "img", "br", "link", "input", "hr"}

    def __init__(self):
        super().__init__()
        self.open: list[str] = []
        self.unbalanced: list[str] = []
        self.references: list[str] = []
        self.images: list[tuple[str, str]] = []
        self.figcaptions: list[str] = []
        self.text: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        attrs = dict(attrs)
        self.references += [v for k, v in attrs.items() if k in ("href", "src", "action", "srcset") and v]
        if tag == "img":
            self.images.append((attrs.get("src", ""), attrs.get("alt", "")))
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_endtag(self, tag):
        if not self.open or self.open.pop() != tag:
            self.unbalanced.append(tag)

    def handle_data(self, data):
        self.text.append(data)


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    page.close()
    return page


@pytest.fixture
def diagnosis_page(cli, tmp_path):
    log = llama2c_log(tmp_path / "bad.log", lr=5e-3, diverge=True)
    page = tmp_path / "report.html"
    code, out, err = cli("diagnose", "--log", log, "--html", page, "--json", "--fail-on", "never")
    assert code == 0, err
    return page, json.loads(out)


def test_html_is_self_contained_and_complete(diagnosis_page):
    path, report = diagnosis_page
    raw = path.read_text(encoding="utf-8")
    page = _parse(path)
    assert not page.open and not page.unbalanced  # every element closed in order
    assert "script" not in page.tags and "link" not in page.tags  # nothing to run, no stylesheet to fetch
    assert "http://" not in raw and "https://" not in raw
    for ref in page.references:
        assert ref.startswith(("#", "data:image/png;base64,")), ref
        assert "//" not in ref.split(",", 1)[0]
    assert "@import" not in raw and "url(" not in raw  # the CSS fetches nothing either
    codes = {f["code"] for f in report["findings"]}
    assert codes and all(code in raw for code in codes)
    assert "Ranked causes" in raw and "Decision matrix" in raw and "Inputs" in raw
    assert "fix:" in raw and str(report["inputs"]["log"][0]) in raw


def test_html_embeds_every_plot_it_names(diagnosis_page):
    path, _ = diagnosis_page
    page = _parse(path)
    assert len(page.images) == 1  # one log, one loss curve
    for src, alt in page.images:
        png = base64.b64decode(src.split(",", 1)[1])
        assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5_000
        assert alt.startswith("loss curve with lr schedule")
    assert "Plots (1)" in path.read_text(encoding="utf-8")


def test_html_option_is_shared_and_its_target_checked_first(cli, tmp_path):
    log = llama2c_log(tmp_path / "good.log", lr=5e-4, diverge=False)
    code, _, err = cli("logs", log, "--html", tmp_path / "missing" / "x.html")
    assert code == 2 and "does not exist" in err
    page = tmp_path / "logs.html"
    code, out, _ = cli("logs", log, "--html", page)
    assert code == 0 and page.is_file() and "tsdiag logs" in out
    assert len(_parse(page).images) == 1
    assert not list(tmp_path.glob(".logs.html.*"))  # written atomically: no temporary left behind


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not on PATH (Debian package chromium)")
def test_chromium_renders_a_page_that_is_not_blank_and_fits_the_window(diagnosis_page, tmp_path):
    from PIL import Image

    path, _ = diagnosis_page
    shot = tmp_path / "shot.png"
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={tmp_path / 'profile'}", "--hide-scrollbars", "--window-size=1280,1600",
                    f"--screenshot={shot}", path.resolve().as_uri()],
                   check=True, capture_output=True, timeout=120)
    pixels = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert pixels.shape[1] == 1280
    assert pixels.std() > 10  # text, tables and colour, not one flat colour
    background = pixels[5, 2]  # the body's margin, left of the page
    content = np.where(np.abs(pixels - background).sum(axis=2).max(axis=0) > 0)[0]
    assert content.size and content[-1] - content[0] + 1 <= 1200  # the page stays narrower than the window
