//! OpenAI's OpenAPI spec (vendored at `vendor/specs/openai/openapi.yaml`) and a validator for the part of
//! JSON Schema it uses, `$ref`s resolved generically, so requests and responses can be checked
//! against the operation's own schemas rather than hand-copied field lists.
//!
//! Deliberate leniencies, each because the spec relies on it:
//! - `oneOf` passes when at least one member matches: the spec's unions overlap (a
//!   `diarized_json` body also satisfies the open `CreateTranscriptionResponseJson`), so
//!   "exactly one" would reject every valid answer.
//! - `format`, `pattern` and `discriminator` are not checked (no regex engine here; the
//!   discriminated members are validated through their `oneOf`/`anyOf` anyway).
//!
//! Any other keyword the validator does not know is reported as an error, so a spec update that
//! starts using one cannot pass unchecked.

use std::path::PathBuf;
use std::sync::OnceLock;

use serde_json::Value;

/// The parsed spec, once per test binary. A missing file fails the test: the spec is part of
/// the repository.
pub fn spec() -> &'static Spec {
    static SPEC: OnceLock<Spec> = OnceLock::new();
    SPEC.get_or_init(|| {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../vendor/specs/openai/openapi.yaml");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("the OpenAI spec {} is missing: {e}", path.display()));
        let Lenient(root) = serde_yaml_ng::from_str(&text).expect("the spec is valid YAML");
        Spec { root }
    })
}

/// A JSON value read from YAML, with integers beyond 64 bits (the spec bounds `seed` by ±2⁶³
/// written out in decimal) kept as floats instead of failing.
struct Lenient(Value);

impl<'de> serde::Deserialize<'de> for Lenient {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(LenientVisitor).map(Lenient)
    }
}

struct LenientVisitor;

