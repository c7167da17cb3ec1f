//! Every console page, in both languages, over real HTTP against Pond and the simulator: no
//! error status, no missing text, no English words in a zh-CN page (ids and proper names aside),
//! and hostile names — from WeCom (employee, department, tag, group, customer) and from operators
//! (code, store, welcome message) — escaped everywhere, phone pages included.

mod common;

use axum::http::Method;
use common::world::{console_login_as, settle, setup};
use pond_store::{Db, test_on_both_backends};

test_on_both_backends!(every_console_page_renders_in_both_languages_and_escapes_hostile_names);

const HOSTILE: &str = "\"'><script>alert(1)</script>";

/// Words allowed in a zh-CN page: product and protocol names, and the demo corp's own name.
const ALLOWED: &[&str] = &[
    "pond",
    "wecom",
    "csv",
    "png",
    "svg",
    "api",
    "url",
    "token",
    "encodingaeskey",
    "secret",
    "state",
    "userid",
    "external",
    "asia",
    "utc",
    "scrm",
    "english",
    "shanghai",
    "chongqing",
    "urumqi",
    "hong",
    "kong",
    "macau",
    "taipei",
    "singapore",
    "kuala",
    "lumpur",
    "manila",
    "tokyo",
    "seoul",
    "bangkok",
    "jakarta",
    "chi",
    "minh",
    "dubai",
    "top",
    "alert",
    "script",
    "javascript",
    "https",
    "logo",
    "corpid",
    "agentid",
    "secret",
    "jpg",
    "png",
];

/// The text a person reads on a page: text nodes outside `<script>`, `<style>`, `<code>`, `<svg>`.
fn visible_text(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = html;
    let mut skip_until: Option<&str> = None;
    while let Some(lt) = rest.find('<') {
        let text = &rest[..lt];
        if skip_until.is_none() && !text.trim().is_empty() {
            out.push(text.trim().to_owned());
        }
        let Some(gt) = rest[lt..].find('>') else { break };
        let tag = &rest[lt + 1..lt + gt];
        let name: String = tag.trim_start_matches('/').chars().take_while(|c| c.is_ascii_alphanumeric()).collect();
        match skip_until {
            Some(end) if tag.starts_with('/') && name == end => skip_until = None,
            None if !tag.starts_with('/')
                && !tag.ends_with('/')
                && ["script", "style", "code", "svg"].contains(&name.as_str()) =>
            {
                skip_until = Some(match name.as_str() {
                    "script" => "script",
                    "style" => "style",
                    "code" => "code",
                    _ => "svg",
                });
            }
            _ => {}
        }
        rest = &rest[lt + gt + 1..];
    }
    out
}

/// English words (three letters or more) in a text, leaving out ids, e-mails, URLs and the
/// allowed names.
fn english_words(text: &str) -> Vec<String> {
    text.split_whitespace()
        .filter(|token| !token.contains(|c: char| c.is_ascii_digit() || "@_/.:-=&;#".contains(c)))
        .flat_map(|token| token.split(|c: char| !c.is_ascii_alphabetic()))
        .filter(|w| w.len() >= 3)
        .filter(|w| !ALLOWED.contains(&w.to_ascii_lowercase().as_str()))
        .map(str::to_owned)
        .collect()
}

