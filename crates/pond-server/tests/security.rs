//! Security through the public surface, as an attacker would try it: every route's lowest role
//! (derived from the router, so a new route without a rule fails here), throttled logins, sessions
//! ended on password change and disable, sealed secrets, settings that cannot be half-replaced or
//! pointed elsewhere without the secret, CSV cells that cannot run, links from WeCom that cannot
//! run script, and the same error shape and headers on every answer. Each test runs on SQLite and
//! on PostgreSQL.

mod common;

use std::{net::SocketAddr, time::Duration};

use axum::http::{Method, StatusCode};
use common::{App, PASSWORD};
use pond_core::Role;
use pond_store::{Db, test_on_both_backends};
use serde_json::{Value, json};

test_on_both_backends!(
    every_route_admits_exactly_its_lowest_role,
    logins_are_throttled_per_account_and_audited,
    logins_are_throttled_per_client_address,
    parallel_guesses_are_all_counted,
    the_current_password_check_is_throttled_too,
    password_change_disable_and_sign_out_everywhere_end_sessions,
    secrets_are_sealed_at_rest_and_masked,
    settings_cannot_be_half_replaced_or_pointed_elsewhere_without_the_secret,
    exported_csv_cells_cannot_run_as_formulas,
    hostile_names_are_refused_on_input,
    errors_and_headers_have_one_shape_everywhere,
    metrics_need_a_token_or_loopback,
    an_https_public_url_makes_cookies_secure_and_origins_exact,
    two_owners_demoting_each_other_at_once_leave_one_owner,
    welcome_messages_in_use_cannot_be_deleted,
    javascript_links_from_wecom_are_never_rendered,
    long_lists_are_paged_and_the_store_picker_searches,
);

const ROLES: [Role; 4] = [Role::ReadOnly, Role::Operator, Role::Admin, Role::Owner];

/// The lowest role allowed on every API route, written out here: the router's list must match it
/// exactly, and each route must refuse (403) every role below and no role at or above.
const API_RULES: &[(&str, &str, Role)] = &[
    ("GET", "/api/v1/openapi.json", Role::ReadOnly),
    ("GET", "/api/v1/corp", Role::Admin),
    ("PUT", "/api/v1/corp", Role::Admin),
    ("GET", "/api/v1/jobs", Role::ReadOnly),
    ("POST", "/api/v1/jobs/{id}/retry", Role::Admin),
    ("POST", "/api/v1/jobs/retry", Role::Admin),
    ("GET", "/api/v1/events", Role::ReadOnly),
    ("POST", "/api/v1/events/{id}/retry", Role::Admin),
    ("POST", "/api/v1/events/retry", Role::Admin),
    ("GET", "/api/v1/pipeline/troubles", Role::ReadOnly),
    ("GET", "/api/v1/audit", Role::Admin),
    ("POST", "/api/v1/sync", Role::Admin),
    ("GET", "/api/v1/sync", Role::ReadOnly),
    ("GET", "/api/v1/sync/runs", Role::ReadOnly),
    ("GET", "/api/v1/welcome-messages", Role::ReadOnly),
    ("POST", "/api/v1/welcome-messages", Role::Operator),
    ("PUT", "/api/v1/welcome-messages/{id}", Role::Operator),
    ("DELETE", "/api/v1/welcome-messages/{id}", Role::Operator),
    ("PUT", "/api/v1/staff/{userid}/welcome", Role::Operator),
    ("GET", "/api/v1/channel-codes", Role::ReadOnly),
    ("POST", "/api/v1/channel-codes", Role::Operator),
    ("GET", "/api/v1/channel-codes/{id}", Role::ReadOnly),
    ("PUT", "/api/v1/channel-codes/{id}", Role::Operator),
    ("DELETE", "/api/v1/channel-codes/{id}", Role::Operator),
    ("GET", "/api/v1/channel-codes/{id}/stats", Role::ReadOnly),
    ("GET", "/api/v1/channel-codes/{id}/stats.csv", Role::ReadOnly),
    ("GET", "/api/v1/channel-codes/{id}/qr.png", Role::ReadOnly),
    ("GET", "/api/v1/channel-codes/{id}/qr.svg", Role::ReadOnly),
    ("POST", "/api/v1/channel-codes/import", Role::Operator),
    ("GET", "/api/v1/imports", Role::ReadOnly),
    ("GET", "/api/v1/imports/{id}", Role::ReadOnly),
    ("GET", "/api/v1/stores", Role::ReadOnly),
    ("POST", "/api/v1/stores/import", Role::Operator),
    ("GET", "/api/v1/staff/{userid}/card", Role::ReadOnly),
    ("PUT", "/api/v1/staff/cards", Role::Operator),
    ("GET", "/api/v1/staff", Role::ReadOnly),
    ("GET", "/api/v1/customers", Role::ReadOnly),
    ("GET", "/api/v1/customers/{external_userid}", Role::ReadOnly),
    ("PUT", "/api/v1/customers/{external_userid}/follows/{userid}", Role::Admin),
    ("POST", "/api/v1/customers/bulk-tag", Role::Admin),
    ("GET", "/api/v1/tags", Role::ReadOnly),
    ("POST", "/api/v1/tags", Role::Admin),
    ("PUT", "/api/v1/tags/{tag_id}", Role::Admin),
    ("DELETE", "/api/v1/tags/{tag_id}", Role::Admin),
    ("GET", "/api/v1/groups", Role::ReadOnly),
];

