// Keeps the page live: every few seconds it fetches this same page, which
// the sidecar renders from its current snapshot, and swaps the live part.
// One renderer (the server's) serves both the first load and the updates,
// so the page without JavaScript and the live page cannot disagree.
(function () {
  'use strict';
  var every = 2000;
  var conn = document.getElementById('conn');
  function live() { return document.getElementById('live'); }
  function health(el) { return el ? el.getAttribute('data-health') : ''; }
  function stamp() { return new Date().toISOString().slice(11, 19) + ' UTC'; }
  function refresh() {
    // location.origin, not a relative URL: a page opened as
    // https://user:password@host/ may not fetch a URL that carries them;
    // the browser sends the credentials it holds for the origin anyway.
    fetch(location.origin + location.pathname + location.search, { cache: 'no-store', credentials: 'same-origin' })
      .then(function (r) {
        if (!r.ok) { throw new Error('HTTP ' + r.status); }
        return r.text();
      })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, 'text/html');
        var next = doc.getElementById('live'), cur = live();
        if (!next || !cur) { throw new Error('unexpected answer'); }
        // Keep the evidence the reader unfolded.
        var open = {};
        cur.querySelectorAll('details[id]').forEach(function (d) { open[d.id] = d.open; });
        next.querySelectorAll('details[id]').forEach(function (d) { if (d.id in open) { d.open = open[d.id]; } });
        var was = health(cur), now = health(next);
        cur.replaceWith(document.adoptNode(next));
        document.title = doc.title;
        document.body.classList.remove('stale');
        conn.classList.remove('lost');
        conn.textContent = (was !== now ? 'Health changed to ' + now + '. ' : '') + 'Live: updated ' + stamp() + ', every ' + every / 1000 + ' s.';
      })
      .catch(function (e) {
        document.body.classList.add('stale');
        conn.classList.add('lost');
        conn.textContent = 'Lost contact with the sidecar (' + e.message + ') at ' + stamp() + '; the figures above are older. Retrying.';
      })
      .finally(function () { setTimeout(refresh, every); });
  }
  conn.textContent = 'Live: updates every ' + every / 1000 + ' s.';
  setTimeout(refresh, every);
})();
