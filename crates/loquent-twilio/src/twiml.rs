//! TwiML: the XML documents we answer Twilio's voice webhooks with.
//!
//! One set of types serves both directions: the app builds a [`Response`] and renders it
//! with [`Response::to_xml`]; the sandbox's call simulator reads documents back with
//! [`Response::parse`], which rejects what Twilio would reject (unknown verbs, bad nesting,
//! misspelt attributes). The parser is deliberately strict about attributes because the
//! classic TwiML bugs are silent ones, such as `recordingChannels` on `<Recording>` (the
//! noun's attribute is `channels`) which Twilio ignores and records mono.
//!
//! Only the verbs Loquent uses are modelled: `Say`, `Pause`, `Hangup`, `Redirect`, `Dial`
//! (with `Number`), `Start` (with `Recording` and/or `Stream`) and `Connect` (with `Stream`).

use std::fmt;
use std::str::FromStr;

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use crate::phone_number::E164;

/// Content type to answer a voice webhook with.
pub const CONTENT_TYPE: &str = "text/xml; charset=utf-8";

const XML_DECLARATION: &str = r#"<?xml version="1.0" encoding="UTF-8"?>"#;

/// A complete TwiML document: `<Response>` and its verbs, executed in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Response {
    pub verbs: Vec<Verb>,
}

/// One top-level TwiML instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verb {
    Say(Say),
    Pause(Pause),
    Hangup,
    Redirect(Redirect),
    Dial(Dial),
    Start(Start),
    Connect(Connect),
}

/// `<Say>`: text-to-speech.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Say {
    pub text: String,
    pub voice: Option<String>,
    pub language: Option<String>,
    /// `loop`: how many times to repeat; `0` repeats until the call ends.
    pub loop_count: Option<u32>,
}

/// `<Pause>`: silence, `length` seconds (Twilio's default is 1).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pause {
    pub length: Option<u32>,
}

/// `<Redirect>`: fetch TwiML from another URL; nothing after it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    pub url: String,
    pub method: Option<Method>,
}

/// `<Dial>` to one or more phone numbers (they ring simultaneously; first to answer wins).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dial {
    pub numbers: Vec<E164>,
    /// `callerId`: must be a number the account owns or has verified.
    pub caller_id: Option<E164>,
    /// Seconds to ring before giving up (Twilio's default is 30).
    pub timeout: Option<u32>,
    /// URL Twilio requests when the dialled call ends; its TwiML replaces the rest.
    pub action: Option<String>,
    pub method: Option<Method>,
}

/// `<Start>`: fork something that runs alongside the call, then continue immediately.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Start {
    pub nouns: Vec<StartNoun>,
}

/// What `<Start>` can start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartNoun {
    Recording(Recording),
    /// A unidirectional (listen-only) media stream. The track choice lives here rather
    /// than on [`Stream`] because only `<Start><Stream>` may pick one.
    Stream {
        stream: Stream,
        track: Option<StreamTrack>,
    },
}

/// `<Recording>` inside `<Start>`: whole-call background recording.
///
/// Attribute names are the noun's own (`channels`, `track`), not the REST API's
/// `RecordingChannels`/`RecordingTrack`. Twilio's defaults: dual channels, both tracks,
/// `trim-silence`, events `completed`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recording {
    pub recording_status_callback: Option<String>,
    pub recording_status_callback_method: Option<Method>,
    /// Rendered space-separated; empty means Twilio's default (`completed` only).
    pub recording_status_callback_event: Vec<RecordingEvent>,
    pub channels: Option<RecordingChannels>,
    pub track: Option<RecordingTrack>,
    pub trim: Option<Trim>,
}

/// `<Stream>`: a Media Streams WebSocket. `url` must be `wss://` and carry no query string;
/// pass data with [`Stream::parameter`] instead (it arrives in `start.customParameters`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stream {
    pub url: String,
    pub name: Option<String>,
    pub status_callback: Option<String>,
    pub status_callback_method: Option<Method>,
    pub parameters: Vec<Parameter>,
}

/// `<Parameter name value>` inside `<Stream>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parameter {
    pub name: String,
    pub value: String,
}

/// `<Connect>` with a bidirectional `<Stream>`: blocks until our server closes the socket,
/// then requests `action` (if any) for what to do next.
///
/// It has no track choice: a bidirectional stream carries the inbound track only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connect {
    pub stream: Stream,
    pub action: Option<String>,
    pub method: Option<Method>,
}