/// The same for the console.
const CONSOLE_RULES: &[(&str, &str, Role)] = &[
    ("POST", "/console/logout", Role::ReadOnly),
    ("GET", "/console/account", Role::ReadOnly),
    ("POST", "/console/account/password", Role::ReadOnly),
    ("POST", "/console/account/sessions/end", Role::ReadOnly),
    ("POST", "/console/users/{id}/sessions/end", Role::Owner),
    ("GET", "/console", Role::ReadOnly),
    ("GET", "/console/design", Role::ReadOnly),
    ("GET", "/console/staff", Role::ReadOnly),
    ("GET", "/console/customers", Role::ReadOnly),
    ("GET", "/console/customers/export.csv", Role::Operator),
    ("POST", "/console/customers/bulk-tag", Role::Admin),
    ("GET", "/console/customers/{external_userid}", Role::ReadOnly),
    ("POST", "/console/customers/{external_userid}/follows/{userid}", Role::Admin),
    ("GET", "/console/tags", Role::ReadOnly),
    ("GET", "/console/tags/new", Role::Admin),
    ("POST", "/console/tags", Role::Admin),
    ("GET", "/console/tags/{tag_id}/edit", Role::Admin),
    ("POST", "/console/tags/{tag_id}", Role::Admin),
    ("POST", "/console/tags/{tag_id}/delete", Role::Admin),
    ("GET", "/console/groups", Role::ReadOnly),
    ("GET", "/console/staff/{userid}/card", Role::ReadOnly),
    ("POST", "/console/staff/{userid}/card", Role::Operator),
    ("GET", "/console/codes", Role::ReadOnly),
    ("GET", "/console/codes/new", Role::Operator),
    ("POST", "/console/codes", Role::Operator),
    ("GET", "/console/codes/import", Role::Operator),
    ("POST", "/console/codes/import", Role::Operator),
    ("GET", "/console/imports", Role::ReadOnly),
    ("GET", "/console/imports/{id}", Role::ReadOnly),
    ("GET", "/console/codes/{id}", Role::ReadOnly),
    ("POST", "/console/codes/{id}", Role::Operator),
    ("GET", "/console/codes/{id}/edit", Role::Operator),
    ("POST", "/console/codes/{id}/delete", Role::Operator),
    ("GET", "/console/codes/{id}/stats.csv", Role::ReadOnly),
    ("GET", "/console/codes/{id}/{format}", Role::ReadOnly),
    ("GET", "/console/stores", Role::ReadOnly),
    ("POST", "/console/stores", Role::Operator),
    ("GET", "/console/stores/{format}", Role::ReadOnly),
    ("POST", "/console/stores/{id}/delete", Role::Operator),
    ("GET", "/console/stores/{id}/edit", Role::Operator),
    ("POST", "/console/stores/{id}/edit", Role::Operator),
    ("GET", "/console/welcome", Role::ReadOnly),
    ("POST", "/console/welcome", Role::Operator),
    ("GET", "/console/welcome/new", Role::Operator),
    ("POST", "/console/welcome/assign", Role::Operator),
    ("GET", "/console/welcome/{id}/edit", Role::Operator),
    ("POST", "/console/welcome/{id}", Role::Operator),
    ("POST", "/console/welcome/{id}/delete", Role::Operator),
    ("GET", "/console/corp", Role::Admin),
    ("POST", "/console/corp", Role::Admin),
    ("GET", "/console/sync", Role::ReadOnly),
    ("POST", "/console/sync", Role::Admin),
    ("GET", "/console/jobs", Role::ReadOnly),
    ("POST", "/console/jobs/{id}/retry", Role::Admin),
    ("POST", "/console/jobs/retry", Role::Admin),
    ("GET", "/console/events", Role::ReadOnly),
    ("POST", "/console/events/{id}/retry", Role::Admin),
    ("POST", "/console/events/retry", Role::Admin),
    ("GET", "/console/audit", Role::Admin),
    ("GET", "/console/users", Role::Owner),
    ("POST", "/console/users", Role::Owner),
    ("POST", "/console/users/{id}", Role::Owner),
    ("GET", "/console/tokens", Role::Owner),
    ("POST", "/console/tokens", Role::Owner),
    ("POST", "/console/tokens/{id}/revoke", Role::Owner),
];

fn concrete(pattern: &str) -> String {
    pattern
        .replace("{id}", "999999")
        .replace("{userid}", "nobody")
        .replace("{external_userid}", "wmNOBODY")
        .replace("{tag_id}", "etNOBODY")
        .replace("{format}", "qr.png")
}

fn sorted(mut routes: Vec<(String, String)>) -> Vec<(String, String)> {
    routes.sort();
    routes
}

async fn every_route_admits_exactly_its_lowest_role(db: Db) {
    let app = App::new(db).await;

    // The API: the routes the router documents, each walked with a token of every role.
    let doc = serde_json::to_value(pond_server::api::openapi()).unwrap();
    let mut routed: Vec<(String, String)> = Vec::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            routed.push((method.to_ascii_uppercase(), path.clone()));
        }
    }
    let expected: Vec<(String, String)> = API_RULES.iter().map(|(m, p, _)| (m.to_string(), p.to_string())).collect();
    assert_eq!(sorted(routed), sorted(expected), "every API route has a rule here, and every rule a route");
    let mut tokens = Vec::new();
    for role in ROLES {
        tokens.push((role, app.token_as(role).await));
    }
    for (method, path, lowest) in API_RULES {
        let mut admitted = Vec::new();
        for (role, token) in &tokens {
            let auth = format!("Bearer {token}");
            let reply = app
                .send(
                    Method::from_bytes(method.as_bytes()).unwrap(),
                    &concrete(path),
                    &[("authorization", &auth), ("content-type", "application/json")],
                    "{}",
                )
                .await;
            if reply.status == StatusCode::FORBIDDEN {
                assert_eq!(reply.json()["code"], "forbidden", "{method} {path}: {}", reply.body);
            } else {
                admitted.push(*role);
            }
        }
        let expected: Vec<Role> = ROLES.iter().copied().filter(|r| r >= lowest).collect();
        assert_eq!(admitted, expected, "API {method} {path} admits exactly {lowest} and above");
    }

    // HEAD is answered by a GET route under the GET's rule.
    let reader = format!("Bearer {}", tokens[0].1);
    assert_eq!(app.send(Method::HEAD, "/api/v1/staff", &[("authorization", &reader)], "").await.status, StatusCode::OK);

    // The console: the routes the route book registered, each walked with a user of every role.
    let booked: Vec<(String, String)> =
        pond_server::console::protected_routes().into_iter().map(|(m, p, _)| (m.to_string(), p.to_owned())).collect();
    let expected: Vec<(String, String)> =
        CONSOLE_RULES.iter().map(|(m, p, _)| (m.to_string(), p.to_string())).collect();
    assert_eq!(sorted(booked), sorted(expected), "every console route has a rule here, and every rule a route");
    let mut sessions = Vec::new();
    for role in ROLES {
        let email = format!("{role}@example.com");
        app.user(&email, role).await;
        sessions.push((role, app.login(&email).await));
    }
    for (method, path, lowest) in CONSOLE_RULES {
        if matches!(*path, "/console/logout" | "/console/account/sessions/end") {
            continue; // open to every role, and they would end the session the walk uses
        }
        let mut admitted = Vec::new();
        for (role, (cookie, csrf)) in &sessions {
            let reply = if *method == "GET" {
                app.get(&concrete(path), &[("cookie", cookie)]).await
            } else {
                app.post_form(&concrete(path), cookie, &format!("_csrf={csrf}")).await
            };
            assert!(!reply.location().starts_with("/login"), "{method} {path} kept the {role} session");
            if reply.status != StatusCode::FORBIDDEN {
                admitted.push(*role);
            }
        }
        let expected: Vec<Role> = ROLES.iter().copied().filter(|r| r >= lowest).collect();
        assert_eq!(admitted, expected, "console {method} {path} admits exactly {lowest} and above");
    }
}

