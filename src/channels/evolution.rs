//! Evolution API v2 (WhatsApp) webhook events, parsed into what the engine needs. Pure: no
//! I/O, so every payload shape Evolution sends is pinned by the unit tests below, recorded
//! from real instances.
//!
//! Supported events: `messages.upsert` (a message arrived, or the business sent one from its
//! own phone: `key.fromMe`), `send.message` (a message sent through the API, which Evolution
//! echoes), `messages.update` (delivery status) and `chats.update` (chat details). Evolution
//! spells events `messages.upsert` in v2 and `MESSAGES_UPSERT` in v1 and in some global
//! webhook set-ups; both are accepted.
//!
//! Anything the engine does not handle — group chats, status broadcasts, reactions,
//! protocol messages, untracked statuses, other events — becomes an [`Item::Ignored`] with a
//! reason, so the route can record why and still answer 200 (a 4xx would make Evolution
//! retry a payload that will never be accepted). A payload that is malformed (not JSON, no
//! `event`, a message without `key.id` …) is an error naming the field, for a 400.

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

/// Message text kept per message, in bytes of UTF-8; longer texts are cut (and flagged in
/// the metadata) rather than refused, since Evolution would resend a refused event forever.
pub const MAX_TEXT_BYTES: usize = 64 * 1024;
/// Limit for ids, JIDs and names, in characters.
pub const MAX_FIELD_CHARS: usize = 256;
/// Items of one event (Evolution batches `chats.update` and, in v1, updates).
pub const MAX_ITEMS: usize = 500;

/// The envelope every Evolution webhook shares.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// Normalized: lower case, dotted (`messages.upsert`).
    pub event: String,
    pub instance: Option<String>,
    /// The instance's API key, which Evolution puts in the body of every event.
    pub apikey: Option<String>,
    data: Value,
}

/// What one event carries, item by item.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Message(InboundMessage),
    Status(StatusUpdate),
    Chat(ChatUpdate),
    Ignored {
        /// The WhatsApp message id or chat JID the item was about, when it has one.
        id: Option<String>,
        reason: IgnoreReason,
    },
}

/// Why an item was not acted upon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IgnoreReason {
    /// An event the engine does not subscribe to (`connection.update`, `qrcode.updated` …).
    UnsupportedEvent,
    /// Group chats are not conversations with one customer.
    GroupMessage,
    /// `status@broadcast`: WhatsApp stories.
    StatusBroadcast,
    /// Broadcast lists and channels (newsletters).
    Broadcast,
    Reaction,
    /// Revocations, edits, ephemeral settings and other protocol traffic.
    ProtocolMessage,
    /// Polls, payments, orders and other message types without text for the engine.
    UnsupportedMessageType,
    /// A message without content (Evolution sends these for undecryptable messages).
    EmptyMessage,
    /// `SERVER_ACK`, `PENDING`, `ERROR`, `DELETED`: not a delivery status docs/protocol.md tracks.
    StatusNotTracked,
    /// A status update for a message the engine never stored.
    UnknownMessage,
    /// A chat update with nothing the engine keeps (no name), or for an unknown contact.
    NothingToApply,
}

impl IgnoreReason {
    pub fn as_str(self) -> &'static str {
        match self {
            IgnoreReason::UnsupportedEvent => "unsupported_event",
            IgnoreReason::GroupMessage => "group_message",
            IgnoreReason::StatusBroadcast => "status_broadcast",
            IgnoreReason::Broadcast => "broadcast",
            IgnoreReason::Reaction => "reaction",
            IgnoreReason::ProtocolMessage => "protocol_message",
            IgnoreReason::UnsupportedMessageType => "unsupported_message_type",
            IgnoreReason::EmptyMessage => "empty_message",
            IgnoreReason::StatusNotTracked => "status_not_tracked",
            IgnoreReason::UnknownMessage => "unknown_message",
            IgnoreReason::NothingToApply => "nothing_to_apply",
        }
    }
}

/// What kind of content a message has; `as_str` is the stored `content_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentKind {
    Text,
    Image,
    Video,
    Audio,
    Document,
    Sticker,
    Location,
    Contact,
}

impl ContentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ContentKind::Text => "text",
            ContentKind::Image => "image",
            ContentKind::Video => "video",
            ContentKind::Audio => "audio",
            ContentKind::Document => "document",
            ContentKind::Sticker => "sticker",
            ContentKind::Location => "location",
            ContentKind::Contact => "contact",
        }
    }
}

/// A message of a one-to-one chat.
#[derive(Debug, Clone, PartialEq)]
pub struct InboundMessage {
    /// WhatsApp's message id (`key.id`): the de-duplication key.
    pub external_id: String,
    /// The customer's JID (`5511999998888@s.whatsapp.net`), device suffix removed; for a
    /// LID-addressed chat, the phone JID Evolution gives beside it when it does.
    pub remote_jid: String,
    /// Sent by the business (its phone, WhatsApp Web, or the API), not by the customer.
    pub from_me: bool,
    /// The customer's WhatsApp name; `None` for the business's own messages, whose
    /// `pushName` is the business's name.
    pub push_name: Option<String>,
    pub timestamp: Option<DateTime<Utc>>,
    pub kind: ContentKind,
    /// The text, the media caption, or a `[type]` placeholder when a medium has none.
    pub text: String,
    pub truncated: bool,
    /// Media details (type, mimetype, caption, file name, length …); `None` for text.
    pub media: Option<Map<String, Value>>,
    /// Evolution's own `messageType` (`conversation`, `imageMessage` …), as sent.
    pub message_type: Option<String>,
}