/// Declares a closed set of TwiML attribute values with their wire spelling.
macro_rules! wire_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $wire:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($variant),+
        }

        impl $name {
            /// The value as written in TwiML.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $wire),+
                }
            }

            fn from_wire(s: &str) -> Option<Self> {
                match s {
                    $($wire => Some(Self::$variant),)+
                    _ => None,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

wire_enum!(
    /// HTTP method for a callback URL.
    Method { Get => "GET", Post => "POST" }
);
wire_enum!(
    /// Recording status callback events.
    RecordingEvent { InProgress => "in-progress", Completed => "completed", Absent => "absent" }
);
wire_enum!(
    /// One mixed channel, or caller and callee on separate channels.
    RecordingChannels { Mono => "mono", Dual => "dual" }
);
wire_enum!(
    /// Which side(s) of the call `<Recording>` captures.
    RecordingTrack { Inbound => "inbound", Outbound => "outbound", Both => "both" }
);
wire_enum!(
    /// Whether leading/trailing silence is removed from a recording.
    Trim { TrimSilence => "trim-silence", DoNotTrim => "do-not-trim" }
);
wire_enum!(
    /// Which audio a unidirectional `<Start><Stream>` forks.
    StreamTrack { InboundTrack => "inbound_track", OutboundTrack => "outbound_track", BothTracks => "both_tracks" }
);

impl Method {
    // Twilio treats the method case-insensitively; we always write it uppercase.
    fn parse_lenient(s: &str) -> Option<Self> {
        Self::from_wire(&s.to_ascii_uppercase())
    }
}

// ---------------------------------------------------------------------------------------
// Builders
// ---------------------------------------------------------------------------------------

impl Response {
    pub fn new() -> Self {
        Self::default()
    }

    /// Append any verb.
    pub fn verb(mut self, verb: impl Into<Verb>) -> Self {
        self.verbs.push(verb.into());
        self
    }

    pub fn say(self, say: Say) -> Self {
        self.verb(say)
    }

    pub fn pause(self, pause: Pause) -> Self {
        self.verb(pause)
    }

    pub fn hangup(self) -> Self {
        self.verb(Verb::Hangup)
    }

    pub fn redirect(self, redirect: Redirect) -> Self {
        self.verb(redirect)
    }

    pub fn dial(self, dial: Dial) -> Self {
        self.verb(dial)
    }

    pub fn start(self, start: Start) -> Self {
        self.verb(start)
    }

    pub fn connect(self, connect: Connect) -> Self {
        self.verb(connect)
    }
}

macro_rules! into_verb {
    ($($ty:ident),+) => {
        $(impl From<$ty> for Verb {
            fn from(v: $ty) -> Self {
                Verb::$ty(v)
            }
        })+
    };
}
into_verb!(Say, Pause, Redirect, Dial, Start, Connect);

impl Say {
    pub fn new(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            voice: None,
            language: None,
            loop_count: None,
        }
    }

    /// e.g. `Polly.Joanna-Neural` or `alice`.
    pub fn voice(mut self, voice: impl Into<String>) -> Self {
        self.voice = Some(voice.into());
        self
    }

    /// BCP-47 tag such as `en-US`.
    pub fn language(mut self, language: impl Into<String>) -> Self {
        self.language = Some(language.into());
        self
    }

    pub fn loop_count(mut self, times: u32) -> Self {
        self.loop_count = Some(times);
        self
    }
}

impl Pause {
    pub fn seconds(length: u32) -> Self {
        Self {
            length: Some(length),
        }
    }
}

impl Redirect {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            method: None,
        }
    }

    pub fn method(mut self, method: Method) -> Self {
        self.method = Some(method);
        self
    }
}

impl Dial {
    pub fn number(number: E164) -> Self {
        Self {
            numbers: vec![number],
            caller_id: None,
            timeout: None,
            action: None,
            method: None,
        }
    }

    /// Ring another number at the same time.
    pub fn and_number(mut self, number: E164) -> Self {
        self.numbers.push(number);
        self
    }

    pub fn caller_id(mut self, caller_id: E164) -> Self {
        self.caller_id = Some(caller_id);
        self
    }

    pub fn timeout(mut self, seconds: u32) -> Self {
        self.timeout = Some(seconds);
        self
    }

    pub fn action(mut self, url: impl Into<String>) -> Self {
        self.action = Some(url.into());
        self
    }

