// Browser journeys through Pond: the console (login, dashboard, customers, language switch, a
// crawl of the left navigation in both languages) and the customer-facing phone pages (a landing
// code's page, the regional store page with geolocation granted and refused).
//
// Run:   (cd browser && npm ci)                 # playwright-core only; no browser download
//        node browser/run.mjs --pond target/debug/pond [journey ...]
// Env:   POND_BIN   the pond binary, when --pond is not given
//        CHROMIUM   the Chromium to drive (default /usr/bin/chromium; Debian: apt-get install chromium)
//        HEADED=1   show the browser
// Starts `pond demo` on a free port with a temporary data folder, waits for the demo data, runs
// every journey (or the ones named) in one browser and stops the demo. Each journey prints
// `ok <name> (<ms> ms)` or `FAIL <name>: <error>`; a failure leaves a full-page screenshot in
// target/browser-failures/<name>.png (and pond's log in pond.log there). Exit code 1 if any failed.
// `cargo test -p pond --test browser` runs this with the freshly built binary.
//
// Adding a journey: write `async function name(t)` using the helpers on `t` (t.page(),
// t.phonePage(), t.console(), t.goto(), expectOk, expectNoErrors) and list it in JOURNEYS.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const FAILURES = path.join(process.env.CARGO_TARGET_DIR || path.join(REPO, 'target'), 'browser-failures');
const EMAIL = 'owner@demo.pond';
const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 3, isMobile: true, hasTouch: true, locale: 'zh-CN' };
const SHANGHAI = { latitude: 31.2304, longitude: 121.4737 };
const LOCAL = new Set(['127.0.0.1', 'localhost', '[::1]']);
/** The console's left navigation (not other <nav>s inside a page, such as range tabs). */
const SIDE_NAV = '.layout > nav';

// ---------------------------------------------------------------------------------------------
// Small helpers

function fail(message) {
  throw new Error(message);
}

/** An error `poll` does not retry. */
function fatal(message) {
  throw Object.assign(new Error(message), { fatal: true });
}

/** Retries `fn` until it returns something truthy; throws with `what` and the last error. */
async function poll(what, fn, timeoutMs = 30_000, everyMs = 500) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      if (e.fatal) throw e;
      last = e;
    }
    if (Date.now() > deadline) fail(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last.message}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** A navigation's response must exist and have a status below 400. */
function expectOk(response, what) {
  if (!response) fail(`${what}: no response`);
  if (response.status() >= 400) fail(`${what}: HTTP ${response.status()} for ${response.url()}`);
  return response;
}

/** The page must have logged no console errors, page errors or CSP violations since `since`. */
function expectNoErrors(page, what = page.url(), since = 0) {
  const errors = page.errors.slice(since);
  if (!errors.length) return;
  const counts = new Map();
  for (const e of errors) counts.set(e, (counts.get(e) ?? 0) + 1);
  const lines = [...counts].map(([e, n]) => `${n > 1 ? `${n}× ` : ''}${e}`);
  fail(`${what}: ${errors.length} browser error(s):\n    ${lines.join('\n    ')}`);
}

/** For a CSP report: the page's inline styles and scripts, which `'self'`-only policies block. */
async function inlineCulprits(page) {
  const found = await page.$$eval('[style], style, script:not([src]), [onclick], [onload], [onsubmit], [onchange]', (els) =>
    els.map((el) => el.outerHTML.replace(/>[\s\S]*$/, '>').slice(0, 120)),
  );
  return found.length ? `\n    inline in the page (blocked by the policy): ${found.slice(0, 6).join(' ')}${found.length > 6 ? ` (+${found.length - 6})` : ''}` : '';
}

