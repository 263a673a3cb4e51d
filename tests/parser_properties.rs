//! Property-based tests of every vendor's response parsers, through the real provider code
//! (`list` and `recheck`) against a loopback server that answers with generated JSON: any
//! answer gives records or an error, never a panic; an answer of the wrong shape is a
//! protocol error. Token endpoints answer well-formed tokens so the generated bodies reach
//! the listing and re-check parsers.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use agentctl_core::{ErrorKind, ListQuery, Recheck};
use futures::StreamExt;
use proptest::prelude::*;
use serde_json::{Value, json};

const TOKEN_PATHS: [&str; 4] = [
    "/iroh/oauth2/token",
    "/v3/access_tokens",
    "/auth/v2/token",
    "/auth/api/v2/auth/token",
];

struct Server {
    url: String,
    answer: Arc<Mutex<(u16, String)>>,
    runtime: tokio::runtime::Runtime,
}

fn server() -> Server {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let answer = Arc::new(Mutex::new((200u16, "{}".to_string())));
    let a = answer.clone();
    let url = runtime.block_on(async move {
        let router = axum::Router::new().fallback(move |uri: axum::http::Uri| {
            let a = a.clone();
            async move {
                use axum::response::IntoResponse;
                if TOKEN_PATHS.contains(&uri.path()) {
                    return (
                        axum::http::StatusCode::OK,
                        [("content-type", "application/json")],
                        r#"{"access_token":"tok","token_type":"bearer","expires_in":3600}"#
                            .to_string(),
                    )
                        .into_response();
                }
                let (status, body) = a.lock().unwrap().clone();
                (
                    axum::http::StatusCode::from_u16(status).unwrap(),
                    [("content-type", "application/json")],
                    body,
                )
                    .into_response()
            }
        });
        let listener = agentctl_core::sim::listen().await.unwrap();
        let url = listener.base_url().to_string();
        std::mem::forget(listener.serve(router));
        url
    });
    Server {
        url,
        answer,
        runtime,
    }
}

fn providers(url: &str) -> Vec<agentctl::providers::Configured> {
    let text = format!(
        r#"[defaults]
timeout_secs = 5

[providers.se]
kind = "secure-endpoint"
api_url = "{url}"
token_url = "{url}"
client_id = "c"
api_key = "k"
xdr_client_id = "x"
xdr_client_secret = "s"

[providers.sa]
kind = "secure-access"
api_url = "{url}"
api_key = "k"
api_secret = "s"
rate_limit = "off"

[providers.tg]
kind = "taegis"
api_url = "{url}"
client_id = "c"
client_secret = "s"
tenant_id = "t"

[providers.apex]
kind = "apex-central"
url = "{url}"
application_id = "6F1A2B3C-4D5E-4F60-8A9B-0C1D2E3F4A5B"
api_key = "k"
"#
    );
    let file = agentctl::config::parse(&text).unwrap();
    ["se", "sa", "tg", "apex"]
        .iter()
        .map(|name| agentctl::providers::build(&file, name, false).unwrap())
        .collect()
}

/// What a provider made of one answer: the listing's items (at most 50) and the re-check.
fn outcome(
    s: &Server,
    c: &agentctl::providers::Configured,
) -> (Vec<Result<(), ErrorKind>>, Result<(), ErrorKind>) {
    s.runtime.block_on(async {
        let listing = tokio::time::timeout(Duration::from_secs(10), async {
            c.provider
                .list(&ListQuery::default())
                .take(50)
                .map(|r| r.map(|_| ()).map_err(|e| e.kind))
                .collect::<Vec<_>>()
                .await
        })
        .await
        .unwrap_or_default();
        let id = match c.kind {
            "secure-endpoint" => "0f5e8a3c-1111-2222-3333-444455556666",
            "secure-access" => "0123456789abcdef",
            "apex-central" => "1a2b3c4d-0000-4000-8000-123456789abc",
            _ => "asset-1",
        };
        let recheck = tokio::time::timeout(Duration::from_secs(10), c.provider.recheck(id))
            .await
            .map(|r| r.map(|_: Recheck| ()).map_err(|e| e.kind))
            .unwrap_or(Ok(()));
        (listing, recheck)
    })
}

