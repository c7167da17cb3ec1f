// Pond console: progressive enhancement only. Every page works without this file; with it,
// toasts fade, destructive forms ask in a dialog, pickers become searchable, copy buttons copy
// and the welcome editor previews. Loaded with `defer` from a file, so a strict CSP holds.
(function () {
  'use strict';
  var texts = document.documentElement.dataset;

  // Toasts: fade after a few seconds (failures stay until closed).
  document.querySelectorAll('.toast:not(.bad)').forEach(function (t) {
    setTimeout(function () { t.classList.add('hide'); }, 4000);
    setTimeout(function () { t.remove(); }, 4600);
  });
  document.querySelectorAll('.toast.bad').forEach(function (t) {
    var close = document.createElement('button');
    close.type = 'button'; close.className = 'close'; close.textContent = '×';
    close.setAttribute('aria-label', texts.close || 'close');
    close.addEventListener('click', function () { t.remove(); });
    t.appendChild(close);
  });

  // Confirm dialog: <form data-confirm="what stops working" data-confirm-title="…">. Without
  // JavaScript the server answers the post with a confirmation page instead.
  var dialog = null;
  function confirmDialog(form) {
    if (!dialog) {
      dialog = document.createElement('dialog');
      dialog.className = 'confirm';
      dialog.innerHTML = '<form method="dialog"><div class="body"><h3></h3><p></p></div>' +
        '<div class="foot"><button class="btn" value="cancel"></button>' +
        '<button class="btn danger solid" value="ok"></button></div></form>';
      document.body.appendChild(dialog);
    }
    dialog.querySelector('h3').textContent = form.dataset.confirmTitle || texts.confirmTitle || '';
    dialog.querySelector('p').textContent = form.dataset.confirm;
    dialog.querySelector('[value=cancel]').textContent = texts.cancel || 'Cancel';
    dialog.querySelector('[value=ok]').textContent = form.dataset.confirmOk || texts.confirmOk || 'OK';
    dialog.onclose = function () {
      if (dialog.returnValue === 'ok') {
        var flag = document.createElement('input');
        flag.type = 'hidden'; flag.name = 'confirmed'; flag.value = 'yes';
        form.appendChild(flag);
        form.dataset.confirmed = 'yes';
        form.submit();
      }
    };
    dialog.returnValue = '';
    dialog.showModal();
  }
  document.addEventListener('submit', function (e) {
    var form = e.target;
    if (form.dataset && form.dataset.confirm && form.dataset.confirmed !== 'yes') {
      e.preventDefault();
      confirmDialog(form);
    }
  });

  // Copy buttons: <button type="button" data-copy="#input-id">.
  document.querySelectorAll('[data-copy]').forEach(function (b) {
    b.addEventListener('click', function () {
      var src = document.querySelector(b.dataset.copy);
      if (!src) return;
      src.select();
      var done = function () { var old = b.textContent; b.textContent = texts.copied || '✓'; setTimeout(function () { b.textContent = old; }, 1500); };
      if (navigator.clipboard) navigator.clipboard.writeText(src.value).then(done, function () { document.execCommand('copy'); done(); });
      else { document.execCommand('copy'); done(); }
    });
  });

  // Pickers: <select data-picker [multiple]> with <option data-search="name initials pinyin id"
  // data-meta="department">. The select stays in the form (hidden) and holds the value.
  function norm(s) { return (s || '').toLowerCase().replace(/\s+/g, ''); }
  document.querySelectorAll('select[data-picker]').forEach(function (select) {
    var multi = select.multiple;
    var box = document.createElement('div');
    box.className = 'picker';
    var chips = document.createElement('div'); chips.className = 'chips';
    var search = document.createElement('input');
    search.type = 'search'; search.className = 'picker-search';
    search.placeholder = select.dataset.placeholder || texts.pickerSearch || '';
    search.setAttribute('aria-label', search.placeholder);
    var list = document.createElement('ul'); list.setAttribute('role', 'listbox');
    box.appendChild(chips); box.appendChild(search); box.appendChild(list);
    select.hidden = true;
    select.parentNode.insertBefore(box, select.nextSibling);
    var options = Array.prototype.slice.call(select.options).filter(function (o) { return o.value !== ''; });
    function renderChips() {
      chips.innerHTML = '';
      options.filter(function (o) { return o.selected; }).forEach(function (o) {
        var chip = document.createElement('span'); chip.className = 'chip';
        chip.appendChild(document.createTextNode(o.dataset.label || o.textContent));
        var x = document.createElement('button'); x.type = 'button'; x.textContent = '×';
        x.setAttribute('aria-label', (texts.remove || 'remove') + ' ' + (o.dataset.label || o.textContent));
        x.addEventListener('click', function () { o.selected = false; update(); });
        chip.appendChild(x); chips.appendChild(chip);
      });
      chips.hidden = chips.childNodes.length === 0;
    }
    function renderList() {
      var q = norm(search.value);
      list.innerHTML = '';
      var shown = 0;
      options.forEach(function (o) {
        var hay = norm(o.textContent + ' ' + (o.dataset.search || '') + ' ' + o.value);
        if (q && hay.indexOf(q) < 0) return;
        if (shown++ >= 100) return;
        var li = document.createElement('li'); li.setAttribute('role', 'option');
        li.dataset.value = o.value;
        if (o.selected) li.className = 'sel';
        li.appendChild(document.createTextNode(o.dataset.label || o.textContent));
        if (o.dataset.meta) { var m = document.createElement('span'); m.className = 'meta'; m.textContent = o.dataset.meta; li.appendChild(m); }
        li.addEventListener('click', function () {
          if (!multi) options.forEach(function (p) { p.selected = false; });
          o.selected = !o.selected || !multi;
          update();
        });
        list.appendChild(li);
      });
      if (shown === 0) { var li = document.createElement('li'); li.className = 'muted'; li.textContent = texts.pickerNone || '—'; list.appendChild(li); }
    }
    function update() { renderChips(); renderList(); select.dispatchEvent(new Event('change', { bubbles: true })); }
    search.addEventListener('input', function () { box.classList.add('open'); renderList(); });
    search.addEventListener('focus', function () { box.classList.add('open'); });
    document.addEventListener('click', function (e) { if (e.target.isConnected && !box.contains(e.target)) box.classList.remove('open'); });
    search.addEventListener('keydown', function (e) {
      if (e.key === 'Enter') { e.preventDefault(); var first = list.querySelector('li[data-value]'); if (first) first.click(); }
      if (e.key === 'Escape') { box.classList.remove('open'); }
    });
    renderChips(); renderList();
  });

  // Welcome editor: variable buttons insert at the cursor; the preview follows the text.
  document.querySelectorAll('[data-insert]').forEach(function (b) {
    b.addEventListener('click', function () {
      var target = document.querySelector(b.dataset.target);
      if (!target) return;
      var at = target.selectionStart || target.value.length;
      target.value = target.value.slice(0, at) + b.dataset.insert + target.value.slice(target.selectionEnd || at);
      target.focus();
      target.dispatchEvent(new Event('input'));
    });
  });
  document.querySelectorAll('[data-preview-of]').forEach(function (out) {
    var src = document.querySelector(out.dataset.previewOf);
    if (!src) return;
    var sample = {};
    try { sample = JSON.parse(out.dataset.sample || '{}'); } catch (e) { sample = {}; }
    function show() {
      out.textContent = src.value.replace(/\{[^{}]{1,20}\}/g, function (m) { return Object.prototype.hasOwnProperty.call(sample, m) ? sample[m] : m; });
    }
    src.addEventListener('input', show); show();
  });

  // Selecting every row of a table for a bulk action: <input type=checkbox data-check-all="name">.
  document.querySelectorAll('[data-check-all]').forEach(function (all) {
    all.addEventListener('change', function () {
      document.querySelectorAll('input[type=checkbox][name="' + all.dataset.checkAll + '"]').forEach(function (c) { c.checked = all.checked; });
    });
  });
})();
