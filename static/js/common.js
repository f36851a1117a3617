/* Shared by every page: page data, translations, language switch and mounting a Vue app.
 * Page data comes from <script type="application/json" id="page-data"> rendered with |tojson,
 * so nothing a user typed is ever compiled as a Vue template. */
(function () {
  'use strict';

  const MESSAGES = {
    zh: {
      appName: 'AI助手',
      tagline: '连接你的大模型，随时开始对话',
      login: '登录',
      register: '注册',
      logout: '退出登录',
      username: '用户名',
      password: '密码',
      confirmPassword: '确认密码',
      usernamePlaceholder: '3–50 个字符：字母、数字、_ - .',
      passwordPlaceholder: '8–128 个字符',
      noAccount: '还没有账号？',
      haveAccount: '已有账号？',
      goRegister: '立即注册',
      goLogin: '去登录',
      registrationClosed: '管理员已关闭注册',
      firstUserAdmin: '第一个注册的账号将成为管理员',
      usernameRequired: '请输入用户名',
      usernameLength: '用户名长度须为 3–50 个字符',
      usernameChars: '用户名只能包含字母、数字、下划线、连字符和点',
      passwordRequired: '请输入密码',
      passwordLength: '密码长度须为 8–128 个字符',
      passwordMismatch: '两次输入的密码不一致',
      language: '语言',
      admin: '管理后台',
      messages: '消息数',
      welcomeTitle: '你好，{name}',
      welcomeText: '这里将显示你的对话。还没有对话。',
      lastLogin: '上次登录',
      administrator: '管理员',
    },
    en: {
      appName: 'AI Assistant',
      tagline: 'Connect your models and start chatting',
      login: 'Log in',
      register: 'Register',
      logout: 'Log out',
      username: 'Username',
      password: 'Password',
      confirmPassword: 'Confirm password',
      usernamePlaceholder: '3–50 characters: letters, digits, _ - .',
      passwordPlaceholder: '8–128 characters',
      noAccount: 'No account yet?',
      haveAccount: 'Already have an account?',
      goRegister: 'Register now',
      goLogin: 'Log in',
      registrationClosed: 'Registration is closed by the administrator',
      firstUserAdmin: 'The first account registered becomes the administrator',
      usernameRequired: 'Please enter a username',
      usernameLength: 'The username must be 3–50 characters long',
      usernameChars: 'The username may contain only letters, digits, _ - and .',
      passwordRequired: 'Please enter a password',
      passwordLength: 'The password must be 8–128 characters long',
      passwordMismatch: 'The two passwords differ',
      language: 'Language',
      admin: 'Administration',
      messages: 'Messages',
      welcomeTitle: 'Hello, {name}',
      welcomeText: 'Your conversations will be listed here. There are none yet.',
      lastLogin: 'Last login',
      administrator: 'Administrator',
    },
  };

  const lang = document.documentElement.lang === 'en' ? 'en' : 'zh';

  /* Light or dark: Element Plus switches on html.dark; the code style sheet follows. Applied as
   * soon as this script runs, before the page is mounted. A theme the person chose is remembered;
   * until they choose, the page follows the system's setting, also when it changes. */
  function showTheme(theme) {
    document.documentElement.classList.toggle('dark', theme === 'dark');
    const darkCode = document.getElementById('code-style-dark');
    const lightCode = document.getElementById('code-style-light');
    if (darkCode && lightCode) {
      darkCode.media = theme === 'dark' ? 'all' : 'not all';
      lightCode.media = theme === 'dark' ? 'not all' : 'all';
    }
  }
  function applyTheme(theme) {
    showTheme(theme);
    try { localStorage.setItem('aihelper.theme', theme); } catch (_private) { /* not remembered */ }
  }
  let savedTheme = null;
  try { savedTheme = localStorage.getItem('aihelper.theme'); } catch (_private) { /* default */ }
  const systemDark = window.matchMedia('(prefers-color-scheme: dark)');
  showTheme(savedTheme || (systemDark.matches ? 'dark' : 'light'));
  if (!savedTheme) {
    systemDark.addEventListener('change', (event) => {
      let chosen = null;
      try { chosen = localStorage.getItem('aihelper.theme'); } catch (_private) { /* none */ }
      if (!chosen) showTheme(event.matches ? 'dark' : 'light');
    });
  }

  function t(key, values) {
    const text = MESSAGES[lang][key] || key;
    return values ? text.replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? '')) : text;
  }

  /* Page scripts add their own strings: addMessages({zh: {...}, en: {...}}). */
  function addMessages(more) {
    Object.assign(MESSAGES.zh, more.zh);
    Object.assign(MESSAGES.en, more.en);
  }

  /* JSON request to the app's API; resolves to the parsed body, rejects with an Error carrying
   * the server's readable message and code. */
  async function api(method, url, body) {
    const options = { method, headers: { Accept: 'application/json' }, credentials: 'same-origin' };
    if (body !== undefined) {
      options.headers['Content-Type'] = 'application/json';
      options.body = JSON.stringify(body);
    }
    return answerOf(await fetch(url, options));
  }

  /* The parsed JSON answer, or an Error carrying the server's readable message, code and status. */
  async function answerOf(response) {
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      const error = new Error(data.error || response.statusText);
      error.code = data.code;
      error.status = response.status;
      throw error;
    }
    return data;
  }

  /* Upload one file as the multipart field `file`; the JSON answer, or an Error like api()'s. */
  async function upload(url, file) {
    const form = new FormData();
    form.append('file', file);
    return answerOf(await fetch(url, { method: 'POST', body: form, credentials: 'same-origin' }));
  }

  /* Submit a classic form post (with the page's CSRF token) built from plain values. */
  function postForm(action, values, csrfToken) {
    const form = document.createElement('form');
    form.method = 'post';
    form.action = action;
    form.hidden = true;
    for (const [name, value] of Object.entries({ ...values, csrf_token: csrfToken })) {
      if (value === undefined || value === null) continue;
      const input = document.createElement('input');
      input.type = 'hidden';
      input.name = name;
      input.value = String(value);
      form.appendChild(input);
    }
    document.body.appendChild(form);
    form.submit();
  }

  function formatTime(iso) {
    return iso ? new Date(iso).toLocaleString(lang === 'zh' ? 'zh-CN' : 'en-GB') : '—';
  }

  function pageData() {
    const element = document.getElementById('page-data');
    return element ? JSON.parse(element.textContent) : {};
  }

  function setLanguage(next) {
    document.cookie = 'lang=' + next + '; path=/; max-age=31536000; samesite=lax';
    window.location.reload();
  }

  /* Mount `component` on #app with Element Plus (in the page's language) and its icons. */
  function mount(component) {
    const app = Vue.createApp(component);
    app.use(ElementPlus, lang === 'zh' ? { locale: ElementPlusLocaleZhCn } : {});
    for (const [name, icon] of Object.entries(ElementPlusIconsVue)) {
      app.component('ElIcon' + name, icon);
    }
    app.config.globalProperties.t = t;
    return app.mount('#app');
  }

  /* A small language switch used on every page. */
  const LanguageSwitch = {
    template: `
      <el-dropdown trigger="click" @command="setLanguage">
        <el-button text class="language-switch" :aria-label="t('language') + ': ' + (lang === 'zh' ? '中文' : 'English')">
          {{ lang === 'zh' ? '中文' : 'English' }}
        </el-button>
        <template #dropdown>
          <el-dropdown-menu>
            <el-dropdown-item command="zh" :disabled="lang === 'zh'">中文</el-dropdown-item>
            <el-dropdown-item command="en" :disabled="lang === 'en'">English</el-dropdown-item>
          </el-dropdown-menu>
        </template>
      </el-dropdown>`,
    setup() {
      return { lang, setLanguage };
    },
  };

  window.AIHelper = { lang, t, pageData, setLanguage, mount, LanguageSwitch, addMessages, api, upload, postForm, formatTime, applyTheme };
})();
