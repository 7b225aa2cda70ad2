//! JSON Schemas in chat requests: the strict-mode rules OpenAI enforces, and a deterministic
//! value that satisfies a schema.

use serde_json::{Map, Value, json};

/// Keywords strict mode rejects.
const REJECTED: [&str; 15] = [
    "allOf",
    "oneOf",
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
    "uniqueItems",
];

/// String formats strict mode supports.
const FORMATS: [&str; 9] = [
    "date-time",
    "time",
    "date",
    "duration",
    "email",
    "hostname",
    "ipv4",
    "ipv6",
    "uuid",
];

/// Nesting limit of strict schemas.
const MAX_DEPTH: usize = 10;

/// Why a strict schema is refused: the context path and the rule, worded like OpenAI's
/// `Invalid schema for response_format '<name>': In context=(...), <rule>.`
pub(crate) fn check_strict(root: &Value) -> Result<(), String> {
    if root.get("type") != Some(&json!("object")) {
        return Err(
            "In context=(), schema must be a JSON Schema of 'type: \"object\"', got something else"
                .into(),
        );
    }
    check(root, root, &mut Vec::new(), 0)
}

fn context(path: &[String]) -> String {
    let quoted: Vec<String> = path.iter().map(|p| format!("'{p}'")).collect();
    let joined = quoted.join(", ");
    if path.len() == 1 {
        format!("({joined},)")
    } else {
        format!("({joined})")
    }
}

fn check(node: &Value, root: &Value, path: &mut Vec<String>, depth: usize) -> Result<(), String> {
    let at = |path: &[String], rule: &str| format!("In context={}, {rule}", context(path));
    if depth > MAX_DEPTH {
        return Err(at(path, "schema is nested too deeply (at most 10 levels)"));
    }
    let Value::Object(map) = node else {
        return Err(at(path, "schema must be an object"));
    };
    for keyword in REJECTED {
        if map.contains_key(keyword) {
            return Err(at(path, &format!("'{keyword}' is not permitted")));
        }
    }
    if let Some(Value::String(format)) = map.get("format")
        && !FORMATS.contains(&format.as_str())
    {
        return Err(at(path, &format!("'{format}' is not a valid format")));
    }
    if let Some(Value::String(reference)) = map.get("$ref") {
        if resolve(root, reference).is_none() {
            return Err(at(
                path,
                &format!("reference to component '{reference}' which was not found in the schema"),
            ));
        }
        return Ok(());
    }
    let is_object = map.get("type") == Some(&json!("object"))
        || map
            .get("type")
            .and_then(Value::as_array)
            .is_some_and(|t| t.contains(&json!("object")));
    if is_object {
        if map.get("additionalProperties") != Some(&Value::Bool(false)) {
            return Err(at(
                path,
                "'additionalProperties' is required to be supplied and to be false",
            ));
        }
        let properties = map.get("properties").and_then(Value::as_object);
        let required: Vec<&str> = map
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        for name in properties.into_iter().flat_map(Map::keys) {
            if !required.contains(&name.as_str()) {
                return Err(at(
                    path,
                    &format!(
                        "'required' is required to be supplied and to be an array including every key in properties. Missing '{name}'"
                    ),
                ));
            }
        }
        for (name, property) in properties.into_iter().flatten() {
            path.extend(["properties".to_owned(), name.clone()]);
            check(property, root, path, depth + 1)?;
            path.truncate(path.len() - 2);
        }
    }
    if let Some(items) = map.get("items") {
        path.push("items".to_owned());
        check(items, root, path, depth + 1)?;
        path.pop();
    }
    for (i, member) in map
        .get("anyOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        path.extend(["anyOf".to_owned(), i.to_string()]);
        check(member, root, path, depth + 1)?;
        path.truncate(path.len() - 2);
    }
    for key in ["$defs", "definitions"] {
        for (name, def) in map
            .get(key)
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            path.extend([key.to_owned(), name.clone()]);
            check(def, root, path, depth)?;
            path.truncate(path.len() - 2);
        }
    }
    Ok(())
}

/// A local reference (`#/$defs/Name`, `#`), as a JSON pointer into the root.
fn resolve<'a>(root: &'a Value, reference: &str) -> Option<&'a Value> {
    let pointer = reference.strip_prefix('#')?;
    root.pointer(pointer)
}

/// A value satisfying `schema`, the same one every time.
pub(crate) fn generate(schema: &Value, root: &Value) -> Value {
    generate_at(schema, root, "value", 0)
}

