//! The shared HTTP client against the simulator plumbing's hostile knobs: an endless body is
//! cut at the size cap, a hanging endpoint at the deadline, token requests survive 5xx and
//! resets, and refused credentials trip the circuit breaker so nothing more is sent.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use agentctl_core::ErrorKind;
use agentctl_core::auth::{BearerAuth, NoAuth, TokenCache, TokenSource};
use agentctl_core::http::{AUTH_BREAKER_THRESHOLD, HttpClient, HttpOptions};
use agentctl_core::oauth::ClientCredentials;
use agentctl_core::sim::{self, Counters, FailFirst, Fault, Hostile};
use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use secrecy::SecretString;

/// A token endpoint (`POST /token`, Basic `id:secret`, refusing with the OAuth
/// `invalid_client` answer while `revoked`) and an API (`GET /api`, bearer `t-…`), behind the
/// hostile knobs.
struct Server {
    url: String,
    hostile: Arc<Counters>,
    token_hits: Arc<AtomicU32>,
    api_hits: Arc<AtomicU32>,
    revoked: Arc<std::sync::atomic::AtomicBool>,
}

async fn serve(knobs: Hostile) -> Server {
    let token_hits = Arc::new(AtomicU32::new(0));
    let api_hits = Arc::new(AtomicU32::new(0));
    let revoked = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (th, ah, rv, rv2) = (
        token_hits.clone(),
        api_hits.clone(),
        revoked.clone(),
        revoked.clone(),
    );
    let router = Router::new()
        .route(
            "/token",
            post(move |headers: HeaderMap| {
                let th = th.clone();
                let rv = rv.clone();
                async move {
                    let n = th.fetch_add(1, Ordering::SeqCst) + 1;
                    let basic = sim::basic_credentials(&headers);
                    let ok = basic.as_ref().is_some_and(|(u, p)| u == "id" && p == "secret");
                    if !ok || rv.load(Ordering::SeqCst) {
                        // RFC 6749 §5.2: a refused client is 401 invalid_client.
                        return (
                            StatusCode::UNAUTHORIZED,
                            [("content-type", "application/json")],
                            r#"{"error":"invalid_client","error_description":"client authentication failed"}"#.to_string(),
                        )
                            .into_response();
                    }
                    (
                        StatusCode::OK,
                        [("content-type", "application/json")],
                        format!(r#"{{"access_token":"t-{n}","token_type":"bearer","expires_in":3600}}"#),
                    )
                        .into_response()
                }
            }),
        )
        .route(
            "/api",
            get(move |headers: HeaderMap| {
                let ah = ah.clone();
                let rv = rv2.clone();
                async move {
                    ah.fetch_add(1, Ordering::SeqCst);
                    let bearer = sim::authorization(&headers, "Bearer").unwrap_or("");
                    if bearer.starts_with("t-") && !rv.load(Ordering::SeqCst) {
                        (StatusCode::OK, "{}").into_response()
                    } else {
                        (StatusCode::UNAUTHORIZED, r#"{"message":"unauthorized"}"#).into_response()
                    }
                }
            }),
        );
    let (router, hostile) = sim::hostile(router, &knobs);
    let listener = sim::listen().await.unwrap();
    let url = listener.base_url().to_string();
    // Served for the rest of the test process.
    std::mem::forget(listener.serve(router));
    Server {
        url,
        hostile,
        token_hits,
        api_hits,
        revoked,
    }
}

fn client(max_response_bytes: u64, timeout: Duration) -> HttpClient {
    let mut opts = HttpOptions::new("prov");
    opts.min_backoff = Duration::from_millis(5);
    opts.max_backoff = Duration::from_millis(20);
    opts.timeout = timeout;
    opts.max_response_bytes = max_response_bytes;
    HttpClient::new(opts).unwrap()
}

fn bearer(http: &HttpClient, url: &str) -> BearerAuth {
    let source: Arc<dyn TokenSource> = Arc::new(ClientCredentials::new(
        http.clone(),
        format!("{url}/token"),
        "id".into(),
        SecretString::from("secret".to_string()),
        "test token",
    ));
    BearerAuth::new(Arc::new(TokenCache::new(source)))
}

#[tokio::test]
async fn an_endless_body_stops_at_the_cap_with_an_error_naming_provider_and_limit() {
    let server = serve(Hostile {
        endless_body: Some("/api".into()),
        ..Hostile::default()
    })
    .await;
    let http = client(1024 * 1024, Duration::from_secs(30));
    let e = http
        .send(&NoAuth, |c| c.get(format!("{}/api", server.url)))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Protocol, "{e}");
    assert_eq!(e.provider.as_deref(), Some("prov"));
    assert!(e.message.contains("1 MiB limit"), "{e}");
    assert!(e.hint.as_deref().unwrap_or("").contains("max_response_mb"));
    // Not retried: the server would send the same again.
    assert_eq!(server.hostile.get("hostile"), 1);
}

#[tokio::test]
async fn a_hanging_endpoint_fails_within_the_deadline() {
    let server = serve(Hostile {
        hang: Some("/api".into()),
        ..Hostile::default()
    })
    .await;
    let http = client(1024, Duration::from_millis(200));
    let e = http
        .send(&NoAuth, |c| c.get(format!("{}/api", server.url)))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Network, "{e}");
    assert!(e.message.contains("timed out"), "{e}");
    // At most DEADLINE_TIMEOUTS attempts of one timeout each.
    let attempts = server.hostile.get("hostile");
    assert!(
        (1..=agentctl_core::http::DEADLINE_TIMEOUTS as u64).contains(&attempts),
        "{attempts}"
    );
}

