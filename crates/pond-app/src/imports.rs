//! Background imports, the part every kind shares. A CSV whose every line passed its checks is
//! stored as an import and run by the job queue one step (one job) at a time, whatever becomes of
//! the request that uploaded it: progress is written as it goes, the answer to the upload is the
//! import's id, and the console and the API show how far it got.
//!
//! All or nothing: what a kind makes stays hidden until the import commits, in one transaction
//! with its `done` status; if anything fails first (a line WeCom refuses, WeCom failing past the
//! job's attempts, the settings gone), the import turns `undoing` and its steps remove everything
//! it made before it is `failed`. A step whose worker died is re-run after its lease by any
//! instance; steps are written to be run twice. The start and the end are audited, for whoever
//! uploaded the file. The kinds live with their feature (`acquisition::import` for channel
//! codes, `acquisition::regional` for stores).

use pond_core::{ImportKind, ImportStatus, Page, PageRequest};
use pond_store::{Conn, Tx, import::Import};
use serde::Serialize;

use crate::{
    App, AppError, LineError,
    audit::{self, AuditAction},
    auth::Actor,
    pipeline::jobs::payload_json,
};

/// The job kind that runs an import's steps.
pub const IMPORT_JOB: &str = "import.step";

/// Attempts of one step before WeCom's transient errors fail the import (a crash costs one too).
pub const STEP_ATTEMPTS: i64 = 8;

/// An import as the console and the API show it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportView {
    pub id: i64,
    /// `channel_codes` or `stores`.
    pub kind: String,
    /// `queued`, `running`, `undoing` (failed; removing what it made), `done` (all made) or
    /// `failed` (nothing left).
    pub status: String,
    /// Lines in the file.
    pub total: i64,
    /// Lines made so far (while undoing: lines still to undo).
    pub done: i64,
    /// The lines refused, when it failed because of them.
    pub errors: Vec<LineError>,
    /// Why it failed, when not because of one line.
    pub error: String,
    pub error_zh: String,
    /// Who uploaded it.
    pub actor: String,
    pub created_at: i64,
    pub finished_at: Option<i64>,
}

impl ImportView {
    pub fn status(&self) -> ImportStatus {
        self.status.parse().unwrap_or(ImportStatus::Failed)
    }
    /// Whole percent of the lines made (or undone).
    pub fn percent(&self) -> i64 {
        if self.total <= 0 { 100 } else { (self.done.clamp(0, self.total) * 100) / self.total }
    }
}

impl TryFrom<Import> for ImportView {
    type Error = AppError;
    fn try_from(i: Import) -> Result<Self, AppError> {
        let errors = crate::json_column("imports.report", i.id, &i.report)?;
        Ok(ImportView {
            id: i.id,
            kind: i.kind,
            status: i.status,
            total: i.total,
            done: i.done,
            errors,
            error: i.error,
            error_zh: i.error_zh,
            actor: i.actor,
            created_at: i.created_at,
            finished_at: i.finished_at,
        })
    }
}

/// What became of an upload: refused at once with a report naming each bad line (nothing
/// stored), or started in the background.
#[derive(Debug)]
pub enum Upload {
    Started(ImportView),
    Refused(Vec<LineError>),
}

pub async fn get(app: &App, corp_id: i64, id: i64) -> Result<ImportView, AppError> {
    pond_store::import::get(&app.db, corp_id, id).await?.try_into()
}

/// A corp's imports, newest first.
pub async fn list(app: &App, corp_id: i64, req: PageRequest) -> Result<Page<ImportView>, AppError> {
    let page = pond_store::import::list(&app.db, corp_id, req).await?;
    let (total, page_no, per_page) = (page.total, page.page, page.per_page);
    let items = page.items.into_iter().map(ImportView::try_from).collect::<Result<_, _>>()?;
    Ok(Page { items, total, page: page_no, per_page })
}

