/* A conversation's branches on the chat page: the tree the server sends with a conversation
 * (every message's parent and children), a message's siblings for its ‹ 2/3 › switch, the
 * messages a new turn adds to the tree, and switching to another branch (the server remembers
 * it and answers the branch's messages). */
(function () {
  'use strict';
  const { api } = window.AIHelper;
  const { messageFrom } = window.AIHelperChat;

  /* The tree as the page keeps it: a node per message id, with its parent and children. */
  function treeFrom(nodes) {
    const tree = {};
    for (const node of nodes || []) tree[node.id] = { id: node.id, parent_id: node.parent_id, children: [...node.children] };
    return Vue.reactive(tree);
  }

  /* The ids of the message and its siblings (its parent's children, or the first messages), in order. */
  function siblingsOf(tree, message) {
    if (!message.id || !tree || !tree[message.id]) return [];
    const parent = message.parent_id != null ? tree[message.parent_id] : null;
    if (parent) return parent.children;
    return Object.values(tree).filter((node) => node.parent_id == null).map((node) => node.id).sort((a, b) => a - b);
  }

  /* A message the server just stored (its id came in the turn's start frame) joins the tree. */
  function addToTree(tree, message) {
    if (!tree || !message.id || tree[message.id]) return;
    tree[message.id] = { id: message.id, parent_id: message.parent_id, children: [] };
    const parent = message.parent_id != null ? tree[message.parent_id] : null;
    if (parent && !parent.children.includes(message.id)) parent.children.push(message.id);
  }

  function branchUrl(sessionId) {
    return '/api/chat/session/' + encodeURIComponent(sessionId) + '/branch';
  }

  /* Shows the branch through `messageId`: its messages (a page of the newest) and the tree. */
  async function showBranch(conversation, messageId, limit) {
    const data = await api('PUT', branchUrl(conversation.session_id), { message_id: messageId, limit });
    conversation.messages = data.conversation.map(messageFrom);
    conversation.tree = treeFrom(data.tree);
    conversation.hasMore = data.has_more;
    return data;
  }

  Object.assign(window.AIHelperChat, { treeFrom, siblingsOf, addToTree, branchUrl, showBranch });
})();
