//! The list filters on what integrations keep of their own: an exact external id and exact
//! values of top-level metadata keys (`metadata[plan]=gold`), the same answers on both engines.

use crate::storage::sql::{Conn, Value};

/// The filters of a list beyond search and role; the default filters nothing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Lookup {
    /// Exactly this external id.
    pub external_id: Option<String>,
    /// `(key, value)`: the top-level `key` of metadata holds a string equal to `value`, a
    /// number equal to `value` read as a JSON number, or the boolean `value` names.
    pub metadata: Vec<(String, String)>,
}

impl Lookup {
    pub fn is_empty(&self) -> bool {
        self.external_id.is_none() && self.metadata.is_empty()
    }

    /// Appends the conditions on `alias`'s `external_id` and `metadata` columns, with their
    /// arguments (anonymous `?`, in order). Keys are checked by the HTTP layer (letters,
    /// digits, `_`, `-`) and are bound as arguments all the same; never formatted in.
    ///
    /// Types are compared exactly: SQLite's `json_type` and PostgreSQL's `jsonb_typeof` tell a
    /// string `"5"` from the number 5 and the boolean true from the number 1; numbers compare
    /// as numbers (`5` matches `5.0`).
    pub fn push(
        &self,
        conn: &Conn<'_>,
        alias: &str,
        clauses: &mut Vec<String>,
        args: &mut Vec<Value>,
    ) {
        if let Some(e) = &self.external_id {
            clauses.push(format!("{alias}.external_id = ?"));
            args.push(e.clone().into());
        }
        for (key, value) in &self.metadata {
            let number = serde_json::from_str::<serde_json::Number>(value).ok();
            let boolean = matches!(value.as_str(), "true" | "false").then(|| value.clone());
            let m = format!("{alias}.metadata");
            if conn.is_postgres() {
                let j = format!("(CAST({m} AS jsonb) -> CAST(? AS TEXT))");
                clauses.push(format!(
                    "(CASE jsonb_typeof({j}) \
                     WHEN 'string' THEN ({j} #>> '{{}}') = CAST(? AS TEXT) \
                     WHEN 'number' THEN CAST({j} #>> '{{}}' AS numeric) = CAST(CAST(? AS TEXT) AS numeric) \
                     WHEN 'boolean' THEN ({j} #>> '{{}}') = CAST(? AS TEXT) \
                     ELSE false END)"
                ));
                // `{j}` holds one `?` (the key) each time it appears.
                args.push(key.clone().into());
                args.push(key.clone().into());
                args.push(value.clone().into());
                args.push(key.clone().into());
                args.push(
                    number
                        .map(|n| n.to_string())
                        .map_or(Value::Null, Value::Text),
                );
                args.push(key.clone().into());
                args.push(boolean.map_or(Value::Null, Value::Text));
            } else {
                let path = format!("$.\"{key}\"");
                clauses.push(format!(
                    "(CASE json_type({m}, ?) \
                     WHEN 'text' THEN json_extract({m}, ?) = ? \
                     WHEN 'integer' THEN json_extract({m}, ?) = ? \
                     WHEN 'real' THEN json_extract({m}, ?) = ? \
                     WHEN 'true' THEN ? = 'true' \
                     WHEN 'false' THEN ? = 'false' \
                     ELSE 0 END)"
                ));
                let n = match number {
                    Some(n) => match (n.as_i64(), n.as_f64()) {
                        (Some(i), _) => Value::Int(i),
                        (None, Some(f)) => Value::Real(f),
                        (None, None) => Value::Null,
                    },
                    None => Value::Null,
                };
                let b = boolean.map_or(Value::Null, Value::Text);
                args.push(path.clone().into());
                args.push(path.clone().into());
                args.push(value.clone().into());
                args.push(path.clone().into());
                args.push(n.clone());
                args.push(path.into());
                args.push(n);
                args.push(b.clone());
                args.push(b);
            }
        }
    }
}
