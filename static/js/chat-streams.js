/* Answers streaming into the chat page: turns sent over the socket (chat-socket.js) until their
 * `start`, answers receiving deltas, resuming after a reconnect or on returning to a conversation,
 * and how each answer ended. `useStreams(app)` is called by chat.js with the app's state and the
 * functions these frames act on (openSession, touchSession, scrollToBottom, takeBack's draft). */
(function () {
  'use strict';
  const { t } = window.AIHelper;
  const { firstWords, render, addToTree } = window.AIHelperChat;

  function useStreams(app) {
    const { state, user } = app;
    // Turns sent (or waiting to be sent) whose `start` has not arrived, by client_id (the server
    // echoes it in `start` and `error`, so a reply is never taken for another turn's).
    const pendingTurns = new Map();
    let lastSentClientId = null;
    // Answers streaming into this page, by message id: the same object wherever it is shown, so
    // leaving a conversation and coming back shows the text that arrived meanwhile.
    const live = new Map();
    // Conversations asked to resume whose answer has not answered yet.
    const resuming = new Set();
    // Answers whose resume the server refused although their row said "streaming": shown as
    // stored, never asked for again (a restarted server would refuse each time).
    const refused = new Set();

    const socket = new window.AIHelperChatSocket({
      onFrame: handleFrame,
      onState: (value) => { state.connection = value; },
      onLoginEnded: () => app.loginEnded(),
      onTooBig: () => {
        // The server closed the socket over the frame it was reading: the one sent last.
        const turn = pendingTurns.get(lastSentClientId);
        if (turn) takeBack(turn, t('tooLong'));
      },
      onOpen: () => {
        for (const turn of pendingTurns.values()) sendTurn(turn);
        for (const message of live.values()) if (message.sessionId) askResume(message.sessionId, message.seq);
      },
    });

    /* Sends a turn now, or when the socket is open again; its client_id keys it until `start`. */
    function sendTurn(turn) {
      pendingTurns.set(turn.frame.client_id, turn);
      if (socket.send(turn.frame)) lastSentClientId = turn.frame.client_id;
    }

    function askResume(sessionId, after) {
      resuming.add(sessionId);
      socket.send({ type: 'resume', session_id: sessionId, after });
    }

    /* A conversation just read from the server: its streaming answer is replaced by the live one
     * when this page follows it already, else followed from its start — unless the server said
     * it is not running, when it shows as interrupted. */
    function adopt(messages, sessionId) {
      messages.forEach((message, index) => {
        if (message.role !== 'assistant' || message.status !== 'streaming') return;
        if (live.has(message.id)) {
          messages[index] = live.get(message.id);
        } else if (refused.has(message.id)) {
          message.status = 'error';
          message.finish_reason = 'interrupted';
        } else {
          // The stored text is a checkpoint of what the feed replays from its start: shown until
          // the first replayed piece, then replaced, never doubled.
          message.sessionId = sessionId;
          message.startedAt = performance.now();
          message.replaceStored = true;
          live.set(message.id, message);
          askResume(sessionId, 0);
        }
      });
    }

    function stop(sessionId) {
      if (sessionId) socket.send({ type: 'stop', session_id: sessionId });
    }

    // --- frames from the server ------------------------------------------------------------------
    function handleFrame(frame) {
      if (frame.type === 'start') return onStart(frame);
      if (frame.type === 'delta') return onDelta(frame);
      if (frame.type === 'done') return onEnd(frame);
      if (frame.type === 'error') return onError(frame);
      if (frame.type === 'title') return app.setTitle(frame.session_id, frame.title);
      if (frame.type === 'saving') return onSaving(frame);
      return undefined;
    }
    function onStart(frame) {
      const turn = pendingTurns.get(frame.client_id);
      if (!turn) return; // a replayed start for a turn this page no longer waits for
      pendingTurns.delete(frame.client_id);
      const { conversation, question, answer } = turn;
      if (question) {
        question.id = frame.user_message_id;
        question.parent_id = turn.parentId;
        addToTree(conversation.tree, question);
        user.message_count += 1;
      }
      answer.id = frame.message_id;
      answer.parent_id = question ? question.id : turn.parentId;
      addToTree(conversation.tree, answer);
      answer.sessionId = frame.session_id;
      answer.model_id = frame.model_id;
      answer.startedAt = performance.now();
      live.set(frame.message_id, answer);
      if (!conversation.session_id) {
        conversation.session_id = frame.session_id;
        conversation.title = firstWords(turn.draft);
        if (state.current === conversation) history.replaceState(null, '', '/c/' + encodeURIComponent(frame.session_id));
      }
      app.touchSession(frame.session_id, { title: conversation.title, model_id: frame.model_id });
    }
    let flushScheduled = false;
    function onDelta(frame) {
      const message = live.get(frame.message_id);
      if (!message || frame.seq <= message.seq) return; // replays after a resume: never twice
      resuming.delete(frame.session_id);
      if (message.replaceStored) {
        message.replaceStored = false;
        message.content = '';
        message.reasoning = '';
      }
      message.seq = frame.seq;
      message.pending += frame.content || '';
      message.pendingReasoning += frame.reasoning || '';
      if (!flushScheduled) {
        flushScheduled = true;
        requestAnimationFrame(flush);
      }
    }
    /* Applies the pieces received since the last frame; markdown is re-rendered at most as often
     * as it can be afforded, so a long answer keeps the page responsive. */
    function flush() {
      flushScheduled = false;
      const now = performance.now();
      let again = false;
      for (const message of live.values()) {
        takePending(message);
        if (!message.dirty) continue;
        if (now - message.renderedAt >= Math.min(400, message.renderCost * 4)) {
          renderNow(message);
        } else {
          again = true;
        }
      }
      if (again && !flushScheduled) {
        flushScheduled = true;
        requestAnimationFrame(flush);
      }
      app.scrollToBottom();
    }
    function takePending(message) {
      if (!message.pending && !message.pendingReasoning) return;
      message.content += message.pending;
      message.reasoning += message.pendingReasoning;
      message.pending = '';
      message.pendingReasoning = '';
      message.dirty = true;
    }
    function renderNow(message) {
      const started = performance.now();
      message.html = render(message.content);
      message.renderCost = performance.now() - started;
      message.renderedAt = performance.now();
      message.dirty = false;
    }
    /* The last frame of an answer: whatever arrived is shown, with how it ended. */
    function finish(message, fields) {
      takePending(message);
      Object.assign(message, fields, { saving: false });
      if (message.startedAt) message.generation_ms = Math.round(performance.now() - message.startedAt);
      renderNow(message);
      live.delete(message.id);
      resuming.delete(message.sessionId);
      app.scrollToBottom();
    }
    function onEnd(frame) {
      const message = live.get(frame.message_id);
      if (!message) return;
      finish(message, { status: frame.status, finish_reason: frame.finish_reason || null, usage: frame.usage || null });
      app.touchSession(frame.session_id, {});
      rereadIfStored(frame);
    }
    /* The generating worker went away and this end was read from the database: what was stored
     * (the whole answer, or the last checkpoint) may differ from what arrived, and is what counts. */
    function rereadIfStored(frame) {
      if (frame.stored && state.current && state.current.session_id === frame.session_id) {
        app.openSession(frame.session_id, false);
      }
    }
    /* The answer is whole, and waits for the database to be stored (then `done` comes). */
    function onSaving(frame) {
      const message = live.get(frame.message_id);
      if (!message) return;
      takePending(message);
      renderNow(message);
      message.saving = true;
    }
    function forgetLive(sessionId) {
      for (const [id, message] of live) if (message.sessionId === sessionId) live.delete(id);
    }
    function onError(frame) {
      if (frame.message_id && live.has(frame.message_id)) {
        // A restart cut the answer short: it offers Continue like any answer cut short.
        const cutByRestart = frame.code === 'server_restarting' || frame.code === 'interrupted';
        finish(live.get(frame.message_id), { status: 'error', error: frame.error, finish_reason: cutByRestart ? 'interrupted' : null });
        rereadIfStored(frame);
        return;
      }
      if (frame.code === 'unauthorized' && !frame.client_id) {
        app.loginEnded();
        return;
      }
      if (frame.code === 'stream_lost') {
        // The live relay broke; the answer is still stored by the server: read it from there.
        forgetLive(frame.session_id);
        ElementPlus.ElMessage.warning(frame.error);
        if (state.current && state.current.session_id === frame.session_id) {
          setTimeout(() => app.openSession(frame.session_id, false), 3000);
        }
        return;
      }
      if (frame.session_id && resuming.has(frame.session_id) && (frame.code === 'not_running' || frame.code === 'not_found')) {
        // Nothing is generating there now: show what was stored, once.
        resuming.delete(frame.session_id);
        for (const [id, message] of live) if (message.sessionId === frame.session_id) refused.add(id);
        forgetLive(frame.session_id);
        if (state.current && state.current.session_id === frame.session_id) app.openSession(frame.session_id, false);
        return;
      }
      const turn = frame.client_id ? pendingTurns.get(frame.client_id) : null;
      if (turn) takeBack(turn, frame.error);
      else ElementPlus.ElMessage.error(frame.error);
    }
    /* A turn the server refused before it started: take it off the page, give the text back. */
    function takeBack(turn, reason) {
      pendingTurns.delete(turn.frame.client_id);
      ElementPlus.ElMessage.error(reason);
      const list = turn.conversation.messages;
      for (const message of [turn.question, turn.answer]) {
        const at = list.indexOf(message);
        if (at >= 0) list.splice(at, 1);
      }
      if (turn.draft !== null && !state.draft) state.draft = turn.draft;
      if (!turn.conversation.session_id && state.current === turn.conversation) state.current = null;
      // A refused regenerate or edit changed nothing on the server: show what is stored.
      if ((turn.edit || !turn.question) && turn.conversation.session_id && state.current === turn.conversation) {
        app.openSession(turn.conversation.session_id, false);
      }
    }

    return { sendTurn, adopt, stop };
  }

  Object.assign(window.AIHelperChat, { useStreams });
})();
