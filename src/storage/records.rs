//! What storage reads and writes: plain rows, in storage's own terms. They name no HTTP field
//! and derive no serialization; the API's JSON representations (the HTTP layer's `model`) are
//! built from them, field by field. Roles are the stored text (`"owner"`, `"customer"`, …):
//! the HTTP layer checks them on the way in.

/// A premium tier as embedded in an organization summary.
#[derive(Debug, Clone, PartialEq)]
pub struct TierSummary {
    pub id: String,
    pub name: String,
    pub features: Vec<String>,
}

/// Usage limits of a tier; `None` is unlimited or unset.
#[derive(Debug, Clone, PartialEq)]
pub struct TierLimits {
    pub max_users: Option<i64>,
    pub max_storage: Option<String>,
    pub api_calls_per_month: Option<i64>,
}

/// A premium tier with its limits, as embedded in a single organization.
#[derive(Debug, Clone, PartialEq)]
pub struct TierDetail {
    pub id: String,
    pub name: String,
    pub features: Vec<String>,
    pub limits: TierLimits,
}

/// A premium tier.
#[derive(Debug, Clone, PartialEq)]
pub struct Tier {
    pub id: String,
    pub name: String,
    pub features: Vec<String>,
    pub limits: TierLimits,
    pub created_at: String,
    pub updated_at: String,
}

/// An organization with its tier, without members.
#[derive(Debug, Clone, PartialEq)]
pub struct OrgSummary {
    pub id: String,
    pub name: String,
    pub slug: String,
    pub logo: Option<String>,
    pub member_count: i64,
    pub premium_tier: Option<TierSummary>,
    pub created_at: String,
    pub updated_at: String,
    pub external_id: Option<String>,
    pub metadata: String,
}

/// A membership as seen from the user's side.
#[derive(Debug, Clone, PartialEq)]
pub struct MembershipBrief {
    pub id: String,
    pub role: String,
    pub created_at: String,
}

/// An organization of a user, with the membership.
#[derive(Debug, Clone, PartialEq)]
pub struct UserOrganization {
    pub id: String,
    pub name: String,
    pub slug: String,
    pub logo: Option<String>,
    pub member_count: i64,
    pub premium_tier: Option<TierSummary>,
    pub membership: MembershipBrief,
    pub created_at: String,
    pub updated_at: String,
    pub external_id: Option<String>,
    pub metadata: String,
}

/// The user of a membership.
#[derive(Debug, Clone, PartialEq)]
pub struct UserBrief {
    pub id: String,
    pub name: String,
    pub email: String,
}

/// A member as embedded in a single organization.
#[derive(Debug, Clone, PartialEq)]
pub struct OrgMember {
    pub id: String,
    pub user_id: String,
    pub role: String,
    pub user: UserBrief,
    pub created_at: String,
}

/// A single organization with its tier's limits and its first members.
#[derive(Debug, Clone, PartialEq)]
pub struct OrgDetail {
    pub id: String,
    pub name: String,
    pub slug: String,
    pub logo: Option<String>,
    pub member_count: i64,
    pub premium_tier: Option<TierDetail>,
    pub members: Vec<OrgMember>,
    pub created_at: String,
    pub updated_at: String,
    pub external_id: Option<String>,
    pub metadata: String,
}

/// A membership of a user in an organization.
#[derive(Debug, Clone, PartialEq)]
pub struct Membership {
    pub id: String,
    pub user_id: String,
    pub organization_id: String,
    pub role: String,
    pub user: UserBrief,
    pub created_at: String,
    pub metadata: String,
}

/// The organization of a user's membership.
#[derive(Debug, Clone, PartialEq)]
pub struct OrgBrief {
    pub id: String,
    pub name: String,
    pub slug: String,
}

/// A membership as seen from the user's side, with its organization.
#[derive(Debug, Clone, PartialEq)]
pub struct UserMember {
    pub id: String,
    pub organization_id: String,
    pub role: String,
    pub created_at: String,
    pub organization: OrgBrief,
}

/// A user with its memberships.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub id: String,
    pub name: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: String,
    pub phone: Option<String>,
    pub dob: Option<String>,
    pub role: String,
    pub members: Vec<UserMember>,
    pub created_at: String,
    pub updated_at: String,
    pub external_id: Option<String>,
    /// A JSON object, as stored (canonical text).
    pub metadata: String,
}

/// A user as in a list: no `dob`, no memberships.
#[derive(Debug, Clone, PartialEq)]
pub struct UserSummary {
    pub id: String,
    pub name: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: String,
    pub phone: Option<String>,
    pub role: String,
    pub created_at: String,
    pub updated_at: String,
    pub external_id: Option<String>,
    pub metadata: String,
}

/// An API key without its secret or hash.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyInfo {
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
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: String,
    /// Such as `user.created`, `organization.updated`, `membership.deleted`.
    pub kind: String,
    /// The API key that made the change (`None` for the command line).
    pub actor_key_id: Option<String>,
    pub subject_id: String,
    /// The fields that changed.
    pub changes: Vec<String>,
    pub created_at: String,
    /// The console operator who made the change (`None` otherwise).
    pub actor_operator_id: Option<String>,
}
