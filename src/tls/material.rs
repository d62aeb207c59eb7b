//! Reading the PEM files and building one rustls `ServerConfig` per listener from them.
//!
//! Every error names the file and what is wrong with it; none quotes a key file's content
//! (PEM parse errors can quote a line, so the key file's are replaced by a plain sentence).

use crate::config::tls::{ClientAuth, ListenerKind, TlsFiles};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls::{RootCertStore, ServerConfig};
use sha2::{Digest as _, Sha256};
use std::path::Path;
use std::sync::Arc;

/// ALPN of a listener that serves gRPC only.
const ALPN_GRPC: &[&[u8]] = &[b"h2"];
/// ALPN of a listener that serves gRPC and HTTP/1.1 (forward-auth, health).
const ALPN_MIXED: &[&[u8]] = &[b"h2", b"http/1.1"];

/// The raw bytes of the files, as read in one go.
pub struct FileContents {
    cert: Vec<u8>,
    key: Vec<u8>,
    client_ca: Option<Vec<u8>>,
}

impl FileContents {
    /// Reads the files by path (a symlink swapped by cert-manager is followed anew).
    pub fn read(files: &TlsFiles) -> anyhow::Result<Self> {
        Ok(Self {
            cert: read(&files.cert, "certificate")?,
            key: read(&files.key, "private key")?,
            client_ca: files
                .client_ca
                .as_deref()
                .map(|ca| read(ca, "client CA bundle"))
                .transpose()?,
        })
    }

    /// A digest of all three files, to tell whether anything changed since the last read.
    pub fn fingerprint(&self) -> [u8; 32] {
        let mut hash = Sha256::new();
        for part in [Some(&self.cert), Some(&self.key), self.client_ca.as_ref()] {
            let bytes = part.map_or(&[][..], Vec::as_slice);
            hash.update((bytes.len() as u64).to_be_bytes());
            hash.update(bytes);
        }
        hash.finalize().into()
    }

    /// SHA-256 of the leaf certificate (public), to tell in the logs which one is served.
    pub fn leaf_sha256(&self, files: &TlsFiles) -> anyhow::Result<String> {
        let leaf = certificates(&self.cert, &files.cert)?
            .into_iter()
            .next()
            .ok_or_else(|| anyhow::anyhow!("{}: no certificate in the PEM file", files.cert.display()))?;
        Ok(Sha256::digest(leaf.as_ref())
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect())
    }
}

fn read(path: &Path, what: &str) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| anyhow::anyhow!("{}: cannot read the TLS {what}: {e}", path.display()))
}

/// One server config per listener, built from the same certificate and key.
pub struct ServerConfigs {
    pub grpc: Arc<ServerConfig>,
    pub http: Arc<ServerConfig>,
    pub gateway: Arc<ServerConfig>,
}

/// Parses `contents` and builds every listener's config; nothing is built unless all are.
pub fn build(files: &TlsFiles, contents: &FileContents) -> anyhow::Result<ServerConfigs> {
    let provider = provider();
    let chain = certificates(&contents.cert, &files.cert)?;
    anyhow::ensure!(
        !chain.is_empty(),
        "{}: no certificate in the PEM file (expected -----BEGIN CERTIFICATE-----)",
        files.cert.display()
    );
    let key = PrivateKeyDer::from_pem_slice(&contents.key).map_err(|e| {
        let problem = match e {
            rustls::pki_types::pem::Error::NoItemsFound => "no private key in the PEM file",
            _ => "not a valid PEM private key",
        };
        anyhow::anyhow!("{}: {problem}", files.key.display())
    })?;
    let certified = CertifiedKey::from_der(chain, key, &provider).map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => anyhow::anyhow!(
            "{} does not match the certificate in {}",
            files.key.display(),
            files.cert.display()
        ),
        other => anyhow::anyhow!(
            "{} / {}: unusable certificate or key: {other}",
            files.cert.display(),
            files.key.display()
        ),
    })?;
    let resolver = Arc::new(SingleCertAndKey::from(certified));
    let roots = match (&files.client_ca, &contents.client_ca) {
        (Some(path), Some(pem)) => Some(client_roots(pem, path)?),
        _ => None,
    };
    let one = |listener: ListenerKind, alpn: &[&[u8]]| -> anyhow::Result<Arc<ServerConfig>> {
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| anyhow::anyhow!("TLS protocol versions: {e}"))?;
        let builder = match (files.client_auth(listener), &roots) {
            (ClientAuth::None, _) | (_, None) => builder.with_no_client_auth(),
            (mode, Some(roots)) => {
                let verifier = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone());
                let verifier = match mode {
                    ClientAuth::Optional => verifier.allow_unauthenticated(),
                    ClientAuth::Required | ClientAuth::None => verifier,
                };
                let verifier = verifier.build().map_err(|e| {
                    anyhow::anyhow!(
                        "{}: cannot verify client certificates with it: {e}",
                        path_or_unset(files.client_ca.as_deref())
                    )
                })?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder.with_cert_resolver(resolver.clone());
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(Arc::new(config))
    };
    Ok(ServerConfigs {
        grpc: one(ListenerKind::Grpc, ALPN_GRPC)?,
        http: one(ListenerKind::Http, ALPN_MIXED)?,
        gateway: one(ListenerKind::Gateway, ALPN_MIXED)?,
    })
}

