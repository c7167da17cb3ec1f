//! Acquisition: welcome messages, channel live codes (native contact ways kept current, or Pond's
//! landing page), regional store codes and business cards.
//!
//! It plugs into Pond as a [`Feature`]: its effects on "customer added" events plan the welcome
//! message, the channel's tags and remark and a refresh of a capped native code; the welcome is
//! expedited (sent while the batch is read: WeCom's code is valid 20 s and once only); its job
//! kinds and a once-a-minute refresh of native codes are registered with the workers, with the
//! steps of its background imports (channel codes and stores from CSV, see [`crate::imports`]).

pub mod cards;
pub mod channels;
pub mod codes;
pub mod contact_ways;
pub mod effects;
pub mod import;
pub mod jobs;
pub mod landing;
pub mod qr;
pub mod regional;
pub mod routing;
pub mod stats;
pub mod welcome;

/// WeCom's errcode for a contact way that does not exist (deleted already): 41044 无效的「联系我」
/// config_id参数 (errcode table, document 90313). Deleting one that answers it finds it gone.
pub(crate) const NO_SUCH_WAY: i64 = 41044;

use std::{sync::Arc, time::Duration};

use crate::{
    App,
    feature::{EventEffects, Expedite, Feature, PeriodicTask},
    pipeline::jobs::Registry,
};

/// The acquisition feature area.
pub struct Acquisition;

impl Feature for Acquisition {
    fn name(&self) -> &'static str {
        "acquisition"
    }

    fn register_jobs(&self, app: &App, registry: Registry) -> Registry {
        registry
            .with(welcome::WELCOME_JOB, welcome::WelcomeSender(app.clone()))
            .with(jobs::MARK_TAG_JOB, jobs::TagMarker(app.clone()))
            .with(jobs::REMARK_JOB, jobs::Remarker(app.clone()))
            .with(jobs::REFRESH_JOB, jobs::Refresher(app.clone()))
            .with(crate::imports::IMPORT_JOB, import::ImportSteps(app.clone()))
    }

    fn periodic_tasks(&self, app: &App) -> Vec<PeriodicTask> {
        let app = app.clone();
        // Schedules change with the clock, not only when customers arrive.
        vec![PeriodicTask::new("acquisition.refresh_native_codes", Duration::from_secs(60), move || {
            let app = app.clone();
            async move { jobs::refresh_native_codes(&app).await }
        })]
    }

    fn event_effects(&self) -> Option<Arc<dyn EventEffects>> {
        Some(Arc::new(effects::AcquisitionEffects))
    }

    fn expedited(&self) -> Vec<Arc<dyn Expedite>> {
        vec![Arc::new(welcome::ExpediteWelcome)]
    }
}
