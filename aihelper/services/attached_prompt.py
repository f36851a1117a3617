"""What a model is sent of a question's files: the text of each document after the question,
with its file name, cut so that the whole request fits the model's context; each image as an
OpenAI content part (`image_url` with a base64 data URL), for a model that reads images.

Documents (and images, at most IMAGES_PER_REQUEST) of the new question come first in the budget,
then those of the earlier messages, the newest first. How much of each of the question's
documents was sent is kept (`sent_chars`), so that the page can say that one was cut.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aihelper.models import Attachment
from aihelper.services import attachments
from aihelper.services.usage import MESSAGE_FRAMING_TOKENS, estimated_tokens

# Left free besides the answer's max_tokens: the request's framing, and the estimate's error.
CONTEXT_MARGIN = 512
# Images one request carries (the question's first); an older one beyond is named, not sent.
IMAGES_PER_REQUEST = 6
IMAGE_TOKENS = 1000  # about what a provider counts for one at 2048 px


@dataclass
class DocumentBudget:
    """Tokens the documents of one request may take, handed out in the order they are asked for."""

    tokens: int
    images: int = IMAGES_PER_REQUEST
    sent: dict[str, int] = field(default_factory=dict)  # attachment id -> characters sent

    def take(self, attachment: Attachment) -> str:
        """The part of a document's text that fits, its block's framing counted."""
        self.tokens -= estimated_tokens(_document_block(attachment, ""))
        text = attachment.text
        needed = estimated_tokens(text)
        while needed > max(self.tokens, 0) and text:  # the estimate is not even over a mixed text
            text = text[: max(0, len(text) * max(self.tokens, 0) // needed - 1)]
            needed = estimated_tokens(text)
        self.tokens -= needed
        self.sent[attachment.id] = len(text)
        return text

    def take_image(self) -> bool:
        """Whether one more image may go (each is read, encoded and sent whole on every turn)."""
        if self.images <= 0:
            return False
        self.images -= 1
        self.tokens -= IMAGE_TOKENS
        return True


def budget_for(context_window: int, max_tokens: int, texts: Sequence[str]) -> DocumentBudget:
    used = sum(estimated_tokens(text) + MESSAGE_FRAMING_TOKENS for text in texts)
    return DocumentBudget(max(0, context_window - max_tokens - CONTEXT_MARGIN - used))


def _document_block(attachment: Attachment, text: str) -> str:
    cut = " (cut to fit)" if len(text) < len(attachment.text) else ""
    return f"\n\n--- Attached file: {attachment.name}{cut} ---\n{text}\n--- End of {attachment.name} ---"


def _image_part(attachment: Attachment) -> dict[str, Any]:
    data = base64.b64encode(attachments.file_of(attachment).read_bytes()).decode("ascii")
    return {"type": "image_url", "image_url": {"url": f"data:{attachment.media_type};base64,{data}"}}


def content(text: str, files: Sequence[Attachment], budget: DocumentBudget, *, vision: bool) -> str | list[dict]:
    """A user message's content: the text alone when it has no files, else the text with its
    documents and, for a model that reads images, a part per image (one that does not is told
    the image's name: an earlier message's image after a change of model)."""
    if not files:
        return text
    body = text
    images = []
    for attachment in files:
        if attachment.kind == attachments.DOCUMENT:
            body += _document_block(attachment, budget.take(attachment))
        elif vision and budget.take_image():
            images.append(_image_part(attachment))
        else:
            body += f"\n\n[An image was attached here: {attachment.name}]"
    if not images:
        return body
    return [{"type": "text", "text": body}, *images]
