//! Maps Secure Endpoint HTTP statuses and error envelopes to [`ProviderError`]s.

use agentctl_core::ProviderError;
use agentctl_core::http::HttpResponse;

use crate::model::{ErrorEnvelope, V1Error};

/// The vendor's own message from a v1/v3 error envelope, else a snippet of the body.
pub fn vendor_message(resp: &HttpResponse) -> String {
    if let Ok(env) = serde_json::from_slice::<ErrorEnvelope>(&resp.body) {
        let parts: Vec<String> = env
            .errors
            .iter()
            .map(|e| match serde_json::from_value::<V1Error>(e.clone()) {
                Ok(v1) => {
                    let details: Vec<String> = v1
                        .details
                        .iter()
                        .map(|d| {
                            d.as_str()
                                .map(str::to_string)
                                .unwrap_or_else(|| d.to_string())
                        })
                        .collect();
                    match (v1.description, details.is_empty()) {
                        (Some(d), false) => format!("{d} ({})", details.join("; ")),
                        (Some(d), true) => d,
                        (None, _) => details.join("; "),
                    }
                }
                Err(_) => e
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| e.to_string()),
            })
            .filter(|s| !s.is_empty())
            .collect();
        if !parts.is_empty() {
            return parts.join("; ");
        }
    }
    let snippet = resp.text_snippet();
    if snippet.is_empty() {
        resp.status
            .canonical_reason()
            .unwrap_or("error")
            .to_string()
    } else {
        snippet
    }
}

/// An error for a response that was not a success, with a hint for the usual causes.
pub fn api_error(what: &str, resp: &HttpResponse) -> ProviderError {
    let status = resp.status.as_u16();
    let err = ProviderError::api(
        status,
        format!("{what}: {}", vendor_message(resp)),
        resp.request_id.clone(),
    );
    match status {
        401 => err.with_hint("check client_id / api_key (v1) or the XDR client / access_token (v3)"),
        403 => err.with_hint("the API credential lacks the scope for this call (uninstall needs read & write)"),
        429 => err.with_hint("the API rate limit was still exceeded after retries; try a lower concurrency or rate_limit"),
        _ => err,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderMap, StatusCode};

    fn resp(status: u16, body: &str) -> HttpResponse {
        HttpResponse {
            status: StatusCode::from_u16(status).unwrap(),
            headers: HeaderMap::new(),
            body: bytes::Bytes::from(body.to_string()),
            request_id: Some("req-1".into()),
        }
    }

    #[test]
    fn reads_the_v1_envelope() {
        let r = resp(
            401,
            r#"{"version":"v0.1.0","data":{},"errors":[{"error_code":401,"description":"Unauthorized","details":["Unknown API key or Client ID"]}]}"#,
        );
        let e = api_error("list computers", &r);
        assert_eq!(e.kind, agentctl_core::ErrorKind::Auth);
        assert_eq!(
            e.reason(),
            "HTTP 401: list computers: Unauthorized (Unknown API key or Client ID) (request id req-1)"
        );
        assert!(e.hint.is_some());
    }

    #[test]
    fn falls_back_to_body_or_reason() {
        assert_eq!(
            vendor_message(&resp(502, "bad gateway from proxy")),
            "bad gateway from proxy"
        );
        assert_eq!(vendor_message(&resp(404, "")), "Not Found");
        assert_eq!(
            vendor_message(&resp(400, r#"{"errors":["size is required"]}"#)),
            "size is required"
        );
        let e = api_error("x", &resp(503, ""));
        assert!(e.retryable);
    }
}
