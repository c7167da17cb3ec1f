//! WXBizMsgCrypt against the official sample vectors (weworkapi_php `callback/Sample.php`, see
//! shared/wecom/API-REFERENCE.md §2.4), round trips, and rejection of bad input.

use proptest::prelude::*;
use wecom::crypto::{CryptoError, MsgCrypt};

const TOKEN: &str = "QDG6eK";
const KEY: &str = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";
const CORP: &str = "wx5823bf96d3bd56c7";

fn crypt() -> MsgCrypt {
    MsgCrypt::new(TOKEN, KEY, CORP).expect("official key")
}

const V1_ECHO: &str = "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ==";
const V2_ENCRYPT: &str = "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q==";
const V3_ENCRYPT: &str = "pvXgeha3nZ7UQ2DG3WD3IVsNJR38QVl1+h+wmLQHIAwEG3Jey2aTZtvAWzhEZ9JEKGwIUMBWX3JlUhfo7O7WbvI10vHIsdSNr1nr3LuOwAfnwLJAMQNDxi5tHUl08Op59jxOL73r8+g60KOxMTaFwXzlr9Yxgq5ey5nzNb/2vDjjvDZNXkJVmL/XWnv6PXrVbTpNxphqWRv2BpPYqvwRMkHgdFliatljMVlkkRHS40FOHmtBhj/4RXtIexfDx8opBXwi0L9RTlYNQzGx+FA+74xVHG7Le/pmNDwc2Ri5mbw=";

#[test]
fn v1_url_verification() {
    let echoed = crypt()
        .verify_url("5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3", "1409659589", "263014780", V1_ECHO)
        .expect("verifies");
    assert_eq!(echoed, "1616140317555161061");
}

#[test]
fn v2_xml_event() {
    let body = format!(
        "<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><Encrypt><![CDATA[{V2_ENCRYPT}]]></Encrypt><AgentID><![CDATA[218]]></AgentID></xml>"
    );
    let xml = crypt()
        .open_callback("477715d11cdb4164915debcba66cb864d751f3e6", "1409659813", "1372623149", &body)
        .expect("opens");
    assert!(xml.contains("<Content><![CDATA[hello]]></Content>"), "{xml}");
    assert!(xml.contains("<MsgId>4561255354251345929</MsgId>"), "{xml}");
}

#[test]
fn v3_json_event_bytes() {
    let c = crypt();
    c.verify("1f3153b7abd0ba99b4ab2e57fac2376110d03a3c", "1409659813", "1372623149", V3_ENCRYPT).expect("signature");
    let msg = c.decrypt(V3_ENCRYPT).expect("decrypts");
    let text = String::from_utf8(msg).expect("utf-8");
    assert!(text.contains("\"FromUserName\": :mycreate\""), "{text}");
}

#[test]
fn derived_vector_with_fixed_random() {
    let msg = "<xml><Content><![CDATA[hello]]></Content></xml>";
    let encrypted = crypt().encrypt_with_random(msg.as_bytes(), *b"0123456789abcdef");
    assert_eq!(
        encrypted,
        "sKqRbbiSUnDhFHOvPjtUMR44tEbv6oDez3174uSFCrEt2LR+7lfaow/ys2rMQhxenItflJYDjHwMj0Z/qLhDcf9lz1RzWLQSV+0DOGG+mLPhuqQXmaF3nekncw8EAGYO"
    );
    assert_eq!(crypt().signature("1409659813", "1372623149", &encrypted), "f63a5f4b047274ac2802b0fe36d52eb2d814f69f");
}

#[test]
fn rejects_bad_input_with_typed_errors() {
    let c = crypt();
    assert_eq!(c.verify_url("0000", "1409659589", "263014780", V1_ECHO), Err(CryptoError::SignatureMismatch));
    assert_eq!(c.decrypt("not base64 !!"), Err(CryptoError::Base64));
    assert_eq!(c.decrypt("AAAA"), Err(CryptoError::CiphertextLength(3)));
    // Empty (or blank) is valid base64 for no bytes: refused for its length, not as base64.
    assert_eq!(c.decrypt(""), Err(CryptoError::CiphertextLength(0)));
    assert_eq!(c.decrypt("  "), Err(CryptoError::CiphertextLength(0)));
    assert_eq!(
        c.decrypt("AAAAAAAAAAAAAAAAAAAAAA=="),
        Err(CryptoError::BadPadding),
        "one block of zeros: no valid padding"
    );
    // Truncated ciphertext: drop the last block.
    let truncated = {
        use base64::Engine;
        let e = base64::engine::general_purpose::STANDARD;
        let bytes = e.decode(V1_ECHO).unwrap();
        e.encode(&bytes[..bytes.len() - 16])
    };
    assert_eq!(c.decrypt(&truncated), Err(CryptoError::BadPadding), "the last block held the padding");
    let other = MsgCrypt::new(TOKEN, KEY, "wwSOMEONEELSE").unwrap();
    assert!(matches!(other.decrypt(V1_ECHO), Err(CryptoError::ReceiveIdMismatch { .. })));
    assert_eq!(MsgCrypt::new(TOKEN, "short", CORP).unwrap_err(), CryptoError::InvalidAesKey);
    assert_eq!(MsgCrypt::new(TOKEN, &format!("{}!", &KEY[1..]), CORP).unwrap_err(), CryptoError::InvalidAesKey);
    assert!(matches!(c.open_callback("x", "1", "2", "<xml><Encrypt>"), Err(CryptoError::Envelope(_))));
    assert!(matches!(c.open_callback("x", "1", "2", "<xml></xml>"), Err(CryptoError::Envelope(_))));
    assert_eq!(CryptoError::SignatureMismatch.sdk_code(), -40001);
}

