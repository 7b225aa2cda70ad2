//! Tool-call arguments invented from a tool's JSON-schema `parameters`: a plausible value for
//! every declared property, honouring `enum`, `const`, `default` and numeric minimums.

use serde_json::{Map, Value, json};

/// An example value of `schema`; `name` is the property it is for (used in strings).
pub(crate) fn example(schema: &Value, name: &str) -> Value {
    for keyword in ["const", "default"] {
        if let Some(value) = schema.get(keyword) {
            return value.clone();
        }
    }
    if let Some(first) = schema["enum"].as_array().and_then(|values| values.first()) {
        return first.clone();
    }
    for keyword in ["anyOf", "oneOf"] {
        if let Some(first) = schema[keyword].as_array().and_then(|options| {
            options
                .iter()
                .find(|option| option["type"] != "null")
                .or(options.first())
        }) {
            return example(first, name);
        }
    }
    let kind = match &schema["type"] {
        Value::String(kind) => kind.as_str(),
        Value::Array(kinds) => kinds
            .iter()
            .filter_map(Value::as_str)
            .find(|kind| *kind != "null")
            .unwrap_or("null"),
        _ if schema.get("properties").is_some() => "object",
        _ => "string",
    };
    match kind {
        "object" => {
            let mut object = Map::new();
            if let Some(properties) = schema["properties"].as_object() {
                for (property, sub) in properties {
                    object.insert(property.clone(), example(sub, property));
                }
            }
            Value::Object(object)
        }
        "array" => {
            let count = schema["minItems"].as_u64().unwrap_or(1).max(1);
            let item = example(&schema["items"], name);
            Value::Array(vec![item; count as usize])
        }
        "integer" => json!(schema["minimum"].as_i64().unwrap_or(1)),
        "number" => json!(schema["minimum"].as_f64().unwrap_or(1.0)),
        "boolean" => json!(true),
        "null" => Value::Null,
        _ => json!(match schema["format"].as_str() {
            Some("date-time") => "2025-01-01T12:00:00Z".to_owned(),
            Some("date") => "2025-01-01".to_owned(),
            Some("email") => "caller@example.com".to_owned(),
            _ if name.is_empty() => "sandbox".to_owned(),
            _ => format!("sandbox {name}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_property_gets_a_value_of_its_type() {
        let schema = json!({
            "type": "object",
            "properties": {
                "reason": { "type": "string" },
                "department": { "type": "string", "enum": ["sales", "support"] },
                "urgent": { "type": "boolean" },
                "priority": { "type": "integer", "minimum": 2 },
                "score": { "type": ["number", "null"] },
                "tags": { "type": "array", "items": { "type": "string" }, "minItems": 2 },
                "when": { "type": "string", "format": "date-time" },
                "contact": { "anyOf": [{ "type": "null" }, { "type": "object", "properties": { "email": { "type": "string", "format": "email" } } }] },
                "mode": { "const": "warm" }
            },
            "required": ["reason"]
        });
        assert_eq!(
            example(&schema, ""),
            json!({
                "reason": "sandbox reason",
                "department": "sales",
                "urgent": true,
                "priority": 2,
                "score": 1.0,
                "tags": ["sandbox tags", "sandbox tags"],
                "when": "2025-01-01T12:00:00Z",
                "contact": { "email": "caller@example.com" },
                "mode": "warm"
            })
        );
        assert_eq!(example(&json!({ "type": "object" }), ""), json!({}));
    }
}
