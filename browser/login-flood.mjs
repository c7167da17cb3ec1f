// Measures a login flood against a running Pond (issue 14): N concurrent wrong console logins for
// unknown e-mails from one address, with /healthz latency sampled during the flood. Prints one JSON
// line. Usage: node browser/login-flood.mjs http://127.0.0.1:8080 [N=200]; read the server's peak
// memory from /proc/<pid>/status (VmHWM) afterwards.
const [,, base, n = '200'] = process.argv;
const form = await fetch(`${base}/login`);
const cookie = form.headers.get('set-cookie').split(';')[0];
const csrf = cookie.split('=')[1];
const t0 = Date.now();
const health = [];
let flooding = true;
const probe = (async () => {
  while (flooding) {
    const t = Date.now();
    await fetch(`${base}/healthz`);
    health.push(Date.now() - t);
    await new Promise((r) => setTimeout(r, 50));
  }
})();
const tries = Array.from({ length: Number(n) }, (_, i) =>
  fetch(`${base}/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
    body: `_csrf=${csrf}&email=guess${i}%40example.com&password=wrong-${i}`,
  }).then((r) => r.status).catch((e) => 'error'));
const statuses = await Promise.all(tries);
const took = Date.now() - t0;
flooding = false;
await probe;
const counts = {};
for (const s of statuses) counts[s] = (counts[s] || 0) + 1;
health.sort((a, b) => a - b);
console.log(JSON.stringify({ attempts: Number(n), took_ms: took, statuses: counts,
  healthz_ms: { samples: health.length, median: health[Math.floor(health.length / 2)], max: health[health.length - 1] } }));
