//! What a call report says: gathered from the call's rows as they are when the report is sent,
//! rendered as plain text and HTML (askama escapes the HTML part).

use std::collections::{HashMap, HashSet};

use askama::Template;
use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder};
use url::Url;

use crate::config::public_url_of;
use crate::entity::{analyzer, call, call_analysis, contact, todo};

/// Lines of the transcript the report quotes.
pub const EXCERPT_LINES: usize = 10;

/// Everything a report shows about one call.
#[derive(Debug, Clone)]
pub struct ReportData {
    pub inbound: bool,
    /// The other party's number, and their name when the contact has one.
    pub caller_number: String,
    pub caller_name: Option<String>,
    /// Our number: the one called (inbound) or calling (outbound).
    pub our_number: String,
    pub started_at: Option<DateTime<Utc>>,
    pub duration_secs: Option<i32>,
    pub excerpt: Vec<String>,
    /// Whether the transcript goes on after the excerpt.
    pub excerpt_cut: bool,
    /// Each analyzer's latest run: (analyzer name, analysis).
    pub analyses: Vec<(String, String)>,
    pub todos: Vec<TodoLine>,
    pub link: String,
}

#[derive(Debug, Clone)]
pub struct TodoLine {
    pub title: String,
    pub details: Option<String>,
    /// In words: `to review`, `approved`, `dismissed`.
    pub status: String,
}

/// A composed report.
#[derive(Debug, Clone)]
pub struct Report {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Reads what the report of `call` shows, all scoped to the call's organization.
pub async fn gather(
    db: &impl ConnectionTrait,
    call: &call::Model,
    public_url: &Url,
) -> Result<ReportData, DbErr> {
    let org = call.organization_id;
    let caller_name = match call.contact_id {
        Some(id) => contact::Entity::find_by_id(id)
            .filter(contact::Column::OrganizationId.eq(org))
            .one(db)
            .await?
            .and_then(|c| c.name)
            .filter(|n| !n.trim().is_empty()),
        None => None,
    };
    let runs = call_analysis::Entity::find()
        .filter(call_analysis::Column::CallId.eq(call.id))
        .filter(call_analysis::Column::OrganizationId.eq(org))
        .order_by_desc(call_analysis::Column::CreatedAt)
        .order_by_desc(call_analysis::Column::Id)
        .all(db)
        .await?;
    let mut seen = HashSet::new();
    let latest: Vec<_> = runs
        .into_iter()
        .filter(|r| seen.insert(r.analyzer_id))
        .collect();
    let names: HashMap<_, _> = analyzer::Entity::find()
        .filter(analyzer::Column::OrganizationId.eq(org))
        .filter(analyzer::Column::Id.is_in(latest.iter().map(|r| r.analyzer_id)))
        .all(db)
        .await?
        .into_iter()
        .map(|a| (a.id, a.name))
        .collect();
    let mut analyses: Vec<(String, String)> = latest
        .into_iter()
        .filter_map(|r| Some((names.get(&r.analyzer_id)?.clone(), r.analysis_text)))
        .collect();
    analyses.sort_by_key(|a| a.0.to_lowercase());
    let todos = todo::Entity::find()
        .filter(todo::Column::CallId.eq(call.id))
        .filter(todo::Column::OrganizationId.eq(org))
        .order_by_asc(todo::Column::CreatedAt)
        .order_by_asc(todo::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(|t| TodoLine {
            title: t.title,
            details: t.details.filter(|d| !d.trim().is_empty()),
            status: status_words(&t.status).to_owned(),
        })
        .collect();
    let (excerpt, excerpt_cut) = excerpt(call.transcription.as_deref().unwrap_or_default());
    let inbound = call.direction != "outbound";
    Ok(ReportData {
        inbound,
        caller_number: call.from_to_number.clone(),
        caller_name,
        our_number: if inbound {
            call.to_number.clone()
        } else {
            call.from_number.clone()
        },
        started_at: call.started_at.or(Some(call.created_at)),
        duration_secs: call.duration_secs,
        excerpt,
        excerpt_cut,
        analyses,
        todos,
        link: public_url_of(public_url, &format!("/calls/{}", call.id)),
    })
}

fn status_words(status: &str) -> &str {
    match status {
        "pending_review" => "to review",
        other => other,
    }
}

/// The transcript's first [`EXCERPT_LINES`] non-blank lines, and whether more follow.
fn excerpt(transcript: &str) -> (Vec<String>, bool) {
    let mut lines = transcript.lines().map(str::trim).filter(|l| !l.is_empty());
    let excerpt: Vec<String> = lines
        .by_ref()
        .take(EXCERPT_LINES)
        .map(str::to_owned)
        .collect();
    (excerpt, lines.next().is_some())
}

/// `2 min 7 s`, `45 s`, `1 h 3 min`.
pub fn duration_words(secs: i32) -> String {
    let secs = secs.max(0);
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    match (h, m) {
        (0, 0) => format!("{s} s"),
        (0, _) => format!("{m} min {s} s"),
        _ => format!("{h} h {m} min"),
    }
}

impl ReportData {
    /// `+15551234567 (Rosa Diaz)` or the bare number.
    pub fn caller(&self) -> String {
        match &self.caller_name {
            Some(name) => format!("{} ({name})", self.caller_number),
            None => self.caller_number.clone(),
        }
    }

    pub fn duration(&self) -> Option<String> {
        self.duration_secs.map(duration_words)
    }

    /// `Sun 6 Dec 2026, 06:02 UTC`.
    pub fn time(&self) -> Option<String> {
        self.started_at
            .map(|t| t.format("%a %-d %b %Y, %H:%M UTC").to_string())
    }

    pub fn subject(&self) -> String {
        let direction = if self.inbound { "from" } else { "to" };
        let mut subject = format!("Call {direction} {}", self.caller());
        if let Some(d) = self.duration() {
            subject.push_str(" · ");
            subject.push_str(&d);
        }
        // A header is one line, whatever a contact's name holds.
        subject.replace(['\r', '\n'], " ")
    }
}

#[derive(Template)]
#[template(path = "email/report.txt")]
struct TextBody<'a> {
    r: &'a ReportData,
}

#[derive(Template)]
#[template(path = "email/report.html")]
struct HtmlBody<'a> {
    r: &'a ReportData,
}

