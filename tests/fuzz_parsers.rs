//! Property ("fuzz") tests of every parser that takes outside input: WebSocket client frames,
//! generic and Evolution webhook bodies, date and time parameters (calendar, analytics, the
//! booking words of a customer message), tool arguments, automation regexes and calculator
//! expressions. Each property: no panic, and the result is either accepted (with the
//! parser's own invariants holding) or an error the caller turns into the contract's error.
//! The HTTP-level properties (`tests/fuzz_http.rs`) add "nothing stored".
//!
//! Two tiers, one body per property:
//! - `fuzz_*`: a few hundred cases, in the default `cargo nextest run`;
//! - `fuzz_heavy_*`: `PROPTEST_CASES` cases (default 100,000), ignored by default and run by
//!   `cargo nextest run --profile fuzz` (see `.config/nextest.toml`; CI runs it in release).
//!
//! Inputs mix unstructured text with near-valid structures (the right keys with wrong,
//! empty, huge or extreme values), so the checks behind the first JSON parse are reached.

use atende::api::analytics::{self, PeriodQuery};
use atende::channels::{evolution, generic};
use atende::config::Settings;
use atende::domain::automation::{self, Intent, Rule};
use atende::domain::scheduling::{self, WorkingHours};
use atende::engine::booking;
use atende::error::ErrorCode;
use atende::tools::config::FormConfig;
use atende::tools::{calculator, forms, http as tool_http, schema};
use atende::ws::protocol::{ClientFrame, ServerFrame, CLIENT_TYPES};
use chrono::{Duration, NaiveDate, Utc};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{json, Map, Value};

/// Cases of the default (fast) tier.
const FAST_CASES: u32 = 256;
/// Cases of the heavy tier unless `PROPTEST_CASES` says otherwise.
const HEAVY_CASES: u32 = 100_000;

fn fast() -> Config {
    Config {
        cases: FAST_CASES,
        failure_persistence: None,
        ..Config::default()
    }
}

fn heavy() -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(HEAVY_CASES);
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

/// Nested strategies take deep stacks to generate in unoptimized builds; the parsers
/// themselves run within the default thread stack (see `parsers_fit_in_a_worker_stack`).
const GENERATOR_STACK_BYTES: usize = 256 << 20;

/// Runs `test` over `config.cases` inputs from `strategy` on a thread with a deep stack;
/// a failure is shrunk to a minimal input and reported with it.
fn run_property<S>(config: Config, strategy: fn() -> S, test: fn(S::Value))
where
    S: Strategy + 'static,
    S::Value: std::fmt::Debug,
{
    let outcome = std::thread::Builder::new()
        .stack_size(GENERATOR_STACK_BYTES)
        .spawn(move || {
            let mut runner = TestRunner::new(config);
            runner
                .run(&strategy(), |value| {
                    test(value);
                    Ok(())
                })
                .map_err(|failure| failure.to_string())
        })
        .expect("property thread starts")
        .join();
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(failure)) => panic!("{failure}"),
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// One property, two tests: `$fast` in the default run, `$heavy` in the fuzz profile.
macro_rules! tiers {
    ($fast:ident, $heavy:ident, ($($arg:ident in $strategy:expr),+ $(,)?) => $body:block) => {
        #[test]
        fn $fast() {
            run_property(fast(), || ($($strategy,)+), |($($arg,)+)| $body);
        }

        #[test]
        #[ignore = "heavy tier: cargo nextest run --profile fuzz"]
        fn $heavy() {
            run_property(heavy(), || ($($strategy,)+), |($($arg,)+)| $body);
        }
    };
}

// ---------------------------------------------------------------------------------------------
// Shared strategies

/// Strings that have broken parsers before: empty, blank, huge, control characters, extreme
/// dates and numbers, look-alike digits, JSON fragments.
fn edge_string() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("   ".to_string()),
        Just("\u{0}".to_string()),
        Just("\u{202e}gnp.exe".to_string()),
        Just("٣٤:١٢".to_string()),
        Just("-262143-01-01".to_string()),
        Just("+262142-12-31".to_string()),
        Just("262143-12-31".to_string()),
        Just("0000-00-00".to_string()),
        Just("9999-12-31T23:59:59Z".to_string()),
        Just("-262143-01-01T00:00:00Z".to_string()),
        Just("+262142-12-31T23:59:59+23:59".to_string()),
        Just("24:00".to_string()),
        Just("23:60".to_string()),
        Just("99999999999999999999".to_string()),
        Just("NaN".to_string()),
        Just("{{".to_string()),
        Just("x".repeat(300)),
        Just("é".repeat(40_000)),
        "[0-9:+\\-TZ. ]{0,30}",
    ]
}

fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => any::<String>(),
        2 => ".{0,60}",
        2 => edge_string(),
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f)
            .map(Value::Number)
            .unwrap_or(Value::Null)),
        any_text().prop_map(Value::String),
    ]
}

/// Any JSON value whose object keys are mostly `keys` (so the parser looks at them).
fn json_with(keys: &'static [&'static str]) -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(key(keys), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn key(keys: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(keys).prop_map(str::to_string),
        1 => "[a-zA-Z_]{0,12}",
    ]
}