fn peer(last: u8) -> Option<SocketAddr> {
    Some(SocketAddr::from(([10, 0, 0, last], 40_000)))
}

async fn actions_in_audit(app: &App, action: &str) -> Vec<pond_store::audit::AuditEntry> {
    pond_store::audit::list(app.db(), app.corp_id, None, pond_core::PageRequest::new(Some(1), Some(200)))
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.action == action)
        .collect()
}

async fn logins_are_throttled_per_account_and_audited(db: Db) {
    let app = App::new(db).await;
    app.user("guess@example.com", Role::Operator).await;
    for attempt in 1..=5 {
        let reply = app.login_attempt("guess@example.com", "wrong-password", peer(1)).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "wrong password {attempt} is refused");
    }
    // The 6th try within the window is refused without a password check, even with the right one.
    let reply = app.login_attempt("guess@example.com", PASSWORD, peer(2)).await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS, "{}", reply.body);
    let retry: u64 = reply.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=30).contains(&retry), "Retry-After {retry}");
    assert!(reply.body.contains("登录失败次数过多"), "the page says why, in Chinese");
    for _ in 0..3 {
        let again = app.login_attempt("guess@example.com", PASSWORD, peer(3)).await;
        assert_eq!(again.status, StatusCode::TOO_MANY_REQUESTS);
    }
    assert_eq!(actions_in_audit(&app, "console.login_failed").await.len(), 5);
    let throttled = actions_in_audit(&app, "console.login_throttled").await;
    assert_eq!(throttled.len(), 1, "one entry per lockout, however many tries it refuses");
    assert!(throttled[0].detail.contains("10.0.0.2"), "the address is recorded: {}", throttled[0].detail);

    // After the lockout, the right password works, and the count starts again.
    app.state.clock.advance(Duration::from_secs(31));
    let reply = app.login_attempt("guess@example.com", PASSWORD, peer(1)).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let reply = app.login_attempt("guess@example.com", "wrong-password", peer(1)).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "a success clears the account's failures");

    // Each further failure past the limit doubles the lockout.
    for _ in 0..4 {
        app.login_attempt("guess@example.com", "wrong-password", peer(1)).await;
    }
    app.state.clock.advance(Duration::from_secs(31));
    let reply = app.login_attempt("guess@example.com", "wrong-password", peer(1)).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    let reply = app.login_attempt("guess@example.com", PASSWORD, peer(1)).await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = reply.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((31..=60).contains(&retry), "the second lockout is 60 s: Retry-After {retry}");
}

async fn logins_are_throttled_per_client_address(db: Db) {
    let app = App::new(db).await;
    app.user("victim@example.com", Role::Operator).await;
    // One address guessing across many accounts (none of them locked on its own).
    for n in 0..20 {
        let reply = app.login_attempt(&format!("user{n}@example.com"), "wrong-password", peer(7)).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "guess {n}");
    }
    let reply = app.login_attempt("victim@example.com", PASSWORD, peer(7)).await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS, "the address is locked");
    let reply = app.login_attempt("victim@example.com", PASSWORD, peer(8)).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "another address still gets in");

    // IPv6 clients are counted per /64: changing the last 64 bits does not buy fresh guesses.
    let v6 = |last: u16| Some(SocketAddr::from((std::net::Ipv6Addr::new(0x2001, 0xdb8, 1, 2, 0, 0, 0, last), 4000)));
    for n in 0..20u16 {
        let reply = app.login_attempt(&format!("v6-{n}@example.com"), "wrong-password", v6(n)).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "guess {n}");
    }
    assert_eq!(app.login_attempt("victim@example.com", PASSWORD, v6(999)).await.status, StatusCode::TOO_MANY_REQUESTS);

    // Behind a proxy, the address is the one the proxy appended, not what the client wrote first.
    let mut config = pond_app::Config::default();
    config.security.trust_forwarded_for = true;
    let proxied = App::with_config(app.db().clone(), config).await;
    proxied.user("proxied@example.com", Role::Operator).await;
    let form = proxied.get("/login", &[]).await;
    let login_cookie = form.cookie("pond_login_csrf").unwrap();
    let csrf = login_cookie.split_once('=').unwrap().1.to_owned();
    for n in 0..21 {
        // The client writes a first header line; a proxy like HAProxy adds a line of its own.
        let spoof = format!("198.51.100.{n}, 192.0.2.1");
        let body = format!("_csrf={csrf}&email=p{n}%40example.com&password=wrong");
        let reply = proxied
            .send(
                Method::POST,
                "/login",
                &[
                    ("content-type", "application/x-www-form-urlencoded"),
                    ("cookie", &login_cookie),
                    ("x-forwarded-for", &spoof),
                    ("x-forwarded-for", "203.0.113.7:51234"),
                ],
                body,
            )
            .await;
        let expected = if n < 20 { StatusCode::UNAUTHORIZED } else { StatusCode::TOO_MANY_REQUESTS };
        assert_eq!(reply.status, expected, "try {n}: a new spoofed first entry does not escape the count");
    }
}

async fn parallel_guesses_are_all_counted(db: Db) {
    let app = App::new(db).await;
    app.user("racy@example.com", Role::Operator).await;
    let tries =
        (0..12).map(|n| app.login_attempt("racy@example.com", "wrong-password", peer(u8::try_from(n).unwrap())));
    let replies = futures_util::future::join_all(tries).await;
    let checked = replies.iter().filter(|r| r.status == StatusCode::UNAUTHORIZED).count();
    let refused = replies.iter().filter(|r| r.status == StatusCode::TOO_MANY_REQUESTS).count();
    assert_eq!(checked, 5, "exactly the limit's worth of passwords is checked");
    assert_eq!(refused, 7);
    assert_eq!(actions_in_audit(&app, "console.login_failed").await.len(), 5);
    // The lockout came from the checked tries; once it ends, one more try is checked.
    app.state.clock.advance(Duration::from_secs(31));
    assert_eq!(app.login_attempt("racy@example.com", PASSWORD, peer(99)).await.status, StatusCode::SEE_OTHER);
}

