/* Presets (issue #17): the list of presets a user sees, and the dialog that creates or edits one.
 * Shared by the chat page (the user's own and the published ones, published read-only for
 * non-admins) and the admin page's Presets section (publishing to everyone or to groups). */
(function () {
  'use strict';
  const { t, N_, api } = window.AIHelper;

  const SCOPES = { me: N_('presetScopeMe'), everyone: N_('presetScopeEveryone'), groups: N_('presetScopeGroups') };

  function blankForm(admin) {
    return { id: null, name: '', system_prompt: '', model_id: null, temperature: null, first_message: '', scope: admin ? 'everyone' : 'me', groups: [] };
  }

  const PresetManager = {
    props: {
      models: { type: Array, default: () => [] },  // [{id, model_name}]
      groups: { type: Array, default: () => [] },  // admins: [{id, name}]
      admin: { type: Boolean, default: false },
      publishedOnly: { type: Boolean, default: false },
    },
    emits: ['changed', 'use'],
    template: `
      <div class="preset-manager" data-testid="preset-manager">
        <div class="preset-toolbar">
          <el-button type="primary" @click="edit(null)" data-testid="preset-new">{{ t('presetNew') }}</el-button>
        </div>
        <el-table :data="shown" :empty-text="t('presetNone')" data-testid="preset-table">
          <el-table-column :label="t('presetName')" prop="name" min-width="160" />
          <el-table-column :label="t('presetScope')" min-width="120">
            <template #default="{ row }">{{ t(scopes[row.scope]) }}</template>
          </el-table-column>
          <el-table-column :label="t('presetModel')" min-width="140">
            <template #default="{ row }">{{ modelLabel(row.model_id) }}</template>
          </el-table-column>
          <el-table-column :label="t('actions')" min-width="200">
            <template #default="{ row }">
              <el-button v-if="!publishedOnly" link type="primary" @click="$emit('use', row)" data-testid="preset-use">{{ t('presetUse') }}</el-button>
              <el-button v-if="row.editable" link @click="edit(row)" data-testid="preset-edit">{{ t('edit') }}</el-button>
              <el-button v-if="row.editable" link type="danger" @click="remove(row)" data-testid="preset-delete">{{ t('delete') }}</el-button>
              <span v-if="!row.editable" class="muted">{{ t('presetReadOnly') }}</span>
            </template>
          </el-table-column>
        </el-table>
        <el-dialog v-model="open" :title="form.id ? t('presetEdit') : t('presetNew')" width="560px" append-to-body align-center>
          <el-form label-position="top" @submit.prevent="save">
            <el-form-item :label="t('presetName')"><el-input v-model="form.name" maxlength="100" data-testid="preset-name" /></el-form-item>
            <el-form-item :label="t('presetSystemPrompt')">
              <el-input v-model="form.system_prompt" type="textarea" :autosize="{ minRows: 3, maxRows: 10 }" data-testid="preset-prompt" />
            </el-form-item>
            <el-form-item :label="t('presetModel')">
              <el-select v-model="form.model_id" clearable :placeholder="t('presetAnyModel')" data-testid="preset-model">
                <el-option v-for="model in models" :key="model.id" :value="model.id" :label="model.model_name" />
              </el-select>
            </el-form-item>
            <el-form-item :label="t('presetTemperature')">
              <el-input-number v-model="form.temperature" :min="0" :max="2" :step="0.1" :precision="1" :value-on-clear="null"
                               :placeholder="t('presetModelDefault')" data-testid="preset-temperature" />
            </el-form-item>
            <el-form-item :label="t('presetFirstMessage')">
              <el-input v-model="form.first_message" type="textarea" :autosize="{ minRows: 2, maxRows: 6 }" data-testid="preset-first-message" />
            </el-form-item>
            <el-form-item v-if="admin" :label="t('presetScope')">
              <el-radio-group v-model="form.scope" data-testid="preset-scope">
                <el-radio v-for="(label, scope) in scopes" :key="scope" :value="scope">{{ t(label) }}</el-radio>
              </el-radio-group>
            </el-form-item>
            <el-form-item v-if="admin && form.scope === 'groups'" :label="t('presetGroups')">
              <el-select v-model="form.groups" multiple data-testid="preset-groups">
                <el-option v-for="group in groups" :key="group.id" :value="group.id" :label="group.name" />
              </el-select>
            </el-form-item>
          </el-form>
          <template #footer>
            <el-button @click="open = false">{{ t('cancel') }}</el-button>
            <el-button type="primary" :loading="saving" @click="save" data-testid="preset-save">{{ t('save') }}</el-button>
          </template>
        </el-dialog>
      </div>`,
    setup(props, { emit }) {
      const presets = Vue.ref([]);
      const open = Vue.ref(false);
      const saving = Vue.ref(false);
      const form = Vue.reactive(blankForm(props.admin));
      const shown = Vue.computed(() => (props.publishedOnly ? presets.value.filter((p) => p.scope !== 'me') : presets.value));

      async function load() {
        try {
          presets.value = (await api('GET', '/api/presets')).presets;
          emit('changed', presets.value);
        } catch (error) { ElementPlus.ElMessage.error(error.message); }
      }
      function edit(preset) {
        Object.assign(form, blankForm(props.admin), preset ? { ...preset, first_message: preset.first_message || '' } : {});
        open.value = true;
      }
      async function save() {
        const body = {
          name: form.name, system_prompt: form.system_prompt, model_id: form.model_id, temperature: form.temperature,
          first_message: form.first_message, scope: form.scope, groups: form.scope === 'groups' ? form.groups : [],
        };
        saving.value = true;
        try {
          await api(form.id ? 'PUT' : 'POST', form.id ? '/api/presets/' + form.id : '/api/presets', body);
          open.value = false;
          ElementPlus.ElMessage.success(t('saved'));
          await load();
        } catch (error) {
          ElementPlus.ElMessage.error(error.message);
        } finally { saving.value = false; }
      }
      async function remove(preset) {
        try {
          await ElementPlus.ElMessageBox.confirm(t('presetDeleteConfirm', { name: preset.name }), t('delete'), { type: 'warning' });
        } catch (_cancelled) { return; }
        try {
          await api('DELETE', '/api/presets/' + preset.id);
          await load();
        } catch (error) { ElementPlus.ElMessage.error(error.message); }
      }
      function modelLabel(id) {
        const model = props.models.find((m) => m.id === id);
        return model ? model.model_name : (id === null ? t('presetAnyModel') : '—');
      }
      Vue.onMounted(load);
      return { t, scopes: SCOPES, presets, shown, open, saving, form, edit, save, remove, modelLabel };
    },
  };

  window.AIHelperPresets = { PresetManager };
})();