/** A port that is free now, whose next port (the WeCom simulator's) is free too. */
async function freePort() {
  const listen = (port) =>
    new Promise((resolve) => {
      const s = net.createServer();
      s.once('error', () => resolve(null));
      s.listen(port, '127.0.0.1', () => {
        const p = s.address().port;
        s.close(() => resolve(p));
      });
    });
  for (let i = 0; i < 50; i++) {
    const port = await listen(0);
    if (port && port < 65535 && (await listen(port + 1))) return port;
  }
  fail('no free pair of ports');
}

// ---------------------------------------------------------------------------------------------
// The demo

class Demo {
  constructor(bin) {
    this.bin = bin;
    this.out = '';
    this.log = [];
    this.exited = null;
  }

  async start() {
    try {
      fs.accessSync(this.bin, fs.constants.X_OK);
    } catch {
      fail(`no executable pond at ${this.bin}`);
    }
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pond-browser-'));
    this.port = await freePort();
    this.base = `http://127.0.0.1:${this.port}`;
    this.child = spawn(this.bin, ['demo', '--data-dir', this.dir, '--listen', `127.0.0.1:${this.port}`], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1' },
    });
    this.child.on('error', (e) => (this.exited = `could not start ${this.bin}: ${e.message}`));
    this.child.on('exit', (code, signal) => (this.exited ??= `pond demo exited (${signal || `code ${code}`})`));
    const keep = (chunk) => {
      this.log.push(chunk.toString());
      if (this.log.length > 2000) this.log.splice(0, 1000);
    };
    this.child.stdout.on('data', (c) => {
      this.out += c;
      keep(c);
    });
    this.child.stderr.on('data', keep);
    this.password = await poll('the demo password on pond demo\'s output', () => {
      if (this.exited) fatal(this.exited);
      return /Password:\s+(\S+)/.exec(this.out)?.[1];
    }, 30_000, 100);
    await poll(`${this.base}/readyz`, async () => {
      if (this.exited) fatal(this.exited);
      return (await fetch(`${this.base}/readyz`)).status === 200;
    }, 30_000, 100);
  }

  async stop() {
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 3000);
      await gone;
      clearTimeout(t);
    }
    if (this.dir) fs.rmSync(this.dir, { recursive: true, force: true });
  }

  /** Last-resort synchronous clean-up (process exit). */
  kill() {
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    if (this.dir) fs.rmSync(this.dir, { recursive: true, force: true, maxRetries: 3 });
  }
}

// ---------------------------------------------------------------------------------------------
// The browser side: what every journey gets as `t`

class Session {
  constructor(browser, demo) {
    this.browser = browser;
    this.demo = demo;
    this.base = demo.base;
    this.auth = null; // storageState of a logged-in owner, after the first login
    this.open = []; // contexts opened by the running journey
    this.pages = [];
  }

  /** A page in a new context (opts: Playwright context options) collecting its browser errors. */
  async page(opts = {}) {
    const context = await this.browser.newContext({ baseURL: this.base, locale: 'zh-CN', ...opts });
    context.setDefaultTimeout(15_000);
    context.setDefaultNavigationTimeout(20_000);
    this.open.push(context);
    const page = await context.newPage();
    page.errors = [];
    page.on('console', (m) => {
      if (m.type() !== 'error') return;
      const where = m.location()?.url;
      // CSP reports end in a paragraph of advice; the directive is what matters.
      const message = m.text().replace(/ Either the 'unsafe-inline'[\s\S]*$/, '');
      page.errors.push(`console.error: ${message}${where && where !== page.url() ? ` (${where})` : ''}`);
    });
    page.on('pageerror', (e) => page.errors.push(`pageerror: ${e.message}`));
    // Hermetic: nothing leaves the machine, so results do not depend on the network CI has.
    await page.route(
      (url) => /^(https?|wss?):$/.test(url.protocol) && !LOCAL.has(url.hostname),
      (route) => {
        page.errors.push(`blocked off-machine request: ${route.request().url()}`);
        return route.abort('blockedbyclient');
      },
    );
    this.pages.push(page);
    return page;
  }