/// Stores an import of `total` lines, audits its start and queues its first step — in the
/// caller's transaction, with whatever the kind stores for it. Wake the job worker after the
/// commit ([`App::wake_worker`]).
pub(crate) async fn start(
    tx: &mut Tx,
    corp_id: i64,
    actor: &Actor,
    kind: ImportKind,
    total: usize,
    payload: &str,
) -> Result<Import, AppError> {
    let total = i64::try_from(total).unwrap_or(i64::MAX);
    let new = pond_store::import::NewImport { corp_id, kind: kind.as_str(), total, payload, actor: actor.as_str() };
    let import = pond_store::import::create(&mut *tx, &new).await?;
    let detail = format!("{}: {total} lines", kind.as_str());
    audit::record(&mut *tx, corp_id, actor, AuditAction::ImportStart, &target(import.id), &detail).await?;
    queue_step(&mut *tx, corp_id, import.id, "first").await?;
    Ok(import)
}

/// Queues the import's next step (`after` names the step it follows, so a step run twice
/// queues its successor once).
pub(crate) async fn queue_step<'c>(
    conn: impl Into<Conn<'c>>,
    corp_id: i64,
    import_id: i64,
    after: &str,
) -> Result<(), AppError> {
    let payload = payload_json(&StepPayload { import_id });
    let key = format!("import:{import_id}:{after}");
    let job = pond_store::jobs::NewJob {
        corp_id,
        kind: IMPORT_JOB,
        payload: &payload,
        idempotency_key: &key,
        max_attempts: STEP_ATTEMPTS,
        run_at: None,
    };
    pond_store::jobs::enqueue(conn, &job).await?;
    Ok(())
}

/// A step's job payload.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct StepPayload {
    pub import_id: i64,
}

/// The audit log's name for an import.
pub(crate) fn target(id: i64) -> String {
    format!("import:{id}")
}

/// Who a step acts for: whoever uploaded the file.
pub(crate) fn uploader(import: &Import) -> Actor {
    Actor::recorded(&import.actor)
}

/// Ends an import with everything made, audited: call with the transaction that shows what it
/// made. Returns false (and records nothing) when it was not running.
pub(crate) async fn finish_done(tx: &mut Tx, import: &Import, detail: &str) -> Result<bool, AppError> {
    if !pond_store::import::finish_done(&mut *tx, import.id).await? {
        return Ok(false);
    }
    audit::record(&mut *tx, import.corp_id, &uploader(import), AuditAction::ImportDone, &target(import.id), detail)
        .await?;
    Ok(true)
}

/// Ends an undone import as failed, audited with its reason: call with the transaction that
/// removes the last of what it made. Returns false when it was not being undone.
pub(crate) async fn finish_failed(tx: &mut Tx, import: &Import) -> Result<bool, AppError> {
    if !pond_store::import::finish_failed(&mut *tx, import.id).await? {
        return Ok(false);
    }
    let report: Vec<LineError> = crate::json_column("imports.report", import.id, &import.report)?;
    let reason = match report.first() {
        Some(e) => format!("line {}: {}: {}", e.line, e.field, e.message),
        None => import.error.clone(),
    };
    let detail = format!("{}: nothing imported ({reason})", import.kind);
    audit::record(&mut *tx, import.corp_id, &uploader(import), AuditAction::ImportFailed, &target(import.id), &detail)
        .await?;
    Ok(true)
}

/// Why an import fails.
#[derive(Debug, Clone)]
pub(crate) enum Failure {
    /// A line was refused (by WeCom, or by a check it no longer passes).
    Lines(Vec<LineError>),
    /// Something else: in English and Chinese.
    Other { en: String, zh: String },
}

/// Decides that a queued or running import fails, and queues the step that undoes it (after
/// `after`). A second decision keeps the first reason.
pub(crate) async fn fail(app: &App, import: &Import, why: Failure, after: &str) -> Result<(), AppError> {
    let (report, en, zh) = match why {
        Failure::Lines(lines) => (
            serde_json::to_string(&lines).map_err(|e| AppError::Internal(e.to_string()))?,
            String::new(),
            String::new(),
        ),
        Failure::Other { en, zh } => ("[]".to_owned(), en, zh),
    };
    let failure = pond_store::import::Failure { report: &report, error: &en, error_zh: &zh };
    let mut tx = app.db.begin().await?;
    pond_store::import::begin_undo(&mut tx, import.id, &failure).await?;
    queue_step(&mut tx, import.corp_id, import.id, after).await?;
    tx.commit().await?;
    app.wake_worker.notify_one();
    Ok(())
}
