//! HTTPS for real: a certificate authority the test makes signs the receivers' certificates
//! and chathook's client certificate. An endpoint that trusts it (`tls.ca_file`) delivers,
//! one with the client certificate delivers to a receiver that requires mutual TLS, and a
//! wrong CA or a missing client certificate is said plainly in the attempt's record.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chathook_tests::*;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use serde_json::{Value, json};

use super::*;
use crate::journal::{COMMAND, numbered_body};

/// A CA and what it signs: the receivers' certificate (for 127.0.0.1) and chathook's client
/// certificate, each with its key, as PEM.
struct Pki {
    ca: String,
    server: (String, String),
    client: (String, String),
}

fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

fn pki(name: &str) -> Pki {
    let ca = ca(name);
    let issue = |names: Vec<String>, purpose: ExtendedKeyUsagePurpose| {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(names).unwrap();
        params.extended_key_usages = vec![purpose];
        let cert = params.signed_by(&key, &ca).unwrap();
        (cert.pem(), key.serialize_pem())
    };
    Pki {
        server: issue(
            vec!["127.0.0.1".into(), "localhost".into()],
            ExtendedKeyUsagePurpose::ServerAuth,
        ),
        client: issue(
            vec!["chathook.test".into()],
            ExtendedKeyUsagePurpose::ClientAuth,
        ),
        ca: ca.pem(),
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// A receiver's TLS config: its certificate, and when `clients_of` is given, mutual TLS
/// requiring a client certificate that CA signed.
fn server_config(pki: &Pki, clients_of: Option<&str>) -> Arc<rustls::ServerConfig> {
    let chain = vec![CertificateDer::from_pem_slice(pki.server.0.as_bytes()).unwrap()];
    let key = PrivateKeyDer::from_pem_slice(pki.server.1.as_bytes()).unwrap();
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = match clients_of {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            roots
                .add(CertificateDer::from_pem_slice(ca.as_bytes()).unwrap())
                .unwrap();
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider(),
            )
            .build()
            .unwrap();
            builder.with_client_cert_verifier(verifier)
        }
    };
    Arc::new(builder.with_single_cert(chain, key).unwrap())
}

fn write(dir: &Path, name: &str, pem: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, pem).unwrap();
    path
}

/// The one delivery of `endpoint` once it is delivered or dead.
async fn settled(server: &TestServer, endpoint: &str) -> Value {
    let listed = wait_for_deliveries(
        server,
        &format!("?handler=http_forward.{endpoint}"),
        Duration::from_secs(20),
        &format!("{endpoint}'s delivery settled"),
        |listed| {
            deliveries(listed)
                .first()
                .is_some_and(|delivery| delivery["state"] != "pending")
        },
    )
    .await;
    let id = deliveries(&listed)[0]["id"].as_i64().unwrap();
    crate::deliveries_ops::get_ok(server, &format!("/{id}")).await
}

#[tokio::test]
async fn https_with_a_test_ca_and_mutual_tls_deliver_and_a_wrong_ca_is_named_in_the_record() {
    let dir = tempfile::tempdir().unwrap();
    let ours = pki("chathook test CA");
    let theirs = pki("some other CA");
    let ca_file = write(dir.path(), "ca.pem", &ours.ca);
    let other_ca = write(dir.path(), "other-ca.pem", &theirs.ca);
    let client_cert = write(dir.path(), "client.pem", &ours.client.0);
    let client_key = write(dir.path(), "client-key.pem", &ours.client.1);

    let https = Receiver::start_tls(server_config(&ours, None)).await;
    let mutual = Receiver::start_tls(server_config(&ours, Some(&ours.ca))).await;
    let once = json!({"max_attempts": 1});
    let endpoints = vec![
        endpoint(
            "trusted",
            &https.url("/hooks"),
            json!(["after"]),
            json!({"tls": {"ca_file": ca_file}, "queue": fast_queue()}),
        ),
        endpoint(
            "mutual",
            &mutual.url("/hooks"),
            json!(["after"]),
            json!({
                "tls": {"ca_file": ca_file, "client_cert_file": client_cert, "client_key_file": client_key},
                "queue": fast_queue(),
            }),
        ),
        endpoint(
            "wrong-ca",
            &https.url("/hooks"),
            json!(["after"]),
            json!({"tls": {"ca_file": other_ca}, "queue": once}),
        ),
        endpoint(
            "system-roots",
            &https.url("/hooks"),
            json!(["after"]),
            json!({"queue": once}),
        ),
        endpoint(
            "no-client-cert",
            &mutual.url("/hooks"),
            json!(["after"]),
            json!({"tls": {"ca_file": ca_file}, "queue": once}),
        ),
    ];
    let server = TestServer::start(forward_config(dir.path(), endpoints)).await;
    let body = numbered_body("@TGS#tls", 1);
    let (status, reply) = server.post(&fresh_query(COMMAND), body.clone()).await;
    assert_eq!((status, &reply["ErrorCode"]), (200, &json!(0)), "{reply}");

    for delivered in ["trusted", "mutual"] {
        let shown = settled(&server, delivered).await;
        assert_eq!(shown["state"], "delivered", "{delivered}: {shown:#}");
    }
    for receiver in [&https, &mutual] {
        receiver.assert_all_verified();
        let seen = receiver.seen();
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert_eq!(seen[0].body, body.as_bytes());
    }
    let refusals = [
        (
            "wrong-ca",
            "TLS: the server's certificate is not signed by a CA chathook trusts",
        ),
        (
            "system-roots",
            "TLS: the server's certificate is not signed by a CA chathook trusts",
        ),
        (
            "no-client-cert",
            "TLS: the server refused chathook's client certificate, or wants one",
        ),
    ];
    for (name, words) in refusals {
        let shown = settled(&server, name).await;
        assert_eq!(shown["state"], "dead", "{name}: {shown:#}");
        let error = shown["attempts"][0]["error"].as_str().unwrap();
        assert!(
            error.contains(&format!("endpoint {name}: https://")) && error.contains(words),
            "{name}: {error}"
        );
    }
    server.stop().await.unwrap();
}
