//! The simulated GraphQL schema, written from the vendor file: the types and field names
//! agentctl touches, with the deprecated aliases the real schema still carries, so a document
//! that asks for a field or argument that does not exist is rejected the way the service
//! rejects it (async-graphql validation).

use std::sync::Arc;

use async_graphql::{
    Context, EmptySubscription, Enum, ErrorExtensions, ID, InputObject, InputValueError,
    InputValueResult, Object, Scalar, ScalarType, Schema, SimpleObject, Value,
};
use base64::Engine;
use jiff::Timestamp;

use super::Inner;
use super::fleet::{SimAsset, SimClient, SimGroup, SimJob, UninstallRequest, new_client};
use agentctl_taegis::unconfirmed;

pub type TaegisSchema = Schema<Query, Mutation, EmptySubscription>;

/// The endpoint-management service's schema, served on its own gateway `/agent-graphql`
/// (secureworks/taegis-sdk-python `services/endpoint_management_service/__init__.py`).
pub type AgentSchema = Schema<AgentQuery, async_graphql::EmptyMutation, EmptySubscription>;

pub fn build(inner: Option<Arc<Inner>>) -> TaegisSchema {
    let builder = Schema::build(Query, Mutation, EmptySubscription);
    match inner {
        Some(i) => builder.data(i).finish(),
        None => builder.finish(),
    }
}

pub fn build_agent(inner: Option<Arc<Inner>>) -> AgentSchema {
    let builder = Schema::build(AgentQuery, async_graphql::EmptyMutation, EmptySubscription);
    match inner {
        Some(i) => builder.data(i).finish(),
        None => builder.finish(),
    }
}

/// The error of every resolver of a schema built without simulator state (validation only).
pub const NO_STATE: &str = "no simulator state attached";

fn sim<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a Arc<Inner>> {
    ctx.data::<Arc<Inner>>()
        .map_err(|_| async_graphql::Error::new(NO_STATE))
}

fn coded(message: impl Into<String>, code: &'static str) -> async_graphql::Error {
    async_graphql::Error::new(message).extend_with(|_, e| e.set("code", code))
}

/// The `Time` scalar, RFC 3339 on the wire (unconfirmed: [`unconfirmed::TIME_IS_RFC3339`]).
#[derive(Debug, Clone, Copy)]
pub struct Time(pub Timestamp);

#[Scalar(name = "Time")]
impl ScalarType for Time {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => s.parse::<Timestamp>().map(Time).map_err(|_| {
                InputValueError::custom(format!("invalid Time {s:?}: expected RFC 3339"))
            }),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.to_string())
    }
}

// ----- assets ---------------------------------------------------------------------------

/// The variant names give the schema's value names (`ENDPOINT_TAEGIS`, …).
#[allow(clippy::enum_variant_names)]
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum EndpointTypeV2 {
    EndpointRedcloak,
    EndpointTaegis,
    EndpointCrowdStrike,
    EndpointCarbonBlack,
    EndpointCarbonBlackPsc,
    EndpointMicrosoftAtp,
    EndpointSentinelone,
    EndpointHarfangLab,
    EndpointSophosCixa,
    EndpointSophos,
}

impl EndpointTypeV2 {
    fn wire(self) -> &'static str {
        match self {
            Self::EndpointRedcloak => "ENDPOINT_REDCLOAK",
            Self::EndpointTaegis => "ENDPOINT_TAEGIS",
            Self::EndpointCrowdStrike => "ENDPOINT_CROWD_STRIKE",
            Self::EndpointCarbonBlack => "ENDPOINT_CARBON_BLACK",
            Self::EndpointCarbonBlackPsc => "ENDPOINT_CARBON_BLACK_PSC",
            Self::EndpointMicrosoftAtp => "ENDPOINT_MICROSOFT_ATP",
            Self::EndpointSentinelone => "ENDPOINT_SENTINELONE",
            Self::EndpointHarfangLab => "ENDPOINT_HARFANG_LAB",
            Self::EndpointSophosCixa => "ENDPOINT_SOPHOS_CIXA",
            Self::EndpointSophos => "ENDPOINT_SOPHOS",
        }
    }
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(rename_items = "snake_case")]
pub enum AssetSearchOrderByInputV2 {
    LastSeenAsc,
    LastSeenDesc,
    HostnameAsc,
    HostnameDesc,
    SensorVersionAsc,
    SensorVersionDesc,
    CreatedAtAsc,
    CreatedAtDesc,
}

#[derive(InputObject, Default)]
pub struct AssetFilter {
    pub endpoint_types: Option<Vec<EndpointTypeV2>>,
    #[graphql(name = "where")]
    pub where_: Option<AssetWhereInputV2>,
}

#[derive(InputObject, Default)]
pub struct AssetWhereInputV2 {
    pub id: Option<ID>,
    pub host_id: Option<String>,
    #[graphql(name = "hostId_contains")]
    pub host_id_contains: Option<String>,
    pub hostname: Option<String>,
    #[graphql(name = "hostname_contains")]
    pub hostname_contains: Option<String>,
    pub ip_address: Option<String>,
    pub sensor_version: Option<String>,
    pub os_family: Option<String>,
    pub last_seen_at: Option<Time>,
    #[graphql(name = "lastSeenAt_lt")]
    pub last_seen_at_lt: Option<Time>,
    #[graphql(name = "lastSeenAt_lte")]
    pub last_seen_at_lte: Option<Time>,
    #[graphql(name = "lastSeenAt_gt")]
    pub last_seen_at_gt: Option<Time>,
    #[graphql(name = "lastSeenAt_gte")]
    pub last_seen_at_gte: Option<Time>,
    pub pending_uninstall: Option<bool>,
    #[graphql(deprecation = "No longer supported")]
    pub connection_status: Option<String>,
    pub and: Option<Vec<AssetWhereInputV2>>,
    pub or: Option<Vec<AssetWhereInputV2>>,
    pub not: Option<Box<AssetWhereInputV2>>,
}