  /** A page in a phone-sized context (390×844, touch), not logged in: what a customer sees. */
  phonePage(opts = {}) {
    return this.page({ ...PHONE, ...opts });
  }

  /** Navigates and asserts the status is below 400. */
  async goto(page, url, what = url, waitUntil = 'load') {
    return expectOk(await page.goto(url, { waitUntil }), what);
  }

  /** Fills and submits the login form; returns the submit's navigation response. */
  async login(page, password = this.demo.password) {
    await this.goto(page, '/login');
    await page.fill('input[name=email]', EMAIL);
    await page.fill('input[name=password]', password);
    const [response] = await Promise.all([
      page.waitForNavigation({ waitUntil: 'load' }),
      page.click('form[action="/login"] button'),
    ]);
    return response;
  }

  /** A desktop page logged in as the demo owner. */
  async console() {
    if (this.auth) return this.page({ storageState: this.auth });
    const page = await this.page();
    await this.login(page);
    if (new URL(page.url()).pathname !== '/console') fail(`login did not reach /console but ${page.url()}`);
    this.auth = await page.context().storageState();
    return page;
  }

  async closeAll() {
    for (const c of this.open.splice(0)) await c.close().catch(() => {});
    this.pages = [];
  }
}

/** Evaluates in the page: waits for every <img> to finish (loaded or broken), then lists the broken ones. */
async function brokenImages(page) {
  await page
    .waitForFunction(() => [...document.images].every((i) => i.complete), null, { timeout: 10_000 })
    .catch(() => {});
  return page.$$eval('img', (imgs) =>
    imgs.filter((i) => !i.complete || i.naturalWidth === 0).map((i) => `<img src="${i.src}" alt="${i.alt}">`),
  );
}

async function expectImagesLoaded(page) {
  const count = await page.locator('img').count();
  const broken = await brokenImages(page);
  if (broken.length) fail(`${broken.length} of ${count} image(s) did not load (naturalWidth 0): ${broken.join(', ')}`);
}

/** A path relative to the working directory when it is below it, else absolute. */
const shown = (file) => (path.relative(process.cwd(), file).startsWith('..') ? file : path.relative(process.cwd(), file));

const text = async (locator) => (await locator.innerText()).trim();

// ---------------------------------------------------------------------------------------------
// Journeys

async function login(t) {
  const page = await t.page();
  const wrong = await t.login(page, 'not-the-password');
  if (wrong?.status() !== 401) fail(`a wrong password answered HTTP ${wrong?.status()}, expected 401`);
  if (new URL(page.url()).pathname !== '/login') fail(`a wrong password led to ${page.url()}`);
  const error = page.locator('main .error');
  if (!(await error.isVisible())) fail('a wrong password shows no error message');
  if (!(await text(error))) fail('the error message is empty');
  // The 401 itself is reported by Chromium as a failed resource; nothing else may be.
  page.errors = page.errors.filter((e) => !/status of 401/.test(e));
  expectNoErrors(page, 'login form');
  const right = await t.login(page);
  expectOk(right, 'login with the right password');
  if (new URL(page.url()).pathname !== '/console') fail(`the right password led to ${page.url()}, not /console`);
  if (!(await page.locator(`${SIDE_NAV} a`).count())) fail('no navigation after login');
  expectNoErrors(page, 'console after login');
  t.auth = await page.context().storageState();
}

async function dashboard(t) {
  const page = await t.console();
  await t.goto(page, '/console');
  if (!(await text(page.locator('main h1').first()))) fail('the dashboard has no heading');
  if (!(await page.locator(`${SIDE_NAV} a.on[href="/console"]`).count())) fail('the overview is not the active nav entry');
  expectNoErrors(page, '/console');
}

