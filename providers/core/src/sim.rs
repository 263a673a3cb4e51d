//! Plumbing every vendor simulator shares (feature `sim`): serving a router on loopback
//! until shut down, counting requests by route or status for tests to assert on, and reading
//! credentials from request headers.

use std::collections::HashMap;
use std::sync::Mutex;

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

/// Requests seen, by key (a route such as `"GET /v1/computers"`, or a status such as `"429"`).
#[derive(Debug, Default)]
pub struct Counters(Mutex<HashMap<String, u64>>);

impl Counters {
    pub fn hit(&self, key: &str) {
        *self.0.lock().unwrap().entry(key.to_string()).or_default() += 1;
    }

    pub fn get(&self, key: &str) -> u64 {
        self.0.lock().unwrap().get(key).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn serves_until_shutdown_and_counts() {
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
