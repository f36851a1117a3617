/* One message as the chat page keeps and shows it: who wrote it (the model's name for answers),
 * the text (an answer's markdown sanitized by markdown.js, everything else as text), how it ended,
 * its token usage and speed, and the actions on it. */
(function () {
  'use strict';
  const { t } = window.AIHelper;
  const { render, copyText } = window.AIHelperMarkdown;
  const { shortTime, MessageFiles } = window.AIHelperChat;

  // Without a token for this long, a streaming answer says it is still waiting for the model
  // (an object, so that a test can shorten it).
  const timing = { waitingNoteMs: 4000 };

  /* A message as the page keeps it; `html` is the sanitized rendering of an assistant answer. */
  function messageFrom(raw) {
    const message = Vue.reactive({
      id: raw.id, role: raw.role, content: raw.content || '', reasoning: raw.reasoning || '',
      timestamp: raw.timestamp, status: raw.status || 'done', finish_reason: raw.finish_reason || null,
      model_id: raw.model_id || null, error: raw.error || '', usage: raw.usage || null,
      generation_ms: raw.generation_ms || null, seq: 0, pending: '', pendingReasoning: '', html: '',
      renderedAt: 0, renderCost: 0, startedAt: 0, highlighted: false, saving: false,
      attachments: raw.attachments || [], parent_id: raw.parent_id ?? null,
    });
    if (message.role === 'assistant') message.html = render(message.content);
    return message;
  }

  /* "123 tokens · 45.6 tokens/s", from what the provider reported and how long the answer took. */
  function usageLabel(message) {
    const usage = message.usage;
    if (!usage || usage.completion_tokens == null) return '';
    const parts = [t('tokensUsed', { prompt: usage.prompt_tokens ?? '?', completion: usage.completion_tokens })];
    if (message.generation_ms > 0 && usage.completion_tokens > 0) {
      parts.push(t('tokensPerSecond', { speed: (usage.completion_tokens / (message.generation_ms / 1000)).toFixed(1) }));
    }
    return parts.join(' · ');
  }

  const Message = {
    components: { MessageFiles },
    props: {
      message: Object, user: Object, modelName: Function, isLastAnswer: Boolean, busy: Boolean,
      siblings: { type: Array, default: () => [] }, // the ids of the message and its other versions
    },
    emits: ['regenerate', 'edit', 'continue', 'switch', 'share'],
    template: `
      <div class="message" :class="['message-' + message.role, { streaming: message.status === 'streaming', highlighted: message.highlighted }]"
           :data-message-id="message.id" data-testid="message">
        <el-avatar v-if="message.role === 'user'" :size="34" :src="user.avatar || undefined" class="message-avatar" aria-hidden="true">{{ initial }}</el-avatar>
        <div v-else class="message-avatar bot-avatar"><img src="/static/img/favicon.svg" alt=""></div>
        <div class="message-body">
          <div class="message-meta">
            <span data-testid="message-author">{{ author }}</span>
            <span class="message-time">{{ time }}</span>
          </div>
          <details v-if="message.reasoning" class="thinking">
            <summary>{{ t('thinking') }}</summary>
            <div class="thinking-body">{{ message.reasoning }}</div>
          </details>
          <message-files v-if="message.attachments.length" :files="message.attachments" />
          <div v-if="message.role === 'user' && message.content" class="bubble user-bubble">{{ message.content }}</div>
          <div v-else-if="message.content || message.status === 'streaming'" class="bubble assistant-bubble markdown"
               data-testid="answer" v-html="message.html"></div>
          <div v-if="message.saving" class="message-note note-waiting" role="status" data-testid="saving-note">{{ t('saving') }}</div>
          <div v-else-if="waiting" class="message-note note-waiting" role="status" data-testid="waiting-note">{{ t('stillWaiting') }}</div>
          <div v-if="note" class="message-note" :class="'note-' + noteKind" role="status" data-testid="message-note">
            <span>{{ note }}</span>
            <template v-if="message.id && !busy">
              <el-button link type="primary" size="small" @click="$emit('regenerate')" data-testid="retry">{{ t('retry') }}</el-button>
              <el-button v-if="canContinue && isLastAnswer" link type="primary" size="small" @click="$emit('continue')" data-testid="continue">{{ t('continueAnswer') }}</el-button>
            </template>
          </div>
          <div class="message-actions" :class="{ 'has-branches': siblings.length > 1 }" v-if="message.status !== 'streaming'">
            <span v-if="siblings.length > 1" class="branch-switch" data-testid="branch-switch">
              <button type="button" class="branch-step" :disabled="busy || position === 0" :aria-label="t('branchPrevious')"
                      :title="t('branchPrevious')" @click="$emit('switch', siblings[position - 1])" data-testid="branch-prev">‹</button>
              <span data-testid="branch-position">{{ position + 1 }}/{{ siblings.length }}</span>
              <button type="button" class="branch-step" :disabled="busy || position === siblings.length - 1" :aria-label="t('branchNext')"
                      :title="t('branchNext')" @click="$emit('switch', siblings[position + 1])" data-testid="branch-next">›</button>
            </span>
            <el-button link size="small" @click="copyText(message.content)" data-testid="copy-message">{{ t('copy') }}</el-button>
            <el-button v-if="message.role === 'assistant' && message.id && !busy && !note" link size="small" @click="$emit('regenerate')" data-testid="regenerate">{{ t('regenerate') }}</el-button>
            <el-button v-if="message.role === 'user' && message.id && !busy" link size="small" @click="$emit('edit')" data-testid="edit-message">{{ t('edit') }}</el-button>
            <el-button v-if="message.id && !busy" link size="small" @click="$emit('share')" data-testid="share-here">{{ t('shareUpToHere') }}</el-button>
            <span v-if="usage" class="message-usage" data-testid="message-usage">{{ usage }}</span>
          </div>
        </div>
      </div>`,
    setup(props) {
      const initial = Vue.computed(() => [...(props.user.username || '?')][0].toUpperCase());
      const time = Vue.computed(() => shortTime(props.message.timestamp));
      const author = Vue.computed(() => {
        const m = props.message;
        if (m.role === 'user') return props.user.username;
        return (m.model_id && props.modelName(m.model_id)) || m.model_id || t('assistant');
      });
      const noteKind = Vue.computed(() => {
        const m = props.message;
        if (m.role !== 'assistant') return '';
        if (m.finish_reason === 'interrupted') return 'interrupted';
        if (m.status === 'error') return 'error';
        if (m.status === 'stopped') return 'stopped';
        if (m.finish_reason === 'length') return 'cutoff';
        return '';
      });
      const note = Vue.computed(() => ({
        interrupted: t('interrupted'), error: props.message.error || t('failed'), stopped: t('stopped'), cutoff: t('cutOff'),
      })[noteKind.value] || '');
      // Continuing makes sense where the text stopped short, not after a refusal with no text.
      const canContinue = Vue.computed(() => Boolean(props.message.content) && ['interrupted', 'stopped', 'cutoff'].includes(noteKind.value));
      const usage = Vue.computed(() => usageLabel(props.message));
      const position = Vue.computed(() => props.siblings.indexOf(props.message.id));

      const waiting = Vue.ref(false);
      let timer = null;
      function rearm() {
        clearTimeout(timer);
        waiting.value = false;
        if (props.message.status === 'streaming' && !props.message.saving) timer = setTimeout(() => { waiting.value = true; }, timing.waitingNoteMs);
      }
      Vue.watch(() => [props.message.status, props.message.content.length, props.message.reasoning.length], rearm, { immediate: true });
      Vue.onBeforeUnmount(() => clearTimeout(timer));
      return { initial, time, author, note, noteKind, canContinue, usage, position, waiting, copyText };
    },
  };

  Object.assign(window.AIHelperChat, { messageFrom, Message, render, timing });
})();
