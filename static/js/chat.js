/* The chat page, put together from its modules: chat-sessions.js (the conversation list),
 * chat-conversation.js (the open conversation), chat-streams.js (answers over the websocket),
 * chat-composer.js (the input), chat-message.js and chat-sidebar.js (what is shown), and
 * chat-history.js (search, export, import). This file holds the state, the header with the model
 * and user menus, the welcome screen, keyboard shortcuts and the page's start-up. */
(function () {
  'use strict';
  const { t, N_, lang, pageData, mount, api, upload, setLanguage } = window.AIHelper;
  const { handleCodeCopy, handleDiagrams, onFormulasReady, render } = window.AIHelperMarkdown;
  const Chat = window.AIHelperChat;
  const page = pageData();


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
            <el-tag v-if="presetName" type="info" class="preset-tag" data-testid="preset-tag">{{ presetName }}</el-tag>
            <span class="connection" :class="'connection-' + state.connection" role="status" data-testid="connection">
              <i class="connection-dot"></i>{{ connectionLabel }}
            </span>
          </div>
          <div class="chat-header-right">
            <el-button v-if="state.current && !state.current.notFound && state.current.messages.length" :disabled="busy"
                       @click="shares.openDialog()" data-testid="share-open">{{ t('share') }}</el-button>
            <el-select v-if="allModels.length" :model-value="state.modelChoice" @update:model-value="chooseModel"
                       class="model-select" data-testid="model-select" :placeholder="t('chooseModel')" :aria-label="t('chooseModel')" filterable>
              <el-option-group v-for="(models, provider) in state.providers" :key="provider" :label="provider">
                <el-option v-for="model in models" :key="model.id" :value="model.id" :label="model.model_name">
                  <span class="model-option">{{ model.model_name }}</span>
                  <span class="model-option-id">{{ model.model_id }}</span>
                </el-option>
              </el-option-group>
            </el-select>
            <el-dropdown trigger="click" @command="onUserCommand" @visible-change="open => open && loadUsage()">
              <button type="button" class="user-menu" data-testid="user-menu" :title="t('profile')">
                <el-avatar :size="32" :src="user.avatar || undefined" aria-hidden="true" data-testid="user-avatar">{{ initial }}</el-avatar>
                <span class="user-name">{{ user.username }}</span>
              </button>
              <template #dropdown>
                <el-dropdown-menu>
                  <el-dropdown-item disabled>{{ user.username }} · {{ t('messagesCount') }} {{ user.message_count }}</el-dropdown-item>
                  <el-dropdown-item v-if="usage" disabled class="usage-item" data-testid="menu-usage">
                    <span>{{ t('usageToday', { messages: usage.today.messages, tokens: usage.today.tokens.toLocaleString() }) }}</span>
                    <span v-for="line in usageLimits" :key="line" class="usage-limit" data-testid="usage-limit">{{ line }}</span>
                  </el-dropdown-item>
                  <el-dropdown-item command="avatar" divided data-testid="menu-avatar">{{ t('uploadAvatar') }}</el-dropdown-item>
                  <el-dropdown-item command="password" data-testid="menu-password">{{ t('changePassword') }}</el-dropdown-item>
                  <el-dropdown-item command="language" data-testid="menu-language">{{ t('switchLanguage') }}</el-dropdown-item>
                  <el-dropdown-item command="theme" data-testid="menu-theme">{{ t('theme') }}{{ state.dark ? ' ✓' : '' }}</el-dropdown-item>
                  <el-dropdown-item command="enter" data-testid="menu-enter">{{ t('enterSends') }}{{ state.enterSends ? ' ✓' : '' }}</el-dropdown-item>
                  <el-dropdown-item command="shortcuts" data-testid="menu-shortcuts">{{ t('shortcuts') }}</el-dropdown-item>
                  <el-dropdown-item command="presets" data-testid="menu-presets">{{ t('presets') }}</el-dropdown-item>
                  <el-dropdown-item command="shares" data-testid="menu-shares">{{ t('myShares') }}</el-dropdown-item>
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
                  <el-button v-for="text in suggestions" :key="text" class="suggestion" @click="useSuggestion(text)" data-testid="suggestion">{{ text }}</el-button>
                </div>
                <el-select v-if="presets.length" :model-value="null" class="preset-picker" :placeholder="t('presetStart')"
                           :aria-label="t('presetStart')" @update:model-value="id => startFromPreset(presets.find(p => p.id === id))" data-testid="preset-picker">
                  <el-option v-for="preset in presets" :key="preset.id" :value="preset.id" :label="preset.name" />
                </el-select>
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
                       :is-last-answer="message === lastAnswer" :siblings="siblingsOf(state.current.tree, message)"
                       @regenerate="regenerate(message)" @continue="continueAnswer" @edit="startEdit(message)"
                       @switch="switchBranch" @share="shares.openDialog(message.id)" />
            </template>
          </div>
          <el-button v-if="state.scrolledUp && busy" class="to-bottom" circle type="primary" :aria-label="t('toBottom')" :title="t('toBottom')"
                     @click="followAnswer" data-testid="to-bottom"><el-icon><el-icon-arrow-down /></el-icon></el-button>
        </el-main>

        <el-footer class="composer" height="auto">
          <div v-if="state.editing" class="editing-bar">
            {{ t('editing') }} <el-button link size="small" @click="cancelEdit">{{ t('cancelEdit') }}</el-button>
          </div>
          <div class="composer-box" :class="{ 'over-limit': tooLong, dropping: state.dropping }" data-testid="composer-box"
               @dragover.prevent="state.dropping = true" @dragleave="state.dropping = false"
               @drop.prevent="state.dropping = false; files.onDrop($event)">
            <div v-if="files.pending.length" class="composer-files" data-testid="composer-files">
              <div v-for="item in files.pending" :key="item.key" class="pending-file" :class="{ failed: item.error }"
                   :title="item.error || item.name" data-testid="pending-file">
                <img v-if="item.preview" :src="item.preview" alt="" class="pending-thumb" data-testid="pending-thumb">
                <el-icon v-else class="pending-icon"><el-icon-document /></el-icon>
                <span class="pending-name">{{ item.name }}</span>
                <span class="pending-size">{{ sizeLabel(item.size) }}</span>
                <el-progress v-if="!item.attachment && !item.error" :percentage="item.progress" :stroke-width="3" :show-text="false"
                             class="pending-progress" data-testid="upload-progress" />
                <span v-if="item.error" class="pending-error" role="alert" data-testid="upload-error">{{ item.error }}</span>
                <button type="button" class="pending-remove" :aria-label="t('removeFile', { name: item.name })"
                        @click="files.remove(item)" data-testid="remove-file">×</button>
              </div>
            </div>
            <el-input ref="composerInput" v-model="state.draft" type="textarea" :autosize="{ minRows: 1, maxRows: 8 }" resize="none"
                      :placeholder="placeholder" :aria-label="t('composerLabel')" @keydown="onKeydown" @paste="files.onPaste"
                      data-testid="composer" class="composer-input" />
            <div class="composer-actions">
              <el-button text circle :aria-label="t('attachFiles')" :title="t('attachFiles')" @click="files.pick" data-testid="attach">
                <el-icon><el-icon-paperclip /></el-icon>
              </el-button>
              <input :ref="el => (files.fileInput.value = el)" type="file" multiple :accept="files.accept" class="hidden-input"
                     :aria-label="t('attachFiles')" @change="files.onPicked" data-testid="attach-input">
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

      <el-dialog v-model="state.presetsOpen" :title="t('presets')" width="760px" align-center data-testid="presets-dialog">
        <preset-manager :models="allModels" @changed="list => (presets = list)" @use="startFromPreset" />
      </el-dialog>
      <share-dialogs />

      <el-dialog v-model="state.shortcutsOpen" :title="t('shortcuts')" width="440px" align-center data-testid="shortcuts">
        <table class="shortcuts-table">
          <tr v-for="[keys, what] in shortcutsList" :key="keys + what"><th><kbd>{{ keys }}</kbd></th><td>{{ what }}</td></tr>
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
    components: {
      Message: Chat.Message, SidebarContent: Chat.SidebarContent, PresetManager: window.AIHelperPresets.PresetManager,
      ShareDialogs: Chat.ShareDialogs,
    },
    template: TEMPLATE,
    setup() {
      const user = Vue.reactive({ ...page.user });
      const state = Vue.reactive({
        providers: {}, modelChoice: null, modelsLoaded: false,
        sessions: [], sessionsDone: false, loadingSessions: false, range: null,
        current: null, connection: 'connecting', draft: '', editing: false, scrolledUp: false,
        drawer: false, narrow: window.matchMedia('(max-width: 768px)').matches,
        dark: document.documentElement.classList.contains('dark'), enterSends: Chat.store.get('enterSends', false),
        password: { open: false, old: '', new: '', confirm: '' }, shortcutsOpen: false, dropping: false,
        preset: null, presetsOpen: false,  // the preset chosen for the next new conversation
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
      app.shares = Chat.useShares(app);
      app.streams = Chat.useStreams(app);
      const files = Chat.useAttachments(app);
      const composer = Chat.useComposer(app, app.streams, files);

      const headerTitle = Vue.computed(() => (state.current && !state.current.notFound ? (state.current.title || t('newChat')) : t('appName')));
      Vue.watchEffect(() => {
        document.title = state.current && !state.current.notFound ? headerTitle.value + ' · ' + t('appName') : t('appName');
      });
      // --- presets -------------------------------------------------------------------------------
      const presets = Vue.ref([]);
      async function loadPresets() {
        presets.value = (await api('GET', '/api/presets')).presets;
      }
      /* A new conversation from the preset: its model chosen, its first message in the composer. */
      function startFromPreset(preset) {
        if (!preset) return;
        app.newChat();
        state.preset = preset;
        state.presetsOpen = false;
        if (allModels.value.some((m) => m.id === preset.model_id)) state.modelChoice = preset.model_id;
        state.draft = preset.first_message || '';
        app.focusComposer();
      }
      const presetName = Vue.computed(() => {
        const id = state.current && !state.current.notFound ? state.current.preset_id : state.preset && state.preset.id;
        const preset = id ? presets.value.find((p) => p.id === id) : null;
        return preset ? preset.name : '';
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
      /* Today's use and the limits that apply, fetched each time the menu opens. */
      const usage = Vue.ref(null);
      async function loadUsage() {
        try {
          usage.value = await api('GET', '/api/user/usage');
        } catch (error) { usage.value = null; }
      }
      const LIMIT_LINES = [
        ['tokens_per_day', N_('usageTokensDay'), u => u.today.tokens, 'day'],
        ['tokens_per_month', N_('usageTokensMonth'), u => u.month.tokens, 'month'],
        ['messages_per_day', N_('usageMessagesDay'), u => u.today.messages, 'day'],
        ['cost_per_month', N_('usageCostMonth'), u => u.month.cost, 'month'],
      ];
      const usageLimits = Vue.computed(() => {
        const u = usage.value;
        if (!u) return [];
        return LIMIT_LINES.filter(([name]) => u.limits[name] !== null).map(([name, key, used, period]) => t(key, {
          used: used(u).toLocaleString(), limit: u.limits[name].toLocaleString(), currency: u.currency,
          reset: new Date(u.reset_at[period]).toLocaleString(lang === 'zh' ? 'zh-CN' : 'en-GB', { dateStyle: 'short', timeStyle: 'short' }),
        }));
      });
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
        presets: () => { state.presetsOpen = true; },
        shares: () => app.shares.openList(),
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
        handleDiagrams(messagesEl.value);
        // Answers shown before KaTeX came hold their formulas as source: drawn now (a streaming
        // one is drawn again with its next text).
        onFormulasReady(() => {
          for (const message of state.current ? state.current.messages : []) {
            if (message.role === 'assistant' && message.status !== 'streaming') message.html = render(message.content);
          }
        });
        await loadModels().catch((error) => ElementPlus.ElMessage.error(error.message));
        app.loadSessions(true);
        loadPresets().catch((error) => ElementPlus.ElMessage.error(error.message));
        if (page.session_id) app.openSession(page.session_id, false);
      });

      Vue.provide('chatApp', Vue.reactive({
        state, groups: app.groups, newChat: app.newChat, applyRange: app.applyRange, clearRange: app.clearRange,
        rangeShortcuts: app.rangeShortcuts, onListScroll: app.onListScroll, openSession: app.openSession,
        onSessionCommand: app.onSessionCommand, tools: app.tools, shares: app.shares,
      }));
      const suggestions = [t('suggestion1'), t('suggestion2'), t('suggestion3'), t('suggestion4')];
      const shortcutsList = [
        ['Enter / Ctrl+Enter', t('shortcutSend')], ['Esc', t('shortcutStop')], ['Tab', t('shortcutMove')],
        ['Enter', t('shortcutOpen')], ['F2', t('shortcutRename')], ['Delete', t('shortcutDelete')],
        ['Shift+F10', t('shortcutMenu')], ['?', t('shortcutHelp')],
      ];
      const connectionLabels = { open: t('online'), connecting: t('connecting'), reconnecting: t('reconnecting') };
      const connectionLabel = Vue.computed(() => connectionLabels[state.connection]);
      return {
        t, user, state, page, messagesEl, avatarInput, logoutForm, composerInput, allModels, modelName, headerTitle,
        suggestions, shortcutsList, connectionLabel, presets, presetName, startFromPreset,
        usage, usageLimits, loadUsage, files, sizeLabel: Chat.sizeLabel, shares: app.shares,
        chooseModel, useSuggestion, uploadAvatar, savePassword, onUserCommand, initial: [...user.username][0].toUpperCase(),
        newChat: app.newChat, loadOlder: app.loadOlder, onMessagesScroll: app.onMessagesScroll, followAnswer: app.followAnswer,
        switchBranch: app.switchBranch, siblingsOf: Chat.siblingsOf,
        ...composer,
      };
    },
  };

  mount(App);
})();