async function customers(t) {
  const page = await t.console();
  await t.goto(page, '/console/customers');
  const links = page.locator('main table a[href^="/console/customers/"]');
  const n = await links.count();
  if (!n) fail('the customers list shows no rows');
  const first = links.first();
  const name = await text(first);
  const href = await first.getAttribute('href');
  const [response] = await Promise.all([page.waitForNavigation(), first.click()]);
  expectOk(response, `customer ${href}`);
  if (new URL(page.url()).pathname !== href) fail(`clicking ${href} led to ${page.url()}`);
  const heading = await text(page.locator('main h1'));
  if (!heading) fail(`customer ${href} has no name heading`);
  if (name && !heading.startsWith(name)) fail(`customer heading "${heading}" does not match the list's "${name}"`);
  expectNoErrors(page);
}

async function language(t) {
  const page = await t.console();
  await t.goto(page, '/console/customers');
  const lang = () => page.evaluate(() => document.documentElement.lang);
  if ((await lang()) !== 'zh-CN') fail(`the console starts in <html lang="${await lang()}">, not zh-CN`);
  const zhTitle = await text(page.locator('main h1'));
  for (const [label, want] of [['English', 'en'], ['中文', 'zh-CN']]) {
    const link = page.locator('header a', { hasText: label });
    if ((await link.count()) !== 1) fail(`no header link "${label}"`);
    const [response] = await Promise.all([page.waitForNavigation(), link.click()]);
    expectOk(response, `switch to ${want}`);
    if (new URL(page.url()).pathname !== '/console/customers') fail(`switching to ${want} led to ${page.url()}`);
    if ((await lang()) !== want) fail(`after "${label}" <html lang="${await lang()}">, expected ${want}`);
    const title = await text(page.locator('main h1'));
    if (want === 'en' && title === zhTitle) fail(`the heading stayed "${title}" in English`);
    if (want === 'zh-CN' && title !== zhTitle) fail(`the heading is "${title}" back in Chinese, was "${zhTitle}"`);
  }
  expectNoErrors(page);
}

async function crawl(t) {
  const page = await t.console();
  const problems = [];
  let visited = 0;
  for (const lang of ['zh', 'en']) {
    await t.goto(page, `/lang?to=${lang}&back=/console`);
    const hrefs = [...new Set(await page.$$eval(`${SIDE_NAV} a`, (as) => as.map((a) => a.getAttribute('href'))))];
    if (hrefs.length < 5) fail(`only ${hrefs.length} navigation links in ${lang}`);
    for (const href of hrefs) {
      const since = page.errors.length;
      visited++;
      try {
        await t.goto(page, href, `${href} (${lang})`);
        if (!(await page.locator('main h1').count())) fail(`${href} (${lang}): no heading`);
        const htmlLang = await page.evaluate(() => document.documentElement.lang);
        if (htmlLang !== (lang === 'en' ? 'en' : 'zh-CN')) fail(`${href} (${lang}): <html lang="${htmlLang}">`);
        expectNoErrors(page, `${href} (${lang})`, since);
      } catch (e) {
        const csp = page.errors.slice(since).some((err) => err.includes('Content Security Policy'));
        problems.push({ href, lang, message: e.message + (csp ? await inlineCulprits(page) : '') });
      }
    }
  }
  if (problems.length) {
    // Leave the first broken page on screen for the screenshot.
    await page.goto(`/lang?to=${problems[0].lang}&back=${problems[0].href}`).catch(() => {});
    fail(`${problems.length} of ${visited} pages failed:\n  ${problems.map((p) => p.message).join('\n  ')}`);
  }
  return `${visited} pages`;
}

/** The landing URL of the demo's landing-mode code, read from the console (codes list → detail). */
async function landingUrl(t) {
  const page = await t.console();
  const detail = await poll('a landing-mode channel code in /console/codes', async () => {
    await t.goto(page, '/console/codes');
    const rows = page.locator('main table tr[data-mode="landing"]');
    return (await rows.count()) ? rows.first().locator('a[href^="/console/codes/"]').first().getAttribute('href') : null;
  });
  await t.goto(page, detail);
  const url = await page.locator('#landing-url').inputValue();
  if (!url) fail(`code ${detail} shows no landing URL`);
  return url; // (errors on console pages are the crawl's business)
}