/// An object holding some of `keys`, each with a value of `value`.
fn object_of(
    keys: &'static [&'static str],
    value: impl Strategy<Value = Value> + Clone,
) -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::btree_map(key(keys), value, 0..keys.len() + 2)
        .prop_map(|m| m.into_iter().collect())
}

/// Values of the right JSON type most of the time: strings (ids, texts, dates), then others.
fn field_value(keys: &'static [&'static str]) -> impl Strategy<Value = Value> + Clone {
    prop_oneof![
        6 => any_text().prop_map(Value::String),
        2 => leaf(),
        1 => json_with(keys),
    ]
}

fn bytes_or(json: impl Strategy<Value = Value>) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..200),
        1 => any_text().prop_map(String::into_bytes),
        6 => json.prop_map(|v| v.to_string().into_bytes()),
    ]
}

// ---------------------------------------------------------------------------------------------
// WebSocket client frames (src/ws/protocol.rs)

const WS_KEYS: &[&str] = &[
    "type",
    "conversation_id",
    "content",
    "client_msg_id",
    "is_typing",
    "message_id",
    "last_message_id",
    "after_seq",
    "date",
    "time",
    "email",
    "phone",
    "enabled",
];

fn ws_frame() -> impl Strategy<Value = String> {
    let typed = (
        prop_oneof![
            8 => prop::sample::select(CLIENT_TYPES).prop_map(|t| Value::String(t.to_string())),
            1 => leaf(),
        ],
        object_of(WS_KEYS, field_value(WS_KEYS)),
    )
        .prop_map(|(kind, mut fields)| {
            fields.insert("type".into(), kind);
            Value::Object(fields).to_string()
        });
    prop_oneof![
        6 => typed,
        2 => json_with(WS_KEYS).prop_map(|v| v.to_string()),
        1 => any_text(),
    ]
}

fn check_ws_frame(text: &str) {
    match ClientFrame::parse(text) {
        Ok(frame) => {
            let value: Value = serde_json::from_str(text).expect("an accepted frame is JSON");
            assert_eq!(value["type"], frame.kind(), "the frame kind is its `type`");
        }
        Err(error) => {
            assert!(!error.0.is_empty(), "an error says what is wrong");
            // The socket answers a bad frame with this error frame; it must encode.
            let wire: Value = serde_json::from_str(
                &ServerFrame::error(ErrorCode::ValidationError, error.0).encode(),
            )
            .expect("the error frame is JSON");
            assert_eq!(wire["type"], "error");
            assert_eq!(wire["code"], "VALIDATION_ERROR");
        }
    }
}

tiers!(fuzz_ws_client_frames, fuzz_heavy_ws_client_frames, (text in ws_frame()) => {
    check_ws_frame(&text);
});

// ---------------------------------------------------------------------------------------------
// Generic webhook body (src/channels/generic.rs)

const GENERIC_CONTACT_KEYS: &[&str] = &["external_id", "name", "phone", "email"];
const GENERIC_MESSAGE_KEYS: &[&str] = &["external_id", "text", "timestamp"];

fn generic_body() -> impl Strategy<Value = Vec<u8>> {
    let timestamp = prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        edge_string().prop_map(Value::String),
    ];
    let structured = (
        object_of(GENERIC_CONTACT_KEYS, field_value(GENERIC_CONTACT_KEYS)),
        object_of(GENERIC_MESSAGE_KEYS, field_value(GENERIC_MESSAGE_KEYS)),
        prop::option::of(timestamp),
        prop_oneof![Just(None), leaf().prop_map(Some)],
    )
        .prop_map(|(contact, mut message, timestamp, replace_contact)| {
            if let Some(timestamp) = timestamp {
                message.insert("timestamp".into(), timestamp);
            }
            json!({
                "contact": replace_contact.unwrap_or(Value::Object(contact)),
                "message": message,
            })
        });
    bytes_or(prop_oneof![
        4 => structured,
        1 => json_with(&["contact", "message", "external_id", "text", "timestamp"]),
    ])
}

fn check_generic(body: &[u8]) {
    match generic::parse(body) {
        Ok(payload) => {
            for id in [&payload.contact.external_id, &payload.message.external_id] {
                assert!(
                    !id.is_empty() && id.trim() == id,
                    "ids are trimmed, not empty"
                );
                assert!(id.chars().count() <= generic::MAX_ID_CHARS);
            }
            assert!(!payload.message.text.trim().is_empty());
            assert!(payload.message.text.len() <= generic::MAX_TEXT_BYTES);
        }
        Err(error) => assert!(!error.is_empty()),
    }
}

tiers!(fuzz_generic_webhook_body, fuzz_heavy_generic_webhook_body, (body in generic_body()) => {
    check_generic(&body);
});

// ---------------------------------------------------------------------------------------------
// Evolution webhook body (src/channels/evolution.rs)

const EVO_KEYS: &[&str] = &[
    "conversation",
    "extendedTextMessage",
    "text",
    "imageMessage",
    "caption",
    "mimetype",
    "documentMessage",
    "fileName",
    "audioMessage",
    "seconds",
    "reactionMessage",
    "protocolMessage",
    "ephemeralMessage",
    "viewOnceMessage",
    "documentWithCaptionMessage",
    "message",
    "messageContextInfo",
    "contactMessage",
    "locationMessage",
];