impl InboundMessage {
    pub fn content_type(&self) -> &'static str {
        self.kind.as_str()
    }

    /// The customer's phone number in E.164 form, when the JID is a phone JID.
    pub fn phone(&self) -> Option<String> {
        let (user, server) = self.remote_jid.split_once('@')?;
        if server != "s.whatsapp.net"
            || user.is_empty()
            || !user.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        Some(format!("+{user}"))
    }

    /// Stored with the message: what the channel said beyond the text.
    pub fn metadata(&self, instance: Option<&str>) -> Value {
        let mut evolution = Map::new();
        evolution.insert("instance".into(), json!(instance));
        evolution.insert("remote_jid".into(), json!(self.remote_jid));
        evolution.insert("from_me".into(), json!(self.from_me));
        evolution.insert("message_type".into(), json!(self.message_type));
        let mut root = Map::new();
        root.insert("channel".into(), json!("evolution"));
        root.insert("evolution".into(), Value::Object(evolution));
        root.insert(
            "timestamp".into(),
            json!(self.timestamp.map(|t| t.to_rfc3339())),
        );
        if let Some(media) = &self.media {
            root.insert("media".into(), Value::Object(media.clone()));
        }
        if self.truncated {
            root.insert("truncated".into(), json!(true));
        }
        Value::Object(root)
    }
}

/// Delivery statuses docs/protocol.md tracks beyond `sent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DeliveryStatus {
    Delivered,
    Read,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Read => "read",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct StatusUpdate {
    /// WhatsApp's id of the message whose status moved.
    pub external_id: String,
    pub remote_jid: Option<String>,
    pub status: DeliveryStatus,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChatUpdate {
    pub remote_jid: String,
    pub name: Option<String>,
}

/// Reads the envelope; the error is one sentence for a 400.
pub fn envelope(body: &[u8]) -> Result<Envelope, String> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("body is not valid JSON: {e}"))?;
    let Value::Object(mut root) = value else {
        return Err("body must be a JSON object with `event` and `data`".into());
    };
    let event = match root.get("event") {
        Some(Value::String(event)) if !event.trim().is_empty() => normalize_event(event),
        Some(_) => return Err("event must be a non-empty string".into()),
        None => return Err("event is required".into()),
    };
    let instance = optional_string(&root, "instance")?;
    let apikey = optional_string(&root, "apikey")?;
    let data = root.remove("data").unwrap_or(Value::Null);
    Ok(Envelope {
        event,
        instance,
        apikey,
        data,
    })
}

/// `MESSAGES_UPSERT` → `messages.upsert`.
fn normalize_event(raw: &str) -> String {
    raw.trim().to_ascii_lowercase().replace('_', ".")
}

impl Envelope {
    /// Whether the engine acts on this event at all.
    pub fn is_supported(&self) -> bool {
        matches!(
            self.event.as_str(),
            "messages.upsert" | "send.message" | "messages.update" | "chats.update"
        )
    }

    /// The event's items. Every item is checked before any is returned, so a bad item
    /// refuses the whole event and nothing of it is stored.
    pub fn items(&self) -> Result<Vec<Item>, String> {
        match self.event.as_str() {
            "messages.upsert" => each(&self.data, |v, path| message(v, path, false)),
            "send.message" => each(&self.data, |v, path| message(v, path, true)),
            "messages.update" => each(&self.data, status_update),
            "chats.update" => each(&self.data, chat_update),
            _ => Ok(vec![Item::Ignored {
                id: None,
                reason: IgnoreReason::UnsupportedEvent,
            }]),
        }
    }
}

/// `data` is one object in v2 and an array of them in v1 and in batched events.
fn each(
    data: &Value,
    parse: impl Fn(&Map<String, Value>, &str) -> Result<Item, String>,
) -> Result<Vec<Item>, String> {
    match data {
        Value::Object(object) => Ok(vec![parse(object, "data")?]),
        Value::Array(items) => {
            if items.len() > MAX_ITEMS {
                return Err(format!("data must have at most {MAX_ITEMS} items"));
            }
            items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    let path = format!("data[{i}]");
                    match item {
                        Value::Object(object) => parse(object, &path),
                        _ => Err(format!("{path} must be an object")),
                    }
                })
                .collect()
        }
        Value::Null => Err("data is required".into()),
        _ => Err("data must be an object or an array of objects".into()),
    }
}

fn message(data: &Map<String, Value>, path: &str, api_echo: bool) -> Result<Item, String> {
    let key = match data.get("key") {
        Some(Value::Object(key)) => key,
        Some(_) => return Err(format!("{path}.key must be an object")),
        None => return Err(format!("{path}.key is required")),
    };
    let key_path = format!("{path}.key");
    let jid = required_string(key, &key_path, "remoteJid")?;
    let external_id = required_string(key, &key_path, "id")?;
    let from_me = api_echo || flag(key, &key_path, "fromMe")?;
    if let Some(reason) = chat_kind_ignored(&jid) {
        return Ok(Item::Ignored {
            id: Some(external_id),
            reason,
        });
    }
    let remote_jid = contact_jid(key, &jid);
    let content = match data.get("message") {
        Some(Value::Object(content)) => unwrap_content(content),
        Some(Value::Null) | None => None,
        Some(_) => return Err(format!("{path}.message must be an object")),
    };
    let Some(content) = content else {
        return Ok(Item::Ignored {
            id: Some(external_id),
            reason: IgnoreReason::EmptyMessage,
        });
    };
    let extracted = match extract(content) {
        Ok(extracted) => extracted,
        Err(reason) => {
            return Ok(Item::Ignored {
                id: Some(external_id),
                reason,
            })
        }
    };
    let (text, truncated) = cut(&extracted.text);
    let push_name = if from_me {
        None
    } else {
        optional_string(data, "pushName")?
            .map(|n| n.trim().chars().take(MAX_FIELD_CHARS).collect::<String>())
            .filter(|n| !n.is_empty())
    };
    Ok(Item::Message(InboundMessage {
        external_id,
        remote_jid,
        from_me,
        push_name,
        timestamp: data.get("messageTimestamp").and_then(timestamp),
        kind: extracted.kind,
        text,
        truncated,
        media: extracted.media,
        message_type: data
            .get("messageType")
            .and_then(Value::as_str)
            .map(str::to_string),
    }))
}

