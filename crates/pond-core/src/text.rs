//! Text that crosses a trust boundary: names typed by operators or read back from WeCom, and links
//! that end up in an `href` or `src`.
//!
//! Names never hold control characters (CR, LF, NUL, tab…) or the Unicode bidirectional controls
//! that make `exe.txt` display as `txt.exe`: input from the console and the API is refused with a
//! reason ([`crate::ids::required_text`]), text from WeCom is cleaned ([`clean_external`]) and cut
//! to WeCom's own limit ([`limits`]), so one hostile value cannot split a CSV row or a log line.
//!
//! Links are checked where they are rendered ([`safe_link`]): only absolute `http`/`https` URLs
//! (WeCom's QR images, a business card's web entry, a brand logo) reach an attribute.

/// WeCom's documented lengths for the texts Pond stores, in characters. Longer text from WeCom is
/// cut to these when stored; the console and API refuse longer input.
pub mod limits {
    /// An employee's name (`user/get` `name`: 1–64 characters).
    pub const STAFF_NAME: usize = 64;
    /// A customer's WeCom name (`externalcontact/get` `name`); WeCom states no limit, WeChat
    /// nicknames are far shorter.
    pub const CUSTOMER_NAME: usize = 64;
    /// A corp tag or tag group name (`add_corp_tag`: at most 30 characters).
    pub const TAG_NAME: usize = 30;
    /// A customer-group name (`groupchat/get` `name`).
    pub const GROUP_NAME: usize = 64;
    /// A remark on a customer (`externalcontact/remark` `remark`: at most 20 characters).
    pub const REMARK: usize = 20;
    /// A remark's description (`description`: at most 150 characters).
    pub const DESCRIPTION: usize = 150;
    /// A department name (`department/create` `name`: at most 64 characters).
    pub const DEPARTMENT_NAME: usize = 64;
    /// A corp name shown on phone pages.
    pub const CORP_NAME: usize = 64;
}

/// True for characters no name may hold: C0/C1 controls (CR, LF, tab, NUL, DEL…) and the
/// bidirectional formatting controls (LRE…RLO, LRI…PDI, LRM, RLM, ALM).
pub fn is_forbidden_in_name(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

/// As [`is_forbidden_in_name`], but line breaks are allowed (message texts, descriptions).
pub fn is_forbidden_in_text(c: char) -> bool {
    c != '\n' && is_forbidden_in_name(c)
}

/// Text read from WeCom, made safe to store as a name: forbidden characters removed, trimmed,
/// and cut to `max` characters.
pub fn clean_external(value: &str, max: usize) -> String {
    let cleaned: String = value.chars().filter(|c| !is_forbidden_in_name(*c)).collect();
    cleaned.trim().chars().take(max).collect()
}

/// `url` when it may be rendered as a link or image source: an absolute `http://` or `https://` URL
/// with a host and no whitespace, control characters, quotes or angle brackets. `javascript:`,
/// `data:`, `vbscript:`, relative and protocol-relative URLs are `None`.
pub fn safe_link(url: &str) -> Option<&str> {
    let url = url.trim();
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    let rest = if lower.starts_with("https://") {
        &url[8..]
    } else if lower.starts_with("http://") {
        &url[7..]
    } else {
        return None;
    };
    let host_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let host = &rest[..host_end];
    let clean = |c: char| !c.is_whitespace() && !c.is_control() && !matches!(c, '"' | '\'' | '<' | '>' | '`' | '\\');
    (!host.is_empty() && !host.starts_with('@') && url.chars().all(clean) && url.len() <= 2048).then_some(url)
}

/// `url` when safe ([`safe_link`]), else an empty string (for `src` attributes, where nothing is
/// the safe fallback).
pub fn link_or_empty(url: &str) -> &str {
    safe_link(url).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_web_links_pass() {
        for good in [
            "https://wework.qpic.cn/wwpic/qr.png",
            "http://127.0.0.1:9000/sim/qr/1.png",
            "HTTPS://Example.com/a?b=1#c",
            "https://shop.example.cn",
        ] {
            assert_eq!(safe_link(good), Some(good), "{good}");
        }
        for bad in [
            "javascript:alert(1)",
            "JaVaScRiPt:alert(1)",
            " javascript:alert(1)",
            "java\tscript:alert(1)",
            "data:text/html;base64,PHNjcmlwdD4=",
            "vbscript:msgbox",
            "//evil.example/x",
            "/relative",
            "https://",
            "https:///path",
            "https://a.example/\"onmouseover=\"x",
            "https://a.example/<script>",
            "https://a.example/ x",
            "weixin://dl/business",
        ] {
            assert_eq!(safe_link(bad), None, "{bad}");
        }
    }

    #[test]
    fn names_from_wecom_are_cleaned_and_cut() {
        assert_eq!(clean_external("张三\r\n=1+1", 64), "张三=1+1");
        assert_eq!(clean_external("a\u{202E}gpj.exe", 64), "agpj.exe");
        assert_eq!(clean_external("\0x\u{7f}", 64), "x");
        assert_eq!(clean_external(&"标".repeat(100_000), limits::TAG_NAME).chars().count(), 30);
        assert!(is_forbidden_in_name('\u{2067}') && !is_forbidden_in_name('中'));
        assert!(!is_forbidden_in_text('\n') && is_forbidden_in_text('\r'));
    }
}