/// Renders the report's subject and both bodies.
pub fn compose(data: &ReportData) -> Result<Report, askama::Error> {
    Ok(Report {
        subject: data.subject(),
        text: TextBody { r: data }.render()?,
        html: HtmlBody { r: data }.render()?,
    })
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn fixed() -> ReportData {
        ReportData {
            inbound: true,
            caller_number: "+15551230001".into(),
            caller_name: Some("Rosa <Diaz> & Co".into()),
            our_number: "+15559990000".into(),
            started_at: Some(Utc.with_ymd_and_hms(2026, 12, 6, 9, 30, 0).unwrap()),
            duration_secs: Some(127),
            excerpt: vec![
                "Agent: Hello, how can I help?".into(),
                "Caller: My <b>boiler</b> is broken & leaking.".into(),
            ],
            excerpt_cut: true,
            analyses: vec![
                ("Sentiment".into(), "Worried but polite.".into()),
                (
                    "Summary".into(),
                    "Boiler leak; wants a visit.\nPrefers mornings.".into(),
                ),
            ],
            todos: vec![
                TodoLine {
                    title: "Book a plumber".into(),
                    details: Some("Tomorrow morning".into()),
                    status: "to review".into(),
                },
                TodoLine {
                    title: "Call back".into(),
                    details: None,
                    status: "approved".into(),
                },
            ],
            link: "https://loquent.example/calls/00000000-0000-0000-0000-000000000001".into(),
        }
    }

    #[test]
    fn durations_read_as_words() {
        assert_eq!(duration_words(7), "7 s");
        assert_eq!(duration_words(127), "2 min 7 s");
        assert_eq!(duration_words(3780), "1 h 3 min");
    }

    #[test]
    fn the_excerpt_keeps_the_first_lines() {
        let text = (1..=12)
            .map(|i| format!("line {i}\n"))
            .collect::<Vec<_>>()
            .join("\n");
        let (lines, cut) = excerpt(&text);
        assert_eq!(lines.len(), EXCERPT_LINES);
        assert_eq!(lines[9], "line 10");
        assert!(cut);
        assert_eq!(
            excerpt("one\ntwo"),
            (vec!["one".into(), "two".into()], false)
        );
    }

    #[test]
    fn subject_names_the_caller_and_the_duration() {
        let report = compose(&fixed()).unwrap();
        assert_eq!(
            report.subject,
            "Call from +15551230001 (Rosa <Diaz> & Co) · 2 min 7 s"
        );
    }

    #[test]
    fn plain_text_body() {
        insta::assert_snapshot!(compose(&fixed()).unwrap().text);
    }

    #[test]
    fn html_body_escapes_what_it_shows() {
        let html = compose(&fixed()).unwrap().html;
        assert!(!html.contains("<b>boiler"), "{html}");
        insta::assert_snapshot!(html);
    }
}
