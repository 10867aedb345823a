// The live part of the visit page: the chat over the visit's WebSocket
// (resuming from the last number seen), read marks, state changes, and the
// video call (WebRTC, signalled over the same socket, relayed by the
// embedded TURN server when the browsers cannot reach each other).
(function () {
  'use strict';
  var root = document.getElementById('visit');
  if (!root) return;
  var id = root.dataset.id, role = root.dataset.role, state = root.dataset.state;
  var me = root.dataset.me;
  var lastSeq = parseInt(root.dataset.lastSeq || '0', 10);
  var log = document.getElementById('chat-log');
  var form = document.getElementById('chat-form');
  var presence = document.getElementById('presence');
  var live = state === 'waiting' || state === 'in_progress';
  var ws = null, backoff = 500, pending = [], otherRead = 0;
  var t = function (k) { return root.dataset['t' + k.charAt(0).toUpperCase() + k.slice(1)] || k; };

  function uuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return String(Date.now()) + Math.random().toString(16).slice(2);
  }

  // fill fetches the messages missing before seq (numbers are the
  // database's: a message another server took reaches this socket only
  // through the next one that follows it).
  var filling = false;
  function fill(upTo) {
    if (filling) return;
    filling = true;
    fetch('/api/v1/visits/' + id + '/messages?after=' + lastSeq, {credentials: 'same-origin'})
      .then(function (r) { return r.json(); })
      .then(function (j) { (j.messages || []).forEach(function (m) { if (m.seq < upTo) render(m, true); }); })
      .finally(function () { filling = false; });
  }

  function render(m, filled) {
    if (!log || log.querySelector('[data-seq="' + m.seq + '"]')) return;
    if (!filled && m.seq > lastSeq + 1 && lastSeq > 0) fill(m.seq);
    var li = document.createElement('li');
    li.className = 'msg from-' + m.sender_role + (String(m.sender_id) === me ? ' mine' : '');
    li.dataset.seq = m.seq;
    var who = document.createElement('span');
    who.className = 'who';
    who.textContent = m.sender_role === 'doctor' ? t('doctor') : m.sender_role === 'guest' ? (names[m.sender_id] || m.sender_name || t('guest')) : t('patient');
    li.appendChild(who);
    if (m.kind === 'image') {
      var img = document.createElement('img');
      img.className = 'thumb';
      img.alt = m.text || '';
      img.src = '/api/v1/visits/' + id + '/attachments/' + m.attachment_id;
      li.appendChild(img);
    } else {
      var span = document.createElement('span');
      span.className = 'text';
      span.textContent = m.text;
      li.appendChild(span);
    }
    // In number order, wherever it arrives from.
    var after = null;
    log.querySelectorAll('li[data-seq]').forEach(function (x) {
      if (!after && parseInt(x.dataset.seq, 10) > m.seq) after = x;
    });
    log.insertBefore(li, after);
    li.scrollIntoView({block: 'nearest'});
    lastSeq = Math.max(lastSeq, m.seq);
    if (String(m.sender_id) !== me) markRead();
    showRead();
  }

  function showRead() {
    if (!log) return;
    log.querySelectorAll('li.mine').forEach(function (li) {
      if (parseInt(li.dataset.seq, 10) <= otherRead && !li.querySelector('.read')) {
        var r = document.createElement('span');
        r.className = 'read muted';
        r.textContent = t('read');
        li.appendChild(r);
      }
    });
  }

  var readTimer = null;
  function markRead() {
    if (readTimer) return;
    readTimer = setTimeout(function () {
      readTimer = null;
      if (document.visibilityState === 'visible') send({type: 'read', seq: lastSeq});
    }, 300);
  }

  function send(frame) {
    if (ws && ws.readyState === 1) { ws.send(JSON.stringify(frame)); return true; }
    return false;
  }

  function connect() {
    if (!live) return;
    var proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    ws = new WebSocket(proto + '//' + location.host + '/api/v1/visits/' + id + '/ws?after=' + lastSeq + '&lang=' + document.documentElement.lang);
    ws.onopen = function () {
      backoff = 500;
      root.classList.remove('offline');
      // Messages typed while offline go now; the server drops repeats by client id.
      pending.forEach(function (f) { ws.send(JSON.stringify(f)); });
      if (call) call.connected();
    };
    ws.onmessage = function (ev) {
      var f = JSON.parse(ev.data);
      switch (f.type) {
        case 'message':
          pending = pending.filter(function (p) { return p.client_id !== f.message.client_id; });
          render(f.message);
          break;
        case 'read':
          if (String(f.from) !== me) { otherRead = Math.max(otherRead, f.seq); showRead(); }
          break;
        case 'presence':
          if (presence) presence.textContent = (f.online || []).map(function (r) { return r === 'doctor' ? t('doctor') : t('patient'); }).join(' · ');
          break;
        case 'state':
          if (f.state !== state) { hangup(false); location.reload(); }
          break;
        case 'signal':
          onSignal(f);
          break;
        case 'participants':
          participants(f.data);
          break;
        case 'line':
          showLine(f.data);
          break;
        case 'error':
          if (f.error) alert(f.error.message);
          break;
      }
    };
    ws.onclose = function () {
      root.classList.add('offline');
      setTimeout(connect, backoff);
      backoff = Math.min(backoff * 2, 10000);
    };
  }

  // participants lists who is in the call (guests with their roles and
  // names) and names the guests' messages and videos.
  var names = {};
  var partList = document.getElementById('participants');
  function participants(d) {
    if (!d || !d.participants) return;
    if (partList) partList.textContent = '';
    d.participants.forEach(function (p) {
      if (p.sender_id) names[p.sender_id] = p.label;
      if (p.party === 'patient') names.patient = p.label;
      if (!partList) return;
      var li = document.createElement('li');
      li.dataset.party = p.party;
      if (p.guest_id) li.dataset.guest = p.guest_id;
      li.textContent = p.label;
      partList.appendChild(li);
    });
    document.querySelectorAll('#videos figure.peer').forEach(function (f) {
      var l = names[f.dataset.peer] || (f.dataset.role === 'patient' && names.patient);
      if (l) f.querySelector('figcaption').textContent = l;
    });
  }

  // showLine shows where the visit stands in its session's line: how many
  // are ahead, the expected wait and the estimated time (moved when the
  // doctor runs late), as the server tells each time the line moves.
  var lineNote = document.getElementById('line-note');
  var estimated = document.getElementById('visit-estimated');
  function showLine(p) {
    if (!p) return;
    if (lineNote) {
      lineNote.dataset.ahead = p.ahead;
      lineNote.textContent = p.ahead > 0
        ? lineNote.dataset.tAhead.replace('{n}', p.ahead).replace('{m}', p.expected_wait_minutes)
        : lineNote.dataset.tNext;
    }
    if (estimated && p.estimated_at) {
      var hm = new Date(p.estimated_at).toLocaleTimeString('en-GB', {timeZone: 'Asia/Shanghai', hour: '2-digit', minute: '2-digit', hour12: false});
      estimated.textContent = estimated.dataset.tEstimated.replace('{t}', hm);
    }
  }

  if (form) {
    form.addEventListener('submit', function (ev) {
      var input = document.getElementById('chat-text');
      var text = input.value.trim();
      if (!text || !live) return; // without the socket, the form posts itself
      ev.preventDefault();
      var frame = {type: 'message', kind: 'text', text: text, client_id: uuid()};
      pending.push(frame);
      send(frame);
      input.value = '';
    });
  }

  // A picture in the chat: uploaded as the visit's file, then sent.
  var picker = document.getElementById('chat-image');
  if (picker && form) {
    picker.addEventListener('change', function () {
      var file = picker.files[0];
      if (!file) return;
      var fd = new FormData();
      fd.append('file', file);
      fetch('/api/v1/visits/' + id + '/attachments?purpose=chat', {method: 'POST', body: fd, credentials: 'same-origin',
        headers: {'X-CSRF-Token': form.querySelector('input[name=csrf]').value}})
        .then(function (r) { return r.json().then(function (j) { return {ok: r.ok, j: j}; }); })
        .then(function (res) {
          picker.value = '';
          if (!res.ok) { alert(res.j.error.message); return; }
          var frame = {type: 'message', kind: 'image', attachment_id: res.j.id, client_id: uuid()};
          pending.push(frame);
          send(frame);
        });
    });
  }

  // --- video (call.js: every party in the call, guests too) ---
  var status = document.getElementById('video-status');
  var startBtn = document.getElementById('video-start');
  var hangBtn = document.getElementById('video-hangup');
  var reported = false;
  var call = null;
  if (document.getElementById('video')) {
    call = window.YunyiCall({
      me: me,
      ice: '/api/v1/visits/' + id + '/ice',
      send: send,
      videos: document.getElementById('videos'),
      local: document.getElementById('local-video'),
      autoJoin: role !== 'doctor',
      relayOnly: new URLSearchParams(location.search).get('relay') === '1',
      label: function (from, r) { return names[from] || (r === 'patient' && names.patient) || (r === 'doctor' ? t('doctor') : r === 'patient' ? t('patient') : ''); },
      status: function (key, st, path) {
        if (!status) return;
        if (key) { status.textContent = t(key); status.dataset.state = st; }
        if (path) status.dataset.path = path;
        if (hangBtn && st) hangBtn.hidden = st === 'ended' || st === 'idle';
      },
      onFirstConnected: function () {
        if (role === 'doctor' && !reported) { reported = true; send({type: 'call', event: 'started'}); }
      },
      onLeft: function () {
        if (reported) { send({type: 'call', event: 'ended'}); reported = false; }
      }
    });
  }
  function hangup(tell) { if (call) call.leave(tell); }
  function onSignal(ev) { if (call) call.on(ev); }

  if (startBtn) startBtn.addEventListener('click', function () { call.join(); });
  if (hangBtn) hangBtn.addEventListener('click', function () { hangup(true); });

  // --- ICD-10 suggestions in the record form ---
  var dx = document.getElementById('rec-dx'), list = document.getElementById('icd-list');
  if (dx && list) {
    dx.addEventListener('input', function () {
      var parts = dx.value.split(/[,，\s]+/), q = parts[parts.length - 1];
      if (q.length < 1) return;
      fetch('/api/v1/icd10?q=' + encodeURIComponent(q)).then(function (r) { return r.json(); }).then(function (j) {
        var prefix = parts.slice(0, -1).join(', ');
        list.textContent = '';
        (j.codes || []).slice(0, 20).forEach(function (c) {
          var o = document.createElement('option');
          o.value = (prefix ? prefix + ', ' : '') + c.code;
          o.label = c.code + ' ' + c.name;
          list.appendChild(o);
        });
      });
    });
  }

  connect();
  markRead();
})();
