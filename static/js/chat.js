/* The chat page, put together from its modules: chat-sessions.js (the conversation list),
 * chat-conversation.js (the open conversation), chat-streams.js (answers over the websocket),
 * chat-composer.js (the input), chat-message.js and chat-sidebar.js (what is shown), and
 * chat-history.js (search, export, import). This file holds the state, the header with the model
 * and user menus, the welcome screen, keyboard shortcuts and the page's start-up. */
(function () {
  'use strict';
  const { t, lang, pageData, mount, api, upload, addMessages, setLanguage } = window.AIHelper;
  const { handleCodeCopy } = window.AIHelperMarkdown;
  const Chat = window.AIHelperChat;
  const page = pageData();

  addMessages({
    zh: {
      newChat: '新建对话', filterRange: '按时间筛选', clearFilter: '清除筛选', startTime: '开始日期', endTime: '结束日期',
      today: '今天', yesterday: '昨天', last7: '最近 7 天', last30: '最近 30 天', earlier: '更早', pinnedGroup: '已置顶',
      rename: '重命名', pin: '置顶', unpin: '取消置顶', deleteChat: '删除', confirmDeleteChat: '删除这个对话？其中的消息也会一并删除。',
      renamePrompt: '新的标题', noSessions: '还没有对话', noSessionsInRange: '这段时间内没有对话', loadMore: '加载更多',
      chooseModel: '选择模型', noModelsUser: '还没有可用的模型。请联系管理员添加模型后再来。',
      noModelsAdmin: '你还没有添加模型：先连接一个供应商，再导入它的模型。', goAdmin: '去添加供应商',
      placeholderCtrl: '输入消息，Ctrl+Enter 发送，Enter 换行', placeholderMac: '输入消息，⌘+Enter 发送，Enter 换行',
      placeholderEnter: '输入消息，Enter 发送，Shift+Enter 换行', composerLabel: '消息', send: '发送', stop: '停止', regenerate: '重新生成',
      edit: '编辑', editing: '正在编辑上一条消息', cancelEdit: '取消', copy: '复制', copied: '已复制', retry: '重试',
      continueAnswer: '继续', continuePrompt: '请从中断的地方继续。',
      thinking: '思考过程', stopped: '已停止生成', cutOff: '回答达到最大长度，已被截断', failed: '生成失败',
      interrupted: '已中断：服务器重启了。', stillWaiting: '仍在等待模型回复…', saving: '正在保存…（数据库暂时不可用，恢复后自动保存）', assistant: '助手',
      tokensUsed: '{prompt} + {completion} tokens', tokensPerSecond: '{speed} tokens/秒',
      connecting: '正在连接…', reconnecting: '连接已断开，正在重连…', online: '已连接', notFound: '找不到这个对话',
      notFoundHint: '它可能已被删除，或不属于你。', welcome: '今天想聊点什么？', welcomeHint: '选一个模型，然后开始对话；也可以试试这些：',
      suggestions: ['用三句话解释什么是大语言模型', '帮我写一封请假邮件', '把这段话翻译成英文：今天天气很好', '给我一个学习 Python 的一周计划'],
      you: '我', tooLong: '已超出长度限制', profile: '个人', uploadAvatar: '更换头像', changePassword: '修改密码',
      theme: '深色模式', enterSends: 'Enter 直接发送', switchLanguage: 'English', oldPassword: '原密码', newPassword: '新密码',
      confirmNewPassword: '确认新密码', newPasswordsDiffer: '两次输入的新密码不一致', save: '保存', cancel: '取消',
      avatarUpdated: '头像已更新', sidebar: '对话列表', actions: '更多操作', messagesCount: '消息数', cutOffBadge: '已截断',
      olderMessages: '加载更早的消息', loadingOlder: '正在加载更早的消息…', toBottom: '回到最新',
      shortcuts: '键盘快捷键', shortcutsList: [
        ['Enter / Ctrl+Enter', '发送（取决于“Enter 直接发送”）'], ['Esc', '停止正在生成的回答'], ['Tab', '在对话列表中移动'],
        ['Enter', '打开选中的对话'], ['F2', '重命名选中的对话'], ['Delete', '删除选中的对话'], ['Shift+F10', '打开对话的菜单'],
        ['?', '显示这份快捷键列表'],
      ],
      close: '关闭',
    },
    en: {
      newChat: 'New chat', filterRange: 'Filter by time', clearFilter: 'Clear filter', startTime: 'Start date', endTime: 'End date',
      today: 'Today', yesterday: 'Yesterday', last7: 'Last 7 days', last30: 'Last 30 days', earlier: 'Earlier', pinnedGroup: 'Pinned',
      rename: 'Rename', pin: 'Pin', unpin: 'Unpin', deleteChat: 'Delete',
      confirmDeleteChat: 'Delete this conversation and its messages?', renamePrompt: 'New title',
      noSessions: 'No conversations yet', noSessionsInRange: 'No conversations in this period', loadMore: 'Load more',
      chooseModel: 'Choose a model', noModelsUser: 'No model is available yet. Ask your administrator to add one, then come back.',
      noModelsAdmin: 'You have not added a model yet: connect a provider, then import its models.', goAdmin: 'Add a provider',
      placeholderCtrl: 'Type a message: Ctrl+Enter sends, Enter adds a line',
      placeholderMac: 'Type a message: ⌘+Enter sends, Enter adds a line',
      placeholderEnter: 'Type a message: Enter sends, Shift+Enter adds a line', composerLabel: 'Message', send: 'Send', stop: 'Stop',
      regenerate: 'Regenerate', edit: 'Edit', editing: 'Editing your last message', cancelEdit: 'Cancel', copy: 'Copy',
      copied: 'Copied', retry: 'Retry', continueAnswer: 'Continue', continuePrompt: 'Please continue from where you stopped.',
      thinking: 'Thinking', stopped: 'Stopped', cutOff: 'Cut off at the max tokens',
      failed: 'Failed', interrupted: 'Interrupted: the server restarted.', stillWaiting: 'Still waiting for the model…',
      saving: 'Saving… (the database is away for a moment; the answer is stored when it is back)', assistant: 'Assistant',
      tokensUsed: '{prompt} + {completion} tokens', tokensPerSecond: '{speed} tokens/s',
      connecting: 'Connecting…', reconnecting: 'Disconnected, reconnecting…', online: 'Connected',
      notFound: 'Conversation not found', notFoundHint: 'It may have been deleted, or it is not yours.',
      welcome: 'What shall we talk about?', welcomeHint: 'Choose a model and start, or try one of these:',
      suggestions: ['Explain large language models in three sentences', 'Write a short email asking for a day off',
        'Translate into Chinese: the weather is lovely today', 'Plan one week of learning Python'],
      you: 'Me', tooLong: 'Over the length limit', profile: 'Profile', uploadAvatar: 'Change avatar', changePassword: 'Change password',
      theme: 'Dark mode', enterSends: 'Enter sends', switchLanguage: '中文', oldPassword: 'Current password',
      newPassword: 'New password', confirmNewPassword: 'Confirm new password', newPasswordsDiffer: 'The new passwords differ',
      save: 'Save', cancel: 'Cancel', avatarUpdated: 'Avatar updated', sidebar: 'Conversations', actions: 'More actions', messagesCount: 'Messages',
      cutOffBadge: 'Cut off', olderMessages: 'Load earlier messages', loadingOlder: 'Loading earlier messages…', toBottom: 'Jump to the newest',
      shortcuts: 'Keyboard shortcuts', shortcutsList: [
        ['Enter / Ctrl+Enter', 'Send (as “Enter sends” says)'], ['Esc', 'Stop the answer being written'], ['Tab', 'Move through the conversations'],
        ['Enter', 'Open the focused conversation'], ['F2', 'Rename the focused conversation'], ['Delete', 'Delete the focused conversation'],
        ['Shift+F10', 'Open the conversation’s menu'], ['?', 'Show this list'],
      ],
      close: 'Close',
    },
  });

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
            <h1 class="chat-title" data-testid="chat-title">{{ headerTitle }}</h1>
            <span class="connection" :class="'connection-' + state.connection" role="status" data-testid="connection">
              <i class="connection-dot"></i>{{ state.connection === 'open' ? t('online') : t(state.connection) }}
            </span>
          </div>
          <div class="chat-header-right">
            <el-select v-if="allModels.length" :model-value="state.modelChoice" @update:model-value="chooseModel"
                       class="model-select" data-testid="model-select" :placeholder="t('chooseModel')" :aria-label="t('chooseModel')" filterable>
              <el-option-group v-for="(models, provider) in state.providers" :key="provider" :label="provider">
                <el-option v-for="model in models" :key="model.id" :value="model.id" :label="model.model_name">
                  <span class="model-option">{{ model.model_name }}</span>
                  <span class="model-option-id">{{ model.model_id }}</span>
                </el-option>
              </el-option-group>
            </el-select>
            <el-dropdown trigger="click" @command="onUserCommand">
              <button type="button" class="user-menu" data-testid="user-menu" :title="t('profile')">
                <el-avatar :size="32" :src="user.avatar || undefined" aria-hidden="true" data-testid="user-avatar">{{ initial }}</el-avatar>
                <span class="user-name">{{ user.username }}</span>
              </button>
              <template #dropdown>
                <el-dropdown-menu>
                  <el-dropdown-item disabled>{{ user.username }} · {{ t('messagesCount') }} {{ user.message_count }}</el-dropdown-item>
                  <el-dropdown-item command="avatar" divided data-testid="menu-avatar">{{ t('uploadAvatar') }}</el-dropdown-item>
                  <el-dropdown-item command="password" data-testid="menu-password">{{ t('changePassword') }}</el-dropdown-item>
                  <el-dropdown-item command="language" data-testid="menu-language">{{ t('switchLanguage') }}</el-dropdown-item>
                  <el-dropdown-item command="theme" data-testid="menu-theme">{{ t('theme') }}{{ state.dark ? ' ✓' : '' }}</el-dropdown-item>
                  <el-dropdown-item command="enter" data-testid="menu-enter">{{ t('enterSends') }}{{ state.enterSends ? ' ✓' : '' }}</el-dropdown-item>
                  <el-dropdown-item command="shortcuts" data-testid="menu-shortcuts">{{ t('shortcuts') }}</el-dropdown-item>
                  <el-dropdown-item v-if="user.is_admin" command="admin" data-testid="admin-link">{{ t('admin') }}</el-dropdown-item>
                  <el-dropdown-item command="logout" divided data-testid="logout">{{ t('logout') }}</el-dropdown-item>
                </el-dropdown-menu>
              </template>
            </el-dropdown>
            <input ref="avatarInput" type="file" accept="image/png,image/jpeg,image/webp,image/gif" class="hidden-input"
                   :aria-label="t('uploadAvatar')" @change="uploadAvatar" data-testid="avatar-input">
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
            <div v-else-if="!state.current || !state.current.messages.length" class="welcome" data-testid="welcome">
              <img src="/static/img/favicon.svg" alt="" class="welcome-logo">
              <h2>{{ t('welcome') }}</h2>
              <p v-if="state.modelsLoaded && !allModels.length" class="welcome-note" data-testid="no-models">
                <template v-if="user.is_admin">
                  {{ t('noModelsAdmin') }}
                  <el-button tag="a" href="/admin/providers" type="primary" size="small" class="welcome-action" data-testid="go-admin">{{ t('goAdmin') }}</el-button>
                </template>
                <template v-else>{{ t('noModelsUser') }}</template>
              </p>
              <template v-else>
                <p class="muted">{{ t('welcomeHint') }}</p>
                <div class="suggestions">
                  <el-button v-for="text in t('suggestions')" :key="text" class="suggestion" @click="useSuggestion(text)" data-testid="suggestion">{{ text }}</el-button>
                </div>
              </template>
            </div>
            <template v-else>
              <div v-if="state.current.hasMore" class="older-messages">
                <el-button link :loading="state.current.loadingOlder" @click="loadOlder" data-testid="older-messages">
                  {{ state.current.loadingOlder ? t('loadingOlder') : t('olderMessages') }}
                </el-button>
              </div>
              <message v-for="message in state.current.messages" :key="message.id || message"
                       :message="message" :user="user" :model-name="modelName" :busy="busy"
                       :is-last-answer="message === lastAnswer" :is-last-question="message === lastQuestion && lastAnswer !== null"
                       @regenerate="regenerate" @continue="continueAnswer" @edit="startEdit" />
            </template>
          </div>
          <el-button v-if="state.scrolledUp && busy" class="to-bottom" circle type="primary" :aria-label="t('toBottom')" :title="t('toBottom')"
                     @click="followAnswer" data-testid="to-bottom"><el-icon><el-icon-arrow-down /></el-icon></el-button>
        </el-main>

        <el-footer class="composer" height="auto">
          <div v-if="state.editing" class="editing-bar">
            {{ t('editing') }} <el-button link size="small" @click="cancelEdit">{{ t('cancelEdit') }}</el-button>
          </div>
          <div class="composer-box" :class="{ 'over-limit': tooLong }">
            <el-input ref="composerInput" v-model="state.draft" type="textarea" :autosize="{ minRows: 1, maxRows: 8 }" resize="none"
                      :placeholder="placeholder" :aria-label="t('composerLabel')" @keydown="onKeydown" data-testid="composer" class="composer-input" />
            <div class="composer-actions">
              <span class="char-count" :class="{ 'over-limit': tooLong }" data-testid="char-count">
                <template v-if="tooLong">{{ t('tooLong') }} · </template>{{ state.draft.length }} / {{ limit }}
              </span>
              <el-button v-if="busy" type="danger" plain @click="stop" data-testid="stop">{{ t('stop') }}</el-button>
              <el-button v-else type="primary" class="send-button" :disabled="!canSend" @click="send()" data-testid="send">{{ t('send') }}</el-button>
            </div>
          </div>
        </el-footer>
      </el-container>

      <el-dialog v-model="state.password.open" :title="t('changePassword')" width="400px" align-center>
        <el-form label-position="top" @submit.prevent="savePassword">
          <el-form-item :label="t('oldPassword')"><el-input v-model="state.password.old" type="password" show-password autocomplete="current-password" /></el-form-item>
          <el-form-item :label="t('newPassword')"><el-input v-model="state.password.new" type="password" show-password autocomplete="new-password" /></el-form-item>
          <el-form-item :label="t('confirmNewPassword')"><el-input v-model="state.password.confirm" type="password" show-password autocomplete="new-password" /></el-form-item>
        </el-form>
        <template #footer>
          <el-button @click="state.password.open = false">{{ t('cancel') }}</el-button>
          <el-button type="primary" @click="savePassword">{{ t('save') }}</el-button>
        </template>
      </el-dialog>

      <el-dialog v-model="state.shortcutsOpen" :title="t('shortcuts')" width="440px" align-center data-testid="shortcuts">
        <table class="shortcuts-table">
          <tr v-for="[keys, what] in t('shortcutsList')" :key="keys + what"><th><kbd>{{ keys }}</kbd></th><td>{{ what }}</td></tr>
        </table>
        <template #footer><el-button @click="state.shortcutsOpen = false">{{ t('close') }}</el-button></template>
      </el-dialog>
    </el-container>`;

  /* Whether a key press belongs to something being typed into (then it is no shortcut). */
  function typing(event) {
    const target = event.target;
    return target instanceof HTMLElement && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
  }

  const App = {
    components: { Message: Chat.Message, SidebarContent: Chat.SidebarContent },
    template: TEMPLATE,
    setup() {
      const user = Vue.reactive({ ...page.user });
      const state = Vue.reactive({
        providers: {}, modelChoice: null, modelsLoaded: false,
        sessions: [], sessionsDone: false, loadingSessions: false, range: null,
        current: null, connection: 'connecting', draft: '', editing: false, scrolledUp: false,
        drawer: false, narrow: window.matchMedia('(max-width: 768px)').matches,
        dark: document.documentElement.classList.contains('dark'), enterSends: Chat.store.get('enterSends', false),
        password: { open: false, old: '', new: '', confirm: '' }, shortcutsOpen: false,
      });
      const messagesEl = Vue.ref(null);
      const avatarInput = Vue.ref(null);
      const logoutForm = Vue.ref(null);
      const composerInput = Vue.ref(null);

      // The modules act on one another through `app`: each adds what it offers.
      const app = { state, user, page, messagesEl };

      // --- models -------------------------------------------------------------------------------
      const allModels = Vue.computed(() => Object.values(state.providers).flat());
      async function loadModels() {
        const data = await api('GET', '/api/models');
        state.providers = data.providers;
        const remembered = Chat.store.get('model', null);
        const ids = allModels.value.map((m) => m.id);
        state.modelChoice = ids.includes(remembered) ? remembered : (ids[0] ?? null);
        state.modelsLoaded = true;
      }
      function chooseModel(id) {
        state.modelChoice = id;
        Chat.store.set('model', id);
      }
      Object.assign(app, {
        selectModelOf(modelId) {
          const match = allModels.value.find((m) => m.model_id === modelId);
          if (match) state.modelChoice = match.id;
        },
        modelIdOf: (id) => (allModels.value.find((m) => m.id === id) || {}).model_id,
      });
      /* The name an admin gave a model, for answers written by it (the id when it is gone). */
      function modelName(modelId) {
        const match = allModels.value.find((m) => m.model_id === modelId);
        return match ? match.model_name : modelId;
      }

      // --- the page's parts ---------------------------------------------------------------------
      // Set when this page logs out: the login it ends is then no news to tell.
      let loggingOut = false;
      Object.assign(app, {
        focusComposer: () => Vue.nextTick(() => composerInput.value && composerInput.value.focus()),
        /* The server no longer knows this login: the login page says why. */
        loginEnded: () => { if (!loggingOut) window.location.href = '/login?ended=1'; },
      });
      Object.assign(app, Chat.useConversation(app));
      Object.assign(app, Chat.useSessions(app));
      app.tools = window.AIHelperHistory.useHistoryTools(app, page);
      app.streams = Chat.useStreams(app);
      const composer = Chat.useComposer(app, app.streams);

      const headerTitle = Vue.computed(() => (state.current && !state.current.notFound ? (state.current.title || t('newChat')) : t('appName')));
      Vue.watchEffect(() => {
        document.title = state.current && !state.current.notFound ? headerTitle.value + ' · ' + t('appName') : t('appName');
      });
      function useSuggestion(text) {
        state.draft = text;
        app.focusComposer();
      }

      // --- user menu ----------------------------------------------------------------------------
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
          ElementPlus.ElMessage.error(t('newPasswordsDiffer'));
          return;
        }
        try {
          const data = await api('POST', '/api/user/password', { old_password: form.old, new_password: form.new });
          ElementPlus.ElMessage.success(data.message);
          Object.assign(form, { open: false, old: '', new: '', confirm: '' });
        } catch (error) { ElementPlus.ElMessage.error(error.message); }
      }
      const userCommands = {
        avatar: () => avatarInput.value.click(),
        password: () => { state.password.open = true; },
        language: () => setLanguage(lang === 'zh' ? 'en' : 'zh'),
        theme: () => {
          state.dark = !state.dark;
          window.AIHelper.applyTheme(state.dark ? 'dark' : 'light');
        },
        enter: () => {
          state.enterSends = !state.enterSends;
          Chat.store.set('enterSends', state.enterSends);
        },
        shortcuts: () => { state.shortcutsOpen = true; },
        admin: () => { window.location.href = '/admin'; },
        logout: () => {
          loggingOut = true;
          logoutForm.value.submit();
        },
      };
      function onUserCommand(command) {
        userCommands[command]();
      }

      // --- keyboard -----------------------------------------------------------------------------
      function onGlobalKey(event) {
        if (event.key === 'Escape' && composer.busy.value && !document.querySelector('.el-overlay:not([style*="display: none"])')) {
          composer.stop();
        } else if (event.key === '?' && !typing(event)) {
          state.shortcutsOpen = true;
        }
      }

      // --- start-up -----------------------------------------------------------------------------
      window.addEventListener('popstate', () => {
        const match = location.pathname.match(/^\/c\/(.+)$/);
        if (match) app.openSession(decodeURIComponent(match[1]), false);
        else state.current = null;
      });
      window.addEventListener('keydown', onGlobalKey);
      window.matchMedia('(max-width: 768px)').addEventListener('change', (event) => { state.narrow = event.matches; });
      Vue.onMounted(async () => {
        handleCodeCopy(messagesEl.value);
        await loadModels().catch((error) => ElementPlus.ElMessage.error(error.message));
        app.loadSessions(true);
        if (page.session_id) app.openSession(page.session_id, false);
      });

      Vue.provide('chatApp', Vue.reactive({
        state, groups: app.groups, newChat: app.newChat, applyRange: app.applyRange, clearRange: app.clearRange,
        rangeShortcuts: app.rangeShortcuts, onListScroll: app.onListScroll, openSession: app.openSession,
        onSessionCommand: app.onSessionCommand, tools: app.tools,
      }));
      return {
        t, user, state, page, messagesEl, avatarInput, logoutForm, composerInput, allModels, modelName, headerTitle,
        chooseModel, useSuggestion, uploadAvatar, savePassword, onUserCommand, initial: [...user.username][0].toUpperCase(),
        newChat: app.newChat, loadOlder: app.loadOlder, onMessagesScroll: app.onMessagesScroll, followAnswer: app.followAnswer,
        ...composer,
      };
    },
  };

  mount(App);
})();
