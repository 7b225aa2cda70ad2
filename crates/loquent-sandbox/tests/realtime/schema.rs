//! A small JSON-schema validator for the subset OpenAI's OpenAPI document uses, resolving
//! `#/components/schemas/…` references, so the emulator's events and our clients' events can be
//! checked against the published Realtime event schemas.
//!
//! Supported assertions: `$ref`, `type` (string or list), `enum`, `const`, `properties`,
//! `required`, `additionalProperties`, `items`, `minItems`/`maxItems`, `minLength`/`maxLength`,
//! `minimum`/`maximum` (and the exclusive forms), `allOf`, `anyOf`, `oneOf` (exactly one),
//! `not`, and OpenAPI 3.0's `nullable`. Annotations (`description`, `format`, `discriminator`,
//! `x-*` …) are ignored; so is `pattern`, which the Realtime schemas do not use.

use std::path::PathBuf;
use std::sync::OnceLock;

use serde_json::{Map, Value};

pub struct Spec {
    schemas: Map<String, Value>,
}

/// References are followed at most this deep: the spec's recursion is through arrays of items
/// our events never nest far.
const MAX_DEPTH: usize = 64;

impl Spec {
    /// The spec vendored at `vendor/specs/openai/openapi.yaml`, parsed once. A missing file
    /// fails the test: the spec is part of the repository.
    pub fn load() -> &'static Self {
        static SPEC: OnceLock<Spec> = OnceLock::new();
        SPEC.get_or_init(|| {
            let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../vendor/specs/openai/openapi.yaml");
            let text = std::fs::read_to_string(&path).unwrap_or_else(|error| {
                panic!("the OpenAI spec {} is missing: {error}", path.display())
            });
            Self::parse(&text)
        })
    }

    /// From the YAML text of an OpenAPI document; only `components.schemas` is kept.
    pub fn parse(yaml: &str) -> Self {
        let Json(mut document) = serde_yaml_ng::from_str(yaml).expect("valid YAML");
        let Value::Object(schemas) = document["components"]["schemas"].take() else {
            panic!("components.schemas is not a map")
        };
        Self { schemas }
    }

    pub fn from_schemas(schemas: Value) -> Self {
        let Value::Object(schemas) = schemas else {
            panic!("schemas must be a map")
        };
        Self { schemas }
    }

    pub fn schema(&self, name: &str) -> &Value {
        self.schemas
            .get(name)
            .unwrap_or_else(|| panic!("no schema {name} in the spec"))
    }

    /// Checks `value` against the named component schema; the errors say where and why.
    pub fn validate(&self, name: &str, value: &Value) -> Result<(), Vec<String>> {
        let mut errors = Vec::new();
        self.check(self.schema(name), value, "$", 0, &mut errors);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// Checks an event against the member of the union `union` (e.g. `RealtimeServerEvent`)
    /// whose `type` enum names the event's `type`, for precise errors; then against the union
    /// itself. An event type the union does not list is an error.
    pub fn validate_event(&self, union: &str, event: &Value) -> Result<(), Vec<String>> {
        let kind = event["type"].as_str().unwrap_or_default();
        let members = self.schema(union)["anyOf"]
            .as_array()
            .unwrap_or_else(|| panic!("{union} is not an anyOf union"));
        let member = members.iter().find_map(|member| {
            let name = member["$ref"]
                .as_str()?
                .strip_prefix("#/components/schemas/")?;
            let schema = self.schemas.get(name)?;
            let names = schema["properties"]["type"]["enum"].as_array()?;
            names.iter().any(|n| n == kind).then_some(name)
        });
        let Some(member) = member else {
            return Err(vec![format!("{union} has no event type {kind:?}")]);
        };
        self.validate(member, event).map_err(|errors| {
            errors
                .into_iter()
                .map(|e| format!("{member}: {e}"))
                .collect::<Vec<_>>()
        })?;
        self.validate(union, event)
    }

    fn resolve<'a>(&'a self, reference: &str, errors: &mut Vec<String>) -> Option<&'a Value> {
        let found = reference
            .strip_prefix("#/components/schemas/")
            .and_then(|name| self.schemas.get(name));
        if found.is_none() {
            errors.push(format!("unresolvable reference {reference}"));
        }
        found
    }

    fn check(
        &self,
        schema: &Value,
        value: &Value,
        at: &str,
        depth: usize,
        errors: &mut Vec<String>,
    ) {
        if depth > MAX_DEPTH {
            errors.push(format!("{at}: schema nesting deeper than {MAX_DEPTH}"));
            return;
        }
        let Some(schema) = schema.as_object() else {
            // `true` / `{}`-like schemas accept anything; `false` nothing.
            if *schema == Value::Bool(false) {
                errors.push(format!("{at}: no value is allowed here"));
            }
            return;
        };
        if let Some(reference) = schema.get("$ref").and_then(Value::as_str)
            && let Some(target) = self.resolve(reference, errors)
        {
            self.check(target, value, at, depth + 1, errors);
        }
        if value.is_null() && schema.get("nullable") == Some(&Value::Bool(true)) {
            return;
        }
        if let Some(kind) = schema.get("type") {
            let kinds: Vec<&str> = match kind {
                Value::String(kind) => vec![kind.as_str()],
                Value::Array(kinds) => kinds.iter().filter_map(Value::as_str).collect(),
                _ => Vec::new(),
            };
            if !kinds.iter().any(|kind| has_type(value, kind)) {
                errors.push(format!(
                    "{at}: expected {}, got {}",
                    kinds.join(" or "),
                    describe(value)
                ));
                return;
            }
        }
        if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
            && !allowed.contains(value)
        {
            errors.push(format!(
                "{at}: {value} is not one of {}",
                Value::Array(allowed.clone())
            ));
        }
        if let Some(expected) = schema.get("const")
            && expected != value
        {
            errors.push(format!("{at}: expected {expected}, got {value}"));
        }
        for sub in schema
            .get("allOf")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            self.check(sub, value, at, depth + 1, errors);
        }
        if let Some(options) = schema.get("anyOf").and_then(Value::as_array) {
            let (passing, closest) = self.passing(options, value, at, depth);
            if passing == 0 {
                errors.push(format!(
                    "{at}: matches none of the {} anyOf options; the closest fails with {closest:?}",
                    options.len()
                ));
            }
        }
        if let Some(options) = schema.get("oneOf").and_then(Value::as_array) {
            let (passing, closest) = self.passing(options, value, at, depth);
            if passing != 1 {
                errors.push(format!(
                    "{at}: matches {passing} of the {} oneOf options, not exactly one; the closest \
                     failing one fails with {closest:?}",
                    options.len()
                ));
            }
        }
        if let Some(not) = schema.get("not") {
            let mut sub = Vec::new();
            self.check(not, value, at, depth + 1, &mut sub);
            if sub.is_empty() {
                errors.push(format!("{at}: matches a schema it must not match"));
            }
        }
        match value {
            Value::Object(object) => self.check_object(schema, object, at, depth, errors),
            Value::Array(items) => {
                if let Some(min) = schema.get("minItems").and_then(Value::as_u64)
                    && (items.len() as u64) < min
                {
                    errors.push(format!("{at}: fewer than {min} items"));
                }
                if let Some(max) = schema.get("maxItems").and_then(Value::as_u64)
                    && (items.len() as u64) > max
                {
                    errors.push(format!("{at}: more than {max} items"));
                }
                if let Some(item_schema) = schema.get("items") {
                    for (index, item) in items.iter().enumerate() {
                        self.check(
                            item_schema,
                            item,
                            &format!("{at}[{index}]"),
                            depth + 1,
                            errors,
                        );
                    }
                }
            }
            Value::String(text) => {
                let chars = text.chars().count() as u64;
                if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
                    && chars < min
                {
                    errors.push(format!("{at}: shorter than {min} characters"));
                }
                if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
                    && chars > max
                {
                    errors.push(format!("{at}: longer than {max} characters"));
                }
            }
            Value::Number(number) => {
                let number = number.as_f64().unwrap_or(f64::NAN);
                let bound = |key: &str| schema.get(key).and_then(Value::as_f64);
                let broken = [
                    bound("minimum")
                        .filter(|min| number < *min)
                        .map(|b| format!("below the minimum {b}")),
                    bound("maximum")
                        .filter(|max| number > *max)
                        .map(|b| format!("above the maximum {b}")),
                    bound("exclusiveMinimum")
                        .filter(|min| number <= *min)
                        .map(|b| format!("not above {b}")),
                    bound("exclusiveMaximum")
                        .filter(|max| number >= *max)
                        .map(|b| format!("not below {b}")),
                ];
                for problem in broken.into_iter().flatten() {
                    errors.push(format!("{at}: {number} is {problem}"));
                }
            }
            _ => {}
        }
    }

    /// How many options `value` matches, and the errors of the failing option with the fewest
    /// (the one the value was most likely meant to be), for the report.
    fn passing(
        &self,
        options: &[Value],
        value: &Value,
        at: &str,
        depth: usize,
    ) -> (usize, Vec<String>) {
        let mut passing = 0;
        let mut closest: Option<Vec<String>> = None;
        for option in options {
            let mut sub = Vec::new();
            self.check(option, value, at, depth + 1, &mut sub);
            if sub.is_empty() {
                passing += 1;
            } else if closest.as_ref().is_none_or(|best| sub.len() < best.len()) {
                closest = Some(sub);
            }
        }
        (passing, closest.unwrap_or_default())
    }

    fn check_object(
        &self,
        schema: &Map<String, Value>,
        object: &Map<String, Value>,
        at: &str,
        depth: usize,
        errors: &mut Vec<String>,
    ) {
        for required in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(name) = required.as_str()
                && !object.contains_key(name)
            {
                errors.push(format!("{at}: missing required property {name:?}"));
            }
        }
        let properties = schema.get("properties").and_then(Value::as_object);
        for (name, field) in object {
            let field_at = format!("{at}.{name}");
            match properties.and_then(|properties| properties.get(name)) {
                Some(sub) => self.check(sub, field, &field_at, depth + 1, errors),
                None => match schema.get("additionalProperties") {
                    Some(Value::Bool(false)) => {
                        errors.push(format!("{at}: property {name:?} is not allowed"));
                    }
                    Some(extra @ Value::Object(_)) => {
                        self.check(extra, field, &field_at, depth + 1, errors);
                    }
                    _ => {}
                },
            }
        }
    }
}

/// A JSON value deserialized from YAML. `serde_json::Value` refuses integers beyond 64 bits, and
/// the spec has one (`seed.minimum: -9223372036854776000`): those become floats here.
struct Json(Value);

impl<'de> serde::Deserialize<'de> for Json {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(JsonVisitor).map(Json)
    }
}

struct JsonVisitor;

impl<'de> serde::de::Visitor<'de> for JsonVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any YAML value")
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
        Ok(v.into())
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Json(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some((Json(key), Json(value))) = map.next_entry()? {
            // OpenAPI documents have a few numeric keys (status codes); JSON keys are strings.
            let key = match key {
                Value::String(key) => key,
                other => other.to_string(),
            };
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

fn has_type(value: &Value, kind: &str) -> bool {
    match kind {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        "number" => value.is_number(),
        "integer" => value.as_f64().is_some_and(|n| n.fract() == 0.0),
        _ => true,
    }
}

fn describe(value: &Value) -> String {
    let kind = match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    let mut text = value.to_string();
    if text.len() > 80 {
        text.truncate(77);
        text.push_str("...");
    }
    format!("{kind} ({text})")
}