async function landingPage(t) {
  const url = await landingUrl(t);
  const page = await t.phonePage();
  await t.goto(page, url, `landing page ${url}`, 'domcontentloaded');
  const title = await text(page.locator('h1'));
  if (!title) fail('the landing page has no title');
  const staff = page.locator('.who');
  if (!(await staff.count())) fail(`the landing page offers nobody: "${await text(page.locator('.hint'))}"`);
  if (!(await text(staff))) fail('the landing page names no staff member');
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  if (width > 390) fail(`the landing page is ${width}px wide on a 390px phone`);
  await expectImagesLoaded(page);
  expectNoErrors(page, 'landing page');
}

/** The regional store code's URL, read from /console/stores. */
async function regionalUrl(t) {
  const page = await t.console();
  return poll('the regional code link in /console/stores', async () => {
    await t.goto(page, '/console/stores');
    return (await page.locator('main table tr td').count()) && page.locator('#regional-url').inputValue();
  });
}

async function regionalGranted(t) {
  const url = await regionalUrl(t);
  const page = await t.phonePage({ permissions: ['geolocation'], geolocation: SHANGHAI });
  await t.goto(page, url, `regional page ${url}`, 'domcontentloaded');
  // The page asks for the location and reloads itself with it.
  await page.waitForURL(/[?&]lat=/, { waitUntil: 'domcontentloaded' });
  const { searchParams: q } = new URL(page.url());
  if (Math.abs(+q.get('lat') - SHANGHAI.latitude) > 1e-6 || Math.abs(+q.get('lng') - SHANGHAI.longitude) > 1e-6)
    fail(`the page sent the wrong location: ${page.url()}`);
  const store = await text(page.locator('h1'));
  if (!store || store === '选择门店') fail(`no store was chosen near Shanghai: "${store}", "${await text(page.locator('.card'))}"`);
  if (!(await text(page.locator('.who')))) fail(`store ${store} names no staff member`);
  const hint = await text(page.locator('.hint').first());
  if (!/^距您约 .*上海/.test(hint)) fail(`store ${store}: expected its distance and a Shanghai address, got "${hint}"`);
  await expectImagesLoaded(page);
  expectNoErrors(page, 'regional page (located)');
}

async function regionalRefused(t) {
  const url = await regionalUrl(t);
  const page = await t.phonePage(); // no geolocation permission
  await t.goto(page, url, `regional page ${url}`, 'domcontentloaded');
  await page.waitForURL(/[?&]denied=1/, { waitUntil: 'domcontentloaded' });
  const heading = await text(page.locator('h1'));
  if (heading !== '选择门店') fail(`without a location the page shows "${heading}", not the store picker`);
  const message = await text(page.locator('#msg'));
  if (!message.includes('无法获取位置')) fail(`the picker does not say the location is unavailable: "${message}"`);
  const cities = page.locator('nav.cities a.store');
  if ((await cities.count()) < 2) fail(`the picker lists ${await cities.count()} cities`);
  expectNoErrors(page, 'store picker');
  // Opening a city lists its stores (a page at a time); picking one shows that store.
  const [opened] = await Promise.all([page.waitForNavigation({ waitUntil: 'domcontentloaded' }), cities.first().click()]);
  expectOk(opened, 'open a city');
  const choice = page.locator('a.store[href*="store="]').first();
  if (!(await choice.count())) fail('the city lists no stores');
  const name = (await choice.evaluate((a) => a.firstChild.textContent)).trim();
  const [response] = await Promise.all([page.waitForNavigation({ waitUntil: 'domcontentloaded' }), choice.click()]);
  expectOk(response, `store ${name}`);
  if ((await text(page.locator('h1'))) !== name) fail(`picking "${name}" shows "${await text(page.locator('h1'))}"`);
  if (!(await text(page.locator('.who')))) fail(`store ${name} names no staff member`);
}