/// Which chats are not one-to-one conversations with a customer.
fn chat_kind_ignored(jid: &str) -> Option<IgnoreReason> {
    if jid.ends_with("@g.us") {
        Some(IgnoreReason::GroupMessage)
    } else if jid == "status@broadcast" {
        Some(IgnoreReason::StatusBroadcast)
    } else if jid.ends_with("@broadcast") || jid.ends_with("@newsletter") {
        Some(IgnoreReason::Broadcast)
    } else {
        None
    }
}

/// The JID that identifies the customer: the phone JID without a device suffix. Chats that
/// WhatsApp addresses by LID (`…@lid`) carry the phone JID beside it in recent Evolution
/// versions (`remoteJidAlt`, or `senderPn`); replies need the phone number, so it wins.
fn contact_jid(key: &Map<String, Value>, jid: &str) -> String {
    let jid = if jid.ends_with("@lid") {
        ["remoteJidAlt", "senderPn"]
            .iter()
            .filter_map(|field| key.get(*field).and_then(Value::as_str))
            .find(|alt| alt.ends_with("@s.whatsapp.net"))
            .unwrap_or(jid)
    } else {
        jid
    };
    match jid.split_once('@') {
        Some((user, server)) => {
            let user = user.split(':').next().unwrap_or(user);
            format!("{user}@{server}")
        }
        None => jid.to_string(),
    }
}

/// Ephemeral, view-once and "document with caption" messages wrap the real one.
fn unwrap_content(content: &Map<String, Value>) -> Option<&Map<String, Value>> {
    const WRAPPERS: [&str; 5] = [
        "ephemeralMessage",
        "viewOnceMessage",
        "viewOnceMessageV2",
        "viewOnceMessageV2Extension",
        "documentWithCaptionMessage",
    ];
    let mut current = content;
    // Bounded: wrappers nest at most a couple of levels in practice.
    for _ in 0..4 {
        let inner = WRAPPERS.iter().find_map(|w| {
            current
                .get(*w)
                .and_then(|v| v.get("message"))
                .and_then(Value::as_object)
        });
        match inner {
            Some(inner) => current = inner,
            None => break,
        }
    }
    // Only bookkeeping keys (`messageContextInfo`, `base64`) means there is no content.
    let has_content = current
        .keys()
        .any(|k| k != "messageContextInfo" && k != "base64");
    has_content.then_some(current)
}

struct Extracted {
    kind: ContentKind,
    text: String,
    media: Option<Map<String, Value>>,
}

fn text_of(value: Option<&Value>) -> Option<String> {
    value
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
}

fn extract(content: &Map<String, Value>) -> Result<Extracted, IgnoreReason> {
    let text = |text: String| {
        Ok(Extracted {
            kind: ContentKind::Text,
            text,
            media: None,
        })
    };
    if let Some(t) = text_of(content.get("conversation")) {
        return text(t);
    }
    if let Some(t) = text_of(
        content
            .get("extendedTextMessage")
            .and_then(|m| m.get("text")),
    ) {
        return text(t);
    }
    // Replies to buttons and lists sent by the business read as what the customer chose.
    for (message, field) in [
        ("buttonsResponseMessage", "selectedDisplayText"),
        ("templateButtonReplyMessage", "selectedDisplayText"),
        ("listResponseMessage", "title"),
    ] {
        if let Some(t) = text_of(content.get(message).and_then(|m| m.get(field))) {
            return text(t);
        }
    }
    if let Some(t) = text_of(
        content
            .get("interactiveResponseMessage")
            .and_then(|m| m.get("body"))
            .and_then(|b| b.get("text")),
    ) {
        return text(t);
    }
    const MEDIA: [(&str, ContentKind); 6] = [
        ("imageMessage", ContentKind::Image),
        ("videoMessage", ContentKind::Video),
        ("ptvMessage", ContentKind::Video),
        ("audioMessage", ContentKind::Audio),
        ("documentMessage", ContentKind::Document),
        ("stickerMessage", ContentKind::Sticker),
    ];
    for (field, kind) in MEDIA {
        if let Some(Value::Object(media)) = content.get(field) {
            return Ok(media_message(kind, media));
        }
    }
    for field in ["locationMessage", "liveLocationMessage"] {
        if let Some(Value::Object(location)) = content.get(field) {
            return Ok(location_message(location));
        }
    }
    if let Some(Value::Object(contact)) = content.get("contactMessage") {
        let name = text_of(contact.get("displayName"));
        let mut media = Map::new();
        media.insert("type".into(), json!("contact"));
        media.insert("display_name".into(), json!(name));
        media.insert("vcard".into(), json!(text_of(contact.get("vcard"))));
        return Ok(Extracted {
            kind: ContentKind::Contact,
            text: name.map_or_else(|| "[contact]".into(), |n| format!("[contact] {n}")),
            media: Some(media),
        });
    }
    if content.contains_key("contactsArrayMessage") {
        let mut media = Map::new();
        media.insert("type".into(), json!("contact"));
        return Ok(Extracted {
            kind: ContentKind::Contact,
            text: "[contacts]".into(),
            media: Some(media),
        });
    }
    if content.contains_key("reactionMessage") {
        return Err(IgnoreReason::Reaction);
    }
    if content.contains_key("protocolMessage")
        || content.contains_key("editedMessage")
        || content.contains_key("senderKeyDistributionMessage")
    {
        return Err(IgnoreReason::ProtocolMessage);
    }
    Err(IgnoreReason::UnsupportedMessageType)
}

