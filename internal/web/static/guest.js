// A guest in a visit's call (issue 14): the participant list, the chat and
// the video (call.js, signalled over the guest's socket like the visit
// page's; a guest joins a call the doctor has started by themselves).
(function () {
  var root = document.getElementById("guest-call");
  if (!root) return;
  var list = document.getElementById("guest-participants");
  var msgs = document.getElementById("guest-messages");
  var status = document.getElementById("guest-status");
  var names = {};
  var last = 0;
  var ws;
  var t = function (k) { return root.dataset["t" + k.charAt(0).toUpperCase() + k.slice(1)] || k; };
  var vstatus = document.getElementById("video-status");
  var hang = document.getElementById("video-hangup");
  function send(frame) { if (ws && ws.readyState === 1) ws.send(JSON.stringify(frame)); }
  var call = window.YunyiCall({
    me: -Number(root.dataset.me),
    ice: root.dataset.ice,
    send: send,
    videos: document.getElementById("videos"),
    local: document.getElementById("local-video"),
    autoJoin: true,
    label: function (from, role) { return names[from] || (role === "patient" && names.patient) || ""; },
    status: function (key, st, path) {
      if (key) { vstatus.textContent = t(key); vstatus.dataset.state = st; }
      if (path) vstatus.dataset.path = path;
      if (st) hang.hidden = st === "ended" || st === "idle";
    }
  });
  document.getElementById("video-start").addEventListener("click", function () { call.join(); });
  hang.addEventListener("click", function () { call.leave(true); });
  function say(m) {
    var li = document.createElement("li");
    var who = names[m.sender_id] || (m.sender_role === "patient" && names.patient) || m.sender_name || m.sender_role;
    li.textContent = who + "：" + (m.text || "");
    msgs.appendChild(li);
  }
  function connect() {
    var url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + root.dataset.ws + "?after=" + last + "&lang=" + document.documentElement.lang;
    ws = new WebSocket(url);
    ws.onopen = function () { call.connected(); };
    ws.onmessage = function (ev) {
      var f = JSON.parse(ev.data);
      if (f.type === "participants" && f.data) {
        list.textContent = "";
        names = {};
        f.data.participants.forEach(function (p) {
          names[p.party === "patient" ? "patient" : p.sender_id] = p.label;
          var li = document.createElement("li");
          li.textContent = p.label;
          list.appendChild(li);
        });
        document.querySelectorAll("#videos figure.peer").forEach(function (fig) {
          var l = names[fig.dataset.peer] || (fig.dataset.role === "patient" && names.patient);
          if (l) fig.querySelector("figcaption").textContent = l;
        });
      } else if (f.type === "signal") {
        call.on(f);
      } else if (f.type === "message" && f.message) {
        if (f.message.seq > last) { last = f.message.seq; say(f.message); }
      }
    };
    ws.onclose = function (ev) {
      if (ev.code === 4403) { call.leave(false); status.textContent = root.dataset.removed; return; }
      if (ev.code === 1000) { call.leave(false); status.textContent = root.dataset.ended; return; }
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
