//! One conformance suite for the provider contract (feature `conformance`), run by every
//! provider crate against its simulator (`providers/<vendor>/tests/conformance.rs`).
//!
//! A kind implements [`Harness`] — start its simulator with a fleet larger than one page,
//! build the provider, and give the suite a few ways to change the simulator behind the
//! provider's back — and calls [`run`]. Every check starts a fresh simulator, so checks that
//! change state do not see each other. A new kind gets the whole suite from its adapter.
//!
//! What the suite holds every provider to:
//! - paging returns every agent exactly once;
//! - the stale rule at the boundary (server-side hints never drop an agent the client-side
//!   rule keeps), or a `NotSupported` reason when the vendor has no last-seen time;
//! - re-check reports an agent that is gone as gone and one that checked in again with its
//!   new last-seen time;
//! - every supported action, after `prepare`, is accepted with a request id (the journal
//!   records it) and is idempotent: the same request again is accepted or skipped, never
//!   failed; `act` and `act_batch` agree, and `batch_size` is at least 1;
//! - `effective_action` maps only to something the provider supports;
//! - every unsupported operation answers `NotSupported` with a reason, and so do `prepare`,
//!   `act` and the client calls for it.

use std::collections::{HashMap, HashSet};
use std::future::Future;

use async_trait::async_trait;
use futures::TryStreamExt;
use jiff::{SignedDuration, Timestamp};

use crate::time::{is_stale, stale_cutoff};
use crate::{
    Action, ActionOutcome, AgentRecord, AgentRef, ErrorKind, ListQuery, Operation, Provider,
    ProviderError, Recheck, RelocateTarget,
};

/// Every operation of the contract, in a fixed order.
pub const OPERATIONS: [Operation; 7] = [
    Operation::List,
    Operation::Stale,
    Operation::Uninstall,
    Operation::Remove,
    Operation::Restore,
    Operation::Relocate,
    Operation::Clients,
];

/// A running simulator with its provider: what the suite needs from a kind.
#[async_trait]
pub trait Harness: Send + Sync {
    /// The provider under test, configured against the simulator.
    fn provider(&self) -> &dyn Provider;

    /// Every agent id the simulator holds now (the ground truth the listing must match).
    fn agent_ids(&self) -> Vec<String>;

    /// The instant the simulator's fleet is relative to.
    fn now(&self) -> Timestamp;

    /// Set an agent's last-seen time in the simulator (it checked in, or went silent), or
    /// take it away (`None`: the console shows none). `false` when the vendor reports no
    /// last-seen time.
    fn set_last_seen(&self, agent_id: &str, when: Option<Timestamp>) -> bool;

    /// Delete an agent in the simulator directly (decommissioned in the console).
    fn forget(&self, agent_id: &str);

    /// Whether the simulator lets this agent take `action` (e.g. a console that lists what
    /// each agent can do); the suite acts only on agents that can.
    fn can_act(&self, _agent_id: &str, _action: &Action) -> bool {
        true
    }

    /// A relocate destination the simulator knows, when the kind supports relocate.
    fn relocate_target(&self) -> Option<RelocateTarget> {
        None
    }

    /// Stop the simulator.
    async fn stop(self)
    where
        Self: Sized;
}

fn agent_ref(provider: &dyn Provider, r: &AgentRecord) -> AgentRef {
    AgentRef {
        provider: provider.name().to_string(),
        ..r.to_ref()
    }
}

fn plain_ref(provider: &dyn Provider, id: &str) -> AgentRef {
    AgentRef {
        provider: provider.name().to_string(),
        agent_id: id.to_string(),
        hostname: None,
        last_seen: None,
    }
}

