//! The key ring for access tokens: Ed25519 keys in PKCS#8 PEM files, one per file in the keys
//! directory. All of them verify; the last by file name signs. To rotate, add a file whose name
//! sorts last, and remove the old one once the tokens it signed have expired (15 minutes).
//! The embedded default creates the first key on first start.

use std::path::{Path, PathBuf};

use anyhow::Context;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use ed25519_dalek::{
    SigningKey,
    pkcs8::{DecodePrivateKey, EncodePrivateKey, spki::der::pem::LineEnding},
};
use jsonwebtoken::{DecodingKey, EncodingKey};
use sha2::{Digest, Sha256};

pub struct RingKey {
    pub kid: String,
    /// The public key, base64url: the JWK's `x`.
    pub public_x: String,
    pub encoding: EncodingKey,
    pub decoding: DecodingKey,
    /// A secret for other uses (the pages' form tokens), derived from the private key so that
    /// instances sharing the keys share it, and never the key itself.
    pub derived_secret: [u8; 32],
}

pub struct KeyRing {
    keys: Vec<RingKey>,
}

impl KeyRing {
    /// Loads every `*.pem` in `dir`, creating the directory and a first key when there is none.
    pub fn load_or_create(dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the keys directory {}", dir.display()))?;
        let mut files = pem_files(dir)?;
        if files.is_empty() {
            let path = dir.join("ed25519-0001.pem");
            write_new_key(&path)?;
            tracing::info!(path = %path.display(), "created a token signing key");
            files.push(path);
        }
        let keys = files
            .iter()
            .map(|path| {
                let pem = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read the signing key {}", path.display()))?;
                ring_key(&pem)
                    .with_context(|| format!("{} is not an Ed25519 PKCS#8 PEM key", path.display()))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Self { keys })
    }

    /// A ring from PEM texts, the last one signing (tests, tools).
    pub fn from_pems(pems: &[&str]) -> anyhow::Result<Self> {
        anyhow::ensure!(!pems.is_empty(), "a key ring needs at least one key");
        let keys = pems
            .iter()
            .map(|pem| ring_key(pem))
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Self { keys })
    }

    pub fn signing(&self) -> &RingKey {
        self.keys.last().expect("a key ring is never empty")
    }

    pub fn by_kid(&self, kid: &str) -> Option<&RingKey> {
        self.keys.iter().find(|key| key.kid == kid)
    }

    pub fn keys(&self) -> &[RingKey] {
        &self.keys
    }
}

/// A fresh Ed25519 key as PKCS#8 PEM.
pub fn generate_pem() -> anyhow::Result<String> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|err| anyhow::anyhow!("no randomness for a key: {err}"))?;
    let key = SigningKey::from_bytes(&seed);
    Ok(key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|err| anyhow::anyhow!("cannot encode the key: {err}"))?
        .to_string())
}

fn write_new_key(path: &Path) -> anyhow::Result<()> {
    let pem = generate_pem()?;
    #[cfg(unix)]
    {
        use std::{io::Write, os::unix::fs::OpenOptionsExt};
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        file.write_all(pem.as_bytes())?;
    }
    #[cfg(not(unix))]
    std::fs::write(path, pem)?;
    Ok(())
}

fn pem_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the keys directory {}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "pem"))
        .collect();
    files.sort();
    Ok(files)
}

fn ring_key(pem: &str) -> anyhow::Result<RingKey> {
    let signing = SigningKey::from_pkcs8_pem(pem).map_err(|err| anyhow::anyhow!("{err}"))?;
    let public = signing.verifying_key().to_bytes();
    let public_x = URL_SAFE_NO_PAD.encode(public);
    let digest = Sha256::digest(public);
    let kid = digest
        .iter()
        .take(8)
        .map(|byte| format!("{byte:02x}"))
        .collect();
    let mut derived = Sha256::new();
    derived.update(b"lumbar derived secret v1");
    derived.update(signing.to_bytes());
    Ok(RingKey {
        kid,
        derived_secret: derived.finalize().into(),
        encoding: EncodingKey::from_ed_pem(pem.as_bytes())?,
        decoding: DecodingKey::from_ed_components(&public_x)?,
        public_x,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_directory_gets_one_key_that_is_reused_next_time() {
        let dir = tempfile::tempdir().unwrap();
        let first = KeyRing::load_or_create(dir.path()).unwrap();
        let again = KeyRing::load_or_create(dir.path()).unwrap();
        assert_eq!(first.keys().len(), 1);
        assert_eq!(first.signing().kid, again.signing().kid);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("ed25519-0001.pem"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn the_last_file_signs_and_every_key_is_known_by_kid() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ed25519-0001.pem"), generate_pem().unwrap()).unwrap();
        std::fs::write(dir.path().join("ed25519-0002.pem"), generate_pem().unwrap()).unwrap();
        let ring = KeyRing::load_or_create(dir.path()).unwrap();
        assert_eq!(ring.keys().len(), 2);
        assert_eq!(ring.signing().kid, ring.keys()[1].kid);
        assert_ne!(ring.keys()[0].kid, ring.keys()[1].kid);
        assert!(ring.by_kid(&ring.keys()[0].kid).is_some());
        assert!(ring.by_kid("unknown").is_none());
    }

    #[test]
    fn a_bad_key_file_names_itself() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("broken.pem"), "not a key").unwrap();
        let err = KeyRing::load_or_create(dir.path()).err().unwrap();
        assert!(format!("{err:#}").contains("broken.pem"), "{err:#}");
    }
}
