//! What acquisition does when a customer adds an employee: the welcome message (the code's, else
//! the employee's, else the corp default), and for a channel code its tags, its remark prefix and
//! — for native codes with caps or schedules — a refresh of its contact way. Settings are read
//! once per batch ([`AcquisitionEffects::preload`]); the plan is pure.

use std::collections::{BTreeSet, HashMap};

use pond_core::{
    acquisition::{self, CodeMode, Rules},
    ids::Follow,
};
use pond_store::{Db, channel_code::ChannelCode, welcome};
use wecom::{Callback, EventKind, events::ExternalContactChange};

use crate::{
    AppError,
    acquisition::{jobs, welcome::WelcomeJob},
    feature::{BoxFuture, EffectPlan, Event, EventEffects, PlannedJob},
};

/// The state and welcome code of an add event (verified or not).
pub fn added(cb: &Callback) -> Option<(&str, &str, Option<&str>)> {
    match &cb.kind {
        EventKind::ExternalContact(e) => match &e.change {
            ExternalContactChange::Add { state, welcome_code }
            | ExternalContactChange::AddHalf { state, welcome_code } => {
                Some((e.userid.as_str(), state.as_str(), welcome_code.as_deref()))
            }
            _ => None,
        },
        _ => None,
    }
}

pub struct AcquisitionEffects;

impl EventEffects for AcquisitionEffects {
    fn preload<'a>(
        &'a self,
        db: &'a Db,
        corp_id: i64,
        events: &'a [&'a Callback],
    ) -> BoxFuture<'a, Result<Box<dyn EffectPlan>, AppError>> {
        Box::pin(async move {
            let mut states = BTreeSet::new();
            let mut userids = BTreeSet::new();
            for (userid, state, _) in events.iter().filter_map(|cb| added(cb)) {
                if !state.is_empty() {
                    states.insert(state);
                }
                userids.insert(userid);
            }
            if userids.is_empty() {
                return Ok(Box::new(AddPlan::default()) as Box<dyn EffectPlan>);
            }
            let states: Vec<&str> = states.into_iter().collect();
            let userids: Vec<&str> = userids.into_iter().collect();
            let (codes, staff_welcome, corp_default) = tokio::try_join!(
                pond_store::channel_code::find_by_states(db, corp_id, &states),
                welcome::for_staff_many(db, corp_id, &userids),
                welcome::corp_default(db, corp_id),
            )?;
            let mut plan =
                AddPlan { codes: HashMap::new(), staff_welcome: staff_welcome.into_iter().collect(), corp_default };
            for code in codes {
                let planned = CodePlan::of(&code)?;
                plan.codes.insert(code.state.clone(), planned);
            }
            Ok(Box::new(plan) as Box<dyn EffectPlan>)
        })
    }
}

/// What a channel code asks of each customer it brings.
struct CodePlan {
    id: i64,
    welcome_id: Option<i64>,
    tags: Vec<String>,
    remark_prefix: String,
    /// Native with caps or schedules: its contact way's users change as customers arrive.
    refresh: bool,
}

impl CodePlan {
    fn of(code: &ChannelCode) -> Result<CodePlan, AppError> {
        let tags: Vec<String> = crate::json_column("channel_codes.auto_tags", code.id, &code.auto_tags)?;
        let rules: Rules = crate::json_column("channel_codes.rules", code.id, &code.rules)?;
        let native = CodeMode::parse(&code.mode).ok() == Some(CodeMode::Native) && !code.config_id.is_empty();
        Ok(CodePlan {
            id: code.id,
            welcome_id: code.welcome_id,
            tags,
            remark_prefix: code.remark_prefix.clone(),
            refresh: native && (rules.daily_cap.is_some() || !rules.schedules.is_empty()),
        })
    }
}

/// The settings a batch's add events need, read once.
#[derive(Default)]
struct AddPlan {
    codes: HashMap<String, CodePlan>,
    staff_welcome: HashMap<String, i64>,
    corp_default: Option<i64>,
}

impl EffectPlan for AddPlan {
    fn plan(&self, event: &Event<'_>, planned: &mut Vec<PlannedJob>) {
        let Some((userid, state, welcome_code)) = added(event.callback) else { return };
        let EventKind::ExternalContact(e) = &event.callback.kind else { return };
        let external_userid = e.external_userid.as_str();
        let code = self.codes.get(state);
        if let Some(welcome_code) = welcome_code {
            let chosen = acquisition::choose_welcome(
                code.and_then(|c| c.welcome_id),
                self.staff_welcome.get(userid).copied(),
                self.corp_default,
            );
            planned.push(
                WelcomeJob {
                    welcome_code: welcome_code.to_owned(),
                    external_userid: external_userid.to_owned(),
                    userid: userid.to_owned(),
                    welcome_id: chosen,
                    event_at: event.callback.create_time * 1000,
                    received_at: event.stored.received_at,
                    customer_name: event.customer.and_then(|c| c.name()).map(str::to_owned),
                }
                .planned(),
            );
        }
        let Some(code) = code else { return };
        let follow = Follow { external_userid, userid };
        if !code.tags.is_empty() {
            planned.push(jobs::TagJob::planned(code.id, follow, code.tags.clone()));
        }
        if !code.remark_prefix.is_empty() {
            planned.push(jobs::RemarkJob::planned(code.id, follow, &code.remark_prefix));
        }
        if code.refresh {
            planned.push(jobs::RefreshJob::planned(code.id, follow));
        }
    }
}
