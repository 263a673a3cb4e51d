//! Maps Taegis HTTP statuses and GraphQL `errors[]` to [`ProviderError`]s. Whether a further
//! attempt is worth it is decided by the shared plumbing (429 / 5xx are retried there).

use agentctl_core::http::HttpResponse;
use agentctl_core::{ErrorKind, ProviderError};

use crate::model::{GraphQlError, GraphQlResponse};
use crate::unconfirmed;

/// The server's messages, each with its `extensions.code` when it has one.
pub fn messages(errors: &[GraphQlError]) -> String {
    let mut parts: Vec<String> = errors
        .iter()
        .map(|e| {
            let msg = if e.message.trim().is_empty() {
                "(no message)".to_string()
            } else {
                e.message.trim().to_string()
            };
            match e.code() {
                Some(code) => format!("{msg} [{code}]"),
                None => msg,
            }
        })
        .collect();
    parts.dedup();
    parts.join("; ")
}

fn kind_for_code(code: &str) -> Option<ErrorKind> {
    match code {
        c if c == unconfirmed::CODE_UNAUTHENTICATED || c == unconfirmed::CODE_FORBIDDEN => {
            Some(ErrorKind::Auth)
        }
        c if c == unconfirmed::CODE_VALIDATION_FAILED || c == unconfirmed::CODE_PARSE_FAILED => {
            Some(ErrorKind::Protocol)
        }
        _ => None,
    }
}

fn mentions_tenant(text: &str) -> bool {
    text.to_ascii_lowercase().contains("tenant")
}

/// An error for a GraphQL answer with `errors[]` (HTTP `status`, 200 included).
pub fn graphql_error(
    what: &str,
    status: u16,
    errors: &[GraphQlError],
    request_id: Option<String>,
) -> ProviderError {
    let text = messages(errors);
    let mut err = if status == 200 {
        let mut e = ProviderError::new(ErrorKind::Api, format!("{what}: {text}"));
        e.request_id = request_id;
        e
    } else {
        ProviderError::api(status, format!("{what}: {text}"), request_id)
    };
    if let Some(kind) = errors
        .iter()
        .filter_map(|e| e.code())
        .find_map(kind_for_code)
    {
        err.kind = kind;
    }
    if err.kind == ErrorKind::Protocol {
        err.retryable = false;
        err = err.with_hint(
            "the Taegis schema rejected agentctl's request; the API may have changed (please report it)",
        );
    } else if mentions_tenant(&text) {
        err = err.with_hint(
            "check tenant_id: a credential is valid for one tenant, in the region where it was created",
        );
    } else if err.kind == ErrorKind::Auth {
        err = err.with_hint(if status == 401 {
            "check the credentials"
        } else {
            "the API credential's role does not allow this (see docs/taegis.md for the role each command needs)"
        });
    }
    err
}

/// An error for a response that was not a success.
pub fn http_error(what: &str, resp: &HttpResponse, fixed_token: bool) -> ProviderError {
    let status = resp.status.as_u16();
    let errors = serde_json::from_slice::<GraphQlResponse>(&resp.body)
        .ok()
        .and_then(|b| b.errors)
        .filter(|e| !e.is_empty());
    if status == 401 {
        let detail = match &errors {
            Some(e) => messages(e),
            None => {
                let s = resp.text_snippet();
                if s.is_empty() {
                    "Unauthorized".into()
                } else {
                    s
                }
            }
        };
        let mut err = ProviderError::api(
            401,
            if fixed_token {
                format!(
                    "{what}: the bearer token was refused (wrong or expired; a ready token cannot be refreshed): {detail}"
                )
            } else {
                format!("{what}: credentials refused after a token refresh: {detail}")
            },
            resp.request_id.clone(),
        );
        err.kind = ErrorKind::Auth;
        return err.with_hint(if fixed_token {
            "get a new bearer token (token = …), or configure client_id + client_secret so agentctl can fetch tokens itself"
        } else {
            "check client_id / client_secret and that the API credential still exists"
        });
    }
    if let Some(errors) = errors {
        return graphql_error(what, status, &errors, resp.request_id.clone());
    }
    let snippet = resp.text_snippet();
    let msg = if snippet.is_empty() {
        resp.status
            .canonical_reason()
            .unwrap_or("error")
            .to_string()
    } else {
        snippet
    };
    let err = ProviderError::api(status, format!("{what}: {msg}"), resp.request_id.clone());
    if status == 403 {
        return err.with_hint(
            "the API credential's role does not allow this, or tenant_id is not its tenant",
        );
    }
    err
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
            request_id: Some("rq-1".into()),
        }
    }

    fn errors(body: &str) -> Vec<GraphQlError> {
        serde_json::from_str::<GraphQlResponse>(body)
            .unwrap()
            .errors
            .unwrap()
    }

    #[test]
    fn graphql_errors_carry_the_servers_messages_and_codes() {
        let e = graphql_error(
            "list assets",
            200,
            &errors(
                r#"{"data":null,"errors":[{"message":"asset service unavailable","path":["assetsV2"]},{"message":"second","extensions":{"code":"INTERNAL"}}]}"#,
            ),
            None,
        );
        assert_eq!(e.kind, ErrorKind::Api);
        assert_eq!(e.status, None);
        assert_eq!(
            e.reason(),
            "list assets: asset service unavailable; second [INTERNAL]"
        );
    }

    #[test]
    fn validation_errors_are_protocol_errors() {
        let e = http_error(
            "list assets",
            &resp(
                400,
                r#"{"errors":[{"message":"Unknown field \"hostname\" on type \"AssetV2\".","extensions":{"code":"GRAPHQL_VALIDATION_FAILED"}}]}"#,
            ),
            false,
        );
        assert_eq!(e.kind, ErrorKind::Protocol);
        assert!(!e.retryable);
        assert!(
            e.reason()
                .starts_with("HTTP 400: list assets: Unknown field \"hostname\""),
            "{}",
            e.reason()
        );
        assert!(e.reason().ends_with("(request id rq-1)"));
        assert!(e.hint.unwrap().contains("schema"));
    }

    #[test]
    fn auth_codes_statuses_and_tenant_hints() {
        let e = graphql_error(
            "uninstall",
            200,
            &errors(r#"{"errors":[{"message":"not allowed","extensions":{"code":"FORBIDDEN"}}]}"#),
            None,
        );
        assert_eq!(e.kind, ErrorKind::Auth);
        assert!(e.hint.unwrap().contains("role"));
        let e = http_error(
            "list assets",
            &resp(
                403,
                r#"{"errors":[{"message":"tenant 7 is not accessible with this token"}]}"#,
            ),
            false,
        );
        assert_eq!((e.kind, e.status), (ErrorKind::Auth, Some(403)));
        assert!(e.hint.unwrap().contains("tenant_id"));
        let e = http_error("list assets", &resp(401, ""), true);
        assert_eq!(e.kind, ErrorKind::Auth);
        assert!(
            e.message.contains("bearer token was refused"),
            "{}",
            e.message
        );
        let e = http_error(
            "list assets",
            &resp(401, r#"{"errors":[{"message":"token expired"}]}"#),
            false,
        );
        assert!(e.message.ends_with("token expired"), "{}", e.message);
        let e = http_error("list assets", &resp(503, "<html>busy</html>"), false);
        assert!(e.retryable);
        assert_eq!(e.kind, ErrorKind::Api);
        assert!(e.message.ends_with("<html>busy</html>"));
        let e = http_error("list assets", &resp(404, ""), false);
        assert!(e.message.ends_with("Not Found"));
    }
}
