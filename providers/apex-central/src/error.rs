//! Maps Apex Central responses to [`ProviderError`]s, keyed on `result_code` (vendor file §5):
//! `result_description` may change between releases, the code does not.

use agentctl_core::http::HttpResponse;
use agentctl_core::{ErrorKind, ProviderError};
use serde_json::Value;

use crate::model::Envelope;

/// The documented meaning of a `result_code`.
pub fn meaning(code: i64) -> Option<&'static str> {
    Some(match code {
        1 => "Operation successful",
        -2 => "Authentication failed: no authorization token",
        -3 => "Authentication failed: malformed token",
        -4 => "Authentication failed: token version not supported",
        -5 => "Authentication failed: invalid application ID",
        -6 => "Authentication failed: token expired",
        -7 => "Authentication failed: invalid token signature",
        -8 => "Authentication failed: invalid request checksum",
        -9 => "Authentication failed: token signing algorithm not supported",
        -21 => "Invalid parameter supplied",
        -22 => "Invalid operation",
        -50 => "HTTP method not supported",
        -99 => "Internal server error",
        -102 => "Agent operation failed: multiple matches not supported",
        -103 => {
            "Agent operation failed: cannot isolate an agent reporting to another Control Manager/Apex Central server"
        }
        -104 => "Agent operation failed: cannot connect to remote server",
        -105 => "Agent operation failed: target server not found",
        -106 => {
            "Agent operation failed: target server is managed by a child Control Manager server"
        }
        -107 => "Agent operation failed: target server does not support the command",
        -1101 => "Suspicious-object operation failed: maximum amount exceeded",
        -1102 => {
            "Suspicious-object operation failed: could not generate Scan Prefilter for uploaded file"
        }
        _ => return None,
    })
}

/// What a user can do about a code, where there is something.
pub fn hint(code: i64) -> Option<&'static str> {
    Some(match code {
        -2 | -3 | -9 => {
            "a proxy between agentctl and Apex Central may strip or rewrite the Authorization header"
        }
        -4 => "Apex Central accepts only version V1 tokens",
        -5 => {
            "check application_id against Administration > Settings > Automation API Access Settings"
        }
        -6 => {
            "the token arrived later than the application's communication time-out: sync this machine's clock (NTP) with the Apex Central server, or raise the time-out in Automation API Access Settings"
        }
        -7 => "check api_key: it must be the key of the configured application_id",
        -8 => "a proxy may have rewritten the path, query or body after signing",
        -102 => "the selector matched several agents; pass --allow-multiple if that is intended",
        -105 => "`agentctl apex servers` lists the servers and their entity_id",
        -106 | -107 => "pick another target server (`agentctl apex servers`)",
        _ => return None,
    })
}

fn is_auth_code(code: i64) -> bool {
    (-9..=-2).contains(&code)
}

/// The envelope of `resp`, if its body is one.
pub fn envelope(resp: &HttpResponse) -> Option<Envelope> {
    // Only a JSON object is an envelope (serde would also read a struct from an array).
    match serde_json::from_slice::<serde_json::Value>(&resp.body).ok()? {
        v @ serde_json::Value::Object(_) => serde_json::from_value(v).ok(),
        _ => None,
    }
}

/// An error for an envelope with `result_code` other than 1 (or a non-200 status).
pub fn api_error(what: &str, resp: &HttpResponse) -> ProviderError {
    let status = resp.status.as_u16();
    let Some(env) = envelope(resp) else {
        let snippet = resp.text_snippet();
        let msg = if snippet.is_empty() {
            resp.status
                .canonical_reason()
                .unwrap_or("error")
                .to_string()
        } else {
            snippet
        };
        return ProviderError::api(status, format!("{what}: {msg}"), resp.request_id.clone());
    };
    let code = env.result_code;
    let documented = meaning(code);
    let vendor = env
        .result_description
        .as_deref()
        .map(str::trim)
        .filter(|d| !d.is_empty());
    let text = match (documented, vendor) {
        (Some(m), Some(v)) if !v.eq_ignore_ascii_case(m) => {
            format!("{m} (result_code {code}; server says: {v})")
        }
        (Some(m), _) => format!("{m} (result_code {code})"),
        (None, Some(v)) => format!("{v} (undocumented result_code {code})"),
        (None, None) => format!("undocumented result_code {code}"),
    };
    let mut err = ProviderError::api(status, format!("{what}: {text}"), resp.request_id.clone());
    if is_auth_code(code) {
        err.kind = ErrorKind::Auth;
    }
    if status == 200 {
        // A 200 whose envelope reports failure is final, whatever the code.
        err.retryable = false;
    }
    match hint(code) {
        Some(h) => err.with_hint(h),
        None => err,
    }
}

