//! Plumbing every vendor simulator shares (feature `sim`): serving a router on loopback
//! until shut down, and counting requests by route or status for tests to assert on.

use std::collections::HashMap;
use std::sync::Mutex;

/// A bound loopback port whose base URL is known before the router is built (simulators
/// put absolute links to themselves in their answers).
pub struct Listener {
    listener: tokio::net::TcpListener,
    base_url: String,
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