    pub fn method(mut self, method: Method) -> Self {
        self.method = Some(method);
        self
    }
}

impl Start {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn recording(mut self, recording: Recording) -> Self {
        self.nouns.push(StartNoun::Recording(recording));
        self
    }

    /// A listen-only stream of the default track (`inbound_track`).
    pub fn stream(mut self, stream: Stream) -> Self {
        self.nouns.push(StartNoun::Stream {
            stream,
            track: None,
        });
        self
    }

    pub fn stream_with_track(mut self, stream: Stream, track: StreamTrack) -> Self {
        self.nouns.push(StartNoun::Stream {
            stream,
            track: Some(track),
        });
        self
    }
}

impl Recording {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn status_callback(mut self, url: impl Into<String>) -> Self {
        self.recording_status_callback = Some(url.into());
        self
    }

    pub fn status_callback_method(mut self, method: Method) -> Self {
        self.recording_status_callback_method = Some(method);
        self
    }

    pub fn status_callback_events(
        mut self,
        events: impl IntoIterator<Item = RecordingEvent>,
    ) -> Self {
        self.recording_status_callback_event = events.into_iter().collect();
        self
    }

    pub fn channels(mut self, channels: RecordingChannels) -> Self {
        self.channels = Some(channels);
        self
    }

    pub fn track(mut self, track: RecordingTrack) -> Self {
        self.track = Some(track);
        self
    }

    pub fn trim(mut self, trim: Trim) -> Self {
        self.trim = Some(trim);
        self
    }
}

impl Stream {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            name: None,
            status_callback: None,
            status_callback_method: None,
            parameters: Vec::new(),
        }
    }

    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    pub fn status_callback(mut self, url: impl Into<String>) -> Self {
        self.status_callback = Some(url.into());
        self
    }

    pub fn status_callback_method(mut self, method: Method) -> Self {
        self.status_callback_method = Some(method);
        self
    }

    /// Add a custom parameter, delivered in the `start` message's `customParameters`.
    pub fn parameter(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.parameters.push(Parameter {
            name: name.into(),
            value: value.into(),
        });
        self
    }
}

impl Connect {
    pub fn new(stream: Stream) -> Self {
        Self {
            stream,
            action: None,
            method: None,
        }
    }

    pub fn action(mut self, url: impl Into<String>) -> Self {
        self.action = Some(url.into());
        self
    }

    pub fn method(mut self, method: Method) -> Self {
        self.method = Some(method);
        self
    }
}

// ---------------------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------------------

impl Response {
    /// The document as Twilio expects it: XML declaration, then `<Response>` on one line.
    pub fn to_xml(&self) -> String {
        let mut w = XmlWriter(String::with_capacity(256));
        w.0.push_str(XML_DECLARATION);
        if self.verbs.is_empty() {
            w.0.push_str("<Response/>");
            return w.0;
        }
        w.0.push_str("<Response>");
        for verb in &self.verbs {
            verb.write(&mut w);
        }
        w.0.push_str("</Response>");
        w.0
    }
}

impl fmt::Display for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_xml())
    }
}

impl FromStr for Response {
    type Err = TwimlError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

struct XmlWriter(String);

impl XmlWriter {
    fn open(&mut self, name: &str, attrs: &[(&str, Option<&str>)]) {
        self.0.push('<');
        self.0.push_str(name);
        for (key, value) in attrs {
            if let Some(value) = value {
                self.0.push(' ');
                self.0.push_str(key);
                self.0.push_str("=\"");
                escape_into(&mut self.0, value, true);
                self.0.push('"');
            }
        }
    }

    fn empty(&mut self, name: &str, attrs: &[(&str, Option<&str>)]) {
        self.open(name, attrs);
        self.0.push_str("/>");
    }

    fn text_element(&mut self, name: &str, attrs: &[(&str, Option<&str>)], text: &str) {
        self.open(name, attrs);
        self.0.push('>');
        escape_into(&mut self.0, text, false);
        self.close(name);
    }

    fn close(&mut self, name: &str) {
        self.0.push_str("</");
        self.0.push_str(name);
        self.0.push('>');
    }
}

/// Escape for XML 1.0 text or a double-quoted attribute value.
///
/// All five special characters are escaped everywhere, which is always valid. In attributes,
/// tab/newline/CR become character references: a parser would otherwise normalise them to
/// spaces. Other C0 control characters cannot appear in XML 1.0 at all, not even escaped, so
/// they are dropped rather than producing a document Twilio rejects.
fn escape_into(out: &mut String, s: &str, in_attribute: bool) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' if in_attribute => out.push_str("&#9;"),
            '\n' if in_attribute => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' | '\n' => out.push(c),
            c if !xml_allows(c) => {}
            c => out.push(c),
        }
    }
}

