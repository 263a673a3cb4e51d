//! Maps Secure Access HTTP statuses and its three error-body shapes to [`ProviderError`]s.

use agentctl_core::ProviderError;
use agentctl_core::http::HttpResponse;

use crate::model::ErrorBody;

/// The vendor's own message from any of its error shapes, else a snippet of the body.
pub fn vendor_message(resp: &HttpResponse) -> String {
    if let Ok(body) = serde_json::from_slice::<ErrorBody>(&resp.body) {
        let mut parts: Vec<String> = Vec::new();
        let key_admin = body.description.as_deref().filter(|d| !d.is_empty());
        match (&body.error, &body.message) {
            // Key Admin: `description` is the detail, `message` only "error".
            _ if key_admin.is_some() => parts.push(key_admin.unwrap_or_default().to_string()),
            // Roaming computers: `error` is the reason phrase, `message` the detail.
            (Some(e), Some(m)) if body.status_code.is_some() => parts.push(format!("{m} ({e})")),
            (Some(e), Some(m)) => parts.push(format!("{e}: {m}")),
            (Some(e), None) => parts.push(e.clone()),
            (None, Some(m)) => parts.push(m.clone()),
            (None, None) => {}
        }
        if let Some(v) = &body.validation_errors {
            let mut fields: Vec<String> = v
                .iter()
                .map(|(k, v)| {
                    format!(
                        "{k}: {}",
                        v.as_str().map_or_else(|| v.to_string(), str::to_string)
                    )
                })
                .collect();
            fields.sort();
            if !fields.is_empty() {
                parts.push(fields.join("; "));
            }
        }
        if !parts.is_empty() {
            return parts.join(" — ");
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

/// The request id from the body (`requestId`) when the headers had none.
fn request_id(resp: &HttpResponse) -> Option<String> {
    resp.request_id.clone().or_else(|| {
        serde_json::from_slice::<ErrorBody>(&resp.body)
            .ok()
            .and_then(|b| b.request_id)
    })
}

/// Is this Umbrella's answer to an expired token (HTTP 400 `{"error":"invalid_request"}`)?
pub fn is_expired_token_400(resp: &HttpResponse) -> bool {
    resp.status.as_u16() == 400
        && serde_json::from_slice::<ErrorBody>(&resp.body).is_ok_and(|b| {
            b.error.as_deref() == Some("invalid_request")
                && b.status_code.is_none()
                && b.validation_errors.is_none()
        })
}

/// Which credential a call used, for the hints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    RoamingRead,
    RoamingWrite,
    TunnelsRead,
    KeyAdmin,
}

impl Scope {
    pub fn needs(self) -> &'static str {
        match self {
            Scope::RoamingRead => "deployments.roamingcomputers:read",
            Scope::RoamingWrite => "deployments.roamingcomputers:write",
            Scope::TunnelsRead => "deployments.networktunnelgroups:read",
            Scope::KeyAdmin => {
                "admin.apikeys:read/create/update/delete/refresh on the Key Admin key"
            }
        }
    }
}

/// An error for a response that was not a success, with a hint for the usual causes.
pub fn api_error(what: &str, scope: Scope, resp: &HttpResponse) -> ProviderError {
    let status = resp.status.as_u16();
    let err = ProviderError::api(
        status,
        format!("{what}: {}", vendor_message(resp)),
        request_id(resp),
    );
    match status {
        401 => err.with_hint(match scope {
            Scope::KeyAdmin => "check key_admin_key / key_admin_secret",
            _ => "check api_key / api_secret (and org_id for a child organization)",
        }),
        403 => err.with_hint(format!("the API key lacks the scope {}", scope.needs())),
        429 => err.with_hint(
            "the per-key quota (5/s, 14/min, 350/30min) was still exceeded after retries; another client may share this key, or rate_limit is set above the quota",
        ),
        _ => err,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agentctl_core::ErrorKind;
    use http::{HeaderMap, StatusCode};

    fn resp(status: u16, body: &str) -> HttpResponse {
        HttpResponse {
            status: StatusCode::from_u16(status).unwrap(),
            headers: HeaderMap::new(),
            body: bytes_of(body),
            request_id: None,
        }
    }

    fn bytes_of(s: &str) -> bytes::Bytes {
        bytes::Bytes::from(s.to_string())
    }

    #[test]
    fn reads_the_roaming_computers_shape() {
        let r = resp(
            404,
            r#"{"statusCode":404,"error":"Not Found","message":"Roaming computer not found"}"#,
        );
        let e = api_error("re-check roaming computer", Scope::RoamingRead, &r);
        assert_eq!(e.kind, ErrorKind::Api);
        assert_eq!(
            e.reason(),
            "HTTP 404: re-check roaming computer: Roaming computer not found (Not Found)"
        );
    }

    #[test]
    fn reads_the_tunnel_groups_shape_with_request_id_and_validation() {
        let r = resp(
            400,
            r#"{"error":"\"limit\" query param is invalid","requestId":"4f1c","validationErrors":{"limit":"Value should be a number from 1 to 200."}}"#,
        );
        let e = api_error("list tunnels", Scope::TunnelsRead, &r);
        assert_eq!(
            e.reason(),
            "HTTP 400: list tunnels: \"limit\" query param is invalid — limit: Value should be a number from 1 to 200. (request id 4f1c)"
        );
        assert!(!is_expired_token_400(&r));
    }

    #[test]
    fn auth_and_scope_hints() {
        let e = api_error(
            "delete",
            Scope::RoamingWrite,
            &resp(
                403,
                r#"{"statusCode":403,"error":"Forbidden","message":"Access Forbidden"}"#,
            ),
        );
        assert_eq!(e.kind, ErrorKind::Auth);
        assert!(
            e.hint
                .unwrap()
                .contains("deployments.roamingcomputers:write")
        );
        let e = api_error(
            "list keys",
            Scope::KeyAdmin,
            &resp(401, r#"{"message":"Unauthorized"}"#),
        );
        assert_eq!(e.kind, ErrorKind::Auth);
        assert!(e.message.ends_with("Unauthorized"));
        assert!(e.hint.unwrap().contains("key_admin_key"));
        let e = api_error("list", Scope::RoamingRead, &resp(429, ""));
        assert!(e.retryable);
        assert!(e.message.ends_with("Too Many Requests"));
    }

    #[test]
    fn reads_the_key_admin_shape() {
        let r = resp(
            404,
            r#"{"message":"error","description":"The API key was not found."}"#,
        );
        let e = api_error("get API key", Scope::KeyAdmin, &r);
        assert_eq!(
            e.reason(),
            "HTTP 404: get API key: The API key was not found."
        );
    }

    #[test]
    fn recognises_umbrellas_expired_token_answer() {
        assert!(is_expired_token_400(&resp(
            400,
            r#"{"error":"invalid_request"}"#
        )));
        assert!(!is_expired_token_400(&resp(
            401,
            r#"{"error":"invalid_request"}"#
        )));
        assert!(!is_expired_token_400(&resp(
            400,
            r#"{"statusCode":400,"error":"invalid_request","message":"x"}"#
        )));
        assert_eq!(
            vendor_message(&resp(502, "<html>bad gateway</html>")),
            "<html>bad gateway</html>"
        );
    }
}
