// Screenshots of the console and a phone page for the README (docs/screenshots/), taken from a
// running demo:  node browser/screenshots.mjs http://127.0.0.1:8080 <owner password> docs/screenshots
// Needs Debian's Chromium (and fonts-noto-cjk for the Chinese to render).
import path from 'node:path';
import { chromium } from 'playwright-core';

const [base, password, out = 'docs/screenshots'] = process.argv.slice(2);
if (!base || !password) {
  console.error('usage: node browser/screenshots.mjs <base URL> <owner password> [out dir]');
  process.exit(2);
}
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox'] });
const desktop = await browser.newContext({ baseURL: base, viewport: { width: 1440, height: 900 }, locale: 'zh-CN', deviceScaleFactor: 1 });
const page = await desktop.newPage();
await page.goto('/login');
await page.fill('input[name=email]', 'owner@demo.pond');
await page.fill('input[name=password]', password);
await Promise.all([page.waitForNavigation(), page.click('form[action="/login"] button')]);
const shot = async (p, file, prepare) => {
  await page.goto(p);
  if (prepare) await prepare(page);
  await page.screenshot({ path: path.join(out, file) });
  console.log(file);
};
await shot('/console', 'dashboard.png');
await shot('/console/customers', 'customers.png');
await shot('/console/codes/new', 'code-form-picker.png', async (p) => {
  await p.fill('#name', '国庆门店海报');
  await p.locator('select#staff + .picker input.picker-search').fill('s00');
  await p.locator('select#staff + .picker li[data-value]').first().click();
  await p.locator('select#staff + .picker li[data-value]').nth(4).click();
  await p.locator('select#staff + .picker input.picker-search').fill('');
  await p.locator('select#staff + .picker input.picker-search').type('l');
});
await page.goto('/console/codes');
const codes = await page.locator('main table tr[data-mode="landing"] a[href^="/console/codes/"]').first().getAttribute('href');
await page.goto(codes);
const landing = await page.locator('#landing-url').inputValue();
const phone = await browser.newContext({ viewport: { width: 390, height: 760 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true, locale: 'zh-CN' });
const mobile = await phone.newPage();
await mobile.goto(landing);
await mobile.waitForLoadState('load');
await mobile.screenshot({ path: path.join(out, 'phone-landing.png') });
console.log('phone-landing.png');
await browser.close();
