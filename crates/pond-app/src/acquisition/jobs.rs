//! The acquisition journey's queued jobs besides the welcome: channel tags, remark prefix, and
//! the refresh of a native code's contact way (after adds, and every minute for schedules).

use pond_core::ids::Follow;
use pond_store::{channel_code::ChannelCode, customer, now_ms};
use serde::{Deserialize, Serialize};
use wecom::Client;

use crate::{
    App, AppError,
    acquisition::routing,
    feature::PlannedJob,
    pipeline::jobs::{JobFuture, JobHandler, api_error, job_error, parse_payload, payload_json, store_error},
};

pub const MARK_TAG_JOB: &str = "customer.mark_tag";
pub const REMARK_JOB: &str = "customer.remark";
pub const REFRESH_JOB: &str = "channel.refresh";

#[derive(Debug, Serialize, Deserialize)]
pub struct TagJob {
    userid: String,
    external_userid: String,
    add: Vec<String>,
}

impl TagJob {
    pub fn planned(code_id: i64, follow: Follow<'_>, add: Vec<String>) -> PlannedJob {
        let Follow { external_userid, userid } = follow;
        let job = TagJob { userid: userid.into(), external_userid: external_userid.into(), add };
        PlannedJob {
            kind: MARK_TAG_JOB,
            payload: payload_json(&job),
            idempotency_key: format!("tags:{code_id}:{external_userid}:{userid}"),
            max_attempts: 8,
        }
    }

    /// The same job for an operator's bulk tagging; `batch` makes each bulk action distinct.
    pub fn for_batch(batch: &str, follow: Follow<'_>, add: Vec<String>) -> PlannedJob {
        let Follow { external_userid, userid } = follow;
        let job = TagJob { userid: userid.into(), external_userid: external_userid.into(), add };
        PlannedJob {
            kind: MARK_TAG_JOB,
            payload: payload_json(&job),
            idempotency_key: format!("bulk-tags:{batch}:{external_userid}:{userid}"),
            max_attempts: 8,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct RemarkJob {
    userid: String,
    external_userid: String,
    prefix: String,
}

impl RemarkJob {
    pub fn planned(code_id: i64, follow: Follow<'_>, prefix: &str) -> PlannedJob {
        let Follow { external_userid, userid } = follow;
        let job = RemarkJob { userid: userid.into(), external_userid: external_userid.into(), prefix: prefix.into() };
        PlannedJob {
            kind: REMARK_JOB,
            payload: payload_json(&job),
            idempotency_key: format!("remark:{code_id}:{external_userid}:{userid}"),
            max_attempts: 8,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct RefreshJob {
    code_id: i64,
}

impl RefreshJob {
    pub fn planned(code_id: i64, follow: Follow<'_>) -> PlannedJob {
        let Follow { external_userid, userid } = follow;
        PlannedJob {
            kind: REFRESH_JOB,
            payload: payload_json(&RefreshJob { code_id }),
            idempotency_key: format!("refresh:{code_id}:{external_userid}:{userid}"),
            max_attempts: 8,
        }
    }
}

/// Puts a channel code's tags on a customer it brought.
pub struct TagMarker(pub App);

impl JobHandler for TagMarker {
    fn run<'a>(&'a self, job: &'a pond_store::jobs::Job) -> JobFuture<'a> {
        Box::pin(async move {
            let p: TagJob = parse_payload(&job.payload)?;
            let client = self.0.client(job.corp_id).await.map_err(job_error)?;
            client.mark_tag(&p.userid, &p.external_userid, &p.add, &[]).await.map_err(api_error)?;
            // Reflect at once; the edit callback (if any) will confirm.
            let mut tags = customer::follow_tags(
                &self.0.db,
                job.corp_id,
                Follow { external_userid: &p.external_userid, userid: &p.userid },
            )
            .await
            .map_err(store_error)?;
            tags.extend(p.add);
            tags.sort();
            tags.dedup();
            customer::set_follow_tags(
                &self.0.db,
                job.corp_id,
                Follow { external_userid: &p.external_userid, userid: &p.userid },
                &tags,
            )
            .await
            .map_err(store_error)
        })
    }
}

/// Prefixes a customer's remark with the code's prefix.
pub struct Remarker(pub App);

impl JobHandler for Remarker {
    fn run<'a>(&'a self, job: &'a pond_store::jobs::Job) -> JobFuture<'a> {
        Box::pin(async move {
            let p: RemarkJob = parse_payload(&job.payload)?;
            let name =
                customer::get(&self.0.db, job.corp_id, &p.external_userid).await.map(|c| c.name).unwrap_or_default();
            let remark: String = format!("{}{name}", p.prefix).chars().take(20).collect();
            let client = self.0.client(job.corp_id).await.map_err(job_error)?;
            client.remark(&p.userid, &p.external_userid, &remark, "").await.map_err(api_error)
        })
    }
}

/// Brings a native code's contact way in line with its caps and schedules.
pub struct Refresher(pub App);

impl JobHandler for Refresher {
    fn run<'a>(&'a self, job: &'a pond_store::jobs::Job) -> JobFuture<'a> {
        Box::pin(async move {
            let p: RefreshJob = parse_payload(&job.payload)?;
            let code = pond_store::channel_code::get(&self.0.db, job.corp_id, p.code_id).await.map_err(store_error)?;
            let client = self.0.client(job.corp_id).await.map_err(job_error)?;
            refresh_native(&self.0, &client, &code).await.map_err(job_error)
        })
    }
}

/// Makes a native code's contact way hold exactly the employees eligible now.
pub async fn refresh_native(app: &App, client: &Client, code: &ChannelCode) -> Result<(), AppError> {
    let users = routing::native_users(app, code, now_ms()).await?;
    let current: Vec<String> = crate::json_column("channel_codes.current_users", code.id, &code.current_users)?;
    if users == current || users.is_empty() {
        // An empty list cannot be stored in WeCom; the code keeps its last users until someone can serve.
        return Ok(());
    }
    let update = wecom::api::ContactWayUpdate {
        config_id: code.config_id.clone(),
        user: Some(users.clone()),
        ..Default::default()
    };
    client.update_contact_way(&update).await?;
    let json = serde_json::to_string(&users).unwrap_or_default();
    Ok(pond_store::channel_code::set_contact_way(&app.db, code.id, &code.config_id, &code.qr_code, &json).await?)
}

/// Brings every native code's contact way in line with its schedules and caps (periodic task).
pub async fn refresh_native_codes(app: &App) -> Result<(), AppError> {
    for code in pond_store::channel_code::all_native(&app.db).await? {
        let client = match app.client(code.corp_id).await {
            Ok(client) => client,
            Err(AppError::NotConnected(_)) => continue,
            Err(e) => return Err(e),
        };
        if let Err(e) = refresh_native(app, &client, &code).await {
            tracing::warn!(code_id = code.id, error = %e, "could not refresh a native code's staff");
        }
    }
    Ok(())
}
