"""The organiser's page (``/admin``) in headless Chromium, against the real server: tokens made
and handed out with invite links, revoked; scripts checked line by line before they change
anything; the schedule edited with errors next to their field; who is connected; the audit log
downloaded with the token in a header; the page in French; all of it by keyboard too."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from coordinator.report import CSV_FIELDS
from coordinator.routes.audit import AUDIT_FIELDS
from tests.conftest import Tokens
from tests.support.harness import ServerProcess

pytestmark = pytest.mark.browser

LIVE_TIMEOUT_MS = 20_000  # a page load, a dictionary, a websocket, on a loaded machine
POLL_TIMEOUT_MS = 15_000  # the page refreshes connections and tokens every 5 s


def sign_in(page: Any, server: ServerProcess, token: str, query: str = "") -> None:
    page.goto(server.url + "/admin" + query)
    page.fill("#token", token)
    page.press("#token", "Enter")
    expect(page.locator("#connection")).to_have_attribute(
        "data-state", "live", timeout=LIVE_TIMEOUT_MS
    )
    expect(page.locator("#schedule-list tr")).to_have_count(7)


def token_row(page: Any, label: str) -> Any:
    return page.locator("#token-list tr", has_text=label)


def test_a_coordinator_invited_from_admin_signs_in_shows_as_used_and_is_signed_out_on_revoke(
    server: ServerProcess, page: Any, open_page: Any, tokens: Tokens
) -> None:
    sign_in(page, server, tokens.admin)
    page.select_option("#new-role", "coordinator")
    page.select_option("#new-city", "toronto")
    page.fill("#new-label", "Amira, Toronto")
    page.click("#token-create")
    expect(page.locator("#invite")).to_be_visible()
    invite_url = page.locator("#invite-url").input_value()
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/coordinator#token=[\w-]{20,}", invite_url)
    qr = page.locator("#invite-qr")
    expect(qr).to_have_attribute("src", re.compile(r"^data:image/svg\+xml"))
    expect(qr).to_have_attribute("alt", re.compile("Toronto"))
    secret = invite_url.split("#token=")[1]
    assert page.evaluate("JSON.stringify({...sessionStorage, ...localStorage})").count(secret) == 0
    row = token_row(page, "Amira, Toronto")
    expect(row.locator(".city")).to_have_text("Toronto")
    expect(row.locator(".last-used")).to_have_text("never")

    # The invite link signs a second browser into /coordinator as Toronto.
    coordinator = open_page()
    coordinator.goto(invite_url)
    expect(coordinator.locator("#connection")).to_have_attribute(
        "data-state", "live", timeout=LIVE_TIMEOUT_MS
    )
    expect(coordinator.locator("#city-name")).to_have_text("Toronto")
    assert coordinator.url == server.url + "/coordinator"
    assert secret not in server.log()
    expect(row.locator(".last-used")).not_to_have_text("never", timeout=POLL_TIMEOUT_MS)

    # "Done" forgets the link; revoking asks first, and "Keep it" keeps it.
    page.click("#invite-done")
    expect(page.locator("#invite")).to_be_hidden()
    assert page.locator("#invite-url").input_value() == ""
    row.get_by_role("button", name=re.compile("Revoke")).click()
    expect(page.locator("#confirm")).to_be_visible()
    expect(page.locator("#confirm-title")).to_contain_text("Amira, Toronto")
    expect(page.locator("#confirm-no")).to_be_focused()  # a reflex Enter keeps it
    page.keyboard.press("Enter")
    expect(page.locator("#confirm")).to_be_hidden()
    expect(row).to_have_count(1)
    row.get_by_role("button", name=re.compile("Revoke")).click()
    page.click("#confirm-yes")
    expect(row).to_have_count(0)
    expect(page.locator("#message")).to_contain_text("Revoked")

    # The open console loses its staff view at once (the revocation reaches open sockets).
    expect(coordinator.locator("#signin")).to_be_visible(timeout=5_000)
    expect(coordinator.locator("#console")).to_be_hidden()
    coordinator.console_errors.clear()  # its socket's refusal


def tab_to(page: Any, selector: str, presses: int = 60) -> None:
    """Press Tab until ``selector`` has the focus: reachable by keyboard, in the tab order."""
    for _ in range(presses):
        if page.evaluate("(s) => document.activeElement.matches(s)", selector):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"{selector} was not reached with Tab")


def test_a_token_is_created_and_revoked_with_the_keyboard_only(
    server: ServerProcess, page: Any, tokens: Tokens
) -> None:
    sign_in(page, server, tokens.admin)
    tab_to(page, "#new-role")
    page.keyboard.press("ArrowDown")  # coordinator -> operator
    expect(page.locator("#new-role")).to_have_value("operator")
    tab_to(page, "#new-city")
    page.keyboard.type("B")  # Berlin
    expect(page.locator("#new-city")).to_have_value("berlin")
    tab_to(page, "#new-label")
    page.keyboard.type("Berlin surtitles")
    page.keyboard.press("Enter")  # submits the form
    expect(page.locator("#invite")).to_be_visible()
    expect(page.locator("#invite-title")).to_be_focused()  # the news is where the focus is
    assert "/operator/berlin#token=" in page.locator("#invite-url").input_value()
    tab_to(page, "#invite-done")
    page.keyboard.press("Enter")
    expect(page.locator("#invite")).to_be_hidden()

    row = token_row(page, "Berlin surtitles")
    tab_to(page, f'#token-list tr[data-id="{row.get_attribute("data-id")}"] button')
    focus_ring = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert focus_ring != "none"  # the focus is visible
    page.keyboard.press("Enter")
    expect(page.locator("#confirm-no")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.locator("#confirm-yes")).to_be_focused()
    page.keyboard.press("Enter")
    expect(row).to_have_count(0)
    listed = server.get_json("/api/tokens", {"Authorization": f"Bearer {tokens.admin}"})
    assert "Berlin surtitles" not in [t["label"] for t in listed["tokens"]]


def test_the_schedule_is_edited_and_a_time_a_clock_change_skips_is_refused_at_its_field(
    server: ServerProcess, page: Any, tokens: Tokens
) -> None:
    sign_in(page, server, tokens.admin)
    berlin = page.locator('#schedule-list tr[data-city="berlin"]')
    berlin.get_by_role("button", name="Edit Berlin").click()
    expect(page.locator("#schedule-form-title")).to_have_text("Edit Berlin")
    expect(page.locator("#edit-start_local")).to_have_value("2025-09-20T14:00")
    page.fill("#edit-start_local", "2025-09-20T15:30")
    page.fill("#edit-venue\\.name", "Mauerpark")
    page.check("#edit-confirmed")
    page.click("#schedule-save")
    expect(berlin.locator(".start")).to_have_text(re.compile(r"^2025-09-20 15:30"))
    expect(berlin.locator(".venue")).to_have_text("Mauerpark")
    expect(berlin.locator(".confirmed")).to_have_text("yes")
    cities = {c["id"]: c for c in server.get_json("/api/cities")["cities"]}
    assert cities["berlin"]["start_utc"] == "2025-09-20T13:30:00Z"

    # 02:30 on 2025-03-30 does not exist in Berlin (the clocks go from 02:00 to 03:00).
    berlin.get_by_role("button", name="Edit Berlin").click()
    page.fill("#edit-start_local", "2025-03-30T02:30")
    page.click("#schedule-save")
    error = page.locator("#error-start_local")
    expect(error).to_be_visible()
    expect(error).not_to_be_empty()
    expect(page.locator("#edit-start_local")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#edit-start_local")).to_be_focused()
    expect(berlin.locator(".start")).to_have_text(re.compile(r"^2025-09-20 15:30"))
    page.console_errors.clear()  # the refused PATCH (400) is logged by the browser


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_script_is_checked_line_by_line_before_anything_changes_then_uploaded(
    server: ServerProcess, page: Any, tokens: Tokens, tmp_path: Path
) -> None:
    before = server.get_json("/api/state")["cues"]["paris"]
    sign_in(page, server, tokens.admin)
    page.select_option("#script-city", "paris")
    bad = write(tmp_path, "bad.csv", "n,en,fr\n1,Hello,Bonjour\n2,,Deux\n")
    page.set_input_files("#script-file", str(bad))
    problems = page.locator("#script-problems li")
    expect(problems).to_have_count(1)
    expect(problems.first.locator(".where")).to_have_text("paris-upload.csv:3")
    expect(page.locator("#script-upload")).to_be_hidden()
    assert server.get_json("/api/state")["cues"]["paris"] == before

    good = write(tmp_path, "good.csv", "n,en,fr\n1,Hello,Bonjour\n2,Goodbye,Au revoir\n")
    page.set_input_files("#script-file", str(good))
    expect(problems).to_have_count(0)
    expect(page.locator("#script-summary")).to_contain_text("2 cues")
    preview = page.locator("#script-preview-body tr")
    expect(preview).to_have_count(2)
    expect(preview.nth(1)).to_contain_text("Au revoir")
    assert server.get_json("/api/state")["cues"]["paris"] == before  # still nothing changed
    upload = page.locator("#script-upload")
    expect(upload).to_have_text("Upload it to Paris")
    upload.click()
    expect(page.locator("#message")).to_contain_text("the script is uploaded (2 cues)")
    assert server.get_json("/api/state")["cues"]["paris"]["count"] == 2


SRT = "1\n00:00:01,000 --> 00:00:02,000\n{}\n\n2\n00:00:03,000 --> 00:00:04,000\n{}\n"


def test_subtitle_files_are_checked_together_one_language_each_named_in_the_file_name(
    server: ServerProcess, page: Any, tokens: Tokens, tmp_path: Path
) -> None:
    sign_in(page, server, tokens.admin)
    page.select_option("#script-city", "berlin")
    english = write(tmp_path, "my-hour.en.srt", SRT.format("Hello", "Goodbye"))
    french = write(tmp_path, "my-hour.fr.srt", SRT.format("Bonjour", "Au revoir"))
    page.set_input_files("#script-file", [str(english), str(french)])
    expect(page.locator("#script-summary")).to_contain_text("2 cues, languages en, fr")
    expect(page.locator("#script-preview-body tr").first).to_contain_text("Bonjour")

    # A file whose name gives no language is refused on the page, before any request.
    nameless = write(tmp_path, "my-hour.srt", SRT.format("Hello", "Goodbye"))
    page.set_input_files("#script-file", [str(english), str(nameless)])
    expect(page.locator("#script-problems li")).to_have_text(
        re.compile(r"^my-hour\.srt: name the language in the file name")
    )
    expect(page.locator("#script-upload")).to_be_hidden()


def test_the_phone_of_an_open_follow_page_shows_among_the_connected(
    server: ServerProcess, page: Any, open_page: Any, tokens: Tokens
) -> None:
    sign_in(page, server, tokens.admin)
    phones = page.locator('#connections-list tr[data-city="paris"] .phones')
    expect(phones).to_have_text("0", timeout=POLL_TIMEOUT_MS)
    phone = open_page(390, 800)
    phone.goto(server.url + "/follow/paris")
    expect(phones).to_have_text("1", timeout=POLL_TIMEOUT_MS)
    coordinators = page.locator('#connections-list tr[data-city="paris"] .coordinators')
    expect(coordinators).to_have_text("0")


def test_the_audit_log_and_the_report_download_with_the_token_in_a_header_not_the_url(
    server: ServerProcess, page: Any, tokens: Tokens
) -> None:
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    sign_in(page, server, tokens.admin)
    with page.expect_download() as info:
        page.click("#download-log")
    download = info.value
    assert download.suggested_filename == "audit-log.csv"
    first_line = Path(download.path()).read_text(encoding="utf-8").splitlines()[0]
    assert first_line == ",".join(AUDIT_FIELDS)  # the header row
    with page.expect_download() as info:
        page.click("#download-report")
    report = info.value
    assert report.suggested_filename == "report.csv"
    rows = Path(report.path()).read_text(encoding="utf-8").splitlines()
    assert rows[0] == ",".join(CSV_FIELDS) and len(rows) == 1 + 7  # a row per city
    assert not [url for url in urls if tokens.admin in url]
    expect(page.locator('a[href="/report"]')).to_be_visible()


def test_the_page_speaks_french(server: ServerProcess, page: Any, tokens: Tokens) -> None:
    sign_in(page, server, tokens.admin, "?lang=fr")
    expect(page.locator("h1")).to_have_text("Organisation")
    expect(page.locator("#token-create")).to_have_text("Créer le jeton")
    expect(page.locator("#tokens-title")).to_have_text("Jetons d’accès")
    assert page.evaluate("document.documentElement.lang") == "fr"
    page.click('#lang-switch button[data-lang="en"]')
    expect(page.locator("#token-create")).to_have_text("Create the token")
