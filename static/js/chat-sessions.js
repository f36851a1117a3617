/* The conversation list: pages of it, grouped by day, filtered by a date range (whole days), and
 * rename / pin / delete / export of one conversation. `useSessions(app)` is called by chat.js; the
 * list is patched in place when a conversation is active, never reloaded for it. */
(function () {
  'use strict';
  const { t, N_, api } = window.AIHelper;
  const { dayGroup, startOfDay, endOfDay, DAY_MS } = window.AIHelperChat;

  const PAGE_SIZE = 30;
  const GROUP_ORDER = [N_('pinnedGroup'), N_('today'), N_('yesterday'), N_('last7'), N_('earlier')];

  function sortSessions(list) {
    const seen = new Set();
    return list.filter((s) => !seen.has(s.session_id) && seen.add(s.session_id))
      .sort((a, b) => (b.pinned - a.pinned) || (b.update_time > a.update_time ? 1 : b.update_time < a.update_time ? -1 : 0));
  }

  /* The date picker's shortcuts: whole days ending today. */
  function rangeShortcuts() {
    const lastDays = (days) => () => [new Date(startOfDay(new Date()) - (days - 1) * DAY_MS), new Date()];
    return [
      { text: t('today'), value: lastDays(1) },
      { text: t('last7'), value: lastDays(7) },
      { text: t('last30'), value: lastDays(30) },
    ];
  }

  function useSessions(app) {
    const { state } = app;

    const groups = Vue.computed(() => {
      const buckets = Object.fromEntries(GROUP_ORDER.map((key) => [key, []]));
      for (const session of state.sessions) buckets[session.pinned ? 'pinnedGroup' : dayGroup(session.update_time)].push(session);
      return GROUP_ORDER.filter((key) => buckets[key].length).map((key) => ({ key, sessions: buckets[key] }));
    });

    async function loadSessions(reset) {
      if (state.loadingSessions || (!reset && state.sessionsDone)) return;
      state.loadingSessions = true;
      try {
        if (state.range) {
          const data = await api('POST', '/api/chat/history/time-range', {
            start_time: state.range[0].toISOString(), end_time: state.range[1].toISOString(),
          });
          state.sessions = sortSessions(data.sessions);
          state.sessionsDone = true;
          return;
        }
        const before = !reset && state.sessions.length ? state.sessions[state.sessions.length - 1].session_id : null;
        const query = '?limit=' + PAGE_SIZE + (before ? '&before=' + encodeURIComponent(before) : '');
        const data = await api('GET', '/api/chat/history' + query);
        state.sessions = sortSessions(reset ? data.sessions : state.sessions.concat(data.sessions));
        state.sessionsDone = data.sessions.length < PAGE_SIZE;
      } catch (error) {
        ElementPlus.ElMessage.error(error.message);
      } finally {
        state.loadingSessions = false;
      }
    }
    function onListScroll(event) {
      const el = event.target;
      if (el.scrollTop + el.clientHeight > el.scrollHeight - 80) loadSessions(false);
    }
    /* The picker gives days; the range runs from the first day's start to the last day's end. */
    function applyRange(days) {
      state.range = days ? [startOfDay(days[0]), endOfDay(days[1])] : null;
      loadSessions(true);
      app.tools.runSearch();
    }
    function clearRange() {
      applyRange(null);
    }

    /* The entry of a conversation that was just active, patched in place (or added) when the
     * list shows this moment. */
    function touchSession(sessionId, fields) {
      const now = new Date();
      if (state.range && !(state.range[0] <= now && now <= state.range[1])) return;
      let entry = state.sessions.find((s) => s.session_id === sessionId);
      if (!entry) {
        state.sessions.unshift({ session_id: sessionId, title: '', pinned: false, create_time: now.toISOString() });
        entry = state.sessions[0];
      }
      Object.assign(entry, fields, { update_time: now.toISOString() });
      state.sessions = sortSessions(state.sessions);
    }
    /* A conversation's title changed (generated, or renamed): the list, the header and the tab. */
    function setTitle(sessionId, title) {
      const entry = state.sessions.find((s) => s.session_id === sessionId);
      if (entry) entry.title = title;
      if (state.current && state.current.session_id === sessionId) state.current.title = title;
    }
    function forgetSessions(sessionIds) {
      const gone = new Set(sessionIds);
      state.sessions = state.sessions.filter((s) => !gone.has(s.session_id));
      if (state.current && gone.has(state.current.session_id)) app.newChat();
    }

    async function renameSession(session) {
      try {
        const { value } = await ElementPlus.ElMessageBox.prompt(t('renamePrompt'), t('rename'), {
          inputValue: session.title, confirmButtonText: t('save'), cancelButtonText: t('cancel'),
          inputValidator: (v) => Boolean(v && v.trim()),
        });
        const changed = await api('PUT', '/api/chat/session/' + encodeURIComponent(session.session_id), { title: value });
        setTitle(session.session_id, changed.title);
      } catch (error) {
        if (error instanceof Error) ElementPlus.ElMessage.error(error.message);
      }
    }
    async function togglePin(session) {
      try {
        Object.assign(session, await api('PUT', '/api/chat/session/' + encodeURIComponent(session.session_id), { pinned: !session.pinned }));
        state.sessions = sortSessions(state.sessions);
      } catch (error) { ElementPlus.ElMessage.error(error.message); }
    }
    async function deleteSession(session) {
      try {
        await ElementPlus.ElMessageBox.confirm(t('confirmDeleteChat'), t('deleteChat'), {
          type: 'warning', confirmButtonText: t('deleteChat'), cancelButtonText: t('cancel'),
        });
      } catch (_cancelled) { return; }
      try {
        await api('DELETE', '/api/chat/session/' + encodeURIComponent(session.session_id));
        forgetSessions([session.session_id]);
      } catch (error) { ElementPlus.ElMessage.error(error.message); }
    }
    function onSessionCommand(session, command) {
      if (command === 'md' || command === 'json') app.tools.exportSession(session, command);
      else ({ rename: renameSession, pin: togglePin, delete: deleteSession })[command](session);
    }

    return {
      groups, loadSessions, onListScroll, applyRange, clearRange, rangeShortcuts, touchSession, setTitle,
      forgetSessions, onSessionCommand,
    };
  }

  Object.assign(window.AIHelperChat, { useSessions });
})();
