/* Small pieces the chat page's modules share: remembered preferences, client ids, titles and times
 * as the sidebar and the messages show them. Everything lives on window.AIHelperChat, which the
 * other chat-*.js modules extend and chat.js puts together. */
(function () {
  'use strict';
  const { lang } = window.AIHelper;

  const store = {
    get: (key, fallback) => { try { const v = localStorage.getItem('aihelper.' + key); return v === null ? fallback : JSON.parse(v); } catch (_e) { return fallback; } },
    set: (key, value) => { try { localStorage.setItem('aihelper.' + key, JSON.stringify(value)); } catch (_e) { /* private mode */ } },
  };

  function newClientId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return 'c-' + Date.now().toString(36) + '-' + Math.random().toString(36).slice(2, 12);
  }

  /* A new conversation's title until the stored one arrives, made as the server makes it. */
  function firstWords(text) {
    const words = text.split(/\s+/).filter(Boolean).join(' ');
    return words.length <= 30 ? words : words.slice(0, 29).trimEnd() + '…';
  }

  const DAY_MS = 86400000;

  function startOfDay(moment) {
    const start = new Date(moment);
    start.setHours(0, 0, 0, 0);
    return start;
  }

  /* The last millisecond of a day: a range ending on a picked day includes all of it. */
  function endOfDay(moment) {
    const end = new Date(moment);
    end.setHours(23, 59, 59, 999);
    return end;
  }

  function dayGroup(iso) {
    const then = new Date(iso);
    const start = startOfDay(new Date());
    if (then >= start) return 'today';
    if (then >= new Date(start - DAY_MS)) return 'yesterday';
    if (then >= new Date(start - 6 * DAY_MS)) return 'last7';
    return 'earlier';
  }

  function shortTime(iso) {
    if (!iso) return '';
    const moment = new Date(iso);
    const locale = lang === 'zh' ? 'zh-CN' : 'en-GB';
    const sameDay = moment.toDateString() === new Date().toDateString();
    return sameDay
      ? moment.toLocaleTimeString(locale, { hour: '2-digit', minute: '2-digit' })
      : moment.toLocaleString(locale, { month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit' });
  }

  /* The browser's IANA time zone, for dates the server writes for a person (exports). */
  function timeZone() {
    try { return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC'; } catch (_old) { return 'UTC'; }
  }

  window.AIHelperChat = {
    store, newClientId, firstWords, startOfDay, endOfDay, dayGroup, shortTime, timeZone, DAY_MS,
    IS_MAC: /Mac|iPhone|iPad/.test(navigator.platform || navigator.userAgent),
  };
})();
