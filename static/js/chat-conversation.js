/* The open conversation: starting a new one, opening one (its newest messages; earlier ones as the
 * user scrolls up), going to a message found by search (in its branch), switching to another
 * branch, and keeping the view at the newest text
 * while an answer streams unless the user scrolled away. `useConversation(app)` is called by
 * chat.js; streaming answers in what it opens are handed to chat-streams.js (`app.streams.adopt`). */
(function () {
  'use strict';
  const { api } = window.AIHelper;
  const { messageFrom, treeFrom, branchUrl, showBranch } = window.AIHelperChat;

  // Messages of a conversation fetched at a time: the newest first, earlier ones on scrolling up.
  const MESSAGES_PAGE = 50;
  const OLDER_THRESHOLD_PX = 200;
  const STICK_PX = 80;
  // Pages read, at most, to reach a message a search found in a long conversation.
  const FIND_PAGES_MAX = 40;
  const HIGHLIGHT_MS = 2500;

  function conversationPage(sessionId, before) {
    const query = '?session_id=' + encodeURIComponent(sessionId) + '&limit=' + MESSAGES_PAGE;
    return '/api/chat/history' + query + (before ? '&before=' + before : '');
  }

  function useConversation(app) {
    const { state, messagesEl } = app;
    let stickToBottom = true;
    // Counts openings, so that a slow answer for an earlier one never replaces a later one.
    let opening = 0;

    function newChat() {
      state.current = null;
      state.preset = null;
      state.editing = false;
      state.drawer = false;
      history.pushState(null, '', '/');
      app.focusComposer();
    }
    function startConversation() {
      // A new conversation from the preset chosen for it (the first message names it to the server).
      state.current = Vue.reactive({
        session_id: null, title: '', messages: [], tree: treeFrom([]), notFound: false, hasMore: false, loadingOlder: false,
        preset_id: state.preset ? state.preset.id : null,
      });
      state.preset = null;
    }
    /* Opens a conversation; with `messageId`, in that message's branch, scrolled to it and marked
     * for a moment. */
    async function openSession(sessionId, push = true, messageId = null) {
      state.drawer = false;
      state.editing = false;
      if (push) history.pushState(null, '', '/c/' + encodeURIComponent(sessionId));
      const run = ++opening;
      let data;
      try {
        data = messageId
          ? await api('PUT', branchUrl(sessionId), { message_id: messageId, limit: MESSAGES_PAGE })
          : await api('GET', conversationPage(sessionId));
      } catch (error) {
        if (run !== opening) return;
        if (error.status === 401) return app.loginEnded();
        state.current = { session_id: sessionId, notFound: error.status === 404, messages: [] };
        if (error.status !== 404) ElementPlus.ElMessage.error(error.message);
        return;
      }
      if (run !== opening) return;
      const messages = data.conversation.map(messageFrom);
      app.streams.adopt(messages, data.session_id);
      state.current = Vue.reactive({
        session_id: data.session_id, title: data.title, messages, tree: treeFrom(data.tree), notFound: false,
        hasMore: data.has_more, loadingOlder: false, preset_id: data.preset_id,
      });
      if (data.model_id) app.selectModelOf(data.model_id);
      if (messageId) {
        await showMessage(state.current, messageId);
      } else {
        stickToBottom = true;
        scrollToBottom();
      }
    }
    /* Earlier pages until the message is there, then it is scrolled into view and marked. */
    async function showMessage(conversation, messageId) {
      for (let pages = 0; pages < FIND_PAGES_MAX; pages += 1) {
        if (conversation.messages.some((m) => m.id === messageId) || !conversation.hasMore) break;
        if (!(await loadOlder())) break;
      }
      const message = conversation.messages.find((m) => m.id === messageId);
      if (!message) return;
      stickToBottom = false;
      message.highlighted = true;
      setTimeout(() => { message.highlighted = false; }, HIGHLIGHT_MS);
      await Vue.nextTick();
      const el = messagesEl.value && messagesEl.value.querySelector('[data-message-id="' + messageId + '"]');
      if (el) el.scrollIntoView({ block: 'center' });
    }
    /* The page of messages before the first one shown, put on top without moving what the
     * user is looking at; true when it came. */
    async function loadOlder() {
      const conversation = state.current;
      const first = conversation && conversation.messages.find((m) => m.id);
      if (!conversation || !conversation.hasMore || conversation.loadingOlder || !first) return false;
      conversation.loadingOlder = true;
      let data;
      try {
        data = await api('GET', conversationPage(conversation.session_id, first.id));
      } catch (error) {
        ElementPlus.ElMessage.error(error.message);
        return false;
      } finally {
        conversation.loadingOlder = false;
      }
      if (state.current !== conversation) return false;
      const el = messagesEl.value;
      const fromBottom = el.scrollHeight - el.scrollTop;
      conversation.messages.unshift(...data.conversation.map(messageFrom));
      conversation.hasMore = data.has_more;
      conversation.tree = treeFrom(data.tree);
      await Vue.nextTick();
      el.scrollTop = el.scrollHeight - fromBottom;
      return true;
    }

    /* Shows another version of a message (`messageId`, one of its siblings) and what follows it. */
    async function switchBranch(messageId) {
      const conversation = state.current;
      state.editing = false;
      try {
        await showBranch(conversation, messageId, MESSAGES_PAGE);
      } catch (error) {
        if (error.status === 401) return app.loginEnded();
        return ElementPlus.ElMessage.error(error.message);
      }
      if (state.current !== conversation) return;
      await Vue.nextTick();
      const el = messagesEl.value && messagesEl.value.querySelector('[data-message-id="' + messageId + '"]');
      if (el) el.scrollIntoView({ block: 'nearest' });
    }

    // --- scrolling --------------------------------------------------------------------------------
    function onMessagesScroll() {
      const el = messagesEl.value;
      stickToBottom = el.scrollTop + el.clientHeight >= el.scrollHeight - STICK_PX;
      state.scrolledUp = !stickToBottom;
      if (el.scrollTop < OLDER_THRESHOLD_PX && state.current && state.current.hasMore) loadOlder();
    }
    function scrollToBottom() {
      Vue.nextTick(() => {
        const el = messagesEl.value;
        if (el && stickToBottom) el.scrollTop = el.scrollHeight;
      });
    }
    /* The user sent or asked for something: show the newest text, and keep showing it. */
    function followAnswer() {
      stickToBottom = true;
      state.scrolledUp = false;
      scrollToBottom();
    }

    return { newChat, startConversation, openSession, loadOlder, switchBranch, onMessagesScroll, scrollToBottom, followAnswer };
  }

  Object.assign(window.AIHelperChat, { useConversation });
})();