fn media_message(kind: ContentKind, media: &Map<String, Value>) -> Extracted {
    let caption = text_of(media.get("caption"));
    let mut details = Map::new();
    details.insert("type".into(), json!(kind.as_str()));
    details.insert("caption".into(), json!(caption));
    details.insert("mimetype".into(), json!(text_of(media.get("mimetype"))));
    // Evolution sends sizes and durations as numbers or numeric strings.
    let number = |field: &str| match media.get(field) {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse::<u64>().ok(),
        _ => None,
    };
    if let Some(length) = number("fileLength") {
        details.insert("file_length".into(), json!(length));
    }
    if let Some(seconds) = number("seconds") {
        details.insert("seconds".into(), json!(seconds));
    }
    if let Some(name) = text_of(media.get("fileName")) {
        details.insert("file_name".into(), json!(name));
    }
    if kind == ContentKind::Audio {
        let voice_note = media.get("ptt").and_then(Value::as_bool).unwrap_or(false);
        details.insert("voice_note".into(), json!(voice_note));
    }
    let text = caption.clone().unwrap_or_else(|| {
        match (kind, details.get("file_name").and_then(Value::as_str)) {
            (ContentKind::Document, Some(name)) => format!("[document] {name}"),
            _ => format!("[{}]", kind.as_str()),
        }
    });
    Extracted {
        kind,
        text,
        media: Some(details),
    }
}

fn location_message(location: &Map<String, Value>) -> Extracted {
    let latitude = location.get("degreesLatitude").and_then(Value::as_f64);
    let longitude = location.get("degreesLongitude").and_then(Value::as_f64);
    let name = text_of(location.get("name"));
    let address = text_of(location.get("address"));
    let mut details = Map::new();
    details.insert("type".into(), json!("location"));
    details.insert("latitude".into(), json!(latitude));
    details.insert("longitude".into(), json!(longitude));
    details.insert("name".into(), json!(name));
    details.insert("address".into(), json!(address));
    let place = [name, address]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(", ");
    let text = match (place.is_empty(), latitude, longitude) {
        (false, _, _) => format!("[location] {place}"),
        (true, Some(lat), Some(lng)) => format!("[location] {lat},{lng}"),
        _ => "[location]".into(),
    };
    Extracted {
        kind: ContentKind::Location,
        text,
        media: Some(details),
    }
}

/// Cuts a text to [`MAX_TEXT_BYTES`] on a character boundary.
fn cut(text: &str) -> (String, bool) {
    if text.len() <= MAX_TEXT_BYTES {
        return (text.to_string(), false);
    }
    let mut end = MAX_TEXT_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    (text[..end].to_string(), true)
}

/// `messageTimestamp`: Unix seconds as a number or a numeric string, or a protobuf Long
/// (`{"low", "high", "unsigned"}`) from older versions; milliseconds are recognised by size.
fn timestamp(value: &Value) -> Option<DateTime<Utc>> {
    let raw: i64 = match value {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64))?,
        Value::String(s) => s.trim().parse().ok()?,
        Value::Object(long) => {
            let low = long.get("low")?.as_i64()?;
            let high = long.get("high").and_then(Value::as_i64).unwrap_or(0);
            (high << 32) | (low & 0xffff_ffff)
        }
        _ => return None,
    };
    if raw <= 0 {
        return None;
    }
    let seconds = if raw > 100_000_000_000 {
        raw / 1000
    } else {
        raw
    };
    crate::domain::dates::from_unix_seconds(seconds).ok()
}

fn status_update(data: &Map<String, Value>, path: &str) -> Result<Item, String> {
    // v2: `{keyId, remoteJid, fromMe, status: "READ"}`; v1: `{key: {id, remoteJid, fromMe},
    // update: {status: 4}}`.
    let key = data.get("key").and_then(Value::as_object);
    let external_id = match (data.get("keyId"), key) {
        (Some(_), _) => required_string(data, path, "keyId")?,
        (None, Some(key)) => required_string(key, &format!("{path}.key"), "id")?,
        (None, None) => return Err(format!("{path}.keyId is required")),
    };
    let remote_jid = data
        .get("remoteJid")
        .or_else(|| key.and_then(|k| k.get("remoteJid")))
        .and_then(Value::as_str)
        .map(str::to_string);
    if let Some(reason) = remote_jid.as_deref().and_then(chat_kind_ignored) {
        return Ok(Item::Ignored {
            id: Some(external_id),
            reason,
        });
    }
    let status = data
        .get("status")
        .or_else(|| data.get("update").and_then(|u| u.get("status")));
    let status = match status {
        Some(Value::String(s)) => match s.trim().to_ascii_uppercase().as_str() {
            "DELIVERY_ACK" | "DELIVERED" => Some(DeliveryStatus::Delivered),
            "READ" | "PLAYED" => Some(DeliveryStatus::Read),
            "SERVER_ACK" | "PENDING" | "ERROR" | "DELETED" => None,
            other => {
                return Err(format!(
                    "{path}.status `{other}` is not an Evolution status"
                ))
            }
        },
        // Baileys' numeric WAMessageStatus: 0 error, 1 pending, 2 server ack, 3 delivered,
        // 4 read, 5 played.
        Some(Value::Number(n)) => match n.as_u64() {
            Some(3) => Some(DeliveryStatus::Delivered),
            Some(4 | 5) => Some(DeliveryStatus::Read),
            Some(0..=2) => None,
            _ => return Err(format!("{path}.status {n} is not an Evolution status")),
        },
        Some(_) => return Err(format!("{path}.status must be a string")),
        None => return Err(format!("{path}.status is required")),
    };
    Ok(match status {
        Some(status) => Item::Status(StatusUpdate {
            external_id,
            remote_jid,
            status,
        }),
        None => Item::Ignored {
            id: Some(external_id),
            reason: IgnoreReason::StatusNotTracked,
        },
    })
}

