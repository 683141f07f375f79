//! The API's JSON representations (field names and order as in the seeds).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::storage::records;

/// A user's global role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum UserRole {
    SuperAdmin,
    Admin,
    Customer,
}

impl UserRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SuperAdmin => "super-admin",
            Self::Admin => "admin",
            Self::Customer => "customer",
        }
    }
}

/// A member's role within an organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum MemberRole {
    Owner,
    Admin,
    Customer,
}

impl MemberRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Admin => "admin",
            Self::Customer => "customer",
        }
    }
}

/// Your own data on a user, organization or membership: a JSON object of any keys, at most
/// 8 KiB serialized and 5 levels deep (the schema of `metadata`; the value is a plain object).
#[derive(Debug, ToSchema)]
#[schema(example = json!({"plan": "gold", "seats": 5}))]
pub struct Metadata(pub std::collections::HashMap<String, serde_json::Value>);

/// A premium tier as embedded in organization lists (seed 000, 002).
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TierSummary {
    #[schema(example = "tier-premium")]
    pub id: String,
    #[schema(example = "Premium")]
    pub name: String,
    pub features: Vec<String>,
}

/// Usage limits of a tier; each may be `null` (unlimited or unset).
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TierLimits {
    #[schema(required = true, example = 1000)]
    pub max_users: Option<i64>,
    #[schema(required = true, example = "100GB")]
    pub max_storage: Option<String>,
    #[schema(required = true, example = 100_000)]
    pub api_calls_per_month: Option<i64>,
}

/// A premium tier with its limits, as in a single organization (seed 001).
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TierDetail {
    pub id: String,
    pub name: String,
    pub features: Vec<String>,
    pub limits: TierLimits,
}

/// A premium tier resource (`/tiers`).
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Tier {
    pub id: String,
    pub name: String,
    pub features: Vec<String>,
    pub limits: TierLimits,
    #[schema(format = DateTime, example = "2024-01-15T14:30:00Z")]
    pub created_at: String,
    #[schema(format = DateTime, example = "2024-01-15T14:30:00Z")]
    pub updated_at: String,
}

/// An organization in a list (seed 002).
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct OrgSummary {
    #[schema(example = "org-123")]
    pub id: String,
    #[schema(example = "Acme Corporation")]
    pub name: String,
    #[schema(example = "acme-corp")]
    pub slug: String,
    #[schema(
        required = true,
        format = "uri",
        example = "https://example.com/logos/acme.png"
    )]
    pub logo: Option<String>,
    pub member_count: i64,
    #[schema(required = true)]
    pub premium_tier: Option<TierSummary>,
    #[schema(format = DateTime, example = "2024-01-15T14:30:00Z")]
    pub created_at: String,
    #[schema(format = DateTime, example = "2024-01-15T14:30:00Z")]
    pub updated_at: String,
    /// Your own id of this resource (unique per type), or `null`; after the documented fields.
    #[schema(required = true, max_length = 255, example = "shop-1234")]
    pub external_id: Option<String>,
    /// Your own data: a JSON object (at most 8 KiB serialized, 5 levels deep); `{}` by default.
    #[schema(value_type = Metadata)]
    pub metadata: serde_json::Value,
}

/// A membership as seen from the user's side (seed 000).
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MembershipBrief {
    pub id: String,
    #[schema(value_type = MemberRole)]
    pub role: String,
    #[schema(format = DateTime, example = "2024-01-15T14:30:00Z")]
    pub created_at: String,
}

/// An organization of a user, with the membership (seed 000).
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct UserOrganization {
    pub id: String,
    pub name: String,
    pub slug: String,
    #[schema(
        required = true,
        format = "uri",
        example = "https://example.com/logos/acme.png"
    )]
    pub logo: Option<String>,
    pub member_count: i64,
    #[schema(required = true)]
    pub premium_tier: Option<TierSummary>,
    pub membership: MembershipBrief,
    #[schema(format = DateTime, example = "2024-01-15T14:30:00Z")]
    pub created_at: String,
    #[schema(format = DateTime, example = "2024-01-15T14:30:00Z")]
    pub updated_at: String,
    /// Your own id of this resource (unique per type), or `null`; after the documented fields.
    #[schema(required = true, max_length = 255, example = "shop-1234")]
    pub external_id: Option<String>,
    /// Your own data: a JSON object (at most 8 KiB serialized, 5 levels deep); `{}` by default.
    #[schema(value_type = Metadata)]
    pub metadata: serde_json::Value,
}

/// The user embedded in a membership.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct UserBrief {
    pub id: String,
    pub name: String,
    #[schema(format = Email)]
    pub email: String,
}

/// A member in a single organization (seed 001).
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct OrgMember {
    pub id: String,
    pub user_id: String,
    #[schema(value_type = MemberRole)]
    pub role: String,
    pub user: UserBrief,
    #[schema(format = DateTime, example = "2024-01-15T14:30:00Z")]
    pub created_at: String,
}

