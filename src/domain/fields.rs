//! Strict reading of a JSON request body: every field problem is collected, wrong types and
//! unknown fields are errors (a typo must not pass silently), absent and `null` are told apart.
//!
//! The reader is the validator; what it read, normalized (trimmed, empty text as `null`), is
//! then deserialized into the request's DTO ([`Fields::finish_into`]), whose OpenAPI schema
//! is the published contract of the body.

use std::collections::BTreeSet;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::{ApiError, Details};

/// A field as sent: absent, explicitly `null`, or a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Patch<T> {
    Absent,
    Null,
    Value(T),
}

impl<T> Patch<T> {
    /// `Value` for `Some`, `Absent` for `None`.
    pub fn from_option(v: Option<T>) -> Self {
        v.map_or(Patch::Absent, Patch::Value)
    }

    pub fn value(self) -> Option<T> {
        match self {
            Self::Value(v) => Some(v),
            _ => None,
        }
    }

    /// `Some(None)` for `null`, `Some(Some(v))` for a value, `None` when absent.
    pub fn into_update(self) -> Option<Option<T>> {
        match self {
            Self::Absent => None,
            Self::Null => Some(None),
            Self::Value(v) => Some(Some(v)),
        }
    }
}

/// A JSON object being read field by field.
pub struct Fields {
    map: Map<String, Value>,
    seen: BTreeSet<String>,
    /// The fields read so far, normalized by their parsers (the DTO is read from this).
    out: Map<String, Value>,
    details: Details,
}

impl Fields {
    /// The body must be a JSON object.
    pub fn new(body: Value) -> Result<Self, ApiError> {
        match body {
            Value::Object(map) => Ok(Self {
                map,
                seen: BTreeSet::new(),
                out: Map::new(),
                details: Details::new(),
            }),
            _ => Err(ApiError::field(
                "body",
                "The request body must be a JSON object",
            )),
        }
    }

    /// Records a problem with `field`.
    pub fn error(&mut self, field: &str, message: impl Into<String>) {
        self.details
            .entry(field.to_owned())
            .or_default()
            .push(message.into());
    }

    fn take(&mut self, field: &str) -> Patch<Value> {
        self.seen.insert(field.to_owned());
        match self.map.get(field) {
            None => Patch::Absent,
            Some(Value::Null) => {
                self.out.insert(field.to_owned(), Value::Null);
                Patch::Null
            }
            Some(v) => Patch::Value(v.clone()),
        }
    }

    /// Keeps the normalized value of `field` for the DTO.
    fn keep<T: Serialize>(&mut self, field: &str, v: &T) {
        match serde_json::to_value(v) {
            Ok(j) => {
                self.out.insert(field.to_owned(), j);
            }
            Err(e) => self.error(field, format!("{field} could not be read: {e}")),
        }
    }

