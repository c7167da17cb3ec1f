//! What a failed call says: a transport error never carries the request URL, whose `gettoken`
//! query holds the corp secret (these messages are logged, stored with sync runs and shown).

use std::time::Duration;

use wecom::{Client, ClientConfig};

#[tokio::test]
async fn an_unreachable_wecom_never_echoes_the_secret() {
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let secret = "TopSecretValue0123456789";
    let mut config = ClientConfig::new(&format!("http://127.0.0.1:{port}"), "ww0123456789", secret);
    config.max_retries = 0;
    config.timeout = Duration::from_secs(2);
    let client = Client::new(config).unwrap();
    let err = client.department_list(None).await.expect_err("nothing listens");
    let text = err.to_string();
    assert!(text.starts_with("transport"), "{text}");
    assert!(!text.contains(secret) && !text.contains("corpsecret"), "the URL is not in the message: {text}");
}
