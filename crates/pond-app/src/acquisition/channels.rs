//! What a follow relation's `state` means to an operator: the channel code or the store it came
//! through (by name), instead of `rg-2` or `store-004`.

use std::collections::HashMap;

use pond_core::state::StateSpace;

use crate::{App, AppError};

/// Where a customer came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Channel {
    /// No `state`: added by search, card, group and so on.
    None,
    /// A channel live code.
    Code { id: i64, name: String },
    /// A regional store code.
    Store { id: i64, name: String },
    /// A `state` Pond does not know (deleted code, or one made outside Pond).
    Unknown(String),
}

impl Channel {
    /// Its console link, if it has a page.
    pub fn href(&self) -> Option<String> {
        match self {
            Channel::Code { id, .. } => Some(format!("/console/codes/{id}")),
            Channel::Store { .. } => Some("/console/stores".to_owned()),
            _ => None,
        }
    }
    /// The name shown (the raw `state` for unknown ones, empty for none).
    pub fn name(&self) -> &str {
        match self {
            Channel::None => "",
            Channel::Code { name, .. } | Channel::Store { name, .. } => name,
            Channel::Unknown(state) => state,
        }
    }
}

/// A corp's channel codes and stores by `state`.
#[derive(Debug, Clone, Default)]
pub struct ChannelNames {
    codes: HashMap<String, (i64, String)>,
    stores: HashMap<i64, String>,
}

impl ChannelNames {
    pub async fn load(app: &App, corp_id: i64) -> Result<Self, AppError> {
        let (codes, stores) = tokio::try_join!(
            pond_store::channel_code::list(&app.db, corp_id),
            pond_store::store_location::list(&app.db, corp_id),
        )?;
        Ok(ChannelNames {
            codes: codes.into_iter().map(|c| (c.state, (c.id, c.name))).collect(),
            stores: stores.into_iter().map(|s| (s.id, s.name)).collect(),
        })
    }

    pub fn resolve(&self, state: &str) -> Channel {
        if state.is_empty() {
            return Channel::None;
        }
        match StateSpace::of(state) {
            StateSpace::ChannelCode => match self.codes.get(state) {
                Some((id, name)) => Channel::Code { id: *id, name: name.clone() },
                None => Channel::Unknown(state.to_owned()),
            },
            StateSpace::Regional => {
                let id = state.get(StateSpace::Regional.prefix().len()..).and_then(|s| s.parse::<i64>().ok());
                match id.and_then(|id| self.stores.get(&id).map(|name| (id, name))) {
                    Some((id, name)) => Channel::Store { id, name: name.clone() },
                    None => Channel::Unknown(state.to_owned()),
                }
            }
            _ => Channel::Unknown(state.to_owned()),
        }
    }

    /// Every channel code and store, as (state, name) for a filter's choices.
    pub fn choices(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> =
            self.codes.iter().map(|(state, (_, name))| (state.clone(), name.clone())).collect();
        out.sort_by(|a, b| a.1.cmp(&b.1));
        let mut stores: Vec<(String, String)> =
            self.stores.iter().map(|(id, name)| (StateSpace::Regional.state(id), name.clone())).collect();
        stores.sort_by(|a, b| a.1.cmp(&b.1));
        out.extend(stores);
        out
    }
}
