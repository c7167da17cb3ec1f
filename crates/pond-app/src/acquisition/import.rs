//! Bulk creation of channel codes from CSV, as a background import ([`crate::imports`]).
//!
//! The upload checks every line against one catalog of the corp's staff, tags and welcome
//! messages (a per-line report refuses the whole file) and stores the codes hidden, with the
//! import. Its steps give each native code its WeCom contact way, a few at a time, then show every
//! code at once. If WeCom refuses one midway — or the import fails in any other way — its steps
//! delete every contact way it made, then the codes, and it ends `failed` with the reason.
//!
//! `add_contact_way` cannot be repeated safely: when its answer is lost (a timeout the client
//! retried although WeCom had carried the call out, or a crash before the answer was written),
//! WeCom holds a contact way Pond never recorded, with the state of one of the import's codes. A
//! resumed step simply makes that code's contact way again; before committing (and before giving
//! up) a step lists the contact ways WeCom made since the import started, reads those Pond does
//! not hold, and deletes the ones that carry the import's states — so what WeCom ends with is
//! exactly one contact way per imported native code, or none.

use std::{
    collections::{BTreeMap, HashSet},
    time::{Duration, Instant},
};

use pond_core::{
    ImportKind, ImportStatus, ValidationError,
    acquisition::{self, Rules},
};
use pond_store::{channel_code::ChannelCode, import::Import, jobs::Job, now_ms};
use tokio::task::JoinSet;
use wecom::Client;

use crate::{
    App, AppError, LineError,
    acquisition::{
        codes::{Catalog, CodeInput, fields},
        routing,
    },
    auth::Actor,
    imports::{self, Failure, StepPayload, Upload},
    pipeline::jobs::{JobError, JobFuture, JobHandler, job_error, parse_payload, store_error},
};

/// Runs the steps of the acquisition feature's imports (channel codes, stores).
pub struct ImportSteps(pub App);

impl JobHandler for ImportSteps {
    fn run<'a>(&'a self, job: &'a Job) -> JobFuture<'a> {
        Box::pin(async move {
            let p: StepPayload = parse_payload(&job.payload)?;
            let import = match pond_store::import::get(&self.0.db, job.corp_id, p.import_id).await {
                Ok(import) => import,
                Err(pond_store::StoreError::NotFound(m)) => return Err(JobError::Permanent(m)),
                Err(e) => return Err(store_error(e)),
            };
            let outcome = match import.kind.parse::<ImportKind>() {
                Ok(ImportKind::ChannelCodes) => step(&self.0, job, &import).await,
                Ok(ImportKind::Stores) => crate::acquisition::regional::import_step(&self.0, &import).await,
                Err(_) => {
                    Err(JobError::Permanent(format!("import {} has an unknown kind {:?}", import.id, import.kind)))
                }
            };
            // A step that will not run again must not leave its import running: it fails (and is
            // undone). An undoing that cannot finish stays `undoing`, its job failed and retryable.
            let last = matches!(&outcome, Err(JobError::Permanent(_)))
                || (outcome.is_err() && job.attempts >= job.max_attempts);
            match outcome {
                Err(e) if last && matches!(import.status(), ImportStatus::Queued | ImportStatus::Running) => {
                    let why = Failure::Other {
                        en: format!("{e}; nothing was imported"),
                        zh: format!("导入未能完成（{e}），整批未导入"),
                    };
                    imports::fail(&self.0, &import, why, &after(job)).await.map_err(job_error)
                }
                outcome => outcome,
            }
        })
    }
}

/// Native codes given their contact way at once (calls in flight).
const BATCH: i64 = 8;

/// How far before the import's start (by Pond's clock) WeCom's creation times are searched, for
/// clocks that disagree.
const SWEEP_MARGIN_S: i64 = 300;

/// Lines that parsed (with their line numbers) and the problems of the others.
pub type ParsedCodes = (Vec<(usize, CodeInput)>, Vec<LineError>);