#[test]
fn sealed_callbacks_open_and_replies_verify() {
    let c = crypt();
    let sealed = c.seal_callback("<xml><Event><![CDATA[x]]></Event></xml>", "1700000000", "abc", Some("1000002"));
    let opened = c.open_callback(&sealed.msg_signature, &sealed.timestamp, &sealed.nonce, &sealed.body).unwrap();
    assert_eq!(opened, "<xml><Event><![CDATA[x]]></Event></xml>");
    let reply = c.encrypt_reply("success", "1700000001", "n1");
    assert!(reply.contains("<TimeStamp>1700000001</TimeStamp>"));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn round_trip_any_message(msg in proptest::collection::vec(any::<u8>(), 0..300), random in any::<[u8; 16]>()) {
        let c = crypt();
        let encrypted = c.encrypt_with_random(&msg, random);
        prop_assert_eq!(c.decrypt(&encrypted).unwrap(), msg);
    }

    #[test]
    fn arbitrary_ciphertext_never_panics(s in "[A-Za-z0-9+/=]{0,200}") {
        let _ = crypt().decrypt(&s);
    }

    #[test]
    fn tampering_breaks_the_signature(ts in "[0-9]{1,10}", nonce in "[a-z0-9]{1,12}") {
        let c = crypt();
        let sig = c.signature(&ts, &nonce, V1_ECHO);
        prop_assert!(c.verify(&sig, &ts, &nonce, V1_ECHO).is_ok());
        let other_ts = format!("{}1", ts);
        prop_assert!(c.verify(&sig, &other_ts, &nonce, V1_ECHO).is_err());
    }
}

// Fuzzing the parsers a callback reaches before anything is trusted: the envelope and signature
// check, the decryption, and the event XML. Whatever arrives, they answer an error, never a panic.
proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_callback_body_is_refused_or_opened_without_panic(
        body in ".{0,400}",
        sig in "[0-9a-f]{0,40}",
        ts in "[0-9]{0,12}",
        nonce in "[a-zA-Z0-9]{0,16}",
    ) {
        let _ = crypt().open_callback(&sig, &ts, &nonce, &body);
    }

    #[test]
    fn any_event_xml_parses_or_fails_cleanly(xml in ".{0,400}") {
        let _ = wecom::Callback::parse(&xml);
    }

    #[test]
    fn xml_shaped_events_parse_or_fail_cleanly(
        fields in proptest::collection::vec(("[A-Za-z]{1,14}", "[^<>]{0,24}", any::<bool>()), 0..10),
    ) {
        let mut xml = String::from("<xml>");
        for (name, value, cdata) in &fields {
            if *cdata {
                xml.push_str(&format!("<{name}><![CDATA[{value}]]></{name}>"));
            } else {
                xml.push_str(&format!("<{name}>{value}</{name}>"));
            }
        }
        xml.push_str("</xml>");
        let _ = wecom::Callback::parse(&xml);
    }

    /// Correctly signed envelopes around arbitrary whole AES blocks: the signature passes, so
    /// decryption, the PKCS#7 (32-byte) padding, the length prefix and the receive id are all
    /// parsed from random bytes.
    #[test]
    fn signed_envelopes_around_any_ciphertext_fail_cleanly(
        blocks in proptest::collection::vec(any::<[u8; 16]>(), 0..16),
        nonce in "[a-z0-9]{1,12}",
    ) {
        use base64::Engine;
        let c = crypt();
        let bytes: Vec<u8> = blocks.concat();
        let encrypted = base64::engine::general_purpose::STANDARD.encode(&bytes);
        let signature = c.signature("1700000000", &nonce, &encrypted);
        let body = format!("<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>");
        match c.open_callback(&signature, "1700000000", &nonce, &body) {
            // Random bytes that happen to frame a message for this corp are possible, only unlikely.
            Ok(_) => {}
            Err(e) => prop_assert!(!matches!(e, CryptoError::SignatureMismatch), "the signature was right: {e:?}"),
        }
    }

    #[test]
    fn a_sealed_callback_with_any_message_opens_to_that_message(msg in "[^\u{0}]{0,200}") {
        let c = crypt();
        let sealed = c.seal_callback(&msg, "1700000000", "nonce", None);
        let opened = c.open_callback(&sealed.msg_signature, &sealed.timestamp, &sealed.nonce, &sealed.body);
        prop_assert_eq!(opened.ok(), Some(msg));
    }
}