async fn every_console_page_renders_in_both_languages_and_escapes_hostile_names(db: Db) {
    let s = setup(db, false).await;
    let (hostile_user, hostile_customer) = {
        let mut w = s.sim.state.world();
        let user = w.users.keys().next().cloned().unwrap();
        w.users.get_mut(&user).unwrap().name = HOSTILE.into();
        let customer = w.customers.keys().next().cloned().unwrap();
        w.customers.get_mut(&customer).unwrap().name = HOSTILE.into();
        if let Some(d) = w.departments.values_mut().next() {
            d.name = HOSTILE.into();
        }
        if let Some(t) = w.tags.values_mut().next() {
            t.name = HOSTILE.into();
        }
        if let Some(g) = w.groups.values_mut().next() {
            g.name = HOSTILE.into();
        }
        (user, customer)
    };
    pond_app::sync::run_full_sync(&s.pond.app, s.corp_id, "test").await.unwrap();
    settle(&s).await;
    let (session, csrf) = console_login_as(&s, "crawler@pond.test", pond_core::Role::Owner).await;
    let base = format!("http://{}", s.pond.addr);
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let post = |path: String, body: String| {
        let (http, url, session) = (http.clone(), format!("{base}{path}"), session.clone());
        async move {
            http.post(url)
                .header("cookie", session)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await
                .unwrap()
        }
    };
    let enc = |t: &str| pond_server::console::session::encode_component(t);
    // What operators type, with the same hostile name.
    let made = post(
        "/console/welcome".into(),
        format!("_csrf={csrf}&name={}&text=%E6%AC%A2%E8%BF%8E&is_default=on", enc(HOSTILE)),
    )
    .await;
    assert_eq!(made.status(), 303, "{:?}", made.text().await);
    let made = post(
        "/console/codes".into(),
        format!("_csrf={csrf}&name={}&mode=landing&strategy=random&state=hostile-1&staff={hostile_user}", enc(HOSTILE)),
    )
    .await;
    assert_eq!(made.status(), 303, "{:?}", made.text().await);
    let code_id: i64 = made.headers()["location"]
        .to_str()
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let quoted = format!("\"{}\"", HOSTILE.replace('"', "\"\""));
    let csv =
        format!("name,address,city,latitude,longitude,staff\n{quoted},南京西路1号,上海,31.23,121.47,{hostile_user}\n");
    let stores = post("/console/stores".into(), format!("_csrf={csrf}&csv={}", enc(&csv))).await;
    assert_eq!(stores.status(), 303, "stores import: {:?}", stores.text().await);
    let import_page = stores.headers()["location"].to_str().unwrap().to_owned();
    let import_id = import_page.rsplit('/').next().unwrap().to_owned();
    // The import runs in the background: its page refreshes itself until the stores are written.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let page = http.get(format!("{base}{import_page}")).header("cookie", &session).send().await.unwrap();
        let body = page.text().await.unwrap();
        if !body.contains("http-equiv=\"refresh\"") {
            assert!(body.contains("已全部导入"), "the store import did not end well: {body}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the store import is still running");
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    }

    let live_tag = pond_store::tag::all_live(&s.pond.app.db, s.corp_id).await.unwrap()[0].0.clone();
    let fill = |path: &str| -> Option<String> {
        if path.contains("{*") {
            return None;
        }
        if path.starts_with("/console/imports/") {
            return Some(path.replace("{id}", &import_id));
        }
        Some(
            path.replace("{id}", &code_id.to_string())
                .replace("{external_userid}", &enc(&hostile_customer))
                .replace("{userid}", &enc(&hostile_user))
                .replace("{format}", "qr.png")
                .replace("{tag_id}", &enc(&live_tag)),
        )
    };
    let mut pages = 0;
    for (method, pattern, _) in pond_server::console::protected_routes() {
        if method != Method::GET {
            continue;
        }
        let Some(path) = fill(pattern) else { continue };
        for lang in ["zh", "en"] {
            let resp = http
                .get(format!("{base}{path}"))
                .header("cookie", format!("{session}; pond_lang={lang}"))
                .send()
                .await
                .unwrap();
            let status = resp.status();
            let html = resp.headers().get("content-type").is_some_and(|t| t.to_str().unwrap().starts_with("text/html"));
            assert!(status.is_success(), "{path} ({lang}) answered {status}");
            if !html {
                continue;
            }
            assert_eq!(resp.headers()["cache-control"], "no-store", "{path}");
            assert!(resp.headers()["content-security-policy"].to_str().unwrap().contains("script-src 'self'"));
            let body = resp.text().await.unwrap();
            pages += 1;
            assert!(!body.contains("⟨missing text⟩"), "{path} ({lang}) has a missing text");
            assert!(!body.contains("<script>alert(1)"), "{path} ({lang}) let a hostile name through unescaped");
            assert!(!body.contains(" style=\""), "{path} ({lang}) has an inline style (CSP forbids it)");
            if lang == "zh" {
                let english: Vec<String> = visible_text(&body).iter().flat_map(|t| english_words(t)).collect();
                assert!(english.is_empty(), "{path} (zh-CN) shows English: {english:?}");
            }
        }
    }
    assert!(pages >= 40, "only {pages} console pages checked");
    // The hostile names reached the pages that show them, escaped.
    for path in [
        "/console/staff",
        "/console/customers",
        "/console/tags",
        "/console/groups",
        "/console/codes",
        "/console/welcome",
        "/console/stores",
    ] {
        let body =
            http.get(format!("{base}{path}")).header("cookie", &session).send().await.unwrap().text().await.unwrap();
        let shown = body.contains("&#34;&#39;&#62;&#60;script&#62;alert(1)");
        let at = body
            .find("alert")
            .or(body.find("script&gt;"))
            .map(|i| &body[i.saturating_sub(60)..(i + 20).min(body.len())]);
        assert!(shown, "{path} does not show the hostile name (escaped): {at:?}");
    }
    // Phone pages.
    for path in [format!("/c/{}/{code_id}", s.corp_id), format!("/r/{}", s.corp_id)] {
        let body = http.get(format!("{base}{path}")).send().await.unwrap().text().await.unwrap();
        assert!(!body.contains("<script>alert(1)"), "{path} let a hostile name through");
        assert!(!body.contains(" style=\""), "{path} has an inline style");
    }
    s.pond.shutdown().await;
}

#[test]
fn english_detection_sees_words_not_ids() {
    assert_eq!(english_words("Full sync now"), vec!["Full", "sync", "now"]);
    assert!(english_words("s001e01 store-003 owner@demo.pond 2026-11-01 12:00").is_empty());
    assert_eq!(visible_text("<p>你好<code>abc def</code><script>var x</script> world</p>"), vec!["你好", "world"]);
}
