//! WXBizMsgCrypt: the encryption and signing of WeCom callbacks.
//!
//! * key = base64(EncodingAESKey + "="), 32 bytes; AES-256-CBC with IV = key[..16];
//! * plaintext = 16 random bytes ‖ msg length (u32, big-endian) ‖ msg ‖ receive id;
//! * padding is PKCS#7 to a **32-byte** block (RustCrypto's `Pkcs7` assumes 16, so it is done here);
//! * signature = lowercase hex SHA-1 of the sorted concatenation of token, timestamp, nonce, ciphertext.
//!
//! Every failure is a typed [`CryptoError`]; no input can make this module panic.

use aes::Aes256;
use base64::{
    Engine, alphabet,
    engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig, general_purpose::STANDARD},
};
use cbc::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit, block_padding::NoPadding};
use rand::Rng;
use sha1::{Digest, Sha1};

/// WeCom's padding block size.
const PAD_BLOCK: usize = 32;

/// Why a callback could not be verified or opened. The SDK's numeric codes are in [`CryptoError::sdk_code`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("EncodingAESKey must be 43 base64 characters")]
    InvalidAesKey,
    #[error("signature does not match")]
    SignatureMismatch,
    #[error("ciphertext is not valid base64")]
    Base64,
    #[error("ciphertext length {0} is not a positive multiple of 16")]
    CiphertextLength(usize),
    #[error("padding is invalid")]
    BadPadding,
    #[error("plaintext is truncated or its length field is wrong")]
    Truncated,
    #[error("receive id {got:?} does not match the expected {expected:?}")]
    ReceiveIdMismatch { expected: String, got: String },
    #[error("message is not UTF-8")]
    NotUtf8,
    #[error("callback envelope is malformed: {0}")]
    Envelope(String),
}

impl CryptoError {
    /// The code the official SDKs use for the same failure (`ierror.py`).
    pub fn sdk_code(&self) -> i32 {
        match self {
            CryptoError::SignatureMismatch => -40001,
            CryptoError::Envelope(_) => -40002,
            CryptoError::InvalidAesKey => -40004,
            CryptoError::ReceiveIdMismatch { .. } => -40005,
            CryptoError::CiphertextLength(_) | CryptoError::BadPadding => -40007,
            CryptoError::Truncated | CryptoError::NotUtf8 => -40008,
            CryptoError::Base64 => -40010,
        }
    }
}

/// The official sample key's last character carries non-zero trailing bits, which strict base64
/// decoders refuse; WeCom's SDKs accept it, so this decoder does too.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Signs and opens callbacks for one (token, EncodingAESKey, receive id).
#[derive(Clone)]
pub struct MsgCrypt {
    token: String,
    key: [u8; 32],
    receive_id: String,
}

impl std::fmt::Debug for MsgCrypt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MsgCrypt").field("receive_id", &self.receive_id).finish_non_exhaustive()
    }
}

