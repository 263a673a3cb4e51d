//! Plumbing every vendor simulator shares (feature `sim`): serving a router on loopback
//! until shut down, counting requests by route or status for tests to assert on, and reading
//! credentials from request headers.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// A bound loopback port whose base URL is known before the router is built (simulators
/// put absolute links to themselves in their answers).
pub struct Listener {
    listener: tokio::net::TcpListener,
    base_url: String,
}

/// The parts of a request a simulator's handlers look at.
pub struct Req<'a> {
    pub method: &'a http::Method,
    pub uri: &'a http::Uri,
    pub headers: &'a http::HeaderMap,
    pub body: &'a bytes::Bytes,
}

impl Req<'_> {
    /// Query parameters, decoded, in order (repeated keys repeat).
    pub fn query(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(self.uri.query().unwrap_or("").as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    /// A form-urlencoded body, decoded, in order.
    pub fn form(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(self.body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Whether `Content-Type` starts with `prefix` (parameters such as charset follow).
    pub fn content_type_is(&self, prefix: &str) -> bool {
        self.header(http::header::CONTENT_TYPE.as_str())
            .is_some_and(|v| v.starts_with(prefix))
    }

    pub fn authorization(&self, scheme: &str) -> Option<&str> {
        authorization(self.headers, scheme)
    }

    pub fn basic(&self) -> Option<(String, String)> {
        basic_credentials(self.headers)
    }
}

/// The credentials of an `Authorization` header with `scheme` (case-insensitive), e.g.
/// `Bearer`.
pub fn authorization<'a>(headers: &'a http::HeaderMap, scheme: &str) -> Option<&'a str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (s, rest) = value.split_once(' ')?;
    s.eq_ignore_ascii_case(scheme).then_some(rest.trim())
}

/// HTTP Basic credentials as every vendor documents them: `base64(user:password)` with the
/// parts as they are, split at the first `:`. (A client that form-urlencodes the parts first
/// does not match when a secret holds reserved characters, as on a server that does not
/// decode them.)
pub fn basic_credentials(headers: &http::HeaderMap) -> Option<(String, String)> {
    use base64::Engine;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(authorization(headers, "Basic")?)
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (user, pass) = text.split_once(':')?;
    Some((user.to_string(), pass.to_string()))
}

/// Bind `127.0.0.1:<free port>`.
pub async fn listen() -> std::io::Result<Listener> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let base_url = format!("http://{}", listener.local_addr()?);
    Ok(Listener { listener, base_url })
}

impl Listener {
    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Serve `router` in the background until [`Serving::shutdown`].
    pub fn serve(self, router: axum::Router) -> Serving {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(self.listener, router)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Serving {
            base_url: self.base_url,
            stop,
            task,
        }
    }
}