fn jid() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => "[0-9]{0,14}(:[0-9]{1,2})?@(s\\.whatsapp\\.net|g\\.us|lid|broadcast|newsletter)"
            .prop_map(Value::String),
        1 => Just(json!("status@broadcast")),
        2 => field_value(EVO_KEYS),
    ]
}

fn evo_item() -> impl Strategy<Value = Value> {
    let key = (
        prop::option::of(jid()),
        prop::option::of(field_value(EVO_KEYS)),
        prop::option::of(prop_oneof![any::<bool>().prop_map(Value::Bool), leaf()]),
        prop::option::of(jid()),
    )
        .prop_map(|(remote, id, from_me, alt)| {
            let mut key = Map::new();
            for (name, value) in [
                ("remoteJid", remote),
                ("id", id),
                ("fromMe", from_me),
                ("remoteJidAlt", alt),
            ] {
                if let Some(value) = value {
                    key.insert(name.into(), value);
                }
            }
            Value::Object(key)
        });
    (
        prop_oneof![4 => key, 1 => leaf()],
        prop::option::of(json_with(EVO_KEYS)),
        prop::option::of(field_value(EVO_KEYS)),
        prop::option::of(prop_oneof![any::<i64>().prop_map(Value::from), leaf()]),
        prop::option::of(prop_oneof![
            prop::sample::select(&["DELIVERY_ACK", "READ", "PLAYED", "SERVER_ACK", "ERROR"][..])
                .prop_map(|s| json!(s)),
            leaf()
        ]),
        prop::option::of(field_value(EVO_KEYS)),
    )
        .prop_map(|(key, message, push_name, timestamp, status, name)| {
            let mut item = Map::new();
            item.insert("key".into(), key);
            for (field, value) in [
                ("message", message),
                ("pushName", push_name),
                ("messageTimestamp", timestamp),
                ("status", status),
                ("name", name),
            ] {
                if let Some(value) = value {
                    item.insert(field.into(), value);
                }
            }
            Value::Object(item)
        })
}

fn evolution_body() -> impl Strategy<Value = Vec<u8>> {
    let event = prop_oneof![
        6 => prop::sample::select(
            &[
                "messages.upsert",
                "MESSAGES_UPSERT",
                "send.message",
                "messages.update",
                "chats.update",
                "connection.update",
            ][..]
        )
        .prop_map(|e| json!(e)),
        1 => leaf(),
    ];
    let data = prop_oneof![
        4 => evo_item(),
        2 => prop::collection::vec(evo_item(), 0..4).prop_map(Value::Array),
        1 => leaf(),
    ];
    let structured = (
        event,
        data,
        prop::option::of(field_value(EVO_KEYS)),
        prop::option::of(field_value(EVO_KEYS)),
    )
        .prop_map(|(event, data, instance, apikey)| {
            let mut root = Map::new();
            root.insert("event".into(), event);
            root.insert("data".into(), data);
            if let Some(instance) = instance {
                root.insert("instance".into(), instance);
            }
            if let Some(apikey) = apikey {
                root.insert("apikey".into(), apikey);
            }
            Value::Object(root)
        });
    bytes_or(prop_oneof![
        5 => structured,
        1 => json_with(&["event", "data", "instance", "apikey", "key", "message"]),
    ])
}

fn check_evolution(body: &[u8]) {
    let envelope = match evolution::envelope(body) {
        Ok(envelope) => envelope,
        Err(error) => {
            assert!(!error.is_empty());
            return;
        }
    };
    match envelope.items() {
        Ok(items) => {
            assert!(items.len() <= evolution::MAX_ITEMS);
            for item in items {
                if let evolution::Item::Message(message) = item {
                    assert!(!message.external_id.is_empty());
                    assert!(message.text.len() <= evolution::MAX_TEXT_BYTES);
                    let _ = message.phone();
                    let _ = message.metadata(envelope.instance.as_deref());
                }
            }
        }
        Err(error) => assert!(!error.is_empty()),
    }
}

tiers!(fuzz_evolution_webhook_body, fuzz_heavy_evolution_webhook_body, (body in evolution_body()) => {
    check_evolution(&body);
});

// ---------------------------------------------------------------------------------------------
// Dates and times: analytics `from`/`to`, calendar `date`/`time` (schedule_confirm and the
// available-slots query), the date and time words of a customer's message.

fn settings() -> &'static Settings {
    static SETTINGS: std::sync::OnceLock<Settings> = std::sync::OnceLock::new();
    SETTINGS.get_or_init(|| {
        let dir = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/config"));
        Settings::load_from(dir, "test", false, &[]).expect("test settings")
    })
}

/// Years across chrono's whole range, its edges and nearby ordinary years.
fn year() -> impl Strategy<Value = i64> {
    prop_oneof![
        3 => 1900i64..2200,
        2 => -262_145i64..=262_145,
        2 => prop::sample::select(&[-262_144i64, -262_143, -262_142, 262_142, 262_143, 262_144, 0, 9999, 10_000][..]),
        1 => any::<i64>(),
    ]
}

fn date_text() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => (year(), 0u32..14, 0u32..33).prop_map(|(y, m, d)| format!("{y:04}-{m:02}-{d:02}")),
        2 => (year(), 0u32..14, 0u32..33).prop_map(|(y, m, d)| format!("{y:+05}-{m:02}-{d:02}")),
        2 => any_text(),
    ]
}