impl<'de> serde::de::Visitor<'de> for LenientVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_i128<E>(self, v: i128) -> Result<Value, E> {
        Ok((v as f64).into())
    }
    fn visit_u128<E>(self, v: u128) -> Result<Value, E> {
        Ok((v as f64).into())
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Lenient(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = serde_json::Map::new();
        while let Some((Lenient(key), Lenient(value))) = map.next_entry()? {
            let key = match key {
                Value::String(key) => key,
                other => other.to_string(),
            };
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

pub struct Spec {
    root: Value,
}

/// Keywords that only annotate.
const ANNOTATIONS: [&str; 13] = [
    "description",
    "title",
    "example",
    "examples",
    "default",
    "deprecated",
    "readOnly",
    "writeOnly",
    "externalDocs",
    "format",
    "pattern",
    "discriminator",
    // Used once in the spec (`logprobs`), with no meaning in JSON Schema.
    "optional",
];

impl Spec {
    /// The operation with `operationId == id`.
    pub fn operation(&self, id: &str) -> &Value {
        self.root["paths"]
            .as_object()
            .unwrap()
            .values()
            .flat_map(|item| item.as_object().unwrap().values())
            .find(|op| op["operationId"] == id)
            .unwrap_or_else(|| panic!("no operation {id}"))
    }

    pub fn request_schema(&self, id: &str, content_type: &str) -> &Value {
        &self.operation(id)["requestBody"]["content"][content_type]["schema"]
    }

    pub fn response_schema(&self, id: &str, status: &str, content_type: &str) -> &Value {
        &self.operation(id)["responses"][status]["content"][content_type]["schema"]
    }

    pub fn component(&self, name: &str) -> &Value {
        let schema = &self.root["components"]["schemas"][name];
        assert!(schema.is_object(), "no component {name}");
        schema
    }

    fn resolve(&self, reference: &str) -> &Value {
        let pointer = reference
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("non-local $ref {reference}"));
        self.root
            .pointer(pointer)
            .unwrap_or_else(|| panic!("dangling $ref {reference}"))
    }

    /// Every way `value` violates `schema`, as `path: problem` lines.
    pub fn validate(&self, schema: &Value, value: &Value) -> Vec<String> {
        let mut errors = Vec::new();
        self.check(schema, value, "$", &mut errors);
        errors
    }

    /// Follow `$ref`s down to the schema of the property `name` of an object schema.
    pub fn property<'a>(&'a self, schema: &'a Value, name: &str) -> Option<&'a Value> {
        let mut schema = schema;
        while let Some(reference) = schema["$ref"].as_str() {
            schema = self.resolve(reference);
        }
        schema["properties"].get(name)
    }

    fn check(&self, schema: &Value, value: &Value, path: &str, errors: &mut Vec<String>) {
        let map = match schema {
            Value::Bool(true) => return,
            Value::Bool(false) => return errors.push(format!("{path}: no value is allowed")),
            Value::Object(map) => map,
            other => return errors.push(format!("{path}: schema {other} is not a schema")),
        };
        if map.get("nullable") == Some(&Value::Bool(true)) && value.is_null() {
            return;
        }
        for (keyword, arg) in map {
            match keyword.as_str() {
                "$ref" => self.check(self.resolve(arg.as_str().unwrap()), value, path, errors),
                "nullable" | "required" | "additionalProperties" => {}
                "type" => {
                    let types: Vec<&str> = match arg {
                        Value::String(t) => vec![t.as_str()],
                        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
                        _ => vec![],
                    };
                    if !types.iter().any(|t| has_type(value, t)) {
                        errors.push(format!("{path}: expected {types:?}, got {value}"));
                    }
                }
                "enum" => {
                    if !arg.as_array().unwrap().contains(value) {
                        errors.push(format!("{path}: {value} is not one of {arg}"));
                    }
                }
                "const" => {
                    if arg != value {
                        errors.push(format!("{path}: {value} is not {arg}"));
                    }
                }
                "properties" => {
                    let Value::Object(object) = value else {
                        continue;
                    };
                    let properties = arg.as_object().unwrap();
                    for (name, field) in object {
                        match properties.get(name) {
                            Some(property) => {
                                self.check(property, field, &format!("{path}.{name}"), errors);
                            }
                            None => match map.get("additionalProperties") {
                                Some(Value::Bool(false)) => {
                                    errors.push(format!("{path}: unexpected property {name:?}"));
                                }
                                Some(extra @ Value::Object(_)) => {
                                    self.check(extra, field, &format!("{path}.{name}"), errors);
                                }
                                _ => {}
                            },
                        }
                    }
                    for name in map
                        .get("required")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                    {
                        let name = name.as_str().unwrap();
                        if !object.contains_key(name) {
                            errors.push(format!("{path}: missing required property {name:?}"));
                        }
                    }
                }
                "items" => {
                    if let Value::Array(items) = value {
                        for (i, item) in items.iter().enumerate() {
                            self.check(arg, item, &format!("{path}[{i}]"), errors);
                        }
                    }
                }
                "minItems" | "maxItems" => {
                    if let Value::Array(items) = value {
                        let bound = arg.as_u64().unwrap() as usize;
                        let ok = if keyword == "minItems" {
                            items.len() >= bound
                        } else {
                            items.len() <= bound
                        };
                        if !ok {
                            errors.push(format!(
                                "{path}: {} items violates {keyword} {bound}",
                                items.len()
                            ));
                        }
                    }
                }
                "minLength" | "maxLength" => {
                    if let Value::String(s) = value {
                        let bound = arg.as_u64().unwrap() as usize;
                        let len = s.chars().count();
                        let ok = if keyword == "minLength" {
                            len >= bound
                        } else {
                            len <= bound
                        };
                        if !ok {
                            errors.push(format!("{path}: length {len} violates {keyword} {bound}"));
                        }
                    }
                }
                "minimum" | "maximum" | "exclusiveMinimum" | "exclusiveMaximum" => {
                    if let (Some(n), Some(bound)) = (value.as_f64(), arg.as_f64()) {
                        let ok = match keyword.as_str() {
                            "minimum" => n >= bound,
                            "maximum" => n <= bound,
                            "exclusiveMinimum" => n > bound,
                            _ => n < bound,
                        };
                        if !ok {
                            errors.push(format!("{path}: {n} violates {keyword} {bound}"));
                        }
                    }
                }
                "anyOf" | "oneOf" => {
                    let members = arg.as_array().unwrap();
                    let mut failures = Vec::new();
                    let matched = members.iter().any(|member| {
                        let found = self.validate(member, value);
                        let ok = found.is_empty();
                        failures.extend(found);
                        ok
                    });
                    if !matched {
                        errors.push(format!(
                            "{path}: matches no member of {keyword}: [{}]",
                            failures.join("; ")
                        ));
                    }
                }
                "allOf" => {
                    for member in arg.as_array().unwrap() {
                        self.check(member, value, path, errors);
                    }
                }
                k if k.starts_with("x-") || ANNOTATIONS.contains(&k) => {}
                other => errors.push(format!("{path}: the validator does not know `{other}`")),
            }
        }
        // `required` without `properties`.
        if !map.contains_key("properties")
            && let (Some(required), Value::Object(object)) = (map.get("required"), value)
        {
            for name in required.as_array().unwrap() {
                if !object.contains_key(name.as_str().unwrap()) {
                    errors.push(format!("{path}: missing required property {name}"));
                }
            }
        }
    }

    /// A multipart form as the emulator logged it (`fields: [[name, value]]`, `files: [...]`)
    /// turned into the JSON object the operation's `multipart/form-data` schema describes:
    /// `name[]` fields repeat into an array under `name`; a value that is not valid as a string
    /// for its property is read as JSON (numbers, booleans, `server_vad` objects); files become
    /// strings, as `format: binary` says.
    pub fn form_as_json(&self, schema: &Value, logged: &Value) -> Value {
        let mut object = serde_json::Map::new();
        for field in logged["fields"].as_array().unwrap() {
            let (name, text) = (field[0].as_str().unwrap(), field[1].as_str().unwrap());
            let (key, repeated) = match name.strip_suffix("[]") {
                Some(key) => (key, true),
                None => (name, false),
            };
            let property = self.property(schema, key);
            let item_schema = match property {
                Some(p) if repeated => p.get("items").unwrap_or(p),
                Some(p) => p,
                None => &Value::Bool(true),
            };
            let as_string = Value::String(text.to_owned());
            let value = if self.validate(item_schema, &as_string).is_empty() {
                as_string
            } else {
                serde_json::from_str(text).unwrap_or(as_string)
            };
            if repeated {
                object
                    .entry(key.to_owned())
                    .or_insert_with(|| Value::Array(Vec::new()))
                    .as_array_mut()
                    .unwrap()
                    .push(value);
            } else {
                object.insert(key.to_owned(), value);
            }
        }
        for file in logged["files"].as_array().unwrap() {
            object.insert(
                file["name"].as_str().unwrap().to_owned(),
                Value::String(format!("<{} bytes>", file["size"])),
            );
        }
        Value::Object(object)
    }
}

fn has_type(value: &Value, kind: &str) -> bool {
    match kind {
        "string" => value.is_string(),
        "number" => value.is_number(),
        "integer" => {
            value.is_i64() || value.is_u64() || value.as_f64().is_some_and(|f| f.fract() == 0.0)
        }
        "boolean" => value.is_boolean(),
        "object" => value.is_object(),
        "array" => value.is_array(),
        "null" => value.is_null(),
        _ => false,
    }
}
