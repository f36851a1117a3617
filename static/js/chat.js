/* The chat page: conversation list with a time-range filter, the model selector, messages rendered
 * safely (assistant markdown through markdown-it + DOMPurify, everything else as text), and the
 * input. Answers stream over the websocket (chat-socket.js). */
(function () {
  'use strict';
  const { t, lang, pageData, mount, api, upload, postForm, addMessages, setLanguage } = window.AIHelper;
  const { render, copyText, handleCodeCopy } = window.AIHelperMarkdown;
  const page = pageData();

  addMessages({
    zh: {
      newChat: '新建对话', filterRange: '按时间筛选', clearFilter: '清除筛选', startTime: '开始时间', endTime: '结束时间',
      today: '今天', yesterday: '昨天', last7: '最近 7 天', earlier: '更早', pinnedGroup: '已置顶',
      rename: '重命名', pin: '置顶', unpin: '取消置顶', deleteChat: '删除', confirmDeleteChat: '删除这个对话？其中的消息也会一并删除。',
      renamePrompt: '新的标题', noSessions: '还没有对话', noSessionsInRange: '这段时间内没有对话', loadMore: '加载更多',
      chooseModel: '选择模型', noModels: '管理员还没有启用任何模型', goAdmin: '去管理后台添加',
      placeholderCtrl: '输入消息，Ctrl+Enter 发送，Enter 换行', placeholderMac: '输入消息，⌘+Enter 发送，Enter 换行',
      placeholderEnter: '输入消息，Enter 发送，Shift+Enter 换行', send: '发送', stop: '停止', regenerate: '重新生成',
      edit: '编辑', editing: '正在编辑上一条消息', cancelEdit: '取消', copy: '复制', copied: '已复制', retry: '重试',
      thinking: '思考过程', stopped: '已停止生成', cutOff: '回答达到最大长度，已被截断', failed: '生成失败',
      connecting: '正在连接…', reconnecting: '连接已断开，正在重连…', online: '已连接', notFound: '找不到这个对话',
      notFoundHint: '它可能已被删除，或不属于你。', welcome: '今天想聊点什么？', welcomeHint: '选择右上角的模型，然后开始对话。',
      you: '我', tooLong: '已超出长度限制', profile: '个人', uploadAvatar: '更换头像', changePassword: '修改密码',
      theme: '深色模式', enterSends: 'Enter 直接发送', language: 'English', oldPassword: '原密码', newPassword: '新密码',
      confirmPassword: '确认新密码', passwordMismatch: '两次输入的新密码不一致', save: '保存', cancel: '取消',
      avatarUpdated: '头像已更新', sidebar: '对话列表', actions: '更多操作', messagesCount: '消息数', cutOffBadge: '已截断',
      olderMessages: '加载更早的消息', loadingOlder: '正在加载更早的消息…',
    },
    en: {
      newChat: 'New chat', filterRange: 'Filter by time', clearFilter: 'Clear filter', startTime: 'Start', endTime: 'End',
      today: 'Today', yesterday: 'Yesterday', last7: 'Last 7 days', earlier: 'Earlier', pinnedGroup: 'Pinned',
      rename: 'Rename', pin: 'Pin', unpin: 'Unpin', deleteChat: 'Delete',
      confirmDeleteChat: 'Delete this conversation and its messages?', renamePrompt: 'New title',
      noSessions: 'No conversations yet', noSessionsInRange: 'No conversations in this period', loadMore: 'Load more',
      chooseModel: 'Choose a model', noModels: 'The administrator has not enabled any model yet', goAdmin: 'Add one in Administration',
      placeholderCtrl: 'Type a message: Ctrl+Enter sends, Enter adds a line',
      placeholderMac: 'Type a message: ⌘+Enter sends, Enter adds a line',
      placeholderEnter: 'Type a message: Enter sends, Shift+Enter adds a line', send: 'Send', stop: 'Stop',
      regenerate: 'Regenerate', edit: 'Edit', editing: 'Editing your last message', cancelEdit: 'Cancel', copy: 'Copy',
      copied: 'Copied', retry: 'Retry', thinking: 'Thinking', stopped: 'Stopped', cutOff: 'Cut off at the max tokens',
      failed: 'Failed', connecting: 'Connecting…', reconnecting: 'Disconnected, reconnecting…', online: 'Connected',
      notFound: 'Conversation not found', notFoundHint: 'It may have been deleted, or it is not yours.',
      welcome: 'What shall we talk about?', welcomeHint: 'Choose a model at the top right and start.', you: 'Me',
      tooLong: 'Over the length limit', profile: 'Profile', uploadAvatar: 'Change avatar', changePassword: 'Change password',
      theme: 'Dark mode', enterSends: 'Enter sends', language: '中文', oldPassword: 'Current password',
      newPassword: 'New password', confirmPassword: 'Confirm new password', passwordMismatch: 'The new passwords differ',
      save: 'Save', cancel: 'Cancel', avatarUpdated: 'Avatar updated', sidebar: 'Conversations', actions: 'More actions', messagesCount: 'Messages',
      cutOffBadge: 'Cut off', olderMessages: 'Load earlier messages', loadingOlder: 'Loading earlier messages…',
    },
  });

  const PAGE_SIZE = 30;
  // Messages of a conversation fetched at a time: the newest first, earlier ones on scrolling up.
  const MESSAGES_PAGE = 50;
  const OLDER_THRESHOLD_PX = 200;
  const MAX_FRAME_CHARS = 64 * 1024;
  const IS_MAC = /Mac|iPhone|iPad/.test(navigator.platform || navigator.userAgent);
  const store = {
    get: (key, fallback) => { try { const v = localStorage.getItem('aihelper.' + key); return v === null ? fallback : JSON.parse(v); } catch (_e) { return fallback; } },
    set: (key, value) => { try { localStorage.setItem('aihelper.' + key, JSON.stringify(value)); } catch (_e) { /* private mode */ } },
  };

  function newClientId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return 'c-' + Date.now().toString(36) + '-' + Math.random().toString(36).slice(2, 12);
  }

  /* A new conversation's title until a better one arrives, as the server makes it. */
  function firstWords(text) {
    const words = text.split(/\s+/).filter(Boolean).join(' ');
    return words.length <= 30 ? words : words.slice(0, 29).trimEnd() + '…';
  }

  function dayGroup(iso) {
    const then = new Date(iso);
    const start = new Date();
    start.setHours(0, 0, 0, 0);
    const day = 86400000;
    if (then >= start) return 'today';
    if (then >= new Date(start - day)) return 'yesterday';
    if (then >= new Date(start - 6 * day)) return 'last7';
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

  /* A message as the page keeps it; `html` is the sanitized rendering of an assistant answer. */
  function messageFrom(raw) {
    const message = Vue.reactive({
      id: raw.id, role: raw.role, content: raw.content || '', reasoning: raw.reasoning || '',
      timestamp: raw.timestamp, status: raw.status || 'done', finish_reason: raw.finish_reason || null,
      error: raw.error || '', seq: 0, pending: '', pendingReasoning: '', html: '', renderedAt: 0, renderCost: 0,
    });
    if (message.role === 'assistant') message.html = render(message.content);
    return message;
  }

  const Message = {
    props: { message: Object, user: Object, isLastAnswer: Boolean, isLastQuestion: Boolean, busy: Boolean },
    emits: ['regenerate', 'edit'],
    template: `
      <div class="message" :class="['message-' + message.role, { streaming: message.status === 'streaming' }]" :data-message-id="message.id">
        <el-avatar v-if="message.role === 'user'" :size="34" :src="user.avatar || undefined" class="message-avatar">{{ initial }}</el-avatar>
        <div v-else class="message-avatar bot-avatar"><img src="/static/img/favicon.svg" alt=""></div>
        <div class="message-body">
          <div class="message-meta">
            <span>{{ message.role === 'user' ? user.username : (message.model_id || 'AI') }}</span>
            <span class="message-time">{{ time }}</span>
          </div>
          <details v-if="message.reasoning" class="thinking">
            <summary>{{ t('thinking') }}</summary>
            <div class="thinking-body">{{ message.reasoning }}</div>
          </details>
          <div v-if="message.role === 'user'" class="bubble user-bubble">{{ message.content }}</div>
          <div v-else class="bubble assistant-bubble markdown" v-html="message.html"></div>
          <div v-if="note" class="message-note" :class="'note-' + noteKind" data-testid="message-note">
            {{ note }}
            <el-button v-if="isLastAnswer && !busy" link type="primary" size="small" @click="$emit('regenerate')" data-testid="retry">{{ t('retry') }}</el-button>
          </div>
          <div class="message-actions" v-if="message.status !== 'streaming'">
            <el-button link size="small" @click="copyText(message.content)" data-testid="copy-message">{{ t('copy') }}</el-button>
            <el-button v-if="isLastAnswer && !busy && !note" link size="small" @click="$emit('regenerate')" data-testid="regenerate">{{ t('regenerate') }}</el-button>
            <el-button v-if="isLastQuestion && !busy" link size="small" @click="$emit('edit')" data-testid="edit-message">{{ t('edit') }}</el-button>
          </div>
        </div>
      </div>`,
    setup(props) {
      const initial = Vue.computed(() => [...(props.user.username || '?')][0].toUpperCase());
      const time = Vue.computed(() => shortTime(props.message.timestamp));
      const noteKind = Vue.computed(() => {
        const m = props.message;
        if (m.role !== 'assistant') return '';
        if (m.status === 'error') return 'error';
        if (m.status === 'stopped') return 'stopped';
        if (m.finish_reason === 'length') return 'cutoff';
        return '';
      });
      const note = Vue.computed(() => ({
        error: props.message.error || t('failed'), stopped: t('stopped'), cutoff: t('cutOff'),
      })[noteKind.value] || '');
      return { initial, time, note, noteKind, copyText };
    },
  };


  const TEMPLATE = `
    <el-container class="chat-shell">
      <el-aside v-if="!state.narrow" width="280px" class="chat-aside"><sidebar-content /></el-aside>
      <el-drawer v-else v-model="state.drawer" direction="ltr" size="86%" :with-header="false" class="chat-drawer">
        <sidebar-content />
      </el-drawer>
      <el-container class="chat-main">
        <el-header class="chat-header">
          <div class="chat-header-left">
            <el-button v-if="state.narrow" text @click="state.drawer = true" :aria-label="t('sidebar')" data-testid="open-drawer">
              <el-icon :size="20"><el-icon-menu /></el-icon>
            </el-button>
            <span class="chat-title" data-testid="chat-title">{{ state.current && !state.current.notFound ? (state.current.title || t('newChat')) : t('appName') }}</span>
            <span class="connection" :class="'connection-' + state.connection" data-testid="connection">
              <i class="connection-dot"></i>{{ state.connection === 'open' ? t('online') : t(state.connection) }}
            </span>
          </div>
          <div class="chat-header-right">
            <el-select v-if="allModels.length" :model-value="state.modelChoice" @update:model-value="chooseModel"
                       class="model-select" data-testid="model-select" :placeholder="t('chooseModel')" filterable>
              <el-option-group v-for="(models, provider) in state.providers" :key="provider" :label="provider">
                <el-option v-for="model in models" :key="model.id" :value="model.id" :label="model.model_name">
                  <span class="model-option">{{ model.model_name }}</span>
                  <span class="model-option-id">{{ model.model_id }}</span>
                </el-option>
              </el-option-group>
            </el-select>
            <el-dropdown trigger="click" @command="onUserCommand">
              <span class="user-menu" data-testid="user-menu" tabindex="0">
                <el-avatar :size="32" :src="user.avatar || undefined" data-testid="user-avatar">{{ initial }}</el-avatar>
                <span class="user-name">{{ user.username }}</span>
              </span>
              <template #dropdown>
                <el-dropdown-menu>
                  <el-dropdown-item disabled>{{ user.username }} · {{ t('messagesCount') }} {{ user.message_count }}</el-dropdown-item>
                  <el-dropdown-item command="avatar" divided data-testid="menu-avatar">{{ t('uploadAvatar') }}</el-dropdown-item>
                  <el-dropdown-item command="password" data-testid="menu-password">{{ t('changePassword') }}</el-dropdown-item>
                  <el-dropdown-item command="language" data-testid="menu-language">{{ t('language') }}</el-dropdown-item>
                  <el-dropdown-item command="theme" data-testid="menu-theme">{{ t('theme') }}{{ state.dark ? ' ✓' : '' }}</el-dropdown-item>
                  <el-dropdown-item command="enter" data-testid="menu-enter">{{ t('enterSends') }}{{ state.enterSends ? ' ✓' : '' }}</el-dropdown-item>
                  <el-dropdown-item v-if="user.is_admin" command="admin" data-testid="admin-link">{{ t('admin') }}</el-dropdown-item>
                  <el-dropdown-item command="logout" divided data-testid="logout">{{ t('logout') }}</el-dropdown-item>
                </el-dropdown-menu>
              </template>
            </el-dropdown>
            <input ref="avatarInput" type="file" accept="image/png,image/jpeg,image/webp,image/gif" class="hidden-input" @change="uploadAvatar" data-testid="avatar-input">
            <form ref="logoutForm" method="post" action="/logout" class="hidden-form">
              <input type="hidden" name="csrf_token" :value="page.csrf_token">
            </form>
          </div>
        </el-header>

        <el-main class="chat-body">
          <div ref="messagesEl" class="messages" @scroll="onMessagesScroll" data-testid="messages">
            <el-result v-if="state.current && state.current.notFound" icon="warning" :title="t('notFound')" :sub-title="t('notFoundHint')" data-testid="not-found">
              <template #extra><el-button type="primary" @click="newChat">{{ t('newChat') }}</el-button></template>
            </el-result>
            <div v-else-if="!state.current || !state.current.messages.length" class="welcome">
              <img src="/static/img/favicon.svg" alt="" class="welcome-logo">
              <h2>{{ t('welcome') }}</h2>
              <p v-if="state.modelsLoaded && !allModels.length" class="muted">
                {{ t('noModels') }} <a v-if="user.is_admin" href="/admin/providers">{{ t('goAdmin') }}</a>
              </p>
              <p v-else class="muted">{{ t('welcomeHint') }}</p>
            </div>
            <template v-else>
              <div v-if="state.current.hasMore" class="older-messages">
                <el-button link :loading="state.current.loadingOlder" @click="loadOlder" data-testid="older-messages">
                  {{ state.current.loadingOlder ? t('loadingOlder') : t('olderMessages') }}
                </el-button>
              </div>
              <message v-for="message in state.current.messages" :key="message.id || message"
                       :message="message" :user="user" :busy="busy"
                       :is-last-answer="message === lastAnswer" :is-last-question="message === lastQuestion && lastAnswer !== null"
                       @regenerate="regenerate" @edit="startEdit" />
            </template>
          </div>
        </el-main>

        <el-footer class="composer" height="auto">
          <div v-if="state.editing" class="editing-bar">
            {{ t('editing') }} <el-button link size="small" @click="cancelEdit">{{ t('cancelEdit') }}</el-button>
          </div>
          <div class="composer-box" :class="{ 'over-limit': tooLong }">
            <el-input v-model="state.draft" type="textarea" :autosize="{ minRows: 1, maxRows: 8 }" resize="none"
                      :placeholder="placeholder" @keydown="onKeydown" data-testid="composer" class="composer-input" />
            <div class="composer-actions">
              <span class="char-count" :class="{ 'over-limit': tooLong }" data-testid="char-count">
                <template v-if="tooLong">{{ t('tooLong') }} · </template>{{ state.draft.length }} / {{ limit }}
              </span>
              <el-button v-if="busy" type="danger" plain @click="stop" data-testid="stop">{{ t('stop') }}</el-button>
              <el-button v-else type="primary" :disabled="!state.draft.trim() || tooLong" @click="send" data-testid="send">{{ t('send') }}</el-button>
            </div>
          </div>
        </el-footer>
      </el-container>

      <el-dialog v-model="state.password.open" :title="t('changePassword')" width="400px" align-center>
        <el-form label-position="top" @submit.prevent="savePassword">
          <el-form-item :label="t('oldPassword')"><el-input v-model="state.password.old" type="password" show-password autocomplete="current-password" /></el-form-item>
          <el-form-item :label="t('newPassword')"><el-input v-model="state.password.new" type="password" show-password autocomplete="new-password" /></el-form-item>
          <el-form-item :label="t('confirmPassword')"><el-input v-model="state.password.confirm" type="password" show-password autocomplete="new-password" /></el-form-item>
        </el-form>
        <template #footer>
          <el-button @click="state.password.open = false">{{ t('cancel') }}</el-button>
          <el-button type="primary" @click="savePassword">{{ t('save') }}</el-button>
        </template>
      </el-dialog>
    </el-container>`;

  /* The sidebar, rendered in the aside on wide screens and in a drawer on phones. It reads the
   * app's state through provide/inject. */
  const SidebarContent = {
    template: `
      <div class="sidebar">
        <el-button type="primary" class="new-chat" @click="app.newChat" data-testid="new-chat">
          <el-icon><el-icon-plus /></el-icon><span>{{ t('newChat') }}</span>
        </el-button>
        <el-input v-model="tools.state.query" clearable size="small" :placeholder="t('searchPlaceholder')"
                  @input="tools.onSearchInput" @clear="tools.clearSearch" class="search-input" data-testid="search-input">
          <template #prefix><el-icon><el-icon-search /></el-icon></template>
        </el-input>
        <div class="range-filter">
          <el-date-picker :model-value="app.state.range" @update:model-value="app.applyRange" type="datetimerange"
                          :start-placeholder="t('startTime')" :end-placeholder="t('endTime')" :clearable="false"
                          size="small" class="range-picker" data-testid="range-picker" />
          <el-button v-if="app.state.range" link type="primary" size="small" @click="app.clearRange" data-testid="clear-filter">{{ t('clearFilter') }}</el-button>
        </div>

        <div v-if="tools.state.query.trim()" class="session-list search-results" data-testid="search-results">
          <div v-for="hit in tools.state.results" :key="hit.session_id + ':' + hit.message_id" class="search-hit"
               :class="{ active: app.state.current && app.state.current.session_id === hit.session_id }"
               @click="tools.openHit(hit)" data-testid="search-hit">
            <div class="search-hit-title">{{ hit.title || t('newChat') }}</div>
            <div class="search-hit-snippet">
              <span v-if="!hit.message_id" class="search-hit-tag">{{ t('inTitle') }}</span>
              <template v-for="(part, index) in tools.highlight(hit.snippet)" :key="index"><mark v-if="part.match">{{ part.text }}</mark><template v-else>{{ part.text }}</template></template>
            </div>
            <div class="search-hit-time">{{ shortTime(hit.timestamp) }}</div>
          </div>
          <el-button v-if="tools.state.hasMore" link type="primary" size="small" class="search-more" :loading="tools.state.searching"
                     @click="tools.moreResults" data-testid="search-more">{{ t('loadMore') }}</el-button>
          <p v-if="tools.state.searching && !tools.state.results.length" class="muted session-empty">{{ t('searching') }}</p>
          <p v-else-if="tools.state.searched && !tools.state.results.length" class="muted session-empty" data-testid="no-results">{{ t('noResults') }}</p>
        </div>

        <div v-else class="session-list" @scroll="app.onListScroll" data-testid="session-list">
          <div v-if="tools.state.selecting" class="select-bar" data-testid="select-bar">
            <span>{{ tools.selectedLabel }}</span>
            <el-button link type="danger" size="small" :disabled="!tools.state.selected.size" @click="tools.deleteSelected" data-testid="delete-selected">{{ t('deleteSelected') }}</el-button>
            <el-button link size="small" @click="tools.toggleSelecting">{{ t('cancel') }}</el-button>
          </div>
          <div v-for="group in app.groups" :key="group.key" class="session-group">
            <div class="session-group-title">{{ t(group.key) }}</div>
            <div v-for="session in group.sessions" :key="session.session_id" class="session-item"
                 :class="{ active: app.state.current && app.state.current.session_id === session.session_id, pinned: session.pinned }"
                 :data-session-id="session.session_id"
                 @click="tools.state.selecting ? tools.toggleSelected(session.session_id) : app.openSession(session.session_id)">
              <el-checkbox v-if="tools.state.selecting" :model-value="tools.state.selected.has(session.session_id)"
                           @click.stop @change="tools.toggleSelected(session.session_id)" data-testid="session-check" />
              <span class="session-title">{{ session.title || t('newChat') }}</span>
              <el-icon v-if="session.pinned" class="pin-mark" data-testid="pin-mark"><el-icon-star-filled /></el-icon>
              <el-dropdown v-if="!tools.state.selecting" trigger="click" @command="command => app.onSessionCommand(session, command)" @click.stop>
                <el-button link class="session-more" @click.stop :aria-label="t('actions')" data-testid="session-menu">⋯</el-button>
                <template #dropdown>
                  <el-dropdown-menu>
                    <el-dropdown-item command="rename" data-testid="session-rename">{{ t('rename') }}</el-dropdown-item>
                    <el-dropdown-item command="pin" data-testid="session-pin">{{ session.pinned ? t('unpin') : t('pin') }}</el-dropdown-item>
                    <el-dropdown-item command="md" divided data-testid="session-export-md">{{ t('exportMd') }}</el-dropdown-item>
                    <el-dropdown-item command="json" data-testid="session-export-json">{{ t('exportJson') }}</el-dropdown-item>
                    <el-dropdown-item command="delete" data-testid="session-delete" divided>{{ t('deleteChat') }}</el-dropdown-item>
                  </el-dropdown-menu>
                </template>
              </el-dropdown>
            </div>
          </div>
          <p v-if="!app.groups.length && !app.state.loadingSessions" class="muted session-empty">
            {{ app.state.range ? t('noSessionsInRange') : t('noSessions') }}
          </p>
        </div>

        <div class="sidebar-footer">
          <p v-if="tools.retentionNote" class="retention-note" data-testid="retention-note">{{ tools.retentionNote }}</p>
          <div v-if="tools.state.exportProgress !== null" class="export-progress" data-testid="export-progress">{{ tools.exportLabel }}</div>
          <div class="sidebar-tools">
            <el-button link size="small" @click="tools.toggleSelecting" data-testid="select-mode">{{ t('select') }}</el-button>
            <el-button link size="small" @click="tools.exportAll" :loading="tools.state.exportProgress !== null" data-testid="export-all">{{ t('exportAll') }}</el-button>
            <el-button link size="small" @click="$refs.importInput.click()" data-testid="import">{{ t('importFile') }}</el-button>
            <input ref="importInput" type="file" accept="application/json,.json" class="hidden-input" @change="tools.importFile" data-testid="import-input">
          </div>
        </div>
      </div>`,
    setup() {
      const app = Vue.inject('chatApp');
      return { app, tools: app.tools, shortTime };
    },
  };

  const App = {
    components: { Message, SidebarContent },
    template: TEMPLATE,
    setup() {
      const user = Vue.reactive({ ...page.user });
      const state = Vue.reactive({
        providers: {}, modelChoice: null, modelsLoaded: false,
        sessions: [], sessionsDone: false, loadingSessions: false, range: null,
        current: null, connection: 'connecting', draft: '', editing: false,
        drawer: false, narrow: window.matchMedia('(max-width: 768px)').matches,
        dark: document.documentElement.classList.contains('dark'), enterSends: store.get('enterSends', false),
        password: { open: false, old: '', new: '', confirm: '' },
      });
      const limit = page.max_message_chars;
      const messagesEl = Vue.ref(null);
      const avatarInput = Vue.ref(null);
      const logoutForm = Vue.ref(null);
      let stickToBottom = true;
      // Turns sent (or waiting to be sent) whose `start` has not arrived, by client_id (the server
      // echoes it in `start` and `error`, so a reply is never taken for another turn's).
      const pendingTurns = new Map();
      let lastSentClientId = null;
      // Answers streaming into this page, by message id.
      const streams = new Map();
      const resuming = new Set();

      const socket = new window.AIHelperChatSocket({
        onFrame: handleFrame,
        onState: (value) => { state.connection = value; },
        onTooBig: () => {
          // The server closed the socket over the frame it was reading: the one sent last.
          const turn = pendingTurns.get(lastSentClientId);
          if (turn) takeBack(turn, t('tooLong'));
        },
        onOpen: () => {
          for (const turn of pendingTurns.values()) sendTurn(turn);
          for (const message of streams.values()) {
            if (!message.sessionId) continue;
            resuming.add(message.sessionId);
            socket.send({ type: 'resume', session_id: message.sessionId, after: message.seq });
          }
        },
      });

      // --- models -------------------------------------------------------------------------------
      const allModels = Vue.computed(() => Object.values(state.providers).flat());
      async function loadModels() {
        const data = await api('GET', '/api/models');
        state.providers = data.providers;
        const remembered = store.get('model', null);
        const ids = allModels.value.map((m) => m.id);
        state.modelChoice = ids.includes(remembered) ? remembered : (ids[0] ?? null);
        state.modelsLoaded = true;
      }
      function chooseModel(id) {
        state.modelChoice = id;
        store.set('model', id);
      }
      function selectModelOf(modelId) {
        const match = allModels.value.find((m) => m.model_id === modelId);
        if (match) state.modelChoice = match.id;
      }

      // --- conversation list --------------------------------------------------------------------
      const groups = Vue.computed(() => {
        const order = ['pinnedGroup', 'today', 'yesterday', 'last7', 'earlier'];
        const buckets = Object.fromEntries(order.map((key) => [key, []]));
        for (const session of state.sessions) buckets[session.pinned ? 'pinnedGroup' : dayGroup(session.update_time)].push(session);
        return order.filter((key) => buckets[key].length).map((key) => ({ key, sessions: buckets[key] }));
      });
      async function loadSessions(reset) {
        if (state.loadingSessions || (!reset && state.sessionsDone)) return;
        state.loadingSessions = true;
        try {
          if (state.range && state.range[0] && state.range[1]) {
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
      function sortSessions(list) {
        const seen = new Set();
        return list.filter((s) => !seen.has(s.session_id) && seen.add(s.session_id))
          .sort((a, b) => (b.pinned - a.pinned) || (b.update_time > a.update_time ? 1 : b.update_time < a.update_time ? -1 : 0));
      }
      function onListScroll(event) {
        const el = event.target;
        if (el.scrollTop + el.clientHeight > el.scrollHeight - 80) loadSessions(false);
      }
      function applyRange(value) {
        state.range = value;
        loadSessions(true);
        tools.runSearch();
      }
      function clearRange() {
        state.range = null;
        loadSessions(true);
        tools.runSearch();
      }
      function forgetSessions(sessionIds) {
        const gone = new Set(sessionIds);
        state.sessions = state.sessions.filter((s) => !gone.has(s.session_id));
        if (state.current && gone.has(state.current.session_id)) newChat();
      }
      async function renameSession(session) {
        try {
          const { value } = await ElementPlus.ElMessageBox.prompt(t('renamePrompt'), t('rename'), {
            inputValue: session.title, confirmButtonText: t('save'), cancelButtonText: t('cancel'),
            inputValidator: (v) => Boolean(v && v.trim()),
          });
          Object.assign(session, await api('PUT', '/api/chat/session/' + encodeURIComponent(session.session_id), { title: value }));
          if (state.current && state.current.session_id === session.session_id) state.current.title = session.title;
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
          state.sessions = state.sessions.filter((s) => s.session_id !== session.session_id);
          if (state.current && state.current.session_id === session.session_id) newChat();
        } catch (error) { ElementPlus.ElMessage.error(error.message); }
      }
      function onSessionCommand(session, command) {
        if (command === 'md' || command === 'json') tools.exportSession(session, command);
        else ({ rename: renameSession, pin: togglePin, delete: deleteSession })[command](session);
      }

      // Search, several at once, export and import (chat-history.js).
      const tools = window.AIHelperHistory.useHistoryTools(
        { state, openSession: (id) => openSession(id), forgetSessions, loadSessions }, page,
      );

      // --- one conversation ---------------------------------------------------------------------
      function newChat() {
        state.current = null;
        state.editing = false;
        state.drawer = false;
        history.pushState(null, '', '/');
      }
      async function openSession(sessionId, push = true) {
        state.drawer = false;
        state.editing = false;
        if (push) history.pushState(null, '', '/c/' + encodeURIComponent(sessionId));
        let data;
        try {
          data = await api('GET', conversationPage(sessionId));
        } catch (error) {
          state.current = { session_id: sessionId, notFound: error.status === 404, messages: [] };
          if (error.status !== 404) ElementPlus.ElMessage.error(error.message);
          return;
        }
        const messages = data.conversation.map(messageFrom);
        state.current = Vue.reactive({
          session_id: data.session_id, title: data.title, messages, notFound: false,
          hasMore: data.has_more, loadingOlder: false,
        });
        if (data.model_id) selectModelOf(data.model_id);
        for (const message of messages) {
          if (message.role === 'assistant' && message.status === 'streaming' && !streams.has(message.id)) {
            // Still being generated (e.g. the page was reloaded): re-attach from the start.
            message.sessionId = data.session_id;
            streams.set(message.id, message);
            resuming.add(data.session_id);
            socket.send({ type: 'resume', session_id: data.session_id, after: 0 });
          }
        }
        stickToBottom = true;
        scrollToBottom();
      }
      function conversationPage(sessionId, before) {
        const query = '?session_id=' + encodeURIComponent(sessionId) + '&limit=' + MESSAGES_PAGE;
        return '/api/chat/history' + query + (before ? '&before=' + before : '');
      }
      /* The page of messages before the first one shown, put on top without moving what the
       * user is looking at. */
      async function loadOlder() {
        const conversation = state.current;
        const first = conversation && conversation.messages.find((m) => m.id);
        if (!conversation || !conversation.hasMore || conversation.loadingOlder || !first) return;
        conversation.loadingOlder = true;
        let data;
        try {
          data = await api('GET', conversationPage(conversation.session_id, first.id));
        } catch (error) {
          ElementPlus.ElMessage.error(error.message);
          return;
        } finally {
          conversation.loadingOlder = false;
        }
        if (state.current !== conversation) return;
        const el = messagesEl.value;
        const fromBottom = el.scrollHeight - el.scrollTop;
        conversation.messages.unshift(...data.conversation.map(messageFrom));
        conversation.hasMore = data.has_more;
        Vue.nextTick(() => { el.scrollTop = el.scrollHeight - fromBottom; });
      }
      const busy = Vue.computed(() => Boolean(state.current && state.current.messages.some((m) => m.status === 'streaming')));
      const lastAnswer = Vue.computed(() => {
        const list = state.current ? state.current.messages : [];
        const last = list[list.length - 1];
        return last && last.role === 'assistant' ? last : null;
      });
      const lastQuestion = Vue.computed(() => {
        const list = state.current ? state.current.messages : [];
        for (let i = list.length - 1; i >= 0; i -= 1) if (list[i].role === 'user') return list[i];
        return null;
      });

      // --- sending ------------------------------------------------------------------------------
      const tooLong = Vue.computed(() => state.draft.length > limit);
      const placeholder = Vue.computed(() => t(state.enterSends ? 'placeholderEnter' : (IS_MAC ? 'placeholderMac' : 'placeholderCtrl')));
      function onKeydown(event) {
        if (event.key !== 'Enter' || event.isComposing) return;
        const modifier = event.ctrlKey || event.metaKey;
        if (state.enterSends ? !event.shiftKey && !modifier : modifier) {
          event.preventDefault();
          send();
        }
      }
      function send() {
        const text = state.draft;
        if (!text.trim() || tooLong.value || busy.value) return;
        if (state.modelChoice === null) {
          ElementPlus.ElMessage.warning(t('chooseModel'));
          return;
        }
        const edit = state.editing && state.current && state.current.session_id;
        if (!state.current || state.current.notFound) {
          state.current = Vue.reactive({ session_id: null, title: '', messages: [], notFound: false });
        }
        const conversation = state.current;
        if (edit) {
          // Edit and resend replaces the last exchange.
          const list = conversation.messages;
          const at = list.lastIndexOf(lastQuestion.value);
          list.splice(at, list.length - at);
        }
        const frame = {
          type: 'chat', message: text, model_id: state.modelChoice, session_id: conversation.session_id,
          client_id: newClientId(), ...(edit ? { edit: true } : {}),
        };
        if (JSON.stringify(frame).length > MAX_FRAME_CHARS) {
          // Escaped control characters can make a message under the limit too big to send.
          ElementPlus.ElMessage.error(t('tooLong'));
          return;
        }
        const question = messageFrom({ id: null, role: 'user', content: text, timestamp: new Date().toISOString() });
        const answer = messageFrom({ id: null, role: 'assistant', content: '', status: 'streaming', timestamp: new Date().toISOString() });
        answer.model_id = (allModels.value.find((m) => m.id === state.modelChoice) || {}).model_id;
        conversation.messages.push(question, answer);
        state.draft = '';
        state.editing = false;
        stickToBottom = true;
        scrollToBottom();
        sendTurn({ frame, conversation, question, answer, draft: text, edit });
      }
      /* Sends a turn now, or when the socket is open again; its client_id keys it until `start`. */
      function sendTurn(turn) {
        pendingTurns.set(turn.frame.client_id, turn);
        if (socket.send(turn.frame)) lastSentClientId = turn.frame.client_id;
      }
      function regenerate() {
        const conversation = state.current;
        const answer = lastAnswer.value;
        if (!conversation || !answer || busy.value) return;
        const fresh = messageFrom({ id: null, role: 'assistant', content: '', status: 'streaming', timestamp: new Date().toISOString() });
        fresh.model_id = answer.model_id;
        conversation.messages.splice(conversation.messages.indexOf(answer), 1, fresh);
        const frame = { type: 'regenerate', session_id: conversation.session_id, model_id: state.modelChoice, client_id: newClientId() };
        sendTurn({ frame, conversation, question: null, answer: fresh, draft: null });
      }
      function startEdit() {
        state.editing = true;
        state.draft = lastQuestion.value.content;
      }
      function cancelEdit() {
        state.editing = false;
        state.draft = '';
      }
      function stop() {
        if (state.current && state.current.session_id) socket.send({ type: 'stop', session_id: state.current.session_id });
      }

      // --- frames from the server ----------------------------------------------------------------
      function handleFrame(frame) {
        if (frame.type === 'start') return onStart(frame);
        if (frame.type === 'delta') return onDelta(frame);
        if (frame.type === 'done') return onEnd(frame);
        if (frame.type === 'error') return onError(frame);
        if (frame.type === 'title') return onTitle(frame);
        return undefined;
      }
      function onStart(frame) {
        const turn = pendingTurns.get(frame.client_id);
        if (!turn) return; // a replayed start for a turn this page no longer waits for
        pendingTurns.delete(frame.client_id);
        const { conversation, question, answer } = turn;
        if (question) {
          question.id = frame.user_message_id;
          user.message_count += 1;
        }
        answer.id = frame.message_id;
        answer.sessionId = frame.session_id;
        answer.model_id = frame.model_id;
        streams.set(frame.message_id, answer);
        if (!conversation.session_id) {
          conversation.session_id = frame.session_id;
          conversation.title = firstWords(turn.draft);
          if (state.current === conversation) history.replaceState(null, '', '/c/' + encodeURIComponent(frame.session_id));
        }
        touchSession(frame.session_id, { title: conversation.title, model_id: frame.model_id });
      }
      /* The sidebar entry of a conversation that was just active, patched in place (or added),
       * when the list shows this moment; the list is never reloaded for it. */
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
      function onTitle(frame) {
        const entry = state.sessions.find((s) => s.session_id === frame.session_id);
        if (entry) entry.title = frame.title;
        if (state.current && state.current.session_id === frame.session_id) state.current.title = frame.title;
      }
      let flushScheduled = false;
      function onDelta(frame) {
        const message = streams.get(frame.message_id);
        if (!message || frame.seq <= message.seq) return; // replays after a resume: never twice
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
        for (const message of streams.values()) {
          if (message.pending || message.pendingReasoning) {
            message.content += message.pending;
            message.reasoning += message.pendingReasoning;
            message.pending = '';
            message.pendingReasoning = '';
            message.dirty = true;
          }
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
        scrollToBottom();
      }
      function renderNow(message) {
        const started = performance.now();
        message.html = render(message.content);
        message.renderCost = performance.now() - started;
        message.renderedAt = performance.now();
        message.dirty = false;
      }
      function onEnd(frame) {
        const message = streams.get(frame.message_id);
        if (!message) return;
        message.content += message.pending;
        message.reasoning += message.pendingReasoning;
        message.pending = message.pendingReasoning = '';
        message.status = frame.status;
        message.finish_reason = frame.finish_reason || null;
        renderNow(message);
        streams.delete(frame.message_id);
        resuming.delete(frame.session_id);
        touchSession(frame.session_id, {});
        scrollToBottom();
      }
      function onError(frame) {
        if (frame.message_id && streams.has(frame.message_id)) {
          const message = streams.get(frame.message_id);
          message.content += message.pending;
          message.pending = '';
          message.status = 'error';
          message.error = frame.error;
          renderNow(message);
          streams.delete(frame.message_id);
          return;
        }
        if (frame.code === 'stream_lost') {
          // The live relay broke; the answer is still stored by the server: read it from there.
          for (const [id, message] of streams) if (message.sessionId === frame.session_id) streams.delete(id);
          ElementPlus.ElMessage.warning(frame.error);
          if (state.current && state.current.session_id === frame.session_id) {
            setTimeout(() => openSession(frame.session_id, false), 3000);
          }
          return;
        }
        if (frame.session_id && resuming.has(frame.session_id) && (frame.code === 'not_running' || frame.code === 'not_found')) {
          // The answer finished while we were away: show what was stored.
          resuming.delete(frame.session_id);
          for (const [id, message] of streams) if (message.sessionId === frame.session_id) streams.delete(id);
          if (state.current && state.current.session_id === frame.session_id) openSession(frame.session_id, false);
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
          openSession(turn.conversation.session_id, false);
        }
      }

      // --- scrolling ----------------------------------------------------------------------------
      function onMessagesScroll() {
        const el = messagesEl.value;
        stickToBottom = el.scrollTop + el.clientHeight >= el.scrollHeight - 80;
        if (el.scrollTop < OLDER_THRESHOLD_PX && state.current && state.current.hasMore) loadOlder();
      }
      function scrollToBottom() {
        Vue.nextTick(() => {
          const el = messagesEl.value;
          if (el && stickToBottom) el.scrollTop = el.scrollHeight;
        });
      }

      // --- user menu ----------------------------------------------------------------------------
      function toggleTheme() {
        state.dark = !state.dark;
        window.AIHelper.applyTheme(state.dark ? 'dark' : 'light');
      }
      function toggleEnterSends() {
        state.enterSends = !state.enterSends;
        store.set('enterSends', state.enterSends);
      }
      async function uploadAvatar(event) {
        const file = event.target.files[0];
        event.target.value = '';
        if (!file) return;
        try {
          user.avatar = (await upload('/api/user/avatar', file)).avatar;
          ElementPlus.ElMessage.success(t('avatarUpdated'));
        } catch (error) { ElementPlus.ElMessage.error(error.message); }
      }
      async function savePassword() {
        const form = state.password;
        if (form.new !== form.confirm) {
          ElementPlus.ElMessage.error(t('passwordMismatch'));
          return;
        }
        try {
          const data = await api('POST', '/api/user/password', { old_password: form.old, new_password: form.new });
          ElementPlus.ElMessage.success(data.message);
          Object.assign(form, { open: false, old: '', new: '', confirm: '' });
        } catch (error) { ElementPlus.ElMessage.error(error.message); }
      }
      function onUserCommand(command) {
        if (command === 'avatar') avatarInput.value.click();
        else if (command === 'password') state.password.open = true;
        else if (command === 'language') setLanguage(lang === 'zh' ? 'en' : 'zh');
        else if (command === 'theme') toggleTheme();
        else if (command === 'enter') toggleEnterSends();
        else if (command === 'admin') window.location.href = '/admin';
        else if (command === 'logout') logoutForm.value.submit();
      }

      // --- start-up -----------------------------------------------------------------------------
      window.addEventListener('popstate', () => {
        const match = location.pathname.match(/^\/c\/(.+)$/);
        if (match) openSession(decodeURIComponent(match[1]), false);
        else state.current = null;
      });
      window.matchMedia('(max-width: 768px)').addEventListener('change', (event) => { state.narrow = event.matches; });
      Vue.onMounted(async () => {
        handleCodeCopy(messagesEl.value);
        await loadModels().catch((error) => ElementPlus.ElMessage.error(error.message));
        loadSessions(true);
        if (page.session_id) openSession(page.session_id, false);
      });

      const exposed = {
        t, user, state, limit, page, messagesEl, avatarInput, logoutForm, allModels, groups, busy, lastAnswer,
        lastQuestion, tooLong, placeholder, chooseModel, loadSessions, onListScroll, applyRange, clearRange,
        onSessionCommand, newChat, openSession, onKeydown, send, regenerate, startEdit, cancelEdit, stop,
        onMessagesScroll, loadOlder, uploadAvatar, savePassword, onUserCommand, initial: [...user.username][0].toUpperCase(),
      };
      Vue.provide('chatApp', Vue.reactive({
        state, groups, newChat, applyRange, clearRange, onListScroll, openSession, onSessionCommand, tools,
      }));
      return exposed;
    },
  };

  mount(App);
})();