fn time_text() -> impl Strategy<Value = String> {
    let offset = prop_oneof![
        Just("Z".to_string()),
        (-24i32..=24, 0u32..61).prop_map(|(h, m)| format!("{h:+03}:{m:02}")),
    ];
    prop_oneof![
        4 => (0u32..26, 0u32..62).prop_map(|(h, m)| format!("{h:02}:{m:02}")),
        4 => (date_text(), 0u32..26, 0u32..62, 0u32..62, offset)
            .prop_map(|(d, h, m, s, o)| format!("{d}T{h:02}:{m:02}:{s:02}{o}")),
        2 => any_text(),
    ]
}

fn check_period(from: Option<String>, to: Option<String>) {
    let query = PeriodQuery { from, to };
    match analytics::period(&query, settings()) {
        Ok(period) => {
            assert!(period.from < period.to, "from is before to");
            let max = Duration::days(i64::from(settings().analytics.max_period_days));
            assert!(period.to - period.from <= max);
        }
        Err(error) => assert_eq!(error.code(), ErrorCode::ValidationError, "{error:?}"),
    }
}

tiers!(fuzz_analytics_period, fuzz_heavy_analytics_period, (from in prop::option::of(prop_oneof![date_text(), time_text()]), to in prop::option::of(prop_oneof![date_text(), time_text()])) => {
    check_period(from, to);
});

fn check_schedule_start(date: &str, time: &str) {
    match booking::parse_start(&settings().calendar, date, time) {
        Ok(start) => {
            let tz: chrono_tz::Tz = settings().calendar.timezone.parse().expect("zone");
            let day = NaiveDate::parse_from_str(date.trim(), "%Y-%m-%d").expect("a parsed date");
            assert_eq!(
                start.with_timezone(&tz).date_naive(),
                day,
                "the start is on `date`"
            );
        }
        Err(error) => assert!(!error.is_empty()),
    }
}

tiers!(fuzz_schedule_confirm_date_time, fuzz_heavy_schedule_confirm_date_time, (date in date_text(), time in time_text()) => {
    check_schedule_start(&date, &time);
});

/// The pure half of `GET /calendar/available-slots`: the slots of any parsable date.
fn check_slots(date: &str, duration_minutes: i64) {
    let Ok(date) = NaiveDate::parse_from_str(date.trim(), "%Y-%m-%d") else {
        return;
    };
    let hours = booking::default_hours(&settings().calendar);
    let step = Duration::minutes(i64::from(settings().calendar.slot_step_minutes));
    let duration = Duration::minutes(duration_minutes);
    let now = Utc::now();
    for slot in scheduling::free_slots(&hours, date, duration, step, &[], now) {
        assert!(slot.start < slot.end);
        assert!(slot.start >= now);
    }
}

// Near the last date chrono knows, the slot arithmetic used to overflow and panic (issue 12,
// finding 11); dates are bounded now (`domain::dates`).
tiers!(fuzz_calendar_free_slots, fuzz_heavy_calendar_free_slots, (date in date_text(), minutes in prop_oneof![5i64..=480, any::<i64>().prop_map(|m| m % 100_000)]) => {
    check_slots(&date, minutes);
});

fn check_booking_words(text: &str, today: (i64, u32, u32)) {
    let Some(today) = NaiveDate::from_ymd_opt(today.0 as i32, today.1, today.2) else {
        return;
    };
    let wish = scheduling::read_wish(text, today);
    if let Some(email) = &wish.email {
        assert!(text.to_lowercase().contains(email.as_str()) || email.contains('@'));
    }
    if let (Some(date), Some(time)) = (wish.date, wish.time) {
        let hours = WorkingHours::uniform(chrono_tz::America::Sao_Paulo, &[], "09:00", "18:00")
            .expect("hours");
        let _ = hours.instant(date, time);
    }
}

fn booking_text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => any_text(),
        3 => "(marcar|agendar|reunião|amanhã|hoje|depois de amanhã|segunda|dia|às|as|h|:|[0-9]{1,6}|/|-| |schedule|meeting|tomorrow|at|pm|am|[a-z0-9.]+@[a-z]+\\.com|\\+?[0-9 ()-]{0,20}){0,12}",
    ]
}

tiers!(fuzz_booking_words, fuzz_heavy_booking_words, (text in booking_text(), today in (prop_oneof![1970i64..2100, -262_143i64..=262_142], 1u32..13, 1u32..29)) => {
    check_booking_words(&text, today);
});

// ---------------------------------------------------------------------------------------------
// Tool arguments (src/tools/schema.rs, forms, http templates) and tool definitions

fn order_schema() -> &'static jsonschema::Validator {
    static VALIDATOR: std::sync::OnceLock<jsonschema::Validator> = std::sync::OnceLock::new();
    VALIDATOR.get_or_init(|| {
        schema::compile(&json!({
            "type": "object",
            "properties": {
                "order_id": {"type": "integer", "minimum": 1},
                "email": {"type": "string", "format": "email", "maxLength": 254},
                "when": {"type": "string", "format": "date-time"},
                "code": {"type": "string", "pattern": "^[A-Z]{2}[0-9]{4}$"},
                "items": {"type": "array", "items": {"type": "number"}, "maxItems": 10},
            },
            "required": ["order_id"],
            "additionalProperties": false
        }))
        .expect("the schema compiles")
    })
}

