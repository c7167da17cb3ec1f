//! The one owner of "a WeCom contact way for this employee with this `state`": a single-person
//! contact way, created on first need, stored against what it belongs to and reused. Landing-mode
//! channel codes and regional stores use it today; fission and group codes will next.

use pond_store::{channel_code::ChannelCode, store_location::Store};
use wecom::api::ContactWay;

use crate::{App, AppError, acquisition::regional::store_state};

/// What a per-employee contact way belongs to.
#[derive(Debug, Clone, Copy)]
pub enum WayOwner<'a> {
    ChannelCode(&'a ChannelCode),
    Store(&'a Store),
}

impl WayOwner<'_> {
    fn corp_id(&self) -> i64 {
        match self {
            WayOwner::ChannelCode(c) => c.corp_id,
            WayOwner::Store(s) => s.corp_id,
        }
    }

    /// The contact way WeCom should create for `userid`.
    fn way(&self, userid: &str) -> ContactWay {
        let (remark, skip_verify, state) = match self {
            WayOwner::ChannelCode(c) => (&c.name, c.skip_verify, c.state.clone()),
            WayOwner::Store(s) => (&s.name, true, store_state(s.id)),
        };
        ContactWay {
            kind: 1,
            scene: 2,
            remark: remark.chars().take(30).collect(),
            skip_verify,
            state,
            user: vec![userid.to_owned()],
            ..Default::default()
        }
    }

    async fn stored(&self, app: &App, userid: &str) -> Result<Option<String>, AppError> {
        Ok(match self {
            WayOwner::ChannelCode(c) => {
                pond_store::channel_code::staff_way(&app.db, c.corp_id, c.id, userid).await?.map(|(_, qr)| qr)
            }
            WayOwner::Store(s) => pond_store::store_location::staff_way(&app.db, s.corp_id, s.id, userid).await?,
        })
    }

    async fn store(&self, app: &App, userid: &str, config_id: &str, qr: &str) -> Result<(), AppError> {
        match self {
            WayOwner::ChannelCode(c) => {
                pond_store::channel_code::set_staff_way(&app.db, c.corp_id, c.id, userid, config_id, qr).await?
            }
            WayOwner::Store(s) => {
                pond_store::store_location::set_staff_way(&app.db, s.corp_id, s.id, userid, config_id, qr).await?
            }
        }
        Ok(())
    }
}

/// The QR of `userid`'s contact way for `owner`: the stored one, else a new one from WeCom.
pub async fn staff_qr(app: &App, owner: WayOwner<'_>, userid: &str) -> Result<String, AppError> {
    if let Some(qr) = owner.stored(app, userid).await? {
        return Ok(qr);
    }
    let client = app.client(owner.corp_id()).await?;
    let created = client.add_contact_way(&owner.way(userid)).await?;
    owner.store(app, userid, &created.config_id, &created.qr_code).await?;
    Ok(created.qr_code)
}