/// Keys the vendors' answers use, so generated objects reach past the first level.
const KEYS: &[&str] = &[
    "data",
    "metadata",
    "results",
    "links",
    "next",
    "total",
    "items_per_page",
    "index",
    "connector_guid",
    "hostname",
    "last_seen",
    "internal_ips",
    "group_guid",
    "deviceId",
    "originId",
    "name",
    "lastSync",
    "osVersionName",
    "assetsV2",
    "assets",
    "pageInfo",
    "hasNextPage",
    "endCursor",
    "id",
    "hostnames",
    "lastSeenAt",
    "result_code",
    "result_description",
    "result_content",
    "entity_id",
    "host_name",
    "ip_address_list",
    "errors",
    "message",
    "error",
];

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        "[ -~]{0,12}".prop_map(Value::String),
        Just(json!("2026-10-01T12:00:00Z")),
        Just(json!("\u{1b}]52;c;x\u{7}")),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            proptest::collection::btree_map(prop::sample::select(KEYS), inner, 0..6).prop_map(
                |m| Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            ),
        ]
    })
}

/// JSON of a shape no vendor answers with: a scalar, or a non-empty array of scalars.
fn wrong_shape() -> impl Strategy<Value = Value> {
    let scalar = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(|n| json!(n)),
        "[a-z]{0,8}".prop_map(Value::String),
    ];
    prop_oneof![
        scalar.clone(),
        proptest::collection::vec(scalar, 1..4).prop_map(Value::Array),
    ]
}

fn acceptable(kind: ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::Protocol | ErrorKind::Api | ErrorKind::Input | ErrorKind::NotSupported
    )
}

#[test]
fn any_answer_gives_records_or_an_error_never_a_panic() {
    let s = server();
    let all = providers(&s.url);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(48));
    runner
        .run(
            &(
                arbitrary_json(),
                prop::sample::select(vec![200u16, 400, 404]),
            ),
            |(body, status)| {
                *s.answer.lock().unwrap() = (status, body.to_string());
                for c in &all {
                    let (listing, recheck) = outcome(&s, c);
                    for item in &listing {
                        if let Err(kind) = item {
                            prop_assert!(acceptable(*kind), "{}: {kind:?} for {body}", c.name);
                        }
                    }
                    if let Err(kind) = recheck {
                        prop_assert!(acceptable(kind), "{}: re-check {kind:?} for {body}", c.name);
                    }
                }
                // Not JSON at all.
                *s.answer.lock().unwrap() = (200, format!("<html>{body}"));
                for c in &all {
                    let (listing, _) = outcome(&s, c);
                    prop_assert!(
                        matches!(listing.first(), Some(Err(ErrorKind::Protocol))),
                        "{}: {listing:?}",
                        c.name
                    );
                }
                Ok(())
            },
        )
        .unwrap();
}

#[test]
fn wrong_shapes_are_protocol_errors() {
    let s = server();
    let all = providers(&s.url);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(32));
    runner
        .run(&wrong_shape(), |body| {
            *s.answer.lock().unwrap() = (200, body.to_string());
            for c in &all {
                let (listing, _) = outcome(&s, c);
                prop_assert!(
                    matches!(listing.first(), Some(Err(ErrorKind::Protocol))),
                    "{}: {listing:?} for {body}",
                    c.name
                );
            }
            Ok(())
        })
        .unwrap();
}