const ARG_KEYS: &[&str] = &[
    "order_id",
    "email",
    "when",
    "code",
    "items",
    "name",
    "phone",
    "expression",
    "query",
    "tag",
];

fn argument_text() -> impl Strategy<Value = String> {
    prop_oneof![
        5 => json_with(ARG_KEYS).prop_map(|v| v.to_string()),
        3 => object_of(ARG_KEYS, field_value(ARG_KEYS)).prop_map(|o| Value::Object(o).to_string()),
        2 => any_text(),
        1 => (1usize..200).prop_map(|n| format!("{}{}", "{\"a\":[".repeat(n), "]}".repeat(n))),
    ]
}

fn check_tool_arguments(raw: &str) {
    let arguments = match schema::parse_arguments(raw) {
        Ok(arguments) => arguments,
        Err(error) => {
            assert!(!error.is_empty());
            return;
        }
    };
    assert!(arguments.is_object(), "accepted arguments are an object");
    if let Err(error) = schema::check_arguments(order_schema(), &arguments) {
        assert!(error.starts_with("invalid arguments"), "{error}");
    }
    if let Ok(fields) = forms::collect(&FormConfig::lead_defaults(), &arguments) {
        assert!(fields.contains_key("name"), "the required field is there");
    }
    let template =
        json!({"id": "{{order_id}}", "note": "pedido {{code}} de {{email}}", "raw": ["{{items}}"]});
    let _ = tool_http::render_body(&template, &arguments);
    let _ = tool_http::render("/orders/{{order_id}}?q={{ code }}", |name| {
        arguments
            .get(name)
            .map(Value::to_string)
            .unwrap_or_default()
    });
}

tiers!(fuzz_tool_arguments, fuzz_heavy_tool_arguments, (raw in argument_text()) => {
    check_tool_arguments(&raw);
});

const SCHEMA_KEYS: &[&str] = &[
    "type",
    "properties",
    "required",
    "items",
    "pattern",
    "format",
    "minimum",
    "maximum",
    "enum",
    "$ref",
    "anyOf",
    "oneOf",
    "additionalProperties",
    "minLength",
    "maxLength",
    "$defs",
];

fn tool_schema() -> impl Strategy<Value = Value> {
    let property = json_with(SCHEMA_KEYS);
    (
        prop_oneof![4 => Just(json!("object")), 1 => leaf()],
        prop::option::of(prop::collection::btree_map("[a-z_]{1,8}", property, 0..5)),
        prop::option::of(json_with(SCHEMA_KEYS)),
    )
        .prop_map(|(kind, properties, extra)| {
            let mut root = Map::new();
            root.insert("type".into(), kind);
            if let Some(properties) = properties {
                root.insert(
                    "properties".into(),
                    Value::Object(properties.into_iter().collect()),
                );
            }
            if let Some(Value::Object(extra)) = extra {
                for (k, v) in extra {
                    root.entry(k).or_insert(v);
                }
            }
            Value::Object(root)
        })
}

fn check_tool_definition(schema_value: &Value, arguments: &Value) {
    match schema::check_definition(schema_value) {
        Ok(()) => {
            let validator = schema::compile(schema_value).expect("an accepted schema compiles");
            let _ = schema::check_arguments(&validator, arguments);
        }
        Err(error) => assert!(!error.is_empty()),
    }
}

tiers!(fuzz_tool_definitions, fuzz_heavy_tool_definitions, (schema_value in tool_schema(), arguments in json_with(ARG_KEYS)) => {
    check_tool_definition(&schema_value, &arguments);
});

// ---------------------------------------------------------------------------------------------
// Automation regexes (src/domain/automation.rs)

fn pattern() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "([a-zç\\\\.*+?|()\\[\\]{}^$0-9,-]|\\\\b|\\\\w|\\\\d|\\(\\?i\\)|\\{[0-9]{1,4}(,[0-9]{0,4})?\\}){0,40}",
        2 => any_text(),
        1 => (1usize..60).prop_map(|n| format!("{}a{}", "(".repeat(n), ")".repeat(n))),
        1 => (1usize..8).prop_map(|n| "(a{100}){100}".repeat(n)),
    ]
}

fn check_automation(patterns: &[String], keyword: &str, text: &str) {
    let mut intents: Vec<Intent> = patterns
        .iter()
        .map(|p| Intent::Regex { pattern: p.clone() })
        .collect();
    intents.push(Intent::Keyword {
        value: keyword.to_string(),
    });
    match automation::validate_intents(&intents) {
        Ok(()) => {
            let rule = Rule::new("r".into(), "r".into(), 0, &intents, Vec::new());
            assert!(
                rule.matched("").is_none(),
                "no saved intent matches an empty message"
            );
            let _ = rule.matched(text);
            let _ = automation::first_match(std::slice::from_ref(&rule), text);
        }
        Err(invalid) => {
            assert!(invalid.field.starts_with("intents"));
            assert!(!invalid.reason.is_empty());
            // What the engine does with an intent stored before a rule changed: skip it.
            let rule = Rule::new("r".into(), "r".into(), 0, &intents, Vec::new());
            let _ = rule.matched(text);
        }
    }
}

tiers!(fuzz_automation_intents, fuzz_heavy_automation_intents, (patterns in prop::collection::vec(pattern(), 0..3), keyword in any_text(), text in any_text()) => {
    check_automation(&patterns, &keyword, &text);
});