/// A single organization with members and tier limits (seed 001).
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct OrgDetail {
    pub id: String,
    pub name: String,
    pub slug: String,
    #[schema(
        required = true,
        format = "uri",
        example = "https://example.com/logos/acme.png"
    )]
    pub logo: Option<String>,
    pub member_count: i64,
    #[schema(required = true)]
    pub premium_tier: Option<TierDetail>,
    /// The first 100 members by join date; all of them via `/organizations/{id}/members`.
    pub members: Vec<OrgMember>,
    #[schema(format = DateTime, example = "2024-01-15T14:30:00Z")]
    pub created_at: String,
    #[schema(format = DateTime, example = "2024-01-15T14:30:00Z")]
    pub updated_at: String,
    /// Your own id of this resource (unique per type), or `null`; after the documented fields.
    #[schema(required = true, max_length = 255, example = "shop-1234")]
    pub external_id: Option<String>,
    /// Your own data: a JSON object (at most 8 KiB serialized, 5 levels deep); `{}` by default.
    #[schema(value_type = Metadata)]
    pub metadata: serde_json::Value,
}

/// A membership resource (`/organizations/{id}/members`).
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Membership {
    pub id: String,
    pub user_id: String,
    pub organization_id: String,
    #[schema(value_type = MemberRole)]
    pub role: String,
    pub user: UserBrief,
    #[schema(format = DateTime, example = "2024-01-15T14:30:00Z")]
    pub created_at: String,
    /// Your own data: a JSON object (at most 8 KiB serialized, 5 levels deep); `{}` by default.
    #[schema(value_type = Metadata)]
    pub metadata: serde_json::Value,
}

/// The organization embedded in a user's membership.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct OrgBrief {
    pub id: String,
    pub name: String,
    pub slug: String,
}

/// A membership as listed in a user's `members`.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct UserMember {
    pub id: String,
    pub organization_id: String,
    #[schema(value_type = MemberRole)]
    pub role: String,
    #[schema(format = DateTime, example = "2024-01-15T14:30:00Z")]
    pub created_at: String,
    pub organization: OrgBrief,
}

/// A user (seed 003).
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct User {
    #[schema(example = "user-456")]
    pub id: String,
    #[schema(example = "Jane Smith")]
    pub name: String,
    #[schema(required = true)]
    pub first_name: Option<String>,
    #[schema(required = true)]
    pub last_name: Option<String>,
    #[schema(format = Email, example = "jane@example.com")]
    pub email: String,
    #[schema(required = true)]
    pub phone: Option<String>,
    #[schema(required = true, format = Date, example = "1985-03-20")]
    pub dob: Option<String>,
    #[schema(value_type = UserRole, example = "customer")]
    pub role: String,
    pub members: Vec<UserMember>,
    #[schema(format = DateTime, example = "2024-01-15T14:30:00Z")]
    pub created_at: String,
    #[schema(format = DateTime, example = "2024-01-15T14:30:00Z")]
    pub updated_at: String,
    /// Your own id of this resource (unique per type), or `null`; after the documented fields.
    #[schema(required = true, max_length = 255, example = "shop-1234")]
    pub external_id: Option<String>,
    /// Your own data: a JSON object (at most 8 KiB serialized, 5 levels deep); `{}` by default.
    #[schema(value_type = Metadata)]
    pub metadata: serde_json::Value,
}

/// A user in `GET /users` lists (the published List Users page): no `dob`, no `members`.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct UserSummary {
    #[schema(example = "user-456")]
    pub id: String,
    #[schema(example = "Jane Smith")]
    pub name: String,
    #[schema(required = true)]
    pub first_name: Option<String>,
    #[schema(required = true)]
    pub last_name: Option<String>,
    #[schema(format = Email, example = "jane@example.com")]
    pub email: String,
    #[schema(required = true)]
    pub phone: Option<String>,
    #[schema(value_type = UserRole, example = "customer")]
    pub role: String,
    #[schema(format = DateTime, example = "2024-01-15T14:30:00Z")]
    pub created_at: String,
    #[schema(format = DateTime, example = "2024-01-15T14:30:00Z")]
    pub updated_at: String,
    /// Your own id of this resource (unique per type), or `null`; after the documented fields.
    #[schema(required = true, max_length = 255, example = "shop-1234")]
    pub external_id: Option<String>,
    /// Your own data: a JSON object (at most 8 KiB serialized, 5 levels deep); `{}` by default.
    #[schema(value_type = Metadata)]
    pub metadata: serde_json::Value,
}

/// Pagination meta of seed 002.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq)]
pub struct PageMeta {
    pub total: i64,
    pub per_page: u32,
    pub current_page: u32,
    pub last_page: i64,
    #[schema(required = true)]
    pub from: Option<i64>,
    #[schema(required = true)]
    pub to: Option<i64>,
}

