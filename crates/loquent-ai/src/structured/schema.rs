//! JSON Schemas that OpenAI's strict structured output accepts.
//!
//! Strict mode constrains decoding to the schema, and accepts only a subset of JSON Schema: every
//! object lists all its properties in `required` and sets `additionalProperties: false`; the
//! root is an object; composition is `anyOf` only; optional values are nullable, not absent.
//! A schema derived from a Rust type by `schemars` breaks several of these rules (`oneOf` for
//! documented enums, `const`, `format: "uint32"`, `minimum`, `default`, optional fields left out
//! of `required`), so [`StrictSchema`] rewrites it, and refuses what cannot be expressed (maps,
//! tuples, `not`, conditionals) instead of sending a schema the API would reject.

use schemars::JsonSchema;
use serde_json::{Map, Value};

/// A schema, and its name, in the form strict structured output accepts.
#[derive(Debug, Clone, PartialEq)]
pub struct StrictSchema {
    name: String,
    schema: Value,
}

/// A schema cannot be used in strict mode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    #[error("schema name {0:?} must be 1–64 characters of a-z, A-Z, 0-9, _ or -")]
    InvalidName(String),
    #[error("the root of a strict schema must be an object, not {0}")]
    RootNotObject(String),
    #[error("strict mode cannot express {what} (at {path})")]
    Unsupported { path: String, what: String },
}

/// Keywords strict mode does not accept and that we cannot rewrite away without changing what
/// the schema means.
const STRUCTURAL: [&str; 12] = [
    "not",
    "if",
    "then",
    "else",
    "patternProperties",
    "prefixItems",
    "dependentSchemas",
    "dependentRequired",
    "unevaluatedProperties",
    "unevaluatedItems",
    "propertyNames",
    "contains",
];

/// What we keep; everything else is an annotation or a constraint the API rejects or ignores
/// (`format`, `minimum`, `default`, `title`, `examples`...). Dropping a constraint is safe: the
/// answer is still deserialized into the Rust type, which checks what matters to it.
const KEPT: [&str; 9] = [
    "type",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "enum",
    "anyOf",
    "$defs",
    "description",
];

impl StrictSchema {
    /// The schema of `T`, made strict, named after the type.
    pub fn of<T: JsonSchema>() -> Result<Self, SchemaError> {
        let generated = schemars::SchemaGenerator::default().into_root_schema_for::<T>();
        let name = sanitize_name(&T::schema_name());
        Self::new(name, generated.to_value())
    }