/** Picks `query` in the searchable picker that enhances `select#id` (types, then clicks the first match). */
async function pick(page, id, query) {
  const picker = page.locator(`select#${id} + .picker`);
  if (!(await picker.count())) fail(`no searchable picker for #${id} (is pond.js running?)`);
  await picker.locator('input.picker-search').fill(query);
  const option = picker.locator('li[data-value]').first();
  if (!(await option.count())) fail(`the picker #${id} found nothing for "${query}"`);
  const label = await option.evaluate((li) => li.firstChild.textContent.trim());
  await option.click();
  return label;
}

/** Submits the form holding `selector` and waits for the page it leads to. */
async function submit(page, selector) {
  const [response] = await Promise.all([page.waitForNavigation(), page.click(selector)]);
  return response;
}

async function channelCode(t) {
  const page = await t.console();
  await t.goto(page, '/console/codes/new');
  await page.fill('#name', '浏览器测试活码');
  await page.selectOption('#mode', 'landing');
  await page.fill('#state', 'browser-e2e');
  // Employees by pinyin initials and by id, a tag by name: the pickers search all three ways.
  const staffName = await pick(page, 'staff', 's001e01');
  const initials = await page.evaluate(() => {
    const o = [...document.querySelectorAll('select#backup option')].find((x) => x.value === 's002e01');
    return o ? o.dataset.search.split(' ')[0] : '';
  });
  if (!initials) fail('employee options carry no pinyin initials');
  await pick(page, 'backup', initials);
  await pick(page, 'auto_tags', '包裹卡');
  expectOk(await submit(page, 'form.form button.primary'), 'create the code');
  if (!/\/console\/codes\/\d+/.test(new URL(page.url()).pathname)) fail(`creating led to ${page.url()}`);
  const detail = await page.locator('main').innerText();
  for (const want of ['浏览器测试活码', staffName.split(' · ')[0], '包裹卡']) {
    if (!detail.includes(want)) fail(`the code page does not show "${want}"`);
  }
  if (!(await page.locator('.toast').count())) fail('no success toast after creating');
  await expectImagesLoaded(page);
  // Edit: rename, then the detail shows the new name.
  expectOk(await Promise.all([page.waitForNavigation(), page.click('main a.btn.primary')]).then((r) => r[0]), 'open the edit form');
  await page.fill('#name', '浏览器测试活码-改');
  expectOk(await submit(page, 'form.form button.primary'), 'save the edit');
  if (!(await text(page.locator('main h1'))).includes('浏览器测试活码-改')) fail('the edit did not show');
  // Delete: the dialog names what stops working; cancel keeps the code, confirm deletes it.
  const codeUrl = new URL(page.url()).pathname;
  await page.click('main form[data-confirm] button');
  const dialog = page.locator('dialog.confirm[open]');
  if (!(await dialog.count())) fail('deleting shows no confirmation dialog');
  if (!(await text(dialog)).includes('二维码')) fail('the dialog does not say that the QR codes stop working');
  await dialog.locator('button[value=cancel]').click();
  if (new URL(page.url()).pathname !== codeUrl) fail('cancelling left the page');
  await page.click('main form[data-confirm] button');
  const [response] = await Promise.all([page.waitForNavigation(), page.locator('dialog.confirm[open] button[value=ok]').click()]);
  expectOk(response, 'delete the code');
  if (new URL(page.url()).pathname !== '/console/codes') fail(`deleting led to ${page.url()}`);
  if ((await page.locator('main').innerText()).includes('浏览器测试活码-改')) fail('the deleted code is still listed');
  expectNoErrors(page, 'channel code journey');
}

