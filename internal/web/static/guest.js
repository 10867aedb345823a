// A guest in a visit's call (issue 14): the participant list and the chat
// over the guest's socket. Video signalling uses the same socket as the
// visit page (signal frames); this page shows the conversation.
(function () {
  var root = document.getElementById("guest-call");
  if (!root) return;
  var list = document.getElementById("guest-participants");
  var msgs = document.getElementById("guest-messages");
  var status = document.getElementById("guest-status");
  var names = {};
  var last = 0;
  var ws;
  function say(m) {
    var li = document.createElement("li");
    var who = names[m.sender_id] || m.sender_name || m.sender_role;
    li.textContent = who + "：" + (m.text || "");
    msgs.appendChild(li);
  }
  function connect() {
    var url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + root.dataset.ws + "?after=" + last;
    ws = new WebSocket(url);
    ws.onmessage = function (ev) {
      var f = JSON.parse(ev.data);
      if (f.type === "participants" && f.data) {
        list.textContent = "";
        names = {};
        f.data.participants.forEach(function (p) {
          names[p.sender_id] = p.label;
          var li = document.createElement("li");
          li.textContent = p.label;
          list.appendChild(li);
        });
      } else if (f.type === "message" && f.message) {
        if (f.message.seq > last) { last = f.message.seq; say(f.message); }
      }
    };
    ws.onclose = function (ev) {
      if (ev.code === 4403) { status.textContent = root.dataset.removed; return; }
      if (ev.code === 1000) { status.textContent = root.dataset.ended; return; }
      setTimeout(connect, 3000);
    };
  }
  document.getElementById("guest-chat").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var input = ev.target.elements.text;
    if (!input.value.trim() || !ws || ws.readyState !== 1) return;
    ws.send(JSON.stringify({ type: "message", text: input.value, client_id: String(Date.now()) + Math.random() }));
    input.value = "";
  });
  connect();
})();
