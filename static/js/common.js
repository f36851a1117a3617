/* Shared by every page: page data, translations, language switch and mounting a Vue app.
 * Page data comes from <script type="application/json" id="page-data"> rendered with |tojson,
 * so nothing a user typed is ever compiled as a Vue template. */
(function () {
  'use strict';

  // The page's strings, from translations/<locale>/LC_MESSAGES/js.po (aihelper/i18n.py serves them).
  const CATALOG = window.AIHelperCatalog || {};

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

  function fill(text, values) {
    return values ? text.replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? '')) : text;
  }

  function t(key, values) {
    const text = CATALOG[key];
    return fill(typeof text === 'string' ? text : key, values);
  }

  /* A message about `n` things: the catalog holds its forms (English: one, other; Chinese: one). */
  const plural = new Intl.PluralRules(lang === 'zh' ? 'zh-CN' : 'en');
  function tn(key, n, values) {
    const forms = Array.isArray(CATALOG[key]) ? CATALOG[key] : [key];
    const text = forms.length > 1 && plural.select(n) !== 'one' ? forms[1] : forms[0];
    return fill(text, { n, ...values });
  }

  /* Marks a key chosen here and translated where it is shown (pybabel extract finds it). */
  const N_ = (key) => key;

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

  /* When a shared link ends, as its owner's list and the admin's show it. */
  const ShareExpiry = {
    props: { link: Object },
    template: `<el-tag v-if="link.expired" type="info" size="small">{{ t('shareExpired') }}</el-tag>
      <template v-else>{{ link.expires_at ? formatTime(link.expires_at) : t('shareNever') }}</template>`,
    setup() {
      return { t, formatTime };
    },
  };

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
    app.config.globalProperties.tn = tn;
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

  window.AIHelper = { lang, t, tn, N_, pageData, setLanguage, mount, LanguageSwitch, ShareExpiry, api, upload, postForm, formatTime, applyTheme };
})();
