/* The composer: the draft, how Enter behaves, sending a message, editing any question or
 * regenerating any answer (each a new branch beside it), continuing the last answer, and stopping. `useComposer(app, streams)` is called
 * by chat.js; turns go out through chat-streams.js. */
(function () {
  'use strict';
  const { t } = window.AIHelper;
  const { newClientId, messageFrom, IS_MAC } = window.AIHelperChat;

  const MAX_FRAME_CHARS = 64 * 1024;

  function useComposer(app, streams, files) {
    const { state } = app;
    const limit = app.page.max_message_chars;

    const busy = Vue.computed(() => Boolean(state.current && state.current.messages.some((m) => m.status === 'streaming')));
    const lastAnswer = Vue.computed(() => {
      const list = state.current ? state.current.messages : [];
      const last = list[list.length - 1];
      return last && last.role === 'assistant' ? last : null;
    });
    const tooLong = Vue.computed(() => state.draft.length > limit);
    const placeholder = Vue.computed(() => (state.enterSends ? t('placeholderEnter') : IS_MAC ? t('placeholderMac') : t('placeholderCtrl')));
    const canSend = Vue.computed(() => (Boolean(state.draft.trim()) || files.ready.value.length > 0)
      && !tooLong.value && !files.uploading.value);

    function onKeydown(event) {
      if (event.key !== 'Enter' || event.isComposing) return;
      const modifier = event.ctrlKey || event.metaKey;
      if (state.enterSends ? !event.shiftKey && !modifier : modifier) {
        event.preventDefault();
        send();
      }
    }

    function streamingAnswer() {
      const answer = messageFrom({ id: null, role: 'assistant', content: '', status: 'streaming', timestamp: new Date().toISOString() });
      answer.model_id = app.modelIdOf(state.modelChoice);
      return answer;
    }

    /* Sends `text` (the draft unless given) as the next message of the open conversation. */
    function send(text = state.draft) {
      const attached = files.ready.value;
      if ((!text.trim() && !attached.length) || text.length > limit || busy.value || files.uploading.value) return;
      if (state.modelChoice === null) {
        ElementPlus.ElMessage.warning(t('chooseModel'));
        return;
      }
      const edited = state.editing && state.current && state.current.session_id ? state.editing : null;
      // An edit without new files keeps the question's own (the server does the same).
      const editedFiles = edited ? edited.attachments : [];
      if (!state.current || state.current.notFound) app.startConversation();
      const conversation = state.current;
      const list = conversation.messages;
      const before = edited ? list.indexOf(edited) : list.length;
      // A new question follows the last message shown; an edited one is a sibling of the original.
      const parentId = edited ? edited.parent_id : (before ? list[before - 1].id : null);
      const frame = {
        type: 'chat', message: text, model_id: state.modelChoice, session_id: conversation.session_id,
        client_id: newClientId(), ...(edited ? { edit: true, message_id: edited.id } : {}),
        ...(attached.length ? { attachments: attached.map((a) => a.id) } : {}),
        ...(conversation.session_id === null && conversation.preset_id ? { preset_id: conversation.preset_id } : {}),
      };
      const shownFiles = attached.length ? [...attached] : editedFiles;
      if (JSON.stringify(frame).length > MAX_FRAME_CHARS) {
        // Escaped control characters can make a message under the limit too big to send.
        ElementPlus.ElMessage.error(t('tooLong'));
        return;
      }
      const question = messageFrom({
        id: null, role: 'user', content: text, timestamp: new Date().toISOString(), attachments: shownFiles,
      });
      const answer = streamingAnswer();
      // The branch shown from now on: what came before, then the new exchange.
      list.splice(before, list.length - before, question, answer);
      if (text === state.draft) state.draft = '';
      files.sent();
      state.editing = false;
      app.followAnswer();
      streams.sendTurn({ frame, conversation, question, answer, draft: text, edit: Boolean(edited), parentId });
    }
    /* A new answer to the question of `answer` (the last one unless given), beside it. */
    function regenerate(answer = lastAnswer.value) {
      const conversation = state.current;
      if (!conversation || !answer || !answer.id || busy.value) return;
      const fresh = streamingAnswer();
      const list = conversation.messages;
      const at = list.indexOf(answer);
      list.splice(at, list.length - at, fresh);
      const frame = {
        type: 'regenerate', session_id: conversation.session_id, model_id: state.modelChoice, client_id: newClientId(),
        message_id: answer.id,
      };
      app.followAnswer();
      streams.sendTurn({ frame, conversation, question: null, answer: fresh, draft: null, parentId: answer.parent_id });
    }
    /* An answer cut short (stopped, interrupted, at the length limit) goes on in a new turn. */
    function continueAnswer() {
      send(t('continuePrompt'));
    }
    /* The composer holds `question` to send again, changed, as a new branch beside it. */
    function startEdit(question) {
      state.editing = question;
      state.draft = question.content;
      app.focusComposer();
    }
    function cancelEdit() {
      state.editing = false;
      state.draft = '';
    }
    function stop() {
      if (state.current) streams.stop(state.current.session_id);
    }

    return {
      limit, busy, lastAnswer, tooLong, placeholder, canSend, onKeydown, send, regenerate,
      continueAnswer, startEdit, cancelEdit, stop,
    };
  }

  Object.assign(window.AIHelperChat, { useComposer });
})();