impl Verb {
    fn write(&self, w: &mut XmlWriter) {
        match self {
            Verb::Say(say) => {
                let loop_count = say.loop_count.map(|n| n.to_string());
                w.text_element(
                    "Say",
                    &[
                        ("voice", say.voice.as_deref()),
                        ("language", say.language.as_deref()),
                        ("loop", loop_count.as_deref()),
                    ],
                    &say.text,
                );
            }
            Verb::Pause(pause) => {
                let length = pause.length.map(|n| n.to_string());
                w.empty("Pause", &[("length", length.as_deref())]);
            }
            Verb::Hangup => w.empty("Hangup", &[]),
            Verb::Redirect(r) => w.text_element(
                "Redirect",
                &[("method", r.method.map(Method::as_str))],
                &r.url,
            ),
            Verb::Dial(dial) => {
                let timeout = dial.timeout.map(|n| n.to_string());
                w.open(
                    "Dial",
                    &[
                        ("action", dial.action.as_deref()),
                        ("method", dial.method.map(Method::as_str)),
                        ("callerId", dial.caller_id.as_ref().map(E164::as_str)),
                        ("timeout", timeout.as_deref()),
                    ],
                );
                w.0.push('>');
                for number in &dial.numbers {
                    w.text_element("Number", &[], number.as_str());
                }
                w.close("Dial");
            }
            Verb::Start(start) => {
                if start.nouns.is_empty() {
                    w.empty("Start", &[]);
                    return;
                }
                w.0.push_str("<Start>");
                for noun in &start.nouns {
                    match noun {
                        StartNoun::Recording(rec) => rec.write(w),
                        StartNoun::Stream { stream, track } => {
                            stream.write(w, track.map(StreamTrack::as_str));
                        }
                    }
                }
                w.close("Start");
            }
            Verb::Connect(connect) => {
                w.open(
                    "Connect",
                    &[
                        ("action", connect.action.as_deref()),
                        ("method", connect.method.map(Method::as_str)),
                    ],
                );
                w.0.push('>');
                connect.stream.write(w, None);
                w.close("Connect");
            }
        }
    }
}

