// Starts the rasa-webchat widget full page. Served by the Rasa server itself at <base>/chat/ (see
// channels/socketio.py), so the Socket.IO endpoint is the same origin at <base>/socket.io/ and a
// reverse proxy may put the whole bot under a sub-path.
(function () {
  "use strict";
  function meta(name, fallback) {
    var tag = document.querySelector('meta[name="' + name + '"]');
    return (tag && tag.getAttribute("content")) || fallback;
  }
  var root = document.getElementById("webchat");
  var chatPath = meta("yibao-chat-path", "/chat").replace(/\/+$/, "");
  var socketioPath = meta("yibao-socketio-path", "/socket.io").replace(/^\/+|\/+$/g, "");
  var pagePath = window.location.pathname.replace(/\/+$/, "");
  var base = pagePath.slice(-chatPath.length) === chatPath
    ? pagePath.slice(0, pagePath.length - chatPath.length) : "";

  if (!window.WebChat || typeof window.WebChat.default !== "function") {
    var note = document.createElement("p");
    note.className = "fallback";
    note.textContent = "聊天组件没有安装（服务器上请运行 make install）。也可以拨打国家医保服务热线 12393。";
    root.appendChild(note);
    return;
  }

  window.WebChat.default({
    socketUrl: window.location.origin,
    socketPath: base + "/" + socketioPath + "/",
    initPayload: "/greet",
    customData: { language: "zh" },
    title: "医保家庭助手",
    subtitle: "亲情账户 · 家庭共济 常见问题",
    inputTextFieldHint: "请输入您的问题…",
    connectingText: "正在连接…",
    embedded: true,
    showCloseButton: false,
    showFullScreenButton: false,
    hideWhenNotConnected: false,
    withRules: false,
    docViewer: false,
    params: { storage: "local" },
    // The widget's default waits up to 3 s per bubble to imitate typing; answers here are long.
    customMessageDelay: function (message) {
      return Math.min(600, 150 + 2 * String(message || "").length);
    }
  }, root);
})();
