//! Cisco's definition of the Key Admin API (API key management), shared by the client and the
//! simulator. Source: Cisco's unified Secure Access OpenAPI definition as generated into its
//! official Python SDK (CiscoDevNet `cisco-secure-access-python-sdk`, package `secureaccess`):
//! `api/api_keys_api.py` (paths, status codes) and `models/create_api_keys_request.py`,
//! `key_admin_key.py`, `key_for_list.py`, `key_with_secret.py`, `key_refresh_secret.py`,
//! `keys_response_list.py`, `key_response*.py` and the error models.

/// `GET` (list, `offset` + `limit`, 200 `KeysResponseList`) and `POST` (create, JSON
/// `CreateAPIKeysRequest`, 201 `KeyResponseWithSecret`; 401, 403, 409, 415, 503).
pub const API_KEYS_PATH: &str = "/admin/v2/apiKeys";

/// `GET` (200 `KeyResponse`; 404), `PATCH` (200 `KeyResponse`), `DELETE` (204, no body; 404).
pub fn api_key_path(id: &str) -> String {
    format!("{API_KEYS_PATH}/{id}")
}

/// `POST` without a body: 200 `KeyResponseRefreshSecret` (the new `clientSecret`; the old one
/// stops working); 404, 415.
pub fn api_key_refresh_path(id: &str) -> String {
    format!("{API_KEYS_PATH}/{id}/refresh")
}

/// The fields `CreateAPIKeysRequest` has; nothing else is part of the request model.
pub const CREATE_FIELDS: [&str; 5] = ["allowedIPs", "description", "expireAt", "name", "scopes"];

/// `name` and `description`: `max_length=256`.
pub const NAME_MAX_CHARS: usize = 256;
pub const DESCRIPTION_MAX_CHARS: usize = 256;

/// The name pattern of `CreateAPIKeysRequest` (and of every key model) as published.
pub const NAME_PATTERN: &str = r"^[a-zA-Z0-9:.-_+=\s]+$";

/// Is `c` allowed by [`NAME_PATTERN`], read as a regular-expression engine reads it? Inside
/// the brackets `.-_` is the range from `.` (0x2E) to `_` (0x5F), which holds `/ : ; < = > ?
/// @ [ \ ] ^ _`, digits and capitals — but not `-` itself.
pub fn name_char_allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || ('.'..='_').contains(&c) || matches!(c, ':' | '+' | '=') || {
        // Python's `\s` on text: Unicode white space.
        c.is_whitespace()
    }
}

/// Does `name` satisfy `CreateAPIKeysRequest.name` (1 to 256 characters of [`NAME_PATTERN`])?
pub fn check_name(name: &str) -> Result<(), String> {
    let chars = name.chars().count();
    if chars == 0 {
        return Err("the API key needs a name".into());
    }
    if chars > NAME_MAX_CHARS {
        return Err(format!(
            "the name has {chars} characters; Cisco allows at most {NAME_MAX_CHARS}"
        ));
    }
    let bad: String = name.chars().filter(|c| !name_char_allowed(*c)).collect();
    if !bad.is_empty() {
        let mut shown: Vec<char> = bad.chars().collect();
        shown.dedup();
        let shown: String = shown.into_iter().take(10).collect();
        return Err(format!(
            "the name contains {shown:?}, which Cisco's name pattern {NAME_PATTERN} does not allow (letters, digits, white space and . / : ; < = > ? @ [ \\ ] ^ _ + — no '-')"
        ));
    }
    Ok(())
}

/// The `message` of every answer and error model: an enum of these two values.
pub const MESSAGE_SUCCESS: &str = "success";
pub const MESSAGE_ERROR: &str = "error";

/// Page size agentctl asks for when listing (the API's default `limit` 0 means "no limit";
/// agentctl pages anyway so a huge organization is read in bounded answers).
pub const LIST_PAGE_SIZE: u32 = 100;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_published_pattern_literally() {
        for ok in [
            "SIEM export",
            "agentctl_cleanup",
            "ci.deploy:v2",
            "a+b=c",
            "path/like@x",
            "Z",
        ] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "ci-deploy", "Zürich", "tab\u{0}", "a,b", "100%", "x~y"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_name(&"a".repeat(256)).is_ok());
        let e = check_name(&"a".repeat(257)).unwrap_err();
        assert!(e.contains("257"), "{e}");
        assert!(check_name("ci-deploy").unwrap_err().contains("'-'"));
    }
}