impl Recording {
    fn write(&self, w: &mut XmlWriter) {
        let events = (!self.recording_status_callback_event.is_empty()).then(|| {
            self.recording_status_callback_event
                .iter()
                .map(|e| e.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        });
        w.empty(
            "Recording",
            &[
                (
                    "recordingStatusCallback",
                    self.recording_status_callback.as_deref(),
                ),
                (
                    "recordingStatusCallbackMethod",
                    self.recording_status_callback_method.map(Method::as_str),
                ),
                ("recordingStatusCallbackEvent", events.as_deref()),
                ("channels", self.channels.map(RecordingChannels::as_str)),
                ("track", self.track.map(RecordingTrack::as_str)),
                ("trim", self.trim.map(Trim::as_str)),
            ],
        );
    }
}

impl Stream {
    fn write(&self, w: &mut XmlWriter, track: Option<&str>) {
        let attrs = [
            ("url", Some(self.url.as_str())),
            ("name", self.name.as_deref()),
            ("track", track),
            ("statusCallback", self.status_callback.as_deref()),
            (
                "statusCallbackMethod",
                self.status_callback_method.map(Method::as_str),
            ),
        ];
        if self.parameters.is_empty() {
            w.empty("Stream", &attrs);
            return;
        }
        w.open("Stream", &attrs);
        w.0.push('>');
        for p in &self.parameters {
            w.empty(
                "Parameter",
                &[
                    ("name", Some(p.name.as_str())),
                    ("value", Some(p.value.as_str())),
                ],
            );
        }
        w.close("Stream");
    }
}

// ---------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------

/// Why a TwiML document was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TwimlError {
    #[error("malformed XML: {0}")]
    Xml(String),
    #[error("document has no root element")]
    Empty,
    #[error("root element must be <Response>, found <{0}>")]
    WrongRoot(String),
    #[error("unknown verb <{0}>")]
    UnknownVerb(String),
    #[error("<{child}> is not allowed inside <{parent}>")]
    UnexpectedElement { parent: String, child: String },
    #[error("<{element}> does not take attribute {attribute:?}")]
    UnknownAttribute { element: String, attribute: String },
    #[error("invalid value {value:?} for attribute {attribute:?} of <{element}>")]
    InvalidAttribute {
        element: String,
        attribute: String,
        value: String,
    },
    #[error("<{element}> requires attribute {attribute:?}")]
    MissingAttribute {
        element: String,
        attribute: &'static str,
    },
    #[error("<{0}> must not contain text")]
    UnexpectedText(String),
    #[error("<{element}> must contain {what}")]
    MissingContent { element: String, what: &'static str },
    #[error("document nests deeper than {MAX_DEPTH} elements")]
    TooDeep,
}

impl TwimlError {
    /// The Twilio debugger code this failure corresponds to: 12100 "Document parse failure"
    /// for XML that is not well formed, 12200 "Schema validation warning" for well-formed
    /// XML that is not valid TwiML.
    pub fn twilio_error_code(&self) -> u16 {
        match self {
            TwimlError::Xml(_) | TwimlError::Empty | TwimlError::TooDeep => 12100,
            _ => 12200,
        }
    }
}

/// TwiML is at most four levels deep (`Response/Start/Stream/Parameter`); anything much
/// deeper is garbage, and bounding it keeps hostile input from exhausting the stack.
const MAX_DEPTH: usize = 16;

/// Generic element tree: the XML is read fully first, then checked against TwiML's shape.
#[derive(Debug)]
struct Element {
    name: String,
    attrs: Vec<(String, String)>,
    children: Vec<Node>,
}

#[derive(Debug)]
enum Node {
    Element(Element),
    Text(String),
}

fn xml_err(e: impl fmt::Display) -> TwimlError {
    TwimlError::Xml(e.to_string())
}

/// Whether XML 1.0 allows `c` in a document (§2.2 `Char`; surrogates cannot be a `char`).
fn xml_allows(c: char) -> bool {
    !((u32::from(c) < 0x20 && !matches!(c, '\t' | '\n' | '\r'))
        || matches!(c, '\u{FFFE}' | '\u{FFFF}'))
}

/// `text` as XML 1.0 allows it (§2.2 `Char`): no control characters but tab, newline and
/// carriage return, no U+FFFE or U+FFFF. The parser below lets them through (raw, or as
/// `&#0;`-style references), and no writer can put them back, so a document holding one is
/// refused rather than read as something it could never be written as.
fn xml_chars(text: &str) -> Result<&str, TwimlError> {
    match text.chars().find(|&c| !xml_allows(c)) {
        Some(c) => Err(xml_err(format_args!(
            "character U+{:04X} is not allowed in XML",
            u32::from(c)
        ))),
        None => Ok(text),
    }
}

fn read_tree(xml: &str) -> Result<Element, TwimlError> {
    let mut reader = Reader::from_str(xml);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;

    loop {
        match reader.read_event().map_err(xml_err)? {
            Event::Start(start) => {
                if root.is_some() {
                    return Err(xml_err("content after the root element"));
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(TwimlError::TooDeep);
                }
                stack.push(element(&start)?);
            }
            Event::Empty(start) => {
                if root.is_some() {
                    return Err(xml_err("content after the root element"));
                }
                let el = element(&start)?;
                finish(el, &mut stack, &mut root);
            }
            Event::End(_) => {
                // `check_end_names` guarantees the name matches the open element.
                let el = stack
                    .pop()
                    .ok_or_else(|| xml_err("unexpected closing tag"))?;
                finish(el, &mut stack, &mut root);
            }
            Event::Text(text) => {
                let text = text.unescape().map_err(xml_err)?;
                push_text(&mut stack, xml_chars(&text)?)?;
            }
            Event::CData(data) => {
                let text = std::str::from_utf8(&data).map_err(xml_err)?;
                push_text(&mut stack, xml_chars(text)?)?;
            }
            Event::DocType(_) => return Err(xml_err("DOCTYPE is not allowed in TwiML")),
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(xml_err("unexpected end of document: unclosed element"));
    }
    root.ok_or(TwimlError::Empty)
}

/// Attach a completed element to its parent, or make it the root.
fn finish(el: Element, stack: &mut [Element], root: &mut Option<Element>) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(Node::Element(el)),
        None => *root = Some(el),
    }
}