/// A router being served on loopback.
pub struct Serving {
    base_url: String,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Serving {
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Stop accepting, finish requests in flight, and wait for the server task.
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// Requests seen, by key (a route such as `"GET /v1/computers"`, or a status such as `"429"`),
/// and how many were being served at once at most.
#[derive(Debug, Default)]
pub struct Counters {
    hits: Mutex<HashMap<String, u64>>,
    in_flight: AtomicU64,
    peak_in_flight: AtomicU64,
}

impl Counters {
    pub fn hit(&self, key: &str) {
        *self
            .hits
            .lock()
            .unwrap()
            .entry(key.to_string())
            .or_default() += 1;
    }

    pub fn get(&self, key: &str) -> u64 {
        self.hits.lock().unwrap().get(key).copied().unwrap_or(0)
    }

    /// Count a request as being served until the guard is dropped.
    pub fn serving(&self) -> InFlight<'_> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak_in_flight.fetch_max(now, Ordering::SeqCst);
        InFlight(self)
    }

    /// The most requests served at the same time so far.
    pub fn peak_in_flight(&self) -> u64 {
        self.peak_in_flight.load(Ordering::SeqCst)
    }
}

/// A request being served (see [`Counters::serving`]).
pub struct InFlight<'a>(&'a Counters);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A credential revoked in the console mid-run, after a number of requests in all (the
/// `revoke_credentials_after` knob every simulator takes): each simulator counts every request
/// it receives with [`Revocation::hit`], and once more than `after` arrived its token endpoint
/// refuses the configured credential and every token issued to it stops working, each in its
/// vendor's own answers.
#[derive(Debug, Default)]
pub struct Revocation {
    after: Option<u64>,
    requests: AtomicU64,
}

impl Revocation {
    pub fn new(after: Option<u64>) -> Self {
        Self {
            after,
            requests: AtomicU64::new(0),
        }
    }

    /// Count one request (once per request, before it is answered).
    pub fn hit(&self) {
        self.requests.fetch_add(1, Ordering::SeqCst);
    }

    /// Whether the credential is revoked now.
    pub fn revoked(&self) -> bool {
        self.after
            .is_some_and(|n| self.requests.load(Ordering::SeqCst) > n)
    }

    /// Requests seen in all (every route, every answer).
    pub fn total(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }
}

/// Host names an attacker who can name a machine might choose: spreadsheet formulas,
/// terminal escape sequences (OSC 52 clipboard write, window title, screen clear), C1
/// controls, a bidirectional override, a leading apostrophe, HTML and Markdown markup, and a
/// very long name.
pub fn hostile_names() -> Vec<String> {
    vec![
        "=cmd|' /C calc'!A0".into(),
        "+1".into(),
        "-2".into(),
        "@SUM(1+1)*cmd|' /C calc'!A0".into(),
        "\tTAB-host".into(),
        "\rCR-host".into(),
        "osc52-\u{1b}]52;c;aGFja2Vk\u{7}".into(),
        "title-\u{1b}]0;pwned\u{7}".into(),
        "clear-\u{1b}[2J\u{1b}[H".into(),
        "c1-\u{9b}31m-\u{85}".into(),
        "bidi-\u{202e}exe.txt".into(),
        "'apostrophe".into(),
        // Markup for reports: HTML elements, and Markdown table / code / link syntax with a
        // line break.
        "<img src=x onerror=alert(1)>".into(),
        "</td><script>alert('x')</script>".into(),
        "md|pipe`tick`[click](javascript:alert(1))\nnext-line".into(),
        format!("long-{}", "x".repeat(4090)),
    ]
}

/// Fault knobs every simulator takes, applied in front of its router by [`hostile`]; and
/// `names`, which each simulator's fleet generation honours by giving its first agents the
/// [`hostile_names`].
#[derive(Debug, Clone, Default)]
pub struct Hostile {
    /// The first agents of a new fleet get [`hostile_names`] as host names.
    pub names: bool,
    /// Requests whose path starts with this answer 200 with a body that never ends.
    pub endless_body: Option<String>,
    /// Requests whose path starts with this are never answered.
    pub hang: Option<String>,
    /// The first `count` requests whose path starts with `path` fail as `fault` says.
    pub fail_first: Option<FailFirst>,
}

#[derive(Debug, Clone)]
pub struct FailFirst {
    pub path: String,
    pub count: u32,
    pub fault: Fault,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// `500 Internal Server Error` with a plain-text body (what a failing gateway sends).
    Status500,
    /// The connection is dropped without an answer.
    Reset,
}

/// `router` behind the [`Hostile`] knobs. Requests the knobs affect are counted under
/// `"hostile"` in the returned [`Counters`].
pub fn hostile(router: axum::Router, knobs: &Hostile) -> (axum::Router, std::sync::Arc<Counters>) {
    use axum::body::Body;
    use axum::response::IntoResponse;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    let counters = Arc::new(Counters::default());
    if knobs.endless_body.is_none() && knobs.hang.is_none() && knobs.fail_first.is_none() {
        return (router, counters);
    }
    let knobs = Arc::new(knobs.clone());
    let failed = Arc::new(AtomicU32::new(0));
    let seen = counters.clone();
    let layer = axum::middleware::from_fn(
        move |req: axum::extract::Request, next: axum::middleware::Next| {
            let knobs = knobs.clone();
            let failed = failed.clone();
            let seen = seen.clone();
            async move {
                let path = req.uri().path().to_string();
                if knobs.hang.as_deref().is_some_and(|p| path.starts_with(p)) {
                    seen.hit("hostile");
                    std::future::pending::<()>().await;
                }
                if knobs
                    .endless_body
                    .as_deref()
                    .is_some_and(|p| path.starts_with(p))
                {
                    seen.hit("hostile");
                    let chunk = bytes::Bytes::from(vec![b' '; 64 * 1024]);
                    let head = futures::stream::once(async {
                        Ok::<_, std::io::Error>(bytes::Bytes::from_static(b"{\"data\": ["))
                    });
                    let tail = futures::stream::repeat_with(move || Ok(chunk.clone()));
                    let body = Body::from_stream(futures::StreamExt::chain(head, tail));
                    return ([("content-type", "application/json")], body).into_response();
                }
                if let Some(f) = &knobs.fail_first
                    && path.starts_with(&f.path)
                    && failed.fetch_add(1, Ordering::SeqCst) < f.count
                {
                    seen.hit("hostile");
                    return match f.fault {
                        Fault::Status500 => (
                            http::StatusCode::INTERNAL_SERVER_ERROR,
                            "Internal Server Error",
                        )
                            .into_response(),
                        Fault::Reset => {
                            let body = Body::from_stream(futures::stream::once(async {
                                Err::<bytes::Bytes, _>(std::io::Error::other("reset"))
                            }));
                            body.into_response()
                        }
                    };
                }
                next.run(req).await
            }
        },
    );
    (router.layer(layer), counters)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn serves_until_shutdown_and_counts() {
        // `reqwest::get` builds its own client: it needs the process's TLS provider, which
        // other tests in this process may or may not have installed first.
        crate::http::install_crypto_provider();
        let listener = listen().await.unwrap();
        let url = listener.base_url().to_string();
        let counters = std::sync::Arc::new(Counters::default());
        let c = counters.clone();
        let router = axum::Router::new().fallback(move || {
            let c = c.clone();
            async move {
                c.hit("GET /");
                "ok"
            }
        });
        let serving = listener.serve(router);
        assert_eq!(serving.base_url(), url);
        let body = reqwest::get(&url).await.unwrap().text().await.unwrap();
        assert_eq!(body, "ok");
        assert_eq!(counters.get("GET /"), 1);
        assert_eq!(counters.get("POST /"), 0);
        serving.shutdown().await;
        assert!(
            reqwest::get(&url).await.is_err(),
            "nothing listens after shutdown"
        );
    }
}