/// `result_content` of a successful response (HTTP 2xx and `result_code` 1), else the error.
pub fn success(what: &str, resp: &HttpResponse) -> Result<Value, ProviderError> {
    match envelope(resp) {
        Some(env) if resp.is_success() && env.result_code == 1 => Ok(env.result_content),
        Some(_) => Err(api_error(what, resp)),
        None if resp.is_success() => {
            let mut e = ProviderError::protocol(format!(
                "{what}: HTTP {} without a result envelope: {}",
                resp.status.as_u16(),
                resp.text_snippet()
            ));
            e.request_id = resp.request_id.clone();
            Err(e)
        }
        None => Err(api_error(what, resp)),
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
            request_id: None,
        }
    }

    #[test]
    fn every_documented_code_has_a_meaning() {
        for code in [
            1, -2, -3, -4, -5, -6, -7, -8, -9, -21, -22, -50, -99, -102, -103, -104, -105, -106,
            -107, -1101, -1102,
        ] {
            assert!(meaning(code).is_some(), "{code}");
        }
        assert_eq!(meaning(-1), None);
        assert_eq!(meaning(7), None);
    }

    #[test]
    fn auth_codes_are_auth_errors_with_a_hint() {
        let e = api_error(
            "list agents",
            &resp(
                401,
                r#"{"result_code":-6,"result_description":"Token expired","result_content":""}"#,
            ),
        );
        assert_eq!(e.kind, ErrorKind::Auth);
        assert_eq!(
            e.reason(),
            "HTTP 401: list agents: Authentication failed: token expired (result_code -6; server says: Token expired)"
        );
        assert!(e.hint.as_deref().unwrap().contains("clock"));
        let e = api_error(
            "x",
            &resp(
                401,
                r#"{"result_code":-7,"result_description":"Authentication failed: invalid token signature","result_content":""}"#,
            ),
        );
        assert_eq!(
            e.reason(),
            "HTTP 401: x: Authentication failed: invalid token signature (result_code -7)"
        );
        assert!(e.hint.as_deref().unwrap().contains("api_key"));
    }

    #[test]
    fn agent_codes_are_api_errors_keyed_on_the_code() {
        let e = api_error(
            "relocate",
            &resp(
                400,
                r#"{"result_code":-105,"result_description":"whatever text","result_content":""}"#,
            ),
        );
        assert_eq!(e.kind, ErrorKind::Api);
        assert!(!e.retryable);
        assert!(
            e.message
                .contains("target server not found (result_code -105"),
            "{}",
            e.message
        );
        let e = api_error(
            "x",
            &resp(400, r#"{"result_code":-102,"result_content":""}"#),
        );
        assert!(e.hint.as_deref().unwrap().contains("--allow-multiple"));
        let e = api_error(
            "x",
            &resp(500, r#"{"result_code":-99,"result_content":""}"#),
        );
        assert!(e.retryable);
        let e = api_error(
            "x",
            &resp(
                200,
                r#"{"result_code":-31,"result_description":"New","result_content":""}"#,
            ),
        );
        assert_eq!(e.message, "x: New (undocumented result_code -31)");
        assert!(!e.retryable);
    }

    #[test]
    fn success_needs_status_and_code() {
        let ok = success("x", &resp(200, r#"{"result_code":1,"result_description":"Operation successful","result_content":[{"a":1}]}"#)).unwrap();
        assert_eq!(ok[0]["a"], 1);
        assert!(
            success(
                "x",
                &resp(200, r#"{"result_code":-22,"result_content":""}"#)
            )
            .is_err()
        );
        assert!(success("x", &resp(500, r#"{"result_code":1,"result_content":[]}"#)).is_err());
        let e = success("x", &resp(200, "<html>login</html>")).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Protocol);
        let e = success("x", &resp(502, "bad gateway")).unwrap_err();
        assert_eq!(e.reason(), "HTTP 502: x: bad gateway");
    }
}