fn push_text(stack: &mut [Element], text: &str) -> Result<(), TwimlError> {
    match stack.last_mut() {
        Some(parent) => {
            parent.children.push(Node::Text(text.to_owned()));
            Ok(())
        }
        None if text.trim().is_empty() => Ok(()),
        None => Err(xml_err("text outside the root element")),
    }
}

fn element(start: &BytesStart<'_>) -> Result<Element, TwimlError> {
    let name = std::str::from_utf8(start.name().as_ref())
        .map_err(xml_err)?
        .to_owned();
    let mut attrs = Vec::new();
    for attr in start.attributes() {
        let attr = attr.map_err(xml_err)?;
        let key = std::str::from_utf8(attr.key.as_ref())
            .map_err(xml_err)?
            .to_owned();
        let value = attr.unescape_value().map_err(xml_err)?;
        attrs.push((key, xml_chars(&value)?.to_owned()));
    }
    Ok(Element {
        name,
        attrs,
        children: Vec::new(),
    })
}

impl Element {
    /// Fail on any attribute not in `allowed`.
    fn allow_attrs(&self, allowed: &[&str]) -> Result<(), TwimlError> {
        match self
            .attrs
            .iter()
            .find(|(k, _)| !allowed.contains(&k.as_str()))
        {
            Some((k, _)) => Err(TwimlError::UnknownAttribute {
                element: self.name.clone(),
                attribute: k.clone(),
            }),
            None => Ok(()),
        }
    }

    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn required(&self, name: &'static str) -> Result<&str, TwimlError> {
        self.attr(name).ok_or_else(|| TwimlError::MissingAttribute {
            element: self.name.clone(),
            attribute: name,
        })
    }

    fn invalid(&self, attribute: &str, value: &str) -> TwimlError {
        TwimlError::InvalidAttribute {
            element: self.name.clone(),
            attribute: attribute.to_owned(),
            value: value.to_owned(),
        }
    }