async fn the_current_password_check_is_throttled_too(db: Db) {
    let app = App::new(db).await;
    app.user("stolen@example.com", Role::Operator).await;
    let (cookie, csrf) = app.login("stolen@example.com").await;
    for n in 1..=5 {
        let reply = change_password(&app, &cookie, &csrf, &format!("guess{n}")).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "guess {n}");
    }
    let reply = change_password(&app, &cookie, &csrf, PASSWORD).await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS, "a stolen session cannot guess faster than the login form");
    assert_eq!(actions_in_audit(&app, "console.login_failed").await.len(), 5, "the guesses are audited");
}

async fn password_change_disable_and_sign_out_everywhere_end_sessions(db: Db) {
    let app = App::new(db).await;
    app.user("boss@example.com", Role::Owner).await;
    app.user("staff@example.com", Role::Admin).await;
    let signed_in = |reply: &common::Reply| reply.status == StatusCode::OK;

    // Own password change: both of the user's sessions end.
    let (a, csrf_a) = app.login("staff@example.com").await;
    let (b, _) = app.login("staff@example.com").await;
    assert!(signed_in(&app.get("/console/account", &[("cookie", &b)]).await));
    let wrong = change_password(&app, &a, &csrf_a, "nope").await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY, "the current password is checked");
    let changed = change_password(&app, &a, &csrf_a, PASSWORD).await;
    assert_eq!(changed.location(), "/login");
    for session in [&a, &b] {
        let page = app.get("/console/account", &[("cookie", session)]).await;
        assert!(page.location().starts_with("/login"), "session ended after the password change");
    }
    assert_eq!(app.login_attempt("staff@example.com", "new-password-1", None).await.status, StatusCode::SEE_OTHER);

    // Locked out (an attacker guessing), the user gets back in after an admin's reset.
    for _ in 0..5 {
        app.login_attempt("staff@example.com", "attacker-guess", None).await;
    }
    assert_eq!(
        app.login_attempt("staff@example.com", "new-password-1", None).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    pond_app::admin::set_password(&app.state, &pond_app::auth::Actor::cli(), "staff@example.com", "new-password-1")
        .await
        .unwrap();
    assert_eq!(app.login_attempt("staff@example.com", "new-password-1", None).await.status, StatusCode::SEE_OTHER);

    // A reset by the CLI (the same service) ends them too.
    let reply = app.login_attempt("staff@example.com", "new-password-1", None).await;
    let c = reply.cookie("pond_session").unwrap();
    pond_app::admin::set_password(&app.state, &pond_app::auth::Actor::cli(), "staff@example.com", PASSWORD)
        .await
        .unwrap();
    assert!(app.get("/console/account", &[("cookie", &c)]).await.location().starts_with("/login"));

    // An owner signs the user out everywhere, then disables them.
    let (boss, boss_csrf) = app.login("boss@example.com").await;
    let (s1, _) = app.login("staff@example.com").await;
    let staff_id = pond_store::user::find_by_email(app.db(), "staff@example.com").await.unwrap().unwrap().id;
    let ended =
        app.post_form(&format!("/console/users/{staff_id}/sessions/end"), &boss, &format!("_csrf={boss_csrf}")).await;
    assert_eq!(ended.status, StatusCode::SEE_OTHER);
    assert!(app.get("/console/account", &[("cookie", &s1)]).await.location().starts_with("/login"));
    assert!(signed_in(&app.get("/console/account", &[("cookie", &boss)]).await), "the owner's own session stays");
    let (s2, _) = app.login("staff@example.com").await;
    let disabled = app
        .post_form(
            &format!("/console/users/{staff_id}"),
            &boss,
            &format!("_csrf={boss_csrf}&role=admin&login=disable&confirmed=yes"),
        )
        .await;
    assert_eq!(disabled.status, StatusCode::SEE_OTHER, "{}", disabled.body);
    assert!(app.get("/console/account", &[("cookie", &s2)]).await.location().starts_with("/login"));
    assert_eq!(pond_store::session::count_live_for_user(app.db(), staff_id).await.unwrap(), 0);
    assert_eq!(app.login_attempt("staff@example.com", PASSWORD, None).await.status, StatusCode::UNAUTHORIZED);

    // Sign out everywhere, by the user themselves.
    let (own, own_csrf) = app.login("boss@example.com").await;
    let out = app.post_form("/console/account/sessions/end", &own, &format!("_csrf={own_csrf}")).await;
    assert_eq!(out.location(), "/login");
    for session in [&own, &boss] {
        assert!(app.get("/console/account", &[("cookie", session)]).await.location().starts_with("/login"));
    }
    assert!(!actions_in_audit(&app, "user.sessions_ended").await.is_empty());
}

const APP_SECRET: &str = "app-SECRET-plaintext-0123456789";
const CONTACT_SECRET: &str = "contact-SECRET-plaintext-98765";
const CALLBACK_TOKEN: &str = "CallbackTok3nXyz";
const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";

fn full_settings(api_base_url: &str) -> Value {
    json!({"name": "安全咖啡", "wecom_corp_id": "ww0123456789abcdef", "agent_id": 1000002,
           "app_secret": APP_SECRET, "contact_secret": CONTACT_SECRET, "callback_token": CALLBACK_TOKEN,
           "encoding_aes_key": AES_KEY, "api_base_url": api_base_url})
}

async fn put_corp(app: &App, token: &str, body: &Value) -> common::Reply {
    let auth = format!("Bearer {token}");
    app.send(
        Method::PUT,
        "/api/v1/corp",
        &[("authorization", &auth), ("content-type", "application/json")],
        body.to_string(),
    )
    .await
}