fn chat_update(data: &Map<String, Value>, path: &str) -> Result<Item, String> {
    let jid = required_string(data, path, "remoteJid")?;
    if let Some(reason) = chat_kind_ignored(&jid) {
        return Ok(Item::Ignored {
            id: Some(jid),
            reason,
        });
    }
    let name = ["name", "pushName"]
        .iter()
        .find_map(|field| text_of(data.get(*field)))
        .map(|n| n.chars().take(MAX_FIELD_CHARS).collect::<String>());
    Ok(Item::Chat(ChatUpdate {
        remote_jid: contact_jid(data, &jid),
        name,
    }))
}

fn required_string(object: &Map<String, Value>, path: &str, field: &str) -> Result<String, String> {
    match object.get(field) {
        Some(Value::String(s)) if !s.trim().is_empty() => {
            if s.chars().count() > MAX_FIELD_CHARS {
                Err(format!(
                    "{path}.{field} is longer than {MAX_FIELD_CHARS} characters"
                ))
            } else {
                Ok(s.trim().to_string())
            }
        }
        Some(Value::String(_)) => Err(format!("{path}.{field} must not be empty")),
        Some(_) => Err(format!("{path}.{field} must be a string")),
        None => Err(format!("{path}.{field} is required")),
    }
}

fn optional_string(object: &Map<String, Value>, field: &str) -> Result<Option<String>, String> {
    match object.get(field) {
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Null) | None => Ok(None),
        Some(_) => Err(format!("{field} must be a string")),
    }
}

fn flag(object: &Map<String, Value>, path: &str, field: &str) -> Result<bool, String> {
    match object.get(field) {
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::Null) | None => Ok(false),
        Some(_) => Err(format!("{path}.{field} must be a boolean")),
    }
}

/// `{base_url}/{segments…}` of the Evolution API, each segment escaped as one (an instance
/// name may hold spaces or slashes), keeping the base URL's own path.
/// Where an Evolution integration's API is and the key it takes: what every call to it
/// (replies, presence) needs first. The errors say which setting is missing.
pub struct Endpoint<'a> {
    pub base_url: &'a str,
    pub instance: &'a str,
    pub api_key: secrecy::SecretString,
}

pub fn endpoint<'a>(
    integration: &'a crate::store::integrations::Integration,
    secrets: &crate::secrets::SecretBox,
) -> Result<Endpoint<'a>, String> {
    let base_url = integration
        .base_url
        .as_deref()
        .filter(|u| !u.trim().is_empty())
        .ok_or("the evolution integration has no base_url")?;
    let instance = integration
        .instance
        .as_deref()
        .map(str::trim)
        .filter(|i| !i.is_empty())
        .ok_or("the evolution integration has no instance")?;
    let api_key = integration
        .api_key(secrets)
        .map_err(|_| {
            "the integration api_key cannot be unsealed (was secrets.encryption_key changed?)"
                .to_string()
        })?
        .ok_or("the evolution integration has no api_key")?;
    Ok(Endpoint {
        base_url,
        instance,
        api_key,
    })
}

