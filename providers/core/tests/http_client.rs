//! The shared HTTP client against a scripted local server: retries, Retry-After, reset
//! headers, refresh on 401 (a bounded number of times), and no retry of a POST whose outcome is unknown.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agentctl_core::auth::{BearerAuth, NoAuth, Token, TokenCache, TokenSource};
use agentctl_core::http::{HttpClient, HttpOptions};
use async_trait::async_trait;
use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::any;
use secrecy::SecretString;

/// A server that answers each request with the next scripted (status, headers) and records
/// the Authorization header it saw.
/// One scripted answer: status and extra headers.
type Reply = (u16, Vec<(&'static str, String)>);

#[derive(Clone, Default)]
struct Script {
    replies: Arc<Mutex<Vec<Reply>>>,
    seen_auth: Arc<Mutex<Vec<String>>>,
    hits: Arc<AtomicU32>,
}

async fn serve(script: Script) -> String {
    let app = Router::new().route(
        "/{*path}",
        any(move |headers: HeaderMap| {
            let script = script.clone();
            async move {
                script.hits.fetch_add(1, Ordering::SeqCst);
                let auth = headers
                    .get("authorization")
                    .map(|v| v.to_str().unwrap().to_string())
                    .unwrap_or_default();
                script.seen_auth.lock().unwrap().push(auth);
                let (status, hdrs) = {
                    let mut r = script.replies.lock().unwrap();
                    if r.is_empty() {
                        (200, vec![])
                    } else {
                        r.remove(0)
                    }
                };
                let mut out = HeaderMap::new();
                for (k, v) in hdrs {
                    out.insert(k, v.parse().unwrap());
                }
                (StatusCode::from_u16(status).unwrap(), out, "{}").into_response()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

fn client() -> HttpClient {
    let mut opts = HttpOptions::new("test");
    opts.min_backoff = Duration::from_millis(5);
    opts.max_backoff = Duration::from_millis(20);
    opts.headroom = 1;
    HttpClient::new(opts).unwrap()
}

#[tokio::test]
async fn retries_429_and_503_then_succeeds_honouring_retry_after() {
    let script = Script::default();
    *script.replies.lock().unwrap() = vec![(429, vec![("retry-after", "1".into())]), (503, vec![])];
    let url = serve(script.clone()).await;
    let started = Instant::now();
    let resp = client()
        .send(&NoAuth, |c| c.get(format!("{url}/x")))
        .await
        .unwrap();
    assert_eq!(resp.status.as_u16(), 200);
    assert_eq!(script.hits.load(Ordering::SeqCst), 3);
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "waited for Retry-After"
    );
}

#[tokio::test]
async fn gives_up_after_max_attempts_and_returns_the_last_answer() {
    let script = Script::default();
    *script.replies.lock().unwrap() = vec![(503, vec![]); 10];
    let url = serve(script.clone()).await;
    let resp = client()
        .send(&NoAuth, |c| c.get(format!("{url}/x")))
        .await
        .unwrap();
    assert_eq!(resp.status.as_u16(), 503);
    assert_eq!(script.hits.load(Ordering::SeqCst), 6);
}

#[tokio::test]
async fn a_post_answered_500_is_not_resent() {
    let script = Script::default();
    *script.replies.lock().unwrap() = vec![(500, vec![])];
    let url = serve(script.clone()).await;
    let resp = client()
        .send(&NoAuth, |c| c.post(format!("{url}/x")))
        .await
        .unwrap();
    assert_eq!(resp.status.as_u16(), 500);
    assert_eq!(script.hits.load(Ordering::SeqCst), 1);
}

struct Counting(AtomicU32);

#[async_trait]
impl TokenSource for Counting {
    async fn fetch(&self) -> agentctl_core::Result<Token> {
        let n = self.0.fetch_add(1, Ordering::SeqCst) + 1;
        Ok(Token::new(
            SecretString::from(format!("t{n}")),
            Some(Duration::from_secs(600)),
        ))
    }
}

#[tokio::test]
async fn a_401_refreshes_the_token_a_bounded_number_of_times() {
    let script = Script::default();
    *script.replies.lock().unwrap() = vec![(401, vec![]), (401, vec![]), (401, vec![])];
    let url = serve(script.clone()).await;
    let source = Arc::new(Counting(AtomicU32::new(0)));
    let auth = BearerAuth::new(Arc::new(TokenCache::new(source.clone())));
    let resp = client()
        .send(&auth, |c| c.get(format!("{url}/x")))
        .await
        .unwrap();
    // Two refreshes, then the third 401 is final: the request is not sent a fourth time.
    assert_eq!(resp.status.as_u16(), 401);
    assert_eq!(script.hits.load(Ordering::SeqCst), 3);
    assert_eq!(source.0.load(Ordering::SeqCst), 3);
    assert_eq!(
        *script.seen_auth.lock().unwrap(),
        vec!["Bearer t1", "Bearer t2", "Bearer t3"]
    );
}

#[tokio::test]
async fn a_token_that_expires_while_retrying_is_refreshed_again() {
    let script = Script::default();
    // 401 → refresh → 503 (the new token is used, time passes) → 401 again → refresh → 200.
    *script.replies.lock().unwrap() = vec![(401, vec![]), (503, vec![]), (401, vec![])];
    let url = serve(script.clone()).await;
    let source = Arc::new(Counting(AtomicU32::new(0)));
    let auth = BearerAuth::new(Arc::new(TokenCache::new(source.clone())));
    let resp = client()
        .send(&auth, |c| c.get(format!("{url}/x")))
        .await
        .unwrap();
    assert_eq!(resp.status.as_u16(), 200);
    assert_eq!(
        *script.seen_auth.lock().unwrap(),
        vec!["Bearer t1", "Bearer t2", "Bearer t2", "Bearer t3"]
    );
}

#[tokio::test]
async fn pauses_until_reset_when_the_budget_is_spent() {
    let script = Script::default();
    *script.replies.lock().unwrap() = vec![(
        200,
        vec![
            ("x-ratelimit-remaining", "0".into()),
            ("x-ratelimit-reset", "1".into()),
        ],
    )];
    let url = serve(script.clone()).await;
    let http = client();
    http.send(&NoAuth, |c| c.get(format!("{url}/a")))
        .await
        .unwrap();
    let started = Instant::now();
    http.send(&NoAuth, |c| c.get(format!("{url}/b")))
        .await
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "second request waited for the reset"
    );
}

#[tokio::test]
async fn connection_refused_is_a_network_error_after_retries() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let err = client()
        .send(&NoAuth, |c| c.get(format!("http://{addr}/x")))
        .await
        .unwrap_err();
    assert_eq!(err.kind, agentctl_core::ErrorKind::Network);
    assert!(err.retryable);
}

/// A server answering after `delay`, counting the requests it is serving at once.
async fn serve_slow(delay: Duration, in_flight: Arc<AtomicU32>, peak: Arc<AtomicU32>) -> String {
    let app = Router::new().route(
        "/{*path}",
        any(move || {
            let (in_flight, peak) = (in_flight.clone(), peak.clone());
            async move {
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(delay).await;
                in_flight.fetch_sub(1, Ordering::SeqCst);
                (StatusCode::OK, r#"{"access_token":"t","expires_in":600}"#).into_response()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_never_has_more_than_concurrency_requests_in_flight() {
    let (in_flight, peak) = (Arc::default(), Arc::new(AtomicU32::new(0)));
    let url = serve_slow(Duration::from_millis(20), in_flight, peak.clone()).await;
    let mut opts = HttpOptions::new("test");
    opts.concurrency = 3;
    let http = HttpClient::new(opts).unwrap();
    // Two listings' worth of callers at once, one through a clone with its own quotas (as a
    // token endpoint has): they share the provider's three turns.
    let other =
        http.with_rate_limit(&agentctl_core::ratelimit::RateLimitSpec::parse("100/s").unwrap());
    let sends = (0..12).map(|i| {
        let (http, other, url) = (http.clone(), other.clone(), url.clone());
        async move {
            let client = if i % 2 == 0 { &http } else { &other };
            client
                .send(&NoAuth, |c| c.get(format!("{url}/{i}")))
                .await
                .unwrap()
                .status
        }
    });
    let statuses = futures::future::join_all(sends).await;
    assert!(statuses.iter().all(|s| s.is_success()));
    assert_eq!(peak.load(Ordering::SeqCst), 3);
}

/// Tokens fetched through the same client, as the OAuth providers do.
struct ViaClient {
    http: HttpClient,
    url: String,
    fetched: AtomicU32,
}

#[async_trait]
impl TokenSource for ViaClient {
    async fn fetch(&self) -> agentctl_core::Result<Token> {
        self.fetched.fetch_add(1, Ordering::SeqCst);
        let resp = self
            .http
            .send_token(&NoAuth, |c| c.post(format!("{}/token", self.url)))
            .await?;
        assert!(resp.is_success());
        Ok(Token::new(
            SecretString::from("t".to_string()),
            Some(Duration::from_secs(600)),
        ))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_fetch_does_not_wait_for_the_turns_of_the_requests_that_need_it() {
    // Every turn may be wanted by a request waiting for the token: the token request must
    // not need one of theirs. (Turns are taken after the credentials are applied.)
    let (in_flight, peak) = (Arc::default(), Arc::new(AtomicU32::new(0)));
    let url = serve_slow(Duration::from_millis(10), in_flight, peak.clone()).await;
    let mut opts = HttpOptions::new("test");
    opts.concurrency = 1;
    let http = HttpClient::new(opts).unwrap();
    let source = Arc::new(ViaClient {
        http: http.clone(),
        url: url.clone(),
        fetched: AtomicU32::new(0),
    });
    let auth = Arc::new(BearerAuth::new(Arc::new(TokenCache::new(source.clone()))));
    let sends = (0..4).map(|i| {
        let (http, auth, url) = (http.clone(), auth.clone(), url.clone());
        async move {
            http.send(auth.as_ref(), |c| c.get(format!("{url}/{i}")))
                .await
                .unwrap()
                .status
        }
    });
    let statuses = tokio::time::timeout(Duration::from_secs(20), futures::future::join_all(sends))
        .await
        .expect("no deadlock between the token fetch and the requests waiting for it");
    assert!(statuses.iter().all(|s| s.is_success()));
    assert_eq!(source.fetched.load(Ordering::SeqCst), 1);
    assert_eq!(peak.load(Ordering::SeqCst), 1);
}
