/* Shared links from the chat page: the share dialog of the open conversation (up to which
 * message, expiry, whether to show one's name; then the link to copy) and the list of the user's
 * links with open and revoke. `useShares(app)` is called by chat.js; ShareDialogs reads it through
 * provide/inject ('chatApp'). */
(function () {
  'use strict';
  const { t, tn, api, formatTime } = window.AIHelper;
  const { copyText } = window.AIHelperMarkdown;

  const EXPIRY_DAYS = [0, 1, 7, 30]; // 0: never
  const CHOICE_PREVIEW = 40;

  function useShares(app) {
    const { state } = app;
    const share = Vue.reactive({
      open: false, upTo: null, days: 0, showName: false, creating: false, link: null,
      listOpen: false, links: [], loading: false,
    });

    /* The messages a link may end at: those stored and finished, as "3 · the start of its text". */
    const choices = Vue.computed(() => {
      const messages = state.current ? state.current.messages : [];
      return messages
        .filter((m) => m.id && m.status !== 'streaming')
        .map((m) => ({
          id: m.id,
          label: (m.role === 'user' ? t('shareQuestion') : t('shareAnswer')) + ' · ' + (m.content.replace(/\s+/g, ' ').slice(0, CHOICE_PREVIEW) || '…'),
        }));
    });

    function openDialog(upTo) {
      Object.assign(share, { open: true, upTo: upTo || null, link: null, creating: false });
    }
    async function create() {
      share.creating = true;
      const body = { show_name: share.showName };
      if (share.upTo) body.up_to_message_id = share.upTo;
      if (share.days) body.expires_at = new Date(Date.now() + share.days * 86400000).toISOString();
      try {
        share.link = await api('POST', '/api/chat/session/' + encodeURIComponent(state.current.session_id) + '/share', body);
      } catch (error) {
        ElementPlus.ElMessage.error(error.message);
      } finally {
        share.creating = false;
      }
    }
    async function openList() {
      share.listOpen = true;
      share.loading = true;
      try {
        share.links = (await api('GET', '/api/shares')).shares;
      } catch (error) {
        ElementPlus.ElMessage.error(error.message);
      } finally {
        share.loading = false;
      }
    }
    async function revoke(link) {
      try {
        await ElementPlus.ElMessageBox.confirm(t('confirmRevokeShare'), t('revokeShare'), {
          type: 'warning', confirmButtonText: t('revokeShare'), cancelButtonText: t('cancel'),
        });
      } catch (_cancelled) { return; }
      try {
        await api('DELETE', '/api/shares/' + encodeURIComponent(link.share_id));
        share.links = share.links.filter((l) => l.share_id !== link.share_id);
      } catch (error) { ElementPlus.ElMessage.error(error.message); }
    }
    return { share, choices, openDialog, create, openList, revoke };
  }

  const ShareDialogs = {
    components: { ShareExpiry: window.AIHelper.ShareExpiry },
    template: `
      <el-dialog v-model="s.share.open" :title="t('shareChat')" width="480px" align-center data-testid="share-dialog">
        <el-form v-if="!s.share.link" label-position="top" @submit.prevent="s.create">
          <el-form-item :label="t('shareUpTo')">
            <el-select v-model="s.share.upTo" :aria-label="t('shareUpTo')" data-testid="share-up-to" class="share-up-to">
              <el-option :value="null" :label="t('shareWholeChat')" />
              <el-option v-for="choice in s.choices" :key="choice.id" :value="choice.id" :label="choice.label" />
            </el-select>
          </el-form-item>
          <el-form-item :label="t('shareExpiry')">
            <el-radio-group v-model="s.share.days" data-testid="share-expiry">
              <el-radio-button v-for="days in expiryDays" :key="days" :value="days" :data-testid="'share-expiry-' + days">
                {{ days ? tn('shareExpiryDays', days) : t('shareNever') }}
              </el-radio-button>
            </el-radio-group>
          </el-form-item>
          <el-form-item>
            <el-checkbox v-model="s.share.showName" data-testid="share-show-name">{{ t('shareShowName') }}</el-checkbox>
          </el-form-item>
          <p class="muted form-help">{{ t('shareHelp') }}</p>
        </el-form>
        <div v-else class="share-created" data-testid="share-created">
          <p>{{ t('shareCreated') }}</p>
          <div class="share-link-row">
            <el-input :model-value="s.share.link.url" readonly :aria-label="t('shareLink')" data-testid="share-url" />
            <el-button type="primary" @click="copyText(s.share.link.url)" data-testid="share-copy-link">{{ t('copy') }}</el-button>
          </div>
        </div>
        <template #footer>
          <el-button @click="s.share.open = false" data-testid="share-close">{{ t('close') }}</el-button>
          <el-button v-if="!s.share.link" type="primary" :loading="s.share.creating" @click="s.create" data-testid="share-create">{{ t('shareCreate') }}</el-button>
        </template>
      </el-dialog>

      <el-dialog v-model="s.share.listOpen" :title="t('myShares')" width="720px" align-center data-testid="my-shares">
        <el-table :data="s.share.links" row-key="share_id" v-loading="s.share.loading" :empty-text="t('noShares')" data-testid="my-shares-table">
          <el-table-column :label="t('shareTitle')" min-width="180">
            <template #default="{ row }"><span data-testid="my-share-title">{{ row.title || t('newChat') }}</span></template>
          </el-table-column>
          <el-table-column :label="t('shareCreatedAt')" min-width="150"><template #default="{ row }">{{ formatTime(row.created_at) }}</template></el-table-column>
          <el-table-column :label="t('shareExpiresAt')" min-width="150">
            <template #default="{ row }"><share-expiry :link="row" /></template>
          </el-table-column>
          <el-table-column :label="t('actions')" min-width="140">
            <template #default="{ row }">
              <el-button link type="primary" tag="a" :href="row.url" target="_blank" rel="noopener noreferrer" data-testid="my-share-open">{{ t('shareOpen') }}</el-button>
              <el-button link type="danger" @click="s.revoke(row)" data-testid="my-share-revoke">{{ t('revokeShare') }}</el-button>
            </template>
          </el-table-column>
        </el-table>
      </el-dialog>`,
    setup() {
      const app = Vue.inject('chatApp');
      return { s: app.shares, expiryDays: EXPIRY_DAYS, copyText, formatTime };
    },
  };

  Object.assign(window.AIHelperChat, { useShares, ShareDialogs });
})();
