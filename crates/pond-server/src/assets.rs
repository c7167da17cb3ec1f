//! Static assets compiled into the binary: the console's one stylesheet and script, the phone
//! pages' stylesheet and script, and the icon. Each is served under a name carrying a hash of its
//! content (`/assets/pond.1a2b3c4d.css`), computed at compile time, so browsers may cache it for a
//! year and still see a new version at once. Nothing is inline, so a strict CSP holds.

use axum::{
    Router,
    extract::Path,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};

/// One embedded file.
pub struct Asset {
    /// Its logical name, e.g. `pond.css`.
    pub name: &'static str,
    pub body: &'static [u8],
    pub content_type: &'static str,
    /// FNV-1a of the content (cache-busting part of the URL).
    pub hash: u32,
}

const fn fnv1a(bytes: &[u8]) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u32;
        hash = hash.wrapping_mul(0x0100_0193);
        i += 1;
    }
    hash
}

macro_rules! asset {
    ($name:literal, $type:literal) => {
        Asset {
            name: $name,
            body: include_bytes!(concat!("../assets/", $name)),
            content_type: $type,
            hash: fnv1a(include_bytes!(concat!("../assets/", $name))),
        }
    };
}

pub static ASSETS: &[Asset] = &[
    asset!("pond.css", "text/css; charset=utf-8"),
    asset!("pond.js", "text/javascript; charset=utf-8"),
    asset!("h5.css", "text/css; charset=utf-8"),
    asset!("h5.js", "text/javascript; charset=utf-8"),
    asset!("favicon.svg", "image/svg+xml"),
];

/// The versioned URL of an asset, e.g. `/assets/pond.1a2b3c4d.css`; the bare name if unknown.
pub fn url(name: &str) -> String {
    match ASSETS.iter().find(|a| a.name == name) {
        Some(a) => {
            let (stem, ext) = a.name.rsplit_once('.').unwrap_or((a.name, ""));
            format!("/assets/{stem}.{:08x}.{ext}", a.hash)
        }
        None => format!("/assets/{name}"),
    }
}

fn find(versioned: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| url(a.name).strip_prefix("/assets/") == Some(versioned))
}

async fn serve(Path(file): Path<String>) -> Response {
    match find(&file) {
        Some(a) => (
            [(header::CONTENT_TYPE, a.content_type), (header::CACHE_CONTROL, "public, max-age=31536000, immutable")],
            a.body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

async fn favicon() -> Response {
    match ASSETS.iter().find(|a| a.name == "favicon.svg") {
        Some(a) => ([(header::CONTENT_TYPE, a.content_type), (header::CACHE_CONTROL, "public, max-age=86400")], a.body)
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// `/assets/{versioned name}` and `/favicon.ico`.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().route("/assets/{file}", get(serve)).route("/favicon.ico", get(favicon))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versioned_names_change_with_content_and_resolve() {
        let css = url("pond.css");
        assert!(css.starts_with("/assets/pond.") && css.ends_with(".css"), "{css}");
        assert!(find(css.trim_start_matches("/assets/")).is_some());
        assert!(find("pond.css").is_none(), "the unversioned name is not served");
        assert_ne!(fnv1a(b"a"), fnv1a(b"b"));
    }
}
