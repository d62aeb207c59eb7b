//! TLS settings: the certificate, key and client CA files, and client authentication per
//! listener. Flattened into [`super::Config`]; the files themselves are read by `crate::tls`.

use serde::Deserialize;
use std::path::PathBuf;

/// Whether a listener asks for client certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientAuth {
    /// No client certificate is asked for.
    None,
    /// A certificate is asked for; a client without one is served, one with a certificate
    /// the CA did not sign is refused.
    Optional,
    /// Only clients presenting a certificate signed by the client CA get through.
    Required,
}

/// The TLS part of the configuration.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TlsSettings {
    /// PEM certificate chain (leaf first). With `tls_key`, every listener speaks TLS.
    #[serde(default)]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of the certificate (PKCS#8, PKCS#1 or SEC1).
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
    /// PEM bundle of the CAs that sign client certificates. Turns on client authentication:
    /// required on the gateway listener, optional on the gRPC and HTTP listeners.
    #[serde(default)]
    pub tls_client_ca: Option<PathBuf>,
    /// Overrides of those defaults, per listener.
    #[serde(default)]
    pub tls_client_auth_grpc: Option<ClientAuth>,
    #[serde(default)]
    pub tls_client_auth_http: Option<ClientAuth>,
    #[serde(default)]
    pub tls_client_auth_gateway: Option<ClientAuth>,
    /// How often the files are checked for a change (SIGHUP reloads at once).
    #[serde(default = "default_reload_secs")]
    pub tls_reload_secs: u64,
}

fn default_reload_secs() -> u64 {
    5
}

/// The three listeners, each with its own client authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenerKind {
    Grpc,
    Http,
    Gateway,
}

impl ListenerKind {
    /// Every listener.
    pub const ALL: [ListenerKind; 3] = [ListenerKind::Grpc, ListenerKind::Http, ListenerKind::Gateway];

    /// The listener's name in logs and settings.
    pub fn name(self) -> &'static str {
        match self {
            ListenerKind::Grpc => "grpc",
            ListenerKind::Http => "http",
            ListenerKind::Gateway => "gateway",
        }
    }
}

/// Where the PEM files are, and what each listener asks of clients; valid by construction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub client_ca: Option<PathBuf>,
    pub grpc: ClientAuth,
    pub http: ClientAuth,
    pub gateway: ClientAuth,
}

impl TlsFiles {
    /// What `listener` asks of clients.
    pub fn client_auth(&self, listener: ListenerKind) -> ClientAuth {
        match listener {
            ListenerKind::Grpc => self.grpc,
            ListenerKind::Http => self.http,
            ListenerKind::Gateway => self.gateway,
        }
    }
}

impl TlsSettings {
    /// The validated files and per-listener modes; `None` when TLS is off.
    pub fn files(&self) -> anyhow::Result<Option<TlsFiles>> {
        let overrides = [
            ("tls_client_auth_grpc", self.tls_client_auth_grpc),
            ("tls_client_auth_http", self.tls_client_auth_http),
            ("tls_client_auth_gateway", self.tls_client_auth_gateway),
        ];
        let (cert, key) = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => (cert.clone(), key.clone()),
            (None, None) => {
                anyhow::ensure!(
                    self.tls_client_ca.is_none(),
                    "tls_client_ca needs tls_cert and tls_key (client certificates are asked for during a TLS handshake)"
                );
                if let Some((name, _)) = overrides.iter().find(|(_, mode)| mode.is_some()) {
                    anyhow::bail!("{name} needs tls_cert and tls_key");
                }
                return Ok(None);
            }
            (Some(_), None) => anyhow::bail!("tls_cert is set but tls_key is not; set both"),
            (None, Some(_)) => anyhow::bail!("tls_key is set but tls_cert is not; set both"),
        };
        anyhow::ensure!(self.tls_reload_secs > 0, "tls_reload_secs must be positive");
        let with_ca = self.tls_client_ca.is_some();
        let mode = |name: &str, set: Option<ClientAuth>, default: ClientAuth| -> anyhow::Result<ClientAuth> {
            match (set, with_ca) {
                (Some(ClientAuth::None), _) => Ok(ClientAuth::None),
                (Some(mode), true) => Ok(mode),
                (Some(_), false) => anyhow::bail!("{name} asks for client certificates but tls_client_ca is not set"),
                (None, true) => Ok(default),
                (None, false) => Ok(ClientAuth::None),
            }
        };
        Ok(Some(TlsFiles {
            grpc: mode(overrides[0].0, overrides[0].1, ClientAuth::Optional)?,
            http: mode(overrides[1].0, overrides[1].1, ClientAuth::Optional)?,
            gateway: mode(overrides[2].0, overrides[2].1, ClientAuth::Required)?,
            cert,
            key,
            client_ca: self.tls_client_ca.clone(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(cert: bool, ca: bool) -> TlsSettings {
        TlsSettings {
            tls_cert: cert.then(|| "c.pem".into()),
            tls_key: cert.then(|| "k.pem".into()),
            tls_client_ca: ca.then(|| "ca.pem".into()),
            tls_reload_secs: 5,
            ..TlsSettings::default()
        }
    }

    #[test]
    fn a_client_ca_requires_certificates_on_the_gateway_and_accepts_them_elsewhere() -> anyhow::Result<()> {
        let files = settings(true, true)
            .files()?
            .ok_or_else(|| anyhow::anyhow!("tls off"))?;
        assert_eq!(
            (files.grpc, files.http, files.gateway),
            (ClientAuth::Optional, ClientAuth::Optional, ClientAuth::Required)
        );
        let files = settings(true, false)
            .files()?
            .ok_or_else(|| anyhow::anyhow!("tls off"))?;
        assert_eq!(
            (files.grpc, files.http, files.gateway),
            (ClientAuth::None, ClientAuth::None, ClientAuth::None)
        );
        Ok(())
    }

    #[test]
    fn per_listener_settings_override_the_defaults() -> anyhow::Result<()> {
        let mut s = settings(true, true);
        s.tls_client_auth_grpc = Some(ClientAuth::Required);
        s.tls_client_auth_gateway = Some(ClientAuth::None);
        let files = s.files()?.ok_or_else(|| anyhow::anyhow!("tls off"))?;
        assert_eq!(files.client_auth(ListenerKind::Grpc), ClientAuth::Required);
        assert_eq!(files.client_auth(ListenerKind::Http), ClientAuth::Optional);
        assert_eq!(files.client_auth(ListenerKind::Gateway), ClientAuth::None);
        Ok(())
    }

    #[test]
    fn inconsistent_settings_are_refused() {
        assert!(settings(false, false).files().is_ok_and(|f| f.is_none()));
        assert!(settings(false, true).files().is_err(), "a CA without a certificate");
        let mut half = settings(true, false);
        half.tls_key = None;
        assert!(half.files().is_err(), "a certificate without its key");
        let mut no_ca = settings(true, false);
        no_ca.tls_client_auth_http = Some(ClientAuth::Required);
        assert!(no_ca.files().is_err(), "client certificates without a CA to check them");
        no_ca.tls_client_auth_http = Some(ClientAuth::None);
        assert!(no_ca.files().is_ok());
        let mut plain = settings(false, false);
        plain.tls_client_auth_gateway = Some(ClientAuth::Optional);
        assert!(plain.files().is_err(), "client auth without TLS");
    }
}
