//! Posted forms: read with the session's CSRF token checked, turned into the API's JSON
//! bodies (so that the API's own readers validate them), and the state a form is rendered
//! again with (the values as typed, the problems beside their fields).

use std::collections::BTreeMap;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use serde_json::{Map, Value};

use super::session::{same_token, Sess};
use super::{ConsoleError, Result};
use crate::error::{ApiError, Details};

/// A form posted by a logged-in operator, its CSRF token checked: a POST without the
/// session's token is refused (403) before any handler runs.
pub struct Posted {
    pub sess: Sess,
    fields: Vec<(String, String)>,
}

impl FromRequest for Posted {
    type Error = ConsoleError;
    type Future = LocalBoxFuture<'static, Result<Self>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let sess = Sess::from_request(req, payload).into_inner();
        let form = web::Form::<Vec<(String, String)>>::from_request(req, payload);
        Box::pin(async move {
            let sess = sess?;
            let fields = form
                .await
                .map_err(|e| ConsoleError::BadForm(e.to_string()))?
                .into_inner();
            let token = fields
                .iter()
                .find(|(k, _)| k == "csrf")
                .map_or("", |(_, v)| v.as_str());
            if !same_token(&sess.csrf, token) {
                return Err(ConsoleError::BadToken);
            }
            Ok(Self { sess, fields })
        })
    }
}

impl Posted {
    /// The first value of `name`, as sent ("" when absent).
    pub fn get(&self, name: &str) -> &str {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// Every value of `name` (checkboxes).
    pub fn all(&self, name: &str) -> Vec<String> {
        self.fields
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// The values of `names` as typed, to render the form again.
    pub fn values(&self, names: &[&str]) -> BTreeMap<String, String> {
        names
            .iter()
            .map(|n| ((*n).to_owned(), self.get(n).to_owned()))
            .collect()
    }

    /// The operator, as the actor of the request's events.
    pub fn operator(&self) -> String {
        self.sess.operator_id.to_string()
    }
}

/// How a form field becomes a field of the API's JSON body.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// Text sent as typed; when empty it is left out (the API then says it is required, or
    /// generates it).
    Required,
    /// Text sent as typed, even empty (an edit form's required field: the API refuses "").
    Text,
    /// Text or `null` when empty (clears a nullable field).
    Nullable,
    /// A whole number, `null` when empty; other text is sent as text, which the API refuses
    /// as not an integer.
    Integer,
    /// A whole number, left out when empty.
    OptionalInteger,
    /// One item per non-empty line.
    Lines,
}

/// The API body of `form`'s fields: `(form field, JSON field, kind)`.
pub fn body(form: &Posted, fields: &[(&str, &str, Kind)]) -> Map<String, Value> {
    let mut m = Map::new();
    for (name, json, kind) in fields {
        let raw = form.get(name);
        let v = match kind {
            Kind::Required if raw.is_empty() => continue,
            Kind::OptionalInteger if raw.trim().is_empty() => continue,
            Kind::Required | Kind::Text => Value::from(raw),
            Kind::Nullable if raw.trim().is_empty() => Value::Null,
            Kind::Nullable => Value::from(raw),
            Kind::Integer | Kind::OptionalInteger => match raw.trim() {
                "" => Value::Null,
                t => t
                    .parse::<i64>()
                    .map_or_else(|_| Value::from(t), Value::from),
            },
            Kind::Lines => Value::Array(
                raw.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(Value::from)
                    .collect(),
            ),
        };
        m.insert((*json).to_owned(), v);
    }
    m
}

/// A form as it is shown: values, problems by form field, and a summary at the top.
#[derive(Debug, Clone, Default)]
pub struct FormState {
    pub values: BTreeMap<String, String>,
    pub errors: BTreeMap<String, Vec<String>>,
    pub summary: Option<String>,
}

impl FormState {
    /// The value of `name`.
    pub fn value(&self, name: &str) -> &str {
        self.values.get(name).map_or("", String::as_str)
    }

    /// The problems of `name`.
    pub fn errors(&self, name: &str) -> &[String] {
        self.errors.get(name).map_or(&[], Vec::as_slice)
    }

    /// Whether anything is wrong.
    pub fn has_errors(&self) -> bool {
        !self.errors.is_empty() || self.summary.is_some()
    }

    /// The API's field problems under the form's names (`limits.maxUsers` → `maxUsers`;
    /// `rename` maps others, such as `userId` → `user`).
    pub fn with_details(mut self, d: Details, rename: &[(&str, &str)]) -> Self {
        for (k, v) in d {
            let k = k.strip_prefix("limits.").unwrap_or(&k).to_owned();
            let k = rename
                .iter()
                .find(|(from, _)| *from == k)
                .map_or(k, |(_, to)| (*to).to_owned());
            self.errors.entry(k).or_default().extend(v);
        }
        self
    }
}

/// What a write's refusal means for the form that asked for it.
pub enum Refusal {
    /// Show the form again with these field problems (422).
    Fields(Details),
    /// Someone changed the resource since the form was rendered (409).
    Stale,
    /// Anything else: an error page (or the login).
    Page(ConsoleError),
}

impl From<ApiError> for Refusal {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::Validation(d) => Self::Fields(d),
            ApiError::Conflict {
                details: Some(d), ..
            } => Self::Fields(d),
            ApiError::PreconditionFailed(_) => Self::Stale,
            other => Self::Page(other.into()),
        }
    }
}

/// The message of a refused concurrent edit.
pub fn stale_message(thing: &str) -> String {
    format!("Someone else changed this {thing} since you opened it; reload to see their changes")
}

/// The summary line of a form with field problems.
pub const FIX_BELOW: &str = "The form has problems; see the fields below";

/// The answer to a refused write: the form again with the problems beside its fields (422),
/// or with the concurrent-edit message (409, nothing was written), or an error page.
pub fn answer(
    e: ApiError,
    mut state: FormState,
    thing: &str,
    rename: &[(&str, &str)],
    render: impl FnOnce(actix_web::http::StatusCode, FormState) -> actix_web::HttpResponse,
) -> Result<actix_web::HttpResponse> {
    use actix_web::http::StatusCode;
    match Refusal::from(e) {
        Refusal::Fields(d) => {
            state = state.with_details(d, rename);
            state.summary = Some(FIX_BELOW.to_owned());
            Ok(render(StatusCode::UNPROCESSABLE_ENTITY, state))
        }
        Refusal::Stale => {
            state.summary = Some(stale_message(thing));
            Ok(render(StatusCode::CONFLICT, state))
        }
        Refusal::Page(e) => Err(e),
    }
}