/// Parses a code CSV: `name,channel_group,mode,strategy,state,staff,daily_cap,auto_tags,welcome_id,remark_prefix`
/// (staff as `userid[:weight]` separated by `|`, tags separated by `|`).
/// Returns the lines that parsed and the problems of the others (a bad header is the only error).
pub fn parse_codes_csv(text: &str) -> Result<ParsedCodes, Vec<LineError>> {
    let expected = [
        "name",
        "channel_group",
        "mode",
        "strategy",
        "state",
        "staff",
        "daily_cap",
        "auto_tags",
        "welcome_id",
        "remark_prefix",
    ];
    let mut reader = crate::error::csv_with_header(text, &expected)?;
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = crate::error::csv_line(&record, i);
        let record = match record {
            Ok(r) if r.len() == expected.len() => r,
            Ok(r) => {
                errors.push(LineError::new(
                    line,
                    "line",
                    format!("has {} fields; {} are needed", r.len(), expected.len()),
                    format!("有 {} 列，应为 {} 列", r.len(), expected.len()),
                ));
                continue;
            }
            Err(e) => {
                errors.push(LineError::new(line, "line", e.to_string(), format!("无法读取：{e}")));
                continue;
            }
        };
        let staff: Result<Vec<acquisition::StaffWeight>, ValidationError> = record[5]
            .split('|')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| match s.split_once(':') {
                Some((u, w)) => {
                    w.parse().map(|weight| acquisition::StaffWeight { userid: u.into(), weight }).map_err(|_| {
                        ValidationError::new(
                            "staff",
                            format!("{s:?}: weight must be a whole number"),
                            format!("{s:?}：权重须为整数"),
                        )
                    })
                }
                None => Ok(acquisition::StaffWeight { userid: s.into(), weight: 1 }),
            })
            .collect();
        let cap = match record[6].trim() {
            "" => Ok(None),
            v => v
                .parse::<u32>()
                .map(Some)
                .map_err(|_| ValidationError::new("daily_cap", "must be a whole number", "须为整数")),
        };
        let welcome = match record[8].trim() {
            "" => Ok(None),
            v => v
                .parse::<i64>()
                .map(Some)
                .map_err(|_| ValidationError::new("welcome_id", "must be a welcome message id", "须为欢迎语的编号")),
        };
        match (staff, cap, welcome) {
            (Ok(staff), Ok(daily_cap), Ok(welcome_id)) => out.push((
                line,
                CodeInput {
                    name: record[0].into(),
                    channel_group: record[1].into(),
                    mode: record[2].into(),
                    strategy: record[3].into(),
                    state: record[4].into(),
                    rules: Rules { staff, daily_cap, schedules: vec![], backup: vec![] },
                    auto_tags: record[7]
                        .split('|')
                        .map(str::trim)
                        .filter(|t| !t.is_empty())
                        .map(str::to_owned)
                        .collect(),
                    welcome_id,
                    skip_verify: true,
                    remark_prefix: record[9].into(),
                },
            )),
            (Err(e), _, _) => errors.push(LineError::invalid(line, e)),
            (_, Err(e), _) => errors.push(LineError::invalid(line, e)),
            (_, _, Err(e)) => errors.push(LineError::invalid(line, e)),
        }
    }
    if errors.is_empty() && out.is_empty() {
        errors.push(LineError::new(2, "line", "the file has no codes", "文件中没有活码"));
    }
    Ok((out, errors))
}

/// Checks a code CSV and, when every line is good, starts importing it in the background: the
/// codes are stored hidden with the import and appear together once every native code has its
/// WeCom contact way. A file with any bad line is refused at once with a report of every line.
pub async fn start_csv(app: &App, actor: &Actor, corp_id: i64, text: &str) -> Result<Upload, AppError> {
    let (rows, mut errors) = match parse_codes_csv(text) {
        Ok(parsed) => parsed,
        Err(report) => return Ok(Upload::Refused(report)),
    };
    let catalog = Catalog::load(&app.db, corp_id).await?;
    let mut valid = Vec::with_capacity(rows.len());
    let mut states: BTreeMap<String, usize> = BTreeMap::new();
    for (line, input) in rows {
        match catalog.validate(input) {
            Ok(v) => match states.get(&v.input.state) {
                Some(first) => errors.push(LineError::new(
                    line,
                    "state",
                    format!("{:?} already appears on line {first}", v.input.state),
                    format!("{:?} 已在第 {first} 行出现", v.input.state),
                )),
                None => {
                    states.insert(v.input.state.clone(), line);
                    valid.push(v);
                }
            },
            Err(AppError::Invalid(e)) => errors.push(LineError::invalid(line, e)),
            Err(e) => return Err(e),
        }
    }
    let wanted: Vec<&str> = states.keys().map(String::as_str).collect();
    for taken in pond_store::channel_code::states_in_use(&app.db, corp_id, &wanted).await? {
        if let Some(line) = states.get(&taken) {
            errors.push(LineError::new(
                *line,
                "state",
                format!("another code already uses {taken:?}"),
                format!("已有其他活码使用 {taken:?}"),
            ));
        }
    }
    if !errors.is_empty() {
        errors.sort_by_key(|e| e.line);
        return Ok(Upload::Refused(errors));
    }
    let payload = serde_json::to_string(&Lines { lines: states }).map_err(|e| AppError::Internal(e.to_string()))?;
    let mut tx = app.db.begin().await?;
    let import = imports::start(&mut tx, corp_id, actor, ImportKind::ChannelCodes, valid.len(), &payload).await?;
    let rows: Vec<_> = valid.iter().map(fields).collect();
    pond_store::channel_code::create_for_import(&mut tx, corp_id, import.id, &rows).await?;
    tx.commit().await?;
    app.wake_worker.notify_one();
    Ok(Upload::Started(import.try_into()?))
}

