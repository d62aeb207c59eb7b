//! TLS to an `https://` server: the CA bundle to trust and the client certificate for
//! mTLS. Only the paths are kept (in the saved session); the files are read per command.
//!
//! Trust: `--ca-cert` names the only CAs trusted (a private CA should not be one of many);
//! without it the system's roots are used.

use super::error::UsageError;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use tonic::transport::{Certificate, ClientTlsConfig, Identity};

/// The TLS files of a client; all unset means the system roots and no client certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientTls {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_cert: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cert: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_key: Option<PathBuf>,
}

impl ClientTls {
    /// Whether no file is named.
    pub fn is_empty(&self) -> bool {
        self.ca_cert.is_none() && self.client_cert.is_none() && self.client_key.is_none()
    }

    /// Checks the combination and makes the paths absolute, so a saved session works from
    /// any directory.
    pub fn checked(self) -> anyhow::Result<Self> {
        if self.client_cert.is_some() != self.client_key.is_some() {
            return Err(UsageError("--client-cert and --client-key go together".into()).into());
        }
        let absolute = |p: Option<PathBuf>| -> anyhow::Result<Option<PathBuf>> {
            p.map(|p| std::path::absolute(&p).map_err(|e| UsageError(format!("{}: {e}", p.display())).into()))
                .transpose()
        };
        Ok(Self {
            ca_cert: absolute(self.ca_cert)?,
            client_cert: absolute(self.client_cert)?,
            client_key: absolute(self.client_key)?,
        })
    }

    /// The tonic TLS settings for `server`: `None` for `http://`, where naming TLS files is
    /// a mistake worth reporting rather than a silent plaintext connection.
    pub fn config(&self, server: &str) -> anyhow::Result<Option<ClientTlsConfig>> {
        if !server.starts_with("https://") {
            if !self.is_empty() {
                return Err(UsageError(format!(
                    "--ca-cert, --client-cert and --client-key apply to https:// servers only, not {server}"
                ))
                .into());
            }
            return Ok(None);
        }
        let mut config = ClientTlsConfig::new();
        config = match &self.ca_cert {
            Some(path) => config.ca_certificate(Certificate::from_pem(read(path, "--ca-cert")?)),
            None => config.with_native_roots(),
        };
        if let (Some(cert), Some(key)) = (&self.client_cert, &self.client_key) {
            config = config.identity(Identity::from_pem(
                read(cert, "--client-cert")?,
                read(key, "--client-key")?,
            ));
        }
        Ok(Some(config))
    }
}

fn read(path: &Path, flag: &str) -> anyhow::Result<Vec<u8>> {
    let bytes = std::fs::read(path).map_err(|e| UsageError(format!("{flag} {}: {e}", path.display())))?;
    // tonic would only fail at the handshake, with a vaguer message.
    if !bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        return Err(UsageError(format!("{flag} {}: not a PEM file", path.display())).into());
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_files_are_refused_for_a_plaintext_server() {
        let tls = ClientTls {
            ca_cert: Some("ca.pem".into()),
            ..ClientTls::default()
        };
        assert!(tls.config("http://127.0.0.1:1").is_err_and(|e| e.is::<UsageError>()));
        assert!(
            ClientTls::default()
                .config("http://127.0.0.1:1")
                .is_ok_and(|c| c.is_none())
        );
    }

    #[test]
    fn a_client_certificate_needs_its_key_and_paths_become_absolute() -> anyhow::Result<()> {
        let half = ClientTls {
            client_cert: Some("c.pem".into()),
            ..ClientTls::default()
        };
        assert!(half.checked().is_err_and(|e| e.is::<UsageError>()));
        let whole = ClientTls {
            client_cert: Some("c.pem".into()),
            client_key: Some("k.pem".into()),
            ca_cert: Some("ca.pem".into()),
        }
        .checked()?;
        assert!(whole.ca_cert.is_some_and(|p| p.is_absolute()));
        Ok(())
    }

    #[test]
    fn a_missing_or_non_pem_file_is_named() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "hello")?;
        for path in [dir.path().join("missing.pem"), junk] {
            let tls = ClientTls {
                ca_cert: Some(path.clone()),
                ..ClientTls::default()
            };
            let err = tls
                .config("https://gk:1")
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(err.contains(&path.display().to_string()), "{err}");
        }
        Ok(())
    }
}