impl PageMeta {
    /// The meta of page `page` of `total` rows, `count` of them on this page.
    pub fn new(total: i64, per_page: u32, page: u32, count: usize) -> Self {
        let per = i64::from(per_page);
        let last_page = ((total + per - 1) / per).max(1);
        let count = i64::try_from(count).unwrap_or(0);
        let first = i64::from(page - 1) * per + 1;
        let (from, to) = if count == 0 {
            (None, None)
        } else {
            (Some(first), Some(first + count - 1))
        };
        Self {
            total,
            per_page,
            current_page: page,
            last_page,
            from,
            to,
        }
    }
}

/// A page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T: ToSchema> {
    pub data: Vec<T>,
    pub meta: PageMeta,
}

/// Meta of a keyset (cursor) page: pass `next_cursor` as `after` for the next page.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq)]
pub struct CursorMeta {
    pub per_page: u32,
    pub count: usize,
    /// `null` at the end of the list.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// A page of a list walked by cursor.
#[derive(Debug, Serialize, ToSchema)]
pub struct CursorPage<T: ToSchema> {
    pub data: Vec<T>,
    pub meta: CursorMeta,
}

/// A list answer: numbered pages (`page`), or a cursor page when `after` is given.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum ListPage<T: ToSchema> {
    Page(Page<T>),
    Cursor(CursorPage<T>),
}

/// Meta of seed 000.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq)]
pub struct CountMeta {
    pub total: i64,
    pub count: i64,
}

/// A user's organizations (seed 000).
#[derive(Debug, Serialize, ToSchema)]
pub struct UserOrganizations {
    pub data: Vec<UserOrganization>,
    pub meta: CountMeta,
}

/// A key as listed: never its secret or hash.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct KeyInfo {
    #[schema(example = "key-0123456789abcdef")]
    pub id: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
    pub last_used_at: Option<String>,
    pub replaced_by: Option<String>,
}

/// An audit event.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub id: String,
    /// Such as `user.created`, `organization.updated`, `membership.deleted`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The API key that made the change (`null` for the command line).
    pub actor_key_id: Option<String>,
    pub subject_id: String,
    /// The fields that changed.
    pub changes: Vec<String>,
    pub created_at: String,
    /// The console operator who made the change (`null` for API keys and the command line).
    #[schema(required = true, example = "op-0123456789abcdef")]
    pub actor_operator_id: Option<String>,
}

// What storage reads, as the API shows it: field by field, nothing added or dropped.

impl From<records::TierSummary> for TierSummary {
    fn from(t: records::TierSummary) -> Self {
        Self {
            id: t.id,
            name: t.name,
            features: t.features,
        }
    }
}

impl From<records::TierLimits> for TierLimits {
    fn from(l: records::TierLimits) -> Self {
        Self {
            max_users: l.max_users,
            max_storage: l.max_storage,
            api_calls_per_month: l.api_calls_per_month,
        }
    }
}

impl From<records::TierDetail> for TierDetail {
    fn from(t: records::TierDetail) -> Self {
        Self {
            id: t.id,
            name: t.name,
            features: t.features,
            limits: t.limits.into(),
        }
    }
}