/// Without the vendor JSON (CSV, tables, the cross-console pass), Apex Central reads its list
/// agent by agent and Taegis its pages into typed assets; on any answer of the documented
/// outline, with any fields, that reading gives the same records and the same kinds of error
/// as the generic reading that keeps the vendor JSON.
#[test]
fn listings_without_vendor_json_equal_the_generic_reading() {
    let s = server();
    let all: Vec<_> = providers(&s.url)
        .into_iter()
        .filter(|c| matches!(c.kind, "apex-central" | "taegis"))
        .collect();
    let text = || {
        prop_oneof![
            4 => "[ -~]{0,12}".prop_map(Value::String),
            1 => Just(json!("00-0C-29-9B-AB-65, 10.0.0.1,203.0.113.7")),
            1 => Just(json!("2026-10-01T12:00:00Z")),
            1 => Just(Value::Null),
        ]
    };
    // Each field of the right type nine times in ten, anything once.
    let or_any = |good: BoxedStrategy<Value>| prop_oneof![9 => good, 1 => arbitrary_json()];
    let list_of = |key: &'static str| {
        proptest::collection::vec(text().prop_map(move |v| json!({ key: v })), 0..3)
            .prop_map(Value::Array)
            .boxed()
    };
    let fields: Vec<(&str, BoxedStrategy<Value>)> = vec![
        ("host_name", text().boxed()),
        ("ip_address_list", text().boxed()),
        ("mac_address_list", text().boxed()),
        ("folder_path", text().boxed()),
        ("managing_server_id", text().boxed()),
        (
            "capabilities",
            proptest::collection::vec("[a-z_]{0,20}".prop_map(Value::String), 0..4)
                .prop_map(Value::Array)
                .boxed(),
        ),
        ("hostnames", list_of("hostname")),
        ("ipAddresses", list_of("ip")),
        ("ethernetAddresses", list_of("mac")),
        (
            "endpointGroup",
            (text(), text())
                .prop_map(|(id, name)| json!({ "id": id, "name": name }))
                .boxed(),
        ),
        ("lastSeenAt", text().boxed()),
        ("biosSerial", text().boxed()),
        ("sensorVersion", text().boxed()),
        (
            "pendingUninstall",
            prop_oneof![any::<bool>().prop_map(Value::Bool), Just(Value::Null)].boxed(),
        ),
    ];
    let object = fields
        .into_iter()
        .map(|(key, good)| prop::option::of(or_any(good)).prop_map(move |v| (key, v)))
        .collect::<Vec<_>>();
    let item = prop_oneof![
        // Mostly agents with an id (so they reach the record), with any other fields.
        19 => ("[a-f0-9]{1,8}", object).prop_map(|(id, fields)| {
            let mut o = serde_json::Map::new();
            o.insert("entity_id".into(), json!(id));
            o.insert("id".into(), json!(id));
            for (k, v) in fields {
                if let Some(v) = v {
                    o.insert(k.to_string(), v);
                }
            }
            Value::Object(o)
        }),
        1 => arbitrary_json(),
    ];
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(48));
    runner
        .run(
            &(
                proptest::collection::vec(item, 0..6),
                prop::sample::select(vec![1i64, 1, 1, -6]),
            ),
            |(items, code)| {
                for c in &all {
                    let body = match c.kind {
                        "apex-central" => json!({
                            "result_code": code,
                            "result_description": "x",
                            "result_content": items,
                        }),
                        _ => json!({ "data": { "assetsV2": {
                            "totalCount": items.len(),
                            "assets": items,
                            "pageInfo": { "hasNextPage": false, "endCursor": null },
                        } } }),
                    };
                    *s.answer.lock().unwrap() = (200, body.to_string());
                    let read = |keep_raw: bool| {
                        s.runtime.block_on(async {
                            c.provider
                                .list(&ListQuery {
                                    keep_raw,
                                    ..ListQuery::default()
                                })
                                .map(|r| {
                                    r.map(|mut r| {
                                        r.raw = Value::Null;
                                        r
                                    })
                                    .map_err(|e| e.kind)
                                })
                                .collect::<Vec<_>>()
                                .await
                        })
                    };
                    let (generic, lean) = (read(true), read(false));
                    prop_assert_eq!(&lean, &generic, "{} for {}", c.name, body);
                }
                Ok(())
            },
        )
        .unwrap();
}
