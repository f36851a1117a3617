/* The login and register page: a real form post (with its CSRF token), validated in the browser first. */
(function () {
  'use strict';
  const { t, pageData, mount, LanguageSwitch } = window.AIHelper;
  const page = pageData();

  const USERNAME_CHARS = /^[\p{L}\p{N}_.\-]+$/u;

  mount({
    components: { LanguageSwitch },
    template: `
      <div class="auth-page">
        <div class="auth-topbar"><language-switch /></div>
        <el-card class="auth-card" shadow="always">
          <div class="auth-brand">
            <img src="/static/img/favicon.svg" alt="" class="auth-logo">
            <div>
              <h1 class="auth-title">{{ t('appName') }}</h1>
              <p class="auth-tagline">{{ t('tagline') }}</p>
            </div>
          </div>
          <h2 class="auth-heading">{{ isLogin ? t('login') : t('register') }}</h2>
          <template v-if="closed">
            <el-alert :title="page.no_users ? t('noAdminYetClosed') : t('registrationClosedNotice')" type="warning"
                      show-icon :closable="false" class="auth-error" data-testid="registration-closed" />
          </template>
          <template v-else>
            <el-alert v-if="page.notice && !error" :title="page.notice" type="info" show-icon :closable="false" class="auth-error" data-testid="login-notice" />
            <el-alert v-if="error" :title="error" type="error" show-icon :closable="false" class="auth-error" />
            <el-alert v-if="page.no_users && page.registration_open" :title="isLogin ? t('firstAccountLogin') : t('firstAccountRegister')"
                      type="info" show-icon :closable="false" class="auth-error" role="note" data-testid="first-account">
              <a v-if="isLogin" :href="'/register' + nextQuery" class="auth-first-link">{{ t('createFirstAccount') }}</a>
            </el-alert>
            <el-form ref="formRef" :model="form" :rules="rules" label-position="top" method="post"
                     :action="action" @submit.prevent="submit" class="auth-form" :validate-on-rule-change="false">
              <input type="hidden" name="csrf_token" :value="page.csrf_token">
              <el-form-item :label="t('username')" prop="username">
                <el-input v-model="form.username" name="username" autocomplete="username" size="large"
                          :placeholder="t('usernamePlaceholder')" :prefix-icon="icons.User" autofocus />
              </el-form-item>
              <el-form-item :label="t('password')" prop="password">
                <el-input v-model="form.password" name="password" type="password" show-password size="large"
                          :autocomplete="isLogin ? 'current-password' : 'new-password'"
                          :placeholder="t('passwordPlaceholder')" :prefix-icon="icons.Lock" />
              </el-form-item>
              <el-form-item v-if="!isLogin" :label="t('confirmPassword')" prop="confirm">
                <el-input v-model="form.confirm" type="password" show-password size="large"
                          autocomplete="new-password" :prefix-icon="icons.Lock" />
              </el-form-item>
              <el-button type="primary" native-type="submit" size="large" class="auth-submit" :loading="submitting">
                {{ isLogin ? t('login') : t('register') }}
              </el-button>
            </el-form>
          </template>
          <p class="auth-switch" v-if="isLogin && page.registration_open">
            {{ t('noAccount') }} <a :href="'/register' + nextQuery">{{ t('goRegister') }}</a>
          </p>
          <p class="auth-switch" v-else-if="!isLogin">
            {{ t('haveAccount') }} <a :href="'/login' + nextQuery">{{ t('goLogin') }}</a>
          </p>
        </el-card>
      </div>`,
    setup() {
      const isLogin = page.mode === 'login';
      const formRef = Vue.ref(null);
      const submitting = Vue.ref(false);
      const form = Vue.reactive({ username: page.username || '', password: '', confirm: '' });
      const nextQuery = page.next && page.next !== '/' ? '?next=' + encodeURIComponent(page.next) : '';
      const action = (isLogin ? '/login' : '/register') + nextQuery;
      // Checked when the form is sent (not when focus leaves a field: opening the language menu is
      // no mistake); after a refused send, each field is checked again as it changes.
      const submitted = Vue.ref(false);
      const rules = Vue.computed(() => ruleSet(submitted.value ? ['change'] : []));
      function ruleSet(trigger) {
        return {
          username: [
            { required: true, message: t('usernameRequired'), trigger },
            {
              validator: (_rule, value, done) => {
                const name = (value || '').normalize('NFKC').trim();
                if (isLogin) return done();
                if ([...name].length < 3 || [...name].length > 50) return done(new Error(t('usernameLength')));
                if (!USERNAME_CHARS.test(name)) return done(new Error(t('usernameChars')));
                done();
              },
              trigger,
            },
          ],
          password: [
            { required: true, message: t('passwordRequired'), trigger },
            {
              validator: (_rule, value, done) =>
                !isLogin && ((value || '').length < 8 || value.length > 128) ? done(new Error(t('passwordLength'))) : done(),
              trigger,
            },
          ],
          confirm: [
            {
              validator: (_rule, value, done) =>
                value !== form.password ? done(new Error(t('passwordMismatch'))) : done(),
              trigger,
            },
          ],
        };
      }
      async function submit() {
        try {
          await formRef.value.validate();
        } catch (_invalid) {
          submitted.value = true;
          return;
        }
        submitting.value = true;
        formRef.value.$el.submit();
      }
      // With registration closed the register page has no form to send, and says so once.
      const closed = !isLogin && !page.registration_open;
      return { icons: ElementPlusIconsVue, page, isLogin, closed, form, rules, formRef, submit, submitting, action, nextQuery, error: page.error };
    },
  });
})();