    /// A string field, parsed by `parse`; a wrong type or a parse failure is recorded.
    pub fn string<T: Serialize>(
        &mut self,
        field: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Patch<T> {
        match self.take(field) {
            Patch::Absent => Patch::Absent,
            Patch::Null => Patch::Null,
            Patch::Value(Value::String(s)) => match parse(&s) {
                Ok(v) => {
                    self.keep(field, &v);
                    Patch::Value(v)
                }
                Err(m) => {
                    self.error(field, m);
                    Patch::Absent
                }
            },
            Patch::Value(_) => {
                self.error(field, format!("{field} must be a string"));
                Patch::Absent
            }
        }
    }

    /// A boolean field.
    pub fn boolean(&mut self, field: &str) -> Patch<bool> {
        match self.take(field) {
            Patch::Value(Value::Bool(b)) => {
                self.keep(field, &b);
                Patch::Value(b)
            }
            Patch::Value(_) => {
                self.error(field, format!("{field} must be true or false"));
                Patch::Absent
            }
            Patch::Absent => Patch::Absent,
            Patch::Null => Patch::Null,
        }
    }

    /// A non-negative integer field.
    pub fn integer(&mut self, field: &str, max: i64) -> Patch<i64> {
        match self.take(field) {
            Patch::Absent => Patch::Absent,
            Patch::Null => Patch::Null,
            Patch::Value(Value::Number(n)) => match n.as_i64() {
                Some(i) if (0..=max).contains(&i) => {
                    self.keep(field, &i);
                    Patch::Value(i)
                }
                _ => {
                    self.error(field, format!("{field} must be an integer from 0 to {max}"));
                    Patch::Absent
                }
            },
            Patch::Value(_) => {
                self.error(field, format!("{field} must be an integer"));
                Patch::Absent
            }
        }
    }

    /// A list of short strings, each parsed by `parse`.
    pub fn string_list(
        &mut self,
        field: &str,
        max_items: usize,
        parse: impl Fn(&str) -> Result<String, String>,
    ) -> Patch<Vec<String>> {
        match self.take(field) {
            Patch::Absent => Patch::Absent,
            Patch::Null => Patch::Null,
            Patch::Value(Value::Array(items)) => {
                if items.len() > max_items {
                    self.error(
                        field,
                        format!("{field} must have at most {max_items} items"),
                    );
                    return Patch::Absent;
                }
                let mut out = Vec::with_capacity(items.len());
                let mut ok = true;
                for (i, item) in items.iter().enumerate() {
                    match item.as_str().map(&parse) {
                        Some(Ok(s)) => {
                            if !out.contains(&s) {
                                out.push(s);
                            }
                        }
                        Some(Err(m)) => {
                            ok = false;
                            self.error(field, format!("item {i}: {m}"));
                        }
                        None => {
                            ok = false;
                            self.error(field, format!("item {i}: must be a string"));
                        }
                    }
                }
                if ok {
                    self.keep(field, &out);
                    Patch::Value(out)
                } else {
                    Patch::Absent
                }
            }
            Patch::Value(_) => {
                self.error(field, format!("{field} must be an array of strings"));
                Patch::Absent
            }
        }
    }

    /// A field of any JSON type, checked by `parse` (which gets the value itself); the value is
    /// kept as sent for the DTO, the parsed form returned.
    pub fn json<T>(
        &mut self,
        field: &str,
        parse: impl FnOnce(&Value) -> Result<T, String>,
    ) -> Patch<T> {
        match self.take(field) {
            Patch::Absent => Patch::Absent,
            Patch::Null => Patch::Null,
            Patch::Value(v) => match parse(&v) {
                Ok(t) => {
                    self.out.insert(field.to_owned(), v);
                    Patch::Value(t)
                }
                Err(m) => {
                    self.error(field, m);
                    Patch::Absent
                }
            },
        }
    }

    /// A nested object, handed back raw for the caller to read with another `Fields`.
    pub fn object(&mut self, field: &str) -> Patch<Value> {
        match self.take(field) {
            Patch::Value(v @ Value::Object(_)) => Patch::Value(v),
            Patch::Value(_) => {
                self.error(field, format!("{field} must be an object"));
                Patch::Absent
            }
            other => other,
        }
    }

    /// `field` must be present and not null; records `message` otherwise.
    pub fn require<T>(&mut self, field: &str, v: Patch<T>, message: &str) -> Option<T> {
        match v {
            Patch::Value(v) => Some(v),
            Patch::Null | Patch::Absent => {
                if !self.details.contains_key(field) {
                    self.error(field, message);
                }
                None
            }
        }
    }

    /// `null` is not allowed for `field` (it is not nullable).
    pub fn not_null<T>(&mut self, field: &str, v: Patch<T>) -> Patch<T> {
        if matches!(v, Patch::Null) {
            self.error(field, format!("{field} must not be null"));
            return Patch::Absent;
        }
        v
    }

    /// Takes in `nested`, the reader of the object in `field`: its problems under
    /// `field.` and its normalized value as `field`.
    pub fn nested(&mut self, field: &str, mut nested: Fields) {
        nested.flag_unknown();
        for (k, v) in nested.details {
            self.details
                .entry(format!("{field}.{k}"))
                .or_default()
                .extend(v);
        }
        self.out.insert(field.to_owned(), Value::Object(nested.out));
    }

    /// Whether the body has `field` (with any value, `null` included).
    pub fn has(&self, field: &str) -> bool {
        self.map.contains_key(field)
    }

    /// Whether nothing is wrong so far, unknown fields included.
    pub fn is_clean(&self) -> bool {
        self.details.is_empty() && self.map.keys().all(|k| self.seen.contains(k))
    }

    fn flag_unknown(&mut self) {
        let unknown: Vec<String> = self
            .map
            .keys()
            .filter(|k| !self.seen.contains(*k))
            .cloned()
            .collect();
        for k in unknown {
            self.error(&k, format!("Unknown field: {k}"));
        }
    }

    /// Unknown fields become errors; returns every problem found, or nothing.
    pub fn finish(mut self) -> Result<(), ApiError> {
        self.flag_unknown();
        if self.details.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self.details))
        }
    }

    /// As [`Fields::finish`], then the request's DTO from the normalized fields. The DTO's
    /// own checks (`deny_unknown_fields`, required fields, types) are a backstop: they fail
    /// only if the DTO and this reader disagree, and then it is a 400 all the same.
    pub fn finish_into<T: DeserializeOwned>(mut self) -> Result<T, ApiError> {
        self.flag_unknown();
        if !self.details.is_empty() {
            return Err(ApiError::Validation(self.details));
        }
        serde_json::from_value(Value::Object(self.out)).map_err(|e| {
            log::warn!("a body the reader accepted does not fit its DTO: {e}");
            ApiError::field(
                "body",
                format!("The request body does not match its schema: {e}"),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    struct Dto {
        name: String,
        nick_name: Option<String>,
        limits: Option<Limits>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    struct Limits {
        max_users: Option<i64>,
    }

    fn trimmed(s: &str) -> Result<Option<String>, String> {
        let t = s.trim();
        Ok((!t.is_empty()).then(|| t.to_owned()))
    }

    #[test]
    fn the_dto_gets_the_normalized_values() {
        let body = json!({"name": "  Jo ", "nickName": "", "limits": {"maxUsers": 5}});
        let mut f = Fields::new(body).unwrap();
        f.string("name", |s| Ok(s.trim().to_owned()));
        f.string("nickName", trimmed);
        let Patch::Value(v) = f.object("limits") else {
            panic!("limits")
        };
        let mut l = Fields::new(v).unwrap();
        l.integer("maxUsers", 10);
        f.nested("limits", l);
        assert!(f.is_clean());
        let dto: Dto = f.finish_into().unwrap();
        assert_eq!(
            dto,
            Dto {
                name: "Jo".into(),
                nick_name: None,
                limits: Some(Limits { max_users: Some(5) })
            }
        );
    }

    #[test]
    fn nested_problems_and_unknown_fields_are_named_with_their_prefix() {
        let mut f =
            Fields::new(json!({"name": "Jo", "limits": {"maxUsers": -1, "seats": 2}})).unwrap();
        f.string("name", |s| Ok(s.to_owned()));
        let Patch::Value(v) = f.object("limits") else {
            panic!("limits")
        };
        let mut l = Fields::new(v).unwrap();
        l.integer("maxUsers", 10);
        f.nested("limits", l);
        assert!(!f.is_clean());
        let Err(ApiError::Validation(d)) = f.finish_into::<Dto>() else {
            panic!("expected validation")
        };
        assert_eq!(
            d["limits.maxUsers"],
            vec!["maxUsers must be an integer from 0 to 10"]
        );
        assert_eq!(d["limits.seats"], vec!["Unknown field: seats"]);
    }

    #[test]
    fn an_unread_field_is_not_clean() {
        let f = Fields::new(json!({"x": 1})).unwrap();
        assert!(!f.is_clean());
    }

    #[test]
    fn a_body_the_reader_passes_but_the_dto_refuses_is_still_a_400() {
        // The reader forgot to require `name`: the DTO is the backstop.
        let f = Fields::new(json!({})).unwrap();
        let Err(ApiError::Validation(d)) = f.finish_into::<Dto>() else {
            panic!("expected validation")
        };
        assert!(d["body"][0].starts_with("The request body does not match its schema"));
    }

    #[test]
    fn collects_every_problem_and_unknown_fields() {
        let mut f = Fields::new(json!({"name": 5, "emial": "x", "phone": null})).unwrap();
        let name = f.string("name", |s| Ok(s.to_owned()));
        assert_eq!(f.require("name", name, "Name is required"), None);
        assert_eq!(f.string("phone", |s| Ok(s.to_owned())), Patch::Null);
        let email = f.string("email", |s| Ok(s.to_owned()));
        assert_eq!(f.require("email", email, "Email is required"), None);
        let Err(ApiError::Validation(d)) = f.finish() else {
            panic!("expected validation")
        };
        assert_eq!(d["name"], vec!["name must be a string"]);
        assert_eq!(d["email"], vec!["Email is required"]);
        assert_eq!(d["emial"], vec!["Unknown field: emial"]);
    }
}
