//! minisign signatures of `SHA256SUMS` (the `minisign` crate; files are
//! compatible with the `minisign` CLI: `minisign -Vm SHA256SUMS -p KEY.pub`).

use std::io::Cursor;
use std::path::Path;

use anyhow::{Context, Result, anyhow};
use minisign::{PublicKeyBox, SecretKeyBox, SignatureBox};

pub const SIGNATURE: &str = "SHA256SUMS.minisig";

/// Signs `data` with the secret key in `key_path`. The password of an
/// encrypted key comes from `MINISIGN_PASSWORD`. The trusted comment holds
/// `SOURCE_DATE_EPOCH` instead of the clock, so only the signature bytes
/// change between runs.
///
/// Errors: the key cannot be read or decrypted.
pub fn sign(key_path: &Path, data: &[u8], epoch: u64) -> Result<Vec<u8>> {
    let text = std::fs::read_to_string(key_path)
        .with_context(|| format!("cannot read minisign secret key {}", key_path.display()))?;
    let password = std::env::var("MINISIGN_PASSWORD").ok();
    let sk = SecretKeyBox::from_string(&text)
        .and_then(|sk_box| match password {
            Some(pw) => sk_box.into_secret_key(Some(pw)),
            None => sk_box.into_unencrypted_secret_key(),
        })
        .map_err(|e| {
            anyhow!(
                "cannot use minisign secret key {}: {e} (for a password-protected key, \
             set MINISIGN_PASSWORD)",
                key_path.display()
            )
        })?;
    let trusted = format!("timestamp:{epoch}\tfile:SHA256SUMS");
    let sig = minisign::sign(None, &sk, Cursor::new(data), Some(&trusted), None)
        .map_err(|e| anyhow!("minisign signing failed: {e}"))?;
    Ok(sig.into_string().into_bytes())
}

/// Checks `signature` (a `.minisig` file's text) over `data` with the public
/// key in `key_path` (the `.pub` file `minisign -G` writes).
///
/// Errors: the key or signature does not parse, or the signature does not
/// match (wrong key or altered data).
pub fn verify(key_path: &Path, data: &[u8], signature: &str) -> Result<()> {
    let text = std::fs::read_to_string(key_path)
        .with_context(|| format!("cannot read minisign public key {}", key_path.display()))?;
    let pk = PublicKeyBox::from_string(&text)
        .and_then(PublicKeyBox::into_public_key)
        .map_err(|e| anyhow!("{} is not a minisign public key: {e}", key_path.display()))?;
    let sig = SignatureBox::from_string(signature)
        .map_err(|e| anyhow!("{SIGNATURE} is not a minisign signature: {e}"))?;
    minisign::verify(&pk, &sig, Cursor::new(data), true, false, false).map_err(|e| {
        anyhow!(
            "{SIGNATURE} does not verify with {}: {e}",
            key_path.display()
        )
    })
}
