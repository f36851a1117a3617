/* The sidebar: new chat, search (results grouped per conversation), the date-range filter, the
 * conversation list and the history tools. Rendered in the aside on wide screens and in a drawer on
 * phones; it reads the app through provide/inject ('chatApp').
 *
 * Each conversation is a link: Tab reaches it, Enter opens it, F2 renames, Delete deletes and
 * Shift+F10 (or the context-menu key) opens its menu; the "⋯" button is for the mouse, not a Tab stop. */
(function () {
  'use strict';
  const { t } = window.AIHelper;
  const { shortTime } = window.AIHelperChat;

  const SidebarContent = {
    template: `
      <nav class="sidebar" :aria-label="t('sidebar')">
        <el-button type="primary" class="new-chat" @click="app.newChat" data-testid="new-chat">
          <el-icon><el-icon-plus /></el-icon><span>{{ t('newChat') }}</span>
        </el-button>
        <el-input v-model="tools.state.query" clearable size="small" :placeholder="t('searchPlaceholder')" :aria-label="t('searchPlaceholder')"
                  @input="tools.onSearchInput" @clear="tools.clearSearch" class="search-input" data-testid="search-input">
          <template #prefix><el-icon><el-icon-search /></el-icon></template>
        </el-input>
        <div class="range-filter" ref="rangeFilter">
          <el-date-picker :model-value="app.state.range" @update:model-value="app.applyRange" type="daterange"
                          :start-placeholder="t('startTime')" :end-placeholder="t('endTime')" :clearable="false"
                          :shortcuts="app.rangeShortcuts()" format="YYYY-MM-DD" range-separator="–" unlink-panels
                          size="small" class="range-picker" data-testid="range-picker" />
          <el-button v-if="app.state.range" link type="primary" size="small" @click="app.clearRange" data-testid="clear-filter">{{ t('clearFilter') }}</el-button>
        </div>

        <div v-if="tools.state.query.trim()" class="session-list search-results" data-testid="search-results" role="list">
          <div v-for="group in tools.groupedResults" :key="group.session_id" class="search-group" role="listitem"
               :class="{ active: app.state.current && app.state.current.session_id === group.session_id }" data-testid="search-group">
            <a class="search-group-title" :href="'/c/' + encodeURIComponent(group.session_id)"
               @click.prevent="tools.openHit(group.hits[0])" data-testid="search-group-title">{{ group.title || t('newChat') }}</a>
            <a v-for="hit in group.hits" :key="hit.message_id || 'title'" class="search-hit"
               :href="'/c/' + encodeURIComponent(hit.session_id)" @click.prevent="tools.openHit(hit)" data-testid="search-hit">
              <span class="search-hit-snippet">
                <span v-if="!hit.message_id" class="search-hit-tag">{{ t('inTitle') }}</span>
                <template v-for="(part, index) in tools.highlight(hit.snippet)" :key="index"><mark v-if="part.match">{{ part.text }}</mark><template v-else>{{ part.text }}</template></template>
              </span>
              <span class="search-hit-time">{{ shortTime(hit.timestamp) }}</span>
            </a>
          </div>
          <el-button v-if="tools.state.hasMore" link type="primary" size="small" class="search-more" :loading="tools.state.searching"
                     @click="tools.moreResults" data-testid="search-more">{{ t('loadMore') }}</el-button>
          <p v-if="tools.state.searching && !tools.state.results.length" class="muted session-empty" role="status">{{ t('searching') }}</p>
          <p v-else-if="tools.state.searched && !tools.state.results.length" class="muted session-empty" role="status" data-testid="no-results">{{ t('noResults') }}</p>
        </div>

        <div v-else class="session-list" @scroll="app.onListScroll" data-testid="session-list">
          <div v-if="tools.state.selecting" class="select-bar" data-testid="select-bar">
            <span>{{ tools.selectedLabel }}</span>
            <el-button link type="danger" size="small" :disabled="!tools.state.selected.size" @click="tools.deleteSelected" data-testid="delete-selected">{{ t('deleteSelected') }}</el-button>
            <el-button link size="small" @click="tools.toggleSelecting">{{ t('cancel') }}</el-button>
          </div>
          <section v-for="group in app.groups" :key="group.key" class="session-group" :aria-label="t(group.key)">
            <h3 class="session-group-title">{{ t(group.key) }}</h3>
            <div v-for="session in group.sessions" :key="session.session_id" class="session-item"
                 :class="{ active: isOpen(session), pinned: session.pinned }" :data-session-id="session.session_id">
              <el-checkbox v-if="tools.state.selecting" :model-value="tools.state.selected.has(session.session_id)"
                           :aria-label="session.title || t('newChat')"
                           @change="tools.toggleSelected(session.session_id)" data-testid="session-check" />
              <a class="session-link" :href="'/c/' + encodeURIComponent(session.session_id)" :aria-current="isOpen(session) ? 'page' : undefined"
                 @click.prevent="onRowClick(session)" @keydown="onRowKey($event, session)" data-testid="session-link">
                <span class="session-title">{{ session.title || t('newChat') }}</span>
                <el-icon v-if="session.pinned" class="pin-mark" :aria-label="t('pin')" data-testid="pin-mark"><el-icon-star-filled /></el-icon>
              </a>
              <el-dropdown v-if="!tools.state.selecting" :ref="(menu) => { menus[session.session_id] = menu; }" trigger="click" :tabindex="-1"
                           @command="command => app.onSessionCommand(session, command)">
                <el-button link class="session-more" tabindex="-1" :aria-label="t('moreActions')" data-testid="session-menu">⋯</el-button>
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
          </section>
          <p v-if="!app.groups.length && !app.state.loadingSessions" class="muted session-empty">
            {{ app.state.range ? t('noSessionsInRange') : t('noSessions') }}
          </p>
        </div>

        <div class="sidebar-footer">
          <p v-if="tools.retentionNote" class="retention-note" data-testid="retention-note">{{ tools.retentionNote }}</p>
          <div v-if="tools.state.exportProgress !== null" class="export-progress" role="status" data-testid="export-progress">{{ tools.exportLabel }}</div>
          <div class="sidebar-tools">
            <el-button link size="small" @click="tools.toggleSelecting" data-testid="select-mode">{{ t('select') }}</el-button>
            <el-button link size="small" @click="tools.exportAll" :loading="tools.state.exportProgress !== null" data-testid="export-all">{{ t('exportAll') }}</el-button>
            <el-button link size="small" @click="$refs.importInput.click()" :title="t('importFileHint')" data-testid="import">{{ t('importFile') }}</el-button>
            <input ref="importInput" type="file" accept="application/json,.json,application/zip,.zip" class="hidden-input" :aria-label="t('importFile')"
                   @change="tools.importFile" data-testid="import-input">
          </div>
        </div>
      </nav>`,
    setup() {
      const app = Vue.inject('chatApp');
      const rangeFilter = Vue.ref(null);
      const menus = {};
      function isOpen(session) {
        return Boolean(app.state.current && app.state.current.session_id === session.session_id);
      }
      function onRowClick(session) {
        if (app.tools.state.selecting) app.tools.toggleSelected(session.session_id);
        else app.openSession(session.session_id);
      }
      function onRowKey(event, session) {
        if (event.key === 'F2') app.onSessionCommand(session, 'rename');
        else if (event.key === 'Delete') app.onSessionCommand(session, 'delete');
        else if (event.key === 'ContextMenu' || (event.key === 'F10' && event.shiftKey)) {
          const menu = menus[session.session_id];
          if (menu) menu.handleOpen();
        } else return;
        event.preventDefault();
      }
      // The range picker's two inputs have placeholders only: give them names.
      Vue.onMounted(() => {
        const inputs = rangeFilter.value.querySelectorAll('input');
        if (inputs[0]) inputs[0].setAttribute('aria-label', t('startTime'));
        if (inputs[1]) inputs[1].setAttribute('aria-label', t('endTime'));
      });
      return { app, tools: app.tools, shortTime, rangeFilter, menus, isOpen, onRowClick, onRowKey };
    },
  };

  Object.assign(window.AIHelperChat, { SidebarContent });
})();