// ---------------------------------------------------------------------------------------------
// Calculator expressions (src/tools/calculator.rs)

fn expression() -> impl Strategy<Value = String> {
    prop_oneof![
        5 => "([0-9]{1,4}|[0-9]+[.,][0-9]+|[-+*/^%!(), ]|sqrt|abs|sin|ln|exp|log|pi|e|x|E[0-9]{1,3}|1e308|fact){0,40}",
        2 => any_text(),
        1 => (1usize..300).prop_map(|n| format!("{}1{}", "(".repeat(n), ")".repeat(n))),
        1 => (1usize..250).prop_map(|n| format!("{}1", "-".repeat(n))),
        1 => (1usize..120).prop_map(|n| vec!["2"; n].join("^")),
    ]
}

fn check_calculator(text: &str) {
    match calculator::evaluate(text) {
        Ok(value) => assert!(value.is_finite()),
        Err(error) => assert!(!error.is_empty()),
    }
    let outcome = calculator::run(&json!({"expression": text}));
    let _ = format!("{outcome:?}");
}

tiers!(fuzz_calculator_expressions, fuzz_heavy_calculator_expressions, (text in expression()) => {
    check_calculator(&text);
});

// ---------------------------------------------------------------------------------------------
// Edge cases the properties draw rarely, checked every run.

/// Dates at and beyond the ends of chrono's range (±262,143 years).
const EXTREME_DATES: [&str; 7] = [
    "-262143-01-01",
    "-262144-01-01",
    "+262142-12-31",
    "262143-12-31",
    "-262143-01-01T00:00:00Z",
    "+262142-12-31T23:59:59Z",
    "+262142-12-31T23:59:59-23:59",
];

#[test]
fn extreme_dates_are_refused_not_panicked_on() {
    let extremes = EXTREME_DATES;
    for a in extremes {
        check_period(Some(a.into()), None);
        check_period(None, Some(a.into()));
        for b in extremes {
            check_period(Some(a.into()), Some(b.into()));
        }
        for time in ["00:00", "23:59", "-262143-01-01T00:00:00+23:59", a] {
            check_schedule_start(a, time);
        }
        check_slots(a, 60);
        check_booking_words(a, (2026, 3, 4));
        check_booking_words(&format!("reunião dia {a} às 10h"), (-262_143, 1, 1));
    }
}