fn path_or_unset(path: Option<&Path>) -> String {
    path.map_or_else(|| "tls_client_ca".to_owned(), |p| p.display().to_string())
}

/// Every certificate in `pem`; other sections (a key bundled in the file) are skipped.
pub fn certificates(pem: &[u8], path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("{}: not a valid PEM certificate file: {e}", path.display()))
}

fn client_roots(pem: &[u8], path: &Path) -> anyhow::Result<Arc<RootCertStore>> {
    let certs = certificates(pem, path)?;
    anyhow::ensure!(
        !certs.is_empty(),
        "{}: no certificate in the client CA bundle",
        path.display()
    );
    let mut roots = RootCertStore::empty();
    for cert in certs {
        roots
            .add(cert)
            .map_err(|e| anyhow::anyhow!("{}: a CA certificate is unusable: {e}", path.display()))?;
    }
    Ok(Arc::new(roots))
}

/// The crypto provider of every TLS config gatekey builds (ring; aws-lc-rs is not in the build).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail by panicking")]

    use super::*;
    use std::path::PathBuf;

    struct Pki {
        dir: tempfile::TempDir,
        files: TlsFiles,
        key_pem: String,
    }

    fn pki() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let files = TlsFiles {
            cert: dir.path().join("tls.crt"),
            key: dir.path().join("tls.key"),
            client_ca: Some(dir.path().join("ca.crt")),
            grpc: ClientAuth::Optional,
            http: ClientAuth::Optional,
            gateway: ClientAuth::Required,
        };
        std::fs::write(&files.cert, cert.pem()).unwrap();
        std::fs::write(&files.key, key.serialize_pem()).unwrap();
        std::fs::write(files.client_ca.as_ref().unwrap(), cert.pem()).unwrap();
        Pki {
            dir,
            files,
            key_pem: key.serialize_pem(),
        }
    }

    fn error(files: &TlsFiles) -> String {
        let built = FileContents::read(files).and_then(|c| build(files, &c));
        format!("{:#}", built.err().expect("should fail"))
    }

    fn key_body(pki: &Pki) -> String {
        pki.key_pem.lines().nth(1).unwrap().to_owned()
    }

    #[test]
    fn good_files_build_every_listener() {
        let pki = pki();
        let contents = FileContents::read(&pki.files).unwrap();
        let configs = build(&pki.files, &contents).unwrap();
        assert_eq!(configs.grpc.alpn_protocols, vec![b"h2".to_vec()]);
        assert_eq!(configs.gateway.alpn_protocols.len(), 2);
    }

    #[test]
    fn a_missing_file_is_named() {
        let mut pki = pki();
        pki.files.key = PathBuf::from("/nonexistent/tls.key");
        let text = error(&pki.files);
        assert!(
            text.contains("/nonexistent/tls.key") && text.contains("cannot read"),
            "{text}"
        );
    }

    #[test]
    fn a_certificate_file_without_a_certificate_is_named() {
        let pki = pki();
        std::fs::write(&pki.files.cert, "hello\n").unwrap();
        let text = error(&pki.files);
        assert!(text.contains("tls.crt") && text.contains("no certificate"), "{text}");
    }

    #[test]
    fn a_key_that_does_not_match_is_named_and_never_quoted() {
        let pki = pki();
        let other = rcgen::KeyPair::generate().unwrap();
        std::fs::write(&pki.files.key, other.serialize_pem()).unwrap();
        let text = error(&pki.files);
        assert!(text.contains("tls.key does not match the certificate"), "{text}");
        let other_body = other.serialize_pem().lines().nth(1).unwrap().to_owned();
        assert!(!text.contains(&other_body), "{text}");
    }

    #[test]
    fn a_broken_key_file_is_named_without_its_content() {
        let pki = pki();
        let body = key_body(&pki);
        // A truncated PEM section: the parser would quote what it found.
        let broken = format!("-----BEGIN PRIVATE KEY-----\n{body}\n");
        std::fs::write(&pki.files.key, &broken).unwrap();
        let text = error(&pki.files);
        assert!(text.contains("tls.key") && text.contains("private key"), "{text}");
        assert!(!text.contains(&body[..20]), "{text}");
        std::fs::write(&pki.files.key, "").unwrap();
        assert!(error(&pki.files).contains("no private key"));
        drop(pki.dir);
    }

    #[test]
    fn an_empty_client_ca_bundle_is_named() {
        let pki = pki();
        std::fs::write(pki.files.client_ca.as_ref().unwrap(), "").unwrap();
        let text = error(&pki.files);
        assert!(text.contains("ca.crt") && text.contains("no certificate"), "{text}");
    }

    #[test]
    fn the_fingerprint_follows_every_file() {
        let pki = pki();
        let before = FileContents::read(&pki.files).unwrap().fingerprint();
        std::fs::write(pki.files.client_ca.as_ref().unwrap(), "x").unwrap();
        assert_ne!(before, FileContents::read(&pki.files).unwrap().fingerprint());
    }
}