impl AssetWhereInputV2 {
    /// Does `a` match? Every given condition must hold (and with `and`, any of `or`, not `not`).
    /// A null `lastSeenAt` matches no time comparison.
    pub fn matches(&self, a: &SimAsset) -> bool {
        let seen = a.last_seen_at;
        let cmp = |bound: &Option<Time>, f: fn(Timestamp, Timestamp) -> bool| {
            bound.is_none_or(|b| seen.is_some_and(|s| f(s, b.0)))
        };
        self.id.as_ref().is_none_or(|id| a.id == id.as_str())
            && self.host_id.as_ref().is_none_or(|h| &a.host_id == h)
            && self
                .host_id_contains
                .as_ref()
                .is_none_or(|h| a.host_id.contains(h.as_str()))
            // Case-sensitive, the conservative reading of an undocumented filter.
            && self
                .hostname
                .as_ref()
                .is_none_or(|h| a.hostnames.iter().any(|n| n == h))
            && self
                .hostname_contains
                .as_ref()
                .is_none_or(|h| a.hostnames.iter().any(|n| n.contains(h.as_str())))
            && self
                .ip_address
                .as_ref()
                .is_none_or(|ip| a.ip_addresses.contains(ip))
            && self.sensor_version.as_ref().is_none_or(|v| &a.sensor_version == v)
            && self.os_family.as_ref().is_none_or(|f| &a.os_family == f)
            && cmp(&self.last_seen_at, |s, b| s == b)
            && cmp(&self.last_seen_at_lt, |s, b| s < b)
            && cmp(&self.last_seen_at_lte, |s, b| s <= b)
            && cmp(&self.last_seen_at_gt, |s, b| s > b)
            && cmp(&self.last_seen_at_gte, |s, b| s >= b)
            && self.pending_uninstall.is_none_or(|p| a.pending_uninstall == p)
            && self.and.as_ref().is_none_or(|all| all.iter().all(|w| w.matches(a)))
            && self.or.as_ref().is_none_or(|any| any.iter().any(|w| w.matches(a)))
            && self.not.as_ref().is_none_or(|n| !n.matches(a))
    }
}

impl AssetFilter {
    fn matches(&self, a: &SimAsset) -> bool {
        self.endpoint_types
            .as_ref()
            .is_none_or(|t| t.iter().any(|t| t.wire() == a.endpoint_type))
            && self.where_.as_ref().is_none_or(|w| w.matches(a))
    }
}

#[derive(SimpleObject)]
pub struct Hostname {
    pub id: ID,
    pub host_id: String,
    pub hostname: String,
}

/// `EthernetAddressV2` (secureworks/taegis-sdk-python
/// `taegis_sdk_python/services/assets2/types.py`: `id createdAt updatedAt hostId mac`).
#[derive(SimpleObject)]
pub struct EthernetAddress {
    pub id: ID,
    pub host_id: String,
    pub mac: String,
}

#[derive(SimpleObject)]
pub struct IpAddress {
    pub id: ID,
    pub ip: String,
}

/// `EndpointGroupV2 { id name }` (secureworks/taegis-sdk-python `services/assets2/types.py`).
#[derive(SimpleObject)]
#[graphql(name = "EndpointGroupV2")]
pub struct EndpointGroup {
    pub id: ID,
    pub name: String,
}

#[derive(SimpleObject)]
pub struct ConnectionDetails {
    pub connection_status: String,
    pub last_seen_at: Option<Time>,
}

pub struct AssetV2(pub SimAsset);

