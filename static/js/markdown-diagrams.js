/* ```mermaid blocks in answers: a closed fence becomes a diagram, with a switch to its source; an
 * unclosed one (an answer still streaming) stays a code block. Mermaid (5 MB) is fetched the first
 * time a page shows a diagram. Each source is drawn once per theme and the picture reused whenever
 * the answer is rendered again, so a streaming answer's diagrams do not flicker. */
(function () {
  'use strict';
  const { t } = window.AIHelper;
  const mermaidUrl = document.currentScript.dataset.mermaidSrc;

  const MERMAID_CONFIG = {
    startOnLoad: false,
    // Labels sanitized by Mermaid, `click` callbacks and links switched off.
    securityLevel: 'strict',
    // A diagram that does not parse rejects; Mermaid draws no error picture into the page.
    suppressErrorRendering: true,
    // What an `%%{init: …}%%` directive in an answer may not change (Mermaid's own list, plus the
    // raw CSS it would otherwise put into the picture).
    secure: ['secure', 'securityLevel', 'startOnLoad', 'maxTextSize', 'suppressErrorRendering', 'maxEdges', 'themeCSS'],
    logLevel: 'fatal',
  };
  const CACHE_LIMIT = 100;
  const drawn = new Map(); // theme + source -> { picture } (a sanitized fragment) or { error }
  const drawing = new Map(); // theme + source -> the promise of that
  let mermaidLoaded = null;
  let queue = Promise.resolve();
  let drawings = 0;

  /* An unclosed fence runs to the end of its container and keeps every line as content; a closed
   * one also took its closing line. (markdown-it's token says so only by its line numbers.) */
  function fenceClosed(token) {
    const content = token.content;
    const contentLines = content ? content.split('\n').length - (content.endsWith('\n') ? 1 : 0) : 0;
    return token.map[1] - token.map[0] - 1 > contentLines;
  }

  function diagramPlugin(md) {
    const fence = md.renderer.rules.fence;
    md.renderer.rules.fence = (tokens, idx, options, env, self) => {
      const token = tokens[idx];
      const language = token.info.trim().split(/\s+/)[0].toLowerCase();
      if (language !== 'mermaid' || !fenceClosed(token)) return fence(tokens, idx, options, env, self);
      const escape = md.utils.escapeHtml;
      return (
        '<div class="diagram"><div class="code-head"><span class="code-lang">mermaid</span>' +
        '<button type="button" class="diagram-toggle">' + escape(t('diagramSource')) + '</button></div>' +
        '<div class="diagram-view"></div><div class="diagram-error"></div>' +
        '<pre class="diagram-source"><code>' + escape(token.content) + '</code></pre></div>\n'
      );
    };
  }

  function loadMermaid() {
    mermaidLoaded ||= new Promise((resolve, reject) => {
      const script = document.createElement('script');
      script.src = mermaidUrl;
      script.onload = () => resolve(window.mermaid);
      script.onerror = () => {
        mermaidLoaded = null; // the next diagram tries again
        reject(new Error(t('diagramUnavailable')));
      };
      document.head.appendChild(script);
    });
    return mermaidLoaded;
  }

  const theme = () => (document.documentElement.classList.contains('dark') ? 'dark' : 'default');

  /* One diagram at a time (Mermaid keeps global state while it draws); never rejects. */
  function draw(source, sanitize) {
    const result = queue.then(async () => {
      try {
        const mermaid = await loadMermaid();
        mermaid.initialize({ ...MERMAID_CONFIG, theme: theme() });
        drawings += 1;
        const { svg } = await mermaid.render('answer-diagram-' + drawings, source);
        return { picture: sanitize(svg) };
      } catch (error) {
        return { error: String((error && error.message) || error).split('\n')[0] };
      }
    });
    queue = result;
    return result;
  }

  function remember(key, result) {
    if (drawn.size >= CACHE_LIMIT) drawn.delete(drawn.keys().next().value);
    drawn.set(key, result);
  }

  function place(node, result) {
    if (result.picture) {
      // In a shadow root, the <style> Mermaid puts into its picture styles that picture only,
      // whatever CSS an answer managed to get into it.
      const view = node.querySelector('.diagram-view');
      (view.shadowRoot || view.attachShadow({ mode: 'open' })).replaceChildren(result.picture.cloneNode(true));
      node.dataset.state = 'drawn';
    } else {
      node.querySelector('.diagram-error').textContent = t('diagramFailed', { error: result.error });
      node.dataset.state = 'failed';
    }
  }

  function show(node, sanitize) {
    const source = node.querySelector('.diagram-source code').textContent;
    const key = theme() + '\n' + source;
    const result = drawn.get(key);
    if (result) {
      place(node, result);
      return;
    }
    // The source shows meanwhile; a diagram drawn in the other theme stays until it is redrawn.
    if (!node.dataset.state) node.dataset.state = 'pending';
    if (!drawing.has(key)) {
      drawing.set(
        key,
        draw(source, sanitize).then((done) => {
          remember(key, done);
          drawing.delete(key);
        }),
      );
    }
    drawing.get(key).then(() => node.isConnected && show(node, sanitize));
  }

  /* Draws the diagrams that appear inside `container` (each re-render of an answer makes new
   * nodes; a MutationObserver's callback runs before the browser paints them, so a diagram drawn
   * before is in place at once), and switches a diagram to its source and back. */
  function handleDiagrams(container, sanitize) {
    const showNew = () => container.querySelectorAll('.diagram:not([data-state])').forEach((node) => show(node, sanitize));
    new MutationObserver(showNew).observe(container, { childList: true, subtree: true });
    showNew();
    // Light or dark (common.js switches html.dark): the diagrams shown are drawn again to match.
    new MutationObserver(() => container.querySelectorAll('.diagram[data-state]').forEach((node) => show(node, sanitize)))
      .observe(document.documentElement, { attributes: true, attributeFilter: ['class'] });
    container.addEventListener('click', (event) => {
      const button = event.target.closest('.diagram-toggle');
      if (!button) return;
      const diagram = button.closest('.diagram');
      const showingSource = diagram.classList.toggle('showing-source');
      button.textContent = showingSource ? t('diagramView') : t('diagramSource');
    });
  }

  window.AIHelperDiagrams = { diagramPlugin, handleDiagrams };
})();
