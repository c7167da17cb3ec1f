//! A feature area plugs in through `pond_app::feature` alone: a test feature that greets
//! customers joining a group gets its effects preloaded and planned for group events, its job
//! kind run by the job worker and its after-commit hook called — once per join, although the
//! simulator delivers every callback twice — while acquisition keeps working beside it.

mod common;

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicUsize, Ordering},
};
use std::time::Duration;

use common::world::{settle, setup_with};
use pond_app::{
    App, AppError,
    feature::{BoxFuture, EffectPlan, Event, EventEffects, Feature, PlannedJob},
    pipeline::jobs::{JobFuture, JobHandler, Registry},
};
use pond_store::{Db, jobs::Job, test_on_both_backends};
use wecom::{Callback, EventKind, events::ExternalChatChange};
use wecom_sim::world::Action;

test_on_both_backends!(a_feature_plugs_in_through_the_extension_points_alone);

const GREET: &str = "test.greet_member";

#[derive(Clone, Default)]
struct Seen {
    /// (chat, member) of every greeting job run.
    greeted: Arc<Mutex<Vec<(String, String)>>>,
    /// Events the after-commit hook was told of.
    committed: Arc<AtomicUsize>,
    /// Batches preloaded.
    preloads: Arc<AtomicUsize>,
}

struct Greetings(Seen);

impl Feature for Greetings {
    fn name(&self) -> &'static str {
        "test.greetings"
    }
    fn register_jobs(&self, _app: &App, registry: Registry) -> Registry {
        registry.with(GREET, Greeter(self.0.clone()))
    }
    fn event_effects(&self) -> Option<Arc<dyn EventEffects>> {
        Some(Arc::new(GreetEffects(self.0.clone())))
    }
}

struct GreetEffects(Seen);

impl EventEffects for GreetEffects {
    fn preload<'a>(
        &'a self,
        _db: &'a Db,
        _corp_id: i64,
        _events: &'a [&'a Callback],
    ) -> BoxFuture<'a, Result<Box<dyn EffectPlan>, AppError>> {
        self.0.preloads.fetch_add(1, Ordering::SeqCst);
        Box::pin(async { Ok(Box::new(GreetPlan) as Box<dyn EffectPlan>) })
    }
    fn after_commit(&self, _corp_id: i64, events: &[&Callback]) {
        self.0.committed.fetch_add(events.len(), Ordering::SeqCst);
    }
}

struct GreetPlan;

impl EffectPlan for GreetPlan {
    fn plan(&self, event: &Event<'_>, jobs: &mut Vec<PlannedJob>) {
        let EventKind::ExternalChat(chat) = &event.callback.kind else { return };
        let ExternalChatChange::Update { detail, members, .. } = &chat.change else { return };
        if detail != "add_member" {
            return;
        }
        for member in members {
            jobs.push(PlannedJob {
                kind: GREET,
                payload: serde_json::json!({"chat": chat.chat_id, "member": member}).to_string(),
                idempotency_key: format!("greet:{}:{member}", chat.chat_id),
                max_attempts: 3,
            });
        }
    }
}

struct Greeter(Seen);

impl JobHandler for Greeter {
    fn run<'a>(&'a self, job: &'a Job) -> JobFuture<'a> {
        Box::pin(async move {
            let p: serde_json::Value = pond_app::pipeline::jobs::parse_payload(&job.payload)?;
            let pair = (p["chat"].as_str().unwrap_or("").to_owned(), p["member"].as_str().unwrap_or("").to_owned());
            self.0.greeted.lock().unwrap().push(pair);
            Ok(())
        })
    }
}

async fn a_feature_plugs_in_through_the_extension_points_alone(db: Db) {
    let seen = Seen::default();
    let mut features = pond_app::features();
    features.push(Arc::new(Greetings(seen.clone())));
    let s = setup_with(db, true, features).await;
    pond_app::sync::run_full_sync(&s.pond.app, s.corp_id, "test").await.unwrap();

    let (chat_id, joiners) = {
        let world = s.sim.state.world();
        let (chat_id, group) = world.groups.iter().next().expect("a group");
        let joiners: Vec<String> =
            world.customers.keys().filter(|c| !group.members.contains_key(*c)).take(3).cloned().collect();
        (chat_id.clone(), joiners)
    };
    assert_eq!(joiners.len(), 3);
    for customer in &joiners {
        s.sim.act(Action::JoinGroup { chat_id: chat_id.clone(), external_userid: customer.clone() }).unwrap();
    }
    // A customer adding an employee still goes through acquisition beside the new feature.
    s.sim
        .act(Action::Scan { config_id: None, state: Some("store-001".into()), external_userid: None, name: None })
        .unwrap();
    settle(&s).await;

    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while seen.greeted.lock().unwrap().len() < joiners.len() {
        assert!(tokio::time::Instant::now() < deadline, "greetings not run: {:?}", seen.greeted.lock().unwrap());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Let a second (wrong) run of any greeting show up before counting.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut greeted = seen.greeted.lock().unwrap().clone();
    greeted.sort();
    let mut expected: Vec<(String, String)> = joiners.iter().map(|c| (chat_id.clone(), c.clone())).collect();
    expected.sort();
    assert_eq!(greeted, expected, "each joiner greeted exactly once, duplicates absorbed");
    assert!(seen.preloads.load(Ordering::SeqCst) >= 1, "effects preloaded");
    assert!(
        seen.committed.load(Ordering::SeqCst) > joiners.len(),
        "after-commit told of the joins and the add: {}",
        seen.committed.load(Ordering::SeqCst)
    );
    // No welcome message is configured: acquisition's expedited welcome recorded the add as skipped.
    let outcomes = pond_store::welcome::result_counts(&s.pond.app.db, s.corp_id).await.unwrap();
    assert_eq!(outcomes, vec![("skipped".to_owned(), 1)], "acquisition ran beside the new feature");
    assert_eq!(s.sim.calls().get("externalcontact/send_welcome_msg"), None, "nothing to send, nothing called");
    s.pond.shutdown().await;
}