async fn secrets_are_sealed_at_rest_and_masked(db: Db) {
    let app = App::new(db).await;
    let token = app.token().await;
    let reply = put_corp(&app, &token, &full_settings("https://qyapi.weixin.qq.com")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let view = reply.json();
    assert_eq!(view["app_secret"], "●●●●6789", "at most 4 characters shown");
    assert_eq!(view["callback_token"], "●●●●nXyz");
    for field in ["app_secret", "contact_secret", "callback_token", "encoding_aes_key"] {
        let shown = view[field].as_str().unwrap();
        assert!(shown.chars().filter(|c| *c != '●').count() <= 4, "{field}: {shown}");
    }
    // What the database holds: sealed values, none of the plain text.
    let stored = pond_store::corp::get(app.db(), app.corp_id).await.unwrap();
    for (field, stored, plain) in [
        ("app_secret", &stored.app_secret, APP_SECRET),
        ("contact_secret", &stored.contact_secret, CONTACT_SECRET),
        ("callback_token", &stored.callback_token, CALLBACK_TOKEN),
        ("encoding_aes_key", &stored.encoding_aes_key, AES_KEY),
    ] {
        assert!(stored.expose().starts_with("pond:v1:"), "{field} is sealed: {}", stored.expose());
        assert!(!stored.expose().contains(plain), "{field} holds no plain text");
    }
    // Pond itself still reads them.
    app.state.corps.invalidate(app.corp_id);
    let corp = app.state.corps.get(app.db(), app.corp_id).await.unwrap();
    assert_eq!(corp.app_secret.expose(), APP_SECRET);
    assert_eq!(corp.encoding_aes_key.expose(), AES_KEY);
    // The console page shows the masks, never the values.
    app.user("admin@example.com", Role::Admin).await;
    let (cookie, _) = app.login("admin@example.com").await;
    let page = app.get("/console/corp", &[("cookie", &cookie)]).await;
    assert!(!page.body.contains(APP_SECRET) && !page.body.contains(&APP_SECRET[..12]));
    assert!(page.body.contains("●●●●6789"));
}

async fn settings_cannot_be_half_replaced_or_pointed_elsewhere_without_the_secret(db: Db) {
    let app = App::new(db).await;
    let token = app.token().await;
    assert_eq!(put_corp(&app, &token, &full_settings("https://qyapi.weixin.qq.com")).await.status, StatusCode::OK);

    // A PUT with only a name is refused and clears nothing.
    let partial = put_corp(&app, &token, &json!({"name": "新名字"})).await;
    assert_eq!(partial.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", partial.body);
    assert_eq!(partial.json()["code"], "invalid_input");
    assert!(partial.json()["message_zh"].as_str().unwrap().contains("必填"));
    let corp = pond_store::corp::get(app.db(), app.corp_id).await.unwrap();
    assert_eq!(corp.name, "安全咖啡");
    assert_eq!(corp.wecom_corp_id.as_deref(), Some("ww0123456789abcdef"), "the WeCom settings survive");

    // Pointing the API elsewhere without typing the secrets again is refused (the stored secret
    // would otherwise be sent to a server of the caller's choosing).
    let mut elsewhere = full_settings("http://collector.example:9000");
    elsewhere["app_secret"] = json!("");
    elsewhere["contact_secret"] = json!("");
    let refused = put_corp(&app, &token, &elsewhere).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.body);
    assert!(refused.body.contains("app_secret"), "{}", refused.body);
    assert_eq!(pond_store::corp::get(app.db(), app.corp_id).await.unwrap().api_base_url, "https://qyapi.weixin.qq.com");
    // With the secrets typed again it is allowed, and audited before → after, secrets unnamed.
    let moved = put_corp(&app, &token, &full_settings("http://collector.example:9000")).await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
    let entry = actions_in_audit(&app, "corp.update").await.into_iter().next().unwrap();
    assert!(
        entry.detail.contains("api_base_url: \"https://qyapi.weixin.qq.com\" → \"http://collector.example:9000\""),
        "{}",
        entry.detail
    );
    assert!(entry.detail.contains("app_secret: ●●● → ●●●"), "{}", entry.detail);
    assert!(!entry.detail.contains(APP_SECRET) && !entry.detail.contains(CONTACT_SECRET));

    // A read-only token cannot change settings at all.
    let reader = app.token_as(Role::ReadOnly).await;
    let refused = put_corp(&app, &reader, &full_settings("https://qyapi.weixin.qq.com")).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(
        pond_store::corp::get(app.db(), app.corp_id).await.unwrap().api_base_url,
        "http://collector.example:9000"
    );
}

async fn add_staff(app: &App, userid: &str) {
    pond_store::staff::upsert(
        app.db(),
        &pond_store::staff::Staff {
            corp_id: app.corp_id,
            userid: userid.into(),
            name: "店员".into(),
            department_ids: "1".into(),
            position: String::new(),
            mobile: String::new(),
            status: "active".into(),
            removed_at: None,
        },
    )
    .await
    .unwrap();
}

async fn post_json(app: &App, token: &str, path: &str, body: Value) -> common::Reply {
    let auth = format!("Bearer {token}");
    app.send(Method::POST, path, &[("authorization", &auth), ("content-type", "application/json")], body.to_string())
        .await
}

fn landing_code(name: &str, state: &str) -> Value {
    json!({"name": name, "mode": "landing", "strategy": "round_robin", "state": state,
           "rules": {"staff": [{"userid": "u1", "weight": 1}]}})
}

async fn exported_csv_cells_cannot_run_as_formulas(db: Db) {
    let app = App::new(db).await;
    add_staff(&app, "u1").await;
    let token = app.token_as(Role::Operator).await;
    let hostile = "=cmd|' /C calc'!A0";
    let created = post_json(&app, &token, "/api/v1/channel-codes", landing_code(hostile, "csv-1")).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.json()["id"].as_i64().unwrap();
    let auth = format!("Bearer {token}");
    let csv = app.get(&format!("/api/v1/channel-codes/{id}/stats.csv"), &[("authorization", &auth)]).await;
    assert_eq!(csv.status, StatusCode::OK);
    let body = csv.body.trim_start_matches('\u{feff}');
    let mut reader = csv::Reader::from_reader(body.as_bytes());
    let mut rows = 0;
    for record in reader.records() {
        let record = record.unwrap();
        assert_eq!(&record[0], format!("'{hostile}"), "the name is text, not a formula");
        for cell in record.iter() {
            assert!(!cell.starts_with(['=', '+', '@']), "no cell starts a formula: {cell}");
        }
        rows += 1;
    }
    assert!(rows >= 7, "one row per day at least: {rows}");
}

async fn hostile_names_are_refused_on_input(db: Db) {
    let app = App::new(db).await;
    add_staff(&app, "u1").await;
    let token = app.token_as(Role::Operator).await;
    for (n, name) in ["两行\n名字", "回\r车", "空\0字符", "反向\u{202E}exe.txt", "制表\t符"].into_iter().enumerate()
    {
        let reply = post_json(&app, &token, "/api/v1/channel-codes", landing_code(name, &format!("bad-{n}"))).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{name:?}: {}", reply.body);
        assert_eq!(reply.json()["code"], "invalid_input");
    }
    let too_long = post_json(&app, &token, "/api/v1/channel-codes", landing_code(&"长".repeat(65), "bad-long")).await;
    assert_eq!(too_long.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(pond_store::channel_code::list(app.db(), app.corp_id).await.unwrap().is_empty(), "nothing stored");
}

async fn errors_and_headers_have_one_shape_everywhere(db: Db) {
    let mut config = pond_app::Config::default();
    config.http.request_timeout_secs = 1;
    config.http.body_limit_bytes = 4096;
    let app = App::with_config(db, config).await;
    let token = app.token().await;
    let auth = format!("Bearer {token}");

    // Too large: 413 in the error shape.
    let big = "x".repeat(10_000);
    let reply = app
        .send(
            Method::POST,
            "/api/v1/welcome-messages",
            &[("authorization", &auth), ("content-type", "application/json")],
            big,
        )
        .await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(reply.json()["code"], "payload_too_large");

    // Too slow: a body that never ends is cut off with 408, in the error shape.
    let never = axum::body::Body::from_stream(futures_util::stream::pending::<Result<Vec<u8>, std::io::Error>>());
    let reply = app
        .send(
            Method::POST,
            "/api/v1/welcome-messages",
            &[("authorization", &auth), ("content-type", "application/json")],
            never,
        )
        .await;
    assert_eq!(reply.status, StatusCode::REQUEST_TIMEOUT);
    assert_eq!(reply.json()["code"], "timeout");

    // Unknown pages and methods.
    let reply = app.get("/no-such-page", &[]).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.json()["code"], "not_found");
    let reply = app.send(Method::DELETE, "/healthz", &[], "").await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(reply.json()["code"], "method_not_allowed");

    // The callback URL answers alike for a corp that does not exist and one not yet configured.
    let unknown = app.post_form("/wecom/callback/424242?msg_signature=a&timestamp=1&nonce=n", "", "<xml/>").await;
    let unconfigured = app
        .post_form(&format!("/wecom/callback/{}?msg_signature=a&timestamp=1&nonce=n", app.corp_id), "", "<xml/>")
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!((unknown.status, unknown.body.clone()), (unconfigured.status, unconfigured.body.clone()));

    // A language switch with CR/LF in `back` is sent to the console, not a 500.
    let reply = app.get("/lang?to=en&back=/console%0d%0aSet-Cookie:%20x=1", &[]).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.location(), "/console");

    // Every answer carries the security headers, whoever produced it.
    for (path, headers) in [
        ("/login", vec![]),
        ("/healthz", vec![]),
        ("/no-such-page", vec![]),
        ("/api/v1/corp", vec![("authorization", auth.as_str())]),
        ("/api/v1/corp", vec![]),
        ("/r/999", vec![]),
        ("/c/1/999", vec![]),
    ] {
        let reply = app.get(path, &headers).await;
        let csp = reply.headers.get("content-security-policy").map(|v| v.to_str().unwrap().to_owned());
        let csp = csp.unwrap_or_else(|| panic!("{path}: no CSP"));
        assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}");
        assert_eq!(reply.headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(reply.headers["x-frame-options"], "DENY", "{path}");
        assert_eq!(reply.headers["referrer-policy"], "same-origin", "{path}");
    }
}