async function importStores(t) {
  const page = await t.console();
  await t.goto(page, '/console/stores');
  await page.fill('#csv', 'name,address,city,latitude,longitude,staff\n浏览器测试店,测试路1号,上海,31.2,121.4,nobody\n');
  const refused = await submit(page, 'form[action="/console/stores"][method="post"] button.primary');
  if (refused?.status() !== 422) fail(`a bad import answered ${refused?.status()}, not 422`);
  if (!(await page.locator('main table').last().innerText()).includes('nobody')) fail('the report does not name the unknown employee');
  // The refusal's 422 is itself reported by Chromium as a failed resource; nothing else may be.
  page.errors = page.errors.filter((e) => !/status of 422/.test(e));
  await page.fill('#csv', 'name,address,city,latitude,longitude,staff\n浏览器测试店,测试路1号,上海,31.2,121.4,s001e01\n');
  expectOk(await submit(page, 'form[action="/console/stores"][method="post"] button.primary'), 'import the stores');
  // The import runs in the background; its page refreshes itself until it ends.
  const importUrl = new URL(page.url()).pathname;
  if (!importUrl.startsWith('/console/imports/')) fail(`importing led to ${page.url()}`);
  await poll('the store import to finish', async () => {
    await t.goto(page, importUrl);
    if (await page.locator('main .error').count()) fail(`the store import failed: ${await page.locator('main').innerText()}`);
    return page.locator('main .alert a[href="/console/stores"]').count();
  });
  await t.goto(page, '/console/stores');
  if (!(await page.locator('main').innerText()).includes('浏览器测试店')) fail('the imported store is not listed');
  expectNoErrors(page, 'stores');
}

async function customerTags(t) {
  const page = await t.console();
  await t.goto(page, '/console/customers?status=live');
  const [response] = await Promise.all([page.waitForNavigation(), page.locator('main table a[href^="/console/customers/"]').first().click()]);
  expectOk(response, 'open a customer');
  const panel = page.locator('section[data-follow]').first();
  const select = panel.locator('select[data-picker]');
  const id = await select.getAttribute('id');
  const label = await pick(page, id, '公众号');
  await panel.locator('input[name=remark]').fill('浏览器备注');
  const [saved] = await Promise.all([page.waitForNavigation(), panel.locator('button.primary').click()]);
  expectOk(saved, 'save the customer tags');
  const remark = await page.locator('section[data-follow] input[name=remark]').first().inputValue();
  if (remark !== '浏览器备注') fail(`the remark was not saved (it shows "${remark}")`);
  const chips = await page.locator('section[data-follow] .picker .chip').allInnerTexts();
  if (!chips.some((c) => c.includes(label.split(' · ')[0]))) fail(`the tag "${label}" is not shown after saving: ${chips}`);
  expectNoErrors(page, 'customer page');
}