async fn list_all(p: &dyn Provider, q: &ListQuery) -> Vec<AgentRecord> {
    match p.list(q).try_collect().await {
        Ok(v) => v,
        Err(e) => panic!("{}: listing failed: {e}", p.kind()),
    }
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// Run every check, each against a fresh harness from `start`.
pub async fn run<H, F, Fut>(mut start: F)
where
    H: Harness,
    F: FnMut() -> Fut,
    Fut: Future<Output = H>,
{
    paging_returns_every_agent_exactly_once(start().await).await;
    stale_rule_at_the_boundary(start().await).await;
    recheck_reports_gone_and_came_back(start().await).await;
    let h = start().await;
    let target = h.relocate_target();
    h.stop().await;
    for action in candidate_actions(&target) {
        supported_action_is_journaled_and_idempotent(start().await, action).await;
    }
    unsupported_operations_say_why(start().await).await;
}

fn candidate_actions(target: &Option<RelocateTarget>) -> Vec<Action> {
    let mut v = vec![Action::Uninstall, Action::Remove, Action::Restore];
    v.push(Action::Relocate(target.clone().unwrap_or(RelocateTarget {
        to: "conformance-destination".into(),
        resolved_id: None,
        folder: None,
        allow_multiple: false,
    })));
    v
}

/// Paging returns every agent exactly once.
pub async fn paging_returns_every_agent_exactly_once<H: Harness>(h: H) {
    let p = h.provider();
    assert!(p.supports(Operation::List).is_ok(), "{}: list", p.kind());
    let records = list_all(p, &ListQuery::default()).await;
    let ids: Vec<String> = records.iter().map(|r| r.agent_id.clone()).collect();
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(
        unique.len(),
        ids.len(),
        "{}: an agent was listed twice",
        p.kind()
    );
    assert_eq!(
        sorted(ids),
        sorted(h.agent_ids()),
        "{}: the listing is not the simulator's fleet",
        p.kind()
    );
    assert!(
        records
            .iter()
            .all(|r| r.provider == p.name() && r.kind == p.kind()),
        "{}: records name their provider and kind",
        p.kind()
    );
    h.stop().await;
}

/// An agent last seen exactly at the cutoff is not stale, one second earlier it is; a
/// listing with the stale hint returns at least what the client-side rule keeps, and the
/// agent with no last-seen time when `include_unknown` asks for it.
pub async fn stale_rule_at_the_boundary<H: Harness>(h: H) {
    let p = h.provider();
    if let Err(ns) = p.supports(Operation::Stale) {
        assert!(!ns.reason.trim().is_empty(), "{}: stale reason", p.kind());
        h.stop().await;
        return;
    }
    let ids = sorted(h.agent_ids());
    assert!(ids.len() >= 4, "{}: the fleet needs 4 agents", p.kind());
    let days = 30;
    let now = h.now();
    let cutoff = stale_cutoff(now, days);
    let at = &ids[0];
    let before = &ids[1];
    let after = &ids[2];
    assert!(
        h.set_last_seen(at, Some(cutoff)),
        "{}: stale needs last-seen",
        p.kind()
    );
    h.set_last_seen(before, Some(cutoff - SignedDuration::from_secs(1)));
    h.set_last_seen(after, Some(cutoff + SignedDuration::from_secs(1)));
    let unknown = &ids[3];
    h.set_last_seen(unknown, None);

    let everything = list_all(p, &ListQuery::default()).await;
    let want: Vec<String> = sorted(
        everything
            .iter()
            .filter(|r| is_stale(r.last_seen, cutoff))
            .map(|r| r.agent_id.clone())
            .collect(),
    );
    assert!(want.contains(before), "{}: cutoff − 1 s is stale", p.kind());
    assert!(
        !want.contains(at),
        "{}: exactly the cutoff is not stale",
        p.kind()
    );
    assert!(
        !want.contains(after),
        "{}: cutoff + 1 s is not stale",
        p.kind()
    );
    for include_unknown in [false, true] {
        let q = ListQuery {
            last_seen_before: Some(cutoff),
            include_unknown,
            ..ListQuery::default()
        };
        let listed = list_all(p, &q).await;
        // A provider may leave out what the hint does not want, never what it does.
        if include_unknown {
            assert!(
                listed.iter().any(|r| &r.agent_id == unknown),
                "{}: the hint with include_unknown lost the agent with no last-seen time",
                p.kind()
            );
        }
        let got: Vec<String> = sorted(
            listed
                .iter()
                .filter(|r| is_stale(r.last_seen, cutoff))
                .map(|r| r.agent_id.clone())
                .collect(),
        );
        assert_eq!(
            got,
            want,
            "{}: the stale hint changed the result (include_unknown {include_unknown})",
            p.kind()
        );
    }
    h.stop().await;
}

/// Re-check: present with the current last-seen time, newer after a check-in, gone after
/// the agent was deleted.
pub async fn recheck_reports_gone_and_came_back<H: Harness>(h: H) {
    let p = h.provider();
    let ids = sorted(h.agent_ids());
    let id = &ids[ids.len() / 2];
    match p.recheck(id).await {
        Ok(Recheck::Present(r)) => assert_eq!(&r.agent_id, id, "{}", p.kind()),
        other => panic!("{}: re-check of a registered agent: {other:?}", p.kind()),
    }
    let seen = h.now() + SignedDuration::from_secs(61);
    if h.set_last_seen(id, Some(seen)) {
        match p.recheck(id).await {
            Ok(Recheck::Present(r)) => assert_eq!(
                r.last_seen.map(|t| t.as_second()),
                Some(seen.as_second()),
                "{}: re-check shows the new last-seen time",
                p.kind()
            ),
            other => panic!("{}: re-check after a check-in: {other:?}", p.kind()),
        }
    }
    h.forget(id);
    match p.recheck(id).await {
        Ok(Recheck::Gone) => {}
        other => panic!("{}: re-check of a deleted agent: {other:?}", p.kind()),
    }
    h.stop().await;
}

fn expect_accepted(kind: &str, what: &str, r: &Result<ActionOutcome, ProviderError>) -> String {
    match r {
        Ok(ActionOutcome::Requested { request_id, .. }) => {
            let id = request_id
                .clone()
                .unwrap_or_else(|| panic!("{kind}: {what} was accepted without a request id"));
            assert!(!id.trim().is_empty(), "{kind}: {what}: empty request id");
            id
        }
        other => panic!("{kind}: {what}: {other:?}"),
    }
}

fn expect_not_failed(kind: &str, what: &str, r: &Result<ActionOutcome, ProviderError>) {
    assert!(
        matches!(
            r,
            Ok(ActionOutcome::Requested { .. } | ActionOutcome::Skipped { .. })
        ),
        "{kind}: {what} again must be accepted or skipped, not failed: {r:?}"
    );
}

/// A supported action is accepted with a request id and is idempotent on retry; an
/// unsupported one is refused by `prepare` and `act` with `NotSupported`.
pub async fn supported_action_is_journaled_and_idempotent<H: Harness>(h: H, action: Action) {
    let p = h.provider();
    let kind = p.kind();
    let what = action.name();
    let ids: Vec<String> = sorted(h.agent_ids())
        .into_iter()
        .filter(|id| h.can_act(id, &action) && h.can_act(id, &Action::Remove))
        .collect();
    assert!(ids.len() >= 3, "{kind}: 3 agents that can {what}");
    if let Err(ns) = p.supports(action.operation()) {
        assert!(!ns.reason.trim().is_empty(), "{kind}: {what}: empty reason");
        let e = p
            .prepare(&action)
            .await
            .expect_err("prepare of an unsupported action");
        assert_eq!(
            e.kind,
            ErrorKind::NotSupported,
            "{kind}: prepare {what}: {e}"
        );
        let e = p
            .act(&action, &plain_ref(p, &ids[0]))
            .await
            .expect_err("act of an unsupported action");
        assert_eq!(e.kind, ErrorKind::NotSupported, "{kind}: act {what}: {e}");
        h.stop().await;
        return;
    }
    let prepared = match p.prepare(&action).await {
        Ok(a) => a,
        Err(e) => panic!("{kind}: prepare {what}: {e}"),
    };
    let effective = p.effective_action(&action);
    assert!(
        p.supports(effective.operation()).is_ok(),
        "{kind}: {what} maps to unsupported {}",
        effective.name()
    );
    assert!(p.batch_size(&prepared) >= 1, "{kind}: batch size of {what}");
    let records = list_all(p, &ListQuery::default()).await;
    let by_id: HashMap<&str, &AgentRecord> =
        records.iter().map(|r| (r.agent_id.as_str(), r)).collect();
    let target = |id: &str| {
        by_id
            .get(id)
            .map_or_else(|| plain_ref(p, id), |r| agent_ref(p, r))
    };
    let one = target(&ids[0]);
    let pair = [target(&ids[1]), target(&ids[2])];
    let call = p.describe(&prepared, &one);
    assert!(
        call.contains(&one.agent_id),
        "{kind}: describe names the agent: {call}"
    );
    // Restore needs something removed first.
    if matches!(prepared, Action::Restore) {
        let removed = p
            .act_batch(
                &Action::Remove,
                &[one.clone(), pair[0].clone(), pair[1].clone()],
            )
            .await;
        for r in &removed {
            expect_accepted(kind, "remove before restore", r);
        }
    }
    let first = p.act(&prepared, &one).await;
    expect_accepted(kind, what, &first);
    let again = p.act(&prepared, &one).await;
    expect_not_failed(kind, what, &again);
    let batch = p.act_batch(&prepared, &pair).await;
    assert_eq!(batch.len(), 2, "{kind}: one result per agent");
    for r in &batch {
        expect_accepted(kind, &format!("{what} (batch)"), r);
    }
    for r in p.act_batch(&prepared, &pair).await {
        expect_not_failed(kind, &format!("{what} (batch)"), &r);
    }
    h.stop().await;
}

/// Every unsupported operation answers `NotSupported` with a reason, including the client
/// calls and extra listings a kind does not have.
pub async fn unsupported_operations_say_why<H: Harness>(h: H) {
    let p = h.provider();
    let kind = p.kind();
    for op in OPERATIONS {
        if let Err(ns) = p.supports(op) {
            assert!(!ns.reason.trim().is_empty(), "{kind}: {op:?} has no reason");
            assert_eq!(ns.provider, p.name(), "{kind}: {op:?} names the provider");
            assert_eq!(ns.operation, op.name(), "{kind}: {op:?}");
        }
    }
    if p.supports(Operation::Clients).is_err() {
        let e = p
            .list_clients()
            .await
            .expect_err("clients are not supported");
        assert_eq!(e.kind, ErrorKind::NotSupported, "{kind}: list_clients: {e}");
        assert!(!e.message.trim().is_empty());
    }
    let e = p
        .listing("no-such-listing")
        .await
        .expect_err("an unknown listing");
    assert_eq!(e.kind, ErrorKind::NotSupported, "{kind}: listing: {e}");
    h.stop().await;
}

// ----- Shared checks a kind's own simulator tests call -----------------------------------

/// The stale hint at the resolution of the vendor's wire format: `at` was last seen exactly
/// at `cutoff` (not stale), `before` one tick earlier (stale). The hinted listing keeps what
/// the client-side rule keeps, in fewer listing requests (`requests` counts them), and with
/// unknown last-seen wanted no hint is sent, so every agent comes back. Returns the full
/// listing, the hinted one and the one with unknown last-seen wanted, for the kind's own
/// checks.
pub async fn stale_hint_matches_the_client_side_rule(
    p: &dyn Provider,
    cutoff: Timestamp,
    at: &str,
    before: &str,
    requests: impl Fn() -> u64,
) -> (Vec<AgentRecord>, Vec<AgentRecord>, Vec<AgentRecord>) {
    let stale_ids = |records: &[AgentRecord]| -> Vec<String> {
        records
            .iter()
            .filter(|r| is_stale(r.last_seen, cutoff))
            .map(|r| r.agent_id.clone())
            .collect()
    };
    let all = list_all(p, &ListQuery::default()).await;
    let full = requests();
    let client_side = stale_ids(&all);
    let q = ListQuery {
        last_seen_before: Some(cutoff),
        ..ListQuery::default()
    };
    let fetched = list_all(p, &q).await;
    let hinted = stale_ids(&fetched);
    assert_eq!(
        hinted,
        client_side,
        "{}: the hint changed the result",
        p.kind()
    );
    assert!(
        !hinted.iter().any(|id| id == at),
        "{}: exactly the cutoff is not stale",
        p.kind()
    );
    assert!(
        hinted.iter().any(|id| id == before),
        "{}: one tick before the cutoff is stale",
        p.kind()
    );
    assert!(
        requests() - full < full,
        "{}: the hint fetched fewer pages",
        p.kind()
    );
    let q = ListQuery {
        include_unknown: true,
        ..q
    };
    let with_unknown = list_all(p, &q).await;
    assert_eq!(
        with_unknown.len(),
        all.len(),
        "{}: with unknown last-seen wanted every agent comes back",
        p.kind()
    );
    (all, fetched, with_unknown)
}

/// `create_client` against a simulator that answers the create in an undocumented shape:
/// the secret the vendor issued (`stored_secret`, read from the simulator afterwards) still
/// comes back, with a problem that names what could not be read and never holds the secret,
/// nor does the client's raw answer. Returns the result and its problem for the kind's own
/// checks.
pub async fn issued_secret_survives_an_odd_answer(
    p: &dyn Provider,
    new: &crate::NewClient,
    stored_secret: impl Fn() -> String,
) -> (crate::NewClientSecret, String) {
    use secrecy::ExposeSecret;
    let created = match p.create_client(new).await {
        Ok(c) => c,
        Err(e) => panic!("{}: create_client failed: {e}", p.kind()),
    };
    let secret = created.client_secret.expose_secret().to_string();
    assert_eq!(secret, stored_secret(), "{}: the issued secret", p.kind());
    let problem = created
        .problem
        .clone()
        .unwrap_or_else(|| panic!("{}: a problem is reported", p.kind()));
    assert!(
        !problem.contains(&secret),
        "{}: secret in the problem",
        p.kind()
    );
    assert!(
        !created.client.raw.to_string().contains(&secret),
        "{}: secret in the raw answer",
        p.kind()
    );
    (created, problem)
}
