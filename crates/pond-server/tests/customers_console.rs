//! The customer center through the console, against the simulator, on both databases: filters
//! and export, editing one customer's tags and remark (written to WeCom), bulk tagging (queued
//! jobs that reach WeCom), and the tag library (created, renamed and deleted in WeCom).

mod common;

use std::time::Duration;

use common::world::{console_login, settle, setup};
use pond_store::{Db, test_on_both_backends};

test_on_both_backends!(customers_are_filtered_exported_edited_and_tagged_through_wecom);

async fn customers_are_filtered_exported_edited_and_tagged_through_wecom(db: Db) {
    let s = setup(db, false).await;
    pond_app::sync::run_full_sync(&s.pond.app, s.corp_id, "test").await.unwrap();
    settle(&s).await;
    let (session, csrf) = console_login(&s, "ops@pond.test").await;
    let base = format!("http://{}", s.pond.addr);
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let get = |path: String| {
        let (http, url, session) = (http.clone(), format!("{base}{path}"), session.clone());
        async move { http.get(url).header("cookie", session).send().await.unwrap() }
    };
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
    let calls = |name: &str| s.sim.calls().get(name).copied().unwrap_or(0);
    let db = &s.pond.app.db;

    // Filter by employee: the page lists exactly that employee's customers, and the export the same set.
    let (userid, expected) = {
        let w = s.sim.state.world();
        let userid = w.follows.keys().next().unwrap().1.clone();
        let n = w.follows.keys().filter(|(_, u)| *u == userid).count();
        (userid, n)
    };
    let page = get(format!("/console/customers?userid={userid}")).await.text().await.unwrap();
    assert!(page.contains(&format!("共 {expected}")), "the count is the employee's {expected} customers");
    let csv = get(format!("/console/customers/export.csv?userid={userid}")).await;
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let csv = csv.text().await.unwrap();
    assert_eq!(csv.lines().count(), expected + 1, "header plus one line per customer");
    assert!(csv.starts_with("\u{feff}客户,"));
    // The API filters the same way.
    let (token, hash, prefix) = pond_app::auth::new_api_token();
    pond_store::token::create(db, s.corp_id, "t", &hash, &prefix, "test", "admin").await.unwrap();
    let api: serde_json::Value = http
        .get(format!("{base}/api/v1/customers?userid={userid}&per_page=1"))
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(api["total"].as_u64(), Some(expected as u64), "{api}");
    let bad = get("/console/customers?from=yesterday".into()).await;
    assert_eq!(bad.status(), 422, "a bad date is refused with a message, not ignored");

    // One customer's tags and remark: written to WeCom, then shown.
    let (external_userid, tag) = {
        let w = s.sim.state.world();
        let ext = w.follows.keys().find(|(_, u)| *u == userid).unwrap().0.clone();
        (ext, w.tags.keys().next().unwrap().clone())
    };
    let (marks, remarks) = (calls("externalcontact/mark_tag"), calls("externalcontact/remark"));
    let saved = post(
        format!("/console/customers/{external_userid}/follows/{userid}"),
        format!("_csrf={csrf}&remark=%E8%80%81%E5%AE%A2%E6%88%B7&tags={tag}"),
    )
    .await;
    assert_eq!(saved.status(), 303, "{:?}", saved.text().await);
    assert_eq!((calls("externalcontact/mark_tag"), calls("externalcontact/remark")), (marks + 1, remarks + 1));
    {
        let w = s.sim.state.world();
        let f = &w.follows[&(external_userid.clone(), userid.clone())];
        assert_eq!((f.remark.as_str(), f.tags.iter().collect::<Vec<_>>()), ("老客户", vec![&tag]));
    }
    let shown = get(format!("/console/customers/{external_userid}")).await.text().await.unwrap();
    assert!(shown.contains("老客户"));
    let too_long = post(
        format!("/console/customers/{external_userid}/follows/{userid}"),
        format!("_csrf={csrf}&remark={}", "x".repeat(21)),
    )
    .await;
    assert_eq!(too_long.status(), 422);
    assert!(too_long.text().await.unwrap().contains("最多 20 个字符"));

    // Bulk tagging: one job per live follow relation, each reaching WeCom.
    let chosen: Vec<String> = {
        let w = s.sim.state.world();
        w.customers.keys().take(5).cloned().collect()
    };
    let follows: usize = {
        let w = s.sim.state.world();
        w.follows.keys().filter(|(e, _)| chosen.contains(e)).count()
    };
    let bulk_tag = {
        let w = s.sim.state.world();
        w.tags.keys().nth(1).unwrap().clone()
    };
    let before = calls("externalcontact/mark_tag");
    let ids: String = chosen.iter().map(|e| format!("&ids={e}")).collect();
    let queued = post("/console/customers/bulk-tag".into(), format!("_csrf={csrf}{ids}&tags={bulk_tag}")).await;
    assert_eq!(queued.status(), 303);
    assert!(queued.headers()["location"].to_str().unwrap().contains(&format!("queued={follows}")));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while calls("externalcontact/mark_tag") < before + follows as u64 {
        assert!(tokio::time::Instant::now() < deadline, "bulk tag jobs did not all reach WeCom");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    {
        let w = s.sim.state.world();
        for ((e, _), f) in w.follows.iter().filter(|((e, _), _)| chosen.contains(e)) {
            assert!(f.tags.contains(&bulk_tag), "{e} carries the bulk tag in WeCom");
        }
    }

    // The tag library: create, rename, delete — each in WeCom.
    let created =
        post("/console/tags".into(), format!("_csrf={csrf}&group=%E6%B4%BB%E5%8A%A8&name=%E5%8F%8C%E5%8D%81%E4%B8%80"))
            .await;
    assert_eq!(created.status(), 303, "{:?}", created.text().await);
    let new_id = {
        let w = s.sim.state.world();
        w.tags.iter().find(|(_, t)| t.name == "双十一").map(|(id, _)| id.clone()).expect("the tag is in WeCom")
    };
    let renamed =
        post(format!("/console/tags/{new_id}"), format!("_csrf={csrf}&name=%E5%8F%8C%E5%8D%81%E4%BA%8C")).await;
    assert_eq!(renamed.status(), 303);
    assert_eq!(s.sim.state.world().tags[&new_id].name, "双十二");
    let asked = post(format!("/console/tags/{new_id}/delete"), format!("_csrf={csrf}")).await;
    assert_eq!(asked.status(), 200, "deleting a tag asks first");
    assert!(s.sim.state.world().tags.contains_key(&new_id));
    let deleted = post(format!("/console/tags/{new_id}/delete"), format!("_csrf={csrf}&confirmed=yes")).await;
    assert_eq!(deleted.status(), 303);
    assert!(!s.sim.state.world().tags.contains_key(&new_id), "gone from WeCom");
    assert!(!pond_store::tag::all_live(db, s.corp_id).await.unwrap().iter().any(|(id, _, _)| *id == new_id));
    s.pond.shutdown().await;
}
