/* The read-only page of a shared link (/s/<id>): the snapshot's title and messages, answers as
 * markdown sanitized by markdown.js, everything else as text; "continue in my account" for a
 * logged-in visitor (a copy of the conversation), a login link for anyone else. The snapshot is
 * page data (|tojson): nothing in it is ever compiled as a template. */
(function () {
  'use strict';
  const { t, pageData, mount, api, formatTime, LanguageSwitch } = window.AIHelper;
  const { render, handleCodeCopy, handleDiagrams, onFormulasReady } = window.AIHelperMarkdown;
  const page = pageData();
  const share = page.share;

  mount({
    components: { LanguageSwitch },
    template: `
      <div class="share-page">
        <header class="share-header">
          <div class="share-heading">
            <h1 class="share-title" data-testid="share-title">{{ share.title || t('newChat') }}</h1>
            <p class="muted share-byline" data-testid="share-byline">
              <span v-if="share.author" data-testid="share-author">{{ t('sharedBy', { name: share.author }) }} · </span>{{ t('sharedAt', { time: formatTime(share.created_at) }) }}
            </p>
          </div>
          <div class="share-actions">
            <language-switch />
            <el-button v-if="page.logged_in" type="primary" :loading="copying" @click="copy" data-testid="share-copy">{{ t('continueInMyAccount') }}</el-button>
            <el-button v-else tag="a" :href="page.login_url" type="primary" data-testid="share-login">{{ t('logInToContinue') }}</el-button>
          </div>
        </header>
        <main ref="messagesEl" class="share-messages" data-testid="share-messages">
          <div v-for="(message, index) in messages" :key="index" class="message" :class="'message-' + message.role" data-testid="share-message">
            <div class="message-body">
              <div class="message-meta">
                <span data-testid="message-author">{{ message.role === 'user' ? (share.author || t('sharedUser')) : (message.model_id || t('assistant')) }}</span>
                <span class="message-time">{{ formatTime(message.timestamp) }}</span>
              </div>
              <details v-if="message.reasoning" class="thinking">
                <summary>{{ t('thinking') }}</summary>
                <div class="thinking-body">{{ message.reasoning }}</div>
              </details>
              <div v-if="message.files.length" class="message-files">
                <span v-for="(file, n) in message.files" :key="n" class="file-chip" data-testid="share-file">
                  <el-icon><el-icon-picture v-if="file.kind === 'image'" /><el-icon-document v-else /></el-icon>
                  <span class="file-name">{{ file.name }}</span>
                </span>
              </div>
              <div v-if="message.role === 'user'" class="bubble user-bubble" data-testid="share-question">{{ message.content }}</div>
              <div v-else class="bubble assistant-bubble markdown" data-testid="share-answer" v-html="message.html"></div>
              <div v-if="message.note" class="message-note" :class="'note-' + message.status" role="status">{{ message.note }}</div>
            </div>
          </div>
        </main>
        <footer class="share-footer muted">{{ t('sharedReadOnly') }}</footer>
      </div>`,
    setup() {
      const NOTES = { stopped: t('stopped'), error: t('failed') };
      const messages = Vue.reactive(share.messages.map((m) => ({
        ...m,
        html: m.role === 'user' ? '' : render(m.content),
        note: m.role === 'user' ? '' : (NOTES[m.status] || ''),
      })));
      onFormulasReady(() => {
        for (const message of messages) if (message.role !== 'user') message.html = render(message.content);
      });
      const messagesEl = Vue.ref(null);
      const copying = Vue.ref(false);
      async function copy() {
        copying.value = true;
        try {
          const copied = await api('POST', '/api/shares/' + encodeURIComponent(share.share_id) + '/copy');
          window.location.href = '/c/' + encodeURIComponent(copied.session_id);
        } catch (error) {
          ElementPlus.ElMessage.error(error.message);
          copying.value = false;
        }
      }
      Vue.onMounted(() => {
        handleCodeCopy(messagesEl.value);
        handleDiagrams(messagesEl.value);
      });
      return { t, page, share, messages, messagesEl, copying, copy, formatTime };
    },
  });
})();