#[Object]
impl AssetV2 {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    async fn host_id(&self) -> &str {
        &self.0.host_id
    }
    async fn sensor_id(&self) -> &str {
        &self.0.sensor_id
    }
    async fn tenant_id(&self) -> &str {
        &self.0.tenant_id
    }
    async fn created_at(&self) -> Time {
        Time(self.0.created_at)
    }
    async fn updated_at(&self) -> Time {
        Time(self.0.updated_at)
    }
    async fn deleted_at(&self) -> Option<Time> {
        None
    }
    async fn last_seen_at(&self) -> Option<Time> {
        self.0.last_seen_at.map(Time)
    }
    async fn sensor_version(&self) -> &str {
        &self.0.sensor_version
    }
    async fn endpoint_type(&self) -> &str {
        &self.0.endpoint_type
    }
    async fn architecture(&self) -> &str {
        &self.0.architecture
    }
    async fn os_family(&self) -> &str {
        &self.0.os_family
    }
    async fn os_version(&self) -> &str {
        &self.0.os_version
    }
    async fn os_distributor(&self) -> &str {
        &self.0.os_distributor
    }
    async fn isolation_status(&self) -> &str {
        "NOT_ISOLATED"
    }
    async fn un_installable(&self) -> bool {
        true
    }
    async fn uninstall(&self) -> bool {
        self.0.pending_uninstall
    }
    async fn pending_uninstall(&self) -> bool {
        self.0.pending_uninstall
    }
    async fn vendor_provided_health(&self) -> &str {
        if self.0.last_seen_at.is_some() {
            "HEALTHY"
        } else {
            "UNKNOWN"
        }
    }
    async fn archived_status(&self) -> &str {
        "NOT_ARCHIVED"
    }
    async fn hostnames(&self) -> Vec<Hostname> {
        self.0
            .hostnames
            .iter()
            .enumerate()
            .map(|(i, h)| Hostname {
                id: ID(format!("{}-h{i}", self.0.id)),
                host_id: self.0.host_id.clone(),
                hostname: h.clone(),
            })
            .collect()
    }
    async fn ip_addresses(&self) -> Vec<IpAddress> {
        self.0
            .ip_addresses
            .iter()
            .enumerate()
            .map(|(i, ip)| IpAddress {
                id: ID(format!("{}-ip{i}", self.0.id)),
                ip: ip.clone(),
            })
            .collect()
    }
    async fn ethernet_addresses(&self) -> Vec<EthernetAddress> {
        self.0
            .macs
            .iter()
            .enumerate()
            .map(|(i, mac)| EthernetAddress {
                id: ID(format!("{}-mac{i}", self.0.id)),
                host_id: self.0.host_id.clone(),
                mac: mac.clone(),
            })
            .collect()
    }
    /// `biosSerial` (AssetV2 scalar in the vendor SDK's types.py).
    async fn bios_serial(&self) -> Option<&str> {
        self.0.bios_serial.as_deref()
    }
    async fn endpoint_group(&self) -> Option<EndpointGroup> {
        self.0
            .endpoint_group
            .as_ref()
            .map(|(id, name)| EndpointGroup {
                id: ID(id.clone()),
                name: name.clone(),
            })
    }
    async fn connection_details(&self) -> ConnectionDetails {
        ConnectionDetails {
            connection_status: self.connection().to_string(),
            last_seen_at: self.0.last_seen_at.map(Time),
        }
    }
    #[graphql(deprecation = "Use connectionDetails.connectionStatus")]
    async fn connection_status(&self) -> &str {
        self.connection()
    }
    #[graphql(deprecation = "Use vendorProvidedHealth")]
    async fn status(&self) -> &str {
        "Active"
    }
}

impl AssetV2 {
    fn connection(&self) -> &'static str {
        if self.0.last_seen_at.is_some() {
            "Connected"
        } else {
            "Disconnected"
        }
    }
}

#[derive(SimpleObject)]
pub struct PageInfoV2 {
    pub end_cursor: Option<String>,
    pub start_cursor: Option<String>,
    pub has_next_page: bool,
    pub has_previous_page: bool,
}

#[derive(SimpleObject)]
pub struct AssetsV2 {
    pub total_count: i32,
    pub assets: Vec<AssetV2>,
    pub page_info: PageInfoV2,
}

/// Opaque cursors over the asset order.
pub fn cursor(seq: u64) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("asset:{seq}"))
}

fn decode_cursor(text: &str) -> Option<u64> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(text)
        .ok()?;
    String::from_utf8(raw)
        .ok()?
        .strip_prefix("asset:")?
        .parse()
        .ok()
}

// ----- bulk jobs (secureworks/taegis-sdk-python services/assets2/{mutations,queries,types}.py)

/// `BulkOpStatusV2`.
#[allow(clippy::enum_variant_names)]
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(rename_items = "SCREAMING_SNAKE_CASE")]
pub enum BulkOpStatusV2 {
    TaskStatePending,
    TaskStateFailed,
    TaskStateCompleted,
    TaskStateInProgress,
}

/// `BulkOpPayloadV2 { id status }`: the answer of `deleteAssetsV2`, `restoreAssetsV2`,
/// `assignBulkAssetsToGroup`.
#[derive(SimpleObject)]
pub struct BulkOpPayloadV2 {
    pub id: Option<ID>,
    pub status: Option<BulkOpStatusV2>,
}

/// `TaskInfoMetadata { numEndpoints numSucceeded numFailed syncSucceeded }`.
#[derive(SimpleObject)]
pub struct TaskInfoMetadata {
    pub num_endpoints: Option<i32>,
    pub num_succeeded: Option<i32>,
    pub num_failed: Option<i32>,
    pub sync_succeeded: Option<bool>,
}

/// `TaskInfoPayload { id status metadata }`: the answer of the `…Status` queries.
#[derive(SimpleObject)]
pub struct TaskInfoPayload {
    pub id: Option<ID>,
    pub status: Option<BulkOpStatusV2>,
    pub metadata: Option<TaskInfoMetadata>,
}

/// `DeleteAssetsInputV2 { filter: AssetFilter }`.
#[derive(InputObject)]
pub struct DeleteAssetsInputV2 {
    pub filter: Option<AssetFilter>,
}

/// `RestoreAssetsInputV2 { filter: AssetFilter }`.
#[derive(InputObject)]
pub struct RestoreAssetsInputV2 {
    pub filter: Option<AssetFilter>,
}

/// `AssignBulkAssetsToGroupInput { groupId filter }`.
#[derive(InputObject)]
pub struct AssignBulkAssetsToGroupInput {
    pub group_id: Option<String>,
    pub filter: Option<AssetFilter>,
}

fn job_status(job: &SimJob) -> BulkOpStatusV2 {
    match job.result {
        None if job.polls <= 1 => BulkOpStatusV2::TaskStatePending,
        None => BulkOpStatusV2::TaskStateInProgress,
        Some((ok, failed)) if ok == 0 && failed > 0 => BulkOpStatusV2::TaskStateFailed,
        Some(_) => BulkOpStatusV2::TaskStateCompleted,
    }
}

