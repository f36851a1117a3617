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
          <el-alert v-if="error" :title="error" type="error" show-icon :closable="false" class="auth-error" role="alert" />
          <el-alert v-if="!isLogin && !page.registration_open" :title="t('registrationClosed')"
                    type="warning" show-icon :closable="false" class="auth-error" />
          <el-form ref="formRef" :model="form" :rules="rules" label-position="top" method="post"
                   :action="action" @submit.prevent="submit" class="auth-form">
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
          <p class="auth-switch" v-if="isLogin">
            {{ t('noAccount') }} <a :href="'/register' + nextQuery">{{ t('goRegister') }}</a>
          </p>
          <p class="auth-switch" v-else>
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
      const rules = {
        username: [
          { required: true, message: t('usernameRequired'), trigger: 'blur' },
          {
            validator: (_rule, value, done) => {
              const name = (value || '').normalize('NFKC').trim();
              if (isLogin) return done();
              if ([...name].length < 3 || [...name].length > 50) return done(new Error(t('usernameLength')));
              if (!USERNAME_CHARS.test(name)) return done(new Error(t('usernameChars')));
              done();
            },
            trigger: 'blur',
          },
        ],
        password: [
          { required: true, message: t('passwordRequired'), trigger: 'blur' },
          {
            validator: (_rule, value, done) =>
              !isLogin && ((value || '').length < 8 || value.length > 128) ? done(new Error(t('passwordLength'))) : done(),
            trigger: 'blur',
          },
        ],
        confirm: [
          {
            validator: (_rule, value, done) =>
              value !== form.password ? done(new Error(t('passwordMismatch'))) : done(),
            trigger: 'blur',
          },
        ],
      };
      async function submit() {
        try {
          await formRef.value.validate();
        } catch (_invalid) {
          return;
        }
        submitting.value = true;
        formRef.value.$el.submit();
      }
      return { icons: ElementPlusIconsVue, page, isLogin, form, rules, formRef, submit, submitting, action, nextQuery, error: page.error };
    },
  });
})();
