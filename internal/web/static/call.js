// The video call of a visit among all its parties in the call: the doctor,
// the patient's guardian and the guests (issue 14). Each pair of browsers
// holds one WebRTC connection (a mesh: a visit has at most the doctor, the
// guardian and five guests), signalled over the visit's socket, which
// stamps every signal with its sender ("from": an account id, a guest's
// negative id) and relays it to the others; "to" in the data addresses one.
//
// Protocol (data.kind):
//   join       I am in the call (to all, or to one who said hello).
//   hello      I just connected: whoever is in the call, tell me.
//   offer, answer, candidate   one pair's negotiation, addressed.
//   bye        I left the call (the doctor's bye ends it for everyone).
// Of a pair, the one with the greater id makes the offer, so two who join
// at once never offer to each other.
window.YunyiCall = function (o) {
  'use strict';
  // o: me (id), ice (URL of the ICE servers), send(frame), status(key, state),
  // videos (container), local (video element), label(from, role), autoJoin,
  // relayOnly, onFirstConnected(), onLeft().
  var me = Number(o.me), peers = {}, local = null, joining = null, inCall = false;

  function signal(data) { o.send({type: 'signal', data: data}); }

  function media() {
    if (joining) return joining;
    joining = Promise.all([
      fetch(o.ice, {credentials: 'same-origin'}).then(function (r) { return r.json(); }).then(function (j) { return j.ice_servers || []; }),
      navigator.mediaDevices.getUserMedia({video: true, audio: true})
    ]).then(function (res) {
      local = {ice: res[0], stream: res[1]};
      if (o.local) o.local.srcObject = local.stream;
      return local;
    });
    return joining;
  }

  function videoOf(id, role) {
    var v = o.videos.querySelector('[data-peer="' + id + '"]');
    if (v) return v;
    var fig = document.createElement('figure');
    fig.className = 'peer';
    fig.dataset.peer = id;
    fig.dataset.role = role || '';
    v = document.createElement('video');
    v.autoplay = true;
    v.playsInline = true;
    var cap = document.createElement('figcaption');
    cap.textContent = o.label ? o.label(id, role) : '';
    fig.appendChild(v);
    fig.appendChild(cap);
    o.videos.appendChild(fig);
    return fig;
  }

  function anyConnected() {
    return Object.keys(peers).some(function (k) { return peers[k].pc.connectionState === 'connected'; });
  }

  function peer(id, role) {
    if (peers[id]) return peers[id];
    var pc = new RTCPeerConnection({iceServers: local.ice, iceTransportPolicy: o.relayOnly ? 'relay' : 'all'});
    var p = {pc: pc, queued: [], role: role};
    peers[id] = p;
    local.stream.getTracks().forEach(function (tr) { pc.addTrack(tr, local.stream); });
    pc.ontrack = function (e) { videoOf(id, role).querySelector('video').srcObject = e.streams[0]; };
    pc.onicecandidate = function (e) { if (e.candidate) signal({kind: 'candidate', to: id, candidate: e.candidate.toJSON()}); };
    pc.onconnectionstatechange = function () {
      var s = pc.connectionState;
      var fig = o.videos.querySelector('[data-peer="' + id + '"]');
      if (fig) fig.dataset.state = s;
      if (s === 'connected') {
        o.status('connected', 'connected');
        path(pc);
        if (o.onFirstConnected) o.onFirstConnected();
      } else if (s === 'failed' && !anyConnected()) {
        o.status('failed', 'failed');
      }
    };
    return p;
  }

  function drop(id) {
    var p = peers[id];
    if (p) { p.pc.close(); delete peers[id]; }
    var fig = o.videos.querySelector('[data-peer="' + id + '"]');
    if (fig) fig.remove();
  }

  // path tells whether the media goes directly (host, srflx) or through
  // the TURN relay, from the selected candidate pair.
  function path(pc) {
    pc.getStats().then(function (stats) {
      var pair = null, l = {};
      stats.forEach(function (r) {
        if (r.type === 'transport' && r.selectedCandidatePairId) pair = stats.get(r.selectedCandidatePairId);
      });
      if (!pair) stats.forEach(function (r) { if (r.type === 'candidate-pair' && r.nominated && r.state === 'succeeded') pair = r; });
      if (pair) l = stats.get(pair.localCandidateId) || {};
      if (l.candidateType) o.status(null, null, l.candidateType);
    });
  }

  function offerTo(id, role) {
    var p = peer(id, role);
    p.pc.createOffer()
      .then(function (d) { return p.pc.setLocalDescription(d); })
      .then(function () { signal({kind: 'offer', to: id, sdp: p.pc.localDescription}); })
      .catch(function () { o.status('failed', 'failed'); });
  }

  // meet answers someone in the call: the greater id offers.
  function meet(id, role) {
    if (peers[id]) return;
    if (me > id) offerTo(id, role); else signal({kind: 'join', to: id});
  }

  function join() {
    if (inCall) return Promise.resolve();
    o.status('connecting', 'connecting');
    return media().then(function () {
      inCall = true;
      signal({kind: 'join'});
    });
  }

  function flush(p) {
    p.queued.forEach(function (c) { p.pc.addIceCandidate(c); });
    p.queued = [];
  }

  // on handles a signal event of the socket: {from, role, data}.
  function on(ev) {
    var d = ev.data, from = Number(ev.from);
    if (!d || from === me || (d.to !== undefined && Number(d.to) !== me)) return;
    switch (d.kind) {
      case 'hello':
        if (inCall) signal({kind: 'join', to: from});
        break;
      case 'join':
        if (inCall) meet(from, ev.role);
        else if (o.autoJoin) { o.status('incoming', 'connecting'); join(); }
        break;
      case 'offer':
        (inCall ? Promise.resolve() : join()).then(function () {
          var p = peer(from, ev.role);
          return p.pc.setRemoteDescription(d.sdp)
            .then(function () { flush(p); return p.pc.createAnswer(); })
            .then(function (a) { return p.pc.setLocalDescription(a); })
            .then(function () { signal({kind: 'answer', to: from, sdp: p.pc.localDescription}); });
        }).catch(function () { o.status('failed', 'failed'); });
        break;
      case 'answer':
        if (peers[from]) peers[from].pc.setRemoteDescription(d.sdp).then(function () { flush(peers[from]); });
        break;
      case 'candidate':
        var p = peers[from];
        if (p && p.pc.remoteDescription) p.pc.addIceCandidate(d.candidate);
        else if (p) p.queued.push(d.candidate);
        break;
      case 'bye':
        drop(from);
        if (ev.role === 'doctor') leave(false);
        break;
    }
  }

  function leave(tell) {
    if (!inCall) return;
    if (tell) signal({kind: 'bye'});
    Object.keys(peers).forEach(drop);
    inCall = false;
    joining = null;
    if (local) local.stream.getTracks().forEach(function (tr) { tr.stop(); });
    local = null;
    o.status('ended', 'ended');
    if (o.onLeft) o.onLeft();
  }

  return {
    join: join,
    leave: leave,
    on: on,
    // connected is called when the socket (re)opens: anyone in the call
    // answers with join.
    connected: function () { signal(inCall ? {kind: 'join'} : {kind: 'hello'}); },
    active: function () { return inCall; }
  };
};
