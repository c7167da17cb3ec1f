//! Pond's domain core: the vocabulary every other crate speaks.
//!
//! It owns the types that can only hold valid values (identifiers from WeCom, roles, statuses),
//! pagination, and the pure rules (job retry backoff, acquisition routing, the contact-way `state`
//! namespace, day boundaries in a corp's time zone). It performs no I/O and knows nothing of
//! HTTP, SQL or the WeCom wire format, so its rules can be unit-tested exhaustively.
#![forbid(unsafe_code)]

pub mod acquisition;
pub mod backoff;
pub mod geo;
pub mod ids;
pub mod page;
pub mod role;
pub mod secret;
pub mod state;
pub mod status;
pub mod sync;
pub mod text;
pub mod time;

pub use ids::{ValidationError, WecomCorpId};
pub use page::{Page, PageRequest};
pub use role::Role;
pub use secret::Secret;
pub use status::{ImportKind, ImportStatus, JobStatus, StaffStatus, SyncStatus, WelcomeStatus};
pub use time::CorpZone;