fn task_info(job: &SimJob) -> TaskInfoPayload {
    let (ok, failed) = job.result.unwrap_or((0, 0));
    TaskInfoPayload {
        id: Some(ID(job.id.clone())),
        status: Some(job_status(job)),
        metadata: Some(TaskInfoMetadata {
            num_endpoints: Some(job.asset_ids.len() as i32),
            num_succeeded: Some(ok as i32),
            num_failed: Some(failed as i32),
            sync_succeeded: job.result.map(|_| true),
        }),
    }
}

/// A new job over the assets `filter` selects among registered (or, for restore, deleted)
/// assets. The effect is applied when the job completes.
fn start_job(
    sim: &Inner,
    kind: &'static str,
    filter: Option<AssetFilter>,
    group_id: Option<String>,
) -> async_graphql::Result<BulkOpPayloadV2> {
    let Some(filter) = filter else {
        return Err(coded(
            "input.filter is required",
            unconfirmed::CODE_BAD_USER_INPUT,
        ));
    };
    let mut state = sim.state.lock().unwrap();
    if let Some(g) = &group_id
        && !state.groups.iter().any(|x| &x.id == g)
    {
        return Err(coded(
            format!("endpoint group {g} not found"),
            unconfirmed::CODE_NOT_FOUND,
        ));
    }
    let pool = if kind == "restore" {
        &state.deleted
    } else {
        &state.assets
    };
    let asset_ids: Vec<String> = pool
        .iter()
        .filter(|a| filter.matches(a))
        .map(|a| a.id.clone())
        .collect();
    let id = {
        let mut rng = sim.rng.lock().unwrap();
        super::fleet::uuid(&mut rng)
    };
    state.jobs.push(SimJob {
        id: id.clone(),
        kind: kind.to_string(),
        asset_ids,
        group_id,
        polls: 0,
        result: None,
    });
    Ok(BulkOpPayloadV2 {
        id: Some(ID(id)),
        status: Some(BulkOpStatusV2::TaskStatePending),
    })
}

/// One status poll of job `id` (of `kind`): it completes on poll number `cfg.job_polls`.
fn poll_job(
    sim: &Inner,
    kind: &str,
    id: Option<ID>,
) -> async_graphql::Result<Option<TaskInfoPayload>> {
    let Some(id) = id else {
        return Err(coded("id is required", unconfirmed::CODE_BAD_USER_INPUT));
    };
    let mut state = sim.state.lock().unwrap();
    let Some(i) = state
        .jobs
        .iter()
        .position(|j| j.id == id.as_str() && j.kind == kind)
    else {
        return Ok(None);
    };
    state.jobs[i].polls = state.jobs[i].polls.saturating_add(1);
    if state.jobs[i].result.is_none() && state.jobs[i].polls >= sim.cfg.job_polls {
        let job = state.jobs[i].clone();
        let (mut ok, mut failed) = (0u32, 0u32);
        for asset in &job.asset_ids {
            if sim.cfg.job_fail_assets.iter().any(|f| f == asset) {
                failed += 1;
                continue;
            }
            let applied = match kind {
                "delete" => match state.assets.iter().position(|a| &a.id == asset) {
                    Some(p) => {
                        let a = state.assets.remove(p);
                        state.deleted.push(a);
                        true
                    }
                    None => false,
                },
                "restore" => match state.deleted.iter().position(|a| &a.id == asset) {
                    Some(p) => {
                        let a = state.deleted.remove(p);
                        // Back in its place in cursor order.
                        let at = state.assets.partition_point(|x| x.seq < a.seq);
                        state.assets.insert(at, a);
                        true
                    }
                    None => false,
                },
                _ => {
                    let group = job
                        .group_id
                        .as_ref()
                        .and_then(|g| state.groups.iter().find(|x| &x.id == g))
                        .map(|g| (g.id.clone(), g.name.clone()));
                    match (state.assets.iter_mut().find(|a| &a.id == asset), group) {
                        (Some(a), Some(g)) => {
                            a.endpoint_group = Some(g);
                            true
                        }
                        _ => false,
                    }
                }
            };
            if applied {
                ok += 1;
            } else {
                failed += 1;
            }
        }
        state.jobs[i].result = Some((ok, failed));
    }
    Ok(Some(task_info(&state.jobs[i])))
}

// ----- endpoint groups (endpoint-management service, `/agent-graphql`) -------------------

/// `EndpointGroup` (secureworks/taegis-sdk-python
/// `services/endpoint_management_service/types.py`; a selection of its fields).
pub struct EndpointGroupObject(SimGroup, String);

