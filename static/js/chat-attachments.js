/* Files for the next message: picked with the button, pasted or dropped on the composer, uploaded
 * at once to POST /api/attachments with a progress bar, shown as thumbnails (images) or chips
 * (name and size), removable until sent. `useAttachments(app)` is called by chat.js; the composer
 * sends the ids of those uploaded. Also the attachments of a shown message. */
(function () {
  'use strict';
  const { t } = window.AIHelper;

  const ACCEPT = 'image/png,image/jpeg,image/webp,image/gif,.pdf,.docx,.xlsx,.csv,.txt,.md,.markdown,.json,.py,.js,.ts,'
    + '.java,.c,.cpp,.h,.go,.rs,.rb,.php,.sh,.sql,.yaml,.yml,.toml,.ini,.log,.css';

  function sizeLabel(bytes) {
    if (bytes < 1024) return bytes + ' B';
    if (bytes < 1024 * 1024) return (bytes / 1024).toFixed(1) + ' KB';
    return (bytes / 1024 / 1024).toFixed(1) + ' MB';
  }

  /* One upload: resolves with the attachment, rejects with an Error in the reader's language. */
  function uploadFile(file, onProgress) {
    return new Promise((resolve, reject) => {
      const request = new XMLHttpRequest();
      request.open('POST', '/api/attachments');
      request.responseType = 'json';
      request.upload.addEventListener('progress', (event) => {
        if (event.lengthComputable) onProgress(Math.round((event.loaded / event.total) * 100));
      });
      request.addEventListener('load', () => {
        if (request.status === 201) resolve(request.response);
        else reject(new Error((request.response && request.response.error) || t('uploadFailed')));
      });
      request.addEventListener('error', () => reject(new Error(t('uploadFailed'))));
      const form = new FormData();
      form.append('file', file, file.name);
      request.send(form);
    });
  }

  function useAttachments(app) {
    const limit = app.page.attachments_per_message;
    const pending = Vue.reactive([]);
    const fileInput = Vue.ref(null);
    let counter = 0;

    const uploading = Vue.computed(() => pending.some((item) => !item.attachment && !item.error));
    const ready = Vue.computed(() => pending.filter((item) => item.attachment).map((item) => item.attachment));

    function add(files) {
      for (const file of files) {
        if (pending.length >= limit) {
          ElementPlus.ElMessage.warning(t('tooManyFiles', { n: limit }));
          return;
        }
        const item = Vue.reactive({
          key: 'file-' + (counter += 1), name: file.name || t('pastedImage'), size: file.size, progress: 0,
          image: file.type.startsWith('image/'), preview: '', attachment: null, error: '',
        });
        if (item.image) item.preview = URL.createObjectURL(file);
        pending.push(item);
        uploadFile(file, (progress) => { item.progress = progress; })
          .then((attachment) => { item.attachment = attachment; item.size = attachment.size; })
          .catch((error) => { item.error = error.message; });
      }
    }
    function pick() {
      fileInput.value.click();
    }
    function onPicked(event) {
      add([...event.target.files]);
      event.target.value = '';
    }
    function onPaste(event) {
      const files = [...(event.clipboardData ? event.clipboardData.files : [])];
      if (!files.length) return;
      event.preventDefault();
      add(files);
    }
    function onDrop(event) {
      add([...(event.dataTransfer ? event.dataTransfer.files : [])]);
    }
    function forget(item) {
      if (item.preview) URL.revokeObjectURL(item.preview);
      pending.splice(pending.indexOf(item), 1);
    }
    function remove(item) {
      if (item.attachment) window.AIHelper.api('DELETE', item.attachment.url).catch(() => {});
      forget(item);
    }
    /* After a send: the uploads now belong to the message; the tray is empty again. */
    function sent() {
      [...pending].forEach(forget);
    }
    return { accept: ACCEPT, pending, fileInput, uploading, ready, pick, onPicked, onPaste, onDrop, remove, sent };
  }

  /* A message's files: images as thumbnails that open full size, documents as chips to download. */
  const MessageFiles = {
    props: { files: Array },
    template: `
      <div class="message-files" data-testid="message-files">
        <template v-for="file in files" :key="file.id">
          <el-image v-if="file.kind === 'image'" :src="file.url" :preview-src-list="[file.url]" fit="cover" class="file-thumb"
                    :alt="file.name" hide-on-click-modal preview-teleported data-testid="message-image" />
          <a v-else :href="file.url" class="file-chip" :title="file.name" data-testid="message-document">
            <el-icon><el-icon-document /></el-icon>
            <span class="file-name">{{ file.name }}</span><span class="file-size">{{ sizeLabel(file.size) }}</span>
            <span v-if="file.sent_chars != null && file.sent_chars < file.text_chars" class="file-cut" data-testid="file-cut">{{ t('attachmentCut') }}</span>
          </a>
        </template>
      </div>`,
    setup() {
      return { sizeLabel };
    },
  };

  Object.assign(window.AIHelperChat, { useAttachments, MessageFiles, sizeLabel });
})();
