/* The sidebar's history tools: search with highlighted snippets, selecting several conversations
 * to delete them at once, export (one as Markdown or JSON, everything as one JSON file with
 * progress) and import. Used by chat.js through `AIHelperHistory.useHistoryTools(app)`.
 * Snippets are shown as text: highlighting splits them into parts, never into HTML. */
(function () {
  'use strict';
  const { t, tn, api, upload } = window.AIHelper;


  const SEARCH_DELAY_MS = 250;
  const SEARCH_PAGE = 30;
  const HITS_PER_GROUP = 3;

  function megabytes(bytes) {
    return (bytes / 1048576).toFixed(bytes < 10485760 ? 1 : 0) + ' MB';
  }

  /* The snippet as [{text, match}] parts, the query's words marked (case-insensitively). */
  function highlight(snippet, query) {
    const words = query.trim().split(/\s+/).filter(Boolean).map((w) => w.toLocaleLowerCase());
    const lower = snippet.toLocaleLowerCase();
    const parts = [];
    let at = 0;
    while (at < snippet.length) {
      let next = -1;
      let length = 0;
      for (const word of words) {
        const found = lower.indexOf(word, at);
        if (found >= 0 && (next < 0 || found < next || (found === next && word.length > length))) {
          next = found;
          length = word.length;
        }
      }
      if (next < 0 || length === 0) {
        parts.push({ text: snippet.slice(at), match: false });
        break;
      }
      if (next > at) parts.push({ text: snippet.slice(at, next), match: false });
      parts.push({ text: snippet.slice(next, next + length), match: true });
      at = next + length;
    }
    return parts;
  }

  function saveBlob(blob, filename) {
    const url = URL.createObjectURL(blob);
    const link = document.createElement('a');
    link.href = url;
    link.download = filename;
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  /* The name the server gave the file: its UTF-8 form (RFC 6266 filename*) when there is one. */
  function filenameOf(response, fallback) {
    const header = response.headers.get('Content-Disposition') || '';
    const utf8 = /filename\*=UTF-8''([^;]+)/i.exec(header);
    if (utf8) {
      try { return decodeURIComponent(utf8[1]); } catch (_malformed) { /* the plain name then */ }
    }
    const plain = /filename="([^"]+)"/.exec(header);
    return plain ? plain[1] : fallback;
  }

  function useHistoryTools(app, page) {
    const tools = Vue.reactive({
      query: '', results: [], searching: false, searched: false, hasMore: false,
      selecting: false, selected: new Set(), exportProgress: null,
      retentionDays: page.retention_days || 0,
    });
    let searchTimer = null;
    let searchRun = 0;

    // --- search -----------------------------------------------------------------------------------
    /* A new search, or (more = true) the next page of the current one. */
    async function runSearch(more = false) {
      const query = tools.query.trim();
      const run = ++searchRun;
      if (!query) {
        Object.assign(tools, { results: [], searched: false, searching: false, hasMore: false });
        return;
      }
      tools.searching = true;
      const params = new URLSearchParams({ q: query, limit: String(SEARCH_PAGE) });
      const last = tools.results[tools.results.length - 1];
      if (more && last) params.set('before', last.timestamp);
      const range = app.state.range;
      if (range && range[0] && range[1]) {
        params.set('start_time', range[0].toISOString());
        params.set('end_time', range[1].toISOString());
      }
      try {
        const data = await api('GET', '/api/chat/search?' + params);
        if (run === searchRun) {
          Object.assign(tools, {
            results: more ? tools.results.concat(data.results) : data.results,
            searched: true,
            hasMore: data.results.length === SEARCH_PAGE,
          });
        }
      } catch (error) {
        if (run === searchRun) ElementPlus.ElMessage.error(error.message);
      } finally {
        if (run === searchRun) tools.searching = false;
      }
    }
    function onSearchInput() {
      clearTimeout(searchTimer);
      searchTimer = setTimeout(() => runSearch(), SEARCH_DELAY_MS);
    }
    function moreResults() {
      if (!tools.searching && tools.hasMore) runSearch(true);
    }
    function clearSearch() {
      tools.query = '';
      runSearch();
    }
    /* The conversation of a hit, scrolled to the message found (a title hit opens at the end). */
    function openHit(hit) {
      app.openSession(hit.session_id, true, hit.message_id || null);
    }
    // One entry per conversation, in the order of its best hit, with up to HITS_PER_GROUP snippets.
    const groupedResults = Vue.computed(() => {
      const groups = new Map();
      for (const hit of tools.results) {
        let group = groups.get(hit.session_id);
        if (!group) {
          group = { session_id: hit.session_id, title: hit.title, hits: [] };
          groups.set(hit.session_id, group);
        }
        if (group.hits.length < HITS_PER_GROUP) group.hits.push(hit);
      }
      return [...groups.values()];
    });

    // --- several at once --------------------------------------------------------------------------
    function toggleSelecting() {
      tools.selecting = !tools.selecting;
      tools.selected = new Set();
    }
    function toggleSelected(sessionId) {
      const next = new Set(tools.selected);
      if (next.has(sessionId)) next.delete(sessionId); else next.add(sessionId);
      tools.selected = next;
    }
    async function deleteSelected() {
      const ids = [...tools.selected];
      if (!ids.length) return;
      try {
        await ElementPlus.ElMessageBox.confirm(tn('confirmDeleteSelected', ids.length), t('deleteSelected'), {
          type: 'warning', confirmButtonText: t('deleteChat'), cancelButtonText: t('cancel'),
        });
      } catch (_cancelled) { return; }
      try {
        const data = await api('POST', '/api/chat/sessions/delete', { session_ids: ids });
        app.forgetSessions(data.deleted);
        ElementPlus.ElMessage.success(data.message);
        toggleSelecting();
      } catch (error) { ElementPlus.ElMessage.error(error.message); }
    }

    // --- export and import ------------------------------------------------------------------------
    async function download(url, fallbackName, onProgress) {
      const response = await fetch(url, { credentials: 'same-origin' });
      if (!response.ok) {
        const data = await response.json().catch(() => ({}));
        throw new Error(data.error || response.statusText);
      }
      const reader = response.body.getReader();
      const chunks = [];
      let received = 0;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        chunks.push(value);
        received += value.length;
        if (onProgress) onProgress(received);
      }
      saveBlob(new Blob(chunks, { type: response.headers.get('Content-Type') || 'application/octet-stream' }),
        filenameOf(response, fallbackName));
      return response;
    }
    async function exportSession(session, format) {
      const url = '/api/chat/session/' + encodeURIComponent(session.session_id) + '/export?format=' + format +
        '&tz=' + encodeURIComponent(window.AIHelperChat.timeZone());
      try { await download(url, 'conversation.' + format); } catch (error) { ElementPlus.ElMessage.error(error.message); }
    }
    async function exportAll() {
      if (tools.exportProgress !== null) return;
      tools.exportProgress = 0;
      try {
        const response = await download('/api/chat/export', 'aihelper-export.json', (bytes) => { tools.exportProgress = bytes; });
        ElementPlus.ElMessage.success(tn('exported', Number(response.headers.get('X-Conversation-Count') || 0)));
      } catch (error) {
        ElementPlus.ElMessage.error(error.message);
      } finally {
        tools.exportProgress = null;
      }
    }
    const exportLabel = Vue.computed(() => t('exporting', { size: megabytes(tools.exportProgress || 0) }));
    async function importFile(event) {
      const file = event.target.files[0];
      event.target.value = '';
      if (!file) return;
      try {
        ElementPlus.ElMessage.success((await upload('/api/chat/import', file)).message);
        app.loadSessions(true);
      } catch (error) {
        ElementPlus.ElMessage.error({ message: error.message, duration: 8000 });
      }
    }
    const retentionNote = Vue.computed(() => (tools.retentionDays ? tn('retentionNote', tools.retentionDays) : ''));
    const selectedLabel = Vue.computed(() => tn('selected', tools.selected.size));

    return Vue.reactive({
      state: tools, highlight: (snippet) => highlight(snippet, tools.query), onSearchInput, clearSearch, runSearch, openHit,
      groupedResults, moreResults,
      toggleSelecting, toggleSelected, deleteSelected, exportSession, exportAll, exportLabel, importFile,
      retentionNote, selectedLabel,
    });
  }

  window.AIHelperHistory = { useHistoryTools, highlight };
})();
