//! The HTTP surface end to end: authentication of every route, CSRF, bad input, console pages,
//! health and metrics. Each test runs on SQLite and on PostgreSQL.

mod common;

use axum::http::{Method, StatusCode};
use common::App;
use pond_core::Role;
use pond_store::{Db, test_on_both_backends};

test_on_both_backends!(
    every_console_route_without_session_redirects_to_login,
    every_api_route_without_token_is_401_with_error_shape,
    csrf_is_required_on_every_form,
    corp_settings_form_validates_saves_and_audits,
    bad_api_input_is_refused_and_nothing_stored,
    api_reads_and_job_retry,
    console_pages_render_search_paginate_and_switch_language,
    roles_limit_what_operators_can_do,
    login_refuses_wrong_password_and_logout_ends_session,
    health_ready_and_metrics,
    owners_create_and_revoke_api_tokens_in_the_console,
    owners_change_roles_and_disable_logins_but_keep_an_owner,
);

fn concrete(path: &str) -> String {
    path.replace("{id}", "1").replace("{external_userid}", "wmNOBODY")
}

async fn every_console_route_without_session_redirects_to_login(db: Db) {
    let app = App::new(db).await;
    let routes = pond_server::console::protected_routes();
    assert!(routes.len() >= 12, "the route book lists the console: {routes:?}");
    for (method, path, _) in routes {
        for cookie in [None, Some("pond_session=forged")] {
            let headers: Vec<(&str, &str)> = cookie.map(|c| vec![("cookie", c)]).unwrap_or_default();
            let reply = app.send(method.clone(), &concrete(path), &headers, "").await;
            assert_eq!(reply.status, StatusCode::SEE_OTHER, "{method} {path}");
            assert!(reply.location().starts_with("/login"), "{method} {path} → {}", reply.location());
        }
    }
    // Paths under /console that no handler serves still need a session first.
    let reply = app.get("/console/no-such-page", &[]).await;
    assert!(reply.location().starts_with("/login"));
}

async fn every_api_route_without_token_is_401_with_error_shape(db: Db) {
    let app = App::new(db).await;
    let doc = pond_server::api::openapi();
    let mut checked = 0;
    for (path, item) in doc.paths.paths.iter() {
        let methods = [
            (Method::GET, item.get.is_some()),
            (Method::POST, item.post.is_some()),
            (Method::PUT, item.put.is_some()),
            (Method::DELETE, item.delete.is_some()),
            (Method::PATCH, item.patch.is_some()),
        ];
        for (method, present) in methods {
            if !present {
                continue;
            }
            for auth in [None, Some("Bearer pond_not_a_real_token"), Some("Basic abc")] {
                let headers: Vec<(&str, &str)> = auth.map(|a| vec![("authorization", a)]).unwrap_or_default();
                let reply = app.send(method.clone(), &concrete(path), &headers, "").await;
                assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{method} {path} with {auth:?}");
                let body = reply.json();
                assert_eq!(body["code"], "unauthorized");
                assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
                checked += 1;
            }
        }
    }
    assert!(checked >= 30, "walked {checked} route/credential pairs");
    // A revoked token is refused too.
    let token = app.token().await;
    let ok = app.get("/api/v1/corp", &[("authorization", &format!("Bearer {token}"))]).await;
    assert_eq!(ok.status, StatusCode::OK);
    let t = pond_store::token::list(app.db(), app.corp_id).await.unwrap();
    pond_store::token::revoke(app.db(), app.corp_id, t[0].id).await.unwrap();
    let revoked = app.get("/api/v1/corp", &[("authorization", &format!("Bearer {token}"))]).await;
    assert_eq!(revoked.status, StatusCode::UNAUTHORIZED);
}