fn generate_at(schema: &Value, root: &Value, name: &str, depth: usize) -> Value {
    let Value::Object(map) = schema else {
        return Value::Null;
    };
    if let Some(Value::String(reference)) = map.get("$ref") {
        return match resolve(root, reference) {
            Some(target) if depth < 2 * MAX_DEPTH => generate_at(target, root, name, depth + 1),
            _ => Value::Null,
        };
    }
    if let Some(value) = map.get("const") {
        return value.clone();
    }
    if let Some(first) = map
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
    {
        return first.clone();
    }
    if let Some(members) = map.get("anyOf").and_then(Value::as_array) {
        let not_null = |m: &&Value| m.get("type") != Some(&json!("null"));
        // Recursive schemas end in their null option.
        let pick = if depth < MAX_DEPTH {
            members.iter().find(not_null).or(members.first())
        } else {
            members.iter().find(|m| !not_null(m)).or(members.first())
        };
        return pick.map_or(Value::Null, |m| generate_at(m, root, name, depth + 1));
    }
    let kind = match map.get("type") {
        Some(Value::String(t)) => t.as_str(),
        Some(Value::Array(types)) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("null"),
        _ if map.contains_key("properties") => "object",
        _ => "null",
    };
    match kind {
        "object" => {
            let properties = map.get("properties").and_then(Value::as_object);
            Value::Object(
                properties
                    .into_iter()
                    .flatten()
                    .map(|(key, property)| {
                        (key.clone(), generate_at(property, root, key, depth + 1))
                    })
                    .collect(),
            )
        }
        "array" => {
            let count = map
                .get("minItems")
                .and_then(Value::as_u64)
                .unwrap_or(1)
                .max(1);
            let item = map.get("items").map_or(Value::Null, |items| {
                generate_at(items, root, name, depth + 1)
            });
            Value::Array(vec![item; count as usize])
        }
        "string" => match map.get("format").and_then(Value::as_str) {
            Some("date-time") => json!("2025-01-01T00:00:00Z"),
            Some("date") => json!("2025-01-01"),
            Some("time") => json!("00:00:00"),
            Some("email") => json!("sample@example.com"),
            Some("uuid") => json!("00000000-0000-4000-8000-000000000000"),
            _ => json!(format!("sample {name}")),
        },
        "integer" => json!(map.get("minimum").and_then(Value::as_i64).unwrap_or(1)),
        "number" => json!(map.get("minimum").and_then(Value::as_f64).unwrap_or(1.5)),
        "boolean" => json!(true),
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strict_object(properties: Value) -> Value {
        let required: Vec<String> = properties.as_object().unwrap().keys().cloned().collect();
        json!({"type": "object", "properties": properties, "required": required, "additionalProperties": false})
    }

    #[test]
    fn generated_values_follow_the_schema() {
        let schema = json!({
            "type": "object",
            "properties": {
                "summary": {"type": "string"},
                "sentiment": {"$ref": "#/$defs/Sentiment"},
                "score": {"type": "integer"},
                "follow_up": {"type": ["string", "null"]},
                "items": {"type": "array", "items": {"anyOf": [{"$ref": "#/$defs/Item"}, {"type": "null"}]}},
                "urgent": {"type": "boolean"},
            },
            "$defs": {
                "Sentiment": {"enum": ["positive", "negative"]},
                "Item": {"type": "object", "properties": {"next": {"anyOf": [{"$ref": "#/$defs/Item"}, {"type": "null"}]}}}
            }
        });
        let value = generate(&schema, &schema);
        assert_eq!(value["summary"], json!("sample summary"));
        assert_eq!(value["sentiment"], json!("positive"));
        assert_eq!(value["score"], json!(1));
        assert_eq!(value["follow_up"], json!("sample follow_up"));
        assert_eq!(value["urgent"], json!(true));
        // Recursion ends.
        assert!(value["items"][0]["next"].is_object());
    }

    #[test]
    fn strict_rules_are_enforced() {
        let ok = strict_object(
            json!({"a": {"type": "string"}, "b": {"type": "array", "items": strict_object(json!({"c": {"type": "number"}}))}}),
        );
        assert_eq!(check_strict(&ok), Ok(()));

        let mut open = ok.clone();
        open["properties"]["b"]["items"]
            .as_object_mut()
            .unwrap()
            .remove("additionalProperties");
        let error = check_strict(&open).unwrap_err();
        assert!(error.contains("('properties', 'b', 'items')"), "{error}");
        assert!(error.contains("additionalProperties"), "{error}");

        let mut partial = ok.clone();
        partial["required"] = json!(["a"]);
        assert!(check_strict(&partial).unwrap_err().contains("Missing 'b'"));

        let mut one_of = ok.clone();
        one_of["properties"]["a"] = json!({"oneOf": [{"type": "string"}]});
        assert!(
            check_strict(&one_of)
                .unwrap_err()
                .contains("'oneOf' is not permitted")
        );

        let mut dangling = ok.clone();
        dangling["properties"]["a"] = json!({"$ref": "#/$defs/Missing"});
        assert!(check_strict(&dangling).unwrap_err().contains("not found"));

        assert!(check_strict(&json!({"type": "array"})).is_err());
        let mut format = ok;
        format["properties"]["a"]["format"] = json!("uint32");
        assert!(check_strict(&format).is_err());
    }
}
