//! The one owner of "a WeCom contact way for this employee with this `state`": a single-person
//! contact way, created on first need, stored against what it belongs to and reused. Landing-mode
//! channel codes and regional stores use it today; fission and group codes will next.

use pond_store::{channel_code::ChannelCode, contact_way, store_location::Store};
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

    fn stored_as(&self) -> contact_way::Owner {
        match self {
            WayOwner::ChannelCode(c) => contact_way::Owner { kind: "channel_code", id: c.id },
            WayOwner::Store(s) => contact_way::Owner { kind: "store", id: s.id },
        }
    }
}

/// The QR of `userid`'s contact way for `owner`: the stored one, else a new one from WeCom.
pub async fn staff_qr(app: &App, owner: WayOwner<'_>, userid: &str) -> Result<String, AppError> {
    let (corp_id, stored_as) = (owner.corp_id(), owner.stored_as());
    if let Some(way) = contact_way::get(&app.db, corp_id, stored_as, userid).await? {
        return Ok(way.qr_code);
    }
    let way = owner.way(userid);
    let created = app.client(corp_id).await?.add_contact_way(&way).await?;
    let stored = contact_way::ContactWay {
        userid: userid.to_owned(),
        state: way.state,
        config_id: created.config_id,
        qr_code: created.qr_code,
    };
    contact_way::put(&app.db, corp_id, stored_as, &stored).await?;
    Ok(stored.qr_code)
}