#[Object(name = "EndpointGroup")]
impl EndpointGroupObject {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    async fn tenant_id(&self) -> &str {
        &self.1
    }
    async fn group_id(&self) -> &str {
        &self.0.id
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn description(&self) -> &str {
        ""
    }
    async fn is_system_generated(&self) -> bool {
        false
    }
    async fn is_default(&self) -> bool {
        self.0.name == "Default"
    }
}

pub struct AgentQuery;

#[Object]
impl AgentQuery {
    /// "Get list of all endpoint groups for a tenant."
    async fn all_endpoint_groups(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<EndpointGroupObject>> {
        let sim = sim(ctx)?;
        let state = sim.state.lock().unwrap();
        Ok(state
            .groups
            .iter()
            .map(|g| EndpointGroupObject(g.clone(), sim.cfg.tenant_id.clone()))
            .collect())
    }
}

// ----- clients --------------------------------------------------------------------------

pub struct ClientRoleAssignment {
    tenant: String,
    role_id: String,
    client_id: String,
}

#[Object]
impl ClientRoleAssignment {
    async fn id(&self) -> ID {
        ID(format!("{}:{}", self.client_id, self.role_id))
    }
    #[graphql(name = "tenantID")]
    async fn tenant_id(&self) -> &str {
        &self.tenant
    }
    #[graphql(name = "tenant_id", deprecation = "Use tenantID")]
    async fn tenant_id_old(&self) -> &str {
        &self.tenant
    }
    #[graphql(name = "roleID")]
    async fn role_id(&self) -> &str {
        &self.role_id
    }
    #[graphql(name = "role_id", deprecation = "Use roleID")]
    async fn role_id_old(&self) -> &str {
        &self.role_id
    }
    #[graphql(name = "roleName")]
    async fn role_name(&self) -> Option<String> {
        role_display_name(&self.role_id)
    }
    #[graphql(name = "role_name", deprecation = "Use roleName")]
    async fn role_name_old(&self) -> Option<String> {
        role_display_name(&self.role_id)
    }
    #[graphql(name = "expiresAt")]
    async fn expires_at(&self) -> Option<Time> {
        None
    }
}

fn role_display_name(id: &str) -> Option<String> {
    unconfirmed::ROLE_IDS
        .iter()
        .find(|(_, rid)| *rid == id)
        .map(|(name, _)| {
            let mut c = name.chars();
            let first = c
                .next()
                .map(|f| f.to_uppercase().collect::<String>())
                .unwrap_or_default();
            format!("Tenant {first}{}", c.as_str())
        })
}

pub struct Client(pub SimClient);

#[Object]
impl Client {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    #[graphql(name = "clientID")]
    async fn client_id(&self) -> &str {
        &self.0.client_id
    }
    #[graphql(name = "client_id", deprecation = "Use clientID")]
    async fn client_id_old(&self) -> &str {
        &self.0.client_id
    }
    /// Typed as a plain string by the SDK; the simulator joins the role ids.
    async fn roles(&self) -> String {
        self.0.roles.join(",")
    }
    #[graphql(name = "tenantID")]
    async fn tenant_id(&self) -> &str {
        &self.0.tenant_id
    }
    #[graphql(name = "tenant_id", deprecation = "Use tenantID")]
    async fn tenant_id_old(&self) -> &str {
        &self.0.tenant_id
    }
    #[graphql(name = "ownerTenantID")]
    async fn owner_tenant_id(&self) -> &str {
        &self.0.tenant_id
    }
    async fn created_at(&self) -> Time {
        Time(self.0.created_at)
    }
    #[graphql(name = "created_at", deprecation = "Use createdAt")]
    async fn created_at_old(&self) -> Time {
        Time(self.0.created_at)
    }
    async fn updated_at(&self) -> Time {
        Time(self.0.updated_at)
    }
    #[graphql(name = "updated_at", deprecation = "Use updatedAt")]
    async fn updated_at_old(&self) -> Time {
        Time(self.0.updated_at)
    }
    async fn created_by(&self) -> &str {
        &self.0.created_by
    }
    #[graphql(name = "created_by", deprecation = "Use createdBy")]
    async fn created_by_old(&self) -> &str {
        &self.0.created_by
    }
    async fn environment(&self) -> &str {
        "sim"
    }
    async fn enabled(&self) -> bool {
        true
    }
    async fn role_assignments(&self) -> Vec<ClientRoleAssignment> {
        self.assignments()
    }
    #[graphql(name = "role_assignments", deprecation = "Use roleAssignments")]
    async fn role_assignments_old(&self) -> Vec<ClientRoleAssignment> {
        self.assignments()
    }
}

impl Client {
    fn assignments(&self) -> Vec<ClientRoleAssignment> {
        self.0
            .roles
            .iter()
            .map(|r| ClientRoleAssignment {
                tenant: self.0.tenant_id.clone(),
                role_id: r.clone(),
                client_id: self.0.id.clone(),
            })
            .collect()
    }
}

pub struct NewClient(pub SimClient);

#[Object]
impl NewClient {
    async fn client_secret(&self) -> &str {
        &self.0.secret
    }
    #[graphql(name = "client_secret", deprecation = "Use clientSecret")]
    async fn client_secret_old(&self) -> &str {
        &self.0.secret
    }
    async fn client(&self) -> Client {
        Client(self.0.clone())
    }
}

#[derive(SimpleObject)]
pub struct ClientSearchResults {
    #[graphql(name = "result_count")]
    pub result_count: i32,
    pub total_count: i32,
    pub total_unfiltered_count: i32,
    pub results: Vec<Client>,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(rename_items = "SCREAMING_SNAKE_CASE")]
pub enum ClientsSortBy {
    Name,
    ClientId,
    RoleAssignmentName,
    TokenRequestCount,
    TokenRequestTime,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(rename_items = "SCREAMING_SNAKE_CASE")]
pub enum SortOrder {
    Asc,
    Desc,
}

#[derive(InputObject, Default)]
pub struct ClientsSearchInput {
    pub name: Option<String>,
    #[graphql(name = "clientIDs")]
    pub client_ids: Option<Vec<String>>,
    #[graphql(name = "tenantID")]
    pub tenant_id: Option<String>,
    #[graphql(name = "roleIDs")]
    pub role_ids: Option<Vec<String>>,
    #[graphql(name = "tenantIDs")]
    pub tenant_ids: Option<Vec<String>>,
    pub page_offset: Option<i32>,
    pub per_page: Option<i32>,
    pub sort_by: Option<ClientsSortBy>,
    pub sort_order: Option<SortOrder>,
}

#[derive(InputObject)]
pub struct CreateClientInput {
    #[graphql(name = "ownerTenantID")]
    pub owner_tenant_id: Option<String>,
}

// ----- commands -------------------------------------------------------------------------

#[derive(InputObject)]
pub struct CommandRequestInput {
    #[graphql(name = "endpointID")]
    pub endpoint_id: Option<String>,
    pub reason: Option<String>,
    #[graphql(name = "requestID")]
    pub request_id: Option<String>,
}

#[derive(SimpleObject)]
#[graphql(name = "Result")]
pub struct CommandResult {
    #[graphql(name = "Success")]
    pub success: bool,
    #[graphql(name = "Reason")]
    pub reason: String,
    #[graphql(name = "requestID")]
    pub request_id: String,
}

// ----- roots ----------------------------------------------------------------------------

pub struct Query;

#[Object]
impl Query {
    #[allow(clippy::too_many_arguments)]
    async fn assets_v2(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        last: Option<i32>,
        after: Option<String>,
        before: Option<String>,
        filter: Option<AssetFilter>,
        order_by: Option<AssetSearchOrderByInputV2>,
    ) -> async_graphql::Result<AssetsV2> {
        let sim = sim(ctx)?;
        let max = sim.cfg.max_page_size as i32;
        for (name, v) in [("first", first), ("last", last)] {
            if let Some(n) = v
                && !(1..=max).contains(&n)
            {
                return Err(coded(
                    format!("{name} must be between 1 and {max}, got {n}"),
                    unconfirmed::CODE_BAD_USER_INPUT,
                ));
            }
        }
        let parse = |c: &Option<String>| -> async_graphql::Result<Option<u64>> {
            match c {
                None => Ok(None),
                Some(text) => decode_cursor(text).map(Some).ok_or_else(|| {
                    coded(
                        format!("invalid cursor {text:?}"),
                        unconfirmed::CODE_BAD_USER_INPUT,
                    )
                }),
            }
        };
        let (after, before) = (parse(&after)?, parse(&before)?);
        // The simulator keeps one order (cursor order); orderBy is accepted and validated.
        let _ = order_by;
        let filter = filter.unwrap_or_default();
        let state = sim.state.lock().unwrap();
        let matching: Vec<&SimAsset> = state.assets.iter().filter(|a| filter.matches(a)).collect();
        let total = matching.len() as i32;
        let window: Vec<&SimAsset> = matching
            .iter()
            .copied()
            .filter(|a| after.is_none_or(|s| a.seq > s) && before.is_none_or(|s| a.seq < s))
            .collect();
        let size = first.or(last).unwrap_or(max.min(100)) as usize;
        let (page, has_next, has_prev) = if last.is_some() && first.is_none() {
            let start = window.len().saturating_sub(size);
            (&window[start..], before.is_some(), start > 0)
        } else {
            let end = size.min(window.len());
            (&window[..end], end < window.len(), after.is_some())
        };
        Ok(AssetsV2 {
            total_count: total,
            page_info: PageInfoV2 {
                end_cursor: page.last().map(|a| cursor(a.seq)),
                start_cursor: page.first().map(|a| cursor(a.seq)),
                has_next_page: has_next,
                has_previous_page: has_prev,
            },
            assets: page.iter().map(|a| AssetV2((*a).clone())).collect(),
        })
    }

