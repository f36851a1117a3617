/* The admin pages: dashboard, providers, models, users, settings.
 * Create, edit and delete are classic form posts with the CSRF token (postForm); quick actions
 * (enable switches, test connection, import, reorder) call the JSON API. */
(function () {
  'use strict';
  const { t, pageData, mount, LanguageSwitch, addMessages, api, postForm, formatTime } = window.AIHelper;
  const page = pageData();

  addMessages({
    zh: {
      dashboard: '概览', providers: '供应商', models: '模型', users: '用户', settings: '设置',
      backToChat: '返回聊天', add: '新增', edit: '编辑', delete: '删除', cancel: '取消', save: '保存',
      confirmDelete: '确定删除吗？此操作无法撤销。', name: '名称', baseUrl: '接口地址', apiKey: 'API Key',
      apiKeyKeep: '留空则保留原密钥', apiKeyNew: '供应商提供的密钥（本地 Ollama 可留空）', description: '描述',
      status: '状态', enabled: '启用', disabled: '停用', actions: '操作', test: '测试连接', testing: '测试中…',
      reachable: '可连接', unreachable: '无法连接', latency: '延迟', modelCount: '模型数',
      importModels: '导入模型', importHint: '勾选要添加的模型（已添加的不可选）', import: '导入',
      imported: '已导入 {n} 个模型', noKey: '未设置', needsReentry: '无可用密钥，需重新填写', presets: '常用接口',
      apiKeyForNewHost: '新主机的 API Key',
      keyWillBeCleared: '接口地址换到了另一台主机：保存后将清除已保存的 API Key（它是为原来的主机填写的），请填写新主机的密钥。',
      modelId: '模型 ID', modelName: '显示名称', provider: '供应商', maxTokens: '最大输出 tokens',
      temperature: '温度', contextMessages: '上下文消息数', systemPrompt: '系统提示词', sortHint: '拖动行或使用箭头调整顺序，用户看到的模型列表按此顺序排列',
      moveUp: '上移', moveDown: '下移', orderSaved: '顺序已保存', username: '用户名', role: '角色',
      roleAdmin: '管理员', roleUser: '普通用户', messages: '消息数', lastLogin: '上次登录', created: '注册时间',
      enable: '启用', disable: '停用', makeAdmin: '设为管理员', removeAdmin: '取消管理员',
      resetPassword: '重置密码', newPassword: '新密码（8–128 个字符）', you: '（你）',
      registrationOpen: '开放注册', registrationHelp: '关闭后新用户无法注册（/api/register 返回 403），已有用户不受影响。',
      retentionDays: '对话保留天数', retentionHelp: '0 表示永久保留。设置后，每天自动删除超过该天数没有新消息的对话（正在生成的除外），用户会在侧栏看到提示。',
      countProviders: '供应商', countModels: '已启用模型', countUsers: '用户', countSessions: '对话', countMessagesToday: '今日消息', health: '连接状态',
      checking: '检测中…', noProviders: '还没有供应商，先添加一个吧', noModels: '还没有模型：在供应商页面导入，或手动添加',
      addProvider: '添加供应商', addModel: '添加模型', editProvider: '编辑供应商', editModel: '编辑模型',
      saved: '已保存', loadFailed: '加载失败', providerDisabled: '供应商已停用',
      darkMode: '深色模式',
    },
    en: {
      dashboard: 'Overview', providers: 'Providers', models: 'Models', users: 'Users', settings: 'Settings',
      backToChat: 'Back to chat', add: 'Add', edit: 'Edit', delete: 'Delete', cancel: 'Cancel', save: 'Save',
      confirmDelete: 'Delete this? It cannot be undone.', name: 'Name', baseUrl: 'Base URL', apiKey: 'API key',
      apiKeyKeep: 'Leave empty to keep the stored key', apiKeyNew: "The provider's key (may stay empty for a local Ollama)",
      description: 'Description', status: 'Status', enabled: 'Enabled', disabled: 'Disabled', actions: 'Actions',
      test: 'Test connection', testing: 'Testing…', reachable: 'Reachable', unreachable: 'Unreachable',
      latency: 'Latency', modelCount: 'Models', importModels: 'Import models',
      importHint: 'Tick the models to add (those already added are greyed out)', import: 'Import',
      imported: '{n} model(s) imported', noKey: 'not set', needsReentry: 'no usable key: enter it again', presets: 'Common endpoints',
      apiKeyForNewHost: 'The API key for the new host',
      keyWillBeCleared: 'The base URL now points to another host: saving clears the stored API key (it was given for the old host). Enter the key for the new host.',
      modelId: 'Model ID', modelName: 'Display name', provider: 'Provider', maxTokens: 'Max tokens',
      temperature: 'Temperature', contextMessages: 'Context messages', systemPrompt: 'System prompt',
      sortHint: 'Drag rows or use the arrows; users see the models in this order',
      moveUp: 'Move up', moveDown: 'Move down', orderSaved: 'Order saved', username: 'Username', role: 'Role',
      roleAdmin: 'Admin', roleUser: 'User', messages: 'Messages', lastLogin: 'Last login', created: 'Registered',
      enable: 'Enable', disable: 'Disable', makeAdmin: 'Make admin', removeAdmin: 'Remove admin',
      resetPassword: 'Reset password', newPassword: 'New password (8–128 characters)', you: ' (you)',
      registrationOpen: 'Registration open',
      registrationHelp: 'When closed, nobody can register (/api/register answers 403); existing users are not affected.',
      retentionDays: 'Keep conversations (days)',
      retentionHelp: '0 keeps them for ever. Otherwise a daily job deletes conversations without a new message for longer (never one being answered); users see a note in the sidebar.',
      countProviders: 'Providers', countModels: 'Enabled models', countUsers: 'Users', countSessions: 'Conversations', countMessagesToday: 'Messages today', health: 'Connection',
      checking: 'Checking…', noProviders: 'No providers yet: add one first',
      noModels: 'No models yet: import them on the Providers page, or add one by hand',
      addProvider: 'Add provider', addModel: 'Add model', editProvider: 'Edit provider', editModel: 'Edit model',
      saved: 'Saved', loadFailed: 'Loading failed', providerDisabled: 'Provider disabled',
      darkMode: 'Dark mode',
    },
  });

  const PRESETS = [
    { name: 'GLM (智谱)', base_url: 'https://open.bigmodel.cn/api/paas/v4' },
    { name: 'Qwen (通义千问)', base_url: 'https://dashscope.aliyuncs.com/compatible-mode/v1' },
    { name: 'Kimi (Moonshot)', base_url: 'https://api.moonshot.cn/v1' },
    { name: 'DeepSeek', base_url: 'https://api.deepseek.com/v1' },
    { name: 'OpenAI', base_url: 'https://api.openai.com/v1' },
    { name: 'Ollama', base_url: 'http://127.0.0.1:11434/v1' },
  ];

  /* Where a base URL's requests go (scheme, host, port), compared the way the server compares it
   * (aihelper/llm/url_safety.py origin): a path, the host's case or a spelt-out default port do not
   * count. null for what is not a URL yet. */
  function origin(url) {
    try {
      const parsed = new URL(url.trim());
      const port = parsed.port || { 'http:': '80', 'https:': '443' }[parsed.protocol];
      return parsed.protocol + '//' + parsed.hostname.replace(/\.$/, '') + ':' + port;
    } catch (error) {
      return null;
    }
  }

  /* What a failed form post left for us: reopen that dialog with the values and the message. */
  function formErrorFor(dialog) {
    const error = page.form_error;
    return error && error.dialog === dialog ? error : null;
  }

  function notify(error) {
    ElementPlus.ElMessage.error(error.message || t('loadFailed'));
  }

  /* Runs a connection test for one provider and shows the outcome (never the key or the body). */
  const HealthTag = {
    props: { provider: Object, auto: { type: Boolean, default: true } },
    template: `
      <span class="health">
        <el-tag v-if="provider.status !== 'active'" type="info">{{ t('providerDisabled') }}</el-tag>
        <el-tag v-else-if="state === 'checking'" type="info">{{ t('checking') }}</el-tag>
        <template v-else-if="result">
          <el-tag :type="result.ok ? 'success' : 'danger'" data-testid="health-result">
            {{ result.ok ? t('reachable') : t('unreachable') }}<template v-if="result.status"> · HTTP {{ result.status }}</template>
          </el-tag>
          <span class="health-detail">{{ t('latency') }} {{ result.latency_ms }} ms<template v-if="result.ok"> · {{ t('modelCount') }} {{ result.model_count }}</template></span>
          <span v-if="!result.ok" class="health-error">{{ result.message }}</span>
        </template>
      </span>`,
    setup(props, { expose }) {
      const state = Vue.ref('idle');
      const result = Vue.ref(null);
      async function run() {
        state.value = 'checking';
        try {
          result.value = await api('POST', '/api/admin/providers/' + props.provider.id + '/test', {});
        } catch (error) {
          notify(error);
        } finally {
          state.value = 'done';
        }
      }
      expose({ run });
      Vue.onMounted(() => { if (props.auto && props.provider.status === 'active') run(); });
      return { state, result };
    },
  };

  const Dashboard = {
    components: { HealthTag },
    template: `
      <div>
        <el-row :gutter="16" class="admin-counts">
          <el-col :xs="12" :sm="8" :lg="4" v-for="item in counts" :key="item.key">
            <el-card shadow="never"><el-statistic :title="t(item.key)" :value="item.value" /></el-card>
          </el-col>
        </el-row>
        <el-card shadow="never" class="admin-card">
          <template #header>{{ t('providers') }} · {{ t('health') }}</template>
          <el-empty v-if="!providers.length" :description="t('noProviders')">
            <el-button type="primary" tag="a" href="/admin/providers">{{ t('addProvider') }}</el-button>
          </el-empty>
          <el-table v-else :data="providers" data-testid="health-table">
            <el-table-column prop="name" :label="t('name')" min-width="140" />
            <el-table-column prop="base_url" :label="t('baseUrl')" min-width="240" show-overflow-tooltip />
            <el-table-column :label="t('health')" min-width="260">
              <template #default="{ row }"><health-tag :provider="row" /></template>
            </el-table-column>
          </el-table>
        </el-card>
      </div>`,
    setup() {
      const counts = [
        { key: 'countProviders', value: page.counts.providers },
        { key: 'countModels', value: page.counts.models },
        { key: 'countUsers', value: page.counts.users },
        { key: 'countSessions', value: page.counts.sessions },
        { key: 'countMessagesToday', value: page.counts.messages_today },
      ];
      return { counts, providers: page.providers };
    },
  };

  const Providers = {
    components: { HealthTag },
    template: `
      <el-card shadow="never" class="admin-card">
        <template #header>
          <div class="admin-card-header">
            <span>{{ t('providers') }}</span>
            <el-button type="primary" @click="openEditor(null)" data-testid="add-provider">{{ t('addProvider') }}</el-button>
          </div>
        </template>
        <el-empty v-if="!providers.length" :description="t('noProviders')" />
        <el-table v-else :data="providers" row-key="id" data-testid="providers-table">
          <el-table-column prop="name" :label="t('name')" min-width="130" />
          <el-table-column prop="base_url" :label="t('baseUrl')" min-width="220" show-overflow-tooltip />
          <el-table-column :label="t('apiKey')" min-width="120">
            <template #default="{ row }">
              <el-tag v-if="row.key_status === 'needs_reentry'" type="warning">{{ t('needsReentry') }}</el-tag>
              <code v-else-if="row.api_key_hint">{{ row.api_key_hint }}</code>
              <span v-else class="muted">{{ t('noKey') }}</span>
            </template>
          </el-table-column>
          <el-table-column prop="model_count" :label="t('modelCount')" width="90" />
          <el-table-column :label="t('status')" width="90">
            <template #default="{ row }">
              <el-switch :model-value="row.status === 'active'" @change="value => setStatus(row, value)" />
            </template>
          </el-table-column>
          <el-table-column :label="t('health')" min-width="220">
            <template #default="{ row }"><health-tag :provider="row" :auto="false" :ref="el => healthRefs[row.id] = el" /></template>
          </el-table-column>
          <el-table-column :label="t('actions')" min-width="330" fixed="right">
            <template #default="{ row }">
              <el-button size="small" @click="healthRefs[row.id].run()" data-testid="test-provider">{{ t('test') }}</el-button>
              <el-button size="small" @click="openImport(row)" data-testid="import-models">{{ t('importModels') }}</el-button>
              <el-button size="small" @click="openEditor(row)">{{ t('edit') }}</el-button>
              <el-popconfirm :title="t('confirmDelete')" @confirm="remove(row)" width="220">
                <template #reference><el-button size="small" type="danger" plain>{{ t('delete') }}</el-button></template>
              </el-popconfirm>
            </template>
          </el-table-column>
        </el-table>

        <el-dialog v-model="editor.open" :title="editor.id ? t('editProvider') : t('addProvider')" width="560px" align-center>
          <el-alert v-if="editor.error" :title="editor.error" type="error" show-icon :closable="false" class="dialog-error" />
          <el-form label-position="top" @submit.prevent="saveEditor">
            <el-form-item v-if="!editor.id" :label="t('presets')">
              <el-space wrap>
                <el-button v-for="preset in presets" :key="preset.name" size="small" @click="usePreset(preset)">{{ preset.name }}</el-button>
              </el-space>
            </el-form-item>
            <el-form-item :label="t('name')" required><el-input v-model="editor.values.name" maxlength="100" data-testid="provider-name" /></el-form-item>
            <el-form-item :label="t('baseUrl')" required>
              <el-input v-model="editor.values.base_url" placeholder="https://api.deepseek.com/v1" data-testid="provider-url" />
            </el-form-item>
            <el-form-item :label="t('apiKey')" :required="movesKey">
              <el-input v-model="editor.values.api_key" type="password" show-password autocomplete="off"
                        :placeholder="keyPlaceholder" data-testid="provider-key" />
              <el-alert v-if="movesKey && !editor.values.api_key" :title="t('keyWillBeCleared')" type="warning"
                        show-icon :closable="false" class="form-help" data-testid="key-cleared-notice" />
            </el-form-item>
            <el-form-item :label="t('description')"><el-input v-model="editor.values.description" type="textarea" :rows="2" /></el-form-item>
            <el-form-item :label="t('status')">
              <el-switch v-model="editor.values.status" active-value="active" inactive-value="disabled" :active-text="t('enabled')" />
            </el-form-item>
          </el-form>
          <template #footer>
            <el-button @click="editor.open = false">{{ t('cancel') }}</el-button>
            <el-button type="primary" @click="saveEditor" data-testid="save-provider">{{ t('save') }}</el-button>
          </template>
        </el-dialog>

        <el-dialog v-model="importer.open" :title="t('importModels') + ' · ' + (importer.provider ? importer.provider.name : '')" width="520px" align-center>
          <div v-loading="importer.loading" class="import-list">
            <el-alert v-if="importer.error" :title="importer.error" type="error" show-icon :closable="false" />
            <p v-else class="muted">{{ t('importHint') }}</p>
            <el-checkbox-group v-model="importer.chosen" class="import-options">
              <el-checkbox v-for="model in importer.models" :key="model.model_id" :value="model.model_id"
                           :label="model.model_id" :disabled="model.imported" />
            </el-checkbox-group>
          </div>
          <template #footer>
            <el-button @click="importer.open = false">{{ t('cancel') }}</el-button>
            <el-button type="primary" :disabled="!importer.chosen.length" @click="runImport" data-testid="run-import">{{ t('import') }}</el-button>
          </template>
        </el-dialog>
      </el-card>`,
    setup() {
      const providers = Vue.reactive(page.providers);
      const healthRefs = {};
      const blank = () => ({ name: '', base_url: '', api_key: '', description: '', status: 'active' });
      const editor = Vue.reactive({ open: false, id: null, hint: '', storedUrl: '', keySet: false, values: blank(), error: '' });
      // The server clears the stored key when the URL moves to another host (it was given for the
      // old one): the form says so before saving, and asks for the new host's key.
      const movesKey = Vue.computed(() => {
        const from = origin(editor.storedUrl);
        const to = origin(editor.values.base_url);
        return editor.keySet && from !== null && to !== null && from !== to;
      });
      const keyPlaceholder = Vue.computed(() => {
        if (!editor.id) return t('apiKeyNew');
        if (movesKey.value) return t('apiKeyForNewHost');
        return t('apiKeyKeep') + (editor.hint ? ' (' + editor.hint + ')' : '');
      });
      const importer = Vue.reactive({ open: false, provider: null, models: [], chosen: [], loading: false, error: '' });

      function openEditor(row) {
        editor.id = row ? row.id : null;
        editor.hint = row ? row.api_key_hint : '';
        editor.storedUrl = row ? row.base_url : '';
        editor.keySet = Boolean(row && row.key_status === 'set');
        editor.values = row
          ? { name: row.name, base_url: row.base_url, api_key: '', description: row.description, status: row.status }
          : blank();
        editor.error = '';
        editor.open = true;
      }
      function usePreset(preset) {
        editor.values.name = editor.values.name || preset.name;
        editor.values.base_url = preset.base_url;
      }
      function saveEditor() {
        postForm(editor.id ? '/admin/providers/' + editor.id : '/admin/providers', editor.values, page.csrf_token);
      }
      function remove(row) {
        postForm('/admin/providers/' + row.id + '/delete', {}, page.csrf_token);
      }
      async function setStatus(row, on) {
        try {
          const updated = await api('PUT', '/api/admin/providers/' + row.id, { status: on ? 'active' : 'disabled' });
          row.status = updated.status;
        } catch (error) { notify(error); }
      }
      async function openImport(row) {
        Object.assign(importer, { open: true, provider: row, models: [], chosen: [], loading: true, error: '' });
        try {
          importer.models = (await api('GET', '/api/admin/providers/' + row.id + '/remote-models')).models;
        } catch (error) {
          importer.error = error.message;
        } finally {
          importer.loading = false;
        }
      }
      async function runImport() {
        try {
          const result = await api('POST', '/api/admin/providers/' + importer.provider.id + '/import', { model_ids: importer.chosen });
          ElementPlus.ElMessage.success(t('imported', { n: result.models.length }));
          importer.provider.model_count += result.models.length;
          importer.open = false;
        } catch (error) { notify(error); }
      }

      const failed = formErrorFor('provider');
      if (failed) {
        const row = providers.find(p => p.id === failed.id);
        openEditor(row || null);
        Object.assign(editor.values, failed.values);
        editor.error = failed.message;
      }
      return {
        providers, healthRefs, editor, movesKey, keyPlaceholder, importer, presets: PRESETS,
        openEditor, usePreset, saveEditor, remove, setStatus, openImport, runImport,
      };
    },
  };

  const Models = {
    template: `
      <el-card shadow="never" class="admin-card">
        <template #header>
          <div class="admin-card-header">
            <span>{{ t('models') }}</span>
            <el-button type="primary" @click="openEditor(null)" :disabled="!providers.length" data-testid="add-model">{{ t('addModel') }}</el-button>
          </div>
        </template>
        <el-empty v-if="!models.length" :description="t('noModels')" />
        <template v-else>
          <p class="muted">{{ t('sortHint') }}</p>
          <div class="model-list" data-testid="model-list" role="list">
            <div class="model-row model-head">
              <span></span><span>{{ t('modelName') }}</span><span>{{ t('modelId') }}</span><span>{{ t('provider') }}</span>
              <span>{{ t('maxTokens') }}</span><span>{{ t('status') }}</span><span>{{ t('actions') }}</span>
            </div>
            <div v-for="(model, index) in models" :key="model.id" class="model-row" role="listitem"
                 :class="{ dragging: dragIndex === index }" draggable="true" :data-model-id="model.model_id"
                 @dragstart="dragIndex = index" @dragover.prevent @drop.prevent="dropOn(index)" @dragend="dragIndex = null">
              <span class="drag-handle" aria-hidden="true">⋮⋮</span>
              <span class="model-name">{{ model.model_name }}</span>
              <code>{{ model.model_id }}</code>
              <span>{{ model.provider_name }}</span>
              <span>{{ model.max_tokens }}</span>
              <span><el-switch :model-value="model.status === 'active'" @change="value => setStatus(model, value)" /></span>
              <span class="row-actions">
                <el-button size="small" circle :disabled="index === 0" @click="move(index, -1)" :aria-label="t('moveUp')" data-testid="move-up">↑</el-button>
                <el-button size="small" circle :disabled="index === models.length - 1" @click="move(index, 1)" :aria-label="t('moveDown')" data-testid="move-down">↓</el-button>
                <el-button size="small" @click="openEditor(model)">{{ t('edit') }}</el-button>
                <el-popconfirm :title="t('confirmDelete')" @confirm="remove(model)" width="220">
                  <template #reference><el-button size="small" type="danger" plain>{{ t('delete') }}</el-button></template>
                </el-popconfirm>
              </span>
            </div>
          </div>
        </template>

        <el-dialog v-model="editor.open" :title="editor.id ? t('editModel') : t('addModel')" width="600px" align-center>
          <el-alert v-if="editor.error" :title="editor.error" type="error" show-icon :closable="false" class="dialog-error" />
          <el-form label-position="top" @submit.prevent="saveEditor">
            <el-form-item :label="t('provider')" required>
              <el-select v-model="editor.values.provider_id">
                <el-option v-for="p in providers" :key="p.id" :label="p.name" :value="p.id" />
              </el-select>
            </el-form-item>
            <el-row :gutter="12">
              <el-col :span="12"><el-form-item :label="t('modelId')" required><el-input v-model="editor.values.model_id" placeholder="deepseek-chat" /></el-form-item></el-col>
              <el-col :span="12"><el-form-item :label="t('modelName')"><el-input v-model="editor.values.model_name" placeholder="DeepSeek-V3" /></el-form-item></el-col>
            </el-row>
            <el-form-item :label="t('description')"><el-input v-model="editor.values.description" /></el-form-item>
            <el-row :gutter="12">
              <el-col :span="8"><el-form-item :label="t('maxTokens')"><el-input-number v-model="editor.values.max_tokens" :min="1" :max="1000000" controls-position="right" /></el-form-item></el-col>
              <el-col :span="8"><el-form-item :label="t('temperature')"><el-input-number v-model="editor.values.temperature" :min="0" :max="2" :step="0.1" :precision="2" controls-position="right" /></el-form-item></el-col>
              <el-col :span="8"><el-form-item :label="t('contextMessages')"><el-input-number v-model="editor.values.context_messages" :min="0" :max="500" controls-position="right" /></el-form-item></el-col>
            </el-row>
            <el-form-item :label="t('systemPrompt')"><el-input v-model="editor.values.system_prompt" type="textarea" :rows="3" /></el-form-item>
            <el-form-item :label="t('status')">
              <el-switch v-model="editor.values.status" active-value="active" inactive-value="disabled" :active-text="t('enabled')" />
            </el-form-item>
          </el-form>
          <template #footer>
            <el-button @click="editor.open = false">{{ t('cancel') }}</el-button>
            <el-button type="primary" @click="saveEditor">{{ t('save') }}</el-button>
          </template>
        </el-dialog>
      </el-card>`,
    setup() {
      const models = Vue.reactive(page.models);
      const providers = page.providers;
      const dragIndex = Vue.ref(null);
      const blank = () => ({
        provider_id: providers.length ? providers[0].id : null, model_id: '', model_name: '', description: '',
        max_tokens: 4096, temperature: 0.7, context_messages: 20, system_prompt: '', status: 'active',
      });
      const editor = Vue.reactive({ open: false, id: null, values: blank(), error: '' });

      function openEditor(model) {
        editor.id = model ? model.id : null;
        editor.values = model ? {
          provider_id: model.provider_id, model_id: model.model_id, model_name: model.model_name,
          description: model.description, max_tokens: model.max_tokens, temperature: model.temperature,
          context_messages: model.context_messages, system_prompt: model.system_prompt, status: model.status,
        } : blank();
        editor.error = '';
        editor.open = true;
      }
      function saveEditor() {
        postForm(editor.id ? '/admin/models/' + editor.id : '/admin/models', editor.values, page.csrf_token);
      }
      function remove(model) {
        postForm('/admin/models/' + model.id + '/delete', {}, page.csrf_token);
      }
      async function saveOrder() {
        try {
          await api('PUT', '/api/admin/models/order', { ids: models.map(m => m.id) });
          ElementPlus.ElMessage.success(t('orderSaved'));
        } catch (error) { notify(error); }
      }
      function move(index, step) {
        const [model] = models.splice(index, 1);
        models.splice(index + step, 0, model);
        saveOrder();
      }
      function dropOn(index) {
        if (dragIndex.value === null || dragIndex.value === index) return;
        move(dragIndex.value, index - dragIndex.value);
        dragIndex.value = null;
      }
      async function setStatus(model, on) {
        try {
          model.status = (await api('PUT', '/api/admin/models/' + model.id, { status: on ? 'active' : 'disabled' })).status;
        } catch (error) { notify(error); }
      }

      const failed = formErrorFor('model');
      if (failed) {
        openEditor(models.find(m => m.id === failed.id) || null);
        Object.assign(editor.values, failed.values);
        if (editor.values.provider_id) editor.values.provider_id = Number(editor.values.provider_id);
        editor.error = failed.message;
      }
      return { models, providers, dragIndex, editor, openEditor, saveEditor, remove, move, dropOn, setStatus };
    },
  };

  const Users = {
    template: `
      <el-card shadow="never" class="admin-card">
        <template #header>{{ t('users') }}</template>
        <el-table :data="users" row-key="id" data-testid="users-table">
          <el-table-column :label="t('username')" min-width="150">
            <template #default="{ row }">
              <span class="user-cell"><el-avatar :size="24" :src="row.avatar || undefined">{{ [...row.username][0] }}</el-avatar>
              {{ row.username }}<span v-if="row.id === me.id" class="muted">{{ t('you') }}</span></span>
            </template>
          </el-table-column>
          <el-table-column :label="t('role')" width="110">
            <template #default="{ row }"><el-tag :type="row.is_admin ? 'warning' : 'info'">{{ row.is_admin ? t('roleAdmin') : t('roleUser') }}</el-tag></template>
          </el-table-column>
          <el-table-column :label="t('status')" width="90">
            <template #default="{ row }"><el-tag :type="row.status === 'active' ? 'success' : 'danger'">{{ row.status === 'active' ? t('enabled') : t('disabled') }}</el-tag></template>
          </el-table-column>
          <el-table-column prop="message_count" :label="t('messages')" width="90" />
          <el-table-column :label="t('lastLogin')" min-width="160"><template #default="{ row }">{{ formatTime(row.last_login) }}</template></el-table-column>
          <el-table-column :label="t('created')" min-width="160"><template #default="{ row }">{{ formatTime(row.create_time) }}</template></el-table-column>
          <el-table-column :label="t('actions')" min-width="380" fixed="right">
            <template #default="{ row }">
              <template v-if="row.id !== me.id">
                <el-button size="small" @click="update(row, { status: row.status === 'active' ? 'disabled' : 'active' })">
                  {{ row.status === 'active' ? t('disable') : t('enable') }}
                </el-button>
                <el-button size="small" @click="update(row, { is_admin: !row.is_admin })">{{ row.is_admin ? t('removeAdmin') : t('makeAdmin') }}</el-button>
              </template>
              <el-button size="small" @click="openReset(row)">{{ t('resetPassword') }}</el-button>
              <el-popconfirm v-if="row.id !== me.id" :title="t('confirmDelete')" @confirm="remove(row)" width="220">
                <template #reference><el-button size="small" type="danger" plain>{{ t('delete') }}</el-button></template>
              </el-popconfirm>
            </template>
          </el-table-column>
        </el-table>
        <el-dialog v-model="reset.open" :title="t('resetPassword') + ' · ' + reset.username" width="420px" align-center>
          <el-alert v-if="reset.error" :title="reset.error" type="error" show-icon :closable="false" class="dialog-error" />
          <el-input v-model="reset.password" type="password" show-password :placeholder="t('newPassword')" autocomplete="new-password" />
          <template #footer>
            <el-button @click="reset.open = false">{{ t('cancel') }}</el-button>
            <el-button type="primary" :disabled="reset.password.length < 8" @click="saveReset">{{ t('save') }}</el-button>
          </template>
        </el-dialog>
      </el-card>`,
    setup() {
      const users = Vue.reactive(page.users);
      const reset = Vue.reactive({ open: false, id: null, username: '', password: '', error: '' });
      async function update(row, change) {
        try {
          Object.assign(row, await api('PUT', '/api/admin/users/' + row.id, change));
          ElementPlus.ElMessage.success(t('saved'));
        } catch (error) { notify(error); }
      }
      function remove(row) {
        postForm('/admin/users/' + row.id + '/delete', {}, page.csrf_token);
      }
      function openReset(row) {
        Object.assign(reset, { open: true, id: row.id, username: row.username, password: '', error: '' });
      }
      function saveReset() {
        postForm('/admin/users/' + reset.id, { password: reset.password }, page.csrf_token);
      }
      const failed = formErrorFor('user');
      if (failed) {
        const row = users.find(u => u.id === failed.id);
        if (row) openReset(row);
        reset.error = failed.message;
      }
      return { users, me: page.me, reset, update, remove, openReset, saveReset, formatTime };
    },
  };

  const Settings = {
    template: `
      <el-card shadow="never" class="admin-card">
        <template #header>{{ t('settings') }}</template>
        <el-form label-position="left" label-width="160px" @submit.prevent="save">
          <el-form-item :label="t('registrationOpen')">
            <el-switch v-model="values.registration_open" data-testid="registration-switch" />
            <p class="muted form-help">{{ t('registrationHelp') }}</p>
          </el-form-item>
          <el-form-item :label="t('retentionDays')">
            <el-input-number v-model="values.retention_days" :min="0" :max="3650" data-testid="retention-days" />
            <p class="muted form-help">{{ t('retentionHelp') }}</p>
          </el-form-item>
          <el-form-item><el-button type="primary" @click="save" data-testid="save-settings">{{ t('save') }}</el-button></el-form-item>
        </el-form>
      </el-card>`,
    setup() {
      const values = Vue.reactive({ ...page.settings });
      function save() {
        const form = { retention_days: String(values.retention_days || 0) };
        if (values.registration_open) form.registration_open = '1';
        postForm('/admin/settings', form, page.csrf_token);
      }
      return { values, save };
    },
  };

  const SECTIONS = ['dashboard', 'providers', 'models', 'users', 'settings'];
  const ICONS = { dashboard: 'DataBoard', providers: 'Connection', models: 'Cpu', users: 'User', settings: 'Setting' };

  mount({
    components: { LanguageSwitch, Dashboard, Providers, Models, Users, Settings },
    template: `
      <el-container class="admin-shell">
        <el-header class="shell-header">
          <div class="shell-brand">
            <img src="/static/img/favicon.svg" alt="" class="shell-logo">
            <span>{{ t('appName') }} · {{ t('admin') }}</span>
          </div>
          <div class="shell-actions">
            <el-button text circle :icon="dark ? icons.Sunny : icons.Moon" @click="toggleTheme"
                       :aria-label="t('darkMode')" :aria-pressed="String(dark)" data-testid="theme-toggle" />
            <language-switch />
            <el-button tag="a" href="/" text>{{ t('backToChat') }}</el-button>
          </div>
        </el-header>
        <el-container>
          <el-aside width="200px" class="admin-aside">
            <el-menu :default-active="section" class="admin-menu">
              <el-menu-item v-for="name in sections" :key="name" :index="name" @click="go(name)" :data-testid="'nav-' + name">
                <el-icon><component :is="icons[name]" /></el-icon><span>{{ t(name) }}</span>
              </el-menu-item>
            </el-menu>
          </el-aside>
          <el-main class="admin-main">
            <h1 class="admin-title">{{ t(section) }}</h1>
            <component :is="section" />
          </el-main>
        </el-container>
      </el-container>`,
    setup() {
      Vue.onMounted(() => (page.flash || []).forEach(message => ElementPlus.ElMessage.success(message)));
      const icons = Object.fromEntries(SECTIONS.map(name => [name, ElementPlusIconsVue[ICONS[name]]]));
      icons.Sunny = ElementPlusIconsVue.Sunny;
      icons.Moon = ElementPlusIconsVue.Moon;
      const dark = Vue.ref(document.documentElement.classList.contains('dark'));
      function toggleTheme() {
        dark.value = !dark.value;
        window.AIHelper.applyTheme(dark.value ? 'dark' : 'light');
      }
      return {
        section: page.section, sections: SECTIONS, icons, dark, toggleTheme,
        go: name => { window.location.href = name === 'dashboard' ? '/admin' : '/admin/' + name; },
      };
    },
  });
})();