    /// Make `schema` strict. For schemas that are not derived from a type (e.g. analyzers
    /// configured at run time).
    pub fn new(name: impl Into<String>, mut schema: Value) -> Result<Self, SchemaError> {
        let name = name.into();
        let name_ok = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !name_ok {
            return Err(SchemaError::InvalidName(name));
        }
        make_strict(&mut schema, "#")?;
        let root_type = schema.get("type").cloned().unwrap_or(Value::Null);
        if root_type != "object" {
            return Err(SchemaError::RootNotObject(root_type.to_string()));
        }
        Ok(Self { name, schema })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn schema(&self) -> &Value {
        &self.schema
    }
}

/// `Option<Vec<Item>>` is named `Nullable_Array_of_Item` and the like: keep the allowed
/// characters, turn the others into `_`, and cut at 64.
fn sanitize_name(name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    if clean.is_empty() {
        "response".to_owned()
    } else {
        clean
    }
}

fn unsupported(path: &str, what: impl Into<String>) -> SchemaError {
    SchemaError::Unsupported {
        path: path.to_owned(),
        what: what.into(),
    }
}

fn make_strict(node: &mut Value, path: &str) -> Result<(), SchemaError> {
    let map = match node {
        Value::Object(map) => map,
        Value::Bool(true) => return Err(unsupported(path, "a schema that allows any value")),
        _ => return Err(unsupported(path, format!("the schema {node}"))),
    };
    for keyword in STRUCTURAL {
        if map.contains_key(keyword) {
            return Err(unsupported(path, format!("`{keyword}`")));
        }
    }
    // A single-member `allOf` is how some generators attach a description to a `$ref`.
    if let Some(all_of) = map.remove("allOf") {
        match all_of {
            Value::Array(mut members) if members.len() == 1 => {
                if let Value::Object(inner) = members.remove(0) {
                    for (k, v) in inner {
                        map.entry(k).or_insert(v);
                    }
                }
            }
            _ => return Err(unsupported(path, "`allOf`")),
        }
    }
    if let Some(one_of) = map.remove("oneOf") {
        // The members of a derived `oneOf` are disjoint (distinct constants or tags), so
        // `anyOf` means the same.
        map.insert("anyOf".into(), one_of);
    }
    if let Some(value) = map.remove("const") {
        map.insert("enum".into(), Value::Array(vec![value]));
    }
    if map.contains_key("$ref") {
        // Siblings of `$ref` (descriptions, defaults) are not accepted beside it.
        let reference = map.remove("$ref").unwrap_or(Value::Null);
        map.clear();
        map.insert("$ref".into(), reference);
        return Ok(());
    }
    map.retain(|k, _| KEPT.contains(&k.as_str()));

    let is_object = match map.get("type") {
        Some(Value::String(t)) => t == "object",
        Some(Value::Array(types)) => types.iter().any(|t| t == "object"),
        _ => map.contains_key("properties"),
    };
    if is_object {
        let open = match map.get("additionalProperties") {
            None | Some(Value::Bool(false)) => false,
            Some(_) => true,
        };
        if open {
            return Err(unsupported(path, "a map (an object with arbitrary keys)"));
        }
        map.entry("type").or_insert_with(|| "object".into());
        map.insert("additionalProperties".into(), Value::Bool(false));
        let properties = map
            .entry("properties")
            .or_insert_with(|| Value::Object(Map::new()));
        let mut names = Vec::new();
        if let Value::Object(properties) = properties {
            for (name, property) in properties.iter_mut() {
                make_strict(property, &format!("{path}/properties/{name}"))?;
                names.push(Value::String(name.clone()));
            }
        }
        // Strict mode wants every property present; an optional Rust field is an `Option`, whose
        // schema already admits null, so "present but null" deserializes to `None`.
        map.insert("required".into(), Value::Array(names));
    } else {
        map.remove("properties");
        map.remove("required");
        map.remove("additionalProperties");
    }
    match map.get_mut("items") {
        Some(Value::Array(_)) => return Err(unsupported(path, "a tuple (`items` as an array)")),
        Some(items) => make_strict(items, &format!("{path}/items"))?,
        None => {}
    }
    if let Some(Value::Array(members)) = map.get_mut("anyOf") {
        for (i, member) in members.iter_mut().enumerate() {
            make_strict(member, &format!("{path}/anyOf/{i}"))?;
        }
    }
    if let Some(Value::Object(defs)) = map.get_mut("$defs") {
        for (name, def) in defs.iter_mut() {
            make_strict(def, &format!("{path}/$defs/{name}"))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[derive(JsonSchema)]
    #[expect(dead_code, reason = "only the schema is used")]
    struct Analysis {
        /// One sentence.
        summary: String,
        sentiment: Sentiment,
        follow_up: Option<String>,
        #[serde(default)]
        topics: Vec<Topic>,
        score: u8,
    }

    #[derive(JsonSchema)]
    #[expect(dead_code, reason = "only the schema is used")]
    enum Sentiment {
        /// Happy.
        Positive,
        Neutral,
        Negative,
    }

    #[derive(JsonSchema)]
    #[expect(dead_code, reason = "only the schema is used")]
    struct Topic {
        name: String,
        confidence: Option<f32>,
    }

    /// Every object node of `schema`, wherever it is.
    fn objects(schema: &Value, out: &mut Vec<Value>) {
        match schema {
            Value::Object(map) => {
                if map.get("type") == Some(&json!("object")) {
                    out.push(schema.clone());
                }
                for (key, value) in map {
                    // Property names are not schemas.
                    if key == "properties" || key == "$defs" {
                        if let Value::Object(children) = value {
                            children.values().for_each(|c| objects(c, out));
                        }
                    } else {
                        objects(value, out);
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|i| objects(i, out)),
            _ => {}
        }
    }

    fn keywords(schema: &Value, out: &mut Vec<String>) {
        match schema {
            Value::Object(map) => {
                for (key, value) in map {
                    if key == "properties" || key == "$defs" {
                        if let Value::Object(children) = value {
                            children.values().for_each(|c| keywords(c, out));
                        }
                    } else {
                        out.push(key.clone());
                        keywords(value, out);
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|i| keywords(i, out)),
            _ => {}
        }
    }

    #[test]
    fn derived_schemas_become_strict() {
        let strict = StrictSchema::of::<Analysis>().unwrap();
        assert_eq!(strict.name(), "Analysis");
        let schema = strict.schema();
        let mut found = Vec::new();
        objects(schema, &mut found);
        assert_eq!(found.len(), 2, "{schema:#}");
        for object in &found {
            assert_eq!(object["additionalProperties"], json!(false));
            let mut required: Vec<&str> = object["required"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect();
            let mut properties: Vec<&str> = object["properties"]
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            required.sort_unstable();
            properties.sort_unstable();
            assert_eq!(required, properties);
        }
        let mut used = Vec::new();
        keywords(schema, &mut used);
        for keyword in &used {
            assert!(
                KEPT.contains(&keyword.as_str()) || keyword == "$ref",
                "{keyword} left in {schema:#}"
            );
        }
        // Optional stays nullable; documented enum variants become anyOf of enums.
        assert_eq!(
            schema["properties"]["follow_up"]["type"],
            json!(["string", "null"])
        );
        let sentiment = &schema["$defs"]["Sentiment"];
        assert!(sentiment["anyOf"].is_array(), "{sentiment:#}");
        assert_eq!(
            schema["properties"]["sentiment"],
            json!({"$ref": "#/$defs/Sentiment"})
        );
        assert_eq!(
            schema["properties"]["summary"]["description"],
            json!("One sentence.")
        );
    }

    #[test]
    fn what_strict_mode_cannot_express_is_refused() {
        let map = json!({"type": "object", "properties": {
            "tags": {"type": "object", "additionalProperties": {"type": "string"}}
        }});
        assert!(matches!(
            StrictSchema::new("x", map),
            Err(SchemaError::Unsupported { path, .. }) if path == "#/properties/tags"
        ));
        let tuple =
            json!({"type": "object", "properties": {"t": {"type": "array", "prefixItems": []}}});
        assert!(StrictSchema::new("x", tuple).is_err());
        assert_eq!(
            StrictSchema::new("x", json!({"type": "array", "items": {"type": "string"}})),
            Err(SchemaError::RootNotObject("\"array\"".into()))
        );
        assert!(matches!(
            StrictSchema::new("bad name!", json!({"type": "object"})),
            Err(SchemaError::InvalidName(_))
        ));
        assert_eq!(sanitize_name("Nullable<Vec<Item>>"), "Nullable_Vec_Item__");
    }

    #[test]
    fn handwritten_schemas_are_completed() {
        let strict = StrictSchema::new(
            "todo",
            json!({"type": "object", "title": "T", "properties": {
                "title": {"type": "string", "minLength": 1},
                "due": {"type": ["string", "null"], "format": "date"},
                "kind": {"const": "task"}
            }, "required": ["title"]}),
        )
        .unwrap();
        let mut schema = strict.schema().clone();
        let mut required: Vec<String> = serde_json::from_value(schema["required"].take()).unwrap();
        required.sort_unstable();
        assert_eq!(required, ["due", "kind", "title"]);
        assert_eq!(
            schema,
            json!({"type": "object", "additionalProperties": false,
            "required": null,
            "properties": {
                "title": {"type": "string"},
                "due": {"type": ["string", "null"]},
                "kind": {"enum": ["task"]}
            }})
        );
    }
}
