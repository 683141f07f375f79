//! Strict reading of a JSON request body: every field problem is collected, wrong types and
//! unknown fields are errors (a typo must not pass silently), absent and `null` are told apart.

use std::collections::BTreeSet;

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
    details: Details,
}

impl Fields {
    /// The body must be a JSON object.
    pub fn new(body: Value) -> Result<Self, ApiError> {
        match body {
            Value::Object(map) => Ok(Self {
                map,
                seen: BTreeSet::new(),
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
            Some(Value::Null) => Patch::Null,
            Some(v) => Patch::Value(v.clone()),
        }
    }

    /// A string field, parsed by `parse`; a wrong type or a parse failure is recorded.
    pub fn string<T>(
        &mut self,
        field: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Patch<T> {
        match self.take(field) {
            Patch::Absent => Patch::Absent,
            Patch::Null => Patch::Null,
            Patch::Value(Value::String(s)) => match parse(&s) {
                Ok(v) => Patch::Value(v),
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

    /// A non-negative integer field.
    pub fn integer(&mut self, field: &str, max: i64) -> Patch<i64> {
        match self.take(field) {
            Patch::Absent => Patch::Absent,
            Patch::Null => Patch::Null,
            Patch::Value(Value::Number(n)) => match n.as_i64() {
                Some(i) if (0..=max).contains(&i) => Patch::Value(i),
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

    /// Merges the problems of a nested object under `prefix.`.
    pub fn merge_nested(&mut self, prefix: &str, nested: Details) {
        for (k, v) in nested {
            self.details
                .entry(format!("{prefix}.{k}"))
                .or_default()
                .extend(v);
        }
    }

    /// Unknown fields become errors; returns every problem found, or nothing.
    pub fn finish(mut self) -> Result<(), ApiError> {
        let unknown: Vec<String> = self
            .map
            .keys()
            .filter(|k| !self.seen.contains(*k))
            .cloned()
            .collect();
        for k in unknown {
            self.error(&k, format!("Unknown field: {k}"));
        }
        if self.details.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self.details))
        }
    }

    /// Like [`Fields::finish`], but hands the problems back for nesting.
    pub fn finish_nested(mut self) -> Details {
        let unknown: Vec<String> = self
            .map
            .keys()
            .filter(|k| !self.seen.contains(*k))
            .cloned()
            .collect();
        for k in unknown {
            self.error(&k, format!("Unknown field: {k}"));
        }
        self.details
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