async fn metrics_need_a_token_or_loopback(db: Db) {
    let mut config = pond_app::Config::default();
    config.security.metrics_token = "scrape-token-123".into();
    let app = App::with_config(db.clone(), config).await;
    assert_eq!(app.get("/metrics", &[]).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.get("/metrics", &[("authorization", "Bearer wrong")]).await.status, StatusCode::UNAUTHORIZED);
    let ok = app.get("/metrics", &[("authorization", "Bearer scrape-token-123")]).await;
    assert_eq!(ok.status, StatusCode::OK);
    assert!(ok.body.contains("pond_"));

    // Without a token: loopback only.
    let open = App::with_config(db, pond_app::Config::default()).await;
    let from = |ip: [u8; 4]| Some(SocketAddr::from((ip, 5000)));
    assert_eq!(open.send_from(from([127, 0, 0, 1]), Method::GET, "/metrics", &[], "").await.status, StatusCode::OK);
    for header in ["x-forwarded-for", "x-real-ip", "forwarded", "via"] {
        let relayed =
            open.send_from(from([127, 0, 0, 1]), Method::GET, "/metrics", &[(header, "203.0.113.9")], "").await;
        assert_eq!(
            relayed.status,
            StatusCode::UNAUTHORIZED,
            "relayed by a proxy on this machine ({header}) is not local"
        );
    }
    let mapped = Some(SocketAddr::from((std::net::Ipv4Addr::LOCALHOST.to_ipv6_mapped(), 5000)));
    assert_eq!(
        open.send_from(mapped, Method::GET, "/metrics", &[], "").await.status,
        StatusCode::OK,
        "::ffff:127.0.0.1"
    );
    assert_eq!(
        open.send_from(from([203, 0, 113, 9]), Method::GET, "/metrics", &[], "").await.status,
        StatusCode::UNAUTHORIZED
    );
}

