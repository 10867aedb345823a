// E-prescriptions on the visit page (issue 11). The doctor searches the
// institution's formulary, builds the prescription, sees every safety rule's
// verdict as they type (debounced POST .../prescriptions/check, nothing is
// stored), ticks the confirmations a rule asks for, and issues it (the
// server signs it); a version the pharmacist rejected is revised into a new
// one. The patient's side lists the approved prescriptions of the visit.
(function () {
  'use strict';
  var root = document.getElementById('rx-doctor') || document.getElementById('rx-patient');
  if (!root) return;
  var doctor = root.id === 'rx-doctor';
  var visit = root.dataset.visit, lang = root.dataset.lang === 'en' ? 'en' : 'zh-CN';
  var base = '/api/v1/visits/' + visit + '/prescriptions';
  var listEl = document.getElementById('rx-list');

  // t is a text of the page (data-t-* on the section), with {name} filled.
  function t(key, vars) {
    var s = root.dataset['t' + key] || key;
    Object.keys(vars || {}).forEach(function (k) { s = s.split('{' + k + '}').join(vars[k]); });
    return s;
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }

  function api(method, path, body) {
    var opts = {method: method, credentials: 'same-origin', headers: {'Accept-Language': lang}};
    if (body !== undefined) {
      opts.body = JSON.stringify(body);
      opts.headers['Content-Type'] = 'application/json';
      opts.headers['X-CSRF-Token'] = root.dataset.csrf;
    }
    return fetch(path, opts).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (j) { return {status: r.status, body: j || {}}; });
    }, function () { return {status: 0, body: {}}; });
  }

  function yuan(fen) { return '¥' + (fen / 100).toFixed(2); }
  function round(x) { return String(Math.round(x * 10) / 10); }

  // beijing formats an instant as Beijing time (UTC+8, no daylight saving).
  function beijing(iso) {
    var ms = Date.parse(iso);
    if (isNaN(ms)) return '';
    return new Date(ms + 8 * 3600 * 1000).toISOString().slice(0, 16).replace('T', ' ');
  }

  // Frequency labels come from the item template's select.
  var freqLabels = {};
  var tpl = document.getElementById('rx-item-tpl');
  if (tpl) {
    tpl.content.querySelectorAll('.rx-freq option').forEach(function (o) { freqLabels[o.value] = o.textContent; });
  }

  // --- the visit's prescriptions ---

  var closed = false;
  function renderList(items) {
    listEl.textContent = '';
    if (!items.length) {
      listEl.appendChild(el('li', 'muted', t('None')));
      return;
    }
    var latest = 0;
    items.forEach(function (p) { latest = Math.max(latest, p.version); });
    items.forEach(function (p) {
      var li = el('li', 'rx-entry');
      li.dataset.id = p.id;
      li.dataset.version = p.version;
      li.dataset.status = p.status;
      var head = el('div');
      head.appendChild(el('strong', '', t('Version', {n: p.version})));
      head.appendChild(document.createTextNode(' '));
      head.appendChild(el('span', 'badge rx-' + p.status, p.status_text));
      head.appendChild(el('span', 'muted', ' ' + beijing(p.issued_at)));
      li.appendChild(head);
      li.appendChild(el('div', 'rx-summary', (p.items || []).map(function (it) {
        // The doctor reads the directions; the patient the drugs (the
        // directions are on the prescription's page and PDF).
        return doctor ? it.name + ' ' + it.dose + ' ' + it.dose_unit + ' ' + (freqLabels[it.frequency] || it.frequency) + ' · ' + t('Days', {n: it.days}) : it.name;
      }).join('；')));
      if (p.status === 'rejected' && (p.review_reasons || p.review_note)) {
        li.appendChild(el('div', 'rx-reasons error-inline', t('Reasons') + '：' + (p.review_reasons || []).join('；') +
          (p.review_note ? '（' + p.review_note + '）' : '')));
      }
      var links = el('div', 'buttons');
      var view = el('a', 'button secondary', t('View'));
      view.href = '/prescriptions/' + p.id;
      links.appendChild(view);
      if (p.status === 'approved' || p.status === 'dispensed') {
        var pdf = el('a', 'button rx-pdf', t('Pdf'));
        pdf.href = '/api/v1/prescriptions/' + p.id + '?format=pdf';
        pdf.target = '_blank';
        pdf.rel = 'noopener';
        links.appendChild(pdf);
      }
      if (doctor && !closed && p.status === 'rejected' && p.version === latest) {
        var rev = el('button', 'rx-revise', t('Revise'));
        rev.type = 'button';
        rev.addEventListener('click', function () { startRevise(p); });
        links.appendChild(rev);
      }
      li.appendChild(links);
      listEl.appendChild(li);
    });
  }

  function loadList() {
    return api('GET', base).then(function (res) {
      if (res.status === 200) renderList(res.body.items || []);
    });
  }
  loadList();
  // The pharmacist reviews elsewhere: look again when the page comes back.
  document.addEventListener('visibilitychange', function () { if (document.visibilityState === 'visible') loadList(); });

  if (!doctor) return;

  // --- the doctor's form ---

  var form = document.getElementById('rx-form');
  var search = document.getElementById('rx-search'), results = document.getElementById('rx-results');
  var itemsEl = document.getElementById('rx-items'), noItems = document.getElementById('rx-no-items');
  var dx = document.getElementById('rx-dx'), weight = document.getElementById('rx-weight');
  var supply = document.getElementById('rx-supply'), ltr = document.getElementById('rx-ltr'), ltrLabel = document.getElementById('rx-ltr-label');
  var valid = document.getElementById('rx-valid'), note = document.getElementById('rx-note');
  var rulesEl = document.getElementById('rx-rules'), checkState = document.getElementById('rx-check-state');
  var errorEl = document.getElementById('rx-error'), flash = document.getElementById('rx-flash');
  var totalEl = document.getElementById('rx-total'), submit = document.getElementById('rx-submit');
  var revising = document.getElementById('rx-revising');
  var confirmed = {}; // rule code → ticked
  var revises = 0;
  var drugInfo = {}; // catalogue code → the catalogue's drug (dose unit, paediatric range)

  // Prefills: the record's diagnoses (kept in step with the record form
  // until the doctor edits them here) and the pre-consultation's weight.
  var recDx = document.getElementById('rec-dx');
  var dxEdited = false;
  dx.value = root.dataset.dx || (recDx ? recDx.value : '');
  if (recDx) {
    recDx.addEventListener('input', function () {
      if (!dxEdited) { dx.value = recDx.value; schedule(); }
    });
  }
  weight.value = root.dataset.weight || '';

  function diagnoses() {
    return dx.value.split(/[,，;；\s]+/).filter(function (c) { return /^[A-Za-z][0-9]/.test(c); });
  }

  function num(v) {
    var f = parseFloat(String(v).replace('，', '.'));
    return isNaN(f) ? 0 : f;
  }

  function collect() {
    var items = [];
    itemsEl.querySelectorAll('li.rx-item').forEach(function (li) {
      items.push({drug: li.dataset.drug, dose: num(li.querySelector('.rx-dose').value), dose_unit: li.querySelector('.rx-unit').value.trim(),
        frequency: li.querySelector('.rx-freq').value, days: Math.round(num(li.querySelector('.rx-days').value)),
        quantity: Math.round(num(li.querySelector('.rx-qty').value))});
    });
    return {items: items, diagnoses: diagnoses(), weight_kg: num(weight.value), supply: supply.value, long_term_reason: ltr.value,
      note: note.value, valid_days: parseInt(valid.value, 10), confirm: Object.keys(confirmed).filter(function (k) { return confirmed[k]; }),
      revises: revises};
  }

  // --- formulary search ---

  var searchSeq = 0, searchTimer = null;
  search.addEventListener('input', function () {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(doSearch, 250);
  });
  search.addEventListener('keydown', function (ev) {
    if (ev.key === 'Enter') { // do not submit the prescription
      ev.preventDefault();
      clearTimeout(searchTimer);
      doSearch();
    }
  });

  function doSearch() {
    var q = search.value.trim(), my = ++searchSeq;
    if (!q) { results.textContent = ''; return; }
    var qs = '?q=' + encodeURIComponent(q);
    Promise.all([
      api('GET', '/api/v1/institutions/' + encodeURIComponent(root.dataset.inst) + '/formulary' + qs),
      api('GET', '/api/v1/drugs' + qs + '&limit=100')
    ]).then(function (res) {
      if (my !== searchSeq) return;
      var rank = {};
      (res[1].body.items || []).forEach(function (d, i) { rank[d.code] = i; drugInfo[d.code] = d; });
      var order = function (code) { return code in rank ? rank[code] : 1e9; };
      var hits = (res[0].body.items || []).slice().sort(function (a, b) { return order(a.drug) - order(b.drug); }).slice(0, 20);
      results.textContent = '';
      if (!hits.length) {
        results.appendChild(el('li', 'muted', t('NoMatch')));
        return;
      }
      hits.forEach(function (h) {
        var li = el('li');
        var b = el('button', 'rx-hit' + (h.online ? '' : ' offline'));
        b.type = 'button';
        b.dataset.drug = h.drug;
        b.appendChild(el('strong', '', h.name));
        b.appendChild(el('span', 'muted', ' ' + h.strength + ' · ' + h.form + ' · ' + yuan(h.price_fen) + '/' + h.unit));
        if (!h.online) b.appendChild(el('span', 'badge rx-offline', t('NotOnline')));
        b.addEventListener('click', function () {
          addItem(h, {});
          search.value = '';
          results.textContent = '';
          search.focus();
        });
        li.appendChild(b);
        results.appendChild(li);
      });
    });
  }

  // --- items ---

  function addItem(entry, values) {
    var li = tpl.content.firstElementChild.cloneNode(true);
    var info = drugInfo[entry.drug] || {};
    li.dataset.drug = entry.drug;
    li.querySelector('.rx-name').textContent = entry.name;
    li.querySelector('.rx-meta').textContent = [entry.strength, entry.form, entry.price_fen ? yuan(entry.price_fen) + '/' + entry.unit : '']
      .filter(Boolean).join(' · ') + (entry.online === false ? ' · ' + t('NotOnline') : '');
    li.querySelector('.rx-dose').value = values.dose || '';
    li.querySelector('.rx-unit').value = values.dose_unit || info.dose_unit || '';
    li.querySelector('.rx-freq').value = values.frequency || 'qd';
    li.querySelector('.rx-days').value = values.days || 3;
    li.querySelector('.rx-qty').value = values.quantity || 1;
    li.querySelector('.rx-remove').addEventListener('click', function () {
      li.remove();
      itemsChanged();
    });
    itemsEl.appendChild(li);
    if (!drugInfo[entry.drug]) {
      // A revised item: its catalogue facts for the paediatric hint.
      api('GET', '/api/v1/drugs?limit=1&q=' + encodeURIComponent(entry.drug)).then(function (res) {
        (res.body.items || []).forEach(function (d) { drugInfo[d.code] = d; });
        paedHints();
      });
    }
    itemsChanged();
    if (!values.dose) li.querySelector('.rx-dose').focus();
  }

  function itemsChanged() {
    noItems.hidden = itemsEl.children.length > 0;
    paedHints();
    schedule();
  }

  // paedHints shows each weight-dosed drug's usual range, per kg and, with
  // the weight given, per day.
  function paedHints() {
    var kg = num(weight.value);
    itemsEl.querySelectorAll('li.rx-item').forEach(function (li) {
      var d = drugInfo[li.dataset.drug], p = li.querySelector('.rx-paed');
      if (!d || !d.paed_max_per_kg_day) { p.hidden = true; return; }
      var unit = d.dose_unit;
      var s = t('PaedRange', {min: d.paed_min_per_kg_day, max: d.paed_max_per_kg_day, unit: unit});
      if (kg > 0) s += '；' + t('PaedDaily', {kg: kg, lo: round(d.paed_min_per_kg_day * kg), hi: round(d.paed_max_per_kg_day * kg), unit: unit});
      p.textContent = s;
      p.hidden = false;
    });
  }

  // --- the rules, as the doctor types ---

  var checkSeq = 0, checkTimer = null;
  function schedule() {
    clearTimeout(checkTimer);
    checkTimer = setTimeout(check, 400);
  }

  form.addEventListener('input', function (ev) {
    if (ev.target === search || ev.target.classList.contains('rx-confirm')) return;
    if (ev.target === dx) dxEdited = true;
    if (ev.target === weight) paedHints();
    schedule();
  });
  form.addEventListener('change', function (ev) {
    if (ev.target === search || ev.target.classList.contains('rx-confirm')) return;
    ltrLabel.hidden = supply.value !== 'long_term';
    schedule();
  });

  function check() {
    var input = collect(), my = ++checkSeq;
    if (!input.items.length) {
      rulesEl.textContent = '';
      checkState.textContent = '';
      totalEl.textContent = '';
      return;
    }
    checkState.textContent = t('Checking');
    api('POST', base + '/check', input).then(function (res) {
      if (my !== checkSeq) return;
      checkState.textContent = '';
      if (res.status !== 200) {
        showError(res.body.error);
        return;
      }
      clearError();
      showRules(res.body.rules || []);
      checkState.textContent = res.body.ok ? t('AllPassed') : t('SomeFailed');
      totalEl.textContent = res.body.total_fen ? t('Total') + ' ' + yuan(res.body.total_fen) : '';
      if (!weight.value && res.body.weight_kg_offered) {
        weight.value = res.body.weight_kg_offered;
        paedHints();
      }
    });
  }

  function showRules(rules) {
    rulesEl.textContent = '';
    rules.forEach(function (r) {
      var li = el('li', r.passed ? 'pass' : (r.confirmed ? 'confirmed' : 'fail'));
      li.dataset.code = r.code;
      li.dataset.severity = r.severity;
      li.appendChild(el('span', 'rx-mark', r.passed || r.confirmed ? '✓ ' : '✗ '));
      li.appendChild(el('span', 'rx-msg', r.message));
      if (r.detail) li.appendChild(el('span', 'muted rx-detail', '（' + r.detail + '）'));
      if (!r.passed && r.severity === 'confirm') {
        var label = el('label', 'check rx-confirm-label');
        var box = el('input', 'rx-confirm');
        box.type = 'checkbox';
        box.value = r.code;
        box.checked = !!confirmed[r.code];
        box.addEventListener('change', function () {
          confirmed[r.code] = box.checked;
          clearTimeout(checkTimer);
          check();
        });
        label.appendChild(box);
        label.appendChild(document.createTextNode(' ' + (r.confirmed ? t('Confirmed') : t('Confirm'))));
        li.appendChild(label);
      }
      rulesEl.appendChild(li);
    });
  }

  // --- errors ---

  function clearError() {
    errorEl.hidden = true;
    errorEl.textContent = '';
    form.querySelectorAll('[aria-invalid]').forEach(function (x) { x.removeAttribute('aria-invalid'); });
  }

  // fieldInput finds the input of an error's field: items[0].dose, diagnoses[1], weight_kg.
  function fieldInput(field) {
    var m = /^items\[(\d+)\]\.(\w+)$/.exec(field);
    if (m) {
      var li = itemsEl.querySelectorAll('li.rx-item')[parseInt(m[1], 10)];
      var cls = {dose: '.rx-dose', dose_unit: '.rx-unit', frequency: '.rx-freq', days: '.rx-days', quantity: '.rx-qty'}[m[2]];
      return li ? {input: cls ? li.querySelector(cls) : null, name: li.querySelector('.rx-name').textContent} : null;
    }
    var by = {diagnoses: dx, weight_kg: weight, long_term_reason: ltr, note: note, supply: supply, valid_days: valid};
    var key = field.replace(/\[\d+\]$/, '');
    return by[key] ? {input: by[key]} : null;
  }

  function showError(e) {
    clearError();
    e = e || {};
    if (e.code === 'prescribe_window' || e.code === 'not_prescriber' || e.code === 'not_found') {
      closed = true;
      var c = document.getElementById('rx-closed');
      c.textContent = e.message || '';
      c.hidden = false;
      form.hidden = true;
      loadList();
      return;
    }
    errorEl.appendChild(el('p', '', e.message || 'error'));
    var ul = el('ul');
    (e.fields || []).forEach(function (f) {
      var where = fieldInput(f.field), label = f.field;
      if (where && where.input) {
        where.input.setAttribute('aria-invalid', 'true');
        var l = where.input.closest('label');
        label = (where.name ? where.name + ' · ' : '') + (l ? l.firstChild.textContent.replace(/\s*\*$/, '') : f.field);
      }
      ul.appendChild(el('li', '', label + '：' + f.message));
    });
    if (ul.children.length) errorEl.appendChild(ul);
    errorEl.hidden = false;
  }

  // showRefusal names every rule that failed (422 prescription_refused).
  function showRefusal(e) {
    clearError();
    errorEl.dataset.code = e.code;
    errorEl.appendChild(el('p', '', t('Refused')));
    var ul = el('ul', 'rx-refused');
    (e.rules || []).forEach(function (r) {
      if (r.passed || r.confirmed) return;
      var li = el('li', '', r.message + (r.detail ? '（' + r.detail + '）' : ''));
      li.dataset.code = r.code;
      ul.appendChild(li);
    });
    errorEl.appendChild(ul);
    errorEl.hidden = false;
  }

  // --- issue, revise ---

  form.addEventListener('submit', function (ev) {
    ev.preventDefault();
    clearTimeout(checkTimer);
    checkSeq++;
    flash.hidden = true;
    submit.disabled = true;
    api('POST', base, collect()).then(function (res) {
      submit.disabled = false;
      if (res.status === 201) {
        reset();
        flash.textContent = t('Issued');
        flash.hidden = false;
        loadList();
        return;
      }
      var e = res.body.error || {};
      if (res.status === 422 && e.rules) {
        showRules(e.rules);
        checkState.textContent = t('SomeFailed');
        showRefusal(e);
        return;
      }
      showError(e);
    });
  });

  function reset() {
    itemsEl.textContent = '';
    note.value = '';
    ltr.value = '';
    supply.value = 'normal';
    valid.value = '1';
    ltrLabel.hidden = true;
    confirmed = {};
    setRevises(null);
    rulesEl.textContent = '';
    checkState.textContent = '';
    totalEl.textContent = '';
    clearError();
    noItems.hidden = false;
  }

  function setRevises(p) {
    revises = p ? p.id : 0;
    revising.hidden = !p;
    revising.querySelector('span').textContent = p ? t('Revising', {n: p.version}) : '';
  }

  // startRevise fills the form with a rejected version, to issue the next.
  function startRevise(p) {
    reset();
    (p.items || []).forEach(function (it) {
      addItem({drug: it.drug, name: it.name, strength: it.strength, form: it.form, unit: it.unit, price_fen: it.price_fen}, it);
    });
    dx.value = (p.diagnoses || []).join(', ');
    dxEdited = true;
    weight.value = p.weight_kg || weight.value;
    supply.value = p.supply || 'normal';
    ltr.value = p.long_term_reason || '';
    ltrLabel.hidden = supply.value !== 'long_term';
    note.value = p.note || '';
    valid.value = String(p.valid_days || 1);
    (p.confirmed || []).forEach(function (c) { confirmed[c] = true; });
    setRevises(p);
    flash.hidden = true;
    paedHints();
    schedule();
    form.scrollIntoView({block: 'start'});
  }
  document.getElementById('rx-cancel-revise').addEventListener('click', function () { setRevises(null); schedule(); });

  // ICD-10 suggestions for the diagnoses, as in the record form.
  var icd = document.getElementById('rx-icd');
  dx.addEventListener('input', function () {
    var parts = dx.value.split(/[,，\s]+/), q = parts[parts.length - 1];
    if (q.length < 1) return;
    api('GET', '/api/v1/icd10?q=' + encodeURIComponent(q)).then(function (res) {
      var prefix = parts.slice(0, -1).join(', ');
      icd.textContent = '';
      (res.body.codes || []).slice(0, 20).forEach(function (c) {
        var o = document.createElement('option');
        o.value = (prefix ? prefix + ', ' : '') + c.code;
        o.label = c.code + ' ' + c.name;
        icd.appendChild(o);
      });
    });
  });

  // Whether this doctor may still prescribe here: an empty draft is only
  // invalid input; the window or the role closes the form.
  api('POST', base + '/check', {items: [], diagnoses: []}).then(function (res) {
    if (res.status !== 200 && res.body.error && res.body.error.code !== 'invalid_input') showError(res.body.error);
  });
})();