pub fn api_url(base: &str, segments: &[&str]) -> Result<String, String> {
    let mut url = reqwest::Url::parse(base.trim())
        .map_err(|e| format!("the evolution base_url is not a valid URL: {e}"))?;
    url.path_segments_mut()
        .map_err(|_| "the evolution base_url cannot take a path".to_string())?
        .pop_if_empty()
        .extend(segments);
    Ok(url.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(body: &Value) -> Vec<Item> {
        envelope(body.to_string().as_bytes())
            .expect("envelope")
            .items()
            .expect("items")
    }

    fn only_message(body: &Value) -> InboundMessage {
        match items(body).as_slice() {
            [Item::Message(m)] => m.clone(),
            other => panic!("expected one message, got {other:?}"),
        }
    }

    fn ignored(body: &Value) -> IgnoreReason {
        match items(body).as_slice() {
            [Item::Ignored { reason, .. }] => *reason,
            other => panic!("expected one ignored item, got {other:?}"),
        }
    }

    /// `messages.upsert` of a plain text, as Evolution API v2.2 posts it.
    fn upsert_text() -> Value {
        json!({
            "event": "messages.upsert",
            "instance": "loja-centro",
            "data": {
                "key": {
                    "remoteJid": "5511999998888@s.whatsapp.net",
                    "fromMe": false,
                    "id": "3EB0C431C26A1916E3B4"
                },
                "pushName": "João Silva",
                "status": "DELIVERY_ACK",
                "message": {
                    "conversation": "Olá, meu pedido não chegou",
                    "messageContextInfo": {
                        "deviceListMetadata": {"senderKeyHash": "Ht0yP7fK0Q==", "senderTimestamp": "1717680000"},
                        "deviceListMetadataVersion": 2
                    }
                },
                "contextInfo": null,
                "messageType": "conversation",
                "messageTimestamp": 1717689097,
                "instanceId": "2a7e6b9f-0c5d-4a57-9a1e-3e8f1c0d5b21",
                "source": "android"
            },
            "destination": "https://atende.example.com/webhooks/evolution/0192f0a0-0000-7000-8000-000000000000",
            "date_time": "2024-06-06T12:51:37.654Z",
            "sender": "5511988887777@s.whatsapp.net",
            "server_url": "https://evo.example.com",
            "apikey": "B6D711FCDE4D4FD5936544120E713976"
        })
    }

    #[test]
    fn a_text_message_is_read_with_its_sender_and_time() {
        let body = upsert_text();
        let env = envelope(body.to_string().as_bytes()).expect("envelope");
        assert_eq!(env.event, "messages.upsert");
        assert_eq!(env.instance.as_deref(), Some("loja-centro"));
        assert_eq!(
            env.apikey.as_deref(),
            Some("B6D711FCDE4D4FD5936544120E713976")
        );
        let m = only_message(&body);
        assert_eq!(m.external_id, "3EB0C431C26A1916E3B4");
        assert_eq!(m.remote_jid, "5511999998888@s.whatsapp.net");
        assert_eq!(m.phone().as_deref(), Some("+5511999998888"));
        assert!(!m.from_me);
        assert_eq!(m.push_name.as_deref(), Some("João Silva"));
        assert_eq!(m.text, "Olá, meu pedido não chegou");
        assert_eq!(m.content_type(), "text");
        assert_eq!(
            m.timestamp.map(|t| t.to_rfc3339()).as_deref(),
            Some("2024-06-06T15:51:37+00:00")
        );
        assert_eq!(m.media, None);
        let meta = m.metadata(Some("loja-centro"));
        assert_eq!(meta["evolution"]["message_type"], "conversation");
        assert_eq!(meta["evolution"]["instance"], "loja-centro");
    }

    #[test]
    fn extended_text_and_v1_event_spelling_are_read() {
        let body = json!({
            "event": "MESSAGES_UPSERT",
            "instance": "loja-centro",
            "data": {
                "key": {"remoteJid": "5521988887777@s.whatsapp.net", "fromMe": false, "id": "BAE5F0A1B2C3D4E5"},
                "pushName": "Maria",
                "message": {"extendedTextMessage": {
                    "text": "Vi isso aqui: https://loja.example.com/p/123",
                    "matchedText": "https://loja.example.com/p/123",
                    "previewType": 0,
                    "contextInfo": {"stanzaId": "3EB0AAAA", "participant": "5511988887777@s.whatsapp.net",
                        "quotedMessage": {"conversation": "Oi"}}
                }},
                "messageType": "extendedTextMessage",
                "messageTimestamp": "1717689100"
            }
        });
        let m = only_message(&body);
        assert_eq!(m.text, "Vi isso aqui: https://loja.example.com/p/123");
        assert_eq!(m.kind, ContentKind::Text);
        assert_eq!(m.timestamp.map(|t| t.timestamp()), Some(1_717_689_100));
    }

    #[test]
    fn media_messages_keep_their_type_and_caption() {
        let image = json!({
            "event": "messages.upsert", "instance": "loja-centro",
            "data": {
                "key": {"remoteJid": "5511999998888@s.whatsapp.net", "fromMe": false, "id": "3EB0IMG"},
                "pushName": "João Silva",
                "message": {"imageMessage": {
                    "url": "https://mmg.whatsapp.net/o1/v/t62.7118-24/f1/m232/up-oil-image.enc",
                    "mimetype": "image/jpeg",
                    "caption": "Chegou assim, quebrado",
                    "fileSha256": "Xr2Lqk0pZ0s=", "fileLength": "48213", "height": 1280, "width": 960,
                    "mediaKey": "e3J0c2VjcmV0", "jpegThumbnail": "/9j/4AAQSkZJRg=="
                }},
                "messageType": "imageMessage",
                "messageTimestamp": 1717689200
            }
        });
        let m = only_message(&image);
        assert_eq!(m.content_type(), "image");
        assert_eq!(m.text, "Chegou assim, quebrado");
        let media = m.media.expect("media details");
        assert_eq!(media["caption"], "Chegou assim, quebrado");
        assert_eq!(media["mimetype"], "image/jpeg");
        assert_eq!(media["file_length"], 48213);
        assert!(
            !media.contains_key("url"),
            "encrypted media URLs are useless without the key"
        );

        let voice = json!({
            "event": "messages.upsert", "instance": "loja-centro",
            "data": {
                "key": {"remoteJid": "5511999998888@s.whatsapp.net", "fromMe": false, "id": "3EB0AUD"},
                "message": {"audioMessage": {"mimetype": "audio/ogg; codecs=opus", "seconds": 7, "ptt": true}},
                "messageType": "audioMessage", "messageTimestamp": 1717689300
            }
        });
        let m = only_message(&voice);
        assert_eq!(m.content_type(), "audio");
        assert_eq!(m.text, "[audio]");
        let media = m.media.expect("media");
        assert_eq!(media["seconds"], 7);
        assert_eq!(media["voice_note"], true);

        let document = json!({
            "event": "messages.upsert", "instance": "loja-centro",
            "data": {
                "key": {"remoteJid": "5511999998888@s.whatsapp.net", "fromMe": false, "id": "3EB0DOC"},
                "message": {"documentWithCaptionMessage": {"message": {"documentMessage": {
                    "mimetype": "application/pdf", "fileName": "nota-fiscal.pdf",
                    "caption": "Segue a nota", "fileLength": {"low": 1024, "high": 0, "unsigned": true}
                }}}},
                "messageType": "documentWithCaptionMessage", "messageTimestamp": 1717689400
            }
        });
        let m = only_message(&document);
        assert_eq!(m.content_type(), "document");
        assert_eq!(m.text, "Segue a nota");
        assert_eq!(m.media.expect("media")["file_name"], "nota-fiscal.pdf");

        let location = json!({
            "event": "messages.upsert", "instance": "loja-centro",
            "data": {
                "key": {"remoteJid": "5511999998888@s.whatsapp.net", "fromMe": false, "id": "3EB0LOC"},
                "message": {"locationMessage": {"degreesLatitude": -23.5505, "degreesLongitude": -46.6333,
                    "name": "Loja Centro", "address": "Rua Direita, 10"}},
                "messageType": "locationMessage", "messageTimestamp": 1717689500
            }
        });
        let m = only_message(&location);
        assert_eq!(m.content_type(), "location");
        assert_eq!(m.text, "[location] Loja Centro, Rua Direita, 10");
    }

    #[test]
    fn ephemeral_and_view_once_wrappers_are_opened() {
        let body = json!({
            "event": "messages.upsert", "instance": "loja-centro",
            "data": {
                "key": {"remoteJid": "5511999998888@s.whatsapp.net", "fromMe": false, "id": "3EB0EPH"},
                "message": {"ephemeralMessage": {"message": {"viewOnceMessageV2": {"message": {
                    "imageMessage": {"mimetype": "image/jpeg"}
                }}}}},
                "messageType": "ephemeralMessage", "messageTimestamp": 1717689600
            }
        });
        let m = only_message(&body);
        assert_eq!(m.content_type(), "image");
        assert_eq!(m.text, "[image]");
    }

    #[test]
    fn from_me_messages_are_outbound_and_carry_no_customer_name() {
        let mut body = upsert_text();
        body["data"]["key"]["fromMe"] = json!(true);
        body["data"]["pushName"] = json!("Loja Centro");
        let m = only_message(&body);
        assert!(m.from_me);
        assert_eq!(
            m.push_name, None,
            "pushName of fromMe is the business's own"
        );

        let echo = json!({
            "event": "send.message", "instance": "loja-centro",
            "data": {
                "key": {"remoteJid": "5511999998888@s.whatsapp.net", "fromMe": true, "id": "BAE594145F4C59B4"},
                "pushName": "",
                "message": {"extendedTextMessage": {"text": "Claro! Vou verificar."}},
                "messageType": "extendedTextMessage", "messageTimestamp": 1717689700,
                "status": "PENDING"
            }
        });
        let m = only_message(&echo);
        assert!(m.from_me);
        assert_eq!(m.text, "Claro! Vou verificar.");
    }

    #[test]
    fn lid_chats_use_the_phone_jid_and_device_suffixes_go() {
        let body = json!({
            "event": "messages.upsert", "instance": "loja-centro",
            "data": {
                "key": {"remoteJid": "123456789012345@lid", "remoteJidAlt": "5511999998888@s.whatsapp.net",
                    "fromMe": false, "id": "3EB0LID"},
                "message": {"conversation": "oi"}, "messageTimestamp": 1717689800
            }
        });
        assert_eq!(
            only_message(&body).remote_jid,
            "5511999998888@s.whatsapp.net"
        );
        let mut device = upsert_text();
        device["data"]["key"]["remoteJid"] = json!("5511999998888:12@s.whatsapp.net");
        assert_eq!(
            only_message(&device).remote_jid,
            "5511999998888@s.whatsapp.net"
        );
    }

    #[test]
    fn groups_broadcasts_reactions_and_protocol_messages_are_ignored() {
        let mut group = upsert_text();
        group["data"]["key"]["remoteJid"] = json!("120363025246125888@g.us");
        group["data"]["key"]["participant"] = json!("5511999998888@s.whatsapp.net");
        assert_eq!(ignored(&group), IgnoreReason::GroupMessage);

        let mut status = upsert_text();
        status["data"]["key"]["remoteJid"] = json!("status@broadcast");
        assert_eq!(ignored(&status), IgnoreReason::StatusBroadcast);

        let mut newsletter = upsert_text();
        newsletter["data"]["key"]["remoteJid"] = json!("120363144038483540@newsletter");
        assert_eq!(ignored(&newsletter), IgnoreReason::Broadcast);

        let mut reaction = upsert_text();
        reaction["data"]["message"] = json!({"reactionMessage": {
            "key": {"remoteJid": "5511999998888@s.whatsapp.net", "fromMe": true, "id": "BAE5"},
            "text": "👍", "senderTimestampMs": "1717689097000"}});
        assert_eq!(ignored(&reaction), IgnoreReason::Reaction);

        let mut revoke = upsert_text();
        revoke["data"]["message"] =
            json!({"protocolMessage": {"key": {"id": "3EB0C431C26A1916E3B4"}, "type": "REVOKE"}});
        assert_eq!(ignored(&revoke), IgnoreReason::ProtocolMessage);

        let mut poll = upsert_text();
        poll["data"]["message"] =
            json!({"pollCreationMessageV3": {"name": "Qual?", "options": []}});
        assert_eq!(ignored(&poll), IgnoreReason::UnsupportedMessageType);

        let mut empty = upsert_text();
        empty["data"]["message"] = Value::Null;
        assert_eq!(ignored(&empty), IgnoreReason::EmptyMessage);
        empty["data"]["message"] = json!({"messageContextInfo": {}});
        assert_eq!(ignored(&empty), IgnoreReason::EmptyMessage);
    }

    #[test]
    fn status_updates_in_v2_and_v1_shapes() {
        let v2 = json!({
            "event": "messages.update", "instance": "loja-centro",
            "data": {
                "messageId": "clx2h8w0v0001qz8k3g5f9r1b",
                "keyId": "BAE594145F4C59B4",
                "remoteJid": "5511999998888@s.whatsapp.net",
                "fromMe": true,
                "participant": "5511999998888@s.whatsapp.net",
                "status": "READ",
                "instanceId": "2a7e6b9f-0c5d-4a57-9a1e-3e8f1c0d5b21"
            },
            "date_time": "2024-06-06T12:52:00.000Z",
            "apikey": "B6D711FCDE4D4FD5936544120E713976"
        });
        assert_eq!(
            items(&v2),
            vec![Item::Status(StatusUpdate {
                external_id: "BAE594145F4C59B4".into(),
                remote_jid: Some("5511999998888@s.whatsapp.net".into()),
                status: DeliveryStatus::Read,
            })]
        );
        let v1 = json!({
            "event": "MESSAGES_UPDATE", "instance": "loja-centro",
            "data": [
                {"key": {"remoteJid": "5511999998888@s.whatsapp.net", "fromMe": true, "id": "BAE5A"}, "update": {"status": 3}},
                {"key": {"remoteJid": "5511999998888@s.whatsapp.net", "fromMe": true, "id": "BAE5B"}, "update": {"status": 2}}
            ]
        });
        let parsed = items(&v1);
        assert!(
            matches!(&parsed[0], Item::Status(s) if s.status == DeliveryStatus::Delivered && s.external_id == "BAE5A")
        );
        assert_eq!(
            parsed[1],
            Item::Ignored {
                id: Some("BAE5B".into()),
                reason: IgnoreReason::StatusNotTracked
            }
        );
        let mut server_ack = v2.clone();
        server_ack["data"]["status"] = json!("SERVER_ACK");
        assert_eq!(ignored(&server_ack), IgnoreReason::StatusNotTracked);
    }

    #[test]
    fn chat_updates_carry_the_chat_and_its_name() {
        let body = json!({
            "event": "chats.update", "instance": "loja-centro",
            "data": [
                {"remoteJid": "5511999998888@s.whatsapp.net", "instanceId": "2a7e", "unreadMessages": 0, "name": "João S."},
                {"remoteJid": "120363025246125888@g.us", "instanceId": "2a7e", "unreadMessages": 3}
            ]
        });
        let parsed = items(&body);
        assert_eq!(
            parsed[0],
            Item::Chat(ChatUpdate {
                remote_jid: "5511999998888@s.whatsapp.net".into(),
                name: Some("João S.".into())
            })
        );
        assert!(matches!(
            parsed[1],
            Item::Ignored {
                reason: IgnoreReason::GroupMessage,
                ..
            }
        ));
    }

    #[test]
    fn other_events_are_ignored_not_refused() {
        let body = json!({"event": "connection.update", "instance": "loja-centro",
            "data": {"instance": "loja-centro", "state": "open", "statusReason": 200}});
        let env = envelope(body.to_string().as_bytes()).expect("envelope");
        assert!(!env.is_supported());
        assert_eq!(ignored(&body), IgnoreReason::UnsupportedEvent);
    }

    #[test]
    fn malformed_payloads_name_the_field() {
        let bad = |body: &str| -> String {
            match envelope(body.as_bytes()).and_then(|e| e.items()) {
                Ok(items) => panic!("accepted {body}: {items:?}"),
                Err(e) => e,
            }
        };
        assert!(bad("not json").contains("not valid JSON"));
        assert!(bad("[]").contains("JSON object"));
        assert_eq!(bad(r#"{"data": {}}"#), "event is required");
        assert_eq!(bad(r#"{"event": 3}"#), "event must be a non-empty string");
        assert_eq!(bad(r#"{"event": "messages.upsert"}"#), "data is required");
        assert_eq!(
            bad(r#"{"event": "messages.upsert", "data": {"message": {"conversation": "oi"}}}"#),
            "data.key is required"
        );
        assert_eq!(
            bad(
                r#"{"event": "messages.upsert", "data": {"key": {"remoteJid": "5511@s.whatsapp.net"}}}"#
            ),
            "data.key.id is required"
        );
        assert_eq!(
            bad(r#"{"event": "messages.upsert", "data": {"key": {"id": "A"}}}"#),
            "data.key.remoteJid is required"
        );
        assert_eq!(
            bad(
                r#"{"event": "messages.upsert", "data": {"key": {"id": "A", "remoteJid": "5511@s.whatsapp.net", "fromMe": "no"}}}"#
            ),
            "data.key.fromMe must be a boolean"
        );
        assert_eq!(
            bad(
                r#"{"event": "messages.update", "data": {"remoteJid": "5511@s.whatsapp.net", "status": "READ"}}"#
            ),
            "data.keyId is required"
        );
        assert_eq!(
            bad(r#"{"event": "messages.update", "data": {"keyId": "A", "status": "SEEN"}}"#),
            "data.status `SEEN` is not an Evolution status"
        );
        assert_eq!(
            bad(r#"{"event": "chats.update", "data": [{"remoteJid": "5511@s.whatsapp.net"}, 3]}"#),
            "data[1] must be an object"
        );
    }

    #[test]
    fn long_texts_are_cut_on_a_character_boundary() {
        let mut body = upsert_text();
        body["data"]["message"]["conversation"] = json!("ã".repeat(MAX_TEXT_BYTES));
        let m = only_message(&body);
        assert!(m.truncated);
        assert!(m.text.len() <= MAX_TEXT_BYTES);
        assert!(m.text.chars().all(|c| c == 'ã'));
        assert_eq!(m.metadata(None)["truncated"], true);
    }

    #[test]
    fn timestamps_in_every_spelling() {
        assert_eq!(
            timestamp(&json!(1717689097)).map(|t| t.timestamp()),
            Some(1717689097)
        );
        assert_eq!(
            timestamp(&json!("1717689097")).map(|t| t.timestamp()),
            Some(1717689097)
        );
        assert_eq!(
            timestamp(&json!(1717689097000_i64)).map(|t| t.timestamp()),
            Some(1717689097)
        );
        assert_eq!(
            timestamp(&json!({"low": 1717689097, "high": 0, "unsigned": true}))
                .map(|t| t.timestamp()),
            Some(1717689097)
        );
        assert_eq!(timestamp(&json!("soon")), None);
        assert_eq!(timestamp(&json!(0)), None);
    }
}
