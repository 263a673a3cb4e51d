//! Shared by the vendor targets: an HTTP answer built from fuzz bytes.

use agentctl_core::http::HttpResponse;

/// The first two bytes pick a status (100–599), the rest is the body.
pub fn response(data: &[u8]) -> HttpResponse {
    let (status, body) = match data {
        [a, b, rest @ ..] => (100 + (u16::from_le_bytes([*a, *b]) % 500), rest),
        _ => (500, data),
    };
    HttpResponse {
        status: http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::BAD_GATEWAY),
        headers: http::HeaderMap::new(),
        body: bytes::Bytes::copy_from_slice(body),
        request_id: None,
    }
}