    /// "The ID can be either the ID of the client object or the client_id."
    async fn client(
        &self,
        ctx: &Context<'_>,
        id: Option<ID>,
    ) -> async_graphql::Result<Option<Client>> {
        let sim = sim(ctx)?;
        let Some(id) = id else {
            return Err(coded("id is required", unconfirmed::CODE_BAD_USER_INPUT));
        };
        let state = sim.state.lock().unwrap();
        Ok(state
            .clients
            .iter()
            .find(|c| c.id == id.as_str() || c.client_id == id.as_str())
            .map(|c| Client(c.clone())))
    }

    async fn clients_search(
        &self,
        ctx: &Context<'_>,
        filters: Option<ClientsSearchInput>,
    ) -> async_graphql::Result<ClientSearchResults> {
        let sim = sim(ctx)?;
        let f = filters.unwrap_or_default();
        let per_page = f.per_page.unwrap_or(10);
        if !(1..=sim.cfg.max_clients_per_page as i32).contains(&per_page) {
            return Err(coded(
                format!(
                    "perPage must be between 1 and {}",
                    sim.cfg.max_clients_per_page
                ),
                unconfirmed::CODE_BAD_USER_INPUT,
            ));
        }
        let offset = f
            .page_offset
            .unwrap_or(unconfirmed::CLIENTS_FIRST_PAGE_OFFSET);
        if offset < 0 {
            return Err(coded(
                "pageOffset must not be negative",
                unconfirmed::CODE_BAD_USER_INPUT,
            ));
        }
        let skip = if unconfirmed::CLIENTS_PAGE_OFFSET_COUNTS_PAGES {
            (offset - unconfirmed::CLIENTS_FIRST_PAGE_OFFSET).max(0) as usize * per_page as usize
        } else {
            offset as usize
        };
        let state = sim.state.lock().unwrap();
        let all = state.clients.len() as i32;
        let matching: Vec<&SimClient> = state
            .clients
            .iter()
            .filter(|c| {
                f.name
                    .as_ref()
                    .is_none_or(|n| c.name.to_lowercase().contains(&n.to_lowercase()))
            })
            .filter(|c| {
                f.client_ids
                    .as_ref()
                    .is_none_or(|ids| ids.contains(&c.client_id))
            })
            .filter(|c| {
                f.role_ids
                    .as_ref()
                    .is_none_or(|r| c.roles.iter().any(|x| r.contains(x)))
            })
            .collect();
        let results: Vec<Client> = matching
            .iter()
            .skip(skip)
            .take(per_page as usize)
            .map(|c| Client((*c).clone()))
            .collect();
        Ok(ClientSearchResults {
            result_count: results.len() as i32,
            total_count: matching.len() as i32,
            total_unfiltered_count: all,
            results,
        })
    }

