// The official WeCom crypto library (@wecom/crypto, an implementation independent of Pond's)
// opening what the simulator sends and sealing what Pond must accept.
//   node wecom_crypto.mjs open TOKEN AES_KEY SIGNATURE TIMESTAMP NONCE ENCRYPT
//   node wecom_crypto.mjs seal TOKEN AES_KEY CORP_ID TIMESTAMP NONCE MESSAGE
// Prints one JSON line; exits 1 when a signature does not match.
import { decrypt, encrypt, getSignature } from '@wecom/crypto';

const [mode, token, aesKey, a, timestamp, nonce, b] = process.argv.slice(2);
if (mode === 'open') {
  const [signature, ciphered] = [a, b];
  if (getSignature(token, timestamp, nonce, ciphered) !== signature) {
    console.error('signature mismatch');
    process.exit(1);
  }
  const { message, id } = decrypt(aesKey, ciphered);
  console.log(JSON.stringify({ message, id }));
} else if (mode === 'seal') {
  const [corpId, message] = [a, b];
  const ciphered = encrypt(aesKey, message, corpId);
  console.log(JSON.stringify({ encrypt: ciphered, signature: getSignature(token, timestamp, nonce, ciphered) }));
} else {
  console.error('usage: open|seal ...');
  process.exit(2);
}
