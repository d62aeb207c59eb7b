//! A test PKI made on the spot (rcgen): a CA, a server certificate it signs for the given
//! names, and an unrelated CA that signs nothing here, written as PEM files in a temporary
//! directory for servers (`ssl_cert_file`, `--tls-cert-file`) and clients (`sslrootcert`).

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use std::path::PathBuf;
use tempfile::TempDir;

/// The files of one test PKI; removed on drop.
pub struct TestPki {
    /// Holds the files; removed when the PKI drops.
    _dir: TempDir,
    /// The CA that signed the server certificate.
    pub ca: PathBuf,
    /// A CA that did not.
    pub other_ca: PathBuf,
    pub cert_pem: String,
    pub key_pem: String,
    pub cert: PathBuf,
    pub key: PathBuf,
}

fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    CertifiedIssuer::self_signed(params, KeyPair::generate().expect("CA key")).expect("self-signed CA")
}

/// A server certificate for `names` (DNS names or IP addresses) signed by a fresh CA.
pub fn pki(names: &[&str]) -> TestPki {
    let issuer = ca("gatekey test CA");
    let other = ca("some other CA");
    let key = KeyPair::generate().expect("server key");
    let mut params =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).expect("server params");
    params.distinguished_name.push(DnType::CommonName, names[0]);
    let cert = params.signed_by(&key, &issuer).expect("server certificate");
    let dir = tempfile::tempdir().expect("a directory for the certificates");
    let write = |name: &str, pem: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, pem).expect("write a PEM file");
        path
    };
    TestPki {
        ca: write("ca.pem", &issuer.pem()),
        other_ca: write("other-ca.pem", &other.pem()),
        cert: write("server.crt", &cert.pem()),
        key: write("server.key", &key.serialize_pem()),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        _dir: dir,
    }
}