/// Constant-time equality for signatures.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl MsgCrypt {
    /// `receive_id` is the corp id for self-built apps.
    pub fn new(token: &str, encoding_aes_key: &str, receive_id: &str) -> Result<Self, CryptoError> {
        if encoding_aes_key.len() != 43 {
            return Err(CryptoError::InvalidAesKey);
        }
        let bytes = LENIENT.decode(format!("{encoding_aes_key}=")).map_err(|_| CryptoError::InvalidAesKey)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| CryptoError::InvalidAesKey)?;
        Ok(MsgCrypt { token: token.to_owned(), key, receive_id: receive_id.to_owned() })
    }

    pub fn receive_id(&self) -> &str {
        &self.receive_id
    }

    /// `msg_signature` over (token, timestamp, nonce, encrypted).
    pub fn signature(&self, timestamp: &str, nonce: &str, encrypted: &str) -> String {
        let mut parts = [self.token.as_str(), timestamp, nonce, encrypted];
        parts.sort_unstable();
        let digest = Sha1::digest(parts.concat().as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Checks `msg_signature` in constant time.
    pub fn verify(
        &self,
        msg_signature: &str,
        timestamp: &str,
        nonce: &str,
        encrypted: &str,
    ) -> Result<(), CryptoError> {
        let expected = self.signature(timestamp, nonce, encrypted);
        if same(expected.as_bytes(), msg_signature.trim().to_ascii_lowercase().as_bytes()) {
            Ok(())
        } else {
            Err(CryptoError::SignatureMismatch)
        }
    }

    /// Encrypts `msg` with 16 random bytes in front.
    pub fn encrypt(&self, msg: &[u8]) -> String {
        let mut random = [0u8; 16];
        rand::rng().fill(&mut random);
        self.encrypt_with_random(msg, random)
    }

    /// Encrypts with the given random prefix (for reproducible test vectors).
    pub fn encrypt_with_random(&self, msg: &[u8], random: [u8; 16]) -> String {
        let len = u32::try_from(msg.len()).unwrap_or(u32::MAX);
        let mut plain = Vec::with_capacity(16 + 4 + msg.len() + self.receive_id.len() + PAD_BLOCK);
        plain.extend_from_slice(&random);
        plain.extend_from_slice(&len.to_be_bytes());
        plain.extend_from_slice(msg);
        plain.extend_from_slice(self.receive_id.as_bytes());
        let pad = PAD_BLOCK - plain.len() % PAD_BLOCK;
        plain.resize(plain.len() + pad, pad as u8);
        let cipher = cbc::Encryptor::<Aes256>::new_from_slices(&self.key, &self.key[..16])
            .expect("key and IV lengths are fixed");
        STANDARD.encode(cipher.encrypt_padded_vec::<NoPadding>(&plain))
    }

    /// Decrypts a ciphertext and checks its receive id; returns the message bytes.
    pub fn decrypt(&self, encrypted: &str) -> Result<Vec<u8>, CryptoError> {
        let data = STANDARD.decode(encrypted.trim()).map_err(|_| CryptoError::Base64)?;
        if data.is_empty() || data.len() % 16 != 0 {
            return Err(CryptoError::CiphertextLength(data.len()));
        }
        let cipher = cbc::Decryptor::<Aes256>::new_from_slices(&self.key, &self.key[..16])
            .expect("key and IV lengths are fixed");
        let plain = cipher.decrypt_padded_vec::<NoPadding>(&data).map_err(|_| CryptoError::BadPadding)?;
        let pad = usize::from(*plain.last().ok_or(CryptoError::BadPadding)?);
        if !(1..=PAD_BLOCK).contains(&pad)
            || pad > plain.len()
            || !plain[plain.len() - pad..].iter().all(|b| usize::from(*b) == pad)
        {
            return Err(CryptoError::BadPadding);
        }
        let body = &plain[..plain.len() - pad];
        if body.len() < 20 {
            return Err(CryptoError::Truncated);
        }
        let len = u32::from_be_bytes([body[16], body[17], body[18], body[19]]) as usize;
        let rest = &body[20..];
        if len > rest.len() {
            return Err(CryptoError::Truncated);
        }
        let (msg, receive_id) = rest.split_at(len);
        if receive_id != self.receive_id.as_bytes() {
            return Err(CryptoError::ReceiveIdMismatch {
                expected: self.receive_id.clone(),
                got: String::from_utf8_lossy(receive_id).into_owned(),
            });
        }
        Ok(msg.to_vec())
    }

    /// URL verification (GET): verify, decrypt `echostr` (already URL-decoded), return the plaintext to echo.
    pub fn verify_url(
        &self,
        msg_signature: &str,
        timestamp: &str,
        nonce: &str,
        echostr: &str,
    ) -> Result<String, CryptoError> {
        self.verify(msg_signature, timestamp, nonce, echostr)?;
        String::from_utf8(self.decrypt(echostr)?).map_err(|_| CryptoError::NotUtf8)
    }

    /// An event POST: reads the `<Encrypt>` of the XML envelope, verifies, decrypts; returns the inner XML.
    pub fn open_callback(
        &self,
        msg_signature: &str,
        timestamp: &str,
        nonce: &str,
        body: &str,
    ) -> Result<String, CryptoError> {
        let envelope: Envelope = quick_xml::de::from_str(body).map_err(|e| CryptoError::Envelope(e.to_string()))?;
        let encrypted = envelope.encrypt.ok_or_else(|| CryptoError::Envelope("no <Encrypt> element".into()))?;
        self.verify(msg_signature, timestamp, nonce, &encrypted)?;
        String::from_utf8(self.decrypt(&encrypted)?).map_err(|_| CryptoError::NotUtf8)
    }

    /// Seals `msg` into the XML envelope WeCom posts, with its query parameters.
    pub fn seal_callback(&self, msg: &str, timestamp: &str, nonce: &str, agent_id: Option<&str>) -> SealedCallback {
        let encrypted = self.encrypt(msg.as_bytes());
        let msg_signature = self.signature(timestamp, nonce, &encrypted);
        let agent = agent_id.map(|a| format!("<AgentID><![CDATA[{a}]]></AgentID>")).unwrap_or_default();
        let body = format!(
            "<xml><ToUserName><![CDATA[{}]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt>{agent}</xml>",
            self.receive_id
        );
        SealedCallback { msg_signature, timestamp: timestamp.to_owned(), nonce: nonce.to_owned(), body }
    }

    /// The encrypted passive reply XML.
    pub fn encrypt_reply(&self, msg: &str, timestamp: &str, nonce: &str) -> String {
        let encrypted = self.encrypt(msg.as_bytes());
        let signature = self.signature(timestamp, nonce, &encrypted);
        format!(
            "<xml><Encrypt><![CDATA[{encrypted}]]></Encrypt><MsgSignature><![CDATA[{signature}]]></MsgSignature>\
             <TimeStamp>{timestamp}</TimeStamp><Nonce><![CDATA[{nonce}]]></Nonce></xml>"
        )
    }
}

/// A callback ready to POST: `?msg_signature=…&timestamp=…&nonce=…` with `body`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedCallback {
    pub msg_signature: String,
    pub timestamp: String,
    pub nonce: String,
    pub body: String,
}

#[derive(Debug, serde::Deserialize)]
struct Envelope {
    #[serde(rename = "Encrypt")]
    encrypt: Option<String>,
}