impl From<records::Tier> for Tier {
    fn from(t: records::Tier) -> Self {
        Self {
            id: t.id,
            name: t.name,
            features: t.features,
            limits: t.limits.into(),
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

impl From<records::OrgSummary> for OrgSummary {
    fn from(o: records::OrgSummary) -> Self {
        Self {
            id: o.id,
            name: o.name,
            slug: o.slug,
            logo: o.logo,
            member_count: o.member_count,
            premium_tier: o.premium_tier.map(Into::into),
            created_at: o.created_at,
            updated_at: o.updated_at,
            external_id: o.external_id,
            metadata: metadata_value(&o.metadata),
        }
    }
}

impl From<records::MembershipBrief> for MembershipBrief {
    fn from(m: records::MembershipBrief) -> Self {
        Self {
            id: m.id,
            role: m.role,
            created_at: m.created_at,
        }
    }
}

impl From<records::UserOrganization> for UserOrganization {
    fn from(o: records::UserOrganization) -> Self {
        Self {
            id: o.id,
            name: o.name,
            slug: o.slug,
            logo: o.logo,
            member_count: o.member_count,
            premium_tier: o.premium_tier.map(Into::into),
            membership: o.membership.into(),
            created_at: o.created_at,
            updated_at: o.updated_at,
            external_id: o.external_id,
            metadata: metadata_value(&o.metadata),
        }
    }
}

impl From<records::UserBrief> for UserBrief {
    fn from(u: records::UserBrief) -> Self {
        Self {
            id: u.id,
            name: u.name,
            email: u.email,
        }
    }
}

impl From<records::OrgMember> for OrgMember {
    fn from(m: records::OrgMember) -> Self {
        Self {
            id: m.id,
            user_id: m.user_id,
            role: m.role,
            user: m.user.into(),
            created_at: m.created_at,
        }
    }
}

impl From<records::OrgDetail> for OrgDetail {
    fn from(o: records::OrgDetail) -> Self {
        Self {
            id: o.id,
            name: o.name,
            slug: o.slug,
            logo: o.logo,
            member_count: o.member_count,
            premium_tier: o.premium_tier.map(Into::into),
            members: o.members.into_iter().map(Into::into).collect(),
            created_at: o.created_at,
            updated_at: o.updated_at,
            external_id: o.external_id,
            metadata: metadata_value(&o.metadata),
        }
    }
}

impl From<records::Membership> for Membership {
    fn from(m: records::Membership) -> Self {
        Self {
            id: m.id,
            user_id: m.user_id,
            organization_id: m.organization_id,
            role: m.role,
            user: m.user.into(),
            created_at: m.created_at,
            metadata: metadata_value(&m.metadata),
        }
    }
}

impl From<records::OrgBrief> for OrgBrief {
    fn from(o: records::OrgBrief) -> Self {
        Self {
            id: o.id,
            name: o.name,
            slug: o.slug,
        }
    }
}

impl From<records::UserMember> for UserMember {
    fn from(m: records::UserMember) -> Self {
        Self {
            id: m.id,
            organization_id: m.organization_id,
            role: m.role,
            created_at: m.created_at,
            organization: m.organization.into(),
        }
    }
}

impl From<records::User> for User {
    fn from(u: records::User) -> Self {
        Self {
            id: u.id,
            name: u.name,
            first_name: u.first_name,
            last_name: u.last_name,
            email: u.email,
            phone: u.phone,
            dob: u.dob,
            role: u.role,
            members: u.members.into_iter().map(Into::into).collect(),
            created_at: u.created_at,
            updated_at: u.updated_at,
            external_id: u.external_id,
            metadata: metadata_value(&u.metadata),
        }
    }
}

impl From<records::UserSummary> for UserSummary {
    fn from(u: records::UserSummary) -> Self {
        Self {
            id: u.id,
            name: u.name,
            first_name: u.first_name,
            last_name: u.last_name,
            email: u.email,
            phone: u.phone,
            role: u.role,
            created_at: u.created_at,
            updated_at: u.updated_at,
            external_id: u.external_id,
            metadata: metadata_value(&u.metadata),
        }
    }
}

impl From<records::KeyInfo> for KeyInfo {
    fn from(k: records::KeyInfo) -> Self {
        Self {
            id: k.id,
            name: k.name,
            scopes: k.scopes,
            created_at: k.created_at,
            expires_at: k.expires_at,
            revoked_at: k.revoked_at,
            last_used_at: k.last_used_at,
            replaced_by: k.replaced_by,
        }
    }
}

impl From<records::Event> for Event {
    fn from(e: records::Event) -> Self {
        Self {
            id: e.id,
            kind: e.kind,
            actor_key_id: e.actor_key_id,
            subject_id: e.subject_id,
            changes: e.changes,
            created_at: e.created_at,
            actor_operator_id: e.actor_operator_id,
        }
    }
}

/// The published name (SPEC, the seeds) of a field that storage reports changed by its column
/// name: what the audit events' `changes` list (tier limits as `limits.<field>`).
pub fn published_field(column: &'static str) -> &'static str {
    match column {
        "premium_tier_id" => "premiumTierId",
        "first_name" => "firstName",
        "last_name" => "lastName",
        "external_id" => "externalId",
        "max_users" => "limits.maxUsers",
        "max_storage" => "limits.maxStorage",
        "api_calls_per_month" => "limits.apiCallsPerMonth",
        same => same,
    }
}

/// A stored metadata object as JSON (`{}` should the text ever not parse).
fn metadata_value(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|_| serde_json::Value::Object(serde_json::Map::new()))
}

/// `changed` columns as published field names, for an event's `changes`.
pub fn published_fields(changed: Vec<&'static str>) -> Vec<&'static str> {
    changed.into_iter().map(published_field).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_meta_edges() {
        let m = PageMeta::new(150, 10, 1, 10);
        assert_eq!((m.last_page, m.from, m.to), (15, Some(1), Some(10)));
        let m = PageMeta::new(0, 10, 1, 0);
        assert_eq!((m.last_page, m.from, m.to), (1, None, None));
        let m = PageMeta::new(21, 10, 3, 1);
        assert_eq!((m.last_page, m.from, m.to), (3, Some(21), Some(21)));
        let m = PageMeta::new(21, 10, 9, 0);
        assert_eq!((m.last_page, m.from, m.to), (3, None, None));
    }
}