async fn csrf_is_required_on_every_form(db: Db) {
    let app = App::new(db).await;
    app.user("owner@example.com", Role::Owner).await;
    let (cookie, csrf) = app.login("owner@example.com").await;
    let before = pond_store::corp::get(app.db(), app.corp_id).await.unwrap();
    let audit_before = pond_store::audit::list(app.db(), app.corp_id, None, Default::default()).await.unwrap().total;

    for (method, path, _) in pond_server::console::protected_routes() {
        if method != Method::POST {
            continue;
        }
        for body in ["name=Hacked", "_csrf=wrong&name=Hacked", "_csrf=&name=Hacked"] {
            let reply = app.post_form(&concrete(path), &cookie, body).await;
            assert_eq!(reply.status, StatusCode::FORBIDDEN, "POST {path} with {body}");
        }
    }
    // A valid token from a foreign origin is refused as well.
    let reply = app
        .send(
            Method::POST,
            "/console/corp",
            &[
                ("content-type", "application/x-www-form-urlencoded"),
                ("cookie", &cookie),
                ("origin", "https://evil.example"),
            ],
            format!("_csrf={csrf}&name=Hacked"),
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    // The login form needs its own token.
    let reply = app
        .send(
            Method::POST,
            "/login",
            &[("content-type", "application/x-www-form-urlencoded")],
            "email=owner%40example.com&password=pond-test-password",
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert!(reply.cookie("pond_session").is_none());

    let after = pond_store::corp::get(app.db(), app.corp_id).await.unwrap();
    assert_eq!(after.name, before.name, "nothing changed");
    assert_eq!(after.updated_at, before.updated_at);
    let audit_after = pond_store::audit::list(app.db(), app.corp_id, None, Default::default()).await.unwrap().total;
    assert_eq!(audit_after, audit_before, "no action recorded");
    // Still logged in: the session was not ended by the forged logout.
    assert_eq!(app.get("/console", &[("cookie", &cookie)]).await.status, StatusCode::OK);
}

const AES_KEY: &str = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";

async fn corp_settings_form_validates_saves_and_audits(db: Db) {
    let app = App::new(db).await;
    app.user("admin@example.com", Role::Admin).await;
    let (cookie, csrf) = app.login("admin@example.com").await;

    let bad = app
        .post_form(
            "/console/corp",
            &cookie,
            &format!("_csrf={csrf}&name=%E5%92%96%E5%95%A1&encoding_aes_key=tooshort&app_secret=s3cr3t-never-echoed"),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.body.contains("encoding_aes_key"), "error names the field");
    assert!(!bad.body.contains("s3cr3t-never-echoed"), "secrets are not echoed back");
    assert!(pond_store::corp::get(app.db(), app.corp_id).await.unwrap().app_secret.is_empty());

    let good = format!(
        "_csrf={csrf}&name=%E6%96%B0%E5%90%8D&wecom_corp_id=ww0011223344&agent_id=1000002&contact_secret=contact-secret-0123456789&app_secret=app-secret-0123456789&callback_token=Tok3n&encoding_aes_key={AES_KEY}&api_base_url=http%3A%2F%2F127.0.0.1%3A9100%2F"
    );
    let saved = app.post_form("/console/corp", &cookie, &good).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let corp = pond_store::corp::get(app.db(), app.corp_id).await.unwrap();
    assert_eq!(corp.name, "新名");
    assert_eq!(corp.wecom_corp_id.as_deref(), Some("ww0011223344"));
    assert_eq!(corp.agent_id, Some(1000002));
    assert_eq!(corp.api_base_url, "http://127.0.0.1:9100");
    assert!(corp.app_secret.expose().starts_with("pond:v1:"), "stored sealed");
    assert_eq!(app.state.corps.get(app.db(), app.corp_id).await.unwrap().app_secret.expose(), "app-secret-0123456789");

    let page = app.get("/console/corp?saved=1", &[("cookie", &cookie)]).await;
    assert!(!page.body.contains("app-secret-0123456789"), "secrets are never shown in full");
    assert!(page.body.contains("●●●●6789"), "a masked hint of at most 4 characters is shown");

    // Blank secrets keep what is stored.
    app.post_form(
        "/console/corp",
        &cookie,
        &format!("_csrf={csrf}&name=Again&wecom_corp_id=ww0011223344&api_base_url=http%3A%2F%2F127.0.0.1%3A9100%2F"),
    )
    .await;
    let corp = app.state.corps.get(app.db(), app.corp_id).await.unwrap();
    assert_eq!((corp.name.as_str(), corp.app_secret.expose()), ("Again", "app-secret-0123456789"));
    assert_eq!(corp.agent_id, None);

    let audit = pond_store::audit::list(app.db(), app.corp_id, Some("corp.update"), Default::default()).await.unwrap();
    assert_eq!(audit.total, 2);
    assert_eq!(audit.items[1].actor, "admin@example.com");
    assert!(audit.items[1].detail.contains("app_secret") && !audit.items[1].detail.contains("0123456789"));
}

async fn bad_api_input_is_refused_and_nothing_stored(db: Db) {
    let mut config = pond_server::Config::default();
    config.http.body_limit_bytes = 4096;
    let app = App::with_config(db, config).await;
    let token = app.token().await;
    let bearer = format!("Bearer {token}");
    let json = [("authorization", bearer.as_str()), ("content-type", "application/json")];
    let cases: Vec<(String, StatusCode, &str)> = vec![
        ("{\"name\": \"x\",".into(), StatusCode::BAD_REQUEST, "bad_request"),
        (
            "{\"name\": \"x\", \"wecom_corp_id\": \"\", \"agent_id\": null, \"api_base_url\": \"\", \"bogus\": 1}".into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        ),
        ("{\"name\": 42}".into(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_input"),
        (format!("{{\"name\": \"{}\"}}", "x".repeat(5000)), StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
        (
            "{\"name\": \"ok\", \"wecom_corp_id\": \"\", \"api_base_url\": \"\", \"agent_id\": null, \"encoding_aes_key\": \"short\"}".into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        ),
        ("{\"name\": \"ok\", \"wecom_corp_id\": \"\", \"api_base_url\": \"\", \"agent_id\": -1}".into(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_input"),
        ("{\"name\": \"\", \"wecom_corp_id\": \"\", \"api_base_url\": \"\", \"agent_id\": null}".into(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_input"),
    ];
    for (body, status, code) in cases {
        let reply = app.send(Method::PUT, "/api/v1/corp", &json, body.clone()).await;
        assert_eq!(reply.status, status, "{}", &body[..body.len().min(60)]);
        assert_eq!(reply.json()["code"], code);
    }
    let no_type =
        app.send(Method::PUT, "/api/v1/corp", &[("authorization", bearer.as_str())], "{\"name\":\"x\"}").await;
    assert_eq!(no_type.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(no_type.json()["code"], "unsupported_media_type");
    let bad_query = app.get("/api/v1/staff?page=minus-one", &[("authorization", bearer.as_str())]).await;
    assert_eq!(bad_query.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad_query.json()["code"], "bad_request");
    let bad_path =
        app.send(Method::POST, "/api/v1/jobs/notanumber/retry", &[("authorization", bearer.as_str())], "").await;
    assert_eq!(bad_path.status, StatusCode::BAD_REQUEST);
    let unknown = app.get("/api/v1/nothing-here", &[("authorization", bearer.as_str())]).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.json()["code"], "not_found");

    let corp = pond_store::corp::get(app.db(), app.corp_id).await.unwrap();
    assert_eq!(corp.name, "测试咖啡", "nothing stored");
    assert_eq!(pond_store::audit::list(app.db(), app.corp_id, None, Default::default()).await.unwrap().total, 0);

    // Conflict: another corp owns the WeCom corp id.
    let other = pond_store::corp::create(app.db(), "别家").await.unwrap();
    let taken = pond_store::corp::WecomSettings {
        name: "别家".into(),
        wecom_corp_id: Some("wwTAKEN".into()),
        api_base_url: "https://qyapi.weixin.qq.com".into(),
        ..Default::default()
    };
    pond_store::corp::update_settings(app.db(), other.id, &taken).await.unwrap();
    let conflict = app
        .send(
            Method::PUT,
            "/api/v1/corp",
            &json,
            "{\"name\":\"x\",\"wecom_corp_id\":\"wwTAKEN\",\"agent_id\":null,\"api_base_url\":\"\"}",
        )
        .await;
    assert_eq!(conflict.status, StatusCode::CONFLICT);
    assert_eq!(conflict.json()["code"], "conflict");

    let ok = app
        .send(
            Method::PUT,
            "/api/v1/corp",
            &json,
            "{\"name\":\"新咖啡\",\"wecom_corp_id\":\"\",\"agent_id\":1000002,\"api_base_url\":\"\"}",
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert_eq!(ok.json()["agent_id"], 1000002);
    assert_eq!(ok.json()["app_secret"], "");
}

async fn api_reads_and_job_retry(db: Db) {
    let app = App::new(db).await;
    let token = app.token().await;
    let bearer = format!("Bearer {token}");
    let auth = [("authorization", bearer.as_str())];
    let c = app.corp_id;
    for i in 0..3 {
        pond_store::staff::upsert(
            app.db(),
            &pond_store::staff::Staff {
                corp_id: c,
                userid: format!("u{i}"),
                name: format!("店员{i}"),
                department_ids: "1,2".into(),
                position: String::new(),
                mobile: String::new(),
                status: "active".into(),
                removed_at: None,
            },
        )
        .await
        .unwrap();
    }
    let staff = app.get("/api/v1/staff?per_page=2&page=2", &auth).await.json();
    assert_eq!((staff["total"].as_i64(), staff["items"].as_array().map(Vec::len)), (Some(3), Some(1)));
    assert_eq!(staff["items"][0]["department_ids"], serde_json::json!([1, 2]));
    let searched = app.get("/api/v1/staff?q=%E5%BA%97%E5%91%981", &auth).await.json();
    assert_eq!(searched["total"], 1);

    pond_store::customer::upsert(
        app.db(),
        c,
        &pond_store::customer::CustomerData {
            external_userid: "wmX".into(),
            name: "王五".into(),
            customer_type: 1,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    pond_store::customer::upsert_follow(
        app.db(),
        &pond_store::customer::FollowRelation {
            corp_id: c,
            external_userid: "wmX".into(),
            userid: "u1".into(),
            remark: String::new(),
            description: String::new(),
            add_way: 1,
            state: "shop-7".into(),
            added_at: 1,
            removed_at: None,
        },
    )
    .await
    .unwrap();
    pond_store::customer::set_follow_tags(
        app.db(),
        c,
        pond_core::ids::Follow { external_userid: "wmX", userid: "u1" },
        &["etVIP".into()],
    )
    .await
    .unwrap();
    let detail = app.get("/api/v1/customers/wmX", &auth).await.json();
    assert_eq!(detail["follows"][0]["state"], "shop-7");
    assert_eq!(detail["follows"][0]["tag_ids"], serde_json::json!(["etVIP"]));
    let missing = app.get("/api/v1/customers/wmNONE", &auth).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get("/api/v1/customers", &auth).await.json()["total"], 1);
    assert_eq!(app.get("/api/v1/tags", &auth).await.json()["total"], 0);
    assert_eq!(app.get("/api/v1/groups", &auth).await.json()["total"], 0);

    let job = pond_store::jobs::enqueue(
        app.db(),
        &pond_store::jobs::NewJob {
            corp_id: c,
            kind: "x",
            payload: "{}",
            idempotency_key: "k",
            max_attempts: 1,
            run_at: None,
        },
    )
    .await
    .unwrap()
    .unwrap();
    pond_store::jobs::claim(app.db(), "w", 1, 60_000).await.unwrap();
    pond_store::jobs::fail(app.db(), "w", job, "errcode 60111: userid not found", None).await.unwrap();
    let failed = app.get("/api/v1/jobs?status=failed", &auth).await.json();
    assert_eq!(failed["items"][0]["last_error"], "errcode 60111: userid not found");
    let retried = app.send(Method::POST, &format!("/api/v1/jobs/{job}/retry"), &auth, "").await;
    assert_eq!(retried.status, StatusCode::OK);
    assert_eq!(retried.json()["status"], "pending");
    let again = app.send(Method::POST, &format!("/api/v1/jobs/{job}/retry"), &auth, "").await;
    assert_eq!(again.status, StatusCode::NOT_FOUND, "only failed jobs can be retried");
    let audit = app.get("/api/v1/audit?q=job.retry", &auth).await.json();
    assert_eq!(audit["total"], 1);
    assert!(audit["items"][0]["actor"].as_str().unwrap().starts_with("api-token:pond_"));

    let doc = app.get("/api/v1/openapi.json", &auth).await.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert!(doc["paths"]["/api/v1/jobs/{id}/retry"]["post"].is_object());
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}

async fn console_pages_render_search_paginate_and_switch_language(db: Db) {
    let app = App::new(db).await;
    app.user("owner@example.com", Role::Owner).await;
    let (cookie, _) = app.login("owner@example.com").await;
    let c = app.corp_id;
    for i in 0..55 {
        pond_store::customer::upsert(
            app.db(),
            c,
            &pond_store::customer::CustomerData {
                external_userid: format!("wm{i:03}"),
                name: format!("客户<b>{i:03}</b>"),
                customer_type: 1,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    }
    let page1 = app.get("/console/customers", &[("cookie", &cookie)]).await;
    assert_eq!(page1.status, StatusCode::OK);
    assert!(page1.body.contains("lang=\"zh-CN\"") && page1.body.contains("客户"));
    assert!(page1.body.contains("&#60;b&#62;054&#60;/b&#62;"), "names are HTML-escaped");
    assert!(!page1.body.contains("<b>054</b>"));
    assert!(page1.body.contains("/console/customers?page=2"), "a next-page link");
    let page2 = app.get("/console/customers?page=2", &[("cookie", &cookie)]).await;
    assert!(page2.body.contains("wm000") && !page2.body.contains("wm054"));
    let searched = app.get("/console/customers?q=wm01", &[("cookie", &cookie)]).await;
    assert!(searched.body.contains("wm010") && !searched.body.contains("wm020"));

    for path in [
        "/console",
        "/console/staff",
        "/console/tags",
        "/console/groups",
        "/console/jobs",
        "/console/jobs?status=failed",
        "/console/audit",
        "/console/users",
        "/console/corp",
    ] {
        let reply = app.get(path, &[("cookie", &cookie)]).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}");
        assert!(!reply.body.contains("⟨missing text⟩"), "{path} has all its texts");
    }
    let empty = app.get("/console/staff", &[("cookie", &cookie)]).await;
    assert!(empty.body.contains("暂无数据"), "an empty list says so");

    let switch = app.get("/lang?to=en&back=/console/customers", &[("cookie", &cookie)]).await;
    assert_eq!(switch.location(), "/console/customers");
    let lang = switch.cookie("pond_lang").expect("language cookie");
    let english = app.get("/console/customers", &[("cookie", &format!("{cookie}; {lang}"))]).await;
    assert!(english.body.contains("lang=\"en\"") && english.body.contains("Customers"));
    let evil = app.get("/lang?to=en&back=https://evil.example", &[]).await;
    assert_eq!(evil.location(), "/console", "no open redirect");
}

async fn roles_limit_what_operators_can_do(db: Db) {
    let app = App::new(db).await;
    app.user("op@example.com", Role::Operator).await;
    let (cookie, csrf) = app.login("op@example.com").await;
    let page = app.get("/console", &[("cookie", &cookie)]).await;
    assert!(
        !page.body.contains("/console/audit") && !page.body.contains("/console/users"),
        "nav hides what the role cannot use"
    );
    assert_eq!(app.get("/console/audit", &[("cookie", &cookie)]).await.status, StatusCode::FORBIDDEN);
    assert_eq!(app.get("/console/users", &[("cookie", &cookie)]).await.status, StatusCode::FORBIDDEN);
    let save = app.post_form("/console/corp", &cookie, &format!("_csrf={csrf}&name=Changed")).await;
    assert_eq!(save.status, StatusCode::FORBIDDEN);
    assert_eq!(pond_store::corp::get(app.db(), app.corp_id).await.unwrap().name, "测试咖啡");
    let add = app
        .post_form(
            "/console/users",
            &cookie,
            &format!("_csrf={csrf}&email=x%40example.com&role=owner&password=0123456789ab"),
        )
        .await;
    assert_eq!(add.status, StatusCode::FORBIDDEN);
    assert!(pond_store::user::find_by_email(app.db(), "x@example.com").await.unwrap().is_none());

    // The owner can add users; bad input is explained and nothing is stored.
    app.user("boss@example.com", Role::Owner).await;
    let (boss, boss_csrf) = app.login("boss@example.com").await;
    let short = app
        .post_form(
            "/console/users",
            &boss,
            &format!("_csrf={boss_csrf}&email=new%40example.com&role=admin&password=short"),
        )
        .await;
    assert_eq!(short.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(short.body.contains("password"));
    let role = app
        .post_form(
            "/console/users",
            &boss,
            &format!("_csrf={boss_csrf}&email=new%40example.com&role=root&password=0123456789ab"),
        )
        .await;
    assert_eq!(role.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(pond_store::user::find_by_email(app.db(), "new@example.com").await.unwrap().is_none());
    let ok = app
        .post_form(
            "/console/users",
            &boss,
            &format!("_csrf={boss_csrf}&email=New%40Example.com&role=admin&password=0123456789ab"),
        )
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER);
    assert_eq!(
        pond_store::user::find_by_email(app.db(), "new@example.com").await.unwrap().unwrap().role(),
        Role::Admin
    );
    let dup = app
        .post_form(
            "/console/users",
            &boss,
            &format!("_csrf={boss_csrf}&email=new%40example.com&role=admin&password=0123456789ab"),
        )
        .await;
    assert_eq!(dup.status, StatusCode::UNPROCESSABLE_ENTITY);
}

async fn login_refuses_wrong_password_and_logout_ends_session(db: Db) {
    let app = App::new(db).await;
    app.user("owner@example.com", Role::Owner).await;
    let form = app.get("/login", &[]).await;
    let login_cookie = form.cookie("pond_login_csrf").unwrap();
    assert!(form.headers.get_all("set-cookie").iter().any(|v| v.to_str().unwrap().contains("HttpOnly")));
    let csrf = login_cookie.split_once('=').unwrap().1.to_owned();
    for (email, password) in [("owner@example.com", "wrong-password"), ("nobody@example.com", "pond-test-password")] {
        let reply = app
            .send(
                Method::POST,
                "/login",
                &[("content-type", "application/x-www-form-urlencoded"), ("cookie", &login_cookie)],
                format!("_csrf={csrf}&email={email}&password={password}"),
            )
            .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        assert!(reply.cookie("pond_session").is_none());
    }
    let (cookie, csrf) = app.login("owner@example.com").await;
    let set = app.get("/login", &[]).await;
    assert!(set.status.is_success());
    let out = app.post_form("/console/logout", &cookie, &format!("_csrf={csrf}")).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert!(app.get("/console", &[("cookie", &cookie)]).await.location().starts_with("/login"), "session ended");
    let audit = pond_store::audit::list(app.db(), app.corp_id, Some("console."), Default::default()).await.unwrap();
    assert_eq!(
        audit.items.iter().map(|a| a.action.as_str()).collect::<Vec<_>>(),
        vec!["console.logout", "console.login", "console.login_failed"],
        "the wrong password (for a known account) is audited too"
    );
}

async fn health_ready_and_metrics(db: Db) {
    let app = App::new(db).await;
    assert_eq!(app.get("/healthz", &[]).await.body, "ok");
    assert_eq!(app.get("/readyz", &[]).await.status, StatusCode::OK);
    app.get("/api/v1/staff", &[]).await;
    pond_store::jobs::enqueue(
        app.db(),
        &pond_store::jobs::NewJob {
            corp_id: app.corp_id,
            kind: "x",
            payload: "{}",
            idempotency_key: "m",
            max_attempts: 1,
            run_at: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(app.get("/metrics", &[]).await.status, StatusCode::UNAUTHORIZED, "not for anyone anywhere");
    let local = Some(std::net::SocketAddr::from(([127, 0, 0, 1], 9)));
    let metrics = app.send_from(local, Method::GET, "/metrics", &[], "").await;
    assert!(metrics.headers["content-type"].to_str().unwrap().starts_with("text/plain"));
    assert!(
        metrics.body.contains("pond_http_requests_total{method=\"GET\",route=\"/api/v1/staff\",status=\"401\"} 1"),
        "{}",
        metrics.body
    );
    assert!(metrics.body.contains("pond_jobs{status=\"pending\"} 1"));
    assert!(metrics.body.contains("pond_job_failures_total 0"));
    app.state.db.close().await;
    assert_eq!(app.get("/readyz", &[]).await.status, StatusCode::SERVICE_UNAVAILABLE);
}

async fn owners_create_and_revoke_api_tokens_in_the_console(db: Db) {
    let app = App::new(db).await;
    app.user("owner@example.com", Role::Owner).await;
    app.user("op@example.com", Role::Operator).await;
    let (op, op_csrf) = app.login("op@example.com").await;
    assert_eq!(
        app.post_form("/console/tokens", &op, &format!("_csrf={op_csrf}&name=x")).await.status,
        StatusCode::FORBIDDEN
    );
    let (cookie, csrf) = app.login("owner@example.com").await;
    let empty = app.post_form("/console/tokens", &cookie, &format!("_csrf={csrf}&name=")).await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
    let made = app.post_form("/console/tokens", &cookie, &format!("_csrf={csrf}&name=BI&role=readonly")).await;
    assert_eq!(made.status, StatusCode::OK);
    let token = made.body.split("<code>").nth(1).and_then(|r| r.split("</code>").next()).unwrap().to_owned();
    assert!(token.starts_with("pond_"));
    let bearer = format!("Bearer {token}");
    assert_eq!(app.get("/api/v1/staff", &[("authorization", &bearer)]).await.status, StatusCode::OK);
    assert_eq!(
        app.get("/api/v1/corp", &[("authorization", &bearer)]).await.status,
        StatusCode::FORBIDDEN,
        "a read-only token does not see the settings"
    );
    let page = app.get("/console/tokens", &[("cookie", &cookie)]).await;
    assert!(!page.body.contains(&token), "the token is never shown again");
    let id = pond_store::token::list(app.db(), app.corp_id).await.unwrap()[0].id;
    let revoked = app.post_form(&format!("/console/tokens/{id}/revoke"), &cookie, &format!("_csrf={csrf}")).await;
    assert_eq!(revoked.status, StatusCode::SEE_OTHER);
    assert_eq!(app.get("/api/v1/staff", &[("authorization", &bearer)]).await.status, StatusCode::UNAUTHORIZED);
}

async fn owners_change_roles_and_disable_logins_but_keep_an_owner(db: Db) {
    let app = App::new(db).await;
    app.user("boss@pond.test", Role::Owner).await;
    app.user("staff@pond.test", Role::Admin).await;
    let (owner, csrf) = app.login("boss@pond.test").await;
    let users = pond_store::user::list(app.db(), app.corp_id).await.unwrap();
    let id_of = |email: &str| users.iter().find(|u| u.email == email).unwrap().id;
    let (boss, staff) = (id_of("boss@pond.test"), id_of("staff@pond.test"));
    // The last owner cannot demote themselves: refused in Chinese, nothing changed.
    let refused = app.post_form(&format!("/console/users/{boss}"), &owner, &format!("_csrf={csrf}&role=admin")).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.body.contains("至少需要一名启用的所有者"), "{}", refused.body);
    assert_eq!(pond_store::user::get(app.db(), boss).await.unwrap().role, "owner");
    // A role change is saved and audited.
    let demoted =
        app.post_form(&format!("/console/users/{staff}"), &owner, &format!("_csrf={csrf}&role=operator")).await;
    assert_eq!(demoted.status, StatusCode::SEE_OTHER);
    assert_eq!(pond_store::user::get(app.db(), staff).await.unwrap().role, "operator");
    // Disabling asks first, then ends the user's sessions and logins.
    let (staff_session, _) = app.login("staff@pond.test").await;
    let asked = app
        .post_form(&format!("/console/users/{staff}"), &owner, &format!("_csrf={csrf}&role=operator&login=disable"))
        .await;
    assert_eq!(asked.status, StatusCode::OK);
    assert!(asked.body.contains("name=\"login\" value=\"disable\""), "the confirmation posts the same choice");
    assert!(!pond_store::user::get(app.db(), staff).await.unwrap().disabled);
    let done = app
        .post_form(
            &format!("/console/users/{staff}"),
            &owner,
            &format!("_csrf={csrf}&role=operator&login=disable&confirmed=yes"),
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    assert!(pond_store::user::get(app.db(), staff).await.unwrap().disabled);
    let after = app.get("/console", &[("cookie", &staff_session)]).await;
    assert_eq!(after.status, StatusCode::SEE_OTHER, "a disabled user's session no longer works");
    let audit =
        pond_store::audit::list(app.db(), app.corp_id, Some("user.access"), pond_core::PageRequest::new(None, None))
            .await;
    assert!(audit.map(|p| p.total >= 2).unwrap_or(false), "role and access changes are audited");
}
