// Regional store page: asks the browser for its position once, then reloads with it (or with
// ?denied=1). The browser gives WGS-84; the server converts to the stores' datum.
(function () {
  'use strict';
  var body = document.body;
  if (!body.dataset.askLocation) return;
  var base = body.dataset.base;
  function fallback() { location.replace(base + '?denied=1'); }
  if (!navigator.geolocation) { fallback(); return; }
  navigator.geolocation.getCurrentPosition(function (p) {
    location.replace(base + '?lat=' + p.coords.latitude + '&lng=' + p.coords.longitude);
  }, fallback, { enableHighAccuracy: false, timeout: 8000, maximumAge: 600000 });
})();
