//! TLS against a local HTTPS server whose certificate comes from a test CA
//! (tests/fixtures/tls: a throwaway CA certificate, and a localhost certificate with its key,
//! made for these tests only): the certificate is verified, `ca_file` makes it trusted, the
//! per-provider opt-out skips verification, and an untrusted certificate is refused once,
//! not retried, with the way to fix it.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use agentctl_core::ErrorKind;
use agentctl_core::auth::NoAuth;
use agentctl_core::http::{HttpClient, HttpOptions, install_crypto_provider};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tls")
        .join(name)
}

/// An HTTPS server on localhost answering every request `200 {}`; counts TLS handshakes
/// attempted (accepted TCP connections).
async fn https_server() -> (String, Arc<AtomicU32>) {
    install_crypto_provider();
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(fixture("server.pem"))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(fixture("server.key")).unwrap();
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let connections = Arc::new(AtomicU32::new(0));
    let counted = connections.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            counted.fetch_add(1, Ordering::SeqCst);
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = vec![0u8; 4096];
                let _ = tls.read(&mut buf).await;
                let body = b"{}";
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = tls.write_all(head.as_bytes()).await;
                let _ = tls.write_all(body).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (format!("https://localhost:{port}/"), connections)
}

fn client(ca_file: Option<PathBuf>, insecure: bool) -> HttpClient {
    let mut opts = HttpOptions::new("tls");
    opts.ca_file = ca_file;
    opts.insecure_skip_tls_verify = insecure;
    HttpClient::new(opts).unwrap()
}

async fn get(http: &HttpClient, url: &str) -> agentctl_core::Result<u16> {
    let url = url.to_string();
    http.send(&NoAuth, move |c| c.get(&url))
        .await
        .map(|r| r.status.as_u16())
}

#[tokio::test]
async fn an_untrusted_certificate_is_refused_once_with_the_fix() {
    let (url, connections) = https_server().await;
    let err = get(&client(None, false), &url).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Network);
    let text = err.to_string();
    assert!(text.contains("certificate"), "{text}");
    assert!(text.contains("ca_file"), "{text}");
    assert!(text.contains("insecure_skip_tls_verify"), "{text}");
    // Not retried: the same certificate would be refused again.
    assert_eq!(connections.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn ca_file_makes_the_certificate_trusted() {
    let (url, _) = https_server().await;
    let status = get(&client(Some(fixture("ca.pem")), false), &url)
        .await
        .unwrap();
    assert_eq!(status, 200);
}

#[tokio::test]
async fn the_per_provider_opt_out_skips_verification() {
    let (url, _) = https_server().await;
    let status = get(&client(None, true), &url).await.unwrap();
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_certificate_for_another_name_is_refused_even_with_its_ca() {
    let (url, _) = https_server().await;
    // The certificate names localhost and 127.0.0.1; ask for it under another name that
    // resolves to the same server.
    let other = url.replace("localhost", "localhost.localdomain");
    if tokio::net::lookup_host(("localhost.localdomain", 1))
        .await
        .is_err()
    {
        eprintln!("skipped: localhost.localdomain does not resolve here");
        return;
    }
    let err = get(&client(Some(fixture("ca.pem")), false), &other)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("certificate"), "{err}");
}
