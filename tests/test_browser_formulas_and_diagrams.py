"""Formulas (KaTeX) and diagrams (Mermaid) in answers on the chat page, in Chromium against the
gunicorn live server and the fake provider: drawn when complete, text while they stream, and
nothing in them that can run."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.fixtures.browser import collect_problems, last_answer, send
from tests.fixtures.hostile_answers import ACTIVE_CONTENT, XSS_DIAGRAM, XSS_FORMULAS, XSS_SCRIPT_DIAGRAM

pytestmark = pytest.mark.browser

FORMULAS = r"""Inline $E = mc^2$ and \(a^2 + b^2 = c^2\).

$$
\sum_{i=1}^{n} x_i * y_i \\ \text{next}
$$

\[
\frac{x_1 * y_2}{2_b}
\]

It costs $5 and $10, and `$x$` is code."""

# The first diagram of a page waits for Mermaid (5.5 MB) to arrive and start.
FIRST_DRAWING_MS = 20_000

DIAGRAM_START = "Here is the flow:\n\n```mermaid\ngraph TD\n"
DIAGRAM_REST = ["A[Start] --> B[End]\n", "```\n\nAfter ", "the ", "diagram."]


def test_formulas_with_each_delimiter_render_and_prices_and_code_stay_text(chat_page, fake_provider):
    page = chat_page["page"]
    problems = collect_problems(page)
    fake_provider.script(reply=FORMULAS)
    send(page, "some maths please")
    answer = last_answer(page).locator(".assistant-bubble")
    expect(answer.locator(".katex")).to_have_count(4)
    expect(answer.locator(".katex-display")).to_have_count(2)
    # Markdown did not read `*`, `_` or `\\` inside the formulas: KaTeX got the TeX as written.
    expect(answer.locator("annotation").nth(2)).to_have_text(r"\sum_{i=1}^{n} x_i * y_i \\ \text{next}")
    expect(answer.locator("annotation").nth(3)).to_have_text(r"\frac{x_1 * y_2}{2_b}")
    expect(answer.locator("em")).to_have_count(0)
    expect(answer).to_contain_text("It costs $5 and $10, and $x$ is code.")
    expect(answer.locator("code")).to_have_text("$x$")
    page.reload()
    expect(last_answer(page).locator(".katex")).to_have_count(4)
    assert problems == []


def test_an_unfinished_formula_streams_as_text_and_renders_once_closed(chat_page, fake_provider):
    page = chat_page["page"]
    problems = collect_problems(page)
    fake_provider.script(tokens=["The ratio ", r"$$\frac{a", r"}{b}$$ holds."], stall_after=2)
    send(page, "a ratio")
    answer = last_answer(page).locator(".assistant-bubble")
    expect(answer).to_have_text(r"The ratio $$\frac{a")
    expect(answer.locator(".katex")).to_have_count(0)
    fake_provider.release()
    expect(answer.locator(".katex")).to_have_count(1)
    expect(answer).to_contain_text("holds.")
    assert problems == []


def test_a_diagram_streams_as_code_draws_once_closed_and_shows_its_source_on_request(chat_page, fake_provider):
    page = chat_page["page"]
    problems = collect_problems(page)
    library_loads = []
    page.on("request", lambda request: "mermaid.min.js" in request.url and library_loads.append(request.url))
    fake_provider.script(tokens=[DIAGRAM_START, *DIAGRAM_REST], stall_after=1, token_delay=0.2)
    send(page, "draw the flow")
    answer = last_answer(page).locator(".assistant-bubble")
    expect(answer.locator("pre code")).to_have_text("graph TD")  # the open fence is code
    expect(answer.locator(".diagram")).to_have_count(0)
    assert library_loads == [], "Mermaid is fetched only for a diagram"
    fake_provider.release()

    diagram = answer.locator(".diagram")
    picture = diagram.locator(".diagram-view svg")
    expect(picture).to_be_visible(timeout=FIRST_DRAWING_MS)
    expect(picture).to_contain_text("Start")
    expect(answer).to_contain_text("After the diagram.")
    # Drawn once: the re-renders while the rest of the answer streamed reused the first picture.
    expect(picture).to_have_attribute("id", "answer-diagram-1")
    expect(diagram.locator(".diagram-source")).to_be_hidden()

    diagram.get_by_role("button", name="源码").click()
    expect(diagram.locator(".diagram-source")).to_have_text("graph TD\nA[Start] --> B[End]\n")
    expect(picture).to_be_hidden()
    diagram.get_by_role("button", name="图表").click()
    expect(picture).to_be_visible()
    expect(diagram.locator(".diagram-source")).to_be_hidden()
    assert len(library_loads) == 1

    page.get_by_test_id("user-menu").click()
    page.get_by_test_id("menu-theme").click()
    expect(picture).to_have_attribute("id", "answer-diagram-2")  # drawn again in the dark theme
    expect(picture).to_be_visible()
    assert problems == []


def test_a_diagram_that_does_not_parse_shows_its_source_and_a_short_note(chat_page, fake_provider):
    page = chat_page["page"]
    problems = collect_problems(page)
    fake_provider.script(reply="```mermaid\ngraph TD\nA -->-->--> [[[\n```\n\nThe text goes on.")
    send(page, "a broken diagram")
    diagram = last_answer(page).locator(".diagram")
    expect(diagram.locator(".diagram-error")).to_contain_text("无法绘制此图表", timeout=FIRST_DRAWING_MS)
    expect(diagram.locator(".diagram-source")).to_have_text("graph TD\nA -->-->--> [[[\n")
    expect(diagram.locator("svg")).to_have_count(0)
    expect(diagram.get_by_role("button", name="源码")).to_be_hidden()
    expect(last_answer(page)).to_contain_text("The text goes on.")
    assert problems == []


def test_formulas_and_diagrams_cannot_run_anything(chat_page, fake_provider):
    page = chat_page["page"]
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    fake_provider.script(reply="\n\n".join([XSS_FORMULAS, XSS_DIAGRAM, XSS_SCRIPT_DIAGRAM, "The end."]))
    send(page, "try everything")
    answer = last_answer(page).locator(".assistant-bubble")
    expect(answer).to_contain_text("The end.")
    expect(answer.locator(".diagram")).to_have_count(2)
    for index in range(2):
        expect(answer.locator(".diagram").nth(index)).to_have_attribute("data-state", "drawn", timeout=FIRST_DRAWING_MS)
    expect(answer.locator(".katex, .katex-error")).to_have_count(6)
    # Untrusted commands are shown as their source, not as links, classes, styles or images.
    expect(answer.locator(".katex a, .katex img, .katex .evil")).to_have_count(0)
    assert page.evaluate(ACTIVE_CONTENT) == []
    # A click on each node of the first diagram runs nothing either (a `click` line is ignored).
    for node in answer.locator(".diagram").first.locator(".diagram-view .node").all():
        node.click()
    assert page.evaluate("window.pwned") is None
    assert dialogs == []
    # The directive did not restyle the page.
    expect(page.get_by_test_id("composer")).to_be_visible()