async fn welcome_messages_in_use_cannot_be_deleted(db: Db) {
    let app = App::new(db).await;
    add_staff(&app, "u1").await;
    let token = app.token_as(Role::Operator).await;
    let welcome =
        post_json(&app, &token, "/api/v1/welcome-messages", json!({"name": "门店欢迎", "text": "你好"})).await;
    assert!(welcome.status.is_success(), "{}", welcome.body);
    let welcome_id = welcome.json()["id"].as_i64().unwrap();
    let mut code = landing_code("用欢迎语的码", "uses-welcome");
    code["welcome_id"] = json!(welcome_id);
    assert_eq!(post_json(&app, &token, "/api/v1/channel-codes", code).await.status, StatusCode::CREATED);
    let auth = format!("Bearer {token}");
    let refused = app
        .send(Method::DELETE, &format!("/api/v1/welcome-messages/{welcome_id}"), &[("authorization", &auth)], "")
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.body);
    assert!(refused.json()["message_zh"].as_str().unwrap().contains("用欢迎语的码"), "{}", refused.body);
    assert!(pond_store::welcome::get(app.db(), app.corp_id, welcome_id).await.is_ok(), "still there");
}

async fn javascript_links_from_wecom_are_never_rendered(db: Db) {
    use common::world::{console_login, settle, setup};
    let s = setup(db, false).await;
    pond_app::sync::run_full_sync(&s.pond.app, s.corp_id, "test").await.unwrap();
    settle(&s).await;
    // WeCom hands back an external profile whose web entry is a script URL (set through user/update).
    {
        let mut world = s.sim.state.world();
        let user = world.users.get_mut("s001e01").expect("a user in the scenario");
        user.external_profile = Some(json!({"external_attr": [
            {"type": 1, "name": "官网", "web": {"url": "javascript:alert(document.cookie)", "title": "点我"}},
            {"type": 1, "name": "商城", "web": {"url": "https://shop.example.cn/a", "title": "商城"}}
        ]}));
    }
    let (session, _) = console_login(&s, "xss@example.com").await;
    let http = reqwest::Client::new();
    let base = format!("http://{}", s.pond.addr);
    let page = http
        .get(format!("{base}/console/staff/s001e01/card"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("点我"), "the entry is listed");
    assert!(!page.to_lowercase().contains("href=\"javascript:"), "never a script link");
    assert!(page.contains("href=\"https://shop.example.cn/a\""), "a web link still is one");

    // A native code whose QR link from WeCom is a script URL.
    let code = pond_store::channel_code::create(
        &s.pond.app.db,
        s.corp_id,
        &pond_store::channel_code::CodeFields {
            name: "原生码",
            channel_group: "",
            mode: "native",
            strategy: "round_robin",
            state: "xss-native",
            rules: "{\"staff\":[{\"userid\":\"s001e01\",\"weight\":1}]}",
            auto_tags: "[]",
            welcome_id: None,
            skip_verify: true,
            remark_prefix: "",
        },
    )
    .await
    .unwrap();
    pond_store::channel_code::set_contact_way(&s.pond.app.db, code.id, "cfg", "javascript:alert(1)", "[]")
        .await
        .unwrap();
    let page = http
        .get(format!("{base}/console/codes/{}", code.id))
        .header("cookie", &session)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!page.to_lowercase().contains("javascript:"), "the script URL is not on the page at all");
    assert!(page.contains("不安全的链接"), "the page says the link was withheld");
}

/// The bytes of the SQLite database and its write-ahead log, searched for the secrets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sqlite_files_hold_no_secret_in_plain_text() {
    let t = pond_store::testing::TestDb::sqlite().await;
    let app = App::new(t.db.clone()).await;
    let token = app.token().await;
    assert_eq!(put_corp(&app, &token, &full_settings("https://qyapi.weixin.qq.com")).await.status, StatusCode::OK);
    let path = t.url.trim_start_matches("sqlite:").to_owned();
    let mut bytes = Vec::new();
    for suffix in ["", "-wal"] {
        bytes.extend(std::fs::read(format!("{path}{suffix}")).unwrap_or_default());
    }
    let holds = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    assert!(holds("安全咖啡".as_bytes()), "the search finds what is stored in plain text (the corp name)");
    for secret in [APP_SECRET, CONTACT_SECRET, CALLBACK_TOKEN, AES_KEY] {
        assert!(!holds(secret.as_bytes()), "{secret} is not in the database files");
    }
    t.cleanup().await;
}

