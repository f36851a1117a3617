/* Markdown for assistant answers: markdown-it (raw HTML off) -> DOMPurify, code highlighted by
 * highlight.js with a language label and a copy button. The only HTML the chat page inserts. */
(function () {
  'use strict';
  const { t } = window.AIHelper;

  const md = window.markdownit({
    html: false,
    linkify: true,
    breaks: true,
    highlight(code, language) {
      const lang = (language || '').trim().split(/\s+/)[0].toLowerCase();
      const known = lang && hljs.getLanguage(lang);
      // Long unknown blocks are not auto-detected: detection costs a pass per language.
      const body = known
        ? hljs.highlight(code, { language: lang, ignoreIllegals: true }).value
        : md.utils.escapeHtml(code);
      const label = md.utils.escapeHtml(lang || 'text');
      return (
        '<pre class="code-block"><div class="code-head"><span class="code-lang">' + label +
        '</span><button type="button" class="code-copy">' + md.utils.escapeHtml(t('copy')) +
        '</button></div><code class="hljs">' + body + '</code></pre>'
      );
    },
  });

  DOMPurify.addHook('afterSanitizeAttributes', (node) => {
    if (node.tagName === 'A') {
      node.setAttribute('target', '_blank');
      node.setAttribute('rel', 'noopener noreferrer nofollow');
    }
  });

  const PURIFY_OPTIONS = {
    USE_PROFILES: { html: true },
    FORBID_TAGS: ['style', 'form', 'input', 'textarea', 'select', 'iframe', 'object', 'embed'],
    FORBID_ATTR: ['style'],
    ADD_ATTR: ['target'],
  };

  function render(text) {
    return DOMPurify.sanitize(md.render(text || ''), PURIFY_OPTIONS);
  }

  async function copyText(text) {
    try {
      await navigator.clipboard.writeText(text);
    } catch (_blocked) {
      // Plain http on a LAN address has no clipboard API.
      const area = document.createElement('textarea');
      area.value = text;
      area.setAttribute('readonly', '');
      area.style.position = 'fixed';
      area.style.opacity = '0';
      document.body.appendChild(area);
      area.select();
      document.execCommand('copy');
      area.remove();
    }
    ElementPlus.ElMessage.success(t('copied'));
  }

  /* One listener for every code block's copy button inside `container`. */
  function handleCodeCopy(container) {
    container.addEventListener('click', (event) => {
      const button = event.target.closest('.code-copy');
      if (!button) return;
      const code = button.closest('.code-block').querySelector('code');
      copyText(code.innerText);
    });
  }

  window.AIHelperMarkdown = { render, copyText, handleCodeCopy };
})();