/// The parsers recurse over nested JSON: at serde_json's nesting limit they must still fit
/// in the 2 MiB stack of an actix worker thread (a stack overflow aborts the process).
#[test]
fn parsers_fit_in_a_worker_stack() {
    const WORKER_STACK_BYTES: usize = 2 << 20;
    let deep = |n: usize| format!("{}1{}", "[".repeat(n), "]".repeat(n));
    std::thread::Builder::new()
        .stack_size(WORKER_STACK_BYTES)
        .spawn(move || {
            for n in [100, 127, 128, 1_000] {
                let nested = deep(n);
                check_ws_frame(&format!(r#"{{"type":"message","conversation_id":{nested},"content":"x"}}"#));
                check_generic(format!(r#"{{"contact":{{"external_id":"a","x":{nested}}},"message":{{"external_id":"b","text":"t"}}}}"#).as_bytes());
                check_evolution(format!(r#"{{"event":"messages.upsert","data":{{"key":{{"remoteJid":"1@s.whatsapp.net","id":"m"}},"message":{{"conversation":"oi","x":{nested}}}}}}}"#).as_bytes());
                check_tool_arguments(&format!(r#"{{"order_id":1,"items":{nested}}}"#));
                check_calculator(&format!("{}1{}", "(".repeat(n.min(250)), ")".repeat(n.min(250))));
            }
        })
        .expect("worker-sized thread")
        .join()
        .expect("no overflow, no panic");
}

// ---------------------------------------------------------------------------------------------
// Over HTTP and WebSocket against the real app: random bodies get the contract's error body
// and store nothing. "Nothing" is counted after a positive signal: a final valid request
// that is stored (or a ping answered after every earlier frame).

mod support;

use reqwest::StatusCode;
use support::matrix::{assert_error_body, counts};
use support::ws::WsClient;
use support::TestApp;

/// Requests per endpoint in the default run; the heavy tier takes `PROPTEST_HTTP_CASES`.
const FAST_HTTP_CASES: usize = 150;
const HEAVY_HTTP_CASES: usize = 3_000;
const GENERIC_SECRET: &str = "fuzz-secret-at-least-16";
const EVOLUTION_KEY: &str = "fuzz-evolution-apikey";
const EVOLUTION_INSTANCE: &str = "fuzz";

fn heavy_http_cases() -> usize {
    std::env::var("PROPTEST_HTTP_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(HEAVY_HTTP_CASES)
}

/// `n` inputs from `strategy`, generated on a deep-stack thread (see `run_property`).
fn samples<S>(strategy: fn() -> S, n: usize) -> Vec<S::Value>
where
    S: Strategy + 'static,
    S::Value: Send + 'static,
{
    std::thread::Builder::new()
        .stack_size(GENERATOR_STACK_BYTES)
        .spawn(move || {
            let mut runner = TestRunner::new(fast());
            let strategy = strategy();
            (0..n)
                .map(|_| {
                    strategy
                        .new_tree(&mut runner)
                        .expect("a generated input")
                        .current()
                })
                .collect()
        })
        .expect("generator thread")
        .join()
        .expect("generation does not panic")
}

async fn post_raw(
    app: &TestApp,
    path: &str,
    body: &[u8],
    headers: &[(&str, &str)],
) -> (StatusCode, Value) {
    let mut request = app
        .http
        .post(app.url(path))
        .header("content-type", "application/json")
        .body(body.to_vec());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request
        .send()
        .await
        .unwrap_or_else(|e| panic!("the app answers {path} (a panic resets the connection): {e}"));
    let status = response.status();
    let bytes = response.bytes().await.expect("body");
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn valid_generic(external: &str) -> Vec<u8> {
    json!({
        "contact": {"external_id": format!("fuzz-contact-{external}"), "name": "Fuzz"},
        "message": {"external_id": external, "text": "a real message"},
    })
    .to_string()
    .into_bytes()
}

async fn generic_webhook_stores_nothing(cases: usize) {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let integration = app
        .create_integration(
            &admin,
            json!({"kind": "generic", "name": "fuzz", "secret": GENERIC_SECRET}),
        )
        .await;
    let path = format!(
        "/webhooks/generic/{}",
        integration["id"].as_str().expect("id")
    );
    let before = counts(&app.store).await;
    let mut sent = 0;
    for (i, body) in samples(generic_body, cases).into_iter().enumerate() {
        if generic::parse(&body).is_ok() {
            continue; // a valid message by chance: it would rightly be stored
        }
        sent += 1;
        let signature = atende::channels::signature::sign(GENERIC_SECRET.as_bytes(), &body);
        if i % 5 == 0 {
            let forged = atende::channels::signature::sign(b"not-the-secret-at-all", &body);
            let (status, reply) =
                post_raw(&app, &path, &body, &[("X-Atende-Signature", &forged)]).await;
            assert_error_body(status, &reply, StatusCode::UNAUTHORIZED, "AUTH_ERROR");
        } else {
            let (status, reply) =
                post_raw(&app, &path, &body, &[("X-Atende-Signature", &signature)]).await;
            assert_error_body(status, &reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
        }
    }
    assert!(
        sent * 2 > cases,
        "most generated bodies are invalid ({sent} of {cases})"
    );
    let valid = valid_generic("fuzz-final");
    let signature = atende::channels::signature::sign(GENERIC_SECRET.as_bytes(), &valid);
    let (status, reply) =
        post_raw(&app, &path, &valid, &[("X-Atende-Signature", &signature)]).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{reply}");
    assert_eq!(
        counts(&app.store).await,
        before.plus_one_message_thread(),
        "only the final valid message was stored"
    );
}

#[actix_web::test]
async fn fuzz_http_generic_webhook_stores_nothing() {
    generic_webhook_stores_nothing(FAST_HTTP_CASES).await;
}

#[actix_web::test]
#[ignore = "heavy tier: cargo nextest run --profile fuzz"]
async fn fuzz_heavy_http_generic_webhook_stores_nothing() {
    generic_webhook_stores_nothing(heavy_http_cases()).await;
}

/// Whether Evolution would store a message from `body` (so it is not a bad input).
fn evolution_stores(body: &[u8]) -> bool {
    evolution::envelope(body)
        .and_then(|e| e.items())
        .is_ok_and(|items| {
            items
                .iter()
                .any(|i| matches!(i, evolution::Item::Message(_)))
        })
}

async fn evolution_webhook_stores_nothing(cases: usize) {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let integration = app
        .create_integration(
            &admin,
            json!({
                "kind": "evolution",
                "name": "fuzz",
                "base_url": "http://127.0.0.1:9",
                "api_key": EVOLUTION_KEY,
                "instance": EVOLUTION_INSTANCE,
            }),
        )
        .await;
    let path = format!(
        "/webhooks/evolution/{}",
        integration["id"].as_str().expect("id")
    );
    let before = counts(&app.store).await;
    for (i, body) in samples(evolution_body, cases).into_iter().enumerate() {
        if evolution_stores(&body) {
            continue;
        }
        if i % 5 == 0 {
            let (status, reply) = post_raw(&app, &path, &body, &[("apikey", "wrong-key")]).await;
            // The key may come in the body, so the envelope is read first.
            if evolution::envelope(&body).is_ok() {
                assert_error_body(status, &reply, StatusCode::UNAUTHORIZED, "AUTH_ERROR");
            } else {
                assert_error_body(status, &reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
            }
            continue;
        }
        let (status, reply) = post_raw(&app, &path, &body, &[("apikey", EVOLUTION_KEY)]).await;
        if status == StatusCode::OK {
            // Events the engine does not act on are acknowledged (Evolution would resend a
            // refused one forever) and every item says why it was ignored.
            let results = reply["results"].as_array().expect("results");
            assert!(
                results
                    .iter()
                    .all(|r| r["outcome"] == "ignored" && r["reason"].is_string()),
                "{reply}"
            );
        } else {
            assert_error_body(status, &reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
        }
    }
    let valid = json!({
        "event": "messages.upsert",
        "instance": EVOLUTION_INSTANCE,
        "data": {
            "key": {"remoteJid": "5511999990000@s.whatsapp.net", "fromMe": false, "id": "FUZZFINAL"},
            "pushName": "Fuzz",
            "message": {"conversation": "a real message"},
            "messageType": "conversation",
        },
    })
    .to_string();
    let (status, reply) =
        post_raw(&app, &path, valid.as_bytes(), &[("apikey", EVOLUTION_KEY)]).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["results"][0]["outcome"], "accepted", "{reply}");
    assert_eq!(
        counts(&app.store).await,
        before.plus_one_message_thread(),
        "only the final valid message was stored"
    );
}

#[actix_web::test]
async fn fuzz_http_evolution_webhook_stores_nothing() {
    evolution_webhook_stores_nothing(FAST_HTTP_CASES).await;
}

#[actix_web::test]
#[ignore = "heavy tier: cargo nextest run --profile fuzz"]
async fn fuzz_heavy_http_evolution_webhook_stores_nothing() {
    evolution_webhook_stores_nothing(heavy_http_cases()).await;
}

const MAX_QUERY_VALUE_BYTES: usize = 2048;

fn query_value() -> impl Strategy<Value = String> {
    prop_oneof![4 => date_text(), 3 => time_text(), 1 => "-?[0-9]{0,12}"]
}

fn encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// `GET` answers 200 or the contract's 400; a panic would reset the connection.
async fn date_queries_are_total(cases: usize, path: &str, names: [&str; 2]) {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let edges = EXTREME_DATES
        .iter()
        .map(|d| (d.to_string(), "60".to_string()));
    let edges = edges.chain(
        EXTREME_DATES
            .iter()
            .map(|d| ("2026-01-01".to_string(), d.to_string())),
    );
    let random = samples(|| (query_value(), query_value()), cases)
        .into_iter()
        // Beyond what an HTTP client sends in a URL; the parsers above take the long ones.
        .filter(|(a, b)| a.len() + b.len() <= MAX_QUERY_VALUE_BYTES);
    for (a, b) in edges.chain(random) {
        let query = format!(
            "{path}?{}={}&{}={}",
            names[0],
            encode(&a),
            names[1],
            encode(&b)
        );
        let (status, body) = app.get(&query, &admin.token).await;
        if status != StatusCode::OK {
            assert_error_body(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
        }
    }
}

#[actix_web::test]
async fn fuzz_http_analytics_period() {
    date_queries_are_total(
        FAST_HTTP_CASES,
        "/api/v1/analytics/dashboard",
        ["from", "to"],
    )
    .await;
}

#[actix_web::test]
#[ignore = "heavy tier: cargo nextest run --profile fuzz"]
async fn fuzz_heavy_http_analytics_period() {
    date_queries_are_total(
        heavy_http_cases(),
        "/api/v1/analytics/dashboard",
        ["from", "to"],
    )
    .await;
}

// `date=-262143-01-01` used to overflow the slot search's date arithmetic and panic the
// worker (issue 12, finding 11).
#[actix_web::test]
async fn fuzz_http_calendar_available_slots() {
    date_queries_are_total(
        FAST_HTTP_CASES,
        "/api/v1/calendar/available-slots",
        ["date", "duration_minutes"],
    )
    .await;
}

#[actix_web::test]
#[ignore = "heavy tier: cargo nextest run --profile fuzz"]
async fn fuzz_heavy_http_calendar_available_slots() {
    date_queries_are_total(
        heavy_http_cases(),
        "/api/v1/calendar/available-slots",
        ["date", "duration_minutes"],
    )
    .await;
}

/// Error codes PROTOCOL.md lists for the socket.
const WS_CODES: &[&str] = &[
    "AUTH_ERROR",
    "VALIDATION_ERROR",
    "NOT_FOUND",
    "FORBIDDEN",
    "RATE_LIMITED",
    "AGENT_NOT_FOUND",
    "ROUTING_ERROR",
    "INTERNAL",
];

async fn ws_frames_store_nothing(cases: usize) {
    let app = TestApp::spawn_with(&[
        ("realtime.frames_per_second", "100000"),
        ("realtime.frames_burst", "100000"),
    ])
    .await;
    let admin = app.admin().await;
    let before = counts(&app.store).await;
    let (mut socket, _) = WsClient::connect(&app, &admin.token).await;
    let frames = samples(ws_frame, cases)
        .into_iter()
        // A `ping` of its own would answer a barrier early.
        .filter(|f| ClientFrame::parse(f) != Ok(ClientFrame::Ping));
    for (i, frame) in frames.enumerate() {
        socket.send_text(&frame).await;
        if i % 25 == 24 {
            socket.barrier().await;
        }
    }
    socket.barrier().await;
    for error in socket.buffered("error") {
        let code = error["code"].as_str().expect("an error frame has a code");
        assert!(WS_CODES.contains(&code), "undocumented code: {error}");
        assert!(
            error["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{error}"
        );
    }
    assert!(
        socket.closed.is_none(),
        "the socket stays open: {:?}",
        socket.closed
    );
    assert_eq!(counts(&app.store).await, before, "no frame stored anything");
    socket.close().await;
}

#[actix_web::test]
async fn fuzz_ws_socket_frames_store_nothing() {
    ws_frames_store_nothing(FAST_HTTP_CASES).await;
}

#[actix_web::test]
#[ignore = "heavy tier: cargo nextest run --profile fuzz"]
async fn fuzz_heavy_ws_socket_frames_store_nothing() {
    ws_frames_store_nothing(heavy_http_cases()).await;
}