    /// "Return the status of the deleteAssetsV2 operation."
    async fn delete_assets_status_v2(
        &self,
        ctx: &Context<'_>,
        id: Option<ID>,
    ) -> async_graphql::Result<Option<TaskInfoPayload>> {
        poll_job(sim(ctx)?, "delete", id)
    }

    /// "Return the status of the restoreAssetsV2 operation."
    async fn restore_assets_status_v2(
        &self,
        ctx: &Context<'_>,
        id: Option<ID>,
    ) -> async_graphql::Result<Option<TaskInfoPayload>> {
        poll_job(sim(ctx)?, "restore", id)
    }

    /// "Return the status of the assignBulkAssetsToGroup operation."
    async fn assign_bulk_assets_to_group_status(
        &self,
        ctx: &Context<'_>,
        id: Option<ID>,
    ) -> async_graphql::Result<Option<TaskInfoPayload>> {
        poll_job(sim(ctx)?, "assign", id)
    }

    /// "the tenant's asset dead period threshold … default of 720h (30 days)".
    async fn asset_dead_period(&self) -> String {
        "720h".into()
    }
}

pub struct Mutation;

#[Object]
impl Mutation {
    /// "Start a job to "soft" delete the assets matching the filter criteria."
    async fn delete_assets_v2(
        &self,
        ctx: &Context<'_>,
        input: Option<DeleteAssetsInputV2>,
    ) -> async_graphql::Result<BulkOpPayloadV2> {
        start_job(sim(ctx)?, "delete", input.and_then(|i| i.filter), None)
    }

    /// "Start a job to restore assets that were previously deleted and that match the
    /// filter criteria."
    async fn restore_assets_v2(
        &self,
        ctx: &Context<'_>,
        input: Option<RestoreAssetsInputV2>,
    ) -> async_graphql::Result<BulkOpPayloadV2> {
        start_job(sim(ctx)?, "restore", input.and_then(|i| i.filter), None)
    }

    /// "Start a job to assign the endpoints matching the filter criteria to the endpoint
    /// group in the input."
    async fn assign_bulk_assets_to_group(
        &self,
        ctx: &Context<'_>,
        input: Option<AssignBulkAssetsToGroupInput>,
    ) -> async_graphql::Result<BulkOpPayloadV2> {
        let Some(input) = input else {
            return Err(coded("input is required", unconfirmed::CODE_BAD_USER_INPUT));
        };
        let Some(group) = input.group_id.filter(|g| !g.is_empty()) else {
            return Err(coded(
                "input.groupId is required",
                unconfirmed::CODE_BAD_USER_INPUT,
            ));
        };
        start_job(sim(ctx)?, "assign", input.filter, Some(group))
    }

    async fn mark_for_uninstall(
        &self,
        ctx: &Context<'_>,
        input: Option<CommandRequestInput>,
    ) -> async_graphql::Result<CommandResult> {
        let sim = sim(ctx)?;
        let Some(input) = input else {
            return Err(coded("input is required", unconfirmed::CODE_BAD_USER_INPUT));
        };
        let request_id = input.request_id.unwrap_or_default();
        let refuse = |reason: String| CommandResult {
            success: false,
            reason,
            request_id: request_id.clone(),
        };
        let Some(endpoint) = input.endpoint_id.filter(|e| !e.is_empty()) else {
            return Ok(refuse("endpointID is required".into()));
        };
        if request_id.is_empty() {
            return Ok(refuse("requestID is required".into()));
        }
        let mut state = sim.state.lock().unwrap();
        if state
            .uninstall_requests
            .iter()
            .any(|r| r.request_id == request_id)
        {
            return Ok(refuse(format!("duplicate requestID {request_id}")));
        }
        let Some(i) = state.assets.iter().position(|a| a.id == endpoint) else {
            return Ok(refuse(format!("endpoint {endpoint} not found")));
        };
        // The sensor takes the command and the asset leaves the tenant.
        let asset = state.assets.remove(i);
        state.uninstall_requests.push(UninstallRequest {
            endpoint_id: endpoint,
            request_id: request_id.clone(),
            reason: input.reason.unwrap_or_default(),
            hostname: asset.hostnames.first().cloned().unwrap_or_default(),
            at: Timestamp::now(),
        });
        Ok(CommandResult {
            success: true,
            reason: "uninstall command queued".into(),
            request_id,
        })
    }