    fn parsed<T>(
        &self,
        name: &str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<Option<T>, TwimlError> {
        self.attr(name)
            .map(|v| parse(v.trim()).ok_or_else(|| self.invalid(name, v)))
            .transpose()
    }

    fn method(&self, name: &str) -> Result<Option<Method>, TwimlError> {
        self.parsed(name, Method::parse_lenient)
    }

    fn number(&self, name: &str) -> Result<Option<u32>, TwimlError> {
        self.parsed(name, |v| v.parse().ok())
    }

    fn string(&self, name: &str) -> Option<String> {
        self.attr(name).map(str::to_owned)
    }

    /// Concatenated text of an element that may only hold text, trimmed (Twilio ignores
    /// the indentation of pretty-printed documents).
    fn text_only(&self) -> Result<String, TwimlError> {
        let mut text = String::new();
        for child in &self.children {
            match child {
                Node::Text(t) => text.push_str(t),
                Node::Element(el) => return Err(self.unexpected(el)),
            }
        }
        Ok(text.trim().to_owned())
    }

    /// Child elements of an element that may not hold text (whitespace is fine).
    fn element_children(&self) -> Result<Vec<&Element>, TwimlError> {
        let mut out = Vec::new();
        for child in &self.children {
            match child {
                Node::Element(el) => out.push(el),
                Node::Text(t) if t.trim().is_empty() => {}
                Node::Text(_) => return Err(TwimlError::UnexpectedText(self.name.clone())),
            }
        }
        Ok(out)
    }

    fn unexpected(&self, child: &Element) -> TwimlError {
        TwimlError::UnexpectedElement {
            parent: self.name.clone(),
            child: child.name.clone(),
        }
    }

    fn missing(&self, what: &'static str) -> TwimlError {
        TwimlError::MissingContent {
            element: self.name.clone(),
            what,
        }
    }

    fn no_children(&self) -> Result<(), TwimlError> {
        match self.element_children()?.first() {
            Some(child) => Err(self.unexpected(child)),
            None => Ok(()),
        }
    }
}

impl Response {
    /// Parse a TwiML document, rejecting anything Twilio would not execute as written.
    pub fn parse(xml: &str) -> Result<Self, TwimlError> {
        let root = read_tree(xml)?;
        if root.name != "Response" {
            return Err(TwimlError::WrongRoot(root.name));
        }
        root.allow_attrs(&[])?;
        let verbs = root
            .element_children()?
            .into_iter()
            .map(parse_verb)
            .collect::<Result<_, _>>()?;
        Ok(Self { verbs })
    }
}

fn parse_verb(el: &Element) -> Result<Verb, TwimlError> {
    match el.name.as_str() {
        "Say" => {
            el.allow_attrs(&["voice", "language", "loop"])?;
            let text = el.text_only()?;
            if text.is_empty() {
                return Err(el.missing("text to speak"));
            }
            Ok(Verb::Say(Say {
                text,
                voice: el.string("voice"),
                language: el.string("language"),
                loop_count: el.number("loop")?,
            }))
        }
        "Pause" => {
            el.allow_attrs(&["length"])?;
            el.no_children()?;
            Ok(Verb::Pause(Pause {
                length: el.number("length")?,
            }))
        }
        "Hangup" => {
            el.allow_attrs(&[])?;
            el.no_children()?;
            Ok(Verb::Hangup)
        }
        "Redirect" => {
            el.allow_attrs(&["method"])?;
            let url = el.text_only()?;
            if url.is_empty() {
                return Err(el.missing("a URL"));
            }
            Ok(Verb::Redirect(Redirect {
                url,
                method: el.method("method")?,
            }))
        }
        "Dial" => parse_dial(el),
        "Start" => parse_start(el),
        "Connect" => parse_connect(el),
        other => Err(TwimlError::UnknownVerb(other.to_owned())),
    }
}

fn parse_e164(el: &Element, attribute: &str, value: &str) -> Result<E164, TwimlError> {
    value.parse().map_err(|_| el.invalid(attribute, value))
}

fn parse_dial(el: &Element) -> Result<Verb, TwimlError> {
    el.allow_attrs(&["action", "method", "callerId", "timeout"])?;
    let caller_id = el
        .attr("callerId")
        .map(|v| parse_e164(el, "callerId", v))
        .transpose()?;
    // Twilio accepts a bare number as the text of <Dial> as well as <Number> children.
    let has_elements = el.children.iter().any(|c| matches!(c, Node::Element(_)));
    let numbers = if has_elements {
        el.element_children()?
            .into_iter()
            .map(|child| {
                if child.name != "Number" {
                    return Err(el.unexpected(child));
                }
                child.allow_attrs(&[])?;
                let text = child.text_only()?;
                text.parse().map_err(|_| TwimlError::InvalidAttribute {
                    element: "Number".to_owned(),
                    attribute: "(text)".to_owned(),
                    value: text,
                })
            })
            .collect::<Result<Vec<_>, _>>()?
    } else {
        let text = el.text_only()?;
        if text.is_empty() {
            Vec::new()
        } else {
            vec![parse_e164(el, "(text)", &text)?]
        }
    };
    if numbers.is_empty() {
        return Err(el.missing("a number to dial"));
    }
    Ok(Verb::Dial(Dial {
        numbers,
        caller_id,
        timeout: el.number("timeout")?,
        action: el.string("action"),
        method: el.method("method")?,
    }))
}

fn parse_start(el: &Element) -> Result<Verb, TwimlError> {
    el.allow_attrs(&[])?;
    let mut nouns = Vec::new();
    for child in el.element_children()? {
        match child.name.as_str() {
            "Recording" => nouns.push(StartNoun::Recording(parse_recording(child)?)),
            "Stream" => {
                let track = child.parsed("track", StreamTrack::from_wire)?;
                nouns.push(StartNoun::Stream {
                    stream: parse_stream(child)?,
                    track,
                });
            }
            _ => return Err(el.unexpected(child)),
        }
    }
    if nouns.is_empty() {
        return Err(el.missing("<Recording> or <Stream>"));
    }
    Ok(Verb::Start(Start { nouns }))
}

fn parse_recording(el: &Element) -> Result<Recording, TwimlError> {
    el.allow_attrs(&[
        "recordingStatusCallback",
        "recordingStatusCallbackMethod",
        "recordingStatusCallbackEvent",
        "channels",
        "track",
        "trim",
    ])?;
    el.no_children()?;
    let events = match el.attr("recordingStatusCallbackEvent") {
        None => Vec::new(),
        Some(v) => v
            .split_whitespace()
            .map(|e| {
                RecordingEvent::from_wire(e)
                    .ok_or_else(|| el.invalid("recordingStatusCallbackEvent", v))
            })
            .collect::<Result<_, _>>()?,
    };
    Ok(Recording {
        recording_status_callback: el.string("recordingStatusCallback"),
        recording_status_callback_method: el.method("recordingStatusCallbackMethod")?,
        recording_status_callback_event: events,
        channels: el.parsed("channels", RecordingChannels::from_wire)?,
        track: el.parsed("track", RecordingTrack::from_wire)?,
        trim: el.parsed("trim", Trim::from_wire)?,
    })
}

/// Parses the attributes and parameters common to both kinds of stream; the caller deals
/// with `track`, whose rules differ between `<Start>` and `<Connect>`.
fn parse_stream(el: &Element) -> Result<Stream, TwimlError> {
    el.allow_attrs(&[
        "url",
        "name",
        "track",
        "statusCallback",
        "statusCallbackMethod",
    ])?;
    let url = el.required("url")?;
    // Media Streams only speak secure WebSockets and drop query strings.
    let lower = url.to_ascii_lowercase();
    if !lower.starts_with("wss://") || url.contains('?') {
        return Err(el.invalid("url", url));
    }
    let mut parameters = Vec::new();
    for child in el.element_children()? {
        if child.name != "Parameter" {
            return Err(el.unexpected(child));
        }
        child.allow_attrs(&["name", "value"])?;
        child.no_children()?;
        parameters.push(Parameter {
            name: child.required("name")?.to_owned(),
            value: child.attr("value").unwrap_or_default().to_owned(),
        });
    }
    Ok(Stream {
        url: url.to_owned(),
        name: el.string("name"),
        status_callback: el.string("statusCallback"),
        status_callback_method: el.method("statusCallbackMethod")?,
        parameters,
    })
}

fn parse_connect(el: &Element) -> Result<Verb, TwimlError> {
    el.allow_attrs(&["action", "method"])?;
    let children = el.element_children()?;
    if let Some(other) = children.iter().find(|c| c.name != "Stream") {
        return Err(el.unexpected(other));
    }
    // One bidirectional stream per call, so one <Stream> per <Connect>.
    let stream_el = match children.as_slice() {
        [] => return Err(el.missing("a <Stream>")),
        [only] => *only,
        [_, second, ..] => return Err(el.unexpected(second)),
    };
    // A bidirectional stream carries the caller's audio only.
    if let Some(track) = stream_el.attr("track")
        && track != StreamTrack::InboundTrack.as_str()
    {
        return Err(stream_el.invalid("track", track));
    }
    Ok(Verb::Connect(Connect {
        stream: parse_stream(stream_el)?,
        action: el.string("action"),
        method: el.method("method")?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(s: &str) -> E164 {
        s.parse().unwrap()
    }

    #[test]
    fn empty_response() {
        assert_eq!(
            Response::new().to_xml(),
            r#"<?xml version="1.0" encoding="UTF-8"?><Response/>"#
        );
        assert_eq!(Response::parse("<Response/>").unwrap(), Response::new());
    }

    #[test]
    fn escapes_all_special_characters() {
        let xml = Response::new()
            .say(Say::new(r#"Tom & "Jerry" <3 'n'"#).voice("a&b\n"))
            .to_xml();
        assert!(
            xml.contains(
                r#"<Say voice="a&amp;b&#10;">Tom &amp; &quot;Jerry&quot; &lt;3 &apos;n&apos;</Say>"#
            ),
            "{xml}"
        );
    }

    #[test]
    fn control_characters_are_dropped() {
        let xml = Response::new().say(Say::new("a\u{0}b\u{7}c")).to_xml();
        assert!(xml.contains("<Say>abc</Say>"), "{xml}");
    }

    #[test]
    fn dial_accepts_text_form() {
        let r = Response::parse(
            r#"<Response><Dial callerId="+15550001111" timeout="20"> +1 415 555 0100 </Dial></Response>"#,
        )
        .unwrap();
        assert_eq!(
            r,
            Response::new().dial(
                Dial::number(num("+14155550100"))
                    .caller_id(num("+15550001111"))
                    .timeout(20)
            )
        );
    }

    #[test]
    fn method_is_case_insensitive_on_input() {
        let r = Response::parse(
            r#"<Response><Redirect method="get">https://x/y</Redirect></Response>"#,
        )
        .unwrap();
        assert_eq!(
            r,
            Response::new().redirect(Redirect::new("https://x/y").method(Method::Get))
        );
    }

    #[test]
    fn error_codes() {
        assert_eq!(
            Response::parse("<Response>")
                .unwrap_err()
                .twilio_error_code(),
            12100
        );
        assert_eq!(
            Response::parse("<Response><Play>x</Play></Response>")
                .unwrap_err()
                .twilio_error_code(),
            12200
        );
    }
}