async function phoneConsole(t) {
  const page = await t.page({ storageState: t.auth || undefined, viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  if (!t.auth) await t.login(page);
  await t.goto(page, '/console/customers');
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  if (width > 390) fail(`the console is ${width}px wide at 390px`);
  const nav = page.locator('.sidenav');
  const box = await nav.boundingBox();
  if (box && box.x >= 0) fail('the menu is open before it is asked for');
  await page.click('label.menu-btn');
  await page.waitForTimeout(300);
  const opened = await nav.boundingBox();
  if (!opened || opened.x < 0) fail('the menu does not open from the menu button');
  expectNoErrors(page, 'console at 390px');
}

const JOURNEYS = {
  login,
  dashboard,
  customers,
  language,
  crawl,
  channelCode,
  importStores,
  customerTags,
  phoneConsole,
  landingPage,
  regionalGranted,
  regionalRefused,
};

// ---------------------------------------------------------------------------------------------
// Runner

function parseArgs(argv) {
  const args = { pond: process.env.POND_BIN, only: [] };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--pond') args.pond = argv[++i];
    else if (argv[i].startsWith('--pond=')) args.pond = argv[i].slice(7);
    else if (argv[i] === '-h' || argv[i] === '--help') args.help = true;
    else args.only.push(argv[i]);
  }
  return args;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const names = args.only.length ? args.only : Object.keys(JOURNEYS);
  if (args.help || !args.pond) {
    console.error(`usage: node browser/run.mjs --pond PATH/TO/pond [journey ...]   (or env POND_BIN)\njourneys: ${Object.keys(JOURNEYS).join(' ')}`);
    return args.help ? 0 : 2;
  }
  const unknown = names.filter((n) => !JOURNEYS[n]);
  if (unknown.length) {
    console.error(`unknown journey(s): ${unknown.join(', ')}; known: ${Object.keys(JOURNEYS).join(' ')}`);
    return 2;
  }
  const started = Date.now();
  fs.mkdirSync(FAILURES, { recursive: true });
  for (const f of fs.readdirSync(FAILURES)) if (f.endsWith('.png') || f === 'pond.log') fs.rmSync(path.join(FAILURES, f));

  const demo = new Demo(path.resolve(args.pond));
  const stop = async (signal) => {
    console.error(`\n${signal}: stopping pond demo`);
    await demo.stop().catch(() => {});
    process.exit(128 + os.constants.signals[signal]);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  process.on('exit', () => demo.kill());
  // Output piped into something that stops reading (`| head`) must not skip the clean-up.
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {});

  let browser;
  let failed = 0;
  const run = async (name, fn, t) => {
    const t0 = Date.now();
    try {
      const note = await fn(t);
      console.log(`ok ${name} (${Date.now() - t0} ms)${typeof note === 'string' ? ` · ${note}` : ''}`);
      return true;
    } catch (e) {
      failed++;
      const message = String((e && e.message) || e);
      console.log(`FAIL ${name}: ${message}`);
      const page = t?.pages.at(-1);
      const unreported = [...new Set(page?.errors ?? [])].filter((err) => !message.includes(err));
      if (unreported.length) console.log(`     browser errors on that page:\n       ${unreported.slice(0, 5).join('\n       ')}`);
      if (page && !page.isClosed()) {
        const file = path.join(FAILURES, `${name}.png`);
        await page.screenshot({ path: file, fullPage: true, timeout: 10_000 }).then(
          () => console.log(`     screenshot: ${shown(file)}`),
          (err) => console.log(`     (no screenshot: ${err.message.split('\n')[0]})`),
        );
      }
      return false;
    } finally {
      await t?.closeAll();
    }
  };
  try {
    let ready = await run('start', async () => {
      await demo.start();
      console.log(`     pond demo at ${demo.base} (data in ${demo.dir})`);
      browser = await chromium.launch({
        executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
        args: ['--no-sandbox'],
        headless: !process.env.HEADED,
      });
    });
    const t = ready && new Session(browser, demo);
    // Demo data: the sync takes a few seconds after start.
    ready &&= await run('demo-data', async () => {
      const page = await t.console();
      await poll('customers in /console/customers (the demo sync)', async () => {
        await t.goto(page, '/console/customers');
        return (await page.locator('main table a[href^="/console/customers/"]').count()) > 0;
      }, 60_000, 1000);
    }, t);
    if (ready) for (const name of names) await run(name, JOURNEYS[name], t);
    else console.log(`     pond's last output:\n${demo.log.join('').trimEnd().split('\n').slice(-20).join('\n')}`);
  } finally {
    if (browser) await browser.close().catch(() => {});
    if (failed) {
      fs.writeFileSync(path.join(FAILURES, 'pond.log'), demo.log.join(''));
      console.log(`     pond's output: ${shown(path.join(FAILURES, 'pond.log'))}`);
    }
    await demo.stop();
  }
  console.log(`${failed ? `${failed} failed` : 'all passed'} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
