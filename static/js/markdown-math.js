/* Formulas in answers: a markdown-it plugin that takes $…$, $$…$$, \(…\) and \[…\] out of the text
 * before markdown reads it (so `\\`, `_` and `*` inside stay TeX, and code is never math), and
 * KaTeX to draw them. KaTeX (80 KB) is fetched the first time a page shows a formula, which reads
 * as its source until then; pages draw their answers again when it has come (`onReady`). */
(function () {
  'use strict';
  const { katexSrc, katexCss } = document.currentScript.dataset;
  let katexLoaded = null;
  const readyCallbacks = [];

  const KATEX_OPTIONS = {
    throwOnError: false, // a formula KaTeX cannot read shows its source in red, never an exception
    trust: false, // \href, \url, \includegraphics, \htmlClass … render as errors, not as HTML
    strict: 'ignore', // models write CJK text inside math: drawn as given, no console warnings
    maxSize: 20, // em: \rule{9999em}{9999em} cannot cover the page
    maxExpand: 500, // macro expansions: a recursive \def ends quickly
    output: 'htmlAndMathml',
  };
  // The same formula is drawn once and reused on every re-render of a streaming answer.
  const CACHE_LIMIT = 500;
  const drawn = new Map();

  const SPACE = /\s/;
  const DIGIT = /[0-9]/;
  const DELIMITERS = [
    { open: '$$', close: '$$', display: true },
    { open: '\\[', close: '\\]', display: true },
    { open: '\\(', close: '\\)', display: false },
  ];

  /* Where the single `$` at `start` closes, or -1. Pandoc's rules keep prices text ("$5 and $10"):
   * the opening `$` is not followed by a space, the closing one not preceded by a space (nor by a
   * backslash: `\$` is a dollar inside the formula) and not followed by a digit. */
  function singleDollarEnd(src, start, max) {
    if (start + 1 >= max || SPACE.test(src[start + 1])) return -1;
    for (let end = src.indexOf('$', start + 1); end !== -1 && end < max; end = src.indexOf('$', end + 1)) {
      const before = src[end - 1];
      if (SPACE.test(before) || before === '\\') continue;
      if (end + 1 < max && DIGIT.test(src[end + 1])) continue;
      return end;
    }
    return -1;
  }

  /* Inline rule, before markdown-it's `escape` so that `\(` is not read as an escaped `(`. A formula
   * ends before the next backtick: code spans win, so "`$x$`" is code and "$5 and `$`" no formula. */
  function mathInline(state, silent) {
    const { src, pos } = state;
    const char = src[pos];
    if (char !== '$' && char !== '\\') return false;
    const tick = src.indexOf('`', pos);
    const posMax = tick === -1 ? state.posMax : Math.min(tick, state.posMax);
    let content = null;
    let display = false;
    let next = pos;
    for (const delimiter of DELIMITERS) {
      if (!src.startsWith(delimiter.open, pos)) continue;
      const end = src.indexOf(delimiter.close, pos + delimiter.open.length);
      if (end === -1 || end + delimiter.close.length > posMax) return false;
      content = src.slice(pos + delimiter.open.length, end);
      display = delimiter.display;
      next = end + delimiter.close.length;
      break;
    }
    if (content === null && char === '$') {
      const end = singleDollarEnd(src, pos, posMax);
      if (end === -1) return false;
      content = src.slice(pos + 1, end);
      next = end + 1;
    }
    if (content === null || !content.trim()) return false;
    if (!silent) {
      const token = state.push(display ? 'math_inline_display' : 'math_inline', 'math', 0);
      token.content = content;
    }
    state.pos = next;
    return true;
  }

  /* Block rule: a line starting with `$$` or `\[`, up to the line ending with `$$` or `\]` (the
   * same line or a later one). Without the closing delimiter — an answer still streaming — the
   * lines stay a paragraph and show as text. */
  function mathBlock(state, startLine, endLine, silent) {
    if (state.sCount[startLine] - state.blkIndent >= 4) return false; // indented code
    const lineText = (line) => state.src.slice(state.bMarks[line] + state.tShift[line], state.eMarks[line]);
    const first = lineText(startLine);
    const delimiter = DELIMITERS.find((d) => d.display && first.startsWith(d.open));
    if (!delimiter) return false;
    const lines = [first.slice(delimiter.open.length)];
    let line = startLine;
    for (;;) {
      const text = lines[lines.length - 1];
      const close = text.indexOf(delimiter.close);
      if (close !== -1) {
        // `$$a$$ and text` is a paragraph with a formula in it, not a block.
        if (text.slice(close + delimiter.close.length).trim()) return false;
        lines[lines.length - 1] = text.slice(0, close);
        break;
      }
      line += 1;
      if (line >= endLine) return false;
      // A line less indented than a list item's text ends the item, and the formula with it.
      if (state.sCount[line] < state.blkIndent && state.bMarks[line] + state.tShift[line] < state.eMarks[line]) {
        return false;
      }
      lines.push(lineText(line));
    }
    const content = lines.join('\n');
    if (!content.trim()) return false;
    if (silent) return true;
    const token = state.push('math_block', 'math', 0);
    token.content = content;
    token.map = [startLine, line + 1];
    token.markup = delimiter.open;
    state.line = line + 1;
    return true;
  }

  function loadKatex() {
    katexLoaded ||= new Promise((resolve, reject) => {
      const style = document.createElement('link');
      style.rel = 'stylesheet';
      style.href = katexCss;
      document.head.appendChild(style);
      const script = document.createElement('script');
      script.src = katexSrc;
      script.onload = resolve;
      script.onerror = reject;
      document.head.appendChild(script);
    }).then(
      () => readyCallbacks.forEach((callback) => callback()),
      () => { katexLoaded = null; }, // the next formula tries again
    );
  }

  /* `callback` runs once KaTeX has come: the formulas shown as their source can be drawn. */
  function onReady(callback) {
    readyCallbacks.push(callback);
  }

  function formulaHtml(tex, display, sanitize, escape) {
    if (!window.katex) {
      loadKatex();
      return '<span class="math-pending">' + escape(tex) + '</span>';
    }
    const key = (display ? 'D' : 'I') + tex;
    let html = drawn.get(key);
    if (html === undefined) {
      html = sanitize(katex.renderToString(tex, { ...KATEX_OPTIONS, displayMode: display }));
      if (drawn.size >= CACHE_LIMIT) drawn.delete(drawn.keys().next().value);
    } else {
      drawn.delete(key); // moved to the newest end: the cache forgets the longest unused first
    }
    drawn.set(key, html);
    return html;
  }

  /* A formula is sanitized with its own profile (`sanitize`, which allows the inline styles KaTeX
   * draws with) and the answer's HTML with the strict one; the answer therefore holds an empty
   * slot where each formula goes, and `fillFormulas` puts them in after both were sanitized. */
  const SLOT = /<span data-math-slot="(\d+)"><\/span>/g;

  function mathPlugin(md, { sanitize }) {
    md.inline.ruler.before('escape', 'math_inline', mathInline);
    md.block.ruler.before('fence', 'math_block', mathBlock, { alt: ['paragraph', 'reference', 'blockquote', 'list'] });
    const slot = (env, tex, display) => {
      env.formulas = env.formulas || [];
      const html = formulaHtml(tex, display, sanitize, md.utils.escapeHtml);
      return '<span data-math-slot="' + (env.formulas.push(html) - 1) + '"></span>';
    };
    md.renderer.rules.math_inline = (tokens, idx, _options, env) => slot(env, tokens[idx].content, false);
    md.renderer.rules.math_inline_display = (tokens, idx, _options, env) => slot(env, tokens[idx].content, true);
    md.renderer.rules.math_block = (tokens, idx, _options, env) =>
      '<div class="math-block">' + slot(env, tokens[idx].content, true) + '</div>\n';
  }

  /* `html` is the sanitized answer. Only this renderer can have written a slot element into it:
   * markdown-it (html off) escapes every `<` of the text, and DOMPurify's output keeps it escaped. */
  function fillFormulas(html, env) {
    if (!env.formulas) return html;
    return html.replace(SLOT, (_slot, index) => env.formulas[Number(index)] ?? '');
  }

  window.AIHelperMath = { mathPlugin, fillFormulas, onReady };
})();
