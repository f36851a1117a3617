/* The chat websocket: reconnects with backoff and tells the page when it is open again, so the page
 * can resend turns that never started (each carries a client_id, so a resend is never stored twice)
 * and resume answers that were streaming when the connection dropped. */
(function () {
  'use strict';

  const MAX_BACKOFF_MS = 15000;
  const HEARTBEAT_MS = 30000;
  const PONG_WAIT_MS = 10000;

  class ChatSocket {
    /* onFrame(frame) for every server frame; onState('connecting' | 'open' | 'reconnecting');
     * onOpen() each time a connection is ready; onLoginEnded() when the server ended the login. */
    constructor({ onFrame, onState, onOpen, onTooBig, onLoginEnded }) {
      this.onFrame = onFrame;
      this.onState = onState;
      this.onOpen = onOpen;
      this.onLoginEnded = onLoginEnded;
      // The server closed the socket over a frame too large to read: resending it would loop.
      this.onTooBig = onTooBig;
      this.backoff = 500;
      this.ws = null;
      this.connect();
    }

    get url() {
      return (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws/chat';
    }

    get isOpen() {
      return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
    }

    connect() {
      this.onState(this.ws ? 'reconnecting' : 'connecting');
      const ws = new WebSocket(this.url);
      this.ws = ws;
      ws.onopen = () => {
        this.backoff = 500;
        this.onState('open');
        this.onOpen();
        this.heartbeat();
      };
      ws.onmessage = (event) => {
        let frame;
        try {
          frame = JSON.parse(event.data);
        } catch (_garbled) {
          return;
        }
        if (frame.type === 'pong') {
          clearTimeout(this.pongTimer);
          return;
        }
        this.onFrame(frame);
      };
      ws.onclose = (event) => {
        clearInterval(this.heartbeatTimer);
        clearTimeout(this.pongTimer);
        if (ws !== this.ws) return;
        if (event.code === 1008) {
          // The login ended (logout elsewhere, password change, account disabled): no reconnecting.
          this.onLoginEnded();
          return;
        }
        if (event.code === 1009) this.onTooBig();
        this.onState('reconnecting');
        const delay = this.backoff + Math.random() * 300;
        this.backoff = Math.min(this.backoff * 2, MAX_BACKOFF_MS);
        setTimeout(() => this.connect(), delay);
      };
    }

    /* A dead connection (laptop slept, network changed) may never say so: ping it. */
    heartbeat() {
      clearInterval(this.heartbeatTimer);
      this.heartbeatTimer = setInterval(() => {
        if (!this.isOpen) return;
        this.ws.send(JSON.stringify({ type: 'ping' }));
        this.pongTimer = setTimeout(() => this.ws && this.ws.close(), PONG_WAIT_MS);
      }, HEARTBEAT_MS);
    }

    /* True when sent; false while disconnected (the page resends from onOpen). */
    send(frame) {
      if (!this.isOpen) return false;
      this.ws.send(JSON.stringify(frame));
      return true;
    }
  }

  window.AIHelperChatSocket = ChatSocket;
})();
