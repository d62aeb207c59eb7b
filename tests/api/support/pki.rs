//! Test certificates: a CA made with rcgen, server and client certificates it signs, and the
//! server's files laid out as Kubernetes mounts a secret (cert-manager's way of replacing
//! them is a swap of the `..data` symlink).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test fails by panicking")]

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, SanType,
};
use std::path::{Path, PathBuf};
use tonic::transport::{Certificate, ClientTlsConfig, Identity};

/// A certificate and its key, PEM, with the DER of the certificate for comparisons.
#[derive(Clone)]
pub struct Leaf {
    pub cert_pem: String,
    pub key_pem: String,
    pub der: Vec<u8>,
}

/// A certificate authority for one test.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl TestCa {
    pub fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        Self { issuer }
    }

    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A server certificate for 127.0.0.1 and localhost with `serial`.
    pub fn server(&self, serial: u64) -> Leaf {
        let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        params
            .subject_alt_names
            .push(SanType::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()));
        params
            .distinguished_name
            .push(DnType::CommonName, format!("gatekey test server {serial}"));
        params.serial_number = Some(serial.into());
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.sign(params)
    }

    /// A client certificate for `name`.
    pub fn client(&self, name: &str) -> Leaf {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.sign(params)
    }

    fn sign(&self, params: CertificateParams) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &*self.issuer).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().to_vec(),
        }
    }
}

/// A server's TLS files in a temporary directory, and the CA behind them.
pub struct ServerPki {
    pub dir: tempfile::TempDir,
    pub ca: TestCa,
    /// `<dir>/tls.crt`, `<dir>/tls.key` (symlinks into `..data`) and `<dir>/ca.crt`.
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca_file: PathBuf,
    /// The certificate currently in the files.
    pub served: Leaf,
    generation: u32,
}

impl ServerPki {
    /// A CA and a server certificate with serial 1 on disk.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ca = TestCa::new("gatekey test CA");
        let ca_file = dir.path().join("ca.crt");
        std::fs::write(&ca_file, ca.pem()).unwrap();
        let served = ca.server(1);
        let mut pki = Self {
            cert: dir.path().join("tls.crt"),
            key: dir.path().join("tls.key"),
            ca_file,
            dir,
            ca,
            served: served.clone(),
            generation: 0,
        };
        pki.install(&served.cert_pem, &served.key_pem);
        std::os::unix::fs::symlink("..data/tls.crt", &pki.cert).unwrap();
        std::os::unix::fs::symlink("..data/tls.key", &pki.key).unwrap();
        pki
    }

    /// Replaces the served certificate with a new one (`serial`), as cert-manager does.
    pub fn rotate(&mut self, serial: u64) -> Leaf {
        let leaf = self.ca.server(serial);
        self.install(&leaf.cert_pem, &leaf.key_pem);
        self.served = leaf.clone();
        leaf
    }

    /// Swaps in a certificate and a key as they are (they may not match).
    pub fn install(&mut self, cert_pem: &str, key_pem: &str) {
        self.generation += 1;
        let version = format!("..v{}", self.generation);
        let target = self.dir.path().join(&version);
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("tls.crt"), cert_pem).unwrap();
        std::fs::write(target.join("tls.key"), key_pem).unwrap();
        let temp = self.dir.path().join("..data_tmp");
        std::os::unix::fs::symlink(&version, &temp).unwrap();
        std::fs::rename(&temp, self.dir.path().join("..data")).unwrap();
    }

    /// Writes `leaf` as `<name>.crt` / `<name>.key` and returns the two paths.
    pub fn write(&self, name: &str, leaf: &Leaf) -> (PathBuf, PathBuf) {
        let cert = self.dir.path().join(format!("{name}.crt"));
        let key = self.dir.path().join(format!("{name}.key"));
        std::fs::write(&cert, &leaf.cert_pem).unwrap();
        std::fs::write(&key, &leaf.key_pem).unwrap();
        (cert, key)
    }

    /// The config values that turn TLS on (and client certificates, with `client_ca`).
    pub fn settings(&self, client_ca: bool) -> Vec<(&'static str, serde_json::Value)> {
        let path = |p: &Path| serde_json::Value::from(p.display().to_string());
        let mut values = vec![("tls_cert", path(&self.cert)), ("tls_key", path(&self.key))];
        if client_ca {
            values.push(("tls_client_ca", path(&self.ca_file)));
        }
        values
    }

    /// A tonic client config trusting this CA, presenting `identity` if given.
    pub fn client_tls(&self, identity: Option<&Leaf>) -> ClientTlsConfig {
        let config = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(self.ca.pem()));
        match identity {
            Some(leaf) => config.identity(Identity::from_pem(&leaf.cert_pem, &leaf.key_pem)),
            None => config,
        }
    }
}
