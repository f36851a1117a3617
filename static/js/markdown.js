/* Markdown for assistant answers: markdown-it (raw HTML off) -> DOMPurify, code highlighted by
 * highlight.js with a language label and a copy button, formulas by KaTeX (markdown-math.js) and
 * ```mermaid diagrams by Mermaid (markdown-diagrams.js). The only HTML the chat page inserts; every
 * sanitizer profile it uses is here. */
(function () {
  'use strict';
  const { t } = window.AIHelper;
  const { mathPlugin, fillFormulas, onReady: onFormulasReady } = window.AIHelperMath;
  const { diagramPlugin, handleDiagrams: drawDiagrams } = window.AIHelperDiagrams;

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

  const FORBIDDEN_TAGS = ['form', 'input', 'textarea', 'select', 'iframe', 'object', 'embed'];
  const PURIFY_OPTIONS = {
    USE_PROFILES: { html: true },
    FORBID_TAGS: ['style', ...FORBIDDEN_TAGS],
    FORBID_ATTR: ['style'],
    ADD_ATTR: ['target'],
  };
  // KaTeX draws with inline styles (its computed heights, depths, margins and validated \color
  // values), SVG (roots, arrows) and MathML for screen readers. Only this profile allows `style`,
  // and only KaTeX's output goes through it: markdown with html off cannot write a style attribute
  // into the answer, and with trust:false no formula can ask KaTeX for one of its own choosing
  // (\htmlStyle needs trust). A style could still move a formula far off (a huge negative \kern):
  // the answer bubble's `contain: paint` (app.css) keeps all of it inside the bubble.
  const FORMULA_PURIFY_OPTIONS = {
    USE_PROFILES: { html: true, svg: true, mathMl: true },
    ADD_TAGS: ['semantics', 'annotation'], // where MathML keeps the TeX source
    ADD_ATTR: ['encoding', 'target'],
    FORBID_TAGS: ['style', ...FORBIDDEN_TAGS],
  };
  // Mermaid's picture: SVG with its own <style> and HTML labels in <foreignObject>. Mermaid's strict
  // level already cleaned the labels; this removes anything active it left (scripts, on* handlers,
  // javascript: links) and the markup is kept as nodes, never serialized and parsed again. The
  // picture goes into a shadow root (markdown-diagrams.js), so its <style> cannot reach the page.
  const DIAGRAM_PURIFY_OPTIONS = {
    USE_PROFILES: { html: true, svg: true, svgFilters: true },
    ADD_TAGS: ['foreignObject'],
    HTML_INTEGRATION_POINTS: { foreignobject: true }, // keeps the labels' HTML inside it
    FORBID_TAGS: FORBIDDEN_TAGS,
    RETURN_DOM_FRAGMENT: true,
  };

  md.use(mathPlugin, { sanitize: (html) => DOMPurify.sanitize(html, FORMULA_PURIFY_OPTIONS) });
  md.use(diagramPlugin);

  function render(text) {
    const env = {};
    return fillFormulas(DOMPurify.sanitize(md.render(text || '', env), PURIFY_OPTIONS), env);
  }

  /* Diagrams in the answers inside `container` are drawn, and switch to their source and back. */
  function handleDiagrams(container) {
    drawDiagrams(container, (svg) => DOMPurify.sanitize(svg, DIAGRAM_PURIFY_OPTIONS));
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

  window.AIHelperMarkdown = { render, copyText, handleCodeCopy, handleDiagrams, onFormulasReady };
})();
