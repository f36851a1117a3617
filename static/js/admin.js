/* The admin pages: dashboard, usage, providers, models, users, groups, audit log, settings.
 * Create, edit and delete are classic form posts with the CSRF token (postForm); quick actions
 * (enable switches, test connection, import, reorder) call the JSON API. */
(function () {
  'use strict';
  const { t, tn, N_, pageData, mount, LanguageSwitch, api, postForm, formatTime } = window.AIHelper;
  const page = pageData();


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

  /* Resolves when the admin confirms, rejects when they cancel (ElMessageBox). */
  function confirmAction(message, confirmText, danger) {
    return ElementPlus.ElMessageBox.confirm(message, t('confirmTitle'), {
      confirmButtonText: confirmText, cancelButtonText: t('cancel'), type: 'warning',
      confirmButtonClass: danger ? 'el-button--danger' : '', autofocus: false,
    });
  }

  /* Phones: tables keep the name in view and put a row's actions in one menu. */
  const narrowQuery = window.matchMedia('(max-width: 640px)');
  const narrow = Vue.ref(narrowQuery.matches);
  narrowQuery.addEventListener('change', event => { narrow.value = event.matches; });

  /* A row's actions: the first `inline` as buttons, the rest (on a phone, all) in a menu.
   * actions: [{ key, label, danger?, testid? }]; emits run(key). */
  const RowActions = {
    props: { actions: Array, inline: { type: Number, default: 2 } },
    emits: ['run'],
    template: `
      <span class="row-actions">
        <el-button v-for="action in shown" :key="action.key" size="small" :type="action.danger ? 'danger' : undefined"
                   :plain="action.danger" :data-testid="action.testid" @click="$emit('run', action.key)">{{ action.label }}</el-button>
        <el-dropdown v-if="rest.length" trigger="click" @command="key => $emit('run', key)">
          <el-button size="small" :aria-label="t('moreActions')" data-testid="more-actions">
            <template v-if="narrow">{{ t('actions') }}</template><el-icon :class="{ 'el-icon--right': narrow }"><el-icon-arrow-down /></el-icon>
          </el-button>
          <template #dropdown>
            <el-dropdown-menu>
              <el-dropdown-item v-for="action in rest" :key="action.key" :command="action.key" :data-testid="action.testid"
                                :class="{ 'danger-item': action.danger }">{{ action.label }}</el-dropdown-item>
            </el-dropdown-menu>
          </template>
        </el-dropdown>
      </span>`,
    setup(props) {
      const shown = Vue.computed(() => (narrow.value ? [] : props.actions.slice(0, props.inline)));
      const rest = Vue.computed(() => (narrow.value ? props.actions : props.actions.slice(props.inline)));
      return { shown, rest, narrow };
    },
  };

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
        { key: N_('countProviders'), value: page.counts.providers },
        { key: N_('countModels'), value: page.counts.models },
        { key: N_('countUsers'), value: page.counts.users },
        { key: N_('countSessions'), value: page.counts.sessions },
        { key: N_('countMessagesToday'), value: page.counts.messages_today },
      ];
      return { counts, providers: page.providers };
    },
  };

  const Providers = {
    components: { HealthTag, RowActions },
    template: `
      <el-card shadow="never" class="admin-card">
        <template #header>
          <div class="admin-card-header">
            <span>{{ t('providers') }}</span>
            <el-button type="primary" @click="openEditor(null)" data-testid="add-provider">{{ t('addProvider') }}</el-button>
          </div>
        </template>
        <el-empty v-if="!providers.length" :description="t('noProviders')" data-testid="empty-providers">
          <el-button type="primary" @click="openEditor(null)">{{ t('addProvider') }}</el-button>
        </el-empty>
        <el-table v-else :data="providers" row-key="id" data-testid="providers-table" :key="narrow ? 'narrow' : 'wide'">
          <el-table-column prop="name" :label="t('name')" :min-width="narrow ? 110 : 120" :fixed="narrow ? 'left' : false" />
          <el-table-column prop="base_url" :label="t('baseUrl')" min-width="150" show-overflow-tooltip />
          <el-table-column :label="t('apiKey')" min-width="110">
            <template #default="{ row }">
              <el-tag v-if="row.key_status === 'needs_reentry'" type="warning">{{ t('needsReentry') }}</el-tag>
              <code v-else-if="row.api_key_hint">{{ row.api_key_hint }}</code>
              <span v-else class="muted">{{ t('noKey') }}</span>
            </template>
          </el-table-column>
          <el-table-column prop="model_count" :label="t('modelCount')" width="80" />
          <el-table-column :label="t('status')" width="76">
            <template #default="{ row }">
              <el-switch :model-value="row.status === 'active'" @change="value => setStatus(row, value)"
                         :aria-label="t('statusOf', { name: row.name })" />
            </template>
          </el-table-column>
          <el-table-column :label="t('health')" min-width="200">
            <template #default="{ row }"><health-tag :provider="row" :auto="false" :ref="el => healthRefs[row.id] = el" /></template>
          </el-table-column>
          <el-table-column :label="t('actions')" :width="narrow ? 96 : 230" fixed="right">
            <template #default="{ row }">
              <row-actions :actions="actions" @run="key => act(key, row)" />
            </template>
          </el-table-column>
        </el-table>

        <el-dialog v-model="editor.open" :title="editor.id ? t('editProvider') : t('addProvider')" width="560px" align-center>
          <el-alert v-if="editor.error" :title="editor.error" type="error" show-icon :closable="false" class="dialog-error" />
          <el-form label-position="top" @submit.prevent="saveEditor">
            <el-form-item v-if="!editor.id" :label="t('endpointPresets')">
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
            <template v-else>
              <p class="muted">{{ t('importHint') }}</p>
              <div class="import-tools" v-if="importer.models.length">
                <el-input v-model="importer.filter" clearable :placeholder="t('filterModels')" :aria-label="t('filterModels')"
                          :prefix-icon="icons.Search" data-testid="import-filter" />
                <el-checkbox :model-value="allShownChosen" :indeterminate="someShownChosen && !allShownChosen"
                             :disabled="!choosable.length" @change="chooseAllShown" data-testid="import-select-all">{{ t('selectAll') }}</el-checkbox>
                <span class="muted" data-testid="import-count">{{ tn('chosenCount', importer.chosen.length) }}</span>
              </div>
              <p v-if="importer.models.length && !shownModels.length" class="muted">{{ t('noMatch') }}</p>
            </template>
            <el-checkbox-group v-model="importer.chosen" class="import-options" :aria-label="t('importModels')">
              <el-checkbox v-for="model in shownModels" :key="model.model_id" :value="model.model_id"
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
      const importer = Vue.reactive({ open: false, provider: null, models: [], chosen: [], filter: '', loading: false, error: '' });
      // Providers list hundreds of models: the filter narrows the list, and "select all" ticks what
      // it shows (never those already imported); ticks hidden by the filter stay ticked.
      const shownModels = Vue.computed(() => {
        const words = importer.filter.trim().toLowerCase().split(/\s+/).filter(Boolean);
        return importer.models.filter(m => words.every(word => m.model_id.toLowerCase().includes(word)));
      });
      const choosable = Vue.computed(() => shownModels.value.filter(m => !m.imported).map(m => m.model_id));
      const allShownChosen = Vue.computed(() => choosable.value.length > 0 && choosable.value.every(id => importer.chosen.includes(id)));
      const someShownChosen = Vue.computed(() => choosable.value.some(id => importer.chosen.includes(id)));
      function chooseAllShown(on) {
        const shown = new Set(choosable.value);
        const others = importer.chosen.filter(id => !shown.has(id));
        importer.chosen = on ? others.concat(choosable.value) : others;
      }
      const actions = [
        { key: 'test', label: t('test'), testid: 'test-provider' },
        { key: 'import', label: t('importModels'), testid: 'import-models' },
        { key: 'edit', label: t('edit'), testid: 'edit-provider' },
        { key: 'delete', label: t('delete'), danger: true, testid: 'delete-provider' },
      ];
      function act(key, row) {
        if (key === 'test') healthRefs[row.id].run();
        else if (key === 'import') openImport(row);
        else if (key === 'edit') openEditor(row);
        else if (key === 'delete') {
          confirmAction(t('confirmDeleteNamed', { name: row.name }), t('delete'), true).then(() => remove(row), () => {});
        }
      }

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
        Object.assign(importer, { open: true, provider: row, models: [], chosen: [], filter: '', loading: true, error: '' });
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
          ElementPlus.ElMessage.success(tn('imported', result.models.length));
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
        narrow, actions, act, shownModels, choosable, allShownChosen, someShownChosen, chooseAllShown,
        icons: ElementPlusIconsVue,
      };
    },
  };

  const Models = {
    components: { RowActions },
    template: `
      <el-card shadow="never" class="admin-card">
        <template #header>
          <div class="admin-card-header">
            <span>{{ t('models') }}</span>
            <el-button type="primary" @click="openEditor(null)" :disabled="!providers.length" data-testid="add-model">{{ t('addModel') }}</el-button>
          </div>
        </template>
        <el-empty v-if="!models.length" :description="providers.length ? t('noModels') : t('noModelsNoProvider')" data-testid="empty-models">
          <el-button type="primary" tag="a" href="/admin/providers">{{ providers.length ? t('importModels') : t('addProvider') }}</el-button>
          <el-button v-if="providers.length" @click="openEditor(null)">{{ t('addModel') }}</el-button>
        </el-empty>
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
              <span class="model-name">{{ model.model_name }}
                <el-tag v-if="model.groups.length" size="small" type="warning" class="inline-tag" data-testid="model-restricted">{{ groupNames(model.groups) }}</el-tag>
              </span>
              <code>{{ model.model_id }}</code>
              <span>{{ model.provider_name }}</span>
              <span>{{ model.max_tokens }}</span>
              <span><el-switch :model-value="model.status === 'active'" @change="value => setStatus(model, value)"
                               :aria-label="t('statusOf', { name: model.model_name || model.model_id })" /></span>
              <span class="row-actions">
                <el-button size="small" circle :disabled="index === 0" @click="move(index, -1)" :aria-label="t('moveUp')" data-testid="move-up">↑</el-button>
                <el-button size="small" circle :disabled="index === models.length - 1" @click="move(index, 1)" :aria-label="t('moveDown')" data-testid="move-down">↓</el-button>
                <row-actions :actions="actions" @run="key => act(key, model)" />
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
            <el-row :gutter="12">
              <el-col :span="8"><el-form-item :label="t('priceInput')"><el-input-number v-model="editor.values.price_input" :min="0" :max="1000000" :step="0.1" :precision="4" controls-position="right" data-testid="price-input" /></el-form-item></el-col>
              <el-col :span="8"><el-form-item :label="t('priceOutput')"><el-input-number v-model="editor.values.price_output" :min="0" :max="1000000" :step="0.1" :precision="4" controls-position="right" data-testid="price-output" /></el-form-item></el-col>
              <el-col :span="8"><el-form-item :label="t('currency')"><el-input v-model="editor.values.currency" maxlength="3" placeholder="USD" data-testid="currency" /></el-form-item></el-col>
            </el-row>
            <div class="form-hint">{{ t('pricePerMillion') }}</div>
            <el-row :gutter="12">
              <el-col :span="12"><el-form-item :label="t('visionModel')">
                <el-switch v-model="editor.values.vision" data-testid="model-vision" />
                <div class="form-hint inline-hint">{{ t('visionHint') }}</div>
              </el-form-item></el-col>
              <el-col :span="12"><el-form-item :label="t('contextWindow')">
                <el-input-number v-model="editor.values.context_window" :min="1024" :max="10000000" :step="1024" controls-position="right" data-testid="context-window" />
              </el-form-item></el-col>
            </el-row>
            <el-form-item :label="t('modelGroups')">
              <el-select v-model="editor.values.groups" multiple clearable :placeholder="t('everyone')" data-testid="model-groups">
                <el-option v-for="g in groups" :key="g.id" :label="g.name" :value="g.id" />
              </el-select>
              <div class="form-hint">{{ groups.length ? t('modelGroupsHint') : t('modelGroupsNone') }}</div>
            </el-form-item>
            <el-form-item :label="t('systemPrompt')"><el-input v-model="editor.values.system_prompt" type="textarea" :rows="3" /></el-form-item>
            <el-form-item :label="t('status')">
              <el-switch v-model="editor.values.status" active-value="active" inactive-value="disabled" :active-text="t('enabled')" />
            </el-form-item>
          </el-form>
          <template #footer>
            <el-button @click="editor.open = false">{{ t('cancel') }}</el-button>
            <el-button type="primary" @click="saveEditor" data-testid="save-model">{{ t('save') }}</el-button>
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
        price_input: 0, price_output: 0, currency: 'USD', groups: [], vision: false, context_window: 32768,
      });
      const editor = Vue.reactive({ open: false, id: null, values: blank(), error: '' });

      function openEditor(model) {
        editor.id = model ? model.id : null;
        editor.values = model ? {
          provider_id: model.provider_id, model_id: model.model_id, model_name: model.model_name,
          description: model.description, max_tokens: model.max_tokens, temperature: model.temperature,
          context_messages: model.context_messages, system_prompt: model.system_prompt, status: model.status,
          price_input: model.price_input, price_output: model.price_output, currency: model.currency,
          groups: [...model.groups], vision: model.vision, context_window: model.context_window,
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
        editor.values.groups = String(editor.values.groups || '').split(',').filter(Boolean).map(Number);
        editor.values.vision = editor.values.vision === 'true';
        editor.values.context_window = Number(editor.values.context_window) || 32768;
        editor.error = failed.message;
      }
      const actions = [
        { key: 'edit', label: t('edit'), testid: 'edit-model' },
        { key: 'delete', label: t('delete'), danger: true, testid: 'delete-model' },
      ];
      function act(key, model) {
        if (key === 'edit') openEditor(model);
        else confirmAction(t('confirmDeleteNamed', { name: model.model_name || model.model_id }), t('delete'), true)
          .then(() => remove(model), () => {});
      }
      const groups = page.groups;
      function groupNames(ids) {
        return ids.map(id => (groups.find(g => g.id === id) || { name: '#' + id }).name).join(', ');
      }
      return { models, providers, groups, groupNames, dragIndex, editor, openEditor, saveEditor, remove, move, dropOn, setStatus, actions, act };
    },
  };

  /* A quota's four limits as number fields; an empty field is "no limit" (null). */
  const QuotaFields = {
    props: { quota: Object, currency: String, inherited: Boolean },
    template: `
      <el-row :gutter="12">
        <el-col v-for="field in fields" :key="field.name" :span="12">
          <el-form-item :label="t(field.label, { currency })">
            <el-input-number v-model="quota[field.name]" :min="0" :max="field.max" :precision="field.precision"
                             :value-on-clear="null" controls-position="right" class="quota-input"
                             :placeholder="inherited ? t('quotaFromGroups') : t('noLimit')" :data-testid="'quota-' + field.name" />
          </el-form-item>
        </el-col>
      </el-row>`,
    setup() {
      const fields = [
        { name: 'tokens_per_day', label: N_('quotaTokensPerDay'), max: 1e15, precision: 0 },
        { name: 'tokens_per_month', label: N_('quotaTokensPerMonth'), max: 1e15, precision: 0 },
        { name: 'messages_per_day', label: N_('quotaMessagesPerDay'), max: 1e9, precision: 0 },
        { name: 'cost_per_month', label: N_('quotaCostPerMonth'), max: 1e9, precision: 2 },
      ];
      return { fields };
    },
  };

  const QUOTA_NAMES = ['tokens_per_day', 'tokens_per_month', 'messages_per_day', 'cost_per_month'];
  const SHORT_LIMITS = {
    tokens_per_day: N_('limitTokensDay'), tokens_per_month: N_('limitTokensMonth'),
    messages_per_day: N_('limitMessagesDay'), cost_per_month: N_('limitCostMonth'),
  };

  /* "100 000 tokens/day · 50 messages/day", or "no limit". */
  function quotaSummary(quota, currency) {
    const set = QUOTA_NAMES.filter(name => quota && quota[name] !== null && quota[name] !== undefined);
    if (!set.length) return t('noLimit');
    return set.map(name => t(SHORT_LIMITS[name], { n: quota[name].toLocaleString(), currency })).join(' · ');
  }

  function blankQuota() {
    return Object.fromEntries(QUOTA_NAMES.map(name => [name, null]));
  }

  const Users = {
    components: { RowActions, QuotaFields },
    template: `
      <el-card shadow="never" class="admin-card">
        <template #header>
          <div class="admin-card-header">
            <span>{{ t('users') }}</span>
            <el-button type="primary" @click="openCreate" data-testid="add-user">{{ t('addUser') }}</el-button>
          </div>
        </template>
        <el-table :data="users" row-key="id" data-testid="users-table" :key="narrow ? 'narrow' : 'wide'">
          <el-table-column :label="t('username')" :min-width="narrow ? 120 : 150" :fixed="narrow ? 'left' : false">
            <template #default="{ row }">
              <span class="user-cell"><el-avatar :size="24" :src="row.avatar || undefined">{{ [...row.username][0] }}</el-avatar>
              <span class="user-cell-name">{{ row.username }}</span><span v-if="row.id === me.id" class="muted">{{ t('youMarker') }}</span></span>
            </template>
          </el-table-column>
          <el-table-column :label="t('role')" width="100">
            <template #default="{ row }"><el-tag :type="row.is_admin ? 'warning' : 'info'">{{ row.is_admin ? t('roleAdmin') : t('roleUser') }}</el-tag></template>
          </el-table-column>
          <el-table-column :label="t('status')" width="80">
            <template #default="{ row }"><el-tag :type="row.status === 'active' ? 'success' : 'danger'" data-testid="user-status">{{ row.status === 'active' ? t('enabled') : t('disabled') }}</el-tag></template>
          </el-table-column>
          <el-table-column prop="message_count" :label="t('messages')" width="80" />
          <el-table-column :label="t('groups')" min-width="120">
            <template #default="{ row }">
              <el-tag v-for="id in row.groups" :key="id" size="small" class="inline-tag" data-testid="user-group">{{ groupName(id) }}</el-tag>
            </template>
          </el-table-column>
          <el-table-column :label="t('usedToday')" min-width="150">
            <template #default="{ row }">
              <span data-testid="user-today">{{ t('usedTodayValue', { messages: row.today.messages, tokens: row.today.tokens.toLocaleString() }) }}</span>
              <div v-if="hasQuota(row.limits)" class="muted small" data-testid="user-limits">{{ quotaSummary(row.limits, currency) }}</div>
            </template>
          </el-table-column>
          <el-table-column :label="t('lastLogin')" min-width="150"><template #default="{ row }">{{ formatTime(row.last_login) }}</template></el-table-column>
          <el-table-column :label="t('created')" min-width="150"><template #default="{ row }">{{ formatTime(row.create_time) }}</template></el-table-column>
          <el-table-column :label="t('actions')" :width="narrow ? 96 : 200" fixed="right">
            <template #default="{ row }">
              <row-actions :actions="actionsFor(row)" :inline="1" @run="key => act(key, row)" />
            </template>
          </el-table-column>
        </el-table>
        <el-dialog v-model="reset.open" :title="t('resetPassword') + ' · ' + reset.username" width="420px" align-center>
          <el-alert v-if="reset.error" :title="reset.error" type="error" show-icon :closable="false" class="dialog-error" />
          <el-input v-model="reset.password" type="password" show-password :placeholder="t('newPasswordRule')"
                    :aria-label="t('newPasswordRule')" autocomplete="new-password" data-testid="reset-password" />
          <template #footer>
            <el-button @click="reset.open = false">{{ t('cancel') }}</el-button>
            <el-button type="primary" :disabled="reset.password.length < 8" @click="saveReset" data-testid="save-reset">{{ t('save') }}</el-button>
          </template>
        </el-dialog>
        <el-dialog v-model="access.open" :title="t('groupsAndQuota') + ' · ' + access.username" width="560px" align-center>
          <el-alert v-if="access.error" :title="access.error" type="error" show-icon :closable="false" class="dialog-error" />
          <el-form label-position="top" @submit.prevent="saveAccess">
            <el-form-item :label="t('groups')">
              <el-select v-model="access.groups" multiple clearable :placeholder="t('noGroupsChosen')" data-testid="user-groups">
                <el-option v-for="g in groups" :key="g.id" :label="g.name" :value="g.id" />
              </el-select>
            </el-form-item>
            <quota-fields :quota="access.quota" :currency="currency" inherited />
            <div class="form-hint">{{ t('userQuotaHint') }}</div>
          </el-form>
          <template #footer>
            <el-button @click="access.open = false">{{ t('cancel') }}</el-button>
            <el-button type="primary" :loading="access.saving" @click="saveAccess" data-testid="save-access">{{ t('save') }}</el-button>
          </template>
        </el-dialog>
        <el-dialog v-model="creator.open" :title="t('addUser')" width="420px" align-center>
          <el-alert v-if="creator.error" :title="creator.error" type="error" show-icon :closable="false" class="dialog-error"
                    data-testid="create-user-error" />
          <el-form label-position="top" @submit.prevent="saveCreate">
            <el-form-item :label="t('username')" required>
              <el-input v-model="creator.username" autocomplete="off" :placeholder="t('usernameHint')" data-testid="new-username" />
            </el-form-item>
            <el-form-item :label="t('password')" required>
              <el-input v-model="creator.password" type="password" show-password autocomplete="new-password"
                        :placeholder="t('newPasswordRule')" data-testid="new-password" />
            </el-form-item>
            <el-form-item :label="t('makeAdminOnCreate')">
              <el-switch v-model="creator.is_admin" data-testid="new-is-admin" />
            </el-form-item>
          </el-form>
          <template #footer>
            <el-button @click="creator.open = false">{{ t('cancel') }}</el-button>
            <el-button type="primary" :loading="creator.saving" :disabled="!creator.username.trim() || creator.password.length < 8"
                       @click="saveCreate" data-testid="save-user">{{ t('createUser') }}</el-button>
          </template>
        </el-dialog>
      </el-card>`,
    setup() {
      const users = Vue.reactive(page.users);
      const reset = Vue.reactive({ open: false, id: null, username: '', password: '', error: '' });
      const creator = Vue.reactive({ open: false, username: '', password: '', is_admin: false, error: '', saving: false });
      const groups = page.groups;
      const currency = page.quota_currency;
      const access = Vue.reactive({ open: false, id: null, username: '', groups: [], quota: blankQuota(), error: '', saving: false });
      function groupName(id) {
        return (groups.find(g => g.id === id) || { name: '#' + id }).name;
      }
      function hasQuota(quota) {
        return QUOTA_NAMES.some(name => quota[name] !== null);
      }
      function openAccess(row) {
        Object.assign(access, { open: true, id: row.id, username: row.username, groups: [...row.groups], quota: { ...row.quota }, error: '', saving: false });
      }
      async function saveAccess() {
        if (access.saving) return;
        access.saving = true;
        try {
          const row = users.find(u => u.id === access.id);
          Object.assign(row, await api('PUT', '/api/admin/users/' + access.id, { groups: access.groups, quota: access.quota }));
          access.open = false;
          ElementPlus.ElMessage.success(t('saved'));
        } catch (error) {
          access.error = error.message;
        } finally {
          access.saving = false;
        }
      }
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
      function openCreate() {
        Object.assign(creator, { open: true, username: '', password: '', is_admin: false, error: '', saving: false });
      }
      async function saveCreate() {
        if (creator.saving) return;
        creator.saving = true;
        try {
          const user = await api('POST', '/api/admin/users', { username: creator.username, password: creator.password, is_admin: creator.is_admin });
          users.push(user);
          creator.open = false;
          ElementPlus.ElMessage.success(t('userCreated', { name: user.username }));
        } catch (error) {
          creator.error = error.message;
        } finally {
          creator.saving = false;
        }
      }
      // No one can disable, demote or delete their own account: only the password on one's own row.
      function actionsFor(row) {
        const resetAction = { key: 'reset', label: t('resetPassword'), testid: 'reset-user' };
        const accessAction = { key: 'access', label: t('groupsAndQuota'), testid: 'user-access' };
        if (row.id === me.id) return [resetAction, accessAction];
        return [
          { key: 'status', label: row.status === 'active' ? t('disable') : t('enable'), testid: 'toggle-user' },
          accessAction,
          { key: 'admin', label: row.is_admin ? t('removeAdmin') : t('makeAdmin'), testid: 'admin-user' },
          resetAction,
          { key: 'delete', label: t('delete'), danger: true, testid: 'delete-user' },
        ];
      }
      function act(key, row) {
        if (key === 'reset') openReset(row);
        else if (key === 'access') openAccess(row);
        else if (key === 'admin') update(row, { is_admin: !row.is_admin });
        else if (key === 'status' && row.status !== 'active') update(row, { status: 'active' });
        else if (key === 'status') {
          confirmAction(t('confirmDisable', { name: row.username }), t('disable'), true)
            .then(() => update(row, { status: 'disabled' }), () => {});
        } else if (key === 'delete') {
          confirmAction(t('confirmDeleteUser', { name: row.username }), t('delete'), true).then(() => remove(row), () => {});
        }
      }
      const me = page.me;
      const failed = formErrorFor('user');
      if (failed) {
        const row = users.find(u => u.id === failed.id);
        if (row) openReset(row);
        reset.error = failed.message;
      }
      return {
        users, me, reset, creator, access, groups, currency, narrow, actionsFor, act, openCreate, saveCreate, saveReset,
        saveAccess, groupName, hasQuota, quotaSummary, formatTime,
      };
    },
  };

  const Groups = {
    components: { RowActions, QuotaFields },
    template: `
      <el-card shadow="never" class="admin-card">
        <template #header>
          <div class="admin-card-header">
            <span>{{ t('groups') }}</span>
            <el-button type="primary" @click="openEditor(null)" data-testid="add-group">{{ t('addGroup') }}</el-button>
          </div>
        </template>
        <p class="muted">{{ t('groupsHint') }}</p>
        <el-empty v-if="!groups.length" :description="t('noGroups')" data-testid="empty-groups">
          <el-button type="primary" @click="openEditor(null)">{{ t('addGroup') }}</el-button>
        </el-empty>
        <el-table v-else :data="groups" row-key="id" data-testid="groups-table" :key="narrow ? 'narrow' : 'wide'">
          <el-table-column :label="t('groupName')" min-width="140" :fixed="narrow ? 'left' : false">
            <template #default="{ row }">
              <span :data-group-name="row.name">{{ row.name }}</span>
              <el-tag v-if="row.is_default" size="small" type="success" class="inline-tag">{{ t('defaultGroupTag') }}</el-tag>
            </template>
          </el-table-column>
          <el-table-column prop="description" :label="t('description')" min-width="160" />
          <el-table-column prop="member_count" :label="t('members')" width="90" />
          <el-table-column :label="t('quota')" min-width="200">
            <template #default="{ row }"><span data-testid="group-quota">{{ quotaSummary(row.quota, currency) }}</span></template>
          </el-table-column>
          <el-table-column :label="t('actions')" :width="narrow ? 96 : 170" fixed="right">
            <template #default="{ row }"><row-actions :actions="actions" @run="key => act(key, row)" /></template>
          </el-table-column>
        </el-table>
        <el-dialog v-model="editor.open" :title="editor.id ? t('editGroup') : t('addGroup')" width="560px" align-center>
          <el-alert v-if="editor.error" :title="editor.error" type="error" show-icon :closable="false" class="dialog-error"
                    data-testid="group-error" />
          <el-form label-position="top" @submit.prevent="save">
            <el-form-item :label="t('groupName')" required>
              <el-input v-model="editor.values.name" maxlength="50" data-testid="group-name" />
            </el-form-item>
            <el-form-item :label="t('description')">
              <el-input v-model="editor.values.description" maxlength="500" data-testid="group-description" />
            </el-form-item>
            <quota-fields :quota="editor.values.quota" :currency="currency" />
            <div class="form-hint">{{ t('groupQuotaHint') }}</div>
          </el-form>
          <template #footer>
            <el-button @click="editor.open = false">{{ t('cancel') }}</el-button>
            <el-button type="primary" :loading="editor.saving" :disabled="!editor.values.name.trim()" @click="save"
                       data-testid="save-group">{{ t('save') }}</el-button>
          </template>
        </el-dialog>
      </el-card>`,
    setup() {
      const groups = Vue.reactive(page.groups);
      const currency = page.quota_currency;
      const editor = Vue.reactive({ open: false, id: null, values: { name: '', description: '', quota: blankQuota() }, error: '', saving: false });
      function openEditor(group) {
        editor.id = group ? group.id : null;
        editor.values = group
          ? { name: group.name, description: group.description, quota: { ...group.quota } }
          : { name: '', description: '', quota: blankQuota() };
        editor.error = '';
        editor.open = true;
      }
      async function save() {
        if (editor.saving) return;
        editor.saving = true;
        try {
          const body = { name: editor.values.name, description: editor.values.description, quota: editor.values.quota };
          const saved = await api(editor.id ? 'PUT' : 'POST', '/api/admin/groups' + (editor.id ? '/' + editor.id : ''), body);
          const index = groups.findIndex(g => g.id === saved.id);
          if (index >= 0) groups.splice(index, 1, saved); else groups.push(saved);
          editor.open = false;
          ElementPlus.ElMessage.success(t('saved'));
        } catch (error) {
          editor.error = error.message;
        } finally {
          editor.saving = false;
        }
      }
      async function remove(group) {
        try {
          await api('DELETE', '/api/admin/groups/' + group.id);
          groups.splice(groups.findIndex(g => g.id === group.id), 1);
          ElementPlus.ElMessage.success(t('deleted'));
        } catch (error) { notify(error); }
      }
      const actions = [
        { key: 'edit', label: t('edit'), testid: 'edit-group' },
        { key: 'delete', label: t('delete'), danger: true, testid: 'delete-group' },
      ];
      function act(key, group) {
        if (key === 'edit') openEditor(group);
        else confirmAction(t('confirmDeleteGroup', { name: group.name }), t('delete'), true).then(() => remove(group), () => {});
      }
      return { groups, currency, editor, openEditor, save, actions, act, narrow, quotaSummary };
    },
  };

  /* The usage dashboard: use and cost over time and by model, user and group, from
   * GET /api/admin/usage (the daily rollup), drawn with ECharts; each view downloads as CSV.
   * Tooltips are drawn on the canvas (renderMode richText): a user or model name never becomes HTML. */
  const USAGE_VIEWS = [N_('usageByModel'), N_('usageTopUsers'), N_('usageByGroup')];
  const TOP_USERS = 10;

  function isoDay(date) {
    return date.getFullYear() + '-' + String(date.getMonth() + 1).padStart(2, '0') + '-' + String(date.getDate()).padStart(2, '0');
  }

  const Usage = {
    template: `
      <div>
        <div class="usage-toolbar">
          <el-date-picker v-model="range" type="daterange" value-format="YYYY-MM-DD" :clearable="false" unlink-panels
                          :start-placeholder="t('startDate')" :end-placeholder="t('endDate')" :shortcuts="shortcuts"
                          @change="load" data-testid="usage-range" />
          <el-radio-group v-model="by" @change="load" data-testid="usage-by">
            <el-radio-button value="day">{{ t('byDay') }}</el-radio-button>
            <el-radio-button value="week">{{ t('byWeek') }}</el-radio-button>
            <el-radio-button value="month">{{ t('byMonth') }}</el-radio-button>
          </el-radio-group>
        </div>
        <el-alert v-if="error" :title="error" type="error" show-icon :closable="false" class="dialog-error" />
        <el-row :gutter="16" class="admin-counts">
          <el-col :xs="12" :sm="6" v-for="item in totals" :key="item.key">
            <el-card shadow="never"><el-statistic :title="item.title" :value="item.value" :precision="item.precision" data-testid="usage-total" /></el-card>
          </el-col>
        </el-row>
        <el-card shadow="never" class="admin-card">
          <template #header>
            <div class="admin-card-header">
              <span>{{ t('usageOverTime') }}</span>
              <el-button tag="a" size="small" :href="csvUrl(by)" data-testid="usage-csv">{{ t('downloadCsv') }}</el-button>
            </div>
          </template>
          <div ref="timeChart" class="usage-chart" data-testid="usage-chart-time" role="img" :aria-label="t('usageOverTime')"></div>
        </el-card>
        <el-row :gutter="16">
          <el-col :xs="24" :lg="8" v-for="(view, index) in views" :key="view.key">
            <el-card shadow="never" class="admin-card">
              <template #header>
                <div class="admin-card-header">
                  <span>{{ t(view.key) }}</span>
                  <el-button tag="a" size="small" :href="csvUrl(view.by)" :data-testid="'usage-csv-' + view.by">CSV</el-button>
                </div>
              </template>
              <el-empty v-if="!view.rows.length" :description="t('usageNone')" :image-size="60" />
              <div v-show="view.rows.length" :ref="el => (viewCharts[index] = el)" class="usage-chart small-chart"
                   :data-testid="'usage-chart-' + view.by" role="img" :aria-label="t(view.key)"></div>
            </el-card>
          </el-col>
        </el-row>
      </div>`,
    setup() {
      const today = new Date();
      const monthAgo = new Date(today.getFullYear(), today.getMonth(), today.getDate() - 29);
      const range = Vue.ref([isoDay(monthAgo), isoDay(today)]);
      const by = Vue.ref('day');
      const error = Vue.ref('');
      const timeRows = Vue.ref([]);
      const views = Vue.reactive([
        { key: USAGE_VIEWS[0], by: 'model', rows: [] },
        { key: USAGE_VIEWS[1], by: 'user', rows: [] },
        { key: USAGE_VIEWS[2], by: 'group', rows: [] },
      ]);
      const timeChart = Vue.ref(null);
      const viewCharts = [];
      const charts = [];
      const dark = () => document.documentElement.classList.contains('dark');
      const shortcuts = [7, 30, 90].map(days => ({
        text: t('lastDays', { n: days }),
        value: () => [new Date(Date.now() - (days - 1) * 86400000), new Date()],
      }));

      function query(bucket) {
        return new URLSearchParams({ from: range.value[0], to: range.value[1], by: bucket }).toString();
      }
      function csvUrl(bucket) {
        return '/api/admin/usage.csv?' + query(bucket);
      }
      // The currency most of the cost is in; the charts show tokens, and cost in that currency.
      const currency = Vue.computed(() => {
        const cost = {};
        timeRows.value.forEach(row => { cost[row.currency] = (cost[row.currency] || 0) + row.cost; });
        return Object.keys(cost).sort((a, b) => cost[b] - cost[a])[0] || 'USD';
      });
      const totals = Vue.computed(() => {
        const rows = timeRows.value;
        const sum = name => rows.reduce((total, row) => total + row[name], 0);
        const cost = rows.filter(row => row.currency === currency.value).reduce((total, row) => total + row.cost, 0);
        return [
          { key: 'messages', title: t('usageMessages'), value: sum('messages'), precision: 0 },
          { key: 'prompt', title: t('usagePromptTokens'), value: sum('prompt_tokens'), precision: 0 },
          { key: 'completion', title: t('usageCompletionTokens'), value: sum('completion_tokens'), precision: 0 },
          { key: 'cost', title: t('usageCost', { currency: currency.value }), value: cost, precision: 4 },
        ];
      });

      function chartOn(element, index) {
        if (!charts[index] || charts[index].getDom() !== element) {
          if (charts[index]) charts[index].dispose();
          charts[index] = echarts.init(element, dark() ? 'dark' : null);
        }
        return charts[index];
      }
      const base = () => ({
        backgroundColor: 'transparent',
        tooltip: { trigger: 'axis', renderMode: 'richText', axisPointer: { type: 'shadow' } },
        legend: { top: 0 },
        grid: { left: 8, right: 8, top: 36, bottom: 8, containLabel: true },
      });
      /* The rows of each key (a day, a model, a user) added up over currencies: tokens add up
       * whatever they cost in; the cost only in the chart's currency. */
      function byKey(rows) {
        const keyed = new Map();
        rows.forEach(row => {
          const sum = keyed.get(row.key) || { label: row.label, prompt: 0, completion: 0, cost: 0 };
          sum.prompt += row.prompt_tokens;
          sum.completion += row.completion_tokens;
          if (row.currency === currency.value) sum.cost += row.cost;
          keyed.set(row.key, sum);
        });
        return [...keyed.values()];
      }
      function drawTime() {
        const days = byKey(timeRows.value);
        chartOn(timeChart.value, 0).setOption({
          ...base(),
          xAxis: { type: 'category', data: days.map(day => day.label) },
          yAxis: [{ type: 'value', name: t('tokens') }, { type: 'value', name: currency.value, splitLine: { show: false } }],
          series: [
            { name: t('usagePromptTokens'), type: 'bar', stack: 'tokens', data: days.map(day => day.prompt) },
            { name: t('usageCompletionTokens'), type: 'bar', stack: 'tokens', data: days.map(day => day.completion) },
            { name: t('usageCost', { currency: currency.value }), type: 'line', yAxisIndex: 1, smooth: true,
              data: days.map(day => Number(day.cost.toFixed(6))) },
          ],
        }, true);
      }
      function drawView(view, index) {
        const element = viewCharts[index];
        if (!element || !view.rows.length) return;
        const top = byKey(view.rows).sort((a, b) => (b.prompt + b.completion) - (a.prompt + a.completion))
          .slice(0, TOP_USERS).reverse();
        chartOn(element, index + 1).setOption({
          ...base(),
          legend: { show: false },
          xAxis: { type: 'value' },
          yAxis: { type: 'category', data: top.map(item => item.label) },
          series: [{ name: t('tokens'), type: 'bar', barMaxWidth: 28, data: top.map(item => item.prompt + item.completion) }],
        }, true);
      }
      async function load() {
        error.value = '';
        try {
          const [time, ...others] = await Promise.all([by.value, ...views.map(view => view.by)].map(
            bucket => api('GET', '/api/admin/usage?' + query(bucket))));
          timeRows.value = time.rows;
          others.forEach((answer, index) => { views[index].rows = answer.rows; });
          await Vue.nextTick();
          drawTime();
          views.forEach(drawView);
        } catch (failure) {
          error.value = failure.message || t('loadFailed');
        }
      }
      function resize() {
        charts.forEach(chart => chart && chart.resize());
      }
      Vue.onMounted(() => {
        load();
        window.addEventListener('resize', resize);
      });
      Vue.onBeforeUnmount(() => {
        window.removeEventListener('resize', resize);
        charts.forEach(chart => chart && chart.dispose());
      });
      return { range, by, error, totals, views, timeChart, viewCharts, shortcuts, csvUrl, load };
    },
  };

  /* The audit log, newest first: filter by who, what and when; "more" pages on by the last id. */
  const AUDIT_ACTIONS = {
    'provider.create': N_('auditProviderCreate'), 'provider.update': N_('auditProviderUpdate'),
    'provider.delete': N_('auditProviderDelete'), 'model.create': N_('auditModelCreate'),
    'model.update': N_('auditModelUpdate'), 'model.delete': N_('auditModelDelete'),
    'model.import': N_('auditModelImport'), 'model.reorder': N_('auditModelReorder'),
    'user.create': N_('auditUserCreate'), 'user.update': N_('auditUserUpdate'), 'user.delete': N_('auditUserDelete'),
    'group.create': N_('auditGroupCreate'), 'group.update': N_('auditGroupUpdate'), 'group.delete': N_('auditGroupDelete'),
    'preset.create': N_('auditPresetCreate'), 'preset.update': N_('auditPresetUpdate'), 'preset.delete': N_('auditPresetDelete'),
    'settings.update': N_('auditSettingsUpdate'), 'keys.rotate': N_('auditKeysRotate'),
    'login.admin': N_('auditLoginAdmin'), 'login.failed': N_('auditLoginFailed'),
    'share.revoke': N_('auditShareRevoke'),
  };
  const AUDIT_KINDS = {
    provider: N_('auditKindProvider'), model: N_('auditKindModel'), user: N_('auditKindUser'), group: N_('auditKindGroup'),
    preset: N_('auditKindPreset'),
    settings: N_('auditKindSettings'), keys: N_('auditKindKeys'), login: N_('auditKindLogin'),
    share: N_('auditKindShare'),
  };
  const AUDIT_PAGE = 50;

  /* A value in a change, as text: lists joined, objects as key=value, nothing as a dash. */
  function shownValue(value) {
    if (value === null || value === undefined || value === '') return '—';
    if (Array.isArray(value)) return value.length ? value.map(shownValue).join(', ') : '—';
    if (typeof value === 'object') {
      return Object.entries(value).filter(([, v]) => v !== null).map(([k, v]) => k + '=' + shownValue(v)).join(', ') || '—';
    }
    return String(value);
  }

  const Audit = {
    template: `
      <el-card shadow="never" class="admin-card">
        <div class="usage-toolbar">
          <el-input v-model="filters.actor" clearable :placeholder="t('auditActor')" :aria-label="t('auditActor')"
                    class="audit-filter" data-testid="audit-actor" @change="load(true)" />
          <el-select v-model="filters.action" clearable filterable :placeholder="t('auditAction')" :aria-label="t('auditAction')"
                     class="audit-filter" data-testid="audit-action" @change="load(true)">
            <el-option v-for="(label, kind) in kinds" :key="kind" :label="t(label)" :value="kind" />
            <el-option v-for="(label, action) in actions" :key="action" :label="t(label)" :value="action" />
          </el-select>
          <el-date-picker v-model="range" type="daterange" value-format="YYYY-MM-DD" unlink-panels
                          :start-placeholder="t('startDate')" :end-placeholder="t('endDate')" @change="load(true)"
                          data-testid="audit-range" />
        </div>
        <el-alert v-if="error" :title="error" type="error" show-icon :closable="false" class="dialog-error" />
        <el-table :data="entries" row-key="id" data-testid="audit-table" :empty-text="t('auditEmpty')">
          <el-table-column :label="t('auditTime')" min-width="160"><template #default="{ row }">{{ formatTime(row.time) }}</template></el-table-column>
          <el-table-column :label="t('auditActor')" min-width="140">
            <template #default="{ row }">
              <span>{{ row.actor_name || '—' }}</span>
              <div class="muted small">{{ row.ip || '' }}</div>
            </template>
          </el-table-column>
          <el-table-column :label="t('auditAction')" min-width="140">
            <template #default="{ row }">
              <el-tag size="small" :type="row.action === 'login.failed' ? 'danger' : row.action.endsWith('.delete') ? 'warning' : 'info'"
                      data-testid="audit-entry-action">{{ actionLabel(row.action) }}</el-tag>
            </template>
          </el-table-column>
          <el-table-column prop="target" :label="t('auditTarget')" min-width="140" />
          <el-table-column :label="t('auditChanges')" min-width="280">
            <template #default="{ row }">
              <div v-for="(change, field) in row.changes" :key="field" class="audit-change" data-testid="audit-change">
                <code>{{ field }}</code> {{ shownValue(change[0]) }} → {{ shownValue(change[1]) }}
              </div>
            </template>
          </el-table-column>
        </el-table>
        <div class="audit-more" v-if="more">
          <el-button :loading="loading" @click="load(false)" data-testid="audit-more">{{ t('loadMore') }}</el-button>
        </div>
      </el-card>`,
    setup() {
      const filters = Vue.reactive({ actor: '', action: '' });
      const range = Vue.ref(null);
      const entries = Vue.ref([]);
      const more = Vue.ref(false);
      const loading = Vue.ref(false);
      const error = Vue.ref('');
      function actionLabel(action) {
        return AUDIT_ACTIONS[action] ? t(AUDIT_ACTIONS[action]) : action;
      }
      async function load(fresh) {
        loading.value = true;
        error.value = '';
        const params = { limit: String(AUDIT_PAGE), tz: Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC' };
        if (filters.actor) params.actor = filters.actor.trim();
        if (filters.action) params.action = filters.action;
        if (range.value) Object.assign(params, { from: range.value[0], to: range.value[1] });
        if (!fresh && entries.value.length) params.before = String(entries.value[entries.value.length - 1].id);
        try {
          const page = (await api('GET', '/api/admin/audit?' + new URLSearchParams(params))).entries;
          entries.value = fresh ? page : entries.value.concat(page);
          more.value = page.length === AUDIT_PAGE;
        } catch (failure) {
          error.value = failure.message || t('loadFailed');
        } finally {
          loading.value = false;
        }
      }
      Vue.onMounted(() => load(true));
      return {
        filters, range, entries, more, loading, error, load, actionLabel, shownValue, formatTime,
        actions: AUDIT_ACTIONS, kinds: AUDIT_KINDS,
      };
    },
  };

  const SHARES_PAGE = 50;

  /* Every user's shared links, newest first, each revocable (the revocation is audit-logged). */
  const Shares = {
    components: { ShareExpiry: window.AIHelper.ShareExpiry },
    template: `
      <el-card shadow="never" class="admin-card">
        <p class="muted form-help">{{ t('adminSharesHelp') }}</p>
        <el-alert v-if="error" :title="error" type="error" show-icon :closable="false" class="dialog-error" />
        <el-table :data="links" row-key="share_id" data-testid="admin-shares-table" :empty-text="t('noShares')">
          <el-table-column :label="t('shareOwner')" min-width="120">
            <template #default="{ row }"><span data-testid="admin-share-owner">{{ row.username }}</span></template>
          </el-table-column>
          <el-table-column :label="t('shareTitle')" min-width="180">
            <template #default="{ row }">
              <a :href="row.url" target="_blank" rel="noopener noreferrer" data-testid="admin-share-title">{{ row.title || t('newChat') }}</a>
            </template>
          </el-table-column>
          <el-table-column :label="t('shareCreatedAt')" min-width="150"><template #default="{ row }">{{ formatTime(row.created_at) }}</template></el-table-column>
          <el-table-column :label="t('shareExpiresAt')" min-width="150">
            <template #default="{ row }"><share-expiry :link="row" /></template>
          </el-table-column>
          <el-table-column :label="t('actions')" width="110">
            <template #default="{ row }">
              <el-button link type="danger" @click="revoke(row)" data-testid="admin-share-revoke">{{ t('revokeShare') }}</el-button>
            </template>
          </el-table-column>
        </el-table>
        <div class="audit-more" v-if="more">
          <el-button :loading="loading" @click="load(false)" data-testid="admin-shares-more">{{ t('loadMore') }}</el-button>
        </div>
      </el-card>`,
    setup() {
      const links = Vue.ref([]);
      const more = Vue.ref(false);
      const loading = Vue.ref(false);
      const error = Vue.ref('');
      async function load(fresh) {
        loading.value = true;
        const params = { limit: String(SHARES_PAGE) };
        if (!fresh && links.value.length) params.before = String(links.value[links.value.length - 1].id);
        try {
          const found = (await api('GET', '/api/admin/shares?' + new URLSearchParams(params))).shares;
          links.value = fresh ? found : links.value.concat(found);
          more.value = found.length === SHARES_PAGE;
        } catch (failure) {
          error.value = failure.message || t('loadFailed');
        } finally {
          loading.value = false;
        }
      }
      async function revoke(link) {
        try {
          await confirmAction(t('confirmRevokeShare'), t('revokeShare'), true);
        } catch (_cancelled) { return; }
        try {
          await api('DELETE', '/api/admin/shares/' + encodeURIComponent(link.share_id));
          links.value = links.value.filter(l => l.share_id !== link.share_id);
        } catch (failure) { notify(failure); }
      }
      Vue.onMounted(() => load(true));
      return { links, more, loading, error, load, revoke, formatTime };
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
          <el-form-item :label="t('sharingEnabled')">
            <el-switch v-model="values.sharing_enabled" data-testid="sharing-switch" />
            <p class="muted form-help">{{ t('sharingHelp') }}</p>
          </el-form-item>
          <el-form-item :label="t('retentionDays')">
            <el-input-number v-model="values.retention_days" :min="0" :max="3650" data-testid="retention-days" />
            <p class="muted form-help">{{ t('retentionHelp') }}</p>
          </el-form-item>
          <el-form-item :label="t('auditRetentionDays')">
            <el-input-number v-model="values.audit_retention_days" :min="1" :max="3650" data-testid="audit-retention-days" />
            <p class="muted form-help">{{ t('auditRetentionHelp') }}</p>
          </el-form-item>
          <el-form-item :label="t('defaultGroup')">
            <el-select v-model="values.default_group" clearable :placeholder="t('noDefaultGroup')" data-testid="default-group">
              <el-option v-for="g in groups" :key="g.id" :label="g.name" :value="g.id" />
            </el-select>
            <p class="muted form-help">{{ groups.length ? t('defaultGroupHelp') : t('defaultGroupNone') }}</p>
          </el-form-item>
          <el-form-item><el-button type="primary" @click="save" data-testid="save-settings">{{ t('save') }}</el-button></el-form-item>
        </el-form>
      </el-card>`,
    setup() {
      const values = Vue.reactive({ ...page.settings });
      const groups = page.groups;
      function save() {
        const form = {
          retention_days: String(values.retention_days || 0), default_group: values.default_group || '',
          audit_retention_days: String(values.audit_retention_days || 365),
        };
        if (values.registration_open) form.registration_open = '1';
        if (values.sharing_enabled) form.sharing_enabled = '1';
        postForm('/admin/settings', form, page.csrf_token);
      }
      return { values, groups, save };
    },
  };

  /* Presets published to everyone or to groups (each admin's own private ones are on the chat page). */
  const Presets = {
    components: { PresetManager: window.AIHelperPresets.PresetManager },
    template: `<el-card shadow="never" class="admin-card">
        <preset-manager :models="models" :groups="groups" admin published-only />
      </el-card>`,
    setup() {
      return { models: page.models, groups: page.groups };
    },
  };

  const SECTIONS = [
    N_('dashboard'), N_('usage'), N_('providers'), N_('models'), N_('users'), N_('groups'), N_('presets'), N_('audit'),
    N_('shares'), N_('settings'),
  ];
  const ICONS = {
    dashboard: 'DataBoard', providers: 'Connection', models: 'Cpu', users: 'User', groups: 'UserFilled', presets: 'Collection',
    usage: 'TrendCharts', audit: 'Document', shares: 'Share', settings: 'Setting',
  };

  mount({
    components: { LanguageSwitch, Dashboard, Usage, Providers, Models, Users, Groups, Presets, Audit, Shares, Settings },
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
              <el-menu-item v-for="name in sections" :key="name" :index="name" @click="go(name)" :data-testid="'nav-' + name"
                            :aria-label="t(name)" :title="t(name)">
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