/// What a code import keeps besides its codes: each state's line in the file (for the report
/// when WeCom refuses one).
#[derive(serde::Serialize, serde::Deserialize)]
struct Lines {
    lines: BTreeMap<String, usize>,
}

/// One step of a code import (run by the import job): makes contact ways, commits, or undoes.
pub(crate) async fn step(app: &App, job: &Job, import: &Import) -> Result<(), JobError> {
    match import.status() {
        ImportStatus::Queued | ImportStatus::Running => make(app, job, import).await,
        ImportStatus::Undoing => undo(app, job, import).await,
        ImportStatus::Done | ImportStatus::Failed => Ok(()),
    }
}

/// How long one step works before queuing the next: well inside its lease, so that no other
/// worker takes the import over while this one runs.
fn step_budget(job: &Job) -> Duration {
    let lease_left = job.locked_until.map_or(20_000, |until| until - now_ms());
    Duration::from_millis(u64::try_from(lease_left / 4).unwrap_or(0).clamp(200, 5_000))
}

/// The name of the step after this job's.
fn after(job: &Job) -> String {
    format!("after-{}", job.id)
}

/// What became of one native code's contact way.
enum Way {
    Made,
    /// WeCom refused it for good.
    Refused(Box<ChannelCode>, AppError),
    /// WeCom could not do it now.
    Transient(AppError),
    /// The import stopped running meanwhile (it is being undone); the contact way was deleted again.
    Stopped,
}

async fn make(app: &App, job: &Job, import: &Import) -> Result<(), JobError> {
    let db = &app.db;
    if import.status() == ImportStatus::Queued {
        pond_store::import::set_running(db, import.id).await.map_err(store_error)?;
    }
    let mut made = pond_store::channel_code::import_made(db, import.id).await.map_err(store_error)?;
    let deadline = Instant::now() + step_budget(job);
    let mut client = None;
    loop {
        let batch =
            pond_store::channel_code::import_codes_without_way(db, import.id, BATCH).await.map_err(store_error)?;
        if batch.is_empty() {
            break;
        }
        let wecom = match &client {
            Some(c) => c,
            None => match app.client(import.corp_id).await {
                Ok(c) => client.insert(c),
                Err(e) => return retry_or_give_up(app, job, import, e).await,
            },
        };
        let mut calls = JoinSet::new();
        for code in batch {
            calls.spawn(make_way(app.clone(), wecom.clone(), import.id, code));
        }
        let (mut refused, mut transient, mut stopped) = (None, None, false);
        while let Some(outcome) = calls.join_next().await {
            match outcome.map_err(|e| JobError::Retryable(format!("a contact-way call panicked: {e}")))? {
                Way::Made => made += 1,
                Way::Refused(code, e) => refused = refused.or(Some((code, e))),
                Way::Transient(e) => transient = transient.or(Some(e)),
                Way::Stopped => stopped = true,
            }
        }
        pond_store::import::set_progress(db, import.id, made).await.map_err(store_error)?;
        if stopped {
            return Ok(()); // whoever stopped it queued the undoing
        }
        if let Some((code, e)) = refused {
            let line = refused_line(app, import, &code, &e).await.map_err(job_error)?;
            return imports::fail(app, import, Failure::Lines(vec![line]), &after(job)).await.map_err(job_error);
        }
        if let Some(e) = transient {
            return retry_or_give_up(app, job, import, e).await;
        }
        if Instant::now() >= deadline {
            imports::queue_step(db, import.corp_id, import.id, &after(job)).await.map_err(job_error)?;
            app.wake_worker.notify_one();
            return Ok(());
        }
    }
    // Every code is made: remove what WeCom holds beyond the recorded contact ways, then show them.
    if pond_store::channel_code::import_ways(db, import.id).await.map_err(store_error)? > 0 {
        let wecom = match client {
            Some(c) => c,
            None => match app.client(import.corp_id).await {
                Ok(c) => c,
                Err(e) => return retry_or_give_up(app, job, import, e).await,
            },
        };
        if let Err(e) = sweep(app, &wecom, import, Sweep::Duplicates).await {
            return retry_or_give_up(app, job, import, e).await;
        }
    }
    let mut tx = db.begin().await.map_err(store_error)?;
    let codes = pond_store::channel_code::reveal_import(&mut tx, import.id).await.map_err(store_error)?;
    if imports::finish_done(&mut tx, import, &format!("channel_codes: {codes} codes")).await.map_err(job_error)? {
        tx.commit().await.map_err(store_error)?;
    }
    Ok(())
}

