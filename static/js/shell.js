/* The logged-in page: header with the user menu; the conversation area starts empty. */
(function () {
  'use strict';
  const { t, pageData, mount, LanguageSwitch } = window.AIHelper;
  const page = pageData();

  mount({
    components: { LanguageSwitch },
    template: `
      <el-container class="shell">
        <el-header class="shell-header">
          <div class="shell-brand">
            <img src="/static/img/favicon.svg" alt="" class="shell-logo">
            <span>{{ t('appName') }}</span>
          </div>
          <div class="shell-actions">
            <language-switch />
            <el-dropdown trigger="click" @command="onCommand">
              <span class="user-menu" data-testid="user-menu" tabindex="0">
                <el-avatar :size="32" :src="user.avatar || undefined">{{ initial }}</el-avatar>
                <span class="user-name">{{ user.username }}</span>
                <el-icon><el-icon-arrow-down /></el-icon>
              </span>
              <template #dropdown>
                <el-dropdown-menu>
                  <el-dropdown-item disabled>{{ t('messages') }}: {{ user.message_count }}</el-dropdown-item>
                  <el-dropdown-item v-if="user.is_admin" command="admin" data-testid="admin-link">{{ t('admin') }}</el-dropdown-item>
                  <el-dropdown-item command="logout" divided data-testid="logout">{{ t('logout') }}</el-dropdown-item>
                </el-dropdown-menu>
              </template>
            </el-dropdown>
            <form ref="logoutForm" method="post" action="/logout" class="hidden-form">
              <input type="hidden" name="csrf_token" :value="csrfToken">
            </form>
          </div>
        </el-header>
        <el-main class="shell-main">
          <el-empty>
            <template #image><img src="/static/img/favicon.svg" alt="" class="empty-logo"></template>
            <template #description>
              <h2 class="welcome-title">{{ t('welcomeTitle', { name: user.username }) }}</h2>
              <p>{{ t('welcomeText') }}</p>
            </template>
          </el-empty>
        </el-main>
      </el-container>`,
    setup() {
      const logoutForm = Vue.ref(null);
      const user = page.user;
      function onCommand(command) {
        if (command === 'logout') logoutForm.value.submit();
        if (command === 'admin') window.location.href = '/admin';
      }
      return { user, csrfToken: page.csrf_token, logoutForm, onCommand, initial: [...user.username][0].toUpperCase() };
    },
  });
})();