#[tokio::test]
async fn token_requests_survive_a_500_and_a_reset() {
    for fault in [Fault::Status500, Fault::Reset] {
        let server = serve(Hostile {
            fail_first: Some(FailFirst {
                path: "/token".into(),
                count: 2,
                fault,
            }),
            ..Hostile::default()
        })
        .await;
        let http = client(1024 * 1024, Duration::from_secs(5));
        let auth = bearer(&http, &server.url);
        let resp = http
            .send(&auth, |c| c.get(format!("{}/api", server.url)))
            .await
            .unwrap_or_else(|e| panic!("{fault:?}: {e}"));
        assert!(resp.is_success());
        assert_eq!(server.hostile.get("hostile"), 2, "{fault:?}");
        assert_eq!(server.token_hits.load(Ordering::SeqCst), 1, "{fault:?}");
    }
}

#[tokio::test]
async fn a_token_endpoint_that_keeps_failing_is_not_reported_as_refused_credentials() {
    let server = serve(Hostile {
        fail_first: Some(FailFirst {
            path: "/token".into(),
            count: 1000,
            fault: Fault::Status500,
        }),
        ..Hostile::default()
    })
    .await;
    let http = client(1024 * 1024, Duration::from_secs(5));
    let source = ClientCredentials::new(
        http.clone(),
        format!("{}/token", server.url),
        "id".into(),
        SecretString::from("secret".to_string()),
        "test token",
    );
    let e = source.fetch().await.unwrap_err();
    assert_ne!(e.kind, ErrorKind::Auth, "{e}");
    assert!(!http.credentials_refused());
}

#[tokio::test]
async fn refused_credentials_trip_the_breaker_and_nothing_more_is_sent() {
    let server = serve(Hostile::default()).await;
    let http = client(1024 * 1024, Duration::from_secs(5));
    let auth = bearer(&http, &server.url);
    // Working at first.
    let ok = http
        .send(&auth, |c| c.get(format!("{}/api", server.url)))
        .await
        .unwrap();
    assert!(ok.is_success());
    // Revoked in the console mid-run.
    server.revoked.store(true, Ordering::SeqCst);
    let before = server.token_hits.load(Ordering::SeqCst) + server.api_hits.load(Ordering::SeqCst);
    let mut kinds = Vec::new();
    for _ in 0..20 {
        let r = http
            .send(&auth, |c| c.get(format!("{}/api", server.url)))
            .await;
        kinds.push(match r {
            Ok(resp) => format!("HTTP {}", resp.status.as_u16()),
            Err(e) => format!("{:?}", e.kind),
        });
    }
    assert!(http.credentials_refused());
    assert!(
        kinds.iter().all(|k| k == "Auth" || k == "HTTP 401"),
        "{kinds:?}"
    );
    let after = server.token_hits.load(Ordering::SeqCst) + server.api_hits.load(Ordering::SeqCst);
    // Each refused request costs one API call and a token request per refresh (at most two);
    // after K refusals nothing is sent.
    let bound = AUTH_BREAKER_THRESHOLD * 3;
    assert!(
        after - before <= bound,
        "{} requests after revocation",
        after - before
    );
    // The breaker's error says what happened.
    let e = http
        .send(&auth, |c| c.get(format!("{}/api", server.url)))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Auth);
    assert!(e.message.contains("refused"), "{e}");
}