/// Gives one native code of an import its contact way, and records it while the import runs.
async fn make_way(app: App, client: Client, import_id: i64, code: ChannelCode) -> Way {
    let users = match routing::native_users(&app, &code, now_ms()).await {
        Ok(users) if !users.is_empty() => users,
        Ok(_) => match crate::json_column::<Rules>("channel_codes.rules", code.id, &code.rules) {
            Ok(rules) => rules.all_staff().into_iter().take(1).collect(),
            Err(e) => return Way::Transient(e),
        },
        Err(e) if e.is_transient() => return Way::Transient(e),
        Err(e) => return Way::Refused(Box::new(code), e),
    };
    let created = match client.add_contact_way(&routing::native_way(&code, users.clone())).await {
        Ok(created) => created,
        Err(e) if e.is_transient() => return Way::Transient(e.into()),
        Err(e) => return Way::Refused(Box::new(code), e.into()),
    };
    let json = serde_json::to_string(&users).unwrap_or_else(|_| "[]".into());
    let way = (created.config_id.as_str(), created.qr_code.as_str());
    match pond_store::channel_code::set_import_way(&app.db, import_id, code.id, way.0, way.1, &json).await {
        Ok(true) => Way::Made,
        Ok(false) => {
            // Not wanted any more; should this fail too, the undoing's sweep finds it by its state.
            if let Err(e) = client.del_contact_way(&created.config_id).await {
                tracing::warn!(import_id, code_id = code.id, error = %e, "could not delete a contact way made as its import stopped");
            }
            Way::Stopped
        }
        // WeCom holds it but Pond could not record it: the sweep finds it by its state.
        Err(e) => Way::Transient(e.into()),
    }
}

/// The report line for a code WeCom refused.
async fn refused_line(app: &App, import: &Import, code: &ChannelCode, e: &AppError) -> Result<LineError, AppError> {
    let payload = pond_store::import::payload(&app.db, import.corp_id, import.id).await?;
    let lines: Lines = crate::json_column("imports.payload", import.id, &payload)?;
    let line = lines.lines.get(&code.state).copied().unwrap_or(0);
    let zh = match e {
        AppError::Invalid(v) => v.reason_zh.clone(),
        AppError::Wecom { errcode: Some(errcode), .. } => {
            format!("企业微信拒绝了该行的活码（错误码 {errcode}），整批未导入")
        }
        _ => "企业微信拒绝了该行的活码，整批未导入".to_owned(),
    };
    Ok(LineError::new(line, "line", format!("{e}; nothing was imported"), zh))
}

/// A transient failure: the step is tried again later, or — its attempts spent — the import
/// fails and is undone.
async fn retry_or_give_up(app: &App, job: &Job, import: &Import, e: AppError) -> Result<(), JobError> {
    if job.attempts < job.max_attempts {
        // Retried whatever the error (a permanent job failure would leave the import running).
        return Err(JobError::Retryable(e.cause().unwrap_or_else(|| e.to_string())));
    }
    give_up(app, job, import, e).await
}

/// Fails the import for a reason that is no line's fault.
async fn give_up(app: &App, job: &Job, import: &Import, e: AppError) -> Result<(), JobError> {
    let why = Failure::Other {
        en: format!("{e}; nothing was imported"),
        zh: match &e {
            AppError::NotConnected(_) => "企业微信尚未连接，整批未导入".to_owned(),
            _ => format!("企业微信多次未能完成（{e}），整批未导入"),
        },
    };
    imports::fail(app, import, why, &after(job)).await.map_err(job_error)
}