async fn long_lists_are_paged_and_the_store_picker_searches(db: Db) {
    let app = App::new(db).await;
    add_staff(&app, "u1").await;
    for n in 0..60 {
        let fields = pond_store::channel_code::CodeFields {
            name: &format!("码{n:02}"),
            channel_group: if n % 2 == 0 { "门店" } else { "公众号" },
            mode: "landing",
            strategy: "round_robin",
            state: &format!("page-{n}"),
            rules: "{\"staff\":[{\"userid\":\"u1\",\"weight\":1}]}",
            auto_tags: "[]",
            welcome_id: None,
            skip_verify: true,
            remark_prefix: "",
        };
        pond_store::channel_code::create(app.db(), app.corp_id, &fields).await.unwrap();
    }
    app.user("reader@example.com", Role::ReadOnly).await;
    let (cookie, _) = app.login("reader@example.com").await;
    let rows = |body: &str| body.matches("data-mode=").count();
    let first = app.get("/console/codes", &[("cookie", &cookie)]).await;
    assert_eq!(rows(&first.body), 50, "50 codes a page");
    assert!(first.body.contains("?page=2"), "a link to page 2");
    let second = app.get("/console/codes?page=2", &[("cookie", &cookie)]).await;
    assert_eq!(rows(&second.body), 10);
    let group = app.get("/console/codes?group=%E5%85%AC%E4%BC%97%E5%8F%B7", &[("cookie", &cookie)]).await;
    assert_eq!(rows(&group.body), 30, "the group filter runs in the database");
    let found = app.get("/console/codes?q=%E7%A0%8107", &[("cookie", &cookie)]).await;
    assert_eq!(rows(&found.body), 1);

    // 70 stores in 上海 and 5 in 北京, imported through the API.
    let token = app.token_as(Role::Operator).await;
    let mut csv = String::from("name,address,city,latitude,longitude,staff\n");
    for n in 0..75 {
        let city = if n < 70 { "上海" } else { "北京" };
        csv.push_str(&format!("门店{n:02},路{n}号,{city},31.{n:02},121.{n:02},u1\n"));
    }
    let auth = format!("Bearer {token}");
    let imported = app
        .send(Method::POST, "/api/v1/stores/import", &[("authorization", &auth), ("content-type", "text/csv")], csv)
        .await;
    assert_eq!(imported.status, StatusCode::ACCEPTED, "{}", imported.body);
    app.run_jobs().await;
    let stores = app.get("/console/stores", &[("cookie", &cookie)]).await;
    assert_eq!(stores.body.matches("<tr><td>").count(), 50, "the store list is paged");
    let search = app.get("/console/stores?q=%E5%8C%97%E4%BA%AC", &[("cookie", &cookie)]).await;
    assert_eq!(search.body.matches("<tr><td>").count(), 5, "searched by city");

    // The phone picker: cities first, then one city's stores 30 at a time, or a search.
    let corp = app.corp_id;
    let cities = app.get(&format!("/r/{corp}?denied=1"), &[]).await;
    assert!(cities.body.contains("上海") && cities.body.contains("70 家门店"), "cities with counts");
    assert_eq!(cities.body.matches("?store=").count(), 0, "no store list until a city is chosen");
    let shanghai = app.get(&format!("/r/{corp}?city=%E4%B8%8A%E6%B5%B7"), &[]).await;
    assert_eq!(shanghai.body.matches("?store=").count(), 30);
    assert!(shanghai.body.contains("1 / 3") && shanghai.body.contains("page=2"), "paged");
    let last = app.get(&format!("/r/{corp}?city=%E4%B8%8A%E6%B5%B7&page=3"), &[]).await;
    assert_eq!(last.body.matches("?store=").count(), 10);
    let searched = app.get(&format!("/r/{corp}?q=%E9%97%A8%E5%BA%9707"), &[]).await;
    assert_eq!(searched.body.matches("?store=").count(), 1, "{}", searched.body);

    // Users, API tokens and welcome messages: 50 a page as well.
    app.user("boss@example.com", Role::Owner).await;
    let (owner, _) = app.login("boss@example.com").await;
    for n in 0..54 {
        app.user(&format!("member{n:02}@example.com"), Role::ReadOnly).await;
        app.token_as(Role::ReadOnly).await;
        pond_store::welcome::create(app.db(), app.corp_id, &format!("欢迎语{n:02}"), "你好", "[]", false)
            .await
            .unwrap();
    }
    for (path, marker, total) in [
        ("/console/users", "action=\"/console/users/", 56),
        ("/console/tokens", "/revoke\"", 56),
        ("/console/welcome", "/edit\">", 54),
    ] {
        let first = app.get(path, &[("cookie", &owner)]).await;
        assert!(first.body.contains(&format!("{path}?page=2")), "{path} links page 2");
        let second = app.get(&format!("{path}?page=2"), &[("cookie", &owner)]).await;
        let on_second = second.body.matches(marker).count();
        assert!(on_second > 0 && on_second < 50, "{path} page 2 holds the rest: {on_second} of {total}");
    }
    let found = app.get("/console/users?q=member07", &[("cookie", &owner)]).await;
    assert!(found.body.contains("member07@example.com") && !found.body.contains("member08@example.com"));
}

async fn an_https_public_url_makes_cookies_secure_and_origins_exact(db: Db) {
    let config = pond_app::Config { public_url: "https://scrm.example.cn".into(), ..Default::default() };
    let app = App::with_config(db, config).await;
    app.user("tls@example.com", Role::Admin).await;
    let form = app.get("/login", &[]).await;
    assert!(form.headers["strict-transport-security"].to_str().unwrap().contains("max-age="));
    let login_cookie = form.headers["set-cookie"].to_str().unwrap().to_owned();
    assert!(login_cookie.contains("; Secure"), "{login_cookie}");
    let reply = app.login_attempt("tls@example.com", PASSWORD, None).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    let session = reply
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| v.starts_with("pond_session="))
        .unwrap();
    assert!(session.contains("; Secure") && session.contains("HttpOnly"), "{session}");
    // A form from the same host over plain http, or another port, is refused; the site itself is not.
    let cookie = session.split(';').next().unwrap().to_owned();
    let page = app.get("/console/account", &[("cookie", &cookie)]).await;
    let csrf = page.body.split("name=\"_csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    for (origin, expected) in [
        ("http://scrm.example.cn", StatusCode::FORBIDDEN),
        ("https://scrm.example.cn:8443", StatusCode::FORBIDDEN),
        ("https://evil.example", StatusCode::FORBIDDEN),
        ("https://scrm.example.cn", StatusCode::SEE_OTHER),
    ] {
        let reply = app
            .send(
                Method::POST,
                "/console/account/sessions/end",
                &[("content-type", "application/x-www-form-urlencoded"), ("cookie", &cookie), ("origin", origin)],
                format!("_csrf={csrf}"),
            )
            .await;
        assert_eq!(reply.status, expected, "Origin {origin}");
    }
}

async fn two_owners_demoting_each_other_at_once_leave_one_owner(db: Db) {
    let app = App::new(db).await;
    for round in 0..5 {
        let (a, b) = (format!("a{round}@example.com"), format!("b{round}@example.com"));
        app.user(&a, Role::Owner).await;
        app.user(&b, Role::Owner).await;
        let id_a = pond_store::user::find_by_email(app.db(), &a).await.unwrap().unwrap().id;
        let id_b = pond_store::user::find_by_email(app.db(), &b).await.unwrap().unwrap().id;
        let actor = pond_app::auth::Actor::cli();
        let demote =
            |target: i64| pond_app::admin::set_user_access(&app.state, &actor, app.corp_id, target, Role::Admin, false);
        let (first, second) = tokio::join!(demote(id_a), demote(id_b));
        assert!(first.is_ok() || second.is_ok(), "one of them may step down");
        let owners = pond_store::user::list(app.db(), app.corp_id)
            .await
            .unwrap()
            .into_iter()
            .filter(|u| u.role == "owner" && !u.disabled)
            .count();
        assert!(owners >= 1, "round {round}: the corp kept an enabled owner");
        // Make the owners of this round admins, so the next round starts from two fresh owners only.
        for user in pond_store::user::list(app.db(), app.corp_id).await.unwrap() {
            let mut tx = app.db().begin().await.unwrap();
            pond_store::user::set_access(&mut tx, user.id, "admin", false).await.unwrap();
            tx.commit().await.unwrap();
        }
    }
}

/// Posts the account page's password form (the new password is always `new-password-1`).
async fn change_password(app: &App, cookie: &str, csrf: &str, current: &str) -> common::Reply {
    let body = format!("_csrf={csrf}&current_password={current}&new_password=new-password-1");
    app.post_form("/console/account/password", cookie, &body).await
}
