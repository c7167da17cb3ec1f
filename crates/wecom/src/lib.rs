//! The WeCom (企业微信) server protocol, independent of Pond: callback crypto ([`crypto`]),
//! callback events ([`events`]), and an async API client ([`client`], typed calls in [`api`]).
//! It knows nothing of Pond, SQL or HTTP servers.
#![forbid(unsafe_code)]

pub mod api;
pub mod client;
pub mod crypto;
pub mod events;

pub use client::{Client, ClientConfig, WecomError};
pub use crypto::{CryptoError, MsgCrypt, SealedCallback};
pub use events::{Callback, EventError, EventKind};
