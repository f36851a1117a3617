"""Attachments in Chromium: an image pasted and a PDF dropped on the composer upload with their
thumbnail and chip, one is removed before sending, and the message shows what was sent; a file
the server refuses says why in the composer."""

from __future__ import annotations

import base64

import pytest
from playwright.sync_api import Page, expect

from tests.fixtures.browser import last_answer, send
from tests.test_attachments import pdf_with_script, png

pytestmark = pytest.mark.browser

HAND_OVER = """async ([event, name, type, encoded, target]) => {
    const bytes = Uint8Array.from(atob(encoded), (c) => c.charCodeAt(0));
    const data = new DataTransfer();
    data.items.add(new File([bytes], name, { type }));
    const element = document.querySelector(target);
    const happening = event === 'paste'
        ? new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true })
        : new DragEvent('drop', { dataTransfer: data, bubbles: true, cancelable: true });
    element.dispatchEvent(happening);
}"""


def hand_over(page: Page, event: str, name: str, media_type: str, data: bytes, target: str) -> None:
    page.evaluate(HAND_OVER, [event, name, media_type, base64.b64encode(data).decode(), target])


def test_paste_an_image_drop_a_pdf_remove_one_and_send(chat_page, fake_provider):
    page, admin, model = chat_page["page"], chat_page["admin"], chat_page["model"]
    admin.http.put(f"{admin.base_url}/api/admin/models/{model['id']}", json={"vision": True})
    page.reload()
    expect(page.get_by_test_id("model-select")).to_be_visible()

    hand_over(page, "paste", "screenshot.png", "image/png", png(320, 200), "textarea[data-testid=composer]")
    hand_over(page, "drop", "report.pdf", "application/pdf", pdf_with_script("Numbers"), "[data-testid=composer-box]")
    hand_over(page, "drop", "notes.txt", "text/plain", b"some notes", "[data-testid=composer-box]")
    files = page.get_by_test_id("pending-file")
    expect(files).to_have_count(3)
    expect(page.get_by_test_id("pending-thumb")).to_have_count(1)
    expect(files.nth(1)).to_contain_text("report.pdf")
    expect(page.get_by_test_id("upload-progress")).to_have_count(0)  # all three uploaded
    files.nth(2).get_by_test_id("remove-file").click()
    expect(files).to_have_count(2)

    fake_provider.script(reply="A screenshot and a report.")
    send(page, "What are these?")
    expect(last_answer(page).locator(".assistant-bubble")).to_have_text("A screenshot and a report.")
    question = page.locator(".message-user").last
    expect(question.get_by_test_id("message-image")).to_have_count(1)
    expect(question.get_by_test_id("message-document")).to_contain_text("report.pdf")
    expect(page.get_by_test_id("pending-file")).to_have_count(0)
    sent = [r["json"] for r in fake_provider.requests if r["json"].get("stream")][-1]["messages"][-1]["content"]
    assert sent[0]["type"] == "text" and "Attached file: report.pdf" in sent[0]["text"]
    assert sent[1]["type"] == "image_url"

    page.reload()  # what was sent stays with the message
    question = page.locator(".message-user").last
    expect(question.get_by_test_id("message-image")).to_have_count(1)
    question.get_by_test_id("message-image").click()
    expect(page.locator(".el-image-viewer__wrapper")).to_be_visible()


def test_a_refused_file_says_why_in_the_composer(chat_page):
    page = chat_page["page"]
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    page.get_by_test_id("attach-input").set_input_files(
        files=[{"name": "x.svg", "mimeType": "image/svg+xml", "buffer": svg}]
    )
    expect(page.get_by_test_id("upload-error")).to_contain_text("不支持这种文件")
    expect(page.get_by_test_id("send")).to_be_disabled()
    page.get_by_test_id("remove-file").click()
    expect(page.get_by_test_id("pending-file")).to_have_count(0)