    async fn create_client(
        &self,
        ctx: &Context<'_>,
        name: String,
        roles: Option<Vec<Option<String>>>,
        input: Option<CreateClientInput>,
    ) -> async_graphql::Result<NewClient> {
        let sim = sim(ctx)?;
        let name = name.trim().to_string();
        if name.is_empty() {
            return Err(coded(
                "name must not be empty",
                unconfirmed::CODE_BAD_USER_INPUT,
            ));
        }
        if let Some(owner) = input.and_then(|i| i.owner_tenant_id)
            && owner != sim.cfg.tenant_id
        {
            return Err(coded(
                format!("tenant {owner} is not accessible"),
                unconfirmed::CODE_FORBIDDEN,
            ));
        }
        let roles: Vec<String> = roles.unwrap_or_default().into_iter().flatten().collect();
        for r in &roles {
            if !unconfirmed::ROLE_IDS.iter().any(|(_, id)| id == r) {
                return Err(coded(
                    format!("unknown role {r}"),
                    unconfirmed::CODE_BAD_USER_INPUT,
                ));
            }
        }
        let roles = if roles.is_empty() {
            // "the TenantAnalyst role is assigned if roles is omitted"
            vec![unconfirmed::ROLE_IDS[1].1.to_string()]
        } else {
            roles
        };
        let mut state = sim.state.lock().unwrap();
        if state.clients.iter().any(|c| c.name == name) {
            return Err(coded(
                format!("a client named {name:?} already exists"),
                unconfirmed::CODE_BAD_USER_INPUT,
            ));
        }
        state.next_client_seed = state.next_client_seed.wrapping_add(1);
        let client = new_client(
            state.next_client_seed,
            &name,
            roles,
            &sim.cfg.tenant_id,
            &sim.cfg.client_id,
            Timestamp::now(),
        );
        state.clients.push(client.clone());
        Ok(NewClient(client))
    }

    async fn rotate_client_secret(
        &self,
        ctx: &Context<'_>,
        id: Option<ID>,
        secret: Option<String>,
    ) -> async_graphql::Result<Option<NewClient>> {
        let sim = sim(ctx)?;
        let Some(id) = id else {
            return Err(coded("id is required", unconfirmed::CODE_BAD_USER_INPUT));
        };
        let mut state = sim.state.lock().unwrap();
        state.next_client_seed = state.next_client_seed.wrapping_add(1);
        let fresh = new_client(
            state.next_client_seed,
            "",
            Vec::new(),
            "",
            "",
            Timestamp::now(),
        );
        let Some(c) = state
            .clients
            .iter_mut()
            .find(|c| c.id == id.as_str() || c.client_id == id.as_str())
        else {
            return Ok(None);
        };
        c.secret = secret.filter(|s| !s.is_empty()).unwrap_or(fresh.secret);
        c.updated_at = Timestamp::now();
        Ok(Some(NewClient(c.clone())))
    }

    async fn delete_client(
        &self,
        ctx: &Context<'_>,
        id: Option<ID>,
    ) -> async_graphql::Result<Option<Client>> {
        let sim = sim(ctx)?;
        let Some(id) = id else {
            return Err(coded("id is required", unconfirmed::CODE_BAD_USER_INPUT));
        };
        let mut state = sim.state.lock().unwrap();
        let Some(i) = state
            .clients
            .iter()
            .position(|c| c.id == id.as_str() || c.client_id == id.as_str())
        else {
            return Ok(None);
        };
        Ok(Some(Client(state.clients.remove(i))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_are_opaque_and_round_trip() {
        let c = cursor(42);
        assert!(!c.contains("42"));
        assert_eq!(decode_cursor(&c), Some(42));
        assert_eq!(decode_cursor("bm9wZQ=="), None);
    }

    #[test]
    fn where_filters_treat_null_last_seen_as_no_match() {
        let now: Timestamp = "2026-10-01T12:00:00Z".parse().unwrap();
        let asset = |seen: Option<Timestamp>| SimAsset {
            seq: 1,
            id: "a".into(),
            host_id: "h".into(),
            sensor_id: "s".into(),
            tenant_id: "t".into(),
            created_at: now,
            updated_at: now,
            last_seen_at: seen,
            sensor_version: "1".into(),
            endpoint_type: "ENDPOINT_TAEGIS".into(),
            os_family: "Linux".into(),
            os_version: "1".into(),
            os_distributor: "x".into(),
            architecture: "x86_64".into(),
            pending_uninstall: false,
            hostnames: vec!["Web-01".into()],
            ip_addresses: vec![],
            endpoint_group: None,
            macs: vec![],
            bios_serial: None,
        };
        let lt = AssetWhereInputV2 {
            last_seen_at_lt: Some(Time(now)),
            ..Default::default()
        };
        assert!(!lt.matches(&asset(None)));
        assert!(!lt.matches(&asset(Some(now))));
        assert!(lt.matches(&asset(Some(now - jiff::SignedDuration::from_secs(1)))));
        let not_lt = AssetWhereInputV2 {
            not: Some(Box::new(lt)),
            ..Default::default()
        };
        assert!(not_lt.matches(&asset(None)));
        let contains = AssetWhereInputV2 {
            hostname_contains: Some("eb-0".into()),
            ..Default::default()
        };
        assert!(contains.matches(&asset(None)));
        let exact = AssetWhereInputV2 {
            hostname: Some("web-01".into()),
            ..Default::default()
        };
        assert!(
            !exact.matches(&asset(None)),
            "exact host names are case-sensitive"
        );
    }
}