/// Undoes a failed import: deletes the contact ways it made, a few at a time, then sweeps WeCom
/// for any it made without hearing, then removes its codes and ends it `failed`.
async fn undo(app: &App, job: &Job, import: &Import) -> Result<(), JobError> {
    let db = &app.db;
    let deadline = Instant::now() + step_budget(job);
    let mut client = None;
    loop {
        let batch = pond_store::channel_code::import_codes_with_way(db, import.id, BATCH).await.map_err(store_error)?;
        if batch.is_empty() {
            break;
        }
        let wecom = match &client {
            Some(c) => c,
            None => client.insert(app.client(import.corp_id).await.map_err(still_to_undo)?),
        };
        let mut calls = JoinSet::new();
        for code in batch {
            let (app, wecom, import_id) = (app.clone(), wecom.clone(), import.id);
            calls.spawn(async move {
                match wecom.del_contact_way(&code.config_id).await {
                    Ok(()) => {}
                    Err(e) if e.errcode() == Some(super::NO_SUCH_WAY) => {}
                    Err(e) => return Err(still_to_undo(e.into())),
                }
                pond_store::channel_code::clear_import_way(&app.db, import_id, code.id).await.map_err(store_error)
            });
        }
        let mut failed = None;
        while let Some(outcome) = calls.join_next().await {
            if let Err(e) = outcome.map_err(|e| JobError::Retryable(format!("a contact-way call panicked: {e}")))? {
                failed = failed.or(Some(e));
            }
        }
        let left = pond_store::channel_code::import_ways(db, import.id).await.map_err(store_error)?;
        pond_store::import::set_progress(db, import.id, left).await.map_err(store_error)?;
        if let Some(e) = failed {
            return Err(e);
        }
        if Instant::now() >= deadline {
            imports::queue_step(db, import.corp_id, import.id, &after(job)).await.map_err(job_error)?;
            app.wake_worker.notify_one();
            return Ok(());
        }
    }
    // Contact ways WeCom made without Pond hearing of it carry the codes' states.
    let wecom = match client {
        Some(c) => Some(c),
        None => match app.client(import.corp_id).await {
            Ok(c) => Some(c),
            // Never connected: it made nothing in WeCom.
            Err(AppError::NotConnected(_)) => None,
            Err(e) => return Err(still_to_undo(e)),
        },
    };
    if let Some(wecom) = wecom {
        sweep(app, &wecom, import, Sweep::Everything).await.map_err(still_to_undo)?;
    }
    let mut tx = db.begin().await.map_err(store_error)?;
    pond_store::channel_code::remove_import(&mut tx, import.id).await.map_err(store_error)?;
    if imports::finish_failed(&mut tx, import).await.map_err(job_error)? {
        tx.commit().await.map_err(store_error)?;
    }
    Ok(())
}

/// An undoing cannot be given up: every failure is tried again (and, once the step's attempts
/// are spent, the job stays failed — retryable from the console — with the import `undoing`).
fn still_to_undo(e: AppError) -> JobError {
    JobError::Retryable(e.cause().unwrap_or_else(|| e.to_string()))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sweep {
    /// Before committing: contact ways beyond each code's recorded one.
    Duplicates,
    /// Before failing: every contact way with one of the import's states.
    Everything,
}

/// Deletes the contact ways WeCom made since the import started that carry one of its codes'
/// states and are not what Pond recorded for them. Returns how many.
async fn sweep(app: &App, client: &Client, import: &Import, what: Sweep) -> Result<usize, AppError> {
    let since = import.created_at / 1000 - SWEEP_MARGIN_S;
    let mut listed = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = client.list_contact_way(Some(since), None, &cursor, 1000).await?;
        listed.extend(page.contact_way.into_iter().map(|c| c.config_id));
        if page.next_cursor.is_empty() {
            break;
        }
        cursor = page.next_cursor;
    }
    let ids: Vec<&str> = listed.iter().map(String::as_str).collect();
    let except = (what == Sweep::Everything).then_some(import.id);
    let mut held: HashSet<String> =
        pond_store::channel_code::config_ids_held(&app.db, import.corp_id, &ids, except).await?.into_iter().collect();
    held.extend(pond_store::contact_way::config_ids_held(&app.db, import.corp_id, &ids).await?);
    let mut removed = 0;
    for config_id in ids.into_iter().filter(|id| !held.contains(*id)) {
        let way = match client.get_contact_way(config_id).await {
            Ok(way) => way,
            Err(e) if e.errcode() == Some(super::NO_SUCH_WAY) => continue,
            Err(e) => return Err(e.into()),
        };
        let Some(code) = pond_store::channel_code::import_code_by_state(&app.db, import.id, &way.state).await? else {
            continue;
        };
        if what == Sweep::Duplicates && code.config_id == config_id {
            continue;
        }
        match client.del_contact_way(config_id).await {
            Ok(()) => removed += 1,
            Err(e) if e.errcode() == Some(super::NO_SUCH_WAY) => {}
            Err(e) => return Err(e.into()),
        }
    }
    if removed > 0 {
        tracing::info!(
            import_id = import.id,
            removed,
            "removed contact ways WeCom made for an import without Pond hearing"
        );
    }
    Ok(removed)
}
